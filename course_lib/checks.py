"""Self-checks for the worksheets: run a student's answer against course_lib's reference.

Each worksheet item has a check, called in the cell after the answer::

    check_adam(Adam)          # a class with __init__(lr, beta1, beta2, eps) and update()

An optimizer is run on three runs (one parameter; two of the same shape; three of different
shapes), several steps each, with NON-default hyperparameters and fixed ``np.linspace`` inputs,
and compared with the reference after every step using the relative error
``max |x - y| / max(1e-8, |x| + |y|) < 1e-7`` (CS231n's check): the parameters, and the state
buffers the answer keeps where the worksheet asks for them (``self.v[key]``, ``self.t``, ...).
On success a check prints one line. On failure it says which run and step, which quantity (the
parameter or a state buffer such as the velocity ``v``), the expected and actual numbers (and
where they first differ), and, when the answer behaves exactly like a known mistake (see
:mod:`course_lib.grading.mistakes`), the mistake's name.

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from course_lib import optimizers
from course_lib.grading import mistakes
from course_lib.grading.items import (
    ITEMS,
    LAYOUTS,
    FunctionItem,
    OptimizerItem,
    Run,
    TrainingItem,
    fixed_runs,
    fixed_training_case,
    random_runs,
    random_training_case,
)
from course_lib.grading.runner import run_function, run_optimizer, run_training

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


def fmt(a: Any, n: int = 4, shape: bool = True) -> str:
    """The first few numbers of an array, for a message: ``[0.1, -0.2, ...] (shape 4x5)``."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return f"{a:.6g}"
    flat = a.reshape(-1)
    head = ", ".join(f"{v:.6g}" for v in flat[:n]) + (", ..." if flat.size > n else "")
    shown = shape and (a.ndim > 1 or a.size > n)
    return f"[{head}]" + (f" (shape {_shape(a)})" if shown else "")


def _shape(a: np.ndarray) -> str:
    return "x".join(str(d) for d in a.shape)


def _kind(a: np.ndarray) -> str:
    return "a single number" if a.ndim == 0 else f"an array of shape {_shape(a)}"


def _pair(x: float, y: float) -> tuple[str, str]:
    """x and y with the fewest significant digits (at least 6) that tell them apart."""
    for digits in (6, 8, 10, 12, 17):
        a, b = f"{x:.{digits}g}", f"{y:.{digits}g}"
        if a != b:
            break
    return a, b


def compare(want: Any, got: Any) -> str:
    """``expected ..., got ...`` for a message, pointing at the first number that differs.

    When the numbers shown first agree (or look alike to 6 digits), a second line gives the
    index and the values of the first one that does not.
    """
    want = np.asarray(want, dtype=float)
    if got is None:
        return f"expected {fmt(want)}, got a non-number"
    got = np.asarray(got, dtype=float)
    if got.shape != want.shape:
        return (f"expected {fmt(want, shape=False)} ({_kind(want)}), got "
                f"{fmt(got, shape=False)} ({_kind(got)})")
    if want.size == 1:
        a, b = _pair(float(want.reshape(-1)[0]), float(got.reshape(-1)[0]))
        text = f"expected {a}, got {b}" if want.ndim == 0 else f"expected [{a}], got [{b}]"
        return text + near_miss(want, got)
    text = f"expected {fmt(want)}, got {fmt(got)}"
    flat_w, flat_g = want.reshape(-1), got.reshape(-1)
    differ = [i for i in range(flat_w.size) if not same(flat_w[i], flat_g[i])]
    if differ and (differ[0] >= 4 or fmt(want) == fmt(got)):
        i = differ[0]
        a, b = _pair(float(flat_w[i]), float(flat_g[i]))
        index = ", ".join(str(int(j)) for j in np.unravel_index(i, want.shape))
        text += f"\n  first difference at index [{index}]: expected {a}, got {b}"
    return text + near_miss(want, got)


