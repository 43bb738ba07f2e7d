"""What each worksheet item is, and the inputs its checks feed it.

Three kinds of item:

* :class:`OptimizerItem`: a class with ``__init__(**hyperparameters)`` and ``update(params,
  grads)``, compared with a course_lib optimizer over several runs (:data:`LAYOUTS`);
* :class:`FunctionItem`: a function answering a small derivation, compared with a formula;
* :class:`TrainingItem`: the capstone's training loop, compared with a reference loop.

The self-checks use fixed ``np.linspace`` inputs and fixed, non-default hyperparameters; the
grader draws random inputs and hyperparameters (from ranges that keep every known mistake
distinguishable, e.g. no beta near 0.5, where beta and 1 - beta coincide).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_lib import optimizers
from course_lib.problems import get_problem
from course_lib.training import smooth


@dataclass(frozen=True)
class Run:
    """One run of an optimizer: hyperparameters, starting parameters, a gradient per step."""

    label: str
    hyper: dict[str, float]
    params: dict[str, np.ndarray]
    grads: list[dict[str, np.ndarray]]


@dataclass(frozen=True)
class OptimizerItem:
    """A worksheet class: its name in the notebook, its reference and how to test it."""

    key: str
    symbol: str
    reference: Callable[..., optimizers.Optimizer]
    hyper: dict[str, float]
    ranges: dict[str, tuple[float, float]]
    defaults: dict[str, float]  # the worksheet's __init__ defaults (course_lib's as well)
    buffers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FunctionItem:
    """A worksheet function (a small derivation answered with code) and its reference."""

    key: str
    symbol: str
    reference: Callable[..., Any]
    calls: tuple[tuple[Any, ...], ...]
    draw: Callable[[np.random.Generator], list[tuple[Any, ...]]]


@dataclass(frozen=True)
class TrainingItem:
    """A student's training loop ``fn(net, optimizer, x, t, steps, batch_size, seed)``."""

    key: str
    symbol: str


LAYOUTS = (("one parameter", {"W": (4, 5)}),
           ("two parameters of the same shape", {"W1": (4, 5), "W2": (4, 5)}),
           ("three parameters of different shapes", {"W": (4, 5), "b": (5,), "c": (3,)}))
STEPS = 4
GRAD_SCALE = (1.0, 0.5, 2.0, 0.25)  # the gradient's size changes from step to step


def fixed_runs(item: OptimizerItem) -> list[Run]:
    """The self-check's runs: np.linspace inputs and the item's fixed hyperparameters."""
    runs = []
    for label, shapes in LAYOUTS:
        params = {k: np.linspace(-0.9 + 0.3 * i, 1.1 - 0.2 * i, _size(s)).reshape(s)
                  for i, (k, s) in enumerate(shapes.items())}
        grads = [{k: GRAD_SCALE[step] * np.linspace(-1.2 + 0.25 * step + 0.1 * i,
                                                    0.8 + 0.15 * step - 0.05 * i,
                                                    _size(s)).reshape(s)
                  for i, (k, s) in enumerate(shapes.items())} for step in range(STEPS)]
        runs.append(Run(label, dict(item.hyper), params, grads))
    return runs


def random_runs(item: OptimizerItem, rng: np.random.Generator) -> list[Run]:
    """The grader's runs: random inputs and hyperparameters drawn afresh for every submission."""
    runs = []
    for label, shapes in LAYOUTS:
        hyper = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in item.ranges.items()}
        params = {k: rng.normal(size=s) for k, s in shapes.items()}
        grads = [{k: GRAD_SCALE[step] * rng.normal(size=s) for k, s in shapes.items()}
                 for step in range(STEPS)]
        runs.append(Run(label, hyper, params, grads))
    return runs


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


