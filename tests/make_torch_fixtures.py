"""Regenerate the stored torch trajectories in tests/fixtures (``make fixtures``).

Every optimizer gets every option variant (nesterov, amsgrad, weight decay...) with random,
non-default hyperparameters drawn from a seeded generator, each run once with a constant and once
with a changing learning rate. The gradients are a stored open-loop sequence (they do not depend
on the parameters, so a round-off difference cannot grow chaotically) mixing scales 1 and 1e-3;
a few closed-loop runs on a quadratic with a small lr complete the set.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

if __package__:  # imported by the tests as tests.make_torch_fixtures
    from tests import torch_reference as ref
    from tests import torch_scenarios as scen
else:  # run as a script: the repository root must be importable for tests.torch_scenarios
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests import torch_reference as ref
    from tests import torch_scenarios as scen

SEED = 20240611
SHAPES = {"a": (4, 5), "b": (3,)}
CLOSED_LOOP_STEPS = 10

# The option variants of each optimizer: every combination of its switches.
VARIANTS: dict[str, list[dict[str, bool]]] = {
    "sgd": [{"decay": False}, {"decay": True}],
    "momentum": [{"nesterov": n, "decay": d} for n in (False, True) for d in (False, True)],
    "adagrad": [{"decay": False}, {"decay": True}],
    "rmsprop": [{"decay": False}, {"decay": True}],
    "adam": [{"amsgrad": a, "decay": d} for a in (False, True) for d in (False, True)],
    "adamw": [{"amsgrad": False, "decay": True}, {"amsgrad": True, "decay": True}],
    "nadam": [{"decay": False}, {"decay": True}],
    "adadelta": [{"decay": False}, {"decay": True}],
}


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A draw whose logarithm is uniform: every order of magnitude equally likely."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A plain float draw (json keeps it exactly)."""
    return float(rng.uniform(low, high))


def _adam_family(rng, decay):
    return {"lr": log_uniform(rng, 1e-4, 3e-2), "beta1": uniform(rng, 0.5, 0.97),
            "beta2": uniform(rng, 0.9, 0.9999), "eps": log_uniform(rng, 1e-10, 1e-5),
            "weight_decay": log_uniform(rng, 1e-3, 0.3) if decay else 0.0}


def _draw_sgd(rng, decay):
    return {"lr": log_uniform(rng, 1e-3, 0.3),
            "weight_decay": log_uniform(rng, 1e-3, 0.2) if decay else 0.0}


DRAWS: dict[str, Callable[..., dict[str, Any]]] = {
    "sgd": _draw_sgd,
    "momentum": lambda rng, decay, nesterov: {
        **_draw_sgd(rng, decay), "momentum": uniform(rng, 0.5, 0.99), "nesterov": nesterov},
    "adagrad": lambda rng, decay: {
        **_draw_sgd(rng, decay), "lr": log_uniform(rng, 1e-4, 3e-2),
        "eps": log_uniform(rng, 1e-12, 1e-6)},
    "rmsprop": lambda rng, decay: {
        **_draw_sgd(rng, decay), "lr": log_uniform(rng, 1e-4, 3e-2),
        "decay_rate": uniform(rng, 0.8, 0.999), "eps": log_uniform(rng, 1e-10, 1e-5)},
    "adam": lambda rng, decay, amsgrad: {**_adam_family(rng, decay), "amsgrad": amsgrad},
    "adamw": lambda rng, decay, amsgrad: {**_adam_family(rng, decay), "amsgrad": amsgrad},
    "nadam": lambda rng, decay: {
        **_adam_family(rng, decay), "momentum_decay": log_uniform(rng, 1e-3, 0.1)},
    "adadelta": lambda rng, decay: {
        **_draw_sgd(rng, decay), "lr": uniform(rng, 0.2, 2.0), "rho": uniform(rng, 0.7, 0.99),
        "eps": log_uniform(rng, 1e-8, 1e-4)},
}


