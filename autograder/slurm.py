"""Grade a class on a SLURM cluster: a job array of node-sized shards, one gradebook.

``make grade LAB=lab03 EXECUTOR=slurm`` (``grade.py --executor slurm``) calls :func:`grade_all`,
which does what ``scheduling.grade_all`` does, with the grading itself on the cluster:

1. **Discover and skip** as the local executor does: the ledger's hash of each submission, an
   unchanged one whose grade is in the gradebook is not graded again.
2. **Shard**: the submissions still to grade are cut into ``K`` contiguous shards
   (:func:`split_shards`), each a node's worth of work, written with their hashes to
   ``<run>/manifest.json`` in the run directory (``<root>/.slurm/<lab>-<time>/``, which must be
   on a filesystem every node sees, like the course and the repository).
3. **Submit** one job array, ``sbatch --array=0-(K-1)%T`` (:func:`sbatch_script`: partition,
   account, time and memory per shard, extra ``#SBATCH`` lines). A class larger than the
   site's ``MaxArraySize`` (``scontrol show config``) goes in several arrays
   (:func:`array_chunks`); with a cap ``T`` each waits for the one before (``afterany``), so
   the cap holds for the class. Never one job per student: the scheduler costs about a second
   per job, and sites limit how many jobs start each minute.
4. **Each shard** (``python -m autograder.slurm shard MANIFEST I``, :func:`run_shard`) copies
   its submissions into a node-local course and runs today's sandboxed worker pool on them
   (``scheduling.grade_all``, ``JOBS`` at once). Each result is written, as it is merged into
   the shard's own scratch gradebook, to ``<run>/results/<student>.json``: the grade, the
   per-cell scores and comments, the autograded notebook. Written to a temporary name, then
   ``os.replace``: a reader sees a whole result or none. JSON only, no pickles; the shard
   never connects to the submitting host.
5. **The parent merges**: it polls the results directory and merges each result into the one
   gradebook through ``gradebook.merge_submission``, then records the ledger entry and the log
   line, exactly as the local executor does (one writer); the progress bar counts results as
   they arrive. A shard that ends without all its results (cancelled, timed out, node lost,
   failed) is reported with its SLURM state (``squeue``/``scontrol``: there may be no
   accounting, so no ``sacct``) and its exit file and log, and :class:`ShardsFailed` is raised
   once the other shards are done. Nothing merged is lost; the same command again grades only
   what is missing (and first cancels the jobs of an earlier run of the lab still queued and
   merges what they left, if it is still current). A grade is never merged twice.

Examples
--------
>>> split_shards(["a", "b", "c", "d", "e"], 2)
[['a', 'b', 'c'], ['d', 'e']]
>>> array_chunks(5, max_array_size=2)
[(0, 2), (2, 2), (4, 1)]
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from autograder.course import copy_course, nbgrader_env, run_nbgrader, usable_cores
from autograder.course import students as course_students
from autograder.gradebook import Grade, Ledger, merge_submission, open_gradebook, submission_hash
from autograder.scheduling import REPO, Options, _has_submission
from autograder.scheduling import _grading_context as grading_context
from autograder.scheduling import grade_all as grade_shard_locally

MANIFEST_VERSION = 1
SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001  # SLURM's own default, when scontrol cannot be asked
SUBMISSIONS_PER_WORKER = 8  # automatic shard size: about 8 submissions per worker of a shard
INSTALL_HINT = (
    "SLURM is not installed: on Debian/Ubuntu, "
    "`apt-get install -y slurmctld slurmd slurm-client munge` (as root)"
)


@dataclass
class SlurmOptions:
    """How :func:`grade_all` uses the cluster; ``grade.py``'s ``--shards`` ... fill it in."""

    shards: int = 0  # K; 0: about SUBMISSIONS_PER_WORKER submissions per worker of a shard
    max_running: int = 0  # T, the cap on shards running at once (``%T``); 0: no cap
    partition: str | None = None
    account: str | None = None
    time: str | None = None  # per shard, as sbatch takes it: "01:00:00", "90"
    memory: str | None = None  # per shard, as sbatch --mem takes it: "16G"
    extra: list[str] = field(default_factory=list)  # more ``#SBATCH`` lines, e.g. "--qos=short"
    run_dir: Path | None = None  # shared between nodes; default <root>/.slurm
    python: str = sys.executable  # the Python on the nodes (same path: a shared virtualenv)
    job_name: str | None = None  # default grade-<lab>
    poll_seconds: float = 1.0  # how often the results directory is read
    queue_seconds: float = 15.0  # how often squeue is asked (sites dislike tight squeue loops)


