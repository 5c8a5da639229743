"""lapenna_labs.layers against PyTorch, TensorFlow, finite differences and a published example."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F
from _frameworks import value_and_grads
from hypothesis import given, settings
from hypothesis import strategies as st

import lapenna_labs.layers as layers
from lapenna_labs.activations import ACTIVATIONS
from lapenna_labs.gradcheck import check_layer_backward
from lapenna_labs.layers import (
    activation_backward,
    activation_forward,
    dense_backward,
    dense_forward,
)
from lapenna_labs.losses import half_sum_squared_error, half_sum_squared_error_grad

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

FRAMEWORK_NAMES = ["torch", "tf"]
DENSE_SHAPES = [(1, 1, 1), (4, 3, 5), (16, 8, 2), (7, 33, 10)]  # (N, D, M)


def dense_inputs(n, d, m, dtype, rng):
    x = rng.standard_normal((n, d)).astype(dtype)
    W = (rng.standard_normal((d, m)) / np.sqrt(d)).astype(dtype)
    b = rng.standard_normal(m).astype(dtype)
    return x, W, b


DENSE_REFERENCE = {
    "torch": lambda x, W, b: x @ W + b,
    "tf": lambda x, W, b: tf.matmul(x, W) + b,
}


# --------------------------------------------------------------------------------------------
# dense layer
# --------------------------------------------------------------------------------------------


@pytest.mark.lab3
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=str)
def test_dense_forward_matches_frameworks(shape, framework, dtype, tol, rng):
    x, W, b = dense_inputs(*shape, dtype, rng)
    expected, _ = value_and_grads(framework, DENSE_REFERENCE[framework], [x, W, b], wrt=())
    out, cache = dense_forward(x, W, b)
    assert out.shape == (shape[0], shape[2])
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, **tol)


@pytest.mark.lab4
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=str)
def test_dense_backward_matches_autograd(shape, framework, dtype, tol, rng):
    x, W, b = dense_inputs(*shape, dtype, rng)
    dout = rng.standard_normal((shape[0], shape[2])).astype(dtype)
    _, expected = value_and_grads(framework, DENSE_REFERENCE[framework], [x, W, b], upstream=dout)
    _, cache = dense_forward(x, W, b)
    grads = dense_backward(dout, cache)
    for name, ours, theirs, inp in zip(("dx", "dW", "db"), grads, expected, (x, W, b), strict=True):
        assert ours.shape == inp.shape, name
        assert ours.dtype == dtype, name
        np.testing.assert_allclose(ours, theirs, **tol, err_msg=name)


@pytest.mark.lab4
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=str)
def test_dense_backward_matches_finite_differences(shape, rng):
    errors = check_layer_backward(dense_forward, dense_backward, dense_inputs(*shape, float, rng))
    assert len(errors) == 3
    assert max(errors) < 1e-8


@pytest.mark.lab4
def test_dense_gradients_take_the_dtype_of_their_input(rng):
    x, W, b = dense_inputs(3, 4, 2, np.float32, rng)
    _, cache = dense_forward(x, W, b)
    dx, dW, db = dense_backward(rng.standard_normal((3, 2)), cache)  # a float64 dout
    assert dx.dtype == dW.dtype == db.dtype == np.float32


# --------------------------------------------------------------------------------------------
# activation layer
# --------------------------------------------------------------------------------------------

ALPHA = 0.01  # the layer uses leaky_relu's default slope
LAYER_ACTIVATIONS = {
    "sigmoid": {"torch": torch.sigmoid, "tf": tf.sigmoid},
    "tanh": {"torch": torch.tanh, "tf": tf.tanh},
    "relu": {"torch": torch.relu, "tf": tf.nn.relu},
    "leaky_relu": {
        "torch": lambda t: F.leaky_relu(t, ALPHA),
        # tf.nn.leaky_relu keeps alpha in float32 even for float64 tensors, so it is written out.
        "tf": lambda t: tf.where(t > 0, t, ALPHA * t),
    },
    "identity": {"torch": lambda t: t * 1, "tf": tf.identity},
    "linear": {"torch": lambda t: t * 1, "tf": tf.identity},
    "softmax": {"torch": lambda t: torch.softmax(t, dim=-1), "tf": tf.nn.softmax},
}


@pytest.mark.lab3
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", [(1, 3), (8, 5)], ids=str)
@pytest.mark.parametrize("name", LAYER_ACTIVATIONS)
def test_activation_forward_matches_frameworks(name, shape, framework, dtype, tol, rng):
    z = (2 * rng.standard_normal(shape)).astype(dtype)
    expected, _ = value_and_grads(framework, LAYER_ACTIVATIONS[name][framework], [z], wrt=())
    a, cache = activation_forward(z, name)
    assert a.shape == z.shape and a.dtype == dtype
    assert cache.activation == name
    np.testing.assert_allclose(a, expected, **tol)


@pytest.mark.lab4
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", [(1, 3), (8, 5)], ids=str)
@pytest.mark.parametrize("name", LAYER_ACTIVATIONS)
def test_activation_backward_matches_autograd(name, shape, framework, dtype, tol, rng):
    z = (2 * rng.standard_normal(shape)).astype(dtype)
    da = rng.standard_normal(shape).astype(dtype)
    fn = LAYER_ACTIVATIONS[name][framework]
    _, (expected,) = value_and_grads(framework, fn, [z], upstream=da)
    _, cache = activation_forward(z, name)
    dz = activation_backward(da, cache)
    assert dz.shape == z.shape and dz.dtype == dtype
    np.testing.assert_allclose(dz, expected, **tol)


@pytest.mark.lab4
@pytest.mark.parametrize("name", LAYER_ACTIVATIONS)
def test_activation_backward_matches_finite_differences(name, rng):
    z = rng.standard_normal((5, 4))
    z[np.abs(z) < 1e-3] = 0.5  # away from the ReLU kink

    def forward(z):
        return activation_forward(z, name)

    [error] = check_layer_backward(forward, activation_backward, (z,))
    assert error < 1e-8


@pytest.mark.lab3
def test_activation_names_cover_the_registry():
    assert set(ACTIVATIONS) | {"softmax"} == set(LAYER_ACTIVATIONS)


# --------------------------------------------------------------------------------------------
# the private kernels (what the MLP calls after checking its input once)
# --------------------------------------------------------------------------------------------


@pytest.mark.lab4
@pytest.mark.parametrize("shape", DENSE_SHAPES, ids=str)
def test_dense_kernels_write_into_out_and_equal_the_public_layer(shape, dtype, rng):
    n, d, m = shape
    x, W, b = dense_inputs(n, d, m, dtype, rng)
    dout = rng.standard_normal((n, m)).astype(dtype)
    z, cache = dense_forward(x, W, b)
    out = np.full((n, m), np.nan, dtype=dtype)
    assert layers._dense_forward(x, W, b, out) is out
    np.testing.assert_array_equal(out, z)
    np.testing.assert_array_equal(layers._dense_forward(x, W, b), z)
    grads = dense_backward(dout, cache)
    for got, want in zip(layers._dense_backward(dout, x, W), grads, strict=True):
        np.testing.assert_array_equal(got, want)
    buffers = (np.full_like(W, np.nan), np.full_like(b, np.nan))
    no_dx, dW, db = layers._dense_backward(dout, x, W, need_dx=False, out=buffers)  # a first layer
    assert no_dx is None and dW is buffers[0] and db is buffers[1]
    np.testing.assert_array_equal(dW, grads[1])
    np.testing.assert_array_equal(db, grads[2])


@pytest.mark.lab4
@pytest.mark.parametrize("name", LAYER_ACTIVATIONS)
def test_activation_kernels_write_into_out_and_equal_the_public_layer(name, dtype, tol, rng):
    z = (2 * rng.standard_normal((6, 5))).astype(dtype)
    da = rng.standard_normal((6, 5)).astype(dtype)
    a, cache = activation_forward(z, name)
    out = np.full_like(z, np.nan)
    assert layers._activation_forward(z, name, out) is out
    np.testing.assert_array_equal(out, a)
    in_place = da.copy()  # the MLP overwrites the incoming gradient with dL/dz
    assert layers._activation_backward(in_place, z, a, name, out=in_place) is in_place
    np.testing.assert_allclose(in_place, activation_backward(da, cache), **tol)
    np.testing.assert_allclose(layers._activation_backward(da, z, a, name), in_place, **tol)


# --------------------------------------------------------------------------------------------
# chained layers: a published worked example and a network against PyTorch
# --------------------------------------------------------------------------------------------


@pytest.mark.lab4
def test_mazur_two_two_two_network_forward_backward_and_update():
    """M. Mazur, "A step by step backpropagation example" (2015), the slides' 2-2-2 network.

    Hidden h1 = sigmoid(w1 i1 + w2 i2 + b1), h2 = sigmoid(w3 i1 + w4 i2 + b1); outputs
    likewise with w5..w8 and b2. All expected numbers are Mazur's.
    """
    x = np.array([[0.05, 0.10]])
    W1 = np.array([[0.15, 0.25], [0.20, 0.30]])  # column j feeds hidden neuron j
    W2 = np.array([[0.40, 0.50], [0.45, 0.55]])
    b1, b2 = np.array([0.35, 0.35]), np.array([0.60, 0.60])
    target = np.array([[0.01, 0.99]])

    z1, c1 = dense_forward(x, W1, b1)
    h, c2 = activation_forward(z1, "sigmoid")
    z2, c3 = dense_forward(h, W2, b2)
    o, c4 = activation_forward(z2, "sigmoid")
    np.testing.assert_allclose(h, [[0.593269992, 0.596884378]], atol=1e-9)
    np.testing.assert_allclose(o, [[0.75136507, 0.772928465]], atol=1e-8)
    assert half_sum_squared_error(o, target) == pytest.approx(0.298371109, abs=1e-9)

    dz2 = activation_backward(half_sum_squared_error_grad(o, target), c4)
    dh, dW2, _ = dense_backward(dz2, c3)
    dz1 = activation_backward(dh, c2)
    _, dW1, _ = dense_backward(dz1, c1)

    lr = 0.5
    # Mazur: w5+ = 0.35891648, w6+ = 0.408666186, w7+ = 0.511301270, w8+ = 0.561370121
    np.testing.assert_allclose(
        W2 - lr * dW2, [[0.35891648, 0.511301270], [0.408666186, 0.561370121]], atol=1e-8
    )
    # Mazur: w1+ = 0.149780716, w2+ = 0.19956143, w3+ = 0.24975114, w4+ = 0.29950229.
    # (The lecture slides print w2+ = 0.19978072: their code uses i1 where i2 belongs.)
    np.testing.assert_allclose(
        W1 - lr * dW1, [[0.149780716, 0.24975114], [0.19956143, 0.29950229]], atol=1e-8
    )


@pytest.mark.lab4
def test_two_layer_network_gradients_match_torch(dtype, tol, rng):
    n, d, hdim, k = 6, 5, 4, 3
    x, W1, b1 = dense_inputs(n, d, hdim, dtype, rng)
    _, W2, b2 = dense_inputs(n, hdim, k, dtype, rng)
    y = rng.integers(0, k, size=n)

    def torch_loss(x, W1, b1, W2, b2, y):
        return F.cross_entropy(torch.tanh(x @ W1 + b1) @ W2 + b2, y)

    _, expected = value_and_grads("torch", torch_loss, [x, W1, b1, W2, b2, y], wrt=[0, 1, 2, 3, 4])

    from lapenna_labs.losses import softmax_cross_entropy_with_grad

    z1, c1 = dense_forward(x, W1, b1)
    a1, c2 = activation_forward(z1, "tanh")
    z2, c3 = dense_forward(a1, W2, b2)
    _, dz2 = softmax_cross_entropy_with_grad(z2, y)
    da1, dW2, db2 = dense_backward(dz2, c3)
    dx, dW1, db1 = dense_backward(activation_backward(da1, c2), c1)
    for ours, theirs in zip((dx, dW1, db1, dW2, db2), expected, strict=True):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, theirs, **tol)


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------


@pytest.mark.lab3
@settings(max_examples=50, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(1, 6),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from(sorted(LAYER_ACTIVATIONS)),
)
def test_layer_shapes_and_dtypes(n, d, m, dtype, name):
    rng = np.random.default_rng(n * 100 + d * 10 + m)
    x, W, b = dense_inputs(n, d, m, dtype, rng)
    out, cache = dense_forward(x, W, b)
    assert out.shape == (n, m) and out.dtype == dtype
    a, acache = activation_forward(out, name)
    assert a.shape == out.shape and a.dtype == dtype
    dz = activation_backward(np.ones_like(a), acache)
    assert dz.shape == out.shape and dz.dtype == dtype
    dx, dW, db = dense_backward(dz, cache)
    assert (dx.shape, dW.shape, db.shape) == (x.shape, W.shape, b.shape)
    assert dx.dtype == dW.dtype == db.dtype == dtype


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------

X, W, B = np.ones((2, 4)), np.ones((4, 3)), np.ones(3)
_, CACHE = dense_forward(X, W, B)
_, ACACHE = activation_forward(np.ones((2, 3)), "tanh")

BAD_CALLS = [
    (
        lambda: dense_forward(np.ones((2, 3)), W, B),
        r"^dense_forward: x has 3 features but W expects 4",
    ),
    (
        lambda: dense_forward(X, W, np.ones(4)),
        r"^dense_forward: b has 4 entries but W has 3 outputs",
    ),
    (lambda: dense_forward(np.ones(4), W, B), r"^dense_forward: x must be 2-D .*x\[None, :\]"),
    (lambda: dense_forward(np.ones((2, 2, 4)), W, B), r"^dense_forward: x must be 2-D"),
    (lambda: dense_forward(X, np.ones(4), B), r"^dense_forward: W must be 2-D"),
    (lambda: dense_forward(X, W, np.ones((1, 3))), r"^dense_forward: b must be 1-D"),
    (lambda: dense_forward(X.astype(str), W, B), r"^dense_forward: x must hold real numbers"),
    (lambda: dense_forward(X, W + 0j, B), r"^dense_forward: W must hold real numbers.*complex"),
    (lambda: dense_forward(X, W, B * np.nan), r"^dense_forward: b contains NaN"),
    (lambda: dense_backward(np.ones((2, 4)), CACHE), r"^dense_backward: dout has shape \(2, 4\)"),
    (lambda: dense_backward(np.ones(3), CACHE), r"^dense_backward: dout must be 2-D"),
    (lambda: dense_backward(np.full((2, 3), np.nan), CACHE), r"^dense_backward: dout contains NaN"),
    (lambda: dense_backward(np.ones((2, 3)), (X, W)), r"^dense_backward: cache must be the"),
    (lambda: activation_forward(X, "swish"), r"^activation_forward: unknown activation 'swish'"),
    (lambda: activation_forward(X, None), r"valid names are .*'softmax'"),
    (lambda: activation_forward(["x"], "relu"), r"^activation_forward: z must hold real numbers"),
    (lambda: activation_forward(1.0, "softmax"), r"^activation_forward: softmax needs z"),
    (lambda: activation_backward(np.ones((3, 2)), ACACHE), r"^activation_backward: da has shape"),
    (lambda: activation_backward(np.ones((2, 3)), CACHE), r"^activation_backward: cache must be"),
    (lambda: activation_backward([[np.inf] * 3] * 2, ACACHE), r"da contains infinity"),
]


@pytest.mark.lab3
@pytest.mark.parametrize(("call", "message"), BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_bad_input_raises_a_named_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.lab3
def test_docstring_examples_run():
    result = doctest.testmod(layers, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
