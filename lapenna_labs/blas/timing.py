"""Honest timing on a CPU and a GPU, and the slides' naive timing kept to show what goes wrong.

* :func:`time_callable` (a :class:`TimingResult`): warm-up calls, several repeats, CUDA
  events or an explicit synchronisation, median and spread, GFLOP/s;
* :func:`time_gemm` and :func:`gemm_sweep`: the product of two random ``N x N`` matrices
  with NumPy, PyTorch or TensorFlow, for one size or for every size x dtype x device;
* :func:`naive_time_gemm` (a :class:`NaiveTiming`): the lecture's Lab 2 Problem 4 timing.

torch and TensorFlow are imported inside the functions that use them, so every NumPy path
works without either installed.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_nonnegative_int, check_positive_int, check_positive_number
from .counts import _dtype_name, gemm_flops
from .devices import (
    _import_torch,
    _no_sync,
    _parse_device,
    _require_cuda,
    cuda_available,
    device_name,
    get_synchronizer,
)

__all__ = [
    "NaiveTiming",
    "TimingResult",
    "gemm_sweep",
    "naive_time_gemm",
    "time_callable",
    "time_gemm",
]


def _gflops(flops: float, seconds: float) -> float:
    """The rate ``flops / seconds`` in GFLOP/s; infinite when the clock did not tick.

    A coarse clock can report 0 s for a tiny product; ``inf`` says "faster than the clock
    resolves" instead of raising ZeroDivisionError in the middle of a sweep.
    """
    return flops / seconds / 1e9 if seconds > 0 else math.inf


@dataclass(frozen=True)
class TimingResult:
    """Repeated timings of one piece of work, and the rate they imply.

    Attributes
    ----------
    times : tuple of float
        Seconds of each timed repeat (warm-up runs excluded).
    device : str
        ``"cpu"`` or ``"cuda:N"``.
    device_name : str
        CPU model or GPU name.
    method : str
        ``"perf_counter"`` (wall clock, after a synchronisation on GPUs) or ``"cuda_event"``.
    flops : float or None
        Floating-point operations per call, if known.
    warmup : int
        Untimed calls made first.
    """

    times: tuple[float, ...]
    device: str
    device_name: str
    method: str
    flops: float | None = None
    warmup: int = 0

    @property
    def median(self) -> float:
        """Median seconds per call: robust to the odd slow repeat."""
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        """Fastest repeat, seconds (the "best of" that ``%timeit`` reports)."""
        return min(self.times)

    @property
    def max(self) -> float:
        """Slowest repeat, seconds."""
        return max(self.times)

    @property
    def iqr(self) -> float:
        """Interquartile range of the repeats, seconds (0 for a single repeat)."""
        if len(self.times) < 2:
            return 0.0
        q1, q3 = np.percentile(self.times, [25, 75])
        return float(q3 - q1)

    @property
    def spread(self) -> float:
        """``iqr / median``: the relative noise of the measurement."""
        return self.iqr / self.median if self.median > 0 else 0.0

    @property
    def gflops(self) -> float | None:
        """GFLOP/s at the median time, or ``None`` without ``flops``."""
        if self.flops is None:
            return None
        return _gflops(self.flops, self.median)

    @property
    def gflops_best(self) -> float | None:
        """GFLOP/s at the fastest repeat, or ``None`` without ``flops``."""
        if self.flops is None:
            return None
        return _gflops(self.flops, self.min)

    def as_record(self) -> dict[str, Any]:
        """A flat dict (for pandas or :func:`lapenna_labs.plots.plot_gflops`)."""
        return {
            "device": self.device,
            "device_name": self.device_name,
            "method": self.method,
            "flops": self.flops,
            "repeats": len(self.times),
            "warmup": self.warmup,
            "median_s": self.median,
            "min_s": self.min,
            "iqr_s": self.iqr,
            "gflops": self.gflops,
            "gflops_best": self.gflops_best,
        }

    def __str__(self) -> str:
        text = (
            f"median {self.median * 1e3:.3f} ms (IQR {self.iqr * 1e3:.3f} ms, "
            f"{len(self.times)} repeats) on {self.device_name} [{self.method}]"
        )
        if self.flops is not None:
            text += f": {self.gflops:,.1f} GFLOP/s"
        return text


class _HostClockEvent:
    """A timestamp read from the host's clock: the CPU's stand-in for a CUDA event.

    ``record()`` first waits for the device (``wait_for_device``; nothing on the CPU), then
    reads ``time.perf_counter``. ``elapsed_time`` answers in milliseconds, as
    ``torch.cuda.Event.elapsed_time`` does, so one timing loop serves both kinds of event.
    """

    def __init__(self, wait_for_device: Callable[[], None]) -> None:
        self._wait_for_device = wait_for_device
        self.seconds: float | None = None

    def record(self) -> None:
        self._wait_for_device()
        self.seconds = time.perf_counter()

    def synchronize(self) -> None:
        """Nothing to wait for: ``record`` already waited before reading the clock."""

    def elapsed_time(self, end: _HostClockEvent) -> float:
        return (end.seconds - self.seconds) * 1e3


def time_callable(
    fn: Callable[[], Any],
    *,
    warmup: int = 2,
    repeats: int = 10,
    device: str = "cpu",
    flops: float | None = None,
    sync: Callable[[], None] | None = None,
) -> TimingResult:
    """Time ``fn()`` properly: warm-up calls, several repeats, synchronised clocks.

    Parameters
    ----------
    fn : callable
        Called with no arguments; its result is ignored.
    warmup : int, default 2
        Untimed calls first: they pay one-off costs (allocating and touching memory,
        starting BLAS threads, loading cuBLAS and picking its kernels).
    repeats : int, default 10
        Timed calls.
    device : {"cpu", "cuda", "cuda:N"}, default "cpu"
        Where ``fn`` does its work. On ``"cuda"`` each call is bracketed by CUDA events
        recorded on the current stream (GPU time, not launch time).
    flops : float, optional
        Floating-point operations of one call; gives ``.gflops``.
    sync : callable, optional
        A function that waits for the device (e.g. TensorFlow's
        ``tf.test.experimental.sync_devices``). If given, each call is timed with
        ``time.perf_counter`` as ``sync(); t0; fn(); sync(); t1`` instead of CUDA events --
        for work that PyTorch's stream does not see.

    Returns
    -------
    TimingResult
        ``.times``, ``.median``, ``.min``, ``.iqr``, ``.gflops`` (at the median), ...

    Raises
    ------
    ValueError
        For an unknown device string, a non-callable ``fn``, bad ``warmup``/``repeats``/``flops``.
    RuntimeError
        For ``device="cuda"`` without CUDA.

    Notes
    -----
    The median is reported (not the mean, which one preempted repeat can spoil, nor only
    the best, which hides noise); ``.iqr`` says how noisy the repeats were.

    Each repeat is bracketed by two *events*, and one loop serves every device. A CUDA
    event is a timestamp the GPU writes when its stream reaches it, so the host queues all
    the repeats without waiting and reads the times after the last event has happened. On
    the CPU (or with ``sync``) an event is ``time.perf_counter()`` read after waiting for
    the device, the pattern ``sync(); t0 = perf_counter(); fn(); sync(); t1 = ...``.

    Examples
    --------
    >>> A = np.ones((200, 200))
    >>> r = time_callable(lambda: A @ A, repeats=3, flops=gemm_flops(200, 200, 200))
    >>> len(r.times), r.gflops > 0
    (3, True)
    """
    func = "time_callable"
    if not callable(fn):
        raise ValueError(f"{func}: fn must be callable, got {type(fn).__name__}")
    warmup = check_nonnegative_int(warmup, name="warmup", func=func)
    repeats = check_positive_int(repeats, name="repeats", func=func)
    if flops is not None:
        check_positive_number(flops, name="flops", func=func)  # kept as given: an exact count
    if sync is not None and not callable(sync):
        raise ValueError(f"{func}: sync must be callable, got {type(sync).__name__}")
    kind, index = _parse_device(device, func)
    device_str = "cpu" if kind == "cpu" else f"cuda:{index}"

    if kind == "cuda" and sync is None:
        torch = _require_cuda(func, index)
        where = torch.cuda.device(index)
        wait_for_device = get_synchronizer(device_str)

        def new_event():
            return torch.cuda.Event(enable_timing=True)

        name, method = torch.cuda.get_device_name(index), "cuda_event"
    else:
        where = contextlib.nullcontext()
        wait_for_device = _no_sync if sync is None else sync

        def new_event():
            return _HostClockEvent(wait_for_device)

        name, method = device_name(device_str), "perf_counter"

    with where:
        for _ in range(warmup):
            fn()
        wait_for_device()
        starts = [new_event() for _ in range(repeats)]
        ends = [new_event() for _ in range(repeats)]
        for start, end in zip(starts, ends, strict=True):
            start.record()
            fn()
            end.record()
        ends[-1].synchronize()  # a CUDA event's time is known once the GPU has reached it
        times = tuple(s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends, strict=True))
    return TimingResult(
        times=times,
        device=device_str,
        device_name=name,
        method=method,
        flops=None if flops is None else float(flops),
        warmup=warmup,
    )


_BACKENDS = ("numpy", "torch", "tensorflow")
_GEMM_DTYPES = {
    "numpy": ("float32", "float64"),
    "torch": ("float16", "bfloat16", "tf32", "float32", "float64"),
    "tensorflow": ("float16", "bfloat16", "tf32", "float32", "float64"),
}


def _resolve_backend(backend: str | None, kind: str, func: str) -> str:
    if backend is None:
        return "numpy" if kind == "cpu" else "torch"
    if backend not in _BACKENDS:
        raise ValueError(f"{func}: backend must be one of {_BACKENDS}, got {backend!r}")
    if backend == "numpy" and kind == "cuda":
        raise ValueError(
            f"{func}: NumPy runs on the CPU only; use backend='torch' or 'tensorflow' on 'cuda'"
        )
    return backend


def _check_gemm_dtype(dtype: Any, backend: str, kind: str, func: str) -> str:
    name = _dtype_name(dtype)
    if name not in _GEMM_DTYPES[backend]:
        raise ValueError(
            f"{func}: dtype {dtype!r} is not available with backend {backend!r}; "
            f"use one of {_GEMM_DTYPES[backend]}"
        )
    if name == "tf32" and kind != "cuda":
        raise ValueError(f"{func}: 'tf32' is a tensor-core mode of NVIDIA GPUs; use device='cuda'")
    return name


def _gemm_operands(n: int, name: str, backend: str, kind: str, index: int, seed: int):
    """Two random (n, n) matrices on the device, and a zero-argument product function."""
    rng = np.random.default_rng(seed)
    host = rng.random((2, n, n), dtype=np.float64 if name == "float64" else np.float32)
    if backend == "numpy":
        a, b = host[0], host[1]
        out = np.empty((n, n), dtype=a.dtype)
        return (lambda: np.matmul(a, b, out=out)), None
    if backend == "torch":
        torch = _import_torch("time_gemm")
        tdtype = {"tf32": torch.float32}.get(name) or getattr(torch, name)
        dev = "cpu" if kind == "cpu" else f"cuda:{index}"
        a, b = (torch.from_numpy(h).to(device=dev, dtype=tdtype) for h in host)
        out = torch.empty((n, n), device=dev, dtype=tdtype)
        return (lambda: torch.matmul(a, b, out=out)), None
    import tensorflow as tf

    tdevice = "/CPU:0" if kind == "cpu" else f"/GPU:{index}"
    if kind == "cuda" and not tf.config.list_physical_devices("GPU"):
        raise RuntimeError("time_gemm: TensorFlow sees no GPU")
    tdtype = tf.float32 if name == "tf32" else getattr(tf, name)
    with tf.device(tdevice):
        a, b = (tf.cast(tf.constant(h), tdtype) for h in host)

    def product():
        with tf.device(tdevice):
            return tf.linalg.matmul(a, b)

    return product, tf.test.experimental.sync_devices


class _Float32Mode:
    """Within ``with``: TF32 on (``tf32``) or off (anything else) for torch and TensorFlow.

    On Ampere and newer GPUs TensorFlow uses TF32 for float32 matmuls *by default*, so a
    "float32" timing there is really TF32 unless it is switched off. The previous setting
    is restored on exit.
    """

    def __init__(self, backend: str, name: str):
        self.backend, self.tf32 = backend, name == "tf32"

    def __enter__(self):
        if self.backend == "torch":
            import torch

            self.saved = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("high" if self.tf32 else "highest")
        elif self.backend == "tensorflow":
            import tensorflow as tf

            self.saved = tf.config.experimental.tensor_float_32_execution_enabled()
            tf.config.experimental.enable_tensor_float_32_execution(self.tf32)
        return self

    def __exit__(self, *exc):
        if self.backend == "torch":
            import torch

            torch.set_float32_matmul_precision(self.saved)
        elif self.backend == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_tensor_float_32_execution(self.saved)
        return False


def time_gemm(
    n: int,
    dtype: Any = "float32",
    device: str = "cpu",
    backend: str | None = None,
    *,
    warmup: int = 2,
    repeats: int = 10,
    seed: int = 0,
) -> TimingResult:
    """Time the product of two random ``(n, n)`` matrices, the right way.

    Parameters
    ----------
    n : int
        Matrix size.
    dtype : str, default "float32"
        ``"float32"`` or ``"float64"``; with torch/TensorFlow also ``"float16"``,
        ``"bfloat16"``, and on a GPU ``"tf32"`` (float32 data, TF32 tensor-core math).
        ``"float32"`` switches TF32 *off* for the timing.
    device : {"cpu", "cuda", "cuda:N"}, default "cpu"
    backend : {"numpy", "torch", "tensorflow"}, optional
        Default: NumPy on the CPU, PyTorch on a GPU.
    warmup, repeats : int
        As in :func:`time_callable`.
    seed : int, default 0
        For the random matrices (uniform on [0, 1)).

    Returns
    -------
    TimingResult
        With ``flops = 2 n**3`` (see :func:`gemm_flops`), so ``.gflops`` is the rate.

    Notes
    -----
    The output matrix is allocated once and reused (``out=``) where the backend allows, so
    the time is the product's, not the allocator's. CUDA times come from CUDA events
    (PyTorch) or a device synchronisation around a wall clock (TensorFlow).

    Examples
    --------
    >>> r = time_gemm(256, "float64", repeats=3)
    >>> r.flops == 2 * 256**3
    True
    """
    func = "time_gemm"
    n = check_positive_int(n, name="n", func=func)
    kind, index = _parse_device(device, func)
    backend = _resolve_backend(backend, kind, func)
    name = _check_gemm_dtype(dtype, backend, kind, func)
    if kind == "cuda":
        _require_cuda(func, index)
    fn, sync = _gemm_operands(n, name, backend, kind, index, seed)
    with _Float32Mode(backend, name):
        return time_callable(
            fn,
            warmup=warmup,
            repeats=repeats,
            device="cpu" if kind == "cpu" else f"cuda:{index}",
            flops=gemm_flops(n, n, n),
            sync=sync,
        )


def gemm_sweep(
    sizes: Iterable[int],
    dtypes: Sequence[Any] = ("float32", "float64"),
    devices: Sequence[str] | None = None,
    backend: str | None = None,
    *,
    warmup: int = 2,
    repeats: int = 5,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Time GEMM for every size x dtype x device; one record (dict) per combination.

    Parameters
    ----------
    sizes : iterable of int
        Matrix sizes ``N``.
    dtypes : sequence of str, default ("float32", "float64")
    devices : sequence of str, optional
        Default: ``["cpu"]``, plus ``"cuda"`` when :func:`cuda_available`.
    backend : str, optional
        As in :func:`time_gemm` (default NumPy on the CPU, PyTorch on GPUs).
    warmup, repeats, seed
        As in :func:`time_gemm`.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    list of dict
        Keys ``n``, ``dtype``, ``backend`` and those of :meth:`TimingResult.as_record`
        (``device``, ``device_name``, ``median_s``, ``iqr_s``, ``gflops``, ...): ready for
        ``pandas.DataFrame(records)`` or :func:`lapenna_labs.plots.plot_gflops`.

    Examples
    --------
    >>> recs = gemm_sweep([64, 128], ["float64"], ["cpu"], repeats=2, progress=False)
    >>> [r["n"] for r in recs]
    [64, 128]
    """
    from tqdm.auto import tqdm

    func = "gemm_sweep"
    sizes = [check_positive_int(s, name="sizes", func=func) for s in sizes]
    if not sizes:
        raise ValueError(f"{func}: sizes is empty")
    if isinstance(dtypes, str):
        dtypes = [dtypes]
    if devices is None:
        devices = ["cpu"] + (["cuda"] if cuda_available() else [])
    elif isinstance(devices, str):
        devices = [devices]
    combos = []
    for device in devices:
        kind, _ = _parse_device(device, func)
        chosen = _resolve_backend(backend, kind, func)
        for dtype in dtypes:
            _check_gemm_dtype(dtype, chosen, kind, func)
            combos.extend((device, chosen, dtype, n) for n in sizes)
    records = []
    for device, chosen, dtype, n in tqdm(combos, desc="GEMM sweep", disable=not progress):
        result = time_gemm(n, dtype, device, chosen, warmup=warmup, repeats=repeats, seed=seed)
        record = {"n": n, "dtype": _dtype_name(dtype), "backend": chosen}
        records.append({**record, **result.as_record()})
    return records


