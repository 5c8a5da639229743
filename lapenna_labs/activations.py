"""Activation functions and their derivatives with respect to the pre-activation.

A neuron computes a pre-activation ``z = w . x + b`` and passes it through a nonlinear
activation ``a = g(z)``. Backpropagation needs ``g'(z)``, so every activation here comes with
its derivative: ``sigmoid`` and ``sigmoid_grad``, ``tanh`` and ``tanh_grad``, and so on.
The elementwise derivatives return an array shaped like ``z``; the softmax couples the entries
of a row, so :func:`softmax_grad` returns the full Jacobian instead.

All functions keep the input's dtype (float32 in, float32 out), follow NumPy's ufunc convention
(a scalar in gives a NumPy scalar out), and raise a ``ValueError`` naming the problem on bad
input (strings, complex numbers, NaN, infinity).

The registry :data:`ACTIVATIONS` maps a name to a ``(function, derivative)`` pair;
:func:`get_activation` looks a name up with a helpful error.

Each formula is written once, in a private *kernel* (``_sigmoid``, ``_sigmoid_grad``, ...)
that trusts its input (a forward kernel can also write into a preallocated array ``out``,
as NumPy's ufuncs do).
The public functions check their input and then call the kernel; :mod:`lapenna_labs.layers`
and :class:`lapenna_labs.mlp.MLP` call the kernels directly, after checking their own input
once. A derivative kernel takes both ``z`` and the activation ``a = g(z)``, because each
derivative is cheapest from one of them (the sigmoid's and tanh's from ``a``, the
rectifiers' from ``z``), so a backward pass reuses what the forward pass computed.

References
----------
.. [1] Goodfellow, Bengio and Courville, *Deep Learning*, MIT Press, 2016, sections 6.2.2.3
   (softmax) and 6.3 (hidden units). https://www.deeplearningbook.org
.. [2] Stanford CS231n, "Neural Networks Part 1: commonly used activation functions".
   https://cs231n.github.io/neural-networks-1/
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any

import numpy as np

from lapenna_labs._validation import as_float_array, check_name

__all__ = [
    "ACTIVATIONS",
    "get_activation",
    "identity",
    "identity_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "softmax_grad",
    "tanh",
    "tanh_grad",
]

ArrayFunction = Callable[[Any], Any]
#: leaky_relu's default slope for negative inputs (also PyTorch's default)
LEAKY_RELU_ALPHA = 0.01


def _scalar_or_array(arr: np.ndarray) -> Any:
    # Like NumPy's ufuncs: a 0-d result becomes a NumPy scalar, anything else stays an array.
    return arr[()]


def _apply(kernel: Callable[..., Any], z: Any, func: str, *args: Any) -> Any:
    """What every public elementwise activation does: check `z`, then run its kernel."""
    return _scalar_or_array(kernel(as_float_array(z, name="z", func=func), *args))


def _apply_grad(
    forward: Callable[..., Any], derivative: Callable[..., Any], z: Any, func: str, *args: Any
) -> Any:
    """What every public derivative does: check `z`, compute ``a = g(z)``, then ``g'(z)``."""
    z = as_float_array(z, name="z", func=func)
    return _scalar_or_array(np.asarray(derivative(z, forward(z, *args), *args), dtype=z.dtype))


def _check_alpha(alpha: Any, func: str) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, Real) or not np.isfinite(alpha):
        raise ValueError(f"{func}: alpha must be a finite real number, got {alpha!r}")
    return float(alpha)


# --------------------------------------------------------------------------------------------
# sigmoid
# --------------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # exp(-|z|) lies in (0, 1], so it never overflows; pick the form that avoids 1 + huge.
    e = np.exp(-np.abs(z))
    return np.divide(np.where(z >= 0, 1, e), 1 + e, out=out)


