"""Every limit of the sandbox in one dataclass, and how it travels to the processes that apply it.

The grader (``autograder/scheduling.py``) builds one :class:`SandboxSettings` per worker slot and
puts it, as JSON, in the worker's environment (:data:`ENV_SETTINGS`). nbgrader, running in that
worker, creates the kernel manager (``kernel_manager.py``), which reads the settings back with
:meth:`SandboxSettings.from_env` and hands them to the launcher (``launcher.py``) in a spec
file; the guard (``guard.py``) reads the same settings for its output cap, restarts and checks.

This module imports the standard library only: the launcher runs it under ``python -I -S``.

Examples
--------
>>> settings = SandboxSettings(cpu_seconds=30, slot=2)
>>> SandboxSettings(**__import__("json").loads(settings.to_env())) == settings
True
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

ENV_SETTINGS = "LAPENNA_SANDBOX"  # JSON of SandboxSettings, set by the parallel grader
ENV_REQUIRE = "LAPENNA_REQUIRE_SANDBOX"  # "1": refuse to grade without bubblewrap
GiB = 1024**3
MiB = 1024**2


@dataclass
class SandboxSettings:
    """Every limit of the sandbox; each can be changed with ``autograder/grade.py`` options or
    in code (see the README's table of limits)."""

    cpu_seconds: int = 600  # RLIMIT_CPU of the kernel: CPU time for the whole notebook
    memory_bytes: int = 4 * GiB  # RLIMIT_AS: address space of each sandboxed process
    max_processes: int = 128  # RLIMIT_NPROC: processes and threads of the sandbox's user
    # Where control groups are writable (cgroups.py): one group per submission holds all its
    # processes to this much memory (None: memory_bytes) and max_processes (+ bubblewrap's).
    group_memory_bytes: int | None = None
    use_cgroups: bool = True  # False: the per-process limits only, even where groups exist
    cgroup: list[str] = field(default_factory=list)  # this submission's group (the grader's)
    file_size_bytes: int = 64 * MiB  # RLIMIT_FSIZE: the largest file it may write
    open_files: int = 1024  # RLIMIT_NOFILE
    tmp_bytes: int = 512 * MiB  # size of the private tmpfs /tmp
    threads: int = 1  # OMP/OpenBLAS/MKL threads (JOBS kernels share the cores)
    uid_base: int = 61000  # root only: kernels run as a free uid from uid_base up (claim_uid)
    uid_claimed: int | None = None  # the uid claimed for this slot (set by the grader)
    slot: int = 0  # the parallel worker's slot (0 .. JOBS-1)
    network: bool = False  # True: keep the host network (not recommended)
    use_bwrap: bool = True  # False: limits only (for machines without bubblewrap)
    require_bwrap: bool = False  # True: refuse to grade without bubblewrap
    max_output_bytes: int = 1 * MiB  # per cell; the rest is dropped with a note
    max_restarts: int = 3  # kernel restarts per notebook after a kernel death
    guard: bool = True  # fingerprint check before each test cell
    extra_ro_binds: list[str] = field(default_factory=list)  # more read-only paths

    @classmethod
    def from_env(cls) -> SandboxSettings:
        """The settings the grader put in this process's environment (defaults if none)."""
        raw = os.environ.get(ENV_SETTINGS)
        settings = cls(**json.loads(raw)) if raw else cls()
        if os.environ.get(ENV_REQUIRE, "") not in ("", "0"):
            settings.require_bwrap = True
        return settings

    def to_env(self) -> str:
        """The JSON text that :meth:`from_env` reads back."""
        return json.dumps(asdict(self))

    @property
    def group_memory(self) -> int:
        """The memory limit of the submission's control group, in bytes."""
        return self.group_memory_bytes or self.memory_bytes

    @property
    def uid(self) -> int | None:
        """The uid student code runs as (None: the grader's own, when not root)."""
        if os.geteuid() != 0:
            return None
        return self.uid_claimed if self.uid_claimed is not None else self.uid_base + self.slot
