"""BLAS levels, computational intensity, honest GEMM timing on CPU and GPU, and tiling.

Weeks 1 and 2 of the course in code:

* exact flop and byte counts for the three BLAS levels -- AXPY (level 1), GEMV (level 2),
  GEMM (level 3) -- and their computational intensity (flops per byte moved);
* :func:`time_callable` / :func:`time_gemm` / :func:`gemm_sweep`: timing that is right on a CPU
  and on a GPU (warm-up, repeats, CUDA events or an explicit synchronisation, median and
  spread, GFLOP/s);
* :func:`naive_time_gemm`: the lecture's Lab 2 Problem 4 timing, kept to show what goes wrong;
* :func:`blocked_matmul`: a tiled matrix product in NumPy, with the slow-memory traffic it
  implies, and the block-size rule ``3 b**2 <= M``;
* :data:`PEAK_GFLOPS` for common NVIDIA GPUs and :func:`cpu_peak_estimate` for this CPU.

Only NumPy is needed; torch and TensorFlow are imported inside the functions that use them,
so the module imports (and every CPU/NumPy path works) without either installed.

References
----------
.. [1] J. Demmel, "Single processor machines: memory hierarchies and processor features",
   CS267 lecture 2, UC Berkeley (the blocked matrix multiply and its intensity).
   https://sites.google.com/lbl.gov/cs267-spr2022
.. [2] S. Williams, A. Waterman, D. Patterson, "Roofline: an insightful visual performance
   model for multicore architectures", Commun. ACM 52(4), 2009.
.. [3] J. Dongarra, J. Du Croz, S. Hammarling, I. Duff, "A set of level 3 basic linear algebra
   subprograms", ACM TOMS 16(1), 1990.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import as_float_array, check_positive_int

__all__ = [
    "PEAK_GFLOPS",
    "BlockedTraffic",
    "CpuPeakEstimate",
    "NaiveTiming",
    "TimingResult",
    "attainable_gflops",
    "axpy_bytes",
    "axpy_flops",
    "axpy_intensity",
    "block_size_for_cache",
    "blocked_matmul",
    "blocked_matmul_intensity",
    "blocked_matmul_words",
    "cpu_peak_estimate",
    "cuda_available",
    "device_name",
    "gemm_bytes",
    "gemm_flops",
    "gemm_intensity",
    "gemm_sweep",
    "gemv_bytes",
    "gemv_flops",
    "gemv_intensity",
    "get_synchronizer",
    "itemsize",
    "lookup_gpu_peak",
    "naive_matmul_intensity",
    "naive_time_gemm",
    "time_callable",
    "time_gemm",
]

# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------

# Names a student may use for a precision, mapped to the bytes one element takes in memory.
# TF32 is a *compute* mode of the tensor cores: operands are stored as 4-byte float32.
_EXTRA_ITEMSIZES = {"bfloat16": 2, "bf16": 2, "tf32": 4, "fp16": 2, "fp32": 4, "fp64": 8}


def itemsize(dtype: Any, *, func: str = "itemsize") -> int:
    """Bytes per element of ``dtype``.

    Parameters
    ----------
    dtype : str or numpy dtype
        ``"float64"``, ``np.float32``, ``"float16"``, or one of the aliases ``"fp64"``,
        ``"fp32"``, ``"fp16"``, ``"bfloat16"``/``"bf16"`` (2 bytes) and ``"tf32"`` (stored as
        4-byte float32).
    func : str, optional
        The public function name used in error messages.

    Returns
    -------
    int
        The element size in bytes.

    Examples
    --------
    >>> itemsize("float32"), itemsize(np.float64), itemsize("bfloat16")
    (4, 8, 2)
    """
    if isinstance(dtype, str) and dtype.lower() in _EXTRA_ITEMSIZES:
        return _EXTRA_ITEMSIZES[dtype.lower()]
    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        raise ValueError(f"{func}: unknown dtype {dtype!r}") from None


def _dtype_name(dtype: Any) -> str:
    if isinstance(dtype, str):
        name = dtype.lower()
        aliases = {"fp64": "float64", "fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
        return aliases.get(name, name)
    return np.dtype(dtype).name


# --------------------------------------------------------------------------------------------
# flop and byte counts
# --------------------------------------------------------------------------------------------


def _dims(func: str, **dims: Any) -> list[int]:
    return [check_positive_int(v, name=k, func=func) for k, v in dims.items()]


def axpy_flops(n: int) -> int:
    """Floating-point operations of AXPY, ``y <- a x + y`` with vectors of length ``n``.

    Parameters
    ----------
    n : int
        Vector length.

    Returns
    -------
    int
        ``2 n``: one multiply and one add per element.

    Examples
    --------
    >>> axpy_flops(1000)
    2000
    """
    (n,) = _dims("axpy_flops", n=n)
    return 2 * n


def axpy_bytes(n: int, dtype: Any = "float64") -> int:
    """Bytes AXPY must move between memory and the processor.

    Parameters
    ----------
    n : int
        Vector length.
    dtype : str or dtype, default "float64"
        Element type; its size is ``itemsize(dtype)``.

    Returns
    -------
    int
        ``3 n itemsize``: read ``x``, read ``y``, write ``y``.

    Notes
    -----
    All counts in this module are the compulsory traffic of each operand crossing the
    memory bus exactly once, the model used for a roofline [2]_.

    References
    ----------
    .. [2] Williams, Waterman, Patterson, Commun. ACM 52(4), 2009.
    """
    (n,) = _dims("axpy_bytes", n=n)
    return 3 * n * itemsize(dtype, func="axpy_bytes")


def axpy_intensity(n: int, dtype: Any = "float64") -> float:
    """Computational intensity of AXPY in flops per byte: ``2n / (3n itemsize)``.

    It does not depend on ``n``: 1/12 flop/byte in float64, 1/6 in float32. Level 1 BLAS is
    memory bound.

    Examples
    --------
    >>> round(axpy_intensity(10**6, "float64"), 6)
    0.083333
    """
    return axpy_flops(n) / axpy_bytes(n, dtype)


def gemv_flops(m: int, n: int, *, accumulate: bool = True) -> int:
    """Floating-point operations of GEMV with an ``(m, n)`` matrix.

    Parameters
    ----------
    m, n : int
        Rows and columns of ``A``; ``x`` has length ``n``, ``y`` length ``m``.
    accumulate : bool, default True
        ``True``: ``y <- A x + y`` (the BLAS form), exactly ``2 m n`` flops (``m n``
        multiplies, ``m n`` adds). ``False``: ``y <- A x``, exactly ``m (2 n - 1)`` flops
        (each of the ``m`` dot products has ``n`` multiplies and ``n - 1`` adds).

    Returns
    -------
    int

    Examples
    --------
    >>> gemv_flops(3, 4), gemv_flops(3, 4, accumulate=False)
    (24, 21)
    """
    m, n = _dims("gemv_flops", m=m, n=n)
    return 2 * m * n if accumulate else m * (2 * n - 1)


def gemv_bytes(m: int, n: int, dtype: Any = "float64", *, accumulate: bool = True) -> int:
    """Bytes GEMV must move: read ``A`` (m n) and ``x`` (n), write ``y`` (m), and read ``y``
    (m) when accumulating.

    Returns
    -------
    int
        ``(m n + n + 2 m) itemsize`` (``accumulate=True``) or ``(m n + n + m) itemsize``.
    """
    m, n = _dims("gemv_bytes", m=m, n=n)
    words = m * n + n + (2 * m if accumulate else m)
    return words * itemsize(dtype, func="gemv_bytes")


def gemv_intensity(m: int, n: int, dtype: Any = "float64", *, accumulate: bool = True) -> float:
    """Computational intensity of GEMV in flops per byte.

    Tends to ``2 / itemsize`` for large matrices (1/4 flop/byte in float64): every element
    of ``A`` is used once, so level 2 BLAS is memory bound too.

    Examples
    --------
    >>> round(gemv_intensity(4000, 4000, "float64"), 4)
    0.2498
    """
    return gemv_flops(m, n, accumulate=accumulate) / gemv_bytes(m, n, dtype, accumulate=accumulate)


def gemm_flops(m: int, n: int, k: int, *, accumulate: bool = True) -> int:
    """Floating-point operations of GEMM, ``C (m, n) <- A (m, k) B (k, n) [+ C]``.

    Parameters
    ----------
    m, n, k : int
        ``A`` is ``(m, k)``, ``B`` is ``(k, n)``, ``C`` is ``(m, n)``.
    accumulate : bool, default True
        ``True``: ``C <- C + A B``, exactly ``2 m n k`` flops (``m n k`` multiplies and as many
        adds). ``False``: ``C <- A B``, exactly ``m n (2 k - 1)``.

    Returns
    -------
    int

    Notes
    -----
    GFLOP/s figures everywhere (the slides' ``2 N**3``, vendors, LINPACK) use ``2 m n k``
    even for ``C = A B``; the difference, ``m n``, is a relative ``1 / (2 k)``. The timing
    functions here follow that convention.

    Examples
    --------
    >>> gemm_flops(2000, 2000, 2000) == 2 * 2000**3
    True
    >>> gemm_flops(2, 3, 4, accumulate=False)
    42
    """
    m, n, k = _dims("gemm_flops", m=m, n=n, k=k)
    return 2 * m * n * k if accumulate else m * n * (2 * k - 1)


def gemm_bytes(m: int, n: int, k: int, dtype: Any = "float64", *, accumulate: bool = True) -> int:
    """Bytes GEMM must move at least: read ``A`` and ``B``, write ``C``, read ``C`` when
    accumulating.

    Returns
    -------
    int
        ``(m k + k n + 2 m n) itemsize`` (``accumulate=True``) or ``(m k + k n + m n) itemsize``.
    """
    m, n, k = _dims("gemm_bytes", m=m, n=n, k=k)
    words = m * k + k * n + (2 * m * n if accumulate else m * n)
    return words * itemsize(dtype, func="gemm_bytes")


def gemm_intensity(
    m: int, n: int, k: int, dtype: Any = "float64", *, accumulate: bool = True
) -> float:
    """Computational intensity of GEMM in flops per byte.

    For square ``n`` it is ``2 n**3 / (4 n**2 itemsize) = n / (2 itemsize)``: it grows with
    ``n`` (the surface-to-volume effect), so level 3 BLAS can be compute bound -- provided
    the implementation reuses data from fast memory (see :func:`blocked_matmul`).

    Examples
    --------
    >>> gemm_intensity(1000, 1000, 1000, "float64")
    62.5
    """
    return gemm_flops(m, n, k, accumulate=accumulate) / gemm_bytes(
        m, n, k, dtype, accumulate=accumulate
    )


def attainable_gflops(
    intensity: float | np.ndarray, peak_gflops: float, bandwidth_gbs: float
) -> float | np.ndarray:
    """The roofline: ``min(peak, bandwidth x intensity)`` in GFLOP/s.

    Parameters
    ----------
    intensity : float or ndarray
        Flops per byte.
    peak_gflops : float
        Compute ceiling, GFLOP/s.
    bandwidth_gbs : float
        Memory bandwidth, GB/s (10**9 bytes per second).

    Returns
    -------
    float or ndarray
        Attainable GFLOP/s, same shape as ``intensity``.

    Examples
    --------
    >>> round(attainable_gflops(1 / 12, 34_000, 3_350), 1)  # DAXPY on an H100: memory bound
    279.2
    """
    if peak_gflops <= 0 or bandwidth_gbs <= 0:
        raise ValueError("attainable_gflops: peak_gflops and bandwidth_gbs must be positive")
    result = np.minimum(peak_gflops, bandwidth_gbs * np.asarray(intensity, dtype=float))
    return float(result) if result.ndim == 0 else result


# --------------------------------------------------------------------------------------------
# peak figures
# --------------------------------------------------------------------------------------------

#: Vendor peak figures for GPUs a student meets (Colab: T4, L4, A100; clusters: P100, V100,
#: H100, H200), all **dense** GFLOP/s (NVIDIA's Ampere/Ada/Hopper datasheets print tensor-core
#: rates "with sparsity", twice the dense rate; those are halved here) and memory bandwidth
#: in GB/s. ``None``: the GPU has no such unit. ``fp64`` and ``fp32`` are the CUDA-core
#: (vector FMA) rates; the ``*_tensor`` entries are tensor-core matrix rates, which is what
#: cuBLAS GEMM reaches (an H100 DGEMM runs on the FP64 tensor cores, above the 34 TFLOP/s
#: vector rate). Figures marked "derived" in ``notes`` are not printed on the datasheet.
PEAK_GFLOPS: dict[str, dict[str, Any]] = {
    "T4": {
        "variant": "T4 PCIe 70 W, 16 GB GDDR6 (Turing)",
        "fp64": 253.0,
        "fp64_tensor": None,
        "fp32": 8_100.0,
        "tf32_tensor": None,
        "fp16_tensor": 65_000.0,
        "bf16_tensor": None,
        "bandwidth_gbs": 320.0,
        "notes": "FP64 derived as FP32/32 (Turing); datasheet memory bandwidth '320+ GB/s'; "
        "Turing tensor cores have no TF32 or BF16 (no sparsity either).",
        "source": "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/"
        "t4-tensor-core-datasheet-951643.pdf",
    },
    "P100": {
        "variant": "Tesla P100 PCIe 16 GB HBM2 (Pascal); the slides' 'Peak DP = 4700 Gflop/s'",
        "fp64": 4_700.0,
        "fp64_tensor": None,
        "fp32": 9_300.0,
        "tf32_tensor": None,
        "fp16_tensor": None,
        "bf16_tensor": None,
        "bandwidth_gbs": 732.0,
        "notes": "No tensor cores; packed FP16 on CUDA cores 18,700 GFLOP/s. SXM2 (NVLink) "
        "variant: FP64 5,300, FP32 10,600, FP16 21,200.",
        "source": "https://images.nvidia.com/content/tesla/pdf/"
        "nvidia-tesla-p100-PCIe-datasheet.pdf",
    },
    "V100": {
        "variant": "Tesla V100 SXM2 (Volta)",
        "fp64": 7_800.0,
        "fp64_tensor": None,
        "fp32": 15_700.0,
        "tf32_tensor": None,
        "fp16_tensor": 125_000.0,
        "bf16_tensor": None,
        "bandwidth_gbs": 900.0,
        "notes": "PCIe variant: FP64 7,000, FP32 14,000, tensor 112,000. Volta tensor cores "
        "are FP16 only (no sparsity).",
        "source": "https://images.nvidia.com/content/technologies/volta/pdf/"
        "volta-v100-datasheet-update-us-1165301-r5.pdf",
    },
    "A100": {
        "variant": "A100 SXM4 40 GB HBM2 (Ampere; Colab's A100)",
        "fp64": 9_700.0,
        "fp64_tensor": 19_500.0,
        "fp32": 19_500.0,
        "tf32_tensor": 156_000.0,
        "fp16_tensor": 312_000.0,
        "bf16_tensor": 312_000.0,
        "bandwidth_gbs": 1_555.0,
        "notes": "Datasheet sparse rates: TF32 312,000, FP16/BF16 624,000. The 80 GB SXM "
        "variant has 2,039 GB/s (80 GB PCIe: 1,935 GB/s), same compute.",
        "source": "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
        "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
    },
    "L4": {
        "variant": "L4 PCIe 72 W, 24 GB GDDR6 (Ada Lovelace)",
        "fp64": 473.0,
        "fp64_tensor": None,
        "fp32": 30_300.0,
        "tf32_tensor": 60_000.0,
        "fp16_tensor": 121_000.0,
        "bf16_tensor": 121_000.0,
        "bandwidth_gbs": 300.0,
        "notes": "FP64 derived as FP32/64 (Ada). Datasheet sparse rates: TF32 120,000, "
        "FP16/BF16 242,000.",
        "source": "https://www.nvidia.com/en-us/data-center/l4/ (L4 datasheet)",
    },
    "H100": {
        "variant": "H100 SXM5 80 GB HBM3 (Hopper)",
        "fp64": 34_000.0,
        "fp64_tensor": 67_000.0,
        "fp32": 67_000.0,
        "tf32_tensor": 494_500.0,
        "fp16_tensor": 989_500.0,
        "bf16_tensor": 989_500.0,
        "bandwidth_gbs": 3_350.0,
        "notes": "Datasheet sparse rates: TF32 989,000, FP16/BF16 1,979,000 (halved here). "
        "PCIe variant: FP64 26,000, FP64 tensor 51,000, FP32 51,000, 2,000 GB/s.",
        "source": "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet",
    },
    "H200": {
        "variant": "H200 SXM 141 GB HBM3e (Hopper)",
        "fp64": 34_000.0,
        "fp64_tensor": 67_000.0,
        "fp32": 67_000.0,
        "tf32_tensor": 494_500.0,
        "fp16_tensor": 989_500.0,
        "bf16_tensor": 989_500.0,
        "bandwidth_gbs": 4_800.0,
        "notes": "The H100 SXM's chip and clocks with more, faster memory: the same compute, "
        "4.8 TB/s instead of 3.35. Datasheet sparse rates: TF32 989,000, FP16/BF16 1,979,000 "
        "(halved here). NVL (PCIe) variant: FP64 30,000, FP32 60,000.",
        "source": "https://www.nvidia.com/en-us/data-center/h200/",
    },
}

_PRECISION_KEYS = {
    "float64": ("fp64_tensor", "fp64"),
    "float32": ("fp32",),
    "tf32": ("tf32_tensor",),
    "float16": ("fp16_tensor",),
    "bfloat16": ("bf16_tensor",),
}


def lookup_gpu_peak(name: str, dtype: Any | None = None) -> dict[str, Any] | float | None:
    """Find a GPU of :data:`PEAK_GFLOPS` from a device name such as ``torch`` reports it.

    Parameters
    ----------
    name : str
        e.g. ``"Tesla T4"``, ``"NVIDIA A100-SXM4-40GB"``, ``"NVIDIA H100 80GB HBM3"``.
    dtype : str, optional
        If given (``"float64"``, ``"float32"``, ``"tf32"``, ``"float16"``, ``"bfloat16"``),
        return the GEMM ceiling for that precision in GFLOP/s (for float64 the FP64 tensor
        rate where the GPU has one), else the whole entry.

    Returns
    -------
    dict, float or None
        ``None`` if the GPU is not in the table or has no unit for that precision.

    Examples
    --------
    >>> lookup_gpu_peak("Tesla T4", "float32")
    8100.0
    >>> lookup_gpu_peak("NVIDIA L40S") is None
    True
    """
    for key, entry in PEAK_GFLOPS.items():
        # A word boundary keeps "L4" from matching "L40S" and "A100" from "A1000".
        if re.search(rf"(?<![A-Za-z0-9]){key}(?![0-9])", name, flags=re.IGNORECASE):
            if dtype is None:
                return entry
            keys = _PRECISION_KEYS.get(_dtype_name(dtype))
            if keys is None:
                raise ValueError(
                    f"lookup_gpu_peak: unknown precision {dtype!r}; "
                    f"use one of {sorted(_PRECISION_KEYS)}"
                )
            for k in keys:
                if entry[k] is not None:
                    return entry[k]
            return None
    return None


@dataclass(frozen=True)
class CpuPeakEstimate:
    """A CPU's theoretical peak, ``cores x GHz x FLOPs/cycle/core``, and how it was guessed.

    Attributes
    ----------
    model : str
        CPU model name.
    cores : int
        Physical cores used in the product.
    ghz : float
        Clock frequency in GHz.
    vector_bits : int
        Effective SIMD width the FMA units process per cycle.
    fma_units : int
        FMA pipes per core.
    has_fma : bool
        Whether the CPU has fused multiply-add.
    dtype : str
        ``"float64"`` or ``"float32"``.
    flops_per_cycle : int
        Per core: ``lanes x fma_units x 2`` with FMA (else ``lanes x 2``: one multiply
        pipe and one add pipe), ``lanes = vector_bits / (8 itemsize)``.
    gflops : float
        ``cores x ghz x flops_per_cycle``.
    assumptions : tuple of str
        Where every factor came from.
    """

    model: str
    cores: int
    ghz: float
    vector_bits: int
    fma_units: int
    has_fma: bool
    dtype: str
    flops_per_cycle: int
    gflops: float
    assumptions: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return (
            f"{self.model}: {self.cores} cores x {self.ghz:.2f} GHz x "
            f"{self.flops_per_cycle} FLOP/cycle = {self.gflops:.1f} GFLOP/s ({self.dtype})"
        )


def _read_cpuinfo() -> list[dict[str, str]]:
    """The blocks of /proc/cpuinfo as dicts (empty list where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return []
    blocks = []
    for block in text.strip().split("\n\n"):
        entry = {}
        for line in block.splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                entry[key.strip()] = value.strip()
        if entry:
            blocks.append(entry)
    return blocks


def cpu_peak_estimate(
    dtype: Any = "float64",
    *,
    cores: int | None = None,
    ghz: float | None = None,
    vector_bits: int | None = None,
    fma_units: int | None = None,
) -> CpuPeakEstimate:
    """Estimate this CPU's peak GFLOP/s from ``/proc/cpuinfo``.

    Parameters
    ----------
    dtype : {"float64", "float32"}, default "float64"
        The precision; float32 has twice the SIMD lanes.
    cores, ghz, vector_bits, fma_units : optional
        Override any factor (e.g. the turbo clock from the vendor's page).

    Returns
    -------
    CpuPeakEstimate
        With ``.gflops`` and the ``.assumptions`` behind each factor.

    Notes
    -----
    ``peak = cores x f x lanes x fma_units x 2``; the last 2 is because one FMA
    (``a * b + c``) counts as two flops. The defaults are guesses, stated in ``.assumptions``:

    * cores: distinct (physical id, core id) pairs in ``/proc/cpuinfo`` -- hyperthreads share
      one core's FMA units -- limited to the CPUs this process may run on; else
      ``os.cpu_count()``.
    * clock: ``cpuinfo_max_freq`` from sysfs where the kernel exposes it, else ``cpu MHz``
      from ``/proc/cpuinfo``. In a virtual machine that is the nominal clock; turbo boost
      can run 30-40 % faster, so a measured GEMM may beat this "peak". Heavy AVX-512 use can
      also lower the clock.
    * SIMD width: 512 bits with ``avx512f``, 256 with ``avx``/``avx2``, 128 with SSE2 or
      ARM NEON. AMD Zen 4 (family 25 with AVX-512) executes 512-bit instructions as two
      256-bit halves, so its effective width is 256.
    * FMA units: 2 per core (Intel since Haswell, AMD since Zen 2, Apple and Neoverse cores
      have more 128-bit units than that -- override ``fma_units``). Some Xeon Silver/Bronze
      parts have only one 512-bit FMA unit.

    Examples
    --------
    >>> est = cpu_peak_estimate("float64", cores=2, ghz=2.6, vector_bits=256, fma_units=2)
    >>> est.flops_per_cycle, round(est.gflops, 1)
    (16, 83.2)
    """
    func = "cpu_peak_estimate"
    name = _dtype_name(dtype)
    if name not in ("float64", "float32"):
        raise ValueError(f"{func}: dtype must be 'float64' or 'float32', got {dtype!r}")
    info = _read_cpuinfo()
    first = info[0] if info else {}
    assumptions: list[str] = []
    model = first.get("model name") or platform.processor() or platform.machine() or "CPU"

    if cores is None:
        try:
            allowed = os.sched_getaffinity(0)
        except AttributeError:  # not on Linux
            allowed = set(range(os.cpu_count() or 1))
        pairs = {
            (b.get("physical id", "0"), b["core id"])
            for b in info
            if "core id" in b and int(b.get("processor", -1)) in allowed
        }
        if pairs:
            cores = len(pairs)
            assumptions.append(f"cores: {cores} physical cores in /proc/cpuinfo")
        else:
            cores = len(allowed)
            assumptions.append(f"cores: {cores} logical CPUs (no core ids found)")
    else:
        assumptions.append(f"cores: {cores} (given)")
    cores = check_positive_int(cores, name="cores", func=func)

    if ghz is None:
        try:
            with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as fh:
                ghz = int(fh.read().strip()) / 1e6
            assumptions.append(f"clock: {ghz:.2f} GHz, cpuinfo_max_freq (sysfs)")
        except (OSError, ValueError):
            mhz = [float(b["cpu MHz"]) for b in info if "cpu MHz" in b]
            if mhz:
                ghz = max(mhz) / 1000
                assumptions.append(
                    f"clock: {ghz:.2f} GHz, 'cpu MHz' in /proc/cpuinfo (nominal or current; "
                    "turbo can be higher)"
                )
            else:
                ghz = 2.5
                assumptions.append("clock: 2.5 GHz assumed (no frequency found)")
    else:
        assumptions.append(f"clock: {ghz:.2f} GHz (given)")
    if not ghz > 0:
        raise ValueError(f"{func}: ghz must be positive, got {ghz!r}")

    flags = set((first.get("flags") or first.get("Features") or "").split())
    has_fma = bool(flags & {"fma", "asimd", "fphp"}) or platform.machine() in ("arm64", "aarch64")
    if vector_bits is None:
        vendor = first.get("vendor_id", "")
        family = first.get("cpu family", "")
        if "avx512f" in flags and vendor == "AuthenticAMD" and family == "25":
            vector_bits = 256
            assumptions.append("SIMD: AVX-512 on AMD Zen 4 runs as 2 x 256 bits: 256 effective")
        elif "avx512f" in flags:
            vector_bits = 512
            assumptions.append("SIMD: 512 bits (avx512f)")
        elif flags & {"avx", "avx2"}:
            vector_bits = 256
            assumptions.append("SIMD: 256 bits (avx/avx2)")
        elif flags & {"sse2", "asimd"} or platform.machine() in ("arm64", "aarch64"):
            vector_bits = 128
            assumptions.append("SIMD: 128 bits (SSE2 / NEON)")
        else:
            vector_bits = 128
            assumptions.append("SIMD: 128 bits assumed (no flags found)")
    else:
        assumptions.append(f"SIMD: {vector_bits} bits (given)")
    vector_bits = check_positive_int(vector_bits, name="vector_bits", func=func)
    if fma_units is None:
        fma_units = 2
        assumptions.append("FMA units: 2 per core assumed" + ("" if has_fma else " (no FMA)"))
    else:
        assumptions.append(f"FMA units: {fma_units} per core (given)")
    fma_units = check_positive_int(fma_units, name="fma_units", func=func)

    lanes = max(1, vector_bits // (8 * itemsize(name)))
    flops_per_cycle = lanes * fma_units * 2 if has_fma else lanes * 2
    return CpuPeakEstimate(
        model=model,
        cores=cores,
        ghz=float(ghz),
        vector_bits=vector_bits,
        fma_units=fma_units,
        has_fma=has_fma,
        dtype=name,
        flops_per_cycle=flops_per_cycle,
        gflops=cores * float(ghz) * flops_per_cycle,
        assumptions=tuple(assumptions),
    )


# --------------------------------------------------------------------------------------------
# devices
# --------------------------------------------------------------------------------------------


def _import_torch(func: str):
    try:
        import torch
    except ImportError:
        raise RuntimeError(
            f"{func}: this needs PyTorch, which is not installed (pip install torch)"
        ) from None
    return torch


def cuda_available() -> bool:
    """Whether PyTorch is installed and sees a CUDA GPU (``False`` without torch).

    Examples
    --------
    >>> isinstance(cuda_available(), bool)
    True
    """
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _parse_device(device: Any, func: str) -> tuple[str, int]:
    """``"cpu"`` -> ("cpu", 0); ``"cuda"`` / ``"cuda:1"`` -> ("cuda", index)."""
    text = str(device).strip().lower()
    match = re.fullmatch(r"(cpu|cuda)(?::(\d+))?", text)
    if match is None or (match.group(1) == "cpu" and match.group(2) not in (None, "0")):
        raise ValueError(f"{func}: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return match.group(1), int(match.group(2) or 0)


def _require_cuda(func: str, index: int = 0):
    torch = _import_torch(func)
    if not torch.cuda.is_available():
        raise RuntimeError(f"{func}: device 'cuda' was asked for but CUDA is not available")
    if index >= torch.cuda.device_count():
        raise RuntimeError(
            f"{func}: there is no cuda:{index} ({torch.cuda.device_count()} GPU(s) visible)"
        )
    return torch


def device_name(device: str = "cpu") -> str:
    """A readable name of ``device``: the CPU model or e.g. ``"NVIDIA H100 80GB HBM3"``."""
    kind, index = _parse_device(device, "device_name")
    if kind == "cuda":
        return str(_require_cuda("device_name", index).cuda.get_device_name(index))
    info = _read_cpuinfo()
    if info and info[0].get("model name"):
        return info[0]["model name"]
    return platform.processor() or platform.machine() or "CPU"


def _no_sync() -> None:
    """The CPU needs no synchronisation: a NumPy call returns when the work is done."""


def get_synchronizer(device: str = "cpu") -> Callable[[], None]:
    """The function that waits until all work queued on ``device`` has finished.

    On the CPU that is nothing: NumPy (and PyTorch or TensorFlow on the CPU) return when the
    product is computed. A CUDA kernel launch returns at once and the GPU works on in the
    background, so a clock read right after it measures the launch, not the work; timing
    code must call ``torch.cuda.synchronize`` before reading a wall clock.

    Parameters
    ----------
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    callable
        Taking no arguments.

    Raises
    ------
    ValueError
        For a device string that is neither.
    RuntimeError
        For ``"cuda"`` when CUDA (or PyTorch) is not available.
    """
    kind, index = _parse_device(device, "get_synchronizer")
    if kind == "cpu":
        return _no_sync
    torch = _require_cuda("get_synchronizer", index)
    return lambda: torch.cuda.synchronize(index)


# --------------------------------------------------------------------------------------------
# timing
# --------------------------------------------------------------------------------------------


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
        return self.flops / self.median / 1e9 if self.median > 0 else math.inf

    @property
    def gflops_best(self) -> float | None:
        """GFLOP/s at the fastest repeat, or ``None`` without ``flops``."""
        if self.flops is None:
            return None
        return self.flops / self.min / 1e9 if self.min > 0 else math.inf

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


def _check_nonnegative_int(value: Any, name: str, func: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{func}: {name} must be a non-negative integer, got {value!r}")
    return int(value)


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
    warmup = _check_nonnegative_int(warmup, "warmup", func)
    repeats = check_positive_int(repeats, name="repeats", func=func)
    if flops is not None and (
        isinstance(flops, bool) or not isinstance(flops, (int, float, np.number)) or flops <= 0
    ):
        raise ValueError(f"{func}: flops must be a positive number, got {flops!r}")
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
       not the product. Measured on an H100, this style reported about 878,000 GFLOP/s for a
       float32 N = 6000 product whose real rate (CUDA events) was about 48,000 GFLOP/s -- far
       above the GPU's 67,000 GFLOP/s FP32 peak, which is how to spot it. The slides' own
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
    gflops = gemm_flops(n, n, n) / seconds / 1e9 if seconds > 0 else math.inf
    return NaiveTiming(
        seconds=seconds,
        gflops=gflops,
        n=n,
        dtype=name,
        device="cpu" if kind == "cpu" else f"cuda:{index}",
        backend=backend,
    )


# --------------------------------------------------------------------------------------------
# blocked (tiled) matrix multiply
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockedTraffic:
    """Work and slow-memory traffic of one :func:`blocked_matmul` call, in the CS267 model.

    Attributes
    ----------
    flops : int
        ``2 m n k`` (every block product counted as ``C_ij += A_ik B_kj``).
    words : int
        Elements moved between slow and fast memory: each ``C`` block read and written
        once, an ``A`` and a ``B`` block read for every block product.
    block_size : int
    """

    flops: int
    words: int
    block_size: int

    @property
    def intensity(self) -> float:
        """``q = flops / words`` (flops per word; divide by the itemsize for per byte)."""
        return self.flops / self.words


def blocked_matmul(
    A: Any, B: Any, block_size: int, *, return_traffic: bool = False
) -> np.ndarray | tuple[np.ndarray, BlockedTraffic]:
    """Matrix product computed block by block, the way cache-aware BLAS does it.

    Parameters
    ----------
    A : array_like, shape (m, k)
    B : array_like, shape (k, n)
    block_size : int
        Tile edge ``b``; edge tiles are smaller when a dimension is not a multiple of ``b``.
    return_traffic : bool, default False
        Also return the :class:`BlockedTraffic` the loop implies.

    Returns
    -------
    C : ndarray, shape (m, n)
        ``A @ B`` in ``numpy.result_type(A, B)`` (float32 stays float32).
    traffic : BlockedTraffic
        Only with ``return_traffic=True``.

    Raises
    ------
    ValueError
        If ``A`` or ``B`` is not a 2-D real array, their inner dimensions differ, or
        ``block_size`` is not a positive integer.

    Notes
    -----
    With ``C``, ``A``, ``B`` seen as ``N x N`` grids of ``b x b`` blocks (``b = n / N``)::

        for i in range(N):
            for j in range(N):
                load C[i, j]                                # n**2 words in all
                for k in range(N):
                    load A[i, k], B[k, j]                   # 2 N**3 b**2 = 2 N n**2 words
                    C[i, j] += A[i, k] @ B[k, j]            # a b x b product, in fast memory
                store C[i, j]                               # n**2 words

    so ``f = 2 n**3`` flops cost ``m = (2N + 2) n**2`` words of slow-memory traffic and
    ``q = f / m = n / (N + 1) ~ n / N = b`` [1]_ (see :func:`blocked_matmul_intensity`).
    Bigger blocks mean more reuse, until the three blocks no longer fit in fast memory of
    ``M`` words: ``3 b**2 <= M``, so ``q ~ b <= sqrt(M / 3)`` (:func:`block_size_for_cache`).
    The naive triple loop has ``q ~ 2`` (:func:`naive_matmul_intensity`).

    This NumPy version is for learning: each block product is itself a BLAS call, and
    ``A @ B`` is much faster.

    References
    ----------
    .. [1] J. Demmel, CS267 lecture 2, "Single processor machines: memory hierarchies and
       processor features", UC Berkeley, section "Blocked (tiled) matrix multiply".

    Examples
    --------
    >>> A = np.arange(12.0).reshape(3, 4); B = np.ones((4, 5))
    >>> np.allclose(blocked_matmul(A, B, 2), A @ B)
    True
    """
    func = "blocked_matmul"
    A = as_float_array(A, name="A", func=func, ndim=2)
    B = as_float_array(B, name="B", func=func, ndim=2)
    b = check_positive_int(block_size, name="block_size", func=func)
    m, k = A.shape
    k2, n = B.shape
    if k != k2:
        raise ValueError(f"{func}: A has {k} columns but B has {k2} rows; A @ B needs them equal")
    C = np.zeros((m, n), dtype=np.result_type(A, B))
    words = 0
    for i in range(0, m, b):
        for j in range(0, n, b):
            c_block = C[i : i + b, j : j + b]  # a view: += writes into C
            words += c_block.size  # load C_ij
            for p in range(0, k, b):
                a_block = A[i : i + b, p : p + b]
                b_block = B[p : p + b, j : j + b]
                words += a_block.size + b_block.size
                c_block += a_block @ b_block
            words += c_block.size  # store C_ij
    if return_traffic:
        flops = 2 * m * n * k  # as gemm_flops, which rejects empty dimensions
        return C, BlockedTraffic(flops=flops, words=words, block_size=b)
    return C


def blocked_matmul_words(n: int, num_blocks: int) -> int:
    """Slow-memory words of the blocked product of ``n x n`` matrices in ``N x N`` blocks.

    Returns
    -------
    int
        ``(2 N + 2) n**2`` ([1]_ of :func:`blocked_matmul`). Needs ``N`` to divide ``n``.
    """
    n, N = _dims("blocked_matmul_words", n=n, num_blocks=num_blocks)
    if n % N:
        raise ValueError(f"blocked_matmul_words: num_blocks={N} does not divide n={n}")
    return (2 * N + 2) * n * n


def blocked_matmul_intensity(n: int, num_blocks: int) -> float:
    """Computational intensity ``q = f / m`` of the blocked product, flops per word.

    Parameters
    ----------
    n : int
        Matrix size.
    num_blocks : int
        ``N``, blocks per dimension; the block size is ``b = n / N``.

    Returns
    -------
    float
        ``2 n**3 / ((2 N + 2) n**2) = n / (N + 1)``, which is ``~ n / N = b`` for large ``N``.

    Notes
    -----
    The slides write ``q = 2n^3 / ((2N + 2) n^2) ~ n/N`` (right) and then "the optimal value
    of N = sqrt(size of fast memory / 3)". That confuses the number of blocks ``N`` with the
    block size ``b = n / N``: the three ``b x b`` blocks must fit in fast memory, so it is
    ``b <= sqrt(M / 3)`` (:func:`block_size_for_cache`), and ``N = n / b`` follows from ``n``.

    Examples
    --------
    >>> blocked_matmul_intensity(1200, 12)  # b = 100: q = 1200 / 13 ~ 92
    92.3076923076923
    """
    n, N = _dims("blocked_matmul_intensity", n=n, num_blocks=num_blocks)
    return 2 * n**3 / ((2 * N + 2) * n**2)


def naive_matmul_intensity(n: int) -> float:
    """Intensity of the unblocked triple loop when only a row of ``A`` fits in fast memory.

    Returns
    -------
    float
        ``2 n**3 / (n**3 + 3 n**2) ~ 2``: each column of ``B`` is re-read for every row
        of ``A`` (``n**3`` words), plus ``A`` read once and ``C`` read and written once.
    """
    (n,) = _dims("naive_matmul_intensity", n=n)
    return 2 * n**3 / (n**3 + 3 * n**2)


def block_size_for_cache(fast_memory_bytes: int, dtype: Any = "float64") -> int:
    """Largest block size ``b`` with ``3 b**2`` elements fitting in fast memory.

    Parameters
    ----------
    fast_memory_bytes : int
        Fast-memory (cache) size in bytes, e.g. ``32 * 1024`` for a 32 KiB L1.
    dtype : str, default "float64"

    Returns
    -------
    int
        ``floor(sqrt(M / 3))`` with ``M = fast_memory_bytes / itemsize`` words.

    Examples
    --------
    >>> block_size_for_cache(32 * 1024, "float64")  # 4096 words: 3 * 36**2 = 3888 <= 4096
    36
    """
    func = "block_size_for_cache"
    nbytes = check_positive_int(fast_memory_bytes, name="fast_memory_bytes", func=func)
    words = nbytes // itemsize(dtype, func=func)
    b = math.isqrt(words // 3)
    if b == 0:
        raise ValueError(f"{func}: {nbytes} bytes cannot hold three 1 x 1 blocks")
    return b
