r"""Batch normalization and layer normalization, forward and backward (cs231n style).

Both layers standardize, then apply a learned per-feature affine map:

.. math:: \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}}, \qquad
          y = \gamma \odot \hat x + \beta

They differ only in the axes the statistics :math:`\mu, \sigma^2` are taken over:

* **batch normalization** [1]_: over the batch, per feature: axis 0 of a dense ``(N, D)``
  input, axes ``(0, 2, 3)`` of a spatial ``(N, C, H, W)`` input (one mean per channel, shared
  by every pixel of every image, as ``torch.nn.BatchNorm2d``). At evaluation time the batch
  statistics are replaced by running averages collected during training;
* **layer normalization** [2]_: over the last axis of ``(..., D)``, per sample, the same in
  training and evaluation (week 10's transformers use it).

So one private pair of kernels, :func:`_normalize_forward` / :func:`_normalize_backward`,
holds the formulas for both; the public functions only validate input and pick the axes.

Running statistics (a framework trap)
-------------------------------------
This module follows **PyTorch**: ``momentum=0.1`` is the weight of the *new* batch,

.. math:: r \leftarrow (1 - m)\, r + m\, s_{\text{batch}},

and the running variance is updated with the **unbiased** batch variance (divided by
:math:`M - 1`, :math:`M` the number of values per feature), although the batch itself is
normalized with the biased one (divided by :math:`M`). **Keras** (``BatchNormalization``,
``momentum=0.99``) uses the opposite sense, :math:`r \leftarrow m\, r + (1 - m)\, s`, so its
0.99 is PyTorch's 0.01, and it updates the moving variance with the **biased** batch variance;
its default ``epsilon`` is also 1e-3, not 1e-5. Passing Keras's 0.99 here would make the
running statistics forget everything but the last batch.

References
----------
.. [1] S. Ioffe and C. Szegedy, "Batch Normalization: Accelerating Deep Network Training by
   Reducing Internal Covariate Shift", ICML 2015. https://arxiv.org/abs/1502.03167
.. [2] J. L. Ba, J. R. Kiros and G. E. Hinton, "Layer Normalization", 2016.
   https://arxiv.org/abs/1607.06450
.. [3] Stanford CS231n, assignment 2, ``BatchNormalization.ipynb`` (``batchnorm_backward_alt``,
   the compact backward formula) and ``layernorm_forward``.
   https://cs231n.github.io/assignments2024/assignment2/
.. [4] PyTorch, ``torch.nn.BatchNorm2d`` (momentum and the unbiased running variance).
   https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html
"""

from __future__ import annotations

import numbers
from typing import Any, NamedTuple

import numpy as np

from lapenna_labs._validation import (
    as_float_array,
    as_output_gradient,
    check_positive_int,
    check_positive_number,
)

__all__ = [
    "BatchNormState",
    "NormCache",
    "batchnorm_backward",
    "batchnorm_forward",
    "layernorm_backward",
    "layernorm_forward",
]


class BatchNormState(NamedTuple):
    """Running statistics of a batch-normalization layer, one entry per feature (channel).

    Attributes
    ----------
    mean : ndarray, shape (C,)
        Running mean.
    var : ndarray, shape (C,)
        Running (unbiased) variance.
    """

    mean: np.ndarray
    var: np.ndarray

    @classmethod
    def initial(cls, num_features: int, dtype: Any = np.float64) -> BatchNormState:
        """The statistics of a fresh layer, as PyTorch: mean 0 and variance 1.

        Examples
        --------
        >>> BatchNormState.initial(2)
        BatchNormState(mean=array([0., 0.]), var=array([1., 1.]))
        """
        n = check_positive_int(num_features, name="num_features", func="BatchNormState.initial")
        return cls(np.zeros(n, dtype=dtype), np.ones(n, dtype=dtype))


