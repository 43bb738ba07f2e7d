"""course_lib.schedules: closed-form learning-rate schedules, checked by hand and against torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.data import Dataset, batch_indices
from course_lib.networks import MLP
from course_lib.optimizers import SGD
from course_lib.schedules import (
    Constant,
    Cosine,
    Exponential,
    LinearWarmup,
    StepDecay,
    warmup_cosine,
)
from course_lib.training import train


def test_constant_step_and_exponential_by_hand() -> None:
    assert Constant(0.3).values(4).tolist() == [0.3] * 4
    assert StepDecay(1.0, step_size=3, gamma=0.5).values(7).tolist() == [1, 1, 1, .5, .5, .5, .25]
    np.testing.assert_allclose(Exponential(2.0, gamma=0.9).values(4), [2.0, 1.8, 1.62, 1.458],
                               rtol=1e-15)


def test_cosine_by_hand() -> None:
    sched = Cosine(1.0, total_steps=4, min_lr=0.2)
    expected = [1.0, 0.2 + 0.4 * (1 + math.sqrt(0.5)), 0.6, 0.2 + 0.4 * (1 - math.sqrt(0.5)),
                0.2, 0.2, 0.2]  # stays at min_lr after total_steps
    np.testing.assert_allclose(sched.values(7), expected, rtol=1e-15)


def test_linear_warmup_then_a_schedule() -> None:
    sched = LinearWarmup(4, then=Exponential(1.0, gamma=0.5))
    np.testing.assert_allclose(sched.values(7), [0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.25],
                               rtol=1e-15)
    assert LinearWarmup(2, then=0.4).values(4).tolist() == [0.2, 0.4, 0.4, 0.4]
    assert LinearWarmup(2, then=lambda s: 1.0 / (s + 1)).values(4).tolist() == [0.5, 1, 1, 0.5]


def test_warmup_cosine() -> None:
    sched = warmup_cosine(lr=0.1, warmup_steps=10, total_steps=100, min_lr=0.001)
    values = sched.values(100)
    np.testing.assert_allclose(values[:10], 0.01 * np.arange(1, 11), rtol=1e-15)
    assert values[10] == 0.1 and np.all(np.diff(values[10:]) < 0) and values[-1] > 0.001
    assert sched(150) == pytest.approx(0.001, rel=1e-15)


def test_schedules_match_torch() -> None:
    try:
        import torch
    except ImportError:
        pytest.skip("torch not installed: run `make reference`")
    lr_scheduler = torch.optim.lr_scheduler
    cases = [(StepDecay(0.5, step_size=3, gamma=0.3),
              lambda o: lr_scheduler.StepLR(o, step_size=3, gamma=0.3)),
             (Exponential(0.5, gamma=0.93), lambda o: lr_scheduler.ExponentialLR(o, gamma=0.93)),
             (Cosine(0.5, total_steps=12, min_lr=0.01),
              lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=0.01))]
    for ours, make in cases:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
        theirs, scheduler = [], make(opt)
        for _ in range(13):
            theirs.append(opt.param_groups[0]["lr"])
            opt.step()
            scheduler.step()
        np.testing.assert_allclose(ours.values(13), theirs, rtol=1e-12, err_msg=repr(ours))


def test_train_sets_the_lr_of_every_step() -> None:
    rng = np.random.default_rng(0)
    data = Dataset(rng.standard_normal((8, 3)), rng.standard_normal((8, 2)))
    sched = StepDecay(0.1, step_size=2, gamma=0.5)
    hist = train(MLP([3, 2], loss="mse"), SGD(lr=1.0), data, steps=5, batch_size=8,
                 schedule=sched)
    assert hist.lr == [0.1, 0.1, 0.05, 0.05, 0.025]
    # The same run by hand, setting opt.lr each step, gives the same losses bit for bit.
    net, opt, losses = MLP([3, 2], loss="mse"), SGD(lr=1.0), []
    batches = batch_indices(8, 8, seed=0)
    for step in range(5):
        opt.lr = sched(step)
        idx = next(batches)
        loss, grads = net.loss_and_gradient(data.x_train[idx], data.t_train[idx])
        opt.update(net.params, grads)
        losses.append(loss)
    assert hist.loss == losses


def test_a_schedule_going_below_zero_stops_before_training() -> None:
    # lr = 0 is allowed (as in torch: nothing moves); a negative lr would climb the loss.
    data = Dataset(np.ones((4, 3)), np.ones((4, 2)))
    net, opt = MLP([3, 2], loss="mse"), SGD(lr=0.1)
    before = net.params["W1"].copy()
    with pytest.raises(ValueError, match=r"schedule gave lr=-0.5 at step 3.*>= 0"):
        train(net, opt, data, steps=5, batch_size=4, schedule=lambda s: 1.0 - 0.5 * s)
    assert np.array_equal(net.params["W1"], before) and opt.t == 0 and opt.lr == 0.1


@pytest.mark.parametrize(("make", "pattern"), [
    (lambda: Constant(0.0), r"Constant: lr must be a finite number > 0, got 0.0"),
    (lambda: Constant(float("nan")), "Constant: lr must be a finite number > 0, got nan"),
    (lambda: Constant("0.1"), "Constant: lr must be a finite number > 0, got '0.1'"),
    (lambda: Exponential(0.1, gamma=1.5), r"Exponential: gamma must be a number in \(0, 1\], "
                                          r"got 1.5"),
    (lambda: StepDecay(0.1, step_size=0), "StepDecay: step_size must be a whole number >= 1"),
    (lambda: Cosine(0.1, total_steps=0), "Cosine: total_steps must be a whole number >= 1"),
    (lambda: Cosine(0.1, 10, min_lr=0.1), r"min_lr must be a number in \[0, lr=0.1\), got 0.1"),
    (lambda: LinearWarmup(0, then=0.1), "LinearWarmup: warmup_steps must be a whole number"),
    (lambda: LinearWarmup(3, then=-1.0), "LinearWarmup: then must be a finite number > 0"),
    (lambda: warmup_cosine(0.1, warmup_steps=10, total_steps=10),
     "warmup_steps=10 must be smaller than total_steps=10"),
    (lambda: Constant(0.1)(-1), "Constant: step must be a whole number >= 0, got -1"),
    (lambda: Constant(0.1)(1.5), "got 1.5"),
])
def test_bad_schedule_arguments(make, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        make()
