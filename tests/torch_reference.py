"""The torch oracle: course_lib optimizers as ``torch.optim`` ones, and the stored trajectories.

A :class:`Case` is one run: a course optimizer name with course hyperparameter names, two
parameters, the learning rate of every step, and either a stored gradient sequence (open loop)
or the curvature of a quadratic whose gradient ``curvature * p`` is taken at the current point
(closed loop). ``tests/make_torch_fixtures.py`` draws the cases, runs torch and saves them here;
the tests replay them with course_lib. torch is imported only inside the functions that run it,
so the stored fixtures can be checked on a machine without torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FIXTURE_DIR = Path(__file__).parent / "fixtures"
FIXTURE_NPZ = FIXTURE_DIR / "torch_trajectories.npz"
FIXTURE_JSON = FIXTURE_DIR / "torch_trajectories.json"
# The same layout, for the optimizers and options added after the first file was frozen.
FIXTURE_MORE_JSON = FIXTURE_DIR / "torch_trajectories_more.json"

# torch's name of each course state buffer, per optimizer.
BUFFER_NAMES: dict[str, dict[str, str]] = {
    "sgd": {},
    "momentum": {"v": "momentum_buffer"},
    "adagrad": {"s": "sum"},
    "rmsprop": {"s": "square_avg", "m": "grad_avg", "v": "momentum_buffer"},
    "adam": {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq"},
    "adamw": {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq"},
    "nadam": {"m": "exp_avg", "v": "exp_avg_sq"},
    "adadelta": {"s": "square_avg", "u": "acc_delta"},
    "radam": {"m": "exp_avg", "v": "exp_avg_sq"},
    "adamax": {"m": "exp_avg", "u": "exp_inf"},
}


@dataclass
class Case:
    """One reference run: inputs, and torch's parameters after every step once computed."""

    name: str
    optimizer: str
    hyper: dict[str, Any]
    p0: dict[str, np.ndarray]
    lrs: np.ndarray
    grads: dict[str, np.ndarray] | None = None
    curvature: dict[str, np.ndarray] | None = None
    traj: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """The number of updates."""
        return len(self.lrs)

    @property
    def closed_loop(self) -> bool:
        """True when the gradient is taken at the current point of a quadratic."""
        return self.curvature is not None

    @property
    def lr_schedule(self) -> bool:
        """True when the learning rate changes between steps."""
        return bool(np.any(self.lrs != self.lrs[0]))

    def gradient(self, k: int, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The gradient of step ``k`` (0-based) at ``params`` (used only when closed loop)."""
        if self.curvature is not None:
            return {key: self.curvature[key] * params[key] for key in params}
        return {key: self.grads[key][k] for key in self.p0}

    def hyper_at(self, k: int) -> dict[str, Any]:
        """The hyperparameters in force at step ``k``: the schedule sets lr."""
        return {**self.hyper, "lr": float(self.lrs[k])}


# ----- torch ----------------------------------------------------------------------------------
def import_torch() -> Any:
    """torch, or ImportError when it is not installed."""
    import torch

    return torch


@contextmanager
def float64_default() -> Iterator[None]:
    """torch's default dtype set to float64 for the block, then restored for other tests.

    NAdam creates its mu product with the default dtype on its first step: float32 otherwise.
    """
    torch = import_torch()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _take(hyper: dict[str, Any], *names: str) -> list[Any]:
    return [hyper.pop(n) for n in names]


def _sgd(optim, params, h):
    lr, wd = _take(h, "lr", "weight_decay")
    return optim.SGD(params, lr=lr, weight_decay=wd, foreach=False)


def _momentum(optim, params, h):
    lr, mom, nesterov, wd = _take(h, "lr", "momentum", "nesterov", "weight_decay")
    return optim.SGD(params, lr=lr, momentum=mom, nesterov=nesterov, dampening=0,
                     weight_decay=wd, foreach=False)


def _optional(hyper: dict[str, Any], **defaults: Any) -> list[Any]:
    """Options a case stored before they existed lacks: their (course and torch) defaults."""
    return [hyper.pop(n, d) for n, d in defaults.items()]


def _adagrad(optim, params, h):
    lr, eps, wd = _take(h, "lr", "eps", "weight_decay")
    lr_decay, initial = _optional(h, lr_decay=0.0, initial_accumulator_value=0.0)
    return optim.Adagrad(params, lr=lr, eps=eps, weight_decay=wd, lr_decay=lr_decay,
                         initial_accumulator_value=initial, foreach=False)


def _rmsprop(optim, params, h):
    lr, rate, eps, wd = _take(h, "lr", "decay_rate", "eps", "weight_decay")
    momentum, centered = _optional(h, momentum=0.0, centered=False)
    return optim.RMSprop(params, lr=lr, alpha=rate, eps=eps, weight_decay=wd,
                         momentum=momentum, centered=centered, foreach=False)


def _adam_like(cls):
    def build(optim, params, h):
        """Adam and AdamW take the same arguments."""
        lr, b1, b2, eps, wd, ams = _take(h, "lr", "beta1", "beta2", "eps", "weight_decay",
                                         "amsgrad")
        return getattr(optim, cls)(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                                   amsgrad=ams, foreach=False)
    return build


def _nadam(optim, params, h):
    lr, b1, b2, eps, wd, psi = _take(h, "lr", "beta1", "beta2", "eps", "weight_decay",
                                     "momentum_decay")
    return optim.NAdam(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                       momentum_decay=psi, foreach=False)


def _adadelta(optim, params, h):
    lr, rho, eps, wd = _take(h, "lr", "rho", "eps", "weight_decay")
    return optim.Adadelta(params, lr=lr, rho=rho, eps=eps, weight_decay=wd, foreach=False)


def _adam_no_amsgrad(cls):
    def build(optim, params, h):
        """RAdam and Adamax: Adam's arguments without amsgrad."""
        lr, b1, b2, eps, wd = _take(h, "lr", "beta1", "beta2", "eps", "weight_decay")
        return getattr(optim, cls)(params, lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd,
                                   foreach=False)
    return build


TORCH_BUILDERS: dict[str, Callable] = {
    "sgd": _sgd, "momentum": _momentum, "adagrad": _adagrad, "rmsprop": _rmsprop,
    "adam": _adam_like("Adam"), "adamw": _adam_like("AdamW"), "nadam": _nadam,
    "adadelta": _adadelta, "radam": _adam_no_amsgrad("RAdam"),
    "adamax": _adam_no_amsgrad("Adamax"),
}


def torch_optimizer(name: str, params: list, hyper: Mapping[str, Any]) -> Any:
    """The ``torch.optim`` optimizer equal to course optimizer ``name`` with ``hyper``.

    ``hyper`` uses course names and must be complete (every constructor argument), so that a
    course option without a torch counterpart fails loudly instead of being dropped.
    """
    torch = import_torch()
    rest = dict(hyper)
    opt = TORCH_BUILDERS[name](torch.optim, params, rest)
    if rest:
        raise KeyError(f"{name}: no torch mapping for hyperparameters {sorted(rest)}")
    return opt


class TorchRun:
    """A torch optimizer stepping through a :class:`Case`, one step at a time."""

    def __init__(self, case: Case) -> None:
        self.torch = import_torch()
        self.case = case
        self.tensors = {k: self.torch.tensor(v, dtype=self.torch.float64)
                        for k, v in case.p0.items()}
        self.opt = torch_optimizer(case.optimizer, list(self.tensors.values()), case.hyper)

    def params(self) -> dict[str, np.ndarray]:
        """Copies of the current parameters."""
        return {k: t.numpy().copy() for k, t in self.tensors.items()}

    def step(self, k: int) -> None:
        """Step ``k`` (0-based): set lr first, as a torch scheduler would, then update."""
        grads = self.case.gradient(k, self.params())
        for key, t in self.tensors.items():
            t.grad = self.torch.tensor(grads[key], dtype=self.torch.float64)
        for group in self.opt.param_groups:
            group["lr"] = float(self.case.lrs[k])
        with float64_default():
            self.opt.step()

    def course_state_dict(self, k: int) -> dict[str, Any]:
        """torch's state before step ``k`` (after k steps) as a course_lib state dict."""
        names = BUFFER_NAMES[self.case.optimizer]
        state, extra = {}, {}
        for key, tensor in self.tensors.items():
            st = self.opt.state.get(tensor, {})
            if not st:
                continue
            state[key] = {ours: st[theirs].numpy().copy() for ours, theirs in names.items()
                          if theirs in st}
            if "step" in st:  # SGD keeps no step count
                state[key]["t"] = int(st["step"])
            if "mu_product" in st:
                state[key]["mu_product"] = float(st["mu_product"])
        return {"optimizer": self.case.optimizer, "hyperparameters": self.case.hyper_at(k),
                "t": k, "state": state, "extra": extra}


def run_torch(case: Case) -> dict[str, np.ndarray]:
    """torch's parameters after every step: ``{key: array of shape (steps, *shape)}``."""
    run = TorchRun(case)
    out: dict[str, list[np.ndarray]] = {k: [] for k in case.p0}
    for k in range(case.steps):
        run.step(k)
        for key, value in run.params().items():
            out[key].append(value)
    return {k: np.array(v) for k, v in out.items()}


# ----- the fixture ------------------------------------------------------------------------------
ARRAY_FIELDS = ("p0", "grads", "curvature", "traj")


def save_cases(cases: list[Case], meta: Mapping[str, Any], json_path: Path = FIXTURE_JSON) -> None:
    """Write the cases to the npz (arrays) and json (index) fixture files."""
    arrays: dict[str, np.ndarray] = {}
    index = []
    for case in cases:
        arrays[f"{case.name}/lrs"] = case.lrs
        for fld in ARRAY_FIELDS:
            for key, value in (getattr(case, fld) or {}).items():
                arrays[f"{case.name}/{fld}/{key}"] = value
        index.append({"name": case.name, "optimizer": case.optimizer, "hyper": case.hyper,
                      "steps": case.steps, "closed_loop": case.closed_loop,
                      "lr_schedule": case.lr_schedule})
    FIXTURE_DIR.mkdir(exist_ok=True)
    np.savez_compressed(json_path.with_suffix(".npz"), **arrays)
    json_path.write_text(json.dumps({**meta, "cases": index}, indent=1) + "\n")


def load_cases(json_path: Path = FIXTURE_JSON) -> tuple[dict[str, Any], list[Case]]:
    """The stored cases and the index's metadata (torch version, seed)."""
    index = json.loads(json_path.read_text())
    with np.load(json_path.with_suffix(".npz")) as npz:
        arrays = {k: npz[k] for k in npz.files}
    cases = []
    for entry in index["cases"]:
        parts: dict[str, dict[str, np.ndarray]] = {fld: {} for fld in ARRAY_FIELDS}
        prefix = entry["name"] + "/"
        for key, value in arrays.items():
            if key.startswith(prefix) and key.count("/") == 2:
                _, fld, param = key.split("/")
                parts[fld][param] = value
        cases.append(Case(name=entry["name"], optimizer=entry["optimizer"],
                          hyper=entry["hyper"], p0=parts["p0"], lrs=arrays[prefix + "lrs"],
                          grads=parts["grads"] or None, curvature=parts["curvature"] or None,
                          traj=parts["traj"]))
    meta = {k: v for k, v in index.items() if k != "cases"}
    return meta, cases
