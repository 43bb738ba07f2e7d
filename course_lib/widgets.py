"""Interactive exploration: move a slider, watch the optimizer's path and loss change.

``explore()`` builds an ipywidgets panel (problem, optimizer, learning rate on a log scale,
every other hyperparameter of the optimizer, steps, start point) above a contour plot with the
path and the loss curve, and a readout that says whether the run converged and, where theory
gives one, the learning-rate bound for stability. ``race()`` animates several optimizers on
one problem as a self-contained HTML/JavaScript player that needs no kernel.

The figure is a plain Agg figure shown as a PNG in an ``Image`` widget: the contour lines are
computed once per problem, the axes are drawn once per problem, optimizer and step-axis range,
and each slider move only changes line data and re-encodes the picture: about 10-20 ms on a
2-core machine, under 100 ms when the steps slider first enters a new step-axis range
(``benchmarks/widget_latency.py`` measures it).
"""

from __future__ import annotations

import base64
import inspect
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import ipywidgets as widgets
import numpy as np
import PIL.Image
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.mathtext import MathTextParser
from matplotlib.ticker import MaxNLocator

from course_lib._base import Flag, Hyper, Optimizer, check_updater, hyperparameter_names
from course_lib.minimize import Trajectory, minimize
from course_lib.optimizers import OPTIMIZERS, make_optimizer
from course_lib.plotting import COLORS, plot_contour
from course_lib.problems import PROBLEMS, Problem, get_problem

__all__ = ["explore", "race", "Explorer", "Race", "SliderRange", "slider_range",
           "stability_bound", "DEFAULT_LR", "DEFAULT_STEPS"]

# Learning rates that show each method at its best on the ellipse (Deep Learning from Scratch's
# comparison for the first four); explore() and race() start from these.
DEFAULT_LR = {"sgd": 0.95, "momentum": 0.1, "adagrad": 1.5, "rmsprop": 0.1, "adam": 0.3,
              "adamw": 0.3, "nadam": 0.3, "adadelta": 1.0, "radam": 0.3, "adamax": 0.3,
              "lion": 0.03}
# Steps that let the default runs reach the minimum's neighbourhood on each problem.
DEFAULT_STEPS = {"ellipse": 30, "ravine": 20, "banana": 150, "rosenbrock": 200}
MAX_STEPS = 500
LOSS_FLOOR = 1e-16  # loss - minimum is clipped here so the log axis never sees 0


@dataclass(frozen=True)
class SliderRange:
    """What a hyperparameter's control offers: ``kind`` is "log", "linear" or "flag"."""

    kind: str
    low: float = 0.0
    high: float = 1.0
    step: float = 0.01
    fmt: str = ".3f"

    def contains(self, value: float) -> bool:
        """True when ``value`` can be shown on this control."""
        return self.kind == "flag" or self.low <= value <= self.high

    def allowed(self) -> str:
        """The range as text for error messages."""
        return "True or False" if self.kind == "flag" else f"[{self.low:g}, {self.high:g}]"


# Ranges that teach (a decay factor of 0.9999 is allowed by Hyper but 0.99 is already extreme
# for momentum); each one lies inside its Hyper's allowed range (tests check this).
RANGES = {
    "lr": SliderRange("log", 1e-4, 10.0, 0.02, ".4"),  # d3 format: like g, no trailing zeros
    "momentum": SliderRange("linear", 0.0, 0.99, 0.01, ".2f"),
    "beta1": SliderRange("linear", 0.0, 0.99, 0.01, ".2f"),
    "beta2": SliderRange("linear", 0.5, 0.9999, 0.0001, ".4f"),
    "decay_rate": SliderRange("linear", 0.0, 0.999, 0.001, ".3f"),
    "rho": SliderRange("linear", 0.0, 0.999, 0.001, ".3f"),
    "eps": SliderRange("log", 1e-10, 1.0, 0.5, ".0e"),
    "weight_decay": SliderRange("linear", 0.0, 1.0, 0.01, ".2f"),
    "momentum_decay": SliderRange("linear", 0.0, 0.1, 0.001, ".3f"),
    "lr_decay": SliderRange("linear", 0.0, 1.0, 0.01, ".2f"),
    "initial_accumulator_value": SliderRange("linear", 0.0, 1.0, 0.01, ".2f"),
}


