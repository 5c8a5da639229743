"""What every benchmark script shares: the machine description, the load, and the JSON file.

Each script in ``bench/`` imports this module (it runs as ``python bench/<script>.py``, so
``bench/`` is on ``sys.path``), prints a table, and writes one JSON file under
``bench/results/`` holding the figures, the machine they were measured on, the load of the
machine before and after, and the command that reproduces them.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"

# TensorFlow's C++ start-up lines would otherwise land in every table.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def limit_threads_env(threads: int) -> None:
    """Set the usual thread-count variables (read by BLAS/OpenMP libraries when they load).

    Must run before NumPy, PyTorch or TensorFlow is imported; threadpoolctl is used on top
    of this where available, because the variables are ignored once a library has started.
    """
    for var in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "BLIS_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMEXPR_NUM_THREADS",
    ):
        os.environ[var] = str(threads)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> dict[str, Any]:
    """The load averages (1, 5, 15 min) and the ``uptime`` line, to judge how quiet it was."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        one = five = fifteen = math.nan
    try:
        line = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        line = ""
    return {"loadavg_1m": one, "loadavg_5m": five, "loadavg_15m": fifteen, "uptime": line}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def blas_info() -> list[dict[str, Any]]:
    """The BLAS / OpenMP libraries loaded in this process (threadpoolctl), else NumPy's config."""
    import numpy  # noqa: F401  (loads NumPy's BLAS, so that it is listed)

    try:
        from threadpoolctl import threadpool_info

        return [
            {
                k: info.get(k)
                for k in (
                    "user_api",
                    "internal_api",
                    "prefix",
                    "version",
                    "num_threads",
                    "architecture",
                    "threading_layer",
                    "filepath",
                )
                if info.get(k) is not None
            }
            for info in threadpool_info()
        ]
    except ImportError:
        import numpy as np

        config = np.show_config(mode="dicts")
        return [{"numpy_show_config": config.get("Build Dependencies", config)}]


def git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """CPU model, cores, OS, Python and library versions, BLAS libraries (call after imports)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            name: _version(dist)
            for name, dist in (
                ("numpy", "numpy"),
                ("torch", "torch"),
                ("tensorflow", "tensorflow-cpu"),
                ("keras", "keras"),
                ("jupyter-book", "jupyter-book"),
                ("nbgrader", "nbgrader"),
                ("lapenna_labs", "lapenna_labs"),
            )
        },
        "blas": blas_info(),
        "git": git_revision(),
    }
    if info["versions"]["tensorflow"] is None:
        info["versions"]["tensorflow"] = _version("tensorflow")
    if extra:
        info.update(extra)
    return info


def command(argv: Sequence[str] | None = None) -> str:
    """The shell command that reproduces this run, from the repository root."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        script_text = str(script.relative_to(REPO))
    except ValueError:
        script_text = str(script)
    return shlex.join([".venv/bin/python", script_text, *argv[1:]])


def write_json(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (NaN/inf become null: the file stays strict JSON) and return the path."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if hasattr(value, "item") and callable(value.item):  # NumPy scalars
            return clean(value.item())
        return value

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(payload), indent=2, allow_nan=False) + "\n")
    return path


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A plain fixed-width table (also valid Markdown when pasted with pipes)."""
    cells = [[str(h) for h in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def print_load(payload: dict[str, Any]) -> None:
    """The machine's load around the run: a busy shared machine slows every contestant."""
    print(
        "load before/after:", payload["load_before"]["uptime"], "|", payload["load_after"]["uptime"]
    )


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
