"""Tests of lapenna_labs.conv.im2col (week 5): the im2col convolution against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs.conv.im2col import conv2d_backward, conv2d_forward
from tests._frameworks import torch_value_and_grads

pytestmark = pytest.mark.lab5

CASES = [
    # N, C, H, W, F, KH, KW, stride, padding, dilation, groups
    (2, 3, 7, 9, 4, 3, 2, 1, 0, 1, 1),
    (2, 4, 8, 7, 6, 3, 3, 2, 1, 2, 2),
    (1, 4, 6, 6, 8, 3, 3, 1, 1, 1, 4),
    (2, 3, 9, 8, 5, 2, 3, (2, 1), (1, 0), (1, 2), 1),
]


@pytest.mark.parametrize("case", CASES)
def test_conv2d_matches_torch(case, rng, dtype, tol):
    import torch.nn.functional as F_

    N, C, H, W, F, KH, KW, s, p, d, G = case
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C // G, KH, KW)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    out, cache = conv2d_forward(x, w, b, s, p, d, G)
    dout = rng.standard_normal(out.shape).astype(dtype)
    ref, (gx, gw, gb) = torch_value_and_grads(
        lambda x, w, b: F_.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=G),
        [x, w, b],
        upstream=dout,
    )
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref, **tol)
    dx, dw, db = conv2d_backward(dout, cache)
    np.testing.assert_allclose(dx, gx, **tol)
    np.testing.assert_allclose(dw, gw, **tol)
    np.testing.assert_allclose(db, gb, **tol)


@pytest.mark.parametrize("case", CASES)
def test_naive_equals_im2col(case, rng):
    from lapenna_labs.conv.naive import conv2d_backward_naive, conv2d_forward_naive

    N, C, H, W, F, KH, KW, s, p, d, G = case
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C // G, KH, KW))
    b = rng.standard_normal(F)
    out, cache = conv2d_forward(x, w, b, s, p, d, G)
    out_n, cache_n = conv2d_forward_naive(x, w, b, s, p, d, G)
    np.testing.assert_allclose(out_n, out, rtol=1e-10, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    naive, fast = conv2d_backward_naive(dout, cache_n), conv2d_backward(dout, cache)
    for got, want in zip(naive, fast, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": np.zeros((1, 3, 5, 5)), "w": np.zeros((2, 2, 3, 3))}, "channels"),
        ({"stride": 0}, "stride"),
        ({"w": np.zeros((2, 3, 7, 7))}, "does not fit"),
        ({"groups": 2}, "groups"),
        ({"b": np.zeros(3)}, "b has shape"),
    ],
)
def test_bad_input_raises(kwargs, match):
    args = {"x": np.zeros((1, 3, 5, 5)), "w": np.zeros((2, 3, 3, 3)), "b": np.zeros(2)} | kwargs
    with pytest.raises(ValueError, match=match):
        conv2d_forward(**args)


def test_bad_dout_raises():
    out, cache = conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="dout has shape"):
        conv2d_backward(np.zeros((1, 2, 4, 4)), cache)


@pytest.mark.parametrize("case", [c for c in CASES if c[-1] == 1])
def test_conv2d_matches_tensorflow(case, rng, dtype, tol):
    """TF takes NHWC input and (KH, KW, C, F) filters; grouped conv is not run on TF's CPU."""
    import tensorflow as tf

    from tests._frameworks import tf_value_and_grads

    N, C, H, W, F, KH, KW, s, p, d, _ = case
    s, p, d = (v if isinstance(v, tuple) else (v, v) for v in (s, p, d))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, KH, KW)).astype(dtype)
    out, cache = conv2d_forward(x, w, None, s, p, d)
    dout = rng.standard_normal(out.shape).astype(dtype)
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    if max(s) > 1 and max(d) > 1:
        pytest.skip("tf.nn.conv2d rejects stride > 1 together with dilation > 1")
    ref, (gxp, gw) = tf_value_and_grads(
        lambda x, w: tf.nn.conv2d(x, w, strides=(1, *s, 1), padding="VALID", dilations=d),
        [xp.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0)],
        upstream=dout.transpose(0, 2, 3, 1),
    )
    np.testing.assert_allclose(out, ref.transpose(0, 3, 1, 2), **tol)
    dx, dw, _ = conv2d_backward(dout, cache)
    gx = gxp.transpose(0, 3, 1, 2)[:, :, p[0] : p[0] + H, p[1] : p[1] + W]
    np.testing.assert_allclose(dx, gx, **tol)
    np.testing.assert_allclose(dw, gw.transpose(3, 2, 0, 1), **tol)


