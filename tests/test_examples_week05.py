"""Week 5's worked examples against torch and against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lapenna_labs.examples import week05

pytestmark = pytest.mark.lab5


def test_conv_by_hand_matches_torch():
    x = torch.tensor(week05.HAND_INPUT.copy())[None, None]
    k = torch.tensor(week05.HAND_KERNEL.copy())[None, None]
    expected = torch.nn.functional.conv2d(x, k).numpy()[0, 0]
    np.testing.assert_allclose(week05.conv_by_hand()["out"], expected, rtol=0, atol=1e-12)


def test_conv_by_hand_random_matches_torch(rng):
    x, k = rng.normal(size=(7, 6)), rng.normal(size=(3, 2))
    expected = torch.nn.functional.conv2d(torch.tensor(x)[None, None], torch.tensor(k)[None, None])
    out = week05.conv_by_hand(x, k, 0.5)["out"]
    np.testing.assert_allclose(out, expected.numpy()[0, 0] + 0.5, rtol=1e-12, atol=1e-12)


def test_conv_by_hand_rejects_large_kernel():
    with pytest.raises(ValueError, match="conv_by_hand"):
        week05.conv_by_hand(np.zeros((2, 2)), np.zeros((3, 3)))


def _brute_force_receptive_field(layers, size=64):
    """Which input pixels change the centre output: propagate a 1-D gradient with torch."""
    x = torch.zeros(1, 1, size, dtype=torch.float64, requires_grad=True)
    y = x
    for kernel, stride in layers:
        y = torch.nn.functional.conv1d(
            y, torch.ones(1, 1, kernel, dtype=torch.float64), stride=stride
        )
    y[0, 0, y.shape[-1] // 2].backward()
    nz = torch.nonzero(x.grad[0, 0]).ravel()
    return int(nz.max() - nz.min() + 1)


@pytest.mark.parametrize(
    "layers", [[(3, 1)] * 4, [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)], [(5, 2), (3, 1)]]
)
def test_receptive_field_matches_gradient(layers):
    assert week05.receptive_field(layers)[-1] == _brute_force_receptive_field(layers)
