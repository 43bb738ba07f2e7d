"""The known student mistakes, each simulated so that a wrong answer can be named.

Every worksheet optimizer is written here once more, as a plain per-parameter rule with a
``flaw`` switch: ``flaw=None`` is the correct rule (the tests check it against course_lib's
reference), and each flaw is one mistake students make. When a student's numbers match a
simulated flaw on the same inputs, the check names that mistake instead of only saying "wrong".

Four mistakes are about bookkeeping rather than the formula, so :func:`simulate` handles them
for every optimizer: updating a copy instead of the parameter in place, one state buffer shared
by all parameters, state that starts from zero at every update, and counting ``t`` once per
parameter instead of once per update. :func:`shared_counter` finds an Adam whose ``t`` lives at
module or class level and so carries on from earlier optimizers. :func:`hard_coded_defaults`
finds answers that ignore a hyperparameter they were given, and :data:`STATE_MISTAKES` those
whose parameters are right but whose buffers hold something other than what the worksheet
asks for (a multiple of the velocity, a step count one ahead). :data:`FLOAT32_STATE` is state
kept in float32, which :func:`is_float32` sees in the numbers themselves.

The derivation questions' wrong answers are :data:`FUNCTION_MISTAKES`; the capstone's training
loop is :func:`train_loop`, whose ``flaw=None`` is the reference loop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from course_lib.data import batch_indices
from course_lib.networks import MLP
from course_lib.optimizers import SGD

Rule = Callable[[np.ndarray, np.ndarray, dict, int, Mapping[str, float], "str | None"],
                np.ndarray]


@dataclass(frozen=True)
class Mistake:
    """A named mistake: ``flaw`` switches it on in a rule; ``hint`` says what to look at."""

    flaw: str
    name: str
    hint: str


def sgd(p, g, state, t, h, flaw=None):
    """p - lr * g."""
    if flaw == "sign":
        return p + h["lr"] * g
    if flaw == "no_lr":
        return p - g
    return p - h["lr"] * g


def momentum(p, g, state, t, h, flaw=None, nesterov=False):
    """v = momentum * v + g; p - lr * v (or p - lr * (g + momentum * v) with Nesterov)."""
    mu, lr = h["momentum"], h["lr"]
    old_v = state.get("v", 0.0)
    if flaw == "damped":
        v = mu * old_v + (1 - mu) * g
    elif flaw == "no_friction":  # the old velocity kept whole: momentum = 1
        v = old_v + g
    elif flaw == "lr_twice":
        v = mu * old_v + lr * g
    else:
        v = mu * old_v + g
    state["v"] = v
    step = old_v if flaw == "stale" else v
    if nesterov and flaw != "no_lookahead":
        step = {"lookahead_without_momentum": g + v,
                "lookahead_sign": g - mu * v}.get(flaw, g + mu * v)
    return p + lr * step if flaw == "sign" else p - lr * step


def nesterov(p, g, state, t, h, flaw=None):
    """Momentum with the look-ahead step."""
    return momentum(p, g, state, t, h, flaw, nesterov=True)


def adagrad(p, g, state, t, h, flaw=None, decay=None):
    """s += g^2 (a moving average with ``decay``, for RMSProp); p - lr g / (sqrt(s) + eps)."""
    lr, eps = h["lr"], h["eps"]
    s = state.get("s", 0.0)
    if flaw == "not_squared":  # g where g**2 belongs: s can turn negative, its root NaN
        g2 = g
    else:
        g2 = g**2
    if decay is None:
        s = g2 if flaw == "no_accumulation" else s + g2
    elif flaw == "accumulates":
        s = s + (1 - decay) * g**2
    elif flaw == "forgot_one_minus":
        s = decay * s + g**2
    elif flaw == "swapped":
        s = (1 - decay) * s + decay * g**2
    elif flaw == "squared_weighted":
        s = decay * s + ((1 - decay) * g) ** 2
    else:
        s = decay * s + (1 - decay) * g2
    old_s, state["s"] = state.get("s", 0.0), s
    if flaw == "bias_corrected":  # Adam's correction borrowed; the stored s stays plain
        s = s / (1 - decay**t)
    if flaw == "eps_inside":
        denom = np.sqrt(s + eps)
    elif flaw == "eps_twice":
        denom = np.sqrt(s + eps) + eps
    elif flaw == "no_sqrt":
        denom = s + eps
    elif flaw == "no_eps":
        denom = np.sqrt(s)
    else:
        denom = np.sqrt(old_s if flaw == "stale" else s) + eps
    return p + lr * g / denom if flaw == "sign" else p - lr * g / denom


def rmsprop(p, g, state, t, h, flaw=None):
    """AdaGrad with a moving average of squared gradients."""
    return adagrad(p, g, state, t, h, flaw, decay=h["decay_rate"])


def adam(p, g, state, t, h, flaw=None):
    """Adam with bias correction (eps added after correcting sqrt(v)), and its flawed twins."""
    lr, b1, b2, eps = h["lr"], h["beta1"], h["beta2"], h["eps"]
    if flaw == "betas_exchanged":
        b1, b2 = b2, b1
    old_m, old_v = state.get("m", 0.0), state.get("v", 0.0)
    m, v = _adam_moments(old_m, old_v, g, b1, b2, flaw)
    state["m"], state["v"] = m, v
    if flaw in ("stale", "stale_m"):  # the step reads a buffer before it is updated
        m = old_m
    if flaw in ("stale", "stale_v"):
        v = old_v
    t += {"t_before_increment": -1, "t_plus_one": 1}.get(flaw, 0)
    c1 = 1.0 if flaw in ("no_correction", "corrected_v_only") else 1 - b1**t
    c2 = 1.0 if flaw in ("no_correction", "corrected_m_only") else 1 - b2**t
    if flaw == "corrections_swapped":
        c1, c2 = c2, c1
    with np.errstate(divide="ignore", invalid="ignore"):
        m_hat, v_hat = m / c1, v / c2
        if flaw == "stored_hat":  # the corrected averages carry over to the next update
            state["m"], state["v"] = m_hat, v_hat
        if flaw == "eps_inside":
            step = lr * m_hat / np.sqrt(v_hat + eps)
        elif flaw == "eps_twice":
            step = lr * m_hat / (np.sqrt(v_hat + eps) + eps)
        elif flaw == "sqrt_m":  # NaN wherever m_hat < 0, as in the student's code
            step = lr * np.sqrt(m_hat) / (np.sqrt(v_hat) + eps)
        elif flaw == "eps_hat":  # eps added to sqrt(v) before the correction (seed 002's form)
            step = lr * math.sqrt(c2) / c1 * m / (np.sqrt(v) + eps)
        elif flaw == "no_eps":
            step = lr * m_hat / np.sqrt(v_hat)
        elif flaw == "correction_outside_sqrt":
            step = lr * m_hat / (np.sqrt(v) / c2 + eps)
        else:
            step = lr * m_hat / (np.sqrt(v_hat) + eps)
    return p + step if flaw == "sign" else p - step


def _adam_moments(m, v, g, b1, b2, flaw):
    """Adam's new m and v (the same array when ``flaw`` is "aliased": one buffer, two rules)."""
    if flaw == "aliased":  # m = v = ...: the v rule continues from the m rule's result
        one = b2 * (b1 * m + (1 - b1) * g) + (1 - b2) * g**2
        return one, one
    m_new = {"forgot_one_minus_beta1": b1 * m + g,
             "beta1_swapped": (1 - b1) * m + b1 * g}.get(flaw, b1 * m + (1 - b1) * g)
    v_new = {"forgot_one_minus_beta2": b2 * v + g**2,
             "beta2_swapped": (1 - b2) * v + b2 * g**2,
             "squared_weighted": b2 * v + ((1 - b2) * g) ** 2,
             "v_from_m": b2 * v + (1 - b2) * m_new**2}.get(flaw, b2 * v + (1 - b2) * g**2)
    return m_new, v_new


