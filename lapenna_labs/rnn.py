r"""Recurrent layers (vanilla RNN, LSTM, GRU), embeddings and a temporal loss, in NumPy.

Every layer is a forward/backward pair in the style of cs231n's ``rnn_layers.py``. A step
function maps one time step, ``(N, D)`` inputs and ``(N, H)`` states; a sequence function
runs the step over ``(N, T, D)`` and returns every hidden state ``(N, T, H)``. Rows are
batches and weights multiply from the right, as in :mod:`lapenna_labs.layers`:

.. math:: h_t = \tanh(x_t W_x + h_{t-1} W_h + b)

The sequence functions loop over private step kernels (``_rnn_step``, ``_lstm_step``,
``_gru_step`` and their backward twins) that hold the only copy of each formula and trust
their input; the public functions validate once, at the boundary.

Gate layouts (a framework trap)
-------------------------------
The weights of all gates sit side by side in one matrix, ``Wx`` ``(D, G H)`` and ``Wh``
``(H, G H)``, transposed with respect to PyTorch's ``weight_ih_l0`` ``(G H, D)``:

* **LSTM** (:math:`G = 4`): gates ``(i, f, g, o)``, PyTorch's order, which is also Keras's
  ``(i, f, c, o)``.
* **GRU** (:math:`G = 3`): gates ``(r, z, n)``, PyTorch's order. Keras stores ``(z, r, h)``
  (update gate first); :func:`params_from_keras` and :func:`params_to_keras` swap the first
  two blocks. The GRU also has **two** biases, ``bx`` on the input side and ``bh`` on the
  recurrent side, because with ``reset_after=True`` the reset gate multiplies
  :math:`h W_{hn} + b_{hn}`, so :math:`b_{hn}` cannot be folded into :math:`b_{xn}`.
  ``reset_after=True`` is PyTorch's only form and Keras's default; ``reset_after=False`` is
  the original form of Cho et al. [3]_ (the reset gate applied to :math:`h` *before* the
  product), Keras's ``reset_after=False``, whose single bias is our ``bx`` with ``bh = 0``.
* The vanilla RNN and the LSTM have one bias ``b``; PyTorch's two (``b_ih + b_hh``) only ever
  appear as their sum.

References
----------
.. [1] J. L. Elman, "Finding Structure in Time", *Cognitive Science* 14(2), 1990.
   https://doi.org/10.1207/s15516709cog1402_1
.. [2] S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory", *Neural Computation* 9(8),
   1997. https://doi.org/10.1162/neco.1997.9.8.1735
.. [3] K. Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
   Statistical Machine Translation", EMNLP 2014. https://arxiv.org/abs/1406.1078
.. [4] P. J. Werbos, "Backpropagation Through Time: What It Does and How to Do It",
   *Proceedings of the IEEE* 78(10), 1990. https://doi.org/10.1109/5.58337
.. [5] PyTorch, ``torch.nn.RNN``, ``torch.nn.LSTM``, ``torch.nn.GRU``.
   https://pytorch.org/docs/stable/generated/torch.nn.GRU.html
.. [6] Keras, ``keras.layers.SimpleRNN``, ``LSTM``, ``GRU`` (``reset_after``).
   https://keras.io/api/layers/recurrent_layers/gru/
.. [7] Stanford CS231n, assignment 3, ``rnn_layers.py``.
   https://cs231n.github.io/assignments2024/assignment3/
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from lapenna_labs._validation import (
    as_float_array,
    as_generator,
    as_output_gradient,
    check_cache,
    check_name,
    check_positive_int,
)
from lapenna_labs.activations import _sigmoid, _tanh
from lapenna_labs.losses import _softmax_cross_entropy_with_grad

__all__ = [
    "EmbeddingCache",
    "GRUCache",
    "GRUStepCache",
    "LSTMCache",
    "LSTMStepCache",
    "RNNCache",
    "RNNStepCache",
    "embedding_backward",
    "embedding_forward",
    "gru_backward",
    "gru_forward",
    "gru_step_backward",
    "gru_step_forward",
    "init_rnn_params",
    "lstm_backward",
    "lstm_forward",
    "lstm_step_backward",
    "lstm_step_forward",
    "params_from_keras",
    "params_from_torch",
    "params_to_keras",
    "params_to_torch",
    "rnn_backward",
    "rnn_forward",
    "rnn_step_backward",
    "rnn_step_forward",
    "temporal_softmax_cross_entropy",
]

#: number of gate blocks per kind of cell
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# --------------------------------------------------------------------------------------------
# caches
# --------------------------------------------------------------------------------------------


class RNNStepCache(NamedTuple):
    """What :func:`rnn_step_backward` needs (returned by :func:`rnn_step_forward`).

    ``x`` (N, D), ``h_prev`` (N, H), ``h`` (N, H) the new state, ``Wx``, ``Wh`` and the
    dtypes of ``(x, h_prev, Wx, Wh, b)`` for the gradients.
    """

    x: np.ndarray
    h_prev: np.ndarray
    h: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    dtypes: tuple[np.dtype, ...]


class RNNCache(NamedTuple):
    """What :func:`rnn_backward` needs: ``x`` (N, T, D), ``h0`` (N, H), ``h`` (N, T, H)."""

    x: np.ndarray
    h0: np.ndarray
    h: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    dtypes: tuple[np.dtype, ...]


class LSTMStepCache(NamedTuple):
    """What :func:`lstm_step_backward` needs; ``gates`` (N, 4H) holds i, f, g, o activated."""

    x: np.ndarray
    h_prev: np.ndarray
    c_prev: np.ndarray
    c: np.ndarray
    gates: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    dtypes: tuple[np.dtype, ...]


class LSTMCache(NamedTuple):
    """What :func:`lstm_backward` needs: states ``h``, ``c`` (N, T, H), ``gates`` (N, T, 4H)."""

    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    h: np.ndarray
    c: np.ndarray
    gates: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    dtypes: tuple[np.dtype, ...]


class GRUStepCache(NamedTuple):
    """What :func:`gru_step_backward` needs; ``gates`` (N, 3H) holds r, z, n.

    ``aux`` (N, H) is :math:`h W_{hn} + b_{hn}` when ``reset_after`` is True and
    :math:`r \\odot h` when it is False.
    """

    x: np.ndarray
    h_prev: np.ndarray
    h: np.ndarray
    gates: np.ndarray
    aux: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    reset_after: bool
    dtypes: tuple[np.dtype, ...]


class GRUCache(NamedTuple):
    """What :func:`gru_backward` needs: ``h`` (N, T, H), ``gates`` (N, T, 3H), ``aux`` (N, T, H)."""

    x: np.ndarray
    h0: np.ndarray
    h: np.ndarray
    gates: np.ndarray
    aux: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    reset_after: bool
    dtypes: tuple[np.dtype, ...]


class EmbeddingCache(NamedTuple):
    """What :func:`embedding_backward` needs: the indices and the table's shape and dtype."""

    idx: np.ndarray
    shape: tuple[int, int]
    dtype: np.dtype


# --------------------------------------------------------------------------------------------
# private kernels: one copy of each formula, for checked input
# --------------------------------------------------------------------------------------------


