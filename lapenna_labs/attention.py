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
)
from lapenna_labs.activations import _softmax
from lapenna_labs.layers import _dense_backward, _dense_forward

__all__ = [
    "AttentionCache",
    "MHACache",
    "attention_backward",
    "attention_forward",
    "init_mha_params",
    "mha_params_from_keras",
    "mha_params_from_torch",
    "mha_params_to_keras",
    "mha_params_to_torch",
    "multihead_attention_backward",
    "multihead_attention_forward",
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
    >>> import torch  # doctest: +SKIP
    >>> m = torch.nn.MultiheadAttention(8, 2, batch_first=True)  # doctest: +SKIP
    >>> p = mha_params_from_torch(m)  # doctest: +SKIP
    >>> out, _ = multihead_attention_forward(x, x, p, 2)  # = m(x, x, x)[0]  # doctest: +SKIP
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
    >>> m = torch.nn.MultiheadAttention(8, 2, batch_first=True)  # doctest: +SKIP
    >>> mha_params_to_torch(init_mha_params(8, seed=1), m)  # doctest: +SKIP
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
    >>> layer = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)  # doctest: +SKIP
    >>> _ = layer(x, x)  # builds it  # doctest: +SKIP
    >>> p = mha_params_from_keras(layer)  # doctest: +SKIP
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
