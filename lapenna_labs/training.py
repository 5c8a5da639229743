"""Mini-batch training for any model: batches, an optimizer, a progress bar, validation, history.

:func:`fit` is the training loop of the course, written once and kept apart from the models
(as PyTorch Lightning's ``Trainer.fit(model)`` is; Keras's ``Model.fit`` is the same loop
as a method): it trains the multilayer perceptron of week 4 (:class:`lapenna_labs.mlp.MLP`,
whose ``fit`` method calls this one) and any other model, a convolutional network say, that
follows the small protocol below::

    history = fit(model, x_train, y_train, epochs=5, batch_size=10, optimizer="sgd",
                  validation_data=(x_test, y_test))

The protocol
------------
A model is trainable (:class:`Trainable`) when it has

``params`` : dict of str to ndarray
    The trainable arrays. The optimizer updates them in place.
``is_classifier`` : bool
    Whether accuracy means anything for it (history then has ``"accuracy"``).
``check_data(X, y, func)`` -> ``(X, y)``
    Checks and converts a whole data set, raising a ``ValueError`` that starts with
    ``func``. It returns arrays with one row per sample, in the form the next two methods
    take. :func:`fit` calls it once per data set, not once per batch.
``batch_loss_and_grads(X, y, need_grads=True)`` -> ``(loss, grads, outputs)``
    For rows of checked data: the mean loss over the rows (a float), its gradient with
    respect to every parameter (a dict keyed like ``params``; it may be None when
    ``need_grads`` is False) and whatever ``batch_accuracy`` needs (e.g. the logits). It
    may trust its input, and it may return the same gradient arrays every call, since
    :func:`fit` hands them to the optimizer before the next batch. For a classifier,
    ``outputs`` is an array with one row per sample that the next call does not overwrite.
``batch_accuracy(outputs, y)`` -> float
    The fraction of correct predictions in those rows (classifiers only). :func:`fit`
    calls it once per epoch, on the outputs of all the epoch's batches stacked, and once on
    the validation set.

So a model checks its input once at its boundary and then runs its arithmetic on trusted
arrays: validating every array of every batch would cost more than the arithmetic of a small
network.

References
----------
.. [1] Goodfellow, Bengio and Courville, *Deep Learning*, MIT Press, 2016, section 8.1.3
   (batch and minibatch algorithms) and Algorithm 8.1 (stochastic gradient descent).
   https://www.deeplearningbook.org
.. [2] Keras, ``Model.fit``: https://keras.io/api/models/model_training_apis/
.. [3] PyTorch Lightning, ``Trainer``: https://lightning.ai/docs/pytorch/stable/common/trainer.html
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from lapenna_labs._validation import as_generator, check_positive_int
from lapenna_labs.data import minibatches
from lapenna_labs.optim import Optimizer, get_optimizer

__all__ = ["Trainable", "fit"]


@runtime_checkable
class Trainable(Protocol):
    """What :func:`fit` needs of a model (see the module's docstring for each member)."""

    params: dict[str, np.ndarray]
    is_classifier: bool

    def check_data(self, X: Any, y: Any, func: str) -> tuple[np.ndarray, np.ndarray]: ...

    def batch_loss_and_grads(
        self, X: np.ndarray, y: np.ndarray, need_grads: bool = True
    ) -> tuple[float, dict[str, np.ndarray] | None, Any]: ...

    def batch_accuracy(self, outputs: Any, y: np.ndarray) -> float: ...


_PROTOCOL = ("params", "is_classifier", "check_data", "batch_loss_and_grads", "batch_accuracy")


def fit(
    model: Trainable,
    X: Any,
    y: Any,
    epochs: int = 1,
    batch_size: int = 32,
    optimizer: str | Optimizer = "sgd",
    validation_data: tuple[Any, Any] | None = None,
    seed: int | np.random.Generator = 0,
    progress: bool = True,
    shuffle: bool = True,
    *,
    name: str = "fit",
) -> dict[str, list[float]]:
    r"""Train `model` with mini-batch gradient descent and return the history of every epoch.

    Each epoch visits the training set once in a random order (one permutation per epoch,
    drawn from `seed`), in batches of `batch_size` (the last one may be smaller), and takes
    one optimizer step per batch.

    Parameters
    ----------
    model : Trainable
        Any object with ``params``, ``is_classifier``, ``check_data``,
        ``batch_loss_and_grads`` and ``batch_accuracy`` (see the module's docstring).
    X : array_like, shape (N, ...)
        Training inputs, checked and converted once by ``model.check_data``.
    y : array_like, shape (N, ...)
        Training targets, one per row of `X`.
    epochs : int, default 1
    batch_size : int, default 32
        Keras's default; the lecture's example uses 10. At most N is used.
    optimizer : str or Optimizer, default "sgd"
        A name for :func:`lapenna_labs.optim.get_optimizer` (with its default
        hyperparameters: ``"sgd"`` is SGD with learning rate 0.01, like Keras's) or an
        optimizer object, which keeps its state between calls.
    validation_data : tuple (X_val, y_val), optional
        Evaluated once at the end of every epoch.
    seed : int or numpy.random.Generator, default 0
        Seeds the shuffling: the same seed visits the samples in the same orders.
    progress : bool, default True
        Show a tqdm progress bar: one tick per batch, the epoch's metrics as postfix.
    shuffle : bool, default True
        Visit the samples in a new random order every epoch (else in order).
    name : str, default "fit"
        The progress bar's label and the start of every error message (``"MLP.fit"``).

    Returns
    -------
    history : dict of str to list of float
        One entry per epoch: ``"loss"``, the mean of the epoch's batch losses weighted by
        batch size (as Keras reports it: the weights change during the epoch);
        ``"accuracy"`` (classifiers only), likewise and from the same forward passes; with
        `validation_data`, ``"val_loss"`` and ``"val_accuracy"`` of the whole validation
        set at the epoch's end.

    Raises
    ------
    TypeError
        If `model` lacks part of the protocol.
    ValueError
        For bad input (the model's ``check_data`` names the problem), or if the loss
        becomes infinite or NaN: training diverged, and the message says in which epoch.

    Notes
    -----
    An epoch with batches :math:`B_1, \dots, B_m` of the N samples takes the steps
    :math:`\theta \leftarrow \theta - \eta\, \nabla_\theta L_{B_j}(\theta)` (plain SGD; the
    other optimizers change the step) and reports the loss
    :math:`\sum_j |B_j|\, L_{B_j} / N`, each :math:`L_{B_j}` taken before its step.

    The optimizer's unchecked ``_update`` is used: the gradients come from checked data and
    have the parameters' shapes, and a diverging run is caught once per epoch, from the loss.

    Examples
    --------
    A softmax regression (one dense layer) written in a few lines follows the protocol:

    >>> import numpy as np
    >>> from lapenna_labs.losses import softmax_cross_entropy_with_grad
    >>> class SoftmaxRegression:
    ...     is_classifier = True
    ...     def __init__(self, n_in, n_classes):
    ...         self.params = {"W": np.zeros((n_in, n_classes)), "b": np.zeros(n_classes)}
    ...     def check_data(self, X, y, func):
    ...         return np.asarray(X, dtype=float), np.asarray(y)
    ...     def batch_loss_and_grads(self, X, y, need_grads=True):
    ...         logits = X @ self.params["W"] + self.params["b"]
    ...         loss, dz = softmax_cross_entropy_with_grad(logits, y)
    ...         return loss, {"W": X.T @ dz, "b": dz.sum(axis=0)}, logits
    ...     def batch_accuracy(self, logits, y):
    ...         return float(np.mean(logits.argmax(axis=1) == y))
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 2)); y = (X[:, 0] > 0).astype(int)
    >>> history = fit(SoftmaxRegression(2, 2), X, y, epochs=3, batch_size=10,
    ...               optimizer="sgd", progress=False)
    >>> sorted(history), len(history["loss"])
    (['accuracy', 'loss'], 3)
    >>> history["loss"][-1] < history["loss"][0]
    True
    """
    func = name
    missing = [member for member in _PROTOCOL if not hasattr(model, member)]
    if missing:
        raise TypeError(
            f"{func}: the model has no {', '.join(missing)}; a trainable model has "
            f"{', '.join(_PROTOCOL)} (see lapenna_labs.training)"
        )
    X, y = model.check_data(X, y, func)
    n = len(X)
    epochs = check_positive_int(epochs, name="epochs", func=func)
    batch_size = min(check_positive_int(batch_size, name="batch_size", func=func), n)
    try:
        opt = get_optimizer(optimizer)
    except ValueError as exc:
        raise ValueError(f"{func}: {exc}") from None
    rng = as_generator(seed, func=func)
    if validation_data is not None and (
        not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2
    ):
        raise ValueError(f"{func}: validation_data must be a tuple (X_val, y_val)")
    val = None if validation_data is None else model.check_data(*validation_data, func)

    classifier = bool(model.is_classifier)
    history: dict[str, list[float]] = {"loss": []}
    if classifier:
        history["accuracy"] = []
    if val is not None:
        history["val_loss"] = []
        if classifier:
            history["val_accuracy"] = []

    bar = _progress_bar(epochs, n, batch_size, func, progress)
    try:
        for epoch in range(1, epochs + 1):
            batches = minibatches(X, y, batch_size, rng=rng, shuffle=shuffle)
            loss, accuracy = _train_epoch(model, opt, batches, classifier, bar)
            _check_epoch_loss(loss, epoch, func, f"optimizer {opt!r}")
            history["loss"].append(loss)
            if classifier:
                history["accuracy"].append(accuracy)
            if val is not None:
                val_loss, _, outputs = model.batch_loss_and_grads(*val, need_grads=False)
                history["val_loss"].append(float(val_loss))
                if classifier:
                    history["val_accuracy"].append(float(model.batch_accuracy(outputs, val[1])))
            bar.set_postfix({k: f"{v[-1]:.4f}" for k, v in history.items()}, refresh=False)
    finally:
        bar.close()
    return history


def _progress_bar(epochs: int, n: int, batch_size: int, func: str, progress: bool) -> tqdm:
    """The tqdm bar of a training: one tick per batch of `batch_size` of `n` rows an epoch."""
    return tqdm(total=epochs * -(-n // batch_size), desc=func, unit="batch", disable=not progress)


def _check_epoch_loss(loss: float, epoch: int, func: str, settings: str) -> None:
    """Raise the ValueError of a diverged training unless `loss`, an epoch's mean, is finite.

    `settings` says what to lower (``"lr=0.01"``, ``"optimizer SGD(lr=0.1)"``).
    """
    if not math.isfinite(loss):
        raise ValueError(
            f"{func}: the loss became {loss} during epoch {epoch}: training diverged; "
            f"lower the learning rate ({settings})"
        )


def _train_epoch(
    model: Trainable,
    optimizer: Optimizer,
    batches: Iterable[tuple[np.ndarray, np.ndarray]],
    classifier: bool,
    bar: tqdm,
) -> tuple[float, float]:
    """One optimizer step per batch; the batch-size-weighted mean loss, and the accuracy.

    The accuracy over all the epoch's samples is the batch-size-weighted mean of the batch
    accuracies. It is computed once, from every batch's outputs kept during the epoch:
    counting per batch would cost a few percent of a small network's epoch.
    """
    params, step, batch_loss_and_grads = model.params, optimizer._update, model.batch_loss_and_grads
    loss_sum, seen = 0.0, 0
    outputs_seen: list[Any] = []
    targets_seen: list[np.ndarray] = []
    # A diverging run overflows; fit reports it once per epoch, not NumPy once per operation.
    with np.errstate(over="ignore", invalid="ignore"):
        for xb, yb in batches:
            loss, grads, outputs = batch_loss_and_grads(xb, yb)
            m = len(xb)
            loss_sum += loss * m
            seen += m
            if classifier:
                outputs_seen.append(outputs)
                targets_seen.append(yb)
            step(params, grads)
            bar.update()
        if not classifier:
            return loss_sum / seen, math.nan
        outputs, targets = np.concatenate(outputs_seen), np.concatenate(targets_seen)
        return loss_sum / seen, float(model.batch_accuracy(outputs, targets))
