"""Lab 8's checks, cell by cell: the master's answers pass every visible and hidden check, and
each classic mistake of the week (a transposed convolution done as a plain convolution,
output_padding ignored or put on the wrong side, overlapping copies overwritten, the empty-mask
rule broken, Dice computed as IoU, a mean IoU over absent classes or over images, the U-Net's
sizes off by a level, a U-Net without up-convolutions, a reference called) is refused.

The cells are read from ``autograder/notebooks/lab08.py`` and run in this process with the
helpers of ``test_labs_pipeline.py`` (no nbgrader); the file runs in about 15 s.
"""

from __future__ import annotations

import pytest
from test_labs_pipeline import _lab_cells, _run_cells

pytestmark = pytest.mark.lab8

pytest.importorskip("torch")

LAB = "lab08"
ANSWERS = [
    "imports",
    "transpose_checks",
    "conv_transpose2d",
    "score_checks",
    "segmentation_scores",
    "unet_sizes",
]
# Part 4 needs the data cell (which reads DEVICE, set by the notebook's device cell).
PART4_ANSWERS = [*ANSWERS, "segmentation_data", "small_unet"]
TEST_CELLS = [
    "test_conv_transpose2d",
    "test_conv_transpose2d_output_padding",
    "test_iou_dice_per_class",
    "test_mean_iou",
    "test_unet_output_size",
    "test_accepted_input_sizes",
]


def _run_test_cell(answers, changes, test_cell, refusal, capsys):
    namespace = _run_cells(LAB, answers, {"DEVICE": "cpu"}, changes)
    _run_test_cell_in(namespace, test_cell, refusal, capsys)


def _run_test_cell_in(namespace, test_cell, refusal, capsys):
    from lapenna_labs.grading import ReferenceBlockedError

    cell = compile(_lab_cells(LAB)[test_cell], f"<{LAB} {test_cell}>", "exec")
    if refusal is None:
        exec(cell, namespace)
        assert "the visible checks pass." in capsys.readouterr().out
    else:
        with pytest.raises((AssertionError, ReferenceBlockedError), match=refusal):
            exec(cell, namespace)


@pytest.mark.parametrize("test_cell", TEST_CELLS)
def test_the_masters_answers_pass_every_check(test_cell, capsys):
    _run_test_cell(ANSWERS, [], test_cell, None, capsys)


def test_the_masters_unet_passes_its_checks(capsys):
    _run_test_cell(PART4_ANSWERS, [], "test_small_unet", None, capsys)


