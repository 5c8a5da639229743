"""The run: grade a whole class concurrently, each submission sandboxed, every grade once.

``make grade LAB=lab03 JOBS=4`` (through ``autograder/grade.py``) calls :func:`grade_all`:

1. **Discover** every ``submitted/<student>/<lab>/`` folder (``course.students``; an empty one
   is a missing notebook).
2. **Skip** what is already graded: an unchanged submission whose grade is still in the
   gradebook is not graded again (the ledger, ``gradebook.Ledger``: idempotent re-runs).
3. **Check the input** (``intake.inspect_submission``): refuse what cannot run (zero, with the
   reason), restore deleted or reordered cells to the master's layout.
4. **Grade** up to ``jobs`` submissions at once. Each runs the real ``nbgrader autograde`` in a
   scratch copy of the course (:func:`make_template`: the master, the configuration, a
   gradebook, this one submission), in a worker forked from this process
   (:class:`ForkedNbgrader`: nbgrader is imported once), with the kernel in the sandbox
   (``autograder/sandbox/``) and a hard wall-clock limit (:func:`kill`).
5. **Collect** each result as it finishes: merge it into the single gradebook *serially, by
   this process only* (``gradebook.merge_submission``: no "database is locked", no lost or
   duplicated grade), copy the autograded notebook for the feedback, turn the guard's events
   and the failing cells into reasons, then record the ledger entry and the log line. Each
   grade is committed at once: a crash or Ctrl-C loses nothing already merged, and the next
   run does the rest.

Every submission gets a score and a reason when it lost points or was refused (in the CSV and
in ``<root>/grading_<lab>.log``); ``report.summary`` then says how fast it went, which faults
it survived, which bad inputs it met and that every submission has its grade.
"""

from __future__ import annotations

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder.course import (
    copy_course,
    nbgrader_command,
    nbgrader_env,
    run_nbgrader,
    usable_cores,
)
from autograder.course import students as course_students
from autograder.gradebook import (
    Grade,
    Ledger,
    file_hash,
    merge_submission,
    open_gradebook,
    submission_hash,
)
from autograder.intake import copy_submission, inspect_submission, release_notebook
from autograder.sandbox import cgroups
from autograder.sandbox.launcher import group_processes, limits_kind, sandbox_status
from autograder.sandbox.processes import claim_uid, kill_user_processes, parent_death_prefix
from autograder.sandbox.settings import ENV_REQUIRE, ENV_SETTINGS, SandboxSettings

REPO = Path(__file__).resolve().parent.parent  # the folder that holds the autograder package
CONFIG_OVERRIDE = """

# ---- added by autograder/scheduling.py: run the kernel in the sandbox (autograder/sandbox/) ----
import sys as _lapenna_sys

_lapenna_sys.path.insert(0, {repo!r})
from nbgrader.converters import Autograde as _LapennaAutograde  # noqa: E402
from nbgrader.preprocessors import Execute as _LapennaExecuteBase  # noqa: E402
from autograder.sandbox.guard import guarded_execute_class as _lapenna_guarded  # noqa: E402

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
class Options:
    """How :func:`grade_all` runs; ``grade.py``'s command-line options fill it in."""

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


def make_template(root: Path, lab: str, workdir: Path) -> Path:
    """A course with this lab's master and an empty gradebook, generated once per run; each
    worker's scratch course is a copy of it. Its ``nbgrader_config.py`` gets
    :data:`CONFIG_OVERRIDE`, which puts the kernels in the sandbox."""
    template = copy_course(root, workdir / "template", [lab])
    config = template / "nbgrader_config.py"
    config.write_text(config.read_text() + CONFIG_OVERRIDE.format(repo=str(REPO)))
    run_nbgrader(template, "generate_assignment", lab, "--force", log_level="ERROR", capture=True)
    return template


@dataclass
class _Running:
    student: str
    digest: str
    scratch: Path
    process: Any  # subprocess.Popen or _ForkedNbgrader
    started: float
    slot: int
    notes: list[str]
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (the profile)
    cgroup: list[str] = field(default_factory=list)  # its control group (cgroups.create)


