"""The lecture slides' worked examples as data, the functions that compute them, and the errata.

Book chapters, labs and tests all take their numbers from here, so a value is typed once.
The data holds the inputs exactly as the slides state them; every output is computed.
The functions are self-contained NumPy (float64), so they do not depend on the rest of the
package; the tests check them against PyTorch autograd and against published values.

Contents
--------
TWO_TWO_TWO
    Matt Mazur's 2-2-2 sigmoid network (slides "DNN Example", "Backpropagation Example"):
    :func:`two_two_two_forward`, :func:`two_two_two_gradients`, :func:`two_two_two_update`,
    :func:`two_two_two_slide_code` (the slides' code, bug included), :func:`two_two_two_graph`.
SINGLE_NEURON
    ``g(1 + 3 x1 - 2 x2)`` at ``x = (-1, 2)`` (slide "Activation Function Example"):
    :func:`single_neuron`.
SOFTMAX_EXERCISE
    The softmax / cross-entropy exercise network (slide "Exercises"):
    :func:`softmax_exercise_forward`, :func:`softmax_exercise_gradients`,
    :func:`softmax_exercise_update`.
SLIDE_ERRATA
    Every wrong number or formula found by recomputing the slides, each with the function
    that proves it (:class:`Erratum`); SLIDE_TYPOS lists slips that no computation is needed
    to see (:class:`Typo`).

Notes
-----
The slides *truncate* decimals (``o1 = 0.75136`` for 0.7513650695, ``-log 0.7 = 0.356`` for
0.35667, ``grad o1 = 0.74136``), and some slide values are computed from already-rounded
inputs (``grad d6 = -0.038097`` is ``-0.21707 x 0.77293 x 0.22707``; the exact value is
-0.0380982). Neither is listed as an error: an erratum is a value that is wrong beyond the
precision it is stated to.

References
----------
M. Mazur, "A Step by Step Backpropagation Example", 2015,
https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/.
cs231n, "Backpropagation, Intuitions", https://cs231n.github.io/optimization-2/.
J. Starmer, StatQuest "Neural Networks" Parts 4-7 (the iris network with ReLU hidden units).
D. P. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
J. Demmel, CS267 lecture notes, "Blocked (tiled) matrix multiply".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = [
    "TWO_TWO_TWO",
    "SINGLE_NEURON",
    "SOFTMAX_EXERCISE",
    "LAB2_PROBLEM4_GPU_CODE",
    "Erratum",
    "Typo",
    "SLIDE_ERRATA",
    "SLIDE_TYPOS",
    "erratum",
    "CCE_BATCH_TARGETS",
    "CCE_BATCH_PREDICTIONS",
    "CCE_BATCH_SLIDE_LOSSES",
    "cce_batch_table_losses",
    "p100_fp64_peak_gflops",
    "two_two_two_matrices",
    "two_two_two_forward",
    "two_two_two_gradients",
    "two_two_two_update",
    "two_two_two_slide_code",
    "two_two_two_graph",
    "single_neuron",
    "forward_graph_z",
    "softmax_exercise_matrices",
    "softmax_exercise_forward",
    "softmax_exercise_gradients",
    "softmax_exercise_update",
    "adam_steps",
    "slide_adam_steps",
    "keras_steps_per_epoch",
    "keras_loss_accepts_integer_labels",
    "blocked_matmul_traffic",
    "best_block_size",
    "gpu_timing_is_synchronised",
    "two_layer_numpy_training",
    "logistic_mlp_gradients",
    "slide_logistic_dJ_dx",
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

SOFTMAX_EXERCISE: Mapping[str, Any] = MappingProxyType(
    {
        "x1": -0.04,
        "x2": -0.42,
        "w1": -2.5,
        "w2": -1.5,
        "w3": 0.6,
        "w4": 0.4,
        "w5": -0.1,
        "w6": 2.4,
        "w7": -2.2,
        "w8": -1.5,
        "w9": -5.2,
        "w10": 3.7,
        "b1": -1.6,
        "b2": 0.7,
        "b3": 0.0,
        "b4": 0.0,
        "b5": 1.0,
        "target": (0.0, 1.0, 0.0),
        "target_class": 1,
        "hidden_activation": "relu",
    }
)
"""The slide "Exercises: represent the following NN model as a computational graph and build
a python code to update w and b" (softmax outputs, categorical cross-entropy, target T =
(0, 1, 0), i.e. the second of three classes, index 1 counting from 0).

**The slide's picture of the network is lost; this is our reading, not the slide's.** The
slide lists 2 inputs, 10 weights, biases b1, b2 (hidden) and b3, b4, b5 (one per softmax
output). The only fully connected network with those counts is 2 -> 2 -> 3 (2x2 + 2x3 = 10
weights, 2 + 3 = 5 biases). The numbers are those of StatQuest's iris network (J. Starmer,
"Neural Networks" Parts 4-7: petal and sepal width in, two ReLU hidden units, Setosa /
Versicolor / Virginica out, output biases 0, 0, 1), whose weights are numbered by *source*
node. We therefore define

* hidden: ``net_h1 = w1 x1 + w3 x2 + b1``, ``net_h2 = w2 x1 + w4 x2 + b2``,
  ``h = relu(net_h)`` (ReLU, as in StatQuest; pass ``hidden_activation`` to try others);
* output logits: ``z1 = w5 h1 + w8 h2 + b3``, ``z2 = w6 h1 + w9 h2 + b4``,
  ``z3 = w7 h1 + w10 h2 + b5``;
* ``p = softmax(z)``, ``L = -log p[target_class]``.

In matrix form (rows are samples) ``W1 = [[w1, w2], [w3, w4]]``, ``W2 = [[w5, w6, w7],
[w8, w9, w10]]``. StatQuest's inputs are +0.04 and +0.42, its b1 is +1.6 and its w8 is +1.5;
the slide's signs are kept here as stated. With them ``net_h1 = -1.752 < 0``, so the first
hidden ReLU is off and w1, w3, b1 get zero gradient: a dead-ReLU lesson in itself.
"""

LAB2_PROBLEM4_GPU_CODE = """\
import torch
A = torch.randn(6000, 6000).cuda()
B = torch.randn(6000, 6000).cuda()
timestt = time.time()
C=torch.matmul(A,B)
timeend = time.time()
tmm6000 = timeend - timestt
gf6000 = 2*6*6*6/tmm6000
print('time = ',tmm6000)
print('GFLOPS = ', gf6000)
"""
"""The slides' GPU timing for Lab 2 Problem 4, verbatim (it prints GFLOPS = 7077.2)."""


