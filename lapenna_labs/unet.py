r"""U-Net for semantic segmentation: its shape algebra and costs in pure Python, and a PyTorch
model with its training and prediction loops.

U-Net [1]_ is a fully convolutional network [2]_ in the shape of a U. The *contracting path*
(encoder) repeats, at levels 0, 1, ..., depth - 1, two 3x3 convolutions with ReLU and a 2x2
max pool of stride 2 that halves the size; the channels start at ``width`` and double per
level. The *bottleneck* (level ``depth``) is two more 3x3 convolutions. The *expanding path*
(decoder) goes back up level by level: a 2x2 transposed convolution of stride 2 doubles the
size and halves the channels, the encoder's map of the same level (the skip connection) is
centre-cropped to that size and stacked before it (:func:`lapenna_labs.conv.crop_and_concat`),
and two 3x3 convolutions mix the ``2c`` channels back to ``c``. A final 1x1 convolution turns
the ``width`` channels into ``n_classes`` logits per pixel::

    level 0:  conv3 conv3 ------------------------- crop+concat conv3 conv3 -> conv1 (logits)
                  \ pool                                  / up-conv
    level 1:       conv3 conv3 ------------ crop+concat conv3 conv3
                         \ pool                  / up-conv
    level 2 (bottleneck):  conv3 conv3 ---------

With ``padding="valid"`` (the paper's choice) every 3x3 convolution trims a pixel from each
side, so the output is smaller than the input (572 -> 388 px for the paper's depth 4) and only
some input sizes are accepted; with ``padding="same"`` the convolutions are zero-padded and the
output has the input's size, for inputs divisible by ``2**depth``.

The shape algebra (:func:`unet_output_size`, :func:`unet_valid_input_sizes`,
:func:`unet_shapes`) and the cost model (:func:`unet_level_costs`) are plain Python: the
chapter's tables need no PyTorch. :func:`make_unet`, :func:`train_unet` and
:func:`predict_masks` import PyTorch when they are called (``import lapenna_labs.unet`` does
not import it).

References
----------
.. [1] O. Ronneberger, P. Fischer and T. Brox, "U-Net: Convolutional Networks for Biomedical
   Image Segmentation", MICCAI 2015, arXiv:1505.04597.
.. [2] J. Long, E. Shelhamer and T. Darrell, "Fully Convolutional Networks for Semantic
   Segmentation", CVPR 2015, arXiv:1411.4038.
.. [3] PyTorch documentation, ``torch.nn.Conv2d``, ``torch.nn.ConvTranspose2d``,
   ``torch.nn.functional.cross_entropy`` and ``torch.optim.Adam``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from lapenna_labs._torch_models import (
    check_images,
    check_module,
    check_training_settings,
    run_in_batches,
    torch_device,
    train_with_adam,
)
from lapenna_labs._validation import (
    check_name,
    check_nonnegative_int,
    check_positive_int,
)
from lapenna_labs.blas.devices import _import_torch

__all__ = [
    "PADDINGS",
    "UNetLevelCost",
    "UNetStage",
    "make_unet",
    "predict_masks",
    "train_unet",
    "unet_level_costs",
    "unet_output_size",
    "unet_shapes",
    "unet_valid_input_sizes",
]

#: The padding modes of the 3x3 convolutions: unpadded as in the paper, or zero-padded by one.
PADDINGS = ("valid", "same")

_BYTES_PER_FLOAT32 = 4


class UNetStage(NamedTuple):
    """One operation of a U-Net, a row of :func:`unet_shapes`.

    Attributes
    ----------
    level : int
        0 at full resolution, ``depth`` at the bottleneck.
    path : str
        ``"encoder"``, ``"bottleneck"``, ``"decoder"`` or ``"head"``.
    operation : str
        ``"conv3x3"``, ``"maxpool2x2"``, ``"upconv2x2"`` (transposed, stride 2),
        ``"crop+concat"`` or ``"conv1x1"``.
    in_channels, out_channels : int
        Channels in and out. For ``"crop+concat"``, ``in_channels`` is the up-convolution's
        output and ``out_channels`` the stacked ``skip + up`` channels.
    in_size, out_size : int
        Height (= width, for a square input) in and out. For ``"crop+concat"``, ``in_size`` is
        the skip's size before the crop and ``out_size`` the size it is cropped to.
    """

    level: int
    path: str
    operation: str
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int


class UNetLevelCost(NamedTuple):
    """The cost of one level of a U-Net for one image, a row of :func:`unet_level_costs`.

    Attributes
    ----------
    level : int
        0 at full resolution, ``depth`` at the bottleneck.
    flops : int
        Flops of the level's convolutions (a multiply-add is 2 flops).
    activation_bytes : int
        float32 bytes of every tensor the level's operations output.
    params : int
        Weights and biases of the level's convolutions.
    """

    level: int
    flops: int
    activation_bytes: int
    params: int


def _check_depth_padding(depth: Any, padding: Any, func: str) -> tuple[int, str]:
    depth = check_positive_int(depth, name="depth", func=func)
    padding = check_name(padding, PADDINGS, what="padding", func=func)
    return depth, padding


def _check_network(
    depth: Any, padding: Any, width: Any, in_channels: Any, n_classes: Any, func: str
) -> tuple[int, str, int, int, int]:
    """``(depth, padding, width, in_channels, n_classes)`` of a U-Net, checked in that order."""
    depth, padding = _check_depth_padding(depth, padding, func)
    width = check_positive_int(width, name="width", func=func)
    in_channels = check_positive_int(in_channels, name="in_channels", func=func)
    n_classes = check_positive_int(n_classes, name="n_classes", func=func)
    return depth, padding, width, in_channels, n_classes


def _trace_sizes(size: int, depth: int, padding: str) -> tuple[list[int], list[int], str | None]:
    """Follow one spatial size through the network.

    Returns the encoder's level outputs (the skips, before each pool), the decoder's level
    outputs from the bottleneck (level ``depth``) up to level 0, and the reason the size is
    rejected (None if it is accepted).
    """
    trim = 2 if padding == "valid" else 0  # pixels one 3x3 conv removes (one per side)
    skips: list[int] = []
    s = size
    for level in range(depth):
        s -= 2 * trim
        if s <= 0:
            return skips, [], f"level {level}'s 3x3 convolutions leave {s} px"
        if s % 2:
            return skips, [], f"level {level}'s {s} px map is odd before the 2x2 max pool"
        skips.append(s)
        s //= 2
    s -= 2 * trim
    if s <= 0:
        return skips, [], f"the bottleneck's (level {depth}) 3x3 convolutions leave {s} px"
    ups = [s]
    for level in range(depth - 1, -1, -1):
        s = 2 * s - 2 * trim
        if s <= 0:
            return skips, ups, f"level {level}'s 3x3 convolutions on the way up leave {s} px"
        ups.append(s)
    return skips, ups, None


def _accepted(size: int, depth: int, padding: str) -> bool:
    return size > 0 and _trace_sizes(size, depth, padding)[2] is None


def _smallest_accepted(depth: int, padding: str) -> int:
    if padding == "same":
        return 2**depth
    # The size at the bottleneck is b >= 1 with the decoder's sizes positive; the input is
    # then 2**depth * b + 4 (2**depth - 1). Scan b upwards (it stops within a few steps).
    b = 1
    while not _accepted(2**depth * b + 4 * (2**depth - 1), depth, padding):
        b += 1
    return 2**depth * b + 4 * (2**depth - 1)


def _nearest_accepted(size: int, depth: int, padding: str) -> list[int]:
    """The accepted sizes just below and just above ``size`` (one of them if none is below)."""
    step = 2**depth  # accepted sizes are one residue class modulo 2**depth
    smallest = _smallest_accepted(depth, padding)
    if size < smallest:
        return [smallest]
    below = smallest + (size - smallest) // step * step
    return [below, below + step] if below != size else [size]


def unet_output_size(input_size: int, depth: int = 4, padding: str = "valid") -> int:
    r"""The output height (or width) of a U-Net for an input of height (or width) `input_size`.

    Parameters
    ----------
    input_size : int
        Height or width of the input image, in pixels.
    depth : int, default 4
        Number of 2x2 max-pool downsamplings (the paper's network has 4).
    padding : {"valid", "same"}, default "valid"
        Unpadded 3x3 convolutions as in the paper, or zero-padded ones.

    Returns
    -------
    int
        The height (or width) of the logits.

    Raises
    ------
    ValueError
        If the size is not accepted: a map is odd before a 2x2 max pool, or the convolutions
        leave no pixel at some level. The message names the nearest accepted sizes.

    Notes
    -----
    With ``padding="valid"`` each level's two 3x3 convolutions remove 4 px; the pool halves.
    With :math:`s_0` the input, the encoder's sizes are :math:`s_{l+1} = (s_l - 4) / 2`,

    .. math:: s_D = \frac{s_0 - 4 (2^D - 1)}{2^D},

    which must be an integer (every pooled map even), so the accepted inputs are one residue
    class modulo :math:`2^D`. The bottleneck outputs :math:`t_D = s_D - 4`, and each decoder
    level doubles and trims, :math:`t_l = 2 t_{l+1} - 4`, so

    .. math:: t_0 = 2^D t_D - 4 (2^D - 1) = s_0 - 12 \cdot 2^D + 8,

    572 - 192 + 8 = 388 for the paper's :math:`D = 4`. Every intermediate size must stay
    positive, which sets the smallest accepted input. With ``padding="same"`` the
    convolutions keep the size, the pools need :math:`2^D \mid s_0`, and :math:`t_0 = s_0`.

    Examples
    --------
    >>> unet_output_size(572, depth=4, padding="valid")
    388
    >>> unet_output_size(48, depth=3, padding="same")
    48
    >>> unet_output_size(570)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ValueError: unet_output_size: input size 570 ... the nearest accepted sizes are 556 and 572
    """
    func = "unet_output_size"
    depth, padding = _check_depth_padding(depth, padding, func)
    return _output_size(input_size, depth, padding, func, what="input size")


def _output_size(size: Any, depth: int, padding: str, func: str, what: str) -> int:
    size = check_positive_int(size, name=what, func=func)
    _, ups, reason = _trace_sizes(size, depth, padding)
    if reason is not None:
        nearest = _nearest_accepted(size, depth, padding)
        named = " and ".join(str(n) for n in nearest)
        plural = "sizes are" if len(nearest) > 1 else "size is"
        raise ValueError(
            f"{func}: {what} {size} is not accepted by a depth-{depth} {padding!r} U-Net "
            f"({reason}); the nearest accepted {plural} {named}"
        )
    return ups[-1]


def unet_valid_input_sizes(
    depth: int = 4, padding: str = "valid", low: int = 1, high: int = 1024
) -> list[int]:
    """The input sizes from `low` to `high` (inclusive) that a U-Net accepts.

    Parameters
    ----------
    depth : int, default 4
        Number of 2x2 max-pool downsamplings.
    padding : {"valid", "same"}, default "valid"
        See :func:`unet_output_size`.
    low, high : int, default 1 and 1024
        The range searched, in pixels.

    Returns
    -------
    list of int
        Increasing; consecutive sizes differ by ``2**depth``.

    Examples
    --------
    >>> unet_valid_input_sizes(4, "valid", 540, 600)
    [540, 556, 572, 588]
    >>> unet_valid_input_sizes(3, "same", 1, 40)
    [8, 16, 24, 32, 40]
    """
    func = "unet_valid_input_sizes"
    depth, padding = _check_depth_padding(depth, padding, func)
    low = check_positive_int(low, name="low", func=func)
    high = check_positive_int(high, name="high", func=func)
    if high < low:
        raise ValueError(f"{func}: high ({high}) must be at least low ({low})")
    start = next(s for s in _nearest_accepted(low, depth, padding) if s >= low)
    return list(range(start, high + 1, 2**depth))


def unet_shapes(
    input_size: int,
    depth: int = 4,
    width: int = 64,
    in_channels: int = 1,
    padding: str = "valid",
    n_classes: int = 2,
) -> list[UNetStage]:
    """Every operation of a U-Net with its channels and sizes in and out (square inputs).

    Parameters
    ----------
    input_size : int
        Height (= width) of the input, accepted by :func:`unet_output_size`.
    depth : int, default 4
        Number of 2x2 max-pool downsamplings.
    width : int, default 64
        Channels of level 0; level ``l`` has ``width * 2**l``.
    in_channels : int, default 1
        Channels of the input image.
    padding : {"valid", "same"}, default "valid"
        See :func:`unet_output_size`.
    n_classes : int, default 2
        Output channels of the final 1x1 convolution (the paper's 2).

    Returns
    -------
    list of UNetStage
        In execution order: the encoder (two ``"conv3x3"`` and a ``"maxpool2x2"`` per level),
        the bottleneck's two ``"conv3x3"``, the decoder (``"upconv2x2"``, ``"crop+concat"``
        and two ``"conv3x3"`` per level), and the ``"conv1x1"`` head: ``7 * depth + 3`` rows.

    Examples
    --------
    >>> rows = unet_shapes(572, depth=4, width=64)
    >>> rows[0]
    UNetStage(level=0, path='encoder', operation='conv3x3', in_channels=1, out_channels=64, \
in_size=572, out_size=570)
    >>> for r in rows[-5:]:
    ...     print(r.operation, r.in_channels, r.out_channels, r.in_size, r.out_size)
    upconv2x2 128 64 196 392
    crop+concat 64 128 568 392
    conv3x3 128 64 392 390
    conv3x3 64 64 390 388
    conv1x1 64 2 388 388
    """
    func = "unet_shapes"
    depth, padding, width, in_channels, n_classes = _check_network(
        depth, padding, width, in_channels, n_classes, func
    )
    _output_size(input_size, depth, padding, func, what="input size")
    return _stages(int(input_size), depth, width, in_channels, n_classes, padding)


def _stages(
    size: int, depth: int, width: int, in_channels: int, n_classes: int, padding: str
) -> list[UNetStage]:
    trim = 2 if padding == "valid" else 0
    rows: list[UNetStage] = []
    c_in, s = in_channels, size
    skips: list[tuple[int, int]] = []  # (channels, size) of each encoder level's output
    for level in range(depth + 1):
        c = width * 2**level
        path = "encoder" if level < depth else "bottleneck"
        rows.append(UNetStage(level, path, "conv3x3", c_in, c, s, s - trim))
        rows.append(UNetStage(level, path, "conv3x3", c, c, s - trim, s - 2 * trim))
        c_in, s = c, s - 2 * trim
        if level < depth:
            skips.append((c, s))
            rows.append(UNetStage(level, path, "maxpool2x2", c, c, s, s // 2))
            s //= 2
    for level in range(depth - 1, -1, -1):
        c = width * 2**level
        skip_c, skip_s = skips[level]
        rows.append(UNetStage(level, "decoder", "upconv2x2", c_in, c, s, 2 * s))
        s = 2 * s
        rows.append(UNetStage(level, "decoder", "crop+concat", c, skip_c + c, skip_s, s))
        rows.append(UNetStage(level, "decoder", "conv3x3", skip_c + c, c, s, s - trim))
        rows.append(UNetStage(level, "decoder", "conv3x3", c, c, s - trim, s - 2 * trim))
        c_in, s = c, s - 2 * trim
    rows.append(UNetStage(0, "head", "conv1x1", c_in, n_classes, s, s))
    return rows


_KERNEL = {"conv3x3": 3, "upconv2x2": 2, "conv1x1": 1}


def _stage_flops(row: UNetStage) -> int:
    """Flops of one stage; 0 for pools and crop+concat, which the count leaves out."""
    k = _KERNEL.get(row.operation)
    if k is None:
        return 0
    # A convolution does C_in*K*K multiply-adds per output value. A transposed convolution
    # spreads every *input* value over a KxK window of each output channel: C_out*K*K
    # multiply-adds per input value (2x2, stride 2: one per output value and input channel).
    pixels = row.in_size**2 if row.operation == "upconv2x2" else row.out_size**2
    return 2 * row.in_channels * row.out_channels * k * k * pixels


def _stage_params(row: UNetStage) -> int:
    k = _KERNEL.get(row.operation)
    return 0 if k is None else row.in_channels * row.out_channels * k * k + row.out_channels


def unet_level_costs(
    input_size: int,
    depth: int = 4,
    width: int = 64,
    in_channels: int = 1,
    n_classes: int = 2,
    padding: str = "valid",
) -> list[UNetLevelCost]:
    r"""Flops, float32 activation bytes and parameters of each level, for one square image.

    Parameters
    ----------
    input_size : int
        Height (= width) of the input, accepted by :func:`unet_output_size`.
    depth : int, default 4
        Number of 2x2 max-pool downsamplings.
    width : int, default 64
        Channels of level 0, doubling per level.
    in_channels : int, default 1
        Channels of the input image.
    n_classes : int, default 2
        Output channels of the 1x1 head.
    padding : {"valid", "same"}, default "valid"
        See :func:`unet_output_size`.

    Returns
    -------
    list of UNetLevelCost
        One row per level, 0 (full resolution) to ``depth`` (the bottleneck). Multiply by
        the batch size for a batch.

    Notes
    -----
    A level holds its encoder's two 3x3 convolutions and pool, its decoder's up-convolution
    (which outputs at this level's size), crop+concat and two 3x3 convolutions, and at level
    0 the 1x1 head; the bottleneck holds its two convolutions. A convolution with
    :math:`C_\text{in}` inputs, :math:`C_\text{out}` outputs and a :math:`K \times K` kernel
    costs

    .. math:: 2\, C_\text{in} C_\text{out} K^2\, OH \cdot OW \text{ flops},

    a multiply-add counted as 2 flops, as ``torch.utils.flop_counter`` counts. The 2x2
    transposed convolution of stride 2 costs :math:`2\, C_\text{in} C_\text{out} K^2\, IH
    \cdot IW` (each input value meets the whole kernel), which is
    :math:`2\, C_\text{in} C_\text{out}\, OH \cdot OW`. Biases, ReLUs, pools and the
    concatenation are not counted. The activation bytes are 4 per element of every output
    (each convolution's, the pool's, the up-convolution's, the stacked concat's and the
    logits), the memory a training step keeps for the backward pass, before ReLU in-place
    tricks. Because each level halves the size and doubles the channels, a 3x3 convolution
    costs about the same at every level (:math:`4\times` the channels' product, :math:`1/4` the
    pixels) but the activations shrink by half per level.

    Examples
    --------
    >>> costs = unet_level_costs(572, depth=4, width=64)
    >>> round(sum(c.flops for c in costs) / 1e9, 1)  # GFLOP for one 572 x 572 tile
    300.9
    >>> sum(c.params for c in costs)  # the paper's network: about 31 million parameters
    31030658
    """
    func = "unet_level_costs"
    depth, padding, width, in_channels, n_classes = _check_network(
        depth, padding, width, in_channels, n_classes, func
    )
    _output_size(input_size, depth, padding, func, what="input size")
    flops = [0] * (depth + 1)
    activations = [0] * (depth + 1)
    params = [0] * (depth + 1)
    for row in _stages(int(input_size), depth, width, in_channels, n_classes, padding):
        flops[row.level] += _stage_flops(row)
        activations[row.level] += row.out_channels * row.out_size**2
        params[row.level] += _stage_params(row)
    return [
        UNetLevelCost(level, flops[level], _BYTES_PER_FLOAT32 * activations[level], params[level])
        for level in range(depth + 1)
    ]


# ---------------------------------------------------------------------------------------------
# The PyTorch model


@functools.cache
def _unet_class():
    """The ``UNet`` module class, defined on first use so that importing this module does not
    import torch. It is published as ``lapenna_labs.unet.UNet`` so that pickling finds it."""
    torch = _import_torch("make_unet")
    nn = torch.nn
    F = torch.nn.functional

    def double_conv(c_in: int, c_out: int, pad: int, batch_norm: bool) -> nn.Sequential:
        layers: list[nn.Module] = []
        for c in (c_in, c_out):
            layers.append(nn.Conv2d(c, c_out, kernel_size=3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU(inplace=True))
        return nn.Sequential(*layers)

    class UNet(nn.Module):
        """U-Net (Ronneberger et al. 2015); see :func:`lapenna_labs.unet.make_unet`."""

        def __init__(
            self,
            in_channels: int,
            n_classes: int,
            depth: int,
            width: int,
            padding: str,
            batch_norm: bool,
        ) -> None:
            super().__init__()
            self.in_channels, self.n_classes = in_channels, n_classes
            self.depth, self.width, self.padding = depth, width, padding
            self.batch_norm = batch_norm
            pad = 1 if padding == "same" else 0
            channels = [width * 2**level for level in range(depth + 1)]
            self.down = nn.ModuleList()
            c_in = in_channels
            for c in channels[:-1]:
                self.down.append(double_conv(c_in, c, pad, batch_norm))
                c_in = c
            self.bottleneck = double_conv(c_in, channels[-1], pad, batch_norm)
            self.up = nn.ModuleList()
            self.up_convs = nn.ModuleList()
            for level in range(depth - 1, -1, -1):
                c = channels[level]
                self.up.append(nn.ConvTranspose2d(2 * c, c, kernel_size=2, stride=2))
                self.up_convs.append(double_conv(2 * c, c, pad, batch_norm))
            self.head = nn.Conv2d(width, n_classes, kernel_size=1)

        def forward(self, x):
            skips = []
            for block in self.down:
                x = block(x)
                skips.append(x)
                x = F.max_pool2d(x, 2)
            x = self.bottleneck(x)
            for up, block, skip in zip(self.up, self.up_convs, reversed(skips), strict=True):
                x = up(x)
                h, w = x.shape[-2:]
                top, left = (skip.shape[-2] - h) // 2, (skip.shape[-1] - w) // 2
                # The skip's channels first, as lapenna_labs.conv.crop_and_concat stacks them.
                x = torch.cat([skip[..., top : top + h, left : left + w], x], dim=1)
                x = block(x)
            return self.head(x)

        def extra_repr(self) -> str:
            return (
                f"depth={self.depth}, width={self.width}, padding={self.padding!r}, "
                f"batch_norm={self.batch_norm}"
            )

    UNet.__module__ = __name__
    globals()["UNet"] = UNet
    return UNet


def make_unet(
    in_channels: int = 1,
    n_classes: int = 11,
    depth: int = 3,
    width: int = 16,
    padding: str = "same",
    *,
    batch_norm: bool = False,
    seed: int | None = 0,
):
    """A U-Net as a ``torch.nn.Module`` mapping (N, C, H, W) images to (N, K, H', W') logits.

    Parameters
    ----------
    in_channels : int, default 1
        Channels C of the input images.
    n_classes : int, default 11
        Classes K (the digit segmentation set's 11: background and ten digits).
    depth : int, default 3
        Number of 2x2 max-pool downsamplings (the paper: 4).
    width : int, default 16
        Channels of level 0, doubled at every level (the paper: 64).
    padding : {"same", "valid"}, default "same"
        Zero-padded 3x3 convolutions (H' = H, for H and W divisible by ``2**depth``) or the
        paper's unpadded ones (H' = :func:`unet_output_size` (H), with crop-and-concat skips).
    batch_norm : bool, default False
        Put a ``BatchNorm2d`` after every 3x3 convolution (and drop its bias). Off by default:
        the paper has none, and small models train well without.
    seed : int or None, default 0
        Seed of the weights' initialisation (PyTorch's defaults), drawn in a forked random
        state so that the global one is untouched; None draws from the global state.

    Returns
    -------
    torch.nn.Module
        A ``UNet`` with ``down`` (encoder levels), ``bottleneck``, ``up`` (transposed
        convolutions), ``up_convs`` (decoder levels) and ``head`` submodules; its ``depth``,
        ``width``, ``padding``, ``in_channels`` and ``n_classes`` attributes record the
        configuration. Its layers follow :func:`unet_shapes` row by row.

    Raises
    ------
    ValueError
        For a depth, width, channel count or class count below 1, or an unknown padding.
    RuntimeError
        If PyTorch is not installed.

    Examples
    --------
    >>> import torch
    >>> model = make_unet(in_channels=1, n_classes=11, depth=2, width=8)
    >>> model(torch.zeros(3, 1, 32, 32)).shape
    torch.Size([3, 11, 32, 32])
    """
    func = "make_unet"
    depth, padding, width, in_channels, n_classes = _check_network(
        depth, padding, width, in_channels, n_classes, func
    )
    if not isinstance(batch_norm, (bool, np.bool_)):
        raise ValueError(f"{func}: batch_norm must be True or False, got {batch_norm!r}")
    if seed is not None:
        seed = check_nonnegative_int(seed, name="seed", func=func)
    torch = _import_torch(func)
    UNet = _unet_class()
    if seed is None:
        return UNet(in_channels, n_classes, depth, width, padding, bool(batch_norm))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet(in_channels, n_classes, depth, width, padding, bool(batch_norm))


# ---------------------------------------------------------------------------------------------
# Training and prediction


def _check_model(model: Any, func: str):
    return check_module(model, func, "make_unet")


def _check_images(model: Any, images: Any, func: str) -> tuple[np.ndarray, tuple[int, int]]:
    """Images as C-contiguous float32 (N, C, H, W) and the logits' (H', W') for this model."""
    images = check_images(model, images, func)
    out_hw = tuple(images.shape[2:])
    depth, padding = getattr(model, "depth", None), getattr(model, "padding", None)
    if depth is not None and padding in PADDINGS:
        out_hw = tuple(
            _output_size(int(n), depth, padding, func, what=f"image {axis}")
            for n, axis in zip(images.shape[2:], ("height", "width"), strict=True)
        )
    return images, out_hw


def _check_masks(
    model: Any, masks: Any, n: int, in_hw: tuple[int, int], out_hw: tuple[int, int], func: str
) -> np.ndarray:
    """Masks as int64 (N, H', W'); masks of the input's size are centre-cropped to H', W'."""
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[0] != n:
        raise ValueError(
            f"{func}: masks must have shape (N, H, W) with N = {n} images, got {masks.shape}"
        )
    if not np.issubdtype(masks.dtype, np.integer):
        raise ValueError(f"{func}: masks must hold integer class labels, got {masks.dtype}")
    hw = tuple(masks.shape[1:])
    if hw == in_hw and hw != out_hw:
        # Valid padding: the logits cover the centre of the input (the paper's output tile).
        top, left = (in_hw[0] - out_hw[0]) // 2, (in_hw[1] - out_hw[1]) // 2
        masks = masks[:, top : top + out_hw[0], left : left + out_hw[1]]
    elif hw != out_hw:
        raise ValueError(
            f"{func}: masks are {hw[0]} x {hw[1]} but the model outputs {out_hw[0]} x "
            f"{out_hw[1]} logits for {in_hw[0]} x {in_hw[1]} images (give masks of either size)"
        )
    n_classes = getattr(model, "n_classes", None)
    low, high = int(masks.min()), int(masks.max())
    if low < 0 or (n_classes is not None and high >= n_classes):
        raise ValueError(
            f"{func}: masks must hold classes 0..{'K-1' if n_classes is None else n_classes - 1}"
            f", got values from {low} to {high}"
        )
    return np.ascontiguousarray(masks, dtype=np.int64)


def train_unet(
    model: Any,
    images: Any,
    masks: Any,
    *,
    epochs: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, list[float]]:
    r"""Train a segmentation model with Adam on the pixel cross-entropy; the model changes.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`make_unet` (or any module mapping (N, C, H, W) to (N, K, H', W') logits).
        It is moved to `device` and left there, in training mode.
    images : array_like of float, shape (N, C, H, W)
        Training images (float32 in [0, 1]; other float dtypes are converted).
    masks : array_like of int, shape (N, H, W) or (N, H', W')
        Class labels 0..K-1 per pixel. With ``padding="valid"`` masks of the input's size are
        centre-cropped to the logits' size H' x W'.
    epochs : int, default 5
        Passes over the data.
    batch_size : int, default 32
        Images per Adam step; the last batch of an epoch may be smaller.
    lr : float, default 1e-3
        Adam's learning rate (its other settings are PyTorch's defaults).
    seed : int, default 0
        Seeds the shuffling (a NumPy generator) and torch's random state, forked so that the
        global state is untouched.
    device : {"cpu", "cuda", "cuda:N"}, default "cpu"
        Where to train. The data stay on the host and go to the device one batch at a time.
    progress : bool, default True
        Show a tqdm progress bar (one tick per batch, the last epoch's loss as postfix).

    Returns
    -------
    dict
        ``{"loss": [...]}``: the mean pixel cross-entropy of each epoch (over its batches,
        weighted by their sizes, measured during training).

    Raises
    ------
    ValueError
        For images that are not a 4-D float array with the model's channels and an accepted
        size, masks of the wrong shape, dtype or range, non-positive settings, or a loss
        that becomes NaN or infinite (training diverged).
    RuntimeError
        If PyTorch is missing, or CUDA is asked for and not available.

    Notes
    -----
    The loss is ``torch.nn.functional.cross_entropy`` of the (N, K, H', W') logits against
    the (N, H', W') masks, the mean over every pixel of the batch of
    :math:`-\log \operatorname{softmax}(z_{n,:,i,j})_{y_{nij}}`, which is
    :func:`lapenna_labs.segmentation.pixel_softmax_cross_entropy`. On the GPU, cuDNN's
    convolution algorithms may make runs differ in the last bits.

    For example (one measurement on one CPU thread, not a promise), ``make_unet(depth=2,
    width=8)`` trained with ``epochs=8, batch_size=16, lr=5e-3, seed=0`` on 3,000 scenes of
    ``make_digit_segmentation(canvas_size=32)`` reached a mean IoU of 0.57 over the 11
    classes on 500 test scenes (week 8's chapter); with ``batch_size=32, lr=3e-3`` it reached
    0.38. About 37 s of CPU time.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = rng.random((8, 1, 16, 16), dtype=np.float32)
    >>> masks = (images[:, 0] > 0.5).astype(np.int64)  # learn a threshold
    >>> model = make_unet(n_classes=2, depth=2, width=4)
    >>> history = train_unet(model, images, masks, epochs=2, batch_size=4, progress=False)
    >>> len(history["loss"])
    2
    """
    func = "train_unet"
    torch = _check_model(model, func)
    settings = check_training_settings(epochs, batch_size, lr, seed, progress, func)
    target = torch_device(torch, device, func)
    images, out_hw = _check_images(model, images, func)
    masks = _check_masks(model, masks, len(images), tuple(images.shape[2:]), out_hw, func)
    data = {"images": torch.from_numpy(images), "masks": torch.from_numpy(masks)}

    def pixel_cross_entropy(model, batch):
        return torch.nn.functional.cross_entropy(model(batch["images"]), batch["masks"])

    return train_with_adam(
        torch, model, data, pixel_cross_entropy, **settings._asdict(), device=target, func=func
    )


def predict_masks(
    model: Any, images: Any, *, batch_size: int = 256, device: str = "cpu"
) -> np.ndarray:
    """The most likely class of every pixel: ``argmax`` of the model's logits over classes.

    Parameters
    ----------
    model : torch.nn.Module
        From :func:`make_unet`. It is moved to `device`, run in eval mode without gradients,
        and put back in the mode (train or eval) it was in.
    images : array_like of float, shape (N, C, H, W)
        Images (float32 in [0, 1]; other float dtypes are converted).
    batch_size : int, default 256
        Images per forward pass (bounds the memory of the logits).
    device : {"cpu", "cuda", "cuda:N"}, default "cpu"
        Where to run.

    Returns
    -------
    ndarray of int64, shape (N, H', W')
        Class labels; H' x W' is the logits' size (H x W with ``padding="same"``, the
        centre tile :func:`unet_output_size` gives with ``padding="valid"``).

    Raises
    ------
    ValueError
        For images that are not a 4-D float array with the model's channels and an accepted
        size, or a non-positive batch size.
    RuntimeError
        If PyTorch is missing, or CUDA is asked for and not available.

    Examples
    --------
    >>> import numpy as np
    >>> model = make_unet(n_classes=3, depth=2, width=4, padding="valid")
    >>> predict_masks(model, np.zeros((2, 1, 44, 44), np.float32)).shape
    (2, 4, 4)
    """
    func = "predict_masks"
    torch = _check_model(model, func)
    batch_size = check_positive_int(batch_size, name="batch_size", func=func)
    target = torch_device(torch, device, func)
    images, _ = _check_images(model, images, func)
    parts = run_in_batches(
        torch,
        model,
        images,
        lambda logits: logits.argmax(dim=1).cpu(),
        batch_size=batch_size,
        device=target,
    )
    return torch.cat(parts).numpy().astype(np.int64, copy=False)
