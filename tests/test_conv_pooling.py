"""Tests of lapenna_labs.conv.pooling (week 5): max and average pooling and flatten.

Every number is checked against an independent reference: PyTorch autograd
(``F.max_pool2d``, ``F.avg_pool2d``, ``torch.flatten``), TensorFlow under ``tf.GradientTape``
(``tf.nn.max_pool2d``, ``tf.nn.avg_pool2d`` on NHWC, padded explicitly and ``"VALID"``) and
central finite differences in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from _frameworks import tf_value_and_grads, torch_value_and_grads
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs.conv.pooling import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    flatten_backward,
    flatten_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from lapenna_labs.gradcheck import numerical_gradient

pytestmark = pytest.mark.lab5

POOLS = {
    "max": (max_pool2d_forward, max_pool2d_backward),
    "avg": (avg_pool2d_forward, avg_pool2d_backward),
}

CASES = [
    # N, C, H, W, kernel, stride, padding
    (2, 3, 8, 8, 2, None, 0),  # LeNet's 2x2 pool: windows tile the input (the reshape path)
    (2, 2, 7, 9, 2, 2, 0),  # stride does not divide H, W: the last row/column is in no window
    (1, 3, 7, 7, 3, 2, 0),  # AlexNet's overlapping 3x3 stride 2
    (2, 2, 6, 5, 3, 1, 1),  # overlapping, stride 1, padding 1
    (1, 2, 9, 8, (3, 2), (2, 1), (1, 1)),  # every argument as a pair, different per axis
    (2, 1, 8, 7, (2, 3), None, (1, 0)),  # pair kernel, stride = kernel, padding on H only
    (1, 2, 9, 9, 2, 3, 0),  # stride > kernel: gaps between windows
    (1, 1, 10, 10, 4, 3, 2),  # padding = half the kernel (the allowed maximum)
]
CASE_IDS = [f"k{c[4]}-s{c[5]}-p{c[6]}-{c[2]}x{c[3]}" for c in CASES]


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


def _distinct(shape, rng, dtype):
    """A batch whose entries are all different and at least 1/8 apart.

    Max pooling is piecewise linear; well separated entries keep the argmax away from ties,
    so the finite-difference steps and float32 rounding cannot change which entry wins.
    """
    values = rng.permutation(int(np.prod(shape))).reshape(shape) / 8.0 - 3.0
    return values.astype(dtype)


def _torch_pool(kind, kernel, stride, padding, **kwargs):
    import torch.nn.functional as F_

    pool = F_.max_pool2d if kind == "max" else F_.avg_pool2d
    return lambda x: pool(x, kernel, stride=stride, padding=padding, **kwargs)


def _tf_pool_on_nchw(kind, x, dout, kernel, stride, padding):
    """``(out, dx)`` from TensorFlow on NCHW arrays: pad explicitly, run NHWC ``"VALID"``.

    Max pooling pads with -inf (padding never wins), average pooling with zeros (padding
    counts in the divisor, as PyTorch's default ``count_include_pad=True``). TF's own
    ``"SAME"`` is neither: it pads asymmetrically and avg divides by the real entries.
    """
    import tensorflow as tf

    (KH, KW), (SH, SW), (PH, PW) = _pair(kernel), _pair(stride or kernel), _pair(padding)
    H, W = x.shape[2:]
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)), constant_values=fill)
    pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    out, (gxp,) = tf_value_and_grads(
        lambda t: pool(t, ksize=(KH, KW), strides=(SH, SW), padding="VALID"),
        [xp.transpose(0, 2, 3, 1)],
        upstream=dout.transpose(0, 2, 3, 1),
    )
    dx = gxp.transpose(0, 3, 1, 2)[:, :, PH : PH + H, PW : PW + W]
    return out.transpose(0, 3, 1, 2), dx


# --------------------------------------------------------------------------------------------
# forward and backward against PyTorch, TensorFlow and finite differences
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_pool_matches_torch_autograd(kind, case, rng, dtype, tol):
    N, C, H, W, k, s, p = case
    forward, backward = POOLS[kind]
    x = _distinct((N, C, H, W), rng, dtype)
    out, cache = forward(x, k, s, p)
    dout = rng.standard_normal(out.shape).astype(dtype)
    ref, (gx,) = torch_value_and_grads(_torch_pool(kind, k, s, p), [x], upstream=dout)
    assert out.dtype == dtype and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, **tol)
    dx = backward(dout, cache)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, gx, **tol)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_pool_matches_tensorflow_gradient_tape(kind, case, rng, dtype, tol):
    N, C, H, W, k, s, p = case
    forward, backward = POOLS[kind]
    x = _distinct((N, C, H, W), rng, dtype)
    out, cache = forward(x, k, s, p)
    dout = rng.standard_normal(out.shape).astype(dtype)
    ref, gx = _tf_pool_on_nchw(kind, x, dout, k, s, p)
    np.testing.assert_allclose(out, ref, **tol)
    np.testing.assert_allclose(backward(dout, cache), gx, **tol)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", CASES[1:5], ids=CASE_IDS[1:5])
def test_pool_backward_matches_finite_differences(kind, case, rng):
    N, C, H, W, k, s, p = case
    forward, backward = POOLS[kind]
    x = _distinct((N, C, H, W), rng, np.float64)
    out, cache = forward(x, k, s, p)
    dout = rng.standard_normal(out.shape)
    numeric = numerical_gradient(lambda v: np.sum(forward(v, k, s, p)[0] * dout), x, h=1e-6)
    np.testing.assert_allclose(backward(dout, cache), numeric, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_stride_none_is_kernel_size(kind, rng):
    forward, backward = POOLS[kind]
    x = _distinct((2, 2, 9, 8), rng, np.float64)
    for kernel in (3, (3, 2)):
        out_default, cache_default = forward(x, kernel)
        out_explicit, cache_explicit = forward(x, kernel, kernel)
        assert out_default.shape == (2, 2, 3, 8 // _pair(kernel)[1])
        np.testing.assert_array_equal(out_default, out_explicit)
        dout = rng.standard_normal(out_default.shape)
        np.testing.assert_array_equal(backward(dout, cache_default), backward(dout, cache_explicit))
        # and it is not stride 1
        assert forward(x, kernel, 1)[0].shape != out_default.shape


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_int_and_pair_arguments_agree(kind, rng):
    forward, _ = POOLS[kind]
    x = _distinct((1, 2, 8, 8), rng, np.float64)
    a, _ = forward(x, 3, 2, 1)
    b, _ = forward(x, (3, 3), (2, 2), (1, 1))
    c, _ = forward(x, [3, 3], [2, 2], [1, 1])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_max_pool_overlapping_windows_add_gradients():
    """An entry that is the maximum of several overlapping windows collects all of them."""
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 1.0  # the centre is in all four 3x3 stride-2 windows... and wins each
    out, cache = max_pool2d_forward(x, 3, 2)
    assert out.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(out[0, 0], np.ones((2, 2)))
    dout = np.array([[[[1.0, 2.0], [4.0, 8.0]]]])
    dx = max_pool2d_backward(dout, cache)
    assert dx[0, 0, 2, 2] == 15.0
    assert np.count_nonzero(dx) == 1


def test_avg_pool_padding_counts_in_the_divisor_as_torch_default(rng):
    """The module divides by KH KW always: torch's count_include_pad=True, not False."""
    x = rng.standard_normal((2, 2, 5, 6))
    out, cache = avg_pool2d_forward(x, 3, 2, 1)
    dout = rng.standard_normal(out.shape)
    dx = avg_pool2d_backward(dout, cache)
    inc, (g_inc,) = torch_value_and_grads(
        _torch_pool("avg", 3, 2, 1, count_include_pad=True), [x], upstream=dout
    )
    exc, (g_exc,) = torch_value_and_grads(
        _torch_pool("avg", 3, 2, 1, count_include_pad=False), [x], upstream=dout
    )
    np.testing.assert_allclose(out, inc, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, g_inc, rtol=1e-12, atol=1e-14)
    # the corner window holds 4 real entries of 9: its output is 4/9 of their mean
    np.testing.assert_allclose(out[:, :, 0, 0], exc[:, :, 0, 0] * 4 / 9, rtol=1e-12)
    assert not np.allclose(out, exc)
    # interior windows (no padding) agree under both conventions
    np.testing.assert_allclose(out[:, :, 1, 1], exc[:, :, 1, 1], rtol=1e-12)


def test_avg_pool_of_ones_with_padding_is_the_documented_table():
    out, _ = avg_pool2d_forward(np.ones((1, 1, 2, 2)), 2, stride=1, padding=1)
    expected = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4
    np.testing.assert_array_equal(out[0, 0], expected)


def test_avg_pool_is_a_linear_map_whose_backward_is_its_adjoint(rng):
    """<A x, y> = <x, A^T y> for average pooling (a depthwise conv with a constant kernel)."""
    for k, s, p in [(2, None, 0), (3, 2, 1), ((3, 2), (1, 2), (1, 1))]:
        x = rng.standard_normal((2, 3, 7, 8))
        out, cache = avg_pool2d_forward(x, k, s, p)
        y = rng.standard_normal(out.shape)
        np.testing.assert_allclose(
            np.vdot(out, y), np.vdot(x, avg_pool2d_backward(y, cache)), rtol=1e-12
        )


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_float32_stays_float32_even_with_float64_dout(kind, rng):
    forward, backward = POOLS[kind]
    x = _distinct((1, 2, 6, 6), rng, np.float32)
    out, cache = forward(x, 3, 1, 1)
    assert out.dtype == np.float32
    assert backward(rng.standard_normal(out.shape), cache).dtype == np.float32


# --------------------------------------------------------------------------------------------
# ties: the first maximum in row-major window order takes the whole gradient
# --------------------------------------------------------------------------------------------


def test_tie_goes_to_first_maximum_in_row_major_order():
    # row-major order picks (0, 1); column-major would pick (1, 0)
    x = np.array([[[[0.0, 5.0], [5.0, 0.0]]]])
    out, cache = max_pool2d_forward(x, 2)
    dx = max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 1.0], [0.0, 0.0]])
    # a constant window: the top-left entry takes it all
    out, cache = max_pool2d_forward(np.full((1, 1, 3, 3), 2.0), 3)
    dx = max_pool2d_backward(np.array([[[[7.0]]]]), cache)
    expected = np.zeros((3, 3))
    expected[0, 0] = 7.0
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_tie_with_padding_picks_the_first_real_entry():
    """Padding is -inf, so it never ties; the first real maximum wins, even at a border."""
    x = np.zeros((1, 1, 3, 3))
    out, cache = max_pool2d_forward(x, 3, 1, 1)
    np.testing.assert_array_equal(out, 0.0)
    dx = max_pool2d_backward(np.ones_like(out), cache)
    # windows centred on row i, col j start at row max(i-1, 0), col max(j-1, 0)
    expected = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            expected[max(i - 1, 0), max(j - 1, 0)] += 1.0
    np.testing.assert_array_equal(dx[0, 0], expected)


