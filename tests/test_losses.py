"""lapenna_labs.losses against PyTorch, TensorFlow/Keras, finite differences and properties."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F
from _frameworks import tf_value_and_grads, torch_value_and_grads
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import lapenna_labs.losses as L
from lapenna_labs.activations import sigmoid, softmax
from lapenna_labs.gradcheck import numerical_gradient, relative_error

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

FRAMEWORK_NAMES = ["torch", "tf"]
REGRESSION_SHAPES = [(1,), (5,), (4, 3), (2, 3, 4)]
CLASSIFICATION_SHAPES = [(1, 2), (5, 3), (16, 10)]

# Independent implementations of each regression-style loss: (torch, tensorflow).
REGRESSION_REFERENCES = {
    "mse": (
        lambda p, t: F.mse_loss(p, t),
        lambda p, t: tf.reduce_mean(tf.square(t - p)),  # the slides' TensorFlow line
    ),
    "half_sum_squared_error": (
        lambda o, t: 0.5 * ((t - o) ** 2).sum(),
        lambda o, t: 0.5 * tf.reduce_sum(tf.square(t - o)),
    ),
    "binary_cross_entropy": (
        lambda p, t: F.binary_cross_entropy(p, t),
        lambda p, t: tf.reduce_mean(tf.keras.losses.binary_crossentropy(t, p)),
    ),
}


def regression_inputs(name, shape, dtype, rng):
    if name == "binary_cross_entropy":
        # Probabilities away from 0 and 1, where no implementation clips; hard and soft targets.
        p = rng.uniform(0.02, 0.98, size=shape)
        t = rng.integers(0, 2, size=shape).astype(float)
        t.flat[::3] = rng.uniform(0, 1, size=t.flat[::3].shape)
        return p.astype(dtype), t.astype(dtype)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


def reference(framework, fn_pair, inputs, wrt=(0,)):
    helper = torch_value_and_grads if framework == "torch" else tf_value_and_grads
    fn = fn_pair[0] if framework == "torch" else fn_pair[1]
    value, grads = helper(fn, inputs, wrt=wrt)
    return float(value), grads


# --------------------------------------------------------------------------------------------
# regression losses and binary cross-entropy
# --------------------------------------------------------------------------------------------


@pytest.mark.lab3
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", REGRESSION_SHAPES, ids=str)
@pytest.mark.parametrize("name", REGRESSION_REFERENCES)
def test_loss_value_matches_frameworks(name, shape, framework, dtype, tol, rng):
    pred, target = regression_inputs(name, shape, dtype, rng)
    expected, _ = reference(framework, REGRESSION_REFERENCES[name], [pred, target], wrt=())
    loss = L.LOSSES[name][0](pred, target)
    assert type(loss) is float
    assert loss == pytest.approx(expected, rel=tol["rtol"], abs=tol["atol"])


@pytest.mark.lab4
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", REGRESSION_SHAPES, ids=str)
@pytest.mark.parametrize("name", REGRESSION_REFERENCES)
def test_loss_gradient_matches_autograd(name, shape, framework, dtype, tol, rng):
    pred, target = regression_inputs(name, shape, dtype, rng)
    _, (expected,) = reference(framework, REGRESSION_REFERENCES[name], [pred, target])
    grad = L.LOSSES[name][1](pred, target)
    assert grad.shape == pred.shape
    assert grad.dtype == dtype
    np.testing.assert_allclose(grad, expected, **tol)


@pytest.mark.lab4
@pytest.mark.parametrize("name", REGRESSION_REFERENCES)
def test_loss_gradient_matches_finite_differences(name, rng):
    pred, target = regression_inputs(name, (3, 4), np.float64, rng)
    loss, grad = L.get_loss(name)
    numeric = numerical_gradient(lambda p: loss(p, target), pred)
    assert relative_error(grad(pred, target), numeric) < 1e-7


@pytest.mark.lab3
def test_half_sum_squared_error_is_mazurs_total_error():
    # Mazur's worked example (also the slides'): outputs 0.75136507, 0.772928465 against targets
    # 0.01 and 0.99 give E_total = 0.298371109.
    e = L.half_sum_squared_error([0.75136507, 0.772928465], [0.01, 0.99])
    assert e == pytest.approx(0.298371109, abs=1e-9)
    grad = L.half_sum_squared_error_grad([0.75136507, 0.772928465], [0.01, 0.99])
    np.testing.assert_allclose(grad, [0.74136507, -0.217071535], rtol=1e-12)


@pytest.mark.lab3
def test_mse_is_twice_the_half_sum_over_n(rng):
    o, t = rng.standard_normal((2, 6, 3))
    assert L.mse(o, t) == pytest.approx(2 * L.half_sum_squared_error(o, t) / o.size, rel=1e-12)


@pytest.mark.lab3
def test_binary_cross_entropy_clips_certain_wrong_answers():
    # -log(1e-12) = 27.631...: confident and wrong costs a lot, but not infinity.
    assert L.binary_cross_entropy([1.0, 0.0], [0.0, 1.0]) == pytest.approx(-math.log(1e-12))
    assert L.binary_cross_entropy([1.0, 0.0], [1.0, 0.0]) == pytest.approx(0.0, abs=1e-11)
    for dtype in (np.float32, np.float64):
        grad = L.binary_cross_entropy_grad(np.array([1.0, 0.0], dtype), np.array([0.0, 1.0]))
        assert grad.dtype == dtype
        assert np.all(np.isfinite(grad))
        assert grad[0] > 0 > grad[1]


# --------------------------------------------------------------------------------------------
# categorical and softmax cross-entropy
# --------------------------------------------------------------------------------------------


def classification_inputs(shape, dtype, rng):
    n, k = shape
    logits = (3 * rng.standard_normal(shape)).astype(dtype)
    labels = rng.integers(0, k, size=n)
    onehot = np.eye(k, dtype=dtype)[labels]
    return logits, labels, onehot


def torch_cce(probs, labels):
    return F.nll_loss(torch.log(probs), labels)


def tf_cce(probs, onehot):
    # Keras's categorical_crossentropy renormalises probs, which changes the gradient, so
    # TensorFlow differentiates the textbook formula instead.
    return -tf.reduce_mean(tf.reduce_sum(onehot * tf.math.log(probs), axis=-1))


@pytest.mark.lab3
@pytest.mark.parametrize("target_kind", ["labels", "onehot"])
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", CLASSIFICATION_SHAPES, ids=str)
def test_categorical_cross_entropy_matches_frameworks(
    shape, framework, target_kind, dtype, tol, rng
):
    logits, labels, onehot = classification_inputs(shape, dtype, rng)
    probs = softmax(logits)
    if framework == "torch":
        expected, (grad_expected,) = torch_value_and_grads(torch_cce, [probs, labels], wrt=[0])
    else:
        expected, (grad_expected,) = tf_value_and_grads(tf_cce, [probs, onehot], wrt=[0])
    y = labels if target_kind == "labels" else onehot
    loss = L.categorical_cross_entropy(probs, y)
    grad = L.categorical_cross_entropy_grad(probs, y)
    assert type(loss) is float
    assert loss == pytest.approx(float(expected), rel=tol["rtol"], abs=tol["atol"])
    assert grad.shape == probs.shape and grad.dtype == dtype
    # The gradient is -1/p at the true class; small probabilities make it large.
    np.testing.assert_allclose(grad, grad_expected, rtol=tol["rtol"], atol=0)


@pytest.mark.lab3
@pytest.mark.parametrize("target_kind", ["labels", "onehot"])
@pytest.mark.parametrize("framework", FRAMEWORK_NAMES)
@pytest.mark.parametrize("shape", CLASSIFICATION_SHAPES, ids=str)
def test_softmax_cross_entropy_matches_frameworks(shape, framework, target_kind, dtype, tol, rng):
    logits, labels, onehot = classification_inputs(shape, dtype, rng)
    if framework == "torch":
        target = labels if target_kind == "labels" else onehot
        expected, (grad_expected,) = torch_value_and_grads(
            F.cross_entropy, [logits, target], wrt=[0]
        )
    elif target_kind == "labels":
        expected, (grad_expected,) = tf_value_and_grads(
            lambda z, y: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, z)),
            [logits, labels],
            wrt=[0],
        )
    else:
        expected, (grad_expected,) = tf_value_and_grads(
            lambda z, t: tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(t, z)),
            [logits, onehot],
            wrt=[0],
        )
    y = labels if target_kind == "labels" else onehot
    expected = float(expected)
    for loss in (
        L.softmax_cross_entropy(logits, y),
        L.softmax_cross_entropy_with_grad(logits, y)[0],
    ):
        assert type(loss) is float
        assert loss == pytest.approx(expected, rel=tol["rtol"], abs=tol["atol"])
    for grad in (
        L.softmax_cross_entropy_grad(logits, y),
        L.softmax_cross_entropy_with_grad(logits, y)[1],
    ):
        assert grad.shape == logits.shape and grad.dtype == dtype
        np.testing.assert_allclose(grad, grad_expected, **tol)


@pytest.mark.lab4
@pytest.mark.parametrize("shape", [(1, 3), (7, 5), (32, 10)], ids=str)
def test_fused_kernel_takes_labels_or_rows_and_writes_into_out(shape, dtype, tol, rng):
    """The private kernel the MLP calls, with labels (its usual case) or rows, against torch."""
    logits, labels, onehot = classification_inputs(shape, dtype, rng)
    expected, (grad_expected,) = torch_value_and_grads(F.cross_entropy, [logits, labels], wrt=[0])
    before = logits.copy()
    for y in (labels, onehot):
        out = np.full_like(logits, np.nan)
        loss, grad = L._softmax_cross_entropy_with_grad(logits, y, out=out)
        assert grad is out and type(loss) is float
        assert loss == pytest.approx(float(expected), rel=tol["rtol"], abs=tol["atol"])
        np.testing.assert_allclose(grad, grad_expected, **tol)
        loss_new, grad_new = L._softmax_cross_entropy_with_grad(logits, y)
        assert loss_new == loss
        np.testing.assert_array_equal(grad_new, grad)
    np.testing.assert_array_equal(logits, before)  # the logits are not overwritten
    np.testing.assert_array_equal(grad, L.softmax_cross_entropy_grad(logits, labels))


@pytest.mark.lab4
def test_loss_kernels_equal_the_public_losses(rng):
    """The registry the MLP uses for the losses it applies to its outputs."""
    assert set(L._KERNELS) == {"mse", "half_sum_squared_error", "binary_cross_entropy"}
    pred = rng.uniform(0.05, 0.95, (6, 3))
    target = rng.integers(0, 2, (6, 3)).astype(float)
    for name, (loss, grad) in L._KERNELS.items():
        public_loss, public_grad = L.LOSSES[name]
        assert loss(pred, target) == public_loss(pred, target)
        np.testing.assert_array_equal(grad(pred, target), public_grad(pred, target))


@pytest.mark.lab4
def test_softmax_cross_entropy_gradient_matches_finite_differences(rng):
    logits, labels, onehot = classification_inputs((4, 5), np.float64, rng)
    for y in (labels, onehot):
        numeric = numerical_gradient(lambda z, y=y: L.softmax_cross_entropy(z, y), logits)
        assert relative_error(L.softmax_cross_entropy_grad(logits, y), numeric) < 1e-8


@pytest.mark.lab4
def test_categorical_cross_entropy_gradient_matches_finite_differences(rng):
    logits, labels, _ = classification_inputs((4, 5), np.float64, rng)
    probs = softmax(logits) * 0.5 + 0.1  # away from 0, where -log p bends too fast for h = 1e-5
    numeric = numerical_gradient(lambda p: L.categorical_cross_entropy(p, labels), probs)
    assert relative_error(L.categorical_cross_entropy_grad(probs, labels), numeric) < 1e-7


@pytest.mark.lab4
def test_chain_rule_links_the_two_cross_entropies(rng):
    """d/dz CE(softmax(z)) = J_softmax^T dCE/dp = softmax(z) - onehot (divided by N)."""
    from lapenna_labs.activations import softmax_grad

    logits, labels, _ = classification_inputs((3, 4), np.float64, rng)
    dprobs = L.categorical_cross_entropy_grad(softmax(logits), labels)
    chained = np.einsum("nij,ni->nj", softmax_grad(logits), dprobs)
    np.testing.assert_allclose(chained, L.softmax_cross_entropy_grad(logits, labels), atol=1e-12)


@pytest.mark.lab3
def test_slides_softmax_classifier_losses():
    # The slides' table: -log 0.2 = 1.61, -log 0.7 = 0.356, -log 0.9 = 0.105, -log 1.0 = 0.
    probs = np.array([[0.2, 0.8], [0.7, 0.3], [0.9, 0.1], [1.0, 0.0]])
    per_sample = [L.categorical_cross_entropy(p, 0) for p in probs]
    np.testing.assert_allclose(per_sample, [1.61, 0.356, 0.105, 0.0], atol=5e-3)
    assert L.categorical_cross_entropy(probs, [0, 0, 0, 0]) == pytest.approx(np.mean(per_sample))


@pytest.mark.lab3
def test_one_sample_vectors_behave_like_a_batch_of_one(rng):
    logits, labels, onehot = classification_inputs((1, 4), np.float64, rng)
    z, label = logits[0], int(labels[0])
    assert L.softmax_cross_entropy(z, label) == L.softmax_cross_entropy(logits, labels)
    assert L.softmax_cross_entropy(z, onehot[0]) == L.softmax_cross_entropy(logits, labels)
    grad = L.softmax_cross_entropy_grad(z, label)
    assert grad.shape == (4,)
    np.testing.assert_array_equal(grad, L.softmax_cross_entropy_grad(logits, labels)[0])
    probs = softmax(z)
    assert L.categorical_cross_entropy(probs, label) == pytest.approx(-np.log(probs[label]))
    assert L.categorical_cross_entropy_grad(probs, label).shape == (4,)


@pytest.mark.lab3
def test_integer_valued_float_labels_are_accepted():
    z = np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]])
    assert L.softmax_cross_entropy(z, np.array([2.0, 0.0])) == L.softmax_cross_entropy(z, [2, 0])


# --------------------------------------------------------------------------------------------
# properties (hypothesis): finite for logits of +-1000, shapes and dtypes
# --------------------------------------------------------------------------------------------


@st.composite
def extreme_logits_and_labels(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, 6))
    k = draw(st.integers(2, 6))
    width = 32 if dtype == np.float32 else 64
    elements = st.one_of(
        st.sampled_from([-1000.0, 1000.0]),
        st.floats(-1000, 1000, width=width, allow_nan=False, allow_infinity=False),
    )
    logits = draw(arrays(dtype, (n, k), elements=elements))
    labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    return logits, labels


@pytest.mark.lab3
@settings(max_examples=50, deadline=None)
@given(extreme_logits_and_labels())
def test_cross_entropies_stay_finite_for_huge_logits(case):
    logits, labels = case
    onehot = np.eye(logits.shape[1])[labels]
    probs = softmax(logits)
    losses = [
        L.softmax_cross_entropy(logits, labels),
        L.softmax_cross_entropy(logits, onehot),
        L.categorical_cross_entropy(probs, labels),
        L.binary_cross_entropy(sigmoid(logits), onehot),
    ]
    grads = [
        L.softmax_cross_entropy_grad(logits, labels),
        L.softmax_cross_entropy_with_grad(logits, onehot)[1],
        L.categorical_cross_entropy_grad(probs, labels),
        L.binary_cross_entropy_grad(sigmoid(logits), onehot),
    ]
    for loss in losses:
        assert math.isfinite(loss) and loss >= 0
    for grad in grads:
        assert grad.shape == logits.shape
        assert grad.dtype == logits.dtype
        assert np.all(np.isfinite(grad))
    # Stable is not enough: the value must be right. PyTorch's cross_entropy is also stable.
    expected = F.cross_entropy(torch.tensor(logits, dtype=torch.float64), torch.tensor(labels))
    assert losses[0] == pytest.approx(float(expected), rel=1e-5, abs=1e-4)


@pytest.mark.lab3
@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from([np.float32, np.float64]).flatmap(
        lambda dt: arrays(
            dt,
            st.tuples(st.integers(1, 4), st.integers(1, 4)),
            elements=st.floats(-10, 10, width=32),
        )
    )
)
def test_regression_gradients_keep_shape_and_dtype(pred):
    target = np.zeros_like(pred, dtype=np.float64)  # a float64 target must not upcast the grad
    for name in ("mse", "half_sum_squared_error"):
        loss, grad = L.get_loss(name)
        assert type(loss(pred, target)) is float
        g = grad(pred, target)
        assert g.shape == pred.shape and g.dtype == pred.dtype
    p = sigmoid(pred)
    g = L.binary_cross_entropy_grad(p, (target > 0).astype(float))
    assert g.shape == pred.shape and g.dtype == pred.dtype


# --------------------------------------------------------------------------------------------
# registry and bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.lab3
def test_registry_has_the_contract_names():
    assert set(L.LOSSES) == {
        "mse",
        "half_sum_squared_error",
        "binary_cross_entropy",
        "categorical_cross_entropy",
        "softmax_cross_entropy",
    }
    assert L.get_loss("Softmax_Cross_Entropy") == (
        L.softmax_cross_entropy,
        L.softmax_cross_entropy_grad,
    )
    with pytest.raises(ValueError, match=r"get_loss: unknown loss 'hinge'.*'mse'"):
        L.get_loss("hinge")


Z = np.zeros((2, 3))
P = np.full((2, 3), 1 / 3)

BAD_CALLS = [
    # mismatched shapes: no silent broadcasting
    (L.mse, (np.zeros((2, 3)), np.zeros((3,))), r"^mse: y_pred has shape \(2, 3\) but y_true"),
    (L.mse_grad, (np.zeros((4, 1)), np.zeros(4)), r"^mse_grad: y_pred has shape \(4, 1\)"),
    (L.half_sum_squared_error, ([1.0, 2.0], [1.0]), r"^half_sum_squared_error: o has shape"),
    (L.binary_cross_entropy, ([0.5], [0.5, 0.5]), r"^binary_cross_entropy: p has shape"),
    # wrong dtypes
    (L.mse, (["a", "b"], [1.0, 2.0]), r"^mse: y_pred must hold real numbers"),
    (L.mse_grad, ([1.0, 2.0], [1j, 2.0]), r"^mse_grad: y_true must hold real numbers.*complex"),
    (L.softmax_cross_entropy, (Z.astype(complex), [0, 1]), r"logits must hold real numbers"),
    (L.softmax_cross_entropy, (Z, ["a", "b"]), r"y must be integer class labels"),
    # NaN and infinity
    (L.mse, ([np.nan], [1.0]), r"^mse: y_pred contains NaN"),
    (L.half_sum_squared_error_grad, ([1.0], [np.inf]), r"^half_sum_squared_error_grad: t .*inf"),
    (L.softmax_cross_entropy_grad, ([[0.0, np.nan]], [0]), r"logits contains NaN"),
    (L.categorical_cross_entropy, ([[0.5, np.nan]], [0]), r"probs contains NaN"),
    # labels out of range, negative, not integers, wrong count or shape
    (L.softmax_cross_entropy, (Z, [0, 3]), r"y has label 3 but there are only 3 classes"),
    (L.categorical_cross_entropy, (P, [0, -1]), r"y has a negative label"),
    (L.softmax_cross_entropy_with_grad, (Z, [0.5, 1]), r"y must be integer class labels"),
    (L.softmax_cross_entropy, (Z, [0, 1, 2]), r"y has 3 labels but logits has 2 rows"),
    (L.softmax_cross_entropy_grad, (Z, [[[0]]]), r"y must be integer labels of shape \(2,\)"),
    (L.softmax_cross_entropy, (np.zeros(3), [0]), r"y \(one-hot\) has shape \(1,\)"),
    # one-hot that is not one-hot, or the wrong size
    (L.softmax_cross_entropy, (Z, np.zeros((2, 3))), r"each row of y \(one-hot\) must sum to 1"),
    (L.categorical_cross_entropy, (P, np.eye(4)[[0, 1]]), r"y \(one-hot\) has shape \(2, 4\)"),
    (L.softmax_cross_entropy, (Z, -np.eye(3)[[0, 1]]), r"y \(one-hot\) has a negative entry"),
    # probabilities that are not probabilities (e.g. logits passed by mistake)
    (L.binary_cross_entropy, ([1.5, 0.5], [1.0, 0.0]), r"p must lie in \[0, 1\].*not logits"),
    (L.binary_cross_entropy_grad, ([0.5], [2.0]), r"t must lie in \[0, 1\]"),
    (L.categorical_cross_entropy, (Z - 1, [0, 1]), r"probs must lie in \[0, 1\]"),
    (L.binary_cross_entropy, ([0.5], [1.0], 0.0), r"eps must be a float in \(0, 0.5\)"),
    (L.categorical_cross_entropy_grad, (P, [0, 1], "tiny"), r"eps must be a float"),
    # shapes the classification losses do not take, and empty input
    (L.softmax_cross_entropy, (np.zeros((2, 3, 4)), [0, 1]), r"logits must be 1-D or 2-D"),
    (L.softmax_cross_entropy, (np.zeros((0, 3)), []), r"logits is empty"),
    (L.mse, ([], []), r"^mse: y_pred is empty"),
]


@pytest.mark.lab3
@pytest.mark.parametrize(
    ("func", "args", "message"),
    BAD_CALLS,
    ids=[f"{i}-{call[0].__name__}" for i, call in enumerate(BAD_CALLS)],
)
def test_bad_input_raises_a_named_error(func, args, message):
    with pytest.raises(ValueError, match=message) as info:
        func(*args)
    assert str(info.value).startswith(f"{func.__name__}: ")


@pytest.mark.lab3
def test_docstring_examples_run():
    result = doctest.testmod(L, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
