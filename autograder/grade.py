"""Grade the submissions of one lab with nbgrader: scores, a CSV for the LMS, safe feedback.

``make grade LAB=lab03`` runs::

    python autograder/grade.py lab03 --jobs N

Submissions are ``autograder/submitted/<student>/<lab>/<lab>.ipynb``. :func:`grade_lab` runs
the steps, each a real nbgrader command in the course root:

1. ``nbgrader generate_assignment <lab>``: records the master's graded cells in the gradebook
   (``autograder/gradebook.db``, which is not committed; this makes a fresh clone gradeable);
2. the autograde, by ``scheduling.grade_all``: ``JOBS`` submissions at once (default: all
   cores), each by ``nbgrader autograde`` in a scratch copy of the course with its kernel in the
   bubblewrap sandbox (``autograder/sandbox/``: no network, read-only system, resource limits,
   an unprivileged user), every grade merged into the one gradebook by this process alone;
   hostile and broken submissions get zero for the affected parts and a reason; unchanged
   submissions are skipped on a re-run (``--force`` re-grades). ``--serial`` runs nbgrader's
   own serial ``autograde`` (one call for the class, no sandbox: :func:`autograde`) instead.
   ``--executor slurm`` grades on a SLURM cluster instead (``slurm.grade_all``: a job array of
   node-sized shards, each running the same sandboxed pool on its node, every result merged
   here, into the same gradebook and ledger; ``--shards``, ``--max-running``, ``--partition``,
   ``--account``, ``--shard-time``, ``--shard-memory``, ``--sbatch-line``, ``--slurm-dir``).
   The per-cell timeout and the per-notebook limit come from ``nbgrader_config.py``;
3. ``nbgrader generate_feedback <lab>``: one HTML per student, in
   ``autograder/feedback/<student>/<lab>/<lab>.html``, with hidden tests and anything that could
   quote them removed (``lapenna_nbgrader.HideHiddenTests``); :func:`check_feedback` then checks
   every feedback file for hidden-test lines and refuses to leave a leaking one;
4. the grades: ``autograder/grades_<lab>.csv`` with ``student,lab,score,max_score,reason``, a
   table on stdout, and (parallel) the grading report and one line per submission in
   ``autograder/grading_<lab>.log``.

``python autograder/grade.py --demo`` does the same for the bundled example submissions
(``autograder/demo/``) in a temporary copy of the course, prints the table and compares
it with ``autograder/demo/expected_scores.json``. ``--help`` lists every option.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as `python autograder/grade.py`: import the package instead
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from autograder import course, labs, report, slurm
from autograder.course import COURSE_FILES, run_nbgrader
from autograder.gradebook import Grade, collect_grades
from autograder.sandbox.settings import GiB, SandboxSettings
from autograder.scheduling import Options, grade_all

HERE = Path(__file__).resolve().parent  # the course root
# The workflow's names, including what it uses from the course (the pipeline tests reach
# COURSE_FILES, run_nbgrader and collect_grades through this module).
__all__ = [
    "COURSE_FILES",
    "Grade",
    "autograde",
    "check_feedback",
    "collect_grades",
    "demo",
    "generate_feedback",
    "grade_lab",
    "hidden_test_lines",
    "leaked_lines",
    "main",
    "run_nbgrader",
]


def autograde(root: Path, lab: str, cell_timeout: int | None = None) -> None:
    """Register the master, then autograde every submission of ``lab`` in one nbgrader call
    (nbgrader's own serial grader: no sandbox, no per-submission limit)."""
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


def grade_lab(
    root: Path,
    lab: str,
    options: Options | None = None,
    *,
    serial: bool = False,
    csv_path: Path | None = None,
    executor: str = "local",
    slurm_options: slurm.SlurmOptions | None = None,
) -> list[Grade]:
    """The whole workflow for one lab (see the module docstring); returns the grades.

    By default the submissions are graded concurrently, each in the sandbox
    (``scheduling.grade_all`` with ``options``); ``executor="slurm"`` grades them on a SLURM
    cluster (``slurm.grade_all`` with ``slurm_options``); ``serial`` runs nbgrader's own
    serial ``autograde`` instead (only ``options.cell_timeout`` applies).
    """
    if executor not in ("local", "slurm"):
        raise ValueError(f"grade_lab: executor must be 'local' or 'slurm', got {executor!r}")
    options = options or Options()
    if not (root / "source" / lab / f"{lab}.ipynb").exists():
        raise SystemExit(f"grade: no master {root / 'source' / lab}; run `make labs` first")
    class_list = course.students(root, lab)
    if not class_list:
        raise SystemExit(
            f"grade: no submissions of {lab}: put them in {root / 'submitted'}/<student>/{lab}/"
        )
    if serial:
        autograde(root, lab, options.cell_timeout)
        grades = collect_grades(root, lab, class_list)
    else:
        run_nbgrader(root, "generate_assignment", lab, "--force")  # the master, in the gradebook
        if executor == "slurm":
            try:
                grades = slurm.grade_all(root, lab, options, slurm_options)
            except slurm.ShardsFailed as failed:
                raise SystemExit(str(failed)) from None
        else:
            grades = grade_all(root, lab, options)
    generate_feedback(root, lab)
    check_feedback(root, lab, class_list)
    report.write_csv(grades, csv_path or root / f"grades_{lab}.csv")
    print(report.format_table(grades))
    if not serial:
        print(report.summary(root, lab, grades))
    return grades


def demo(
    root: Path,
    workdir: Path | None,
    options: Options,
    serial: bool = False,
    executor: str = "local",
    slurm_options: slurm.SlurmOptions | None = None,
) -> int:
    """Grade the bundled demo submissions in a copy of the course; 0 if the scores are right."""
    demo_dir = root / "demo"
    expected = json.loads((demo_dir / "expected_scores.json").read_text())
    lab = expected["lab"]
    work = Path(workdir or tempfile.mkdtemp(prefix="lapenna-grade-demo-"))
    demo_course = course.copy_course(root, work / "autograder")
    for student in expected["scores"]:
        shutil.copytree(demo_dir / student, demo_course / "submitted" / student, dirs_exist_ok=True)
    grades = grade_lab(
        demo_course, lab, options, serial=serial, executor=executor, slurm_options=slurm_options
    )
    print(f"\nfeedback: {demo_course / 'feedback'}/<student>/{lab}/{lab}.html")
    print(f"grades:   {demo_course / f'grades_{lab}.csv'}")
    wrong = [g for g in grades if abs(g.score - expected["scores"][g.student]) > 1e-9]
    for g in wrong:
        print(
            f"UNEXPECTED: {g.student} scored {g.score:g}, expected {expected['scores'][g.student]}"
        )
    return 1 if wrong else 0


def main(argv: list[str] | None = None) -> int:
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
        default=int(os.environ.get("JOBS") or 0) or course.usable_cores(),
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
    cluster = parser.add_argument_group(
        "SLURM (--executor slurm: a job array of shards; JOBS is then the workers per shard)"
    )
    cluster.add_argument(
        "--executor",
        choices=("local", "slurm"),
        default=os.environ.get("EXECUTOR") or "local",
        help="where to grade: this machine (default) or a SLURM cluster",
    )
    cluster.add_argument("--shards", type=int, default=0, help="array tasks (default: automatic)")
    cluster.add_argument(
        "--max-running", type=int, default=0, help="cap on shards running at once (%%T)"
    )
    cluster.add_argument("--partition", help="sbatch --partition")
    cluster.add_argument("--account", help="sbatch --account")
    cluster.add_argument("--shard-time", help="sbatch --time per shard, e.g. 01:00:00")
    cluster.add_argument("--shard-memory", help="sbatch --mem per shard, e.g. 16G")
    cluster.add_argument(
        "--sbatch-line",
        action="append",
        default=[],
        help="an extra #SBATCH line (repeatable; ';' separates several): --sbatch-line=--qos=low",
    )
    cluster.add_argument(
        "--slurm-dir", type=Path, help="run directory shared by all nodes (default <root>/.slurm)"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    settings = SandboxSettings(
        cpu_seconds=args.cpu_seconds,
        memory_bytes=int(args.memory_gb * GiB),
        max_processes=args.max_processes,
        network=args.allow_network,
        threads=max(1, course.usable_cores() // max(1, args.jobs)),
        require_bwrap=args.require_sandbox,
    )
    options = Options(
        jobs=args.jobs,
        cell_timeout=args.cell_timeout,
        notebook_timeout=args.notebook_timeout,
        submission_timeout=args.submission_timeout,
        settings=settings,
        require_sandbox=args.require_sandbox,
        force=args.force,
    )
    slurm_options = slurm.SlurmOptions(
        shards=args.shards,
        max_running=args.max_running,
        partition=args.partition,
        account=args.account,
        time=args.shard_time,
        memory=args.shard_memory,
        extra=[part for line in args.sbatch_line for part in line.split(";") if part.strip()],
        run_dir=args.slurm_dir,
    )
    run = {"serial": args.serial, "executor": args.executor, "slurm_options": slurm_options}
    if args.demo:
        return demo(root, args.workdir, options, **run)
    if not args.lab or not labs.is_lab_id(args.lab):
        parser.error("give the lab to grade, e.g. `make grade LAB=lab03`")
    known = labs.lab_ids(root / "notebooks")
    if args.lab not in known:
        parser.error(f"{args.lab} is not a lab of the course (course.yml): {', '.join(known)}")
    grade_lab(root, args.lab, options, csv_path=args.csv, **run)
    print(f"\nwrote {args.csv or root / f'grades_{args.lab}.csv'}")
    print(f"feedback in {root / 'feedback'}/<student>/{args.lab}/")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
