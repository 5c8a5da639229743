r"""Max pooling, average pooling and flatten on NCHW batches, as forward/backward pairs.

A pool slides a ``KH x KW`` window over each channel on its own (stride and padding as in a
convolution, see :mod:`lapenna_labs.conv._geometry`) and replaces each window by one number:
its maximum or its mean. It has no weights; its backward pass routes ``dout`` back to the
window entries that produced each output:

- **max**: the whole of ``dout[n, c, i, j]`` goes to the position of the window's maximum
  (the derivative of ``max`` is an indicator). With ties, **the first maximum in row-major
  window order** (smallest row, then smallest column) takes all of it, as in PyTorch's and
  TensorFlow's CPU kernels.
- **average**: ``dout[n, c, i, j] / (KH KW)`` goes to each of the ``KH KW`` entries.

Overlapping windows (stride smaller than the kernel, e.g. AlexNet's 3x3 stride 2) share
entries, so those gradients add up. Flatten reshapes ``(N, C, H, W)`` to ``(N, C H W)`` in C
order, the bridge from the convolutional part of a network to its dense layers.

The windows are gathered without Python loops over pixels: by a reshape when they tile the
input (stride = kernel, no padding), otherwise by :func:`numpy.lib.stride_tricks.
sliding_window_view`. The backward pass of overlapping windows loops over the ``KH KW``
offsets inside a window (9 for a 3x3 pool), each a strided slice of the whole batch.

The public functions check their input and call private kernels (``_max_pool2d_forward``,
``_max_pool2d_backward``, ``_avg_pool2d_forward``, ``_avg_pool2d_backward``,
``_flatten_forward``, ``_flatten_backward``) that trust it; a model that checked its input
once calls the kernels.

References
----------
.. [1] Stanford CS231n, assignment 2, ``cs231n/layers.py`` (max_pool_forward_naive /
   max_pool_backward_naive) and the notes "Convolutional Neural Networks", section
   "Pooling Layer". https://cs231n.github.io/convolutional-networks/#pool
.. [2] PyTorch documentation, ``torch.nn.MaxPool2d`` and ``torch.nn.AvgPool2d``.
   https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html
.. [3] Goodfellow, Bengio and Courville, *Deep Learning*, MIT Press, 2016, section 9.3
   (pooling). https://www.deeplearningbook.org
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lapenna_labs._validation import as_float_array, as_output_gradient, check_cache
from lapenna_labs.conv._geometry import ConvGeometry, pool_geometry
from lapenna_labs.conv.im2col import _add_windows

__all__ = [
    "AvgPoolCache",
    "FlattenCache",
    "MaxPoolCache",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "flatten_backward",
    "flatten_forward",
    "max_pool2d_backward",
    "max_pool2d_forward",
]


class MaxPoolCache(NamedTuple):
    """What :func:`max_pool2d_backward` needs.

    Attributes
    ----------
    argmax : ndarray of intp, shape (N, C, OH, OW)
        Index of each window's (first) maximum in the window flattened row-major, in
        ``[0, KH KW)``.
    geometry : ConvGeometry
        The pool's sizes.
    dtype : numpy.dtype
        The dtype of `x` (and so of `dx`).
    """

    argmax: np.ndarray
    geometry: ConvGeometry
    dtype: np.dtype


class AvgPoolCache(NamedTuple):
    """What :func:`avg_pool2d_backward` needs: the pool's sizes and the dtype of `x`."""

    geometry: ConvGeometry
    dtype: np.dtype


class FlattenCache(NamedTuple):
    """What :func:`flatten_backward` needs: the shape of the input."""

    shape: tuple[int, ...]


# --------------------------------------------------------------------------------------------
# window gathering and its adjoint, shared by both pools
# --------------------------------------------------------------------------------------------


def _tiles(g: ConvGeometry) -> bool:
    """True when the windows tile the input: stride = kernel and no padding.

    Each input entry is then in at most one window, so gather and scatter are reshapes.
    """
    return g.stride == (g.KH, g.KW) and g.padding == (0, 0)