def slider_range(cls: type[Optimizer], name: str) -> SliderRange:
    """The control for hyperparameter ``name`` of optimizer class ``cls``.

    Known names use :data:`RANGES`; any other :class:`Hyper` gets a range derived from its
    allowed interval (linear when bounded, log-scale when not), a :class:`Flag` a checkbox.
    """
    descriptor = getattr(cls, name, None)
    if isinstance(descriptor, Flag):
        return SliderRange("flag")
    if name in RANGES:
        return RANGES[name]
    if not isinstance(descriptor, Hyper):
        raise TypeError(f"{cls.__name__}.{name} is neither a Hyper nor a Flag; no control for it")
    if math.isfinite(descriptor.high):
        step = (descriptor.high - descriptor.low) / 100
        high = descriptor.high - step if descriptor.high_open else descriptor.high
        low = descriptor.low + step if descriptor.low_open else descriptor.low
        return SliderRange("linear", low, high, step, ".3g")
    return SliderRange("log", max(descriptor.low, 1e-8), max(10.0, 10 * descriptor.low), 0.1,
                       ".3g")


def stability_bound(problem: Problem, opt: Optimizer) -> tuple[float | None, str]:
    """The largest stable lr on a quadratic, and how it is derived (None where none is known).

    On a quadratic with Hessian eigenvalues lambda, GD converges iff lr * lambda < 2 for every
    lambda; heavy-ball momentum iff lr * lambda < 2 + 2 * momentum; Nesterov's form iff
    lr * lambda < (2 + 2 m) / (1 + 2 m). Coupled weight decay adds wd to every eigenvalue.
    """
    if problem.lambda_max is None:
        return None, "no fixed lr bound: the curvature changes from point to point"
    lam = problem.lambda_max + opt.weight_decay
    kind = type(opt).__name__
    if kind == "SGD":
        return 2.0 / lam, f"GD is stable iff lr < 2/lambda_max = 2/{lam:g}"
    if kind == "Momentum":
        m = opt.momentum
        if m >= 1.0:
            return None, (f"no lr is stable with momentum = {m:g} >= 1: the velocity keeps "
                          f"all of itself and never decays")
        if opt.nesterov:
            return ((2 + 2 * m) / (1 + 2 * m) / lam,
                    (f"Nesterov is stable iff lr*lambda_max < (2 + 2*momentum)/(1 + 2*momentum), "
                     f"lambda_max = {lam:g}"))
        return (2 + 2 * m) / lam, (f"heavy ball is stable iff lr*lambda_max < 2 + 2*momentum, "
                                   f"lambda_max = {lam:g}")
    return None, f"no simple lr bound for {kind}: its steps adapt to the gradients it has seen"


# ----- checking the caller's input --------------------------------------------------------------

def _problem(problem: str | Problem) -> tuple[str, Problem]:
    """(menu key, problem): a name from PROBLEMS, or a Problem object keyed by its own name."""
    if isinstance(problem, Problem):
        return problem.name, problem
    if not isinstance(problem, str) or problem not in PROBLEMS:
        raise ValueError(f"unknown problem {problem!r}; choose one of {sorted(PROBLEMS)}")
    return problem, get_problem(problem)


def _optimizer_name(optimizer: str) -> str:
    key = optimizer.lower() if isinstance(optimizer, str) else optimizer
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)}")
    return key


def _checked_hyper(name: str, hyper: Mapping[str, Any]) -> dict[str, Any]:
    """The full hyperparameter set for ``name``: defaults, the teaching lr, then ``hyper``.

    Unknown names and values outside the optimizer's own range are refused by make_optimizer;
    values it accepts but the sliders cannot show are refused here, with the slider range.
    """
    cls = OPTIMIZERS[name]
    opt = make_optimizer(name, **{"lr": DEFAULT_LR[name], **hyper})
    values = opt.hyperparameters()
    for key, value in hyper.items():
        rng = slider_range(cls, key)
        if not rng.contains(float(value)):
            raise ValueError(f"explore: {key}={value!r} is outside the slider range "
                             f"{rng.allowed()} for {cls.__name__}")
    return values


