"""Exact flop and byte counts of the three BLAS levels, their intensities, and the roofline.

* :func:`itemsize`: bytes per element, for NumPy dtypes and the names ``"fp32"``,
  ``"bf16"``, ``"tf32"`` ... that GPU datasheets use;
* flops and bytes of AXPY (level 1), GEMV (level 2) and GEMM (level 3) [3]_, and their
  computational intensity (flops per byte moved); the flops of AXPBY, the slides' Level 1
  operation, which the reference BLAS does not have;
* :func:`vector_add_bytes`: the DRAM traffic of ``z = x + y``, the streaming kernel that
  measures memory bandwidth, with the write-allocate read that STREAM does not count [4]_;
* :func:`attainable_gflops`: the roofline ``min(peak, bandwidth x intensity)`` [2]_.

References
----------
.. [2] S. Williams, A. Waterman, D. Patterson, "Roofline: an insightful visual performance
   model for multicore architectures", Commun. ACM 52(4), 2009.
.. [3] J. Dongarra, J. Du Croz, S. Hammarling, I. Duff, "A set of level 3 basic linear algebra
   subprograms", ACM TOMS 16(1), 1990.
.. [4] J. D. McCalpin, "Memory bandwidth and machine balance in current high performance
   computers", IEEE TCCA Newsletter, December 1995; STREAM, "Counting bytes and FLOPS",
   https://www.cs.virginia.edu/stream/ref.html
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_positive_int

__all__ = [
    "attainable_gflops",
    "axpby_flops",
    "axpy_bytes",
    "axpy_flops",
    "axpy_intensity",
    "gemm_bytes",
    "gemm_flops",
    "gemm_intensity",
    "gemv_bytes",
    "gemv_flops",
    "gemv_intensity",
    "itemsize",
    "vector_add_bytes",
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


def axpby_flops(n: int) -> int:
    """Floating-point operations of AXPBY, ``y <- a x + b y``: ``3 n``, against AXPY's ``2 n``.

    Two multiplications (``a x_i``, ``b y_i``) and one addition per element of the length-``n``
    vectors. The bytes are AXPY's (:func:`axpy_bytes`): read ``x`` and ``y``, write ``y``.

    Notes
    -----
    AXPBY is not a routine of the reference BLAS, whose Level 1 update is AXPY; Intel MKL and
    OpenBLAS add ``?axpby`` as an extension. GEMV and GEMM, the Level 2 and 3 routines, do
    have both ``alpha`` and ``beta``.

    Examples
    --------
    >>> axpby_flops(1000), axpy_flops(1000)  # beta y costs one more multiply per element
    (3000, 2000)
    """
    (n,) = _dims("axpby_flops", n=n)
    return 3 * n


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

    AXPY updates ``y`` in place: the cache line of ``y`` that is written has just been read,
    so a write-allocate cache moves nothing extra. An out-of-place kernel such as
    ``z = x + y`` does pay an extra read of ``z`` (see :func:`vector_add_bytes`).

    References
    ----------
    .. [2] Williams, Waterman, Patterson, Commun. ACM 52(4), 2009.

    Examples
    --------
    >>> axpy_bytes(1000), axpy_bytes(1000, "float32")
    (24000, 12000)
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


def vector_add_bytes(
    n: int, dtype: Any = "float64", *, in_place: bool = False, write_allocate: bool = True
) -> int:
    """Bytes that the vector addition ``z = x + y`` moves between DRAM and the core.

    The kernel of choice for measuring memory bandwidth: one add per element, nothing to
    reuse. Dividing these bytes by its time gives the bandwidth, so they must be the bytes the
    hardware really moves, or the bandwidth comes out wrong.

    Parameters
    ----------
    n : int
        Vector length.
    dtype : str or dtype, default "float64"
        Element type; its size is ``itemsize(dtype)``.
    in_place : bool, default False
        ``True`` for ``y = x + y`` (``np.add(x, y, out=y)``): the written lines of ``y`` were
        just read, so no write-allocate read is needed.
    write_allocate : bool, default True
        Count the read of ``z``'s cache lines that a write-allocate cache makes before it
        writes them (every x86 and most other CPUs, for ordinary stores). ``False`` gives
        STREAM's convention: only the reads and writes the program asks for.

    Returns
    -------
    int
        ``4 n itemsize`` (read ``x`` and ``y``, read then write ``z``); ``3 n itemsize`` in
        place or in STREAM's convention.

    Notes
    -----
    STREAM credits its SUM kernel ``a(i) = b(i) + c(i)`` with 24 bytes per iteration in
    float64, the references the program makes, and its documentation warns that on machines
    with a write-allocate cache each such kernel moves one extra 8-byte read per iteration,
    to bring the line of the output vector into the cache before it is written [4]_. Counting
    3 words instead of 4 makes the bandwidth come out 3/4 of the true rate, and kernels that
    are really bound by it then seem to beat it.

    References
    ----------
    .. [4] McCalpin, IEEE TCCA Newsletter, 1995; https://www.cs.virginia.edu/stream/ref.html

    Examples
    --------
    >>> vector_add_bytes(1000)  # read x, read y, read z's lines, write z
    32000
    >>> vector_add_bytes(1000, in_place=True), vector_add_bytes(1000, write_allocate=False)
    (24000, 24000)
    """
    (n,) = _dims("vector_add_bytes", n=n)
    words_per_element = 3 if in_place or not write_allocate else 4
    return words_per_element * n * itemsize(dtype, func="vector_add_bytes")


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
