"""Figures the book and the labs draw: GFLOP/s against N, a roofline, training curves, graphs.

* :func:`plot_gflops`: GFLOP/s against matrix size, per precision and device (week 2);
* :func:`plot_async_timeline`: the CPU and the GPU over time, and what an unsynchronised
  timer measures (week 2);
* :func:`plot_roofline`: attainable GFLOP/s against intensity, with measured points (week 1);
* :func:`plot_memory_hierarchy`: registers to DRAM as a pyramid (week 1);
* :func:`plot_tiling`: the blocked product's grids of blocks, one block product marked (week 1);
* :func:`set_log_ticks`: one plain label per tick on a log axis (sizes of a sweep);
* :func:`plot_training_history`: loss and accuracy per epoch (week 4);
* :func:`draw_graph`: a :mod:`lapenna_labs.graph` computational graph with every node's value
  and gradient, laid out by :func:`graph_layout` (week 4).

Every function takes an optional matplotlib ``ax`` to draw into and returns the
:class:`~matplotlib.figure.Figure`, so a notebook cell can show it and a test can inspect it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Polygon, Rectangle
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from ._validation import check_positive_int, check_positive_number
from .blas import attainable_gflops
from .graph import OP_SYMBOLS, Value, as_rows, nodes

__all__ = [
    "draw_graph",
    "graph_layout",
    "plot_async_timeline",
    "plot_gflops",
    "plot_memory_hierarchy",
    "plot_roofline",
    "plot_tiling",
    "plot_training_history",
    "set_log_ticks",
]


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


# -- computational graphs -------------------------------------------------------------------
def _check_root(root: Any, func: str) -> Value:
    if not isinstance(root, Value):
        raise ValueError(f"{func}: root must be a Value, got {type(root).__name__}")
    return root


def graph_layout(root: Value) -> dict[int, tuple[float, float]]:
    """Left-to-right layered positions ``id(node) -> (x, y)`` for drawing the graph.

    Parameters
    ----------
    root : Value
        The output node.

    Returns
    -------
    dict of int to (float, float)
        ``x`` is the node's layer (inputs 0, each gate one more than its deepest input, the
        output last), ``y`` its row within the layer (0 at the top, going down).

    Notes
    -----
    Every node is then pulled right to sit just before the first gate that uses it, and each layer
    is ordered by the mean row of the nodes feeding it (the barycentre heuristic), which
    keeps edge crossings few for the small graphs of the course.
    """
    order = nodes(_check_root(root, "graph_layout"))
    layer: dict[int, int] = {}
    for node in order:
        layer[id(node)] = 1 + max((layer[id(c)] for c in node.children), default=-1)
    # "As late as possible": every node sits one layer before its first consumer, so inputs
    # and fan-out copies appear next to the gates that use them, not all at the far left.
    consumers: dict[int, list[Value]] = {id(n): [] for n in order}
    for node in order:
        for child in node.children:
            consumers[id(child)].append(node)
    for node in reversed(order):
        if consumers[id(node)]:
            layer[id(node)] = min(layer[id(p)] for p in consumers[id(node)]) - 1
    by_layer: dict[int, list[Value]] = {}
    for node in order:
        by_layer.setdefault(layer[id(node)], []).append(node)
    tallest = max(len(m) for m in by_layer.values())

    def centred(i: int, members: list[Value]) -> float:
        return i + (tallest - len(members)) / 2.0

    row = {id(n): centred(i, m) for m in by_layer.values() for i, n in enumerate(m)}

    def mean_row(group: list[Value], default: float) -> float:
        return sum(row[id(n)] for n in group) / len(group) if group else default

    # A few barycentre sweeps (Sugiyama): order each layer by the mean row of its neighbours,
    # left to right by inputs, then right to left by consumers.
    layers = sorted(by_layer)
    for _sweep in range(4):
        passes = [(k, True) for k in layers[1:]] + [(k, False) for k in layers[-2::-1]]
        for k, by_inputs in passes:
            members = by_layer[k]

            def key(n: Value, by_inputs: bool = by_inputs) -> float:
                first, second = list(n.children), consumers[id(n)]
                group = (first or second) if by_inputs else (second or first)
                return mean_row(group, row[id(n)])

            members.sort(key=key)
            for i, node in enumerate(members):
                row[id(node)] = centred(i, members)
    return {id(n): (float(layer[id(n)]), row[id(n)]) for n in order}


def draw_graph(
    root: Value, ax: Axes | None = None, *, digits: int = 2, title: str | None = None
) -> Figure:
    """Draw the computational graph with each node's value and gradient (matplotlib only).

    Parameters
    ----------
    root : Value
        The output node; call ``root.backward()`` first to show gradients.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure sized to the graph is made if omitted.
    digits : int, default 2
        Decimal places shown for values and gradients.
    title : str, optional
        A title for the axes.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (``ax.figure`` when ``ax`` is given).

    Notes
    -----
    The layout is layered left to right (:func:`graph_layout`): inputs on the left, the output on
    the right, an arrow from each gate's input to the gate. Each node is a box with its name
    and gate on top, its forward value in green and its gradient in red, the colours of the
    slides' "forward path (green), backward path (red)". Inputs are blue boxes, gates grey,
    the output gold.

    Examples
    --------
    >>> from lapenna_labs.graph import add_mul_example
    >>> fig = draw_graph(add_mul_example()["f"], title="f = (x + y) z")
    >>> len(fig.axes[0].patches)  # one box per node: x, y, q, z, f
    5
    >>> plt.close(fig)
    """
    order = nodes(_check_root(root, "draw_graph"))
    # as_rows lists the nodes in the same order, each with the name a table shows it by
    names = {id(node): row[0] for node, row in zip(order, as_rows(root), strict=True)}
    pos = graph_layout(root)
    n_layers = 1 + int(max(x for x, _ in pos.values()))
    n_rows = 1 + int(max(y for _, y in pos.values()))
    if ax is None:
        fig_w = max(4.0, 1.9 * n_layers + 0.6)
        fig_h = max(2.2, 1.15 * n_rows + 0.8)
        _, ax = plt.subplots(figsize=(fig_w, fig_h))

    x_gap, y_gap = 1.9, 1.15  # spacing in data units; boxes are 1.35 x 0.85
    box_w, box_h = 1.35, 0.85

    def xy(node: Value) -> tuple[float, float]:
        x, y = pos[id(node)]
        return x * x_gap, -y * y_gap

    for node in order:
        x, y = xy(node)
        if node is root:
            face, edge = "#fdf1c7", "#b8860b"
        elif not node.children:
            face, edge = "#dcebfa", "#3b6ea8"
        else:
            face, edge = "#eeeeee", "#666666"
        ax.add_patch(
            FancyBboxPatch(
                (x - box_w / 2, y - box_h / 2),
                box_w,
                box_h,
                boxstyle="round,pad=0.02,rounding_size=0.12",
                facecolor=face,
                edgecolor=edge,
                linewidth=1.2,
                zorder=2,
            )
        )
        name = names[id(node)]
        symbol = OP_SYMBOLS.get(node.op, node.op)
        plain = not node.op or not node.label or name == symbol
        head = name if plain else f"{name}  [{symbol}]"
        ax.text(x, y + 0.22, head, ha="center", va="center", fontsize=9, weight="bold", zorder=3)
        ax.text(
            x, y - 0.02, f"{node.data:.{digits}f}", ha="center", va="center",
            fontsize=9, color="#1a7f37", zorder=3,
        )  # fmt: skip
        ax.text(
            x, y - 0.24, f"\u2207 {node.grad:.{digits}f}", ha="center", va="center",
            fontsize=9, color="#c0392b", zorder=3,
        )  # fmt: skip

    for node in order:
        for child in node.children:
            (x0, y0), (x1, y1) = xy(child), xy(node)
            ax.annotate(
                "",
                xy=(x1 - box_w / 2, y1),
                xytext=(x0 + box_w / 2, y0),
                arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 1.0,
                            "shrinkA": 1, "shrinkB": 1},
                zorder=1,
            )  # fmt: skip

    ax.set_xlim(-box_w / 2 - 0.2, (n_layers - 1) * x_gap + box_w / 2 + 0.2)
    ax.set_ylim(-(n_rows - 1) * y_gap - box_h / 2 - 0.2, box_h / 2 + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return ax.figure


def set_log_ticks(ax: Axes, values: Sequence[float], *, axis: str = "x") -> Figure:
    """Put a logarithmic axis's ticks exactly at ``values``, each labelled once, plainly.

    Matplotlib labels the minor ticks of a log axis that spans less than a few decades
    (``2x10^1``, ``3x10^1`` ...), and the labels collide. This draws one labelled tick per
    value (block sizes, matrix sizes) and no minor ticks.

    Parameters
    ----------
    ax : matplotlib Axes
    values : sequence of float
        Positive tick positions, e.g. the block sizes of a sweep.
    axis : {"x", "y"}, default "x"

    Returns
    -------
    matplotlib.figure.Figure
        The figure of ``ax``.

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([16, 64, 256], [3, 2, 1])
    >>> _ = set_log_ticks(ax, [16, 64, 256])
    >>> [t.get_text() for t in ax.get_xticklabels()], len(ax.xaxis.get_minorticklocs())
    (['16', '64', '256'], 0)
    >>> plt.close(fig)
    """
    func = "set_log_ticks"
    if axis not in ("x", "y"):
        raise ValueError(f"{func}: axis must be 'x' or 'y', got {axis!r}")
    ticks = np.asarray(values, dtype=float)
    if ticks.ndim != 1 or ticks.size == 0 or not np.all(np.isfinite(ticks) & (ticks > 0)):
        raise ValueError(f"{func}: values must be a non-empty list of positive numbers")
    scaled = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    scaled.set_major_locator(FixedLocator(ticks))
    scaled.set_major_formatter(FixedFormatter([f"{v:g}" for v in ticks]))
    scaled.set_minor_locator(NullLocator())
    return ax.figure


def plot_tiling(
    num_blocks: int,
    block: tuple[int, int, int] = (1, 2, 0),
    ax: Axes | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """The blocked product ``C = A B`` as three grids of blocks, one block product marked.

    Parameters
    ----------
    num_blocks : int
        ``N``, blocks per side of each matrix (2 to 12 draw legibly).
    block : (int, int, int), default (1, 2, 0)
        ``(i, j, k)``, 0-based: the step ``C_ij += A_ik B_kj`` to mark. The block row ``i`` of
        ``A`` and block column ``j`` of ``B`` that ``C_ij`` needs are shaded lightly.
    ax : matplotlib Axes, optional
    title : str, optional
        Default: the marked step, 1-based as in the book's formula.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    The three marked blocks are what must sit in fast memory together, ``3 b**2`` words; the
    shaded row and column are the ``2 N b**2`` words fetched from slow memory to finish
    ``C_ij`` (see :func:`lapenna_labs.blas.blocked_matmul`).

    Examples
    --------
    >>> fig = plot_tiling(4, (1, 2, 0))
    >>> sum(p.get_facecolor()[:3] != (1, 1, 1) for p in fig.axes[0].patches)  # shaded blocks
    9
    >>> plt.close(fig)
    """
    func = "plot_tiling"
    num_blocks = check_positive_int(num_blocks, name="num_blocks", func=func)
    if len(block) != 3 or not all(isinstance(v, int) and 0 <= v < num_blocks for v in block):
        raise ValueError(
            f"{func}: block must be (i, j, k) with each in 0..{num_blocks - 1}, got {block!r}"
        )
    i, j, k = block
    fig, ax = _new_axes(ax, figsize=(9.0, 3.4))
    light, strong = "#cfe3f6", "#2f6fb0"
    gap = 1.0  # space between the grids, in blocks

    def grid(x0: float, name: str, shade: Callable[[int, int], str | None]) -> None:
        for row in range(num_blocks):
            for col in range(num_blocks):
                color = shade(row, col) or "white"
                # row 0 on top, as a matrix is printed
                ax.add_patch(
                    Rectangle(
                        (x0 + col, num_blocks - 1 - row), 1, 1,
                        facecolor=color, edgecolor="0.35", linewidth=0.8,
                    )
                )  # fmt: skip
        ax.text(x0 + num_blocks / 2, num_blocks + 0.35, name, ha="center", fontsize=12)

    def shade_c(row: int, col: int) -> str | None:
        return strong if (row, col) == (i, j) else None

    def shade_a(row: int, col: int) -> str | None:
        return strong if (row, col) == (i, k) else light if row == i else None

    def shade_b(row: int, col: int) -> str | None:
        return strong if (row, col) == (k, j) else light if col == j else None

    step = num_blocks + gap
    for index, (name, shade) in enumerate((("C", shade_c), ("A", shade_a), ("B", shade_b))):
        grid(index * step, name, shade)
    for index, symbol in ((1, "+="), (2, "×")):
        ax.text(index * step - gap / 2, num_blocks / 2, symbol, ha="center", va="center",
                fontsize=14)  # fmt: skip
    ax.set_xlim(-0.2, 3 * num_blocks + 2 * gap + 0.2)
    ax.set_ylim(-0.2, num_blocks + 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(
        title
        if title is not None
        else f"C[{i + 1},{j + 1}] += A[{i + 1},{k + 1}] B[{k + 1},{j + 1}]: "
        f"{num_blocks} x {num_blocks} blocks per matrix"
    )
    return fig


def plot_memory_hierarchy(
    levels: Sequence[tuple[str, str]] | Mapping[str, str],
    ax: Axes | None = None,
    *,
    title: str | None = "The memory hierarchy",
) -> Figure:
    """The memory hierarchy as a pyramid: the fastest, smallest level on top.

    Parameters
    ----------
    levels : sequence of (name, detail), or dict of name to detail
        From the top (registers) down (main memory); ``detail`` is printed under the name,
        e.g. ``"32 KiB · ~4 cycles"``.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_memory_hierarchy([("registers", "~1 KiB"), ("L1", "32 KiB"), ("DRAM", "GiB")])
    >>> len(fig.axes[0].patches)  # one band per level
    3
    >>> plt.close(fig)
    """
    func = "plot_memory_hierarchy"
    rows = list(levels.items() if isinstance(levels, Mapping) else levels)
    if not rows or any(len(row) != 2 for row in rows):
        raise ValueError(f"{func}: levels must be a non-empty list of (name, detail) pairs")
    count = len(rows)
    fig, ax = _new_axes(ax, figsize=(7.0, 0.75 * count + 1.0))
    colors = plt.get_cmap("Blues")(np.linspace(0.25, 0.75, count))

    def half_width(depth: float) -> float:  # the pyramid widens linearly downwards
        return 0.9 + 2.3 * depth / count

    for index, ((name, detail), color) in enumerate(zip(rows, colors, strict=True)):
        top, bottom = count - index, count - index - 1
        w_top, w_bottom = half_width(index), half_width(index + 1)
        ax.add_patch(
            Polygon(
                [(-w_top, top), (w_top, top), (w_bottom, bottom), (-w_bottom, bottom)],
                closed=True, facecolor=color, edgecolor="white", linewidth=2,
            )
        )  # fmt: skip
        ink = "white" if index >= count / 2 else "black"
        ax.text(0, bottom + 0.62, str(name), ha="center", va="center", fontsize=10,
                weight="bold", color=ink)  # fmt: skip
        ax.text(0, bottom + 0.28, str(detail), ha="center", va="center", fontsize=8.5, color=ink)
    edge = half_width(count) + 0.3
    ax.annotate("", xy=(edge, count), xytext=(edge, 0),
                arrowprops={"arrowstyle": "->", "color": "0.3"})  # fmt: skip
    ax.text(edge + 0.1, count, "faster,\nsmaller", va="top", fontsize=8, color="0.3")
    ax.text(edge + 0.1, 0, "slower,\nlarger", va="bottom", fontsize=8, color="0.3")
    ax.set_xlim(-edge - 0.2, edge + 1.2)
    ax.set_ylim(-0.1, count + 0.1)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig


def plot_async_timeline(
    host_seconds: float,
    device_seconds: float,
    ax: Axes | None = None,
    *,
    title: str | None = "What a timer around an asynchronous GPU call measures",
) -> Figure:
    """The CPU and the GPU over time for one timed GPU product, and what each timer measures.

    The CPU spends ``host_seconds`` in the call (launching the kernel and any one-off set-up)
    and returns; the GPU then runs the product for ``device_seconds``. A timer read right
    after the call measures the first; one read after ``torch.cuda.synchronize()`` measures
    both, which is essentially the product.

    Parameters
    ----------
    host_seconds : float
        Time the call keeps the CPU busy before it returns (what the unsynchronised timer
        reads).
    device_seconds : float
        Time the GPU computes.
    ax : Axes, optional
        Draw into this; default a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two lanes, ``"CPU (Python)"`` and ``"GPU"``, in milliseconds; the two timers'
        intervals are drawn as labelled arrows below them.

    Notes
    -----
    The kernel is drawn as starting when the call returns. In reality it starts as soon as it
    is queued, slightly before; the synchronised time is then ``device_seconds`` plus the part
    of the launch that did not overlap, which the figure rounds up to ``host + device``.

    Examples
    --------
    >>> fig = plot_async_timeline(0.49e-3, 9.0e-3)
    >>> [label.get_text() for label in fig.axes[0].get_yticklabels()]
    ['GPU', 'CPU (Python)']
    """
    func = "plot_async_timeline"
    host_seconds = check_positive_number(host_seconds, name="host_seconds", func=func)
    device_seconds = check_positive_number(device_seconds, name="device_seconds", func=func)
    host, device = 1e3 * host_seconds, 1e3 * device_seconds
    end = host + device
    fig, ax = _new_axes(ax, figsize=(8.0, 3.4))
    lanes = {"GPU": 0.0, "CPU (Python)": 1.0}
    cpu, gpu = lanes["CPU (Python)"], lanes["GPU"]
    ax.broken_barh([(0.0, host)], (cpu - 0.3, 0.6), facecolors="C1")
    ax.broken_barh([(host, device)], (cpu - 0.3, 0.6), facecolors="none", edgecolors="C0",
                   hatch="//")  # fmt: skip
    ax.broken_barh([(host, device)], (gpu - 0.3, 0.6), facecolors="C0")
    ax.text(host + device / 2, gpu, "the product runs", ha="center", va="center", color="white")
    ax.text(host + device / 2, cpu, "torch.cuda.synchronize() waits", ha="center", va="center")
    ax.annotate(f"the call returns after {host:.2g} ms: the product is queued, not done",
                xy=(host, cpu + 0.3),
                xytext=(host + 0.04 * end, cpu + 0.62), fontsize=8,
                arrowprops={"arrowstyle": "->", "color": "C1"})  # fmt: skip
    timers = [
        (-0.75, host, f"timer without synchronisation: {host:.2g} ms", "C3"),
        (-1.2, end, f"timer after synchronize(): {end:.3g} ms", "C2"),
    ]
    for y, stop, label, color in timers:
        ax.annotate("", xy=(stop, y), xytext=(0.0, y),
                    arrowprops={"arrowstyle": "|-|", "color": color, "lw": 1.5})  # fmt: skip
        ax.text(stop + 0.01 * end, y, label, va="center", fontsize=9, color=color)
    for x in (0.0, host, end):
        ax.axvline(x, color="0.6", lw=0.8, ls=":", zorder=0)
    ax.set_yticks(list(lanes.values()), list(lanes))
    ax.set_ylim(-1.5, 1.9)
    ax.set_xlim(-0.02 * end, 1.45 * end)
    ax.set_xlabel("time since the first clock read (ms)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    return fig
