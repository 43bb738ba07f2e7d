"""Identities between the optimizers, the course's published numbers, and convergence.

Each test states a fact that holds independently of course_lib's code: one optimizer reduces to
another for a special hyperparameter, an alternative formulation agrees (or provably does not),
or a number printed in the course material is reproduced.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.minimize import minimize
from course_lib.optimizers import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    AdamW,
    Momentum,
    make_optimizer,
)
from course_lib.problems import get_problem
from tests.reference_numpy import SPEC_DEFAULTS

SHAPE = (6, 5)


def gradient_stream(seed: int, steps: int, scale: float = 1.0) -> list[np.ndarray]:
    """Open-loop gradients with a drift, so that moment estimates have something to track."""
    rng = np.random.default_rng(seed)
    drift = rng.uniform(-1.0, 1.0, SHAPE)
    return [scale * (drift + rng.standard_normal(SHAPE)) for _ in range(steps)]


def start(seed: int = 0) -> np.ndarray:
    """A reproducible start point."""
    return np.random.default_rng(seed).standard_normal(SHAPE)


def run(opt, grads, p0, lrs=None) -> np.ndarray:
    """The parameters after feeding ``grads`` to ``opt`` (lr set per step if ``lrs``)."""
    params = {"w": p0.copy()}
    for k, g in enumerate(grads):
        if lrs is not None:
            opt.lr = lrs[k]
        opt.update(params, {"w": g})
    return params["w"]


# ----- one optimizer as a special case of another ------------------------------------------------
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_momentum_zero_is_sgd(wd):
    grads = gradient_stream(1, 20)
    lrs = np.linspace(0.1, 0.01, 20)
    a = run(Momentum(lr=0.1, momentum=0.0, weight_decay=wd), grads, start(), lrs)
    b = run(SGD(lr=0.1, weight_decay=wd), grads, start(), lrs)
    np.testing.assert_array_equal(a, b)


def test_adam_with_beta1_zero_is_bias_corrected_rmsprop():
    lr, beta2, eps = 0.01, 0.99, 1e-8
    grads = gradient_stream(2, 30)
    p = start()
    s = np.zeros(SHAPE)
    for t, g in enumerate(grads, 1):  # RMSProp whose average is divided by 1 - beta2^t
        s = beta2 * s + (1 - beta2) * g * g
        p = p - lr * g / (np.sqrt(s / (1 - beta2**t)) + eps)
    adam = run(Adam(lr=lr, beta1=0.0, beta2=beta2, eps=eps), grads, start())
    np.testing.assert_allclose(adam, p, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_without_decay_is_adam(amsgrad):
    grads = gradient_stream(3, 25)
    lrs = np.geomspace(0.05, 0.005, 25)
    a = run(AdamW(lr=0.05, weight_decay=0.0, amsgrad=amsgrad), grads, start(), lrs)
    b = run(Adam(lr=0.05, amsgrad=amsgrad), grads, start(), lrs)
    np.testing.assert_array_equal(a, b)


def test_adamw_decay_is_decoupled_from_adam_l2():
    # Same wd, different methods: with a zero gradient AdamW only shrinks p by (1 - lr wd) per
    # step, while Adam's L2 gradient wd * p is normalised into a step of about lr.
    p0 = np.full(4, 2.0)
    zero = [np.zeros(4)] * 3
    np.testing.assert_allclose(run(AdamW(lr=0.1, weight_decay=0.5), zero, p0),
                               2.0 * 0.95**3, rtol=1e-15)
    np.testing.assert_allclose(run(Adam(lr=0.1, weight_decay=0.5), zero, p0), 2.0 - 0.3,
                               rtol=1e-3)


def test_adagrad_first_step_is_lr_whatever_the_gradient_scale():
    lr = 0.3
    g = np.geomspace(1e-5, 1e6, 24) * np.resize([1.0, -1.0], 24)
    p0 = np.linspace(-1.0, 1.0, 24)
    moved = run(AdaGrad(lr=lr), [g], p0) - p0
    np.testing.assert_allclose(moved, -lr * np.sign(g), rtol=1e-4)


def test_amsgrad_v_max_never_decreases_and_bounds_v():
    # Gradients that shrink over time make v fall, so v_max has to hold the old peak.
    grads = [g * 0.7**k for k, g in enumerate(gradient_stream(4, 40))]
    opt = Adam(lr=0.01, beta2=0.9, amsgrad=True)
    params = {"w": start()}
    previous = np.zeros(SHAPE)
    strictly_above = False
    for g in grads:
        opt.update(params, {"w": g})
        v, v_max = opt.state["w"]["v"], opt.state["w"]["v_max"]
        assert np.all(v_max >= previous) and np.all(v_max >= v)
        strictly_above |= bool(np.any(v_max > v))
        previous = v_max.copy()
    assert strictly_above, "v never fell below its maximum: the test proves nothing"


# ----- other formulations ------------------------------------------------------------------------
def textbook_momentum(p0, grads, lrs, mu):
    """Seed 002's form: v = mu v - lr g; p += v."""
    p, v = p0.copy(), np.zeros_like(p0)
    for g, lr in zip(grads, lrs, strict=True):
        v = mu * v - lr * g
        p = p + v
    return p