def grade_all(root: Path, lab: str, options: Options | None = None) -> list[Grade]:
    """Grade every submission of ``lab`` under ``root`` (see the module docstring)."""
    options = options or Options()
    root = root.resolve()
    # nbgrader's Gradebook runs ``alembic`` from PATH, in this process too.
    os.environ["PATH"] = nbgrader_env()["PATH"]
    _alembic_head()
    jobs = options.jobs or usable_cores()
    students = options.students or course_students(root, lab)
    ledger = Ledger.of(root, lab)
    log_path = root / f"grading_{lab}.log"
    sandboxed, description = sandbox_status(options.settings)
    banner = f"sandbox: {description}"
    if not sandboxed:
        banner = "!" * 78 + f"\nWARNING: {banner}\n" + "!" * 78
        if options.require_sandbox or options.settings.require_bwrap:
            raise SystemExit(f"grade: the sandbox is required but unavailable ({description})")
    print(banner, file=sys.stderr)
    context = _grading_context(root, lab, options)
    _remove_abandoned_workdirs()
    work = Path(tempfile.mkdtemp(prefix=f"lapenna-grade-{lab}-"))
    (work / "grader.pid").write_text(str(os.getpid()))
    results: dict[str, Grade] = {}
    running: list[_Running] = []
    started = time.monotonic()
    graded_now = 0
    gb = None
    locks: list[int] = []
    try:
        template = make_template(root, lab, work)
        release = release_notebook(template, lab)
        with open_gradebook(template) as tgb:
            max_score = float(tgb.find_assignment(lab).max_score)
        todo = []
        unchanged: dict[str, tuple[Grade, str]] = {}
        for student in students:
            digest = submission_hash(root / "submitted" / student / lab, context)
            recorded = None if options.force else ledger.unchanged(student, lab, digest)
            if recorded is not None:
                unchanged[student] = recorded, digest
            else:
                todo.append((student, digest))
        gb = open_gradebook(root)
        for student, (recorded, digest) in unchanged.items():
            if _has_submission(gb, lab, student):  # skipped only if its grade is really there
                results[student] = recorded
            else:
                todo.append((student, digest))
        uids: dict[int, int] = {}  # slot -> the sandbox uid claimed for it (root only)
        for slot in range(jobs if os.geteuid() == 0 else 0):
            uid, lock_fd = claim_uid(options.settings.uid_base)
            uids[slot] = uid
            locks.append(lock_fd)
        bar = _progress(len(todo), options.progress, f"grading {lab} (JOBS={jobs})")
        pending = list(todo)
        free_slots = list(range(jobs))
        collect_later: list[tuple[_Running, bool]] = []  # finished, not yet merged
        while pending or running or collect_later:
            while pending and free_slots:
                student, digest = pending.pop(0)
                folder = root / "submitted" / student / lab
                t0 = time.perf_counter()
                try:
                    nb, notes, refusal = inspect_submission(folder, lab, release)
                except Exception as exc:  # a malformed file must not stop the class
                    nb, notes, refusal = None, [], f"not a Jupyter notebook: unreadable ({exc!r})"
                inspected = time.perf_counter() - t0
                if refusal is not None:
                    score = merge_submission(gb, None, lab, student)
                    _remove_autograded(root, lab, student)
                    res = Grade(student, lab, score, max_score, [refusal], "refused")
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
                running[-1].stages["inspect"] = inspected
            # Collect what finished after its slot got the next submission: merging overlaps
            # with that worker's start.
            for run, timed_out in collect_later:
                t0 = time.perf_counter()
                res = _collect(root, gb, lab, run, max_score, timed_out, options)
                res.stages["collect"] = time.perf_counter() - t0
                _finish(res, run.digest, ledger, log_path, results, bar)
                graded_now += 1
                if os.environ.get("LAPENNA_KEEP_SCRATCH") is None:
                    shutil.rmtree(run.scratch, ignore_errors=True)
            collect_later = []
            if not running:
                continue
            time.sleep(0.05)
            for run in list(running):
                timed_out = time.monotonic() - run.started > options.submission_timeout
                if run.process.poll() is None and not timed_out:
                    continue
                if timed_out and run.process.poll() is None:
                    _kill(run.process)
                running.remove(run)
                if run.slot in uids:  # leftovers of this slot's sandbox user
                    kill_user_processes(uids[run.slot], timeout=5)
                cgroups.destroy(run.cgroup)  # and of its control group
                run.stages["worker"] = time.perf_counter() - run.stages.pop("_forked")
                free_slots.append(run.slot)
                collect_later.append((run, timed_out))
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
            cgroups.destroy(run.cgroup, timeout=5)
        for lock_fd in locks:
            os.close(lock_fd)
        if os.environ.get("LAPENNA_KEEP_SCRATCH") is None:
            shutil.rmtree(work, ignore_errors=True)
    if graded_now:
        ledger.record_run(jobs, graded_now, time.monotonic() - started, sandboxed)
    return [results[s] for s in students if s in results]


