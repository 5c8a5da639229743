"""Input checks shared by every module, so bad input fails early with a clear message.

Every public function validates its arrays here instead of letting NumPy raise from deep
inside (or, worse, silently broadcast). Messages start with the public function's name,
e.g. ``ValueError: dense_forward: x has 3 features but W expects 4``.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def as_float_array(
    value: Any,
    *,
    name: str,
    func: str,
    ndim: int | tuple[int, ...] | None = None,
    allow_nonfinite: bool = False,
) -> np.ndarray:
    """Return ``value`` as a floating-point ndarray, or raise a ValueError naming the problem.

    Floating arrays keep their dtype (float32 stays float32); booleans and integers,
    e.g. from a Python list, become float64. Complex, object and string data are rejected,
    as are NaN and infinity unless ``allow_nonfinite`` is set.

    Parameters
    ----------
    value : array_like
        The input to check.
    name : str
        The argument's name, used in messages (``"x"``).
    func : str
        The public function's name, used in messages (``"dense_forward"``).
    ndim : int or tuple of int, optional
        The accepted number(s) of dimensions.
    allow_nonfinite : bool, default False
        Whether NaN and infinity are accepted.

    Returns
    -------
    ndarray
        The input as an array of float16, float32 or float64.
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{func}: {name} cannot be converted to an array ({exc})") from None
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise ValueError(
            f"{func}: {name} must hold real numbers (float32 or float64), got dtype {arr.dtype}"
        )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{func}: {name} must be {want}, got shape {arr.shape}")
    if not allow_nonfinite and not np.all(np.isfinite(arr)):
        bad = "NaN" if np.isnan(arr).any() else "infinity"
        raise ValueError(f"{func}: {name} contains {bad}")
    return arr


def as_labels(value: Any, *, name: str, func: str, num_classes: int | None = None) -> np.ndarray:
    """Return integer class labels as a 1-D int64 array, checking their range.

    Parameters
    ----------
    value : array_like of int, shape (N,)
        Class labels in ``[0, num_classes)``.
    name, func : str
        Used in error messages, as in :func:`as_float_array`.
    num_classes : int, optional
        The number of classes; labels outside ``[0, num_classes)`` are rejected.

    Returns
    -------
    ndarray of int64, shape (N,)
    """
    arr = integer_labels(value, name=name, func=func)
    if arr.ndim != 1:
        raise ValueError(f"{func}: {name} must be 1-D (one label per row), got shape {arr.shape}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{func}: {name} has a negative label ({arr.min()})")
    if num_classes is not None and arr.size and arr.max() >= num_classes:
        raise ValueError(
            f"{func}: {name} has label {arr.max()} but there are only {num_classes} classes"
        )
    return arr


def integer_labels(
    value: Any, *, name: str, func: str, kinds: str = "iu", must: str = "be"
) -> np.ndarray:
    """Return integer class labels of any shape as int64, without checking their range.

    Integers of the dtype `kinds` (``"iu"``; ``"biu"`` accepts booleans too) and floats
    that are all integral are accepted; anything else raises a ValueError
    ``"{func}: {name} must {must} integer class labels, ..."``.

    >>> integer_labels([[0.0, 2.0]], name="y", func="f")
    array([[0, 2]])
    """
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{func}: {name} must {must} integer class labels, got non-integers")
    elif arr.dtype.kind not in kinds:
        raise ValueError(f"{func}: {name} must {must} integer class labels, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def check_same_shape(a: np.ndarray, b: np.ndarray, *, names: tuple[str, str], func: str) -> None:
    """Raise a ValueError unless ``a`` and ``b`` have the same shape (no silent broadcasting)."""
    if a.shape != b.shape:
        raise ValueError(
            f"{func}: {names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}; "
            "they must match"
        )


def check_cache(cache: Any, cache_type: type, *, forward: str, func: str) -> Any:
    """Return `cache` unless it is not a `cache_type`, the type that `forward` returns.

    A backward pass trusts its cache's arrays, so a cache from another layer (or a tuple put
    together by hand) must fail here, with the function that makes the right one, rather
    than as a wrong gradient.
    """
    if not isinstance(cache, cache_type):
        raise ValueError(f"{func}: cache must be the {cache_type.__name__} returned by {forward}")
    return cache


def as_output_gradient(
    dout: Any,
    expected: tuple[int, ...],
    *,
    output: str,
    func: str,
    ndim: int | None = None,
    note: str = "",
) -> np.ndarray:
    """Return a backward pass's `dout` as a float array, or raise unless it is shaped `expected`.

    `dout` is the gradient of the loss with respect to the forward pass's output, so it must
    have that output's shape exactly: NumPy would broadcast a wrong one silently, or fail
    deep inside a product with a message about shapes the caller never wrote. The message is
    ``"{func}: dout has shape S but {output} {expected}{note}"``; `output` says what the
    forward output was (``"the layer's output has shape"``).
    """
    dout = as_float_array(dout, name="dout", func=func, ndim=ndim)
    if dout.shape != expected:
        raise ValueError(f"{func}: dout has shape {dout.shape} but {output} {expected}{note}")
    return dout


def check_positive_int(value: Any, *, name: str, func: str) -> int:
    """Return ``value`` as an int, raising a ValueError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{func}: {name} must be a positive integer, got {value!r}")
    return int(value)


def check_nonnegative_int(value: Any, *, name: str, func: str) -> int:
    """Return ``value`` as an int, raising a ValueError unless it is an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{func}: {name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_positive_number(value: Any, *, name: str, func: str) -> float:
    """Return ``value`` as a float, raising a ValueError unless it is a real number > 0.

    Booleans, strings and complex numbers are rejected, and so is NaN (it is not > 0);
    infinity passes, for the caller to reject where it matters.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{func}: {name} must be a positive number, got {value!r}")
    return float(value)


def check_name(value: Any, choices: Collection[str], *, what: str, func: str) -> str:
    """Return ``value`` stripped and lower-cased if it is one of ``choices``.

    Otherwise raise a ValueError that lists them, e.g. ``get_activation: unknown activation
    'swish'; valid names are 'sigmoid', 'tanh', ...``.
    """
    key = value.strip().lower() if isinstance(value, str) else None
    if key not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{func}: unknown {what} {value!r}; valid names are {valid}")
    return key


def as_generator(seed: Any, *, func: str) -> np.random.Generator:
    """Return a NumPy Generator: ``seed`` itself, or one seeded with a non-negative int."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ValueError(f"{func}: seed must be a non-negative int or a numpy Generator, got {seed!r}")
