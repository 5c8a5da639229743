"""Grade the submissions of one lab with nbgrader: scores, a CSV for the LMS, safe feedback.

``make grade LAB=lab03`` runs::

    python autograder/grade.py lab03

Submissions are ``autograder/submitted/<student>/<lab>/<lab>.ipynb``. The steps, each a real
nbgrader command run in the course root:

1. ``nbgrader generate_assignment <lab>``: records the master's graded cells in the gradebook
   (``autograder/gradebook.db``, which is not committed; this makes a fresh clone gradeable);
2. the autograde, by :func:`parallel.grade_all`: ``JOBS`` submissions at once (default: all
   cores), each by ``nbgrader autograde`` in a scratch copy of the course with its kernel in the
   bubblewrap sandbox (``sandbox.py``: no network, read-only system, resource limits, an
   unprivileged user), every grade merged into the one gradebook by this process alone;
   hostile and broken submissions get zero for the affected parts and a reason; unchanged
   submissions are skipped on a re-run (``--force`` re-grades). ``--serial`` runs nbgrader's
   own serial ``autograde`` (one call for the class, no sandbox) instead. The per-cell timeout
   and the per-notebook limit come from ``nbgrader_config.py``;
3. ``nbgrader generate_feedback <lab>``: one HTML per student, in
   ``autograder/feedback/<student>/<lab>/<lab>.html``, with hidden tests and anything that could
   quote them removed (``lapenna_nbgrader.HideHiddenTests``); this script then checks every
   feedback file for hidden-test lines and refuses to leave a leaking one;
4. the grades: ``autograder/grades_<lab>.csv`` with ``student,lab,score,max_score,reason``
   (``--serial``: without ``reason``), a table and the grading report on stdout, and one line
   per submission in ``autograder/grading_<lab>.log``.

``python autograder/grade.py --demo`` does the same for the bundled example submissions
(``autograder/demo/``) in a temporary copy of the course, prints the table and compares
it with ``autograder/demo/expected_scores.json``.

The steps are functions (:func:`autograde`, :func:`generate_feedback`, :func:`collect_grades`,
:func:`check_feedback`) so that parallel grading or a sandbox can later replace one of them.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_labs import nbgrader_cmd, nbgrader_env  # noqa: E402

COURSE_FILES = ("nbgrader_config.py", "lapenna_nbgrader.py")


@dataclass(frozen=True)
class Grade:
    """One student's result for one lab."""

    student: str
    lab: str
    score: float
    max_score: float


def run_nbgrader(
    root: Path, *args: str, timeout: float | None = None, log_level: str = "WARN"
) -> None:
    """Run one nbgrader command in the course root; raise if it fails."""
    cmd = [*nbgrader_cmd(), *args, f"--log-level={log_level}"]
    result = subprocess.run(cmd, cwd=root, env=nbgrader_env(), timeout=timeout)
    if result.returncode != 0:
        raise SystemExit(f"grade: `nbgrader {' '.join(args)}` failed (exit {result.returncode})")


def students_with(root: Path, lab: str) -> list[str]:
    """Students who submitted ``lab`` (a notebook in ``submitted/<student>/<lab>/``)."""
    submitted = root / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(
        d.name for d in submitted.iterdir() if (d / lab).is_dir() and any((d / lab).glob("*.ipynb"))
    )


def autograde(root: Path, lab: str, cell_timeout: int | None = None) -> None:
    """Register the master, then autograde every submission of ``lab`` in one nbgrader call."""
    run_nbgrader(root, "generate_assignment", lab, "--force")
    extra = []
    if cell_timeout is not None:
        extra = [f"--Execute.timeout={cell_timeout}", f"--LapennaExecute.timeout={cell_timeout}"]
    # nbgrader warns about changed checksums of every test cell with hidden tests (the student
    # version lacks them, by design): only errors are worth showing.
    run_nbgrader(root, "autograde", lab, "--force", *extra, log_level="ERROR")


def generate_feedback(root: Path, lab: str) -> None:
    """Feedback HTML for every autograded submission of ``lab``."""
    run_nbgrader(root, "generate_feedback", lab, "--force")


def hidden_test_lines(master: Path) -> list[str]:
    """The distinctive lines of the master's hidden tests (for leak checks)."""
    import nbformat

    nb = nbformat.read(master, as_version=4)
    lines: list[str] = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside:
                text = line.strip()
                # Short or generic lines (``else:``, ``)``) also occur in visible code.
                if len(text) >= 25 and not text.startswith("#"):
                    lines.append(text)
    return lines


def leaked_lines(text: str, hidden: list[str], visible_text: str = "") -> list[str]:
    """Hidden lines that occur in ``text`` (HTML-unescaped, tags removed) but not in
    ``visible_text`` (a line that also appears in visible code is not a leak)."""
    plain = html.unescape(re.sub(r"<[^>]+>", "", text))
    plain = re.sub(r"\s+", " ", plain)
    visible = re.sub(r"\s+", " ", visible_text)
    found = []
    for line in hidden:
        needle = re.sub(r"\s+", " ", line)
        if needle in plain and needle not in visible:
            found.append(line)
    return found


