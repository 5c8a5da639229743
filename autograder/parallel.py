"""Grade a whole class concurrently, each submission sandboxed, every grade recorded once.

``make grade LAB=lab03 JOBS=4`` (through ``autograder/grade.py``) calls :func:`grade_all`:

1. **Discover** every ``submitted/<student>/<lab>/`` folder (an empty one is a missing notebook).
2. **Skip** what is already graded: the ledger ``<root>/.grading_<lab>.json`` keeps, per student,
   a hash of the submitted files, the master and the limits; an unchanged submission with its
   grade still in the gradebook is not graded again (idempotent re-runs).
3. **Check the input** (:func:`inspect_submission`): a missing notebook, an empty file, a file
   that is not JSON or not a notebook gets zero with the reason, without running anything.
   Deleted or reordered cells are restored to the master's layout (a deleted answer cell comes
   back as the empty stub, so that part scores zero; a deleted test cell comes back from the
   master); edited locked or test cells are reported, and nbgrader puts the master's back.
4. **Grade** up to ``jobs`` submissions at once. Each runs the real ``nbgrader autograde`` in a
   scratch copy of the course (the master, the configuration, a gradebook template, this one
   submission), with the kernel in the sandbox (``sandbox.py``) and a hard wall-clock limit.
5. **Merge** each result, as it finishes, into the single gradebook, *serially, by this process
   only* (so there is no "database is locked" and no lost or duplicated grade), copy the
   autograded notebook for the feedback, then record the ledger entry. Each grade is committed
   at once: a crash or Ctrl-C loses nothing already merged, and the next run does the rest.

Every submission gets a score, a reason when it lost points or was refused (in the CSV and in
``<root>/grading_<lab>.log``), and the summary says how fast it went, which faults it survived,
which bad inputs it met and that every submission has its grade.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sandbox import (  # noqa: E402
    ENV_REQUIRE,
    ENV_SETTINGS,
    SandboxSettings,
    claim_uid,
    kill_user_processes,
    sandbox_status,
)

COURSE_FILES = ("nbgrader_config.py", "lapenna_nbgrader.py")
MAX_COPIED_FILE = 50 * 1024**2  # files of a submission larger than this are not copied
CONFIG_OVERRIDE = """

# ---- added by autograder/parallel.py: run the kernel in the sandbox (autograder/sandbox.py) ----
import sys as _lapenna_sys

_lapenna_sys.path.insert(0, {autograder!r})
from nbgrader.converters import Autograde as _LapennaAutograde  # noqa: E402
from nbgrader.preprocessors import Execute as _LapennaExecuteBase  # noqa: E402
from sandbox import guarded_execute_class as _lapenna_guarded  # noqa: E402

# nbgrader runs the ``alembic`` CLI (~0.7 s) every time it opens a gradebook; the parent found
# the answer once for this environment and passes it on.
import os as _lapenna_os  # noqa: E402

if _lapenna_os.environ.get("LAPENNA_ALEMBIC_HEAD"):
    import nbgrader.api as _lapenna_api

    _lapenna_head = _lapenna_os.environ["LAPENNA_ALEMBIC_HEAD"]
    _lapenna_api.get_alembic_version = lambda: _lapenna_head

_lapenna_pre = c.Autograde.autograde_preprocessors
if not isinstance(_lapenna_pre, list):
    _lapenna_pre = list(_LapennaAutograde.autograde_preprocessors.default_value)
