"""Helpers for the labs' tests: blocking the reference, specific feedback, device detection.

The labs (``labs/labNN.ipynb``) are graded by nbgrader. Their test cells use this module to

* run a student's function while ``lapenna_labs``' own implementation of the same thing is
  *blocked* (:func:`reference_blocked`, :func:`call_blocked`), so an answer that just calls the
  reference scores zero for that part;
* compare an answer with the expected one and, when it is wrong, say *how* it is wrong (shape,
  dtype, NaN, sign, a constant factor, transposed, a known mistake) without ever printing the
  expected values (:func:`check_close`);
* find the GPU, if any, with a clear message and a CPU fallback (:func:`detect_device`).

How the blocking works
----------------------
A student can reach a reference function under any name: ``lapenna_labs.activations.sigmoid``,
``from lapenna_labs.activations import sigmoid as s``, a reference kept in a list, a
``functools.partial``... All of these are references to the *same function object*. Rebinding
a module attribute (what ``unittest.mock.patch`` does) would miss every alias made before the
patch. Instead :func:`reference_blocked` swaps the function object's code: it replaces
``fn.__code__`` (and ``__defaults__``/``__kwdefaults__``) with a stub whose only statement
raises :class:`ReferenceBlockedError`, and puts the original code back on exit, in a
``finally`` block, so the reference works again even when the student's code raised, looped
until nbgrader interrupted it (``KeyboardInterrupt``), or caught the error itself. Every call
of the blocked function is also *recorded*; :func:`call_blocked` fails if the student's function
attempted one, even if it swallowed the exception and fell back to something else.

Limits, on purpose: only Python functions can be blocked (not NumPy's C functions); methods are
blocked through their underlying function, classes through every function defined in the class
body. A student who copies the reference's source text into the answer is not detected here;
that is a matter for the honour code.

Examples
--------
>>> import numpy as np
>>> from lapenna_labs import grading
>>> def reference(x):
...     return 2 * x
>>> alias = reference
>>> with grading.reference_blocked(reference):
...     try:
...         alias(1.0)
...     except grading.ReferenceBlockedError:
...         print("blocked")
blocked
>>> reference(1.0)
2.0
>>> grading.check_close(np.array([1.0, 2.0]), np.array([1.0, 2.0]), name="demo")
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import os
import shutil
import sys
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "ReferenceBlockedError",
    "reference_blocked",
    "call_blocked",
    "check_close",
    "default_tolerances",
    "detect_device",
    "in_colab",
    "source_mentions",
]


class ReferenceBlockedError(AssertionError):
    """Raised when graded code calls a ``lapenna_labs`` reference that the test has blocked."""


# id(function) -> [function, saved (code, defaults, kwdefaults), nesting depth]
_ACTIVE: dict[int, list[Any]] = {}
# qualified names of blocked functions that were called while blocked, in call order
_ATTEMPTS: list[str] = []


def _qualified_name(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', getattr(fn, '__name__', repr(fn)))}"


def _blocked_message(qualname: str) -> str:
    return (
        f"your answer called {qualname}, the lapenna_labs reference for the function being "
        "graded; while the tests run it is blocked. Write the computation yourself (NumPy is "
        "fine): this part scores zero."
    )


def _on_blocked_call(qualname: str) -> None:
    """Called by the stub that replaces a blocked function's code: record, then raise."""
    _ATTEMPTS.append(qualname)
    raise ReferenceBlockedError(_blocked_message(qualname))


