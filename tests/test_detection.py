"""Tests of lapenna_labs.detection (week 9) against pycocotools and TensorFlow.

IoU is checked against COCO's ``mask.iou``, NMS against ``tf.image.non_max_suppression`` and
mAP against pycocotools' ``COCOeval`` (torchvision's compiled ops do not load here, so
``torchvision.ops`` is no reference). Anchors and the box coder are checked against the
formulas of their papers, computed by hand or in a different way than the module does.
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs import detection as det

pytestmark = pytest.mark.lab9


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def random_boxes(rng, n, *, extent=100.0, max_size=40.0):
    """(n, 4) xyxy boxes with corners in [0, extent] and sizes in (0.5, max_size]."""
    xy = rng.uniform(0, extent, size=(n, 2))
    wh = rng.uniform(0.5, max_size, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


def xywh(boxes):
    """xyxy -> COCO's (x, y, w, h), written out here rather than through the module."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.stack(
        [boxes[:, 0], boxes[:, 1], boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], axis=1
    )


def coco_iou(boxes1, boxes2):
    """(N, M) IoU from pycocotools: ``mask.iou(dt, gt, iscrowd)`` on xywh boxes."""
    from pycocotools import mask

    if len(boxes1) == 0 or len(boxes2) == 0:
        return np.zeros((len(boxes1), len(boxes2)))
    return np.asarray(mask.iou(xywh(boxes1), xywh(boxes2), [0] * len(boxes2)))


# --------------------------------------------------------------------------------------------
# formats, area, IoU
# --------------------------------------------------------------------------------------------

# The linear maps of convert_boxes' Notes, applied as matrices: xyxy -> cxcywh and -> xywh.
T_CXCYWH = np.array([[0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5], [-1, 0, 1, 0], [0, -1, 0, 1]])
T_XYWH = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [-1, 0, 1, 0], [0, -1, 0, 1]])

coordinate = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
# Sizes are 0 or at least 1e-3: with w, h > 0 but w·h underflowing to 0, COCO's mask.iou
# divides 0 by 0 (NaN) where box_iou returns its documented 0.
size = st.one_of(st.just(0.0), st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False))
xyxy_box = st.tuples(coordinate, coordinate, size, size).map(
    lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3])
)


@settings(max_examples=60, deadline=None)
@given(st.lists(xyxy_box, min_size=1, max_size=6), st.sampled_from(det.BOX_FORMATS))
def test_conversions_round_trip_and_match_the_linear_maps(boxes, box_format):
    boxes = np.array(boxes)
    converted = det.convert_boxes(boxes, "xyxy", box_format)
    back = det.convert_boxes(converted, box_format, "xyxy")
    np.testing.assert_allclose(back, boxes, rtol=1e-12, atol=1e-9)
    want = {"xyxy": boxes, "xywh": boxes @ T_XYWH.T, "cxcywh": boxes @ T_CXCYWH.T}[box_format]
    np.testing.assert_allclose(converted, want, rtol=1e-12, atol=1e-9)


def test_conversion_between_the_two_centre_free_formats():
    # cxcywh (10, 20, 4, 6) is the box from (8, 17) to (12, 23).
    got = det.convert_boxes([[10.0, 20.0, 4.0, 6.0]], "cxcywh", "xywh")
    np.testing.assert_array_equal(got, [[8.0, 17.0, 4.0, 6.0]])
    assert det.convert_boxes(np.zeros((2, 3, 4), np.float32), "xyxy", "cxcywh").dtype == np.float32


def test_box_area():
    np.testing.assert_array_equal(
        det.box_area([[0, 0, 2, 3], [1, 1, 1, 4], [-1, -2, 1, 2]]), [6.0, 0.0, 8.0]
    )


