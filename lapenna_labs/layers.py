"""Layers as forward/backward function pairs, in the style of cs231n's ``layers.py``.

Each layer is two functions. ``*_forward`` computes the output and returns it with a
``cache`` of whatever the backward pass will need; ``*_backward`` takes the upstream gradient
``dout`` (the gradient of the loss with respect to the layer's output) and that cache, and
returns the gradient with respect to each input. Chaining them is backpropagation::

    z1, c1 = dense_forward(x, W1, b1)
    a1, c2 = activation_forward(z1, "relu")
    z2, c3 = dense_forward(a1, W2, b2)
    loss, dz2 = softmax_cross_entropy_with_grad(z2, y)
    da1, dW2, db2 = dense_backward(dz2, c3)
    dz1 = activation_backward(da1, c2)
    dx, dW1, db1 = dense_backward(dz1, c1)

Batches are rows: ``x`` is ``(N, D)``, ``W`` is ``(D, M)``, ``b`` is ``(M,)``.

The public functions check their input, then call private kernels (``_dense_forward``,
``_dense_backward``, ``_activation_forward``, ``_activation_backward``) that hold the
formulas, trust their input and can write into preallocated arrays (``out=``). A model that
has checked its input once, such as :class:`lapenna_labs.mlp.MLP`, calls the kernels.

References
----------
.. [1] Stanford CS231n, assignment 2, ``cs231n/layers.py`` (affine_forward / affine_backward),
   and the notes "Backpropagation, intuitions". https://cs231n.github.io/optimization-2/
.. [2] Goodfellow, Bengio and Courville, *Deep Learning*, MIT Press, 2016, section 6.5
   (back-propagation). https://www.deeplearningbook.org
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from lapenna_labs._validation import (
    as_float_array,
    as_output_gradient,
    check_cache,
    check_name,
    check_same_shape,
)
from lapenna_labs.activations import _KERNELS, ACTIVATIONS, _softmax

__all__ = [
    "ActivationCache",
    "activation_backward",
    "activation_forward",
    "dense_backward",
    "dense_forward",
]


# --------------------------------------------------------------------------------------------
# dense (fully connected, affine) layer
# --------------------------------------------------------------------------------------------


def _dense_forward(
    x: np.ndarray, W: np.ndarray, b: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """``x @ W + b`` for checked arrays, into `out` (N, M) when given."""
    z = np.matmul(x, W, out=out)
    z += b
    return z


def _dense_backward(
    dout: np.ndarray,
    x: np.ndarray,
    W: np.ndarray,
    need_dx: bool = True,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``(dx, dW, db)`` for checked arrays; ``dx`` is None unless `need_dx`.

    `out`, when given, is a pair of arrays ``(dW, db)`` to write the parameter gradients
    into. The first layer of a network needs no `dx`: skipping it saves its largest product.
    (``np.add.reduce`` is ``sum`` without the Python-level wrapper, which on a small batch
    costs as much as the sum itself.)
    """
    dW_out, db_out = (None, None) if out is None else out
    dx = dout @ W.T if need_dx else None
    return dx, np.matmul(x.T, dout, out=dW_out), np.add.reduce(dout, axis=0, out=db_out)


