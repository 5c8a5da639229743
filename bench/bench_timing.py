"""How right is lapenna_labs.blas's GEMM timing? Checked against independent timers.

CPU (always):

* ``lapenna``       -- :func:`lapenna_labs.blas.time_gemm` (NumPy, warm-up, repeats, median);
* ``lapenna_same``  -- :func:`lapenna_labs.blas.time_callable` around ``np.matmul(a, b, out=c)``
  on the very matrices the references time;
* ``torch_timer``   -- ``torch.utils.benchmark.Timer(...).blocked_autorange()`` (or
  ``adaptive_autorange`` with ``--adaptive``) on the same statement and the same matrices;
* ``naive``         -- :func:`lapenna_labs.blas.naive_time_gemm`: the slides' single
  un-warmed ``time.time()`` call, made before anything else touches that size (``naive``),
  and once more in a fresh Python process (``naive_cold``: thread pool and page faults
  included, as a student's first cell sees it).

The matrices are ``numpy.random.default_rng(seed).random((2, N, N))`` in the dtype, the
same numbers :func:`time_gemm` draws for that seed. Each (dtype, N) is measured in
``--rounds`` rounds alternating the timers; the figures are medians over rounds, and the
ratios are taken between figures from this one run. "% of peak" divides by
:func:`lapenna_labs.blas.cpu_peak_estimate` (its assumptions are in the JSON).

GPU (when PyTorch sees CUDA; skipped cleanly otherwise, with the reason in the JSON):
``time_gemm(device="cuda")`` (CUDA events) against CUDA events recorded here around a
batch of back-to-back products, and ``torch.utils.benchmark`` (which synchronises);
target: within 5 % for N >= 2000. The naive error there is the unsynchronised launch
(``naive_time_gemm(device="cuda")``). The GPU name goes into every GPU row.

Usage (from the repository root)::

    .venv/bin/python bench/bench_timing.py                 # CPU sizes 500..3000, float32+64
    .venv/bin/python bench/bench_timing.py --sizes 256,512 --rounds 1 --min-run-time 0.05 \
        --out /tmp/timing.json                             # smoke test
    .venv/bin/python bench/bench_timing.py --no-cpu --out bench/results/timing_gpu.json
                                                           # the GPU part only (make bench-gpu)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from typing import Any

import _common

COLD_SNIPPET = (
    "import json, sys; from lapenna_labs.blas import naive_time_gemm; "
    "t = naive_time_gemm(int(sys.argv[1]), sys.argv[2], seed=int(sys.argv[3])); "
    "print(json.dumps({'seconds': t.seconds, 'gflops': t.gflops}))"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="500,1000,1500,2000,2500,3000", help="CPU matrix sizes N")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per (dtype, N)")
    p.add_argument("--repeats", type=int, default=3, help="time_gemm repeats per round")
    p.add_argument("--min-run-time", type=float, default=0.3, help="torch Timer seconds per round")
    p.add_argument("--adaptive", action="store_true", help="Timer.adaptive_autorange instead")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all usable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-cold", action="store_true", help="skip the fresh-process naive call")
    p.add_argument("--gpu-sizes", default="1000,2000,4000,6000,8192")
    p.add_argument("--gpu-dtypes", default="float32,float64,tf32")
    p.add_argument("--no-gpu", action="store_true", help="skip the GPU part even with CUDA")
    p.add_argument("--no-cpu", action="store_true", help="only the GPU part (make bench-gpu)")
    p.add_argument("--out", default=str(_common.RESULTS / "timing.json"))
    args = p.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    args.gpu_sizes = [int(s) for s in args.gpu_sizes.split(",") if s]
    args.gpu_dtypes = [d.strip() for d in args.gpu_dtypes.split(",") if d.strip()]
    if args.threads is None:
        try:
            args.threads = len(os.sched_getaffinity(0))
        except AttributeError:
            args.threads = os.cpu_count() or 1
    return args


def torch_timer(stmt: str, env: dict[str, Any], threads: int, min_run_time: float, adaptive: bool):
    from torch.utils.benchmark import Timer

    timer = Timer(stmt=stmt, globals=env, num_threads=threads)
    if adaptive:
        return timer.adaptive_autorange(min_run_time=min_run_time)
    return timer.blocked_autorange(min_run_time=min_run_time)


def peak_estimate(dtype: str, threads: int):
    """cpu_peak_estimate for the cores the BLAS threads can use (fewer threads, fewer cores)."""
    from lapenna_labs import blas

    est = blas.cpu_peak_estimate(dtype)
    if threads < est.cores:
        est = blas.cpu_peak_estimate(dtype, cores=threads)
    return est


def naive_cold(n: int, dtype: str, seed: int) -> dict[str, float] | None:
    """The slides' timing as the first GEMM of a fresh Python process."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", COLD_SNIPPET, str(n), dtype, str(seed)],
            capture_output=True,
            text=True,
            timeout=300,
            env=os.environ.copy(),
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return None