def iou_cases(rng):
    """Random boxes plus the cases that break a careless IoU: disjoint, touching, nested,
    identical and zero-area boxes."""
    special = np.array(
        [
            [0, 0, 10, 10],
            [20, 20, 30, 30],  # disjoint from the first
            [10, 0, 20, 10],  # touches the first along an edge: IoU 0
            [2, 3, 5, 7],  # nested inside the first
            [0, 0, 10, 10],  # identical to the first
            [4, 4, 4, 9],  # zero width, inside the first
            [4, 4, 4, 9],  # the same degenerate box again: 0, not 0 / 0
        ],
        dtype=float,
    )
    yield "special", special, special
    yield "random", random_boxes(rng, 30), random_boxes(rng, 20)
    a = random_boxes(rng, 10, extent=10, max_size=10)
    yield "crowded", np.concatenate([a, special]), np.concatenate([special, a[::2]])


def test_box_iou_matches_pycocotools(rng):
    for name, a, b in iou_cases(rng):
        got = det.box_iou(a, b)
        assert got.shape == (len(a), len(b)), name
        np.testing.assert_allclose(got, coco_iou(a, b), rtol=1e-12, atol=1e-15, err_msg=name)
    special = next(iou_cases(rng))[1]
    iou = det.box_iou(special, special)
    assert iou[0, 4] == 1.0 and iou[0, 1] == 0.0 and iou[0, 2] == 0.0 and iou[5, 6] == 0.0
    assert iou[0, 3] == pytest.approx(12 / 100)


@settings(max_examples=40, deadline=None)
@given(st.lists(xyxy_box, min_size=1, max_size=5), st.lists(xyxy_box, min_size=1, max_size=5))
def test_box_iou_matches_pycocotools_on_any_boxes(boxes1, boxes2):
    a, b = np.array(boxes1), np.array(boxes2)
    np.testing.assert_allclose(det.box_iou(a, b), coco_iou(a, b), rtol=1e-9, atol=1e-12)


def test_box_iou_float32_and_empty():
    a = random_boxes(np.random.default_rng(0), 5).astype(np.float32)
    assert det.box_iou(a, a).dtype == np.float32
    np.testing.assert_allclose(np.diag(det.box_iou(a, a)), 1.0, rtol=1e-6)
    assert det.box_iou(a, np.zeros((0, 4))).shape == (5, 0)


# --------------------------------------------------------------------------------------------
# NMS
# --------------------------------------------------------------------------------------------


def nms_problem(rng, n, threshold, margin=1e-3):
    """Clustered boxes (so that NMS has work to do) with distinct scores and no pairwise IoU
    within `margin` of the threshold: there, rounding alone decides, and two correct
    implementations may disagree."""
    while True:
        centres = rng.uniform(0, 60, size=(4, 2))[rng.integers(0, 4, size=n)]
        centres += rng.normal(0, 4, size=(n, 2))
        wh = rng.uniform(8, 20, size=(n, 2))
        boxes = np.concatenate([centres - wh / 2, centres + wh / 2], axis=1).astype(np.float32)
        iou = coco_iou(boxes, boxes)[np.triu_indices(n, 1)]
        if np.all(np.abs(iou - threshold) > margin):
            scores = rng.permutation(n).astype(np.float32) / n + 0.01
            return boxes, scores


def tf_nms(boxes, scores, threshold):
    import tensorflow as tf

    yxyx = np.asarray(boxes, np.float32)[:, [1, 0, 3, 2]]  # TF wants (y1, x1, y2, x2)
    keep = tf.image.non_max_suppression(
        yxyx, np.asarray(scores, np.float32), max_output_size=len(boxes), iou_threshold=threshold
    )
    return keep.numpy()


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("seed", [0, 1])
def test_nms_matches_tensorflow(threshold, seed, dtype):
    rng = np.random.default_rng(seed)
    boxes, scores = nms_problem(rng, 40, threshold)
    want = tf_nms(boxes, scores, threshold)
    got = det.nms(boxes.astype(dtype), scores.astype(dtype), threshold)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    assert 1 < len(got) < len(boxes)  # the problem does suppress something, not everything


def test_nms_suppresses_only_above_the_threshold():
    # IoU exactly 1/2 in floating point: [0,0,3,1] and [1,0,4,1] share 2 of a union of 4.
    boxes = [[0, 0, 3, 1], [1, 0, 4, 1]]
    assert det.box_iou(boxes, boxes)[0, 1] == 0.5
    np.testing.assert_array_equal(det.nms(boxes, [0.9, 0.8], 0.5), [0, 1])
    np.testing.assert_array_equal(det.nms(boxes, [0.9, 0.8], 0.4999), [0])
    np.testing.assert_array_equal(det.nms(boxes, [0.9, 0.8], 0.0), [0])
    np.testing.assert_array_equal(det.nms(boxes, [0.9, 0.8], 1.0), [0, 1])
    assert det.nms(np.zeros((0, 4)), [], 0.5).shape == (0,)


