"""Bad input: a clear error that names what is wrong and what is allowed, and no change at all.

The allowed ranges are typed here from torch's constructor checks (torch.optim is the
reference semantics), not read from course_lib: lr, eps, weight decay, SGD's momentum,
RMSProp's decay_rate (torch's alpha) are >= 0, Adam's betas lie in [0, 1) and Adadelta's rho
in [0, 1]. Only non-finite values are refused beyond torch (torch takes lr = inf).
"""

from __future__ import annotations

import copy
import inspect
import math

import numpy as np
import pytest

from course_lib.optimizers import OPTIMIZERS, Momentum, make_optimizer
from tests.reference_numpy import SPEC_DEFAULTS
from tests.test_state_dict import assert_same

NON_NEGATIVE, UNIT, CLOSED_UNIT = "[0, inf)", "[0, 1)", "[0, 1]"
RANGES = {"lr": NON_NEGATIVE, "weight_decay": NON_NEGATIVE, "eps": NON_NEGATIVE,
          "momentum_decay": NON_NEGATIVE, "momentum": NON_NEGATIVE, "decay_rate": NON_NEGATIVE,
          "beta1": UNIT, "beta2": UNIT, "rho": CLOSED_UNIT, "lr_decay": NON_NEGATIVE,
          "initial_accumulator_value": NON_NEGATIVE}
OUTSIDE = {NON_NEGATIVE: [-1e-3, -0.1, math.nan, math.inf, -math.inf],
           UNIT: [-0.1, 1.0, 1.5, math.nan, math.inf],
           CLOSED_UNIT: [-0.1, 1.000001, 1.5, math.nan, math.inf]}
EDGES = {NON_NEGATIVE: [0, 0.0, 1e-12, 1, np.float32(0.5), np.float64(2.5)],
         UNIT: [0, 0.0, 0.999999, np.float32(0.25)],
         CLOSED_UNIT: [0, 0.0, 1, 1.0, np.float32(0.25)]}
WRONG_TYPES = ["0.1", None, True, [0.1], 1j]
FLAGS = ("nesterov", "amsgrad", "centered")
# torch's options beyond the spec's table, with torch's defaults.
TORCH_OPTIONS = {"adagrad": {"lr_decay": 0.0, "initial_accumulator_value": 0.0},
                 "rmsprop": {"momentum": 0.0, "centered": False}}


def signature(name: str) -> dict:
    """Constructor parameter -> default of optimizer ``name``."""
    params = inspect.signature(OPTIMIZERS[name].__init__).parameters
    return {k: p.default for k, p in params.items() if k != "self"}


def numeric(name: str) -> list[str]:
    """The numeric hyperparameters of optimizer ``name``."""
    return [k for k in signature(name) if k not in FLAGS]


CASES_OUTSIDE = [(n, k, v) for n in sorted(OPTIMIZERS) for k in numeric(n)
                 for v in OUTSIDE[RANGES[k]]]
CASES_EDGE = [(n, k, v) for n in sorted(OPTIMIZERS) for k in numeric(n) for v in EDGES[RANGES[k]]]
CASES_TYPE = [(n, k, v) for n in sorted(OPTIMIZERS) for k in numeric(n) for v in WRONG_TYPES]


# ----- the constructor contract ------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(SPEC_DEFAULTS))
def test_constructor_defaults_are_the_specs(name):
    spec = SPEC_DEFAULTS[name]
    ours = signature(name)
    assert {k: ours[k] for k in spec} == spec
    extra = TORCH_OPTIONS.get(name, {})
    assert {k: ours[k] for k in extra} == extra
    assert set(ours) - set(spec) - set(extra) <= {"weight_decay"} and ours.get(
        "weight_decay", 0.0) in (0.0, spec.get("weight_decay"))


def test_every_numeric_hyperparameter_has_a_known_range():
    assert {k for n in OPTIMIZERS for k in numeric(n)} <= set(RANGES)


# ----- out of range and non-finite --------------------------------------------------------------
@pytest.mark.parametrize(("name", "key", "value"), CASES_OUTSIDE)
def test_out_of_range_is_a_value_error_naming_parameter_value_and_range(name, key, value):
    with pytest.raises(ValueError) as info:
        make_optimizer(name, **{key: value})
    message = str(info.value)
    assert key in message and repr(float(value)) in message and RANGES[key] in message, message


@pytest.mark.parametrize(("name", "key", "value"), CASES_OUTSIDE)
def test_setting_a_bad_value_later_raises_and_keeps_the_old_one(name, key, value):
    opt = make_optimizer(name)
    old = getattr(opt, key)
    with pytest.raises(ValueError, match=key):
        setattr(opt, key, value)
    assert getattr(opt, key) == old


@pytest.mark.parametrize(("name", "key", "value"), CASES_EDGE)
def test_values_at_the_edges_of_the_range_are_accepted_as_floats(name, key, value):
    opt = make_optimizer(name, **{key: value})
    assert getattr(opt, key) == float(value) and type(getattr(opt, key)) is float


# ----- wrong types -------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "key", "value"), CASES_TYPE)
def test_wrong_type_is_a_type_error_naming_parameter_and_value(name, key, value):
    with pytest.raises(TypeError) as info:
        make_optimizer(name, **{key: value})
    message = str(info.value)
    assert key in message and repr(value) in message, message
    opt = make_optimizer(name)
    with pytest.raises(TypeError, match=key):
        setattr(opt, key, value)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_wrong_type_message_also_gives_the_range(name):
    with pytest.raises(TypeError, match=r"\[0, inf\)"):
        make_optimizer(name, lr="0.1")


