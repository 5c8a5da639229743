r"""Attention and the transformer block, forward and backward, in NumPy (cs231n style).

Scaled dot-product attention [1]_ [2]_ is a soft dictionary lookup: each query row of
:math:`Q` scores every key row of :math:`K`, a softmax turns the scores into weights, and the
output is the weighted mean of the value rows of :math:`V`,

.. math:: \operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\Big(
          \frac{Q K^{\top}}{\sqrt{d}}\Big) V ,

two batched matrix products (GEMMs) around a row-wise softmax. Everything else here is built
on that one kernel, :func:`_attention_forward` / :func:`_attention_backward`:

* :func:`multihead_attention_forward` projects the input with four ``(D, D)`` matrices and
  runs the kernel on ``num_heads`` slices of ``D / num_heads`` features at once (the heads
  are split from the last axis, as PyTorch and Keras do);
* :func:`transformer_block_forward` is a pre-norm block [5]_: layer norm, self-attention and
  a residual, then layer norm, a GELU MLP [6]_ and a residual;
* :func:`attention_cost` counts the flops and bytes (the :math:`T^2` score matrix that
  FlashAttention [3]_ never materialises), and :class:`KVCache` holds the keys and values
  of the tokens generated so far.

The public functions validate their input once, then call the private kernels, which trust
it. Masks follow PyTorch's ``scaled_dot_product_attention``: a boolean ``True`` means *may
attend*. (``torch.nn.MultiheadAttention``'s boolean ``attn_mask`` and ``key_padding_mask``
mean the opposite, True = *masked out*: negate them before passing them here.) Nothing in
this module imports PyTorch or Keras; the converters read and write the arrays of a layer
object that the caller built.

References
----------
.. [1] D. Bahdanau, K. Cho and Y. Bengio, "Neural Machine Translation by Jointly Learning to
   Align and Translate", ICLR 2015. https://arxiv.org/abs/1409.0473
.. [2] A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017.
   https://arxiv.org/abs/1706.03762
.. [3] T. Dao, D. Y. Fu, S. Ermon, A. Rudra and C. Ré, "FlashAttention: Fast and
   Memory-Efficient Exact Attention with IO-Awareness", NeurIPS 2022.
   https://arxiv.org/abs/2205.14135
.. [4] PyTorch, ``torch.nn.functional.scaled_dot_product_attention`` and
   ``torch.nn.MultiheadAttention``.
   https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html
.. [5] R. Xiong et al., "On Layer Normalization in the Transformer Architecture", ICML 2020.
   https://arxiv.org/abs/2002.04745
.. [6] D. Hendrycks and K. Gimpel, "Gaussian Error Linear Units (GELUs)", 2016.
   https://arxiv.org/abs/1606.08415
.. [7] Keras, ``keras.layers.MultiHeadAttention``.
   https://keras.io/api/layers/attention_layers/multi_head_attention/
.. [8] Stanford CS231n, assignment 3, ``Transformer_Captioning.ipynb``.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from lapenna_labs._validation import (
    as_float_array,
    as_generator,
    as_output_gradient,
    check_cache,
    check_positive_int,
    check_positive_number,
)
from lapenna_labs.activations import _softmax
from lapenna_labs.layers import _dense_backward, _dense_forward
from lapenna_labs.norm import layernorm_backward, layernorm_forward

__all__ = [
    "AttentionCache",
    "AttentionCost",
    "BlockCache",
    "GeluCache",
    "KVCache",
    "MHACache",
    "attention_backward",
    "attention_cost",
    "attention_forward",
    "gelu_backward",
    "gelu_forward",
    "init_mha_params",
    "init_transformer_block_params",
    "mha_params_from_keras",
    "mha_params_from_torch",
    "mha_params_to_keras",
    "mha_params_to_torch",
    "multihead_attention_backward",
    "multihead_attention_forward",
    "positional_encoding",
    "transformer_block_backward",
    "transformer_block_forward",
]


class AttentionCache(NamedTuple):
    """What :func:`attention_backward` needs (returned by :func:`attention_forward`).

    Attributes
    ----------
    q : ndarray, shape (..., Tq, d)
        The queries.
    k : ndarray, shape (..., Tk, d)
        The keys.
    v : ndarray, shape (..., Tk, dv)
        The values.
    weights : ndarray, shape (..., Tq, Tk)
        The attention weights :math:`P = \\operatorname{softmax}(QK^\\top/\\sqrt d)`, each row
        summing to 1, zero where masked (plot them with ``plt.imshow(cache.weights[0])``).
    scale : float
        :math:`1 / \\sqrt d`.
    """

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    weights: np.ndarray
    scale: float


# --------------------------------------------------------------------------------------------
# scaled dot-product attention: the one kernel
# --------------------------------------------------------------------------------------------


def _attention_forward(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, allowed: np.ndarray | None
) -> tuple[np.ndarray, AttentionCache]:
    """``(out, cache)`` for checked arrays; `allowed` bool broadcastable to (..., Tq, Tk).

    Every query row must have at least one allowed key (the public functions check it).
    """
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = np.matmul(q, np.swapaxes(k, -1, -2))
    scores *= scores.dtype.type(scale)
    if allowed is not None:
        scores = np.where(allowed, scores, scores.dtype.type(-np.inf))
    weights = _softmax(scores, axis=-1, out=scores)  # exp(-inf) = 0: masked weights are 0
    return np.matmul(weights, v), AttentionCache(q, k, v, weights, scale)


def _attention_backward(
    dout: np.ndarray, cache: AttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dq, dk, dv)`` for a checked `dout` (..., Tq, dv)."""
    q, k, v, p, scale = cache
    dv = np.matmul(np.swapaxes(p, -1, -2), dout)
    dp = np.matmul(dout, np.swapaxes(v, -1, -2))
    # Softmax backward, row by row: dS = P * (dP - rowsum(dP * P)); masked P = 0 gives dS = 0.
    ds = dp - np.sum(dp * p, axis=-1, keepdims=True)
    ds *= p
    ds *= ds.dtype.type(scale)
    return np.matmul(ds, k), np.matmul(np.swapaxes(ds, -1, -2), q), dv


def _allowed_mask(
    mask: Any, causal: Any, tq: int, tk: int, batch_shape: tuple[int, ...], func: str
) -> np.ndarray | None:
    """The boolean (may attend) mask of `mask` and `causal`, checked; None when neither."""
    if not isinstance(causal, (bool, np.bool_)):
        raise ValueError(f"{func}: causal must be True or False, got {causal!r}")
    target = (*batch_shape, tq, tk)
    allowed = None
    if mask is not None:
        allowed = np.asarray(mask)
        if allowed.dtype != np.bool_:
            raise ValueError(
                f"{func}: mask must be a boolean array (True = may attend), got dtype "
                f"{allowed.dtype}"
            )
        try:
            shape = np.broadcast_shapes(allowed.shape, target)
        except ValueError:
            shape = None
        if shape != target:
            raise ValueError(
                f"{func}: mask has shape {allowed.shape}, which does not broadcast to the "
                f"scores' shape {target}"
            )
    if causal:
        # Top-left aligned, as PyTorch's is_causal: query i sees keys j <= i.
        tri = np.tril(np.ones((tq, tk), dtype=bool))
        allowed = tri if allowed is None else allowed & tri
    if allowed is not None and not np.all(np.any(allowed, axis=-1)):
        full = np.broadcast_to(allowed, target)
        bad = np.argwhere(~np.any(full, axis=-1))[0]
        raise ValueError(
            f"{func}: query row {tuple(int(i) for i in bad)} may attend to no key (its mask "
            "row is all False); its softmax would be 0/0"
        )
    return allowed