def _rnn_step(
    x: np.ndarray, h_prev: np.ndarray, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> np.ndarray:
    return _tanh(x @ Wx + h_prev @ Wh + b)


def _rnn_step_back(
    dh: np.ndarray,
    x: np.ndarray,
    h_prev: np.ndarray,
    h: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """``(dx, dh_prev, dWx, dWh, db)`` of one step, given the total gradient `dh` on h."""
    da = dh * (1 - h * h)  # tanh'(a) = 1 - tanh(a)^2, from the output
    return da @ Wx.T, da @ Wh.T, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def _lstm_step(
    x: np.ndarray,
    h_prev: np.ndarray,
    c_prev: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(h, c, gates)``, gates (N, 4H) = (i, f, g, o) after their nonlinearities."""
    H = h_prev.shape[1]
    gates = x @ Wx + h_prev @ Wh + b
    gates[:, : 2 * H] = _sigmoid(gates[:, : 2 * H])
    gates[:, 2 * H : 3 * H] = _tanh(gates[:, 2 * H : 3 * H])
    gates[:, 3 * H :] = _sigmoid(gates[:, 3 * H :])
    i, f, g, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    c = f * c_prev + i * g
    return o * _tanh(c), c, gates


def _lstm_step_back(
    dh: np.ndarray,
    dc: np.ndarray,
    x: np.ndarray,
    h_prev: np.ndarray,
    c_prev: np.ndarray,
    c: np.ndarray,
    gates: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """``(dx, dh_prev, dc_prev, dWx, dWh, db)`` of one step, given total `dh`, `dc`."""
    H = h_prev.shape[1]
    i, f, g, o = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H : 3 * H], gates[:, 3 * H :]
    tc = _tanh(c)
    dc = dc + dh * o * (1 - tc * tc)  # the cell's total gradient: direct and through h
    da = np.empty_like(gates)
    da[:, :H] = dc * g * i * (1 - i)
    da[:, H : 2 * H] = dc * c_prev * f * (1 - f)
    da[:, 2 * H : 3 * H] = dc * i * (1 - g * g)
    da[:, 3 * H :] = dh * tc * o * (1 - o)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, h_prev.T @ da, da.sum(axis=0)


def _gru_step(
    x: np.ndarray,
    h_prev: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    bx: np.ndarray,
    bh: np.ndarray,
    reset_after: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(h, gates, aux)``: gates (N, 3H) = (r, z, n); aux as in :class:`GRUStepCache`."""
    H = h_prev.shape[1]
    gates = x @ Wx + bx
    if reset_after:
        ah = h_prev @ Wh + bh
        gates[:, : 2 * H] = _sigmoid(gates[:, : 2 * H] + ah[:, : 2 * H])
        aux = ah[:, 2 * H :]
        gates[:, 2 * H :] = _tanh(gates[:, 2 * H :] + gates[:, :H] * aux)
    else:
        gates[:, : 2 * H] = _sigmoid(gates[:, : 2 * H] + h_prev @ Wh[:, : 2 * H] + bh[: 2 * H])
        aux = gates[:, :H] * h_prev
        gates[:, 2 * H :] = _tanh(gates[:, 2 * H :] + aux @ Wh[:, 2 * H :] + bh[2 * H :])
    z, n = gates[:, H : 2 * H], gates[:, 2 * H :]
    return n + z * (h_prev - n), gates, aux  # (1 - z) n + z h_prev


def _gru_step_back(
    dh: np.ndarray,
    x: np.ndarray,
    h_prev: np.ndarray,
    gates: np.ndarray,
    aux: np.ndarray,
    Wx: np.ndarray,
    Wh: np.ndarray,
    reset_after: bool,
) -> tuple[np.ndarray, ...]:
    """``(dx, dh_prev, dWx, dWh, dbx, dbh)`` of one step, given the total gradient `dh`."""
    H = h_prev.shape[1]
    r, z, n = gates[:, :H], gates[:, H : 2 * H], gates[:, 2 * H :]
    dan = dh * (1 - z) * (1 - n * n)  # through n = tanh(a_n)
    dax = np.empty_like(gates)  # gradient on the input-side pre-activations x Wx + bx
    dax[:, H : 2 * H] = dh * (h_prev - n) * z * (1 - z)
    dax[:, 2 * H :] = dan
    dh_prev = dh * z
    if reset_after:
        dax[:, :H] = dan * aux * r * (1 - r)
        dah = dax.copy()  # gradient on h Wh + bh: the same, but n's block is scaled by r
        dah[:, 2 * H :] *= r
        dh_prev = dh_prev + dah @ Wh.T
        dWh, dbh = h_prev.T @ dah, dah.sum(axis=0)
    else:
        drh = dan @ Wh[:, 2 * H :].T  # gradient on aux = r * h_prev
        dax[:, :H] = drh * h_prev * r * (1 - r)
        dh_prev = dh_prev + drh * r + dax[:, : 2 * H] @ Wh[:, : 2 * H].T
        dWh = np.concatenate([h_prev.T @ dax[:, : 2 * H], aux.T @ dan], axis=1)
        dbh = dax.sum(axis=0)
    return dax @ Wx.T, dh_prev, x.T @ dax, dWh, dax.sum(axis=0), dbh


# --------------------------------------------------------------------------------------------
# validation shared by the public functions
# --------------------------------------------------------------------------------------------


def _check_cell_input(
    func: str,
    kind: str,
    x: Any,
    h: Any,
    weights: dict[str, Any],
    *,
    sequence: bool,
    hname: str,
    extra_states: dict[str, Any] | None = None,
) -> tuple[list[np.ndarray], list[np.dtype]]:
    """Check x, the state(s) and the weights of a cell; return them cast to one dtype.

    `weights` maps names to values in the order Wx, Wh, then the biases. Returns the
    arrays ``[x, h, *extra_states, *weights]`` in the common (promoted) dtype and their
    original dtypes (for casting the gradients back).
    """
    x = as_float_array(x, name="x", func=func, ndim=3 if sequence else 2)
    if sequence and x.shape[1] == 0:
        raise ValueError(f"{func}: x has no time steps (shape {x.shape})")
    h = as_float_array(h, name=hname, func=func, ndim=2)
    N, D, H = x.shape[0], x.shape[-1], h.shape[1]
    what = "batch size" if sequence else "rows"
    extra_states = extra_states or {}
    states = [h] + [
        as_float_array(value, name=name, func=func, ndim=2) for name, value in extra_states.items()
    ]
    for name, arr in zip([hname, *extra_states], states, strict=True):
        if arr.shape != (N, H):
            raise ValueError(
                f"{func}: {name} has shape {arr.shape} but x has {what} {N} and {hname} has "
                f"{H} hidden units; it must be {(N, H)}"
            )
    GH = _GATES[kind] * H
    layout = {"rnn": "", "lstm": " (gates i, f, g, o)", "gru": " (gates r, z, n)"}[kind]
    expected = {"Wx": (D, GH), "Wh": (H, GH)}
    arrays = []
    for name, value in weights.items():
        arr = as_float_array(value, name=name, func=func, ndim=1 if name[0] == "b" else 2)
        want = expected.get(name, (GH,))
        if arr.shape != want:
            raise ValueError(
                f"{func}: {name} has shape {arr.shape} but must be {want}{layout} for x with "
                f"{D} features and {H} hidden units"
            )
        arrays.append(arr)
    everything = [x, *states, *arrays]
    dtypes = [a.dtype for a in everything]
    dt = np.result_type(*dtypes)
    return [a.astype(dt, copy=False) for a in everything], dtypes


def _check_dh(dh: Any, shape: tuple[int, ...], func: str) -> np.ndarray:
    return as_output_gradient(dh, shape, output="the hidden states have shape", func=func)


def _check_named_grad(g: Any, shape: tuple[int, ...], func: str, name: str) -> np.ndarray:
    arr = as_float_array(g, name=name, func=func)
    if arr.shape != shape:
        raise ValueError(f"{func}: {name} has shape {arr.shape} but the states have shape {shape}")
    return arr


def _cast(grads: tuple[np.ndarray, ...], dtypes: tuple[np.dtype, ...]) -> tuple[np.ndarray, ...]:
    return tuple(g.astype(d, copy=False) for g, d in zip(grads, dtypes, strict=True))


def _check_reset_after(value: Any, func: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{func}: reset_after must be True or False, got {value!r}")
    return bool(value)


# --------------------------------------------------------------------------------------------
# vanilla RNN
# --------------------------------------------------------------------------------------------


def rnn_step_forward(
    x: Any, h_prev: Any, Wx: Any, Wh: Any, b: Any
) -> tuple[np.ndarray, RNNStepCache]:
    r"""One step of a vanilla (Elman) RNN: ``h = tanh(x Wx + h_prev Wh + b)``.

    Parameters
    ----------
    x : array_like of float, shape (N, D)
        The inputs of this time step.
    h_prev : array_like of float, shape (N, H)
        The previous hidden state.
    Wx : array_like of float, shape (D, H)
        Input-to-hidden weights.
    Wh : array_like of float, shape (H, H)
        Hidden-to-hidden (recurrent) weights.
    b : array_like of float, shape (H,)
        Bias.

    Returns
    -------
    h : ndarray, shape (N, H)
        The new hidden state, in the inputs' (promoted) dtype.
    cache : RNNStepCache
        For :func:`rnn_step_backward`.

    Notes
    -----
    .. math:: a = x W_x + h_{\text{prev}} W_h + b, \qquad h = \tanh(a)

    This is Elman's simple recurrent network [1]_, PyTorch's ``torch.nn.RNN`` and Keras's
    ``SimpleRNN`` with their default tanh.

    References
    ----------
    .. [1] J. L. Elman, "Finding Structure in Time", *Cognitive Science* 14(2), 1990.

    Examples
    --------
    >>> import numpy as np
    >>> x, h_prev = np.array([[1.0, 2.0]]), np.array([[0.5]])
    >>> Wx, Wh, b = np.array([[0.1], [0.2]]), np.array([[1.0]]), np.array([-1.0])
    >>> h, _ = rnn_step_forward(x, h_prev, Wx, Wh, b)  # tanh(0.1 + 0.4 + 0.5 - 1)
    >>> h
    array([[0.]])
    """
    func = "rnn_step_forward"
    (x, h_prev, Wx, Wh, b), dtypes = _check_cell_input(
        func, "rnn", x, h_prev, {"Wx": Wx, "Wh": Wh, "b": b}, sequence=False, hname="h_prev"
    )
    h = _rnn_step(x, h_prev, Wx, Wh, b)
    return h, RNNStepCache(x, h_prev, h, Wx, Wh, tuple(dtypes))


def rnn_step_backward(dh: Any, cache: RNNStepCache) -> tuple[np.ndarray, ...]:
    r"""Backward pass of :func:`rnn_step_forward`.

    Parameters
    ----------
    dh : array_like of float, shape (N, H)
        Gradient of the loss with respect to the new state ``h``.
    cache : RNNStepCache
        From :func:`rnn_step_forward`.

    Returns
    -------
    dx : ndarray, shape (N, D)
    dh_prev : ndarray, shape (N, H)
    dWx : ndarray, shape (D, H)
    dWh : ndarray, shape (H, H)
    db : ndarray, shape (H,)
        Each in the dtype of its input.

    Notes
    -----
    With :math:`\delta = dh \odot (1 - h^2)` (tanh's derivative, from its output):

    .. math:: dx = \delta W_x^\top,\quad dh_{\text{prev}} = \delta W_h^\top,\quad
              dW_x = x^\top \delta,\quad dW_h = h_{\text{prev}}^\top \delta,\quad
              db = \textstyle\sum_n \delta_n

    Examples
    --------
    >>> import numpy as np
    >>> x, h_prev = np.array([[1.0, 2.0]]), np.array([[0.5]])
    >>> Wx, Wh, b = np.array([[0.1], [0.2]]), np.array([[1.0]]), np.array([-1.0])
    >>> h, cache = rnn_step_forward(x, h_prev, Wx, Wh, b)
    >>> dx, dh_prev, dWx, dWh, db = rnn_step_backward(np.ones((1, 1)), cache)
    >>> dx, dh_prev  # tanh'(0) = 1
    (array([[0.1, 0.2]]), array([[1.]]))
    """
    func = "rnn_step_backward"
    cache = check_cache(cache, RNNStepCache, forward="rnn_step_forward", func=func)
    dh = _check_dh(dh, cache.h.shape, func)
    grads = _rnn_step_back(dh, cache.x, cache.h_prev, cache.h, cache.Wx, cache.Wh)
    return _cast(grads, cache.dtypes)


def rnn_forward(x: Any, h0: Any, Wx: Any, Wh: Any, b: Any) -> tuple[np.ndarray, RNNCache]:
    r"""A vanilla RNN over a whole sequence: :func:`rnn_step_forward` for t = 0 .. T-1.

    Parameters
    ----------
    x : array_like of float, shape (N, T, D)
        The input sequences (batch first, as ``batch_first=True`` in PyTorch).
    h0 : array_like of float, shape (N, H)
        The initial hidden state.
    Wx : array_like of float, shape (D, H)
    Wh : array_like of float, shape (H, H)
    b : array_like of float, shape (H,)

    Returns
    -------
    h : ndarray, shape (N, T, H)
        Every hidden state :math:`h_1 \dots h_T` (``h[:, t]`` is the state after input t).
    cache : RNNCache
        For :func:`rnn_backward`.

    Notes
    -----
    .. math:: h_t = \tanh(x_t W_x + h_{t-1} W_h + b), \qquad t = 1, \dots, T

    The same weights are used at every step: unrolled in time, the RNN is a T-layer network
    with shared weights, and its backward pass is backpropagation through time
    (:func:`rnn_backward`).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((1, 3, 1))
    >>> h, _ = rnn_forward(x, np.zeros((1, 1)), np.array([[0.5]]), np.array([[0.0]]), np.zeros(1))
    >>> h.shape, np.allclose(h, np.tanh(0.5))
    ((1, 3, 1), True)
    """
    func = "rnn_forward"
    (x, h0, Wx, Wh, b), dtypes = _check_cell_input(
        func, "rnn", x, h0, {"Wx": Wx, "Wh": Wh, "b": b}, sequence=True, hname="h0"
    )
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]), dtype=x.dtype)
    prev = h0
    for t in range(T):
        prev = h[:, t] = _rnn_step(x[:, t], prev, Wx, Wh, b)
    return h, RNNCache(x, h0, h, Wx, Wh, tuple(dtypes))


def rnn_backward(dh: Any, cache: RNNCache, truncate: int | None = None) -> tuple[np.ndarray, ...]:
    r"""Backpropagation through time for :func:`rnn_forward`, optionally truncated.

    Parameters
    ----------
    dh : array_like of float, shape (N, T, H)
        Upstream gradient on every hidden state :math:`h_t` (e.g. from a loss at each step;
        zeros except ``dh[:, -1]`` for a loss on the last state only).
    cache : RNNCache
        From :func:`rnn_forward`.
    truncate : int, optional
        Truncated BPTT with chunks of `truncate` steps: the sequence is cut into chunks
        ``[0, k), [k, 2k), ...`` from t = 0 and no gradient flows from one chunk into the
        previous one, exactly as PyTorch with ``h = h.detach()`` before steps k, 2k, ...
        ``dh0`` then only collects the gradient of the first chunk's states (zero when only
        the last state has a gradient and ``truncate < T``). None (default) is full BPTT.

    Returns
    -------
    dx : ndarray, shape (N, T, D)
    dh0 : ndarray, shape (N, H)
    dWx : ndarray, shape (D, H)
    dWh : ndarray, shape (H, H)
    db : ndarray, shape (H,)

    Notes
    -----
    BPTT [1]_ runs the steps backwards carrying the gradient on the state. With
    :math:`g_t` the total gradient on :math:`h_t` (:math:`g_{T+1} := 0`):

    .. math:: g_t = dh_t + \big(g_{t+1} \odot (1 - h_{t+1}^2)\big) W_h^\top, \qquad
              \delta_t = g_t \odot (1 - h_t^2)

    and the shared weights sum their per-step gradients, :math:`dW_h = \sum_t
    h_{t-1}^\top \delta_t`, :math:`dW_x = \sum_t x_t^\top \delta_t`, :math:`db = \sum_{t,n}
    \delta_t`. Unrolled, :math:`\partial h_T / \partial h_0 = \prod_t \mathrm{diag}(1 -
    h_t^2) W_h^\top`: a product of T matrices whose norm shrinks like
    :math:`\sigma_{\max}(W_h)^T` when :math:`\sigma_{\max} < 1` (vanishing gradients) and can
    grow like :math:`\sigma_{\min}^T` when the tanh stays linear and :math:`\sigma_{\min} > 1`
    (exploding gradients).

    References
    ----------
    .. [1] P. J. Werbos, "Backpropagation Through Time: What It Does and How to Do It",
       *Proceedings of the IEEE* 78(10), 1990.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((1, 3, 1))
    >>> h, cache = rnn_forward(x, np.zeros((1, 1)), np.ones((1, 1)), np.eye(1), np.zeros(1))
    >>> dh = np.zeros((1, 3, 1)); dh[:, -1] = 1.0  # loss = h_T
    >>> dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)
    >>> bool(dh0[0, 0] > 0)
    True
    >>> rnn_backward(dh, cache, truncate=1)[1]  # h_T's gradient stops at its own chunk
    array([[0.]])
    """
    func = "rnn_backward"
    cache = check_cache(cache, RNNCache, forward="rnn_forward", func=func)
    dh = _check_dh(dh, cache.h.shape, func).astype(cache.h.dtype, copy=False)
    k = None if truncate is None else check_positive_int(truncate, name="truncate", func=func)
    x, h0, h, Wx, Wh = cache.x, cache.h0, cache.h, cache.Wx, cache.Wh
    T = x.shape[1]
    dx = np.empty_like(x)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros(Wh.shape[1], dtype=h.dtype)
    dnext = np.zeros_like(h0)
    for t in reversed(range(T)):
        h_prev = h[:, t - 1] if t > 0 else h0
        dx[:, t], dnext, dWx_t, dWh_t, db_t = _rnn_step_back(
            dh[:, t] + dnext, x[:, t], h_prev, h[:, t], Wx, Wh
        )
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
        if k is not None and t > 0 and t % k == 0:
            dnext = np.zeros_like(dnext)  # h_{t-1} entered this chunk detached
    return _cast((dx, dnext, dWx, dWh, db), cache.dtypes)


# --------------------------------------------------------------------------------------------
# LSTM
# --------------------------------------------------------------------------------------------


def lstm_step_forward(
    x: Any, h_prev: Any, c_prev: Any, Wx: Any, Wh: Any, b: Any
) -> tuple[np.ndarray, np.ndarray, LSTMStepCache]:
    r"""One step of an LSTM, gates in PyTorch's order (i, f, g, o).

    Parameters
    ----------
    x : array_like of float, shape (N, D)
    h_prev : array_like of float, shape (N, H)
        Previous hidden state.
    c_prev : array_like of float, shape (N, H)
        Previous cell state.
    Wx : array_like of float, shape (D, 4H)
        Input weights of the four gates side by side: columns ``[0, H)`` input gate i,
        ``[H, 2H)`` forget gate f, ``[2H, 3H)`` candidate g, ``[3H, 4H)`` output gate o.
    Wh : array_like of float, shape (H, 4H)
        Recurrent weights, same layout.
    b : array_like of float, shape (4H,)
        Bias (PyTorch's ``b_ih + b_hh``).

    Returns
    -------
    h : ndarray, shape (N, H)
    c : ndarray, shape (N, H)
    cache : LSTMStepCache

    Notes
    -----
    Hochreiter and Schmidhuber's long short-term memory [1]_, with the forget gate of Gers
    et al. (2000), as PyTorch's ``torch.nn.LSTM`` and Keras's ``LSTM``:
    .. math::
        \begin{aligned}
        (a_i, a_f, a_g, a_o) &= x W_x + h_{\text{prev}} W_h + b \\
        i = \sigma(a_i),\ f &= \sigma(a_f),\ g = \tanh(a_g),\ o = \sigma(a_o) \\
        c &= f \odot c_{\text{prev}} + i \odot g, \qquad h = o \odot \tanh(c)
        \end{aligned}
    The cell state is updated additively: with :math:`f \approx 1`, :math:`\partial c /
    \partial c_{\text{prev}} = \mathrm{diag}(f)` carries gradients over many steps without
    the repeated product by :math:`W_h` that makes a vanilla RNN's gradients vanish.

    References
    ----------
    .. [1] S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory", *Neural Computation*
       9(8), 1997.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.zeros((1, 1))
    >>> b = np.array([0.0, 0.0, 100.0, 100.0])  # g = 1, o = 1, i = f = 1/2
    >>> h, c, _ = lstm_step_forward(z, z, np.ones((1, 1)), np.zeros((1, 4)), np.zeros((1, 4)), b)
    >>> c, np.allclose(h, np.tanh(1.0))
    (array([[1.]]), True)
    """
    func = "lstm_step_forward"
    (x, h_prev, c_prev, Wx, Wh, b), dtypes = _check_cell_input(
        func,
        "lstm",
        x,
        h_prev,
        {"Wx": Wx, "Wh": Wh, "b": b},
        sequence=False,
        hname="h_prev",
        extra_states={"c_prev": c_prev},
    )
    h, c, gates = _lstm_step(x, h_prev, c_prev, Wx, Wh, b)
    return h, c, LSTMStepCache(x, h_prev, c_prev, c, gates, Wx, Wh, tuple(dtypes))


def lstm_step_backward(dh: Any, dc: Any, cache: LSTMStepCache) -> tuple[np.ndarray, ...]:
    r"""Backward pass of :func:`lstm_step_forward`.

    Parameters
    ----------
    dh : array_like of float, shape (N, H)
        Gradient on the new hidden state.
    dc : array_like of float, shape (N, H)
        Gradient on the new cell state (from the next step; zeros at the last one).
    cache : LSTMStepCache

    Returns
    -------
    dx : ndarray, shape (N, D)
    dh_prev : ndarray, shape (N, H)
    dc_prev : ndarray, shape (N, H)
    dWx : ndarray, shape (D, 4H)
    dWh : ndarray, shape (H, 4H)
    db : ndarray, shape (4H,)

    Notes
    -----
    With :math:`\bar c = dc + dh \odot o \odot (1 - \tanh^2 c)` the total gradient on c:

    .. math:: da_i = \bar c\, g\, i(1-i),\ da_f = \bar c\, c_{\text{prev}} f(1-f),\
              da_g = \bar c\, i (1-g^2),\ da_o = dh \tanh(c)\, o(1-o),\
              dc_{\text{prev}} = \bar c \odot f

    then ``da`` (N, 4H) goes through the affine map as in :func:`rnn_step_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.zeros((1, 1))
    >>> h, c, cache = lstm_step_forward(z, z, np.ones((1, 1)), np.zeros((1, 4)),
    ...                                 np.zeros((1, 4)), np.zeros(4))
    >>> lstm_step_backward(z, np.ones((1, 1)), cache)[2]  # dc_prev = f = 1/2
    array([[0.5]])
    """
    func = "lstm_step_backward"
    cache = check_cache(cache, LSTMStepCache, forward="lstm_step_forward", func=func)
    dh = _check_dh(dh, cache.c.shape, func)
    dc = _check_named_grad(dc, cache.c.shape, func, "dc")
    grads = _lstm_step_back(
        dh, dc, cache.x, cache.h_prev, cache.c_prev, cache.c, cache.gates, cache.Wx, cache.Wh
    )
    d = cache.dtypes  # x, h_prev, c_prev, Wx, Wh, b
    return _cast(grads, (d[0], d[1], d[2], d[3], d[4], d[5]))


def lstm_forward(
    x: Any, h0: Any, Wx: Any, Wh: Any, b: Any, c0: Any = None
) -> tuple[np.ndarray, LSTMCache]:
    r"""An LSTM over a whole sequence (gates i, f, g, o).

    Parameters
    ----------
    x : array_like of float, shape (N, T, D)
    h0 : array_like of float, shape (N, H)
        Initial hidden state.
    Wx : array_like of float, shape (D, 4H)
    Wh : array_like of float, shape (H, 4H)
    b : array_like of float, shape (4H,)
    c0 : array_like of float, shape (N, H), optional
        Initial cell state; zeros by default.

    Returns
    -------
    h : ndarray, shape (N, T, H)
        Every hidden state (the cell states are in ``cache.c``, same shape).
    cache : LSTMCache

    Notes
    -----
    :func:`lstm_step_forward` at each step:
    .. math::
        \begin{aligned}
        (a_i, a_f, a_g, a_o) &= x W_x + h_{\text{prev}} W_h + b \\
        i = \sigma(a_i),\ f &= \sigma(a_f),\ g = \tanh(a_g),\ o = \sigma(a_o) \\
        c &= f \odot c_{\text{prev}} + i \odot g, \qquad h = o \odot \tanh(c)
        \end{aligned}
    Examples
    --------
    >>> import numpy as np
    >>> h, cache = lstm_forward(np.ones((2, 5, 3)), np.zeros((2, 4)), np.zeros((3, 16)),
    ...                         np.zeros((4, 16)), np.zeros(16))
    >>> h.shape, cache.c.shape
    ((2, 5, 4), (2, 5, 4))
    """
    func = "lstm_forward"
    h0_arr = as_float_array(h0, name="h0", func=func, ndim=2)
    if c0 is None:
        c0 = np.zeros_like(h0_arr)
    (x, h0, c0, Wx, Wh, b), dtypes = _check_cell_input(
        func,
        "lstm",
        x,
        h0_arr,
        {"Wx": Wx, "Wh": Wh, "b": b},
        sequence=True,
        hname="h0",
        extra_states={"c0": c0},
    )
    N, T, _ = x.shape
    H = h0.shape[1]
    h = np.empty((N, T, H), dtype=x.dtype)
    c = np.empty_like(h)
    gates = np.empty((N, T, 4 * H), dtype=x.dtype)
    h_prev, c_prev = h0, c0
    for t in range(T):
        h_prev, c_prev, gates[:, t] = _lstm_step(x[:, t], h_prev, c_prev, Wx, Wh, b)
        h[:, t], c[:, t] = h_prev, c_prev
    return h, LSTMCache(x, h0, c0, h, c, gates, Wx, Wh, tuple(dtypes))


def lstm_backward(dh: Any, cache: LSTMCache) -> tuple[np.ndarray, ...]:
    r"""Backpropagation through time for :func:`lstm_forward`.

    Parameters
    ----------
    dh : array_like of float, shape (N, T, H)
        Upstream gradient on every hidden state (none on the cell states).
    cache : LSTMCache

    Returns
    -------
    dx : ndarray, shape (N, T, D)
    dh0 : ndarray, shape (N, H)
    dWx : ndarray, shape (D, 4H)
    dWh : ndarray, shape (H, 4H)
    db : ndarray, shape (4H,)

    Notes
    -----
    As :func:`rnn_backward`, carrying two gradients backwards, on :math:`h_{t-1}` and on
    :math:`c_{t-1}` (:func:`lstm_step_backward`). The gradient on ``c0`` is not returned.

    Examples
    --------
    >>> import numpy as np
    >>> h, cache = lstm_forward(np.ones((2, 5, 3)), np.zeros((2, 4)), np.zeros((3, 16)),
    ...                         np.zeros((4, 16)), np.zeros(16))
    >>> [g.shape for g in lstm_backward(np.ones_like(h), cache)]
    [(2, 5, 3), (2, 4), (3, 16), (4, 16), (16,)]
    """
    func = "lstm_backward"
    cache = check_cache(cache, LSTMCache, forward="lstm_forward", func=func)
    dh = _check_dh(dh, cache.h.shape, func).astype(cache.h.dtype, copy=False)
    x, h, c, gates, Wx, Wh = cache.x, cache.h, cache.c, cache.gates, cache.Wx, cache.Wh
    T = x.shape[1]
    dx = np.empty_like(x)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros(Wh.shape[1], dtype=h.dtype)
    dh_next, dc_next = np.zeros_like(cache.h0), np.zeros_like(cache.c0)
    for t in reversed(range(T)):
        h_prev = h[:, t - 1] if t > 0 else cache.h0
        c_prev = c[:, t - 1] if t > 0 else cache.c0
        dx[:, t], dh_next, dc_next, dWx_t, dWh_t, db_t = _lstm_step_back(
            dh[:, t] + dh_next, dc_next, x[:, t], h_prev, c_prev, c[:, t], gates[:, t], Wx, Wh
        )
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    d = cache.dtypes  # x, h0, c0, Wx, Wh, b
    return _cast((dx, dh_next, dWx, dWh, db), (d[0], d[1], d[3], d[4], d[5]))


# --------------------------------------------------------------------------------------------
# GRU
# --------------------------------------------------------------------------------------------


def gru_step_forward(
    x: Any, h_prev: Any, Wx: Any, Wh: Any, bx: Any, bh: Any, reset_after: bool = True
) -> tuple[np.ndarray, GRUStepCache]:
    r"""One step of a GRU, gates (r, z, n), in either reset convention.

    Parameters
    ----------
    x : array_like of float, shape (N, D)
    h_prev : array_like of float, shape (N, H)
    Wx : array_like of float, shape (D, 3H)
        Input weights: columns ``[0, H)`` reset gate r, ``[H, 2H)`` update gate z,
        ``[2H, 3H)`` candidate n.
    Wh : array_like of float, shape (H, 3H)
        Recurrent weights, same layout.
    bx : array_like of float, shape (3H,)
        Input-side bias (PyTorch's ``b_ih``).
    bh : array_like of float, shape (3H,)
        Recurrent-side bias (PyTorch's ``b_hh``).
    reset_after : bool, default True
        Apply the reset gate after the recurrent product (PyTorch, Keras's default) or
        before it (Cho et al. 2014, Keras's ``reset_after=False``).

    Returns
    -------
    h : ndarray, shape (N, H)
    cache : GRUStepCache

    Notes
    -----
    Gates in PyTorch's order (r, z, n), each block of ``Wx``, ``Wh``, ``bx``, ``bh`` H wide:

    .. math::
        \begin{aligned}
        r &= \sigma(x W_{xr} + b_{xr} + h_{\text{prev}} W_{hr} + b_{hr}), \qquad
        z = \sigma(x W_{xz} + b_{xz} + h_{\text{prev}} W_{hz} + b_{hz}) \\
        n &= \tanh\big(x W_{xn} + b_{xn} + r \odot (h_{\text{prev}} W_{hn} + b_{hn})\big)
           &&\text{reset\_after=True (PyTorch; Keras's default)} \\
        n &= \tanh\big(x W_{xn} + b_{xn} + (r \odot h_{\text{prev}}) W_{hn} + b_{hn}\big)
           &&\text{reset\_after=False (Cho et al. 2014; Keras)} \\
        h &= (1 - z) \odot n + z \odot h_{\text{prev}}
        \end{aligned}

    Keras stores the same blocks in the order (z, r, h); its ``reset_after=True`` layer has a
    bias of shape (2, 3H) (input and recurrent rows: our ``bx`` and ``bh``), its
    ``reset_after=False`` layer a single (3H,) bias (our ``bx``, with ``bh = 0``). Cho et al.
    [1]_ write the update as :math:`h = z \odot h_{\text{prev}} + (1 - z) \odot \tilde h`,
    as here; some texts swap the roles of z and 1 - z.

    References
    ----------
    .. [1] K. Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
       Statistical Machine Translation", EMNLP 2014. https://arxiv.org/abs/1406.1078

    Examples
    --------
    >>> import numpy as np
    >>> x, h_prev = np.zeros((1, 1)), np.array([[0.5]])
    >>> bx = np.array([0.0, 100.0, 0.0])  # z = 1: the state is copied
    >>> h, _ = gru_step_forward(x, h_prev, np.zeros((1, 3)), np.zeros((1, 3)), bx, np.zeros(3))
    >>> h
    array([[0.5]])
    """
    func = "gru_step_forward"
    reset_after = _check_reset_after(reset_after, func)
    (x, h_prev, Wx, Wh, bx, bh), dtypes = _check_cell_input(
        func,
        "gru",
        x,
        h_prev,
        {"Wx": Wx, "Wh": Wh, "bx": bx, "bh": bh},
        sequence=False,
        hname="h_prev",
    )
    h, gates, aux = _gru_step(x, h_prev, Wx, Wh, bx, bh, reset_after)
    return h, GRUStepCache(x, h_prev, h, gates, aux, Wx, Wh, reset_after, tuple(dtypes))


def gru_step_backward(dh: Any, cache: GRUStepCache) -> tuple[np.ndarray, ...]:
    r"""Backward pass of :func:`gru_step_forward`.

    Parameters
    ----------
    dh : array_like of float, shape (N, H)
    cache : GRUStepCache

    Returns
    -------
    dx : ndarray, shape (N, D)
    dh_prev : ndarray, shape (N, H)
    dWx : ndarray, shape (D, 3H)
    dWh : ndarray, shape (H, 3H)
    dbx : ndarray, shape (3H,)
    dbh : ndarray, shape (3H,)

    Notes
    -----
    :math:`dn = dh (1 - z)`, :math:`dz = dh (h_{\text{prev}} - n)` and :math:`dh_{\text{prev}}`
    starts at :math:`dh\, z`; then through the tanh and sigmoids. With ``reset_after=True``
    :math:`dr = da_n \odot (h_{\text{prev}} W_{hn} + b_{hn})` and the recurrent side sees
    :math:`r \odot da_n`; with ``reset_after=False`` the gradient on :math:`r \odot
    h_{\text{prev}}` is :math:`da_n W_{hn}^\top`, split between r and :math:`h_{\text{prev}}`.

    Examples
    --------
    >>> import numpy as np
    >>> x, h_prev = np.zeros((1, 1)), np.array([[0.5]])
    >>> bx = np.array([0.0, 100.0, 0.0])
    >>> h, cache = gru_step_forward(x, h_prev, np.zeros((1, 3)), np.zeros((1, 3)), bx, np.zeros(3))
    >>> gru_step_backward(np.ones((1, 1)), cache)[1]  # z = 1 copies the gradient too
    array([[1.]])
    """
    func = "gru_step_backward"
    cache = check_cache(cache, GRUStepCache, forward="gru_step_forward", func=func)
    dh = _check_dh(dh, cache.h.shape, func)
    grads = _gru_step_back(
        dh, cache.x, cache.h_prev, cache.gates, cache.aux, cache.Wx, cache.Wh, cache.reset_after
    )
    return _cast(grads, cache.dtypes)


def gru_forward(
    x: Any, h0: Any, Wx: Any, Wh: Any, bx: Any, bh: Any, reset_after: bool = True
) -> tuple[np.ndarray, GRUCache]:
    r"""A GRU over a whole sequence (gates r, z, n).

    Parameters
    ----------
    x : array_like of float, shape (N, T, D)
    h0 : array_like of float, shape (N, H)
    Wx : array_like of float, shape (D, 3H)
    Wh : array_like of float, shape (H, 3H)
    bx : array_like of float, shape (3H,)
    bh : array_like of float, shape (3H,)
    reset_after : bool, default True
        As in :func:`gru_step_forward`.

    Returns
    -------
    h : ndarray, shape (N, T, H)
    cache : GRUCache

    Notes
    -----
    :func:`gru_step_forward` at each step; its Notes give the equations, PyTorch's gate order
    (r, z, n) and how Keras stores the same blocks.

    Examples
    --------
    >>> import numpy as np
    >>> p = init_rnn_params("gru", 3, 4, seed=0)
    >>> h, cache = gru_forward(np.ones((2, 5, 3)), np.zeros((2, 4)), **p, reset_after=False)
    >>> h.shape
    (2, 5, 4)
    """
    func = "gru_forward"
    reset_after = _check_reset_after(reset_after, func)
    (x, h0, Wx, Wh, bx, bh), dtypes = _check_cell_input(
        func,
        "gru",
        x,
        h0,
        {"Wx": Wx, "Wh": Wh, "bx": bx, "bh": bh},
        sequence=True,
        hname="h0",
    )
    N, T, _ = x.shape
    H = h0.shape[1]
    h = np.empty((N, T, H), dtype=x.dtype)
    aux = np.empty_like(h)
    gates = np.empty((N, T, 3 * H), dtype=x.dtype)
    prev = h0
    for t in range(T):
        prev, gates[:, t], aux[:, t] = _gru_step(x[:, t], prev, Wx, Wh, bx, bh, reset_after)
        h[:, t] = prev
    return h, GRUCache(x, h0, h, gates, aux, Wx, Wh, reset_after, tuple(dtypes))


def gru_backward(dh: Any, cache: GRUCache) -> tuple[np.ndarray, ...]:
    r"""Backpropagation through time for :func:`gru_forward`.

    Parameters
    ----------
    dh : array_like of float, shape (N, T, H)
        Upstream gradient on every hidden state.
    cache : GRUCache

    Returns
    -------
    dx : ndarray, shape (N, T, D)
    dh0 : ndarray, shape (N, H)
    dWx : ndarray, shape (D, 3H)
    dWh : ndarray, shape (H, 3H)
    dbx : ndarray, shape (3H,)
    dbh : ndarray, shape (3H,)

    Notes
    -----
    As :func:`rnn_backward`, with :func:`gru_step_backward` at each step. Where z is close to
    1, :math:`\partial h_t / \partial h_{t-1} \approx \mathrm{diag}(z)` passes the gradient
    through unchanged, as the LSTM's forget gate does.

    Examples
    --------
    >>> import numpy as np
    >>> p = init_rnn_params("gru", 3, 4, seed=0)
    >>> h, cache = gru_forward(np.ones((2, 5, 3)), np.zeros((2, 4)), **p)
    >>> [g.shape for g in gru_backward(np.ones_like(h), cache)]
    [(2, 5, 3), (2, 4), (3, 12), (4, 12), (12,), (12,)]
    """
    func = "gru_backward"
    cache = check_cache(cache, GRUCache, forward="gru_forward", func=func)
    dh = _check_dh(dh, cache.h.shape, func).astype(cache.h.dtype, copy=False)
    x, h, gates, aux, Wx, Wh = cache.x, cache.h, cache.gates, cache.aux, cache.Wx, cache.Wh
    T = x.shape[1]
    dx = np.empty_like(x)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    dbx = np.zeros(Wh.shape[1], dtype=h.dtype)
    dbh = np.zeros_like(dbx)
    dnext = np.zeros_like(cache.h0)
    for t in reversed(range(T)):
        h_prev = h[:, t - 1] if t > 0 else cache.h0
        dx[:, t], dnext, dWx_t, dWh_t, dbx_t, dbh_t = _gru_step_back(
            dh[:, t] + dnext, x[:, t], h_prev, gates[:, t], aux[:, t], Wx, Wh, cache.reset_after
        )
        dWx += dWx_t
        dWh += dWh_t
        dbx += dbx_t
        dbh += dbh_t
    return _cast((dx, dnext, dWx, dWh, dbx, dbh), cache.dtypes)


# --------------------------------------------------------------------------------------------
# initialization
# --------------------------------------------------------------------------------------------


def init_rnn_params(
    kind: str, input_size: int, hidden_size: int, seed: Any = 0, dtype: Any = np.float64
) -> dict[str, np.ndarray]:
    r"""Random parameters for :func:`rnn_forward`, :func:`lstm_forward` or :func:`gru_forward`.

    Parameters
    ----------
    kind : {"rnn", "lstm", "gru"}
    input_size : int
        D, the number of input features.
    hidden_size : int
        H, the number of hidden units.
    seed : int or numpy.random.Generator, default 0
    dtype : dtype, default float64

    Returns
    -------
    dict
        ``{"Wx": (D, G H), "Wh": (H, G H), "b": (G H,)}`` for the RNN (G = 1) and the LSTM
        (G = 4); ``{"Wx", "Wh", "bx", "bh"}`` for the GRU (G = 3). The keys are the forward
        functions' argument names, so ``rnn_forward(x, h0, **params)`` works.

    Notes
    -----
    Every entry is drawn from :math:`U(-1/\sqrt H, 1/\sqrt H)`, PyTorch's initialization of
    its recurrent layers (its two biases are each drawn so; here the RNN's and LSTM's single
    bias is). A common refinement, not applied here, sets the LSTM's forget-gate bias to 1.

    Examples
    --------
    >>> p = init_rnn_params("lstm", 3, 4)
    >>> {k: v.shape for k, v in p.items()}
    {'Wx': (3, 16), 'Wh': (4, 16), 'b': (16,)}
    >>> bool(abs(p["Wh"]).max() <= 0.5)
    True
    """
    func = "init_rnn_params"
    kind = check_name(kind, tuple(_GATES), what="kind", func=func)
    D = check_positive_int(input_size, name="input_size", func=func)
    H = check_positive_int(hidden_size, name="hidden_size", func=func)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"{func}: dtype must be a float dtype, got {dtype}")
    rng = as_generator(seed, func=func)
    bound = 1.0 / np.sqrt(H)
    GH = _GATES[kind] * H
    shapes = {"Wx": (D, GH), "Wh": (H, GH)}
    shapes.update({"bx": (GH,), "bh": (GH,)} if kind == "gru" else {"b": (GH,)})
    return {k: rng.uniform(-bound, bound, size=s).astype(dtype) for k, s in shapes.items()}


