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
# # Lab 9: boxes, suppression, average precision, and the distance to an obstacle
#
# Week 9 of LAPENNA. A detector's output is a pile of scored boxes; everything around the network
# is linear algebra and careful bookkeeping. In this lab you write that bookkeeping: the IoU
# matrix of two sets of boxes, greedy non-maximum suppression, Faster R-CNN's box encoding and its
# inverse, and COCO's average precision. Then you put the detector on a model car: the pinhole
# camera $P = K[R \mid t]$ that maps the road to pixels, the distance ahead read off a box's bottom
# edge, and a timer that reports the detector's frames per second correctly, on a CPU and on a
# GPU.
#
# | part | what you write | points |
# |---|---|---|
# | 1 | `box_iou`: the N x M IoU matrix of two sets of xyxy boxes | 1.5 |
# | 2 | `nms`: greedy non-maximum suppression, kept indices in decreasing score | 1.5 |
# | 3 | `encode_boxes` and `decode_boxes`: Faster R-CNN's offsets and their inverse | 1.5 |
# | 4 | `average_precision`: COCO's 101-point interpolated AP of a ranked list | 1.5 |
# | 5 | `camera_pose` and `project_points` (the pinhole camera), and `distance_from_box` | 2 |
# | 6 | `frames_per_second`: warm-up, repeats, median, and GPU synchronisation | 2 |
# | | **total** | **10** |
#
# Expect two hours. Everything runs on a CPU in seconds; with a GPU (Colab) the last part also
# times the detector on it.
#
# **Conventions** (those of torchvision, COCO's code and `lapenna_labs.detection`): a box is a row
# `(x1, y1, x2, y2)` (*xyxy*) in continuous pixel coordinates, $x$ to the right and $y$ **down**;
# its width is `x2 - x1` and its height `y2 - y1` (no `+ 1`: that was the old VOC code's pixel
# count). A set of N boxes is an array of shape `(N, 4)`. Keep the dtype you are given: float32
# in, float32 out.

# %% [markdown] nbgrader={"grade": false, "grade_id": "how_graded", "locked": true, "schema_version": 3, "solution": false}
# **How this lab is graded.** Cells marked *answer* are yours; the cells after them check your work.
# Visible checks run now and tell you what is wrong (never what the right values are); each
# prints "...: the visible checks pass." when yours pass. Hidden checks run only when the
# instructor grades, on fresh random boxes (float32 and float64), score lists, cameras and
# timings, so make your functions work for any input the docstring allows. Do not rename the
# functions or change their arguments. A cell that runs longer than a minute is stopped.
#
# **Library calls.** Each part says which libraries its answer may call. While the hidden checks
# run your function, the others are *blocked*, under any name you imported them by: the course's
# own `lapenna_labs` (it has every answer of this lab: `detection.box_iou`, `detection.nms`,
# `detection.encode_boxes`, `detection.average_precision`, `camera.distance_from_box`,
# `camera.measure_fps`...), the detection libraries (`torchvision.ops.box_iou` and
# `torchvision.ops.nms`, `tf.image.non_max_suppression`, `pycocotools`, scikit-learn's
# `sklearn.metrics.average_precision_score`) and the other libraries (SciPy, PyTorch,
# TensorFlow, Keras, JAX), except where a part allows one (Part 6 may call PyTorch). A call of a
# blocked function scores zero **for that part only**: it is charged to the function that made
# it. A later part that uses one of your earlier functions (Part 2 may use your `box_iou`) is not
# charged for what that function calls, only for its own calls.
#
# **The grader has no GPU.** Part 6's GPU path is graded on a simulated GPU that behaves like CUDA
# (work is only queued, and the clock sees it finish only after a synchronisation), so your timer
# must really *call* the synchronisation, not mention it.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import os
import time

import numpy as np

np.set_printoptions(precision=4, suppress=True)
GRADING = bool(os.environ.get("LAPENNA_GRADING"))

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: the IoU matrix (1.5 points)
#
# The intersection of two boxes $a$ and $b$ is again a box, or empty:
#
# $$|a \cap b| = \big[\min(x_2^a, x_2^b) - \max(x_1^a, x_1^b)\big]_+ \,
#   \big[\min(y_2^a, y_2^b) - \max(y_1^a, y_1^b)\big]_+, \qquad [z]_+ = \max(z, 0),$$
#
# and $\operatorname{IoU}(a, b) = |a \cap b| \,/\, (|a| + |b| - |a \cap b|)$. Both clamps matter:
# for two boxes apart in $x$ *and* in $y$, both differences are negative and their product is
# positive.
#
# Write `box_iou(boxes1, boxes2)`: `boxes1` has shape `(N, 4)`, `boxes2` shape `(M, 4)`, and the
# result is the `(N, M)` matrix with `iou[i, j]` = IoU of `boxes1[i]` and `boxes2[j]`, in the
# inputs' dtype. Compute all N·M pairs at once by broadcasting the `(N, 1, 2)` corners against the
# `(1, M, 2)` corners (no Python loop). Where the union is 0 (two boxes of zero area), the IoU is
# 0, not NaN.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# `detection.box_iou`), `torchvision.ops.box_iou`, `pycocotools.mask.iou`, scikit-learn and the
# other libraries.


# %% nbgrader={"grade": false, "grade_id": "box_iou", "locked": false, "schema_version": 3, "solution": true}
def box_iou(boxes1, boxes2):
    """IoU of every xyxy box of boxes1 (N, 4) with every box of boxes2 (M, 4): shape (N, M)."""
    ### BEGIN SOLUTION
    boxes1, boxes2 = np.asarray(boxes1), np.asarray(boxes2)
    top_left = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    bottom_right = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    union = area1[:, None] + area2[None, :] - inter
    iou = np.zeros_like(inter)
    np.divide(inter, union, out=iou, where=union > 0)
    return iou
    ### END SOLUTION


# %%
print(box_iou([[0.0, 0.0, 2.0, 2.0]], [[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0]]))

# %% nbgrader={"grade": true, "grade_id": "test_box_iou", "locked": true, "points": 1.5, "schema_version": 3, "solution": false}
# Part 1: box_iou
import numpy as np  # noqa: E402

from lapenna_labs import detection as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)


