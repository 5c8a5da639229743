"""Recorded measurements: figures the book cannot recompute when it is built, with provenance.

The book recomputes every number it can on the machine that builds it. GPU figures are the
exception: the machine that builds the book has no GPU, so the chapters show figures that
were measured once, elsewhere. Each lives here as data, in a JSON file per measuring session
beside this module, together with everything known about how it was made:

* :func:`recorded_runs`: the measurements of every session, filtered by quantity, session or
  parameters (a list of :class:`Measurement`);
* :func:`recorded_run`: exactly one of them (``ValueError`` for none or several);
* :func:`load_session`: one session file, validated (what a benchmark that writes a new file
  checks it with).

A session file holds the fields its measurements share (``device``, ``date``, ``software``,
``method``, ``statistic``, ``remeasure``, ``source``, ``device_notes``; optionally the
``peak_key`` of :data:`lapenna_labs.blas.PEAK_GFLOPS`) and a list ``measurements``; a
measurement may override any of the shared fields (a CPU run of a GPU session names its own
device). What was not recorded is written ``"not recorded"``, never guessed.

Examples
--------
>>> gemm = recorded_run("gemm", session="h100-2026-11-25", n=8192, dtype="float64")
>>> gemm.values["gflops"], gemm.device, gemm.statistic
(57000.0, 'NVIDIA H100 80GB', 'mean per call (the time of the 10 calls over 10)')
>>> len(recorded_runs("gemm", session="h100-2026-11-25", n=8192))
4
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA", "VALUE_UNITS", "Measurement", "load_session", "recorded_run", "recorded_runs"]

#: The version of the session-file format this module reads.
SCHEMA = 1

#: The results a measurement may hold, and their units.
VALUE_UNITS = {"gflops": "GFLOP/s", "bandwidth_gbs": "GB/s", "seconds": "s"}

# Fields of a session that its measurements share and may override; each is a string except
# ``software``, a mapping from a component ("torch", "cuda", ...) to its version.
_SHARED = (
    "device",
    "date",
    "software",
    "method",
    "statistic",
    "remeasure",
    "source",
    "device_notes",
)
_REQUIRED_SESSION = ("schema", "session", "measurements", *_SHARED[:5])
_REQUIRED_MEASUREMENT = ("id", "quantity", "params", "values")


@dataclass(frozen=True)
class Measurement:
    """One recorded measurement and how it was made.

    Attributes
    ----------
    session : str
        The measuring session (one JSON file), e.g. ``"h100-2026-11-25"``.
    id : str
        Unique within the session, e.g. ``"gemm-float64-8192"``.
    quantity : str
        What was measured: ``"gemm"``, ``"gemm_naive"`` (the slides' unsynchronised timing),
        ``"axpy"``, ``"gemv"``, ``"mlp_epoch"``, ...
    params : dict
        The problem: ``n``, ``dtype``, ``batch``, ``framework``, ...
    values : dict of str to float
        The results, named as in :data:`VALUE_UNITS` (``gflops``, ``bandwidth_gbs``,
        ``seconds``).
    device : str
        What it ran on.
    date : str
        ISO date of the session.
    software : dict of str to str
        Versions of the software involved (``"not recorded"`` where unknown).
    method : str
        How it was timed.
    statistic : str
        Which statistic ``values`` are: ``"median of 10 calls"``, ``"one call"``, ...
    remeasure : str
        Why it should be measured again (empty when it need not be).
    source : str
        Who measured it, where.
    device_notes : str
        What is known about the device beyond its name (the variant, how it was inferred).
    notes : str
        Anything else a reader needs.
    peak_key : str or None
        The key of :data:`lapenna_labs.blas.PEAK_GFLOPS` for the device, if it has one.
    """

    session: str
    id: str
    quantity: str
    params: dict[str, Any]
    values: dict[str, float]
    device: str
    date: str
    software: dict[str, str] = field(repr=False)
    method: str = field(repr=False)
    statistic: str = field(repr=False)
    remeasure: str = field(default="", repr=False)
    source: str = field(default="", repr=False)
    device_notes: str = field(default="", repr=False)
    notes: str = field(default="", repr=False)
    peak_key: str | None = field(default=None, repr=False)

    @property
    def provenance(self) -> str:
        """Device, date, software, method and statistic in one line, as a page prints them.

        Examples
        --------
        >>> run = recorded_run("gemm", session="h100-2026-11-25", n=8192, dtype="tf32")
        >>> print(run.provenance)  # doctest: +NORMALIZE_WHITESPACE
        NVIDIA H100 80GB, 2026-11-25; torch not recorded (a CUDA build of PyTorch), cuda not
        recorded, driver not recorded, python not recorded; CUDA events around 10
        back-to-back calls after 3 warm-ups; mean per call (the time of the 10 calls over 10)
        """
        software = ", ".join(f"{name} {version}" for name, version in self.software.items())
        return f"{self.device}, {self.date}; {software}; {self.method}; {self.statistic}"

    def as_record(self) -> dict[str, Any]:
        """A flat dict (for ``pandas.DataFrame``): id, quantity, params, values, provenance."""
        return {
            "session": self.session,
            "id": self.id,
            "quantity": self.quantity,
            **self.params,
            **self.values,
            "device": self.device,
            "date": self.date,
            "statistic": self.statistic,
            "to re-measure": bool(self.remeasure),
        }


def _fail(where: str, problem: str) -> ValueError:
    return ValueError(f"load_session: {where}: {problem}")


def _text(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"{name} must be a string, got {value!r}")
    return value


def _software(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise _fail(where, "software must be a non-empty mapping of component to version")
    return {
        _text(k, where, "a software name"): _text(v, where, f"software {k!r}")
        for k, v in value.items()
    }


def _measurement(entry: Any, session: dict[str, Any], where: str) -> Measurement:
    if not isinstance(entry, dict):
        raise _fail(where, f"a measurement must be a mapping, got {entry!r}")
    missing = [key for key in _REQUIRED_MEASUREMENT if key not in entry]
    if missing:
        raise _fail(where, f"measurement {entry.get('id', '?')!r} lacks {missing}")
    where = f"{where}, {entry['id']!r}"
    unknown = set(entry) - {*_REQUIRED_MEASUREMENT, *_SHARED, "notes"}
    if unknown:
        raise _fail(where, f"unknown fields {sorted(unknown)}")
    if not isinstance(entry["params"], dict):
        raise _fail(where, "params must be a mapping")
    values = entry["values"]
    if not isinstance(values, dict) or not values or set(values) - set(VALUE_UNITS):
        raise _fail(where, f"values must be a non-empty mapping with keys from {list(VALUE_UNITS)}")
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise _fail(where, f"value {name!r} must be a positive number, got {value!r}")
    shared = {key: entry.get(key, session.get(key, "")) for key in _SHARED}
    return Measurement(
        session=session["session"],
        id=_text(entry["id"], where, "id"),
        quantity=_text(entry["quantity"], where, "quantity"),
        params=dict(entry["params"]),
        values={name: float(value) for name, value in values.items()},
        software=_software(shared.pop("software"), where),
        **{key: _text(value, where, key) for key, value in shared.items()},
        notes=_text(entry.get("notes", ""), where, "notes"),
        peak_key=session.get("peak_key"),
    )


def load_session(path: str | Path) -> list[Measurement]:
    """The measurements of one session file, checked field by field.

    Parameters
    ----------
    path : str or Path
        A JSON file in the format of this package's own (see the module docstring).

    Returns
    -------
    list of Measurement
        In the file's order; shared fields filled in where a measurement does not override
        them.

    Raises
    ------
    ValueError
        Naming the file, the measurement and the problem: a missing field, an unknown
        schema, a duplicate id, a value that is not a positive number.
    """
    path = Path(path)
    where = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise _fail(where, f"cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _fail(where, "the file must hold one JSON object")
    missing = [key for key in _REQUIRED_SESSION if key not in data]
    if missing:
        raise _fail(where, f"the session lacks {missing}")
    if data["schema"] != SCHEMA:
        raise _fail(where, f"schema {data['schema']!r} is not the supported {SCHEMA}")
    _text(data["session"], where, "session")
    if not isinstance(data["measurements"], list) or not data["measurements"]:
        raise _fail(where, "measurements must be a non-empty list")
    runs = [_measurement(entry, data, where) for entry in data["measurements"]]
    ids = [run.id for run in runs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise _fail(where, f"duplicate ids {duplicates}")
    return runs


@functools.cache
def _all_runs() -> tuple[Measurement, ...]:
    """Every session file shipped with the package, loaded once."""
    folder = resources.files(__name__)
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")), key=lambda f: f.name)
    runs: list[Measurement] = []
    for file in files:
        with resources.as_file(file) as path:
            runs += load_session(path)
    return tuple(runs)


def recorded_runs(
    quantity: str | None = None, *, session: str | None = None, **params: Any
) -> list[Measurement]:
    """The recorded measurements, optionally only those of a quantity, session or parameters.

    Parameters
    ----------
    quantity : str, optional
        ``"gemm"``, ``"gemm_naive"``, ``"axpy"``, ``"gemv"``, ``"mlp_epoch"``, ...
    session : str, optional
        e.g. ``"h100-2026-11-25"``.
    **params
        Keep the measurements whose ``params`` have these values (``n=8192``,
        ``dtype="float64"``, ``batch=10``).

    Returns
    -------
    list of Measurement
        Sessions in file-name order, measurements in file order.

    Examples
    --------
    >>> [run.params["framework"] for run in recorded_runs("mlp_epoch", batch=10)]
    ['flat NumPy loop', 'PyTorch on the CPU, 1 thread', 'PyTorch on the GPU']
    """
    return [
        run
        for run in _all_runs()
        if (quantity is None or run.quantity == quantity)
        and (session is None or run.session == session)
        and all(run.params.get(key) == value for key, value in params.items())
    ]


def recorded_run(quantity: str, *, session: str | None = None, **params: Any) -> Measurement:
    """The one recorded measurement of ``quantity`` with these parameters.

    Raises
    ------
    ValueError
        When none or more than one measurement matches (say which session, or more
        parameters).

    Examples
    --------
    >>> recorded_run("gemm_naive", n=6000).values["gflops"]
    878000.0
    """
    found = recorded_runs(quantity, session=session, **params)
    if len(found) != 1:
        asked = ", ".join([repr(quantity), *(f"{k}={v!r}" for k, v in params.items())])
        if session is not None:
            asked += f", session={session!r}"
        which = "none" if not found else ", ".join(f"{r.session}/{r.id}" for r in found)
        raise ValueError(f"recorded_run: {len(found)} measurements match {asked} ({which})")
    return found[0]