def test_textbook_momentum_equals_torch_form_only_for_constant_lr():
    grads = gradient_stream(5, 30)
    constant = np.full(30, 0.05)
    ours = run(Momentum(lr=0.05, momentum=0.9), grads, start(), constant)
    np.testing.assert_allclose(ours, textbook_momentum(start(), grads, constant, 0.9),
                               rtol=1e-11, atol=1e-12)
    # With a schedule torch's form rescales the whole velocity by the current lr.
    schedule = np.where(np.arange(30) < 15, 0.05, 0.005)
    ours = run(Momentum(lr=0.05, momentum=0.9), grads, start(), schedule)
    gap = np.abs(ours - textbook_momentum(start(), grads, schedule, 0.9)).max()
    assert gap > 1e-2, f"the two forms should differ after an lr drop, gap {gap:.2e}"


def epsilon_hat_adam(p0, grads, lr, beta1, beta2, eps_hat):
    """Seed 002's Adam: uncorrected moments, lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)."""
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, 1):
        lr_t = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
        m = m + (1 - beta1) * (g - m)
        v = v + (1 - beta2) * (g * g - v)
        p = p - lr_t * m / (np.sqrt(v) + eps_hat)
    return p


@pytest.mark.parametrize("scale", [1.0, 1e-5])
def test_epsilon_hat_adam_is_adam_with_a_step_dependent_eps(scale):
    lr, b1, b2, eps_hat = 1e-3, 0.9, 0.999, 1e-7
    grads = gradient_stream(6, 200, scale)
    opt = Adam(lr=lr, beta1=b1, beta2=b2)
    params = {"w": start()}
    for t, g in enumerate(grads, 1):
        opt.eps = eps_hat / math.sqrt(1 - b2**t)
        opt.update(params, {"w": g})
    expected = epsilon_hat_adam(start(), grads, lr, b1, b2, eps_hat)
    np.testing.assert_allclose(params["w"], expected, rtol=1e-12, atol=1e-14)


def test_epsilon_hat_matters_only_for_tiny_gradients():
    # With a constant eps = 1e-8 course Adam and seed 002's form agree at gradient scale 1 and
    # part ways at scale 1e-5, where eps_hat is no longer small against sqrt(v).
    gaps = {}
    for scale in (1.0, 1e-5):
        grads = gradient_stream(7, 1000, scale)
        ours = run(Adam(lr=1e-3), grads, start())
        gaps[scale] = np.abs(ours - epsilon_hat_adam(start(), grads, 1e-3, 0.9, 0.999,
                                                     1e-7)).max()
    assert gaps[1.0] < 1e-6
    assert gaps[1e-5] > 1e-3


# ----- the course's published numbers ------------------------------------------------------------
def ellipse_gradient(p: np.ndarray) -> np.ndarray:
    """f = x^2 / 20 + y^2, typed here independently of course_lib.problems."""
    return np.array([p[0] / 10.0, 2.0 * p[1]])