def cpu_part(args: argparse.Namespace) -> list[dict[str, Any]]:
    import numpy as np

    from lapenna_labs import blas

    rows = []
    peaks = {d: peak_estimate(d, args.threads) for d in args.dtypes}
    for dtype in args.dtypes:
        for n in args.sizes:
            flops = blas.gemm_flops(n, n, n)
            naive = blas.naive_time_gemm(n, dtype, seed=args.seed)  # before anything warms N
            cold = None if args.no_cold else naive_cold(n, dtype, args.seed)
            host = np.random.default_rng(args.seed).random(
                (2, n, n), dtype=np.float64 if dtype == "float64" else np.float32
            )
            a, b = host[0], host[1]
            c = np.empty((n, n), dtype=a.dtype)
            env = {"np": np, "a": a, "b": b, "c": c}
            lap, same, ref, ref_iqr, same_iqr = [], [], [], [], []

            def by_time_gemm(n=n, dtype=dtype, lap=lap):
                r = blas.time_gemm(n, dtype, "cpu", warmup=1, repeats=args.repeats, seed=args.seed)
                lap.append(r.median)

            def by_time_callable(a=a, b=b, c=c, flops=flops, same=same, same_iqr=same_iqr):
                s = blas.time_callable(
                    lambda: np.matmul(a, b, out=c), warmup=1, repeats=args.repeats, flops=flops
                )
                same.append(s.median)
                same_iqr.append(s.iqr)

            def by_torch_timer(env=env, ref=ref, ref_iqr=ref_iqr):
                m = torch_timer(
                    "np.matmul(a, b, out=c)", env, args.threads, args.min_run_time, args.adaptive
                )
                ref.append(m.median)
                ref_iqr.append(m.iqr)

            timers = [by_time_gemm, by_time_callable, by_torch_timer]
            for i in range(args.rounds):  # rotate the order: no timer always goes first
                for measure in timers[i % 3 :] + timers[: i % 3]:
                    measure()
            t_lap, t_same, t_ref = (_common.median(x) for x in (lap, same, ref))
            g = {
                k: flops / t / 1e9
                for k, t in (("lapenna", t_lap), ("same", t_same), ("ref", t_ref))
            }
            row = {
                "device": "cpu",
                "device_name": blas.device_name("cpu"),
                "dtype": dtype,
                "n": n,
                "threads": args.threads,
                "flops": flops,
                "lapenna_time_gemm_s": t_lap,
                "lapenna_time_callable_s": t_same,
                "torch_benchmark_s": t_ref,
                "torch_benchmark_method": "adaptive_autorange"
                if args.adaptive
                else "blocked_autorange",
                "torch_benchmark_iqr_s": _common.median(ref_iqr),
                "lapenna_time_callable_iqr_s": _common.median(same_iqr),
                "gflops_lapenna": g["lapenna"],
                "gflops_lapenna_same_arrays": g["same"],
                "gflops_torch_benchmark": g["ref"],
                "lapenna_over_torch_benchmark": g["lapenna"] / g["ref"],
                "lapenna_same_arrays_over_torch_benchmark": g["same"] / g["ref"],
                "naive_s": naive.seconds,
                "gflops_naive": naive.gflops,
                "naive_error_factor": naive.gflops / g["ref"],
                "naive_cold_process_s": None if cold is None else cold["seconds"],
                "gflops_naive_cold_process": None if cold is None else cold["gflops"],
                "naive_cold_error_factor": None if cold is None else cold["gflops"] / g["ref"],
                "peak_gflops_estimate": peaks[dtype].gflops,
                "percent_of_peak": 100 * g["lapenna"] / peaks[dtype].gflops,
                "rounds": args.rounds,
            }
            rows.append(row)
            print(
                f"cpu {dtype} N={n}: lapenna {g['lapenna']:.1f}, torch.benchmark {g['ref']:.1f} "
                f"GFLOP/s, naive {naive.gflops:.1f}",
                file=sys.stderr,
                flush=True,
            )
    return rows