class NormCache(NamedTuple):
    """What a normalization backward pass needs (returned by the forward functions).

    Attributes
    ----------
    xhat : ndarray, shape of x
        The standardized input.
    inv_std : ndarray, broadcastable to x
        :math:`1 / \\sqrt{\\sigma^2 + \\epsilon}` (batch or running variance).
    gamma : ndarray, broadcastable to x
        The scale, reshaped to broadcast against x.
    stat_axes : tuple of int
        The axes the statistics were taken over (empty in evaluation mode: the statistics
        were constants).
    param_axes : tuple of int
        The axes gamma and beta were broadcast over (their gradients sum over these).
    kind : str
        ``"batchnorm"`` or ``"layernorm"``, so a cache is not passed to the wrong backward.
    dtypes : tuple of dtype
        The dtypes of x, gamma, beta, for the gradients.
    """

    xhat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    stat_axes: tuple[int, ...]
    param_axes: tuple[int, ...]
    kind: str
    dtypes: tuple[np.dtype, np.dtype, np.dtype]


# --------------------------------------------------------------------------------------------
# private kernels: one copy of each formula, for checked input
# --------------------------------------------------------------------------------------------


def _normalize_forward(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    axes: tuple[int, ...],
    eps: float,
    mean: np.ndarray | None = None,
    var: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(out, xhat, inv_std, mean, var)``; statistics over `axes` unless `mean`, `var` given.

    `gamma`, `beta` and the given `mean`, `var` must already broadcast against `x`. The
    returned `var` is the biased (population) variance the batch was normalized with.
    """
    if mean is None:
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = np.mean(centered * centered, axis=axes, keepdims=True)
    else:
        centered = x - mean
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = centered * inv_std
    return gamma * xhat + beta, xhat, inv_std, mean, var


def _normalize_backward(
    dout: np.ndarray, cache: NormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""``(dx, dgamma, dbeta)``, with dgamma and dbeta flattened to 1-D."""
    dbeta = dout.sum(axis=cache.param_axes)
    dgamma = (dout * cache.xhat).sum(axis=cache.param_axes)
    dxhat = dout * cache.gamma
    if not cache.stat_axes:
        # Constant statistics (evaluation mode): a per-feature scaling.
        return dxhat * cache.inv_std, dgamma, dbeta
    axes = cache.stat_axes
    m = np.prod([dout.shape[a] for a in axes])
    # The compact formula: the mean and variance paths of the chain rule folded into two sums.
    dx = (cache.inv_std / m) * (
        m * dxhat
        - dxhat.sum(axis=axes, keepdims=True)
        - cache.xhat * (dxhat * cache.xhat).sum(axis=axes, keepdims=True)
    )
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------------------------
# validation shared by the public functions
# --------------------------------------------------------------------------------------------


def _check_eps(eps: Any, func: str) -> float:
    eps = check_positive_number(eps, name="eps", func=func)
    if not np.isfinite(eps):
        raise ValueError(f"{func}: eps must be finite, got {eps!r}")
    return eps


def _check_param(value: Any, name: str, size: int, what: str, func: str) -> np.ndarray:
    arr = as_float_array(value, name=name, func=func, ndim=1)
    if arr.shape[0] != size:
        raise ValueError(f"{func}: {name} has shape {arr.shape} but x has {size} {what}")
    return arr


def _check_cache(cache: Any, kind: str, func: str) -> NormCache:
    if not isinstance(cache, NormCache) or cache.kind != kind:
        raise ValueError(f"{func}: cache must be the NormCache returned by {kind}_forward")
    return cache


def _check_dout(dout: Any, cache: NormCache, func: str) -> np.ndarray:
    return as_output_gradient(
        dout, cache.xhat.shape, output="the layer's output has shape", func=func
    )


def _cast(grads: tuple[np.ndarray, ...], dtypes: tuple[np.dtype, ...]) -> tuple[np.ndarray, ...]:
    return tuple(g.astype(d, copy=False) for g, d in zip(grads, dtypes, strict=True))


# --------------------------------------------------------------------------------------------
# batch normalization
# --------------------------------------------------------------------------------------------


def batchnorm_forward(
    x: Any,
    gamma: Any,
    beta: Any,
    state: BatchNormState | None = None,
    *,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, NormCache, BatchNormState | None]:
    r"""Batch normalization of a dense ``(N, D)`` or spatial ``(N, C, H, W)`` batch.

    Parameters
    ----------
    x : array_like of float, shape (N, C) or (N, C, H, W)
        The batch; C features (channels).
    gamma : array_like of float, shape (C,)
        Per-feature scale.
    beta : array_like of float, shape (C,)
        Per-feature shift.
    state : BatchNormState, optional
        Running statistics, each of shape (C,) (:meth:`BatchNormState.initial` makes fresh
        ones). Required when ``training=False``. When None in training mode, no running
        statistics are kept (PyTorch's ``track_running_stats=False``).
    training : bool, default True
        Normalize with the batch's statistics and update the running ones (True), or
        normalize with the running statistics and leave them alone (False).
    momentum : float in [0, 1], default 0.1
        Weight of the new batch in the running averages, **PyTorch's convention**
        (Keras's ``momentum=0.99`` is this 0.01; see the module docstring).
    eps : float > 0, default 1e-5
        Added to the variance before the square root.

    Returns
    -------
    out : ndarray, shape of x
        :math:`\gamma \hat x + \beta`.
    cache : NormCache
        What :func:`batchnorm_backward` needs.
    new_state : BatchNormState or None
        The updated running statistics, shape (C,) each (new arrays; `state` is not
        modified); `state` itself in evaluation mode; None when `state` is None.

    Notes
    -----
    In training mode, with :math:`M = N` (dense) or :math:`M = NHW` (spatial) values per
    feature,

    .. math:: \mu = \frac{1}{M} \sum x, \qquad \sigma^2 = \frac{1}{M} \sum (x - \mu)^2,
              \qquad \hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}},

    and the running statistics become

    .. math:: \mu_r \leftarrow (1 - m) \mu_r + m \mu, \qquad
              \sigma^2_r \leftarrow (1 - m) \sigma^2_r + m \frac{M}{M - 1} \sigma^2

    (unbiased variance, as PyTorch), so training needs :math:`M > 1`. In evaluation mode
    :math:`\hat x = (x - \mu_r) / \sqrt{\sigma^2_r + \epsilon}`: a fixed affine map.

    References
    ----------
    .. [1] Ioffe and Szegedy 2015, algorithm 1. https://arxiv.org/abs/1502.03167
    .. [2] PyTorch ``torch.nn.functional.batch_norm``.
       https://pytorch.org/docs/stable/generated/torch.nn.functional.batch_norm.html

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> state = BatchNormState.initial(2)
    >>> out, cache, state = batchnorm_forward(x, np.ones(2), np.zeros(2), state)
    >>> np.round(out, 4)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> state.mean, state.var  # 0.9 * (0, 1) + 0.1 * (mean, unbiased variance)
    (array([0.2, 2. ]), array([ 1.1, 20.9]))
    """
    func = "batchnorm_forward"
    x = as_float_array(x, name="x", func=func)
    if x.ndim not in (2, 4):
        raise ValueError(f"{func}: x must be 2-D (N, D) or 4-D (N, C, H, W), got shape {x.shape}")
    c = x.shape[1]
    gamma = _check_param(gamma, "gamma", c, "features (channels)", func)
    beta = _check_param(beta, "beta", c, "features (channels)", func)
    eps = _check_eps(eps, func)
    if not isinstance(training, (bool, np.bool_)):
        raise ValueError(f"{func}: training must be True or False, got {training!r}")
    if (
        isinstance(momentum, bool)
        or not isinstance(momentum, numbers.Real)
        or not 0.0 <= momentum <= 1.0
    ):
        raise ValueError(f"{func}: momentum must be a number in [0, 1], got {momentum!r}")
    if state is not None:
        if not (isinstance(state, tuple) and len(state) == 2):
            raise ValueError(f"{func}: state must be a BatchNormState(mean, var)")
        state = BatchNormState(
            _check_param(state[0], "state.mean", c, "features (channels)", func),
            _check_param(state[1], "state.var", c, "features (channels)", func),
        )
        if np.any(state.var < 0):
            raise ValueError(f"{func}: state.var has a negative entry")
    elif not training:
        raise ValueError(f"{func}: evaluation mode (training=False) needs the running state")

    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    bshape = (1, c) + (1,) * (x.ndim - 2)
    m = int(np.prod([x.shape[a] for a in axes]))
    if training and m < 2:
        raise ValueError(
            f"{func}: training needs more than 1 value per feature, got x of shape {x.shape}"
        )
    g, b = gamma.reshape(bshape), beta.reshape(bshape)
    dtypes = (x.dtype, gamma.dtype, beta.dtype)

    if not training:
        out, xhat, inv_std, _, _ = _normalize_forward(
            x, g, b, axes, eps, state.mean.reshape(bshape), state.var.reshape(bshape)
        )
        return out, NormCache(xhat, inv_std, g, (), axes, "batchnorm", dtypes), state

    out, xhat, inv_std, mean, var = _normalize_forward(x, g, b, axes, eps)
    new_state = None
    if state is not None:
        unbiased = var.reshape(c) * (m / (m - 1))
        new_state = BatchNormState(
            ((1 - momentum) * state.mean + momentum * mean.reshape(c)).astype(
                state.mean.dtype, copy=False
            ),
            ((1 - momentum) * state.var + momentum * unbiased).astype(state.var.dtype, copy=False),
        )
    return out, NormCache(xhat, inv_std, g, axes, axes, "batchnorm", dtypes), new_state


def batchnorm_backward(dout: Any, cache: NormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward pass of :func:`batchnorm_forward` (training or evaluation mode).

    Parameters
    ----------
    dout : array_like of float, shape (N, C) or (N, C, H, W)
        Gradient of the loss with respect to the layer's output.
    cache : NormCache
        As returned by :func:`batchnorm_forward`.

    Returns
    -------
    dx : ndarray, shape of x
        Gradient with respect to `x`.
    dgamma : ndarray, shape (C,)
        Gradient with respect to `gamma`.
    dbeta : ndarray, shape (C,)
        Gradient with respect to `beta`.

    Notes
    -----
    With :math:`\delta` = `dout`, sums over the :math:`M` values of each feature and
    :math:`\sigma = \sqrt{\sigma^2 + \epsilon}`,

    .. math:: \frac{\partial L}{\partial \beta} = \sum \delta, \qquad
              \frac{\partial L}{\partial \gamma} = \sum \delta \odot \hat x,

    .. math:: \frac{\partial L}{\partial x} = \frac{\gamma}{M \sigma}
              \Big(M \delta - \sum \delta - \hat x \sum \delta \odot \hat x\Big)

    (the compact form of Ioffe and Szegedy's chain rule, cs231n's ``batchnorm_backward_alt``):
    :math:`\partial L / \partial x` is :math:`\gamma \delta / \sigma` with its mean and its
    component along :math:`\hat x` removed, because shifting or scaling a feature's batch does
    not change :math:`\hat x`. In evaluation mode the statistics are constants and
    :math:`\partial L / \partial x = \gamma \delta / \sigma_r`.

    References
    ----------
    .. [1] Ioffe and Szegedy 2015, section 3. https://arxiv.org/abs/1502.03167
    .. [2] Stanford CS231n assignment 2, ``batchnorm_backward_alt``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0], [3.0]])
    >>> out, cache, _ = batchnorm_forward(x, np.ones(1), np.zeros(1))
    >>> dx, dgamma, dbeta = batchnorm_backward(np.ones((2, 1)), cache)
    >>> np.abs(dx).max() < 1e-12, dbeta  # a uniform shift of the output cannot come from x
    (np.True_, array([2.]))
    """
    func = "batchnorm_backward"
    cache = _check_cache(cache, "batchnorm", func)
    dout = _check_dout(dout, cache, func)
    return _cast(_normalize_backward(dout, cache), cache.dtypes)


# --------------------------------------------------------------------------------------------
# layer normalization
# --------------------------------------------------------------------------------------------


def layernorm_forward(
    x: Any, gamma: Any, beta: Any, eps: float = 1e-5
) -> tuple[np.ndarray, NormCache]:
    r"""Layer normalization over the last axis of ``x`` (each sample on its own).

    Parameters
    ----------
    x : array_like of float, shape (..., D)
        Any number of leading axes (a batch, a batch of sequences, ...), D features.
    gamma : array_like of float, shape (D,)
        Per-feature scale.
    beta : array_like of float, shape (D,)
        Per-feature shift.
    eps : float > 0, default 1e-5
        Added to the variance before the square root.

    Returns
    -------
    out : ndarray, shape (..., D)
        :math:`\gamma \hat x + \beta`.
    cache : NormCache
        What :func:`layernorm_backward` needs.

    Notes
    -----
    .. math:: \mu = \frac{1}{D} \sum_{d} x_{d}, \qquad
              \sigma^2 = \frac{1}{D} \sum_d (x_d - \mu)^2, \qquad
              y = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    for each vector ``x[..., :]``. No batch statistics means no running averages and no
    difference between training and evaluation; it is batch normalization of the transpose,
    which is how cs231n has it implemented.

    References
    ----------
    .. [1] Ba, Kiros and Hinton 2016, section 3. https://arxiv.org/abs/1607.06450
    .. [2] PyTorch ``torch.nn.functional.layer_norm``.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = layernorm_forward(np.array([[1.0, 3.0], [0.0, 10.0]]), np.ones(2),
    ...                                np.zeros(2))
    >>> np.round(out, 4)
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    func = "layernorm_forward"
    x = as_float_array(x, name="x", func=func)
    if x.ndim < 1:
        raise ValueError(f"{func}: x must have at least 1 axis (..., D), got a scalar")
    d = x.shape[-1]
    gamma = _check_param(gamma, "gamma", d, "features (last axis)", func)
    beta = _check_param(beta, "beta", d, "features (last axis)", func)
    eps = _check_eps(eps, func)
    out, xhat, inv_std, _, _ = _normalize_forward(x, gamma, beta, (-1,), eps)
    param_axes = tuple(range(x.ndim - 1))
    dtypes = (x.dtype, gamma.dtype, beta.dtype)
    return out, NormCache(xhat, inv_std, gamma, (-1,), param_axes, "layernorm", dtypes)