@pytest.mark.parametrize("H", [7, 8])
def test_tf_same_padding_is_asymmetric_at_stride_2(H, rng):
    """TF's SAME pads pad_total = max((ceil(H/s)-1)s + K - H, 0), the extra one at the bottom."""
    import tensorflow as tf

    K, s = 4, 2
    x = rng.standard_normal((1, 2, H, H))
    w = rng.standard_normal((3, 2, K, K))
    ref = tf.nn.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), s, "SAME").numpy()
    total = max((-(-H // s) - 1) * s + K - H, 0)
    top = total // 2
    assert total == (3 if H == 7 else 2)
    xp = np.pad(x, ((0, 0), (0, 0), (top, total - top), (top, total - top)))
    out, _ = conv2d_forward(xp, w, None, stride=s)
    np.testing.assert_allclose(out, ref.transpose(0, 3, 1, 2), rtol=1e-10, atol=1e-12)
    sym, _ = conv2d_forward(x, w, None, stride=s, padding=top)
    # an odd total (H = 7) puts the extra row at the bottom: symmetric padding differs
    same = sym.shape == out.shape and np.allclose(sym, out)
    assert same == (total % 2 == 0)


def test_backward_of_strided_conv_is_transposed_conv(rng):
    import torch
    import torch.nn.functional as F_

    s, p = 2, 1
    x = rng.standard_normal((2, 3, 8, 9))
    w = rng.standard_normal((4, 3, 3, 3))
    out, cache = conv2d_forward(x, w, None, stride=s, padding=p)
    dout = rng.standard_normal(out.shape)
    dx, _, _ = conv2d_backward(dout, cache)
    op = tuple(x.shape[k + 2] - ((out.shape[k + 2] - 1) * s - 2 * p + 3) for k in range(2))
    ref = F_.conv_transpose2d(
        torch.tensor(dout), torch.tensor(w), stride=s, padding=p, output_padding=op
    )
    np.testing.assert_allclose(dx, ref.numpy(), rtol=1e-10, atol=1e-12)


def test_dx_is_full_convolution_with_rotated_kernel(rng):
    x = rng.standard_normal((2, 3, 6, 7))
    w = rng.standard_normal((4, 3, 3, 2))
    out, cache = conv2d_forward(x, w, None)
    dout = rng.standard_normal(out.shape)
    dx, dw, _ = conv2d_backward(dout, cache)
    w_rot = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # flipped, in/out channels swapped
    full, _ = conv2d_forward(dout, w_rot, None, padding=(2, 1))
    np.testing.assert_allclose(dx, full, rtol=1e-10, atol=1e-12)
    # dW is the cross-correlation of x with dY: x's channels as the batch, dY as filters
    corr, _ = conv2d_forward(x.transpose(1, 0, 2, 3), dout.transpose(1, 0, 2, 3), None)
    np.testing.assert_allclose(dw, corr.transpose(1, 0, 2, 3), rtol=1e-10, atol=1e-12)


def test_col2im_is_adjoint_of_im2col(rng):
    from lapenna_labs.conv.im2col import col2im, im2col

    x = rng.standard_normal((2, 3, 7, 6))
    args = ((3, 2), (2, 1), (1, 2), (1, 2))
    cols = im2col(x, *args)
    c = rng.standard_normal(cols.shape)
    assert np.isclose(np.sum(cols * c), np.sum(x * col2im(c, x.shape, *args)))


def test_finite_differences_tiny_case(rng):
    from lapenna_labs.gradcheck import numerical_gradient

    x = rng.standard_normal((1, 2, 4, 4))
    w = rng.standard_normal((2, 1, 2, 2))
    b = rng.standard_normal(2)
    out, cache = conv2d_forward(x, w, b, stride=2, padding=1, groups=2)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)

    def loss(x_, w_, b_):
        return float(np.sum(conv2d_forward(x_, w_, b_, stride=2, padding=1, groups=2)[0] * dout))

    np.testing.assert_allclose(dx, numerical_gradient(lambda v: loss(v, w, b), x), atol=1e-7)
    np.testing.assert_allclose(dw, numerical_gradient(lambda v: loss(x, v, b), w), atol=1e-7)
    np.testing.assert_allclose(db, numerical_gradient(lambda v: loss(x, w, v), b), atol=1e-7)


def test_nchw_fed_to_tf_without_transposing_is_wrong(rng):
    """tf.nn.conv2d's default is NHWC: an NCHW array is read as H=C, W=H, C=W."""
    import tensorflow as tf

    x = rng.standard_normal((1, 3, 6, 6))
    w = rng.standard_normal((2, 3, 3, 3))
    out, _ = conv2d_forward(x, w, None)
    # No error: TF reads 6 "channels" against 3-channel filters as a 2-group convolution
    wrong = tf.nn.conv2d(x, w.transpose(2, 3, 1, 0), 1, "VALID").numpy()
    assert wrong.shape == (1, 1, 4, 2) != out.shape
    right = tf.nn.conv2d(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), 1, "VALID").numpy()
    np.testing.assert_allclose(right.transpose(0, 3, 1, 2), out, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("K", [3, 4])
def test_torch_padding_same(K, rng):
    """torch's padding='same' (stride 1): (K-1)//2 on top/left, the rest at bottom/right."""
    import torch
    import torch.nn.functional as F_

    x = rng.standard_normal((1, 2, 6, 5))
    w = rng.standard_normal((3, 2, K, K))
    ref = F_.conv2d(torch.tensor(x), torch.tensor(w), padding="same").numpy()
    lo, hi = (K - 1) // 2, K - 1 - (K - 1) // 2
    if K % 2:
        out, _ = conv2d_forward(x, w, None, padding=(K - 1) // 2)
    else:
        out, _ = conv2d_forward(np.pad(x, ((0, 0), (0, 0), (lo, hi), (lo, hi))), w, None)
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    st.integers(1, 2),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(3, 8),
    st.integers(3, 8),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 2),
    st.integers(0, 1),
    st.integers(0, 2**31 - 1),
)
def test_hypothesis_random_shapes_vs_torch(N, Cg, G, H, W, KH, KW, s, p, seed):
    import torch.nn.functional as F_

    r = np.random.default_rng(seed)
    C, F = Cg * G, 2 * G
    x = r.standard_normal((N, C, H, W))
    w = r.standard_normal((F, Cg, KH, KW))
    b = r.standard_normal(F)
    out, cache = conv2d_forward(x, w, b, s, p, 1, G)
    dout = r.standard_normal(out.shape)
    ref, grads = torch_value_and_grads(
        lambda x, w, b: F_.conv2d(x, w, b, stride=s, padding=p, groups=G), [x, w, b], dout
    )
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)
    for got, want in zip(conv2d_backward(dout, cache), grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