def test_nms_equal_scores_keep_lower_index_first():
    # Boxes 1 and 3 are the same box; 0 and 2 overlap nothing. All scores tie.
    boxes = [[0, 0, 1, 1], [10, 10, 20, 20], [50, 50, 60, 60], [10, 10, 20, 20]]
    np.testing.assert_array_equal(det.nms(boxes, [0.5] * 4, 0.5), [0, 1, 2])
    # A higher score still wins over a lower index; among the rest, ties go by index.
    np.testing.assert_array_equal(det.nms(boxes, [0.5, 0.5, 0.5, 0.6], 0.5), [3, 0, 2])


def test_batched_nms_is_tensorflow_nms_per_class(rng):
    boxes, scores = nms_problem(rng, 40, 0.5)
    classes = rng.integers(0, 3, size=40)
    kept = []
    for c in range(3):
        members = np.flatnonzero(classes == c)
        kept.extend(members[tf_nms(boxes[members], scores[members], 0.5)])
    want = np.array(kept)[np.argsort(-scores[kept])]
    got = det.batched_nms(boxes, scores, classes, 0.5)
    np.testing.assert_array_equal(got, want)
    assert len(got) > len(det.nms(boxes, scores, 0.5))  # classes do protect each other


def test_batched_nms_ties_across_classes_go_by_index():
    boxes = [[0, 0, 10, 10]] * 4
    np.testing.assert_array_equal(det.batched_nms(boxes, [0.5] * 4, [1, 0, 1, 0], 0.5), [0, 1])


# --------------------------------------------------------------------------------------------
# anchors and the box coder
# --------------------------------------------------------------------------------------------


def test_anchor_count_order_centres_and_shapes():
    H, W, stride = 3, 5, (8, 16)
    sizes, ratios = (16.0, 32.0), (0.5, 1.0, 2.0)
    anchors = det.make_anchors((H, W), stride, sizes, ratios)
    A = len(sizes) * len(ratios)
    assert anchors.shape == (H * W * A, 4)
    x1, y1, x2, y2 = anchors.T
    for i in range(H):
        for j in range(W):
            for r, ratio in enumerate(ratios):
                for s, size in enumerate(sizes):
                    row = (i * W + j) * A + r * len(sizes) + s
                    assert (x1[row] + x2[row]) / 2 == pytest.approx((j + 0.5) * stride[1])
                    assert (y1[row] + y2[row]) / 2 == pytest.approx((i + 0.5) * stride[0])
                    w, h = x2[row] - x1[row], y2[row] - y1[row]
                    assert w * h == pytest.approx(size**2)
                    assert h / w == pytest.approx(ratio)


def test_anchors_offset_zero_is_torchvisions_grid():
    # torchvision's AnchorGenerator centres cell (i, j) at (j·stride, i·stride); its base
    # anchor of size 32, ratio 1 is [-16, -16, 16, 16].
    anchors = det.make_anchors((2, 2), 10, sizes=(32,), aspect_ratios=(1.0,), offset=0.0)
    want = [[-16, -16, 16, 16], [-6, -16, 26, 16], [-16, -6, 16, 26], [-6, -6, 26, 26]]
    np.testing.assert_allclose(anchors, want)


def test_encode_hand_computed_case():
    # Anchor centre (5, 5), size 10 x 10; box centre (6, 8), size 10 x 12.
    deltas = det.encode_boxes([[1.0, 2.0, 11.0, 14.0]], [[0.0, 0.0, 10.0, 10.0]])
    want = [[10 * 1 / 10, 10 * 3 / 10, 5 * math.log(10 / 10), 5 * math.log(12 / 10)]]
    np.testing.assert_allclose(deltas, want, rtol=1e-15, atol=1e-15)
    back = det.decode_boxes(want, [[0.0, 0.0, 10.0, 10.0]])
    np.testing.assert_allclose(back, [[1.0, 2.0, 11.0, 14.0]], rtol=1e-14)