RULES: dict[str, Rule] = {"sgd": sgd, "momentum": momentum, "nesterov": nesterov,
                          "adagrad": adagrad, "rmsprop": rmsprop, "adam": adam}

# Bookkeeping mistakes any optimizer can make; simulate() implements them.
COPY = Mistake("copy", "updated a copy instead of the parameter in place",
               "change the caller's arrays themselves; a new array stored under params[key] "
               "or in a local name is not seen by the caller")
SHARED = Mistake("shared", "one state buffer shared by all parameters",
                 "each parameter needs its own buffer, stored under its key")
T_PER_PARAMETER = Mistake("t_per_parameter", "t counted once per parameter",
                          "increase t once per call of update(), before the loop over "
                          "the parameters")
SIGN = Mistake("sign", "gradient added instead of subtracted",
               "the step must go against the gradient (downhill)")
RESET = Mistake("reset", "the state starts from zero at every update",
                "create each buffer only the first time its key is seen, and store the new "
                "value back in the dict so that the next update continues from it")
STALE = Mistake("stale", "the step used the buffer from the previous update",
                "update the buffer first, then use its NEW value in the parameter step")
NO_EPS = Mistake("no_eps", "eps missing from the denominator",
                 "add self.eps after the square root; the checks use a large eps, so a "
                 "hard-coded tiny one such as 1e-8 acts like none")
