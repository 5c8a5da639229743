"""Tests for lapenna_labs.conv.counts: flops against PyTorch's FlopCounterMode, im2col's
blow-up against a cols matrix built here with NumPy's sliding_window_view."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from lapenna_labs.conv.counts import conv2d_counts, conv2d_flops, conv2d_macs

pytestmark = pytest.mark.lab5

# (x_shape, w_shape, stride, padding, dilation, groups)
LAYERS = [
    ((2, 3, 9, 9), (4, 3, 3, 3), 1, 0, 1, 1),
    ((1, 3, 17, 15), (8, 3, 5, 5), 2, 2, 1, 1),
    ((2, 4, 11, 11), (6, 2, 3, 3), (1, 2), (1, 0), 1, 2),
    ((1, 6, 13, 12), (6, 1, 3, 3), 1, 1, 1, 6),  # depthwise
    ((2, 2, 16, 16), (3, 2, 3, 2), 3, 2, (2, 3), 1),
]


def _torch_flops(x_shape, w_shape, stride, padding, dilation, groups, backward=False, x_grad=True):
    x = torch.randn(x_shape, requires_grad=backward and x_grad)
    w = torch.randn(w_shape, requires_grad=backward)
    b = torch.randn(w_shape[0], requires_grad=backward)
    with FlopCounterMode(display=False) as counter:
        out = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        if backward:
            out.sum().backward()
    return counter.get_total_flops(), tuple(out.shape)


@pytest.mark.parametrize("layer", LAYERS)
def test_forward_flops_equal_flop_counter_mode(layer):
    flops, out_shape = _torch_flops(*layer)
    counts = conv2d_counts(*layer[:2], *layer[2:5], groups=layer[5])
    assert counts.geometry.out_shape == out_shape
    assert counts.flops == flops == conv2d_flops(*layer)
    assert counts.macs * 2 == flops == 2 * conv2d_macs(*layer)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("x_grad", [True, False])
def test_forward_backward_flops_equal_flop_counter_mode(layer, x_grad):
    # FlopCounterMode's convention (torch/utils/flop_counter.py, conv_backward_flop): dx (if
    # needed) is 2 MACs, the bias and its gradient are not counted, and dw is counted as the
    # conv(x^T, dout^T) with batch C -- all C input channels, not C / groups -- so for a grouped
    # conv it counts dw as groups * 2 MACs. We count the true 2 MACs; the difference is that.
    groups = layer[5]
    flops, _ = _torch_flops(*layer, backward=True, x_grad=x_grad)
    macs = conv2d_macs(*layer)
    ours = conv2d_flops(*layer, backward=True, input_grad=x_grad)
    assert ours + 2 * (groups - 1) * macs == flops
    if x_grad:
        counts = conv2d_counts(*layer[:2], *layer[2:5], groups=groups)
        assert counts.flops + counts.backward_flops == ours


def _cols(x, KH, KW, stride, padding, dilation, groups):
    """The im2col matrices of all groups, built independently: shape (groups, M, K)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    span = (dh * (KH - 1) + 1, dw * (KW - 1) + 1)
    win = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]  # (N, C, OH, OW, KH, KW)
    N, C, OH, OW = win.shape[:4]
    Cg = C // groups
    win = win.reshape(N, groups, Cg, OH, OW, KH, KW).transpose(1, 0, 3, 4, 2, 5, 6)
    return win.reshape(groups, N * OH * OW, Cg * KH * KW)


def _pair(v):
    return v if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("layer", LAYERS)
def test_im2col_blowup_matches_a_real_cols_matrix(layer, rng):
    x_shape, w_shape, stride, padding, dilation, groups = layer
    x = rng.standard_normal(x_shape)
    cols = _cols(x, *w_shape[2:], _pair(stride), _pair(padding), _pair(dilation), groups)
    counts = conv2d_counts(x_shape, w_shape, stride, padding, dilation, groups, dtype="float64")
    assert counts.gemm_shape == cols.shape[1:] + (w_shape[0] // groups,)
    assert counts.cols_elements == cols.size
    assert counts.cols_bytes == cols.size * 8
    assert counts.im2col_blowup == pytest.approx(cols.size / x.size, rel=1e-15)
    # the cols really compute the convolution: cols @ w.T equals torch's conv2d
    w = rng.standard_normal(w_shape)
    Fg = w_shape[0] // groups
    out = np.concatenate(
        [cols[g] @ w[g * Fg : (g + 1) * Fg].reshape(Fg, -1).T for g in range(groups)], axis=1
    )
    ref = F.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    ).numpy()
    N, Fo, OH, OW = ref.shape
    np.testing.assert_allclose(out.reshape(N, OH, OW, Fo).transpose(0, 3, 1, 2), ref, rtol=1e-10)


def test_bytes_and_intensities():
    c = conv2d_counts((1, 64, 56, 56), (128, 64, 3, 3), padding=1, bias=True, dtype="float32")
    assert c.x_bytes == 64 * 56 * 56 * 4
    assert c.w_bytes == (128 * 64 * 9 + 128) * 4
    assert c.out_bytes == 128 * 56 * 56 * 4
    assert c.bytes == c.x_bytes + c.w_bytes + c.out_bytes
    assert c.intensity == c.flops / c.bytes
    M, K, Fg = c.gemm_shape
    assert (M, K, Fg) == (56 * 56, 64 * 9, 128)
    assert c.gemm_flops == c.flops
    assert c.gemm_bytes == (M * K + K * Fg + M * Fg) * 4
    # the cols are read instead of x: im2col lowers the intensity
    assert c.gemm_intensity < c.intensity
    assert c.bias_flops == 128 * 56 * 56
    assert c.params == 128 * 64 * 9 + 128


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (((1, 3, 8), (4, 3, 3, 3)), "x_shape"),
        (((1, 3, 8, 8), (4, 2, 3, 3)), "groups"),
        (((1, 3, 2, 2), (4, 3, 3, 3)), "does not fit"),
        (((1, 3, 8, 8), (4, 3, 3, 0)), "w_shape"),
    ],
)
def test_bad_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        conv2d_counts(*args)
    with pytest.raises(ValueError, match="stride"):
        conv2d_macs((1, 3, 8, 8), (4, 3, 3, 3), stride=0)
