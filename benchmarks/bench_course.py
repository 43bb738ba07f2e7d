"""Parts 3 and 4: executing the course's notebooks, and grading a class of submissions.

Part 3 runs every lecture and solution notebook top to bottom in a fresh kernel and reads the
kernel's peak resident memory (VmHWM) before it exits. Part 4 copies the solution notebooks
into per-student folders, grades them with ``course grade --jobs 1`` and ``--jobs 2``, and
compares with the plain way: executing every submission with nbclient, one after another.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_common import NOT_YET, REPO, Settings, ratio, table, verdict

NOTEBOOK_SECONDS, NOTEBOOK_MB, COURSE_SECONDS, GRADING_SPEEDUP = 20.0, 500.0, 120.0, 3.0


@dataclass
class NotebookRun:
    """One notebook executed in a fresh kernel."""

    name: str
    seconds: float  # from the kernel's start to the last cell's end
    cell_seconds: float  # the cells alone
    peak_mb: float | None  # the kernel's peak resident memory
    error: str = ""
    slowest_cell: tuple[int, float] = (0, 0.0)  # (1-based index among all cells, seconds)


# ----- part 3 -------------------------------------------------------------------------------------
def course_notebooks() -> list[Path]:
    """Every lecture and solution notebook present now, in course order."""
    return sorted(REPO.glob("notebooks/*.ipynb")) + sorted(REPO.glob("solutions/*.ipynb"))


def peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident set size (VmHWM) in MB, or None without /proc."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def execute_notebook(path: Path, timeout: int = 600) -> NotebookRun:
    """Execute ``path`` in a new kernel started in its folder; the file is never written."""
    import nbformat
    from nbclient import NotebookClient

    start = time.perf_counter()
    cells_start, peak, error, slowest = start, None, "", (0, 0.0)
    try:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        with client.setup_kernel():
            pid = client.km.provisioner.process.pid
            cells_start = time.perf_counter()
            try:
                for index, cell in enumerate(client.nb.cells):
                    began = time.perf_counter()
                    client.execute_cell(cell, index)
                    slowest = max(slowest, (index + 1, time.perf_counter() - began),
                                  key=lambda pair: pair[1])
            finally:
                peak = peak_rss_mb(pid)  # before the kernel exits and its /proc entry goes
    except Exception as exc:  # a notebook being edited may be half-written: report, go on
        last = (str(exc).strip().splitlines() or [""])[-1]
        error = f"{type(exc).__name__}: {last[:100]}"
    end = time.perf_counter()
    return NotebookRun(path.name, end - start, end - cells_start, peak, error, slowest)


def smoke_notebook(folder: Path) -> Path:
    """A two-cell notebook that allocates 50 MB, to exercise part 3 in a quick run."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np"),
                nbformat.v4.new_code_cell("x = np.ones(50 * 2**20, np.uint8)\nint(x.sum())")]
    path = folder / "smoke.ipynb"
    nbformat.write(nb, path)
    return path


def measure_notebooks(settings: Settings) -> list[NotebookRun]:
    """Part 3: each notebook once (or, in a quick run, a generated one)."""
    if settings.generated_notebook:
        with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
            print("  notebook: a generated smoke notebook", flush=True)
            return [execute_notebook(smoke_notebook(Path(tmp)))]
    runs = []
    for path in course_notebooks():
        print(f"  notebook: {path.relative_to(REPO)}", flush=True)
        runs.append(execute_notebook(path))
        runs[-1].name = str(path.relative_to(REPO))
    return runs


def notebooks_section(runs: list[NotebookRun]) -> str:
    """Part 3 in Markdown."""
    if not runs:
        return "No notebooks found in notebooks/ or solutions/."
    rows = [[r.name, f"{r.seconds:.1f}", f"{r.cell_seconds:.1f}",
             "-" if r.peak_mb is None else f"{r.peak_mb:.0f}", r.error or "ok"] for r in runs]
    peaks = [r.peak_mb for r in runs if r.peak_mb is not None]
    rows.append(["**total**", f"{sum(r.seconds for r in runs):.1f}",
                 f"{sum(r.cell_seconds for r in runs):.1f}",
                 f"max {max(peaks):.0f}" if peaks else "-",
                 f"{sum(not r.error for r in runs)} of {len(runs)} ran"])
    return ("Each notebook runs once, top to bottom, in a fresh kernel started in its folder "
            "(nbclient), one after another; the wall time includes starting the kernel. Peak "
            "RSS is the kernel process's VmHWM.\n\n"
            + table(["notebook", "wall s", "cells s", "peak RSS MB", "status"], rows))


