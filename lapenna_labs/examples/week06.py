r"""Week 6's worked example (CNN backpropagation): one image through conv, ReLU, pool, dense.

The smallest network with every kind of layer of a CNN, small enough to backpropagate by
hand, and the same numbers as lab 6's Part 3 (so chapter and lab agree):

.. math:: x\ (1, 1, 5, 5) \xrightarrow{\text{conv } w, b} z\ (1, 2, 4, 4)
          \xrightarrow{\text{relu}} a \xrightarrow{\text{max pool } 2} p\ (1, 2, 2, 2)
          \xrightarrow{\text{flatten}} f\ (1, 8) \xrightarrow{f V + c} \text{logits}\ (1, 3)
          \xrightarrow{} L = -\log \operatorname{softmax}(\text{logits})_y

EXAMPLE_INPUT, EXAMPLE_FILTERS, EXAMPLE_CONV_BIAS, EXAMPLE_DENSE_WEIGHTS, EXAMPLE_DENSE_BIAS,
EXAMPLE_LABELS
    The network's input, parameters and label (read-only arrays). The image is week 5's
    hand-convolution input (:data:`lapenna_labs.examples.week05.HAND_INPUT`).
worked_example
    Every intermediate of the forward pass and every gradient of the backward pass,
    computed with the package's own layers.

The numbers are chosen so that two of the places where a derivative does not exist show up
on purpose: three entries of ``z`` are exactly 0 (the ReLU's kink; the subgradient used is 0,
as in PyTorch) and two pooling windows hold tied maxima (the first maximum in row-major order
takes the gradient, as in PyTorch and TensorFlow on the CPU). Finite differences disagree
with autograd exactly there; on inputs without ties they agree everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lapenna_labs import conv, layers, losses
from lapenna_labs.examples.week05 import HAND_INPUT

__all__ = [
    "EXAMPLE_CONV_BIAS",
    "EXAMPLE_DENSE_BIAS",
    "EXAMPLE_DENSE_WEIGHTS",
    "EXAMPLE_FILTERS",
    "EXAMPLE_INPUT",
    "EXAMPLE_LABELS",
    "worked_example",
]


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


EXAMPLE_INPUT: np.ndarray = _read_only(HAND_INPUT.reshape(1, 1, 5, 5).copy())
"""The image, shape (1, 1, 5, 5): week 5's 5x5 hand-convolution input as an NCHW batch."""

EXAMPLE_FILTERS: np.ndarray = _read_only(
    np.array([[[[1.0, -1.0], [0.5, 0.0]]], [[[0.0, 1.0], [-0.5, 0.0]]]])
)
"""Two 2x2 filters, shape (F, C, KH, KW) = (2, 1, 2, 2)."""

EXAMPLE_CONV_BIAS: np.ndarray = _read_only(np.array([-1.5, 0.0]))
"""The convolution's biases, shape (2,)."""

EXAMPLE_DENSE_WEIGHTS: np.ndarray = _read_only(
    np.array(
        [
            [0.2, -0.1, 0.0],
            [0.0, 0.3, -0.2],
            [-0.1, 0.0, 0.1],
            [0.3, 0.1, -0.3],
            [0.1, -0.2, 0.2],
            [-0.3, 0.0, 0.1],
            [0.0, 0.2, -0.1],
            [0.2, -0.3, 0.0],
        ]
    )
)
"""The dense layer's weights V, shape (D, K) = (8, 3): row d for flattened feature d."""

EXAMPLE_DENSE_BIAS: np.ndarray = _read_only(np.array([0.2, 0.0, -0.1]))
"""The dense layer's biases c, shape (3,)."""

EXAMPLE_LABELS: np.ndarray = _read_only(np.array([1]))
"""The true class of the image, shape (N,) = (1,)."""


