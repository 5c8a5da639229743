# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"grade": false, "grade_id": "title", "locked": true, "schema_version": 3, "solution": false}
# # Lab 8: segmentation with a U-Net: the transposed convolution, Dice and IoU, and the U's sizes
#
# Week 8 of LAPENNA. A segmentation network labels every pixel. To do that it must go back up
# from the small maps of a classifier to the image's size, and the U-Net does it with
# *transposed convolutions* and skip connections. In this lab you write the transposed
# convolution in NumPy; the two scores every segmentation paper reports, IoU and Dice, per
# class, with the rule for classes that do not occur; the shape algebra of the paper's U-Net
# (which inputs it accepts, how much smaller its output is); and finally a small U-Net in
# PyTorch, trained on scenes of MNIST digits whose masks label each digit's ink with its class.
#
# | part | what you write | points |
# |---|---|---|
# | 1 | `conv_transpose2d`: the transposed convolution, with stride, padding and output padding | 3 |
# | 2 | `iou_per_class`, `dice_per_class` and `mean_iou`, with the empty-mask rule | 2.5 |
# | 3 | `unet_output_size` and `accepted_input_sizes`: the U-Net's shape algebra ("valid" padding) | 1.5 |
# | 4 | `SmallUNet`, `train_segmenter` and `predict_segmentation` in PyTorch, trained to a stated IoU | 3 |
# | | **total** | **10** |
#
# Expect two hours. Parts 1 to 3 run on a CPU in a second. Part 4 trains on the GPU in Colab
# (the 11 classes) and, on a CPU, on a smaller task that trains in seconds.
#
# **Conventions** (those of PyTorch and `lapenna_labs`): images are NCHW, `x` has shape
# `(N, C, H, W)`. A transposed convolution's filters have PyTorch's `ConvTranspose2d` layout
# `(C_in, C_out, KH, KW)`: input channels first. Label maps are integer arrays `(N, H, W)`, class
# 0 the background and class `d + 1` the digit `d` (11 classes). Keep the dtype you are given:
# float32 in, float32 out.

# %% [markdown] nbgrader={"grade": false, "grade_id": "how_graded", "locked": true, "schema_version": 3, "solution": false}
# **How this lab is graded.** Cells marked *answer* are yours; the cells after them check your work.
# Visible checks run now and tell you what is wrong (never what the right values are); each
# prints "...: the visible checks pass." when yours pass. Hidden checks run only when the
# instructor grades, on fresh random inputs in float32 and float64 and on sizes you have not
# seen, so make your functions work for any shape the docstring allows. Do not rename the
# functions or change their arguments. A cell that runs longer than a minute is stopped.
#
# **Library calls.** Each part says which libraries its answer may call. While the hidden checks
# run your function, the others are *blocked*, under any name you imported them by: the
# course's own `lapenna_labs` (it has every answer of this lab:
# `conv.conv_transpose2d_forward`, `segmentation.iou_per_class`, `segmentation.mean_iou`,
# `unet.unet_output_size`, `unet.make_unet`, `unet.train_unet`), scikit-learn (its
# `metrics.jaccard_score` and `f1_score`), and the other libraries (SciPy; PyTorch, so
# `torch.nn.functional.conv_transpose2d` and `torch.nn.ConvTranspose2d`, except in Part 4;
# TensorFlow; Keras; JAX). A call of a blocked function scores zero **for that part only**: it
# is charged to the function that made it. A later function that uses one of your earlier ones
# (`mean_iou` may use your `iou_per_class`) is not charged for what that one calls, only for
# its own calls.
#
# **The grader has no GPU.** It sets `LAPENNA_FORCE_CPU=1`, so `DEVICE` is `"cpu"`, and Part 4
# is graded on its CPU task.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import os
import time

import numpy as np

np.set_printoptions(precision=4, suppress=True)
GRADING = bool(os.environ.get("LAPENNA_GRADING"))

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: the transposed convolution (3 points)
#
# A convolution with stride S maps a large image to a small one, and it is linear: `y = T x`
# for a (sparse, Toeplitz) matrix `T`. The transposed convolution is multiplication by
# $T^\top$: it maps the small image back to the large one's size. It is not an inverse, it has
# the shape of one, and its kernel is learned. Written out, **every input pixel scatters a
# scaled copy of the kernel into the output**: input pixel `(i, j)` of channel `c` adds
# `x[n, c, i, j] * w[c, o, :, :]` into output channel `o` at rows `S·i .. S·i + KH - 1` and
# columns `S·j .. S·j + KW - 1` of a "full" output, and the overlapping copies add up:
#
# $$\text{full}_{n, o, S i + p, S j + q} \mathrel{+}= \sum_c x_{n c i j}\, w_{c o p q},$$
#
# of size $(H - 1) S + KH$ by $(W - 1) S + KW$. Then
#
# * `padding` P (that of the convolution this is the transpose of) *removes* P rows and columns
#   from each side of the full output;
# * `output_padding` (smaller than the stride) *adds* that many rows at the bottom and columns
#   on the right: a stride-S convolution maps S neighbouring input sizes to the same output size,
#   and this picks which one to go back to. Where no kernel copy reaches, those rows hold only
#   the bias;
# * the bias `b[o]` is added to every output pixel of channel `o`.
#
# So $OH = (H - 1) S - 2P + KH + \text{output\_padding}$, and likewise OW. This is exactly
# PyTorch's `torch.nn.ConvTranspose2d` (and `torch.nn.functional.conv_transpose2d`).
#
# Write `conv_transpose2d(x, w, b, stride=1, padding=0, output_padding=0)` for `x` of shape
# `(N, C_in, H, W)`, `w` of shape `(C_in, C_out, KH, KW)`, `b` of shape `(C_out,)` and integer
# options (the same along both axes), returning `out` of shape `(N, C_out, OH, OW)` in `x`'s
# dtype. A loop over the KH·KW kernel offsets `(p, q)`, each adding one product of `x` with
# `w[:, :, p, q]` into a strided slice of the full output, is fast enough.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# `conv.conv_transpose2d_forward`), scikit-learn and the other libraries (SciPy;
# `torch.nn.functional.conv_transpose2d`, `torch.nn.ConvTranspose2d` and the rest of PyTorch;
# `tf.nn.conv2d_transpose`; Keras; JAX).


