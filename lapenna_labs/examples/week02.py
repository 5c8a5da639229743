"""Week 2's worked example (GEMM timing): the slides' GPU timing of Lab 2, Problem 4.

LAB2_PROBLEM4_GPU_CODE
    The slides' code, verbatim.
gpu_timing_is_synchronised
    Whether timing code waits for the GPU before it reads the clock (the slides' does not).
"""

from __future__ import annotations

__all__ = [
    "LAB2_PROBLEM4_GPU_CODE",
    "gpu_timing_is_synchronised",
]


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
