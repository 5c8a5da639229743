"""Per-layer parameters and multiply-adds of LeNet-5, AlexNet, VGG-16, ResNet-18 and ResNet-50.

MACs are multiply-adds of the conv and fully connected layers only (pools, ReLU, BN and the
residual adds are 0 here); flops = 2 MACs, FlopCounterMode's convention. BN's gamma and beta are
parameters, its running statistics buffers, as in PyTorch. Inputs: LeNet-5 1x32x32 (C3 fully
connected, no trainable subsampling, fc output instead of RBF); the others 3x224x224 with the
torchvision layouts (AlexNet 64-192-384-256-256, ResNet v1.5: stride on the 3x3 conv).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lapenna_labs.conv._geometry import output_size

__all__ = ["ARCHITECTURES", "Architecture", "LayerCount", "architecture"]


@dataclass(frozen=True)
class LayerCount:
    """One row: name, kind, output shape (C, H, W) or (features,), params, MACs, flops, GEMM
    shape (M, K, N) at batch 1 for conv and fc (None otherwise)."""

    name: str
    kind: str
    out_shape: tuple[int, ...]
    params: int
    macs: int
    flops: int
    gemm: tuple[int, int, int] | None


@dataclass
class Architecture:
    """A network's rows, with totals and :meth:`table`."""

    name: str
    input_shape: tuple[int, int, int]
    layers: list[LayerCount] = field(default_factory=list)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.layers)

    @property
    def total_flops(self) -> int:
        return 2 * self.total_macs

    def table(self):
        """A pandas DataFrame of the rows (a list of dicts when pandas is missing)."""
        rows = [r.__dict__.copy() for r in self.layers]
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows)


class _Builder:
    def __init__(self, name: str, shape: tuple[int, int, int]) -> None:
        self.arch = Architecture(name, shape)
        self.shape: tuple[int, ...] = shape

    def _add(self, name, kind, shape, params=0, macs=0, gemm=None):
        self.arch.layers.append(LayerCount(name, kind, shape, params, macs, 2 * macs, gemm))
        self.shape = shape

    def conv(self, name, f, k, s=1, p=0, bias=True, bn=False, shape=None):
        c, h, w = shape or self.shape
        oh, ow = output_size(h, k, s, p), output_size(w, k, s, p)
        kk = c * k * k
        self._add(
            name,
            "conv",
            (f, oh, ow),
            f * kk + (f if bias else 0),
            oh * ow * kk * f,
            (oh * ow, kk, f),
        )
        if bn:
            self._add(name + ".bn", "bn", self.shape, 2 * f)

    def pool(self, name, k, s, p=0, out=None):
        c, h, w = self.shape
        if out is not None:
            self._add(name, "pool", (c, out, out))
        else:
            self._add(name, "pool", (c, output_size(h, k, s, p), output_size(w, k, s, p)))

    def fc(self, name, n):
        d = 1
        for v in self.shape:
            d *= v
        self._add(name, "fc", (n,), d * n + n, d * n, (1, d, n))


def lenet5() -> Architecture:
    b = _Builder("lenet5", (1, 32, 32))
    b.conv("c1", 6, 5)
    b.pool("s2", 2, 2)
    b.conv("c3", 16, 5)
    b.pool("s4", 2, 2)
    b.fc("f5", 120)
    b.fc("f6", 84)
    b.fc("output", 10)
    return b.arch


def alexnet() -> Architecture:
    b = _Builder("alexnet", (3, 224, 224))
    b.conv("conv1", 64, 11, 4, 2)
    b.pool("pool1", 3, 2)
    b.conv("conv2", 192, 5, 1, 2)
    b.pool("pool2", 3, 2)
    b.conv("conv3", 384, 3, 1, 1)
    b.conv("conv4", 256, 3, 1, 1)
    b.conv("conv5", 256, 3, 1, 1)
    b.pool("pool5", 3, 2)
    b.pool("avgpool", 0, 0, out=6)
    b.fc("fc6", 4096)
    b.fc("fc7", 4096)
    b.fc("fc8", 1000)
    return b.arch


def vgg16() -> Architecture:
    b = _Builder("vgg16", (3, 224, 224))
    for i, (f, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for j in range(1, n + 1):
            b.conv(f"conv{i}_{j}", f, 3, 1, 1)
        b.pool(f"pool{i}", 2, 2)
    b.pool("avgpool", 0, 0, out=7)
    b.fc("fc6", 4096)
    b.fc("fc7", 4096)
    b.fc("fc8", 1000)
    return b.arch


def _resnet(name: str, blocks: list[int], bottleneck: bool) -> Architecture:
    b = _Builder(name, (3, 224, 224))
    b.conv("conv1", 64, 7, 2, 3, bias=False, bn=True)
    b.pool("maxpool", 3, 2, 1)
    exp = 4 if bottleneck else 1
    for stage, (width, n) in enumerate(zip([64, 128, 256, 512], blocks, strict=True), 1):
        for i in range(n):
            s = 2 if stage > 1 and i == 0 else 1
            x = b.shape
            p = f"layer{stage}.{i}"
            if bottleneck:
                b.conv(p + ".conv1", width, 1, bias=False, bn=True)
                b.conv(p + ".conv2", width, 3, s, 1, bias=False, bn=True)
                b.conv(p + ".conv3", width * exp, 1, bias=False, bn=True)
            else:
                b.conv(p + ".conv1", width, 3, s, 1, bias=False, bn=True)
                b.conv(p + ".conv2", width, 3, 1, 1, bias=False, bn=True)
            if s != 1 or x[0] != width * exp:
                out = b.shape
                b.conv(p + ".downsample", width * exp, 1, s, bias=False, bn=True, shape=x)
                assert b.shape == out
    b.pool("avgpool", 0, 0, out=1)
    b.fc("fc", 1000)
    return b.arch


def resnet18() -> Architecture:
    return _resnet("resnet18", [2, 2, 2, 2], False)


def resnet50() -> Architecture:
    return _resnet("resnet50", [3, 4, 6, 3], True)


ARCHITECTURES = {
    "lenet5": lenet5,
    "alexnet": alexnet,
    "vgg16": vgg16,
    "resnet18": resnet18,
    "resnet50": resnet50,
}


def architecture(name: str) -> Architecture:
    """The named network's counts (a key of `ARCHITECTURES`); ValueError on an unknown name.

    Examples
    --------
    >>> a = architecture("resnet50")
    >>> a.total_params, round(a.total_macs / 1e9, 2)
    (25557032, 4.09)
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"architecture: unknown name {name!r}; known: {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]()
