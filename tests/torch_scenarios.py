"""Runs where parameters join late or skip steps, against torch (fixture torch_scenarios.*).

A :class:`Scenario` is one run with a *plan*: for every parameter, one character per step,

* ``-``: the parameter is not in ``params`` yet (it joins later),
* ``0``: it is in ``params`` but its gradient is ``None`` (torch: ``p.grad is None``),
* ``g``: a normal step with the stored gradient.

torch sees ``-`` and ``0`` alike (``p.grad = None``: no state, no step). The stored files keep
the older trajectory fixture's layout (a json index, an npz of ``name/field/key`` arrays) and
add the plan, the dtype and the lr of every step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests import torch_reference as ref

SCENARIO_JSON = ref.FIXTURE_DIR / "torch_scenarios.json"
SCENARIO_NPZ = ref.FIXTURE_DIR / "torch_scenarios.npz"


@dataclass
class Scenario:
    """One run with a per-step plan of which parameters take part (see the module docstring)."""

    name: str
    optimizer: str
    hyper: dict[str, Any]
    dtype: str
    plan: dict[str, str]
    p0: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    lrs: np.ndarray
    traj: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """The number of update calls."""
        return len(self.lrs)

    def course_inputs(self, k: int, params: Mapping[str, np.ndarray]
                      ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The ``params`` and ``grads`` dicts of step ``k`` (0-based) for course_lib."""
        present = {key: p for key, p in params.items() if self.plan[key][k] != "-"}
        grads = {key: self.grads[key][k] if self.plan[key][k] == "g" else None
                 for key in present}
        return present, grads


def run_course(case: Scenario, make: Any) -> dict[str, np.ndarray]:
    """course_lib's parameters after every step (``make(name, **hyper)`` builds the optimizer)."""
    opt = make(case.optimizer, **case.hyper)
    params = {k: v.copy() for k, v in case.p0.items()}
    out: dict[str, list[np.ndarray]] = {k: [] for k in params}
    for k in range(case.steps):
        opt.lr = float(case.lrs[k])
        opt.update(*case.course_inputs(k, params))
        for key, value in params.items():
            out[key].append(value.copy())
    return {k: np.array(v) for k, v in out.items()}


def run_torch(case: Scenario) -> dict[str, np.ndarray]:
    """torch's parameters after every step, with ``p.grad = None`` where the plan skips."""
    torch = ref.import_torch()
    dtype = getattr(torch, case.dtype)
    tensors = {k: torch.tensor(v, dtype=dtype) for k, v in case.p0.items()}
    opt = ref.torch_optimizer(case.optimizer, list(tensors.values()), case.hyper)
    out: dict[str, list[np.ndarray]] = {k: [] for k in tensors}
    for k in range(case.steps):
        for key, t in tensors.items():
            t.grad = (torch.tensor(case.grads[key][k], dtype=dtype)
                      if case.plan[key][k] == "g" else None)
        for group in opt.param_groups:
            group["lr"] = float(case.lrs[k])
        with ref.float64_default():
            opt.step()
        for key, t in tensors.items():
            out[key].append(t.detach().numpy().copy())
    return {k: np.array(v) for k, v in out.items()}


def save_scenarios(cases: list[Scenario], meta: Mapping[str, Any]) -> None:
    """Write the scenarios to their json index and npz arrays."""
    arrays: dict[str, np.ndarray] = {}
    index = []
    for case in cases:
        arrays[f"{case.name}/lrs"] = case.lrs
        for fld in ("p0", "grads", "traj"):
            for key, value in getattr(case, fld).items():
                arrays[f"{case.name}/{fld}/{key}"] = value
        index.append({"name": case.name, "optimizer": case.optimizer, "hyper": case.hyper,
                      "dtype": case.dtype, "plan": case.plan, "steps": case.steps})
    SCENARIO_JSON.parent.mkdir(exist_ok=True)
    np.savez_compressed(SCENARIO_NPZ, **arrays)
    SCENARIO_JSON.write_text(json.dumps({**meta, "cases": index}, indent=1) + "\n")


def load_scenarios(path: Path = SCENARIO_JSON) -> list[Scenario]:
    """The stored scenarios."""
    index = json.loads(path.read_text())
    with np.load(path.with_suffix(".npz")) as npz:
        arrays = {k: npz[k] for k in npz.files}
    cases = []
    for entry in index["cases"]:
        name = entry["name"]
        parts = {fld: {key: arrays[f"{name}/{fld}/{key}"] for key in entry["plan"]}
                 for fld in ("p0", "grads", "traj")}
        cases.append(Scenario(name=name, optimizer=entry["optimizer"], hyper=entry["hyper"],
                              dtype=entry["dtype"], plan=entry["plan"], lrs=arrays[f"{name}/lrs"],
                              **parts))
    return cases
