"""Lab 9's checks refuse the classic mistakes: boxes, NMS, box coding, AP, the camera, the timer.

Each case runs lab09's answer cells (the master's solutions, with one edit that makes a classic
mistake) and one test cell, visible and hidden checks together, in this process (no nbgrader:
``tests/test_labs_pipeline.py`` grades the whole lab). The unedited solutions must pass every
test cell; every edit must be refused, with a message that names the mistake where the lab
diagnoses it. The timer's GPU path runs on the lab's simulated CUDA device, so a timer that
mentions ``torch.cuda.synchronize`` without calling it is refused too.
"""

from __future__ import annotations

import re

import pytest
from test_labs_pipeline import _lab_cells, _run_cells

from lapenna_labs.grading import ReferenceBlockedError

pytestmark = pytest.mark.lab9

LAB = "lab09"
ANSWERS = [
    "imports",
    "box_iou",
    "nms",
    "box_coding",
    "average_precision",
    "camera",
    "frames_per_second",
]
TEST_CELLS = [
    "test_box_iou",
    "test_nms",
    "test_encode_boxes",
    "test_decode_boxes",
    "test_average_precision",
    "test_projection",
    "test_distance_from_box",
    "test_frames_per_second",
    "test_frames_per_second_gpu",
]

# A timer on CUDA events instead of torch.cuda.synchronize (lab 2's alternative): also right.
EVENT_TIMER = """def frames_per_second(
    run, frame, warmup=3, repeats=10, device="cpu", clock=time.perf_counter
):
    import torch

    for _ in range(warmup):
        run(frame)
    durations = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        run(frame)
        end.record()
        end.synchronize()
        durations.append(start.elapsed_time(end) / 1e3)
    return float(1.0 / np.median(durations))
"""

