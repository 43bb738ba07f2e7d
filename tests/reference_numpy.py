"""A second oracle: every update rule typed straight from the spec in plain, allocating NumPy.

Nothing here is shared with course_lib: no in-place tricks, no blocks, no scratch memory, just
the equations of /work/shared/spec/optimizers.md in float64, one function per optimizer. A step
function takes ``(p, g, state, t, h)`` (``t`` counts from 1, ``h`` the hyperparameters), stores
new arrays in the ``state`` dict and returns the new parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

# The constructor defaults of the spec's table, typed from the spec, not read from course_lib.
SPEC_DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 0.01, "weight_decay": 0.0},
    "momentum": {"lr": 0.01, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
    "adagrad": {"lr": 0.01, "eps": 1e-10, "weight_decay": 0.0},
    "rmsprop": {"lr": 0.01, "decay_rate": 0.99, "eps": 1e-8, "weight_decay": 0.0},
    "adam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
             "amsgrad": False},
    "adamw": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01,
              "amsgrad": False},
    "nadam": {"lr": 0.002, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "momentum_decay": 0.004},
    "adadelta": {"lr": 1.0, "rho": 0.9, "eps": 1e-6},
    "radam": {"lr": 0.001, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
    "adamax": {"lr": 0.002, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
    "lion": {"lr": 1e-4, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.0},
}

Step = Callable[[np.ndarray, np.ndarray, dict, int, Mapping[str, Any]], np.ndarray]


def coupled(p: np.ndarray, g: np.ndarray, h: Mapping[str, Any]) -> np.ndarray:
    """L2 weight decay: the gradient of loss + wd/2 |p|^2."""
    return g + h.get("weight_decay", 0.0) * p


def sgd(p, g, state, t, h):
    """p - lr g."""
    return p - h["lr"] * coupled(p, g, h)


def momentum(p, g, state, t, h):
    """torch's form: b = g at t = 1, then b = momentum b + g; nesterov steps along g + mom b."""
    g = coupled(p, g, h)
    b = g if t == 1 else h["momentum"] * state["b"] + g
    state["b"] = b
    direction = g + h["momentum"] * b if h["nesterov"] else b
    return p - h["lr"] * direction


def adagrad(p, g, state, t, h):
    """s = s0 + sum of g^2; p - lr_t g / (sqrt(s) + eps), lr_t = lr / (1 + (t - 1) lr_decay).

    torch's two options: s starts at ``initial_accumulator_value`` (s0) and ``lr_decay``
    shrinks the learning rate of step t (both 0 by default).
    """
    g = coupled(p, g, h)
    s = state.get("s", h.get("initial_accumulator_value", 0.0)) + g**2
    state["s"] = s
    lr_t = h["lr"] / (1 + (t - 1) * h.get("lr_decay", 0.0))
    return p - lr_t * g / (np.sqrt(s) + h["eps"])


def rmsprop(p, g, state, t, h):
    """s = rate s + (1 - rate) g^2, no bias correction; p - lr g / (sqrt(s) + eps).

    torch's two options: ``centered`` takes the root of s - m^2, m the same average of g;
    ``momentum`` > 0 steps along b = momentum b + g / denominator instead.
    """
    g = coupled(p, g, h)
    rate = h["decay_rate"]
    s = rate * state.get("s", 0.0) + (1 - rate) * g**2
    state["s"] = s
    if h.get("centered", False):
        m = rate * state.get("m", 0.0) + (1 - rate) * g
        state["m"] = m
        denom = np.sqrt(s - m**2) + h["eps"]
    else:
        denom = np.sqrt(s) + h["eps"]
    if h.get("momentum", 0.0) > 0:
        b = h["momentum"] * state.get("b", 0.0) + g / denom
        state["b"] = b
        return p - h["lr"] * b
    return p - h["lr"] * g / denom


def adam(p, g, state, t, h, decoupled=False):
    """Algorithm 1 with eps added to the bias-corrected root; amsgrad maxes the RAW v."""
    if decoupled:
        p = p * (1 - h["lr"] * h["weight_decay"])
    else:
        g = coupled(p, g, h)
    b1, b2 = h["beta1"], h["beta2"]
    m = b1 * state.get("m", 0.0) + (1 - b1) * g
    v = b2 * state.get("v", 0.0) + (1 - b2) * g**2
    state["m"], state["v"] = m, v
    if h.get("amsgrad", False):
        v = np.maximum(state.get("v_max", 0.0), v)
        state["v_max"] = v
    m_hat = m / (1 - b1**t)
    denom = np.sqrt(v) / np.sqrt(1 - b2**t) + h["eps"]
    return p - h["lr"] * m_hat / denom


def adamw(p, g, state, t, h):
    """Shrink p by (1 - lr wd) first, then Adam without the L2 term."""
    return adam(p, g, state, t, h, decoupled=True)


def nadam(p, g, state, t, h):
    """Dozat's NAdam with torch's warm-up mu_t and the running product P_t of the mu's."""
    g = coupled(p, g, h)
    b1, b2 = h["beta1"], h["beta2"]

    def mu(i):
        """The momentum coefficient of step i."""
        return b1 * (1 - 0.5 * 0.96 ** (i * h["momentum_decay"]))

    prod = state.get("P", 1.0) * mu(t)
    m = b1 * state.get("m", 0.0) + (1 - b1) * g
    v = b2 * state.get("v", 0.0) + (1 - b2) * g**2
    state.update(P=prod, m=m, v=v)
    denom = np.sqrt(v / (1 - b2**t)) + h["eps"]
    grad_part = h["lr"] * (1 - mu(t)) / (1 - prod) * g / denom
    momentum_part = h["lr"] * mu(t + 1) / (1 - prod * mu(t + 1)) * m / denom
    return p - grad_part - momentum_part


