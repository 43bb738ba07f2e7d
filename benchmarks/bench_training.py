"""Part 2: training the digits MLP with Adam, course_lib against the same network in torch.

Both start from the same weights and see the same float32 minibatches of 128, so the final
losses must agree closely; the gap is reported as evidence that both train the same network.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench_common import (
    DEFAULT,
    NOT_INSTALLED,
    OURS,
    Settings,
    blas_threads,
    ratio,
    table,
    time_rounds,
    torch_threads,
    verdict,
)

from course_lib.data import batch_indices, digits
from course_lib.networks import MLP
from course_lib.optimizers import Adam
from course_lib.training import train

NETWORKS = {"64-100-10": [64, 100, 10], "64-[100x4]-10": [64, 100, 100, 100, 100, 10]}
BATCH = 128
TORCH_MODES = {"torch default": {"foreach": False}, "torch fused": {"fused": True}}


@dataclass
class TrainResult:
    """Steps per second of each trainer for one network and thread setting."""

    network: str
    threads: str
    rate: dict[str, float]
    loss_gap: float | None  # |final loss of course_lib - of torch default| after the same steps


@dataclass
class TrainingPart:
    """Everything part 2 measured."""

    results: list[TrainResult]
    train_rate: float  # steps/s of course_lib.training.train
    steps: int
    rounds: int


Runner = tuple[Callable[[], None], list[float]]  # (run some steps, [last loss])


def digit_batches(count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` seeded float32 minibatches of the digits training set."""
    data = digits(dtype=np.float32)
    stream = batch_indices(len(data.x_train), BATCH, seed=0)
    return [(data.x_train[i], data.t_train[i]) for i in (next(stream) for _ in range(count))]


def course_trainer(net: MLP, batches: list, steps: int) -> Runner:
    """A hand loop of ``steps`` Adam updates of ``net`` over ``batches``, cycling."""
    opt, last, position = Adam(lr=1e-3), [float("nan")], [0]

    def run() -> None:
        for _ in range(steps):
            x, t = batches[position[0] % len(batches)]
            position[0] += 1
            last[0], grads = net.forward_backward(x, t)
            opt.update(net.params, grads)

    return run, last


def torch_net(torch: Any, net: MLP) -> Any:
    """The same network in torch, starting from ``net``'s weights (torch stores W transposed)."""
    layers = []
    for layer in net.affine_layers():
        lin = torch.nn.Linear(*layer.W.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.W.T)))
            lin.bias.copy_(torch.from_numpy(layer.b))
        layers += [lin, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def torch_trainer(torch: Any, net: MLP, batches: list, steps: int, mode: dict) -> Runner:
    """The torch twin of :func:`course_trainer`: same weights, batches and Adam."""
    model = torch_net(torch, net)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **mode)
    data = [(torch.from_numpy(x), torch.from_numpy(t)) for x, t in batches]
    last, position = [float("nan")], [0]

    def run() -> None:
        for _ in range(steps):
            x, t = data[position[0] % len(data)]
            position[0] += 1
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), t)
            loss.backward()
            opt.step()
        last[0] = float(loss.detach())

    return run, last


def bench_network(torch: Any | None, sizes: list[int], threads: str, batches: list,
                  settings: Settings) -> tuple[dict[str, float], float | None]:
    """Steps per second of each trainer on one network, and the final loss gap."""
    net = MLP(sizes, seed=0, dtype=np.float32)
    runners = {OURS: course_trainer(net.copy(), batches, settings.mlp_steps)}
    if torch is not None:
        for label, mode in TORCH_MODES.items():
            runners[label] = torch_trainer(torch, net, batches, settings.mlp_steps, mode)
    limit = None if threads == DEFAULT else int(threads)
    with blas_threads(limit), torch_threads(torch, limit):
        for run, _ in runners.values():
            run()  # warm-up: optimizer state, caches, thread pools
        times = time_rounds({k: run for k, (run, _) in runners.items()}, settings.mlp_rounds)
    gap = None if torch is None else abs(runners[OURS][1][0] - runners["torch default"][1][0])
    return {k: settings.mlp_steps / s for k, s in times.items()}, gap