def _pad(x: np.ndarray, g: ConvGeometry, value: float) -> np.ndarray:
    PH, PW = g.padding
    if PH == 0 and PW == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)), constant_values=value)


def _windows(x: np.ndarray, g: ConvGeometry, pad_value: float) -> np.ndarray:
    """The windows of `x` as an ``(N, C, OH, OW, KH * KW)`` array (a copy, row-major windows).

    Rows and columns past the last full window (when the stride does not divide the input)
    belong to no window and are left out, as in PyTorch.
    """
    N, C, OH, OW, KH, KW = g.N, g.C, g.OH, g.OW, g.KH, g.KW
    if _tiles(g):
        tiles = x[:, :, : OH * KH, : OW * KW].reshape(N, C, OH, KH, OW, KW)
        return tiles.transpose(0, 1, 2, 4, 3, 5).reshape(N, C, OH, OW, KH * KW)
    SH, SW = g.stride
    view = sliding_window_view(_pad(x, g, pad_value), (KH, KW), axis=(2, 3))
    return view[:, :, : SH * (OH - 1) + 1 : SH, : SW * (OW - 1) + 1 : SW].reshape(
        N, C, OH, OW, KH * KW
    )


def _fold(dwin: np.ndarray, g: ConvGeometry, dtype: np.dtype) -> np.ndarray:
    """The adjoint of :func:`_windows`: add each window's gradient back to its entries.

    `dwin` is ``(N, C, OH, OW, KH * KW)``; the result is ``(N, C, H, W)`` in `dtype`.
    """
    N, C, H, W, OH, OW, KH, KW = g.N, g.C, g.H, g.W, g.OH, g.OW, g.KH, g.KW
    if _tiles(g):
        dx = np.zeros((N, C, H, W), dtype=dtype)
        tiles = dwin.reshape(N, C, OH, OW, KH, KW).transpose(0, 1, 2, 4, 3, 5)
        dx[:, :, : OH * KH, : OW * KW] = tiles.reshape(N, C, OH * KH, OW * KW)
        return dx
    # One strided slice-add per offset in the window, the scatter col2im uses too.
    return _add_windows(dwin.reshape(N, C, OH, OW, KH, KW), g, dtype)


def _check_dout(dout: Any, g: ConvGeometry, func: str) -> np.ndarray:
    return as_output_gradient(
        dout, g.out_shape, output="the pool's output has shape", func=func, ndim=4
    )


# --------------------------------------------------------------------------------------------
# max pooling
# --------------------------------------------------------------------------------------------


def _max_pool2d_forward(x: np.ndarray, g: ConvGeometry) -> tuple[np.ndarray, np.ndarray]:
    """``(out, argmax)`` for a checked `x` and its geometry; padding counts as -inf."""
    win = _windows(x, g, -np.inf)
    # argmax returns the first of equal maxima: that is the documented tie rule.
    argmax = np.argmax(win, axis=-1)
    out = np.take_along_axis(win, argmax[..., None], axis=-1)[..., 0]
    return out, argmax


def _max_pool2d_backward(
    dout: np.ndarray, argmax: np.ndarray, g: ConvGeometry, dtype: np.dtype
) -> np.ndarray:
    """``dx`` (N, C, H, W) from a checked `dout` (N, C, OH, OW) and the forward's argmax."""
    dwin = np.zeros((*g.out_shape, g.KH * g.KW), dtype=dtype)
    np.put_along_axis(dwin, argmax[..., None], dout[..., None], axis=-1)
    return _fold(dwin, g, dtype)


