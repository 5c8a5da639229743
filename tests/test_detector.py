"""Tests of lapenna_labs.detector (week 9): the model's output grid, the FCOS targets against a
per-cell Python loop, the loss's three parts against the textbook formulas computed here in
NumPy (focal loss of Lin et al. 2017, GIoU of Rezatofighi et al. 2019 from xyxy boxes, BCE),
decoding of hand-built outputs, the cost against torch's FlopCounterMode, gradients, the
training and detection loops, and a detector trained on the digit scenes, scored with
mean_average_precision (itself tested against pycocotools)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lapenna_labs.data import make_digit_detection
from lapenna_labs.detection import box_iou, mean_average_precision
from lapenna_labs.detector import (
    DETECTOR_STRIDE,
    _sigmoid_focal_loss,
    decode_detections,
    detect,
    detector_cost,
    detector_loss,
    detector_targets,
    make_detector,
    train_detector,
)

pytestmark = pytest.mark.lab9

torch = pytest.importorskip("torch")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


# --- The model --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "width", "stride", "n_classes", "in_channels"),
    [
        ((64, 64), 32, 8, 10, 1),
        ((64, 48), 8, 8, 10, 1),
        ((32, 96), 4, 4, 3, 3),
        ((16, 16), 5, 2, 1, 1),
        ((64, 32), 6, 16, 2, 2),
        ((128, 64), 3, 32, 4, 1),
    ],
)
def test_the_output_is_one_grid_cell_per_stride(size, width, stride, n_classes, in_channels):
    model = make_detector(n_classes=n_classes, width=width, stride=stride, in_channels=in_channels)
    with torch.no_grad():
        out = model(torch.zeros(2, in_channels, *size))
    assert tuple(out.shape) == (2, 5 + n_classes, size[0] // stride, size[1] // stride)
    assert (model.n_classes, model.stride, model.width, model.in_channels) == (
        n_classes,
        stride,
        width,
        in_channels,
    )
    strides = [m.stride[0] for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert math.prod(strides) == stride  # log2(stride) convolutions of stride 2, the rest 1


def test_the_default_stride_is_8_and_the_head_starts_at_the_focal_prior():
    model = make_detector()
    assert DETECTOR_STRIDE == 8 and model.stride == 8
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 64, 64))
    # The prior of Lin et al.: every class starts with probability 0.01.
    bias = model.head.bias.detach().numpy()
    np.testing.assert_allclose(_sigmoid(bias[5:]), 0.01, rtol=1e-5)
    assert out.shape[1] == 15


def test_the_same_seed_gives_the_same_weights_and_leaves_the_global_state_alone():
    state = torch.random.get_rng_state()
    a, b, c = make_detector(seed=3), make_detector(seed=3), make_detector(seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not all(torch.equal(p, r) for p, r in zip(a.parameters(), c.parameters(), strict=True))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stride": 6}, "stride must be a power of two >= 2, got 6"),
        ({"stride": 1}, "stride must be a power of two >= 2, got 1"),
        ({"stride": 12}, "stride must be a power of two"),
        ({"stride": 0}, "stride must be a positive integer"),
        ({"width": 0}, "width must be a positive integer"),
        ({"n_classes": 2.5}, "n_classes must be a positive integer"),
        ({"in_channels": -1}, "in_channels must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_make_detector_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=f"make_detector: {match}"):
        make_detector(**kwargs)


def test_importing_the_module_does_not_import_torch():
    code = "import sys, lapenna_labs.detector; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# --- Targets ----------------------------------------------------------------------------------


def _brute_force_targets(boxes, labels, h, w, stride):
    """FCOS's assignment written cell by cell, box by box, in plain Python."""
    n = len(boxes)
    gh, gw = h // stride, w // stride
    lab = np.full((n, gh, gw), -1)
    dist = np.zeros((n, 4, gh, gw))
    ctr = np.zeros((n, gh, gw))
    for k in range(n):
        for i in range(gh):
            for j in range(gw):
                px, py = (j + 0.5) * stride, (i + 0.5) * stride
                best, best_area = None, math.inf
                for m, (x1, y1, x2, y2) in enumerate(boxes[k]):
                    d = (px - x1, py - y1, x2 - px, y2 - py)
                    area = (x2 - x1) * (y2 - y1)
                    if min(d) > 0 and area < best_area:  # strict: the first box wins ties
                        best, best_area = m, area
                if best is None:
                    continue
                x1, y1, x2, y2 = boxes[k][best]
                left, top, right, bottom = px - x1, py - y1, x2 - px, y2 - py
                lab[k, i, j] = labels[k][best]
                dist[k, :, i, j] = (left, top, right, bottom)
                ctr[k, i, j] = math.sqrt(
                    min(left, right) / max(left, right) * min(top, bottom) / max(top, bottom)
                )
    return lab, dist, ctr


