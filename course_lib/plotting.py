"""Plotting helpers for the notebooks: each takes a matplotlib ``ax``, draws, and returns it.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> from course_lib import SGD, minimize
>>> run = minimize("ellipse", SGD(lr=0.95), steps=30)
>>> ax = plot_paths(plt.subplots()[1], "ellipse", {"SGD": run})
>>> [t.get_text() for t in ax.get_legend().get_texts()]
['minimum', 'SGD']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

from course_lib.minimize import Trajectory
from course_lib.problems import Problem, get_problem

# One colour per optimizer, the same in every figure of the course. FullMatrixAdaGrad is black,
# the colour its curves had before it had an entry here.
COLORS = {"SGD": "tab:blue", "Momentum": "tab:orange", "AdaGrad": "tab:green",
          "RMSProp": "tab:red", "Adam": "tab:purple", "AdamW": "tab:brown",
          "NAdam": "tab:pink", "Adadelta": "tab:olive", "RAdam": "tab:cyan",
          "Adamax": "tab:gray", "Lion": "navy", "FullMatrixAdaGrad": "black"}


def plot_contour(ax: Axes, problem: str | Problem, levels: int = 25, n: int = 200) -> Axes:
    """Contour lines of the problem over its plotting bounds, and its minimum as a star.

    Levels are spaced geometrically above the minimum, so both the steep walls and the flat
    valley floor show; the saddle (no minimum) gets evenly spaced levels.
    """
    prob = get_problem(problem)
    X, Y, Z = prob.grid(n)
    if prob.minimum is None:
        ax.contour(X, Y, Z, levels=levels, cmap="viridis", linewidths=0.8)
    else:
        low = prob.min_value
        span = np.maximum(Z - low, 0.0)
        top = np.percentile(span, 95)
        floor = max(top * 1e-4, 1e-6)
        ax.contour(X, Y, span, levels=np.geomspace(floor, top, levels), cmap="viridis",
                   linewidths=0.8)
        ax.plot(*prob.minimum, marker="*", color="black", markersize=12, linestyle="none",
                label="minimum")
    ax.set_xlim(prob.xlim)
    ax.set_ylim(prob.ylim)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return ax


def plot_trajectory(ax: Axes, run: Trajectory, label: str | None = None,
                    color: str | None = None, markersize: float = 3) -> Axes:
    """The path of one run: dots for the iterates, a cross where it diverged."""
    label = label or run.optimizer
    color = color or COLORS.get(run.optimizer)
    pts = run.points
    (line,) = ax.plot(pts[:, 0], pts[:, 1], marker="o", markersize=markersize, linewidth=1.2,
                      color=color, label=label + (" (diverged)" if run.diverged else ""))
    if run.diverged:
        ax.plot(*pts[-1], marker="x", markersize=10, color=line.get_color(), mew=2)
    return ax


def plot_paths(ax: Axes, problem: str | Problem, runs: Mapping[str, Trajectory],
               title: str | None = None) -> Axes:
    """Contours of ``problem`` with every run of ``runs`` (label -> trajectory) on top."""
    prob = get_problem(problem)
    plot_contour(ax, prob)
    for label, run in runs.items():
        plot_trajectory(ax, run, label=label, color=COLORS.get(run.optimizer))
    ax.set_title(title or f"{prob.name}: ${prob.latex}$")
    ax.legend(loc="best", fontsize=8)
    return ax


def plot_losses(ax: Axes, curves: Mapping[str, Trajectory | Sequence[float] | np.ndarray],
                log: bool = True, xlabel: str = "step", title: str = "loss") -> Axes:
    """Loss against step for each labelled run (a trajectory, or any sequence of losses).

    With ``log=True`` the y axis is logarithmic, and a trajectory's losses are shown as
    loss - minimum where its problem's minimum value is known.
    """
    for label, curve in curves.items():
        if isinstance(curve, Trajectory):
            values = curve.losses
            if log and curve.min_value is not None:
                values = values - curve.min_value
            color = COLORS.get(curve.optimizer)
        else:
            values, color = np.asarray(curve, dtype=float), COLORS.get(label)
        ax.plot(np.arange(len(values)), values, label=label, color=color)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss - minimum" if log and any(isinstance(c, Trajectory) and c.min_value
                                                  is not None for c in curves.values())
                  else "loss")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return ax
