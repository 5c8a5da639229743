"""Conv forward plus backward: the loops, im2col + GEMM, and PyTorch on the CPU.

Three implementations compute the same layer's forward and backward pass (out, then dx, dw,
db for an upstream gradient of ones-like noise):

* ``naive``  -- :func:`lapenna_labs.conv.naive.conv2d_forward_naive` and its backward: the
  explicit loops students write in lab 5. They are slow enough that they run on the first
  ``--naive-samples`` images of the batch only; the loops' work is linear in the batch, so
  their time is scaled to the full batch (and the table says so);
* ``im2col`` -- :func:`lapenna_labs.conv.im2col.conv2d_forward` / ``conv2d_backward``: one
  unfold and one GEMM per group forward, two GEMMs and a fold backward;
* ``torch``  -- ``torch.nn.functional.conv2d`` under autograd (oneDNN on the CPU), with
  ``torch.set_num_threads`` equal to the thread count used here.

The layers: LeNet-5's two convolutions (28x28x1 -> 6 maps, 5x5 padding 2; 14x14x6 -> 16
maps, 5x5) and a VGG-style 3x3 layer (64 -> 64 channels, 32x32, padding 1), at batch 32, in
float32.

Method: one warm-up call of each, then ``--repeats`` rounds; in each round every contestant
runs once per layer, in a new random order, so a change of machine load hits all alike. The
targets are medians of the rounds' paired ratios (im2col/torch within 3, naive/im2col at
least 100). The GEMM's share: the same round also times the three matrix products im2col's
forward and backward make, on the same shapes, alone. Its GFLOP/s is compared with this
machine's SGEMM rate measured in the same run (:func:`lapenna_labs.blas.time_gemm`, float32,
N = 1024, same thread count).

Usage (from the repository root)::

    .venv/bin/python bench/bench_conv.py                       # full run, about 2 min here
    .venv/bin/python bench/bench_conv.py --batch 4 --repeats 1 --naive-samples 1 \\
        --out /tmp/conv.json                                   # smoke test
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from typing import Any

import _common

LAYERS = {
    "lenet_conv1": {"C": 1, "H": 28, "W": 28, "F": 6, "K": 5, "padding": 2},
    "lenet_conv2": {"C": 6, "H": 14, "W": 14, "F": 16, "K": 5, "padding": 0},
    "vgg_3x3_64": {"C": 64, "H": 32, "W": 32, "F": 64, "K": 3, "padding": 1},
}
CONTESTANTS = ("naive", "im2col", "torch")
TARGET_IM2COL_OVER_TORCH = 3.0
TARGET_NAIVE_OVER_IM2COL = 100.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--naive-samples", type=int, default=2, help="images the loops run on (scaled up)"
    )
    parser.add_argument("--layers", default=",".join(LAYERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(_common.RESULTS / "conv.json"))
    args = parser.parse_args(argv)
    args.layers = [name.strip() for name in args.layers.split(",") if name.strip()]
    unknown = sorted(set(args.layers) - set(LAYERS))
    if unknown:
        parser.error(f"unknown layers {unknown}; choose from {sorted(LAYERS)}")
    if not 1 <= args.naive_samples <= args.batch:
        parser.error("--naive-samples must be between 1 and --batch")
    return args


def _timed(fn) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    finally:
        gc.enable()


def make_layer(spec: dict[str, int], batch: int, rng):
    import numpy as np

    x = rng.standard_normal((batch, spec["C"], spec["H"], spec["W"])).astype(np.float32)
    w = rng.standard_normal((spec["F"], spec["C"], spec["K"], spec["K"])).astype(np.float32)
    w *= np.float32(1 / np.sqrt(spec["C"] * spec["K"] ** 2))
    b = rng.standard_normal(spec["F"]).astype(np.float32)
    from lapenna_labs.conv.im2col import conv2d_forward

    out, _ = conv2d_forward(x, w, b, padding=spec["padding"])
    dout = rng.standard_normal(out.shape).astype(np.float32)
    return x, w, b, dout


def contestants(spec: dict[str, int], x, w, b, dout, naive_samples: int):
    """Each contestant as a zero-argument callable doing one forward and one backward."""
    import torch

    from lapenna_labs.conv.im2col import conv2d_backward, conv2d_forward
    from lapenna_labs.conv.naive import conv2d_backward_naive, conv2d_forward_naive

    pad = spec["padding"]
    xs, douts = x[:naive_samples], dout[:naive_samples]

    def naive():
        _, cache = conv2d_forward_naive(xs, w, b, padding=pad)
        conv2d_backward_naive(douts, cache)

    def im2col():
        _, cache = conv2d_forward(x, w, b, padding=pad)
        conv2d_backward(dout, cache)

    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True)
    tb = torch.from_numpy(b).requires_grad_(True)
    tdout = torch.from_numpy(dout)

    def torch_conv():
        for t in (tx, tw, tb):
            t.grad = None
        out = torch.nn.functional.conv2d(tx, tw, tb, padding=pad)
        out.backward(tdout)

    return {"naive": naive, "im2col": im2col, "torch": torch_conv}


def gemms(spec: dict[str, int], x, w, dout):
    """The three products of im2col's forward and backward, on their shapes, and their flops."""
    import numpy as np

    from lapenna_labs.conv._geometry import conv_geometry

    _, _, _, g = conv_geometry(x, w, None, padding=spec["padding"], func="bench")
    M, K, F = g.gemm_shape
    rng = np.random.default_rng(1)
    cols = rng.standard_normal((M, K)).astype(np.float32)
    wmat = w.reshape(F, K)
    dmat = rng.standard_normal((M, F)).astype(np.float32)

    def run():
        cols @ wmat.T  # forward: out = cols W^T
        dmat.T @ cols  # dW = dY^T cols
        dmat @ wmat  # dcols = dY W

    return run, 3 * 2 * M * K * F, (M, K, F)


