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
# # Lab 6: backpropagation through a convolutional network, and batch normalization
#
# Week 6 of LAPENNA. Last week you ran a convolutional layer and a max pool forward. This week
# you run them backwards: the gradients of the loss with respect to a convolution's input, filters
# and biases, checked against central differences; the gradient of a max pool, which routes
# each output's gradient to one entry of its window; the gradients of a whole small
# conv-relu-pool-dense network, computed with your own pieces; and the backward pass of batch
# normalization, whose batch statistics make every sample's gradient depend on the others.
#
# | part | what you write | points |
# |---|---|---|
# | 1 | `conv2d_backward` (dx, dw, db), and `numerical_gradient_array`: a gradient check of it | 4 |
# | 2 | `max_pool2d_backward`, with the tie rule | 2 |
# | 3 | the gradients of the worked conv-relu-pool-dense example | 2 |
# | 4 | `batchnorm_backward` (dx, dgamma, dbeta) | 2 |
# | | **total** | **10** |
#
# Expect two hours. Everything runs on a CPU in a few seconds.
#
# **Conventions** (those of lab 5, PyTorch, cs231n and `lapenna_labs`): a batch of images is
# NCHW, `x` has shape `(N, C, H, W)`; filters `w` have shape `(F, C, KH, KW)` and the bias `b`
# has shape `(F,)`; a convolution is a *cross-correlation* (the filter is not flipped). A forward
# function returns `(out, cache)`, and its backward function takes `(dout, cache)`, where
# `dout` is the gradient of the loss with respect to `out` and has `out`'s shape. Every gradient
# has the shape of the thing it is the gradient of. Keep the dtype (float32 in, float32 out).

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
# course's own `lapenna_labs` (which has every answer of this lab: `conv.conv2d_backward`,
# `conv.max_pool2d_backward`, `norm.batchnorm_backward`, `gradcheck.numerical_gradient`) and
# the other libraries (SciPy, so `scipy.signal`; PyTorch, so `torch.nn.functional.conv2d` and
# autograd; TensorFlow, so `tf.nn.conv2d` and `tf.GradientTape`; Keras; JAX). A call of a
# blocked function scores zero **for that part only**: it is charged to the function that made
# it. A later part that uses one of your earlier functions (Part 3 uses your
# `conv2d_backward` and `max_pool2d_backward`) is not charged for what that function calls (its
# own part already lost the points), only for its own calls.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import numpy as np

np.set_printoptions(precision=4, suppress=True)

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: the backward pass of a convolution (4 points)
#
# The forward pass is given below (lab 5's layer, written with one loop over the KH·KW kernel
# offsets instead of four loops over pixels). With stride $s$ and $x_{\text{pad}}$ the input
# with `padding` zeros on each side,
#
# $$\text{out}[n, f, i, j] = b_f + \sum_{c, u, v}
#   x_{\text{pad}}[n, c,\; i s + u,\; j s + v]\; w[f, c, u, v].$$
#
# It returns `(out, cache)` with **`cache = (x, w, b, stride, padding)`**: the unpadded input,
# the filters, the biases and the two ints.
#
# Each output entry is a sum of products, so the chain rule hands `dout[n, f, i, j]` to every
# term of that sum:
#
# * **db** $= \sum_{n, i, j} \text{dout}[n, f, i, j]$: the bias is added to every pixel of
#   every image (a copy gate), so its gradient sums over the batch **and** the pixels, shape `(F,)`;
# * **dw** $[f, c, u, v] = \sum_{n, i, j} \text{dout}[n, f, i, j]\;
#   x_{\text{pad}}[n, c, i s + u, j s + v]$: the cross-correlation of the input with `dout`;
# * **dx**: each output pixel sends `dout[n, f, i, j] * w[f]` back to the window it read,
#   $dx_{\text{pad}}[n, :, i s + u, j s + v] \mathrel{+}= \text{dout}[n, f, i, j]\, w[f, :, u, v]$,
#   and overlapping windows **add up**. Then cut the padding off. At stride 1 this is the *full*
#   convolution of `dout` with the filter **rotated by 180°** (`w[:, :, ::-1, ::-1]`): written as
#   a cross-correlation, the kernel must be flipped. At a larger stride it is a *transposed
#   convolution* (week 8).
#
# Write `conv2d_backward(dout, cache)` returning `(dx, dw, db)`. The simplest correct version
# pads `x`, runs lab 5's four loops again (over `n`, `f`, `i`, `j`) and, at each output pixel,
# adds `dout[n, f, i, j]` times the window to `dw[f]` and times `w[f]` to the window of
# `dx_pad`, both with `+=`; a faster one loops over the kernel offsets `(u, v)` only, as the
# forward pass below does.
# Part 1a checks stride 1 without padding (2 points), Part 1b stride and padding (1 point).
#
# **Library calls.** Allowed: NumPy (`np.lib.stride_tricks` included) and the `conv2d_forward`
# given below. Blocked while graded: `lapenna_labs` (it has `conv.conv2d_backward`,
# `conv.conv2d_backward_naive`, `conv.col2im` and the forward convolutions) and the other
# libraries, among them `scipy.signal`, `torch.nn.functional.conv2d` and `tf.nn.conv2d`.


# %% nbgrader={"grade": false, "grade_id": "conv2d_forward_given", "locked": true, "schema_version": 3, "solution": false}
def conv2d_forward(x, w, b, stride=1, padding=0):
    """Cross-correlation of x (N, C, H, W) with w (F, C, KH, KW) plus b (F,).

    Returns (out, cache): out (N, F, OH, OW) in x's dtype, cache = (x, w, b, stride, padding).
    """
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    if x.ndim != 4 or w.ndim != 4 or x.shape[1] != w.shape[1] or b.shape != (w.shape[0],):
        raise ValueError(f"conv2d_forward: shapes x {x.shape}, w {w.shape}, b {b.shape} do not fit")
    (n_images, _, height, width), (n_filters, _, kh, kw) = x.shape, w.shape
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((n_images, n_filters, oh, ow), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            # the input pixels that kernel tap (u, v) meets, one per output pixel: (N, C, OH, OW)
            taps = xp[
                :, :, u : u + stride * (oh - 1) + 1 : stride, v : v + stride * (ow - 1) + 1 : stride
            ]
            out += np.einsum("ncij,fc->nfij", taps, w[:, :, u, v].astype(x.dtype))
    out += b.astype(x.dtype)[None, :, None, None]
    return out, (x, w, b, stride, padding)


# %% nbgrader={"grade": false, "grade_id": "conv2d_backward", "locked": false, "schema_version": 3, "solution": true}
def conv2d_backward(dout, cache):
    """Gradients (dx, dw, db) of conv2d_forward, given dout (N, F, OH, OW) and its cache.

    cache = (x, w, b, stride, padding); dx (N, C, H, W), dw (F, C, KH, KW), db (F,).
    """
    ### BEGIN SOLUTION
    x, w, b, stride, padding = cache
    dout = np.asarray(dout)
    _, _, kh, kw = w.shape
    _, _, oh, ow = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape, dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            rows = slice(u, u + stride * (oh - 1) + 1, stride)
            cols = slice(v, v + stride * (ow - 1) + 1, stride)
            dw[:, :, u, v] = np.einsum("nfij,ncij->fc", dout, xp[:, :, rows, cols])
            # each tap sends dout back to the pixels it read; taps overlap, hence +=
            dxp[:, :, rows, cols] += np.einsum("nfij,fc->ncij", dout, w[:, :, u, v].astype(x.dtype))
    dx = dxp[:, :, padding : padding + x.shape[2], padding : padding + x.shape[3]]
    db = dout.sum(axis=(0, 2, 3)).astype(x.dtype)
    return dx, dw, db
    ### END SOLUTION


# %%
# Try it (not graded): one 3x3 image, one 2x2 filter of ones, dout of ones.
_out, _cache = conv2d_forward(
    np.arange(9.0).reshape(1, 1, 3, 3), np.ones((1, 1, 2, 2)), np.zeros(1)
)
_dx, _dw, _db = conv2d_backward(np.ones_like(_out), _cache)
print("dx =\n", _dx[0, 0], "\ndw =\n", _dw[0, 0], "\ndb =", _db)

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_backward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Part 1a: conv2d_backward, stride 1 and no padding
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)