@pytest.mark.parametrize(
    ("answer", "old", "new", "test_cell", "refusal"),
    [
        (
            # The transposed convolution done as a plain convolution (w read as C_out filters).
            "conv_transpose2d",
            "    return out + b.astype(x.dtype)[:, None, None]\n",
            "    from lapenna_labs.conv import conv2d_forward as _conv\n\n"
            "    return _conv(x, w.transpose(1, 0, 2, 3), b, stride, padding)[0]\n",
            "test_conv_transpose2d",
            "the size a plain convolution gives",
        ),
        (
            "conv_transpose2d",
            "] += (\n",
            "] = (\n",
            "test_conv_transpose2d",
            "overwrite each other",
        ),
        (
            # The padding not removed from the top and left: the output starts at the corner.
            "conv_transpose2d",
            "out = full[:, :, padding : padding + out_h, padding : padding + out_w]",
            "out = full[:, :, :out_h, :out_w]",
            "test_conv_transpose2d",
            r"stride 2, padding 1\)",
        ),
        (
            "conv_transpose2d",
            "    return out + b.astype(x.dtype)[:, None, None]\n",
            "    return out\n",
            "test_conv_transpose2d",
            "no bias",
        ),
        (
            "conv_transpose2d",
            "w[:, :, p, q].astype(x.dtype)",
            "w[:, :, kh - 1 - p, kw - 1 - q].astype(x.dtype)",
            "test_conv_transpose2d",
            "the kernel flipped",
        ),
        (
            # Right values from the package: only the hidden test can refuse it.
            "conv_transpose2d",
            "    return out + b.astype(x.dtype)[:, None, None]\n",
            "    from lapenna_labs.conv import conv_transpose2d_forward as _ct\n\n"
            "    return _ct(x, w, b, stride, padding, output_padding)[0]\n",
            "test_conv_transpose2d",
            "blocked",
        ),
        (
            # Right values from PyTorch's conv_transpose2d: blocked too.
            "conv_transpose2d",
            "    return out + b.astype(x.dtype)[:, None, None]\n",
            "    import torch\n\n"
            "    return torch.nn.functional.conv_transpose2d(\n"
            "        torch.from_numpy(x), torch.from_numpy(w.astype(x.dtype)),\n"
            "        torch.from_numpy(b.astype(x.dtype)), stride, padding, output_padding\n"
            "    ).numpy()\n",
            "test_conv_transpose2d",
            "blocked",
        ),
        (
            "conv_transpose2d",
            "    out_h = full_h - 2 * padding + output_padding\n"
            "    out_w = full_w - 2 * padding + output_padding\n",
            "    out_h = full_h - 2 * padding\n    out_w = full_w - 2 * padding\n",
            "test_conv_transpose2d_output_padding",
            "output_padding = 1 rows and columns short",
        ),
        (
            # output_padding added on both sides.
            "conv_transpose2d",
            "    out_h = full_h - 2 * padding + output_padding\n"
            "    out_w = full_w - 2 * padding + output_padding\n",
            "    out_h = full_h - 2 * padding + 2 * output_padding\n"
            "    out_w = full_w - 2 * padding + 2 * output_padding\n",
            "test_conv_transpose2d_output_padding",
            "too large",
        ),
        (
            # The extra row and column at the top and left instead of the bottom and right.
            "conv_transpose2d",
            "full[:, :, p : p + stride * height : stride, q : q + stride * width : stride]",
            "full[\n"
            "                :,\n"
            "                :,\n"
            "                p + output_padding : p + output_padding + stride * height : stride,\n"
            "                q + output_padding : q + output_padding + stride * width : stride,\n"
            "            ]",
            "test_conv_transpose2d_output_padding",
            "output_padding 1",
        ),
        (
            # The empty-mask rule broken: classes in neither mask score 1.
            "segmentation_scores",
            "        return tp / union\n",
            "        return np.where(union == 0, 1.0, tp / np.maximum(union, 1))\n",
            "test_iou_dice_per_class",
            "must score NaN .*they scored 1",
        ),
        (
            # The empty-mask rule broken for Dice: classes in neither mask score 0.
            "segmentation_scores",
            "        return 2 * both / (predicted + labelled)\n",
            "        return 2 * both / np.maximum(predicted + labelled, 1)\n",
            "test_iou_dice_per_class",
            "must score NaN .*they scored 0",
        ),
        (
            # A class predicted but absent from the target (an empty target) made NaN.
            "segmentation_scores",
            "        return tp / union\n",
            "        return np.where(tp == 0, np.nan, tp / np.maximum(union, 1))\n",
            "test_iou_dice_per_class",
            "only a class in neither is NaN",
        ),
        (
            "segmentation_scores",
            "        return 2 * both / (predicted + labelled)\n",
            "        return both / (predicted + labelled - both)\n",
            "test_iou_dice_per_class",
            "that is the IoU",
        ),
        (
            "segmentation_scores",
            "    scores = iou_per_class(pred, target, n_classes)\n"
            "    return float(np.mean(scores[~np.isnan(scores)]))\n",
            "    scores = iou_per_class(pred, target, n_classes)\n"
            "    return float(np.nansum(scores) / n_classes)\n",
            "test_mean_iou",
            "the mean over all n_classes",
        ),
        (
            "segmentation_scores",
            "    scores = iou_per_class(pred, target, n_classes)\n"
            "    return float(np.mean(scores[~np.isnan(scores)]))\n",
            "    per_image = []\n"
            "    for p, t in zip(pred, target):\n"
            "        scores = iou_per_class(p, t, n_classes)\n"
            "        per_image.append(np.mean(scores[~np.isnan(scores)]))\n"
            "    return float(np.mean(per_image))\n",
            "test_mean_iou",
            "per-image",
        ),
        (
            # Right values from scikit-learn: only the hidden test can refuse it.
            "segmentation_scores",
            '    with np.errstate(invalid="ignore"):\n        return tp / union\n',
            "    from sklearn.metrics import jaccard_score\n\n"
            "    present = np.union1d(np.unique(pred), np.unique(target))\n"
            "    scores = np.full(n_classes, np.nan)\n"
            "    scores[present] = jaccard_score(target, pred, labels=present, average=None)\n"
            "    return scores\n",
            "test_iou_dice_per_class",
            "blocked",
        ),
        (
            # The bottleneck's two convolutions forgotten.
            "unet_sizes",
            "        size //= 2\n    size -= 4\n    if size < 1:\n        return None\n",
            "        size //= 2\n",
            "test_unet_output_size",
            "wrong size|too large",
        ),
        (
            # Off by one: a 3x3 valid convolution taken to trim 1 px in all (not 1 per side).
            "unet_sizes",
            "        size = 2 * size - 4\n",
            "        size = 2 * size - 2\n",
            "test_unet_output_size",
            "wrong size",
        ),
        (
            "unet_sizes",
            "    return size\n    ### END SOLUTION",
            "    return size + 1\n    ### END SOLUTION",
            "test_unet_output_size",
            "off by one",
        ),
        (
            # Odd maps pooled by flooring (as PyTorch's max pool would) instead of refused.
            "unet_sizes",
            "        if size < 1 or size % 2:\n",
            "        if size < 1:\n",
            "test_unet_output_size",
            "not accepted: return None",
        ),
        (
            "unet_sizes",
            "    size = input_size\n",
            "    from lapenna_labs.unet import unet_output_size as _size\n\n"
            "    try:\n"
            "        return _size(input_size, depth, 'valid')\n"
            "    except ValueError:\n"
            "        return None\n",
            "test_unet_output_size",
            "blocked",
        ),
        (
            "unet_sizes",
            "range(low, high + 1)",
            "range(low, high)",
            "test_accepted_input_sizes",
            "accepted size.* missing",
        ),
    ],
)
def test_the_checks_refuse_the_classic_mistakes(answer, old, new, test_cell, refusal, capsys):
    _run_test_cell(ANSWERS, [(answer, old, new)], test_cell, refusal, capsys)


