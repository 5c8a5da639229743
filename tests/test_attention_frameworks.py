"""lapenna_labs.attention against PyTorch (SDPA, nn.MultiheadAttention, a torch transformer block)
and Keras (layers.MultiHeadAttention, differentiated with tf.GradientTape).

Weights are injected through the converters; no test depends on a framework's random stream.
"""

from __future__ import annotations

import numpy as np
import pytest
from _frameworks import torch_value_and_grads

import lapenna_labs.attention as A

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.lab10, pytest.mark.usefixtures("one_torch_thread")]


def _close(ours, theirs, dtype, factor=10):
    tol = {np.float32: (2e-4, 2e-5), np.float64: (1e-10, 1e-12)}[dtype]
    np.testing.assert_allclose(ours, theirs, rtol=tol[0] * factor, atol=tol[1] * factor)


# --------------------------------------------------------------------------------------------
# scaled dot-product attention against torch.nn.functional.scaled_dot_product_attention
# --------------------------------------------------------------------------------------------

SDPA_SHAPES = {
    "2d": ((5, 4), (5, 4), (5, 3)),
    "batched_heads": ((2, 3, 6, 4), (2, 3, 6, 4), (2, 3, 6, 5)),
    "tq_ne_tk": ((2, 3, 4, 8), (2, 3, 7, 8), (2, 3, 7, 2)),
    "tq_gt_tk": ((2, 6, 4), (2, 3, 4), (2, 3, 4)),
}


@pytest.mark.parametrize("mode", ["none", "causal", "mask", "mask_and_causal"])
@pytest.mark.parametrize("shapes", list(SDPA_SHAPES.values()), ids=list(SDPA_SHAPES))
def test_attention_matches_torch_sdpa(shapes, mode, dtype, rng):
    qs, ks, vs = shapes
    q, k, v = (rng.standard_normal(s).astype(dtype) for s in (qs, ks, vs))
    tq, tk = qs[-2], ks[-2]
    mask = None
    if "mask" in mode:
        mask = rng.random((tq, tk)) < 0.6
        mask[:, 0] = True
    causal = "causal" in mode
    out, cache = A.attention_forward(q, k, v, mask=mask, causal=causal)
    dout = rng.standard_normal(out.shape).astype(dtype)

    def sdpa(q, k, v):
        attn_mask = None if mask is None else torch.from_numpy(mask)
        if attn_mask is not None and causal:
            # SDPA refuses attn_mask with is_causal: build the same "and" by hand.
            tri = torch.ones(tq, tk, dtype=torch.bool).tril()
            return torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=attn_mask & tri
            )
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=causal
        )

    expected, grads = torch_value_and_grads(sdpa, [q, k, v], upstream=dout)
    assert out.dtype == dtype
    _close(out, expected, dtype)
    for ours, theirs in zip(A.attention_backward(dout, cache), grads, strict=True):
        assert ours.dtype == dtype
        _close(ours, theirs, dtype)


# --------------------------------------------------------------------------------------------
# multi-head attention against torch.nn.MultiheadAttention and keras.layers.MultiHeadAttention
# --------------------------------------------------------------------------------------------

D, HEADS = 8, 2
TORCH_DTYPES = {np.float32: "float32", np.float64: "float64"}


def _random_mha_params(rng, dtype, d=D):
    return {
        key: (rng.standard_normal((d, d) if key[0] == "W" else d) * 0.4).astype(dtype)
        for key in A.MHA_KEYS
    }


def _mha_case(case, rng):
    """Inputs and masks for one case: ours (True = may attend) and torch's (True = masked)."""
    n, tq = 2, 5
    tk = tq if case == "self_causal" else 6
    x_q = rng.standard_normal((n, tq, D))
    x_kv = x_q if case == "self_causal" else rng.standard_normal((n, tk, D))
    ours = {"mask": None, "causal": False}
    theirs = {"attn_mask": None, "key_padding_mask": None}
    if case == "self_causal":
        ours["causal"] = True
        theirs["attn_mask"] = ~np.tril(np.ones((tq, tk), dtype=bool))
    elif case == "key_padding":
        keep = np.ones((n, tk), dtype=bool)
        keep[0, 4:] = False  # the first sequence's last two keys are padding
        keep[1, 5:] = False
        ours["mask"] = keep[:, None, None, :]
        theirs["key_padding_mask"] = ~keep
    else:  # "attn_mask": one (Tq, Tk) mask for every sequence
        allowed = rng.random((tq, tk)) < 0.5
        allowed[:, 2] = True
        ours["mask"] = allowed
        theirs["attn_mask"] = ~allowed
    return x_q, x_kv, ours, theirs


