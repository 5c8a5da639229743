r"""Convolution as one matrix product: im2col, col2im, and the conv layer built on them.

A 2-D convolution (a cross-correlation, as in every deep-learning framework) of an NCHW
batch ``x`` with filters ``w`` of shape (F, C, KH, KW) is, at each output pixel, a dot
product of one C·KH·KW window of the input with each filter. :func:`im2col` copies every
window into a row of a matrix ``cols``, so that the whole layer becomes one GEMM:

.. math:: \underbrace{\text{out}}_{M \times F} = \underbrace{\text{cols}}_{M \times K}\,
          \underbrace{W^{\top}}_{K \times F},
          \qquad M = N \cdot OH \cdot OW, \quad K = C \cdot KH \cdot KW

(with ``groups`` > 1, one such product per group, with K = (C/groups)·KH·KW and F/groups
outputs). The price is memory: ``cols`` holds M·K numbers where the input holds N·C·H·W,

.. math:: \frac{M K}{N C H W} = \frac{OH \cdot OW \cdot KH \cdot KW}{H \cdot W}
          \approx \frac{KH \cdot KW}{S_H \, S_W},

about 9 times the input for a 3x3 kernel at stride 1. The backward pass reuses the same
matrices: ``dW = dout_matᵀ @ cols`` and ``dx = col2im(dout_mat @ W)``, where
:func:`col2im`, the adjoint of :func:`im2col`, adds each row back into the window it came
from (overlapping windows sum).

References
----------
.. [1] K. Chellapilla, S. Puri and P. Simard, "High performance convolutional neural networks
   for document processing", 10th International Workshop on Frontiers in Handwriting
   Recognition, 2006 (the unfolding of convolutions into a matrix product).
.. [2] Stanford CS231n, assignment 2, ``im2col.py`` and ``fast_layers.py``.
.. [3] V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning",
   arXiv:1603.07285, 2016 (output sizes; the backward pass as a transposed convolution).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from lapenna_labs._validation import as_float_array, as_output_gradient, check_cache
from lapenna_labs.conv._geometry import (
    ConvGeometry,
    _window_geometry,
    as_pair,
    as_shape4,
    conv_geometry,
)

__all__ = ["Conv2dCache", "col2im", "conv2d_backward", "conv2d_forward", "im2col"]


class Conv2dCache(NamedTuple):
    """What :func:`conv2d_backward` needs from :func:`conv2d_forward`.

    Attributes
    ----------
    cols : ndarray, shape (N·OH·OW, C·KH·KW)
        The im2col matrix of the input (the input itself is not kept).
    w : ndarray, shape (F, C // groups, KH, KW)
        The filters, in the input's dtype.
    geometry : ConvGeometry
        Every size of the convolution, the input shape included (:attr:`x_shape`).
    """

    cols: np.ndarray
    w: np.ndarray
    geometry: ConvGeometry

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        """``(N, C, H, W)`` of the input."""
        g = self.geometry
        return (g.N, g.C, g.H, g.W)


# --------------------------------------------------------------------------------------------
# kernels: checked input, no validation
# --------------------------------------------------------------------------------------------


def _im2col(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """``cols`` (N·OH·OW, C·KH·KW) of a checked `x` (N, C, H, W): one row per output pixel."""
    (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    sN, sC, sH, sW = xp.strides
    # A read-only view of every window, (n, oh, ow, c, kh, kw): no copy until the reshape,
    # which lays the rows out in (n, oh, ow) order and the columns in (c, kh, kw) order.
    windows = as_strided(
        xp,
        shape=(g.N, g.OH, g.OW, g.C, g.KH, g.KW),
        strides=(sN, sH * sh, sW * sw, sC, sH * dh, sW * dw),
        writeable=False,
    )
    return windows.reshape(g.N * g.OH * g.OW, g.C * g.KH * g.KW)


def _add_windows(dwin: np.ndarray, g: ConvGeometry, dtype: np.dtype) -> np.ndarray:
    """Add every window's entries back to the pixels they came from: ``(N, C, H, W)``.

    `dwin` is indexed ``[n, c, oh, ow, kh, kw]`` (any strides, a broadcast view included):
    the value that window (oh, ow) took from kernel offset (kh, kw). This is the adjoint of
    gathering the windows, shared by :func:`_col2im` and the pools' backward passes; padding's
    entries are dropped and overlapping windows sum.
    """
    (sh, sw), (ph, pw), (dh, dw) = g.stride, g.padding, g.dilation
    xp = np.zeros((g.N, g.C, g.H + 2 * ph, g.W + 2 * pw), dtype=dtype)
    # For one kernel offset (kh, kw) the OH x OW pixels it touches are distinct, so a strided
    # slice-add is exact; only the KH·KW offsets overlap, hence the loop over them alone
    # (np.add.at over all pixels would be an order of magnitude slower).
    for kh in range(g.KH):
        h0 = kh * dh
        for kw in range(g.KW):
            w0 = kw * dw
            xp[:, :, h0 : h0 + sh * (g.OH - 1) + 1 : sh, w0 : w0 + sw * (g.OW - 1) + 1 : sw] += (
                dwin[:, :, :, :, kh, kw]
            )
    return xp[:, :, ph : ph + g.H, pw : pw + g.W]


def _col2im(cols: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """The adjoint of :func:`_im2col`: ``x`` (N, C, H, W) with overlapping windows summed."""
    c6 = cols.reshape(g.N, g.OH, g.OW, g.C, g.KH, g.KW).transpose(0, 3, 1, 2, 4, 5)
    return _add_windows(c6, g, cols.dtype)


def _conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, g: ConvGeometry
) -> tuple[np.ndarray, Conv2dCache]:
    """``(out, cache)`` for checked arrays of one dtype; one batched GEMM over the groups."""
    cols = _im2col(x, g)
    M, Kg, Fg = g.gemm_shape
    G = g.groups
    # (G, M, Kg) @ (G, Kg, Fg): group j uses columns j·Kg:(j+1)·Kg (channels in (c, kh, kw)
    # order are contiguous per group) and filters j·Fg:(j+1)·Fg.
    out_g = np.matmul(cols.reshape(M, G, Kg).transpose(1, 0, 2), w.reshape(G, Fg, Kg).mT)
    out = out_g.transpose(1, 0, 2).reshape(M, g.F)
    if b is not None:
        out += b
    out = out.reshape(g.N, g.OH, g.OW, g.F).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out), Conv2dCache(cols, w, g)


def _conv2d_backward(
    dout: np.ndarray, cache: Conv2dCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx, dw, db)`` for a checked `dout` (N, F, OH, OW) of the cache's dtype."""
    cols, w, g = cache
    M, Kg, Fg = g.gemm_shape
    G = g.groups
    dmat = dout.transpose(0, 2, 3, 1).reshape(M, G, Fg).transpose(1, 0, 2)  # (G, M, Fg)
    dw = np.matmul(dmat.mT, cols.reshape(M, G, Kg).transpose(1, 0, 2))  # (G, Fg, Kg)
    dcols = np.matmul(dmat, w.reshape(G, Fg, Kg))  # (G, M, Kg)
    dx = _col2im(dcols.transpose(1, 0, 2).reshape(M, G * Kg), g)
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw.reshape(w.shape), db


# --------------------------------------------------------------------------------------------
# public functions: validate, then call the kernels
# --------------------------------------------------------------------------------------------


def _check_dout(dout: Any, want: tuple[int, int, int, int], func: str) -> np.ndarray:
    """`dout` as a float array shaped like the forward pass's output `want` (N, C, H, W)."""
    return as_output_gradient(
        dout, want, output="the forward output was", func=func, ndim=4, note="; they must match"
    )


def _unfold_geometry(
    x_shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any, dilation: Any, func: str
) -> ConvGeometry:
    KH, KW = as_pair(kernel_size, name="kernel_size", func=func)
    return _window_geometry(tuple(x_shape), x_shape[1], KH, KW, stride, padding, dilation, 1, func)


def im2col(
    x: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> np.ndarray:
    """Unfold every convolution window of an NCHW batch into one row of a matrix.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
        The input batch.
    kernel_size : int or pair of int
        (KH, KW).
    stride, padding, dilation : int or pair of int
        Along (H, W); `padding` zeros are added on each side.

    Returns
    -------
    cols : ndarray, shape (N·OH·OW, C·KH·KW), x's dtype
        Row ``(n·OH + oh)·OW + ow`` holds the window of output pixel (n, oh, ow), its
        columns in (c, kh, kw) order, so ``cols @ w.reshape(F, -1).T`` is the convolution
        with filters ``w`` (F, C, KH, KW) as an (N·OH·OW, F) matrix.

    Notes
    -----
    With M = N·OH·OW and K = C·KH·KW, `cols` has M·K elements, OH·OW·KH·KW / (H·W) times
    as many as `x` (about KH·KW / stride²). It is built from a strided view of the padded
    input (no loop over pixels); the reshape makes the one copy.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> im2col(x, 2)
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    func = "im2col"
    x = as_float_array(x, name="x", func=func, ndim=4)
    g = _unfold_geometry(x.shape, kernel_size, stride, padding, dilation, func)
    return _im2col(x, g)


def col2im(
    cols: Any,
    x_shape: Any,
    kernel_size: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each row back into its window of an NCHW array.

    Parameters
    ----------
    cols : array_like of float, shape (N·OH·OW, C·KH·KW)
        One row per output pixel, as :func:`im2col` lays them out.
    x_shape : tuple of int
        (N, C, H, W) of the array to rebuild.
    kernel_size, stride, padding, dilation : int or pair of int
        As given to :func:`im2col`.

    Returns
    -------
    x : ndarray, shape (N, C, H, W), cols's dtype
        Each input pixel receives the sum of every entry of `cols` that copied it (the
        padding's entries are dropped), so ``col2im(im2col(x))`` is ``x`` times the number of
        windows covering each pixel, and ``<im2col(x), c> == <x, col2im(c)>``.

    Notes
    -----
    This is the backward pass of :func:`im2col`: ``dx = col2im(dcols)``. It loops over the
    KH·KW kernel offsets only; for one offset the pixels touched are distinct.

    Examples
    --------
    >>> import numpy as np
    >>> col2im(np.ones((4, 4)), (1, 1, 3, 3), 2)
    array([[[[1., 2., 1.],
             [2., 4., 2.],
             [1., 2., 1.]]]])
    """
    func = "col2im"
    cols = as_float_array(cols, name="cols", func=func, ndim=2)
    shape = as_shape4(x_shape, name="x_shape", func=func)
    g = _unfold_geometry(shape, kernel_size, stride, padding, dilation, func)
    want = (g.N * g.OH * g.OW, g.C * g.KH * g.KW)
    if cols.shape != want:
        raise ValueError(
            f"{func}: cols has shape {cols.shape} but x_shape {shape} with this kernel, "
            f"stride, padding and dilation needs (N·OH·OW, C·KH·KW) = {want}"
        )
    return _col2im(cols, g)


def conv2d_forward(
    x: Any,
    w: Any,
    b: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
) -> tuple[np.ndarray, Conv2dCache]:
    r"""2-D convolution (cross-correlation) of an NCHW batch, by im2col and one GEMM.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
        The input batch.
    w : array_like of float, shape (F, C // groups, KH, KW)
        The filters, laid out as in PyTorch.
    b : array_like of float, shape (F,), or None
        One bias per filter (None: no bias).
    stride, padding, dilation : int or pair of int, default 1, 0, 1
        Along (H, W); `padding` zeros are added symmetrically on each side.
    groups : int, default 1
        Split channels and filters into this many independent convolutions (it must divide
        C and F); ``groups=C`` is a depthwise convolution.

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW), x's dtype
        ``OH = (H + 2P - D(KH - 1) - 1) // S + 1`` and likewise OW.
    cache : Conv2dCache
        The im2col matrix, the filters and the geometry, for :func:`conv2d_backward`.

    Notes
    -----
    .. math:: \text{out}_{n f i j} = b_f + \sum_{c, p, q}
              w_{f c p q}\, x_{n,\, c,\, S i + D p - P,\, S j + D q - P}

    (c over the filter's group of channels). With ``cols = im2col(x)`` of shape (M, K),
    M = N·OH·OW and K = (C/groups)·KH·KW per group, each group is one product
    ``cols_g @ w_g.reshape(F/groups, K).T``; the groups run as one batched matmul. `w` and
    `b` are cast to x's dtype, so float32 stays float32.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> out, cache = conv2d_forward(x, np.ones((1, 1, 2, 2)), np.zeros(1), stride=2)
    >>> out
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    func = "conv2d_forward"
    x, w, b, g = conv_geometry(x, w, b, stride, padding, dilation, groups, func=func)
    w = w.astype(x.dtype, copy=False)
    b = None if b is None else b.astype(x.dtype, copy=False)
    return _conv2d_forward(x, w, b, g)


def conv2d_backward(dout: Any, cache: Conv2dCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward pass of :func:`conv2d_forward`.

    Parameters
    ----------
    dout : array_like of float, shape (N, F, OH, OW)
        Gradient of the loss with respect to the convolution's output.
    cache : Conv2dCache
        As returned by :func:`conv2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        Gradient with respect to the input.
    dw : ndarray, shape (F, C // groups, KH, KW)
        Gradient with respect to the filters.
    db : ndarray, shape (F,)
        Gradient with respect to the biases (zeros' worth of use if b was None).

    Notes
    -----
    With ``D = dout`` as an (M, F) matrix (rows in (n, oh, ow) order), per group:

    .. math:: dW_g = D_g^{\top}\, \text{cols}_g, \qquad
              dx = \operatorname{col2im}\bigl(D_g\, W_g\bigr), \qquad
              db_f = \sum_{n, i, j} \text{dout}_{n f i j}

    dW is the cross-correlation of x with dout; dx is the full convolution of dout with the
    kernel rotated by 180° (a transposed convolution when the stride exceeds 1).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> out, cache = conv2d_forward(x, np.ones((1, 1, 2, 2)), np.zeros(1))
    >>> dx, dw, db = conv2d_backward(np.ones_like(out), cache)
    >>> dx[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> dw[0, 0], db
    (array([[ 8., 12.],
           [20., 24.]]), array([4.]))
    """
    func = "conv2d_backward"
    check_cache(cache, Conv2dCache, forward="conv2d_forward", func=func)
    dout = _check_dout(dout, cache.geometry.out_shape, func)
    return _conv2d_backward(dout.astype(cache.cols.dtype, copy=False), cache)