TIE_CASES = [(2, None, 0), (3, 1, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1)), (2, 1, 1)]


@pytest.mark.parametrize("k, s, p", TIE_CASES)
def test_exact_ties_agree_with_torch_cpu(k, s, p, rng, dtype):
    """Many exact ties (entries in {0, 1, 2}, like ReLU zeros); integer douts keep sums exact."""
    x = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(dtype)
    out, cache = max_pool2d_forward(x, k, s, p)
    dout = rng.integers(-4, 5, size=out.shape).astype(dtype)
    ref, (gx,) = torch_value_and_grads(_torch_pool("max", k, s, p), [x], upstream=dout)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(max_pool2d_backward(dout, cache), gx)


@pytest.mark.parametrize("k, s, p", TIE_CASES)
def test_exact_ties_agree_with_tensorflow_cpu(k, s, p, rng):
    """The module documents that TF's CPU kernel breaks ties the same way."""
    x = rng.integers(0, 3, size=(2, 3, 7, 8)).astype(np.float64)
    out, cache = max_pool2d_forward(x, k, s, p)
    dout = rng.integers(-4, 5, size=out.shape).astype(np.float64)
    ref, gx = _tf_pool_on_nchw("max", x, dout, k, s, p)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(max_pool2d_backward(dout, cache), gx)