# %% nbgrader={"grade": false, "grade_id": "transpose_checks", "locked": true, "schema_version": 3, "solution": false}
# Used by the checks of Part 1: which rule a wrong output shape follows.
from lapenna_labs import conv as _conv_reference  # noqa: E402


def check_transpose_shape(got, x, w, stride, padding, output_padding, name):
    """Say which shape rule a wrong shape follows: a plain convolution, output_padding..."""
    (_, _, h, wd), (_, c_out, kh, kw) = x.shape, w.shape
    expected = (x.shape[0], c_out) + tuple(
        _conv_reference.conv_transpose_output_size(n, k, stride, padding, output_padding)
        for n, k in ((h, kh), (wd, kw))
    )
    shape = np.shape(got)
    if shape == expected:
        return
    as_conv = tuple((n + 2 * padding - k) // stride + 1 for n, k in ((h, kh), (wd, kw)))
    without_op = tuple(e - output_padding for e in expected[2:])
    if shape[2:] == as_conv and as_conv != expected[2:]:
        raise AssertionError(
            f"{name}: the output is {shape[2:]}, the size a plain convolution gives; a "
            "transposed convolution goes the other way, from the small image to the large one"
        )
    if output_padding and shape[2:] == without_op:
        raise AssertionError(
            f"{name}: the output is output_padding = {output_padding} rows and columns short: "
            "output_padding adds rows at the bottom and columns on the right"
        )
    if output_padding and shape[2:] == tuple(e + output_padding for e in expected[2:]):
        raise AssertionError(
            f"{name}: the output is output_padding rows and columns too large: it is added "
            "once (bottom and right), not on both sides"
        )
    if padding and shape[2:] == tuple(e + 2 * padding for e in expected[2:]):
        raise AssertionError(
            f"{name}: the padding was not removed: padding P takes P rows and columns off "
            "each side of the full output"
        )
    raise AssertionError(f"{name}: the output must have shape (N, C_out, OH, OW) = {expected}")


# %% nbgrader={"grade": false, "grade_id": "conv_transpose2d", "locked": false, "schema_version": 3, "solution": true}
def conv_transpose2d(x, w, b, stride=1, padding=0, output_padding=0):
    """Transposed convolution of x (N, C_in, H, W) with w (C_in, C_out, KH, KW): (N, C_out, OH, OW)."""
    ### BEGIN SOLUTION
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    n_images, _, height, width = x.shape
    _, c_out, kh, kw = w.shape
    full_h = (height - 1) * stride + kh
    full_w = (width - 1) * stride + kw
    out_h = full_h - 2 * padding + output_padding
    out_w = full_w - 2 * padding + output_padding
    # Room for the output_padding rows beyond the full output (they get only the bias).
    full = np.zeros((n_images, c_out, full_h + output_padding, full_w + output_padding), x.dtype)
    for p in range(kh):
        for q in range(kw):
            contribution = np.einsum("nchw,co->nohw", x, w[:, :, p, q].astype(x.dtype))
            full[:, :, p : p + stride * height : stride, q : q + stride * width : stride] += (
                contribution
            )
    out = full[:, :, padding : padding + out_h, padding : padding + out_w]
    return out + b.astype(x.dtype)[:, None, None]
    ### END SOLUTION


# %%
_x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
print(conv_transpose2d(_x, np.ones((1, 1, 2, 2)), np.zeros(1), stride=2)[0, 0])

# %% nbgrader={"grade": true, "grade_id": "test_conv_transpose2d", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Part 1: conv_transpose2d, stride and padding
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    arrays_and_options,
    check_against_reference,
    check_close,
    passed,
)

rng = np.random.default_rng(801)
_x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
_ones = np.ones((1, 1, 2, 2))
_got = conv_transpose2d(_x, _ones, np.zeros(1), stride=2)
check_transpose_shape(
    _got, _x, _ones, 2, 0, 0, "conv_transpose2d(2 x 2 input, 2 x 2 ones, stride 2)"
)
check_close(
    _got,
    ref.conv_transpose2d_forward(_x, _ones, None, stride=2)[0],
    name="conv_transpose2d(2 x 2 input, 2 x 2 ones, stride 2)",
)
_overwritten = np.zeros((1, 1, 3, 3))  # each kernel copy written over the ones before it
for _p in range(2):
    for _q in range(2):
        _overwritten[0, 0, _p : _p + 2, _q : _q + 2] = _x[0, 0]