def _make_stub_code(fn: types.FunctionType) -> types.CodeType:
    """A code object that, run as ``fn``, reports the call and raises.

    The stub runs with ``fn.__globals__`` (the reference's module), where this module's names
    are unknown, so it reaches this module through ``sys.modules`` (``import`` is a built-in).
    Its free variables must match ``fn.__closure__`` for the code swap to be allowed, so the
    stub declares the same free-variable names (unused) when ``fn`` is a closure.
    """
    qualname = _qualified_name(fn)
    freevars = fn.__code__.co_freevars
    body = (
        "def _lapenna_blocked_stub(*args, **kwargs):\n"
        + "".join(f"    {name}\n" for name in freevars)  # reference them: make them free
        + "    import sys as _lapenna_sys\n"
        + f"    _lapenna_sys.modules[{__name__!r}]._on_blocked_call({qualname!r})\n"
    )
    if freevars:
        # Wrap in an outer function that defines the names, so they compile as free variables.
        outer = "def _outer():\n" + "".join(f"    {name} = None\n" for name in freevars)
        outer += "".join("    " + line + "\n" for line in body.splitlines())
        outer += "    return _lapenna_blocked_stub\n"
        namespace: dict[str, Any] = {}
        exec(compile(outer, f"<blocked {qualname}>", "exec"), namespace)  # noqa: S102
        code = namespace["_outer"]().__code__
        # The free-variable order must match the reference's closure cells.
        return code.replace(co_freevars=freevars) if code.co_freevars != freevars else code
    namespace = {}
    exec(compile(body, f"<blocked {qualname}>", "exec"), namespace)  # noqa: S102
    return namespace["_lapenna_blocked_stub"].__code__


def _underlying_functions(obj: Any) -> list[types.FunctionType]:
    """The plain Python functions whose code must be swapped to block ``obj``."""
    if isinstance(obj, functools.partial):
        return _underlying_functions(obj.func)
    if isinstance(obj, (staticmethod, classmethod, types.MethodType)):
        return _underlying_functions(obj.__func__)
    if isinstance(obj, types.FunctionType):
        return [obj]
    if isinstance(obj, type):
        found: list[types.FunctionType] = []
        for klass in obj.__mro__:
            if klass is object:
                continue
            for attr in vars(klass).values():
                if isinstance(attr, property):
                    attr = attr.fget
                if isinstance(attr, (types.FunctionType, staticmethod, classmethod)):
                    found.extend(_underlying_functions(attr))
        return found
    raise TypeError(
        f"reference_blocked: can only block Python functions, methods and classes, "
        f"got {type(obj).__name__} {obj!r}"
    )


def _block(fn: types.FunctionType) -> None:
    entry = _ACTIVE.get(id(fn))
    if entry is not None:  # nested blocking of the same function: count, keep the original
        entry[2] += 1
        return
    saved = (fn.__code__, fn.__defaults__, fn.__kwdefaults__)
    stub = _make_stub_code(fn)
    fn.__code__ = stub
    fn.__defaults__ = None
    fn.__kwdefaults__ = None
    _ACTIVE[id(fn)] = [fn, saved, 1]


def _unblock(fn: types.FunctionType) -> None:
    entry = _ACTIVE.get(id(fn))
    if entry is None:
        return
    entry[2] -= 1
    if entry[2] > 0:
        return
    code, defaults, kwdefaults = entry[1]
    fn.__code__ = code
    fn.__defaults__ = defaults
    fn.__kwdefaults__ = kwdefaults
    del _ACTIVE[id(fn)]


@contextlib.contextmanager
def reference_blocked(*functions: Any) -> Iterator[list[str]]:
    """Block reference functions, under every alias, for the duration of a ``with`` block.

    Parameters
    ----------
    *functions : function, method, functools.partial or class
        The references to block (``lapenna_labs.activations.sigmoid``, ``MLP``, ...).

    Yields
    ------
    list of str
        A live list of the qualified names of blocked functions that were called inside the
        block (whether or not the caller caught the :class:`ReferenceBlockedError`).

    Raises
    ------
    TypeError
        If an argument is not a Python function, method or class.

    Notes
    -----
    The function objects' ``__code__`` is replaced by a stub that raises
    :class:`ReferenceBlockedError` and restored on exit, even when the body raises or is
    interrupted; see the module docstring for why code swapping (not attribute patching).

    Examples
    --------
    >>> def ref(x):
    ...     return x + 1
    >>> with reference_blocked(ref) as attempts:
    ...     try:
    ...         ref(0)
    ...     except ReferenceBlockedError:
    ...         pass
    >>> attempts[0].endswith("ref"), ref(0)
    (True, 1)
    """
    targets: list[types.FunctionType] = []
    seen: set[int] = set()
    for obj in functions:
        for fn in _underlying_functions(obj):
            if id(fn) not in seen:
                seen.add(id(fn))
                targets.append(fn)
    start = len(_ATTEMPTS)
    attempts: list[str] = []
    blocked: list[types.FunctionType] = []
    try:
        for fn in targets:
            _block(fn)
            blocked.append(fn)
        yield attempts
    finally:
        for fn in reversed(blocked):
            _unblock(fn)
        attempts.extend(_ATTEMPTS[start:])
        del _ATTEMPTS[start:]


