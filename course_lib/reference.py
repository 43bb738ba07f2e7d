"""Replay stored reference runs with course_lib and measure how far the trajectories differ.

A reference fixture is a pair of files with one stem. ``<stem>.json`` indexes the runs (name,
optimizer, hyperparameters under their course names, number of steps); ``<stem>.npz`` holds
their arrays under the keys ``"<run>/lrs"`` (the learning rate of every step) and
``"<run>/<field>/<parameter>"``, with ``field`` one of ``p0`` (the start), ``grads`` (a stored
gradient per step), ``curvature`` (the gradient is ``curvature * p`` at the current point) and
``traj`` (the reference's parameters after every step). ``tests/make_torch_fixtures.py`` writes
them from ``torch.optim``. The fixtures belong to the test suite and are not installed with the
package, so every function here takes their path.

>>> results = replay_reference_cases("tests/fixtures/torch_trajectories.json")  # doctest: +SKIP
>>> all(r.ok for r in results)  # doctest: +SKIP
True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_lib.optimizers import make_optimizer

Arrays = dict[str, np.ndarray]  # parameter name -> array


@dataclass
class ReferenceCase:
    """One stored run: its inputs, and the reference's parameters after every step."""

    name: str
    optimizer: str
    hyper: dict[str, Any]
    lrs: np.ndarray
    fields: dict[str, Arrays]  # "p0", "grads" or "curvature", "traj" -> parameter -> array

    @property
    def steps(self) -> int:
        """The number of updates."""
        return len(self.lrs)

    def gradient(self, k: int, params: Mapping[str, np.ndarray]) -> Arrays:
        """The gradient of step ``k`` (0-based) at ``params``."""
        curvature = self.fields.get("curvature")
        if curvature:
            return {key: curvature[key] * params[key] for key in params}
        return {key: g[k] for key, g in self.fields["grads"].items()}


@dataclass(frozen=True)
class ReplayResult:
    """How far course_lib's trajectory of one run is from the reference's."""

    name: str
    optimizer: str
    steps: int
    deviation: float  # max |course_lib - reference| over all steps, / max |reference|
    tolerance: float

    @property
    def ok(self) -> bool:
        """True when the deviation is within the tolerance (a NaN deviation is not)."""
        return bool(self.deviation <= self.tolerance)


def _stem(path: str | Path) -> Path:
    path = Path(path)
    return path.with_suffix("") if path.suffix in (".json", ".npz") else path


def load_reference_cases(path: str | Path) -> list[ReferenceCase]:
    """The runs of the fixture at ``path`` (the ``.json``, the ``.npz`` or their common stem)."""
    stem = _stem(path)
    index = json.loads(stem.with_suffix(".json").read_text())
    fields: dict[str, dict[str, Arrays]] = {}
    lrs: dict[str, np.ndarray] = {}
    with np.load(stem.with_suffix(".npz")) as npz:
        for key in npz.files:
            name, *rest = key.split("/")  # rest is ["lrs"] or [field, parameter]
            if rest == ["lrs"]:
                lrs[name] = npz[key]
            else:
                fields.setdefault(name, {}).setdefault(rest[0], {})[rest[1]] = npz[key]
    cases = []
    for entry in index["cases"]:
        name = entry["name"]
        if name not in lrs or "p0" not in fields.get(name, {}):
            raise ValueError(f"{stem}: run {name!r} is in the index but its arrays are missing")
        cases.append(ReferenceCase(name, entry["optimizer"], dict(entry["hyper"]), lrs[name],
                                   fields[name]))
    return cases


def course_lib_trajectory(case: ReferenceCase) -> Arrays:
    """course_lib's parameters after every step: ``{key: array of shape (steps, *shape)}``.

    The case's learning rate is set before each step, as a schedule would.
    """
    opt = make_optimizer(case.optimizer, **case.hyper)
    params = {key: p.copy() for key, p in case.fields["p0"].items()}
    path: dict[str, list[np.ndarray]] = {key: [] for key in params}
    for k, lr in enumerate(case.lrs):
        opt.lr = float(lr)
        opt.update(params, case.gradient(k, params))
        for key, p in params.items():
            path[key].append(p.copy())
    return {key: np.array(ps) for key, ps in path.items()}


_ADAM = {"lr", "weight_decay", "beta1", "beta2", "eps"}
TORCH_HYPERPARAMETERS: dict[str, set[str]] = {  # the course hyperparameters mapped to torch's
    "sgd": {"lr", "weight_decay"},
    "momentum": {"lr", "weight_decay", "momentum", "nesterov"},
    "adagrad": {"lr", "weight_decay", "eps"},
    "rmsprop": {"lr", "weight_decay", "decay_rate", "eps"},
    "adam": _ADAM | {"amsgrad"},
    "adamw": _ADAM | {"amsgrad"},
    "nadam": _ADAM | {"momentum_decay"},
    "adadelta": {"lr", "weight_decay", "rho", "eps"},
}