def _sigmoid_grad(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return a * (1 - a)  # sigma'(z) = sigma(z) (1 - sigma(z)), from the output a = sigma(z)


def sigmoid(z: Any) -> Any:
    r"""Logistic sigmoid, ``1 / (1 + exp(-z))``, elementwise and without overflow.

    Parameters
    ----------
    z : array_like of float, any shape
        Pre-activations.

    Returns
    -------
    ndarray, same shape and dtype as `z`
        Values in ``[0, 1]`` (exactly 0 or 1 only where the float type rounds).

    Notes
    -----
    .. math:: \sigma(z) = \frac{1}{1 + e^{-z}} = \frac{e^{z}}{1 + e^{z}}

    The first form overflows ``exp(-z)`` for very negative ``z``, the second ``exp(z)`` for very
    positive ``z``. Both are written with ``e = exp(-|z|)``, which is at most 1:
    ``1 / (1 + e)`` for ``z >= 0`` and ``e / (1 + e)`` for ``z < 0``.

    References
    ----------
    .. [1] Goodfellow et al., *Deep Learning*, section 3.10 (useful properties of the sigmoid).

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    array([0. , 0.5, 1. ])
    """
    return _apply(_sigmoid, z, "sigmoid")


def sigmoid_grad(z: Any) -> Any:
    r"""Derivative of the sigmoid with respect to `z`, ``sigma(z) (1 - sigma(z))``.

    Parameters
    ----------
    z : array_like of float, any shape
        Pre-activations (not the sigmoid's output).

    Returns
    -------
    ndarray, same shape and dtype as `z`
        Values in ``[0, 0.25]``, largest at ``z = 0``.

    Notes
    -----
    .. math:: \sigma'(z) = \sigma(z)\,(1 - \sigma(z))

    The derivative never exceeds 1/4, so a chain of sigmoids shrinks gradients (the
    "vanishing gradient" of deep sigmoid networks).

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid_grad(np.array([0.0]))
    array([0.25])
    """
    return _apply_grad(_sigmoid, _sigmoid_grad, z, "sigmoid_grad")


# --------------------------------------------------------------------------------------------
# tanh
# --------------------------------------------------------------------------------------------


def _tanh(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(z, out=out)  # already stable: it saturates to +-1 without overflow


def _tanh_grad(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return 1 - a * a  # tanh'(z) = 1 - tanh(z)^2, from the output a = tanh(z)


def tanh(z: Any) -> Any:
    r"""Hyperbolic tangent, ``(e^z - e^-z) / (e^z + e^-z)``, elementwise.

    Parameters
    ----------
    z : array_like of float, any shape
        Pre-activations.

    Returns
    -------
    ndarray, same shape and dtype as `z`
        Values in ``[-1, 1]``.

    Notes
    -----
    .. math:: \tanh(z) = \frac{e^{z} - e^{-z}}{e^{z} + e^{-z}} = 2\sigma(2z) - 1

    ``np.tanh`` is already stable for large ``|z|``.

    Examples
    --------
    >>> import numpy as np
    >>> tanh(np.array([0.0, 1000.0]))
    array([0., 1.])
    """
    return _apply(_tanh, z, "tanh")


def tanh_grad(z: Any) -> Any:
    r"""Derivative of tanh with respect to `z`, ``1 - tanh(z)**2``.

    Parameters
    ----------
    z : array_like of float, any shape
        Pre-activations.

    Returns
    -------
    ndarray, same shape and dtype as `z`
        Values in ``[0, 1]``, equal to 1 at ``z = 0``.

    Notes
    -----
    .. math:: \tanh'(z) = 1 - \tanh^2(z)

    Examples
    --------
    >>> import numpy as np
    >>> tanh_grad(np.array([0.0]))
    array([1.])
    """
    return _apply_grad(_tanh, _tanh_grad, z, "tanh_grad")


# --------------------------------------------------------------------------------------------
# ReLU and leaky ReLU
# --------------------------------------------------------------------------------------------


def _relu(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(z, 0, out=out)


def _relu_grad(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    # 1 where z > 0, else 0 (0 at the kink), as a boolean mask: see _KERNELS.
    return z > 0


def _leaky_relu(
    z: np.ndarray, alpha: float = LEAKY_RELU_ALPHA, out: np.ndarray | None = None
) -> np.ndarray:
    # max(z, 0) + alpha min(z, 0): z where z > 0, alpha z elsewhere, for any alpha
    out = np.minimum(z, 0, out=out)
    out *= alpha
    out += np.maximum(z, 0)
    return out


def _leaky_relu_grad(z: np.ndarray, a: np.ndarray, alpha: float = LEAKY_RELU_ALPHA) -> np.ndarray:
    return np.where(z > 0, 1, alpha).astype(z.dtype)  # alpha at the kink z = 0


def relu(z: Any) -> Any:
    r"""Rectified linear unit, ``max(0, z)``, elementwise.

    Parameters
    ----------
    z : array_like of float, any shape
        Pre-activations.

    Returns
    -------
    ndarray, same shape and dtype as `z`

    Notes
    -----
    .. math:: \operatorname{relu}(z) = \max(0, z)

    References
    ----------
    .. [1] Nair and Hinton, "Rectified linear units improve restricted Boltzmann machines",
       ICML 2010.

    Examples
    --------
    >>> import numpy as np
    >>> relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    return _apply(_relu, z, "relu")


def relu_grad(z: Any) -> Any:
    r"""Derivative of ReLU with respect to `z`: 1 where ``z > 0``, else 0.

    Parameters
    ----------
    z : array_like of float, any shape
        Pre-activations.

    Returns
    -------
    ndarray, same shape and dtype as `z`
        Zeros and ones.

    Notes
    -----
    .. math:: \operatorname{relu}'(z) = \begin{cases} 1 & z > 0 \\ 0 & z \le 0 \end{cases}

    ReLU has no derivative at ``z = 0``; like PyTorch and TensorFlow we use 0 there
    (a valid subgradient).

    Examples
    --------
    >>> import numpy as np
    >>> relu_grad(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 1.])
    """
    return _apply_grad(_relu, _relu_grad, z, "relu_grad")


def leaky_relu(z: Any, alpha: float = LEAKY_RELU_ALPHA) -> Any:
    r"""Leaky ReLU: ``z`` where ``z > 0``, ``alpha * z`` elsewhere.

    Parameters
    ----------
    z : array_like of float, any shape
        Pre-activations.
    alpha : float, default 0.01
        Slope for negative inputs.

    Returns
    -------
    ndarray, same shape and dtype as `z`

    Notes
    -----
    .. math:: f(z) = \begin{cases} z & z > 0 \\ \alpha z & z \le 0 \end{cases}

    The small negative slope keeps a gradient flowing through units that ReLU would switch off.

    References
    ----------
    .. [1] Maas, Hannun and Ng, "Rectifier nonlinearities improve neural network acoustic
       models", ICML 2013.

    Examples
    --------
    >>> import numpy as np
    >>> leaky_relu(np.array([-2.0, 3.0]), alpha=0.1)
    array([-0.2,  3. ])
    """
    return _apply(_leaky_relu, z, "leaky_relu", _check_alpha(alpha, "leaky_relu"))


def leaky_relu_grad(z: Any, alpha: float = LEAKY_RELU_ALPHA) -> Any:
    r"""Derivative of leaky ReLU with respect to `z`: 1 where ``z > 0``, ``alpha`` elsewhere.

    Parameters
    ----------
    z : array_like of float, any shape
        Pre-activations.
    alpha : float, default 0.01
        Slope for negative inputs.

    Returns
    -------
    ndarray, same shape and dtype as `z`

    Notes
    -----
    .. math:: f'(z) = \begin{cases} 1 & z > 0 \\ \alpha & z \le 0 \end{cases}

    At ``z = 0`` we use ``alpha``, as PyTorch and TensorFlow do.

    Examples
    --------
    >>> import numpy as np
    >>> leaky_relu_grad(np.array([-2.0, 0.0, 3.0]), alpha=0.1)
    array([0.1, 0.1, 1. ])
    """
    alpha = _check_alpha(alpha, "leaky_relu_grad")
    return _apply_grad(_leaky_relu, _leaky_relu_grad, z, "leaky_relu_grad", alpha)


# --------------------------------------------------------------------------------------------
# identity (a linear output layer, e.g. for regression)
# --------------------------------------------------------------------------------------------


def _identity(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.positive(z, out=out)  # +z: a copy


def _identity_grad(z: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.ones_like(z)


def identity(z: Any) -> Any:
    """The identity ("linear") activation: returns a copy of `z`.

    Parameters
    ----------
    z : array_like of float, any shape

    Returns
    -------
    ndarray, same shape and dtype as `z`

    Notes
    -----
    .. math:: f(z) = z

    A network whose layers are all linear is one linear map, whatever its depth: the
    identity belongs in the output layer (regression, logits), not the hidden ones.

    Examples
    --------
    >>> import numpy as np
    >>> identity(np.array([-2.0, 3.0]))
    array([-2.,  3.])
    """
    return _apply(_identity, z, "identity")


def identity_grad(z: Any) -> Any:
    """Derivative of the identity: ones shaped like `z`.

    Parameters
    ----------
    z : array_like of float, any shape

    Returns
    -------
    ndarray, same shape and dtype as `z`

    Notes
    -----
    .. math:: f'(z) = 1

    Examples
    --------
    >>> import numpy as np
    >>> identity_grad(np.array([-2.0, 3.0]))
    array([1., 1.])
    """
    return _apply_grad(_identity, _identity_grad, z, "identity_grad")


# --------------------------------------------------------------------------------------------
# softmax
# --------------------------------------------------------------------------------------------


def _check_axis(axis: Any, ndim: int, func: str) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{func}: axis must be an integer, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{func}: axis {axis} is out of range for an array with {ndim} dimension(s)"
        )
    return int(axis)


def _softmax(z: np.ndarray, axis: int = -1, out: np.ndarray | None = None) -> np.ndarray:
    # Subtracting the maximum changes nothing mathematically (the factor e^{-max} cancels) but
    # keeps every exponent <= 0, so exp cannot overflow and the largest term is exactly 1.
    e = np.subtract(z, z.max(axis=axis, keepdims=True), out=out)
    np.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def softmax(z: Any, axis: int = -1) -> np.ndarray:
    r"""Softmax along `axis`: exponentiate and normalise so each slice sums to 1.

    Parameters
    ----------
    z : array_like of float, shape (..., K, ...), at least 1-D
        Scores ("logits"). For a batch of rows ``(N, K)`` use the default ``axis=-1``.
    axis : int, default -1
        The axis holding the K classes.

    Returns
    -------
    ndarray, same shape and dtype as `z`
        Positive values that sum to 1 along `axis`.

    Notes
    -----
    .. math:: \operatorname{softmax}(z)_j = \frac{e^{z_j}}{\sum_{k=1}^{K} e^{z_k}}
              = \frac{e^{z_j - m}}{\sum_{k=1}^{K} e^{z_k - m}}, \quad m = \max_k z_k

    The second form is the one computed: it is equal to the first, and it cannot overflow,
    so logits of 1000 work.

    References
    ----------
    .. [1] Goodfellow et al., *Deep Learning*, sections 4.1 (overflow and underflow) and 6.2.2.3.
    .. [2] Stanford CS231n, "Linear classification: softmax classifier, practical issues".
       https://cs231n.github.io/linear-classify/#softmax

    Examples
    --------
    >>> import numpy as np
    >>> softmax(np.array([1.0, 1.0]))
    array([0.5, 0.5])
    >>> softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    array([[0.5 , 0.5 ],
           [0.25, 0.75]])
    """
    z = as_float_array(z, name="z", func="softmax")
    if z.ndim == 0:
        raise ValueError("softmax: z must be at least 1-D (a vector of K scores), got a scalar")
    axis = _check_axis(axis, z.ndim, "softmax")
    return _softmax(z, axis)


def softmax_grad(z: Any) -> np.ndarray:
    r"""Jacobian of the softmax (over the last axis) with respect to `z`.

    Parameters
    ----------
    z : array_like of float, shape (K,) or (N, K)
        Scores: one vector, or a batch of rows.

    Returns
    -------
    ndarray, shape (K, K) or (N, K, K), same dtype as `z`
        ``J[..., i, j] = d softmax(z)_i / d z_j``.

    Notes
    -----
    With :math:`s = \operatorname{softmax}(z)`,

    .. math:: \frac{\partial s_i}{\partial z_j} = s_i(\delta_{ij} - s_j),
              \qquad J = \operatorname{diag}(s) - s s^{\top}.

    Each row of ``J`` sums to 0, because the outputs always sum to 1. In practice one never
    forms ``J``: backpropagating an upstream gradient ``g`` needs only
    ``J^T g = s * (g - (g . s))``, and combined with cross-entropy the gradient is simply
    ``s - onehot`` (see :func:`lapenna_labs.losses.softmax_cross_entropy_grad`).

    References
    ----------
    .. [1] Goodfellow et al., *Deep Learning*, section 6.2.2.3.

    Examples
    --------
    >>> import numpy as np
    >>> softmax_grad(np.array([0.0, 0.0]))
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    z = as_float_array(z, name="z", func="softmax_grad", ndim=(1, 2))
    s = _softmax(z, axis=-1)
    eye = np.eye(z.shape[-1], dtype=z.dtype)
    return s[..., :, None] * (eye - s[..., None, :])


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------

ACTIVATIONS: dict[str, tuple[ArrayFunction, ArrayFunction]] = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "identity": (identity, identity_grad),
    "linear": (identity, identity_grad),
}
"""Elementwise activations by name: ``name -> (function, derivative)``.

The derivative takes the pre-activation ``z``. ``"linear"`` is an alias of ``"identity"``
(Keras's name). Softmax is not here: its derivative is a Jacobian, not elementwise.
"""

# The kernels by the same names: ``name -> (forward(z, out=None), derivative(z, a))``,
# leaky_relu with its default slope, for callers that have checked their input. A derivative
# that is a 0/1 step (relu's) comes as a boolean mask: a product with it is a product with
# ones and zeros, and the mask costs less than a float array.
_KERNELS: dict[str, tuple[Callable[..., np.ndarray], Callable[..., np.ndarray]]] = {
    "sigmoid": (_sigmoid, _sigmoid_grad),
    "tanh": (_tanh, _tanh_grad),
    "relu": (_relu, _relu_grad),
    "leaky_relu": (_leaky_relu, _leaky_relu_grad),
    "identity": (_identity, _identity_grad),
    "linear": (_identity, _identity_grad),
}


def get_activation(name: str) -> tuple[ArrayFunction, ArrayFunction]:
    """Look up an activation and its derivative by name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`ACTIVATIONS` (case-insensitive): ``"sigmoid"``, ``"tanh"``,
        ``"relu"``, ``"leaky_relu"``, ``"identity"`` or ``"linear"``.

    Returns
    -------
    (function, derivative) : tuple of callables
        Both map an array `z` to an array of the same shape.

    Raises
    ------
    ValueError
        For a name not in :data:`ACTIVATIONS` (``"softmax"`` included: its derivative is a
        Jacobian, see :func:`softmax_grad`); the message lists the valid names.

    Examples
    --------
    >>> f, df = get_activation("tanh")
    >>> float(f(0.0)), float(df(0.0))
    (0.0, 1.0)
    """
    return ACTIVATIONS[check_name(name, ACTIVATIONS, what="activation", func="get_activation")]
