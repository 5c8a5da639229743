"""Week 3's worked examples (the MLP forward path): the 2-2-2 network, a neuron, a loss table.

TWO_TWO_TWO
    Matt Mazur's 2-2-2 sigmoid network (slides "DNN Example"): :func:`two_two_two_matrices`,
    :func:`two_two_two_forward`. Its backward pass is week 4's (:mod:`.week04`).
SINGLE_NEURON
    ``g(1 + 3 x1 - 2 x2)`` at ``x = (-1, 2)`` (slide "Activation Function Example"):
    :func:`single_neuron`; the slide "Forward Calculation represented as a graph":
    :func:`forward_graph_z`.
CCE_BATCH_TARGETS, CCE_BATCH_PREDICTIONS, CCE_BATCH_SLIDE_LOSSES
    The slides' ten-image cross-entropy table: :func:`cce_batch_table_losses`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from ._numerics import _activation, _by_unit, _matrix, _params, _sigmoid

__all__ = [
    "TWO_TWO_TWO",
    "SINGLE_NEURON",
    "CCE_BATCH_TARGETS",
    "CCE_BATCH_PREDICTIONS",
    "CCE_BATCH_SLIDE_LOSSES",
    "two_two_two_matrices",
    "two_two_two_forward",
    "single_neuron",
    "forward_graph_z",
    "cce_batch_table_losses",
]


# ------------------------------------------------------------------------------------------
# Data: the slides' inputs, exactly as stated (read-only mappings)
# ------------------------------------------------------------------------------------------

TWO_TWO_TWO: Mapping[str, float] = MappingProxyType(
    {
        "i1": 0.05,
        "i2": 0.10,
        "w1": 0.15,
        "w2": 0.20,
        "w3": 0.25,
        "w4": 0.30,
        "w5": 0.40,
        "w6": 0.45,
        "w7": 0.50,
        "w8": 0.55,
        "b1": 0.35,
        "b2": 0.60,
        "target_o1": 0.01,
        "target_o2": 0.99,
        "learning_rate": 0.5,
    }
)
"""Matt Mazur's 2-2-2 network, as in the slides "DNN Example (1)-(4)" and their code.

