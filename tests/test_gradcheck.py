"""lapenna_labs.gradcheck: finite differences on known functions, and catching broken backwards."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import lapenna_labs.gradcheck as gc
from lapenna_labs.gradcheck import check_layer_backward, numerical_gradient, relative_error
from lapenna_labs.layers import (
    activation_backward,
    activation_forward,
    dense_backward,
    dense_forward,
)

pytestmark = [pytest.mark.lab4, pytest.mark.filterwarnings("error::RuntimeWarning")]


# --------------------------------------------------------------------------------------------
# numerical_gradient on functions whose gradient is known in closed form
# --------------------------------------------------------------------------------------------

KNOWN = [
    ("sum of squares", lambda x: np.sum(x**2), lambda x: 2 * x),
    ("sum of sines", lambda x: np.sum(np.sin(x)), np.cos),
    ("log-sum-exp", lambda x: np.log(np.sum(np.exp(x))), lambda x: np.exp(x) / np.exp(x).sum()),
    ("product of first two", lambda x: x.flat[0] * x.flat[1], None),
]


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 2, 3)], ids=str)
@pytest.mark.parametrize(("label", "f", "grad"), KNOWN[:3], ids=[k[0] for k in KNOWN[:3]])
def test_numerical_gradient_of_known_functions(label, f, grad, shape, rng):
    x = rng.standard_normal(shape)
    numeric = numerical_gradient(f, x)
    assert numeric.shape == x.shape and numeric.dtype == x.dtype
    np.testing.assert_allclose(numeric, grad(x), rtol=1e-7, atol=1e-9)


def test_numerical_gradient_of_a_bilinear_function():
    x = np.array([[3.0, -2.0], [5.0, 7.0]])
    numeric = numerical_gradient(lambda v: v[0, 0] * v[0, 1], x)
    np.testing.assert_allclose(numeric, [[-2.0, 3.0], [0.0, 0.0]], atol=1e-9)


def test_numerical_gradient_of_a_matrix_product(rng):
    # f(W) = sum(x @ W * G)  has gradient  x^T G  (the dense layer's dW)
    x, W, G = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    numeric = numerical_gradient(lambda w: np.sum(x @ w * G), W)
    np.testing.assert_allclose(numeric, x.T @ G, rtol=1e-7, atol=1e-9)


def test_numerical_gradient_error_shrinks_like_h_squared():
    x = np.array([1.0])
    f = lambda v: float(np.exp(v[0]))  # noqa: E731
    err = [abs(numerical_gradient(f, x, h=h)[0] - np.e) for h in (1e-2, 1e-3)]
    # central differences: error ~ h^2 f'''/6, so 10x smaller h gives ~100x smaller error
    assert err[0] == pytest.approx(1e-4 * np.e / 6, rel=1e-2)
    assert 80 < err[0] / err[1] < 120


def test_numerical_gradient_restores_x_and_lets_f_read_it_from_a_closure(rng):
    x = rng.standard_normal((3, 2))
    original = x.copy()
    seen = []

    def f(_):
        seen.append(x.sum())  # reads the caller's x, as cs231n's checks do
        return float(np.sum(x**3))

    numeric = numerical_gradient(f, x)
    np.testing.assert_array_equal(x, original)
    np.testing.assert_allclose(numeric, 3 * x**2, rtol=1e-7)
    assert len(set(np.round(seen, 12))) > 1  # f really saw the perturbations


def test_numerical_gradient_copies_lists_and_integers():
    numeric = numerical_gradient(lambda v: np.sum(v**2), [1, 2])
    assert numeric.dtype == np.float64
    np.testing.assert_allclose(numeric, [2.0, 4.0], atol=1e-9)


def test_numerical_gradient_restores_x_even_when_f_fails():
    x = np.array([1.0, 2.0])

    def f(v):
        if v[0] != 1.0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])


# --------------------------------------------------------------------------------------------
# relative_error
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([1.0, 2.0], [1.0, 2.0], 0.0),
        ([0.0, 0.0], [0.0, 0.0], 0.0),
        ([1.0], [3.0], 0.5),
        ([1.0], [-1.0], 1.0),
        ([[1e-3, 0.0], [2.0, 0.0]], [[0.0, 0.0], [2.0, 0.0]], 1e-3 / 4),
        ([1e6, 1.0], [1e6 + 1.0, 1.0], 1.0 / (2e6 + 1.0)),
    ],
)
def test_relative_error_known_values(a, b, expected):
    assert relative_error(a, b) == pytest.approx(expected, rel=1e-12, abs=0)


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e6, 1e6)),
    arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e6, 1e6)),
    st.floats(1e-3, 1e3),
)
def test_relative_error_is_symmetric_bounded_and_scale_free(a, b, scale):
    if a.shape != b.shape:
        b = np.resize(b, a.shape)
    err = relative_error(a, b)
    assert 0 <= err <= 1
    assert err == relative_error(b, a)
    assert relative_error(a * scale, b * scale) == pytest.approx(err, rel=1e-9, abs=1e-15)


# --------------------------------------------------------------------------------------------
# check_layer_backward: passes right backwards, catches wrong ones
# --------------------------------------------------------------------------------------------


def dense_inputs(rng, n=5, d=4, m=3):
    return rng.standard_normal((n, d)), rng.standard_normal((d, m)), rng.standard_normal(m)


def test_correct_dense_backward_passes(rng):
    errors = check_layer_backward(dense_forward, dense_backward, dense_inputs(rng))
    assert len(errors) == 3 and max(errors) < 1e-9


def backward_that_forgets_dout(dout, cache):
    x, W, b = cache
    ones = np.ones_like(dout)
    return ones @ W.T, x.T @ ones, ones.sum(axis=0)


def backward_with_mean_bias(dout, cache):
    dx, dW, _ = dense_backward(dout, cache)
    return dx, dW, dout.mean(axis=0)  # should be the sum over the batch


def backward_with_slides_bug(dout, cache):
    # The lecture slides' w2 error in matrix form: the gradient of the second input row is
    # computed from the first input feature.
    x, W, b = cache
    dx, dW, db = dense_backward(dout, cache)
    dW = dW.copy()
    dW[1] = x[:, 0] @ dout
    return dx, dW, db


@pytest.mark.parametrize(
    ("backward", "wrong"),
    [
        (backward_that_forgets_dout, [0, 1, 2]),
        (backward_with_mean_bias, [2]),
        (backward_with_slides_bug, [1]),
    ],
    ids=["forgets dout", "mean bias", "slides w2 bug"],
)
def test_wrong_dense_backward_gives_a_large_error(backward, wrong, rng):
    errors = check_layer_backward(dense_forward, backward, dense_inputs(rng))
    for k, err in enumerate(errors):
        if k in wrong:
            assert err > 1e-2, (k, err)
        else:
            assert err < 1e-9, (k, err)


def test_wrong_activation_derivative_gives_a_large_error(rng):
    z = rng.standard_normal((4, 3))

    def forward(z):
        return activation_forward(z, "sigmoid")

    def backward_with_output_instead_of_derivative(da, cache):
        s = 1 / (1 + np.exp(-cache.z))
        return da * s  # sigma(z) where sigma(z)(1 - sigma(z)) belongs

    [good] = check_layer_backward(forward, activation_backward, (z,))
    [bad] = check_layer_backward(forward, backward_with_output_instead_of_derivative, (z,))
    assert good < 1e-9
    assert bad > 1e-1


def test_check_leaves_the_callers_inputs_untouched(rng):
    x, W, b = dense_inputs(rng)
    x32 = x.astype(np.float32)
    before = [x32.copy(), W.copy(), b.copy()]
    check_layer_backward(dense_forward, dense_backward, (x32, W, b))
    for original, after in zip(before, (x32, W, b), strict=True):
        np.testing.assert_array_equal(original, after)


def test_the_seed_chooses_the_upstream_gradient(rng):
    inputs = dense_inputs(rng)
    seen = []

    def backward(dout, cache):
        seen.append(dout.copy())
        return dense_backward(dout, cache)

    check_layer_backward(dense_forward, backward, inputs, seed=1)
    check_layer_backward(dense_forward, backward, inputs, seed=1)
    check_layer_backward(dense_forward, backward, inputs, seed=np.random.default_rng(2))
    np.testing.assert_array_equal(seen[0], seen[1])
    assert not np.array_equal(seen[0], seen[2])


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


def one_grad_too_few(dout, cache):
    return dense_backward(dout, cache)[:2]


def transposed_dW(dout, cache):
    dx, dW, db = dense_backward(dout, cache)
    return dx, dW.T, db


def nan_grad(dout, cache):
    dx, dW, db = dense_backward(dout, cache)
    return dx * np.nan, dW, db


X, W, B = np.ones((2, 4)), np.ones((4, 3)), np.ones(3)

BAD_CALLS = [
    (
        lambda: numerical_gradient(lambda v: v, np.ones(3)),
        r"^numerical_gradient: f must return a scalar",
    ),
    (lambda: numerical_gradient(lambda v: "a", np.ones(3)), r"f must return a real number"),
    (
        lambda: numerical_gradient(lambda v: np.nan if v[0] > 1 else 0.0, np.ones(1)),
        r"f returned nan",
    ),
    (
        lambda: numerical_gradient(np.sum, np.ones(3), h=0),
        r"^numerical_gradient: h must be a positive",
    ),
    (lambda: numerical_gradient(np.sum, np.ones(3), h=np.inf), r"h must be finite"),
    (lambda: numerical_gradient("sum", np.ones(3)), r"^numerical_gradient: f must be callable"),
    (lambda: numerical_gradient(np.sum, np.array([1.0, np.nan])), r"x contains NaN"),
    (lambda: numerical_gradient(np.sum, ["a"]), r"x must hold real numbers"),
    (lambda: relative_error([1.0, 2.0], [1.0]), r"^relative_error: a has shape \(2,\) but b"),
    (lambda: relative_error([np.nan], [1.0]), r"^relative_error: a contains NaN"),
    (lambda: relative_error([1.0], [1j]), r"^relative_error: b must hold real numbers"),
    (
        lambda: check_layer_backward(dense_forward, one_grad_too_few, (X, W, B)),
        r"returned 2 gradient\(s\) for 3",
    ),
    (
        lambda: check_layer_backward(dense_forward, transposed_dW, (X, W, B)),
        r"gradient of inputs\[1\] has shape \(3, 4\)",
    ),
    (
        lambda: check_layer_backward(dense_forward, nan_grad, (X, W, B)),
        r"gradient of inputs\[0\] contains NaN",
    ),
    (lambda: check_layer_backward(dense_forward, dense_backward, X), r"inputs must be a tuple"),
    (lambda: check_layer_backward(dense_forward, dense_backward, ()), r"inputs is empty"),
    (
        lambda: check_layer_backward(dense_forward, dense_backward, (X, W, "b")),
        r"inputs\[2\] must hold real",
    ),
    (lambda: check_layer_backward(dense_forward, None, (X, W, B)), r"must be callable"),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_bad_input_raises_a_named_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_docstring_examples_run():
    result = doctest.testmod(gc, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
