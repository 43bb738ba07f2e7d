"""`make student-edition`: the course without solutions/, and `course check` works in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.grading import worksheets

ROOT = Path(__file__).resolve().parents[1]
SHEET = "ex01_gradient_descent.ipynb"


@pytest.fixture(scope="module")
def edition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("the student edition is built from git's file list: no git checkout here")
    dest = tmp_path_factory.mktemp("edition") / "course"
    subprocess.run(["make", "-s", "student-edition", f"EDITION={dest}"], cwd=ROOT, check=True,
                   capture_output=True, timeout=120)
    return dest


def check(edition: Path, notebook: str, *extra: str) -> subprocess.CompletedProcess:
    """`course check` run inside the edition, importing the edition's own course_lib."""
    env = dict(os.environ, PYTHONPATH=str(edition))
    return subprocess.run([sys.executable, "-m", "course_lib.cli", "check", notebook, *extra],
                          cwd=edition, env=env, capture_output=True, text=True, timeout=300)


def test_edition_has_no_solutions(edition: Path):
    assert not (edition / "solutions").exists()
    assert (edition / "exercises" / "grading.toml").is_file()
    assert (edition / "notebooks" / "00_start_here.ipynb").is_file()
    assert not list(edition.rglob("*SOLUTION*"))


def test_course_check_grades_in_the_edition(edition: Path):
    blank = check(edition, f"exercises/{SHEET}")
    assert blank.returncode == 1 and "not implemented yet" in blank.stdout, blank.stderr
    # Fill the answers in, as a student would, from the course's own solutions.
    path = edition / "exercises" / SHEET
    nb = json.loads(path.read_text())
    sol = {c["id"]: c for c in worksheets.read_notebook(worksheets.SOLUTIONS / SHEET)["cells"]}
    for cell in nb["cells"]:
        if worksheets.course_meta(cell).get("role") == "answer":
            text = worksheets.source_of(sol[cell["id"]])
            cell["source"] = "\n".join(line for line in text.split("\n")
                                       if "### BEGIN SOLUTION" not in line
                                       and "### END SOLUTION" not in line)
    path.write_text(json.dumps(nb, indent=1))
    full = check(edition, f"exercises/{SHEET}")
    assert full.returncode == 0, full.stdout + full.stderr
    assert "ex01_gradient_descent:" in full.stdout


def test_missing_points_file_names_the_option(edition: Path, tmp_path: Path):
    empty = tmp_path / "nowhere"
    empty.mkdir()
    result = check(edition, f"exercises/{SHEET}", "--solutions", str(empty))
    assert result.returncode == 2
    assert "--solutions" in result.stderr and "grading.toml" in result.stderr
    assert "Errno" not in result.stderr