@pytest.mark.parametrize("weights", [(10, 10, 5, 5), (1, 1, 1, 1), (2.0, 3.0, 0.5, 7.0)])
def test_encode_decode_are_inverses(rng, weights):
    boxes, anchors = random_boxes(rng, 50), random_boxes(rng, 50)
    deltas = det.encode_boxes(boxes, anchors, weights)
    np.testing.assert_allclose(det.decode_boxes(deltas, anchors, weights), boxes, rtol=1e-12)
    deltas = rng.normal(size=(50, 4))
    again = det.encode_boxes(det.decode_boxes(deltas, anchors, weights), anchors, weights)
    np.testing.assert_allclose(again, deltas, rtol=1e-9, atol=1e-12)


def test_decode_caps_the_scale_as_torchvision():
    anchor = [[0.0, 0.0, 16.0, 16.0]]
    huge = [[0.0, 0.0, 100.0, 100.0]]
    box = det.decode_boxes(huge, anchor, weights=(1, 1, 1, 1))
    np.testing.assert_allclose(box[0, 2] - box[0, 0], 1000.0)  # 16 · exp(log(1000 / 16))
    box = det.decode_boxes([[0.0, 0.0, 5.0, 0.0]], anchor, weights=(1, 1, 1, 1), scale_clip=None)
    np.testing.assert_allclose(box[0, 2] - box[0, 0], 16 * math.exp(5.0))


# --------------------------------------------------------------------------------------------
# target assignment
# --------------------------------------------------------------------------------------------


def test_assign_targets_hand_case():
    anchors = [
        [0, 0, 10, 10],  # IoU 1 with gt 0: positive
        [1, 0, 11, 10],  # IoU 9/11 = 0.82 with gt 0: positive
        [5, 0, 15, 10],  # IoU 1/3 with gt 0: background
        [3, 0, 13, 10],  # IoU 7/13 = 0.54 with gt 0, but the threshold below is 0.6: ignore
        [100, 0, 110, 10],  # gt 1's best anchor, IoU 60/200 = 0.3, forced positive
        [200, 0, 210, 10],  # overlaps nothing: background
    ]
    gt_boxes = [[0, 0, 10, 10], [104, 0, 120, 10]]
    result = det.assign_targets(anchors, gt_boxes, [5, 2], pos_iou=0.6, neg_iou=0.4)
    np.testing.assert_array_equal(result.matched_gt, [0, 0, -1, -2, 1, -1])
    np.testing.assert_array_equal(result.labels, [5, 5, -1, -2, 2, -1])
    np.testing.assert_allclose(result.max_iou, [1, 9 / 11, 1 / 3, 7 / 13, 60 / 200, 0])


def test_assign_targets_shared_best_anchor_goes_to_the_larger_overlap():
    anchors = [[0, 0, 10, 10], [100, 100, 110, 110]]
    # Both small boxes have anchor 0 as their best; it overlaps gt 1 more.
    gt_boxes = [[0, 0, 2, 2], [0, 0, 3, 3]]
    result = det.assign_targets(anchors, gt_boxes, [0, 1])
    np.testing.assert_array_equal(result.matched_gt, [1, -1])


def brute_force_assignment(iou, pos, neg):
    """The documented rule, written as loops over the (A, G) IoU matrix."""
    A, G = iou.shape
    matched = []
    for a in range(A):
        g = max(range(G), key=lambda g: (iou[a, g], -g))
        matched.append(g if iou[a, g] >= pos else (-2 if iou[a, g] >= neg else -1))
    claims = {}
    for g in range(G):
        a = max(range(A), key=lambda a: (iou[a, g], -a))
        if iou[a, g] > 0:
            claims.setdefault(a, []).append(g)
    for a, gs in claims.items():
        matched[a] = max(gs, key=lambda g: (iou[a, g], -g))
    return np.array(matched)


