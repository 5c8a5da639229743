"""Tests for lapenna_labs.optim: every optimizer against an independent framework.

SGD, momentum, Nesterov and Adam are checked against ``torch.optim`` and Nadam against
``keras.optimizers.Nadam`` (Keras 3; its formulation is the one ``Nadam`` documents), over
50 steps on the same parameters. The gradients are those of a noisy quadratic evaluated at
each implementation's own current parameters, so the iterates (not just single updates)
must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lapenna_labs.optim import (
    OPTIMIZERS,
    SGD,
    Adam,
    Momentum,
    Nadam,
    Nesterov,
    Optimizer,
    get_optimizer,
)

pytestmark = pytest.mark.lab4

N_STEPS = 50
SHAPES = {"W1": (5, 3), "b1": (3,), "W2": (3, 2), "b2": (2,)}

# Iterates accumulate rounding over 50 steps, so these are looser than single-op tolerances.
ITERATE_TOL = {
    np.float32: {"rtol": 2e-5, "atol": 2e-6},
    np.float64: {"rtol": 1e-11, "atol": 1e-13},
}


def make_problem(dtype, seed: int = 0):
    """Initial params, per-parameter curvature/targets and a noise sequence for the grads."""
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    curvature = {k: rng.uniform(0.5, 2.0, s).astype(dtype) for k, s in SHAPES.items()}
    target = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    noise = [
        {k: (0.3 * rng.standard_normal(s)).astype(dtype) for k, s in SHAPES.items()}
        for _ in range(N_STEPS)
    ]
    return params, curvature, target, noise


def quadratic_grad(theta, curvature, target, noise):
    """Gradient of sum(curvature/2 (theta - target)^2) plus a noise term (a 'mini-batch')."""
    return curvature * (theta - target) + noise


def run_ours(opt: Optimizer, dtype) -> list[dict[str, np.ndarray]]:
    params, curvature, target, noise = make_problem(dtype)
    history = []
    for step in range(N_STEPS):
        grads = {
            k: quadratic_grad(params[k], curvature[k], target[k], noise[step][k]) for k in params
        }
        opt.step(params, grads)
        history.append({k: v.copy() for k, v in params.items()})
    return history


def run_torch(make_opt, dtype) -> list[dict[str, np.ndarray]]:
    torch = pytest.importorskip("torch")
    params, curvature, target, noise = make_problem(dtype)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    # torch.optim keeps its step counter (and so NAdam's momentum schedule) in the default
    # dtype, float32 unless changed; float64 runs need it in float64 too.
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    try:
        opt = make_opt(list(tparams.values()))
        history = []
        for step in range(N_STEPS):
            for k, p in tparams.items():
                theta = p.detach().numpy()
                grad = quadratic_grad(theta, curvature[k], target[k], noise[step][k])
                p.grad = torch.from_numpy(grad)
            opt.step()
            history.append({k: p.detach().numpy().copy() for k, p in tparams.items()})
    finally:
        torch.set_default_dtype(default_dtype)
    return history


def run_keras(make_opt, dtype) -> list[dict[str, np.ndarray]]:
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    params, curvature, target, noise = make_problem(dtype)
    kvars = {k: keras.Variable(v, dtype=np.dtype(dtype).name, name=k) for k, v in params.items()}
    opt = make_opt(keras)
    history = []
    for step in range(N_STEPS):
        grads = [
            quadratic_grad(np.asarray(v), curvature[k], target[k], noise[step][k])
            for k, v in kvars.items()
        ]
        opt.apply_gradients(zip(grads, kvars.values(), strict=True))
        history.append({k: np.asarray(v).copy() for k, v in kvars.items()})
    return history


def assert_same_trajectory(ours, theirs, dtype, tol=None):
    tol = ITERATE_TOL[dtype] if tol is None else tol[dtype]
    assert len(ours) == len(theirs) == N_STEPS
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for k in SHAPES:
            assert a[k].dtype == np.dtype(dtype)
            np.testing.assert_allclose(a[k], b[k], **tol, err_msg=f"step {step + 1}, {k}")
    # The run must actually have moved the parameters, or the comparison proves nothing.
    start = make_problem(dtype)[0]
    assert max(np.abs(ours[-1][k] - start[k]).max() for k in SHAPES) > 0.1


# ---------------------------------------------------------------- against torch.optim


def test_sgd_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    ours = run_ours(SGD(lr=0.05), dtype)
    theirs = run_torch(lambda p: torch.optim.SGD(p, lr=0.05), dtype)
    assert_same_trajectory(ours, theirs, dtype)


def test_momentum_velocity_form_matches_torch(dtype):
    """Slides' v <- a v - lr g, theta <- theta + v equals torch's b <- a b + g, theta -= lr b."""
    torch = pytest.importorskip("torch")
    ours = run_ours(Momentum(lr=0.05, momentum=0.9), dtype)
    theirs = run_torch(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), dtype)
    assert_same_trajectory(ours, theirs, dtype)


def test_nesterov_matches_torch(dtype):
    """torch's nesterov=True steps theta -= lr (g + a b), with b <- a b + g, b = -v / lr."""
    torch = pytest.importorskip("torch")
    ours = run_ours(Nesterov(lr=0.05, momentum=0.9), dtype)
    theirs = run_torch(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True), dtype)
    assert_same_trajectory(ours, theirs, dtype)


