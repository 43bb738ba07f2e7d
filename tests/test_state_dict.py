"""Saving and restoring an optimizer: a resumed run is bit-identical to an uninterrupted one.

A state dict is a deep copy in both directions, and a bad one raises before anything changes.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from course_lib.optimizers import NAdam, make_optimizer
from tests.reference_numpy import CONFIGS, config_id

IDS = [config_id(c) for c in CONFIGS]


def problem(seed: int = 0, steps: int = 8):
    """Params of two shapes and dtypes (one spanning two blocks) and a gradient stream."""
    rng = np.random.default_rng(seed)
    params = {"a": rng.standard_normal((4, 5)),
              "big": rng.standard_normal(70_000).astype(np.float32)}
    grads = [{k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in params.items()}
             for _ in range(steps)]
    return params, grads


def assert_same(a, b, where: str = "state dict") -> None:
    """Recursive equality of state dicts: arrays bit for bit, dtypes included."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and np.array_equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def stepped(name: str, hyper: dict, k: int = 3):
    """An optimizer after k steps, with its params and the remaining gradients."""
    params, grads = problem()
    opt = make_optimizer(name, **hyper)
    for g in grads[:k]:
        opt.update(params, g)
    return opt, params, grads[k:]


# ----- resuming ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_resume_is_bit_identical(name, hyper):
    opt, params, rest = stepped(name, hyper)
    saved, saved_params = opt.state_dict(), copy.deepcopy(params)
    fresh = make_optimizer(name)  # constructor defaults: everything must come from the dict
    fresh.load_state_dict(saved)
    assert fresh.hyperparameters() == opt.hyperparameters() and fresh.t == opt.t == 3
    lrs = [fresh.lr * f for f in (1.0, 0.5, 2.0, 1.0, 0.25)]
    for lr, g in zip(lrs, rest, strict=True):
        opt.lr = fresh.lr = lr
        opt.update(params, g)
        fresh.update(saved_params, g)
    for key in params:
        assert params[key].dtype == saved_params[key].dtype
        assert np.array_equal(params[key], saved_params[key]), key
    assert_same(fresh.state_dict(), opt.state_dict())


def test_nadam_state_dict_carries_the_mu_product():
    opt, _, _ = stepped("nadam", {"beta1": 0.85, "momentum_decay": 0.03}, k=5)
    expected = math.prod(0.85 * (1 - 0.5 * 0.96 ** (t * 0.03)) for t in range(1, 6))
    for key in ("a", "big"):
        assert opt.state_dict()["state"][key]["mu_product"] == pytest.approx(expected, rel=1e-14)
    # Without it a resumed NAdam would restart its momentum schedule: prove it matters.
    sd = opt.state_dict()
    for bufs in sd["state"].values():
        bufs["mu_product"] = 1.0
    params, grads = problem()
    restarted, resumed = NAdam(), NAdam()
    restarted.load_state_dict(sd)
    resumed.load_state_dict(opt.state_dict())
    a, b = copy.deepcopy(params), copy.deepcopy(params)
    restarted.update(a, grads[0])
    resumed.update(b, grads[0])
    assert not np.array_equal(a["a"], b["a"])


def older(sd: dict) -> dict:
    """``sd`` as saved before t (and NAdam's product) were kept per parameter."""
    old = copy.deepcopy(sd)
    for bufs in old["state"].values():
        product = bufs.pop("mu_product", None)
        if product is not None:
            old["extra"]["mu_product"] = product
        del bufs["t"]
    return old