def notebook_targets(runs: list[NotebookRun]) -> list[list[str]]:
    """Every notebook under 20 s and 500 MB; the whole course under 2 minutes."""
    if not runs:
        return [["every notebook under 20 s and 500 MB", "no notebooks", verdict(None), ""]]
    slow = [f"{r.name} {r.seconds:.1f} s (cell {r.slowest_cell[0]} alone "
            f"{r.slowest_cell[1]:.1f} s)" for r in runs if r.seconds >= NOTEBOOK_SECONDS]
    big = [f"{r.name} {r.peak_mb:.0f} MB" for r in runs if (r.peak_mb or 0) >= NOTEBOOK_MB]
    failed = [r.name for r in runs if r.error]
    total = sum(r.seconds for r in runs)
    longest = max(runs, key=lambda r: r.seconds)
    peaks = [r.peak_mb for r in runs if r.peak_mb is not None]
    course_note = f"missed by {total - COURSE_SECONDS:.0f} s" if total >= COURSE_SECONDS else ""
    if failed:
        course_note += ("; " if course_note else "") + "failed to run: " + ", ".join(failed)
    return [
        ["every notebook under 20 s", f"slowest: {longest.name} {longest.seconds:.1f} s",
         verdict(not slow), "over: " + "; ".join(slow) + ". Fewer steps or a smaller problem in "
         "the slowest cells would close it." if slow else ""],
        ["every notebook under 500 MB peak RSS",
         f"largest: {max(peaks):.0f} MB" if peaks else "-",
         verdict(not big) if peaks else verdict(None), "over: " + ", ".join(big) if big else ""],
        [f"the whole course ({plural(len(runs), 'notebook')}) under 2 minutes", f"{total:.1f} s",
         verdict(total < COURSE_SECONDS and not failed), course_note],
    ]


# ----- part 4 -------------------------------------------------------------------------------------
@dataclass
class GradingPart:
    """Throughput of ``course grade`` and of the nbclient baseline on one generated class."""

    notebooks: int = 0
    students: int = 0
    baseline_seconds: float = 0.0
    baseline_failed: int = 0
    grade_seconds: dict[int, float] = field(default_factory=dict)  # --jobs -> seconds
    grade_result: dict[int, str] = field(default_factory=dict)  # --jobs -> points or error
    unavailable: str = ""


def course_command() -> list[str] | None:
    """How to call ``course``: its console script beside this Python, or ``python -m``."""
    if importlib.util.find_spec("course_lib.cli") is None:
        return None
    script = Path(sys.executable).parent / "course"
    return [str(script)] if script.exists() else [sys.executable, "-m", "course_lib.cli"]


