r"""The convolution layer as explicit loops: the version students write in lab 5.

Slow (four Python loops) but readable, it is the reference that
:mod:`lapenna_labs.conv.im2col` must agree with. Same arguments and geometry
(:func:`~lapenna_labs.conv._geometry.conv_geometry`) as
:func:`~lapenna_labs.conv.im2col.conv2d_forward`.

References
----------
.. [1] Stanford CS231n, assignment 2, ``conv_forward_naive`` / ``conv_backward_naive``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from lapenna_labs._validation import as_output_gradient
from lapenna_labs.conv._geometry import ConvGeometry, conv_geometry

__all__ = ["NaiveConv2dCache", "conv2d_backward_naive", "conv2d_forward_naive"]


class NaiveConv2dCache(NamedTuple):
    """What :func:`conv2d_backward_naive` needs: the zero-padded input, the filters, the sizes."""

    x_padded: np.ndarray
    w: np.ndarray
    geometry: ConvGeometry


def _window(g: ConvGeometry, i: int, j: int) -> tuple[slice, slice]:
    """The rows and columns of the padded input that output pixel (i, j) reads."""
    (sh, sw), (dh, dw) = g.stride, g.dilation
    return (
        slice(i * sh, i * sh + dh * (g.KH - 1) + 1, dh),
        slice(j * sw, j * sw + dw * (g.KW - 1) + 1, dw),
    )


def conv2d_forward_naive(
    x: Any, w: Any, b: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: Any = 1
) -> tuple[np.ndarray, NaiveConv2dCache]:
    r"""2-D convolution (cross-correlation) by loops over n, f, oh, ow.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
    w : array_like of float, shape (F, C // groups, KH, KW)
    b : array_like of float, shape (F,), or None
    stride, padding, dilation : int or pair of int
    groups : int

    Returns
    -------
    out : ndarray, shape (N, F, OH, OW), x's dtype
    cache : NaiveConv2dCache

    Notes
    -----
    .. math:: \text{out}_{n f i j} = b_f + \sum_{c, p, q}
              w_{f c p q}\, x^{\text{pad}}_{n,\, c,\, S i + D p,\, S j + D q}

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d_forward_naive(x, np.ones((1, 1, 2, 2)), np.zeros(1), stride=2)[0]
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    func = "conv2d_forward_naive"
    x, w, b, g = conv_geometry(x, w, b, stride, padding, dilation, groups, func=func)
    w = w.astype(x.dtype, copy=False)
    ph, pw = g.padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Cg, Fg = g.C // g.groups, g.F // g.groups
    out = np.zeros(g.out_shape, dtype=x.dtype)
    for n in range(g.N):
        for f in range(g.F):
            c0 = (f // Fg) * Cg  # the first input channel of filter f's group
            for i in range(g.OH):
                for j in range(g.OW):
                    rows, cols = _window(g, i, j)
                    out[n, f, i, j] = np.sum(xp[n, c0 : c0 + Cg, rows, cols] * w[f])
            if b is not None:
                out[n, f] += b[f]
    return out, NaiveConv2dCache(xp, w, g)


def conv2d_backward_naive(
    dout: Any, cache: NaiveConv2dCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward pass of :func:`conv2d_forward_naive`, by the same loops.

    Parameters
    ----------
    dout : array_like of float, shape (N, F, OH, OW)
    cache : NaiveConv2dCache

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C // groups, KH, KW)
    db : ndarray, shape (F,)

    Notes
    -----
    Each output pixel sends ``dout[n, f, i, j] * w[f]`` back to its window of x and
    ``dout[n, f, i, j] * window`` to ``dw[f]``; overlapping windows add up.

    Examples
    --------
    >>> import numpy as np
    >>> out, c = conv2d_forward_naive(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), None)
    >>> conv2d_backward_naive(np.ones_like(out), c)[0][0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    func = "conv2d_backward_naive"
    if not isinstance(cache, NaiveConv2dCache):
        raise ValueError(f"{func}: cache must be the NaiveConv2dCache of conv2d_forward_naive")
    xp, w, g = cache
    dout = as_output_gradient(dout, g.out_shape, output="the forward output was", func=func, ndim=4)
    Cg, Fg = g.C // g.groups, g.F // g.groups
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for n in range(g.N):
        for f in range(g.F):
            c0 = (f // Fg) * Cg
            for i in range(g.OH):
                for j in range(g.OW):
                    rows, cols = _window(g, i, j)
                    dxp[n, c0 : c0 + Cg, rows, cols] += dout[n, f, i, j] * w[f]
                    dw[f] += dout[n, f, i, j] * xp[n, c0 : c0 + Cg, rows, cols]
    ph, pw = g.padding
    db = dout.sum(axis=(0, 2, 3)).astype(xp.dtype, copy=False)
    return dxp[:, :, ph : ph + g.H, pw : pw + g.W], dw, db
