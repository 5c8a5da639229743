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
# # Lab 4: the backward path, optimizers, and training an MLP from scratch
#
# Week 4 of LAPENNA. Last week you computed predictions and losses; this week you compute
# the gradients of the loss with respect to every weight (backpropagation), check them
# numerically, write the update rules of two optimizers, and train a 784-16-16-10 network on
# MNIST with nothing but NumPy and your own code.
#
# | part | what you write | points |
# |---|---|---|
# | 1 | the backward pass of the gates on the graph $f = (x + y)\,z$ and the max gate; then your own autodiff: the backward pass of any scalar graph (topological order, local gradients) | 2 |
# | 2 | `dense_backward` | 1 |
# | 3 | backpropagation through the slides' 2-2-2 network | 2 |
# | 4 | softmax cross-entropy's gradient, and the slides' softmax exercise | 1 |
# | 5 | a numerical gradient, and a gradient check of your layer | 1 |
# | 6 | the update rules of SGD with momentum and of Adam | 2 |
# | 7 | train 784-16-16-10 on MNIST to at least 85 % test accuracy | 1 |
# | 8 | the same network in PyTorch or Keras (not graded) | 0 |
# | | **total** | **10** |
#
# Expect one to two hours. Everything runs on a CPU in well under a minute.
#
# **Conventions** (as last week, and as in `lapenna_labs`): batches are rows, `x` is `(N, D)`,
# `W` is `(D, M)`, `b` is `(M,)`; a forward function returns `(out, cache)` and its backward
# function takes `(dout, cache)`, where `dout` is the gradient of the loss with respect to `out`.
# Keep the dtype (float32 in, float32 out).

# %% [markdown] nbgrader={"grade": false, "grade_id": "how_graded", "locked": true, "schema_version": 3, "solution": false}
# **How this lab is graded.** Cells marked *answer* are yours; the cells after them check your work.
# Visible checks run now and tell you what is wrong (never what the right values are); each
# prints "...: the visible checks pass." when yours pass. Hidden checks run only when the
# instructor grades, on fresh random inputs in float32 and float64 as well as on the worked
# numbers. Do not rename the functions or change their arguments.
#
# **Library calls.** Each part says which libraries its answer may call. While the hidden checks
# run your function, the others are *blocked*, under any name you imported them by: the
# course's own `lapenna_labs` (which has every answer of this lab; Part 7 may use its
# activations) and the other libraries. A call of a blocked function scores zero **for that
# part only**: it is charged to the function that made it. A later part that uses one of your
# earlier functions (Parts 4b and 7 use your `dense_backward`, Part 7 your optimizer) is not
# charged for what that function calls (its own part already lost the points), only for its
# own calls.

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false}
import time

import numpy as np

np.set_printoptions(precision=6, suppress=True)

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 1: gates on a computational graph, and your own autodiff (2 points)
#
# ### Part 1a: the gates (1 point)
#
# The slides' graph: $q = x + y$, $f = q\,z$, at $x = -2$, $y = 5$, $z = -4$. Backpropagation
# walks it from the output: start with $\partial f / \partial f = $ `dout` (1 for the
# output itself), and at each gate multiply the upstream gradient by the local gradient.
#
# * **add gate**, gradient *distributor*: both inputs get the upstream gradient unchanged;
# * **mul gate**, *swap multiplier*: each input gets the upstream gradient times the *other* input;
# * **copy gate** (one value used twice), gradient *adder*: the gradients of the copies add up;
# * **max gate**, gradient *router*: the larger input gets the whole upstream gradient, the other 0.
#
# Write `add_mul_backward(x, y, z, dout=1.0)` returning a dict with the forward values `"q"`
# and `"f"` and the gradients `"dq"`, `"dx"`, `"dy"`, `"dz"` (of `dout * f`), and
# `max_gate_backward(dout, a, b)` returning `(da, db)` for $m = \max(a, b)$ (on a tie, route
# the gradient to `a`). Scalars in, floats out; `max_gate_backward` must also work elementwise
# on arrays of equal shape.
#
# **Library calls.** Allowed: Python and NumPy. Blocked while graded: `lapenna_labs` (it has a
# scalar autodiff, `graph.Value`) and the other libraries (SciPy, PyTorch, TensorFlow, Keras,
# JAX).


# %% nbgrader={"grade": false, "grade_id": "gates", "locked": false, "schema_version": 3, "solution": true}
def add_mul_backward(x, y, z, dout=1.0):
    """Forward and backward through q = x + y, f = q * z; returns q, f, dq, dx, dy, dz."""
    ### BEGIN SOLUTION
    q = x + y
    f = q * z
    dq = dout * z  # mul gate: the other input
    dz = dout * q
    dx = dq * 1.0  # add gate: passes the gradient through
    dy = dq * 1.0
    return {"q": q, "f": f, "dq": dq, "dx": dx, "dy": dy, "dz": dz}
    ### END SOLUTION


def max_gate_backward(dout, a, b):
    """Gradients (da, db) of m = max(a, b): the larger input (a on a tie) gets dout."""
    ### BEGIN SOLUTION
    a_wins = np.asarray(a) >= np.asarray(b)
    dout = np.asarray(dout, dtype=np.result_type(dout, a, b, float))
    da = np.where(a_wins, dout, 0.0).astype(dout.dtype)
    db = np.where(a_wins, 0.0, dout).astype(dout.dtype)
    if da.ndim == 0:
        return float(da), float(db)
    return da, db
    ### END SOLUTION


# %%
print(add_mul_backward(-2.0, 5.0, -4.0))
print(max_gate_backward(2.0, 3.0, -1.0))

# %% nbgrader={"grade": true, "grade_id": "test_gates", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1a: gates
import numpy as np  # noqa: E402

from lapenna_labs import graph as ref_graph  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

got = add_mul_backward(-2.0, 5.0, -4.0)
assert isinstance(got, dict), "add_mul_backward must return a dict"
missing = [k for k in ("q", "f", "dq", "dx", "dy", "dz") if k not in got]
assert not missing, f"add_mul_backward: no key(s) {missing}"
ex = ref_graph.add_mul_example(x=-2.0, y=5.0, z=-4.0)
check_close(np.float64(got["q"]), np.float64(ex["q"].data), name="q = x + y")
check_close(np.float64(got["f"]), np.float64(ex["f"].data), name="f = q z")
if np.isclose(got["dz"], -4.0):
    raise AssertionError("dz: the mul gate swaps: df/dz is the OTHER input q, not z itself")
for key in ("dq", "dx", "dy", "dz"):
    check_close(np.float64(got[key]), np.float64(ex[key[1:]].grad), name=f"add_mul_backward {key}")
got2 = add_mul_backward(-2.0, 5.0, -4.0, dout=2.0)
check_close(np.float64(got2["dx"]), np.float64(2 * ex["x"].grad), name="dx with dout=2")
da, db = max_gate_backward(2.0, 3.0, -1.0)
assert (float(da), float(db)) != (0.0, 2.0), "max gate: the LARGER input gets the gradient"
check_close(np.array([float(da), float(db)]), np.array([2.0, 0.0]), name="max_gate_backward")
da, db = max_gate_backward(np.ones(3), np.array([1.0, -1.0, 0.0]), np.array([0.0, 2.0, 0.0]))
check_close(np.asarray(da, dtype=float), np.array([1.0, 0.0, 1.0]), name="max gate da (arrays)")
check_close(np.asarray(db, dtype=float), np.array([0.0, 1.0, 0.0]), name="max gate db (arrays)")
passed("add_mul_backward, max_gate_backward")
### BEGIN HIDDEN TESTS
blocked = (ref_graph.Value, ref_graph.add_mul_example, "lapenna_labs", *OTHER_LIBRARIES)


def add_mul_reference(x, y, z, dout):
    ex = ref_graph.add_mul_example(x=x, y=y, z=z)
    values = {key: ex[key].data for key in ("q", "f")}
    return values | {f"d{key}": dout * ex[key].grad for key in ("q", "x", "y", "z")}


check_against_reference(
    add_mul_backward,
    add_mul_reference,
    lambda rng, trial, dtype: tuple(float(v) for v in rng.uniform(-5, 5, size=4)),
    name="add_mul_backward (hidden, random x, y, z, dout)",
    cases=range(5),
    dtypes=(None,),
    block=blocked,
    seed=401,
)


def max_gate_reference(dout, a, b):
    da = np.where(a >= b, dout, 0.0)
    return da, dout - da