def _check_against_brute_force(boxes, labels, size, stride):
    t = detector_targets(boxes, labels, size, stride)
    h, w = (size, size) if np.ndim(size) == 0 else size
    lab, dist, ctr = _brute_force_targets(boxes, labels, h, w, stride)
    np.testing.assert_array_equal(t["labels"], lab)
    np.testing.assert_allclose(t["distances"], dist, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(t["centerness"], ctr, rtol=1e-5, atol=1e-6)
    assert t["labels"].dtype == np.int64 and t["distances"].dtype == np.float32
    assert int(t["stride"]) == stride
    return t


def test_targets_of_overlapping_nested_and_empty_images_match_the_cell_loop():
    boxes = [
        [[2.0, 3.0, 40.0, 30.0], [10.0, 5.0, 25.0, 20.0]],  # nested: the small one wins
        [[0.0, 0.0, 30.0, 30.0], [20.0, 20.0, 64.0, 50.0], [21.0, 21.0, 51.0, 51.0]],
        np.zeros((0, 4)),  # an empty image
        [[4.0, 4.0, 12.0, 12.0]],  # 8 x 8 with centres exactly on its edges: no positive cell
        [[8.0, 8.0, 24.0, 24.0], [8.0, 8.0, 24.0, 24.0]],  # equal boxes: the first wins
        [[50.5, 0.25, 63.75, 63.0], [0.0, 40.0, 64.0, 64.0]],
    ]
    labels = [[1, 2], [0, 5, 7], [], [4], [3, 9], [6, 8]]
    t = _check_against_brute_force(boxes, labels, 64, 8)
    assert (t["labels"][2] == -1).all() and (t["labels"][3] == -1).all()
    assert set(np.unique(t["labels"][0])) == {-1, 1, 2}
    assert set(np.unique(t["labels"][4])) == {-1, 3}
    assert (t["distances"][t["labels"][:, None].repeat(4, 1) < 0] == 0).all()


@pytest.mark.parametrize(("size", "stride"), [(64, 8), ((32, 48), 4), ((64, 32), 16), (16, 2)])
def test_random_scenes_match_the_cell_loop(size, stride):
    rng = np.random.default_rng(stride)
    h, w = (size, size) if np.ndim(size) == 0 else size
    boxes, labels = [], []
    for _ in range(5):
        k = int(rng.integers(0, 6))
        x = np.sort(rng.uniform(-5, w + 5, (k, 2)), axis=1)
        y = np.sort(rng.uniform(-5, h + 5, (k, 2)), axis=1)
        x[:, 1] += 0.5
        y[:, 1] += 0.5
        boxes.append(np.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1))
        labels.append(rng.integers(0, 10, k))
    _check_against_brute_force(boxes, labels, size, stride)


def test_the_centerness_is_one_at_the_box_centre_and_falls_towards_its_edges():
    t = detector_targets([[[0.0, 0.0, 24.0, 24.0]]], [[0]], 24, stride=8)
    assert t["centerness"][0, 1, 1] == pytest.approx(1.0)
    # corner cell (4, 4): l = t = 4, r = b = 20
    assert t["centerness"][0, 0, 0] == pytest.approx(math.sqrt(4 / 20 * 4 / 20))


_coordinate = st.integers(0, 64).map(lambda v: v / 4)  # quarter pixels: exact in float32


@st.composite
def _scenes(draw):
    n_boxes = draw(st.integers(0, 5))
    boxes, labels = [], []
    for _ in range(n_boxes):
        x1, y1 = draw(st.integers(-8, 60)), draw(st.integers(-8, 60))
        bw, bh = draw(_coordinate.filter(bool)), draw(_coordinate.filter(bool))
        boxes.append([x1, y1, x1 + bw * 2, y1 + bh * 2])
        labels.append(draw(st.integers(0, 9)))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(labels, dtype=np.int64)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=_scenes(), stride=st.sampled_from([2, 4, 8, 16]))
