"""Feedback on a wrong answer that says *how* it is wrong without revealing the right one.

:func:`check_close` compares an answer with the expected value and, when they differ, names
the problem: returned None, not a number, wrong length, missing keys, wrong shape, transposed,
wrong dtype, NaN or infinity, a known mistake, wrong sign, a constant factor, a constant
offset, how many entries are off. :func:`passed` prints the one line every visible check
prints when it passes.

What the messages never contain
-------------------------------
An expected value, or a number from which it follows. So the diagnoses that relate the answer
to the expected value by one number (the negatives, a factor, an offset) are only made for
arrays with at least two different expected entries, where they name a systematic mistake:
for a single number (or an array of equal entries) any of them would hand out the value, since
the student knows their own answer. A factor is printed only when it is a simple fraction
(2, 1/2, 3/4), never for a single number. Relative errors are given to their order of magnitude
only. The hint after a factor comes from the caller (``factor_hint="a missing 1/N?"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["PASSED", "check_close", "default_tolerances", "passed"]

#: What :func:`passed` prints after the name of what was checked.
PASSED = "the visible checks pass"

_TOLERANCES = {
    np.dtype(np.float16): (1e-2, 1e-3),
    np.dtype(np.float32): (1e-4, 1e-6),
    np.dtype(np.float64): (1e-6, 1e-9),
}


def passed(name: str) -> None:
    """Print the line every lab prints when a cell's visible checks pass.

    Parameters
    ----------
    name : str
        What was checked (``"sigmoid, tanh, relu"``).

    Examples
    --------
    >>> passed("sigmoid")
    sigmoid: the visible checks pass.
    """
    print(f"{name}: {PASSED}.")


def default_tolerances(dtype: Any) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing answers of a given dtype.

    Looser than the test suite's, because a correct answer may use another (still correct)
    formula than the reference: float32 ``(1e-4, 1e-6)``, float64 ``(1e-6, 1e-9)``;
    integers and Python numbers use the float64 values.

    Examples
    --------
    >>> default_tolerances("float32")
    (0.0001, 1e-06)
    """
    dt = np.dtype(dtype)
    return _TOLERANCES.get(dt, _TOLERANCES[np.dtype(np.float64)])


def _fail(name: str, problem: str) -> None:
    raise AssertionError(f"{name}: {problem}")


def _as_number_array(value: Any, name: str, expected_kind: str) -> np.ndarray:
    if value is None:
        _fail(name, "returned None; did you forget the `return` statement?")
    if isinstance(value, (str, bytes, dict, set)):
        _fail(name, f"returned a {type(value).__name__}, expected {expected_kind}")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and callable(value.numpy):  # a TensorFlow tensor
        value = value.numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        _fail(name, f"returned a {type(value).__name__}, expected {expected_kind}")
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        _fail(
            name,
            f"returned something of type {type(value).__name__} (dtype {arr.dtype}) that is not "
            f"{expected_kind} of real numbers",
        )
    return arr


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))


def _order_of(x: float) -> str:
    """``x`` to its order of magnitude only: ``"1e-03"``."""
    return f"1e{math.floor(math.log10(x)):+03d}" if x > 0 else "0"


def _fraction_value(text: str) -> float:
    p, _, q = text.partition("/")
    return int(p) / int(q or 1)


def _simple_fraction(x: float) -> str | None:
    """``x`` as ``"p/q"`` (or ``"p"``) with small p, q if it is within 1e-3 of one, else None."""
    for q in range(1, 11):
        p = round(x * q)
        if p != 0 and abs(p) <= 20 and math.isclose(x, p / q, rel_tol=1e-3):
            return f"{p}" if q == 1 else f"{p}/{q}"
    return None