def _checked_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) \
            or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be a whole number in [1, {MAX_STEPS}], got {steps!r}")
    return int(steps)


def _checked_start(problem: Problem, start: Sequence[float] | None) -> tuple[float, float]:
    if start is None:
        return problem.start
    xy = np.asarray(start, dtype=float)
    (x0, x1), (y0, y1) = problem.xlim, problem.ylim
    if xy.shape != (2,) or not (x0 <= xy[0] <= x1 and y0 <= xy[1] <= y1):
        raise ValueError(f"start must be a point (x, y) inside the plot of {problem.name}: "
                         f"x in [{x0:g}, {x1:g}], y in [{y0:g}, {y1:g}]; got {start!r}")
    return float(xy[0]), float(xy[1])


def _step_axis_end(steps: int) -> int:
    """Where the loss plot's step axis ends: the first of 1, 2, 3, 5, 10, 20, ... >= ``steps``.

    The axis changes only when the steps slider crosses one of these ends, so the cached picture
    of the axes stays valid for most moves; the run still fills at least half of the axis, and
    as steps grow the curve gets longer instead of being squeezed.
    """
    scale = 1
    while True:
        for mantissa in (1, 2, 3, 5):
            if steps <= mantissa * scale:
                return mantissa * scale
        scale *= 10


def _fresh(problem: Problem) -> Problem:
    """A copy whose gradient noise restarts from its seed, so equal settings draw equal paths."""
    if problem.noise:
        return replace(problem, _rng=np.random.default_rng(problem.seed))
    return problem


# ----- explore ---------------------------------------------------------------------------------

def _title(problem: Problem) -> str:
    r"""The problem's name and formula, in a form matplotlib's mathtext can draw.

    Problem formulas are written for MathJax; mathtext lacks ``\tfrac`` and the brace-less
    ``\frac12``, so ``\tfrac12`` becomes ``\frac{1}{2}``; a formula it still cannot parse is
    left out.
    """
    plain = re.sub(r"\\t?frac(\d)(\d)", r"\\frac{\1}{\2}", problem.latex)
    for latex in (problem.latex, plain):
        try:
            MathTextParser("path").parse(f"${latex}$")
        except ValueError:
            continue
        return f"{problem.name}: ${latex}$"
    return problem.name


def log_grid_start(rng: SliderRange, value: float) -> float:
    """The lowest exponent of a log slider whose grid passes through ``value`` exactly.

    The browser snaps a slider to min + k * step. With min = log10(low) the lr 1.85 asked for
    in a lecture would show as 1.820 (10 ** 0.26); shifting the grid by less than one step,
    inside the range, keeps the value the code asked for.
    """
    exponent, low = math.log10(value), math.log10(rng.low)
    steps_below = math.floor((exponent - low) / rng.step + 1e-9)
    return exponent - steps_below * rng.step


def _control(name: str, rng: SliderRange, value: Any) -> widgets.Widget:
    """The ipywidgets control for one hyperparameter."""
    style, layout = {"description_width": "110px"}, widgets.Layout(width="330px")
    if rng.kind == "flag":
        return widgets.Checkbox(value=bool(value), description=name, style=style, layout=layout)
    if rng.kind == "log":
        return widgets.FloatLogSlider(value=value, base=10, min=log_grid_start(rng, value),
                                      max=math.log10(rng.high), step=rng.step, description=name,
                                      readout_format=rng.fmt, style=style, layout=layout)
    return widgets.FloatSlider(value=value, min=rng.low, max=rng.high, step=rng.step,
                               description=name, readout_format=rng.fmt, style=style,
                               layout=layout)


