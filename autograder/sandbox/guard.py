"""The grading guard: keeps a class's grading honest when one submission misbehaves.

:func:`guarded_execute_class` mixes :class:`GradingGuardMixin` into nbgrader's ``Execute``
preprocessor (the parallel grader does it in each worker's ``nbgrader_config.py``, see
``autograder/scheduling.py``) and makes it start kernels with the sandboxed kernel manager
(``kernel_manager.py``). The guard then watches every cell:

* **kernel death** (``os._exit``, a segfault, the CPU or memory limit): the dying cell gets an
  error, the kernel is restarted and the notebook's earlier cells are replayed silently, so the
  parts after it are still graded (at most ``max_restarts`` times);
* **huge output**: a cell's output beyond ``max_output_bytes`` is dropped as it arrives, with a
  note, so a 100 MB ``print`` never reaches the notebook, the gradebook or the feedback;
* **tampering**: before the first cell it takes the kernel's fingerprint (``fingerprint.py``,
  run in the kernel, kept here outside it); before each test cell it takes it again, and if a
  submission replaced anything listed (``np.allclose = lambda *a: True``, a swapped
  ``__code__``, a silenced ``showtraceback``, a framework function the hidden tests rely on),
  that test cell is not run and scores zero, with the names that changed as the reason
  (:func:`integrity_changes`);
* **leftover processes**: after a cell that failed, the reaper (``reaper.py``) ends the
  processes the cell left behind.

Code for the kernel is sent as the source text of those two modules plus a call
(:func:`kernel_call`): the kernel cannot import ``autograder``. Every event (kind, cell,
detail) goes to the JSON file named by ``$LAPENNA_EVENTS_FILE``, which the grader turns into
reasons for the CSV and the log.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import signal
import time
import types
from pathlib import Path
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader import utils

from autograder.sandbox import cgroups, fingerprint, reaper
from autograder.sandbox.kernel_manager import SandboxedKernelManager
from autograder.sandbox.processes import kill_user_processes
from autograder.sandbox.settings import MiB, SandboxSettings


def kernel_call(module: types.ModuleType, function: str, result: str, arguments: str = "") -> str:
    """Code that runs ``module.function(arguments)`` in the kernel and stores its ``repr`` in the
    kernel variable ``result``, without ``module`` being importable there.

    The module's source text travels inside the code and runs in a fresh module namespace, so
    the student's variables are neither read nor overwritten; only ``result`` is set.

    Examples
    --------
    >>> namespace = {}
    >>> exec(kernel_call(reaper, "_in_sandbox", "answer"), namespace)
    >>> sorted(name for name in namespace if not name.startswith("__")), namespace["answer"]
    (['answer'], 'False')
    """
    path = Path(module.__file__ or "")
    return (
        "def __lapenna_run(source):\n"
        "    import types\n"
        f"    module = types.ModuleType({module.__name__!r})\n"
        f"    exec(compile(source, {str(path)!r}, 'exec'), vars(module))\n"
        f"    return module.{function}({arguments})\n"
        f"{result} = repr(__lapenna_run({path.read_text()!r}))\n"
        "del __lapenna_run\n"
    )


FINGERPRINT_RESULT = "__lapenna_fingerprint_result"
FINGERPRINT_CODE = kernel_call(fingerprint, "fingerprint", FINGERPRINT_RESULT)
QUICK = fingerprint.QUICK


def fingerprint_code(known: dict[str, str]) -> str:
    """:data:`FINGERPRINT_CODE` telling the kernel which guarded modules' listings the guard
    holds (their ``<quick>`` digests): those are not listed again while unchanged."""
    if not known:
        return FINGERPRINT_CODE
    return kernel_call(fingerprint, "fingerprint", FINGERPRINT_RESULT, f"known={known!r}")


REAP_CODE = kernel_call(reaper, "reap", "__lapenna_reaped")


_MODULE_KEY = "sys.modules["  # the fingerprint lists each module it covers under this key
ATTRIBUTES, FOREIGN = fingerprint.ATTRIBUTES, fingerprint.FOREIGN_CALLABLES


def _listed_names(value: str) -> set[str]:
    return set(ast.literal_eval(value))


def _module_named(key: str) -> str | None:
    """``"torch"`` for the key ``"sys.modules[torch]"``; None for any other key."""
    return key[len(_MODULE_KEY) : -1] if key.startswith(_MODULE_KEY) else None


def integrity_changes(
    baseline: dict[str, str], now: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """What changed between two fingerprints, and the baseline to compare with next time.

    Every entry of ``baseline`` that ``now`` lacks or holds differently is a change; for the
    entries that list names (``<instance callables>``, ``<foreign callables>``) the names
    added or removed are reported instead, and a guarded module's digest (``<attributes>``)
    only when no name in that module explains it. A module that ``now`` lists and ``baseline``
    does not (a guarded module the notebook imported since) is adopted into the returned
    baseline, unless it already holds callables that a notebook cell defined: those are
    reported.

    Parameters
    ----------
    baseline, now : dict of str to str
        Two results of :func:`autograder.sandbox.fingerprint.fingerprint`.

    Returns
    -------
    changed : list of str
        The names replaced, sorted; empty if none.
    baseline : dict of str to str
        ``baseline`` with the entries of the new genuine modules added.

    Examples
    --------
    >>> base = {"sys.modules[numpy]": "1", "numpy.allclose": "2"}
    >>> now = {**base, "numpy.allclose": "3", "sys.modules[torch]": "loaded",
    ...        "torch.<attributes>": "d1", "torch.<foreign callables>": "[]"}
    >>> changed, adopted = integrity_changes(base, now)
    >>> changed, adopted["torch.<attributes>"]
    (['numpy.allclose'], 'd1')
    >>> integrity_changes(adopted, {**now, "torch.<attributes>": "d2"})[0]
    ['numpy.allclose', 'torch.<attributes>']
    >>> integrity_changes(base, {**now, "torch.<foreign callables>": "['conv2d']"})[0]
    ['numpy.allclose', 'torch.conv2d']
    """
    changed = []
    for key, value in baseline.items():
        if now.get(key) == value or key.endswith(QUICK):  # a cache key, not evidence
            continue
        if key.endswith("callables>") and key in now:  # name what was planted or removed
            prefix = key[: key.rindex("<")]
            added_or_removed = _listed_names(value) ^ _listed_names(now[key])
            changed += [prefix + name for name in sorted(added_or_removed)]
        else:
            changed.append(key)
    adopted = dict(baseline)
    for name in filter(None, (_module_named(key) for key in now if key not in baseline)):
        module_keys = [f"sys.modules[{name}]", f"{name}.{ATTRIBUTES}", f"{name}.{FOREIGN}"]
        planted = _listed_names(now.get(module_keys[2], "[]"))
        changed += [f"{name}.{attribute}" for attribute in planted]
        if not planted:
            adopted.update({key: now[key] for key in module_keys if key in now})
    explained = {key for key in changed if not key.endswith(ATTRIBUTES)}
    changed = [
        key
        for key in changed
        if not key.endswith(ATTRIBUTES)
        or not any(name.startswith(key[: -len(ATTRIBUTES)]) for name in explained)
    ]
    return sorted(set(changed)), adopted


_SIGNALS = {
    signal.SIGKILL: "SIGKILL (killed: memory exhausted or a hard limit)",
    signal.SIGSEGV: "SIGSEGV (segmentation fault)",
    signal.SIGXCPU: "SIGXCPU (CPU-time limit reached)",
    signal.SIGABRT: "SIGABRT (aborted)",
    signal.SIGBUS: "SIGBUS (bus error)",
    signal.SIGFPE: "SIGFPE (arithmetic fault)",
    signal.SIGXFSZ: "SIGXFSZ (file-size limit reached)",
}


def describe_exit(code: int | None) -> str:
    """What a kernel's exit status means (bubblewrap reports a signal as 128 + signo)."""
    if code is None:
        return "the kernel stopped responding"
    signo = -code if code < 0 else code - 128 if code > 128 else 0
    if signo:
        try:
            name = _SIGNALS.get(signal.Signals(signo), signal.Signals(signo).name)
        except ValueError:
            name = f"signal {signo}"
        return f"the kernel was killed by {name}"
    return f"the kernel exited with status {code} (os._exit or sys.exit in student code?)"


