"""Training loops that make fair comparisons easy, and a smoother for noisy loss curves.

:func:`train` runs one optimizer on one network; :func:`compare` gives every optimizer its own
copy of the SAME initial network and the SAME sequence of minibatches, so differences in the
curves come from the optimizers alone. Nothing is printed; a progress bar goes to stderr only
when asked for, or by default when stderr is a terminal. A run whose loss or gradient stops
being finite, or grows a million-fold, ends there, and its history says at which step and why.

>>> from course_lib.data import digits
>>> from course_lib.networks import MLP
>>> from course_lib.optimizers import Adam
>>> hist = train(MLP([64, 32, 10], seed=0), Adam(lr=1e-3), digits(), steps=100, batch_size=64)
>>> len(hist.loss), hist.eval_steps[-1], hist.test_acc[-1] > 0.6
(100, 100, True)
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from course_lib._base import Optimizer, check_has_lr, check_updater
from course_lib.data import SAMPLINGS, Dataset, batch_indices, check_batch_size
from course_lib.networks import MLP

__all__ = ["History", "train", "compare", "smooth", "one_blas_thread"]

EVALUATIONS = 50  # evaluations per run when eval_every is not given
EXPLODE = 1e6  # a minibatch loss this many times (1 + the initial loss) has diverged


@dataclass
class History:
    """What one training run recorded.

    ``loss[k]`` and ``lr[k]`` belong to update k (the minibatch loss is measured before the
    update). Each evaluation, after ``eval_steps[i]`` updates (0 = the initial network), records
    the loss and accuracy on the full training and test sets; accuracies stay empty for a
    regression net and test values when the data has no test set. ``diverged_at`` is the step
    whose loss or gradient was not finite (or whose loss passed 1e6 x (1 + the initial training
    loss)), and ``reason`` says which.
    """

    name: str
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    diverged: bool = False
    diverged_at: int | None = None
    reason: str = ""

    @property
    def steps(self) -> int:
        """The number of updates made."""
        return len(self.loss)

    def summary(self) -> str:
        """One line: steps, final losses and accuracies, and divergence if any."""
        parts = [f"{self.name:>10s}: {self.steps:5d} steps"]
        for label, values, fmt in (("train loss", self.train_loss, ".4f"),
                                   ("train acc", self.train_acc, ".3f"),
                                   ("test acc", self.test_acc, ".3f")):
            if values:
                parts.append(f"{label} {values[-1]:{fmt}}")
        if self.diverged:
            parts.append(f"DIVERGED at step {self.diverged_at} ({self.reason})")
        return ", ".join(parts)


def train(net: MLP, optimizer: Optimizer, data: Dataset, *, steps: int | None = None,
          epochs: int | None = None, batch_size: int = 128,
          schedule: Callable[[int], float] | None = None, seed: int = 0,
          sampling: str = "shuffle", eval_every: int | None = None,
          progress: bool | None = None, name: str | None = None) -> History:
    """Train ``net`` in place with ``optimizer`` for ``steps`` updates (or ``epochs`` passes).

    Minibatches come from :func:`course_lib.data.batch_indices` with ``seed`` and ``sampling``
    (``"shuffle"`` or DLFS's ``"replace"``); one epoch is ceil(N / batch_size) steps.
    ``schedule(step)`` sets ``optimizer.lr`` before every update (and leaves it at its last
    value). Every argument and the whole data set are checked before the first update.

    ``optimizer`` is a course_lib optimizer or any object with an ``update(params, grads)``
    method that moves ``params`` in place (a class of your own); ``hist.lr`` records its ``lr``
    attribute (nan without one), and a schedule needs that attribute.
    """
    n_steps = _resolve_steps(steps, epochs, batch_size, data)
    _check_data(net, data)
    check_updater(optimizer)
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; choose one of {list(SAMPLINGS)}")
    if schedule is not None:
        check_has_lr(optimizer)
    lrs = _scheduled_lrs(schedule, n_steps)
    every = _check_eval_every(eval_every, n_steps)
    hist = History(name=type(optimizer).__name__ if name is None else name)
    batches = batch_indices(len(data.x_train), batch_size, seed, sampling)
    bar = _Progress(n_steps, hist.name) if _show_progress(progress) else None
    with one_blas_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore",
                                        under="ignore"):
        _evaluate(net, data, hist, 0)
        limit = EXPLODE * (1.0 + hist.train_loss[0])
        for k in range(n_steps):
            if hist.diverged:
                break
            idx = next(batches)
            if lrs is not None:
                optimizer.lr = lrs[k]
            loss, grads = net.forward_backward(data.x_train[idx], data.t_train[idx])
            reason = _divergence(loss, grads, limit)
            if reason:
                hist.diverged, hist.diverged_at, hist.reason = True, k, reason
                break
            optimizer.update(net.params, grads)
            hist.loss.append(loss)
            hist.lr.append(float(getattr(optimizer, "lr", math.nan)))  # nan: it has no lr
            if (k + 1) % every == 0 or k + 1 == n_steps:
                _evaluate(net, data, hist, k + 1)
            if bar is not None:
                bar.update(k + 1, loss)
    if bar is not None:
        bar.close()
    return hist


def compare(optimizers: Mapping[str, Optimizer | Callable[[], Optimizer]],
            make_net: MLP | Callable[[], MLP], data: Dataset, *, steps: int | None = None,
            epochs: int | None = None, batch_size: int = 128,
            schedule: Callable[[int], float] | Mapping[str, Callable] | None = None,
            seed: int = 0, sampling: str = "shuffle", eval_every: int | None = None,
            progress: bool | None = None) -> dict[str, History]:
    """Train one copy of the same initial network per optimizer on the same minibatches.

    ``optimizers`` maps a name to a fresh optimizer or to a factory making one (a class of your
    own with an ``update(params, grads)`` method counts, as does the class itself); ``make_net``
    is a network or a factory (called once). ``schedule`` is one schedule for all, or one per
    name. Returns the histories by name, in the given order.
    """
    if not isinstance(optimizers, Mapping) or not optimizers:
        raise ValueError(f"optimizers must be a non-empty dict name -> optimizer, "
                         f"got {optimizers!r}")
    opts = {name: _fresh_optimizer(name, o) for name, o in optimizers.items()}
    seen: dict[int, str] = {}
    for name, opt in opts.items():
        if id(opt) in seen:
            raise ValueError(f"optimizers {seen[id(opt)]!r} and {name!r} are the same object; "
                             f"each run needs its own state")
        seen[id(opt)] = name
    schedules = _schedules_by_name(schedule, opts)
    for name, opt in opts.items():
        if schedules[name] is not None:
            check_has_lr(opt, f"optimizers[{name!r}]")
    base = make_net if isinstance(make_net, MLP) else make_net()
    if not isinstance(base, MLP):
        raise TypeError(f"make_net must be a network or return one, got {base!r}")
    _resolve_steps(steps, epochs, batch_size, data)  # fail before any run starts
    _check_data(base, data)
    return {name: train(base.copy(), opt, data, steps=steps, epochs=epochs,
                        batch_size=batch_size, schedule=schedules[name], seed=seed,
                        sampling=sampling, eval_every=eval_every, progress=progress, name=name)
            for name, opt in opts.items()}


def one_blas_thread() -> contextlib.AbstractContextManager:
    """Run BLAS on one thread for the duration (a context manager).

    The course's matrices are small: handing a 128 x 64 product to several threads costs more
    in start-up and, on a busy machine, in waiting than the arithmetic itself (measured 6x
    slower with two threads on two cores). Uses threadpoolctl, which scikit-learn installs.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # without it, BLAS keeps its own thread count
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def smooth(curve: Sequence[float] | np.ndarray, weight: float = 0.9) -> np.ndarray:
    """An exponential moving average of ``curve`` with the start-up bias removed.

    Each point is a weighted mean of the points up to it, with weights ``weight**age``; it has
    the same length as ``curve`` and never looks ahead. ``weight = 0`` returns the curve.

    >>> smooth([1.0, 3.0, 3.0], weight=0.5).round(4)
    array([1.    , 2.3333, 2.7143])
    """
    values = np.asarray(curve, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"curve must be one-dimensional, got shape {values.shape}")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < 1:
        raise ValueError(f"weight must be a number in [0, 1), got {weight!r}")
    out = np.empty_like(values)
    avg = 0.0
    for i, v in enumerate(values):
        avg = weight * avg + (1 - weight) * v
        out[i] = avg / (1 - weight ** (i + 1))  # divide out the weight missing before step 0
    return out


# ----- helpers --------------------------------------------------------------------------
def _resolve_steps(steps: Any, epochs: Any, batch_size: Any, data: Any) -> int:
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a course_lib.data.Dataset, got {type(data).__name__}")
    n = len(data.x_train)
    check_batch_size(batch_size, n)
    if (steps is None) == (epochs is None):
        raise ValueError(f"give exactly one of steps and epochs, got steps={steps!r}, "
                         f"epochs={epochs!r}")
    name, value = ("steps", steps) if steps is not None else ("epochs", epochs)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(steps) if steps is not None else int(epochs) * math.ceil(n / batch_size)


def _check_data(net: MLP, data: Dataset) -> None:
    net.check_t(data.t_train, len(net.check_x(data.x_train, "data.x_train")), "data.t_train")
    if data.x_test is not None:
        net.check_t(data.t_test, len(net.check_x(data.x_test, "data.x_test")), "data.t_test")


def _check_eval_every(eval_every: Any, n_steps: int) -> int:
    if eval_every is None:
        return max(1, math.ceil(n_steps / EVALUATIONS))
    if isinstance(eval_every, bool) or not isinstance(eval_every, (int, np.integer)) \
            or eval_every < 1:
        raise ValueError(f"eval_every must be a whole number >= 1, got {eval_every!r}")
    return int(eval_every)


def _scheduled_lrs(schedule: Any, n_steps: int) -> list[float] | None:
    """Every lr of the run, checked up front so that a bad schedule stops nothing half-way."""
    if schedule is None:
        return None
    if not callable(schedule):
        raise TypeError(f"schedule must be a callable step -> lr, got {schedule!r}")
    lrs = [schedule(k) for k in range(n_steps)]
    for k, lr in enumerate(lrs):
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) \
                or not 0 <= lr < math.inf:
            raise ValueError(f"schedule gave lr={lr!r} at step {k}; every lr must be a "
                             f"finite number >= 0")
    return [float(lr) for lr in lrs]


