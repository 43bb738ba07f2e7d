"""Parameters that join late or skip steps, against torch: stored runs and live ones.

torch keeps the step count of every parameter apart (its bias correction starts at 1 when the
parameter first gets a gradient) and skips a parameter whose ``grad`` is None; course_lib must do
the same with a key that is not in ``params`` yet, or whose gradient is ``None``.
"""

from __future__ import annotations

import numpy as np
import pytest

from course_lib.optimizers import make_optimizer
from tests import torch_scenarios as scen
from tests.make_torch_fixtures import draw_scenarios
from tests.torch_reference import import_torch

SCENARIOS = {case.name: case for case in scen.load_scenarios()}
# The spec's tolerances: relative to the largest |p| of the step.
RTOL = {"float64": 1e-9, "float32": 1e-5}


def assert_close(actual: dict, expected: dict, dtype: str, what: str) -> None:
    """Every step of every parameter within the dtype's tolerance."""
    for key, exp in expected.items():
        for k, (a, e) in enumerate(zip(actual[key], exp, strict=True)):
            np.testing.assert_allclose(a, e, rtol=RTOL[dtype],
                                       atol=RTOL[dtype] * 1e-3 * np.abs(e).max(),
                                       err_msg=f"{what}: parameter {key!r}, step {k + 1}")


@pytest.fixture(scope="module")
def torch():
    """torch, or a skip saying how to install it."""
    try:
        return import_torch()
    except ImportError:
        pytest.skip("torch not installed: run `make reference` for the live comparison")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_course_matches_stored_torch_scenario(name):
    case = SCENARIOS[name]
    assert_close(scen.run_course(case, make_optimizer), case.traj, case.dtype, name)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_course_matches_live_torch_scenario(torch, name):
    case = SCENARIOS[name]
    live = scen.run_torch(case)
    assert_close(live, case.traj, case.dtype, f"{name} (live torch vs stored)")
    assert_close(scen.run_course(case, make_optimizer), live, case.dtype, f"{name} (live)")


def test_stored_scenarios_are_what_the_generator_draws():
    drawn = draw_scenarios()
    assert [c.name for c in drawn] == sorted(SCENARIOS, key=list(SCENARIOS).index)
    for new in drawn:
        old = SCENARIOS[new.name]
        assert (new.hyper, new.plan, new.dtype) == (old.hyper, old.plan, old.dtype), new.name
        np.testing.assert_array_equal(new.lrs, old.lrs)
        for key in new.plan:
            np.testing.assert_array_equal(new.p0[key], old.p0[key])
            np.testing.assert_array_equal(new.grads[key], old.grads[key])


def test_a_late_parameter_gets_the_first_steps_bias_correction():
    # Adam's first step moves every coordinate by about lr, whenever the parameter joins: with
    # one shared counter the late parameter's correction would be that of step 5.
    opt = make_optimizer("adam", lr=0.1)
    a, b = np.zeros(3), np.zeros(3)
    for _ in range(4):
        opt.update({"a": a}, {"a": np.ones(3)})
    opt.update({"a": a, "b": b}, {"a": np.ones(3), "b": np.full(3, 1e-3)})
    np.testing.assert_allclose(b, -0.1, rtol=1e-4)
    assert (opt.t, opt.state["a"]["t"], opt.state["b"]["t"]) == (5, 5, 1)


def test_every_scenario_moves_the_late_parameter():
    for name, case in SCENARIOS.items():
        for key, plan in case.plan.items():
            first = plan.find("g")
            before = case.p0[key] if first == 0 else case.traj[key][first - 1]
            assert np.abs(case.traj[key][-1] - before).max() > 1e-5, (name, key)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw", "nadam", "adadelta"])
def test_a_none_gradient_changes_nothing(name):
    opt = make_optimizer(name, weight_decay=0.1)
    params = {"a": np.ones(3), "b": np.full(2, 2.0)}
    opt.update(params, {"a": np.ones(3), "b": np.ones(2)})
    before = opt.state_dict()
    b_before = params["b"].copy()
    opt.update(params, {"a": np.ones(3), "b": None})  # no step, no decay for b
    np.testing.assert_array_equal(params["b"], b_before)
    after = opt.state_dict()
    assert after["state"]["b"].keys() == before["state"]["b"].keys()
    for buf, value in before["state"]["b"].items():
        assert np.array_equal(after["state"]["b"][buf], value), buf
    assert after["state"]["a"]["t"] == 2 and after["state"]["b"]["t"] == 1 and opt.t == 2


def test_a_parameter_whose_gradient_was_always_none_has_no_state():
    opt = make_optimizer("adam")
    params = {"a": np.ones(3), "b": np.ones(2)}
    opt.update(params, {"a": np.ones(3), "b": None})
    assert set(opt.state) == {"a"} and np.array_equal(params["b"], np.ones(2))


def test_a_missing_gradient_still_raises():
    with pytest.raises(KeyError, match="no gradient for parameter"):
        make_optimizer("adam").update({"a": np.ones(3), "b": np.ones(2)}, {"a": np.ones(3)})


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n.startswith("lr0-")])
def test_steps_with_lr_zero_move_nothing(name):
    case = SCENARIOS[name]
    still = np.flatnonzero(case.lrs == 0.0)
    assert still.size
    for key, traj in case.traj.items():
        for k in still:
            before = case.p0[key] if k == 0 else traj[k - 1]
            np.testing.assert_array_equal(traj[k], before, err_msg=f"{key}, step {k + 1}")


# (NAdam divides v by 1 - beta2^t before the root: v / 0.001 = inf, in torch too.)
@pytest.mark.parametrize("name", ["rmsprop", "adam", "adamw"])
def test_float32_gradient_whose_square_overflows_still_steps(name):
    # g * g = inf in float32 for g = 2e19, but (1 - beta2) * g * g = 4e35 is finite: torch
    # multiplies by (1 - beta2) first, so its first step is about lr, not 0.
    opt = make_optimizer(name, lr=0.1)
    p = np.zeros(2, np.float32)
    opt.update({"w": p}, {"w": np.array([2e19, -2e19], np.float32)})
    assert np.isfinite(p).all() and np.all(np.abs(p) > 0.05), p
