"""Tests for lapenna_labs.graph: the scalar autodiff behind the slides' computational graphs.

Every gate is checked against PyTorch autograd on random scalars (hypothesis); the slides'
examples against the values printed in the slides and in cs231n's notes, and against
gradients written out by hand from the slides' formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lapenna_labs.graph import (
    Value,
    add_mul_example,
    as_rows,
    copy,
    gate_patterns_example,
    maximum,
    nodes,
    sigmoid_neuron_example,
    to_table,
)

pytestmark = pytest.mark.lab4

torch = pytest.importorskip("torch")

finite = st.floats(min_value=-20, max_value=20, allow_nan=False, allow_infinity=False)
# The expanded sigmoid neuron computes exp(-(w0 x0 + w1 x1 + w2)) with an exp gate, which
# refuses to overflow (exp(z) > 1.8e308 for z > 709); with |w|, |x| <= 5, |z| <= 55.
neuron_input = st.floats(min_value=-5, max_value=5, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=0.05, max_value=20, allow_nan=False, allow_infinity=False)


def torch_grads(fn, *xs):
    """Value and gradients of fn at the scalars xs, computed by torch autograd in float64."""
    ts = [torch.tensor(float(x), dtype=torch.float64, requires_grad=True) for x in xs]
    out = fn(*ts)
    grads = torch.autograd.grad(out, ts, allow_unused=True)
    return out.item(), [0.0 if g is None else g.item() for g in grads]


def ours(fn, *xs):
    vs = [Value(x) for x in xs]
    out = fn(*vs)
    out.backward()
    return out.data, [v.grad for v in vs]


def assert_matches_torch(fn_ours, fn_torch, *xs):
    value, grads = ours(fn_ours, *xs)
    t_value, t_grads = torch_grads(fn_torch, *xs)
    assert value == pytest.approx(t_value, rel=1e-12, abs=1e-12)
    assert grads == pytest.approx(t_grads, rel=1e-10, abs=1e-12)


# -- the slides' examples ------------------------------------------------------------------
def test_add_mul_example_gives_the_slides_values():
    # Slide "Computational Graph": f = (x + y) z at x=-2, y=5, z=-4.
    g = add_mul_example()
    assert g["q"].data == 3.0
    assert g["f"].data == -12.0
    assert (g["x"].grad, g["y"].grad, g["z"].grad) == (-4.0, -4.0, 3.0)
    assert g["q"].grad == -4.0  # df/dq = z
    assert g["f"].grad == 1.0


@given(finite, finite, finite)
def test_add_mul_example_matches_the_hand_derivatives(x, y, z):
    g = add_mul_example(x, y, z)
    assert g["f"].data == pytest.approx((x + y) * z)
    assert (g["x"].grad, g["y"].grad) == (z, z)
    assert g["z"].grad == pytest.approx(x + y)


@pytest.mark.parametrize("expanded", [False, True])
def test_sigmoid_neuron_example_matches_cs231n(expanded):
    g = sigmoid_neuron_example(expanded=expanded)
    # w0 x0 + w1 x1 + w2 = -2 + 6 - 3 = 1; sigma(1) = 0.73 and local gradient 0.2 (slides).
    assert g["s3"].data == 1.0
    sig = 1.0 / (1.0 + math.exp(-1.0))
    assert g["output"].data == pytest.approx(sig, rel=1e-14)
    assert round(g["output"].data, 2) == 0.73
    local = sig * (1 - sig)
    assert round(local, 1) == 0.2
    # Hand-written from the slides' flat backward code: grad_w0 = grad_s3 * x0, etc.
    expected = {"w0": local * -1.0, "x0": local * 2.0, "w1": local * -2.0, "x1": local * -3.0}
    expected["w2"] = local
    for name, value in expected.items():
        assert g[name].grad == pytest.approx(value, rel=1e-12)
    # cs231n's published two-decimal gradients: dw = [-0.20, -0.39, 0.20], dx = [0.39, -0.59].
    published = {"w0": -0.20, "w1": -0.39, "w2": 0.20, "x0": 0.39, "x1": -0.59}
    for name, value in published.items():
        assert g[name].grad == pytest.approx(value, abs=0.005)


def test_sigmoid_neuron_expanded_intermediates_match_cs231n_figure():
    g = sigmoid_neuron_example(expanded=True)
    # cs231n's figure: -1.00 -> exp 0.37 -> +1 1.37 -> 1/x 0.73; grads -0.53 at 1.37, 0.2 at s3.
    assert g["neg"].data == -1.0
    assert round(g["exp"].data, 2) == 0.37
    assert round(g["denom"].data, 2) == 1.37
    assert round(g["denom"].grad, 2) == -0.53
    assert round(g["exp"].grad, 2) == -0.53
    assert round(g["neg"].grad, 2) == -0.20
    assert round(g["s3"].grad, 2) == 0.20


@given(neuron_input, neuron_input, neuron_input, neuron_input, neuron_input)
@settings(max_examples=50)
def test_sigmoid_neuron_matches_torch(w0, x0, w1, x1, w2):
    g = sigmoid_neuron_example(w0, x0, w1, x1, w2, expanded=True)
    value, grads = torch_grads(
        lambda a, b, c, d, e: torch.sigmoid(a * b + c * d + e), w0, x0, w1, x1, w2
    )
    assert g["output"].data == pytest.approx(value, rel=1e-12, abs=1e-15)
    ours_grads = [g[k].grad for k in ("w0", "x0", "w1", "x1", "w2")]
    assert ours_grads == pytest.approx(grads, rel=1e-8, abs=1e-14)


def test_gate_patterns_example_shows_each_gate():
    g = gate_patterns_example()
    assert g["f"].data == -20.0
    # mul swaps, add distributes, max routes (cs231n "patterns in backward flow").
    assert (g["x"].grad, g["y"].grad) == (-8.0, 6.0)
    assert g["xy"].grad == g["max"].grad == 2.0
    assert (g["z"].grad, g["w"].grad) == (2.0, 0.0)


# -- each gate against torch autograd -------------------------------------------------------
@given(finite, finite)
def test_add_gate_matches_torch(a, b):
    assert_matches_torch(lambda x, y: x + y, lambda x, y: x + y, a, b)


@given(finite, finite)
def test_mul_gate_matches_torch(a, b):
    assert_matches_torch(lambda x, y: x * y, lambda x, y: x * y, a, b)


@given(finite, finite)
def test_sub_and_neg_match_torch(a, b):
    assert_matches_torch(lambda x, y: x - y - (-x), lambda x, y: x - y - (-x), a, b)


@given(finite, finite)
def test_div_matches_torch(a, b):
    assume(abs(b) > 1e-3)
    assert_matches_torch(lambda x, y: x / y, lambda x, y: x / y, a, b)
    assert_matches_torch(
        lambda x, y: 3.0 / y + 2.0 * x - 1.0, lambda x, y: 3.0 / y + 2 * x - 1, a, b
    )


@given(positive, st.sampled_from([-2.0, -1.0, 0.5, 2.0, 3.0]))
def test_pow_gate_matches_torch(a, k):
    assert_matches_torch(lambda x: x**k, lambda x: x**k, a)


@given(finite)
def test_exp_log_sigmoid_tanh_relu_match_torch(a):
    assert_matches_torch(lambda x: x.exp(), torch.exp, a)
    assert_matches_torch(lambda x: x.sigmoid(), torch.sigmoid, a)
    assert_matches_torch(lambda x: x.tanh(), torch.tanh, a)
    assert_matches_torch(lambda x: x.relu(), torch.relu, a)


@given(positive)
def test_log_gate_matches_torch(a):
    assert_matches_torch(lambda x: x.log(), torch.log, a)


@given(finite, finite)
def test_max_gate_routes_like_torch(a, b):
    assume(a != b)  # at a tie any subgradient is valid; torch splits it, we route it to a
    assert_matches_torch(lambda x, y: maximum(x, y), torch.maximum, a, b)


def test_max_gate_tie_goes_to_first_input():
    a, b = Value(1.0), Value(1.0)
    m = maximum(a, b)
    m.backward()
    assert (a.grad, b.grad) == (1.0, 0.0)


def test_power_zero_has_zero_gradient_even_at_zero():
    x = Value(0.0)
    y = x**0
    y.backward()
    assert (y.data, x.grad) == (1.0, 0.0)


def test_relu_gradient_at_zero_is_zero():
    x = Value(0.0)
    y = x.relu()
    y.backward()
    assert (y.data, x.grad) == (0.0, 0.0)


@given(finite, finite, finite)
@settings(max_examples=50)
def test_composite_expression_with_fan_out_matches_torch(a, b, c):
    def f_ours(x, y, z):
        x1, x2, x3 = copy(x, 3)
        return maximum(x1 * y, z).sigmoid() * x2 + (x3 - z).tanh() + (y * y).relu()

    def f_torch(x, y, z):
        return torch.sigmoid(torch.maximum(x * y, z)) * x + torch.tanh(x - z) + torch.relu(y * y)

    assume(a * b != c)
    assert_matches_torch(f_ours, f_torch, a, b, c)


@given(finite)
def test_copy_gate_adds_gradients(a):
    x = Value(a, "x")
    c1, c2 = copy(x)
    f = c1 * c2
    f.backward()
    assert x.grad == pytest.approx(2 * a)
    assert c1.grad == pytest.approx(a) and c2.grad == pytest.approx(a)
    # the same as using x twice without the explicit gate
    y = Value(a)
    g = y * y
    g.backward()
    assert y.grad == x.grad


def test_backward_twice_gives_the_same_gradients():
    g = add_mul_example()
    g["f"].backward()
    assert (g["x"].grad, g["z"].grad) == (-4.0, 3.0)


def test_long_chain_does_not_hit_the_recursion_limit():
    x = Value(0.5, "x")
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0


# -- listing -------------------------------------------------------------------------------
def test_nodes_are_in_topological_order():
    g = sigmoid_neuron_example(expanded=True)
    order = nodes(g["output"])
    position = {id(n): i for i, n in enumerate(order)}
    assert len(position) == len(order) == 14
    for n in order:
        for c in n.children:
            assert position[id(c)] < position[id(n)]
    assert order[-1] is g["output"]


def test_as_rows_and_to_table():
    g = add_mul_example()
    rows = as_rows(g["f"])
    assert [r[0] for r in rows] == ["x", "y", "q", "z", "f"]
    assert rows[-1] == ("f", "*", -12.0, 1.0)
    assert rows[2] == ("q", "+", 3.0, -4.0)
    table = to_table(g["f"], digits=2)
    lines = table.splitlines()
    assert lines[0].split() == ["node", "op", "value", "grad"]
    assert len(lines) == 2 + len(rows)
    assert lines[-1].split() == ["f", "*", "-12.00", "1.00"]


def test_unlabelled_nodes_get_unique_names():
    x = Value(2.0)
    f = (x * 3.0 + x * 4.0).exp() * 0.001
    f.backward()
    names = [r[0] for r in as_rows(f)]
    assert len(names) == len(set(names))


# -- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Value("3"), "Value: data must be a real number"),
        (lambda: Value(float("nan")), "Value: data must be finite"),
        (lambda: Value(1.0) + "a", "Value.__add__: operand must be a real number"),
        (lambda: Value(1.0) * float("inf"), "Value.__mul__: operand must be finite"),
        (lambda: Value(800.0).exp(), "Value.exp: exp(800) overflows"),
        (lambda: Value(0.0).log(), "Value.log: log needs a positive number"),
        (lambda: Value(1.0) / 0.0, "Value.__truediv__: division by zero"),
        (lambda: 1.0 / Value(0.0), "Value.__rtruediv__: division by zero"),
        (lambda: Value(2.0) ** Value(2.0), "Value.__pow__: the exponent must be a number"),
        (lambda: Value(-2.0) ** 0.5, "Value.__pow__: negative base"),
        (lambda: copy(Value(1.0), 0), "copy: n must be a positive integer"),
        (lambda: copy(1.0), "copy: v must be a Value"),
    ],
)
def test_bad_input_raises_a_clear_value_error(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_sigmoid_is_stable_for_large_inputs():
    for x in (-1000.0, 1000.0):
        v = Value(x)
        s = v.sigmoid()
        s.backward()
        assert np.isfinite(s.data) and np.isfinite(v.grad)
    assert Value(-1000.0).sigmoid().data == 0.0
