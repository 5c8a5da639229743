"""A simulated GPU, for grading a GPU timer on a machine without one.

A timer of GPU work must wait for the work: CUDA *launches* a kernel and returns at once, so a
clock read straight after the call measures the launch (microseconds), not the product. The
timer must call ``torch.cuda.synchronize()`` before reading the clock, or time the work with
CUDA events. The grader has no GPU, so a test gives the timer a simulated one that behaves the
same way and checks the time the timer returns: only a timer that *calls* the synchronisation
gets it right (a name in a comment or a string does not count, unlike :func:`source_mentions`).

* :class:`SimulatedGpu`: the clock, and the work queued on the GPU. Each launch costs the CPU
  :attr:`SimulatedGpu.LAUNCH` seconds; the GPU then works for the launch's duration (the next
  of ``durations``), after the work queued before it. The CPU's clock reaches the end of that
  work only when the CPU waits for it (:meth:`SimulatedGpu.synchronize`, or an event's).
* :class:`SimulatedEvent`: ``torch.cuda.Event`` on it (``record``, ``query``, ``synchronize``,
  ``elapsed_time`` in milliseconds, as CUDA's).
* :class:`SimulatedCudaTensor`: an operand whose product ``A @ B`` launches work and returns.
* :func:`simulated_cuda`: ``torch.cuda``'s ``synchronize``, ``Event``, ``current_stream`` and
  ``is_available`` on the simulated GPU, for a ``with`` block (a stand-in ``torch`` module
  where PyTorch is not installed).

Used by lab02 (``time_matmul``) and lab09 (``frames_per_second``).

Examples
--------
>>> gpu = SimulatedGpu([2.0])
>>> with simulated_cuda(gpu):
...     import torch
...     start = gpu.clock()
...     gpu.run("a frame")
...     torch.cuda.synchronize()
...     seconds = gpu.clock() - start
>>> round(seconds, 6), gpu.launches
(2.0, 1)
"""

from __future__ import annotations

import contextlib
import functools
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["SimulatedCudaTensor", "SimulatedEvent", "SimulatedGpu", "simulated_cuda"]


class SimulatedGpu:
    """A GPU that runs launched work asynchronously, as CUDA does, with the CPU's clock.

    Parameters
    ----------
    durations : sequence of float
        The seconds the GPU takes for each launch, in order (one per launch).

    Attributes
    ----------
    now : float
        The CPU's clock, in seconds (what :meth:`clock` returns).
    done_at : float
        When the GPU finishes the work launched so far.
    launches : int
        How many launches were made.

    Notes
    -----
    A launch at CPU time :math:`t` of work of duration :math:`d` sets
    :math:`\\text{done\\_at} \\leftarrow \\max(\\text{done\\_at}, t) + d` and moves the CPU to
    :math:`t + \\text{LAUNCH}`; :meth:`synchronize` moves it to
    :math:`\\max(t, \\text{done\\_at})`. A timer that waits before starting and before stopping
    its clock therefore measures :math:`d` exactly; one that does not measures LAUNCH.
    """

    #: What a launch costs the CPU, in seconds.
    LAUNCH = 1e-5

    def __init__(self, durations: Sequence[float]) -> None:
        self.durations = list(durations)
        self.now = 0.0
        self.done_at = 0.0
        self.launches = 0

    def clock(self) -> float:
        """The CPU's clock in seconds (a ``time.perf_counter`` for the timer)."""
        return self.now

    def launch(self) -> None:
        """Queue the next work item (of the next duration) and return at once."""
        self.done_at = max(self.done_at, self.now) + self.durations[self.launches]
        self.launches += 1
        self.now += self.LAUNCH

    def run(self, *args: Any, **kwargs: Any) -> None:
        """A function to time (``fn(frame)``): one launch; the arguments are ignored."""
        self.launch()

    def synchronize(self, *args: Any, **kwargs: Any) -> None:
        """Wait for the work launched so far (``torch.cuda.synchronize``)."""
        self.now = max(self.now, self.done_at)

    def tensor(self) -> SimulatedCudaTensor:
        """An operand on this GPU: ``A @ B`` launches a product."""
        return SimulatedCudaTensor(self)


