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
# # Lab 5: convolution, by hand, in loops, and as one matrix product
#
# Week 5 of LAPENNA. A convolutional layer slides a small filter over an image. In this lab you
# compute one by hand, write it as explicit loops, learn the output-size formula that every
# framework uses, and then turn the whole layer into a single matrix product (im2col), the
# way Caffe, cuDNN's GEMM path and most CPU libraries compute it. Max pooling closes the lab.
#
# | part | what you write | points |
# |---|---|---|
# | 1 | a 3x3 output computed by hand | 1 |
# | 2 | `conv_output_size`, with padding, stride and dilation | 1 |
# | 3 | `conv2d_forward_naive`, the convolution as loops | 3 |
# | 4 | `im2col`, and `conv2d_gemm`: the convolution as one GEMM | 3 |
# | 5 | `max_pool2d_forward` | 2 |
# | | **total** | **10** |
#
# Expect two hours. Everything runs on a CPU.
#
# **Conventions** (those of PyTorch, cs231n and `lapenna_labs`): a batch of images is stored
# NCHW, so `x` has shape `(N, C, H, W)` (images, channels, height, width); filters `w` have
# shape `(F, C, KH, KW)` (F filters, each C x KH x KW) and the bias `b` has shape `(F,)`. The
# output has shape `(N, F, OH, OW)`. What deep-learning libraries call a convolution is a
# *cross-correlation*: the filter is **not** flipped,
#
# $$\text{out}[n, f, i, j] = b_f + \sum_{c=0}^{C-1} \sum_{u=0}^{KH-1} \sum_{v=0}^{KW-1}
#   x_{\text{pad}}[n, c,\; i s + u,\; j s + v]\; w[f, c, u, v],$$
#
# with stride $s$ and $x_{\text{pad}}$ the input with `padding` zeros on each side. Keep the
# dtype you are given: float32 in, float32 out.

# %% [markdown] nbgrader={"grade": false, "grade_id": "how_graded", "locked": true, "schema_version": 3, "solution": false}
# **How this lab is graded.** Cells marked *answer* are yours; the cells after them check your work.
# Visible checks run now and tell you what is wrong (never what the right values are); each
# prints "...: the visible checks pass." when yours pass. Hidden checks run only when the
# instructor grades, on fresh random inputs in float32 and float64 as well as on the worked
# numbers, so make your functions work for any shape the docstring allows. Do not rename the
# functions or change their arguments.
#
# **Library calls.** Each part says which libraries its answer may call. While the hidden checks
# run your function, the others are *blocked*, under any name you imported them by: the
# course's own `lapenna_labs` (which has every answer of this lab, `conv.im2col` among them)
# and the other libraries (SciPy, so `scipy.signal`; PyTorch, so `torch.nn.functional.conv2d`;
# TensorFlow, so `tf.nn.conv2d`; Keras; JAX). A call of a blocked function scores zero **for
# that part only**: it is charged to the function that made it. A later part that uses one of
# your earlier functions (Part 4's `conv2d_gemm` uses your `im2col` and `conv_output_size`) is
# not charged for what that function calls (its own part already lost the points), only for
# its own calls.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import numpy as np

np.set_printoptions(precision=4, suppress=True)

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: a convolution by hand (1 point)
#
# Slide the 3x3 kernel `K` over the 5x5 input `X` below, with stride 1 and no padding ("valid"):
# the output is 3x3. Entry $(i, j)$ is the sum of the nine products of `K` with the 3x3 window
# of `X` whose top-left corner is $(i, j)$. Do it on paper, then type the nine numbers into
# `HAND_OUT` as a 3x3 array of floats. `K` is the Sobel filter: it responds to a change from
# left to right, so look at where `X` brightens or darkens along its rows.
#
# The top-left entry, as an example:
# $1\cdot1 + 2\cdot0 + 0\cdot(-1) + 0\cdot2 + 1\cdot0 + 3\cdot(-2) + 2\cdot1 + 0\cdot0 + 1\cdot(-1)
#  = -4.$
#
# **Library calls.** None: this is a number you compute by hand. (You *could* compute it in
# NumPy; you would learn nothing, and Part 3 asks for the code anyway.)

# %% nbgrader={"grade": false, "grade_id": "hand_setup", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.examples.week05 import HAND_INPUT as X  # noqa: E402
from lapenna_labs.examples.week05 import HAND_KERNEL as K  # noqa: E402