def test_docstring_example_values_are_independent_of_our_output():
    """The module's example, checked against torch rather than against itself."""
    x = np.array(
        [[[[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 5.0], [0.0, 0.0, 1.0, 1.0], [0.0, 9.0, 1.0, 1.0]]]]
    )
    out, cache = max_pool2d_forward(x, 2)
    ref, (gx,) = torch_value_and_grads(_torch_pool("max", 2, None, 0), [x], np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(max_pool2d_backward(np.ones_like(out), cache), gx)


# --------------------------------------------------------------------------------------------
# Hypothesis properties
# --------------------------------------------------------------------------------------------

# H, W >= 4 >= KH, KW: every drawn kernel fits, so no example is thrown away
_shapes = st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(4, 9), st.integers(4, 9))
_kernels = st.tuples(st.integers(1, 4), st.integers(1, 4))


@settings(max_examples=30, deadline=None)
@given(_shapes, _kernels, st.integers(0, 2), st.integers(0, 2), st.integers(0, 2**31 - 1))
def test_max_pool_dx_sum_equals_dout_sum_for_non_overlapping_windows(
    shape, kernel, extra_h, extra_w, seed
):
    """Each output sends all of its gradient to one entry, so no gradient is lost or made."""
    r = np.random.default_rng(seed)
    stride = (kernel[0] + extra_h, kernel[1] + extra_w)  # stride >= kernel: no overlap
    x = r.standard_normal(shape)
    out, cache = max_pool2d_forward(x, kernel, stride)
    dout = r.standard_normal(out.shape)
    dx = max_pool2d_backward(dout, cache)
    np.testing.assert_allclose(dx.sum(axis=(2, 3)), dout.sum(axis=(2, 3)), rtol=1e-12, atol=1e-12)
    # no overlap: each entry gets the gradient of at most one output, so values are copied
    nonzero = dx[dx != 0]
    assert np.all(np.isin(nonzero, dout))
    assert np.count_nonzero(dx) <= dout.size


