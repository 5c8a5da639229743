"""The SLURM executor against a real single-node SLURM (``autograder/slurm.py``).

A session fixture writes a ``slurm.conf`` for one node at 127.0.0.1 into a temporary folder,
starts ``slurmctld -D`` and ``slurmd -D`` in the background (there is no systemd here), waits
until ``sinfo`` shows the node idle, and stops both by their process IDs at the end. The
cluster has ``MaxArraySize=1``, so a class of two shards needs two arrays. Without the SLURM
packages the tests skip, saying how to install them.

The class is a few of the demo submissions of lab01 (``autograder/demo/``), in a temporary
copy of the course, graded with ``JOBS=1`` per shard.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder import course, grade, report, slurm  # noqa: E402
from autograder.gradebook import open_gradebook  # noqa: E402
from autograder.sandbox.settings import SandboxSettings  # noqa: E402
from autograder.scheduling import Options  # noqa: E402

AUTOGRADER = REPO / "autograder"
LAB = "lab01"
EXPECTED = json.loads((AUTOGRADER / "demo" / "expected_scores.json").read_text())["scores"]
MAX_ARRAY_SIZE = 1  # one task per array: two shards need two arrays
CLASS = ("complete", "partly_wrong", "raises")


def _daemons_problem() -> str | None:
    problem = slurm.slurm_problem()
    if problem is None and not (shutil.which("slurmctld") and shutil.which("slurmd")):
        problem = f"{slurm.INSTALL_HINT} (slurmctld and slurmd are missing)"
    if problem is None and os.geteuid() != 0:
        problem = "starting slurmd needs root"
    return problem


pytestmark = [
    pytest.mark.grading,
    pytest.mark.slow,
    pytest.mark.skipif(_daemons_problem() is not None, reason=str(_daemons_problem())),
]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A running one-node SLURM (``slurm.local_cluster``: ``slurmctld -D`` and ``slurmd -D``
    started here, stopped by their PIDs at the end); ``SLURM_CONF`` points at it for this
    process and its jobs."""
    with slurm.local_cluster(tmp_path_factory.mktemp("slurm"), MAX_ARRAY_SIZE) as conf:
        yield conf


def make_class(dest: Path, students: dict[str, str]) -> Path:
    """A course with lab01's master, registered, and ``students``: name -> demo case."""
    root = course.copy_course(AUTOGRADER, dest, [LAB])
    for student, case in students.items():
        shutil.copytree(AUTOGRADER / "demo" / case, root / "submitted" / student)
    course.run_nbgrader(root, "generate_assignment", LAB, "--force", log_level="ERROR")
    return root


def options(**kwargs) -> Options:
    # Sandbox uids of their own (the hostile-submission tests use 62000 up).
    settings = SandboxSettings(memory_bytes=1536 * 1024**2, cpu_seconds=120, uid_base=63000)
    # lab01's imports cell needs more than 5 s on a loaded 2-core machine.
    return Options(**{"jobs": 1, "cell_timeout": 20, "settings": settings, **kwargs})


def gradebook_cells(root: Path) -> dict[str, dict[str, object]]:
    """Per student: the total and, per graded cell, nbgrader's scores and comment."""
    with open_gradebook(root) as gb:
        table: dict[str, dict[str, object]] = {}
        for sub in gb.assignment_submissions(LAB):
            cells: dict[str, object] = {"total": sub.score}
            for nb in sub.notebooks:
                for g in nb.grades:
                    cells[f"{nb.name}/{g.name}"] = (g.auto_score, g.manual_score, g.score)
                for c in nb.comments:
                    cells[f"{nb.name}/{c.name}:comment"] = c.auto_comment
            table[sub.student.id] = cells
    return table


