"""course_lib against torch.optim, the reference semantics of every optimizer.

The stored trajectories (tests/fixtures, made by ``make fixtures``) are replayed without torch.
When torch is installed, the same runs are regenerated live and compared with both the fixture
and course_lib, and every step is also checked alone with course_lib's state re-synced from
torch's (round-off cannot accumulate there, so the tolerance is tighter).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from course_lib.optimizers import OPTIMIZERS, make_optimizer
from tests.make_torch_fixtures import draw_cases, draw_more_cases
from tests.torch_reference import (
    FIXTURE_MORE_JSON,
    Case,
    TorchRun,
    import_torch,
    load_cases,
    run_torch,
)

# Two files in one layout: the first, frozen, and the options and optimizers added since.
META, FIRST = load_cases()
MORE_META, MORE = load_cases(FIXTURE_MORE_JSON)
CASES = FIRST + MORE
FIRST_NAMES = {c.name for c in FIRST}
BY_NAME = {case.name: case for case in CASES}
# Options added after the first file was stored: its cases run them at their defaults.
ADDED_LATER = {"adagrad": {"lr_decay", "initial_accumulator_value"},
               "rmsprop": {"momentum", "centered"}}
# Numeric options whose default switches a part of the rule off (like weight_decay = 0).
SWITCHES = {("rmsprop", "momentum")}

# The spec's tolerances: trajectories (round-off accumulates over ~40 steps) ...
RTOL, ATOL_REL = 1e-9, 1e-12
# ... and one step from identical state.
RTOL_ONE_STEP, ATOL_REL_ONE_STEP = 1e-12, 1e-15

NO_TORCH = ("torch not installed: run `make reference` to enable the live torch comparison "
            "(stored fixtures were still checked)")


def run_course(case: Case) -> dict[str, np.ndarray]:
    """course_lib's parameters after every step of ``case`` (lr set before each step)."""
    opt = make_optimizer(case.optimizer, **case.hyper)
    params = {k: v.copy() for k, v in case.p0.items()}
    out: dict[str, list[np.ndarray]] = {k: [] for k in params}
    for k in range(case.steps):
        opt.lr = float(case.lrs[k])
        opt.update(params, case.gradient(k, params))
        for key, value in params.items():
            out[key].append(value.copy())
    return {k: np.array(v) for k, v in out.items()}


def assert_close(actual: dict, expected: dict, rtol: float, atol_rel: float, what: str) -> None:
    """Every step of every parameter within rtol, plus atol_rel * max|p| at that step."""
    for key, exp in expected.items():
        for k, (a, e) in enumerate(zip(actual[key], exp, strict=True)):
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol_rel * np.abs(e).max(),
                                       err_msg=f"{what}: parameter {key!r}, step {k + 1}")


def relative_deviation(actual: dict, expected: dict) -> float:
    """max |actual - expected| / max |expected| over all steps and parameters."""
    return max(float(np.abs(actual[k] - e).max() / np.abs(e).max()) for k, e in expected.items())


@pytest.fixture(scope="module")
def torch():
    """torch in float64, or a skip saying how to install it."""
    try:
        return import_torch()
    except ImportError:
        pytest.skip(NO_TORCH)


# ----- the stored fixture: no torch needed ------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_replay_matches_stored_torch_trajectory(name):
    case = BY_NAME[name]
    assert_close(run_course(case), case.traj, RTOL, ATOL_REL, name)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_stored_trajectory_really_moves(name):
    # A fixture whose parameters barely move would pass any optimizer: demand real motion.
    case = BY_NAME[name]
    moved = max(float(np.abs(case.traj[k][-1] - p).max()) for k, p in case.p0.items())
    assert moved > 1e-3, f"{name}: parameters moved only {moved:.2e}"