@dataclass
class ShardFailure:
    """A shard that ended without writing all its results."""

    shard: int
    job: str  # <array job id>_<task id>
    state: str  # SLURM's JobState (CANCELLED, TIMEOUT, NODE_FAIL, FAILED, ...) or what is known
    exit: str  # the exit file's code, or "none" when the shard was killed before writing it
    log: Path
    missing: list[str]

    def __str__(self) -> str:
        shown = ", ".join(self.missing[:8]) + (" ..." if len(self.missing) > 8 else "")
        return (
            f"shard {self.shard} (job {self.job}): {self.state}, exit {self.exit}; "
            f"{len(self.missing)} submission(s) not graded ({shown}); log: {self.log}"
        )


class ShardsFailed(RuntimeError):
    """Some shards ended without all their results; ``grades`` holds what was merged."""

    def __init__(self, failures: list[ShardFailure], grades: list[Grade]) -> None:
        self.failures = failures
        self.grades = grades
        lines = [str(f) for f in failures]
        super().__init__(
            "grade: some shards failed; what they finished is merged, and the same command "
            "again grades only the rest:\n  " + "\n  ".join(lines)
        )


# ---------------------------------------------------------------------------- planning


def split_shards(items: list[Any], shards: int) -> list[list[Any]]:
    """``items`` in ``shards`` contiguous pieces, sizes differing by at most one (none empty).

    Examples
    --------
    >>> split_shards(list(range(7)), 3)
    [[0, 1, 2], [3, 4], [5, 6]]
    >>> split_shards([1, 2], 5)
    [[1], [2]]
    """
    if shards < 1:
        raise ValueError(f"split_shards: shards must be at least 1, got {shards}")
    shards = min(shards, len(items)) or 1
    size, extra = divmod(len(items), shards)
    pieces, start = [], 0
    for i in range(shards):
        end = start + size + (1 if i < extra else 0)
        pieces.append(items[start:end])
        start = end
    return [p for p in pieces if p]


def auto_shards(count: int, jobs: int) -> int:
    """The default number of shards: about :data:`SUBMISSIONS_PER_WORKER` submissions per
    worker, so a shard's start-up (a job, nbgrader's import, the master) is amortised.

    >>> auto_shards(100, 4), auto_shards(3, 4), auto_shards(1000, 8)
    (4, 1, 16)
    """
    return max(1, min(count, math.ceil(count / (SUBMISSIONS_PER_WORKER * max(1, jobs)))))


def array_chunks(shards: int, max_array_size: int) -> list[tuple[int, int]]:
    """(first shard, number of shards) of each array, none with an index ``>= MaxArraySize``.

    >>> array_chunks(3, 1001)
    [(0, 3)]
    """
    if max_array_size < 1:
        raise SystemExit("grade: this cluster does not allow job arrays (MaxArraySize = 0)")
    return [(off, min(max_array_size, shards - off)) for off in range(0, shards, max_array_size)]