SQUARED_WEIGHTED = Mistake("squared_weighted", "squared the weighted gradient",
                           "only g is squared: the new share is (1 - decay_rate) * g**2 "
                           "(Adam: (1 - beta2) * g**2); the factor itself is not squared")
NOT_SQUARED = Mistake("not_squared", "s collected g instead of g**2",
                      "s holds SQUARED gradients: add g**2 (g * g), which is never negative")
NO_FRICTION = Mistake("no_friction", "the velocity never slows down (no friction)",
                      "look at the velocity rule: the old v must shrink by the factor momentum "
                      "before g is added, or it keeps every gradient forever")
EPS_TWICE = Mistake("eps_twice", "eps both inside and outside the sqrt",
                    "eps goes into the denominator once, after the square root")
HARD_CODED = "a hyperparameter hard-coded"  # the name of hard_coded_defaults()'s diagnosis

MISTAKES: dict[str, tuple[Mistake, ...]] = {
    "sgd": (SIGN, COPY,
            Mistake("no_lr", "forgot the learning rate", "the step is lr times the gradient")),
    "momentum": (
        SIGN, COPY, SHARED, RESET, STALE,
        Mistake("damped", "(1 - momentum) used where it does not belong",
                "this course's velocity adds the whole gradient: it is a sum, not an average"),
        Mistake("lr_twice", "learning rate applied twice",
                "lr belongs in the parameter step only, not in the velocity"),
        NO_FRICTION),
    "nesterov": (
        SIGN, COPY, SHARED, RESET,
        Mistake("no_lookahead", "no look-ahead (this is plain Momentum)",
                "update v first, then step along the gradient plus momentum times the NEW v"),
        Mistake("lookahead_without_momentum", "forgot momentum in the look-ahead",
                "the look-ahead adds momentum times v to the gradient, not v itself"),
        Mistake("lookahead_sign", "look-ahead with the wrong sign",
                "the look-ahead ADDS momentum times the new v to the gradient: both push "
                "the same way"),
        NO_FRICTION),
    "adagrad": (  # no RESET: for AdaGrad it is the same as no_accumulation
        SIGN, COPY, SHARED, STALE, NO_EPS,
        Mistake("no_accumulation", "AdaGrad without accumulation",
                "s must keep the SUM of all squared gradients so far, not only the last one"),
        Mistake("eps_inside", "eps inside the sqrt", "add eps after taking the square root"),
        Mistake("no_sqrt", "forgot the square root", "divide by the root of s"),
        NOT_SQUARED, EPS_TWICE),
    "rmsprop": (
        SIGN, COPY, SHARED, RESET, STALE, NO_EPS, SQUARED_WEIGHTED,
        Mistake("forgot_one_minus", "forgot (1 - decay_rate)",
                "s is a moving AVERAGE: the new squared gradient is weighted by (1 - decay_rate)"),
        Mistake("swapped", "decay_rate where (1 - decay_rate) belongs",
                "decay_rate multiplies the OLD average, (1 - decay_rate) the new g^2"),
        Mistake("accumulates", "the old s is never forgotten",
                "multiply the old s by decay_rate before adding the new share of g^2"),
        Mistake("eps_inside", "eps inside the sqrt", "add eps after taking the square root"),
        NOT_SQUARED,
        Mistake("bias_corrected", "bias correction in RMSProp",
                "RMSProp divides by the root of s itself; dividing s by (1 - decay_rate**t) "
                "belongs to Adam"),
        EPS_TWICE),
    "adam": (
        SIGN, COPY, SHARED, RESET, T_PER_PARAMETER, NO_EPS, SQUARED_WEIGHTED,
        Mistake("forgot_one_minus_beta1", "forgot (1 - beta1) in m",
                "m is a moving average: the new gradient is weighted by (1 - beta1)"),
        Mistake("forgot_one_minus_beta2", "forgot (1 - beta2) in v",
                "v is a moving average: the new g^2 is weighted by (1 - beta2)"),
        Mistake("beta1_swapped", "beta1 where (1 - beta1) belongs",
                "beta1 multiplies the OLD m, (1 - beta1) the new gradient"),
        Mistake("beta2_swapped", "beta2 where (1 - beta2) belongs",
                "beta2 multiplies the OLD v, (1 - beta2) the new g^2"),
        Mistake("t_before_increment", "bias correction with t before incrementing",
                "increase t first: the first update uses t = 1, so 1 - beta**t is never 0"),
        Mistake("eps_inside", "eps inside the sqrt",
                "add eps after the square root of the corrected v"),
        Mistake("corrected_m_only", "corrected m but not v",
                "divide v by (1 - beta2**t) as well"),
        Mistake("corrected_v_only", "corrected v but not m",
                "divide m by (1 - beta1**t) as well"),
        Mistake("no_correction", "no bias correction",
                "divide m by (1 - beta1**t) and v by (1 - beta2**t)"),
        Mistake("eps_hat", "eps added before correcting v (the 'epsilon hat' form)",
                "add eps to the square root of the CORRECTED v"),
        Mistake("betas_exchanged", "beta1 and beta2 exchanged",
                "beta1 belongs to m (the gradients), beta2 to v (the squared gradients), "
                "in the averages and in the corrections alike"),
        Mistake("stored_hat", "the corrected m and v were stored",
                "keep the plain averages in self.m and self.v; m_hat and v_hat are only "
                "for this step's update"),
        Mistake("correction_outside_sqrt", "v corrected after the square root",
                "divide v by (1 - beta2**t) first, then take the square root"),
        Mistake("v_from_m", "v averaged m**2 instead of g**2",
                "v is the moving average of the squared GRADIENT: (1 - beta2) * g**2, "
                "whatever m is"),
        Mistake("corrections_swapped", "the two bias corrections swapped",
                "m, the average with beta1, is divided by (1 - beta1**t); v by (1 - beta2**t)"),
        STALE,
        Mistake("stale_m", "the step used m from the previous update",
                "update m first, then correct and use its NEW value (v is already right)"),
        Mistake("stale_v", "the step used v from the previous update",
                "update v first, then correct and use its NEW value (m is already right)"),
        Mistake("sqrt_m", "square root of m_hat in the numerator",
                "only v_hat, the average of SQUARED gradients, is rooted; m_hat enters the "
                "step as it is (the root of a negative m_hat is NaN)"),
        Mistake("aliased", "m and v are one array",
                "m and v need an array each: made by one assignment (m = v = ...), both "
                "names update the same buffer in place"),
        EPS_TWICE,
        Mistake("t_plus_one", "bias correction with t + 1",
                "self.t already counts this update (1 at the first one): the correction "
                "is 1 - beta**t with that t")),
}