def _iou_variant(a, b, clamp=True, plus_one=0.0, subtract=True):
    """The IoU matrix computed with one of the classic mistakes (for the messages)."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = br - tl + plus_one
    wh = np.clip(wh, 0, None) if clamp else wh
    inter = wh[..., 0] * wh[..., 1]
    area_a = np.prod(a[:, 2:] - a[:, :2] + plus_one, axis=1)[:, None]
    area_b = np.prod(b[:, 2:] - b[:, :2] + plus_one, axis=1)[None, :]
    return inter / (area_a + area_b - (inter if subtract else 0))


# The chapter's three objects and four predictions (prediction 3 is apart in x and in y).
truth = np.array([[4.0, 6, 24, 30], [30, 8, 58, 40], [14, 40, 34, 60]])
predicted = np.array([[6.0, 8, 26, 30], [28, 10, 56, 38], [32, 6, 60, 44], [40, 44, 60, 62]])
expected = ref.box_iou(truth, predicted)
got = box_iou(truth, predicted)
assert np.shape(got) == (3, 4), (
    f"box_iou(3 boxes, 4 boxes) must have shape (N, M) = (3, 4), got {np.shape(got)}"
)
check_close(
    got,
    expected,
    name="box_iou(the chapter's 3 truths, 4 predictions)",
    common_mistakes={
        "no clamp at 0: two boxes apart in x and in y get a positive 'intersection' "
        "(clip both differences at 0)": _iou_variant(truth, predicted, clamp=False),
        "the old VOC '+ 1' pixel count (widths here are x2 - x1)": _iou_variant(
            truth, predicted, plus_one=1.0
        ),
        "the union counts the intersection twice (|a| + |b| - |a n b|)": _iou_variant(
            truth, predicted, subtract=False
        ),
    },
)
_empty = box_iou(np.array([[1.0, 1, 1, 1], [0, 0, 2, 2]]), np.array([[1.0, 1, 1, 1]]))
assert np.shape(_empty) == (2, 1) and np.all(np.isfinite(_empty)), (
    "box_iou: two boxes of zero area have union 0; their IoU is 0, not NaN"
)
check_close(_empty, np.zeros((2, 1)), name="box_iou of zero-area boxes")
_got32 = box_iou(truth.astype(np.float32), predicted.astype(np.float32))
assert np.asarray(_got32).dtype == np.float32, "box_iou: float32 in, float32 out"
passed("box_iou")
### BEGIN HIDDEN TESTS
DETECTION_LIBRARIES = ("torchvision", "pycocotools", "sklearn", "cv2")


def _random_box_pair(rng, case, dtype):
    """Two sets of boxes: random ones, copies, disjoint ones and some of zero width or height."""
    n, m = case
    sets = []
    for count in (n, m):
        corner = rng.uniform(0, 40, size=(count, 2))
        size = rng.uniform(0, 25, size=(count, 2))
        size[rng.random((count, 2)) < 0.1] = 0.0
        sets.append(np.concatenate([corner, corner + size], axis=1))
    copies = (rng.random(m) < 0.3) & (n > 0)
    sets[1][copies] = sets[0][rng.integers(0, max(n, 1), size=int(copies.sum()))]
    return tuple(s.astype(dtype) for s in sets)


check_against_reference(
    box_iou,
    ref.box_iou,
    _random_box_pair,
    name="box_iou (hidden; N, M)",
    cases=[(1, 1), (6, 9), (17, 4), (0, 3)],
    block=(ref.box_iou, ref.box_area, "lapenna_labs", *DETECTION_LIBRARIES, *OTHER_LIBRARIES),
    seed=901,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: greedy non-maximum suppression (1.5 points)
#
# A detector finds each object several times: neighbouring cells see the same digit. Greedy NMS
# keeps the best box, deletes every remaining box that overlaps it by more than a threshold, and
# repeats on what is left:
#
# 1. order the boxes by decreasing score; **equal scores keep their input order** (lower index
#    first: a *stable* sort, `np.argsort(-scores, kind="stable")`);
# 2. walk down that order: keep a box unless it was suppressed; when you keep box $i$, suppress
#    every later box $j$ with $\operatorname{IoU}(i, j) > t$, **strictly** greater (as
#    torchvision and TensorFlow do). Only *kept* boxes suppress: a suppressed box removes nothing.
#
# Write `nms(boxes, scores, iou_threshold)`: `boxes` `(N, 4)` xyxy, `scores` `(N,)`, the threshold
# $t \in [0, 1]$; return the indices of the kept boxes, **in decreasing score order** (as
# `torchvision.ops.nms`), as an int64 array of shape `(K,)`.
#
# **Library calls.** Allowed: NumPy, and your `box_iou`. Blocked while graded: `lapenna_labs` (it
# has `detection.nms` and `detection.batched_nms`), `torchvision.ops.nms`,
# `tf.image.non_max_suppression` and the other libraries.


# %% nbgrader={"grade": false, "grade_id": "nms", "locked": false, "schema_version": 3, "solution": true}
def nms(boxes, scores, iou_threshold):
    """Indices (K,) int64 of the boxes kept by greedy NMS, in decreasing score order."""
    ### BEGIN SOLUTION
    boxes, scores = np.asarray(boxes), np.asarray(scores)
    order = np.argsort(-scores, kind="stable")
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for rank, i in enumerate(order):
        if suppressed[rank]:
            continue
        keep.append(i)
        overlap = box_iou(boxes[i : i + 1], boxes[order[rank + 1 :]])[0]
        suppressed[rank + 1 :] |= overlap > iou_threshold
    return np.asarray(keep, dtype=np.int64)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_nms", "locked": true, "points": 1.5, "schema_version": 3, "solution": false}
# Part 2: nms
import numpy as np  # noqa: E402

from lapenna_labs import detection as ref  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, call_blocked, passed  # noqa: E402


def _check_kept(got, expected, name, mistakes=()):
    """Compare two lists of kept indices; name a known mistake, never the expected list."""
    got_list = np.asarray(got).tolist() if got is not None else None
    assert got_list is not None, f"{name}: returned None; return the kept indices"
    if got_list == list(expected):
        return
    for description, wrong in mistakes:
        if got_list == list(wrong):
            raise AssertionError(f"{name}: {description}")
    if sorted(got_list) == sorted(expected):
        raise AssertionError(f"{name}: the right boxes, in the wrong order (decreasing score)")
    raise AssertionError(
        f"{name}: wrong boxes kept ({len(got_list)} returned, "
        f"{len(set(got_list) ^ set(expected))} differ from the right set)"
    )


# The chapter's seven boxes around four objects (boxes 3 and 4 are two neighbours, IoU 0.45).
nms_boxes = np.array(
    [
        [6.0, 8, 26, 32],
        [8, 10, 27, 33],
        [4, 5, 23, 29],
        [34, 10, 52, 34],
        [40, 12, 58, 36],
        [36, 8, 54, 33],
        [10, 40, 30, 62],
    ]
)
nms_scores = np.array([0.95, 0.80, 0.60, 0.90, 0.85, 0.70, 0.75])
kept = nms(nms_boxes, nms_scores, 0.5)
assert np.asarray(kept).dtype.kind in "iu", "nms: return integer indices (int64), not boxes"
_check_kept(kept, ref.nms(nms_boxes, nms_scores, 0.5), "nms(the chapter's 7 boxes, t = 0.5)")
_check_kept(nms(nms_boxes, nms_scores, 0.3), ref.nms(nms_boxes, nms_scores, 0.3), "nms(t = 0.3)")
# Three disjoint boxes whose scores are not in index order.
_apart = np.array([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]])
_check_kept(
    nms(_apart, np.array([0.3, 0.9, 0.6]), 0.5),
    [1, 2, 0],
    "nms(three disjoint boxes, scores 0.3, 0.9, 0.6)",
    [("returned in index order; return the kept boxes in decreasing score", [0, 1, 2])],
)
# A chain: box 1 overlaps boxes 0 and 2, which do not overlap each other.
_chain = np.array([[0.0, 0, 10, 10], [3, 0, 13, 10], [6, 0, 16, 10]])
_check_kept(
    nms(_chain, np.array([0.9, 0.8, 0.7]), 0.3),
    [0, 2],
    "nms(a chain of three boxes, each overlapping the next)",
    [("a suppressed box suppressed another: only kept boxes suppress", [0])],
)
# Equal scores: the lower index first.
_check_kept(
    nms(_apart[:2], np.array([0.5, 0.5]), 0.5),
    [0, 1],
    "nms(two disjoint boxes with equal scores)",
    [("equal scores must keep their input order (a stable sort of -scores)", [1, 0])],
)
_check_kept(
    nms(np.array([[0.0, 0, 10, 10], [1, 0, 11, 10]]), np.array([0.5, 0.5]), 0.5),
    [0],
    "nms(two overlapping boxes with equal scores)",
    [("of two equal scores, keep the lower index (a stable sort of -scores)", [1])],
)
# An IoU exactly on the threshold: 8 x 12 over 144 + 144 - 96 is exactly 0.5.
_check_kept(
    nms(np.array([[0.0, 0, 12, 12], [4, 0, 16, 12]]), np.array([0.9, 0.8]), 0.5),
    [0, 1],
    "nms(two boxes with IoU exactly 0.5, t = 0.5)",
    [("suppress only when the IoU is strictly greater than the threshold", [0])],
)
passed("nms")
### BEGIN HIDDEN TESTS
DETECTION_LIBRARIES = ("torchvision", "pycocotools", "sklearn", "cv2")
_rng = np.random.default_rng(902)
for _trial, (_n_objects, _threshold, _dtype, _tied) in enumerate(
    [
        (1, 0.5, np.float64, False),
        (4, 0.5, np.float32, False),
        (6, 0.3, np.float64, True),
        (5, 0.7, np.float32, True),
        (3, 0.0, np.float64, False),
    ]
):
    while True:  # boxes around a few objects, no IoU close to the threshold (rounding decides)
        _centres = _rng.uniform(10, 90, size=(_n_objects, 2))
        _per = _rng.integers(1, 6, size=_n_objects)
        _c = np.repeat(_centres, _per, axis=0) + _rng.normal(0, 3, size=(_per.sum(), 2))
        _half = _rng.uniform(4, 12, size=(_per.sum(), 2))
        _b = np.concatenate([_c - _half, _c + _half], axis=1).astype(_dtype)
        _iou = ref.box_iou(_b.astype(np.float64), _b.astype(np.float64))
        _near = (np.abs(_iou - _threshold) < 1e-3) & (_iou > 0) & ~np.eye(len(_b), dtype=bool)
        if not _near.any():
            break
    _s = _rng.uniform(0, 1, size=len(_b))
    _s = (np.round(_s * 4) / 4 if _tied else _s).astype(_dtype)
    _got = call_blocked(
        nms,
        _b,
        _s,
        _threshold,
        block=(
            ref.nms,
            ref.batched_nms,
            "lapenna_labs",
            *DETECTION_LIBRARIES,
            *OTHER_LIBRARIES,
        ),
        graded_elsewhere=(box_iou,),
    )
    _check_kept(
        _got, ref.nms(_b, _s, _threshold), f"nms (hidden, trial {_trial}, t = {_threshold})"
    )
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part3_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 3: encoding boxes against anchors, and decoding them (1.5 points)
#
# A detector with anchors does not predict a box's corners: it predicts how to move and stretch an
# anchor onto it. With the anchor's centre and size $(x_a, y_a, w_a, h_a)$ and the box's
# $(x, y, w, h)$ (centres $x = (x_1 + x_2)/2$, sizes $w = x_2 - x_1$), Faster R-CNN's targets are
#
# $$d_x = w_x \frac{x - x_a}{w_a}, \quad d_y = w_y \frac{y - y_a}{h_a}, \quad
#   d_w = w_w \log\frac{w}{w_a}, \quad d_h = w_h \log\frac{h}{h_a},$$
#
# with weights $(w_x, w_y, w_w, w_h) = (10, 10, 5, 5)$ (torchvision's `BoxCoder` for the second
# stage). The $x$ offset is measured in anchor *widths* and the $y$ offset in anchor *heights*;
# the log makes a box twice or half the anchor's size equally far from 0.
#
# * `encode_boxes(boxes, anchors, weights=(10, 10, 5, 5))`: `boxes` and `anchors` of shape
#   `(N, 4)` xyxy, one anchor per box, positive sizes; returns the `(N, 4)` deltas
#   `(dx, dy, dw, dh)` (1 point).
# * `decode_boxes(deltas, anchors, weights=(10, 10, 5, 5))`: the inverse, the `(N, 4)` xyxy boxes
#   that the deltas make of the anchors (solve the four equations for $x, y, w, h$, then the
#   corners $x \pm w/2$, $y \pm h/2$). No clipping of the exponent (0.5 points).
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# `detection.encode_boxes`, `detection.decode_boxes` and `detection.convert_boxes`), torchvision
# and the other libraries.


# %% nbgrader={"grade": false, "grade_id": "box_coding", "locked": false, "schema_version": 3, "solution": true}
def encode_boxes(boxes, anchors, weights=(10.0, 10.0, 5.0, 5.0)):
    """Faster R-CNN deltas (N, 4) = (dx, dy, dw, dh) that move each xyxy anchor onto its box."""
    ### BEGIN SOLUTION
    boxes, anchors = np.asarray(boxes), np.asarray(anchors)
    wx, wy, ww, wh = weights
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    x, y = boxes[:, 0] + w / 2, boxes[:, 1] + h / 2
    wa, ha = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    xa, ya = anchors[:, 0] + wa / 2, anchors[:, 1] + ha / 2
    deltas = [wx * (x - xa) / wa, wy * (y - ya) / ha, ww * np.log(w / wa), wh * np.log(h / ha)]
    return np.stack(deltas, axis=1).astype(boxes.dtype)
    ### END SOLUTION


def decode_boxes(deltas, anchors, weights=(10.0, 10.0, 5.0, 5.0)):
    """The xyxy boxes (N, 4) that deltas (N, 4) make of the anchors: the inverse of encode_boxes."""
    ### BEGIN SOLUTION
    deltas, anchors = np.asarray(deltas), np.asarray(anchors)
    wx, wy, ww, wh = weights
    wa, ha = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    xa, ya = anchors[:, 0] + wa / 2, anchors[:, 1] + ha / 2
    x, y = xa + wa * deltas[:, 0] / wx, ya + ha * deltas[:, 1] / wy
    w, h = wa * np.exp(deltas[:, 2] / ww), ha * np.exp(deltas[:, 3] / wh)
    corners = [x - w / 2, y - h / 2, x + w / 2, y + h / 2]
    return np.stack(corners, axis=1).astype(deltas.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_encode_boxes", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 3: encode_boxes
import numpy as np  # noqa: E402

from lapenna_labs import detection as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

# Tall and wide anchors, so that widths and heights cannot be confused.
anchors = np.array([[0.0, 0, 10, 20], [30, 10, 70, 30], [5, 5, 13, 11]])
boxes = np.array([[1.0, 2, 11, 14], [28, 14, 66, 40], [6, 4, 16, 12]])
expected = ref.encode_boxes(boxes, anchors)
_unit = ref.encode_boxes(boxes, anchors, weights=(1, 1, 1, 1))
_wa, _ha = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
_w, _h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
_swapped = _unit.copy()
_swapped[:, 0] *= _wa / _ha
_swapped[:, 1] *= _ha / _wa
_no_log = _unit.copy()
_no_log[:, 2], _no_log[:, 3] = _w / _wa, _h / _ha
_corners = _unit.copy()
_corners[:, 0] = (boxes[:, 0] - anchors[:, 0]) / _wa
_corners[:, 1] = (boxes[:, 1] - anchors[:, 1]) / _ha
got = encode_boxes(boxes, anchors)
assert np.shape(got) == (3, 4), (
    f"encode_boxes: 3 boxes give deltas of shape (3, 4), got {np.shape(got)}"
)
check_close(
    got,
    expected,
    name="encode_boxes(3 boxes, tall and wide anchors)",
    common_mistakes={
        "dx divided by the anchor's height and dy by its width (x moves in widths, y in "
        "heights)": _swapped * (10, 10, 5, 5),
        "no log: dw and dh are w_w log(w / w_a) and w_h log(h / h_a)": _no_log * (10, 10, 5, 5),
        "the offsets of the top-left corners, not of the centres": _corners * (10, 10, 5, 5),
        "the weights (10, 10, 5, 5) are missing": _unit,
        "the log of the anchor's size over the box's (a wrong sign)": _unit * (10, 10, -5, -5),
    },
)
check_close(
    encode_boxes(boxes, anchors, weights=(1.0, 2.0, 3.0, 4.0)),
    ref.encode_boxes(boxes, anchors, weights=(1.0, 2.0, 3.0, 4.0)),
    name="encode_boxes(weights=(1, 2, 3, 4))",
    common_mistakes={"the weights (1, 2, 3, 4) are not used": _unit},
)
_got32 = encode_boxes(boxes.astype(np.float32), anchors.astype(np.float32))
assert np.asarray(_got32).dtype == np.float32, "encode_boxes: float32 in, float32 out"
passed("encode_boxes")
### BEGIN HIDDEN TESTS
DETECTION_LIBRARIES = ("torchvision", "pycocotools", "sklearn", "cv2")


def _boxes_and_anchors(rng, n, dtype):
    """n boxes near n anchors of positive size, sizes from a tenth to ten times the anchor's."""
    centre = rng.uniform(0, 100, size=(n, 2))
    size = rng.uniform(4, 60, size=(n, 2))
    anchor = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    moved = centre + rng.normal(0, 0.3, size=(n, 2)) * size
    stretched = size * np.exp(rng.uniform(-2.3, 2.3, size=(n, 2)))
    box = np.concatenate([moved - stretched / 2, moved + stretched / 2], axis=1)
    return box.astype(dtype), anchor.astype(dtype)