def dense_forward(x: Any, W: Any, b: Any) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    r"""Fully connected layer: ``out = x @ W + b`` for a batch of rows.

    Parameters
    ----------
    x : array_like of float, shape (N, D)
        N inputs with D features each (one sample is ``x[None, :]``).
    W : array_like of float, shape (D, M)
        Weights; column ``j`` holds the weights of output neuron ``j``.
    b : array_like of float, shape (M,)
        Biases, one per output neuron.

    Returns
    -------
    out : ndarray, shape (N, M)
        Pre-activations of the M neurons for each of the N inputs.
    cache : tuple (x, W, b)
        What :func:`dense_backward` needs.

    Notes
    -----
    .. math:: \text{out}_{nj} = \sum_{d=1}^{D} x_{nd} W_{dj} + b_j,
              \qquad \text{out} = x W + \mathbf{1} b^{\top}

    One matrix product (a BLAS level-3 GEMM) evaluates every neuron on every sample: this is
    why a whole mini-batch costs little more than one sample.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0]])
    >>> W = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]])
    >>> out, cache = dense_forward(x, W, np.array([0.5, 0.0, 0.0]))
    >>> out
    array([[1.5, 2. , 1. ]])
    """
    func = "dense_forward"
    if np.ndim(x) == 1:
        raise ValueError(
            f"{func}: x must be 2-D (N, D), got shape {np.shape(x)}; "
            "for a single sample use x[None, :] (shape (1, D))"
        )
    x = as_float_array(x, name="x", func=func, ndim=2)
    W = as_float_array(W, name="W", func=func, ndim=2)
    b = as_float_array(b, name="b", func=func, ndim=1)
    if x.shape[1] != W.shape[0]:
        raise ValueError(f"{func}: x has {x.shape[1]} features but W expects {W.shape[0]}")
    if b.shape[0] != W.shape[1]:
        raise ValueError(
            f"{func}: b has {b.shape[0]} entries but W has {W.shape[1]} outputs (columns)"
        )
    out = np.empty((x.shape[0], W.shape[1]), dtype=np.result_type(x, W, b))
    return _dense_forward(x, W, b, out), (x, W, b)


