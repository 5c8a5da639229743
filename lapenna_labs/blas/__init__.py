"""BLAS levels, computational intensity, honest GEMM timing on CPU and GPU, and tiling.

Weeks 1 and 2 of the course in code, one module per topic; every public name is also here,
so ``from lapenna_labs import blas; blas.time_gemm(...)`` reaches it:

========== ==================================================================================
module     what it holds
========== ==================================================================================
counts     exact flop and byte counts of AXPY, GEMV, GEMM (the three BLAS levels), their
           computational intensity, the flops of AXPBY (:func:`axpby_flops`),
           :func:`itemsize`, the roofline :func:`attainable_gflops`
peaks      :data:`PEAK_GFLOPS` for common NVIDIA GPUs, :func:`lookup_gpu_peak`, and
           :func:`cpu_peak_estimate` for this CPU, which names its clock's source
           (:data:`CLOCK_SOURCES`)
devices    :func:`cuda_available`, :func:`device_name`, :func:`get_synchronizer`
timing     :func:`time_callable` / :func:`time_gemm` / :func:`gemm_sweep` (warm-up, repeats,
           CUDA events or an explicit synchronisation, median and spread, GFLOP/s), and
           :func:`naive_time_gemm`, the lecture's Lab 2 Problem 4 timing, kept to show what
           goes wrong
tiling     :func:`blocked_matmul`, a tiled matrix product with the slow-memory traffic it
           implies, and the block-size rule ``3 b**2 <= M``
========== ==================================================================================

Only NumPy is needed; torch and TensorFlow are imported inside the functions that use them,
so the package imports (and every CPU/NumPy path works) without either installed.

Examples
--------
>>> from lapenna_labs import blas
>>> blas.gemm_flops(2000, 2000, 2000) == 2 * 2000**3
True
>>> blas.gemm_flops is blas.counts.gemm_flops
True
"""

from .counts import (
    attainable_gflops,
    axpby_flops,
    axpy_bytes,
    axpy_flops,
    axpy_intensity,
    gemm_bytes,
    gemm_flops,
    gemm_intensity,
    gemv_bytes,
    gemv_flops,
    gemv_intensity,
    itemsize,
    vector_add_bytes,
)
from .devices import cuda_available, device_name, get_synchronizer
from .peaks import CLOCK_SOURCES, PEAK_GFLOPS, CpuPeakEstimate, cpu_peak_estimate, lookup_gpu_peak
from .tiling import (
    BlockedTraffic,
    block_size_for_cache,
    blocked_matmul,
    blocked_matmul_intensity,
    blocked_matmul_words,
    naive_matmul_intensity,
    num_blocks_for_cache,
)
from .timing import (
    NaiveTiming,
    TimingResult,
    gemm_sweep,
    naive_time_gemm,
    time_callable,
    time_gemm,
)

__all__ = [
    "CLOCK_SOURCES",
    "PEAK_GFLOPS",
    "BlockedTraffic",
    "CpuPeakEstimate",
    "NaiveTiming",
    "TimingResult",
    "attainable_gflops",
    "axpby_flops",
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
    "num_blocks_for_cache",
    "time_callable",
    "time_gemm",
    "vector_add_bytes",
]