_got = conv_transpose2d(_x, _ones, np.zeros(1), stride=1)
check_transpose_shape(
    _got, _x, _ones, 1, 0, 0, "conv_transpose2d(2 x 2 input, 2 x 2 ones, stride 1)"
)
check_close(
    _got,
    ref.conv_transpose2d_forward(_x, _ones, None, stride=1)[0],
    name="conv_transpose2d(2 x 2 input, 2 x 2 ones, stride 1: the copies overlap and add)",
    common_mistakes={
        "the overlapping copies overwrite each other (use +=)": _overwritten,
    },
)
x, w, b = (
    rng.standard_normal((2, 3, 4, 5)),
    rng.standard_normal((3, 2, 3, 3)),
    rng.standard_normal(2),
)
expected = ref.conv_transpose2d_forward(x, w, b, stride=2, padding=1)[0]
got = conv_transpose2d(x, w, b, stride=2, padding=1)
check_transpose_shape(
    got, x, w, 2, 1, 0, "conv_transpose2d(x (2, 3, 4, 5), w (3, 2, 3, 3), stride 2, padding 1)"
)
check_close(
    got,
    expected,
    name="conv_transpose2d(x (2, 3, 4, 5), w (3, 2, 3, 3), stride 2, padding 1)",
    common_mistakes={
        "no bias": ref.conv_transpose2d_forward(x, w, None, stride=2, padding=1)[0],
        "the kernel flipped": ref.conv_transpose2d_forward(x, w[:, :, ::-1, ::-1], b, 2, 1)[0],
    },
)
_out32 = conv_transpose2d(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), 2, 1)
assert np.asarray(_out32).dtype == np.float32, "conv_transpose2d: float32 in, float32 out"
passed("conv_transpose2d")
### BEGIN HIDDEN TESTS
transpose_blocked = (
    ref.conv_transpose2d_forward,
    ref.conv_transpose2d_backward,
    ref.conv2d_forward,
    ref.conv2d_backward,
    ref.im2col,
    ref.col2im,
    "lapenna_labs",
    "sklearn",
    *OTHER_LIBRARIES,
)
check_against_reference(
    conv_transpose2d,
    lambda x, w, b, stride, padding: ref.conv_transpose2d_forward(x, w, b, stride, padding)[0],
    arrays_and_options(3),
    name="conv_transpose2d (hidden; shapes of x, w and b, stride, padding)",
    cases=[
        ((1, 1, 1, 1), (1, 1, 1, 1), (1,), 1, 0),
        ((3, 2, 5, 4), (2, 4, 2, 2), (4,), 2, 0),
        ((2, 3, 4, 6), (3, 2, 3, 2), (2,), 1, 1),
        ((2, 4, 3, 3), (4, 3, 5, 5), (3,), 3, 2),
    ],
    block=transpose_blocked,
    seed=802,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv_transpose2d_output_padding", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1: conv_transpose2d, output_padding
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    arrays_and_options,
    check_against_reference,
    check_close,
    passed,
)

rng = np.random.default_rng(803)
x, w, b = (
    rng.standard_normal((2, 3, 4, 4)),
    rng.standard_normal((3, 2, 3, 3)),
    rng.standard_normal(2),
)
for padding in (0, 1):
    name = f"conv_transpose2d(x (2, 3, 4, 4), w (3, 2, 3, 3), stride 2, padding {padding}, output_padding 1)"
    got = conv_transpose2d(x, w, b, stride=2, padding=padding, output_padding=1)
    check_transpose_shape(got, x, w, 2, padding, 1, name)
    check_close(got, ref.conv_transpose2d_forward(x, w, b, 2, padding, 1)[0], name=name)
