"""Week 5's worked examples (CNN computation): a convolution by hand and receptive fields.

HAND_INPUT, HAND_KERNEL, HAND_BIAS
    A 5x5 input and a 3x3 kernel: :func:`conv_by_hand` returns every window, its products
    and its sum, so the chapter can print the whole computation.
receptive_field
    The receptive field of a stack of layers, each given by its kernel size and stride.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["HAND_BIAS", "HAND_INPUT", "HAND_KERNEL", "conv_by_hand", "receptive_field"]

HAND_INPUT: np.ndarray = np.array(
    [
        [1, 2, 0, 1, 3],
        [0, 1, 3, 2, 1],
        [2, 0, 1, 0, 2],
        [1, 3, 2, 1, 0],
        [0, 1, 0, 2, 1],
    ],
    dtype=float,
)
HAND_INPUT.setflags(write=False)
"""A 5x5 single-channel input (small integers, so every product is easy to check)."""

HAND_KERNEL: np.ndarray = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
HAND_KERNEL.setflags(write=False)
"""A 3x3 kernel: the Sobel filter for horizontal change (as a cross-correlation)."""

HAND_BIAS: float = 0.0


def conv_by_hand(
    x: np.ndarray = HAND_INPUT, k: np.ndarray = HAND_KERNEL, b: float = HAND_BIAS
) -> dict[str, np.ndarray]:
    """A single-channel "valid" cross-correlation with stride 1, every intermediate kept.

    Parameters
    ----------
    x : ndarray, shape (H, W)
    k : ndarray, shape (KH, KW)
    b : float

    Returns
    -------
    dict of str to ndarray
        ``windows`` (OH, OW, KH, KW): the input under the kernel at each output position;
        ``products`` (OH, OW, KH, KW): ``windows * k``; ``out`` (OH, OW): ``products`` summed
        plus ``b``. OH = H - KH + 1, OW = W - KW + 1.

    Notes
    -----
    ``out[i, j] = b + sum_{u, v} x[i + u, j + v] k[u, v]``: what deep-learning libraries call
    a convolution (no kernel flip). Written as explicit loops on purpose, independent of the
    package's im2col.

    Examples
    --------
    >>> float(conv_by_hand()["out"][0, 0])
    -4.0
    """
    x = np.asarray(x, dtype=float)
    k = np.asarray(k, dtype=float)
    if x.ndim != 2 or k.ndim != 2 or k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]:
        raise ValueError(f"conv_by_hand: need 2-D x and a smaller 2-D k, got {x.shape}, {k.shape}")
    kh, kw = k.shape
    oh, ow = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    windows = np.empty((oh, ow, kh, kw))
    for i in range(oh):
        for j in range(ow):
            windows[i, j] = x[i : i + kh, j : j + kw]
    products = windows * k
    return {"windows": windows, "products": products, "out": products.sum(axis=(2, 3)) + b}


def receptive_field(layers: Sequence[tuple[int, int]]) -> list[int]:
    """Receptive field (in input pixels, along one axis) after each layer of a stack.

    Parameters
    ----------
    layers : sequence of (kernel, stride)
        One pair per layer, first layer first (a pool is a layer too).

    Returns
    -------
    list of int
        ``r_l`` for l = 1 .. L.

    Notes
    -----
    ``r_0 = 1``, ``j_0 = 1``; ``r_l = r_{l-1} + (k_l - 1) j_{l-1}``, ``j_l = j_{l-1} s_l``:
    each layer widens the field by (k - 1) steps of the current "jump" j, the product of the
    strides before it.

    Examples
    --------
    >>> receptive_field([(3, 1)] * 3)
    [3, 5, 7]
    >>> receptive_field([(3, 1), (2, 2), (3, 1)])
    [3, 4, 8]
    """
    r, jump, out = 1, 1, []
    for kernel, stride in layers:
        if kernel < 1 or stride < 1:
            raise ValueError(
                f"receptive_field: kernel and stride must be >= 1, got {kernel, stride}"
            )
        r += (kernel - 1) * jump
        jump *= stride
        out.append(r)
    return out