def test_decoding_the_target_distances_gives_back_the_assigned_box(scene, stride):
    boxes, labels = scene
    t = detector_targets([boxes], [labels], 64, stride)
    px = (np.arange(64 // stride) + 0.5) * stride
    for i, j in zip(*np.nonzero(t["labels"][0] >= 0), strict=True):
        left, top, right, bottom = t["distances"][0, :, i, j].astype(np.float64)
        decoded = [px[j] - left, px[i] - top, px[j] + right, px[i] + bottom]
        inside = [
            m
            for m, b in enumerate(boxes)
            if b[0] < px[j] < b[2] and b[1] < px[i] < b[3]  # the centre strictly inside
        ]
        areas = [(boxes[m, 2] - boxes[m, 0]) * (boxes[m, 3] - boxes[m, 1]) for m in inside]
        chosen = inside[int(np.argmin(areas))]
        assert decoded == list(boxes[chosen])  # exactly, not approximately
        assert t["labels"][0, i, j] == labels[chosen]
        assert 0 < t["centerness"][0, i, j] <= 1
    # and every cell strictly inside some box is positive
    for i in range(64 // stride):
        for j in range(64 // stride):
            hit = any(b[0] < px[j] < b[2] and b[1] < px[i] < b[3] for b in boxes)
            assert (t["labels"][0, i, j] >= 0) == hit


@pytest.mark.parametrize(
    ("boxes", "labels", "size", "stride", "match"),
    [
        ([[[0, 0, 8, 8]]], [[0]], 60, 8, "the stride 8 must divide the image size, got 60 x 60"),
        ([[[0, 0, 8, 8]]], [[0]], (64, 36), 8, ".*got 64 x 36 .*e.g. 64 x 32"),
        ([[[0, 0, 8, 8]]], [[0]], 64, 6, "stride must be a power of two"),
        ([[[0, 0, 8, 8]]], [[0]], (64, 64, 1), 8, "image_size must be an int or"),
        ([[[0, 0, 8, 8]]], [[0], [1]], 64, 8, "same length .* got 1 and 2"),
        ([[[0, 0, 8, 8], [1, 1, 9, 9]]], [[0]], 64, 8, "image 0 has 2 boxes but 1 labels"),
        ([[[0, 0, 8]]], [[0]], 64, 8, r"boxes\[0\] must have shape \(k, 4\)"),
        ([[[8, 0, 0, 8]]], [[0]], 64, 8, "must be xyxy with x2 > x1 and y2 > y1"),
        ([[[0, 0, 8, 0]]], [[0]], 64, 8, "must be xyxy"),
        ([[[0, 0, 8, np.nan]]], [[0]], 64, 8, "NaN or infinite"),
        ([[[0, 0, 8, 8]]], [[-1]], 64, 8, r"labels\[0\] must be >= 0"),
        ([[[0, 0, 8, 8]]], [[1.5]], 64, 8, r"labels\[0\] must be integers"),
    ],
)
def test_detector_targets_rejects_bad_input_clearly(boxes, labels, size, stride, match):
    with pytest.raises(ValueError, match=f"detector_targets: .*{match}"):
        detector_targets(boxes, labels, size, stride)


# --- The loss ---------------------------------------------------------------------------------


def _textbook_focal(logits, y, alpha=0.25, gamma=2.0):
    """Lin et al. 2017, eqs. (1)-(5): FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)."""
    p = _sigmoid(logits)
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = np.where(y == 1, alpha, 1 - alpha)
    return -alpha_t * (1 - p_t) ** gamma * np.log(p_t)


def test_the_focal_loss_is_the_textbook_formula():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (4, 7, 5, 5))
    y = (rng.random(logits.shape) < 0.2).astype(np.float64)
    ours = _sigmoid_focal_loss(torch, torch.from_numpy(logits), torch.from_numpy(y))
    np.testing.assert_allclose(ours.numpy(), _textbook_focal(logits, y), rtol=1e-10, atol=1e-14)
    # gamma = 0 is alpha-weighted cross-entropy; a sure right answer costs nothing
    ours0 = _sigmoid_focal_loss(torch, torch.from_numpy(logits), torch.from_numpy(y), gamma=0.0)
    np.testing.assert_allclose(ours0.numpy(), _textbook_focal(logits, y, gamma=0.0), rtol=1e-10)


def test_the_focal_loss_matches_torchvision_where_it_loads():
    try:
        from torchvision.ops import sigmoid_focal_loss
    except Exception as exc:  # not installed, or its compiled ops fail to load on CPU torch
        pytest.skip(f"torchvision.ops is not usable here ({type(exc).__name__}: {exc})")
    rng = np.random.default_rng(1)
    logits = torch.from_numpy(rng.normal(0, 3, (50, 10)))
    y = torch.from_numpy((rng.random((50, 10)) < 0.3).astype(np.float64))
    expected = sigmoid_focal_loss(logits, y, alpha=0.25, gamma=2.0, reduction="none")
    torch.testing.assert_close(_sigmoid_focal_loss(torch, logits, y), expected)


def _numpy_giou(a, b):
    """GIoU of matching rows of two (M, 4) xyxy arrays: IoU - |hull - union| / |hull|."""
    iou = np.diag(box_iou(a, b))
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = (area_a + area_b) / (1 + iou)  # from IoU = I / (A + B - I)
    hull = (np.maximum(a[:, 2], b[:, 2]) - np.minimum(a[:, 0], b[:, 0])) * (
        np.maximum(a[:, 3], b[:, 3]) - np.minimum(a[:, 1], b[:, 1])
    )
    return iou - (hull - union) / hull


def _loss_case(seed=0, n_classes=4, stride=8, size=48):
    rng = np.random.default_rng(seed)
    boxes = [
        [[2.0, 3.0, 30.0, 25.0], [20.0, 10.0, 45.0, 47.0]],
        [],
        [[5.5, 30.0, 40.0, 46.0]],
    ]
    labels = [[0, 3], [], [2]]
    t = detector_targets(boxes, labels, size, stride)
    g = size // stride
    outputs = rng.normal(0, 1, (3, 5 + n_classes, g, g))
    return outputs, t


def test_the_loss_parts_match_the_formulas_computed_in_numpy():
    outputs, t = _loss_case()
    stride, n_classes = 8, outputs.shape[1] - 5
    total, parts = detector_loss(torch.from_numpy(outputs).requires_grad_(), t, return_parts=True)
    pos = t["labels"] >= 0
    n_pos = pos.sum()
    onehot = np.zeros((3, n_classes) + pos.shape[1:])
    for k, i, j in zip(*np.nonzero(pos), strict=True):
        onehot[k, t["labels"][k, i, j], i, j] = 1
    focal = _textbook_focal(outputs[:, 5:], onehot).sum() / n_pos
    # GIoU from xyxy boxes: the decoded prediction and the target around each cell centre
    k, i, j = np.nonzero(pos)
    px, py = (j + 0.5) * stride, (i + 0.5) * stride
    d_pred = stride * np.exp(outputs[k, :4, i, j])
    d_true = t["distances"][k, :, i, j].astype(np.float64)

    def xyxy(d):
        return np.stack([px - d[:, 0], py - d[:, 1], px + d[:, 2], py + d[:, 3]], axis=1)

    giou = (1 - _numpy_giou(xyxy(d_pred), xyxy(d_true))).sum() / n_pos
    z, c = outputs[k, 4, i, j], t["centerness"][k, i, j]
    bce = -(c * np.log(_sigmoid(z)) + (1 - c) * np.log(1 - _sigmoid(z))).sum() / n_pos
    assert parts["class"] == pytest.approx(focal, rel=1e-9)
    assert parts["box"] == pytest.approx(giou, rel=1e-6)
    assert parts["centerness"] == pytest.approx(bce, rel=1e-6)
    assert float(total.detach()) == pytest.approx(focal + giou + bce, rel=1e-6)


def test_a_perfect_box_has_no_box_loss():
    t = detector_targets([[[2.0, 2.0, 30.0, 22.0]]], [[0]], 32)
    pos = t["labels"] >= 0
    outputs = np.zeros((1, 6, 4, 4))
    outputs[0, :4] = np.log(np.maximum(t["distances"][0], 1e-6) / 8)
    _, parts = detector_loss(torch.from_numpy(outputs), t, return_parts=True)
    assert parts["box"] == pytest.approx(0.0, abs=1e-6)
    assert pos.sum() > 1


def test_numpy_targets_and_tensor_targets_give_the_same_loss_and_gradient():
    outputs, t = _loss_case(seed=3)
    grads = []
    for targets in (t, {k: torch.from_numpy(np.asarray(v)) for k, v in t.items()}):
        x = torch.from_numpy(outputs).float().requires_grad_()
        loss = detector_loss(x, targets)
        loss.backward()
        grads.append((float(loss.detach()), x.grad.clone()))
    assert grads[0][0] == grads[1][0]
    assert torch.equal(grads[0][1], grads[1][1])


def test_images_without_objects_give_only_the_class_loss_and_keep_the_graph():
    t = detector_targets([[], []], [[], []], 32)
    x = torch.zeros(2, 7, 4, 4, requires_grad=True)
    loss, parts = detector_loss(x, t, return_parts=True)
    loss.backward()
    assert parts["box"] == 0 and parts["centerness"] == 0
    # every cell is a negative: sum of FL(q=1/2, y=0) with n_+ = 1
    assert parts["class"] == pytest.approx(2 * 16 * 2 * _textbook_focal(0.0, 0.0))
    assert x.grad is not None


@pytest.mark.parametrize(
    ("outputs", "targets", "match"),
    [
        (np.zeros((1, 15, 4, 4)), None, "outputs must be a torch tensor"),
        (torch.zeros(1, 5, 4, 4), None, "outputs must be a torch tensor"),
        (torch.zeros(15, 4, 4), None, "outputs must be a torch tensor"),
        (torch.zeros(1, 15, 4, 4), {"labels": 0}, "targets must be the dict of detector_targets"),
        (torch.zeros(1, 15, 2, 4), None, r"targets\['labels'\] has shape \(1, 4, 4\)"),
        (torch.zeros(2, 15, 4, 4), None, "need"),
        (torch.zeros(1, 7, 4, 4), None, "a target label is 3 but the outputs have 2 classes"),
        (torch.zeros(0, 15, 4, 4), None, r"outputs hold no grid cell \(shape \(0, 15, 4, 4\)\)"),
    ],
)
def test_detector_loss_rejects_bad_input_clearly(outputs, targets, match):
    if targets is None:
        targets = detector_targets([[[2.0, 2.0, 20.0, 14.0]]], [[3]], 32)
    with pytest.raises(ValueError, match=f"detector_loss: .*{match}"):
        detector_loss(outputs, targets)


def test_every_parameter_gets_a_gradient_from_one_backward():
    model = make_detector(n_classes=10, width=8)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.random((4, 1, 32, 32), dtype=np.float32))
    boxes = [[[2.0, 2.0, 30.0, 22.0]], [[5.0, 5.0, 20.0, 30.0], [1.0, 1.0, 9.0, 10.0]], [], []]
    labels = [[1], [4, 9], [], []]
    loss = detector_loss(model(images), detector_targets(boxes, labels, 32))
    loss.backward()
    names = [name for name, _ in model.named_parameters()]
    assert "head.weight" in names and len(names) == 3 * 6 + 2  # 6 blocks: conv, BN weight, BN bias
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, name


# --- Decoding ---------------------------------------------------------------------------------


def _encode(boxes, labels, cells, n_classes, grid, stride, logit=30.0):
    """Outputs that say "class label[m], box m, sure" at cell[m] and nothing elsewhere."""
    out = np.full((1, 5 + n_classes, *grid), -logit)
    out[0, :4] = 0.0
    for (x1, y1, x2, y2), label, (i, j) in zip(boxes, labels, cells, strict=True):
        px, py = (j + 0.5) * stride, (i + 0.5) * stride
        out[0, :4, i, j] = np.log(np.array([px - x1, py - y1, x2 - px, y2 - py]) / stride)
        out[0, 4, i, j] = logit
        out[0, 5 + label, i, j] = logit
    return out


def test_hand_built_outputs_decode_to_their_boxes():
    boxes = np.array([[3.0, 2.5, 19.0, 30.0], [30.0, 33.0, 60.0, 62.0], [40.0, 1.0, 56.0, 20.0]])
    labels = [2, 0, 2]
    out = _encode(boxes, labels, [(1, 1), (5, 5), (1, 6)], n_classes=3, grid=(8, 8), stride=8)
    for raw in (out, torch.from_numpy(out).float()):
        d = decode_detections(raw, stride=8)[0]
        order = np.argsort(d["boxes"][:, 0])
        np.testing.assert_allclose(d["boxes"][order], boxes, rtol=1e-6, atol=1e-4)
        np.testing.assert_array_equal(d["labels"][order], labels)
        np.testing.assert_allclose(d["scores"], 1.0, atol=1e-6)
        assert d["boxes"].dtype == np.float32 and d["labels"].dtype == np.int64


def test_the_score_is_the_geometric_mean_of_class_and_centerness_probabilities():
    rng = np.random.default_rng(0)
    out = rng.normal(0, 2, (2, 5 + 3, 4, 4))
    out[:, :4] = rng.normal(-2, 0.1, (2, 4, 4, 4))  # tiny boxes: nothing overlaps, NMS is a no-op
    expected = np.sqrt(_sigmoid(out[:, 5:]) * _sigmoid(out[:, 4:5]))
    for k, d in enumerate(decode_detections(out, stride=8, score_threshold=0.0)):
        assert len(d["scores"]) == 3 * 16  # every (cell, class) pair
        np.testing.assert_allclose(d["scores"], np.sort(expected[k].ravel())[::-1], rtol=1e-6)
        assert np.all(np.diff(d["scores"]) <= 0)
    for threshold in (0.3, 0.6):
        kept = decode_detections(out, stride=8, score_threshold=threshold)
        for k, d in enumerate(kept):
            assert len(d["scores"]) == int((expected[k] > threshold).sum())
            assert (d["scores"] > threshold).all()


def test_nms_is_per_class_and_max_detections_keeps_the_best():
    box = [8.0, 8.0, 40.0, 40.0]
    out = _encode([box, box, box], [0, 0, 1], [(1, 1), (2, 2), (3, 3)], 2, (8, 8), 8)
    out[0, 4, 2, 2] = 2.0  # the second copy is less sure
    d = decode_detections(out, stride=8, iou_threshold=0.5)[0]
    # class 0: the less sure duplicate is suppressed; class 1 is kept despite the overlap
    assert sorted(d["labels"].tolist()) == [0, 1]
    assert len(decode_detections(out, stride=8, iou_threshold=1.0)[0]["labels"]) == 3
    # many separate boxes: the best max_detections survive, in order
    rng = np.random.default_rng(1)
    out = np.full((1, 6, 8, 8), -30.0)
    out[0, :4] = np.log(0.25)  # 4 x 4 pixel boxes around each cell centre, all disjoint
    out[0, 4] = 30.0
    out[0, 5] = rng.normal(0, 2, (8, 8))
    full = decode_detections(out, stride=8, score_threshold=0.0)[0]
    top = decode_detections(out, stride=8, score_threshold=0.0, max_detections=5)[0]
    assert len(full["scores"]) == 64 and len(top["scores"]) == 5
    np.testing.assert_array_equal(top["scores"], full["scores"][:5])
    np.testing.assert_array_equal(top["boxes"], full["boxes"][:5])


def test_boxes_are_clipped_to_the_image():
    out = np.full((1, 6, 2, 3), -30.0)  # a 16 x 24 image
    out[0, :4, 0, 0] = np.log(100.0 / 8)  # 100 pixels each way from (4, 4)
    out[0, 4, 0, 0] = out[0, 5, 0, 0] = 30.0
    d = decode_detections(out, stride=8)[0]
    np.testing.assert_array_equal(d["boxes"], [[0.0, 0.0, 24.0, 16.0]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"outputs": np.zeros((1, 5, 2, 2))}, r"outputs must have shape \(N, 5 \+ C, GH, GW\)"),
        ({"outputs": np.zeros((6, 2, 2))}, "outputs must have shape"),
        ({"stride": 3}, "stride must be a power of two"),
        ({"score_threshold": 1.5}, r"score_threshold must be a number in \[0, 1\]"),
        ({"iou_threshold": -0.1}, r"iou_threshold must be a number in \[0, 1\]"),
        ({"iou_threshold": "high"}, "iou_threshold must be a number"),
        ({"max_detections": 0}, "max_detections must be a positive integer"),
    ],
)
def test_decode_detections_rejects_bad_settings(kwargs, match):
    args = {"outputs": np.zeros((1, 7, 2, 2))} | kwargs
    with pytest.raises(ValueError, match=f"decode_detections: .*{match}"):
        decode_detections(**args)


