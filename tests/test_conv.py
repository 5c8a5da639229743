"""Tests of lapenna_labs.conv.im2col (week 5): the im2col convolution against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

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