def grading_unavailable(command: list[str] | None, solutions: list[Path]) -> str:
    """Why part 4 cannot run now (empty when it can)."""
    if command is None:
        return f"{NOT_YET}: course_lib/cli.py (`course grade`) does not exist"
    probe = subprocess.run([*command, "grade", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"{NOT_YET}: `course grade --help` fails: {probe.stderr.strip()[-120:]}"
    if not solutions or not (REPO / "solutions" / "grading.toml").exists():
        return f"{NOT_YET}: no solution notebooks and solutions/grading.toml to grade"
    return ""


def make_class(root: Path, solutions: list[Path], students: int) -> list[Path]:
    """A class folder: one sub-folder per student holding copies of the solution notebooks."""
    copies = []
    for s in range(1, students + 1):
        folder = root / f"student{s:02d}"
        folder.mkdir(parents=True)
        copies += [Path(shutil.copy(nb, folder / nb.name)) for nb in solutions]
    return copies


def run_grade(command: list[str], folder: Path, jobs: int, gradebook: Path,
              sheets: set[str]) -> tuple[float, str]:
    """Seconds taken by ``course grade`` and the points it gave on ``sheets`` (or the error)."""
    start = time.perf_counter()
    done = subprocess.run([*command, "grade", str(folder), "-o", str(gradebook), "--jobs",
                           str(jobs), "--force", "--seed", "0"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return seconds, f"exit {done.returncode}: {done.stderr.strip()[-120:]}"
    with gradebook.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["worksheet"] in sheets]
    got, most = (sum(float(r[k]) for r in rows) for k in ("points", "max_points"))
    return seconds, f"{got:g} / {most:g} points"


def measure_grading(settings: Settings) -> GradingPart:
    """Part 4: grade a generated class with --jobs 1 and 2; execute each copy as the baseline."""
    solutions = sorted(REPO.glob("solutions/*.ipynb"))
    command = course_command()
    reason = grading_unavailable(command, solutions)
    if reason:
        return GradingPart(unavailable=reason)
    if settings.sheets is not None:
        solutions = solutions[: settings.sheets]
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        folder = Path(tmp) / "class"
        copies = make_class(folder, solutions, settings.students)
        part = GradingPart(len(copies), settings.students)
        for jobs in (1, 2):
            print(f"  grading: course grade --jobs {jobs}", flush=True)
            part.grade_seconds[jobs], part.grade_result[jobs] = run_grade(
                command, folder, jobs, Path(tmp) / f"grades{jobs}.csv", {p.stem for p in solutions})
        print(f"  grading: nbclient baseline, {len(copies)} notebooks", flush=True)
        runs = [execute_notebook(path) for path in copies]
    part.baseline_seconds = sum(r.seconds for r in runs)
    part.baseline_failed = sum(bool(r.error) for r in runs)
    return part


def grading_section(part: GradingPart) -> str:
    """Part 4 in Markdown."""
    if part.unavailable:
        return table(["method", "notebooks/s", "throughput vs baseline"],
                     [[m, part.unavailable, "-"] for m in
                      ("nbclient baseline", "course grade --jobs 1", "course grade --jobs 2")])
    base = part.notebooks / part.baseline_seconds
    rows = [["nbclient, one notebook after another", f"{part.baseline_seconds:.1f}",
             f"{base:.2f}", "1.00x",
             f"{part.notebooks - part.baseline_failed} of {part.notebooks} ran"]]
    for jobs, seconds in part.grade_seconds.items():
        rate = part.notebooks / seconds
        rows.append([f"course grade --jobs {jobs}", f"{seconds:.1f}", f"{rate:.2f}",
                     ratio(rate, base), part.grade_result[jobs]])
    per_student = part.notebooks // max(part.students, 1)
    return (f"A generated class of {plural(part.students, 'student')}, each with copies of "
            f"{plural(per_student, 'solution notebook')} ({part.notebooks} in all). "
            f"`course grade` "
            f"executes the answer cells in a sandbox (skipping demos and self-checks) and checks "
            f"each answer on fresh random inputs; the baseline executes every cell.\n\n"
            + table(["method", "seconds", "notebooks/s", "throughput vs baseline", "result"],
                    rows))


def plural(n: int, noun: str) -> str:
    """``1 student``, ``3 students``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def grading_targets(part: GradingPart) -> list[list[str]]:
    """Grading at least 3x the nbclient baseline's throughput."""
    goal = "grading >= 3x nbclient throughput"
    if part.unavailable:
        return [[goal, part.unavailable, verdict(None), ""]]
    best = part.baseline_seconds / min(part.grade_seconds.values())
    why = "" if best >= GRADING_SPEEDUP else (
        f"Missed: best {best:.2f}x, {GRADING_SPEEDUP / best:.1f}x short. Each notebook still "
        f"pays for a fresh sandboxed Python process and for running its setup and answer "
        f"cells; sharing warm worker processes across notebooks would close it.")
    measured = ", ".join(f"--jobs {j}: {part.baseline_seconds / s:.2f}x"
                         for j, s in part.grade_seconds.items())
    return [[goal, measured, verdict(best >= GRADING_SPEEDUP), why]]
