"""A student's filled-in worksheet survives `course exercises`, `--check` and `make exercises`.

Students work in ``exercises/`` in place. The path is tested end to end on a copy of the
course's worksheets: fill in an answer, check for drift, regenerate, change a solution,
regenerate again; the answers must be intact at every step unless ``--force`` is given, and
then a ``.bak`` keeps them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.grading import answers, worksheets

SHEET = "ex05_adam.ipynb"


def course(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the `course` command as a student would, from the course folder ``cwd``."""
    return subprocess.run([sys.executable, "-m", "course_lib.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def course_copy(tmp_path: Path) -> Path:
    """solutions/ and exercises/ copied into a temporary course folder."""
    shutil.copytree(worksheets.SOLUTIONS, tmp_path / "solutions")
    shutil.copytree(worksheets.EXERCISES, tmp_path / "exercises")
    return tmp_path


def fill_in(path: Path, solution: Path) -> list[str]:
    """Copy the solution's answer cells into the worksheet (as a student would type them)."""
    nb, sol = json.loads(path.read_text()), json.loads(solution.read_text())
    by_id = {c["id"]: c for c in sol["cells"]}
    filled = []
    for cell in nb["cells"]:
        if worksheets.course_meta(cell).get("role") == "answer":
            cell["source"] = by_id[cell["id"]]["source"]
            cell["execution_count"] = 3  # and ran it
            filled.append(cell["id"])
    path.write_text(json.dumps(nb, indent=1))
    return filled


def args_for(root: Path) -> list[str]:
    return ["--solutions", str(root / "solutions"), "--exercises", str(root / "exercises")]


def test_answers_survive_check_and_regeneration(course_copy: Path):
    sheet = course_copy / "exercises" / SHEET
    cells = fill_in(sheet, course_copy / "solutions" / SHEET)
    work = sheet.read_bytes()

    check = course("exercises", "--check", *args_for(course_copy), cwd=course_copy)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "holds a student's answers" in check.stdout and "out of date" not in check.stdout
    assert all(c in check.stdout for c in cells)

    regen = course("exercises", *args_for(course_copy), cwd=course_copy)
    assert regen.returncode == 0, regen.stderr
    assert sheet.read_bytes() == work


def test_a_changed_solution_never_overwrites_answers(course_copy: Path):
    sheet = course_copy / "exercises" / SHEET
    fill_in(sheet, course_copy / "solutions" / SHEET)
    work = sheet.read_bytes()
    # The instructor edits the text of two worksheets: both exercises are now stale.
    for name in (SHEET, "ex01_gradient_descent.ipynb"):
        path = course_copy / "solutions" / name
        nb = json.loads(path.read_text())
        nb["cells"][0]["source"] = "# An edited title\n"
        path.write_text(json.dumps(nb, indent=1))
    other = course_copy / "exercises" / "ex01_gradient_descent.ipynb"
    other_before = other.read_bytes()

    check = course("exercises", "--check", *args_for(course_copy), cwd=course_copy)
    assert check.returncode == 1
    assert f"{SHEET}: holds a student's answers" in check.stdout

    refused = course("exercises", *args_for(course_copy), cwd=course_copy)
    assert refused.returncode == 1
    assert SHEET in refused.stderr and "--force" in refused.stderr
    assert sheet.read_bytes() == work
    assert other.read_bytes() == other_before, "a refused run must write nothing at all"
    assert not list((course_copy / "exercises").glob("*.bak"))

    forced = course("exercises", "--force", *args_for(course_copy), cwd=course_copy)
    assert forced.returncode == 0, forced.stderr
    assert (course_copy / "exercises" / (SHEET + ".bak")).read_bytes() == work
    blank = json.loads(sheet.read_text())
    assert not answers.compare(blank, blank).holds_answers
    assert "# An edited title" in worksheets.source_of(blank["cells"][0])
    assert other.read_bytes() != other_before


def test_an_added_scratch_cell_counts_as_work():
    blank = {"cells": [{"id": "a", "cell_type": "code", "source": "x = 1",
                        "metadata": {"course": {"role": "answer"}}}]}
    disk = {"cells": [*blank["cells"],
                      {"id": "new", "cell_type": "code", "source": "print(x)", "metadata": {}}]}
    found = answers.compare(disk, blank)
    assert found.answers == ["new"] and found.other_cells_differ


def test_outputs_alone_are_not_work():
    cell = {"id": "a", "cell_type": "code", "source": "x = 1", "outputs": [],
            "metadata": {"course": {"role": "demo"}}}
    ran = dict(cell, outputs=[{"output_type": "stream", "name": "stdout", "text": "1"}])
    found = answers.compare({"cells": [ran]}, {"cells": [cell]})
    assert not found.holds_answers and not found.other_cells_differ
