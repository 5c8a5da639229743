"""A LeNet-5-style convolutional network built on :mod:`lapenna_labs.conv` and the dense layers.

``CNN()`` is LeNet-5 as PyTorch and Keras tutorials write it for 28 x 28 MNIST digits::

    conv 6@5x5, pad 2 -> relu -> max pool 2 -> conv 16@5x5 -> relu -> max pool 2
    -> flatten (16*5*5 = 400) -> dense 120 -> relu -> dense 84 -> relu -> dense 10 (logits)

trained with softmax cross-entropy. The convolutions are im2col followed by one GEMM
(:mod:`lapenna_labs.conv.im2col`), the pools and the flatten come from
:mod:`lapenna_labs.conv.pooling`, the dense layers and activations from
:mod:`lapenna_labs.layers`. Like :class:`lapenna_labs.mlp.MLP`, the network checks its input
once at its public methods and implements the :class:`lapenna_labs.training.Trainable`
protocol, so :meth:`CNN.fit` is :func:`lapenna_labs.training.fit`.

:meth:`CNN.summary` says, for every layer, the output shape, the parameters, the flops of one
sample and the GEMM the layer is: for a convolution lowered by im2col that is
``(M, K, N) = (OH*OW, C*KH*KW, F)`` per sample, for a dense layer ``(1, n_in, n_out)``.

References
----------
.. [1] Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
   document recognition", Proc. IEEE 86(11), 1998 (LeNet-5).
.. [2] K. Chellapilla, S. Puri, P. Simard, "High performance convolutional neural networks
   for document processing", IWFHR 2006 (convolution as im2col and a matrix product).
.. [3] Stanford CS231n, "Convolutional Neural Networks", https://cs231n.github.io/convolutional-networks/
.. [4] K. He, X. Zhang, S. Ren, J. Sun, "Delving Deep into Rectifiers", ICCV 2015,
   arXiv:1502.01852 (the initialisation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lapenna_labs._network import (
    NetworkMixin,
    as_finite_batch,
    check_activation,
    check_float_dtype,
    draw_weights,
    uses_he_init,
)
from lapenna_labs._validation import (
    as_float_array,
    as_generator,
    as_labels,
    check_nonnegative_int,
    check_positive_int,
)
from lapenna_labs.activations import ACTIVATIONS
from lapenna_labs.blas.counts import gemm_flops
from lapenna_labs.conv._geometry import conv_geometry, pool_geometry
from lapenna_labs.conv.im2col import conv2d_backward, conv2d_forward
from lapenna_labs.conv.pooling import (
    flatten_backward,
    flatten_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from lapenna_labs.layers import (
    _activation_backward,
    _activation_forward,
    _dense_backward,
    _dense_forward,
)
from lapenna_labs.losses import _softmax_cross_entropy_with_grad

__all__ = ["CNN", "CNNSummary", "LayerInfo"]


@dataclass(frozen=True)
class LayerInfo:
    """One row of :meth:`CNN.summary`.

    Attributes
    ----------
    name : str
        ``"conv1"``, ``"relu1"``, ``"pool1"``, ``"flatten"``, ``"dense1"``, ...
    kind : str
        ``"conv"``, ``"activation"``, ``"pool"``, ``"flatten"`` or ``"dense"``.
    output_shape : tuple of int
        Per sample: ``(C, H, W)`` or ``(features,)``.
    params : int
        Trainable numbers (weights and biases).
    flops : int
        Floating-point operations of one sample's forward pass, 2 per multiply-add of the
        layer's GEMM (biases, activations and pools are not counted).
    gemm : tuple (M, K, N) or None
        The product ``(M, K) @ (K, N)`` the layer computes per sample, None for layers
        without one.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    flops: int
    gemm: tuple[int, int, int] | None


