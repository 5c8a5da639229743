"""Tests for lapenna_labs.blas: counts, intensities, timing, the slides' timing, tiling, peaks.

Reference numbers come from outside our own output: hand counts, counting loops, the lecture
slides (Lab 2 Problem 4, the P100 slide), NVIDIA datasheets and DESIGN.md's H100 measurements.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs import blas
from lapenna_labs.blas import (
    PEAK_GFLOPS,
    attainable_gflops,
    axpy_bytes,
    axpy_flops,
    axpy_intensity,
    block_size_for_cache,
    blocked_matmul,
    blocked_matmul_intensity,
    blocked_matmul_words,
    cpu_peak_estimate,
    cuda_available,
    gemm_bytes,
    gemm_flops,
    gemm_intensity,
    gemm_sweep,
    gemv_bytes,
    gemv_flops,
    gemv_intensity,
    get_synchronizer,
    itemsize,
    lookup_gpu_peak,
    naive_matmul_intensity,
    naive_time_gemm,
    time_callable,
    time_gemm,
)

needs_cuda = pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
no_cuda = pytest.mark.skipif(cuda_available(), reason="checks the behaviour without CUDA")


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

    def test_byte_model_explains_the_h100_measurements_in_design(self):
        # DESIGN.md: DAXPY 249 GFLOP/s at 2.99 TB/s, DGEMV 769 GFLOP/s at 3.08 TB/s, measured.
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


# ---------------------------------------------------------------------------- peaks


@pytest.mark.lab1
class TestPeaks:
    KEYS = {"fp64", "fp64_tensor", "fp32", "tf32_tensor", "fp16_tensor", "bf16_tensor"}

    def test_table_has_the_seven_gpus_with_sources(self):
        assert set(PEAK_GFLOPS) == {"T4", "P100", "V100", "A100", "L4", "H100", "H200"}
        for name, entry in PEAK_GFLOPS.items():
            assert self.KEYS | {"bandwidth_gbs", "variant", "notes", "source"} <= set(entry)
            assert entry["source"].startswith("https://"), name
            assert entry["fp64"] > 0 and entry["fp32"] > 0 and entry["bandwidth_gbs"] > 0
            for key in self.KEYS:
                assert entry[key] is None or entry[key] > 0
            # Tensor-core rates exceed the CUDA-core FP32 rate on every GPU that has them.
            for key in ("tf32_tensor", "fp16_tensor", "bf16_tensor"):
                assert entry[key] is None or entry[key] > entry["fp32"]

    def test_h200_is_an_h100_with_faster_memory(self):
        h100, h200 = PEAK_GFLOPS["H100"], PEAK_GFLOPS["H200"]
        assert all(h200[k] == h100[k] for k in self.KEYS)
        assert h200["bandwidth_gbs"] / h100["bandwidth_gbs"] == pytest.approx(1.43, abs=0.01)

    def test_dense_not_sparse(self):
        # NVIDIA prints A100 TF32 as 312 and H100 BF16 as 1,979 TFLOPS *with sparsity*.
        assert PEAK_GFLOPS["A100"]["tf32_tensor"] == 156_000
        assert PEAK_GFLOPS["H100"]["bf16_tensor"] == pytest.approx(1_979_000 / 2, rel=1e-3)

    def test_slides_p100_figures_are_below_its_peaks(self):
        p100 = PEAK_GFLOPS["P100"]
        assert p100["fp64"] == 4700  # the slides' "Peak DP = 4700 Gflop/s"
        assert 4503 <= p100["fp64"]  # the slides' DGEMM
        # The slides' DGEMV 145 and DAXPY 52 GFLOP/s imply bandwidths below the 732 GB/s peak.
        assert 145 / gemv_intensity(8192, 8192) < p100["bandwidth_gbs"]
        assert 52 / axpy_intensity(10**7) < p100["bandwidth_gbs"]

    def test_design_h100_measurements_are_below_the_peaks(self):
        h100 = PEAK_GFLOPS["H100"]
        # DESIGN.md, CUDA events at N = 8192: FP64 57, FP32 51, TF32 388, BF16 781 TFLOP/s.
        assert h100["fp64"] < 57_000 <= h100["fp64_tensor"]  # DGEMM runs on FP64 tensor cores
        assert 51_000 <= h100["fp32"]
        assert 388_000 <= h100["tf32_tensor"]
        assert 781_000 <= h100["bf16_tensor"]
        assert 2_990 <= h100["bandwidth_gbs"]
        # The slides-style timing's 878,000 GFLOP/s is impossible for FP32.
        assert 878_000 > 10 * h100["fp32"]

    @pytest.mark.parametrize(
        "name,key",
        [
            ("Tesla T4", "T4"),
            ("Tesla P100-PCIE-16GB", "P100"),
            ("Tesla V100-SXM2-16GB", "V100"),
            ("NVIDIA A100-SXM4-40GB", "A100"),
            ("NVIDIA L4", "L4"),
            ("NVIDIA H100 80GB HBM3", "H100"),
            ("NVIDIA H200", "H200"),
        ],
    )
    def test_lookup_by_device_name(self, name, key):
        assert lookup_gpu_peak(name) is PEAK_GFLOPS[key]

    def test_lookup_precision_and_misses(self):
        assert lookup_gpu_peak("NVIDIA H100 80GB HBM3", "float64") == 67_000
        assert lookup_gpu_peak("Tesla T4", "float64") == PEAK_GFLOPS["T4"]["fp64"]
        assert lookup_gpu_peak("Tesla T4", "bfloat16") is None
        assert lookup_gpu_peak("NVIDIA L40S") is None
        assert lookup_gpu_peak("NVIDIA GeForce RTX 4090") is None
        with pytest.raises(ValueError, match="lookup_gpu_peak: unknown precision"):
            lookup_gpu_peak("Tesla T4", "int8")


@pytest.mark.lab1
class TestCpuPeak:
    def test_arithmetic_with_every_factor_given(self):
        est = cpu_peak_estimate("float64", cores=2, ghz=2.6, vector_bits=256, fma_units=2)
        # 256-bit FMA: 4 doubles x 2 flops x 2 units = 16 per cycle; x 2 cores x 2.6 GHz.
        assert est.flops_per_cycle == 16
        assert est.gflops == pytest.approx(83.2)
        est32 = cpu_peak_estimate("float32", cores=2, ghz=2.6, vector_bits=256, fma_units=2)
        assert est32.gflops == pytest.approx(2 * est.gflops)
        # Skylake-SP with two AVX-512 FMA units: 32 double flops per cycle.
        assert cpu_peak_estimate(cores=1, ghz=1.0, vector_bits=512).flops_per_cycle == 32
        assert "2 cores x 2.60 GHz x 16 FLOP/cycle = 83.2 GFLOP/s" in str(est)

    def test_this_machine(self):
        est = cpu_peak_estimate()
        assert est.gflops > 0 and est.cores >= 1 and est.ghz > 0
        assert len(est.assumptions) == 4
        assert cpu_peak_estimate("float32").gflops == pytest.approx(2 * est.gflops)

    def _fake(self, monkeypatch, vendor, family, flags, logical=4, cores=2):
        blocks = [
            {
                "processor": str(i),
                "vendor_id": vendor,
                "cpu family": family,
                "model name": "Fake CPU",
                "physical id": "0",
                "core id": str(i % cores),
                "cpu MHz": "3000.000",
                "flags": flags,
            }
            for i in range(logical)
        ]
        monkeypatch.setattr(blas.timing, "_read_cpuinfo", lambda: blocks)
        monkeypatch.setattr(blas.timing.os, "sched_getaffinity", lambda pid: set(range(logical)))

    @pytest.mark.parametrize(
        "vendor,family,flags,bits",
        [
            ("GenuineIntel", "6", "sse2 avx avx2 fma avx512f", 512),
            ("AuthenticAMD", "25", "sse2 avx avx2 fma avx512f", 256),  # Zen 4 double-pumps
            ("AuthenticAMD", "23", "sse2 avx avx2 fma", 256),
            ("GenuineIntel", "6", "sse2", 128),
        ],
    )
    def test_reads_flags_and_counts_physical_cores(self, monkeypatch, vendor, family, flags, bits):
        self._fake(monkeypatch, vendor, family, flags)
        est = cpu_peak_estimate(ghz=3.0)  # sysfs may or may not expose a clock here
        assert est.vector_bits == bits
        assert est.cores == 2  # four hyperthreads on two cores
        assert est.has_fma == ("fma" in flags)
        per_cycle = bits // 64 * (2 * 2 if "fma" in flags else 2)
        assert est.flops_per_cycle == per_cycle
        assert est.gflops == pytest.approx(2 * 3.0 * per_cycle)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="cpu_peak_estimate: dtype"):
            cpu_peak_estimate("int8")
        with pytest.raises(ValueError, match="cpu_peak_estimate: cores"):
            cpu_peak_estimate(cores=0)
        with pytest.raises(ValueError, match="cpu_peak_estimate: ghz"):
            cpu_peak_estimate(ghz=-1.0)


# ---------------------------------------------------------------------------- timing


@pytest.mark.lab2
class TestTimeCallable:
    def test_structure_and_warmup(self):
        calls = []
        result = time_callable(lambda: calls.append(1), warmup=3, repeats=7, flops=1e6)
        assert len(calls) == 10
        assert len(result.times) == 7 and all(t >= 0 for t in result.times)
        assert result.min <= result.median <= result.max
        assert result.iqr >= 0 and result.spread >= 0
        assert result.device == "cpu" and result.method == "perf_counter"
        assert result.warmup == 3 and result.flops == 1e6
        if result.median > 0:
            assert result.gflops == pytest.approx(1e6 / result.median / 1e9)
            assert result.gflops_best >= result.gflops
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.times = ()
        record = result.as_record()
        assert record["repeats"] == 7 and record["median_s"] == result.median

    def test_statistics_of_known_times(self):
        r = blas.TimingResult(
            times=(1.0, 2.0, 3.0, 4.0, 100.0), device="cpu", device_name="x", method="m", flops=4e9
        )
        assert r.median == 3.0 and r.min == 1.0
        assert r.iqr == pytest.approx(4.0 - 2.0)  # one outlier does not move the quartiles
        assert r.gflops == pytest.approx(4 / 3) and r.gflops_best == pytest.approx(4.0)
        assert blas.TimingResult((0.5,), "cpu", "x", "m").gflops is None

    def test_numpy_gemm_rate_is_plausible(self):
        for dtype in ("float64", "float32"):
            result = time_gemm(256, dtype, repeats=5)
            peak = cpu_peak_estimate(dtype).gflops
            assert result.flops == 2 * 256**3
            # Loose on purpose (a shared CI machine, turbo clocks), but catches a wrong flop
            # count or a unit error (seconds vs milliseconds) by orders of magnitude.
            assert 0.1 < result.gflops < 10 * peak, (dtype, result.gflops, peak)

    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"device": "tpu"}, "time_callable: device must be 'cpu', 'cuda' or 'cuda:N'"),
            ({"device": "cuda:x"}, "time_callable: device must be"),
            ({"device": "cpu:1"}, "time_callable: device must be"),
            ({"warmup": -1}, "time_callable: warmup must be a non-negative integer"),
            ({"repeats": 0}, "time_callable: repeats must be a positive integer"),
            ({"flops": -5}, "time_callable: flops must be a positive number"),
            ({"sync": 3}, "time_callable: sync must be callable"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            time_callable(lambda: None, **kwargs)
        with pytest.raises(ValueError, match="time_callable: fn must be callable"):
            time_callable(42)

    def test_custom_sync_is_called_around_each_repeat(self):
        events = []
        time_callable(
            lambda: events.append("fn"), warmup=1, repeats=2, sync=lambda: events.append("s")
        )
        assert events == ["fn", "s", "s", "fn", "s", "s", "fn", "s"]

    def test_times_are_seconds_of_the_work_and_of_waiting_for_the_device(self):
        # sleep() lasts at least as long as asked, so the lower bounds cannot flake; the
        # upper bound catches a milliseconds-for-seconds slip (1000x).
        r = time_callable(lambda: time.sleep(0.02), warmup=0, repeats=3)
        assert r.method == "perf_counter" and len(r.times) == 3
        assert all(0.02 <= t < 1.0 for t in r.times), r.times
        # The end of a repeat is read after waiting for the "device" (here: a 30 ms wait),
        # as a GPU timing must include the queued work and not only its launch.
        r = time_callable(lambda: None, warmup=0, repeats=2, sync=lambda: time.sleep(0.03))
        assert all(0.03 <= t < 1.0 for t in r.times), r.times

    def test_choosing_the_synchronizer(self):
        sync = get_synchronizer("cpu")
        assert callable(sync) and sync() is None
        for bad in ("tpu", "gpu", "", "cuda:-1"):
            with pytest.raises(ValueError, match="get_synchronizer: device must be"):
                get_synchronizer(bad)

    @no_cuda
    def test_cuda_without_a_gpu_says_so(self):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            get_synchronizer("cuda")
        with pytest.raises(RuntimeError, match="time_callable: .*CUDA is not available"):
            time_callable(lambda: None, device="cuda")
        with pytest.raises(RuntimeError, match="time_gemm"):
            time_gemm(64, device="cuda")

    def test_works_without_torch_installed(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
        assert cuda_available() is False
        assert time_gemm(64, "float64", repeats=2).gflops > 0
        with pytest.raises(RuntimeError, match=r"pip install torch"):
            time_gemm(64, backend="torch", repeats=1)

    def test_importing_the_package_imports_no_framework(self):
        code = (
            "import sys, lapenna_labs.blas, lapenna_labs.plots, lapenna_labs.data;"
            "bad = [m for m in ('torch', 'tensorflow') if m in sys.modules];"
            "assert not bad, bad"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.lab2
class TestTimeGemm:
    def test_torch_cpu_and_precision_restored(self):
        torch = pytest.importorskip("torch")
        before = torch.get_float32_matmul_precision()
        result = time_gemm(128, "float32", backend="torch", repeats=2)
        assert result.gflops > 0 and result.device == "cpu"
        assert torch.get_float32_matmul_precision() == before

    def test_tensorflow_cpu(self):
        tf = pytest.importorskip("tensorflow")
        before = tf.config.experimental.tensor_float_32_execution_enabled()
        result = time_gemm(128, "float64", backend="tensorflow", repeats=2)
        assert result.gflops > 0 and result.method == "perf_counter"
        assert tf.config.experimental.tensor_float_32_execution_enabled() == before

    @pytest.mark.parametrize(
        "kwargs,match",
        [
            ({"dtype": "tf32", "backend": "torch"}, "tf32' is a tensor-core mode"),
            ({"dtype": "float16"}, "not available with backend 'numpy'"),
            ({"backend": "jax"}, "backend must be one of"),
            ({"device": "cuda", "backend": "numpy"}, "NumPy runs on the CPU only"),
            ({"device": "tpu"}, "time_gemm: device must be"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            time_gemm(64, **kwargs)
        with pytest.raises(ValueError, match="time_gemm: n must be a positive integer"):
            time_gemm(0)

    def test_sweep_records(self):
        records = gemm_sweep([32, 64], ["float32", "float64"], ["cpu"], repeats=2, progress=False)
        assert [(r["dtype"], r["n"]) for r in records] == [
            ("float32", 32),
            ("float32", 64),
            ("float64", 32),
            ("float64", 64),
        ]
        for r in records:
            assert r["backend"] == "numpy" and r["device"] == "cpu"
            assert r["flops"] == 2 * r["n"] ** 3 and r["gflops"] > 0
            assert {"median_s", "iqr_s", "min_s", "device_name", "repeats"} <= set(r)
        with pytest.raises(ValueError, match="gemm_sweep: sizes is empty"):
            gemm_sweep([], progress=False)
        with pytest.raises(ValueError, match="gemm_sweep: device must be"):
            gemm_sweep([32], devices=["tpu"], progress=False)

    def test_naive_timing_reproduces_the_slides_code(self):
        t = naive_time_gemm(256, "float32")
        assert isinstance(t.seconds, float) and t.seconds >= 0
        assert t.gflops == (
            math.inf if t.seconds == 0 else pytest.approx(2 * 256**3 / t.seconds / 1e9)
        )
        assert (t.n, t.dtype, t.device, t.backend) == (256, "float32", "cpu", "numpy")
        with pytest.raises(ValueError, match="naive_time_gemm: the slides time NumPy"):
            naive_time_gemm(64, backend="tensorflow")

    def test_naive_timing_with_torch_on_the_cpu(self):
        pytest.importorskip("torch")
        t = naive_time_gemm(128, "float64", backend="torch")
        assert t.seconds >= 0 and t.backend == "torch"


@pytest.mark.gpu
@pytest.mark.lab2
@needs_cuda
class TestCuda:
    @pytest.mark.parametrize("dtype", ["float64", "float32", "tf32", "bfloat16"])
    def test_cuda_event_timing_is_below_the_vendor_peak(self, dtype):
        result = time_gemm(2048, dtype, "cuda", repeats=5)
        assert result.method == "cuda_event" and result.device == "cuda:0"
        peak = lookup_gpu_peak(result.device_name, dtype)
        assert result.gflops > 0
        if peak is not None:
            assert result.gflops <= 1.05 * peak, (result.device_name, dtype, result.gflops)

    def test_synchronizer_and_tensorflow(self):
        get_synchronizer("cuda")()
        tf = pytest.importorskip("tensorflow")
        if not tf.config.list_physical_devices("GPU"):
            pytest.skip("TensorFlow sees no GPU")
        assert time_gemm(1024, "float32", "cuda", "tensorflow", repeats=3).gflops > 0

    def test_naive_gpu_timing_runs(self):
        t = naive_time_gemm(1024, "float32", "cuda")
        assert t.seconds >= 0 and t.device == "cuda:0"


# ---------------------------------------------------------------------------- tiling


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
