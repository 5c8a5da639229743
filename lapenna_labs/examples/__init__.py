"""The lecture slides' worked examples as data, the functions that compute them, and the errata.

Book chapters, labs and tests all take their numbers from here, so a value is typed once.
The data holds the inputs exactly as the slides state them; every output is computed.
The functions of weeks 1 to 5 are self-contained NumPy (float64): they use the package's input
checks (:mod:`lapenna_labs._validation`) but none of its layers, losses or optimizers, so the
tests that compare the two compare independent code, and check both against PyTorch autograd
and published values. Week 6's worked example is the exception: it chains the package's own
layers, because what it shows is those layers' backward passes at work; its tests compare it
with the same network in PyTorch autograd and with finite differences.

One module per week of the course, by where the chapters use the examples, and the errata;
every public name is also here (``examples.two_two_two_forward`` is
``examples.week03.two_two_two_forward``):

========= ===================================================================================
module    what it holds
========= ===================================================================================
week01    the Top500's Rmax and Rpeak (:data:`TOP500_NOVEMBER_2024`) and HPCG beside HPL
          (:data:`HPCG_RESULTS`); R's user/elapsed timing (:func:`cpu_and_wall_time`); the
          P100 slide's peak (:func:`p100_fp64_peak_gflops`); the "Block MM" slide's
          traffic (:func:`blocked_matmul_traffic`, :func:`best_block_size`)
week02    Lab 2 Problem 4's GPU timing (:data:`LAB2_PROBLEM4_GPU_CODE`,
          :func:`gpu_timing_is_synchronised`) and every timing the slides print
          (:data:`SLIDE_TIMINGS`)
week03    Mazur's 2-2-2 network (:data:`TWO_TWO_TWO`) and its forward pass; the single neuron
          (:data:`SINGLE_NEURON`); the forward-graph slide; the ten-image cross-entropy table
week04    the 2-2-2 network's backward pass, update and training, the slides' code (bug
          included) and graph; the softmax exercise (:data:`SOFTMAX_EXERCISE`); Adam; the
          Keras examples, and the MNIST one run as written; the TensorFlow 1 steps in
          TensorFlow 2; the last NumPy program; "Composite Differentiation"
week05    a convolution by hand (:data:`HAND_INPUT`, :data:`HAND_KERNEL`,
          :func:`conv_by_hand`: every window, product and sum) and the receptive field of a
          stack of layers (:func:`receptive_field`)
week06    a conv-relu-pool-dense network small enough to backpropagate by hand
          (:data:`EXAMPLE_INPUT`, :data:`EXAMPLE_FILTERS`...): :func:`worked_example` returns
          every forward value and every gradient
week09    the Spring 2022 webinars' dates: the meeting list (:data:`WEBINAR_OCCURRENCES`),
          the schedule table (:data:`SCHEDULE_TABLE`) and :func:`webinar_dates`
errata    :data:`SLIDE_ERRATA` (each :class:`Erratum` with the function that proves the right
          value and a ``recompute`` that says it), :data:`SLIDE_TYPOS`, :func:`erratum`;
          :func:`axpby_flops` (:func:`lapenna_labs.blas.axpby_flops`, which an erratum is about)
========= ===================================================================================

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

Examples
--------
>>> from lapenna_labs import examples
>>> round(examples.two_two_two_forward()["E_total"], 9)
0.298371109
>>> examples.two_two_two_forward is examples.week03.two_two_two_forward
True
"""