# (answer cell, [(old, new), ...] edits, test cell, what the refusal says)
MISTAKES = [
    # Part 1: box_iou
    (
        "box_iou",
        [("wh = np.clip(bottom_right - top_left, 0, None)", "wh = bottom_right - top_left")],
        "test_box_iou",
        "no clamp at 0",
    ),
    (
        "box_iou",
        [
            (
                "wh = np.clip(bottom_right - top_left, 0, None)",
                "wh = np.clip(bottom_right - top_left + 1, 0, None)",
            ),
            (
                "area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])",
                "area1 = (boxes1[:, 2] - boxes1[:, 0] + 1) * (boxes1[:, 3] - boxes1[:, 1] + 1)",
            ),
            (
                "area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])",
                "area2 = (boxes2[:, 2] - boxes2[:, 0] + 1) * (boxes2[:, 3] - boxes2[:, 1] + 1)",
            ),
        ],
        "test_box_iou",
        "VOC '\\+ 1'",
    ),
    (
        "box_iou",
        [
            (
                "union = area1[:, None] + area2[None, :] - inter",
                "union = area1[:, None] + area2[None, :]",
            )
        ],
        "test_box_iou",
        "counts the intersection twice",
    ),
    (
        "box_iou",
        [
            (
                "    iou = np.zeros_like(inter)\n"
                "    np.divide(inter, union, out=iou, where=union > 0)\n",
                "    with np.errstate(invalid='ignore'):\n        iou = inter / union\n",
            )
        ],
        "test_box_iou",
        "not NaN",
    ),
    ("box_iou", [("    return iou\n", "    return iou.T\n")], "test_box_iou", "shape"),
    (
        "box_iou",
        [("    return iou\n", "    return iou.astype(np.float64)\n")],
        "test_box_iou",
        "float32 in, float32 out",
    ),
    (
        # right values from the package: only the hidden test can refuse it
        "box_iou",
        [
            (
                "    return iou\n",
                "    from lapenna_labs.detection import box_iou as library_iou\n\n"
                "    return library_iou(boxes1, boxes2)\n",
            )
        ],
        "test_box_iou",
        "blocked",
    ),
    (
        # right values from COCO's own code (boxes as xywh): refused as a blocked library
        "box_iou",
        [
            (
                "    return iou\n",
                "    from pycocotools import mask as coco_mask\n\n"
                "    def xywh(b):\n"
                "        b = np.asarray(b, dtype=np.float64).reshape(-1, 4)\n"
                "        return np.column_stack([b[:, :2], b[:, 2:] - b[:, :2]])\n\n"
                "    coco = coco_mask.iou(xywh(boxes1), xywh(boxes2), [0] * len(boxes2))\n"
                "    return np.asarray(coco, dtype=boxes1.dtype).reshape(iou.shape)\n",
            )
        ],
        "test_box_iou",
        "blocked",
    ),
    (
        # right values from PyTorch tensors: PyTorch is blocked in Parts 1 to 4
        "box_iou",
        [
            (
                "    return iou\n",
                "    import torch\n\n"
                "    a, b = torch.from_numpy(boxes1), torch.from_numpy(boxes2)\n"
                "    lt = torch.maximum(a[:, None, :2], b[None, :, :2])\n"
                "    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])\n"
                "    inter = (rb - lt).clamp(min=0).prod(dim=2)\n"
                "    area_a = (a[:, 2:] - a[:, :2]).prod(dim=1)[:, None]\n"
                "    area_b = (b[:, 2:] - b[:, :2]).prod(dim=1)[None, :]\n"
                "    union = area_a + area_b - inter\n"
                "    out = torch.where(union > 0, inter / union, torch.zeros_like(inter))\n"
                "    return out.numpy()\n",
            )
        ],
        "test_box_iou",
        "blocked",
    ),
    # Part 2: nms
    (
        "nms",
        [('order = np.argsort(-scores, kind="stable")', "order = np.arange(len(scores))")],
        "test_nms",
        "index order",
    ),
    (
        "nms",
        [
            (
                "return np.asarray(keep, dtype=np.int64)",
                "return np.sort(np.asarray(keep, dtype=np.int64))",
            )
        ],
        "test_nms",
        "index order",
    ),
    (
        "nms",
        [('order = np.argsort(-scores, kind="stable")', "order = np.argsort(scores)[::-1]")],
        "test_nms",
        "equal scores must keep their input order",
    ),
    (
        "nms",
        [("overlap > iou_threshold", "overlap >= iou_threshold")],
        "test_nms",
        "strictly greater",
    ),
    (
        "nms",
        [
            (
                "        if suppressed[rank]:\n            continue\n        keep.append(i)\n",
                "        if not suppressed[rank]:\n            keep.append(i)\n",
            )
        ],
        "test_nms",
        "only kept boxes suppress",
    ),
    (
        "nms",
        [("return np.asarray(keep, dtype=np.int64)", "return boxes[keep]")],
        "test_nms",
        "integer indices",
    ),
    (
        "nms",
        [
            (
                '    order = np.argsort(-scores, kind="stable")\n',
                "    from lapenna_labs.detection import nms as library_nms\n\n"
                "    return library_nms(boxes, scores, iou_threshold)\n",
            )
        ],
        "test_nms",
        "blocked",
    ),
    # Part 3: encode_boxes and decode_boxes
    (
        "box_coding",
        [("wx * (x - xa) / wa, wy * (y - ya) / ha", "wx * (x - xa) / ha, wy * (y - ya) / wa")],
        "test_encode_boxes",
        "divided by the anchor's height",
    ),
    (
        "box_coding",
        [("ww * np.log(w / wa), wh * np.log(h / ha)", "ww * (w / wa), wh * (h / ha)")],
        "test_encode_boxes",
        "no log",
    ),
    (
        "box_coding",
        [("ww * np.log(w / wa), wh * np.log(h / ha)", "ww * np.log(wa / w), wh * np.log(ha / h)")],
        "test_encode_boxes",
        "wrong sign",
    ),
    (
        "box_coding",
        [
            (
                "    wx, wy, ww, wh = weights\n    w, h =",
                "    wx, wy, ww, wh = 1, 1, 1, 1\n    w, h =",
            )
        ],
        "test_encode_boxes",
        "weights",
    ),
    (
        "box_coding",
        [
            (
                "    x, y = boxes[:, 0] + w / 2, boxes[:, 1] + h / 2\n",
                "    x, y = boxes[:, 0], boxes[:, 1]\n",
            ),
            (
                "    xa, ya = anchors[:, 0] + wa / 2, anchors[:, 1] + ha / 2\n    deltas",
                "    xa, ya = anchors[:, 0], anchors[:, 1]\n    deltas",
            ),
        ],
        "test_encode_boxes",
        "top-left corners",
    ),
    (
        "box_coding",
        [("corners = [x - w / 2, y - h / 2, x + w / 2, y + h / 2]", "corners = [x, y, w, h]")],
        "test_decode_boxes",
        "the centre and size",
    ),
    (
        "box_coding",
        [
            (
                "x, y = xa + wa * deltas[:, 0] / wx, ya + ha * deltas[:, 1] / wy",
                "x, y = xa + wa * deltas[:, 0] * wx, ya + ha * deltas[:, 1] * wy",
            ),
            (
                "w, h = wa * np.exp(deltas[:, 2] / ww), ha * np.exp(deltas[:, 3] / wh)",
                "w, h = wa * np.exp(deltas[:, 2] * ww), ha * np.exp(deltas[:, 3] * wh)",
            ),
        ],
        "test_decode_boxes",
        "decoding divides by them",
    ),
    (
        "box_coding",
        [
            (
                "w, h = wa * np.exp(deltas[:, 2] / ww), ha * np.exp(deltas[:, 3] / wh)",
                "w, h = wa * (1 + deltas[:, 2] / ww), ha * (1 + deltas[:, 3] / wh)",
            )
        ],
        "test_decode_boxes",
        "decode_boxes",
    ),
    # Part 4: average_precision
    (
        "average_precision",
        [("envelope = np.maximum.accumulate(precision[::-1])[::-1]", "envelope = precision")],
        "test_average_precision",
        "no envelope",
    ),
    (
        "average_precision",
        [("np.linspace(0, 1, 101)", "np.linspace(0, 1, 11)"), ("total / 101", "total / 11")],
        "test_average_precision",
        "11 points",
    ),
    (
        "average_precision",
        [('order = np.argsort(-scores, kind="stable")', "order = np.arange(len(scores))")],
        "test_average_precision",
        "sort by decreasing score",
    ),
    (
        "average_precision",
        [("recall = tp / num_ground_truth", "recall = tp / len(hits)")],
        "test_average_precision",
        "divided by the detections",
    ),
    (
        "average_precision",
        [
            (
                "    total = 0.0\n",
                "    return float(precision[hits].sum() / num_ground_truth)\n    total = 0.0\n",
            )
        ],
        "test_average_precision",
        "the area under the curve",
    ),
    (
        "average_precision",
        [
            (
                '    order = np.argsort(-scores, kind="stable")\n',
                "    from lapenna_labs.detection import average_precision as library_ap\n\n"
                "    return library_ap(scores, np.asarray(is_true_positive), num_ground_truth)\n",
            )
        ],
        "test_average_precision",
        "blocked",
    ),
    # Part 5: the camera
    ("camera", [("    return R, t\n", "    return R.T, t\n")], "test_projection", "R transposed"),
    (
        "camera",
        [("s, c = np.sin(tilt), np.cos(tilt)", "s, c = np.sin(-tilt), np.cos(-tilt)")],
        "test_projection",
        "pitched up",
    ),
    (
        "camera",
        [("t = -R @ np.array([0.0, 0.0, height])", "t = R @ np.array([0.0, 0.0, height])")],
        "test_projection",
        "t = R C",
    ),
    (
        "camera",
        [
            (
                "return homogeneous[:, :2] / homogeneous[:, 2:3]",
                "return homogeneous[:, :2]",
            )
        ],
        "test_projection",
        "not divided by the depth",
    ),
    (
        "camera",
        [("camera_coords = points @ np.asarray(R).T", "camera_coords = points @ np.asarray(R)")],
        "test_projection",
        "R transposed",
    ),
    (
        "camera",
        [
            (
                "alpha = np.arctan((box[3] - K[1, 2]) / K[1, 1])",
                "alpha = np.arctan((box[1] - K[1, 2]) / K[1, 1])",
            )
        ],
        "test_distance_from_box",
        "top edge",
    ),
    (
        "camera",
        [("np.tan(tilt + alpha)", "np.tan(alpha - tilt)")],
        "test_distance_from_box",
        "the tilt's sign",
    ),
    (
        "camera",
        [("np.tan(tilt + alpha)", "np.tan(tilt - alpha)")],
        "test_distance_from_box",
        "theta - alpha",
    ),
    (
        "camera",
        [
            (
                "alpha = np.arctan((box[3] - K[1, 2]) / K[1, 1])",
                "alpha = np.arctan((box[3] - K[0, 2]) / K[0, 0])",
            )
        ],
        "test_distance_from_box",
        "f_x and c_x",
    ),
    (
        "camera",
        [
            (
                "return float(height / np.tan(tilt + alpha))",
                "return float(height / np.sin(tilt + alpha))",
            )
        ],
        "test_distance_from_box",
        "slant range",
    ),
    (
        "camera",
        [
            (
                "    K = np.asarray(K)\n    alpha",
                "    from lapenna_labs.camera import distance_from_box as library_distance\n\n"
                "    return library_distance(box, K, height, tilt)\n    alpha",
            )
        ],
        "test_distance_from_box",
        "blocked",
    ),
    # Part 6: frames_per_second
    (
        "frames_per_second",
        [("    for _ in range(warmup):\n        run(frame)\n", "")],
        "test_frames_per_second",
        "expected 3 warm-up \\+ 5 repeats",
    ),
    (
        "frames_per_second",
        [
            ("start = clock()", "start = time.perf_counter()"),
            ("durations.append(clock() - start)", "durations.append(time.perf_counter() - start)"),
        ],
        "test_frames_per_second",
        "the clock argument",
    ),
    (
        "frames_per_second",
        [("1.0 / np.median(durations)", "1.0 / np.mean(durations)")],
        "test_frames_per_second",
        "take the median",
    ),
    (
        "frames_per_second",
        [("1.0 / np.median(durations)", "len(durations) / np.sum(durations)")],
        "test_frames_per_second",
        "take the median",
    ),
    (
        "frames_per_second",
        [("return float(1.0 / np.median(durations))", "return float(np.median(durations))")],
        "test_frames_per_second",
        "seconds per frame",
    ),
    (
        "frames_per_second",
        [("1.0 / np.median(durations)", "1.0 / np.min(durations)")],
        "test_frames_per_second",
        "the fastest call",
    ),
    (
        "frames_per_second",
        [("            torch.cuda.synchronize()", "            pass  # torch.cuda.synchronize()")],
        "test_frames_per_second_gpu",
        "only the launch",
    ),
    (
        # a name in a string is not a call
        "frames_per_second",
        [("            torch.cuda.synchronize()", '            print("torch.cuda.synchronize")')],
        "test_frames_per_second_gpu",
        "only the launch",
    ),
    (
        # waits after each call, but starts the first clock with the warm-up still queued
        "frames_per_second",
        [("        wait()\n        start = clock()", "        start = clock()")],
        "test_frames_per_second_gpu",
        "warm-up work was counted",
    ),
    (
        "frames_per_second",
        [("    for _ in range(warmup):\n        run(frame)\n", "")],
        "test_frames_per_second_gpu",
        "expected 3 \\+ 5",
    ),
]