# --------------------------------------------------------------------------------------------
# embedding and the temporal loss
# --------------------------------------------------------------------------------------------


def _as_indices(value: Any, name: str, func: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{func}: {name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def embedding_forward(idx: Any, W: Any) -> tuple[np.ndarray, EmbeddingCache]:
    r"""Look up rows of an embedding table: ``out[n, t] = W[idx[n, t]]``.

    Parameters
    ----------
    idx : array_like of int, shape (N, T)
        Token ids in ``[0, V)`` (any shape works; the output adds a last axis D).
    W : array_like of float, shape (V, D)
        The embedding table, one row per token.

    Returns
    -------
    out : ndarray, shape (N, T, D)
    cache : EmbeddingCache

    Notes
    -----
    The lookup is the product of the one-hot matrix of the ids with W,
    :math:`\mathrm{out} = \mathrm{onehot}(idx)\, W`, without forming the one-hot matrix
    (``torch.nn.Embedding``).

    Examples
    --------
    >>> import numpy as np
    >>> W = np.arange(6.0).reshape(3, 2)
    >>> out, _ = embedding_forward(np.array([[2, 0]]), W)
    >>> out
    array([[[4., 5.],
            [0., 1.]]])
    """
    func = "embedding_forward"
    W = as_float_array(W, name="W", func=func, ndim=2)
    idx = _as_indices(idx, "idx", func)
    V = W.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= V):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise ValueError(f"{func}: idx holds {bad} but W has {V} rows (ids must be in [0, {V}))")
    return W[idx], EmbeddingCache(idx, W.shape, W.dtype)


def embedding_backward(dout: Any, cache: EmbeddingCache) -> np.ndarray:
    r"""Gradient of :func:`embedding_forward` with respect to the table W.

    Parameters
    ----------
    dout : array_like of float, shape (N, T, D)
    cache : EmbeddingCache

    Returns
    -------
    dW : ndarray, shape (V, D)
        ``dW[v]`` sums ``dout[n, t]`` over every position with ``idx[n, t] == v``.

    Notes
    -----
    :math:`dW = \mathrm{onehot}(idx)^\top\, dout`. A token that occurs several times
    accumulates all its gradients: ``np.add.at`` does, whereas ``dW[idx] += dout`` would keep
    only one of them (NumPy's buffered fancy-index assignment).

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = embedding_forward(np.array([[1, 1, 0]]), np.zeros((3, 2)))
    >>> embedding_backward(np.ones((1, 3, 2)), cache)
    array([[1., 1.],
           [2., 2.],
           [0., 0.]])
    """
    func = "embedding_backward"
    cache = check_cache(cache, EmbeddingCache, forward="embedding_forward", func=func)
    dout = as_output_gradient(
        dout, cache.idx.shape + (cache.shape[1],), output="the embeddings have shape", func=func
    )
    dW = np.zeros(cache.shape, dtype=np.result_type(cache.dtype, dout.dtype))
    np.add.at(dW, cache.idx, dout)
    return dW.astype(cache.dtype, copy=False)


def temporal_softmax_cross_entropy(
    logits: Any, y: Any, mask: Any = None
) -> tuple[float, np.ndarray]:
    r"""Softmax cross-entropy at every time step, averaged over the counted positions.

    Parameters
    ----------
    logits : array_like of float, shape (N, T, V)
        Scores over a vocabulary of V tokens at each position.
    y : array_like of int, shape (N, T)
        Target ids; they must lie in ``[0, V)`` where `mask` is True (elsewhere they are
        ignored, e.g. a padding value).
    mask : array_like of bool, shape (N, T), optional
        True where the position counts (default: all). At least one must.

    Returns
    -------
    loss : float
        The mean over counted positions, PyTorch's ``F.cross_entropy(logits.reshape(-1, V),
        y.reshape(-1), ignore_index=...)`` with the ignored positions where mask is False.
    dlogits : ndarray, shape (N, T, V)
        The gradient of `loss`; zero at masked positions.

    Notes
    -----
    With :math:`M` the number of counted positions and :math:`p = \mathrm{softmax}(z)`,

    .. math:: L = \frac{1}{M} \sum_{(n,t):\ \mathrm{mask}} -\log p_{n,t,y_{n,t}}, \qquad
              \frac{\partial L}{\partial z_{n,t}} = \frac{p_{n,t} - e_{y_{n,t}}}{M}

    computed from the logits with the maximum subtracted
    (:func:`lapenna_labs.losses.softmax_cross_entropy_with_grad`'s kernel), so it is finite
    for logits of any size. Dividing by M, not by N T, makes the loss of a padded batch
    the loss of its real tokens.

    Examples
    --------
    >>> import numpy as np
    >>> logits = np.zeros((1, 2, 4))
    >>> loss, dlogits = temporal_softmax_cross_entropy(logits, np.array([[1, 9]]),
    ...                                                np.array([[True, False]]))
    >>> bool(np.isclose(loss, np.log(4))), dlogits[0, 1]
    (True, array([0., 0., 0., 0.]))
    """
    func = "temporal_softmax_cross_entropy"
    z = as_float_array(logits, name="logits", func=func, ndim=3)
    N, T, V = z.shape
    y = _as_indices(y, "y", func)
    if y.shape != (N, T):
        raise ValueError(f"{func}: y has shape {y.shape} but logits has (N, T) = {(N, T)}")
    if mask is None:
        m = np.ones((N, T), dtype=bool)
    else:
        m = np.asarray(mask)
        if m.dtype != np.bool_:
            raise ValueError(f"{func}: mask must be boolean (True = counted), got dtype {m.dtype}")
        if m.shape != (N, T):
            raise ValueError(f"{func}: mask has shape {m.shape} but logits has (N, T) = {(N, T)}")
    if not m.any():
        raise ValueError(f"{func}: mask counts no position; the mean loss is undefined")
    labels = y[m]
    if labels.min() < 0 or labels.max() >= V:
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"{func}: y holds {bad} at a counted position but V = {V}")
    loss, grad = _softmax_cross_entropy_with_grad(z[m], labels)
    dlogits = np.zeros_like(z)
    dlogits[m] = grad
    return loss, dlogits