class Explorer:
    """The panel ``explore()`` returns: controls, a figure and a readout, kept in sync.

    Set any control's ``.value`` (``explorer.controls["lr"].value = 0.5``) and the figure and
    readout follow, exactly as when a reader moves the slider. ``run`` is the latest
    :class:`~course_lib.minimize.Trajectory`; ``redraw()`` recomputes it and the picture.
    """

    def __init__(self, key: str, problem: Problem, optimizer: str, hyper: Mapping[str, Any],
                 steps: int, start: tuple[float, float]) -> None:
        self.problem, self.optimizer, self._quiet = problem, optimizer, True
        # A Problem object passed in (say a noisy one) joins the menu under its own name.
        self.extra = {} if key in PROBLEMS else {key: problem}
        self.fig = Figure(figsize=(9.6, 3.9), dpi=80)
        FigureCanvasAgg(self.fig)
        self.ax_path, self.ax_loss = self.fig.subplots(1, 2, width_ratios=[1.35, 1.0])
        # Fixed margins: a layout engine would re-measure every text on every redraw.
        self.fig.subplots_adjust(left=0.07, right=0.985, bottom=0.13, top=0.91, wspace=0.22)
        self.image = widgets.Image(format="png")
        # Rendered static parts, one per step-axis range: see render().
        self._backgrounds: dict[tuple[float, float], Any] = {}
        self.readout = widgets.HTML()
        self._build_common(key, steps)
        self.hyper_box = widgets.VBox()
        self._build_hyper(optimizer, hyper)
        left = widgets.VBox([self.problem_menu, self.optimizer_menu, self.steps, self.x0, self.y0])
        self.ui = widgets.VBox([widgets.HBox([left, self.hyper_box]), self.image, self.readout])
        self._set_start(problem, start)
        self._draw_problem()
        self._quiet = False
        self.redraw()

    # -- building ------------------------------------------------------------------------------
    def _build_common(self, key: str, steps: int) -> None:
        wide = {"style": {"description_width": "110px"}, "layout": widgets.Layout(width="330px")}
        self.problem_menu = widgets.Dropdown(options=sorted(PROBLEMS) + sorted(self.extra),
                                             value=key, description="problem", **wide)
        self.optimizer_menu = widgets.Dropdown(
            options=[(cls.__name__, k) for k, cls in OPTIMIZERS.items()], value=self.optimizer,
            description="optimizer", **wide)
        self.steps = widgets.IntSlider(value=steps, min=1, max=MAX_STEPS, description="steps",
                                       **wide)
        self.x0 = widgets.FloatSlider(description="start x", readout_format=".2f", **wide)
        self.y0 = widgets.FloatSlider(description="start y", readout_format=".2f", **wide)
        for control in (self.steps, self.x0, self.y0):
            control.observe(self._on_change, names="value")
        self.problem_menu.observe(self._on_problem, names="value")
        self.optimizer_menu.observe(self._on_optimizer, names="value")

    def _set_start(self, problem: Problem, start: tuple[float, float]) -> None:
        """Give the start sliders the problem's plot bounds and put them at ``start``."""
        for slider, (low, high), value in ((self.x0, problem.xlim, start[0]),
                                           (self.y0, problem.ylim, start[1])):
            # Widen, move, then narrow: a slider clips its value to [min, max] at every step.
            slider.min, slider.max = min(low, slider.min), max(high, slider.max)
            slider.value = value
            slider.min, slider.max, slider.step = low, high, (high - low) / 200

    def _build_hyper(self, optimizer: str, hyper: Mapping[str, Any]) -> None:
        self.optimizer = optimizer
        cls = OPTIMIZERS[optimizer]
        self.controls: dict[str, widgets.Widget] = {"steps": self.steps, "x0": self.x0,
                                                    "y0": self.y0}
        for name in hyperparameter_names(cls):
            control = _control(name, slider_range(cls, name), hyper[name])
            control.observe(self._on_change, names="value")
            self.controls[name] = control
        self.hyper_box.children = [self.controls[n] for n in hyperparameter_names(cls)]

    def _draw_problem(self) -> None:
        """Contours and fixed axis ranges for the current problem (once per problem)."""
        ax = self.ax_path
        ax.clear()
        plot_contour(ax, self.problem)
        color = COLORS.get(OPTIMIZERS[self.optimizer].__name__)
        (self.path_line,) = ax.plot([], [], marker="o", markersize=3, linewidth=1.2, color=color,
                                    label=OPTIMIZERS[self.optimizer].__name__)
        (self.start_dot,) = ax.plot([], [], marker="s", markersize=6, color="black",
                                    linestyle="none", label="start")
        (self.end_mark,) = ax.plot([], [], marker="x", markersize=11, mew=2.5, color="red",
                                   linestyle="none")
        self.note = ax.text(0.02, 0.97, "", transform=ax.transAxes, va="top", color="red",
                            fontsize=10, fontweight="bold")
        ax.set_title(_title(self.problem), fontsize=10)
        ax.legend(loc="lower right", fontsize=11)
        self.ax_loss.clear()
        (self.loss_line,) = self.ax_loss.plot([], [], color=color)
        self.loss_note = self.ax_loss.text(0.98, 0.97, "", transform=self.ax_loss.transAxes,
                                           ha="right", va="top", color="red", fontsize=9)
        self._fix_loss_range()
        self.ax_loss.set_xlabel("step")
        # AutoLocator's tick choice, but whole steps only (a 2-step axis has no step 0.5).
        self.ax_loss.xaxis.set_major_locator(
            MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10], integer=True))
        self.ax_loss.set_title("loss", fontsize=10)
        self.ax_loss.grid(True, alpha=0.3)
        self._backgrounds.clear()  # render the new static parts on the next redraw

    def _fix_loss_range(self) -> None:
        """A loss axis that does not move with the run, so it can stay a cached bitmap.

        The top is ten times the highest loss on the plotted area; a diverging run leaves
        through it (and is labelled), a converging one runs down a log scale of 12 decades.
        """
        ax, prob = self.ax_loss, self.problem
        _, _, Z = prob.grid(100)
        if prob.min_value is None:
            low, high = float(Z.min()), float(Z.max())
            ax.set_ylim(low - 0.5 * (high - low), high + 0.2 * (high - low))
            ax.set_ylabel("loss")
        else:
            top = 10.0 * max(float(Z.max()) - prob.min_value, 1e-12)
            ax.set_yscale("log")
            ax.set_ylim(top * 1e-12, top)
            ax.set_ylabel("loss - minimum")

    # -- reacting ------------------------------------------------------------------------------
    def _on_change(self, change: Mapping[str, Any]) -> None:
        if not self._quiet:
            self.redraw()

    def _on_problem(self, change: Mapping[str, Any]) -> None:
        key = change["new"]
        self.problem = self.extra[key] if key in self.extra else get_problem(key)
        self._quiet = True  # one redraw for the whole switch, not one per slider reset
        try:
            self.steps.value = DEFAULT_STEPS.get(key, 100)
            self._set_start(self.problem, self.problem.start)
            self._draw_problem()
        finally:
            self._quiet = False
        self.redraw()

    def _on_optimizer(self, change: Mapping[str, Any]) -> None:
        name = change["new"]
        self._build_hyper(name, _checked_hyper(name, {}))
        label = OPTIMIZERS[name].__name__
        for line in (self.path_line, self.loss_line):
            line.set_color(COLORS.get(label))
        self.path_line.set_label(label)
        self.ax_path.legend(loc="lower right", fontsize=8)
        self._backgrounds.clear()  # the legend is part of the cached bitmaps
        self.redraw()

    def hyperparameters(self) -> dict[str, Any]:
        """The optimizer's hyperparameters as the controls show them now."""
        names = hyperparameter_names(OPTIMIZERS[self.optimizer])
        return {n: self.controls[n].value for n in names}

    def redraw(self) -> None:
        """Rerun the optimizer with the controls' values; update the lines, picture, readout."""
        self.opt = make_optimizer(self.optimizer, **self.hyperparameters())
        start = (self.x0.value, self.y0.value)
        self.run = minimize(_fresh(self.problem), self.opt, start=start, steps=self.steps.value)
        end = _step_axis_end(self.steps.value)
        if self.ax_loss.get_xlim() != (0.0, float(end)):
            self.ax_loss.set_xlim(0, end)  # render() keeps one bitmap per step-axis range
        self._update_lines()
        self.image.value = self.render()
        self.readout.value = "<br>".join(self.summary_lines())

    def render(self) -> bytes:
        """The figure as PNG bytes, redrawing only what a slider can change.

        Everything static (contours, axes, ticks, labels, legend) is rendered once per problem,
        optimizer and step-axis range and kept as a bitmap (matplotlib's blitting); a redraw
        pastes it back and draws the few lines on top. A full draw spends most of its time on
        axis ticks and text, so this is several times faster. The bitmaps of step-axis ranges
        already seen are kept (about 1 MB each, at most one per end of ``_step_axis_end``), so
        dragging the steps slider back and forth draws the axes only once per range.
        """
        canvas = self.fig.canvas
        dynamic = [self.path_line, self.start_dot, self.end_mark, self.note, self.loss_line,
                   self.loss_note]
        key = self.ax_loss.get_xlim()
        if key not in self._backgrounds:
            for artist in dynamic:
                artist.set_animated(True)  # left out of the full draw below
            canvas.draw()
            self._backgrounds[key] = canvas.copy_from_bbox(self.fig.bbox)
        canvas.restore_region(self._backgrounds[key])
        for artist in dynamic:
            self.fig.draw_artist(artist)
        buf = io.BytesIO()
        # RGB (the figure is opaque) and compress_level 1: anti-aliased lines barely compress,
        # so stronger levels cost time and save almost nothing.
        rgba = PIL.Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba())
        rgba.convert("RGB").save(buf, format="png", compress_level=1)
        return buf.getvalue()

    def _update_lines(self) -> None:
        run, pts = self.run, self.run.points
        self.path_line.set_data(pts[:, 0], pts[:, 1])
        self.start_dot.set_data(pts[:1, 0], pts[:1, 1])
        last = pts[-1:] if run.diverged else np.empty((0, 2))
        self.end_mark.set_data(last[:, 0], last[:, 1])
        self.note.set_text(f"diverged at step {run.diverged_at}" if run.diverged else "")
        losses = run.losses
        if run.min_value is not None:
            losses = np.maximum(losses - run.min_value, LOSS_FLOOR)
        self.loss_line.set_data(np.arange(len(losses)), losses)
        high = self.ax_loss.get_ylim()[1]
        above = np.flatnonzero(losses > high)
        self.loss_note.set_text(f"off the scale from step {above[0]}" if above.size else "")

    def summary_lines(self) -> list[str]:
        """The readout: where the run ended, whether it converged, the stability bound."""
        run, opt = self.run, self.opt
        x, y = run.final
        lines = [f"{run.optimizer} on {self.problem.name}, lr = {opt.lr:.4g}: "
                 f"{run.steps} steps, final loss {run.final_loss:.4g} at ({x:.3f}, {y:.3f})"]
        first = float(run.losses[0])
        if run.diverged:
            lines.append(f"DIVERGED at step {run.diverged_at} ({run.reason})")
        elif run.final_loss > first:
            lines.append(f"not converging: the loss grew from {first:.4g} to {run.final_loss:.4g}")
        else:
            lines.append(f"converging: the loss fell from {first:.4g} to {run.final_loss:.4g}")
        bound, why = stability_bound(self.problem, opt)
        if bound is None:
            lines.append(why)
        else:
            side = "inside" if opt.lr < bound else "OUTSIDE"
            lines.append(f"stability: {why}, so lr < {bound:.4g}; lr = {opt.lr:.4g} is {side} it")
        return lines

    # -- display -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        """Plain text: the readout, so a notebook's stored text output is deterministic."""
        return "\n".join(self.summary_lines())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle = self.ui._repr_mimebundle_()
        bundle["text/plain"] = repr(self)
        return bundle


