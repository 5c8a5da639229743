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
# # Lab 1: FLOPS, BLAS levels and the roofline
#
# Week 1 of LAPENNA. A neural network is, computationally, a pile of matrix products. How fast
# a product runs depends less on the processor's peak speed than on how many bytes it must move
# for every floating-point operation it does: its **computational intensity**. In this lab you
#
# | part | what you write | points |
# |---|---|---|
# | 1 | flop and byte counts of AXPY, GEMV and GEMM (BLAS levels 1, 2, 3) | 3 |
# | 2 | a timer (warm-up, repeats, median) and GFLOP/s and GB/s of the three operations | 2 |
# | 3 | the roofline: attainable GFLOP/s and which bound applies | 1 |
# | 4 | a blocked (tiled) matrix multiply, its intensity and its block size | 4 |
# | | **total** | **10** |
#
# Expect one to two hours. Everything runs on a CPU (NumPy, and PyTorch for one kernel).

# %% [markdown] nbgrader={"grade": false, "grade_id": "how_graded", "locked": true, "schema_version": 3, "solution": false}
# **How this lab is graded.** Cells marked *answer* are yours; the cells after them check your work.
# Visible checks run now and tell you what is wrong (never what the right values are); each
# prints "...: the visible checks pass." when yours pass. Hidden checks run only when the
# instructor grades, on other sizes and dtypes than the examples here. Do not rename the
# functions or change their arguments. A cell that runs longer than a minute is stopped.
#
# **Library calls.** Each part says which libraries its answer may call. While the hidden checks
# run your function, the others are *blocked*, under any name you imported them by: the
# course's own `lapenna_labs` (which has every answer of this lab) and the other libraries. A
# call of a blocked function scores zero **for that part only**: it is charged to the function
# that made it. A later part that uses one of your earlier functions is not charged for what
# that function calls (its own part already lost the points), only for its own calls.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch  # for one kernel: AXPY in a single pass (Part 2)

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: counting flops and bytes (3 points)
#
# The three BLAS levels, in their accumulating form, for vectors of length $n$ and $n \times n$
# matrices:
#
# | level | operation | name |
# |---|---|---|
# | 1 | $y \leftarrow \alpha x + y$ | AXPY |
# | 2 | $y \leftarrow A x + y$ | GEMV |
# | 3 | $C \leftarrow A B + C$ | GEMM |
#
# Count **flops**: every multiply and every add is one floating-point operation (an FMA is two).
# Count **bytes**: the compulsory traffic between main memory and the processor, every operand
# crossing the memory bus exactly once: every input that is read, every output that is written
# (an operand that is read *and* written, like $y$ in AXPY, crosses twice). Scalars such as
# $\alpha$ cost nothing. One element takes `itemsize` bytes: 8 for float64, 4 for float32
# (`np.dtype(dtype).itemsize`).
#
# Write three functions that return the pair `(flops, bytes)` as Python integers.
#
# **Library calls.** Allowed: Python and NumPy. Blocked while graded: `lapenna_labs` (it
# has these counts) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "counts", "locked": false, "schema_version": 3, "solution": true}
def axpy_counts(n, dtype="float64"):
    """(flops, bytes) of y <- a x + y with vectors of length n."""
    ### BEGIN SOLUTION
    size = np.dtype(dtype).itemsize
    return 2 * n, 3 * n * size
    ### END SOLUTION


def gemv_counts(n, dtype="float64"):
    """(flops, bytes) of y <- A x + y with an (n, n) matrix A."""
    ### BEGIN SOLUTION
    size = np.dtype(dtype).itemsize
    return 2 * n * n, (n * n + n + 2 * n) * size
    ### END SOLUTION


def gemm_counts(n, dtype="float64"):
    """(flops, bytes) of C <- A B + C with (n, n) matrices."""
    ### BEGIN SOLUTION
    size = np.dtype(dtype).itemsize
    return 2 * n**3, 4 * n * n * size
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_axpy_counts", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