# ------------------------------------------------------------------------------------------
# Small numerical helpers (self-contained on purpose)
# ------------------------------------------------------------------------------------------
def _sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    # Split by sign so that exp never overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_ACTIVATIONS = {
    "sigmoid": (_sigmoid, lambda z, a: a * (1.0 - a)),
    "tanh": (np.tanh, lambda z, a: 1.0 - a * a),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(np.float64)),
    "identity": (lambda z: np.asarray(z, dtype=np.float64), lambda z, a: np.ones_like(a)),
}


def _activation(name: str, func: str):
    if name not in _ACTIVATIONS:
        valid = ", ".join(sorted(_ACTIVATIONS))
        raise ValueError(f"{func}: unknown activation {name!r}; valid names are {valid}")
    return _ACTIVATIONS[name]


def _softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _params(params: Mapping[str, Any], defaults: Mapping[str, Any], func: str) -> dict:
    """Merge ``params`` over ``defaults``, rejecting unknown keys and non-finite numbers."""
    unknown = set(params) - set(defaults)
    if unknown:
        raise ValueError(f"{func}: unknown parameter(s) {sorted(unknown)}")
    merged = dict(defaults)
    merged.update(params)
    for key, value in merged.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError(f"{func}: {key} must be finite, got {value}")
    return merged


# ------------------------------------------------------------------------------------------
# The 2-2-2 network (Mazur)
# ------------------------------------------------------------------------------------------
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
        "W1": np.array([[p["w1"], p["w3"]], [p["w2"], p["w4"]]]),
        "b1": np.array([p["b1"], p["b1"]]),
        "W2": np.array([[p["w5"], p["w7"]], [p["w6"], p["w8"]]]),
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
        ``net_h1, out_h1, net_h2, out_h2, net_o1, out_o1, net_o2, out_o2, E_o1, E_o2,
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
        "net_h1": float(net_h[0]),
        "out_h1": float(out_h[0]),
        "net_h2": float(net_h[1]),
        "out_h2": float(out_h[1]),
        "net_o1": float(net_o[0]),
        "out_o1": float(out_o[0]),
        "net_o2": float(net_o[1]),
        "out_o2": float(out_o[1]),
        "E_o1": float(errors[0]),
        "E_o2": float(errors[1]),
        "E_total": float(errors.sum()),
    }


def two_two_two_gradients(params: Mapping[str, float] = TWO_TWO_TWO) -> dict[str, float]:
    """Backward pass of the 2-2-2 network: dE_total/d(every weight and bias) and the deltas.

    Parameters
    ----------
    params : mapping, default TWO_TWO_TWO

    Returns
    -------
    dict of str to float
        ``"w1"`` ... ``"w8"``, ``"b1"``, ``"b2"``: dE_total/d(parameter) (the shared bias's
        gradient sums over the two units it feeds). Intermediates, named as in the slides:
        ``dE/dout_o1``, ``dE/dout_o2`` (0.74136507, -0.21707153), ``dout_o1/dnet_o1``
        (0.186815602), ``delta_o1``, ``delta_o2`` (dE/dnet, 0.138498562, -0.038098237),
        ``dE_o1/dout_h1`` (0.055399425), ``dE_o2/dout_h1`` (-0.019049119), ``dE/dout_h1``
        (0.036350306), ``dE/dout_h2``, ``dout_h1/dnet_h1`` (0.241300709), ``delta_h1``,
        ``delta_h2``.

    Notes
    -----
    ``delta_o = (out_o - t) out_o (1 - out_o)``; ``dE/dw5 = delta_o1 out_h1``. A hidden unit
    feeds both outputs (a copy gate), so its gradient is the sum
    ``dE/dout_h1 = delta_o1 w5 + delta_o2 w7``; then ``delta_h1 = dE/dout_h1 out_h1 (1 -
    out_h1)`` and ``dE/dw1 = delta_h1 i1``, ``dE/dw2 = delta_h1 i2``.

    Examples
    --------
    >>> g = two_two_two_gradients()
    >>> round(g["w5"], 9), round(g["w1"], 9), round(g["w2"], 9)
    (0.082167041, 0.000438568, 0.000877135)
    """
    params = _params(params, TWO_TWO_TWO, "two_two_two_gradients")
    m = two_two_two_matrices(params)
    f = two_two_two_forward(params)
    x, t = m["x"][0], m["t"][0]
    out_h = np.array([f["out_h1"], f["out_h2"]])
    out_o = np.array([f["out_o1"], f["out_o2"]])
    dE_dout_o = out_o - t
    dout_dnet_o = out_o * (1.0 - out_o)
    delta_o = dE_dout_o * dout_dnet_o
    dW2 = np.outer(out_h, delta_o)
    per_output = m["W2"] * delta_o  # [h, o]: dE_o/dout_h
    dE_dout_h = per_output.sum(axis=1)
    dout_dnet_h = out_h * (1.0 - out_h)
    delta_h = dE_dout_h * dout_dnet_h
    dW1 = np.outer(x, delta_h)
    return {
        "w1": float(dW1[0, 0]),
        "w2": float(dW1[1, 0]),
        "w3": float(dW1[0, 1]),
        "w4": float(dW1[1, 1]),
        "w5": float(dW2[0, 0]),
        "w6": float(dW2[1, 0]),
        "w7": float(dW2[0, 1]),
        "w8": float(dW2[1, 1]),
        "b1": float(delta_h.sum()),
        "b2": float(delta_o.sum()),
        "dE/dout_o1": float(dE_dout_o[0]),
        "dE/dout_o2": float(dE_dout_o[1]),
        "dout_o1/dnet_o1": float(dout_dnet_o[0]),
        "dout_o2/dnet_o2": float(dout_dnet_o[1]),
        "delta_o1": float(delta_o[0]),
        "delta_o2": float(delta_o[1]),
        "dE_o1/dout_h1": float(per_output[0, 0]),
        "dE_o2/dout_h1": float(per_output[0, 1]),
        "dE/dout_h1": float(dE_dout_h[0]),
        "dE/dout_h2": float(dE_dout_h[1]),
        "dout_h1/dnet_h1": float(dout_dnet_h[0]),
        "dout_h2/dnet_h2": float(dout_dnet_h[1]),
        "delta_h1": float(delta_h[0]),
        "delta_h2": float(delta_h[1]),
    }


def two_two_two_update(
    params: Mapping[str, float] = TWO_TWO_TWO, *, update_biases: bool = False
) -> dict[str, float]:
    """One gradient-descent step ``w+ = w - learning_rate * dE/dw`` on the 2-2-2 network.

    Parameters
    ----------
    params : mapping, default TWO_TWO_TWO
    update_biases : bool, default False
        Mazur and the slides update the weights only; True also updates b1 and b2.

    Returns
    -------
    dict of str to float
        ``"w1"`` ... ``"w8"`` (and ``"b1"``, ``"b2"`` if requested) after the step. All
        gradients use the *old* weights.

    Examples
    --------
    >>> new = two_two_two_update()
    >>> round(new["w5"], 8), round(new["w1"], 8), round(new["w2"], 8)
    (0.35891648, 0.14978072, 0.19956143)
    """
    p = _params(params, TWO_TWO_TWO, "two_two_two_update")
    grads = two_two_two_gradients(p)
    names = [f"w{k}" for k in range(1, 9)] + (["b1", "b2"] if update_biases else [])
    return {k: p[k] - p["learning_rate"] * grads[k] for k in names}


