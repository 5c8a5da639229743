"""A class full of hostile and broken submissions, graded by the real nbgrader through the
parallel sandboxed grader (``autograder/scheduling.py``), plus: the same scores as nbgrader's
serial ``autograde``, idempotent re-runs, and a run killed mid-way that loses nothing.

The assignment and the submissions are built in temporary folders by ``_grading_fixtures``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _grading_fixtures import (  # noqa: E402
    EXPECTED,
    LAB,
    make_course,
    nbgrader,
    solved,
    submit,
    write_all,
)

from autograder import intake, report, scheduling  # noqa: E402
from autograder.sandbox.launcher import bwrap_problem  # noqa: E402
from autograder.sandbox.processes import processes_of  # noqa: E402
from autograder.sandbox.settings import SandboxSettings  # noqa: E402

pytestmark = [
    pytest.mark.grading,
    pytest.mark.slow,
    pytest.mark.skipif(
        bwrap_problem() is not None,
        reason=f"the sandbox needs bubblewrap: {bwrap_problem()}",
    ),
]

# Sandbox uids of their own, so that a grader running beside the tests cannot be mistaken for
# a leftover of theirs (uids are claimed from uid_base up; see sandbox.processes.claim_uid).
SETTINGS = SandboxSettings(memory_bytes=1536 * 1024**2, cpu_seconds=120, uid_base=62000)


def options(**kwargs) -> scheduling.Options:
    base = dict(
        jobs=2,
        cell_timeout=5,
        notebook_timeout=90,
        submission_timeout=240,
        settings=SETTINGS,
        progress=False,
    )
    return scheduling.Options(**{**base, **kwargs})


def sandbox_processes() -> list[int]:
    """Processes still running as one of the sandbox users."""
    return [
        pid for uid in range(SETTINGS.uid_base, SETTINGS.uid_base + 16) for pid in processes_of(uid)
    ]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The whole hostile class graded once with JOBS=2."""
    course = make_course(tmp_path_factory.mktemp("hostile") / "course")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.settimeout(0.2)
    write_all(course, listener.getsockname()[1])
    alice = course / "submitted" / "alice_complete" / LAB / f"{LAB}.ipynb"
    alice_before = digest(alice)
    results = scheduling.grade_all(course, LAB, options())
    try:
        listener.accept()[0].close()
        host_contacted = True
    except OSError:
        host_contacted = False
    listener.close()
    report.write_csv(results, course / f"grades_{LAB}.csv")
    return {
        "course": course,
        "results": {r.student: r for r in results},
        "alice_unchanged": digest(alice) == alice_before,
        "host_contacted": host_contacted,
        "leftovers": sandbox_processes(),
    }


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_case_gets_its_exact_score_and_reason(graded, student):
    score, fragment = EXPECTED[student]
    result = graded["results"][student]
    assert (result.score, result.max_score) == (score, 4), result.reason
    assert fragment in result.reason
    if score == 4 and not fragment:
        assert result.reason == ""


def test_csv_and_log_give_every_reason(graded):
    course = graded["course"]
    with (course / f"grades_{LAB}.csv").open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(EXPECTED)
    log = (course / f"grading_{LAB}.log").read_text()
    for student, (score, fragment) in EXPECTED.items():
        assert float(rows[student]["score"]) == score
        assert fragment in rows[student]["reason"]
        assert f" {student} " in log and fragment in log


def test_the_class_is_unharmed(graded):
    course = graded["course"]
    assert graded["alice_unchanged"]
    assert not graded["host_contacted"]
    assert graded["leftovers"] == []  # fork bomb and all: nothing survives the run
    recorded, missing = report.verify_recorded(course, LAB, sorted(EXPECTED))
    assert (recorded, missing) == (len(EXPECTED), [])
    assert not list(course.glob("*.tmp"))


def test_summary_reports_faults_and_bad_inputs(graded):
    course = graded["course"]
    text = report.summary(course, LAB, list(graded["results"].values()))
    assert "submissions/minute at JOBS=2" in text
    for fault in ("kernel died", "timeout", "tampering", "huge output"):
        assert fault in text.split("faults survived:")[1].splitlines()[0]
    bad = text.split("bad inputs met:")[1].splitlines()[0]
    for kind in ("missing notebook", "empty file", "not valid JSON", "deleted cells"):
        assert kind in bad
    assert f"nothing lost: {len(EXPECTED)}/{len(EXPECTED)}" in text


