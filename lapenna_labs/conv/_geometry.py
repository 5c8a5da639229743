"""The shape arithmetic of a 2-D convolution or pooling window, written once.

Every conv and pool function (im2col, the naive loops, the counts, the pools, the Toeplitz,
FFT and Winograd alternatives) turns its arguments into a :class:`ConvGeometry` here, so the
output-size formula and the input checks exist in one place.

The output size along one axis (Dumoulin and Visin's relation, with dilation) is

.. math:: O = \\left\\lfloor \\frac{I + 2P - D\\,(K - 1) - 1}{S} \\right\\rfloor + 1

for input size I, padding P on each side, kernel size K, dilation D and stride S.

References
----------
.. [1] V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning",
   arXiv:1603.07285, 2016, relations 1-6 and section 5.1 (dilation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lapenna_labs._validation import as_float_array, check_positive_int

__all__ = [
    "ConvGeometry",
    "as_pair",
    "as_shape4",
    "conv_geometry",
    "output_size",
    "pool_geometry",
    "shape_geometry",
]


def as_pair(value: Any, *, name: str, func: str, minimum: int = 1) -> tuple[int, int]:
    """Return an int or a pair of ints as ``(along H, along W)``, each at least `minimum`.

    >>> as_pair(2, name="stride", func="f")
    (2, 2)
    >>> as_pair((1, 3), name="stride", func="f")
    (1, 3)
    """
    items = value if isinstance(value, (tuple, list)) else (value, value)
    ok = len(items) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in items
    )
    if not ok:
        least = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(
            f"{func}: {name} must be an int or a pair of ints, each {least}, got {value!r}"
        )
    return int(items[0]), int(items[1])


def output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """The output length along one axis (see the module's formula); it may be <= 0.

    >>> output_size(28, 5, padding=2)
    28
    >>> output_size(224, 7, stride=2, padding=3)
    112
    """
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@dataclass(frozen=True)
class ConvGeometry:
    """Every size of one convolution (or pooling window) over an NCHW batch.

    Attributes
    ----------
    N, C, H, W : int
        Batch size, input channels, input height and width.
    F, KH, KW : int
        Output channels (filters) and kernel height and width (F = C for a pool).
    stride, padding, dilation : tuple of (int, int)
        Along (H, W).
    groups : int
        Input and output channels split into this many independent convolutions.
    OH, OW : int
        Output height and width.
    """

    N: int
    C: int
    H: int
    W: int
    F: int
    KH: int
    KW: int
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    OH: int
    OW: int

    @property
    def gemm_shape(self) -> tuple[int, int, int]:
        """``(M, K, F_g)`` of the im2col product of one group.

        M = N·OH·OW rows (one per output pixel), K = (C/groups)·KH·KW columns (one per
        weight of a filter) and F/groups outputs, so ``cols (M, K) @ w.T (K, F/groups)``.
        """
        return (
            self.N * self.OH * self.OW,
            (self.C // self.groups) * self.KH * self.KW,
            self.F // self.groups,
        )

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        """``(N, F, OH, OW)``."""
        return (self.N, self.F, self.OH, self.OW)


def _window_geometry(
    x_shape: tuple[int, ...],
    F: int,
    KH: int,
    KW: int,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
    func: str,
) -> ConvGeometry:
    N, C, H, W = x_shape
    stride = as_pair(stride, name="stride", func=func)
    padding = as_pair(padding, name="padding", func=func, minimum=0)
    dilation = as_pair(dilation, name="dilation", func=func)
    OH = output_size(H, KH, stride[0], padding[0], dilation[0])
    OW = output_size(W, KW, stride[1], padding[1], dilation[1])
    if OH <= 0 or OW <= 0:
        span_h = dilation[0] * (KH - 1) + 1
        span_w = dilation[1] * (KW - 1) + 1
        raise ValueError(
            f"{func}: a {span_h}x{span_w} window (kernel {KH}x{KW}, dilation {dilation}) does "
            f"not fit in the {H}x{W} input padded by {padding}; the output would be {OH}x{OW}"
        )
    return ConvGeometry(N, C, H, W, F, KH, KW, stride, padding, dilation, groups, OH, OW)


def as_shape4(value: Any, *, name: str, func: str) -> tuple[int, int, int, int]:
    """Return a shape of 4 positive ints (any iterable of them) as a tuple.

    >>> as_shape4([1, 3, 8, 8], name="x_shape", func="f")
    (1, 3, 8, 8)
    """
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    ok = len(items) == 4 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in items
    )
    if not ok:
        raise ValueError(f"{func}: {name} must be a shape of 4 positive ints, got {value!r}")
    return tuple(int(v) for v in items)  # type: ignore[return-value]


def shape_geometry(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    stride: Any,
    padding: Any,
    dilation: Any = 1,
    groups: Any = 1,
    *,
    func: str,
) -> ConvGeometry:
    """The geometry of a convolution from the shapes of `x` and `w` alone, no arrays made.

    The counts of :mod:`lapenna_labs.conv.counts` and :mod:`lapenna_labs.conv.alternatives`
    check their shapes here, so a 224 x 224 batch costs nothing.

    >>> shape_geometry((1, 3, 224, 224), (64, 3, 7, 7), 2, 3, func="f").out_shape
    (1, 64, 112, 112)
    """
    x_shape = as_shape4(x_shape, name="x_shape", func=func)
    F, Cg, KH, KW = as_shape4(w_shape, name="w_shape", func=func)
    groups = check_positive_int(groups, name="groups", func=func)
    C = x_shape[1]
    if C % groups or F % groups or Cg * groups != C:
        raise ValueError(
            f"{func}: x_shape has {C} channels and w_shape {(F, Cg, KH, KW)} with "
            f"groups={groups}; groups must divide C and F, and w_shape[1] must be C // groups"
        )
    return _window_geometry(x_shape, F, KH, KW, stride, padding, dilation, groups, func)


def conv_geometry(
    x: Any,
    w: Any,
    b: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: Any = 1,
    *,
    func: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, ConvGeometry]:
    """Check a convolution's arguments and return ``(x, w, b, geometry)`` as arrays.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    w : array_like, shape (F, C // groups, KH, KW)
    b : array_like, shape (F,), optional
    stride, padding, dilation : int or pair of int
    groups : int
        Must divide both C and F.
    func : str
        The public function's name, for the messages.

    Returns
    -------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C // groups, KH, KW)
    b : ndarray, shape (F,), or None
    geometry : ConvGeometry

    Examples
    --------
    >>> import numpy as np
    >>> _, _, _, g = conv_geometry(np.zeros((2, 3, 8, 8)), np.zeros((4, 3, 3, 3)), func="f")
    >>> g.out_shape, g.gemm_shape
    ((2, 4, 6, 6), (72, 27, 4))
    """
    x = as_float_array(x, name="x", func=func, ndim=4)
    w = as_float_array(w, name="w", func=func, ndim=4)
    groups = check_positive_int(groups, name="groups", func=func)
    F, Cg, KH, KW = w.shape
    C = x.shape[1]
    if C % groups or F % groups:
        raise ValueError(
            f"{func}: groups={groups} must divide both the {C} input channels of x and the "
            f"{F} filters of w"
        )
    if Cg * groups != C:
        raise ValueError(
            f"{func}: x has {C} channels but w expects {Cg * groups} "
            f"(w is (F, C // groups, KH, KW) = {w.shape} with groups={groups})"
        )
    if b is not None:
        b = as_float_array(b, name="b", func=func, ndim=1)
        if b.shape != (F,):
            raise ValueError(
                f"{func}: b has shape {b.shape} but w has {F} filters, so b must be ({F},)"
            )
    geometry = _window_geometry(x.shape, F, KH, KW, stride, padding, dilation, groups, func)
    return x, w, b, geometry


def pool_geometry(
    x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, *, func: str
) -> tuple[np.ndarray, ConvGeometry]:
    """Check a pool's arguments; `stride` defaults to `kernel_size`, as in PyTorch.

    Returns ``(x, geometry)`` with ``geometry.F == geometry.C`` and ``groups == C``: a pool
    acts on each channel alone.

    >>> import numpy as np
    >>> pool_geometry(np.zeros((1, 6, 28, 28)), 2, func="f")[1].out_shape
    (1, 6, 14, 14)
    """
    x = as_float_array(x, name="x", func=func, ndim=4)
    KH, KW = as_pair(kernel_size, name="kernel_size", func=func)
    stride = (KH, KW) if stride is None else stride
    pad = as_pair(padding, name="padding", func=func, minimum=0)
    if pad[0] > KH // 2 or pad[1] > KW // 2:
        raise ValueError(
            f"{func}: padding {pad} must be at most half the kernel {(KH, KW)}, as in PyTorch"
        )
    C = x.shape[1]
    return x, _window_geometry(x.shape, C, KH, KW, stride, pad, 1, C, func)
