r"""Learning-rate schedules: the learning rate as a function of the step count.

A constant learning rate is a compromise: large enough to make progress early, it keeps the
iterates of SGD rattling (and Adam's roughly constant steps circling) near a minimum. A
schedule starts large and decays. The three common shapes, each a function of the step
``t = 0, 1, 2, ...`` (or of the epoch, if it is called once per epoch):

* :func:`step_decay`: :math:`\eta_t = \eta_0\, \gamma^{\lfloor t / s \rfloor}` (drop by a
  factor every ``s`` steps);
* :func:`exponential_decay`: :math:`\eta_t = \eta_0\, \gamma^{t}`;
* :func:`cosine_decay`: :math:`\eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
  (1 + \cos(\pi t / T))` for :math:`t \le T`, then :math:`\eta_{\min}` (Loshchilov & Hutter's
  SGDR, one cycle without restarts).

Every optimizer of :mod:`lapenna_labs.optim` reads its ``lr`` attribute at each step, so a
schedule is applied by setting it before the step::

    for t, (xb, yb) in enumerate(batches):
        opt.lr = cosine_decay(t, lr0=0.01, total_steps=len(batches))
        opt.step(params, grads)

Each function takes an int or an array of steps (for a plot) and returns a float or an array.
They equal ``torch.optim.lr_scheduler.StepLR``, ``ExponentialLR`` and ``CosineAnnealingLR``
(up to the torch cosine's restart after ``T_max``).

References
----------
.. [1] I. Loshchilov, F. Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
   ICLR 2017, arXiv:1608.03983, equation (5).
.. [2] I. Goodfellow, Y. Bengio, A. Courville, *Deep Learning*, MIT Press, 2016, section 8.3.1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lapenna_labs._validation import check_positive_int

__all__ = ["cosine_decay", "exponential_decay", "step_decay"]


def _steps(t: Any, func: str) -> tuple[np.ndarray, bool]:
    """``t`` as an array of non-negative integers, and whether it was a single number."""
    scalar = np.ndim(t) == 0
    arr = np.asarray(t)
    if arr.dtype.kind not in "iu" or (arr.size and arr.min() < 0):
        raise ValueError(f"{func}: t must be a non-negative integer step (or an array of them)")
    return arr, scalar


def _positive(value: Any, *, name: str, func: str, upper: float | None = None) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    value = float(value) if ok else math.nan
    if not (value > 0 and math.isfinite(value)) or (upper is not None and value > upper):
        bound = f"in (0, {upper:g}]" if upper is not None else "> 0"
        raise ValueError(f"{func}: {name} must be a number {bound}")
    return value


def _result(values: np.ndarray, scalar: bool) -> Any:
    return float(values) if scalar else values


def step_decay(t: Any, *, lr0: float, drop: float = 0.5, every: int = 10) -> Any:
    r"""Step decay: :math:`\eta_t = \eta_0\, \gamma^{\lfloor t/s \rfloor}`.

    Parameters
    ----------
    t : int or array of int
        The step (or epoch) count, from 0.
    lr0 : float
        The initial learning rate :math:`\eta_0`, > 0.
    drop : float, default 0.5
        The factor :math:`\gamma` in (0, 1] applied every ``every`` steps.
    every : int, default 10
        The number of steps :math:`s` between drops, > 0.

    Returns
    -------
    float or ndarray
        The learning rate at each ``t``.

    Examples
    --------
    >>> [step_decay(t, lr0=0.1, drop=0.5, every=2) for t in range(5)]
    [0.1, 0.1, 0.05, 0.05, 0.025]
    """
    func = "step_decay"
    steps, scalar = _steps(t, func)
    lr0 = _positive(lr0, name="lr0", func=func)
    drop = _positive(drop, name="drop", func=func, upper=1.0)
    every = check_positive_int(every, name="every", func=func)
    return _result(lr0 * drop ** (steps // every), scalar)


def exponential_decay(t: Any, *, lr0: float, rate: float) -> Any:
    r"""Exponential decay: :math:`\eta_t = \eta_0\, \gamma^{t}`.

    Parameters
    ----------
    t : int or array of int
        The step (or epoch) count, from 0.
    lr0 : float
        The initial learning rate :math:`\eta_0`, > 0.
    rate : float
        The factor :math:`\gamma` in (0, 1] per step; the rate halves every
        :math:`\ln 2 / (-\ln\gamma)` steps.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> round(exponential_decay(10, lr0=0.1, rate=0.9), 6)
    0.034868
    """
    func = "exponential_decay"
    steps, scalar = _steps(t, func)
    lr0 = _positive(lr0, name="lr0", func=func)
    rate = _positive(rate, name="rate", func=func, upper=1.0)
    return _result(lr0 * rate ** steps.astype(np.float64), scalar)


def cosine_decay(t: Any, *, lr0: float, total_steps: int, lr_min: float = 0.0) -> Any:
    r"""Cosine decay from :math:`\eta_0` to :math:`\eta_{\min}` over ``total_steps`` steps.

    Parameters
    ----------
    t : int or array of int
        The step count, from 0.
    lr0 : float
        The initial learning rate :math:`\eta_0`, > 0.
    total_steps : int
        :math:`T`, the step at which the rate reaches ``lr_min``; it stays there after.
    lr_min : float, default 0.0
        The final rate, in :math:`[0, \eta_0]`.

    Returns
    -------
    float or ndarray
        :math:`\eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})(1 + \cos(\pi \min(t, T)/T))`.

    Notes
    -----
    The rate falls slowly at first, fastest in the middle, and slowly again at the end: most
    steps are taken at a large rate, and the last few settle into the minimum. This is one
    cycle of SGDR (Loshchilov & Hutter 2017) and ``torch.optim.lr_scheduler.
    CosineAnnealingLR(T_max=total_steps, eta_min=lr_min)`` for :math:`t \le T`.

    Examples
    --------
    >>> [round(cosine_decay(t, lr0=1.0, total_steps=4), 4) for t in range(6)]
    [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.0]
    """
    func = "cosine_decay"
    steps, scalar = _steps(t, func)
    lr0 = _positive(lr0, name="lr0", func=func)
    total_steps = check_positive_int(total_steps, name="total_steps", func=func)
    is_number = isinstance(lr_min, (int, float, np.integer, np.floating))
    if isinstance(lr_min, bool) or not is_number or not 0.0 <= lr_min <= lr0:
        raise ValueError(f"{func}: lr_min must be in [0, lr0], got {lr_min!r}")
    progress = np.minimum(steps, total_steps) / total_steps
    return _result(lr_min + 0.5 * (lr0 - lr_min) * (1.0 + np.cos(np.pi * progress)), scalar)