def sgemm_gflops() -> float:
    """This machine's SGEMM rate (NumPy's BLAS, N = 1024), at the caller's thread limit."""
    from lapenna_labs.blas import time_gemm

    return time_gemm(1024, dtype="float32", backend="numpy", repeats=5).gflops


def run(args: argparse.Namespace) -> dict[str, Any]:
    _common.limit_threads_env(args.threads)
    import numpy as np
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    load_before = _common.load()
    with threadpool_limits(args.threads):
        layers = {}
        for name in args.layers:
            spec = LAYERS[name]
            x, w, b, dout = make_layer(spec, args.batch, rng)
            fns = contestants(spec, x, w, b, dout, args.naive_samples)
            gemm_fn, gemm_flops, gemm_shape = gemms(spec, x, w, dout)
            for fn in (*fns.values(), gemm_fn):  # warm-up
                fn()
            layers[name] = {
                "spec": spec,
                "fns": fns,
                "gemm": gemm_fn,
                "gemm_flops": gemm_flops,
                "gemm_shape": gemm_shape,
                "seconds": {c: [] for c in (*CONTESTANTS, "gemm")},
            }
        sgemm = sgemm_gflops()
        order_rng = np.random.default_rng(args.seed + 1)
        for _ in range(args.repeats):
            jobs = [(n, c) for n in layers for c in (*CONTESTANTS, "gemm")]
            for index in order_rng.permutation(len(jobs)):
                name, who = jobs[index]
                layer = layers[name]
                fn = layer["gemm"] if who == "gemm" else layer["fns"][who]
                seconds = _timed(fn)
                if who == "naive":
                    seconds *= args.batch / args.naive_samples
                layer["seconds"][who].append(seconds)
    results = {}
    for name, layer in layers.items():
        s = layer["seconds"]
        med = {k: statistics.median(v) for k, v in s.items()}
        im2col_over_torch = [a / t for a, t in zip(s["im2col"], s["torch"], strict=True)]
        naive_over_im2col = [n / a for n, a in zip(s["naive"], s["im2col"], strict=True)]
        gemm_gflops = layer["gemm_flops"] / med["gemm"] / 1e9
        results[name] = {
            "spec": layer["spec"],
            "gemm_shape_M_K_F": list(layer["gemm_shape"]),
            "seconds_per_call": s,
            "median_seconds": med,
            "im2col_over_torch": statistics.median(im2col_over_torch),
            "naive_over_im2col": statistics.median(naive_over_im2col),
            "gemm_share_of_im2col": med["gemm"] / med["im2col"],
            "gemm_gflops": gemm_gflops,
            "gemm_percent_of_sgemm": 100 * gemm_gflops / sgemm,
            "im2col_gflops": layer["gemm_flops"] / med["im2col"] / 1e9,
        }
    met = {
        name: {
            "im2col_within_3x_of_torch": r["im2col_over_torch"] <= TARGET_IM2COL_OVER_TORCH,
            "im2col_at_least_100x_faster_than_naive": r["naive_over_im2col"]
            >= TARGET_NAIVE_OVER_IM2COL,
        }
        for name, r in results.items()
    }
    return {
        "benchmark": "conv",
        "date_utc": _common.now(),
        "command": _common.command(),
        "batch": args.batch,
        "threads": args.threads,
        "repeats": args.repeats,
        "naive_samples": args.naive_samples,
        "dtype": "float32",
        "sgemm_gflops_n1024": sgemm,
        "layers": results,
        "targets": met,
        "machine": _common.machine(),
        "load_before": load_before,
        "load_after": _common.load(),
    }


HEADER = (
    "layer", "GEMM (M, K, F)", "naive s", "im2col s", "torch s", "im2col / torch",
    "naive / im2col", "GEMM share of im2col", "GEMM GFLOP/s", "GEMM % of SGEMM",
)  # fmt: skip


def rows(payload: dict[str, Any]) -> list[list[str]]:
    """The table's rows, shared by this script's printout and ``bench/report.py``."""
    out = []
    for name, r in payload["layers"].items():
        m = r["median_seconds"]
        out.append(
            [
                name, "x".join(str(d) for d in r["gemm_shape_M_K_F"]), f"{m['naive']:.3f}",
                f"{m['im2col']:.4f}", f"{m['torch']:.4f}", f"{r['im2col_over_torch']:.2f}",
                f"{r['naive_over_im2col']:.0f}", f"{100 * r['gemm_share_of_im2col']:.0f}%",
                f"{r['gemm_gflops']:.1f}", f"{r['gemm_percent_of_sgemm']:.0f}%",
            ]
        )  # fmt: skip
    return out


def print_table(payload: dict[str, Any]) -> None:
    print(
        f"conv forward+backward, batch {payload['batch']}, float32, "
        f"{payload['threads']} thread(s); SGEMM N=1024: {payload['sgemm_gflops_n1024']:.1f} "
        "GFLOP/s"
    )
    print(_common.table(rows(payload), HEADER))
    for name, met in payload["targets"].items():
        print(name, ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in met.items()))


def main(argv: list[str] | None = None) -> int:
    _common.run_and_write(parse_args(argv), run, print_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
