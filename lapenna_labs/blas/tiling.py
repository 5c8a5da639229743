"""The blocked (tiled) matrix multiply and the slow-memory traffic it implies.

* :func:`blocked_matmul`: ``A @ B`` computed block by block in NumPy, optionally with its
  :class:`BlockedTraffic` (flops and words moved, counted in the loop);
* :func:`blocked_matmul_words`, :func:`blocked_matmul_intensity`: the same counts in closed
  form, ``(2N + 2) n**2`` words and ``q = n / (N + 1)`` [1]_;
* :func:`naive_matmul_intensity`: the unblocked triple loop's ``q ~ 2``;
* :func:`block_size_for_cache`: the block-size rule ``3 b**2 <= M``, and
  :func:`num_blocks_for_cache`, the fewest blocks per side that obey it.

References
----------
.. [1] J. Demmel, "Single processor machines: memory hierarchies and processor features",
   CS267 lecture 2, UC Berkeley (the blocked matrix multiply and its intensity).
   https://sites.google.com/lbl.gov/cs267-spr2022
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import as_float_array, check_positive_int
from .counts import _dims, itemsize

__all__ = [
    "BlockedTraffic",
    "block_size_for_cache",
    "blocked_matmul",
    "blocked_matmul_intensity",
    "blocked_matmul_words",
    "naive_matmul_intensity",
    "num_blocks_for_cache",
]


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
    itemsize : int, default 8
        Bytes per element (8 for float64), which turns words into bytes.
    """

    flops: int
    words: int
    block_size: int
    itemsize: int = 8

    @property
    def intensity(self) -> float:
        """``q = flops / words``, flops per word: the slides' (and CS267's) unit."""
        return self.flops / self.words

    @property
    def bytes(self) -> int:
        """Bytes moved: ``words x itemsize``."""
        return self.words * self.itemsize

    @property
    def flops_per_byte(self) -> float:
        """Arithmetic intensity in flop/byte, the roofline's unit: ``q / itemsize``."""
        return self.flops / self.bytes


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
        return C, BlockedTraffic(flops=flops, words=words, block_size=b, itemsize=C.itemsize)
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
    return _largest_block(fast_memory_bytes, dtype, "block_size_for_cache")


def _largest_block(fast_memory_bytes: Any, dtype: Any, func: str) -> int:
    nbytes = check_positive_int(fast_memory_bytes, name="fast_memory_bytes", func=func)
    words = nbytes // itemsize(dtype, func=func)
    b = math.isqrt(words // 3)
    if b == 0:
        raise ValueError(f"{func}: {nbytes} bytes cannot hold three 1 x 1 blocks")
    return b


def num_blocks_for_cache(n: int, fast_memory_bytes: int, dtype: Any = "float64") -> int:
    """The fewest blocks per side ``N`` whose ``b x b`` blocks obey the block-size rule.

    Parameters
    ----------
    n : int
        Matrix size (``A``, ``B``, ``C`` are ``n x n``).
    fast_memory_bytes : int
        Fast-memory (cache) size in bytes.
    dtype : str, default "float64"

    Returns
    -------
    int
        ``N = ceil(n / b_max)`` with ``b_max`` from :func:`block_size_for_cache`. Then every
        block edge, ``ceil(n / N)``, is at most ``b_max``, and ``N - 1`` blocks would be too
        big. Rounding ``n / b_max`` down instead gives blocks that overflow the cache.

    Examples
    --------
    A 512 KiB L2 holds 65536 doubles, so ``b_max = 147``. For ``n = 4096``, ``n // 147 = 27``
    blocks would be ``4096 / 27 = 151.7`` wide, too big; 28 blocks are 146.3 wide:

    >>> block_size_for_cache(512 * 1024), num_blocks_for_cache(4096, 512 * 1024)
    (147, 28)
    """
    func = "num_blocks_for_cache"
    (n,) = _dims(func, n=n)
    b_max = _largest_block(fast_memory_bytes, dtype, func)
    return -(-n // b_max)  # ceil(n / b_max) in integers
