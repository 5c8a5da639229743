"""Tests of lapenna_labs.segmentation (week 8): pixel cross-entropy against PyTorch, the
metrics against scikit-learn, and the rule for empty masks."""

from __future__ import annotations

import numpy as np
import pytest

from lapenna_labs.segmentation import (
    confusion_matrix,
    dice_per_class,
    iou_per_class,
    mean_dice,
    mean_iou,
    pixel_softmax_cross_entropy,
)
from tests._frameworks import torch_value_and_grads

pytestmark = pytest.mark.lab8


@pytest.mark.parametrize("ignore_index", [None, 255, -100])
def test_pixel_cross_entropy_matches_torch(ignore_index, rng, dtype, tol):
    import torch
    import torch.nn.functional as F_

    N, K, H, W = 2, 4, 5, 3
    logits = (3 * rng.standard_normal((N, K, H, W))).astype(dtype)
    target = rng.integers(0, K, size=(N, H, W))
    if ignore_index is not None:
        target[rng.random(target.shape) < 0.3] = ignore_index
    loss, dlogits = pixel_softmax_cross_entropy(logits, target, ignore_index=ignore_index)
    kwargs = {} if ignore_index is None else {"ignore_index": ignore_index}
    ref, (grad,) = torch_value_and_grads(
        lambda z: F_.cross_entropy(z, torch.tensor(target), **kwargs), [logits]
    )
    assert dlogits.dtype == dtype and dlogits.shape == logits.shape
    np.testing.assert_allclose(loss, ref, **tol)
    np.testing.assert_allclose(dlogits, grad, **tol)


def test_pixel_cross_entropy_all_ignored_is_nan_with_zero_gradient():
    import torch
    import torch.nn.functional as F_

    logits = np.zeros((1, 3, 2, 2))
    target = np.full((1, 2, 2), 255)
    loss, dlogits = pixel_softmax_cross_entropy(logits, target, ignore_index=255)
    ref, (grad,) = torch_value_and_grads(
        lambda z: F_.cross_entropy(z, torch.tensor(target), ignore_index=255), [logits]
    )
    assert np.isnan(loss) and np.isnan(ref)
    np.testing.assert_array_equal(dlogits, grad)


def test_pixel_cross_entropy_stable_for_huge_logits():
    logits = np.array([[[[1000.0]], [[-1000.0]]]])
    loss, dlogits = pixel_softmax_cross_entropy(logits, [[[1]]])
    assert loss == pytest.approx(2000.0)
    assert np.all(np.isfinite(dlogits))


@pytest.mark.parametrize(
    ("logits", "target", "kwargs", "match"),
    [
        (np.zeros((1, 3, 2)), np.zeros((1, 2)), {}, "4-D"),
        (np.zeros((1, 3, 2, 2)), np.zeros((1, 2, 3), int), {}, "target has shape"),
        (np.zeros((1, 3, 2, 2)), np.full((1, 2, 2), 3), {}, "outside"),
        (np.zeros((1, 3, 2, 2)), np.full((1, 2, 2), 0.5), {}, "integer"),
        (np.zeros((1, 3, 2, 2)), np.zeros((1, 2, 2), int), {"ignore_index": 1.5}, "ignore"),
    ],
)
def test_pixel_cross_entropy_bad_input_raises(logits, target, kwargs, match):
    with pytest.raises(ValueError, match=match):
        pixel_softmax_cross_entropy(logits, target, **kwargs)


# --------------------------------------------------------------------------------------------
# metrics vs scikit-learn
# --------------------------------------------------------------------------------------------


def _masks(rng, K=4, shape=(3, 6, 7)):
    target = rng.integers(0, K, size=shape)
    pred = np.where(rng.random(shape) < 0.6, target, rng.integers(0, K, size=shape))
    return pred, target


def test_confusion_matrix_matches_sklearn(rng):
    from sklearn.metrics import confusion_matrix as sk_cm

    K = 5
    pred, target = _masks(rng, K)
    got = confusion_matrix(pred, target, K)
    want = sk_cm(target.ravel(), pred.ravel(), labels=list(range(K)))
    np.testing.assert_array_equal(got, want)
    assert got.sum() == target.size


