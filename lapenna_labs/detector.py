r"""A small single-shot detector (FCOS-style, one feature map at stride 8), week 9.

The detector's output is one tensor of shape (N, 5 + C, GH, GW) with GH = H / stride and
GW = W / stride: a grid of cells, each with a column of 5 + C numbers. Read as linear
algebra, the last layer is a 1x1 convolution, that is one GEMM of the (5 + C, F) head
matrix with the (F, GH * GW) matrix of feature columns, one column per cell.

Channels of cell (i, j), whose centre is the pixel point
:math:`p = ((j + \tfrac12) s, (i + \tfrac12) s)` for stride :math:`s`:

* 0..3: raw distances :math:`u_l, u_t, u_r, u_b`; the box edges are at
  :math:`d = s \exp(u)` pixels left, above, right and below :math:`p`, so the box is
  :math:`(p_x - d_l, p_y - d_t, p_x + d_r, p_y + d_b)` (xyxy).
* 4: the centerness logit (FCOS's "objectness": how close p is to its box's centre).
* 5..5+C-1: one logit per class (independent sigmoids, not a softmax).

Torch is imported only inside the functions that build or run models.

References
----------
.. [1] J. Redmon, S. Divvala, R. Girshick and A. Farhadi, "You Only Look Once: Unified,
   Real-Time Object Detection", CVPR 2016.
.. [2] Z. Tian, C. Shen, H. Chen and T. He, "FCOS: Fully Convolutional One-Stage Object
   Detection", ICCV 2019.
.. [3] T.-Y. Lin, P. Goyal, R. Girshick, K. He and P. Dollar, "Focal Loss for Dense Object
   Detection", ICCV 2017.
.. [4] H. Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import numpy as np

from lapenna_labs import detection
from lapenna_labs._torch_models import (
    check_images,
    check_module,
    check_training_settings,
    run_in_batches,
    torch_device,
    train_with_adam,
)
from lapenna_labs._validation import (
    check_nonnegative_int,
    check_positive_int,
)
from lapenna_labs.blas.devices import _import_torch

__all__ = [
    "DETECTOR_STRIDE",
    "decode_detections",
    "detect",
    "detector_cost",
    "detector_loss",
    "detector_targets",
    "make_detector",
    "train_detector",
]

#: The stride of the detector's single feature map (three stride-2 convolutions).
DETECTOR_STRIDE = 8

#: Channels before the class logits: four distances and the centerness logit.
BOX_CHANNELS = 5

_BYTES_PER_FLOAT32 = 4
_MAX_LOG_DISTANCE = 8.0  # exp(8) * stride is far beyond any image: keeps exp finite


# --------------------------------------------------------------------------- validation


def _check_unit(value: Any, name: str, func: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{func}: {name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _check_stride(stride: Any, func: str) -> int:
    stride = check_positive_int(stride, name="stride", func=func)
    if stride < 2 or stride & (stride - 1):
        raise ValueError(f"{func}: stride must be a power of two >= 2, got {stride}")
    return stride


def _check_image_size(image_size: Any, stride: int, func: str) -> tuple[int, int]:
    if np.ndim(image_size) == 0:
        image_size = (image_size, image_size)
    if len(image_size) != 2:
        raise ValueError(f"{func}: image_size must be an int or (H, W), got {image_size!r}")
    h, w = (check_positive_int(v, name="image_size", func=func) for v in image_size)
    if h % stride or w % stride:
        raise ValueError(
            f"{func}: the stride {stride} must divide the image size, got {h} x {w} "
            f"(use multiples of {stride}, e.g. {max(stride, h // stride * stride)} x "
            f"{max(stride, w // stride * stride)})"
        )
    return h, w


def _check_boxes_labels(
    boxes: Any, labels: Any, func: str
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-image boxes as float64 (k, 4) and labels as int64 (k,), or a clear ValueError."""
    if isinstance(boxes, np.ndarray) or isinstance(labels, np.ndarray):
        boxes, labels = list(boxes), list(labels)
    if len(boxes) != len(labels):
        raise ValueError(
            f"{func}: boxes and labels must be lists of the same length (one entry per image), "
            f"got {len(boxes)} and {len(labels)}"
        )
    out_b, out_l = [], []
    for n, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        b = np.asarray(b, dtype=np.float64)
        if b.size == 0:
            b = b.reshape(0, 4)
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f"{func}: boxes[{n}] must have shape (k, 4), got {b.shape}")
        if not np.isfinite(b).all():
            raise ValueError(f"{func}: boxes[{n}] contain NaN or infinite values")
        lab = np.asarray(lab)
        if lab.ndim > 1:
            raise ValueError(f"{func}: labels[{n}] must have shape (k,), got {lab.shape}")
        lab = lab.reshape(-1)
        if len(lab) != len(b):
            raise ValueError(f"{func}: image {n} has {len(b)} boxes but {len(lab)} labels")
        if len(lab) and not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"{func}: labels[{n}] must be integers, got {lab.dtype}")
        if len(lab) and lab.min() < 0:
            raise ValueError(f"{func}: labels[{n}] must be >= 0, got {int(lab.min())}")
        if len(b) and np.any(b[:, 2:] <= b[:, :2]):
            raise ValueError(
                f"{func}: boxes[{n}] must be xyxy with x2 > x1 and y2 > y1 "
                "(convert other formats with lapenna_labs.detection.convert_boxes)"
            )
        out_b.append(b)
        out_l.append(lab.astype(np.int64))
    return out_b, out_l


