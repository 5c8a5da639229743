r"""Three other ways to compute a convolution layer: a Toeplitz matrix, the FFT and Winograd.

Week 7 compares them with the direct loops and im2col. Each computes exactly the
cross-correlation of :func:`torch.nn.functional.conv2d` (stride 1 unless stated, ``groups=1``,
no dilation) on NCHW batches with weights ``(F, C, KH, KW)``:

.. math:: \text{out}_{nfij} = b_f + \sum_{c=0}^{C-1}\sum_{k=0}^{KH-1}\sum_{l=0}^{KW-1}
          x^{\text{pad}}_{n,c,i+k,j+l}\, w_{fckl}

- :func:`conv2d_toeplitz` writes the layer as one matrix ``T`` (:func:`toeplitz_matrix`) and
  multiplies: a convolution *is* a linear map, and ``T`` is its matrix. It is mostly zeros
  (:func:`toeplitz_nnz`, :func:`toeplitz_density`), which is why nobody computes it densely.
- :func:`conv2d_fft` uses the convolution theorem: a product in the frequency domain.
- :func:`winograd_f2x2_3x3` uses Lavin and Gray's minimal filtering algorithm F(2x2, 3x3),
  16 multiplications per 2x2 output tile instead of 36.

The ``*_multiplications`` functions count multiplications for the week-7 table; they take
shapes, not arrays, so they also answer for layers far too large to run here.

References
----------
.. [1] K. Chellapilla, S. Puri and P. Simard, "High Performance Convolutional Neural Networks
   for Document Processing", 10th International Workshop on Frontiers in Handwriting
   Recognition, 2006 (convolution unrolled into a matrix product).
.. [2] V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning",
   arXiv:1603.07285, 2016, section 4.1 (convolution as a sparse matrix).
.. [3] M. Mathieu, M. Henaff and Y. LeCun, "Fast Training of Convolutional Networks through
   FFTs", ICLR 2014, arXiv:1312.5851.
.. [4] A. Lavin and S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016,
   arXiv:1509.09308.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lapenna_labs._validation import as_float_array
from lapenna_labs.conv._geometry import (
    ConvGeometry,
    as_pair,
    as_shape4,
    conv_geometry,
    shape_geometry,
)

__all__ = [
    "WINOGRAD_A_T",
    "WINOGRAD_B_T",
    "WINOGRAD_DIRECT_MULTIPLICATIONS_PER_TILE",
    "WINOGRAD_G",
    "WINOGRAD_MULTIPLICATIONS_PER_TILE",
    "conv2d_fft",
    "conv2d_toeplitz",
    "direct_multiplications",
    "fft_multiplications",
    "multiplication_counts",
    "toeplitz_density",
    "toeplitz_matrix",
    "toeplitz_multiplications",
    "toeplitz_nnz",
    "winograd_f2x2_3x3",
    "winograd_multiplications",
]

# Lavin and Gray's F(2, 3) transforms, eq. (7) of [4]: Y = A^T [(G g G^T) * (B^T d B)] A
# for a 4x4 input tile d and a 3x3 filter g gives the 2x2 output tile Y.
WINOGRAD_B_T = np.array(
    [[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]]
)
WINOGRAD_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
WINOGRAD_A_T = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]])
for _m in (WINOGRAD_B_T, WINOGRAD_G, WINOGRAD_A_T):
    _m.flags.writeable = False  # shared module constants: a caller must not change them

#: Elementwise products of F(2x2, 3x3) per 2x2 output tile and channel pair (4 x 4).
WINOGRAD_MULTIPLICATIONS_PER_TILE = 16
#: The direct method's products for the same tile: 4 outputs x 9 taps.
WINOGRAD_DIRECT_MULTIPLICATIONS_PER_TILE = 36


# --------------------------------------------------------------------------------------------
# shared checks
# --------------------------------------------------------------------------------------------


def _check_stride_one(stride: Any, func: str) -> None:
    if as_pair(stride, name="stride", func=func) != (1, 1):
        raise ValueError(f"{func}: only stride 1 is supported, got stride={stride!r}")


def _geometry(
    x: Any, w: Any, b: Any, stride: Any, padding: Any, func: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, ConvGeometry]:
    return conv_geometry(x, w, b, stride=stride, padding=padding, dilation=1, groups=1, func=func)


def _add_bias(out: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    if b is not None:
        out += b.astype(out.dtype, copy=False)[None, :, None, None]
    return out


# --------------------------------------------------------------------------------------------
# doubly block Toeplitz matrix
# --------------------------------------------------------------------------------------------


def _axis_taps(size: int, out: int, kernel: int, stride: int, pad: int):
    """``(o, k, i)`` for every output index o and tap k that lands inside the input (i)."""
    o, k = np.meshgrid(np.arange(out), np.arange(kernel), indexing="ij")
    i = o * stride + k - pad
    keep = (i >= 0) & (i < size)
    return o[keep], k[keep], i[keep]


def toeplitz_matrix(w: Any, input_hw: Any, padding: Any = 0, stride: Any = 1) -> np.ndarray:
    r"""The matrix ``T`` of the convolution by `w` on ``C x H x W`` inputs.

    Parameters
    ----------
    w : array_like of float, shape (F, C, KH, KW)
        The filters.
    input_hw : int or pair of int
        ``(H, W)``, the size of the (unpadded) input images.
    padding : int or pair of int, default 0
        Zeros added on each side; they are folded into ``T`` (their columns would be zero).
    stride : int or pair of int, default 1
        A strided convolution keeps a subset of the rows of the stride-1 matrix.

    Returns
    -------
    T : ndarray, shape (F * OH * OW, C * H * W)
        With ``out.reshape(N, -1) == x.reshape(N, -1) @ T.T`` for x of shape (N, C, H, W)
        (rows ordered like ``(f, oh, ow)``, columns like ``(c, h, w)``, both C order).

    Notes
    -----
    Entry ``T[(f, i, j), (c, h, v)] = w[f, c, h - s_h i + p_h, v - s_w j + p_w]`` when both
    kernel indices are in range, else 0. Seen as an ``F x C`` grid of blocks, block ``(f, c)``
    (shape ``OH*OW x H*W``) is itself an ``OH x H`` grid of ``OW x W`` sub-blocks: sub-block
    ``(i, h)`` is the 1-D correlation matrix of kernel row ``k = h - i + p_h`` (zero when k is
    out of range). With stride 1 it depends only on ``h - i``, so block ``(f, c)`` is
    block-Toeplitz, one block row per output row, and each sub-block is a Toeplitz matrix
    (its entries depend only on ``v - j``): a *doubly block Toeplitz* matrix. Chellapilla,
    Puri and Simard [1]_ compute a conv layer as one matrix product; Dumoulin and Visin [2]_
    (sec. 4.1) show this sparse matrix, whose transpose is the transposed convolution.

    Only ``F*C*(taps along H)*(taps along W)`` of the entries can be non-zero
    (:func:`toeplitz_nnz`), so ``T`` is mostly zeros: a dense ``T`` is for small examples.

    References
    ----------
    .. [1] K. Chellapilla, S. Puri and P. Simard, "High Performance Convolutional Neural
       Networks for Document Processing", IWFHR 2006.
    .. [2] V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning",
       arXiv:1603.07285, 2016, section 4.1.

    Examples
    --------
    >>> import numpy as np
    >>> T = toeplitz_matrix(np.array([[[[1.0, 2.0]]]]), (1, 3))
    >>> T
    array([[1., 2., 0.],
           [0., 1., 2.]])
    >>> T.shape, toeplitz_nnz((1, 1, 1, 2), (1, 3))
    ((2, 3), 4)
    """
    func = "toeplitz_matrix"
    H, W = as_pair(input_hw, name="input_hw", func=func)
    w = as_float_array(w, name="w", func=func, ndim=4)
    # A zero-stride stand-in for x: conv_geometry needs one to check the sizes.
    x = np.broadcast_to(np.zeros((), dtype=w.dtype), (1, w.shape[1], H, W))
    _, w, _, g = _geometry(x, w, None, stride, padding, func)
    return _toeplitz(w, g)


def _toeplitz(w: np.ndarray, g: ConvGeometry) -> np.ndarray:
    oi, ki, hi = _axis_taps(g.H, g.OH, g.KH, g.stride[0], g.padding[0])
    oj, kj, vj = _axis_taps(g.W, g.OW, g.KW, g.stride[1], g.padding[1])
    T = np.zeros((g.F, g.OH, g.OW, g.C, g.H, g.W), dtype=w.dtype)
    # Each (output pixel, tap) pair hits a distinct (output pixel, input pixel) entry, so the
    # fancy-index assignment below writes every non-zero exactly once.
    i, j = np.repeat(oi, oj.size), np.tile(oj, oi.size)
    h, v = np.repeat(hi, vj.size), np.tile(vj, hi.size)
    k, m = np.repeat(ki, kj.size), np.tile(kj, ki.size)
    # Advanced indices split by slices put the tap axis first: values must be (taps, F, C).
    T[:, i, j, :, h, v] = np.moveaxis(w[:, :, k, m], -1, 0)
    return T.reshape(g.F * g.OH * g.OW, g.C * g.H * g.W)


def _toeplitz_geometry(
    w_shape: Any, input_hw: Any, padding: Any, stride: Any, func: str
) -> ConvGeometry:
    """The geometry of ``T`` for filters `w_shape` on ``C x H x W`` inputs, from shapes alone.

    What :func:`toeplitz_nnz` and :func:`toeplitz_density` both check, in the same order (the
    input size, then the filters' shape, then that the window fits), so both name a bad
    argument alike.
    """
    H, W = as_pair(input_hw, name="input_hw", func=func)
    shape = as_shape4(w_shape, name="w_shape", func=func)
    return shape_geometry((1, shape[1], H, W), shape, stride, padding, func=func)


def _toeplitz_nnz(g: ConvGeometry) -> int:
    """The structural non-zeros of ``T`` for a checked geometry (see :func:`toeplitz_nnz`).

    Each (output row, kernel row) pair whose input row is inside the unpadded image is one
    tap along H, likewise along W; every filter-channel block holds one weight per tap pair.
    """
    taps_h = _axis_taps(g.H, g.OH, g.KH, g.stride[0], g.padding[0])[0].size
    taps_w = _axis_taps(g.W, g.OW, g.KW, g.stride[1], g.padding[1])[0].size
    return g.F * g.C * taps_h * taps_w


def toeplitz_nnz(w_shape: Any, input_hw: Any, padding: Any = 0, stride: Any = 1) -> int:
    """The number of entries of :func:`toeplitz_matrix` that hold a weight (may be non-zero).

    Parameters
    ----------
    w_shape : tuple of 4 int
        ``(F, C, KH, KW)``.
    input_hw, padding, stride
        As in :func:`toeplitz_matrix`.

    Returns
    -------
    int
        ``F * C * taps_H * taps_W``, where ``taps_H`` counts the pairs (output row, kernel row)
        whose input row is inside the unpadded image (``OH * KH`` without padding), and the
        same along W. Without padding it is ``F*C*OH*OW*KH*KW``. A weight that happens to be
        0 still counts (structural non-zeros, as a sparse format would store).

    Examples
    --------
    >>> toeplitz_nnz((64, 3, 3, 3), (32, 32), padding=1)
    1696512
    """
    return _toeplitz_nnz(_toeplitz_geometry(w_shape, input_hw, padding, stride, "toeplitz_nnz"))


def toeplitz_density(w_shape: Any, input_hw: Any, padding: Any = 0, stride: Any = 1) -> float:
    """The fraction of :func:`toeplitz_matrix`'s entries that hold a weight, in (0, 1].

    ``toeplitz_nnz / (F*OH*OW * C*H*W)``; about ``KH*KW / (H*W)`` for a large image.

    Examples
    --------
    >>> round(toeplitz_density((64, 3, 3, 3), (32, 32), padding=1), 5)
    0.00843
    """
    g = _toeplitz_geometry(w_shape, input_hw, padding, stride, "toeplitz_density")
    return _toeplitz_nnz(g) / (g.F * g.OH * g.OW * g.C * g.H * g.W)


def conv2d_toeplitz(x: Any, w: Any, b: Any = None, padding: Any = 0, stride: Any = 1) -> np.ndarray:
    """Convolution as one dense matrix product with :func:`toeplitz_matrix`.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
    w : array_like of float, shape (F, C, KH, KW)
    b : array_like of float, shape (F,), optional
    padding : int or pair of int, default 0
    stride : int or pair of int, default 1

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW)
        ``(x.reshape(N, -1) @ T.T).reshape(N, F, OH, OW) + b``.

    Notes
    -----
    The product costs ``C*H*W`` multiplications per output (:func:`toeplitz_multiplications`)
    against ``C*KH*KW`` for the direct method: a dense GEMM multiplies every zero of ``T``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d_toeplitz(x, np.ones((1, 1, 2, 2)), b=np.array([1.0]))
    array([[[[ 9., 13.],
             [21., 25.]]]])
    """
    x, w, b, g = _geometry(x, w, b, stride, padding, "conv2d_toeplitz")
    T = _toeplitz(w, g)
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    out = (x.reshape(g.N, -1).astype(dtype, copy=False) @ T.T.astype(dtype, copy=False)).reshape(
        g.out_shape
    )
    return _add_bias(out, b)


# --------------------------------------------------------------------------------------------
# FFT
# --------------------------------------------------------------------------------------------


def conv2d_fft(x: Any, w: Any, b: Any = None, padding: Any = 0, stride: Any = 1) -> np.ndarray:
    r"""Convolution by the convolution theorem, with :func:`numpy.fft.rfft2`.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
    w : array_like of float, shape (F, C, KH, KW)
    b : array_like of float, shape (F,), optional
    padding : int or pair of int, default 0
    stride : int, default 1
        Only 1: the FFT computes every stride-1 output anyway.

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW)
        In the dtype of ``x, w, b`` (float32 stays float32: NumPy >= 2 transforms float32
        in single precision).

    Notes
    -----
    A cross-correlation is a convolution with the flipped kernel
    :math:`\tilde w_{kl} = w_{KH-1-k,\,KW-1-l}`: the full linear convolution
    :math:`(x^{pad} * \tilde w)_{i+KH-1,\,j+KW-1}` is :math:`\text{out}_{ij}`. Zero-padding
    both to :math:`S = (H_p + KH - 1) \times (W_p + KW - 1)` (:math:`H_p = H + 2P`) makes the
    circular convolution of the DFT equal the linear one, so

    .. math:: \text{out}_{nf} = \text{crop}\,\mathcal F^{-1}\Big(\sum_c
              \mathcal F(x^{pad}_{nc}) \odot \mathcal F(\tilde w_{fc})\Big)

    The sum over channels happens in the frequency domain (one batched matrix product of
    ``(N, C) @ (C, F)`` per frequency), so only ``N*F`` inverse transforms are needed.
    Cost per channel pair: :math:`O(HW \log HW)` for the transforms (shared: ``N*C + F*C +
    N*F`` of them) plus :math:`O(HW)` for the products, against :math:`O(HW\,KH\,KW)` direct.
    It pays off for large kernels; for 3x3 the transforms dominate (see
    :func:`fft_multiplications`).

    References
    ----------
    .. [1] M. Mathieu, M. Henaff and Y. LeCun, "Fast Training of Convolutional Networks
       through FFTs", ICLR 2014, arXiv:1312.5851.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> np.round(conv2d_fft(x, np.ones((1, 1, 2, 2)), b=np.array([1.0])), 10)
    array([[[[ 9., 13.],
             [21., 25.]]]])
    """
    func = "conv2d_fft"
    _check_stride_one(stride, func)
    x, w, b, g = _geometry(x, w, b, 1, padding, func)
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    ph, pw = g.padding
    xp = np.pad(x.astype(dtype, copy=False), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    s = (g.H + 2 * ph + g.KH - 1, g.W + 2 * pw + g.KW - 1)
    X = np.fft.rfft2(xp, s=s)  # (N, C, s0, s1 // 2 + 1)
    K = np.fft.rfft2(w[:, :, ::-1, ::-1].astype(dtype, copy=False), s=s)  # (F, C, ...)
    # Per frequency: (N, C) @ (C, F), i.e. a batched GEMM over the s0 * (s1 // 2 + 1) bins.
    Y = np.matmul(X.transpose(2, 3, 0, 1), K.transpose(2, 3, 1, 0)).transpose(2, 3, 0, 1)
    full = np.fft.irfft2(Y, s=s)
    out = np.ascontiguousarray(
        full[:, :, g.KH - 1 : g.KH - 1 + g.OH, g.KW - 1 : g.KW - 1 + g.OW], dtype=dtype
    )
    return _add_bias(out, b)


# --------------------------------------------------------------------------------------------
# Winograd F(2x2, 3x3)
# --------------------------------------------------------------------------------------------


def winograd_f2x2_3x3(
    x: Any, w: Any, b: Any = None, padding: Any = 0, stride: Any = 1
) -> np.ndarray:
    r"""Convolution with 3x3 filters by Winograd's minimal filtering F(2x2, 3x3).

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
    w : array_like of float, shape (F, C, 3, 3)
        Only 3x3 filters.
    b : array_like of float, shape (F,), optional
    padding : int or pair of int, default 0
    stride : int, default 1
        Only 1.

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW)

    Notes
    -----
    Lavin and Gray [1]_ (eq. 7-8): for a 4x4 input tile :math:`d` and a 3x3 filter :math:`g`
    the 2x2 output tile is

    .. math:: Y = A^\top \Big[ \sum_c (G g_{fc} G^\top) \odot (B^\top d_c B) \Big] A

    with the constants :data:`WINOGRAD_B_T` (4x4), :data:`WINOGRAD_G` (4x3) and
    :data:`WINOGRAD_A_T` (2x4). The padded input is cut into overlapping 4x4 tiles with
    stride 2 (one more zero row/column when OH or OW is odd; the extra output is cropped).
    ``U = G g G^T`` is computed once per filter, ``V = B^T d B`` once per tile and channel;
    the sum over channels of :math:`U \odot V` is, for each of the 16 tile positions, a
    ``(F, C) @ (C, tiles)`` matrix product: 16 batched GEMMs, as in [1]_.

    The elementwise products are 16 per tile and channel pair against 36 for the direct
    method (2.25x fewer; :func:`winograd_multiplications`). The transforms are additions and
    multiplications by 1/2, amortized over F (data) or over N and the tiles (filters), and are
    not counted. They cost accuracy a little: float32 errors are a few times the direct ones.

    References
    ----------
    .. [1] A. Lavin and S. Gray, "Fast Algorithms for Convolutional Neural Networks",
       CVPR 2016, arXiv:1509.09308.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> winograd_f2x2_3x3(x, np.ones((1, 1, 3, 3)))
    array([[[[45., 54.],
             [81., 90.]]]])
    """
    func = "winograd_f2x2_3x3"
    _check_stride_one(stride, func)
    x, w, b, g = _geometry(x, w, b, 1, padding, func)
    if (g.KH, g.KW) != (3, 3):
        raise ValueError(
            f"{func}: F(2x2, 3x3) needs 3x3 filters, got {g.KH}x{g.KW} (w has shape {w.shape})"
        )
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    BT, G, AT = (m.astype(dtype) for m in (WINOGRAD_B_T, WINOGRAD_G, WINOGRAD_A_T))
    th, tw = -(-g.OH // 2), -(-g.OW // 2)
    ph, pw = g.padding
    # Pad to 2*tiles + 2 rows and columns: the usual padding plus one zero row/column at the
    # bottom/right when the output size is odd.
    extra_h = 2 * th + 2 - (g.H + 2 * ph)
    extra_w = 2 * tw + 2 - (g.W + 2 * pw)
    xp = np.pad(
        x.astype(dtype, copy=False), ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w))
    )
    d = sliding_window_view(xp, (4, 4), axis=(2, 3))[:, :, ::2, ::2]  # (N, C, th, tw, 4, 4)
    V = BT @ d @ BT.T  # (N, C, th, tw, 4, 4)
    U = G @ w.astype(dtype, copy=False) @ G.T  # (F, C, 4, 4)
    P = g.N * th * tw
    V16 = V.transpose(4, 5, 1, 0, 2, 3).reshape(16, g.C, P)
    U16 = U.transpose(2, 3, 0, 1).reshape(16, g.F, g.C)
    M = (U16 @ V16).reshape(4, 4, g.F, g.N, th, tw).transpose(3, 2, 4, 5, 0, 1)
    Y = AT @ M @ AT.T  # (N, F, th, tw, 2, 2)
    out = Y.transpose(0, 1, 2, 4, 3, 5).reshape(g.N, g.F, 2 * th, 2 * tw)
    out = np.ascontiguousarray(out[:, :, : g.OH, : g.OW])
    return _add_bias(out, b)


# --------------------------------------------------------------------------------------------
# multiplication counts for the week-7 table
# --------------------------------------------------------------------------------------------


def direct_multiplications(x_shape: Any, w_shape: Any, padding: Any = 0) -> int:
    """Multiplications of the direct (or im2col) convolution: ``N*F*OH*OW * C*KH*KW``.

    Parameters
    ----------
    x_shape : tuple ``(N, C, H, W)``
    w_shape : tuple ``(F, C, KH, KW)``
    padding : int or pair of int, default 0

    Returns
    -------
    int
        Padded zeros are multiplied too, as im2col does.

    Examples
    --------
    >>> direct_multiplications((1, 3, 32, 32), (64, 3, 3, 3), padding=1)
    1769472
    """
    g = shape_geometry(x_shape, w_shape, 1, padding, func="direct_multiplications")
    return g.N * g.F * g.OH * g.OW * g.C * g.KH * g.KW


def toeplitz_multiplications(x_shape: Any, w_shape: Any, padding: Any = 0) -> int:
    """Multiplications of :func:`conv2d_toeplitz` as a dense GEMM: ``N*F*OH*OW * C*H*W``.

    Every entry of ``T`` is multiplied, zeros included; a sparse product would need only
    ``N * toeplitz_nnz``.

    Examples
    --------
    >>> toeplitz_multiplications((1, 3, 32, 32), (64, 3, 3, 3), padding=1)
    201326592
    """
    g = shape_geometry(x_shape, w_shape, 1, padding, func="toeplitz_multiplications")
    return g.N * g.F * g.OH * g.OW * g.C * g.H * g.W


def fft_multiplications(x_shape: Any, w_shape: Any, padding: Any = 0) -> int:
    r"""Real multiplications of :func:`conv2d_fft` under a textbook cost model.

    Model: a real-input 2-D FFT (or inverse) on :math:`L = s_0 s_1` points costs
    :math:`L \log_2 L` real multiplications (a radix-2 complex FFT's :math:`(L/2)\log_2 L`
    complex ones, 4 real each, halved for real data). :func:`conv2d_fft` takes
    ``N*C + F*C`` forward and ``N*F`` inverse transforms, with
    :math:`s = (H + 2P + KH - 1, W + 2P + KW - 1)`, and ``N*F*C`` complex products (4 real)
    at each of the :math:`s_0 (\lfloor s_1/2 \rfloor + 1)` stored frequencies. Real FFT
    libraries do better (mixed radix, split radix, fewer trivial twiddles), so this is an
    order of magnitude, not a prediction.

    Examples
    --------
    >>> fft_multiplications((1, 3, 32, 32), (64, 3, 3, 3), padding=1)
    3996027
    """
    g = shape_geometry(x_shape, w_shape, 1, padding, func="fft_multiplications")
    s0 = g.H + 2 * g.padding[0] + g.KH - 1
    s1 = g.W + 2 * g.padding[1] + g.KW - 1
    L = s0 * s1
    transforms = g.N * g.C + g.F * g.C + g.N * g.F
    products = 4 * g.N * g.F * g.C * s0 * (s1 // 2 + 1)
    return round(transforms * L * math.log2(L)) + products


def winograd_multiplications(x_shape: Any, w_shape: Any, padding: Any = 0) -> int:
    """Elementwise multiplications of :func:`winograd_f2x2_3x3`.

    ``16 * N * F * C * ceil(OH/2) * ceil(OW/2)``: :data:`WINOGRAD_MULTIPLICATIONS_PER_TILE`
    per 2x2 output tile and channel pair, i.e. 4 per output and channel against 9 direct
    (2.25x fewer when OH and OW are even). The transforms are not counted.

    Examples
    --------
    >>> winograd_multiplications((1, 3, 32, 32), (64, 3, 3, 3), padding=1)
    786432
    """
    func = "winograd_multiplications"
    g = shape_geometry(x_shape, w_shape, 1, padding, func=func)
    if (g.KH, g.KW) != (3, 3):
        raise ValueError(f"{func}: F(2x2, 3x3) needs 3x3 filters, got {g.KH}x{g.KW}")
    tiles = -(-g.OH // 2) * -(-g.OW // 2)
    return WINOGRAD_MULTIPLICATIONS_PER_TILE * g.N * g.F * g.C * tiles


def multiplication_counts(x_shape: Any, w_shape: Any, padding: Any = 0) -> dict[str, Any]:
    """Multiplications per output of each algorithm, for the week-7 comparison table.

    Returns
    -------
    dict
        ``{"direct", "toeplitz_dense", "fft", "winograd"}`` to multiplications per output
        element (float; ``winograd`` is None unless the kernel is 3x3).

    Examples
    --------
    >>> counts = multiplication_counts((1, 64, 56, 56), (64, 64, 3, 3), padding=1)
    >>> counts["direct"], counts["winograd"], counts["toeplitz_dense"]
    (576.0, 256.0, 200704.0)
    """
    g = shape_geometry(x_shape, w_shape, 1, padding, func="multiplication_counts")
    outputs = g.N * g.F * g.OH * g.OW
    square3 = (g.KH, g.KW) == (3, 3)
    return {
        "direct": direct_multiplications(x_shape, w_shape, padding) / outputs,
        "toeplitz_dense": toeplitz_multiplications(x_shape, w_shape, padding) / outputs,
        "fft": fft_multiplications(x_shape, w_shape, padding) / outputs,
        "winograd": winograd_multiplications(x_shape, w_shape, padding) / outputs
        if square3
        else None,
    }