from .errata import (
    SLIDE_ERRATA,
    SLIDE_TYPOS,
    SLIDES_TRANSCRIPTION,
    Erratum,
    Typo,
    axpby_flops,
    erratum,
)
from .week01 import (
    HPCG_RESULTS,
    TOP500_EDITION,
    TOP500_NOVEMBER_2024,
    HpcgResult,
    ProcessTimes,
    Top500Entry,
    best_block_size,
    blocked_matmul_traffic,
    cpu_and_wall_time,
    p100_fp64_peak_gflops,
)
from .week02 import (
    LAB2_PROBLEM4_GPU_CODE,
    SLIDE_TIMINGS,
    SlideTiming,
    gpu_timing_is_synchronised,
)
from .week03 import (
    CCE_BATCH_PREDICTIONS,
    CCE_BATCH_SLIDE_LOSSES,
    CCE_BATCH_TARGETS,
    SINGLE_NEURON,
    TWO_TWO_TWO,
    cce_batch_table_losses,
    forward_graph_z,
    single_neuron,
    two_two_two_forward,
    two_two_two_matrices,
)
from .week04 import (
    MAZUR_TRAINING,
    SLIDE_TF1_TRAINING_STEPS,
    SOFTMAX_EXERCISE,
    TF2_TRAINING_STEP,
    adam_steps,
    keras_loss_accepts_integer_labels,
    keras_steps_per_epoch,
    logistic_mlp_gradients,
    slide_adam_steps,
    slide_keras_mnist_fit,
    slide_logistic_dJ_dx,
    slide_tf1_code_in_tensorflow2,
    softmax_exercise_forward,
    softmax_exercise_gradients,
    softmax_exercise_matrices,
    softmax_exercise_update,
    two_layer_numpy_training,
    two_two_two_gradients,
    two_two_two_graph,
    two_two_two_slide_code,
    two_two_two_training,
    two_two_two_update,
)
from .week05 import HAND_BIAS, HAND_INPUT, HAND_KERNEL, conv_by_hand, receptive_field
from .week06 import (
    EXAMPLE_CONV_BIAS,
    EXAMPLE_DENSE_BIAS,
    EXAMPLE_DENSE_WEIGHTS,
    EXAMPLE_FILTERS,
    EXAMPLE_INPUT,
    EXAMPLE_LABELS,
    worked_example,
)
from .week09 import (
    FIRST_WEBINAR,
    SCHEDULE_TABLE,
    WEBINAR_OCCURRENCES,
    ScheduleRow,
    webinar_dates,
)

__all__ = [
    "webinar_dates",
    "ScheduleRow",
    "WEBINAR_OCCURRENCES",
    "SCHEDULE_TABLE",
    "FIRST_WEBINAR",
    "CCE_BATCH_PREDICTIONS",
    "CCE_BATCH_SLIDE_LOSSES",
    "CCE_BATCH_TARGETS",
    "EXAMPLE_CONV_BIAS",
    "EXAMPLE_DENSE_BIAS",
    "EXAMPLE_DENSE_WEIGHTS",
    "EXAMPLE_FILTERS",
    "EXAMPLE_INPUT",
    "EXAMPLE_LABELS",
    "HAND_BIAS",
    "HAND_INPUT",
    "HAND_KERNEL",
    "HPCG_RESULTS",
    "LAB2_PROBLEM4_GPU_CODE",
    "MAZUR_TRAINING",
    "SINGLE_NEURON",
    "SLIDES_TRANSCRIPTION",
    "SLIDE_ERRATA",
    "SLIDE_TF1_TRAINING_STEPS",
    "SLIDE_TIMINGS",
    "SLIDE_TYPOS",
    "SOFTMAX_EXERCISE",
    "TF2_TRAINING_STEP",
    "TOP500_EDITION",
    "TOP500_NOVEMBER_2024",
    "TWO_TWO_TWO",
    "Erratum",
    "HpcgResult",
    "ProcessTimes",
    "SlideTiming",
    "Top500Entry",
    "Typo",
    "adam_steps",
    "axpby_flops",
    "best_block_size",
    "blocked_matmul_traffic",
    "cce_batch_table_losses",
    "conv_by_hand",
    "cpu_and_wall_time",
    "erratum",
    "forward_graph_z",
    "gpu_timing_is_synchronised",
    "keras_loss_accepts_integer_labels",
    "keras_steps_per_epoch",
    "logistic_mlp_gradients",
    "p100_fp64_peak_gflops",
    "receptive_field",
    "single_neuron",
    "slide_adam_steps",
    "slide_keras_mnist_fit",
    "slide_logistic_dJ_dx",
    "slide_tf1_code_in_tensorflow2",
    "softmax_exercise_forward",
    "softmax_exercise_gradients",
    "softmax_exercise_matrices",
    "softmax_exercise_update",
    "two_layer_numpy_training",
    "two_two_two_forward",
    "two_two_two_gradients",
    "two_two_two_graph",
    "two_two_two_matrices",
    "two_two_two_slide_code",
    "two_two_two_training",
    "two_two_two_update",
    "worked_example",
]
