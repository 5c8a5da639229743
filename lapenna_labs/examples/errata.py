"""The errors found by recomputing the lecture slides, each with the code that proves it.

* :data:`SLIDE_ERRATA`: every wrong number, formula or piece of code (an :class:`Erratum`),
  with the function that computes the right value (``proof``) and a ``recompute`` function
  that does so again and says the result in one line, as the book's errata page shows it;
* :data:`SLIDE_TYPOS`: slips that need no computation to see (a :class:`Typo`);
* :func:`erratum`: one entry by id.

Each erratum is defined once, below, as the decorated function that recomputes it; the
decorator adds the entry, in order, to SLIDE_ERRATA. The tests check every entry
(``test_erratum_<id>``) against independent references.

Examples
--------
>>> erratum("out_h1_digits").recompute()
'out_h1 = 0.593269992'
>>> erratum("out_h1_digits").proof
'lapenna_labs.examples.two_two_two_forward'
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..gradcheck import numerical_gradient
from .week01 import best_block_size, blocked_matmul_traffic, p100_fp64_peak_gflops
from .week02 import LAB2_PROBLEM4_GPU_CODE, gpu_timing_is_synchronised
from .week03 import TWO_TWO_TWO, cce_batch_table_losses, forward_graph_z, two_two_two_forward
from .week04 import (
    adam_steps,
    keras_loss_accepts_integer_labels,
    keras_steps_per_epoch,
    logistic_mlp_gradients,
    slide_adam_steps,
    slide_logistic_dJ_dx,
    two_layer_numpy_training,
    two_two_two_gradients,
    two_two_two_slide_code,
    two_two_two_update,
)

__all__ = ["Erratum", "SLIDE_ERRATA", "SLIDE_TYPOS", "Typo", "erratum"]


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
        ``"value"`` (a wrong number), ``"formula"`` or ``"code"``.
    note : str
        Why, briefly.
    """

    id: str
    location: str
    slides_say: str
    correct: str
    proof: str
    recompute: Callable[[], str] = field(repr=False, compare=False)
    kind: str = "value"
    note: str = ""


@dataclass(frozen=True)
class Typo:
    """A slip in the slides that needs no computation to see (wording, names, references)."""

    id: str
    location: str
    slides_say: str
    should_say: str


_ERRATA: list[Erratum] = []


