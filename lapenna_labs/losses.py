"""Loss functions and their gradients with respect to the prediction.

Every loss returns a Python ``float``; every ``*_grad`` returns an array shaped like (and with
the dtype of) the prediction, ready to start backpropagation. Shapes are checked: a
prediction and a target of different shapes raise a ``ValueError`` instead of broadcasting
silently.

==============================  ====================================  ========================
loss                            value                                 gradient
==============================  ====================================  ========================
``mse``                         mean over all elements of (y - t)^2   2 (y - t) / size
``half_sum_squared_error``      sum of 1/2 (t - o)^2 (the slides' E)  o - t
``binary_cross_entropy``        mean of -t log p - (1-t) log(1-p)     (p - t) / (p(1-p) size)
``categorical_cross_entropy``   batch mean of -sum_k t_k log p_k      -t / (p N)
``softmax_cross_entropy``       the same, from logits z               (softmax(z) - t) / N
==============================  ====================================  ========================

The classification losses take the targets either as integer labels, shape ``(N,)``, or one-hot
(or soft-label) rows, shape ``(N, K)``.

The public functions check their input and then call private kernels that hold the formulas
and trust their input (``_squared_error``, ``_binary_cross_entropy``, the fused
``_softmax_cross_entropy_with_grad``, ...); :class:`lapenna_labs.mlp.MLP` calls the kernels
after checking its input once.

References
----------
.. [1] Goodfellow, Bengio and Courville, *Deep Learning*, MIT Press, 2016, sections 5.5
   (maximum likelihood) and 6.2.2 (output units and their losses).
   https://www.deeplearningbook.org
.. [2] Stanford CS231n, "Linear classification: softmax classifier".
   https://cs231n.github.io/linear-classify/
.. [3] M. Mazur, "A step by step backpropagation example" (the half sum of squares E), 2015.
   https://mattmazur.com/2015/03/17/a-step-by-step-backpropagation-example/
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lapenna_labs._validation import as_float_array, as_labels, check_name, check_same_shape

__all__ = [
    "LOSSES",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "categorical_cross_entropy",
    "categorical_cross_entropy_grad",
    "get_loss",
    "half_sum_squared_error",
    "half_sum_squared_error_grad",
    "mse",
    "mse_grad",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_cross_entropy_with_grad",
]


# --------------------------------------------------------------------------------------------
# shared checks
# --------------------------------------------------------------------------------------------


def _pair(
    pred: Any, target: Any, names: tuple[str, str], func: str
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a prediction and a same-shaped real target."""
    pred = as_float_array(pred, name=names[0], func=func)
    target = as_float_array(target, name=names[1], func=func)
    check_same_shape(pred, target, names=names, func=func)
    if pred.size == 0:
        raise ValueError(f"{func}: {names[0]} is empty")
    return pred, target


def _check_unit_interval(arr: np.ndarray, name: str, func: str, hint: str = "") -> None:
    if arr.size and (arr.min() < 0 or arr.max() > 1):
        raise ValueError(
            f"{func}: {name} must lie in [0, 1], got values in "
            f"[{arr.min():.4g}, {arr.max():.4g}]{hint}"
        )


def _check_eps(eps: Any, func: str) -> float:
    number = not isinstance(eps, bool) and isinstance(eps, (int, float, np.floating))
    if not (number and 0 < eps < 0.5):
        raise ValueError(f"{func}: eps must be a float in (0, 0.5), got {eps!r}")
    return float(eps)


