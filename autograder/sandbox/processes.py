"""Sandbox users and process lifetime: who student code runs as, and how its processes end.

When the grader runs as root, each worker slot claims a uid of its own (:func:`claim_uid`), so
a sandbox's process limit counts only its own processes and :func:`kill_user_processes` can end
every process a submission left behind without touching anything else. Every process the
grader starts is also tied to it with a parent-death signal (:func:`parent_death_prefix`), so
even a ``kill -9`` of the grader leaves no worker or kernel running.

This module imports the standard library only: the launcher runs it under ``python -I -S``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from functools import cache
from pathlib import Path

UID_LOCKS = Path(tempfile.gettempdir()) / "lapenna-sandbox-uids"


def claim_uid(base: int, span: int = 1000) -> tuple[int, int]:
    """A sandbox uid no other grader on this machine is using: (uid, fd of its held lock).

    Each uid from ``base`` up has a lock file; the first one whose ``flock`` is free is
    ours until the fd is closed or this process (and the workers it forked) ends, so two
    graders at once never share a uid (its process limit, or the clean-up that kills every
    process of it)."""
    import fcntl

    UID_LOCKS.mkdir(mode=0o755, exist_ok=True)
    for uid in range(base, base + span):
        fd = os.open(UID_LOCKS / f"{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return uid, fd
    raise RuntimeError(f"no free sandbox uid in {base}..{base + span - 1}")


def processes_of(uid: int) -> list[int]:
    """The pids of every process owned by ``uid`` (from ``/proc``)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                continue  # it ended while we looked
    return pids


def thread_count(uid: int) -> int:
    """Processes plus threads of ``uid``: what ``RLIMIT_NPROC`` counts."""
    count = 0
    for pid in processes_of(uid):
        try:
            count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return count


def kill_user_processes(uid: int, timeout: float = 15.0) -> int:
    """SIGKILL every process of ``uid`` (a sandbox user: nothing else runs as it) until none
    is left; return how many there were."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = processes_of(uid)
        if not pids:
            break
        seen.update(pids)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)
    return len(seen)


@cache
def parent_death_prefix() -> list[str]:
    """A command prefix that makes the command die (SIGKILL) when the process that started it
    dies, even by ``kill -9`` (util-linux ``setpriv``; in the sandbox it must come after the
    uid change, which clears the setting). Empty where ``setpriv`` cannot do it."""
    exe = shutil.which("setpriv")
    if exe is None:
        return []
    probe = subprocess.run([exe, "--pdeathsig", "KILL", "true"], capture_output=True)
    return [exe, "--pdeathsig", "KILL"] if probe.returncode == 0 else []
