"""lapenna_labs.rnn: finite differences for every backward, shapes and dtypes, errors,
truncated BPTT against a chunk-wise construction and torch's h.detach(), the masked temporal
cross-entropy against torch, embeddings, and vanishing/exploding gradients as a direction."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs import rnn
from lapenna_labs.gradcheck import check_layer_backward, numerical_gradient, relative_error
from lapenna_labs.losses import softmax_cross_entropy

pytestmark = pytest.mark.lab10

N, T, D, H = 3, 5, 4, 6
GRAD_TOL = 1e-7


def _seq(kind, rng, dtype=np.float64, n=N, t=T, d=D, h=H):
    x = rng.standard_normal((n, t, d)).astype(dtype)
    h0 = rng.standard_normal((n, h)).astype(dtype)
    p = rnn.init_rnn_params(kind, d, h, seed=rng, dtype=dtype)
    # larger than the default U(-1/sqrt(H), 1/sqrt(H)) so the gates are not all near 1/2
    return x, h0, {k: (3 * v).astype(dtype) for k, v in p.items()}


def _step(kind, rng, dtype=np.float64):
    x, h0, p = _seq(kind, rng, dtype)
    return x[:, 0], h0, p


# --------------------------------------------------------------------------------------------
# finite differences, float64
# --------------------------------------------------------------------------------------------


def _assert_small(errors):
    assert max(errors) < GRAD_TOL, errors


def test_rnn_step_backward_matches_finite_differences(rng):
    x, h, p = _step("rnn", rng)
    _assert_small(
        check_layer_backward(
            rnn.rnn_step_forward, rnn.rnn_step_backward, (x, h, p["Wx"], p["Wh"], p["b"])
        )
    )


def test_rnn_backward_matches_finite_differences(rng):
    x, h0, p = _seq("rnn", rng)
    _assert_small(
        check_layer_backward(rnn.rnn_forward, rnn.rnn_backward, (x, h0, p["Wx"], p["Wh"], p["b"]))
    )


def test_lstm_step_backward_matches_finite_differences(rng):
    x, h, p = _step("lstm", rng)
    c = rng.standard_normal(h.shape)

    def forward(x, h, c, Wx, Wh, b):
        h2, c2, cache = rnn.lstm_step_forward(x, h, c, Wx, Wh, b)
        return np.concatenate([h2, c2], axis=1), cache

    def backward(dout, cache):
        return rnn.lstm_step_backward(dout[:, :H], dout[:, H:], cache)

    _assert_small(check_layer_backward(forward, backward, (x, h, c, p["Wx"], p["Wh"], p["b"])))


def test_lstm_backward_matches_finite_differences(rng):
    x, h0, p = _seq("lstm", rng)
    c0 = rng.standard_normal(h0.shape)

    def forward(x, h0, Wx, Wh, b):
        return rnn.lstm_forward(x, h0, Wx, Wh, b, c0=c0)

    _assert_small(
        check_layer_backward(forward, rnn.lstm_backward, (x, h0, p["Wx"], p["Wh"], p["b"]))
    )


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_step_backward_matches_finite_differences(reset_after, rng):
    x, h, p = _step("gru", rng)

    def forward(*args):
        return rnn.gru_step_forward(*args, reset_after=reset_after)

    _assert_small(
        check_layer_backward(
            forward, rnn.gru_step_backward, (x, h, p["Wx"], p["Wh"], p["bx"], p["bh"])
        )
    )


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_backward_matches_finite_differences(reset_after, rng):
    x, h0, p = _seq("gru", rng)

    def forward(*args):
        return rnn.gru_forward(*args, reset_after=reset_after)

    _assert_small(
        check_layer_backward(forward, rnn.gru_backward, (x, h0, p["Wx"], p["Wh"], p["bx"], p["bh"]))
    )


def test_gru_variants_differ(rng):
    """A test of reset_after that could fail: the two forms are different functions."""
    x, h0, p = _seq("gru", rng)
    a, _ = rnn.gru_forward(x, h0, **p, reset_after=True)
    b, _ = rnn.gru_forward(x, h0, **p, reset_after=False)
    assert np.abs(a - b).max() > 1e-3
    # ... except when the recurrent n-block is zero: then (r h) Whn = r (h Whn) = 0
    q = dict(p, Wh=p["Wh"].copy(), bh=p["bh"].copy())
    q["Wh"][:, 2 * H :] = 0
    q["bh"][2 * H :] = 0
    a, _ = rnn.gru_forward(x, h0, **q, reset_after=True)
    b, _ = rnn.gru_forward(x, h0, **q, reset_after=False)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_embedding_backward_matches_finite_differences(rng):
    idx = rng.integers(0, 5, size=(3, 7))
    W = rng.standard_normal((5, 4))
    [err] = check_layer_backward(
        lambda W: rnn.embedding_forward(idx, W), rnn.embedding_backward, (W,)
    )
    assert err < GRAD_TOL


def test_temporal_cross_entropy_gradient_matches_finite_differences(rng):
    logits = rng.standard_normal((3, 4, 6))
    y = rng.integers(0, 6, size=(3, 4))
    mask = rng.random((3, 4)) < 0.6
    mask[0, 0] = True
    _, dlogits = rnn.temporal_softmax_cross_entropy(logits, y, mask)
    numeric = numerical_gradient(
        lambda z: rnn.temporal_softmax_cross_entropy(z, y, mask)[0], logits
    )
    assert relative_error(dlogits, numeric) < GRAD_TOL
    assert np.all(dlogits[~mask] == 0)


# --------------------------------------------------------------------------------------------
# shapes and dtypes
# --------------------------------------------------------------------------------------------


def _run_all(dtype, rng):
    """Every forward and backward in `dtype`: (name, array) pairs of everything returned."""
    out = []
    x, h0, p = _seq("rnn", rng, dtype)
    h, c = rnn.rnn_forward(x, h0, **p)
    out += [("rnn_forward", h)] + [("rnn_backward", g) for g in rnn.rnn_backward(h, c)]
    out += [("rnn_backward(truncate)", g) for g in rnn.rnn_backward(h, c, truncate=2)]
    hs, cs = rnn.rnn_step_forward(x[:, 0], h0, **p)
    out += [("rnn_step_forward", hs)] + [
        ("rnn_step_backward", g) for g in rnn.rnn_step_backward(hs, cs)
    ]
    x, h0, p = _seq("lstm", rng, dtype)
    h, c = rnn.lstm_forward(x, h0, **p)
    out += [("lstm_forward", h), ("lstm c", c.c)] + [
        ("lstm_backward", g) for g in rnn.lstm_backward(h, c)
    ]
    hs, cc, cs = rnn.lstm_step_forward(x[:, 0], h0, h0, **p)
    out += [("lstm_step_forward", hs), ("lstm_step c", cc)]
    out += [("lstm_step_backward", g) for g in rnn.lstm_step_backward(hs, cc, cs)]
    x, h0, p = _seq("gru", rng, dtype)
    for ra in (True, False):
        h, c = rnn.gru_forward(x, h0, **p, reset_after=ra)
        out += [("gru_forward", h)] + [("gru_backward", g) for g in rnn.gru_backward(h, c)]
        hs, cs = rnn.gru_step_forward(x[:, 0], h0, **p, reset_after=ra)
        out += [("gru_step_forward", hs)] + [
            ("gru_step_backward", g) for g in rnn.gru_step_backward(hs, cs)
        ]
    W = rng.standard_normal((7, 3)).astype(dtype)
    e, c = rnn.embedding_forward(rng.integers(0, 7, size=(2, 4)), W)
    out += [("embedding_forward", e), ("embedding_backward", rnn.embedding_backward(e, c))]
    _, dl = rnn.temporal_softmax_cross_entropy(e, rng.integers(0, 3, size=(2, 4)))
    out += [("temporal_softmax_cross_entropy", dl)]
    return out


def test_float32_in_float32_out(rng):
    results = _run_all(np.float32, rng)
    assert len(results) > 40
    for name, arr in results:
        assert arr.dtype == np.float32, name


def test_float64_in_float64_out(rng):
    for name, arr in _run_all(np.float64, rng):
        assert arr.dtype == np.float64, name


def test_shapes(rng):
    x, h0, p = _seq("lstm", rng, t=7)
    h, cache = rnn.lstm_forward(x, h0, **p)
    assert h.shape == cache.c.shape == (N, 7, H)
    dx, dh0, dWx, dWh, db = rnn.lstm_backward(h, cache)
    assert (dx.shape, dh0.shape, dWx.shape, dWh.shape, db.shape) == (
        (N, 7, D),
        (N, H),
        (D, 4 * H),
        (H, 4 * H),
        (4 * H,),
    )
    p = rnn.init_rnn_params("gru", D, H)
    assert {k: v.shape for k, v in p.items()} == {
        "Wx": (D, 3 * H),
        "Wh": (H, 3 * H),
        "bx": (3 * H,),
        "bh": (3 * H,),
    }
    assert rnn.init_rnn_params("rnn", D, H, dtype=np.float32)["Wx"].dtype == np.float32


def test_init_rnn_params_is_uniform_in_torch_bound():
    p = rnn.init_rnn_params("lstm", 30, 100, seed=3)
    bound = 1 / np.sqrt(100)
    for v in p.values():
        assert np.abs(v).max() <= bound
        assert np.abs(v).max() > 0.95 * bound  # uniform over the whole interval, not narrower
    assert abs(p["Wh"].std() - bound / np.sqrt(3)) < 0.05 * bound  # U(-a, a) has std a/sqrt(3)
    np.testing.assert_array_equal(rnn.init_rnn_params("lstm", 30, 100, seed=3)["Wx"], p["Wx"])


def test_lstm_c0_defaults_to_zeros(rng):
    x, h0, p = _seq("lstm", rng)
    a, _ = rnn.lstm_forward(x, h0, **p)
    b, _ = rnn.lstm_forward(x, h0, **p, c0=np.zeros_like(h0))
    c, _ = rnn.lstm_forward(x, h0, **p, c0=np.ones_like(h0))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

_x, _h = np.zeros((2, 3, 4)), np.zeros((2, 5))
_rp = rnn.init_rnn_params("rnn", 4, 5)
_lp = rnn.init_rnn_params("lstm", 4, 5)
_gp = rnn.init_rnn_params("gru", 4, 5)
_, _rcache = rnn.rnn_forward(_x, _h, **_rp)
_, _lcache = rnn.lstm_forward(_x, _h, **_lp)
_, _ecache = rnn.embedding_forward(np.zeros((2, 3), dtype=int), np.zeros((4, 2)))

BAD_CALLS = [
    (lambda: rnn.rnn_forward(_x[0], _h, **_rp), r"rnn_forward: x must be 3-D"),
    (lambda: rnn.rnn_forward(_x[:, :0], _h, **_rp), r"rnn_forward: x has no time steps"),
    (lambda: rnn.rnn_forward(_x, _h[:1], **_rp), r"rnn_forward: h0 has shape \(1, 5\)"),
    (
        lambda: rnn.rnn_forward(_x, _h, _rp["Wx"].T, _rp["Wh"], _rp["b"]),
        r"rnn_forward: Wx has shape",
    ),
    (
        lambda: rnn.rnn_forward(_x, _h, _rp["Wx"], _rp["Wh"], _rp["b"][:2]),
        r"rnn_forward: b has shape",
    ),
    (lambda: rnn.rnn_forward(_x.astype(complex), _h, **_rp), r"rnn_forward: x must hold real"),
    (lambda: rnn.rnn_forward(_x * np.nan, _h, **_rp), r"rnn_forward: x contains NaN"),
    (lambda: rnn.rnn_step_forward(_x, _h, **_rp), r"rnn_step_forward: x must be 2-D"),
    (
        lambda: rnn.lstm_forward(_x, _h, **_rp),
        r"lstm_forward: Wx has shape .* \(gates i, f, g, o\)",
    ),
    (lambda: rnn.lstm_forward(_x, _h, **_lp, c0=_h[:, :2]), r"lstm_forward: c0 has shape"),
    (lambda: rnn.lstm_step_forward(_x[:, 0], _h, _h[:1], **_lp), r"lstm_step_forward: c_prev"),
    (
        lambda: rnn.gru_forward(_x, _h, _lp["Wx"], _lp["Wh"], _lp["b"], _lp["b"]),
        r"gru_forward: Wx has shape \(4, 20\) but must be \(4, 15\) \(gates r, z, n\)",
    ),
    (
        lambda: rnn.gru_forward(_x, _h, _gp["Wx"], _gp["Wh"], _gp["bx"], _gp["bh"][:3]),
        r"gru_forward: bh",
    ),
    (
        lambda: rnn.gru_forward(_x, _h, **_gp, reset_after="yes"),
        r"gru_forward: reset_after must be",
    ),
    (lambda: rnn.rnn_backward(np.zeros((2, 3, 4)), _rcache), r"rnn_backward: dout has shape"),
    (
        lambda: rnn.rnn_backward(np.zeros((2, 3, 5)), _lcache),
        r"rnn_backward: cache must be the RNNCache",
    ),
    (lambda: rnn.rnn_backward(np.zeros((2, 3, 5)), _rcache, truncate=0), r"rnn_backward: truncate"),
    (
        lambda: rnn.rnn_backward(np.zeros((2, 3, 5)), _rcache, truncate=1.5),
        r"rnn_backward: truncate",
    ),
    (
        lambda: rnn.lstm_backward(np.zeros((2, 3, 5)), _rcache),
        r"lstm_backward: cache must be the LSTMCache",
    ),
    (
        lambda: rnn.gru_backward(np.zeros((2, 3, 5)), _lcache),
        r"gru_backward: cache must be the GRUCache",
    ),
    (lambda: rnn.lstm_step_backward(_h, _h, _lcache), r"lstm_step_backward: cache must be"),
    (
        lambda: rnn.embedding_forward(np.array([[0, 4]]), np.zeros((4, 2))),
        r"embedding_forward: idx holds 4",
    ),
    (
        lambda: rnn.embedding_forward(np.array([[-1, 0]]), np.zeros((4, 2))),
        r"embedding_forward: idx holds -1",
    ),
    (
        lambda: rnn.embedding_forward(np.array([[0.0, 1.0]]), np.zeros((4, 2))),
        r"embedding_forward: idx must hold integers",
    ),
    (
        lambda: rnn.embedding_forward(np.array([[0, 1]]), np.zeros(4)),
        r"embedding_forward: W must be 2-D",
    ),
    (
        lambda: rnn.embedding_backward(np.zeros((2, 3, 3)), _ecache),
        r"embedding_backward: dout has shape",
    ),
    (
        lambda: rnn.embedding_backward(np.zeros((2, 3, 2)), _rcache),
        r"embedding_backward: cache must be",
    ),
    (
        lambda: rnn.temporal_softmax_cross_entropy(np.zeros((2, 3)), np.zeros((2, 3), int)),
        r"logits must be 3-D",
    ),
    (
        lambda: rnn.temporal_softmax_cross_entropy(np.zeros((2, 3, 4)), np.zeros((2, 2), int)),
        r"y has shape",
    ),
    (
        lambda: rnn.temporal_softmax_cross_entropy(np.zeros((2, 3, 4)), np.full((2, 3), 4)),
        r"y holds 4 at a counted",
    ),
    (
        lambda: rnn.temporal_softmax_cross_entropy(np.zeros((2, 3, 4)), np.zeros((2, 3))),
        r"y must hold integers",
    ),
    (
        lambda: rnn.temporal_softmax_cross_entropy(
            np.zeros((2, 3, 4)), np.zeros((2, 3), int), np.ones((2, 3))
        ),
        r"mask must be boolean",
    ),
    (
        lambda: rnn.temporal_softmax_cross_entropy(
            np.zeros((2, 3, 4)), np.zeros((2, 3), int), np.ones((3, 2), bool)
        ),
        r"mask has shape",
    ),
    (
        lambda: rnn.temporal_softmax_cross_entropy(
            np.zeros((2, 3, 4)), np.zeros((2, 3), int), np.zeros((2, 3), bool)
        ),
        r"mask counts no position",
    ),
    (lambda: rnn.init_rnn_params("transformer", 3, 4), r"init_rnn_params: unknown kind"),
    (lambda: rnn.init_rnn_params("rnn", 0, 4), r"init_rnn_params: input_size must be a positive"),
    (
        lambda: rnn.init_rnn_params("rnn", 3, 4, dtype=int),
        r"init_rnn_params: dtype must be a float",
    ),
    (lambda: rnn.params_from_torch(object()), r"params_from_torch: layer must be a torch.nn.RNN"),
    (lambda: rnn.params_from_keras(object()), r"params_from_keras: layer must be a keras.layers"),
]


@pytest.mark.parametrize("call, message", BAD_CALLS, ids=[m for _, m in BAD_CALLS])
def test_bad_arguments_raise_a_named_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_masked_targets_outside_the_vocabulary_are_ignored():
    """Padding ids (e.g. -100, torch's ignore_index) may sit where the mask is False."""
    y = np.array([[1, -100]])
    loss, _ = rnn.temporal_softmax_cross_entropy(np.zeros((1, 2, 3)), y, np.array([[True, False]]))
    assert loss == pytest.approx(np.log(3))


# --------------------------------------------------------------------------------------------
# truncated BPTT
# --------------------------------------------------------------------------------------------


def _chunkwise_truncated(x, h0, p, dh, k):
    """Truncated BPTT built by hand: each chunk is its own full-BPTT problem, its h0 the
    previous chunk's last state taken as a constant (that is what detach means)."""
    T = x.shape[1]
    dx, grads, dh0, start_h = [], None, None, h0
    for s in range(0, T, k):
        h, cache = rnn.rnn_forward(x[:, s : s + k], start_h, **p)
        gx, gh0, *gw = rnn.rnn_backward(dh[:, s : s + k], cache)
        dx.append(gx)
        grads = gw if grads is None else [a + b for a, b in zip(grads, gw, strict=True)]
        dh0 = gh0 if s == 0 else dh0
        start_h = h[:, -1]
    return (np.concatenate(dx, axis=1), dh0, *grads)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_truncated_bptt_equals_chunkwise_construction(k, rng):
    x, h0, p = _seq("rnn", rng, t=7)
    h, cache = rnn.rnn_forward(x, h0, **p)
    dh = rng.standard_normal(h.shape)
    ours = rnn.rnn_backward(dh, cache, truncate=k)
    for a, b in zip(ours, _chunkwise_truncated(x, h0, p, dh, k), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    full = rnn.rnn_backward(dh, cache)
    if k >= 7:
        for a, b in zip(ours, full, strict=True):
            np.testing.assert_array_equal(a, b)
    else:  # truncation changes the recurrent weights' gradient
        assert relative_error(ours[3], full[3]) > 1e-3


@pytest.mark.parametrize("k", [2, 3])
def test_truncated_bptt_matches_torch_detach(k, rng, one_torch_thread):
    import torch

    x, h0, p = _seq("rnn", rng, t=7)
    h, cache = rnn.rnn_forward(x, h0, **p)
    dh = rng.standard_normal(h.shape)
    ours = rnn.rnn_backward(dh, cache, truncate=k)

    ts = {k_: torch.tensor(v, requires_grad=True) for k_, v in dict(x=x, h0=h0, **p).items()}
    state, outs = ts["h0"], []
    for t in range(x.shape[1]):
        if t > 0 and t % k == 0:
            state = state.detach()
        state = torch.tanh(ts["x"][:, t] @ ts["Wx"] + state @ ts["Wh"] + ts["b"])
        outs.append(state)
    (torch.stack(outs, dim=1) * torch.tensor(dh)).sum().backward()
    for ours_g, name in zip(ours, ["x", "h0", "Wx", "Wh", "b"], strict=True):
        np.testing.assert_allclose(ours_g, ts[name].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_truncated_dh0_is_zero_when_only_the_last_state_has_a_gradient(rng):
    x, h0, p = _seq("rnn", rng, t=6)
    h, cache = rnn.rnn_forward(x, h0, **p)
    dh = np.zeros_like(h)
    dh[:, -1] = 1.0
    assert np.all(rnn.rnn_backward(dh, cache, truncate=3)[1] == 0)
    assert np.abs(rnn.rnn_backward(dh, cache, truncate=6)[1]).max() > 0


# --------------------------------------------------------------------------------------------
# temporal cross-entropy and embedding against torch
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("masked", [False, True])
def test_temporal_cross_entropy_matches_torch_ignore_index(
    masked, dtype, tol, rng, one_torch_thread
):
    import torch
    import torch.nn.functional as F

    n, t, v = 4, 6, 7
    logits = (5 * rng.standard_normal((n, t, v))).astype(dtype)
    y = rng.integers(0, v, size=(n, t))
    mask = rng.random((n, t)) < 0.5 if masked else None
    if masked:
        mask[0, 0] = True
    loss, dlogits = rnn.temporal_softmax_cross_entropy(logits, y, mask)
    assert dlogits.dtype == dtype

    target = y.copy()
    if masked:
        target[~mask] = -100
    lt = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(lt.reshape(-1, v), torch.tensor(target.reshape(-1)), ignore_index=-100)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=tol["rtol"], abs=tol["atol"])
    np.testing.assert_allclose(dlogits, lt.grad.numpy(), **tol)


def test_temporal_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[[1000.0, 0.0, -1000.0]]])
    loss, d = rnn.temporal_softmax_cross_entropy(logits, np.array([[1]]))
    assert loss == pytest.approx(1000.0)
    assert np.all(np.isfinite(d))


