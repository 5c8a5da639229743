"""Tests of lapenna_labs.conv.transpose (week 8): transposed convolution, upsampling and
U-Net's crop-and-concat against PyTorch, TensorFlow, the Toeplitz matrix and finite
differences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs import conv
from lapenna_labs.conv.transpose import (
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    crop_and_concat,
    crop_and_concat_backward,
    upsample_bilinear2d_backward,
    upsample_bilinear2d_forward,
    upsample_nearest2d_backward,
    upsample_nearest2d_forward,
)
from lapenna_labs.gradcheck import numerical_gradient
from tests._frameworks import tf_value_and_grads, torch_value_and_grads

pytestmark = pytest.mark.lab8

CASES = [
    # N, C_in, C_out, H, W, KH, KW, stride, padding, output_padding
    (2, 3, 4, 4, 5, 3, 3, 1, 0, 0),
    (2, 3, 2, 4, 4, 3, 3, 2, 1, 1),
    (1, 2, 3, 3, 5, 2, 4, (2, 3), (0, 1), (1, 2)),
    (2, 4, 2, 5, 3, 4, 4, 2, 1, 0),
]


def _inputs(case, rng, dtype):
    N, Ci, Co, H, W, KH, KW, s, p, op = case
    x = rng.standard_normal((N, Ci, H, W)).astype(dtype)
    w = rng.standard_normal((Ci, Co, KH, KW)).astype(dtype)
    b = rng.standard_normal(Co).astype(dtype)
    return x, w, b, s, p, op


@pytest.mark.parametrize("case", CASES)
def test_conv_transpose_matches_torch(case, rng, dtype, tol):
    import torch.nn.functional as F_

    x, w, b, s, p, op = _inputs(case, rng, dtype)
    out, cache = conv_transpose2d_forward(x, w, b, s, p, op)
    dout = rng.standard_normal(out.shape).astype(dtype)
    ref, (gx, gw, gb) = torch_value_and_grads(
        lambda x, w, b: F_.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op),
        [x, w, b],
        upstream=dout,
    )
    assert out.dtype == dtype and out.shape == ref.shape
    np.testing.assert_allclose(out, ref, **tol)
    dx, dw, db = conv_transpose2d_backward(dout, cache)
    assert dx.dtype == dw.dtype == db.dtype == dtype
    np.testing.assert_allclose(dx, gx, **tol)
    np.testing.assert_allclose(dw, gw, **tol)
    np.testing.assert_allclose(db, gb, **tol)


@pytest.mark.parametrize("case", CASES)
def test_conv_transpose_matches_tensorflow(case, rng, dtype, tol):
    """TF: NHWC, filters (KH, KW, C_out, C_in), explicit padding, output_shape fixes op."""
    import tensorflow as tf

    x, w, b, s, p, op = _inputs(case, rng, dtype)
    out, cache = conv_transpose2d_forward(x, w, b, s, p, op)
    ph, pw = conv.as_pair(p, name="p", func="t", minimum=0)
    sh, sw = conv.as_pair(s, name="s", func="t")
    N, Co, OH, OW = out.shape
    dout = rng.standard_normal(out.shape).astype(dtype)

    def tf_fn(x_nhwc, w_tf, b):
        y = tf.nn.conv2d_transpose(
            x_nhwc,
            w_tf,
            output_shape=(N, OH, OW, Co),
            strides=(1, sh, sw, 1),
            padding=[[0, 0], [ph, ph], [pw, pw], [0, 0]],
        )
        return y + b

    ref, (gx, gw, gb) = tf_value_and_grads(
        tf_fn,
        [x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), b],
        upstream=dout.transpose(0, 2, 3, 1),
    )
    np.testing.assert_allclose(out, ref.transpose(0, 3, 1, 2), **tol)
    dx, dw, db = conv_transpose2d_backward(dout, cache)
    np.testing.assert_allclose(dx, gx.transpose(0, 3, 1, 2), **tol)
    np.testing.assert_allclose(dw, gw.transpose(3, 2, 0, 1), **tol)
    np.testing.assert_allclose(db, gb, **tol)


@pytest.mark.parametrize("case", CASES)
def test_conv_transpose_is_the_transpose_of_the_toeplitz_matrix(case, rng):
    """out = T^T x for T the Toeplitz matrix of the convolution OH x OW -> H x W."""
    x, w, _, s, p, op = _inputs(case, rng, np.float64)
    out, _ = conv_transpose2d_forward(x, w, None, s, p, op)
    N, Co, OH, OW = out.shape
    T = conv.toeplitz_matrix(w, (OH, OW), padding=p, stride=s)  # (C_in·H·W, C_out·OH·OW)
    assert T.shape == (x[0].size, out[0].size)
    np.testing.assert_allclose(out.reshape(N, -1), x.reshape(N, -1) @ T, rtol=1e-12, atol=1e-12)
    # and the adjoint identity with the package's own convolution: <T^T x, v> = <x, T v>
    v = rng.standard_normal(out.shape)
    conv_v, _ = conv.conv2d_forward(v, w, None, stride=s, padding=p)
    np.testing.assert_allclose(np.vdot(out, v), np.vdot(x, conv_v), rtol=1e-12)


def test_conv_transpose_backward_finite_differences(rng):
    x, w, b, s, p, op = _inputs((1, 2, 3, 3, 3, 3, 2, 2, 1, 1), rng, np.float64)
    out, cache = conv_transpose2d_forward(x, w, b, s, p, op)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_transpose2d_backward(dout, cache)

    def loss():
        return np.sum(conv_transpose2d_forward(x, w, b, s, p, op)[0] * dout)

    for arr, grad in ((x, dx), (w, dw), (b, db)):
        np.testing.assert_allclose(numerical_gradient(lambda _: loss(), arr), grad, atol=1e-7)


@settings(max_examples=15, deadline=None)
@given(
    st.integers(1, 2),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 5),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(0, 2**31 - 1),
)
def test_hypothesis_random_shapes_vs_torch(N, Ci, Co, H, W, KH, KW, s, p, seed):
    import torch.nn.functional as F_

    r = np.random.default_rng(seed)
    op = int(r.integers(0, s))
    if (H - 1) * s - 2 * p + KH + op <= 0 or (W - 1) * s - 2 * p + KW + op <= 0:
        with pytest.raises(ValueError, match="removes the whole output"):
            conv_transpose2d_forward(
                np.zeros((N, Ci, H, W)), np.zeros((Ci, Co, KH, KW)), None, s, p, op
            )
        return
    x = r.standard_normal((N, Ci, H, W))
    w = r.standard_normal((Ci, Co, KH, KW))
    b = r.standard_normal(Co)
    out, cache = conv_transpose2d_forward(x, w, b, s, p, op)
    dout = r.standard_normal(out.shape)
    ref, grads = torch_value_and_grads(
        lambda x, w, b: F_.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op),
        [x, w, b],
        dout,
    )
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    for got, want in zip(conv_transpose2d_backward(dout, cache), grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"w": np.zeros((2, 2, 3, 3))}, "channels"),
        ({"b": np.zeros(3)}, "b has shape"),
        ({"stride": 0}, "stride"),
        ({"stride": 2, "output_padding": 2}, "output_padding"),
        ({"output_padding": 1}, "output_padding"),
        ({"padding": 5}, "removes the whole output"),
        ({"x": np.zeros((3, 4, 4))}, "4-D"),
    ],
)
def test_conv_transpose_bad_input_raises(kwargs, match):
    args = {"x": np.zeros((1, 3, 4, 4)), "w": np.zeros((3, 2, 3, 3)), "b": np.zeros(2)} | kwargs
    with pytest.raises(ValueError, match=match):
        conv_transpose2d_forward(**args)


def test_conv_transpose_bad_backward_raises():
    out, cache = conv_transpose2d_forward(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), None)
    with pytest.raises(ValueError, match="dout has shape"):
        conv_transpose2d_backward(np.zeros((1, 1, 3, 3)), cache)
    with pytest.raises(ValueError, match="cache"):
        conv_transpose2d_backward(out, None)


# --------------------------------------------------------------------------------------------
# upsampling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, (3, 2), (1, 4)])
def test_upsample_nearest_matches_torch(scale, rng, dtype, tol):
    import torch.nn.functional as F_

    x = rng.standard_normal((2, 3, 4, 5)).astype(dtype)
    out, cache = upsample_nearest2d_forward(x, scale)
    dout = rng.standard_normal(out.shape).astype(dtype)
    sf = scale if isinstance(scale, tuple) else (scale, scale)
    ref, (gx,) = torch_value_and_grads(
        lambda x: F_.interpolate(x, scale_factor=sf, mode="nearest"), [x], upstream=dout
    )
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref, **tol)
    np.testing.assert_allclose(upsample_nearest2d_backward(dout, cache), gx, **tol)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize(
    ("shape", "scale"), [((2, 3, 4, 5), 2), ((1, 2, 1, 3), (3, 2)), ((1, 1, 5, 2), (2, 4))]
)
def test_upsample_bilinear_matches_torch(shape, scale, align_corners, rng, dtype, tol):
    import torch.nn.functional as F_

    x = rng.standard_normal(shape).astype(dtype)
    out, cache = upsample_bilinear2d_forward(x, scale, align_corners)
    dout = rng.standard_normal(out.shape).astype(dtype)
    sf = scale if isinstance(scale, tuple) else (scale, scale)
    ref, (gx,) = torch_value_and_grads(
        lambda x: F_.interpolate(x, scale_factor=sf, mode="bilinear", align_corners=align_corners),
        [x],
        upstream=dout,
    )
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref, **tol)
    np.testing.assert_allclose(upsample_bilinear2d_backward(dout, cache), gx, **tol)


def test_upsample_bad_input_raises():
    with pytest.raises(ValueError, match="scale"):
        upsample_nearest2d_forward(np.zeros((1, 1, 2, 2)), 1.5)
    with pytest.raises(ValueError, match="scale"):
        upsample_bilinear2d_forward(np.zeros((1, 1, 2, 2)), 0)
    with pytest.raises(ValueError, match="align_corners"):
        upsample_bilinear2d_forward(np.zeros((1, 1, 2, 2)), 2, align_corners="yes")
    _, cache = upsample_nearest2d_forward(np.zeros((1, 1, 2, 2)), 2)
    with pytest.raises(ValueError, match="dout has shape"):
        upsample_nearest2d_backward(np.zeros((1, 1, 2, 2)), cache)
    with pytest.raises(ValueError, match="bilinear"):
        upsample_bilinear2d_backward(np.zeros((1, 1, 4, 4)), cache)


# --------------------------------------------------------------------------------------------
# crop and concat
# --------------------------------------------------------------------------------------------


def test_crop_and_concat_matches_torch_center_crop(rng):
    import torch

    skip = rng.standard_normal((2, 3, 9, 8))
    x = rng.standard_normal((2, 2, 4, 5))
    out, _ = crop_and_concat(skip, x)
    # the centre crop written independently: offsets floor((9-4)/2)=2 and floor((8-5)/2)=1
    ref = torch.cat([torch.tensor(skip)[:, :, 2:6, 1:6], torch.tensor(x)], dim=1).numpy()
    np.testing.assert_array_equal(out, ref)


def test_crop_and_concat_backward_finite_differences(rng):
    skip = rng.standard_normal((1, 2, 6, 5))
    x = rng.standard_normal((1, 1, 3, 2))
    out, cache = crop_and_concat(skip, x)
    dout = rng.standard_normal(out.shape)
    dskip, dx = crop_and_concat_backward(dout, cache)

    def loss():
        return np.sum(crop_and_concat(skip, x)[0] * dout)

    np.testing.assert_allclose(numerical_gradient(lambda _: loss(), skip), dskip, atol=1e-8)
    np.testing.assert_allclose(numerical_gradient(lambda _: loss(), x), dx, atol=1e-8)


def test_crop_and_concat_bad_input_raises():
    with pytest.raises(ValueError, match="smaller"):
        crop_and_concat(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 4, 2)))
    with pytest.raises(ValueError, match="batch size"):
        crop_and_concat(np.zeros((2, 1, 4, 4)), np.zeros((1, 1, 2, 2)))
    _, cache = crop_and_concat(np.zeros((1, 2, 4, 4)), np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="dout"):
        crop_and_concat_backward(np.zeros((1, 2, 2, 2)), cache)