def call_blocked(
    student_fn: Callable[..., Any],
    *args: Any,
    block: Sequence[Any] | Any = (),
    **kwargs: Any,
) -> Any:
    """Call ``student_fn(*args, **kwargs)`` with the given references blocked.

    Parameters
    ----------
    student_fn : callable
        The student's answer.
    *args, **kwargs
        Passed to ``student_fn``.
    block : function or sequence of functions
        The ``lapenna_labs`` references that must not be used by the answer.

    Returns
    -------
    object
        Whatever ``student_fn`` returns.

    Raises
    ------
    ReferenceBlockedError
        If the answer called a blocked reference, even if it caught the error itself.

    Examples
    --------
    >>> def ref(x):
    ...     return x * 2
    >>> call_blocked(lambda x: x * 2, 3, block=ref)
    6
    """
    if not callable(student_fn):
        raise TypeError(f"call_blocked: the answer must be a function, got {type(student_fn)}")
    block_list = list(block) if isinstance(block, (list, tuple, set)) else [block]
    with reference_blocked(*block_list) as attempts:
        try:
            result = student_fn(*args, **kwargs)
        except ReferenceBlockedError:
            raise
    if attempts:
        raise ReferenceBlockedError(_blocked_message(attempts[0]))
    return result


# ---------------------------------------------------------------------------------------------
# Comparing answers


_TOLERANCES = {
    np.dtype(np.float16): (1e-2, 1e-3),
    np.dtype(np.float32): (1e-4, 1e-6),
    np.dtype(np.float64): (1e-6, 1e-9),
}