# --------------------------------------------------------------------------------------------
# converters to and from PyTorch and Keras layers
# --------------------------------------------------------------------------------------------


def _param_keys(kind: str) -> tuple[str, ...]:
    return ("Wx", "Wh", "bx", "bh") if kind == "gru" else ("Wx", "Wh", "b")


def _swap_rz(a: np.ndarray, H: int) -> np.ndarray:
    """Swap the first two H-wide blocks of the last axis: Keras's (z, r, h) <-> (r, z, n)."""
    return np.concatenate([a[..., H : 2 * H], a[..., :H], a[..., 2 * H :]], axis=-1)


def _torch_kind(layer: Any, func: str) -> str:
    name = type(layer).__name__
    kinds = {"RNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
    if name not in kinds or not hasattr(layer, "weight_ih_l0"):
        raise ValueError(f"{func}: layer must be a torch.nn.RNN, LSTM or GRU, got {name}")
    if getattr(layer, "num_layers", 1) != 1:
        raise ValueError(
            f"{func}: layer has num_layers={layer.num_layers}; only single-layer recurrent "
            "layers convert (convert a stack one layer at a time)"
        )
    if getattr(layer, "bidirectional", False):
        raise ValueError(f"{func}: layer is bidirectional; only unidirectional layers convert")
    if getattr(layer, "proj_size", 0):
        raise ValueError(
            f"{func}: layer has proj_size={layer.proj_size} (a projected LSTM); not supported"
        )
    if name == "RNN" and getattr(layer, "nonlinearity", "tanh") != "tanh":
        raise ValueError(
            f"{func}: layer has nonlinearity={layer.nonlinearity!r}; only tanh is supported"
        )
    return kinds[name]


def _to_numpy(tensor: Any) -> np.ndarray:
    return np.array(tensor.detach().cpu().numpy(), copy=True)


def params_from_torch(layer: Any) -> dict[str, np.ndarray]:
    r"""Read a single-layer ``torch.nn.RNN`` (tanh), ``LSTM`` or ``GRU`` into NumPy params.

    Parameters
    ----------
    layer : torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
        One layer, unidirectional, no ``proj_size``; ``batch_first`` does not matter.

    Returns
    -------
    dict
        RNN and LSTM: ``{"Wx": weight_ih_l0.T, "Wh": weight_hh_l0.T, "b": b_ih + b_hh}``;
        GRU: ``{"Wx", "Wh", "bx": b_ih, "bh": b_hh}`` (a torch GRU is
        ``reset_after=True``). Copies, in the layer's dtype; zeros for a layer without bias.

    Notes
    -----
    PyTorch stores ``weight_ih_l0`` as (G H, D) and computes :math:`x W^\top`; our ``Wx`` is
    its transpose. Its gate orders, (i, f, g, o) and (r, z, n), are ours.

    Examples
    --------
    >>> import torch  # doctest: +SKIP
    >>> p = params_from_torch(torch.nn.LSTM(3, 4, batch_first=True))  # doctest: +SKIP
    >>> p["Wx"].shape, p["b"].shape  # doctest: +SKIP
    ((3, 16), (16,))
    """
    func = "params_from_torch"
    kind = _torch_kind(layer, func)
    Wx, Wh = _to_numpy(layer.weight_ih_l0).T.copy(), _to_numpy(layer.weight_hh_l0).T.copy()
    if getattr(layer, "bias", True):
        b_ih, b_hh = _to_numpy(layer.bias_ih_l0), _to_numpy(layer.bias_hh_l0)
    else:
        b_ih = b_hh = np.zeros(Wx.shape[1], dtype=Wx.dtype)
    if kind == "gru":
        return {"Wx": Wx, "Wh": Wh, "bx": b_ih, "bh": b_hh}
    return {"Wx": Wx, "Wh": Wh, "b": b_ih + b_hh}


def _check_params(
    params: Any, kind: str, D: int, H: int, func: str, layer_name: str
) -> dict[str, np.ndarray]:
    keys = _param_keys(kind)
    if not isinstance(params, dict) or set(params) != set(keys):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"{func}: params for a {layer_name} must have keys {keys}, got {got}")
    GH = _GATES[kind] * H
    shapes = {"Wx": (D, GH), "Wh": (H, GH)}
    out = {}
    for k in keys:
        arr = as_float_array(params[k], name=f"params[{k!r}]", func=func)
        want = shapes.get(k, (GH,))
        if arr.shape != want:
            raise ValueError(
                f"{func}: params[{k!r}] has shape {arr.shape} but the {layer_name} "
                f"(input size {D}, hidden size {H}) needs {want}"
            )
        out[k] = arr
    return out