def _grading_context(root: Path, lab: str, options: Options) -> str:
    """What, besides the submitted files, decides a grade: the master, the configuration and
    the limits (not the slot, threads or strictness). Part of each submission's hash."""
    limits = {
        k: v
        for k, v in asdict(options.settings).items()
        if k not in ("slot", "threads", "require_bwrap", "uid_claimed", "uid_base", "cgroup")
    }
    master = root / "source" / lab / f"{lab}.ipynb"
    parts = [file_hash(master), file_hash(root / "nbgrader_config.py"), limits]
    return json.dumps([*parts, options.cell_timeout, options.notebook_timeout], sort_keys=True)


def _has_submission(gb: Any, lab: str, student: str) -> bool:
    from nbgrader.api import MissingEntry

    try:
        gb.find_submission(lab, student)
    except MissingEntry:
        return False
    return True


def _remove_abandoned_workdirs() -> None:
    """Delete the scratch folders and control groups of graders that were killed (``kill -9``
    leaves them)."""
    cgroups.remove_abandoned()
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
    t0 = time.perf_counter()
    scratch = work / f"s-{hashlib.sha1(student.encode()).hexdigest()[:12]}"
    shutil.copytree(template, scratch, ignore=shutil.ignore_patterns("release", "autograded"))
    dest = scratch / "submitted" / student / lab
    dest.mkdir(parents=True)
    copy_submission(folder, dest)
    nbformat.write(nb, dest / f"{lab}.ipynb")
    settings = SandboxSettings(**{**asdict(options.settings), "slot": slot, "uid_claimed": uid})
    group: list[str] = []
    if limits_kind(settings) != cgroups.RLIMIT:  # all its processes share one limit
        try:
            group = cgroups.create(settings.group_memory, group_processes(settings), f"s{slot}")
        except OSError as exc:  # per-process limits still hold
            print(f"{student}: no control group ({exc}); per-process limits", file=sys.stderr)
        settings.cgroup = group
    env = nbgrader_env()
    env[ENV_SETTINGS] = settings.to_env()
    env["LAPENNA_EVENTS_FILE"] = str(scratch / "events.json")
    env["LAPENNA_STAGES_FILE"] = str(scratch / "stages.json")
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
    stages = {"scratch": time.perf_counter() - t0}
    t0 = time.perf_counter()
    if options.fork and hasattr(os, "fork"):
        process: Any = _ForkedNbgrader(args, scratch, env, log_path)
    else:
        log = log_path.open("wb")
        process = subprocess.Popen(
            [*parent_death_prefix(), *nbgrader_command(), *args],
            cwd=scratch,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
    stages["start_worker"] = time.perf_counter() - t0
    stages["_forked"] = t0
    return _Running(student, digest, scratch, process, time.monotonic(), slot, notes, stages, group)


class _ForkedNbgrader:
    """``nbgrader ARGS`` run in a child forked from this process, which has nbgrader imported
    already: that saves the ~2 s a fresh ``nbgrader`` command spends importing, per
    submission. The child is a new session, writes to its own log, and kills itself if this
    process dies (a watchdog thread), so a ``kill -9`` of the grader leaves nothing behind.
    Quacks like ``subprocess.Popen`` where the grader needs it."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        import nbgrader.apps.nbgraderapp  # noqa: F401 - imported once, before forking

        _preimport()

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
            except BaseException:  # report, then leave
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


def _preimport() -> None:
    """What every worker would import on its own (the sandbox's kernel manager and guard, which
    its ``nbgrader_config.py`` loads, and matplotlib, for the font cache it copies): once here,
    before forking, instead of once per submission."""
    try:
        import matplotlib  # noqa: F401

        import autograder.sandbox.guard  # noqa: F401
    except ImportError:  # the worker then reports it
        pass


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
) -> Grade:
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
    with open_gradebook(run.scratch) as sgb:
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
        reasons += reasons_from_notebook(target / f"{lab}.ipynb")
    for event in events:
        if event["kind"] in ("tampering", "kernel_died", "huge_output", "timeout"):
            reasons.append(f"{event['cell']}: {event['kind'].replace('_', ' ')}: {event['detail']}")
    stages = dict(run.stages)
    try:  # the guard's spans, inside the worker
        stages.update(json.loads((run.scratch / "stages.json").read_text()))
    except (OSError, json.JSONDecodeError):
        pass
    return Grade(run.student, lab, score, max_score, reasons, status, seconds, events, stages)


def _finish(
    res: Grade, digest: str, ledger: Ledger, log_path: Path, results: dict[str, Grade], bar: Any
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


def reasons_from_notebook(path: Path) -> list[str]:
    """'<grade_id>: <Error>: <message>' for every test or answer cell that raised."""
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