def log_counts(root: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    path = root / f"grading_{LAB}.log"
    for line in path.read_text().splitlines() if path.exists() else []:
        student = line.split()[3]
        counts[student] = counts.get(student, 0) + 1
    return counts


def run_dirs(root: Path) -> list[Path]:
    return sorted((root / ".slurm").glob(f"{LAB}-*"))


@pytest.fixture(scope="module")
def local_and_slurm(cluster, tmp_path_factory):
    """The same class graded locally and on SLURM (two shards: two arrays), through
    ``grade.grade_lab`` as ``make grade`` runs it."""
    work = tmp_path_factory.mktemp("class")
    students = {s: s for s in CLASS}
    local = make_class(work / "local", students)
    cluster_course = work / "slurm"
    shutil.copytree(local, cluster_course)
    local_grades = grade.grade_lab(local, LAB, options(jobs=2))
    shards = slurm.SlurmOptions(shards=2, poll_seconds=0.3, queue_seconds=0.5)
    slurm_grades = grade.grade_lab(
        cluster_course, LAB, options(), executor="slurm", slurm_options=shards
    )
    return local, local_grades, cluster_course, slurm_grades


def test_slurm_and_local_grade_the_class_identically(local_and_slurm):
    local, local_grades, cluster_course, slurm_grades = local_and_slurm
    assert {g.student: g.score for g in local_grades} == {s: EXPECTED[s] for s in CLASS}
    assert gradebook_cells(cluster_course) == gradebook_cells(local)
    key = [(g.student, g.score, g.max_score, g.status, g.reasons) for g in local_grades]
    assert [(g.student, g.score, g.max_score, g.status, g.reasons) for g in slurm_grades] == key
    assert (cluster_course / f"grades_{LAB}.csv").read_text() == (
        local / f"grades_{LAB}.csv"
    ).read_text()
    for g in slurm_grades:  # the autograded notebook and the feedback came back
        assert (cluster_course / "autograded" / g.student / LAB / f"{LAB}.ipynb").exists()
        assert (cluster_course / "feedback" / g.student / LAB / f"{LAB}.html").exists()
    assert log_counts(cluster_course) == {g.student: 1 for g in slurm_grades}


def test_an_array_above_max_array_size_is_split(local_and_slurm):
    cluster_course = local_and_slurm[2]
    (run,) = run_dirs(cluster_course)
    arrays = json.loads((run / "jobs.json").read_text())
    assert [(a["offset"], a["count"]) for a in arrays] == [(0, 1), (1, 1)]
    assert len({a["job"] for a in arrays}) == 2
    assert sorted(p.name for p in (run / "exit").iterdir()) == [f"shard-{i}" for i in range(2)]
    script = (run / "shard.sbatch").read_text()
    assert "#SBATCH --cpus-per-task=1" in script


def test_a_cancelled_shard_loses_nothing_and_the_rerun_merges_each_once(cluster, tmp_path):
    # Shard 0: calls_reference, then raises (cancelled after its first result, while the
    # second is graded: a submission takes seconds); shard 1: the other two.
    cases = ["calls_reference", "raises", "complete", "partly_wrong"]
    students = {f"s{i}_{case}": case for i, case in enumerate(cases)}
    root = make_class(tmp_path / "course", students)
    names = list(students)
    ledger = root / f".grading_{LAB}.json"
    outcome: dict[str, BaseException] = {}

    def first_run() -> None:
        try:
            slurm.grade_all(
                root,
                LAB,
                options(),
                slurm.SlurmOptions(shards=2, poll_seconds=0.3, queue_seconds=0.5),
            )
        except BaseException as exc:  # handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=first_run)
    thread.start()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and thread.is_alive():
        recorded = json.loads(ledger.read_text())["students"] if ledger.exists() else {}
        if names[0] in recorded:
            break
        time.sleep(0.1)
    assert thread.is_alive(), f"the run ended before its shard could be cancelled: {outcome}"
    (run,) = run_dirs(root)
    array = json.loads((run / "jobs.json").read_text())[0]["job"]
    subprocess.run(["scancel", f"{array}_0"], check=True)
    thread.join(timeout=300)
    assert not thread.is_alive()
    failed = outcome.get("error")
    assert isinstance(failed, slurm.ShardsFailed), outcome
    (failure,) = failed.failures
    assert failure.shard == 0 and failure.state.startswith("CANCELLED")
    assert failure.missing == [names[1]]
    assert failure.log == run / "logs" / "shard-0.log" and failure.log.exists()
    assert (
        "shard 0" in str(failed) and "CANCELLED" in str(failed) and str(failure.log) in str(failed)
    )
    first = json.loads(ledger.read_text())["students"]
    assert sorted(first) == sorted(set(names) - {names[1]})  # shard 1 finished, shard 0 half
    assert report.verify_recorded(root, LAB, sorted(first)) == (3, [])
    before = gradebook_cells(root)

    again = slurm.grade_all(
        root, LAB, options(), slurm.SlurmOptions(shards=2, poll_seconds=0.3, queue_seconds=0.5)
    )
    status = {g.student: g.status for g in again}
    assert status == {s: "graded" if s == names[1] else "skipped" for s in names}
    assert {g.student: g.score for g in again} == {s: EXPECTED[c] for s, c in students.items()}
    assert report.verify_recorded(root, LAB, names) == (len(names), [])
    assert log_counts(root) == {s: 1 for s in names}  # each merged exactly once
    after = gradebook_cells(root)
    assert {s: after[s] for s in before} == before  # nothing merged before was touched
    (second_run,) = run_dirs(root)  # the first run's folder is gone, its jobs are not queued
    assert second_run != run


def test_a_failed_shard_is_reported_with_its_state_and_log(cluster, tmp_path):
    root = make_class(tmp_path / "course", {"complete": "complete"})
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'no Python on this node' >&2\nexit 3\n")
    broken.chmod(0o755)
    opts = slurm.SlurmOptions(shards=1, poll_seconds=0.3, queue_seconds=0.5, python=str(broken))
    with pytest.raises(slurm.ShardsFailed) as raised:
        slurm.grade_all(root, LAB, options(), opts)
    (failure,) = raised.value.failures
    assert failure.state.startswith("FAILED") and failure.exit == "3"
    assert failure.missing == ["complete"]
    assert "no Python on this node" in failure.log.read_text()
    assert raised.value.grades == []
    assert report.verify_recorded(root, LAB, ["complete"]) == (0, ["complete"])
    assert not (root / f".grading_{LAB}.json").exists() or "complete" not in json.loads(
        (root / f".grading_{LAB}.json").read_text()
    ).get("students", {})
