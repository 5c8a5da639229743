"""The reaper: end every other process of the sandbox, run *inside* the kernel.

After a cell that failed or timed out, the guard (``guard.py``) runs :func:`reap` in the kernel,
the same way as the fingerprint (this file's source text and a call, ``guard.kernel_call``): a
fork bomb's children keep running after the kernel is interrupted, and would use up the process
limit of the cells that follow.

In the sandbox the kernel has a PID namespace of its own, so every process it sees other than
bubblewrap's init (pid 1) and itself belongs to the submission. Without the sandbox only the
kernel's own descendants are ended. The standard library only.
"""

from __future__ import annotations

import os
import signal


def _parent(pid: int) -> int:
    """The parent pid of ``pid`` (-1 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _in_sandbox() -> bool:
    """True if pid 1 is bubblewrap, i.e. this process is in the sandbox's PID namespace."""
    try:
        with open("/proc/1/cmdline", "rb") as handle:
            return handle.read().startswith(b"bwrap")
    except OSError:
        return False


def descendants(pid: int, pids: list[int]) -> list[int]:
    """Those of ``pids`` that descend from ``pid``."""
    mine, changed = {pid}, True
    while changed:
        changed = False
        for other in pids:
            if other not in mine and _parent(other) in mine:
                mine.add(other)
                changed = True
    return [other for other in pids if other in mine and other != pid]


def reap() -> int:
    """SIGKILL every other process of the sandbox (outside one: every descendant of this
    process); return how many there were."""
    me = os.getpid()
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
    if not _in_sandbox():  # no PID namespace: only our own descendants
        pids = descendants(me, pids)
    for _ in range(3):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    return len(pids)
