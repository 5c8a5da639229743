r"""Going back up: the transposed convolution, nearest and bilinear upsampling, and U-Net's
crop-and-concatenate skip connection, on NCHW batches.

A convolution with stride S is a linear map ``y = T x`` from (C_out, H', W') images to
(C_in, H, W) ones, ``T`` the doubly block Toeplitz matrix of
:func:`~lapenna_labs.conv.toeplitz_matrix`. The *transposed convolution* is the map ``T^T``
that goes the other way, from the small image back to the large one:

.. math:: \text{out} = T^{\top} x, \qquad
          \langle T^{\top} x, v \rangle = \langle x, T v \rangle \text{ for every } v.

It is not an inverse (``T^T T`` is not the identity); it has the shape of one and a learned
kernel. In im2col form the convolution is ``cols(v) @ W^T`` with ``W`` the (C_in,
C_out·KH·KW) filter matrix, so its adjoint is ``col2im(x_mat @ W)``: exactly the ``dx`` of
:func:`~lapenna_labs.conv.conv2d_backward`. Its own backward pass is therefore a plain
convolution, ``dx = im2col(dout) @ W^T``. Both reuse the package's :func:`im2col` and
:func:`col2im` kernels; no formula is written twice.

Upsampling by interpolation is linear too: along each axis it is a sparse (OH, H) matrix
``A``, and the 2-D upsampling of one channel is ``A_H X A_W^T``, whose adjoint (the backward
pass) is ``A_H^T dY A_W``.

References
----------
.. [1] V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning",
   arXiv:1603.07285, 2016, chapter 4 (transposed convolution arithmetic, relation 14).
.. [2] O. Ronneberger, P. Fischer and T. Brox, "U-Net: Convolutional Networks for Biomedical
   Image Segmentation", MICCAI 2015, arXiv:1505.04597 (up-convolutions, cropping, concat).
.. [3] PyTorch documentation, ``torch.nn.ConvTranspose2d`` and
   ``torch.nn.functional.interpolate``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from lapenna_labs._validation import as_float_array, check_cache
from lapenna_labs.conv._geometry import ConvGeometry, _window_geometry, as_pair
from lapenna_labs.conv.im2col import _check_dout, _col2im, _im2col

__all__ = [
    "ConvTranspose2dCache",
    "CropConcatCache",
    "UpsampleCache",
    "conv_transpose2d_backward",
    "conv_transpose2d_forward",
    "conv_transpose_output_size",
    "crop_and_concat",
    "crop_and_concat_backward",
    "upsample_bilinear2d_backward",
    "upsample_bilinear2d_forward",
    "upsample_nearest2d_backward",
    "upsample_nearest2d_forward",
]


# --------------------------------------------------------------------------------------------
# transposed convolution
# --------------------------------------------------------------------------------------------


class ConvTranspose2dCache(NamedTuple):
    """What :func:`conv_transpose2d_backward` needs from :func:`conv_transpose2d_forward`.

    Attributes
    ----------
    x_mat : ndarray, shape (N·H·W, C_in)
        The input as a matrix, one row per input pixel in (n, h, w) order.
    w : ndarray, shape (C_in, C_out, KH, KW)
        The filters, in the input's dtype.
    geometry : ConvGeometry
        The geometry of the *convolution* whose adjoint this is: its input is the transposed
        convolution's output (N, C_out, OH, OW), its output the transposed convolution's
        input (N, C_in, H, W).
    """

    x_mat: np.ndarray
    w: np.ndarray
    geometry: ConvGeometry


def conv_transpose_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0
) -> int:
    """The output length of a transposed convolution along one axis (may be <= 0).

    ``(size - 1)·stride - 2·padding + kernel + output_padding`` (Dumoulin and Visin,
    relation 14, plus PyTorch's `output_padding`).

    >>> conv_transpose_output_size(4, 2, stride=2)
    8
    >>> conv_transpose_output_size(4, 3, stride=2, padding=1, output_padding=1)
    8
    """
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def conv_transpose2d_forward(
    x: Any, w: Any, b: Any, stride: Any = 1, padding: Any = 0, output_padding: Any = 0
) -> tuple[np.ndarray, ConvTranspose2dCache]:
    r"""2-D transposed convolution of an NCHW batch, as the adjoint of :func:`conv2d_forward`.

    Parameters
    ----------
    x : array_like of float, shape (N, C_in, H, W)
        The input batch.
    w : array_like of float, shape (C_in, C_out, KH, KW)
        The filters, laid out as in PyTorch's ``ConvTranspose2d`` (input channels first: the
        layout of a convolution from C_out to C_in channels, whose adjoint this is).
    b : array_like of float, shape (C_out,), or None
        One bias per output channel (None: no bias).
    stride, padding : int or pair of int, default 1, 0
        Those of the convolution this is the adjoint of, along (H, W): `padding` rows and
        columns are *removed* from each side of the full output.
    output_padding : int or pair of int, default 0
        Rows (columns) added at the bottom (right) of the output; each must be smaller than
        the stride. A stride-S convolution maps S consecutive input sizes to the same output
        size; this picks which one to go back to.

    Returns
    -------
    out : ndarray, shape (N, C_out, OH, OW), x's dtype
        ``OH = (H - 1)·S - 2P + KH + output_padding`` and likewise OW.
    cache : ConvTranspose2dCache
        For :func:`conv_transpose2d_backward`.

    Notes
    -----
    With ``X`` the input as an (N·H·W, C_in) matrix and ``W = w.reshape(C_in, C_out·KH·KW)``,

    .. math:: \text{out} = \operatorname{col2im}(X W) + b,

    where col2im is that of the stride-S, padding-P convolution of an (N, C_out, OH, OW)
    image with filters w read as (F = C_in, C = C_out, KH, KW). Entrywise, each input pixel
    scatters a scaled copy of the kernel into the output:

    .. math:: \text{out}_{n o, S i + p - P, S j + q - P} \mathrel{+}=
              \sum_{c} x_{n c i j}\, w_{c o p q}.

    If ``T`` is that convolution's Toeplitz matrix (shape (C_in·H·W, C_out·OH·OW)), then
    ``out.reshape(N, -1) = x.reshape(N, -1) @ T + b``: the transposed convolution is
    multiplication by ``T^T``. Output rows beyond the reach of every window (possible with
    `output_padding`) receive only the bias.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    >>> out, _ = conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)), None, stride=2)
    >>> out[0, 0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.],
           [3., 3., 4., 4.],
           [3., 3., 4., 4.]])
    >>> out, _ = conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)), None)  # stride 1: overlaps
    >>> out[0, 0]
    array([[ 1.,  3.,  2.],
           [ 4., 10.,  6.],
           [ 3.,  7.,  4.]])
    """
    func = "conv_transpose2d_forward"
    x = as_float_array(x, name="x", func=func, ndim=4)
    w = as_float_array(w, name="w", func=func, ndim=4).astype(x.dtype, copy=False)
    N, C_in, H, W = x.shape
    Cw, C_out, KH, KW = w.shape
    if Cw != C_in:
        raise ValueError(
            f"{func}: x has {C_in} channels but w expects {Cw} "
            f"(w is (C_in, C_out, KH, KW) = {w.shape}, as in PyTorch's ConvTranspose2d)"
        )
    if b is not None:
        b = as_float_array(b, name="b", func=func, ndim=1).astype(x.dtype, copy=False)
        if b.shape != (C_out,):
            raise ValueError(
                f"{func}: b has shape {b.shape} but w has {C_out} output channels, "
                f"so b must be ({C_out},)"
            )
    s = as_pair(stride, name="stride", func=func)
    p = as_pair(padding, name="padding", func=func, minimum=0)
    op = as_pair(output_padding, name="output_padding", func=func, minimum=0)
    if op[0] >= s[0] or op[1] >= s[1]:
        raise ValueError(
            f"{func}: output_padding {op} must be smaller than the stride {s} along each axis"
        )
    OH = conv_transpose_output_size(H, KH, s[0], p[0], op[0])
    OW = conv_transpose_output_size(W, KW, s[1], p[1], op[1])
    if OH <= 0 or OW <= 0:
        raise ValueError(
            f"{func}: padding {p} removes the whole output: a {H}x{W} input with a {KH}x{KW} "
            f"kernel and stride {s} would give {OH}x{OW}"
        )
    # The convolution whose adjoint this is: (N, C_out, OH, OW) -> (N, C_in, H, W). Since
    # output_padding < stride, its output size is exactly H x W.
    g = _window_geometry((N, C_out, OH, OW), C_in, KH, KW, s, p, 1, 1, func)
    x_mat = x.transpose(0, 2, 3, 1).reshape(N * H * W, C_in)
    out = _col2im(x_mat @ w.reshape(C_in, C_out * KH * KW), g)
    if b is not None:
        out += b[:, None, None]
    return out, ConvTranspose2dCache(x_mat, w, g)


def conv_transpose2d_backward(
    dout: Any, cache: ConvTranspose2dCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward pass of :func:`conv_transpose2d_forward`: a plain convolution.

    Parameters
    ----------
    dout : array_like of float, shape (N, C_out, OH, OW)
        Gradient of the loss with respect to the transposed convolution's output.
    cache : ConvTranspose2dCache
        As returned by :func:`conv_transpose2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C_in, H, W)
        Gradient with respect to the input.
    dw : ndarray, shape (C_in, C_out, KH, KW)
        Gradient with respect to the filters.
    db : ndarray, shape (C_out,)
        Gradient with respect to the biases.

    Notes
    -----
    With ``D = im2col(dout)`` of shape (N·H·W, C_out·KH·KW) (the same window geometry as the
    forward pass's col2im) and ``X``, ``W`` as in the forward pass:

    .. math:: dX = D\, W^{\top}, \qquad dW = X^{\top} D, \qquad
              db_o = \sum_{n, i, j} \text{dout}_{n o i j}.

    ``dX`` is the convolution of dout with w (read as C_in filters of C_out channels), the
    adjoint of the adjoint: ``(T^T)^T = T``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    >>> out, cache = conv_transpose2d_forward(x, np.ones((1, 1, 2, 2)), np.zeros(1), stride=2)
    >>> dx, dw, db = conv_transpose2d_backward(np.ones_like(out), cache)
    >>> dx[0, 0], dw[0, 0], db
    (array([[4., 4.],
           [4., 4.]]), array([[10., 10.],
           [10., 10.]]), array([16.]))
    """
    func = "conv_transpose2d_backward"
    check_cache(cache, ConvTranspose2dCache, forward="conv_transpose2d_forward", func=func)
    x_mat, w, g = cache
    want = (g.N, g.C, g.H, g.W)  # the geometry's input is this layer's output
    dout = _check_dout(dout, want, func).astype(w.dtype, copy=False)
    C_in = g.F
    dcols = _im2col(dout, g)  # (N·H·W, C_out·KH·KW)
    w_mat = w.reshape(C_in, -1)
    dx = (dcols @ w_mat.T).reshape(g.N, g.OH, g.OW, C_in).transpose(0, 3, 1, 2)
    dw = (x_mat.T @ dcols).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3))
    return np.ascontiguousarray(dx), dw, db


