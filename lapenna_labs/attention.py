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
    as_output_gradient,
    check_cache,
)
from lapenna_labs.activations import _softmax

__all__ = [
    "AttentionCache",
    "attention_backward",
    "attention_forward",
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
