"""Write bench/README.md from the latest results in bench/results/*.json.

Run after any benchmark (``make bench`` does): the README's tables are the JSON files'
figures, each with the machine, the load and the command that produced it.

Usage: ``.venv/bin/python bench/report.py [--results DIR] [--readme PATH]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import _common
import bench_book
import bench_cnn
import bench_conv
import bench_grading_slurm
import bench_sequences
import bench_timing

from lapenna_labs import measurements

README = _common.BENCH_DIR / "README.md"

SCRIPTS = [
    (
        "`bench/bench_mlp.py`",
        "Is `lapenna_labs.MLP.fit` as fast as a hand-written NumPy loop, and how does it "
        "compare with PyTorch and Keras?",
        "`make bench-mlp` (in `make bench`)",
        "about 2 min",
    ),
    (
        "`bench/bench_timing.py`",
        "Does `lapenna_labs.blas.time_gemm` measure GEMM right (vs `torch.utils.benchmark`; "
        "vs CUDA events on a GPU), and how wrong is the slides' naive timing?",
        "`make bench-timing` (in `make bench`); the GPU part alone: `make bench-gpu`",
        "about 3 min",
    ),
    (
        "`bench/bench_conv.py`",
        "How fast is im2col + GEMM against the explicit loops and PyTorch (oneDNN), and how "
        "much of its time is the GEMM?",
        "`make bench-conv` (in `make bench`)",
        "about 2 min",
    ),
    (
        "`bench/bench_cnn.py`",
        "How long does one epoch of the LeNet-5 CNN take in `lapenna_labs`, against the same "
        "network in PyTorch and in Keras?",
        "`make bench-cnn` (in `make bench`)",
        "about 3 min",
    ),
    (
        "`bench/bench_sequences.py`",
        "How fast is NumPy attention (forward plus backward) against PyTorch's "
        "`scaled_dot_product_attention` from T = 128 to 2048, and what does the KV cache buy "
        "the tiny GPT's generation?",
        "`make bench-sequences` (in `make bench`)",
        "about 2 min",
    ),
    (
        "`bench/bench_book.py`",
        "How long does the book take to build, cold and cached?",
        "`make bench-book`",
        "about 1.5 min",
    ),
    (
        "`bench/bench_grading.py`",
        "How many submissions per minute do nbgrader's serial autograde and the parallel "
        "grader handle, and do they give the same scores?",
        "`make bench-grading`",
        "about 15-20 min",
    ),
    (
        "`bench/bench_grading_slurm.py`",
        "How long does a class take as a SLURM job array of shards, against the local "
        "parallel grader, and are the scores the same?",
        "`.venv/bin/python bench/bench_grading_slurm.py` (root; starts a one-node SLURM "
        "where there is no cluster)",
        "about 5 min",
    ),
]

INTRO = """\
# Benchmarks

Eight questions a user of this course may ask, each answered by a script that prints a table and
writes its figures, the machine and the command that reproduces them to `bench/results/*.json`.
This page is generated from those files by `bench/report.py` (do not edit the tables by hand).

{scripts}

`make bench` runs the first five (CPU only; the GPU part of the timing benchmark runs by
itself where PyTorch sees CUDA), `make bench-all` all seven; each script takes `--help`.
On a machine with a CUDA GPU, `make bench-gpu` runs the GPU tests (`pytest -m gpu`) and
then the timing benchmark's GPU part alone, into `bench/results/timing_gpu.json`, which
this page shows beside the CPU figures.
Every ratio below is a ratio of two figures from the same run. The machine is described
in each JSON file (CPU model, cores, library versions, the BLAS libraries threadpoolctl
found) together with the load average before and after the run: this project's machine is
shared, and a busy machine makes everything slower, though it hits the interleaved
contestants alike.

