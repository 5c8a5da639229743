"""Running an answer on fresh inputs and comparing it with the reference (the hidden tests' loop).

:func:`check_against_reference` is the loop every hidden test used to write by hand: for every
dtype and every case (a shape, a size, a set of options), draw fresh random inputs, compute the
expected value with the reference, call the answer with the part's forbidden calls blocked
(:func:`~lapenna_labs.grading.call_blocked`), and compare with
:func:`~lapenna_labs.grading.check_close`, whose message names the case and says how the answer
is wrong without revealing the expected value. :func:`normal_inputs` makes the usual inputs
(random normal arrays of the case's shape), :func:`arrays_and_options` arrays of several
shapes followed by plain options (a layer's input, weights and bias, then its stride),
:func:`random_like` a fresh version of a worked
example (:func:`random_examples`: one per case), and :class:`FakeClock` lets a test time a
timing function.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from lapenna_labs.grading.blocking import call_blocked
from lapenna_labs.grading.feedback import check_close

__all__ = [
    "FakeClock",
    "check_against_reference",
    "arrays_and_options",
    "normal_inputs",
    "random_examples",
    "random_like",
]


def _describe(case: Any, dtype: Any) -> str:
    parts = [] if case is None else [repr(case)]
    if dtype is not None:
        parts.append(np.dtype(dtype).name)
    return f" [{', '.join(parts)}]" if parts else ""


def _same(before: Any, after: Any) -> bool:
    """Whether two copies of arguments hold the same values (arrays compared exactly)."""
    if isinstance(before, np.ndarray):
        return isinstance(after, np.ndarray) and np.array_equal(before, after, equal_nan=True)
    if isinstance(before, (tuple, list)):
        return len(before) == len(after) and all(map(_same, before, after))
    if isinstance(before, dict):
        return before.keys() == after.keys() and all(_same(before[k], after[k]) for k in before)
    return True  # numbers, strings, functions: not modifiable in place


def check_against_reference(
    answer: Callable[..., Any],
    reference: Callable[..., Any],
    make_inputs: Callable[[np.random.Generator, Any, Any], Any],
    *,
    name: str,
    cases: Iterable[Any] = (None,),
    dtypes: Iterable[Any] = (np.float32, np.float64),
    block: Any = (),
    graded_elsewhere: Any = (),
    allow: Any = (),
    seed: int = 0,
    view: Callable[[Any], Any] | None = None,
    unchanged: bool = False,
    compare: Callable[..., None] = check_close,
    **compare_options: Any,
) -> None:
    """Compare ``answer`` with ``reference`` on fresh random inputs, with the block on.

    Parameters
    ----------
    answer : callable
        The student's function.
    reference : callable
        Computes the expected value from the same arguments (often a ``lapenna_labs``
        function, or a lambda that adapts one to the answer's conventions). It runs before
        the answer, unblocked, on a deep copy of the arguments.
    make_inputs : callable
        ``make_inputs(rng, case, dtype)`` returns the arguments: a tuple of positional
        arguments, or a dict of keyword arguments.
    name : str
        What is checked; messages read ``"<name> [<case>, <dtype>]: <diagnosis>"``.
    cases : iterable, default (None,)
        The cases, each passed to ``make_inputs`` (shapes, sizes, option values).
    dtypes : iterable, default (float32, float64)
        The dtypes, each passed to ``make_inputs``; ``(None,)`` for answers without one.
    block, graded_elsewhere, allow
        Passed to :func:`~lapenna_labs.grading.call_blocked`: what the answer must not call,
        the earlier answers it may reuse (a blocked call inside one of them costs that part,
        not this one), and what it may call although ``block`` covers it.
    seed : int, default 0
        Seed of the generator that draws every input.
    view : callable, optional
        Applied to the answer's result before the comparison (``lambda r: r[0]`` to compare
        only the first item).
    unchanged : bool, default False
        Also fail if the answer modified one of its array arguments in place.
    compare : callable, default check_close
        ``compare(got, expected, name=..., **compare_options)``, raising AssertionError.
    **compare_options
        Passed to ``compare`` (``rtol``, ``atol``, ``factor_hint``...).

    Raises
    ------
    ReferenceBlockedError
        If the answer called something blocked (charged to this part).
    AssertionError
        At the first case where the answer differs from the reference.

    Examples
    --------
    >>> import numpy as np
    >>> def reference(x):
    ...     return np.maximum(x, 0)
    >>> def answer(x):
    ...     return x * (x > 0)
    >>> def make_inputs(rng, shape, dtype):
    ...     return (rng.normal(size=shape).astype(dtype),)
    >>> check_against_reference(
    ...     answer, reference, make_inputs, name="relu", cases=[(3,), (2, 4)], block=reference
    ... )
    >>> try:
    ...     check_against_reference(
    ...         lambda x: -answer(x), reference, make_inputs, name="relu", cases=[(3,)],
    ...         dtypes=(np.float64,),
    ...     )
    ... except AssertionError as err:
    ...     print(err)
    relu [(3,), float64]: wrong sign: your values are the negatives of the right ones

    Notes
    -----
    It returns nothing on purpose: nbgrader takes a number that a test cell's last line
    evaluates to for partial credit.
    """
    rng = np.random.default_rng(seed)
    cases = list(cases)
    for dtype in dtypes:
        for case in cases:
            inputs = make_inputs(rng, case, dtype)
            args, kwargs = ((), dict(inputs)) if isinstance(inputs, Mapping) else (inputs, {})
            args = tuple(args)
            expected = reference(*copy.deepcopy(args), **copy.deepcopy(kwargs))
            before = copy.deepcopy((args, kwargs)) if unchanged else None
            label = f"{name}{_describe(case, dtype)}"
            got = call_blocked(
                answer,
                *args,
                block=block,
                graded_elsewhere=graded_elsewhere,
                allow=allow,
                **kwargs,
            )
            if unchanged and not _same(before, (args, kwargs)):
                raise AssertionError(f"{label}: your function changed its input arrays in place")
            compare(got if view is None else view(got), expected, name=label, **compare_options)


def normal_inputs(
    count: int = 1, *, scale: float = 1.0, offset: float = 0.0
) -> Callable[[np.random.Generator, Any, Any], tuple[np.ndarray, ...]]:
    """``make_inputs`` for answers that take arrays: ``count`` normal arrays of the case's shape.

    Parameters
    ----------
    count : int, default 1
        How many arrays the answer takes.
    scale, offset : float, default 1, 0
        Each entry is ``offset + scale * N(0, 1)``, in the dtype of the comparison.

    Returns
    -------
    callable
        ``make_inputs(rng, shape, dtype)`` for :func:`check_against_reference`.

    Examples
    --------
    >>> import numpy as np
    >>> make = normal_inputs(2, scale=3.0)
    >>> [a.shape for a in make(np.random.default_rng(0), (2, 3), np.float32)]
    [(2, 3), (2, 3)]
    """

    def make_inputs(rng: np.random.Generator, shape: Any, dtype: Any) -> tuple[np.ndarray, ...]:
        return tuple(
            (offset + scale * rng.standard_normal(shape)).astype(dtype) for _ in range(count)
        )

    return make_inputs


def arrays_and_options(
    count: int, *, scale: float = 1.0
) -> Callable[[np.random.Generator, Any, Any], tuple[Any, ...]]:
    """``make_inputs`` for answers that take ``count`` arrays of different shapes, then options.

    Parameters
    ----------
    count : int
        How many arrays the answer takes first. Each case is a tuple whose first ``count``
        items are the arrays' shapes; the items after them (a stride, a padding...) are passed
        to the answer as they are.
    scale : float, default 1
        Each entry is ``scale * N(0, 1)``, in the dtype of the comparison.

    Returns
    -------
    callable
        ``make_inputs(rng, case, dtype)`` for :func:`check_against_reference`.

    Examples
    --------
    >>> import numpy as np
    >>> make = arrays_and_options(2)
    >>> x, w, stride = make(np.random.default_rng(0), ((2, 3, 5, 5), (4, 3, 3, 3), 2), np.float32)
    >>> x.shape, w.shape, w.dtype, stride
    ((2, 3, 5, 5), (4, 3, 3, 3), dtype('float32'), 2)
    """
    if count < 1:
        raise ValueError(f"arrays_and_options: count must be >= 1, got {count}")

    def make_inputs(rng: np.random.Generator, case: Any, dtype: Any) -> tuple[Any, ...]:
        case = tuple(case)
        if len(case) < count:
            raise ValueError(
                f"arrays_and_options({count}): the case {case!r} has fewer than {count} shapes"
            )
        arrays = tuple((scale * rng.standard_normal(shape)).astype(dtype) for shape in case[:count])
        return arrays + case[count:]

    return make_inputs


def random_like(
    example: Mapping[str, Any],
    rng: np.random.Generator,
    *,
    low: float = -1.0,
    high: float = 1.0,
    keys: Iterable[str] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """A fresh version of a worked example: every float drawn again, uniformly.

    Parameters
    ----------
    example : mapping
        A worked example as data (``lapenna_labs.examples.TWO_TWO_TWO``).
    rng : numpy.random.Generator
        Where the new values come from.
    low, high : float, default -1, 1
        The range of the new values.
    keys : iterable of str, optional
        Which entries to draw again (default: every entry that is a float).
    ranges : mapping of str to (float, float), optional
        Another range for some entries (``{"learning_rate": (0.1, 1.0)}``).

    Returns
    -------
    dict
        A copy of ``example`` with new values at ``keys``.

    Examples
    --------
    >>> import numpy as np
    >>> new = random_like({"w": 0.5, "label": 1}, np.random.default_rng(0))
    >>> new["label"], -1 <= new["w"] <= 1
    (1, True)
    """
    fresh = dict(example)
    chosen = [k for k, v in fresh.items() if isinstance(v, float)] if keys is None else keys
    for key in chosen:
        fresh[key] = float(rng.uniform(*(ranges or {}).get(key, (low, high))))
    return fresh


def random_examples(
    example: Mapping[str, Any],
    *,
    low: float = -1.0,
    high: float = 1.0,
    keys: Iterable[str] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> Callable[[np.random.Generator, Any, Any], tuple[dict[str, Any]]]:
    """``make_inputs`` for answers that take a worked example: a fresh one for every case.

    Parameters
    ----------
    example, low, high, keys, ranges
        As for :func:`random_like`.

    Returns
    -------
    callable
        ``make_inputs(rng, case, dtype)`` returning ``(random_like(example, rng, ...),)``.

    Examples
    --------
    >>> import numpy as np
    >>> make = random_examples({"w": 0.5})
    >>> (fresh,) = make(np.random.default_rng(0), None, None)
    >>> sorted(fresh)
    ['w']
    """

    def make_inputs(rng: np.random.Generator, case: Any, dtype: Any) -> tuple[dict[str, Any]]:
        return (random_like(example, rng, low=low, high=high, keys=keys, ranges=ranges),)

    return make_inputs


class FakeClock:
    """A clock for testing timing code: it moves only when the timed work runs.

    Pass the clock as the timing function's ``clock`` argument and :meth:`work` (or an object
    that calls it) as the work to time: the ``k``-th call of :meth:`work` advances the clock
    by ``durations[k]``, so the right answer (a median, a mean) is known exactly.

    Parameters
    ----------
    durations : iterable of float
        How long each call of the work takes, in order.

    Attributes
    ----------
    now : float
        The time the clock shows.
    calls : int
        How many times the work ran.

    Examples
    --------
    >>> clock = FakeClock([2.0, 5.0])
    >>> start = clock(); clock.work(); clock.work(); clock() - start, clock.calls
    (7.0, 2)
    """

    def __init__(self, durations: Iterable[float]) -> None:
        self.now = 0.0
        self.durations = list(durations)
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def work(self, *args: Any, **kwargs: Any) -> None:
        """Run the next piece of work: advance the clock by its duration."""
        self.now += self.durations[self.calls]
        self.calls += 1