@pytest.mark.parametrize("which", ["first", "more"])
def test_fixture_inputs_are_what_the_generator_draws(which):
    # The stored inputs must be reproducible from the seeded generator (the torch outputs
    # then follow from `make fixtures`).
    meta, stored = (META, FIRST) if which == "first" else (MORE_META, MORE)
    assert meta["seed"] is not None
    drawn = draw_cases(meta["seed"]) if which == "first" else draw_more_cases()
    assert [c.name for c in drawn] == [c.name for c in stored]
    for new, old in zip(drawn, stored, strict=True):
        assert new.hyper == old.hyper, new.name
        np.testing.assert_array_equal(new.lrs, old.lrs)
        for fld in ("p0", "grads", "curvature"):
            a, b = getattr(new, fld) or {}, getattr(old, fld) or {}
            assert a.keys() == b.keys(), (new.name, fld)
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])


def defaults(name: str) -> dict:
    """The course constructor's defaults of optimizer ``name``."""
    sig = inspect.signature(OPTIMIZERS[name].__init__)
    return {k: p.default for k, p in sig.parameters.items() if k != "self"}


# torch has no Lion: tests/test_optimizers_new.py checks it against optax.
NOT_IN_TORCH = {"lion"}


@pytest.mark.parametrize("name", sorted(set(OPTIMIZERS) - NOT_IN_TORCH))
def test_fixture_covers_every_option_with_non_default_values(name):
    cases = [c for c in CASES if c.optimizer == name]
    open_loop = [c for c in cases if not c.closed_loop]
    assert any(c.lr_schedule for c in open_loop) and any(not c.lr_schedule for c in open_loop)
    assert any(c.closed_loop for c in cases)
    assert all(25 <= c.steps <= 40 for c in open_loop)
    assert any(c.hyper["weight_decay"] > 0 for c in cases)
    for flag in ("nesterov", "amsgrad", "centered"):
        if flag in defaults(name):
            assert {c.hyper.get(flag, False) for c in cases} == {False, True}, flag
    for c in cases:
        later = ADDED_LATER.get(name, set()) if c.name in FIRST_NAMES else set()
        assert set(c.hyper) | later == set(defaults(name)), c.name
        for key, default in defaults(name).items():
            switch = (key == "weight_decay" and default == 0) or (name, key) in SWITCHES
            if key not in later and not isinstance(default, bool) and not switch:
                assert c.hyper[key] != default, (c.name, key)
    for key in ADDED_LATER.get(name, set()) | {k for n, k in SWITCHES if n == name}:
        assert any(c.hyper.get(key, defaults(name)[key]) != defaults(name)[key]
                   for c in cases), key


def test_fixture_gradients_mix_scales_and_shapes():
    case = next(c for c in CASES if not c.closed_loop)
    assert {k: v.shape[1:] for k, v in case.grads.items()} == {"a": (4, 5), "b": (3,)}
    mags = np.abs(case.grads["a"][case.grads["a"] != 0])
    assert mags.min() < 1e-2 and mags.max() > 0.5
    assert np.any(case.grads["a"] == 0)


# ----- live torch --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_live_torch_matches_fixture_and_course(torch, name):
    case = BY_NAME[name]
    live = run_torch(case)
    assert_close(live, case.traj, RTOL, ATOL_REL, f"{name} (live torch vs stored)")
    assert_close(run_course(case), live, RTOL, ATOL_REL, f"{name} (course vs live torch)")


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_one_step_from_torch_state(torch, name):
    case = BY_NAME[name]
    run = TorchRun(case)
    for k in range(case.steps):
        opt = make_optimizer(case.optimizer)
        opt.load_state_dict(run.course_state_dict(k))
        params = run.params()
        opt.update(params, case.gradient(k, params))
        run.step(k)
        expected = {key: v[None] for key, v in run.params().items()}
        actual = {key: v[None] for key, v in params.items()}
        assert_close(actual, expected, RTOL_ONE_STEP, ATOL_REL_ONE_STEP, f"{name} step {k + 1}")


def test_torch_reference_runs_in_float64_and_restores_the_default(torch):
    default = torch.get_default_dtype()
    case = next(c for c in CASES if c.optimizer == "nadam")
    run = TorchRun(case)
    run.step(0)
    state = run.opt.state[run.tensors["a"]]
    assert state["mu_product"].dtype == torch.float64 and state["exp_avg"].dtype == torch.float64
    assert torch.get_default_dtype() == default