def cuda_events_reference(torch, a, b, out, inner: int, outer: int) -> float:
    """Median seconds per product: CUDA events around ``inner`` back-to-back products."""
    times = []
    for _ in range(outer):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(inner):
            torch.matmul(a, b, out=out)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3 / inner)
    return _common.median(times)


def gpu_part(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str | None]:
    """The CUDA comparison; returns (rows, reason it was skipped or None)."""
    if args.no_gpu:
        return [], "skipped: --no-gpu"
    try:
        import torch
    except ImportError:
        return [], "skipped: PyTorch is not installed"
    if not torch.cuda.is_available():
        return [], f"skipped: no CUDA device visible to PyTorch {torch.__version__}"
    import numpy as np

    from lapenna_labs import blas

    name = torch.cuda.get_device_name(0)
    rows = []
    for dtype in args.gpu_dtypes:
        for n in args.gpu_sizes:
            naive = blas.naive_time_gemm(n, dtype, "cuda", seed=args.seed)  # the first call
            torch.cuda.synchronize()
            flops = blas.gemm_flops(n, n, n)
            host = np.random.default_rng(args.seed).random(
                (2, n, n), dtype=np.float64 if dtype == "float64" else np.float32
            )
            tdtype = torch.float64 if dtype == "float64" else torch.float32
            a, b = (torch.from_numpy(h).to("cuda", tdtype) for h in host)
            out = torch.empty((n, n), device="cuda", dtype=tdtype)
            saved = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("high" if dtype == "tf32" else "highest")
            try:
                for _ in range(3):
                    torch.matmul(a, b, out=out)
                torch.cuda.synchronize()
                lap, ev, tb = [], [], []
                # enough products per event pair that the batch lasts ~50 ms
                guess = max(flops / 20e12, 1e-6)
                inner = int(min(100, max(1, 0.05 / guess)))
                for _ in range(args.rounds):
                    r = blas.time_gemm(n, dtype, "cuda", warmup=3, repeats=20, seed=args.seed)
                    lap.append(r.median)
                    ev.append(cuda_events_reference(torch, a, b, out, inner, 10))
                    m = torch_timer(
                        "torch.matmul(a, b, out=out)",
                        {"torch": torch, "a": a, "b": b, "out": out},
                        1,
                        args.min_run_time,
                        args.adaptive,
                    )
                    tb.append(m.median)
            finally:
                torch.set_float32_matmul_precision(saved)
            t_lap, t_ev, t_tb = (_common.median(x) for x in (lap, ev, tb))
            g_lap, g_ev, g_tb = (flops / t / 1e9 for t in (t_lap, t_ev, t_tb))
            peak = blas.lookup_gpu_peak(name, dtype)
            rows.append(
                {
                    "device": "cuda:0",
                    "device_name": name,
                    "dtype": dtype,
                    "n": n,
                    "flops": flops,
                    "lapenna_time_gemm_s": t_lap,
                    "cuda_events_batched_s": t_ev,
                    "cuda_events_inner_products": inner,
                    "torch_benchmark_s": t_tb,
                    "gflops_lapenna": g_lap,
                    "gflops_cuda_events": g_ev,
                    "gflops_torch_benchmark": g_tb,
                    "lapenna_over_cuda_events": g_lap / g_ev,
                    "within_5_percent": abs(g_lap / g_ev - 1) <= 0.05,
                    "target_applies": n >= 2000,
                    "naive_s": naive.seconds,
                    "gflops_naive": naive.gflops,
                    "naive_error_factor": naive.gflops / g_ev,
                    "peak_gflops": peak,
                    "percent_of_peak": None if not peak else 100 * g_lap / peak,
                    "rounds": args.rounds,
                }
            )
            print(
                f"{name} {dtype} N={n}: lapenna {g_lap:,.0f}, events {g_ev:,.0f} GFLOP/s, "
                f"naive {naive.gflops:,.0f}",
                file=sys.stderr,
                flush=True,
            )
    return rows, None