def test_rerun_is_idempotent(graded):
    course = graded["course"]
    before = {s: r.score for s, r in graded["results"].items()}
    again = scheduling.grade_all(course, LAB, options())
    assert {r.student: r.status for r in again} == {s: "skipped" for s in EXPECTED}
    assert {r.student: r.score for r in again} == before
    assert report.verify_recorded(course, LAB, sorted(EXPECTED)) == (len(EXPECTED), [])


def _gradebook_scores(course: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    url = "sqlite:///" + str(course / "gradebook.db")
    with Gradebook(url, course_id="lapenna") as gb:
        out = {}
        for sub in gb.assignment_submissions(LAB):
            cells = {g.name: float(g.score) for nb in sub.notebooks for g in nb.grades}
            out[sub.student.id] = {"total": float(sub.score), **cells}
        return out


HONEST = {
    "complete": {},
    "wrong_mean": {"mean_sq": "def mean_sq(x):\n    return 0.0"},
    "raises": {"add": "def add(a, b):\n    raise ValueError('no')"},
    "calls_reference": {"my_relu": "def my_relu(z):\n    return activations.relu(z)"},
    "untouched": None,
}


def test_parallel_scores_equal_nbgrader_serial_autograde(tmp_path):
    serial = make_course(tmp_path / "serial")
    for student, answers in HONEST.items():
        if answers is None:
            submit(serial, student, intake.release_notebook(serial, LAB))
        else:
            submit(serial, student, solved(serial, **answers))
    concurrent = tmp_path / "parallel"
    shutil.copytree(serial, concurrent)
    done = nbgrader(serial, "autograde", LAB, "--force", "--Execute.timeout=5")
    assert done.returncode == 0, done.stderr
    results = scheduling.grade_all(concurrent, LAB, options())
    assert {r.status for r in results} == {"graded"}
    assert _gradebook_scores(concurrent) == _gradebook_scores(serial)
    assert _gradebook_scores(serial)["complete"]["total"] == 4


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_killed_run_loses_nothing_and_the_next_run_finishes(tmp_path, sig):
    course = make_course(tmp_path / "course")
    students = [f"student{i}" for i in range(5)]
    for i, student in enumerate(students):
        answers = {} if i % 2 == 0 else {"mean_sq": "def mean_sq(x):\n    return 0.0"}
        submit(course, student, solved(course, **answers))
    script = (
        # a shell's background job inherits SIGINT ignored; an instructor's terminal does not
        "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])\n"
        "from pathlib import Path\n"
        "from autograder import scheduling\n"
        "import test_hostile_submissions as t\n"
        "scheduling.grade_all(Path(sys.argv[3]), 'hw00', t.options(jobs=1))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(HERE.parent), str(HERE), str(course)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ledger = course / f".grading_{LAB}.json"
    deadline = time.monotonic() + 180
    recorded: dict = {}
    while time.monotonic() < deadline and proc.poll() is None:
        if ledger.exists():
            recorded = json.loads(ledger.read_text())["students"]
            if len(recorded) >= 2:
                break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(sig)  # SIGKILL: no clean-up at all, like a crash; SIGINT: Ctrl-C
    proc.wait(timeout=60)
    deadline = time.monotonic() + 20
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sandbox_processes() == []  # its workers and kernels died with it
    first = json.loads(ledger.read_text())["students"]
    assert 2 <= len(first) < len(students)
    recorded_ok, _ = report.verify_recorded(course, LAB, sorted(first))
    assert recorded_ok == len(first)  # every grade in the ledger is in the gradebook
    results = scheduling.grade_all(course, LAB, options())
    status = {r.student: r.status for r in results}
    assert all(status[s] == "skipped" for s in first)
    assert sum(1 for s in status.values() if s == "graded") == len(students) - len(first)
    assert report.verify_recorded(course, LAB, students) == (len(students), [])
    assert {r.student: r.score for r in results} == {
        s: 4.0 if i % 2 == 0 else 3.0 for i, s in enumerate(students)
    }
