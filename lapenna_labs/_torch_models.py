"""What the PyTorch models of weeks 8 and 9 share: their checks, the Adam loop and inference.

:mod:`lapenna_labs.unet` and :mod:`lapenna_labs.detector` differ in their networks and their
losses, not in how they are trained or run. This module holds the one copy of that:

- :func:`check_module` and :func:`torch_device`: a ``torch.nn.Module`` and a device string
  ("cpu", "cuda", "cuda:N"), each refused with a ValueError/RuntimeError that names the
  public function the user called;
- :func:`check_images`: a batch of images for a model, as float32 (N, C, H, W);
- :func:`check_training_settings`: epochs, batch size, learning rate, seed and progress, as a
  :class:`TrainingSettings`;
- :func:`train_with_adam`: shuffled mini-batches from a seed, Adam, a tqdm bar, one host
  synchronisation per epoch, a clear error when the loss diverges, torch's global random
  state left untouched;
- :func:`run_in_batches`: evaluation mode, no gradients, the model's mode restored.

Torch is imported only when one of these runs (callers pass the module they imported).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np

from lapenna_labs._validation import (
    check_nonnegative_int,
    check_positive_int,
    check_positive_number,
)
from lapenna_labs.blas.devices import _import_torch, _parse_device, _require_cuda
from lapenna_labs.training import _check_epoch_loss, _progress_bar


def check_module(model: Any, func: str, maker: str):
    """Torch, once `model` is known to be a ``torch.nn.Module`` (`maker` builds one)."""
    torch = _import_torch(func)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"{func}: model must be a torch.nn.Module ({maker}), got {model!r}")
    return torch


def torch_device(torch, device: Any, func: str):
    """The ``torch.device`` of "cpu", "cuda" or "cuda:N"; RuntimeError if CUDA is absent."""
    kind, index = _parse_device(device, func)
    if kind == "cuda":
        _require_cuda(func, index)
        return torch.device("cuda", index)
    return torch.device("cpu")


def check_images(model: Any, images: Any, func: str) -> np.ndarray:
    """Images as C-contiguous float32 (N, C, H, W), finite, with the model's channels.

    A torch tensor (on any device) is copied to the host first. The model's ``in_channels``
    attribute, where it has one, fixes C.
    """
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"{func}: images must have shape (N, C, H, W), got an array of shape {images.shape}"
        )
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"{func}: images must be floating point (float32 in [0, 1]), got {images.dtype}"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{func}: images holds no image (shape {images.shape})")
    expected = getattr(model, "in_channels", None)
    if expected is not None and images.shape[1] != expected:
        raise ValueError(
            f"{func}: images have {images.shape[1]} channels but the model expects {expected}"
        )
    if not np.isfinite(images).all():
        raise ValueError(f"{func}: images contain NaN or infinite values")
    return np.ascontiguousarray(images, dtype=np.float32)


class TrainingSettings(NamedTuple):
    """The checked settings of a training: ``train_with_adam(..., **settings._asdict())``."""

    epochs: int
    batch_size: int
    lr: float
    seed: int
    progress: bool


def check_training_settings(
    epochs: Any, batch_size: Any, lr: Any, seed: Any, progress: Any, func: str
) -> TrainingSettings:
    """``(epochs, batch_size, lr, seed, progress)`` checked: positive, finite, a bool."""
    epochs = check_positive_int(epochs, name="epochs", func=func)
    batch_size = check_positive_int(batch_size, name="batch_size", func=func)
    lr = check_positive_number(lr, name="lr", func=func)
    if not math.isfinite(lr):
        raise ValueError(f"{func}: lr must be finite, got {lr!r}")
    seed = check_nonnegative_int(seed, name="seed", func=func)
    if not isinstance(progress, (bool, np.bool_)):
        raise ValueError(f"{func}: progress must be True or False, got {progress!r}")
    return TrainingSettings(epochs, batch_size, lr, seed, bool(progress))


def train_with_adam(
    torch,
    model: Any,
    data: Mapping[str, Any],
    batch_loss: Callable[[Any, dict[str, Any]], Any],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: Any,
    progress: bool,
    func: str,
) -> dict[str, list[float]]:
    """Train `model` in place with Adam; the mean loss of each epoch.

    Parameters
    ----------
    torch : module
        PyTorch, as the caller imported it.
    model : torch.nn.Module
        Moved to `device` and left there, in training mode.
    data : mapping of str to torch.Tensor
        Host tensors with the same first dimension N (the images and their targets).
    batch_loss : callable
        ``batch_loss(model, batch)`` returns the scalar loss of ``batch``, the same keys as
        `data` holding one mini-batch each, already on `device`.
    epochs, batch_size, lr, seed, progress
        As :func:`check_training_settings` returns them. `seed` fixes the shuffling and
        torch's random numbers (dropout, say) inside a forked random state.
    device : torch.device
        From :func:`torch_device`.
    func : str
        The public function's name, for the progress bar and the errors.

    Returns
    -------
    dict
        ``{"loss": [...]}``: the mean loss of each epoch, over its batches weighted by
        their sizes, as measured during training.

    Raises
    ------
    ValueError
        If an epoch's loss is NaN or infinite (training diverged).
    """
    n = len(next(iter(data.values())))
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": []}
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model.to(device)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        bar = _progress_bar(epochs, n, batch_size, func, progress)
        try:
            for epoch in range(1, epochs + 1):
                order = torch.from_numpy(rng.permutation(n))
                # Summed on the device: one host synchronisation per epoch, not per batch.
                loss_sum = torch.zeros((), device=device)
                for start in range(0, n, batch_size):
                    index = order[start : start + batch_size]
                    batch = {k: v[index].to(device, non_blocking=True) for k, v in data.items()}
                    loss = batch_loss(model, batch)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    loss_sum += loss.detach() * len(index)
                    bar.update(1)
                epoch_loss = float(loss_sum) / n
                _check_epoch_loss(epoch_loss, epoch, func, f"lr={lr}")
                history["loss"].append(epoch_loss)
                bar.set_postfix(loss=f"{epoch_loss:.4f}", refresh=False)
        finally:
            bar.close()
    return history


def run_in_batches(
    torch, model: Any, images: np.ndarray, on_outputs: Callable[[Any], Any], *, batch_size, device
) -> list[Any]:
    """``on_outputs(model(batch))`` for each batch of `images`, in eval mode, no gradients.

    The model is moved to `device` and put back in the mode (train or eval) it was in.
    """
    was_training = model.training
    model.to(device)
    model.eval()
    results = []
    try:
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                xb = torch.from_numpy(images[start : start + batch_size]).to(device)
                results.append(on_outputs(model(xb)))
    finally:
        model.train(was_training)
    return results
