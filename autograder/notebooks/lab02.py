# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"grade": false, "grade_id": "title", "locked": true, "schema_version": 3, "solution": false}
# # Lab 2: GEMM on the CPU and the GPU, timed correctly
#
# Week 2 of LAPENNA. The lecture's Lab 2, Problem 4 asks for the GFLOP/s of $C = A B$ against
# the matrix size $N = 2000, 4000, 6000$ in single precision, on a CPU and on a GPU. The slides'
# code times one call with `time.time()` and, on the GPU, reports about 7,077 GFLOP/s for
# $N = 6000$. That number measures the wrong thing. In this lab you do the problem right:
#
# | part | what you write | points |
# |---|---|---|
# | 1 | a matmul timing function: warm-up, repeats, median, GPU synchronisation | 4 |
# | 2 | GFLOP/s against $N$ in float32 and float64, on the CPU and the GPU, plotted | 3 |
# | 3 | what the naive timing measures (multiple choice, graded automatically) | 3 |
# | | **total** | **10** |
#
# Expect one to two hours. Use a GPU runtime in Colab (Runtime > Change runtime type > T4
# GPU); without one, the GPU parts are skipped and everything else still works.

# %% [markdown] nbgrader={"grade": false, "grade_id": "how_graded", "locked": true, "schema_version": 3, "solution": false}
# **How this lab is graded.** Cells marked *answer* are yours; the cells after them check your work.
# Visible checks run now and tell you what is wrong (never what the right values are); each
# prints "...: the visible checks pass." when yours pass. Hidden checks run only when the
# instructor grades. Do not rename the functions or change their arguments. A cell that runs
# longer than a minute is stopped.
#
# **Library calls.** Each part says which libraries its answer may call. While the hidden checks
# run your function, the others are *blocked*, under any name you imported them by: the
# course's own `lapenna_labs` (its timers `blas.time_gemm`, `blas.time_callable`,
# `blas.gemm_sweep` and its plots) and the other libraries. A call of a blocked function scores
# zero **for that part only**: it is charged to the function that made it. A later part that
# uses one of your earlier functions is not charged for what that function calls (its own part
# already lost the points), only for its own calls.
#
# **The grader has no GPU.** It runs your functions on the CPU with small matrices
# (`LAPENNA_FORCE_CPU=1` makes `DEVICE` `"cpu"`, so the cells behind `if DEVICE == "cuda":`
# are skipped), and checks the GPU part of your timing function on a simulated GPU that, like
# a real one, only queues each product: the time you return must be the product's, not the
# time it took to queue it.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import os
import time

import matplotlib.pyplot as plt
import numpy as np

GRADING = bool(os.environ.get("LAPENNA_GRADING"))

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: a correct timing function (4 points)
#
# Three things go wrong when one call is timed with `time.time()`:
#
# 1. **One-off costs.** The first product pays for starting BLAS threads, touching freshly
#    allocated memory, and on a GPU for loading cuBLAS and choosing its kernels. Call the
#    product a few times untimed first (**warm-up**).
# 2. **Noise.** The operating system can interrupt any call. Time several **repeats** and report
#    the **median** (robust to one slow repeat); `time.perf_counter()` is the clock meant for
#    intervals (`time.time()` can jump).
# 3. **Asynchrony on a GPU.** `torch.matmul` on CUDA tensors only *queues* the product and
#    returns at once. Wait for the GPU with `torch.cuda.synchronize()` before reading the clock
#    after the product (and before starting it, so earlier work is not counted), or time with
#    CUDA events (`torch.cuda.Event(enable_timing=True)`, `.record()`, `.elapsed_time()`).
#
# Write `time_matmul(A, B, warmup=2, repeats=5, clock=time.perf_counter)`. `A` and `B` are
# NumPy arrays or PyTorch tensors (on the CPU or the GPU); compute the product as `A @ B`. It
# returns the median of the `repeats` durations in seconds, each read from `clock()` right before
# and right after one product. When the operands are CUDA tensors (`getattr(A, "is_cuda",
# False)`), synchronise as in point 3. Then write `gflops(n, seconds)`: the GFLOP/s of one
# $n \times n$ product that takes `seconds`, counting $2 n^3$ flops as the slides (and every
# vendor) do.
#
# **Library calls.** Allowed: Python (`time`, `statistics`), NumPy and PyTorch (for the GPU:
# `torch.cuda.synchronize`, `torch.cuda.Event`). Blocked while graded: `lapenna_labs` (it has
# these timers) and SciPy, TensorFlow, Keras, JAX.


