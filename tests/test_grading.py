"""Unit tests of lapenna_labs.grading: reference blocking (aliases, restore) and diagnoses."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from lapenna_labs import grading
from lapenna_labs.grading import ReferenceBlockedError, call_blocked, check_close, reference_blocked

pytestmark = pytest.mark.grading


def reference(x, scale=2.0):
    """A stand-in for a lapenna_labs reference function."""
    return x * scale


def make_closure(k):
    def inner(x):
        return x * k

    return inner


class Model:
    def predict(self, x):
        return x + 1

    @staticmethod
    def helper(x):
        return x - 1


def test_blocking_catches_every_alias_and_restores():
    alias = reference
    in_list = [reference]
    partial = functools.partial(reference, scale=3.0)
    with reference_blocked(reference) as attempts:
        for call in (lambda: reference(1.0), lambda: alias(1.0), lambda: in_list[0](1.0), partial):
            with pytest.raises(ReferenceBlockedError, match="reference"):
                call() if call is not partial else partial(1.0)
    assert len(attempts) == 4
    assert reference(1.0) == 2.0 and reference(1.0, scale=5.0) == 5.0  # defaults restored
    assert partial(1.0) == 3.0


def test_blocking_a_lapenna_labs_function_by_alias_import():
    from lapenna_labs import blas
    from lapenna_labs.blas import axpy_flops as renamed

    with reference_blocked(blas.axpy_flops), pytest.raises(ReferenceBlockedError):
        renamed(10)
    assert renamed(10) == 20


def test_restored_after_exception_and_keyboard_interrupt():
    for exc in (ValueError, KeyboardInterrupt):
        with pytest.raises(exc), reference_blocked(reference):
            raise exc()
        assert reference(2.0) == 4.0


def test_nested_blocking_restores_only_at_the_outermost_exit():
    with reference_blocked(reference):
        with reference_blocked(reference):
            pass
        with pytest.raises(ReferenceBlockedError):
            reference(1.0)
    assert reference(1.0) == 2.0


def test_closures_methods_and_classes_can_be_blocked():
    closure = make_closure(3)
    model = Model()
    bound = model.predict
    with reference_blocked(closure, Model):
        for call in (lambda: closure(1), lambda: bound(1), lambda: Model.helper(1)):
            with pytest.raises(ReferenceBlockedError):
                call()
    assert closure(2) == 6 and bound(1) == 2 and Model.helper(1) == 0


def test_call_blocked_fails_an_answer_that_swallows_the_error():
    def sneaky(x):
        try:
            return reference(x)
        except Exception:
            return x * 2.0

    with pytest.raises(ReferenceBlockedError):
        call_blocked(sneaky, 1.0, block=reference)
    assert call_blocked(lambda x: x * 2.0, 1.0, block=reference) == 2.0
    assert reference(1.0) == 2.0


def test_blocking_rejects_what_it_cannot_block():
    with pytest.raises(TypeError, match="can only block"), reference_blocked(np.add):
        pass


@pytest.mark.parametrize(
    ("got", "expected", "message"),
    [
        (None, np.ones(3), "returned None"),
        ("text", np.ones(3), "returned a str"),
        (np.ones(4), np.ones(3), r"wrong shape \(4,\), expected \(3,\)"),
        (np.ones((3, 2)), np.ones((2, 3)), "transposed"),
        (np.ones(6), np.ones((2, 3)), "same number of entries"),
        (np.ones(3, np.float64), np.ones(3, np.float32), "dtype float64, expected float32"),
        (np.ones(3, int), np.ones(3), "returned integers"),
        (np.array([1.0, np.nan, 2.0]), np.ones(3), "1 NaN"),
        (-np.arange(1.0, 4.0), np.arange(1.0, 4.0), "wrong sign"),
        (2 * np.arange(1.0, 4.0), np.arange(1.0, 4.0), "constant factor: every value is about 2"),
        (np.arange(1.0, 4.0) + 0.5, np.arange(1.0, 4.0), "off by a constant"),
        (np.array([1.0, 2.0, 7.0]), np.array([1.0, 2.0, 3.0]), "1 of 3 entries are off"),
        ((1.0,), (np.ones(2), np.ones(2)), "should return 2 items"),
    ],
)
def test_check_close_diagnoses(got, expected, message):
    with pytest.raises(AssertionError, match=message) as info:
        check_close(got, expected, name="f")
    assert str(info.value).startswith("f: ")


def test_check_close_names_a_common_mistake():
    z = np.linspace(-2, 2, 5)
    sig = 1 / (1 + np.exp(-z))
    with pytest.raises(AssertionError, match="the function itself"):
        check_close(sig, sig * (1 - sig), name="g", common_mistakes={"the function itself": sig})


def test_check_close_never_prints_expected_values():
    expected = np.array([0.123456789, 9.87654321, 3.14159265])
    wrong = [expected * 1.37, expected + 0.731, np.array([0.1, 9.8, 42.0]), -expected]
    for got in wrong:
        with pytest.raises(AssertionError) as info:
            check_close(got, expected, name="f")
        text = str(info.value)
        for value in expected:
            for digits in (3, 4, 6):
                assert f"{value:.{digits}f}" not in text
                assert f"{value:.{digits}g}" not in text
        assert "1.37" not in text and "0.731" not in text  # arbitrary factors and offsets


def test_check_close_accepts_right_answers_within_dtype_tolerance():
    x = np.linspace(0, 1, 7, dtype=np.float32)
    check_close(x * (1 + 1e-6), x, name="f")
    check_close(np.float32(2.0), np.float32(2.0), name="scalar")
    check_close([1.0, 2.0], np.array([1.0, 2.0]), name="list")
    check_close((np.ones(2), 3.0), (np.ones(2), 3.0), name="tuple")
    with pytest.raises(AssertionError):
        check_close(x * (1 + 1e-2), x, name="f")


def test_detect_device_honours_force_cpu(monkeypatch, capsys):
    monkeypatch.setenv("LAPENNA_FORCE_CPU", "1")
    assert grading.detect_device() == "cpu"
    assert "CPU" in capsys.readouterr().out
    assert grading.in_colab() is False


def test_source_mentions_ignores_comments():
    def timer():
        # torch.cuda.synchronize() would go here
        return 1

    def synced():
        import torch  # noqa: F401

        return "torch.cuda.synchronize"

    assert grading.source_mentions(timer, "synchronize") == []
    assert grading.source_mentions(synced, "synchronize") == ["synchronize"]
