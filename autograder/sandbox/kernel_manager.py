"""The ``jupyter_client`` kernel manager that nbgrader uses to start a sandboxed kernel.

:class:`SandboxedKernelManager` is an ``AsyncKernelManager`` with three changes:

* it starts the kernel through the launcher (``launcher.py``), which wraps it in the limits,
  the sandbox user and bubblewrap; the settings come from the grader (``settings.py``);
* it uses Jupyter's IPC transport, with the connection file and sockets in a private run
  directory that is bound into the sandbox (a kernel in its own network namespace cannot be
  reached over TCP);
* it interrupts the kernel with an ``interrupt_request`` message (the kernel runs in a session
  of its own, out of reach of the grader's signals).

The guard (``guard.py``) makes nbgrader's ``Execute`` preprocessor use this class.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager

from autograder.sandbox.launcher import bwrap_problem, launcher_command, write_spec
from autograder.sandbox.processes import claim_uid
from autograder.sandbox.settings import SandboxSettings


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel runs in the sandbox (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = SandboxSettings.from_env()
        self._uid_lock: int | None = None
        if os.geteuid() == 0 and self.settings.uid_claimed is None:
            self.settings.uid_claimed, self._uid_lock = claim_uid(self.settings.uid_base)
        problem = bwrap_problem() if self.settings.use_bwrap else "disabled"
        if problem and self.settings.require_bwrap:
            raise RuntimeError(f"sandbox required but unavailable: {problem}")
        if problem:
            print(
                f"WARNING: student code runs WITHOUT the bubblewrap sandbox ({problem}); "
                "only resource limits apply.",
                file=sys.stderr,
            )
        self.use_bwrap = problem is None
        self.sandbox_rundir = tempfile.mkdtemp(prefix="lapenna-kernel-")
        self.sandbox_home = os.path.join(self.sandbox_rundir, "home")
        os.makedirs(self.sandbox_home)
        _seed_matplotlib_cache(self.sandbox_home)
        self.transport = "ipc"
        self.ip = os.path.join(self.sandbox_rundir, "kernel")
        self.connection_file = os.path.join(self.sandbox_rundir, "kernel.json")
        self._workdir = os.getcwd()

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        self._workdir = os.path.abspath(kw.get("cwd") or os.getcwd())
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        kernel_cmd = super().format_kernel_cmd(extra_arguments)
        spec_file = os.path.join(self.sandbox_rundir, "sandbox.json")
        write_spec(
            spec_file,
            self.settings,
            self._workdir,
            self.sandbox_rundir,
            self.sandbox_home,
            self.use_bwrap,
        )
        return launcher_command(spec_file, kernel_cmd)

    async def interrupt_kernel(self) -> None:
        """Interrupt by message: the kernel is in its own session, out of signals' reach."""
        if not self.has_kernel:
            raise RuntimeError("Cannot interrupt kernel. No kernel is running!")
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self.sandbox_rundir, ignore_errors=True)
            if self._uid_lock is not None:
                os.close(self._uid_lock)
                self._uid_lock = None

    cleanup_resources = _async_cleanup_resources


def _seed_matplotlib_cache(home: str) -> None:
    """Copy the grader's matplotlib font cache, so each kernel need not rebuild it (seconds)."""
    try:
        import matplotlib

        cache = Path(matplotlib.get_cachedir())
    except Exception:
        return
    dest = Path(home, ".config", "matplotlib")
    dest.mkdir(parents=True, exist_ok=True)
    for font_list in cache.glob("fontlist-*.json"):
        shutil.copy2(font_list, dest / font_list.name)