# Answers whose parameters are right but whose buffer holds something else: (mistake, buffer,
# what the buffer then holds, from the hyperparameters and the worksheet's value).
TEXTBOOK = Mistake("textbook", "velocity in the textbook form (v = momentum * v - lr * g)",
                   "this worksheet's v adds the gradient itself, v = momentum * v + g, and "
                   "the parameter step is p -= lr * v")
T_LATE = Mistake("t_late", "self.t is one ahead of the updates made",
                 "self.t counts the updates made so far (1 after the first): start it at 0 "
                 "and increase it at the start of update(), before the bias correction")
StateRule = Callable[[Mapping[str, float], Any], Any]
STATE_MISTAKES: dict[str, tuple[tuple[Mistake, str, StateRule], ...]] = {
    "momentum": ((TEXTBOOK, "v", lambda h, v: -h["lr"] * v),),
    "nesterov": ((TEXTBOOK, "v", lambda h, v: -h["lr"] * v),),
    "adam": ((T_LATE, "t", lambda h, t: t + 1),),
}

# State kept in float32: the answer is right to float32's precision only. checks.py finds it by
# the numbers themselves (each one exactly a float32), since a record holds float64 arrays.
FLOAT32_STATE = Mistake("float32_state", "float32 state",
                        "your state is float32: every update rounds it to about 7 significant "
                        "digits, so it drifts from the float64 reference; create the buffers "
                        "in float64, like the parameters")