@dataclass(frozen=True)
class NaiveTiming:
    """One un-warmed, unsynchronised measurement, as in the slides (see :func:`naive_time_gemm`).

    Attributes
    ----------
    seconds : float
        ``time.time()`` difference around one call.
    gflops : float
        ``2 n**3 / seconds / 1e9`` (``inf`` if the clock did not tick).
    n : int
    dtype, device, backend : str
    """

    seconds: float
    gflops: float
    n: int
    dtype: str
    device: str
    backend: str


def naive_time_gemm(
    n: int,
    dtype: Any = "float32",
    device: str = "cpu",
    backend: str | None = None,
    *,
    seed: int | None = 0,
) -> NaiveTiming:
    """Time one matrix product the way the lecture's Lab 2 Problem 4 does -- kept to show
    what goes wrong. Use :func:`time_gemm` for real measurements.

    Parameters
    ----------
    n : int
        Matrix size (the slides use 2000, 4000, 6000).
    dtype : str, default "float32"
    device : {"cpu", "cuda"}, default "cpu"
    backend : {"numpy", "torch"}, optional
        Default NumPy on the CPU, PyTorch on a GPU (as in the slides).
    seed : int, optional
        For the random matrices.

    Returns
    -------
    NaiveTiming

    Notes
    -----
    The slides' code is ``t0 = time.time(); C = np.dot(A, B); t1 = time.time()`` and
    ``GFLOPS = 2*N**3 / (t1 - t0)``, once, with no warm-up; for the GPU the same lines around
    ``torch.matmul`` on CUDA tensors. What goes wrong:

    1. **No synchronisation on the GPU.** ``torch.matmul`` on CUDA tensors only *queues* the
       kernel and returns; ``time.time()`` right after it measures the launch (microseconds),
       not the product. On a fast GPU such a rate lands far above the card's FP32 peak,
       which is how to spot it (``lapenna_labs.measurements.recorded_run("gemm_naive")``
       holds one such measurement on an H100, with its provenance). The slides' own
       "7077 GFLOPS" came from a first call, which also pays for loading cuBLAS: a mix of
       one-off start-up cost and launch, neither of which is the product.
    2. **No warm-up.** The first call pays one-off costs: first-touch page faults of the
       output, BLAS thread start-up, library loading.
    3. **One sample.** Nothing says how noisy the number is; another process on the machine
       changes it silently.
    4. **A coarse clock.** ``time.time()`` is wall-clock time that can jump and, on some
       systems, ticks every 15 ms; ``time.perf_counter()`` is the clock for intervals.

    Examples
    --------
    >>> t = naive_time_gemm(128, "float64")
    >>> t.seconds >= 0
    True
    """
    func = "naive_time_gemm"
    n = check_positive_int(n, name="n", func=func)
    kind, index = _parse_device(device, func)
    backend = _resolve_backend(backend, kind, func)
    if backend == "tensorflow":
        raise ValueError(f"{func}: the slides time NumPy and PyTorch; use backend 'numpy'/'torch'")
    name = _check_gemm_dtype(dtype, backend, kind, func)
    rng = np.random.default_rng(seed)
    A = rng.random((n, n)).astype(name if name != "tf32" else "float32")
    B = rng.random((n, n)).astype(A.dtype)
    if backend == "numpy":
        timestt = time.time()
        np.dot(A, B)
        timeend = time.time()
    else:
        torch = _require_cuda(func, index) if kind == "cuda" else _import_torch(func)
        dev = "cpu" if kind == "cpu" else f"cuda:{index}"
        tdtype = torch.float32 if name == "tf32" else getattr(torch, name)
        At = torch.from_numpy(A).to(device=dev, dtype=tdtype)
        Bt = torch.from_numpy(B).to(device=dev, dtype=tdtype)
        with _Float32Mode("torch", name):
            timestt = time.time()
            torch.matmul(At, Bt)  # on CUDA this returns before the product is done
            timeend = time.time()
        if kind == "cuda":
            torch.cuda.synchronize(index)  # only so the next cell starts clean
    seconds = timeend - timestt
    gflops = _gflops(gemm_flops(n, n, n), seconds)
    return NaiveTiming(
        seconds=seconds,
        gflops=gflops,
        n=n,
        dtype=name,
        device="cpu" if kind == "cpu" else f"cuda:{index}",
        backend=backend,
    )