check_close(axpy_counts(1000), (2000, 24000), name="axpy_counts(1000)")
check_close(axpy_counts(1000, "float32"), (2000, 12000), name="axpy_counts(1000, 'float32')")
passed("axpy_counts")
### BEGIN HIDDEN TESTS
check_against_reference(
    axpy_counts,
    lambda n, dt: (blas.axpy_flops(n), blas.axpy_bytes(n, dt)),
    lambda rng, n, dt: (n, dt),
    name="axpy_counts (hidden)",
    cases=(1, 7, 12345),
    dtypes=("float32", "float64"),
    block=(blas.axpy_flops, blas.axpy_bytes, "lapenna_labs", *OTHER_LIBRARIES),
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_gemv_counts", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

# The exact counts for n = 10, with the known mistakes named (the package has the counts).
_flops, _bytes = gemv_counts(10)
check_close(
    _flops,
    blas.gemv_flops(10, 10),
    name="gemv_counts(10) flops",
    common_mistakes={"one flop per entry of A (a multiply and an add are two)": 100},
)
check_close(
    _bytes,
    blas.gemv_bytes(10, 10, "float64"),
    name="gemv_counts(10) bytes",
    common_mistakes={
        "you counted A but not the vectors x and y": 100 * 8,
        "y is read and written: it crosses the bus twice": 120 * 8,
    },
)
check_close(
    gemv_counts(10, "float32")[1],
    blas.gemv_bytes(10, 10, "float32"),
    name="gemv_counts(10, 'float32') bytes",
)
passed("gemv_counts")
### BEGIN HIDDEN TESTS
check_against_reference(
    gemv_counts,
    lambda n, dt: (blas.gemv_flops(n, n), blas.gemv_bytes(n, n, dt)),
    lambda rng, n, dt: (n, dt),
    name="gemv_counts (hidden)",
    cases=(1, 10, 999),
    dtypes=("float32", "float64"),
    block=(blas.gemv_flops, blas.gemv_bytes, "lapenna_labs", *OTHER_LIBRARIES),
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_gemm_counts", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

# The exact counts for n = 10, with the known mistakes named (the package has the counts).
_flops, _bytes = gemm_counts(10)
check_close(
    _flops,
    blas.gemm_flops(10, 10, 10),
    name="gemm_counts(10) flops",
    common_mistakes={"n multiplies per entry of C but no adds (an add is a flop too)": 1000},
)
check_close(
    _bytes,
    blas.gemm_bytes(10, 10, 10, "float64"),
    name="gemm_counts(10) bytes",
    common_mistakes={"C is read and written: it crosses the bus twice": 300 * 8},
)
check_close(
    gemm_counts(10, "float32")[1],
    blas.gemm_bytes(10, 10, 10, "float32"),
    name="gemm_counts(10, 'float32') bytes",
)
passed("gemm_counts")
### BEGIN HIDDEN TESTS
check_against_reference(
    gemm_counts,
    lambda n, dt: (blas.gemm_flops(n, n, n), blas.gemm_bytes(n, n, n, dt)),
    lambda rng, n, dt: (n, dt),
    name="gemm_counts (hidden)",
    cases=(1, 10, 4000),
    dtypes=("float32", "float64"),
    block=(blas.gemm_flops, blas.gemm_bytes, "lapenna_labs", *OTHER_LIBRARIES),
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intensity", "locked": true, "schema_version": 3, "solution": false}
# The **computational intensity** is flops per byte. Run the next cell: AXPY's and GEMV's
# intensities stay below one flop per byte whatever $n$ ($O(1)$: memory bound), GEMM's grows
# like $n$ (the surface-to-volume effect: $O(n^3)$ flops on $O(n^2)$ data).

# %% nbgrader={"grade": false, "grade_id": "intensity_table", "locked": true, "schema_version": 3, "solution": false}
for _n in (10, 100, 1000, 10000):
    _row = [f"n = {_n:>6}"]
    for _name, _counts in (("AXPY", axpy_counts), ("GEMV", gemv_counts), ("GEMM", gemm_counts)):
        try:
            _f, _b = _counts(_n)
            _row.append(f"{_name} {_f / _b:8.3f}")
        except NotImplementedError:
            _row.append(f"{_name}   (todo)")
    print("   ".join(_row), "flop/byte (float64)")

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: measuring (2 points)
#
# A single `time.time()` around one call measures noise as much as the work: the first call
# pays one-off costs (allocating and touching memory, starting BLAS threads), and any call can
# be slowed by the operating system. Write `time_median(fn, repeats=5, warmup=1,
# clock=time.perf_counter)`: call `fn()` `warmup` times without timing it, then `repeats` times,
# each call timed on its own with `clock()` (read the clock right before and right after the
# call), and return the **median** of the `repeats` durations in seconds. (The `clock` argument
# lets the test give you a fake clock; use it, not `time.perf_counter` directly.)
#
# Then write `measure_blas(op, n, dtype="float64", repeats=5)`, which times one operation on
# random data with your `time_median`: `op` is `"axpy"` (vectors of length `n`), `"gemv"` or
# `"gemm"` (`(n, n)` matrices). It returns a dict with `"seconds"` (the median), `"gflops"`
# (flops / seconds / 1e9) and `"gbytes_per_s"` (bytes / seconds / 1e9), from your counts of
# Part 1. Each operation gets its own sizes below: a vector of $10^7$ elements is a small
# problem, a matrix of $10^7 \times 10^7$ is not.
#
# Your counts are the compulsory traffic, so time kernels that move only that:
#
# * **AXPY in one pass.** NumPy has no such kernel: `y += a * x` first writes the temporary
#   `a * x` and then reads it back together with `y`. That is about $5n$ words (read $x$,
#   write and read the temporary, read and write $y$) against the $3n$ of Part 1, so a GB/s
#   computed from $3n$ would understate the real traffic by 40 %. PyTorch's in-place
#   `yt.add_(xt, alpha=a)` reads $x$ and $y$ once and writes $y$ once, as the BLAS's AXPY does.
#   Make `xt = torch.from_numpy(x)` and `yt = torch.from_numpy(y)` from NumPy vectors (they
#   share the arrays' memory: nothing is copied).
# * **GEMV and GEMM in NumPy**, `y += A @ x` and `C += A @ B`. Their temporaries (`A @ x`, of
#   $n$ elements, is nothing next to the $n^2$ of $A$; GEMM is bound by its flops, not its
#   bytes) change little. Inside a nested function (`def gemv(): ...`) write them as
#   `np.add(y, A @ x, out=y)`: a bare `y += ...` there would make `y` a new local.
#
# **Library calls.** Allowed: Python (`time`, `statistics`), NumPy, and PyTorch (for AXPY).
# Blocked while graded: `lapenna_labs` (it has timers: `blas.time_callable`) and the other
# libraries (SciPy, TensorFlow, Keras, JAX). `measure_blas` should use your `time_median` and
# your counts.


# %% nbgrader={"grade": false, "grade_id": "measure", "locked": false, "schema_version": 3, "solution": true}
def time_median(fn, repeats=5, warmup=1, clock=time.perf_counter):
    """Median seconds of `repeats` timed calls of fn(), after `warmup` untimed calls."""
    ### BEGIN SOLUTION
    for _ in range(warmup):
        fn()
    durations = []
    for _ in range(repeats):
        start = clock()
        fn()
        durations.append(clock() - start)
    return float(np.median(durations))
    ### END SOLUTION


def measure_blas(op, n, dtype="float64", repeats=5):
    """Median seconds, GFLOP/s and GB/s of one operation: "axpy" (length n), "gemv", "gemm"."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(0)
    if op == "axpy":
        x = torch.from_numpy(rng.random(n).astype(dtype))
        y = torch.from_numpy(rng.random(n).astype(dtype))

        def run():
            y.add_(x, alpha=1.5)  # y <- 1.5 x + y, one pass over x and y

        counts = axpy_counts
    elif op == "gemv":
        A, x = rng.random((n, n)).astype(dtype), rng.random(n).astype(dtype)
        y = np.zeros(n, dtype=dtype)

        def run():
            np.add(y, A @ x, out=y)

        counts = gemv_counts
    elif op == "gemm":
        A, B = rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype)
        C = np.zeros((n, n), dtype=dtype)

        def run():
            np.add(C, A @ B, out=C)

        counts = gemm_counts
    else:
        raise ValueError(f"measure_blas: op must be 'axpy', 'gemv' or 'gemm', not {op!r}")
    seconds = time_median(run, repeats=repeats)
    flops, nbytes = counts(n, dtype)
    return {
        "seconds": seconds,
        "gflops": flops / seconds / 1e9,
        "gbytes_per_s": nbytes / seconds / 1e9,
    }
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_time_median", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Every test cell imports what it uses: an answer cell cannot shadow it.
import numpy as np  # noqa: E402, F811

from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    FakeClock,
    call_blocked,
    check_close,
    passed,
)

_clock = FakeClock([50.0, 1.0, 3.0, 2.0, 100.0, 4.0])  # each call of _clock.work takes these
_t = time_median(_clock.work, repeats=5, warmup=1, clock=_clock)
assert _clock.calls == 6, f"time_median: fn was called {_clock.calls} times, expected 1 + 5"
assert _t != 22.0, "time_median: that is the mean; the median is robust to one slow repeat"
assert _t != 1.0, "time_median: that is the minimum; return the median"
assert _t != 3.5, "time_median: the warm-up call must not be timed (exclude it)"
check_close(_t, 3.0, name="time_median (1 warm-up, 5 repeats)")
passed("time_median")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(11)
for _w, _r in ((0, 1), (2, 4), (3, 7)):
    _d = list(_rng.uniform(0.5, 9.5, size=_w + _r))
    _clock = FakeClock(_d)
    _t = call_blocked(
        time_median,
        _clock.work,
        repeats=_r,
        warmup=_w,
        clock=_clock,
        block=("lapenna_labs", *OTHER_LIBRARIES),
    )
    assert _clock.calls == _w + _r, "time_median: wrong number of calls of fn"
    check_close(_t, float(np.median(_d[_w:])), name="time_median (other warm-up and repeats)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_measure_blas", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs.grading import call_blocked, check_close, passed  # noqa: E402

# The rates must follow from the median and your counts of Part 1.
_SIZES = {"axpy": (1000, axpy_counts), "gemv": (64, gemv_counts), "gemm": (64, gemm_counts)}
for _op, (_n, _counts) in _SIZES.items():
    _r = measure_blas(_op, _n, "float32", repeats=3)
    assert isinstance(_r, dict), f"measure_blas({_op!r}, ...) must return a dict"
    _missing = {"seconds", "gflops", "gbytes_per_s"} - set(_r)
    assert not _missing, f"measure_blas({_op!r}, ...): no key(s) {sorted(_missing)}"
    assert _r["seconds"] > 0, f"measure_blas({_op!r}, ...): seconds must be positive"
    _f, _b = _counts(_n, "float32")
    check_close(_r["gflops"], _f / _r["seconds"] / 1e9, name=f"measure_blas {_op} gflops")
    check_close(_r["gbytes_per_s"], _b / _r["seconds"] / 1e9, name=f"measure_blas {_op} GB/s")
passed("measure_blas")
### BEGIN HIDDEN TESTS
# Consistent with the student's own counts (wrong counts already lost their points in Part 1).
# PyTorch is allowed (AXPY in one pass).
for _op, _n, _counts in (
    ("axpy", 5000, axpy_counts),
    ("gemv", 50, gemv_counts),
    ("gemm", 50, gemm_counts),
):
    _m = call_blocked(
        measure_blas,
        _op,
        _n,
        "float64",
        repeats=2,
        block=("lapenna_labs", "scipy", "tensorflow", "keras", "jax"),
        graded_elsewhere=(time_median, axpy_counts, gemv_counts, gemm_counts),
    )
    _f, _b = _counts(_n, "float64")
    _s = _m["seconds"]
    assert 0 < _s < 10, f"measure_blas: implausible {_op} time for n = {_n}"
    check_close(_m["gflops"], _f / _s / 1e9, name=f"measure_blas {_op} gflops (float64)")
    check_close(_m["gbytes_per_s"], _b / _s / 1e9, name=f"measure_blas {_op} GB/s (float64)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "sweep_intro", "locked": true, "schema_version": 3, "solution": false}
# Now measure each operation over its own sizes. (When the lab is graded the sizes are kept
# small.) AXPY runs on vectors from $2^{10}$ elements ($x$ and $y$ take 16 KiB in float64,
# inside the smallest cache) to $10^7$ (160 MB, more than the last-level cache of any CPU:
# `lscpu` lists this machine's caches). At the shortest lengths the fixed cost of each call
# (Python, PyTorch's dispatch, the clock) is a large part of the time; while $x$ and $y$ fit
# in a cache, the rate is that cache's; once they no longer fit in the last-level cache, the
# GB/s levels off: that plateau is the memory bandwidth. GEMV's largest matrix (128 MiB at
# $n = 4096$) also comes from memory. GEMM's GFLOP/s should grow with $n$ towards the
# processor's peak.

# %% nbgrader={"grade": false, "grade_id": "sweep", "locked": true, "schema_version": 3, "solution": false}
GRADING = bool(os.environ.get("LAPENNA_GRADING"))
SIZES = {  # each operation's own sizes: vector lengths for AXPY, matrix orders for the others
    "axpy": [2**10, 2**14] if GRADING else [*(2**k for k in range(10, 24, 2)), 10**7],
    "gemv": [64, 128] if GRADING else [64, 256, 1024, 2048, 4096],
    "gemm": [64, 128] if GRADING else [64, 128, 256, 512, 1024, 2048],
}
OPERAND_WORDS = {  # elements of the operands (x and y; A, x and y; A, B and C)
    "axpy": lambda n: 2 * n,
    "gemv": lambda n: n * n + 2 * n,
    "gemm": lambda n: 3 * n * n,
}
measurements = {op: {} for op in SIZES}
try:
    for _op, _sizes in SIZES.items():
        for _n in _sizes:
            _r = measurements[_op][_n] = measure_blas(_op, _n, "float64", repeats=5)
            _mib = OPERAND_WORDS[_op](_n) * 8 / 2**20
            print(
                f"{_op} n = {_n:>10,} ({_mib:9.2f} MiB of operands): "
                f"{_r['gflops']:8.2f} GFLOP/s {_r['gbytes_per_s']:7.2f} GB/s"
            )
except NotImplementedError:
    print("Write measure_blas first.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "part3_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 3: the roofline (1 point)
#
# A kernel of intensity $I$ (flop/byte) on a machine of peak $P$ (GFLOP/s) and memory
# bandwidth $W$ (GB/s) can reach at most $\min(P,\; W \cdot I)$ GFLOP/s: the **roofline**. The
# ridge point $I^* = P / W$ separates memory-bound kernels ($I < I^*$) from compute-bound ones
# ($I \ge I^*$).
#
# Write `attainable_gflops(intensity, peak_gflops, bandwidth_gbs)` (it must work for a number
# and for a NumPy array of intensities) and `bound(intensity, peak_gflops, bandwidth_gbs)`, which
# returns the string `"memory"` or `"compute"` for one intensity.
#
# **Library calls.** Allowed: Python and NumPy. Blocked while graded: `lapenna_labs` (it
# has the roofline) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "roofline", "locked": false, "schema_version": 3, "solution": true}
def attainable_gflops(intensity, peak_gflops, bandwidth_gbs):
    """The roofline min(peak, bandwidth * intensity), for a number or an array."""
    ### BEGIN SOLUTION
    return np.minimum(peak_gflops, bandwidth_gbs * np.asarray(intensity, dtype=float))
    ### END SOLUTION


def bound(intensity, peak_gflops, bandwidth_gbs):
    """'memory' if intensity is below the ridge point peak / bandwidth, else 'compute'."""
    ### BEGIN SOLUTION
    return "memory" if intensity < peak_gflops / bandwidth_gbs else "compute"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_roofline", "locked": true, "points": 1, "schema_version": 3, "solution": false}
import numpy as np  # noqa: E402

from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    call_blocked,
    check_against_reference,
    check_close,
    passed,
)

check_close(attainable_gflops(0.25, 1000.0, 100.0), 25.0, name="attainable_gflops(0.25, 1000, 100)")
check_close(attainable_gflops(50.0, 1000.0, 100.0), 1000.0, name="attainable_gflops(50, 1000, 100)")
assert bound(0.25, 1000.0, 100.0) == "memory", "bound: AXPY-like intensity should be 'memory'"
assert bound(50.0, 1000.0, 100.0) == "compute", "bound: intensity 50 > ridge 10 is 'compute'"
passed("attainable_gflops, bound")
### BEGIN HIDDEN TESTS
check_against_reference(
    attainable_gflops,
    blas.attainable_gflops,
    lambda rng, size, dt: (10.0 ** rng.uniform(-2, 3, size=size), 4700.0, 732.0),
    name="attainable_gflops (hidden, an array)",
    cases=(40,),
    dtypes=(None,),
    view=lambda got: np.asarray(got, dtype=float),
    seed=3,
    block=(blas.attainable_gflops, "lapenna_labs", *OTHER_LIBRARIES),
)
for _i in (0.1, 6.42, 6.43, 200.0):
    _exp = "memory" if _i < 4700.0 / 732.0 else "compute"
    _got = call_blocked(bound, _i, 4700.0, 732.0, block=("lapenna_labs", *OTHER_LIBRARIES))
    assert _got == _exp, "bound: wrong side of the ridge point"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "roofline_plot_intro", "locked": true, "schema_version": 3, "solution": false}
# Place your measurements on a roofline of this machine. The peak is estimated from the CPU's
# clock, cores and vector units (`blas.cpu_peak_estimate`, which prints the clock it assumed:
# a GEMM point above the flat roof means the cores ran faster than that, see week 2); the
# bandwidth is what your AXPY reached at its longest vectors, whose data come from main
# memory. All AXPY points share one intensity, so they stack on one vertical line: those whose
# vectors fit in a cache may rise above the memory roof (a cache has a higher bandwidth of its
# own), the longest sit on it by construction. Where do GEMV and GEMM land, and why?

# %% nbgrader={"grade": false, "grade_id": "roofline_plot", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs import blas  # noqa: E402

try:
    _estimate = blas.cpu_peak_estimate("float64")
    print(_estimate)
    _peak = _estimate.gflops
    _bandwidth = measurements["axpy"][max(measurements["axpy"])]["gbytes_per_s"]
    _I = np.logspace(-2, 3, 200)
    _fig, _ax = plt.subplots(figsize=(6, 4), layout="constrained")
    _ax.loglog(_I, attainable_gflops(_I, _peak, _bandwidth), "k-", label="roofline")
    for (_op, _results), _counts, _marker in zip(
        measurements.items(), (axpy_counts, gemv_counts, gemm_counts), "os^", strict=True
    ):
        _points = [
            (_counts(_n)[0] / _counts(_n)[1], _r["gflops"], _n) for _n, _r in _results.items()
        ]
        _ax.loglog([p[0] for p in _points], [p[1] for p in _points], _marker, label=_op.upper())
        for _intensity, _rate, _n in _points:
            _ax.annotate(
                f"{_n:,}",
                (_intensity, _rate),
                fontsize=6,
                xytext=(3, 0),
                textcoords="offset points",
            )
    _ax.set_xlabel("intensity (flop/byte)")
    _ax.set_ylabel("GFLOP/s")
    _ax.set_title(f"peak ~{_peak:.0f} GFLOP/s, bandwidth ~{_bandwidth:.1f} GB/s (float64)")
    _ax.legend(fontsize=8)
    plt.show()
except (NotImplementedError, NameError, ValueError, KeyError):
    print("Finish Parts 1 to 3 to see the roofline.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "part4_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 4: a blocked matrix multiply (4 points)
#
# GEMM's intensity $n / 16$ flop/byte in float64 ($2n^3$ flops on $4n^2$ words of 8 bytes, your
# count of Part 1) is only reached if every operand crosses the bus once, which needs all three
# $n \times n$ matrices in fast memory. Real caches are small. The
# **blocked** (tiled) product cuts $A$, $B$, $C$ into $N \times N$ grids of $b \times b$ blocks
# ($b = n / N$) and works on one block of each at a time:
#
# ```
# for i in range(N):
#     for j in range(N):
#         load C[i, j]
#         for k in range(N):
#             load A[i, k], B[k, j]
#             C[i, j] += A[i, k] @ B[k, j]      # a b x b product, all in fast memory
#         store C[i, j]
# ```
#
# Write `blocked_matmul(A, B, b)` for an `(m, k)` matrix `A` and a `(k, n)` matrix `B`: loop over
# blocks of size `b` (the blocks at the edges are smaller when a dimension is not a multiple of
# `b`), multiply **blocks only** (NumPy's `@` on blocks of at most `b x b` is fine; the test
# checks that no bigger product is made) and return `C = A @ B` in the inputs' dtype.
#
# Count the slow-memory traffic of the loop above in *words* (elements: the slides' unit for
# this rule, where Part 1 counted bytes; a float64 word is 8 bytes) for $n \times n$ matrices:
# each block of $C$ is loaded and stored once ($2 n^2$ words in all), and each of the
# $N^3$ iterations of the inner loop loads two $b \times b$ blocks. Write
# `blocked_intensity(n, b)`: flops ($2 n^3$) per word moved, for a `b` that divides `n`.
#
# Three $b \times b$ blocks must fit in fast memory of $M$ words, $3 b^2 \le M$. Write
# `block_size_for_cache(cache_bytes, dtype="float64")`: the largest integer $b$ with
# $3 b^2 \le M$, where $M$ is the number of whole elements of `dtype` that fit in `cache_bytes`.
# (The slides write this bound for $N$, the number of blocks; it is the block size $b$.)
#
# **Library calls.** Allowed: Python and NumPy. Blocked while graded: `lapenna_labs` (it has a
# blocked product: `blas.blocked_matmul`) and the other libraries (SciPy, PyTorch, TensorFlow,
# Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "blocked", "locked": false, "schema_version": 3, "solution": true}
def blocked_matmul(A, B, b):
    """A @ B computed block by block with blocks of at most b x b."""
    ### BEGIN SOLUTION
    m, k = A.shape
    n = B.shape[1]
    C = np.zeros((m, n), dtype=np.result_type(A, B))
    for i in range(0, m, b):
        for j in range(0, n, b):
            for p in range(0, k, b):
                C[i : i + b, j : j + b] += A[i : i + b, p : p + b] @ B[p : p + b, j : j + b]
    return C
    ### END SOLUTION


def blocked_intensity(n, b):
    """Flops per word of slow-memory traffic of the blocked n x n product with b x b blocks."""
    ### BEGIN SOLUTION
    N = n // b
    return 2 * n**3 / ((2 * N + 2) * n**2)
    ### END SOLUTION


def block_size_for_cache(cache_bytes, dtype="float64"):
    """Largest b with 3 b**2 <= M, M = elements of dtype that fit in cache_bytes."""
    ### BEGIN SOLUTION
    words = cache_bytes // np.dtype(dtype).itemsize
    b = 0
    while 3 * (b + 1) ** 2 <= words:
        b += 1
    return b
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_blocked_matmul", "locked": true, "points": 2, "schema_version": 3, "solution": false}
import numpy as np  # noqa: E402

from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    call_blocked,
    check_against_reference,
    check_close,
    passed,
)


class _ProductSizes(np.ndarray):
    """An ndarray that records the shapes of the matrix products it takes part in."""

    largest = [0]

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.matmul:
            for _x in inputs:
                _ProductSizes.largest[0] = max(_ProductSizes.largest[0], *np.shape(_x))
        args = [np.asarray(_x) if isinstance(_x, _ProductSizes) else _x for _x in inputs]
        return getattr(ufunc, method)(*args, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.dot, np.matmul, np.einsum, np.tensordot, np.inner, np.vdot):
            for _x in args:
                if isinstance(_x, np.ndarray):
                    _ProductSizes.largest[0] = max(_ProductSizes.largest[0], *_x.shape)
        return super().__array_function__(func, types, args, kwargs)


_rng = np.random.default_rng(0)
_A, _B = _rng.normal(size=(6, 4)), _rng.normal(size=(4, 5))
_C = call_blocked(
    blocked_matmul, _A, _B, 2, block=(blas.blocked_matmul, "lapenna_labs", *OTHER_LIBRARIES)
)
check_close(_C, _A @ _B, name="blocked_matmul (6x4 @ 4x5, b=2)")
_ProductSizes.largest[0] = 0
blocked_matmul(_A.view(_ProductSizes), _B.view(_ProductSizes), 2)
assert _ProductSizes.largest[0] <= 2, "blocked_matmul: multiply b x b blocks, not whole matrices"
passed("blocked_matmul")
### BEGIN HIDDEN TESTS
_cases = [("float64", (7, 9, 5), 3), ("float32", (16, 16, 16), 4), ("float32", (10, 3, 11), 4)]
_cases.append(("float64", (5, 5, 5), 8))


def _matmul_inputs(rng, case, _):
    dtype, (m, k, n), b = case
    return rng.normal(size=(m, k)).astype(dtype), rng.normal(size=(k, n)).astype(dtype), b


check_against_reference(
    blocked_matmul,
    blas.blocked_matmul,
    _matmul_inputs,
    name="blocked_matmul (hidden)",
    cases=_cases,
    dtypes=(None,),
    block=(blas.blocked_matmul, "lapenna_labs", *OTHER_LIBRARIES),
)
for _case in _cases:
    _A, _B, _b = _matmul_inputs(_rng, _case, None)
    _ProductSizes.largest[0] = 0
    call_blocked(blocked_matmul, _A.view(_ProductSizes), _B.view(_ProductSizes), _b)
    assert _ProductSizes.largest[0] <= _b, "blocked_matmul: a product larger than b x b was made"
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_blocked_intensity", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, check_against_reference, passed  # noqa: E402

_q = blocked_intensity(1200, 100)
assert _q != 12.0, "blocked_intensity: you returned N = n / b; the intensity is close to b"
assert _q != 100.0, "blocked_intensity: n / N = b is the limit for large N; count all the words"
assert abs(_q - 100.0) < 10, "blocked_intensity(1200, 100) should be a bit less than b = 100"
passed("blocked_intensity")
### BEGIN HIDDEN TESTS
check_against_reference(
    blocked_intensity,
    lambda n, b: blas.blocked_matmul_intensity(n, n // b),
    lambda rng, case, dt: case,
    name="blocked_intensity (hidden)",
    cases=((1200, 100), (64, 1), (64, 64), (4096, 256)),
    dtypes=(None,),
    view=float,
    block=(blas.blocked_matmul_intensity, "lapenna_labs", *OTHER_LIBRARIES),
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_block_size", "locked": true, "points": 1, "schema_version": 3, "solution": false}
from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, check_against_reference, passed  # noqa: E402

_b = block_size_for_cache(32 * 1024, "float64")
assert isinstance(_b, (int, np.integer)), "block_size_for_cache: return an integer"
assert 3 * _b**2 <= 4096, "block_size_for_cache(32 KiB): three blocks of that size do not fit"
assert 3 * (_b + 1) ** 2 > 4096, "block_size_for_cache(32 KiB): a larger block would still fit"
passed("block_size_for_cache")
### BEGIN HIDDEN TESTS
check_against_reference(
    block_size_for_cache,
    blas.block_size_for_cache,
    lambda rng, case, dt: case,
    name="block_size_for_cache (hidden)",
    cases=((32 * 1024, "float32"), (2**20, "float64"), (100, "float64"), (24, "float64")),
    dtypes=(None,),
    view=int,
    block=(blas.block_size_for_cache, "lapenna_labs", *OTHER_LIBRARIES),
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false}
# Your NumPy `blocked_matmul` is much slower than `A @ B`: every block product is itself a BLAS
# call, and Python's loop overhead dominates. OpenBLAS and cuBLAS do the same tiling in compiled
# code, on several levels (registers, L1, L2, shared memory), which is how GEMM gets close to
# the peak while AXPY and GEMV stay on the bandwidth roof. Next week: timing GEMM correctly on
# a CPU and a GPU.