def _solution_of(cell: str, old: str) -> str:
    source = _lab_cells(LAB)[cell]
    assert source.count(old) == 1, f"{old!r} not once in {LAB}'s cell {cell}"
    return source


@pytest.mark.parametrize("test_cell", TEST_CELLS)
def test_the_solutions_pass_every_check(test_cell):
    namespace = _run_cells(LAB, ANSWERS, {"DEVICE": "cpu"})
    exec(_lab_cells(LAB)[test_cell], namespace)


@pytest.mark.parametrize(
    "answer, edits, test_cell, refusal",
    MISTAKES,
    ids=[f"{m[2]}-{i}" for i, m in enumerate(MISTAKES)],
)
def test_the_checks_refuse_a_classic_mistake(answer, edits, test_cell, refusal):
    changes = [(answer, old, new) for old, new in edits]
    namespace = _run_cells(LAB, ANSWERS, {"DEVICE": "cpu"}, changes)
    with pytest.raises((AssertionError, ReferenceBlockedError), match=refusal):
        exec(_lab_cells(LAB)[test_cell], namespace)


def _events_timer(old: str | None = None, new: str | None = None) -> list[tuple[str, str, str]]:
    """The edit that replaces the master's timer with the CUDA-events one (itself edited)."""
    master = _lab_cells(LAB)["frames_per_second"]
    source = EVENT_TIMER
    if old is not None:
        assert source.count(old) == 1
        source = source.replace(old, new)
    return [("frames_per_second", master, source)]