# %% nbgrader={"grade": false, "grade_id": "timing", "locked": false, "schema_version": 3, "solution": true}
def time_matmul(A, B, warmup=2, repeats=5, clock=time.perf_counter):
    """Median seconds of `repeats` products A @ B after `warmup` untimed ones (CPU or GPU)."""
    ### BEGIN SOLUTION
    on_gpu = bool(getattr(A, "is_cuda", False))
    if on_gpu:
        import torch

        def sync():
            torch.cuda.synchronize()

    else:

        def sync():
            pass

    for _ in range(warmup):
        A @ B
    sync()
    durations = []
    for _ in range(repeats):
        sync()
        start = clock()
        A @ B
        sync()
        durations.append(clock() - start)
    return float(np.median(durations))
    ### END SOLUTION


def gflops(n, seconds):
    """GFLOP/s of one n x n matrix product (2 n**3 flops) that takes `seconds`."""
    ### BEGIN SOLUTION
    return 2 * n**3 / seconds / 1e9
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_time_matmul", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Every test cell imports what it uses: an answer cell cannot shadow it.
import numpy as np  # noqa: E402, F811

from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import FakeClock, call_blocked, check_close, passed  # noqa: E402


class _FakeMatrix:
    """An operand whose product takes the clock's next duration (see FakeClock)."""

    def __init__(self, clock):
        self.clock = clock

    def __matmul__(self, other):
        self.clock.work()
        return self


_clock = FakeClock([40.0, 30.0, 1.0, 3.0, 2.0, 100.0, 4.0])
_A = _FakeMatrix(_clock)
_t = time_matmul(_A, _A, warmup=2, repeats=5, clock=_clock)
assert _clock.calls == 7, f"time_matmul: {_clock.calls} products made, expected 2 + 5"
assert _t != 22.0, "time_matmul: that is the mean of the repeats; return the median"
assert _t != 1.0, "time_matmul: that is the fastest repeat; return the median"
assert _t not in (4.0, 11.428571428571429), "time_matmul: do not time the warm-up products"
check_close(_t, 3.0, name="time_matmul (2 warm-up, 5 repeats)")
_real = time_matmul(np.ones((64, 64)), np.ones((64, 64)), warmup=1, repeats=3)
assert 0 < _real < 1, "time_matmul: a 64 x 64 product should take well under a second"
passed("time_matmul")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(7)
_blocked = (
    blas.time_gemm,
    blas.time_callable,
    "lapenna_labs",
    "scipy",
    "tensorflow",
    "keras",
    "jax",
)
for _w, _r in ((0, 1), (1, 4), (3, 9)):
    _d = list(_rng.uniform(0.5, 9.5, size=_w + _r))
    _clock = FakeClock(_d)
    _t = call_blocked(
        time_matmul,
        _FakeMatrix(_clock),
        _FakeMatrix(_clock),
        warmup=_w,
        repeats=_r,
        clock=_clock,
        block=_blocked,
    )
    assert _clock.calls == _w + _r, "time_matmul: wrong number of products"
    check_close(_t, float(np.median(_d[_w:])), name="time_matmul (other warm-up and repeats)")
try:
    import torch

    _tA = torch.ones(32, 32, dtype=torch.float64)
    _t = call_blocked(time_matmul, _tA, _tA, 1, 2, block=_blocked)
    assert 0 < _t < 1, "time_matmul: failed on CPU torch tensors"
except ImportError:
    pass
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_time_matmul_sync", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# The grader has no GPU, so this test gives your time_matmul a simulated one that behaves like
# CUDA: a product is only queued, and the clock sees it finish only after a synchronisation.
import numpy as np  # noqa: E402