def _copy_into(tensor: Any, value: np.ndarray) -> None:
    # new_tensor keeps the parameter's dtype and device; no torch import is needed here.
    tensor.detach().copy_(tensor.new_tensor(np.ascontiguousarray(value)))


def params_to_torch(params: dict[str, Any], layer: Any) -> None:
    r"""Copy NumPy params into a ``torch.nn.RNN``, ``LSTM`` or ``GRU``, in place.

    Parameters
    ----------
    params : dict
        As :func:`params_from_torch` returns (or :func:`init_rnn_params` makes).
    layer : torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
        Single layer, unidirectional; its parameters keep their dtype and device.

    Notes
    -----
    For the RNN and LSTM, ``b_ih = b`` and ``b_hh = 0`` (only their sum matters). A layer
    built with ``bias=False`` accepts only zero biases.

    Examples
    --------
    >>> import torch  # doctest: +SKIP
    >>> lstm = torch.nn.LSTM(3, 4, batch_first=True)  # doctest: +SKIP
    >>> params_to_torch(init_rnn_params("lstm", 3, 4), lstm)  # doctest: +SKIP
    """
    func = "params_to_torch"
    kind = _torch_kind(layer, func)
    H, D = layer.hidden_size, layer.input_size
    p = _check_params(params, kind, D, H, func, f"torch {type(layer).__name__}")
    if kind == "gru":
        b_ih, b_hh = p["bx"], p["bh"]
    else:
        b_ih, b_hh = p["b"], np.zeros_like(p["b"])
    _copy_into(layer.weight_ih_l0, p["Wx"].T)
    _copy_into(layer.weight_hh_l0, p["Wh"].T)
    if getattr(layer, "bias", True):
        _copy_into(layer.bias_ih_l0, b_ih)
        _copy_into(layer.bias_hh_l0, b_hh)
    elif np.any(b_ih) or np.any(b_hh):
        raise ValueError(f"{func}: layer has bias=False but the params' biases are not zero")


