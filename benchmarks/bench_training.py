"""Part 2: training MLPs with Adam, course_lib against the same network in torch.

Both start from the same weights and see the same float32 minibatches of 128 (digits for the
64-input nets, MNIST for 784-100-10), so the final losses must agree closely; the gap is
reported as evidence that both train the same network. course_lib runs ``MLP(flat=True)``
(one buffer for all parameters, one Adam pass) and, for comparison, the plain ``MLP``.
The FLOP floor is the step's matrix products alone, timed with ``np.matmul`` at the same
shapes in the same interleaved rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from bench_common import (
    DEFAULT,
    NOT_INSTALLED,
    OURS,
    Settings,
    blas_threads,
    median_of,
    ratio,
    table,
    time_rounds,
    torch_threads,
    verdict,
)

from course_lib.data import batch_indices, digits, mnist
from course_lib.networks import MLP
from course_lib.optimizers import Adam
from course_lib.training import train

NETWORKS = {"64-100-10": [64, 100, 10], "64-[100x4]-10": [64, 100, 100, 100, 100, 10],
            "784-100-10": [784, 100, 10]}
BATCH = 128
TORCH_MODES = {"torch default": {"foreach": False}, "torch fused": {"fused": True}}
PLAIN = "course_lib plain"  # MLP without flat=True: one Adam pass per parameter
GEMMS = "matmuls alone"  # the step's matrix products, nothing else: the FLOP floor
GOAL = 0.7  # course_lib's time per step at most this fraction of torch default's


@dataclass
class TrainResult:
    """Steps per second of each trainer for one network and thread setting."""

    network: str
    threads: str
    rate: dict[str, float]
    loss_gap: float | None  # |final loss of course_lib - of torch default| after the same steps
    steps: int  # steps per timed round
    update_share: float  # the fraction of course_lib's step spent in optimizer.update
    flops: int  # floating-point operations of one step's matrix products


@dataclass
class TrainingPart:
    """Everything part 2 measured."""

    results: list[TrainResult]
    train_rate: float  # steps/s of course_lib.training.train
    rounds: int


@dataclass
class Record:
    """What a training loop reports besides its speed."""

    last_loss: float = float("nan")
    seconds: float = 0.0  # in the loop, all steps so far
    update_seconds: float = 0.0  # in the optimizer's update (course_lib only)


Runner = tuple[Callable[[int], None], Record]  # (run k steps, what they recorded)


def seeded_batches(inputs: int, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` seeded float32 minibatches of 128: of MNIST for 784 inputs, else the digits.

    The shorter last batch of each epoch is left out, so every timed step sees 128 rows.
    """
    data = (mnist if inputs == 784 else digits)(dtype=np.float32)
    full = (i for i in batch_indices(len(data.x_train), BATCH, seed=0) if len(i) == BATCH)
    return [(data.x_train[i], data.t_train[i]) for i in (next(full) for _ in range(count))]


def matmul_flops(sizes: list[int]) -> int:
    """FLOPs of one step's products: x W, x^T dout and dout W^T per layer (no dx for the first)."""
    per_layer = [2 * BATCH * n_in * n_out for n_in, n_out in zip(sizes, sizes[1:], strict=False)]
    return 3 * sum(per_layer) - per_layer[0]


def gemm_runner(sizes: list[int]) -> Runner:
    """The step's matrix products alone, with np.matmul into preallocated outputs.

    He-scaled weights keep the activations near 1 and the gradients are fixed random arrays,
    so no value drifts towards overflow or subnormals (which would slow the products down).
    """
    rng, record = np.random.default_rng(0), Record()
    shapes = list(zip(sizes, sizes[1:], strict=False))
    weights = [rng.standard_normal(s, dtype=np.float32) * np.float32(np.sqrt(2 / s[0]))
               for s in shapes]
    acts = [rng.standard_normal((BATCH, n), dtype=np.float32) for n in sizes]
    douts = [rng.standard_normal((BATCH, n), dtype=np.float32) for n in sizes]
    dxs = [np.empty_like(a) for a in acts]
    grads = [np.empty_like(w) for w in weights]

    def run(steps: int) -> None:
        for _ in range(steps):
            for i, w in enumerate(weights):  # forward: x W
                np.matmul(acts[i], w, out=acts[i + 1])
            for i, w in enumerate(weights):  # backward: x^T dout, and dout W^T past layer 1
                np.matmul(acts[i].T, douts[i + 1], out=grads[i])
                if i:
                    np.matmul(douts[i + 1], w.T, out=dxs[i])

    return run, record


