"""Toeplitz, FFT and Winograd convolutions against torch.nn.functional.conv2d in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs.conv.alternatives import (
    WINOGRAD_DIRECT_MULTIPLICATIONS_PER_TILE,
    WINOGRAD_MULTIPLICATIONS_PER_TILE,
    conv2d_fft,
    conv2d_toeplitz,
    direct_multiplications,
    toeplitz_density,
    toeplitz_matrix,
    toeplitz_nnz,
    winograd_f2x2_3x3,
    winograd_multiplications,
)

pytestmark = pytest.mark.lab7

# Relative bound on float32 results: max |err| / max |reference| (float32 eps is 1.2e-7).
FLOAT32_REL_BOUND = 1e-5


def torch_conv(x, w, b, padding):
    out = torch.nn.functional.conv2d(
        torch.from_numpy(np.asarray(x, np.float64)),
        torch.from_numpy(np.asarray(w, np.float64)),
        None if b is None else torch.from_numpy(np.asarray(b, np.float64)),
        padding=padding,
    )
    return out.numpy()


# (N, C, H, W, F, KH, KW, padding): rectangular inputs, non-square kernels, 1x1.
GENERAL = [
    (2, 3, 7, 5, 4, 3, 3, 0),
    (1, 2, 6, 9, 3, 2, 3, 1),
    (2, 1, 5, 5, 2, 5, 1, 1),
    (1, 4, 8, 6, 2, 1, 1, 0),
    (3, 2, 4, 7, 5, 3, 2, (1, 0)),
]
# Winograd: 3x3 only; odd and even output sizes.
WINOGRAD = [
    (2, 3, 6, 6, 4, 3, 3, 0),
    (1, 2, 7, 5, 3, 3, 3, 0),
    (2, 3, 5, 8, 2, 3, 3, 1),
    (1, 1, 3, 3, 1, 3, 3, 0),
    (1, 4, 9, 4, 3, 3, 3, 1),
]
CASES = [(conv2d_toeplitz, s) for s in GENERAL] + [(conv2d_fft, s) for s in GENERAL]
CASES += [(winograd_f2x2_3x3, s) for s in WINOGRAD]
IDS = [f"{f.__name__}-{s}" for f, s in CASES]


def draw(rng, N, C, H, W, F, KH, KW, with_bias=True):
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, KH, KW))
    b = rng.standard_normal(F) if with_bias else None
    return x, w, b


@pytest.mark.parametrize(("algo", "shape"), CASES, ids=IDS)
def test_matches_torch_float64(algo, shape, rng):
    *dims, padding = shape
    for with_bias in (True, False):
        x, w, b = draw(rng, *dims, with_bias=with_bias)
        out = algo(x, w, b, padding=padding)
        ref = torch_conv(x, w, b, padding)
        assert out.dtype == np.float64 and out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("algo", "shape"), CASES[::2], ids=IDS[::2])
def test_float32_error_against_float64_reference(algo, shape, rng, record_property):
    *dims, padding = shape
    x, w, b = (a.astype(np.float32) for a in draw(rng, *dims))
    out = algo(x, w, b, padding=padding)
    ref = torch_conv(x, w, b, padding)  # float64 of the same float32 values
    err = float(np.max(np.abs(out - ref)))
    rel = err / float(np.max(np.abs(ref)))
    record_property("float32_max_abs_err", err)
    record_property("float32_rel_err", rel)
    assert out.dtype == np.float32
    assert rel < FLOAT32_REL_BOUND, (algo.__name__, err, rel)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    f=st.integers(1, 3),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    extra_h=st.integers(0, 4),
    extra_w=st.integers(0, 4),
    padding=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_hypothesis_fft_and_toeplitz(n, c, f, kh, kw, extra_h, extra_w, padding, seed):
    rng = np.random.default_rng(seed)
    x, w, b = draw(rng, n, c, kh + extra_h, kw + extra_w, f, kh, kw)
    ref = torch_conv(x, w, b, padding)
    np.testing.assert_allclose(conv2d_fft(x, w, b, padding), ref, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(conv2d_toeplitz(x, w, b, padding), ref, rtol=1e-10, atol=1e-12)


@settings(max_examples=10, deadline=None)
@given(
    c=st.integers(1, 3),
    h=st.integers(3, 9),
    wd=st.integers(3, 9),
    padding=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_hypothesis_winograd(c, h, wd, padding, seed):
    rng = np.random.default_rng(seed)
    x, w, b = draw(rng, 1, c, h, wd, 2, 3, 3)
    ref = torch_conv(x, w, b, padding)
    np.testing.assert_allclose(winograd_f2x2_3x3(x, w, b, padding), ref, rtol=1e-10, atol=1e-11)


def nonzero_weights(rng, shape):
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def test_toeplitz_nnz_without_padding_is_f_c_oh_ow_kh_kw(rng):
    F, C, H, W, KH, KW = 3, 2, 6, 5, 3, 2
    T = toeplitz_matrix(nonzero_weights(rng, (F, C, KH, KW)), (H, W))
    OH, OW = H - KH + 1, W - KW + 1
    assert T.shape == (F * OH * OW, C * H * W)
    assert np.count_nonzero(T) == F * C * OH * OW * KH * KW
    assert toeplitz_nnz((F, C, KH, KW), (H, W)) == F * C * OH * OW * KH * KW
    assert toeplitz_density((F, C, KH, KW), (H, W)) == pytest.approx(
        KH * KW / (H * W)
    )  # F*C*OH*OW*KH*KW / (F*OH*OW * C*H*W)


@pytest.mark.parametrize("padding", [1, 2, (2, 1)])
def test_toeplitz_nnz_with_padding_by_brute_force(padding, rng):
    F, C, H, W, KH, KW = 2, 2, 5, 4, 3, 4
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    OH, OW = H + 2 * ph - KH + 1, W + 2 * pw - KW + 1
    count = 0
    for i in range(OH):
        for j in range(OW):
            for k in range(KH):
                for m in range(KW):
                    count += 0 <= i + k - ph < H and 0 <= j + m - pw < W
    T = toeplitz_matrix(nonzero_weights(rng, (F, C, KH, KW)), (H, W), padding=padding)
    assert np.count_nonzero(T) == F * C * count
    assert toeplitz_nnz((F, C, KH, KW), (H, W), padding=padding) == F * C * count


def test_toeplitz_is_doubly_block_toeplitz(rng):
    H, W, KH, KW = 5, 6, 2, 3
    OH, OW = H - KH + 1, W - KW + 1
    w = rng.standard_normal((1, 1, KH, KW))
    blocks = toeplitz_matrix(w, (H, W)).reshape(OH, OW, H, W)
    for i in range(OH):
        for h in range(H):
            block = blocks[i, :, h, :]
            k = h - i
            if 0 <= k < KH:
                # Toeplitz sub-block: the 1-D correlation matrix of kernel row k.
                expect = np.zeros((OW, W))
                for j in range(OW):
                    expect[j, j : j + KW] = w[0, 0, k]
                np.testing.assert_array_equal(block, expect)
            else:
                assert not block.any()


def test_winograd_multiplication_counts():
    x_shape, w_shape = (2, 3, 10, 8), (4, 3, 3, 3)  # 8x6 output: 4x3 tiles
    assert WINOGRAD_MULTIPLICATIONS_PER_TILE == 4 * 4
    assert WINOGRAD_DIRECT_MULTIPLICATIONS_PER_TILE == 2 * 2 * 3 * 3
    assert winograd_multiplications(x_shape, w_shape) == 16 * 2 * 4 * 3 * (4 * 3)
    direct = direct_multiplications(x_shape, w_shape)
    assert direct == 2 * 4 * 8 * 6 * 3 * 9
    assert direct / winograd_multiplications(x_shape, w_shape) == 2.25
    # An odd output size still costs whole tiles: 7x5 output -> 4x3 tiles.
    assert winograd_multiplications((1, 1, 9, 7), (1, 1, 3, 3)) == 16 * 12


def test_bad_input_raises(rng):
    x, w3, _ = draw(rng, 1, 2, 6, 6, 2, 3, 3)
    w5 = rng.standard_normal((2, 2, 5, 5))
    with pytest.raises(ValueError, match="winograd_f2x2_3x3: .*3x3"):
        winograd_f2x2_3x3(x, w5)
    with pytest.raises(ValueError, match="winograd_multiplications: .*3x3"):
        winograd_multiplications(x.shape, w5.shape)
    for algo in (winograd_f2x2_3x3, conv2d_fft):
        with pytest.raises(ValueError, match=f"{algo.__name__}: only stride 1"):
            algo(x, w3, stride=2)
    with pytest.raises(ValueError, match="conv2d_toeplitz: x has 2 channels"):
        conv2d_toeplitz(x, rng.standard_normal((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="conv2d_fft: .*does not fit"):
        conv2d_fft(x, rng.standard_normal((2, 2, 7, 7)))
    with pytest.raises(ValueError, match="toeplitz_matrix: input_hw"):
        toeplitz_matrix(w3, (0, 4))


def test_toeplitz_supports_stride_by_row_selection(rng):
    x, w, b = draw(rng, 2, 2, 7, 6, 3, 3, 2)
    ref = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=2, padding=1
    ).numpy()
    np.testing.assert_allclose(conv2d_toeplitz(x, w, b, padding=1, stride=2), ref, rtol=1e-10)
