"""Figures the book and the labs draw: GFLOP/s against N, a roofline, training curves.

Every function takes an optional matplotlib ``ax`` to draw into and returns the
:class:`~matplotlib.figure.Figure`, so a notebook cell can show it and a test can inspect it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .blas import attainable_gflops

__all__ = ["plot_gflops", "plot_roofline", "plot_training_history"]


def _records_list(records: Any, func: str) -> list[dict[str, Any]]:
    if hasattr(records, "to_dict"):  # a pandas DataFrame
        records = records.to_dict("records")
    records = list(records)
    if not records:
        raise ValueError(f"{func}: records is empty")
    for key in ("n", "gflops"):
        if any(key not in r for r in records):
            raise ValueError(f"{func}: every record needs the key {key!r} (see gemm_sweep)")
    return records


def _new_axes(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.2)) -> tuple[Figure, Axes]:
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def plot_gflops(
    records: Iterable[Mapping[str, Any]],
    ax: Axes | None = None,
    *,
    peaks: Mapping[str, float] | None = None,
    logy: bool | None = None,
    title: str | None = "Matrix product C = A B: measured rate",
) -> Figure:
    """GFLOP/s against matrix size N, one line per (precision, device, backend).

    Parameters
    ----------
    records : iterable of dict, or pandas.DataFrame
        As :func:`lapenna_labs.blas.gemm_sweep` returns them: keys ``n`` and ``gflops``, and
        optionally ``dtype``, ``device``, ``device_name``, ``backend`` (grouping) and
        ``median_s``, ``iqr_s``, ``flops`` (error bars spanning the interquartile range).
    ax : matplotlib Axes, optional
        Draw here; default a new figure.
    peaks : dict of str to float, optional
        Horizontal dashed lines, e.g. ``{"CPU FP64 peak (est.)": 83.1}``.
    logy : bool, optional
        Logarithmic rate axis; default: when the rates span more than a factor 30
        (CPU and GPU on one plot).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    func = "plot_gflops"
    records = _records_list(records, func)
    fig, ax = _new_axes(ax)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        key = (
            str(r.get("dtype", "")),
            str(r.get("device_name") or r.get("device", "")),
            str(r.get("backend", "")),
        )
        groups.setdefault(key, []).append(r)
    for (dtype, device, backend), rows in groups.items():
        rows = sorted(rows, key=lambda r: r["n"])
        n = np.array([r["n"] for r in rows], dtype=float)
        rate = np.array([r["gflops"] for r in rows], dtype=float)
        label = ", ".join(part for part in (dtype, device) if part)
        if backend:
            label += f" [{backend}]"
        if all(("iqr_s" in r and "median_s" in r and r.get("flops")) for r in rows):
            med = np.array([r["median_s"] for r in rows])
            half = np.array([r["iqr_s"] for r in rows]) / 2
            flops = np.array([r["flops"] for r in rows], dtype=float)
            low = flops / (med + half) / 1e9
            fast = med - half  # the fastest quartile's time; may be <= 0 for wild repeats
            high = rate.copy()
            high[fast > 0] = flops[fast > 0] / fast[fast > 0] / 1e9
            yerr = np.vstack([np.maximum(rate - low, 0), np.maximum(high - rate, 0)])
            ax.errorbar(n, rate, yerr=yerr, marker="o", capsize=3, label=label)
        else:
            ax.plot(n, rate, marker="o", label=label)
    for name, value in (peaks or {}).items():
        ax.axhline(value, linestyle="--", linewidth=1, color="gray")
        ax.annotate(
            name,
            (0.01, value),
            xycoords=("axes fraction", "data"),
            va="bottom",
            fontsize=8,
            color="dimgray",
        )
    rates = [r["gflops"] for r in records if r["gflops"]] + list((peaks or {}).values())
    if logy is None:
        logy = bool(rates) and max(rates) / max(min(rates), 1e-12) > 30
    if logy:
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0, top=max(rates) * 1.12 if rates else None)
    ax.set_xlabel("matrix size N (A, B, C are N x N)")
    ax.set_ylabel("GFLOP/s  (2 N³ / median time)")
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _as_points(points: Any, func: str) -> list[tuple[str, float, float]]:
    out = []
    for p in points or ():
        if isinstance(p, Mapping):
            try:
                out.append((str(p.get("label", "")), float(p["intensity"]), float(p["gflops"])))
            except KeyError as exc:
                raise ValueError(
                    f"{func}: each point needs 'intensity' and 'gflops' ({exc})"
                ) from None
        else:
            if len(p) != 3:
                raise ValueError(f"{func}: a point is (label, intensity, gflops), got {p!r}")
            out.append((str(p[0]), float(p[1]), float(p[2])))
    for label, intensity, rate in out:
        if not (intensity > 0 and rate > 0 and np.isfinite(intensity) and np.isfinite(rate)):
            raise ValueError(
                f"{func}: point {label!r} needs positive finite intensity and gflops "
                "(the axes are logarithmic)"
            )
    return out


