"""Tests for lapenna_labs.blas.peaks: the GPU peak table, its lookup, the CPU estimate.

Reference numbers come from NVIDIA datasheets and the lecture slides (the P100 slide); the
recorded H100 measurements are checked against these peaks in tests/test_measurements.py.
"""

from __future__ import annotations

import pytest

from lapenna_labs.blas import (
    CLOCK_SOURCES,
    PEAK_GFLOPS,
    axpy_intensity,
    cpu_peak_estimate,
    devices,
    gemv_intensity,
    lookup_gpu_peak,
    peaks,
)


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


def write_fake_machine(tmp_path, monkeypatch, blocks, max_freq_khz=None, allowed=None):
    """A fake /proc/cpuinfo (``blocks``: one dict per logical CPU) and sysfs cpufreq tree.

    ``max_freq_khz`` maps a CPU number to its ``cpuinfo_max_freq`` (kHz, as sysfs writes it);
    CPUs missing from it have no cpufreq directory, as in many virtual machines.
    """
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "\n\n".join("\n".join(f"{k}\t: {v}" for k, v in b.items()) for b in blocks) + "\n"
    )
    sysfs = tmp_path / "sys_cpu"
    for cpu in range(len(blocks)):
        (sysfs / f"cpu{cpu}").mkdir(parents=True)
    for cpu, khz in (max_freq_khz or {}).items():
        (sysfs / f"cpu{cpu}" / "cpufreq").mkdir()
        (sysfs / f"cpu{cpu}" / "cpufreq" / "cpuinfo_max_freq").write_text(f"{khz}\n")
    monkeypatch.setattr(devices, "_CPUINFO", str(cpuinfo))
    monkeypatch.setattr(peaks, "_SYSFS_CPU", str(sysfs))
    cpus = set(range(len(blocks))) if allowed is None else set(allowed)
    monkeypatch.setattr(peaks.os, "sched_getaffinity", lambda pid: cpus)


