r"""Object detection's linear algebra: boxes, IoU, NMS, anchors, box coding and COCO mAP.

A detector predicts, for each of A anchors (reference boxes laid on a grid over the image),
a class score and four numbers that move and stretch the anchor into a box. Everything
around the network is plain array arithmetic on (N, 4) matrices of boxes:

- box formats: ``"xyxy"`` (x1, y1, x2, y2), ``"xywh"`` (x1, y1, w, h, as COCO) and
  ``"cxcywh"`` (centre, width, height), and :func:`convert_boxes` between them;
- :func:`box_area` and :func:`box_iou`, the (N, M) matrix of intersection over union;
- :func:`nms` and :func:`batched_nms`, greedy non-maximum suppression;
- :func:`make_anchors`, the anchors of one feature map;
- :func:`encode_boxes` and :func:`decode_boxes`, Faster R-CNN's box deltas;
- :func:`assign_targets`, each anchor's ground-truth box, background or "ignore";
- :func:`match_detections`, :func:`average_precision` and :func:`mean_average_precision`,
  the COCO evaluation (AP at IoU 0.5 and averaged over IoU 0.5:0.95).

Coordinates are continuous: a box (x1, y1, x2, y2) covers ``[x1, x2] x [y1, y2]``, so its
width is ``x2 - x1`` with no ``+ 1`` (as torchvision and COCO's ``mask.iou``; the old
Pascal VOC code counted pixels and added 1). Every function takes xyxy boxes unless its
name or a ``format`` argument says otherwise.

References
----------
.. [1] R. Girshick, J. Donahue, T. Darrell and J. Malik, "Rich feature hierarchies for accurate
   object detection and semantic segmentation", CVPR 2014 (box regression targets, NMS).
.. [2] S. Ren, K. He, R. Girshick and J. Sun, "Faster R-CNN: Towards real-time object detection
   with region proposal networks", NeurIPS 2015 (anchors, the encoding, the assignment).
.. [3] T.-Y. Lin et al., "Microsoft COCO: Common objects in context", ECCV 2014, and the
   ``pycocotools`` evaluation code ``cocoeval.py`` (the mAP computed here).
.. [4] torchvision's ``ops.boxes`` (``box_iou``, ``nms``, ``batched_nms``) and
   ``models.detection._utils`` (``BoxCoder``, ``Matcher``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from lapenna_labs._validation import (
    as_float_array,
    as_labels,
    check_name,
    check_positive_int,
)

__all__ = [
    "BACKGROUND",
    "BOX_FORMATS",
    "COCO_IOU_THRESHOLDS",
    "IGNORE",
    "TargetAssignment",
    "assign_targets",
    "average_precision",
    "batched_nms",
    "box_area",
    "box_iou",
    "convert_boxes",
    "decode_boxes",
    "encode_boxes",
    "make_anchors",
    "match_detections",
    "mean_average_precision",
    "nms",
]

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
"""The box formats :func:`convert_boxes` knows, each four numbers per box."""

COCO_IOU_THRESHOLDS = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))
"""COCO's ten IoU thresholds 0.5, 0.55, ..., 0.95 (built as ``cocoeval.py`` builds them)."""

BACKGROUND = -1
"""Match value of an anchor assigned to background (IoU below the negative threshold)."""

IGNORE = -2
"""Match value of an anchor between the thresholds: it counts in no loss."""

DEFAULT_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
"""Faster R-CNN's box-coder weights (wx, wy, ww, wh) for the second stage."""

DEFAULT_SCALE_CLIP = math.log(1000.0 / 16)
"""torchvision's cap on a decoded log-scale: no box grows more than 62.5 times its anchor."""

_RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # as cocoeval.py: int(np.round(1 / 0.01)) + 1


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _as_boxes(value: Any, *, name: str, func: str, box_format: str = "xyxy") -> np.ndarray:
    """A checked (N, 4) float array of boxes in `box_format` (an empty list gives (0, 4))."""
    arr = as_float_array(value, name=name, func=func)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[-1] != 4:
        raise ValueError(
            f"{func}: {name} must have shape (N, 4), one {box_format} box per row, "
            f"got shape {arr.shape}"
        )
    _check_box_extent(arr, name=name, func=func, box_format=box_format)
    return arr


def _check_box_extent(arr: np.ndarray, *, name: str, func: str, box_format: str) -> None:
    """Raise unless every box has non-negative width and height in its format."""
    if box_format == "xyxy":
        bad_w, bad_h = arr[..., 2] < arr[..., 0], arr[..., 3] < arr[..., 1]
        what = "x2 < x1", "y2 < y1"
    else:
        bad_w, bad_h = arr[..., 2] < 0, arr[..., 3] < 0
        what = "a negative width", "a negative height"
    for bad, text in zip((bad_w, bad_h), what, strict=True):
        if bad.any():
            row = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
            raise ValueError(
                f"{func}: {name} has {text} in box {tuple(int(i) for i in row)} "
                f"({box_format}: {arr[row].tolist()})"
            )


