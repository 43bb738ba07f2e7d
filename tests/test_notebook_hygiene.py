"""Stored notebook outputs: no stderr, no errors, no warnings, cells run in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_lib import nbjson
from course_lib.notebook_tools import kernelspec

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
    (ROOT / "solutions").glob("*.ipynb"))
EVERY = NOTEBOOKS + sorted((ROOT / "exercises").glob("*.ipynb"))


def problems(nb: dict) -> list[str]:
    """What is wrong with a notebook's stored outputs, one line per problem."""
    found, last = [], 0
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        count = cell.get("execution_count")
        if "".join(cell["source"]).strip():
            if count is None or count <= last:
                found.append(f"cell {i}: execution count {count} after {last}")
            last = count or last
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"cell {i}: stderr output {''.join(out['text'])[:80]!r}")
            if out.get("output_type") == "error":
                found.append(f"cell {i}: stored error {out.get('ename')}")
            text = "".join(out.get("text", "")) if out.get("output_type") == "stream" else ""
            if "Warning:" in text:
                found.append(f"cell {i}: a warning in its output")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_stored_outputs_are_clean(path: Path):
    assert problems(json.loads(path.read_text(encoding="utf-8"))) == []


def test_the_check_finds_stderr():
    nb = {"cells": [{"cell_type": "code", "source": ["x"], "execution_count": 1, "outputs": [
        {"output_type": "stream", "name": "stderr", "text": ["UserWarning: boom\n"]}]}]}
    assert any("stderr" in p for p in problems(nb))


def test_the_check_finds_cells_run_out_of_order():
    cell = {"cell_type": "code", "source": ["x"], "outputs": []}
    nb = {"cells": [dict(cell, execution_count=2), dict(cell, execution_count=1)]}
    assert problems(nb) == ["cell 1: execution count 1 after 2"]


@pytest.mark.parametrize("path", EVERY, ids=[f"{p.parent.name}/{p.name}" for p in EVERY])
def test_stored_as_jupyterlab_saves_it(path: Path):
    """Opening and saving in JupyterLab must not change the file (no dirty git status)."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    assert nb["metadata"]["kernelspec"] == kernelspec(), (
        f"{path.name}: run `python -m course_lib.notebook_tools --normalize {path.name}`")
    assert text == nbjson.writes(nb), f"{path.name}: not in the JSON form JupyterLab saves"


def test_browser_numbers_match_javascript():
    assert json.dumps(nbjson.browser_numbers({"a": [1.0, 0.5, -7.0], "b": True})) == \
        '{"a": [1, 0.5, -7], "b": true}'