passed("conv_transpose2d with output_padding")
### BEGIN HIDDEN TESTS
transpose_blocked = (
    ref.conv_transpose2d_forward,
    ref.conv_transpose2d_backward,
    ref.conv2d_forward,
    ref.conv2d_backward,
    ref.im2col,
    ref.col2im,
    "lapenna_labs",
    "sklearn",
    *OTHER_LIBRARIES,
)
check_against_reference(
    conv_transpose2d,
    lambda *arrays_and_settings: ref.conv_transpose2d_forward(*arrays_and_settings)[0],
    arrays_and_options(3),
    name="conv_transpose2d (hidden; shapes of x, w and b, stride, padding, output_padding)",
    cases=[
        ((2, 2, 3, 3), (2, 3, 2, 2), (3,), 2, 0, 1),
        ((1, 3, 4, 5), (3, 2, 3, 3), (2,), 2, 1, 1),
        ((2, 2, 3, 4), (2, 2, 4, 3), (2,), 3, 1, 2),
    ],
    block=transpose_blocked,
    seed=804,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: IoU and Dice per class, and the empty-mask rule (2.5 points)
#
# A segmentation is scored class by class. With $P_k$ the set of pixels predicted as class k and
# $T_k$ the set labelled k, pooled over **all** the images given (one count for the whole batch,
# not a mean of per-image scores),
#
# $$\text{IoU}_k = \frac{|P_k \cap T_k|}{|P_k \cup T_k|} = \frac{TP_k}{TP_k + FP_k + FN_k},
#   \qquad
#   \text{Dice}_k = \frac{2 |P_k \cap T_k|}{|P_k| + |T_k|} = \frac{2 TP_k}{2 TP_k + FP_k + FN_k}.$$
#
# **The empty-mask rule** (that of `lapenna_labs.segmentation`). A class in neither the
# prediction nor the target has 0/0 for both scores: its score is **NaN** (not 0, not 1), and
# means skip it. A class in only one of them (predicted but absent, or present but missed)
# scores **0**. The mean IoU is the mean over the classes whose IoU is not NaN. So an image of
# background predicted as background scores a mean IoU of 1, however many classes there are.
#
# * `iou_per_class(pred, target, n_classes)` and `dice_per_class(pred, target, n_classes)`:
#   `pred` and `target` integer arrays of the same shape (any shape, e.g. `(N, H, W)`) with
#   classes in `0 .. n_classes - 1`; return a float64 array of shape `(n_classes,)`, NaN for the
#   classes in neither.
# * `mean_iou(pred, target, n_classes)`: a float, the mean over the classes that occur.
#
# **Library calls.** Allowed: NumPy (`np.bincount` makes the confusion matrix in one call; the
# mean may use your `iou_per_class`). Blocked while graded: `lapenna_labs` (it has
# `segmentation.iou_per_class`, `dice_per_class`, `confusion_matrix` and `mean_iou`),
# scikit-learn (`jaccard_score`, `f1_score`, `confusion_matrix`) and the other libraries
# (torchmetrics comes through PyTorch).


# %% nbgrader={"grade": false, "grade_id": "score_checks", "locked": true, "schema_version": 3, "solution": false}
# Used by the checks of Part 2: per-class scores with NaN, and random label maps.
from lapenna_labs.grading import check_close as _check_close  # noqa: E402


def check_scores(got, expected, *, name):
    """Per-class scores: NaN exactly where the rule says, the other entries close."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{name}: return an array of floats, one score per class") from None
    assert got.shape == expected.shape, (
        f"{name}: return one score per class, shape (n_classes,) = {expected.shape}; got {got.shape}"
    )
    absent = np.isnan(expected)
    if absent.any() and not np.isnan(got[absent]).all():
        values = got[absent][~np.isnan(got[absent])]
        if np.all(values == 1):
            rule = "they scored 1"
        elif np.all(values == 0):
            rule = "they scored 0"
        else:
            rule = "they got a number"
        raise AssertionError(
            f"{name}: a class in neither the prediction nor the target must score NaN (0/0, "
            f"the empty-mask rule); {rule}"
        )
    wrongly_nan = np.isnan(got) & ~absent
    assert not wrongly_nan.any(), (
        f"{name}: {int(wrongly_nan.sum())} class(es) that occur in the prediction or the target "
        "scored NaN; only a class in neither is NaN (a class in one of them scores 0)"
    )
    _check_close(got[~absent], expected[~absent], name=name)


def random_label_maps(rng, case, dtype=None):
    """pred and target (shape) over n_classes, some classes in neither, some in one only."""
    shape, n_classes = case
    in_target = rng.permutation(n_classes)[: max(1, n_classes // 2 + 1)]
    in_pred = np.concatenate([in_target[:-1], rng.integers(0, n_classes, 1)])
    target = rng.choice(in_target, size=shape)
    pred = np.where(rng.random(shape) < 0.6, target, rng.choice(in_pred, size=shape))
    return pred.astype(np.int64), target.astype(np.int64), n_classes


# %% nbgrader={"grade": false, "grade_id": "segmentation_scores", "locked": false, "schema_version": 3, "solution": true}
def iou_per_class(pred, target, n_classes):
    """TP / (TP + FP + FN) of each class, pooled over all pixels: (n_classes,) float64, NaN if in neither."""
    ### BEGIN SOLUTION
    pred, target = np.asarray(pred).ravel(), np.asarray(target).ravel()
    confusion = np.bincount(target * n_classes + pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - tp
    with np.errstate(invalid="ignore"):
        return tp / union
    ### END SOLUTION


def dice_per_class(pred, target, n_classes):
    """2 TP / (2 TP + FP + FN) of each class, pooled over all pixels: (n_classes,) float64, NaN if in neither."""
    ### BEGIN SOLUTION
    pred, target = np.asarray(pred).ravel(), np.asarray(target).ravel()
    predicted = np.bincount(pred, minlength=n_classes).astype(np.float64)
    labelled = np.bincount(target, minlength=n_classes).astype(np.float64)
    both = np.bincount(target[pred == target], minlength=n_classes).astype(np.float64)
    with np.errstate(invalid="ignore"):
        return 2 * both / (predicted + labelled)
    ### END SOLUTION


def mean_iou(pred, target, n_classes):
    """The mean of iou_per_class over the classes in pred or target (a float)."""
    ### BEGIN SOLUTION
    scores = iou_per_class(pred, target, n_classes)
    return float(np.mean(scores[~np.isnan(scores)]))
    ### END SOLUTION


# %%
_target = np.array([[0, 0, 1], [0, 2, 2]])
_pred = np.array([[0, 1, 1], [0, 2, 0]])
print(
    iou_per_class(_pred, _target, 4), dice_per_class(_pred, _target, 4), mean_iou(_pred, _target, 4)
)

# %% nbgrader={"grade": true, "grade_id": "test_iou_dice_per_class", "locked": true, "points": 1.5, "schema_version": 3, "solution": false}
# Part 2: iou_per_class and dice_per_class
import numpy as np  # noqa: E402

from lapenna_labs import segmentation as ref_seg  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, check_against_reference, check_close, passed  # noqa: E402

_target = np.array([[0, 0, 1], [0, 2, 2]])
_pred = np.array([[0, 1, 1], [0, 2, 0]])
_iou = ref_seg.iou_per_class(_pred, _target, 4)
_dice = ref_seg.dice_per_class(_pred, _target, 4)
check_scores(iou_per_class(_pred, _target, 4), _iou, name="iou_per_class(2 x 3 example, 4 classes)")
_got = dice_per_class(_pred, _target, 4)
if np.allclose(np.asarray(_got, dtype=float)[:3], _iou[:3]):
    raise AssertionError(
        "dice_per_class(2 x 3 example): that is the IoU; Dice counts the intersection twice"
    )
check_scores(_got, _dice, name="dice_per_class(2 x 3 example, 4 classes)")
_all_background = np.zeros((2, 4, 4), np.int64)
check_scores(
    iou_per_class(_all_background, _all_background, 11),
    ref_seg.iou_per_class(_all_background, _all_background, 11),
    name="iou_per_class(all background predicted as background, 11 classes)",
)
_missed = np.array([[0, 0], [0, 0]])
check_scores(
    iou_per_class(_missed, np.array([[0, 3], [0, 0]]), 5),
    ref_seg.iou_per_class(_missed, np.array([[0, 3], [0, 0]]), 5),
    name="iou_per_class(a digit missed: empty prediction for its class)",
)
_rng = np.random.default_rng(811)
_p, _t, _k = random_label_maps(_rng, ((3, 6, 7), 6))
check_scores(
    iou_per_class(_p, _t, _k),
    ref_seg.iou_per_class(_p, _t, _k),
    name="iou_per_class(3 random 6 x 7 maps, 6 classes)",
)
check_scores(
    dice_per_class(_p, _t, _k),
    ref_seg.dice_per_class(_p, _t, _k),
    name="dice_per_class(3 random 6 x 7 maps, 6 classes)",
)
passed("iou_per_class, dice_per_class")
### BEGIN HIDDEN TESTS
scores_blocked = (
    ref_seg.iou_per_class,
    ref_seg.dice_per_class,
    ref_seg.confusion_matrix,
    ref_seg.mean_iou,
    ref_seg.mean_dice,
    "lapenna_labs",
    "sklearn",
    *OTHER_LIBRARIES,
)
for answer, reference in (
    (iou_per_class, ref_seg.iou_per_class),
    (dice_per_class, ref_seg.dice_per_class),
):
    check_against_reference(
        answer,
        reference,
        random_label_maps,
        name=f"{answer.__name__} (hidden; shape, n_classes)",
        cases=[((5,), 3), ((2, 9, 8), 11), ((4, 5, 5), 7), ((1, 12, 10), 2)],
        dtypes=(None,),
        block=scores_blocked,
        compare=check_scores,
        seed=812,
    )
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_mean_iou", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 2: mean_iou
import numpy as np  # noqa: E402

from lapenna_labs import segmentation as ref_seg  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, check_against_reference, check_close, passed  # noqa: E402


def mean_iou_mistakes(pred, target, n_classes):
    """The classic wrong means, named for the feedback."""
    scores = ref_seg.iou_per_class(pred, target, n_classes)
    per_image = [ref_seg.mean_iou(p, t, n_classes) for p, t in zip(pred, target, strict=True)]
    return {
        "the mean over all n_classes (classes in neither mask counted as 0)": float(
            np.nansum(scores) / n_classes
        ),
        "classes in neither mask counted as 1": float(
            np.mean(np.where(np.isnan(scores), 1.0, scores))
        ),
        "the mean of per-image mean IoUs (pool the pixels of all images instead)": float(
            np.mean(per_image)
        ),
    }


_rng = np.random.default_rng(821)
for _case in (((4, 6, 6), 11), ((3, 5, 8), 5)):
    _p, _t, _k = random_label_maps(_rng, _case)
    _got = mean_iou(_p, _t, _k)
    assert np.ndim(_got) == 0, "mean_iou must return one number"
    check_close(
        float(_got),
        ref_seg.mean_iou(_p, _t, _k),
        name=f"mean_iou({_case[0][0]} random maps, {_k} classes)",
        common_mistakes=mean_iou_mistakes(_p, _t, _k),
    )
_all_background = np.zeros((2, 4, 4), np.int64)
check_close(
    float(mean_iou(_all_background, _all_background, 11)),
    1.0,
    name="mean_iou(all background predicted as background, 11 classes)",
)
passed("mean_iou")
### BEGIN HIDDEN TESTS
scores_blocked = (
    ref_seg.iou_per_class,
    ref_seg.dice_per_class,
    ref_seg.confusion_matrix,
    ref_seg.mean_iou,
    ref_seg.mean_dice,
    "lapenna_labs",
    "sklearn",
    *OTHER_LIBRARIES,
)
check_against_reference(
    mean_iou,
    ref_seg.mean_iou,
    random_label_maps,
    name="mean_iou (hidden; shape, n_classes)",
    cases=[((3, 7, 7), 11), ((2, 9, 4), 4), ((6,), 3)],
    dtypes=(None,),
    view=float,
    block=scores_blocked,
    graded_elsewhere=(iou_per_class, dice_per_class),
    seed=822,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part3_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 3: the U-Net's shape algebra (1.5 points)
#
# The paper's U-Net (Ronneberger et al. 2015, Fig. 1) uses *unpadded* ("valid") 3x3
# convolutions, so each one trims a pixel from every side. With depth D:
#
# * **down**, at levels 0 .. D-1: two 3x3 convolutions (-4 px), then a 2x2 max pool of stride 2,
#   which halves the size and needs an **even** size (else the skip connection's crop would not
#   be centred);
# * the **bottleneck**: two more 3x3 convolutions (-4 px);
# * **up**, D times: a 2x2 transposed convolution of stride 2 (x2), the skip connection cropped
#   to that size and concatenated, two 3x3 convolutions (-4 px).
#
# Every map must keep at least one pixel. The paper's 572 x 572 tile (D = 4) gives 388 x 388.
#
# * `unet_output_size(input_size, depth)`: the output size of a depth-`depth` "valid" U-Net
#   for an input of that height (or width), or `None` if the input is not accepted (a map is
#   odd before a pool, or some map has no pixel left).
# * `accepted_input_sizes(depth, low, high)`: the accepted input sizes from `low` to `high`
#   inclusive, increasing.
#
# **Library calls.** Allowed: Python and NumPy (you may use your `unet_output_size` in
# `accepted_input_sizes`). Blocked while graded: `lapenna_labs` (it has
# `unet.unet_output_size` and `unet.unet_valid_input_sizes`), scikit-learn and the other
# libraries (PyTorch: no building the network to read its output's shape).


# %% nbgrader={"grade": false, "grade_id": "unet_sizes", "locked": false, "schema_version": 3, "solution": true}
def unet_output_size(input_size, depth):
    """Output size of a 'valid' U-Net of this depth for this input size, or None if not accepted."""
    ### BEGIN SOLUTION
    size = input_size
    for _ in range(depth):
        size -= 4
        if size < 1 or size % 2:
            return None
        size //= 2
    size -= 4
    if size < 1:
        return None
    for _ in range(depth):
        size = 2 * size - 4
        if size < 1:
            return None
    return size
    ### END SOLUTION


def accepted_input_sizes(depth, low, high):
    """The input sizes in [low, high] that a 'valid' U-Net of this depth accepts, increasing."""
    ### BEGIN SOLUTION
    return [s for s in range(low, high + 1) if unet_output_size(s, depth) is not None]
    ### END SOLUTION


# %%
print(unet_output_size(572, 4), unet_output_size(570, 4), accepted_input_sizes(4, 540, 600))

# %% nbgrader={"grade": true, "grade_id": "test_unet_output_size", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 3: unet_output_size
import numpy as np  # noqa: E402

from lapenna_labs import unet as ref_unet  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, check_against_reference, passed  # noqa: E402


def reference_output_size(input_size, depth):
    try:
        return ref_unet.unet_output_size(input_size, depth, "valid")
    except ValueError:
        return None


def check_size(got, expected, *, name):
    if expected is None:
        assert got is None, f"{name}: this input is not accepted: return None"
        return
    assert got is not None, f"{name}: this input is accepted: return its output size"
    assert isinstance(got, (int, np.integer)), f"{name}: return an int, got {type(got).__name__}"
    if got == expected + 8 or got == expected + 4:
        raise AssertionError(f"{name}: too large: are the bottleneck's two convolutions missing?")
    assert got != expected - 1 and got != expected + 1, f"{name}: off by one pixel"
    assert got == expected, f"{name}: wrong size"


check_size(unet_output_size(572, 4), 388, name="unet_output_size(572, depth 4): the paper's tile")
for _size, _depth in ((570, 4), (573, 4), (44, 2), (43, 2), (12, 1), (28, 1), (8, 2), (140, 3)):
    check_size(
        unet_output_size(_size, _depth),
        reference_output_size(_size, _depth),
        name=f"unet_output_size({_size}, depth {_depth})",
    )
passed("unet_output_size")
### BEGIN HIDDEN TESTS
sizes_blocked = (
    ref_unet.unet_output_size,
    ref_unet.unet_valid_input_sizes,
    ref_unet.unet_shapes,
    ref_unet.make_unet,
    "lapenna_labs",
    "sklearn",
    *OTHER_LIBRARIES,
)
_rng = np.random.default_rng(831)
check_against_reference(
    unet_output_size,
    reference_output_size,
    lambda rng, case, dtype: case,
    name="unet_output_size (hidden; input size, depth)",
    cases=[(int(_rng.integers(1, 700)), int(_rng.integers(1, 6))) for _ in range(60)]
    + [
        (s, d)
        for d in (1, 2, 3, 5)
        for s in ref_unet.unet_valid_input_sizes(d, "valid", 1, 400)[:3]
    ],
    dtypes=(None,),
    block=sizes_blocked,
    compare=check_size,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_accepted_input_sizes", "locked": true, "points": 0.5, "schema_version": 3, "solution": false}
# Part 3: accepted_input_sizes
from lapenna_labs import unet as ref_unet  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, check_against_reference, passed  # noqa: E402


def check_sizes(got, expected, *, name):
    try:
        got = [int(s) for s in got]
    except (TypeError, ValueError):
        raise AssertionError(f"{name}: return a list of int sizes") from None
    missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    assert not extra, (
        f"{name}: {len(extra)} size(s) listed that the U-Net does not accept, e.g. {extra[0]}"
    )
    assert not missing, f"{name}: {len(missing)} accepted size(s) missing"
    assert got == expected, f"{name}: list each size once, increasing"


check_sizes(
    accepted_input_sizes(4, 540, 600),
    ref_unet.unet_valid_input_sizes(4, "valid", 540, 600),
    name="accepted_input_sizes(depth 4, 540 to 600)",
)
check_sizes(
    accepted_input_sizes(2, 1, 60),
    ref_unet.unet_valid_input_sizes(2, "valid", 1, 60),
    name="accepted_input_sizes(depth 2, 1 to 60)",
)
passed("accepted_input_sizes")
### BEGIN HIDDEN TESTS
sizes_blocked = (
    ref_unet.unet_output_size,
    ref_unet.unet_valid_input_sizes,
    ref_unet.unet_shapes,
    ref_unet.make_unet,
    "lapenna_labs",
    "sklearn",
    *OTHER_LIBRARIES,
)
check_against_reference(
    accepted_input_sizes,
    lambda depth, low, high: ref_unet.unet_valid_input_sizes(depth, "valid", low, high),
    lambda rng, case, dtype: case,
    name="accepted_input_sizes (hidden; depth, low, high)",
    cases=[(1, 1, 50), (3, 100, 300), (5, 1, 1000), (4, 573, 587)],
    dtypes=(None,),
    block=sizes_blocked,
    graded_elsewhere=(unet_output_size,),
    compare=check_sizes,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part4_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 4: a small U-Net in PyTorch, trained to a stated IoU (3 points)
#
# Now the network itself, with zero-padded ("same") 3x3 convolutions so that the logits have the
# image's size. Each "conv3x3" below is a `Conv2d` with kernel 3 and padding 1, then a
# `BatchNorm2d`, then a ReLU (batch normalization, Week 6, makes this small network learn the
# digits' classes in far fewer epochs). `SmallUNet(n_classes, width=8)` is a depth-2 U-Net:
#
# ```
# x (N, 1, H, W)
#   level 0:  conv3x3(1 -> w), conv3x3(w -> w)  ------------------------------- skip0
#   max pool 2x2 -> level 1: conv3x3(w -> 2w), conv3x3(2w -> 2w)  ------------- skip1
#   max pool 2x2 -> bottleneck: conv3x3(2w -> 4w), conv3x3(4w -> 4w)
#   up: ConvTranspose2d(4w -> 2w, 2, stride 2), concatenate [skip1, up], conv3x3(4w -> 2w), conv3x3(2w -> 2w)
#   up: ConvTranspose2d(2w -> w, 2, stride 2),  concatenate [skip0, up], conv3x3(2w -> w), conv3x3(w -> w)
#   head: Conv2d 1x1 (w -> n_classes), no normalization, no ReLU  -> logits (N, n_classes, H, W)
# ```
#
# for H and W divisible by 4. Then
#
# * `train_segmenter(model, images, masks, epochs, batch_size, lr, seed, device)`: moves the
#   model to `device`, and trains it with Adam (`lr`) on the pixel cross-entropy
#   (`torch.nn.functional.cross_entropy` of the `(N, K, H, W)` logits and the `(N, H, W)`
#   masks), for `epochs` passes over the images (NumPy float32 `(N, 1, H, W)`) and masks (NumPy
#   int64 `(N, H, W)`) in batches of `batch_size`, shuffled by a `numpy` generator seeded with
#   `seed` (call `torch.manual_seed(seed)` too). It returns the list of the epochs' mean losses.
# * `predict_segmentation(model, images, device)`: the model in eval mode, without gradients,
#   on `device`; returns the `argmax` over the classes as a NumPy int64 array `(N, H, W)`.
#
# **The targets.** In Colab with a GPU (`DEVICE == "cuda"`), the task is the full one: the 11
# classes (background and the ten digits), 20 epochs of 4,000 training scenes, and the **mean
# IoU on 500 test scenes must reach 0.70**. Our solution reached 0.90 and 0.87 (seeds 0 and 1;
# the same training took 100 to 135 s on one core of a CPU). On a CPU (and in grading), the task is smaller so that it
# trains in seconds: **digit ink against background** (2 classes), 3 epochs of 600 scenes, and
# the **mean IoU must reach 0.90** (our solution: 0.97 for seeds 0, 1 and 2, in 2 to 6 s).
# The graded run trains a fresh `SmallUNet` with another seed.
#
# **Library calls.** Allowed: NumPy and PyTorch (`torch.nn`, `torch.nn.functional`,
# `torch.optim`; `torch.nn.ConvTranspose2d` is allowed here). Blocked while graded:
# `lapenna_labs` (it has `unet.make_unet`, `unet.train_unet`, `unet.predict_masks`),
# scikit-learn, SciPy, TensorFlow, Keras and JAX.

# %% nbgrader={"grade": false, "grade_id": "segmentation_data", "locked": true, "schema_version": 3, "solution": false}
import torch  # noqa: E402

from lapenna_labs.data import SEGMENTATION_CLASSES, make_digit_segmentation  # noqa: E402

TASK_DEVICE = DEVICE  # noqa: F821 (defined by the device cell at the top)
ON_GPU = TASK_DEVICE == "cuda"
if GRADING:
    # The grader runs several notebooks at once on 2 cores: two threads per kernel would
    # oversubscribe them and train several times slower.
    torch.set_num_threads(1)
if ON_GPU:  # the full task: 11 classes
    TASK_CLASSES, TRAIN_SCENES, TASK_EPOCHS, TARGET_IOU = SEGMENTATION_CLASSES, 4000, 20, 0.70
else:  # the CPU task: ink (1) against background (0)
    TASK_CLASSES, TRAIN_SCENES, TASK_EPOCHS, TARGET_IOU = 2, 600, 3, 0.90
CANVAS = 32
_train = make_digit_segmentation(TRAIN_SCENES, canvas_size=CANVAS, split="train", seed=0)
_test = make_digit_segmentation(500, canvas_size=CANVAS, split="test", seed=1)
train_images, test_images = _train.images, _test.images
if TASK_CLASSES == 2:
    train_masks, test_masks = (
        (_train.masks > 0).astype(np.int64),
        (_test.masks > 0).astype(np.int64),
    )
else:
    train_masks, test_masks = _train.masks, _test.masks
print(
    f"{TASK_CLASSES} classes on {TASK_DEVICE}: train {train_images.shape}, test {test_images.shape}"
)


# %% nbgrader={"grade": false, "grade_id": "small_unet", "locked": false, "schema_version": 3, "solution": true}
class SmallUNet(torch.nn.Module):
    """Depth-2 'same' U-Net: (N, 1, H, W) images to (N, n_classes, H, W) logits."""

    def __init__(self, n_classes, width=8):
        super().__init__()
        ### BEGIN SOLUTION
        nn = torch.nn

        def double_conv(c_in, c_out):
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, 3, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            )

        self.down0 = double_conv(1, width)
        self.down1 = double_conv(width, 2 * width)
        self.bottleneck = double_conv(2 * width, 4 * width)
        self.up1 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.up_conv1 = double_conv(4 * width, 2 * width)
        self.up0 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.up_conv0 = double_conv(2 * width, width)
        self.head = nn.Conv2d(width, n_classes, 1)
        ### END SOLUTION

    def forward(self, x):
        ### BEGIN SOLUTION
        F = torch.nn.functional
        skip0 = self.down0(x)
        skip1 = self.down1(F.max_pool2d(skip0, 2))
        x = self.bottleneck(F.max_pool2d(skip1, 2))
        x = self.up_conv1(torch.cat([skip1, self.up1(x)], dim=1))
        x = self.up_conv0(torch.cat([skip0, self.up0(x)], dim=1))
        return self.head(x)
        ### END SOLUTION


def train_segmenter(model, images, masks, epochs=3, batch_size=16, lr=3e-3, seed=0, device="cpu"):
    """Adam on the pixel cross-entropy; returns the list of the epochs' mean losses."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model.to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    x_all, y_all = torch.from_numpy(np.asarray(images)), torch.from_numpy(np.asarray(masks))
    losses = []
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(x_all)))
        total = 0.0
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            xb, yb = x_all[index].to(device), y_all[index].to(device)
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        losses.append(total / len(order))
    return losses
    ### END SOLUTION