def test_a_timer_on_cuda_events_passes_the_gpu_check():
    namespace = _run_cells(LAB, ANSWERS, {"DEVICE": "cpu"}, _events_timer())
    exec(_lab_cells(LAB)["test_frames_per_second_gpu"], namespace)


@pytest.mark.parametrize(
    "old, new, refusal",
    [
        ("/ 1e3)", ")", "milliseconds"),
        ("        end.synchronize()\n", "", "device not ready"),
    ],
)
def test_the_gpu_check_refuses_a_wrong_event_timer(old, new, refusal):
    namespace = _run_cells(LAB, ANSWERS, {"DEVICE": "cpu"}, _events_timer(old, new))
    with pytest.raises((AssertionError, RuntimeError), match=refusal):
        exec(_lab_cells(LAB)["test_frames_per_second_gpu"], namespace)


def test_every_mistake_edits_the_master_exactly_once():
    # An edit that no longer matches the master would silently test nothing.
    for answer, edits, _, _ in MISTAKES:
        for old, _ in edits:
            _solution_of(answer, old)


def test_every_test_cell_is_covered_by_a_mistake():
    refused_in = {m[2] for m in MISTAKES}
    assert refused_in == set(TEST_CELLS), sorted(set(TEST_CELLS) - refused_in)
    for _, _, _, refusal in MISTAKES:
        re.compile(refusal)


TENSORFLOW_NMS = """    import tensorflow as tf

    yx = np.asarray(boxes, dtype=np.float32)[:, [1, 0, 3, 2]]  # TensorFlow's boxes: y1, x1, y2, x2
    found = tf.image.non_max_suppression(yx, scores.astype(np.float32), len(yx), iou_threshold)
    return found.numpy().astype(np.int64)
"""


@pytest.mark.slow  # imports TensorFlow (several seconds)
def test_an_nms_from_tensorflow_passes_the_visible_checks_and_is_refused_when_graded():
    pytest.importorskip("tensorflow")
    start = '    order = np.argsort(-scores, kind="stable")\n'
    namespace = _run_cells(
        LAB, ANSWERS, {"DEVICE": "cpu"}, [("nms", start, TENSORFLOW_NMS + start)]
    )
    test_nms = _lab_cells(LAB)["test_nms"]
    visible, _ = test_nms.split("### BEGIN HIDDEN TESTS")
    exec(visible, namespace)  # right values: tf.image.non_max_suppression is torchvision's NMS
    with pytest.raises(ReferenceBlockedError, match="tensorflow"):
        exec(test_nms, namespace)