@pytest.mark.parametrize(
    ("old", "new", "refusal"),
    [
        (
            # Upsampling by interpolation, not the learned transposed convolution.
            "self.up1 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)",
            "self.up1 = nn.Sequential(\n"
            "            nn.Upsample(scale_factor=2), nn.Conv2d(4 * width, 2 * width, 1)\n"
            "        )",
            "two ConvTranspose2d",
        ),
        (
            # No skip connection at level 1: the up level sees only the up-convolution.
            "        x = self.up_conv1(torch.cat([skip1, self.up1(x)], dim=1))\n",
            "        x = self.up_conv1(self.up1(x))\n",
            "concatenated",
        ),
        (
            # The package's U-Net handed in: the hidden check builds it under the block.
            "        nn = torch.nn\n",
            "        from lapenna_labs.unet import make_unet\n\n"
            "        self.net = make_unet(1, n_classes, depth=2, width=width)\n"
            "        return\n"
            "        nn = torch.nn\n",
            "blocked|must have shape|ConvTranspose2d|Conv2d",
        ),
    ],
)
def test_the_unet_checks_refuse_a_wrong_network(old, new, refusal, capsys):
    changes = [("small_unet", old, new)]
    if "self.up_conv1(self.up1(x))" in new:
        changes.append(
            (
                "small_unet",
                "self.up_conv1 = double_conv(4 * width, 2 * width)",
                "self.up_conv1 = double_conv(2 * width, 2 * width)",
            )
        )
    if "make_unet" in new:
        changes.append(
            (
                "small_unet",
                "        F = torch.nn.functional\n",
                "        return self.net(x)\n        F = torch.nn.functional\n",
            )
        )
    _run_test_cell(PART4_ANSWERS, changes, "test_small_unet", refusal, capsys)


# Part 4's training: the visible run of the notebook (its free cell), then the test cell, which
# retrains a fresh SmallUNet under the block. A few seconds per training on one thread.


def _training_cell() -> str:
    import jupytext
    from test_labs_pipeline import AUTOGRADER

    nb = jupytext.read(AUTOGRADER / "notebooks" / f"{LAB}.py", fmt="py:percent")
    (cell,) = [c.source for c in nb.cells if "segmenter_losses = train_segmenter(" in c.source]
    return cell


@pytest.mark.slow
@pytest.mark.parametrize(
    ("old", "new", "refusal"),
    [
        (None, None, None),
        (
            # The optimizer never steps: the loss cannot go down.
            "            optimizer.step()\n",
            "",
            "the loss did not go down",
        ),
        (
            # The package's training loop: right results, refused by the hidden check.
            "    rng = np.random.default_rng(seed)\n",
            "    from lapenna_labs.unet import train_unet\n\n"
            "    history = train_unet(\n"
            "        model, images, masks, epochs=epochs, batch_size=batch_size, lr=lr,\n"
            "        seed=seed, device=device, progress=False,\n"
            "    )\n"
            '    return history["loss"]\n',
            "blocked",
        ),
    ],
)
def test_the_training_check_needs_a_real_training_loop(old, new, refusal, one_torch_thread, capsys):
    changes = [("small_unet", old, new)] if old else []
    namespace = _run_cells(LAB, PART4_ANSWERS, {"DEVICE": "cpu"}, changes)
    exec(compile(_training_cell(), f"<{LAB} training>", "exec"), namespace)
    _run_test_cell_in(namespace, "test_train_segmenter", refusal, capsys)
