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
# # Lab 7: a CNN from your own layers, what networks cost, and timing the convolution
#
# Week 7 of LAPENNA. A convolutional network is a chain of matrix products in disguise. In this
# lab you write the convolution layer as im2col and one GEMM, forward and backward, assemble it
# with a max pool and a dense layer into a small CNN, and train it on MNIST with the course's
# training loop. Then you count what a network costs, layer by layer (parameters, multiply-adds,
# flops, output shapes), for LeNet-5, AlexNet and VGG-16; and you time the loops against the
# GEMM, correctly, and turn the time into GFLOP/s.
#
# | part | what you write | points |
# |---|---|---|
# | 1a | `im2col` and `conv_forward`: the convolution as one GEMM | 2 |
# | 1b | `col2im` and `conv_backward`: its gradients, as two GEMMs | 1 |
# | 1c | `cnn_loss_and_grads`: conv, ReLU, max pool, dense, softmax cross-entropy, forward and backward | 1 |
# | 1d | `SmallCNN` for the course's `fit`, and `train_cnn`: at least 85 % test accuracy | 1 |
# | 2 | `layer_counts`: output shape, parameters, MACs and flops of every layer of a network | 2 |
# | 3 | `time_call` (warm-up, repeats, median) and `conv_gemm_gflops`; the loops against the GEMM | 3 |
# | | **total** | **10** |
#
# Expect two hours. Everything runs on a CPU; the training takes a few seconds.
#
# **Conventions** (those of PyTorch, cs231n and `lapenna_labs`, as in Lab 5): images are NCHW,
# `x` has shape `(N, C, H, W)`; filters `w` have shape `(F, C, KH, KW)`, the bias `b` shape
# `(F,)`; the convolution is a cross-correlation (the filter is not flipped) with `padding` zeros
# on each side and a stride `s`, and its output has shape `(N, F, OH, OW)` with
# $OH = \lfloor (H + 2P - KH) / s \rfloor + 1$. Dense layers take rows: `x` is `(N, D)`, `W` is
# `(D, M)`. Keep the dtype you are given: float32 in, float32 out.

# %% [markdown] nbgrader={"grade": false, "grade_id": "how_graded", "locked": true, "schema_version": 3, "solution": false}
# **How this lab is graded.** Cells marked *answer* are yours; the cells after them check your work.
# Visible checks run now and tell you what is wrong (never what the right values are); each
# prints "...: the visible checks pass." when yours pass. Hidden checks run only when the
# instructor grades, on fresh random inputs in float32 and float64 and on networks you have not
# seen, so make your functions work for any shape the docstring allows. Do not rename the
# functions or change their arguments. A cell that runs longer than a minute is stopped.
#
# **Library calls.** Each part says which libraries its answer may call. While the hidden checks
# run your function, the others are *blocked*, under any name you imported them by: the
# course's own `lapenna_labs` (it has every answer of this lab: `conv.conv2d_forward`,
# `conv.im2col`, `cnn.CNN`, `architectures`, `conv.counts`, `blas.time_callable`), except the
# modules a part allows (Part 1 gives you the max pool, the dense layer and the loss from
# `lapenna_labs`, and trains with its `fit`), and the other libraries (SciPy, so
# `scipy.signal`; PyTorch, so `torch.nn.functional.conv2d`; TensorFlow, so `tf.nn.conv2d`;
# Keras; JAX). A call of a blocked function scores zero **for that part only**: it is charged to
# the function that made it. A later part that uses one of your earlier functions (Part 1c uses
# your `conv_forward` and `conv_backward`) is not charged for what that function calls (its own
# part already lost the points), only for its own calls.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import os
import time

import numpy as np

np.set_printoptions(precision=4, suppress=True)
GRADING = bool(os.environ.get("LAPENNA_GRADING"))

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: a CNN from your own layers (5 points)
#
# ### Part 1a: the convolution as one GEMM (2 points)
#
# Lab 5 turned the convolution into one matrix product: copy every C·KH·KW window of the padded
# input into one row of a matrix `cols`, and the whole layer is
#
# $$\underbrace{\text{out}}_{M \times F} = \underbrace{\text{cols}}_{M \times K}\;
#   \underbrace{W^\top}_{K \times F} + b, \qquad M = N \cdot OH \cdot OW, \quad
#   K = C \cdot KH \cdot KW,$$
#
# where row $f$ of $W$ is filter $f$ flattened, `w.reshape(F, -1)`.
#
# * `im2col(x, kh, kw, stride=1, padding=0)` returns `cols` of shape `(N·OH·OW, C·KH·KW)` in
#   `x`'s dtype: row `(n·OH + i)·OW + j` holds the window of output pixel `(n, i, j)`, its
#   columns in `(c, u, v)` order (what `window.reshape(-1)` of
#   `xp[n, :, i·s : i·s + KH, j·s : j·s + KW]` gives). A loop over the KH·KW kernel offsets,
#   each copying a strided slice of the padded input for all pixels at once, is fast enough.
# * `conv_forward(x, w, b, stride=1, padding=0)` returns `(out, cache)`: `out` of shape
#   `(N, F, OH, OW)` computed with your `im2col` and **one** matrix product, plus the bias (the
#   `(M, F)` product's rows run over `(n, i, j)`: reshape it to `(N, OH, OW, F)` first, then move
#   the F axis); `cache` is whatever your `conv_backward` will need (the `cols` and `w`, the
#   input's shape, the stride and the padding).
#
# **Library calls.** Allowed: NumPy (`np.lib.stride_tricks` included). Blocked while graded:
# `lapenna_labs` (it has `conv.im2col`, `conv.conv2d_forward` and the loops
# `conv.conv2d_forward_naive`) and the other libraries (`scipy.signal`,
# `torch.nn.functional.conv2d`, `tf.nn.conv2d`...). `conv_forward` may use your `im2col`.


# %% nbgrader={"grade": false, "grade_id": "conv_forward", "locked": false, "schema_version": 3, "solution": true}
def im2col(x, kh, kw, stride=1, padding=0):
    """Every KH x KW window of x (N, C, H, W) as a row: cols of shape (N*OH*OW, C*KH*KW)."""
    ### BEGIN SOLUTION
    x = np.asarray(x)
    n_images, channels, height, width = x.shape
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = np.empty((n_images, oh, ow, channels, kh, kw), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            rows = xp[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride]
            windows[:, :, :, :, u, v] = rows.transpose(0, 2, 3, 1)
    return windows.reshape(n_images * oh * ow, channels * kh * kw)
    ### END SOLUTION


def conv_forward(x, w, b, stride=1, padding=0):
    """The convolution as im2col and one GEMM: (out (N, F, OH, OW), cache for conv_backward)."""
    ### BEGIN SOLUTION
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    n_images, _, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    cols = im2col(x, kh, kw, stride, padding)
    out = cols @ w.reshape(n_filters, -1).T.astype(x.dtype) + b.astype(x.dtype)
    out = out.reshape(n_images, oh, ow, n_filters).transpose(0, 3, 1, 2)
    return out, (cols, w.astype(x.dtype), x.shape, stride, padding)
    ### END SOLUTION


# %%
_x = np.arange(16.0).reshape(1, 1, 4, 4)
print(conv_forward(_x, np.ones((1, 1, 2, 2)), np.zeros(1), stride=2)[0])

# %% nbgrader={"grade": true, "grade_id": "test_conv_forward", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Part 1a: im2col and conv_forward
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    arrays_and_options,
    check_against_reference,
    check_close,
    passed,
)