print("X =\n", X, "\nK =\n", K)

# %% nbgrader={"grade": false, "grade_id": "hand_out", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
HAND_OUT = np.array(
    [
        [-4.0, -1.0, 0.0],
        [-2.0, 1.0, 2.0],
        [-1.0, 3.0, 2.0],
    ]
)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_hand_out", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1: the convolution by hand
import numpy as np  # noqa: E402

from lapenna_labs.examples import week05 as ref_examples  # noqa: E402
from lapenna_labs.grading import check_close, passed  # noqa: E402

expected = ref_examples.conv_by_hand()["out"]
given_x, given_k = ref_examples.HAND_INPUT, ref_examples.HAND_KERNEL
assert np.shape(HAND_OUT) == (3, 3), (
    "HAND_OUT must be a 3x3 array: a 3x3 kernel fits in 5 - 3 + 1 = 3 positions along each axis"
)
check_close(
    HAND_OUT,
    expected,
    name="HAND_OUT",
    common_mistakes={
        "the kernel flipped (a mathematician's convolution, not a cross-correlation)": (
            ref_examples.conv_by_hand(given_x, given_k[::-1, ::-1])["out"]
        ),
        "rows and columns swapped (the transpose)": expected.T,
        "the transposed kernel (K.T slid over X)": ref_examples.conv_by_hand(given_x, given_k.T)[
            "out"
        ],
    },
)
passed("HAND_OUT")
### BEGIN HIDDEN TESTS
check_close(np.asarray(HAND_OUT, dtype=float), expected, name="HAND_OUT (hidden)")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: the output size (1 point)
#
# Along one axis, an input of length $n$ padded with $p$ zeros on each side, a kernel of length
# $k$ with dilation $d$ (taps $d$ apart, so the kernel spans $d(k-1)+1$ inputs) and stride $s$
# give
#
# $$o = \left\lfloor \frac{n + 2p - d(k - 1) - 1}{s} \right\rfloor + 1 .$$
#
# This is PyTorch's formula (`torch.nn.Conv2d`'s documentation) and that of Dumoulin and
# Visin's *guide to convolution arithmetic*. The floor means that trailing input a stride does
# not reach is dropped. Write `conv_output_size(n, k, stride=1, padding=0, dilation=1)`,
# returning a Python `int`. Raise `ValueError` when the (padded) input is shorter than the
# kernel's span, so that $o$ would be $0$ or less.
#
# **Library calls.** Allowed: plain Python and NumPy. Blocked while graded: `lapenna_labs`
# (it has `conv.output_size`) and the other libraries.


# %% nbgrader={"grade": false, "grade_id": "conv_output_size", "locked": false, "schema_version": 3, "solution": true}
def conv_output_size(n, k, stride=1, padding=0, dilation=1):
    """Output length along one axis of a convolution or pooling window (an int >= 1)."""
    ### BEGIN SOLUTION
    span = dilation * (k - 1) + 1
    if n + 2 * padding < span:
        raise ValueError(
            f"conv_output_size: the padded input ({n + 2 * padding}) is shorter "
            f"than the kernel's span ({span})"
        )
    return (n + 2 * padding - span) // stride + 1
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv_output_size", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 2: conv_output_size
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, check_against_reference, passed  # noqa: E402

named_cases = {
    "LeNet's first layer: 28, k = 5, padding 2": (28, 5, 1, 2, 1),
    "ResNet's stem: 224, k = 7, stride 2, padding 3": (224, 7, 2, 3, 1),
    "a 2x2 pool: 28, k = 2, stride 2": (28, 2, 2, 0, 1),
    "a stride that leaves a column out: 6, k = 3, stride 2": (6, 3, 2, 0, 1),
    "dilation 2: 10, k = 3, dilation 2": (10, 3, 1, 0, 2),
}
for what, args in named_cases.items():
    got = conv_output_size(*args)
    assert isinstance(got, (int, np.integer)), f"conv_output_size({what}) must return an int"
    right = ref.output_size(*args)
    if got != right:
        hints = []
        if got == right + 1 or got == right - 1:
            hints.append("off by one: is there a + 1 after the division, and a - 1 in the span?")
        if args[2] > 1:
            hints.append("with a stride, divide before adding 1, and round down")
        if args[4] > 1:
            hints.append("a dilated kernel spans d (k - 1) + 1 inputs")
        raise AssertionError(f"conv_output_size for {what}: wrong. " + " ".join(hints))
