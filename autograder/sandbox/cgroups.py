"""Control groups: one memory limit and one process limit for all the processes of a submission.

``setrlimit`` (``launcher.py``) limits each process on its own: a submission that forks 100
children may use 100 times ``RLIMIT_AS``. Where the machine lets the grader create control
groups, each submission gets one (:func:`create`), the sandbox's launcher moves itself into it
before it starts bubblewrap and the kernel (:func:`enter`; everything they fork inherits it),
and the grader removes it when the submission is done (:func:`destroy`), killing what is left
in it. The group's limits hold for the submission as a whole:

* **cgroup v2**: ``memory.max`` (and ``memory.swap.max`` = 0) and ``pids.max``, in a child of
  the grader's own group, if that group delegates the ``memory`` and ``pids`` controllers;
* **cgroup v1**: ``memory.limit_in_bytes`` (and ``memory.memsw.limit_in_bytes``, so swap does
  not count as room) in the memory hierarchy, ``pids.max`` in the pids hierarchy, each group a
  child of the grader's own group there (so a limit on the grader, e.g. a SLURM job's cgroup,
  still applies on top).

Without writable control groups (not root, no delegation, no controllers mounted) only the
per-process limits apply; :func:`limits_kind` says which kind applies here (``"cgroup v2"``,
``"cgroup v1"`` or ``"rlimit"``) and the grader's banner says it too.

A group is named ``lapenna-<grader pid>-<n>``: :func:`remove_abandoned` deletes the groups of
graders that died (``kill -9``), as the grader deletes their scratch folders.

The standard library only: the launcher imports this module under ``python -I -S``.
"""

from __future__ import annotations

import os
import re
import signal
import time
from functools import cache
from pathlib import Path

PREFIX = "lapenna-"
V1, V2, RLIMIT = "cgroup v1", "cgroup v2", "rlimit"
_NAME = re.compile(r"^lapenna-(\d+)-")


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root within the hierarchy, fs type, options) of each cgroup mount."""
    out = []
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        options = set(rest[2].split(",")) | set(fields[5].split(",") if len(fields) > 5 else [])
        out.append((fields[4], fields[3], rest[0], options))
    return out


def _own_paths() -> dict[str, str]:
    """This process's group per v1 controller, and under ``""`` its v2 group."""
    out: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") if parts[1] else [""]:
                out[controller] = parts[2]
    return out


def _base(mount: str, root: str, own: str) -> Path:
    """The directory of this process's own group in a hierarchy mounted at ``mount``."""
    relative = os.path.relpath(own, root) if own.startswith(root) else "."
    base = Path(mount, relative) if relative != "." else Path(mount)
    return base if base.is_dir() else Path(mount)


def _writable(base: Path) -> bool:
    probe = base / f"{PREFIX}{os.getpid()}-probe"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        probe.rmdir()
    except OSError:
        pass
    return True


@cache
def hierarchies() -> tuple[str, dict[str, Path]]:
    """(kind, {controller: the directory new groups go in}) on this machine.

    ``kind`` is :data:`V2` (one directory, under ``""``), :data:`V1` (one per controller,
    ``"memory"`` and ``"pids"``) or :data:`RLIMIT` (none: no writable control groups with both
    controllers)."""
    mounts, own = _mounts(), _own_paths()
    for mount, root, fstype, _ in mounts:
        if fstype != "cgroup2":
            continue
        base = _base(mount, root, own.get("", "/"))
        try:
            enabled = set((base / "cgroup.subtree_control").read_text().split())
            if not {"memory", "pids"} <= enabled:
                available = set((base / "cgroup.controllers").read_text().split())
                if not {"memory", "pids"} <= available:
                    continue
                (base / "cgroup.subtree_control").write_text("+memory +pids")
        except OSError:
            continue
        if _writable(base):
            return V2, {"": base}
    found: dict[str, Path] = {}
    for mount, root, fstype, options in mounts:
        if fstype != "cgroup":
            continue
        for controller in ("memory", "pids"):
            if controller in options and controller not in found:
                base = _base(mount, root, own.get(controller, "/"))
                if _writable(base):
                    found[controller] = base
    if set(found) == {"memory", "pids"}:
        return V1, found
    return RLIMIT, {}


def limits_kind() -> str:
    """``"cgroup v2"``, ``"cgroup v1"`` or ``"rlimit"``: what holds a submission here."""
    return hierarchies()[0]


_counter = 0


def create(memory_bytes: int, max_processes: int, tag: str = "") -> list[str]:
    """A new group for one submission, with its limits set: the directories to :func:`enter`
    (one for v2, two for v1); empty where control groups are not available.

    Parameters
    ----------
    memory_bytes : int
        Memory of all its processes together (resident memory and page cache; swap included
        where the kernel accounts it).
    max_processes : int
        Processes and threads of all its processes together (``pids.max``).
    tag : str
        Part of the group's name (e.g. the worker slot), after ``lapenna-<grader pid>-``.
    """
    global _counter
    kind, bases = hierarchies()
    if kind == RLIMIT:
        return []
    _counter += 1
    name = f"{PREFIX}{os.getpid()}-{tag}{'-' if tag else ''}{_counter}"
    made: list[str] = []
    try:
        for controller, base in bases.items():
            path = base / name
            path.mkdir()
            made.append(str(path))
            if controller in ("", "memory"):
                if kind == V2:
                    (path / "memory.max").write_text(str(memory_bytes))
                    if (path / "memory.swap.max").exists():
                        (path / "memory.swap.max").write_text("0")
                else:
                    (path / "memory.limit_in_bytes").write_text(str(memory_bytes))
                    if (path / "memory.memsw.limit_in_bytes").exists():
                        (path / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
            if controller in ("", "pids"):
                (path / "pids.max").write_text(str(max_processes))
    except OSError:
        destroy(made)
        raise
    return made


def enter(paths: list[str], pid: int = 0) -> None:
    """Move process ``pid`` (0: this one) into the group; its children are born there."""
    for path in paths:
        Path(path, "cgroup.procs").write_text(str(pid or os.getpid()))


def members(paths: list[str]) -> list[int]:
    """The pids in the group (in any of its directories)."""
    pids: set[int] = set()
    for path in paths:
        try:
            pids.update(int(p) for p in Path(path, "cgroup.procs").read_text().split())
        except (OSError, ValueError):
            continue
    return sorted(pids)


def kill(paths: list[str], timeout: float = 10.0) -> int:
    """SIGKILL every process in the group until none is left (the group stays); how many."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [pid for pid in members(paths) if pid != os.getpid()]
        if not pids:
            break
        seen.update(pids)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    return len(seen)


def destroy(paths: list[str], timeout: float = 10.0) -> bool:
    """Kill every process left in the group and remove it; True if it is gone."""
    deadline = time.monotonic() + timeout
    remaining = [p for p in paths if os.path.isdir(p)]
    while remaining:
        for pid in members(remaining):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for path in list(remaining):
            try:
                os.rmdir(path)
                remaining.remove(path)
            except FileNotFoundError:
                remaining.remove(path)
            except OSError:
                pass  # busy: a process is still dying
        if remaining:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned() -> int:
    """Remove the groups whose grader has died (and what still runs in them); how many."""
    kind, bases = hierarchies()
    removed = 0
    for base in bases.values():
        try:
            children = list(base.iterdir())
        except OSError:
            continue
        for child in children:
            match = _NAME.match(child.name)
            if match and child.is_dir() and not _alive(int(match.group(1))):
                removed += destroy([str(child)], timeout=5)
    return removed
