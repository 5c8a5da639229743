"""What one 2-D convolution costs: multiply-adds, flops, bytes, im2col's blow-up, intensity.

* :func:`conv2d_counts` returns a frozen :class:`ConvCounts` with every count of one layer;
* :func:`conv2d_macs` and :func:`conv2d_flops` are the two numbers most often wanted.

Conventions
-----------
A MAC is one multiply-add, ``acc += w * x``. The flops are ``2 MACs``, the convention of
PyTorch's ``torch.utils.flop_counter.FlopCounterMode`` (and of :func:`gemm_flops`'s
``2 m n k``); the bias adds (one per output element) are *not* in ``flops``, as
FlopCounterMode ignores them too; they are reported separately as ``bias_flops``. The
backward pass costs ``2 MACs`` flops for the gradient of x and ``2 MACs`` for the gradient of
w (each is a convolution of the same size), so a training step costs ``6 MACs`` flops, or
``4 MACs`` for a first layer whose input needs no gradient. (FlopCounterMode agrees for
``groups = 1``; for a grouped convolution it counts the weight gradient as ``groups`` times
``2 MACs``, because it sizes that convolution with all C input channels.)

Bytes are the compulsory traffic: read x and w (and b), write the output, each once.

References
----------
.. [1] K. Chellapilla, S. Puri, P. Simard, "High performance convolutional neural networks for
   document processing", IWFHR 2006 (im2col: unfolding the convolution into one GEMM).
.. [2] V. Sze, Y.-H. Chen, T.-J. Yang, J. Emer, "Efficient processing of deep neural networks:
   a tutorial and survey", Proc. IEEE 105(12), 2017, section on MACs and data movement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lapenna_labs.blas.counts import gemm_bytes, gemm_flops, itemsize
from lapenna_labs.conv._geometry import ConvGeometry, shape_geometry

__all__ = ["ConvCounts", "conv2d_counts", "conv2d_flops", "conv2d_macs"]


@dataclass(frozen=True)
class ConvCounts:
    """Every count of one convolution layer (see the module's conventions).

    Attributes
    ----------
    geometry : ConvGeometry
        The layer's sizes.
    macs : int
        Multiply-adds, ``N F OH OW (C / groups) KH KW``.
    flops : int
        ``2 macs`` (bias excluded, as in FlopCounterMode).
    bias_flops : int
        ``N F OH OW`` when there is a bias, else 0.
    backward_flops : int
        ``4 macs``: ``2 macs`` for dx and ``2 macs`` for dw (db not counted).
    params : int
        ``F (C / groups) KH KW`` (+ F with a bias).
    x_bytes, w_bytes, out_bytes : int
        Bytes of x (N, C, H, W), of w and b, and of the output (N, F, OH, OW).
    bytes : int
        ``x_bytes + w_bytes + out_bytes``: the minimum traffic of the direct convolution.
    intensity : float
        ``flops / bytes`` of the direct convolution, flops per byte.
    gemm_shape : tuple of (int, int, int)
        ``(M, K, F_g)`` of one group's im2col product ``cols (M, K) @ w_g.T (K, F_g)``.
    cols_elements, cols_bytes : int
        Elements and bytes of the im2col matrices of all groups, ``groups M K``.
    im2col_blowup : float
        ``cols_elements / (N C H W)``: how many times larger the cols are than x.
    gemm_flops : int
        ``groups 2 M K F_g``, equal to ``flops``.
    gemm_bytes : int
        ``groups (M K + K F_g + M F_g) itemsize``: read cols and w, write the output.
    gemm_intensity : float
        ``gemm_flops / gemm_bytes``.
    """

    geometry: ConvGeometry
    macs: int
    flops: int
    bias_flops: int
    backward_flops: int
    params: int
    x_bytes: int
    w_bytes: int
    out_bytes: int
    bytes: int
    intensity: float
    gemm_shape: tuple[int, int, int]
    cols_elements: int
    cols_bytes: int
    im2col_blowup: float
    gemm_flops: int
    gemm_bytes: int
    gemm_intensity: float


def _macs(g: ConvGeometry) -> int:
    """The multiply-adds of a checked convolution: one ``(M, K) x (K, F/groups)`` GEMM a group.

    :func:`conv2d_counts` and :func:`conv2d_macs` both count them here, so the two agree.
    """
    M, K, Fg = g.gemm_shape
    return g.groups * M * K * Fg


def conv2d_counts(
    x_shape: Any,
    w_shape: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    *,
    bias: bool = True,
    dtype: Any = "float32",
) -> ConvCounts:
    """All the counts of one convolution ``out = conv2d(x, w, b)``.

    Parameters
    ----------
    x_shape : tuple of int, (N, C, H, W)
        The input batch's shape.
    w_shape : tuple of int, (F, C // groups, KH, KW)
        The weights' shape, as in PyTorch.
    stride, padding, dilation : int or pair of int
        Along (H, W).
    groups : int, default 1
        Must divide C and F.
    bias : bool, default True
        Whether the layer has a bias b of shape (F,).
    dtype : str or dtype, default "float32"
        Element type, for the bytes (see :func:`lapenna_labs.blas.counts.itemsize`).

    Returns
    -------
    ConvCounts

    Notes
    -----
    With ``M = N OH OW``, ``K = (C / g) KH KW`` and ``F_g = F / g``, the convolution is ``g``
    products ``(M, K) @ (K, F_g)``, hence ``macs = g M K F_g``. Each cols row copies one
    receptive field, so the cols hold ``OH OW KH KW / (H W)`` times the elements of x: about
    ``KH KW / stride**2``, 9 for a 3x3 stride-1 "same" convolution.

    Examples
    --------
    >>> c = conv2d_counts((1, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3, bias=False)
    >>> c.geometry.out_shape, c.macs, c.flops == 2 * c.macs
    ((1, 64, 112, 112), 118013952, True)
    >>> c.gemm_shape, round(c.im2col_blowup, 2)
    ((12544, 147, 64), 12.25)
    """
    func = "conv2d_counts"
    g = shape_geometry(x_shape, w_shape, stride, padding, dilation, groups, func=func)
    size = itemsize(dtype, func=func)
    M, K, Fg = g.gemm_shape
    macs = _macs(g)
    flops = 2 * macs
    out_elements = g.N * g.F * g.OH * g.OW
    params = g.F * K + (g.F if bias else 0)
    x_bytes = g.N * g.C * g.H * g.W * size
    w_bytes = params * size
    out_bytes = out_elements * size
    total = x_bytes + w_bytes + out_bytes
    cols_elements = g.groups * M * K
    # C = A B, so the GEMM's bytes do not read C (accumulate=False); its flops keep the 2mnk
    # convention so that they equal the conv's.
    mm_flops = g.groups * gemm_flops(M, Fg, K)
    mm_bytes = g.groups * gemm_bytes(M, Fg, K, dtype, accumulate=False)
    return ConvCounts(
        geometry=g,
        macs=macs,
        flops=flops,
        bias_flops=out_elements if bias else 0,
        backward_flops=2 * flops,
        params=params,
        x_bytes=x_bytes,
        w_bytes=w_bytes,
        out_bytes=out_bytes,
        bytes=total,
        intensity=flops / total,
        gemm_shape=(M, K, Fg),
        cols_elements=cols_elements,
        cols_bytes=cols_elements * size,
        im2col_blowup=cols_elements / (g.N * g.C * g.H * g.W),
        gemm_flops=mm_flops,
        gemm_bytes=mm_bytes,
        gemm_intensity=mm_flops / mm_bytes,
    )


def conv2d_macs(
    x_shape: Any,
    w_shape: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> int:
    """Multiply-adds of one convolution, ``N F OH OW (C / groups) KH KW``.

    Examples
    --------
    >>> conv2d_macs((1, 64, 56, 56), (64, 64, 3, 3), padding=1)
    115605504
    """
    return _macs(
        shape_geometry(x_shape, w_shape, stride, padding, dilation, groups, func="conv2d_macs")
    )


def conv2d_flops(
    x_shape: Any,
    w_shape: Any,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
    *,
    backward: bool = False,
    input_grad: bool = True,
) -> int:
    """Flops of one convolution in FlopCounterMode's convention: ``2 MACs``, bias ignored.

    Parameters
    ----------
    x_shape, w_shape, stride, padding, dilation, groups
        As in :func:`conv2d_counts`.
    backward : bool, default False
        Add the backward pass: ``2 MACs`` for dw, and ``2 MACs`` for dx if `input_grad`.
    input_grad : bool, default True
        Whether x needs a gradient (False for a network's first layer).

    Returns
    -------
    int

    Examples
    --------
    >>> conv2d_flops((1, 64, 56, 56), (64, 64, 3, 3), padding=1)
    231211008
    >>> conv2d_flops((1, 64, 56, 56), (64, 64, 3, 3), padding=1, backward=True) // 231211008
    3
    """
    macs = conv2d_macs(x_shape, w_shape, stride, padding, dilation, groups)
    passes = 1 + (1 + int(input_grad) if backward else 0)
    return 2 * macs * passes
