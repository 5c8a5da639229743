"""Run one computation through PyTorch autograd or ``tf.GradientTape`` and get NumPy back.

The test suite checks our NumPy forward and backward passes against two independent
frameworks. These helpers hide the boilerplate:

>>> value, (gx,) = torch_value_and_grads(lambda x: (x**2).sum(), [np.array([1.0, 2.0])])
>>> value, gx
(array(5.), array([2., 4.]))

``fn`` receives framework tensors (same dtype as the NumPy inputs) and returns a tensor. When
the output is not a scalar, pass ``upstream`` (an array shaped like the output): the gradient
returned is then that of ``sum(fn(*inputs) * upstream)``, i.e. the vector-Jacobian product a
``*_backward`` function computes. ``wrt`` picks which inputs get gradients (default: all);
the others (e.g. integer labels) are passed as constant tensors; ``wrt=()`` just evaluates.

torch and tensorflow are imported on first use (once per process), so importing this module is
free.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__all__ = ["FRAMEWORKS", "tf_value_and_grads", "torch_value_and_grads", "value_and_grads"]


def _wrt(inputs: Sequence[Any], wrt: Sequence[int] | None) -> list[int]:
    return list(range(len(inputs))) if wrt is None else list(wrt)


def torch_value_and_grads(
    fn: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    upstream: np.ndarray | None = None,
    wrt: Sequence[int] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Evaluate ``fn`` on torch tensors and backpropagate with ``torch.autograd``.

    Returns ``(value, grads)``: the output as an ndarray and one gradient per index in `wrt`.
    """
    import torch

    wrt = _wrt(inputs, wrt)
    tensors = [torch.tensor(np.asarray(a), requires_grad=(i in wrt)) for i, a in enumerate(inputs)]
    out = fn(*tensors)
    if not wrt:
        return out.detach().numpy(), []
    target = out if upstream is None else (out * torch.tensor(np.asarray(upstream))).sum()
    grads = torch.autograd.grad(target, [tensors[i] for i in wrt])
    return out.detach().numpy(), [g.numpy() for g in grads]


def tf_value_and_grads(
    fn: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    upstream: np.ndarray | None = None,
    wrt: Sequence[int] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Evaluate ``fn`` on TensorFlow tensors and differentiate with ``tf.GradientTape``.

    Returns ``(value, grads)`` as :func:`torch_value_and_grads` does.
    """
    import tensorflow as tf

    wrt = _wrt(inputs, wrt)
    tensors = [tf.constant(np.asarray(a)) for a in inputs]
    with tf.GradientTape() as tape:
        for i in wrt:
            tape.watch(tensors[i])
        out = fn(*tensors)
        target = out if upstream is None else tf.reduce_sum(out * tf.constant(upstream))
    if not wrt:
        return np.asarray(out), []
    grads = tape.gradient(target, [tensors[i] for i in wrt])
    return np.asarray(out), [np.asarray(g) for g in grads]


FRAMEWORKS = {"torch": torch_value_and_grads, "tf": tf_value_and_grads}
"""Framework name -> helper; parametrize tests over it to run each check in both."""


def value_and_grads(
    framework: str,
    fn: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    upstream: np.ndarray | None = None,
    wrt: Sequence[int] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Dispatch to :func:`torch_value_and_grads` (``"torch"``) or :func:`tf_value_and_grads`
    (``"tf"``)."""
    return FRAMEWORKS[framework](fn, inputs, upstream=upstream, wrt=wrt)