# --- Cost -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "width", "stride", "in_channels"),
    [(64, 32, 8, 1), ((48, 64), 8, 8, 3), (32, 5, 4, 1), ((64, 32), 4, 16, 2)],
)
def test_the_cost_matches_torchs_flop_counter_and_recorded_outputs(
    size, width, stride, in_channels
):
    from torch.overrides import TorchFunctionMode
    from torch.utils.flop_counter import FlopCounterMode

    h, w = (size, size) if np.ndim(size) == 0 else size
    model = make_detector(n_classes=10, width=width, stride=stride, in_channels=in_channels)
    model.eval()
    conv_outputs = []

    class RecordConvOutputs(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if getattr(func, "__name__", "") == "conv2d":
                conv_outputs.append(out.numel())
            return out

    with FlopCounterMode(display=False) as counter, RecordConvOutputs(), torch.no_grad():
        model(torch.zeros(1, in_channels, h, w))
    params = sum(p.numel() for p in model.parameters())
    cost = detector_cost(model, size)
    assert cost["flops"] == counter.get_total_flops()
    assert set(counter.get_flop_counts()["Global"]) == {torch.ops.aten.convolution}
    assert cost["params"] == params
    assert cost["bytes"] == 4 * (params + in_channels * h * w + sum(conv_outputs))
    assert not model.training  # the mode is kept


def test_the_cost_works_on_the_meta_device_and_keeps_the_training_mode():
    with torch.device("meta"):
        model = make_detector(width=16)
    model.train()
    cost = detector_cost(model, (64, 64))
    assert model.training and cost["flops"] == detector_cost(make_detector(width=16), 64)["flops"]
    with pytest.raises(ValueError, match="detector_cost: the stride 8 must divide"):
        detector_cost(model, 60)
    with pytest.raises(ValueError, match="detector_cost: the model has no Conv2d layers"):
        detector_cost(torch.nn.Linear(2, 2), 64)


# --- Training and detection -------------------------------------------------------------------


def _squares(n=8, size=32, seed=0):
    """Images with one or two white rectangles each, their boxes, and class = tall or wide."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 1, size, size), np.float32)
    boxes, labels = [], []
    for k in range(n):
        bs, ls = [], []
        for _ in range(int(rng.integers(1, 3))):
            x1, y1 = rng.integers(0, size // 2, 2)
            bw, bh = rng.integers(9, size // 2, 2)
            images[k, 0, y1 : y1 + bh, x1 : x1 + bw] = 1.0
            bs.append([x1, y1, x1 + bw, y1 + bh])
            ls.append(int(bh > bw))
        boxes.append(np.array(bs, np.float32))
        labels.append(np.array(ls, np.int64))
    return images, boxes, labels


def test_training_is_reproducible_leaves_the_global_rng_alone_and_lowers_the_loss(one_torch_thread):
    images, boxes, labels = _squares()
    state = torch.random.get_rng_state()
    runs = []
    for seed in (5, 5, 6):
        model = make_detector(n_classes=2, width=8, seed=1)
        history = train_detector(
            model,
            images,
            boxes,
            labels,
            epochs=6,
            batch_size=4,
            lr=1e-2,
            seed=seed,
            progress=False,
        )
        runs.append((history, [p.detach().clone() for p in model.parameters()]))
    assert torch.equal(torch.random.get_rng_state(), state)
    (h1, w1), (h2, w2), (h3, _) = runs
    assert h1 == h2 and len(h1["loss"]) == 6
    assert all(torch.equal(p, q) for p, q in zip(w1, w2, strict=True))
    assert h1 != h3  # another seed shuffles differently
    assert h1["loss"][-1] < 0.7 * h1["loss"][0]
    assert model.training


def test_the_history_is_the_loss_of_the_epoch():
    # With lr tiny the weights barely move: the epoch's loss is the initial model's, in the
    # training mode (batch statistics) in which train_detector evaluates it.
    images, boxes, labels = _squares(n=6)
    model = make_detector(n_classes=2, width=8)
    with torch.no_grad():
        initial = detector_loss(
            model(torch.from_numpy(images)), detector_targets(boxes, labels, 32)
        ).item()
    history = train_detector(
        model, images, boxes, labels, epochs=1, batch_size=6, lr=1e-12, progress=False
    )
    assert history["loss"][0] == pytest.approx(initial, rel=1e-5)


def test_detect_is_decode_of_the_eval_model_in_any_batch_size_and_keeps_the_mode():
    images, _, _ = _squares(n=5)
    model = make_detector(n_classes=2, width=8)
    with torch.no_grad():
        model.eval()
        expected = decode_detections(model(torch.from_numpy(images)), score_threshold=0.01)
    for mode in (True, False):
        model.train(mode)
        for batch_size in (1, 2, 256):
            found = detect(model, images, score_threshold=0.01, batch_size=batch_size)
            assert model.training == mode
            assert len(found) == 5
            for d, e in zip(found, expected, strict=True):
                for key in ("boxes", "scores", "labels"):
                    np.testing.assert_allclose(d[key], e[key], rtol=1e-5, atol=1e-5)
    assert sum(len(e["scores"]) for e in expected) > 0  # the comparison compared something


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((4, 32, 32), np.float32), r"images must have shape \(N, C, H, W\)"),
        (np.zeros((4, 1, 32, 32), np.int64), "images must be floating point"),
        (np.zeros((4, 3, 32, 32), np.float32), "images have 3 channels but the model expects 1"),
        (np.zeros((4, 1, 36, 32), np.float32), "the stride 8 must divide the image size"),
        (np.full((4, 1, 32, 32), np.nan, np.float32), "NaN or infinite"),
        (np.zeros((0, 1, 32, 32), np.float32), "holds no image"),
    ],
)
def test_train_and_detect_reject_bad_images_clearly(images, match):
    model = make_detector(n_classes=2, width=4)
    _, boxes, labels = _squares(n=4)
    with pytest.raises(ValueError, match=f"train_detector: .*{match}"):
        train_detector(model, images, boxes, labels, epochs=1, progress=False)
    with pytest.raises(ValueError, match=f"detect: .*{match}"):
        detect(model, images)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"boxes": "short"}, "4 images but 3 box lists"),
        ({"labels": "short"}, "same length"),
        ({"labels": "too big"}, r"labels must be 0..1 \(the model's classes\), got 6"),
        ({"boxes": "yxyx"}, "must be xyxy"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"lr": -1.0}, "lr must be a positive number"),
        ({"lr": float("inf")}, "lr must be finite"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"device": "tpu"}, "device must be 'cpu', 'cuda' or 'cuda:N'"),
        ({"progress": "no"}, "progress must be True or False"),
    ],
)
def test_train_detector_rejects_bad_data_and_settings(change, match):
    images, boxes, labels = _squares(n=4)
    kwargs = {"epochs": 1, "progress": False}
    if change.get("boxes") == "short":
        boxes = boxes[:3]
    elif change.get("boxes") == "yxyx":
        boxes = [b[:, [2, 3, 0, 1]] for b in boxes]
    elif change.get("labels") == "short":
        labels = labels[:3]
    elif change.get("labels") == "too big":
        labels = [lab + 5 for lab in labels]
    else:
        kwargs |= change
    with pytest.raises(ValueError, match=f"train_detector: .*{match}"):
        train_detector(make_detector(n_classes=2, width=4), images, boxes, labels, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"score_threshold": 2}, "score_threshold must be a number in"),
        ({"max_detections": -1}, "max_detections must be a positive integer"),
        ({"device": "gpu"}, "device must be"),
    ],
)
def test_detect_rejects_bad_settings(kwargs, match):
    images, _, _ = _squares(n=2)
    with pytest.raises(ValueError, match=f"detect: .*{match}"):
        detect(make_detector(n_classes=2, width=4), images, **kwargs)


def test_a_model_that_is_not_a_module_is_rejected():
    images, boxes, labels = _squares(n=2)
    for call in (
        lambda: train_detector(lambda x: x, images, boxes, labels),
        lambda: detect("detector", images),
        lambda: detector_cost(None, 64),
    ):
        with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
            call()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    images, boxes, labels = _squares(n=2)
    model = make_detector(n_classes=2, width=4)
    with pytest.raises(RuntimeError, match="train_detector: device 'cuda' was asked for but CUDA"):
        train_detector(model, images, boxes, labels, device="cuda", progress=False)
    with pytest.raises(RuntimeError, match="detect: device 'cuda' was asked for but CUDA"):
        detect(model, images, device="cuda:0")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
def test_training_and_detection_run_on_the_gpu():
    images, boxes, labels = _squares()
    model = make_detector(n_classes=2, width=8)
    history = train_detector(
        model, images, boxes, labels, epochs=3, batch_size=4, device="cuda", progress=False
    )
    assert next(model.parameters()).device.type == "cuda"
    assert len(history["loss"]) == 3 and np.isfinite(history["loss"]).all()
    found = detect(model, images, device="cuda")
    assert len(found) == len(images)


# --- The detector learns the digit scenes -----------------------------------------------------


TRAINING = {"n_train": 3000, "n_test": 300, "width": 32, "epochs": 10, "batch_size": 16}


def _train_on_digit_scenes(seed):
    """Train on train-split scenes, detect on unseen test-split scenes: (history, mAP@0.5)."""
    train = make_digit_detection(TRAINING["n_train"], split="train", seed=seed)
    test = make_digit_detection(TRAINING["n_test"], split="test", seed=seed + 1)
    model = make_detector(n_classes=10, width=TRAINING["width"], seed=seed)
    history = train_detector(
        model,
        train.images,
        train.boxes,
        train.labels,
        epochs=TRAINING["epochs"],
        batch_size=TRAINING["batch_size"],
        lr=3e-3,
        seed=seed,
        progress=False,
    )
    found = detect(model, test.images)
    truth = [{"boxes": b, "labels": lab} for b, lab in zip(test.boxes, test.labels, strict=True)]
    return history, mean_average_precision(found, truth, iou_thresholds=(0.5,))


def test_a_detector_trained_on_digit_scenes_finds_unseen_digits(one_torch_thread):
    history, map50 = _train_on_digit_scenes(seed=0)
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    print(f"mAP@0.5 = {map50:.4f}")
    # Measured with this configuration on one thread (the shared 2-core machine, loaded):
    # seed 0: 0.823, seed 1: 0.806, seed 2: 0.817, in 35 s (35 s of CPU time; up to 130 s
    # wall while other jobs load the machine). The floor, 0.87 x the lowest, leaves a margin
    # for other BLAS builds and torch versions; an untrained or broken detector scores near 0
    # (2,000 scenes gave 0.77: the data, not the epochs, is what helps most here).
    assert map50 >= 0.7