def explore(problem: str | Problem = "ellipse", optimizer: str = "sgd", *,
            steps: int | None = None, start: Sequence[float] | None = None,
            **hyper: Any) -> Explorer:
    """An interactive panel: sliders for every hyperparameter, the path, the loss, a readout.

    ``problem`` is a name from :data:`~course_lib.problems.PROBLEMS` or a
    :class:`~course_lib.problems.Problem`; ``optimizer`` a name from
    :data:`~course_lib.optimizers.OPTIMIZERS`; ``hyper`` sets starting values (the learning
    rate defaults to :data:`DEFAULT_LR`). The default, SGD with lr 0.95 on the ellipse, sits just
    under the stability bound lr < 1: nudge the slider to the right and watch it fail.

    >>> panel = explore(lr=0.5, steps=10)
    >>> print(panel.summary_lines()[1])
    converging: the loss fell from 6.45 to 0.8783
    """
    key, prob = _problem(problem)
    name = _optimizer_name(optimizer)
    values = _checked_hyper(name, hyper)
    steps = _checked_steps(DEFAULT_STEPS.get(key, 100) if steps is None else steps)
    return Explorer(key, prob, name, values, steps, _checked_start(prob, start))


# ----- race ------------------------------------------------------------------------------------

@dataclass
class Race:
    """A finished race: ``runs`` (label -> trajectory) and ``html``, a self-contained player."""

    problem: str
    runs: dict[str, Trajectory]
    html: str
    frames: int

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return (f"Race on {self.problem}: {', '.join(self.runs)} ({self.frames} frames, "
                f"{len(self.html) / 1024:.0f} KiB of HTML)")