try:
    conv_output_size(2, 3)
except ValueError:
    pass
else:
    raise AssertionError("conv_output_size(2, 3) must raise ValueError: a 3-tap kernel cannot fit")
passed("conv_output_size")


### BEGIN HIDDEN TESTS
def size_inputs(rng, case, dtype):
    k, stride, dilation = (int(v) for v in rng.integers(1, 5, size=3))
    padding = int(rng.integers(0, 3))
    n = dilation * (k - 1) + 1 + int(rng.integers(0, 30))
    return (n, k, stride, padding, dilation)


check_against_reference(
    conv_output_size,
    ref.output_size,
    size_inputs,
    name="conv_output_size (hidden)",
    cases=range(25),
    dtypes=(None,),
    block=(ref.output_size, "lapenna_labs", *OTHER_LIBRARIES),
    seed=501,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part3_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 3: the convolution as loops (3 points)
#
# Write `conv2d_forward_naive(x, w, b, stride=1, padding=0)`, the formula at the top of the lab,
# for an NCHW batch: pad `x` with zeros (`np.pad` on the last two axes only), then loop over the
# images, the filters and the output pixels, and take each window's product with the filter,
# summed over channels and taps. Use your `conv_output_size` for OH and OW. `stride` and
# `padding` are ints (the same along both axes). Return `out` of shape `(N, F, OH, OW)` in
# `x`'s dtype, and raise `ValueError` when `w`'s channel count differs from `x`'s.
#
# This is the teaching version: it is slow (four Python loops), and it is the definition that
# Part 4's fast version must agree with.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# `conv.conv2d_forward_naive` and `conv.conv2d_forward`) and the other libraries, among them
# `scipy.signal`, `torch.nn.functional.conv2d` and `tf.nn.conv2d`.


# %% nbgrader={"grade": false, "grade_id": "conv2d_forward_naive", "locked": false, "schema_version": 3, "solution": true}
def conv2d_forward_naive(x, w, b, stride=1, padding=0):
    """Cross-correlation of x (N, C, H, W) with w (F, C, KH, KW) plus b (F,): (N, F, OH, OW)."""
    ### BEGIN SOLUTION
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1]:
        raise ValueError(
            f"conv2d_forward_naive: need x (N, C, H, W) and w (F, C, KH, KW), "
            f"got {x.shape} and {w.shape}"
        )
    n_images, _, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh = conv_output_size(height, kh, stride, padding)
    ow = conv_output_size(width, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.empty((n_images, n_filters, oh, ow), dtype=x.dtype)
    for n in range(n_images):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    window = xp[n, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out
    ### END SOLUTION


# %%
# Try it (not graded): the Sobel filter of Part 1 as a 1-image, 1-channel, 1-filter batch.
print(conv2d_forward_naive(X[None, None], K[None, None], np.zeros(1))[0, 0])


# %% nbgrader={"grade": true, "grade_id": "test_conv2d_naive_valid", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Part 3a: conv2d_forward_naive, stride 1 and no padding
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    arrays_and_options,
    check_against_reference,
    check_close,
    passed,
)


def reference_conv(x, w, b, stride=1, padding=0):
    return ref.conv2d_forward(x, w, b, stride=stride, padding=padding)[0]


rng = np.random.default_rng(5)
x, w, b = (
    rng.standard_normal((2, 3, 6, 5)),
    rng.standard_normal((4, 3, 3, 2)),
    rng.standard_normal(4),
)
out = conv2d_forward_naive(x, w, b)
assert np.shape(out) == (2, 4, 4, 4), (
    "conv2d_forward_naive: for x (2, 3, 6, 5) and w (4, 3, 3, 2) out must be (N, F, OH, OW) = "
    "(2, 4, 4, 4)"
)
check_close(
    out,
    reference_conv(x, w, b),
    name="conv2d_forward_naive, x (2, 3, 6, 5), w (4, 3, 3, 2)",
    common_mistakes={
        "no bias": reference_conv(x, w, np.zeros(4)),
        "the kernel flipped (a true convolution; frameworks do not flip)": reference_conv(
            x, w[:, :, ::-1, ::-1].copy(), b
        ),
    },
)
out32 = conv2d_forward_naive(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32))
assert np.asarray(out32).dtype == np.float32, "conv2d_forward_naive: float32 in, float32 out"
try:
    conv2d_forward_naive(x, rng.standard_normal((4, 2, 3, 3)), b)
