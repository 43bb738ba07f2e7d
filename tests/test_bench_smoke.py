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