coding_blocked = (
    ref.encode_boxes,
    ref.decode_boxes,
    ref.convert_boxes,
    "lapenna_labs",
    *DETECTION_LIBRARIES,
    *OTHER_LIBRARIES,
)
check_against_reference(
    encode_boxes,
    lambda b, a: ref.encode_boxes(b, a).astype(b.dtype),
    _boxes_and_anchors,
    name="encode_boxes (hidden; N)",
    cases=[1, 7, 40],
    block=coding_blocked,
    seed=903,
)
check_against_reference(
    encode_boxes,
    lambda boxes, anchors, weights: ref.encode_boxes(boxes, anchors, weights).astype(boxes.dtype),
    lambda rng, n, dtype: {
        **dict(zip(("boxes", "anchors"), _boxes_and_anchors(rng, n, dtype), strict=True)),
        "weights": (1.0, 1.0, 1.0, 1.0),
    },
    name="encode_boxes (hidden, weights (1, 1, 1, 1); N)",
    cases=[5],
    block=coding_blocked,
    seed=904,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_decode_boxes", "locked": true, "points": 0.5, "schema_version": 3, "solution": false}
# Part 3: decode_boxes
import numpy as np  # noqa: E402

from lapenna_labs import detection as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

anchors = np.array([[0.0, 0, 10, 20], [30, 10, 70, 30], [5, 5, 13, 11]])
deltas = np.array([[1.0, -2.0, 1.5, -0.5], [0.0, 3.0, -2.0, 0.0], [-4.0, 0.5, 0.0, 2.5]])
expected = ref.decode_boxes(deltas, anchors, scale_clip=None)
got = decode_boxes(deltas, anchors)
assert np.shape(got) == (3, 4), (
    f"decode_boxes: 3 deltas give boxes of shape (3, 4), got {np.shape(got)}"
)
check_close(
    got,
    expected,
    name="decode_boxes(3 deltas, 3 anchors)",
    common_mistakes={
        "the centre and size (cx, cy, w, h); return the corners (x1, y1, x2, y2)": (
            ref.convert_boxes(expected, "xyxy", "cxcywh")
        ),
        "the weights multiply the deltas here; decoding divides by them": ref.decode_boxes(
            deltas * np.array([10.0, 10, 5, 5]) ** 2, anchors, scale_clip=None
        ),
    },
)
_back = decode_boxes(ref.encode_boxes(expected, anchors), anchors)
check_close(_back, expected, name="decode_boxes(encode_boxes(b, a), a) is b")
_got32 = decode_boxes(deltas.astype(np.float32), anchors.astype(np.float32))
assert np.asarray(_got32).dtype == np.float32, "decode_boxes: float32 in, float32 out"
passed("decode_boxes")
### BEGIN HIDDEN TESTS
DETECTION_LIBRARIES = ("torchvision", "pycocotools", "sklearn", "cv2")


def _deltas_and_anchors(rng, n, dtype):
    """n moderate deltas (the exponent far from any clip) and n anchors of positive size."""
    centre = rng.uniform(0, 100, size=(n, 2))
    size = rng.uniform(4, 60, size=(n, 2))
    anchor = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    return rng.uniform(-8, 8, size=(n, 4)).astype(dtype), anchor.astype(dtype)


check_against_reference(
    decode_boxes,
    lambda d, a: ref.decode_boxes(d, a, scale_clip=None).astype(d.dtype),
    _deltas_and_anchors,
    name="decode_boxes (hidden; N)",
    cases=[1, 9, 40],
    block=(
        ref.encode_boxes,
        ref.decode_boxes,
        ref.convert_boxes,
        "lapenna_labs",
        *DETECTION_LIBRARIES,
        *OTHER_LIBRARIES,
    ),
    seed=905,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part4_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 4: COCO's average precision (1.5 points)
#
# All the detections of one class over a test set, sorted by decreasing score, are a ranked list.
# Each is a true positive (it matched a ground-truth box) or a false positive. After the $k$ best,
# with $G$ ground-truth boxes in all,
#
# $$P_k = \frac{TP_k}{k}, \qquad R_k = \frac{TP_k}{G}.$$
#
# Precision zigzags down the list. The **interpolated precision**
# $\hat P(r) = \max_{k:\, R_k \ge r} P_k$ is the best precision at recall $r$ *or more* (0 if no
# $R_k$ reaches $r$): its non-increasing *envelope*. COCO averages it over 101 recalls:
#
# $$\mathrm{AP} = \frac{1}{101} \sum_{i=0}^{100} \hat P\!\left(\tfrac{i}{100}\right).$$
#
# Write `average_precision(scores, is_true_positive, num_ground_truth)`: `scores` `(K,)` floats
# in any order, `is_true_positive` `(K,)` bools, `num_ground_truth` $G \ge 1$ (an int, at least
# the number of true positives: some truths may never be found). Sort by decreasing score with a
# **stable** sort (equal scores keep their input order), build $P_k$ and $R_k$, take the
# envelope (running maximum from the end: `np.maximum.accumulate` of the reversed array), and
# average it at the 101 recalls `np.linspace(0, 1, 101)`, as COCO's code does. Return a float.
# An empty list, or one without a true positive, has AP 0.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# `detection.average_precision` and `detection.mean_average_precision`), `pycocotools`,
# scikit-learn (its `average_precision_score` is another AP: no interpolation) and the other
# libraries.


# %% nbgrader={"grade": false, "grade_id": "average_precision", "locked": false, "schema_version": 3, "solution": true}
def average_precision(scores, is_true_positive, num_ground_truth):
    """COCO's 101-point interpolated AP (a float) of detections with scores (K,) and TP flags (K,)."""
    ### BEGIN SOLUTION
    scores = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    hits = np.asarray(is_true_positive, dtype=bool)[order]
    tp = np.cumsum(hits)
    recall = tp / num_ground_truth
    precision = tp / np.arange(1, len(hits) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    total = 0.0
    for r in np.linspace(0, 1, 101):
        reached = np.flatnonzero(recall >= r)
        total += envelope[reached[0]] if len(reached) else 0.0
    return float(total / 101)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_average_precision", "locked": true, "points": 1.5, "schema_version": 3, "solution": false}
# Part 4: average_precision
import numpy as np  # noqa: E402

from lapenna_labs import detection as ref  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, call_blocked, check_close, passed  # noqa: E402


def _ap_variant(scores, hits, g, points=101, envelope=True, sort=True, area=False):
    """AP computed with one of the classic mistakes (for the messages)."""
    order = np.argsort(-np.asarray(scores), kind="stable") if sort else np.arange(len(scores))
    tp = np.cumsum(np.asarray(hits)[order])
    recall, precision = tp / g, tp / np.arange(1, len(order) + 1)
    if envelope:
        precision = np.maximum.accumulate(precision[::-1])[::-1]
    if area:
        steps = np.diff(np.r_[0.0, recall])
        return float(np.sum(steps * precision))
    sampled = [
        precision[np.flatnonzero(recall >= r)[0]] if np.any(recall >= r) else 0.0
        for r in np.linspace(0, 1, points)
    ]
    return float(np.mean(sampled))


# The chapter's ranked list: 8 detections of 5 digits (a miss, a duplicate, two poor boxes).
ranked_scores = np.array([0.96, 0.91, 0.88, 0.80, 0.72, 0.66, 0.52, 0.33])
ranked_hits = np.array([True, True, False, True, False, True, False, False])
_by_hand = (41 + 20 * 3 / 4 + 20 * 2 / 3) / 101
_ap = average_precision(ranked_scores, ranked_hits, 5)
assert isinstance(_ap, (float, np.floating)), "average_precision: return one float"
check_close(
    _ap,
    _by_hand,
    name="average_precision(the chapter's 8 detections, G = 5)",
    common_mistakes={
        "VOC 2007's 11 points; COCO averages 101": _ap_variant(
            ranked_scores, ranked_hits, 5, points=11
        ),
        "the area under the curve (VOC 2010 on; here also the mean precision at the true "
        "positives); COCO averages the envelope at 101 recalls": _ap_variant(
            ranked_scores, ranked_hits, 5, area=True
        ),
        "the recall divided by the detections, not by the G ground truths": _ap_variant(
            ranked_scores, ranked_hits, len(ranked_hits)
        ),
    },
)
# Shuffled: the same detections in another order must give the same AP.
_perm = np.array([5, 2, 7, 0, 3, 6, 1, 4])
check_close(
    average_precision(ranked_scores[_perm], ranked_hits[_perm], 5),
    _by_hand,
    name="average_precision(the same 8 detections, shuffled)",
    common_mistakes={
        "ranked in input order: sort by decreasing score first": _ap_variant(
            ranked_scores[_perm], ranked_hits[_perm], 5, sort=False
        )
    },
)
# Precision climbs again after two misses: only the envelope sees it.
_climb_scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
_climb_hits = np.array([True, False, False, True, True])
check_close(
    average_precision(_climb_scores, _climb_hits, 3),
    ref.average_precision(_climb_scores, _climb_hits, 3),
    name="average_precision(T, F, F, T, T; G = 3)",
    common_mistakes={
        "no envelope: the interpolated precision at r is the best P_k at any recall >= r "
        "(np.maximum.accumulate from the end)": _ap_variant(
            _climb_scores, _climb_hits, 3, envelope=False
        )
    },
)
check_close(
    average_precision([0.9, 0.4], [True, True], 7),
    ref.average_precision([0.9, 0.4], [True, True], 7),
    name="average_precision(2 hits of 7 truths)",
    common_mistakes={"the recall divided by the detections, not by the G ground truths": 1.0},
)
assert average_precision([0.9, 0.3], [False, False], 2) == 0.0, (
    "average_precision: no true positive gives AP 0"
)
passed("average_precision")
### BEGIN HIDDEN TESTS
DETECTION_LIBRARIES = ("torchvision", "pycocotools", "sklearn", "cv2")
_rng = np.random.default_rng(904)
# G is prime to 100, so that no recall k / G lies exactly on a grid point r = i / 100 but 0 and 1.
for _trial, (_k, _g, _tied) in enumerate(
    [(1, 1, False), (6, 3, False), (25, 13, True), (60, 31, False), (12, 7, True), (9, 9, False)]
):
    _s = _rng.uniform(0, 1, size=_k)
    _s = np.round(_s * 5) / 5 if _tied else _s
    _hits = np.zeros(_k, dtype=bool)
    _hits[_rng.choice(_k, size=int(_rng.integers(0, min(_k, _g) + 1)), replace=False)] = True
    _got = call_blocked(
        average_precision,
        _s,
        _hits,
        _g,
        block=(
            ref.average_precision,
            ref.mean_average_precision,
            ref.match_detections,
            "lapenna_labs",
            *DETECTION_LIBRARIES,
            *OTHER_LIBRARIES,
        ),
    )
    check_close(
        float(_got),
        ref.average_precision(_s, _hits, _g),
        name=f"average_precision (hidden, {_k} detections, G = {_g})",
    )
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part5_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 5: the car's camera, and the distance to an obstacle (2 points)
#
# A camera at height $h$ above a flat road looks ahead, pitched **down** by the angle $\theta$. The
# **world** frame has $X$ to the right, $Y$ forward and $Z$ up (the road is $Z = 0$, the camera's
# centre is $\mathbf C = (0, 0, h)$); the **camera** frame is OpenCV's: $x$ right, $y$ down, $z$
# along the optical axis. A world point $\mathbf X$ goes to the pixel $(u, v)$ by
#
# $$\lambda \begin{pmatrix} u \\ v \\ 1 \end{pmatrix} = K\,(R\,\mathbf X + t), \qquad
#   K = \begin{pmatrix} f_x & 0 & c_x \\ 0 & f_y & c_y \\ 0 & 0 & 1 \end{pmatrix},$$
#
# where $\lambda$, the third coordinate, is the depth: divide by it. The rows of $R$ are the
# camera's axes written in world coordinates, and $t = -R\,\mathbf C$:
#
# $$R = \begin{pmatrix} 1 & 0 & 0 \\ 0 & -\sin\theta & -\cos\theta \\
#   0 & \cos\theta & -\sin\theta \end{pmatrix}, \qquad
#   t = -R \begin{pmatrix} 0 \\ 0 \\ h \end{pmatrix}.$$
#
# **5a (1 point).** Write `camera_pose(height, tilt)`, returning `(R, t)` with `R` of shape
# `(3, 3)` and `t` of shape `(3,)` (tilt in radians, positive = pitched down), and
# `project_points(K, R, t, points)`: the pixels `(n, 2)`, `(u, v)` per row, of the world points
# `points` `(n, 3)` (all in front of the camera).
#
# **5b (1 point).** A detector's box has its bottom edge where the obstacle touches the road. The
# ray through a pixel of row $v$ leaves the camera at the angle $\alpha = \arctan\big((v -
# c_y)/f_y\big)$ below the optical axis, so $\theta + \alpha$ below the horizontal, and meets the
# road at the forward distance
#
# $$Y = \frac{h}{\tan(\theta + \alpha)} .$$
#
# Write `distance_from_box(box, K, height, tilt)`: the forward distance $Y$ in metres (a float) of
# the obstacle whose xyxy image box `box` `(4,)` is given, read at the box's **bottom** edge
# (image $y$ runs down: the bottom edge is `y2`), which lies below the horizon.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# `camera.camera_pose`, `camera.projection_matrix`, `camera.project_points`,
# `camera.distance_from_box`), OpenCV and the other libraries. `distance_from_box` needs neither
# `R` nor your projection: one row, one angle.


# %% nbgrader={"grade": false, "grade_id": "camera", "locked": false, "schema_version": 3, "solution": true}
def camera_pose(height, tilt):
    """(R (3, 3), t (3,)) of a camera `height` metres above the road, pitched down by `tilt` rad."""
    ### BEGIN SOLUTION
    s, c = np.sin(tilt), np.cos(tilt)
    R = np.array([[1.0, 0.0, 0.0], [0.0, -s, -c], [0.0, c, -s]])
    t = -R @ np.array([0.0, 0.0, height])
    return R, t
    ### END SOLUTION


def project_points(K, R, t, points):
    """Pixels (n, 2) of the world points (n, 3): K (R X + t), divided by the depth."""
    ### BEGIN SOLUTION
    points = np.asarray(points, dtype=np.float64)
    camera_coords = points @ np.asarray(R).T + np.ravel(t)
    homogeneous = camera_coords @ np.asarray(K).T
    return homogeneous[:, :2] / homogeneous[:, 2:3]
    ### END SOLUTION


def distance_from_box(box, K, height, tilt):
    """Forward distance (m) on the road of the obstacle with xyxy image box `box`, from its bottom edge."""
    ### BEGIN SOLUTION
    K = np.asarray(K)
    alpha = np.arctan((box[3] - K[1, 2]) / K[1, 1])
    return float(height / np.tan(tilt + alpha))
    ### END SOLUTION


# %%
_K_demo = np.array([[457.0, 0, 320], [0, 457.0, 240], [0, 0, 1]])
_R_demo, _t_demo = camera_pose(0.20, np.deg2rad(12.0))
print(project_points(_K_demo, _R_demo, _t_demo, [[0.0, 2.0, 0.0], [0.3, 5.0, 0.0]]))

# %% nbgrader={"grade": true, "grade_id": "test_projection", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 5a: camera_pose and project_points
import numpy as np  # noqa: E402

from lapenna_labs import camera  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, call_blocked, check_close, passed  # noqa: E402

height, tilt = 0.20, np.deg2rad(12.0)
s, c = np.sin(tilt), np.cos(tilt)
R_formula = np.array([[1.0, 0, 0], [0, -s, -c], [0, c, -s]])
result = camera_pose(height, tilt)
assert isinstance(result, tuple) and len(result) == 2, "camera_pose must return (R, t)"
R, t = result
assert np.shape(R) == (3, 3), f"camera_pose: R must have shape (3, 3), got {np.shape(R)}"
assert np.size(t) == 3, f"camera_pose: t must have 3 entries, got shape {np.shape(t)}"
check_close(
    np.asarray(R, dtype=float),
    R_formula,
    name="camera_pose(0.20, 12 degrees): R",
    common_mistakes={
        "R transposed: its rows are the camera's axes in world coordinates": R_formula.T,
        "pitched up, not down (the sign of the tilt)": np.array(
            [[1.0, 0, 0], [0, s, -c], [0, c, s]]
        ),
    },
)
check_close(
    np.reshape(np.asarray(t, dtype=float), -1),
    -R_formula @ np.array([0.0, 0, height]),
    name="camera_pose(0.20, 12 degrees): t",
    common_mistakes={
        "t = R C: it is -R C, minus the camera centre in camera coordinates": (
            R_formula @ np.array([0.0, 0, height])
        ),
        "t = -C: the centre must be rotated into camera coordinates, t = -R C": np.array(
            [0.0, 0, -height]
        ),
    },
)
# Road points straight ahead, and a point 10 cm above the road: projected by P = K [R | t].
K = np.array([[457.0, 0, 320], [0, 470.0, 236], [0, 0, 1]])
points = np.array([[0.0, 2.0, 0.0], [0.3, 5.0, 0.0], [-0.4, 1.2, 0.1], [0.0, 50.0, 0.0]])
P = K @ np.column_stack([R_formula, -R_formula @ np.array([0.0, 0, height])])
_h = np.column_stack([points, np.ones(len(points))]) @ P.T
expected = _h[:, :2] / _h[:, 2:]
got = project_points(K, R_formula, -R_formula @ np.array([0.0, 0, height]), points)
assert np.shape(got) == (4, 2), (
    f"project_points: 4 points give pixels of shape (4, 2), got {np.shape(got)}"
)
check_close(
    got,
    expected,
    name="project_points(4 points, the car's camera)",
    common_mistakes={
        "not divided by the depth (the third coordinate)": _h[:, :2],
        "(v, u): return (u, v) per row, the column first": expected[:, ::-1],
        "R transposed": (lambda q: q[:, :2] / q[:, 2:])(
            (points @ R_formula + -R_formula @ np.array([0.0, 0, height])) @ K.T
        ),
    },
)
passed("camera_pose, project_points")
### BEGIN HIDDEN TESTS
# (a few names per line: a line that is only a name could match the rendered part text)
camera_blocked = (camera.camera_pose, camera.projection_matrix, camera.project_points)
camera_blocked += (camera.ground_homography, camera.ground_to_pixel, camera.pixel_to_ground)
camera_blocked += (camera.distance_from_box, "lapenna_labs", "cv2", *OTHER_LIBRARIES)
_rng = np.random.default_rng(905)
for _trial in range(4):
    _height, _tilt = _rng.uniform(0.1, 1.5), np.deg2rad(_rng.uniform(1.0, 35.0))
    _R, _t = call_blocked(camera_pose, _height, _tilt, block=camera_blocked)
    _R_ref, _t_ref = camera.camera_pose(_height, _tilt)
    check_close(
        np.asarray(_R, dtype=float), _R_ref, name=f"camera_pose (hidden, camera {_trial}): R"
    )
    check_close(
        np.reshape(np.asarray(_t, dtype=float), -1),
        np.reshape(_t_ref, -1),
        name=f"camera_pose (hidden, camera {_trial}): t",
    )
    _K = camera.intrinsic_matrix(*_rng.uniform(300, 900, size=2), *_rng.uniform(200, 400, size=2))
    _points = np.column_stack(
        [
            _rng.uniform(-3, 3, 12),
            _rng.uniform(1.0, 30.0, 12),
            _rng.uniform(0.0, min(1.0, _height * 0.9), 12),
        ]
    )
    check_close(
        call_blocked(project_points, _K, _R_ref, _t_ref, _points, block=camera_blocked),
        camera.project_points(camera.projection_matrix(_K, _R_ref, _t_ref), _points),
        name=f"project_points (hidden, camera {_trial})",
    )
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_distance_from_box", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 5b: distance_from_box
import numpy as np  # noqa: E402

from lapenna_labs import camera  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, call_blocked, check_close, passed  # noqa: E402

height, tilt = 0.20, np.deg2rad(12.0)
s, c = np.sin(tilt), np.cos(tilt)
R = np.array([[1.0, 0, 0], [0, -s, -c], [0, c, -s]])
t = -R @ np.array([0.0, 0, height])
K = np.array([[457.0, 0, 320], [0, 470.0, 236], [0, 0, 1]])  # fx != fy, cx != cy on purpose


def _project(points):
    q = (np.asarray(points, dtype=float) @ R.T + t) @ K.T
    return q[:, :2] / q[:, 2:]


# An obstacle 25 cm wide and 15 cm high whose front face stands 2 m ahead: its image box.
corners = np.array([[x, y, z] for x in (-0.075, 0.175) for y in (2.0, 2.3) for z in (0.0, 0.15)])
pixels = _project(corners)
box = np.r_[pixels.min(axis=0), pixels.max(axis=0)]


def _distance(v, tilt_used=tilt, fy=K[1, 1], cy=K[1, 2]):
    return height / np.tan(tilt_used + np.arctan((v - cy) / fy))


got = distance_from_box(box, K, height, tilt)
assert np.size(got) == 1, "distance_from_box: return one number, the distance in metres"
check_close(
    float(got),
    2.0,
    name="distance_from_box(an obstacle 2 m ahead)",
    rtol=1e-6,
    common_mistakes={
        "read at the box's top edge; the obstacle touches the road at its bottom edge (y2)": (
            _distance(box[1])
        ),
        "the tilt's sign: the camera is pitched down, the ray is theta + alpha below the "
        "horizontal": _distance(box[3], tilt_used=-tilt),
        "tan(theta - alpha): a row below c_y looks further down, theta + alpha": -_distance(
            box[3], tilt_used=-tilt
        ),
        "f_x and c_x: the row v goes with f_y and c_y": _distance(box[3], fy=K[0, 0], cy=K[0, 2]),
        "the slant range along the ray; the forward distance is h / tan(theta + alpha)": float(
            height / np.sin(tilt + np.arctan((box[3] - K[1, 2]) / K[1, 1]))
        ),
        "h tan(theta + alpha): the distance is h / tan(theta + alpha)": float(
            height * np.tan(tilt + np.arctan((box[3] - K[1, 2]) / K[1, 1]))
        ),
    },
)
# A box whose bottom edge is on the optical axis's row: alpha = 0.
check_close(
    float(distance_from_box(np.array([300.0, 200.0, 340.0, K[1, 2]]), K, height, tilt)),
    height / np.tan(tilt),
    name="distance_from_box(bottom edge at the row c_y)",
)
passed("distance_from_box")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(906)
_distance_blocked = (camera.distance_from_box, camera.pixel_to_ground, camera.ground_homography)
_distance_blocked += ("lapenna_labs", "cv2", *OTHER_LIBRARIES)
for _trial in range(6):
    _height, _tilt = _rng.uniform(0.1, 1.5), np.deg2rad(_rng.uniform(1.0, 35.0))
    _K = camera.intrinsic_matrix(*_rng.uniform(300, 900, size=2), *_rng.uniform(200, 400, size=2))
    _R, _t = camera.camera_pose(_height, _tilt)
    _ahead = _rng.uniform(0.5, 25.0)
    _foot = camera.project_points(
        camera.projection_matrix(_K, _R, _t), np.array([[_rng.uniform(-1, 1), _ahead, 0.0]])
    )[0]
    _box = np.array([_foot[0] - 20.0, _foot[1] - _rng.uniform(5, 60), _foot[0] + 25.0, _foot[1]])
    _got = call_blocked(
        distance_from_box,
        _box,
        _K,
        _height,
        _tilt,
        block=_distance_blocked,
    )
    check_close(
        float(_got),
        float(camera.distance_from_box(_box, _K, _height, _tilt)),
        name=f"distance_from_box (hidden, camera {_trial})",
    )
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part6_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 6: frames per second, timed correctly (2 points)
#
# A camera delivers 30 frames per second; the car needs the detector to keep up, one frame at a
# time. Timing one forward pass goes wrong in three ways (Labs 2 and 7):
#
# 1. **One-off costs.** The first calls pay for allocating memory, choosing kernels and, on a GPU,
#    loading cuDNN. Call the model `warmup` times untimed first.
# 2. **Noise.** Time `repeats` calls, each read from `clock()` right before and right after the
#    call, and take the **median** (one interrupted call moves the mean, not the median).
# 3. **Asynchrony on a GPU.** A CUDA forward pass only *queues* its kernels and returns at once.
#    When `device` is a CUDA device (`str(device).startswith("cuda")`), wait for the GPU with
#    `torch.cuda.synchronize()` before reading the clock, after the call *and* before starting it
#    (so that the queued warm-up work is not counted in the first repeat), or time with CUDA events
#    (`torch.cuda.Event(enable_timing=True)`, `.record()`, `.synchronize()`, `.elapsed_time()`, in
#    milliseconds). On the CPU, do not touch `torch.cuda`.
#
# Write `frames_per_second(run, frame, warmup=3, repeats=10, device="cpu", clock=time.perf_counter)`:
# `run(frame)` processes one frame; return the frames per second, `1 / (median seconds per call)`,
# a float.
#
# **6a (1 point)**: warm-up, repeats, median, on a clock that moves only when the work runs.
# **6b (1 point)**: the same on a simulated GPU, where only a synchronisation lets the clock see the
# work finish.
#
# **Library calls.** Allowed: Python (`time`, `statistics`), NumPy and PyTorch (`torch.cuda`).
# Blocked while graded: `lapenna_labs` (its `camera.measure_fps` and `blas.time_callable` time
# functions this way), SciPy, TensorFlow, Keras and JAX.


# %% nbgrader={"grade": false, "grade_id": "frames_per_second", "locked": false, "schema_version": 3, "solution": true}
def frames_per_second(run, frame, warmup=3, repeats=10, device="cpu", clock=time.perf_counter):
    """Frames per second, 1 / median seconds of `repeats` calls run(frame) after `warmup` untimed ones."""
    ### BEGIN SOLUTION
    on_gpu = str(device).startswith("cuda")
    if on_gpu:
        import torch

        def wait():
            torch.cuda.synchronize()

    else:

        def wait():
            pass

    for _ in range(warmup):
        run(frame)
    durations = []
    for _ in range(repeats):
        wait()
        start = clock()
        run(frame)
        wait()
        durations.append(clock() - start)
    return float(1.0 / np.median(durations))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_frames_per_second", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 6a: frames_per_second on a clock that moves only when the timed work runs
import numpy as np  # noqa: E402

from lapenna_labs import blas, camera  # noqa: E402
from lapenna_labs.grading import FakeClock, call_blocked, check_close, passed  # noqa: E402

_frames_seen = []


def _fake_model(clock):
    def run(frame):
        _frames_seen.append(frame)
        clock.work()

    return run


_clock = FakeClock([0.5, 0.4, 0.3, 0.020, 0.025, 0.021, 0.200, 0.022])
_reads = []


def _read_clock():
    _reads.append(_clock.calls)
    return _clock()


_fps = frames_per_second(
    _fake_model(_clock), "frame", warmup=3, repeats=5, device="cpu", clock=_read_clock
)
assert _clock.calls == 8, (
    f"frames_per_second: {_clock.calls} calls made, expected 3 warm-up + 5 repeats"
)
assert len(_reads) >= 10, (
    "frames_per_second: read the time with the clock you are given (the clock argument), "
    "right before and right after each timed call"
)
assert all(f == "frame" for f in _frames_seen), "frames_per_second: call run(frame), with the frame"
assert np.size(_fps) == 1, "frames_per_second: return one number"
_fps = float(_fps)
check_close(
    _fps,
    1 / 0.022,
    name="frames_per_second (3 warm-up, 5 repeats)",
    common_mistakes={
        "seconds per frame: return frames per second, 1 / the median": 0.022,
        "1 / the mean (or repeats / total): take the median, robust to one slow call": 1 / 0.0576,
        "1 / the fastest call: take the median": 1 / 0.020,
        "milliseconds: the clock is in seconds": 1 / 22.0,
    },
)
_clock = FakeClock([1.0, 0.05, 0.04])
_fps = frames_per_second(_fake_model(_clock), "frame", warmup=1, repeats=2, clock=_clock)
assert _clock.calls == 3, "frames_per_second: warmup=1 and repeats=2 make 3 calls"
check_close(float(_fps), 1 / 0.045, name="frames_per_second (an even number of repeats)")
passed("frames_per_second")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(907)
for _w, _r in ((0, 1), (2, 4), (3, 9), (1, 6)):
    _d = list(_rng.uniform(0.005, 0.09, size=_w + _r))
    _clock = FakeClock(_d)
    _fps = call_blocked(
        frames_per_second,
        _fake_model(_clock),
        np.zeros((1, 1, 8, 8)),
        warmup=_w,
        repeats=_r,
        device="cpu",
        clock=_clock,
        block=(
            camera.measure_fps,
            blas.time_callable,
            "lapenna_labs",
            "scipy",
            "tensorflow",
            "keras",
            "jax",
        ),
    )
    assert _clock.calls == _w + _r, "frames_per_second: wrong number of calls (hidden)"
    check_close(
        float(_fps),
        1 / float(np.median(_d[_w:])),
        name=f"frames_per_second (hidden, {_w} warm-up, {_r} repeats)",
    )
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_frames_per_second_gpu", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 6b: the grader has no GPU, so this test gives frames_per_second a simulated one that
# behaves like CUDA: a forward pass is only queued, and the clock sees it finish only after a
# synchronisation.
import numpy as np  # noqa: E402

from lapenna_labs.grading import (  # noqa: E402
    SimulatedGpu,
    call_blocked,
    check_close,
    passed,
    simulated_cuda,
)


def _fps_on_simulated_gpu(timer, durations, warmup, repeats):
    gpu = SimulatedGpu(durations)
    with simulated_cuda(gpu):
        fps = timer(gpu.run, "frame", warmup, repeats, "cuda", gpu.clock)
    assert gpu.launches == warmup + repeats, (
        f"frames_per_second on a GPU: {gpu.launches} calls made, expected {warmup} + {repeats}"
    )
    return float(fps)


_durations = [0.5, 0.4, 0.3, 0.020, 0.025, 0.021, 0.200, 0.022]
check_close(
    _fps_on_simulated_gpu(frames_per_second, _durations, 3, 5),
    1 / 0.022,
    name="frames_per_second on a (simulated) GPU, 3 warm-up, 5 repeats",
    common_mistakes={
        "only the launch was timed: the clock was read before the GPU had finished "
        "(call torch.cuda.synchronize() before reading it, or time with CUDA events)": (
            1 / SimulatedGpu.LAUNCH
        ),
        "milliseconds: CUDA events' elapsed_time is in ms, the fps needs seconds": 1 / 22.0,
        "the queued warm-up work was counted in the first repeat: synchronise before starting "
        "the clock too": 1 / 0.025,
    },
)
# Long warm-up calls: a timer that does not wait for them before its first start counts them.
_durations = [3.0, 3.0, 0.020, 0.030, 0.025]
check_close(
    _fps_on_simulated_gpu(frames_per_second, _durations, 2, 3),
    1 / 0.025,
    name="frames_per_second on a (simulated) GPU, after long warm-ups",
    common_mistakes={
        "the queued warm-up work was counted in the first repeat: synchronise before starting "
        "the clock too": 1 / 0.030,
    },
)
passed("frames_per_second on a GPU (it waits for the work)")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(908)
for _w, _r in ((0, 1), (2, 5), (3, 9)):
    _d = list(_rng.uniform(0.005, 0.09, size=_w + _r))
    _fps = _fps_on_simulated_gpu(
        lambda *args: call_blocked(
            frames_per_second, *args, block=("lapenna_labs", "scipy", "tensorflow", "keras", "jax")
        ),
        _d,
        _w,
        _r,
    )
    check_close(
        _fps,
        1 / float(np.median(_d[_w:])),
        name=f"frames_per_second on a simulated GPU (hidden, {_w} warm-up, {_r} repeats)",
    )
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "detector_fps_intro", "locked": true, "schema_version": 3, "solution": false}
# **The detector in real time (not graded).** The next cell builds the course's detector
# (`lapenna_labs.detector.make_detector`, untrained: the time of a forward pass does not depend on
# the weights), and times it with your `frames_per_second` at batch 1 on the device you have, on
# a 64 x 64 canvas of digits and on a full 640 x 480 camera frame (the network is fully
# convolutional: it runs unchanged on any size divisible by its stride, 8). It prints your frame
# rate beside the course's (`camera.measure_fps`), the work of one frame
# (`detector.detector_cost`: flops and bytes), whether the detector keeps up with a 30 fps camera,
# and the roofline's bound (Week 1) on two embedded GPUs (`camera.predict_fps`). Questions to
# think about: the camera frame has 75 times the pixels of the canvas; is it 75 times slower, and
# why not exactly? Why is a real run at batch 1 slower than the roofline's bound?

# %% nbgrader={"grade": false, "grade_id": "detector_fps", "locked": true, "schema_version": 3, "solution": false}
try:
    import torch

    from lapenna_labs import camera
    from lapenna_labs.detector import detector_cost, make_detector

    _device = DEVICE  # noqa: F821 (defined by the device cell at the top)
    _model = make_detector().to(_device).eval()
    _sizes = {"64 x 64 canvas": (64, 64)}
    if not GRADING:
        _sizes["640 x 480 camera frame"] = (480, 640)
    _repeats = 3 if GRADING else 10

    def _forward(x):
        with torch.inference_mode():
            return _model(x)

    for _name, (_h, _w) in _sizes.items():
        _frame = torch.rand(1, 1, _h, _w, device=_device)
        _fps = frames_per_second(_forward, _frame, warmup=2, repeats=_repeats, device=_device)
        _package = camera.measure_fps(_forward, _frame, repeats=_repeats, warmup=2, device=_device)[
            "fps"
        ]
        _cost = detector_cost(_model, (_h, _w))
        _verdict = "keeps up with" if _fps >= 30 else "is too slow for"
        print(
            f"{_name} on {_device}: {_fps:,.1f} frames/s with your timer "
            f"({_package:,.1f} with camera.measure_fps); {_cost['flops'] / 1e9:.3f} GFLOP and "
            f"{_cost['bytes'] / 1e6:.2f} MB per frame: it {_verdict} a 30 fps camera"
        )
        for _gpu in camera.EMBEDDED_GPUS:
            _bound = camera.predict_fps(_cost["flops"], _cost["bytes"], _gpu)
            print(
                f"    the roofline's bound on a {_gpu} (fp32): {_bound['fps']:,.0f} frames/s "
                f"({_bound['bound']}-bound)"
            )
except NotImplementedError:
    print("Finish Part 6 first.")
except ImportError as error:
    print(f"This cell needs PyTorch ({error}).")

# %% [markdown] nbgrader={"grade": false, "grade_id": "wrapup", "locked": true, "schema_version": 3, "solution": false}
# ## What you built
#
# Everything a detector does after its last layer, and what a car needs from it. The IoU matrix
# is an outer operation of two sets of boxes, computed by broadcasting; NMS is a greedy walk down
# the scores that uses one row of that matrix per kept box; the box encoding is a change of
# coordinates into each anchor's own frame, scaled so that the regression targets have a
# comfortable size; and AP summarises a whole ranked list in one number whose value depends on its
# interpolation (101 points, 11 points, or the area). The camera is one $3 \times 4$ matrix, and
# for the road a $3 \times 3$ homography: a box's bottom edge is a distance in metres, with an
# error that grows as the square of that distance. And the frame rate is a time like any other:
# warm up, repeat, take the median, and on a GPU wait for the work before reading the clock.
