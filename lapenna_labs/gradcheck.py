"""Gradient checking: compare an analytic gradient with central finite differences.

A backward pass is easy to get subtly wrong (a transpose, a missing sum over the batch, ``i1``
where ``i2`` belongs) and still produce numbers that look plausible. Finite differences need
only the forward pass, so they are an independent check:

>>> import numpy as np
>>> from lapenna_labs.layers import dense_forward, dense_backward
>>> rng = np.random.default_rng(0)
>>> x, W, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
>>> errors = check_layer_backward(dense_forward, dense_backward, (x, W, b))
>>> all(e < 1e-8 for e in errors)
True

Use float64 for gradient checks: in float32 a step of ``1e-5`` is lost in rounding.

References
----------
.. [1] Stanford CS231n, "Neural Networks Part 3: gradient checks".
   https://cs231n.github.io/neural-networks-3/#gradcheck
.. [2] Goodfellow, Bengio and Courville, *Deep Learning*, MIT Press, 2016, section 11.5
   (debugging strategies: check gradients numerically). https://www.deeplearningbook.org
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lapenna_labs._validation import as_float_array, check_positive_number, check_same_shape

__all__ = ["check_layer_backward", "numerical_gradient", "relative_error"]


def _check_step(h: Any, func: str) -> float:
    h = check_positive_number(h, name="h", func=func)
    if not np.isfinite(h):
        raise ValueError(f"{func}: h must be finite, got {h!r}")
    return h


def _as_scalar(value: Any, func: str) -> float:
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"{func}: f must return a scalar, got an array of shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{func}: f must return a real number, got dtype {arr.dtype}")
    result = float(arr.reshape(()))
    if not np.isfinite(result):
        raise ValueError(f"{func}: f returned {result} at the perturbed point")
    return result


def numerical_gradient(f: Callable[[np.ndarray], Any], x: Any, h: float = 1e-5) -> np.ndarray:
    r"""Central-difference gradient of a scalar function of an array.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``: a scalar function of an array shaped like `x`.
    x : ndarray of float, any shape
        The point. If it is a float ndarray it is perturbed **in place**, one entry at a time,
        and restored before returning, so `f` may also read `x` from a closure (as in cs231n).
        Anything else (a list, an int array) is first copied to float64.
    h : float, default 1e-5
        The step.

    Returns
    -------
    ndarray, same shape and dtype as `x`
        ``grad[i] ~ df/dx[i]``.

    Notes
    -----
    .. math:: \frac{\partial f}{\partial x_i} \approx
              \frac{f(x + h e_i) - f(x - h e_i)}{2h}

    The central difference has error :math:`O(h^2)`, against :math:`O(h)` for the one-sided
    :math:`(f(x + h e_i) - f(x))/h`. It costs two evaluations of `f` per entry of `x`, so it
    is for checking gradients on small inputs, never for training.

    References
    ----------
    .. [1] Stanford CS231n, "Optimization: computing the gradient numerically".
       https://cs231n.github.io/optimization-1/#numerical

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([1.0, -2.0, 3.0])
    >>> np.round(numerical_gradient(lambda v: np.sum(v**2), x), 6)  # 2 x
    array([ 2., -4.,  6.])
    >>> x  # unchanged
    array([ 1., -2.,  3.])
    """
    func = "numerical_gradient"
    if not callable(f):
        raise ValueError(f"{func}: f must be callable, got {type(f).__name__}")
    if not (isinstance(x, np.ndarray) and x.dtype.kind == "f" and x.flags.writeable):
        x = np.array(as_float_array(x, name="x", func=func), dtype=np.float64)
    else:
        as_float_array(x, name="x", func=func)  # rejects NaN and infinity
    h = _check_step(h, func)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i].copy()
        try:
            x[i] = old + h
            f_plus = _as_scalar(f(x), func)
            x[i] = old - h
            f_minus = _as_scalar(f(x), func)
        finally:
            x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(a: Any, b: Any) -> float:
    r"""Relative error between two arrays: ``max |a - b| / max(|a| + |b|)``.

    Parameters
    ----------
    a, b : array_like of float, same shape
        Typically an analytic and a numerical gradient.

    Returns
    -------
    float
        0 when the arrays are equal (including both all zero); at most 1.

    Notes
    -----
    .. math:: \mathrm{err}(a, b) = \frac{\max_i |a_i - b_i|}{\max_i (|a_i| + |b_i|)}

    Scaling by the largest magnitude makes the error independent of the units of the
    gradient, and, unlike an entrywise ratio, it is not blown up by entries that are
    (nearly) zero in both arrays, which ReLU produces in bulk. Rules of thumb in float64
    (cs231n): below 1e-7 the gradient is right; above 1e-4 something is wrong; in between,
    look at kinks (ReLU at 0) or a badly chosen step.

    References
    ----------
    .. [1] Stanford CS231n, "Neural Networks Part 3: gradient checks, use relative error".
       https://cs231n.github.io/neural-networks-3/#gradcheck

    Examples
    --------
    >>> relative_error([1.0, 2.0], [1.0, 2.0])
    0.0
    >>> relative_error([1.0, 0.0], [3.0, 0.0])  # |1 - 3| / (1 + 3)
    0.5
    >>> relative_error([0.0], [0.0])
    0.0
    """
    func = "relative_error"
    a = as_float_array(a, name="a", func=func).astype(np.float64)
    b = as_float_array(b, name="b", func=func).astype(np.float64)
    check_same_shape(a, b, names=("a", "b"), func=func)
    if a.size == 0:
        return 0.0
    scale = np.max(np.abs(a) + np.abs(b))
    if scale == 0:
        return 0.0
    return float(np.max(np.abs(a - b)) / scale)


def check_layer_backward(
    forward: Callable[..., tuple[Any, Any]],
    backward: Callable[[np.ndarray, Any], Any],
    inputs: Sequence[Any],
    seed: int | np.random.Generator = 0,
    h: float = 1e-5,
) -> list[float]:
    r"""Check a layer's backward function against finite differences of its forward function.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> (out, cache)``.
    backward : callable
        ``backward(dout, cache) -> grads``: a tuple with one gradient per input (a single
        array is accepted when there is one input), each shaped like its input.
    inputs : tuple of array_like of float
        The point at which to check. They are copied to float64; the originals are untouched.
    seed : int or numpy.random.Generator, default 0
        Seeds the random upstream gradient ``dout``.
    h : float, default 1e-5
        Finite-difference step.

    Returns
    -------
    list of float
        One :func:`relative_error` per input, in the order of `inputs`.

    Notes
    -----
    A random ``dout`` of the output's shape turns the layer into the scalar function
    :math:`f(\text{inputs}) = \sum \text{out} \odot \text{dout}`, whose gradient with
    respect to each input is exactly what ``backward(dout, cache)`` should return. Its
    numerical gradient is computed for every input and compared. A random (not all-ones)
    ``dout`` matters: with ones, a backward that forgets to multiply by ``dout`` still passes.

    References
    ----------
    .. [1] Stanford CS231n assignment 2, ``gradient_check.eval_numerical_gradient_array``.

    Examples
    --------
    >>> import numpy as np
    >>> from lapenna_labs.layers import activation_forward, activation_backward
    >>> z = np.array([[0.5, -1.0, 2.0]])
    >>> [err] = check_layer_backward(
    ...     lambda z: activation_forward(z, "tanh"), activation_backward, (z,))
    >>> err < 1e-8
    True
    """
    func = "check_layer_backward"
    if not callable(forward) or not callable(backward):
        raise ValueError(f"{func}: forward and backward must be callable")
    if isinstance(inputs, np.ndarray) or not isinstance(inputs, (tuple, list)):
        raise ValueError(f"{func}: inputs must be a tuple of arrays, e.g. (x, W, b) or (z,)")
    if len(inputs) == 0:
        raise ValueError(f"{func}: inputs is empty")
    h = _check_step(h, func)
    rng = np.random.default_rng(seed)
    arrays = [
        np.array(as_float_array(v, name=f"inputs[{k}]", func=func), dtype=np.float64)
        for k, v in enumerate(inputs)
    ]

    out, cache = forward(*arrays)
    out = as_float_array(out, name="the forward output", func=func)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    if isinstance(grads, np.ndarray) or not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(arrays):
        raise ValueError(
            f"{func}: backward returned {len(grads)} gradient(s) for {len(arrays)} input(s)"
        )

    errors = []
    for k, (x, analytic) in enumerate(zip(arrays, grads, strict=True)):
        analytic = as_float_array(analytic, name=f"the gradient of inputs[{k}]", func=func)
        check_same_shape(
            analytic, x, names=(f"the gradient of inputs[{k}]", f"inputs[{k}]"), func=func
        )

        def objective(_: np.ndarray) -> float:
            # numerical_gradient perturbs arrays[k] in place; forward reads all of them.
            return float(np.sum(np.asarray(forward(*arrays)[0], dtype=np.float64) * dout))

        numeric = numerical_gradient(objective, x, h=h)
        errors.append(relative_error(analytic, numeric))
    return errors