def near_miss(want: np.ndarray, got: np.ndarray) -> str:
    """A hint when two results agree to many digits but not to the tolerance: rounding."""
    if not (np.all(np.isfinite(want)) and np.all(np.isfinite(got))):
        return ""
    error = rel_error(want, got)
    if not TOLERANCE <= error < 1e-6:  # float32 rounding; formula slips differ more
        return ""
    return (f"\n  (they agree to about {int(-np.log10(error))} significant digits: is an array "
            f"float32, or a constant rounded? Work in float64 throughout)")


def scale_of(want: Any, got: Any) -> float | None:
    """The factor c with got == c * want everywhere (c != 1), if there is one."""
    want, got = np.asarray(want, dtype=float), np.asarray(got, dtype=float)
    if want.shape != got.shape or not np.all(np.isfinite(want)) or not np.any(want):
        return None
    c = float(np.vdot(want, got) / np.vdot(want, want))
    return c if not same(c, 1.0) and same(got, c * want) else None


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


def signature(item: OptimizerItem, hyper: Mapping[str, Any]) -> str:
    """``Adam(lr=0.02, beta1=0.8, ...)`` for messages."""
    return f"{item.symbol}({', '.join(f'{k}={v:.4g}' for k, v in hyper.items())})"


def describe_exception(item: OptimizerItem | FunctionItem | TrainingItem,
                       error: Mapping[str, Any], where: str) -> str:
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
    where = (f"in run {number} of {len(LAYOUTS)} ({run.label}: {', '.join(run.params)}; "
             f"{signature(item, run.hyper)})")
    error = record.get("error")
    steps = record.get("steps") or []
    if error and error.get("type") == "NotImplementedError":
        return Verdict(item.key, NOT_IMPLEMENTED, f"{item.symbol}: not implemented yet.")
    reference = reference_record(item, run)
    if not error and len(steps) == len(run.grads):
        found = float32_state(item, record, reference)
        if found:
            return float32_verdict(item, run, record, reference, found, where)
    for k, (got, want) in enumerate(zip(steps, reference["steps"], strict=False), start=1):
        if differences(item, run, got, want):
            return wrong_step(item, run, record, reference, k, where)
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


