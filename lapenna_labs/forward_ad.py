r"""Forward-mode automatic differentiation with dual numbers.

A dual number :math:`a + \dot a\,\varepsilon` carries a value :math:`a` and a *tangent*
:math:`\dot a`, with the one rule :math:`\varepsilon^2 = 0`. Arithmetic on dual numbers then
carries derivatives along by itself: :math:`(a + \dot a\varepsilon)(b + \dot b\varepsilon) =
ab + (\dot a b + a\dot b)\varepsilon`, the product rule, and for any smooth :math:`g`,
:math:`g(a + \dot a\varepsilon) = g(a) + g'(a)\,\dot a\,\varepsilon`. Evaluate a function on
inputs :math:`x + v\varepsilon` and the output is :math:`f(x) + (J_f(x)\,v)\,\varepsilon`:
one forward sweep gives the Jacobian-vector product :math:`Jv`, the derivative along the
direction :math:`v`, at a small constant multiple of the cost of evaluating :math:`f`.

That is forward mode. Reverse mode (backpropagation, :mod:`lapenna_labs.graph`) gives one
*row* :math:`u^{\mathsf T} J` per backward sweep instead of one *column*. For a loss
:math:`\mathbb R^n \to \mathbb R` with millions of parameters, reverse mode needs one sweep
and forward mode :math:`n`, which is why networks are trained with backpropagation; for a
function with few inputs and many outputs it is the other way round.

Here :class:`Dual` holds NumPy arrays (a value and a tangent of the same shape), so a whole
layer ``x @ W + b`` is a handful of array operations, and :func:`jvp` and :func:`jacobian`
wrap the forward sweeps. The elementwise functions :func:`exp`, :func:`log`, :func:`sin`,
:func:`cos`, :func:`tanh`, :func:`sigmoid` and :func:`relu` accept dual numbers and plain
arrays alike.

References
----------
.. [1] A. G. Baydin, B. A. Pearlmutter, A. A. Radul, J. M. Siskind, "Automatic
   differentiation in machine learning: a survey", Journal of Machine Learning Research
   18(153), 1-43, 2018, section 3.1.
.. [2] A. Griewank, A. Walther, *Evaluating Derivatives: Principles and Techniques of
   Algorithmic Differentiation*, 2nd ed., SIAM, 2008, chapter 3.

Examples
--------
The derivative of :math:`f(x) = x \sin x` at :math:`x = 2` is :math:`\sin 2 + 2\cos 2`:

>>> import math
>>> y = Dual(2.0, 1.0) * sin(Dual(2.0, 1.0))
>>> round(float(y.tangent), 6), round(math.sin(2) + 2 * math.cos(2), 6)
(0.077004, 0.077004)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lapenna_labs._validation import as_float_array

__all__ = ["Dual", "cos", "exp", "jacobian", "jvp", "log", "relu", "sigmoid", "sin", "tanh"]


class Dual:
    r"""A dual number :math:`a + \dot a\,\varepsilon` (:math:`\varepsilon^2 = 0`) of arrays.

    Parameters
    ----------
    value : array_like of float
        The primal value :math:`a`, any shape (a scalar is a 0-d array).
    tangent : array_like of float, optional
        The tangent :math:`\dot a`, the same shape as ``value``; default zeros (a constant).

    Attributes
    ----------
    value, tangent : ndarray of float64
        Both of the same shape.

    Notes
    -----
    Every operation returns ``Dual(f(a), J_f(a) \dot a)``:

    .. math::

        (a, \dot a) \pm (b, \dot b) &= (a \pm b,\ \dot a \pm \dot b), &
        (a, \dot a)\,(b, \dot b) &= (ab,\ \dot a b + a \dot b), \\
        (a, \dot a) / (b, \dot b) &= \bigl(a/b,\ (\dot a b - a \dot b)/b^2\bigr), &
        (a, \dot a)^k &= (a^k,\ k a^{k-1} \dot a), \\
        (A, \dot A)\,@\,(B, \dot B) &= (AB,\ \dot A B + A \dot B). &&

    A plain number or array in an operation is a constant (tangent zero). NumPy broadcasting
    applies to values and tangents alike. ``Dual`` sets ``__array_ufunc__ = None``, so
    ``array + dual`` calls ``Dual.__radd__`` instead of NumPy looping over the dual; use this
    module's :func:`exp`, :func:`log` ... rather than ``np.exp`` on a dual number.

    Examples
    --------
    >>> x = Dual(3.0, 1.0)  # x = 3, seeded with dx/dx = 1
    >>> y = x * x + 2 * x
    >>> float(y.value), float(y.tangent)  # y = 15, dy/dx = 2x + 2 = 8
    (15.0, 8.0)
    """

    __slots__ = ("tangent", "value")
    __array_ufunc__ = None  # ndarray (op) Dual -> Dual.__r<op>__

    def __init__(self, value: Any, tangent: Any = None) -> None:
        self.value = as_float_array(value, name="value", func="Dual").astype(np.float64)
        if tangent is None:
            self.tangent = np.zeros_like(self.value)
        else:
            self.tangent = as_float_array(tangent, name="tangent", func="Dual").astype(np.float64)
            if self.tangent.shape != self.value.shape:
                raise ValueError(
                    f"Dual: tangent has shape {self.tangent.shape} but value has shape "
                    f"{self.value.shape}"
                )

    @classmethod
    def _of(cls, value: np.ndarray, tangent: np.ndarray) -> Dual:
        """A Dual from arrays already computed (no checks: NaN may arise, as in NumPy)."""
        out = cls.__new__(cls)
        out.value, out.tangent = value, tangent
        return out

    def __repr__(self) -> str:
        return f"Dual(value={self.value!r}, tangent={self.tangent!r})"

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the value (and of the tangent)."""
        return self.value.shape

    @property
    def T(self) -> Dual:
        """The transpose, of value and tangent alike."""
        return Dual._of(self.value.T, self.tangent.T)

    def __getitem__(self, index: Any) -> Dual:
        return Dual._of(self.value[index], self.tangent[index])

    def __neg__(self) -> Dual:
        return Dual._of(-self.value, -self.tangent)

    def __add__(self, other: Any) -> Dual:
        b = _lift(other)
        return Dual._of(self.value + b.value, self.tangent + b.tangent)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Dual:
        b = _lift(other)
        return Dual._of(self.value - b.value, self.tangent - b.tangent)

    def __rsub__(self, other: Any) -> Dual:
        return _lift(other) - self

    def __mul__(self, other: Any) -> Dual:
        b = _lift(other)
        return Dual._of(self.value * b.value, self.tangent * b.value + self.value * b.tangent)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Dual:
        b = _lift(other)
        quotient = self.value / b.value
        return Dual._of(quotient, (self.tangent - quotient * b.tangent) / b.value)

    def __rtruediv__(self, other: Any) -> Dual:
        return _lift(other) / self

    def __pow__(self, exponent: float) -> Dual:
        if isinstance(exponent, Dual):
            raise TypeError("Dual: only a constant exponent is supported; write exp(y * log(x))")
        k = float(exponent)
        return Dual._of(self.value**k, k * self.value ** (k - 1.0) * self.tangent)

    def __matmul__(self, other: Any) -> Dual:
        b = _lift(other)
        return Dual._of(self.value @ b.value, self.tangent @ b.value + self.value @ b.tangent)

    def __rmatmul__(self, other: Any) -> Dual:
        return _lift(other) @ self

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Dual:
        """Sum over ``axis`` (all by default): a linear map, applied to the tangent too."""
        return Dual._of(
            self.value.sum(axis=axis, keepdims=keepdims),
            self.tangent.sum(axis=axis, keepdims=keepdims),
        )

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Dual:
        """Mean over ``axis`` (all by default)."""
        return Dual._of(
            self.value.mean(axis=axis, keepdims=keepdims),
            self.tangent.mean(axis=axis, keepdims=keepdims),
        )