def is_float32(a: Any) -> bool:
    """True when every number in ``a`` is finite and exactly representable as a float32."""
    a = np.asarray(a, dtype=float)
    with np.errstate(over="ignore"):
        return bool(a.size) and bool(np.all(np.isfinite(a))) and bool(
            np.array_equal(a.astype(np.float32).astype(float), a))


def simulate(item: str, hyper: Mapping[str, float], params0: Mapping[str, np.ndarray],
             grads: Sequence[Mapping[str, np.ndarray]], flaw: str | None = None,
             t0: int = 0) -> list[dict[str, np.ndarray]] | None:
    """The parameters after each step of the worksheet optimizer ``item`` with ``flaw``.

    ``t0`` is the step count before the first update (0 for a fresh optimizer). Returns None
    when the flawed rule cannot even run on these inputs (e.g. one buffer shared by parameters
    of different shapes).
    """
    rule = RULES[item]
    params = {k: np.array(v, dtype=float) for k, v in params0.items()}
    states: dict[str, dict] = {k: {} for k in params}
    shared: dict = {}
    t, path = t0, []
    try:
        with np.errstate(all="ignore"):
            for g in grads:
                t += 1
                if flaw == "reset":
                    states = {k: {} for k in params}
                for i, key in enumerate(params):
                    t_used = (t - 1) * len(params) + i + 1 if flaw == "t_per_parameter" else t
                    state = shared if flaw == "shared" else states[key]
                    new = rule(params[key], np.asarray(g[key], dtype=float), state, t_used,
                               hyper, flaw if flaw in FORMULA_FLAWS[item] else None)
                    if new.shape != params[key].shape:
                        return None
                    if flaw != "copy":
                        params[key] = new
                path.append({k: v.copy() for k, v in params.items()})
    except ValueError:  # shapes that do not broadcast
        return None
    return path


def hard_coded_defaults(item: str, hyper: Mapping[str, float], defaults: Mapping[str, float],
                        params0: Mapping[str, np.ndarray],
                        grads: Sequence[Mapping[str, np.ndarray]],
                        matches: Callable[[list[dict[str, np.ndarray]]], bool],
                        ) -> Mistake | None:
    """A mistake naming the fewest hyperparameters whose DEFAULT values reproduce the answer.

    ``matches(path)`` says whether a simulated path is the student's. An answer that writes
    ``0.9`` where ``self.beta1`` belongs passes with the defaults but not with the checks'
    unusual values; this names the hyperparameter it ignores.
    """
    names = [k for k in hyper if k in defaults and hyper[k] != defaults[k]]
    for size in range(1, len(names) + 1):
        for subset in itertools.combinations(names, size):
            path = simulate(item, {**hyper, **{k: defaults[k] for k in subset}}, params0, grads)
            if path is not None and matches(path):
                used = " and ".join(f"{k} = {defaults[k]:g}" for k in subset)
                given = " and ".join(f"{k} = {hyper[k]:.4g}" for k in subset)
                attrs = " and ".join(f"self.{k}" for k in subset)
                the = "the default" if size == 1 else "the defaults"
                return Mistake("hard_coded", HARD_CODED, f"your update uses {used}, {the}; "
                               f"this run passed {given}: use {attrs}")
    return None


SHARED_COUNTER = Mistake("shared_counter", "one step counter shared by every optimizer",
                         "keep the count on the instance: set self.t = 0 in __init__ and "
                         "increase self.t, so that a new optimizer starts again from t = 1")
MAX_EARLIER_STEPS = 2000  # how many updates of earlier optimizers shared_counter() considers


def shared_counter(item: str, hyper: Mapping[str, float], params0: Mapping[str, np.ndarray],
                   grads: Sequence[Mapping[str, np.ndarray]],
                   matches: Callable[[list[dict[str, np.ndarray]]], bool],
                   first_t: int | None = None) -> Mistake | None:
    """SHARED_COUNTER when the answer is the right rule counting on from earlier optimizers.

    A counter kept at module or class level carries over from one instance to the next, so a
    fresh optimizer starts at some unknown t0 > 0. ``matches(path)`` says whether the answer's
    first ``len(path)`` steps are ``path``. ``first_t`` is the answer's ``self.t``
    after its first update, when it has one; otherwise every t0 up to MAX_EARLIER_STEPS is
    tried on the first step (cheap) before the whole path is compared.
    """
    if item != "adam":  # the only worksheet rule that uses t
        return None
    if first_t is not None:
        starts: Sequence[int] = [first_t - 1] if first_t > 1 else []
    else:
        starts = range(1, MAX_EARLIER_STEPS + 1)
    for t0 in starts:
        first = simulate(item, hyper, params0, grads[:1], t0=t0)
        if first is not None and matches(first):
            path = simulate(item, hyper, params0, grads, t0=t0)
            return SHARED_COUNTER if path is not None and matches(path) else None
    return None