def max_pool2d_forward(
    x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0
) -> tuple[np.ndarray, MaxPoolCache]:
    r"""2-D max pooling of each channel of an NCHW batch, as ``torch.nn.functional.max_pool2d``.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
        The batch; finite values (NaN and infinity are rejected).
    kernel_size : int or (int, int)
        Window size ``(KH, KW)``.
    stride : int or (int, int), optional
        Step between windows; defaults to `kernel_size` (non-overlapping windows), as in
        PyTorch.
    padding : int or (int, int), default 0
        Rows and columns added on each side, filled with -inf so they never win; at most half
        the kernel (PyTorch's limit), so every window holds at least one entry of `x`.

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW), dtype of `x`
        ``OH = floor((H + 2 PH - KH) / SH) + 1`` and likewise ``OW``.
    cache : MaxPoolCache
        What :func:`max_pool2d_backward` needs (the argmax of each window, not `x`).

    Notes
    -----
    .. math:: \text{out}_{n c i j} = \max_{0 \le p < K_H,\ 0 \le q < K_W}
              \tilde x_{n,\, c,\, S_H i + p,\, S_W j + q}

    with :math:`\tilde x` the input padded with :math:`-\infty`. Rows or columns that no full
    window reaches are ignored. The cache keeps the position of each maximum, the only thing
    the backward pass needs.

    **Ties.** When several entries of a window equal its maximum, the first in row-major
    window order (smallest ``p``, then smallest ``q``) is the argmax and takes the whole
    gradient. This is what ``torch.nn.functional.max_pool2d`` on the CPU and
    ``tf.nn.max_pool2d`` on the CPU do (both tested). Strictly, ``max`` is not differentiable
    at a tie; any convex combination of the tied entries is a valid subgradient, and another
    kernel (cuDNN, for instance) may choose differently, so exact ties (ReLU zeros, saturated
    pixels) are where frameworks' gradients may legitimately disagree.

    **Framework trap.** TensorFlow's ``padding="SAME"`` is not PyTorch's `padding`: it pads
    only as much as needed, and puts the extra row or column at the bottom and right. Compare
    with TensorFlow by padding explicitly (with -inf) and using ``"VALID"``.

    References
    ----------
    .. [1] PyTorch, ``aten/src/ATen/native/cpu/MaxPoolKernel.cpp``: a new maximum replaces
       the old one only if strictly greater (or NaN), so the first of equal maxima is kept.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 2.0, 5.0, 0.0],
    ...                 [3.0, 4.0, 1.0, 5.0],
    ...                 [0.0, 0.0, 1.0, 1.0],
    ...                 [0.0, 9.0, 1.0, 1.0]]]])
    >>> out, cache = max_pool2d_forward(x, 2)
    >>> out
    array([[[[4., 5.],
             [9., 1.]]]])
    >>> max_pool2d_backward(np.ones_like(out), cache)[0, 0]  # ties: the first maximum
    array([[0., 0., 1., 0.],
           [0., 1., 0., 0.],
           [0., 0., 1., 0.],
           [0., 1., 0., 0.]])
    """
    x, g = pool_geometry(x, kernel_size, stride, padding, func="max_pool2d_forward")
    out, argmax = _max_pool2d_forward(x, g)
    return out, MaxPoolCache(argmax, g, x.dtype)


def max_pool2d_backward(dout: Any, cache: MaxPoolCache) -> np.ndarray:
    r"""Backward pass of :func:`max_pool2d_forward`.

    Parameters
    ----------
    dout : array_like of float, shape (N, C, OH, OW)
        Gradient of the loss with respect to the pool's output.
    cache : MaxPoolCache
        As returned by :func:`max_pool2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), dtype of the forward's `x`
        Gradient with respect to `x`.

    Notes
    -----
    .. math:: \frac{\partial L}{\partial x_{n c h w}} = \sum_{(i, j):\
              \operatorname{argmax}_{n c i j} = (h, w)} \delta_{n c i j}

    Each output sends its gradient to its window's argmax (the first maximum on ties); an
    entry that is the argmax of several overlapping windows collects all their gradients,
    and an entry that is nobody's maximum gets 0.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> out, cache = max_pool2d_forward(x, 3, stride=1)
    >>> max_pool2d_backward(np.ones_like(out), cache)[0, 0]
    array([[0., 0., 0., 0.],
           [0., 0., 0., 0.],
           [0., 0., 1., 1.],
           [0., 0., 1., 1.]])
    """
    func = "max_pool2d_backward"
    check_cache(cache, MaxPoolCache, forward="max_pool2d_forward", func=func)
    dout = _check_dout(dout, cache.geometry, func)
    return _max_pool2d_backward(dout, cache.argmax, cache.geometry, cache.dtype)