from lapenna_labs.grading import (  # noqa: E402
    SimulatedGpu,
    call_blocked,
    check_close,
    passed,
    simulated_cuda,
)


def _time_on_fake_gpu(timer, durations, warmup, repeats):
    gpu = SimulatedGpu(durations)
    with simulated_cuda(gpu):
        seconds = timer(gpu.tensor(), gpu.tensor(), warmup, repeats, gpu.clock)
    assert gpu.launches == warmup + repeats, (
        f"time_matmul on a GPU: {gpu.launches} products made, expected {warmup} + {repeats}"
    )
    return seconds


_t = _time_on_fake_gpu(time_matmul, [40.0, 30.0, 1.0, 3.0, 2.0, 100.0, 4.0], 2, 5)
check_close(
    _t,
    3.0,
    name="time_matmul on a (simulated) GPU, 2 warm-up, 5 repeats",
    common_mistakes={
        "only the launch: the clock was read before the GPU had finished the product "
        "(call torch.cuda.synchronize() before reading it, or time with CUDA events)": (
            SimulatedGpu.LAUNCH
        ),
        "milliseconds: CUDA events' elapsed_time is in ms, return seconds": 3000.0,
    },
)
passed("time_matmul on a GPU (it waits for the product)")
if DEVICE == "cuda":  # noqa: F821 (defined by the device cell at the top)
    import torch

    _gA = torch.randn(2048, 2048, device="cuda")
    _t = time_matmul(_gA, _gA)
    print(f"GPU 2048 x 2048 float32 product: {_t * 1e3:.2f} ms, {gflops(2048, _t):,.0f} GFLOP/s")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(8)