# Flaws whose numbers equal a counter carried over from one earlier update (shared_counter
# with t0 = 1); only the answer's own self.t, right for these, tells them apart.
COUNTS_RIGHT = frozenset({"t_plus_one"})

FORMULA_FLAWS: dict[str, frozenset[str]] = {
    item: frozenset(m.flaw for m in ms) - {"copy", "shared", "reset", "t_per_parameter"}
    for item, ms in MISTAKES.items()
}


# ----- the derivation questions -------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A wrong answer to a derivation question: its name, a hint, and what it computes."""

    name: str
    hint: str
    fn: Callable[..., np.ndarray]


def _ema(curve, weight, correct, power=None, carry=False, shift=0):
    """A moving average of ``curve`` (bias-corrected with ``power``, or not at all).

    ``carry``: the corrected value replaces the average for the next step. ``shift`` moves the
    correction's exponent away from i + 1 (-1 divides the first value by zero: inf).
    """
    out, avg = [], 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, v in enumerate(np.asarray(curve, float)):
            avg = weight * avg + (1 - weight) * v
            base = weight if power is None else power
            out.append(avg / (1 - base ** (i + 1 + shift)) if correct else avg)
            avg = out[-1] if carry else avg
    return np.array(out)


def _arr(x):
    return np.asarray(x, dtype=float)


ONE_STEP = "check t = 1: after one step s is (1 - decay_rate) * g**2"
FIRST_AVERAGE = ("check i = 0: the first average is (1 - weight) * curve[0], so its correction "
                 "divides by (1 - weight)")
