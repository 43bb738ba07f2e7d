"""Smoke test of ``make bench``: the optimizer part runs on tiny sizes and writes its report.

It runs the real entry point, ``benchmarks/run.py``, as ``make bench`` does, with torch hidden
so the report must show the "not installed" columns a fresh clone gets. About two seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OPTIMIZERS = ["SGD", "Momentum", "Momentum (nesterov)", "AdaGrad", "RMSProp", "Adam",
              "Adam (amsgrad)", "AdamW", "AdamW (amsgrad)", "NAdam", "Adadelta"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("bench") / "results.md"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick",
                           "--parts", "1", "--no-torch", "-o", str(out)],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return out.read_text()


def step_rows(report: str) -> dict[str, list[str]]:
    """The rows of the first step-time table, by optimizer."""
    section = report.split("### Step time", 1)[1].split("###", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ")]
    header, body = rows[0], rows[1:]
    return {r[0]: dict(zip(header, r, strict=True)) for r in body}


def test_every_optimizer_and_option_is_timed(report):
    rows = step_rows(report)
    assert list(rows) == OPTIMIZERS
    for row in rows.values():
        assert float(row["course_lib"]) > 0


def test_torch_columns_say_how_to_install_it(report):
    for row in step_rows(report).values():
        for column in ("torch default", "torch foreach", "torch fused"):
            assert row[column] == "not installed (make reference)"


def test_floor_is_passes_times_one_pass(report):
    # Every floor comes from the same per-pass time, so floor / passes is one number.
    rows = step_rows(report).values()
    per_pass = [float(r["floor"]) / int(r["passes"]) for r in rows]
    assert max(per_pass) - min(per_pass) <= 1e-3  # the table rounds to 0.001 ms
    passes = {r["optimizer"]: int(r["passes"]) for r in rows}
    assert passes["SGD"] == 3 and passes["Adam"] == 7 and passes["Adam (amsgrad)"] == 9


def size(text: str) -> float:
    """``3.1 KiB`` -> 3174.4 bytes."""
    value, unit = text.split()
    return float(value) * {"B": 1, "KiB": 1024, "MiB": 2**20}[unit]


def test_a_step_allocates_far_less_than_a_parameter(report):
    line = next(s for s in report.splitlines() if "no parameter-sized allocation" in s)
    peak, one = re.search(r"peak ([\d.]+ \w+) \(one parameter: ([\d.]+ \w+)\)", line).groups()
    assert size(one) == pytest.approx(4 * 100_000, rel=1e-3)  # float32
    assert size(peak) < size(one) / 10
    assert "| met |" in line


@pytest.fixture(scope="module")
def training_report(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("bench") / "training.md"
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick",
                           "--parts", "2", "--no-torch", "-o", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return out.read_text()


def table_rows(report: str, title: str) -> list[dict[str, str]]:
    """The rows of the table under the heading that starts with ``title``."""
    section = report.split(f"### {title}", 1)[1].split("###", 1)[0]
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ")]
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


NETWORKS = ["64-100-10", "64-[100x4]-10", "784-100-10"]


def test_every_network_is_timed_at_both_thread_settings(training_report):
    rows = table_rows(training_report, "Adam, batch 128")
    assert [(r["network"], r["threads"]) for r in rows] == [
        (n, t) for t in ("default", "1") for n in NETWORKS]
    for row in rows:
        assert float(row["course_lib"].replace(",", "")) > 0
        assert float(row["course_lib plain"].replace(",", "")) > 0
        assert row["torch default"] == "not installed (make reference)"


def test_each_step_is_compared_with_its_flop_floor(training_report):
    rows = table_rows(training_report, "The step against its FLOP floor")
    assert [r["network"] for r in rows] == NETWORKS * 2
    # 2 * 128 * (in * out) per product: 784-100-10 makes 3 products of layer 2, 2 of layer 1.
    mflop = {r["network"]: float(r["matmul MFLOP per step"]) for r in rows}
    assert mflop["784-100-10"] == pytest.approx(2 * 128 * (2 * 784 * 100 + 3 * 100 * 10) / 1e6,
                                                abs=0.05)
    for row in rows:
        floor, step = float(row["floor (us)"].replace(",", "")), float(
            row["course_lib (us)"].replace(",", ""))
        # A step makes these products and more; the ratio column is step / floor.
        assert 0 < floor < step
        assert float(row["course_lib / floor"].rstrip("x")) == pytest.approx(step / floor,
                                                                              rel=0.05)


def test_training_targets_are_not_measured_without_torch(training_report):
    lines = [s for s in training_report.splitlines() if s.startswith("| MLP ")]
    assert [s.split(":")[0] for s in lines] == [f"| MLP {n}" for n in NETWORKS]
    assert all("<= 0.7x torch" in s and "| not measured |" in s for s in lines)
