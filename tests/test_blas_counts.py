"""Tests for lapenna_labs.blas.counts: flop and byte counts, intensities, the roofline.

Reference numbers come from outside our own output: hand counts, counting loops, the lecture
slides (their GFLOP/s formulas, Lab 2 Problem 4), STREAM's published byte counts and this
project's earlier H100 measurements (DAXPY and DGEMV rates with the bandwidths they reached).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs.blas import (
    attainable_gflops,
    axpy_bytes,
    axpy_flops,
    axpy_intensity,
    gemm_bytes,
    gemm_flops,
    gemm_intensity,
    gemv_bytes,
    gemv_flops,
    gemv_intensity,
    itemsize,
    vector_add_bytes,
)

# ---------------------------------------------------------------------------- counting loops


def _counted_gemm(A, B, C=None):
    """The textbook triple loop, counting every multiply and add it performs."""
    m, k = A.shape
    n = B.shape[1]
    out = np.zeros((m, n)) if C is None else C.astype(float).copy()
    mults = adds = 0
    for i in range(m):
        for j in range(n):
            acc = None
            for p in range(k):
                prod = A[i, p] * B[p, j]
                mults += 1
                if acc is None:
                    acc = prod
                else:
                    acc = acc + prod
                    adds += 1
            if C is not None:
                acc = out[i, j] + acc
                adds += 1
            out[i, j] = acc
    return out, mults + adds


def _counted_gemv(A, x, y=None):
    out, ops = _counted_gemm(A, x[:, None], None if y is None else y[:, None])
    return out[:, 0], ops


SHAPES = [(1, 1, 1), (2, 3, 4), (5, 1, 3), (3, 4, 1), (4, 4, 4), (1, 6, 2)]


@pytest.mark.lab1
class TestCounts:
    def test_hand_counts(self):
        # y <- a x + y on 5 elements: 5 multiplies + 5 adds.
        assert axpy_flops(5) == 10
        # (3, 4) matrix: 12 multiplies, 12 adds with y; 3 * (4 + 3) = 21 without.
        assert gemv_flops(3, 4) == 24
        assert gemv_flops(3, 4, accumulate=False) == 21
        # (2, 4) @ (4, 3): 24 multiplies, 24 adds into C; 2 * 3 * (4 + 3) = 42 without C.
        assert gemm_flops(2, 3, 4) == 48
        assert gemm_flops(2, 3, 4, accumulate=False) == 42
        assert gemm_flops(1, 1, 1, accumulate=False) == 1

    @pytest.mark.parametrize("m,n,k", SHAPES)
    def test_gemm_flops_match_a_counting_triple_loop(self, m, n, k, rng):
        A, B, C = rng.normal(size=(m, k)), rng.normal(size=(k, n)), rng.normal(size=(m, n))
        out, ops = _counted_gemm(A, B)
        np.testing.assert_allclose(out, A @ B)
        assert ops == gemm_flops(m, n, k, accumulate=False)
        out, ops = _counted_gemm(A, B, C)
        np.testing.assert_allclose(out, C + A @ B)
        assert ops == gemm_flops(m, n, k, accumulate=True) == 2 * m * n * k

    @settings(max_examples=25, deadline=None)
    @given(st.integers(1, 6), st.integers(1, 6))
    def test_gemv_flops_match_a_counting_loop(self, m, n):
        A, x, y = np.ones((m, n)), np.ones(n), np.ones(m)
        assert _counted_gemv(A, x)[1] == gemv_flops(m, n, accumulate=False)
        assert _counted_gemv(A, x, y)[1] == gemv_flops(m, n)

    def test_bytes_count_each_operand_once(self):
        assert axpy_bytes(10, "float32") == 3 * 10 * 4
        assert axpy_bytes(10, np.float64) == 240
        # A (3x4) + x (4) + y read and written (3 + 3), float64.
        assert gemv_bytes(3, 4) == (12 + 4 + 6) * 8
        assert gemv_bytes(3, 4, "float32", accumulate=False) == (12 + 4 + 3) * 4
        # A (2x4) + B (4x3) + C read and written (6 + 6).
        assert gemm_bytes(2, 3, 4) == (8 + 12 + 12) * 8
        assert gemm_bytes(2, 3, 4, "float16", accumulate=False) == (8 + 12 + 6) * 2

    def test_vector_add_counts_the_write_allocate_read(self):
        # STREAM's table (McCalpin, cs.virginia.edu/stream): SUM a(i) = b(i) + c(i) is credited
        # with 24 bytes per iteration in float64, and its documentation adds one 8-byte read
        # per iteration on a write-allocate cache: 32 bytes really move.
        n = 1000
        assert vector_add_bytes(n, write_allocate=False) == 24 * n
        assert vector_add_bytes(n) == (24 + 8) * n
        # In place (y = x + y), the written lines were just read: 3 words, like AXPY.
        assert vector_add_bytes(n, in_place=True) == 24 * n == axpy_bytes(n)
        assert vector_add_bytes(n, "float32") == 16 * n
        # Counting 3 words where 4 move reports 3/4 of the bandwidth.
        seconds = 1e-3
        true_rate = vector_add_bytes(n) / seconds
        assert vector_add_bytes(n, write_allocate=False) / seconds == pytest.approx(
            0.75 * true_rate
        )

    def test_intensities(self):
        assert axpy_intensity(1000, "float64") == pytest.approx(1 / 12)
        assert axpy_intensity(1000, "float32") == pytest.approx(1 / 6)
        for n in (8, 100, 4096):
            # Square GEMM: 2 n^3 / (4 n^2 itemsize) = n / (2 itemsize): grows with n.
            assert gemm_intensity(n, n, n, "float64") == pytest.approx(n / 16)
            assert gemm_intensity(n, n, n, "float32") == pytest.approx(n / 8)
        # GEMV tends to 2 / itemsize from below.
        assert gemv_intensity(10, 10) < gemv_intensity(10_000, 10_000) < 0.25
        assert gemv_intensity(10_000, 10_000) == pytest.approx(0.25, rel=1e-3)

    def test_byte_model_explains_the_earlier_h100_measurements(self):
        # This project's earlier H100 measurement (CUDA events): DAXPY ran at 249 GFLOP/s
        # moving 2.99 TB/s, DGEMV at 769 GFLOP/s moving 3.08 TB/s.
        assert 249 / axpy_intensity(10**8, "float64") / 1000 == pytest.approx(2.99, rel=0.01)
        n = 16384
        assert 769 / gemv_intensity(n, n, "float64") / 1000 == pytest.approx(3.08, rel=0.01)

    def test_slides_gflops_formulas(self):
        # Slides: "2 * (N^3) FLOP / time, 2 * 5 * 5 * 5 / 7.4 = 33.8 GFLOPS" for N = 5000.
        assert gemm_flops(5000, 5000, 5000) / 7.4 / 1e9 == pytest.approx(33.8, abs=0.05)
        # Lab 2 Problem 4: time = 0.2360849380493164 -> GFLOPS = 67.7722184744277 (N = 2000).
        assert gemm_flops(2000, 2000, 2000) / 0.2360849380493164 / 1e9 == pytest.approx(
            67.7722184744277
        )

    def test_itemsize_aliases(self):
        assert [itemsize(d) for d in ("float64", "fp32", "float16", "bfloat16", "tf32")] == [
            8,
            4,
            2,
            2,
            4,
        ]
        with pytest.raises(ValueError, match="itemsize: unknown dtype"):
            itemsize("float7")

    @pytest.mark.parametrize(
        "call,match",
        [
            (lambda: axpy_flops(0), "axpy_flops: n must be a positive integer"),
            (lambda: gemv_flops(3, -1), "gemv_flops: n must be a positive integer"),
            (lambda: gemm_flops(2, 2, 2.5), "gemm_flops: k must be a positive integer"),
            (lambda: gemm_bytes(2, 2, 2, "complex7"), "gemm_bytes: unknown dtype"),
            (lambda: vector_add_bytes(0), "vector_add_bytes: n must be a positive integer"),
            (lambda: vector_add_bytes(4, "float7"), "vector_add_bytes: unknown dtype"),
            (lambda: attainable_gflops(1.0, -1, 10), "attainable_gflops"),
        ],
    )
    def test_bad_sizes_raise(self, call, match):
        with pytest.raises(ValueError, match=match):
            call()

    def test_roofline_formula(self):
        peak, bw = 34_000.0, 3_350.0
        assert attainable_gflops(1 / 12, peak, bw) == pytest.approx(bw / 12)
        assert attainable_gflops(1000.0, peak, bw) == peak
        x = np.geomspace(0.01, 1000, 7)
        np.testing.assert_allclose(attainable_gflops(x, peak, bw), np.minimum(peak, bw * x))


@pytest.mark.lab1
def test_week1_measures_bandwidth_with_the_package_count():
    """The week 1 page once credited z = x + y with 3 words: its bandwidth came out 3/4 of the
    truth and in-place kernels landed above the roof. It must count with vector_add_bytes."""
    chapter = (Path(__file__).parents[1] / "book" / "week01_hpc_blas.md").read_text()
    assert "blas.vector_add_bytes(n, in_place=in_place)" in chapter
    assert "moved = 3 * n" not in chapter