def _race_entries(optimizers: Sequence[str | Optimizer] | Mapping[str, Mapping[str, Any]]
                  ) -> list[Optimizer]:
    if isinstance(optimizers, str):
        raise TypeError(f"optimizers must be a list of names, got the string {optimizers!r}; "
                        f"write [{optimizers!r}]")
    if isinstance(optimizers, Mapping):
        return [make_optimizer(_optimizer_name(k), **{"lr": DEFAULT_LR[_optimizer_name(k)],
                                                     **dict(h)})
                for k, h in optimizers.items()]
    opts = [make_optimizer(_optimizer_name(o), lr=DEFAULT_LR[_optimizer_name(o)])
            if isinstance(o, str) else check_updater(o, "a race entry") for o in optimizers]
    if not opts:
        raise ValueError(f"race needs at least one optimizer; choose from {sorted(OPTIMIZERS)}")
    return opts


def race(problem: str | Problem = "ellipse",
         optimizers: Sequence[str | Optimizer] | Mapping[str, Mapping[str, Any]] = (
             "sgd", "momentum", "adagrad", "adam"),
         steps: int | None = None, frames: int = 16, dpi: int = 80, fps: int = 4) -> Race:
    """Animate several optimizers on one problem, all starting together.

    ``optimizers`` is a list of names (each at its :data:`DEFAULT_LR`) or of optimizer objects
    (any object with an ``update(params, grads)`` method), or a mapping name ->
    hyperparameters. The animation is matplotlib's JavaScript player: it
    is stored in the notebook and plays in exported HTML without a kernel. ``frames`` and
    ``dpi`` bound its size (every frame is a PNG inside the page).
    """
    key, prob = _problem(problem)
    opts = _race_entries(optimizers)
    steps = _checked_steps(DEFAULT_STEPS.get(key, 100) if steps is None else steps)
    if isinstance(frames, bool) or not isinstance(frames, int) or not 2 <= frames <= 120:
        raise ValueError(f"frames must be a whole number in [2, 120], got {frames!r}")
    runs: dict[str, Trajectory] = {}
    for opt in opts:
        label = _label(opt)
        if label in runs:
            raise ValueError(f"race: {label} appears twice; give each entry different settings")
        runs[label] = minimize(_fresh(prob), opt, steps=steps)
    ticks = np.unique(np.linspace(0, steps, frames).round().astype(int))
    html = _animate(prob, runs, ticks, dpi, fps)
    return Race(problem=prob.name, runs=runs, html=html, frames=len(ticks))