@pytest.mark.parametrize("case", ["self_causal", "key_padding", "attn_mask"])
def test_mha_matches_torch_multihead_attention(case, dtype, rng):
    x_q, x_kv, ours, theirs = _mha_case(case, rng)
    x_q, x_kv = x_q.astype(dtype), x_kv.astype(dtype)
    p = _random_mha_params(rng, dtype)
    module = torch.nn.MultiheadAttention(
        D, HEADS, batch_first=True, dtype=getattr(torch, TORCH_DTYPES[dtype])
    )
    A.mha_params_to_torch(p, module)
    back = A.mha_params_from_torch(module)
    for key in A.MHA_KEYS:
        np.testing.assert_array_equal(back[key], p[key])

    out, cache = A.multihead_attention_forward(x_q, x_kv, p, HEADS, **ours)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx_q, dx_kv, grads = A.multihead_attention_backward(dout, cache)

    tq_ = torch.tensor(x_q, requires_grad=True)
    tkv = tq_ if x_kv is x_q else torch.tensor(x_kv, requires_grad=True)
    masks = {k: None if m is None else torch.from_numpy(m) for k, m in theirs.items()}
    t_out, weights = module(tq_, tkv, tkv, need_weights=False, **masks)
    assert weights is None
    (t_out * torch.from_numpy(dout)).sum().backward()
    _close(out, t_out.detach().numpy(), dtype)
    if x_kv is x_q:  # one tensor passed as query, key and value: its gradient is the sum
        _close(dx_q + dx_kv, tq_.grad.numpy(), dtype)
    else:
        _close(dx_q, tq_.grad.numpy(), dtype)
        _close(dx_kv, tkv.grad.numpy(), dtype)
    in_w = np.concatenate([grads["Wq"].T, grads["Wk"].T, grads["Wv"].T])
    in_b = np.concatenate([grads["bq"], grads["bk"], grads["bv"]])
    _close(in_w, module.in_proj_weight.grad.numpy(), dtype)
    _close(in_b, module.in_proj_bias.grad.numpy(), dtype)
    _close(grads["Wo"], module.out_proj.weight.grad.numpy().T, dtype)
    _close(grads["bo"], module.out_proj.bias.grad.numpy(), dtype)


def test_torch_masks_mean_the_opposite_so_passing_ours_unnegated_differs(rng):
    """A test that the negation above matters: torch's True is 'masked out'."""
    x_q, x_kv, ours, _ = _mha_case("attn_mask", rng)
    p = _random_mha_params(rng, np.float64)
    module = torch.nn.MultiheadAttention(D, HEADS, batch_first=True, dtype=torch.float64)
    A.mha_params_to_torch(p, module)
    out, _ = A.multihead_attention_forward(x_q, x_kv, p, HEADS, **ours)
    tq_, tkv = torch.from_numpy(x_q), torch.from_numpy(x_kv)
    same = module(tq_, tkv, tkv, need_weights=False, attn_mask=torch.from_numpy(~ours["mask"]))
    wrong = module(tq_, tkv, tkv, need_weights=False, attn_mask=torch.from_numpy(ours["mask"]))
    np.testing.assert_allclose(out, same[0].detach().numpy(), rtol=1e-10, atol=1e-12)
    assert np.abs(out - wrong[0].detach().numpy()).max() > 1e-3


