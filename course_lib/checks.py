"""Self-checks for the worksheets: run a student's answer against course_lib's reference.

Each worksheet item has a check, called in the cell after the answer::

    check_adam(Adam)          # a class with __init__(lr, beta1, beta2, eps) and update()

An optimizer is run on three runs (one parameter; two of the same shape; three of different
shapes), several steps each, with NON-default hyperparameters and fixed ``np.linspace`` inputs,
and compared with the reference after every step using the relative error
``max |x - y| / max(1e-8, |x| + |y|) < 1e-7`` (CS231n's check). On success a check prints one
line. On failure it says which run and step, which quantity (the parameter or a state buffer
such as the velocity ``v``), the expected and actual numbers, and, when the answer behaves
exactly like a known mistake (see :mod:`course_lib.grading.mistakes`), the mistake's name.

The classes the worksheets ask for are small and self-contained, not course_lib subclasses::

    class Momentum:
        def __init__(self, lr=0.01, momentum=0.9):
            self.lr, self.momentum = lr, momentum
            self.v = {}                          # one velocity per parameter key
        def update(self, params, grads):         # change each params[key] IN PLACE
            ...

State lives in dicts keyed like ``params`` and named as in the notes (``v``, ``s``, ``m``,
``t``), so a check can show the first buffer that goes wrong. The grader (``course grade``) runs
the very same judgement on freshly drawn random inputs and hyperparameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_lib import optimizers
from course_lib.data import batch_indices
from course_lib.grading import mistakes
from course_lib.grading.runner import run_function, run_optimizer, run_training
from course_lib.networks import MLP
from course_lib.problems import get_problem
from course_lib.training import smooth

TOLERANCE = 1e-7
CORRECT, WRONG, NOT_IMPLEMENTED, ERROR, MISSING = (
    "correct", "wrong", "not implemented yet", "error", "missing")


# ----- comparing numbers -------------------------------------------------------------------------
def rel_error(x: Any, y: Any) -> float:
    """CS231n's relative error: max over elements of |x - y| / max(1e-8, |x| + |y|)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    with np.errstate(invalid="ignore"):
        return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)), initial=0.0))


def same(x: Any, y: Any, tol: float = TOLERANCE) -> bool:
    """True when x and y have one shape, NaN and inf in the same places, and agree elsewhere."""
    if x is None or y is None:
        return False
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        return False
    nan, inf = np.isnan(x), np.isinf(x) | np.isinf(y)
    if not np.array_equal(nan, np.isnan(y)) or not np.array_equal(x[inf], y[inf]):
        return False
    finite = ~nan & ~inf
    return rel_error(x[finite], y[finite]) < tol


def fmt(a: Any, n: int = 4) -> str:
    """The first few numbers of an array, for a message: ``[0.1, -0.2, ...] (shape 4x5)``."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return f"{a:.6g}"
    flat = a.reshape(-1)
    head = ", ".join(f"{v:.6g}" for v in flat[:n]) + (", ..." if flat.size > n else "")
    shape = "x".join(str(d) for d in a.shape)
    return f"[{head}]" + (f" (shape {shape})" if a.ndim > 1 or a.size > n else "")


# ----- the verdict -------------------------------------------------------------------------------
@dataclass
class Verdict:
    """The outcome of checking one item: a status, a message for the student, a mistake's name."""

    item: str
    status: str
    message: str
    mistake: str | None = None

    @property
    def passed(self) -> bool:
        """True when the answer matched the reference everywhere."""
        return self.status == CORRECT


# ----- what is checked ---------------------------------------------------------------------------
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
    buffers: dict[str, str] = field(default_factory=dict)
    kind: str = "optimizer"


