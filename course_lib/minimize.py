"""Run an optimizer on a 2-D problem and keep the whole path.

Divergence is a lesson (the learning rate is too large), not a crash: the run stops at the first
non-finite or exploding value and the result says at which step and why, with no NumPy warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from course_lib._base import Optimizer, check_updater
from course_lib.optimizers import make_optimizer
from course_lib.problems import Problem, get_problem

# A point this many times farther out than where it started has escaped.
EXPLODE = 1e6


@dataclass
class Trajectory:
    """The path of one run: ``points[k]`` is the point after k steps (``points[0]`` the start).

    ``losses`` and ``grad_norms`` are measured at each point (``min_value`` is the problem's
    lowest value, if known); ``steps`` is how many updates
    were made (gradient norms are noise-free); ``diverged_at`` is the step whose result was
    non-finite or exploding, if any.
    """

    problem: str
    optimizer: str
    points: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    steps: int
    min_value: float | None = None
    diverged: bool = False
    diverged_at: int | None = None
    reason: str = ""

    @property
    def final(self) -> np.ndarray:
        """The last finite point."""
        return self.points[-1]

    @property
    def final_loss(self) -> float:
        """The loss at the last finite point."""
        return float(self.losses[-1])

    def summary(self) -> str:
        """One line for printing: where it ended, the loss, and divergence if any."""
        x, y = self.final
        text = (f"{self.optimizer:>10s} on {self.problem}: {self.steps} steps, "
                f"end ({x: .4f}, {y: .4f}), loss {self.final_loss:.4g}")
        return text + (f", DIVERGED at step {self.diverged_at} ({self.reason})"
                       if self.diverged else "")


def minimize(problem: str | Problem, optimizer: str | Optimizer,
             start: Sequence[float] | None = None, steps: int = 100) -> Trajectory:
    """Take ``steps`` updates of ``optimizer`` on ``problem`` from ``start`` (default: its own).

    ``optimizer`` is a name, a course_lib optimizer or any object with an
    ``update(params, grads)`` method (the one parameter is ``params["xy"]``).

    >>> from course_lib.optimizers import SGD
    >>> run = minimize("ellipse", SGD(lr=0.95), steps=30)
    >>> print(f"{run.final[0]:.3f} {run.final[1]:.3f}")
    -0.350 0.085
    """
    prob = get_problem(problem)
    opt = make_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
    check_updater(opt, "optimizer (or a name from OPTIMIZERS)")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    xy = np.array(prob.start if start is None else start, dtype=float)
    if xy.shape != (2,) or not np.all(np.isfinite(xy)):
        raise ValueError(f"start must be two finite numbers (x, y), got {start!r}")
    limit = EXPLODE * (1.0 + np.abs(xy).max())
    params = {"xy": xy}
    points, losses = [xy.copy()], [prob.value(xy)]
    reason, at = "", None
    with np.errstate(all="ignore"):
        for k in range(1, steps + 1):
            opt.update(params, {"xy": prob.gradient(xy)})
            loss = prob.value(xy)
            if not (np.all(np.isfinite(xy)) and np.isfinite(loss)):
                reason, at = "non-finite value", k
            elif np.abs(xy).max() > limit:
                reason, at = f"|x| passed {limit:.3g}", k
            if at is not None:
                break
            points.append(xy.copy())
            losses.append(loss)
    points = np.array(points)
    norms = np.hypot(*prob.df(points[:, 0], points[:, 1]))  # the true gradient, noise-free
    return Trajectory(problem=prob.name, optimizer=type(opt).__name__,
                      points=points, losses=np.array(losses), grad_norms=norms,
                      min_value=prob.min_value,
                      steps=(at - 1) if at else steps, diverged=at is not None, diverged_at=at,
                      reason=reason)