def worked_example(
    x: Any = EXAMPLE_INPUT,
    w: Any = EXAMPLE_FILTERS,
    b: Any = EXAMPLE_CONV_BIAS,
    V: Any = EXAMPLE_DENSE_WEIGHTS,
    c: Any = EXAMPLE_DENSE_BIAS,
    labels: Any = EXAMPLE_LABELS,
    pool: int = 2,
) -> dict[str, Any]:
    r"""Forward and backward pass of a conv-ReLU-max-pool-flatten-dense-softmax network.

    Parameters
    ----------
    x : array_like of float, shape (N, C, H, W)
        The images (default :data:`EXAMPLE_INPUT`, (1, 1, 5, 5)).
    w : array_like of float, shape (F, C, KH, KW)
        The filters (default :data:`EXAMPLE_FILTERS`, (2, 1, 2, 2)); stride 1, no padding.
    b : array_like of float, shape (F,)
        The convolution's biases (default :data:`EXAMPLE_CONV_BIAS`).
    V : array_like of float, shape (F·PH·PW, K)
        The dense layer's weights (default :data:`EXAMPLE_DENSE_WEIGHTS`, (8, 3)).
    c : array_like of float, shape (K,)
        The dense layer's biases (default :data:`EXAMPLE_DENSE_BIAS`).
    labels : array_like of int, shape (N,)
        True classes in [0, K) (default :data:`EXAMPLE_LABELS`).
    pool : int, default 2
        The max pool's window and stride.

    Returns
    -------
    dict of str to ndarray or float
        Forward: ``x`` (N, C, H, W); ``z`` (N, F, OH, OW), the convolution's output,
        OH = H - KH + 1; ``a`` (N, F, OH, OW), the ReLU's output; ``p`` (N, F, PH, PW), the
        pool's output, PH = OH // pool; ``f`` (N, F·PH·PW), flattened; ``logits`` (N, K);
        ``probs`` (N, K), their softmax; ``loss``, a float, the mean cross-entropy.

        Backward (each the gradient of ``loss`` with respect to the array it is named after,
        and of its shape): ``dlogits`` (N, K); ``dV`` (F·PH·PW, K) and ``dc`` (K,), the dense
        layer's weights and biases; ``df`` (N, F·PH·PW); ``dp`` (N, F, PH, PW), the pool's
        output; ``da`` (N, F, OH, OW), the ReLU's output; ``dz`` (N, F, OH, OW), the
        convolution's output; ``dw`` (F, C, KH, KW), the filters; ``db`` (F,), the conv biases;
        ``dx`` (N, C, H, W), the input.

    Notes
    -----
    Each step is one of the package's layers, so this is the chain rule read backwards:

    .. math:: \frac{\partial L}{\partial \text{logits}} = \frac{\text{softmax} - \text{onehot}}{N},
              \quad dV = f^{\top} d\text{logits}, \quad df = d\text{logits}\, V^{\top},

    ``dp`` is ``df`` reshaped, ``da`` routes each ``dp`` to its window's (first) maximum,
    ``dz = da * (z > 0)``, and the convolution's backward gives ``dw`` (the correlation of x
    with dz), ``db`` (dz summed) and ``dx`` (the full convolution of dz with the rotated
    filters).

    Examples
    --------
    >>> import numpy as np
    >>> ex = worked_example()
    >>> ex["p"][0]
    array([[[1. , 0. ],
            [1. , 0.5]],
    <BLANKLINE>
           [[3. , 2. ],
            [3. , 1.5]]])
    >>> round(ex["loss"], 6), ex["db"].shape, ex["dx"].shape
    (1.779241, (2,), (1, 1, 5, 5))
    """
    z, conv_cache = conv.conv2d_forward(x, w, b)
    a, relu_cache = layers.activation_forward(z, "relu")
    p, pool_cache = conv.max_pool2d_forward(a, pool)
    f, flat_cache = conv.flatten_forward(p)
    logits, dense_cache = layers.dense_forward(f, V, c)
    probs, _ = layers.activation_forward(logits, "softmax")
    loss, dlogits = losses.softmax_cross_entropy_with_grad(logits, labels)

    df, dV, dc = layers.dense_backward(dlogits, dense_cache)
    dp = conv.flatten_backward(df, flat_cache)
    da = conv.max_pool2d_backward(dp, pool_cache)
    dz = layers.activation_backward(da, relu_cache)
    dx, dw, db = conv.conv2d_backward(dz, conv_cache)
    return {
        "x": np.asarray(x, dtype=z.dtype),
        "z": z,
        "a": a,
        "p": p,
        "f": f,
        "logits": logits,
        "probs": probs,
        "loss": loss,
        "dlogits": dlogits,
        "dV": dV,
        "dc": dc,
        "df": df,
        "dp": dp,
        "da": da,
        "dz": dz,
        "dw": dw,
        "db": db,
        "dx": dx,
    }