def predict_segmentation(model, images, device="cpu"):
    """argmax over classes of the model's logits: NumPy int64 (N, H, W)."""
    ### BEGIN SOLUTION
    model.to(device)
    model.eval()
    parts = []
    with torch.no_grad():
        x_all = torch.from_numpy(np.asarray(images))
        for start in range(0, len(x_all), 256):
            logits = model(x_all[start : start + 256].to(device))
            parts.append(logits.argmax(dim=1).cpu().numpy())
    return np.concatenate(parts).astype(np.int64)
    ### END SOLUTION


# %%
start = time.perf_counter()
torch.manual_seed(0)  # the initial weights
segmenter = SmallUNet(TASK_CLASSES)
segmenter_losses = train_segmenter(
    segmenter,
    train_images,
    train_masks,
    epochs=TASK_EPOCHS,
    seed=0,
    device=TASK_DEVICE,
)
segmenter_seconds = time.perf_counter() - start
segmenter_iou = mean_iou(
    predict_segmentation(segmenter, test_images, TASK_DEVICE), test_masks, TASK_CLASSES
)
print(
    f"trained in {segmenter_seconds:.1f} s; losses {np.round(segmenter_losses, 3)}; test mean IoU {segmenter_iou:.3f}"
)

# %% nbgrader={"grade": true, "grade_id": "test_small_unet", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 4: SmallUNet's shapes and layers
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lapenna_labs import unet as ref_unet  # noqa: E402
from lapenna_labs.grading import call_blocked, passed  # noqa: E402