def reference_conv_backward(dout, cache):
    x, w, b, stride, padding = cache
    return ref.conv2d_backward(dout, ref.conv2d_forward(x, w, b, stride, padding)[1])


# the 3x3 image of the cell above, where every gradient can be checked by hand
x_hand, w_hand = np.arange(9.0).reshape(1, 1, 3, 3), np.ones((1, 1, 2, 2))
hand_cache = (x_hand, w_hand, np.zeros(1), 1, 0)
result = conv2d_backward(np.ones((1, 1, 2, 2)), hand_cache)
assert isinstance(result, tuple) and len(result) == 3, "conv2d_backward must return (dx, dw, db)"
check_close(
    result,
    reference_conv_backward(np.ones((1, 1, 2, 2)), hand_cache),
    name="conv2d_backward, 3x3 image, 2x2 filter of ones, dout of ones (dx, dw, db)",
)
rng = np.random.default_rng(600)
x, w, b = (
    rng.standard_normal((2, 3, 6, 5)),
    rng.standard_normal((4, 3, 3, 2)),
    rng.standard_normal(4),
)
cache = (x, w, b, 1, 0)
dout = rng.standard_normal((2, 4, 4, 4))
dx, dw, db = conv2d_backward(dout, cache)
want_dx, want_dw, want_db = reference_conv_backward(dout, cache)
check_close(
    db,
    want_db,
    name="db, x (2, 3, 6, 5), w (4, 3, 3, 2)",
    common_mistakes={
        "the mean of dout instead of its sum": want_db / dout[:, 0].size,
        "summed over the pixels of the first image only: the bias is shared by the whole batch": (
            dout[0].sum(axis=(1, 2))
        ),
    },
)
check_close(
    dw,
    want_dw,
    name="dw, x (2, 3, 6, 5), w (4, 3, 3, 2)",
    common_mistakes={
        "the first image only: dw sums over the batch": reference_conv_backward(
            dout[:1], (x[:1], w, b, 1, 0)
        )[1],
        "the sum over the batch divided by N": want_dw / len(x),
    },
)
check_close(
    dx,
    want_dx,
    name="dx, x (2, 3, 6, 5), w (4, 3, 3, 2)",
    common_mistakes={
        "the kernel not flipped: as a cross-correlation of dout, dx needs w rotated by 180°": (
            reference_conv_backward(dout, (x, w[:, :, ::-1, ::-1].copy(), b, 1, 0))[0]
        ),
    },
)
f32 = tuple(a.astype(np.float32) for a in (x, w, b, dout))
grads32 = conv2d_backward(f32[3], (*f32[:3], 1, 0))
assert all(np.asarray(g).dtype == np.float32 for g in grads32), (
    "conv2d_backward: float32 in, float32 out (dx, dw and db)"
)
passed("conv2d_backward (stride 1, no padding)")


### BEGIN HIDDEN TESTS
def upstream_and_conv_cache(rng, case, dtype):
    (n, c, h, wd, f, kh, kw), stride, padding = case
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    dout = rng.standard_normal((n, f, oh, ow)).astype(dtype)
    return dout, (x, w, b, stride, padding)