def layernorm_backward(dout: Any, cache: NormCache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward pass of :func:`layernorm_forward`.

    Parameters
    ----------
    dout : array_like of float, shape (..., D)
        Gradient of the loss with respect to the layer's output.
    cache : NormCache
        As returned by :func:`layernorm_forward`.

    Returns
    -------
    dx : ndarray, shape (..., D)
        Gradient with respect to `x`.
    dgamma : ndarray, shape (D,)
        Gradient with respect to `gamma` (summed over the leading axes).
    dbeta : ndarray, shape (D,)
        Gradient with respect to `beta`.

    Notes
    -----
    The batch-normalization formula of :func:`batchnorm_backward` with the sums taken over
    the D features of each sample instead of over the batch:

    .. math:: \frac{\partial L}{\partial x} = \frac{1}{D \sigma}
              \Big(D g - \sum_d g_d - \hat x \sum_d g_d \hat x_d\Big),
              \qquad g = \gamma \odot \delta.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = layernorm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2))
    >>> dx, dgamma, dbeta = layernorm_backward(np.array([[1.0, 1.0]]), cache)
    >>> np.abs(dx).max() < 1e-12, np.round(dgamma, 4), dbeta
    (np.True_, array([-1.,  1.]), array([1., 1.]))
    """
    func = "layernorm_backward"
    cache = _check_cache(cache, "layernorm", func)
    dout = _check_dout(dout, cache, func)
    return _cast(_normalize_backward(dout, cache), cache.dtypes)
