"""Smoke tests of the benchmark scripts in bench/: they run on tiny sizes and write valid JSON.

Nothing here asserts a time or a speed (timings depend on the machine and its load); the
tests check that each script runs end to end, that its JSON is strict and complete, and that
the hand-written loops it compares against compute the same thing as the package.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def run_script(
    script: str, *args: str, timeout: int = 600, ok_codes: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess:
    """Run a bench script in a fresh process (the scripts pin thread counts process-wide)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode in ok_codes, (
        f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def read_strict_json(path: Path) -> dict:
    """Load JSON, refusing NaN / Infinity (which json.loads would otherwise accept)."""

    def no_constants(name: str):
        raise ValueError(f"{path} holds the non-JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=no_constants)


def check_common(payload: dict, benchmark: str, script: str) -> None:
    assert payload["benchmark"] == benchmark
    assert payload["command"].startswith(f".venv/bin/python bench/{script}")
    machine = payload["machine"]
    assert machine["cpu_model"]
    assert machine["logical_cpus"] >= 1
    assert machine["versions"]["numpy"] == np.__version__
    assert isinstance(machine["blas"], list) and machine["blas"]
    for key in ("load_before", "load_after"):
        assert set(payload[key]) >= {"loadavg_1m", "uptime"}


@pytest.fixture(scope="module")
def bench_modules():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("_common"), importlib.import_module("bench_mlp")
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.lab4
def test_flat_loop_and_torch_do_the_same_math_as_mlp_fit(bench_modules, rng):
    """Same weights, same batches, same order: the flat loop and torch end where MLP.fit does."""
    _, bench_mlp = bench_modules
    X = rng.random((300, 784), dtype=np.float32)
    y = rng.integers(0, 10, size=300)
    params = bench_mlp.initial_params()
    ref = bench_mlp.LapennaTrainer(params)
    ref_loss, ref_acc = ref.epoch(X, y, 32, shuffle=False)
    start = max(float(np.max(np.abs(ref.weights()[k] - params[k]))) for k in params)
    assert start > 1e-4  # the weights did move, so agreeing below means something
    for trainer in (bench_mlp.FlatTrainer(params), bench_mlp.TorchTrainer(params, threads=1)):
        loss, acc = trainer.epoch(X, y, 32, shuffle=False)
        assert loss == pytest.approx(ref_loss, rel=1e-4)
        assert acc == pytest.approx(ref_acc, abs=1 / 300)
        for key, value in trainer.weights().items():
            np.testing.assert_allclose(value, ref.weights()[key], rtol=1e-4, atol=1e-5)


@pytest.mark.lab4
def test_write_json_is_strict_and_converts_numpy(bench_modules, tmp_path):
    common, _ = bench_modules
    path = common.write_json(
        tmp_path / "x.json", {"a": math.nan, "b": [np.float32(1.5), math.inf], "c": np.int64(3)}
    )
    assert read_strict_json(path) == {"a": None, "b": [1.5, None], "c": 3}


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory) -> dict:
    """Run bench_mlp.py and bench_timing.py once on tiny sizes into one results folder."""
    results = tmp_path_factory.mktemp("results")
    mlp = run_script(
        "bench_mlp.py",
        "--samples", "500", "--batch-sizes", "10,128", "--repeats", "2",
        "--frameworks", "lapenna,flat,torch", "--warmup-samples", "100",
        "--out", str(results / "mlp.json"),
    )  # fmt: skip
    timing = run_script(
        "bench_timing.py",
        "--sizes", "64,96", "--dtypes", "float32,float64", "--rounds", "1", "--repeats", "2",
        "--min-run-time", "0.01", "--out", str(results / "timing.json"),
    )  # fmt: skip
    return {"dir": results, "mlp_stdout": mlp.stdout, "timing_stdout": timing.stdout}


@pytest.mark.lab4
def test_bench_mlp_runs_and_writes_json(smoke_results):
    assert "x flat" in smoke_results["mlp_stdout"]
    payload = read_strict_json(smoke_results["dir"] / "mlp.json")
    check_common(payload, "mlp_epoch", "bench_mlp.py")
    assert payload["data"]["samples_per_epoch"] == 500
    assert payload["threads"]["threads"] == 1
    rows = {(r["framework"], r["batch_size"]) for r in payload["results"]}
    assert rows == {(f, b) for f in ("lapenna", "flat", "torch") for b in (10, 128)}
    for r in payload["results"]:
        assert len(r["seconds"]) == 2
        assert r["seconds_per_epoch_min"] <= r["seconds_per_epoch_median"]
        assert r["seconds_per_epoch_median"] <= r["seconds_per_epoch_max"]
        if r["framework"] != "flat":
            assert r["ratio_to_flat"] > 0
    check = payload["correctness_check"]
    assert check["flat"]["max_rel_weight_diff_vs_lapenna"] < 1e-4
    assert check["torch"]["max_rel_weight_diff_vs_lapenna"] < 1e-4
    verdict = payload["target_lapenna_within_1.25x_of_flat"]
    assert set(verdict) == {"10", "128"}
    rows = {(r["framework"], r["batch_size"]): r for r in payload["results"]}
    for bs, v in verdict.items():
        lapenna, flat = rows[("lapenna", int(bs))], rows[("flat", int(bs))]
        paired = [a / b for a, b in zip(lapenna["seconds"], flat["seconds"], strict=True)]
        assert v["per_round"] == pytest.approx(paired)
        assert v["lapenna_over_flat"] == pytest.approx(float(np.median(paired)))


@pytest.mark.lab4
def test_round_order_keeps_the_target_pair_adjacent_and_varies(bench_modules):
    """Every round runs each contestant once, lapenna and flat next to each other."""
    _, bench_mlp = bench_modules
    rng = np.random.default_rng(0)
    frameworks = ["lapenna", "flat", "torch", "keras"]
    orders = [bench_mlp._round_order(frameworks, rng) for _ in range(40)]
    for order in orders:
        assert sorted(order) == sorted(frameworks)
        assert abs(order.index("lapenna") - order.index("flat")) == 1
    assert len({tuple(o) for o in orders}) > 4  # not one fixed order


@pytest.mark.lab4
@pytest.mark.slow
def test_bench_mlp_keras_path(tmp_path):
    out = tmp_path / "mlp_keras.json"
    run_script(
        "bench_mlp.py",
        "--samples", "300", "--batch-sizes", "32", "--repeats", "1",
        "--frameworks", "lapenna,keras", "--warmup-samples", "64", "--out", str(out),
    )  # fmt: skip
    payload = read_strict_json(out)
    assert payload["framework_settings"]["keras"]["backend"] == "tensorflow"
    assert {r["framework"] for r in payload["results"]} == {"lapenna", "keras"}
    # Keras's loss clips probabilities instead of using log-sum-exp: close, not identical
    assert payload["correctness_check"]["keras"]["max_rel_weight_diff_vs_lapenna"] < 1e-3


@pytest.mark.lab2
def test_bench_timing_runs_and_writes_json(smoke_results):
    assert "torch.benchmark" in smoke_results["timing_stdout"]
    payload = read_strict_json(smoke_results["dir"] / "timing.json")
    check_common(payload, "gemm_timing_accuracy", "bench_timing.py")
    assert {(r["dtype"], r["n"]) for r in payload["cpu"]} == {
        (d, n) for d in ("float32", "float64") for n in (64, 96)
    }
    for r in payload["cpu"]:
        assert r["flops"] == 2 * r["n"] ** 3
        assert r["gflops_lapenna"] > 0 and r["gflops_torch_benchmark"] > 0
        assert r["naive_error_factor"] == pytest.approx(
            r["gflops_naive"] / r["gflops_torch_benchmark"]
        )
        assert r["gflops_naive_cold_process"] > 0
        assert r["percent_of_peak"] == pytest.approx(
            100 * r["gflops_lapenna"] / payload["cpu_peak_estimate"][r["dtype"]]["gflops"]
        )
    import torch

    if torch.cuda.is_available():
        assert payload["gpu"] and payload["gpu"][0]["device_name"]
    else:
        assert payload["gpu"] == []
        assert payload["gpu_status"].startswith("skipped: no CUDA")


@pytest.mark.lab2
@pytest.mark.gpu
def test_bench_timing_gpu_path(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    out = tmp_path / "timing_gpu.json"
    run_script(
        "bench_timing.py",
        "--sizes", "64", "--dtypes", "float32", "--rounds", "1", "--no-cold",
        "--gpu-sizes", "256,2048", "--gpu-dtypes", "float32", "--min-run-time", "0.05",
        "--out", str(out),
    )  # fmt: skip
    payload = read_strict_json(out)
    assert [r["n"] for r in payload["gpu"]] == [256, 2048]
    for r in payload["gpu"]:
        assert r["device_name"] == torch.cuda.get_device_name(0)
        assert r["gflops_cuda_events"] > 0
    assert payload["gpu_verdict"]["target"].startswith("lapenna time_gemm within 5%")


TINY_BOOK = {
    "_config.yml": (
        "title: tiny\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: cache\n"
    ),
    "_toc.yml": "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/week01\n",
    "book/intro.md": "# Intro\n\nA tiny book for the benchmark's smoke test.\n",
    "book/week01.md": (
        "---\njupytext:\n  text_representation:\n    extension: .md\n    format_name: myst\n"
        "kernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n"
        "# Week 1\n\n```{code-cell} ipython3\nprint(6 * 7)\n```\n"
    ),
}


@pytest.mark.book
@pytest.mark.slow
def test_bench_book_on_a_tiny_book(tmp_path):
    """Cold build executes the one notebook; the cached rebuild executes none."""
    root = tmp_path / "tiny"
    for name, text in TINY_BOOK.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    out = tmp_path / "book.json"
    run_script("bench_book.py", "--root", str(root), "--out", str(out))
    payload = read_strict_json(out)
    check_common(payload, "book_build", "bench_book.py")
    assert payload["cold"]["ok"] and payload["cached_rebuild"]["ok"]
    assert payload["cold"]["notebooks_executed"] == 1
    assert payload["cached_rebuild"]["notebooks_executed"] == 0
    assert payload["prose_edit_rebuild"]["notebooks_executed"] == 0
    assert payload["prose_edit_rebuild"]["edited"] == "book/week01.md"
    assert [r["notebook"] for r in payload["notebook_execution_seconds"]] == ["book/week01.md"]
    assert not (root / "_build").exists()  # the build ran in a copy


@pytest.mark.lab2
def test_report_renders_the_readme_from_the_results(smoke_results, tmp_path):
    readme = tmp_path / "README.md"
    run_script("report.py", "--results", str(smoke_results["dir"]), "--readme", str(readme))
    text = readme.read_text()
    mlp = read_strict_json(smoke_results["dir"] / "mlp.json")
    assert "## 1. MLP training: seconds per epoch" in text
    assert "## 2. Timing-helper accuracy (GEMM)" in text
    assert mlp["command"] in text
    assert "No results yet: run `make bench-book`" in text  # no book.json in this folder
    first = next(r for r in mlp["results"] if r["framework"] == "lapenna")
    assert f"{first['seconds_per_epoch_median']:.3f}" in text


@pytest.mark.lab2
def test_bench_timing_gpu_only_run(tmp_path):
    """``--no-cpu`` (make bench-gpu) measures no CPU rows; without CUDA it says why."""
    out = tmp_path / "timing_gpu.json"
    run_script("bench_timing.py", "--no-cpu", "--gpu-sizes", "256", "--rounds", "1",
               "--min-run-time", "0.05", "--out", str(out))  # fmt: skip
    payload = read_strict_json(out)
    assert payload["cpu"] == []
    import torch

    assert bool(payload["gpu"]) == torch.cuda.is_available()
    nothing = run_script("bench_timing.py", "--no-cpu", "--no-gpu", ok_codes=(2,))
    assert "leave nothing to measure" in nothing.stderr


def gpu_row(n: int, lapenna: float, events: float) -> dict:
    """One GPU row as bench_timing.py writes it, for rendering (not a measurement)."""
    return {
        "device_name": "NVIDIA H200", "dtype": "float32", "n": n,
        "gflops_lapenna": lapenna, "gflops_cuda_events": events,
        "gflops_torch_benchmark": events, "lapenna_over_cuda_events": lapenna / events,
        "gflops_naive": 40 * events, "naive_error_factor": 40.0,
        "percent_of_peak": 100 * lapenna / 67_000,
        "within_5_percent": abs(lapenna / events - 1) <= 0.05,
        "target_applies": n >= 2000,
    }  # fmt: skip


@pytest.mark.lab2
def test_report_shows_a_gpu_only_run_beside_the_cpu_figures(smoke_results, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(smoke_results["dir"], results)
    gpu = json.loads((results / "timing.json").read_text())
    gpu.update(cpu=[], command=".venv/bin/python bench/bench_timing.py --no-cpu")
    readme = tmp_path / "README.md"
    met = "**met** (largest difference 1.0 %)"
    for rows, verdict in (
        ([gpu_row(1000, 30_000, 40_000), gpu_row(4096, 50_500, 51_000)], met),
        ([gpu_row(4096, 45_000, 51_000)], "**not met** (largest difference 11.8 %)"),
        ([gpu_row(1000, 30_000, 40_000)], "not tested (no size N >= 2000 was run)"),
    ):  # fmt: skip
        big = [r for r in rows if r["target_applies"]]
        gpu.update(
            gpu=rows,
            gpu_verdict={
                "target": "lapenna time_gemm within 5% of CUDA events for N >= 2000",
                "all_within": all(r["within_5_percent"] for r in big),
                "worst": max((abs(r["lapenna_over_cuda_events"] - 1) for r in big), default=None),
            },
        )
        (results / "timing_gpu.json").write_text(json.dumps(gpu))
        run_script("report.py", "--results", str(results), "--readme", str(readme))
        text = readme.read_text()
        timing = text.split("## 2. Timing-helper accuracy (GEMM)")[1].split("## book")[0]
        assert re.search(r"\| float32 \| +64 \|", timing)  # CPU rows: still from timing.json
        assert "### On a GPU" in timing and "NVIDIA H200" in timing
        assert verdict in timing
        assert "bench_timing.py --no-cpu" in timing
        assert "GPU: skipped" not in timing


@pytest.mark.grading
@pytest.mark.slow
def test_bench_grading_one_copy_of_each_demo(tmp_path):
    """Both graders run on one copy of each demo; the JSON has both and compares them.

    Exit code 1 means the two graders disagreed on a score (the JSON says which); only the
    serial grader's scores are checked here, against autograder/demo/expected_scores.json.
    """
    out = tmp_path / "grading.json"
    run_script(
        "bench_grading.py", "--copies", "1", "--jobs", "2", "--out", str(out), ok_codes=(0, 1)
    )
    payload = read_strict_json(out)
    check_common(payload, "grading_throughput", "bench_grading.py")
    expected = json.loads((ROOT / "autograder" / "demo" / "expected_scores.json").read_text())
    serial, parallel = payload["serial"], payload["parallel"]
    assert serial["scores"] == {f"{k}_00": v for k, v in expected["scores"].items()}
    assert serial["submissions"] == parallel["submissions"] == len(expected["scores"])
    assert set(parallel["scores"]) == set(serial["scores"])
    assert parallel["jobs"] == 2
    comparison = payload["comparison"]
    assert comparison["identical_scores"] == (not comparison["differences"])
    assert comparison["speedup"] == pytest.approx(serial["seconds"] / parallel["seconds"])


@pytest.mark.lab5
def test_bench_cnn_runs_and_writes_json(tmp_path):
    out = tmp_path / "cnn.json"
    result = run_script(
        "bench_cnn.py", "--samples", "256", "--repeats", "1", "--frameworks", "lapenna,torch",
        "--warmup-samples", "64", "--check-samples", "64", "--out", str(out),
    )  # fmt: skip
    assert "torch" in result.stdout
    payload = read_strict_json(out)
    check_common(payload, "cnn_epoch", "bench_cnn.py")
    by_name = {r["framework"]: r for r in payload["results"]}
    assert set(by_name) == {"lapenna", "torch"}
    assert by_name["lapenna"]["ratio_to_lapenna"] == 1.0
    torch_row = by_name["torch"]
    paired = torch_row["ratio_to_lapenna_per_round"]
    assert torch_row["ratio_to_lapenna"] == pytest.approx(float(np.median(paired)))
    # The same network from the same weights on the same batches: torch ends where lapenna does.
    assert payload["correctness_check"]["torch"]["max_rel_weight_diff_vs_lapenna"] < 1e-5
    readme = tmp_path / "README.md"
    run_script("report.py", "--results", str(tmp_path), "--readme", str(readme))
    assert "## 6. One epoch of the LeNet CNN" in readme.read_text()


def test_bench_conv_runs_and_writes_json(tmp_path):
    out = tmp_path / "conv.json"
    result = run_script(
        "bench_conv.py", "--batch", "2", "--repeats", "2", "--naive-samples", "1",
        "--layers", "lenet_conv2", "--out", str(out),
    )  # fmt: skip
    assert "im2col / torch" in result.stdout
    payload = read_strict_json(out)
    check_common(payload, "conv", "bench_conv.py")
    layer = payload["layers"]["lenet_conv2"]
    # LeNet's second conv on 14x14x6 at batch 2: 10x10 outputs, 6*5*5 weights per filter.
    assert layer["gemm_shape_M_K_F"] == [2 * 10 * 10, 150, 16]
    s = layer["seconds_per_call"]
    assert all(len(s[k]) == 2 for k in ("naive", "im2col", "torch", "gemm"))
    paired = [a / t for a, t in zip(s["im2col"], s["torch"], strict=True)]
    assert layer["im2col_over_torch"] == pytest.approx(float(np.median(paired)))
    assert 0 < layer["gemm_share_of_im2col"]
    assert set(payload["targets"]["lenet_conv2"]) == {
        "im2col_within_3x_of_torch",
        "im2col_at_least_100x_faster_than_naive",
    }
    readme = tmp_path / "README.md"
    run_script("report.py", "--results", str(tmp_path), "--readme", str(readme))
    assert "## 5. Convolution: forward plus backward" in readme.read_text()
    assert payload["command"] in readme.read_text()


@pytest.mark.lab10
def test_bench_sequences_runs_and_writes_json(tmp_path):
    out = tmp_path / "sequences.json"
    run_script(
        "bench_sequences.py", "--lengths", "32,64", "--repeats", "2", "--gpt-blocks", "16",
        "--gpt-steps", "2", "--gpt-batch", "4", "--gpt-repeats", "1", "--out", str(out),
    )  # fmt: skip
    payload = read_strict_json(out)
    check_common(payload, "sequences", "bench_sequences.py")
    rows = payload["attention"]
    assert [(r["seq_len"], r["causal"]) for r in rows] == [
        (32, False),
        (32, True),
        (64, False),
        (64, True),
    ]
    for r in rows:
        assert r["max_abs_diff"] < 1e-4 * max(1.0, r["max_abs_value"])  # same math as torch
        assert r["cost"]["score_bytes"] == 4 * 4 * r["seq_len"] ** 2  # 4 heads, float32
        assert len(r["ratio_per_round"]) == 2 and r["ratio_lapenna_to_torch"] > 0
    (gpt,) = [g for g in payload["gpt"] if g["device"] == "cpu"]
    assert gpt["block_size"] == 16 and gpt["same_tokens_with_and_without_cache"]
    assert gpt["train_tokens_per_second"] > 0 and gpt["kv_cache_speedup"] > 0