def differences(item: OptimizerItem, run: Run, got: Mapping[str, Any],
                want: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What differs after one step, in the order an update computes it: ``(buffer, key)``.

    The step count comes first (``("t", "")``), then for each parameter its buffers and
    itself (``("params", key)``). Buffers count only where the answer keeps them where the
    worksheet asks (``self.v[key]``, ...); an answer keeping them elsewhere is judged by its
    parameters alone.
    """
    state, ref = got.get("state", {}), want["state"]
    found = [("t", "")] if "t" in item.buffers and "t" in state and state["t"] != ref["t"] else []
    for key in run.params:
        found += [(name, key) for name in item.buffers
                  if name != "t" and key in state.get(name, {})
                  and not same(state[name][key], ref[name][key])]
        if not same(got["params"].get(key), want["params"][key]):
            found.append(("params", key))
    return found


def wrong_step(item: OptimizerItem, run: Run, record: Mapping[str, Any],
               reference: Mapping[str, Any], k: int, where: str,
               named: mistakes.Mistake | None = None) -> Verdict:
    """The verdict for the first wrong step: the first quantity that differs, and the mistake.

    ``named``: the mistake is known already (float32 state); otherwise it is searched for.
    """
    got, want = record["steps"][k - 1], reference["steps"][k - 1]
    before = record["steps"][k - 2]["params"] if k > 1 else run.params
    name, key = differences(item, run, got, want)[0]
    lines = [f"{item.symbol}: wrong at step {k} {where}."]
    lines += describe_difference(item, got, want, before, name, key, k, run.hyper,
                                 steady_scale(record, reference, name, key),
                                 exact_buffers=named is not mistakes.FLOAT32_STATE)
    if named:
        mistake: mistakes.Mistake | None = named
    elif follows(record, [s["params"] for s in reference["steps"]]):  # only a buffer is wrong
        mistake = state_mistake(item, run, record, reference)
    else:
        mistake = (matching_mistake(item, run, record)
                   or mistakes.hard_coded_defaults(item.key, run.hyper, item.defaults,
                                                   run.params, run.grads,
                                                   lambda path: follows(record, path))
                   or mistakes.shared_counter(item.key, run.hyper, run.params, run.grads,
                                              lambda path: follows_prefix(record, path),
                                              record["steps"][0].get("state", {}).get("t")))
    if mistake:
        lines.append(f"  likely mistake: {mistake.name} ({mistake.hint}).")
    return Verdict(item.key, WRONG, "\n".join(lines), mistake and mistake.name)


def factor_name(c: float, hyper: Mapping[str, float]) -> str:
    """`` = -lr`` when the factor ``c`` is a simple expression of one hyperparameter, else ''."""
    for h, x in hyper.items():
        forms = {h: x, f"-{h}": -x, f"(1 - {h})": 1 - x,
                 f"1/(1 - {h})": 1 / (1 - x) if x != 1 else np.inf}
        for text, value in forms.items():
            if same(c, value):
                return f" = {text}"
    return ""


def steady_scale(record: Mapping[str, Any], reference: Mapping[str, Any], name: str,
                 key: str) -> float | None:
    """The factor c with buffer == c * expected at EVERY recorded step, if there is one.

    One step is not enough: a velocity without friction in the textbook form is -lr times the
    expected one after the first update only, and saying so would point at the wrong fix.
    """
    if name in ("t", "params"):
        return None
    factors = []
    for got, want in zip(record.get("steps") or [], reference["steps"], strict=False):
        kept = got.get("state", {}).get(name, {})
        if key in kept:
            factors.append(scale_of(want["state"][name][key], kept[key]))
    first = factors[0] if factors else None
    steady = first is not None and all(c is not None and same(c, first) for c in factors)
    return first if steady else None


def describe_difference(item: OptimizerItem, got: Mapping[str, Any], want: Mapping[str, Any],
                        before: Mapping[str, Any], name: str, key: str, k: int,
                        hyper: Mapping[str, float], c: float | None = None,
                        exact_buffers: bool = True) -> list[str]:
    """Lines naming the quantity that differs, its numbers, and what else helps find why.

    ``c``: the buffer is ``c`` times the expected one at every step (see :func:`steady_scale`).
    ``exact_buffers=False``: buffers within the tolerance are not called right (float32 state
    passes on one step and drifts on the next).
    """
    state, ref = got.get("state", {}), want["state"]
    if name == "t":
        return [f"  step count t: expected {ref['t']} after {k} update(s), got {state['t']}"]
    if name != "params":
        lines = [f"  {item.buffers[name]}, {name}[{key!r}]: "
                 f"{compare(ref[name][key], state[name][key])}"]
        if c is not None:
            lines.append(f"  (your {name}[{key!r}] is {c:.6g}{factor_name(c, hyper)} times the "
                         f"expected one everywhere)")
        return lines
    lines = [f"  parameter {key!r}: {compare(want['params'][key], got['params'].get(key))}"]
    if key in got.get("rebound", []):
        lines.append(f"  params[{key!r}] was replaced by a new array: the caller's array did "
                     f"not change.")
    elif same(got["params"].get(key), before[key]):
        lines.append(f"  params[{key!r}] did not change in this update.")
    buffers = [b for b in item.buffers if b != "t"]
    missing = [b for b in buffers if b in state and key not in state[b]]
    kept = [f"{b}[{key!r}]" for b in buffers if key in state.get(b, {})]
    if missing:
        lines += [f"  self.{b} has no entry {key!r} after update(): keep each parameter's "
                  f"{b} in self.{b}[key]." for b in missing]
    elif kept and exact_buffers:
        lines.append(f"  {' and '.join(kept)} {'are' if len(kept) > 1 else 'is'} right: "
                     f"look at the step applied to the parameter.")
    return lines


def follows(record: Mapping[str, Any], path: Sequence[Mapping[str, np.ndarray]]) -> bool:
    """True when every recorded step's parameters match the simulated ``path``."""
    steps = record.get("steps") or []
    return bool(steps) and len(path) >= len(steps) and all(
        same(s["params"].get(key), p[key]) for s, p in zip(steps, path, strict=False)
        for key in p)


def follows_prefix(record: Mapping[str, Any],
                   path: Sequence[Mapping[str, np.ndarray]]) -> bool:
    """True when the first ``len(path)`` recorded steps match ``path``."""
    return follows({"steps": (record.get("steps") or [])[:len(path)]}, path)


def matching_mistake(item: OptimizerItem, run: Run,
                     record: Mapping[str, Any]) -> mistakes.Mistake | None:
    """The first known mistake whose simulation reproduces every recorded step, if any.

    A mistake in :data:`mistakes.COUNTS_RIGHT` is skipped when the answer's ``self.t`` is not
    1 after its first update: that is a counter carried over from earlier optimizers.
    """
    steps = record.get("steps") or []
    first_t = steps[0].get("state", {}).get("t") if steps else None
    for m in mistakes.MISTAKES[item.key]:
        if m.flaw in mistakes.COUNTS_RIGHT and first_t not in (None, 1):
            continue
        path = mistakes.simulate(item.key, run.hyper, run.params, run.grads, m.flaw)
        if path is not None and follows(record, path):
            return m
    return None


def state_mistake(item: OptimizerItem, run: Run, record: Mapping[str, Any],
                  reference: Mapping[str, Any]) -> mistakes.Mistake | None:
    """A known mistake whose buffer holds what its rule says at every recorded step, if any."""
    steps = list(zip(record.get("steps") or [], reference["steps"], strict=False))
    for m, name, rule in mistakes.STATE_MISTAKES.get(item.key, ()):
        if steps and all(_state_follows(got.get("state", {}), want["state"], name,
                                        lambda v, rule=rule: rule(run.hyper, v))
                         for got, want in steps):
            return m
    return None


def _state_follows(state: Mapping[str, Any], ref: Mapping[str, Any], name: str,
                   rule: Callable[[Any], Any]) -> bool:
    """True when the answer keeps buffer ``name`` and it equals ``rule(expected)``."""
    if name == "t":
        return "t" in state and state["t"] == rule(ref["t"])
    kept = state.get(name, {})
    return bool(kept) and all(same(a, rule(ref[name][key])) for key, a in kept.items())


# ----- float32 state -----------------------------------------------------------------------------
FLOAT32_REACH = 1e-5  # float32 keeps ~7 digits; over a few updates they stay this close


def near(x: Any, y: Any, tol: float = FLOAT32_REACH) -> bool:
    """True when ``x`` is within ``tol`` of ``y`` relative to y's largest number (one shape)."""
    if x is None or y is None:
        return False
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return False
    return float(np.max(np.abs(x - y), initial=0.0)) <= tol * max(
        1e-8, float(np.max(np.abs(y), initial=0.0)))


def float32_state(item: OptimizerItem, record: Mapping[str, Any],
                  reference: Mapping[str, Any]) -> tuple[int, str, str] | None:
    """(step, buffer, key) of the first buffer the answer keeps in float32, if it is the cause.

    It is the cause when every parameter and kept buffer is within float32's reach of the
    reference at every step (so no formula slip hides behind it). The record's arrays are
    float64, so float32 shows in the numbers: each one is exactly a float32, while the
    reference's are not.
    """
    first = None
    for k, (got, want) in enumerate(zip(record["steps"], reference["steps"], strict=False),
                                    start=1):
        state, ref = got.get("state", {}), want["state"]
        if not all(near(got["params"].get(key), want["params"][key]) for key in want["params"]):
            return None
        for name in (b for b in item.buffers if b != "t"):
            for key, a in state.get(name, {}).items():
                if not near(a, ref[name][key]):
                    return None
                if first is None and mistakes.is_float32(a) and not mistakes.is_float32(
                        ref[name][key]):
                    first = (k, name, key)
    return first


def float32_verdict(item: OptimizerItem, run: Run, record: Mapping[str, Any],
                    reference: Mapping[str, Any], found: tuple[int, str, str],
                    where: str) -> Verdict:
    """WRONG with FLOAT32_STATE: on the first step that misses the tolerance, or where float32
    first shows (an answer within the tolerance on one draw misses it on another)."""
    m = mistakes.FLOAT32_STATE
    steps = record["steps"]
    for k, (got, want) in enumerate(zip(steps, reference["steps"], strict=False), start=1):
        if differences(item, run, got, want):
            return wrong_step(item, run, record, reference, k, where, named=m)
    k, name, key = found
    lines = [f"{item.symbol}: wrong at step {k} {where}.",
             f"  {item.buffers[name]}, {name}[{key!r}]: every number is a float32 (about 7 "
             f"significant digits); the expected ones are float64",
             f"  likely mistake: {m.name} ({m.hint})."]
    return Verdict(item.key, WRONG, "\n".join(lines), m.name)


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
        step = error.get("step")
        call = calls[step - 1] if isinstance(step, int) and 0 < step <= len(calls) else None
        shown = f" ({_call_text(item, call)})" if call is not None else ""
        return Verdict(item.key, ERROR, describe_exception(item, error, f"on call {step}{shown}"))
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
    lines = [f"{item.symbol}: wrong result on call {i}: {_call_text(item, calls[i - 1])}",
             f"  {compare(want, got)}"]
    for m in mistakes.FUNCTION_MISTAKES.get(item.key, ()):
        if all(same(r, m.fn(*args)) for args, r in zip(calls, results, strict=False)):
            lines.append(f"  likely mistake: {m.name} ({m.hint}).")
            return Verdict(item.key, WRONG, "\n".join(lines), m.name)
    return Verdict(item.key, WRONG, "\n".join(lines))


# ----- judging a training loop -------------------------------------------------------------------
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
    want, want_params = mistakes.train_loop(case)
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
    if bad:
        a, b = _pair(float(want[bad[0]]), float(got[bad[0]]))
        lines.append(f"  loss at step {bad[0] + 1}: expected {a}, got {b}")
    else:
        lines.append("  the losses match but the final weights do not")
    lines.append(f"  the optimizer's update was called {record.get('updates')} times "
                 f"(expected {case['steps']})")
    for m in mistakes.TRAINING_MISTAKES:
        losses, params = mistakes.train_loop(case, m.flaw)
        if same(got, losses) and all(same(got_params.get(k), v) for k, v in params.items()):
            lines.append(f"  likely mistake: {m.name} ({m.hint}).")
            return Verdict(item.key, WRONG, "\n".join(lines), m.name)
    return Verdict(item.key, WRONG, "\n".join(lines))


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


# The check_* functions below add themselves.
__all__ = ["rel_error", "same", "Verdict", "check_item", "ITEMS", "CheckFailed"]


class CheckFailed(AssertionError):
    """A self-check that did not pass; the message is the diagnosis the student reads.

    It is an ``AssertionError`` so that a plain Run All stops at it and nbgrader's autograder
    scores the check cell 0. In Jupyter it shows as the diagnosis alone, without a traceback
    into course_lib (IPython calls ``_render_traceback_`` when an exception has one).
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self.args[0] if self.args else ''}"]


def _checker(key: str) -> Callable[[Any], None]:
    item = ITEMS[key]
    what = "class" if isinstance(item, OptimizerItem) else "function"

    def check(answer: Any) -> None:
        verdict = check_item(key, answer)
        if not verdict.passed:
            raise CheckFailed(verdict.message)
        print(verdict.message)

    check.__name__ = check.__qualname__ = f"check_{key}"
    check.__doc__ = (f"Check your {what} ``{item.symbol}`` against course_lib: print the verdict "
                     f"(one line) when correct, raise :class:`CheckFailed` with the diagnosis "
                     f"otherwise.")
    __all__.append(check.__name__)
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