def _evaluate(net: MLP, data: Dataset, hist: History, step: int) -> None:
    loss, acc = net.evaluate(data.x_train, data.t_train)
    hist.eval_steps.append(step)
    hist.train_loss.append(loss)
    if acc is not None:
        hist.train_acc.append(acc)
    if data.x_test is not None:
        test_loss, test_acc = net.evaluate(data.x_test, data.t_test)
        hist.test_loss.append(test_loss)
        if test_acc is not None:
            hist.test_acc.append(test_acc)
    if not math.isfinite(loss) and not hist.diverged:
        hist.diverged, hist.diverged_at = True, step
        hist.reason = f"training loss is {loss}"


def _divergence(loss: float, grads: Mapping[str, np.ndarray], limit: float) -> str:
    """Why this step has diverged, or "" if it has not."""
    if not math.isfinite(loss):
        return f"minibatch loss is {loss}"
    if loss > limit:
        return f"minibatch loss {loss:.3g} passed {limit:.3g} (1e6 x (1 + initial loss))"
    for key, g in grads.items():
        if not np.isfinite(g).all():
            return f"gradient of {key} is not finite"
    return ""


def _fresh_optimizer(name: str, spec: Any) -> Any:
    """The optimizer itself, or what the factory (a function or a class) returns."""
    steps = callable(getattr(spec, "update", None)) and not isinstance(spec, type)
    opt = spec if steps else spec() if callable(spec) else spec
    if isinstance(opt, type) or not callable(getattr(opt, "update", None)):
        raise TypeError(f"optimizers[{name!r}] must be an optimizer (an object with an "
                        f"update(params, grads) method) or a factory returning one, got {spec!r}")
    if isinstance(opt, Optimizer) and opt.t != 0:
        raise ValueError(f"optimizers[{name!r}] has already made {opt.t} updates; pass a "
                         f"fresh optimizer (or a factory) for a fair comparison")
    return opt


def _schedules_by_name(schedule: Any, opts: Mapping[str, Optimizer]) -> dict[str, Any]:
    if not isinstance(schedule, Mapping):
        return dict.fromkeys(opts, schedule)
    unknown = [k for k in schedule if k not in opts]
    if unknown:
        raise KeyError(f"schedule has entries {unknown} for no optimizer; "
                       f"optimizers: {list(opts)}")
    return {name: schedule.get(name) for name in opts}


def _show_progress(progress: bool | None) -> bool:
    if progress is None:
        return sys.stderr.isatty()
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    return progress


class _Progress:
    """A one-line text progress bar on stderr, redrawn at most 100 times."""

    WIDTH = 30

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label = total, label
        self.stream = sys.stderr if stream is None else stream
        self.shown = -1

    def update(self, done: int, loss: float) -> None:
        percent = 100 * done // self.total
        if percent == self.shown:
            return
        self.shown = percent
        filled = self.WIDTH * done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} loss {loss:.4f}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()
