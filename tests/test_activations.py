"""lapenna_labs.activations against PyTorch, TensorFlow, finite differences and properties."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import tensorflow as tf
import torch
from _frameworks import tf_value_and_grads, torch_value_and_grads, value_and_grads
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

import lapenna_labs.activations as act
from lapenna_labs.gradcheck import numerical_gradient, relative_error

# An overflow or invalid-value warning from NumPy means an unstable formula: fail on it.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

# A non-default leaky slope, so a hard-coded 0.01 would be caught. It is a power of two because
# tf.nn.leaky_relu stores alpha as a float32 attribute, even for float64 tensors: with 0.2 its
# float64 results are off by 3e-9 (TensorFlow's rounding, not ours).
ALPHA = 0.25

# name -> (our function, our derivative, framework implementations)
ELEMENTWISE = {
    "sigmoid": (
        act.sigmoid,
        act.sigmoid_grad,
        {"torch": torch.sigmoid, "tf": tf.sigmoid},
    ),
    "tanh": (act.tanh, act.tanh_grad, {"torch": torch.tanh, "tf": tf.tanh}),
    "relu": (act.relu, act.relu_grad, {"torch": torch.relu, "tf": tf.nn.relu}),
    "leaky_relu": (
        lambda z: act.leaky_relu(z, alpha=ALPHA),
        lambda z: act.leaky_relu_grad(z, alpha=ALPHA),
        {
            "torch": lambda t: torch.nn.functional.leaky_relu(t, negative_slope=ALPHA),
            "tf": lambda t: tf.nn.leaky_relu(t, alpha=ALPHA),
        },
    ),
    "identity": (act.identity, act.identity_grad, {"torch": lambda t: t * 1, "tf": tf.identity}),
}
SHAPES = [(), (7,), (3, 5), (2, 3, 4)]
FRAMEWORK_NAMES = ["torch", "tf"]


def random_z(rng: np.random.Generator, shape: tuple[int, ...], dtype) -> np.ndarray:
    """Normal inputs spread wide enough to reach the saturated parts of sigmoid and tanh."""
    return (3 * rng.standard_normal(shape)).astype(dtype)


# --------------------------------------------------------------------------------------------
# forward values and derivatives against PyTorch and TensorFlow
# --------------------------------------------------------------------------------------------


@pytest.mark.lab3
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_forward_matches_frameworks(name, shape, framework, dtype, tol, rng):
    f, _, reference = ELEMENTWISE[name]
    z = random_z(rng, shape, dtype)
    expected, _ = value_and_grads(framework, reference[framework], [z], wrt=())
    ours = f(z)
    assert np.shape(ours) == z.shape
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, expected, **tol)


@pytest.mark.lab4
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_derivative_matches_autograd(name, shape, framework, dtype, tol, rng):
    # The derivative of an elementwise f is the gradient of sum(f(z)).
    _, df, reference = ELEMENTWISE[name]
    z = random_z(rng, shape, dtype)
    fn = reference[framework]
    total = (lambda t: fn(t).sum()) if framework == "torch" else (lambda t: tf.reduce_sum(fn(t)))
    _, (expected,) = value_and_grads(framework, total, [z])
    ours = df(z)
    assert np.shape(ours) == z.shape
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, expected, **tol)


@pytest.mark.lab4
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_derivative_at_the_kink_follows_the_frameworks(name, framework, dtype):
    """At z = 0: relu'(0) = 0 and leaky_relu'(0) = alpha, as PyTorch and TensorFlow use."""
    _, df, reference = ELEMENTWISE[name]
    z = np.array([-1.0, 0.0, 1.0], dtype=dtype)
    fn = reference[framework]
    total = (lambda t: fn(t).sum()) if framework == "torch" else (lambda t: tf.reduce_sum(fn(t)))
    _, (expected,) = value_and_grads(framework, total, [z])
    np.testing.assert_array_equal(df(z), expected)
    assert act.relu_grad(0.0) == 0


@pytest.mark.lab4
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_derivative_matches_finite_differences(name, rng):
    f, df, _ = ELEMENTWISE[name]
    z = rng.standard_normal((4, 3))
    z[np.abs(z) < 1e-3] = 0.5  # keep clear of the ReLU kink, where no derivative exists
    numeric = numerical_gradient(lambda v: np.sum(f(v)), z)
    assert relative_error(df(z), numeric) < 1e-8


# --------------------------------------------------------------------------------------------
# the private kernels (what layers and the MLP call after checking their input once)
# --------------------------------------------------------------------------------------------


@pytest.mark.lab4
@pytest.mark.parametrize("name", sorted(act._KERNELS))
def test_kernels_write_into_out_and_equal_the_public_functions(name, dtype, rng):
    forward, derivative = act._KERNELS[name]
    f, df = act.ACTIVATIONS[name]
    z = random_z(rng, (4, 5), dtype)
    z[0, 0] = 0.0  # the kink, where relu' = 0 and leaky_relu' = alpha
    out = np.full_like(z, np.nan)
    a = forward(z, out=out)
    assert a is out
    np.testing.assert_array_equal(a, f(z))
    np.testing.assert_array_equal(forward(z), f(z))  # without out: a new array
    g = derivative(z, a)  # from z and the activation, as a backward pass has them
    assert g.shape == z.shape
    np.testing.assert_array_equal(np.asarray(g, dtype=dtype), df(z))


@pytest.mark.lab4
@pytest.mark.parametrize(("shape", "axis"), [((4, 6), -1), ((4, 6), 0), ((2, 3, 4), 1)], ids=str)
def test_softmax_kernel_writes_into_out(shape, axis, dtype, rng):
    z = random_z(rng, shape, dtype)
    out = np.empty_like(z)
    assert act._softmax(z, axis, out=out) is out
    np.testing.assert_array_equal(out, act.softmax(z, axis=axis))
    np.testing.assert_allclose(out, torch.softmax(torch.from_numpy(z), dim=axis).numpy(), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# softmax
# --------------------------------------------------------------------------------------------

SOFTMAX_CASES = [((5,), -1), ((5,), 0), ((4, 6), -1), ((4, 6), 0), ((2, 3, 4), 1), ((2, 3, 4), -1)]


@pytest.mark.lab3
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize(("shape", "axis"), SOFTMAX_CASES, ids=str)
def test_softmax_matches_frameworks_on_any_axis(shape, axis, framework, dtype, tol, rng):
    z = random_z(rng, shape, dtype)
    if framework == "torch":
        expected, _ = torch_value_and_grads(lambda t: torch.softmax(t, dim=axis), [z], wrt=())
    else:
        expected, _ = tf_value_and_grads(lambda t: tf.nn.softmax(t, axis=axis), [z], wrt=())
    ours = act.softmax(z, axis=axis)
    assert ours.shape == z.shape
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, expected, **tol)


@pytest.mark.lab4
@pytest.mark.parametrize("shape", [(1,), (3,), (6,)], ids=str)
def test_softmax_grad_vector_matches_torch_jacobian(shape, dtype, tol, rng):
    z = random_z(rng, shape, dtype)
    expected = torch.autograd.functional.jacobian(
        lambda t: torch.softmax(t, dim=-1), torch.tensor(z)
    ).numpy()
    ours = act.softmax_grad(z)
    assert ours.shape == (shape[0], shape[0])
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, expected, **tol)


@pytest.mark.lab4
@pytest.mark.parametrize("shape", [(1, 4), (5, 3), (3, 1)], ids=str)
def test_softmax_grad_batch_matches_torch_jacobian(shape, dtype, tol, rng):
    z = random_z(rng, shape, dtype)
    full = torch.autograd.functional.jacobian(
        lambda t: torch.softmax(t, dim=-1), torch.tensor(z)
    ).numpy()  # (N, K, N, K): rows do not interact, so only the diagonal blocks are nonzero
    n = shape[0]
    expected = full[np.arange(n), :, np.arange(n), :]
    ours = act.softmax_grad(z)
    assert ours.shape == (n, shape[1], shape[1])
    assert ours.dtype == dtype
    np.testing.assert_allclose(ours, expected, **tol)


@pytest.mark.lab4
def test_softmax_grad_batch_matches_tf_batch_jacobian(dtype, tol, rng):
    z = random_z(rng, (4, 5), dtype)
    zt = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(zt)
        s = tf.nn.softmax(zt)
    expected = tape.batch_jacobian(s, zt).numpy()
    np.testing.assert_allclose(act.softmax_grad(z), expected, **tol)


@pytest.mark.lab4
def test_softmax_grad_matches_finite_differences(rng):
    z = rng.standard_normal(4)
    jac = act.softmax_grad(z)
    for i in range(4):
        numeric = numerical_gradient(lambda v, i=i: act.softmax(v)[i], z)
        assert relative_error(jac[i], numeric) < 1e-8


# --------------------------------------------------------------------------------------------
# properties (hypothesis)
# --------------------------------------------------------------------------------------------

FLOAT_DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def logits_and_axis(draw, low=-1000.0, high=1000.0):
    dtype = draw(FLOAT_DTYPES)
    width = 32 if dtype == np.float32 else 64
    elements = st.one_of(
        st.sampled_from([low, high, 0.0]),
        st.floats(low, high, width=width, allow_nan=False, allow_infinity=False),
    )
    z = draw(arrays(dtype, array_shapes(min_dims=1, max_dims=3, max_side=5), elements=elements))
    axis = draw(st.integers(-z.ndim, z.ndim - 1))
    return z, axis


@pytest.mark.lab3
@settings(max_examples=50, deadline=None)
@given(logits_and_axis())
def test_softmax_sums_to_one_along_any_axis_and_stays_finite(case):
    z, axis = case
    s = act.softmax(z, axis=axis)
    assert s.shape == z.shape
    assert s.dtype == z.dtype
    assert np.all(np.isfinite(s))
    assert np.all((s >= 0) & (s <= 1))
    atol = 1e-5 if z.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=0, atol=atol)


@pytest.mark.lab3
@settings(max_examples=50, deadline=None)
@given(logits_and_axis())
def test_softmax_is_unchanged_by_shifting_the_logits(case):
    z, axis = case
    shifted = z - z.max(axis=axis, keepdims=True) + 7  # same differences, different level
    atol = 1e-5 if z.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(act.softmax(z, axis), act.softmax(shifted, axis), atol=atol)


@pytest.mark.lab3
@settings(max_examples=50, deadline=None)
@given(logits_and_axis())
def test_elementwise_activations_keep_shape_dtype_and_stay_finite(case):
    z, _ = case
    for name in act.ACTIVATIONS:
        f, df = act.get_activation(name)
        for out in (f(z), df(z)):
            assert out.shape == z.shape, name
            assert out.dtype == z.dtype, name
            assert np.all(np.isfinite(out)), name
    s = act.sigmoid(z)
    assert np.all((s >= 0) & (s <= 1))


@pytest.mark.lab4
@settings(max_examples=50, deadline=None)
@given(logits_and_axis(low=-50.0, high=50.0))
def test_softmax_jacobian_rows_sum_to_zero_and_are_symmetric(case):
    z, _ = case
    z2d = z.reshape(-1, z.shape[-1])
    jac = act.softmax_grad(z2d)
    assert jac.shape == (*z2d.shape, z2d.shape[-1])
    assert jac.dtype == z.dtype
    atol = 1e-6 if z.dtype == np.float32 else 1e-14
    np.testing.assert_allclose(jac.sum(axis=-1), 0, atol=atol)
    np.testing.assert_allclose(jac, np.swapaxes(jac, -1, -2), atol=atol)


@pytest.mark.lab3
def test_sigmoid_is_exact_at_zero_and_symmetric(rng):
    z = rng.standard_normal(20)
    assert act.sigmoid(0.0) == 0.5
    np.testing.assert_allclose(act.sigmoid(-z), 1 - act.sigmoid(z), rtol=0, atol=1e-15)


@pytest.mark.lab3
@pytest.mark.parametrize("dtype16", [np.float16])
def test_half_precision_is_kept(dtype16):
    z = np.array([-1.0, 0.5], dtype=dtype16)
    for name in act.ACTIVATIONS:
        f, df = act.get_activation(name)
        assert f(z).dtype == dtype16 and df(z).dtype == dtype16
    assert act.softmax(z).dtype == dtype16


@pytest.mark.lab3
def test_integer_input_becomes_float64():
    assert act.relu([1, -2]).dtype == np.float64
    np.testing.assert_array_equal(act.relu([1, -2]), [1.0, 0.0])


# --------------------------------------------------------------------------------------------
# registry and bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.lab3
def test_registry_has_the_contract_names():
    assert set(act.ACTIVATIONS) == {"sigmoid", "tanh", "relu", "leaky_relu", "identity", "linear"}
    assert act.get_activation("ReLU") == (act.relu, act.relu_grad)
    assert act.get_activation("linear") == act.get_activation("identity")


@pytest.mark.lab3
@pytest.mark.parametrize("bad", ["softplus", "", None, 3])
def test_get_activation_rejects_unknown_names_and_lists_valid_ones(bad):
    with pytest.raises(ValueError, match=r"get_activation: unknown activation .*'sigmoid'"):
        act.get_activation(bad)


ALL_FUNCTIONS = [
    act.sigmoid,
    act.sigmoid_grad,
    act.tanh,
    act.tanh_grad,
    act.relu,
    act.relu_grad,
    act.leaky_relu,
    act.leaky_relu_grad,
    act.identity,
    act.identity_grad,
    act.softmax,
    act.softmax_grad,
]


@pytest.mark.lab3
@pytest.mark.parametrize("f", ALL_FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.array(["a", "b"]), "must hold real numbers"),
        (np.array([1 + 2j, 3j]), "must hold real numbers.*complex"),
        (np.array([1.0, np.nan]), "contains NaN"),
        (np.array([1.0, np.inf]), "contains infinity"),
        ([[1.0, 2.0], [3.0]], "cannot be converted|must hold real numbers"),
    ],
    ids=["strings", "complex", "nan", "inf", "ragged"],
)
def test_bad_values_raise_a_named_error(f, bad, message):
    with pytest.raises(ValueError, match=rf"^{f.__name__}: z .*{message}"):
        f(bad)


@pytest.mark.lab3
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: act.softmax(np.ones((2, 3)), axis=2), r"softmax: axis 2 is out of range"),
        (lambda: act.softmax(np.ones(3), axis=-2), r"softmax: axis -2 is out of range"),
        (lambda: act.softmax(np.ones(3), axis=0.5), r"softmax: axis must be an integer"),
        (lambda: act.softmax(1.0), r"softmax: z must be at least 1-D"),
        (lambda: act.softmax_grad(np.ones((2, 2, 2))), r"softmax_grad: z must be 1-D or 2-D"),
        (lambda: act.softmax_grad(2.0), r"softmax_grad: z must be 1-D or 2-D"),
        (lambda: act.leaky_relu([1.0], alpha="0.1"), r"leaky_relu: alpha must be a finite"),
        (lambda: act.leaky_relu_grad([1.0], alpha=np.nan), r"leaky_relu_grad: alpha must be"),
    ],
)
def test_bad_arguments_raise_a_named_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.lab3
def test_docstring_examples_run():
    result = doctest.testmod(act, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