def dense_backward(
    dout: Any, cache: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward pass of :func:`dense_forward`.

    Parameters
    ----------
    dout : array_like of float, shape (N, M)
        Gradient of the loss with respect to the layer's output.
    cache : tuple (x, W, b)
        As returned by :func:`dense_forward`.

    Returns
    -------
    dx : ndarray, shape (N, D)
        Gradient with respect to `x` (passed on to the previous layer).
    dW : ndarray, shape (D, M)
        Gradient with respect to `W`.
    db : ndarray, shape (M,)
        Gradient with respect to `b`.

    Each gradient has the dtype of the array it belongs to.

    Notes
    -----
    .. math:: \frac{\partial L}{\partial x} = \delta W^{\top}, \qquad
              \frac{\partial L}{\partial W} = x^{\top} \delta, \qquad
              \frac{\partial L}{\partial b} = \sum_{n=1}^{N} \delta_{n,:}

    with :math:`\delta` = `dout`. A handy check: each gradient has the shape of the thing it
    is the gradient of, and there is only one way to multiply the available matrices to get
    that shape. The bias gradient sums over the batch because ``b`` was broadcast to every row
    (a copy gate: the gradients of the copies add up).

    References
    ----------
    .. [1] Stanford CS231n, "Derivatives, backpropagation, and vectorization" (J. Johnson).
       http://cs231n.stanford.edu/handouts/derivatives.pdf

    Examples
    --------
    >>> import numpy as np
    >>> x, W, b = np.array([[1.0, 2.0]]), np.array([[1.0], [3.0]]), np.array([0.0])
    >>> out, cache = dense_forward(x, W, b)
    >>> dx, dW, db = dense_backward(np.array([[1.0]]), cache)
    >>> dx, dW.ravel(), db
    (array([[1., 3.]]), array([1., 2.]), array([1.]))
    """
    func = "dense_backward"
    if not (isinstance(cache, tuple) and len(cache) == 3):
        raise ValueError(f"{func}: cache must be the (x, W, b) tuple returned by dense_forward")
    x, W, b = cache
    expected = (x.shape[0], W.shape[1])
    dout = as_output_gradient(
        dout, expected, output="the layer's output has shape", func=func, ndim=2
    )
    dx, dW, db = _dense_backward(dout, x, W)
    return (
        dx.astype(x.dtype, copy=False),
        dW.astype(W.dtype, copy=False),
        db.astype(b.dtype, copy=False),
    )


# --------------------------------------------------------------------------------------------
# activation layer
# --------------------------------------------------------------------------------------------


class ActivationCache(NamedTuple):
    """What :func:`activation_backward` needs: the activation's name and its input."""

    activation: str
    z: np.ndarray


_LAYER_ACTIVATIONS = (*ACTIVATIONS, "softmax")


def _activation_forward(z: np.ndarray, name: str, out: np.ndarray | None = None) -> np.ndarray:
    """``g(z)`` for a checked `z` and a known lower-case `name`, into `out` when given."""
    if name == "softmax":
        return _softmax(z, -1, out)
    return _KERNELS[name][0](z, out=out)


def _activation_backward(
    da: np.ndarray, z: np.ndarray, a: np.ndarray, name: str, out: np.ndarray | None = None
) -> np.ndarray:
    """dL/dz from ``da`` = dL/da, the input `z` and the output ``a = g(z)``, into `out`.

    `out` may be `da` itself (the gradient is then updated in place).
    """
    if name == "softmax":
        # s * (da - <da, s>): the Jacobian diag(s) - s s^T applied without forming it
        row_dot = np.sum(da * a, axis=-1, keepdims=True)
        return np.multiply(a, np.subtract(da, row_dot, out=out), out=out)
    return np.multiply(da, _KERNELS[name][1](z, a), out=out)


def activation_forward(z: Any, activation: str = "relu") -> tuple[np.ndarray, ActivationCache]:
    """Apply an activation function elementwise (softmax: along the last axis).

    Parameters
    ----------
    z : array_like of float, shape (N, M) (any shape for the elementwise activations)
        Pre-activations, e.g. the output of :func:`dense_forward`.
    activation : str, default "relu"
        A name in :data:`lapenna_labs.activations.ACTIVATIONS` (``"sigmoid"``, ``"tanh"``,
        ``"relu"``, ``"leaky_relu"``, ``"identity"``/``"linear"``) or ``"softmax"``.

    Returns
    -------
    a : ndarray, same shape and dtype as `z`
        Activations ``g(z)``.
    cache : ActivationCache
        The activation's name and `z`, for :func:`activation_backward`.

    Notes
    -----
    .. math:: a = g(z)

    Examples
    --------
    >>> import numpy as np
    >>> a, cache = activation_forward(np.array([[-1.0, 2.0]]), "relu")
    >>> a
    array([[0., 2.]])
    """
    func = "activation_forward"
    name = check_name(activation, _LAYER_ACTIVATIONS, what="activation", func=func)
    z = as_float_array(z, name="z", func=func)
    if name == "softmax" and z.ndim == 0:
        raise ValueError(f"{func}: softmax needs z of at least 1-D, got a scalar")
    return np.asarray(_activation_forward(z, name)), ActivationCache(name, z)


def activation_backward(da: Any, cache: ActivationCache) -> np.ndarray:
    r"""Backward pass of :func:`activation_forward`.

    Parameters
    ----------
    da : array_like of float, same shape as the activation's input `z`
        Gradient of the loss with respect to the activations ``a``.
    cache : ActivationCache
        As returned by :func:`activation_forward`.

    Returns
    -------
    dz : ndarray, same shape and dtype as `z`
        Gradient of the loss with respect to the pre-activations.

    Notes
    -----
    For an elementwise activation the chain rule is a pointwise product with the derivative:

    .. math:: \frac{\partial L}{\partial z} = \frac{\partial L}{\partial a} \odot g'(z)

    For the softmax, whose Jacobian is :math:`\operatorname{diag}(s) - s s^{\top}`, the
    vector-Jacobian product needs no K x K matrix:

    .. math:: \frac{\partial L}{\partial z} = s \odot
              \Bigl(\frac{\partial L}{\partial a} - \bigl\langle \frac{\partial L}{\partial a},
              s \bigr\rangle\Bigr)

    Examples
    --------
    >>> import numpy as np
    >>> a, cache = activation_forward(np.array([[-1.0, 2.0]]), "relu")
    >>> activation_backward(np.array([[5.0, 5.0]]), cache)
    array([[0., 5.]])
    """
    func = "activation_backward"
    name, z = check_cache(cache, ActivationCache, forward="activation_forward", func=func)
    da = as_float_array(da, name="da", func=func)
    check_same_shape(da, z, names=("da", "z"), func=func)
    dz = _activation_backward(da, z, _activation_forward(z, name), name)
    return np.asarray(dz).astype(z.dtype, copy=False)