def _class_targets(
    pred: Any, y: Any, pred_name: str, func: str
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Validate class scores and targets; return 2-D scores, 2-D one-hot targets, input shape.

    `pred` is ``(N, K)`` (or one sample ``(K,)``); `y` is integer labels ``(N,)`` (a single
    label for one sample) or target rows ``(N, K)`` that are non-negative and sum to 1.
    """
    pred = as_float_array(pred, name=pred_name, func=func, ndim=(1, 2))
    shape = pred.shape
    pred2d = pred.reshape(1, -1) if pred.ndim == 1 else pred
    n, k = pred2d.shape
    if n == 0 or k == 0:
        raise ValueError(f"{func}: {pred_name} is empty (shape {shape})")
    y_arr = np.asarray(y)
    label_ndim = pred.ndim - 1  # labels have one dimension fewer than the scores
    if y_arr.ndim == label_ndim:
        labels = as_labels(y_arr.reshape(-1), name="y", func=func, num_classes=k)
        if labels.shape[0] != n:
            raise ValueError(f"{func}: y has {labels.shape[0]} labels but {pred_name} has {n} rows")
        onehot = np.zeros((n, k), dtype=pred.dtype)
        onehot[np.arange(n), labels] = 1
        return pred2d, onehot, shape
    if y_arr.ndim == pred.ndim:
        targets = as_float_array(y_arr, name="y", func=func)
        check_same_shape(targets, pred, names=("y (one-hot)", pred_name), func=func)
        targets = targets.reshape(n, k)
        if targets.min() < 0:
            raise ValueError(f"{func}: y (one-hot) has a negative entry ({targets.min():.4g})")
        row_sums = targets.sum(axis=1)
        tolerance = np.sqrt(np.finfo(targets.dtype).eps)
        if np.any(np.abs(row_sums - 1) > tolerance):
            worst = row_sums[np.argmax(np.abs(row_sums - 1))]
            raise ValueError(
                f"{func}: each row of y (one-hot) must sum to 1, found a row summing to {worst:.4g}"
            )
        return pred2d, targets.astype(pred.dtype, copy=False), shape
    want = "()" if pred.ndim == 1 else f"({n},)"
    raise ValueError(
        f"{func}: y must be integer labels of shape {want} or one-hot of shape {shape}, "
        f"got shape {y_arr.shape}"
    )


# --------------------------------------------------------------------------------------------
# squared errors
# --------------------------------------------------------------------------------------------


def _squared_error(pred: np.ndarray, target: np.ndarray, divisor: float) -> float:
    """``sum (pred - target)^2 / divisor``, summed in float64: the MSE for ``divisor = size``,
    the slides' E for ``divisor = 2``."""
    diff = pred.astype(np.float64) - target
    return float(np.sum(diff * diff) / divisor)


def _squared_error_grad(pred: np.ndarray, target: np.ndarray, divisor: float) -> np.ndarray:
    """``2 (pred - target) / divisor``, the gradient of :func:`_squared_error`, pred's dtype."""
    return (2 * (pred - target) / divisor).astype(pred.dtype, copy=False)


def mse(y_pred: Any, y_true: Any) -> float:
    r"""Mean squared error over all elements.

    Parameters
    ----------
    y_pred : array_like of float, any shape
        Predictions.
    y_true : array_like of float, same shape as `y_pred`
        Targets.

    Returns
    -------
    float

    Notes
    -----
    .. math:: \mathrm{MSE} = \frac{1}{n} \sum_{i=1}^{n} (\hat y_i - y_i)^2

    where :math:`n` is the number of elements (as ``torch.nn.functional.mse_loss`` and the
    slides' ``tf.reduce_mean(tf.square(y - pred))``).

    Examples
    --------
    >>> mse([1.0, 2.0], [1.0, 0.0])
    2.0
    """
    y_pred, y_true = _pair(y_pred, y_true, ("y_pred", "y_true"), "mse")
    return _squared_error(y_pred, y_true, y_pred.size)


def mse_grad(y_pred: Any, y_true: Any) -> np.ndarray:
    r"""Gradient of :func:`mse` with respect to `y_pred`.

    Parameters
    ----------
    y_pred, y_true : array_like of float
        As for :func:`mse`.

    Returns
    -------
    ndarray, same shape and dtype as `y_pred`

    Notes
    -----
    .. math:: \frac{\partial\, \mathrm{MSE}}{\partial \hat y_i} = \frac{2}{n}(\hat y_i - y_i)

    Examples
    --------
    >>> mse_grad([1.0, 2.0], [1.0, 0.0])
    array([0., 2.])
    """
    y_pred, y_true = _pair(y_pred, y_true, ("y_pred", "y_true"), "mse_grad")
    return _squared_error_grad(y_pred, y_true, y_pred.size)


def half_sum_squared_error(o: Any, t: Any) -> float:
    r"""The slides' error ``E = sum 1/2 (t - o)^2`` (a sum, not a mean).

    Parameters
    ----------
    o : array_like of float, any shape
        Outputs of the network.
    t : array_like of float, same shape as `o`
        Targets.

    Returns
    -------
    float

    Notes
    -----
    .. math:: E = \sum_i \tfrac{1}{2} (t_i - o_i)^2

    The factor 1/2 cancels the 2 of the derivative, so :math:`\partial E / \partial o_i =
    o_i - t_i`. This is the error of Mazur's 2-2-2 worked example used in the slides.

    References
    ----------
    .. [1] M. Mazur, "A step by step backpropagation example", 2015.

    Examples
    --------
    >>> round(half_sum_squared_error([0.75136507, 0.772928465], [0.01, 0.99]), 9)
    0.298371109
    """
    o, t = _pair(o, t, ("o", "t"), "half_sum_squared_error")
    return _squared_error(o, t, 2)


def half_sum_squared_error_grad(o: Any, t: Any) -> np.ndarray:
    r"""Gradient of :func:`half_sum_squared_error` with respect to `o`: ``o - t``.

    Parameters
    ----------
    o, t : array_like of float
        As for :func:`half_sum_squared_error`.

    Returns
    -------
    ndarray, same shape and dtype as `o`

    Notes
    -----
    .. math:: \frac{\partial E}{\partial o_i} = -(t_i - o_i) = o_i - t_i

    Examples
    --------
    >>> half_sum_squared_error_grad([0.5, 0.5], [0.0, 1.0])
    array([ 0.5, -0.5])
    """
    o, t = _pair(o, t, ("o", "t"), "half_sum_squared_error_grad")
    return _squared_error_grad(o, t, 2)


# --------------------------------------------------------------------------------------------
# binary cross-entropy (sigmoid outputs)
# --------------------------------------------------------------------------------------------

_PROBABILITY_HINT = " (pass probabilities, e.g. sigmoid or softmax outputs, not logits)"


def _bce_inputs(p: Any, t: Any, eps: Any, func: str) -> tuple[np.ndarray, np.ndarray, float]:
    p, t = _pair(p, t, ("p", "t"), func)
    _check_unit_interval(p, "p", func, _PROBABILITY_HINT)
    _check_unit_interval(t, "t", func)
    return p, t, _check_eps(eps, func)


def _clip_probabilities(p: np.ndarray, low: float, high: float) -> np.ndarray:
    # float64 because 1 - 1e-12 rounds to 1.0 in float32, which would bring back log(0).
    return np.clip(p.astype(np.float64), low, high)


def _binary_cross_entropy(p: np.ndarray, t: np.ndarray, eps: float = 1e-12) -> float:
    """The mean BCE of checked probabilities `p` and targets `t`, clipped to [eps, 1 - eps]."""
    p, t = _clip_probabilities(p, eps, 1 - eps), t.astype(np.float64, copy=False)
    return float(np.mean(-(t * np.log(p) + (1 - t) * np.log1p(-p))))


def _binary_cross_entropy_grad(p: np.ndarray, t: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """The gradient of :func:`_binary_cross_entropy` with respect to `p`, in p's dtype."""
    p_clipped = _clip_probabilities(p, eps, 1 - eps)
    grad = (p_clipped - t) / (p_clipped * (1 - p_clipped)) / p.size
    return grad.astype(p.dtype)


def binary_cross_entropy(p: Any, t: Any, eps: float = 1e-12) -> float:
    r"""Binary cross-entropy of probabilities `p` against targets `t`, mean over all elements.

    Parameters
    ----------
    p : array_like of float, any shape
        Predicted probabilities in ``[0, 1]`` (sigmoid outputs).
    t : array_like of float, same shape as `p`
        Targets in ``[0, 1]`` (usually 0 or 1).
    eps : float, default 1e-12
        `p` is clipped to ``[eps, 1 - eps]`` so that ``log(0)`` never happens.

    Returns
    -------
    float

    Notes
    -----
    .. math:: \mathrm{BCE} = -\frac{1}{n} \sum_{i=1}^{n}
              \bigl[t_i \log p_i + (1 - t_i) \log(1 - p_i)\bigr]

    the negative log-likelihood of Bernoulli targets. The logs are taken in float64 whatever
    the input dtype. With the clipping a confident wrong answer costs at most
    :math:`-\log(\epsilon) \approx 27.6` per element instead of infinity.

    References
    ----------
    .. [1] Goodfellow et al., *Deep Learning*, section 6.2.2.2 (sigmoid units for Bernoulli
       output distributions).

    Examples
    --------
    >>> round(binary_cross_entropy([0.5, 0.5], [0.0, 1.0]), 6)  # log 2
    0.693147
    >>> binary_cross_entropy([1.0], [0.0]) < 28  # clipped, not infinite
    True
    """
    return _binary_cross_entropy(*_bce_inputs(p, t, eps, "binary_cross_entropy"))


def binary_cross_entropy_grad(p: Any, t: Any, eps: float = 1e-12) -> np.ndarray:
    r"""Gradient of :func:`binary_cross_entropy` with respect to `p`.

    Parameters
    ----------
    p : array_like of float, any shape
        Predicted probabilities in ``[0, 1]``.
    t : array_like of float, same shape as `p`
        Targets in ``[0, 1]``.
    eps : float, default 1e-12
        `p` is clipped to ``[eps, 1 - eps]`` before dividing, so the gradient stays finite.

    Returns
    -------
    ndarray, same shape and dtype as `p`

    Notes
    -----
    .. math:: \frac{\partial\, \mathrm{BCE}}{\partial p_i}
              = \frac{1}{n}\left(-\frac{t_i}{p_i} + \frac{1 - t_i}{1 - p_i}\right)
              = \frac{p_i - t_i}{n\, p_i (1 - p_i)}

    Chained with the sigmoid's derivative :math:`p(1-p)` this becomes
    :math:`(p_i - t_i)/n`: the same simple form as softmax with cross-entropy.

    Examples
    --------
    >>> binary_cross_entropy_grad([0.5, 0.5], [0.0, 1.0])
    array([ 1., -1.])
    """
    return _binary_cross_entropy_grad(*_bce_inputs(p, t, eps, "binary_cross_entropy_grad"))


# --------------------------------------------------------------------------------------------
# categorical cross-entropy (softmax outputs)
# --------------------------------------------------------------------------------------------


def _cce_inputs(
    probs: Any, y: Any, eps: Any, func: str
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], np.ndarray]:
    probs2d, onehot, shape = _class_targets(probs, y, "probs", func)
    _check_unit_interval(probs2d, "probs", func, _PROBABILITY_HINT)
    p_clipped = _clip_probabilities(probs2d, _check_eps(eps, func), 1.0)
    return probs2d, onehot.astype(np.float64), shape, p_clipped


def categorical_cross_entropy(probs: Any, y: Any, eps: float = 1e-12) -> float:
    r"""Categorical cross-entropy of predicted class probabilities, mean over the batch.

    Parameters
    ----------
    probs : array_like of float, shape (N, K) or (K,)
        Predicted probabilities of K classes for N samples (softmax outputs), in ``[0, 1]``.
    y : array_like, shape (N,) of int, or (N, K) of float
        Integer class labels in ``[0, K)``, or one-hot (or soft-label) rows that sum to 1.
        For one sample ``probs`` of shape (K,), a single label or a (K,) one-hot vector.
    eps : float, default 1e-12
        `probs` is clipped to ``[eps, 1]`` so that ``log(0)`` never happens.

    Returns
    -------
    float

    Notes
    -----
    .. math:: \mathrm{CE} = -\frac{1}{N} \sum_{n=1}^{N} \sum_{k=1}^{K} t_{nk} \log p_{nk}
              = -\frac{1}{N} \sum_{n=1}^{N} \log p_{n, y_n}

    For a one-hot target only the probability of the true class counts. The probabilities are
    used as given (not renormalised).

    References
    ----------
    .. [1] Stanford CS231n, "Linear classification: softmax classifier".
    .. [2] Goodfellow et al., *Deep Learning*, section 6.2.2.3.

    Examples
    --------
    >>> import numpy as np
    >>> probs = np.array([[0.2, 0.7, 0.1], [0.9, 0.05, 0.05]])
    >>> round(categorical_cross_entropy(probs, [1, 0]), 6)  # (-log 0.7 - log 0.9) / 2
    0.231018
    """
    _, onehot, _, p_clipped = _cce_inputs(probs, y, eps, "categorical_cross_entropy")
    return float(-np.sum(onehot * np.log(p_clipped)) / onehot.shape[0])


def categorical_cross_entropy_grad(probs: Any, y: Any, eps: float = 1e-12) -> np.ndarray:
    r"""Gradient of :func:`categorical_cross_entropy` with respect to `probs`.

    Parameters
    ----------
    probs : array_like of float, shape (N, K) or (K,)
        Predicted class probabilities.
    y : array_like, shape (N,) of int, or (N, K) of float
        Integer labels or one-hot rows, as in :func:`categorical_cross_entropy`.
    eps : float, default 1e-12
        `probs` is clipped to ``[eps, 1]`` before dividing.

    Returns
    -------
    ndarray, same shape and dtype as `probs`
        Zero except at the true classes (for one-hot targets).

    Notes
    -----
    .. math:: \frac{\partial\, \mathrm{CE}}{\partial p_{nk}} = -\frac{t_{nk}}{N\, p_{nk}}

    Examples
    --------
    >>> import numpy as np
    >>> categorical_cross_entropy_grad(np.array([[0.5, 0.25, 0.25]]), [0])
    array([[-2., -0., -0.]])
    """
    probs2d, onehot, shape, p_clipped = _cce_inputs(probs, y, eps, "categorical_cross_entropy_grad")
    grad = -onehot / p_clipped / onehot.shape[0]
    return grad.reshape(shape).astype(probs2d.dtype)


# --------------------------------------------------------------------------------------------
# softmax cross-entropy (from logits)
# --------------------------------------------------------------------------------------------


def _softmax_cross_entropy_with_grad(
    z: np.ndarray, y: np.ndarray, out: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient, for checked logits `z` (N, K).

    `y` is integer labels (N,) or target rows (N, K) that sum to 1. The gradient
    ``(softmax(z) - t) / N`` is written into `out` (N, K) when given, else a new array.
    With ``s = z - max_k z_k``, each sample's loss is ``log sum_k exp(s_k) - <t, s>``; the
    sum is >= 1 (its largest term is exp(0)), so its log is finite for logits of any size.
    """
    # np.maximum.reduce and np.add.reduce are max and sum without their Python-level
    # wrappers, which on a small batch cost as much as the reductions themselves.
    n = z.shape[0]
    labels = y.ndim == 1
    rows = np.arange(n) if labels else None
    grad = np.subtract(z, np.maximum.reduce(z, axis=1, keepdims=True), out=out)  # shifted s
    true_class = grad[rows, y] if labels else np.einsum("nk,nk->n", y, grad)  # <t, s>
    np.exp(grad, out=grad)
    row_sums = np.add.reduce(grad, axis=1, keepdims=True)
    grad /= row_sums  # softmax(z)
    sample_losses = np.log(row_sums[:, 0])
    sample_losses -= true_class
    if labels:
        grad[rows, y] -= 1
    else:
        grad -= y
    grad /= n
    return float(np.add.reduce(sample_losses, dtype=np.float64)) / n, grad


def _softmax_ce(logits: Any, y: Any, func: str) -> tuple[float, np.ndarray, tuple[int, ...]]:
    """Check the input of the three public forms; loss, 2-D gradient and the input's shape."""
    z, onehot, shape = _class_targets(logits, y, "logits", func)
    loss, dlogits = _softmax_cross_entropy_with_grad(z, onehot)
    return loss, dlogits, shape


def softmax_cross_entropy(logits: Any, y: Any) -> float:
    r"""Cross-entropy of ``softmax(logits)`` against the targets, mean over the batch.

    Computed from the logits with the log-sum-exp trick, never forming ``log(softmax)``,
    so it stays finite for logits of any size.

    Parameters
    ----------
    logits : array_like of float, shape (N, K) or (K,)
        Unnormalised class scores for N samples.
    y : array_like, shape (N,) of int, or (N, K) of float
        Integer class labels in ``[0, K)``, or one-hot (or soft-label) rows that sum to 1.

    Returns
    -------
    float

    Notes
    -----
    .. math:: L = \frac{1}{N} \sum_{n=1}^{N} \Bigl(\log \sum_{k} e^{z_{nk}} - z_{n, y_n}\Bigr),
              \qquad \log \sum_k e^{z_k} = m + \log \sum_k e^{z_k - m}, \; m = \max_k z_k

    This is PyTorch's ``F.cross_entropy`` and Keras's ``SparseCategoricalCrossentropy
    (from_logits=True)``.

    References
    ----------
    .. [1] Stanford CS231n, "Linear classification: softmax classifier, practical issues:
       numeric stability". https://cs231n.github.io/linear-classify/#softmax
    .. [2] Goodfellow et al., *Deep Learning*, sections 4.1 and 6.2.2.3.

    Examples
    --------
    >>> import numpy as np
    >>> round(softmax_cross_entropy(np.array([[0.0, 0.0, 0.0, 0.0]]), [3]), 6)  # log 4
    1.386294
    >>> softmax_cross_entropy(np.array([[1000.0, -1000.0]]), [1])
    2000.0
    """
    loss, _, _ = _softmax_ce(logits, y, "softmax_cross_entropy")
    return loss


def softmax_cross_entropy_grad(logits: Any, y: Any) -> np.ndarray:
    r"""Gradient of :func:`softmax_cross_entropy` with respect to the logits.

    Parameters
    ----------
    logits : array_like of float, shape (N, K) or (K,)
    y : array_like, shape (N,) of int, or (N, K) of float

    Returns
    -------
    ndarray, same shape and dtype as `logits`

    Notes
    -----
    .. math:: \frac{\partial L}{\partial z_{nk}} = \frac{1}{N}
              \bigl(\operatorname{softmax}(z_n)_k - t_{nk}\bigr)

    The softmax Jacobian :math:`\operatorname{diag}(s) - s s^\top` times the cross-entropy's
    gradient :math:`-t / s` collapses to :math:`s - t` (using :math:`\sum_k t_k = 1`).

    Examples
    --------
    >>> import numpy as np
    >>> softmax_cross_entropy_grad(np.array([[0.0, 0.0]]), [1])
    array([[ 0.5, -0.5]])
    """
    _, dlogits, shape = _softmax_ce(logits, y, "softmax_cross_entropy_grad")
    return dlogits.reshape(shape)


def softmax_cross_entropy_with_grad(logits: Any, y: Any) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy and its gradient in one pass (what a training loop wants).

    Parameters
    ----------
    logits : array_like of float, shape (N, K) or (K,)
    y : array_like, shape (N,) of int, or (N, K) of float

    Returns
    -------
    loss : float
        As :func:`softmax_cross_entropy`.
    dlogits : ndarray, same shape and dtype as `logits`
        As :func:`softmax_cross_entropy_grad`.

    Examples
    --------
    >>> import numpy as np
    >>> loss, dlogits = softmax_cross_entropy_with_grad(np.array([[0.0, 0.0]]), [1])
    >>> round(loss, 6), dlogits
    (0.693147, array([[ 0.5, -0.5]]))
    """
    loss, dlogits, shape = _softmax_ce(logits, y, "softmax_cross_entropy_with_grad")
    return loss, dlogits.reshape(shape)


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------

LossFunction = Callable[..., float]
GradFunction = Callable[..., np.ndarray]

LOSSES: dict[str, tuple[LossFunction, GradFunction]] = {
    "mse": (mse, mse_grad),
    "half_sum_squared_error": (half_sum_squared_error, half_sum_squared_error_grad),
    "binary_cross_entropy": (binary_cross_entropy, binary_cross_entropy_grad),
    "categorical_cross_entropy": (categorical_cross_entropy, categorical_cross_entropy_grad),
    "softmax_cross_entropy": (softmax_cross_entropy, softmax_cross_entropy_grad),
}
"""Losses by name: ``name -> (loss, gradient)``; both take ``(prediction, target)``."""


# The kernels of the losses a model applies to its outputs, for checked (prediction, target)
# of the same shape and dtype. The cross-entropies of class scores are left out: a model
# computes them from its logits with the fused _softmax_cross_entropy_with_grad.
_KERNELS: dict[str, tuple[LossFunction, GradFunction]] = {
    "mse": (
        lambda p, t: _squared_error(p, t, p.size),
        lambda p, t: _squared_error_grad(p, t, p.size),
    ),
    "half_sum_squared_error": (
        lambda o, t: _squared_error(o, t, 2),
        lambda o, t: _squared_error_grad(o, t, 2),
    ),
    "binary_cross_entropy": (_binary_cross_entropy, _binary_cross_entropy_grad),
}


def get_loss(name: str) -> tuple[LossFunction, GradFunction]:
    """Look up a loss and its gradient by name.

    Parameters
    ----------
    name : str
        One of the keys of :data:`LOSSES` (case-insensitive).

    Returns
    -------
    (loss, gradient) : tuple of callables
        ``loss(pred, target) -> float`` and ``gradient(pred, target) -> ndarray``
        shaped like ``pred``.

    Raises
    ------
    ValueError
        For a name not in :data:`LOSSES`; the message lists them.

    Examples
    --------
    >>> loss, grad = get_loss("mse")
    >>> loss([3.0], [1.0]), grad([3.0], [1.0])
    (4.0, array([4.]))
    """
    return LOSSES[check_name(name, LOSSES, what="loss", func="get_loss")]
