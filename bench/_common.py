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
import time
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


# ------------------------------------------------------------------------------ shared trainers
#
# bench_mlp and bench_cnn race the same three kinds of trainer on different networks; what
# follows is the part that does not depend on the network, so that both scripts time the very
# same loop (a fix to one cannot silently leave the other behind).


class LapennaTrainer:
    """lapenna's own ``fit`` for one epoch at a time, from given initial weights.

    ``net`` is any lapenna network with ``params`` and ``fit``; its weights are overwritten
    with ``params`` so that every contestant starts from the same point. Each epoch gets a
    new shuffle seed (1, 2, ...), as the torch and Keras trainers do.
    """

    name = "lapenna"

    def __init__(self, net: Any, params: dict[str, Any], lr: float) -> None:
        from lapenna_labs.optim import SGD

        self.net = net
        for k, v in params.items():
            self.net.params[k][...] = v
        self.opt = SGD(lr=lr)
        self.calls = 0

    def epoch(self, X, y, batch_size: int, shuffle: bool = True) -> tuple[float, float]:
        """One epoch over ``X`` (N, ...) and ``y`` (N,): (mean loss, accuracy)."""
        self.calls += 1
        h = self.net.fit(
            X,
            y,
            epochs=1,
            batch_size=batch_size,
            optimizer=self.opt,
            seed=self.calls,
            progress=False,
            shuffle=shuffle,
        )
        return h["loss"][-1], h["accuracy"][-1]

    def weights(self) -> dict[str, Any]:
        return {k: v.copy() for k, v in self.net.params.items()}


def torch_sgd(trainer: Any, lr: float) -> None:
    """Give a torch trainer (with ``torch`` and ``model`` set) its loss, SGD and shuffle RNG.

    The generator is seeded once, so successive epochs draw different but reproducible
    orders; ``_data`` caches the tensors that share ``X``'s memory (see `torch_epoch`).
    """
    torch = trainer.torch
    trainer.loss_fn = torch.nn.CrossEntropyLoss()
    trainer.opt = torch.optim.SGD(trainer.model.parameters(), lr=lr)
    trainer.gen = torch.Generator().manual_seed(1)
    trainer._data = None


def torch_epoch(trainer: Any, X, y, batch_size: int, shuffle: bool = True) -> tuple[float, float]:
    """One plain PyTorch epoch (the loop a PyTorch user writes): (mean loss, accuracy).

    ``X`` (N, ...) float32 and ``y`` (N,) int64 are NumPy arrays; they are wrapped with
    ``torch.from_numpy`` (no copy) once and reused while the same ``X`` comes back, so the
    timed epoch holds no conversion. Loss and hits are summed as tensors, so there is no
    host sync per batch that a real training loop would not have either.
    """
    torch = trainer.torch
    if trainer._data is None or trainer._data[0] is not X:
        trainer._data = (X, torch.from_numpy(X), torch.from_numpy(y))  # shares the memory
    _, Xt, yt = trainer._data
    n = Xt.shape[0]
    order = torch.randperm(n, generator=trainer.gen) if shuffle else torch.arange(n)
    model, loss_fn, opt = trainer.model, trainer.loss_fn, trainer.opt
    total_loss = torch.zeros((), dtype=torch.float64)
    hits = torch.zeros((), dtype=torch.int64)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        x, t = Xt[idx], yt[idx]
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = loss_fn(logits, t)
        loss.backward()
        opt.step()
        with torch.no_grad():
            total_loss += loss.detach() * x.shape[0]
            hits += (logits.argmax(dim=1) == t).sum()
    return float(total_loss) / n, int(hits) / n


def keras_epoch_clock(keras: Any, trainer: Any) -> Any:
    """A Keras callback that stores the epoch's own seconds in ``trainer.inner_seconds``.

    ``model.fit`` spends time on set-up (data adapter, callbacks, history) outside the epoch;
    the scripts report both, so that Keras is not blamed for its wrapper alone.
    """

    class EpochClock(keras.callbacks.Callback):
        """The epoch alone, without fit's set-up (data adapter, callbacks, history)."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            trainer.inner_seconds = time.perf_counter() - self.t0

    return EpochClock()


def keras_epoch(trainer: Any, X, y, batch_size: int, shuffle: bool = True) -> tuple[float, float]:
    """One ``model.fit`` epoch, seeded 1, 2, ... per call: (mean loss, accuracy).

    ``trainer`` has ``keras``, ``model``, ``calls`` and ``clock`` (see `keras_epoch_clock`).
    """
    trainer.calls += 1
    trainer.keras.utils.set_random_seed(trainer.calls)
    h = trainer.model.fit(
        X,
        y,
        epochs=1,
        batch_size=batch_size,
        shuffle=shuffle,
        verbose=0,
        callbacks=[trainer.clock],
    )
    return float(h.history["loss"][-1]), float(h.history["accuracy"][-1])


def run_and_write(args: Any, run: Any, print_table: Any) -> dict[str, Any]:
    """Every script's ``main``: run, print the table, write ``args.out``, say where.

    The ``wrote <path>`` line is what tests and ``make bench`` read to find the file.
    """
    payload = run(args)
    print_table(payload)
    print(f"wrote {write_json(args.out, payload)}")
    return payload


def epoch_seconds(seconds: Sequence[float]) -> dict[str, Any]:
    """The JSON fields of one contestant's epoch times (s): median, min, max and every round.

    The median is the figure reported (robust to one noisy round); min and max show the spread.
    """
    return {
        "seconds_per_epoch_median": median(seconds),
        "seconds_per_epoch_min": min(seconds),
        "seconds_per_epoch_max": max(seconds),
        "seconds": list(seconds),
    }


def tiled_data(source: str, distinct: int, samples: int) -> dict[str, Any]:
    """The JSON ``data`` block of an epoch benchmark: where the images came from, and how many.

    The offline subset is smaller than an epoch, so it is repeated; a reader must see that the
    epoch holds ``distinct`` different images, not ``samples``.
    """
    return {
        "source": source,
        "distinct_samples": distinct,
        "samples_per_epoch": samples,
        "note": "the offline subset tiled to the epoch size",
    }