# --------------------------------------------------------------------------------------------
# upsampling
# --------------------------------------------------------------------------------------------


class UpsampleCache(NamedTuple):
    """What the upsampling backward passes need.

    Attributes
    ----------
    x_shape : tuple of int
        (N, C, H, W) of the input.
    scale : tuple of (int, int)
        The integer scale factors along (H, W).
    matrices : tuple of ndarray, or None
        For bilinear upsampling, the interpolation matrices ``A_H`` (OH, H) and ``A_W``
        (OW, W); None for nearest.
    """

    x_shape: tuple[int, int, int, int]
    scale: tuple[int, int]
    matrices: tuple[np.ndarray, np.ndarray] | None


def _check_upsample_backward(dout: Any, cache: UpsampleCache, func: str) -> np.ndarray:
    if not isinstance(cache, UpsampleCache):
        raise ValueError(f"{func}: cache must be the UpsampleCache of the forward pass")
    N, C, H, W = cache.x_shape
    return _check_dout(dout, (N, C, H * cache.scale[0], W * cache.scale[1]), func)


def upsample_nearest2d_forward(x: Any, scale: Any) -> tuple[np.ndarray, UpsampleCache]:
    """Nearest-neighbour upsampling of an NCHW batch by integer factors.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
        The input batch.
    scale : int or pair of int
        The factors (sH, sW) along (H, W), each a positive integer.

    Returns
    -------
    out : ndarray, shape (N, C, sH·H, sW·W), x's dtype
        ``out[n, c, i, j] = x[n, c, i // sH, j // sW]``: each pixel becomes an sH x sW block.
    cache : UpsampleCache
        For :func:`upsample_nearest2d_backward`.

    Notes
    -----
    This is ``torch.nn.functional.interpolate(x, scale_factor=s, mode="nearest")``, whose
    source index is ``floor(i / s)``. Only integer factors are accepted: for a fractional
    factor PyTorch's floor of a float product differs from ``"nearest-exact"`` and from other
    libraries, a trap best left out of a reference. As a matrix along one axis it is
    ``A[i, h] = 1 if h == i // s``: a transposed convolution with a kernel of ones, stride s.

    Examples
    --------
    >>> import numpy as np
    >>> out, _ = upsample_nearest2d_forward(np.array([[[[1.0, 2.0]]]]), (2, 2))
    >>> out[0, 0]
    array([[1., 1., 2., 2.],
           [1., 1., 2., 2.]])
    """
    func = "upsample_nearest2d_forward"
    x = as_float_array(x, name="x", func=func, ndim=4)
    sh, sw = as_pair(scale, name="scale", func=func)
    out = np.repeat(np.repeat(x, sh, axis=2), sw, axis=3)
    return out, UpsampleCache(x.shape, (sh, sw), None)


