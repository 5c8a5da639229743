"""Week 2's worked example (GEMM timing): the slides' timings of Lab 2, Problem 4.

LAB2_PROBLEM4_GPU_CODE
    The slides' GPU code, verbatim.
SLIDE_TIMINGS
    Every timing the slides print in the 'Computational Ecosystem' exercises and Lab 2,
    Problem 4 (a :class:`SlideTiming` each), in the slides' order.
gpu_timing_is_synchronised
    Whether timing code waits for the GPU before it reads the clock (the slides' does not).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LAB2_PROBLEM4_GPU_CODE",
    "SLIDE_TIMINGS",
    "SlideTiming",
    "gpu_timing_is_synchronised",
]


@dataclass(frozen=True)
class SlideTiming:
    """One timing printed in the slides, as printed.

    Attributes
    ----------
    output : str
        Which output block of the slides it is in.
    device : str
        ``"CPU"`` or ``"GPU"`` (Colab's, in 2022; the model was not printed).
    dtype : str
        ``"float32"`` or ``"float64"``.
    n : int
        Matrix size.
    seconds : float
        The printed time.
    method : str
        How the slides timed it.
    printed_gflops : float or None
        The rate the slides print beside it (``None``: they print none).
    """

    output: str
    device: str
    dtype: str
    n: int
    seconds: float
    method: str
    printed_gflops: float | None = None


_ONE_CALL = "time.time() around one call"
_OUTPUT_1, _OUTPUT_2 = "Lab 2 output 1", "Lab 2 output 2"
_OUTPUT_3 = "Lab 2 output 3 (under the N = 6000 CPU and GPU code)"

#: The slides' printed timings, in their order: the float64 ``%timeit`` of the exercises
#: before Lab 2 (the slides convert it as 2 * 5 * 5 * 5 / 7.4 = 33.8 GFLOP/s), R's
#: ``system.time`` of the same product, and the three output blocks of Lab 2, Problem 4.
#: Blocks 1 and 2 are two runs of N = 2000, 4000 and 6000 (each after a ``%timeit`` of
#: N = 2000); block 3 is a third N = 6000 CPU run and the unsynchronised GPU run.
SLIDE_TIMINGS: tuple[SlideTiming, ...] = (
    SlideTiming("exercise 2", "CPU", "float64", 5000, 7.39, "%timeit, best of 3", 33.8),
    SlideTiming("exercise 4 (R)", "CPU", "float64", 5000, 7.840, "R system.time, elapsed"),
    SlideTiming(_OUTPUT_1, "CPU", "float32", 2000, 0.228, "%timeit, best of 5"),
    SlideTiming(_OUTPUT_1, "CPU", "float32", 2000, 0.2360849380493164, _ONE_CALL, 67.7722184744277),
    SlideTiming(_OUTPUT_1, "CPU", "float32", 4000, 1.8578176498413086, _ONE_CALL, 68.8980428251037),
    SlideTiming(_OUTPUT_1, "CPU", "float32", 6000, 6.155170440673828, _ONE_CALL, 70.18489644824643),
    SlideTiming(_OUTPUT_2, "CPU", "float32", 2000, 0.214, "%timeit, best of 5"),
    SlideTiming(
        _OUTPUT_2, "CPU", "float32", 2000, 0.22870469093322754, _ONE_CALL, 69.95921218192831
    ),
    SlideTiming(
        _OUTPUT_2, "CPU", "float32", 4000, 1.8288803100585938, _ONE_CALL, 69.98817762759944
    ),
    SlideTiming(_OUTPUT_2, "CPU", "float32", 6000, 6.098201036453247, _ONE_CALL, 70.84056386754575),
    SlideTiming(_OUTPUT_3, "CPU", "float32", 6000, 6.029452800750732, _ONE_CALL, 71.6482928510878),
    SlideTiming(
        _OUTPUT_3,
        "GPU",
        "float32",
        6000,
        0.06104087829589844,
        "time.time() around one call, not synchronised",
        7077.224510202169,
    ),
)


LAB2_PROBLEM4_GPU_CODE = """\
import torch
A = torch.randn(6000, 6000).cuda()
B = torch.randn(6000, 6000).cuda()
timestt = time.time()
C=torch.matmul(A,B)
timeend = time.time()
tmm6000 = timeend - timestt
gf6000 = 2*6*6*6/tmm6000
print('time = ',tmm6000)
print('GFLOPS = ', gf6000)
"""
"""The slides' GPU timing for Lab 2 Problem 4, verbatim (it prints GFLOPS = 7077.2)."""


def gpu_timing_is_synchronised(code: str) -> bool:
    """Whether GPU timing code waits for the device before it reads the clock the second time.

    A CUDA ``torch.matmul`` returns as soon as the kernel is *queued*; a host clock read right
    after it measures the launch. The check looks, between the matmul and the last
    ``time.time()`` / ``perf_counter()``, for ``torch.cuda.synchronize``, an event's
    ``synchronize``/``elapsed_time``, or a device-to-host copy (``.item()``, ``.cpu()``).

    Parameters
    ----------
    code : str
        Python source, e.g. :data:`LAB2_PROBLEM4_GPU_CODE`.

    Returns
    -------
    bool
    """
    lines = code.splitlines()
    mm = [i for i, s in enumerate(lines) if "matmul" in s or "@" in s or ".mm(" in s]
    clocks = [i for i, s in enumerate(lines) if "time.time()" in s or "perf_counter()" in s]
    if not mm or not clocks:
        return False
    if any("elapsed_time" in s for s in lines):
        return True
    after = [c for c in clocks if c > mm[-1]]
    if not after:
        return False
    between = "\n".join(lines[mm[-1] : after[0] + 1])
    return any(key in between for key in ("synchronize(", ".item()", ".cpu()", ".numpy()"))