def run(args: argparse.Namespace) -> dict[str, Any]:
    _common.limit_threads_env(args.threads)
    import numpy as np  # noqa: F401  (load BLAS before pinning it)

    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads, user_api="blas")
        how = f"threadpoolctl.threadpool_limits({args.threads}, user_api='blas') + env vars"
    except ImportError:
        how = f"OMP/OPENBLAS_NUM_THREADS={args.threads} (threadpoolctl not installed)"

    load_before = _common.load()
    cpu_rows = [] if args.no_cpu else cpu_part(args)
    gpu_rows, gpu_skip = gpu_part(args)
    load_after = _common.load()
    peaks = {}
    for d in args.dtypes:
        est = peak_estimate(d, args.threads)
        peaks[d] = {"gflops": est.gflops, "text": str(est), "assumptions": list(est.assumptions)}
    gpu_verdict = None
    if gpu_rows:
        big = [r for r in gpu_rows if r["target_applies"]]
        gpu_verdict = {
            "target": "lapenna time_gemm within 5% of CUDA events for N >= 2000",
            "all_within": all(r["within_5_percent"] for r in big),
            "worst": max((abs(r["lapenna_over_cuda_events"] - 1) for r in big), default=None),
        }
    return {
        "benchmark": "gemm_timing_accuracy",
        "date_utc": _common.now(),
        "command": _common.command(),
        "method": (
            f"per (dtype, N): naive call first, then {args.rounds} rounds (order rotated) of "
            f"time_gemm "
            f"(warmup 1, {args.repeats} repeats), time_callable on the shared arrays and "
            f"torch.utils.benchmark.Timer "
            f"({'adaptive' if args.adaptive else 'blocked'}_autorange, min_run_time "
            f"{args.min_run_time}); medians over rounds"
        ),
        "threads": {"blas": args.threads, "how": how},
        "cpu_peak_estimate": peaks,
        "machine": _common.machine(),
        "load_before": load_before,
        "load_after": load_after,
        "cpu": cpu_rows,
        "gpu": gpu_rows,
        "gpu_status": f"ran on {gpu_rows[0]['device_name']}" if gpu_rows else gpu_skip,
        "gpu_verdict": gpu_verdict,
    }


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


GPU_HEADER = [
    "GPU", "dtype", "N", "time_gemm GFLOP/s", "CUDA events", "torch.utils.benchmark",
    "diff %", "naive GFLOP/s", "naive / true", "% of peak",
]  # fmt: skip


def gpu_rows(payload: dict[str, Any]) -> list[list[Any]]:
    """One row per (dtype, N) on the GPU (printed here and in bench/README.md)."""
    return [
        [
            r["device_name"], r["dtype"], r["n"], fmt(r["gflops_lapenna"], ",.0f"),
            fmt(r["gflops_cuda_events"], ",.0f"), fmt(r["gflops_torch_benchmark"], ",.0f"),
            fmt(100 * (r["lapenna_over_cuda_events"] - 1), "+.1f"),
            fmt(r["gflops_naive"], ",.0f"), fmt(r["naive_error_factor"], ".1f"),
            fmt(r["percent_of_peak"], ".0f"),
        ]
        for r in payload["gpu"]
    ]  # fmt: skip


def print_table(payload: dict[str, Any]) -> None:
    rows = [
        [
            r["dtype"],
            r["n"],
            fmt(r["gflops_lapenna"]),
            fmt(r["gflops_lapenna_same_arrays"]),
            fmt(r["gflops_torch_benchmark"]),
            fmt(100 * (r["lapenna_over_torch_benchmark"] - 1), "+.1f"),
            fmt(r["gflops_naive"]),
            fmt(r["naive_error_factor"], ".2f"),
            fmt(r["naive_cold_error_factor"], ".2f"),
            fmt(r["percent_of_peak"], ".0f"),
        ]
        for r in payload["cpu"]
    ]
    header = [
        "dtype", "N", "time_gemm", "time_callable", "torch.benchmark", "diff %",
        "naive", "naive/true", "cold/true", "% peak",
    ]  # fmt: skip
    if rows:
        print(
            f"\nGEMM GFLOP/s on {payload['machine']['cpu_model']}, {payload['threads']['blas']} "
            f"BLAS thread(s); peak estimate: "
            + "; ".join(v["text"] for v in payload["cpu_peak_estimate"].values())
        )
        print(_common.table(rows, header))
    if payload["gpu"]:
        print(f"\nGEMM GFLOP/s on the GPU\n{_common.table(gpu_rows(payload), GPU_HEADER)}")
    print("GPU:", payload["gpu_status"])
    _common.print_load(payload)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.no_cpu and args.no_gpu:
        print("bench_timing.py: --no-cpu and --no-gpu leave nothing to measure", file=sys.stderr)
        return 2
    payload = run(args)
    print_table(payload)
    print(f"wrote {_common.write_json(args.out, payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