def upsample_nearest2d_backward(dout: Any, cache: UpsampleCache) -> np.ndarray:
    """Backward pass of :func:`upsample_nearest2d_forward`: sum each sH x sW block.

    Parameters
    ----------
    dout : array_like of float, shape (N, C, sH·H, sW·W)
        Gradient with respect to the upsampled output.
    cache : UpsampleCache
        As returned by the forward pass.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        ``dx[n, c, h, w] = sum of dout over the block that copied x[n, c, h, w]``.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = upsample_nearest2d_forward(np.zeros((1, 1, 1, 2)), 2)
    >>> upsample_nearest2d_backward(np.arange(8.0).reshape(1, 1, 2, 4), cache)
    array([[[[10., 18.]]]])
    """
    func = "upsample_nearest2d_backward"
    dout = _check_upsample_backward(dout, cache, func)
    N, C, H, W = cache.x_shape
    sh, sw = cache.scale
    return dout.reshape(N, C, H, sh, W, sw).sum(axis=(3, 5))


def _linear_interpolation_matrix(
    size: int, scale: int, align_corners: bool, dtype: np.dtype
) -> np.ndarray:
    """``A`` (scale·size, size): row i holds the two weights of output i, as in PyTorch."""
    out_size = size * scale
    i = np.arange(out_size, dtype=np.float64)
    if align_corners:
        # The corner pixels' centres coincide: output 0 is input 0, output OH-1 is input H-1.
        src = i * ((size - 1) / (out_size - 1)) if out_size > 1 else np.zeros_like(i)
    else:
        # Pixel centres at half-integers: output i sits at (i + 0.5)/s - 0.5 in the input;
        # PyTorch clamps the negative positions of the first output pixels to 0.
        src = np.maximum((i + 0.5) / scale - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), size - 1)
    hi = np.minimum(lo + 1, size - 1)
    frac = src - lo
    A = np.zeros((out_size, size))
    rows = np.arange(out_size)
    np.add.at(A, (rows, lo), 1.0 - frac)
    np.add.at(A, (rows, hi), frac)  # when hi == lo (the last pixel) the weights add to 1
    return A.astype(dtype)