def attention_forward(
    q: Any, k: Any, v: Any, mask: Any = None, causal: bool = False
) -> tuple[np.ndarray, AttentionCache]:
    r"""Scaled dot-product attention over the last two axes, with an optional mask.

    Parameters
    ----------
    q : array_like of float, shape (..., Tq, d)
        Queries: Tq rows of d features, with any leading (batch, head) axes.
    k : array_like of float, shape (..., Tk, d)
        Keys, with the same leading axes as `q`.
    v : array_like of float, shape (..., Tk, dv)
        Values, one row per key.
    mask : array_like of bool, broadcastable to (..., Tq, Tk), optional
        True where query i **may attend** to key j (PyTorch's ``scaled_dot_product_attention``
        meaning; ``torch.nn.MultiheadAttention``'s boolean masks are the negation).
    causal : bool, default False
        Query i attends to key j only when :math:`j \le i` (combined with `mask` by "and").
        Top-left aligned, as PyTorch's ``is_causal``, also when Tq differs from Tk.

    Returns
    -------
    out : ndarray, shape (..., Tq, dv)
        :math:`\operatorname{softmax}(QK^\top / \sqrt d)\, V`.
    cache : AttentionCache
        What :func:`attention_backward` needs; ``cache.weights`` (..., Tq, Tk) holds the
        attention weights.

    Raises
    ------
    ValueError
        On mismatched shapes, a non-boolean mask, or a query row that may attend to no key.

    Notes
    -----
    With :math:`S = QK^\top / \sqrt d` and masked scores set to :math:`-\infty`,

    .. math:: P_{ij} = \frac{e^{S_{ij} - m_i}}{\sum_{j'} e^{S_{ij'} - m_i}}, \qquad
              m_i = \max_j S_{ij}, \qquad O = P V.

    Subtracting the row maximum :math:`m_i` changes nothing mathematically but keeps every
    exponent :math:`\le 0` (a stable softmax). Dividing by :math:`\sqrt d` keeps the scores'
    variance near 1 when the entries of q and k have unit variance, so the softmax does not
    saturate [2]_. The :math:`(T_q, T_k)` matrices S and P are materialised: memory grows as
    :math:`T^2` (see :func:`attention_cost`).

    References
    ----------
    .. [1] Vaswani et al. 2017, section 3.2.1. https://arxiv.org/abs/1706.03762
    .. [2] PyTorch ``torch.nn.functional.scaled_dot_product_attention`` (the reference
       implementation in its documentation).

    Examples
    --------
    Two keys; the query matches the second one, so it gets most of the weight:

    >>> import numpy as np
    >>> q = np.array([[0.0, 2.0]])
    >>> k = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> v = np.array([[10.0], [20.0]])
    >>> out, cache = attention_forward(q, k, v)
    >>> np.round(cache.weights, 4), np.round(out, 3)
    (array([[0.1956, 0.8044]]), array([[18.044]]))

    A causal mask: the first query sees only the first key.

    >>> out, cache = attention_forward(k, k, v, causal=True)
    >>> np.round(cache.weights, 4)
    array([[1.    , 0.    ],
           [0.3302, 0.6698]])
    """
    func = "attention_forward"
    q = as_float_array(q, name="q", func=func)
    k = as_float_array(k, name="k", func=func)
    v = as_float_array(v, name="v", func=func)
    for name, arr in (("q", q), ("k", k), ("v", v)):
        if arr.ndim < 2:
            raise ValueError(f"{func}: {name} must be at least 2-D (..., T, d), got {arr.shape}")
    if k.shape[:-2] != q.shape[:-2] or v.shape[:-2] != q.shape[:-2]:
        raise ValueError(
            f"{func}: q, k and v must have the same leading axes, got shapes {q.shape}, "
            f"{k.shape} and {v.shape}"
        )
    if k.shape[-1] != q.shape[-1]:
        raise ValueError(
            f"{func}: q has {q.shape[-1]} features but k has {k.shape[-1]}; they must match"
        )
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"{func}: k has {k.shape[-2]} keys but v has {v.shape[-2]} values; they must match"
        )
    if 0 in q.shape[-2:] or 0 in k.shape[-2:]:
        raise ValueError(f"{func}: q and k need at least one row and one feature")
    dtype = np.result_type(q, k, v)
    q, k, v = (a.astype(dtype, copy=False) for a in (q, k, v))
    allowed = _allowed_mask(mask, causal, q.shape[-2], k.shape[-2], q.shape[:-2], func)
    return _attention_forward(q, k, v, allowed)


