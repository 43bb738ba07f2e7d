"""Lion against optax (torch has no Lion), and clip_grad_norm against torch's clip_grad_norm_.

RAdam and Adamax are in the torch trajectory fixtures with every other torch optimizer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import course_lib
from course_lib import clip_grad_norm
from course_lib.optimizers import OPTIMIZERS, Lion, make_optimizer
from course_lib.widgets import DEFAULT_LR

RTOL = {np.float64: 1e-9, np.float32: 1e-5}


def optax_or_skip():
    """(jax, optax), or a skip that says why and how to install them."""
    try:
        import jax
        import optax
    except ImportError as error:
        pytest.skip(f"optax not importable ({error}): `.venv/bin/pip install optax==0.2.8 jax` "
                    "enables the Lion comparison")
    return jax, optax


def lion_runs(dtype, hyper: dict, steps: int = 30, seed: int = 0):
    """course_lib's and optax's parameters after every step of the same run."""
    jax, optax = optax_or_skip()
    jnp = jax.numpy
    rng = np.random.default_rng(seed)
    p0 = {"a": rng.standard_normal((4, 5)).astype(dtype), "b": rng.standard_normal(3).astype(dtype)}
    grads = [{k: (rng.uniform(-1, 1, v.shape) + rng.standard_normal(v.shape)).astype(dtype)
              for k, v in p0.items()} for _ in range(steps)]
    ours = {k: v.copy() for k, v in p0.items()}
    opt = Lion(**hyper)
    tx = optax.lion(learning_rate=hyper["lr"], b1=hyper["beta1"], b2=hyper["beta2"],
                    weight_decay=hyper["weight_decay"])
    theirs = {k: jnp.asarray(v) for k, v in p0.items()}
    state = tx.init(theirs)
    out_ours, out_theirs = [], []
    for g in grads:
        opt.update(ours, g)
        updates, state = tx.update({k: jnp.asarray(v) for k, v in g.items()}, state, theirs)
        theirs = optax.apply_updates(theirs, updates)
        out_ours.append({k: v.copy() for k, v in ours.items()})
        out_theirs.append({k: np.asarray(v) for k, v in theirs.items()})
    return out_ours, out_theirs


@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lion_matches_optax(dtype, weight_decay):
    jax, _ = optax_or_skip()
    hyper = {"lr": 0.02, "beta1": 0.85, "beta2": 0.97, "weight_decay": weight_decay}
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", dtype == np.float64)
    try:
        ours, theirs = lion_runs(dtype, hyper)
    finally:
        jax.config.update("jax_enable_x64", previous)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        for key in a:
            assert b[key].dtype == dtype
            np.testing.assert_allclose(a[key], b[key], rtol=RTOL[dtype],
                                       atol=RTOL[dtype] * np.abs(b[key]).max(),
                                       err_msg=f"{key}, step {k + 1}")


def test_lion_weight_decay_is_decoupled_and_scaled_by_lr():
    # optax adds wd * p to sign(c) and then scales by -lr: with a zero gradient only the decay
    # acts, p <- p - lr * wd * p, and m stays 0.
    opt = Lion(lr=0.1, weight_decay=0.5)
    params = {"w": np.array([2.0, -4.0])}
    opt.update(params, {"w": np.zeros(2)})
    np.testing.assert_allclose(params["w"], [2.0 * 0.95, -4.0 * 0.95], rtol=1e-15)
    assert not opt.state["w"]["m"].any()


def test_lion_step_is_lr_in_every_coordinate():
    opt = Lion(lr=0.01)
    params = {"w": np.zeros(4)}
    opt.update(params, {"w": np.array([1e-8, -3.0, 50.0, 0.0])})
    np.testing.assert_array_equal(params["w"], [-0.01, 0.01, -0.01, 0.0])


def test_radam_first_steps_are_momentum_steps_then_rectified():
    opt = make_optimizer("radam", lr=0.1)
    assert [opt.rectification(t) is None for t in range(1, 8)] == [True] * 5 + [False] * 2
    assert 0.0 < opt.rectification(6) < opt.rectification(1000) < 1.0


def test_adamax_u_is_a_decaying_maximum():
    opt = make_optimizer("adamax", beta2=0.5, eps=0.0)
    params = {"w": np.zeros(1)}
    for g in (4.0, 1.0, 1.0, 3.0):
        opt.update(params, {"w": np.array([g])})
    assert float(opt.state["w"]["u"][0]) == 3.0  # max(0.5 * max(0.5 * max(2, 1), 1), 3)


def test_new_optimizers_are_exported_built_by_name_and_in_the_widgets():
    for name in ("radam", "adamax", "lion"):
        cls = OPTIMIZERS[name]
        assert getattr(course_lib, cls.__name__) is cls
        assert type(make_optimizer(name)) is cls and name in DEFAULT_LR
    assert course_lib.clip_grad_norm is clip_grad_norm


# ----- clip_grad_norm -----------------------------------------------------------------------------
def torch_clip(torch, grads: dict, max_norm: float, norm_type: float):
    """torch's clip_grad_norm_ on tensors holding ``grads``: (clipped grads, total norm)."""
    tensors = []
    for g in grads.values():
        t = torch.zeros(g.shape, dtype=getattr(torch, g.dtype.name), requires_grad=True)
        t.grad = torch.tensor(g)
        tensors.append(t)
    total = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type=norm_type)
    return [t.grad.numpy() for t in tensors], float(total)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_grad_norm_matches_torch(dtype, max_norm, norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    grads = {"W": rng.standard_normal((6, 7)).astype(dtype), "b": rng.standard_normal(7).astype(
        dtype) * 10}
    expected, expected_total = torch_clip(torch, {k: v.copy() for k, v in grads.items()},
                                          max_norm, norm_type)
    before = {k: v.copy() for k, v in grads.items()}
    total = clip_grad_norm(grads, max_norm, norm_type)
    assert isinstance(total, float)
    assert total == pytest.approx(expected_total, rel=RTOL[dtype])
    for g, e in zip(grads.values(), expected, strict=True):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, e, rtol=RTOL[dtype], atol=0)
    if max_norm > total:  # nothing clipped: bit for bit the same arrays
        assert all(np.array_equal(grads[k], before[k]) for k in grads)


def test_clip_grad_norm_scales_all_arrays_by_one_factor_in_place():
    grads = {"a": np.array([3.0]), "b": np.array([[0.0, 4.0]]), "skipped": None}
    arrays = dict(grads)
    assert clip_grad_norm(grads, 2.5) == 5.0
    assert grads["a"] is arrays["a"] and grads["skipped"] is None
    np.testing.assert_allclose([grads["a"][0], grads["b"][0, 1]], [1.5, 2.0], rtol=1e-6)


@pytest.mark.parametrize(("args", "error", "words"), [
    (([1.0], 1.0), TypeError, "dict"),
    (({"a": np.arange(3)}, 1.0), TypeError, "'a'"),
    (({"a": np.ones(3)}, -1.0), ValueError, "max_norm"),
    (({"a": np.ones(3)}, "1"), TypeError, "max_norm"),
    (({"a": np.ones(3)}, 1.0, 0.0), ValueError, "norm_type"),
])
def test_clip_grad_norm_bad_input(args, error, words):
    with pytest.raises(error, match=words):
        clip_grad_norm(*args)
