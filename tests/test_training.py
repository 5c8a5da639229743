"""Tests for lapenna_labs.training.fit: batching, shuffling, history, validation, errors.

``fit`` must train any model that follows its protocol, so most tests use two small models
written here: a softmax regression (a classifier, gradients by hand) and a least-squares
linear regression (not a classifier). A recording wrapper shows which rows each batch held.
The MLP is trained too, and ``fit`` is compared with a hand-written loop of
``loss_and_grads`` and an optimizer's ``step``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lapenna_labs.mlp import MLP
from lapenna_labs.optim import SGD, Adam, Momentum, Nesterov
from lapenna_labs.training import Trainable, fit

pytestmark = pytest.mark.lab4


class SoftmaxRegression:
    """One dense layer and a softmax cross-entropy loss: logits = X W + b."""

    is_classifier = True

    def __init__(self, n_in: int, n_classes: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = {
            "W": rng.normal(0, 0.1, (n_in, n_classes)),
            "b": np.zeros(n_classes),
        }
        self.checks = 0

    def check_data(self, X, y, func):
        self.checks += 1
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        if X.ndim != 2 or len(X) != len(y):
            raise ValueError(f"{func}: X must be (N, D) with one label per row")
        return X, y

    def batch_loss_and_grads(self, X, y, need_grads=True):
        logits = X @ self.params["W"] + self.params["b"]
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(len(y))
        loss = float(-log_probs[rows, y].mean())
        if not need_grads:
            return loss, None, logits
        dz = np.exp(log_probs)
        dz[rows, y] -= 1
        dz /= len(y)
        return loss, {"W": X.T @ dz, "b": dz.sum(axis=0)}, logits

    def batch_accuracy(self, logits, y):
        return float(np.mean(logits.argmax(axis=1) == y))


class LinearRegression:
    """Least squares, loss = mean((X w + b - y)^2): a model that does not classify."""

    is_classifier = False

    def __init__(self, n_in: int) -> None:
        self.params = {"w": np.zeros(n_in), "b": np.zeros(1)}

    def check_data(self, X, y, func):
        return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def batch_loss_and_grads(self, X, y, need_grads=True):
        residual = X @ self.params["w"] + self.params["b"][0] - y
        loss = float(np.mean(residual**2))
        grad = 2 * residual / len(y)
        grads = {"w": X.T @ grad, "b": np.array([grad.sum()])} if need_grads else None
        return loss, grads, None

    def batch_accuracy(self, outputs, y):
        raise AssertionError("fit must not ask a regression model for its accuracy")


class Recorder:
    """Wraps a model: records the rows of every batch and the loss it returned."""

    def __init__(self, model) -> None:
        self.model = model
        self.params = model.params
        self.is_classifier = model.is_classifier
        self.batches: list[np.ndarray] = []
        self.losses: list[float] = []
        self.batch_accuracies: list[float] = []  # each training batch's, before its step
        self.accuracy_calls = 0

    def check_data(self, X, y, func):
        return self.model.check_data(X, y, func)

    def batch_loss_and_grads(self, X, y, need_grads=True):
        loss, grads, outputs = self.model.batch_loss_and_grads(X, y, need_grads)
        if need_grads:  # a training step, not the validation pass
            self.batches.append(X[:, 0].astype(int))
            self.losses.append(loss)
            if self.is_classifier:
                self.batch_accuracies.append(self.model.batch_accuracy(outputs, y))
        return loss, grads, outputs

    def batch_accuracy(self, outputs, y):
        self.accuracy_calls += 1
        return self.model.batch_accuracy(outputs, y)


def indexed_data(n: int, rng: np.random.Generator):
    """X whose first column is the row number (to see which rows a batch held), labels y."""
    X = np.column_stack([np.arange(n), rng.standard_normal((n, 2))])
    y = (X[:, 1] + 0.5 * X[:, 2] > 0).astype(int)
    return X, y


def test_the_models_here_follow_the_protocol():
    assert isinstance(SoftmaxRegression(2, 2), Trainable)
    assert isinstance(LinearRegression(2), Trainable)
    assert isinstance(MLP([2, 3, 2]), Trainable)


@pytest.mark.parametrize("batch_size", [1, 7, 10, 23, 100])
def test_every_sample_is_visited_once_per_epoch(batch_size, rng):
    n, epochs = 23, 3
    X, y = indexed_data(n, rng)
    model = Recorder(SoftmaxRegression(3, 2))
    fit(model, X, y, epochs=epochs, batch_size=batch_size, progress=False)
    per_epoch = -(-n // min(batch_size, n))
    assert len(model.batches) == epochs * per_epoch
    for epoch in range(epochs):
        batches = model.batches[epoch * per_epoch : (epoch + 1) * per_epoch]
        sizes = [len(b) for b in batches]
        assert all(size == min(batch_size, n) for size in sizes[:-1]) and sum(sizes) == n
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n))


def orders(model: Recorder, n: int) -> list[np.ndarray]:
    rows = np.concatenate(model.batches)
    return [rows[i : i + n] for i in range(0, len(rows), n)]


def test_shuffling_comes_from_the_seed(rng):
    n = 40
    X, y = indexed_data(n, rng)

    def run(seed, shuffle=True):
        model = Recorder(SoftmaxRegression(3, 2))
        fit(model, X, y, epochs=3, batch_size=8, seed=seed, shuffle=shuffle, progress=False)
        return orders(model, n)

    first, again, other = run(5), run(5), run(6)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert not np.array_equal(first[0], first[1])  # a new order every epoch
    # the documented contract: one permutation per epoch from numpy's default_rng(seed)
    generator = np.random.default_rng(5)
    for order in first:
        np.testing.assert_array_equal(order, generator.permutation(n))
    # a Generator is used as it is, so it continues where it was
    shared = np.random.default_rng(5)
    np.testing.assert_array_equal(run(shared)[0], first[0])
    np.testing.assert_array_equal(run(shared)[0], orders_after(5, n, skip=3))
    for order in run(5, shuffle=False):
        np.testing.assert_array_equal(order, np.arange(n))


def orders_after(seed: int, n: int, skip: int) -> np.ndarray:
    """The permutation a Generator seeded with `seed` draws after `skip` others."""
    generator = np.random.default_rng(seed)
    for _ in range(skip):
        generator.permutation(n)
    return generator.permutation(n)


def test_history_is_the_batch_size_weighted_mean(rng):
    n = 23
    X, y = indexed_data(n, rng)
    model = Recorder(SoftmaxRegression(3, 2))
    history = fit(model, X, y, epochs=2, batch_size=10, optimizer=SGD(lr=0.5), progress=False)
    assert set(history) == {"loss", "accuracy"}
    assert all(len(v) == 2 and all(isinstance(x, float) for x in v) for v in history.values())
    sizes = np.array([10, 10, 3])
    for epoch in range(2):
        losses = np.array(model.losses[3 * epoch : 3 * epoch + 3])
        accuracies = np.array(model.batch_accuracies[3 * epoch : 3 * epoch + 3])
        assert history["loss"][epoch] == pytest.approx(np.sum(sizes * losses) / n, rel=1e-12)
        assert history["accuracy"][epoch] == pytest.approx(np.sum(sizes * accuracies) / n)
    assert model.accuracy_calls == 2  # once per epoch, on all its batches' outputs
    # the unweighted mean differs: the last batch holds 3 samples, not 10
    assert history["loss"][0] != pytest.approx(np.mean(model.losses[:3]), rel=1e-9)


def test_validation_is_evaluated_at_the_end_of_every_epoch(rng):
    X, y = indexed_data(30, rng)
    X_val, y_val = indexed_data(12, rng)
    model = SoftmaxRegression(3, 2)
    history = fit(
        model, X, y, epochs=3, batch_size=5, validation_data=(X_val, y_val), progress=False
    )
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.values())
    val_loss, _, logits = model.batch_loss_and_grads(X_val, y_val, need_grads=False)
    assert history["val_loss"][-1] == val_loss  # with the weights after the last epoch
    assert history["val_accuracy"][-1] == model.batch_accuracy(logits, y_val)
    assert model.checks == 2  # the training and the validation set, each once


def test_a_regression_model_has_no_accuracy(rng):
    X = rng.standard_normal((40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    history = fit(
        LinearRegression(3),
        X,
        y,
        epochs=5,
        batch_size=8,
        optimizer=SGD(lr=0.1),
        validation_data=(X, y),
        progress=False,
    )
    assert set(history) == {"loss", "val_loss"}
    assert history["loss"][-1] < 0.1 * history["loss"][0]


def hand_written_loop(loss_and_grads, params, opt, X, y, *, epochs, batch_size, seed):
    """SGD written out: one numpy permutation per epoch, one step per batch; the epoch losses."""
    generator, n, losses = np.random.default_rng(seed), len(X), []
    for _ in range(epochs):
        order, total = generator.permutation(n), 0.0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            loss, grads = loss_and_grads(X[idx], y[idx])
            opt.step(params, grads)
            total += loss * len(idx)
        losses.append(total / n)
    return losses


def test_a_generic_model_trains_like_a_hand_written_loop(rng):
    """The softmax regression under fit equals the loop written out, step for step."""
    X, y = indexed_data(50, rng)
    X = X[:, 1:]
    model, manual = SoftmaxRegression(2, 2, seed=3), SoftmaxRegression(2, 2, seed=3)
    history = fit(
        model, X, y, epochs=3, batch_size=8, optimizer=Momentum(lr=0.5), seed=4, progress=False
    )
    losses = hand_written_loop(
        lambda xb, yb: manual.batch_loss_and_grads(xb, yb)[:2],
        manual.params,
        Momentum(lr=0.5),
        X,
        y,
        epochs=3,
        batch_size=8,
        seed=4,
    )
    for key in model.params:
        np.testing.assert_array_equal(model.params[key], manual.params[key])
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-14)
    assert history["loss"][-1] < history["loss"][0] and history["accuracy"][-1] > 0.9


@pytest.mark.parametrize(("dtype", "optimizer"), [(np.float32, Adam), (np.float64, SGD)])
def test_the_mlp_trains_like_a_loop_of_loss_and_grads_and_step(dtype, optimizer, rng):
    """MLP.fit (which is fit) equals the public loss_and_grads + optimizer.step, written out."""
    X = rng.standard_normal((50, 6)).astype(dtype)
    y = rng.integers(0, 3, 50)
    net, manual = MLP([6, 5, 3], seed=4, dtype=dtype), MLP([6, 5, 3], seed=4, dtype=dtype)
    history = net.fit(
        X, y, epochs=2, batch_size=8, optimizer=optimizer(lr=0.05), seed=7, progress=False
    )
    opt = optimizer(lr=0.05)
    losses = hand_written_loop(
        manual.loss_and_grads, manual.params, opt, X, y, epochs=2, batch_size=8, seed=7
    )
    for key in net.params:
        np.testing.assert_array_equal(net.params[key], manual.params[key], err_msg=key)
    np.testing.assert_allclose(history["loss"], losses, rtol=1e-12)
    assert opt.t == 14 and history["loss"][1] < history["loss"][0]


def test_a_diverging_loss_names_the_epoch(rng):
    class BlowsUp(SoftmaxRegression):
        """A finite loss in epoch 1, NaN from epoch 2 on."""

        calls = 0

        def batch_loss_and_grads(self, X, y, need_grads=True):
            loss, grads, logits = super().batch_loss_and_grads(X, y, need_grads)
            self.calls += 1
            return (math.nan if self.calls > 4 else loss), grads, logits

    X, y = indexed_data(20, rng)
    model = BlowsUp(3, 2)
    with pytest.raises(
        ValueError,
        match=r"^fit: the loss became nan during epoch 2: training "
        r"diverged; lower the learning rate \(optimizer SGD",
    ):
        fit(model, X, y, epochs=5, batch_size=5, progress=False)
    assert model.calls == 8  # it stopped after the epoch that diverged


def test_a_real_divergence_is_caught_without_numpy_warnings(rng, recwarn):
    """Least squares with too large a step: the weights grow geometrically to inf, then NaN."""
    X = 10 * rng.standard_normal((64, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    with pytest.raises(ValueError, match=r"^demo.fit: the loss became (inf|nan) during epoch"):
        fit(
            LinearRegression(3),
            X,
            y,
            epochs=50,
            batch_size=8,
            optimizer=SGD(lr=10.0),
            progress=False,
            name="demo.fit",
        )
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_progress_bar_on_and_off(rng, capsys):
    X, y = indexed_data(12, rng)
    fit(SoftmaxRegression(3, 2), X, y, epochs=2, batch_size=4, progress=True, name="demo.fit")
    err = capsys.readouterr().err
    assert "demo.fit" in err and "6/6" in err and "loss=" in err and "accuracy=" in err
    fit(SoftmaxRegression(3, 2), X, y, epochs=2, batch_size=4, progress=False)
    assert capsys.readouterr().err == ""


def test_an_optimizer_name_gets_its_defaults(rng):
    X, y = indexed_data(20, rng)
    by_name, by_object = SoftmaxRegression(3, 2), SoftmaxRegression(3, 2)
    fit(by_name, X, y, epochs=2, batch_size=5, optimizer="nesterov", progress=False)
    fit(by_object, X, y, epochs=2, batch_size=5, optimizer=Momentum(lr=0.01), progress=False)
    assert not np.array_equal(by_name.params["W"], by_object.params["W"])  # Nesterov != Momentum
    nesterov = SoftmaxRegression(3, 2)
    fit(nesterov, X, y, epochs=2, batch_size=5, optimizer=Nesterov(), progress=False)
    np.testing.assert_array_equal(by_name.params["W"], nesterov.params["W"])


class NoAccuracy:
    params: dict = {}
    is_classifier = True

    def check_data(self, X, y, func):
        return X, y

    def batch_loss_and_grads(self, X, y, need_grads=True):
        return 0.0, {}, None


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda X, y: fit(object(), X, y), TypeError, r"^fit: the model has no params, is_"),
        (lambda X, y: fit(NoAccuracy(), X, y), TypeError, r"has no batch_accuracy; a trainable"),
        (
            lambda X, y: fit(SoftmaxRegression(3, 2), X, y, epochs=0),
            ValueError,
            r"^fit: epochs must be a positive integer",
        ),
        (
            lambda X, y: fit(SoftmaxRegression(3, 2), X, y, batch_size=1.5),
            ValueError,
            r"^fit: batch_size must be a positive integer",
        ),
        (
            lambda X, y: fit(SoftmaxRegression(3, 2), X, y, optimizer="rmsprop"),
            ValueError,
            r"^fit: get_optimizer: unknown optimizer 'rmsprop'",
        ),
        (
            lambda X, y: fit(SoftmaxRegression(3, 2), X, y, seed=-1),
            ValueError,
            r"^fit: seed must be a non-negative int",
        ),
        (
            lambda X, y: fit(SoftmaxRegression(3, 2), X, y, validation_data=X),
            ValueError,
            r"^fit: validation_data must be a tuple",
        ),
        (
            lambda X, y: fit(SoftmaxRegression(3, 2), X, y[:3], name="demo.fit"),
            ValueError,
            r"^demo.fit: X must be \(N, D\)",
        ),
    ],
)
def test_bad_arguments_raise_a_named_error(call, error, match, rng):
    X, y = indexed_data(10, rng)
    with pytest.raises(error, match=match):
        call(X, y)
