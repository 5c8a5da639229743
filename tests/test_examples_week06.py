"""Week 6's worked example against PyTorch autograd and against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lapenna_labs.examples import week06
from lapenna_labs.gradcheck import numerical_gradient, relative_error

pytestmark = pytest.mark.lab6

PARAMETERS = ("x", "w", "b", "V", "c")
DEFAULTS = {
    "x": week06.EXAMPLE_INPUT,
    "w": week06.EXAMPLE_FILTERS,
    "b": week06.EXAMPLE_CONV_BIAS,
    "V": week06.EXAMPLE_DENSE_WEIGHTS,
    "c": week06.EXAMPLE_DENSE_BIAS,
}


def _torch_network(values: dict[str, np.ndarray], labels: np.ndarray, pool: int = 2) -> dict:
    """The same network in torch (float64), every intermediate and every gradient."""
    leaves = {k: torch.tensor(np.array(v), requires_grad=True) for k, v in values.items()}
    F = torch.nn.functional
    z = F.conv2d(leaves["x"], leaves["w"], leaves["b"])
    a = F.relu(z)
    p = F.max_pool2d(a, pool)
    f = torch.flatten(p, 1)
    logits = f @ leaves["V"] + leaves["c"]
    loss = F.cross_entropy(logits, torch.tensor(np.array(labels)))
    intermediates = {"z": z, "a": a, "p": p, "f": f, "logits": logits}
    for t in intermediates.values():
        t.retain_grad()
    loss.backward()
    out = {k: t.detach().numpy() for k, t in intermediates.items()}
    out["probs"] = torch.softmax(logits, dim=1).detach().numpy()
    out["loss"] = float(loss.detach())
    for k, t in intermediates.items():
        out["d" + k] = t.grad.numpy()
    for k, t in leaves.items():
        out["d" + k] = t.grad.numpy()
    return out


def _random_network(
    rng: np.random.Generator, n: int, c: int, size: int, filters: int, kernel: int, classes: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    pooled = (size - kernel + 1) // 2
    values = {
        "x": rng.standard_normal((n, c, size, size)),
        "w": rng.standard_normal((filters, c, kernel, kernel)),
        "b": rng.standard_normal(filters),
        "V": rng.standard_normal((filters * pooled * pooled, classes)),
        "c": rng.standard_normal(classes),
    }
    return values, rng.integers(0, classes, size=n)


KEYS = (
    "z",
    "a",
    "p",
    "f",
    "logits",
    "probs",
    "dlogits",
    "df",
    "dp",
    "da",
    "dz",
    "dx",
    "dw",
    "db",
    "dV",
    "dc",
)


def test_worked_example_matches_torch_autograd():
    got = week06.worked_example()
    want = _torch_network(DEFAULTS, week06.EXAMPLE_LABELS)
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-13)
    for key in KEYS:
        assert got[key].shape == want[key].shape, key
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-14, err_msg=key)


@pytest.mark.parametrize("case", [(2, 1, 6, 3, 3, 4), (3, 2, 7, 2, 2, 5)], ids=["N2-K3", "N3-C2"])
def test_random_networks_match_torch_autograd(rng, case):
    values, labels = _random_network(rng, *case)
    got = week06.worked_example(**values, labels=labels)
    want = _torch_network(values, labels)
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-12)
    for key in KEYS:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-12, err_msg=key)


def _numerical_gradients(values: dict[str, np.ndarray], labels: np.ndarray) -> dict:
    """Central differences of the loss with respect to each parameter (forward passes only)."""
    arrays = {k: np.array(v, dtype=np.float64) for k, v in values.items()}

    def loss(_: np.ndarray) -> float:
        # numerical_gradient perturbs one of `arrays` in place; the forward reads them all.
        return week06.worked_example(**arrays, labels=labels)["loss"]

    return {"d" + k: numerical_gradient(loss, arrays[k], h=1e-6) for k in PARAMETERS}


def test_random_network_matches_finite_differences(rng):
    values, labels = _random_network(rng, 2, 1, 6, 2, 3, 3)
    got = week06.worked_example(**values, labels=labels)
    numeric = _numerical_gradients(values, labels)
    for key, value in numeric.items():
        assert relative_error(got[key], value) < 1e-7, key


def test_example_dense_gradients_match_finite_differences():
    # The dense layer sits after every kink and tie, so its gradients are smooth in V and c.
    got = week06.worked_example()
    numeric = _numerical_gradients(DEFAULTS, week06.EXAMPLE_LABELS)
    for key in ("dV", "dc"):
        assert relative_error(got[key], numeric[key]) < 1e-8, key


def test_example_has_the_kinks_and_the_tie_it_is_chosen_for():
    ex = week06.worked_example()
    assert np.count_nonzero(ex["z"] == 0) == 3
    # Channel 0's bottom-right window holds 0.5 twice: the first (row-major) takes it all.
    window = ex["a"][0, 0, 2:4, 2:4]
    assert np.count_nonzero(window == window.max()) == 2
    assert ex["da"][0, 0, 2, 2] == ex["dp"][0, 0, 1, 1] != 0
    assert ex["da"][0, 0, 3, 3] == 0


def test_finite_differences_see_half_of_the_kink_autograd_ignores():
    # Channel 0's top-right window is all zeros after the ReLU, one of them from z = 0
    # exactly. Raising b[0] by h makes that entry h and the window's maximum, so the loss
    # moves by dp[0, 0, 0, 1] h; lowering it changes nothing there. The central difference
    # averages the two sides (half of dp[0, 0, 0, 1]); autograd takes the ReLU's
    # subgradient 0. Filter 1 has no kink in a winning position: there they agree.
    ex = week06.worked_example()
    numeric = _numerical_gradients(DEFAULTS, week06.EXAMPLE_LABELS)
    assert numeric["db"][0] - ex["db"][0] == pytest.approx(ex["dp"][0, 0, 0, 1] / 2, rel=1e-6)
    assert numeric["db"][1] == pytest.approx(ex["db"][1], rel=1e-8)
    np.testing.assert_allclose(numeric["dw"][1], ex["dw"][1], rtol=1e-7, atol=1e-9)


def test_constants_are_read_only():
    for array in DEFAULTS.values():
        with pytest.raises(ValueError):
            array[(0,) * array.ndim] = 1.0
    with pytest.raises(ValueError):
        week06.EXAMPLE_LABELS[0] = 0


def test_worked_example_rejects_mismatched_dense_weights():
    with pytest.raises(ValueError, match="dense_forward"):
        week06.worked_example(V=np.zeros((7, 3)))
