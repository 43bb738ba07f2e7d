"""Redraw latency of course_lib.widgets.explore(): the time from a slider move to a new picture.

Each simulated move sets a control's value exactly as the browser's message does, which runs
the optimizer, redraws the lines and encodes the PNG the Image widget sends. The target is
under 150 ms per move on a 2-core machine.

Usage: ``.venv/bin/python benchmarks/widget_latency.py [--moves 200]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from course_lib.widgets import explore


def time_moves(panel, name: str, values: np.ndarray) -> list[float]:
    """Seconds taken by each assignment of ``values`` to control ``name``."""
    control, times = panel.controls[name], []
    for value in values:
        start = time.perf_counter()
        control.value = type(control.value)(value)
        times.append(time.perf_counter() - start)
    return times


def report(label: str, times: list[float]) -> None:
    """Print median, 90th percentile and maximum in milliseconds."""
    ms = np.array(times) * 1e3
    print(f"{label:<34s} n={len(ms):4d}  median {statistics.median(ms):6.1f} ms  "
          f"p90 {np.percentile(ms, 90):6.1f} ms  max {ms.max():6.1f} ms")


def main() -> None:
    """Move the learning-rate, start, momentum and steps sliders back and forth, n moves each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=200, help="moves per slider")
    n = parser.parse_args().moves
    sweep = np.concatenate([np.linspace(0, 1, n // 2), np.linspace(1, 0, n - n // 2)])
    panel = explore()  # SGD on the ellipse, 30 steps
    everything = []
    for label, name, values in [
        ("lr (SGD, ellipse, 30 steps)", "lr", 10 ** (-2 + 2 * sweep)),
        ("start x", "x0", -9 + 18 * sweep),
    ]:
        everything += time_moves(panel, name, values)
        report(label, everything[-n:])
    panel.optimizer_menu.value = "momentum"
    everything += time_moves(panel, "momentum", 0.98 * sweep)
    report("momentum (Momentum, ellipse)", everything[-n:])
    panel.problem_menu.value = "banana"
    panel.optimizer_menu.value = "adam"
    everything += time_moves(panel, "lr", 10 ** (-3 + 2 * sweep))
    report("lr (Adam, banana, 150 steps)", everything[-n:])
    everything += time_moves(panel, "steps", np.round(20 + 280 * sweep).astype(int))
    report("steps (Adam, banana, 20 to 300)", everything[-n:])
    report("all slider moves", everything)


if __name__ == "__main__":
    main()