c.Autograde.autograde_preprocessors = [
    _lapenna_guarded(p) if isinstance(p, type) and issubclass(p, _LapennaExecuteBase) else p
    for p in _lapenna_pre
]
"""


@dataclass
class Result:
    """The outcome for one submission."""

    student: str
    lab: str
    score: float
    max_score: float
    reasons: list[str] = field(default_factory=list)
    status: str = "graded"  # graded | refused (bad input) | failed (grader) | skipped (unchanged)
    seconds: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(dict.fromkeys(self.reasons))


# --------------------------------------------------------------------------- input checks


def _release_notebook(template: Path, lab: str) -> Any:
    import nbformat

    return nbformat.read(template / "release" / lab / f"{lab}.ipynb", as_version=4)


def _grade_id(cell: Any) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def restore_layout(nb: Any, release: Any) -> list[str]:
    """Put deleted graded/locked cells back and restore the master's order, in place.

    Returns notes for the reasons. A submission whose nbgrader cells are all present in the
    master's order is left untouched (so its score is exactly nbgrader's)."""
    master_cells = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    order = [g for g in (_grade_id(c) for c in release.cells) if g]
    notes = []
    for cell in nb.cells:
        gid = _grade_id(cell)
        master = master_cells.get(gid)
        meta = master.metadata.get("nbgrader", {}) if master else {}
        if master is not None and meta.get("locked") and not meta.get("solution"):
            if cell.get("source", "").strip() != master.source.strip():
                kind = "test" if meta.get("grade") else "locked"
                notes.append(f"edited {kind} cell {gid}: the master's version was graded")
    present = [_grade_id(c) for c in nb.cells if _grade_id(c) in master_cells]
    missing = [g for g in order if g not in present]
    seen_order = list(dict.fromkeys(present))
    if not missing and seen_order == [g for g in order if g in seen_order]:
        return notes
    leading: list[Any] = []
    after: dict[str, list[Any]] = {}
    own: dict[str, Any] = {}
    current: str | None = None
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in master_cells and gid not in own:
            own[gid] = cell
            current = gid
            after.setdefault(gid, [])
        elif current is None:
            leading.append(cell)
        else:
            after[current].append(cell)
    cells = list(leading)
    for gid in order:
        if gid in own:
            cells.append(own[gid])
        else:
            restored = copy.deepcopy(master_cells[gid])
            meta = restored.metadata.get("nbgrader", {})
            if meta.get("solution"):
                notes.append(f"answer cell {gid} was deleted: the empty stub was graded (zero)")
            elif meta.get("grade"):
                notes.append(f"test cell {gid} was deleted: restored from the master")
            else:
                notes.append(f"locked cell {gid} was deleted: restored from the master")
            cells.append(restored)
        cells.extend(after.get(gid, []))
    if seen_order != [g for g in order if g in seen_order]:
        notes.append("cells were reordered: graded in the master's order")
    nb.cells = cells
    return notes


def inspect_submission(folder: Path, lab: str, release: Any) -> tuple[Any, list[str], str | None]:
    """(notebook or None, notes, refusal): why a submission cannot be run, if it cannot."""
    import nbformat

    path = folder / f"{lab}.ipynb"
    if not path.is_file() or path.is_symlink():
        found = sorted(p.name for p in folder.iterdir())[:5] if folder.is_dir() else []
        return (
            None,
            [],
            f"missing notebook: no {lab}.ipynb" + (f" (found {found})" if found else ""),
        )
    size = path.stat().st_size
    if size == 0:
        return None, [], f"empty file: {lab}.ipynb has 0 bytes"
    if size > MAX_COPIED_FILE:
        return None, [], f"notebook too large ({size / 1024**2:.0f} MB)"
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, [], f"not valid JSON: not UTF-8 text ({exc.reason} at byte {exc.start})"
    except json.JSONDecodeError as exc:
        return None, [], f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - nbformat raises several kinds
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return None, [], f"not a Jupyter notebook: {first}"
    notes = restore_layout(nb, release)
    return nb, notes, None


# --------------------------------------------------------------------------- bookkeeping


def file_hash(*parts: bytes | Path) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.read_bytes() if isinstance(part, Path) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def submission_hash(folder: Path, context: str) -> str:
    """Hash of the submitted files (names and bytes) plus the grading context."""
    parts: list[bytes | Path] = [context.encode()]
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                parts += [str(path.relative_to(folder)).encode(), path]
    return file_hash(*parts)


class Ledger:
    """``<root>/.grading_<lab>.json``: per student the hash graded and the result; per run the
    throughput. Rewritten atomically after every merged grade."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"students": {}, "runs": []}
        if path.exists():
            try:
                self.data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                pass  # a damaged ledger only costs a re-grade

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.path)

    def record(self, result: Result, digest: str) -> None:
        entry = asdict(result)
        entry.pop("events", None)
        entry["hash"] = digest
        entry["graded_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
        self.data["students"][result.student] = entry
        self.save()


def _gradebook(root: Path) -> Any:
    from nbgrader.api import Gradebook

    return Gradebook("sqlite:///" + str(root / "gradebook.db"), course_id="lapenna")


GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
COMMENT_FIELDS = ("auto_comment", "manual_comment")


def merge_submission(gb: Any, scratch_gb: Any | None, lab: str, student: str) -> float:
    """Copy one student's autograde from the scratch gradebook into the course's (or zeros
    when ``scratch_gb`` is None); commit; return the score."""
    import warnings

    from nbgrader.api import MissingEntry

    # nbgrader's add_submission triggers harmless SQLAlchemy autoflush warnings.
    warnings.filterwarnings("ignore", message=".*not in session.*")
    gb.update_or_create_student(student)
    try:
        target = gb.find_submission(lab, student)
    except MissingEntry:
        target = gb.add_submission(lab, student)
    source = None
    if scratch_gb is not None:
        source = scratch_gb.find_submission(lab, student)
        target.timestamp = source.timestamp
        target.extension = source.extension
    for notebook in target.notebooks:
        src_nb = None
        if source is not None:
            src_nb = next((n for n in source.notebooks if n.name == notebook.name), None)
        if src_nb is not None:
            notebook.flagged = src_nb.flagged
            notebook.late_submission_penalty = src_nb.late_submission_penalty
        src_grades = {g.name: g for g in src_nb.grades} if src_nb else {}
        src_comments = {c.name: c for c in src_nb.comments} if src_nb else {}
        for grade in notebook.grades:
            if grade.name in src_grades:
                for name in GRADE_FIELDS:
                    setattr(grade, name, getattr(src_grades[grade.name], name))
            else:
                grade.auto_score, grade.manual_score, grade.extra_credit = 0.0, None, None
                grade.needs_manual_grade = False
        for comment in notebook.comments:
            if comment.name in src_comments:
                for name in COMMENT_FIELDS:
                    setattr(comment, name, getattr(src_comments[comment.name], name))
    gb.db.commit()
    return float(gb.find_submission(lab, student).score)


# --------------------------------------------------------------------------- the run


@dataclass
class Options:
    jobs: int = 0  # 0: all cores
    cell_timeout: int | None = None
    notebook_timeout: int | None = None
    submission_timeout: float = 900.0  # hard wall-clock limit for one submission's grading
    settings: SandboxSettings = field(default_factory=SandboxSettings)
    require_sandbox: bool = False
    force: bool = False  # re-grade even unchanged submissions
    progress: bool = True
    students: list[str] | None = None  # only these
    fork: bool = True  # fork workers from this process (False: a fresh `nbgrader` command each)


def _nbgrader_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("nbgrader")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "nbgrader"]


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.setdefault("LAPENNA_FORCE_CPU", "1")
    env.setdefault("LAPENNA_GRADING", "1")
    return env