def _label(opt: Any) -> str:
    """``Adam (lr=0.3, beta1=0.5)``: the learning rate and every non-default setting.

    An optimizer of your own shows its class name and its ``lr`` if it has a numeric one.
    """
    if not isinstance(opt, Optimizer):
        lr = getattr(opt, "lr", None)
        numeric = isinstance(lr, (int, float, np.floating)) and not isinstance(lr, bool)
        return f"{type(opt).__name__}" + (f" (lr={float(lr):g})" if numeric else "")
    defaults = {n: p.default for n, p in inspect.signature(type(opt)).parameters.items()}
    changed = [f"{n}={v:g}" if isinstance(v, float) else f"{n}={v}"
               for n, v in opt.hyperparameters().items() if n != "lr" and v != defaults[n]]
    return f"{type(opt).__name__} ({', '.join([f'lr={opt.lr:g}', *changed])})"


def _legend(label: str, run: Trajectory) -> str:
    """A race entry's legend text: a diverged run says where it stopped."""
    return label + (f", diverged at step {run.diverged_at}" if run.diverged else "")


def _animate(prob: Problem, runs: Mapping[str, Trajectory], ticks: np.ndarray, dpi: int,
             fps: int) -> str:
    fig = Figure(figsize=(8.0, 5.0), dpi=dpi)  # 640 x 400 px at the default dpi: notebook width
    FigureCanvasAgg(fig)
    ax: Axes = fig.add_subplot()
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.12, top=0.9)
    plot_contour(ax, prob, levels=15)  # fewer lines, smaller frames
    lines = {}
    for label, run in runs.items():
        (lines[label],) = ax.plot([], [], marker="o", markersize=3, linewidth=1.4,
                                  color=COLORS.get(run.optimizer), label=_legend(label, run))
    ax.legend(loc="lower right", fontsize=11)
    title = ax.set_title("")

    def frame(k: int) -> list:
        for label, run in runs.items():
            pts = run.points[: k + 1]  # a diverged run stops where it left the finite numbers
            lines[label].set_data(pts[:, 0], pts[:, 1])
        title.set_text(f"{prob.name}: step {k}")
        return [*lines.values(), title]

    anim = FuncAnimation(fig, frame, frames=list(ticks), interval=1000 // fps, blit=False)
    keep = [line.get_color() for line in lines.values()]
    return _self_contained(anim.to_jshtml(fps=fps, default_mode="once"), keep)


# A frame inside to_jshtml's page: base64 PNG data, wrapped with backslash-newline continuations.
_FRAME = re.compile(r'"data:image/png;base64,([A-Za-z0-9+/=\\\n]+)"')
# The player's buttons use icons from a web font on a CDN: without a network they are blank.
# Plain characters instead (each button keeps its tooltip, e.g. "Previous frame").
_ICONS = {"fa fa-minus": "\u2212", "fa fa-fast-backward": "\u21e4", "fa fa-step-backward": "\u2039",
          "fa fa-play fa-flip-horizontal": "\u25c0", "fa fa-pause": "\u275a\u275a",
          "fa fa-play": "\u25b6", "fa fa-step-forward": "\u203a", "fa fa-fast-forward": "\u21e5",
          "fa fa-plus": "+"}


def _self_contained(html: str, keep: Sequence[str]) -> str:
    """The player without outside requests: text buttons, and frames 4x smaller (see below)."""
    html = re.sub(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">', "", html)
    html = re.sub(r'<i class="([^"]+)"></i>', lambda m: _ICONS.get(m.group(1), m.group(0)), html)
    return _palette_frames(html, keep)


def _palette_frames(html: str, keep: Sequence[str], colors: int = 64) -> str:
    """Re-encode every embedded frame as a palette PNG of ``colors`` colours: about 4x smaller.

    Anti-aliased contour lines give a frame thousands of distinct colours that PNG compresses
    badly. One palette, made from the last frame (every path drawn) plus large swatches of the
    ``keep`` colours, serves all frames: thin lines get their exact colour even in the first
    frames, where they cover too few pixels to win a place in a palette of their own.
    """
    found = _FRAME.findall(html)
    if not found:
        return html

    def decode(data: str) -> PIL.Image.Image:
        raw = base64.b64decode(data.replace("\\\n", ""))
        return PIL.Image.open(io.BytesIO(raw)).convert("RGB")

    last = np.asarray(decode(found[-1]))
    bands = [to_rgb(c) for c in [*keep, "black", "white"]]
    swatch = np.repeat(np.array(bands), -(-last.shape[0] // len(bands)), axis=0)
    swatch = np.broadcast_to((swatch * 255).round().astype(np.uint8)[:, None, :],
                             (swatch.shape[0], last.shape[1], 3))
    palette = PIL.Image.fromarray(np.vstack([last, swatch])).quantize(colors)

    def shrink(match: re.Match) -> str:
        image = decode(match.group(1)).quantize(palette=palette, dither=PIL.Image.Dither.NONE)
        buf = io.BytesIO()
        image.save(buf, format="png", optimize=True)
        return f'"data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}"'

    return _FRAME.sub(shrink, html)