def _torch_optimizer(torch: Any, name: str, tensors: list, h: Mapping[str, Any]) -> Any:
    """The ``torch.optim`` optimizer equal to course optimizer ``name`` (hyperparameters ``h``)."""
    optim, common = torch.optim, {"lr": h["lr"], "weight_decay": h["weight_decay"],
                                  "foreach": False}
    adam = {"betas": (h.get("beta1"), h.get("beta2")), "eps": h.get("eps")}
    make: dict[str, Callable[[], Any]] = {
        "sgd": lambda: optim.SGD(tensors, **common),
        "momentum": lambda: optim.SGD(tensors, momentum=h["momentum"], dampening=0,
                                      nesterov=h["nesterov"], **common),
        "adagrad": lambda: optim.Adagrad(tensors, eps=h["eps"], **common),
        "rmsprop": lambda: optim.RMSprop(tensors, alpha=h["decay_rate"], eps=h["eps"], **common),
        "adam": lambda: optim.Adam(tensors, amsgrad=h["amsgrad"], **adam, **common),
        "adamw": lambda: optim.AdamW(tensors, amsgrad=h["amsgrad"], **adam, **common),
        "nadam": lambda: optim.NAdam(tensors, momentum_decay=h["momentum_decay"], **adam,
                                     **common),
        "adadelta": lambda: optim.Adadelta(tensors, rho=h["rho"], eps=h["eps"], **common),
    }
    unmapped = set(h) - TORCH_HYPERPARAMETERS[name]
    if unmapped:  # an option torch would silently not apply: refuse rather than compare wrongly
        raise KeyError(f"{name}: no torch counterpart for hyperparameters {sorted(unmapped)}")
    return make[name]()


def torch_trajectory(case: ReferenceCase) -> Arrays:
    """PyTorch's parameters after every step of ``case``, computed now in float64.

    Needs torch (``pip install course_lib[reference]``); raises ImportError without it. torch's
    default dtype and thread count are restored afterwards.
    """
    import torch

    dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)  # NAdam's internal product is float32 otherwise
    torch.set_num_threads(1)  # tiny tensors: more threads only add waiting
    try:
        tensors = {key: torch.tensor(p, dtype=torch.float64)
                   for key, p in case.fields["p0"].items()}
        opt = _torch_optimizer(torch, case.optimizer, list(tensors.values()), case.hyper)
        path: dict[str, list[np.ndarray]] = {key: [] for key in tensors}
        for k, lr in enumerate(case.lrs):
            params = {key: t.detach().numpy().copy() for key, t in tensors.items()}
            for key, g in case.gradient(k, params).items():
                tensors[key].grad = torch.tensor(g, dtype=torch.float64)
            for group in opt.param_groups:
                group["lr"] = float(lr)
            opt.step()
            for key, t in tensors.items():
                path[key].append(t.detach().numpy().copy())
    finally:
        torch.set_default_dtype(dtype)
        torch.set_num_threads(threads)
    return {key: np.array(ps) for key, ps in path.items()}


def deviation(ours: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray]) -> float:
    """max |ours - reference| over every parameter and step, relative to max |reference|."""
    scale = max(float(np.abs(r).max()) for r in reference.values())
    worst = max(float(np.abs(ours[key] - r).max()) for key, r in reference.items())
    return worst / scale if scale > 0 else worst


def replay_reference_cases(path: str | Path, tolerance: float = 1e-12,
                           live: bool = False) -> list[ReplayResult]:
    """Replay every run of the fixture at ``path`` with course_lib and compare, step by step.

    ``path`` is the fixture's ``.json``, its ``.npz`` or their common stem. The reference is the
    trajectory stored in the fixture, or with ``live=True`` PyTorch run now on the same inputs
    (ImportError when torch is not installed). Each result holds the largest deviation of the
    run relative to the size of its parameters, and ``ok`` says whether it is within
    ``tolerance``: round-off grows over a trajectory, so 1e-12 suits runs of some tens of steps.
    """
    results = []
    for case in load_reference_cases(path):
        reference = torch_trajectory(case) if live else case.fields["traj"]
        results.append(ReplayResult(case.name, case.optimizer, case.steps,
                                    deviation(course_lib_trajectory(case), reference), tolerance))
    return results