@pytest.mark.parametrize("name", ["adam", "nadam", "adadelta"])
@pytest.mark.parametrize("with_product", [True, False], ids=["extra", "no-extra"])
def test_an_older_state_dict_without_per_parameter_t_resumes_bit_identically(name,
                                                                             with_product):
    # Then every parameter had made every update: each gets the shared t (and NAdam the shared
    # product, or, when the dict lacks it, the product of mu_1 ... mu_t it stands for).
    opt, params, rest = stepped(name, {"lr": 0.02})
    sd = older(opt.state_dict())
    if not with_product:
        sd["extra"].pop("mu_product", None)
    fresh = make_optimizer(name)
    fresh.load_state_dict(sd)
    assert all(fresh.state[k]["t"] == 3 for k in params)
    twin = copy.deepcopy(params)
    for g in rest:
        opt.update(params, g)
        fresh.update(twin, g)
    for key in params:
        np.testing.assert_allclose(twin[key], params[key], rtol=1e-14, atol=0, err_msg=key)
    if with_product:
        assert all(np.array_equal(twin[k], params[k]) for k in params)


def test_per_parameter_t_is_saved_and_checked():
    opt, params, rest = stepped("adam", {"lr": 0.02})
    opt.update({"late": np.ones(3)}, {"late": np.ones(3)})
    sd = opt.state_dict()
    assert sd["t"] == 4 and sd["state"]["a"]["t"] == 3 and sd["state"]["late"]["t"] == 1
    loaded = make_optimizer("adam")
    loaded.load_state_dict(sd)
    assert {k: s["t"] for k, s in loaded.state.items()} == {"a": 3, "big": 3, "late": 1}
    source, _, _ = stepped("adam", {"lr": 0.5})
    for bad_t in (-1, 2.5, "3", None):
        bad = source.state_dict()
        bad["state"]["a"]["t"] = bad_t
        with pytest.raises(ValueError, match=r"state\['a'\]\['t'\]"):
            make_optimizer("adam").load_state_dict(bad)
        assert_rejected_without_change(opt, bad, params, rest)


@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_state_dict_of_a_fresh_optimizer_round_trips(name, hyper):
    opt = make_optimizer(name, **hyper)
    other = make_optimizer(name)
    other.load_state_dict(opt.state_dict())
    assert_same(other.state_dict(), opt.state_dict())
    params, grads = problem()
    twin = copy.deepcopy(params)
    opt.update(params, grads[0])
    other.update(twin, grads[0])
    assert all(np.array_equal(params[k], twin[k]) for k in params)


# ----- deep copies -------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_state_dict_is_a_deep_copy(name, hyper):
    opt, params, rest = stepped(name, hyper)
    before = copy.deepcopy(opt.state_dict())
    sd = opt.state_dict()
    for bufs in sd["state"].values():  # vandalise the copy ...
        bufs["t"] = 1000
        for arr in bufs.values():
            if isinstance(arr, np.ndarray):
                arr[...] = 123.0
    sd["hyperparameters"]["lr"] = 99.0
    sd["t"] = 1000
    assert_same(opt.state_dict(), before)  # ... the optimizer does not notice
    # and the optimizer moving on does not change a dict taken earlier
    snapshot = opt.state_dict()
    opt.update(params, rest[0])
    assert_same(snapshot, before)


@pytest.mark.parametrize(("name", "hyper"), CONFIGS, ids=IDS)
def test_loaded_optimizer_does_not_share_the_dicts_arrays(name, hyper):
    opt, _, _ = stepped(name, hyper)
    sd = opt.state_dict()
    loaded = make_optimizer(name)
    loaded.load_state_dict(sd)
    expected = copy.deepcopy(loaded.state_dict())
    for bufs in sd["state"].values():
        for arr in bufs.values():
            if isinstance(arr, np.ndarray):
                arr[...] = -5.0
    assert_same(loaded.state_dict(), expected)


# ----- bad state dicts ---------------------------------------------------------------------------
def vandalised(sd: dict, how: str) -> dict:
    """A copy of a (stepped) Adam state dict broken in one way."""
    bad = copy.deepcopy(sd)
    if how.startswith("missing "):
        del bad[how.removeprefix("missing ")]
    elif how == "other optimizer":
        bad["optimizer"] = "sgd"
    elif how == "unknown hyperparameter":
        bad["hyperparameters"]["momentum"] = 0.9
    elif how == "lr out of range":
        bad["hyperparameters"]["lr"] = -1.0
    elif how == "beta2 not a number":
        bad["hyperparameters"]["beta2"] = "0.999"
    elif how == "buffer v dropped":
        del bad["state"]["a"]["v"]
    elif how == "extra buffer":
        bad["state"]["a"]["s"] = np.zeros((4, 5))
    elif how == "amsgrad without v_max":
        bad["hyperparameters"]["amsgrad"] = True
    return bad


