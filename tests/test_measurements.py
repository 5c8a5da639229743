"""Tests for lapenna_labs.measurements: recorded GPU figures, with their provenance, as data.

The figures themselves cannot be re-measured here (no GPU); what can be checked is that each
carries its device, date, software, method and statistic, that a figure not taken as the
course's median is flagged for re-measurement, that the figures agree with the datasheet
peaks and with each other by arithmetic done here, and that the pages print them from the
data instead of typing them in. The slides' own timings (lapenna_labs.examples.SLIDE_TIMINGS)
are checked against the slides' arithmetic.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lapenna_labs import examples as ex
from lapenna_labs.blas import PEAK_GFLOPS
from lapenna_labs.measurements import load_session, recorded_run, recorded_runs

pytestmark = pytest.mark.lab2

ROOT = Path(__file__).resolve().parents[1]
H100 = "h100-2026-11-25"


def test_every_shipped_measurement_says_how_it_was_made():
    runs = recorded_runs()
    assert runs, "no recorded measurements shipped"
    for run in runs:
        for text in (run.device, run.date, run.method, run.statistic, run.source):
            assert text.strip(), f"{run.session}/{run.id}: an empty provenance field"
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", run.date), run.id
        assert run.software and all(v.strip() for v in run.software.values()), run.id
        # The course reports medians; anything else must say it is to be measured again.
        assert "median" in run.statistic or run.remeasure, f"{run.id}: {run.statistic}"
        assert run.device in run.provenance and run.statistic in run.provenance


def test_the_h100_session_records_what_is_known_and_says_what_is_not():
    runs = recorded_runs(session=H100)
    assert {r.quantity for r in runs} == {"gemm", "gemm_naive", "axpy", "gemv", "mlp_epoch"}
    gpu = [r for r in runs if r.quantity != "mlp_epoch" or "GPU" in r.params["framework"]]
    assert all(r.device == "NVIDIA H100 80GB" and r.peak_key == "H100" for r in gpu)
    assert all(r.date == "2026-11-25" for r in runs)
    first = runs[0]
    assert set(first.software) == {"torch", "cuda", "driver", "python"}
    assert all("not recorded" in version for version in first.software.values())
    assert first.statistic.startswith("mean per call") and "10" in first.method
    assert "median" in first.remeasure and "bench-gpu" in first.remeasure
    # The CPU runs of the MLP comparison name the host, not the GPU.
    cpu = recorded_runs("mlp_epoch", session=H100, framework="flat NumPy loop")
    assert len(cpu) == 2 and all("CPU" in r.device for r in cpu)


def test_the_h100_gemm_rates_sit_below_the_datasheet_peaks():
    h100 = PEAK_GFLOPS["H100"]
    rate = {r.params["dtype"]: r.values["gflops"] for r in recorded_runs("gemm", n=8192)}
    assert rate.keys() == {"float64", "float32", "tf32", "bfloat16"}
    # DGEMM runs on the FP64 tensor cores: above the 34 TFLOP/s vector rate, below 67.
    assert h100["fp64"] < rate["float64"] <= h100["fp64_tensor"]
    assert rate["float32"] <= h100["fp32"]
    assert rate["tf32"] <= h100["tf32_tensor"]
    assert rate["bfloat16"] <= h100["bf16_tensor"]
    # Above the PCIe card's FP64 tensor peak (51 TFLOP/s, NVIDIA's datasheet): an SXM5 card,
    # as the session's notes on the device say.
    assert rate["float64"] > 51_000
    assert "SXM5" in recorded_run("gemm", n=8192, dtype="float64").device_notes


def test_the_h100_bandwidths_follow_from_the_rates():
    axpy = recorded_run("axpy", session=H100)
    gemv = recorded_run("gemv", session=H100)
    # DAXPY: 2 flops per 3 doubles (24 bytes); DGEMV: 2 flops per 8-byte matrix entry.
    assert axpy.values["gflops"] * 24 / 2 == pytest.approx(axpy.values["bandwidth_gbs"], rel=0.01)
    assert gemv.values["gflops"] * 8 / 2 == pytest.approx(gemv.values["bandwidth_gbs"], rel=0.01)
    assert (
        max(axpy.values["bandwidth_gbs"], gemv.values["bandwidth_gbs"])
        <= (PEAK_GFLOPS["H100"]["bandwidth_gbs"])
    )


def test_the_naive_gpu_timing_is_a_launch_not_a_product():
    naive = recorded_run("gemm_naive", n=6000, dtype="float32")
    real = recorded_run("gemm", n=6000, dtype="float32")
    assert naive.statistic == "one call" and "not" in naive.method  # not synchronised
    flops = 2 * 6000**3
    naive_ms = flops / (naive.values["gflops"] * 1e9) * 1e3
    real_ms = flops / (real.values["gflops"] * 1e9) * 1e3
    assert naive_ms == pytest.approx(0.49, abs=0.01)  # the "about 0.49 ms" of week 2
    assert real_ms == pytest.approx(9.0, abs=0.1)
    assert naive.values["gflops"] / real.values["gflops"] == pytest.approx(18.3, abs=0.1)
    assert naive.values["gflops"] > 10 * PEAK_GFLOPS["H100"]["fp32"]  # physically impossible


def test_filters_and_the_one_run_lookup():
    assert [
        r.params["batch"] for r in recorded_runs("mlp_epoch", framework="PyTorch on the GPU")
    ] == [
        10,
        128,
    ]
    assert recorded_runs("no such quantity") == []
    with pytest.raises(ValueError, match=r"recorded_run: 0 measurements match 'gemm', n=3"):
        recorded_run("gemm", n=3)
    with pytest.raises(ValueError, match=r"recorded_run: 4 measurements match 'gemm', n=8192"):
        recorded_run("gemm", n=8192)
    record = recorded_run("gemm", n=8192, dtype="tf32").as_record()
    assert record["gflops"] == 388_000 and record["to re-measure"] is True


SESSION = {
    "schema": 1,
    "session": "fake-2030-01-01",
    "date": "2030-01-01",
    "device": "Fake GPU",
    "software": {"torch": "9.9"},
    "method": "CUDA events, 10 calls timed one by one after 2 warm-ups",
    "statistic": "median of 10 calls",
    "source": "a test",
    "measurements": [
        {"id": "a", "quantity": "gemm", "params": {"n": 4}, "values": {"gflops": 1.5}},
        {
            "id": "b",
            "quantity": "mlp_epoch",
            "params": {},
            "values": {"seconds": 2},
            "device": "Fake CPU",
        },
    ],
}


def write(tmp_path, data) -> Path:
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    return path


def test_a_session_file_fills_in_shared_fields(tmp_path):
    a, b = load_session(write(tmp_path, SESSION))
    assert (a.device, b.device) == ("Fake GPU", "Fake CPU")
    assert a.statistic == b.statistic == "median of 10 calls" and a.remeasure == ""
    assert a.values == {"gflops": 1.5} and b.values == {"seconds": 2.0}


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d.pop("statistic"), r"the session lacks \['statistic'\]"),
        (lambda d: d.update(schema=2), "schema 2 is not the supported 1"),
        (lambda d: d.update(software={}), "software must be a non-empty mapping"),
        (lambda d: d["measurements"][1].update(id="a"), r"duplicate ids \['a'\]"),
        (lambda d: d["measurements"][0].pop("values"), r"lacks \['values'\]"),
        (lambda d: d["measurements"][0].update(values={"gflops": 0}), "positive number"),
        (lambda d: d["measurements"][0].update(values={"tflops": 1}), "keys from"),
        (lambda d: d["measurements"][0].update(best=True), r"unknown fields \['best'\]"),
        (lambda d: d["measurements"][0].update(method=3), "method must be a string"),
        (lambda d: d.update(measurements=[]), "measurements must be a non-empty list"),
    ],
)
def test_a_malformed_session_file_is_refused_with_its_name_and_problem(tmp_path, change, message):
    data = json.loads(json.dumps(SESSION))
    change(data)
    with pytest.raises(ValueError, match=rf"load_session: session\.json.*{message}"):
        load_session(write(tmp_path, data))


def test_a_file_that_is_no_json_is_refused(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(ValueError, match="load_session: broken.json: cannot read it as JSON"):
        load_session(path)


# Literals of the recorded figures, as a page or docstring that typed them in would write them.
RECORDED_LITERALS = re.compile(
    r"878[_,]?000|48[_,]000|57[_,]000|51[_,]000|388[_,]000|781[_,]000"
    r"|\b249 GFLOP|\b769 GFLOP|2\.99 TB|3\.08 TB|6\.77 s"
)


@pytest.mark.parametrize(
    "path",
    [
        "book/week02_gemm_timing.md",
        "book/errata.md",
        "lapenna_labs/blas/timing.py",
        "lapenna_labs/examples/errata.py",
    ],
)
def test_pages_print_the_recorded_figures_from_the_data(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    assert RECORDED_LITERALS.findall(text) == [], f"{path} types in recorded GPU figures"


def test_the_slides_timings_are_all_there_as_printed():
    cpu_6000 = [t for t in ex.SLIDE_TIMINGS if t.device == "CPU" and t.n == 6000]
    # Three N = 6000 CPU runs: one in each of the Lab 2 output blocks.
    assert [t.seconds for t in cpu_6000] == [
        6.155170440673828,
        6.098201036453247,
        6.029452800750732,
    ]
    assert len({t.output for t in cpu_6000}) == 3
    assert len({(t.output, t.n, t.method) for t in ex.SLIDE_TIMINGS}) == len(ex.SLIDE_TIMINGS)
    for t in ex.SLIDE_TIMINGS:
        if t.printed_gflops is not None and t.method != "%timeit, best of 3":
            # The slides' formula: 2 N^3 flops with N in thousands, over the printed seconds.
            assert 2 * (t.n / 1000) ** 3 / t.seconds == pytest.approx(t.printed_gflops, rel=1e-12)
    # The float64 exercise rounds 7.39 s to 7.4 before dividing: 250 / 7.4 = 33.8.
    (exercise,) = [t for t in ex.SLIDE_TIMINGS if t.method == "%timeit, best of 3"]
    assert round(2 * 5**3 / 7.4, 1) == exercise.printed_gflops == 33.8