@pytest.mark.parametrize(
    "hyper",
    [
        {"lr": 0.05},
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6},
    ],
    ids=["defaults-but-lr", "custom"],
)
def test_adam_matches_torch(dtype, hyper):
    torch = pytest.importorskip("torch")
    ours = run_ours(Adam(**hyper), dtype)
    lr, b1, b2, eps = (
        hyper["lr"],
        hyper.get("beta1", 0.9),
        hyper.get("beta2", 0.999),
        hyper.get("eps", 1e-8),
    )
    theirs = run_torch(lambda p: torch.optim.Adam(p, lr=lr, betas=(b1, b2), eps=eps), dtype)
    assert_same_trajectory(ours, theirs, dtype)


@pytest.mark.parametrize("momentum_decay", [0.004, 1.0], ids=["dozat-paper", "keras3"])
def test_nadam_matches_torch_nadam(dtype, momentum_decay):
    """torch.optim.NAdam computes the same step; its momentum_decay is our exponent scale."""
    torch = pytest.importorskip("torch")
    ours = run_ours(Nadam(lr=0.05, momentum_decay=momentum_decay), dtype)
    theirs = run_torch(
        lambda p: torch.optim.NAdam(p, lr=0.05, eps=1e-7, momentum_decay=momentum_decay), dtype
    )
    assert_same_trajectory(ours, theirs, dtype)


# ---------------------------------------------------------------- against Keras

# Keras turns Python-float hyperparameters and constants into float32 tensors before casting
# them to the variables' dtype (tf.cast of a Python float). The SGD tests use values float32
# represents exactly (2**-4, 3/4), so float64 is compared tightly; Nadam's schedule constant
# 0.96 cannot be chosen, so its float64 iterates carry float32 rounding (~1e-7 absolute).
KERAS_TOL = {np.float32: ITERATE_TOL[np.float32], np.float64: {"rtol": 1e-6, "atol": 1e-7}}


def test_nadam_matches_keras_nadam(dtype):
    """Nadam with its defaults (momentum_decay=1) is keras.optimizers.Nadam (Keras 3)."""
    ours = run_ours(Nadam(lr=0.05, beta1=0.9, beta2=0.999, eps=1e-7), dtype)
    theirs = run_keras(
        lambda keras: keras.optimizers.Nadam(
            learning_rate=0.05, beta_1=0.9, beta_2=0.999, epsilon=1e-7
        ),
        dtype,
    )
    assert_same_trajectory(ours, theirs, dtype, KERAS_TOL)


@pytest.mark.parametrize("cls,nesterov", [(Momentum, False), (Nesterov, True)])
def test_momentum_matches_keras_sgd(dtype, cls, nesterov):
    """Keras's SGD(momentum) is the slides' velocity form literally (v = a v - lr g)."""
    ours = run_ours(cls(lr=0.0625, momentum=0.75), dtype)
    theirs = run_keras(
        lambda keras: keras.optimizers.SGD(learning_rate=0.0625, momentum=0.75, nesterov=nesterov),
        dtype,
    )
    assert_same_trajectory(ours, theirs, dtype)


# ---------------------------------------------------------------- equations by hand