check_against_reference(
    max_gate_backward,
    max_gate_reference,
    lambda rng, shape, dtype: tuple(rng.standard_normal((3, *shape))),
    name="max_gate_backward (hidden, arrays)",
    cases=[(4, 5)],
    dtypes=(None,),
    view=lambda grads: tuple(np.asarray(g, dtype=float) for g in grads),
    block=blocked,
    seed=411,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part1b_intro", "locked": true, "schema_version": 3, "solution": false}
# ### Part 1b: your own automatic differentiation (1 point)
#
# Part 1a did the backward pass of one graph by hand. Reverse-mode automatic differentiation
# does it for any graph, from two ingredients (Karpathy's micrograd does it in about a hundred
# lines, and `lapenna_labs.graph.Value` in a few more):
#
# 1. **A topological order**: every node of the graph once, each after the nodes it was
#    computed from (its *inputs*). Walking that list *backwards* visits a node only after every
#    node that uses it, so by then its gradient is complete and can be passed on.
# 2. **Local gradients**: each gate knows the derivative of its output with respect to each of
#    its inputs. For $c = a + b$ they are $(1, 1)$, for $c = a b$ they are $(b, a)$; for the
#    one-input gates, $c = e^a$: $c$; $c = \log a$: $1/a$; $c = \tanh a$: $1 - c^2$;
#    $c = \operatorname{relu}(a)$: 1 if $a > 0$, else 0; $c = 1/a$: $-1/a^2$.
#
# The class `Node` below builds graphs, with the gates `+`, `*`, `exp`, `log`, `tanh`, `relu`
# and `1/x` (`a - b`, `-a` and `a / b` are made of them). Every node has `.data` (its value),
# `.op` (its gate; `""` for an input), `.inputs` (a tuple of nodes, in order) and `.grad`. It
# has no backward pass: write it.
#
# * `topological_order(root)`: a list of every node that `root` depends on, `root` included,
#   each exactly once and after all of its inputs.
# * `local_gradients(node)`: a tuple with one number per input of `node`, the derivative of
#   `node` with respect to that input (`()` for an input node).
# * `backward(root)`: set every node's `.grad` to $\partial\,\text{root} / \partial\,\text{node}$:
#   first 0 everywhere and 1 at `root`, then, visiting the nodes in reverse topological order,
#   **add** upstream gradient times local gradient to each input's `.grad`. A node used twice
#   (in `x * x`, or by two later nodes) gets the sum of both contributions: the copy gate.
#
# **Library calls.** Allowed: Python (`math`) and NumPy. Blocked while graded: `lapenna_labs`
# (its `graph.Value` is such an autodiff) and the other libraries (PyTorch's autograd, ...).

# %% nbgrader={"grade": false, "grade_id": "node_class", "locked": true, "schema_version": 3, "solution": false}
import math  # noqa: E402


class Node:
    """A scalar of a computational graph: its value, the gate that made it and its inputs."""

    def __init__(self, data, op="", inputs=()):
        self.data = float(data)
        self.op = op  # "+", "*", "exp", "log", "tanh", "relu", "1/x"; "" for an input
        self.inputs = tuple(inputs)
        self.grad = 0.0

    def __repr__(self):
        return f"Node(data={self.data:.6g}, op={self.op!r}, grad={self.grad:.6g})"

    @staticmethod
    def lift(value):
        """A number as an input node (a constant); a node as it is."""
        return value if isinstance(value, Node) else Node(value)

    def __add__(self, other):
        other = Node.lift(other)
        return Node(self.data + other.data, "+", (self, other))

    def __mul__(self, other):
        other = Node.lift(other)
        return Node(self.data * other.data, "*", (self, other))

    def exp(self):
        return Node(math.exp(self.data), "exp", (self,))

    def log(self):
        return Node(math.log(self.data), "log", (self,))

    def tanh(self):
        return Node(math.tanh(self.data), "tanh", (self,))

    def relu(self):
        return Node(max(self.data, 0.0), "relu", (self,))

    def reciprocal(self):
        return Node(1.0 / self.data, "1/x", (self,))

    # Made of the gates above:
    def __radd__(self, other):
        return Node.lift(other) + self

    def __rmul__(self, other):
        return Node.lift(other) * self

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + -Node.lift(other)

    def __rsub__(self, other):
        return Node.lift(other) + -self

    def __truediv__(self, other):
        return self * Node.lift(other).reciprocal()

    def __rtruediv__(self, other):
        return Node.lift(other) * self.reciprocal()


# %% nbgrader={"grade": false, "grade_id": "autodiff", "locked": false, "schema_version": 3, "solution": true}
def topological_order(root):
    """Every node root depends on (root included), once each, every node after its inputs."""
    ### BEGIN SOLUTION
    order, visited = [], set()

    def visit(node):
        if id(node) in visited:
            return
        visited.add(id(node))
        for parent in node.inputs:
            visit(parent)
        order.append(node)

    visit(root)
    return order
    ### END SOLUTION


def local_gradients(node):
    """d node / d input for each input of node, as a tuple (empty for an input node)."""
    ### BEGIN SOLUTION
    a = [parent.data for parent in node.inputs]
    if node.op == "":
        return ()
    if node.op == "+":
        return (1.0, 1.0)
    if node.op == "*":
        return (a[1], a[0])
    if node.op == "exp":
        return (node.data,)
    if node.op == "log":
        return (1.0 / a[0],)
    if node.op == "tanh":
        return (1.0 - node.data**2,)
    if node.op == "relu":
        return (1.0 if a[0] > 0 else 0.0,)
    if node.op == "1/x":
        return (-1.0 / a[0] ** 2,)
    raise ValueError(f"local_gradients: unknown gate {node.op!r}")
    ### END SOLUTION


def backward(root):
    """Set node.grad = d root / d node for every node of root's graph."""
    ### BEGIN SOLUTION
    order = topological_order(root)
    for node in order:
        node.grad = 0.0
    root.grad = 1.0
    for node in reversed(order):
        for parent, local in zip(node.inputs, local_gradients(node), strict=True):
            parent.grad += local * node.grad
    ### END SOLUTION


# %%
w0, x0, w1, x1, w2 = (Node(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
neuron = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())  # the slides' sigmoid neuron, in gates
backward(neuron)
print(f"output {neuron.data:.3f}, {len(topological_order(neuron))} nodes")
inputs = {"w0": w0, "x0": x0, "w1": w1, "x1": x1, "w2": w2}
print({name: round(n.grad, 3) for name, n in inputs.items()})

# %% nbgrader={"grade": true, "grade_id": "test_autodiff", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 1b: your own autodiff
import math  # noqa: E402, F811

import numpy as np  # noqa: E402

from lapenna_labs import graph as ref_graph  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    call_blocked,
    check_against_reference,
    check_close,
    passed,
)

# One gate at a time, against lapenna_labs' autodiff (graph.Value has the same gates).
GATES = {
    "+": lambda a, b: a + b,
    "*": lambda a, b: a * b,
    "exp": lambda a, b: a.exp(),
    "log": lambda a, b: a.log(),
    "tanh": lambda a, b: a.tanh(),
    "relu": lambda a, b: a.relu(),
    "1/x": lambda a, b: a.reciprocal(),
}
for gate, make in GATES.items():
    for a, b in ((0.7, -1.3), (2.5, 0.4), (-0.6, 1.9)):
        if gate == "log" and a <= 0:
            continue
        node = make(Node(a), Node(b))
        got = local_gradients(node)
        assert isinstance(got, tuple) and len(got) == len(node.inputs), (
            f"local_gradients of a {gate!r} node: return a tuple, one number per input"
        )
        va, vb = ref_graph.Value(a), ref_graph.Value(b)
        make(va, vb).backward()
        want = (va.grad, vb.grad)[: len(node.inputs)]
        check_close(np.array(got, dtype=float), np.array(want), name=f"local_gradients ({gate})")

x, y, z = Node(-2.0), Node(5.0), Node(-4.0)
f = (x + y) * z
order = topological_order(f)
assert isinstance(order, list), "topological_order must return a list of nodes"
assert len(order) == 5 and len({id(n) for n in order}) == 5, (
    "topological_order((x + y) * z): each of its 5 nodes (x, y, z, x + y, f) exactly once"
)
for position, node in enumerate(order):
    assert all(order.index(parent) < position for parent in node.inputs), (
        "topological_order: a node comes before one of its inputs"
    )
backward(f)
example = ref_graph.add_mul_example()
check_close(
    np.array([x.grad, y.grad, z.grad]),
    np.array([example[k].grad for k in "xyz"]),
    name="backward((x + y) * z): the gradients of x, y, z",
)
w0, x0, w1, x1, w2 = (Node(v) for v in (2.0, -1.0, -3.0, -2.0, -3.0))
neuron = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
backward(neuron)
reference = ref_graph.sigmoid_neuron_example(expanded=True)
check_close(
    np.array([n.grad for n in (w0, x0, w1, x1, w2)]),
    np.array([reference[k].grad for k in ("w0", "x0", "w1", "x1", "w2")]),
    name="backward of the sigmoid neuron: the gradients of w0, x0, w1, x1, w2",
)
a = Node(3.0)
square = a * a
assert len(topological_order(square)) == 2, (
    "topological_order(a * a): each node exactly once, though a is an input twice"
)
backward(square)
backward(square)
check_close(
    a.grad,
    6.0,
    name="backward(a * a) at a = 3, run twice",
    common_mistakes={
        "the two uses of a must add up (+=), not overwrite each other (=)": 3.0,
        "the second backward added to the first: set every .grad to 0 first": 12.0,
    },
)
passed("topological_order, local_gradients, backward")


### BEGIN HIDDEN TESTS
# Random expressions: inputs, then steps that combine any two earlier nodes (so nodes are
# shared), and the sum of all steps as the root; compared with graph.Value's backward.
STEPS = {
    "add": lambda u, v: u + v,
    "sub": lambda u, v: u - v,
    "mul": lambda u, v: u * v,
    "div": lambda u, v: u / (v * v + 1.0),
    "exp": lambda u, v: u.tanh().exp(),
    "log": lambda u, v: (u * u + 1.0).log(),
    "tanh": lambda u, v: u.tanh(),
    "relu": lambda u, v: u.relu(),
}


def run_program(program, leaves):
    steps, nodes = program, list(leaves)
    for kind, i, j in steps:
        nodes.append(STEPS[kind](nodes[i], nodes[j]))
    root = nodes[len(leaves)]
    for node in nodes[len(leaves) + 1 :]:
        root = root + node
    return root


def random_program(rng, case, dtype):
    inputs, length = case
    while True:
        values = [float(v) for v in rng.uniform(-2, 2, size=inputs)]
        kinds = rng.choice(sorted(STEPS), size=length)
        program = [
            (str(kind), *(int(i) for i in rng.integers(0, inputs + k, size=2)))
            for k, kind in enumerate(kinds)
        ]
        root = run_program(program, [ref_graph.Value(v) for v in values])
        if all(abs(n.data) < 1e4 for n in root.nodes()):
            return values, program


def gradients_of_the_inputs(backward_pass, scalar):
    def gradients(values, program):
        leaves = [scalar(v) for v in values]
        backward_pass(run_program(program, leaves))
        return np.array([leaf.grad for leaf in leaves])

    return gradients


blocked = (ref_graph.Value, ref_graph.nodes, "lapenna_labs", *OTHER_LIBRARIES)
check_against_reference(
    gradients_of_the_inputs(backward, Node),
    gradients_of_the_inputs(lambda root: root.backward(), ref_graph.Value),
    random_program,
    name="backward (hidden, random expressions; the gradients of the inputs)",
    cases=[(2, 5), (3, 12), (4, 30)],
    dtypes=(None,),
    block=blocked,
    seed=412,
)
values, program = random_program(np.random.default_rng(413), (3, 20), None)
root = run_program(program, [Node(v) for v in values])
order = call_blocked(topological_order, root, block=blocked)
position = {id(node): k for k, node in enumerate(order)}
assert len(position) == len(order), "topological_order (hidden): a node is listed twice"
reachable, stack = set(), [root]
while stack:
    node = stack.pop()
    if id(node) not in reachable:
        reachable.add(id(node))
        stack.extend(node.inputs)
assert set(position) == reachable, "topological_order (hidden): nodes are missing"
assert all(position[id(p)] < position[id(n)] for n in order for p in n.inputs), (
    "topological_order (hidden): a node comes before one of its inputs"
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part2_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 2: the backward pass of the dense layer (1 point)
#
# For $\text{out} = XW + b$ with $X \in \mathbb{R}^{N\times D}$, $W \in \mathbb{R}^{D\times M}$,
# $b \in \mathbb{R}^{M}$ and the upstream gradient $G = \partial L / \partial\,\text{out} \in
# \mathbb{R}^{N \times M}$, the chain rule gives two matrix products, each as costly as the
# forward one ($2NDM$ flops), and a sum over the batch:
#
# $$\frac{\partial L}{\partial X} = G\,W^{\mathsf T} \;(N \times D), \qquad
#   \frac{\partial L}{\partial W} = X^{\mathsf T} G \;(D \times M), \qquad
#   \frac{\partial L}{\partial b} = \textstyle\sum_{n} G_{n,:} \;(M,).$$
#
# (Check the shapes: each gradient has the shape of the thing it is the gradient of. The bias
# is added to every row, a copy gate, so its gradient *sums* over the batch.)
#
# The forward function below is given (it is last week's, with `cache = (x, W, b)`). Write
# `dense_backward(dout, cache)` returning `(dx, dW, db)`.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# `layers.dense_backward`) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "dense_forward_given", "locked": true, "schema_version": 3, "solution": false}
def dense_forward(x, W, b):
    """out = x @ W + b for x (N, D), W (D, M), b (M,); returns (out, (x, W, b))."""
    x, W, b = np.asarray(x), np.asarray(W), np.asarray(b)
    if x.ndim != 2 or W.ndim != 2 or b.shape != (W.shape[1],) or x.shape[1] != W.shape[0]:
        raise ValueError(f"dense_forward: shapes x {x.shape}, W {W.shape}, b {b.shape} do not fit")
    return x @ W + b, (x, W, b)


# %% nbgrader={"grade": false, "grade_id": "dense_backward", "locked": false, "schema_version": 3, "solution": true}
def dense_backward(dout, cache):
    """Gradients (dx, dW, db) of the dense layer, given dout (N, M) and cache = (x, W, b)."""
    ### BEGIN SOLUTION
    x, W, _ = cache
    dx = dout @ W.T
    dW = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dW, db
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_dense_backward", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 2: dense_backward
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
dout = rng.standard_normal((4, 5))
_, cache = dense_forward(x, W, b)
result = dense_backward(dout, cache)
assert isinstance(result, tuple) and len(result) == 3, "dense_backward must return (dx, dW, db)"
dx, dW, db = result
want_dx, want_dW, want_db = ref.dense_backward(dout, ref.dense_forward(x, W, b)[1])
check_close(dx, want_dx, name="dx")
check_close(dW, want_dW, name="dW")
check_close(
    db,
    want_db,
    name="db",
    common_mistakes={"the mean over the batch instead of the sum": want_db / len(x)},
)
# a square case, where a transposed dW has the right shape but the wrong values
xs, Ws, bs = rng.standard_normal((3, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)
dsq = rng.standard_normal((3, 3))
got_sq = dense_backward(dsq, dense_forward(xs, Ws, bs)[1])
want_sq = ref.dense_backward(dsq, ref.dense_forward(xs, Ws, bs)[1])
check_close(
    got_sq[1],
    want_sq[1],
    name="dW (square case)",
    common_mistakes={"dout^T x, the transpose of dW = x^T dout": dsq.T @ xs},
)
check_close(got_sq[0], want_sq[0], name="dx (square case)")
f32 = [a.astype(np.float32) for a in (x, W, b, dout)]
grads32 = dense_backward(f32[3], dense_forward(*f32[:3])[1])
assert all(np.asarray(g).dtype == np.float32 for g in grads32), "keep float32 gradients float32"
passed("dense_backward")


### BEGIN HIDDEN TESTS
def upstream_and_cache(rng, case, dtype):
    n, d, m = case
    x, W, b, dout = (rng.standard_normal(s).astype(dtype) for s in ((n, d), (d, m), (m,), (n, m)))
    return dout, ref.dense_forward(x, W, b)[1]


check_against_reference(
    dense_backward,
    ref.dense_backward,
    upstream_and_cache,
    name="dense_backward (hidden; N, D, M)",
    cases=[(1, 1, 1), (1, 7, 3), (32, 784, 16), (16, 16, 10), (5, 4, 4)],
    view=tuple,
    block=(
        ref.dense_backward,
        ref.dense_forward,
        ref.activation_backward,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    seed=402,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part3_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 3: backpropagation through the 2-2-2 network (2 points)
#
# Last week's network (Mazur's example): $h_1 = \sigma(w_1 i_1 + w_2 i_2 + b_1)$,
# $h_2 = \sigma(w_3 i_1 + w_4 i_2 + b_1)$, $o_1 = \sigma(w_5 h_1 + w_6 h_2 + b_2)$,
# $o_2 = \sigma(w_7 h_1 + w_8 h_2 + b_2)$ and $E = \tfrac12(t_1 - o_1)^2 + \tfrac12(t_2 - o_2)^2$,
# with the numbers of `lapenna_labs.examples.TWO_TWO_TWO` in the dict `net` (keys `"i1"`,
# `"i2"`, `"w1"` ... `"w8"`, `"b1"`, `"b2"`, `"target_o1"`, `"target_o2"`, `"learning_rate"`).
#
# Write `backward_222(net)` returning `(grads, updated)`: two dicts with the keys
# `"w1", ..., "w8"`, the gradients $\partial E / \partial w_k$ and the weights after one step
# of gradient descent $w_k^{+} = w_k - \eta\,\partial E / \partial w_k$ with
# $\eta$ = `net["learning_rate"]` (0.5 in the slides), all computed from the *old* weights.
#
# Do it with scalars, following the graph: $\partial E / \partial o_1 = o_1 - t_1$; through the
# sigmoid multiply by $o_1 (1 - o_1)$; this $\delta_{o_1}$ times $h_1$ is
# $\partial E / \partial w_5$. A hidden neuron feeds both outputs (a copy gate), so
# $\partial E / \partial h_1 = \delta_{o_1} w_5 + \delta_{o_2} w_7$.
#
# **Careful:** the slides' code computes `grad_w2` with `i1`. Which input does $w_2$ multiply?
# Part 3a checks the output layer ($w_5 \ldots w_8$), part 3b the hidden layer ($w_1 \ldots w_4$).
#
# **Library calls.** Allowed: Python, NumPy and the `sigmoid` given below. Blocked while
# graded: `lapenna_labs` (it has this network's gradients in `examples`) and the other
# libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).

# %% nbgrader={"grade": false, "grade_id": "net_222_setup", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.examples import TWO_TWO_TWO  # noqa: E402

net = dict(TWO_TWO_TWO)
WEIGHT_KEYS = ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8")
print(net)


def sigmoid(z):
    """The logistic function (given: last week's answer)."""
    z = np.asarray(z)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


# %% nbgrader={"grade": false, "grade_id": "backward_222", "locked": false, "schema_version": 3, "solution": true}
def backward_222(net):
    """Gradients dE/dw1..dE/dw8 of the 2-2-2 network and the weights after one GD step."""
    ### BEGIN SOLUTION
    i1, i2, b1, b2 = net["i1"], net["i2"], net["b1"], net["b2"]
    w = {k: net[k] for k in WEIGHT_KEYS}
    h1 = float(sigmoid(w["w1"] * i1 + w["w2"] * i2 + b1))
    h2 = float(sigmoid(w["w3"] * i1 + w["w4"] * i2 + b1))
    o1 = float(sigmoid(w["w5"] * h1 + w["w6"] * h2 + b2))
    o2 = float(sigmoid(w["w7"] * h1 + w["w8"] * h2 + b2))
    delta_o1 = (o1 - net["target_o1"]) * o1 * (1 - o1)
    delta_o2 = (o2 - net["target_o2"]) * o2 * (1 - o2)
    delta_h1 = (delta_o1 * w["w5"] + delta_o2 * w["w7"]) * h1 * (1 - h1)
    delta_h2 = (delta_o1 * w["w6"] + delta_o2 * w["w8"]) * h2 * (1 - h2)
    grads = {
        "w1": delta_h1 * i1,
        "w2": delta_h1 * i2,
        "w3": delta_h2 * i1,
        "w4": delta_h2 * i2,
        "w5": delta_o1 * h1,
        "w6": delta_o1 * h2,
        "w7": delta_o2 * h1,
        "w8": delta_o2 * h2,
    }
    lr = net["learning_rate"]
    updated = {k: w[k] - lr * grads[k] for k in WEIGHT_KEYS}
    return grads, updated
    ### END SOLUTION


# %%
grads_222, updated_222 = backward_222(net)
for key in WEIGHT_KEYS:
    print(f"{key}: dE/d{key} = {grads_222[key]: .9f}   {key}+ = {updated_222[key]:.9f}")

# %% nbgrader={"grade": true, "grade_id": "test_backward_222_output", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 3a: the output layer w5..w8
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

OUTPUT_KEYS = ("w5", "w6", "w7", "w8")
result = backward_222(net)
assert isinstance(result, tuple) and len(result) == 2, "backward_222 must return (grads, updated)"
grads, updated = result
for d in (grads, updated):
    missing = [k for k in WEIGHT_KEYS if k not in d]
    assert not missing, f"backward_222: a result dict has no key(s) {missing}"
# the slides' printed values for the output layer (these are right)
slides_grads = np.array(
    [0.08216704056448701, 0.08266762784778263, -0.02260254047827904, -0.02274024221678477]
)
slides_new = np.array(
    [0.35891647971775653, 0.4086661860761087, 0.5113012702391395, 0.5613701211083925]
)
got_g = np.array([grads[k] for k in OUTPUT_KEYS], dtype=np.float64)
got_u = np.array([updated[k] for k in OUTPUT_KEYS], dtype=np.float64)
check_close(got_g, slides_grads, name="[dE/dw5, dE/dw6, dE/dw7, dE/dw8]")
check_close(got_u, slides_new, name="[w5+, w6+, w7+, w8+] after one step")
passed("backward_222, output layer")
### BEGIN HIDDEN TESTS
check_against_reference(
    backward_222,
    lambda net: tuple(
        {key: result[key] for key in OUTPUT_KEYS}  # compared on the output layer's weights only
        for result in (
            ref_examples.two_two_two_gradients(net),
            ref_examples.two_two_two_update(net),
        )
    ),
    random_examples(TWO_TWO_TWO, ranges={"learning_rate": (0.1, 1.0)}),
    name="backward_222, output layer (hidden, a random network; gradients, updated)",
    cases=range(5),
    dtypes=(None,),
    block=(
        ref_examples.two_two_two_gradients,
        ref_examples.two_two_two_update,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    seed=403,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_backward_222_hidden", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 3b: the hidden layer w1..w4
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

HIDDEN_KEYS = ("w1", "w2", "w3", "w4")
grads, updated = backward_222(net)
got_g = np.array([grads[k] for k in HIDDEN_KEYS], dtype=np.float64)
got_u = np.array([updated[k] for k in HIDDEN_KEYS], dtype=np.float64)
want_g = ref_examples.two_two_two_gradients(net)
want_u = ref_examples.two_two_two_update(net)
slide_bug = ref_examples.two_two_two_slide_code(net)
if np.isclose(grads["w2"], grads["w1"]) or np.isclose(updated["w2"], slide_bug["w2+"]):
    raise AssertionError(
        "dE/dw2 equals dE/dw1: that is the slides' bug (grad_w2 computed with i1); "
        "w2 multiplies i2 in h1 = sigmoid(w1 i1 + w2 i2 + b1)"
    )
check_close(
    got_g,
    np.array([want_g[k] for k in HIDDEN_KEYS]),
    name="[dE/dw1, dE/dw2, dE/dw3, dE/dw4]",
)
check_close(
    got_u, np.array([want_u[k] for k in HIDDEN_KEYS]), name="[w1+, w2+, w3+, w4+] after one step"
)
passed("backward_222, hidden layer")
### BEGIN HIDDEN TESTS
check_against_reference(
    backward_222,
    lambda net: tuple(
        {key: result[key] for key in HIDDEN_KEYS}  # compared on the hidden layer's weights only
        for result in (
            ref_examples.two_two_two_gradients(net),
            ref_examples.two_two_two_update(net),
        )
    ),
    random_examples(TWO_TWO_TWO, ranges={"learning_rate": (0.1, 1.0)}),
    name="backward_222, hidden layer (hidden, a random network; gradients, updated)",
    cases=range(5),
    dtypes=(None,),
    block=(
        ref_examples.two_two_two_gradients,
        ref_examples.two_two_two_update,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    seed=404,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part4_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 4: softmax and cross-entropy, and the slides' exercise (1 point)
#
# For logits $z \in \mathbb{R}^{K}$, probabilities $p = \operatorname{softmax}(z)$ and the true
# class $y$, the cross-entropy $L = -\log p_y$ has the famous simple gradient
#
# $$\frac{\partial L}{\partial z} = p - t,$$
#
# where $t$ is the one-hot target. For a batch of $N$ rows and the *mean* loss, divide by $N$.
#
# **4a (0.5 points).** Write `softmax_ce_backward(logits, y)` for logits `(N, K)` and integer labels
# `y` `(N,)`, returning `(loss, dlogits)`: the mean cross-entropy (a float, computed stably with
# log-sum-exp, so that logits of 1000 do not overflow) and its gradient `(N, K)`.
#
# **4b (0.5 points).** The slides' exercise ("represent the following NN model as a computational
# graph and build a python code to update w and b"): inputs $x_1 = -0.04$, $x_2 = -0.42$, two
# ReLU hidden units, three softmax outputs, target class 1 (of 0, 1, 2), weights $w_1 \ldots
# w_{10}$, biases $b_1 \ldots b_5$. The slide's picture of the wiring is lost; the course
# defines it (see `help(lapenna_labs.examples)` under SOFTMAX_EXERCISE) as
#
# $$h_1 = \operatorname{relu}(w_1 x_1 + w_3 x_2 + b_1), \qquad
#   h_2 = \operatorname{relu}(w_2 x_1 + w_4 x_2 + b_2),$$
# $$z_1 = w_5 h_1 + w_8 h_2 + b_3, \quad z_2 = w_6 h_1 + w_9 h_2 + b_4, \quad
#   z_3 = w_7 h_1 + w_{10} h_2 + b_5,$$
#
# that is, $W_1 = \begin{bmatrix} w_1 & w_2 \\ w_3 & w_4 \end{bmatrix}$,
# $W_2 = \begin{bmatrix} w_5 & w_6 & w_7 \\ w_8 & w_9 & w_{10} \end{bmatrix}$ with rows as
# samples, and $L = -\log \operatorname{softmax}(z)_{y}$.
#
# Write `softmax_exercise_step(params, lr=0.5)` returning `(loss, grads, updated)`: the loss,
# a dict of $\partial L/\partial\theta$ and a dict of $\theta - \eta\,\partial L/\partial\theta$
# for every $\theta$ in `"w1"` ... `"w10"`, `"b1"` ... `"b5"`. `params` has those keys plus
# `"x1"`, `"x2"` and `"target_class"`. Use the matrix form, your `dense_backward` and
# `softmax_ce_backward`. (With the slide's numbers $h_1$'s input is negative: a dead ReLU.
# Which gradients does that zero?)
#
# **Library calls.** Allowed: NumPy, and in 4b the given `dense_forward` and your
# `dense_backward` and `softmax_ce_backward`. Blocked while graded: `lapenna_labs` (it has the
# losses and this exercise) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "softmax_ce", "locked": false, "schema_version": 3, "solution": true}
def softmax_ce_backward(logits, y):
    """Mean softmax cross-entropy of logits (N, K) for int labels y (N,), and its gradient."""
    ### BEGIN SOLUTION
    logits = np.asarray(logits)
    y = np.asarray(y)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = float(-log_probs[np.arange(n), y].mean())
    dlogits = np.exp(log_probs)
    dlogits[np.arange(n), y] -= 1
    return loss, dlogits / n
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_softmax_ce", "locked": true, "points": 0.5, "schema_version": 3, "solution": false}
# Part 4a: softmax cross-entropy and its gradient
import numpy as np  # noqa: E402

from lapenna_labs import losses as ref_losses  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
)

rng = np.random.default_rng(0)
logits, y = rng.standard_normal((4, 3)), np.array([0, 2, 1, 2])
result = softmax_ce_backward(logits, y)
assert isinstance(result, tuple) and len(result) == 2, "return (loss, dlogits)"
loss, dlogits = result
assert np.ndim(loss) == 0, "the loss must be one number (the mean over the batch)"
want = ref_losses.softmax_cross_entropy_grad(logits, y)
check_close(
    dlogits,
    want,
    name="dlogits",
    common_mistakes={
        "softmax - onehot without dividing by N": want * len(y),
        "onehot - softmax (the sign)": -want,
    },
)
want_loss = ref_losses.softmax_cross_entropy(logits, y)
check_close(np.array([loss], dtype=np.float64), np.array([want_loss]), name="loss")
with np.errstate(all="ignore"):
    big_loss, big_grad = softmax_ce_backward(np.array([[1000.0, 0.0, -1000.0]]), np.array([1]))
assert np.isfinite(big_loss) and np.all(np.isfinite(big_grad)), (
    "logits of +-1000 give NaN or inf: subtract the max (log-sum-exp)"
)
passed("softmax_ce_backward")
### BEGIN HIDDEN TESTS
check_against_reference(
    softmax_ce_backward,
    ref_losses.softmax_cross_entropy_with_grad,
    lambda rng, case, dtype: (
        (3 * rng.standard_normal(case)).astype(dtype),
        rng.integers(0, case[1], size=case[0]),
    ),
    name="softmax_ce_backward (hidden; N, K; loss, dlogits)",
    cases=[(1, 3), (10, 10), (7, 5)],
    block=(
        ref_losses.softmax_cross_entropy,
        ref_losses.softmax_cross_entropy_grad,
        ref_losses.softmax_cross_entropy_with_grad,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    seed=405,
    rtol=1e-5,
)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "softmax_exercise_setup", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.examples import SOFTMAX_EXERCISE  # noqa: E402

exercise = dict(SOFTMAX_EXERCISE)
EXERCISE_KEYS = tuple(f"w{k}" for k in range(1, 11)) + tuple(f"b{k}" for k in range(1, 6))
print({k: exercise[k] for k in ("x1", "x2", "target_class") + EXERCISE_KEYS})


# %% nbgrader={"grade": false, "grade_id": "softmax_exercise", "locked": false, "schema_version": 3, "solution": true}
def softmax_exercise_step(params, lr=0.5):
    """Loss, gradients and one gradient-descent step of the slides' softmax exercise."""
    ### BEGIN SOLUTION
    p = params
    x = np.array([[p["x1"], p["x2"]]])
    W1 = np.array([[p["w1"], p["w2"]], [p["w3"], p["w4"]]])
    b1 = np.array([p["b1"], p["b2"]])
    W2 = np.array([[p["w5"], p["w6"], p["w7"]], [p["w8"], p["w9"], p["w10"]]])
    b2 = np.array([p["b3"], p["b4"], p["b5"]])
    net_h, cache1 = dense_forward(x, W1, b1)
    h = np.maximum(net_h, 0)
    z, cache2 = dense_forward(h, W2, b2)
    loss, dz = softmax_ce_backward(z, np.array([int(p["target_class"])]))
    dh, dW2, db2 = dense_backward(dz, cache2)
    _, dW1, db1 = dense_backward(dh * (net_h > 0), cache1)
    grads = {
        "w1": dW1[0, 0], "w2": dW1[0, 1], "w3": dW1[1, 0], "w4": dW1[1, 1],
        "w5": dW2[0, 0], "w6": dW2[0, 1], "w7": dW2[0, 2],
        "w8": dW2[1, 0], "w9": dW2[1, 1], "w10": dW2[1, 2],
        "b1": db1[0], "b2": db1[1], "b3": db2[0], "b4": db2[1], "b5": db2[2],
    }  # fmt: skip
    grads = {k: float(v) for k, v in grads.items()}
    updated = {k: float(p[k]) - lr * g for k, g in grads.items()}
    return loss, grads, updated
    ### END SOLUTION


# %%
loss_ex, grads_ex, updated_ex = softmax_exercise_step(exercise)
print(f"loss {loss_ex:.4f}")
for key in EXERCISE_KEYS:
    print(f"{key:>3}: grad {grads_ex[key]: .6f}   updated {updated_ex[key]: .6f}")

# %% nbgrader={"grade": true, "grade_id": "test_softmax_exercise", "locked": true, "points": 0.5, "schema_version": 3, "solution": false}
# Part 4b: the softmax exercise
import numpy as np  # noqa: E402

from lapenna_labs import examples as ref_examples  # noqa: E402
from lapenna_labs.examples import SOFTMAX_EXERCISE  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    check_against_reference,
    check_close,
    passed,
    random_like,
)
from lapenna_labs.mlp import MLP  # noqa: E402

result = softmax_exercise_step(exercise)
assert isinstance(result, tuple) and len(result) == 3, "return (loss, grads, updated)"
loss, grads, updated = result
for d in (grads, updated):
    missing = [k for k in EXERCISE_KEYS if k not in d]
    assert not missing, f"softmax_exercise_step: a result dict has no key(s) {missing}"
want_g = ref_examples.softmax_exercise_gradients(exercise)
want_u = ref_examples.softmax_exercise_update(exercise, learning_rate=0.5)
check_close(
    np.array([grads[k] for k in EXERCISE_KEYS], dtype=np.float64),
    np.array([want_g[k] for k in EXERCISE_KEYS]),
    name="gradients [w1..w10, b1..b5]",
)
check_close(
    np.array([updated[k] for k in EXERCISE_KEYS], dtype=np.float64),
    np.array([want_u[k] for k in EXERCISE_KEYS]),
    name="updated [w1..w10, b1..b5]",
)
want_loss = ref_examples.softmax_exercise_forward(exercise)["loss"]
check_close(np.array([loss], dtype=np.float64), np.array([want_loss]), name="the exercise's loss")
passed("softmax_exercise_step")


### BEGIN HIDDEN TESTS
def random_exercise(rng, trial, dtype):
    params = random_like(SOFTMAX_EXERCISE, rng, low=-2.0, high=2.0)
    params["target_class"] = int(rng.integers(0, 3))
    params["target"] = tuple(float(i == params["target_class"]) for i in range(3))
    return params, float(rng.uniform(0.1, 1.0))


def exercise_reference(params, lr):
    keys = [*(f"w{k}" for k in range(1, 11)), *(f"b{k}" for k in range(1, 6))]
    grads = ref_examples.softmax_exercise_gradients(params)
    updated = ref_examples.softmax_exercise_update(params, learning_rate=lr)
    loss = ref_examples.softmax_exercise_forward(params)["loss"]
    return loss, {k: grads[k] for k in keys}, {k: updated[k] for k in keys}


check_against_reference(
    softmax_exercise_step,
    exercise_reference,
    random_exercise,
    name="softmax_exercise_step (hidden, a random network; loss, grads, updated)",
    cases=range(5),
    dtypes=(None,),
    block=(
        ref_examples.softmax_exercise_gradients,
        ref_examples.softmax_exercise_update,
        ref_examples.softmax_exercise_matrices,
        MLP,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    graded_elsewhere=(dense_backward, softmax_ce_backward),
    seed=406,
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part5_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 5: gradient checking (1 point)
#
# An analytic gradient is easy to get subtly wrong (Part 3's slide bug went unnoticed). The
# check is to compare it with **central differences**: for each entry $x_i$,
#
# $$\frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h},$$
#
# whose error is $O(h^2)$ (a one-sided difference has error $O(h)$).
#
# **5a.** Write `numerical_gradient(f, x, h=1e-5)` for a scalar function `f` of a float64 array
# `x` of any shape: return an array shaped like `x`. Perturb one entry at a time (use
# `np.nditer` or loop over `np.ndindex(x.shape)`), and put every entry back, so that `x` is
# unchanged when you return.
#
# **5b.** Use `lapenna_labs.gradcheck.check_layer_backward` on **your** dense layer
# (`dense_forward` above, your `dense_backward`) at random float64 inputs of shape
# `x` (5, 4), `W` (4, 3), `b` (3,), and store the three relative errors in `layer_errors`.
# A correct backward gives errors around $10^{-10}$; anything above $10^{-6}$ is a bug.
#
# **Library calls.** Allowed: NumPy in `numerical_gradient`; 5b calls
# `lapenna_labs.gradcheck.check_layer_backward` (not graded as a function). Blocked while your
# `numerical_gradient` is graded: `lapenna_labs` (it has `gradcheck.numerical_gradient`) and the
# other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "numerical_gradient", "locked": false, "schema_version": 3, "solution": true}
def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of the scalar function f at x (same shape as x)."""
    ### BEGIN SOLUTION
    grad = np.zeros_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        f_plus = float(f(x))
        x[idx] = old - h
        f_minus = float(f(x))
        x[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * h)
    return grad
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "layer_check", "locked": false, "schema_version": 3, "solution": true}
from lapenna_labs.gradcheck import check_layer_backward  # noqa: E402

### BEGIN SOLUTION
rng_check = np.random.default_rng(5)
check_inputs = (
    rng_check.standard_normal((5, 4)),
    rng_check.standard_normal((4, 3)),
    rng_check.standard_normal(3),
)
layer_errors = check_layer_backward(dense_forward, dense_backward, check_inputs)
### END SOLUTION
print("relative errors of dx, dW, db:", layer_errors)

# %% nbgrader={"grade": true, "grade_id": "test_gradcheck", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 5: numerical gradient and the check of your layer
import numpy as np  # noqa: E402

from lapenna_labs import gradcheck as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    call_blocked,
    check_against_reference,
    check_close,
    passed,
)

x0 = np.array([1.0, -2.0, 0.5])
x_before = x0.copy()
got = numerical_gradient(lambda v: float(np.sum(v**3)), x0)
assert np.array_equal(x0, x_before), "numerical_gradient must leave x unchanged when it returns"
want = 3 * x_before**2
check_close(
    np.asarray(got, dtype=float),
    want,
    name="numerical gradient of sum(x**3)",
    rtol=1e-6,
    atol=1e-8,
    common_mistakes={"a one-sided difference (f(x+h) - f(x)) / h": want + 3 * x_before * 1e-5},
)
M = np.array([[1.0, 2.0], [3.0, 4.0]])
got = numerical_gradient(lambda A: float(np.sum(A * A)), M.copy())
check_close(
    np.asarray(got, dtype=float), 2 * M, name="numerical gradient on a 2-D array", rtol=1e-6
)
assert len(layer_errors) == 3, "layer_errors must hold the three relative errors (dx, dW, db)"
assert all(float(e) < 1e-6 for e in layer_errors), (
    "a relative error of your dense layer is above 1e-6: your dense_backward is wrong"
)
passed("numerical_gradient, layer_errors")
### BEGIN HIDDEN TESTS
blocked = (ref.numerical_gradient, ref.check_layer_backward, "lapenna_labs", *OTHER_LIBRARIES)


def scalar_function_and_point(rng, shape, dtype):
    def fn(v):
        return float(np.sum(np.sin(v) * v) + v.size * np.sum(v) ** 2 / 10)

    return fn, rng.standard_normal(shape)


check_against_reference(
    numerical_gradient,
    ref.numerical_gradient,
    scalar_function_and_point,
    name="numerical_gradient (hidden, a random point)",
    cases=[(6,), (3, 4), (2, 3, 2)],
    dtypes=(None,),
    view=lambda grad: np.asarray(grad, dtype=float),
    unchanged=True,
    block=blocked,
    seed=406,
    rtol=1e-6,
    atol=1e-8,
)
rng = np.random.default_rng(416)
A = rng.standard_normal((3, 4))
got = call_blocked(
    numerical_gradient,
    lambda B: float(np.sum(np.tanh(A @ B))),
    rng.standard_normal((4, 2)),
    1e-4,
    block=blocked,
)
assert np.asarray(got).shape == (4, 2), "numerical_gradient shape (hidden)"
fresh = ref.check_layer_backward(
    dense_forward,
    dense_backward,
    (rng.standard_normal((6, 5)), rng.standard_normal((5, 2)), rng.standard_normal(2)),
    seed=7,
)
assert max(fresh) < 1e-6, "your dense_backward fails a gradient check at fresh inputs (hidden)"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part6_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 6: SGD with momentum, and Adam (2 points)
#
# Plain gradient descent steps $\theta \leftarrow \theta - \epsilon\,g$. Two improvements from
# the lecture (write each for one parameter array; return **new** arrays, do not modify the
# inputs):
#
# **6a. SGD with momentum, in the slides' velocity form** (Goodfellow et al., Algorithm 8.2):
#
# $$v \leftarrow \alpha v - \epsilon g, \qquad \theta \leftarrow \theta + v .$$
#
# `momentum_step(theta, grad, velocity, lr=0.01, momentum=0.9)` returns
# `(new_theta, new_velocity)`; the velocity starts at zeros.
#
# **6b. Adam** (Kingma and Ba 2015, Algorithm 1), at step $t = 1, 2, \ldots$:
#
# $$m \leftarrow \beta_1 m + (1 - \beta_1) g, \qquad v \leftarrow \beta_2 v + (1 - \beta_2) g^2,$$
# $$\hat m = \frac{m}{1 - \beta_1^t}, \qquad \hat v = \frac{v}{1 - \beta_2^t}, \qquad
#   \theta \leftarrow \theta - \alpha \frac{\hat m}{\sqrt{\hat v} + \varepsilon}.$$
#
# `adam_step(theta, grad, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8)` returns
# `(new_theta, new_m, new_v)`, where `t` is the number of this step (1 for the first).
# (One of the slides writes Adam without the bias correction and the $\varepsilon$, with the names
# $m$ and $v$ swapped and $\beta_2 = 0.99$; use the algorithm above, which is the paper's and
# what PyTorch and Keras do.) Keep float32 arrays float32.
#
# **Library calls.** Allowed: NumPy. Blocked while graded: `lapenna_labs` (it has
# these optimizers in `optim`) and the other libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).


# %% nbgrader={"grade": false, "grade_id": "optimizers", "locked": false, "schema_version": 3, "solution": true}
def momentum_step(theta, grad, velocity, lr=0.01, momentum=0.9):
    """One step of SGD with momentum (velocity form); returns (new_theta, new_velocity)."""
    ### BEGIN SOLUTION
    new_velocity = momentum * velocity - lr * grad
    return theta + new_velocity, new_velocity
    ### END SOLUTION


def adam_step(theta, grad, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
    """One Adam step number t (t >= 1) with bias correction; returns (new_theta, new_m, new_v)."""
    ### BEGIN SOLUTION
    new_m = beta1 * m + (1 - beta1) * grad
    new_v = beta2 * v + (1 - beta2) * grad * grad
    m_hat = new_m / (1 - beta1**t)
    v_hat = new_v / (1 - beta2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), new_m, new_v
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_momentum", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 6a: momentum
import numpy as np  # noqa: E402

from lapenna_labs import optim as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    call_blocked,
    check_close,
    passed,
)

theta, velocity = np.array([0.0]), np.zeros(1)
for _ in range(2):
    theta, velocity = momentum_step(theta, np.array([1.0]), velocity, lr=0.1, momentum=0.5)
check_close(
    np.asarray(velocity),
    np.array([-0.15]),
    name="velocity after two steps",
    common_mistakes={"v = a v + lr g (the sign of the gradient term)": np.array([0.15])},
)
check_close(np.asarray(theta), np.array([-0.25]), name="theta after two steps")
theta0 = np.array([1.0, 2.0])
theta0_copy = theta0.copy()
momentum_step(theta0, np.ones(2), np.zeros(2))
assert np.array_equal(theta0, theta0_copy), "momentum_step must not modify its inputs in place"
passed("momentum_step")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(407)
blocked = (ref.Momentum, "lapenna_labs", *OTHER_LIBRARIES)
for dtype in (np.float32, np.float64):
    lr, alpha = float(rng.uniform(0.01, 0.2)), float(rng.uniform(0.5, 0.95))
    params = {"w": rng.standard_normal((4, 3)).astype(dtype)}
    opt = ref.Momentum(lr=lr, momentum=alpha)
    theta, velocity = params["w"].copy(), np.zeros_like(params["w"])
    for step in range(1, 7):
        g = rng.standard_normal((4, 3)).astype(dtype)
        theta, velocity = call_blocked(momentum_step, theta, g, velocity, lr, alpha, block=blocked)
        opt.step(params, {"w": g})
        check_close(
            (np.asarray(theta), np.asarray(velocity)),
            (params["w"], opt.velocity["w"]),
            name=f"momentum_step, step {step} (hidden; theta, velocity)",
        )
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_adam", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 6b: Adam
import numpy as np  # noqa: E402

from lapenna_labs import optim as ref  # noqa: E402
from lapenna_labs.grading import (  # noqa: E402
    OTHER_LIBRARIES,
    call_blocked,
    check_close,
    passed,
)

theta, g = np.array([1.0, 1.0]), np.array([3.0, -0.5])
result = adam_step(theta, g, np.zeros(2), np.zeros(2), 1, lr=0.1)
assert isinstance(result, tuple) and len(result) == 3, "adam_step must return (theta, m, v)"
new_theta, new_m, new_v = result
check_close(np.asarray(new_m), 0.1 * g, name="m after the first step")
check_close(np.asarray(new_v), 0.001 * g * g, name="v after the first step")
no_correction = theta - 0.1 * (0.1 * g) / (np.sqrt(0.001 * g * g) + 1e-8)
check_close(
    np.asarray(new_theta),
    np.array([0.9, 1.1]),
    name="theta after the first step (every coordinate moves by about lr)",
    rtol=1e-6,
    common_mistakes={"no bias correction": no_correction},
)
params = {"w": np.array([0.5, -1.5, 2.0])}
opt = ref.Adam(lr=0.01)
th, m, v = params["w"].copy(), np.zeros(3), np.zeros(3)
for step in range(1, 4):
    grad = np.array([0.3, -2.0, 1.0]) * step
    th, m, v = adam_step(th, grad, m, v, step, lr=0.01)
    opt.step(params, {"w": grad})
check_close(np.asarray(th), params["w"], name="theta after three Adam steps")
passed("adam_step")
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(408)
blocked = (ref.Adam, "lapenna_labs", *OTHER_LIBRARIES)
for dtype in (np.float32, np.float64):
    lr = float(rng.uniform(1e-3, 1e-1))
    b1, b2 = float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.9, 0.9999))
    params = {"w": rng.standard_normal((3, 5)).astype(dtype)}
    opt = ref.Adam(lr=lr, beta1=b1, beta2=b2, eps=1e-7)
    theta, m, v = params["w"].copy(), np.zeros_like(params["w"]), np.zeros_like(params["w"])
    for step in range(1, 8):
        g = rng.standard_normal((3, 5)).astype(dtype)
        theta, m, v = call_blocked(adam_step, theta, g, m, v, step, lr, b1, b2, 1e-7, block=blocked)
        opt.step(params, {"w": g})
        check_close(
            (np.asarray(theta), np.asarray(m), np.asarray(v)),
            (params["w"], opt.m["w"], opt.v["w"]),
            name=f"adam_step, step {step} (hidden; theta, m, v)",
        )
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part7_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 7: train 784-16-16-10 on MNIST from scratch (1 point)
#
# Put it together. The network is last week's:
# $A_1 = \operatorname{relu}(X W_1 + b_1)$, $A_2 = \operatorname{relu}(A_1 W_2 + b_2)$,
# $P = \operatorname{softmax}(A_2 W_3 + b_3)$, with the mean categorical cross-entropy as the loss.
#
# Write `train_mnist(x_train, y_train, epochs=10, batch_size=32, lr=3e-3, seed=0)` returning
# `(params, losses)`: the trained parameters (a dict with `"W1", "b1", ..., "b3"`) and the list
# of mini-batch losses. Start from `init_params(seed)` (given). In each epoch, shuffle the
# training set with `np.random.default_rng(seed)`, and for each mini-batch: run the forward pass
# (keep the caches), compute the loss and its gradient with respect to the logits (Part 4),
# backpropagate through the three layers with **your** `dense_backward` (and the relu derivative,
# `dA * (Z > 0)`), and update every parameter with **your** `adam_step` (or `momentum_step`).
#
# **Library calls.** Allowed: NumPy, `dense_forward`, `init_params` and `accuracy` above,
# `relu` and `softmax` from `lapenna_labs.activations`, and your `dense_backward`,
# `softmax_ce_backward`, `adam_step` and `momentum_step`. Blocked while graded: the rest of
# `lapenna_labs` (its layers, losses, optimizers, `MLP` and `training.fit`) and the other
# libraries (SciPy, PyTorch, TensorFlow, Keras, JAX).
#
# **Target: at least 85 % accuracy on the test set.** Our solution reaches about 89 % to 91 %
# on the offline 5,000-digit subset in about half a second (10 epochs, batch 32, Adam with
# `lr=3e-3`); with the full 60,000-image MNIST (in Colab) expect about 95 %.

# %% nbgrader={"grade": false, "grade_id": "mnist_setup", "locked": true, "schema_version": 3, "solution": false}
from lapenna_labs.activations import relu, softmax  # noqa: E402, F401
from lapenna_labs.data import load_mnist  # noqa: E402

(x_train, y_train), (x_test, y_test) = load_mnist()
print("train", x_train.shape, " test", x_test.shape)
LAYER_SIZES = (784, 16, 16, 10)


def init_params(seed=0, layer_sizes=LAYER_SIZES, dtype=np.float32):
    """He-initialised weights N(0, 2/fan_in) and zero biases, as a dict W1, b1, W2, ..."""
    rng = np.random.default_rng(seed)
    params = {}
    for k, (fan_in, fan_out) in enumerate(
        zip(layer_sizes[:-1], layer_sizes[1:], strict=True), start=1
    ):
        scale = np.sqrt(2.0 / fan_in)
        params[f"W{k}"] = (scale * rng.standard_normal((fan_in, fan_out))).astype(dtype)
        params[f"b{k}"] = np.zeros(fan_out, dtype=dtype)
    return params


def accuracy(params, x, y):
    """Fraction of the rows of x whose most probable class is the label y."""
    a = x
    for k in (1, 2):
        a = relu(dense_forward(a, params[f"W{k}"], params[f"b{k}"])[0])
    logits = dense_forward(a, params["W3"], params["b3"])[0]
    return float(np.mean(np.argmax(logits, axis=1) == y))


# %% nbgrader={"grade": false, "grade_id": "train_mnist", "locked": false, "schema_version": 3, "solution": true}
def train_mnist(x_train, y_train, epochs=10, batch_size=32, lr=3e-3, seed=0):
    """Train the 784-16-16-10 relu MLP with mini-batch Adam; returns (params, losses)."""
    ### BEGIN SOLUTION
    params = init_params(seed)
    moments = {key: (np.zeros_like(p), np.zeros_like(p)) for key, p in params.items()}
    rng = np.random.default_rng(seed)
    losses, step = [], 0
    n = len(x_train)
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            batch = order[start : start + batch_size]
            x, y = x_train[batch], y_train[batch]
            z1, cache1 = dense_forward(x, params["W1"], params["b1"])
            a1 = relu(z1)
            z2, cache2 = dense_forward(a1, params["W2"], params["b2"])
            a2 = relu(z2)
            logits, cache3 = dense_forward(a2, params["W3"], params["b3"])
            loss, dlogits = softmax_ce_backward(logits, y)
            losses.append(loss)
            grads = {}
            da2, grads["W3"], grads["b3"] = dense_backward(dlogits, cache3)
            da1, grads["W2"], grads["b2"] = dense_backward(da2 * (z2 > 0), cache2)
            _, grads["W1"], grads["b1"] = dense_backward(da1 * (z1 > 0), cache1)
            step += 1
            for key in params:
                m, v = moments[key]
                params[key], m, v = adam_step(params[key], grads[key], m, v, step, lr=lr)
                moments[key] = (m, v)
    return params, losses
    ### END SOLUTION


# %%
start = time.perf_counter()
trained_params, train_losses = train_mnist(x_train, y_train)
train_seconds = time.perf_counter() - start
test_accuracy = accuracy(trained_params, x_test, y_test)
print(f"trained in {train_seconds:.2f} s; test accuracy {test_accuracy:.3f}")

import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(train_losses, lw=0.5)
ax.set_xlabel("mini-batch")
ax.set_ylabel("cross-entropy")
ax.set_title("training loss (784-16-16-10, Adam)")
plt.show()

# %% nbgrader={"grade": true, "grade_id": "test_train_mnist", "locked": true, "points": 1, "schema_version": 3, "solution": false}
# Part 7: training
import numpy as np  # noqa: E402

from lapenna_labs import layers as ref_layers  # noqa: E402
from lapenna_labs import losses as ref_losses  # noqa: E402
from lapenna_labs import optim as ref_optim  # noqa: E402
from lapenna_labs.grading import OTHER_LIBRARIES, call_blocked, passed  # noqa: E402
from lapenna_labs.mlp import MLP  # noqa: E402

TARGET_ACCURACY = 0.85
assert isinstance(trained_params, dict), "train_mnist must return (params, losses)"
missing = [k for k in ("W1", "b1", "W2", "b2", "W3", "b3") if k not in trained_params]
assert not missing, f"train_mnist: params has no key(s) {missing}"
assert np.all(np.isfinite(train_losses)), "the training loss became NaN or infinite"
assert np.mean(train_losses[-20:]) < np.mean(train_losses[:20]), "the training loss did not go down"
assert test_accuracy >= TARGET_ACCURACY, (
    f"test accuracy {test_accuracy:.3f} is below {TARGET_ACCURACY}: check the gradients, lr, epochs"
)
passed("train_mnist")
### BEGIN HIDDEN TESTS
graded_params, graded_losses = call_blocked(
    train_mnist,
    x_train,
    y_train,
    seed=1,
    block=(
        ref_layers.dense_backward,
        ref_losses.softmax_cross_entropy_with_grad,
        ref_optim.Adam,
        MLP,
        "lapenna_labs",
        *OTHER_LIBRARIES,
    ),
    allow="lapenna_labs.activations",
    graded_elsewhere=(dense_backward, softmax_ce_backward, adam_step, momentum_step),
)
graded_accuracy = accuracy(graded_params, x_test, y_test)
assert graded_accuracy >= TARGET_ACCURACY, (
    "train_mnist (seed 1) misses the target accuracy (hidden)"
)
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "part8_intro", "locked": true, "schema_version": 3, "solution": false}
# ## Part 8: the same network in PyTorch or Keras (not graded)
#
# A framework does Parts 1 to 6 for you: autograd computes every gradient of Parts 2 to 4, and
# its optimizers are Part 6. The cell below trains the same 784-16-16-10 network with the same
# data, batch size, epochs and Adam settings in PyTorch (or Keras, if PyTorch is missing) and
# prints its test accuracy and time next to yours. It does nothing if neither is installed.
# In Colab both are. Questions to think about:
#
# * Are the accuracies the same? Should they be, exactly? (Initialisation, shuffling, float32
#   rounding.)
# * Which one is faster here, and why? (A 784-16-16-10 network is tiny: per-batch overhead, not
#   flops, dominates; see week 2.)


# %% nbgrader={"grade": false, "grade_id": "framework_compare", "locked": true, "schema_version": 3, "solution": false}
def train_with_torch(x_tr, y_tr, x_te, y_te, epochs=10, batch_size=32, lr=3e-3, seed=0):
    """Train 784-16-16-10 with torch on the CPU; returns (test accuracy, seconds)."""
    import torch

    # one thread: for a network this small, thread start-up costs more than it saves
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for s in range(0, len(xt), batch_size):
            idx = order[s : s + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        pred = model(torch.from_numpy(x_te)).argmax(dim=1).numpy()
    torch.set_num_threads(threads)
    return float(np.mean(pred == y_te)), seconds


def train_with_keras(x_tr, y_tr, x_te, y_te, epochs=10, batch_size=32, lr=3e-3, seed=0):
    """Train 784-16-16-10 with Keras; returns (test accuracy, seconds)."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    model.fit(x_tr, y_tr, epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    return float(model.evaluate(x_te, y_te, verbose=0)[1]), seconds


framework_result = None
for framework, trainer in (("PyTorch", train_with_torch), ("Keras", train_with_keras)):
    try:
        framework_result = (framework, *trainer(x_train, y_train, x_test, y_test))
        break
    except ImportError:
        continue
if "test_accuracy" in globals():
    print(f"NumPy (yours): test accuracy {test_accuracy:.3f} in {train_seconds:.2f} s")
else:
    print("NumPy (yours): not trained yet (finish Part 7 first)")
if framework_result is None:
    print("Neither PyTorch nor Keras is installed here: skipping the comparison.")
else:
    name, acc, secs = framework_result
    print(f"{name}:       test accuracy {acc:.3f} in {secs:.2f} s")

# %% [markdown] nbgrader={"grade": false, "grade_id": "wrapup", "locked": true, "schema_version": 3, "solution": false}
# ## What you built
#
# The whole training cycle of the lecture's last slide: define the network, forward pass,
# loss, analytic gradients by backpropagation (each layer's backward is two matrix products as
# large as its forward one, and a sum over the batch for the bias: about twice the forward
# pass's flops), a numerical check of those gradients, and an optimizer that uses them; and,
# underneath it all, an automatic differentiator of your own. Frameworks automate the gradients and run the same matrix products on a GPU;
# for a network this small, as you saw, that does not pay yet. The convolutional networks of the
# next weeks are where it does.