class SimulatedCudaTensor:
    """An operand on a :class:`SimulatedGpu`: ``A @ B`` launches a product and returns ``A``.

    Parameters
    ----------
    gpu : SimulatedGpu
        The GPU it lives on.
    """

    is_cuda = True
    device = types.SimpleNamespace(type="cuda", index=0)

    def __init__(self, gpu: SimulatedGpu) -> None:
        self.gpu = gpu

    def __matmul__(self, other: Any) -> SimulatedCudaTensor:
        self.gpu.launch()
        return self


class SimulatedEvent:
    """``torch.cuda.Event`` on a :class:`SimulatedGpu`.

    Parameters
    ----------
    gpu : SimulatedGpu
        The GPU whose work the event marks.
    enable_timing : bool, default False
        Accepted as ``torch.cuda.Event`` accepts it (every event here can time).
    **kwargs
        Accepted and ignored (``blocking``, ``interprocess``).
    """

    def __init__(self, gpu: SimulatedGpu, enable_timing: bool = False, **kwargs: Any) -> None:
        self.gpu = gpu
        self.at: float | None = None

    def record(self, stream: Any = None) -> None:
        """Mark the point the GPU reaches once the work launched so far is done."""
        self.at = max(self.gpu.now, self.gpu.done_at)

    def query(self) -> bool:
        """Whether the GPU has reached the event, on the CPU's clock."""
        return self.at is not None and self.gpu.now >= self.at

    def synchronize(self) -> None:
        """Wait until the GPU reaches the event."""
        if self.at is not None:
            self.gpu.now = max(self.gpu.now, self.at)

    def elapsed_time(self, end: SimulatedEvent) -> float:
        """Milliseconds from this event to ``end``, as CUDA's.

        Raises
        ------
        RuntimeError
            If an event was not recorded, or ``end`` is not reached yet (CUDA's "device not
            ready": the timer must wait for the end event first).
        """
        if self.at is None or end.at is None:
            raise RuntimeError("elapsed_time: record both events first")
        if not end.query():
            raise RuntimeError("CUDA error: device not ready (wait for the end event first)")
        return (end.at - self.at) * 1e3


@contextlib.contextmanager
def simulated_cuda(gpu: SimulatedGpu) -> Iterator[SimulatedGpu]:
    """``torch.cuda`` on a simulated GPU, for a ``with`` block.

    ``torch.cuda.synchronize``, ``torch.cuda.Event``, ``torch.cuda.current_stream`` (whose
    ``synchronize`` waits too) and ``torch.cuda.is_available`` (True) act on ``gpu``; they are
    put back on exit, even when the body raised. Where PyTorch is not installed, a stand-in
    ``torch`` module with only these is in ``sys.modules`` for the block.

    Parameters
    ----------
    gpu : SimulatedGpu
        The GPU to simulate.

    Yields
    ------
    SimulatedGpu
        ``gpu``.
    """
    stand_in = None
    try:
        import torch
    except ImportError:  # no PyTorch here: a stand-in module, for the duration of the block
        stand_in = torch = sys.modules["torch"] = types.ModuleType("torch")
        torch.cuda = types.ModuleType("torch.cuda")
    fakes = {
        "synchronize": gpu.synchronize,
        "Event": functools.partial(SimulatedEvent, gpu),
        "current_stream": lambda *args, **kwargs: types.SimpleNamespace(
            synchronize=gpu.synchronize
        ),
        "is_available": lambda: True,
    }
    saved = {name: getattr(torch.cuda, name, None) for name in fakes}
    for name, fake in fakes.items():
        setattr(torch.cuda, name, fake)
    try:
        yield gpu
    finally:
        for name, original in saved.items():
            setattr(torch.cuda, name, original)
        if stand_in is not None:
            del sys.modules["torch"]
