"""lapenna_labs.attention against finite differences, explicit constructions and known properties.

The framework comparisons (PyTorch, Keras) are in test_attention_frameworks.py.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lapenna_labs.attention as A
from lapenna_labs.gradcheck import check_layer_backward

# An overflow or invalid-value warning from NumPy means an unstable formula: fail on it.
pytestmark = [pytest.mark.lab10, pytest.mark.filterwarnings("error::RuntimeWarning")]


def _explicit_attention(q, k, v, allowed):
    """softmax(QK^T / sqrt(d)) V written out with -inf for the masked scores (no shortcuts)."""
    d = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    scores = np.where(allowed, scores, -np.inf)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    return p @ v, p


# --------------------------------------------------------------------------------------------
# scaled dot-product attention
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
@pytest.mark.parametrize("shape", [((4, 3), (5, 3), 2), ((2, 3, 4, 3), (2, 3, 6, 3), 5)])
def test_attention_backward_matches_finite_differences(shape, causal, rng):
    (qs, ks, dv) = shape
    q = rng.standard_normal(qs)
    k = rng.standard_normal(ks)
    v = rng.standard_normal((*ks[:-1], dv))
    errors = check_layer_backward(
        lambda q, k, v: A.attention_forward(q, k, v, causal=causal), A.attention_backward, (q, k, v)
    )
    assert max(errors) < 1e-8, errors


def test_attention_backward_with_a_mask_matches_finite_differences(rng):
    q, k, v = (rng.standard_normal((2, 4, 3)) for _ in range(3))
    mask = rng.random((2, 4, 4)) < 0.6
    mask[..., 0] = True  # every query may attend to something
    errors = check_layer_backward(
        lambda q, k, v: A.attention_forward(q, k, v, mask=mask), A.attention_backward, (q, k, v)
    )
    assert max(errors) < 1e-8, errors


def test_boolean_mask_and_causal_agree_with_an_explicit_minus_infinity(rng):
    q = rng.standard_normal((2, 5, 4))
    k = rng.standard_normal((2, 7, 4))
    v = rng.standard_normal((2, 7, 3))
    mask = rng.random((5, 7)) < 0.5
    mask[:, 0] = True
    i, j = np.indices((5, 7))
    for kwargs, allowed in [
        ({"mask": mask}, mask),
        ({"causal": True}, j <= i),
        ({"mask": mask, "causal": True}, mask & (j <= i)),
    ]:
        out, cache = A.attention_forward(q, k, v, **kwargs)
        expected, p = _explicit_attention(q, k, v, allowed)
        np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(cache.weights, p, rtol=1e-12, atol=1e-15)
        assert np.all(cache.weights[..., ~allowed] == 0)


def test_causal_is_top_left_aligned_when_tq_differs_from_tk(rng):
    q = rng.standard_normal((3, 2))
    k = rng.standard_normal((5, 2))
    _, cache = A.attention_forward(q, k, k, causal=True)
    np.testing.assert_array_equal(cache.weights > 0, np.tril(np.ones((3, 5), dtype=bool)))


def test_a_query_row_with_nothing_to_attend_raises(rng):
    q = rng.standard_normal((2, 3, 4))
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False
    with pytest.raises(ValueError, match=r"attention_forward: query row \(0, 1\) may attend"):
        A.attention_forward(q, q, q, mask=mask)
    # causal and a mask that only allows the last key: the first query has nothing left
    last = np.zeros((3, 3), dtype=bool)
    last[:, -1] = True
    with pytest.raises(ValueError, match="may attend to no key"):
        A.attention_forward(q, q, q, mask=last, causal=True)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: A.attention_forward(x, x[..., :2], x), "q has 3 features but k has 2"),
        (lambda x: A.attention_forward(x, x, x[:, :2]), "k has 4 keys but v has 2 values"),
        (lambda x: A.attention_forward(x, x[:1], x[:1]), "same leading axes"),
        (lambda x: A.attention_forward(x[0, 0], x, x), "at least 2-D"),
        (lambda x: A.attention_forward(x, x, x, mask=np.ones((4, 4))), "must be a boolean"),
        (
            lambda x: A.attention_forward(x, x, x, mask=np.ones((3, 4), dtype=bool)),
            "does not broadcast",
        ),
        (lambda x: A.attention_forward(x, x, x, causal=1), "causal must be True or False"),
        (lambda x: A.attention_backward(x, (x, x, x)), "AttentionCache returned by"),
        (
            lambda x: A.attention_backward(x[:, :2], A.attention_forward(x, x, x)[1]),
            "dout has shape",
        ),
    ],
)
def test_bad_arguments_raise_a_named_error(call, message, rng):
    with pytest.raises(ValueError, match=message):
        call(rng.standard_normal((2, 4, 3)))


def test_shapes_and_dtypes(dtype, rng):
    q = rng.standard_normal((2, 3, 5, 4)).astype(dtype)
    k = rng.standard_normal((2, 3, 6, 4)).astype(dtype)
    v = rng.standard_normal((2, 3, 6, 7)).astype(dtype)
    out, cache = A.attention_forward(q, k, v, causal=True)
    assert out.shape == (2, 3, 5, 7) and out.dtype == dtype
    assert cache.weights.shape == (2, 3, 5, 6) and cache.weights.dtype == dtype
    grads = A.attention_backward(np.ones_like(out), cache)
    for g, x in zip(grads, (q, k, v), strict=True):
        assert g.shape == x.shape and g.dtype == dtype


def test_softmax_is_stable_for_huge_scores():
    q = np.array([[1e4, 0.0]])
    k = np.array([[1e4, 0.0], [-1e4, 0.0]])
    out, cache = A.attention_forward(q, k, np.array([[1.0], [2.0]]))
    np.testing.assert_array_equal(cache.weights, [[1.0, 0.0]])
    np.testing.assert_array_equal(out, [[1.0]])


@settings(max_examples=30, deadline=None)
@given(
    tq=st.integers(1, 5),
    tk=st.integers(1, 5),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_weights_are_a_distribution_and_output_a_convex_combination(tq, tk, d, seed):
    r = np.random.default_rng(seed)
    q, k = r.standard_normal((tq, d)) * 3, r.standard_normal((tk, d)) * 3
    v = r.standard_normal((tk, 2))
    out, cache = A.attention_forward(q, k, v)
    np.testing.assert_allclose(cache.weights.sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(cache.weights >= 0)
    assert np.all(out <= v.max(axis=0) + 1e-12) and np.all(out >= v.min(axis=0) - 1e-12)


def test_docstring_examples_run():
    result = doctest.testmod(A, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# --------------------------------------------------------------------------------------------
# multi-head attention
# --------------------------------------------------------------------------------------------


def _random_mha_params(d, rng, dtype=np.float64):
    return {
        key: (rng.standard_normal((d, d) if key[0] == "W" else d) * 0.5).astype(dtype)
        for key in A.MHA_KEYS
    }


@pytest.mark.parametrize("mode", ["self_causal", "cross_mask"])
def test_mha_backward_matches_finite_differences(mode, rng):
    d, heads = 6, 3
    x_q = rng.standard_normal((2, 4, d))
    x_kv = x_q if mode == "self_causal" else rng.standard_normal((2, 5, d))
    mask = None
    if mode == "cross_mask":
        mask = rng.random((2, 1, 4, 5)) < 0.6
        mask[..., 0] = True
    p = _random_mha_params(d, rng)

    def forward(x_q, x_kv, *weights):
        params = dict(zip(A.MHA_KEYS, weights, strict=True))
        return A.multihead_attention_forward(
            x_q, x_kv, params, heads, mask=mask, causal=mode == "self_causal"
        )

    def backward(dout, cache):
        dx_q, dx_kv, grads = A.multihead_attention_backward(dout, cache)
        return (dx_q, dx_kv, *(grads[key] for key in A.MHA_KEYS))

    inputs = (x_q, x_kv.copy(), *(p[key] for key in A.MHA_KEYS))
    errors = check_layer_backward(forward, backward, inputs)
    # bk shifts every score of a query row by the same q . bk, which the softmax ignores: its
    # true gradient is 0, so the relative error compares rounding noise with rounding noise.
    bk = 2 + A.MHA_KEYS.index("bk")
    assert max(e for i, e in enumerate(errors) if i != bk) < 1e-7, errors
    _, cache = forward(*inputs)
    dbk = A.multihead_attention_backward(np.ones((2, 4, d)), cache)[2]["bk"]
    assert np.abs(dbk).max() < 1e-12


def test_mha_heads_are_separate_attentions_on_feature_blocks(rng):
    """Each head is attention_forward on its D/h-wide slice of the projections."""
    d, heads = 8, 4
    x = rng.standard_normal((2, 5, d))
    p = _random_mha_params(d, rng)
    out, cache = A.multihead_attention_forward(x, x, p, heads, causal=True)
    q, k, v = (x @ p[f"W{c}"] + p[f"b{c}"] for c in "qkv")
    hd = d // heads
    blocks = [
        A.attention_forward(*(a[..., i * hd : (i + 1) * hd] for a in (q, k, v)), causal=True)[0]
        for i in range(heads)
    ]
    expected = np.concatenate(blocks, axis=-1) @ p["Wo"] + p["bo"]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_mha_shapes_dtypes_and_errors(dtype, rng):
    p = {k: v.astype(dtype) for k, v in A.init_mha_params(8, seed=1).items()}
    assert all(v.dtype == dtype for v in p.values())
    x = rng.standard_normal((2, 3, 8)).astype(dtype)
    y = rng.standard_normal((2, 5, 8)).astype(dtype)
    out, cache = A.multihead_attention_forward(x, y, p, 2)
    assert out.shape == (2, 3, 8) and out.dtype == dtype
    dx_q, dx_kv, grads = A.multihead_attention_backward(np.ones_like(out), cache)
    assert dx_q.shape == x.shape and dx_kv.shape == y.shape
    assert dx_q.dtype == dtype and dx_kv.dtype == dtype
    assert set(grads) == set(p) and all(grads[k].dtype == dtype for k in p)
    with pytest.raises(ValueError, match="not divisible by num_heads=3"):
        A.multihead_attention_forward(x, y, p, 3)
    with pytest.raises(ValueError, match=r"params\['Wq'\] has shape \(8, 8\), expected \(4, 4\)"):
        A.multihead_attention_forward(x[..., :4], y[..., :4], p, 2)
    with pytest.raises(ValueError, match="lacks the key"):
        A.multihead_attention_forward(x, y, {"Wq": p["Wq"]}, 2)
    with pytest.raises(ValueError, match="same batch size"):
        A.multihead_attention_forward(x, y[:1], p, 2)
    with pytest.raises(ValueError, match="MHACache returned by"):
        A.multihead_attention_backward(out, cache.attn)


# --------------------------------------------------------------------------------------------
# GELU and the transformer block
# --------------------------------------------------------------------------------------------


def test_gelu_backward_matches_finite_differences(rng):
    x = rng.standard_normal((3, 7)) * 3
    [err] = check_layer_backward(A.gelu_forward, A.gelu_backward, (x,))
    assert err < 1e-9


def test_gelu_tanh_is_close_to_the_exact_gelu():
    """The tanh form approximates x * Phi(x) (Hendrycks and Gimpel) to about 1e-3."""
    from math import erf, sqrt

    x = np.linspace(-6, 6, 241)
    exact = np.array([0.5 * t * (1 + erf(t / sqrt(2))) for t in x])
    out, _ = A.gelu_forward(x)
    assert np.abs(out - exact).max() < 1e-3
    assert np.abs(out - exact).max() > 1e-6  # it is an approximation, not erf itself


def _random_block_params(d, f, rng, dtype=np.float64):
    p = {
        "ln1_gamma": 1 + 0.3 * rng.standard_normal(d),
        "ln1_beta": 0.3 * rng.standard_normal(d),
        "attn": _random_mha_params(d, rng),
        "ln2_gamma": 1 + 0.3 * rng.standard_normal(d),
        "ln2_beta": 0.3 * rng.standard_normal(d),
        "W1": rng.standard_normal((d, f)) / np.sqrt(d),
        "b1": 0.3 * rng.standard_normal(f),
        "W2": rng.standard_normal((f, d)) / np.sqrt(f),
        "b2": 0.3 * rng.standard_normal(d),
    }
    cast = {k: v.astype(dtype) for k, v in p.items() if k != "attn"}
    cast["attn"] = {k: v.astype(dtype) for k, v in p["attn"].items()}
    return cast


def _flat_block(p):
    keys = [k for k in A.BLOCK_KEYS if k != "attn"]
    return keys, [p[k] for k in keys] + [p["attn"][k] for k in A.MHA_KEYS]


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "full"])
def test_transformer_block_backward_matches_finite_differences(causal, rng):
    d, f, heads = 6, 10, 2
    x = rng.standard_normal((2, 4, d))
    keys, flat = _flat_block(_random_block_params(d, f, rng))

    def forward(x, *arrays):
        p = dict(zip(keys, arrays[: len(keys)], strict=True))
        p["attn"] = dict(zip(A.MHA_KEYS, arrays[len(keys) :], strict=True))
        return A.transformer_block_forward(x, p, heads, causal=causal)

    def backward(dout, cache):
        dx, g = A.transformer_block_backward(dout, cache)
        return (dx, *(g[k] for k in keys), *(g["attn"][k] for k in A.MHA_KEYS))

    errors = check_layer_backward(forward, backward, (x, *flat))
    bk = 1 + len(keys) + A.MHA_KEYS.index("bk")  # its true gradient is 0 (see the MHA test)
    assert max(e for i, e in enumerate(errors) if i != bk) < 1e-7, errors


def test_transformer_block_shapes_dtypes_and_errors(dtype, rng):
    p = _random_block_params(8, 12, rng, dtype)
    x = rng.standard_normal((2, 3, 8)).astype(dtype)
    out, cache = A.transformer_block_forward(x, p, 4)
    assert out.shape == x.shape and out.dtype == dtype
    dx, grads = A.transformer_block_backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and dx.dtype == dtype
    assert list(grads) == list(A.BLOCK_KEYS)
    assert all(grads[k].dtype == dtype and grads[k].shape == p[k].shape for k in p if k != "attn")
    assert all(grads["attn"][k].shape == p["attn"][k].shape for k in A.MHA_KEYS)
    default = A.init_transformer_block_params(8, seed=3, dtype=dtype)
    assert default["W1"].shape == (8, 32) and default["W1"].dtype == dtype
    with pytest.raises(ValueError, match=r"params\['W2'\] has shape \(12, 8\), expected \(5, 8\)"):
        A.transformer_block_forward(x, p | {"W1": p["W1"][:, :5], "b1": p["b1"][:5]}, 4)
    with pytest.raises(ValueError, match="lacks the key"):
        A.transformer_block_forward(x, {"W1": p["W1"]}, 4)
    with pytest.raises(ValueError, match="BlockCache returned by"):
        A.transformer_block_backward(out, cache.attn)


# --------------------------------------------------------------------------------------------
# positional encoding
# --------------------------------------------------------------------------------------------


def test_positional_encoding_at_hand_computed_points():
    pe = A.positional_encoding(50, 6)
    # frequencies 10000^(-0/6) = 1, 10000^(-2/6) = 10000^(-1/3), 10000^(-4/6)
    w1 = 10000.0 ** (-1 / 3)
    assert pe.shape == (50, 6) and pe.dtype == np.float64
    np.testing.assert_allclose(pe[0], [0, 1, 0, 1, 0, 1], atol=0)
    np.testing.assert_allclose(pe[1, :2], [np.sin(1.0), np.cos(1.0)], rtol=1e-15)
    np.testing.assert_allclose(pe[7, 2:4], [np.sin(7 * w1), np.cos(7 * w1)], rtol=1e-14)
    np.testing.assert_allclose(pe[49, 4], np.sin(49 / 10000.0 ** (4 / 6)), rtol=1e-14)
    odd = A.positional_encoding(4, 5, base=100.0, dtype=np.float32)
    assert odd.shape == (4, 5) and odd.dtype == np.float32
    np.testing.assert_allclose(odd[3, 4], np.sin(3 / 100.0 ** (4 / 5)), rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(pos=st.integers(0, 200), k=st.integers(0, 200), half=st.integers(1, 8))
def test_positional_encoding_shift_is_a_rotation_per_frequency_pair(pos, k, half):
    d = 2 * half
    pe = A.positional_encoding(pos + k + 1, d)
    for i in range(half):
        w = 10000.0 ** (-2 * i / d)
        c, s = np.cos(k * w), np.sin(k * w)
        rot = np.array([[c, s], [-s, c]])
        np.testing.assert_allclose(
            pe[pos + k, 2 * i : 2 * i + 2], rot @ pe[pos, 2 * i : 2 * i + 2], atol=1e-10
        )
    # every row has the norm sqrt(D / 2) (one unit circle per pair)
    np.testing.assert_allclose(np.linalg.norm(pe, axis=1), np.sqrt(half), rtol=1e-12)


def test_positional_encoding_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positional_encoding: seq_len must be a positive"):
        A.positional_encoding(0, 4)
    with pytest.raises(ValueError, match="base must be a finite number > 1"):
        A.positional_encoding(3, 4, base=1.0)
    with pytest.raises(ValueError, match="dtype must be a float dtype"):
        A.positional_encoding(3, 4, dtype=int)


# --------------------------------------------------------------------------------------------
# the cost of attention
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("t, d, heads, batch", [(16, 8, 2, 1), (33, 12, 3, 2), (64, 16, 4, 3)])
def test_attention_cost_matches_torch_flop_counter(t, d, heads, batch):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    c = A.attention_cost(t, d, num_heads=heads, batch=batch)
    hd = d // heads
    q, k, v = (torch.zeros(batch, heads, t, hd) for _ in range(3))
    with FlopCounterMode(display=False) as counter:
        p = q @ k.transpose(-1, -2)
        _ = p @ v
    assert c.score_flops == counter.get_total_flops()
    x, w = torch.zeros(batch, t, d), torch.zeros(d, d)
    with FlopCounterMode(display=False) as counter:
        for _ in range(4):
            _ = x @ w
    assert c.projection_flops == counter.get_total_flops()
    assert c.softmax_flops == A.SOFTMAX_FLOPS_PER_SCORE * batch * heads * t * t
    assert c.total_flops == c.score_flops + c.projection_flops + c.softmax_flops


@pytest.mark.parametrize("dtype, nbytes", [(np.float32, 4), (np.float64, 8)])
def test_attention_cost_bytes_match_the_arrays(dtype, nbytes, rng):
    n, t, d, heads = 2, 9, 6, 3
    c = A.attention_cost(t, d, num_heads=heads, batch=n, bytes_per_element=nbytes)
    x = rng.standard_normal((n, t, d)).astype(dtype)
    p = {k: v.astype(dtype) for k, v in A.init_mha_params(d).items()}
    _, cache = A.multihead_attention_forward(x, x, p, heads)
    assert c.score_bytes == cache.attn.weights.nbytes
    assert c.qkvo_bytes == sum(a.nbytes for a in (cache.attn.q, cache.attn.k, cache.attn.v, x))
    kv = A.KVCache(n, heads, t, d // heads, dtype=dtype)
    assert c.kv_cache_bytes_per_token * t == kv.nbytes


def test_attention_cost_rejects_bad_arguments():
    with pytest.raises(ValueError, match="attention_cost: d_model=10 is not divisible"):
        A.attention_cost(8, 10, num_heads=3)
    with pytest.raises(ValueError, match="seq_len must be a positive integer"):
        A.attention_cost(0, 8)


# --------------------------------------------------------------------------------------------
# the key-value cache
# --------------------------------------------------------------------------------------------


def test_kv_cache_decoding_equals_full_causal_attention(dtype, rng):
    n, heads, t, hd = 2, 3, 7, 4
    q, k, v = (rng.standard_normal((n, heads, t, hd)).astype(dtype) for _ in range(3))
    full, _ = A.attention_forward(q, k, v, causal=True)
    cache = A.KVCache(n, heads, t, hd, dtype=dtype)
    # a prompt of 3 tokens at once (needs the causal mask), then one token at a time (no mask)
    K, V = cache.append(k[:, :, :3], v[:, :, :3])
    steps = [A.attention_forward(q[:, :, :3], K, V, causal=True)[0]]
    for i in range(3, t):
        K, V = cache.append(k[:, :, i : i + 1], v[:, :, i : i + 1])
        assert K.shape == (n, heads, i + 1, hd) and K.dtype == dtype
        steps.append(A.attention_forward(q[:, :, i : i + 1], K, V)[0])
    assert len(cache) == t
    decoded = np.concatenate(steps, axis=2)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(decoded, full, rtol=tol, atol=tol)


def test_kv_cache_views_overflow_shapes_and_reset(rng):
    cache = A.KVCache(1, 2, 4, 3)
    k = rng.standard_normal((1, 2, 3, 3))
    K, V = cache.append(k, 2 * k)
    np.testing.assert_array_equal(K, k)
    np.testing.assert_array_equal(V, 2 * k)
    assert np.shares_memory(K, cache.append(k[:, :, :1], k[:, :, :1])[0])  # views, no copies
    assert len(cache) == 4
    with pytest.raises(ValueError, match="would exceed max_len=4"):
        cache.append(k[:, :, :1], k[:, :, :1])
    with pytest.raises(ValueError, match="read-only"):
        K[0, 0, 0, 0] = 1.0
    cache.reset()
    assert len(cache) == 0
    with pytest.raises(ValueError, match=r"expected \(1, 2, t_new, 3\)"):
        cache.append(rng.standard_normal((1, 3, 1, 3)), rng.standard_normal((1, 3, 1, 3)))
    with pytest.raises(ValueError, match="k has shape .* but v has shape"):
        cache.append(k, k[:, :, :1])
    with pytest.raises(ValueError, match="KVCache: max_len must be a positive integer"):
        A.KVCache(1, 1, 0, 2)