def train_function_rate(settings: Settings) -> float:
    """Steps per second of ``course_lib.training.train`` (64-100-10; two full evaluations)."""
    data, steps, samples = digits(dtype=np.float32), 5 * settings.mlp_steps, []
    for _ in range(max(settings.mlp_rounds // 2, 1)):
        net = MLP(NETWORKS["64-100-10"], seed=0, dtype=np.float32)
        start = time.perf_counter()
        train(net, Adam(lr=1e-3), data, steps=steps, batch_size=BATCH, eval_every=steps,
              progress=False)
        samples.append(steps / (time.perf_counter() - start))
    return statistics.median(samples)


def measure(torch: Any | None, settings: Settings) -> TrainingPart:
    """Part 2: every network at default threads and at one thread."""
    batches = digit_batches(64)
    results = []
    for threads in (DEFAULT, "1"):
        for label, sizes in NETWORKS.items():
            print(f"  train: {label}, threads {threads}", flush=True)
            rate, gap = bench_network(torch, sizes, threads, batches, settings)
            results.append(TrainResult(label, threads, rate, gap))
    return TrainingPart(results, train_function_rate(settings), settings.mlp_steps,
                        settings.mlp_rounds)


# ----- reporting --------------------------------------------------------------------------------
def section(part: TrainingPart) -> str:
    """Part 2 in Markdown."""
    rows = []
    for r in part.results:
        rates = [f"{r.rate[m]:,.0f}" if m in r.rate else NOT_INSTALLED for m in TORCH_MODES]
        # Time per step of course_lib over torch's: above 1, course_lib is slower.
        rel = [ratio(r.rate.get(m), r.rate[OURS]) for m in TORCH_MODES]
        gap = "-" if r.loss_gap is None else f"{r.loss_gap:.1e}"
        rows.append([r.network, r.threads, f"{r.rate[OURS]:,.0f}", *rates, *rel, gap])
    return (f"### Adam, batch {BATCH}, float32: steps per second (median of {part.rounds} "
            f"rounds of {part.steps} steps)\n\n"
            "time ratio = course_lib's time per step / torch's (below 1: course_lib is faster). "
            "threads: NumPy's BLAS and torch's intra-op threads both at their defaults, or both "
            "limited to 1. loss gap: |course_lib's final minibatch loss - torch default's| after "
            "the same steps from the same weights on the same batches.\n\n"
            + table(["network", "threads", "course_lib", *TORCH_MODES, "time ratio vs default",
                     "time ratio vs fused", "loss gap"], rows)
            + f"\n\n`course_lib.training.train` on 64-100-10 (its own minibatch sampling, two "
              f"full evaluations, one BLAS thread): {part.train_rate:,.0f} steps/s.")


def targets(part: TrainingPart) -> list[list[str]]:
    """course_lib at most torch's time per step on each network (default threads)."""
    rows = []
    for r in part.results:
        if r.threads != DEFAULT:
            continue
        goal, other = f"MLP {r.network}: course_lib <= 1.0x torch CPU", r.rate.get("torch default")
        if other is None:
            rows.append([goal, "torch " + NOT_INSTALLED, verdict(None), ""])
            continue
        q = other / r.rate[OURS]
        why = "" if q <= 1 else (
            f"Missed by {100 * (q - 1):.0f}%: a step is {1e6 / r.rate[OURS]:.0f} us of many "
            f"small NumPy calls and dict work in Python on {BATCH} x 100 arrays; fewer, larger "
            f"operations (preallocated activations, one fused layer update) would close it.")
        rows.append([goal, f"{q:.2f}x time per step ({r.rate[OURS]:,.0f} vs {other:,.0f} "
                     f"steps/s)", verdict(q <= 1), why])
    return rows