Wiring (the slides' code): ``net_h1 = w1 i1 + w2 i2 + b1``, ``net_h2 = w3 i1 + w4 i2 + b1``,
``net_o1 = w5 h1 + w6 h2 + b2``, ``net_o2 = w7 h1 + w8 h2 + b2``; every unit is a sigmoid;
``E = sum 1/2 (target - out)^2``. One bias per layer, shared by both units of the layer.
"""

SINGLE_NEURON: Mapping[str, Any] = MappingProxyType(
    {"w0": 1.0, "w": (3.0, -2.0), "x": (-1.0, 2.0), "activation": "sigmoid"}
)
"""The slide "Activation Function Example": ``y = g(w0 + x^T w) = g(1 + 3 x1 - 2 x2)`` at
``x = (-1, 2)``, so ``z = -6`` and, with the slide's sigmoid, ``y = 0.00247`` ("0.002")."""


# ------------------------------------------------------------------------------------------
# The 2-2-2 network (Mazur), forward
# ------------------------------------------------------------------------------------------
# Which weight is which entry of W1 and W2 (row: the unit it leaves, column: the unit it
# feeds). two_two_two_matrices builds the matrices from these tables and
# two_two_two_gradients names dW1 and dW2 by them.
_TWO_TWO_TWO_W1 = (("w1", "w3"), ("w2", "w4"))
_TWO_TWO_TWO_W2 = (("w5", "w7"), ("w6", "w8"))


def two_two_two_matrices(params: Mapping[str, float] = TWO_TWO_TWO) -> dict[str, np.ndarray]:
    """The 2-2-2 network in matrix form (rows are samples), for dense layers and frameworks.

    Parameters
    ----------
    params : mapping, default TWO_TWO_TWO
        Any subset of TWO_TWO_TWO's keys; missing ones take the slide's values.

    Returns
    -------
    dict of str to ndarray
        ``x`` (1, 2) = [[i1, i2]]; ``W1`` (2, 2) = [[w1, w3], [w2, w4]]; ``b1`` (2,) =
        [b1, b1]; ``W2`` (2, 2) = [[w5, w7], [w6, w8]]; ``b2`` (2,) = [b2, b2];
        ``t`` (1, 2) = [[target_o1, target_o2]].

    Notes
    -----
    Column j of ``W1`` holds the weights into hidden unit j, so ``x @ W1 + b1`` is
    ``[net_h1, net_h2]``. The slides share one bias per layer; here it is repeated per unit,
    so the gradient of the shared bias is the sum of the two entries of ``db``.
    """
    p = _params(params, TWO_TWO_TWO, "two_two_two_matrices")
    return {
        "x": np.array([[p["i1"], p["i2"]]]),
        "W1": _matrix(_TWO_TWO_TWO_W1, p),
        "b1": np.array([p["b1"], p["b1"]]),
        "W2": _matrix(_TWO_TWO_TWO_W2, p),
        "b2": np.array([p["b2"], p["b2"]]),
        "t": np.array([[p["target_o1"], p["target_o2"]]]),
    }


def two_two_two_forward(params: Mapping[str, float] = TWO_TWO_TWO) -> dict[str, float]:
    """Forward pass of the 2-2-2 network: every net input, output and error.

    Parameters
    ----------
    params : mapping, default TWO_TWO_TWO

    Returns
    -------
    dict of str to float
        ``net_h1, net_h2, out_h1, out_h2, net_o1, net_o2, out_o1, out_o2, E_o1, E_o2,
        E_total``.

    Notes
    -----
    ``net_h1 = w1 i1 + w2 i2 + b1 = 0.3775``, ``out_h1 = sigma(net_h1) = 0.593269992``,
    ``out_h2 = 0.596884378``, ``out_o1 = 0.75136507``, ``out_o2 = 0.772928465``,
    ``E_o1 = 1/2 (0.01 - out_o1)^2 = 0.274811083``, ``E_total = 0.298371109`` (Mazur).

    Examples
    --------
    >>> round(two_two_two_forward()["E_total"], 9)
    0.298371109
    """
    m = two_two_two_matrices(_params(params, TWO_TWO_TWO, "two_two_two_forward"))
    net_h = (m["x"] @ m["W1"] + m["b1"])[0]
    out_h = _sigmoid(net_h)
    net_o = out_h @ m["W2"] + m["b2"]
    out_o = _sigmoid(net_o)
    errors = 0.5 * (m["t"][0] - out_o) ** 2
    return {
        **_by_unit(
            {
                "net_h{0}": net_h,
                "out_h{0}": out_h,
                "net_o{0}": net_o,
                "out_o{0}": out_o,
                "E_o{0}": errors,
            }
        ),
        "E_total": float(errors.sum()),
    }


# ------------------------------------------------------------------------------------------
# The single neuron and the forward-graph slide
# ------------------------------------------------------------------------------------------
def single_neuron(
    activation: str = "sigmoid", params: Mapping[str, Any] = SINGLE_NEURON
) -> dict[str, float]:
    """The slide's neuron ``y = g(w0 + x^T w) = g(1 + 3 x1 - 2 x2)`` at ``x = (-1, 2)``.

    Parameters
    ----------
    activation : {"sigmoid", "tanh", "relu", "identity"}, default "sigmoid"
        ``g``; the slide uses the sigmoid and shows tanh and ReLU next to it.
    params : mapping, default SINGLE_NEURON
        ``w0``, ``w`` (2 numbers), ``x`` (2 numbers).

    Returns
    -------
    dict of str to float
        ``z`` (= -6) and ``y_hat`` (sigmoid 0.0024726, tanh -0.9999877, ReLU 0), and
        ``dy_dz``, the activation's derivative at ``z``.

    Examples
    --------
    >>> round(single_neuron()["y_hat"], 3)
    0.002
    """
    p = _params(params, SINGLE_NEURON, "single_neuron")
    g, dg = _activation(activation, "single_neuron")
    w = np.asarray(p["w"], dtype=np.float64)
    x = np.asarray(p["x"], dtype=np.float64)
    if w.shape != (2,) or x.shape != (2,):
        raise ValueError(f"single_neuron: w and x must hold 2 numbers, got {w.shape}, {x.shape}")
    z = float(p["w0"] + x @ w)
    y = g(np.float64(z))
    return {"z": z, "y_hat": float(y), "dy_dz": float(dg(np.float64(z), y))}


def forward_graph_z(
    x: Sequence[float] = (-1.0, -2.0), w: Sequence[float] = (-2.0, 3.0), b: float = -3.0
) -> dict[str, float]:
    """``Z = (x1 w1 + x2 w2) + b`` and ``Y = sigma(Z)``, as on the slide "Forward Calculation
    represented as a graph".

    Parameters
    ----------
    x, w : pair of float
        Defaults are the numbers *written* on the slide, ``(-1.0 * -2.0 + -2.0 * 3.0)``.
    b : float, default -3.0

    Returns
    -------
    dict of str to float
        ``"x1w1"``, ``"x2w2"``, ``"Z"``, ``"Y"``.

    Notes
    -----
    As written the slide's expression is ``2 - 6 - 3 = -7`` (``Y = 0.00091``), not its stated
    ``4.0 - 3.0 = 1.0`` (``Y = 0.731``). The stated result is cs231n's neuron, whose weights
    are ``w = (2, -3)``: ``forward_graph_z(w=(2.0, -3.0))`` gives Z = 1, Y = 0.731, as does
    :func:`lapenna_labs.graph.sigmoid_neuron_example`.
    """
    x1, x2 = (float(v) for v in x)
    w1, w2 = (float(v) for v in w)
    z = x1 * w1 + x2 * w2 + float(b)
    return {"x1w1": x1 * w1, "x2w2": x2 * w2, "Z": z, "Y": float(_sigmoid(np.float64(z)))}


# The slides' ten-image categorical cross-entropy illustration ('Categorical Cross Entropy
# Loss'): the one-hot ground truth, the predictions and the per-image losses, as printed.
CCE_BATCH_TARGETS: tuple[tuple[float, ...], ...] = tuple(
    tuple(1.0 if col == cls else 0.0 for col in range(10)) for cls in (5, 0, 6, 1, 9, 2, 1, 3, 1, 4)
)
"""The slides' one-hot targets for ten images, shape (10, 10), as printed."""

CCE_BATCH_PREDICTIONS: tuple[tuple[float, ...], ...] = (
    (0.1, 0.0, 0.0, 0.7, 0.0, 0.2, 0.0, 0.0, 0.0, 0.0),
    (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2),
    (0.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1),
    (0.0, 0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0, 0.9),
    (0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
    (0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
)
"""The slides' predicted probabilities for the same ten images, shape (10, 10), as printed."""

CCE_BATCH_SLIDE_LOSSES: tuple[float, ...] = (
    1.61,
    0.0,
    0.356,
    0.105,
    0.105,
    0.0,
    0.0,
    0.0,
    0.105,
    0.0,
)
"""The per-image losses L_i the slides list beside the two tables."""


def cce_batch_table_losses() -> dict[str, np.ndarray]:
    """Recompute the slides' per-image cross-entropies from their own two tables.

    Returns
    -------
    dict
        ``"true_class"`` (10,) int, the column of each one-hot target; ``"p_true"`` (10,), the
        predicted probability of that class; ``"loss"`` (10,), ``-log p_true`` (``inf`` where
        ``p_true`` is 0); ``"row_sums"`` (10,), each prediction row's sum (1 for a softmax output).

    Notes
    -----
    Image 2's target is class 6, to which its prediction row gives probability 0, so its loss
    is infinite, not the listed ``-log 0.7 = 0.356``; rows 2 and 8 sum to 0.2 and 0.9, so they
    cannot be softmax outputs.
    """
    targets = np.asarray(CCE_BATCH_TARGETS)
    predictions = np.asarray(CCE_BATCH_PREDICTIONS)
    true_class = targets.argmax(axis=1)
    p_true = predictions[np.arange(len(targets)), true_class]
    with np.errstate(divide="ignore"):
        loss = -np.log(p_true)
    return {
        "true_class": true_class,
        "p_true": p_true,
        "loss": loss,
        "row_sums": predictions.sum(axis=1),
    }