def _diagnose_values(
    got: np.ndarray,
    expected: np.ndarray,
    rtol: float,
    atol: float,
    common_mistakes: Mapping[str, Any] | None,
    factor_hint: str | None,
) -> str:
    """Why ``got`` is not close to ``expected``, in words, without the expected values."""
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    for description, wrong in (common_mistakes or {}).items():
        wrong_arr = np.asarray(wrong, dtype=np.float64)
        if wrong_arr.shape == g.shape and _close(g, wrong_arr, rtol, atol):
            return f"your values match a common mistake: {description}"
    bad = ~np.isclose(g, e, rtol=rtol, atol=atol)
    denom = np.maximum(np.abs(e), atol)
    largest = _order_of(float(np.max(np.abs(g - e)[bad] / denom[bad])))
    if e.size == 1:
        # A single number: a sign, factor or offset would give it away.
        opposite = ", with the opposite sign" if float(g.flat[0]) * float(e.flat[0]) < 0 else ""
        return f"wrong value: off by a relative error of the order of {largest}{opposite}"
    systematic = np.unique(e).size >= 2  # with equal entries a factor would reveal them
    if systematic and _close(g, -e, rtol, atol):
        return "wrong sign: your values are the negatives of the right ones"
    if g.ndim == 2 and g.shape[0] == g.shape[1] and _close(g, e.T, rtol, atol):
        return "your result is transposed"
    nonzero = np.abs(e) > atol
    if (
        systematic
        and np.unique(np.abs(e[nonzero])).size >= 2
        and np.all((np.abs(g) > atol) == nonzero)
    ):
        factor = float(np.median(g[nonzero] / e[nonzero]))
        if factor != 0 and abs(factor) != 1.0 and _close(g, factor * e, rtol, atol):
            # Name the factor only when it is exactly (to the tolerance) a simple fraction, the
            # mark of a mistake (2, 1/2, 3/4...): a rounded arbitrary factor together with the
            # student's own values would reveal the expected ones.
            simple = _simple_fraction(factor)
            if simple is not None and not _close(g, _fraction_value(simple) * e, rtol, atol):
                simple = None
            said = f"{simple} times" if simple else "the same constant times"
            hint = f" ({factor_hint})" if factor_hint else ""
            return f"off by a constant factor: every value is {said} the right one{hint}"
    offset = float(np.median(g - e))
    if systematic and abs(offset) > atol and _close(g - offset, e, rtol, atol):
        return "off by a constant: every value is shifted by the same amount (a missing term?)"
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    where = first if len(first) > 1 else first[0]
    return (
        f"wrong values: {int(np.count_nonzero(bad))} of {g.size} entries are off (largest "
        f"relative error of the order of {largest}), the first at index {where}"
    )