def test_embedding_backward_accumulates_repeated_indices(rng, one_torch_thread):
    import torch

    idx = np.array([[0, 2, 2, 2], [2, 1, 0, 2]])
    W = rng.standard_normal((4, 3))
    out, cache = rnn.embedding_forward(idx, W)
    dout = rng.standard_normal(out.shape)
    dW = rnn.embedding_backward(dout, cache)
    onehot = np.eye(4)[idx.reshape(-1)]  # (NT, V): the embedding as a matrix product
    np.testing.assert_allclose(out.reshape(-1, 3), onehot @ W, rtol=0, atol=0)
    np.testing.assert_allclose(dW, onehot.T @ dout.reshape(-1, 3), rtol=1e-12, atol=1e-14)
    assert np.all(dW[3] == 0)  # never looked up

    Wt = torch.tensor(W, requires_grad=True)
    (torch.nn.functional.embedding(torch.tensor(idx), Wt) * torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(dW, Wt.grad.numpy(), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------
# vanishing and exploding gradients
# --------------------------------------------------------------------------------------------

LENGTHS = [1, 3, 6, 12]  # spread out: robust to the per-T draw of the inputs


def _dh0_norms(Wh, x_scale, h0_scale, rng):
    """||dh0|| for a loss on the last state only, for each T in LENGTHS."""
    Hn = Wh.shape[0]
    Wx = rng.standard_normal((2, Hn))
    b = np.zeros(Hn)
    h0 = h0_scale * rng.standard_normal((1, Hn))
    g = rng.standard_normal((1, Hn))
    g /= np.linalg.norm(g)
    norms = []
    for t in LENGTHS:
        x = x_scale * rng.standard_normal((1, t, 2))
        h, cache = rnn.rnn_forward(x, h0, Wx, Wh, b)
        dh = np.zeros_like(h)
        dh[:, -1] = g
        norms.append(np.linalg.norm(rnn.rnn_backward(dh, cache)[1]))
    return np.array(norms)


def _orthogonal(n, rng):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def test_gradients_vanish_for_a_contracting_Wh(rng):
    A = rng.standard_normal((8, 8))
    Wh = 0.5 * A / np.linalg.svd(A, compute_uv=False)[0]  # largest singular value 0.5
    norms = _dh0_norms(Wh, x_scale=0.5, h0_scale=0.5, rng=rng)
    assert np.all(np.diff(norms) < 0), norms  # the direction: shrinks as T grows
    # and at least as fast as the bound ||dh0|| <= sigma_max^T (|tanh'| <= 1)
    assert np.all(norms <= 0.5 ** np.array(LENGTHS) * (1 + 1e-12)), norms


def test_gradients_explode_for_an_expanding_Wh(rng):
    Wh = 3.0 * _orthogonal(8, rng)  # every singular value 3
    # tiny inputs and state: tanh stays in its linear part, where tanh' is about 1
    norms = _dh0_norms(Wh, x_scale=1e-9, h0_scale=1e-9, rng=rng)
    assert np.all(np.diff(norms) > 0), norms  # the direction: grows as T grows
    np.testing.assert_allclose(norms, 3.0 ** np.array(LENGTHS), rtol=1e-3)


# --------------------------------------------------------------------------------------------
# properties (hypothesis)
# --------------------------------------------------------------------------------------------

small = st.integers(min_value=1, max_value=4)


@settings(max_examples=25, deadline=None)
@given(
    n=small,
    t=st.integers(2, 6),
    d=small,
    h=small,
    split=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_sequence_forward_composes_over_a_split(n, t, d, h, split, seed):
    """Running [0, s) then [s, T) from the state reached is running [0, T): h_t depends on the
    past only through h_{t-1}."""
    split = min(split, t - 1)
    rng = np.random.default_rng(seed)
    for kind, fwd in [("rnn", rnn.rnn_forward), ("gru", rnn.gru_forward)]:
        x, h0, p = _seq(kind, rng, n=n, t=t, d=d, h=h)
        whole, _ = fwd(x, h0, **p)
        first, _ = fwd(x[:, :split], h0, **p)
        second, _ = fwd(x[:, split:], first[:, -1], **p)
        np.testing.assert_allclose(
            np.concatenate([first, second], axis=1), whole, rtol=1e-12, atol=1e-14
        )
    x, h0, p = _seq("lstm", rng, n=n, t=t, d=d, h=h)
    whole, _ = rnn.lstm_forward(x, h0, **p)
    first, c1 = rnn.lstm_forward(x[:, :split], h0, **p)
    second, _ = rnn.lstm_forward(x[:, split:], first[:, -1], **p, c0=c1.c[:, -1])
    np.testing.assert_allclose(
        np.concatenate([first, second], axis=1), whole, rtol=1e-12, atol=1e-14
    )


@settings(max_examples=25, deadline=None)
@given(n=small, t=small, v=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_unmasked_temporal_ce_is_the_flat_softmax_ce(n, t, v, seed):
    rng = np.random.default_rng(seed)
    logits = 3 * rng.standard_normal((n, t, v))
    y = rng.integers(0, v, size=(n, t))
    loss, _ = rnn.temporal_softmax_cross_entropy(logits, y)
    assert loss == pytest.approx(
        softmax_cross_entropy(logits.reshape(-1, v), y.reshape(-1)), rel=1e-12
    )
    # a mask keeping only some positions is the loss of those positions alone
    mask = rng.random((n, t)) < 0.5
    mask.flat[0] = True
    masked, _ = rnn.temporal_softmax_cross_entropy(logits, y, mask)
    assert masked == pytest.approx(softmax_cross_entropy(logits[mask], y[mask]), rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(t=st.integers(1, 6), k=st.integers(1, 8), seed=st.integers(0, 2**16))
def test_truncation_keeps_the_input_gradient_of_the_last_chunk(t, k, seed):
    """Within the last chunk nothing is cut, so dx there is the full-BPTT dx."""
    rng = np.random.default_rng(seed)
    x, h0, p = _seq("rnn", rng, t=t)
    h, cache = rnn.rnn_forward(x, h0, **p)
    dh = rng.standard_normal(h.shape)
    last = (t - 1) // k * k
    full = rnn.rnn_backward(dh, cache)[0]
    cut = rnn.rnn_backward(dh, cache, truncate=k)[0]
    np.testing.assert_allclose(cut[:, last:], full[:, last:], rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------


def test_docstring_examples_run():
    result = doctest.testmod(rnn, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