rng = np.random.default_rng(701)
x = rng.standard_normal((2, 3, 5, 4))
expected_cols = ref.im2col(x, (3, 2))
cols = im2col(x, 3, 2)
assert np.shape(cols) == expected_cols.shape, (
    f"im2col(x (2, 3, 5, 4), 3, 2) must have shape (N*OH*OW, C*KH*KW) = {expected_cols.shape}"
)
check_close(
    cols,
    expected_cols,
    name="im2col(x (2, 3, 5, 4), kh=3, kw=2)",
    common_mistakes={
        "columns in (u, v, c) order instead of (c, u, v)": expected_cols.reshape(-1, 3, 3, 2)
        .transpose(0, 2, 3, 1)
        .reshape(expected_cols.shape),
    },
)
check_close(
    im2col(x, 3, 3, stride=2, padding=1),
    ref.im2col(x, (3, 3), stride=2, padding=1),
    name="im2col, stride 2 and padding 1",
)
w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
result = conv_forward(x, w, b, padding=1)
assert isinstance(result, tuple) and len(result) == 2, "conv_forward must return (out, cache)"
expected = ref.conv2d_forward(x, w, b, padding=1)[0]
assert np.shape(result[0]) == expected.shape, (
    f"conv_forward(x (2, 3, 5, 4), w (4, 3, 3, 3), padding=1) must be (N, F, OH, OW) = "
    f"{expected.shape}"
)
check_close(
    result[0],
    expected,
    name="conv_forward, x (2, 3, 5, 4), w (4, 3, 3, 3), padding 1",
    common_mistakes={
        "(M, F) reshaped straight to (N, F, OH, OW), mixing pixels and filters": (
            expected.transpose(0, 2, 3, 1).reshape(expected.shape)
        ),
        "no bias": ref.conv2d_forward(x, w, np.zeros(4), padding=1)[0],
        "the filters flipped (a true convolution, not the cross-correlation)": (
            ref.conv2d_forward(x, w[:, :, ::-1, ::-1], b, padding=1)[0]
        ),
    },
)
check_close(
    conv_forward(x, w, b, stride=2)[0],
    ref.conv2d_forward(x, w, b, stride=2)[0],
    name="conv_forward, stride 2",
)
_x32 = x.astype(np.float32)
_out32 = conv_forward(_x32, w.astype(np.float32), b.astype(np.float32))[0]
assert np.asarray(_out32).dtype == np.float32, "conv_forward: float32 in, float32 out"
passed("im2col, conv_forward")
### BEGIN HIDDEN TESTS
conv_blocked = (
    ref.conv2d_forward,
    ref.conv2d_backward,
    ref.im2col,
    ref.col2im,
    ref.conv2d_forward_naive,
    ref.conv2d_backward_naive,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
check_against_reference(
    im2col,
    lambda x, kh, kw, stride, padding: ref.im2col(x, (kh, kw), stride=stride, padding=padding),
    arrays_and_options(1),
    name="im2col (hidden; (N, C, H, W), KH, KW, stride, padding)",
    cases=[((1, 1, 4, 4), 1, 1, 1, 0), ((3, 2, 6, 7), 3, 3, 1, 1), ((2, 4, 9, 8), 2, 3, 2, 2)],
    block=conv_blocked,
    seed=702,
)
check_against_reference(
    conv_forward,
    lambda x, w, b, stride, padding: ref.conv2d_forward(x, w, b, stride, padding)[0],
    arrays_and_options(3),
    name="conv_forward (hidden; shapes of x, w and b, stride, padding)",
    cases=[
        ((1, 1, 3, 3), (1, 1, 3, 3), (1,), 1, 0),
        ((4, 3, 10, 9), (8, 3, 3, 3), (8,), 1, 1),
        ((2, 6, 11, 11), (5, 6, 5, 5), (5,), 2, 2),
    ],
    view=lambda result: result[0],
    block=conv_blocked,
    graded_elsewhere=(im2col,),
    seed=703,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1b_intro", "locked": true, "schema_version": 3, "solution": false}
# ### Part 1b: the convolution's gradients, as two more GEMMs (1 point)
#
# Write `D` for the upstream gradient `dout` (N, F, OH, OW) as an `(M, F)` matrix, its rows in
# the same `(n, i, j)` order as the rows of `cols` (the reverse of the reshape at the end of
# `conv_forward`). Then, since $\text{out} = \text{cols}\, W^\top + b$ is a dense layer,
#
# $$dW = D^\top\, \text{cols} \;\; (F \times K, \text{ reshaped to } w\text{'s shape}), \qquad
#   db = \textstyle\sum_{\text{rows}} D, \qquad
#   d\,\text{cols} = D\, W \;\; (M \times K),$$
#
# and $dx$ is `col2im(dcols)`: every entry of `dcols` is added back to the input pixel it was
# copied from. Windows overlap, so one pixel receives several contributions (they **add**), and
# the padding's entries are dropped at the end.
#
# * `col2im(cols, x_shape, kh, kw, stride=1, padding=0)`: the adjoint of `im2col`, an array of
#   shape `x_shape` (N, C, H, W) in `cols`'s dtype. The same loop over the KH·KW offsets as
#   `im2col`, with `+=` into a zero padded array instead of a copy out of it.
# * `conv_backward(dout, cache)` returns `(dx, dw, db)`, of the shapes of `x`, `w` and `b`.
#
# **Library calls.** As in Part 1a (`lapenna_labs` has `conv.col2im` and
# `conv.conv2d_backward`). `conv_backward` may use your `col2im`, and your `im2col` and
# `conv_forward`.


# %% nbgrader={"grade": false, "grade_id": "conv_backward", "locked": false, "schema_version": 3, "solution": true}
def col2im(cols, x_shape, kh, kw, stride=1, padding=0):
    """The adjoint of im2col: each row of cols added back into its window of an (N, C, H, W) array."""
    ### BEGIN SOLUTION
    cols = np.asarray(cols)
    n_images, channels, height, width = x_shape
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    windows = cols.reshape(n_images, oh, ow, channels, kh, kw)
    xp = np.zeros((n_images, channels, height + 2 * padding, width + 2 * padding), cols.dtype)
    for u in range(kh):
        for v in range(kw):
            xp[:, :, u : u + stride * oh : stride, v : v + stride * ow : stride] += windows[
                :, :, :, :, u, v
            ].transpose(0, 3, 1, 2)
    return xp[:, :, padding : padding + height, padding : padding + width]
    ### END SOLUTION


def conv_backward(dout, cache):
    """Gradients (dx, dw, db) of conv_forward, from dout (N, F, OH, OW) and its cache."""
    ### BEGIN SOLUTION
    cols, w, x_shape, stride, padding = cache
    n_filters, _, kh, kw = w.shape
    d = np.asarray(dout).astype(cols.dtype).transpose(0, 2, 3, 1).reshape(-1, n_filters)
    dw = (d.T @ cols).reshape(w.shape)
    db = d.sum(axis=0)
    dx = col2im(d @ w.reshape(n_filters, -1), x_shape, kh, kw, stride, padding)
    return dx, dw, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_conv_backward", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1b: col2im and conv_backward
import numpy as np  # noqa: E402

from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    arrays_and_options,
    check_against_reference,
    check_close,
    passed,
)

ones = np.ones((4, 4))
expected = ref.col2im(ones, (1, 1, 3, 3), 2)
got = col2im(ones, (1, 1, 3, 3), 2, 2)
assert np.shape(got) == (1, 1, 3, 3), "col2im(cols, (1, 1, 3, 3), 2, 2) must have shape x_shape"
check_close(
    got,
    expected,
    name="col2im of ones, 3 x 3 input, 2 x 2 windows",
    common_mistakes={
        "overlapping windows overwrite each other instead of adding up (use +=)": np.ones(
            (1, 1, 3, 3)
        ),
    },
)
rng = np.random.default_rng(711)
c = rng.standard_normal((2 * 3 * 4, 3 * 3 * 2))  # N OH OW rows, C KH KW columns
check_close(
    col2im(c, (2, 3, 5, 6), 3, 2, stride=2, padding=1),
    ref.col2im(c, (2, 3, 5, 6), (3, 2), stride=2, padding=1),
    name="col2im, (2, 3, 5, 6), 3 x 2 windows, stride 2, padding 1",
)
x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 3)), np.zeros(4)
ref_out, ref_cache = ref.conv2d_forward(x, w, b, padding=1)
dout = rng.standard_normal(ref_out.shape)
expected = ref.conv2d_backward(dout, ref_cache)
got = conv_backward(dout, conv_forward(x, w, b, padding=1)[1])
assert isinstance(got, tuple) and len(got) == 3, "conv_backward must return (dx, dw, db)"
check_close(got[2], expected[2], name="conv_backward db")
check_close(
    got[1],
    expected[1],
    name="conv_backward dw",
    common_mistakes={"the filters' gradient flipped": expected[1][:, :, ::-1, ::-1]},
)
check_close(got[0], expected[0], name="conv_backward dx")
passed("col2im, conv_backward")
### BEGIN HIDDEN TESTS
conv_blocked = (
    ref.conv2d_forward,
    ref.conv2d_backward,
    ref.im2col,
    ref.col2im,
    ref.conv2d_forward_naive,
    ref.conv2d_backward_naive,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
check_against_reference(
    col2im,
    lambda cols, x_shape, kh, kw, stride, padding: ref.col2im(
        cols, x_shape, (kh, kw), stride=stride, padding=padding
    ),
    arrays_and_options(1),
    name="col2im (hidden; cols shape, x_shape, KH, KW, stride, padding)",
    cases=[((16, 1), (1, 1, 4, 4), 1, 1, 1, 0), ((3 * 36, 18), (3, 2, 6, 6), 3, 3, 1, 1)],
    block=conv_blocked,
    seed=712,
)


def reference_conv_backward(x, w, b, dout_like, stride, padding):
    out, cache = ref.conv2d_forward(x, w, b, stride, padding)
    return ref.conv2d_backward(dout_like.reshape(out.shape), cache)


def conv_forward_then_backward(x, w, b, dout_like, stride, padding):
    out, cache = conv_forward(x, w, b, stride, padding)
    return conv_backward(dout_like.reshape(np.shape(out)), cache)


check_against_reference(
    conv_forward_then_backward,
    reference_conv_backward,
    arrays_and_options(4),
    name="conv_backward (hidden; shapes of x, w, b and dout, stride, padding)",
    cases=[
        ((1, 1, 3, 3), (1, 1, 3, 3), (1,), (1, 1, 1, 1), 1, 0),
        ((3, 2, 7, 6), (4, 2, 3, 3), (4,), (3, 4, 7, 6), 1, 1),
        ((2, 3, 9, 9), (5, 3, 3, 3), (5,), (2, 5, 5, 5), 2, 1),
    ],
    block=conv_blocked,
    graded_elsewhere=(im2col, conv_forward),
    seed=713,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1c_intro", "locked": true, "schema_version": 3, "solution": false}
# ### Part 1c: the network, forward and backward (1 point)
#
# The network of this lab is the smallest useful CNN:
#
# ```
# x (N, C, H, W) -> conv (F filters, K x K, stride 1, padding P) -> ReLU -> max pool 2 x 2
#   -> flatten (N, F * H' * W') -> dense (to 10 logits) -> softmax cross-entropy
# ```
#
# with the parameters in a dict: `"conv1.w"` `(F, C, K, K)`, `"conv1.b"` `(F,)`, `"dense1.w"`
# `(F·H'·W', 10)`, `"dense1.b"` `(10,)` (the names of `lapenna_labs.cnn.CNN`). Write
# `cnn_loss_and_grads(params, X, y, padding=1, need_grads=True)` returning
# `(loss, grads, logits)`: the mean cross-entropy of the batch (a float), a dict of the four
# gradients keyed and shaped like `params` (None when `need_grads` is False), and the logits
# `(N, 10)`. Forward through the layers keeping each cache; backward in reverse order: the
# loss's gradient with respect to the logits, the dense layer, flatten, the pool, the ReLU's
# derivative (`da * (z > 0)`), and your `conv_backward` (its `dx` is not needed: nothing comes
# before the first layer).
#
# The pool, flatten, dense and loss layers are given (the next cell imports them from
# `lapenna_labs`): `max_pool2d_forward(a, 2)` and `max_pool2d_backward(dp, cache)`,
# `flatten_forward(p)` and `flatten_backward(dflat, cache)`, `dense_forward(x, W, b)` and
# `dense_backward(dout, cache)` (returns `(dx, dW, db)`), and
# `softmax_cross_entropy_with_grad(logits, y)` (returns `(loss, dlogits)`). Each forward one
# returns `(out, cache)`, as yours does.
#
# **Library calls.** Allowed: NumPy, the layers imported in the next cell, and your Part 1
# functions. Blocked while graded: the rest of `lapenna_labs` (its convolutions and `cnn.CNN`)
# and the other libraries.

# %% nbgrader={"grade": false, "grade_id": "given_layers", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.conv.pooling import (  # noqa: E402
    flatten_backward,
    flatten_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from lapenna_labs.layers import dense_backward, dense_forward  # noqa: E402
from lapenna_labs.losses import softmax_cross_entropy_with_grad  # noqa: E402


# %% nbgrader={"grade": false, "grade_id": "cnn_loss_and_grads", "locked": false, "schema_version": 3, "solution": true}
def cnn_loss_and_grads(params, X, y, padding=1, need_grads=True):
    """conv -> relu -> max pool 2 -> flatten -> dense -> softmax CE: (loss, grads, logits)."""
    ### BEGIN SOLUTION
    z, conv_cache = conv_forward(X, params["conv1.w"], params["conv1.b"], padding=padding)
    a = np.maximum(z, 0)
    pooled, pool_cache = max_pool2d_forward(a, 2)
    flat, flat_cache = flatten_forward(pooled)
    logits, dense_cache = dense_forward(flat, params["dense1.w"], params["dense1.b"])
    loss, dlogits = softmax_cross_entropy_with_grad(logits, y)
    if not need_grads:
        return loss, None, logits
    grads = {}
    dflat, grads["dense1.w"], grads["dense1.b"] = dense_backward(dlogits, dense_cache)
    dpooled = flatten_backward(dflat, flat_cache)
    da = max_pool2d_backward(dpooled, pool_cache)
    _, grads["conv1.w"], grads["conv1.b"] = conv_backward(da * (z > 0), conv_cache)
    return loss, grads, logits
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_cnn_loss_and_grads", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1c: the network's loss and gradients
import numpy as np  # noqa: E402

from lapenna_labs import cnn as ref_cnn  # noqa: E402
from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, check_against_reference, check_close, passed  # noqa: E402


def reference_cnn_loss_and_grads(params, X, y, padding=1):
    """The same network as lapenna_labs.cnn.CNN (one conv block, no hidden dense layer)."""
    n_filters, channels, k, _ = params["conv1.w"].shape
    net = ref_cnn.CNN(
        input_shape=X.shape[1:],
        conv_channels=(n_filters,),
        kernel_size=k,
        padding=padding,
        hidden=(),
        n_classes=params["dense1.b"].size,
        dtype=X.dtype,
    )
    net.params.update({key: value.copy() for key, value in params.items()})
    loss, grads, logits = net.batch_loss_and_grads(X, y)
    return loss, {key: grads[key].copy() for key in params}, logits


def random_cnn(rng, x_shape, n_filters, k, padding, dtype):
    n, c, h, w = x_shape
    pooled = (h + 2 * padding - k + 1) // 2, (w + 2 * padding - k + 1) // 2
    n_flat = n_filters * pooled[0] * pooled[1]
    params = {
        "conv1.w": (0.5 * rng.standard_normal((n_filters, c, k, k))).astype(dtype),
        "conv1.b": (0.1 * rng.standard_normal(n_filters)).astype(dtype),
        "dense1.w": (0.3 * rng.standard_normal((n_flat, 10))).astype(dtype),
        "dense1.b": (0.1 * rng.standard_normal(10)).astype(dtype),
    }
    return params, rng.standard_normal(x_shape).astype(dtype), rng.integers(0, 10, n)


rng = np.random.default_rng(721)
params, X, y = random_cnn(rng, (3, 1, 8, 8), 4, 3, 1, np.float64)
result = cnn_loss_and_grads(params, X, y, padding=1)
assert isinstance(result, tuple) and len(result) == 3, (
    "cnn_loss_and_grads must return (loss, grads, logits)"
)
loss, grads, logits = result
expected_loss, expected_grads, expected_logits = reference_cnn_loss_and_grads(params, X, y)
assert np.shape(logits) == expected_logits.shape, (
    f"cnn_loss_and_grads: the logits must have shape (N, 10) = {expected_logits.shape}"
)
check_close(logits, expected_logits, name="cnn_loss_and_grads logits (3 images of 1 x 8 x 8)")
check_close(float(loss), expected_loss, name="cnn_loss_and_grads loss")
assert isinstance(grads, dict), "cnn_loss_and_grads: grads must be a dict keyed like params"
for key in ("dense1.b", "dense1.w", "conv1.b", "conv1.w"):
    assert key in grads, f"cnn_loss_and_grads: grads has no key {key!r}"
    check_close(
        grads[key],
        expected_grads[key],
        name=f"cnn_loss_and_grads grads[{key!r}]",
        factor_hint="the mean over the batch (1/N) is already in dlogits: do not divide again",
    )
_, no_grads, _ = cnn_loss_and_grads(params, X, y, need_grads=False)
assert no_grads is None, "cnn_loss_and_grads(..., need_grads=False) must return None as grads"
passed("cnn_loss_and_grads")
### BEGIN HIDDEN TESTS
network_blocked = (
    ref_cnn.CNN,
    ref.conv2d_forward,
    ref.conv2d_backward,
    ref.im2col,
    ref.col2im,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
given_modules = ("lapenna_labs.conv.pooling", "lapenna_labs.layers", "lapenna_labs.losses")
check_against_reference(
    cnn_loss_and_grads,
    reference_cnn_loss_and_grads,
    lambda rng, case, dtype: (*random_cnn(rng, case[0], *case[1:], dtype), case[-1]),
    name="cnn_loss_and_grads (hidden; x shape, filters, kernel, padding)",
    cases=[((2, 1, 6, 6), 2, 3, 1), ((4, 2, 9, 8), 3, 3, 0), ((3, 1, 10, 10), 5, 5, 2)],
    block=network_blocked,
    allow=given_modules,
    graded_elsewhere=(im2col, conv_forward, col2im, conv_backward),
    seed=722,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1d_intro", "locked": true, "schema_version": 3, "solution": false}
# ### Part 1d: train it on MNIST with the course's `fit` (1 point)
#
# `lapenna_labs.training.fit(model, X, y, epochs=..., batch_size=..., optimizer=..., seed=...)`
# is the course's training loop (the one `MLP.fit` and `CNN.fit` use). It trains any object
# that has
#
# * `params`: the dict of trainable arrays (the optimizer updates them in place);
# * `is_classifier`: True here;
# * `check_data(X, y, func)`: converts a whole data set once, to the form the next two methods
#   take (here: `X` as float32 images `(N, 1, 28, 28)`, `y` as int64 labels `(N,)`), and raises
#   a `ValueError` starting with `func` for a bad one (say, images that are not 28 x 28);
# * `batch_loss_and_grads(X, y, need_grads=True)`: `(loss, grads, logits)` of one batch;
# * `batch_accuracy(logits, y)`: the fraction of rows whose largest logit is the label.
#
# `SmallCNNBase` (next cell) holds the parameters: 8 filters of 3 x 3 with padding 1, so the
# pool gives 8 x 14 x 14 = 1,568 features for the dense layer. Write the three methods of
# `SmallCNN(SmallCNNBase)` (`batch_loss_and_grads` uses your `cnn_loss_and_grads` with
# `self.padding`). Then write
# `train_cnn(x_train, y_train, epochs=2, batch_size=32, lr=3e-3, seed=0)`: it makes
# `SmallCNN(seed=seed)`, trains it with `fit` and Adam (`Adam(lr=lr)` from
# `lapenna_labs.optim`), shuffling with `seed`, and returns the trained model.
#
# **Target: at least 85 % accuracy on the 1,000 held-out test digits**, training on the first
# 2,000 digits of `load_mnist`'s training set. Our solution reaches about 89 % in a second or
# two on the offline subset (2 epochs, batch 32, Adam with `lr=3e-3`). The graded run trains
# with `seed=1`. With more digits (`x_train_all` in a free cell; in Colab `load_mnist` gets the
# full 60,000-image MNIST) the same network does better: try it.
#
# **Library calls.** Allowed: NumPy, the layers given in Part 1c, `lapenna_labs.training.fit`
# and `lapenna_labs.optim`, and your Part 1 functions. Blocked while graded: the rest of
# `lapenna_labs` (its convolutions, `cnn.CNN`, `mlp.MLP`) and the other libraries.

# %% nbgrader={"grade": false, "grade_id": "mnist_setup", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.data import load_mnist  # noqa: E402
from lapenna_labs.optim import Adam  # noqa: E402
from lapenna_labs.training import fit  # noqa: E402

(x_train_all, y_train_all), (x_test, y_test) = load_mnist(flatten=False, channels=True)
TRAIN_SIZE = 2000
x_train, y_train = x_train_all[:TRAIN_SIZE], y_train_all[:TRAIN_SIZE]
print("train", x_train.shape, " test", x_test.shape)


class SmallCNNBase:
    """The parameters of conv 8@3x3 (padding 1) -> relu -> max pool 2 -> dense 1568 -> 10.

    He-normal conv filters (fan-in C*K*K), Glorot-uniform dense weights, zero biases, float32:
    the initialisation of lapenna_labs.cnn.CNN.
    """

    n_filters, kernel, padding, n_classes = 8, 3, 1, 10

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        n_flat = self.n_filters * 14 * 14
        limit = np.sqrt(6.0 / (n_flat + self.n_classes))
        self.params = {
            "conv1.w": rng.normal(0.0, np.sqrt(2.0 / self.kernel**2), (self.n_filters, 1, 3, 3)),
            "conv1.b": np.zeros(self.n_filters),
            "dense1.w": rng.uniform(-limit, limit, (n_flat, self.n_classes)),
            "dense1.b": np.zeros(self.n_classes),
        }
        self.params = {key: value.astype(np.float32) for key, value in self.params.items()}

    def evaluate(self, X, y):
        """Accuracy on (X, y), through your check_data, batch_loss_and_grads, batch_accuracy."""
        X, y = self.check_data(X, y, "evaluate")
        logits = np.concatenate(
            [
                self.batch_loss_and_grads(X[i : i + 500], y[i : i + 500], need_grads=False)[2]
                for i in range(0, len(X), 500)
            ]
        )
        return float(self.batch_accuracy(logits, y))


# %% nbgrader={"grade": false, "grade_id": "small_cnn", "locked": false, "schema_version": 3, "solution": true}
class SmallCNN(SmallCNNBase):
    """The network of Part 1c, trainable by lapenna_labs.training.fit."""

    is_classifier = True

    def check_data(self, X, y, func):
        """(X as float32 (N, 1, 28, 28), y as int64 (N,)); a ValueError starting with func."""
        ### BEGIN SOLUTION
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 2:
            X = X.reshape(-1, 1, 28, 28)
        if X.ndim != 4 or X.shape[1:] != (1, 28, 28):
            raise ValueError(f"{func}: X must hold images (N, 1, 28, 28), got {X.shape}")
        y = np.asarray(y, dtype=np.int64)
        if y.shape != (len(X),):
            raise ValueError(f"{func}: y must hold one label per image")
        return X, y
        ### END SOLUTION

    def batch_loss_and_grads(self, X, y, need_grads=True):
        """(loss, grads, logits) of one batch of checked data: your cnn_loss_and_grads."""
        ### BEGIN SOLUTION
        return cnn_loss_and_grads(self.params, X, y, self.padding, need_grads)
        ### END SOLUTION

    def batch_accuracy(self, logits, y):
        """The fraction of rows of logits whose largest entry is at the label y."""
        ### BEGIN SOLUTION
        return float(np.mean(np.argmax(logits, axis=1) == y))
        ### END SOLUTION


def train_cnn(x_train, y_train, epochs=2, batch_size=32, lr=3e-3, seed=0):
    """A SmallCNN(seed) trained by fit with Adam(lr), shuffled with seed; returns the model."""
    ### BEGIN SOLUTION
    model = SmallCNN(seed=seed)
    fit(
        model,
        x_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        optimizer=Adam(lr=lr),
        seed=seed,
        progress=False,
    )
    return model
    ### END SOLUTION


# %%
start = time.perf_counter()
trained_cnn = train_cnn(x_train, y_train)
train_seconds = time.perf_counter() - start
test_accuracy = trained_cnn.evaluate(x_test, y_test)
print(f"trained in {train_seconds:.1f} s; test accuracy {test_accuracy:.3f}")

# %% nbgrader={"grade": true, "grade_id": "test_train_cnn", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1d: the model object and its training
import numpy as np  # noqa: E402

from lapenna_labs import cnn as ref_cnn  # noqa: E402
from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, call_blocked, passed  # noqa: E402
from lapenna_labs.mlp import MLP  # noqa: E402
from lapenna_labs.training import Trainable  # noqa: E402

TARGET_ACCURACY = 0.85
assert isinstance(trained_cnn, SmallCNN), "train_cnn must return the trained SmallCNN"
assert isinstance(trained_cnn, Trainable), (
    "SmallCNN lacks part of fit's protocol: params, is_classifier, check_data, "
    "batch_loss_and_grads, batch_accuracy"
)
assert trained_cnn.is_classifier is True, "SmallCNN.is_classifier must be True"
try:
    trained_cnn.check_data(np.zeros((2, 1, 27, 27), np.float32), np.zeros(2, int), "check")
except ValueError as err:
    assert str(err).startswith("check"), "check_data: the ValueError's message starts with func"
else:
    raise AssertionError("SmallCNN.check_data must raise a ValueError for 27 x 27 images")
_logits = np.array([[0.0, 2.0], [3.0, 1.0], [0.0, 1.0]])
assert abs(trained_cnn.batch_accuracy(_logits, np.array([1, 1, 1])) - 2 / 3) < 1e-12, (
    "SmallCNN.batch_accuracy: the fraction of rows whose largest logit is the label"
)
assert test_accuracy >= TARGET_ACCURACY, (
    f"test accuracy {test_accuracy:.3f} is below {TARGET_ACCURACY}: check the gradients "
    "(Parts 1b and 1c), the learning rate and the epochs"
)
passed("SmallCNN, train_cnn")
### BEGIN HIDDEN TESTS
graded_cnn = call_blocked(
    train_cnn,
    x_train,
    y_train,
    seed=1,
    block=(
        ref_cnn.CNN,
        MLP,
        ref.conv2d_forward,
        ref.conv2d_backward,
        ref.im2col,
        ref.col2im,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    allow=(
        "lapenna_labs.conv.pooling",
        "lapenna_labs.layers",
        "lapenna_labs.losses",
        "lapenna_labs.training",
        "lapenna_labs.optim",
    ),
    graded_elsewhere=(im2col, conv_forward, col2im, conv_backward, cnn_loss_and_grads),
)
assert graded_cnn.evaluate(x_test, y_test) >= TARGET_ACCURACY, (
    "train_cnn (seed 1) misses the target accuracy (hidden)"
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: what a network costs, layer by layer (2 points)
#
# Before training a network, count it. A network is given here as a *spec*: a list of layers,
# each a dict,
#
# * `{"name": "c1", "kind": "conv", "filters": F, "kernel": K, "stride": S, "padding": P,
#   "bias": True}`: a K x K convolution (`stride` defaults to 1, `padding` to 0, `bias` to
#   True);
# * `{"name": "s2", "kind": "pool", "kernel": K, "stride": S, "padding": P}`: a max or
#   average pool (`stride` defaults to `kernel`, `padding` to 0); it keeps the channels;
# * `{"name": "f5", "kind": "fc", "units": n}`: a fully connected layer with a bias, which
#   flattens its input first.
#
# Write `layer_counts(input_shape, spec)`: for an input `(C, H, W)` (one image), a list with one
# dict per layer of the spec, in order, with the keys
#
# * `"name"`: the layer's name;
# * `"out_shape"`: a tuple, `(F, OH, OW)` after a conv, `(C, OH, OW)` after a pool, `(n,)`
#   after a fc layer, with $O = \lfloor (I + 2P - K)/S \rfloor + 1$ (the floor matters: at
#   stride 2 a 7 x 7 input and a 3 x 3 kernel give 3, not 4);
# * `"params"`: trainable numbers: a conv has $F\,C\,K^2$ weights **plus F biases** (none with
#   `"bias": False`), a fc layer $D\,n + n$ for $D$ inputs, a pool none;
# * `"macs"`: multiply-adds of one image's forward pass: $OH \cdot OW \cdot F \cdot C K^2$ for a
#   conv (each output number is a dot product of length $C K^2$), $D\,n$ for a fc layer, 0 for a
#   pool (its comparisons are not multiply-adds);
# * `"flops"`: floating-point operations, **2 per multiply-add** (a multiply and an add), the
#   convention of `torch.utils.flop_counter` and of GEMM's $2mnk$; biases not counted.
#
# The next cell writes LeNet-5 (LeCun et al., 1998, on a 32 x 32 input; C3 connects all 6
# channels) as a spec; the checks compare your table with the one of the course's
# `lapenna_labs.architectures`, and the hidden ones AlexNet, VGG-16 and networks you have not
# seen. The cell after your answer prints your table for LeNet-5 and AlexNet: look at where the
# parameters are (the fc layers) and where the flops are (the convolutions).
#
# **Library calls.** Allowed: Python and NumPy. Blocked while graded: `lapenna_labs` (its
# `architectures` and `conv.counts` have these tables) and the other libraries.

# %% nbgrader={"grade": false, "grade_id": "specs", "locked": true, "schema_version": 3, "solution": false}
LENET5_SPEC = [
    {"name": "c1", "kind": "conv", "filters": 6, "kernel": 5},
    {"name": "s2", "kind": "pool", "kernel": 2},
    {"name": "c3", "kind": "conv", "filters": 16, "kernel": 5},
    {"name": "s4", "kind": "pool", "kernel": 2},
    {"name": "f5", "kind": "fc", "units": 120},
    {"name": "f6", "kind": "fc", "units": 84},
    {"name": "output", "kind": "fc", "units": 10},
]
# AlexNet as torchvision builds it (64-192-384-256-256 filters), on a 3 x 224 x 224 image; its
# adaptive average pool to 6 x 6 changes nothing at this size, so it is left out.
ALEXNET_SPEC = [
    {"name": "conv1", "kind": "conv", "filters": 64, "kernel": 11, "stride": 4, "padding": 2},
    {"name": "pool1", "kind": "pool", "kernel": 3, "stride": 2},
    {"name": "conv2", "kind": "conv", "filters": 192, "kernel": 5, "padding": 2},
    {"name": "pool2", "kind": "pool", "kernel": 3, "stride": 2},
    {"name": "conv3", "kind": "conv", "filters": 384, "kernel": 3, "padding": 1},
    {"name": "conv4", "kind": "conv", "filters": 256, "kernel": 3, "padding": 1},
    {"name": "conv5", "kind": "conv", "filters": 256, "kernel": 3, "padding": 1},
    {"name": "pool5", "kind": "pool", "kernel": 3, "stride": 2},
    {"name": "fc6", "kind": "fc", "units": 4096},
    {"name": "fc7", "kind": "fc", "units": 4096},
    {"name": "fc8", "kind": "fc", "units": 1000},
]


# %% nbgrader={"grade": false, "grade_id": "layer_counts", "locked": false, "schema_version": 3, "solution": true}
def layer_counts(input_shape, spec):
    """One dict per layer of spec: name, out_shape, params, macs, flops (one image, forward)."""
    ### BEGIN SOLUTION
    shape = tuple(input_shape)
    rows = []
    for layer in spec:
        kind = layer["kind"]
        if kind == "fc":
            n_in = int(np.prod(shape))
            units = layer["units"]
            shape = (units,)
            params, macs = n_in * units + units, n_in * units
        else:
            channels, height, width = shape
            k = layer["kernel"]
            stride = layer.get("stride", 1 if kind == "conv" else k)
            padding = layer.get("padding", 0)
            oh = (height + 2 * padding - k) // stride + 1
            ow = (width + 2 * padding - k) // stride + 1
            if kind == "conv":
                filters = layer["filters"]
                shape = (filters, oh, ow)
                weights = filters * channels * k * k
                params = weights + (filters if layer.get("bias", True) else 0)
                macs = oh * ow * weights
            else:
                shape = (channels, oh, ow)
                params, macs = 0, 0
        rows.append(
            {
                "name": layer["name"],
                "out_shape": shape,
                "params": params,
                "macs": macs,
                "flops": 2 * macs,
            }
        )
    return rows
    ### END SOLUTION


# %%
for _name, _shape, _spec in (
    ("LeNet-5", (1, 32, 32), LENET5_SPEC),
    ("AlexNet", (3, 224, 224), ALEXNET_SPEC),
):
    _rows = layer_counts(_shape, _spec)
    print(f"{_name}, input {_shape}")
    print(f"{'layer':<8}{'output':>16}{'params':>14}{'MACs':>16}")
    for _r in _rows:
        print(f"{_r['name']:<8}{str(_r['out_shape']):>16}{_r['params']:>14,}{_r['macs']:>16,}")
    _p, _m = sum(r["params"] for r in _rows), sum(r["macs"] for r in _rows)
    print(f"{'total':<8}{'':>16}{_p:>14,}{_m:>16,}  ({2 * _m / 1e6:,.1f} MFLOP per image)\n")

# %% nbgrader={"grade": false, "grade_id": "counts_checks", "locked": true, "schema_version": 3, "solution": false}
# What the next two test cells share: the reference table (from lapenna_labs.conv.counts and
# lapenna_labs.architectures, never from your code), the comparison, and random networks.
from lapenna_labs import architectures  # noqa: E402
from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import check_close  # noqa: E402


def reference_layer_counts(input_shape, spec):
    """The table from lapenna_labs.conv.counts (conv), output_size (pool) and D n + n (fc)."""
    shape, rows = tuple(input_shape), []
    for layer in spec:
        if layer["kind"] == "fc":
            n_in, units = int(np.prod(shape)), layer["units"]
            shape, params, macs = (units,), n_in * units + units, n_in * units
        elif layer["kind"] == "conv":
            counts = ref.conv2d_counts(
                (1, *shape),
                (layer["filters"], shape[0], layer["kernel"], layer["kernel"]),
                stride=layer.get("stride", 1),
                padding=layer.get("padding", 0),
                bias=layer.get("bias", True),
            )
            shape, params, macs = counts.geometry.out_shape[1:], counts.params, counts.macs
        else:
            k = layer["kernel"]
            size = [
                ref.output_size(n, k, layer.get("stride", k), layer.get("padding", 0))
                for n in shape[1:]
            ]
            shape, params, macs = (shape[0], *size), 0, 0
        row = {"name": layer["name"], "out_shape": tuple(shape), "params": params}
        rows.append(row | {"macs": macs, "flops": 2 * macs})
    return rows


def bias_count(layer, row):
    """How many biases a layer of the spec has: n for fc, F for a conv with bias, else 0."""
    if layer["kind"] == "fc" or (layer["kind"] == "conv" and layer.get("bias", True)):
        return row["out_shape"][0]
    return 0


def check_table(got, expected, name, columns, spec):
    """Compare the columns of two layer tables, saying which layer and what is off."""
    assert isinstance(got, list) and len(got) == len(expected), (
        f"{name}: layer_counts must return a list with one dict per layer ({len(expected)})"
    )
    for row, want in zip(got, expected, strict=True):
        assert isinstance(row, dict), f"{name}: every row must be a dict"
        missing = [key for key in ("name", *columns) if key not in row]
        assert not missing, f"{name}: the row of {want['name']} has no key(s) {missing}"
        assert row["name"] == want["name"], f"{name}: the rows must follow the spec's order"
    for column in columns:
        if column == "out_shape":
            for row, want in zip(got, expected, strict=True):
                shape, right = tuple(row["out_shape"]), tuple(want["out_shape"])
                assert len(shape) == len(right), (
                    f"{name}: the out_shape of {want['name']} must have {len(right)} entries: "
                    "(F, OH, OW) after a conv, (C, OH, OW) after a pool, (n,) after fc"
                )
                if shape == right:
                    continue
                off = {a - b for a, b in zip(shape[1:], right[1:], strict=True)} - {0}
                hint = ""
                if len(right) == 3 and shape[0] != right[0]:
                    hint = ": the channels (F after a conv; a pool keeps C)"
                elif off == {-1}:
                    hint = ": a size is one too small (the formula's + 1 is missing?)"
                elif off == {1}:
                    hint = ": a size is one too large (round the division down, not up)"
                raise AssertionError(f"{name}: the out_shape of {want['name']} is wrong{hint}")
            continue
        mistakes = {}
        if column == "params":
            for kinds, label in (
                (("conv", "fc"), "the biases are not counted (a conv has F, a fc layer n)"),
                (("conv",), "the conv layers' biases are not counted (F per conv)"),
                (("fc",), "the fc layers' biases are not counted (n per fc layer)"),
            ):
                mistakes[label] = [
                    want["params"] - (bias_count(layer, want) if layer["kind"] in kinds else 0)
                    for layer, want in zip(spec, expected, strict=True)
                ]
        if column == "flops":
            mistakes["the MACs: a flop count has 2 per multiply-add"] = [
                want["macs"] for want in expected
            ]
        if column == "macs":
            mistakes["the flops (2 per multiply-add), not the multiply-adds"] = [
                want["flops"] for want in expected
            ]
        check_close(
            np.array([row[column] for row in got], dtype=np.float64),
            np.array([want[column] for want in expected], dtype=np.float64),
            name=f"{name} {column!r} (one per layer)",
            rtol=0,
            atol=0.5,
            common_mistakes={k: np.array(v, dtype=np.float64) for k, v in mistakes.items()},
        )


def architecture_rows(name, spec):
    """The rows of lapenna_labs.architectures for the layers of `spec` (no adaptive pools)."""
    names = {layer["name"] for layer in spec}
    rows = [r for r in architectures.architecture(name).layers if r.name in names]
    columns = ("name", "out_shape", "params", "macs", "flops")
    return [{column: getattr(r, column) for column in columns} for r in rows]


def random_spec(rng):
    """A random valid network on a random input: convs and pools, then one or two fc layers."""
    shape = (int(rng.integers(1, 4)), int(rng.integers(20, 40)), int(rng.integers(20, 40)))
    spec, size = [], min(shape[1:])
    for i in range(int(rng.integers(2, 5))):
        k = int(rng.choice([1, 2, 3, 5]))
        if size < max(k, 3):
            break
        if rng.random() < 0.6:
            layer = {"name": f"conv{i}", "kind": "conv", "filters": int(rng.integers(2, 17))}
            layer["kernel"], layer["stride"] = k, int(rng.integers(1, 3))
            layer["padding"] = int(rng.integers(0, k // 2 + 1))
            layer["bias"] = bool(rng.random() < 0.7)
        else:
            layer = {"name": f"pool{i}", "kind": "pool", "kernel": int(rng.integers(2, 4))}
            if rng.random() < 0.5:
                layer["stride"] = int(rng.integers(1, 3))
        spec.append(layer)
        size = min(reference_layer_counts(shape, spec)[-1]["out_shape"][1:])
    spec.append({"name": "fc1", "kind": "fc", "units": int(rng.integers(5, 50))})
    if rng.random() < 0.5:
        spec.append({"name": "fc2", "kind": "fc", "units": 10})
    return shape, spec


# %% nbgrader={"grade": true, "grade_id": "test_layer_shapes_params", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 2: output shapes and parameters
import numpy as np  # noqa: E402

from lapenna_labs import architectures  # noqa: E402, F811
from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, call_blocked, check_close, passed  # noqa: E402

lenet_expected = architecture_rows("lenet5", LENET5_SPEC)
lenet_table = layer_counts((1, 32, 32), LENET5_SPEC)
check_table(lenet_table, lenet_expected, "layer_counts(LeNet-5)", ("out_shape",), LENET5_SPEC)
check_table(lenet_table, lenet_expected, "layer_counts(LeNet-5)", ("params",), LENET5_SPEC)
_odd = [{"name": "c", "kind": "conv", "filters": 2, "kernel": 3, "stride": 2, "bias": False}]
check_table(
    layer_counts((1, 7, 8), _odd),
    reference_layer_counts((1, 7, 8), _odd),
    "layer_counts(7 x 8 input, 3 x 3 conv, stride 2, no bias)",
    ("out_shape", "params"),
    _odd,
)
passed("layer_counts: output shapes and parameters")
### BEGIN HIDDEN TESTS
counts_blocked = (
    architectures.architecture,
    ref.conv2d_counts,
    ref.conv2d_macs,
    ref.conv2d_flops,
    ref.output_size,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
rng = np.random.default_rng(731)
for trial in range(5):
    shape, spec = random_spec(rng)
    check_table(
        call_blocked(layer_counts, shape, spec, block=counts_blocked),
        reference_layer_counts(shape, spec),
        f"layer_counts (hidden, random network {trial})",
        ("out_shape", "params"),
        spec,
    )
check_table(
    call_blocked(layer_counts, (3, 224, 224), ALEXNET_SPEC, block=counts_blocked),
    architecture_rows("alexnet", ALEXNET_SPEC),
    "layer_counts(AlexNet) (hidden)",
    ("out_shape", "params"),
    ALEXNET_SPEC,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_layer_macs_flops", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 2: multiply-adds and flops
import numpy as np  # noqa: E402

from lapenna_labs import architectures  # noqa: E402
from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, call_blocked, passed  # noqa: E402

check_table(
    layer_counts((1, 32, 32), LENET5_SPEC),
    architecture_rows("lenet5", LENET5_SPEC),
    "layer_counts(LeNet-5)",
    ("macs", "flops"),
    LENET5_SPEC,
)
_odd = [
    {"name": "c", "kind": "conv", "filters": 3, "kernel": 3, "stride": 2, "padding": 1},
    {"name": "p", "kind": "pool", "kernel": 3, "stride": 2},
    {"name": "fc", "kind": "fc", "units": 5},
]
check_table(
    layer_counts((2, 11, 9), _odd),
    reference_layer_counts((2, 11, 9), _odd),
    "layer_counts(2 x 11 x 9 input: conv, overlapping pool, fc)",
    ("macs", "flops"),
    _odd,
)
passed("layer_counts: MACs and flops")
### BEGIN HIDDEN TESTS
counts_blocked = (
    architectures.architecture,
    ref.conv2d_counts,
    ref.conv2d_macs,
    ref.conv2d_flops,
    ref.output_size,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
rng = np.random.default_rng(732)
for trial in range(5):
    shape, spec = random_spec(rng)
    check_table(
        call_blocked(layer_counts, shape, spec, block=counts_blocked),
        reference_layer_counts(shape, spec),
        f"layer_counts (hidden, random network {trial})",
        ("macs", "flops"),
        spec,
    )
VGG16_SPEC = []  # five blocks of 3 x 3 convs, each closed by a 2 x 2 pool; then three fc
for i, (filters, n_convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
    for j in range(1, n_convs + 1):
        VGG16_SPEC.append(
            {"name": f"conv{i}_{j}", "kind": "conv", "filters": filters, "kernel": 3, "padding": 1}
        )
    VGG16_SPEC.append({"name": f"pool{i}", "kind": "pool", "kernel": 2})
for name, units in (("fc6", 4096), ("fc7", 4096), ("fc8", 1000)):
    VGG16_SPEC.append({"name": name, "kind": "fc", "units": units})
for arch, spec in (("alexnet", ALEXNET_SPEC), ("vgg16", VGG16_SPEC)):
    check_table(
        call_blocked(layer_counts, (3, 224, 224), spec, block=counts_blocked),
        architecture_rows(arch, spec),
        f"layer_counts({arch}) (hidden)",
        ("out_shape", "params", "macs", "flops"),
        spec,
    )
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part3_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 3: the loops against the GEMM, timed correctly (3 points)
#
# Lab 2 timed one matrix product; here you time any function. The same three rules hold on a
# CPU:
#
# 1. **Warm up**: the first call pays one-off costs (allocating and touching memory, starting
#    BLAS threads, filling caches). Call the function `warmup` times untimed first.
# 2. **Repeat, and take the median**: the operating system can interrupt any call, and one slow
#    repeat moves the mean a lot but the median not at all.
# 3. **Read the clock right before and right after each call**, with `time.perf_counter()` (the
#    clock meant for intervals), not around the whole loop.
#
# **3a (2 points).** Write `time_call(fn, *args, warmup=1, repeats=5, clock=time.perf_counter)`:
# call `fn(*args)` `warmup` times, then time `repeats` calls, each read from `clock()` right
# before and right after the call, and return the median of the `repeats` durations in seconds.
#
# **3b (1 point).** The im2col convolution's work is one GEMM, `(M, K) @ (K, F)` with
# $M = N \cdot OH \cdot OW$ and $K = C \cdot KH \cdot KW$: $M K F$ multiply-adds, $2 M K F$
# flops. Write `conv_gemm_gflops(x_shape, w_shape, stride, padding, seconds)`: the GFLOP/s
# ($10^9$ flops per second) of a convolution of an input of shape `x_shape` (N, C, H, W) with
# filters of shape `w_shape` (F, C, KH, KW) that took `seconds`. Count the whole batch, 2 flops
# per multiply-add, and no bias.
#
# The cell after the checks times the loops (`lapenna_labs.conv.conv2d_forward_naive`) against
# your `conv_forward` on LeNet's first layer with your `time_call`, and prints your GFLOP/s.
#
# **Library calls.** Allowed: Python (`time`, `statistics`) and NumPy. Blocked while graded:
# `lapenna_labs` (its `blas.time_callable` times functions this way, and `conv.counts` counts
# flops) and the other libraries.


# %% nbgrader={"grade": false, "grade_id": "timing", "locked": false, "schema_version": 3, "solution": true}
def time_call(fn, *args, warmup=1, repeats=5, clock=time.perf_counter):
    """Median seconds of `repeats` calls fn(*args), after `warmup` untimed calls."""
    ### BEGIN SOLUTION
    for _ in range(warmup):
        fn(*args)
    durations = []
    for _ in range(repeats):
        start = clock()
        fn(*args)
        durations.append(clock() - start)
    return float(np.median(durations))
    ### END SOLUTION


def conv_gemm_gflops(x_shape, w_shape, stride, padding, seconds):
    """GFLOP/s of a convolution x (N, C, H, W) * w (F, C, KH, KW) that took `seconds` (2 M K F flops)."""
    ### BEGIN SOLUTION
    n_images, channels, height, width = x_shape
    n_filters, _, kh, kw = w_shape
    oh = (height + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    m, k = n_images * oh * ow, channels * kh * kw
    return 2 * m * k * n_filters / seconds / 1e9
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_time_call", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Part 3a: time_call, on a clock that moves only when the timed work runs
import numpy as np  # noqa: E402

from lapenna_labs import blas  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, FakeClock, call_blocked, check_close, passed  # noqa: E402

_seen_args = []


def _timed_work(clock):
    def work(*args):
        _seen_args.append(args)
        clock.work()

    return work


_clock = FakeClock([40.0, 3.0, 1.0, 2.0, 100.0, 4.0])
_t = time_call(_timed_work(_clock), "a", 2, warmup=1, repeats=5, clock=_clock)
assert _clock.calls == 6, f"time_call: {_clock.calls} calls made, expected 1 warm-up + 5 repeats"
assert all(a == ("a", 2) for a in _seen_args), "time_call: call fn(*args), with the arguments"
assert _t != 22.0, "time_call: that is the mean of the repeats; return the median"
assert _t != 1.0, "time_call: that is the fastest repeat; return the median"
assert _t != 3.5, "time_call: do not time the warm-up call (the first call pays one-off costs)"
assert _t != 110.0, "time_call: return the median of the repeats, not their total"
check_close(_t, 3.0, name="time_call (1 warm-up, 5 repeats)")
_clock = FakeClock([9.0, 8.0, 1.0, 2.0])
_t = time_call(_timed_work(_clock), warmup=2, repeats=2, clock=_clock)
assert _clock.calls == 4, "time_call: warm-up=2 and repeats=2 make 4 calls"
check_close(_t, 1.5, name="time_call (2 warm-up, 2 repeats: the median of an even count)")
_real = time_call(np.dot, np.ones((64, 64)), np.ones((64, 64)), warmup=1, repeats=3)
assert 0 < _real < 1, "time_call: a 64 x 64 product should take well under a second"
passed("time_call")
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(741)
for _w, _r in ((0, 1), (2, 4), (3, 9), (1, 6)):
    _d = list(_rng.uniform(0.5, 9.5, size=_w + _r))
    _clock = FakeClock(_d)
    _t = call_blocked(
        time_call,
        _timed_work(_clock),
        1.0,
        warmup=_w,
        repeats=_r,
        clock=_clock,
        block=(blas.time_callable, blas.time_gemm, "lapenna_labs", *OTHER_LIBRARIES),
    )
    assert _clock.calls == _w + _r, "time_call: wrong number of calls (hidden)"
    check_close(_t, float(np.median(_d[_w:])), name="time_call (other warm-up and repeats, hidden)")
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_conv_gemm_gflops", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 3b: the GEMM's GFLOP/s
from lapenna_labs import conv as ref  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, check_against_reference, check_close, passed  # noqa: E402


def reference_gflops(x_shape, w_shape, stride, padding, seconds):
    counts = ref.conv2d_counts(x_shape, w_shape, stride=stride, padding=padding)
    return counts.gemm_flops / seconds / 1e9


_case = ((8, 1, 28, 28), (6, 1, 5, 5), 1, 2, 0.002)
_expected = reference_gflops(*_case)
_no_plus_one = 2 * 8 * 27 * 27 * 25 * 6 / 0.002 / 1e9
check_close(
    conv_gemm_gflops(*_case),
    _expected,
    name="conv_gemm_gflops(LeNet's conv1 on 8 images, 2 ms)",
    common_mistakes={
        "the multiply-adds per second: a flop count has 2 per multiply-add": _expected / 2,
        "one image, not the batch of N": _expected / 8,
        "an output size one too small (the formula's + 1 is missing)": _no_plus_one,
        "GFLOP (no division by the seconds)": _expected * 0.002,
        "flops per second, not GFLOP/s (divide by 1e9)": _expected * 1e9,
    },
)
check_close(
    conv_gemm_gflops((2, 3, 9, 9), (4, 3, 3, 3), 2, 0, 1.0),
    reference_gflops((2, 3, 9, 9), (4, 3, 3, 3), 2, 0, 1.0),
    name="conv_gemm_gflops((2, 3, 9, 9), (4, 3, 3, 3), stride 2, 1 s)",
)
passed("conv_gemm_gflops")
### BEGIN HIDDEN TESTS
check_against_reference(
    conv_gemm_gflops,
    reference_gflops,
    lambda rng, case, dtype: case,
    name="conv_gemm_gflops (hidden)",
    cases=[
        ((1, 3, 224, 224), (64, 3, 7, 7), 2, 3, 0.0123),
        ((16, 64, 56, 56), (64, 64, 3, 3), 1, 1, 0.5),
        ((4, 8, 13, 13), (16, 8, 2, 2), 3, 0, 1e-4),
    ],
    dtypes=(None,),
    view=float,
    block=(ref.conv2d_counts, ref.conv2d_flops, ref.conv2d_macs, "lapenna_labs", *OTHER_LIBRARIES),
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "compare_intro", "locked": true, "schema_version": 3, "solution": false}
# **The loops against the GEMM (not graded).** The next cell times LeNet's first layer (six 5 x 5
# filters, padding 2, on a batch of 28 x 28 digits) two ways with your `time_call`: the
# explicit loops of Lab 5 (`lapenna_labs.conv.conv2d_forward_naive`: one small NumPy call per
# output pixel and filter) and your `conv_forward` (one im2col copy and one GEMM). Both do the
# same $2MKF$ flops. Questions to think about: why is the GEMM so much faster when it does the
# same arithmetic? How far is its GFLOP/s from the GEMM rates you measured in Lab 2, and why
# (K = 25 and F = 6 are tiny: look at the intensity)? What does im2col pay in memory?

# %% nbgrader={"grade": false, "grade_id": "naive_vs_im2col", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.conv import conv2d_forward_naive  # noqa: E402

_batch = 2 if GRADING else 16
_rng = np.random.default_rng(9)
_x = _rng.random((_batch, 1, 28, 28), dtype=np.float32)
_w = _rng.standard_normal((6, 1, 5, 5)).astype(np.float32)
_b = np.zeros(6, dtype=np.float32)
try:
    _loops = time_call(conv2d_forward_naive, _x, _w, _b, 1, 2, warmup=1, repeats=3)
    _gemm = time_call(conv_forward, _x, _w, _b, 1, 2, warmup=2, repeats=20)
    for _label, _seconds in (("loops", _loops), ("im2col + GEMM", _gemm)):
        _rate = conv_gemm_gflops(_x.shape, _w.shape, 1, 2, _seconds)
        print(f"{_label:>14}: {_seconds * 1e3:8.2f} ms  {_rate:8.2f} GFLOP/s")
    print(f"the GEMM is {_loops / _gemm:.0f} times faster on a batch of {_batch}")
    print(f"cols holds {im2col(_x, 5, 5, padding=2).size / _x.size:.0f} times as many numbers as x")
except NotImplementedError:
    print("Finish Parts 1a and 3 first.")

# %% [markdown] nbgrader={"grade": false, "grade_id": "wrapup", "locked": true, "schema_version": 3, "solution": false}
# ## What you built
#
# A convolutional network whose every trainable layer is a matrix product: the convolution is
# `cols @ W.T` forward and `D.T @ cols`, `D @ W` backward, the dense layer the same three
# products. You trained it with the same loop that trains the course's MLP, because the loop only
# needs a loss and gradients. The counts show why architectures look the way they do: in
# AlexNet and VGG-16 the fully connected layers hold most of the parameters and the
# convolutions do most of the flops, which is why later networks (ResNet)
# replace the big fc layers with a global average pool. And the timing shows that the same
# flops cost very different times: what the GEMM buys is not less arithmetic but arithmetic
# that runs at BLAS speed.
