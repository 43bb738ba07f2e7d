"""Speed and memory of the course, measured side by side, written to benchmarks/RESULTS.md.

1. one optimizer step on 1M and 10M float32 elements against torch.optim and the memory-bandwidth
   floor, with the bytes each step allocates (bench_steps.py);
2. a training step of three MLPs against the same networks in torch, and against the
   step's FLOP floor (bench_training.py);
3. executing every lecture and solution notebook: wall time, peak RSS (bench_course.py);
4. ``course grade`` on a generated class against nbclient (bench_course.py).

Every ratio compares numbers measured in the same run, in interleaved rounds, because the
machine may be shared. Usage::

    .venv/bin/python benchmarks/run.py            # the full run (several minutes), RESULTS.md
    .venv/bin/python benchmarks/run.py --quick    # a smoke run on tiny sizes, printed
    .venv/bin/python benchmarks/run.py --parts 12 --no-torch -o /tmp/results.md
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_course
import bench_steps
import bench_training
from bench_common import (
    FULL,
    QUICK,
    REPO,
    Settings,
    load,
    load_torch,
    machine,
    table,
    write_atomically,
)

RESULTS = REPO / "benchmarks" / "RESULTS.md"


@dataclass
class Results:
    """Everything one run measured; a part that was not run is None."""

    machine: list[tuple[str, str]]
    settings: Settings
    steps: bench_steps.StepsPart | None = None
    training: bench_training.TrainingPart | None = None
    notebooks: list[bench_course.NotebookRun] | None = None
    grading: bench_course.GradingPart | None = None
    seconds: float = 0.0


def run(settings: Settings, parts: str, torch: Any | None) -> Results:
    """Measure the chosen parts (``"1234"``: all) and time the whole run."""
    start = time.perf_counter()
    res = Results(machine(torch), settings)
    if "1" in parts:
        print("part 1: optimizer steps", flush=True)
        res.steps = bench_steps.measure(torch, settings)
    if "2" in parts:
        print("part 2: MLP training", flush=True)
        res.training = bench_training.measure(torch, settings)
    if "3" in parts:
        print("part 3: notebooks", flush=True)
        res.notebooks = bench_course.measure_notebooks(settings)
    if "4" in parts:
        print("part 4: grading", flush=True)
        res.grading = bench_course.measure_grading(settings)
    res.seconds = time.perf_counter() - start
    return res


def targets(res: Results) -> str:
    """The issue's targets: the measured value, whether it is met, by how much and why not."""
    rows = []
    if res.steps:
        rows += bench_steps.targets(res.steps)
    if res.training:
        rows += bench_training.targets(res.training)
    if res.notebooks is not None:
        rows += bench_course.notebook_targets(res.notebooks)
    if res.grading is not None:
        rows += bench_course.grading_targets(res.grading)
    return table(["target", "measured", "status", "by how much / why"], rows)


def report(res: Results) -> str:
    """The whole Markdown report."""
    quick = " (QUICK SMOKE RUN: tiny sizes, not representative)" if res.settings == QUICK else ""
    head = (f"# Benchmarks{quick}\n\nWritten by `.venv/bin/python benchmarks/run.py` "
            f"(`make bench`) in {duration(res.seconds)}. Times are medians of repeated, "
            f"interleaved runs, and every ratio compares numbers from this one run. The machine "
            f"may have been shared (see the load averages), which makes absolute times noisy; "
            f"ratios are steadier.\n\n## Machine\n\n"
            + table(["", ""], [*res.machine, ("Load average at end (1 / 5 / 15 min)", load())]))
    parts = [head, "## Targets\n\n" + targets(res)]
    if res.steps:
        parts.append("## 1. One optimizer step\n\n" + bench_steps.section(res.steps))
    if res.training:
        parts.append("## 2. Training MLPs (digits and MNIST)\n\n"
                     + bench_training.section(res.training))
    if res.notebooks is not None:
        parts.append("## 3. Executing the notebooks\n\n"
                     + bench_course.notebooks_section(res.notebooks))
    if res.grading is not None:
        parts.append("## 4. Grading throughput\n\n" + bench_course.grading_section(res.grading))
    return "\n\n".join(parts) + "\n"


def duration(seconds: float) -> str:
    """``42 s`` or ``7.5 minutes``."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} minutes"


def parts_arg(text: str) -> str:
    """argparse type: some of the digits 1 to 4."""
    if not text or set(text) - set("1234"):
        raise argparse.ArgumentTypeError(f"must be digits from 1 to 4 (e.g. 12), got {text!r}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and write the report (with --quick: print it unless -o is given)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run on tiny sizes; prints the report unless -o is given")
    parser.add_argument("--parts", type=parts_arg, default="1234",
                        help="which parts to run, e.g. 12 (default: 1234)")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="where to write the report (default: benchmarks/RESULTS.md; "
                             "with --quick, standard output)")
    parser.add_argument("--no-torch", action="store_true",
                        help="measure as if torch were not installed")
    args = parser.parse_args(argv)
    torch = None if args.no_torch else load_torch()
    text = report(run(QUICK if args.quick else FULL, args.parts, torch))
    output = args.output or (None if args.quick else RESULTS)
    if output is None:
        print(text)
    else:
        write_atomically(output, text)
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
