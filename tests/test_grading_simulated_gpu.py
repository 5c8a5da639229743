"""Unit tests of lapenna_labs.grading.simulated_gpu: the simulated GPU that lab02 and lab09
grade their timers on (asynchronous launches, the CPU's clock, CUDA events, synchronize).

The expected times are worked out by hand from the launch rule: a launch costs the CPU LAUNCH
seconds, and the GPU finishes it after the work queued before it plus its own duration.
"""

from __future__ import annotations

import statistics
import sys

import pytest

from lapenna_labs.grading import (
    SimulatedCudaTensor,
    SimulatedEvent,
    SimulatedGpu,
    simulated_cuda,
)

LAUNCH = SimulatedGpu.LAUNCH


def synchronising_timer(fn, warmup, repeats, clock):
    """The right way: wait for the warm-ups, then wait before reading the clock each time."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        torch.cuda.synchronize()
        times.append(clock() - start)
    return statistics.median(times)


def event_timer(fn, warmup, repeats, clock):
    """The right way with CUDA events (milliseconds, converted)."""
    import torch

    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def naive_timer(fn, warmup, repeats, clock):
    """The mistake: the clock is read while the GPU still works."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return statistics.median(times)


@pytest.mark.parametrize("timer", [synchronising_timer, event_timer])
def test_a_timer_that_waits_measures_the_work(timer):
    durations = [5.0, 4.0, 0.25, 0.5, 0.125]  # two long warm-ups, then three timed launches
    gpu = SimulatedGpu(durations)
    with simulated_cuda(gpu):
        seconds = timer(gpu.run, 2, 3, gpu.clock)
    assert seconds == pytest.approx(0.25, abs=1e-12)  # the median of 0.25, 0.5, 0.125
    assert gpu.launches == 5


def test_a_timer_that_does_not_wait_measures_the_launch():
    gpu = SimulatedGpu([1.0, 2.0, 3.0])
    with simulated_cuda(gpu):
        seconds = naive_timer(gpu.run, 0, 3, gpu.clock)
    assert seconds == pytest.approx(LAUNCH)
    assert gpu.clock() == pytest.approx(3 * LAUNCH)  # the CPU never waited
    gpu.synchronize()
    assert gpu.clock() == pytest.approx(6.0)  # the first at 0, each next behind the last


def test_launches_queue_behind_each_other_and_a_product_launches():
    gpu = SimulatedGpu([2.0, 3.0])
    a, b = gpu.tensor(), gpu.tensor()
    assert isinstance(a, SimulatedCudaTensor) and a.is_cuda and a.device.type == "cuda"
    assert (a @ b) is a
    assert gpu.done_at == pytest.approx(2.0) and gpu.now == pytest.approx(LAUNCH)
    a @ b  # queued behind the first: done at 2 + 3, not at LAUNCH + 3
    assert gpu.done_at == pytest.approx(5.0) and gpu.launches == 2
    with pytest.raises(IndexError):  # more launches than durations: the test's own error
        a @ b


def test_events_time_in_milliseconds_and_refuse_before_the_end_is_reached():
    gpu = SimulatedGpu([0.5])
    start, end = SimulatedEvent(gpu, enable_timing=True), SimulatedEvent(gpu)
    with pytest.raises(RuntimeError, match="record both events"):
        start.elapsed_time(end)
    start.record()
    gpu.run("frame")
    end.record()
    assert not end.query()
    with pytest.raises(RuntimeError, match="device not ready"):
        start.elapsed_time(end)
    end.synchronize()
    assert end.query()
    assert start.elapsed_time(end) == pytest.approx(500.0)
    assert gpu.clock() == pytest.approx(0.5)


def test_simulated_cuda_puts_torch_cuda_back_even_after_an_error():
    torch = pytest.importorskip("torch")
    saved = {name: getattr(torch.cuda, name) for name in ("synchronize", "Event", "is_available")}
    gpu = SimulatedGpu([1.0])
    with pytest.raises(KeyError), simulated_cuda(gpu) as inside:
        assert inside is gpu and torch.cuda.is_available()
        gpu.run()
        torch.cuda.current_stream().synchronize()
        assert gpu.clock() == pytest.approx(1.0)
        raise KeyError("the answer failed")
    for name, original in saved.items():
        assert getattr(torch.cuda, name) is original, name


def test_simulated_cuda_without_pytorch_uses_a_stand_in_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    gpu = SimulatedGpu([2.0])
    with simulated_cuda(gpu):
        import torch

        assert torch.cuda.is_available()
        gpu.run()
        torch.cuda.synchronize()
    assert gpu.clock() == pytest.approx(2.0)
    assert "torch" not in sys.modules or sys.modules["torch"] is not torch