BAD = ["missing optimizer", "missing hyperparameters", "missing t", "missing state",
       "other optimizer", "unknown hyperparameter", "lr out of range", "beta2 not a number",
       "buffer v dropped", "extra buffer", "amsgrad without v_max"]


def assert_rejected_without_change(opt, bad: dict, params, rest) -> None:
    """load_state_dict(bad) raises; afterwards opt behaves exactly like an untouched twin."""
    twin, twin_params = copy.deepcopy(opt), copy.deepcopy(params)
    before = opt.state_dict()
    with pytest.raises((KeyError, ValueError, TypeError)):
        opt.load_state_dict(bad)
    assert_same(opt.state_dict(), before)
    opt.update(params, rest[0])
    twin.update(twin_params, rest[0])
    assert all(np.array_equal(params[k], twin_params[k]) for k in params)


@pytest.mark.parametrize("how", BAD)
def test_bad_state_dict_raises_and_changes_nothing(how):
    opt, params, rest = stepped("adam", {"lr": 0.02, "weight_decay": 0.1})
    source, _, _ = stepped("adam", {"lr": 0.5, "beta1": 0.5})
    assert_rejected_without_change(opt, vandalised(source.state_dict(), how), params, rest)


def test_error_messages_say_what_is_wrong():
    opt, _, _ = stepped("adam", {})
    sd = opt.state_dict()
    with pytest.raises(KeyError, match="'t'"):
        opt.load_state_dict(vandalised(sd, "missing t"))
    with pytest.raises(ValueError, match="'sgd'.*'adam'"):
        opt.load_state_dict(vandalised(sd, "other optimizer"))
    with pytest.raises(KeyError, match="momentum"):
        opt.load_state_dict(vandalised(sd, "unknown hyperparameter"))
    with pytest.raises(KeyError, match=r"state\['a'\].*v"):
        opt.load_state_dict(vandalised(sd, "buffer v dropped"))


@pytest.mark.parametrize("t", ["abc", None, -1, 2.5])
def test_bad_step_count_is_rejected_without_change(t):
    opt, params, rest = stepped("adam", {"lr": 0.02})
    source, _, _ = stepped("adam", {"lr": 0.5})
    bad = source.state_dict()
    bad["t"] = t
    assert_rejected_without_change(opt, bad, params, rest)


def test_bad_nadam_mu_product_is_rejected_without_change():
    opt, params, rest = stepped("nadam", {"lr": 0.02})
    source, _, _ = stepped("nadam", {"lr": 0.5})
    bad = source.state_dict()
    bad["state"]["a"]["mu_product"] = "not a number"
    assert_rejected_without_change(opt, bad, params, rest)


def mismatched_shape(bufs):
    """v no longer has m's shape."""
    bufs["v"] = np.zeros(7)


def integer_buffer(bufs):
    """v holds integers."""
    bufs["v"] = bufs["v"].astype(np.int64)


def text_buffer(bufs):
    """m is not an array of numbers at all."""
    bufs["m"] = "abc"


@pytest.mark.parametrize("breakage", [mismatched_shape, integer_buffer, text_buffer],
                         ids=["shape", "int", "text"])
def test_malformed_buffers_are_rejected_without_change(breakage):
    opt, params, rest = stepped("adam", {"lr": 0.02})
    source, _, _ = stepped("adam", {"lr": 0.5})
    bad = source.state_dict()
    breakage(bad["state"]["a"])
    assert_rejected_without_change(opt, bad, params, rest)