`tests/test_bench.py` runs every script on tiny sizes and checks its JSON (no timed
assertions).
"""


def load(name: str, results: Path) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def machine_line(p: dict[str, Any]) -> str:
    m = p["machine"]
    v = m["versions"]
    blas = ", ".join(
        f"{b.get('internal_api', b.get('user_api'))} {b.get('version', '')} "
        f"({b.get('architecture', '?')}, {b.get('num_threads')} threads max)"
        for b in m["blas"]
        if b.get("user_api") == "blas"
    )
    return (
        f"Machine: {m['cpu_model']}, {m['usable_cpus']} usable CPUs; Python {m['python']}, "
        f"NumPy {v['numpy']}, torch {v['torch']}, TensorFlow {v['tensorflow']}, "
        f"Keras {v['keras']}; BLAS: {blas or 'see JSON'}. Load average (1 min) "
        f"{p['load_before']['loadavg_1m']:.2f} before, {p['load_after']['loadavg_1m']:.2f} "
        f"after. Date {p['date_utc']}, commit {m.get('git')}."
    )


def section_mlp(p: dict[str, Any]) -> str:
    fws = list(dict.fromkeys(r["framework"] for r in p["results"]))
    batches = list(dict.fromkeys(r["batch_size"] for r in p["results"]))
    cell = {(r["framework"], r["batch_size"]): r for r in p["results"]}
    rows = []
    for bs in batches:
        row: list[Any] = [bs]
        for fw in fws:
            r = cell[(fw, bs)]
            row.append(f"{r['seconds_per_epoch_median']:.3f}")
        for fw in fws:
            if fw != "flat" and "flat" in fws:
                row.append(f"{cell[(fw, bs)]['ratio_to_flat']:.2f}")
        for fw in ("torch", "keras"):
            if fw in fws and "lapenna" in fws:
                row.append(f"{cell[(fw, bs)]['ratio_to_lapenna']:.2f}")
        rows.append(row)
    header = ["batch"] + [f"{fw} s/epoch" for fw in fws]
    header += [f"{fw} / flat" for fw in fws if fw != "flat" and "flat" in fws]
    header += [f"{fw} / lapenna" for fw in ("torch", "keras") if fw in fws and "lapenna" in fws]
    verdict = p.get("target_lapenna_within_1.25x_of_flat") or {}
    met = all(v["within_1.25x"] for v in verdict.values()) if verdict else None
    check = p.get("correctness_check") or {}
    diffs = ", ".join(
        f"{k} {v['max_rel_weight_diff_vs_lapenna']:.1e}"
        for k, v in check.items()
        if isinstance(v, dict) and "max_rel_weight_diff_vs_lapenna" in v and k != "lapenna"
    )
    text = [
        "## 1. MLP training: seconds per epoch",
        "",
        f"784-16-16-10 (ReLU, ReLU, softmax), softmax cross-entropy, {p['optimizer']}; "
        f"{p['data']['samples_per_epoch']:,} samples per epoch ({p['data']['source']}, "
        f"{p['data']['distinct_samples']:,} distinct digits tiled); threads: "
        f"{p['threads']['threads']} for every framework ("
        + "; ".join(p["threads"][k] for k in ("numpy", "torch", "tensorflow") if k in p["threads"])
        + ").",
        "",
        _common.table(rows, header),
        "",
        f"Median of {len(p['results'][0]['seconds'])} epochs per cell; the ratios in the table "
        "are ratios of those medians (the target below uses the rounds' paired ratios instead). "
        f"{p['method']}.",
        "",
    ]
    inside = [r for r in p["results"] if "seconds_inside_epoch_median" in r]
    if inside:
        text += [
            "Keras from `on_epoch_begin` to `on_epoch_end` (without `fit`'s set-up): "
            + ", ".join(
                f"batch {r['batch_size']}: {r['seconds_inside_epoch_median']:.3f} s" for r in inside
            )
            + ".",
            "",
        ]
    text += [
        "Target, `lapenna` within 1.25x of the flat loop (median of the rounds' paired "
        "ratios): "
        f"**{'met at every batch size' if met else 'NOT met at every batch size'}** ("
        + ", ".join(
            f"batch {b}: {v['lapenna_over_flat']:.2f}x"
            + (" of " + "/".join(f"{x:.2f}" for x in v["per_round"]) if "per_round" in v else "")
            for b, v in verdict.items()
        )
        + ").",
        "",
        "Same math: one unshuffled epoch of the same 4,000 samples from the same weights ends "
        f"with weights within a relative {diffs or '-'} of `lapenna`'s (float32 rounding; "
        "Keras's cross-entropy clips probabilities instead of using log-sum-exp).",
        "",
        machine_line(p),
        "",
        f"Command: `{p['command']}`",
    ]
    return "\n".join(text)


def section_timing(p: dict[str, Any], gpu: dict[str, Any] | None = None) -> str:
    """CPU figures from ``p``; GPU figures from ``gpu`` (a ``--no-cpu`` run) or else ``p``."""
    gpu_text = gpu_timing_text(gpu if gpu is not None and gpu["gpu"] else p)
    if not p["cpu"]:
        return "\n".join(
            [
                "## 2. Timing-helper accuracy (GEMM)",
                "",
                "No CPU figures: run `make bench-timing`.",
                "",
            ]
            + gpu_text
        )
    rows = [
        [
            r["dtype"],
            r["n"],
            f"{r['gflops_lapenna']:.1f}",
            f"{r['gflops_torch_benchmark']:.1f}",
            f"{100 * (r['lapenna_over_torch_benchmark'] - 1):+.1f}",
            f"{100 * (r['lapenna_same_arrays_over_torch_benchmark'] - 1):+.1f}",
            f"{r['gflops_naive']:.1f}",
            f"{r['naive_error_factor']:.2f}",
            "-" if r["naive_cold_error_factor"] is None else f"{r['naive_cold_error_factor']:.2f}",
            f"{r['percent_of_peak']:.0f}",
        ]
        for r in p["cpu"]
    ]
    header = [
        "dtype", "N", "time_gemm GFLOP/s", "torch.utils.benchmark", "diff %",
        "diff %, same arrays", "naive GFLOP/s", "naive / true", "naive cold / true", "% of peak",
    ]  # fmt: skip
    peaks = "; ".join(v["text"] for v in p["cpu_peak_estimate"].values())
    diffs = sorted(abs(r["lapenna_over_torch_benchmark"] - 1) * 100 for r in p["cpu"])
    same = sorted(abs(r["lapenna_same_arrays_over_torch_benchmark"] - 1) * 100 for r in p["cpu"])
    naive = sorted(r["naive_error_factor"] for r in p["cpu"])
    summary = (
        f"Across the {len(diffs)} (dtype, N) pairs, `time_gemm` and `torch.utils.benchmark` "
        f"differ by a median of {_common.median(diffs):.1f} % (largest {diffs[-1]:.1f} %; "
        f"`time_callable` on the same arrays: median {_common.median(same):.1f} %, largest "
        f"{same[-1]:.1f} %). The naive single call gave {naive[0]:.2f}x to {naive[-1]:.2f}x "
        f"the true rate (median {_common.median(naive):.2f}x)."
    )
    fewer = p["threads"]["blas"] < p["machine"]["usable_cpus"]
    why_threads = (
        f" Fewer BLAS threads than CPUs ({p['machine']['usable_cpus']}): on a shared machine a "
        "BLAS call that needs every core stalls at its thread barriers whenever another process "
        "holds one core, which swamps the difference between two timers; the peak estimate is "
        "for the cores used."
        if fewer
        else ""
    )
    text = [
        "## 2. Timing-helper accuracy (GEMM)",
        "",
        f"CPU, NumPy `matmul`, {p['threads']['blas']} BLAS thread(s) ({p['threads']['how']})."
        + why_threads,
        "",
        _common.table(rows, header),
        "",
        summary,
        "",
        f'{p["method"]}. "diff %": `time_gemm` vs `torch.utils.benchmark` on the same '
        'statement and equal matrices; "same arrays": `time_callable` on the very arrays '
        'the Timer used. "naive / true": the slides\' single un-warmed `time.time()` call '
        "(`naive_time_gemm`) as a fraction of the true rate, first in this process for "
        'that size; "cold": the same call as the first GEMM of a fresh Python process.',
        "",
        f"Peak estimate (`cpu_peak_estimate()`): {peaks}. A figure above 100 % means the "
        "estimate's clock (the nominal one reported by the VM) is below the clock the cores "
        "really ran at (boost).",
        "",
    ]
    text += [machine_line(p), "", f"Command: `{p['command']}`", ""] + gpu_text
    return "\n".join(text)


def gpu_verdict_text(verdict: dict[str, Any]) -> str:
    target = "Target, `time_gemm` within 5 % of CUDA events for N >= 2000"
    if verdict["worst"] is None:
        return f"{target}: not tested (no size N >= 2000 was run)."
    met = "**met**" if verdict["all_within"] else "**not met**"
    return f"{target}: {met} (largest difference {100 * verdict['worst']:.1f} %)."


def _recorded_naive_scale() -> str:
    """The recorded H100 figures of the naive and the true FP32 N = 6000 rate, in one sentence."""
    naive = measurements.recorded_run("gemm_naive", n=6000, dtype="float32")
    true = measurements.recorded_run("gemm", session=naive.session, n=6000, dtype="float32")
    ratio = naive.values["gflops"] / true.values["gflops"]
    return (
        f"For scale, a recorded run ({naive.device}, {naive.date}; "
        "`lapenna_labs.measurements`, session "
        f"`{naive.session}`) found that the unsynchronised timing reported about "
        f"{naive.values['gflops']:,.0f} GFLOP/s for an FP32 N = 6000 product whose CUDA-event "
        f"rate was about {true.values['gflops']:,.0f} (a naive/true factor of about {ratio:.0f})."
    )


def gpu_timing_text(p: dict[str, Any]) -> list[str]:
    """The GPU table of a timing payload, or why there is none."""
    if not p["gpu"]:
        return [
            f"GPU: {p['gpu_status']}. The GPU part (CUDA events around a batch of "
            "back-to-back products, `torch.utils.benchmark` on CUDA, the unsynchronised naive "
            "launch, % of the datasheet peak) runs by itself where PyTorch sees a GPU, or alone "
            "with `make bench-gpu` (written to `bench/results/timing_gpu.json` and shown here); "
            "it has not been run for these results. " + _recorded_naive_scale(),
        ]
    return [
        "### On a GPU",
        "",
        _common.table(bench_timing.gpu_rows(p), bench_timing.GPU_HEADER),
        "",
        gpu_verdict_text(p["gpu_verdict"]),
        "",
        '"CUDA events": one pair of events around a batch of back-to-back products, '
        "independent of `time_gemm`'s per-call events; \"naive\": the slides' unsynchronised "
        'timing of the first product; "% of peak": of the datasheet\'s dense rate '
        "(`lookup_gpu_peak`).",
        "",
        machine_line(p),
        "",
        f"Command: `{p['command']}`",
    ]


def section_conv(p: dict[str, Any]) -> str:
    met = {
        name: ", ".join(f"{k.replace('_', ' ')}: {'met' if v else 'NOT met'}" for k, v in t.items())
        for name, t in p["targets"].items()
    }
    return "\n".join(
        [
            "## 5. Convolution: forward plus backward",
            "",
            f"Batch {p['batch']}, {p['dtype']}, {p['threads']} thread(s) for NumPy's BLAS and "
            f"torch. This machine's SGEMM rate in the same run (NumPy, N = 1024): "
            f"{p['sgemm_gflops_n1024']:.1f} GFLOP/s.",
            "",
            _common.table(bench_conv.rows(p), bench_conv.HEADER),
            "",
            f"Seconds: medians of {p['repeats']} rounds (each contestant once per round, in a "
            "new random order). The ratios are medians of the rounds' paired ratios. "
            f"The loops ran on {p['naive_samples']} image(s) and were scaled to the batch. "
            "GEMM: the three products of im2col's forward and backward, timed alone on the "
            "same shapes.",
            "",
            *(f"- {name}: {text}" for name, text in met.items()),
            "",
            machine_line(p),
            "",
            f"Command: `{p['command']}`",
        ]
    )


def section_cnn(p: dict[str, Any]) -> str:
    check = p.get("correctness_check") or {}
    diffs = ", ".join(
        f"{k} {v['max_rel_weight_diff_vs_lapenna']:.1e}"
        for k, v in check.items()
        if isinstance(v, dict) and k != "lapenna"
    )
    inside = [r for r in p["results"] if "seconds_inside_epoch_median" in r]
    text = [
        "## 6. One epoch of the LeNet CNN",
        "",
        f"{p['architecture']} ({p['n_params']:,} parameters); {p['optimizer']}, batch "
        f"{p['batch_size']}; {p['data']['samples_per_epoch']:,} samples per epoch "
        f"({p['data']['source']}, {p['data']['distinct_samples']:,} distinct digits tiled). "
        "Layouts: " + ", ".join(f"{k} {v}" for k, v in p["layouts"].items()) + ". Threads: "
        f"{p['threads']['threads']} for every framework ("
        + "; ".join(p["threads"][k] for k in ("numpy", "torch", "tensorflow") if k in p["threads"])
        + ").",
        "",
        _common.table(bench_cnn.rows(p), bench_cnn.HEADER),
        "",
        f'Median of {len(p["results"][0]["seconds"])} epochs per framework; "x lapenna": '
        "a framework's seconds over lapenna's (below 1: faster than lapenna), the median of "
        'the rounds\' paired ratios; "s per 60,000": the median scaled to '
        f"real MNIST's epoch. {p['method']}.",
        "",
    ]
    if inside:
        text += [
            "Keras from `on_epoch_begin` to `on_epoch_end` (without `fit`'s set-up): "
            + ", ".join(f"{r['seconds_inside_epoch_median']:.2f} s" for r in inside)
            + ".",
            "",
        ]
    text += [bench_cnn.share_text(p.get("conv_share")), ""]
    if diffs:
        text += [
            f"Same network: one unshuffled epoch of the same {check['samples']:,} samples "
            f"from the same weights ends with weights within a relative {diffs} of "
            "`lapenna`'s (float32 rounding).",
            "",
        ]
    text += [machine_line(p), "", f"Command: `{p['command']}`"]
    return "\n".join(text)


def section_book(p: dict[str, Any]) -> str:
    text = [
        "## 3. Book build",
        "",
        f"The build: {p['build_command']}.",
        "",
        _common.table(bench_book.build_rows(p), bench_book.BUILD_HEADER),
        "",
        f"Cached rebuild / cold: {p['cached_over_cold']:.2f}.",
        "",
    ]
    if p["notebook_execution_seconds"]:
        text += [_common.table(bench_book.chapter_rows(p), bench_book.CHAPTER_HEADER), ""]
    text += [machine_line(p), "", f"Command: `{p['command']}`"]
    return "\n".join(text)


def section_grading(p: dict[str, Any]) -> str:
    rows = []
    for key in ("serial", "parallel"):
        r = p.get(key)
        if not r:
            continue
        name = (
            "nbgrader autograde, serial"
            if key == "serial"
            else f"parallel grader, JOBS={r['jobs']}"
        )
        rows.append(
            [
                name, r["submissions"], f"{r['seconds']:.1f}", f"{r['submissions_per_minute']:.1f}",
                "yes" if r["sandboxed"] else "no", "yes" if r["scores_as_expected"] else "NO",
            ]
        )  # fmt: skip
    c = p.get("comparison") or {}
    text = [
        "## 4. Grading throughput",
        "",
        f"{p['copies_per_demo']} copies of each demo submission of {p['lab']} "
        f"({', '.join(p['demo_kinds'])}), cell timeout {p['cell_timeout_s']} s in both graders.",
        "",
        _common.table(
            rows,
            ["grader", "submissions", "seconds", "submissions/min", "sandboxed", "expected scores"],
        ),
        "",
    ]
    par = p.get("parallel") or {}
    if par:
        text += [
            "Serial: nbgrader's own kernels, unsandboxed, BLAS threads not pinned. Parallel: "
            f"{par.get('sandbox', 'sandbox: see JSON')}; {par.get('kernel_blas_threads', '?')} "
            "BLAS thread(s) per kernel (as `make grade` sets them). Both include `nbgrader "
            "generate_assignment`; neither includes feedback generation. Each copy of the "
            "looping submission spends one cell timeout in either grader.",
            "",
        ]
    if c:
        text += [
            f"Speedup {c['speedup']:.2f}x; identical scores for every submission: "
            f"**{'yes' if c['identical_scores'] else 'NO'}**"
            + ("" if c["identical_scores"] else f" (differences: {c['differences']})"),
            "",
        ]
    text += [machine_line(p), "", f"Command: `{p['command']}`"]
    return "\n".join(text)


def render(results: Path = _common.RESULTS) -> str:
    scripts = "\n".join(
        ["| script | question | make target | time here |", "|---|---|---|---|"]
        + ["| " + " | ".join(row) + " |" for row in SCRIPTS]
    )
    parts = [INTRO.replace("{scripts}", scripts)]
    for name, section in (
        ("mlp", section_mlp),
        ("timing", section_timing),
        ("book", section_book),
        ("grading", section_grading),
        ("conv", section_conv),
        ("cnn", section_cnn),
        ("sequences", bench_sequences.section),
        ("grading_slurm", bench_grading_slurm.section),
    ):
        payload = load(name, results)
        if payload is None:
            parts.append(f"## {name}\n\nNo results yet: run `make bench-{name}`.")
        elif name == "timing":
            parts.append(section(payload, load("timing_gpu", results)))
        else:
            parts.append(section(payload))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write bench/README.md from bench/results.")
    parser.add_argument("--results", type=Path, default=_common.RESULTS)
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    args.readme.write_text(render(args.results))
    print(f"wrote {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