@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0])
@pytest.mark.parametrize(("name", "flag"), [("momentum", "nesterov"), ("adam", "amsgrad"),
                                            ("adamw", "amsgrad"), ("rmsprop", "centered")])
def test_flags_take_only_booleans(name, flag, value):
    with pytest.raises(TypeError, match=rf"{flag} must be True or False.*{value!r}"):
        make_optimizer(name, **{flag: value})


def test_torch_accepts_every_edge_value_course_lib_accepts():
    # The ranges above are torch's: each edge value builds the torch optimizer too.
    torch = pytest.importorskip("torch")
    from tests.torch_reference import TORCH_BUILDERS, torch_optimizer

    for name, key, value in CASES_EDGE:
        if name not in TORCH_BUILDERS:  # Lion: torch has none
            continue
        hyper = {**signature(name), key: float(value)}
        if hyper.get("nesterov"):
            continue
        torch_optimizer(name, [torch.zeros(2, requires_grad=True)], hyper)
    # ... and refuses the finite values outside them.
    for name, key, value in CASES_OUTSIDE:
        if math.isfinite(value) and name in TORCH_BUILDERS:
            with pytest.raises(ValueError):
                torch_optimizer(name, [torch.zeros(2, requires_grad=True)],
                                {**signature(name), key: value})


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov.*momentum"):
        Momentum(nesterov=True, momentum=0.0)


# ----- make_optimizer ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["lamb", "", 3])
def test_unknown_optimizer_lists_the_known_ones(bad):
    with pytest.raises(ValueError) as info:
        make_optimizer(bad)
    assert repr(bad) in str(info.value)
    assert all(name in str(info.value) for name in SPEC_DEFAULTS)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_unknown_hyperparameter_lists_the_allowed_ones(name):
    with pytest.raises(TypeError) as info:
        make_optimizer(name, learning_rate=0.1)
    message = str(info.value)
    assert "learning_rate" in message and all(k in message for k in signature(name)), message


def test_names_are_case_insensitive():
    assert type(make_optimizer("AdamW")) is OPTIMIZERS["adamw"]


# ----- update() ----------------------------------------------------------------------------------
def good_params():
    """Two parameters after which a bad entry can hide."""
    rng = np.random.default_rng(3)
    return {"a": rng.standard_normal((4, 5)), "b": rng.standard_normal(3)}


def good_grads():
    """Valid gradients for :func:`good_params`."""
    return {"a": np.full((4, 5), 0.5), "b": np.full(3, -0.25)}


def broken(how: str):
    """(params, grads) for one kind of bad call; the bad entry is never the first key."""
    params, grads = good_params(), good_grads()
    if how == "missing gradient":
        del grads["b"]
    elif how == "extra gradient":
        grads["c"] = np.ones(2)
    elif how == "shape mismatch":
        grads["b"] = np.ones(4)
    elif how == "integer params":
        params["b"] = np.arange(3)
    elif how == "list params":
        params["b"] = [1.0, 2.0, 3.0]
    elif how == "read-only params":
        params["b"].setflags(write=False)
    elif how == "text gradient":
        grads["b"] = np.array(["x", "y", "z"])
    elif how == "state shape changed":
        params["b"], grads["b"] = np.zeros(4), np.ones(4)
    elif how == "new key then bad key":
        params = {"a": params["a"], "new": np.zeros(2), "b": np.arange(3)}
        grads = {"a": grads["a"], "new": np.ones(2), "b": grads["b"]}
    return params, grads


EXPECTED = {  # exception type, and what its message must name
    "missing gradient": (KeyError, ["'b'"]),
    "extra gradient": (KeyError, ["'c'"]),
    "shape mismatch": (ValueError, ["'b'", "(4,)", "(3,)"]),
    "integer params": (TypeError, ["'b'", "int64"]),
    "list params": (TypeError, ["'b'", "list"]),
    "read-only params": (ValueError, ["'b'", "read-only"]),
    "text gradient": (TypeError, ["'b'", "<U1"]),
    "state shape changed": (ValueError, ["'b'", "(4,)", "(3,)"]),
    "new key then bad key": (TypeError, ["'b'", "int64"]),
}


@pytest.mark.parametrize("how", sorted(EXPECTED))
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_bad_update_raises_names_the_problem_and_changes_nothing(name, how):
    if name == "sgd" and how == "state shape changed":
        pytest.skip("SGD keeps no per-parameter state, so a parameter may change shape")
    opt = make_optimizer(name, weight_decay=0.1)
    params = good_params()
    for _ in range(2):
        opt.update(params, good_grads())
    bad_params, bad_grads = broken(how)
    bad_params["a"][...] = params["a"]  # the good key holds real progress
    before = (copy.deepcopy(opt.state_dict()), copy.deepcopy(bad_params), opt.t)
    error, words = EXPECTED[how]
    with pytest.raises(error) as info:
        opt.update(bad_params, bad_grads)
    assert all(w in str(info.value) for w in words), str(info.value)
    assert_same(opt.state_dict(), before[0])
    assert opt.t == before[2] == 2 and set(opt.state) == {"a", "b"}
    for key, value in before[1].items():
        np.testing.assert_array_equal(bad_params[key], value, err_msg=key)


@pytest.mark.parametrize("args", [([1.0], {"a": 1.0}), ({"a": np.ones(2)}, [np.ones(2)])])
def test_update_needs_two_dicts(args):
    with pytest.raises(TypeError, match="dict"):
        make_optimizer("sgd").update(*args)