def upsample_bilinear2d_forward(
    x: Any, scale: Any, align_corners: bool = False
) -> tuple[np.ndarray, UpsampleCache]:
    r"""Bilinear upsampling of an NCHW batch by integer factors, as PyTorch computes it.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
        The input batch.
    scale : int or pair of int
        The factors (sH, sW) along (H, W), each a positive integer.
    align_corners : bool, default False
        PyTorch's flag. False: pixels are unit squares and output pixel i's centre maps to
        ``(i + 0.5)/s - 0.5`` in the input (clamped at 0), so the corners of the images
        align. True: the centres of the corner pixels align, ``i·(H - 1)/(OH - 1)``.

    Returns
    -------
    out : ndarray, shape (N, C, sH·H, sW·W), x's dtype
    cache : UpsampleCache
        Holds the two interpolation matrices, for :func:`upsample_bilinear2d_backward`.

    Notes
    -----
    Bilinear interpolation is linear interpolation along H, then along W. Along one axis
    output i reads the source position ``u_i`` above, with ``l = floor(u_i)``,
    ``λ = u_i - l`` and ``A[i, l] = 1 - λ``, ``A[i, min(l + 1, H - 1)] += λ``. Then, per
    channel,

    .. math:: Y = A_H\, X\, A_W^{\top}, \qquad dX = A_H^{\top}\, dY\, A_W.

    This matches ``torch.nn.functional.interpolate(x, scale_factor=s, mode="bilinear",
    align_corners=...)`` for integer s. With ``align_corners=False`` and s = 2 the weights
    are 3/4 and 1/4 (except at the borders); with True they depend on H.

    Examples
    --------
    >>> import numpy as np
    >>> out, _ = upsample_bilinear2d_forward(np.array([[[[0.0, 4.0]]]]), (1, 2))
    >>> out[0, 0]
    array([[0., 1., 3., 4.]])
    >>> out, _ = upsample_bilinear2d_forward(np.array([[[[0.0, 3.0]]]]), (1, 2), True)
    >>> out[0, 0]
    array([[0., 1., 2., 3.]])
    """
    func = "upsample_bilinear2d_forward"
    x = as_float_array(x, name="x", func=func, ndim=4)
    sh, sw = as_pair(scale, name="scale", func=func)
    if not isinstance(align_corners, (bool, np.bool_)):
        raise ValueError(f"{func}: align_corners must be True or False, got {align_corners!r}")
    A_h = _linear_interpolation_matrix(x.shape[2], sh, bool(align_corners), x.dtype)
    A_w = _linear_interpolation_matrix(x.shape[3], sw, bool(align_corners), x.dtype)
    out = A_h @ x @ A_w.T  # (OH, H) @ (N, C, H, W) @ (W, OW), broadcast over (N, C)
    return out, UpsampleCache(x.shape, (sh, sw), (A_h, A_w))