@pytest.mark.parametrize(("opt", "expected"), [
    (SGD(lr=0.95), (-0.350, 0.085)),
    (Momentum(lr=0.1), (0.896, 0.088)),
    (AdaGrad(lr=1.5), (-0.120, 0.0)),
], ids=["sgd", "momentum", "adagrad"])
def test_ellipse_numbers_from_the_course(opt, expected):
    params = {"xy": np.array([-7.0, 2.0])}
    for _ in range(30):
        opt.update(params, {"xy": ellipse_gradient(params["xy"])})
    np.testing.assert_allclose(params["xy"], expected, atol=5e-4)


# ----- convergence -------------------------------------------------------------------------------
# Settings chosen so that each method settles on all three convex problems in 1000 steps:
# SGD below 2 / lambda_max = 0.2 of the kappa=10 quadratic; RMSProp with a long average
# (decay_rate 0.99 keeps a small limit cycle); Adadelta with lr < 1, which at lr = 1 locks into a
# period-2 cycle on the stiff coordinate of the ravine, in torch as well.
CONVEX_SETTINGS = {
    "sgd": {"lr": 0.15}, "momentum": {"lr": 0.05, "momentum": 0.8}, "adagrad": {"lr": 1.0},
    "rmsprop": {"lr": 0.02, "decay_rate": 0.999}, "adam": {"lr": 0.1}, "adamw": {"lr": 0.1},
    "nadam": {"lr": 0.1}, "adadelta": {"lr": 0.2, "eps": 1e-2}, "radam": {"lr": 0.1},
    "adamax": {"lr": 0.1},
}
# Lion's steps all have length lr in every coordinate: with a constant lr it ends in a cycle
# about lr from the minimum, so it is checked against that distance instead.
SIGN_STEPS = {"lion": {"lr": 1e-2}}


def test_convex_settings_cover_every_optimizer():
    assert set(CONVEX_SETTINGS) | set(SIGN_STEPS) == set(OPTIMIZERS) == set(SPEC_DEFAULTS)


@pytest.mark.parametrize("problem", ["ellipse", "ravine", "quadratic"])
def test_sign_steps_end_within_a_few_lr_of_the_minimum(problem):
    settings = SIGN_STEPS["lion"]
    run_ = minimize(problem, make_optimizer("lion", **settings), steps=3000)
    assert not run_.diverged
    assert float(np.abs(run_.final).max()) < 5 * settings["lr"]


@pytest.mark.parametrize("problem", ["ellipse", "ravine", "quadratic"])
@pytest.mark.parametrize("name", sorted(CONVEX_SETTINGS))
def test_converges_on_convex_problems(name, problem):
    run_ = minimize(problem, make_optimizer(name, **CONVEX_SETTINGS[name]), steps=1000)
    assert not run_.diverged
    distance = float(np.hypot(*run_.final))  # every convex problem has its minimum at 0
    assert distance < 1e-4, f"{name} on {problem}: {distance:.2e} from the minimum"


# Rosenbrock's valley: Hessian ~1300 at the start, so SGD needs lr ~ 1e-3.
VALLEY_SETTINGS = {
    "momentum": {"lr": 1e-3, "momentum": 0.9}, "rmsprop": {"lr": 0.01, "decay_rate": 0.999},
    "adam": {"lr": 0.02}, "adamw": {"lr": 0.02}, "nadam": {"lr": 0.02},
}
SLOW_IN_VALLEY = {"sgd": {"lr": 1e-3}, "adagrad": {"lr": 0.5}, "adadelta": {"lr": 1.0}}


@pytest.mark.parametrize("problem", ["rosenbrock", "banana"])
@pytest.mark.parametrize("name", sorted({**VALLEY_SETTINGS, **SLOW_IN_VALLEY}))
def test_gets_much_closer_in_curved_valleys(name, problem):
    prob = get_problem(problem)
    settings = {**VALLEY_SETTINGS, **SLOW_IN_VALLEY}[name]
    run_ = minimize(prob, make_optimizer(name, **settings), steps=2000)
    distance = np.hypot(*(run_.points - np.array(prob.minimum)).T)
    assert not run_.diverged
    assert run_.final_loss < run_.losses[0] / 10
    if name in VALLEY_SETTINGS:  # the momentum and adaptive methods get within 10%
        assert distance[-1] < 0.1 * distance[0], f"{distance[-1] / distance[0]:.3f}"
