"""Tests for lapenna_labs.blas.tiling: the blocked matrix multiply and its traffic.

The product is checked against ``A @ B``; the traffic against the CS267 formula
``(2N + 2) n**2`` and the block-size rule against ``3 b**2 <= M`` counted by hand.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs.blas import (
    block_size_for_cache,
    blocked_matmul,
    blocked_matmul_intensity,
    blocked_matmul_words,
    itemsize,
    naive_matmul_intensity,
    num_blocks_for_cache,
)


@pytest.mark.lab2
class TestBlockedMatmul:
    @pytest.mark.parametrize(
        "m,k,n,b", [(4, 4, 4, 2), (5, 7, 3, 2), (7, 5, 9, 4), (3, 3, 3, 10), (1, 8, 1, 3)]
    )
    def test_equals_matmul(self, m, k, n, b, rng, dtype, tol):
        A = rng.normal(size=(m, k)).astype(dtype)
        B = rng.normal(size=(k, n)).astype(dtype)
        C = blocked_matmul(A, B, b)
        assert C.dtype == dtype and C.shape == (m, n)
        np.testing.assert_allclose(C, A @ B, **tol)

    @settings(max_examples=40, deadline=None)
    @given(
        st.integers(1, 13),
        st.integers(1, 13),
        st.integers(1, 13),
        st.integers(1, 9),
        st.sampled_from([np.float32, np.float64]),
    )
    def test_equals_matmul_any_shape(self, m, k, n, b, dtype):
        gen = np.random.default_rng(m * 1000 + k * 100 + n * 10 + b)
        A = gen.normal(size=(m, k)).astype(dtype)
        B = gen.normal(size=(k, n)).astype(dtype)
        C = blocked_matmul(A, B, b)
        assert C.dtype == dtype
        rtol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(C, A @ B, rtol=rtol, atol=rtol)

    @pytest.mark.parametrize("n,b", [(8, 1), (8, 2), (12, 4), (12, 12), (30, 5)])
    def test_traffic_matches_the_cs267_formula(self, n, b, rng):
        A, B = rng.normal(size=(n, n)), rng.normal(size=(n, n))
        _, traffic = blocked_matmul(A, B, b, return_traffic=True)
        N = n // b
        assert traffic.words == (2 * N + 2) * n**2 == blocked_matmul_words(n, N)
        assert traffic.flops == 2 * n**3
        assert traffic.intensity == pytest.approx(blocked_matmul_intensity(n, N))
        assert traffic.intensity == pytest.approx(n / (N + 1))

    def test_intensity_grows_with_block_size(self):
        n = 1200
        qs = [blocked_matmul_intensity(n, n // b) for b in (1, 10, 100, 1200)]
        assert qs == sorted(qs)
        # q ~ n / N = b once N is large: within a factor N / (N + 1).
        assert blocked_matmul_intensity(n, 12) == pytest.approx(100, rel=1 / 12)
        # The naive triple loop: q ~ 2, however big n is.
        assert naive_matmul_intensity(10) < naive_matmul_intensity(10_000) < 2
        assert naive_matmul_intensity(10_000) == pytest.approx(2, rel=1e-3)

    def test_block_size_rule(self):
        # 32 KiB L1 holds 4096 doubles; 3 * 36^2 = 3888 fits, 3 * 37^2 = 4107 does not.
        assert block_size_for_cache(32 * 1024, "float64") == 36
        assert block_size_for_cache(32 * 1024, "float32") == 52  # 8192 floats: 3*52^2 = 8112
        for nbytes in (100, 4096, 32 * 1024, 2**20, 12345):
            for dt in ("float32", "float64"):
                b, words = block_size_for_cache(nbytes, dt), nbytes // itemsize(dt)
                assert 3 * b**2 <= words < 3 * (b + 1) ** 2
        with pytest.raises(ValueError, match="block_size_for_cache: 16 bytes cannot hold"):
            block_size_for_cache(16, "float64")

    @pytest.mark.parametrize(
        "A,B,b,match",
        [
            (np.ones(3), np.ones((3, 2)), 2, "blocked_matmul: A must be 2-D"),
            (np.ones((2, 3)), np.ones((4, 2)), 2, "A has 3 columns but B has 4 rows"),
            (np.ones((2, 3)), np.ones((3, 2)), 0, "block_size must be a positive integer"),
            (np.ones((2, 3)), np.ones((3, 2)), 1.5, "block_size must be a positive integer"),
            (np.full((2, 2), np.nan), np.ones((2, 2)), 1, "A contains NaN"),
            (np.ones((2, 2)), np.array([["a", "b"], ["c", "d"]]), 1, "B must hold real numbers"),
        ],
    )
    def test_bad_input(self, A, B, b, match):
        with pytest.raises(ValueError, match=match):
            blocked_matmul(A, B, b)

    def test_words_needs_a_divisor(self):
        with pytest.raises(ValueError, match="num_blocks=5 does not divide n=12"):
            blocked_matmul_words(12, 5)

    def test_block_count_rounds_up_so_the_blocks_fit(self):
        # The case of the week 1 page on a 512 KiB L2: b_max = 147 (3 * 147^2 = 64827 <= 65536
        # doubles). Rounding down, 4096 // 147 = 27 blocks of 151.7 > 147: they overflow.
        n, l2 = 4096, 512 * 1024
        assert block_size_for_cache(l2) == 147
        assert n / (n // 147) > 147
        assert num_blocks_for_cache(n, l2) == 28 and n / 28 <= 147
        for nbytes in (32 * 1024, 512 * 1024, 2**20, 12345):
            for size in (1, 100, 147, 148, 1000, 4096):
                for dt in ("float32", "float64"):
                    b_max = block_size_for_cache(nbytes, dt)
                    N = num_blocks_for_cache(size, nbytes, dt)
                    assert 3 * math.ceil(size / N) ** 2 * itemsize(dt) <= nbytes  # blocks fit
                    assert N == 1 or size / (N - 1) > b_max  # one block fewer would not

    def test_block_count_bad_input(self):
        with pytest.raises(ValueError, match="num_blocks_for_cache: n must be a positive"):
            num_blocks_for_cache(0, 1024)
        with pytest.raises(ValueError, match="num_blocks_for_cache: 16 bytes cannot hold"):
            num_blocks_for_cache(8, 16)

    def test_traffic_in_bytes_follows_the_dtype(self, rng, dtype):
        A, B = rng.normal(size=(8, 8)).astype(dtype), rng.normal(size=(8, 8)).astype(dtype)
        _, traffic = blocked_matmul(A, B, 4, return_traffic=True)
        size = np.dtype(dtype).itemsize
        assert traffic.itemsize == size and traffic.bytes == traffic.words * size
        assert traffic.flops_per_byte == pytest.approx(traffic.intensity / size)


@pytest.mark.lab1
def test_week1_block_count_comes_from_the_package():
    """The week 1 page once used n // b for the block count, giving blocks too big to fit."""
    chapter = (Path(__file__).parents[1] / "book" / "week01_hpc_blas.md").read_text()
    assert "blas.num_blocks_for_cache(n, l2" in chapter
    assert "right_N = n // b_rule" not in chapter