# --------------------------------------------------------------------------------------------
# average pooling
# --------------------------------------------------------------------------------------------


def _avg_pool2d_forward(x: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """``out`` for a checked `x`; zero padding counts in every window's divisor."""
    return np.mean(_windows(x, g, 0.0), axis=-1)


def _avg_pool2d_backward(dout: np.ndarray, g: ConvGeometry, dtype: np.dtype) -> np.ndarray:
    """``dx`` (N, C, H, W) from a checked `dout` (N, C, OH, OW)."""
    share = (dout / (g.KH * g.KW)).astype(dtype, copy=False)
    dwin = np.broadcast_to(share[..., None], (*g.out_shape, g.KH * g.KW))
    return _fold(dwin, g, dtype)


def avg_pool2d_forward(
    x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0
) -> tuple[np.ndarray, AvgPoolCache]:
    r"""2-D average pooling of each channel of an NCHW batch, as ``F.avg_pool2d``.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
        The batch; finite values.
    kernel_size : int or (int, int)
        Window size ``(KH, KW)``.
    stride : int or (int, int), optional
        Step between windows; defaults to `kernel_size`, as in PyTorch.
    padding : int or (int, int), default 0
        Zeros added on each side, at most half the kernel.

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW), dtype of `x`
        As in :func:`max_pool2d_forward`.
    cache : AvgPoolCache
        What :func:`avg_pool2d_backward` needs.

    Notes
    -----
    .. math:: \text{out}_{n c i j} = \frac{1}{K_H K_W} \sum_{p=0}^{K_H-1} \sum_{q=0}^{K_W-1}
              \tilde x_{n,\, c,\, S_H i + p,\, S_W j + q}

    with :math:`\tilde x` the input padded with zeros. The divisor is always
    :math:`K_H K_W`, padded entries included: PyTorch's default ``count_include_pad=True``.
    So a window that hangs over the border averages in zeros, and its output is smaller than
    the mean of its real entries. Average pooling is linear: a depthwise convolution with the
    constant kernel :math:`1/(K_H K_W)`.

    **Framework trap.** TensorFlow's ``tf.nn.avg_pool2d(..., padding="SAME")`` divides by the
    number of *real* entries in each window (PyTorch's ``count_include_pad=False``), and pads
    asymmetrically; it agrees with this function only with explicit zero padding and
    ``"VALID"``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> avg_pool2d_forward(x, 2)[0]
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    >>> avg_pool2d_forward(np.ones((1, 1, 2, 2)), 2, stride=1, padding=1)[0][0, 0]
    array([[0.25, 0.5 , 0.25],
           [0.5 , 1.  , 0.5 ],
           [0.25, 0.5 , 0.25]])
    """
    x, g = pool_geometry(x, kernel_size, stride, padding, func="avg_pool2d_forward")
    return _avg_pool2d_forward(x, g), AvgPoolCache(g, x.dtype)


def avg_pool2d_backward(dout: Any, cache: AvgPoolCache) -> np.ndarray:
    r"""Backward pass of :func:`avg_pool2d_forward`.

    Parameters
    ----------
    dout : array_like of float, shape (N, C, OH, OW)
        Gradient of the loss with respect to the pool's output.
    cache : AvgPoolCache
        As returned by :func:`avg_pool2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), dtype of the forward's `x`
        Gradient with respect to `x`.

    Notes
    -----
    .. math:: \frac{\partial L}{\partial x_{n c h w}} = \frac{1}{K_H K_W}
              \sum_{(i, j):\ (h, w) \in \text{window}(i, j)} \delta_{n c i j}

    Every entry of a window gets the same share of its output's gradient; the shares meant
    for padding are dropped.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = avg_pool2d_forward(np.zeros((1, 1, 3, 3)), 2, stride=1)
    >>> avg_pool2d_backward(np.ones_like(out), cache)[0, 0]
    array([[0.25, 0.5 , 0.25],
           [0.5 , 1.  , 0.5 ],
           [0.25, 0.5 , 0.25]])
    """
    func = "avg_pool2d_backward"
    check_cache(cache, AvgPoolCache, forward="avg_pool2d_forward", func=func)
    dout = _check_dout(dout, cache.geometry, func)
    return _avg_pool2d_backward(dout, cache.geometry, cache.dtype)


# --------------------------------------------------------------------------------------------
# flatten
# --------------------------------------------------------------------------------------------


def _flatten_forward(x: np.ndarray) -> np.ndarray:
    """``x`` (N, ...) as (N, prod(...)) in C order (a view when `x` is C-contiguous)."""
    # An explicit width, not -1: NumPy cannot infer -1 when the batch is empty (N = 0).
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def _flatten_backward(dout: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`dout` (N, prod(...)) back to `shape` (a view when `dout` is C-contiguous)."""
    return dout.reshape(shape)


def flatten_forward(x: Any) -> tuple[np.ndarray, FlattenCache]:
    r"""Flatten each sample: ``(N, C, H, W) -> (N, C H W)`` in C (row-major) order.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
        The batch. Any ``(N, d1, ..., dk)`` with ``k >= 1`` is accepted.

    Returns
    -------
    out : ndarray, shape (N, C * H * W), dtype of `x`
        A view of `x` when `x` is C-contiguous (no copy).
    cache : FlattenCache
        The input's shape, for :func:`flatten_backward`.

    Notes
    -----
    .. math:: \text{out}_{n,\ (c H + h) W + w} = x_{n c h w}

    C order matches ``torch.flatten(x, 1)`` (and ``nn.Flatten``) on NCHW tensors, so dense
    weights trained there load here unchanged. Keras flattens NHWC tensors, i.e. in
    ``(h, w, c)`` order: porting its first dense layer needs its rows permuted.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = flatten_forward(np.arange(8.0).reshape(1, 2, 2, 2))
    >>> out
    array([[0., 1., 2., 3., 4., 5., 6., 7.]])
    >>> flatten_backward(out, cache).shape
    (1, 2, 2, 2)
    """
    func = "flatten_forward"
    x = as_float_array(x, name="x", func=func)
    if x.ndim < 2:
        raise ValueError(
            f"{func}: x must be at least 2-D (N, C, H, W) with the batch first, got shape {x.shape}"
        )
    return _flatten_forward(x), FlattenCache(x.shape)


def flatten_backward(dout: Any, cache: FlattenCache) -> np.ndarray:
    r"""Backward pass of :func:`flatten_forward`: reshape `dout` back to the input's shape.

    Parameters
    ----------
    dout : array_like of float, shape (N, C * H * W)
        Gradient of the loss with respect to the flattened output.
    cache : FlattenCache
        As returned by :func:`flatten_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), dtype of `dout`
        Gradient with respect to `x`.

    Notes
    -----
    A reshape moves no number: in C order, ``x`` and ``out`` hold the same values in the same
    sequence, so the Jacobian is the identity on that sequence and the gradient is `dout`
    given the input's shape back.

    Examples
    --------
    >>> import numpy as np
    >>> _, cache = flatten_forward(np.zeros((2, 3, 4, 4)))
    >>> flatten_backward(np.ones((2, 48)), cache).shape
    (2, 3, 4, 4)
    """
    func = "flatten_backward"
    check_cache(cache, FlattenCache, forward="flatten_forward", func=func)
    expected = (cache.shape[0], int(np.prod(cache.shape[1:])))
    dout = as_output_gradient(
        dout, expected, output="the flattened output has shape", func=func, ndim=2
    )
    return _flatten_backward(dout, cache.shape)
