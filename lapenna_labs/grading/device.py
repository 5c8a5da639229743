"""Where a lab runs (the GPU, if any; Colab) and how GPU-only parts are graded on a CPU.

The labs ask for a GPU runtime in Colab and fall back to the CPU. The grader has no GPU: it
sets ``LAPENNA_FORCE_CPU=1``, so :func:`detect_device` says ``"cpu"`` on every machine and the
cells behind ``if DEVICE == "cuda":`` are skipped. What only runs on a GPU is graded by running
the CPU path of the same function and by reading its code (:func:`source_mentions`: does the
timing function synchronise?).
"""

from __future__ import annotations

import inspect
import os
import shutil
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["detect_device", "in_colab", "source_mentions"]


def source_mentions(fn: Callable[..., Any], *needles: str) -> list[str]:
    """The needles (substrings) that occur in ``fn``'s source code, comments excluded.

    Used to grade what cannot run without a GPU, e.g. whether a timing function
    synchronizes (``"synchronize"``, ``"Event"``).

    Parameters
    ----------
    fn : callable
        A function defined in a notebook cell or a module.
    *needles : str
        Substrings to look for.

    Returns
    -------
    list of str
        The needles found, in the order given.
    """
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return []
    code_lines = [line.split("#", 1)[0] for line in source.splitlines()]
    code = "\n".join(code_lines)
    return [needle for needle in needles if needle in code]


def in_colab() -> bool:
    """Whether this code runs in Google Colab."""
    return "google.colab" in sys.modules


def _nvidia_driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def detect_device(verbose: bool = True) -> str:
    """``"cuda"`` if PyTorch sees an NVIDIA GPU, else ``"cpu"``, with a clear message.

    Torch is imported only when an NVIDIA driver is present, so on a CPU machine this is fast
    and works without torch. Setting the environment variable ``LAPENNA_FORCE_CPU=1`` (the
    grader does) always gives ``"cpu"``, so grading is the same on every machine.

    Parameters
    ----------
    verbose : bool, default True
        Print which device was found, or how to get a GPU in Colab.

    Returns
    -------
    str
        ``"cuda"`` or ``"cpu"``.
    """
    message = ""
    device = "cpu"
    if os.environ.get("LAPENNA_FORCE_CPU", "") not in ("", "0"):
        message = "Using the CPU (LAPENNA_FORCE_CPU is set: GPU parts are skipped)."
    elif not _nvidia_driver_present():
        message = "No NVIDIA GPU found: using the CPU; GPU parts will be skipped."
    else:
        try:
            import torch
        except ImportError:
            message = "An NVIDIA driver is present but PyTorch is not installed: using the CPU."
        else:
            if torch.cuda.is_available():
                device = "cuda"
                message = f"Using the GPU: {torch.cuda.get_device_name(0)}."
            else:
                message = "PyTorch sees no usable GPU: using the CPU; GPU parts will be skipped."
    if device == "cpu" and in_colab() and "FORCE_CPU" not in message:
        message += (
            " In Colab, choose Runtime > Change runtime type > T4 GPU, then run the notebook "
            "again from the top."
        )
    if verbose:
        print(message)
    return device