def two_two_two_slide_code(params: Mapping[str, float] = TWO_TWO_TWO) -> dict[str, float]:
    """The slides' backpropagation code, line for line, bug included.

    Parameters
    ----------
    params : mapping, default TWO_TWO_TWO

    Returns
    -------
    dict of str to float
        What the slides' code prints: ``grad_o1 ... grad_w4`` and ``"w1+" ... "w8+"``.

    Notes
    -----
    The slides' code has ``grad_w2 = grad_d11*i1`` where ``i2`` belongs, so it prints
    ``grad_w2: 0.0004385677...`` and ``w2+: 0.19978071613276482``; the right values are
    0.00087713547 and 0.19956143 (:func:`two_two_two_update`). It also uses
    ``e = 2.7182818284`` for Euler's number, which changes nothing at the printed precision
    beyond the 10th digit. Kept to show, in the book, where the slides' number comes from.
    """
    p = _params(params, TWO_TWO_TWO, "two_two_two_slide_code")
    e = 2.7182818284
    i1, i2 = p["i1"], p["i2"]
    w1, w2, w3, w4, w5, w6, w7, w8 = (p[f"w{k}"] for k in range(1, 9))
    b1, b2, To1, To2, n = p["b1"], p["b2"], p["target_o1"], p["target_o2"], p["learning_rate"]
    h1 = 1 / (1 + e ** (-(w1 * i1 + w2 * i2 + b1)))
    h2 = 1 / (1 + e ** (-(w3 * i1 + w4 * i2 + b1)))
    o1 = 1 / (1 + e ** (-(w5 * h1 + w6 * h2 + b2)))
    o2 = 1 / (1 + e ** (-(w7 * h1 + w8 * h2 + b2)))
    grad_o1, grad_o2 = o1 - To1, o2 - To2
    grad_d1 = grad_o1 * o1 * (1 - o1)
    grad_d2 = grad_o2 * o2 * (1 - o2)
    out = {"grad_o1": grad_o1, "grad_o2": grad_o2, "grad_d1": grad_d1, "grad_d2": grad_d2}
    out.update(
        grad_w5=grad_d1 * h1, grad_w6=grad_d1 * h2, grad_w7=grad_d2 * h1, grad_w8=grad_d2 * h2
    )
    grad_h1 = w5 * grad_d1 + w7 * grad_d2
    grad_d11 = grad_h1 * h1 * (1 - h1)
    grad_h2 = w6 * grad_d1 + w8 * grad_d2
    grad_d22 = grad_h2 * h2 * (1 - h2)
    out.update(grad_h1=grad_h1, grad_d11=grad_d11, grad_h2=grad_h2, grad_d22=grad_d22)
    out.update(
        grad_w1=grad_d11 * i1,
        grad_w2=grad_d11 * i1,  # sic: the slides' bug (i2 belongs here)
        grad_w3=grad_d22 * i1,
        grad_w4=grad_d22 * i2,
    )
    for k, w in enumerate((w1, w2, w3, w4, w5, w6, w7, w8), start=1):
        out[f"w{k}+"] = w - n * out[f"grad_w{k}"]
    return out


def two_two_two_graph(params: Mapping[str, float] = TWO_TWO_TWO) -> dict[str, Any]:
    """The 2-2-2 network as a scalar computational graph (:mod:`lapenna_labs.graph`).

    Parameters
    ----------
    params : mapping, default TWO_TWO_TWO

    Returns
    -------
    dict of str to graph.Value
        Inputs and weights by name (``"i1"``, ``"w1"``, ``"b1"`` ...), ``"h1"``, ``"h2"``,
        ``"o1"``, ``"o2"``, ``"E_o1"``, ``"E_o2"`` and ``"E_total"``, after ``backward()``.

    Notes
    -----
    The biases and the hidden outputs fan out to two units each; explicit copy gates make
    that visible, and their gradients add up (``grad h1 = 0.055399 - 0.019049``). Each
    weight's ``.grad`` equals :func:`two_two_two_gradients`.
    """
    from lapenna_labs.graph import Value, copy

    p = _params(params, TWO_TWO_TWO, "two_two_two_graph")
    v = {k: Value(p[k], k) for k in ["i1", "i2", *(f"w{j}" for j in range(1, 9)), "b1", "b2"]}
    i1a, i1b = copy(v["i1"])
    i2a, i2b = copy(v["i2"])
    b1a, b1b = copy(v["b1"])
    b2a, b2b = copy(v["b2"])
    h1 = (v["w1"] * i1a + v["w2"] * i2a + b1a).sigmoid()
    h1.label = "h1"
    h2 = (v["w3"] * i1b + v["w4"] * i2b + b1b).sigmoid()
    h2.label = "h2"
    h1a, h1b = copy(h1)
    h2a, h2b = copy(h2)
    o1 = (v["w5"] * h1a + v["w6"] * h2a + b2a).sigmoid()
    o1.label = "o1"
    o2 = (v["w7"] * h1b + v["w8"] * h2b + b2b).sigmoid()
    o2.label = "o2"
    e1 = 0.5 * (p["target_o1"] - o1) ** 2
    e1.label = "E_o1"
    e2 = 0.5 * (p["target_o2"] - o2) ** 2
    e2.label = "E_o2"
    total = e1 + e2
    total.label = "E_total"
    total.backward()
    return dict(v, h1=h1, h2=h2, o1=o1, o2=o2, E_o1=e1, E_o2=e2, E_total=total)


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


