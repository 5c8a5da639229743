"""Peak rates: vendor figures for NVIDIA GPUs and an estimate for this CPU.

* :data:`PEAK_GFLOPS`: dense GFLOP/s per precision and memory bandwidth of the GPUs a
  student meets (T4, P100, V100, A100, L4, H100, H200), each with its datasheet;
* :func:`lookup_gpu_peak`: the entry, or one precision's ceiling, for a device name as
  ``torch`` reports it;
* :func:`cpu_peak_estimate` (a :class:`CpuPeakEstimate`): ``cores x GHz x FLOPs/cycle``
  from ``/proc/cpuinfo``, with every assumption stated.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_positive_int
from .counts import _dtype_name, itemsize
from .devices import _read_cpuinfo

__all__ = ["PEAK_GFLOPS", "CpuPeakEstimate", "cpu_peak_estimate", "lookup_gpu_peak"]

# The H100 SXM5 and the H200 SXM share the Hopper chip and its clocks, so their compute rates
# are one set of figures (dense GFLOP/s, as in PEAK_GFLOPS); only the memory differs.
_HOPPER_SXM_RATES = {
    "fp64": 34_000.0,
    "fp64_tensor": 67_000.0,
    "fp32": 67_000.0,
    "tf32_tensor": 494_500.0,
    "fp16_tensor": 989_500.0,
    "bf16_tensor": 989_500.0,
}

#: Vendor peak figures for GPUs a student meets (Colab: T4, L4, A100; clusters: P100, V100,
#: H100, H200), all **dense** GFLOP/s (NVIDIA's Ampere/Ada/Hopper datasheets print tensor-core
#: rates "with sparsity", twice the dense rate; those are halved here) and memory bandwidth
#: in GB/s. ``None``: the GPU has no such unit. ``fp64`` and ``fp32`` are the CUDA-core
#: (vector FMA) rates; the ``*_tensor`` entries are tensor-core matrix rates, which is what
#: cuBLAS GEMM reaches (an H100 DGEMM runs on the FP64 tensor cores, above the 34 TFLOP/s
#: vector rate). Figures marked "derived" in ``notes`` are not printed on the datasheet.
PEAK_GFLOPS: dict[str, dict[str, Any]] = {
    "T4": {
        "variant": "T4 PCIe 70 W, 16 GB GDDR6 (Turing)",
        "fp64": 253.0,
        "fp64_tensor": None,
        "fp32": 8_100.0,
        "tf32_tensor": None,
        "fp16_tensor": 65_000.0,
        "bf16_tensor": None,
        "bandwidth_gbs": 320.0,
        "notes": "FP64 derived as FP32/32 (Turing); datasheet memory bandwidth '320+ GB/s'; "
        "Turing tensor cores have no TF32 or BF16 (no sparsity either).",
        "source": "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/"
        "t4-tensor-core-datasheet-951643.pdf",
    },
    "P100": {
        "variant": "Tesla P100 PCIe 16 GB HBM2 (Pascal); the slides' 'Peak DP = 4700 Gflop/s'",
        "fp64": 4_700.0,
        "fp64_tensor": None,
        "fp32": 9_300.0,
        "tf32_tensor": None,
        "fp16_tensor": None,
        "bf16_tensor": None,
        "bandwidth_gbs": 732.0,
        "notes": "No tensor cores; packed FP16 on CUDA cores 18,700 GFLOP/s. SXM2 (NVLink) "
        "variant: FP64 5,300, FP32 10,600, FP16 21,200.",
        "source": "https://images.nvidia.com/content/tesla/pdf/"
        "nvidia-tesla-p100-PCIe-datasheet.pdf",
    },
    "V100": {
        "variant": "Tesla V100 SXM2 (Volta)",
        "fp64": 7_800.0,
        "fp64_tensor": None,
        "fp32": 15_700.0,
        "tf32_tensor": None,
        "fp16_tensor": 125_000.0,
        "bf16_tensor": None,
        "bandwidth_gbs": 900.0,
        "notes": "PCIe variant: FP64 7,000, FP32 14,000, tensor 112,000. Volta tensor cores "
        "are FP16 only (no sparsity).",
        "source": "https://images.nvidia.com/content/technologies/volta/pdf/"
        "volta-v100-datasheet-update-us-1165301-r5.pdf",
    },
    "A100": {
        "variant": "A100 SXM4 40 GB HBM2 (Ampere; Colab's A100)",
        "fp64": 9_700.0,
        "fp64_tensor": 19_500.0,
        "fp32": 19_500.0,
        "tf32_tensor": 156_000.0,
        "fp16_tensor": 312_000.0,
        "bf16_tensor": 312_000.0,
        "bandwidth_gbs": 1_555.0,
        "notes": "Datasheet sparse rates: TF32 312,000, FP16/BF16 624,000. The 80 GB SXM "
        "variant has 2,039 GB/s (80 GB PCIe: 1,935 GB/s), same compute.",
        "source": "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
        "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
    },
    "L4": {
        "variant": "L4 PCIe 72 W, 24 GB GDDR6 (Ada Lovelace)",
        "fp64": 473.0,
        "fp64_tensor": None,
        "fp32": 30_300.0,
        "tf32_tensor": 60_000.0,
        "fp16_tensor": 121_000.0,
        "bf16_tensor": 121_000.0,
        "bandwidth_gbs": 300.0,
        "notes": "FP64 derived as FP32/64 (Ada). Datasheet sparse rates: TF32 120,000, "
        "FP16/BF16 242,000.",
        "source": "https://www.nvidia.com/en-us/data-center/l4/ (L4 datasheet)",
    },
    "H100": {
        "variant": "H100 SXM5 80 GB HBM3 (Hopper)",
        **_HOPPER_SXM_RATES,
        "bandwidth_gbs": 3_350.0,
        "notes": "Datasheet sparse rates: TF32 989,000, FP16/BF16 1,979,000 (halved here). "
        "PCIe variant: FP64 26,000, FP64 tensor 51,000, FP32 51,000, 2,000 GB/s.",
        "source": "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet",
    },
    "H200": {
        "variant": "H200 SXM 141 GB HBM3e (Hopper)",
        **_HOPPER_SXM_RATES,
        "bandwidth_gbs": 4_800.0,
        "notes": "The H100 SXM's chip and clocks with more, faster memory: the same compute, "
        "4.8 TB/s instead of 3.35. Datasheet sparse rates: TF32 989,000, FP16/BF16 1,979,000 "
        "(halved here). NVL (PCIe) variant: FP64 30,000, FP32 60,000.",
        "source": "https://www.nvidia.com/en-us/data-center/h200/",
    },
}

_PRECISION_KEYS = {
    "float64": ("fp64_tensor", "fp64"),
    "float32": ("fp32",),
    "tf32": ("tf32_tensor",),
    "float16": ("fp16_tensor",),
    "bfloat16": ("bf16_tensor",),
}


def lookup_gpu_peak(name: str, dtype: Any | None = None) -> dict[str, Any] | float | None:
    """Find a GPU of :data:`PEAK_GFLOPS` from a device name such as ``torch`` reports it.

    Parameters
    ----------
    name : str
        e.g. ``"Tesla T4"``, ``"NVIDIA A100-SXM4-40GB"``, ``"NVIDIA H100 80GB HBM3"``.
    dtype : str, optional
        If given (``"float64"``, ``"float32"``, ``"tf32"``, ``"float16"``, ``"bfloat16"``),
        return the GEMM ceiling for that precision in GFLOP/s (for float64 the FP64 tensor
        rate where the GPU has one), else the whole entry.

    Returns
    -------
    dict, float or None
        ``None`` if the GPU is not in the table or has no unit for that precision.

    Examples
    --------
    >>> lookup_gpu_peak("Tesla T4", "float32")
    8100.0
    >>> lookup_gpu_peak("NVIDIA L40S") is None
    True
    """
    for key, entry in PEAK_GFLOPS.items():
        # A word boundary keeps "L4" from matching "L40S" and "A100" from "A1000".
        if re.search(rf"(?<![A-Za-z0-9]){key}(?![0-9])", name, flags=re.IGNORECASE):
            if dtype is None:
                return entry
            keys = _PRECISION_KEYS.get(_dtype_name(dtype))
            if keys is None:
                raise ValueError(
                    f"lookup_gpu_peak: unknown precision {dtype!r}; "
                    f"use one of {sorted(_PRECISION_KEYS)}"
                )
            for k in keys:
                if entry[k] is not None:
                    return entry[k]
            return None
    return None


@dataclass(frozen=True)
class CpuPeakEstimate:
    """A CPU's theoretical peak, ``cores x GHz x FLOPs/cycle/core``, and how it was guessed.

    Attributes
    ----------
    model : str
        CPU model name.
    cores : int
        Physical cores used in the product.
    ghz : float
        Clock frequency in GHz.
    vector_bits : int
        Effective SIMD width the FMA units process per cycle.
    fma_units : int
        FMA pipes per core.
    has_fma : bool
        Whether the CPU has fused multiply-add.
    dtype : str
        ``"float64"`` or ``"float32"``.
    flops_per_cycle : int
        Per core: ``lanes x fma_units x 2`` with FMA (else ``lanes x 2``: one multiply
        pipe and one add pipe), ``lanes = vector_bits / (8 itemsize)``.
    gflops : float
        ``cores x ghz x flops_per_cycle``.
    assumptions : tuple of str
        Where every factor came from.
    """

    model: str
    cores: int
    ghz: float
    vector_bits: int
    fma_units: int
    has_fma: bool
    dtype: str
    flops_per_cycle: int
    gflops: float
    assumptions: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return (
            f"{self.model}: {self.cores} cores x {self.ghz:.2f} GHz x "
            f"{self.flops_per_cycle} FLOP/cycle = {self.gflops:.1f} GFLOP/s ({self.dtype})"
        )


def cpu_peak_estimate(
    dtype: Any = "float64",
    *,
    cores: int | None = None,
    ghz: float | None = None,
    vector_bits: int | None = None,
    fma_units: int | None = None,
) -> CpuPeakEstimate:
    """Estimate this CPU's peak GFLOP/s from ``/proc/cpuinfo``.

    Parameters
    ----------
    dtype : {"float64", "float32"}, default "float64"
        The precision; float32 has twice the SIMD lanes.
    cores, ghz, vector_bits, fma_units : optional
        Override any factor (e.g. the turbo clock from the vendor's page).

    Returns
    -------
    CpuPeakEstimate
        With ``.gflops`` and the ``.assumptions`` behind each factor.

    Notes
    -----
    ``peak = cores x f x lanes x fma_units x 2``; the last 2 is because one FMA
    (``a * b + c``) counts as two flops. The defaults are guesses, stated in ``.assumptions``:

    * cores: distinct (physical id, core id) pairs in ``/proc/cpuinfo`` -- hyperthreads share
      one core's FMA units -- limited to the CPUs this process may run on; else
      ``os.cpu_count()``.
    * clock: ``cpuinfo_max_freq`` from sysfs where the kernel exposes it, else ``cpu MHz``
      from ``/proc/cpuinfo``. In a virtual machine that is the nominal clock; turbo boost
      can run 30-40 % faster, so a measured GEMM may beat this "peak". Heavy AVX-512 use can
      also lower the clock.
    * SIMD width: 512 bits with ``avx512f``, 256 with ``avx``/``avx2``, 128 with SSE2 or
      ARM NEON. AMD Zen 4 (family 25 with AVX-512) executes 512-bit instructions as two
      256-bit halves, so its effective width is 256.
    * FMA units: 2 per core (Intel since Haswell, AMD since Zen 2, Apple and Neoverse cores
      have more 128-bit units than that -- override ``fma_units``). Some Xeon Silver/Bronze
      parts have only one 512-bit FMA unit.

    Examples
    --------
    >>> est = cpu_peak_estimate("float64", cores=2, ghz=2.6, vector_bits=256, fma_units=2)
    >>> est.flops_per_cycle, round(est.gflops, 1)
    (16, 83.2)
    """
    func = "cpu_peak_estimate"
    name = _dtype_name(dtype)
    if name not in ("float64", "float32"):
        raise ValueError(f"{func}: dtype must be 'float64' or 'float32', got {dtype!r}")
    info = _read_cpuinfo()
    first = info[0] if info else {}
    assumptions: list[str] = []
    model = first.get("model name") or platform.processor() or platform.machine() or "CPU"

    if cores is None:
        try:
            allowed = os.sched_getaffinity(0)
        except AttributeError:  # not on Linux
            allowed = set(range(os.cpu_count() or 1))
        pairs = {
            (b.get("physical id", "0"), b["core id"])
            for b in info
            if "core id" in b and int(b.get("processor", -1)) in allowed
        }
        if pairs:
            cores = len(pairs)
            assumptions.append(f"cores: {cores} physical cores in /proc/cpuinfo")
        else:
            cores = len(allowed)
            assumptions.append(f"cores: {cores} logical CPUs (no core ids found)")
    else:
        assumptions.append(f"cores: {cores} (given)")
    cores = check_positive_int(cores, name="cores", func=func)

    if ghz is None:
        try:
            with open("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq") as fh:
                ghz = int(fh.read().strip()) / 1e6
            assumptions.append(f"clock: {ghz:.2f} GHz, cpuinfo_max_freq (sysfs)")
        except (OSError, ValueError):
            mhz = [float(b["cpu MHz"]) for b in info if "cpu MHz" in b]
            if mhz:
                ghz = max(mhz) / 1000
                assumptions.append(
                    f"clock: {ghz:.2f} GHz, 'cpu MHz' in /proc/cpuinfo (nominal or current; "
                    "turbo can be higher)"
                )
            else:
                ghz = 2.5
                assumptions.append("clock: 2.5 GHz assumed (no frequency found)")
    else:
        assumptions.append(f"clock: {ghz:.2f} GHz (given)")
    if not ghz > 0:
        raise ValueError(f"{func}: ghz must be positive, got {ghz!r}")

    flags = set((first.get("flags") or first.get("Features") or "").split())
    has_fma = bool(flags & {"fma", "asimd", "fphp"}) or platform.machine() in ("arm64", "aarch64")
    if vector_bits is None:
        vendor = first.get("vendor_id", "")
        family = first.get("cpu family", "")
        if "avx512f" in flags and vendor == "AuthenticAMD" and family == "25":
            vector_bits = 256
            assumptions.append("SIMD: AVX-512 on AMD Zen 4 runs as 2 x 256 bits: 256 effective")
        elif "avx512f" in flags:
            vector_bits = 512
            assumptions.append("SIMD: 512 bits (avx512f)")
        elif flags & {"avx", "avx2"}:
            vector_bits = 256
            assumptions.append("SIMD: 256 bits (avx/avx2)")
        elif flags & {"sse2", "asimd"} or platform.machine() in ("arm64", "aarch64"):
            vector_bits = 128
            assumptions.append("SIMD: 128 bits (SSE2 / NEON)")
        else:
            vector_bits = 128
            assumptions.append("SIMD: 128 bits assumed (no flags found)")
    else:
        assumptions.append(f"SIMD: {vector_bits} bits (given)")
    vector_bits = check_positive_int(vector_bits, name="vector_bits", func=func)
    if fma_units is None:
        fma_units = 2
        assumptions.append("FMA units: 2 per core assumed" + ("" if has_fma else " (no FMA)"))
    else:
        assumptions.append(f"FMA units: {fma_units} per core (given)")
    fma_units = check_positive_int(fma_units, name="fma_units", func=func)

    lanes = max(1, vector_bits // (8 * itemsize(name)))
    flops_per_cycle = lanes * fma_units * 2 if has_fma else lanes * 2
    return CpuPeakEstimate(
        model=model,
        cores=cores,
        ghz=float(ghz),
        vector_bits=vector_bits,
        fma_units=fma_units,
        has_fma=has_fma,
        dtype=name,
        flops_per_cycle=flops_per_cycle,
        gflops=cores * float(ghz) * flops_per_cycle,
        assumptions=tuple(assumptions),
    )
