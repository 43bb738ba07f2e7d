"""What every benchmark part shares: settings, interleaved timing, formatting, the machine."""

from __future__ import annotations

import contextlib
import gc
import math
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NOT_INSTALLED = "not installed (make reference)"
NOT_YET = "not available yet"
DEFAULT = "default"  # the thread setting each library picks by itself
OURS = "course_lib"
MIN_ROUNDS = 3  # the fewest timed rounds behind any median


@dataclass(frozen=True)
class Settings:
    """How much to measure: the full run, or a seconds-long smoke run (``QUICK``)."""

    sizes: tuple[int, ...] = (1_000_000, 10_000_000)
    rounds: int = 9  # timed steps per variant; the median is reported
    budget: float = 2.0  # seconds after which no new round starts (beyond MIN_ROUNDS)
    blocks: tuple[int, ...] = (1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 0)  # 0: one block
    mlp_steps: int = 200  # at most this many steps per timed round of training
    mlp_round_seconds: float = 0.3  # fewer steps per round when a step is slow
    mlp_rounds: int = 7
    generated_notebook: bool = False  # part 3 runs a generated two-cell notebook instead
    students: int = 2
    sheets: int | None = None  # worksheets per student, the first ones (None: all)
    torch_one_thread: bool = True  # also time torch limited to one thread


FULL = Settings()
QUICK = Settings(sizes=(100_000,), rounds=3, blocks=(1 << 12, 0), mlp_steps=10, mlp_rounds=2,
                 generated_notebook=True, students=1, sheets=1, torch_one_thread=False)


# ----- measuring ------------------------------------------------------------------------------
def time_rounds(fns: dict[str, Callable[[], Any]], rounds: int,
                budget: float = math.inf) -> dict[str, float]:
    """Median seconds per call of each function, called in interleaved rounds.

    Interleaving (and rotating the order) lets a noisy neighbour slow every variant alike,
    so the ratios stay meaningful even when the absolute times drift. Once ``budget`` seconds
    have passed, no new round starts after the first ``MIN_ROUNDS``: a busy machine costs
    precision, not hours.
    """
    names, samples = list(fns), {k: [] for k in fns}
    gc.collect()
    gc.disable()  # a collection inside one timed call would be charged to that variant alone
    start = time.perf_counter()
    try:
        for r in range(rounds):
            if r >= MIN_ROUNDS and time.perf_counter() - start > budget:
                break
            for name in names[r % len(names):] + names[: r % len(names)]:
                began = time.perf_counter()
                fns[name]()
                samples[name].append(time.perf_counter() - began)
    finally:
        gc.enable()
    return {k: statistics.median(v) for k, v in samples.items()}


def traced_peak(action: Callable[[], Any]) -> int:
    """Bytes of the tracemalloc peak (NumPy's arrays included) while ``action()`` runs."""
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return max(peak - base, 0)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (torch's profiler library logs every start and stop there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def load_torch() -> Any | None:
    """The torch module, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


@contextlib.contextmanager
def torch_threads(torch: Any | None, threads: int | None) -> Iterator[None]:
    """Run torch with ``threads`` intra-op threads (None: leave its default)."""
    if torch is None or threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Limit NumPy's BLAS to ``threads`` (None, or no threadpoolctl: leave it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        threadpool_limits = None
    if threads is None or threadpool_limits is None:
        yield
        return
    with threadpool_limits(limits=threads, user_api="blas"):
        yield


# ----- formatting -----------------------------------------------------------------------------
def ms(seconds: float | None) -> str:
    """Milliseconds with a precision that suits the size."""
    if seconds is None:
        return "-"
    value = seconds * 1e3
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def ratio(a: float | None, b: float | None) -> str:
    """``a / b`` as e.g. ``1.23x``, or ``-`` when either is missing."""
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def nbytes(n: int | None) -> str:
    """A byte count in B, KiB or MiB."""
    if n is None:
        return "-"
    if n < 1024:
        return f"{n:d} B"
    return f"{n / 1024:.1f} KiB" if n < 1 << 20 else f"{n / 2**20:.1f} MiB"


def elements(n: int) -> str:
    """1000000 -> ``1M``, 100000 -> ``100K``."""
    return f"{n // 10**6}M" if n % 10**6 == 0 else f"{n // 1000}K" if n % 1000 == 0 else str(n)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def median_of(rounds: int) -> str:
    """``median of 3 to 9`` (a time budget may stop the rounds early), or ``median of 2``."""
    return f"median of {rounds}" if rounds <= MIN_ROUNDS else f"median of {MIN_ROUNDS} to {rounds}"


def verdict(met: bool | None) -> str:
    """``met``, ``**missed**`` or ``not measured``."""
    return "not measured" if met is None else "met" if met else "**missed**"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ----- the machine ----------------------------------------------------------------------------
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform's guess elsewhere)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def caches() -> str:
    """The caches of CPU 0, e.g. ``L1d 32K, L1i 32K, L2 1024K, L3 32768K``."""
    found = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        with contextlib.suppress(OSError):
            level, kind = (index / "level").read_text().strip(), (index / "type").read_text()
            suffix = {"Data": "d", "Instruction": "i"}.get(kind.strip(), "")
            found.append(f"L{level}{suffix} {(index / 'size').read_text().strip()}")
    return ", ".join(found) or "unknown"


def memory_gib() -> str:
    """Total memory from /proc/meminfo."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return "unknown"


def blas() -> str:
    """NumPy's BLAS as threadpoolctl sees it: library, version, architecture, threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    libs = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, "
            f"{i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(libs) or "none loaded"


def load() -> str:
    """The 1, 5 and 15 minute load averages (how busy the shared machine was)."""
    with contextlib.suppress(OSError, AttributeError):
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return "unknown"


def machine(torch: Any | None) -> list[tuple[str, str]]:
    """The machine description at the top of the results."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        ("CPU", f"{cpu_model()}; {os.cpu_count()} logical cores ({usable} usable); "
                f"caches {caches()}"),
        ("Memory", memory_gib()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("NumPy", f"{np.__version__}; BLAS: {blas()}"),
        ("torch", NOT_INSTALLED if torch is None else
         f"{torch.__version__}; {torch.get_num_threads()} intra-op threads by default"),
        ("Load average at start (1 / 5 / 15 min)", load()),
    ]