@pytest.mark.parametrize("seed", range(4))
def test_assign_targets_follows_the_documented_rule(seed):
    rng = np.random.default_rng(seed)
    anchors = det.make_anchors((6, 6), 16, sizes=(16, 40), aspect_ratios=(0.5, 1, 2))
    gt_boxes = random_boxes(rng, 7, extent=90, max_size=50)
    labels = rng.integers(0, 5, size=7)
    result = det.assign_targets(anchors, gt_boxes, labels)
    iou = coco_iou(anchors, gt_boxes)
    np.testing.assert_array_equal(result.matched_gt, brute_force_assignment(iou, 0.5, 0.4))
    positive = result.matched_gt >= 0
    np.testing.assert_array_equal(result.labels[positive], labels[result.matched_gt[positive]])
    np.testing.assert_allclose(result.max_iou, iou.max(axis=1), rtol=1e-12)
    assert (result.matched_gt == -2).any() and (result.matched_gt == -1).any()


def test_assign_targets_without_ground_truth_is_all_background():
    result = det.assign_targets([[0, 0, 1, 1], [2, 2, 3, 3]], np.zeros((0, 4)), [])
    np.testing.assert_array_equal(result.matched_gt, [-1, -1])
    np.testing.assert_array_equal(result.labels, [-1, -1])


# --------------------------------------------------------------------------------------------
# COCO evaluation
# --------------------------------------------------------------------------------------------


def jitter(rng, box, amount):
    w, h = box[2] - box[0], box[3] - box[1]
    return box + rng.normal(0, amount, size=4) * np.array([w, h, w, h])


def make_dataset(rng, *, n_images=6, n_classes=4, tie_scores=False):
    """Ground truth and detections with every COCO edge: hits of every quality, misses,
    duplicates, false positives, an image with detections and no ground truth, a class with
    ground truth and no detection (3), one with detections and no ground truth (4), and more
    than 100 detections of one class in one image."""
    ground_truths, detections = [], []
    for image in range(n_images):
        n_gt = 0 if image == 1 else int(rng.integers(1, 7))
        gt_boxes = random_boxes(rng, n_gt, extent=200, max_size=60)
        gt_labels = rng.integers(0, n_classes, size=n_gt)
        boxes, labels = [], []
        for box, label in zip(gt_boxes, gt_labels, strict=True):
            if label == 3 or rng.random() < 0.2:
                continue  # a miss (class 3 is never detected)
            for _ in range(1 + int(rng.random() < 0.3)):  # sometimes a duplicate
                boxes.append(jitter(rng, box, rng.choice([0.02, 0.1, 0.25])))
                labels.append(label)
        n_fp = int(rng.integers(0, 4)) + (120 if image == 2 else 0)
        boxes.extend(random_boxes(rng, n_fp, extent=200, max_size=60))
        labels.extend(rng.choice([0, 1, 2, 4], size=n_fp) if image != 2 else [0] * n_fp)
        boxes = np.array(boxes).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.1)  # keep the jitter valid
        scores = rng.uniform(0, 1, size=len(boxes))
        if tie_scores:
            scores = np.round(scores, 1)
        ground_truths.append({"boxes": gt_boxes, "labels": gt_labels})
        detections.append({"boxes": boxes, "scores": scores, "labels": np.array(labels)})
    return detections, ground_truths


