"""What the package's two trainable networks, MLP and CNN, share.

Both networks check their constructor's dtype, draw their weights, check a batch of inputs and
targets, and serve :func:`lapenna_labs.training.fit` the same way; each idea is written once
here so the two cannot drift apart (a fix to the He/Glorot draw or to the finiteness check
reaches both). The networks keep their own public methods and docstrings, which call these.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

import numpy as np

from lapenna_labs import training
from lapenna_labs._validation import as_float_array, check_name

__all__ = [
    "NetworkMixin",
    "as_finite_batch",
    "check_activation",
    "check_float_dtype",
    "draw_weights",
    "uses_he_init",
]


def check_activation(value: Any, choices: Collection[str], *, what: str, func: str) -> str:
    """`value`, a name in `choices`, with Keras's alias ``"linear"`` read as ``"identity"``.

    The networks store and print one name per activation, so a network built with
    ``"linear"`` and one built with ``"identity"`` are the same network and say so.
    """
    name = check_name(value, choices, what=what, func=func)
    return "identity" if name == "linear" else name


def uses_he_init(activation: str) -> bool:
    """Whether a layer followed by `activation` gets He's initialization (else Glorot's).

    He et al. (2015) scale the weights for rectifiers, which zero half their inputs and so
    halve the variance that Glorot's scaling keeps; every other activation gets Glorot's.
    """
    return activation in ("relu", "leaky_relu")


def draw_weights(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    fan_in: int,
    fan_out: int,
    he: bool,
    dtype: np.dtype,
) -> np.ndarray:
    """Draw one layer's weights, He-normal when `he` else Glorot-uniform, in `dtype`.

    He: ``N(0, 2 / fan_in)``; Glorot: ``U(-l, l)`` with ``l = sqrt(6 / (fan_in + fan_out))``.
    The draw is in float64 and then cast, so a network's float32 and float64 versions start
    from the same weights (up to rounding) for the same seed.
    """
    if he:
        return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape).astype(dtype)
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def check_float_dtype(dtype: Any, func: str) -> np.dtype:
    """`dtype` as a NumPy dtype, which must be float32 or float64 (the networks' two precisions).

    Anything ``np.dtype`` cannot read fails with the same message as a wrong precision, so the
    caller sees what is accepted rather than NumPy's ``TypeError``.
    """
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"{func}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def as_finite_batch(X: Any, func: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """`X` as a float array of `ndim` dimensions with no NaN or infinity.

    Finiteness is tested with a sum, which needs no temporary array (on a 60,000 x 784
    training set the isfinite mask costs about a fast epoch): NaN and infinity always make the
    sum non-finite; only then (or on overflow) the full check runs, which names the problem.
    """
    X = as_float_array(X, name="X", func=func, ndim=ndim, allow_nonfinite=True)
    if not math.isfinite(float(np.sum(X))):
        as_float_array(X, name="X", func=func)  # names the problem: NaN or infinity
    return X


class NetworkMixin:
    """The members of :class:`~lapenna_labs.training.Trainable` networks that are alike.

    A subclass has ``params`` (name -> array) and the checks ``_check_X(X, func)`` and
    ``_check_targets(y, n, func)``; it keeps its public methods (with their own docstrings
    and error-message names) and has them call the helpers below.
    """

    params: dict[str, np.ndarray]
    history: dict[str, list[float]] | None

    @property
    def n_params(self) -> int:
        """The number of trainable numbers (weights and biases)."""
        return sum(p.size for p in self.params.values())

    def _check_data(self, X: Any, y: Any, func: str) -> tuple[np.ndarray, Any]:
        # The inputs first: the targets' check needs the number of samples.
        X = self._check_X(X, func)  # type: ignore[attr-defined]
        return X, self._check_targets(y, X.shape[0], func)  # type: ignore[attr-defined]

    def _loss_and_grad_copies(
        self, X: Any, y: Any, func: str
    ) -> tuple[float, dict[str, np.ndarray]]:
        # batch_loss_and_grads writes into the same arrays every step: the public method
        # hands out copies, the caller's to keep.
        checked = self.check_data(X, y, func)  # type: ignore[attr-defined]
        loss, grads, _ = self.batch_loss_and_grads(*checked)  # type: ignore[attr-defined]
        return loss, {key: grad.copy() for key, grad in grads.items()}

    def _fit(self, X: Any, y: Any, func: str, options: dict[str, Any]) -> dict[str, list[float]]:
        # The history is kept on the network too, so a plot can be drawn after fit returns.
        self.history = training.fit(self, X, y, name=func, **options)  # type: ignore[arg-type]
        return self.history