@dataclass(frozen=True)
class FunctionItem:
    """A worksheet function (a small derivation answered with code) and its reference."""

    key: str
    symbol: str
    reference: Callable[..., Any]
    calls: tuple[tuple[Any, ...], ...]
    draw: Callable[[np.random.Generator], list[tuple[Any, ...]]]
    mistakes: tuple[tuple[str, str, Callable[..., Any]], ...] = ()
    kind: str = "function"


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
    OptimizerItem("sgd", "SGD", optimizers.SGD, {"lr": 0.07}, {"lr": LR}),
    OptimizerItem("momentum", "Momentum", optimizers.Momentum, {"lr": 0.05, "momentum": 0.7},
                  {"lr": LR, "momentum": DECAY}, {"v": "velocity v"}),
    OptimizerItem("nesterov", "Nesterov",
                  lambda **h: optimizers.Momentum(nesterov=True, **h),
                  {"lr": 0.05, "momentum": 0.7}, {"lr": LR, "momentum": DECAY},
                  {"v": "velocity v"}),
    OptimizerItem("adagrad", "AdaGrad", optimizers.AdaGrad, {"lr": 0.3, "eps": 1e-2},
                  {"lr": (0.05, 0.5), "eps": EPS}, {"s": "sum of squared gradients s"}),
    OptimizerItem("rmsprop", "RMSProp", optimizers.RMSProp,
                  {"lr": 0.03, "decay_rate": 0.8, "eps": 1e-2},
                  {"lr": LR, "decay_rate": (0.7, 0.95), "eps": EPS},
                  {"s": "moving average of squared gradients s"}),
    OptimizerItem("adam", "Adam", optimizers.Adam,
                  {"lr": 0.02, "beta1": 0.8, "beta2": 0.888, "eps": 1e-2},
                  {"lr": LR, "beta1": DECAY, "beta2": (0.8, 0.95), "eps": EPS},
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


def _ema(curve, weight, correct, power=None):
    """A moving average of ``curve`` (bias-corrected or not), for the smoothing mistakes."""
    out, avg = [], 0.0
    for i, v in enumerate(np.asarray(curve, float)):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - (weight if power is None else power) ** (i + 1)) if correct
                   else avg)
    return np.array(out)


def _uniform(rng: np.random.Generator, lo: float, hi: float, n: int | None = None):
    return rng.uniform(lo, hi, n) if n else float(rng.uniform(lo, hi))


