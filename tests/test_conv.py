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