except ValueError:
    pass
else:
    raise AssertionError(
        "conv2d_forward_naive must raise ValueError when w has 2 channels and x has 3"
    )
passed("conv2d_forward_naive (stride 1, no padding)")


### BEGIN HIDDEN TESTS
check_against_reference(
    conv2d_forward_naive,
    reference_conv,
    arrays_and_options(3),
    name="conv2d_forward_naive (hidden; shapes of x, w and b, stride, padding)",
    cases=[
        ((1, 1, 3, 3), (1, 1, 3, 3), (1,), 1, 0),
        ((2, 3, 7, 6), (4, 3, 3, 3), (4,), 1, 0),
        ((1, 2, 5, 8), (3, 2, 1, 4), (3,), 1, 0),
    ],
    block=(ref.conv2d_forward, ref.conv2d_forward_naive, "lapenna_labs", *OTHER_LIBRARIES),
    graded_elsewhere=(conv_output_size,),
    seed=502,
    atol=1e-5,  # a correct float32 sum in another order can miss 1e-6 near zero
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_naive_stride_padding", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 3b: conv2d_forward_naive with stride and padding
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    arrays_and_options,
    check_against_reference,
    check_close,
    passed,
)


def reference_conv(x, w, b, stride=1, padding=0):
    return ref.conv2d_forward(x, w, b, stride=stride, padding=padding)[0]


rng = np.random.default_rng(6)
x, w, b = (
    rng.standard_normal((1, 2, 7, 7)),
    rng.standard_normal((3, 2, 3, 3)),
    rng.standard_normal(3),
)
for stride, padding, shape in [(1, 1, (1, 3, 7, 7)), (2, 0, (1, 3, 3, 3)), (2, 1, (1, 3, 4, 4))]:
    out = conv2d_forward_naive(x, w, b, stride=stride, padding=padding)
    assert np.shape(out) == shape, (
        f"conv2d_forward_naive(stride={stride}, padding={padding}) on a 7x7 input with a 3x3 "
        f"kernel must have shape {shape}: use conv_output_size"
    )
    check_close(
        out,
        reference_conv(x, w, b, stride, padding),
        name=f"conv2d_forward_naive, stride {stride}, padding {padding}",
    )