# ------------------------------------------------------------------------------------------
# The softmax / cross-entropy exercise
# ------------------------------------------------------------------------------------------
def softmax_exercise_matrices(
    params: Mapping[str, Any] = SOFTMAX_EXERCISE,
) -> dict[str, np.ndarray]:
    """The exercise network in matrix form, wired as SOFTMAX_EXERCISE's docstring defines.

    Returns
    -------
    dict of str to ndarray
        ``x`` (1, 2); ``W1`` (2, 2) = [[w1, w2], [w3, w4]]; ``b1`` (2,) = [b1, b2];
        ``W2`` (2, 3) = [[w5, w6, w7], [w8, w9, w10]]; ``b2`` (3,) = [b3, b4, b5];
        ``y`` (1,) int64 = [target_class]; ``t`` (1, 3) one-hot target.
    """
    p = _params(params, SOFTMAX_EXERCISE, "softmax_exercise_matrices")
    t = np.asarray(p["target"], dtype=np.float64).reshape(1, -1)
    if t.shape != (1, 3) or t.sum() != 1.0 or int(np.argmax(t)) != int(p["target_class"]):
        raise ValueError(
            "softmax_exercise_matrices: target must be one-hot of length 3 and agree with "
            f"target_class, got {p['target']} and {p['target_class']}"
        )
    return {
        "x": np.array([[p["x1"], p["x2"]]]),
        "W1": np.array([[p["w1"], p["w2"]], [p["w3"], p["w4"]]]),
        "b1": np.array([p["b1"], p["b2"]]),
        "W2": np.array([[p["w5"], p["w6"], p["w7"]], [p["w8"], p["w9"], p["w10"]]]),
        "b2": np.array([p["b3"], p["b4"], p["b5"]]),
        "y": np.array([int(p["target_class"])], dtype=np.int64),
        "t": t,
    }


def softmax_exercise_forward(
    params: Mapping[str, Any] = SOFTMAX_EXERCISE, hidden_activation: str | None = None
) -> dict[str, Any]:
    """Forward pass of the exercise: hidden layer, logits, softmax, cross-entropy.

    Parameters
    ----------
    params : mapping, default SOFTMAX_EXERCISE
    hidden_activation : {"relu", "sigmoid", "tanh", "identity"}, optional
        Defaults to ``params["hidden_activation"]`` ("relu").

    Returns
    -------
    dict
        ``net_h`` (2,), ``h`` (2,), ``z`` (3,) logits, ``probs`` (3,) softmax, ``loss``
        (float) = ``-log probs[target_class]``, ``predicted_class`` (int).

    Notes
    -----
    With the slide's numbers and ReLU: ``net_h = (-1.752, 0.592)``, ``h = (0, 0.592)``,
    ``z = (-0.888, -3.0784, 3.1904)``, ``p = (0.0166, 0.0019, 0.9815)``, ``L = 6.287``: the
    network puts almost all its probability on the third class while the target is the
    second, which is what the exercise's update starts to correct.
    """
    p = _params(params, SOFTMAX_EXERCISE, "softmax_exercise_forward")
    act = hidden_activation or p["hidden_activation"]
    g, _ = _activation(act, "softmax_exercise_forward")
    m = softmax_exercise_matrices(p)
    net_h = (m["x"] @ m["W1"] + m["b1"])[0]
    h = g(net_h)
    z = h @ m["W2"] + m["b2"]
    probs = _softmax(z)
    # log-softmax form: stable even when a probability underflows
    log_probs = z - z.max() - np.log(np.exp(z - z.max()).sum())
    cls = int(m["y"][0])
    return {
        "net_h": net_h,
        "h": h,
        "z": z,
        "probs": probs,
        "loss": float(-log_probs[cls]),
        "predicted_class": int(np.argmax(probs)),
    }


def softmax_exercise_gradients(
    params: Mapping[str, Any] = SOFTMAX_EXERCISE, hidden_activation: str | None = None
) -> dict[str, Any]:
    """Backward pass of the exercise: dL/d(every weight and bias) and the intermediate grads.

    Parameters
    ----------
    params : mapping, default SOFTMAX_EXERCISE
    hidden_activation : str, optional
        As in :func:`softmax_exercise_forward`.

    Returns
    -------
    dict
        ``"w1"`` ... ``"w10"``, ``"b1"`` ... ``"b5"`` (floats); ``dz`` (3,) = p - t,
        ``dh`` (2,) = W2 dz, ``dnet_h`` (2,) = dh * g'(net_h).

    Notes
    -----
    Softmax followed by cross-entropy has the famous simple gradient ``dL/dz = p - t``.
    Then ``dL/dW2 = h^T dz``, ``dL/db_out = dz``, ``dL/dh = dz W2^T``, ``dL/dnet_h = dL/dh *
    g'(net_h)``, ``dL/dW1 = x^T dL/dnet_h``, ``dL/db_hidden = dL/dnet_h``.
    """
    p = _params(params, SOFTMAX_EXERCISE, "softmax_exercise_gradients")
    act = hidden_activation or p["hidden_activation"]
    _, dg = _activation(act, "softmax_exercise_gradients")
    m = softmax_exercise_matrices(p)
    f = softmax_exercise_forward(p, act)
    dz = f["probs"] - m["t"][0]
    dW2 = np.outer(f["h"], dz)
    dh = m["W2"] @ dz
    dnet_h = dh * dg(f["net_h"], f["h"])
    dW1 = np.outer(m["x"][0], dnet_h)
    grads: dict[str, Any] = {
        "w1": dW1[0, 0], "w2": dW1[0, 1], "w3": dW1[1, 0], "w4": dW1[1, 1],
        "w5": dW2[0, 0], "w6": dW2[0, 1], "w7": dW2[0, 2],
        "w8": dW2[1, 0], "w9": dW2[1, 1], "w10": dW2[1, 2],
        "b1": dnet_h[0], "b2": dnet_h[1], "b3": dz[0], "b4": dz[1], "b5": dz[2],
    }  # fmt: skip
    grads = {k: float(v) + 0.0 for k, v in grads.items()}  # + 0.0 turns -0.0 into 0.0
    grads.update(dz=dz, dh=dh, dnet_h=dnet_h)
    return grads


def softmax_exercise_update(
    params: Mapping[str, Any] = SOFTMAX_EXERCISE,
    learning_rate: float = 0.5,
    hidden_activation: str | None = None,
) -> dict[str, float]:
    """One gradient-descent step on every weight and bias of the exercise network.

    Parameters
    ----------
    params : mapping, default SOFTMAX_EXERCISE
    learning_rate : float, default 0.5
        The slide gives none; 0.5 is the 2-2-2 example's.
    hidden_activation : str, optional

    Returns
    -------
    dict of str to float
        ``"w1"`` ... ``"w10"``, ``"b1"`` ... ``"b5"`` after ``theta - learning_rate * grad``.
    """
    p = _params(params, SOFTMAX_EXERCISE, "softmax_exercise_update")
    if not (isinstance(learning_rate, (int, float)) and learning_rate > 0):
        raise ValueError(f"softmax_exercise_update: learning_rate must be > 0, got {learning_rate}")
    grads = softmax_exercise_gradients(p, hidden_activation)
    names = [f"w{k}" for k in range(1, 11)] + [f"b{k}" for k in range(1, 6)]
    return {k: float(p[k]) - learning_rate * grads[k] for k in names}