def course_trainer(net: MLP, batches: list) -> Runner:
    """A hand loop of Adam updates of ``net`` over ``batches``, cycling."""
    opt, record, position = Adam(lr=1e-3), Record(), [0]

    def run(steps: int) -> None:
        start = time.perf_counter()
        for _ in range(steps):
            x, t = batches[position[0] % len(batches)]
            position[0] += 1
            record.last_loss, grads = net.forward_backward(x, t)
            began = time.perf_counter()
            opt.update(net.params, grads)
            record.update_seconds += time.perf_counter() - began
        record.seconds += time.perf_counter() - start

    return run, record


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


def torch_trainer(torch: Any, net: MLP, batches: list, mode: dict) -> Runner:
    """The torch twin of :func:`course_trainer`: same weights, batches and Adam."""
    model = torch_net(torch, net)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **mode)
    data = [(torch.from_numpy(x), torch.from_numpy(t)) for x, t in batches]
    record, position = Record(), [0]

    def run(steps: int) -> None:
        for _ in range(steps):
            x, t = data[position[0] % len(data)]
            position[0] += 1
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), t)
            loss.backward()
            opt.step()
        record.last_loss = float(loss.detach())

    return run, record


def bench_network(torch: Any | None, network: str, threads: str, batches: list,
                  settings: Settings) -> TrainResult:
    """Steps per second of each trainer on one network, and the final loss gap."""
    sizes = NETWORKS[network]
    net = MLP(sizes, seed=0, dtype=np.float32)
    runners = {OURS: course_trainer(MLP(sizes, seed=0, dtype=np.float32, flat=True), batches),
               PLAIN: course_trainer(net.copy(), batches), GEMMS: gemm_runner(sizes)}
    if torch is not None:
        for label, mode in TORCH_MODES.items():
            runners[label] = torch_trainer(torch, net, batches, mode)
    limit = None if threads == DEFAULT else int(threads)
    with blas_threads(limit), torch_threads(torch, limit):
        steps = steps_per_round(runners, settings)
        times = time_rounds({k: partial(run, steps) for k, (run, _) in runners.items()},
                            settings.mlp_rounds, settings.budget * len(runners))
    ours = runners[OURS][1]
    gap = None if torch is None else abs(ours.last_loss - runners["torch default"][1].last_loss)
    return TrainResult(network, threads, {k: steps / s for k, s in times.items()}, gap, steps,
                       ours.update_seconds / ours.seconds, matmul_flops(sizes))