def _activation_name(act: Any) -> str:
    return getattr(act, "__name__", str(act))


def _keras_kind(layer: Any, func: str) -> str:
    name = type(layer).__name__
    kinds = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
    if name not in kinds or not hasattr(layer, "get_weights"):
        raise ValueError(
            f"{func}: layer must be a keras.layers.SimpleRNN, LSTM or GRU, got {name} "
            "(a Bidirectional wrapper is not supported)"
        )
    if not getattr(layer, "built", False) or not layer.get_weights():
        raise ValueError(f"{func}: the Keras layer is not built; call it on an input first")
    act = _activation_name(getattr(layer, "activation", None))
    if act != "tanh":
        raise ValueError(f"{func}: layer has activation {act!r}; only tanh is supported")
    if name != "SimpleRNN":
        rec = _activation_name(getattr(layer, "recurrent_activation", None))
        if rec != "sigmoid":
            raise ValueError(
                f"{func}: layer has recurrent_activation {rec!r}; only sigmoid is supported"
            )
    if getattr(layer, "go_backwards", False):
        raise ValueError(f"{func}: layer has go_backwards=True; only forward layers convert")
    return kinds[name]


def params_from_keras(layer: Any) -> dict[str, np.ndarray]:
    r"""Read a built ``keras.layers.SimpleRNN``, ``LSTM`` or ``GRU`` into NumPy params.

    Parameters
    ----------
    layer : keras.layers.SimpleRNN, keras.layers.LSTM or keras.layers.GRU
        Built (called once, or ``layer.build(shape)``), tanh activation, sigmoid recurrent
        activation, ``go_backwards=False``.

    Returns
    -------
    dict
        SimpleRNN and LSTM: ``{"Wx": kernel, "Wh": recurrent_kernel, "b": bias}``; GRU:
        ``{"Wx", "Wh", "bx", "bh"}`` with the gate blocks reordered from Keras's (z, r, h) to
        (r, z, n). For a GRU with ``reset_after=True`` the bias rows are ``bx`` and ``bh``;
        with ``reset_after=False`` its one bias is ``bx`` and ``bh`` is zero. Pass
        ``reset_after=layer.reset_after`` to :func:`gru_forward`.

    Notes
    -----
    Keras's kernels are already (D, G H), as ours; its LSTM gates (i, f, c, o) are ours.

    Examples
    --------
    >>> import keras  # doctest: +SKIP
    >>> gru = keras.layers.GRU(4, return_sequences=True)  # doctest: +SKIP
    >>> gru.build((None, None, 3))  # doctest: +SKIP
    >>> sorted(params_from_keras(gru))  # doctest: +SKIP
    ['Wx', 'Wh', 'bh', 'bx']
    """
    func = "params_from_keras"
    kind = _keras_kind(layer, func)
    weights = [np.array(w, copy=True) for w in layer.get_weights()]
    Wx, Wh = weights[0], weights[1]
    GH = Wx.shape[1]
    bias = weights[2] if len(weights) > 2 else np.zeros(GH, dtype=Wx.dtype)
    if kind != "gru":
        return {"Wx": Wx, "Wh": Wh, "b": bias}
    H = GH // 3
    if bias.ndim == 2:  # reset_after=True: rows (input bias, recurrent bias)
        bx, bh = bias[0], bias[1]
    else:
        bx, bh = bias, np.zeros_like(bias)
    return {
        "Wx": _swap_rz(Wx, H),
        "Wh": _swap_rz(Wh, H),
        "bx": _swap_rz(bx, H),
        "bh": _swap_rz(bh, H),
    }


