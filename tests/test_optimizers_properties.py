"""Property tests: course_lib against the plain-formula oracle over shapes, layouts and dtypes.

course_lib walks contiguous parameters in blocks with preallocated scratch memory and falls
back to whole arrays for non-contiguous ones; the oracle does none of that. Here the block size
is set to 65536 elements (whatever the library's tuned size), so that arrays of 70001 and
150000 elements cross block boundaries.
Hypothesis draws hyperparameters in range, shapes from 0-d to several blocks, memory layouts
(transposed views, strided slices, transposed or read-only gradients) and dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_lib import _base
from course_lib.optimizers import OPTIMIZERS, make_optimizer
from tests.reference_numpy import SPEC_DEFAULTS, ReferenceOptimizer

BLOCK = 1 << 16
SMALL_SHAPES = [(), (0,), (1,), (7,), (3, 4), (0, 5), (2, 3, 4)]
# More than one block each: 70001 = 1 block + a ragged tail; 150000 = 3 blocks.
LARGE_SHAPES = [(70_001,), (3, 50_000)]
LAYOUTS = ["contiguous", "transposed", "strided", "grad_transposed", "grad_readonly"]
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(autouse=True, scope="module")
def blocks_of_65536():
    """Small blocks for this module only (module scope, so hypothesis's runs share it)."""
    saved, _base.BLOCK = _base.BLOCK, BLOCK
    yield
    _base.BLOCK = saved


def unit(high: float = 0.999) -> st.SearchStrategy[float]:
    """A decay factor in [0, high]."""
    return st.floats(0.0, high)


def log_floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats spread over orders of magnitude between low and high."""
    return st.floats(np.log10(low), np.log10(high)).map(lambda e: float(10.0**e))


DECAY = st.one_of(st.just(0.0), log_floats(1e-4, 0.5))
HYPER = {
    "sgd": {"lr": log_floats(1e-4, 1.0), "weight_decay": DECAY},
    "momentum": {"lr": log_floats(1e-4, 1.0), "momentum": unit(0.99), "nesterov": st.booleans(),
                 "weight_decay": DECAY},
    "adagrad": {"lr": log_floats(1e-4, 1.0), "eps": log_floats(1e-12, 1e-3),
                "weight_decay": DECAY},
    "rmsprop": {"lr": log_floats(1e-4, 0.1), "decay_rate": unit(), "eps": log_floats(1e-10, 1e-3),
                "weight_decay": DECAY},
    "adam": {"lr": log_floats(1e-4, 0.1), "beta1": unit(), "beta2": unit(),
             "eps": log_floats(1e-10, 1e-3), "weight_decay": DECAY, "amsgrad": st.booleans()},
    "adamw": {"lr": log_floats(1e-4, 0.1), "beta1": unit(), "beta2": unit(),
              "eps": log_floats(1e-10, 1e-3), "weight_decay": DECAY, "amsgrad": st.booleans()},
    "nadam": {"lr": log_floats(1e-4, 0.1), "beta1": unit(), "beta2": unit(),
              "eps": log_floats(1e-10, 1e-3), "weight_decay": DECAY,
              "momentum_decay": st.floats(0.0, 0.1)},
    "adadelta": {"lr": log_floats(0.1, 2.0), "rho": unit(), "eps": log_floats(1e-8, 1e-3),
                 "weight_decay": DECAY},
    "radam": {"lr": log_floats(1e-4, 0.1), "beta1": unit(), "beta2": unit(),
              "eps": log_floats(1e-10, 1e-3), "weight_decay": DECAY},
    "adamax": {"lr": log_floats(1e-4, 0.1), "beta1": unit(), "beta2": unit(),
               "eps": log_floats(1e-10, 1e-3), "weight_decay": DECAY},
    "lion": {"lr": log_floats(1e-4, 0.1), "beta1": unit(), "beta2": unit(),
             "weight_decay": DECAY},
}


@dataclass
class Setup:
    """One drawn run: the arrays as the caller holds them, and the schedule."""

    name: str
    hyper: dict
    base: np.ndarray  # the memory the parameter lives in (a view of it for some layouts)
    param: np.ndarray
    grads: list[np.ndarray]
    lrs: list[float]
    layout: str


def make_param(data: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """(base, param): param holds ``data`` and is a non-contiguous view of base if asked."""
    if layout == "transposed" and data.ndim >= 2:
        base = np.ascontiguousarray(data.T)
        return base, base.T
    if layout == "strided" and data.ndim >= 1:
        base = np.full((*data.shape[:-1], 2 * data.shape[-1]), 7.0, dtype=data.dtype)
        param = base[..., ::2]
        param[...] = data
        return base, param
    base = data.copy()
    return base, base


def make_grad(data: np.ndarray, layout: str) -> np.ndarray:
    """The gradient as the caller passes it: possibly a transposed view or read-only."""
    if layout == "grad_transposed" and data.ndim >= 2:
        return np.ascontiguousarray(data.T).T
    g = data.copy()
    if layout == "grad_readonly":
        g.setflags(write=False)
    return g


def draw_arrays(rng: np.random.Generator, shape: tuple, steps: int, dtype, gdtype):
    """A start point and gradients mixing scales 1 and 1e-3, with some exact zeros."""
    p0 = np.array(2.0 * rng.standard_normal(shape), dtype=dtype)  # 0-d stays an array
    scale = rng.choice([1.0, 1e-3], size=shape)
    grads = []
    for _ in range(steps):
        g = scale * (0.5 + rng.standard_normal(shape))
        grads.append(np.array(np.where(rng.random(shape) < 0.05, 0.0, g), dtype=gdtype))
    return p0, grads


@st.composite
def setups(draw, name: str, shapes=tuple(SMALL_SHAPES + LARGE_SHAPES)) -> Setup:
    """A hypothesis strategy for one run of optimizer ``name``."""
    hyper = {k: draw(s) for k, s in HYPER[name].items()}
    if hyper.get("nesterov"):  # nesterov needs momentum > 0
        hyper["momentum"] = max(hyper["momentum"], 0.1)
    shape = draw(st.sampled_from(shapes))
    dtype = draw(st.sampled_from([np.float64] if name in SIGN_STEPS else [np.float64,
                                                                          np.float32]))
    gdtype = draw(st.sampled_from([dtype, np.float64]))
    layout = draw(st.sampled_from(LAYOUTS))
    steps = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p0, grads = draw_arrays(rng, shape, steps, dtype, gdtype)
    base, param = make_param(p0, layout)
    lrs = [hyper["lr"] * float(f) for f in rng.choice([0.3, 1.0, 2.0], size=steps)]
    return Setup(name, well_conditioned(name, hyper, dtype), base, param,
                 [make_grad(g, layout) for g in grads], lrs, layout)


# In float32, g + wd * p cancels to a few ulps for some elements, and an adaptive method turns
# that round-off into an O(lr) step (lr * g / (|g| + eps) is ill-conditioned near g = 0): no
# float64 oracle can match it. Coupled decay in float32 is therefore checked only where it is
# linear; the float64 runs check it everywhere.
ILL_CONDITIONED_L2 = {"adagrad", "rmsprop", "adam", "nadam", "adadelta", "radam", "adamax"}


# Lion steps along sign(c), c = beta1 m + (1 - beta1) g: where c cancels to a few float32 ulps
# its sign (a whole step of lr) is round-off, so Lion's float32 runs are compared with optax's
# float32 arithmetic (tests/test_optimizers_new.py), not with this float64 oracle.
SIGN_STEPS = {"lion"}


def well_conditioned(name: str, hyper: dict, dtype) -> dict:
    """``hyper`` without coupled weight decay where float32 round-off would be amplified."""
    if dtype == np.float32 and name in ILL_CONDITIONED_L2:
        return {**hyper, "weight_decay": 0.0}
    return hyper


def tolerances(dtype) -> tuple[float, float]:
    """(rtol, atol relative to max|p|): float64 to round-off, float32 loosely."""
    return (1e-10, 1e-12) if dtype == np.float64 else (2e-4, 2e-5)


def run_and_compare(s: Setup) -> None:
    """Step course_lib and the oracle together; check values, dtype, layout and side effects."""
    opt = make_optimizer(s.name, **s.hyper)
    ref = ReferenceOptimizer(s.name, **s.hyper)
    params = {"w": s.param}
    expected = {"w": s.param.astype(np.float64)}
    outside = s.base.copy()  # to check the elements the view does not cover stay untouched
    rtol, atol_rel = tolerances(s.param.dtype)
    for k, (g, lr) in enumerate(zip(s.grads, s.lrs, strict=True)):
        g_before = g.copy()
        opt.lr = ref.lr = lr
        opt.update(params, {"w": g})
        expected = ref.update(expected, {"w": g})
        assert params["w"] is s.param and np.shares_memory(s.param, s.base) or s.param.size == 0
        np.testing.assert_array_equal(g, g_before, err_msg="the gradient was modified")
        scale = float(np.abs(expected["w"]).max(initial=1.0))
        np.testing.assert_allclose(s.param, expected["w"], rtol=rtol, atol=atol_rel * scale,
                                   err_msg=f"step {k + 1}, layout {s.layout}")
    assert s.param.dtype == outside.dtype and opt.t == len(s.grads)
    assert opt.state["w"]["t"] == len(s.grads)
    for name in opt.buffers:
        buf = opt.state["w"][name]
        assert buf.shape == s.param.shape and buf.dtype == s.param.dtype, name
    if s.layout == "strided" and s.param.ndim:
        np.testing.assert_array_equal(s.base[..., 1::2], outside[..., 1::2])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_matches_plain_formulas(name):
    @SETTINGS
    @given(setups(name))
    def check(s):
        """One drawn run against the oracle."""
        run_and_compare(s)

    check()


BLOCKED = [(name, layout, dtype) for name in sorted(OPTIMIZERS)
           for layout in ("contiguous", "transposed") for dtype in (np.float64, np.float32)
           if not (name in SIGN_STEPS and dtype == np.float32)]


@pytest.mark.parametrize(("name", "layout", "dtype"), BLOCKED)
def test_several_blocks_with_every_option(name, layout, dtype):
    # Not left to chance: every optimizer, all options on, over 3 blocks and both code paths.
    hyper = {**SPEC_DEFAULTS[name], "lr": 0.05 if name != "adadelta" else 1.0,
             "weight_decay": 0.03}
    hyper.update({k: True for k in ("nesterov", "amsgrad") if k in hyper})
    rng = np.random.default_rng(len(name))
    p0, grads = draw_arrays(rng, (3, 50_000), 3, dtype, dtype)
    assert p0.size > 2 * _base.BLOCK  # the fixture took effect: several blocks
    base, param = make_param(p0, layout)
    lrs = [1.0, 0.5, 2.0] if name == "adadelta" else [0.05, 0.02, 0.08]
    run_and_compare(Setup(name, well_conditioned(name, hyper, dtype), base, param, grads, lrs,
                          layout))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_keys_are_independent(name):
    # Two parameters of different shapes and dtypes in one update behave as two separate runs.
    rng = np.random.default_rng(7)
    shapes = {"a": ((5, 3), np.float64), "b": ((4,), np.float32)}
    together = make_optimizer(name)
    params = {k: rng.standard_normal(s).astype(d) for k, (s, d) in shapes.items()}
    alone = {k: (make_optimizer(name), {k: v.copy()}) for k, v in params.items()}
    for _ in range(3):
        grads = {k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in params.items()}
        together.update(params, grads)
        for k, (opt, single) in alone.items():
            opt.update(single, {k: grads[k]})
    for k, (_, single) in alone.items():
        np.testing.assert_array_equal(params[k], single[k])


ALIASING = sorted(OPTIMIZERS)


@pytest.mark.parametrize("name", ALIASING)
def test_gradient_may_be_the_parameter_array_itself(name):
    # For f = |p|^2 / 2 the gradient is p: passing the same array must act like passing a copy.
    rng = np.random.default_rng(11)
    shared, copied = {"w": rng.standard_normal(10)}, {}
    copied["w"] = shared["w"].copy()
    a, b = make_optimizer(name, lr=0.1), make_optimizer(name, lr=0.1)
    for _ in range(3):
        a.update(shared, {"w": shared["w"]})
        b.update(copied, {"w": copied["w"].copy()})
    np.testing.assert_array_equal(shared["w"], copied["w"])
