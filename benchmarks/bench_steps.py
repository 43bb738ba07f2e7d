"""Part 1: one optimizer step on 1M and 10M float32 elements, course_lib against torch.optim.

Every course_lib optimizer and cost-changing option (nesterov, amsgrad) is timed next to
torch's single-tensor, ``foreach`` and ``fused`` paths and next to NumPy's ``a += b``, which
gives the memory-bandwidth floor: the time of one pass over an array times the passes the
optimizer cannot avoid. A second table times Adam at several block sizes.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bench_common import (
    DEFAULT,
    NOT_INSTALLED,
    OURS,
    Settings,
    elements,
    median_of,
    ms,
    nbytes,
    quiet_stderr,
    ratio,
    table,
    time_rounds,
    torch_threads,
    traced_peak,
    verdict,
)

from course_lib import _base
from course_lib.optimizers import Adam, make_optimizer


@dataclass(frozen=True)
class StepCase:
    """One optimizer and option, its torch twin, and the array passes a step must make."""

    label: str
    name: str
    hyper: dict[str, Any]
    torch_class: str
    torch_hyper: dict[str, Any]
    passes: int  # the least traffic: read p, g and each state buffer; write p and each buffer


CASES = [
    StepCase("SGD", "sgd", {}, "SGD", {"lr": 0.01}, 3),
    StepCase("Momentum", "momentum", {}, "SGD", {"lr": 0.01, "momentum": 0.9}, 5),
    StepCase("Momentum (nesterov)", "momentum", {"nesterov": True}, "SGD",
             {"lr": 0.01, "momentum": 0.9, "nesterov": True}, 5),
    StepCase("AdaGrad", "adagrad", {}, "Adagrad", {"lr": 0.01, "eps": 1e-10}, 5),
    StepCase("RMSProp", "rmsprop", {}, "RMSprop", {"lr": 0.01, "alpha": 0.99, "eps": 1e-8}, 5),
    StepCase("Adam", "adam", {}, "Adam", {"lr": 1e-3}, 7),
    StepCase("Adam (amsgrad)", "adam", {"amsgrad": True}, "Adam",
             {"lr": 1e-3, "amsgrad": True}, 9),
    StepCase("AdamW", "adamw", {}, "AdamW", {"lr": 1e-3, "weight_decay": 0.01}, 7),
    StepCase("AdamW (amsgrad)", "adamw", {"amsgrad": True}, "AdamW",
             {"lr": 1e-3, "weight_decay": 0.01, "amsgrad": True}, 9),
    StepCase("NAdam", "nadam", {}, "NAdam", {"lr": 2e-3}, 7),
    StepCase("Adadelta", "adadelta", {}, "Adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6}, 7),
]
TORCH_MODES = {"torch default": {"foreach": False}, "torch foreach": {"foreach": True},
               "torch fused": {"fused": True}}
PASS = "a += b"  # NumPy's cheapest full pass: reads a and b, writes a (3 array passes)
NAIVE = "NumPy with temporaries"
UNSUPPORTED = "n/a on CPU"


@dataclass
class StepResult:
    """The medians (seconds) of one case at one size, per torch thread setting."""

    case: StepCase
    n: int
    times: dict[str, dict[str, float]] = field(default_factory=dict)  # threads -> variant -> s
    alloc: dict[str, int] = field(default_factory=dict)  # variant -> bytes per step
    unsupported: list[str] = field(default_factory=list)  # torch modes missing on the CPU


@dataclass
class StepsPart:
    """Everything part 1 measured."""

    results: list[StepResult]
    blocks: dict[int, dict[str, float]]  # size -> variant label -> seconds
    threads: list[str]  # the torch thread settings timed
    torch_threads: int | None  # torch's default thread count (None: no torch)
    rounds: int


# ----- measuring --------------------------------------------------------------------------------
def course_step(case: StepCase, p0: np.ndarray, g: np.ndarray) -> Callable[[], None]:
    """One course_lib update of a private copy of ``p0``."""
    opt, params, grads = make_optimizer(case.name, **case.hyper), {"w": p0.copy()}, {"w": g}
    return lambda: opt.update(params, grads)


def torch_steps(torch: Any, case: StepCase, p0: np.ndarray, g: np.ndarray,
                unsupported: list[str]) -> dict[str, Callable[[], Any]]:
    """One step function per torch mode this torch supports on the CPU for ``case``."""
    grad = torch.from_numpy(g)  # shared and only read: no case uses coupled weight decay
    steps = {}
    for label, mode in TORCH_MODES.items():
        p = torch.from_numpy(p0.copy()).requires_grad_()
        p.grad = grad
        try:
            opt = getattr(torch.optim, case.torch_class)([p], **case.torch_hyper, **mode)
            opt.step()  # the first step creates the state (and raises if unsupported)
        except (RuntimeError, TypeError, ValueError):
            unsupported.append(label)
            continue
        steps[label] = opt.step
    return steps


def torch_allocated(step: Callable[[], Any]) -> int:
    """Bytes torch allocates during one step (its profiler's per-operator memory accounting)."""
    from torch.profiler import ProfilerActivity, profile

    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    return sum(max(e.self_cpu_memory_usage, 0) for e in prof.key_averages())


def thread_settings(torch: Any | None, settings: Settings) -> list[str]:
    """``default``, plus ``1`` when torch is timed at one thread too."""
    return [DEFAULT] + (["1"] if torch is not None and settings.torch_one_thread else [])


def bench_case(case: StepCase, n: int, torch: Any | None, settings: Settings,
               add: Callable[[], None]) -> StepResult:
    """Time one case at ``n`` elements: course_lib, torch's modes and the NumPy pass."""
    rng = np.random.default_rng(0)
    p0, g = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    result = StepResult(case, n)
    steps: dict[str, Callable[[], Any]] = {OURS: course_step(case, p0, g)}
    steps[OURS]()  # the first step creates the state and the scratch
    if torch is not None:
        steps.update(torch_steps(torch, case, p0, g, result.unsupported))
    result.alloc[OURS] = traced_peak(steps[OURS])
    for label, step in steps.items():
        if label != OURS:
            result.alloc[label] = torch_allocated(step)
    for threads in thread_settings(torch, settings):
        with torch_threads(torch, None if threads == DEFAULT else 1):
            for step in steps.values():
                step()  # a change of thread count is paid for here, not in a timed call
            result.times[threads] = time_rounds({**steps, PASS: add}, settings.rounds,
                                                 settings.budget)
    return result


def block_label(block: int, n: int) -> str:
    """``BLOCK = 65,536``, or ``one block`` when the block covers the whole array."""
    return "one block (no blocking)" if block >= n else f"BLOCK = {block:,d}"


def blocked_adam(p0: np.ndarray, g: np.ndarray, block: int) -> Callable[[], None]:
    """A course_lib Adam step that runs with ``course_lib._base.BLOCK = block``."""
    opt, params, grads = Adam(), {"w": p0.copy()}, {"w": g}

    def step() -> None:
        _base.BLOCK = block  # read by every update, so each variant runs its own block size
        opt.update(params, grads)

    return step


def naive_adam(p: np.ndarray, g: np.ndarray) -> Callable[[], None]:
    """Adam written the textbook way, every line making new arrays (the spec's baseline)."""
    state = {"m": np.zeros_like(p), "v": np.zeros_like(p), "t": 0}
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8

    def step() -> None:
        state["t"] += 1
        t = state["t"]
        state["m"] = b1 * state["m"] + (1 - b1) * g
        state["v"] = b2 * state["v"] + (1 - b2) * g * g
        m_hat, v_hat = state["m"] / (1 - b1**t), state["v"] / (1 - b2**t)
        p[...] = p - lr * m_hat / (np.sqrt(v_hat) + eps)

    return step


def bench_blocks(settings: Settings) -> dict[int, dict[str, float]]:
    """Adam at each block size, and NumPy with temporaries, per size: median seconds."""
    out = {}
    saved = _base.BLOCK
    try:
        for n in settings.sizes:
            print(f"  blocks: Adam, {elements(n)}", flush=True)
            rng = np.random.default_rng(0)
            p0 = rng.standard_normal(n, dtype=np.float32)
            g = rng.standard_normal(n, dtype=np.float32)
            sizes = sorted({min(b or n, n) for b in (*settings.blocks, _base.BLOCK)})
            fns = {block_label(b, n): blocked_adam(p0, g, b) for b in sizes}
            fns[NAIVE] = naive_adam(p0.copy(), g)
            for fn in fns.values():
                fn()
            out[n] = time_rounds(fns, settings.rounds, settings.budget)
    finally:
        _base.BLOCK = saved
    return out


def measure(torch: Any | None, settings: Settings) -> StepsPart:
    """Part 1 for every case and size, then the block sizes."""
    results = []
    for n in settings.sizes:
        a, b = np.ones(n, np.float32), np.full(n, 1e-3, np.float32)

        def add(a: np.ndarray = a, b: np.ndarray = b) -> None:
            a += b

        for case in CASES:
            print(f"  step: {case.label}, {elements(n)}", flush=True)
            results.append(bench_case(case, n, torch, settings, add))
    return StepsPart(results, bench_blocks(settings), thread_settings(torch, settings),
                     None if torch is None else torch.get_num_threads(), settings.rounds)


def pass_time(results: Sequence[StepResult], n: int) -> float:
    """Seconds per array pass at size n: the median ``a += b`` time over its 3 passes.

    ``a += b`` ran in every case's rounds; the median of those medians gives one floor per
    size for all optimizers.
    """
    samples = [t[PASS] for r in results if r.n == n for t in r.times.values()]
    return statistics.median(samples) / 3


# ----- reporting --------------------------------------------------------------------------------
def torch_cell(part: StepsPart, r: StepResult, threads: str, mode: str) -> str:
    """A torch time, or why there is none."""
    if part.torch_threads is None:
        return NOT_INSTALLED
    return UNSUPPORTED if mode in r.unsupported else ms(r.times[threads].get(mode))


def times_table(part: StepsPart, threads: str) -> str:
    """Step times and ratios with torch at one thread setting."""
    rows = []
    for r in part.results:
        floor = r.case.passes * pass_time(part.results, r.n)
        ours = r.times[threads][OURS]
        rows.append([r.case.label, elements(r.n), str(r.case.passes), ms(floor), ms(ours),
                     ratio(ours, floor), *(torch_cell(part, r, threads, m) for m in TORCH_MODES),
                     *(ratio(ours, r.times[threads].get(m)) for m in TORCH_MODES)])
    if part.torch_threads is None:
        title = "torch not installed"
    elif threads == DEFAULT:
        title = f"torch at its default {part.torch_threads} threads"
    else:
        title = f"torch limited to {threads} thread"
    return (f"### Step time, float32, {title} (ms, {median_of(part.rounds)} "
            f"steps)\n\n"
            + table(["optimizer", "elements", "passes", "floor", "course_lib",
                     "course_lib / floor", *TORCH_MODES, "course_lib / default",
                     "course_lib / foreach", "course_lib / fused"], rows))


def alloc_cell(part: StepsPart, r: StepResult, mode: str) -> str:
    """A torch allocation figure, or why there is none."""
    if part.torch_threads is None:
        return NOT_INSTALLED
    return UNSUPPORTED if mode in r.unsupported else nbytes(r.alloc.get(mode))


def allocation_table(part: StepsPart) -> str:
    """Bytes allocated during one step after the first, per variant."""
    rows = [[r.case.label, elements(r.n), nbytes(4 * r.n), nbytes(r.alloc[OURS]),
             *(alloc_cell(part, r, m) for m in TORCH_MODES)] for r in part.results]
    return ("### Memory allocated during one step after the first\n\n"
            "course_lib: the tracemalloc peak (tracemalloc sees NumPy's arrays); torch: the sum "
            "of the allocations its profiler records (`profile_memory=True`).\n\n"
            + table(["optimizer", "elements", "one parameter", "course_lib", *TORCH_MODES], rows))


def blocks_table(part: StepsPart) -> str:
    """course_lib Adam at each block size, with NumPy-with-temporaries and the floor for scale."""
    rows, best = [], []
    for n, times in part.blocks.items():
        floor = 7 * pass_time(part.results, n)
        current = block_label(min(_base.BLOCK, n), n)
        for label, seconds in times.items():
            mark = " (current)" if label == current else ""
            rows.append([elements(n), label + mark, ms(seconds), ratio(seconds, floor)])
        fastest = min((k for k in times if k != NAIVE), key=times.get)
        best.append(f"{elements(n)}: {fastest} (the current block takes "
                    f"{ratio(times[current], times[fastest])} its time)")
    return (f"### Adam step by block size (`course_lib._base.BLOCK`; ms, "
            f"{median_of(part.rounds)} steps)\n\n"
            + table(["elements", "variant", "ms", "/ floor"], rows)
            + "\n\nFastest: " + "; ".join(best) + ".")


def section(part: StepsPart) -> str:
    """Part 1 in Markdown."""
    intro = ("floor = passes x the time of one array pass, measured as single-threaded NumPy "
             "`a += b` (3 passes: read a, read b, write a) on arrays of the same size, in the "
             "same interleaved rounds as the optimizers. passes = reads of p, g and every state "
             "buffer plus writes of p and every buffer.")
    tables = [times_table(part, threads) for threads in part.threads]
    return "\n\n".join([intro, *tables, allocation_table(part), blocks_table(part)])


def targets(part: StepsPart) -> list[list[str]]:
    """Adam at the largest size: speed against torch's default, allocations, the floor."""
    n = max(r.n for r in part.results)
    r = next(x for x in part.results if x.case.label == "Adam" and x.n == n)
    floor = 7 * pass_time(part.results, n)
    goal = f"Adam {elements(n)}"
    return [speed_target(part, r, floor), [
        f"{goal}: no parameter-sized allocation per step",
        f"peak {nbytes(r.alloc[OURS])} (one parameter: {nbytes(4 * n)})",
        verdict(r.alloc[OURS] < 4 * n), ""], [
        f"{goal}: ratio to the bandwidth floor (reported; ~4x expected when blocked)",
        "; ".join(floor_ratios(part, r, threads, floor) for threads in part.threads),
        "reported", ""]]


def floor_ratios(part: StepsPart, r: StepResult, threads: str, floor: float) -> str:
    """``rounds with torch at 1 thread: course_lib 2.50x, torch fused 0.83x``."""
    times = r.times[threads]
    where = "" if part.torch_threads is None else f"rounds with {thread_label(part, threads)}: "
    fused = times.get("torch fused")
    return (f"{where}course_lib {times[OURS] / floor:.2f}x"
            + (f", torch fused {fused / floor:.2f}x" if fused else ""))


def speed_target(part: StepsPart, r: StepResult, floor: float) -> list[str]:
    """Adam: course_lib at most 1.0x torch's default (single-tensor) step at every thread count."""
    goal = f"Adam {elements(r.n)}: course_lib <= 1.0x torch default"
    if part.torch_threads is None:
        return [goal, "torch " + NOT_INSTALLED, verdict(None), ""]
    ratios = {threads: t[OURS] / t["torch default"] for threads, t in r.times.items()}
    measured = "; ".join(
        f"{thread_label(part, threads)}: {q:.2f}x ({ms(r.times[threads][OURS])} vs "
        f"{ms(r.times[threads]['torch default'])} ms)" for threads, q in ratios.items())
    worst = max(ratios.values())
    why = "" if worst <= 1 else (
        f"Missed by up to {100 * (worst - 1):.0f}%: course_lib spends the time of "
        f"{7 * r.times[DEFAULT][OURS] / floor:.0f} array passes where 7 suffice, because each "
        f"NumPy call makes its own pass over the block. A compiled loop doing the whole update "
        f"per element, or blocks split over the cores, would close it.")
    return [goal, measured, verdict(worst <= 1), why]


def thread_label(part: StepsPart, threads: str) -> str:
    """``torch at 2 threads`` (its default) or ``torch at 1 thread``."""
    count = part.torch_threads if threads == DEFAULT else int(threads)
    return f"torch at {count} thread" + ("" if count == 1 else "s")