# The second trajectory file (torch_trajectories_more.*): options and optimizers added later,
# drawn the same way from their own seed so that the first file stays as it was.
MORE_SEED = 20240613
MORE_VARIANTS: dict[str, list[dict[str, bool]]] = {
    "adagrad": [{"decay": False}, {"decay": True}],
    "rmsprop": [{"centered": c, "with_momentum": m, "decay": d}
                for c in (False, True) for m in (False, True) for d in (False, True)
                if (c, m) != (False, False)],
    "radam": [{"decay": False}, {"decay": True}],
    "adamax": [{"decay": False}, {"decay": True}],
}
MORE_DRAWS: dict[str, Callable[..., dict[str, Any]]] = {
    "adagrad": lambda rng, decay: {
        **DRAWS["adagrad"](rng, decay), "lr_decay": log_uniform(rng, 1e-3, 0.3),
        "initial_accumulator_value": log_uniform(rng, 1e-3, 1.0)},
    "rmsprop": lambda rng, decay, centered, with_momentum: {
        **DRAWS["rmsprop"](rng, decay), "centered": centered,
        "momentum": uniform(rng, 0.5, 0.95) if with_momentum else 0.0},
    "radam": _adam_family,
    "adamax": _adam_family,
}


def draw_hyper(name: str, rng: np.random.Generator, variant: dict[str, bool],
               draws: dict[str, Callable[..., dict[str, Any]]] = DRAWS) -> dict[str, Any]:
    """Random non-default hyperparameters of optimizer ``name`` for one option variant."""
    return draws[name](rng, **variant)


def draw_lrs(rng: np.random.Generator, lr: float, steps: int, schedule: bool) -> np.ndarray:
    """The lr of every step: constant, or jumping by up to e^1.5 down and e^0.5 up."""
    lrs = np.full(steps, lr)
    if schedule:
        lrs[1:] = lr * np.exp(rng.uniform(-1.5, 0.5, steps - 1))
    return lrs


def draw_grads(rng: np.random.Generator, steps: int) -> dict[str, np.ndarray]:
    """An open-loop gradient sequence: a per-element drift plus noise, scale 1 or 1e-3 per
    element, with about 5% exact zeros."""
    out = {}
    for key, shape in SHAPES.items():
        scale = rng.choice([1.0, 1e-3], size=shape)
        drift = rng.uniform(-1.0, 1.0, size=shape)
        g = scale * (drift + rng.standard_normal((steps, *shape)))
        g[rng.random(g.shape) < 0.05] = 0.0
        out[key] = g
    return out