# ------------------------------------------------------------------------------------------
# Proofs for the other errata
# ------------------------------------------------------------------------------------------
def adam_steps(
    theta0: float,
    grads: Sequence[float],
    lr: float = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> list[float]:
    """Adam on one scalar parameter, Kingma & Ba's Algorithm 1 (the slide "Optimizer: ADAM").

    Parameters
    ----------
    theta0 : float
        Initial parameter.
    grads : sequence of float
        The gradient seen at each step (given, so the result does not depend on a model).
    lr, beta1, beta2, eps : float
        Kingma & Ba's defaults 0.001, 0.9, 0.999, 1e-8.

    Returns
    -------
    list of float
        The parameter after each step.

    Notes
    -----
    ``m = b1 m + (1-b1) g``; ``v = b2 v + (1-b2) g^2``; ``m_hat = m / (1-b1^t)``;
    ``v_hat = v / (1-b2^t)``; ``theta -= lr m_hat / (sqrt(v_hat) + eps)``.
    """
    theta, m, v, out = float(theta0), 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta -= lr * m_hat / (math.sqrt(v_hat) + eps)
        out.append(theta)
    return out


def slide_adam_steps(
    theta0: float,
    grads: Sequence[float],
    lr: float = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.99,
) -> list[float]:
    """The update of the slide "Adaptive learning rates + momentum / 1. ADAM", as written.

    ``v = b1 v + (1-b1) g``; ``m = b2 m + (1-b2) g^2`` (reading the slide's ``dE^2/dw`` as the
    squared gradient); ``w -= lr v / sqrt(m)``: no bias correction, no eps, and the slide's
    ``beta_2 = 0.99``. It is *not* Adam (compare :func:`adam_steps` and ``torch.optim.Adam``).

    Returns
    -------
    list of float
        The parameter after each step.
    """
    theta, v, m, out = float(theta0), 0.0, 0.0, []
    for g in grads:
        v = beta1 * v + (1 - beta1) * g
        m = beta2 * m + (1 - beta2) * g * g
        theta -= lr * v / math.sqrt(m)
        out.append(theta)
    return out


def keras_steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Optimizer steps per epoch, ``ceil(n_samples / batch_size)``, as Keras' progress bar shows.

    Examples
    --------
    >>> keras_steps_per_epoch(60000, 10), keras_steps_per_epoch(60000, 32)
    (6000, 1875)
    """
    for name, value in (("n_samples", n_samples), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"keras_steps_per_epoch: {name} must be a positive integer, got {value!r}"
            )
    return -(-n_samples // batch_size)


def keras_loss_accepts_integer_labels(loss: str) -> tuple[bool, str]:
    """Whether a Keras model compiled with ``loss`` trains on integer labels like MNIST's.

    Builds a 4-input softmax layer, compiles it with ``optimizer="sgd"`` and ``loss``, and fits
    one epoch on 8 samples with integer labels of shape (8,). Imports Keras lazily.

    Parameters
    ----------
    loss : str
        The loss identifier, e.g. the slides' ``"Categorical_Crossentropy"``.

    Returns
    -------
    (bool, str)
        Whether it worked, and Keras' error message when it did not.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = np.zeros((8, 4), dtype=np.float32)
    y = np.arange(8) % 3
    try:
        model.compile(optimizer="sgd", loss=loss)
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    except (ValueError, TypeError) as exc:
        return False, str(exc).splitlines()[0]
    return True, ""


def blocked_matmul_traffic(n: int, num_blocks: int) -> dict[str, float]:
    """Flops and slow-memory traffic of the slides' "Block MM" (CS267 model), by counting.

    ``A``, ``B``, ``C`` are ``n x n``, seen as ``N x N`` grids of ``b x b`` blocks, ``b = n/N``.
    The loop ``for i, j: read C_ij; for k: read A_ik, B_kj; C_ij += A_ik B_kj; write C_ij``
    is walked and every word moved is counted.

    Parameters
    ----------
    n : int
        Matrix size.
    num_blocks : int
        ``N``, blocks per side; must divide ``n``.

    Returns
    -------
    dict of str to float
        ``flops`` (2 n^3), ``words`` ((2N + 2) n^2), ``intensity`` (flops / words, ~ n/N),
        ``block_size`` (b), ``fast_memory_words`` (3 b^2: one block each of A, B and C).
    """
    for name, value in (("n", n), ("num_blocks", num_blocks)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"blocked_matmul_traffic: {name} must be a positive integer, got {value!r}"
            )
    if n % num_blocks:
        raise ValueError(f"blocked_matmul_traffic: num_blocks={num_blocks} does not divide n={n}")
    b = n // num_blocks
    words = flops = 0
    for _i in range(num_blocks):
        for _j in range(num_blocks):
            words += b * b  # read C_ij
            for _k in range(num_blocks):
                words += 2 * b * b  # read A_ik and B_kj
                flops += 2 * b**3
            words += b * b  # write C_ij
    return {
        "flops": float(flops),
        "words": float(words),
        "intensity": flops / words,
        "block_size": float(b),
        "fast_memory_words": float(3 * b * b),
    }


def best_block_size(fast_memory_words: int) -> int:
    """The largest block edge ``b`` with three ``b x b`` blocks in fast memory: ``3 b^2 <= M``.

    Since the intensity is ``q ~ n/N = b``, this ``b = floor(sqrt(M/3))`` is the best block
    *size*; the number of blocks per side is then ``N = n / b``, which grows with ``n``.
    """
    if isinstance(fast_memory_words, bool) or not isinstance(fast_memory_words, int):
        raise ValueError("best_block_size: fast_memory_words must be a positive integer")
    if fast_memory_words < 3:
        raise ValueError(
            f"best_block_size: fast_memory_words must be >= 3, got {fast_memory_words}"
        )
    return math.isqrt(fast_memory_words // 3)


def gpu_timing_is_synchronised(code: str) -> bool:
    """Whether GPU timing code waits for the device before it reads the clock the second time.

    A CUDA ``torch.matmul`` returns as soon as the kernel is *queued*; a host clock read right
    after it measures the launch. The check looks, between the matmul and the last
    ``time.time()`` / ``perf_counter()``, for ``torch.cuda.synchronize``, an event's
    ``synchronize``/``elapsed_time``, or a device-to-host copy (``.item()``, ``.cpu()``).

    Parameters
    ----------
    code : str
        Python source, e.g. :data:`LAB2_PROBLEM4_GPU_CODE`.

    Returns
    -------
    bool
    """
    lines = code.splitlines()
    mm = [i for i, s in enumerate(lines) if "matmul" in s or "@" in s or ".mm(" in s]
    clocks = [i for i, s in enumerate(lines) if "time.time()" in s or "perf_counter()" in s]
    if not mm or not clocks:
        return False
    if any("elapsed_time" in s for s in lines):
        return True
    after = [c for c in clocks if c > mm[-1]]
    if not after:
        return False
    between = "\n".join(lines[mm[-1] : after[0] + 1])
    return any(key in between for key in ("synchronize(", ".item()", ".cpu()", ".numpy()"))


def two_layer_numpy_training(
    steps: int = 50, *, slide_layout: bool = False, seed: int = 0
) -> list[float]:
    """The slides' last NumPy program (N, D_in, H, D_out = 64, 1000, 100, 10), its losses.

    Parameters
    ----------
    steps : int, default 50
        Loop iterations (the slides use 2000).
    slide_layout : bool, default False
        True runs the code as the slides lay it out: lines 14-20 (gradients and update) are
        *outside* the ``for`` loop, so the loop repeats the same forward pass. False indents
        them into the loop, as intended (and as in the cs231n original).
    seed : int, default 0
        For ``randn``.

    Returns
    -------
    list of float
        The loss printed at each iteration.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise ValueError(
            f"two_layer_numpy_training: steps must be a positive integer, got {steps!r}"
        )
    rng = np.random.default_rng(seed)
    N, D_in, H, D_out = 64, 1000, 100, 10
    x, y = rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
    w1, w2 = rng.standard_normal((D_in, H)), rng.standard_normal((H, D_out))

    def update(h: np.ndarray, y_pred: np.ndarray) -> None:
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h.T.dot(grad_y_pred)
        grad_h = grad_y_pred.dot(w2.T)
        grad_w1 = x.T.dot(grad_h * h * (1 - h))
        w1[...] -= 1e-4 * grad_w1
        w2[...] -= 1e-4 * grad_w2

    losses = []
    for _t in range(steps):
        h = _sigmoid(x.dot(w1))
        y_pred = h.dot(w2)
        losses.append(float(np.square(y_pred - y).sum()))
        if not slide_layout:
            update(h, y_pred)
    if slide_layout:
        update(h, y_pred)
    return losses


def logistic_mlp_gradients(
    x: np.ndarray, alpha: np.ndarray, beta: np.ndarray, y_star: float
) -> dict[str, Any]:
    """The slides' "Composite Differentiation" network and its backward pass.

    ``a = alpha x``, ``z = sigma(a)``, ``b = beta . z``, ``y = sigma(b)``,
    ``J = y* log y + (1 - y*) log(1 - y)`` (the slide's J, a log-likelihood).

    Parameters
    ----------
    x : ndarray, shape (M,)
    alpha : ndarray, shape (D, M)
    beta : ndarray, shape (D,)
    y_star : float
        The label, 0 or 1 (any value in [0, 1] works).

    Returns
    -------
    dict
        ``J`` (float), ``y``, ``dJ/da`` (D,), ``dJ/dalpha`` (D, M), ``dJ/dbeta`` (D,),
        ``dJ/dx`` (M,) = ``sum_j dJ/da_j alpha_ji`` (``alpha^T dJ/da``).
    """
    x = np.asarray(x, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    if alpha.ndim != 2 or x.shape != (alpha.shape[1],) or beta.shape != (alpha.shape[0],):
        raise ValueError(
            f"logistic_mlp_gradients: need x (M,), alpha (D, M), beta (D,); got {x.shape}, "
            f"{alpha.shape}, {beta.shape}"
        )
    a = alpha @ x
    z = _sigmoid(a)
    b = float(beta @ z)
    y = float(_sigmoid(np.float64(b)))
    J = y_star * math.log(y) + (1 - y_star) * math.log(1 - y)
    dJ_dy = y_star / y + (1 - y_star) / (y - 1)
    dJ_db = dJ_dy * y * (1 - y)
    dJ_dz = dJ_db * beta
    dJ_da = dJ_dz * z * (1 - z)
    return {
        "J": J,
        "y": y,
        "dJ/da": dJ_da,
        "dJ/dalpha": np.outer(dJ_da, x),
        "dJ/dbeta": dJ_db * z,
        "dJ/dx": alpha.T @ dJ_da,
    }


def slide_logistic_dJ_dx(
    x: np.ndarray, alpha: np.ndarray, beta: np.ndarray, y_star: float
) -> np.ndarray:
    """The slide's formula ``dJ/dx_i = dJ/da_j * da_j/dx_i`` with ``da_j/dx_i = sum_j alpha_ji``.

    Returns
    -------
    ndarray, shape (D, M)
        Row j is the slide's expression for that j (it leaves j free): ``dJ/da_j * sum_k
        alpha_ki``. No row equals the true gradient ``sum_j dJ/da_j alpha_ji`` in general.
    """
    g = logistic_mlp_gradients(x, alpha, beta, y_star)
    col_sums = np.asarray(alpha, dtype=np.float64).sum(axis=0)
    return np.outer(g["dJ/da"], col_sums)


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


def p100_fp64_peak_gflops(clock_ghz: float) -> float:
    """Theoretical double-precision peak of an NVIDIA P100 at a given clock, in GFLOP/s.

    Parameters
    ----------
    clock_ghz : float
        The GPU clock in GHz (the PCIe card boosts to 1.303 GHz, the SXM2 card to 1.480).

    Returns
    -------
    float
        ``56 SMs x 32 FP64 FMA units x 2 flops x clock``.

    Notes
    -----
    At the slides' 1.19 GHz this gives 4265 GFLOP/s, below the 4503 GFLOP/s DGEMM the same slide
    reports, so the clock and the quoted 4700 GFLOP/s peak cannot both be right; 4700 is the PCIe
    datasheet peak at its 1.303 GHz boost clock.

    References
    ----------
    NVIDIA Tesla P100 whitepaper (2016): 56 SMs, 32 FP64 cores per SM.
    """
    sms, fp64_units_per_sm, flops_per_fma = 56, 32, 2
    return sms * fp64_units_per_sm * flops_per_fma * float(clock_ghz)


# ------------------------------------------------------------------------------------------
# Errata
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Erratum:
    """One error in the lecture slides, verified by computation.

    Attributes
    ----------
    id : str
        Short identifier; the test proving it is ``test_erratum_<id>``.
    location : str
        Where in the slides: the section heading and what is on it.
    slides_say : str
        The slides' text or number.
    correct : str
        The right text or number.
    proof : str
        The function (``module.name``) that computes the right value.
    kind : str
        ``"value"`` (a wrong number), ``"formula"`` or ``"code"``.
    note : str
        Why, briefly.
    """

    id: str
    location: str
    slides_say: str
    correct: str
    proof: str
    kind: str = "value"
    note: str = ""


@dataclass(frozen=True)
class Typo:
    """A slip in the slides that needs no computation to see (wording, names, references)."""

    id: str
    location: str
    slides_say: str
    should_say: str


_EX = "lapenna_labs.examples."

SLIDE_ERRATA: tuple[Erratum, ...] = (
    Erratum(
        id="forward_graph_z",
        location="'Forward Calculation represented as a graph'",
        slides_say="Z = (-1.0 * -2.0 + -2.0 * 3.0) + -3.0 = 4.0 - 3.0 = 1.0",
        correct="as written Z = 2 - 6 - 3 = -7 (Y = 0.00091); the stated 4.0 and 1.0 need "
        "cs231n's weights w = (2, -3): (-1.0 * 2.0 + -2.0 * -3.0) + -3.0 = 4.0 - 3.0 = 1.0",
        proof=_EX + "forward_graph_z",
        kind="formula",
        note="Y = 0.731 is right for the intended weights (graph.sigmoid_neuron_example).",
    ),
    Erratum(
        id="out_h1_digits",
        location="'DNN Example (1)'",
        slides_say="h1 = 0.59326992",
        correct="h1 = 0.593269992 (a 9 dropped; 0.59326999 to 8 decimals)",
        proof=_EX + "two_two_two_forward",
    ),
    Erratum(
        id="net_h1_formula",
        location="'Backpropagation Example' (dE/dw1 derivation)",
        slides_say="net_h1 = w1 * i1 + w3 * i2 + b1 * 1",
        correct="net_h1 = w1 * i1 + w2 * i2 + b1 * 1 (w3 feeds h2; with w3, out_h1 would "
        "be 0.594476, not 0.593270)",
        proof=_EX + "two_two_two_forward",
        kind="formula",
    ),
    Erratum(
        id="w5_delta_sign",
        location="'Backpropagation Example' (dE/dw5 derivation)",
        slides_say="dE/dw5 = -delta_o1 out_h1, next to delta_o1 = -(target_o1 - out_o1) "
        "out_o1 (1 - out_o1) and dE/dw5 = delta_o1 out_h1",
        correct="with that delta_o1 (= 0.138498562), dE/dw5 = +delta_o1 out_h1 = 0.082167041; "
        "the minus sign belongs to the other convention delta = (target - out) out (1 - out)",
        proof=_EX + "two_two_two_gradients",
        kind="formula",
    ),
    Erratum(
        id="w2_plus_formula_slide",
        location="'Backpropagation Example' (list of updated weights after w1+)",
        slides_say="w2+ = 0.19950143",
        correct="w2+ = 0.19956143",
        proof=_EX + "two_two_two_update",
    ),
    Erratum(
        id="code_grad_w2",
        location="'Backpropagation' code (grad_w2 line) and its printed output",
        slides_say="grad_w2 = grad_d11*i1  ->  grad_w2: 0.0004385677344703895",
        correct="grad_w2 = grad_d11*i2 = 0.00087713547",
        proof=_EX + "two_two_two_gradients",
        kind="code",
        note="two_two_two_slide_code reproduces the slides' output, bug included.",
    ),
    Erratum(
        id="code_w2_plus",
        location="'Backpropagation' code, printed output",
        slides_say="w2+: 0.19978071613276482",
        correct="w2+ = 0.19956143226552567",
        proof=_EX + "two_two_two_update",
        kind="code",
        note="Follows from grad_w2 computed with i1 instead of i2.",
    ),
    Erratum(
        id="graph_h1_from_o2",
        location="'Backward Path from o2' (h02+) and 'Backward Path from o1 and o2 to h1' "
        "(grad h1-o2)",
        slides_say="h02+ := (0.5) * (-0.038097) = -0.019485; grad h1-o2 := (0.5) * "
        "(-0.0038097) = -0.019485",
        correct="w7 * delta_o2 = (0.5) * (-0.038098) = -0.019049 (Mazur: -0.019049119)",
        proof=_EX + "two_two_two_gradients",
        note="Digits transposed (-0.019485 for -0.019049); the second line also has an extra 0.",
    ),
    Erratum(
        id="graph_grad_h1",
        location="'Backward Path from o1 and o2 to h1, from h1 to w1'",
        slides_say="grad h1 = 0.035911 (= 0.055396 - 0.019485)",
        correct="grad h1 = 0.036350 (= 0.055399 - 0.019049; Mazur 0.036350306)",
        proof=_EX + "two_two_two_gradients",
    ),
    Erratum(
        id="graph_delta_h1",
        location="'Backward Path from o1 and o2 to h1, from h1 to w1' (grad d1 ... grad d15)",
        slides_say="grad down = (0.035911) * (0.59327) * (1 - 0.59327) = 0.008665",
        correct="0.036350 * 0.59327 * (1 - 0.59327) = 0.0087714",
        proof=_EX + "two_two_two_gradients",
    ),
    Erratum(
        id="graph_grad_w1",
        location="'Backward Path from o1 and o2 to h1, from h1 to w1'",
        slides_say="grad w1 = (0.008665) * (0.05) = 0.00043326",
        correct="grad w1 = 0.0087714 * 0.05 = 0.00043857 (Mazur 0.000438568)",
        proof=_EX + "two_two_two_gradients",
    ),
    Erratum(
        id="graph_w1_plus",
        location="'Backward Path from o1 and o2 to h1, from h1 to w1'",
        slides_say="W1+ := 0.15 - (0.5) * (0.0004332) = 0.149783",
        correct="W1+ = 0.15 - 0.5 * 0.00043857 = 0.149781 (0.149780716)",
        proof=_EX + "two_two_two_update",
    ),
    Erratum(
        id="logistic_dJ_dx",
        location="'Composite Differentiation' (backward formulas, last line)",
        slides_say="dJ/dx_i = dJ/da_j da_j/dx_i,  da_j/dx_i = sum_{j=0}^{D} alpha_ji",
        correct="dJ/dx_i = sum_{j} dJ/da_j da_j/dx_i,  da_j/dx_i = alpha_ji (x_i fans out to "
        "every a_j, so the sum is over the gradients, not inside the local derivative)",
        proof=_EX + "logistic_mlp_gradients",
        kind="formula",
    ),
    Erratum(
        id="adam_beta2_default",
        location="'Adaptive learning rates + momentum' (1. ADAM)",
        slides_say="The hyperparameter in general: beta1 = 0.9, beta_2 = 0.99",
        correct="beta2 = 0.999 (Kingma & Ba's default; also torch.optim.Adam's and Keras')",
        proof=_EX + "adam_steps",
    ),
    Erratum(
        id="adam_bias_correction",
        location="'Adaptive learning rates + momentum' (1. ADAM)",
        slides_say="w_j = w_j - alpha / sqrt(m_jt) * v_jt (moments used as they are)",
        correct="w = w - alpha * m_hat / (sqrt(v_hat) + eps) with bias-corrected moments "
        "m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t), as on the next slide "
        "'Optimizer: ADAM'",
        proof=_EX + "adam_steps",
        kind="formula",
        note="Without correction the first steps are too small or too large: the first one is "
        "alpha * (1 - beta1) / sqrt(1 - beta2) = 3.16 alpha for beta2 = 0.999.",
    ),
    Erratum(
        id="lab2_gpu_timing_no_sync",
        location="'LAB 2, Problem 4' (GPU part: torch.matmul timed with time.time())",
        slides_say="time = 0.06104087829589844, GFLOPS = 7077.224510202169",
        correct="the product is asynchronous: call it once to warm up, then time it with "
        "torch.cuda.synchronize() before each clock read (or CUDA events); the printed rate "
        "measures the launch (and first-call set-up), not the product",
        proof="lapenna_labs.blas.time_gemm (vs lapenna_labs.blas.naive_time_gemm); "
        + _EX
        + "gpu_timing_is_synchronised",
        kind="code",
        note="Measured on an H100 by this project: the slides' style reported about "
        "878,000 GFLOP/s for an FP32 6000x6000 product whose rate, timed with CUDA events, "
        "was about 48,000 GFLOP/s (DESIGN.md).",
    ),
    Erratum(
        id="keras_steps_per_epoch",
        location="'Tensorflow Example' (training log)",
        slides_say="model.fit(..., epochs=5, batch_size=10) with the log '1875/1875' per epoch",
        correct="batch_size=10 gives ceil(60000/10) = 6000 steps per epoch; 1875 = 60000/32 "
        "is Keras' default batch size 32, so the log is from a run without batch_size=10",
        proof=_EX + "keras_steps_per_epoch",
        kind="code",
    ),
    Erratum(
        id="keras_categorical_loss_name",
        location="'TensorFlow 2.0 : NN Network' (model.compile)",
        slides_say="loss='Categorical_Crossentropy' with integer labels y_train",
        correct="loss='sparse_categorical_crossentropy' (as on the earlier slide's "
        "'SparseCategoricalCrossentropy'): Keras does not know 'Categorical_Crossentropy', and "
        "categorical_crossentropy needs one-hot labels",
        proof=_EX + "keras_loss_accepts_integer_labels",
        kind="code",
        note="Checked with Keras 3.",
    ),
    Erratum(
        id="block_mm_optimal_n",
        location="'Block MM'",
        slides_say="The optimal value of N = sqrt(size of fast memory / 3); N can be taken "
        "independently of the size of matrix n",
        correct="the block *size* b = n/N is limited by 3 b^2 <= M_fast, so the best b = "
        "sqrt(M_fast / 3) and N = n / b blocks per side (q ~ n/N = b); it is b, not N, that "
        "is independent of n",
        proof=_EX + "blocked_matmul_traffic",
        kind="formula",
        note="The slide's q = 2n^3 / ((2N + 2) n^2) ~ n/N itself is right (counted exactly).",
    ),
    Erratum(
        id="two_layer_numpy_loop",
        location="'Summary : Flow of NN' (NumPy code, lines 8-20)",
        slides_say="lines 14-20 (gradients and weight update) at the indentation of the for "
        "statement, i.e. after the loop",
        correct="lines 14-20 belong inside the loop; as laid out, the loop prints the same "
        "loss 2000 times and the weights are updated once",
        proof=_EX + "two_layer_numpy_training",
        kind="code",
    ),
    Erratum(
        id="cce_batch_table",
        location="'Categorical Cross Entropy Loss' (the ten-image ground-truth and prediction "
        "tables and the losses beside them)",
        slides_say="image 2: L = -log 0.7 = 0.356; prediction rows 2 and 8 presented as "
        "probabilities",
        correct="image 2's target is class 6, which its prediction row gives probability 0, so "
        "L = -log 0 = inf (a clipped implementation gives -log 1e-12 = 27.6); rows 2 and 8 sum "
        "to 0.2 and 0.9, so they are not softmax outputs",
        proof=_EX + "cce_batch_table_losses",
        note="The other nine losses agree with the tables (1.61 = -log 0.2, 0.105 = -log 0.9).",
    ),
    Erratum(
        id="p100_clock_peak",
        location="'Level 1, 2 and 3 BLAS' (Nvidia P100, 1.19 GHz, Peak DP = 4700 Gflop/s)",
        slides_say="1.19 GHz and a peak of 4700 GFLOP/s, with DGEMM measured at 4503 GFLOP/s",
        correct="56 x 32 x 2 x 1.19 GHz = 4265 GFLOP/s, below the measured DGEMM; the 4700 "
        "GFLOP/s peak belongs to the PCIe card's 1.303 GHz boost clock (4670 GFLOP/s)",
        proof=_EX + "p100_fp64_peak_gflops",
    ),
)
"""Every error found by recomputing the slides (see each entry's ``proof``)."""

SLIDE_TYPOS: tuple[Typo, ...] = (
    Typo(
        "question_5",
        "'Level 1, 2 and 3 BLAS' (lab questions)",
        "4. Repeat question #5 using R",
        "there are only four questions; the R code repeats question #1 (the 5000x5000 product)",
    ),
    Typo(
        "dq1_denominator",
        "'Computational Graph Backpropagation'",
        "[dL/dq1] * [d(x1 * w1)/dq1] (and the same for q2)",
        "[dL/dq1] * [d(x1 * w1)/dw1] = (dL/dq1) * x1",
    ),
    Typo(
        "dC_dx",
        "'Representation of NN Model - Math Story'",
        "Instantaneous rate of change (slope) = dC/dx",
        "dC/dw (C is a function of w)",
    ),
    Typo(
        "adam_moment_names",
        "'Adaptive learning rates + momentum' (1. ADAM)",
        "v is the first moment, m the second, and the second moment of dE^2/dw",
        "Kingma & Ba (next slide) call the first moment m and the second v; the second moment "
        "averages the squared gradient (dE/dw)^2, not the derivative of E^2",
    ),
    Typo(
        "model_summary",
        "'TensorFlow 2.0 : NN Network'",
        "Model.summary",
        "model.summary()",
    ),
    Typo(
        "tensorboard_imports",
        "'Tensorflow Example'",
        "os.path.join(...) and datetime.datetime.now() with only 'import tensorflow as tf'",
        "import os and import datetime as well",
    ),
)
"""Slips that need no computation (they are not in SLIDE_ERRATA and have no proof function)."""


def erratum(erratum_id: str) -> Erratum:
    """Look up an entry of SLIDE_ERRATA by id (ValueError listing the ids if unknown)."""
    for entry in SLIDE_ERRATA:
        if entry.id == erratum_id:
            return entry
    valid = ", ".join(e.id for e in SLIDE_ERRATA)
    raise ValueError(f"erratum: unknown id {erratum_id!r}; valid ids are {valid}")