def _lift(x: Any) -> Dual:
    """``x`` itself if it is a Dual, else a constant: tangent zero."""
    if isinstance(x, Dual):
        return x
    value = np.asarray(x, dtype=np.float64)
    return Dual._of(value, np.zeros_like(value))


def _elementwise(
    f: Callable[[np.ndarray], np.ndarray],
    df: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Callable[[Any], Any]:
    """An elementwise function on arrays and duals, from ``f`` and ``df(x, f(x))``."""

    def apply(x: Any) -> Any:
        if not isinstance(x, Dual):
            return f(np.asarray(x, dtype=np.float64))
        out = f(x.value)
        return Dual._of(out, df(x.value, out) * x.tangent)

    return apply


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 1/(1 + e^-x) for x >= 0 and e^x/(1 + e^x) for x < 0: neither overflows
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


exp = _elementwise(np.exp, lambda x, out: out)
exp.__doc__ = "Elementwise :math:`e^x`; on a dual number the tangent is multiplied by :math:`e^x`."
log = _elementwise(np.log, lambda x, out: 1.0 / x)
log.__doc__ = "Elementwise natural logarithm; tangent times :math:`1/x`."
sin = _elementwise(np.sin, lambda x, out: np.cos(x))
sin.__doc__ = "Elementwise sine; tangent times :math:`\\cos x`."
cos = _elementwise(np.cos, lambda x, out: -np.sin(x))
cos.__doc__ = "Elementwise cosine; tangent times :math:`-\\sin x`."
tanh = _elementwise(np.tanh, lambda x, out: 1.0 - out * out)
tanh.__doc__ = "Elementwise tanh; tangent times :math:`1 - \\tanh^2 x`."
sigmoid = _elementwise(_sigmoid, lambda x, out: out * (1.0 - out))
sigmoid.__doc__ = "Elementwise logistic sigmoid; tangent times :math:`\\sigma(1 - \\sigma)`."
relu = _elementwise(lambda x: np.maximum(x, 0.0), lambda x, out: (x > 0).astype(np.float64))
relu.__doc__ = (
    "Elementwise :math:`\\max(x, 0)`; tangent times 1 where :math:`x > 0`, else 0 "
    "(the derivative at 0 taken as 0, as in PyTorch and :mod:`lapenna_labs.activations`)."
)


def jvp(
    f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]
) -> tuple[np.ndarray, np.ndarray]:
    r"""One forward sweep: the value :math:`f(x)` and the Jacobian-vector product :math:`J_f(x)v`.

    Parameters
    ----------
    f : callable
        ``f(*inputs)`` written with arithmetic, ``@`` and this module's functions, returning
        one array (or Dual).
    primals : sequence of array_like
        The point :math:`x`, one array per argument of ``f``.
    tangents : sequence of array_like
        The direction :math:`v`, one array per argument, each the shape of its primal.

    Returns
    -------
    value : ndarray
        :math:`f(x)`.
    tangent : ndarray
        :math:`J_f(x)\,v = \frac{d}{dh} f(x + h v)\big|_{h=0}`, the shape of ``value``.

    Raises
    ------
    ValueError
        If ``f`` is not callable, the two sequences differ in length, or a tangent's shape
        differs from its primal's.

    Notes
    -----
    The same as ``torch.func.jvp(f, primals, tangents)`` for such an ``f``. The cost is one
    evaluation of ``f`` on dual numbers, a small constant times the cost of ``f``; the
    full Jacobian of :math:`\mathbb R^n \to \mathbb R^m` takes :math:`n` sweeps
    (:func:`jacobian`).

    Examples
    --------
    The directional derivative of :math:`f(x, y) = xy^2` at :math:`(1, 2)` along
    :math:`(1, 0)` is :math:`y^2 = 4`, and along :math:`(0, 1)` it is :math:`2xy = 4`:

    >>> jvp(lambda x, y: x * y**2, (1.0, 2.0), (1.0, 0.0))
    (array(4.), array(4.))
    >>> jvp(lambda x, y: x * y**2, (1.0, 2.0), (0.0, 1.0))[1]
    array(4.)
    """
    if not callable(f):
        raise ValueError(f"jvp: f must be callable, got {type(f).__name__}")
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: got {len(primals)} primals but {len(tangents)} tangents (one per argument)"
        )
    duals = []
    for k, (x, v) in enumerate(zip(primals, tangents, strict=True)):
        x = as_float_array(x, name=f"primals[{k}]", func="jvp")
        v = as_float_array(v, name=f"tangents[{k}]", func="jvp")
        if v.shape != x.shape:
            raise ValueError(f"jvp: tangents[{k}] has shape {v.shape} but primals[{k}] {x.shape}")
        duals.append(Dual(x, v))
    out = _lift(f(*duals))
    return np.asarray(out.value), np.asarray(out.tangent)


def jacobian(f: Callable[[Any], Any], x: Any) -> np.ndarray:
    r"""The Jacobian of ``f`` at ``x`` by forward mode: one :func:`jvp` per input element.

    Parameters
    ----------
    f : callable
        ``f(x)`` of one array argument, written as for :func:`jvp`.
    x : array_like of float
        The point, any shape (``n = x.size`` elements).

    Returns
    -------
    ndarray, shape ``f(x).shape + x.shape``
        :math:`\partial f_i / \partial x_j`; column :math:`j` is the sweep seeded with the
        unit vector :math:`e_j`.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    >>> jacobian(lambda v: A @ v, np.zeros(3))  # a linear map is its own Jacobian
    array([[1., 2., 3.],
           [4., 5., 6.]])
    """
    x = as_float_array(x, name="x", func="jacobian").astype(np.float64)
    if x.size == 0:
        raise ValueError("jacobian: x is empty")
    columns = []
    for j in range(x.size):
        seed = np.zeros(x.size)
        seed[j] = 1.0
        _, column = jvp(f, (x,), (seed.reshape(x.shape),))
        columns.append(column)
    stacked = np.stack(columns, axis=-1)  # f(x).shape + (n,)
    return stacked.reshape(columns[0].shape + x.shape)
