"""Peak rates: vendor figures for NVIDIA GPUs and an estimate for this CPU.

* :data:`PEAK_GFLOPS`: dense GFLOP/s per precision and memory bandwidth of the GPUs a
  student meets (T4, P100, V100, A100, L4, H100, H200), each with its datasheet;
* :func:`lookup_gpu_peak`: the entry, or one precision's ceiling, for a device name as
  ``torch`` reports it;
* :func:`cpu_peak_estimate` (a :class:`CpuPeakEstimate`): ``cores x GHz x FLOPs/cycle``
  from sysfs and ``/proc/cpuinfo``, with every assumption stated and the clock's source
  (:data:`CLOCK_SOURCES`): the maximum boost clock where the kernel exposes it.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
from dataclasses import dataclass, field
from typing import Any

from .._validation import check_positive_int, check_positive_number
from .counts import _dtype_name, itemsize
from .devices import _read_cpuinfo

__all__ = [
    "CLOCK_SOURCES",
    "PEAK_GFLOPS",
    "CpuPeakEstimate",
    "cpu_peak_estimate",
    "lookup_gpu_peak",
]

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


# Where Linux's cpufreq driver publishes each CPU's clock limits; tests point this elsewhere.
_SYSFS_CPU = "/sys/devices/system/cpu"

#: What each ``CpuPeakEstimate.clock_source`` means, in the order :func:`cpu_peak_estimate`
#: tries them (the model name and ``/proc/cpuinfo`` are read together: the higher one wins).
CLOCK_SOURCES: dict[str, str] = {
    "given": "the clock passed as ghz=",
    "cpuinfo_max_freq": "the highest clock the kernel's cpufreq driver reports in sysfs "
    "(cpufreq/cpuinfo_max_freq, which lscpu shows as 'CPU max MHz'): the maximum boost clock "
    "with the intel_pstate and amd-pstate drivers, possibly the base clock with acpi-cpufreq",
    "nominal from the model name": "the rated clock printed in the CPU's model name "
    "('@ 2.60GHz'): the base clock, which boost can exceed",
    "/proc/cpuinfo MHz": "the 'cpu MHz' of /proc/cpuinfo: the current clock on bare metal, "
    "usually the nominal one in a virtual machine; boost can exceed it",
    "assumed": "no clock found: 2.5 GHz assumed",
}


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
    clock_source : str
        Where ``ghz`` came from, a key of :data:`CLOCK_SOURCES`: only ``"cpuinfo_max_freq"``
        can be the maximum boost clock; with any other source a correct measurement may
        exceed the estimate, because the cores ran faster than the clock it assumed.
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
    clock_source: str
    vector_bits: int
    fma_units: int
    has_fma: bool
    dtype: str
    flops_per_cycle: int
    gflops: float
    assumptions: tuple[str, ...] = field(default=())

    @property
    def clock_meaning(self) -> str:
        """What the clock of this estimate is, in words (see :data:`CLOCK_SOURCES`)."""
        return CLOCK_SOURCES[self.clock_source]

    def clock_needed_for(self, gflops: float) -> float:
        """The clock in GHz at which these cores and FLOP/cycle deliver ``gflops``.

        A measured rate above the estimate means either a broken measurement or cores that
        ran faster than ``ghz``; this is the clock they must at least have run at.

        Examples
        --------
        >>> est = cpu_peak_estimate("float64", cores=1, ghz=2.6, vector_bits=256, fma_units=2)
        >>> round(est.clock_needed_for(48.0), 2)  # 48 GFLOP/s at 16 FLOP/cycle
        3.0
        """
        gflops = check_positive_number(
            gflops, name="gflops", func="CpuPeakEstimate.clock_needed_for"
        )
        return gflops / (self.cores * self.flops_per_cycle)

    def __str__(self) -> str:
        return (
            f"{self.model}: {self.cores} cores x {self.ghz:.2f} GHz x "
            f"{self.flops_per_cycle} FLOP/cycle = {self.gflops:.1f} GFLOP/s "
            f"({self.dtype}; clock: {self.clock_source})"
        )


def _allowed_cpus() -> set[int]:
    """The logical CPUs this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


def _max_cpufreq_ghz(cpus: set[int]) -> float | None:
    """The highest ``cpuinfo_max_freq`` (kHz in sysfs) among ``cpus``, in GHz, if any."""
    found = []
    for cpu in sorted(cpus):
        try:
            with open(f"{_SYSFS_CPU}/cpu{cpu}/cpufreq/cpuinfo_max_freq") as fh:
                found.append(int(fh.read().strip()) / 1e6)
        except (OSError, ValueError):
            continue
    return max(found, default=None)