LR = (0.01, 0.1)
DECAY = (0.6, 0.9)
EPS = (1e-3, 1e-2)
OPTIMIZER_ITEMS = {item.key: item for item in (
    OptimizerItem("sgd", "SGD", optimizers.SGD, {"lr": 0.07}, {"lr": LR}, {"lr": 0.01}),
    OptimizerItem("momentum", "Momentum", optimizers.Momentum, {"lr": 0.05, "momentum": 0.7},
                  {"lr": LR, "momentum": DECAY}, {"lr": 0.01, "momentum": 0.9},
                  {"v": "velocity v"}),
    OptimizerItem("nesterov", "Nesterov",
                  lambda **h: optimizers.Momentum(nesterov=True, **h),
                  {"lr": 0.05, "momentum": 0.7}, {"lr": LR, "momentum": DECAY},
                  {"lr": 0.01, "momentum": 0.9}, {"v": "velocity v"}),
    OptimizerItem("adagrad", "AdaGrad", optimizers.AdaGrad, {"lr": 0.3, "eps": 1e-2},
                  {"lr": (0.05, 0.5), "eps": EPS}, {"lr": 0.01, "eps": 1e-10},
                  {"s": "sum of squared gradients s"}),
    OptimizerItem("rmsprop", "RMSProp", optimizers.RMSProp,
                  {"lr": 0.03, "decay_rate": 0.8, "eps": 1e-2},
                  {"lr": LR, "decay_rate": (0.7, 0.95), "eps": EPS},
                  {"lr": 0.01, "decay_rate": 0.99, "eps": 1e-8},
                  {"s": "moving average of squared gradients s"}),
    OptimizerItem("adam", "Adam", optimizers.Adam,
                  {"lr": 0.02, "beta1": 0.8, "beta2": 0.888, "eps": 1e-2},
                  {"lr": LR, "beta1": DECAY, "beta2": (0.8, 0.95), "eps": EPS},
                  {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
                  {"t": "step count t", "m": "first moment m", "v": "second moment v"}),
)}


# ----- the derivation questions ------------------------------------------------------------------
def _ellipse_gradient(x, y):
    return np.array(get_problem("ellipse").df(np.asarray(x, float), np.asarray(y, float)))


def _adagrad_lr(lr, grads, eps):
    return lr / (np.sqrt(np.sum(np.asarray(grads, float) ** 2, axis=0)) + eps)


def _uncorrected_step(lr, g, beta1, beta2, eps):
    g = np.asarray(g, float)
    return -lr * (1 - beta1) * g / (np.sqrt(1 - beta2) * np.abs(g) + eps)


def _uniform(rng: np.random.Generator, lo: float, hi: float, n: int | None = None):
    return rng.uniform(lo, hi, n) if n else float(rng.uniform(lo, hi))


FUNCTION_ITEMS = {item.key: item for item in (
    FunctionItem(
        "grad_ellipse", "grad_ellipse", _ellipse_gradient,
        ((-7.0, 2.0), (np.linspace(-7, 7, 5), np.linspace(-2, 3, 5))),
        lambda rng: [(_uniform(rng, -8, 8), _uniform(rng, -3, 3)),
                     (_uniform(rng, -8, 8, 6), _uniform(rng, -3, 3, 6))]),
    FunctionItem(
        "max_stable_lr", "max_stable_lr", lambda eig: 2.0 / np.max(eig),
        ((np.array([0.1, 2.0]),), (np.array([0.2, 4.0]),), (np.linspace(1.0, 100.0, 4),)),
        lambda rng: [(rng.uniform(0.1, 20.0, int(rng.integers(2, 6))),) for _ in range(3)]),
    FunctionItem(
        "momentum_gain", "momentum_gain", lambda mu: 1.0 / (1.0 - np.asarray(mu, float)),
        ((0.9,), (np.linspace(0.0, 0.95, 5),)),
        lambda rng: [(_uniform(rng, 0.0, 0.99),), (_uniform(rng, 0.0, 0.99, 5),)]),
    FunctionItem(
        "adagrad_effective_lr", "adagrad_effective_lr", _adagrad_lr,
        ((0.5, np.linspace(-1.0, 1.2, 12).reshape(3, 4), 1e-2),
         (0.1, np.linspace(0.5, 3.0, 10).reshape(5, 2), 1e-3)),
        lambda rng: [(_uniform(rng, 0.05, 1.0), rng.normal(size=(int(rng.integers(2, 7)), 4)),
                      _uniform(rng, 1e-3, 1e-2)) for _ in range(2)]),
    FunctionItem(
        "rmsprop_s_after", "rmsprop_s_after",
        lambda g, rho, t: (1.0 - rho**t) * np.asarray(g, float) ** 2,
        ((2.0, 0.9, 1), (np.linspace(-1.0, 2.0, 4), 0.99, 10), (0.5, 0.8, 25)),
        lambda rng: [(rng.normal(size=3), _uniform(rng, 0.5, 0.99), int(rng.integers(1, 30)))
                     for _ in range(3)]),
    FunctionItem(
        "uncorrected_first_step", "uncorrected_first_step", _uncorrected_step,
        ((0.001, np.linspace(-1.0, 1.0, 5), 0.9, 0.999, 1e-8),
         (0.02, np.linspace(-3.0, 2.0, 4), 0.8, 0.888, 1e-2)),
        lambda rng: [(_uniform(rng, 1e-3, 0.1), rng.normal(size=4), _uniform(rng, 0.6, 0.95),
                      _uniform(rng, 0.8, 0.999), _uniform(rng, 1e-8, 1e-2)) for _ in range(2)]),
    FunctionItem(
        "smooth", "smooth", smooth,
        ((np.linspace(2.0, 0.5, 8) + 0.3 * np.cos(np.arange(8.0)), 0.9),
         (np.array([1.0, 3.0, 3.0]), 0.5)),
        lambda rng: [(rng.normal(size=int(rng.integers(5, 15))), _uniform(rng, 0.6, 0.95))
                     for _ in range(2)]),
)}


# ----- the training loop (capstone) ---------------------------------------------------------------
def fixed_training_case() -> dict[str, Any]:
    """The self-check's case: a tiny net and np.linspace inputs."""
    return {"sizes": [4, 5, 3], "net_seed": 1, "x": np.linspace(-1.0, 1.0, 48).reshape(12, 4),
            "t": np.arange(12) % 3, "steps": 6, "batch_size": 4, "seed": 3, "lr": 0.2}


def random_training_case(rng: np.random.Generator) -> dict[str, Any]:
    """The grader's case: random data, network seed, minibatch seed and learning rate."""
    n = int(rng.integers(18, 30))
    return {"sizes": [4, int(rng.integers(4, 8)), 3], "net_seed": int(rng.integers(1, 10**6)),
            "x": rng.normal(size=(n, 4)), "t": rng.integers(0, 3, n), "steps": 7,
            "batch_size": int(rng.integers(4, 7)), "seed": int(rng.integers(1, 10**6)),
            "lr": float(rng.uniform(0.05, 0.5))}


TRAINING_ITEMS = {"train_losses": TrainingItem("train_losses", "train_losses")}
ITEMS: dict[str, OptimizerItem | FunctionItem | TrainingItem] = {
    **OPTIMIZER_ITEMS, **FUNCTION_ITEMS, **TRAINING_ITEMS}
