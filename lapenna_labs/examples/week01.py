"""Week 1's worked examples (HPC, the BLAS levels): the Top500, the P100, the blocked product.

TOP500_NOVEMBER_2024, Top500Entry
    Six systems of the TOP500's 64th edition (November 2024) with their HPL ``Rmax`` and
    ``Rpeak``, the worked example of "peak is a ceiling" (:attr:`Top500Entry.hpl_efficiency`).
HPCG_RESULTS, HpcgResult
    HPCG beside HPL for three systems, each pair from a named list.
cpu_and_wall_time, ProcessTimes
    R's ``system.time`` in Python (user, system and elapsed seconds), for the lecture's
    observation that a threaded BLAS call in R reports about twice as much user time as
    elapsed time.
p100_fp64_peak_gflops
    The slide "Level 1, 2 and 3 BLAS": an NVIDIA P100's FP64 peak at a given clock.
blocked_matmul_traffic, best_block_size
    The slide "Block MM": flops and slow-memory words of the blocked product, counted, and the
    largest block that fits in fast memory.

References
----------
TOP500, list of November 2024 (64th edition), https://www.top500.org/lists/top500/2024/11/;
HPCG lists of November 2023 and June 2025, https://www.top500.org/lists/hpcg/.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .._validation import check_positive_int

__all__ = [
    "HPCG_RESULTS",
    "TOP500_EDITION",
    "TOP500_NOVEMBER_2024",
    "HpcgResult",
    "ProcessTimes",
    "Top500Entry",
    "best_block_size",
    "blocked_matmul_traffic",
    "cpu_and_wall_time",
    "p100_fp64_peak_gflops",
]


# --------------------------------------------------------------------------------------------
# The Top500: measured HPL rate against peak, and HPCG beside HPL
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Top500Entry:
    """One system of a TOP500 list, as the list prints it.

    Attributes
    ----------
    rank : int
        Position on the list (by ``rmax_pflops``).
    system : str
    site : str
    rmax_pflops : float
        ``Rmax``: the rate sustained on HPL, a dense linear solve, in PFlop/s (FP64).
    rpeak_pflops : float
        ``Rpeak``: the theoretical peak, cores x clock x flops per cycle, in PFlop/s.
    """

    rank: int
    system: str
    site: str
    rmax_pflops: float
    rpeak_pflops: float

    @property
    def hpl_efficiency(self) -> float:
        """``Rmax / Rpeak``: the fraction of peak that HPL, the friendliest workload, reaches."""
        return self.rmax_pflops / self.rpeak_pflops


TOP500_EDITION = "TOP500, 64th edition, November 2024"

#: Six of the ten fastest systems of the November 2024 list, with the list's Rmax and Rpeak
#: (https://www.top500.org/lists/top500/2024/11/): the three exascale systems of the US
#: Department of Energy, the fastest cloud system, the fastest CPU-only system and a
#: GPU system in Europe.
TOP500_NOVEMBER_2024: tuple[Top500Entry, ...] = (
    Top500Entry(1, "El Capitan", "Lawrence Livermore National Laboratory, USA", 1742.00, 2746.38),
    Top500Entry(2, "Frontier", "Oak Ridge National Laboratory, USA", 1353.00, 2055.72),
    Top500Entry(3, "Aurora", "Argonne National Laboratory, USA", 1012.00, 1980.01),
    Top500Entry(4, "Eagle", "Microsoft Azure, USA", 561.20, 846.84),
    Top500Entry(
        6, "Supercomputer Fugaku", "RIKEN Center for Computational Science, Japan", 442.01, 537.21
    ),
    Top500Entry(7, "Alps", "Swiss National Supercomputing Centre, Switzerland", 434.90, 574.84),
)


@dataclass(frozen=True)
class HpcgResult:
    """A system's HPCG result beside its HPL ``Rmax`` on the same list.

    Attributes
    ----------
    system : str
    edition : str
        The list (month and year) both numbers come from.
    hpl_rmax_pflops : float
        HPL (dense, compute bound), PFlop/s.
    hpcg_pflops : float
        HPCG (sparse conjugate gradients, memory bound), PFlop/s.
    """

    system: str
    edition: str
    hpl_rmax_pflops: float
    hpcg_pflops: float

    @property
    def hpcg_fraction_of_hpl(self) -> float:
        """``HPCG / HPL``: how much of its dense-algebra rate a memory-bound solver keeps."""
        return self.hpcg_pflops / self.hpl_rmax_pflops


#: HPCG and HPL of three leaders of the HPCG ranking, each pair from one list
#: (https://www.top500.org/lists/hpcg/2023/11/ and https://www.top500.org/lists/hpcg/2025/06/).
HPCG_RESULTS: tuple[HpcgResult, ...] = (
    HpcgResult("Supercomputer Fugaku", "November 2023", 442.01, 16.00),
    HpcgResult("Frontier", "November 2023", 1194.00, 14.05),
    HpcgResult("El Capitan", "June 2025", 1742.00, 17.41),
)


# --------------------------------------------------------------------------------------------
# The lecture's R timing: user time against elapsed time
# --------------------------------------------------------------------------------------------


class ProcessTimes(NamedTuple):
    """What R's ``system.time`` prints: user, system and elapsed seconds."""

    user: float
    system: float
    elapsed: float

    @property
    def cpu_per_elapsed(self) -> float:
        """``(user + system) / elapsed``: about the number of cores kept busy."""
        return (self.user + self.system) / self.elapsed


