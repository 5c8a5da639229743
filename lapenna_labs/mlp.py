"""A multilayer perceptron (fully connected network) built on :mod:`lapenna_labs.layers`.

``MLP([784, 16, 16, 10])`` is the lecture's Keras model (two hidden ReLU layers of 16 and a
softmax over 10 classes) written out in NumPy::

    net = MLP([784, 16, 16, 10], hidden_activation="relu", output="softmax", seed=0)
    history = net.fit(x_train, y_train, epochs=5, batch_size=10, optimizer="sgd",
                      validation_data=(x_test, y_test))
    net.evaluate(x_test, y_test)  # accuracy

The forward pass chains :func:`~lapenna_labs.layers.dense_forward` and
:func:`~lapenna_labs.layers.activation_forward`; :meth:`MLP.loss_and_grads` runs the
backward functions in reverse order, with the softmax and cross-entropy fused
(:func:`~lapenna_labs.losses.softmax_cross_entropy_with_grad`). :meth:`MLP.fit` runs the
same arithmetic through a private kernel that checks its inputs once per call and reuses
preallocated buffers, because the public layer functions validate every array on every
call, which would dominate the time of a small network (the test suite checks that the two
give the same gradients).

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

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from tqdm import tqdm

from lapenna_labs._validation import as_float_array, as_labels, check_positive_int
from lapenna_labs.activations import ACTIVATIONS, _sigmoid
from lapenna_labs.layers import (
    activation_backward,
    activation_forward,
    dense_backward,
    dense_forward,
)
from lapenna_labs.losses import LOSSES, binary_cross_entropy, softmax_cross_entropy_with_grad
from lapenna_labs.optim import Optimizer, get_optimizer

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
LEAKY_ALPHA = 0.01  # leaky_relu's default slope, as in lapenna_labs.activations


def _init_uses_he(activation: str) -> bool:
    return activation in ("relu", "leaky_relu")


class MLP:
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
        hidden = hidden_activation.strip().lower() if isinstance(hidden_activation, str) else None
        if hidden not in ACTIVATIONS:
            raise ValueError(
                f"{func}: unknown hidden_activation {hidden_activation!r}; "
                f"valid names are {list(ACTIVATIONS)}"
            )
        hidden = "identity" if hidden == "linear" else hidden
        out = output.strip().lower() if isinstance(output, str) else None
        out = "identity" if out == "linear" else out
        if out not in OUTPUTS:
            raise ValueError(f"{func}: unknown output {output!r}; valid names are {list(OUTPUTS)}")
        loss_name = DEFAULT_LOSS[out] if loss is None else loss
        loss_name = loss_name.strip().lower() if isinstance(loss_name, str) else None
        if loss_name not in LOSSES:
            raise ValueError(f"{func}: unknown loss {loss!r}; valid names are {list(LOSSES)}")
        allowed = LOSS_OUTPUTS.get(loss_name, OUTPUTS)
        if out not in allowed:
            raise ValueError(
                f"{func}: loss {loss_name!r} does not go with output {out!r}; "
                f"use output {' or '.join(repr(o) for o in allowed)}"
            )
        try:
            dt = np.dtype(dtype)
        except TypeError:
            dt = None
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ValueError(f"{func}: dtype must be float32 or float64, got {dtype!r}")
        if isinstance(seed, np.random.Generator):
            rng = seed
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
            rng = np.random.default_rng(int(seed))
        else:
            raise ValueError(
                f"{func}: seed must be a non-negative int or a numpy Generator, got {seed!r}"
            )

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
            if layer < n_layers and _init_uses_he(hidden):
                W = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))
            else:
                limit = math.sqrt(6.0 / (fan_in + fan_out))
                W = rng.uniform(-limit, limit, size=(fan_in, fan_out))
            self.params[f"W{layer}"] = W.astype(dt)
            self.params[f"b{layer}"] = np.zeros(fan_out, dtype=dt)

    # ------------------------------------------------------------------ description

    @property
    def n_layers(self) -> int:
        """The number of weight layers (hidden layers + the output layer)."""
        return len(self.layer_sizes) - 1

    @property
    def n_params(self) -> int:
        """The number of trainable numbers (weights and biases)."""
        return sum(p.size for p in self.params.values())

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
        # Finiteness is tested with a sum, which needs no temporary array (on a 60,000 x 784
        # training set the isfinite mask costs about a fast epoch): NaN and infinity always
        # make the sum non-finite; only then (or on overflow) the full check runs.
        X = as_float_array(X, name="X", func=func, ndim=2, allow_nonfinite=True)
        if not math.isfinite(float(np.sum(X))):
            as_float_array(X, name="X", func=func)  # names the problem: NaN or infinity
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

    # ------------------------------------------------------------------ reference path (layers)

    def _forward_layers(self, X: np.ndarray) -> tuple[np.ndarray, list[tuple[Any, Any]]]:
        """Logits of the output layer and each layer's (dense cache, activation cache)."""
        caches: list[tuple[Any, Any]] = []
        a = X
        for layer in range(1, self.n_layers + 1):
            z, dense_cache = dense_forward(a, self.params[f"W{layer}"], self.params[f"b{layer}"])
            if layer == self.n_layers:
                caches.append((dense_cache, None))
                return z, caches
            a, act_cache = activation_forward(z, self.hidden_activation)
            caches.append((dense_cache, act_cache))
        raise AssertionError("unreachable")

    def _outputs(self, logits: np.ndarray) -> tuple[np.ndarray, Any]:
        out, cache = activation_forward(logits, self.output)
        return out, cache

    def _reference_pass(
        self, X: np.ndarray, targets: np.ndarray, *, need_grads: bool = True
    ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Loss, gradients and outputs for checked inputs, through layers and losses."""
        logits, caches = self._forward_layers(X)
        out, out_cache = self._outputs(logits)
        if self.loss in CROSS_ENTROPY:
            loss, dz = softmax_cross_entropy_with_grad(logits, targets)
        elif self.loss == "binary_cross_entropy":
            loss = binary_cross_entropy(out, targets)
            # sigmoid followed by BCE: dE/dz = (p - t)/n exactly; chaining the clipped BCE
            # gradient through sigmoid' would lose it where p saturates.
            dz = (out - targets) / out.dtype.type(out.size)
        else:
            loss_fn, grad_fn = LOSSES[self.loss]
            loss = loss_fn(out, targets)
            dz = activation_backward(grad_fn(out, targets), out_cache)
        grads: dict[str, np.ndarray] = {}
        if need_grads:
            for layer in range(self.n_layers, 0, -1):
                dense_cache, _ = caches[layer - 1]
                da, grads[f"W{layer}"], grads[f"b{layer}"] = dense_backward(dz, dense_cache)
                if layer > 1:
                    dz = activation_backward(da, caches[layer - 2][1])
            grads = {k: grads[k] for k in self.params}  # layer order W1, b1, W2, ...
        return float(loss), grads, out

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
        X = self._check_X(X, "MLP.forward")
        logits, _ = self._forward_layers(X)
        return self._outputs(logits)[0]

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
        softmax fused in (:func:`~lapenna_labs.losses.softmax_cross_entropy_with_grad`), so
        the backward pass starts from :math:`(\\mathrm{softmax}(z) - t)/N` and never
        divides by a probability. (The loss value therefore equals
        ``categorical_cross_entropy`` of the probabilities except where a probability
        falls below that function's clipping ``eps``.)
        """
        func = "MLP.loss_and_grads"
        X = self._check_X(X, func)
        targets = self._check_targets(y, X.shape[0], func)
        loss, grads, _ = self._reference_pass(X, targets)
        return loss, grads

    # ------------------------------------------------------------------ predictions

    def _classify(self, out: np.ndarray) -> np.ndarray:
        if self._task == "multiclass":
            return np.argmax(out, axis=1)
        labels = (out > 0.5).astype(np.int64)
        return labels[:, 0] if labels.shape[1] == 1 else labels

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
        X = self._check_X(X, "MLP.predict")
        logits, _ = self._forward_layers(X)
        if self._task == "regression":
            return self._outputs(logits)[0]
        return self._classify(self._outputs(logits)[0])

    def _accuracy(self, out: np.ndarray, targets: np.ndarray) -> float:
        pred = self._classify(out)
        if self._task == "multiclass":
            truth = targets if targets.ndim == 1 else np.argmax(targets, axis=1)
        else:
            truth = (targets > 0.5).astype(np.int64)
            truth = truth[:, 0] if truth.shape[1] == 1 else truth
        return float(np.mean(pred == truth))

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
        X = self._check_X(X, func)
        targets = self._check_targets(y, X.shape[0], func)
        logits, _ = self._forward_layers(X)
        return self._accuracy(self._outputs(logits)[0], targets)

    # ------------------------------------------------------------------ training

    def fit(
        self,
        X: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        optimizer: str | Optimizer = "sgd",
        validation_data: tuple[Any, Any] | None = None,
        seed: int | np.random.Generator = 0,
        progress: bool = True,
        shuffle: bool = True,
    ) -> dict[str, list[float]]:
        """Train with mini-batch gradient descent.

        Each epoch visits the training set once in a random order (one permutation per
        epoch), in batches of ``batch_size`` (the last one may be smaller), and takes one
        optimizer step per batch.

        Parameters
        ----------
        X : array_like of float, shape (N, layer_sizes[0])
            Training inputs (cast once to the network's dtype).
        y : array_like
            Training targets, as for :meth:`loss_and_grads`.
        epochs : int, default 1
        batch_size : int, default 32
            Keras's default; the lecture's example uses 10.
        optimizer : str or Optimizer, default "sgd"
            A name for :func:`lapenna_labs.optim.get_optimizer` (with its default
            hyperparameters: ``"sgd"`` is SGD with learning rate 0.01, like Keras's) or an
            optimizer object, which keeps its state between calls.
        validation_data : tuple (X_val, y_val), optional
            Evaluated once at the end of every epoch.
        seed : int or numpy.random.Generator, default 0
            Seeds the shuffling.
        progress : bool, default True
            Show a tqdm progress bar (one tick per batch; the epoch's metrics as postfix).
        shuffle : bool, default True
            Visit the samples in a new random order every epoch.

        Returns
        -------
        history : dict of str to list of float
            One entry per epoch: ``"loss"`` (the mean of the batch losses, weighted by
            batch size, as Keras reports it: the weights change during the epoch),
            ``"accuracy"`` (likewise, from the same forward passes; classifiers only), and
            with validation data ``"val_loss"`` and ``"val_accuracy"`` (at the epoch's end).
            Also stored as ``self.history``.

        Raises
        ------
        ValueError
            For bad input, or if the loss becomes infinite or NaN (training diverged: lower
            the learning rate).

        Notes
        -----
        For a softmax (or logits) output with a cross-entropy loss, the batches run through
        a private kernel: the same arithmetic as :meth:`loss_and_grads`, with the inputs
        checked once here instead of in every layer call, preallocated buffers
        (``out=``), and no input gradient for the first layer. Other output/loss pairs call
        the layer functions for every batch (slower, same results).
        """
        func = "MLP.fit"
        X = self._check_X(X, func)
        n = X.shape[0]
        targets = self._check_targets(y, n, func)
        epochs = check_positive_int(epochs, name="epochs", func=func)
        batch_size = min(check_positive_int(batch_size, name="batch_size", func=func), n)
        try:
            opt = get_optimizer(optimizer)
        except ValueError as exc:
            raise ValueError(f"{func}: {exc}") from None
        if isinstance(seed, np.random.Generator):
            rng = seed
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
            rng = np.random.default_rng(int(seed))
        else:
            raise ValueError(f"{func}: seed must be a non-negative int or a numpy Generator")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError(f"{func}: validation_data must be a tuple (X_val, y_val)")
            X_val = self._check_X(validation_data[0], func)
            val = (X_val, self._check_targets(validation_data[1], X_val.shape[0], func))

        classifier = self._task != "regression"
        history: dict[str, list[float]] = {"loss": []}
        if classifier:
            history["accuracy"] = []
        if val is not None:
            history["val_loss"] = []
            if classifier:
                history["val_accuracy"] = []

        fast = self.loss in CROSS_ENTROPY and targets.ndim == 1
        kernel = _TrainKernel(self, batch_size) if fast else None
        step = opt._update if isinstance(opt, Optimizer) else opt.step
        n_batches = -(-n // batch_size)
        bar = tqdm(total=epochs * n_batches, desc="MLP.fit", unit="batch", disable=not progress)
        # Per-sample losses and hits of the epoch, filled batch by batch and summed once per
        # epoch: cheaper than reducing every batch to Python floats.
        sample_loss = np.empty(n, dtype=self.dtype)
        sample_hit = np.zeros(n, dtype=self.dtype)
        try:
            for epoch in range(1, epochs + 1):
                order = rng.permutation(n) if shuffle else np.arange(n)
                # A diverging run overflows; it is reported once, below, not per operation.
                with np.errstate(over="ignore", invalid="ignore"):
                    for start in range(0, n, batch_size):
                        stop = min(start + batch_size, n)
                        idx = order[start:stop]
                        if kernel is not None:
                            # fancy indexing allocates the batch, but beats np.take(out=)
                            batch = slice(start, stop)
                            kernel.run(X[idx], targets[idx], sample_loss[batch], sample_hit[batch])
                            grads = kernel.grads
                        else:
                            tb = targets[idx]
                            batch_loss, grads, out = self._reference_pass(X[idx], tb)
                            sample_loss[start:stop] = batch_loss
                            if classifier:
                                sample_hit[start:stop] = self._accuracy(out, tb)
                        step(self.params, grads)
                        bar.update()
                epoch_loss = float(sample_loss.sum(dtype=np.float64)) / n
                if not math.isfinite(epoch_loss):
                    raise ValueError(
                        f"{func}: the loss became {epoch_loss} during epoch {epoch}: training "
                        f"diverged; lower the learning rate (optimizer {opt!r})"
                    )
                history["loss"].append(epoch_loss)
                if classifier:
                    history["accuracy"].append(float(sample_hit.sum(dtype=np.float64)) / n)
                if val is not None:
                    val_loss, _, val_out = self._reference_pass(*val, need_grads=False)
                    history["val_loss"].append(val_loss)
                    if classifier:
                        history["val_accuracy"].append(self._accuracy(val_out, val[1]))
                bar.set_postfix({k: f"{v[-1]:.4f}" for k, v in history.items()}, refresh=False)
        finally:
            bar.close()
        self.history = history
        return history


class _Buffers(NamedTuple):
    """Work arrays for one batch size (views of the kernel's full-size arrays)."""

    rows: np.ndarray  # arange(m), for picking each row's true class
    z: list[np.ndarray]  # pre-activations, one per layer (the last is the logits)
    a: list[np.ndarray]  # hidden activations
    da: list[np.ndarray]  # their gradients
    tmp: list[np.ndarray]  # scratch, per hidden layer
    mask: list[np.ndarray]  # z > 0, per hidden layer (ReLU)
    probs: np.ndarray
    row_max: np.ndarray
    row_sum: np.ndarray


class _TrainKernel:
    """Forward and backward of a softmax/cross-entropy MLP into preallocated buffers.

    The same arithmetic as ``MLP.loss_and_grads`` for integer labels, for inputs already
    checked by ``MLP.fit``. ``run`` takes one batch, fills ``self.grads`` (arrays reused
    every batch) and returns the batch's summed loss and number of correct predictions.
    Every array operation writes into a buffer (``out=``), except the batch gather.
    """

    def __init__(self, net: MLP, batch_size: int) -> None:
        dt = net.dtype
        sizes = net.layer_sizes
        self.activation = net.hidden_activation
        self.W = [net.params[f"W{i}"] for i in range(1, net.n_layers + 1)]
        self.b = [net.params[f"b{i}"] for i in range(1, net.n_layers + 1)]
        self.grads = {k: np.empty_like(p) for k, p in net.params.items()}
        self.gW = [self.grads[f"W{i}"] for i in range(1, net.n_layers + 1)]
        self.gb = [self.grads[f"b{i}"] for i in range(1, net.n_layers + 1)]
        hidden = sizes[1:-1]

        def empty(widths: Sequence[int], dtype: Any = dt) -> list[np.ndarray]:
            return [np.empty((batch_size, k), dtype=dtype) for k in widths]

        self._full = _Buffers(
            rows=np.arange(batch_size),
            z=empty(sizes[1:]),
            a=empty(hidden),
            da=empty(hidden),
            tmp=empty(hidden),
            mask=empty(hidden, bool),
            probs=np.empty((batch_size, sizes[-1]), dtype=dt),
            row_max=np.empty((batch_size, 1), dtype=dt),
            row_sum=np.empty((batch_size, 1), dtype=dt),
        )
        self._views = {batch_size: self._full}

    def _buffers(self, m: int) -> _Buffers:
        """The first ``m`` rows of every buffer (cached: at most two sizes per epoch)."""
        views = self._views.get(m)
        if views is None:
            views = _Buffers(
                *(
                    [x[:m] for x in field] if isinstance(field, list) else field[:m]
                    for field in self._full
                )
            )
            self._views[m] = views
        return views

    def _activate(self, buf: _Buffers, i: int) -> np.ndarray:
        z, a = buf.z[i], buf.a[i]
        name = self.activation
        if name == "relu":
            np.maximum(z, 0, out=a)
        elif name == "leaky_relu":
            np.multiply(z, LEAKY_ALPHA, out=a)
            np.maximum(z, a, out=a)  # max(z, alpha z) is leaky ReLU for 0 <= alpha <= 1
        elif name == "tanh":
            np.tanh(z, out=a)
        elif name == "sigmoid":
            np.copyto(a, _sigmoid(z))
        else:
            np.copyto(a, z)
        return a

    def _activation_backward(self, buf: _Buffers, i: int) -> np.ndarray:
        """Multiply ``da[i]`` in place by g'(z[i])."""
        da, name = buf.da[i], self.activation
        if name == "relu":
            mask = buf.mask[i]
            np.greater(buf.z[i], 0, out=mask)
            np.multiply(da, mask, out=da)
        elif name == "leaky_relu":
            tmp = buf.tmp[i]
            np.copyto(tmp, LEAKY_ALPHA)
            np.copyto(tmp, 1, where=buf.z[i] > 0)
            da *= tmp
        elif name == "sigmoid":
            a, tmp = buf.a[i], buf.tmp[i]
            np.subtract(1, a, out=tmp)  # sigma' = sigma (1 - sigma)
            tmp *= a
            da *= tmp
        elif name == "tanh":
            a, tmp = buf.a[i], buf.tmp[i]
            np.multiply(a, a, out=tmp)  # tanh' = 1 - tanh^2
            np.subtract(1, tmp, out=tmp)
            da *= tmp
        return da

    def run(self, x: np.ndarray, y: np.ndarray, sample_loss: np.ndarray, hit: np.ndarray) -> None:
        """Forward and backward on one batch ``x`` (m, D) with labels ``y`` (m,).

        Fills ``self.grads``, each sample's loss into ``sample_loss`` (m,) and 1/0 for a
        correct/wrong prediction into ``hit`` (m,).
        """
        m = x.shape[0]
        buf = self._buffers(m)
        W, n_layers = self.W, len(self.W)

        relu = self.activation == "relu"  # the common case, inlined
        a, b, zs, acts = x, self.b, buf.z, buf.a
        for i in range(n_layers):
            z = zs[i]
            np.matmul(a, W[i], out=z)
            z += b[i]
            if i < n_layers - 1:
                a = np.maximum(z, 0, out=acts[i]) if relu else self._activate(buf, i)

        # softmax cross-entropy, fused: loss_n = log sum_k exp(z_nk - max_n) - (z_ny - max_n)
        logits, probs, rows = buf.z[-1], buf.probs, buf.rows
        np.equal(logits.argmax(axis=1), y, out=hit)
        np.maximum.reduce(logits, axis=1, keepdims=True, out=buf.row_max)
        np.subtract(logits, buf.row_max, out=probs)
        true_shifted = probs[rows, y]
        np.exp(probs, out=probs)
        np.add.reduce(probs, axis=1, keepdims=True, out=buf.row_sum)
        probs /= buf.row_sum
        np.log(buf.row_sum[:, 0], out=sample_loss)
        sample_loss -= true_shifted
        probs[rows, y] -= 1
        probs *= probs.dtype.type(1.0 / m)  # dE/dz of the mean loss: (softmax - onehot)/m

        delta, gW, gb, das, masks = probs, self.gW, self.gb, buf.da, buf.mask
        for i in range(n_layers - 1, -1, -1):
            a_prev = x if i == 0 else acts[i - 1]
            np.matmul(a_prev.T, delta, out=gW[i])
            np.add.reduce(delta, axis=0, out=gb[i])
            if i > 0:
                delta = np.matmul(delta, W[i].T, out=das[i - 1])
                if relu:
                    np.multiply(delta, np.greater(zs[i - 1], 0, out=masks[i - 1]), out=delta)
                else:
                    self._activation_backward(buf, i - 1)