def sbatch_script(run: Path, lab: str, jobs: int, opts: SlurmOptions, repo: Path = REPO) -> str:
    """The batch script of every shard: the ``#SBATCH`` header, then the shard itself; shard
    ``I = LAPENNA_SHARD_OFFSET + SLURM_ARRAY_TASK_ID`` logs to ``<run>/logs/shard-I.log`` and
    leaves its exit code in ``<run>/exit/shard-I``.

    Examples
    --------
    >>> text = sbatch_script(Path("/shared/run"), "lab03", 8,
    ...                      SlurmOptions(partition="cpu", time="01:00:00", extra=["--qos=low"]))
    >>> print("\\n".join(line for line in text.splitlines() if line.startswith("#SBATCH")))
    #SBATCH --job-name=grade-lab03
    #SBATCH --output=/shared/run/logs/slurm-%A_%a.out
    #SBATCH --nodes=1
    #SBATCH --ntasks=1
    #SBATCH --cpus-per-task=8
    #SBATCH --partition=cpu
    #SBATCH --time=01:00:00
    #SBATCH --qos=low
    """
    header = [
        f"--job-name={opts.job_name or f'grade-{lab}'}",
        f"--output={run}/logs/slurm-%A_%a.out",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={jobs}",
    ]
    for flag, value in (
        ("partition", opts.partition),
        ("account", opts.account),
        ("time", opts.time),
        ("mem", opts.memory),
    ):
        if value:
            header.append(f"--{flag}={value}")
    for line in opts.extra:
        line = line.strip()
        line = line.removeprefix("#SBATCH").strip()
        if line:
            header.append(line)
    lines = ["#!/bin/bash", *(f"#SBATCH {h}" for h in header)]
    manifest = _quote(str(run / "manifest.json"))
    lines += [
        "# written by autograder/slurm.py: one shard of the class, graded on this node",
        f"RUN={_quote(str(run))}",
        "I=$(( ${LAPENNA_SHARD_OFFSET:-0} + SLURM_ARRAY_TASK_ID ))",
        'exec > "$RUN/logs/shard-$I.log" 2>&1',
        f"cd {_quote(str(repo))}",
        f'{_quote(opts.python)} -m autograder.slurm shard {manifest} "$I"',
        "code=$?",
        'printf \'{"exit": %d, "job": "%s_%s", "node": "%s"}\\n\' "$code" '
        '"$SLURM_ARRAY_JOB_ID" "$SLURM_ARRAY_TASK_ID" "$SLURMD_NODENAME" '
        '> "$RUN/exit/.shard-$I.tmp" && mv "$RUN/exit/.shard-$I.tmp" "$RUN/exit/shard-$I"',
        'exit "$code"',
    ]
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


# ---------------------------------------------------------------------------- SLURM commands


def slurm_problem() -> str | None:
    """Why SLURM cannot be used from here (None when ``sbatch``, ``squeue`` and ``scontrol``
    are on PATH)."""
    missing = [c for c in ("sbatch", "squeue", "scontrol", "scancel") if not shutil.which(c)]
    if missing:
        return f"{INSTALL_HINT} (missing: {', '.join(missing)})"
    return None


def _slurm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(
            f"grade: `{' '.join(args)}` failed: {(done.stderr or done.stdout).strip()}"
        )
    return done


def max_array_size() -> int:
    """The site's ``MaxArraySize`` (array indices must stay below it)."""
    done = _slurm("scontrol", "show", "config", check=False)
    found = re.search(r"^MaxArraySize\s*=\s*(\d+)", done.stdout, re.MULTILINE)
    return int(found.group(1)) if found else SLURM_DEFAULT_MAX_ARRAY_SIZE


def queued_tasks(array_jobs: list[str]) -> dict[tuple[str, int], str]:
    """(array job id, task id) -> state, for the tasks of ``array_jobs`` SLURM still holds as
    pending or running (``squeue``, one line per task)."""
    if not array_jobs:
        return {}
    done = _slurm("squeue", "-h", "-r", "-o", "%F|%K|%T", check=False)
    wanted = set(array_jobs)
    tasks: dict[tuple[str, int], str] = {}
    for line in done.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3 and parts[0] in wanted and parts[1].isdigit():
            tasks[parts[0], int(parts[1])] = parts[2]
    return tasks


def job_state(job: str) -> str:
    """SLURM's ``JobState`` (with its reason) of a finished task, from ``scontrol``; what is
    known when the controller has forgotten it (``MinJobAge``)."""
    done = _slurm("scontrol", "show", "job", job, check=False)
    state = re.search(r"JobState=(\S+)", done.stdout)
    if not state:
        return "state unknown (no longer known to slurmctld)"
    reason = re.search(r"Reason=(\S+)", done.stdout)
    extra = f" ({reason.group(1)})" if reason and reason.group(1) != "None" else ""
    return state.group(1) + extra