def test_torch_converter_rejects_unsupported_modules():
    with pytest.raises(ValueError, match="kdim=4 and vdim=4 must equal embed_dim=8"):
        A.mha_params_from_torch(torch.nn.MultiheadAttention(8, 2, kdim=4, vdim=4))
    with pytest.raises(ValueError, match="add_bias_kv=True and add_zero_attn=True"):
        A.mha_params_from_torch(torch.nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(ValueError, match="add_bias_kv=True and add_zero_attn=True"):
        A.mha_params_from_torch(torch.nn.MultiheadAttention(8, 2, add_zero_attn=True))
    with pytest.raises(ValueError, match="must be a torch.nn.MultiheadAttention"):
        A.mha_params_from_torch(torch.nn.Linear(8, 8))
    no_bias = torch.nn.MultiheadAttention(8, 2, bias=False)
    p = A.mha_params_from_torch(no_bias)
    assert not np.any(p["bq"]) and not np.any(p["bo"])
    p["bo"] = p["bo"] + 1.0
    with pytest.raises(ValueError, match="has no biases"):
        A.mha_params_to_torch(p, no_bias)


def _keras_mha(dtype, rng, p):
    keras = pytest.importorskip("keras")
    layer = keras.layers.MultiHeadAttention(
        num_heads=HEADS, key_dim=D // HEADS, dtype=TORCH_DTYPES[dtype]
    )
    layer(np.zeros((1, 2, D), dtype), np.zeros((1, 3, D), dtype))  # build
    A.mha_params_to_keras(p, layer)
    return layer


@pytest.mark.parametrize("case", ["self_causal", "key_padding", "attn_mask"])
def test_mha_matches_keras_multihead_attention(case, dtype, rng):
    tf = pytest.importorskip("tensorflow")
    x_q, x_kv, ours, _ = _mha_case(case, rng)
    x_q, x_kv = x_q.astype(dtype), x_kv.astype(dtype)
    p = _random_mha_params(rng, dtype)
    layer = _keras_mha(dtype, rng, p)
    back = A.mha_params_from_keras(layer)
    for key in A.MHA_KEYS:
        np.testing.assert_array_equal(back[key], p[key])

    out, cache = A.multihead_attention_forward(x_q, x_kv, p, HEADS, **ours)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx_q, dx_kv, grads = A.multihead_attention_backward(dout, cache)

    n, tq, tk = x_q.shape[0], x_q.shape[1], x_kv.shape[1]
    allowed = np.ones((tq, tk), dtype=bool) if ours["mask"] is None else ours["mask"]
    if ours["causal"]:
        allowed = allowed & np.tril(np.ones((tq, tk), dtype=bool))
    keras_mask = np.broadcast_to(allowed, (n, 1, tq, tk))[:, 0]  # (N, Tq, Tk), True = attend
    t_q, t_kv = tf.constant(x_q), tf.constant(x_kv)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([t_q, t_kv])
        t_out = layer(t_q, t_kv, t_kv, attention_mask=tf.constant(keras_mask))
        target = tf.reduce_sum(t_out * tf.constant(dout))
    _close(out, np.asarray(t_out), dtype)
    g_q, g_kv = tape.gradient(target, [t_q, t_kv])
    _close(dx_q, np.asarray(g_q), dtype)
    _close(dx_kv, np.asarray(g_kv), dtype)
    g_w = tape.gradient(target, layer.trainable_weights)
    names = [w.path.split("/", 1)[1] for w in layer.trainable_weights]
    ours_by_name = {
        f"{part}/{kind}": grads[("W" if kind == "kernel" else "b") + key]
        for part, key in [("query", "q"), ("key", "k"), ("value", "v"), ("attention_output", "o")]
        for kind in ("kernel", "bias")
    }
    for name, g in zip(names, g_w, strict=True):
        _close(ours_by_name[name].ravel(), np.asarray(g).ravel(), dtype)


def test_keras_converter_checks_the_layer():
    keras = pytest.importorskip("keras")
    with pytest.raises(ValueError, match="not built yet"):
        A.mha_params_from_keras(keras.layers.MultiHeadAttention(num_heads=2, key_dim=4))
    wide = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)
    wide(np.zeros((1, 2, D), "float32"), np.zeros((1, 2, D), "float32"))
    with pytest.raises(ValueError, match="num_heads \\* key_dim = 2 \\* 8 must equal"):
        A.mha_params_from_keras(wide)
    with pytest.raises(ValueError, match="must be a keras.layers.MultiHeadAttention"):
        A.mha_params_from_keras(object())


# --------------------------------------------------------------------------------------------
# GELU and the pre-norm transformer block against an equivalent torch module
# --------------------------------------------------------------------------------------------


def test_gelu_matches_torch_tanh_gelu(dtype, rng):
    x = (rng.standard_normal((4, 9)) * 3).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    out, cache = A.gelu_forward(x)
    gelu = torch.nn.GELU(approximate="tanh")
    expected, (dx,) = torch_value_and_grads(gelu, [x], upstream=dout)
    assert out.dtype == dtype
    _close(out, expected, dtype)
    _close(A.gelu_backward(dout, cache), dx, dtype)


