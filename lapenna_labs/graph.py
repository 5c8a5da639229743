"""A tiny scalar autodiff (micrograd-sized) for building and checking computational graphs.

Every node is a :class:`Value`: a number plus the operation ("gate") that made it. Each
gate knows two things only, its local forward value and its local gradient; ``backward()``
walks the graph in reverse topological order and applies the chain rule
``[downstream gradient] = [upstream gradient] x [local gradient]`` at every gate, exactly as
in the lecture's "Computational Graph" slides.

The gate patterns of the slides fall out of the local gradients:

* **add** distributes: both inputs receive the upstream gradient unchanged.
* **mul** swaps: each input receives the upstream gradient times the *other* input.
* **copy** (fan-out) adds: a value used twice receives the sum of both gradients.
* **max** routes: the larger input receives the whole gradient, the other none.

:func:`as_rows` and :func:`to_table` list a graph's nodes with their values and gradients;
:func:`lapenna_labs.plots.draw_graph` draws it. The slides' graphs are
:func:`add_mul_example`, :func:`sigmoid_neuron_example` and :func:`gate_patterns_example`.

Examples
--------
>>> from lapenna_labs.graph import add_mul_example
>>> g = add_mul_example()
>>> g["f"].data, g["x"].grad, g["y"].grad, g["z"].grad
(-12.0, -4.0, -4.0, 3.0)

References
----------
A. Karpathy, micrograd, https://github.com/karpathy/micrograd.
cs231n, "Backpropagation, Intuitions", https://cs231n.github.io/optimization-2/.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from numbers import Real
from typing import Any

from ._validation import check_positive_int

__all__ = [
    "Value",
    "maximum",
    "copy",
    "nodes",
    "as_rows",
    "to_table",
    "add_mul_example",
    "sigmoid_neuron_example",
    "gate_patterns_example",
]

# Symbols used for each gate when a node is listed or drawn.
OP_SYMBOLS = {
    "": "",
    "+": "+",
    "*": "\u00d7",
    "neg": "\u2212x",
    "**": "x^k",
    "exp": "exp",
    "log": "log",
    "sigmoid": "\u03c3",
    "tanh": "tanh",
    "relu": "ReLU",
    "max": "max",
    "copy": "copy",
    "1/x": "1/x",
}


def _as_number(value: Any, *, func: str, name: str) -> float:
    """Return ``value`` as a finite float, or raise a ValueError naming the problem."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{func}: {name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{func}: {name} must be finite, got {number}")
    return number


