"""minimize(): the recorded path, divergence as a result (not a crash or a warning), bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from course_lib.minimize import EXPLODE, minimize
from course_lib.optimizers import SGD, Adam, Momentum, make_optimizer
from course_lib.problems import Problem, get_problem, noisy, quadratic


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """Divergence must be reported in the result, never as a NumPy RuntimeWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize("problem", ["ellipse", "rosenbrock", "beale", "saddle"])
@pytest.mark.parametrize("steps", [0, 1, 25])
def test_trajectory_is_consistent(problem, steps):
    prob = get_problem(problem)
    run = minimize(problem, make_optimizer("adam", lr=0.05), steps=steps)
    assert run.points.shape == (steps + 1, 2) and run.losses.shape == run.grad_norms.shape == (
        steps + 1,)
    assert run.steps == steps and not run.diverged and run.diverged_at is None
    assert run.reason == "" and run.problem == prob.name and run.optimizer == "Adam"
    np.testing.assert_array_equal(run.points[0], prob.start)
    np.testing.assert_array_equal(run.losses, [prob.value(p) for p in run.points])
    np.testing.assert_allclose(run.grad_norms,
                               [np.linalg.norm(prob.gradient(p)) for p in run.points],
                               rtol=1e-15)
    np.testing.assert_array_equal(run.final, run.points[-1])
    assert run.final_loss == run.losses[-1]


def test_path_is_the_optimizers_own_path():
    # Replaying the optimizer by hand on the same gradients gives the same points.
    prob = get_problem("ravine")
    run = minimize(prob, Momentum(lr=0.05, momentum=0.8), start=(1.0, -1.5), steps=20)
    opt, params = Momentum(lr=0.05, momentum=0.8), {"xy": np.array([1.0, -1.5])}
    for k in range(1, 21):
        opt.update(params, {"xy": prob.gradient(params["xy"])})
        np.testing.assert_array_equal(run.points[k], params["xy"])


def test_start_is_copied_not_moved():
    start = np.array([-3.0, 2.0])
    run = minimize("ellipse", SGD(lr=0.5), start=start, steps=10)
    np.testing.assert_array_equal(start, [-3.0, 2.0])
    np.testing.assert_array_equal(run.points[0], start)


def test_noisy_runs_are_reproducible():
    a = minimize(noisy("ellipse", 0.2, seed=5), SGD(lr=0.1), steps=30)
    b = minimize(noisy("ellipse", 0.2, seed=5), SGD(lr=0.1), steps=30)
    c = minimize(noisy("ellipse", 0.2, seed=6), SGD(lr=0.1), steps=30)
    np.testing.assert_array_equal(a.points, b.points)
    assert not np.array_equal(a.points, c.points)


def test_summary_reports_end_and_loss():
    # On f = x^2/20 + y^2, SGD multiplies x by 1 - 0.95/10 and y by 1 - 2 * 0.95 each step.
    x, y = -7.0 * 0.905**30, 2.0 * (-0.9) ** 30
    run = minimize("ellipse", SGD(lr=0.95), steps=30)
    expected = f"30 steps, end ({x: .4f}, {y: .4f}), loss {x * x / 20 + y * y:.4g}"
    assert run.summary().endswith(expected) and "SGD on ellipse" in run.summary()


# ----- the stability bound lr < 2 / lambda_max ------------------------------------------------
def test_lr_above_two_over_lambda_diverges_early_and_says_so():
    # lambda = (1, 2): the stiff coordinate is multiplied by 1 - 2 lr = -1.2 every step, so it
    # passes EXPLODE * (1 + max|start|) at the first k with 3 * 1.2**k above that.
    prob = quadratic((1.0, 2.0), start=(-4.0, 3.0))
    run = minimize(prob, SGD(lr=1.1), steps=500)
    limit = EXPLODE * (1 + 4.0)
    expected = math.floor(math.log(limit / 3.0) / math.log(1.2)) + 1
    assert run.diverged and run.diverged_at == expected and run.steps == expected - 1
    assert str(f"{limit:.3g}") in run.reason
    assert run.points.shape == (expected, 2) and np.all(np.isfinite(run.points))
    assert "DIVERGED at step" in run.summary()


def test_huge_lr_diverges_at_once_without_warnings():
    run = minimize("rosenbrock", SGD(lr=1e6), steps=100)
    assert run.diverged and run.diverged_at <= 3 and np.all(np.isfinite(run.losses))


def test_overflow_is_reported_as_non_finite():
    # A steep wall: the first step lands where the value overflows to inf.
    cliff = Problem(name="cliff", f=lambda x, y: 1e300 * x * x + y * y,
                    df=lambda x, y: (2e300 * x, 2 * y), start=(1.0, 1.0), minimum=(0.0, 0.0),
                    xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), latex="f = 10^{300} x^2 + y^2")
    run = minimize(cliff, SGD(lr=1.0), steps=10)
    assert run.diverged and run.diverged_at == 1 and run.reason == "non-finite value"
    assert run.steps == 0 and run.points.shape == (1, 2)


@pytest.mark.parametrize("fraction", [0.99, 0.9, 0.5])
def test_lr_just_below_two_over_lambda_converges(fraction):
    prob = quadratic((1.0, 2.0), start=(-4.0, 3.0))
    run = minimize(prob, SGD(lr=fraction * 2 / prob.lambda_max), steps=1000)
    assert not run.diverged
    assert np.hypot(*run.final) < 1e-3 and run.losses[-1] < run.losses[0]


def test_adam_survives_where_sgd_diverges():
    prob = quadratic((1.0, 100.0))
    assert minimize(prob, SGD(lr=0.03), steps=200).diverged
    assert not minimize(prob, Adam(lr=0.03), steps=200).diverged


# ----- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [-1, 2.5, True, "10", None])
def test_steps_must_be_a_whole_number(steps):
    with pytest.raises(ValueError, match=rf"steps.*{steps!r}"):
        minimize("ellipse", SGD(), steps=steps)


@pytest.mark.parametrize("start", [(1.0,), (1.0, 2.0, 3.0), (math.nan, 0.0), (0.0, math.inf)])
def test_start_must_be_two_finite_numbers(start):
    with pytest.raises(ValueError, match="start"):
        minimize("ellipse", SGD(), start=start)


def test_optimizer_must_be_an_optimizer_or_a_name():
    with pytest.raises(TypeError, match="optimizer"):
        minimize("ellipse", 0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        minimize("ellipse", "lamb")
    assert minimize("ellipse", "adam", steps=3).optimizer == "Adam"


class HandWrittenSGD:
    """An optimizer of your own: any object with update(params, grads)."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def update(self, params, grads) -> None:
        for key in params:
            params[key] -= self.lr * grads[key]


def test_an_optimizer_of_your_own_walks_the_same_path():
    mine = minimize("ellipse", HandWrittenSGD(0.95), steps=30)
    ours = minimize("ellipse", SGD(lr=0.95), steps=30)
    assert mine.optimizer == "HandWrittenSGD" and np.array_equal(mine.points, ours.points)


def test_unknown_problem():
    with pytest.raises(ValueError, match="unknown problem"):
        minimize("himmelblau", SGD())