def _check_model(model: Any, func: str):
    return check_module(model, func, "make_detector")


def _model_stride(model: Any, func: str) -> int:
    return _check_stride(getattr(model, "stride", DETECTOR_STRIDE), func)


def _check_images(model: Any, images: Any, stride: int, func: str) -> np.ndarray:
    """Images as C-contiguous float32 (N, C, H, W) with H and W multiples of the stride."""
    images = check_images(model, images, func)
    _check_image_size(images.shape[2:], stride, func)
    return images


# --------------------------------------------------------------------------- the model


@functools.cache
def _detector_class():
    """The module class, defined on first use so that importing this module skips torch.

    It is published as ``lapenna_labs.detector.Detector`` so that pickling finds it.
    """
    torch = _import_torch("make_detector")
    nn = torch.nn

    def block(c_in: int, c_out: int, stride: int) -> list[Any]:
        # No conv bias: the batch norm right after it has its own shift.
        return [
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        ]

    class Detector(nn.Module):
        """3x3 conv blocks down to the stride, two more at the stride, a 1x1 head."""

        def __init__(self, in_channels: int, n_classes: int, width: int, stride: int):
            super().__init__()
            self.in_channels, self.n_classes = in_channels, n_classes
            self.width, self.stride = width, stride
            n_down = stride.bit_length() - 1  # log2(stride) stride-2 convolutions
            # Channels: width // 2 at stride 2, width at stride 4, 2 * width from stride 8.
            chans = [max(1, width // 2)] + [width * min(2, 2**k) for k in range(n_down - 1)]
            layers = block(in_channels, chans[0], 2)
            for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
                layers += block(c_in, c_out, 2) + block(c_out, c_out, 1)
            layers += block(chans[-1], chans[-1], 1)
            self.features = nn.Sequential(*layers)
            self.head = nn.Conv2d(chans[-1], BOX_CHANNELS + n_classes, 1)
            # Focal-loss prior [3]: start every class and centerness probability near 0.01
            # so that the many negative cells do not swamp the first steps.
            prior = -math.log((1 - 0.01) / 0.01)
            with torch.no_grad():
                self.head.bias.zero_()
                self.head.bias[4:].fill_(prior)
                self.head.bias[:4].fill_(math.log(2.0))  # initial boxes of 2 strides a side

        def forward(self, x):
            return self.head(self.features(x))

        def extra_repr(self) -> str:
            return (
                f"in_channels={self.in_channels}, n_classes={self.n_classes}, "
                f"width={self.width}, stride={self.stride}"
            )

    Detector.__module__ = __name__
    Detector.__qualname__ = "Detector"
    globals()["Detector"] = Detector
    return Detector


def make_detector(
    n_classes: int = 10,
    width: int = 32,
    stride: int = DETECTOR_STRIDE,
    in_channels: int = 1,
    *,
    seed: int | None = 0,
) -> Any:
    """A small FCOS-style single-shot detector with one output map at `stride`.

    Parameters
    ----------
    n_classes : int, default 10
        Number of object classes C (the digit scenes' ten digits).
    width : int, default 32
        Channels at stride 4; the first convolution (stride 2) has ``width // 2`` and every
        map from stride 8 on ``2 * width``.
    stride : int, default 8
        A power of two >= 2: the network has ``log2(stride)`` stride-2 convolutions.
    in_channels : int, default 1
        Image channels.
    seed : int or None, default 0
        Seed of the weights' initialisation (PyTorch's defaults), drawn in a forked random
        state so that the global one is untouched; None draws from the global state.

    Returns
    -------
    torch.nn.Module
        A ``Detector`` mapping (N, in_channels, H, W) to (N, 5 + C, H / stride,
        W / stride) (see the module docstring for the channels), with ``features`` (3x3
        conv, batch norm, ReLU blocks: one of stride 2, then per further halving a stride-2
        block and a stride-1 block, and one last stride-1 block) and ``head`` (the 1x1
        convolution) submodules; its ``in_channels``, ``n_classes``, ``width`` and
        ``stride`` attributes record the configuration.

    Raises
    ------
    ValueError
        For a count below 1 or a stride that is not a power of two >= 2.
    RuntimeError
        If PyTorch is not installed.

    Examples
    --------
    >>> import torch
    >>> model = make_detector(n_classes=10, width=8)
    >>> tuple(model(torch.zeros(2, 1, 64, 48)).shape)
    (2, 15, 8, 6)
    """
    func = "make_detector"
    n_classes = check_positive_int(n_classes, name="n_classes", func=func)
    width = check_positive_int(width, name="width", func=func)
    stride = _check_stride(stride, func)
    in_channels = check_positive_int(in_channels, name="in_channels", func=func)
    if seed is not None:
        seed = check_nonnegative_int(seed, name="seed", func=func)
    torch = _import_torch(func)
    Detector = _detector_class()
    if seed is None:
        return Detector(in_channels, n_classes, width, stride)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Detector(in_channels, n_classes, width, stride)


# --------------------------------------------------------------------------- targets


def _cell_centres(gh: int, gw: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(GH, GW) x and y pixel coordinates of the cell centres."""
    xs = (np.arange(gw) + 0.5) * stride
    ys = (np.arange(gh) + 0.5) * stride
    return np.meshgrid(xs, ys)


def detector_targets(
    boxes: Any, labels: Any, image_size: Any, stride: int = DETECTOR_STRIDE
) -> dict[str, np.ndarray]:
    r"""FCOS's grid-cell assignment: which cell predicts which box, and what it should say.

    Parameters
    ----------
    boxes : list of N array_like, shape (k_i, 4)
        Ground-truth boxes of each image, xyxy pixels (``x2 > x1``, ``y2 > y1``); an image
        may have none (shape (0, 4) or an empty list).
    labels : list of N array_like of int, shape (k_i,)
        Their classes, >= 0.
    image_size : int or (H, W)
        The image size; `stride` must divide it.
    stride : int, default 8
        A power of two >= 2, the detector's.

    Returns
    -------
    dict of ndarray
        ``"labels"`` int64 (N, GH, GW): the class of the box a cell is assigned to, -1 for a
        negative (background) cell. ``"distances"`` float32 (N, 4, GH, GW): (l, t, r, b)
        pixels from the cell centre to the box's edges (0 on negative cells).
        ``"centerness"`` float32 (N, GH, GW) (0 on negative cells). ``"stride"`` the stride,
        as a 0-d int64 array. GH = H / stride, GW = W / stride.

    Raises
    ------
    ValueError
        For mismatched boxes and labels, boxes not of shape (k, 4), not finite or not xyxy
        with positive width and height, negative or non-integer labels, a stride that is
        not a power of two, or an image size the stride does not divide.

    Notes
    -----
    Cell (i, j) has centre :math:`p = ((j + \frac12)s, (i + \frac12)s)`. For a box
    :math:`(x_1, y_1, x_2, y_2)` its distances are

    .. math:: l = p_x - x_1,\quad t = p_y - y_1,\quad r = x_2 - p_x,\quad b = y_2 - p_y,

    and the cell is inside the box when :math:`\min(l, t, r, b) > 0` (strictly: a centre
    on an edge is outside). A cell inside several boxes takes the one of smallest area
    (FCOS's rule [2]_; among equal areas the first box). Centerness is

    .. math:: \sqrt{\frac{\min(l, r)}{\max(l, r)} \cdot \frac{\min(t, b)}{\max(t, b)}},

    1 at the box centre, towards 0 at its edges. A box more than `stride` pixels wide and
    high always contains a cell centre; a smaller box may contain none and then has no
    positive cell (the detector cannot learn it).

    Examples
    --------
    >>> t = detector_targets([[[2.0, 2.0, 20.0, 14.0]]], [[3]], 32, stride=8)
    >>> t["labels"][0]
    array([[ 3,  3, -1, -1],
           [ 3,  3, -1, -1],
           [-1, -1, -1, -1],
           [-1, -1, -1, -1]])
    >>> t["distances"][0, :, 0, 1]  # cell centre (12, 4): l, t, r, b
    array([10.,  2.,  8., 10.], dtype=float32)
    >>> round(float(t["centerness"][0, 0, 1]), 4)  # sqrt(8/10 * 2/10)
    0.4
    >>> detector_targets([np.zeros((0, 4))], [[]], (16, 24))["labels"].shape  # no box
    (1, 2, 3)
    """
    func = "detector_targets"
    stride = _check_stride(stride, func)
    h, w = _check_image_size(image_size, stride, func)
    boxes, labels = _check_boxes_labels(boxes, labels, func)
    gh, gw = h // stride, w // stride
    px, py = _cell_centres(gh, gw, stride)
    n = len(boxes)
    out_labels = np.full((n, gh, gw), -1, dtype=np.int64)
    out_dist = np.zeros((n, 4, gh, gw), dtype=np.float32)
    out_ctr = np.zeros((n, gh, gw), dtype=np.float32)
    for k, (b, lab) in enumerate(zip(boxes, labels, strict=True)):
        if len(b) == 0:
            continue
        # (k_i, 4, GH, GW): every box's distances from every cell centre, by broadcasting.
        dist = np.stack(
            [
                px[None] - b[:, 0, None, None],
                py[None] - b[:, 1, None, None],
                b[:, 2, None, None] - px[None],
                b[:, 3, None, None] - py[None],
            ],
            axis=1,
        )
        inside = dist.min(axis=1) > 0  # (k_i, GH, GW)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        cost = np.where(inside, area[:, None, None], np.inf)
        best = cost.argmin(axis=0)  # the smallest box containing the cell (first on ties)
        positive = inside.any(axis=0)
        chosen = np.take_along_axis(dist, best[None, None], axis=0)[0]  # (4, GH, GW)
        out_labels[k] = np.where(positive, lab[best], -1)
        out_dist[k] = np.where(positive[None], chosen, 0.0)
        # On negative cells the distances may be <= 0; the floor only avoids 0/0 there.
        left, top, right, bottom = np.maximum(chosen, 1e-12)
        ctr = np.sqrt(
            (np.minimum(left, right) / np.maximum(left, right))
            * (np.minimum(top, bottom) / np.maximum(top, bottom))
        )
        out_ctr[k] = np.where(positive, ctr, 0.0)
    return {
        "labels": out_labels,
        "distances": out_dist,
        "centerness": out_ctr,
        "stride": np.asarray(stride, dtype=np.int64),
    }


# --------------------------------------------------------------------------- loss


def _giou_loss(torch, pred, target):
    """1 - GIoU of boxes given as (M, 4) (l, t, r, b) distances from the same points."""
    pl, pt, pr, pb = pred.unbind(1)
    tl, tt, tr, tb = target.unbind(1)
    area_p = (pl + pr) * (pt + pb)
    area_t = (tl + tr) * (tt + tb)
    # Both boxes contain their shared point, so they always overlap: no clamp at 0 needed.
    inter = (torch.minimum(pl, tl) + torch.minimum(pr, tr)) * (
        torch.minimum(pt, tt) + torch.minimum(pb, tb)
    )
    union = area_p + area_t - inter
    iou = inter / union
    hull = (torch.maximum(pl, tl) + torch.maximum(pr, tr)) * (
        torch.maximum(pt, tt) + torch.maximum(pb, tb)
    )
    giou = iou - (hull - union) / hull
    return 1.0 - giou


def _sigmoid_focal_loss(torch, logits, targets, alpha: float = 0.25, gamma: float = 2.0):
    """Per-element sigmoid focal loss [3]_: torchvision.ops.sigmoid_focal_loss, no reduction."""
    F = torch.nn.functional
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * ce * (1 - p_t) ** gamma


_TARGET_KEYS = ("labels", "distances", "centerness", "stride")


def detector_loss(outputs: Any, targets: dict, *, return_parts: bool = False) -> Any:
    r"""The FCOS loss: focal loss on classes, GIoU on boxes, BCE on centerness.

    Parameters
    ----------
    outputs : torch.Tensor, shape (N, 5 + C, GH, GW)
        The detector's raw output.
    targets : dict
        From :func:`detector_targets` for the same images and grid: ``"labels"`` (N, GH, GW),
        ``"distances"`` (N, 4, GH, GW), ``"centerness"`` (N, GH, GW) and ``"stride"``, as
        numpy arrays or torch tensors (moved to the outputs' device if they are elsewhere;
        tensors already there are used without a copy).
    return_parts : bool, default False
        Also return a dict of the three parts (floats).

    Returns
    -------
    torch.Tensor (scalar), or (torch.Tensor, dict)
        The total loss; with `return_parts`, ``{"class": ..., "box": ..., "centerness": ...}``.

    Raises
    ------
    ValueError
        For outputs that are not a 4-D tensor with more than 5 channels, targets missing a
        key or made for another grid, or a label >= C.

    Notes
    -----
    With P the positive cells (label >= 0), :math:`n_+ = \max(|P|, 1)`, sigmoid class
    probabilities :math:`q_{c}` and one-hot targets :math:`y_c` (all zero on negative
    cells):

    .. math::

        L = \frac{1}{n_+}\Big[\sum_{\text{cells}, c} \mathrm{FL}(q_c, y_c)
            + \sum_{P} \big(1 - \mathrm{GIoU}(\hat b, b)\big)
            + \sum_{P} \mathrm{BCE}(\sigma(o), \text{centerness})\Big],

    with the focal loss [3]_ :math:`\mathrm{FL} = -\alpha_t (1 - q_t)^\gamma \log q_t`,
    where :math:`q_t = q` and :math:`\alpha_t = \alpha` if :math:`y = 1`, else
    :math:`1 - q` and :math:`1 - \alpha`; :math:`\alpha = 0.25, \gamma = 2`. GIoU [4]_ is
    :math:`\mathrm{IoU} - |H \setminus (\hat b \cup b)| / |H|` with H the smallest box
    enclosing both, for the decoded box :math:`\hat d = s\exp(u)` against the target
    distances (both boxes share the cell centre, so intersection and hull have sides that
    are sums of minima and maxima of distances).

    Examples
    --------
    >>> import torch
    >>> t = detector_targets([[[2.0, 2.0, 20.0, 12.0]]], [[3]], 32)
    >>> outputs = torch.zeros(1, 15, 4, 4, requires_grad=True)
    >>> loss, parts = detector_loss(outputs, t, return_parts=True)
    >>> loss.backward()
    >>> sorted(parts), outputs.grad.shape
    (['box', 'centerness', 'class'], torch.Size([1, 15, 4, 4]))
    """
    func = "detector_loss"
    torch = _import_torch(func)
    F = torch.nn.functional
    if (
        not isinstance(outputs, torch.Tensor)
        or outputs.dim() != 4
        or outputs.shape[1] <= BOX_CHANNELS
    ):
        raise ValueError(
            f"{func}: outputs must be a torch tensor (N, 5 + C, GH, GW), got "
            f"{getattr(outputs, 'shape', type(outputs))}"
        )
    if not isinstance(targets, dict) or any(k not in targets for k in _TARGET_KEYS):
        raise ValueError(
            f"{func}: targets must be the dict of detector_targets with keys "
            f"{', '.join(_TARGET_KEYS)}"
        )
    dev = outputs.device
    n, ch, gh, gw = outputs.shape
    if n * gh * gw == 0:
        raise ValueError(f"{func}: outputs hold no grid cell (shape {tuple(outputs.shape)})")
    n_classes = ch - BOX_CHANNELS
    labels = torch.as_tensor(targets["labels"], device=dev).long()
    dist = torch.as_tensor(targets["distances"], device=dev, dtype=outputs.dtype)
    ctr = torch.as_tensor(targets["centerness"], device=dev, dtype=outputs.dtype)
    stride = float(targets["stride"])
    expected = {"labels": (n, gh, gw), "distances": (n, 4, gh, gw), "centerness": (n, gh, gw)}
    for key, tensor in (("labels", labels), ("distances", dist), ("centerness", ctr)):
        if tuple(tensor.shape) != expected[key]:
            raise ValueError(
                f"{func}: targets[{key!r}] has shape {tuple(tensor.shape)} but the outputs "
                f"{tuple(outputs.shape)} need {expected[key]}"
            )
    pos = labels >= 0
    # One host synchronisation for both numbers (the count and the label check).
    n_pos, top = (int(v) for v in torch.stack([pos.sum(), labels.max()]).tolist())
    if top >= n_classes:
        raise ValueError(
            f"{func}: a target label is {top} but the outputs have {n_classes} classes"
        )
    logits = outputs[:, BOX_CHANNELS:]
    onehot = F.one_hot(labels.clamp(min=0), n_classes).permute(0, 3, 1, 2).to(outputs.dtype)
    onehot = onehot * pos[:, None].to(outputs.dtype)
    norm = max(n_pos, 1)
    class_loss = _sigmoid_focal_loss(torch, logits, onehot).sum() / norm
    if n_pos:
        raw = outputs[:, :4].permute(0, 2, 3, 1)[pos]  # (|P|, 4)
        pred = stride * torch.exp(raw.clamp(max=_MAX_LOG_DISTANCE))
        box_loss = _giou_loss(torch, pred, dist.permute(0, 2, 3, 1)[pos]).sum() / norm
        ctr_loss = (
            F.binary_cross_entropy_with_logits(outputs[:, 4][pos], ctr[pos], reduction="sum") / norm
        )
    else:
        box_loss = outputs[:, :5].sum() * 0.0  # keeps the graph connected
        ctr_loss = box_loss
    total = class_loss + box_loss + ctr_loss
    if return_parts:
        parts = {
            "class": float(class_loss.detach()),
            "box": float(box_loss.detach()),
            "centerness": float(ctr_loss.detach()),
        }
        return total, parts
    return total


# --------------------------------------------------------------------------- decoding


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # stable for large |x|


def decode_detections(
    outputs: Any,
    stride: int = DETECTOR_STRIDE,
    score_threshold: float = 0.05,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
) -> list[dict[str, np.ndarray]]:
    r"""Boxes, scores and labels from the output tensor: threshold, decode, NMS, top-k.

    Parameters
    ----------
    outputs : ndarray or torch.Tensor, shape (N, 5 + C, GH, GW)
        The detector's raw output (a tensor is copied to the host).
    stride : int, default 8
        The detector's stride, a power of two >= 2; the image is GH s x GW s pixels.
    score_threshold : float in [0, 1], default 0.05
        Candidates (cell, class) are kept when their score is above it.
    iou_threshold : float in [0, 1], default 0.5
        :func:`lapenna_labs.detection.batched_nms`'s threshold (per class).
    max_detections : int, default 100
        The best this many per image are kept, after NMS.

    Returns
    -------
    list of N dict
        ``"boxes"`` float32 (k, 4) xyxy pixels clipped to the image (GH s x GW s),
        ``"scores"`` float32 (k,) descending, ``"labels"`` int64 (k,); the format of
        :func:`lapenna_labs.detection.mean_average_precision`.

    Raises
    ------
    ValueError
        For outputs that are not (N, 5 + C, GH, GW), a stride that is not a power of two,
        thresholds outside [0, 1] or a non-positive `max_detections`.

    Notes
    -----
    The score of class c at a cell is :math:`\sqrt{\sigma(z_c)\,\sigma(o)}`, the geometric
    mean of the class probability and the centerness (FCOS's test-time rule [2]_): cells
    near a box's edge, whose boxes are poorer, rank lower and lose to NMS. Each candidate's
    box is :math:`(p_x - s e^{u_l}, p_y - s e^{u_t}, p_x + s e^{u_r}, p_y + s e^{u_b})`,
    clipped to the image; a box that clipping leaves empty is dropped. One cell may give
    boxes of several classes (independent sigmoids); NMS runs per class.

    Examples
    --------
    >>> import numpy as np
    >>> outputs = np.full((1, 7, 2, 2), -20.0)  # two classes, a 16 x 16 image: nothing
    >>> outputs[0, :4, 0, 0] = np.log([2.0, 3.0, 4.0, 5.0] / np.array(8.0))
    >>> outputs[0, 4, 0, 0], outputs[0, 6, 0, 0] = 20.0, 20.0  # sure: class 1 at cell (0, 0)
    >>> d = decode_detections(outputs, stride=8)[0]
    >>> d["boxes"], d["labels"]  # (4 - 2, 4 - 3, 4 + 4, 4 + 5)
    (array([[2., 1., 8., 9.]], dtype=float32), array([1]))
    """
    func = "decode_detections"
    stride = _check_stride(stride, func)
    score_threshold = _check_unit(score_threshold, "score_threshold", func)
    iou_threshold = _check_unit(iou_threshold, "iou_threshold", func)
    max_detections = check_positive_int(max_detections, name="max_detections", func=func)
    if hasattr(outputs, "detach"):
        outputs = outputs.detach().float().cpu().numpy()
    out = np.asarray(outputs)
    if out.ndim != 4 or out.shape[1] <= BOX_CHANNELS or not np.issubdtype(out.dtype, np.number):
        raise ValueError(
            f"{func}: outputs must have shape (N, 5 + C, GH, GW), got {out.shape} ({out.dtype})"
        )
    out = out.astype(np.float64)
    n, ch, gh, gw = out.shape
    px, py = _cell_centres(gh, gw, stride)
    results = []
    for k in range(n):
        d = stride * np.exp(np.minimum(out[k, :4], _MAX_LOG_DISTANCE))
        boxes = np.stack([px - d[0], py - d[1], px + d[2], py + d[3]], axis=-1)  # (GH, GW, 4)
        boxes[..., 0::2] = boxes[..., 0::2].clip(0, gw * stride)
        boxes[..., 1::2] = boxes[..., 1::2].clip(0, gh * stride)
        scores = np.sqrt(_sigmoid(out[k, BOX_CHANNELS:]) * _sigmoid(out[k, 4])[None])
        cls, ii, jj = np.nonzero(scores > score_threshold)
        cand_boxes = boxes[ii, jj]
        cand_scores = scores[cls, ii, jj]
        # Clipping can make a box empty; drop those rather than hand NMS a degenerate box.
        ok = (cand_boxes[:, 2] > cand_boxes[:, 0]) & (cand_boxes[:, 3] > cand_boxes[:, 1])
        cand_boxes, cand_scores, cls = cand_boxes[ok], cand_scores[ok], cls[ok]
        if len(cand_scores):
            keep = detection.batched_nms(cand_boxes, cand_scores, cls, iou_threshold)
            keep = keep[:max_detections]  # batched_nms returns them by decreasing score
        else:
            keep = np.zeros(0, dtype=np.int64)
        results.append(
            {
                "boxes": cand_boxes[keep].astype(np.float32).reshape(-1, 4),
                "scores": cand_scores[keep].astype(np.float32),
                "labels": cls[keep].astype(np.int64),
            }
        )
    return results


# --------------------------------------------------------------------------- training


def train_detector(
    model: Any,
    images: Any,
    boxes: Any,
    labels: Any,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, list[float]]:
    """Train a detector with Adam on :func:`detector_loss`; the model changes.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`make_detector`; moved to `device` and left there in training mode.
    images : array_like of float, shape (N, C, H, W)
        Training images (float32 in [0, 1]); H and W multiples of the model's stride.
    boxes : list of N array_like, shape (k_i, 4)
        Ground-truth boxes per image, xyxy pixels.
    labels : list of N array_like of int, shape (k_i,)
        Their classes, 0..C-1.
    epochs : int, default 10
        Passes over the data.
    batch_size : int, default 32
        Images per Adam step; the last batch of an epoch may be smaller.
    lr : float, default 3e-3
        Adam's learning rate (its other settings are PyTorch's defaults).
    seed : int, default 0
        Seeds the shuffling (a NumPy generator) and torch's random state, forked so that
        the global state is untouched.
    device : {"cpu", "cuda", "cuda:N"}, default "cpu"
        Where to train. The targets are computed once on the host
        (:func:`detector_targets`) and go to the device with each batch.
    progress : bool, default True
        Show a tqdm bar (one tick per batch, the last epoch's loss as postfix).

    Returns
    -------
    dict
        ``{"loss": [...]}``, the mean :func:`detector_loss` of each epoch (over its
        batches, weighted by their sizes, measured during training).

    Raises
    ------
    ValueError
        Bad shapes, mismatched lists, labels >= the model's classes, non-positive
        settings, or a diverging loss.
    RuntimeError
        Without PyTorch, or CUDA asked for and unavailable.

    Notes
    -----
    For example (one measurement, not a promise), ``make_detector(width=32)`` trained with
    ``epochs=10, batch_size=16, lr=3e-3`` on 3,000 scenes of
    :func:`lapenna_labs.data.make_digit_detection` (64 x 64, the defaults) took about 35 s
    on one CPU core and reached an mAP@0.5 of 0.81-0.82 on 300 test-split scenes (seeds
    0, 1, 2; 2,000 scenes gave 0.77). About 11 % of those digit boxes (narrow ones, such
    as many 1s) contain no cell centre at stride 8 and can never be found, which caps the
    recall near 0.89.

    Examples
    --------
    >>> import numpy as np
    >>> images = np.zeros((4, 1, 32, 32), np.float32)
    >>> images[:, :, 8:24, 8:24] = 1.0  # one white square per image
    >>> boxes, labels = [[[8.0, 8.0, 24.0, 24.0]]] * 4, [[0]] * 4
    >>> model = make_detector(n_classes=1, width=4)
    >>> history = train_detector(model, images, boxes, labels, epochs=2, progress=False)
    >>> len(history["loss"])
    2
    """
    func = "train_detector"
    torch = _check_model(model, func)
    settings = check_training_settings(epochs, batch_size, lr, seed, progress, func)
    target = torch_device(torch, device, func)
    stride = _model_stride(model, func)
    images = _check_images(model, images, stride, func)
    if len(boxes) != len(images):
        raise ValueError(f"{func}: {len(images)} images but {len(boxes)} box lists")
    boxes, labels = _check_boxes_labels(boxes, labels, func)  # errors name this function
    t = detector_targets(boxes, labels, images.shape[2:], stride)
    n_classes = getattr(model, "n_classes", None)
    if n_classes is not None and t["labels"].max(initial=-1) >= n_classes:
        raise ValueError(
            f"{func}: labels must be 0..{n_classes - 1} (the model's classes), got "
            f"{int(t['labels'].max())}"
        )
    data = {"images": torch.from_numpy(images)}
    data.update({key: torch.from_numpy(t[key]) for key in ("labels", "distances", "centerness")})

    def fcos_loss(model, batch):
        outputs = model(batch.pop("images"))
        return detector_loss(outputs, {**batch, "stride": stride})

    return train_with_adam(
        torch, model, data, fcos_loss, **settings._asdict(), device=target, func=func
    )


def detect(
    model: Any,
    images: Any,
    *,
    score_threshold: float = 0.05,
    iou_threshold: float = 0.5,
    max_detections: int = 100,
    batch_size: int = 256,
    device: str = "cpu",
) -> list[dict[str, np.ndarray]]:
    """Run the detector (eval mode, no gradients) and decode: :func:`decode_detections`.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`make_detector`; moved to `device` and put back in the mode (train or
        eval) it was in.
    images : array_like of float, shape (N, C, H, W)
        Images (float32 in [0, 1]); H and W multiples of the model's stride.
    score_threshold, iou_threshold, max_detections
        As in :func:`decode_detections`.
    batch_size : int, default 256
        Images per forward pass.
    device : {"cpu", "cuda", "cuda:N"}, default "cpu"
        Where to run.

    Returns
    -------
    list of N dict
        ``{"boxes", "scores", "labels"}`` numpy, as :func:`decode_detections`.

    Raises
    ------
    ValueError
        Bad images or settings.
    RuntimeError
        Without PyTorch, or CUDA asked for and unavailable.

    Examples
    --------
    >>> import numpy as np
    >>> model = make_detector(width=4)
    >>> found = detect(model, np.zeros((3, 1, 32, 32), np.float32), score_threshold=0.5)
    >>> len(found), sorted(found[0])
    (3, ['boxes', 'labels', 'scores'])
    """
    func = "detect"
    torch = _check_model(model, func)
    batch_size = check_positive_int(batch_size, name="batch_size", func=func)
    score_threshold = _check_unit(score_threshold, "score_threshold", func)
    iou_threshold = _check_unit(iou_threshold, "iou_threshold", func)
    max_detections = check_positive_int(max_detections, name="max_detections", func=func)
    target = torch_device(torch, device, func)
    stride = _model_stride(model, func)
    images = _check_images(model, images, stride, func)
    per_batch = run_in_batches(
        torch,
        model,
        images,
        lambda outputs: decode_detections(
            outputs, stride, score_threshold, iou_threshold, max_detections
        ),
        batch_size=batch_size,
        device=target,
    )
    return [found for batch in per_batch for found in batch]


# --------------------------------------------------------------------------- cost


def detector_cost(model: Any, image_size: Any) -> dict[str, int]:
    r"""Flops, bytes and parameters of one forward pass at batch 1 (for a real-time budget).

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`make_detector` (any module whose convolutions are ``nn.Conv2d``),
        on any device, including ``"meta"``.
    image_size : int or (H, W)
        The image size; the model's stride must divide it.

    Returns
    -------
    dict of int
        ``"flops"``, ``"bytes"`` and ``"params"`` (the rules in the Notes).

    Raises
    ------
    ValueError
        For a model without ``Conv2d`` layers or an image size the stride does not divide.

    Notes
    -----
    The counts come from one forward pass of a (1, C, H, W) zero image with a hook on
    every ``Conv2d``:

    * flops: the sum over the convolutions of
      :math:`2 \frac{C_{in}}{g} C_{out} K_H K_W O_H O_W` (a multiply-add is 2 flops,
      g the groups). Bias, batch norm and ReLU are not counted, as in
      ``torch.utils.flop_counter.FlopCounterMode``, which gives the same total.
    * bytes: float32 (4 bytes) of every parameter (read once), of the input image (read
      once) and of every convolution's output (written once): the traffic of a model with
      batch norm and ReLU fused into the convolution before them, whose intermediate
      activations are each written once and read back from cache.
    * params: the number of parameters, batch norm's weight and bias included (its
      running statistics are buffers, not counted).

    Examples
    --------
    >>> model = make_detector(n_classes=10, width=8)
    >>> cost = detector_cost(model, 64)
    >>> cost["params"] == sum(p.numel() for p in model.parameters())
    True
    >>> sorted(cost)
    ['bytes', 'flops', 'params']
    """
    func = "detector_cost"
    torch = _check_model(model, func)
    stride = _model_stride(model, func)
    h, w = _check_image_size(image_size, stride, func)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise ValueError(f"{func}: the model has no Conv2d layers")
    in_channels = convs[0].in_channels
    counts = {"flops": 0, "outputs": 0}

    def hook(module, inputs, output):
        kh, kw = module.kernel_size
        oh, ow = output.shape[2:]
        macs = module.in_channels // module.groups * module.out_channels * kh * kw * oh * ow
        counts["flops"] += 2 * macs
        counts["outputs"] += output.numel()

    handles = [m.register_forward_hook(hook) for m in convs]
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        with torch.no_grad():
            model(torch.zeros(1, in_channels, h, w, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    values = params + in_channels * h * w + counts["outputs"]
    return {
        "flops": int(counts["flops"]),
        "bytes": int(_BYTES_PER_FLOAT32 * values),
        "params": int(params),
    }