FUNCTION_ITEMS = {item.key: item for item in (
    FunctionItem(
        "grad_ellipse", "grad_ellipse", _ellipse_gradient,
        ((-7.0, 2.0), (np.linspace(-7, 7, 5), np.linspace(-2, 3, 5))),
        lambda rng: [(_uniform(rng, -8, 8), _uniform(rng, -3, 3)),
                     (_uniform(rng, -8, 8, 6), _uniform(rng, -3, 3, 6))],
        (("forgot the factor 2 from y^2", "the derivative of y^2 is 2y",
          lambda x, y: np.array([np.asarray(x) / 10, np.asarray(y)])),
         ("differentiated x^2/20 as x/20", "the derivative of x^2 is 2x, so x^2/20 gives x/10",
          lambda x, y: np.array([np.asarray(x) / 20, 2 * np.asarray(y)])))),
    FunctionItem(
        "max_stable_lr", "max_stable_lr", lambda eig: 2.0 / np.max(eig),
        ((np.array([0.1, 2.0]),), (np.array([0.2, 4.0]),), (np.linspace(1.0, 100.0, 4),)),
        lambda rng: [(rng.uniform(0.1, 20.0, int(rng.integers(2, 6))),) for _ in range(3)],
        (("1 / lambda_max instead of 2 / lambda_max",
          "gradient descent is stable up to TWICE the step that is exact along one direction",
          lambda eig: 1.0 / np.max(eig)),
         ("used the smallest eigenvalue", "the steepest direction (largest eigenvalue) "
          "is the first to diverge", lambda eig: 2.0 / np.min(eig)))),
    FunctionItem(
        "momentum_gain", "momentum_gain", lambda mu: 1.0 / (1.0 - np.asarray(mu, float)),
        ((0.9,), (np.linspace(0.0, 0.95, 5),)),
        lambda rng: [(_uniform(rng, 0.0, 0.99),), (_uniform(rng, 0.0, 0.99, 5),)],
        (("momentum / (1 - momentum): the current gradient is missing",
          "the velocity sums g + momentum g + momentum^2 g + ...",
          lambda mu: np.asarray(mu, float) / (1.0 - np.asarray(mu, float))),)),
    FunctionItem(
        "adagrad_effective_lr", "adagrad_effective_lr", _adagrad_lr,
        ((0.5, np.linspace(-1.0, 1.2, 12).reshape(3, 4), 1e-2),
         (0.1, np.linspace(0.5, 3.0, 10).reshape(5, 2), 1e-3)),
        lambda rng: [(_uniform(rng, 0.05, 1.0), rng.normal(size=(int(rng.integers(2, 7)), 4)),
                      _uniform(rng, 1e-3, 1e-2)) for _ in range(2)],
        (("forgot the square root", "divide lr by the ROOT of the summed squares",
          lambda lr, g, eps: lr / (np.sum(np.asarray(g) ** 2, axis=0) + eps)),
         ("AdaGrad without accumulation", "s sums ALL the squared gradients, not the last one",
          lambda lr, g, eps: lr / (np.abs(np.asarray(g)[-1]) + eps)),
         ("eps inside the sqrt", "add eps after taking the root",
          lambda lr, g, eps: lr / np.sqrt(np.sum(np.asarray(g) ** 2, axis=0) + eps)))),
    FunctionItem(
        "rmsprop_s_after", "rmsprop_s_after",
        lambda g, rho, t: (1.0 - rho**t) * np.asarray(g, float) ** 2,
        ((2.0, 0.9, 1), (np.linspace(-1.0, 2.0, 4), 0.99, 10), (0.5, 0.8, 25)),
        lambda rng: [(rng.normal(size=3), _uniform(rng, 0.5, 0.99), int(rng.integers(1, 30)))
                     for _ in range(3)],
        (("forgot that s starts at 0", "s starts at zero and only slowly climbs to g^2",
          lambda g, rho, t: np.asarray(g, float) ** 2 + 0.0 * rho * t),
         ("decay_rate^t instead of 1 - decay_rate^t", "s_t = (1 - decay_rate) times a sum of "
          "powers of decay_rate", lambda g, rho, t: rho**t * np.asarray(g, float) ** 2))),
    FunctionItem(
        "uncorrected_first_step", "uncorrected_first_step", _uncorrected_step,
        ((0.001, np.linspace(-1.0, 1.0, 5), 0.9, 0.999, 1e-8),
         (0.02, np.linspace(-3.0, 2.0, 4), 0.8, 0.888, 1e-2)),
        lambda rng: [(_uniform(rng, 1e-3, 0.1), rng.normal(size=4), _uniform(rng, 0.6, 0.95),
                      _uniform(rng, 0.8, 0.999), _uniform(rng, 1e-8, 1e-2)) for _ in range(2)],
        (("this is the bias-corrected step", "without correction m = (1 - beta1) g and "
          "v = (1 - beta2) g^2", lambda lr, g, b1, b2, eps: -lr * np.asarray(g) / (
              np.abs(np.asarray(g)) + eps)),
         ("gradient added instead of subtracted", "p_1 - p_0 points against the gradient",
          lambda *args: -_uncorrected_step(*args)))),
    FunctionItem(
        "smooth", "smooth", smooth,
        ((np.linspace(2.0, 0.5, 8) + 0.3 * np.cos(np.arange(8.0)), 0.9),
         (np.array([1.0, 3.0, 3.0]), 0.5)),
        lambda rng: [(rng.normal(size=int(rng.integers(5, 15))), _uniform(rng, 0.6, 0.95))
                     for _ in range(2)],
        (("no bias correction", "the average starts at 0: divide by 1 - weight^(i+1), as "
          "Adam does", lambda c, w: _ema(c, w, correct=False)),
         ("weight where (1 - weight) belongs", "weight multiplies the OLD average",
          lambda c, w: _ema(c, 1.0 - w, correct=True, power=w)))),
)}