def params_to_keras(params: dict[str, Any], layer: Any) -> None:
    r"""Set a built ``keras.layers.SimpleRNN``, ``LSTM`` or ``GRU``'s weights from NumPy params.

    Parameters
    ----------
    params : dict
        As :func:`params_from_keras` returns.
    layer : keras.layers.SimpleRNN, keras.layers.LSTM or keras.layers.GRU
        Built; its weights keep their dtype.

    Notes
    -----
    A GRU with ``reset_after=False`` has a single bias, which receives ``bx + bh``: without
    the reset gate between them, the two biases only appear as their sum. A layer built with
    ``use_bias=False`` accepts only zero biases.

    Examples
    --------
    >>> import keras  # doctest: +SKIP
    >>> rnn = keras.layers.SimpleRNN(4, return_sequences=True)  # doctest: +SKIP
    >>> rnn.build((None, None, 3))  # doctest: +SKIP
    >>> params_to_keras(init_rnn_params("rnn", 3, 4), rnn)  # doctest: +SKIP
    """
    func = "params_to_keras"
    kind = _keras_kind(layer, func)
    current = layer.get_weights()
    D, GH = current[0].shape
    H = GH // _GATES[kind]
    p = _check_params(params, kind, D, H, func, f"Keras {type(layer).__name__}")
    if kind == "gru":
        Wx, Wh = _swap_rz(p["Wx"], H), _swap_rz(p["Wh"], H)
        bx, bh = _swap_rz(p["bx"], H), _swap_rz(p["bh"], H)
        if len(current) > 2 and current[2].ndim == 2:
            bias = np.stack([bx, bh])
        else:
            bias = bx + bh
    else:
        Wx, Wh, bias = p["Wx"], p["Wh"], p["b"]
    new = [Wx, Wh]
    if len(current) > 2:
        new.append(bias)
    elif np.any(bias):
        raise ValueError(f"{func}: layer has use_bias=False but the params' biases are not zero")
    layer.set_weights([np.asarray(w, dtype=c.dtype) for w, c in zip(new, current, strict=True)])