def check_feedback(root: Path, lab: str, students: list[str]) -> None:
    """Refuse (delete, then fail) any feedback file that shows a hidden-test line."""
    import nbformat

    master = root / "source" / lab / f"{lab}.ipynb"
    hidden = hidden_test_lines(master)
    released = root / "release" / lab / f"{lab}.ipynb"
    visible = ""
    if released.exists():
        visible = "\n".join(c.source for c in nbformat.read(released, as_version=4).cells)
    bad = []
    for student in students:
        for page in (root / "feedback" / student / lab).glob("*.html"):
            leaks = leaked_lines(page.read_text(encoding="utf-8"), hidden, visible)
            if leaks:
                page.unlink()
                bad.append(f"{page}: {leaks[0]!r}")
    if bad:
        raise SystemExit(
            "grade: hidden tests leaked into feedback (files removed):\n" + "\n".join(bad)
        )


def collect_grades(root: Path, lab: str, students: list[str]) -> list[Grade]:
    """Scores from the gradebook; a student whose notebook could not be graded gets 0."""
    from nbgrader.api import Gradebook, MissingEntry

    grades = []
    db_url = "sqlite:///" + str(root / "gradebook.db")
    with Gradebook(db_url, course_id="lapenna") as gb:
        max_score = gb.find_assignment(lab).max_score
        for student in students:
            try:
                submission = gb.find_submission(lab, student)
            except MissingEntry:
                grades.append(Grade(student, lab, 0.0, max_score))
                continue
            grades.append(Grade(student, lab, float(submission.score), float(max_score)))
    return grades


def write_csv(grades: list[Grade], path: Path) -> None:
    """``student,lab,score,max_score``: one row per student, for an LMS upload."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "lab", "score", "max_score"])
        for g in grades:
            writer.writerow([g.student, g.lab, f"{g.score:g}", f"{g.max_score:g}"])


def format_table(grades: list[Grade]) -> str:
    """The grades as an aligned text table."""
    width = max([len("student"), *(len(g.student) for g in grades)])
    rows = [f"{'student':<{width}}  lab    score  max"]
    rows += [f"{g.student:<{width}}  {g.lab}  {g.score:5g}  {g.max_score:g}" for g in grades]
    return "\n".join(rows)


@dataclass
class GradeOptions:
    """How ``make grade`` runs (see :mod:`parallel` and :mod:`sandbox` for every limit)."""

    cell_timeout: int | None = None
    jobs: int = 0  # 0: all cores
    serial: bool = False  # nbgrader's own serial autograde, unsandboxed (for comparison)
    force: bool = False  # re-grade unchanged submissions too
    require_sandbox: bool = False
    notebook_timeout: int | None = None
    submission_timeout: float = 900.0
    settings: Any = None  # sandbox.SandboxSettings (None: defaults)
    progress: bool = True


def grade_lab(
    root: Path,
    lab: str,
    csv_path: Path | None = None,
    cell_timeout: int | None = None,
    options: GradeOptions | None = None,
) -> list[Grade]:
    """The whole workflow for one lab; returns the grades.

    By default the submissions are graded concurrently, each in the sandbox
    (:func:`parallel.grade_all`); ``options.serial`` runs nbgrader's own serial ``autograde``.
    """
    import parallel
    from sandbox import SandboxSettings

    options = options or GradeOptions(cell_timeout=cell_timeout)
    if cell_timeout is not None:
        options.cell_timeout = cell_timeout
    if not (root / "source" / lab / f"{lab}.ipynb").exists():
        raise SystemExit(f"grade: no master {root / 'source' / lab}; run `make labs` first")
    students = parallel.students_of(root, lab)
    if not students:
        raise SystemExit(
            f"grade: no submissions of {lab}: put them in {root / 'submitted'}/<student>/{lab}/"
        )
    csv_path = csv_path or root / f"grades_{lab}.csv"
    if options.serial:
        students = students_with(root, lab)
        autograde(root, lab, options.cell_timeout)
        generate_feedback(root, lab)
        check_feedback(root, lab, students)
        grades = collect_grades(root, lab, students)
        write_csv(grades, csv_path)
        return grades
    run_nbgrader(root, "generate_assignment", lab, "--force")  # the master, in the gradebook
    results = parallel.grade_all(
        root,
        lab,
        parallel.Options(
            jobs=options.jobs,
            cell_timeout=options.cell_timeout,
            notebook_timeout=options.notebook_timeout,
            submission_timeout=options.submission_timeout,
            settings=options.settings or SandboxSettings(),
            require_sandbox=options.require_sandbox,
            force=options.force,
            progress=options.progress,
        ),
    )
    generate_feedback(root, lab)
    check_feedback(root, lab, students)
    parallel.write_csv(results, csv_path)
    print(parallel.format_table(results))
    print(parallel.summary(root, lab, results, options.jobs or os.cpu_count() or 1))
    return [Grade(r.student, r.lab, r.score, r.max_score) for r in results]


def copy_course(root: Path, dest: Path) -> Path:
    """A fresh course at ``dest`` with the masters and the configuration of ``root``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COURSE_FILES:
        shutil.copy2(root / name, dest / name)
    shutil.copytree(root / "source", dest / "source", dirs_exist_ok=True)
    return dest