for _w, _r in ((0, 1), (1, 4), (3, 9)):
    _d = list(_rng.uniform(0.5, 9.5, size=_w + _r))
    _t = _time_on_fake_gpu(
        lambda *args: call_blocked(
            time_matmul, *args, block=("lapenna_labs", "scipy", "tensorflow", "keras", "jax")
        ),
        _d,
        _w,
        _r,
    )
    check_close(_t, float(np.median(_d[_w:])), name="time_matmul on a simulated GPU (hidden)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_gflops", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import check_against_reference, passed  # noqa: E402

assert abs(gflops(1000, 1.0) - 2.0) < 1e-9, "gflops(1000, 1.0): 2 * 1000**3 flops in 1 s"
assert abs(gflops(1000, 0.5) - 4.0) < 1e-9, "gflops: divide by the seconds"
passed("gflops")
### BEGIN HIDDEN TESTS
check_against_reference(
    gflops,
    lambda n, seconds: blas.gemm_flops(n, n, n) / seconds / 1e9,
    lambda rng, case, dt: case,
    name="gflops (hidden)",
    cases=((2000, 0.2360849380493164), (6000, 6.029452800750732), (17, 3e-6)),
    dtypes=(None,),
    view=float,
    block=(blas.gemm_flops, "lapenna_labs", "scipy", "tensorflow", "keras", "jax"),
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: GFLOP/s against N (3 points)
#
# Write `gemm_table(sizes, dtypes=("float32", "float64"), device="cpu", warmup=1, repeats=3)`:
# for every size `n` and every dtype, make two random `(n, n)` matrices (NumPy on `"cpu"`,
# PyTorch tensors on `"cuda"`), time their product with your `time_matmul`, and return a list of
# dicts, one per (size, dtype), with keys `"n"`, `"dtype"` (the string), `"device"`,
# `"seconds"` and `"gflops"`.
#
# Then write `plot_gflops(table)`: one line of GFLOP/s against $N$ per (device, dtype), with a
# legend and the axes labelled `"N"` and `"GFLOP/s"`. Return the matplotlib `Figure`.
#
# **Library calls.** Allowed: NumPy, PyTorch and matplotlib, and your `time_matmul` and
# `gflops`. Blocked while graded: `lapenna_labs` (it has `blas.gemm_sweep` and
# `plots.plot_gflops`) and SciPy, TensorFlow, Keras, JAX.


# %% nbgrader={"grade": false, "grade_id": "sweep", "locked": false, "schema_version": 3, "solution": true}
def gemm_table(sizes, dtypes=("float32", "float64"), device="cpu", warmup=1, repeats=3):
    """One record per (size, dtype): n, dtype, device, seconds, gflops."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(0)
    table = []
    for n in sizes:
        for dtype in dtypes:
            A = rng.random((n, n)).astype(dtype)
            B = rng.random((n, n)).astype(dtype)
            if device != "cpu":
                import torch

                A, B = torch.from_numpy(A).to(device), torch.from_numpy(B).to(device)
            seconds = time_matmul(A, B, warmup=warmup, repeats=repeats)
            table.append(
                {
                    "n": n,
                    "dtype": str(dtype),
                    "device": device,
                    "seconds": seconds,
                    "gflops": gflops(n, seconds),
                }
            )
    return table
    ### END SOLUTION


def plot_gflops(table):
    """GFLOP/s against N, one line per (device, dtype); returns the Figure."""
    ### BEGIN SOLUTION
    fig, ax = plt.subplots(figsize=(6, 4))
    groups = sorted({(r["device"], r["dtype"]) for r in table})
    for device, dtype in groups:
        rows = sorted(
            (r for r in table if (r["device"], r["dtype"]) == (device, dtype)), key=lambda r: r["n"]
        )
        ax.plot(
            [r["n"] for r in rows], [r["gflops"] for r in rows], "o-", label=f"{device} {dtype}"
        )
    ax.set_xlabel("N")
    ax.set_ylabel("GFLOP/s")
    ax.legend()
    return fig
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gemm_table", "locked": true, "points": 2, "schema_version": 3, "solution": false}
from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import call_blocked, check_close, passed  # noqa: E402

_table = gemm_table([32, 48], dtypes=("float32", "float64"), device="cpu", warmup=1, repeats=2)
assert isinstance(_table, list) and len(_table) == 4, "gemm_table: one record per (size, dtype)"
for _rec in _table:
    assert {"n", "dtype", "device", "seconds", "gflops"} <= set(_rec), "gemm_table: missing keys"
    assert _rec["seconds"] > 0, "gemm_table: seconds must be positive"
    check_close(
        _rec["gflops"], 2 * _rec["n"] ** 3 / _rec["seconds"] / 1e9, name="gemm_table gflops"
    )
assert {(_r["n"], str(_r["dtype"])) for _r in _table} == {
    (32, "float32"),
    (32, "float64"),
    (48, "float32"),
    (48, "float64"),
}, "gemm_table: the (n, dtype) pairs are not the ones asked for"
passed("gemm_table")
### BEGIN HIDDEN TESTS
_seen_dtypes = []
_orig_time_matmul = time_matmul


def time_matmul(A, B, warmup=2, repeats=5, clock=time.perf_counter):
    _seen_dtypes.append((tuple(A.shape), str(A.dtype), str(B.dtype)))
    return _orig_time_matmul(A, B, warmup=warmup, repeats=repeats, clock=clock)


try:
    _table = call_blocked(
        gemm_table,
        [40],
        dtypes=("float64",),
        device="cpu",
        warmup=0,
        repeats=1,
        block=(
            blas.gemm_sweep,
            blas.time_gemm,
            "lapenna_labs",
            "scipy",
            "tensorflow",
            "keras",
            "jax",
        ),
        graded_elsewhere=(_orig_time_matmul, gflops),
    )
finally:
    time_matmul = _orig_time_matmul
assert len(_table) == 1 and _table[0]["n"] == 40, "gemm_table: wrong records for one size"
assert _seen_dtypes == [((40, 40), "float64", "float64")], "gemm_table: time the requested dtype"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_plot_gflops", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs.grading import call_blocked, passed  # noqa: E402

_demo = [
    {"n": n, "dtype": dt, "device": dev, "seconds": 1.0, "gflops": g * n / 1000}
    for n in (1000, 2000)
    for dt, dev, g in (("float32", "cpu", 300), ("float64", "cpu", 150), ("float32", "cuda", 9000))
]
_fig = plot_gflops(_demo)
_ax = _fig.axes[0]
assert len(_ax.get_lines()) == 3, "plot_gflops: one line per (device, dtype)"
assert "N" in _ax.get_xlabel(), "plot_gflops: label the x axis 'N'"
assert "GFLOP/s" in _ax.get_ylabel(), "plot_gflops: label the y axis 'GFLOP/s'"
assert _ax.get_legend() is not None, "plot_gflops: add a legend"
plt.close(_fig)
passed("plot_gflops")
### BEGIN HIDDEN TESTS
_not_allowed = ("lapenna_labs", "scipy", "tensorflow", "keras", "jax")  # PyTorch is allowed
_fig = call_blocked(plot_gflops, _demo, block=_not_allowed)
for _line in _fig.axes[0].get_lines():
    assert list(_line.get_xdata()) == [1000, 2000], "plot_gflops: x values must be the sizes N"
plt.close(_fig)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "sweep_run_intro", "locked": true, "schema_version": 3, "solution": false}
# Now the problem itself: $N = 2000, 4000, 6000$ in float32 and float64, on the CPU and, if you
# have one, the GPU. On a 2-core Colab CPU the float64 product at $N = 6000$ takes several
# seconds, so the CPU sweep takes a minute or two. (While the lab is graded the sizes are
# small.)
#
# **What "float32" means on a GPU is a setting.** GPUs of the Ampere generation and newer
# (A100, H100, L4; not the T4) have *tensor cores* that multiply float32 matrices in TF32, a
# format with float32's range but only 10 bits of mantissa, several times faster than in
# FP32. Whether a float32 product uses them is up to the framework, and the defaults differ:
# since version 1.12, PyTorch uses TF32 for float32 matrix products only when asked
# (`torch.backends.cuda.matmul.allow_tf32 = True`, or
# `torch.set_float32_matmul_precision("high")`); TensorFlow uses TF32 by default on those GPUs;
# bfloat16 is never chosen for you (the tensors must be `torch.bfloat16`, or an autocast region
# must ask for it). The next cell sets PyTorch's flag explicitly, so that float32 means FP32,
# and prints it; on a GPU with TF32 tensor cores it also times float32 with TF32 allowed.

# %% nbgrader={"grade": false, "grade_id": "sweep_run", "locked": true, "schema_version": 3, "solution": false}
SIZES = [64, 128] if GRADING else [2000, 4000, 6000]
try:
    results = gemm_table(SIZES, device="cpu", warmup=1, repeats=3)
    if DEVICE == "cuda":  # noqa: F821
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False  # float32 is FP32 (PyTorch's default)
        print(
            f"PyTorch {torch.__version__}: TF32 for float32 matmuls: "
            f"{torch.backends.cuda.matmul.allow_tf32}"
        )
        results += gemm_table(SIZES, device="cuda", warmup=2, repeats=10)
        if torch.cuda.get_device_capability()[0] >= 8:  # Ampere or newer: TF32 tensor cores
            torch.backends.cuda.matmul.allow_tf32 = True
            try:
                _tf32 = gemm_table(SIZES, dtypes=("float32",), device="cuda", repeats=10)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = False
            for _r in _tf32:
                _r["dtype"] = "float32, TF32 allowed"
            results += _tf32
    for _r in results:
        print(f"{_r['device']:>4} {_r['dtype']} N={_r['n']:5d}: {_r['gflops']:10,.1f} GFLOP/s")
    plot_gflops(results)
    plt.show()
except NotImplementedError:
    print("Finish Part 2 first.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "part3_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 3: what does the naive timing measure? (3 points)
#
# `lapenna_labs.blas.naive_time_gemm` reproduces the slides' timing. If you have a GPU, the next
# cell compares it with a correct timing of the same product; think about the numbers before
# answering. Answer each question with one letter in the answer cell, e.g. `Q1 = "a"`.
#
# **Q1.** The slides' GPU code, `t0 = time.time(); C = torch.matmul(A, B); t1 = time.time()`,
# reported 7,077 GFLOP/s for $N = 6000$ in float32. What did it measure?
#
# * (a) the time of the product on the GPU, so 7,077 GFLOP/s is the GPU's real rate
# * (b) the time to copy $A$ and $B$ from the CPU to the GPU
# * (c) mostly the time to *launch* the product: the call returns before the GPU has finished
# * (d) the time of the product on the CPU, because the tensors were created on the CPU
#
# **Q2.** The slides' CPU timing of $N = 2000$ is one call measured with `time.time()` right
# after the matrices were created. Compared with the median of several warm calls, it
#
# * (a) is the same, because NumPy's matmul always takes the same time
# * (b) can be slower: it includes one-off costs (thread start-up, first touch of memory) and
#   any interruption of that single call
# * (c) is always faster, because the caches are empty
# * (d) measures only the memory allocation of `C`
#
# **Q3.** On a CPU, float32 GEMM runs about twice as many GFLOP/s as float64. Why?
#
# * (a) float32 products skip the additions
# * (b) a SIMD register holds twice as many float32 numbers, so each vector FMA does twice
#   the flops (and half the bytes move)
# * (c) NumPy converts float64 to float32 internally
# * (d) float64 needs the GPU
#
# The check after each answer says whether it is right, and why; change your answer and run
# the cells again until you understand each one.
#
# **Library calls.** None: the answers are letters.

# %% nbgrader={"grade": false, "grade_id": "naive_compare", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs import blas, measurements  # noqa: E402

if DEVICE == "cuda":  # noqa: F821
    _naive = blas.naive_time_gemm(6000, "float32", device="cuda")
    print(_naive)
    _right = blas.time_gemm(6000, "float32", device="cuda")
    print(_right)
else:
    print(blas.naive_time_gemm(256 if GRADING else 2000, "float32", device="cpu"))
    # What the comparison gave on a GPU, recorded with its provenance in lapenna_labs.
    _session = {"session": "h100-2026-11-25", "n": 6000, "dtype": "float32"}
    _naive = measurements.recorded_run("gemm_naive", **_session)
    _events = measurements.recorded_run("gemm", **_session)
    print(f"No GPU: the GPU comparison is skipped. Recorded on an {_naive.device} ({_naive.date}):")
    print(f"  naive timing  {_naive.values['gflops']:9,.0f} GFLOP/s: {_naive.statistic}")
    print(f"  CUDA events   {_events.values['gflops']:9,.0f} GFLOP/s: {_events.statistic}")

# %% nbgrader={"grade": false, "grade_id": "answers", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
Q1 = "c"
Q2 = "b"
Q3 = "b"
### END SOLUTION

# %% nbgrader={"grade": false, "grade_id": "choice_feedback", "locked": true, "schema_version": 3, "solution": false}
# Feedback on your answers: whether each is right, and why. The explanations are stored in
# ROT13 and the right letters as hashes, so that reading this cell before you answer does not
# give the answers away. (They are not a secret: the grader checks the answers itself.)
import codecs  # noqa: E402
import hashlib  # noqa: E402


def check_choice(question, answer, right_hash, explanations):
    """Say whether `answer` (one letter) is right, and why; an AssertionError if it is not."""
    letter = answer.strip().lower() if isinstance(answer, str) else None
    assert letter in explanations, f"{question}: answer with one letter, a to d"
    why = codecs.decode(explanations[letter], "rot13")
    digest = hashlib.sha256(f"lapenna lab02 {question} {letter}".encode()).hexdigest()[:16]
    assert digest == right_hash, f"{question}: ({letter}) is not the right answer. {why}"
    print(f"{question}: ({letter}) is right. {why}")


# %% nbgrader={"grade": true, "grade_id": "test_q1", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs.grading import passed  # noqa: E402

check_choice(
    "Q1",
    Q1,
    "7d4782211ae83f03",
    {
        "a": (
            "Vs gur gvzr jrer gur cebqhpg'f, gur engr pbhyq abg rkprrq jung gur TCH "
            "pna qb; ohg gbepu.zngzhy ba PHQN grafbef bayl dhrhrf gur cebqhpg naq "
            "ergheaf ng bapr, fb gur pybpx jnf ernq orsber gur TCH unq qbar gur jbex."
        ),
        "b": (
            "Abguvat vf pbcvrq va gur gvzrq yvar: gbepu.zngzhy(N, O) ba PHQN grafbef "
            "jbexf ba qngn nyernql ba gur TCH. Gur gvzr vf fubeg sbe nabgure ernfba: "
            "gur pnyy ergheaf orsber gur cebqhpg vf qbar."
        ),
        "c": (
            "gbepu.zngzhy ba PHQN grafbef dhrhrf gur cebqhpg ba gur TCH naq ergheaf "
            "ng bapr, fb gvzr.gvzr() vf ernq ybat orsber gur TCH unf svavfurq: gur "
            "gvzr vf zbfgyl gur ynhapu, naq gur engr pbzrf bhg sne gbb uvtu. "
            "Flapuebavfr (gbepu.phqn.flapuebavmr()) be gvzr jvgu PHQN riragf gb "
            "zrnfher gur cebqhpg vgfrys."
        ),
        "d": (
            "PHQN grafbef ner zhygvcyvrq ba gur TCH, jurerire gurve qngn jrer znqr. "
            "Gur ahzore vf gbb uvtu orpnhfr gur pnyy ergheaf orsber gur TCH unf "
            "svavfurq gur cebqhpg."
        ),
    },
)
passed("Q1")
### BEGIN HIDDEN TESTS
assert Q1.strip().lower() == chr(99), "Q1: not the right answer"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_q2", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs.grading import passed  # noqa: E402

check_choice(
    "Q2",
    Q2,
    "af5026c03100a1cb",
    {
        "a": (
            "AhzCl'f zngzhy qbrf gur fnzr jbex rirel gvzr, ohg vgf gvzr inevrf: gur "
            "svefg pnyy cnlf bar-bss pbfgf, naq nal fvatyr pnyy pna or vagreehcgrq ol"
            " gur bcrengvat flfgrz."
        ),
        "b": (
            "Gur svefg pnyy cnlf sbe fgnegvat gur OYNF guernqf naq gbhpuvat serfuyl "
            "nyybpngrq zrzbel, naq n fvatyr fnzcyr unf ab cebgrpgvba ntnvafg na "
            "vagreehcgvba; gur zrqvna bs frireny jnez pnyyf erzbirf obgu."
        ),
        "c": (
            "Rzcgl pnpurf znxr n pnyy fybjre, abg snfgre: gur qngn zhfg svefg pbzr "
            "sebz znva zrzbel."
        ),
        "d": (
            "Nyybpngvat P vf n gval cneg bs gur gvzr: gur pnyy qbrf gur jubyr cebqhpg, 2 A^3 sybcf."
        ),
    },
)
passed("Q2")
### BEGIN HIDDEN TESTS
assert Q2.strip().lower() == chr(98), "Q2: not the right answer"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_q3", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs.grading import passed  # noqa: E402

check_choice(
    "Q3",
    Q3,
    "0a93ce216f447e52",
    {
        "a": ("Obgu cerpvfvbaf qb gur fnzr zhygvcyvrf naq nqqf: 2 A^3 sybcf rvgure jnl."),
        "b": (
            "N FVZQ ertvfgre bs 256 ovgf (NIK2) ubyqf 8 sybng32 ahzoref ohg bayl 4 "
            "sybng64, fb rnpu irpgbe SZN qbrf gjvpr nf znal sybcf va sybng32; naq "
            "rirel ahzore gnxrf unys gur olgrf gb zbir."
        ),
        "c": (
            "AhzCl zhygvcyvrf sybng64 zngevprf va sybng64 (OYNF qtrzz) naq sybng32 "
            "barf va sybng32 (ftrzz): abguvat vf pbairegrq."
        ),
        "d": ("N PCH qbrf sybng64 nevguzrgvp angviryl; ab TCH gnxrf cneg va AhzCl'f cebqhpgf."),
    },
)
passed("Q3")
### BEGIN HIDDEN TESTS
assert Q3.strip().lower() == chr(98), "Q3: not the right answer"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false}
# **Going further (not graded).** In your own words: why does synchronising change the GPU
# number by two orders of magnitude, while on the CPU the naive and the careful timings of a
# large product are close? Which number would you put in a report, and with what spread?
