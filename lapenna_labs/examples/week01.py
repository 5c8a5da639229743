"""Week 1's worked examples (HPC, the BLAS levels): the P100's peak and the blocked product.

p100_fp64_peak_gflops
    The slide "Level 1, 2 and 3 BLAS": an NVIDIA P100's FP64 peak at a given clock.
blocked_matmul_traffic, best_block_size
    The slide "Block MM": flops and slow-memory words of the blocked product, counted, and the
    largest block that fits in fast memory.
"""

from __future__ import annotations

import math

__all__ = [
    "p100_fp64_peak_gflops",
    "blocked_matmul_traffic",
    "best_block_size",
]


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
    for name, value in (("n", n), ("num_blocks", num_blocks)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"blocked_matmul_traffic: {name} must be a positive integer, got {value!r}"
            )
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
    if isinstance(fast_memory_words, bool) or not isinstance(fast_memory_words, int):
        raise ValueError("best_block_size: fast_memory_words must be a positive integer")
    if fast_memory_words < 3:
        raise ValueError(
            f"best_block_size: fast_memory_words must be >= 3, got {fast_memory_words}"
        )
    return math.isqrt(fast_memory_words // 3)