def test_momentum_two_steps_by_hand():
    """v1 = -lr g1, v2 = a v1 - lr g2, theta2 = theta0 + v1 + v2 (slides' Algorithm 2)."""
    lr, a = 0.1, 0.9
    theta0, g1, g2 = np.array([1.0, -2.0]), np.array([0.5, 1.0]), np.array([-1.0, 2.0])
    opt, params = Momentum(lr=lr, momentum=a), {"w": theta0.copy()}
    opt.step(params, {"w": g1})
    opt.step(params, {"w": g2})
    v1 = -lr * g1
    v2 = a * v1 - lr * g2
    np.testing.assert_allclose(opt.velocity["w"], v2, rtol=1e-15)
    np.testing.assert_allclose(params["w"], theta0 + v1 + v2, rtol=1e-15)
    assert opt.t == 2


def test_nesterov_is_sutskever_lookahead_form():
    """Tracking phi = theta + a v, Nesterov on a quadratic equals Sutskever et al.'s (3)-(4):
    v <- a v - lr grad(theta + a v); theta <- theta + v."""
    lr, a = 0.1, 0.9
    curvature = np.array([1.0, 3.0, 0.2])

    def grad(x):
        return curvature * (x - 1.0)

    theta, v = np.array([2.0, -1.0, 0.5]), np.zeros(3)
    params, opt = {"w": theta.copy()}, Nesterov(lr=lr, momentum=a)  # phi_0 = theta_0 (v_0 = 0)
    for _ in range(20):
        v = a * v - lr * grad(theta + a * v)
        theta = theta + v
        opt.step(params, {"w": grad(params["w"])})
        np.testing.assert_allclose(params["w"], theta + a * v, rtol=1e-12)
    np.testing.assert_allclose(opt.velocity["w"], v, rtol=1e-12)


def test_adam_bias_correction_first_step():
    """After one step m_hat = g and v_hat = g^2, so theta moves by lr g / (|g| + eps)."""
    g = np.array([3.0, -0.5, 1e-3])
    params, opt = {"w": np.zeros(3)}, Adam(lr=0.1, eps=1e-8)
    opt.step(params, {"w": g})
    np.testing.assert_allclose(params["w"], -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12)
    np.testing.assert_allclose(opt.m["w"], 0.1 * g, rtol=1e-15)
    np.testing.assert_allclose(opt.v["w"], 0.001 * g**2, rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    g=st.lists(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda x: abs(x) > 1e-3),
        min_size=1,
        max_size=8,
    ),
    lr=st.floats(min_value=1e-5, max_value=1.0),
)
def test_adam_first_step_is_bounded_by_lr(g, lr):
    """Kingma & Ba section 2.1: the effective step |Delta| <= alpha (here exactly at t=1)."""
    params = {"w": np.zeros(len(g))}
    Adam(lr=lr).step(params, {"w": np.array(g)})
    assert np.all(np.abs(params["w"]) <= lr * (1 + 1e-12))
    assert np.all(np.abs(params["w"]) >= lr * (1 - 1e-3))


@pytest.mark.parametrize("cls", [Momentum, Nesterov])
def test_zero_momentum_is_sgd(cls):
    params_a, _, _, noise = make_problem(np.float64)
    params_b = {k: v.copy() for k, v in params_a.items()}
    opt_a, opt_b = cls(lr=0.1, momentum=0.0), SGD(lr=0.1)
    for grads in noise[:5]:
        opt_a.step(params_a, grads)
        opt_b.step(params_b, grads)
    for k in SHAPES:
        np.testing.assert_allclose(params_a[k], params_b[k], rtol=1e-15)


# ---------------------------------------------------------------- in place, dtype, state


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_step_is_in_place_and_keeps_float32(name):
    params, _, _, noise = make_problem(np.float32)
    arrays_before = {k: id(v) for k, v in params.items()}
    start = {k: v.copy() for k, v in params.items()}
    opt = get_optimizer(name)
    for grads in noise[:3]:
        grads64 = {k: g.astype(np.float64) for k, g in grads.items()}  # dtype of params wins
        opt.step(params, grads64)
    for k, v in params.items():
        assert id(v) == arrays_before[k]
        assert v.dtype == np.float32
        assert not np.array_equal(v, start[k])
    assert opt.t == 3


def test_scratch_buffers_are_reused():
    params, _, _, noise = make_problem(np.float32)
    opt = Nadam()
    opt.step(params, noise[0])
    buffers = {k: [id(b) for b in bufs] for k, bufs in opt._scratch.items()}
    state = {k: id(a) for k, a in opt.m.items()}
    opt.step(params, noise[1])
    assert {k: [id(b) for b in bufs] for k, bufs in opt._scratch.items()} == buffers
    assert {k: id(a) for k, a in opt.m.items()} == state


