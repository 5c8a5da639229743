"""Tests for lapenna_labs.forward_ad: dual numbers against torch.func.jvp and finite differences.

Every derivative is checked against an independent reference: PyTorch's forward-mode
``torch.func.jvp``, its reverse-mode ``torch.autograd.functional.jacobian``, or a central
difference of the plain NumPy function.
"""

from __future__ import annotations

import numpy as np
import pytest

from lapenna_labs import forward_ad as fad
from lapenna_labs.forward_ad import Dual, jacobian, jvp

pytestmark = pytest.mark.lab4

torch = pytest.importorskip("torch")
torch_func = pytest.importorskip("torch.func")


@pytest.fixture
def rng():
    return np.random.default_rng(11)


def central_difference(f, x, v, h=1e-6):
    """d/dh f(x + h v) at h = 0, by a central difference of the plain function."""
    return (np.asarray(f(x + h * v)) - np.asarray(f(x - h * v))) / (2 * h)


ELEMENTWISE = {
    "exp": (fad.exp, torch.exp),
    "log": (fad.log, torch.log),
    "sin": (fad.sin, torch.sin),
    "cos": (fad.cos, torch.cos),
    "tanh": (fad.tanh, torch.tanh),
    "sigmoid": (fad.sigmoid, torch.sigmoid),
    "relu": (fad.relu, torch.relu),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_functions_match_torch_jvp(name, rng):
    ours, theirs = ELEMENTWISE[name]
    x = rng.uniform(0.1, 3.0, size=(4, 5)) if name == "log" else rng.normal(size=(4, 5)) * 3
    v = rng.normal(size=x.shape)
    value, tangent = jvp(ours, (x,), (v,))
    t_value, t_tangent = torch_func.jvp(theirs, (torch.tensor(x),), (torch.tensor(v),))
    np.testing.assert_allclose(value, t_value.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tangent, t_tangent.numpy(), rtol=1e-10, atol=1e-14)


def test_elementwise_functions_also_take_plain_arrays():
    np.testing.assert_allclose(fad.sigmoid(np.array([0.0, 800.0, -800.0])), [0.5, 1.0, 0.0])
    assert fad.relu(-2.0) == 0.0


def test_arithmetic_rules_match_finite_differences(rng):
    x, v = rng.uniform(0.5, 2.0, size=3), rng.normal(size=3)
    A = rng.normal(size=(2, 3))

    def f(a):
        # every operator, with constants on either side
        return (A @ (a * a - 1.0 / a) + 2.0 - a[:2] ** 3 / (1.0 + a[1:])) @ np.ones(2) * a.T[0]

    def f_numpy(a):
        return (A @ (a * a - 1.0 / a) + 2.0 - a[:2] ** 3 / (1.0 + a[1:])) @ np.ones(2) * a[0]

    _, tangent = jvp(f, (x,), (v,))
    np.testing.assert_allclose(tangent, central_difference(f_numpy, x, v), rtol=1e-7)


def test_an_array_on_the_left_of_an_operator_gives_a_dual():
    d = Dual([1.0, 2.0], [1.0, 0.0])
    for result in (np.ones(2) + d, np.ones(2) - d, np.ones(2) * d, np.ones(2) / d):
        assert isinstance(result, Dual)
    assert isinstance(np.eye(2) @ d, Dual)


def test_a_two_layer_softmax_cross_entropy_loss_matches_torch_jvp(rng):
    """Tangents on every input at once: the loss's directional derivative in parameter space."""
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    params = [rng.normal(size=s) for s in [(4, 5), (5,), (5, 3), (3,)]]
    directions = [rng.normal(size=p.shape) for p in params]

    def loss(W1, b1, W2, b2):
        z = fad.relu(x @ W1 + b1) @ W2 + b2
        shift = z.value.max(axis=1, keepdims=True)  # a constant: log-sum-exp is shift-invariant
        log_sum_exp = fad.log(fad.exp(z - shift).sum(axis=1)) + shift[:, 0]
        return (log_sum_exp - z[np.arange(len(y)), y]).mean()

    def torch_loss(W1, b1, W2, b2):
        z = torch.relu(torch.tensor(x) @ W1 + b1) @ W2 + b2
        return torch.nn.functional.cross_entropy(z, torch.tensor(y))

    value, tangent = jvp(loss, params, directions)
    t_value, t_tangent = torch_func.jvp(
        torch_loss, tuple(map(torch.tensor, params)), tuple(map(torch.tensor, directions))
    )
    assert value == pytest.approx(t_value.item(), rel=1e-12)
    assert tangent == pytest.approx(t_tangent.item(), rel=1e-10)


def test_jacobian_matches_torch_reverse_mode(rng):
    A = rng.normal(size=(2, 3))
    x = rng.normal(size=3)

    def f(v):
        return fad.tanh(A @ v) * v[0]

    expected = torch.autograd.functional.jacobian(
        lambda v: torch.tanh(torch.tensor(A) @ v) * v[0], torch.tensor(x)
    ).numpy()
    np.testing.assert_allclose(jacobian(f, x), expected, rtol=1e-12)


def test_jacobian_of_a_matrix_input_has_the_output_shape_then_the_input_shape(rng):
    W = rng.normal(size=(3, 2))
    x = rng.normal(size=(4, 3))
    J = jacobian(lambda w: fad.sigmoid(x @ w), W)
    assert J.shape == (4, 2, 3, 2)
    out = fad.sigmoid(x @ W)
    # z_nm depends on W_dk only when k == m, with derivative x_nd s(1 - s)
    np.testing.assert_allclose(J[1, 0, 2, 0], x[1, 2] * out[1, 0] * (1 - out[1, 0]))
    assert J[1, 0, 2, 1] == 0.0


def test_sum_and_mean_reduce_the_tangent_too(rng):
    x, v = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    _, t_sum = jvp(lambda a: a.sum(axis=0), (x,), (v,))
    _, t_mean = jvp(lambda a: a.mean(), (x,), (v,))
    np.testing.assert_allclose(t_sum, v.sum(axis=0))
    assert t_mean == pytest.approx(v.mean())


def test_a_function_that_ignores_its_input_has_tangent_zero():
    value, tangent = jvp(lambda a: 3.0, (np.ones(2),), (np.ones(2),))
    assert value == 3.0 and tangent == 0.0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: Dual([1.0, 2.0], [1.0]), "Dual: tangent has shape"),
        (lambda: Dual("a"), "Dual"),
        (lambda: jvp(3, (1.0,), (1.0,)), "jvp: f must be callable"),
        (lambda: jvp(lambda a: a, (1.0, 2.0), (1.0,)), "jvp: got 2 primals but 1 tangents"),
        (lambda: jvp(lambda a: a, (np.ones(2),), (np.ones(3),)), r"jvp: tangents\[0\] has shape"),
        (lambda: jacobian(lambda a: a, np.array([])), "jacobian: x is empty"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_dual_exponent_is_refused_with_the_way_round_it():
    with pytest.raises(TypeError, match="exp"):
        Dual(2.0, 1.0) ** Dual(3.0)