def upsample_bilinear2d_backward(dout: Any, cache: UpsampleCache) -> np.ndarray:
    r"""Backward pass of :func:`upsample_bilinear2d_forward`: ``dX = A_H^T dY A_W``.

    Parameters
    ----------
    dout : array_like of float, shape (N, C, sH·H, sW·W)
        Gradient with respect to the upsampled output.
    cache : UpsampleCache
        As returned by the forward pass.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        Each input pixel collects the output gradients times the weights it was given.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = upsample_bilinear2d_forward(np.zeros((1, 1, 1, 2)), (1, 2))
    >>> upsample_bilinear2d_backward(np.ones((1, 1, 1, 4)), cache)
    array([[[[2., 2.]]]])
    """
    func = "upsample_bilinear2d_backward"
    dout = _check_upsample_backward(dout, cache, func)
    if cache.matrices is None:
        raise ValueError(f"{func}: cache comes from nearest upsampling, not bilinear")
    A_h, A_w = cache.matrices
    return A_h.T @ dout.astype(A_h.dtype, copy=False) @ A_w


# --------------------------------------------------------------------------------------------
# U-Net's skip connection
# --------------------------------------------------------------------------------------------


class CropConcatCache(NamedTuple):
    """What :func:`crop_and_concat_backward` needs.

    Attributes
    ----------
    skip_shape : tuple of int
        (N, C_skip, H_skip, W_skip) of the skip connection.
    top, left : int
        Where the crop starts in the skip connection.
    """

    skip_shape: tuple[int, int, int, int]
    top: int
    left: int


