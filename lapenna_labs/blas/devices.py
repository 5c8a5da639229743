"""The devices work runs on: is there a GPU, what is it called, how to wait for it.

* :func:`cuda_available`: whether PyTorch sees a CUDA GPU (``False`` without PyTorch);
* :func:`device_name`: the CPU model or the GPU's name;
* :func:`get_synchronizer`: the function that waits until a device has finished its queued
  work (nothing on the CPU, ``torch.cuda.synchronize`` on a GPU).

PyTorch is imported inside the functions, so this module works without it.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Callable
from typing import Any

__all__ = ["cuda_available", "device_name", "get_synchronizer"]


# Where Linux describes its CPUs; tests point this at a fake file.
_CPUINFO = "/proc/cpuinfo"


def _read_cpuinfo() -> list[dict[str, str]]:
    """The blocks of /proc/cpuinfo as dicts (empty list where there is none)."""
    try:
        with open(_CPUINFO, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return []
    blocks = []
    for block in text.strip().split("\n\n"):
        entry = {}
        for line in block.splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                entry[key.strip()] = value.strip()
        if entry:
            blocks.append(entry)
    return blocks


def _import_torch(func: str):
    try:
        import torch
    except ImportError:
        raise RuntimeError(
            f"{func}: this needs PyTorch, which is not installed (pip install torch)"
        ) from None
    return torch


def cuda_available() -> bool:
    """Whether PyTorch is installed and sees a CUDA GPU (``False`` without torch).

    Examples
    --------
    >>> isinstance(cuda_available(), bool)
    True
    """
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _parse_device(device: Any, func: str) -> tuple[str, int]:
    """``"cpu"`` -> ("cpu", 0); ``"cuda"`` / ``"cuda:1"`` -> ("cuda", index)."""
    text = str(device).strip().lower()
    match = re.fullmatch(r"(cpu|cuda)(?::(\d+))?", text)
    if match is None or (match.group(1) == "cpu" and match.group(2) not in (None, "0")):
        raise ValueError(f"{func}: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return match.group(1), int(match.group(2) or 0)


def _require_cuda(func: str, index: int = 0):
    torch = _import_torch(func)
    if not torch.cuda.is_available():
        raise RuntimeError(f"{func}: device 'cuda' was asked for but CUDA is not available")
    if index >= torch.cuda.device_count():
        raise RuntimeError(
            f"{func}: there is no cuda:{index} ({torch.cuda.device_count()} GPU(s) visible)"
        )
    return torch


def device_name(device: str = "cpu") -> str:
    """A readable name of ``device``: the CPU model or e.g. ``"NVIDIA H100 80GB HBM3"``."""
    kind, index = _parse_device(device, "device_name")
    if kind == "cuda":
        return str(_require_cuda("device_name", index).cuda.get_device_name(index))
    info = _read_cpuinfo()
    if info and info[0].get("model name"):
        return info[0]["model name"]
    return platform.processor() or platform.machine() or "CPU"


def _no_sync() -> None:
    """The CPU needs no synchronisation: a NumPy call returns when the work is done."""


def get_synchronizer(device: str = "cpu") -> Callable[[], None]:
    """The function that waits until all work queued on ``device`` has finished.

    On the CPU that is nothing: NumPy (and PyTorch or TensorFlow on the CPU) return when the
    product is computed. A CUDA kernel launch returns at once and the GPU works on in the
    background, so a clock read right after it measures the launch, not the work; timing
    code must call ``torch.cuda.synchronize`` before reading a wall clock.

    Parameters
    ----------
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns
    -------
    callable
        Taking no arguments.

    Raises
    ------
    ValueError
        For a device string that is neither.
    RuntimeError
        For ``"cuda"`` when CUDA (or PyTorch) is not available.
    """
    kind, index = _parse_device(device, "get_synchronizer")
    if kind == "cpu":
        return _no_sync
    torch = _require_cuda("get_synchronizer", index)
    return lambda: torch.cuda.synchronize(index)