CONV_BLOCK = (
    ref.conv2d_backward,
    ref.conv2d_backward_naive,
    ref.conv2d_forward,
    ref.conv2d_forward_naive,
    ref.col2im,
    ref.im2col,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
check_against_reference(
    conv2d_backward,
    reference_conv_backward,
    upstream_and_conv_cache,
    name="conv2d_backward (hidden; (N, C, H, W, F, KH, KW), stride, padding; dx, dw, db)",
    cases=[
        ((1, 1, 3, 3, 1, 3, 3), 1, 0),
        ((2, 3, 7, 6, 4, 3, 3), 1, 0),
        ((1, 2, 5, 8, 3, 1, 4), 1, 0),
        ((3, 1, 6, 6, 2, 2, 2), 1, 0),
    ],
    view=tuple,
    block=CONV_BLOCK,
    seed=601,
    atol=1e-5,  # float32 sums of up to a few hundred terms: entries near 0 differ by ~1e-6
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv2d_backward_stride_padding", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1b: conv2d_backward with stride and padding
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)


def reference_conv_backward(dout, cache):
    x, w, b, stride, padding = cache
    return ref.conv2d_backward(dout, ref.conv2d_forward(x, w, b, stride, padding)[1])


rng = np.random.default_rng(602)
x, w, b = (
    rng.standard_normal((2, 2, 7, 7)),
    rng.standard_normal((3, 2, 3, 3)),
    rng.standard_normal(3),
)
for stride, padding in [(1, 1), (2, 0), (2, 1), (3, 2)]:
    cache = (x, w, b, stride, padding)
    out, _ = conv2d_forward(x, w, b, stride, padding)
    dout = rng.standard_normal(out.shape)
    result = conv2d_backward(dout, cache)
    assert isinstance(result, tuple) and len(result) == 3, (
        "conv2d_backward must return (dx, dw, db)"
    )
    assert np.shape(result[0]) == x.shape, (
        f"conv2d_backward(stride={stride}, padding={padding}): dx must have x's shape {x.shape}: "
        "cut the padding off dx_pad"
    )
    check_close(
        result,
        reference_conv_backward(dout, cache),
        name=f"conv2d_backward, stride {stride}, padding {padding} (dx, dw, db)",
    )
passed("conv2d_backward (stride and padding)")


### BEGIN HIDDEN TESTS
# (the same as Part 1a's: each test cell defines what it uses, so that this one is graded
# even when Part 1a's visible checks stop before its hidden tests)
def upstream_and_conv_cache(rng, case, dtype):
    (n, c, h, wd, f, kh, kw), stride, padding = case
    x = rng.standard_normal((n, c, h, wd)).astype(dtype)
    w = rng.standard_normal((f, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    dout = rng.standard_normal((n, f, oh, ow)).astype(dtype)
    return dout, (x, w, b, stride, padding)


CONV_BLOCK = (
    ref.conv2d_backward,
    ref.conv2d_backward_naive,
    ref.conv2d_forward,
    ref.conv2d_forward_naive,
    ref.col2im,
    ref.im2col,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
check_against_reference(
    conv2d_backward,
    reference_conv_backward,
    upstream_and_conv_cache,
    name="conv2d_backward (hidden; (N, C, H, W, F, KH, KW), stride, padding; dx, dw, db)",
    cases=[
        ((2, 3, 8, 7, 2, 3, 3), 2, 1),
        ((1, 2, 9, 9, 3, 5, 5), 1, 2),
        ((1, 1, 6, 9, 2, 2, 3), 3, 0),
        ((2, 2, 5, 5, 2, 3, 3), 2, 2),
    ],
    view=tuple,
    block=CONV_BLOCK,
    seed=603,
    atol=1e-5,  # float32 sums of up to a few hundred terms: entries near 0 differ by ~1e-6
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1c_intro", "locked": true, "schema_version": 3, "solution": false}
# ### Part 1c: a gradient check of your convolution (1 point)
#
# Lab 4 checked a scalar function's gradient by central differences. A layer's output
# is an array, so check the scalar $L = \sum \text{out} \odot \text{dout}$ for a random `dout`:
# its gradient with respect to `x` is exactly what `backward(dout, cache)` returns for `x`
# (cs231n's `eval_numerical_gradient_array`). For each entry $x_k$,
#
# $$\frac{\partial L}{\partial x_k} \approx
#   \frac{\sum \big(f(x + h e_k) - f(x - h e_k)\big) \odot \text{dout}}{2h}.$$
#
# Write `numerical_gradient_array(f, x, dout, h=1e-5)` for a function `f` from a float64 array
# `x` (any shape) to an array of `dout`'s shape: return an array shaped like `x`. Perturb one
# entry at a time (`np.ndindex(x.shape)`) **in place**, and put every entry back, so that `x`
# is unchanged when you return.
#
# Then check your `conv2d_backward` in the answer cell after it: at the given float64 point
# (`x_check`, `w_check`, `b_check`, stride 2, padding 1, and `dout_check`), compute your analytic
# `dx, dw, db`, their numerical versions with your `numerical_gradient_array` (for `dw`, `f` is
# `lambda v: conv2d_forward(x_check, v, b_check, 2, 1)[0]` and the point is `w_check` itself,
# which `numerical_gradient_array` perturbs in place and restores), and store the three
# `relative_error`s (given) in the list `conv_errors`, in the order dx, dw, db. A correct backward gives errors around $10^{-10}$;
# anything above $10^{-6}$ is a bug.
#
# **Library calls.** Allowed: NumPy. Blocked while your `numerical_gradient_array` is graded:
# `lapenna_labs` (it has `gradcheck.numerical_gradient` and `gradcheck.check_layer_backward`)
# and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "relative_error_given", "locked": true, "schema_version": 3, "solution": false}
def relative_error(a, b):
    """max |a - b| / max(|a| + |b|), 0 when both are 0 (lab 4's measure, as lapenna_labs)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.max(np.abs(a) + np.abs(b)) if a.size else 0.0
    return 0.0 if scale == 0 else float(np.max(np.abs(a - b)) / scale)


# %% nbgrader={"grade": false, "grade_id": "numerical_gradient_array", "locked": false, "schema_version": 3, "solution": true}
def numerical_gradient_array(f, x, dout, h=1e-5):
    """Central-difference gradient of sum(f(x) * dout) with respect to x (same shape as x)."""
    ### BEGIN SOLUTION
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = np.asarray(f(x), dtype=np.float64).copy()
        x[idx] = old - h
        minus = np.asarray(f(x), dtype=np.float64).copy()
        x[idx] = old
        grad[idx] = np.sum((plus - minus) * dout) / (2 * h)
    return grad
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "conv_check", "locked": false, "schema_version": 3, "solution": true}
rng_check = np.random.default_rng(6)
x_check = rng_check.standard_normal((2, 3, 5, 5))
w_check = rng_check.standard_normal((4, 3, 3, 3))
b_check = rng_check.standard_normal(4)
out_check, cache_check = conv2d_forward(x_check, w_check, b_check, 2, 1)
dout_check = rng_check.standard_normal(out_check.shape)
### BEGIN SOLUTION
dx_check, dw_check, db_check = conv2d_backward(dout_check, cache_check)
numeric_dx = numerical_gradient_array(
    lambda v: conv2d_forward(v, w_check, b_check, 2, 1)[0], x_check, dout_check
)
numeric_dw = numerical_gradient_array(
    lambda v: conv2d_forward(x_check, v, b_check, 2, 1)[0], w_check, dout_check
)
numeric_db = numerical_gradient_array(
    lambda v: conv2d_forward(x_check, w_check, v, 2, 1)[0], b_check, dout_check
)
conv_errors = [
    relative_error(dx_check, numeric_dx),
    relative_error(dw_check, numeric_dw),
    relative_error(db_check, numeric_db),
]
### END SOLUTION
print("relative errors of dx, dw, db:", conv_errors)

# %% nbgrader={"grade": true, "grade_id": "test_gradient_check", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1c: numerical_gradient_array and the check of your convolution
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref_conv  # noqa: E402
from lapenna_labs import gradcheck as ref_gradcheck  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

x0 = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
x_before = x0.copy()
d0 = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 3.0]])
got = numerical_gradient_array(lambda v: v**3, x0, d0)
assert np.array_equal(x0, x_before), "numerical_gradient_array must leave x unchanged"
want = 3 * x_before**2 * d0
check_close(
    np.asarray(got, dtype=float),
    want,
    name="numerical_gradient_array of x**3 (elementwise), dout (2, 3)",
    rtol=1e-6,
    atol=1e-8,
    common_mistakes={
        "dout ignored: the gradient of sum(f(x)), not of sum(f(x) * dout)": 3 * x_before**2,
        "a one-sided difference (f(x + h) - f(x)) / h": want + 3 * x_before * d0 * 1e-5,
    },
)
A = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, 3.0]])
got = numerical_gradient_array(lambda v: A @ v, np.array([0.3, -0.7]), np.array([1.0, -2.0, 0.5]))
check_close(
    np.asarray(got, dtype=float),
    A.T @ np.array([1.0, -2.0, 0.5]),
    name="numerical_gradient_array of A @ v (an output of another shape than x)",
    rtol=1e-6,
)
assert len(conv_errors) == 3, "conv_errors must hold the three relative errors (dx, dw, db)"
assert all(float(e) < 1e-6 for e in conv_errors), (
    "a relative error of your convolution is above 1e-6: your conv2d_backward (stride 2, "
    "padding 1) disagrees with the central differences"
)
passed("numerical_gradient_array, conv_errors")


### BEGIN HIDDEN TESTS
def function_point_and_upstream(rng, shape, dtype):
    M = rng.standard_normal((3, shape[-1]))

    def fn(v):
        return np.tanh(v @ M.T) + v.sum() ** 2 / 10

    x = rng.standard_normal(shape)
    return fn, x, rng.standard_normal(shape[:-1] + (3,))


def numerical_gradient_array_reference(f, x, dout, h=1e-5):
    return ref_gradcheck.numerical_gradient(lambda v: float(np.sum(f(v) * dout)), x, h)


check_against_reference(
    numerical_gradient_array,
    numerical_gradient_array_reference,
    function_point_and_upstream,
    name="numerical_gradient_array (hidden, a random point and dout)",
    cases=[(4,), (3, 4), (2, 2, 3)],
    dtypes=(None,),
    view=lambda grad: np.asarray(grad, dtype=float),
    unchanged=True,
    block=(
        ref_gradcheck.numerical_gradient,
        ref_gradcheck.check_layer_backward,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    seed=604,
    rtol=1e-6,
    atol=1e-8,
)
# lapenna_labs' forward, with the lab's cache: an answer cell cannot have rebound it
fresh = ref_gradcheck.check_layer_backward(
    lambda x, w, b: (ref_conv.conv2d_forward(x, w, b, 1, 1)[0], (x, w, b, 1, 1)),
    conv2d_backward,
    tuple(
        np.random.default_rng(605).standard_normal(s) for s in ((2, 2, 4, 4), (3, 2, 3, 3), (3,))
    ),
    seed=606,
)
assert max(fresh) < 1e-6, "your conv2d_backward fails a gradient check at fresh inputs (hidden)"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: the backward pass of max pooling (2 points)
#
# A max pool has no weights: each output is the largest entry of its window,
# $\text{out}[n, c, i, j] = \max_{u, v} x[n, c, i s + u, j s + v]$. The derivative of a
# maximum is an indicator (lab 4's max gate, the gradient *router*): the whole of
# `dout[n, c, i, j]` goes to the position of its window's maximum, and every other entry of
# the window gets nothing from that output. With overlapping windows (stride smaller than the
# kernel), an entry that is the maximum of several windows collects **the sum** of their
# gradients.
#
# **The tie rule.** When several entries of a window equal its maximum, the **first one in
# row-major window order** (smallest `u`, then smallest `v`) takes the whole gradient, and the
# other tied entries get 0. That is what `np.argmax` of the flattened window returns, and
# what PyTorch and TensorFlow do on the CPU. (Strictly, the maximum is not differentiable at a
# tie; any split is a valid subgradient, which is why frameworks can disagree there. Ties are
# common in practice: the zeros after a ReLU, saturated pixels.)
#
# The forward pass is given: lab 5's, returning `(out, cache)` with
# **`cache = (x, kernel_size, stride)`** (`stride` already resolved: never None in the
# cache). No padding. Write `max_pool2d_backward(dout, cache)` returning `dx`, shaped like `x`.
# Part 2a checks non-overlapping windows without ties (1 point), Part 2b ties and overlapping
# windows (1 point).
#
# **Library calls.** Allowed: NumPy (`np.lib.stride_tricks` included) and the
# `max_pool2d_forward` given below. Blocked while graded: `lapenna_labs` (it has
# `conv.max_pool2d_backward`) and the other libraries (`torch.nn.functional.max_pool2d` and
# autograd, `tf.nn.max_pool2d`...).


# %% nbgrader={"grade": false, "grade_id": "max_pool2d_forward_given", "locked": true, "schema_version": 3, "solution": false}
def max_pool2d_forward(x, kernel_size, stride=None):
    """The maximum of each kernel_size x kernel_size window of x (N, C, H, W).

    Returns (out, cache): out (N, C, OH, OW) in x's dtype, cache = (x, kernel_size, stride).
    """
    x = np.asarray(x)
    stride = kernel_size if stride is None else stride
    height, width = x.shape[2:]
    oh = (height - kernel_size) // stride + 1
    ow = (width - kernel_size) // stride + 1
    out = np.full(x.shape[:2] + (oh, ow), -np.inf, dtype=x.dtype)
    for u in range(kernel_size):
        for v in range(kernel_size):
            taps = x[
                :, :, u : u + stride * (oh - 1) + 1 : stride, v : v + stride * (ow - 1) + 1 : stride
            ]
            np.maximum(out, taps, out=out)
    return out, (x, kernel_size, stride)


# %% nbgrader={"grade": false, "grade_id": "max_pool2d_backward", "locked": false, "schema_version": 3, "solution": true}
def max_pool2d_backward(dout, cache):
    """Gradient dx (N, C, H, W) of max_pool2d_forward, given dout (N, C, OH, OW) and its cache.

    Each output's gradient goes to its window's first maximum (row-major); overlaps add up.
    """
    ### BEGIN SOLUTION
    x, k, stride = cache
    dout = np.asarray(dout)
    _, _, oh, ow = dout.shape
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    windows = windows[:, :, : stride * (oh - 1) + 1 : stride, : stride * (ow - 1) + 1 : stride]
    first_max = windows.reshape(*dout.shape, k * k).argmax(axis=-1)  # the tie rule
    dx = np.zeros_like(x)
    for u in range(k):
        for v in range(k):
            routed = np.where(first_max == u * k + v, dout, 0).astype(x.dtype)
            dx[
                :, :, u : u + stride * (oh - 1) + 1 : stride, v : v + stride * (ow - 1) + 1 : stride
            ] += routed
    return dx
    ### END SOLUTION


# %%
# Try it (not graded): lab 5's 4x4 example, a 2x2 pool, dout of ones; then a window of ties.
_x = np.array([[[[1.0, 3, 2, 0], [4, 2, 1, 5], [0, 1, 3, 2], [2, 6, 1, 1]]]])
_out, _cache = max_pool2d_forward(_x, 2)
print(max_pool2d_backward(np.ones_like(_out), _cache)[0, 0])
_out, _cache = max_pool2d_forward(np.ones((1, 1, 2, 2)), 2)
print(max_pool2d_backward(np.ones_like(_out), _cache)[0, 0])

# %% nbgrader={"grade": true, "grade_id": "test_max_pool2d_backward", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 2a: max_pool2d_backward, non-overlapping windows, no ties
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)


def reference_max_pool_backward(dout, cache):
    x, kernel_size, stride = cache
    return ref.max_pool2d_backward(dout, ref.max_pool2d_forward(x, kernel_size, stride)[1])


def reference_avg_pool_backward(dout, cache):
    x, kernel_size, stride = cache
    return ref.avg_pool2d_backward(dout, ref.avg_pool2d_forward(x, kernel_size, stride)[1])


x_small = np.array([[[[1.0, 3, 2, 0], [4, 2, 1, 5], [0, 1, 3, 2], [2, 6, 1, 1]]]])
small_cache = (x_small, 2, 2)
d_small = np.array([[[[1.0, -2.0], [0.5, 3.0]]]])
dx = max_pool2d_backward(d_small, small_cache)
assert np.shape(dx) == x_small.shape, "max_pool2d_backward: dx must have x's shape (1, 1, 4, 4)"
check_close(
    dx,
    reference_max_pool_backward(d_small, small_cache),
    name="max_pool2d_backward, lab 5's 4x4 example, 2x2 pool",
    common_mistakes={
        "dout spread over the whole window (that is the average pool's gradient, times 4)": (
            4 * reference_avg_pool_backward(d_small, small_cache)
        ),
        "the average pool's gradient, not the max pool's": reference_avg_pool_backward(
            d_small, small_cache
        ),
    },
)
rng = np.random.default_rng(610)
x = rng.standard_normal((2, 3, 6, 7))
cache = (x, 2, 2)
dout = rng.standard_normal((2, 3, 3, 3))
check_close(
    max_pool2d_backward(dout, cache),
    reference_max_pool_backward(dout, cache),
    name="max_pool2d_backward, x (2, 3, 6, 7), 2x2 pool (the last column is in no window)",
)
dx32 = max_pool2d_backward(dout.astype(np.float32), (x.astype(np.float32), 2, 2))
assert np.asarray(dx32).dtype == np.float32, "max_pool2d_backward: float32 in, float32 out"
passed("max_pool2d_backward (non-overlapping windows)")


### BEGIN HIDDEN TESTS
def upstream_and_pool_cache(rng, case, dtype):
    shape, kernel_size, stride, levels = case
    if levels:  # a few integer levels: many ties
        x = rng.integers(0, levels, size=shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    oh = (shape[2] - kernel_size) // stride + 1
    ow = (shape[3] - kernel_size) // stride + 1
    dout = rng.standard_normal((*shape[:2], oh, ow)).astype(dtype)
    return dout, (x, kernel_size, stride)


POOL_BLOCK = (
    ref.max_pool2d_backward,
    ref.max_pool2d_forward,
    ref.avg_pool2d_backward,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
check_against_reference(
    max_pool2d_backward,
    reference_max_pool_backward,
    upstream_and_pool_cache,
    name="max_pool2d_backward (hidden; shape, kernel, stride, tie levels)",
    cases=[
        ((1, 1, 2, 2), 2, 2, 0),
        ((3, 4, 8, 6), 2, 2, 0),
        ((2, 2, 7, 10), 3, 3, 0),
        ((2, 3, 6, 6), 3, 3, 0),
    ],
    block=POOL_BLOCK,
    seed=611,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_max_pool2d_backward_ties", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 2b: max_pool2d_backward with ties and overlapping windows
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)


def reference_max_pool_backward(dout, cache):
    x, kernel_size, stride = cache
    return ref.max_pool2d_backward(dout, ref.max_pool2d_forward(x, kernel_size, stride)[1])


def routed_to_ties(dout, cache, which):
    """Wrong tie rules: dout to every tied maximum ("all"), or to the last one ("last")."""
    x, k, s = cache
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(dout.shape):
        window = x[n, c, i * s : i * s + k, j * s : j * s + k]
        ties = np.argwhere(window == window.max())
        for u, v in ties if which == "all" else ties[-1:]:
            dx[n, c, i * s + u, j * s + v] += dout[n, c, i, j]
    return dx


# A ReLU's output: zeros everywhere but two entries, so most windows are all ties.
x_ties = np.array(
    [[[[0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]]]
)
d_ties = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
tie_cache = (x_ties, 2, 2)
check_close(
    max_pool2d_backward(d_ties, tie_cache),
    reference_max_pool_backward(d_ties, tie_cache),
    name="max_pool2d_backward, 4x4 ReLU output with tied windows, 2x2 pool",
    common_mistakes={
        "every tied maximum got the gradient: only the first (row-major) one does": routed_to_ties(
            d_ties, tie_cache, "all"
        ),
        "the last tied maximum got the gradient: the first (row-major) one does": routed_to_ties(
            d_ties, tie_cache, "last"
        ),
    },
)
x_over = np.arange(16.0).reshape(1, 1, 4, 4)
x_over[0, 0, 1, 1] = 20.0  # in all four 3x3 windows, and the maximum of each
over_cache = (x_over, 3, 1)
d_over = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
overwritten = {}
for kept in (1.0, 4.0):
    overwritten[kept] = np.zeros_like(x_over)
    overwritten[kept][0, 0, 1, 1] = kept
check_close(
    max_pool2d_backward(d_over, over_cache),
    reference_max_pool_backward(d_over, over_cache),
    name="max_pool2d_backward, 3x3 pool at stride 1, one entry the maximum of all four windows",
    common_mistakes={
        "overlapping windows overwrote each other's gradient (=): they add up (+=)": overwritten[
            4.0
        ],
        "only the first window's gradient was kept: overlapping windows add up (+=)": overwritten[
            1.0
        ],
    },
)
rng = np.random.default_rng(612)
x = rng.integers(0, 3, size=(2, 2, 7, 7)).astype(np.float64)
cache = (x, 3, 2)
dout = rng.standard_normal((2, 2, 3, 3))
check_close(
    max_pool2d_backward(dout, cache),
    reference_max_pool_backward(dout, cache),
    name="max_pool2d_backward, values in {0, 1, 2} (many ties), 3x3 pool at stride 2",
    common_mistakes={
        "every tied maximum got the gradient: only the first (row-major) one does": routed_to_ties(
            dout, cache, "all"
        ),
        "the last tied maximum got the gradient: the first (row-major) one does": routed_to_ties(
            dout, cache, "last"
        ),
    },
)
passed("max_pool2d_backward (ties and overlapping windows)")


### BEGIN HIDDEN TESTS
# (the same as Part 2a's: each test cell defines what it uses, so that this one is graded
# even when Part 2a's visible checks stop before its hidden tests)
def upstream_and_pool_cache(rng, case, dtype):
    shape, kernel_size, stride, levels = case
    if levels:  # a few integer levels: many ties
        x = rng.integers(0, levels, size=shape).astype(dtype)
    else:
        x = rng.standard_normal(shape).astype(dtype)
    oh = (shape[2] - kernel_size) // stride + 1
    ow = (shape[3] - kernel_size) // stride + 1
    dout = rng.standard_normal((*shape[:2], oh, ow)).astype(dtype)
    return dout, (x, kernel_size, stride)


POOL_BLOCK = (
    ref.max_pool2d_backward,
    ref.max_pool2d_forward,
    ref.avg_pool2d_backward,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
check_against_reference(
    max_pool2d_backward,
    reference_max_pool_backward,
    upstream_and_pool_cache,
    name="max_pool2d_backward (hidden; shape, kernel, stride, tie levels)",
    cases=[
        ((2, 3, 8, 8), 2, 2, 2),
        ((2, 3, 9, 9), 3, 2, 0),
        ((1, 2, 6, 6), 2, 1, 3),
        ((2, 2, 9, 8), 3, 2, 2),
        ((1, 1, 5, 5), 3, 1, 1),
    ],
    block=POOL_BLOCK,
    seed=613,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part3_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 3: the worked example's gradients (2 points)
#
# The smallest network with every kind of layer of a CNN: one 5x5 image, a convolution with two
# 2x2 filters, a ReLU, a 2x2 max pool, a flatten, a dense layer to three classes and the
# softmax cross-entropy,
#
# $$x\ (1, 1, 5, 5) \xrightarrow{\text{conv } w, b} z\ (1, 2, 4, 4)
#   \xrightarrow{\text{relu}} a \xrightarrow{\text{pool } 2} p\ (1, 2, 2, 2)
#   \xrightarrow{\text{flatten}} f\ (1, 8) \xrightarrow{f V + c} \text{logits}\ (1, 3)
#   \xrightarrow{} L = -\log \operatorname{softmax}(\text{logits})_y .$$
#
# Its numbers are in the dict `example` below (keys `"x"`, `"w"`, `"b"`, `"V"`, `"c"` and
# `"labels"`, an int array of shape `(N,)`). They are small on purpose: the image is lab 5's
# 5x5 input, and the first filter's bias makes one of its pool windows *dead* (every `z` in it
# is at most 0, so the ReLU stops the gradient that the pool routes there) and leaves another
# with a tie between two positive entries. The forward pass and the dense layer's and the
# loss's backward passes are given (lab 4's answers). Backpropagate from the loss to the input,
# one layer at a time, each backward function taking the gradient of the layer after it:
#
# 1. `softmax_cross_entropy` gives the loss and `dlogits`; `dense_backward` gives `df`, `dV`, `dc`;
# 2. the flatten's backward is a reshape of `df` to the pool output's shape (C order, as
#    `flatten` is);
# 3. **your** `max_pool2d_backward` gives `da`;
# 4. the ReLU's backward is the mask `dz = da * (z > 0)`;
# 5. **your** `conv2d_backward` gives `dx`, `dw`, `db`.
#
# Write `worked_example_gradients(example)` returning a dict with the loss (a float) and the
# gradients `"dx"`, `"dw"`, `"db"`, `"dV"`, `"dc"`, each shaped like its parameter. It must work
# for any number of images N and any sizes that fit together (the hidden checks draw fresh
# networks). Part 3a checks the loss and the dense layer's gradients (1 point), Part 3b the
# convolution's (1 point).
#
# **Library calls.** Allowed: NumPy, the given functions (`conv2d_forward`,
# `max_pool2d_forward`, `worked_example_forward`, `dense_backward`, `softmax_cross_entropy`)
# and your `conv2d_backward` and `max_pool2d_backward`. Blocked while graded: `lapenna_labs`
# (its layers, losses, `cnn.CNN` and the worked example's gradients) and the other libraries
# (PyTorch's and TensorFlow's autograd...).

# %% nbgrader={"grade": false, "grade_id": "worked_example_setup", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.examples import week06 as _week06  # noqa: E402 (the chapter's numbers)

example = {
    "x": _week06.EXAMPLE_INPUT.copy(),
    "w": _week06.EXAMPLE_FILTERS.copy(),
    "b": _week06.EXAMPLE_CONV_BIAS.copy(),
    "V": _week06.EXAMPLE_DENSE_WEIGHTS.copy(),
    "c": _week06.EXAMPLE_DENSE_BIAS.copy(),
    "labels": _week06.EXAMPLE_LABELS.copy(),
}


def dense_forward(x, W, b):
    """out = x @ W + b for x (N, D), W (D, M), b (M,); returns (out, (x, W, b)) (lab 4)."""
    return x @ W + b, (x, W, b)


def dense_backward(dout, cache):
    """Gradients (dx, dW, db) of dense_forward, given dout (N, M) (lab 4's answer)."""
    x, W, _ = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) (N, K) for int labels (N,), and dlogits (lab 4)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), labels] -= 1
    return float(-log_probs[np.arange(n), labels].mean()), dlogits / n


def worked_example_forward(example):
    """The forward pass: every intermediate (z, a, p, f, logits) and the caches."""
    z, conv_cache = conv2d_forward(example["x"], example["w"], example["b"])
    a = np.maximum(z, 0)
    p, pool_cache = max_pool2d_forward(a, 2)
    f = p.reshape(len(p), -1)
    logits, dense_cache = dense_forward(f, example["V"], example["c"])
    return {
        "z": z,
        "a": a,
        "p": p,
        "f": f,
        "logits": logits,
        "conv_cache": conv_cache,
        "pool_cache": pool_cache,
        "dense_cache": dense_cache,
    }


forward = worked_example_forward(example)
print(
    "logits",
    forward["logits"],
    " loss",
    softmax_cross_entropy(forward["logits"], example["labels"])[0],
)


# %% nbgrader={"grade": false, "grade_id": "worked_example_gradients", "locked": false, "schema_version": 3, "solution": true}
def worked_example_gradients(example):
    """Loss and gradients dx, dw, db, dV, dc of the conv-relu-pool-dense example (a dict)."""
    ### BEGIN SOLUTION
    fwd = worked_example_forward(example)
    loss, dlogits = softmax_cross_entropy(fwd["logits"], example["labels"])
    df, dV, dc = dense_backward(dlogits, fwd["dense_cache"])
    dp = df.reshape(fwd["p"].shape)
    da = max_pool2d_backward(dp, fwd["pool_cache"])
    dz = da * (fwd["z"] > 0)
    dx, dw, db = conv2d_backward(dz, fwd["conv_cache"])
    return {"loss": loss, "dx": dx, "dw": dw, "db": db, "dV": dV, "dc": dc}
    ### END SOLUTION


# %%
grads_worked = worked_example_gradients(example)
for key, value in grads_worked.items():
    print(key, "=", value if key == "loss" else np.round(value, 4))

# %% nbgrader={"grade": true, "grade_id": "test_worked_example_dense", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 3a: the worked example, the loss and the dense layer's gradients
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref_conv  # noqa: E402, F811
from lapenna_labs import layers as ref_layers  # noqa: E402
from lapenna_labs import losses as ref_losses  # noqa: E402
from lapenna_labs.examples import week06 as week06_reference  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)


def reference_worked_example(example):
    """Every value and gradient of the example, from the chapter's worked example."""
    return week06_reference.worked_example(**example)


HEAD_KEYS = ("loss", "dV", "dc")
got = worked_example_gradients(example)
assert isinstance(got, dict), "worked_example_gradients must return a dict"
missing = [k for k in ("loss", "dx", "dw", "db", "dV", "dc") if k not in got]
assert not missing, f"worked_example_gradients: no key(s) {missing}"
want = reference_worked_example(example)
check_close(np.float64(got["loss"]), np.float64(want["loss"]), name="the example's loss")
check_close(got["dc"], want["dc"], name="dc, the dense layer's bias")
check_close(
    got["dV"],
    want["dV"],
    name="dV, the dense layer's weights",
    common_mistakes={"dlogits^T f, the transpose of dV = f^T dlogits": want["dV"].T},
)
passed("worked_example_gradients, the loss and the dense layer")


### BEGIN HIDDEN TESTS
def random_worked_example(rng, case, dtype):
    n, c, size, filters, kernel, classes = case
    pooled = (size - kernel + 1) // 2
    return (
        {
            "x": rng.standard_normal((n, c, size, size)),
            "w": rng.standard_normal((filters, c, kernel, kernel)),
            "b": rng.standard_normal(filters),
            "V": rng.standard_normal((filters * pooled * pooled, classes)),
            "c": rng.standard_normal(classes),
            "labels": rng.integers(0, classes, size=n),
        },
    )


WORKED_CASES = [(1, 1, 5, 2, 2, 3), (2, 1, 6, 3, 3, 4), (3, 2, 7, 2, 2, 5)]
WORKED_BLOCK = (
    ref_conv.conv2d_backward,
    ref_conv.max_pool2d_backward,
    ref_layers.dense_backward,
    ref_losses.softmax_cross_entropy_with_grad,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
check_against_reference(
    worked_example_gradients,
    lambda example: {key: reference_worked_example(example)[key] for key in HEAD_KEYS},
    random_worked_example,
    name="worked_example_gradients (hidden, a random network; N, C, size, F, K, classes)",
    cases=WORKED_CASES,
    dtypes=(None,),
    view=lambda got: {key: got[key] for key in HEAD_KEYS},
    block=WORKED_BLOCK,
    graded_elsewhere=(conv2d_backward, max_pool2d_backward),
    seed=620,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_worked_example_conv", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 3b: the worked example, the convolution's gradients
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref_conv  # noqa: E402
from lapenna_labs import layers as ref_layers  # noqa: E402
from lapenna_labs import losses as ref_losses  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)


def reference_worked_example(example):
    """Every value and gradient of the example, from the chapter's worked example."""
    return week06_reference.worked_example(**example)


CONV_KEYS = ("dw", "db", "dx")
got = worked_example_gradients(example)
want = reference_worked_example(example)
_, conv_cache = ref_conv.conv2d_forward(example["x"], example["w"], example["b"])
no_mask = dict(
    zip(("dx", "dw", "db"), ref_conv.conv2d_backward(want["da"], conv_cache), strict=True)
)
for key, what in (("db", "the conv biases"), ("dw", "the filters"), ("dx", "the input")):
    check_close(
        got[key],
        want[key],
        name=f"{key}, {what}",
        common_mistakes={
            "the ReLU's backward is missing: mask the gradient with (z > 0)": no_mask[key]
        },
    )
passed("worked_example_gradients, the convolution")


### BEGIN HIDDEN TESTS
def random_worked_example(rng, case, dtype):
    n, c, size, filters, kernel, classes = case
    pooled = (size - kernel + 1) // 2
    return (
        {
            "x": rng.standard_normal((n, c, size, size)),
            "w": rng.standard_normal((filters, c, kernel, kernel)),
            "b": rng.standard_normal(filters),
            "V": rng.standard_normal((filters * pooled * pooled, classes)),
            "c": rng.standard_normal(classes),
            "labels": rng.integers(0, classes, size=n),
        },
    )


check_against_reference(
    worked_example_gradients,
    lambda example: {key: reference_worked_example(example)[key] for key in CONV_KEYS},
    random_worked_example,
    name="worked_example_gradients (hidden, a random network; N, C, size, F, K, classes)",
    cases=[(1, 1, 5, 2, 2, 3), (2, 1, 6, 3, 3, 4), (3, 2, 7, 2, 2, 5)],
    dtypes=(None,),
    view=lambda got: {key: got[key] for key in CONV_KEYS},
    block=(
        ref_conv.conv2d_backward,
        ref_conv.max_pool2d_backward,
        ref_layers.dense_backward,
        ref_losses.softmax_cross_entropy_with_grad,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    graded_elsewhere=(conv2d_backward, max_pool2d_backward),
    seed=621,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part4_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 4: the backward pass of batch normalization (2 points)
#
# Batch normalization (Ioffe and Szegedy, 2015) standardizes each feature over the batch, then
# applies a learned scale $\gamma$ and shift $\beta$ per feature:
#
# $$\mu = \frac1M \sum x, \qquad \sigma^2 = \frac1M \sum (x - \mu)^2, \qquad
#   \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad y = \gamma \hat x + \beta,$$
#
# where the sums run over the $M$ values of one feature: over the batch, axis 0, for a dense
# `(N, D)` input ($M = N$), and over the batch and the pixels, axes `(0, 2, 3)`, for an NCHW
# input (one mean per channel, $M = NHW$, as `torch.nn.BatchNorm2d`). The forward pass (in
# training mode) is given, with **`cache = (x, xhat, gamma, mean, var, eps)`**, where
# `gamma`, `mean` and `var` have shape `(C,)`.
#
# The gradients of $\gamma$ and $\beta$ are sums over the same axes:
# $\partial L/\partial\beta = \sum \delta$ and $\partial L/\partial\gamma = \sum \delta \odot \hat x$,
# with $\delta$ = `dout`. The gradient of $x$ is where batch normalization differs from every
# layer so far: $\mu$ and $\sigma^2$ depend on **every** sample of the batch, so $x_k$ reaches
# the loss through $\hat x_k$ and through $\mu$ and $\sigma^2$. With
# $\delta\hat x = \gamma\,\delta$ and $\sigma = \sqrt{\sigma^2 + \epsilon}$, the three paths add
# up to the compact formula (cs231n's `batchnorm_backward_alt`)
#
# $$\frac{\partial L}{\partial x} = \frac{1}{M\sigma}\Big(M\,\delta\hat x - \sum \delta\hat x
#   - \hat x \sum \delta\hat x \odot \hat x\Big).$$
#
# Derive it (draw the graph: $x \to \mu$, $x \to \sigma^2$, $(x, \mu, \sigma^2) \to \hat x$), or
# backpropagate through the graph step by step: both are fine. Dropping the two sums, as if
# $\mu$ and $\sigma^2$ were constants, is the classic mistake (that is the *evaluation-mode*
# gradient, where the running statistics are constants).
#
# Write `batchnorm_backward(dout, cache)` returning `(dx, dgamma, dbeta)`: `dx` shaped like `x`,
# `dgamma` and `dbeta` of shape `(C,)`, for a 2-D `(N, D)` **and** a 4-D `(N, C, H, W)` input.
# Part 4a checks the dense case (1.5 points), Part 4b the spatial one (0.5 points).
#
# **Library calls.** Allowed: NumPy and the `batchnorm_forward` given below. Blocked while
# graded: `lapenna_labs` (it has `norm.batchnorm_backward`, `norm.layernorm_backward` and their
# kernel) and the other libraries (`torch.nn.functional.batch_norm` and autograd, Keras's
# `BatchNormalization`...).


# %% nbgrader={"grade": false, "grade_id": "batchnorm_forward_given", "locked": true, "schema_version": 3, "solution": false}
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Batch normalization of x (N, C) or (N, C, H, W) with the batch's statistics.

    Returns (out, cache): out shaped like x, cache = (x, xhat, gamma, mean, var, eps), where
    gamma, mean and var have shape (C,) and var is the biased (population) variance.
    """
    x, gamma, beta = np.asarray(x), np.asarray(gamma), np.asarray(beta)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)  # (C,) -> broadcastable against x
    mean = x.mean(axis=axes)
    var = x.var(axis=axes)
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    out = gamma.reshape(shape) * xhat + beta.reshape(shape)
    return out, (x, xhat, gamma, mean, var, eps)


# %% nbgrader={"grade": false, "grade_id": "batchnorm_backward", "locked": false, "schema_version": 3, "solution": true}
def batchnorm_backward(dout, cache):
    """Gradients (dx, dgamma, dbeta) of batchnorm_forward (training mode), given dout and cache.

    dout and dx have x's shape, (N, C) or (N, C, H, W); dgamma and dbeta have shape (C,).
    """
    ### BEGIN SOLUTION
    x, xhat, gamma, mean, var, eps = cache
    dout = np.asarray(dout)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]  # values per feature
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    dxhat = dout * gamma.reshape(shape)
    inv_std = 1.0 / np.sqrt(var.reshape(shape) + eps)
    dx = (inv_std / m) * (
        m * dxhat
        - dxhat.sum(axis=axes, keepdims=True)  # through the mean
        - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True)  # through the variance
    )
    return dx.astype(x.dtype), dgamma.astype(gamma.dtype), dbeta.astype(gamma.dtype)
    ### END SOLUTION


# %%
# Try it (not graded): dout of ones is a uniform shift of every output, which x cannot cause:
# dx should be zero up to rounding.
_out, _cache = batchnorm_forward(
    np.array([[1.0, 10.0], [3.0, 30.0], [2.0, 5.0]]), np.ones(2), np.zeros(2)
)
print(batchnorm_backward(np.ones_like(_out), _cache))

# %% nbgrader={"grade": true, "grade_id": "test_batchnorm_backward", "locked": true, "points": 1.5, "schema_version": 3, "solution": false}
# Part 4a: batchnorm_backward, a dense (N, D) batch
import numpy as np  # noqa: E402

from lapenna_labs import norm as ref_norm  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)


def batchnorm_cache(x, gamma, eps):
    """The given forward's cache, computed here (an answer cell cannot rebind it)."""
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return x, xhat, gamma, mean, var, eps


def reference_batchnorm_backward(dout, cache):
    x, _, gamma, _, _, eps = cache
    ref_cache = ref_norm.batchnorm_forward(x, gamma, np.zeros_like(gamma), eps=eps)[1]
    return ref_norm.batchnorm_backward(dout, ref_cache)


rng = np.random.default_rng(640)
x = 2.0 + 3.0 * rng.standard_normal((6, 4))
gamma = rng.uniform(0.5, 2.0, size=4)
dout = rng.standard_normal((6, 4))
cache = batchnorm_cache(x, gamma, 1e-5)
result = batchnorm_backward(dout, cache)
assert isinstance(result, tuple) and len(result) == 3, (
    "batchnorm_backward must return (dx, dgamma, dbeta)"
)
dx, dgamma, dbeta = result
want_dx, want_dgamma, want_dbeta = reference_batchnorm_backward(dout, cache)
inv_std = 1.0 / np.sqrt(cache[4] + 1e-5)
check_close(
    dbeta,
    want_dbeta,
    name="dbeta, x (6, 4)",
    common_mistakes={"the mean over the batch instead of the sum": want_dbeta / len(x)},
)
check_close(
    dgamma,
    want_dgamma,
    name="dgamma, x (6, 4)",
    common_mistakes={
        "the sum of dout * x: dgamma multiplies dout by the standardized xhat": (dout * x).sum(
            axis=0
        ),
        "the sum of dout: that is dbeta": want_dbeta,
    },
)
check_close(
    dx,
    want_dx,
    name="dx, x (6, 4)",
    common_mistakes={
        "the mean and variance terms are missing (the batch statistics treated as constants)": (
            dout * gamma * inv_std
        ),
        "the variance term is missing (x reaches the loss through the variance too)": (
            gamma * inv_std * (dout - dout.mean(axis=0))
        ),
        "the mean term is missing (x reaches the loss through the mean too)": (
            gamma * inv_std * (dout - cache[1] * (dout * cache[1]).mean(axis=0))
        ),
        "gamma is missing": want_dx / gamma,
    },
)
uniform = batchnorm_backward(np.ones((6, 4)), cache)[0]
assert np.abs(uniform).max() < 1e-8, (
    "batchnorm_backward: for dout of ones (the same shift of every output) dx must be 0: a shift "
    "of the whole batch does not change xhat"
)
f32 = [a.astype(np.float32) for a in (x, gamma, dout)]
grads32 = batchnorm_backward(f32[2], batchnorm_cache(f32[0], f32[1], 1e-5))
assert all(np.asarray(g).dtype == np.float32 for g in grads32), (
    "batchnorm_backward: float32 in, float32 out (dx, dgamma and dbeta)"
)
passed("batchnorm_backward (dense)")


### BEGIN HIDDEN TESTS
def upstream_and_batchnorm_cache(rng, case, dtype):
    shape, eps = case
    x = (rng.uniform(-3, 3) + rng.uniform(0.5, 4) * rng.standard_normal(shape)).astype(dtype)
    gamma = rng.uniform(-2.0, 2.0, size=shape[1]).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    return dout, batchnorm_cache(x, gamma, eps)


NORM_BLOCK = (
    ref_norm.batchnorm_backward,
    ref_norm.batchnorm_forward,
    ref_norm.layernorm_backward,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
check_against_reference(
    batchnorm_backward,
    reference_batchnorm_backward,
    upstream_and_batchnorm_cache,
    name="batchnorm_backward (hidden; shape, eps; dx, dgamma, dbeta)",
    cases=[((3, 2), 1e-5), ((8, 5), 1e-5), ((32, 16), 1e-3), ((5, 3), 0.1)],
    view=tuple,
    block=NORM_BLOCK,
    seed=641,
    atol=1e-5,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_batchnorm_backward_spatial", "locked": true, "points": 0.5, "schema_version": 3, "solution": false}
# Part 4b: batchnorm_backward, an NCHW batch (one mean per channel)
import numpy as np  # noqa: E402

from lapenna_labs import norm as ref_norm  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)


def batchnorm_cache(x, gamma, eps):
    """The given forward's cache, computed here (an answer cell cannot rebind it)."""
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    xhat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return x, xhat, gamma, mean, var, eps


def reference_batchnorm_backward(dout, cache):
    x, _, gamma, _, _, eps = cache
    ref_cache = ref_norm.batchnorm_forward(x, gamma, np.zeros_like(gamma), eps=eps)[1]
    return ref_norm.batchnorm_backward(dout, ref_cache)


rng = np.random.default_rng(642)
x = 1.0 + 2.0 * rng.standard_normal((3, 2, 4, 5))
gamma = rng.uniform(0.5, 2.0, size=2)
dout = rng.standard_normal((3, 2, 4, 5))
cache = batchnorm_cache(x, gamma, 1e-5)
result = batchnorm_backward(dout, cache)
assert isinstance(result, tuple) and len(result) == 3, (
    "batchnorm_backward must return (dx, dgamma, dbeta)"
)
assert np.shape(result[1]) == (2,) and np.shape(result[2]) == (2,), (
    "batchnorm_backward on (N, C, H, W): dgamma and dbeta have shape (C,): sum over axes (0, 2, 3)"
)
want = reference_batchnorm_backward(dout, cache)
check_close(result[2], want[2], name="dbeta, x (3, 2, 4, 5)")
check_close(result[1], want[1], name="dgamma, x (3, 2, 4, 5)")
check_close(
    result[0],
    want[0],
    name="dx, x (3, 2, 4, 5)",
    common_mistakes={
        "the mean and variance terms are missing (the batch statistics treated as constants)": (
            dout * (gamma / np.sqrt(cache[4] + 1e-5))[None, :, None, None]
        ),
    },
)
passed("batchnorm_backward (NCHW)")


### BEGIN HIDDEN TESTS
# (the same as Part 4a's: each test cell defines what it uses, so that this one is graded
# even when Part 4a's visible checks stop before its hidden tests)
def upstream_and_batchnorm_cache(rng, case, dtype):
    shape, eps = case
    x = (rng.uniform(-3, 3) + rng.uniform(0.5, 4) * rng.standard_normal(shape)).astype(dtype)
    gamma = rng.uniform(-2.0, 2.0, size=shape[1]).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    return dout, batchnorm_cache(x, gamma, eps)


NORM_BLOCK = (
    ref_norm.batchnorm_backward,
    ref_norm.batchnorm_forward,
    ref_norm.layernorm_backward,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
check_against_reference(
    batchnorm_backward,
    reference_batchnorm_backward,
    upstream_and_batchnorm_cache,
    name="batchnorm_backward (hidden; shape, eps; dx, dgamma, dbeta)",
    cases=[((1, 3, 2, 2), 1e-5), ((4, 3, 5, 6), 1e-5), ((2, 6, 3, 3), 1e-3), ((8, 2, 1, 1), 1e-5)],
    view=tuple,
    block=NORM_BLOCK,
    seed=643,
    atol=1e-5,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "wrapup", "locked": true, "schema_version": 3, "solution": false}
# ## What you built
#
# The backward pass of every layer of a small convolutional network. The convolution's three
# gradients are convolutions themselves: `dw` correlates the input with `dout`, `dx` convolves
# `dout` with the flipped kernel (a transposed convolution at stride > 1), and `db` sums `dout`.
# In im2col form (lab 5) they are two GEMMs as large as the forward one,
# `dW = dout_matᵀ cols` and `dcols = dout_mat W`, folded back by col2im: a backward pass costs
# about twice the forward's flops. A max pool routes each gradient to one entry; batch
# normalization couples the samples of a batch, which is why its gradient removes the mean of
# `dout` and its component along `xhat`. Week 7 builds whole networks from these layers and
# counts their flops.