def cpu_blocks(logical=4, cores=2, model="Fake CPU", mhz="3000.000", **fields):
    """/proc/cpuinfo blocks of one socket: ``logical`` CPUs on ``cores`` cores (hyperthreads)."""
    blocks = []
    for i in range(logical):
        block = {"processor": str(i), "vendor_id": "GenuineIntel", "cpu family": "6"}
        block |= {"model name": model, "physical id": "0", "core id": str(i % cores)}
        if mhz is not None:
            block["cpu MHz"] = mhz
        blocks.append(block | {"flags": "sse2 avx avx2 fma"} | fields)
    return blocks


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
        assert est.clock_source == "given" and "clock: given" in str(est)

    def test_this_machine(self):
        est = cpu_peak_estimate()
        assert est.gflops > 0 and est.cores >= 1 and est.ghz > 0
        assert len(est.assumptions) == 4
        assert est.clock_source in CLOCK_SOURCES and est.clock_meaning
        assert cpu_peak_estimate("float32").gflops == pytest.approx(2 * est.gflops)

    @pytest.mark.parametrize(
        "vendor,family,flags,bits",
        [
            ("GenuineIntel", "6", "sse2 avx avx2 fma avx512f", 512),
            ("AuthenticAMD", "25", "sse2 avx avx2 fma avx512f", 256),  # Zen 4 double-pumps
            ("AuthenticAMD", "23", "sse2 avx avx2 fma", 256),
            ("GenuineIntel", "6", "sse2", 128),
        ],
    )
    def test_reads_flags_and_counts_physical_cores(
        self, tmp_path, monkeypatch, vendor, family, flags, bits
    ):
        blocks = cpu_blocks(vendor_id=vendor, **{"cpu family": family, "flags": flags})
        write_fake_machine(tmp_path, monkeypatch, blocks)
        est = cpu_peak_estimate()
        assert est.vector_bits == bits
        assert est.cores == 2  # four hyperthreads on two cores
        assert est.has_fma == ("fma" in flags)
        per_cycle = bits // 64 * (2 * 2 if "fma" in flags else 2)
        assert est.flops_per_cycle == per_cycle
        assert est.gflops == pytest.approx(2 * 3.0 * per_cycle)  # the fake 3000 MHz

    def test_the_maximum_boost_clock_from_sysfs_wins(self, tmp_path, monkeypatch):
        # A VM-like 'cpu MHz' of 2.6 GHz, but the kernel exposes a 3.7 GHz maximum (kHz).
        write_fake_machine(
            tmp_path,
            monkeypatch,
            cpu_blocks(model="Fake CPU @ 2.60GHz", mhz="2600.000"),
            max_freq_khz={cpu: 3_700_000 for cpu in range(4)},
        )
        est = cpu_peak_estimate("float64")
        assert est.clock_source == "cpuinfo_max_freq"
        assert est.ghz == pytest.approx(3.7)
        assert est.gflops == pytest.approx(2 * 3.7 * 16)  # 2 cores, 256-bit FMA x 2 units
        assert "cpuinfo_max_freq" in str(est) and "boost" in est.clock_meaning
        assert any(a.startswith("clock: 3.70 GHz") for a in est.assumptions)

    def test_only_the_cpus_this_process_may_use_count_for_the_clock(self, tmp_path, monkeypatch):
        # A hybrid part: CPUs 0-1 reach 5.0 GHz, CPUs 2-3 only 3.8; we may run on 2-3 only.
        write_fake_machine(
            tmp_path,
            monkeypatch,
            cpu_blocks(logical=4, cores=4),
            max_freq_khz={0: 5_000_000, 1: 5_000_000, 2: 3_800_000, 3: 3_800_000},
            allowed={2, 3},
        )
        est = cpu_peak_estimate("float64")
        assert est.cores == 2 and est.ghz == pytest.approx(3.8)

    @pytest.mark.parametrize(
        "model,mhz,ghz,source",
        [
            # A cloud VM: the rated clock in the name and the same in 'cpu MHz'.
            ("Intel(R) Xeon(R) CPU @ 2.20GHz", "2200.000", 2.2, "nominal from the model name"),
            # Bare metal while boosting: the current clock is above the rated one.
            ("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz", "4300.125", 4.300125, "/proc/cpuinfo MHz"),
            # This course's VM: a model name with no clock in it.
            ("AMD EPYC", "2596.138", 2.596138, "/proc/cpuinfo MHz"),
            ("AMD EPYC", None, 2.5, "assumed"),
        ],
    )
    def test_without_cpufreq_the_highest_clock_known_is_used_and_named(
        self, tmp_path, monkeypatch, model, mhz, ghz, source
    ):
        write_fake_machine(tmp_path, monkeypatch, cpu_blocks(model=model, mhz=mhz))
        est = cpu_peak_estimate("float64")
        assert est.clock_source == source
        assert est.ghz == pytest.approx(ghz)
        assert est.clock_meaning == CLOCK_SOURCES[source]
        assert f"clock: {source}" in str(est)
        if source != "cpuinfo_max_freq":
            assert "boost" in est.clock_meaning or source == "assumed"

    def test_clock_needed_for_a_measured_rate(self):
        est = cpu_peak_estimate("float64", cores=1, ghz=2.6, vector_bits=256, fma_units=2)
        # 50 GFLOP/s on one core at 16 flops per cycle needs 50 / 16 = 3.125 GHz.
        assert est.clock_needed_for(50.0) == pytest.approx(3.125)
        assert est.clock_needed_for(est.gflops) == pytest.approx(est.ghz)
        for bad in (0.0, -1.0, True, "50"):
            with pytest.raises(ValueError, match="clock_needed_for: gflops"):
                est.clock_needed_for(bad)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="cpu_peak_estimate: dtype"):
            cpu_peak_estimate("int8")
        with pytest.raises(ValueError, match="cpu_peak_estimate: cores"):
            cpu_peak_estimate(cores=0)
        with pytest.raises(ValueError, match="cpu_peak_estimate: ghz"):
            cpu_peak_estimate(ghz=-1.0)
        with pytest.raises(ValueError, match="cpu_peak_estimate: ghz"):
            cpu_peak_estimate(ghz="3.0")