def _error_output(ename: str, evalue: str) -> Any:
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class GradingGuardMixin:
    """Mixed into nbgrader's ``Execute``: kernel deaths, huge outputs and tampering (see the
    module docstring). Events go to the JSON file named by ``$LAPENNA_EVENTS_FILE``."""

    def _guard_reset(self) -> None:
        self.sandbox_settings = SandboxSettings.from_env()
        self._events: list[dict[str, Any]] = []
        self._baseline: dict[str, str] | None = None
        self._restarts = 0
        self._dead_for_good = False
        self._tampered: list[str] = []
        self._out_bytes: dict[int, int] = {}
        self._dropped: dict[int, int] = {}
        self._history: list[Any] = []  # code cells run so far (replayed after a restart)
        # Seconds spent per stage (time.perf_counter spans), for the grader's profile.
        self._stages: dict[str, float] = {"fingerprint": 0.0, "cells": 0.0}
        # Guarded module -> the <quick> digest of its last listing, and that listing.
        self._quick: dict[str, str] = {}
        self._listed: dict[str, dict[str, str]] = {}
        self._t_start = time.perf_counter()

    def preprocess(self, nb: Any, resources: Any = None, km: Any = None) -> Any:
        self._guard_reset()
        try:
            return super().preprocess(nb, resources, km)
        finally:
            self._stages["execute"] = time.perf_counter() - self._t_start
            self._write_events()

    # -- events --------------------------------------------------------------------------
    def _event(self, kind: str, cell: Any, detail: str) -> None:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") if cell is not None else None
        where = grade_id or (f"cell {cell.get('_lapenna_index', '?')}" if cell else "notebook")
        self._events.append({"kind": kind, "cell": where, "detail": detail})
        if cell is not None and utils.is_grade(cell):
            self._events[-1]["graded"] = True
        self.log.warning("grading event: %s in %s: %s", kind, where, detail)

    def _write_events(self) -> None:
        path = os.environ.get("LAPENNA_EVENTS_FILE")
        if path:
            Path(path).write_text(json.dumps(self._events, indent=1))
        stages = os.environ.get("LAPENNA_STAGES_FILE")
        if stages:
            Path(stages).write_text(json.dumps(self._stages))

    # -- silent execution (outside the notebook) ----------------------------------------
    def _silent(self, code: str, expression: str | None = None, timeout: float = 60) -> Any:
        """Run ``code`` in the kernel without touching the notebook; return ``expression``'s
        value (``ast.literal_eval`` of its repr) or None."""
        expressions = {"r": expression} if expression else {}
        msg_id = self.kc.execute(
            code, silent=True, store_history=False, user_expressions=expressions
        )
        get = run_sync(self.kc.shell_channel.get_msg)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no reply from the kernel")
            try:
                reply = get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError("no reply from the kernel") from None
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        content = reply["content"]
        if content.get("status") != "ok" or not expression:
            return None
        value = content.get("user_expressions", {}).get("r", {})
        if value.get("status") != "ok":
            return None
        return ast.literal_eval(ast.literal_eval(value["data"]["text/plain"]))

    def _fingerprint(self) -> dict[str, str] | None:
        """The kernel's fingerprint, complete: the guarded modules whose ``<quick>`` digest is
        one this guard holds the listing of come back without it (the kernel skips the work),
        and get it here."""
        t0 = time.perf_counter()
        try:
            now = self._silent(fingerprint_code(self._quick), FINGERPRINT_RESULT)
            if not isinstance(now, dict):
                return None
            for key in [k for k in now if k.endswith(QUICK)]:
                name, quick = key[: -len(QUICK) - 1], now[key]
                if f"{name}.{ATTRIBUTES}" in now:  # listed afresh: remember it for this digest
                    self._quick[name] = quick
                    self._listed[name] = {
                        k: now[k] for k in (f"{name}.{ATTRIBUTES}", f"{name}.{FOREIGN}") if k in now
                    }
                elif self._quick.get(name) == quick:
                    now.update(self._listed[name])
                else:  # skipped without our asking: cannot vouch
                    return None
            return now
        except Exception as exc:  # any failure means we cannot vouch
            self.log.warning("integrity fingerprint failed: %s", exc)
            return None
        finally:
            self._stages["fingerprint"] += time.perf_counter() - t0

    def _check_integrity(self) -> list[str]:
        """Names changed since the baseline; a placeholder name if the check could not run.
        Guarded modules imported since the baseline join it (see :func:`integrity_changes`)."""
        if self._baseline is None:
            return []
        now = self._fingerprint()
        if now is None:
            return ["the integrity check itself (the kernel's machinery was altered)"]
        changed, self._baseline = integrity_changes(self._baseline, now)
        return changed

    def _reap(self) -> None:
        try:
            self._silent(REAP_CODE, None, timeout=15)
        except Exception:  # best effort; the sandbox dies with the kernel
            pass

    # -- nbclient hooks ---------------------------------------------------------------------
    def output(self, outs: Any, msg: Any, display_id: Any, cell_index: int) -> Any:
        """Drop output beyond ``max_output_bytes`` per cell as it arrives."""
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(
            len(str(v)) for v in content.get("data", {}).values()
        )
        size += len(str(content.get("evalue", ""))) + sum(
            len(t) for t in content.get("traceback", [])
        )
        used = self._out_bytes.get(cell_index, 0)
        cap = self.sandbox_settings.max_output_bytes
        if used + size > cap and msg["msg_type"] in (
            "stream",
            "display_data",
            "execute_result",
            "error",
            "update_display_data",
        ):
            self._dropped[cell_index] = self._dropped.get(cell_index, 0) + size
            if msg["msg_type"] == "error":  # keep the error (it decides the score), shortened
                content = dict(content)
                content["evalue"] = str(content.get("evalue", ""))[:1000]
                content["traceback"] = [t[:1000] for t in content.get("traceback", [])[-5:]]
                msg = {**msg, "content": content}
            else:
                return None
        self._out_bytes[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)

    def preprocess_cell(self, cell: Any, resources: Any, index: int) -> Any:
        cell["_lapenna_index"] = index
        self._stages.setdefault("kernel_start", time.perf_counter() - self._t_start)
        try:
            if self._baseline is None and self.sandbox_settings.guard and not self._dead_for_good:
                self._baseline = self._fingerprint()
            if cell.cell_type != "code":
                return cell, resources
            if self._dead_for_good:
                cell.outputs = [_error_output("KernelDied", "not run: the kernel kept dying")]
                return cell, resources
            is_test = utils.is_grade(cell) and not utils.is_solution(cell)
            if is_test and self.sandbox_settings.guard:
                # Once tampered, always tampered (a restarted kernel replays the tampering).
                changed = self._tampered or self._check_integrity()
                self._tampered = changed
                if changed:
                    shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
                    cell.outputs = [
                        _error_output(
                            "GradingIntegrityError",
                            "this test was not run and scores zero: the submission replaced "
                            "parts of NumPy, lapenna_labs, a guarded framework or the grading "
                            f"machinery ({shown})",
                        )
                    ]
                    cell.execution_count = None
                    self._event("tampering", cell, f"replaced: {shown}")
                    return cell, resources
            t0 = time.perf_counter()
            try:
                cell, resources = super().preprocess_cell(cell, resources, index)
            except DeadKernelError:
                self._kernel_died(cell)
                return cell, resources
            except CellTimeoutError:
                # The kernel did not even answer after the interrupt (a fork bomb starving it,
                # or C code ignoring SIGINT): kill the whole sandbox and restart.
                self._event("timeout", cell, "cell exceeded its wall-clock limit")
                self._kernel_died(cell, unresponsive=True)
                return cell, resources
            self._stages["cells"] += time.perf_counter() - t0
            self._history.append(cell)
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if any(o.get("ename") == "CellTimeoutError" for o in errors):
                self._event("timeout", cell, "cell exceeded its wall-clock limit")
            if errors:
                self._reap()
            return cell, resources
        finally:
            dropped = self._dropped.pop(index, 0)
            if dropped:
                note = (
                    f"\n[grader: {dropped / MiB:.1f} MiB of further output dropped; the limit is "
                    f"{self.sandbox_settings.max_output_bytes / MiB:g} MiB per cell]\n"
                )
                cell.setdefault("outputs", []).append(
                    new_output("stream", name="stderr", text=note)
                )
                self._event("huge_output", cell, f"{dropped / MiB:.1f} MiB of output dropped")
            cell.pop("_lapenna_index", None)

    def _kernel_died(self, cell: Any, unresponsive: bool = False) -> None:
        if unresponsive:
            why = "the kernel stopped responding after the time limit: killed and restarted"
            cell.setdefault("outputs", []).append(_error_output("CellTimeoutError", why))
        else:
            code = None
            try:
                code = run_sync(self.km.provisioner.poll)()
            except Exception:  # the exit status is only for the reason
                pass
            why = describe_exit(code)
            cell.setdefault("outputs", []).append(
                _error_output("KernelDied", f"{why} while running this cell")
            )
            self._event("kernel_died", cell, why)
        if self._restarts >= self.sandbox_settings.max_restarts:
            self._dead_for_good = True
            return
        self._restarts += 1
        try:
            self.kc.stop_channels()
            for attempt in range(3):
                run_sync(self.km.shutdown_kernel)(now=True, restart=True)
                if self.sandbox_settings.uid is not None:
                    # Everything of this sandbox's user must be gone, or a fork bomb's
                    # leftovers would use up the new kernel's process limit.
                    kill_user_processes(self.sandbox_settings.uid)
                if self.sandbox_settings.cgroup:  # and of its control group (pids.max)
                    cgroups.kill(self.sandbox_settings.cgroup)
                run_sync(self.km.start_kernel)(**self.km._launch_args)
                self.kc = self.km.client()
                self.kc.start_channels()
                try:
                    run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
                    break
                except RuntimeError:
                    self.kc.stop_channels()
                    if attempt == 2:
                        raise
                    time.sleep(1 + attempt)
            if self.sandbox_settings.guard:
                self._quick, self._listed = {}, {}  # a new kernel: new identities
                self._baseline = self._fingerprint()
            for earlier in self._history:  # bring the state back: replay, outputs discarded
                failed = any(
                    o.get("ename") in ("CellTimeoutError", "KernelDied")
                    for o in earlier.get("outputs", [])
                    if o.get("output_type") == "error"
                )
                if not failed:
                    self._silent(earlier.source, None, timeout=self.timeout or 60)
            if self.sandbox_settings.guard and not self._tampered:
                self._tampered = self._check_integrity()  # did the replay tamper again?
        except Exception as exc:  # a restart that fails ends the notebook, not the class
            self._event("kernel_died", cell, f"restart failed ({exc}); later cells not run")
            self._dead_for_good = True


def guarded_execute_class(base: type) -> type:
    """``base`` (nbgrader's ``Execute`` or a subclass) with the sandbox and the guard."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        base.__init__(self, *args, **kwargs)

    return type(f"Sandboxed{base.__name__}", (GradingGuardMixin, base), {"__init__": __init__})