def start_point(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The two parameters: a (4, 5) ramp and a random (3,) vector."""
    return {"a": np.linspace(-2.0, 2.0, 20).reshape(SHAPES["a"]),
            "b": rng.standard_normal(SHAPES["b"])}


def draw_cases(seed: int = SEED, variants_of: dict[str, list[dict[str, bool]]] | None = None,
               draws: dict[str, Callable[..., dict[str, Any]]] = DRAWS) -> list[ref.Case]:
    """Every optimizer x option variant x (constant, scheduled lr), plus one closed-loop case
    per optimizer with all its options on."""
    rng = np.random.default_rng(seed)
    cases = []
    for i, (name, variants) in enumerate((variants_of or VARIANTS).items()):
        for variant in variants:
            for schedule in (False, True):
                hyper = draw_hyper(name, rng, variant, draws)
                steps = int(rng.integers(25, 41))
                cases.append(ref.Case(
                    name=f"{name}-{len(cases):02d}", optimizer=name, hyper=hyper,
                    p0=start_point(rng), lrs=draw_lrs(rng, hyper["lr"], steps, schedule),
                    grads=draw_grads(rng, steps)))
        hyper = draw_hyper(name, rng, variants[-1], draws)
        # Small steps keep the closed loop far from oscillating (where round-off would grow);
        # every other optimizer's closed-loop case changes lr.
        hyper["lr"] = uniform(rng, 0.5, 1.0) if name == "adadelta" else log_uniform(
            rng, 1e-3, 1e-2)
        cases.append(ref.Case(
            name=f"{name}-{len(cases):02d}-closed", optimizer=name, hyper=hyper,
            p0=start_point(rng), lrs=draw_lrs(rng, hyper["lr"], CLOSED_LOOP_STEPS, i % 2 == 1),
            curvature={k: rng.uniform(0.5, 4.0, size=s) for k, s in SHAPES.items()}))
    return cases


SCENARIO_SEED = 20240612
SCENARIO_STEPS = 12
# Plans (see tests/torch_scenarios.py): "b" joins after four steps of "a"; then gradients
# of None, for the first steps of "a" and now and then for "b".
PLANS: dict[str, dict[str, str]] = {
    "join": {"a": "g" * 12, "b": "-" * 4 + "g" * 8},
    "none": {"a": "000" + "g" * 9, "b": "gg00gggg0ggg"},
    "lr0": {"a": "g" * 12, "b": "g" * 12},
    "huge": {"a": "g" * 12, "b": "g" * 12},
}
# The "huge" plan runs in float32 with gradients of "a" near 2e19, where g * g overflows.
HUGE = 2e19
# Steps taken with lr = 0 in the "lr0" plan: nothing moves, the state still updates.
ZERO_LR_STEPS = {"lr0": [0, 1, 2, 7]}


def draw_scenarios(seed: int = SCENARIO_SEED) -> list[scen.Scenario]:
    """Every optimizer (all its options on) through every plan, in float64."""
    rng = np.random.default_rng(seed)
    cases = []
    for plan_name, plan in PLANS.items():
        for name, variants in {**VARIANTS, **MORE_VARIANTS}.items():
            draws = MORE_DRAWS if name in MORE_VARIANTS else DRAWS
            hyper = draw_hyper(name, rng, variants[-1], draws)
            p0, grads = start_point(rng), draw_grads(rng, SCENARIO_STEPS)
            dtype = "float64"
            if plan_name == "huge":
                # Decay would add wd * p to a gradient of 2e19: nothing; keep the run readable.
                dtype, hyper["weight_decay"] = "float32", 0.0 if name != "adamw" else 0.01
                grads["a"] = np.where(grads["a"] == 0.0, HUGE, grads["a"] * HUGE)
                p0 = {k: v.astype(np.float32) for k, v in p0.items()}
                grads = {k: v.astype(np.float32) for k, v in grads.items()}
            cases.append(scen.Scenario(
                name=f"{plan_name}-{name}", optimizer=name, hyper=hyper, dtype=dtype,
                plan=plan, p0=p0, grads=grads,
                lrs=draw_lrs(rng, hyper["lr"], SCENARIO_STEPS, True)))
            cases[-1].lrs[ZERO_LR_STEPS.get(plan_name, [])] = 0.0
    return cases


def main(which: str = "all") -> None:
    """Draw the cases, run torch on each and write the fixture files.

    ``which="scenarios"`` or ``"more"`` rewrites only torch_scenarios.* or
    torch_trajectories_more.*; ``"new"`` both (the first trajectory file stays as stored).
    """
    torch = ref.import_torch()
    if which in ("more", "new"):
        write_more(torch)
    if which in ("scenarios", "new"):
        write_scenarios(torch)
    if which != "all":
        return
    cases = draw_cases()
    for case in cases:
        case.traj = ref.run_torch(case)
    ref.save_cases(cases, {"seed": SEED, "torch": torch.__version__, "numpy": np.__version__,
                       "python": platform.python_version(),
                       "generator": "tests/make_torch_fixtures.py"})
    size = ref.FIXTURE_NPZ.stat().st_size + ref.FIXTURE_JSON.stat().st_size
    print(f"wrote {len(cases):d} cases ({sum(c.steps for c in cases):d} steps), "
          f"{size / 1024:.1f} KiB, torch {torch.__version__}")
    write_more(torch)
    write_scenarios(torch)


def draw_more_cases() -> list[ref.Case]:
    """The cases of the second trajectory file; names go on from the first file's."""
    cases = draw_cases(MORE_SEED, MORE_VARIANTS, MORE_DRAWS)
    for case in cases:
        case.name = "more-" + case.name
    return cases


def write_more(torch: Any) -> None:
    """Run torch on the second file's cases and write torch_trajectories_more.*."""
    cases = draw_more_cases()
    for case in cases:
        case.traj = ref.run_torch(case)
    ref.save_cases(cases, {"seed": MORE_SEED, "torch": torch.__version__,
                           "numpy": np.__version__, "python": platform.python_version(),
                           "generator": "tests/make_torch_fixtures.py"}, ref.FIXTURE_MORE_JSON)
    print(f"wrote {len(cases):d} cases to {ref.FIXTURE_MORE_JSON.name}")


def write_scenarios(torch: Any) -> None:
    """Run torch on every scenario and write torch_scenarios.*."""
    scenarios = draw_scenarios()
    for case in scenarios:
        case.traj = scen.run_torch(case)
    scen.save_scenarios(scenarios, {"seed": SCENARIO_SEED, "torch": torch.__version__,
                                    "numpy": np.__version__,
                                    "generator": "tests/make_torch_fixtures.py"})
    print(f"wrote {len(scenarios):d} scenarios to {scen.SCENARIO_JSON.name}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
