"""Gradient-descent optimizers that update a dict of NumPy arrays in place.

Every optimizer here has the same small interface::

    opt = Adam(lr=1e-3)
    opt.step(params, grads)  # params["W1"] -= ..., in place

``params`` and ``grads`` are dicts with the same keys (``"W1"``, ``"b1"``, ...) whose values
are arrays of the same shape. The optimizer keeps its state (the step count ``t`` and, by
method, a ``velocity`` or first and second moments ``m`` and ``v``) in public dicts keyed
like ``params``, so a notebook can print or plot it. Updates use in-place NumPy operations
into scratch buffers, so after the first step a step allocates no new arrays and float32
parameters stay float32.

The classes follow the lecture's notation where it has one: :class:`Momentum` is the
velocity form of the slides (``v <- alpha v - eps g``, ``theta <- theta + v``). The overview
by Ruder (2016) covers all of them.

References
----------
.. [1] S. Ruder, "An overview of gradient descent optimization algorithms",
   arXiv:1609.04747, 2016. https://ruder.io/optimizing-gradient-descent/
.. [2] I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of initialization
   and momentum in deep learning", ICML 2013.
.. [3] D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
   arXiv:1412.6980.
.. [4] T. Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from lapenna_labs._validation import check_name

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "Momentum",
    "Nadam",
    "Nesterov",
    "Optimizer",
    "get_optimizer",
]


def _check_hyper(value: Any, *, name: str, func: str, low: float, high: float | None) -> float:
    """Return ``value`` as a float, raising a ValueError that states the allowed range.

    ``high=None`` means ``value > low``; otherwise ``low <= value < high``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{func}: {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{func}: {name} must be finite, got {value}")
    if high is None:
        if not value > low:
            raise ValueError(f"{func}: {name} must be > {low:g}, got {value:g}")
    elif not low <= value < high:
        raise ValueError(f"{func}: {name} must be in [{low:g}, {high:g}), got {value:g}")
    return value


class Optimizer:
    """Base class: bookkeeping, input checks and state shared by every optimizer.

    Subclasses implement :meth:`_update`, which applies one step to arrays already checked.

    Parameters
    ----------
    lr : float
        The learning rate (step size), > 0.

    Attributes
    ----------
    lr : float
        The learning rate; may be changed between steps (a schedule).
    t : int
        The number of steps taken so far.
    """

    #: names of the per-parameter state dicts, for :meth:`state_dict` and :meth:`reset`
    _state_names: tuple[str, ...] = ()

    def __init__(self, lr: float) -> None:
        self.lr = _check_hyper(lr, name="lr", func=type(self).__name__, low=0.0, high=None)
        self.t = 0
        # Scratch buffers, one or two per parameter, reused every step (no per-step allocation).
        self._scratch: dict[str, list[np.ndarray]] = {}
        for state_name in self._state_names:
            setattr(self, state_name, {})

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({hyper})"

    def _hyper(self) -> dict[str, float]:
        return {"lr": self.lr}

    def reset(self) -> None:
        """Forget all state (step count, velocities, moments), as if newly constructed."""
        self.t = 0
        self._scratch = {}
        for state_name in self._state_names:
            setattr(self, state_name, {})

    def state_dict(self) -> dict[str, Any]:
        """Return a copy of the state: ``{"t": t, "<name>": {param: array}}``, for inspection."""
        state: dict[str, Any] = {"t": self.t}
        for state_name in self._state_names:
            state[state_name] = {k: a.copy() for k, a in getattr(self, state_name).items()}
        return state

    def step(self, params: dict[str, np.ndarray], grads: Mapping[str, Any]) -> None:
        """Apply one update to every array in ``params``, in place.

        Parameters
        ----------
        params : dict of str to ndarray
            The parameters, e.g. ``{"W1": (D, H) array, "b1": (H,) array}``. Each must be a
            floating-point ndarray (it is modified in place).
        grads : dict of str to array_like
            The gradient of the loss with respect to each parameter: the same keys as
            ``params`` and arrays of the same shapes.

        Raises
        ------
        ValueError
            If the keys differ, a shape differs, a parameter is not a float ndarray, a
            gradient holds NaN or infinity, or a parameter's shape changed since the state
            was created (call :meth:`reset` to start over).
        """
        func = f"{type(self).__name__}.step"
        if not isinstance(params, Mapping) or not isinstance(grads, Mapping):
            raise ValueError(f"{func}: params and grads must be dicts of arrays")
        missing = [k for k in params if k not in grads]
        if missing:
            raise ValueError(f"{func}: grads has no entry for parameter(s) {missing}")
        extra = [k for k in grads if k not in params]
        if extra:
            raise ValueError(f"{func}: grads has entries {extra} that are not parameters")
        checked: dict[str, np.ndarray] = {}
        for key, param in params.items():
            if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
                raise ValueError(
                    f"{func}: params[{key!r}] must be a floating-point NumPy array "
                    "(it is updated in place)"
                )
            grad = np.asarray(grads[key])
            if grad.dtype.kind not in "fiu":
                raise ValueError(f"{func}: grads[{key!r}] must hold real numbers")
            if grad.shape != param.shape:
                raise ValueError(
                    f"{func}: grads[{key!r}] has shape {grad.shape} but params[{key!r}] "
                    f"has shape {param.shape}"
                )
            if not np.all(np.isfinite(grad)):
                bad = "NaN" if np.isnan(grad).any() else "infinity"
                raise ValueError(f"{func}: grads[{key!r}] contains {bad}")
            scratch = self._scratch.get(key)
            if scratch is not None and scratch[0].shape != param.shape:
                raise ValueError(
                    f"{func}: params[{key!r}] has shape {param.shape} but the optimizer's "
                    f"state was built for {scratch[0].shape}; call reset() first"
                )
            checked[key] = grad
        self._update(params, checked)

    def _buffers(self, key: str, param: np.ndarray, count: int) -> list[np.ndarray]:
        """Return ``count`` scratch arrays shaped like ``param``, created on first use."""
        buffers = self._scratch.get(key)
        if buffers is None or buffers[0].dtype != param.dtype:
            buffers = [np.empty_like(param) for _ in range(count)]
            self._scratch[key] = buffers
        return buffers

    def _state(self, state_name: str, key: str, param: np.ndarray) -> np.ndarray:
        """Return the state array ``state_name[key]``, zero-initialised on first use."""
        store: dict[str, np.ndarray] = getattr(self, state_name)
        arr = store.get(key)
        if arr is None:
            arr = np.zeros_like(param)
            store[key] = arr
        return arr

    def _update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Apply one step without checking the inputs (used by ``step`` and ``training.fit``)."""
        raise NotImplementedError


class SGD(Optimizer):
    r"""Plain (mini-batch) stochastic gradient descent.

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate :math:`\eta`, > 0 (Keras's SGD default).

    Notes
    -----
    With gradient :math:`g_t = \nabla_\theta J(\theta_{t-1})` of the mini-batch loss,

    .. math:: \theta_t = \theta_{t-1} - \eta\, g_t .

    References
    ----------
    .. [1] S. Ruder, "An overview of gradient descent optimization algorithms",
       arXiv:1609.04747, 2016, section 2.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 2.0])}
    >>> SGD(lr=0.1).step(params, {"w": np.array([1.0, -1.0])})
    >>> params["w"]
    array([0.9, 2.1])
    """

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr)

    def _update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        self.t += 1
        lr, scratch = self.lr, self._scratch
        for key, param in params.items():
            # the plain loop is the one training.fit's speed is measured with: no method calls
            buffers = scratch.get(key) or self._buffers(key, param, 1)
            tmp = buffers[0]
            np.multiply(grads[key], lr, out=tmp)
            param -= tmp


class Momentum(Optimizer):
    r"""SGD with momentum, in the slides' velocity form.

    Parameters
    ----------
    lr : float, default 0.01
        The learning rate :math:`\epsilon`, > 0.
    momentum : float, default 0.9
        The momentum parameter :math:`\alpha` in [0, 1).

    Attributes
    ----------
    velocity : dict of str to ndarray
        The velocity :math:`v` of each parameter (zeros before the first step).

    Notes
    -----
    The velocity is an exponentially decaying moving average of the negative gradients
    (lecture 4, "Gradient-based optimization with momentum"; Goodfellow et al., Algorithm 8.2):

    .. math::

        v_t &= \alpha\, v_{t-1} - \epsilon\, g_t, \qquad v_0 = 0, \\
        \theta_t &= \theta_{t-1} + v_t .

    ``torch.optim.SGD(momentum=alpha)`` keeps :math:`b_t = \alpha b_{t-1} + g_t` instead and
    steps :math:`\theta_t = \theta_{t-1} - \epsilon b_t`; with a constant learning rate
    :math:`v_t = -\epsilon b_t`, so both give the same iterates (they differ only when
    :math:`\epsilon` changes during training). Keras's ``SGD(momentum=alpha)`` uses the
    velocity form above.

    References
    ----------
    .. [1] S. Ruder, "An overview of gradient descent optimization algorithms",
       arXiv:1609.04747, 2016, section 4.1.
    .. [2] I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of
       initialization and momentum in deep learning", ICML 2013, equations (1)-(2).

    Examples
    --------
    >>> import numpy as np
    >>> params, opt = {"w": np.array([0.0])}, Momentum(lr=0.1, momentum=0.5)
    >>> for _ in range(2):
    ...     opt.step(params, {"w": np.array([1.0])})
    >>> opt.velocity["w"], params["w"]
    (array([-0.15]), array([-0.25]))
    """

    _state_names = ("velocity",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = _check_hyper(
            momentum, name="momentum", func=type(self).__name__, low=0.0, high=1.0
        )

    def _hyper(self) -> dict[str, float]:
        return {"lr": self.lr, "momentum": self.momentum}

    def _velocity_step(self, key: str, param: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """``v <- alpha v - lr g`` in place; return the scratch array holding ``lr g``."""
        (lr_grad,) = self._buffers(key, param, 1)
        velocity = self._state("velocity", key, param)
        velocity *= self.momentum
        np.multiply(grad, self.lr, out=lr_grad)
        velocity -= lr_grad
        return lr_grad

    def _update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        self.t += 1
        for key, param in params.items():
            self._velocity_step(key, param, grads[key])
            param += self.velocity[key]


class Nesterov(Momentum):
    r"""SGD with Nesterov momentum (Nesterov's accelerated gradient), velocity form.

    Parameters
    ----------
    lr, momentum : float
        As for :class:`Momentum`: the learning rate :math:`\epsilon` (default 0.01) and the
        momentum parameter :math:`\alpha` (default 0.9).

    Attributes
    ----------
    velocity : dict of str to ndarray
        As for :class:`Momentum`.

    Notes
    -----
    Sutskever et al. (2013) write Nesterov's method as momentum whose gradient is taken at
    the look-ahead point :math:`\theta + \alpha v`:

    .. math::

        v_t = \alpha v_{t-1} - \epsilon \nabla J(\theta_{t-1} + \alpha v_{t-1}),\qquad
        \theta_t = \theta_{t-1} + v_t .

    A training loop only has the gradient at the current parameters, so this class tracks
    the look-ahead point itself, :math:`\tilde\theta = \theta + \alpha v`, as "the
    parameters" (Bengio et al. 2013; the form Keras and PyTorch use). With
    :math:`g_t = \nabla J(\tilde\theta_{t-1})`:

    .. math::

        v_t &= \alpha v_{t-1} - \epsilon g_t, \\
        \tilde\theta_t &= \tilde\theta_{t-1} + \alpha v_t - \epsilon g_t .

    ``torch.optim.SGD(momentum=alpha, nesterov=True)`` keeps :math:`b_t = \alpha b_{t-1} +
    g_t` and steps :math:`\tilde\theta_t = \tilde\theta_{t-1} - \epsilon (g_t + \alpha
    b_t)`; with a constant learning rate :math:`v_t = -\epsilon b_t`, so the iterates are
    the same.

    References
    ----------
    .. [1] I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of
       initialization and momentum in deep learning", ICML 2013, equations (3)-(4).
    .. [2] Y. Bengio, N. Boulanger-Lewandowski, R. Pascanu, "Advances in optimizing
       recurrent networks", ICASSP 2013, arXiv:1212.0901, section 3.5.
    .. [3] S. Ruder, "An overview of gradient descent optimization algorithms",
       arXiv:1609.04747, 2016, section 4.2.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([0.0])}
    >>> Nesterov(lr=0.1, momentum=0.5).step(params, {"w": np.array([1.0])})
    >>> params["w"]  # -0.1 (the gradient step) + 0.5 * -0.1 (the look-ahead)
    array([-0.15])
    """

    def _update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        self.t += 1
        for key, param in params.items():
            tmp = self._velocity_step(key, param, grads[key])
            param -= tmp  # - lr g ...
            np.multiply(self.velocity[key], self.momentum, out=tmp)
            param += tmp  # ... + alpha v (the look-ahead)


class Adam(Optimizer):
    r"""Adam: adaptive moment estimation, with bias correction (Kingma & Ba 2015).

    Parameters
    ----------
    lr : float, default 0.001
        The step size :math:`\alpha`, > 0.
    beta1 : float, default 0.9
        Decay rate of the first-moment (mean) estimate, in [0, 1).
    beta2 : float, default 0.999
        Decay rate of the second-moment (uncentred variance) estimate, in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, > 0.

    Attributes
    ----------
    m, v : dict of str to ndarray
        The biased first and second moment estimates of each parameter.
    t : int
        The step count used in the bias corrections.

    Notes
    -----
    Algorithm 1 of Kingma & Ba (2015), with defaults :math:`\alpha = 0.001`,
    :math:`\beta_1 = 0.9`, :math:`\beta_2 = 0.999`, :math:`\epsilon = 10^{-8}`:

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \\
        \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t), \\
        \theta_t &= \theta_{t-1} - \alpha\, \hat m_t / (\sqrt{\hat v_t} + \epsilon).

    This is also what ``torch.optim.Adam`` computes. (The lecture's first Adam slide omits
    the bias correction and the :math:`\epsilon`, swaps the names :math:`m` and :math:`v`,
    and gives :math:`\beta_2 = 0.99`; the algorithm slide and the paper use 0.999.)

    References
    ----------
    .. [1] D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
       arXiv:1412.6980, Algorithm 1.
    .. [2] S. Ruder, "An overview of gradient descent optimization algorithms",
       arXiv:1609.04747, 2016, section 4.6.

    Examples
    --------
    >>> import numpy as np
    >>> params = {"w": np.array([1.0, 1.0])}
    >>> Adam(lr=0.1).step(params, {"w": np.array([3.0, -0.5])})
    >>> params["w"]  # the first step moves every coordinate by about lr
    array([0.9, 1.1])
    """

    _state_names = ("m", "v")

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        name = type(self).__name__
        self.beta1 = _check_hyper(beta1, name="beta1", func=name, low=0.0, high=1.0)
        self.beta2 = _check_hyper(beta2, name="beta2", func=name, low=0.0, high=1.0)
        self.eps = _check_hyper(eps, name="eps", func=name, low=0.0, high=None)

    def _hyper(self) -> dict[str, float]:
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def _moments(self, key: str, param: np.ndarray, grad: np.ndarray, tmp: np.ndarray) -> None:
        """Update ``m[key]`` and ``v[key]`` in place with the new gradient."""
        b1, b2 = self.beta1, self.beta2
        m = self._state("m", key, param)
        v = self._state("v", key, param)
        m *= b1
        np.multiply(grad, 1.0 - b1, out=tmp)
        m += tmp
        v *= b2
        np.multiply(grad, grad, out=tmp)
        tmp *= 1.0 - b2
        v += tmp

    def _update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        self.t += 1
        t = self.t
        step_size = self.lr / (1.0 - self.beta1**t)
        inv_sqrt_bc2 = 1.0 / math.sqrt(1.0 - self.beta2**t)
        for key, param in params.items():
            (tmp,) = self._buffers(key, param, 1)
            self._moments(key, param, grads[key], tmp)
            # denominator sqrt(v_hat) + eps, then the step alpha * m_hat / denominator
            np.sqrt(self.v[key], out=tmp)
            tmp *= inv_sqrt_bc2
            tmp += self.eps
            np.divide(self.m[key], tmp, out=tmp)
            tmp *= step_size
            param -= tmp


class Nadam(Adam):
    r"""Nadam: Adam with Nesterov momentum (Dozat 2016), in Keras's formulation.

    Parameters
    ----------
    lr : float, default 0.002
        The step size :math:`\alpha`, > 0 (Dozat's default; Keras's is 0.001).
    beta1 : float, default 0.9
        The base momentum :math:`\beta_1` in [0, 1).
    beta2 : float, default 0.999
        Decay rate of the second-moment estimate, in [0, 1).
    eps : float, default 1e-7
        Added to the denominator, > 0 (Keras's default).
    momentum_decay : float, default 1.0
        The exponent scale :math:`c` of the momentum schedule below. 1.0 is what Keras 3
        (``keras.optimizers.Nadam``) does; 0.004 is Dozat's paper and ``torch.optim.NAdam``
        (its ``momentum_decay=4e-3``).

    Attributes
    ----------
    m, v : dict of str to ndarray
        The biased first and second moment estimates.
    mu_product : float
        :math:`\prod_{i \le t} \mu_i`, the running product of the momentum schedule.

    Notes
    -----
    Dozat's Nadam replaces Adam's bias-corrected momentum with a Nesterov look-ahead and a
    warming-up momentum schedule :math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{c t})`.
    With :math:`\Pi_t = \prod_{i=1}^{t} \mu_i`, the step is (Keras 3, ``keras/src/optimizers/
    nadam.py``; Dozat 2016, Algorithm 2):

    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \\
        \hat m_t &= \frac{\mu_{t+1}\, m_t}{1 - \Pi_{t+1}}
                   + \frac{(1 - \mu_t)\, g_t}{1 - \Pi_t}, \qquad
        \hat v_t = \frac{v_t}{1 - \beta_2^t}, \\
        \theta_t &= \theta_{t-1} - \alpha\, \hat m_t / (\sqrt{\hat v_t} + \epsilon).

    Like Keras (and unlike the paper's Algorithm 2, which uses :math:`\mu_t` and
    :math:`\beta_1` interchangeably), the moment :math:`m_t` is averaged with the constant
    :math:`\beta_1`; only the look-ahead uses the schedule. Keras 3 uses :math:`0.96^{t}`
    where the paper (and Keras 2's ``schedule_decay=0.004``) used :math:`0.96^{t/250}`, so
    with the default ``momentum_decay=1`` the momentum reaches :math:`\beta_1` within about
    a hundred steps instead of tens of thousands.

    References
    ----------
    .. [1] T. Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016 workshop
       track. https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    .. [2] Keras 3, ``keras.optimizers.Nadam``. https://keras.io/api/optimizers/Nadam/
    .. [3] S. Ruder, "An overview of gradient descent optimization algorithms",
       arXiv:1609.04747, 2016, section 4.9.

    Examples
    --------
    >>> import numpy as np
    >>> params, opt = {"w": np.array([1.0])}, Nadam(lr=0.01)
    >>> for _ in range(3):
    ...     opt.step(params, {"w": np.array([2.0])})
    >>> opt.t, bool(params["w"][0] < 1.0)
    (3, True)
    """

    def __init__(
        self,
        lr: float = 0.002,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-7,
        momentum_decay: float = 1.0,
    ) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
        self.momentum_decay = _check_hyper(
            momentum_decay, name="momentum_decay", func=type(self).__name__, low=0.0, high=None
        )
        self.mu_product = 1.0

    def _hyper(self) -> dict[str, float]:
        return {**super()._hyper(), "momentum_decay": self.momentum_decay}

    def reset(self) -> None:
        """Forget all state, including the momentum schedule's running product."""
        super().reset()
        self.mu_product = 1.0

    def state_dict(self) -> dict[str, Any]:
        """Return a copy of the state, including ``mu_product``."""
        return {**super().state_dict(), "mu_product": self.mu_product}

    def _mu(self, t: int) -> float:
        return self.beta1 * (1.0 - 0.5 * 0.96 ** (self.momentum_decay * t))

    def _update(self, params: dict[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        self.t += 1
        t = self.t
        mu_t, mu_next = self._mu(t), self._mu(t + 1)
        self.mu_product *= mu_t
        coef_m = self.lr * mu_next / (1.0 - self.mu_product * mu_next)
        coef_g = self.lr * (1.0 - mu_t) / (1.0 - self.mu_product)
        inv_sqrt_bc2 = 1.0 / math.sqrt(1.0 - self.beta2**t)
        for key, param in params.items():
            denom, tmp = self._buffers(key, param, 2)
            grad = grads[key]
            self._moments(key, param, grad, tmp)
            np.sqrt(self.v[key], out=denom)
            denom *= inv_sqrt_bc2
            denom += self.eps
            np.divide(self.m[key], denom, out=tmp)
            tmp *= coef_m
            param -= tmp
            np.divide(grad, denom, out=tmp)
            tmp *= coef_g
            param -= tmp


#: name -> optimizer class, for :func:`get_optimizer`
OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adam": Adam,
    "nadam": Nadam,
}


def get_optimizer(name_or_instance: str | Optimizer, **kwargs: Any) -> Optimizer:
    """Return an optimizer from its name (case-insensitive) or pass an instance through.

    Parameters
    ----------
    name_or_instance : str or Optimizer
        ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"`` or ``"nadam"``, or an
        optimizer object (returned unchanged).
    **kwargs
        Hyperparameters for the constructor (``lr=0.1``, ``momentum=0.9``, ...); only
        with a name.

    Returns
    -------
    Optimizer
        A new optimizer (or the instance given).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones), or keyword arguments
        given together with an instance.

    Examples
    --------
    >>> get_optimizer("Adam", lr=0.01)
    Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08)
    """
    if isinstance(name_or_instance, Optimizer):
        if kwargs:
            raise ValueError(
                f"get_optimizer: got an optimizer instance and keyword arguments {sorted(kwargs)}; "
                "set hyperparameters when constructing the instance"
            )
        return name_or_instance
    if not isinstance(name_or_instance, str):
        raise ValueError(
            f"get_optimizer: expected an optimizer name or instance, got {name_or_instance!r}"
        )
    cls = OPTIMIZERS[
        check_name(name_or_instance, OPTIMIZERS, what="optimizer", func="get_optimizer")
    ]
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"get_optimizer: bad arguments for {cls.__name__}: {exc}") from None