def _cpu_clock(info: list[dict[str, str]], cpus: set[int], model: str) -> tuple[float, str]:
    """This CPU's clock in GHz and its source (a key of CLOCK_SOURCES).

    The maximum clock from sysfs where the kernel exposes one; else the higher of the model
    name's rated clock and /proc/cpuinfo's 'cpu MHz', since a peak is a ceiling.
    """
    boost = _max_cpufreq_ghz(cpus)
    if boost:
        return boost, "cpuinfo_max_freq"
    candidates = []
    rated = re.search(r"@\s*(\d+(?:\.\d+)?)\s*GHz", model, flags=re.IGNORECASE)
    if rated:
        candidates.append((float(rated.group(1)), "nominal from the model name"))
    mhz = []
    for block in info:
        with contextlib.suppress(KeyError, ValueError):
            mhz.append(float(block["cpu MHz"]) / 1000)
    if mhz:
        candidates.append((max(mhz), "/proc/cpuinfo MHz"))
    # max() keeps the first of equal clocks: the rated one, a documented figure.
    return max(candidates, key=lambda c: c[0], default=(2.5, "assumed"))


def cpu_peak_estimate(
    dtype: Any = "float64",
    *,
    cores: int | None = None,
    ghz: float | None = None,
    vector_bits: int | None = None,
    fma_units: int | None = None,
) -> CpuPeakEstimate:
    """Estimate this CPU's peak GFLOP/s from sysfs and ``/proc/cpuinfo``.

    Parameters
    ----------
    dtype : {"float64", "float32"}, default "float64"
        The precision; float32 has twice the SIMD lanes.
    cores, ghz, vector_bits, fma_units : optional
        Override any factor (e.g. the boost clock from the vendor's page).

    Returns
    -------
    CpuPeakEstimate
        With ``.gflops``, the ``.clock_source`` and the ``.assumptions`` behind each factor.

    Notes
    -----
    ``peak = cores x f x lanes x fma_units x 2``; the last 2 is because one FMA
    (``a * b + c``) counts as two flops. The defaults are guesses, stated in ``.assumptions``:

    * cores: distinct (physical id, core id) pairs in ``/proc/cpuinfo`` -- hyperthreads share
      one core's FMA units -- limited to the CPUs this process may run on; else
      ``os.cpu_count()``.
    * clock (``.clock_source``, see :data:`CLOCK_SOURCES`): the highest
      ``cpufreq/cpuinfo_max_freq`` in sysfs among those CPUs, which is the maximum boost clock
      where the driver reports it. Many virtual machines expose no cpufreq at all; then the
      higher of the clock in the model name ("@ 2.60GHz") and ``cpu MHz`` in ``/proc/cpuinfo``,
      both usually the nominal clock, which boost can exceed by 30-40 %: a correct
      measurement may then beat this "peak" (:meth:`CpuPeakEstimate.clock_needed_for` says
      how fast the cores must have run). Heavy AVX-512 use can also lower the clock.
    * SIMD width: 512 bits with ``avx512f``, 256 with ``avx``/``avx2``, 128 with SSE2 or
      ARM NEON. AMD Zen 4 (family 25 with AVX-512) executes 512-bit instructions as two
      256-bit halves, so its effective width is 256.
    * FMA units: 2 per core (Intel since Haswell, AMD since Zen 2, Apple and Neoverse cores
      have more 128-bit units than that -- override ``fma_units``). Some Xeon Silver/Bronze
      parts have only one 512-bit FMA unit.

    Examples
    --------
    >>> est = cpu_peak_estimate("float64", cores=2, ghz=2.6, vector_bits=256, fma_units=2)
    >>> est.flops_per_cycle, round(est.gflops, 1), est.clock_source
    (16, 83.2, 'given')
    """
    func = "cpu_peak_estimate"
    name = _dtype_name(dtype)
    if name not in ("float64", "float32"):
        raise ValueError(f"{func}: dtype must be 'float64' or 'float32', got {dtype!r}")
    info = _read_cpuinfo()
    first = info[0] if info else {}
    assumptions: list[str] = []
    model = first.get("model name") or platform.processor() or platform.machine() or "CPU"
    allowed = _allowed_cpus()

    if cores is None:
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
        ghz, clock_source = _cpu_clock(info, allowed, model)
    else:
        clock_source = "given"
    ghz = check_positive_number(ghz, name="ghz", func=func)
    assumptions.append(f"clock: {ghz:.2f} GHz, {CLOCK_SOURCES[clock_source]}")

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
        clock_source=clock_source,
        vector_bits=vector_bits,
        fma_units=fma_units,
        has_fma=has_fma,
        dtype=name,
        flops_per_cycle=flops_per_cycle,
        gflops=cores * float(ghz) * flops_per_cycle,
        assumptions=tuple(assumptions),
    )
