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
# # Lab 0: the template lab
#
# This lab is the course's template, not a week: copy it to start a new lab, and read
# `autograder/notebooks/README.md`, which walks through it cell by cell. It has the two kinds of
# part a lab has: one that runs anywhere (NumPy), and one whose full test needs a GPU.
#
# | part | what you write | points |
# |---|---|---|
# | 1 | `leaky_relu`, in NumPy | 2 |
# | 2 | `matmul_on`, a product in PyTorch on the CPU or the GPU | 1 |
# | | **total** | **3** |
#
# Expect ten minutes.

# %% [markdown] nbgrader={"grade": false, "grade_id": "how_graded", "locked": true, "schema_version": 3, "solution": false}
# **How this lab is graded.** Cells marked *answer* are yours; the cells after them check your work.
# Visible checks run now and tell you what is wrong (never what the right values are); each
# prints "...: the visible checks pass." when yours pass. Hidden checks run only when the
# instructor grades, on fresh random inputs in float32 and float64. Do not rename the functions
# or change their arguments. A cell that runs longer than a minute is stopped.
#
# **Library calls.** Each part says which libraries its answer may call. While the hidden checks
# run your function, the others are *blocked*, under any name you imported them by: the
# course's own `lapenna_labs` (which has `leaky_relu`) and the other libraries. A call of a
# blocked function scores zero **for that part only**: it is charged to the function that made
# it. A later part that uses one of your earlier functions is not charged for what that function
# calls (its own part already lost the points), only for its own calls.
#
# **The grader has no GPU.** It sets `LAPENNA_FORCE_CPU=1`, so `DEVICE` is `"cpu"` and the cells
# behind `if DEVICE == "cuda":` are skipped; what only runs on a GPU is checked by reading your
# code.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import numpy as np

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: the leaky ReLU (2 points)
#
# $$\operatorname{leaky\_relu}(z) = \begin{cases} z & z > 0 \\ \alpha z & z \le 0 \end{cases}$$
#
# Write `leaky_relu(z, alpha=0.01)` for an array `z` of any shape: return an array of the same
# shape and dtype (float32 in, float32 out).
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# `activations.leaky_relu`) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "leaky_relu", "locked": false, "schema_version": 3, "solution": true}
def leaky_relu(z, alpha=0.01):
    """z where z > 0, alpha * z elsewhere, elementwise, in z's dtype."""
    ### BEGIN SOLUTION
    z = np.asarray(z)
    return np.where(z > 0, z, alpha * z).astype(z.dtype)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_leaky_relu", "locked": true, "points": 2, "schema_version": 3, "solution": false}
# Every test cell imports what it uses: an answer cell cannot shadow it.
import numpy as np  # noqa: E402, F811

from lapenna_labs import activations as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    normal_inputs,
    passed,
)

z = np.array([-2.0, -0.5, 0.0, 1.5])
check_close(
    leaky_relu(z),
    ref.leaky_relu(z),
    name="leaky_relu([-2, -0.5, 0, 1.5])",
    common_mistakes={"the plain ReLU (alpha ignored)": np.maximum(z, 0)},
)
check_close(leaky_relu(z, alpha=0.2), ref.leaky_relu(z, alpha=0.2), name="leaky_relu, alpha=0.2")
check_close(leaky_relu(z.astype(np.float32)), ref.leaky_relu(z.astype(np.float32)), name="float32")
passed("leaky_relu")
### BEGIN HIDDEN TESTS
check_against_reference(
    leaky_relu,
    ref.leaky_relu,
    normal_inputs(scale=3.0),
    name="leaky_relu (hidden)",
    cases=[(7,), (4, 5), (2, 3, 4)],
    block=(ref.leaky_relu, "lapenna_labs", *OTHER_LIBRARIES),
    seed=1,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: a product on the GPU (1 point)
#
# Write `matmul_on(A, B, device="cpu")`: copy the NumPy arrays `A` and `B` to PyTorch tensors on
# `device` (`"cpu"` or `"cuda"`), multiply them there, and return the product as a NumPy array.
# On a GPU, `.numpy()` only works on a tensor in the CPU's memory: move the result back with
# `.cpu()` first. The grader has no GPU, so it runs your function on the CPU and reads your code
# for the `.cpu()`.
#
# **Library calls.** Allowed: NumPy and PyTorch. Blocked while graded: `lapenna_labs` and SciPy,
# TensorFlow, Keras, JAX.


# %% nbgrader={"grade": false, "grade_id": "matmul_on", "locked": false, "schema_version": 3, "solution": true}
def matmul_on(A, B, device="cpu"):
    """A @ B computed by PyTorch on `device`, returned as a NumPy array."""
    ### BEGIN SOLUTION
    import torch

    product = torch.from_numpy(A).to(device) @ torch.from_numpy(B).to(device)
    return product.cpu().numpy()
    ### END SOLUTION


# %% [markdown] nbgrader={"grade": false, "grade_id": "gpu_demo_intro", "locked": true, "schema_version": 3, "solution": false}
# The next cell runs only on a GPU (in Colab, choose a GPU runtime); elsewhere, and when the lab
# is graded, it says so and does nothing.

# %% nbgrader={"grade": false, "grade_id": "gpu_demo", "locked": true, "schema_version": 3, "solution": false}
if DEVICE == "cuda":  # noqa: F821 (defined by the device cell at the top)
    _A = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    _C = matmul_on(_A, _A, device="cuda")
    print(
        f"a 1024 x 1024 product on the GPU; largest difference from NumPy's: "
        f"{abs(_C - _A @ _A).max():.1e}"
    )
else:
    print("No GPU: this cell is skipped.")

# %% nbgrader={"grade": true, "grade_id": "test_matmul_on", "locked": true, "points": 1, "schema_version": 3, "solution": false}
import numpy as np  # noqa: E402

from lapenna_labs.grading import (  # noqa: E402
    check_against_reference,
    check_close,
    passed,
    source_mentions,
)

_A, _B = np.ones((2, 3)), np.arange(12.0).reshape(3, 4)
check_close(matmul_on(_A, _B), _A @ _B, name="matmul_on((2, 3) ones, (3, 4) arange), on the CPU")
assert source_mentions(matmul_on, ".cpu()"), (
    "matmul_on: on a GPU, .numpy() fails on a CUDA tensor: call .cpu() before .numpy()"
)
passed("matmul_on")
### BEGIN HIDDEN TESTS
check_against_reference(
    matmul_on,
    lambda A, B: A @ B,
    lambda rng, case, dtype: (
        rng.standard_normal(case[:2]).astype(dtype),
        rng.standard_normal(case[1:]).astype(dtype),
    ),
    name="matmul_on (hidden, on the CPU; M, K, N)",
    cases=[(1, 1, 1), (5, 7, 3)],
    block=("lapenna_labs", "scipy", "tensorflow", "keras", "jax"),  # PyTorch is allowed
    seed=2,
)
### END HIDDEN TESTS