def demo(
    root: Path, workdir: Path | None, cell_timeout: int | None, options: GradeOptions | None = None
) -> int:
    """Grade the bundled demo submissions in a copy of the course; 0 if the scores are right."""
    demo_dir = root / "demo"
    expected = json.loads((demo_dir / "expected_scores.json").read_text())
    lab = expected["lab"]
    work = Path(workdir or tempfile.mkdtemp(prefix="lapenna-grade-demo-"))
    course = copy_course(root, work / "autograder")
    for student in expected["scores"]:
        shutil.copytree(demo_dir / student, course / "submitted" / student, dirs_exist_ok=True)
    options = options or GradeOptions()
    grades = grade_lab(course, lab, cell_timeout=cell_timeout, options=options)
    if options.serial:
        print(format_table(grades))
    print(f"\nfeedback: {course / 'feedback'}/<student>/{lab}/{lab}.html")
    print(f"grades:   {course / f'grades_{lab}.csv'}")
    wrong = [g for g in grades if abs(g.score - expected["scores"][g.student]) > 1e-9]
    for g in wrong:
        print(
            f"UNEXPECTED: {g.student} scored {g.score:g}, expected {expected['scores'][g.student]}"
        )
    return 1 if wrong else 0


def _default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    from sandbox import GiB, SandboxSettings

    defaults = SandboxSettings()
    parser = argparse.ArgumentParser(description="Autograde one lab (see the module docstring).")
    parser.add_argument("lab", nargs="?", help="the lab to grade, e.g. lab03")
    parser.add_argument("--demo", action="store_true", help="grade the bundled demo submissions")
    parser.add_argument("--root", type=Path, default=HERE, help="nbgrader course root")
    parser.add_argument("--csv", type=Path, help="grades CSV (default <root>/grades_<lab>.csv)")
    parser.add_argument("--workdir", type=Path, help="--demo: where to build the course copy")
    parser.add_argument(
        "--cell-timeout", type=int, help="seconds per cell (default: nbgrader_config.py)"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("JOBS") or 0) or _default_jobs(),
        help="submissions graded at once (default: $JOBS, else all cores)",
    )
    parser.add_argument(
        "--serial", action="store_true", help="nbgrader's serial autograde, no sandbox"
    )
    parser.add_argument("--force", action="store_true", help="re-grade unchanged submissions")
    parser.add_argument(
        "--require-sandbox", action="store_true", help="fail instead of grading unsandboxed"
    )
    parser.add_argument("--notebook-timeout", type=int, help="seconds per notebook")
    parser.add_argument(
        "--submission-timeout", type=float, default=900.0, help="hard limit per submission (s)"
    )
    parser.add_argument("--cpu-seconds", type=int, default=defaults.cpu_seconds)
    parser.add_argument("--memory-gb", type=float, default=defaults.memory_bytes / GiB)
    parser.add_argument("--max-processes", type=int, default=defaults.max_processes)
    parser.add_argument("--allow-network", action="store_true", help="keep the host network")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    settings = SandboxSettings(
        cpu_seconds=args.cpu_seconds,
        memory_bytes=int(args.memory_gb * GiB),
        max_processes=args.max_processes,
        network=args.allow_network,
        threads=max(1, _default_jobs() // max(1, args.jobs)),
        require_bwrap=args.require_sandbox,
    )
    options = GradeOptions(
        cell_timeout=args.cell_timeout,
        jobs=args.jobs,
        serial=args.serial,
        force=args.force,
        require_sandbox=args.require_sandbox,
        notebook_timeout=args.notebook_timeout,
        submission_timeout=args.submission_timeout,
        settings=settings,
    )
    if args.demo:
        return demo(root, args.workdir, args.cell_timeout, options)
    if not args.lab or not re.fullmatch(r"lab\d\d", args.lab):
        parser.error("give the lab to grade, e.g. `make grade LAB=lab03`")
    grades = grade_lab(root, args.lab, args.csv, args.cell_timeout, options)
    if args.serial:
        print(format_table(grades))
    print(f"\nwrote {args.csv or root / f'grades_{args.lab}.csv'}")
    print(f"feedback in {root / 'feedback'}/<student>/{args.lab}/")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