def _alembic_head() -> str:
    """nbgrader's schema version, asked of ``alembic`` once per process (nbgrader asks it at
    every gradebook it opens, which costs a subprocess each time)."""
    import nbgrader.api as api

    head = os.environ.get("LAPENNA_ALEMBIC_HEAD")
    if not head:
        head = api.get_alembic_version()
        os.environ["LAPENNA_ALEMBIC_HEAD"] = head
    api.get_alembic_version = lambda: head
    return head


def _pdeathsig() -> list[str]:
    exe = shutil.which("setpriv")
    return [exe, "--pdeathsig", "KILL"] if exe else []


def students_of(root: Path, lab: str) -> list[str]:
    """Every student with a ``submitted/<student>/<lab>`` folder (even an empty one)."""
    submitted = root / "submitted"
    if not submitted.is_dir():
        return []
    return sorted(d.name for d in submitted.iterdir() if (d / lab).is_dir())


def make_template(root: Path, lab: str, workdir: Path) -> Path:
    """A course with this lab's master and an empty gradebook, generated once per run."""
    template = workdir / "template"
    template.mkdir(parents=True)
    for name in COURSE_FILES:
        if (root / name).exists():
            shutil.copy2(root / name, template / name)
    config = (template / "nbgrader_config.py").read_text()
    (template / "nbgrader_config.py").write_text(
        config + CONFIG_OVERRIDE.format(autograder=str(HERE))
    )
    shutil.copytree(root / "source" / lab, template / "source" / lab)
    cmd = [*_nbgrader_cmd(), "generate_assignment", lab, "--force", "--log-level=ERROR"]
    done = subprocess.run(cmd, cwd=template, env=_base_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"grade: generate_assignment failed in {template}:\n{done.stderr[-2000:]}")
    return template


