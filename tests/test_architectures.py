"""Tests for lapenna_labs.architectures: totals against the published torchvision figures and
against networks built by hand in PyTorch here (LeNet-5 and ResNet-18; torchvision does not
load), whose MACs are FlopCounterMode's total / 2 (conv + linear only; pools, ReLU, BN and the
residual adds are excluded on both sides, FlopCounterMode does not count them)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lapenna_labs.architectures import ARCHITECTURES, architecture

pytestmark = pytest.mark.lab7

# torchvision's model docs: params and "GFLOPS" (which are GMACs of conv + linear).
PUBLISHED = {
    "alexnet": (61_100_840, 0.71),
    "vgg16": (138_357_544, 15.47),
    "resnet18": (11_689_512, 1.81),
    "resnet50": (25_557_032, 4.09),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_totals(name):
    params, gmacs = PUBLISHED[name]
    a = architecture(name)
    assert a.total_params == params
    assert round(a.total_macs / 1e9, 2) == gmacs
    assert a.total_flops == 2 * a.total_macs


def _lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


class _Basic(nn.Module):
    def __init__(self, cin, cout, s):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, s, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.down = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, s, bias=False), nn.BatchNorm2d(cout))
            if s != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x):
        return torch.relu(self.body(x) + self.down(x))


def _resnet18():
    layers = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for i, w in enumerate([64, 128, 256, 512]):
        for j in range(2):
            layers.append(_Basic(cin, w, 2 if i and not j else 1))
            cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize(
    ("name", "build", "size"),
    [("lenet5", _lenet5, (1, 1, 32, 32)), ("resnet18", _resnet18, (1, 3, 224, 224))],
)
def test_against_torch_built_networks(name, build, size):
    model = build().eval()
    a = architecture(name)
    assert a.total_params == sum(p.numel() for p in model.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(torch.zeros(size))
    assert a.total_macs * 2 == counter.get_total_flops()
    assert a.layers[-1].out_shape == tuple(out.shape[1:])


def test_table_and_errors():
    df = architecture("lenet5").table()
    assert list(df["kind"]) == ["conv", "pool", "conv", "pool", "fc", "fc", "fc"]
    assert set(ARCHITECTURES) == {"lenet5", "alexnet", "vgg16", "resnet18", "resnet50"}
    with pytest.raises(ValueError, match="unknown name"):
        architecture("resnet152")


def test_keras_vgg16_and_resnet50_params():
    keras = pytest.importorskip("keras")
    assert keras.applications.VGG16(weights=None).count_params() == vgg_params()
    # Keras's ResNet50 (25,636,712) gives every conv a bias (torchvision's have none), and its
    # count_params includes BN's moving mean and variance (buffers in PyTorch): every conv is
    # followed by a BN of as many channels, so Keras = ours + 3 * (conv output channels).
    r50 = architecture("resnet50")
    conv_biases = sum(r.out_shape[0] for r in r50.layers if r.kind == "conv")
    assert keras.applications.ResNet50(weights=None).count_params() == 25_636_712
    assert r50.total_params + 3 * conv_biases == 25_636_712


def vgg_params():
    return architecture("vgg16").total_params