# ----- the training loop (capstone) ---------------------------------------------------------------
@dataclass(frozen=True)
class TrainingItem:
    """A student's training loop ``fn(net, optimizer, x, t, steps, batch_size, seed)``."""

    key: str
    symbol: str
    kind: str = "training"


TRAINING_MISTAKES = (
    ("no_update", "forgot the optimizer's update", "each step must hand the gradient to the "
     "optimizer, which moves net.params"),
    ("loss_after_update", "loss measured after the update",
     "record the minibatch loss computed together with the gradient, before the update"),
    ("same_batch", "the same minibatch at every step", "take the next batch from the stream "
     "at every step"),
    ("full_batch", "the whole data set at every step", "train on minibatches from "
     "batch_indices(len(x), batch_size, seed)"),
    ("seed_ignored", "the seed was ignored", "pass seed to batch_indices"),
)


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


def reference_training(case: Mapping[str, Any], flaw: str | None = None,
                       ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The training loop done right (or with ``flaw``), with course_lib's SGD."""
    net = MLP(case["sizes"], seed=case["net_seed"])
    opt = optimizers.SGD(lr=case["lr"])
    x, t = np.asarray(case["x"], float), np.asarray(case["t"], np.int64)
    batches = batch_indices(len(x), case["batch_size"], 0 if flaw == "seed_ignored" else
                            case["seed"])
    first = next(batches)
    losses = []
    for k in range(case["steps"]):
        idx = np.arange(len(x)) if flaw == "full_batch" else (
            first if k == 0 or flaw == "same_batch" else next(batches))
        loss, grads = net.loss_and_gradient(x[idx], t[idx])
        if flaw != "no_update":
            opt.update(net.params, grads)
        losses.append(net.loss(x[idx], t[idx]) if flaw == "loss_after_update" else loss)
    return np.array(losses), {k: v.copy() for k, v in net.params.items()}


def judge_training(item: TrainingItem, case: Mapping[str, Any],
                   record: Mapping[str, Any] | None) -> Verdict:
    """Compare the losses and final weights of a student's loop with the reference loop."""
    if record is None:
        return Verdict(item.key, MISSING, f"{item.symbol} is not defined.")
    error = record.get("error")
    if error and error.get("type") == "NotImplementedError":
        return Verdict(item.key, NOT_IMPLEMENTED, f"{item.symbol}: not implemented yet.")
    if error:
        return Verdict(item.key, ERROR, describe_exception(item, error, "while training"))
    want, want_params = reference_training(case)
    got, got_params = record.get("losses"), record.get("params") or {}
    where = (f"({case['steps']} steps, batch_size={case['batch_size']}, seed={case['seed']}, "
             f"a {'-'.join(map(str, case['sizes']))} net trained with plain SGD, "
             f"lr={case['lr']:.4g})")
    if got is None or np.shape(got) != want.shape:
        return Verdict(item.key, WRONG, f"{item.symbol}: expected a list of {len(want)} losses, "
                       f"one per step, got {fmt(got) if got is not None else 'no numbers'} "
                       f"{where}.")
    bad = [k for k in range(len(want)) if not same(got[k], want[k])]
    if not bad and all(same(got_params.get(k), v) for k, v in want_params.items()):
        return Verdict(item.key, CORRECT, f"{item.symbol}: correct (losses and final weights "
                       f"match the reference loop, rel. error < {TOLERANCE:.0e}).")
    lines = [f"{item.symbol}: wrong {where}."]
    lines.append(f"  loss at step {bad[0] + 1}: expected {want[bad[0]]:.6g}, got "
                 f"{got[bad[0]]:.6g}" if bad else "  the losses match but the final weights "
                 "do not")
    lines.append(f"  the optimizer's update was called {record.get('updates')} times "
                 f"(expected {case['steps']})")
    for flaw, name, hint in TRAINING_MISTAKES:
        losses, params = reference_training(case, flaw)
        if same(got, losses) and all(same(got_params.get(k), v) for k, v in params.items()):
            lines.append(f"  likely mistake: {name} ({hint}).")
            return Verdict(item.key, WRONG, "\n".join(lines), name)
    return Verdict(item.key, WRONG, "\n".join(lines))


TRAINING_ITEMS = {"train_losses": TrainingItem("train_losses", "train_losses")}
ITEMS: dict[str, OptimizerItem | FunctionItem | TrainingItem] = {
    **OPTIMIZER_ITEMS, **FUNCTION_ITEMS, **TRAINING_ITEMS}


# ----- judging an optimizer ----------------------------------------------------------------------
def reference_state(opt: optimizers.Optimizer, buffers: Sequence[str],
                    keys: Sequence[str]) -> dict[str, Any]:
    """course_lib's state in the worksheet layout: ``{name: {key: array}}`` and ``t``."""
    state: dict[str, Any] = {b: {k: opt.state[k][b].copy() for k in keys}
                             for b in buffers if b != "t"}
    state["t"] = opt.t
    return state


def reference_record(item: OptimizerItem, run: Run) -> dict[str, Any]:
    """What course_lib's optimizer does on ``run``, recorded like a student's answer."""
    return run_optimizer(item.reference, run.hyper, run.params, run.grads, list(item.buffers),
                         read_state=reference_state)


def signature(item: OptimizerItem | FunctionItem, hyper: Mapping[str, Any]) -> str:
    """``Adam(lr=0.02, beta1=0.8, ...)`` for messages."""
    return f"{item.symbol}({', '.join(f'{k}={v:.4g}' for k, v in hyper.items())})"


def describe_exception(item: Any, error: Mapping[str, Any],
                       where: str) -> str:
    """One line naming the exception a student's code raised, and where."""
    call = error.get("call") or item.symbol
    text = f"{item.symbol}: {call} raised {error.get('type')}"
    if error.get("message"):
        text += f": {error['message']}"
    if error.get("where"):
        text += f" ({error['where']})"
    return f"{text}, {where}."


def judge_run(item: OptimizerItem, run: Run, record: Mapping[str, Any],
              number: int) -> Verdict | None:
    """None when the recorded answer matches the reference on ``run``; else what went wrong."""
    where = f"in run {number} of {len(LAYOUTS)} ({run.label}; {signature(item, run.hyper)})"
    error = record.get("error")
    steps = record.get("steps") or []
    if error and error.get("type") == "NotImplementedError":
        return Verdict(item.key, NOT_IMPLEMENTED, f"{item.symbol}: not implemented yet.")
    reference = reference_record(item, run)
    for k, (got, want) in enumerate(zip(steps, reference["steps"], strict=False), start=1):
        bad = [key for key in run.params if not same(got["params"].get(key), want["params"][key])]
        if bad:
            return wrong_step(item, run, record, reference, k, bad[0], where)
    if error:
        message = describe_exception(item, error, f"at step {error.get('step')} {where}")
        mistake = mistake_behind_error(item, run, error)
        if mistake:
            message += f"\n  likely mistake: {mistake.name} ({mistake.hint})."
        return Verdict(item.key, ERROR, message, mistake and mistake.name)
    if len(steps) < len(run.grads):
        return Verdict(item.key, ERROR, f"{item.symbol}: the record stopped after {len(steps)} "
                       f"of {len(run.grads)} steps {where}.")
    return None


def wrong_step(item: OptimizerItem, run: Run, record: Mapping[str, Any],
               reference: Mapping[str, Any], k: int, key: str, where: str) -> Verdict:
    """The verdict for the first wrong step: the first quantity that differs, and the mistake."""
    got, want = record["steps"][k - 1], reference["steps"][k - 1]
    lines = [f"{item.symbol}: wrong at step {k} {where}."]
    lines.append(first_difference(item, got, want, key, k))
    if key in got.get("rebound", []):
        lines.append(f"  params[{key!r}] was replaced by a new array: the caller's array did "
                     f"not change.")
    mistake = matching_mistake(item, run, record)
    if mistake:
        lines.append(f"  likely mistake: {mistake.name} ({mistake.hint}).")
    return Verdict(item.key, WRONG, "\n".join(lines), mistake and mistake.name)


def first_difference(item: OptimizerItem, got: Mapping[str, Any], want: Mapping[str, Any],
                     key: str, k: int) -> str:
    """A line naming the first state buffer (in update order) or the parameter that differs."""
    state, ref = got.get("state", {}), want["state"]
    if "t" in item.buffers and "t" in state and state["t"] != ref["t"]:
        return f"  step count t: expected {ref['t']} after {k} update(s), got {state['t']}"
    for name, description in item.buffers.items():
        if name == "t" or key not in state.get(name, {}):
            continue
        if not same(state[name][key], ref[name][key]):
            return (f"  {description}, {name}[{key!r}]: expected {fmt(ref[name][key])}, "
                    f"got {fmt(state[name][key])}")
    return (f"  parameter {key!r}: expected {fmt(want['params'][key])}, "
            f"got {fmt(got['params'].get(key, np.nan))}")


def matching_mistake(item: OptimizerItem, run: Run,
                     record: Mapping[str, Any]) -> mistakes.Mistake | None:
    """The first known mistake whose simulation reproduces every recorded step, if any."""
    steps = record.get("steps") or []
    for m in mistakes.MISTAKES[item.key]:
        path = mistakes.simulate(item.key, run.hyper, run.params, run.grads, m.flaw)
        if path is None or len(path) < len(steps) or not steps:
            continue
        if all(same(s["params"].get(key), p[key]) for s, p in zip(steps, path, strict=False)
               for key in run.params):
            return m
    return None


def mistake_behind_error(item: OptimizerItem, run: Run,
                         error: Mapping[str, Any]) -> mistakes.Mistake | None:
    """A known mistake that divides by zero where the student's code raised ZeroDivisionError."""
    step = error.get("step")
    if error.get("type") not in ("ZeroDivisionError", "FloatingPointError") or not step:
        return None
    for m in mistakes.MISTAKES[item.key]:
        path = mistakes.simulate(item.key, run.hyper, run.params, run.grads, m.flaw)
        if path and len(path) >= step and not all(np.all(np.isfinite(a))
                                                  for a in path[step - 1].values()):
            return m
    return None


def judge_optimizer(item: OptimizerItem, runs: Sequence[Run],
                    record_of: Callable[[Run], Mapping[str, Any] | None]) -> Verdict:
    """Run and judge each run in turn; the first failing run decides the verdict."""
    for number, run in enumerate(runs, start=1):
        record = record_of(run)
        if record is None:
            return Verdict(item.key, MISSING, f"{item.symbol} is not defined.")
        verdict = judge_run(item, run, record, number)
        if verdict:
            return verdict
    updates = sum(len(r.grads) for r in runs)
    return Verdict(item.key, CORRECT, f"{item.symbol}: correct ({len(runs)} runs, {updates} "
                   f"updates, rel. error < {TOLERANCE:.0e} against course_lib).")


# ----- judging a function ------------------------------------------------------------------------
def judge_function(item: FunctionItem, calls: Sequence[tuple[Any, ...]],
                   record: Mapping[str, Any] | None) -> Verdict:
    """Compare each recorded result with the reference; name a known mistake if one matches."""
    if record is None:
        return Verdict(item.key, MISSING, f"{item.symbol} is not defined.")
    error = record.get("error")
    results = record.get("results") or []
    if error and error.get("type") == "NotImplementedError":
        return Verdict(item.key, NOT_IMPLEMENTED, f"{item.symbol}: not implemented yet.")
    for i, (args, got) in enumerate(zip(calls, results, strict=False), start=1):
        want = np.asarray(item.reference(*args), dtype=float)
        if not same(got, want):
            return wrong_call(item, calls, results, i, want, got)
    if error:
        return Verdict(item.key, ERROR, describe_exception(
            item, error, f"on call {error.get('step')} ({_call_text(item, calls[0])})"))
    if len(results) < len(calls):
        return Verdict(item.key, ERROR, f"{item.symbol}: the record stopped after "
                       f"{len(results)} of {len(calls)} calls.")
    return Verdict(item.key, CORRECT, f"{item.symbol}: correct ({len(calls)} calls, rel. error "
                   f"< {TOLERANCE:.0e}).")


def _call_text(item: FunctionItem, args: tuple[Any, ...]) -> str:
    shown = ", ".join(fmt(a, 3) if np.ndim(a) else f"{a:.4g}" for a in args)
    return f"{item.symbol}({shown})"


def wrong_call(item: FunctionItem, calls: Sequence[tuple[Any, ...]], results: Sequence[Any],
               i: int, want: np.ndarray, got: Any) -> Verdict:
    """The verdict for the first wrong result, naming a known mistake that reproduces all."""
    got_text = "a non-number" if got is None else fmt(got)
    if got is not None and np.shape(got) != want.shape:
        got_text += f" with shape {np.shape(got)} instead of {want.shape}"
    lines = [f"{item.symbol}: wrong result on call {i}: {_call_text(item, calls[i - 1])}",
             f"  expected {fmt(want)}, got {got_text}"]
    name = None
    for mistake, hint, fn in item.mistakes:
        if all(same(r, fn(*args)) for args, r in zip(calls, results, strict=False)):
            name = mistake
            lines.append(f"  likely mistake: {mistake} ({hint}).")
            break
    return Verdict(item.key, WRONG, "\n".join(lines), name)


# ----- the self-checks ---------------------------------------------------------------------------
def check_item(key: str, answer: Any, rng: np.random.Generator | None = None) -> Verdict:
    """Check ``answer`` (a class or function) for worksheet item ``key`` in this process.

    With ``rng`` the inputs and hyperparameters are drawn at random, as the grader does;
    otherwise they are the self-check's fixed ones.
    """
    item = ITEMS[key]
    if isinstance(item, OptimizerItem):
        runs = fixed_runs(item) if rng is None else random_runs(item, rng)
        return judge_optimizer(item, runs, lambda run: run_optimizer(
            answer, run.hyper, run.params, run.grads, list(item.buffers)))
    if isinstance(item, TrainingItem):
        case = fixed_training_case() if rng is None else random_training_case(rng)
        return judge_training(item, case, run_training(answer, case))
    calls = item.calls if rng is None else item.draw(rng)
    return judge_function(item, calls, run_function(answer, calls))


def _checker(key: str) -> Callable[[Any], None]:
    item = ITEMS[key]
    what = "class" if isinstance(item, OptimizerItem) else "function"

    def check(answer: Any) -> None:
        print(check_item(key, answer).message)

    check.__name__ = f"check_{key}"
    check.__doc__ = (f"Check your {what} ``{item.symbol}`` against course_lib and print the "
                     f"verdict (one line when correct).")
    return check


check_sgd = _checker("sgd")
check_momentum = _checker("momentum")
check_nesterov = _checker("nesterov")
check_adagrad = _checker("adagrad")
check_rmsprop = _checker("rmsprop")
check_adam = _checker("adam")
check_grad_ellipse = _checker("grad_ellipse")
check_max_stable_lr = _checker("max_stable_lr")
check_momentum_gain = _checker("momentum_gain")
check_adagrad_effective_lr = _checker("adagrad_effective_lr")
check_rmsprop_s_after = _checker("rmsprop_s_after")
check_uncorrected_first_step = _checker("uncorrected_first_step")
check_smooth = _checker("smooth")
check_train_losses = _checker("train_losses")