def _copy_regular_files(src: Path, dest: Path) -> None:
    """Copy a submission folder: regular files only (no symlinks, nothing huge)."""
    for path in src.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_COPIED_FILE:
            continue
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


@dataclass
class _Running:
    student: str
    digest: str
    scratch: Path
    process: Any  # subprocess.Popen or _ForkedNbgrader
    started: float
    slot: int
    notes: list[str]


def _reasons_from_notebook(path: Path) -> list[str]:
    """'<grade_id>: <Error>: <message>' for every test or answer cell that raised."""
    import nbformat

    if not path.exists():
        return []
    nb = nbformat.read(path, as_version=4)
    reasons = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") or meta.get("solution")) or cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                value = re.sub(r"\s+", " ", str(out.get("evalue", "")))[:160]
                reasons.append(f"{meta.get('grade_id')}: {out.get('ename')}: {value}".rstrip(": "))
                break
    return reasons


def grade_all(root: Path, lab: str, options: Options | None = None) -> list[Result]:
    """Grade every submission of ``lab`` under ``root`` (see the module docstring)."""
    options = options or Options()
    root = root.resolve()
    # nbgrader's Gradebook runs ``alembic`` from PATH, in this process too.
    os.environ["PATH"] = _base_env()["PATH"]
    _alembic_head()
    jobs = options.jobs or os.cpu_count() or 1
    students = options.students or students_of(root, lab)
    ledger = Ledger(root / f".grading_{lab}.json")
    log_path = root / f"grading_{lab}.log"
    sandboxed, description = sandbox_status(options.settings)
    banner = f"sandbox: {description}"
    if not sandboxed:
        banner = "!" * 78 + f"\nWARNING: {banner}\n" + "!" * 78
        if options.require_sandbox or options.settings.require_bwrap:
            raise SystemExit(f"grade: the sandbox is required but unavailable ({description})")
    print(banner, file=sys.stderr)
    master = root / "source" / lab / f"{lab}.ipynb"
    context = json.dumps(
        [
            file_hash(master),
            file_hash(root / "nbgrader_config.py"),
            {  # limits that change a grade; not the slot, threads or strictness
                k: v
                for k, v in asdict(options.settings).items()
                if k not in ("slot", "threads", "require_bwrap", "uid_claimed", "uid_base")
            },
            options.cell_timeout,
            options.notebook_timeout,
        ],
        sort_keys=True,
    )
    _remove_abandoned_workdirs()
    work = Path(tempfile.mkdtemp(prefix=f"lapenna-grade-{lab}-"))
    (work / "grader.pid").write_text(str(os.getpid()))
    results: dict[str, Result] = {}
    running: list[_Running] = []
    started = time.monotonic()
    graded_now = 0
    gb = None
    locks: list[int] = []
    try:
        template = make_template(root, lab, work)
        release = _release_notebook(template, lab)
        with _gradebook(template) as tgb:
            max_score = float(tgb.find_assignment(lab).max_score)
        todo = []
        for student in students:
            digest = submission_hash(root / "submitted" / student / lab, context)
            entry = ledger.data["students"].get(student)
            if not options.force and entry and entry.get("hash") == digest:
                results[student] = Result(
                    student,
                    lab,
                    entry["score"],
                    entry["max_score"],
                    entry.get("reasons", []),
                    "skipped",
                )
            else:
                todo.append((student, digest))
        gb = _gradebook(root)
        from nbgrader.api import MissingEntry

        for student in list(results):  # skipped: is the grade really there?
            try:
                gb.find_submission(lab, student)
            except MissingEntry:
                del results[student]
                todo.append((student, ledger.data["students"][student]["hash"]))
        uids: dict[int, int] = {}  # slot -> the sandbox uid claimed for it (root only)
        for slot in range(jobs if os.geteuid() == 0 else 0):
            uid, lock_fd = claim_uid(options.settings.uid_base)
            uids[slot] = uid
            locks.append(lock_fd)
        bar = _progress(len(todo), options.progress, f"grading {lab} (JOBS={jobs})")
        pending = list(todo)
        free_slots = list(range(jobs))
        while pending or running:
            while pending and free_slots:
                student, digest = pending.pop(0)
                folder = root / "submitted" / student / lab
                try:
                    nb, notes, refusal = inspect_submission(folder, lab, release)
                except Exception as exc:  # noqa: BLE001 - a malformed file must not stop the class
                    nb, notes, refusal = None, [], f"not a Jupyter notebook: unreadable ({exc!r})"
                if refusal is not None:
                    score = merge_submission(gb, None, lab, student)
                    _remove_autograded(root, lab, student)
                    res = Result(student, lab, score, max_score, [refusal], "refused")
                    _finish(res, digest, ledger, log_path, results, bar)
                    graded_now += 1
                    continue
                slot = free_slots.pop(0)
                running.append(
                    _launch(
                        template,
                        work,
                        lab,
                        student,
                        digest,
                        folder,
                        nb,
                        notes,
                        slot,
                        options,
                        uids.get(slot),
                    )
                )
            time.sleep(0.2)
            for run in list(running):
                timed_out = time.monotonic() - run.started > options.submission_timeout
                if run.process.poll() is None and not timed_out:
                    continue
                if timed_out and run.process.poll() is None:
                    _kill(run.process)
                running.remove(run)
                if run.slot in uids:  # leftovers of this slot's sandbox user
                    kill_user_processes(uids[run.slot], timeout=5)
                free_slots.append(run.slot)
                res = _collect(root, gb, lab, run, max_score, timed_out, options)
                _finish(res, run.digest, ledger, log_path, results, bar)
                graded_now += 1
                if os.environ.get("LAPENNA_KEEP_SCRATCH") is None:
                    shutil.rmtree(run.scratch, ignore_errors=True)
        bar.close()
    except KeyboardInterrupt:
        for run in running:
            _kill(run.process)
        done = sum(1 for r in results.values() if r.status != "skipped")
        print(
            f"\ninterrupted: {done} submission(s) graded and recorded in this run; "
            "run the same command again to grade the rest (nothing recorded is lost).",
            file=sys.stderr,
        )
        raise
    finally:
        if gb is not None:
            gb.close()
        for run in running:
            _kill(run.process)
        for lock_fd in locks:
            os.close(lock_fd)
        if os.environ.get("LAPENNA_KEEP_SCRATCH") is None:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    if graded_now:
        ledger.data.setdefault("runs", []).append(
            {
                "jobs": jobs,
                "graded": graded_now,
                "seconds": round(elapsed, 1),
                "per_minute": round(60 * graded_now / elapsed, 2),
                "sandboxed": sandboxed,
                "at": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        ledger.save()
    return [results[s] for s in students if s in results]


def _remove_abandoned_workdirs() -> None:
    """Delete the scratch folders of graders that were killed (``kill -9`` leaves them)."""
    for folder in Path(tempfile.gettempdir()).glob("lapenna-grade-*"):
        pid_file = folder / "grader.pid"
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            try:  # half-deleted, or still being created: wait an hour before judging
                if time.time() - folder.stat().st_mtime > 3600:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            # The pid file goes last: if a dying worker of that grader still writes here,
            # the next run tries again.
            for child in folder.iterdir():
                if child.name != "grader.pid":
                    shutil.rmtree(child, ignore_errors=True)
            if [c.name for c in folder.iterdir()] == ["grader.pid"]:
                shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sub", disable=not enabled, file=sys.stderr)


def _launch(
    template: Path,
    work: Path,
    lab: str,
    student: str,
    digest: str,
    folder: Path,
    nb: Any,
    notes: list[str],
    slot: int,
    options: Options,
    uid: int | None = None,
) -> _Running:
    import nbformat

    scratch = work / f"s-{hashlib.sha1(student.encode()).hexdigest()[:12]}"
    shutil.copytree(template, scratch, ignore=shutil.ignore_patterns("release", "autograded"))
    dest = scratch / "submitted" / student / lab
    dest.mkdir(parents=True)
    _copy_regular_files(folder, dest)
    nbformat.write(nb, dest / f"{lab}.ipynb")
    settings = SandboxSettings(**{**asdict(options.settings), "slot": slot, "uid_claimed": uid})
    env = _base_env()
    env[ENV_SETTINGS] = settings.to_env()
    env["LAPENNA_EVENTS_FILE"] = str(scratch / "events.json")
    env["TMPDIR"] = str(work)  # the kernel's run folder too: gone with the run's scratch
    if options.require_sandbox:
        env[ENV_REQUIRE] = "1"
    args = ["autograde", lab, "--student", student, "--force"]
    if options.cell_timeout is not None:
        args += [f"--Execute.timeout={options.cell_timeout}"]
        args += [f"--LapennaExecute.timeout={options.cell_timeout}"]
    if options.notebook_timeout is not None:
        args += [f"--LapennaExecute.notebook_timeout={options.notebook_timeout}"]
    args += ["--log-level=WARN"]
    log_path = scratch / "worker.log"
    if options.fork and hasattr(os, "fork"):
        process: Any = _ForkedNbgrader(args, scratch, env, log_path)
    else:
        log = log_path.open("wb")
        process = subprocess.Popen(
            [*_pdeathsig(), *_nbgrader_cmd(), *args],
            cwd=scratch,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
    return _Running(student, digest, scratch, process, time.monotonic(), slot, notes)


class _ForkedNbgrader:
    """``nbgrader ARGS`` run in a child forked from this process, which has nbgrader imported
    already: that saves the ~2 s a fresh ``nbgrader`` command spends importing, per
    submission. The child is a new session, writes to its own log, and kills itself if this
    process dies (a watchdog thread), so a ``kill -9`` of the grader leaves nothing behind.
    Quacks like ``subprocess.Popen`` where the grader needs it."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        import nbgrader.apps.nbgraderapp  # noqa: F401 - imported once, before forking

        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.setsid()
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.close(fd)
                os.chdir(cwd)
                os.environ.clear()
                os.environ.update(env)
                threading.Thread(target=_die_with, args=(parent,), daemon=True).start()
                sys.argv = ["nbgrader", *args]
                from nbgrader.apps.nbgraderapp import main

                try:
                    main()
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
            except BaseException:  # noqa: BLE001 - report, then leave
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("nbgrader", timeout or 0)
            time.sleep(0.05)
        return self.returncode


def _die_with(parent: int) -> None:
    """Watchdog of a forked worker: when the grader is gone, kill this worker's session."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(0, signal.SIGKILL)


def _kill(process: Any) -> None:
    try:
        if os.getpgid(process.pid) == process.pid:  # its own session by now
            os.killpg(process.pid, signal.SIGKILL)
        else:
            os.kill(process.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _remove_autograded(root: Path, lab: str, student: str) -> None:
    shutil.rmtree(root / "autograded" / student / lab, ignore_errors=True)


def _collect(
    root: Path, gb: Any, lab: str, run: _Running, max_score: float, timed_out: bool, opts: Options
) -> Result:
    from nbgrader.api import MissingEntry

    seconds = time.monotonic() - run.started
    reasons = list(run.notes)
    events: list[dict[str, Any]] = []
    events_file = run.scratch / "events.json"
    if events_file.exists():
        try:
            events = json.loads(events_file.read_text())
        except (OSError, json.JSONDecodeError):
            events = []
    autograded = run.scratch / "autograded" / run.student / lab
    scratch_gb = None
    status = "graded"
    if timed_out:
        reasons.append(
            f"grading stopped after {opts.submission_timeout:g} s (wall-clock limit per submission)"
        )
    with _gradebook(run.scratch) as sgb:
        try:
            sgb.find_submission(lab, run.student)
            ok = run.process.returncode == 0 and (autograded / f"{lab}.ipynb").exists()
        except MissingEntry:
            ok = False
        if ok and not timed_out:
            scratch_gb = sgb
        elif not timed_out:
            tail = (run.scratch / "worker.log").read_text(errors="replace").strip().splitlines()
            errors = [line for line in tail if "[ERROR]" in line or "Error" in line]
            detail = (errors or tail or ["no output"])[-1][:300]
            reasons.append(
                f"the grader failed on this submission (exit {run.process.returncode}): {detail}"
            )
        if scratch_gb is None:
            status = "failed"
        score = merge_submission(gb, scratch_gb, lab, run.student)
    target = root / "autograded" / run.student / lab
    shutil.rmtree(target, ignore_errors=True)
    if scratch_gb is not None:
        target.mkdir(parents=True)
        for path in autograded.iterdir():
            if path.is_file() and not path.is_symlink() and path.suffix in (".ipynb", ".txt"):
                shutil.copyfile(path, target / path.name)
        reasons += _reasons_from_notebook(target / f"{lab}.ipynb")
    for event in events:
        if event["kind"] in ("tampering", "kernel_died", "huge_output", "timeout"):
            reasons.append(f"{event['cell']}: {event['kind'].replace('_', ' ')}: {event['detail']}")
    return Result(run.student, lab, score, max_score, reasons, status, seconds, events)


def _finish(
    res: Result, digest: str, ledger: Ledger, log_path: Path, results: dict[str, Result], bar: Any
) -> None:
    ledger.record(res, digest)
    results[res.student] = res
    line = (
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} {res.lab} {res.student} {res.status} "
        f"{res.score:g}/{res.max_score:g} {res.seconds:.1f}s"
        + (f" | {res.reason}" if res.reason else "")
    )
    with log_path.open("a") as handle:
        handle.write(line + "\n")
    if res.status != "graded":
        bar.write(f"{res.student}: {res.status}: {res.reason}")
    bar.update(1)


# --------------------------------------------------------------------------- reporting


def write_csv(results: list[Result], path: Path) -> None:
    """``student,lab,score,max_score,reason``: one row per student, for an LMS upload."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "lab", "score", "max_score", "reason"])
        for r in results:
            writer.writerow([r.student, r.lab, f"{r.score:g}", f"{r.max_score:g}", r.reason])


def verify_recorded(root: Path, lab: str, students: list[str]) -> tuple[int, list[str]]:
    """(students with exactly one recorded submission, students without one)."""
    from nbgrader.api import SubmittedAssignment

    with _gradebook(root) as gb:
        rows = (
            gb.db.query(SubmittedAssignment)
            .filter(SubmittedAssignment.assignment.has(name=lab))
            .all()
        )
        counts = Counter(row.student.id for row in rows)
    missing = [s for s in students if counts.get(s, 0) != 1]
    return len(students) - len(missing), missing


def summary(root: Path, lab: str, results: list[Result], jobs: int) -> str:
    """The report printed after ``make grade``: load, faults, bad inputs, nothing lost."""
    ledger = Ledger(root / f".grading_{lab}.json")
    runs = ledger.data.get("runs", [])
    lines = ["", f"== grading report: {lab} =="]
    graded = [r for r in results if r.status != "skipped"]
    skipped = len(results) - len(graded)
    lines.append(
        f"submissions: {len(results)} ({len(graded)} graded in this run, {skipped} unchanged "
        "and skipped)"
    )
    latest: dict[int, dict[str, Any]] = {}
    for run in runs:
        latest[run["jobs"]] = run
    if runs:
        last = runs[-1]
        if last["graded"] == len(graded) and graded:
            lines.append(
                f"throughput this run: {last['per_minute']:g} submissions/minute at "
                f"JOBS={last['jobs']} ({last['graded']} in {last['seconds']:g} s)"
            )
    rates = ", ".join(
        f"JOBS={j}: {r['per_minute']:g}/min ({r['graded']} subs, {r['at']})"
        for j, r in sorted(latest.items())
    )
    if rates:
        lines.append(f"throughput recorded (latest run per JOBS): {rates}")
    if 1 not in latest:
        lines.append("  (for the JOBS=1 figure: make grade LAB=... JOBS=1 FORCE=1)")
    faults: Counter[str] = Counter()
    for r in graded:
        for event in r.events:
            faults[event["kind"]] += 1
        if any("wall-clock limit per submission" in x for x in r.reasons):
            faults["submission wall-clock limit"] += 1
        if r.status == "failed":
            faults["grader failure (zero given)"] += 1
    lines.append(
        "faults survived: "
        + (", ".join(f"{k.replace('_', ' ')} x{v}" for k, v in sorted(faults.items())) or "none")
    )
    bad: Counter[str] = Counter()
    for r in graded:
        for kind in dict.fromkeys(filter(None, map(bad_input_kind, r.reasons))):
            bad[kind] += 1
    lines.append(
        "bad inputs met: " + (", ".join(f"{k} x{v}" for k, v in sorted(bad.items())) or "none")
    )
    ok, missing = verify_recorded(root, lab, [r.student for r in results])
    if missing:
        lines.append(f"LOST: no single recorded grade for {', '.join(missing)}")
    else:
        lines.append(
            f"nothing lost: {ok}/{len(results)} submissions have exactly one grade in the gradebook"
        )
    return "\n".join(lines)


BAD_INPUTS = (
    ("missing notebook", "missing notebook"),
    ("empty file", "empty file"),
    ("not valid JSON", "not valid JSON"),
    ("not a Jupyter notebook", "not a notebook"),
    ("notebook too large", "notebook too large"),
    ("was deleted", "deleted cells"),
    ("were reordered", "reordered cells"),
    ("edited test cell", "edited test cell"),
    ("edited locked cell", "edited locked cell"),
)


def bad_input_kind(reason: str) -> str | None:
    """The kind of bad input a reason reports, if any."""
    return next((kind for needle, kind in BAD_INPUTS if needle in reason), None)


def format_table(results: list[Result]) -> str:
    width = max([len("student"), *(len(r.student) for r in results)])
    rows = [f"{'student':<{width}}  lab    score  max  reason"]
    for r in results:
        reason = r.reason if len(r.reason) < 110 else r.reason[:107] + "..."
        rows.append(f"{r.student:<{width}}  {r.lab}  {r.score:5g}  {r.max_score:3g}  {reason}")
    return "\n".join(rows)