passed("conv2d_forward_naive (stride and padding)")
### BEGIN HIDDEN TESTS
check_against_reference(
    conv2d_forward_naive,
    reference_conv,
    arrays_and_options(3),
    name="conv2d_forward_naive (hidden; shapes of x, w and b, stride, padding)",
    cases=[
        ((2, 3, 8, 7), (2, 3, 3, 3), (2,), 2, 1),
        ((1, 2, 9, 9), (3, 2, 5, 5), (3,), 1, 2),
        ((1, 1, 6, 9), (2, 1, 2, 3), (2,), 3, 0),
    ],
    block=(ref.conv2d_forward, ref.conv2d_forward_naive, "lapenna_labs", *OTHER_LIBRARIES),
    graded_elsewhere=(conv_output_size,),
    seed=503,
    atol=1e-5,  # a correct float32 sum in another order can miss 1e-6 near zero
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part4_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 4: the convolution as one matrix product (3 points)
#
# Every output pixel is a dot product of one C·KH·KW window of the (padded) input with each
# filter. Copy every window into one row of a matrix `cols` and the whole layer is one GEMM
# (Chellapilla, Puri and Simard, 2006):
#
# $$\underbrace{\text{out}}_{M \times F} = \underbrace{\text{cols}}_{M \times K}\;
#   \underbrace{W^\top}_{K \times F}, \qquad M = N \cdot OH \cdot OW, \quad K = C \cdot KH \cdot KW,$$
#
# where row $W_f$ is filter $f$ flattened, `w.reshape(F, -1)`.
#
# **4a (2 points).** Write `im2col(x, kh, kw, stride=1, padding=0)`, returning `cols` of shape
# `(N·OH·OW, C·KH·KW)` in `x`'s dtype. Row `(n·OH + i)·OW + j` holds the window of output
# pixel `(n, i, j)`, and its columns run over `(c, u, v)` in that order, exactly as
# `window.reshape(-1)` of the window `xp[n, :, i·s : i·s + KH, j·s : j·s + KW]` would give.
# A loop over the KH·KW kernel offsets (each one copies a strided slice of the padded input for
# all images, channels and output pixels at once) is fast enough; a loop over pixels is not
# needed.
#
# **4b (1 point).** Write `conv2d_gemm(x, w, b, stride=1, padding=0)`: `im2col`, then **one**
# matrix product with the reshaped filters, plus the bias, then reshape the `(M, F)` result to
# `(N, F, OH, OW)` (careful: rows run over `(n, i, j)`, so reshape to `(N, OH, OW, F)` first,
# then move the F axis).
#
# **Library calls.** Allowed: NumPy (`np.lib.stride_tricks` included). Blocked while graded:
# `lapenna_labs` (it has `conv.im2col` and `conv.conv2d_forward`) and the other libraries.
# `conv2d_gemm` may use your `im2col` and `conv_output_size`.


# %% nbgrader={"grade": false, "grade_id": "im2col", "locked": false, "schema_version": 3, "solution": true}
def im2col(x, kh, kw, stride=1, padding=0):
    """Every KH x KW window of x (N, C, H, W) as a row: cols of shape (N*OH*OW, C*KH*KW)."""
    ### BEGIN SOLUTION
    x = np.asarray(x)
    n_images, channels, height, width = x.shape
    oh = conv_output_size(height, kh, stride, padding)
    ow = conv_output_size(width, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.empty((n_images, oh, ow, channels, kh, kw), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            rows = xp[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride]
            windows[:, :, :, :, u, v] = rows.transpose(0, 2, 3, 1)
    return windows.reshape(n_images * oh * ow, channels * kh * kw)
    ### END SOLUTION


def conv2d_gemm(x, w, b, stride=1, padding=0):
    """The convolution of Part 3 as im2col and one GEMM: (N, F, OH, OW)."""
    ### BEGIN SOLUTION
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    n_images, _, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh = conv_output_size(height, kh, stride, padding)
    ow = conv_output_size(width, kw, stride, padding)
    cols = im2col(x, kh, kw, stride, padding)
    out = cols @ w.reshape(n_filters, -1).T + b
    return out.reshape(n_images, oh, ow, n_filters).transpose(0, 3, 1, 2)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_im2col", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Part 4a: im2col
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    arrays_and_options,
    check_against_reference,
    check_close,
    passed,
)


def reference_im2col(x, kh, kw, stride=1, padding=0):
    return ref.im2col(x, (kh, kw), stride=stride, padding=padding)


x_small = np.arange(9.0).reshape(1, 1, 3, 3)
cols = im2col(x_small, 2, 2)
assert np.shape(cols) == (4, 4), (
    "im2col(3x3 input, 2x2 kernel) must be (N*OH*OW, C*KH*KW) = (4, 4): one row per window"
)
check_close(cols, reference_im2col(x_small, 2, 2), name="im2col(arange(9) as 1x1x3x3, 2x2)")
rng = np.random.default_rng(7)
x = rng.standard_normal((2, 3, 5, 4))
expected = reference_im2col(x, 3, 2)
cols = im2col(x, 3, 2)
assert np.shape(cols) == expected.shape, (
    f"im2col(x (2, 3, 5, 4), 3, 2) must have shape (N*OH*OW, C*KH*KW) = {expected.shape}"
)
oh, ow = 3, 3
check_close(
    cols,
    expected,
    name="im2col(x (2, 3, 5, 4), kh=3, kw=2)",
    common_mistakes={
        "columns in (u, v, c) order instead of (c, u, v)": expected.reshape(-1, 3, 3, 2)
        .transpose(0, 2, 3, 1)
        .reshape(expected.shape),
        "rows in (i, j, n) order instead of (n, i, j)": expected.reshape(2, oh, ow, -1)
        .transpose(1, 2, 0, 3)
        .reshape(expected.shape),
    },
)
check_close(
    im2col(x, 3, 3, stride=2, padding=1),
    reference_im2col(x, 3, 3, stride=2, padding=1),
    name="im2col, stride 2 and padding 1",
)
assert np.asarray(im2col(x.astype(np.float32), 2, 2)).dtype == np.float32, (
    "im2col: float32 in, float32 out"
)
passed("im2col")


### BEGIN HIDDEN TESTS
check_against_reference(
    im2col,
    reference_im2col,
    arrays_and_options(1),
    name="im2col (hidden; (N, C, H, W), KH, KW, stride, padding)",
    cases=[
        ((1, 1, 4, 4), 1, 1, 1, 0),
        ((3, 2, 6, 7), 3, 3, 1, 1),
        ((2, 4, 9, 8), 2, 3, 2, 0),
        ((1, 3, 7, 7), 5, 5, 2, 2),
    ],
    block=(ref.im2col, "lapenna_labs", *OTHER_LIBRARIES),
    graded_elsewhere=(conv_output_size,),
    seed=504,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_gemm", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 4b: conv2d_gemm
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    arrays_and_options,
    check_against_reference,
    check_close,
    passed,
)


def reference_conv(x, w, b, stride=1, padding=0):
    return ref.conv2d_forward(x, w, b, stride=stride, padding=padding)[0]


rng = np.random.default_rng(8)
x, w, b = (
    rng.standard_normal((2, 3, 6, 6)),
    rng.standard_normal((4, 3, 3, 3)),
    rng.standard_normal(4),
)
expected = reference_conv(x, w, b, 1, 1)
out = conv2d_gemm(x, w, b, stride=1, padding=1)
assert np.shape(out) == expected.shape, f"conv2d_gemm must return (N, F, OH, OW) = {expected.shape}"
check_close(
    out,
    expected,
    name="conv2d_gemm, x (2, 3, 6, 6), w (4, 3, 3, 3), padding 1",
    common_mistakes={
        "(M, F) reshaped straight to (N, F, OH, OW), mixing pixels and filters": (
            expected.transpose(0, 2, 3, 1).reshape(expected.shape)
        ),
        "no bias": reference_conv(x, w, np.zeros(4), 1, 1),
    },
)
check_close(
    conv2d_gemm(x, w, b, stride=2), reference_conv(x, w, b, 2, 0), name="conv2d_gemm, stride 2"
)
passed("conv2d_gemm")
### BEGIN HIDDEN TESTS
check_against_reference(
    conv2d_gemm,
    reference_conv,
    arrays_and_options(3),
    name="conv2d_gemm (hidden; shapes of x, w and b, stride, padding)",
    cases=[
        ((1, 1, 3, 3), (1, 1, 3, 3), (1,), 1, 0),
        ((4, 3, 10, 9), (8, 3, 3, 3), (8,), 1, 1),
        ((2, 6, 11, 11), (5, 6, 5, 5), (5,), 2, 2),
    ],
    block=(ref.conv2d_forward, ref.im2col, "lapenna_labs", *OTHER_LIBRARIES),
    graded_elsewhere=(im2col, conv_output_size),
    seed=505,
    atol=1e-5,  # a correct float32 sum in another order can miss 1e-6 near zero
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "speed_intro", "locked": true, "schema_version": 3, "solution": false}
# **Why bother?** The next cell (not graded) times your two versions on one LeNet-sized layer
# (a batch of 8 images of 1 x 28 x 28, six 5x5 filters, padding 2) with the course's timer,
# which warms up and reports the median of repeats. The loops make one small NumPy call per
# output pixel and filter; the GEMM makes one large call that runs at BLAS speed. `cols` costs
# memory: about KH·KW = 25 times the input here. Week 7 weighs that price against the
# alternatives (FFT, Winograd).

# %% nbgrader={"grade": false, "grade_id": "speed_demo", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.blas import time_callable  # noqa: E402

_rng = np.random.default_rng(9)
_x = _rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
_w = _rng.standard_normal((6, 1, 5, 5)).astype(np.float32)
_b = np.zeros(6, dtype=np.float32)
_loops = time_callable(lambda: conv2d_forward_naive(_x, _w, _b, padding=2), warmup=1, repeats=3)
_gemm = time_callable(lambda: conv2d_gemm(_x, _w, _b, padding=2), warmup=1, repeats=5)
print(
    f"loops: {_loops.median * 1e3:.1f} ms, im2col + GEMM: {_gemm.median * 1e3:.2f} ms, "
    f"{_loops.median / _gemm.median:.0f} times faster"
)
print(f"cols holds {im2col(_x, 5, 5, padding=2).size / _x.size:.0f} times as many numbers as x")

# %% [markdown] nbgrader={"grade": false, "grade_id": "part5_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 5: max pooling (2 points)
#
# A max pool keeps the largest entry of each `kernel_size x kernel_size` window, channel by
# channel; it has no weights. Write `max_pool2d_forward(x, kernel_size, stride=None)` for an
# NCHW batch: `stride=None` means `stride = kernel_size` (non-overlapping windows, the usual
# 2x2 pool that halves the height and the width), and windows may overlap when the stride is
# smaller than the kernel (AlexNet's 3x3 pool at stride 2). No padding. The output has shape
# `(N, C, OH, OW)` with the Part 2 formula, in `x`'s dtype.
#
# **Library calls.** Allowed: NumPy (`np.lib.stride_tricks` included). Blocked while graded:
# `lapenna_labs` (it has `conv.max_pool2d_forward`) and the other libraries
# (`torch.nn.functional.max_pool2d`, `tf.nn.max_pool2d`...). You may use your
# `conv_output_size`.


# %% nbgrader={"grade": false, "grade_id": "max_pool2d_forward", "locked": false, "schema_version": 3, "solution": true}
def max_pool2d_forward(x, kernel_size, stride=None):
    """The maximum of each kernel_size x kernel_size window of x (N, C, H, W): (N, C, OH, OW)."""
    ### BEGIN SOLUTION
    x = np.asarray(x)
    stride = kernel_size if stride is None else stride
    height, width = x.shape[2:]
    oh = conv_output_size(height, kernel_size, stride)
    ow = conv_output_size(width, kernel_size, stride)
    out = np.full(x.shape[:2] + (oh, ow), -np.inf, dtype=x.dtype)
    for u in range(kernel_size):
        for v in range(kernel_size):
            taps = x[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride]
            out = np.maximum(out, taps)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_max_pool2d_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Part 5: max_pool2d_forward
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    arrays_and_options,
    check_against_reference,
    check_close,
    passed,
)


def reference_max_pool(x, kernel_size, stride=None):
    return ref.max_pool2d_forward(x, kernel_size, stride)[0]


def reference_avg_pool(x, kernel_size, stride=None):
    return ref.avg_pool2d_forward(x, kernel_size, stride)[0]


x_small = np.array([[[[1.0, 3, 2, 0], [4, 2, 1, 5], [0, 1, 3, 2], [2, 6, 1, 1]]]])
out = max_pool2d_forward(x_small, 2)
assert np.shape(out) == (1, 1, 2, 2), (
    "max_pool2d_forward(4x4, 2) must be 2x2: stride=None means stride = kernel_size"
)
check_close(
    out,
    reference_max_pool(x_small, 2),
    name="max_pool2d_forward(4x4 example, 2)",
    common_mistakes={"the average, not the maximum": reference_avg_pool(x_small, 2)},
)
rng = np.random.default_rng(10)
x = rng.standard_normal((2, 3, 7, 7))
check_close(
    max_pool2d_forward(x, 3, 2),
    reference_max_pool(x, 3, 2),
    name="max_pool2d_forward(x (2, 3, 7, 7), 3, stride=2), overlapping windows",
)
check_close(
    max_pool2d_forward(-np.abs(x), 2),
    reference_max_pool(-np.abs(x), 2),
    name="max_pool2d_forward of an all-negative input (a window's maximum can be below 0)",
)
assert np.asarray(max_pool2d_forward(x.astype(np.float32), 2)).dtype == np.float32, (
    "max_pool2d_forward: float32 in, float32 out"
)
passed("max_pool2d_forward")


### BEGIN HIDDEN TESTS
check_against_reference(
    max_pool2d_forward,
    reference_max_pool,
    arrays_and_options(1),
    name="max_pool2d_forward (hidden; shape, kernel_size, stride)",
    cases=[
        ((1, 1, 2, 2), 2, None),
        ((3, 4, 8, 6), 2, None),
        ((2, 3, 9, 9), 3, 2),
        ((2, 2, 7, 10), 3, None),
        ((1, 2, 6, 6), 2, 1),
    ],
    block=(ref.max_pool2d_forward, "lapenna_labs", *OTHER_LIBRARIES),
    graded_elsewhere=(conv_output_size,),
    seed=506,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "wrapup", "locked": true, "schema_version": 3, "solution": false}
# ## What you built
#
# Your `conv2d_gemm` is the forward pass of a convolutional layer the way most libraries compute
# it on a CPU: an unfolding (im2col) and one GEMM, the level-3 BLAS call of week 1 with its high
# intensity. Week 6 runs it backwards: the gradient of the weights is another GEMM with the
# same `cols`, and the gradient of the input folds a GEMM's result back into image shape
# (col2im). Week 7 builds whole networks from these layers and counts their flops.
