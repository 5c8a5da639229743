"""A multilayer perceptron (fully connected network) built on :mod:`lapenna_labs.layers`.

``MLP([784, 16, 16, 10])`` is the lecture's Keras model (two hidden ReLU layers of 16 and a
softmax over 10 classes) written out in NumPy::

    net = MLP([784, 16, 16, 10], hidden_activation="relu", output="softmax", seed=0)
    history = net.fit(x_train, y_train, epochs=5, batch_size=10, optimizer="sgd",
                      validation_data=(x_test, y_test))
    net.evaluate(x_test, y_test)  # accuracy

The forward pass chains the dense layer and the activations of :mod:`lapenna_labs.layers`;
:meth:`MLP.loss_and_grads` runs their backward passes in reverse order, with the softmax and
cross-entropy fused (as :func:`~lapenna_labs.losses.softmax_cross_entropy_with_grad`).
The network checks its input once, at its public methods, and then calls the layers'
private kernels (``layers._dense_forward`` and the like), which hold the same formulas as
the public layer functions without checking every array again: on a small network those
checks would cost more than the arithmetic. :meth:`MLP.fit` is
:func:`lapenna_labs.training.fit`, for which the network provides ``check_data``,
``batch_loss_and_grads`` and ``batch_accuracy``.

References
----------
.. [1] M. Nielsen, *Neural Networks and Deep Learning*, chapter 2 ("How the
   backpropagation algorithm works"). http://neuralnetworksanddeeplearning.com/chap2.html
.. [2] Stanford CS231n, "Neural Networks Part 1: Setting up the Architecture" and
   assignment 2 (``fc_net.py``). https://cs231n.github.io/neural-networks-1/
.. [3] X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward
   neural networks", AISTATS 2010.
.. [4] K. He, X. Zhang, S. Ren, J. Sun, "Delving Deep into Rectifiers", ICCV 2015,
   arXiv:1502.01852.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    check_name,
    check_positive_int,
)
from lapenna_labs.activations import ACTIVATIONS
from lapenna_labs.layers import (
    _activation_backward,
    _activation_forward,
    _dense_backward,
    _dense_forward,
)
from lapenna_labs.losses import _KERNELS as _LOSS_KERNELS
from lapenna_labs.losses import LOSSES, _softmax_cross_entropy_with_grad

__all__ = ["MLP"]

OUTPUTS = ("softmax", "sigmoid", "identity")
DEFAULT_LOSS = {
    "softmax": "softmax_cross_entropy",
    "sigmoid": "binary_cross_entropy",
    "identity": "mse",
}
# Losses computed from the output layer's logits, fused with the softmax.
CROSS_ENTROPY = ("softmax_cross_entropy", "categorical_cross_entropy")
# Which outputs each loss accepts (a loss not listed accepts every output).
LOSS_OUTPUTS = {
    "categorical_cross_entropy": ("softmax",),
    "softmax_cross_entropy": ("softmax", "identity"),
    "binary_cross_entropy": ("sigmoid",),
}


class MLP(NetworkMixin):
    r"""A fully connected feed-forward network trained with mini-batch gradient descent.

    Parameters
    ----------
    layer_sizes : sequence of int
        Units per layer, inputs first: ``[784, 16, 16, 10]`` has 784 inputs, two hidden
        layers of 16 and 10 outputs. At least two entries.
    hidden_activation : str, default "relu"
        Activation of every hidden layer, a name in
        :data:`lapenna_labs.activations.ACTIVATIONS` (``"relu"``, ``"leaky_relu"``,
        ``"sigmoid"``, ``"tanh"``, ``"identity"``).
    output : {"softmax", "sigmoid", "identity"}, default "softmax"
        The output layer's activation: class probabilities, independent probabilities
        (binary or multi-label) or raw values (regression, or logits).
    loss : str, optional
        A name in :data:`lapenna_labs.losses.LOSSES`. Default by output: softmax ->
        ``"softmax_cross_entropy"``, sigmoid -> ``"binary_cross_entropy"``, identity ->
        ``"mse"``. ``"categorical_cross_entropy"`` needs the softmax output,
        ``"binary_cross_entropy"`` the sigmoid; ``"softmax_cross_entropy"`` with the identity
        output means the network outputs logits (PyTorch's convention).
    seed : int or numpy.random.Generator, default 0
        Seeds the weight initialisation.
    dtype : {numpy.float32, numpy.float64}, default numpy.float32
        The dtype of the parameters and of every computation; inputs are cast to it.

    Attributes
    ----------
    params : dict of str to ndarray
        ``"W1"`` (shape ``(layer_sizes[0], layer_sizes[1])``), ``"b1"``
        (``(layer_sizes[1],)``), ``"W2"``, ... in layer order. Optimizers update these
        arrays in place.
    layer_sizes : tuple of int
    hidden_activation, output, loss : str
    dtype : numpy.dtype
    history : dict or None
        What the last :meth:`fit` returned.

    Notes
    -----
    With :math:`a^{(0)} = X` and layers :math:`l = 1, \dots, L`:

    .. math::

        z^{(l)} = a^{(l-1)} W^{(l)} + b^{(l)}, \qquad
        a^{(l)} = g\bigl(z^{(l)}\bigr) \;(l < L), \qquad
        \hat y = g_{\text{out}}\bigl(z^{(L)}\bigr).

    Backpropagation starts from :math:`\delta^{(L)} = \partial E / \partial z^{(L)}`, which
    for softmax with cross-entropy (and for sigmoid with binary cross-entropy) is
    :math:`(\hat y - t)/n`, and repeats

    .. math::

        \frac{\partial E}{\partial W^{(l)}} = a^{(l-1)\top} \delta^{(l)}, \quad
        \frac{\partial E}{\partial b^{(l)}} = \textstyle\sum_n \delta^{(l)}_{n,:}, \quad
        \delta^{(l-1)} = \bigl(\delta^{(l)} W^{(l)\top}\bigr) \odot g'\bigl(z^{(l-1)}\bigr).

    Initialisation (biases zero): weights into a ReLU or leaky-ReLU layer are He-normal,
    :math:`\mathcal N(0, 2/n_\text{in})`; all others (sigmoid, tanh, identity hidden layers
    and the output layer) are Glorot-uniform,
    :math:`\mathcal U(\pm\sqrt{6/(n_\text{in} + n_\text{out})})`, Keras's default for
    ``Dense``. The random numbers are drawn in float64 and then cast, so float32 and
    float64 networks with the same seed start from the same weights up to rounding.

    References
    ----------
    .. [1] M. Nielsen, *Neural Networks and Deep Learning*, chapter 2, equations (BP1)-(BP4).
       http://neuralnetworksanddeeplearning.com/chap2.html
    .. [2] X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward
       neural networks", AISTATS 2010, equation (16).
    .. [3] K. He et al., "Delving Deep into Rectifiers", ICCV 2015, equation (10).

    Examples
    --------
    >>> import numpy as np
    >>> net = MLP([4, 8, 3], seed=0)
    >>> X = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    >>> net.forward(X).shape, net.forward(X).dtype
    ((5, 3), dtype('float32'))
    >>> loss, grads = net.loss_and_grads(X, np.array([0, 1, 2, 0, 1]))
    >>> sorted(grads), grads["W1"].shape
    (['W1', 'W2', 'b1', 'b2'], (4, 8))
    >>> net.n_params
    67
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        hidden_activation: str = "relu",
        output: str = "softmax",
        loss: str | None = None,
        seed: int | np.random.Generator = 0,
        dtype: Any = np.float32,
    ) -> None:
        func = "MLP"
        if isinstance(layer_sizes, (str, bytes)) or not isinstance(layer_sizes, Sequence):
            raise ValueError(f"{func}: layer_sizes must be a list of ints, got {layer_sizes!r}")
        if len(layer_sizes) < 2:
            raise ValueError(
                f"{func}: layer_sizes needs at least 2 entries (inputs and outputs), "
                f"got {list(layer_sizes)}"
            )
        sizes = tuple(
            check_positive_int(n, name=f"layer_sizes[{i}]", func=func)
            for i, n in enumerate(layer_sizes)
        )
        hidden = check_activation(
            hidden_activation, ACTIVATIONS, what="hidden_activation", func=func
        )
        out = check_activation(output, (*OUTPUTS, "linear"), what="output", func=func)
        loss_name = DEFAULT_LOSS[out] if loss is None else loss
        loss_name = check_name(loss_name, LOSSES, what="loss", func=func)
        allowed = LOSS_OUTPUTS.get(loss_name, OUTPUTS)
        if out not in allowed:
            raise ValueError(
                f"{func}: loss {loss_name!r} does not go with output {out!r}; "
                f"use output {' or '.join(repr(o) for o in allowed)}"
            )
        dt = check_float_dtype(dtype, func)
        rng = as_generator(seed, func=func)

        self.layer_sizes = sizes
        self.hidden_activation = hidden
        self.output = out
        self.loss = loss_name
        self.dtype = dt
        self.history: dict[str, list[float]] | None = None
        if loss_name in CROSS_ENTROPY or out == "softmax":
            self._task = "multiclass"
        elif out == "sigmoid":
            self._task = "binary"
        else:
            self._task = "regression"

        self.params: dict[str, np.ndarray] = {}
        n_layers = len(sizes) - 1
        for layer in range(1, n_layers + 1):
            fan_in, fan_out = sizes[layer - 1], sizes[layer]
            he = layer < n_layers and uses_he_init(hidden)
            self.params[f"W{layer}"] = draw_weights(rng, (fan_in, fan_out), fan_in, fan_out, he, dt)
            self.params[f"b{layer}"] = np.zeros(fan_out, dtype=dt)
        self._layer_keys = tuple((f"W{layer}", f"b{layer}") for layer in range(1, n_layers + 1))
        # The gradients of a training step are written here, every step into the same arrays
        # (as an optimizer's scratch buffers): a new 784 x 16 array per small batch costs time.
        self._grads = {key: np.empty_like(param) for key, param in self.params.items()}

    # ------------------------------------------------------------------ description

    @property
    def n_layers(self) -> int:
        """The number of weight layers (hidden layers + the output layer)."""
        return len(self.layer_sizes) - 1

    @property
    def is_classifier(self) -> bool:
        """Whether the network classifies (softmax or sigmoid output, or a cross-entropy loss)."""
        return self._task != "regression"

    def __repr__(self) -> str:
        return (
            f"MLP({list(self.layer_sizes)}, hidden_activation={self.hidden_activation!r}, "
            f"output={self.output!r}, loss={self.loss!r}, dtype={self.dtype.name})"
        )

    def summary(self) -> str:
        """A table of the layers, their output shapes and parameter counts (like Keras's).

        Returns
        -------
        str
        """
        rows = [f"{'layer':<10}{'output shape':<16}{'activation':<12}{'params':>8}"]
        for layer in range(1, self.n_layers + 1):
            W, b = self.params[f"W{layer}"], self.params[f"b{layer}"]
            act = self.output if layer == self.n_layers else self.hidden_activation
            shape = f"(None, {W.shape[1]})"
            rows.append(f"{'dense_' + str(layer):<10}{shape:<16}{act:<12}{W.size + b.size:>8}")
        rows.append(f"total params: {self.n_params}  (loss: {self.loss}, dtype: {self.dtype.name})")
        return "\n".join(rows)

    # ------------------------------------------------------------------ input checks

    def _check_X(self, X: Any, func: str) -> np.ndarray:
        X = as_finite_batch(X, func, ndim=2)
        if X.shape[1] != self.layer_sizes[0]:
            raise ValueError(
                f"{func}: X has {X.shape[1]} features but the network expects {self.layer_sizes[0]}"
            )
        if X.shape[0] == 0:
            raise ValueError(f"{func}: X has no rows")
        return X.astype(self.dtype, copy=False)

    def _check_targets(self, y: Any, n: int, func: str) -> np.ndarray:
        """Targets in the form the loss wants: int labels for the cross-entropies, else floats.

        Cross-entropy losses take labels ``(n,)`` or target rows ``(n, K)``. Other losses
        take ``(n, K)`` floats; ``(n,)`` is accepted as one column when K is 1, and as
        class labels (one-hot encoded here) for a softmax output.
        """
        k = self.layer_sizes[-1]
        y_arr = np.asarray(y)
        if y_arr.ndim == 0 or y_arr.ndim > 2:
            raise ValueError(f"{func}: y must be 1-D or 2-D, got shape {y_arr.shape}")
        if y_arr.shape[0] != n:
            raise ValueError(f"{func}: y has {y_arr.shape[0]} rows but X has {n}")
        if y_arr.ndim == 1 and (self.loss in CROSS_ENTROPY or (k > 1 and self.output == "softmax")):
            labels = as_labels(y_arr, name="y", func=func, num_classes=k)
            if self.loss in CROSS_ENTROPY:
                return labels
            onehot = np.zeros((n, k), dtype=self.dtype)
            onehot[np.arange(n), labels] = 1
            return onehot
        if y_arr.ndim == 1:
            if k != 1:
                raise ValueError(
                    f"{func}: y has shape {y_arr.shape} but the network has {k} outputs; "
                    f"pass targets of shape ({n}, {k})"
                )
            y_arr = y_arr.reshape(n, 1)
        targets = as_float_array(y_arr, name="y", func=func, ndim=2)
        if targets.shape[1] != k:
            raise ValueError(
                f"{func}: y has {targets.shape[1]} columns but the network has {k} outputs"
            )
        if self._task == "binary" and (targets.min() < 0 or targets.max() > 1):
            raise ValueError(f"{func}: y must lie in [0, 1] for a sigmoid output")
        return targets.astype(self.dtype, copy=False)

    def check_data(self, X: Any, y: Any, func: str = "MLP.check_data") -> tuple[np.ndarray, Any]:
        """Check a data set once and convert it to the form the batch methods take.

        Parameters
        ----------
        X : array_like of float, shape (N, layer_sizes[0])
            Inputs, one per row; cast to the network's dtype.
        y : array_like
            Targets, as for :meth:`loss_and_grads`.
        func : str, default "MLP.check_data"
            The name that starts every error message (``"MLP.fit"``, ...).

        Returns
        -------
        X : ndarray, shape (N, layer_sizes[0]), the network's dtype
        targets : ndarray, shape (N,) of int64 or (N, K) of the network's dtype
            Integer labels for the cross-entropy losses, else float rows (class labels for
            another loss on a softmax output become one-hot rows).

        Raises
        ------
        ValueError
            Naming the problem: shape, dtype, NaN or infinity, labels out of range.
        """
        return self._check_data(X, y, func)

    # ------------------------------------------------------------------ the arithmetic

    def _forward(self, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Each layer's pre-activation ``z`` and input ``a`` (``X`` first), for checked `X`."""
        params, hidden, last = self.params, self.hidden_activation, len(self._layer_keys) - 1
        zs: list[np.ndarray] = []
        inputs = [X]
        for i, (w_key, b_key) in enumerate(self._layer_keys):
            zs.append(_dense_forward(inputs[-1], params[w_key], params[b_key]))
            if i < last:
                inputs.append(_activation_forward(zs[-1], hidden))
        return zs, inputs

    def _loss_and_dlogits(self, logits: np.ndarray, targets: np.ndarray) -> tuple[float, Any]:
        """The mean loss and its gradient with respect to the output layer's logits."""
        if self.loss in CROSS_ENTROPY:
            return _softmax_cross_entropy_with_grad(logits, targets)
        out = _activation_forward(logits, self.output)
        loss_kernel, grad_kernel = _LOSS_KERNELS[self.loss]
        loss = loss_kernel(out, targets)
        if self.loss == "binary_cross_entropy":
            # sigmoid followed by BCE: dE/dz = (p - t)/n exactly; chaining the clipped BCE
            # gradient through sigmoid' would lose it where p saturates.
            return loss, (out - targets) / out.dtype.type(out.size)
        return loss, _activation_backward(grad_kernel(out, targets), logits, out, self.output)

    def _backward(
        self, dlogits: np.ndarray, zs: list[np.ndarray], inputs: list[np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The gradient of every parameter, from the logits' gradient back to the first layer.

        Written into the network's own gradient arrays, overwritten by the next call.
        """
        params, hidden, grads = self.params, self.hidden_activation, self._grads
        dz = dlogits
        for i in range(len(self._layer_keys) - 1, -1, -1):
            w_key, b_key = self._layer_keys[i]
            out = (grads[w_key], grads[b_key])
            da, _, _ = _dense_backward(dz, inputs[i], params[w_key], i > 0, out)
            if i > 0:
                dz = _activation_backward(da, zs[i - 1], inputs[i], hidden, out=da)
        return grads

    def _classify(self, logits: np.ndarray) -> np.ndarray:
        # From the logits: the largest logit has the largest probability, and a sigmoid's
        # probability exceeds 1/2 exactly where its logit exceeds 0.
        if self._task == "multiclass":
            return logits.argmax(axis=1)
        labels = (logits > 0).astype(np.int64)
        return labels[:, 0] if labels.shape[1] == 1 else labels

    # ------------------------------------------------------------------ training protocol

    def batch_loss_and_grads(
        self, X: np.ndarray, y: np.ndarray, need_grads: bool = True
    ) -> tuple[float, dict[str, np.ndarray] | None, np.ndarray]:
        """Loss, gradients and logits of one batch of data checked by :meth:`check_data`.

        The arrays are trusted, not checked again: this is the step
        :func:`lapenna_labs.training.fit` repeats for every batch.

        Parameters
        ----------
        X, y : ndarray
            Rows of the arrays :meth:`check_data` returned.
        need_grads : bool, default True
            False skips the backward pass (validation).

        Returns
        -------
        loss : float
            The mean loss over the batch.
        grads : dict of str to ndarray, or None
            As in :meth:`loss_and_grads`, but the network's own arrays, overwritten by the
            next call (fit uses them at once; copy them to keep them). None when
            `need_grads` is False.
        logits : ndarray, shape (N, layer_sizes[-1])
            The output layer's pre-activations, for :meth:`batch_accuracy`.
        """
        zs, inputs = self._forward(X)
        loss, dlogits = self._loss_and_dlogits(zs[-1], y)
        grads = self._backward(dlogits, zs, inputs) if need_grads else None
        return loss, grads, zs[-1]

    def batch_accuracy(self, logits: np.ndarray, y: np.ndarray) -> float:
        """The fraction of correct predictions, from a batch's logits and checked targets.

        Each of the K outputs of a sigmoid network counts separately (Keras's binary
        accuracy).
        """
        pred = self._classify(logits)
        if self._task == "multiclass":
            truth = y if y.ndim == 1 else np.argmax(y, axis=1)
        else:
            truth = (y > 0.5).astype(np.int64)
            truth = truth[:, 0] if truth.shape[1] == 1 else truth
        return np.count_nonzero(pred == truth) / pred.size

    # ------------------------------------------------------------------ public methods

    def forward(self, X: Any) -> np.ndarray:
        """The network's outputs for a batch of inputs.

        Parameters
        ----------
        X : array_like of float, shape (N, layer_sizes[0])
            One input per row; cast to the network's dtype.

        Returns
        -------
        ndarray, shape (N, layer_sizes[-1]), the network's dtype
            Class probabilities (softmax output; rows sum to 1), independent probabilities
            (sigmoid) or raw values (identity).
        """
        zs, _ = self._forward(self._check_X(X, "MLP.forward"))
        return _activation_forward(zs[-1], self.output)

    def loss_and_grads(self, X: Any, y: Any) -> tuple[float, dict[str, np.ndarray]]:
        """The loss on a batch and its gradient with respect to every parameter.

        Parameters
        ----------
        X : array_like of float, shape (N, layer_sizes[0])
            Inputs, one per row.
        y : array_like
            Targets: integer labels ``(N,)`` (or one-hot ``(N, K)``) for a classifier,
            ``(N, K)`` floats otherwise (``(N,)`` when K is 1).

        Returns
        -------
        loss : float
            The mean loss over the batch (the loss function's own reduction).
        grads : dict of str to ndarray
            ``grads["W1"]`` etc., shaped and typed like ``params``.

        Notes
        -----
        The cross-entropy losses are computed from the output layer's logits with the
        softmax fused in (as :func:`~lapenna_labs.losses.softmax_cross_entropy_with_grad`),
        so the backward pass starts from :math:`(\\mathrm{softmax}(z) - t)/N` and never
        divides by a probability. (The loss value therefore equals
        ``categorical_cross_entropy`` of the probabilities except where a probability
        falls below that function's clipping ``eps``.)
        """
        return self._loss_and_grad_copies(X, y, "MLP.loss_and_grads")

    def predict(self, X: Any) -> np.ndarray:
        """Predicted classes (or values, for a regression network).

        Parameters
        ----------
        X : array_like of float, shape (N, layer_sizes[0])

        Returns
        -------
        ndarray
            Softmax output (or logits with a cross-entropy loss): int64 labels, shape (N,).
            Sigmoid output: 0/1 labels (probability > 0.5), shape (N,) for one output,
            (N, K) for several. Identity output with a squared-error loss: the outputs,
            shape (N, K).
        """
        zs, _ = self._forward(self._check_X(X, "MLP.predict"))
        if self._task == "regression":
            return _activation_forward(zs[-1], self.output)
        return self._classify(zs[-1])

    def evaluate(self, X: Any, y: Any) -> float:
        """Classification accuracy on ``(X, y)``: the fraction of correct predictions.

        Parameters
        ----------
        X : array_like of float, shape (N, layer_sizes[0])
        y : array_like
            Integer labels ``(N,)`` or one-hot ``(N, K)`` (softmax); 0/1 targets (sigmoid,
            where each of the K outputs counts separately, like Keras's binary accuracy).

        Returns
        -------
        float
            Accuracy in [0, 1].

        Raises
        ------
        ValueError
            For a regression network (identity output with a squared-error loss), or bad
            input.
        """
        func = "MLP.evaluate"
        if self._task == "regression":
            raise ValueError(
                f"{func}: accuracy needs a classifier (output 'softmax' or 'sigmoid', or a "
                f"cross-entropy loss); this network regresses with loss {self.loss!r}"
            )
        X, targets = self.check_data(X, y, func)
        zs, _ = self._forward(X)
        return self.batch_accuracy(zs[-1], targets)

    def fit(self, X: Any, y: Any, **options: Any) -> dict[str, list[float]]:
        """Train this network by mini-batch gradient descent: :func:`lapenna_labs.training.fit`.

        The options (``epochs``, ``batch_size``, ``optimizer``, ``validation_data``,
        ``seed``, ``progress``, ``shuffle``), their defaults and the history returned are
        :func:`~lapenna_labs.training.fit`'s, documented there once, with this network as
        its model: `X` has shape (N, ``layer_sizes[0]``) and is checked and cast once to
        the network's dtype; `y` is as for :meth:`loss_and_grads`. The options are keywords
        only. The history is also stored as ``self.history``.

        Examples
        --------
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((200, 4)); y = (X[:, 0] > 0).astype(int)
        >>> net = MLP([4, 8, 2], seed=0)
        >>> history = net.fit(X, y, epochs=5, batch_size=10, optimizer="adam", progress=False)
        >>> history["accuracy"][-1] > history["accuracy"][0]
        True
        """
        return self._fit(X, y, "MLP.fit", options)