_model = SmallUNet(3)
assert isinstance(_model, torch.nn.Module), "SmallUNet must be a torch.nn.Module"
for _shape in ((2, 1, 32, 32), (1, 1, 48, 16)):
    with torch.no_grad():
        _out = _model(torch.zeros(_shape))
    _expected = (_shape[0], 3, *_shape[2:])
    assert tuple(_out.shape) == _expected, (
        f"SmallUNet(3) on {_shape}: the logits must have shape (N, n_classes, H, W) = {_expected}, "
        f"got {tuple(_out.shape)} (zero padding 1 on every 3x3 convolution keeps the size)"
    )
_ups = [m for m in _model.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
assert len(_ups) == 2, f"SmallUNet: two ConvTranspose2d up-convolutions, found {len(_ups)}"
assert all(tuple(m.stride) == (2, 2) for m in _ups), "SmallUNet: the up-convolutions have stride 2"
_convs = [m for m in _model.modules() if isinstance(m, torch.nn.Conv2d)]
assert len(_convs) == 11, (
    f"SmallUNet: 11 Conv2d (two per level, two in the bottleneck, two per up level, the 1x1 head), "
    f"found {len(_convs)}"
)
# In order: down 0, down 1, bottleneck, up 1 (skip + up-convolution: 2w + 2w), up 0 (w + w), head.
_in_channels = [1, 8, 8, 16, 16, 32, 32, 16, 16, 8, 8]
assert sorted(m.in_channels for m in _convs) == sorted(_in_channels), (
    "SmallUNet: the convolutions' input channels do not follow the figure; the first "
    "convolution of each up level takes the skip and the up-convolution's output, "
    "concatenated (4w and 2w channels for width w)"
)
_p = predict_segmentation(_model, np.zeros((3, 1, 16, 16), np.float32), "cpu")
assert isinstance(_p, np.ndarray) and _p.shape == (3, 16, 16), (
    "predict_segmentation must return a NumPy array (N, H, W)"
)
assert _p.dtype == np.int64, "predict_segmentation: the labels are int64"
passed("SmallUNet, predict_segmentation")
### BEGIN HIDDEN TESTS
_graded = call_blocked(
    SmallUNet, 5, width=4, block=("lapenna_labs", "sklearn", "scipy", "tensorflow", "keras", "jax")
)
assert not isinstance(_graded, ref_unet._unet_class()), (
    "SmallUNet: write the network yourself (hidden)"
)
with torch.no_grad():
    _out = _graded(torch.zeros(2, 1, 24, 40))
assert tuple(_out.shape) == (2, 5, 24, 40), "SmallUNet(5, width=4): wrong logits' shape (hidden)"
_convs = [m for m in _graded.modules() if isinstance(m, torch.nn.Conv2d)]
assert sorted(m.out_channels for m in _convs) == [4, 4, 4, 4, 5, 8, 8, 8, 8, 16, 16], (
    "SmallUNet(5, width=4): the channels do not follow the figure (hidden)"
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_train_segmenter", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Part 4: train_segmenter reaches the target IoU
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lapenna_labs import segmentation as ref_seg  # noqa: E402
from lapenna_labs import unet as ref_unet  # noqa: E402
from lapenna_labs.data import make_digit_segmentation  # noqa: E402
from lapenna_labs.grading import call_blocked, passed  # noqa: E402

assert isinstance(segmenter_losses, list) and len(segmenter_losses) == TASK_EPOCHS, (
    "train_segmenter must return a list with one mean loss per epoch"
)
assert all(np.isfinite(segmenter_losses)), "train_segmenter: a loss is NaN or infinite"
assert segmenter_losses[-1] < segmenter_losses[0], "train_segmenter: the loss did not go down"
_iou = ref_seg.mean_iou(
    predict_segmentation(segmenter, test_images, TASK_DEVICE), test_masks, TASK_CLASSES
)
assert _iou >= TARGET_IOU, (
    f"the test mean IoU {_iou:.3f} is below the target {TARGET_IOU}: check the loss (logits "
    "(N, K, H, W) against masks (N, H, W)), the learning rate and the shuffling"
)
passed("train_segmenter")
### BEGIN HIDDEN TESTS
training_blocked = (
    ref_unet.make_unet,
    ref_unet.train_unet,
    ref_unet.predict_masks,
    "lapenna_labs",
    "sklearn",
    "scipy",
    "tensorflow",
    "keras",
    "jax",
)
# Fresh data: an answer cell could have changed the notebook's train_images.
_train = make_digit_segmentation(600, canvas_size=32, split="train", seed=2)
_test = make_digit_segmentation(300, canvas_size=32, split="test", seed=3)
torch.manual_seed(1)  # fresh initial weights
_graded = call_blocked(SmallUNet, 2, block=training_blocked)
_losses = call_blocked(
    train_segmenter,
    _graded,
    _train.images,
    (_train.masks > 0).astype(np.int64),
    epochs=3,
    seed=1,
    device="cpu",
    block=training_blocked,
    graded_elsewhere=(SmallUNet,),
)
assert len(_losses) == 3, "train_segmenter: one loss per epoch (hidden)"
_pred = call_blocked(
    predict_segmentation,
    _graded,
    _test.images,
    "cpu",
    block=training_blocked,
    graded_elsewhere=(SmallUNet,),
)
_binary = (_test.masks > 0).astype(np.int64)
assert ref_seg.mean_iou(_pred, _binary, 2) >= 0.90, (
    "train_segmenter (seed 1, ink against background) misses the target IoU 0.90 (hidden)"
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "wrapup", "locked": true, "schema_version": 3, "solution": false}
# ## What you built
#
# The transposed convolution is the convolution's adjoint, $T^\top$: the same kernel, scattered
# instead of gathered, which is why a U-Net can learn its own upsampling (and why a stride that
# does not divide the kernel leaves the checkerboard pattern of uneven overlaps). IoU and Dice
# count pixels class by class; the rule for classes that do not occur decides what a mean
# means, and pooling the pixels of all images is not the mean of per-image scores. The "valid"
# U-Net trims 4 px per pair of convolutions, so its output is $s - 12 \cdot 2^D + 8$ px for an
# input of $s$ and only one input size in $2^D$ is accepted: that is why the paper predicts a
# 388 px tile from a 572 px one and tiles large images with overlap. Your U-Net's skip
# connections carry the fine detail that the pooled path loses.