class TorchBlock(torch.nn.Module):
    """h = x + MHA(LN1(x)); out = h + fc2(GELU_tanh(fc1(LN2(h)))), as in the module."""

    def __init__(self, d, f, heads, dtype):
        super().__init__()
        kw = {"dtype": dtype}
        self.ln1 = torch.nn.LayerNorm(d, eps=1e-5, **kw)
        self.attn = torch.nn.MultiheadAttention(d, heads, batch_first=True, **kw)
        self.ln2 = torch.nn.LayerNorm(d, eps=1e-5, **kw)
        self.fc1 = torch.nn.Linear(d, f, **kw)
        self.gelu = torch.nn.GELU(approximate="tanh")
        self.fc2 = torch.nn.Linear(f, d, **kw)

    def forward(self, x, causal):
        t = x.shape[1]
        mask = ~torch.ones(t, t, dtype=torch.bool).tril() if causal else None  # True = masked
        u = self.ln1(x)
        h = x + self.attn(u, u, u, attn_mask=mask, need_weights=False)[0]
        return h + self.fc2(self.gelu(self.fc1(self.ln2(h))))

    def load(self, p):
        """Copy our parameter dict in (nn.Linear applies x @ weight.T)."""
        A.mha_params_to_torch(p["attn"], self.attn)
        with torch.no_grad():
            for ln, key in ((self.ln1, "ln1"), (self.ln2, "ln2")):
                ln.weight.copy_(torch.from_numpy(p[f"{key}_gamma"]))
                ln.bias.copy_(torch.from_numpy(p[f"{key}_beta"]))
            for fc, key in ((self.fc1, "1"), (self.fc2, "2")):
                fc.weight.copy_(torch.from_numpy(p[f"W{key}"].T.copy()))
                fc.bias.copy_(torch.from_numpy(p[f"b{key}"]))


def _random_block_params(d, f, rng, dtype):
    p = A.init_transformer_block_params(d, f, seed=rng, dtype=dtype)
    # perturb the norms and biases away from their (1, 0) initialisation, so all are tested
    for key in ("ln1_gamma", "ln1_beta", "ln2_gamma", "ln2_beta", "b1", "b2"):
        p[key] = (p[key] + 0.3 * rng.standard_normal(p[key].shape)).astype(dtype)
    p["attn"] = _random_mha_params(rng, dtype, d)
    return p


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_transformer_block_matches_torch_module(causal, dtype, rng):
    d, f, heads = 8, 12, 2
    p = _random_block_params(d, f, rng, dtype)
    x = rng.standard_normal((2, 5, d)).astype(dtype)
    block = TorchBlock(d, f, heads, getattr(torch, TORCH_DTYPES[dtype]))
    block.load(p)

    out, cache = A.transformer_block_forward(x, p, heads, causal=causal)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, grads = A.transformer_block_backward(dout, cache)

    tx = torch.tensor(x, requires_grad=True)
    t_out = block(tx, causal)
    (t_out * torch.from_numpy(dout)).sum().backward()
    assert out.dtype == dtype and dx.dtype == dtype
    _close(out, t_out.detach().numpy(), dtype)
    _close(dx, tx.grad.numpy(), dtype)
    expected = {
        "ln1_gamma": block.ln1.weight,
        "ln1_beta": block.ln1.bias,
        "ln2_gamma": block.ln2.weight,
        "ln2_beta": block.ln2.bias,
        "W1": block.fc1.weight,
        "b1": block.fc1.bias,
        "W2": block.fc2.weight,
        "b2": block.fc2.bias,
    }
    for key, param in expected.items():
        g = param.grad.numpy()
        _close(grads[key], g.T if key[0] == "W" else g, dtype)
    in_w = np.concatenate([grads["attn"][f"W{c}"].T for c in "qkv"])
    in_b = np.concatenate([grads["attn"][f"b{c}"] for c in "qkv"])
    _close(in_w, block.attn.in_proj_weight.grad.numpy(), dtype)
    _close(in_b, block.attn.in_proj_bias.grad.numpy(), dtype)
    _close(grads["attn"]["Wo"], block.attn.out_proj.weight.grad.numpy().T, dtype)
    _close(grads["attn"]["bo"], block.attn.out_proj.bias.grad.numpy(), dtype)