def steps_per_round(runners: dict[str, Runner], settings: Settings) -> int:
    """Warm every runner up (state, caches, thread pools) and size the timed rounds.

    A round takes at most ``settings.mlp_steps`` steps and about ``mlp_round_seconds`` of the
    slowest runner, so a busy machine shortens the rounds instead of stretching the run.
    """
    warm = max(settings.mlp_steps // 10, 1)
    slowest = 0.0
    for run, _ in runners.values():
        start = time.perf_counter()
        run(warm)
        slowest = max(slowest, (time.perf_counter() - start) / warm)
    return int(min(settings.mlp_steps, max(warm, settings.mlp_round_seconds / slowest)))


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
    batches = {n: seeded_batches(n, 64) for n in {s[0] for s in NETWORKS.values()}}
    results = []
    for threads in (DEFAULT, "1"):
        for network, sizes in NETWORKS.items():
            print(f"  train: {network}, threads {threads}", flush=True)
            results.append(bench_network(torch, network, threads, batches[sizes[0]],
                                         settings))
    return TrainingPart(results, train_function_rate(settings), settings.mlp_rounds)


# ----- reporting --------------------------------------------------------------------------------
def us(rate: float | None) -> str:
    """Microseconds per step from steps per second."""
    return "-" if rate is None else f"{1e6 / rate:,.0f}"


def speed_table(part: TrainingPart) -> str:
    """Steps per second of every trainer, and the time ratios."""
    rows = []
    for r in part.results:
        rates = [f"{r.rate[m]:,.0f}" if m in r.rate else NOT_INSTALLED for m in TORCH_MODES]
        # Time per step of course_lib over torch's: above 1, course_lib is slower.
        rel = [ratio(r.rate.get(m), r.rate[OURS]) for m in TORCH_MODES]
        gap = "-" if r.loss_gap is None else f"{r.loss_gap:.1e}"
        rows.append([r.network, r.threads, str(r.steps), f"{r.rate[OURS]:,.0f}",
                     f"{100 * r.update_share:.0f}%", f"{r.rate[PLAIN]:,.0f}", *rates, *rel,
                     ratio(r.rate.get("torch default"), r.rate[PLAIN]), gap])
    return (f"### Adam, batch {BATCH}, float32: steps per second ("
            f"{median_of(part.rounds)} rounds)\n\n"
            "course_lib: `MLP(flat=True)`, every parameter in one buffer and one Adam pass over "
            "it; course_lib plain: `MLP`, one Adam pass per parameter (the same numbers). "
            "time ratio = course_lib's time per step / torch's (below 1: course_lib is faster). "
            "threads: NumPy's BLAS and torch's intra-op threads both at their defaults, or both "
            "limited to 1. loss gap: |course_lib's final minibatch loss - torch default's| after "
            "the same steps from the same weights on the same batches. steps per round: fewer "
            "when a step is slow (a busy machine). of which update: the share of course_lib's "
            "step spent in `Adam.update`.\n\n"
            + table(["network", "threads", "steps per round", "course_lib", "of which update",
                     PLAIN, *TORCH_MODES, "time ratio vs default", "time ratio vs fused",
                     "plain: time ratio vs default", "loss gap"], rows))


def floor_table(part: TrainingPart) -> str:
    """Each step against its FLOP floor: the time of its matrix products alone."""
    rows = []
    for r in part.results:
        floor = r.rate[GEMMS]
        torch_rate = r.rate.get("torch default")
        rows.append([r.network, r.threads, f"{r.flops / 1e6:.1f}", us(floor),
                     f"{r.flops * floor / 1e9:.0f}", us(r.rate[OURS]),
                     ratio(floor, r.rate[OURS]), us(torch_rate), ratio(floor, torch_rate)])
    return ("### The step against its FLOP floor\n\n"
            "floor = the step's matrix products alone (forward x W, backward x^T dout, and "
            "dout W^T for every layer but the first), timed with `np.matmul` into preallocated "
            "arrays at the same shapes, in the same interleaved rounds and thread setting. "
            "GFLOP/s = the products' FLOPs / the floor: the GEMM throughput NumPy's BLAS "
            "reaches at these shapes. The rest of a step is elementwise work (bias, ReLU, "
            "softmax, Adam) and Python.\n\n"
            + table(["network", "threads", "matmul MFLOP per step", "floor (us)",
                     "GEMM GFLOP/s", "course_lib (us)", "course_lib / floor",
                     "torch default (us)", "torch / floor"], rows))


def section(part: TrainingPart) -> str:
    """Part 2 in Markdown."""
    return (speed_table(part) + "\n\n" + floor_table(part)
            + f"\n\n`course_lib.training.train` on 64-100-10 (its own minibatch sampling, two "
              f"full evaluations, one BLAS thread): {part.train_rate:,.0f} steps/s."
            + threads_note(part))


def threads_note(part: TrainingPart) -> str:
    """A warning when threads made course_lib slower (small matrices on a busy machine)."""
    one = {r.network: r.rate[OURS] for r in part.results if r.threads == "1"}
    slowdown = max(one[r.network] / r.rate[OURS] for r in part.results if r.threads == DEFAULT)
    if slowdown < 2:
        return ""
    return (f"\n\nIn this run, BLAS at its default thread count made course_lib up to "
            f"{slowdown:.0f}x slower than one thread: on matrices this small, threads mostly wait "
            f"for each other, and far worse when other jobs share the cores. This is why "
            f"`course_lib.training.train` runs BLAS on one thread.")


def threads_text(threads: str) -> str:
    """``default threads`` or ``1 thread``."""
    return "1 thread" if threads == "1" else f"{threads} threads"


def targets(part: TrainingPart) -> list[list[str]]:
    """course_lib at most GOAL x torch's time per step on each network, at every thread setting."""
    rows = []
    for network in NETWORKS:
        goal = f"MLP {network}: course_lib <= {GOAL}x torch CPU time per step"
        runs = [r for r in part.results if r.network == network]
        if any("torch default" not in r.rate for r in runs):
            rows.append([goal, "torch " + NOT_INSTALLED, verdict(None), ""])
            continue
        ratios = {r.threads: r.rate["torch default"] / r.rate[OURS] for r in runs}
        measured = "; ".join(f"{threads_text(threads)}: {q:.2f}x" for threads, q in ratios.items())
        worst = max(runs, key=lambda r: ratios[r.threads])
        q = ratios[worst.threads]
        why = "" if q <= GOAL else (
            f"Missed by {100 * (q / GOAL - 1):.0f}% ({threads_text(worst.threads)}: "
            f"{us(worst.rate[OURS])} vs {us(worst.rate['torch default'])} us per step). "
            f"{100 * worst.update_share:.0f}% of the step is Adam's one pass over all "
            f"parameters; the matrix products alone take {us(worst.rate[GEMMS])} us "
            f"({ratio(worst.rate[GEMMS], worst.rate[OURS])} of the step).")
        rows.append([goal, measured, verdict(q <= GOAL), why])
    return rows