@dataclass(frozen=True)
class CNNSummary:
    """What :meth:`CNN.summary` returns: the layers' rows, their totals, and a printable table.

    Attributes
    ----------
    layers : tuple of LayerInfo
    input_shape : tuple of int
        ``(C, H, W)`` of one sample.
    """

    layers: tuple[LayerInfo, ...]
    input_shape: tuple[int, int, int]

    @property
    def total_params(self) -> int:
        """The number of trainable numbers of the network."""
        return sum(layer.params for layer in self.layers)

    @property
    def total_flops(self) -> int:
        """Flops of one sample's forward pass, 2 per multiply-add of the conv and dense GEMMs."""
        return sum(layer.flops for layer in self.layers)

    def __str__(self) -> str:
        header = f"{'layer':<10}{'output shape':<16}{'params':>9}{'flops':>12}  GEMM (M, K, N)"
        rows = [f"input: {self.input_shape}", header, "-" * len(header)]
        for layer in self.layers:
            gemm = "" if layer.gemm is None else str(layer.gemm)
            rows.append(
                f"{layer.name:<10}{str(layer.output_shape):<16}{layer.params:>9,}"
                f"{layer.flops:>12,}  {gemm}"
            )
        rows.append("-" * len(header))
        rows.append(f"total params: {self.total_params:,}")
        rows.append(
            f"total flops per sample (forward): {self.total_flops:,}  "
            "(2 per multiply-add of the conv and dense GEMMs; biases, activations and pools "
            "not counted; im2col: M = OH*OW, K = C*KH*KW, N = F)"
        )
        return "\n".join(rows)

    __repr__ = __str__


def _as_int_tuple(value: Any, *, name: str, func: str, nonnegative: bool = False) -> tuple:
    items = value if isinstance(value, (tuple, list)) else [value]
    check = check_nonnegative_int if nonnegative else check_positive_int
    return tuple(check(v, name=f"{name}[{i}]", func=func) for i, v in enumerate(items))