def cpu_and_wall_time(func: Callable[[], Any], *, repeats: int = 1) -> ProcessTimes:
    """Time ``func()`` the way R's ``system.time`` does: CPU time of the process and wall time.

    Parameters
    ----------
    func : callable
        Called with no arguments, ``repeats`` times.
    repeats : int, default 1
        Calls to make; the times are their total.

    Returns
    -------
    ProcessTimes
        ``user``: CPU seconds spent running the program, summed over **all of its threads**;
        ``system``: CPU seconds the kernel spent on its behalf; ``elapsed``: wall-clock seconds.

    Notes
    -----
    A single thread is on a core at most all the time, so for it ``user + system <= elapsed``.
    A threaded BLAS splits a matrix product over ``p`` cores, each of which accumulates CPU
    time: with all ``p`` busy, ``user ~ p x elapsed``. The lecture timed a matrix product in R
    and saw user time about twice the elapsed time: its BLAS ran two threads. Waiting (for
    input, for a parked thread, for other programs to give a core back) adds elapsed time but
    no CPU time.

    The CPU times come from :func:`os.times` (clock ticks, usually 10 ms on Linux), so time
    at least a few tenths of a second of work.

    Examples
    --------
    Sleeping costs wall time, not CPU time (the sleep is long against the 10 ms ticks, so
    that a tick or two of the call's own work cannot tip the comparison):

    >>> t = cpu_and_wall_time(lambda: time.sleep(0.2))
    >>> t.elapsed >= 0.2, t.user + t.system < t.elapsed
    (True, True)
    """
    if not callable(func):
        raise TypeError(f"cpu_and_wall_time: func must be callable, got {type(func).__name__}")
    repeats = check_positive_int(repeats, name="repeats", func="cpu_and_wall_time")
    before, start = os.times(), time.perf_counter()
    for _ in range(repeats):
        func()
    elapsed = time.perf_counter() - start
    after = os.times()
    return ProcessTimes(after.user - before.user, after.system - before.system, elapsed)


# --------------------------------------------------------------------------------------------
# The P100 slide and the "Block MM" slide
# --------------------------------------------------------------------------------------------


def p100_fp64_peak_gflops(clock_ghz: float) -> float:
    """Theoretical double-precision peak of an NVIDIA P100 at a given clock, in GFLOP/s.

    Parameters
    ----------
    clock_ghz : float
        The GPU clock in GHz (the PCIe card boosts to 1.303 GHz, the SXM2 card to 1.480).

    Returns
    -------
    float
        ``56 SMs x 32 FP64 FMA units x 2 flops x clock``.

    Notes
    -----
    At the slides' 1.19 GHz this gives 4265 GFLOP/s, below the 4503 GFLOP/s DGEMM the same slide
    reports, so the clock and the quoted 4700 GFLOP/s peak cannot both be right; 4700 is the PCIe
    datasheet peak at its 1.303 GHz boost clock.

    References
    ----------
    NVIDIA Tesla P100 whitepaper (2016): 56 SMs, 32 FP64 cores per SM.
    """
    sms, fp64_units_per_sm, flops_per_fma = 56, 32, 2
    return sms * fp64_units_per_sm * flops_per_fma * float(clock_ghz)


def blocked_matmul_traffic(n: int, num_blocks: int) -> dict[str, float]:
    """Flops and slow-memory traffic of the slides' "Block MM" (CS267 model), by counting.

    ``A``, ``B``, ``C`` are ``n x n``, seen as ``N x N`` grids of ``b x b`` blocks, ``b = n/N``.
    The loop ``for i, j: read C_ij; for k: read A_ik, B_kj; C_ij += A_ik B_kj; write C_ij``
    is walked and every word moved is counted.

    Parameters
    ----------
    n : int
        Matrix size.
    num_blocks : int
        ``N``, blocks per side; must divide ``n``.

    Returns
    -------
    dict of str to float
        ``flops`` (2 n^3), ``words`` ((2N + 2) n^2), ``intensity`` (flops / words, ~ n/N),
        ``block_size`` (b), ``fast_memory_words`` (3 b^2: one block each of A, B and C).
    """
    n = check_positive_int(n, name="n", func="blocked_matmul_traffic")
    num_blocks = check_positive_int(num_blocks, name="num_blocks", func="blocked_matmul_traffic")
    if n % num_blocks:
        raise ValueError(f"blocked_matmul_traffic: num_blocks={num_blocks} does not divide n={n}")
    b = n // num_blocks
    words = flops = 0
    for _i in range(num_blocks):
        for _j in range(num_blocks):
            words += b * b  # read C_ij
            for _k in range(num_blocks):
                words += 2 * b * b  # read A_ik and B_kj
                flops += 2 * b**3
            words += b * b  # write C_ij
    return {
        "flops": float(flops),
        "words": float(words),
        "intensity": flops / words,
        "block_size": float(b),
        "fast_memory_words": float(3 * b * b),
    }


def best_block_size(fast_memory_words: int) -> int:
    """The largest block edge ``b`` with three ``b x b`` blocks in fast memory: ``3 b^2 <= M``.

    Since the intensity is ``q ~ n/N = b``, this ``b = floor(sqrt(M/3))`` is the best block
    *size*; the number of blocks per side is then ``N = n / b``, which grows with ``n``.
    """
    fast_memory_words = check_positive_int(
        fast_memory_words, name="fast_memory_words", func="best_block_size"
    )
    if fast_memory_words < 3:
        raise ValueError(
            f"best_block_size: fast_memory_words must be >= 3, got {fast_memory_words}"
        )
    return math.isqrt(fast_memory_words // 3)