def attention_backward(
    dout: Any, cache: AttentionCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Backward pass of :func:`attention_forward`.

    Parameters
    ----------
    dout : array_like of float, shape (..., Tq, dv)
        Gradient of the loss with respect to the attention output.
    cache : AttentionCache
        As returned by :func:`attention_forward`.

    Returns
    -------
    dq : ndarray, shape (..., Tq, d)
    dk : ndarray, shape (..., Tk, d)
    dv : ndarray, shape (..., Tk, dv)
        Gradients with respect to q, k and v, in the forward's dtype.

    Notes
    -----
    With :math:`O = PV`, :math:`P = \operatorname{softmax}(S)` row-wise and
    :math:`S = QK^\top/\sqrt d`:

    .. math:: dV = P^\top dO, \qquad dP = dO\, V^\top, \qquad
              dS = P \odot \big(dP - \operatorname{rowsum}(dP \odot P)\big),

    .. math:: dQ = \frac{dS\, K}{\sqrt d}, \qquad dK = \frac{dS^\top Q}{\sqrt d}.

    The softmax line is the Jacobian :math:`\operatorname{diag}(p) - p p^\top` of each row
    applied to :math:`dP`'s row. Masked entries have :math:`P = 0`, hence :math:`dS = 0`: no
    gradient flows through a masked score. FlashAttention [1]_ recomputes P from Q and K
    here instead of storing it.

    References
    ----------
    .. [1] Dao et al. 2022, algorithm 4 (the backward pass). https://arxiv.org/abs/2205.14135

    Examples
    --------
    >>> import numpy as np
    >>> q = np.array([[0.0, 2.0]])
    >>> k = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> out, cache = attention_forward(q, k, np.array([[10.0], [20.0]]))
    >>> dq, dk, dv = attention_backward(np.ones((1, 1)), cache)
    >>> dv.ravel()  # the weights: each value row moves the output by its weight
    array([0.19557032, 0.80442968])
    """
    func = "attention_backward"
    cache = check_cache(cache, AttentionCache, forward="attention_forward", func=func)
    expected = (*cache.weights.shape[:-1], cache.v.shape[-1])
    dout = as_output_gradient(dout, expected, output="the attention output has shape", func=func)
    dout = dout.astype(cache.v.dtype, copy=False)
    return _attention_backward(dout, cache)


# --------------------------------------------------------------------------------------------
# multi-head attention
# --------------------------------------------------------------------------------------------

MHA_KEYS = ("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")


class MHACache(NamedTuple):
    """What :func:`multihead_attention_backward` needs.

    Attributes
    ----------
    xq2 : ndarray, shape (N * Tq, D)
        The query input, flattened to rows.
    xkv2 : ndarray, shape (N * Tk, D)
        The key/value input, flattened to rows.
    attn : AttentionCache
        The kernel's cache; ``attn.weights`` is (N, heads, Tq, Tk).
    concat2 : ndarray, shape (N * Tq, D)
        The heads' outputs side by side, before the output projection.
    params : dict
        The parameters (checked arrays).
    shapes : tuple of int
        ``(N, Tq, Tk, D, num_heads)``.
    dtypes : tuple of dtype
        The dtypes of x_q and x_kv.
    """

    xq2: np.ndarray
    xkv2: np.ndarray
    attn: AttentionCache
    concat2: np.ndarray
    params: dict[str, np.ndarray]
    shapes: tuple[int, int, int, int, int]
    dtypes: tuple[np.dtype, np.dtype]


def _split_heads(x2: np.ndarray, n: int, t: int, heads: int) -> np.ndarray:
    """(N * T, D) rows -> (N, heads, T, D / heads): head h owns features [h*hd, (h+1)*hd)."""
    return x2.reshape(n, t, heads, -1).transpose(0, 2, 1, 3)


def _merge_heads(x4: np.ndarray) -> np.ndarray:
    """(N, heads, T, hd) -> (N * T, heads * hd), the inverse of :func:`_split_heads`."""
    n, h, t, hd = x4.shape
    return x4.transpose(0, 2, 1, 3).reshape(n * t, h * hd)


def _mha_forward(
    x_q: np.ndarray,
    x_kv: np.ndarray,
    p: dict[str, np.ndarray],
    heads: int,
    allowed: np.ndarray | None,
) -> tuple[np.ndarray, MHACache]:
    """Multi-head attention for checked arrays; `allowed` broadcastable to (N, h, Tq, Tk)."""
    n, tq, d = x_q.shape
    tk = x_kv.shape[1]
    xq2, xkv2 = x_q.reshape(n * tq, d), x_kv.reshape(n * tk, d)
    q = _split_heads(_dense_forward(xq2, p["Wq"], p["bq"]), n, tq, heads)
    k = _split_heads(_dense_forward(xkv2, p["Wk"], p["bk"]), n, tk, heads)
    v = _split_heads(_dense_forward(xkv2, p["Wv"], p["bv"]), n, tk, heads)
    o, attn = _attention_forward(q, k, v, allowed)
    concat2 = _merge_heads(o)
    out = _dense_forward(concat2, p["Wo"], p["bo"]).reshape(n, tq, d)
    cache = MHACache(xq2, xkv2, attn, concat2, p, (n, tq, tk, d, heads), (x_q.dtype, x_kv.dtype))
    return out, cache


def _mha_backward(
    dout: np.ndarray, cache: MHACache
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(dx_q, dx_kv, grads)`` for a checked `dout` (N, Tq, D); grads in the params' dtypes."""
    n, tq, tk, d, heads = cache.shapes
    p = cache.params
    dconcat, dWo, dbo = _dense_backward(dout.reshape(n * tq, d), cache.concat2, p["Wo"])
    dq, dk, dv = _attention_backward(_split_heads(dconcat, n, tq, heads), cache.attn)
    dxq, dWq, dbq = _dense_backward(_merge_heads(dq), cache.xq2, p["Wq"])
    dxk, dWk, dbk = _dense_backward(_merge_heads(dk), cache.xkv2, p["Wk"])
    dxv, dWv, dbv = _dense_backward(_merge_heads(dv), cache.xkv2, p["Wv"])
    grads = {"Wq": dWq, "Wk": dWk, "Wv": dWv, "Wo": dWo}
    grads |= {"bq": dbq, "bk": dbk, "bv": dbv, "bo": dbo}
    grads = {key: g.astype(p[key].dtype, copy=False) for key, g in grads.items()}
    dx_q = dxq.reshape(n, tq, d).astype(cache.dtypes[0], copy=False)
    dx_kv = (dxk + dxv).reshape(n, tk, d).astype(cache.dtypes[1], copy=False)
    return dx_q, dx_kv, grads


def _check_mha_params(params: Any, d_model: int, func: str, name: str = "params") -> dict:
    if not isinstance(params, dict):
        raise ValueError(f"{func}: {name} must be a dict with keys {', '.join(MHA_KEYS)}")
    missing = [key for key in MHA_KEYS if key not in params]
    if missing:
        raise ValueError(f"{func}: {name} lacks the key(s) {', '.join(missing)}")
    checked = {}
    for key in MHA_KEYS:
        arr = as_float_array(params[key], name=f"{name}[{key!r}]", func=func)
        want = (d_model, d_model) if key.startswith("W") else (d_model,)
        if arr.shape != want:
            raise ValueError(
                f"{func}: {name}[{key!r}] has shape {arr.shape}, expected {want} for "
                f"d_model={d_model}"
            )
        checked[key] = arr
    return checked


def _check_heads(num_heads: Any, d_model: int, func: str) -> int:
    heads = check_positive_int(num_heads, name="num_heads", func=func)
    if d_model % heads:
        raise ValueError(
            f"{func}: d_model={d_model} is not divisible by num_heads={heads} (each head gets "
            "d_model / num_heads features)"
        )
    return heads


def _check_sequence(x: Any, name: str, func: str) -> np.ndarray:
    x = as_float_array(x, name=name, func=func, ndim=3)
    if 0 in x.shape:
        raise ValueError(f"{func}: {name} has an empty axis, shape {x.shape}")
    return x


def init_mha_params(d_model: int, seed: Any = 0, dtype: Any = np.float64) -> dict:
    r"""Random multi-head attention parameters, initialised as ``torch.nn.MultiheadAttention``.

    Parameters
    ----------
    d_model : int
        The model width D.
    seed : int or numpy.random.Generator, default 0
    dtype : float dtype, default float64

    Returns
    -------
    dict
        ``Wq Wk Wv Wo`` of shape (D, D), used as ``x @ W``, and ``bq bk bv bo`` of shape (D,).

    Notes
    -----
    PyTorch initialises its stacked ``(3D, D)`` input projection with Xavier-uniform, i.e.
    :math:`U(-a, a)` with :math:`a = \sqrt{6 / (D + 3D)}`, and its output projection as
    ``nn.Linear``, :math:`a = 1/\sqrt D`; the biases are zero. The same is done here, with
    NumPy's generator (the numbers are not PyTorch's; tests inject weights).

    Examples
    --------
    >>> p = init_mha_params(8, seed=0)
    >>> sorted(p), p["Wq"].shape, p["bo"].shape
    (['Wk', 'Wo', 'Wq', 'Wv', 'bk', 'bo', 'bq', 'bv'], (8, 8), (8,))
    """
    func = "init_mha_params"
    d = check_positive_int(d_model, name="d_model", func=func)
    rng = as_generator(seed, func=func)
    dtype = _check_dtype(dtype, func)
    a_in, a_out = math.sqrt(6.0 / (4 * d)), 1.0 / math.sqrt(d)
    params = {key: rng.uniform(-a_in, a_in, (d, d)).astype(dtype) for key in ("Wq", "Wk", "Wv")}
    params["Wo"] = rng.uniform(-a_out, a_out, (d, d)).astype(dtype)
    params |= {key: np.zeros(d, dtype=dtype) for key in ("bq", "bk", "bv", "bo")}
    return params


def _check_dtype(dtype: Any, func: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind != "f":
        raise ValueError(f"{func}: dtype must be a float dtype (float32, float64), got {dtype!r}")
    return dt


def multihead_attention_forward(
    x_q: Any,
    x_kv: Any,
    params: dict,
    num_heads: int,
    mask: Any = None,
    causal: bool = False,
) -> tuple[np.ndarray, MHACache]:
    r"""Multi-head attention with its four projections (no dropout).

    Parameters
    ----------
    x_q : array_like of float, shape (N, Tq, D)
        The sequence the queries come from.
    x_kv : array_like of float, shape (N, Tk, D)
        The sequence the keys and values come from; pass `x_q` itself for self-attention.
    params : dict
        ``Wq Wk Wv Wo`` (D, D) and ``bq bk bv bo`` (D,), as :func:`init_mha_params` returns;
        the projections are ``x @ W + b``.
    num_heads : int
        h, a divisor of D; each head works on ``D / h`` features.
    mask : array_like of bool, broadcastable to (N, h, Tq, Tk), optional
        True where a query may attend to a key: ``(Tq, Tk)`` for all, ``(N, 1, Tq, Tk)``
        per sequence, or a key-padding mask ``keep`` (N, Tk) as ``keep[:, None, None, :]``.
    causal : bool, default False
        Query i attends to keys j <= i (top-left aligned, as in :func:`attention_forward`).

    Returns
    -------
    out : ndarray, shape (N, Tq, D)
    cache : MHACache
        What :func:`multihead_attention_backward` needs; ``cache.attn.weights`` is the
        (N, h, Tq, Tk) attention weights.

    Notes
    -----
    With :math:`d_h = D / h` and head :math:`i` owning features
    :math:`[i d_h, (i+1) d_h)` of each projection,

    .. math:: \text{head}_i = \operatorname{softmax}\!\Big(\frac{Q_i K_i^\top}{\sqrt{d_h}}\Big)
              V_i, \qquad Q = x_q W_q + b_q,\; K = x_{kv} W_k + b_k,\; V = x_{kv} W_v + b_v,

    .. math:: \operatorname{MHA}(x_q, x_{kv}) = [\text{head}_1, \dots, \text{head}_h]\, W_o
              + b_o .

    The heads are one reshape of each projection to (N, h, T, d_h), so all of them go through
    :func:`attention_forward`'s kernel as one batched GEMM. PyTorch stores the transposes
    (``in_proj_weight`` is :math:`[W_q; W_k; W_v]^\top` stacked, applied as
    ``x @ W.T``); Keras stores (D, h, d_h) kernels. See :func:`mha_params_from_torch` and
    :func:`mha_params_from_keras`.

    References
    ----------
    .. [1] Vaswani et al. 2017, section 3.2.2. https://arxiv.org/abs/1706.03762
    .. [2] PyTorch ``torch.nn.MultiheadAttention``.
       https://pytorch.org/docs/stable/generated/torch.nn.MultiheadAttention.html

    Examples
    --------
    >>> import numpy as np
    >>> p = init_mha_params(4, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 4))
    >>> out, cache = multihead_attention_forward(x, x, p, num_heads=2, causal=True)
    >>> out.shape, cache.attn.weights.shape
    ((2, 3, 4), (2, 2, 3, 3))
    >>> np.round(cache.attn.weights[0, 0, 0], 4)  # the first query sees only itself
    array([1., 0., 0.])
    """
    func = "multihead_attention_forward"
    x_q = _check_sequence(x_q, "x_q", func)
    x_kv = _check_sequence(x_kv, "x_kv", func)
    n, tq, d = x_q.shape
    if x_kv.shape[0] != n or x_kv.shape[2] != d:
        raise ValueError(
            f"{func}: x_q has shape {x_q.shape} but x_kv has {x_kv.shape}; they need the same "
            "batch size N and width D"
        )
    heads = _check_heads(num_heads, d, func)
    p = _check_mha_params(params, d, func)
    dtype = np.result_type(x_q, x_kv, *p.values())
    allowed = _allowed_mask(mask, causal, tq, x_kv.shape[1], (n, heads), func)
    xq_c, xkv_c = x_q.astype(dtype, copy=False), x_kv.astype(dtype, copy=False)
    pc = {key: arr.astype(dtype, copy=False) for key, arr in p.items()}
    out, cache = _mha_forward(xq_c, xkv_c, pc, heads, allowed)
    # the gradients come back in the caller's dtypes
    return out, cache._replace(params=p, dtypes=(x_q.dtype, x_kv.dtype))


def multihead_attention_backward(
    dout: Any, cache: MHACache
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    r"""Backward pass of :func:`multihead_attention_forward`.

    Parameters
    ----------
    dout : array_like of float, shape (N, Tq, D)
        Gradient of the loss with respect to the output.
    cache : MHACache
        As returned by :func:`multihead_attention_forward`.

    Returns
    -------
    dx_q : ndarray, shape (N, Tq, D)
        Gradient with respect to `x_q`.
    dx_kv : ndarray, shape (N, Tk, D)
        Gradient with respect to `x_kv` (through both the keys and the values). For
        self-attention (one array passed twice) the input's gradient is ``dx_q + dx_kv``.
    grads : dict
        ``Wq Wk Wv Wo bq bk bv bo``, each shaped and typed like its parameter.

    Notes
    -----
    The chain rule through the output projection (:func:`lapenna_labs.layers.dense_backward`),
    the heads' reshape (a permutation: its backward is the inverse permutation), the attention
    kernel (:func:`attention_backward`) and the three input projections. The key and value
    projections read the same input, so their input gradients add up.

    Examples
    --------
    >>> import numpy as np
    >>> p = init_mha_params(4, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 4))
    >>> out, cache = multihead_attention_forward(x, x, p, num_heads=2)
    >>> dx_q, dx_kv, grads = multihead_attention_backward(np.ones_like(out), cache)
    >>> dx_q.shape, grads["Wq"].shape, np.allclose(grads["bo"], 6.0)
    ((2, 3, 4), (4, 4), True)
    """
    func = "multihead_attention_backward"
    cache = check_cache(cache, MHACache, forward="multihead_attention_forward", func=func)
    n, tq, _, d, _ = cache.shapes
    dout = as_output_gradient(dout, (n, tq, d), output="the output has shape", func=func)
    return _mha_backward(dout.astype(cache.concat2.dtype, copy=False), cache)


# --------------------------------------------------------------------------------------------
# converters: torch.nn.MultiheadAttention and keras.layers.MultiHeadAttention
# --------------------------------------------------------------------------------------------


def _torch_cpu_array(tensor: Any, what: str, func: str) -> np.ndarray:
    """A NumPy view of a CPU tensor's storage (no torch import needed)."""
    if getattr(tensor, "device", None) is not None and tensor.device.type != "cpu":
        raise ValueError(f"{func}: {what} is on {tensor.device}; move the module to the CPU")
    return tensor.detach().numpy()


def _check_torch_mha(module: Any, func: str) -> tuple[int, int]:
    needed = ("embed_dim", "num_heads", "in_proj_weight", "out_proj", "bias_k", "add_zero_attn")
    if not all(hasattr(module, a) for a in needed):
        raise ValueError(f"{func}: module must be a torch.nn.MultiheadAttention")
    d = int(module.embed_dim)
    if module.kdim != d or module.vdim != d or module.in_proj_weight is None:
        raise ValueError(
            f"{func}: kdim={module.kdim} and vdim={module.vdim} must equal embed_dim={d} "
            "(separate q/k/v projection weights are not supported)"
        )
    if module.bias_k is not None or module.add_zero_attn:
        raise ValueError(
            f"{func}: add_bias_kv=True and add_zero_attn=True add extra keys; not supported"
        )
    return d, int(module.num_heads)


def mha_params_from_torch(module: Any) -> dict:
    r"""The parameters of a ``torch.nn.MultiheadAttention`` as a :func:`init_mha_params` dict.

    Parameters
    ----------
    module : torch.nn.MultiheadAttention
        On the CPU, with ``kdim = vdim = embed_dim`` and without ``add_bias_kv`` or
        ``add_zero_attn``. Use it with ``batch_first=True`` so its inputs are (N, T, D) like
        ours (the parameters themselves do not depend on it).

    Returns
    -------
    dict
        ``Wq Wk Wv Wo`` (D, D) and ``bq bk bv bo`` (D,), copies in the module's dtype (zero
        biases when the module has ``bias=False``).

    Notes
    -----
    PyTorch applies its weights as ``x @ W.T + b`` and stacks the input projections as the
    rows of ``in_proj_weight`` (3D, D), queries first: :math:`W_q = ` ``in_proj_weight[:D].T``,
    :math:`W_k = ` ``in_proj_weight[D:2D].T``, :math:`W_v = ` ``in_proj_weight[2D:].T``,
    :math:`W_o = ` ``out_proj.weight.T``; the biases are the matching slices of
    ``in_proj_bias`` and ``out_proj.bias``. Its head split is ours (contiguous blocks of
    ``D / num_heads`` features).

    Its boolean masks mean the opposite of ours: ``attn_mask`` and ``key_padding_mask`` are
    True where attention is *not* allowed. ``multihead_attention_forward(..., mask=~attn_mask)``
    and ``mask=~key_padding_mask[:, None, None, :]`` reproduce them.

    References
    ----------
    .. [1] PyTorch ``torch.nn.MultiheadAttention`` (``in_proj_weight``, ``attn_mask``).

    Examples
    --------
    >>> import torch
    >>> m = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> p = mha_params_from_torch(m)
    >>> x = np.random.default_rng(0).standard_normal((1, 3, 8)).astype(np.float32)
    >>> out, _ = multihead_attention_forward(x, x, p, 2)
    >>> t = torch.from_numpy(x)
    >>> ref, _ = m(t, t, t, need_weights=False)
    >>> out.dtype, np.allclose(out, ref.detach().numpy(), atol=1e-6)
    (dtype('float32'), True)
    """
    func = "mha_params_from_torch"
    d, _ = _check_torch_mha(module, func)
    w_in = _torch_cpu_array(module.in_proj_weight, "in_proj_weight", func)
    w_out = _torch_cpu_array(module.out_proj.weight, "out_proj.weight", func)
    params = {
        "Wq": w_in[:d].T.copy(),
        "Wk": w_in[d : 2 * d].T.copy(),
        "Wv": w_in[2 * d :].T.copy(),
        "Wo": w_out.T.copy(),
    }
    zeros = np.zeros(d, dtype=w_in.dtype)
    b_in = module.in_proj_bias
    b_in = np.zeros(3 * d, w_in.dtype) if b_in is None else _torch_cpu_array(b_in, "bias", func)
    b_out = module.out_proj.bias
    params["bq"], params["bk"], params["bv"] = (b_in[i * d : (i + 1) * d].copy() for i in range(3))
    params["bo"] = zeros if b_out is None else _torch_cpu_array(b_out, "bias", func).copy()
    return params


def mha_params_to_torch(params: dict, module: Any) -> None:
    r"""Copy a :func:`init_mha_params` dict into a ``torch.nn.MultiheadAttention``, in place.

    Parameters
    ----------
    params : dict
        ``Wq Wk Wv Wo`` (D, D) and ``bq bk bv bo`` (D,).
    module : torch.nn.MultiheadAttention
        On the CPU, with ``embed_dim = D``, the restrictions of :func:`mha_params_from_torch`;
        its parameters are overwritten (cast to their dtype). A module built with
        ``bias=False`` accepts only zero biases.

    Notes
    -----
    The inverse of :func:`mha_params_from_torch`: ``in_proj_weight`` = :math:`[W_q^\top;
    W_k^\top; W_v^\top]`, ``out_proj.weight`` = :math:`W_o^\top`. The writes go through a
    NumPy view of each parameter's storage, so no autograd history is recorded.

    Examples
    --------
    >>> import torch
    >>> m = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    >>> p = init_mha_params(8, seed=1)
    >>> mha_params_to_torch(p, m)
    >>> np.array_equal(m.out_proj.weight.detach().numpy(), p["Wo"].T.astype(np.float32))
    True
    """
    func = "mha_params_to_torch"
    d, _ = _check_torch_mha(module, func)
    p = _check_mha_params(params, d, func)
    w_in = _torch_cpu_array(module.in_proj_weight, "in_proj_weight", func)
    w_in[...] = np.concatenate([p["Wq"].T, p["Wk"].T, p["Wv"].T])
    _torch_cpu_array(module.out_proj.weight, "out_proj.weight", func)[...] = p["Wo"].T
    biases = [(module.in_proj_bias, ("bq", "bk", "bv")), (module.out_proj.bias, ("bo",))]
    for tensor, keys in biases:
        values = np.concatenate([p[key] for key in keys])
        if tensor is None:
            if np.any(values != 0):
                raise ValueError(
                    f"{func}: the module has no biases (bias=False) but params has nonzero "
                    f"{'/'.join(keys)}"
                )
            continue
        _torch_cpu_array(tensor, "bias", func)[...] = values


def _keras_mha_layout(layer: Any, func: str) -> tuple[int, int, bool, list[np.ndarray]]:
    """``(D, heads, use_bias, weights)`` of a built keras MultiHeadAttention, checked."""
    if not hasattr(layer, "get_weights") or not hasattr(layer, "num_heads"):
        raise ValueError(f"{func}: layer must be a keras.layers.MultiHeadAttention")
    weights = [np.asarray(w) for w in layer.get_weights()]
    if not weights:
        raise ValueError(f"{func}: the layer is not built yet; call it once on an input first")
    if len(weights) not in (4, 8):
        raise ValueError(f"{func}: expected 4 or 8 weights, the layer has {len(weights)}")
    use_bias = len(weights) == 8
    kernels = weights[0::2] if use_bias else weights
    wq, wk, wv, wo = kernels
    d, heads, kd = wq.shape
    if wk.shape != (d, heads, kd) or wv.shape != (d, heads, kd) or wo.shape != (heads, kd, d):
        raise ValueError(
            f"{func}: the layer's kernels have shapes {[w.shape for w in kernels]}; only "
            "key_dim = value_dim = D / num_heads with query, key, value and output all of "
            "width D are supported"
        )
    if heads * kd != d:
        raise ValueError(
            f"{func}: num_heads * key_dim = {heads} * {kd} must equal the width D = {d}"
        )
    return d, heads, use_bias, weights


def mha_params_from_keras(layer: Any) -> dict:
    r"""The parameters of a built ``keras.layers.MultiHeadAttention`` as a dict.

    Parameters
    ----------
    layer : keras.layers.MultiHeadAttention
        Built (called once), with ``key_dim = value_dim = D / num_heads`` and query, key,
        value and output all of width D.

    Returns
    -------
    dict
        ``Wq Wk Wv Wo`` (D, D) and ``bq bk bv bo`` (D,), in the layer's dtype (zero biases
        when ``use_bias=False``).

    Notes
    -----
    ``layer.get_weights()`` is ``[query/kernel (D, h, d_h), query/bias (h, d_h), key/kernel,
    key/bias, value/kernel, value/bias, attention_output/kernel (h, d_h, D),
    attention_output/bias (D,)]`` (the biases absent when ``use_bias=False``). Feature
    :math:`i d_h + j` of our projection is ``kernel[:, i, j]``, so a C-order reshape to
    (D, D) gives :math:`W_q`, and ``attention_output/kernel`` reshaped to (D, D) is
    :math:`W_o`. Keras's boolean ``attention_mask`` (N, Tq, Tk) has our meaning (True = may
    attend); it scales the queries by :math:`1/\sqrt{d_h}` before the product, which is
    the same function.

    References
    ----------
    .. [1] Keras ``keras.layers.MultiHeadAttention``.
       https://keras.io/api/layers/attention_layers/multi_head_attention/

    Examples
    --------
    Skipped in the doctest run (importing TensorFlow takes seconds):

    >>> import keras  # doctest: +SKIP
    >>> layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)  # doctest: +SKIP
    >>> x = np.random.default_rng(0).standard_normal((1, 3, 8)).astype(np.float32)
    >>> ref = np.asarray(layer(x, x))  # builds the layer  # doctest: +SKIP
    >>> p = mha_params_from_keras(layer)  # doctest: +SKIP
    >>> out, _ = multihead_attention_forward(x, x, p, 2)  # doctest: +SKIP
    >>> np.allclose(out, ref, atol=1e-5)  # doctest: +SKIP
    True
    """
    func = "mha_params_from_keras"
    d, _, use_bias, weights = _keras_mha_layout(layer, func)
    kernels = weights[0::2] if use_bias else weights
    params = {
        key: w.reshape(d, d).copy()
        for key, w in zip(("Wq", "Wk", "Wv", "Wo"), kernels, strict=True)
    }
    for i, key in enumerate(("bq", "bk", "bv", "bo")):
        params[key] = (
            weights[2 * i + 1].reshape(d).copy() if use_bias else np.zeros(d, kernels[0].dtype)
        )
    return params


def mha_params_to_keras(params: dict, layer: Any) -> None:
    """Copy a parameter dict into a built ``keras.layers.MultiHeadAttention`` (``set_weights``).

    Parameters
    ----------
    params : dict
        ``Wq Wk Wv Wo`` (D, D) and ``bq bk bv bo`` (D,).
    layer : keras.layers.MultiHeadAttention
        Built, with the layout of :func:`mha_params_from_keras`; a layer with
        ``use_bias=False`` accepts only zero biases.

    Notes
    -----
    The inverse reshapes of :func:`mha_params_from_keras`: ``Wq`` to (D, h, d_h), ``bq`` to
    (h, d_h), ``Wo`` to (h, d_h, D).

    Examples
    --------
    Skipped in the doctest run (importing TensorFlow takes seconds):

    >>> import keras  # doctest: +SKIP
    >>> layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)  # doctest: +SKIP
    >>> _ = layer(np.zeros((1, 3, 8), "float32"), np.zeros((1, 3, 8), "float32"))  # doctest: +SKIP
    >>> mha_params_to_keras(init_mha_params(8), layer)  # doctest: +SKIP
    """
    func = "mha_params_to_keras"
    d, heads, use_bias, weights = _keras_mha_layout(layer, func)
    p = _check_mha_params(params, d, func)
    kd = d // heads
    new = []
    for w, b in (("Wq", "bq"), ("Wk", "bk"), ("Wv", "bv"), ("Wo", "bo")):
        shape = (heads, kd, d) if w == "Wo" else (d, heads, kd)
        new.append(p[w].reshape(shape))
        if use_bias:
            new.append(p[b].reshape(d if b == "bo" else (heads, kd)))
        elif np.any(p[b] != 0):
            raise ValueError(f"{func}: the layer has use_bias=False but params[{b!r}] is nonzero")
    layer.set_weights([a.astype(old.dtype) for a, old in zip(new, weights, strict=True)])


# --------------------------------------------------------------------------------------------
# sinusoidal positional encoding
# --------------------------------------------------------------------------------------------


def positional_encoding(
    seq_len: int, d_model: int, base: float = 10000.0, dtype: Any = np.float64
) -> np.ndarray:
    r"""The sinusoidal positional encoding of Vaswani et al. (sines in even columns).

    Parameters
    ----------
    seq_len : int
        T, the number of positions 0, 1, ..., T - 1.
    d_model : int
        D, the width (an odd D gets one more sine column than cosine columns).
    base : float > 1, default 10000.0
        The wavelengths grow geometrically from :math:`2\pi` to :math:`2\pi \cdot` base.
    dtype : float dtype, default float64

    Returns
    -------
    ndarray, shape (T, D)
        Added to the (N, T, D) token embeddings (broadcast over the batch).

    Notes
    -----
    With frequencies :math:`\omega_i = \text{base}^{-2i/D}`, :math:`i = 0, 1, \dots`,

    .. math:: PE_{p, 2i} = \sin(p\, \omega_i), \qquad PE_{p, 2i+1} = \cos(p\, \omega_i).

    For each pair of columns :math:`(2i, 2i + 1)`, moving k positions is a rotation by the
    angle :math:`k \omega_i`, the same for every p:

    .. math:: \begin{pmatrix} PE_{p+k, 2i} \\ PE_{p+k, 2i+1} \end{pmatrix} =
              \begin{pmatrix} \cos k\omega_i & \sin k\omega_i \\
                              -\sin k\omega_i & \cos k\omega_i \end{pmatrix}
              \begin{pmatrix} PE_{p, 2i} \\ PE_{p, 2i+1} \end{pmatrix},

    a linear map of the encoding, which is the paper's reason to expect that attention can
    use relative positions. (PyTorch ships no such function; this is the formula of
    the paper's section 3.5, computed in float64 and then cast.)

    References
    ----------
    .. [1] Vaswani et al. 2017, section 3.5. https://arxiv.org/abs/1706.03762

    Examples
    --------
    >>> pe = positional_encoding(3, 4)
    >>> np.round(pe, 4)  # columns: sin(p), cos(p), sin(p / 100), cos(p / 100)
    array([[ 0.    ,  1.    ,  0.    ,  1.    ],
           [ 0.8415,  0.5403,  0.01  ,  1.    ],
           [ 0.9093, -0.4161,  0.02  ,  0.9998]])
    """
    func = "positional_encoding"
    t = check_positive_int(seq_len, name="seq_len", func=func)
    d = check_positive_int(d_model, name="d_model", func=func)
    base = check_positive_number(base, name="base", func=func)
    if not (np.isfinite(base) and base > 1):
        raise ValueError(f"{func}: base must be a finite number > 1, got {base!r}")
    dtype = _check_dtype(dtype, func)
    angles = np.arange(t, dtype=np.float64)[:, None] * base ** (-np.arange(0, d, 2) / d)
    pe = np.empty((t, d), dtype=np.float64)
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : d // 2])
    return pe.astype(dtype)


# --------------------------------------------------------------------------------------------
# GELU, tanh approximation
# --------------------------------------------------------------------------------------------

_GELU_C = math.sqrt(2.0 / math.pi)
_GELU_A = 0.044715


class GeluCache(NamedTuple):
    """What :func:`gelu_backward` needs: the input `x` and ``t = tanh(c (x + a x^3))``."""

    x: np.ndarray
    t: np.ndarray


def _gelu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c, a = x.dtype.type(_GELU_C), x.dtype.type(_GELU_A)
    t = np.tanh(c * (x + a * x * x * x))
    return x.dtype.type(0.5) * x * (1 + t), t


def _gelu_backward(dout: np.ndarray, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    c, a = x.dtype.type(_GELU_C), x.dtype.type(_GELU_A)
    half = x.dtype.type(0.5)
    return dout * (half * (1 + t) + half * x * (1 - t * t) * c * (1 + 3 * a * x * x))


def gelu_forward(x: Any) -> tuple[np.ndarray, GeluCache]:
    r"""GELU with the tanh approximation (``torch.nn.GELU(approximate="tanh")``, GPT-2's).

    Parameters
    ----------
    x : array_like of float, any shape

    Returns
    -------
    out : ndarray, shape of x
    cache : GeluCache
        What :func:`gelu_backward` needs.

    Notes
    -----
    The exact GELU is :math:`x \Phi(x)`, :math:`\Phi` the standard normal CDF [1]_; its tanh
    approximation is

    .. math:: \operatorname{GELU}(x) \approx \tfrac12 x \big(1 + \tanh u\big), \qquad
              u = \sqrt{2/\pi}\,(x + 0.044715\, x^3).

    References
    ----------
    .. [1] Hendrycks and Gimpel 2016, section 2. https://arxiv.org/abs/1606.08415
    .. [2] PyTorch ``torch.nn.GELU``.
       https://pytorch.org/docs/stable/generated/torch.nn.GELU.html

    Examples
    --------
    >>> out, _ = gelu_forward(np.array([-3.0, 0.0, 1.0, 3.0]))
    >>> np.round(out, 4)
    array([-0.0036,  0.    ,  0.8412,  2.9964])
    """
    x = as_float_array(x, name="x", func="gelu_forward")
    out, t = _gelu_forward(x)
    return out, GeluCache(x, t)


def gelu_backward(dout: Any, cache: GeluCache) -> np.ndarray:
    r"""Backward pass of :func:`gelu_forward`.

    Parameters
    ----------
    dout : array_like of float, shape of x
    cache : GeluCache

    Returns
    -------
    dx : ndarray, shape of x

    Notes
    -----
    .. math:: \frac{d}{dx} \tfrac12 x (1 + \tanh u) = \tfrac12 (1 + \tanh u)
              + \tfrac12 x (1 - \tanh^2 u)\, \sqrt{2/\pi}\, (1 + 3 \cdot 0.044715\, x^2).

    Examples
    --------
    >>> _, cache = gelu_forward(np.array([0.0]))
    >>> gelu_backward(np.array([1.0]), cache)
    array([0.5])
    """
    func = "gelu_backward"
    cache = check_cache(cache, GeluCache, forward="gelu_forward", func=func)
    dout = as_output_gradient(dout, cache.x.shape, output="x has shape", func=func)
    return _gelu_backward(dout.astype(cache.x.dtype, copy=False), cache.x, cache.t)


# --------------------------------------------------------------------------------------------
# the pre-norm transformer block
# --------------------------------------------------------------------------------------------

BLOCK_KEYS = ("ln1_gamma", "ln1_beta", "attn", "ln2_gamma", "ln2_beta", "W1", "b1", "W2", "b2")


class BlockCache(NamedTuple):
    """What :func:`transformer_block_backward` needs.

    Attributes
    ----------
    ln1, ln2 : NormCache
        The two layer norms' caches.
    attn : MHACache
        The self-attention's cache (``attn.attn.weights`` is (N, h, T, T)).
    u2 : ndarray, shape (N * T, D)
        LN2's output, the MLP's input, as rows.
    z2 : ndarray, shape (N * T, F)
        The first linear layer's output (GELU's input).
    gelu : GeluCache
        GELU's cache.
    g2 : ndarray, shape (N * T, F)
        GELU's output, the second linear layer's input.
    params : dict
        The parameters (checked, as the caller gave them: the gradients take their dtypes).
    work : dict
        The parameters cast to the computation's dtype.
    dtype : dtype
        The dtype of x.
    """

    ln1: Any
    attn: MHACache
    ln2: Any
    u2: np.ndarray
    z2: np.ndarray
    gelu: GeluCache
    g2: np.ndarray
    params: dict
    work: dict
    dtype: np.dtype


def init_transformer_block_params(
    d_model: int, d_ff: int | None = None, seed: Any = 0, dtype: Any = np.float64
) -> dict:
    r"""Random parameters of a pre-norm transformer block.

    Parameters
    ----------
    d_model : int
        D.
    d_ff : int, optional
        F, the MLP's hidden width; default 4 D (Vaswani et al.'s ratio).
    seed : int or numpy.random.Generator, default 0
    dtype : float dtype, default float64

    Returns
    -------
    dict
        ``ln1_gamma ln1_beta ln2_gamma ln2_beta`` (D,) (ones and zeros), ``attn`` (an
        :func:`init_mha_params` dict), ``W1`` (D, F), ``b1`` (F,), ``W2`` (F, D), ``b2`` (D,)
        with ``nn.Linear``'s :math:`U(-1/\sqrt{\text{fan in}}, 1/\sqrt{\text{fan in}})`.

    Examples
    --------
    >>> p = init_transformer_block_params(8, seed=0)
    >>> p["W1"].shape, p["W2"].shape, sorted(p["attn"])[:2]
    ((8, 32), (32, 8), ['Wk', 'Wo'])
    """
    func = "init_transformer_block_params"
    d = check_positive_int(d_model, name="d_model", func=func)
    f = 4 * d if d_ff is None else check_positive_int(d_ff, name="d_ff", func=func)
    rng = as_generator(seed, func=func)
    dtype = _check_dtype(dtype, func)
    a1, a2 = 1.0 / math.sqrt(d), 1.0 / math.sqrt(f)
    return {
        "ln1_gamma": np.ones(d, dtype),
        "ln1_beta": np.zeros(d, dtype),
        "attn": init_mha_params(d, seed=rng, dtype=dtype),
        "ln2_gamma": np.ones(d, dtype),
        "ln2_beta": np.zeros(d, dtype),
        "W1": rng.uniform(-a1, a1, (d, f)).astype(dtype),
        "b1": rng.uniform(-a1, a1, f).astype(dtype),
        "W2": rng.uniform(-a2, a2, (f, d)).astype(dtype),
        "b2": rng.uniform(-a2, a2, d).astype(dtype),
    }


def _check_block_params(params: Any, d: int, func: str) -> dict:
    if not isinstance(params, dict):
        raise ValueError(f"{func}: params must be a dict with keys {', '.join(BLOCK_KEYS)}")
    missing = [key for key in BLOCK_KEYS if key not in params]
    if missing:
        raise ValueError(f"{func}: params lacks the key(s) {', '.join(missing)}")
    p = {"attn": _check_mha_params(params["attn"], d, func, name="params['attn']")}
    for key in ("ln1_gamma", "ln1_beta", "ln2_gamma", "ln2_beta", "b2"):
        p[key] = as_float_array(params[key], name=f"params[{key!r}]", func=func)
        if p[key].shape != (d,):
            raise ValueError(f"{func}: params[{key!r}] has shape {p[key].shape}, expected ({d},)")
    w1 = as_float_array(params["W1"], name="params['W1']", func=func, ndim=2)
    if w1.shape[0] != d:
        raise ValueError(f"{func}: params['W1'] has shape {w1.shape}, expected ({d}, F)")
    f = w1.shape[1]
    p["W1"] = w1
    for key, want in (("b1", (f,)), ("W2", (f, d))):
        p[key] = as_float_array(params[key], name=f"params[{key!r}]", func=func)
        if p[key].shape != want:
            raise ValueError(f"{func}: params[{key!r}] has shape {p[key].shape}, expected {want}")
    return p


def transformer_block_forward(
    x: Any, params: dict, num_heads: int, causal: bool = True
) -> tuple[np.ndarray, BlockCache]:
    r"""A pre-norm transformer block: self-attention and a GELU MLP, each with a residual.

    Parameters
    ----------
    x : array_like of float, shape (N, T, D)
    params : dict
        As :func:`init_transformer_block_params` returns.
    num_heads : int
        A divisor of D.
    causal : bool, default True
        Causal self-attention (a decoder, as GPT); False attends to every position.

    Returns
    -------
    out : ndarray, shape (N, T, D)
    cache : BlockCache

    Notes
    -----
    .. math:: h = x + \operatorname{MHA}(\operatorname{LN}_1(x)), \qquad
              \text{out} = h + \operatorname{GELU}(\operatorname{LN}_2(h)\, W_1 + b_1)\, W_2
              + b_2,

    with layer norms of :math:`\epsilon = 10^{-5}` (PyTorch's default;
    :func:`lapenna_labs.norm.layernorm_forward`), no dropout. The original transformer put the
    norm *after* each residual sum (post-norm); normalising the branch's input instead leaves
    an identity path from input to output, which keeps the gradients at initialisation well
    scaled and lets deep stacks train without a learning-rate warm-up [1]_. GPT-2 and most
    later models are pre-norm.

    References
    ----------
    .. [1] Xiong et al. 2020, "On Layer Normalization in the Transformer Architecture".
       https://arxiv.org/abs/2002.04745
    .. [2] Vaswani et al. 2017, section 3.1. https://arxiv.org/abs/1706.03762

    Examples
    --------
    >>> p = init_transformer_block_params(8, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 8))
    >>> out, cache = transformer_block_forward(x, p, num_heads=2)
    >>> out.shape, cache.attn.attn.weights.shape
    ((2, 5, 8), (2, 2, 5, 5))
    """
    func = "transformer_block_forward"
    x = _check_sequence(x, "x", func)
    n, t, d = x.shape
    heads = _check_heads(num_heads, d, func)
    p = _check_block_params(params, d, func)
    allowed = _allowed_mask(None, causal, t, t, (n, heads), func)
    flat = [v for key, v in p.items() if key != "attn"] + list(p["attn"].values())
    dtype = np.result_type(x, *flat)
    work = {key: v.astype(dtype, copy=False) for key, v in p.items() if key != "attn"}
    work["attn"] = {key: v.astype(dtype, copy=False) for key, v in p["attn"].items()}
    xw = x.astype(dtype, copy=False)

    u1, ln1 = layernorm_forward(xw, work["ln1_gamma"], work["ln1_beta"])
    a, attn = _mha_forward(u1, u1, work["attn"], heads, allowed)
    h = xw + a
    u2, ln2 = layernorm_forward(h, work["ln2_gamma"], work["ln2_beta"])
    u2 = u2.reshape(n * t, d)
    z2 = _dense_forward(u2, work["W1"], work["b1"])
    g2, gt = _gelu_forward(z2)
    out = h + _dense_forward(g2, work["W2"], work["b2"]).reshape(n, t, d)
    cache = BlockCache(ln1, attn, ln2, u2, z2, GeluCache(z2, gt), g2, p, work, x.dtype)
    return out, cache


def transformer_block_backward(dout: Any, cache: BlockCache) -> tuple[np.ndarray, dict]:
    r"""Backward pass of :func:`transformer_block_forward`.

    Parameters
    ----------
    dout : array_like of float, shape (N, T, D)
    cache : BlockCache

    Returns
    -------
    dx : ndarray, shape (N, T, D)
    grads : dict
        Nested like the parameters: ``grads["attn"]["Wq"]``, ``grads["W1"]``, ...

    Notes
    -----
    Each residual sum copies its gradient to both branches: :math:`dh = d\text{out} +
    (\text{MLP branch})^\top d\text{out}` and :math:`dx = dh + (\text{attention branch})^\top
    dh`; the attention branch is self-attention, so LN1's output gets ``dx_q + dx_kv`` of
    :func:`multihead_attention_backward`.

    Examples
    --------
    >>> p = init_transformer_block_params(8, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((2, 5, 8))
    >>> out, cache = transformer_block_forward(x, p, num_heads=2)
    >>> dx, grads = transformer_block_backward(np.ones_like(out), cache)
    >>> dx.shape, grads["attn"]["Wq"].shape, grads["W1"].shape
    ((2, 5, 8), (8, 8), (8, 32))
    """
    func = "transformer_block_backward"
    cache = check_cache(cache, BlockCache, forward="transformer_block_forward", func=func)
    n, t, _, d, _ = cache.attn.shapes
    dout = as_output_gradient(dout, (n, t, d), output="the block's output has shape", func=func)
    w = cache.work
    dout = dout.astype(cache.u2.dtype, copy=False)
    dg2, dW2, db2 = _dense_backward(dout.reshape(n * t, d), cache.g2, w["W2"])
    dz2 = _gelu_backward(dg2, cache.gelu.x, cache.gelu.t)
    du2, dW1, db1 = _dense_backward(dz2, cache.u2, w["W1"])
    dh2, dg_ln2, db_ln2 = layernorm_backward(du2.reshape(n, t, d), cache.ln2)
    dh = dout + dh2
    du1_q, du1_kv, g_attn = _mha_backward(dh, cache.attn)
    dx1, dg_ln1, db_ln1 = layernorm_backward(du1_q + du1_kv, cache.ln1)
    dx = dh + dx1
    p = cache.params
    grads = {
        "ln1_gamma": dg_ln1,
        "ln1_beta": db_ln1,
        "ln2_gamma": dg_ln2,
        "ln2_beta": db_ln2,
        "W1": dW1,
        "b1": db1,
        "W2": dW2,
        "b2": db2,
    }
    grads = {key: g.astype(p[key].dtype, copy=False) for key, g in grads.items()}
    grads["attn"] = {key: g.astype(p["attn"][key].dtype, copy=False) for key, g in g_attn.items()}
    return dx.astype(cache.dtype, copy=False), {key: grads[key] for key in BLOCK_KEYS}


# --------------------------------------------------------------------------------------------
# the cost of attention, and the key-value cache
# --------------------------------------------------------------------------------------------

SOFTMAX_FLOPS_PER_SCORE = 5
"""Flops counted per score for the scaling and the softmax (see :func:`attention_cost`)."""


class AttentionCost(NamedTuple):
    """Flops and bytes of one multi-head self-attention layer (see :func:`attention_cost`).

    Attributes
    ----------
    score_flops : int
        :math:`QK^\\top` and :math:`PV`: :math:`4 B T^2 D`.
    softmax_flops : int
        :math:`5 B h T^2` (scaling and softmax, 5 per score).
    projection_flops : int
        The four (D, D) projections: :math:`8 B T D^2`.
    total_flops : int
        The sum of the three.
    score_bytes : int
        One materialised (B, h, T, T) score (or weight) matrix: :math:`B h T^2` elements.
    qkvo_bytes : int
        Q, K, V and the output, (B, T, D) each: :math:`4 B T D` elements, the least an
        attention kernel must read and write (FlashAttention's IO, up to its tiling).
    kv_cache_bytes_per_token : int
        The keys and values one generated token adds to a :class:`KVCache`: :math:`2 B D`
        elements (one layer).
    """

    score_flops: int
    softmax_flops: int
    projection_flops: int
    total_flops: int
    score_bytes: int
    qkvo_bytes: int
    kv_cache_bytes_per_token: int


def attention_cost(
    seq_len: int,
    d_model: int,
    num_heads: int = 1,
    batch: int = 1,
    bytes_per_element: int = 4,
) -> AttentionCost:
    r"""Flops and memory of one multi-head self-attention layer's forward pass.

    Parameters
    ----------
    seq_len : int
        T (queries = keys = T).
    d_model : int
        D; each of the h heads has :math:`d_h = D / h` features.
    num_heads : int, default 1
        h, a divisor of D.
    batch : int, default 1
        B.
    bytes_per_element : int, default 4
        4 for float32, 2 for float16/bfloat16, 8 for float64.

    Returns
    -------
    AttentionCost
        Python ints.

    Notes
    -----
    **A multiply-add counts as 2 flops**, so an (m, k) by (k, n) product costs
    :math:`2mkn` (as ``torch.utils.flop_counter`` counts). Per head, :math:`QK^\top` is
    :math:`(T, d_h)(d_h, T)`: :math:`2 T^2 d_h`, and :math:`PV` the same; over h heads
    and B sequences,

    .. math:: \text{score flops} = 4 B T^2 D, \qquad \text{projection flops} =
              4 \cdot 2 B T D^2 = 8 B T D^2 .

    The softmax is counted as 5 flops per score (the :math:`1/\sqrt{d_h}` scaling, the
    subtraction of the row maximum, the exponential counted as one flop, the row sum and the
    division; the maximum's comparisons are not counted): :math:`5 B h T^2`. Attention's
    GEMMs overtake the projections when :math:`4 T^2 D > 8 T D^2`, i.e. :math:`T > 2D`.

    Memory: the (B, h, T, T) score matrix holds :math:`B h T^2` elements, quadratic in T,
    while the inputs and output are linear, :math:`4 B T D`. FlashAttention [1]_ computes the
    same output tile by tile in on-chip memory and never writes the :math:`T^2` matrix to
    DRAM, which is why it is faster although it does more flops (it recomputes P in the
    backward pass). In generation, a :class:`KVCache` keeps :math:`2 B D` elements per token
    and per layer, so the next token costs :math:`O(T D)` instead of re-running the prefix.

    References
    ----------
    .. [1] Dao et al. 2022, section 3.2 (IO complexity). https://arxiv.org/abs/2205.14135
    .. [2] Vaswani et al. 2017, table 1 (complexity per layer).
       https://arxiv.org/abs/1706.03762

    Examples
    --------
    >>> c = attention_cost(seq_len=1024, d_model=64, num_heads=4)
    >>> c.score_flops, c.projection_flops, c.score_bytes  # T > 2D: the T^2 part dominates
    (268435456, 33554432, 16777216)
    """
    func = "attention_cost"
    t = check_positive_int(seq_len, name="seq_len", func=func)
    d = check_positive_int(d_model, name="d_model", func=func)
    h = _check_heads(num_heads, d, func)
    b = check_positive_int(batch, name="batch", func=func)
    e = check_positive_int(bytes_per_element, name="bytes_per_element", func=func)
    score = 4 * b * t * t * d
    softmax = SOFTMAX_FLOPS_PER_SCORE * b * h * t * t
    projection = 8 * b * t * d * d
    return AttentionCost(
        score_flops=score,
        softmax_flops=softmax,
        projection_flops=projection,
        total_flops=score + softmax + projection,
        score_bytes=b * h * t * t * e,
        qkvo_bytes=4 * b * t * d * e,
        kv_cache_bytes_per_token=2 * b * d * e,
    )


class KVCache:
    r"""A preallocated key-value cache for autoregressive decoding (one attention layer).

    Parameters
    ----------
    batch : int
        N.
    num_heads : int
        h.
    max_len : int
        The most tokens it can hold.
    head_dim : int
        :math:`d_h`.
    dtype : float dtype, default float64

    Notes
    -----
    At decoding step t the new token's query attends to the keys and values of tokens
    :math:`0, \dots, t`; those of the earlier tokens do not change, so they are kept instead
    of recomputed. Without a cache, step t recomputes t projections and costs
    :math:`O(t D^2 + t^2 D)`; with it, :math:`O(D^2 + t D)`. The buffers are allocated
    once, (N, h, max_len, :math:`d_h`) each, and :meth:`append` writes into them and
    returns views of the filled part (no copy, no reallocation per token). Attending the
    new queries to all the returned keys needs no causal mask when one token is appended
    at a time; appending a prompt of several tokens at once needs one (see the example).

    Examples
    --------
    Decode three tokens one at a time; step t attends to keys 0..t:

    >>> rng = np.random.default_rng(0)
    >>> q, k, v = rng.standard_normal((3, 1, 1, 3, 2))
    >>> cache = KVCache(batch=1, num_heads=1, max_len=3, head_dim=2)
    >>> steps = []
    >>> for t in range(3):
    ...     K, V = cache.append(k[:, :, t : t + 1], v[:, :, t : t + 1])
    ...     steps.append(attention_forward(q[:, :, t : t + 1], K, V)[0])
    >>> full, _ = attention_forward(q, k, v, causal=True)
    >>> len(cache), np.allclose(np.concatenate(steps, axis=2), full)
    (3, True)
    """

    def __init__(
        self, batch: int, num_heads: int, max_len: int, head_dim: int, dtype: Any = np.float64
    ) -> None:
        func = "KVCache"
        shape = tuple(
            check_positive_int(v, name=name, func=func)
            for v, name in (
                (batch, "batch"),
                (num_heads, "num_heads"),
                (max_len, "max_len"),
                (head_dim, "head_dim"),
            )
        )
        dtype = _check_dtype(dtype, func)
        self._k = np.zeros(shape, dtype=dtype)
        self._v = np.zeros(shape, dtype=dtype)
        self._len = 0

    @property
    def max_len(self) -> int:
        """The capacity, in tokens."""
        return self._k.shape[2]

    @property
    def nbytes(self) -> int:
        """The bytes of the two preallocated buffers."""
        return self._k.nbytes + self._v.nbytes

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        n, h, m, d = self._k.shape
        return (
            f"KVCache(batch={n}, num_heads={h}, max_len={m}, head_dim={d}, "
            f"dtype={self._k.dtype}, len={self._len})"
        )

    def append(self, k: Any, v: Any) -> tuple[np.ndarray, np.ndarray]:
        """Store the keys and values of ``t_new`` new tokens; return all stored so far.

        Parameters
        ----------
        k, v : array_like of float, shape (N, h, t_new, head_dim)

        Returns
        -------
        K, V : ndarray, shape (N, h, len(self), head_dim)
            Read-only views of the filled part of the buffers (valid until the next
            :meth:`reset`).

        Raises
        ------
        ValueError
            If the shapes do not match the cache's, or the cache would overflow max_len.
        """
        func = "KVCache.append"
        k = as_float_array(k, name="k", func=func, ndim=4)
        v = as_float_array(v, name="v", func=func, ndim=4)
        n, h, _, d = self._k.shape
        for name, arr in (("k", k), ("v", v)):
            if arr.shape[:2] != (n, h) or arr.shape[3] != d or arr.shape[2] == 0:
                raise ValueError(
                    f"{func}: {name} has shape {arr.shape}, expected ({n}, {h}, t_new, {d}) "
                    "with t_new >= 1"
                )
        if k.shape != v.shape:
            raise ValueError(f"{func}: k has shape {k.shape} but v has shape {v.shape}")
        new = self._len + k.shape[2]
        if new > self.max_len:
            raise ValueError(
                f"{func}: appending {k.shape[2]} token(s) to {self._len} would exceed "
                f"max_len={self.max_len}"
            )
        self._k[:, :, self._len : new] = k
        self._v[:, :, self._len : new] = v
        self._len = new
        K, V = self._k[:, :, :new], self._v[:, :, :new]
        K.flags.writeable = False
        V.flags.writeable = False
        return K, V

    def reset(self) -> None:
        """Forget every token (the buffers are kept and overwritten)."""
        self._len = 0