class CNN(NetworkMixin):
    r"""A LeNet-style convolutional classifier: conv blocks, then dense layers, then logits.

    Each conv block is ``conv -> activation -> max pool``; the last block's output is
    flattened into the dense layers (each but the last followed by the activation). The
    defaults are LeNet-5 for 28 x 28 digits.

    Parameters
    ----------
    input_shape : tuple (C, H, W), default (1, 28, 28)
        One sample's shape (channels first).
    conv_channels : sequence of int, default (6, 16)
        Filters of each conv block.
    kernel_size : int or sequence of int, default 5
        Square kernel size, one for all blocks or one per block.
    padding : int or sequence of int, default (2, 0)
        Zero padding on each side, one for all blocks or one per block (stride is 1).
    pool_size : int, default 2
        Max pool window and stride after every conv (1 means no pooling).
    hidden : sequence of int, default (120, 84)
        Units of the hidden dense layers.
    n_classes : int, default 10
        Outputs (logits) of the last dense layer.
    activation : str, default "relu"
        After every conv and hidden dense layer: a name in
        :data:`lapenna_labs.activations.ACTIVATIONS`.
    seed : int or numpy.random.Generator, default 0
        Seeds the weight initialisation.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        The dtype of the parameters and of every computation; inputs are cast to it.

    Attributes
    ----------
    params : dict of str to ndarray
        ``"conv1.w"`` (shape ``(F, C, KH, KW)``, PyTorch's layout), ``"conv1.b"`` (``(F,)``),
        ..., ``"dense1.w"`` (``(n_in, n_out)``, as :func:`~lapenna_labs.layers.dense_forward`
        takes it: the transpose of ``torch.nn.Linear.weight``), ``"dense1.b"``, ... in
        layer order. Optimizers update these arrays in place.
    is_classifier : bool
        Always True.
    history : dict or None
        What the last :meth:`fit` returned.

    Notes
    -----
    The loss is the mean softmax cross-entropy of the logits :math:`z`; the backward pass
    starts from :math:`\partial E/\partial z = (\mathrm{softmax}(z) - t)/N` and runs each
    layer's backward function in reverse order. A convolution's weight gradient is again one
    GEMM, ``dout (F, N*OH*OW) @ cols (N*OH*OW, C*KH*KW)``, and the max pool sends each
    gradient to the position that won its window.

    Initialisation (biases zero): weights feeding a ReLU or leaky ReLU are He-normal,
    :math:`\mathcal N(0, 2/\text{fan}_\text{in})` with
    :math:`\text{fan}_\text{in} = C\,K_H K_W` for a convolution; the others (the output
    layer, other activations) Glorot-uniform, as :class:`~lapenna_labs.mlp.MLP` does. The
    numbers are drawn in float64 and cast, so float32 and float64 networks with the same
    seed start from the same weights up to rounding.

    References
    ----------
    .. [1] Y. LeCun et al., "Gradient-based learning applied to document recognition",
       Proc. IEEE 86(11), 1998.
    .. [2] K. He et al., "Delving Deep into Rectifiers", ICCV 2015, equation (10).

    Examples
    --------
    >>> import numpy as np
    >>> net = CNN(seed=0)
    >>> net.n_params
    61706
    >>> X = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    >>> net.forward(X).shape
    (2, 10)
    >>> loss, grads = net.loss_and_grads(X, np.array([3, 7]))
    >>> grads["conv1.w"].shape, grads["dense1.w"].shape
    ((6, 1, 5, 5), (400, 120))
    >>> net.summary().total_flops  # 2 * multiply-adds of one 28 x 28 digit
    833040
    """

    def __init__(
        self,
        input_shape: Sequence[int] = (1, 28, 28),
        conv_channels: Sequence[int] = (6, 16),
        kernel_size: int | Sequence[int] = 5,
        padding: int | Sequence[int] = (2, 0),
        pool_size: int = 2,
        hidden: Sequence[int] = (120, 84),
        n_classes: int = 10,
        activation: str = "relu",
        seed: int | np.random.Generator = 0,
        dtype: Any = np.float32,
    ) -> None:
        func = "CNN"
        shape = _as_int_tuple(input_shape, name="input_shape", func=func)
        if len(shape) != 3:
            raise ValueError(f"{func}: input_shape must be (C, H, W), got {input_shape!r}")
        channels = _as_int_tuple(conv_channels, name="conv_channels", func=func)
        n_conv = len(channels)
        kernels = _as_int_tuple(kernel_size, name="kernel_size", func=func)
        pads = _as_int_tuple(padding, name="padding", func=func, nonnegative=True)
        kernels = kernels * n_conv if len(kernels) == 1 else kernels
        pads = pads * n_conv if len(pads) == 1 else pads
        if len(kernels) != n_conv or len(pads) != n_conv:
            raise ValueError(
                f"{func}: kernel_size and padding need one entry or one per conv block "
                f"({n_conv}), got {kernel_size!r} and {padding!r}"
            )
        pool = check_positive_int(pool_size, name="pool_size", func=func)
        hidden_sizes = _as_int_tuple(hidden, name="hidden", func=func) if len(hidden) else ()
        classes = check_positive_int(n_classes, name="n_classes", func=func)
        act = check_activation(activation, ACTIVATIONS, what="activation", func=func)
        dt = check_float_dtype(dtype, func)
        rng = as_generator(seed, func=func)

        self.input_shape: tuple[int, int, int] = shape  # type: ignore[assignment]
        self.conv_channels = channels
        self.kernel_size = kernels
        self.padding = pads
        self.pool_size = pool
        self.hidden = hidden_sizes
        self.n_classes = classes
        self.activation = act
        self.dtype = dt
        self.is_classifier = True
        self.history: dict[str, list[float]] | None = None
        self.params: dict[str, np.ndarray] = {}

        # The layer list: (kind, name, settings). Shapes are traced through the geometry
        # helpers here, so an input too small for the kernels fails at construction.
        layers: list[tuple[str, str, dict[str, Any]]] = []
        rows: list[LayerInfo] = []
        c, h, w = shape
        he = uses_he_init(act)
        for i, (f, k, p) in enumerate(zip(channels, kernels, pads, strict=True), start=1):
            probe = np.zeros((1, c, h, w), dtype=dt)
            _, _, _, g = conv_geometry(
                probe, np.zeros((f, c, k, k), dtype=dt), None, 1, p, func=func
            )
            fan_in = c * k * k
            weights = draw_weights(rng, (f, c, k, k), fan_in, f * k * k, he, dt)
            self._add_params(f"conv{i}", weights, f)
            layers.append(("conv", f"conv{i}", {"padding": p}))
            gemm = (g.OH * g.OW, g.gemm_shape[1], g.gemm_shape[2])  # one sample (N = 1)
            rows.append(
                LayerInfo(
                    f"conv{i}", "conv", (f, g.OH, g.OW), weights.size + f, gemm_flops(*gemm), gemm
                )
            )
            c, h, w = f, g.OH, g.OW
            layers.append(("activation", f"{act}{i}", {}))
            rows.append(LayerInfo(f"{act}{i}", "activation", (c, h, w), 0, 0, None))
            if pool > 1:
                _, g = pool_geometry(np.zeros((1, c, h, w), dtype=dt), pool, func=func)
                h, w = g.OH, g.OW
                layers.append(("pool", f"pool{i}", {"kernel_size": pool}))
                rows.append(LayerInfo(f"pool{i}", "pool", (c, h, w), 0, 0, None))
        n_in = c * h * w
        layers.append(("flatten", "flatten", {}))
        rows.append(LayerInfo("flatten", "flatten", (n_in,), 0, 0, None))
        sizes = (*hidden_sizes, classes)
        for i, n_out in enumerate(sizes, start=1):
            last = i == len(sizes)
            weights = draw_weights(rng, (n_in, n_out), n_in, n_out, he and not last, dt)
            self._add_params(f"dense{i}", weights, n_out)
            layers.append(("dense", f"dense{i}", {"need_dx": True}))
            gemm = (1, n_in, n_out)
            rows.append(
                LayerInfo(
                    f"dense{i}", "dense", (n_out,), weights.size + n_out, gemm_flops(*gemm), gemm
                )
            )
            if not last:
                layers.append(("activation", f"{act}_d{i}", {}))
                rows.append(LayerInfo(f"{act}_d{i}", "activation", (n_out,), 0, 0, None))
            n_in = n_out
        self._layers = tuple(layers)
        self._summary = CNNSummary(tuple(rows), self.input_shape)
        # Dense gradients are written into these arrays every step (as MLP does).
        self._grads = {key: np.empty_like(param) for key, param in self.params.items()}

    def _add_params(self, name: str, weights: np.ndarray, n_out: int) -> None:
        self.params[f"{name}.w"] = weights
        self.params[f"{name}.b"] = np.zeros(n_out, dtype=self.dtype)

    # ------------------------------------------------------------------ description

    def __repr__(self) -> str:
        return (
            f"CNN(input_shape={self.input_shape}, conv_channels={self.conv_channels}, "
            f"kernel_size={self.kernel_size}, padding={self.padding}, "
            f"pool_size={self.pool_size}, hidden={self.hidden}, n_classes={self.n_classes}, "
            f"activation={self.activation!r}, dtype={self.dtype.name})"
        )

    def summary(self) -> CNNSummary:
        """The layers with output shapes, parameters, flops and GEMM shapes, and their totals.

        Returns
        -------
        CNNSummary
            ``.layers`` (one :class:`LayerInfo` per layer), ``.total_params``,
            ``.total_flops``; ``print(net.summary())`` shows the table.

        Notes
        -----
        Flops are per sample, forward pass, 2 per multiply-add of the layer's GEMM (the
        convention of :func:`lapenna_labs.blas.counts.gemm_flops` and of
        ``torch.utils.flop_counter``): a convolution lowered by im2col is
        ``(OH*OW, C*KH*KW) @ (C*KH*KW, F)``, so :math:`2\\,OH\\,OW\\,C\\,K_H K_W F`; a dense
        layer is :math:`2\\,n_\\text{in} n_\\text{out}`. Biases, activations and pools are
        not counted.

        Examples
        --------
        >>> print(CNN().summary())  # doctest: +ELLIPSIS
        input: (1, 28, 28)
        layer     output shape       params       flops  GEMM (M, K, N)
        ...
        conv1     (6, 28, 28)           156     235,200  (784, 25, 6)
        ...
        total params: 61,706
        ...
        """
        return self._summary

    # ------------------------------------------------------------------ input checks

    def _check_X(self, X: Any, func: str) -> np.ndarray:
        c, h, w = self.input_shape
        X = as_finite_batch(X, func, ndim=(2, 4))
        if X.shape[0] == 0:
            raise ValueError(f"{func}: X has no samples")
        if X.ndim == 2:
            if X.shape[1] != c * h * w:
                raise ValueError(
                    f"{func}: X has {X.shape[1]} features per row but the network expects "
                    f"{c}*{h}*{w} = {c * h * w} (or images shaped (N, {c}, {h}, {w}))"
                )
            X = X.reshape(X.shape[0], c, h, w)
        elif X.shape[1:] != (c, h, w):
            raise ValueError(
                f"{func}: X has images of shape {X.shape[1:]} but the network expects "
                f"({c}, {h}, {w}) (NCHW; or rows of {c * h * w})"
            )
        return X.astype(self.dtype, copy=False)

    def _check_targets(self, y: Any, n: int, func: str) -> np.ndarray:
        y_arr = np.asarray(y)
        if y_arr.ndim not in (1, 2):
            raise ValueError(f"{func}: y must be labels (N,) or one-hot rows (N, K)")
        if y_arr.shape[0] != n:
            raise ValueError(f"{func}: y has {y_arr.shape[0]} rows but X has {n}")
        if y_arr.ndim == 1:
            return as_labels(y_arr, name="y", func=func, num_classes=self.n_classes)
        targets = as_float_array(y_arr, name="y", func=func, ndim=2)
        if targets.shape[1] != self.n_classes:
            raise ValueError(
                f"{func}: y has {targets.shape[1]} columns but the network has "
                f"{self.n_classes} classes"
            )
        return targets.astype(self.dtype, copy=False)

    def check_data(self, X: Any, y: Any, func: str = "CNN.check_data") -> tuple[np.ndarray, Any]:
        """Check a data set once and convert it to the form the batch methods take.

        Parameters
        ----------
        X : array_like of float, shape (N, C, H, W) or (N, C*H*W)
            Images (NCHW), or rows of pixels reshaped to images; cast to the network's dtype.
        y : array_like, shape (N,) of int or (N, n_classes) of float
            Class labels, or target rows (one-hot) that sum to 1.
        func : str, default "CNN.check_data"
            The name that starts every error message.

        Returns
        -------
        X : ndarray, shape (N, C, H, W), the network's dtype
        targets : ndarray, shape (N,) of int64 or (N, n_classes) of the network's dtype

        Raises
        ------
        ValueError
            Naming the problem: shape, dtype, NaN or infinity, labels out of range.
        """
        return self._check_data(X, y, func)

    # ------------------------------------------------------------------ the arithmetic

    def _forward(self, X: np.ndarray) -> tuple[np.ndarray, list[Any]]:
        """The logits and every layer's cache, for checked `X`."""
        params, act = self.params, self.activation
        caches: list[Any] = []
        a = X
        for kind, name, opts in self._layers:
            if kind == "conv":
                a, cache = conv2d_forward(
                    a, params[f"{name}.w"], params[f"{name}.b"], padding=opts["padding"]
                )
            elif kind == "activation":
                z = a
                a = _activation_forward(z, act)
                cache = (z, a)
            elif kind == "pool":
                a, cache = max_pool2d_forward(a, opts["kernel_size"])
            elif kind == "flatten":
                a, cache = flatten_forward(a)
            else:
                cache = a
                a = _dense_forward(a, params[f"{name}.w"], params[f"{name}.b"])
            caches.append(cache)
        return a, caches

    def _backward(self, dlogits: np.ndarray, caches: list[Any]) -> dict[str, np.ndarray]:
        """The gradient of every parameter, from the logits' gradient back to the input."""
        params, act, grads = self.params, self.activation, self._grads
        d = dlogits
        for i in range(len(self._layers) - 1, -1, -1):
            kind, name, _ = self._layers[i]
            cache = caches[i]
            if kind == "conv":
                # The first layer's dx (the gradient of the images) is not needed, but the
                # conv backward computes it anyway; it is the smallest of its products.
                d, grads[f"{name}.w"], grads[f"{name}.b"] = conv2d_backward(d, cache)
            elif kind == "activation":
                z, a = cache
                d = _activation_backward(d, z, a, act)
            elif kind == "pool":
                d = max_pool2d_backward(d, cache)
            elif kind == "flatten":
                d = flatten_backward(d, cache)
            else:
                out = (grads[f"{name}.w"], grads[f"{name}.b"])
                d, _, _ = _dense_backward(d, cache, params[f"{name}.w"], True, out)
        return grads

    # ------------------------------------------------------------------ training protocol

    def _logits(self, X: Any, func: str) -> np.ndarray:
        # What logits, forward and predict share: check X (naming `func`), run the layers.
        return self._forward(self._check_X(X, func))[0]

    def batch_loss_and_grads(
        self, X: np.ndarray, y: np.ndarray, need_grads: bool = True
    ) -> tuple[float, dict[str, np.ndarray] | None, np.ndarray]:
        """Loss, gradients and logits of one batch of data checked by :meth:`check_data`.

        Parameters
        ----------
        X : ndarray, shape (B, C, H, W)
        y : ndarray, shape (B,) or (B, n_classes)
            Rows of the arrays :meth:`check_data` returned (trusted, not checked again).
        need_grads : bool, default True
            False skips the backward pass (validation).

        Returns
        -------
        loss : float
            The mean softmax cross-entropy over the batch.
        grads : dict of str to ndarray, or None
            Keyed and shaped like ``params``; the network's own arrays, overwritten by the
            next call. None when `need_grads` is False.
        logits : ndarray, shape (B, n_classes)
        """
        logits, caches = self._forward(X)
        loss, dlogits = _softmax_cross_entropy_with_grad(logits, y)
        grads = self._backward(dlogits, caches) if need_grads else None
        return loss, grads, logits

    def batch_accuracy(self, logits: np.ndarray, y: np.ndarray) -> float:
        """The fraction of rows whose largest logit is the true class."""
        truth = y if y.ndim == 1 else np.argmax(y, axis=1)
        return np.count_nonzero(logits.argmax(axis=1) == truth) / len(truth)

    # ------------------------------------------------------------------ public methods

    def logits(self, X: Any) -> np.ndarray:
        """The last layer's outputs (before the softmax).

        Parameters
        ----------
        X : array_like of float, shape (N, C, H, W) or (N, C*H*W)

        Returns
        -------
        ndarray, shape (N, n_classes), the network's dtype
        """
        return self._logits(X, "CNN.logits")

    def forward(self, X: Any) -> np.ndarray:
        """Class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : array_like of float, shape (N, C, H, W) or (N, C*H*W)

        Returns
        -------
        ndarray, shape (N, n_classes), the network's dtype
            Rows sum to 1.
        """
        return _activation_forward(self._logits(X, "CNN.forward"), "softmax")

    predict_proba = forward

    def predict(self, X: Any) -> np.ndarray:
        """Predicted classes, int64 of shape (N,), for `X` shaped (N, C, H, W) or (N, C*H*W)."""
        return self._logits(X, "CNN.predict").argmax(axis=1)

    def loss_and_grads(self, X: Any, y: Any) -> tuple[float, dict[str, np.ndarray]]:
        """The mean softmax cross-entropy on a batch and its gradient for every parameter.

        Parameters
        ----------
        X : array_like of float, shape (N, C, H, W) or (N, C*H*W)
        y : array_like, shape (N,) of int or (N, n_classes)

        Returns
        -------
        loss : float
        grads : dict of str to ndarray
            Keyed, shaped and typed like ``params`` (copies, the caller's to keep).
        """
        return self._loss_and_grad_copies(X, y, "CNN.loss_and_grads")

    def evaluate(self, X: Any, y: Any) -> float:
        """Classification accuracy on ``(X, y)``, in [0, 1].

        Parameters
        ----------
        X : array_like of float, shape (N, C, H, W) or (N, C*H*W)
        y : array_like, shape (N,) of int or (N, n_classes) one-hot

        Returns
        -------
        float
        """
        X, targets = self.check_data(X, y, "CNN.evaluate")
        return self.batch_accuracy(self._forward(X)[0], targets)

    accuracy = evaluate

    def fit(self, X: Any, y: Any, **options: Any) -> dict[str, list[float]]:
        """Train the network: :func:`lapenna_labs.training.fit` with this network as its model.

        The options (``epochs``, ``batch_size``, ``optimizer``, ``validation_data``, ``seed``,
        ``progress``, ``shuffle``), their defaults and the history returned are
        :func:`~lapenna_labs.training.fit`'s. `X` is shaped (N, C, H, W) or (N, C*H*W) and
        checked once; `y` holds labels. The history is also stored as ``self.history``.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.random((64, 1, 8, 8)); y = (X[:, 0, :4].sum(axis=(1, 2)) > 8).astype(int)
        >>> net = CNN((1, 8, 8), conv_channels=(4,), kernel_size=3, padding=1, hidden=(8,),
        ...           n_classes=2, seed=0)
        >>> history = net.fit(X, y, epochs=5, batch_size=16, optimizer="adam", progress=False)
        >>> history["loss"][-1] < history["loss"][0]
        True
        """
        return self._fit(X, y, "CNN.fit", options)