def _check_unit_interval(value: Any, *, name: str, func: str) -> float:
    """Return `value` as a float, raising a ValueError unless it is a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{func}: {name} must be a number in [0, 1], got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{func}: {name} must be in [0, 1], got {value!r}")
    return float(value)


def _as_scores(value: Any, n: int, *, name: str, func: str) -> np.ndarray:
    scores = as_float_array(value, name=name, func=func, ndim=1)
    if scores.shape[0] != n:
        raise ValueError(f"{func}: {name} has {scores.shape[0]} entries but there are {n} boxes")
    return scores


def _as_box_labels(value: Any, n: int, *, name: str, func: str) -> np.ndarray:
    labels = as_labels(value, name=name, func=func)
    if labels.shape[0] != n:
        raise ValueError(f"{func}: {name} has {labels.shape[0]} entries but there are {n} boxes")
    return labels


# --------------------------------------------------------------------------------------------
# formats, area, IoU
# --------------------------------------------------------------------------------------------


def _to_xyxy(boxes: np.ndarray, box_format: str) -> np.ndarray:
    a, b, c, d = np.moveaxis(boxes, -1, 0)
    if box_format == "xyxy":
        return boxes.copy()
    if box_format == "xywh":
        return np.stack([a, b, a + c, b + d], axis=-1)
    return np.stack([a - c / 2, b - d / 2, a + c / 2, b + d / 2], axis=-1)


def _from_xyxy(boxes: np.ndarray, box_format: str) -> np.ndarray:
    x1, y1, x2, y2 = np.moveaxis(boxes, -1, 0)
    if box_format == "xyxy":
        return boxes.copy()
    if box_format == "xywh":
        return np.stack([x1, y1, x2 - x1, y2 - y1], axis=-1)
    return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=-1)


def convert_boxes(boxes: Any, from_format: str, to_format: str) -> np.ndarray:
    r"""Convert boxes between the ``"xyxy"``, ``"xywh"`` and ``"cxcywh"`` formats.

    Parameters
    ----------
    boxes : array_like of float, shape (..., 4)
        Boxes in `from_format`, one per row of the last axis.
    from_format, to_format : {"xyxy", "xywh", "cxcywh"}
        ``"xyxy"``: corners (x1, y1, x2, y2); ``"xywh"``: top-left corner, width, height
        (COCO's ``bbox``); ``"cxcywh"``: centre, width, height (DETR, YOLO).

    Returns
    -------
    ndarray, shape (..., 4), the input's dtype
        The same boxes in `to_format` (a new array, even when the formats are equal).

    Notes
    -----
    Each conversion is linear: with :math:`b = (x_1, y_1, x_2, y_2)^\top`,
    :math:`\text{cxcywh} = T b` for the 4x4 matrix

    .. math:: T = \begin{pmatrix} 1/2 & 0 & 1/2 & 0 \\ 0 & 1/2 & 0 & 1/2 \\
              -1 & 0 & 1 & 0 \\ 0 & -1 & 0 & 1 \end{pmatrix},

    so a batch converts as ``boxes @ T.T`` and the way back is :math:`T^{-1}`. The code
    writes the sums out instead, which is exact for the halving (a power of two).

    Examples
    --------
    >>> convert_boxes([[1.0, 2.0, 5.0, 8.0]], "xyxy", "cxcywh")
    array([[3., 5., 4., 6.]])
    >>> convert_boxes([[1.0, 2.0, 4.0, 6.0]], "xywh", "xyxy")
    array([[1., 2., 5., 8.]])
    """
    func = "convert_boxes"
    src = check_name(from_format, BOX_FORMATS, what="box format", func=func)
    dst = check_name(to_format, BOX_FORMATS, what="box format", func=func)
    arr = as_float_array(boxes, name="boxes", func=func)
    if arr.ndim == 0 or arr.shape[-1] != 4:
        raise ValueError(
            f"{func}: boxes must have shape (..., 4), four numbers per box, got shape {arr.shape}"
        )
    _check_box_extent(arr, name="boxes", func=func, box_format=src)
    return _from_xyxy(_to_xyxy(arr, src), dst)


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """(N, M) IoU of checked xyxy boxes; 0 where the union is 0 (two empty boxes)."""
    top_left = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (N, M, 2)
    bottom_right = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = _area(boxes1)[:, None] + _area(boxes2)[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def box_area(boxes: Any) -> np.ndarray:
    """Area of each xyxy box, ``(x2 - x1) * (y2 - y1)``.

    Parameters
    ----------
    boxes : array_like of float, shape (N, 4)
        Boxes (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1.

    Returns
    -------
    ndarray, shape (N,), the input's dtype

    Examples
    --------
    >>> box_area([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 1.0, 4.0]])
    array([6., 0.])
    """
    return _area(_as_boxes(boxes, name="boxes", func="box_area"))


def box_iou(boxes1: Any, boxes2: Any) -> np.ndarray:
    r"""Intersection over union of every box of `boxes1` with every box of `boxes2`.

    Parameters
    ----------
    boxes1 : array_like of float, shape (N, 4)
        xyxy boxes.
    boxes2 : array_like of float, shape (M, 4)
        xyxy boxes.

    Returns
    -------
    iou : ndarray, shape (N, M), the inputs' common dtype
        ``iou[i, j]`` in [0, 1]; 0 for disjoint boxes and for two boxes of zero area.

    Notes
    -----
    For boxes :math:`a` and :math:`b` the intersection is again a box,

    .. math:: w_\cap = \max(0, \min(x_2^a, x_2^b) - \max(x_1^a, x_1^b)),

    likewise :math:`h_\cap`, and :math:`\mathrm{IoU} = \frac{w_\cap h_\cap}{|a| + |b| -
    w_\cap h_\cap}`. Coordinates are continuous (no ``+ 1``), as torchvision's ``box_iou``
    and COCO's ``mask.iou``. All N·M pairs are computed at once by broadcasting the
    (N, 1, 2) corners against the (1, M, 2) corners: O(NM) memory, fine for thousands of
    boxes.

    Examples
    --------
    >>> box_iou([[0.0, 0.0, 2.0, 2.0]], [[1.0, 1.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0]])
    array([[0.14285714, 1.        ]])
    """
    func = "box_iou"
    a = _as_boxes(boxes1, name="boxes1", func=func)
    b = _as_boxes(boxes2, name="boxes2", func=func)
    return _iou(a, b)


# --------------------------------------------------------------------------------------------
# non-maximum suppression
# --------------------------------------------------------------------------------------------


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    # A stable sort of -scores: equal scores keep their input order (lower index first).
    order = np.argsort(-scores, kind="stable")
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for rank, i in enumerate(order):
        if suppressed[rank]:
            continue
        keep.append(i)
        rest = order[rank + 1 :]
        # One row of IoUs per kept box: O(N) memory instead of the full (N, N) matrix.
        overlap = _iou(boxes[i : i + 1], boxes[rest])[0]
        suppressed[rank + 1 :] |= overlap > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def nms(boxes: Any, scores: Any, iou_threshold: float) -> np.ndarray:
    r"""Greedy non-maximum suppression: keep the best box, drop those overlapping it, repeat.

    Parameters
    ----------
    boxes : array_like of float, shape (N, 4)
        xyxy boxes.
    scores : array_like of float, shape (N,)
        One score per box; higher is better.
    iou_threshold : float in [0, 1]
        A box is suppressed when its IoU with a kept, higher-scored box is strictly greater
        than this (as torchvision's ``nms`` and ``tf.image.non_max_suppression``).

    Returns
    -------
    keep : ndarray of int64, shape (K,)
        Indices into `boxes` of the kept boxes, in decreasing score order.

    Notes
    -----
    Sort the boxes by score, :math:`s_{\pi(1)} \ge s_{\pi(2)} \ge \dots`; walk down the
    list and keep box :math:`\pi(k)` unless :math:`\mathrm{IoU}(\pi(k), \pi(j)) > t` for a
    kept :math:`j < k`. The cost is O(NK) IoUs for K kept boxes (O(N²) at worst).

    **Ties.** Equal scores are ordered by index, lower index first (a stable sort), so the
    result is deterministic. torchvision does not promise an order for ties, and
    frameworks can disagree there; so does any answer whose IoU lies exactly on the
    threshold, where rounding decides.

    Examples
    --------
    >>> boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30]]
    >>> nms(boxes, [0.9, 0.8, 0.7], iou_threshold=0.5)
    array([0, 2])
    >>> nms(boxes, [0.5, 0.5, 0.5], iou_threshold=0.5)  # a tie: lower index first
    array([0, 2])
    """
    func = "nms"
    boxes = _as_boxes(boxes, name="boxes", func=func)
    scores = _as_scores(scores, len(boxes), name="scores", func=func)
    t = _check_unit_interval(iou_threshold, name="iou_threshold", func=func)
    return _nms(boxes, scores, t)


def batched_nms(boxes: Any, scores: Any, classes: Any, iou_threshold: float) -> np.ndarray:
    """Non-maximum suppression within each class: boxes of different classes never suppress.

    Parameters
    ----------
    boxes : array_like of float, shape (N, 4)
        xyxy boxes.
    scores : array_like of float, shape (N,)
        One score per box.
    classes : array_like of int, shape (N,)
        Each box's class (non-negative integers).
    iou_threshold : float in [0, 1]
        As for :func:`nms`.

    Returns
    -------
    keep : ndarray of int64, shape (K,)
        Indices of the kept boxes, all classes together, in decreasing score order (equal
        scores: lower index first).

    Notes
    -----
    The result is the union over classes c of ``nms`` on the boxes of class c. torchvision
    gets it from a single ``nms`` call by shifting each class's boxes by ``c * (max + 1)``
    along both axes, so that boxes of different classes are disjoint. That trick adds a
    large number to every coordinate and rounds the IoUs near a threshold differently;
    this loop over the classes present runs the same suppression on the original numbers.

    Examples
    --------
    >>> boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10]]
    >>> batched_nms(boxes, [0.9, 0.8, 0.7], [0, 0, 1], iou_threshold=0.5)
    array([0, 2])
    """
    func = "batched_nms"
    boxes = _as_boxes(boxes, name="boxes", func=func)
    scores = _as_scores(scores, len(boxes), name="scores", func=func)
    classes = _as_box_labels(classes, len(boxes), name="classes", func=func)
    t = _check_unit_interval(iou_threshold, name="iou_threshold", func=func)
    kept = [np.empty(0, dtype=np.int64)]
    for c in np.unique(classes):
        members = np.flatnonzero(classes == c)
        kept.append(members[_nms(boxes[members], scores[members], t)])
    keep = np.concatenate(kept)
    # Ordering by (-score, index) gives the documented tie rule across classes too.
    return keep[np.lexsort((keep, -scores[keep]))]


# --------------------------------------------------------------------------------------------
# anchors and the box coder
# --------------------------------------------------------------------------------------------


def _as_positive_tuple(value: Any, *, name: str, func: str) -> tuple[float, ...]:
    arr = as_float_array(value, name=name, func=func, ndim=(0, 1)).reshape(-1)
    if arr.size == 0 or np.any(arr <= 0):
        raise ValueError(f"{func}: {name} must be one or more positive numbers, got {value!r}")
    return tuple(float(v) for v in arr)


def make_anchors(
    feature_shape: Any,
    stride: Any,
    sizes: Any = (32.0,),
    aspect_ratios: Any = (0.5, 1.0, 2.0),
    offset: float = 0.5,
) -> np.ndarray:
    r"""The anchors of one feature map: A = len(sizes)·len(aspect_ratios) boxes per cell.

    Parameters
    ----------
    feature_shape : pair of int
        (H, W), the feature map's height and width in cells.
    stride : int or pair of int
        Image pixels per feature cell, (stride_y, stride_x) or one number for both.
    sizes : sequence of float
        Anchor sizes in pixels: an anchor of size s has area s².
    aspect_ratios : sequence of float
        Height over width, r = h / w (torchvision's convention): 0.5 is wide, 2 is tall.
    offset : float, default 0.5
        Cell (i, j)'s anchors are centred at ``((j + offset)·stride_x, (i + offset)·stride_y)``;
        0.5 puts them at the cell's centre (Detectron2's ``offset=0.5``), 0 at its top-left
        corner (torchvision's ``AnchorGenerator``).

    Returns
    -------
    anchors : ndarray of float64, shape (H·W·A, 4)
        xyxy anchors. Row ``(i·W + j)·A + a`` is anchor a of cell (i, j): cells in row-major
        order, and within a cell ``a = r_index·len(sizes) + s_index`` (aspect ratios outer,
        sizes inner), the order torchvision uses, so the rows line up with a head's output
        reshaped from (A·k, H, W) to (H·W·A, k).

    Notes
    -----
    An anchor of size s and ratio r keeps the area s² and has :math:`w = s/\sqrt{r}`,
    :math:`h = s\sqrt{r}`. The anchors are the A base boxes centred at 0 plus one shift
    per cell: an outer sum of an (H·W, 1, 4) grid of shifts
    :math:`(c_x, c_y, c_x, c_y)` and a (1, A, 4) array of base boxes
    :math:`(-w/2, -h/2, w/2, h/2)`. torchvision rounds the base boxes to whole pixels; these
    are not rounded.

    Examples
    --------
    >>> make_anchors((1, 2), stride=16, sizes=(8,), aspect_ratios=(1.0,))
    array([[ 4.,  4., 12., 12.],
           [20.,  4., 28., 12.]])
    >>> make_anchors((2, 3), 8, sizes=(16, 32), aspect_ratios=(0.5, 1, 2)).shape
    (36, 4)
    """
    func = "make_anchors"
    if not isinstance(feature_shape, Sequence) or len(feature_shape) != 2:
        raise ValueError(f"{func}: feature_shape must be a pair (H, W), got {feature_shape!r}")
    H = check_positive_int(feature_shape[0], name="feature_shape[0]", func=func)
    W = check_positive_int(feature_shape[1], name="feature_shape[1]", func=func)
    strides = _as_positive_tuple(stride, name="stride", func=func)
    if len(strides) not in (1, 2):
        raise ValueError(f"{func}: stride must be one number or a pair, got {stride!r}")
    stride_y, stride_x = strides if len(strides) == 2 else strides * 2
    sizes_ = np.asarray(_as_positive_tuple(sizes, name="sizes", func=func))
    ratios = np.asarray(_as_positive_tuple(aspect_ratios, name="aspect_ratios", func=func))
    if isinstance(offset, bool) or not isinstance(offset, (int, float)) or not 0 <= offset <= 1:
        raise ValueError(f"{func}: offset must be a number in [0, 1], got {offset!r}")

    widths = (sizes_[None, :] / np.sqrt(ratios)[:, None]).reshape(-1)  # (A,), ratios outer
    heights = (sizes_[None, :] * np.sqrt(ratios)[:, None]).reshape(-1)
    base = np.stack([-widths, -heights, widths, heights], axis=1) / 2  # (A, 4)
    cy, cx = np.meshgrid(
        (np.arange(H) + offset) * stride_y, (np.arange(W) + offset) * stride_x, indexing="ij"
    )
    shifts = np.stack([cx, cy, cx, cy], axis=-1).reshape(-1, 1, 4)  # (H·W, 1, 4), row-major
    return (shifts + base[None, :, :]).reshape(-1, 4)


def _check_weights(weights: Any, func: str) -> np.ndarray:
    w = as_float_array(weights, name="weights", func=func, ndim=1)
    if w.shape != (4,) or np.any(w <= 0):
        raise ValueError(
            f"{func}: weights must be four positive numbers (wx, wy, ww, wh), got {weights!r}"
        )
    return w


def _positive_size_boxes(value: Any, *, name: str, func: str) -> np.ndarray:
    boxes = _as_boxes(value, name=name, func=func)
    degenerate = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if degenerate.any():
        i = int(np.flatnonzero(degenerate)[0])
        raise ValueError(
            f"{func}: {name} must have positive width and height (the log of the size ratio), "
            f"box {i} is {boxes[i].tolist()}"
        )
    return boxes


def encode_boxes(boxes: Any, anchors: Any, weights: Any = DEFAULT_WEIGHTS) -> np.ndarray:
    r"""Faster R-CNN's regression targets: the deltas that move each anchor onto its box.

    Parameters
    ----------
    boxes : array_like of float, shape (N, 4)
        Target xyxy boxes, positive width and height.
    anchors : array_like of float, shape (N, 4)
        xyxy anchors (or proposals), one per box, positive width and height.
    weights : sequence of 4 float, default (10, 10, 5, 5)
        (wx, wy, ww, wh), multiplying the four deltas (torchvision's ``BoxCoder`` weights for
        the second stage; the RPN uses (1, 1, 1, 1)).

    Returns
    -------
    deltas : ndarray, shape (N, 4)
        (dx, dy, dw, dh) per box.

    Notes
    -----
    With the anchor's centre and size :math:`(x_a, y_a, w_a, h_a)` and the box's
    :math:`(x, y, w, h)`,

    .. math:: d_x = w_x \frac{x - x_a}{w_a}, \quad d_y = w_y \frac{y - y_a}{h_a}, \quad
              d_w = w_w \log\frac{w}{w_a}, \quad d_h = w_h \log\frac{h}{h_a}.

    Dividing by the anchor's size makes the targets scale-invariant; the log makes a box
    twice or half the anchor's width equally far from 0. The weights scale the targets to a
    variance that suits the loss. :func:`decode_boxes` is the inverse.

    Examples
    --------
    >>> encode_boxes([[1.0, 2.0, 11.0, 14.0]], [[0.0, 0.0, 10.0, 10.0]], weights=(1, 1, 1, 1))
    array([[0.1       , 0.3       , 0.        , 0.18232156]])
    """
    func = "encode_boxes"
    boxes = _positive_size_boxes(boxes, name="boxes", func=func)
    anchors = _positive_size_boxes(anchors, name="anchors", func=func)
    if boxes.shape != anchors.shape:
        raise ValueError(
            f"{func}: boxes has {len(boxes)} rows but anchors has {len(anchors)}; "
            "encode one box per anchor"
        )
    wx, wy, ww, wh = _check_weights(weights, func)
    x, y, w, h = np.moveaxis(_from_xyxy(boxes, "cxcywh"), -1, 0)
    xa, ya, wa, ha = np.moveaxis(_from_xyxy(anchors, "cxcywh"), -1, 0)
    deltas = [wx * (x - xa) / wa, wy * (y - ya) / ha, ww * np.log(w / wa), wh * np.log(h / ha)]
    return np.stack(deltas, axis=1)


def decode_boxes(
    deltas: Any,
    anchors: Any,
    weights: Any = DEFAULT_WEIGHTS,
    scale_clip: float | None = DEFAULT_SCALE_CLIP,
) -> np.ndarray:
    r"""Apply predicted deltas to anchors: the inverse of :func:`encode_boxes`.

    Parameters
    ----------
    deltas : array_like of float, shape (N, 4)
        (dx, dy, dw, dh) per anchor.
    anchors : array_like of float, shape (N, 4)
        xyxy anchors, positive width and height.
    weights : sequence of 4 float, default (10, 10, 5, 5)
        The weights the deltas were encoded with.
    scale_clip : float or None, default log(1000 / 16)
        ``dw / ww`` and ``dh / wh`` are capped at this before the exponential, as torchvision
        does, so that an untrained network's large outputs do not overflow; None: no cap.

    Returns
    -------
    boxes : ndarray, shape (N, 4)
        xyxy boxes.

    Notes
    -----
    Solving the encoding for the box,

    .. math:: x = x_a + w_a \frac{d_x}{w_x}, \quad y = y_a + h_a \frac{d_y}{w_y}, \quad
              w = w_a e^{d_w / w_w}, \quad h = h_a e^{d_h / w_h},

    then the corners :math:`x \pm w/2`, :math:`y \pm h/2`. For boxes at most 62.5 times an
    anchor's size the cap does not bite, and ``decode_boxes(encode_boxes(b, a), a)`` is
    ``b`` up to rounding.

    Examples
    --------
    >>> anchors = [[0.0, 0.0, 10.0, 10.0]]
    >>> decode_boxes(encode_boxes([[1.0, 2.0, 11.0, 14.0]], anchors), anchors)
    array([[ 1.,  2., 11., 14.]])
    """
    func = "decode_boxes"
    deltas = as_float_array(deltas, name="deltas", func=func, ndim=2)
    if deltas.shape[1] != 4:
        raise ValueError(
            f"{func}: deltas must have shape (N, 4), (dx, dy, dw, dh) per row, "
            f"got shape {deltas.shape}"
        )
    anchors = _positive_size_boxes(anchors, name="anchors", func=func)
    if len(deltas) != len(anchors):
        raise ValueError(
            f"{func}: deltas has {len(deltas)} rows but anchors has {len(anchors)}; "
            "decode one delta per anchor"
        )
    wx, wy, ww, wh = _check_weights(weights, func)
    if scale_clip is not None and (
        isinstance(scale_clip, bool)
        or not isinstance(scale_clip, (int, float))
        or not scale_clip > 0
    ):
        raise ValueError(
            f"{func}: scale_clip must be a positive number or None, got {scale_clip!r}"
        )
    xa, ya, wa, ha = np.moveaxis(_from_xyxy(anchors, "cxcywh"), -1, 0)
    log_w, log_h = deltas[:, 2] / ww, deltas[:, 3] / wh
    if scale_clip is not None:
        log_w, log_h = np.minimum(log_w, scale_clip), np.minimum(log_h, scale_clip)
    centre_size = [xa + wa * deltas[:, 0] / wx, ya + ha * deltas[:, 1] / wy]
    centre_size += [wa * np.exp(log_w), ha * np.exp(log_h)]
    return _to_xyxy(np.stack(centre_size, axis=1), "cxcywh")


# --------------------------------------------------------------------------------------------
# training targets
# --------------------------------------------------------------------------------------------


class TargetAssignment(NamedTuple):
    """What :func:`assign_targets` returns, one entry per anchor.

    Attributes
    ----------
    matched_gt : ndarray of int64, shape (A,)
        The index of the anchor's ground-truth box, or :data:`BACKGROUND` (-1), or
        :data:`IGNORE` (-2).
    labels : ndarray of int64, shape (A,)
        ``gt_labels[matched_gt]`` for positive anchors; -1 (background) or -2 (ignore)
        otherwise, the same codes as `matched_gt`.
    max_iou : ndarray of float64, shape (A,)
        Each anchor's largest IoU with any ground-truth box (0 when there is none).
    """

    matched_gt: np.ndarray
    labels: np.ndarray
    max_iou: np.ndarray


def assign_targets(
    anchors: Any,
    gt_boxes: Any,
    gt_labels: Any,
    pos_iou: float = 0.5,
    neg_iou: float = 0.4,
) -> TargetAssignment:
    r"""Give each anchor a ground-truth box, background or "ignore" by IoU.

    Parameters
    ----------
    anchors : array_like of float, shape (A, 4)
        xyxy anchors.
    gt_boxes : array_like of float, shape (G, 4)
        xyxy ground-truth boxes of one image (G may be 0).
    gt_labels : array_like of int, shape (G,)
        Their classes (non-negative integers).
    pos_iou : float in [0, 1], default 0.5
        An anchor whose best IoU is >= this is positive, matched to that ground truth.
    neg_iou : float in [0, pos_iou], default 0.4
        An anchor whose best IoU is < this is background. Those in between are ignored.
        (RetinaNet's 0.5 / 0.4; Faster R-CNN's RPN uses 0.7 / 0.3.)

    Returns
    -------
    TargetAssignment
        ``(matched_gt, labels, max_iou)``, each of shape (A,).

    Notes
    -----
    With the (A, G) matrix :math:`Q = \mathrm{IoU}(\text{anchors}, \text{gt})`, anchor a
    gets :math:`g^*(a) = \arg\max_g Q_{ag}` (lowest g on ties) and

    .. math:: \text{matched}(a) = \begin{cases} g^*(a) & Q_{a g^*} \ge \text{pos\_iou} \\
              \text{IGNORE} & \text{neg\_iou} \le Q_{a g^*} < \text{pos\_iou} \\
              \text{BACKGROUND} & Q_{a g^*} < \text{neg\_iou}. \end{cases}

    **Low-quality matches.** A small or oddly shaped object may reach pos_iou with no
    anchor, and would then never be trained on. So each ground truth g with
    :math:`\max_a Q_{ag} > 0` also forces its best anchor :math:`a^*(g) = \arg\max_a
    Q_{ag}` (lowest a on ties) positive. When several ground truths choose the same
    anchor, the anchor goes to the one it overlaps most, :math:`g^*(a)` among them (lowest
    g on ties). A ground truth that overlaps no anchor at all stays unmatched.
    torchvision's ``Matcher(allow_low_quality_matches=True)`` differs in two details: it
    forces every anchor tied for a ground truth's best IoU, and matches it to that anchor's
    own :math:`g^*(a)`, so a ground truth can still end with no anchor.

    Examples
    --------
    >>> anchors = [[0, 0, 10, 10], [5, 0, 15, 10], [20, 0, 30, 10], [40, 0, 50, 10]]
    >>> result = assign_targets(anchors, [[0, 0, 10, 10], [22, 0, 36, 10]], [3, 7])
    >>> result.matched_gt, result.labels
    (array([ 0, -1,  1, -1]), array([ 3, -1,  7, -1]))
    """
    func = "assign_targets"
    anchors = _as_boxes(anchors, name="anchors", func=func)
    gt_boxes = _as_boxes(gt_boxes, name="gt_boxes", func=func)
    gt_labels = _as_box_labels(gt_labels, len(gt_boxes), name="gt_labels", func=func)
    pos = _check_unit_interval(pos_iou, name="pos_iou", func=func)
    neg = _check_unit_interval(neg_iou, name="neg_iou", func=func)
    if neg > pos:
        raise ValueError(f"{func}: neg_iou ({neg}) must not exceed pos_iou ({pos})")
    n_anchors = len(anchors)
    if len(gt_boxes) == 0:
        background = np.full(n_anchors, BACKGROUND, dtype=np.int64)
        return TargetAssignment(background, background.copy(), np.zeros(n_anchors))

    iou = _iou(anchors.astype(np.float64), gt_boxes.astype(np.float64))  # (A, G)
    best_gt = iou.argmax(axis=1)
    max_iou = iou[np.arange(n_anchors), best_gt]
    matched = np.where(max_iou >= pos, best_gt, np.where(max_iou < neg, BACKGROUND, IGNORE))

    best_anchor = iou.argmax(axis=0)  # (G,)
    overlapping = np.flatnonzero(iou[best_anchor, np.arange(len(gt_boxes))] > 0)
    for a in np.unique(best_anchor[overlapping]):
        claimants = overlapping[best_anchor[overlapping] == a]  # increasing g
        matched[a] = claimants[np.argmax(iou[a, claimants])]
    matched = matched.astype(np.int64)
    labels = np.where(matched >= 0, gt_labels[np.maximum(matched, 0)], matched)
    return TargetAssignment(matched, labels.astype(np.int64), max_iou)


# --------------------------------------------------------------------------------------------
# evaluation: COCO average precision
# --------------------------------------------------------------------------------------------


def _match(iou: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy COCO matching of score-sorted detections (rows) to gts (columns)."""
    # cocoeval.py caps the threshold just below 1 and matches at IoU >= threshold.
    threshold = min(threshold, 1 - 1e-10)
    n_det, n_gt = iou.shape
    taken = np.zeros(n_gt, dtype=bool)
    matched = np.full(n_det, -1, dtype=np.int64)
    for d in range(n_det):
        best, best_iou = -1, threshold
        for g in range(n_gt):
            # ">=" keeps the last of equal IoUs, as cocoeval's `if ious < iou: continue`.
            if not taken[g] and iou[d, g] >= best_iou:
                best, best_iou = g, iou[d, g]
        if best >= 0:
            taken[best] = True
            matched[d] = best
    return matched


def match_detections(
    det_boxes: Any, det_scores: Any, gt_boxes: Any, iou_threshold: float = 0.5
) -> np.ndarray:
    r"""COCO's greedy matching of one image's detections of one class to its ground truth.

    Parameters
    ----------
    det_boxes : array_like of float, shape (K, 4)
        xyxy detections.
    det_scores : array_like of float, shape (K,)
        Their scores.
    gt_boxes : array_like of float, shape (G, 4)
        xyxy ground-truth boxes of the same image and class.
    iou_threshold : float in [0, 1], default 0.5
        A detection may match a ground truth with IoU >= this (COCO's rule; thresholds of 1
        act as 1 - 1e-10).

    Returns
    -------
    matched_gt : ndarray of int64, shape (K,)
        For each detection (in input order) the ground truth it matched, or -1: a false
        positive.

    Notes
    -----
    Detections are visited in decreasing score (ties: input order). Each takes, among the
    ground truths not yet taken, the one of largest IoU if that IoU reaches the threshold
    (on equal IoUs the later ground truth, as ``cocoeval.py``'s loop). A ground truth is
    matched at most once, so a duplicate detection of a found object is a false positive.
    This is greedy, not an optimal (Hungarian) assignment; COCO and Pascal VOC both use it.

    Examples
    --------
    >>> gt = [[0, 0, 10, 10]]
    >>> match_detections([[0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 60, 60]], [0.6, 0.9, 0.8], gt)
    array([-1,  0, -1])
    """
    func = "match_detections"
    det_boxes = _as_boxes(det_boxes, name="det_boxes", func=func)
    det_scores = _as_scores(det_scores, len(det_boxes), name="det_scores", func=func)
    gt_boxes = _as_boxes(gt_boxes, name="gt_boxes", func=func)
    t = _check_unit_interval(iou_threshold, name="iou_threshold", func=func)
    order = np.argsort(-det_scores, kind="stable")
    iou = _iou(det_boxes[order].astype(np.float64), gt_boxes.astype(np.float64))
    matched = np.empty(len(order), dtype=np.int64)
    matched[order] = _match(iou, t)
    return matched


def _average_precision(scores: np.ndarray, is_tp: np.ndarray, num_gt: int) -> float:
    if num_gt == 0:
        return -1.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(is_tp[order], dtype=np.float64)
    fp = np.cumsum(~is_tp[order], dtype=np.float64)
    recall = tp / num_gt
    precision = tp / (tp + fp + np.spacing(1))  # cocoeval.py's eps guards 0 / 0
    # The envelope: precision at recall r becomes the best precision at any recall >= r.
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    first_reaching = np.searchsorted(recall, _RECALL_POINTS, side="left")
    sampled = np.zeros(len(_RECALL_POINTS))
    reached = first_reaching < len(precision)
    sampled[reached] = precision[first_reaching[reached]]
    return float(sampled.mean())


def average_precision(scores: Any, is_true_positive: Any, num_ground_truth: int) -> float:
    r"""COCO's 101-point interpolated average precision of one ranked list of detections.

    Parameters
    ----------
    scores : array_like of float, shape (K,)
        The scores of all detections of one class (over all images).
    is_true_positive : array_like of bool, shape (K,)
        Whether each detection matched a ground truth (see :func:`match_detections`).
    num_ground_truth : int
        The number of ground-truth boxes of the class, found or not.

    Returns
    -------
    float
        AP in [0, 1], or -1.0 when `num_ground_truth` is 0: COCO's code for "undefined",
        which :func:`mean_average_precision` leaves out of the mean.

    Notes
    -----
    Sort by score (stable: ties keep their input order) and take the k best:
    :math:`P_k = TP_k / k` and :math:`R_k = TP_k / G`. The interpolated precision
    :math:`\hat P(r) = \max_{k: R_k \ge r} P_k` is non-increasing in r (0 past the largest
    recall reached), and COCO averages it over the 101 recalls r = 0, 0.01, ..., 1:

    .. math:: \mathrm{AP} = \frac{1}{101} \sum_{i=0}^{100} \hat P(i / 100).

    Pascal VOC 2007 used 11 points, VOC 2010+ the exact area under :math:`\hat P`. A
    detection list with no true positive has AP 0; so does an empty one.

    Examples
    --------
    >>> ap = average_precision([0.9, 0.8, 0.7], [True, False, True], num_ground_truth=2)
    >>> round(ap, 6), round((51 * 1 + 50 * 2 / 3) / 101, 6)  # P = 1 up to R = 0.5, then 2/3
    (0.834983, 0.834983)
    >>> average_precision([0.9], [False], num_ground_truth=0)
    -1.0
    """
    func = "average_precision"
    scores = as_float_array(scores, name="scores", func=func, ndim=1)
    flags = np.asarray(is_true_positive)
    if flags.dtype != np.bool_ or flags.ndim != 1:
        raise ValueError(
            f"{func}: is_true_positive must be a 1-D array of bool, got dtype {flags.dtype} "
            f"and shape {flags.shape}"
        )
    if flags.shape != scores.shape:
        raise ValueError(
            f"{func}: scores has {len(scores)} entries but is_true_positive has {len(flags)}"
        )
    if isinstance(num_ground_truth, bool) or not isinstance(num_ground_truth, (int, np.integer)):
        raise ValueError(f"{func}: num_ground_truth must be an int, got {num_ground_truth!r}")
    if num_ground_truth < 0 or flags.sum() > num_ground_truth:
        raise ValueError(
            f"{func}: num_ground_truth ({num_ground_truth}) must be >= 0 and at least the "
            f"number of true positives ({int(flags.sum())})"
        )
    return _average_precision(scores, flags, int(num_ground_truth))


def _image_entry(entry: Any, keys: tuple[str, ...], *, name: str, func: str) -> dict:
    if not isinstance(entry, Mapping) or any(k not in entry for k in keys):
        raise ValueError(f"{func}: {name} must be a mapping with keys {keys}, got {entry!r}")
    out = {"boxes": _as_boxes(entry["boxes"], name=f"{name}['boxes']", func=func)}
    n = len(out["boxes"])
    out["labels"] = _as_box_labels(entry["labels"], n, name=f"{name}['labels']", func=func)
    if "scores" in keys:
        out["scores"] = _as_scores(entry["scores"], n, name=f"{name}['scores']", func=func)
    return out


def mean_average_precision(
    detections: Sequence[Mapping[str, Any]],
    ground_truths: Sequence[Mapping[str, Any]],
    iou_thresholds: Any = COCO_IOU_THRESHOLDS,
    max_detections: int = 100,
) -> float:
    r"""COCO's mean average precision, over classes and IoU thresholds.

    Parameters
    ----------
    detections : sequence of mapping, one per image
        Each with ``"boxes"`` (K, 4) xyxy, ``"scores"`` (K,) and ``"labels"`` (K,) int.
    ground_truths : sequence of mapping, one per image, in the same order
        Each with ``"boxes"`` (G, 4) xyxy and ``"labels"`` (G,) int.
    iou_thresholds : sequence of float in [0, 1], default 0.5, 0.55, ..., 0.95
        ``(0.5,)`` gives AP@0.5 (Pascal VOC's metric, COCO's ``AP50``); the default gives
        COCO's headline AP@[.5:.95].
    max_detections : int, default 100
        Only the best `max_detections` detections of each image and class count (COCO's
        ``maxDets``).

    Returns
    -------
    float
        The mean of AP over every (class, threshold) pair whose class has ground truth, or
        -1.0 when no class has any (COCOeval's "undefined").

    Notes
    -----
    This is ``COCOeval`` for boxes with ``areaRng`` all, ``maxDets`` = `max_detections`,
    and no crowd annotations. For each class c and threshold t:

    1. in each image, sort c's detections by score (stable) and keep the first
       `max_detections`; match them to c's ground truth with :func:`match_detections`;
    2. pool the detections of all images (image order, then rank) and compute
       :func:`average_precision` with :math:`G_c` the number of c's ground-truth boxes.

    Then :math:`\mathrm{mAP} = \frac{1}{|C||T|} \sum_{c \in C} \sum_{t \in T}
    \mathrm{AP}_{c,t}`, where C holds the classes with :math:`G_c > 0`. Edge rules, all as
    COCO: a class with no ground truth is skipped (AP -1), even if it has detections; a class
    with ground truth but no detection has AP 0; an image with detections and no ground
    truth contributes false positives; ties in score across images go to the earlier
    image.

    Examples
    --------
    >>> ground_truths = [{"boxes": [[0, 0, 10, 10]], "labels": [0]}]
    >>> detections = [{"boxes": [[0, 0, 10, 10], [0, 0, 10, 7.2]], "scores": [0.5, 0.9],
    ...                "labels": [0, 0]}]
    >>> round(mean_average_precision(detections, ground_truths, iou_thresholds=(0.5,)), 12)
    1.0

    The best-scored box has IoU 0.72: a hit up to the threshold 0.7, a false positive above
    it, where AP is 0.5; the mean over the ten thresholds is (5 · 1 + 5 · 0.5) / 10.

    >>> round(mean_average_precision(detections, ground_truths), 12)
    0.75
    """
    func = "mean_average_precision"
    if isinstance(detections, Mapping) or not isinstance(detections, Sequence):
        raise ValueError(f"{func}: detections must be a sequence with one mapping per image")
    if isinstance(ground_truths, Mapping) or not isinstance(ground_truths, Sequence):
        raise ValueError(f"{func}: ground_truths must be a sequence with one mapping per image")
    if len(detections) != len(ground_truths):
        raise ValueError(
            f"{func}: detections has {len(detections)} images but ground_truths has "
            f"{len(ground_truths)}"
        )
    dets = [
        _image_entry(e, ("boxes", "scores", "labels"), name=f"detections[{i}]", func=func)
        for i, e in enumerate(detections)
    ]
    gts = [
        _image_entry(e, ("boxes", "labels"), name=f"ground_truths[{i}]", func=func)
        for i, e in enumerate(ground_truths)
    ]
    thresholds = np.atleast_1d(as_float_array(iou_thresholds, name="iou_thresholds", func=func))
    if thresholds.ndim != 1 or thresholds.size == 0:
        raise ValueError(f"{func}: iou_thresholds must be a non-empty 1-D sequence")
    if np.any((thresholds < 0) | (thresholds > 1)):
        raise ValueError(f"{func}: iou_thresholds must lie in [0, 1], got {thresholds.tolist()}")
    max_dets = check_positive_int(max_detections, name="max_detections", func=func)

    gt_classes = np.unique(np.concatenate([np.empty(0, np.int64)] + [g["labels"] for g in gts]))
    aps = []
    for c in gt_classes:  # classes of detections alone are skipped (AP -1)
        num_gt = sum(int(np.sum(g["labels"] == c)) for g in gts)
        per_image = []  # (scores in rank order, (K, G) IoU matrix) of each image
        for d, g in zip(dets, gts, strict=True):
            mine = np.flatnonzero(d["labels"] == c)
            ranked = mine[np.argsort(-d["scores"][mine], kind="stable")][:max_dets]
            iou = _iou(
                d["boxes"][ranked].astype(np.float64),
                g["boxes"][g["labels"] == c].astype(np.float64),
            )
            per_image.append((d["scores"][ranked].astype(np.float64), iou))
        scores = np.concatenate([s for s, _ in per_image])
        for t in thresholds:
            is_tp = np.concatenate([_match(iou, float(t)) >= 0 for _, iou in per_image])
            aps.append(_average_precision(scores, is_tp, num_gt))
    return float(np.mean(aps)) if aps else -1.0
