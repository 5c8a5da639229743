"""Limits across processes (``autograder/sandbox/cgroups.py``), on the machine's real control
groups: a submission that forks is held to one memory limit and one process limit as a whole,
the limits per process (``setrlimit``) are not, and the groups are removed afterwards.

Skipped, saying why, where no control groups are writable (not root, no delegation).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.sandbox import cgroups, launcher  # noqa: E402
from autograder.sandbox.settings import MiB, SandboxSettings  # noqa: E402

pytestmark = [
    pytest.mark.grading,
    pytest.mark.skipif(
        cgroups.limits_kind() == cgroups.RLIMIT,
        reason="no writable control groups here (needs root, or a delegated cgroup v2 subtree "
        "with memory and pids, or the v1 memory and pids hierarchies mounted read-write)",
    ),
]

# Four children, each allocating (and touching) 150 MB, all alive at once; the parent exits 0
# only if all four did it.
FORKING_ALLOCATOR = textwrap.dedent(
    """
    import os, sys, time
    n, size = 4, 150 * 1024 * 1024
    reads = []
    children = []
    for _ in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                block = b"x" * size  # every page written
            except MemoryError:
                os._exit(3)
            os.write(w, b"1")
            time.sleep(3)  # hold it while the others allocate
            os._exit(0 if len(block) == size else 4)
        os.close(w)
        reads.append(r)
        children.append(pid)
    statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    print(statuses)
    sys.exit(0 if statuses == [0] * n else 1)
    """
)

FORK_BOMB = textwrap.dedent(
    """
    import os, time
    count = 0
    try:
        while count < 500:
            if os.fork() == 0:
                time.sleep(60)
                os._exit(0)
            count += 1
    except BlockingIOError:
        pass
    print(count, flush=True)
    time.sleep(60)
    """
)


def _run_in(group: list[str], code: str, **kw) -> subprocess.Popen:
    """``python -c code`` born in ``group`` (moved in before exec, as the launcher does)."""
    return subprocess.Popen(
        [sys.executable, "-c", code],
        preexec_fn=lambda: cgroups.enter(group),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kw,
    )


def _rlimit_as(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def test_forking_allocator_is_held_to_the_group_limit_as_a_whole():
    group = cgroups.create(300 * MiB, 64, "test")
    assert group and all(Path(p).is_dir() for p in group)
    try:
        proc = _run_in(group, FORKING_ALLOCATOR)
        out, _ = proc.communicate(timeout=60)
        # 4 x 150 MB does not fit in 300 MB for all of them together: a child is OOM-killed
        # (SIGKILL) or its allocation fails.
        assert proc.returncode != 0, out
        if proc.returncode == 1:  # the parent survived and saw its children's statuses
            statuses = [int(x) for x in out.strip().splitlines()[-1].strip("[]").split(",")]
            assert set(statuses) & {-signal.SIGKILL, 3}, out
        else:
            assert proc.returncode == -signal.SIGKILL, out
    finally:
        assert cgroups.destroy(group)
    assert not any(Path(p).exists() for p in group)


def test_the_same_allocator_passes_under_per_process_limits_of_that_size():
    # The control: RLIMIT_AS of 300 MB per process lets each 150 MB child through.
    proc = subprocess.run(
        [sys.executable, "-c", FORKING_ALLOCATOR],
        preexec_fn=_rlimit_as(300 * MiB),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fork_bomb_stops_at_pids_max_and_the_group_is_removed():
    limit = 20
    group = cgroups.create(512 * MiB, limit, "test")
    try:
        proc = _run_in(group, FORK_BOMB)
        line = proc.stdout.readline()
        forked = int(line)
        # The bomb itself counts as one of the group's processes.
        assert forked == limit - 1, line
        assert len(cgroups.members(group)) == limit
    finally:
        assert cgroups.destroy(group)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert not any(Path(p).exists() for p in group)


def test_groups_of_a_dead_grader_are_removed_with_what_runs_in_them():
    dead = subprocess.Popen(["true"])
    dead.wait()
    _, bases = cgroups.hierarchies()
    group = []
    for base in bases.values():
        path = base / f"{cgroups.PREFIX}{dead.pid}-s0-1"
        path.mkdir()
        group.append(str(path))
    sleeper = _run_in(group, "import time; time.sleep(60)")
    try:
        time.sleep(0.2)
        assert sleeper.pid in cgroups.members(group)
        mine = cgroups.create(64 * MiB, 8, "alive")  # a live grader's group (ours) stays
        assert cgroups.remove_abandoned() >= 1
        assert not any(Path(p).exists() for p in group)
        assert all(Path(p).exists() for p in mine)
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
    finally:
        sleeper.kill()
        cgroups.destroy(group)
        cgroups.destroy(mine)


def test_launcher_puts_the_kernel_in_the_submission_group(tmp_path):
    # What the grader does per submission: a group, its paths in the settings, the launcher.
    settings = SandboxSettings(use_bwrap=False, max_processes=16)
    group = cgroups.create(settings.group_memory, launcher.group_processes(settings), "test")
    settings.cgroup = group
    for name in ("work", "run", "home"):
        (tmp_path / name).mkdir()
    spec = tmp_path / "spec.json"
    launcher.write_spec(
        str(spec),
        settings,
        str(tmp_path / "work"),
        str(tmp_path / "run"),
        str(tmp_path / "home"),
        use_bwrap=False,
    )
    kernel = [sys.executable, "-c", "print(open('/proc/self/cgroup').read())"]
    try:
        out = subprocess.run(
            launcher.launcher_command(str(spec), kernel),
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        names = {Path(p).name for p in group}
        assert any(name in out.stdout for name in names), out.stdout + out.stderr
    finally:
        assert cgroups.destroy(group)
    status = launcher.sandbox_status(settings)[1]
    assert cgroups.limits_kind() in status


def test_sandbox_status_says_rlimit_when_groups_are_off():
    settings = SandboxSettings(use_cgroups=False)
    assert launcher.limits_kind(settings) == cgroups.RLIMIT
    assert "per process only" in launcher.sandbox_status(settings)[1]