def cancel(array_jobs: list[str]) -> None:
    if array_jobs:
        _slurm("scancel", *array_jobs, check=False)


# ---------------------------------------------------------------------------- a local SLURM


LOCAL_NODE = "lapenna-node"


def local_slurm_conf(folder: Path, max_array_size: int = SLURM_DEFAULT_MAX_ARRAY_SIZE) -> str:
    """A ``slurm.conf`` for a one-node SLURM on this machine (node at 127.0.0.1, no
    accounting, no systemd, no munge: ``auth/none``), its state and logs in ``folder``."""
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return f"""\
ClusterName=lapenna-local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
AuthType=auth/none
CredType=cred/none
SlurmUser=root
SlurmdUser=root
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MaxArraySize={max_array_size}
ReturnToService=2
NodeName={LOCAL_NODE} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN
PartitionName=debug Nodes={LOCAL_NODE} Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def local_cluster(
    folder: Path, max_array_size: int = SLURM_DEFAULT_MAX_ARRAY_SIZE, timeout: float = 60
) -> Iterator[Path]:
    """Run a one-node SLURM on this machine (root only): write :func:`local_slurm_conf` to
    ``folder``, start ``slurmctld -D`` and ``slurmd -D`` in the background, wait until
    ``sinfo`` shows the node idle, point ``SLURM_CONF`` at it; on leaving, cancel its jobs
    and stop both daemons by their process IDs. For the tests, the benchmark and a try."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    conf = folder / "slurm.conf"
    conf.write_text(local_slurm_conf(folder, max_array_size))
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        for cmd in (
            ["slurmctld", "-D", "-f", str(conf)],
            ["slurmd", "-D", "-N", LOCAL_NODE, "-f", str(conf)],
        ):
            with (folder / f"{cmd[0]}.out").open("wb") as log:
                daemons.append(
                    subprocess.Popen(
                        cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            done = _slurm("sinfo", "-h", "-N", "-o", "%T", check=False)
            state = done.stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            logs = "".join(
                (folder / n).read_text(errors="replace")[-1500:]
                for n in ("slurmctld.out", "slurmd.out", "slurmctld.log", "slurmd.log")
                if (folder / n).exists()
            )
            raise RuntimeError(f"the local SLURM node did not become idle ({state!r}):\n{logs}")
        yield conf
    finally:
        if daemons:
            _slurm("scancel", "--user", str(os.geteuid()), check=False)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done = _slurm("squeue", "-h", check=False)
                if done.returncode != 0 or not done.stdout.strip():
                    break
                time.sleep(0.5)
        for proc in reversed(daemons):
            proc.send_signal(signal.SIGTERM)
        for proc in daemons:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous


# ---------------------------------------------------------------------------- the shard


def _options_to_json(options: Options) -> dict[str, Any]:
    data = asdict(options)
    data["students"] = None
    return data


def _options_from_json(data: dict[str, Any]) -> Options:
    from autograder.sandbox.settings import SandboxSettings

    known = {f.name for f in dataclasses.fields(Options)}
    values = {k: v for k, v in data.items() if k in known}
    setting_names = {f.name for f in dataclasses.fields(SandboxSettings)}
    settings = {k: v for k, v in (values.get("settings") or {}).items() if k in setting_names}
    values["settings"] = SandboxSettings(**settings)
    return Options(**values)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _export_gradebook(course: Path, lab: str, student: str) -> dict[str, Any]:
    """One student's submission in the shard's scratch gradebook, as JSON: what
    ``merge_submission`` copies (per cell: the scores and comments)."""
    from autograder.gradebook import COMMENT_FIELDS, GRADE_FIELDS

    with open_gradebook(course) as sgb:
        sub = sgb.find_submission(lab, student)
        extension = sub.extension
        return {
            "timestamp": sub.timestamp.isoformat() if sub.timestamp else None,
            "extension": extension.total_seconds() if extension is not None else None,
            "notebooks": [
                {
                    "name": nb.name,
                    "flagged": nb.flagged,
                    "late_submission_penalty": nb.late_submission_penalty,
                    "grades": [
                        {"name": g.name, **{k: getattr(g, k) for k in GRADE_FIELDS}}
                        for g in nb.grades
                    ],
                    "comments": [
                        {"name": c.name, **{k: getattr(c, k) for k in COMMENT_FIELDS}}
                        for c in nb.comments
                    ],
                }
                for nb in sub.notebooks
            ],
        }


class _ExportedGradebook:
    """The exported submission, shaped like the nbgrader gradebook ``merge_submission`` reads
    from (``find_submission(lab, student)``), so the parent merges through the same code."""

    def __init__(self, data: dict[str, Any]) -> None:
        stamp = data.get("timestamp")
        ext = data.get("extension")
        self.submission = SimpleNamespace(
            timestamp=dt.datetime.fromisoformat(stamp) if stamp else None,
            extension=dt.timedelta(seconds=ext) if ext is not None else None,
            notebooks=[
                SimpleNamespace(
                    name=nb["name"],
                    flagged=nb["flagged"],
                    late_submission_penalty=nb["late_submission_penalty"],
                    grades=[SimpleNamespace(**g) for g in nb["grades"]],
                    comments=[SimpleNamespace(**c) for c in nb["comments"]],
                )
                for nb in data["notebooks"]
            ],
        )

    def find_submission(self, lab: str, student: str) -> Any:
        return self.submission


def run_shard(manifest_path: Path, index: int) -> int:
    """Grade shard ``index`` of the manifest on this node; write each result as it is merged
    into the shard's scratch gradebook. Returns 0 when every result is written."""
    from autograder.sandbox.launcher import sandbox_status

    manifest = json.loads(manifest_path.read_text())
    run = manifest_path.parent
    lab, root = manifest["lab"], Path(manifest["root"])
    entries = manifest["shards"][index]
    digests = {e["student"]: e["digest"] for e in entries}
    options = _options_from_json(manifest["options"])
    cpus = int(os.environ.get("SLURM_CPUS_PER_TASK") or 0) or usable_cores()
    options.jobs = options.jobs or cpus
    options.settings.threads = max(1, cpus // options.jobs)
    options.students = list(digests)
    options.force = True
    options.progress = False
    results = run / "results"
    host = socket.gethostname()
    print(
        f"shard {index} of {manifest['lab']} on {host}: {len(entries)} submission(s), "
        f"JOBS={options.jobs}",
        flush=True,
    )
    sandboxed, description = sandbox_status(options.settings)
    local = Path(tempfile.mkdtemp(prefix=f"lapenna-shard-{lab}-{index}-"))
    course = local / "course"
    written: set[str] = set()

    def export(grade: Grade) -> None:
        if grade.student not in digests or grade.student in written:
            return
        gradebook = None
        files: dict[str, str] = {}
        if grade.status == "graded":
            gradebook = _export_gradebook(course, lab, grade.student)
            folder = course / "autograded" / grade.student / lab
            for path in sorted(folder.iterdir()) if folder.is_dir() else []:
                if path.is_file() and not path.is_symlink() and path.suffix in (".ipynb", ".txt"):
                    files[path.name] = path.read_text(encoding="utf-8", errors="replace")
        result = {
            "version": MANIFEST_VERSION,
            "shard": index,
            "student": grade.student,
            "digest": digests[grade.student],
            "grade": asdict(grade),
            "gradebook": gradebook,
            "files": files,
            "node": host,
            "sandboxed": sandboxed,
            "sandbox": description,
        }
        _write_atomic(results / f"{grade.student}.json", json.dumps(result))
        written.add(grade.student)
        print(f"{grade.student}: {grade.status} {grade.score:g}/{grade.max_score:g}", flush=True)

    original = Ledger.record

    def record(self: Ledger, grade: Grade, digest: str) -> None:
        original(self, grade, digest)
        if self.path.parent == course:  # a grade merged into this shard's scratch gradebook
            export(grade)

    try:
        copy_course(root, course, [lab])
        for student in digests:
            src = root / "submitted" / student / lab
            if src.is_dir():
                shutil.copytree(src, course / "submitted" / student / lab, symlinks=True)
            else:  # vanished since the manifest: graded as what is there now (nothing)
                (course / "submitted" / student / lab).mkdir(parents=True)
        snapshot = run / "gradebook.db"  # the master, registered (saves a generate_assignment)
        if snapshot.exists():
            shutil.copyfile(snapshot, course / "gradebook.db")
        else:
            run_nbgrader(
                course, "generate_assignment", lab, "--force", log_level="ERROR", capture=True
            )
        Ledger.record = record  # type: ignore[method-assign]
        grades = grade_shard_locally(course, lab, options)
        for grade in grades:  # anything the hook did not see
            export(grade)
    finally:
        Ledger.record = original  # type: ignore[method-assign]
        if os.environ.get("LAPENNA_KEEP_SCRATCH") is None:
            shutil.rmtree(local, ignore_errors=True)
    missing = sorted(set(digests) - written)
    if missing:
        print(f"shard {index}: no result for {', '.join(missing)}", flush=True)
        return 1
    return 0


# ---------------------------------------------------------------------------- the parent


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sub", disable=not enabled, file=sys.stderr)


class _Merger:
    """The parent's one writer: each result file into the gradebook, the autograded
    notebook, the ledger and the log, once per student."""

    def __init__(self, root: Path, lab: str, gb: Any, ledger: Ledger, bar: Any) -> None:
        self.root, self.lab, self.gb, self.ledger, self.bar = root, lab, gb, ledger, bar
        self.log_path = root / f"grading_{lab}.log"
        self.results: dict[str, Grade] = {}
        self.sandboxed: list[bool] = []

    def merge_dir(self, results: Path, wanted: dict[str, str]) -> None:
        """Merge every whole result in ``results`` whose student and hash are in ``wanted``;
        delete the result files (merged, stale or duplicate)."""
        if not results.is_dir():
            return
        for path in sorted(results.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError):
                continue  # not ours to judge yet (a partial copy on a slow filesystem)
            student = data.get("student")
            if student in wanted and data.get("digest") == wanted[student]:
                if student not in self.results:
                    self.merge(data)
            path.unlink(missing_ok=True)

    def merge(self, data: dict[str, Any]) -> None:
        lab, student = self.lab, data["student"]
        fields = {f.name for f in dataclasses.fields(Grade)}
        grade = Grade(**{k: v for k, v in data["grade"].items() if k in fields})
        source = _ExportedGradebook(data["gradebook"]) if data.get("gradebook") else None
        score = merge_submission(self.gb, source, lab, student)
        grade = dataclasses.replace(grade, score=score)
        target = self.root / "autograded" / student / lab
        shutil.rmtree(target, ignore_errors=True)
        if source is not None and data.get("files"):
            target.mkdir(parents=True)
            for name, text in data["files"].items():
                if "/" not in name and not name.startswith("."):
                    (target / name).write_text(text, encoding="utf-8")
        self.ledger.record(grade, data["digest"])
        self.results[student] = grade
        self.sandboxed.append(bool(data.get("sandboxed")))
        line = (
            f"{time.strftime('%Y-%m-%d %H:%M:%S')} {lab} {student} {grade.status} "
            f"{grade.score:g}/{grade.max_score:g} {grade.seconds:.1f}s"
            + (f" | {grade.reason}" if grade.reason else "")
        )
        with self.log_path.open("a") as handle:
            handle.write(line + "\n")
        if grade.status != "graded":
            self.bar.write(f"{student}: {grade.status}: {grade.reason}")
        self.bar.update(1)


def _earlier_runs(base: Path, lab: str, merger: _Merger, wanted: dict[str, str]) -> None:
    """Cancel what an earlier run of ``lab`` left queued, merge its results that are still
    current, delete it."""
    for run in sorted(base.glob(f"{lab}-*")):
        if not (run / "manifest.json").exists():
            continue
        try:
            arrays = [a["job"] for a in json.loads((run / "jobs.json").read_text())]
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            arrays = []
        if queued_tasks(arrays):
            print(
                f"grade: cancelling the jobs an earlier run left: {', '.join(arrays)}",
                file=sys.stderr,
            )
            cancel(arrays)
            deadline = time.monotonic() + 60
            while queued_tasks(arrays) and time.monotonic() < deadline:
                time.sleep(1)
        merger.merge_dir(run / "results", wanted)
        if os.environ.get("LAPENNA_KEEP_SCRATCH") is None:
            shutil.rmtree(run, ignore_errors=True)


def grade_all(
    root: Path,
    lab: str,
    options: Options | None = None,
    slurm: SlurmOptions | None = None,
) -> list[Grade]:
    """Grade every submission of ``lab`` under ``root`` on SLURM (see the module docstring);
    the same result as ``scheduling.grade_all``. Raises :class:`ShardsFailed` when a shard
    ends without all its results (after merging everything the others wrote)."""
    options = options or Options()
    slurm = slurm or SlurmOptions()
    problem = slurm_problem()
    if problem:
        raise SystemExit(f"grade: --executor slurm: {problem}")
    root = root.resolve()
    os.environ["PATH"] = nbgrader_env()["PATH"]
    jobs = options.jobs or usable_cores()
    students = options.students or course_students(root, lab)
    ledger = Ledger.of(root, lab)
    context = grading_context(root, lab, options)
    base = (slurm.run_dir or root / ".slurm").resolve()
    started = time.monotonic()
    gb = open_gradebook(root)
    bar = None
    arrays: list[str] = []
    shard_count = 0
    try:
        gb.find_assignment(lab)  # the master must be registered (generate_assignment)
        digests = {s: submission_hash(root / "submitted" / s / lab, context) for s in students}
        skipped: dict[str, Grade] = {}
        for student, digest in digests.items():
            recorded = None if options.force else ledger.unchanged(student, lab, digest)
            if recorded is not None and _has_submission(gb, lab, student):
                skipped[student] = recorded
        todo = [s for s in students if s not in skipped]
        bar = _progress(len(todo), options.progress, f"grading {lab} on SLURM")
        merger = _Merger(root, lab, gb, ledger, bar)
        _earlier_runs(base, lab, merger, {s: digests[s] for s in todo})
        todo = [s for s in todo if s not in merger.results]
        failures: list[ShardFailure] = []
        if todo:
            shards = split_shards(todo, slurm.shards or auto_shards(len(todo), jobs))
            shard_count = len(shards)
            run = base / f"{lab}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            for sub in ("results", "logs", "exit"):
                (run / sub).mkdir(parents=True, exist_ok=True)
            manifest = {
                "version": MANIFEST_VERSION,
                "lab": lab,
                "root": str(root),
                "repo": str(REPO),
                "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                "options": {**_options_to_json(options), "jobs": jobs},
                "shards": [[{"student": s, "digest": digests[s]} for s in p] for p in shards],
            }
            _write_atomic(run / "manifest.json", json.dumps(manifest, indent=1))
            _snapshot(root / "gradebook.db", run / "gradebook.db")
            script = run / "shard.sbatch"
            script.write_text(sbatch_script(run, lab, jobs, slurm))
            bar.set_description(f"grading {lab} on SLURM ({len(shards)} shards, JOBS={jobs})")
            arrays = _submit(run, script, len(shards), slurm)
            failures = _watch(run, shards, arrays, merger, digests, slurm)
        if bar is not None:
            bar.close()
    except KeyboardInterrupt:
        cancel(arrays)
        print(
            "\ninterrupted: the shards are cancelled; every grade merged so far is recorded, "
            "and the same command again grades the rest.",
            file=sys.stderr,
        )
        raise
    finally:
        gb.close()
    graded_now = len(merger.results)
    if graded_now:
        # JOBS of a SLURM run: every worker of every shard.
        ledger.record_run(
            jobs * max(1, shard_count),
            graded_now,
            time.monotonic() - started,
            bool(merger.sandboxed) and all(merger.sandboxed),
        )
        ledger.data["runs"][-1].update(executor="slurm", shards=shard_count, jobs_per_shard=jobs)
        ledger.save()
    results = {**skipped, **merger.results}
    grades = [results[s] for s in students if s in results]
    if failures:
        raise ShardsFailed(failures, grades)
    return grades


def _snapshot(source: Path, dest: Path) -> None:
    """A consistent copy of an SQLite database (the gradebook, with the master registered)."""
    import sqlite3

    src, dst = sqlite3.connect(source), sqlite3.connect(dest)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _submit(run: Path, script: Path, shards: int, slurm: SlurmOptions) -> list[str]:
    """``sbatch`` the shards as one array, or several when above ``MaxArraySize``; write
    ``<run>/jobs.json`` (array job id and first shard of each)."""
    submitted: list[dict[str, Any]] = []
    for offset, count in array_chunks(shards, max_array_size()):
        spec = f"0-{count - 1}" + (f"%{slurm.max_running}" if slurm.max_running else "")
        cmd = ["sbatch", "--parsable", f"--array={spec}"]
        cmd.append(f"--export=ALL,LAPENNA_SHARD_OFFSET={offset}")
        if submitted and slurm.max_running:  # the cap holds for the class, not per array
            cmd.append(f"--dependency=afterany:{submitted[-1]['job']}")
        done = _slurm(*cmd, str(script))
        job = done.stdout.strip().split(";")[0]
        submitted.append({"job": job, "offset": offset, "count": count})
        _write_atomic(run / "jobs.json", json.dumps(submitted, indent=1))
    return [s["job"] for s in submitted]


def _watch(
    run: Path,
    shards: list[list[str]],
    arrays: list[str],
    merger: _Merger,
    digests: dict[str, str],
    slurm: SlurmOptions,
) -> list[ShardFailure]:
    """Merge results as they arrive until every shard has ended; the shards that failed."""
    submitted = json.loads((run / "jobs.json").read_text())
    task_of = {}
    for array in submitted:
        for task in range(array["count"]):
            task_of[array["offset"] + task] = (array["job"], task)
    wanted = {s: digests[s] for shard in shards for s in shard}
    ended: dict[int, dict[str, Any] | None] = {}
    unseen: dict[int, int] = {}
    queued: dict[tuple[str, int], str] = {}
    asked = -math.inf
    while len(ended) < len(shards):
        merger.merge_dir(run / "results", wanted)
        ask = time.monotonic() - asked >= slurm.queue_seconds
        if ask:
            queued, asked = queued_tasks(arrays), time.monotonic()
        for i in range(len(shards)):
            if i in ended:
                continue
            exit_file = run / "exit" / f"shard-{i}"
            if exit_file.exists():
                try:
                    ended[i] = json.loads(exit_file.read_text())
                except (OSError, json.JSONDecodeError):
                    ended[i] = {"exit": "unreadable"}
            elif ask and task_of[i] not in queued:
                unseen[i] = unseen.get(i, 0) + 1
                if unseen[i] >= 2:  # gone from the queue twice, and no exit file: killed
                    ended[i] = None
            elif ask:
                unseen.pop(i, None)
        if len(ended) < len(shards):
            time.sleep(slurm.poll_seconds)
    merger.merge_dir(run / "results", wanted)
    failures = []
    for i, shard in enumerate(shards):
        missing = [s for s in shard if s not in merger.results]
        if not missing:
            continue
        job = f"{task_of[i][0]}_{task_of[i][1]}"
        end = ended.get(i)
        log = run / "logs" / f"shard-{i}.log"
        if not log.exists():
            log = run / "logs" / f"slurm-{job}.out"
        failure = ShardFailure(
            i, job, job_state(job), str(end["exit"]) if end else "none", log, missing
        )
        merger.bar.write(f"FAILED: {failure}")
        failures.append(failure)
    return failures


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.slurm shard MANIFEST INDEX``: what each array task runs."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3 or args[0] != "shard":
        print("usage: python -m autograder.slurm shard MANIFEST INDEX", file=sys.stderr)
        return 2
    return run_shard(Path(args[1]), int(args[2]))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