def adadelta(p, g, state, t, h):
    """eps inside both roots: d = sqrt(u + eps) / sqrt(s + eps) g; u averages d^2."""
    g = coupled(p, g, h)
    rho, eps = h["rho"], h["eps"]
    s = rho * state.get("s", 0.0) + (1 - rho) * g**2
    d = np.sqrt(state.get("u", 0.0) + eps) / np.sqrt(s + eps) * g
    u = rho * state.get("u", 0.0) + (1 - rho) * d**2
    state["s"], state["u"] = s, u
    return p - h["lr"] * d


def radam(p, g, state, t, h):
    """Liu et al. (2020), Algorithm 2, with torch's eps: sqrt(1-b2^t) / (sqrt(v) + eps)."""
    g = coupled(p, g, h)
    b1, b2 = h["beta1"], h["beta2"]
    m = b1 * state.get("m", 0.0) + (1 - b1) * g
    v = b2 * state.get("v", 0.0) + (1 - b2) * g**2
    state.update(m=m, v=v)
    m_hat = m / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho <= 5:
        return p - h["lr"] * m_hat
    r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    return p - h["lr"] * m_hat * r * np.sqrt(1 - b2**t) / (np.sqrt(v) + h["eps"])


def adamax(p, g, state, t, h):
    """Kingma & Ba (2015), section 7.1, with torch's eps inside the max."""
    g = coupled(p, g, h)
    b1 = h["beta1"]
    m = b1 * state.get("m", 0.0) + (1 - b1) * g
    u = np.maximum(h["beta2"] * state.get("u", 0.0), np.abs(g) + h["eps"])
    state.update(m=m, u=u)
    return p - h["lr"] / (1 - b1**t) * m / u


def lion(p, g, state, t, h):
    """Chen et al. (2023), Algorithm 2: the sign of an interpolation, decoupled decay."""
    m = state.get("m", 0.0)
    c = h["beta1"] * m + (1 - h["beta1"]) * g
    state["m"] = h["beta2"] * m + (1 - h["beta2"]) * g
    return p - h["lr"] * (np.sign(c) + h["weight_decay"] * p)


STEPS: dict[str, Step] = {"sgd": sgd, "momentum": momentum, "adagrad": adagrad,
                          "rmsprop": rmsprop, "adam": adam, "adamw": adamw, "nadam": nadam,
                          "adadelta": adadelta, "radam": radam, "adamax": adamax, "lion": lion}


class ReferenceOptimizer:
    """The plain-formula optimizer ``name``: ``update`` returns NEW float64 parameters.

    Missing hyperparameters take the spec's defaults; set ``lr`` between steps for a schedule.
    """

    def __init__(self, name: str, **hyper: Any) -> None:
        self.name = name
        self.hyper = {**SPEC_DEFAULTS[name], **hyper}
        self.t = 0
        self.state: dict[str, dict[str, Any]] = {}

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return self.hyper["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.hyper["lr"] = value

    def update(self, params: Mapping[str, np.ndarray],
               grads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One step for every key; the inputs are only read."""
        self.t += 1
        out = {}
        for key, p in params.items():
            state = self.state.setdefault(key, {})
            p64 = np.asarray(p, dtype=np.float64)
            g64 = np.asarray(grads[key], dtype=np.float64)
            out[key] = STEPS[self.name](p64, g64, state, self.t, self.hyper)
        return out


# Every optimizer once with defaults and once with each of its options on (non-default values):
# the configurations that the state, allocation and error tests sweep.
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {}), ("sgd", {"lr": 0.05, "weight_decay": 0.1}),
    ("momentum", {}), ("momentum", {"lr": 0.03, "momentum": 0.7, "weight_decay": 0.1}),
    ("momentum", {"nesterov": True, "momentum": 0.8, "weight_decay": 0.02}),
    ("adagrad", {}), ("adagrad", {"lr": 0.2, "eps": 1e-6, "weight_decay": 0.1}),
    ("adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.5}),
    ("rmsprop", {"centered": True, "momentum": 0.9, "weight_decay": 0.1}),
    ("rmsprop", {}), ("rmsprop", {"lr": 0.002, "decay_rate": 0.9, "eps": 1e-6,
                                  "weight_decay": 0.1}),
    ("adam", {}), ("adam", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1}),
    ("adam", {"amsgrad": True, "beta2": 0.9, "weight_decay": 0.05}),
    ("adamw", {}), ("adamw", {"lr": 0.01, "weight_decay": 0.2, "amsgrad": True, "beta2": 0.9}),
    ("nadam", {}), ("nadam", {"lr": 0.01, "beta1": 0.8, "momentum_decay": 0.05,
                              "weight_decay": 0.1}),
    ("adadelta", {}), ("adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1}),
    ("radam", {}), ("radam", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1}),
    ("adamax", {}), ("adamax", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1}),
    ("lion", {}), ("lion", {"lr": 0.01, "beta1": 0.8, "beta2": 0.9, "weight_decay": 0.1}),
]


def config_id(config: tuple[str, dict[str, Any]]) -> str:
    """A short pytest id: the name and the options set, e.g. ``adam-amsgrad-weight_decay``."""
    name, hyper = config
    flags = [k for k in ("nesterov", "amsgrad", "centered", "lr_decay") if hyper.get(k)]
    return "-".join([name, *flags, *(["wd"] if hyper.get("weight_decay") else []),
                     *([] if hyper else ["defaults"])])
