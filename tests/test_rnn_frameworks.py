"""lapenna_labs.rnn against torch.nn.RNN/LSTM/GRU and keras.layers.SimpleRNN/LSTM/GRU.

Whole sequences, forward and backward (dx, dh0 and every weight gradient), in float32 and
float64, with the weights copied across through the converters in both directions (the
framework layer's weights are set from our arrays, never drawn from its random stream).
Both GRU variants are covered: torch's (reset_after=True) and Keras's reset_after=True/False.
"""

from __future__ import annotations

import numpy as np
import pytest

from lapenna_labs import rnn

pytestmark = pytest.mark.lab10

N, T, D, H = 3, 6, 4, 5
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TOLS = {
    np.float32: {"rtol": 2e-4, "atol": 2e-5},
    np.float64: {"rtol": 1e-10, "atol": 1e-12},
}


def _data(dtype, rng):
    x = rng.standard_normal((N, T, D)).astype(dtype)
    h0 = (0.5 * rng.standard_normal((N, H))).astype(dtype)
    dh = rng.standard_normal((N, T, H)).astype(dtype)
    return x, h0, dh


def _params(kind, dtype, rng):
    p = rnn.init_rnn_params(kind, D, H, seed=rng)
    return {k: (2 * v).astype(dtype) for k, v in p.items()}  # beyond the linear regime


def _ours(kind, x, h0, p, dh, reset_after=True):
    """Our forward and backward: h and a dict of gradients by parameter name."""
    if kind == "rnn":
        h, cache = rnn.rnn_forward(x, h0, **p)
        grads = rnn.rnn_backward(dh, cache)
    elif kind == "lstm":
        h, cache = rnn.lstm_forward(x, h0, **p)
        grads = rnn.lstm_backward(dh, cache)
    else:
        h, cache = rnn.gru_forward(x, h0, **p, reset_after=reset_after)
        grads = rnn.gru_backward(dh, cache)
    names = ["x", "h0", "Wx", "Wh", *(["bx", "bh"] if kind == "gru" else ["b"])]
    return h, dict(zip(names, grads, strict=True))


def _assert_close(ours, theirs, tol, what):
    np.testing.assert_allclose(ours, theirs, err_msg=what, **tol)


# --------------------------------------------------------------------------------------------
# PyTorch
# --------------------------------------------------------------------------------------------


def _torch_layer(kind, dtype):
    import torch

    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    return cls(D, H, batch_first=True, dtype=tdtype)


def _inject_raw_torch(layer, kind, dtype, rng):
    """Set torch's own parameters (separate b_ih, b_hh) from NumPy draws."""
    import torch

    GH = GATES[kind] * H
    with torch.no_grad():
        for name, shape in [
            ("weight_ih_l0", (GH, D)),
            ("weight_hh_l0", (GH, H)),
            ("bias_ih_l0", (GH,)),
            ("bias_hh_l0", (GH,)),
        ]:
            getattr(layer, name).copy_(
                torch.from_numpy(rng.uniform(-0.8, 0.8, shape).astype(dtype))
            )