@pytest.mark.parametrize("K", [2, 4, 6])
def test_iou_and_dice_match_sklearn(K, rng):
    from sklearn.metrics import f1_score, jaccard_score

    pred, target = _masks(rng, K)
    pred[pred == K - 1] = 0  # with K = 6, class 5 may also vanish from the target: fine
    labels = list(range(K))
    # sklearn 1.9's jaccard_score takes zero_division in {0, 1} only: compare the classes
    # that occur, and check that exactly the others are NaN here.
    kw = {"average": None, "labels": labels, "zero_division": 0}
    iou_ref = jaccard_score(target.ravel(), pred.ravel(), **kw)
    dice_ref = f1_score(target.ravel(), pred.ravel(), **kw)
    present = np.isin(labels, pred) | np.isin(labels, target)
    if K == 2:
        assert present.all()
    iou, dice = iou_per_class(pred, target, K), dice_per_class(pred, target, K)
    np.testing.assert_array_equal(np.isnan(iou), ~present)
    np.testing.assert_array_equal(np.isnan(dice), ~present)
    np.testing.assert_allclose(iou[present], iou_ref[present], rtol=1e-12)
    np.testing.assert_allclose(dice[present], dice_ref[present], rtol=1e-12)
    assert mean_iou(pred, target, K) == pytest.approx(iou_ref[present].mean())
    assert mean_dice(pred, target, K) == pytest.approx(dice_ref[present].mean())


def test_a_class_in_neither_mask_is_nan_and_skipped():
    from sklearn.metrics import jaccard_score

    pred = np.array([[0, 1], [1, 0]])
    target = np.array([[0, 1], [0, 0]])  # class 2 occurs nowhere
    iou = iou_per_class(pred, target, 3)
    assert np.isnan(iou[2])
    ref = jaccard_score(target.ravel(), pred.ravel(), average=None, labels=[0, 1])
    np.testing.assert_allclose(iou[:2], ref)
    assert mean_iou(pred, target, 3) == pytest.approx(ref.mean())


def test_ignore_index_drops_pixels_like_sklearn_on_the_rest(rng):
    from sklearn.metrics import jaccard_score

    K = 3
    pred, target = _masks(rng, K)
    target[rng.random(target.shape) < 0.25] = 255
    keep = target != 255
    want = jaccard_score(target[keep], pred[keep], average=None, labels=list(range(K)))
    np.testing.assert_allclose(iou_per_class(pred, target, K, ignore_index=255), want)
    assert confusion_matrix(pred, target, K, ignore_index=255).sum() == keep.sum()


def test_empty_prediction_scores_zero():
    """Class 1 is in the target but never predicted: IoU and Dice 0, not NaN."""
    target = np.array([[0, 1], [1, 0]])
    pred = np.zeros_like(target)
    np.testing.assert_allclose(iou_per_class(pred, target, 2), [0.5, 0.0])
    np.testing.assert_allclose(dice_per_class(pred, target, 2), [2 / 3, 0.0])
    assert mean_iou(pred, target, 2) == pytest.approx(0.25)


def test_empty_target_scores_zero():
    """Class 1 is predicted but absent from the target: IoU and Dice 0."""
    pred = np.array([[0, 1], [0, 0]])
    target = np.zeros_like(pred)
    np.testing.assert_allclose(iou_per_class(pred, target, 2), [0.75, 0.0])
    np.testing.assert_allclose(dice_per_class(pred, target, 2), [6 / 7, 0.0])
    assert mean_dice(pred, target, 2) == pytest.approx(3 / 7)


def test_all_background_image_is_perfect_and_other_classes_nan():
    """Nothing but background, predicted so: background 1, the rest NaN and skipped."""
    pred = target = np.zeros((2, 4, 4), dtype=int)
    iou = iou_per_class(pred, target, 3)
    assert iou[0] == 1.0 and np.isnan(iou[1:]).all()
    assert np.isnan(dice_per_class(pred, target, 3)[1:]).all()
    assert mean_iou(pred, target, 3) == 1.0
    assert mean_dice(pred, target, 3) == 1.0


def test_no_pixel_counted_gives_nan_means():
    target = np.full((1, 2, 2), 255)
    assert np.isnan(mean_iou(np.zeros((1, 2, 2), int), target, 2, ignore_index=255))
    assert np.isnan(mean_dice(np.zeros((1, 2, 2), int), target, 2, ignore_index=255))


def test_dice_is_2iou_over_1_plus_iou(rng):
    pred, target = _masks(rng, 4)
    iou, dice = iou_per_class(pred, target, 4), dice_per_class(pred, target, 4)
    np.testing.assert_allclose(dice, 2 * iou / (1 + iou), rtol=1e-12)


@pytest.mark.parametrize("func", [confusion_matrix, iou_per_class, dice_per_class, mean_iou])
@pytest.mark.parametrize(
    ("pred", "target", "n_classes", "match"),
    [
        (np.zeros((2, 2), int), np.zeros((2, 3), int), 2, "shape"),
        (np.full((2, 2), 2), np.zeros((2, 2), int), 2, "pred has label 2"),
        (np.zeros((2, 2), int), np.full((2, 2), -1), 2, "target has label -1"),
        (np.zeros((2, 2)) + 0.5, np.zeros((2, 2), int), 2, "integer"),
        (np.zeros((2, 2), int), np.zeros((2, 2), int), 0, "n_classes"),
    ],
)
def test_metrics_bad_input_raises(func, pred, target, n_classes, match):
    with pytest.raises(ValueError, match=match):
        func(pred, target, n_classes)