def test_state_is_inspectable_and_reset():
    params, _, _, noise = make_problem(np.float64)
    opt = Adam()
    opt.step(params, noise[0])
    state = opt.state_dict()
    assert state["t"] == 1
    assert set(state["m"]) == set(state["v"]) == set(SHAPES)
    assert state["m"]["W1"].shape == SHAPES["W1"]
    state["m"]["W1"][...] = 123.0  # a copy: the optimizer's state is untouched
    assert not np.any(opt.m["W1"] == 123.0)
    opt.reset()
    assert opt.t == 0 and opt.m == {} and opt.v == {}
    nadam = Nadam()
    nadam.step(params, noise[0])
    assert nadam.state_dict()["mu_product"] == pytest.approx(0.9 * (1 - 0.5 * 0.96))
    nadam.reset()
    assert nadam.mu_product == 1.0


def test_get_optimizer():
    assert isinstance(get_optimizer("SGD", lr=0.5), SGD)
    assert get_optimizer("momentum", momentum=0.5).momentum == 0.5
    opt = Nadam()
    assert get_optimizer(opt) is opt
    assert Adam().lr == 0.001 and Adam().beta2 == 0.999 and Adam().eps == 1e-8
    assert Nadam().lr == 0.002 and Nadam().eps == 1e-7
    assert "Adam(lr=0.001" in repr(Adam())


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: get_optimizer("adagrad"), r"get_optimizer: unknown optimizer 'adagrad'.*'adam'"),
        (lambda: get_optimizer(Adam(), lr=0.1), "instance and keyword arguments"),
        (lambda: get_optimizer("sgd", momentum=0.9), "bad arguments for SGD"),
        (lambda: get_optimizer(3), "expected an optimizer name or instance"),
        (lambda: SGD(lr=-0.1), r"SGD: lr must be > 0"),
        (lambda: SGD(lr=float("nan")), "SGD: lr must be finite"),
        (lambda: Momentum(momentum=1.0), r"Momentum: momentum must be in \[0, 1\)"),
        (lambda: Adam(beta2=1.5), r"Adam: beta2 must be in \[0, 1\)"),
        (lambda: Adam(eps=0), "Adam: eps must be > 0"),
        (lambda: Nadam(lr="fast"), "Nadam: lr must be a number"),
    ],
)
def test_bad_hyperparameters(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "params,grads,match",
    [
        ({"w": np.zeros(3)}, {}, r"Adam.step: grads has no entry for parameter\(s\) \['w'\]"),
        (
            {"w": np.zeros(3)},
            {"w": np.zeros(3), "b": np.zeros(1)},
            r"entries \['b'\] that are not",
        ),
        ({"w": np.zeros(3)}, {"w": np.zeros(4)}, r"grads\['w'\] has shape \(4,\) but params"),
        ({"w": np.zeros(3)}, {"w": np.array([0, np.nan, 0])}, r"grads\['w'\] contains NaN"),
        ({"w": np.zeros(3)}, {"w": np.array([0, np.inf, 0])}, "contains infinity"),
        ({"w": np.zeros(3, dtype=int)}, {"w": np.zeros(3)}, "must be a floating-point NumPy"),
        ({"w": [0.0, 0.0]}, {"w": [1.0, 1.0]}, "must be a floating-point NumPy"),
        ({"w": np.zeros(2)}, {"w": np.array(["a", "b"])}, "must hold real numbers"),
        ([1.0], {"w": 1.0}, "must be dicts"),
    ],
)
def test_bad_step_input(params, grads, match):
    opt = Adam()
    with pytest.raises(ValueError, match=match):
        opt.step(params, grads)
    assert opt.t == 0


def test_changed_shape_needs_reset():
    opt = Momentum()
    opt.step({"w": np.zeros(3)}, {"w": np.ones(3)})
    with pytest.raises(ValueError, match=r"Momentum.step: .*built for \(3,\); call reset"):
        opt.step({"w": np.zeros(4)}, {"w": np.ones(4)})
    opt.reset()
    opt.step({"w": np.zeros(4)}, {"w": np.ones(4)})
    assert opt.velocity["w"].shape == (4,)