FUNCTION_MISTAKES: dict[str, tuple[Variant, ...]] = {
    "grad_ellipse": (
        Variant("forgot the factor 2 from y^2", "the derivative of y^2 is 2y",
                lambda x, y: np.array([_arr(x) / 10, _arr(y)])),
        Variant("differentiated x^2/20 as x/20",
                "the derivative of x^2 is 2x, so x^2/20 gives x/10",
                lambda x, y: np.array([_arr(x) / 20, 2 * _arr(y)])),
        Variant("the two components swapped",
                "the first component is df/dx (it comes from x^2/20), the second df/dy",
                lambda x, y: np.array([2 * _arr(y), _arr(x) / 10]))),
    "max_stable_lr": (
        Variant("1 / lambda_max instead of 2 / lambda_max",
                "gradient descent is stable up to TWICE the step that is exact along one "
                "direction", lambda eig: 1.0 / np.max(eig)),
        Variant("used the smallest eigenvalue",
                "the steepest direction (largest eigenvalue) is the first to diverge",
                lambda eig: 2.0 / np.min(eig)),
        Variant("2 / norm instead of 2 / lambda_max",
                "one direction decides: the largest eigenvalue alone, not the length of the "
                "vector of all of them", lambda eig: 2.0 / np.linalg.norm(eig))),
    "momentum_gain": (
        Variant("momentum / (1 - momentum): the current gradient is missing",
                "the velocity sums g + momentum g + momentum^2 g + ...",
                lambda mu: _arr(mu) / (1.0 - _arr(mu))),),
    "adagrad_effective_lr": (
        Variant("forgot the square root", "divide lr by the ROOT of the summed squares",
                lambda lr, g, eps: lr / (np.sum(_arr(g) ** 2, axis=0) + eps)),
        Variant("AdaGrad without accumulation",
                "s sums ALL the squared gradients, not the last one",
                lambda lr, g, eps: lr / (np.abs(_arr(g)[-1]) + eps)),
        Variant("eps inside the sqrt", "add eps after taking the root",
                lambda lr, g, eps: lr / np.sqrt(np.sum(_arr(g) ** 2, axis=0) + eps)),
        Variant("squared the sum instead of summing the squares",
                "square each gradient first, then sum down the rows",
                lambda lr, g, eps: lr / (np.abs(np.sum(_arr(g), axis=0)) + eps)),
        Variant("eps missing from the denominator", "add eps after taking the root",
                lambda lr, g, eps: lr / np.sqrt(np.sum(_arr(g) ** 2, axis=0))),
        Variant("summed over every coordinate (no axis)",
                "each coordinate has its own s: sum the squares down the rows only, one sum "
                "per column", lambda lr, g, eps: lr / (np.sqrt(np.sum(_arr(g) ** 2)) + eps))),
    "rmsprop_s_after": (
        Variant("forgot that s starts at 0", "s starts at zero and only slowly climbs to g^2",
                lambda g, rho, t: _arr(g) ** 2),
        Variant("decay_rate^t instead of 1 - decay_rate^t",
                "s_t = (1 - decay_rate) times a sum of powers of decay_rate",
                lambda g, rho, t: rho**t * _arr(g) ** 2),
        Variant("the exponent is one too large", ONE_STEP,
                lambda g, rho, t: (1.0 - rho ** (t + 1)) * _arr(g) ** 2),
        Variant("the exponent is one too small", ONE_STEP,
                lambda g, rho, t: (1.0 - rho ** (t - 1)) * _arr(g) ** 2),
        Variant("s grows linearly in t",
                "every step also multiplies the old s by decay_rate, so s levels off at g**2 "
                "instead of growing by the same amount each step",
                lambda g, rho, t: t * (1.0 - rho) * _arr(g) ** 2)),
    "uncorrected_first_step": (
        Variant("this is the bias-corrected step",
                "without correction m = (1 - beta1) g and v = (1 - beta2) g^2",
                lambda lr, g, b1, b2, eps: -lr * _arr(g) / (np.abs(_arr(g)) + eps)),
        Variant("gradient added instead of subtracted", "p_1 - p_0 points against the gradient",
                lambda lr, g, b1, b2, eps: lr * (1 - b1) * _arr(g) / (
                    np.sqrt(1 - b2) * np.abs(_arr(g)) + eps)),
        Variant("eps inside the sqrt", "add eps after the square root of v",
                lambda lr, g, b1, b2, eps: -lr * (1 - b1) * _arr(g) / np.sqrt(
                    (1 - b2) * _arr(g) ** 2 + eps))),
    "smooth": (
        Variant("no bias correction", "the average starts at 0: divide by 1 - weight^(i+1), "
                "as Adam does", lambda c, w: _ema(c, w, correct=False)),
        Variant("weight where (1 - weight) belongs", "weight multiplies the OLD average",
                lambda c, w: _ema(c, 1.0 - w, correct=True, power=w)),
        Variant("the corrected average was carried on", "keep the plain average a for the "
                "next step; the corrected value is only this step's output",
                lambda c, w: _ema(c, w, correct=True, carry=True)),
        Variant("the exponent is one too small", FIRST_AVERAGE,
                lambda c, w: _ema(c, w, correct=True, shift=-1)),
        Variant("the exponent is one too large", FIRST_AVERAGE,
                lambda c, w: _ema(c, w, correct=True, shift=1))),
}


# ----- the training loop -------------------------------------------------------------------------
TRAINING_MISTAKES = (
    Mistake("no_update", "forgot the optimizer's update",
            "each step must hand the gradient to the optimizer, which moves net.params"),
    Mistake("loss_after_update", "loss measured after the update",
            "record the minibatch loss computed together with the gradient, before the update"),
    Mistake("same_batch", "the same minibatch at every step",
            "take the next batch from the stream at every step"),
    Mistake("full_batch", "the whole data set at every step",
            "train on minibatches from batch_indices(len(x), batch_size, seed)"),
    Mistake("seed_ignored", "the seed was ignored", "pass seed to batch_indices"),
)


def train_loop(case: Mapping, flaw: str | None = None,
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The capstone's loop on ``case`` with course_lib's SGD: losses and final weights.

    ``flaw=None`` is the reference: one minibatch from ``batch_indices(n, batch_size, seed)``
    per step, its loss recorded before the update.
    """
    net = MLP(case["sizes"], seed=case["net_seed"])
    opt = SGD(lr=case["lr"])
    x, t = np.asarray(case["x"], float), np.asarray(case["t"], np.int64)
    seed = 0 if flaw == "seed_ignored" else case["seed"]
    batches = batch_indices(len(x), case["batch_size"], seed)
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