def _slide_erratum(**fields: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Add an Erratum with these fields to SLIDE_ERRATA; the decorated function recomputes it."""

    def register(recompute: Callable[[], str]) -> Callable[[], str]:
        _ERRATA.append(Erratum(**fields, recompute=recompute))
        return recompute

    return register


def _first_three_steps(rule: Callable[[float, list[float]], list[float]]) -> str:
    """An optimizer rule's first three iterates from 0 with gradient 1, as text."""
    return ", ".join(f"{theta:.6f}" for theta in rule(0.0, [1.0] * 3))


@_slide_erratum(
    id="forward_graph_z",
    location="'Forward Calculation represented as a graph'",
    slides_say="Z = (-1.0 * -2.0 + -2.0 * 3.0) + -3.0 = 4.0 - 3.0 = 1.0",
    correct="as written Z = 2 - 6 - 3 = -7 (Y = 0.00091); the stated 4.0 and 1.0 need "
    "cs231n's weights w = (2, -3): (-1.0 * 2.0 + -2.0 * -3.0) + -3.0 = 4.0 - 3.0 = 1.0",
    proof="lapenna_labs.examples.forward_graph_z",
    kind="formula",
    note="Y = 0.731 is right for the intended weights (graph.sigmoid_neuron_example).",
)
def _recompute_forward_graph_z() -> str:
    written, intended = forward_graph_z(), forward_graph_z(w=(2.0, -3.0))
    return (
        f"as written, Z = {written['Z']:g} and Y = {written['Y']:.5f}; "
        f"with w = (2, -3), Z = {intended['Z']:g} and Y = {intended['Y']:.3f}"
    )


@_slide_erratum(
    id="out_h1_digits",
    location="'DNN Example (1)'",
    slides_say="h1 = 0.59326992",
    correct="h1 = 0.593269992 (a 9 dropped; 0.59326999 to 8 decimals)",
    proof="lapenna_labs.examples.two_two_two_forward",
)
def _recompute_out_h1_digits() -> str:
    return f"out_h1 = {two_two_two_forward()['out_h1']:.9f}"


@_slide_erratum(
    id="net_h1_formula",
    location="'Backpropagation Example' (dE/dw1 derivation)",
    slides_say="net_h1 = w1 * i1 + w3 * i2 + b1 * 1",
    correct="net_h1 = w1 * i1 + w2 * i2 + b1 * 1 (w3 feeds h2; with w3, out_h1 would "
    "be 0.594476, not 0.593270)",
    proof="lapenna_labs.examples.two_two_two_forward",
    kind="formula",
)
def _recompute_net_h1_formula() -> str:
    right = two_two_two_forward()
    with_w3 = two_two_two_forward({**TWO_TWO_TWO, "w2": TWO_TWO_TWO["w3"]})
    return (
        f"net_h1 = w1 i1 + w2 i2 + b1 = {right['net_h1']:.4f}, out_h1 = {right['out_h1']:.6f}; "
        f"with w3 in place of w2, out_h1 = {with_w3['out_h1']:.6f}"
    )


@_slide_erratum(
    id="w5_delta_sign",
    location="'Backpropagation Example' (dE/dw5 derivation)",
    slides_say="dE/dw5 = -delta_o1 out_h1, next to delta_o1 = -(target_o1 - out_o1) "
    "out_o1 (1 - out_o1) and dE/dw5 = delta_o1 out_h1",
    correct="with that delta_o1 (= 0.138498562), dE/dw5 = +delta_o1 out_h1 = 0.082167041; "
    "the minus sign belongs to the other convention delta = (target - out) out (1 - out)",
    proof="lapenna_labs.examples.two_two_two_gradients",
    kind="formula",
)
def _recompute_w5_delta_sign() -> str:
    grads = two_two_two_gradients()
    return f"delta_o1 = {grads['delta_o1']:.9f}, dE/dw5 = {grads['w5']:+.9f}"


@_slide_erratum(
    id="w2_plus_formula_slide",
    location="'Backpropagation Example' (list of updated weights after w1+)",
    slides_say="w2+ = 0.19950143",
    correct="w2+ = 0.19956143",
    proof="lapenna_labs.examples.two_two_two_update",
)
def _recompute_w2_plus_formula_slide() -> str:
    return f"w2+ = {two_two_two_update()['w2']:.8f}"


@_slide_erratum(
    id="code_grad_w2",
    location="'Backpropagation' code (grad_w2 line) and its printed output",
    slides_say="grad_w2 = grad_d11*i1  ->  grad_w2: 0.0004385677344703895",
    correct="grad_w2 = grad_d11*i2 = 0.00087713547",
    proof="lapenna_labs.examples.two_two_two_gradients",
    kind="code",
    note="two_two_two_slide_code reproduces the slides' output, bug included.",
)
def _recompute_code_grad_w2() -> str:
    right, printed = two_two_two_gradients()["w2"], two_two_two_slide_code()["grad_w2"]
    return f"grad_w2 = {right:.11f}; the slides' code gives {printed:.11f}"


@_slide_erratum(
    id="code_w2_plus",
    location="'Backpropagation' code, printed output",
    slides_say="w2+: 0.19978071613276482",
    correct="w2+ = 0.19956143226552567",
    proof="lapenna_labs.examples.two_two_two_update",
    kind="code",
    note="Follows from grad_w2 computed with i1 instead of i2.",
)
def _recompute_code_w2_plus() -> str:
    right, printed = two_two_two_update()["w2"], two_two_two_slide_code()["w2+"]
    return f"w2+ = {right:.14f}; the slides' code gives {printed:.14f}"


@_slide_erratum(
    id="graph_h1_from_o2",
    location="'Backward Path from o2' (h02+) and 'Backward Path from o1 and o2 to h1' (grad h1-o2)",
    slides_say="h02+ := (0.5) * (-0.038097) = -0.019485; grad h1-o2 := (0.5) * "
    "(-0.0038097) = -0.019485",
    correct="w7 * delta_o2 = (0.5) * (-0.038098) = -0.019049 (Mazur: -0.019049119)",
    proof="lapenna_labs.examples.two_two_two_gradients",
    note="Digits transposed (-0.019485 for -0.019049); the second line also has an extra 0.",
)
def _recompute_graph_h1_from_o2() -> str:
    return f"w7 delta_o2 = {TWO_TWO_TWO['w7'] * two_two_two_gradients()['delta_o2']:.6f}"


@_slide_erratum(
    id="graph_grad_h1",
    location="'Backward Path from o1 and o2 to h1, from h1 to w1'",
    slides_say="grad h1 = 0.035911 (= 0.055396 - 0.019485)",
    correct="grad h1 = 0.036350 (= 0.055399 - 0.019049; Mazur 0.036350306)",
    proof="lapenna_labs.examples.two_two_two_gradients",
)
def _recompute_graph_grad_h1() -> str:
    return f"dE/dout_h1 = {two_two_two_gradients()['dE/dout_h1']:.6f}"


@_slide_erratum(
    id="graph_delta_h1",
    location="'Backward Path from o1 and o2 to h1, from h1 to w1' (grad d1 ... grad d15)",
    slides_say="grad down = (0.035911) * (0.59327) * (1 - 0.59327) = 0.008665",
    correct="0.036350 * 0.59327 * (1 - 0.59327) = 0.0087714",
    proof="lapenna_labs.examples.two_two_two_gradients",
)
def _recompute_graph_delta_h1() -> str:
    return f"delta_h1 = {two_two_two_gradients()['delta_h1']:.7f}"


@_slide_erratum(
    id="graph_grad_w1",
    location="'Backward Path from o1 and o2 to h1, from h1 to w1'",
    slides_say="grad w1 = (0.008665) * (0.05) = 0.00043326",
    correct="grad w1 = 0.0087714 * 0.05 = 0.00043857 (Mazur 0.000438568)",
    proof="lapenna_labs.examples.two_two_two_gradients",
)
def _recompute_graph_grad_w1() -> str:
    return f"dE/dw1 = {two_two_two_gradients()['w1']:.8f}"


@_slide_erratum(
    id="graph_w1_plus",
    location="'Backward Path from o1 and o2 to h1, from h1 to w1'",
    slides_say="W1+ := 0.15 - (0.5) * (0.0004332) = 0.149783",
    correct="W1+ = 0.15 - 0.5 * 0.00043857 = 0.149781 (0.149780716)",
    proof="lapenna_labs.examples.two_two_two_update",
)
def _recompute_graph_w1_plus() -> str:
    return f"w1+ = {two_two_two_update()['w1']:.9f}"


@_slide_erratum(
    id="logistic_dJ_dx",
    location="'Composite Differentiation' (backward formulas, last line)",
    slides_say="dJ/dx_i = dJ/da_j da_j/dx_i,  da_j/dx_i = sum_{j=0}^{D} alpha_ji",
    correct="dJ/dx_i = sum_{j} dJ/da_j da_j/dx_i,  da_j/dx_i = alpha_ji (x_i fans out to "
    "every a_j, so the sum is over the gradients, not inside the local derivative)",
    proof="lapenna_labs.examples.logistic_mlp_gradients",
    kind="formula",
)
def _recompute_logistic_dJ_dx() -> str:
    # A random 3-4-1 network, its gradient checked against central differences.
    rng = np.random.default_rng(0)
    x, alpha, beta = rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4)
    right = logistic_mlp_gradients(x, alpha, beta, 1.0)["dJ/dx"]
    numeric = numerical_gradient(lambda v: logistic_mlp_gradients(v, alpha, beta, 1.0)["J"], x)
    # The slide leaves j free: each row of slide_logistic_dJ_dx is one reading; the best is
    # the row whose largest error is smallest.
    slide = slide_logistic_dJ_dx(x, alpha, beta, 1.0)
    return (
        "on a random 3-4-1 example, max |alpha^T dJ/da - finite differences| = "
        f"{np.abs(right - numeric).max():.1e}; the slides' formula is off by "
        f"{np.abs(slide - numeric).max(axis=1).min():.2f} at best"
    )