class Value:
    """A scalar node of a computational graph: its value, its gradient and its gate.

    Parameters
    ----------
    data : float
        The node's value (its forward result). Must be a finite real number.
    label : str, optional
        A name shown when the graph is listed or drawn (``"x"``, ``"q"``...).
    op : str, optional
        The gate that produced the node (``"+"``, ``"*"``, ``"exp"``...); empty for inputs.

    Attributes
    ----------
    data : float
        The forward value.
    grad : float
        d(root)/d(this node) after ``root.backward()``; 0 before.
    label, op : str
        As given.

    Notes
    -----
    Operators build new nodes: ``+ - * / **`` with numbers or other Values, unary ``-``,
    and the methods :meth:`exp`, :meth:`log`, :meth:`sigmoid`, :meth:`tanh`, :meth:`relu`.
    :func:`maximum` is the max gate and :func:`copy` the explicit fan-out gate. Subtraction
    and division are built from add, mul, neg and the ``1/x`` gate, so they show up as
    several nodes in a drawing, as in cs231n's expanded sigmoid example.

    Examples
    --------
    >>> x, y = Value(3.0, "x"), Value(-4.0, "y")
    >>> f = x * y
    >>> f.backward()
    >>> x.grad, y.grad
    (-4.0, 3.0)
    """

    __slots__ = ("data", "grad", "label", "op", "_children", "_backward")

    def __init__(self, data: float, label: str = "", op: str = "", _children: tuple = ()):
        self.data = _as_number(data, func="Value", name="data")
        self.grad = 0.0
        self.label = str(label)
        self.op = str(op)
        self._children: tuple[Value, ...] = tuple(_children)
        self._backward: Callable[[], None] = lambda: None

    # -- construction helpers -------------------------------------------------------------
    @staticmethod
    def _lift(other: Any, func: str) -> Value:
        if isinstance(other, Value):
            return other
        number = _as_number(other, func=func, name="operand")
        # Constants get their value as label, so a drawing shows "1" rather than "input#1".
        return Value(number, label=f"{number:g}")

    def __repr__(self) -> str:
        name = f"{self.label}, " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # -- gates ----------------------------------------------------------------------------
    def __add__(self, other: Any) -> Value:
        other = self._lift(other, "Value.__add__")
        out = Value(self.data + other.data, op="+", _children=(self, other))

        def _backward() -> None:
            # add gate: gradient distributor (local gradient 1 for both inputs)
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Any) -> Value:
        other = self._lift(other, "Value.__mul__")
        out = Value(self.data * other.data, op="*", _children=(self, other))

        def _backward() -> None:
            # mul gate: "swap multiplier"
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __neg__(self) -> Value:
        out = Value(-self.data, op="neg", _children=(self,))

        def _backward() -> None:
            self.grad -= out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent: Any) -> Value:
        if isinstance(exponent, Value):
            raise ValueError("Value.__pow__: the exponent must be a number, not a Value")
        k = _as_number(exponent, func="Value.__pow__", name="exponent")
        if self.data == 0.0 and k < 1 and k != 0:
            raise ValueError(f"Value.__pow__: 0 ** {k:g} has no finite gradient")
        if self.data < 0 and not float(k).is_integer():
            raise ValueError(f"Value.__pow__: negative base {self.data:g} ** {k:g} is not real")
        out = Value(self.data**k, label="", op="**", _children=(self,))

        def _backward() -> None:
            if k != 0:  # x**0 is constant; 0.0 ** -1 would raise
                self.grad += k * self.data ** (k - 1) * out.grad

        out._backward = _backward
        return out

    def reciprocal(self) -> Value:
        """The ``1/x`` gate: local gradient ``-1/x**2``."""
        if self.data == 0.0:
            raise ValueError("Value.reciprocal: division by zero")
        out = Value(1.0 / self.data, op="1/x", _children=(self,))

        def _backward() -> None:
            self.grad += -out.grad / (self.data * self.data)

        out._backward = _backward
        return out

    def exp(self) -> Value:
        """The exp gate: local gradient ``exp(x)`` (the output itself)."""
        if self.data > 709.0:
            raise ValueError(f"Value.exp: exp({self.data:g}) overflows a float")
        out = Value(math.exp(self.data), op="exp", _children=(self,))

        def _backward() -> None:
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        """The natural-log gate: local gradient ``1/x``; needs ``x > 0``."""
        if self.data <= 0.0:
            raise ValueError(f"Value.log: log needs a positive number, got {self.data:g}")
        out = Value(math.log(self.data), op="log", _children=(self,))

        def _backward() -> None:
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        """The sigmoid gate: ``s = 1/(1+exp(-x))``, local gradient ``s (1 - s)``."""
        x = self.data
        # Two branches so that exp never overflows for large |x|.
        if x >= 0:
            s = 1.0 / (1.0 + math.exp(-x))
        else:
            e = math.exp(x)
            s = e / (1.0 + e)
        out = Value(s, op="sigmoid", _children=(self,))

        def _backward() -> None:
            self.grad += s * (1.0 - s) * out.grad

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        """The tanh gate: local gradient ``1 - tanh(x)**2``."""
        t = math.tanh(self.data)
        out = Value(t, op="tanh", _children=(self,))

        def _backward() -> None:
            self.grad += (1.0 - t * t) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        """The ReLU gate ``max(0, x)``: local gradient 1 for ``x > 0``, else 0 (also at 0)."""
        out = Value(self.data if self.data > 0 else 0.0, op="relu", _children=(self,))

        def _backward() -> None:
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad

        out._backward = _backward
        return out

    # -- the remaining operators are compositions of the gates above ----------------------
    def __radd__(self, other: Any) -> Value:
        return self._lift(other, "Value.__radd__") + self

    def __rmul__(self, other: Any) -> Value:
        return self._lift(other, "Value.__rmul__") * self

    def __sub__(self, other: Any) -> Value:
        return self + (-self._lift(other, "Value.__sub__"))

    def __rsub__(self, other: Any) -> Value:
        return self._lift(other, "Value.__rsub__") + (-self)

    def __truediv__(self, other: Any) -> Value:
        other = self._lift(other, "Value.__truediv__")
        if other.data == 0.0:
            raise ValueError("Value.__truediv__: division by zero")
        return self * other.reciprocal()

    def __rtruediv__(self, other: Any) -> Value:
        if self.data == 0.0:
            raise ValueError("Value.__rtruediv__: division by zero")
        return self._lift(other, "Value.__rtruediv__") * self.reciprocal()

    # -- backpropagation ------------------------------------------------------------------
    def nodes(self) -> list[Value]:
        """All nodes this one depends on (itself included), inputs first (topological order).

        Returns
        -------
        list of Value
            Each node appears once, after every node it was computed from.
        """
        order: list[Value] = []
        seen: set[int] = set()
        # Iterative depth-first search: a long chain must not hit Python's recursion limit.
        stack: list[tuple[Value, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            for child in reversed(node._children):
                if id(child) not in seen:
                    stack.append((child, False))
        return order

    def backward(self) -> None:
        """Fill ``.grad`` of every node with d(self)/d(node) by reverse-mode autodiff.

        Notes
        -----
        Gradients of the whole graph are reset to 0 first, so calling ``backward`` twice
        gives the same result (unlike PyTorch, which accumulates). Then ``self.grad = 1``
        (df/df = 1) and every gate, visited from the output back to the inputs, adds
        ``upstream gradient x local gradient`` to its inputs' ``.grad``.
        """
        order = self.nodes()
        for node in order:
            node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._backward()

    @property
    def children(self) -> tuple[Value, ...]:
        """The nodes this one was computed from (the gate's inputs)."""
        return self._children


def maximum(a: Value | float, b: Value | float) -> Value:
    """The max gate: ``max(a, b)``; it routes the whole gradient to the larger input.

    Parameters
    ----------
    a, b : Value or float
        The two inputs.

    Returns
    -------
    Value
        A node with ``op="max"``.

    Notes
    -----
    Local gradients: 1 for the larger input, 0 for the other. On a tie the gradient goes to
    ``a`` (any convex combination is a valid subgradient; this picks one).

    Examples
    --------
    >>> z, w = Value(2.0, "z"), Value(-1.0, "w")
    >>> m = maximum(z, w)
    >>> m.backward()
    >>> z.grad, w.grad
    (1.0, 0.0)
    """
    a = Value._lift(a, "maximum")
    b = Value._lift(b, "maximum")
    a_wins = a.data >= b.data
    out = Value(a.data if a_wins else b.data, op="max", _children=(a, b))

    def _backward() -> None:
        if a_wins:
            a.grad += out.grad
        else:
            b.grad += out.grad

    out._backward = _backward
    return out


def copy(v: Value, n: int = 2) -> tuple[Value, ...]:
    """The copy (fan-out) gate: ``n`` copies of ``v`` whose gradients add up in ``v``.

    Parameters
    ----------
    v : Value
        The node to fan out.
    n : int, default 2
        How many copies.

    Returns
    -------
    tuple of Value, length n
        Each copy has ``op="copy"`` and the same value as ``v``.

    Notes
    -----
    Using a Value twice already sums its gradients (every gate adds with ``+=``); this gate
    only makes the fan-out visible in a listing or drawing, as the slides' "copy gate:
    gradient adder" does. Local gradient: 1 for each copy.

    Examples
    --------
    >>> x = Value(3.0, "x")
    >>> a, b = copy(x)
    >>> f = a * b  # x**2
    >>> f.backward()
    >>> x.grad
    6.0
    """
    if not isinstance(v, Value):
        raise ValueError(f"copy: v must be a Value, got {type(v).__name__}")
    n = check_positive_int(n, name="n", func="copy")
    base = v.label or "v"
    copies = []
    for i in range(n):
        out = Value(v.data, label=f"{base}[{i + 1}]", op="copy", _children=(v,))

        def _backward(out: Value = out) -> None:
            v.grad += out.grad

        out._backward = _backward
        copies.append(out)
    return tuple(copies)


# -- listing ------------------------------------------------------------------------------
def nodes(root: Value) -> list[Value]:
    """All nodes of the graph ending in ``root``, inputs first. See :meth:`Value.nodes`."""
    if not isinstance(root, Value):
        raise ValueError(f"nodes: root must be a Value, got {type(root).__name__}")
    return root.nodes()


def _display_names(order: Iterable[Value]) -> dict[int, str]:
    """A unique, readable name for every node: its label, or its gate and a counter."""
    names: dict[int, str] = {}
    counts: dict[str, int] = {}
    for node in order:
        if node.label:
            names[id(node)] = node.label
        else:
            key = node.op or "input"
            counts[key] = counts.get(key, 0) + 1
            names[id(node)] = f"{OP_SYMBOLS.get(key, key) or key}#{counts[key]}"
    return names


def as_rows(root: Value) -> list[tuple[str, str, float, float]]:
    """The graph as rows ``(node, op, value, grad)``, inputs first.

    Parameters
    ----------
    root : Value
        The output node; call ``root.backward()`` first to fill the gradients.

    Returns
    -------
    list of (str, str, float, float)
        One row per node: its display name (label, or gate and counter), its gate (empty for
        inputs), its value and its gradient.

    Examples
    --------
    >>> g = add_mul_example()
    >>> as_rows(g["f"])[-1]
    ('f', '*', -12.0, 1.0)
    """
    order = nodes(root)
    names = _display_names(order)
    return [(names[id(n)], n.op, n.data, n.grad) for n in order]


def to_table(root: Value, digits: int = 5) -> str:
    """The rows of :func:`as_rows` as an aligned text table, for printing.

    Parameters
    ----------
    root : Value
        The output node (after ``backward()``).
    digits : int, default 5
        Decimal places shown for values and gradients.

    Returns
    -------
    str
        A table with columns node, op, value, grad.
    """
    rows = as_rows(root)
    header = ("node", "op", "value", "grad")
    cells = [header] + [
        (n, op or "input", f"{v:.{digits}f}", f"{g:.{digits}f}") for n, op, v, g in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    lines = []
    for k, row in enumerate(cells):
        lines.append(
            "  ".join(
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- the slides' examples -----------------------------------------------------------------
def add_mul_example(x: float = -2.0, y: float = 5.0, z: float = -4.0) -> dict[str, Value]:
    """The slides' first graph ``f = (x + y) z``, evaluated and back-propagated.

    Parameters
    ----------
    x, y, z : float, default -2, 5, -4
        The slide's inputs.

    Returns
    -------
    dict of str to Value
        ``"x"``, ``"y"``, ``"z"``, ``"q"`` (= x + y) and ``"f"``, with gradients filled in.

    Notes
    -----
    ``q = x + y = 3``, ``f = q z = -12``; ``df/dq = z = -4``, ``df/dz = q = 3``, and the add
    gate distributes: ``df/dx = df/dy = -4`` (cs231n lecture 4).

    Examples
    --------
    >>> g = add_mul_example()
    >>> g["q"].data, g["f"].data, g["z"].grad
    (3.0, -12.0, 3.0)
    """
    xv, yv, zv = Value(x, "x"), Value(y, "y"), Value(z, "z")
    q = xv + yv
    q.label = "q"
    f = q * zv
    f.label = "f"
    f.backward()
    return {"x": xv, "y": yv, "z": zv, "q": q, "f": f}


def sigmoid_neuron_example(
    w0: float = 2.0,
    x0: float = -1.0,
    w1: float = -3.0,
    x1: float = -2.0,
    w2: float = -3.0,
    *,
    expanded: bool = False,
) -> dict[str, Value]:
    """The slides' sigmoid neuron ``f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2)))``.

    Parameters
    ----------
    w0, x0, w1, x1, w2 : float
        Defaults are the slide's (cs231n's) values 2, -1, -3, -2, -3, for which
        ``w0 x0 + w1 x1 + w2 = -2 + 6 - 3 = 1`` and ``f = sigma(1) = 0.731``.
    expanded : bool, default False
        False: one sigmoid gate, the slides' "flat code" (``s0 ... s3, L``). True: the
        sigmoid spelled out as the gates ``neg, exp, +1, 1/x`` of cs231n's figure.

    Returns
    -------
    dict of str to Value
        The inputs, the intermediate nodes (``s0 = w0 x0``, ``s1 = w1 x1``, ``s2 = s0 + s1``,
        ``s3 = s2 + w2``; expanded also ``neg``, ``exp``, ``denom``) and ``"output"`` (also
        under ``"L"``), with gradients filled in.

    Notes
    -----
    The sigmoid gate's local gradient is ``sigma (1 - sigma)``: here ``0.731 x 0.269 =
    0.197`` (the slide's ``[1.00] x [(1 - 0.73)(0.73)] = 0.2``). Then ``dL/dw0 = 0.197 x0``,
    ``dL/dx0 = 0.197 w0`` and so on: about -0.20, 0.39, -0.39, -0.59, 0.20 for
    ``w0, x0, w1, x1, w2``.

    Examples
    --------
    >>> g = sigmoid_neuron_example()
    >>> round(g["output"].data, 3), round(g["w0"].grad, 3), round(g["x1"].grad, 3)
    (0.731, -0.197, -0.59)
    """
    v = {
        k: Value(val, k)
        for k, val in zip(("w0", "x0", "w1", "x1", "w2"), (w0, x0, w1, x1, w2), strict=True)
    }
    s0 = v["w0"] * v["x0"]
    s0.label = "s0"
    s1 = v["w1"] * v["x1"]
    s1.label = "s1"
    s2 = s0 + s1
    s2.label = "s2"
    s3 = s2 + v["w2"]
    s3.label = "s3"
    out = dict(v, s0=s0, s1=s1, s2=s2, s3=s3)
    if expanded:
        neg = -s3
        neg.label = "neg"
        ex = neg.exp()
        ex.label = "exp"
        denom = ex + 1.0
        denom.label = "denom"
        output = denom.reciprocal()
        out.update(neg=neg, exp=ex, denom=denom)
    else:
        output = s3.sigmoid()
    output.label = "L"
    output.backward()
    out["output"] = output
    out["L"] = output
    return out


def gate_patterns_example(
    x: float = 3.0, y: float = -4.0, z: float = 2.0, w: float = -1.0
) -> dict[str, Value]:
    """cs231n's "patterns in backward flow" graph ``f = 2 (x y + max(z, w))``.

    Parameters
    ----------
    x, y, z, w : float, default 3, -4, 2, -1
        cs231n's values.

    Returns
    -------
    dict of str to Value
        ``"x", "y", "z", "w", "xy", "max", "sum", "f"`` with gradients filled in.

    Notes
    -----
    It shows three of the slides' gates at once: the mul gate swaps (``df/dx = 2 y = -8``,
    ``df/dy = 2 x = 6``), the add gate distributes (2 to both inputs), and the max gate
    routes (``df/dz = 2``, ``df/dw = 0``).

    Examples
    --------
    >>> g = gate_patterns_example()
    >>> g["f"].data, g["x"].grad, g["y"].grad, g["z"].grad, g["w"].grad
    (-20.0, -8.0, 6.0, 2.0, 0.0)
    """
    xv, yv, zv, wv = Value(x, "x"), Value(y, "y"), Value(z, "z"), Value(w, "w")
    xy = xv * yv
    xy.label = "xy"
    m = maximum(zv, wv)
    m.label = "max"
    s = xy + m
    s.label = "sum"
    f = s * 2.0
    f.label = "f"
    f.backward()
    return {"x": xv, "y": yv, "z": zv, "w": wv, "xy": xy, "max": m, "sum": s, "f": f}
