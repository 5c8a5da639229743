"""Batch and layer normalization against PyTorch autograd, TensorFlow and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from _frameworks import tf_value_and_grads, torch_value_and_grads

from lapenna_labs import norm
from lapenna_labs.gradcheck import numerical_gradient

pytestmark = pytest.mark.lab6

SHAPES = [(8, 5), (4, 3, 5, 6)]


def _inputs(shape, dtype, rng):
    C = shape[1]
    x = rng.standard_normal(shape).astype(dtype) * 2 + 1
    gamma = rng.standard_normal(C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, dout


def _torch_batchnorm(x, gamma, beta):
    import torch

    return torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)


@pytest.mark.parametrize("shape", SHAPES, ids=["dense", "spatial"])
def test_batchnorm_training_matches_torch_autograd(shape, dtype, tol, rng):
    x, gamma, beta, dout = _inputs(shape, dtype, rng)
    out, cache, _ = norm.batchnorm_forward(x, gamma, beta)
    expected, grads = torch_value_and_grads(_torch_batchnorm, [x, gamma, beta], upstream=dout)
    np.testing.assert_allclose(out, expected, **tol)
    for ours, theirs in zip(norm.batchnorm_backward(dout, cache), grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)


@pytest.mark.parametrize("shape", SHAPES, ids=["dense", "spatial"])
def test_batchnorm_training_matches_tensorflow(shape, rng):
    x, gamma, beta, dout = _inputs(shape, np.float64, rng)
    axes = [0] if len(shape) == 2 else [0, 2, 3]
    view = (1, -1) if len(shape) == 2 else (1, -1, 1, 1)

    def tf_batchnorm(x, gamma, beta):
        import tensorflow as tf

        mean, var = tf.nn.moments(x, axes=axes, keepdims=True)
        return tf.nn.batch_normalization(
            x, mean, var, tf.reshape(beta, view), tf.reshape(gamma, view), 1e-5
        )

    out, cache, _ = norm.batchnorm_forward(x, gamma, beta)
    expected, grads = tf_value_and_grads(tf_batchnorm, [x, gamma, beta], upstream=dout)
    np.testing.assert_allclose(out, expected, rtol=1e-9, atol=1e-11)
    for ours, theirs in zip(norm.batchnorm_backward(dout, cache), grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)


def test_batchnorm_running_statistics_follow_torch_over_steps(rng):
    import torch

    state = norm.BatchNormState.initial(3)
    bn = torch.nn.BatchNorm2d(3, momentum=0.1, eps=1e-5, dtype=torch.float64)
    for _ in range(4):
        x, gamma, beta, _ = _inputs((5, 3, 4, 4), np.float64, rng)
        _, _, state = norm.batchnorm_forward(x, np.ones(3), np.zeros(3), state, momentum=0.1)
        bn.train()(torch.from_numpy(x))
    np.testing.assert_allclose(state.mean, bn.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(state.var, bn.running_var.numpy(), rtol=1e-12)
    x = rng.standard_normal((2, 3, 4, 4))
    out, _, same = norm.batchnorm_forward(x, np.ones(3), np.zeros(3), state, training=False)
    expected = bn.eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)
    # evaluation mode leaves the running statistics as they were
    np.testing.assert_array_equal(same.mean, state.mean)
    np.testing.assert_array_equal(same.var, state.var)


def test_batchnorm_and_layernorm_backward_match_finite_differences(rng):
    x, gamma, beta, dout = _inputs((4, 3), np.float64, rng)
    for forward, backward in (
        (norm.batchnorm_forward, norm.batchnorm_backward),
        (norm.layernorm_forward, norm.layernorm_backward),
    ):
        g = gamma if forward is norm.batchnorm_forward else rng.standard_normal(3)
        cache = forward(x, g, beta)[1]
        dx, dgamma, _ = backward(dout, cache)

        def loss_of_x(x_, g=g, forward=forward):
            return float(np.sum(forward(x_, g, beta)[0] * dout))

        def loss_of_gamma(g_, forward=forward):
            return float(np.sum(forward(x, g_, beta)[0] * dout))

        np.testing.assert_allclose(
            dx, numerical_gradient(loss_of_x, x.copy()), rtol=1e-6, atol=1e-8
        )
        np.testing.assert_allclose(
            dgamma, numerical_gradient(loss_of_gamma, g.copy()), rtol=1e-6, atol=1e-8
        )


@pytest.mark.parametrize("shape", [(6, 7), (2, 3, 8)])
def test_layernorm_matches_torch_autograd(shape, dtype, tol, rng):
    import torch

    D = shape[-1]
    x = rng.standard_normal(shape).astype(dtype)
    gamma = rng.standard_normal(D).astype(dtype)
    beta = rng.standard_normal(D).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    out, cache = norm.layernorm_forward(x, gamma, beta)
    expected, grads = torch_value_and_grads(
        lambda x, g, b: torch.nn.functional.layer_norm(x, (D,), g, b, eps=1e-5),
        [x, gamma, beta],
        upstream=dout,
    )
    np.testing.assert_allclose(out, expected, **tol)
    for ours, theirs in zip(norm.layernorm_backward(dout, cache), grads, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)


def test_bad_input_raises_a_named_error(rng):
    x = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match="batchnorm_forward"):
        norm.batchnorm_forward(x, np.ones(2), np.zeros(3))
    with pytest.raises(ValueError, match="batchnorm_forward"):
        norm.batchnorm_forward(rng.standard_normal((4, 3, 2)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="layernorm_forward"):
        norm.layernorm_forward(x, np.ones(3), np.zeros(3), eps=-1.0)