def crop_and_concat(skip: Any, x: Any) -> tuple[np.ndarray, CropConcatCache]:
    """Centre-crop U-Net's skip connection to x's size and stack it before x's channels.

    Parameters
    ----------
    skip : array_like of float, shape (N, C_skip, H_skip, W_skip)
        The feature map of the contracting path; at least as tall and wide as `x`.
    x : array_like of float, shape (N, C_x, H, W)
        The upsampled feature map of the expanding path.

    Returns
    -------
    out : ndarray, shape (N, C_skip + C_x, H, W), the common dtype
        ``concat([skip[:, :, top:top+H, left:left+W], x], axis=1)``: the skip's channels
        first, as in ``torch.cat([cropped_skip, x], dim=1)``.
    cache : CropConcatCache
        For :func:`crop_and_concat_backward`.

    Notes
    -----
    With valid (unpadded) convolutions every 3x3 layer trims a pixel from each side, so the
    contracting path's maps are larger than the expanding path's at the same depth (64x64
    against 56x56 at U-Net's lowest skip). The crop is centred, ``top = (H_skip - H) // 2``
    and ``left = (W_skip - W) // 2``; for an odd difference the extra row and column are
    dropped at the bottom and right. The operation is a selection followed by a stacking,
    so its backward pass splits the gradient by channels and zero-pads the skip's part back.

    Examples
    --------
    >>> import numpy as np
    >>> skip = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> out, _ = crop_and_concat(skip, np.zeros((1, 1, 2, 2)))
    >>> out.shape, out[0, 0]
    ((1, 2, 2, 2), array([[ 5.,  6.],
           [ 9., 10.]]))
    """
    func = "crop_and_concat"
    skip = as_float_array(skip, name="skip", func=func, ndim=4)
    x = as_float_array(x, name="x", func=func, ndim=4)
    N, _, Hs, Ws = skip.shape
    _, _, H, W = x.shape
    if x.shape[0] != N:
        raise ValueError(f"{func}: skip has batch size {N} but x has {x.shape[0]}")
    if Hs < H or Ws < W:
        raise ValueError(
            f"{func}: skip is {Hs}x{Ws}, smaller than x's {H}x{W}; it can only be cropped"
        )
    top, left = (Hs - H) // 2, (Ws - W) // 2
    cropped = skip[:, :, top : top + H, left : left + W]
    out = np.concatenate([cropped, x], axis=1)
    return out, CropConcatCache(skip.shape, top, left)


def crop_and_concat_backward(dout: Any, cache: CropConcatCache) -> tuple[np.ndarray, np.ndarray]:
    """Backward pass of :func:`crop_and_concat`: split by channels, zero-pad the skip's part.

    Parameters
    ----------
    dout : array_like of float, shape (N, C_skip + C_x, H, W)
        Gradient with respect to the concatenation.
    cache : CropConcatCache
        As returned by :func:`crop_and_concat`.

    Returns
    -------
    dskip : ndarray, shape (N, C_skip, H_skip, W_skip)
        The first C_skip channels of dout in the crop window, zeros outside it (those pixels
        of the skip connection were not used).
    dx : ndarray, shape (N, C_x, H, W)
        The remaining channels of dout.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = crop_and_concat(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 1, 1)))
    >>> dskip, dx = crop_and_concat_backward(np.array([[[[5.0]], [[7.0]]]]), cache)
    >>> dskip[0, 0], dx[0, 0]
    (array([[0., 0., 0.],
           [0., 5., 0.],
           [0., 0., 0.]]), array([[7.]]))
    """
    func = "crop_and_concat_backward"
    if not isinstance(cache, CropConcatCache):
        raise ValueError(f"{func}: cache must be the CropConcatCache of crop_and_concat")
    dout = as_float_array(dout, name="dout", func=func, ndim=4)
    N, Cs, Hs, Ws = cache.skip_shape
    if dout.shape[0] != N or dout.shape[1] <= Cs:
        raise ValueError(
            f"{func}: dout has shape {dout.shape} but the forward output had batch size {N} "
            f"and more than {Cs} channels"
        )
    H, W = dout.shape[2:]
    if cache.top + H > Hs or cache.left + W > Ws:
        raise ValueError(f"{func}: dout is {H}x{W}, which does not fit the crop of the forward")
    dskip = np.zeros((N, Cs, Hs, Ws), dtype=dout.dtype)
    dskip[:, :, cache.top : cache.top + H, cache.left : cache.left + W] = dout[:, :Cs]
    return dskip, dout[:, Cs:].copy()