@settings(max_examples=30, deadline=None)
@given(_shapes, _kernels, st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_max_pool_dx_sum_equals_dout_sum_with_overlap_and_padding(shape, kernel, s, seed):
    """Conservation holds with overlap too (gradients add) and padding (it never wins)."""
    r = np.random.default_rng(seed)
    padding = (kernel[0] // 2, kernel[1] // 2)
    x = r.standard_normal(shape)
    out, cache = max_pool2d_forward(x, kernel, s, padding)
    dout = r.standard_normal(out.shape)
    dx = max_pool2d_backward(dout, cache)
    np.testing.assert_allclose(dx.sum(axis=(2, 3)), dout.sum(axis=(2, 3)), rtol=1e-10, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(_shapes, _kernels, st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_max_is_at_least_avg_without_padding(shape, kernel, s, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal(shape) * 3
    mx, _ = max_pool2d_forward(x, kernel, s)
    av, _ = avg_pool2d_forward(x, kernel, s)
    assert mx.shape == av.shape
    assert np.all(mx >= av - 1e-12)
    # and the minimum bounds the mean from below: -maxpool(-x) <= avg
    mn, _ = max_pool2d_forward(-x, kernel, s)
    assert np.all(-mn <= av + 1e-12)


def test_max_can_be_below_avg_with_padding_because_padding_counts_as_zero():
    """With count_include_pad=True, a window of negative entries averages in the zero padding,
    while max pooling ignores it (pads with -inf): max >= avg fails, in torch as well."""
    import torch
    import torch.nn.functional as F_

    x = -np.ones((1, 1, 2, 2))
    mx, _ = max_pool2d_forward(x, 2, 1, 1)
    av, _ = avg_pool2d_forward(x, 2, 1, 1)
    assert mx[0, 0, 0, 0] == -1.0 and av[0, 0, 0, 0] == -0.25
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(mx, F_.max_pool2d(t, 2, 1, 1).numpy())
    np.testing.assert_array_equal(av, F_.avg_pool2d(t, 2, 1, 1).numpy())


@settings(max_examples=25, deadline=None)
@given(
    _shapes,
    _kernels,
    st.tuples(st.integers(1, 3), st.integers(1, 3)),
    st.booleans(),
    st.sampled_from(["max", "avg"]),
    st.integers(0, 2**31 - 1),
)
def test_hypothesis_random_pools_vs_torch(shape, kernel, stride, pad, kind, seed):
    r = np.random.default_rng(seed)
    padding = (kernel[0] // 2, kernel[1] // 2) if pad else 0
    forward, backward = POOLS[kind]
    x = r.standard_normal(shape)  # continuous: ties have probability 0
    out, cache = forward(x, kernel, stride, padding)
    dout = r.standard_normal(out.shape)
    ref, (gx,) = torch_value_and_grads(
        _torch_pool(kind, kernel, stride, padding), [x], upstream=dout
    )
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(backward(dout, cache), gx, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
# flatten
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 7), (2, 1, 1, 1), (2, 3, 2, 2, 2)])
def test_flatten_matches_torch_and_round_trips(shape, rng, dtype):
    import torch

    x = rng.standard_normal(shape).astype(dtype)
    out, cache = flatten_forward(x)
    ref, (gx_ref,) = torch_value_and_grads(
        lambda t: torch.flatten(t, 1), [x], upstream=np.ones((shape[0], x[0].size), dtype)
    )
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = flatten_backward(dout, cache)
    assert dx.shape == shape and dx.dtype == dtype
    np.testing.assert_array_equal(dx, dout.reshape(shape))
    np.testing.assert_array_equal(gx_ref, np.ones(shape, dtype))
    # round trip: backward of forward is the identity, in both directions
    np.testing.assert_array_equal(flatten_backward(out, cache), x)
    np.testing.assert_array_equal(flatten_forward(dx)[0], dout)


def test_flatten_is_c_order_and_a_view():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    out, _ = flatten_forward(x)
    # out[n, (c H + h) W + w] = x[n, c, h, w]
    assert out[1, (2 * 2 + 1) * 2 + 0] == x[1, 2, 1, 0]
    assert np.shares_memory(out, x)


def test_flatten_then_pool_gradient_chain_matches_torch(rng):
    """Pool then flatten, as at the bridge to the dense layers, against one torch graph."""
    import torch
    import torch.nn.functional as F_

    x = _distinct((2, 3, 6, 6), rng, np.float64)
    pooled, pool_cache = max_pool2d_forward(x, 2)
    flat, flat_cache = flatten_forward(pooled)
    dflat = rng.standard_normal(flat.shape)
    dx = max_pool2d_backward(flatten_backward(dflat, flat_cache), pool_cache)
    ref, (gx,) = torch_value_and_grads(
        lambda t: torch.flatten(F_.max_pool2d(t, 2), 1), [x], upstream=dflat
    )
    np.testing.assert_array_equal(flat, ref)
    np.testing.assert_allclose(dx, gx, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------
# bad input: a ValueError that names the problem, never a deep NumPy error
# --------------------------------------------------------------------------------------------

BAD_POOL_ARGS = [
    ({"x": np.zeros((3, 5, 5))}, "must be 4-D"),
    ({"x": np.zeros((1, 1, 1, 3, 5, 5))}, "must be 4-D"),
    ({"kernel_size": 6, "padding": 0}, "does not fit"),
    ({"kernel_size": (2, 6), "padding": 0}, "does not fit"),
    ({"kernel_size": 8}, "does not fit"),  # larger than the input even with its padding
    ({"kernel_size": 0}, "kernel_size"),
    ({"kernel_size": -2}, "kernel_size"),
    ({"kernel_size": (2, 0)}, "kernel_size"),
    ({"kernel_size": 2.0}, "kernel_size"),
    ({"kernel_size": True}, "kernel_size"),
    ({"kernel_size": (2, 2, 2)}, "kernel_size"),
    ({"stride": 0}, "stride"),
    ({"stride": -1}, "stride"),
    ({"stride": (1, 0)}, "stride"),
    ({"stride": 1.5}, "stride"),
    ({"padding": -1}, "padding"),
    ({"padding": 2}, "at most half"),
    ({"padding": (1, 2)}, "at most half"),
    ({"x": np.full((1, 1, 5, 5), np.nan)}, "NaN"),
    ({"x": np.full((1, 1, 5, 5), np.inf)}, "infinity"),
    ({"x": np.full((1, 1, 5, 5), "a")}, "real numbers"),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(("kwargs", "match"), BAD_POOL_ARGS)
def test_pool_bad_input_raises_clear_value_error(kind, kwargs, match):
    forward, _ = POOLS[kind]
    args = {"x": np.zeros((1, 2, 5, 5)), "kernel_size": 3, "stride": None, "padding": 1}
    with pytest.raises(ValueError, match=match) as info:
        forward(**(args | kwargs))
    assert str(info.value).startswith(f"{kind}_pool2d_forward:")


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize(
    ("dout", "match"),
    [
        (np.zeros((1, 2, 3, 3)), "dout has shape"),  # spatial size off by one
        (np.zeros((1, 3, 2, 2)), "dout has shape"),  # wrong channels
        (np.zeros((2, 2, 2, 2)), "dout has shape"),  # wrong batch
        (np.zeros((2, 2, 2)), "dout must be 4-D"),
        (np.full((1, 2, 2, 2), np.nan), "NaN"),
    ],
)
def test_pool_bad_dout_raises(kind, dout, match):
    forward, backward = POOLS[kind]
    out, cache = forward(np.zeros((1, 2, 5, 5)), 2)
    assert out.shape == (1, 2, 2, 2)
    with pytest.raises(ValueError, match=match) as info:
        backward(dout, cache)
    assert str(info.value).startswith(f"{kind}_pool2d_backward:")


def test_pool_backward_rejects_the_other_pools_cache():
    _, max_cache = max_pool2d_forward(np.zeros((1, 1, 4, 4)), 2)
    _, avg_cache = avg_pool2d_forward(np.zeros((1, 1, 4, 4)), 2)
    with pytest.raises(ValueError, match="MaxPoolCache"):
        max_pool2d_backward(np.zeros((1, 1, 2, 2)), avg_cache)
    with pytest.raises(ValueError, match="AvgPoolCache"):
        avg_pool2d_backward(np.zeros((1, 1, 2, 2)), max_cache)
    with pytest.raises(ValueError, match="FlattenCache"):
        flatten_backward(np.zeros((1, 4)), (1, 1, 2, 2))


@pytest.mark.parametrize(
    ("x", "match"),
    [(np.zeros(5), "at least 2-D"), (np.float64(1.0), "at least 2-D"), (np.array(["a"]), "real")],
)
def test_flatten_bad_input_raises(x, match):
    with pytest.raises(ValueError, match=match):
        flatten_forward(x)


@pytest.mark.parametrize(
    ("dout", "match"),
    [
        (np.zeros((2, 47)), "dout has shape"),
        (np.zeros((3, 48)), "dout has shape"),
        (np.zeros((2, 3, 16)), "dout must be 2-D"),
    ],
)
def test_flatten_bad_dout_raises(dout, match):
    _, cache = flatten_forward(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=match):
        flatten_backward(dout, cache)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 1, 1)])
def test_pool_of_an_empty_batch_has_torchs_shapes(kind, k, s, p):
    forward, backward = POOLS[kind]
    x = np.zeros((0, 2, 5, 5))
    out, cache = forward(x, k, s, p)
    ref, (gx,) = torch_value_and_grads(
        _torch_pool(kind, k, s, p), [x], upstream=np.zeros((0, 2, *out.shape[2:]))
    )
    assert out.shape == ref.shape
    assert backward(np.zeros(out.shape), cache).shape == gx.shape == x.shape


def test_flatten_of_an_empty_batch_matches_torch():
    import torch

    x = np.zeros((0, 3, 2, 2))
    out, cache = flatten_forward(x)
    assert out.shape == tuple(torch.flatten(torch.from_numpy(x), 1).shape) == (0, 12)
    assert flatten_backward(np.zeros((0, 12)), cache).shape == x.shape


def test_tf_same_avg_pool_is_not_ours_but_count_include_pad_false(rng):
    """The documented trap: TF's "SAME" avg pool divides by the real entries of each window.

    With K=3, stride 1, SAME pads one row/column on each side (symmetric here), so TF equals
    torch's count_include_pad=False, and differs from this module at the border.
    """
    import tensorflow as tf
    import torch
    import torch.nn.functional as F_

    x = rng.standard_normal((1, 2, 5, 5))
    ours, _ = avg_pool2d_forward(x, 3, 1, 1)
    same = tf.nn.avg_pool2d(x.transpose(0, 2, 3, 1), 3, 1, "SAME").numpy().transpose(0, 3, 1, 2)
    exc = F_.avg_pool2d(torch.from_numpy(x), 3, 1, 1, count_include_pad=False).numpy()
    np.testing.assert_allclose(same, exc, rtol=1e-12, atol=1e-14)
    assert not np.allclose(ours[:, :, 0, :], same[:, :, 0, :])
    np.testing.assert_allclose(ours[:, :, 1:-1, 1:-1], same[:, :, 1:-1, 1:-1], rtol=1e-12)