@pytest.mark.parametrize("direction", ["to_torch", "from_torch"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_matches_torch_forward_and_backward(kind, direction, dtype, rng, one_torch_thread):
    import torch

    layer = _torch_layer(kind, dtype)
    if direction == "to_torch":
        p = _params(kind, dtype, rng)
        rnn.params_to_torch(p, layer)
    else:
        _inject_raw_torch(layer, kind, dtype, rng)
        p = rnn.params_from_torch(layer)
        assert all(v.dtype == dtype for v in p.values())
    x, h0, dh = _data(dtype, rng)
    h, grads = _ours(kind, x, h0, p, dh)
    assert h.dtype == dtype and all(g.dtype == dtype for g in grads.values())

    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    state = (h0t, torch.zeros_like(h0t)) if kind == "lstm" else h0t
    out, _ = layer(xt, state)
    (out * torch.tensor(dh)).sum().backward()

    tol = TOLS[dtype]
    _assert_close(h, out.detach().numpy(), tol, "h")
    _assert_close(grads["x"], xt.grad.numpy(), tol, "dx")
    _assert_close(grads["h0"], h0t.grad.numpy()[0], tol, "dh0")
    _assert_close(grads["Wx"], layer.weight_ih_l0.grad.numpy().T, tol, "dWx")
    _assert_close(grads["Wh"], layer.weight_hh_l0.grad.numpy().T, tol, "dWh")
    if kind == "gru":
        _assert_close(grads["bx"], layer.bias_ih_l0.grad.numpy(), tol, "dbx")
        _assert_close(grads["bh"], layer.bias_hh_l0.grad.numpy(), tol, "dbh")
    else:  # b = b_ih + b_hh: both get the gradient of b
        _assert_close(grads["b"], layer.bias_ih_l0.grad.numpy(), tol, "db (b_ih)")
        _assert_close(grads["b"], layer.bias_hh_l0.grad.numpy(), tol, "db (b_hh)")


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_torch_round_trip(kind, rng, one_torch_thread):
    layer = _torch_layer(kind, np.float64)
    p = _params(kind, np.float64, rng)
    rnn.params_to_torch(p, layer)
    back = rnn.params_from_torch(layer)
    assert set(back) == set(p)
    for k in p:
        np.testing.assert_array_equal(back[k], p[k])
    if kind != "gru":  # the RNN/LSTM bias goes to b_ih, b_hh is zero
        assert np.all(layer.bias_hh_l0.detach().numpy() == 0)
    # a copy, not a view: changing the layer afterwards leaves the dict alone
    _inject_raw_torch(layer, kind, np.float64, rng)
    np.testing.assert_array_equal(back["Wx"], p["Wx"])


def test_torch_float32_layer_receives_float64_params(rng, one_torch_thread):
    layer = _torch_layer("lstm", np.float32)
    p = _params("lstm", np.float64, rng)
    rnn.params_to_torch(p, layer)
    assert layer.weight_ih_l0.dtype.is_floating_point and layer.weight_ih_l0.element_size() == 4
    back = rnn.params_from_torch(layer)
    assert back["Wx"].dtype == np.float32
    np.testing.assert_allclose(back["Wx"], p["Wx"], rtol=1e-6)


def test_torch_layer_without_bias(rng, one_torch_thread):
    import torch

    layer = torch.nn.GRU(D, H, bias=False, batch_first=True, dtype=torch.float64)
    p = rnn.params_from_torch(layer)
    assert np.all(p["bx"] == 0) and np.all(p["bh"] == 0)
    rnn.params_to_torch(p, layer)  # zero biases are fine
    p["bx"][0] = 1.0
    with pytest.raises(ValueError, match="params_to_torch: layer has bias=False"):
        rnn.params_to_torch(p, layer)


def _bad_torch_layers():
    import torch

    return [
        (torch.nn.RNN(D, H, num_layers=2), "num_layers=2"),
        (torch.nn.GRU(D, H, bidirectional=True), "bidirectional"),
        (torch.nn.LSTM(D, H, proj_size=2), "proj_size=2"),
        (torch.nn.RNN(D, H, nonlinearity="relu"), "nonlinearity='relu'"),
        (torch.nn.Linear(D, H), "must be a torch.nn.RNN, LSTM or GRU, got Linear"),
    ]


def test_unsupported_torch_layers_raise(one_torch_thread):
    for layer, message in _bad_torch_layers():
        with pytest.raises(ValueError, match=f"params_from_torch: .*{message}"):
            rnn.params_from_torch(layer)
        with pytest.raises(ValueError, match=f"params_to_torch: .*{message}"):
            rnn.params_to_torch({}, layer)


def test_params_to_torch_checks_the_params(rng, one_torch_thread):
    layer = _torch_layer("lstm", np.float64)
    with pytest.raises(
        ValueError, match=r"params_to_torch: params for a torch LSTM must have keys"
    ):
        rnn.params_to_torch(_params("gru", np.float64, rng), layer)
    p = rnn.init_rnn_params("lstm", D + 1, H)
    with pytest.raises(ValueError, match=r"params_to_torch: params\['Wx'\] has shape \(5, 20\)"):
        rnn.params_to_torch(p, layer)


# --------------------------------------------------------------------------------------------
# Keras (TensorFlow backend)
# --------------------------------------------------------------------------------------------

KERAS_CASES = [("rnn", True), ("lstm", True), ("gru", True), ("gru", False)]
KERAS_IDS = ["SimpleRNN", "LSTM", "GRU-reset_after", "GRU-reset_before"]


def _keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def _keras_layer(kind, reset_after, dtype, **kwargs):
    keras = _keras()
    name = np.dtype(dtype).name
    if kind == "rnn":
        layer = keras.layers.SimpleRNN(H, return_sequences=True, dtype=name, **kwargs)
    elif kind == "lstm":
        layer = keras.layers.LSTM(H, return_sequences=True, dtype=name, **kwargs)
    else:
        layer = keras.layers.GRU(
            H, return_sequences=True, reset_after=reset_after, dtype=name, **kwargs
        )
    layer.build((None, None, D))
    return layer


@pytest.mark.parametrize("direction", ["to_keras", "from_keras"])
@pytest.mark.parametrize("kind, reset_after", KERAS_CASES, ids=KERAS_IDS)
def test_matches_keras_forward_and_backward(kind, reset_after, direction, dtype, rng):
    _keras()
    import tensorflow as tf

    layer = _keras_layer(kind, reset_after, dtype)
    if direction == "to_keras":
        p = _params(kind, dtype, rng)
        rnn.params_to_keras(p, layer)
        if kind == "gru" and not reset_after:  # its one bias holds bx + bh
            p = {**p, "bx": p["bx"] + p["bh"], "bh": np.zeros_like(p["bh"])}
    else:
        layer.set_weights(
            [rng.uniform(-0.8, 0.8, w.shape).astype(dtype) for w in layer.get_weights()]
        )
        p = rnn.params_from_keras(layer)
    x, h0, dh = _data(dtype, rng)
    h, grads = _ours(kind, x, h0, p, dh, reset_after=reset_after)

    xt, h0t = tf.constant(x), tf.constant(h0)
    state = [h0t, tf.zeros_like(h0t)] if kind == "lstm" else [h0t]
    kernel, recurrent, bias = layer.trainable_weights
    with tf.GradientTape() as tape:
        tape.watch([xt, h0t])
        out = layer(xt, initial_state=state)
        loss = tf.reduce_sum(out * tf.constant(dh))
    gx, gh0, gk, gr, gb = (
        np.asarray(g) for g in tape.gradient(loss, [xt, h0t, kernel, recurrent, bias])
    )
    tol = TOLS[dtype]
    _assert_close(h, np.asarray(out), tol, "h")
    _assert_close(grads["x"], gx, tol, "dx")
    _assert_close(grads["h0"], gh0, tol, "dh0")
    if kind != "gru":
        _assert_close(grads["Wx"], gk, tol, "dWx")
        _assert_close(grads["Wh"], gr, tol, "dWh")
        _assert_close(grads["b"], gb, tol, "db")
        return

    # Keras's GRU blocks are (z, r, h): reorder its gradients to (r, z, n)
    def swap(a):
        return np.concatenate([a[..., H : 2 * H], a[..., :H], a[..., 2 * H :]], axis=-1)

    _assert_close(grads["Wx"], swap(gk), tol, "dWx")
    _assert_close(grads["Wh"], swap(gr), tol, "dWh")
    if reset_after:
        _assert_close(grads["bx"], swap(gb[0]), tol, "dbx")
        _assert_close(grads["bh"], swap(gb[1]), tol, "dbh")
    else:  # bx and bh only enter as their sum: both get the single bias's gradient
        _assert_close(grads["bx"], swap(gb), tol, "dbx")
        _assert_close(grads["bh"], swap(gb), tol, "dbh")


@pytest.mark.parametrize("kind, reset_after", KERAS_CASES, ids=KERAS_IDS)
def test_keras_round_trip(kind, reset_after, rng):
    layer = _keras_layer(kind, reset_after, np.float64)
    p = _params(kind, np.float64, rng)
    if kind == "gru" and not reset_after:
        p["bh"][:] = 0  # the layer has one bias: bh = 0 is what comes back
    rnn.params_to_keras(p, layer)
    back = rnn.params_from_keras(layer)
    assert set(back) == set(p)
    for k in p:
        np.testing.assert_array_equal(back[k], p[k])
    if kind == "gru":  # the reordering is really there: Keras's first block is z, ours r
        np.testing.assert_array_equal(layer.get_weights()[0][:, :H], p["Wx"][:, H : 2 * H])


def test_keras_reset_before_gru_folds_the_recurrent_bias(rng):
    """bx + bh into one bias changes nothing: same forward, ours with both and Keras's."""
    _keras()
    layer = _keras_layer("gru", False, np.float64)
    p = _params("gru", np.float64, rng)
    rnn.params_to_keras(p, layer)
    x, h0, _ = _data(np.float64, rng)
    ours, _ = rnn.gru_forward(x, h0, **p, reset_after=False)
    theirs = np.asarray(layer(x, initial_state=[h0]))
    np.testing.assert_allclose(ours, theirs, **TOLS[np.float64])


def test_unsupported_keras_layers_raise():
    keras = _keras()
    unbuilt = keras.layers.LSTM(H)
    cases = [
        (_keras_layer("rnn", True, np.float64, activation="relu"), "activation 'relu'"),
        (
            _keras_layer("lstm", True, np.float64, recurrent_activation="hard_sigmoid"),
            "recurrent_activation 'hard_sigmoid'",
        ),
        (_keras_layer("gru", True, np.float64, go_backwards=True), "go_backwards=True"),
        (unbuilt, "not built"),
        (keras.layers.Bidirectional(keras.layers.LSTM(H)), "got Bidirectional"),
        (keras.layers.Dense(H), "got Dense"),
    ]
    for layer, message in cases:
        with pytest.raises(ValueError, match=f"params_from_keras: .*{message}"):
            rnn.params_from_keras(layer)
        with pytest.raises(ValueError, match=f"params_to_keras: .*{message}"):
            rnn.params_to_keras({}, layer)


def test_keras_layer_without_bias(rng):
    layer = _keras_layer("lstm", True, np.float64, use_bias=False)
    p = rnn.params_from_keras(layer)
    assert np.all(p["b"] == 0)
    rnn.params_to_keras(p, layer)
    p["b"][0] = 1.0
    with pytest.raises(ValueError, match="params_to_keras: layer has use_bias=False"):
        rnn.params_to_keras(p, layer)