def default_tolerances(dtype: Any) -> tuple[float, float]:
    """``(rtol, atol)`` for comparing answers of a given dtype.

    Looser than the test suite's, because a correct answer may use another (still correct)
    formula than the reference: float32 ``(1e-4, 1e-6)``, float64 ``(1e-6, 1e-9)``;
    integers and Python numbers use the float64 values.
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


def _diagnose_values(
    got: np.ndarray,
    expected: np.ndarray,
    name: str,
    rtol: float,
    atol: float,
    common_mistakes: Mapping[str, Any] | None,
) -> str:
    """Why ``got`` is not close to ``expected``, in words, without their values."""
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    for description, wrong in (common_mistakes or {}).items():
        wrong_arr = np.asarray(wrong, dtype=np.float64)
        if wrong_arr.shape == g.shape and _close(g, wrong_arr, rtol, atol):
            return f"your values match a common mistake: {description}"
    if np.any(e != 0) and _close(g, -e, rtol, atol):
        return "wrong sign: your values are the negatives of the right ones"
    if g.ndim == 2 and g.shape[0] == g.shape[1] and g.shape[0] > 1 and _close(g, e.T, rtol, atol):
        return "your result is transposed"
    nonzero = np.abs(e) > atol
    if np.count_nonzero(nonzero) >= 1 and np.all((np.abs(g) > atol) == nonzero):
        factor = float(np.median(g[nonzero] / e[nonzero]))
        if factor != 0 and abs(factor) != 1.0 and _close(g, factor * e, rtol, atol):
            # Name the factor only when it is a simple fraction (2, 1/2, 3/4...): an arbitrary
            # factor together with the student's own values would reveal the expected ones.
            simple = _simple_fraction(factor)
            said = f"about {simple}" if simple else "a constant"
            return (
                f"off by a constant factor: every value is {said} times the right one "
                "(a missing or extra factor such as 2, 1/N or the learning rate?)"
            )
    if g.size > 1:
        offset = float(np.median(g - e))
        if abs(offset) > atol and _close(g - offset, e, rtol, atol):
            return "off by a constant: every value is shifted by the same amount (a missing term?)"
    bad = ~np.isclose(g, e, rtol=rtol, atol=atol)
    n_bad = int(np.count_nonzero(bad))
    denom = np.maximum(np.abs(e), atol)
    max_rel = float(np.max(np.abs(g - e)[bad] / denom[bad])) if n_bad else 0.0
    # Only the order of magnitude: an exact relative error would reveal the expected value.
    magnitude = f"1e{math.floor(math.log10(max_rel)):+d}" if max_rel > 0 else "0"
    where = ""
    if g.ndim >= 1:
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f", the first at index {first if len(first) > 1 else first[0]}"
    return (
        f"wrong values: {n_bad} of {g.size} entries are off (largest relative error of the "
        f"order of {magnitude}){where}"
    )


def _simple_fraction(x: float) -> str | None:
    """``x`` as ``"p/q"`` (or ``"p"``) with small p, q if it is within 1e-3 of one, else None."""
    for q in range(1, 11):
        p = round(x * q)
        if p != 0 and abs(p) <= 20 and math.isclose(x, p / q, rel_tol=1e-3):
            return f"{p}" if q == 1 else f"{p}/{q}"
    return None


def check_close(
    got: Any,
    expected: Any,
    *,
    name: str,
    rtol: float | None = None,
    atol: float | None = None,
    check_dtype: bool = True,
    common_mistakes: Mapping[str, Any] | None = None,
) -> None:
    """Assert that an answer is close to the expected one, and say precisely how it is not.

    Parameters
    ----------
    got : array_like, number, or tuple/list of them
        The student's answer.
    expected : array_like, number, or tuple/list of them
        The right answer (computed by the hidden test; never printed).
    name : str
        What is being checked, used as the start of the message (``"sigmoid_grad"``).
    rtol, atol : float, optional
        Tolerances; by default from :func:`default_tolerances` for ``expected``'s dtype.
    check_dtype : bool, default True
        Whether a floating answer must have the expected floating dtype (float32 in,
        float32 out).
    common_mistakes : mapping of str to array_like, optional
        Known wrong answers, e.g. ``{"the function itself, not its derivative": sigmoid(z)}``;
        if the answer matches one, the message names it.

    Raises
    ------
    AssertionError
        ``"<name>: <diagnosis>"``: returned None / not an array / wrong length of a tuple /
        wrong shape / transposed / wrong dtype / NaN or infinity / a known mistake / wrong
        sign / off by a constant factor / off by a constant / how many entries are off. The
        message contains shapes, dtypes, counts and error sizes, never the expected values.

    Examples
    --------
    >>> import numpy as np
    >>> try:
    ...     check_close(np.array([-1.0, -2.0]), np.array([1.0, 2.0]), name="f")
    ... except AssertionError as err:
    ...     print(err)
    f: wrong sign: your values are the negatives of the right ones
    """
    if isinstance(expected, (tuple, list)) and not _is_number_sequence(expected):
        if got is None:
            _fail(name, "returned None; did you forget the `return` statement?")
        if not isinstance(got, (tuple, list)):
            _fail(name, f"should return a tuple of {len(expected)} items, got {type(got).__name__}")
        if len(got) != len(expected):
            _fail(name, f"should return {len(expected)} items, got {len(got)}")
        for i, (g_item, e_item) in enumerate(zip(got, expected, strict=True)):
            check_close(
                g_item,
                e_item,
                name=f"{name} (item {i} of the result)",
                rtol=rtol,
                atol=atol,
                check_dtype=check_dtype,
            )
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
    _fail(name, _diagnose_values(got_arr, exp, name, rtol, atol, common_mistakes))


def _is_number_sequence(value: Sequence[Any]) -> bool:
    """True for a list/tuple of plain numbers (one array), False for a tuple of results."""
    return all(isinstance(v, (int, float, np.number)) for v in value)


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


# ---------------------------------------------------------------------------------------------
# Where the lab runs


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