@_slide_erratum(
    id="adam_beta2_default",
    location="'Adaptive learning rates + momentum' (1. ADAM)",
    slides_say="The hyperparameter in general: beta1 = 0.9, beta_2 = 0.99",
    correct="beta2 = 0.999 (Kingma & Ba's default; also torch.optim.Adam's and Keras')",
    proof="lapenna_labs.examples.adam_steps",
)
def _recompute_adam_beta2_default() -> str:
    return (
        "Adam's first three steps from 0 with gradient 1 (lr 0.001): beta2 = 0.999 gives "
        + _first_three_steps(adam_steps)
    )


@_slide_erratum(
    id="adam_bias_correction",
    location="'Adaptive learning rates + momentum' (1. ADAM)",
    slides_say="w_j = w_j - alpha / sqrt(m_jt) * v_jt (moments used as they are)",
    correct="w = w - alpha * m_hat / (sqrt(v_hat) + eps) with bias-corrected moments "
    "m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t), as on the next slide "
    "'Optimizer: ADAM'",
    proof="lapenna_labs.examples.adam_steps",
    kind="formula",
    note="Without correction the first steps are too small or too large: the first one is "
    "alpha * (1 - beta1) / sqrt(1 - beta2) = 3.16 alpha for beta2 = 0.999.",
)
def _recompute_adam_bias_correction() -> str:
    return (
        f"first steps with bias correction: {_first_three_steps(adam_steps)}; "
        f"the slides' uncorrected rule: {_first_three_steps(slide_adam_steps)}"
    )


