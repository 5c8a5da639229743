"""Tests for lapenna_labs.schedules against torch.optim.lr_scheduler, step by step."""

from __future__ import annotations

import numpy as np
import pytest

from lapenna_labs.schedules import cosine_decay, exponential_decay, step_decay

pytestmark = pytest.mark.lab4

torch = pytest.importorskip("torch")


def torch_rates(make_scheduler, lr0: float, steps: int) -> list[float]:
    """The learning rate torch's scheduler sets at steps 0 .. steps - 1."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    scheduler = make_scheduler(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def test_step_decay_is_torch_step_lr():
    expected = torch_rates(
        lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.3), 0.2, 40
    )
    np.testing.assert_allclose(step_decay(np.arange(40), lr0=0.2, drop=0.3, every=7), expected)


def test_exponential_decay_is_torch_exponential_lr():
    expected = torch_rates(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.95), 0.1, 60)
    np.testing.assert_allclose(exponential_decay(np.arange(60), lr0=0.1, rate=0.95), expected)


def test_cosine_decay_is_torch_cosine_annealing_until_its_end():
    total = 50
    expected = torch_rates(
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=1e-3),
        0.1,
        total + 1,
    )
    got = cosine_decay(np.arange(total + 1), lr0=0.1, total_steps=total, lr_min=1e-3)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_cosine_decay_stays_at_the_minimum_after_its_end():
    # torch's CosineAnnealingLR would climb back (a warm restart); this schedule stops
    after = cosine_decay(np.arange(10, 20), lr0=1.0, total_steps=10, lr_min=0.05)
    np.testing.assert_allclose(after, 0.05)


def test_a_single_step_gives_a_float_and_an_array_gives_an_array():
    assert isinstance(step_decay(3, lr0=0.1), float)
    assert isinstance(exponential_decay(np.int64(3), lr0=0.1, rate=0.5), float)
    assert cosine_decay([0, 1], lr0=0.1, total_steps=2).shape == (2,)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: step_decay(-1, lr0=0.1), "step_decay: t must be a non-negative integer"),
        (lambda: step_decay(1.5, lr0=0.1), "step_decay: t must be"),
        (lambda: step_decay(1, lr0=0.0), "step_decay: lr0 must be a number > 0"),
        (
            lambda: step_decay(1, lr0=0.1, drop=1.5),
            r"step_decay: drop must be a number in \(0, 1\]",
        ),
        (lambda: step_decay(1, lr0=0.1, every=0), "step_decay: every must be a positive integer"),
        (lambda: exponential_decay(1, lr0=0.1, rate="x"), "exponential_decay: rate must be"),
        (
            lambda: cosine_decay(1, lr0=0.1, total_steps=0),
            "cosine_decay: total_steps must be a positive integer",
        ),
        (
            lambda: cosine_decay(1, lr0=0.1, total_steps=5, lr_min=0.2),
            r"cosine_decay: lr_min must be in \[0, lr0\]",
        ),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
