r"""Semantic segmentation's loss and metrics: per-pixel cross-entropy, the confusion matrix,
IoU (Jaccard) and Dice (F1) per class and their means.

A segmentation network outputs one score per class at every pixel, logits of shape
(N, K, H, W), and is trained against a label map (N, H, W). The loss is the classifier's
softmax cross-entropy, applied at every pixel and averaged. The metrics count pixels: with
the K x K confusion matrix ``C[t, p]`` (pixels of true class t predicted as p),

.. math:: \text{TP}_k = C_{kk}, \quad \text{FP}_k = \sum_{t \ne k} C_{tk}, \quad
          \text{FN}_k = \sum_{p \ne k} C_{kp},

.. math:: \text{IoU}_k = \frac{\text{TP}_k}{\text{TP}_k + \text{FP}_k + \text{FN}_k}
          = \frac{|P_k \cap T_k|}{|P_k \cup T_k|}, \qquad
          \text{Dice}_k = \frac{2\,\text{TP}_k}{2\,\text{TP}_k + \text{FP}_k + \text{FN}_k}
          = \frac{2\,|P_k \cap T_k|}{|P_k| + |T_k|},

for P_k and T_k the sets of pixels predicted and labelled k. Dice is the F1 score of the
pixels of class k, and ``Dice = 2 IoU / (1 + IoU)``, so the two rank models alike class by
class but average differently.

**The rule for empty masks.** A class absent from both the prediction and the target has
0/0 for both scores: it is NaN, and the means skip it (a NaN-aware mean over the classes
that occur). A class in the target but not predicted (an empty prediction), or predicted but
not in the target (an empty target), scores 0. So an all-background image predicted as all
background has IoU 1 for the background, NaN for every other class, and mean IoU 1. If no
class occurs at all (no pixels, or all ignored), the means are NaN.

Every metric pools the pixels of all the images it is given (one confusion matrix for the
batch), as scikit-learn does on flattened masks; the mean of per-image scores is a different
number.

References
----------
.. [1] J. Long, E. Shelhamer and T. Darrell, "Fully Convolutional Networks for Semantic
   Segmentation", CVPR 2015 (per-pixel loss, mean IU).
.. [2] M. Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge", IJCV 88,
   2010 (the segmentation accuracy as TP / (TP + FP + FN)).
.. [3] L. R. Dice, "Measures of the Amount of Ecologic Association Between Species",
   Ecology 26(3), 1945.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lapenna_labs._validation import (
    as_float_array,
    check_positive_int,
    check_same_shape,
    integer_labels,
)
from lapenna_labs.losses import _softmax_cross_entropy_with_grad

__all__ = [
    "confusion_matrix",
    "dice_per_class",
    "iou_per_class",
    "mean_dice",
    "mean_iou",
    "pixel_softmax_cross_entropy",
]


def _as_label_map(value: Any, *, name: str, func: str) -> np.ndarray:
    """Integer labels of any shape as int64 (booleans and integral floats accepted)."""
    return integer_labels(value, name=name, func=func, kinds="biu", must="hold")


def _check_ignore_index(ignore_index: Any, func: str) -> int | None:
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise ValueError(f"{func}: ignore_index must be an int or None, got {ignore_index!r}")
    return int(ignore_index)


def _check_range(labels: np.ndarray, n_classes: int, *, name: str, func: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(
            f"{func}: {name} has label {bad}, outside [0, {n_classes}) "
            "(and it is not the ignore_index)"
        )


# --------------------------------------------------------------------------------------------
# loss
# --------------------------------------------------------------------------------------------


def pixel_softmax_cross_entropy(
    logits: Any, target: Any, ignore_index: int | None = None
) -> tuple[float, np.ndarray]:
    r"""Softmax cross-entropy at every pixel, averaged over the pixels that count.

    Parameters
    ----------
    logits : array_like of float, shape (N, K, H, W)
        Class scores per pixel (NCHW, the class axis where the channels are).
    target : array_like of int, shape (N, H, W)
        The label map: classes in ``[0, K)``, or `ignore_index`.
    ignore_index : int, optional
        Pixels labelled with it (e.g. 255 for VOC's object borders) add nothing to the loss
        or the gradient and are not counted in the mean.

    Returns
    -------
    loss : float
        The mean over the V pixels not ignored. If every pixel is ignored (V = 0) the loss
        is NaN (0/0), as in PyTorch, and the gradient is zero.
    dlogits : ndarray, shape (N, K, H, W), logits' dtype
        Its gradient: ``(softmax - onehot) / V`` at the counted pixels, 0 at the ignored.

    Notes
    -----
    With :math:`\mathcal V` the counted pixels and :math:`z_{n\cdot ij}` the K logits of one,

    .. math:: L = \frac{1}{|\mathcal V|} \sum_{(n,i,j) \in \mathcal V}
              \Bigl(\log \sum_k e^{z_{nkij}} - z_{n, t_{nij}, ij}\Bigr),

    computed with the max subtracted (log-sum-exp). It is the classifier's loss on the
    (N·H·W, K) matrix of pixels, and the package's one softmax cross-entropy kernel computes
    it. This is ``torch.nn.functional.cross_entropy(logits, target, ignore_index=...)``
    with its default ``reduction="mean"``.

    Examples
    --------
    >>> import numpy as np
    >>> logits = np.zeros((1, 2, 1, 2))
    >>> loss, dlogits = pixel_softmax_cross_entropy(logits, [[[0, 1]]])
    >>> round(loss, 6), dlogits[0, :, 0]  # log 2
    (0.693147, array([[-0.25,  0.25],
           [ 0.25, -0.25]]))
    >>> loss, dlogits = pixel_softmax_cross_entropy(logits, [[[0, 255]]], ignore_index=255)
    >>> dlogits[0, :, 0]
    array([[-0.5,  0. ],
           [ 0.5,  0. ]])
    """
    func = "pixel_softmax_cross_entropy"
    z = as_float_array(logits, name="logits", func=func, ndim=4)
    t = _as_label_map(target, name="target", func=func)
    ignore = _check_ignore_index(ignore_index, func)
    N, K, H, W = z.shape
    if t.shape != (N, H, W):
        raise ValueError(
            f"{func}: target has shape {t.shape} but logits {z.shape} need (N, H, W) = {(N, H, W)}"
        )
    t = t.reshape(-1)
    keep = np.ones(t.shape, dtype=bool) if ignore is None else t != ignore
    _check_range(t[keep], K, name="target", func=func)
    z_pixels = z.transpose(0, 2, 3, 1).reshape(N * H * W, K)  # one row per pixel
    grad_pixels = np.zeros_like(z_pixels)
    if not keep.any():
        return float("nan"), grad_pixels.reshape(N, H, W, K).transpose(0, 3, 1, 2)
    # The kernel averages over the rows it is given: the counted pixels, exactly.
    loss, grad_kept = _softmax_cross_entropy_with_grad(z_pixels[keep], t[keep])
    grad_pixels[keep] = grad_kept
    dlogits = grad_pixels.reshape(N, H, W, K).transpose(0, 3, 1, 2)
    return loss, np.ascontiguousarray(dlogits)


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------


def _label_pair(
    pred: Any, target: Any, n_classes: Any, ignore_index: Any, func: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """Checked, flattened (pred, target) without the ignored pixels, and K."""
    K = check_positive_int(n_classes, name="n_classes", func=func)
    p = _as_label_map(pred, name="pred", func=func)
    t = _as_label_map(target, name="target", func=func)
    check_same_shape(p, t, names=("pred", "target"), func=func)
    ignore = _check_ignore_index(ignore_index, func)
    p, t = p.reshape(-1), t.reshape(-1)
    if ignore is not None:
        keep = t != ignore
        p, t = p[keep], t[keep]
    _check_range(t, K, name="target", func=func)
    _check_range(p, K, name="pred", func=func)
    return p, t, K


def _confusion(p: np.ndarray, t: np.ndarray, K: int) -> np.ndarray:
    # Pixel (t, p) lands in bin t·K + p: one bincount fills the whole matrix.
    return np.bincount(t * K + p, minlength=K * K).reshape(K, K)


def confusion_matrix(
    pred: Any, target: Any, n_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """Count the pixels of each (true class, predicted class) pair.

    Parameters
    ----------
    pred : array_like of int, any shape, e.g. (N, H, W)
        Predicted classes in ``[0, n_classes)`` (``logits.argmax(axis=1)``).
    target : array_like of int, same shape as `pred`
        True classes in ``[0, n_classes)``, or `ignore_index`.
    n_classes : int
        K, the number of classes.
    ignore_index : int, optional
        Pixels whose *target* is this label are not counted.

    Returns
    -------
    C : ndarray of int64, shape (K, K)
        ``C[t, p]`` pixels of true class t were predicted as p (rows: truth, columns:
        prediction, as in ``sklearn.metrics.confusion_matrix``). The diagonal holds the
        correct pixels; row sums are the target's class sizes, column sums the prediction's.

    Examples
    --------
    >>> confusion_matrix([[0, 1], [1, 1]], [[0, 0], [1, 2]], 3)
    array([[1, 1, 0],
           [0, 1, 0],
           [0, 1, 0]])
    """
    p, t, K = _label_pair(pred, target, n_classes, ignore_index, "confusion_matrix")
    return _confusion(p, t, K)


def _scores(
    pred: Any, target: Any, n_classes: Any, ignore_index: Any, func: str, dice: bool
) -> np.ndarray:
    C = _confusion(*_label_pair(pred, target, n_classes, ignore_index, func))
    tp = np.diag(C).astype(np.float64)
    fp = C.sum(axis=0) - tp
    fn = C.sum(axis=1) - tp
    numerator = 2 * tp if dice else tp
    denominator = numerator + fp + fn
    # 0/0 (a class in neither mask) is NaN by the module's rule; no other case divides by 0.
    with np.errstate(invalid="ignore"):
        return numerator / denominator


def iou_per_class(
    pred: Any, target: Any, n_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    r"""Intersection over union (Jaccard index) of each class's pixels.

    Parameters
    ----------
    pred : array_like of int, any shape, e.g. (N, H, W)
        Predicted classes in ``[0, n_classes)``.
    target : array_like of int, same shape as `pred`
        True classes in ``[0, n_classes)``, or `ignore_index`.
    n_classes : int
        K.
    ignore_index : int, optional
        Pixels whose target is this label are not counted.

    Returns
    -------
    iou : ndarray of float64, shape (K,)
        ``TP / (TP + FP + FN)`` per class, pooled over all the pixels given; NaN for a class
        in neither `pred` nor `target`, 0 for a class in only one of them.

    Notes
    -----
    :math:`\text{IoU}_k = |P_k \cap T_k| / |P_k \cup T_k|`, computed from the confusion
    matrix (see the module's notes). On the classes that occur it equals
    ``sklearn.metrics.jaccard_score(target.ravel(), pred.ravel(), average=None,
    labels=range(K))``, which gives 0 (its `zero_division`) where this gives NaN.

    Examples
    --------
    >>> import numpy as np
    >>> iou_per_class([[0, 1], [1, 1]], [[0, 0], [1, 1]], 3)  # class 2 in neither
    array([0.5       , 0.66666667,        nan])
    """
    return _scores(pred, target, n_classes, ignore_index, "iou_per_class", dice=False)


def dice_per_class(
    pred: Any, target: Any, n_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    r"""Dice coefficient (the F1 score) of each class's pixels.

    Parameters
    ----------
    pred : array_like of int, any shape, e.g. (N, H, W)
        Predicted classes in ``[0, n_classes)``.
    target : array_like of int, same shape as `pred`
        True classes in ``[0, n_classes)``, or `ignore_index`.
    n_classes : int
        K.
    ignore_index : int, optional
        Pixels whose target is this label are not counted.

    Returns
    -------
    dice : ndarray of float64, shape (K,)
        ``2 TP / (2 TP + FP + FN)`` per class, pooled over all the pixels given; NaN for a
        class in neither `pred` nor `target`, 0 for a class in only one of them.

    Notes
    -----
    :math:`\text{Dice}_k = 2 |P_k \cap T_k| / (|P_k| + |T_k|) = 2\,\text{IoU}_k /
    (1 + \text{IoU}_k)`. On the classes that occur it equals
    ``sklearn.metrics.f1_score(target.ravel(), pred.ravel(), average=None,
    labels=range(K))``, which gives 0 (its `zero_division`) where this gives NaN.

    Examples
    --------
    >>> import numpy as np
    >>> dice_per_class([[0, 1], [1, 1]], [[0, 0], [1, 1]], 3)
    array([0.66666667, 0.8       ,        nan])
    """
    return _scores(pred, target, n_classes, ignore_index, "dice_per_class", dice=True)


def _nan_mean(scores: np.ndarray) -> float:
    present = scores[~np.isnan(scores)]
    return float(present.mean()) if present.size else float("nan")


def mean_iou(pred: Any, target: Any, n_classes: int, ignore_index: int | None = None) -> float:
    """Mean of :func:`iou_per_class` over the classes present in `pred` or `target`.

    Parameters
    ----------
    pred, target : array_like of int, same shape
        As in :func:`iou_per_class`.
    n_classes : int
        K.
    ignore_index : int, optional
        Pixels whose target is this label are not counted.

    Returns
    -------
    float
        The mean over the classes whose IoU is not NaN; NaN if there are none (no pixels).

    Examples
    --------
    >>> round(mean_iou([[0, 1], [1, 1]], [[0, 0], [1, 1]], 3), 6)  # (1/2 + 2/3) / 2
    0.583333
    >>> mean_iou([[0, 0], [0, 0]], [[0, 0], [0, 0]], 3)  # all background, predicted so
    1.0
    """
    return _nan_mean(_scores(pred, target, n_classes, ignore_index, "mean_iou", dice=False))


def mean_dice(pred: Any, target: Any, n_classes: int, ignore_index: int | None = None) -> float:
    """Mean of :func:`dice_per_class` over the classes present in `pred` or `target`.

    Parameters
    ----------
    pred, target : array_like of int, same shape
        As in :func:`dice_per_class`.
    n_classes : int
        K.
    ignore_index : int, optional
        Pixels whose target is this label are not counted.

    Returns
    -------
    float
        The mean over the classes whose Dice is not NaN; NaN if there are none (no pixels).

    Examples
    --------
    >>> round(mean_dice([[0, 1], [1, 1]], [[0, 0], [1, 1]], 3), 6)  # (2/3 + 4/5) / 2
    0.733333
    """
    return _nan_mean(_scores(pred, target, n_classes, ignore_index, "mean_dice", dice=True))