def check_close(
    got: Any,
    expected: Any,
    *,
    name: str,
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
    common_mistakes: Mapping[str, Any] | None = None,
    factor_hint: str | None = None,
) -> None:
    """Assert that an answer is close to the expected one, and say precisely how it is not.

    Parameters
    ----------
    got : array_like, number, or tuple/list/dict of them
        The student's answer.
    expected : array_like, number, or tuple/list/dict of them
        The right answer (computed by the test; never printed). A tuple (or a list that is
        not all numbers) is a result of several items, compared item by item; a dict is
        compared key by key.
    name : str
        What is being checked, used as the start of the message (``"sigmoid_grad"``).
    rtol, atol : float, optional
        Tolerances; by default from :func:`default_tolerances` for ``expected``'s dtype.
    check_dtype : bool, default True
        Whether a floating answer must have the expected floating dtype (float32 in,
        float32 out).
    common_mistakes : mapping of str to array_like, optional
        Known wrong answers, e.g. ``{"the function itself, not its derivative": sigmoid(z)}``;
        if the answer matches one, the message names it. (Naming a mistake tells the student
        how their value relates to the right one: choose them with that in mind.)
    factor_hint : str, optional
        Said after "off by a constant factor" on arrays, e.g. ``"a missing 1/N?"``.

    Raises
    ------
    AssertionError
        ``"<name>: <diagnosis>"``. The message contains shapes, dtypes, counts, indices and
        orders of magnitude, never an expected value or a number from which one follows
        (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> try:
    ...     check_close(np.array([-1.0, -2.0]), np.array([1.0, 2.0]), name="f")
    ... except AssertionError as err:
    ...     print(err)
    f: wrong sign: your values are the negatives of the right ones
    >>> try:
    ...     check_close(-0.25, 1.0, name="loss")
    ... except AssertionError as err:
    ...     print(err)
    loss: wrong value: off by a relative error of the order of 1e+00, with the opposite sign
    """
    options = {"rtol": rtol, "atol": atol, "check_dtype": check_dtype, "factor_hint": factor_hint}
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping):
            _fail(name, f"should return a dict, got {type(got).__name__}")
        missing = [key for key in expected if key not in got]
        if missing:
            _fail(name, f"the result has no key(s) {missing}")
        for key, item in expected.items():
            check_close(got[key], item, name=f"{name}[{key!r}]", **options)
        return
    if isinstance(expected, (tuple, list)) and not _is_number_sequence(expected):
        if got is None:
            _fail(name, "returned None; did you forget the `return` statement?")
        if not isinstance(got, (tuple, list)):
            _fail(name, f"should return a tuple of {len(expected)} items, got {type(got).__name__}")
        if len(got) != len(expected):
            _fail(name, f"should return {len(expected)} items, got {len(got)}")
        for i, (g_item, e_item) in enumerate(zip(got, expected, strict=True)):
            check_close(g_item, e_item, name=f"{name} (item {i} of the result)", **options)
        return

    exp = np.asarray(expected)
    scalar = exp.ndim == 0
    kind = "a number" if scalar else "an array"
    arr = _as_number_array(got, name, kind)
    default_rtol, default_atol = default_tolerances(exp.dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol

    if scalar and arr.size != 1:
        _fail(name, f"should be a single number, got an array of shape {arr.shape}")
    if not scalar and arr.shape != exp.shape:
        if arr.ndim == 2 and arr.shape == exp.shape[::-1]:
            if _close(arr.T.astype(np.float64), exp.astype(np.float64), rtol, atol):
                _fail(name, f"your result is transposed: shape {arr.shape}, expected {exp.shape}")
        if arr.size == exp.size:
            _fail(
                name,
                f"wrong shape {arr.shape}, expected {exp.shape} (same number of entries: "
                "a missing reshape, or the wrong axis?)",
            )
        _fail(name, f"wrong shape {arr.shape}, expected {exp.shape}")
    if exp.dtype.kind == "f" and arr.dtype.kind in "biu":
        _fail(
            name,
            f"returned integers (dtype {arr.dtype}), expected floating-point numbers "
            "(integer division, or an array created with an integer dtype?)",
        )
    if check_dtype and not scalar and exp.dtype.kind == "f" and arr.dtype != exp.dtype:
        _fail(
            name,
            f"returned dtype {arr.dtype}, expected {exp.dtype}: keep the input's precision "
            "(float32 in, float32 out)",
        )
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        n_nan = int(np.count_nonzero(np.isnan(arr)))
        n_inf = int(np.count_nonzero(np.isinf(arr)))
        _fail(
            name,
            f"contains {n_nan} NaN and {n_inf} infinite values (an overflow in exp? a log of 0? "
            "use the numerically stable form)",
        )
    got_arr = arr.reshape(exp.shape) if scalar else arr
    if _close(got_arr.astype(np.float64), exp.astype(np.float64), rtol, atol):
        return
    _fail(name, _diagnose_values(got_arr, exp, rtol, atol, common_mistakes, factor_hint))


def _is_number_sequence(value: Sequence[Any]) -> bool:
    """True for a list/tuple of plain numbers (one array), False for a tuple of results."""
    return all(isinstance(v, (int, float, np.number)) for v in value)