@_slide_erratum(
    id="lab2_gpu_timing_no_sync",
    location="'LAB 2, Problem 4' (GPU part: torch.matmul timed with time.time())",
    slides_say="time = 0.06104087829589844, GFLOPS = 7077.224510202169",
    correct="the product is asynchronous: call it once to warm up, then time it with "
    "torch.cuda.synchronize() before each clock read (or CUDA events); the printed rate "
    "measures the launch (and first-call set-up), not the product",
    proof="lapenna_labs.examples.gpu_timing_is_synchronised",
    kind="code",
    note="lapenna_labs.blas.time_gemm times the product right; lapenna_labs.blas.naive_time_gemm "
    "reproduces the slides' timing. This project's earlier H100 measurement: the slides' "
    "style reported about 878,000 GFLOP/s for an FP32 6000x6000 product whose rate, timed "
    "with CUDA events, was about 48,000 GFLOP/s.",
)
def _recompute_lab2_gpu_timing_no_sync() -> str:
    synchronised = gpu_timing_is_synchronised(LAB2_PROBLEM4_GPU_CODE)
    return f"gpu_timing_is_synchronised(the slides' code) = {synchronised}"


@_slide_erratum(
    id="keras_steps_per_epoch",
    location="'Tensorflow Example' (training log)",
    slides_say="model.fit(..., epochs=5, batch_size=10) with the log '1875/1875' per epoch",
    correct="batch_size=10 gives ceil(60000/10) = 6000 steps per epoch; 1875 = 60000/32 "
    "is Keras' default batch size 32, so the log is from a run without batch_size=10",
    proof="lapenna_labs.examples.keras_steps_per_epoch",
    kind="code",
)
def _recompute_keras_steps_per_epoch() -> str:
    return (
        f"{keras_steps_per_epoch(60000, 10)} steps per epoch at batch_size=10; "
        f"{keras_steps_per_epoch(60000, 32)} at Keras' default 32"
    )


@_slide_erratum(
    id="keras_categorical_loss_name",
    location="'TensorFlow 2.0 : NN Network' (model.compile)",
    slides_say="loss='Categorical_Crossentropy' with integer labels y_train",
    correct="loss='sparse_categorical_crossentropy' (as on the earlier slide's "
    "'SparseCategoricalCrossentropy'): Keras does not know 'Categorical_Crossentropy', and "
    "categorical_crossentropy needs one-hot labels",
    proof="lapenna_labs.examples.keras_loss_accepts_integer_labels",
    kind="code",
    note="Checked with Keras 3.",
)
def _recompute_keras_categorical_loss_name() -> str:
    accepted = {
        loss: keras_loss_accepts_integer_labels(loss)[0]
        for loss in ("Categorical_Crossentropy", "sparse_categorical_crossentropy")
    }
    return "; ".join(f"'{loss}' accepted: {ok}" for loss, ok in accepted.items())


@_slide_erratum(
    id="block_mm_optimal_n",
    location="'Block MM'",
    slides_say="The optimal value of N = sqrt(size of fast memory / 3); N can be taken "
    "independently of the size of matrix n",
    correct="the block *size* b = n/N is limited by 3 b^2 <= M_fast, so the best b = "
    "sqrt(M_fast / 3) and N = n / b blocks per side (q ~ n/N = b); it is b, not N, that "
    "is independent of n",
    proof="lapenna_labs.examples.blocked_matmul_traffic",
    kind="formula",
    note="The slide's q = 2n^3 / ((2N + 2) n^2) ~ n/N itself is right (counted exactly).",
)
def _recompute_block_mm_optimal_n() -> str:
    n, fast_words = 1024, 32 * 1024  # a 256 KiB fast memory of float64 words
    b = best_block_size(fast_words)
    b_dividing_n = 2 ** int(math.log2(b))  # the largest power of two <= b divides n = 2**10
    right = blocked_matmul_traffic(n, n // b_dividing_n)
    slides_N = b_dividing_n  # the slides' reading: N, the number of blocks, = sqrt(M / 3)
    slides = blocked_matmul_traffic(n, slides_N)
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
    proof="lapenna_labs.examples.two_layer_numpy_training",
    kind="code",
)
def _recompute_two_layer_numpy_loop() -> str:
    inside = two_layer_numpy_training(20)
    as_laid_out = two_layer_numpy_training(20, slide_layout=True)
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
    proof="lapenna_labs.examples.cce_batch_table_losses",
    note="The other nine losses agree with the tables (1.61 = -log 0.2, 0.105 = -log 0.9).",
)
def _recompute_cce_batch_table() -> str:
    table = cce_batch_table_losses()
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
    proof="lapenna_labs.examples.p100_fp64_peak_gflops",
)
def _recompute_p100_clock_peak() -> str:
    return (
        f"56 x 32 x 2 x 1.19 GHz = {p100_fp64_peak_gflops(1.19):,.0f} GFLOP/s, below the "
        f"measured 4,503; at the 1.303 GHz boost clock {p100_fp64_peak_gflops(1.303):,.0f} GFLOP/s"
    )


SLIDE_ERRATA: tuple[Erratum, ...] = tuple(_ERRATA)
"""Every error found by recomputing the slides (see each entry's ``proof``), in slide order."""

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
