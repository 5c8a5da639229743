"""Tests for lapenna_labs.plots: the figures carry the data, labels and scales they claim.

The graph drawings are checked against the graph itself: one box per node, three text lines per
box (name, value, gradient), one arrow per edge, and inputs left of the gates they feed.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Polygon, Rectangle
from matplotlib.text import Annotation

from lapenna_labs.graph import gate_patterns_example, nodes, sigmoid_neuron_example
from lapenna_labs.plots import (
    draw_graph,
    graph_layout,
    plot_gflops,
    plot_memory_hierarchy,
    plot_roofline,
    plot_tiling,
    plot_training_history,
    set_log_ticks,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _records():
    # Hand-made records (not measured): two precisions, sizes out of order on purpose.
    rows = []
    for dtype, rate in (("float32", 200.0), ("float64", 100.0)):
        for n in (4000, 2000, 6000):
            median = 2 * n**3 / (rate * 1e9)
            rows.append(
                {
                    "n": n,
                    "dtype": dtype,
                    "device": "cpu",
                    "device_name": "Test CPU",
                    "backend": "numpy",
                    "flops": 2 * n**3,
                    "median_s": median,
                    "iqr_s": 0.1 * median,
                    "gflops": rate,
                }
            )
    return rows


@pytest.mark.lab2
class TestPlotGflops:
    def test_one_line_per_precision_with_the_data(self):
        fig = plot_gflops(_records())
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["float32, Test CPU [numpy]", "float64, Test CPU [numpy]"]
        lines = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert len(lines) == 2
        np.testing.assert_array_equal(lines[0].get_xdata(), [2000, 4000, 6000])  # sorted by N
        np.testing.assert_array_equal(lines[0].get_ydata(), [200, 200, 200])
        np.testing.assert_array_equal(lines[1].get_ydata(), [100, 100, 100])
        assert "N" in ax.get_xlabel() and "GFLOP/s" in ax.get_ylabel()
        assert ax.get_yscale() == "linear" and ax.get_ylim()[0] == 0

    def test_peaks_logscale_and_given_axes(self):
        records = _records()
        records[0] = {**records[0], "gflops": 50_000.0, "device_name": "GPU", "flops": None}
        fig, ax = plt.subplots()
        out = plot_gflops(records, ax=ax, peaks={"FP32 peak": 60_000.0})
        assert out is fig
        assert ax.get_yscale() == "log"  # rates spanning > 30x
        assert any(np.allclose(line.get_ydata(), 60_000) for line in ax.get_lines())
        assert "FP32 peak" in [t.get_text() for t in ax.texts]

    def test_accepts_a_dataframe(self):
        pd = pytest.importorskip("pandas")
        fig = plot_gflops(pd.DataFrame(_records()))
        assert len(fig.axes[0].get_legend().get_texts()) == 2

    def test_bad_records(self):
        with pytest.raises(ValueError, match="plot_gflops: records is empty"):
            plot_gflops([])
        with pytest.raises(ValueError, match="plot_gflops: every record needs the key 'gflops'"):
            plot_gflops([{"n": 10}])


@pytest.mark.lab1
class TestPlotRoofline:
    def test_roof_points_and_labels(self):
        points = [
            {"label": "DAXPY", "intensity": 1 / 12, "gflops": 249.0},
            ("DGEMM", 500.0, 57_000.0),
        ]
        fig = plot_roofline(67_000.0, 3_350.0, points)
        ax = fig.axes[0]
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert "intensity" in ax.get_xlabel() and "GFLOP/s" in ax.get_ylabel()
        roof = ax.get_lines()[0]
        x, y = roof.get_xdata(), roof.get_ydata()
        np.testing.assert_allclose(y, np.minimum(67_000.0, 3_350.0 * x))
        assert [t.get_text() for t in ax.texts] == ["DAXPY", "DGEMM"]
        offsets = np.vstack([c.get_offsets() for c in ax.collections])
        np.testing.assert_allclose(offsets, [[1 / 12, 249.0], [500.0, 57_000.0]])
        legend = " ".join(t.get_text() for t in ax.get_legend().get_texts())
        assert "3,350 GB/s" in legend and "ridge 20" in legend

    def test_several_ceilings(self):
        fig = plot_roofline({"FP64": 34_000.0, "FP64 tensor": 67_000.0}, 3_350.0)
        legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert any(s.startswith("FP64: 34,000") for s in legend)
        assert any(s.startswith("FP64 tensor: 67,000") for s in legend)

    @pytest.mark.parametrize(
        "args,match",
        [
            ((0.0, 100.0), "peak_gflops must be positive"),
            ((100.0, -1.0), "bandwidth_gbs must be positive"),
            ((100.0, 10.0, [("x", 0.0, 5.0)]), "needs positive finite intensity"),
            ((100.0, 10.0, [("x", 1.0)]), r"a point is \(label, intensity, gflops\)"),
            ((100.0, 10.0, [{"label": "x", "gflops": 1.0}]), "needs 'intensity' and 'gflops'"),
        ],
    )
    def test_bad_input(self, args, match):
        with pytest.raises(ValueError, match=f"plot_roofline: .*{match}"):
            plot_roofline(*args)


HISTORY = {
    "loss": [2.0, 1.0, 0.7],
    "accuracy": [0.5, 0.7, 0.8],
    "val_loss": [1.5, 1.1, 0.9],
    "val_accuracy": [0.6, 0.65, 0.75],
}


@pytest.mark.lab4
class TestPlotTrainingHistory:
    def test_two_panels(self):
        fig = plot_training_history(HISTORY, title="MLP")
        loss_ax, acc_ax = fig.axes
        assert [line.get_label() for line in loss_ax.get_lines()] == [
            "training loss",
            "validation loss",
        ]
        assert [line.get_label() for line in acc_ax.get_lines()] == [
            "training accuracy",
            "validation accuracy",
        ]
        np.testing.assert_array_equal(loss_ax.get_lines()[1].get_ydata(), HISTORY["val_loss"])
        np.testing.assert_array_equal(acc_ax.get_lines()[0].get_xdata(), [1, 2, 3])
        assert loss_ax.get_ylabel() == "loss" and acc_ax.get_ylabel() == "accuracy"
        assert fig._suptitle.get_text() == "MLP"

    def test_loss_only_and_single_axes(self):
        fig = plot_training_history({"loss": [1.0, 0.5]})
        assert len(fig.axes) == 1
        fig, ax = plt.subplots()
        plot_training_history(HISTORY, ax=ax)
        assert len(fig.axes) == 2  # accuracy on a twin axis
        assert len(ax.get_legend().get_texts()) == 4

    @pytest.mark.parametrize(
        "history,match",
        [
            ({"accuracy": [0.5]}, "at least a 'loss' list"),
            ({"loss": []}, r"history\['loss'\] is empty"),
            ({"loss": [[1.0, 2.0]]}, "must be a list of numbers"),
        ],
    )
    def test_bad_history(self, history, match):
        with pytest.raises(ValueError, match=f"plot_training_history: .*{match}"):
            plot_training_history(history)


@pytest.mark.lab4
class TestDrawGraph:
    def test_layout_is_left_to_right(self):
        g = sigmoid_neuron_example(expanded=True)
        pos = graph_layout(g["output"])
        for n in nodes(g["output"]):
            for c in n.children:
                assert pos[id(c)][0] < pos[id(n)][0]
        # no two nodes on the same spot
        assert len(set(pos.values())) == len(pos)

    @pytest.mark.parametrize("expanded", [False, True])
    def test_shows_every_node_with_value_and_gradient(self, expanded):
        g = sigmoid_neuron_example(expanded=expanded)
        root = g["output"]
        fig = draw_graph(root, title="sigmoid neuron")
        assert isinstance(fig, Figure)
        ax = fig.axes[0]
        all_nodes = nodes(root)
        boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
        assert len(boxes) == len(all_nodes)
        texts = [t.get_text() for t in ax.texts if not isinstance(t, Annotation)]
        # three text lines per node: name, value, gradient
        assert len(texts) == 3 * len(all_nodes)
        for label in ("w0", "x0", "w1", "x1", "w2", "s3"):
            assert sum(t.startswith(label) for t in texts) == 1
        assert "0.73" in texts  # the output's value
        assert sum("-0.59" in t for t in texts) == 1  # dL/dx1
        edges = sum(len(n.children) for n in all_nodes)
        annotations = [t for t in ax.texts if isinstance(t, Annotation)]
        assert len(annotations) == edges
        assert ax.get_title() == "sigmoid neuron"

    def test_uses_the_given_axes(self):
        fig, ax = plt.subplots()
        assert draw_graph(gate_patterns_example()["f"], ax=ax) is fig
        assert len(fig.axes) == 1 and ax.patches

    @pytest.mark.parametrize("draw", [draw_graph, graph_layout])
    def test_bad_root(self, draw):
        with pytest.raises(ValueError, match=f"{draw.__name__}: root must be a Value, got float"):
            draw(3.0)


@pytest.mark.lab1
class TestSetLogTicks:
    def test_one_plain_label_per_value_and_no_minor_ticks(self):
        fig, ax = plt.subplots()
        sizes = [16, 32, 64, 128, 256, 512]
        ax.plot(sizes, [1, 2, 3, 4, 5, 6])
        assert set_log_ticks(ax, sizes) is fig
        fig.canvas.draw()
        assert ax.get_xscale() == "log"
        np.testing.assert_allclose(ax.get_xticks(), sizes)
        assert [t.get_text() for t in ax.get_xticklabels()] == [str(s) for s in sizes]
        # Matplotlib's default here labels minor ticks too, and they overlap: none are left.
        assert len(ax.xaxis.get_minorticklocs()) == 0

    def test_y_axis(self):
        fig, ax = plt.subplots()
        ax.plot([1, 2], [0.01, 1])
        set_log_ticks(ax, [0.01, 0.1, 1], axis="y")
        assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
        assert [t.get_text() for t in ax.get_yticklabels()] == ["0.01", "0.1", "1"]

    @pytest.mark.parametrize(
        "values,axis,match",
        [
            ([1, 2], "z", "axis must be 'x' or 'y'"),
            ([], "x", "positive"),
            ([0, 1], "x", "positive"),
        ],
    )
    def test_bad_input(self, values, axis, match):
        _, ax = plt.subplots()
        with pytest.raises(ValueError, match=f"set_log_ticks: .*{match}"):
            set_log_ticks(ax, values, axis=axis)


@pytest.mark.lab1
class TestPlotTiling:
    @staticmethod
    def _cells(fig):
        """(grid index, row, col, colour) of every block drawn, row 0 on top as printed."""
        ax = fig.axes[0]
        rects = [p for p in ax.patches if isinstance(p, Rectangle)]
        n = int(np.sqrt(len(rects) // 3))  # three n x n grids
        cells = []
        for rect in rects:
            x, y = rect.get_xy()
            grid, col = divmod(int(round(x)), n + 1)
            cells.append((grid, n - 1 - int(round(y)), col, rect.get_facecolor()[:3]))
        return n, cells

    @pytest.mark.parametrize("num_blocks,block", [(4, (1, 2, 0)), (3, (0, 0, 2)), (1, (0, 0, 0))])
    def test_marks_the_block_product_and_shades_its_row_and_column(self, num_blocks, block):
        i, j, k = block
        n, cells = self._cells(plot_tiling(num_blocks, block))
        assert n == num_blocks and len(cells) == 3 * num_blocks**2
        white = (1.0, 1.0, 1.0)
        shaded = {(g, r, c) for g, r, c, color in cells if color != white}
        # C_ij; row i of A (it holds A_ik); column j of B (it holds B_kj).
        expected = {(0, i, j)}
        expected |= {(1, i, c) for c in range(num_blocks)}
        expected |= {(2, r, j) for r in range(num_blocks)}
        assert shaded == expected
        colors = {(g, r, c): color for g, r, c, color in cells}
        strong = colors[(0, i, j)]
        assert colors[(1, i, k)] == strong and colors[(2, k, j)] == strong
        light = [colors[key] for key in expected - {(0, i, j), (1, i, k), (2, k, j)}]
        assert all(color != strong for color in light)

    def test_title_names_the_step_one_based(self):
        fig = plot_tiling(4, (1, 2, 0))
        assert fig.axes[0].get_title().startswith("C[2,3] += A[2,1] B[1,3]")

    @pytest.mark.parametrize(
        "args,match",
        [((0,), "num_blocks must be a positive integer"), ((3, (0, 3, 0)), "block must be"),
         ((3, (0, 1)), "block must be"), ((2.0,), "num_blocks")],
    )  # fmt: skip
    def test_bad_input(self, args, match):
        with pytest.raises(ValueError, match=f"plot_tiling: {match}"):
            plot_tiling(*args)


@pytest.mark.lab1
class TestPlotMemoryHierarchy:
    LEVELS = [("registers", "~1 KiB"), ("L1", "32 KiB"), ("L2", "1 MiB"), ("DRAM", "16 GiB")]

    def test_one_band_per_level_widening_downwards(self):
        fig = plot_memory_hierarchy(self.LEVELS)
        ax = fig.axes[0]
        bands = [p for p in ax.patches if isinstance(p, Polygon)]
        assert len(bands) == len(self.LEVELS)
        widths = [np.ptp(band.get_xy()[:, 0]) for band in bands]
        assert widths == sorted(widths) and len(set(widths)) == len(widths)
        heights = [band.get_xy()[:, 1].mean() for band in bands]  # first level on top
        assert heights == sorted(heights, reverse=True)
        texts = {t.get_text() for t in ax.texts}
        for name, detail in self.LEVELS:
            assert name in texts and detail in texts

    def test_accepts_a_dict_and_an_axes(self):
        fig, ax = plt.subplots()
        assert plot_memory_hierarchy(dict(self.LEVELS), ax, title="here") is fig
        assert ax.get_title() == "here"

    @pytest.mark.parametrize("levels", [[], [("L1",)], [("L1", "32 KiB", "extra")]])
    def test_bad_levels(self, levels):
        with pytest.raises(ValueError, match="plot_memory_hierarchy: levels must be"):
            plot_memory_hierarchy(levels)