def plot_roofline(
    peak_gflops: float | Mapping[str, float],
    bandwidth_gbs: float,
    points: Iterable[Any] | None = None,
    ax: Axes | None = None,
    *,
    intensity_range: tuple[float, float] | None = None,
    title: str | None = "Roofline",
) -> Figure:
    """A roofline: attainable GFLOP/s against computational intensity, with measured points.

    Parameters
    ----------
    peak_gflops : float or dict of str to float
        One compute ceiling, or several by name (``{"FP64": 34_000, "FP64 tensor": 67_000}``).
    bandwidth_gbs : float
        Memory bandwidth in GB/s; the slanted roof is ``bandwidth x intensity``.
    points : iterable, optional
        Measured kernels, each a dict with ``intensity`` (flop/byte), ``gflops`` and
        ``label``, or a tuple ``(label, intensity, gflops)``.
    ax : matplotlib Axes, optional
    intensity_range : (float, float), optional
        The x range in flop/byte; default covers the points and the ridge points.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Attainable performance is ``min(peak, bandwidth x I)`` [1]_. A kernel left of the ridge
    point ``I* = peak / bandwidth`` is memory bound (AXPY, GEMV), right of it compute bound
    (large GEMM).

    References
    ----------
    .. [1] S. Williams, A. Waterman, D. Patterson, "Roofline: an insightful visual
       performance model for multicore architectures", Commun. ACM 52(4), 2009.
    """
    func = "plot_roofline"
    ceilings = (
        dict(peak_gflops) if isinstance(peak_gflops, Mapping) else {"peak": float(peak_gflops)}
    )
    if not ceilings or any(not (v > 0) for v in ceilings.values()):
        raise ValueError(f"{func}: peak_gflops must be positive, got {peak_gflops!r}")
    if not bandwidth_gbs > 0:
        raise ValueError(f"{func}: bandwidth_gbs must be positive, got {bandwidth_gbs!r}")
    pts = _as_points(points, func)
    ridges = [v / bandwidth_gbs for v in ceilings.values()]
    if intensity_range is None:
        xs = ridges + [p[1] for p in pts]
        intensity_range = (min(xs) / 20, max(xs) * 20)
    lo, hi = intensity_range
    if not (0 < lo < hi):
        raise ValueError(f"{func}: intensity_range must be 0 < low < high, got {intensity_range}")
    fig, ax = _new_axes(ax, figsize=(6.8, 4.6))
    x = np.geomspace(lo, hi, 400)
    top = max(ceilings.values())
    ax.plot(
        x,
        attainable_gflops(x, top, bandwidth_gbs),
        color="black",
        linewidth=2,
        label=f"roof: memory {bandwidth_gbs:,.0f} GB/s",
    )
    for (name, value), ridge in sorted(zip(ceilings.items(), ridges, strict=True)):
        ax.plot(
            x[x >= ridge],
            np.full((x >= ridge).sum(), value),
            linestyle="-" if value == top else "--",
            linewidth=1.5,
            label=f"{name}: {value:,.0f} GFLOP/s (ridge {ridge:.3g} flop/B)",
        )
        ax.axvline(ridge, color="gray", linestyle=":", linewidth=0.8)
    for label, intensity, rate in pts:
        ax.scatter([intensity], [rate], zorder=3, s=30)
        ax.annotate(
            label, (intensity, rate), textcoords="offset points", xytext=(5, -11), fontsize=8
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    rates = [p[2] for p in pts] + [bandwidth_gbs * lo]
    ax.set_ylim(min(rates) / 3, top * 3)
    ax.set_xlabel("computational intensity (flop / byte)")
    ax.set_ylabel("GFLOP/s")
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_training_history(
    history: Mapping[str, Sequence[float]],
    ax: Axes | Sequence[Axes] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Loss and accuracy per epoch, training and validation.

    Parameters
    ----------
    history : dict
        ``"loss"`` (required), and optionally ``"accuracy"``, ``"val_loss"``,
        ``"val_accuracy"``: one value per epoch, as :meth:`lapenna_labs.mlp.MLP.fit` and
        Keras' ``History.history`` return them.
    ax : Axes or pair of Axes, optional
        Default: a new figure with loss on the left and accuracy on the right. A pair draws
        into those; a single Axes draws the loss on it and the accuracy on a twin right axis.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    func = "plot_training_history"
    if not isinstance(history, Mapping) or "loss" not in history:
        raise ValueError(f"{func}: history must be a dict with at least a 'loss' list")
    series = {}
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        if key in history and history[key] is not None and len(history[key]):
            values = np.asarray(history[key], dtype=float)
            if values.ndim != 1:
                raise ValueError(f"{func}: history[{key!r}] must be a list of numbers")
            series[key] = values
    if "loss" not in series:
        raise ValueError(f"{func}: history['loss'] is empty")
    has_acc = "accuracy" in series or "val_accuracy" in series
    if ax is None:
        ncols = 2 if has_acc else 1
        fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols, 3.8), layout="constrained")
        loss_ax, acc_ax = (axes[0], axes[1]) if has_acc else (axes, None)
    elif isinstance(ax, Axes):
        fig, loss_ax = ax.figure, ax
        acc_ax = ax.twinx() if has_acc else None
    else:
        loss_ax, acc_ax = ax
        fig = loss_ax.figure
    styles = {"loss": "-", "val_loss": "--", "accuracy": "-", "val_accuracy": "--"}
    names = {
        "loss": "training loss",
        "val_loss": "validation loss",
        "accuracy": "training accuracy",
        "val_accuracy": "validation accuracy",
    }
    for key in ("loss", "val_loss"):
        if key in series:
            epochs = np.arange(1, len(series[key]) + 1)
            loss_ax.plot(epochs, series[key], styles[key], marker="o", ms=3, label=names[key])
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.grid(True, alpha=0.3)
    if acc_ax is not None:
        same = acc_ax is not loss_ax and isinstance(ax, Axes)
        for key in ("accuracy", "val_accuracy"):
            if key in series:
                epochs = np.arange(1, len(series[key]) + 1)
                acc_ax.plot(
                    epochs,
                    series[key],
                    styles[key],
                    marker="s",
                    ms=3,
                    color="tab:green" if same else None,
                    label=names[key],
                )
        acc_ax.set_xlabel("epoch")
        acc_ax.set_ylabel("accuracy")
        if not same:
            acc_ax.grid(True, alpha=0.3)
            acc_ax.legend(fontsize=8, loc="lower right")
    if acc_ax is not None and same:
        # One legend above the axes: inside, it would hide curves of one axis or the other.
        handles, labels = loss_ax.get_legend_handles_labels()
        more_handles, more_labels = acc_ax.get_legend_handles_labels()
        loss_ax.legend(
            handles + more_handles,
            labels + more_labels,
            fontsize=8,
            ncol=2,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            frameon=False,
        )
    else:
        loss_ax.legend(fontsize=8, loc="upper right")
    for a in (loss_ax, acc_ax):
        if a is not None:
            a.xaxis.get_major_locator().set_params(integer=True)
    if title:
        fig.suptitle(title)
    return fig
