r"""Learning-rate schedules: callables ``step -> lr`` for step = 0, 1, 2, ...

:func:`course_lib.training.train` sets ``optimizer.lr = schedule(step)`` before every update.
The formulas are torch's ``lr_scheduler`` ones in closed form (``StepLR``, ``ExponentialLR``,
``CosineAnnealingLR``), so a schedule never depends on the history of the run.

>>> schedule = warmup_cosine(lr=0.1, warmup_steps=10, total_steps=100)
>>> [round(schedule(s), 4) for s in (0, 9, 10, 55, 99)]
[0.01, 0.1, 0.1, 0.05, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Schedule", "Constant", "StepDecay", "Exponential", "Cosine", "LinearWarmup",
           "warmup_cosine"]


class Schedule:
    """Base class: ``schedule(step)`` checks the step and calls :meth:`lr_at`."""

    def __call__(self, step: int) -> float:
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
            raise ValueError(f"{type(self).__name__}: step must be a whole number >= 0, "
                             f"got {step!r}")
        return float(self.lr_at(int(step)))

    def lr_at(self, step: int) -> float:
        """The learning rate for update number ``step`` (counted from 0)."""
        raise NotImplementedError

    def values(self, steps: int) -> np.ndarray:
        """The learning rates of the first ``steps`` updates, for plotting."""
        _check_int(self, "steps", steps, 0)
        return np.array([self(s) for s in range(steps)])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """The same ``lr`` at every step."""

    def __init__(self, lr: float) -> None:
        self.lr = _check_lr(self, "lr", lr)

    def lr_at(self, step: int) -> float:
        return self.lr


class StepDecay(Schedule):
    """Multiply ``lr`` by ``gamma`` every ``step_size`` steps: ``lr * gamma**(step //
    step_size)`` (torch's ``StepLR``).
    """

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1) -> None:
        self.lr = _check_lr(self, "lr", lr)
        self.step_size = _check_int(self, "step_size", step_size, 1)
        self.gamma = _check_gamma(self, gamma)

    def lr_at(self, step: int) -> float:
        return self.lr * self.gamma ** (step // self.step_size)


class Exponential(Schedule):
    """Multiply ``lr`` by ``gamma`` at every step: ``lr * gamma**step`` (torch's
    ``ExponentialLR``).
    """

    def __init__(self, lr: float, gamma: float) -> None:
        self.lr = _check_lr(self, "lr", lr)
        self.gamma = _check_gamma(self, gamma)

    def lr_at(self, step: int) -> float:
        return self.lr * self.gamma**step


class Cosine(Schedule):
    r"""Half a cosine from ``lr`` down to ``min_lr`` over ``total_steps`` steps, then ``min_lr``:

    .. math:: \mathrm{lr}_s = \mathrm{min\_lr} + \tfrac12 (\mathrm{lr} - \mathrm{min\_lr})
              (1 + \cos(\pi s / T))

    (torch's ``CosineAnnealingLR``, which instead climbs back up after T). Training for exactly
    ``total_steps`` updates never reaches ``min_lr`` itself, so ``min_lr = 0`` is allowed.
    """

    def __init__(self, lr: float, total_steps: int, min_lr: float = 0.0) -> None:
        self.lr = _check_lr(self, "lr", lr)
        self.total_steps = _check_int(self, "total_steps", total_steps, 1)
        if (isinstance(min_lr, bool) or not isinstance(min_lr, (int, float))
                or not 0 <= min_lr < lr):
            raise ValueError(f"Cosine: min_lr must be a number in [0, lr={lr!r}), got {min_lr!r}")
        self.min_lr = float(min_lr)

    def lr_at(self, step: int) -> float:
        s = min(step, self.total_steps)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * s
                                                                          / self.total_steps))


class LinearWarmup(Schedule):
    """Ramp up linearly over ``warmup_steps`` steps, then follow ``then`` (a schedule or any
    callable ``step -> lr``, or a number for a constant lr), restarted at its own step 0.

    Step s < warmup_steps gets ``then(0) * (s + 1) / warmup_steps``, so the first update
    already has a small positive lr and the last warm-up step reaches ``then(0)``.
    """

    def __init__(self, warmup_steps: int, then: float | Callable[[int], float]) -> None:
        self.warmup_steps = _check_int(self, "warmup_steps", warmup_steps, 1)
        if not callable(then):
            then = Constant(_check_lr(self, "then", then))
        self.then = then

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.then(0) * (step + 1) / self.warmup_steps
        return self.then(step - self.warmup_steps)


def warmup_cosine(lr: float, warmup_steps: int, total_steps: int,
                  min_lr: float = 0.0) -> LinearWarmup:
    """Linear warm-up to ``lr``, then a cosine decay to ``min_lr``; ``total_steps`` includes
    the warm-up.
    """
    _check_int(Cosine, "total_steps", total_steps, 1)
    _check_int(LinearWarmup, "warmup_steps", warmup_steps, 1)
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_cosine: warmup_steps={warmup_steps} must be smaller than "
                         f"total_steps={total_steps}")
    return LinearWarmup(warmup_steps, Cosine(lr, total_steps - warmup_steps, min_lr))


# ----- argument checks ------------------------------------------------------------------
def _who(owner: Any) -> str:
    return owner.__name__ if isinstance(owner, type) else type(owner).__name__


def _check_lr(owner: Any, name: str, value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.floating))
            or not 0 < value < math.inf):
        raise ValueError(f"{_who(owner)}: {name} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_gamma(owner: Any, gamma: Any) -> float:
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not 0 < gamma <= 1:
        raise ValueError(f"{_who(owner)}: gamma must be a number in (0, 1], got {gamma!r}")
    return float(gamma)


def _check_int(owner: Any, name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{_who(owner)}: {name} must be a whole number >= {low}, "
                         f"got {value!r}")
    return int(value)