def cocoeval_stats(detections, ground_truths, n_classes=5):
    """COCOeval's summary (AP@[.5:.95], AP@.5, AP@.75, ...) on in-memory COCO objects."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = [], [], []
    for image, (d, g) in enumerate(zip(detections, ground_truths, strict=True), start=1):
        images.append({"id": image})
        for box, label in zip(xywh(g["boxes"]).reshape(-1, 4), g["labels"], strict=True):
            # Annotation ids start at 1: COCOeval stores matches as ids, 0 meaning "none".
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image,
                    "category_id": int(label) + 1,
                    "bbox": box.tolist(),
                    "area": float(box[2] * box[3]),
                    "iscrowd": 0,
                }
            )
        for box, score, label in zip(xywh(d["boxes"]), d["scores"], d["labels"], strict=True):
            results.append(
                {
                    "image_id": image,
                    "category_id": int(label) + 1,
                    "bbox": box.tolist(),
                    "score": float(score),
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c + 1} for c in range(n_classes)],
        }
        gt.createIndex()
        evaluator = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator.stats


@pytest.mark.parametrize("tie_scores", [False, True], ids=["distinct", "tied-scores"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_average_precision_matches_cocoeval(seed, tie_scores):
    rng = np.random.default_rng(seed)
    detections, ground_truths = make_dataset(rng, tie_scores=tie_scores)
    stats = cocoeval_stats(detections, ground_truths)
    ap = det.mean_average_precision(detections, ground_truths)
    ap50 = det.mean_average_precision(detections, ground_truths, iou_thresholds=(0.5,))
    ap75 = det.mean_average_precision(detections, ground_truths, iou_thresholds=[0.75])
    np.testing.assert_allclose([ap, ap50, ap75], stats[:3], rtol=0, atol=1e-6)
    assert 0.05 < ap < ap50 < 0.95  # neither trivial nor perfect


def test_max_detections_count_per_image_and_class():
    # 150 false positives scored above one hit: with maxDets 100 the hit is cut.
    gt = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
    boxes = np.concatenate([random_boxes(np.random.default_rng(0), 150) + 100, [[0, 0, 10, 10]]])
    scores = np.concatenate([np.linspace(0.9, 0.5, 150), [0.1]])
    dets = [{"boxes": boxes, "scores": scores, "labels": np.zeros(151, int)}]
    assert det.mean_average_precision(dets, gt, (0.5,)) == 0.0
    with_all = det.mean_average_precision(dets, gt, (0.5,), max_detections=200)
    assert with_all == pytest.approx(1 / 151, rel=1e-9)  # precision 1/151 at recall 1
    np.testing.assert_allclose(cocoeval_stats(dets, gt, n_classes=1)[1], 0.0, atol=1e-12)


def test_average_precision_edge_rules():
    assert det.average_precision([0.9, 0.1], [False, False], 3) == 0.0
    assert det.average_precision([], np.zeros(0, bool), 2) == 0.0
    assert det.average_precision([0.5], [False], 0) == -1.0
    # A perfect ranking has AP 1 (up to COCO's eps in the precision).
    assert det.average_precision([0.9, 0.8], [True, True], 2) == pytest.approx(1.0, abs=1e-12)
    # No class with ground truth at all: COCO's -1.
    nothing = [{"boxes": np.zeros((0, 4)), "labels": []}]
    found = [{"boxes": [[0, 0, 1, 1]], "scores": [0.3], "labels": [2]}]
    assert det.mean_average_precision(found, nothing) == -1.0
    assert det.mean_average_precision([], []) == -1.0


def test_match_detections_is_greedy_by_score():
    gt = [[0, 0, 10, 10], [0, 0, 10, 9]]
    # The best-scored detection takes gt 0 (IoU 1 > 0.9); the next can only take gt 1.
    got = det.match_detections([[0, 0, 10, 10], [0, 0, 10, 10]], [0.2, 0.9], gt)
    np.testing.assert_array_equal(got, [1, 0])
    np.testing.assert_array_equal(det.match_detections([[0, 0, 10, 10]], [0.2], gt, 1.0), [0])


def test_match_detections_edge_rules_as_cocoeval():
    # A match needs IoU >= threshold (NMS suppresses at > threshold): IoU exactly 1/2.
    np.testing.assert_array_equal(det.match_detections([[1, 0, 4, 1]], [0.5], [[0, 0, 3, 1]]), [0])
    # Equal IoUs with two free ground truths: cocoeval's loop keeps the later one.
    twins = [[0, 0, 10, 10], [0, 0, 10, 10]]
    np.testing.assert_array_equal(det.match_detections([[0, 0, 10, 9]], [0.5], twins), [1])
    # Equal scores: the detection given first is matched first.
    np.testing.assert_array_equal(
        det.match_detections([[0, 0, 10, 8], [0, 0, 10, 10]], [0.5, 0.5], [[0, 0, 10, 10]]),
        [0, -1],
    )


# --------------------------------------------------------------------------------------------
# bad input: a clear ValueError naming the function, never a deep NumPy traceback
# --------------------------------------------------------------------------------------------

GOOD = [[0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 4.0]]
BAD_CALLS = [
    ("box_iou", lambda: det.box_iou([[0, 0, 1]], GOOD), "shape"),
    ("box_iou", lambda: det.box_iou([[2, 0, 1, 1]], GOOD), "x2 < x1"),
    ("box_area", lambda: det.box_area([[0, 2, 1, 1]]), "y2 < y1"),
    ("box_area", lambda: det.box_area([[0, 0, np.nan, 1]]), "NaN"),
    ("convert_boxes", lambda: det.convert_boxes(GOOD, "xyxy", "yxyx"), "unknown box format"),
    ("convert_boxes", lambda: det.convert_boxes([[0, 0, -1, 1]], "xywh", "xyxy"), "negative"),
    ("nms", lambda: det.nms(GOOD, [0.5], 0.5), "1 entries but there are 2 boxes"),
    ("nms", lambda: det.nms(GOOD, [0.5, 0.4], 1.5), r"in \[0, 1\]"),
    ("nms", lambda: det.nms(GOOD, [0.5, 0.4], -0.1), r"in \[0, 1\]"),
    ("nms", lambda: det.nms(np.ones((2, 5)), [0.5, 0.4], 0.5), "shape"),
    ("batched_nms", lambda: det.batched_nms(GOOD, [0.5, 0.4], [0], 0.5), "classes has 1"),
    ("batched_nms", lambda: det.batched_nms(GOOD, [0.5, 0.4], [0, -1], 0.5), "negative"),
    ("encode_boxes", lambda: det.encode_boxes(GOOD, GOOD[:1]), "2 rows but anchors has 1"),
    ("encode_boxes", lambda: det.encode_boxes([[0, 0, 0, 1]], GOOD[:1]), "positive width"),
    ("encode_boxes", lambda: det.encode_boxes(GOOD, GOOD, weights=(1, 1, 0, 1)), "weights"),
    ("decode_boxes", lambda: det.decode_boxes(np.zeros((2, 3)), GOOD), "shape"),
    ("decode_boxes", lambda: det.decode_boxes(np.zeros((1, 4)), GOOD), "1 rows"),
    ("make_anchors", lambda: det.make_anchors((2,), 8), "pair"),
    ("make_anchors", lambda: det.make_anchors((2, 2), 8, sizes=(-4,)), "positive"),
    ("make_anchors", lambda: det.make_anchors((2, 0), 8), "positive integer"),
    ("assign_targets", lambda: det.assign_targets(GOOD, GOOD, [0]), "1 entries"),
    ("assign_targets", lambda: det.assign_targets(GOOD, GOOD, [0, 1], 0.3, 0.6), "exceed"),
    ("assign_targets", lambda: det.assign_targets(GOOD, GOOD, [0, 1], 1.2), r"in \[0, 1\]"),
    ("match_detections", lambda: det.match_detections(GOOD, [1.0], GOOD), "1 entries"),
    ("average_precision", lambda: det.average_precision([0.5], [1], 1), "bool"),
    ("average_precision", lambda: det.average_precision([0.5], [True], 0), "at least"),
    (
        "mean_average_precision",
        lambda: det.mean_average_precision([], [{"boxes": GOOD, "labels": [0, 0]}]),
        "0 images but ground_truths has 1",
    ),
    (
        "mean_average_precision",
        lambda: det.mean_average_precision(
            [{"boxes": GOOD, "scores": [1.0, 0.5], "labels": [0, 0]}],
            [{"boxes": GOOD, "labels": [0, 0]}],
            iou_thresholds=(0.5, 1.2),
        ),
        r"in \[0, 1\]",
    ),
    (
        "mean_average_precision",
        lambda: det.mean_average_precision([{"boxes": GOOD}], [{"boxes": GOOD, "labels": [0]}]),
        "keys",
    ),
]


@pytest.mark.parametrize(
    ("func", "call", "message"), BAD_CALLS, ids=[f"{f}-{m}" for f, _, m in BAD_CALLS]
)
def test_bad_input_raises_a_clear_value_error(func, call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert str(info.value).startswith(f"{func}:")
