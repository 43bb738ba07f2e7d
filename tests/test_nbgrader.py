"""The worksheets under real nbgrader 0.9.6: generate, autograde, and the points that result.

nbgrader lives in a virtual environment of its own (it pins its own Jupyter stack), built once
and cached in ``~/.cache/course-nbgrader-0.9.6``; its autograder runs the notebooks on a kernel
from the course's environment, where ``course_lib`` is installed. The class: one student with
the worked solutions (full marks = the grading.toml total), one with the blank worksheets (0),
and per item one student whose notebook has just that answer wrong (loses exactly its points).
The test skips, saying why, only when the package index cannot be reached to build nbgrader.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.grading import items, worksheets

NBGRADER = "nbgrader==0.9.6"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "course-nbgrader-0.9.6"
OFFLINE_SIGNS = ("NewConnectionError", "Temporary failure in name resolution",
                 "Network is unreachable", "Failed to establish a new connection",
                 "No matching distribution found for nbgrader")

# Appended to one answer cell: the answer still runs, but its results are off by 50%.
BREAK_CLASS = """
_right_update_{sym} = {sym}.update
def _wrong_update_{sym}(self, params, grads):
    _right_update_{sym}(self, params, grads)
    for _key in params:
        params[_key] *= 1.5
{sym}.update = _wrong_update_{sym}
"""
BREAK_FUNCTION = """
_right_{sym} = {sym}
def {sym}(*args, **kwargs):
    return np.asarray(_right_{sym}(*args, **kwargs)) * 1.5
"""


def nbgrader_env() -> Path:
    """The cached virtual environment with nbgrader, built on first use.

    Built in place (a venv's scripts name their own path, so it cannot be moved); a marker
    file written last tells a complete environment from one an interrupted build left.
    """
    done = CACHE / ".complete"
    if done.exists():
        return CACHE
    shutil.rmtree(CACHE, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(CACHE)], check=True)
    pip = subprocess.run([str(CACHE / "bin" / "python"), "-m", "pip", "install", "-q", NBGRADER],
                         capture_output=True, text=True, timeout=900)
    if pip.returncode != 0:
        shutil.rmtree(CACHE, ignore_errors=True)
        if any(sign in pip.stdout + pip.stderr for sign in OFFLINE_SIGNS):
            pytest.skip(f"the package index is unreachable, so {NBGRADER} cannot be installed: "
                        + (pip.stderr.strip().splitlines() or ["(no message)"])[-1])
        raise RuntimeError(f"installing {NBGRADER} failed:\n{pip.stderr[-2000:]}")
    done.write_text(NBGRADER + "\n")
    return CACHE


def answer_symbols(nb: dict) -> dict[str, str]:
    """item -> the name its answer cell defines (the class or function the check receives)."""
    return {worksheets.course_meta(c)["item"]: c["id"] for c in nb["cells"]
            if worksheets.course_meta(c).get("role") == "answer"}


def with_wrong_answer(nb: dict, item: str) -> dict:
    """The worked notebook with the answer of ``item`` made wrong (and nothing else)."""
    out = json.loads(json.dumps(nb))
    symbol = items.ITEMS[item].symbol
    template = BREAK_CLASS if isinstance(items.ITEMS[item], items.OptimizerItem) \
        else BREAK_FUNCTION
    for cell in out["cells"]:
        meta = worksheets.course_meta(cell)
        if meta.get("role") == "answer" and meta.get("item") == item:
            cell["source"] = worksheets.source_of(cell) + "\n" + template.format(sym=symbol)
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    """An nbgrader course with the worksheets released: (root, environment, nbgrader's venv)."""
    env_dir = nbgrader_env()
    root = tmp_path_factory.mktemp("nbgrader-course")
    kernel = root / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python"}))
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'sgd-to-adam'\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{root}/gradebook.db'\n")
    env = dict(os.environ, JUPYTER_PATH=str(root / "jupyter"),
               PATH=f"{env_dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")

    source = root / "source" / "ws"
    source.mkdir(parents=True)
    for path in worksheets.solution_paths():
        shutil.copy(path, source / path.name)
    run_nbgrader(root, env, env_dir, "generate_assignment", "ws", "--force")
    return root, env, env_dir


def run_nbgrader(root: Path, env: dict, env_dir: Path, *args: str) -> str:
    """Run an nbgrader command in the course; its standard output (it must succeed)."""
    done = subprocess.run([str(env_dir / "bin" / "nbgrader"), *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"nbgrader {' '.join(args)}:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def graded(course) -> dict[str, dict[str, float]]:
    """Autograde the class with nbgrader; {student: {"ws/item": score}}."""
    root, env, env_dir = course
    nbgrader = functools.partial(run_nbgrader, root, env, env_dir)
    students: dict[str, dict[str, dict]] = {"worked": {}, "blank": {}}
    for path in worksheets.solution_paths():
        worked = worksheets.read_notebook(path)
        students["worked"][path.name] = worked
        students["blank"][path.name] = json.loads(
            (root / "release" / "ws" / path.name).read_text())
        for item in answer_symbols(worked):
            students[f"wrong-{path.stem}-{item}"] = {path.name: with_wrong_answer(worked, item)}
    for student, notebooks in students.items():
        folder = root / "submitted" / student / "ws"
        folder.mkdir(parents=True)
        for name, nb in notebooks.items():
            (folder / name).write_text(json.dumps(nb))
        nbgrader("db", "student", "add", student)
    nbgrader("autograde", "ws", "--force")
    dump = subprocess.run([str(env_dir / "bin" / "python"), "-c", (
        "import json, sys\n"
        "from nbgrader.api import Gradebook\n"
        "out = {}\n"
        "with Gradebook(sys.argv[1]) as gb:\n"
        "    for sub in gb.assignment_submissions('ws'):\n"
        "        for nb in sub.notebooks:\n"
        "            for g in nb.grades:\n"
        "                out.setdefault(sub.student.id, {})[nb.name + '/' + g.name] = "
        "[g.score, g.max_score]\n"
        "print(json.dumps(out))\n"), f"sqlite:///{root}/gradebook.db"],
        capture_output=True, text=True, check=True, env=env)
    return json.loads(dump.stdout)


def expected_points() -> dict[str, float]:
    """"worksheet/check-item" -> points, from grading.toml alone."""
    return {f"{sheet}/check-{item}": pts for sheet, table in worksheets.load_points().items()
            for item, pts in table.items()}


def test_worked_solutions_get_the_grading_toml_total(graded):
    want = expected_points()
    got = graded["worked"]
    assert {k: v[1] for k, v in got.items()} == want  # nbgrader's max points are grading.toml's
    assert {k: v[0] for k, v in got.items()} == want


def test_blank_worksheets_get_zero(graded):
    assert set(graded["blank"]) == set(expected_points())
    assert sum(score for score, _ in graded["blank"].values()) == 0


def test_one_wrong_answer_loses_exactly_its_points(graded):
    want = expected_points()
    wrong = {s: v for s, v in graded.items() if s.startswith("wrong-")}
    assert len(wrong) == len(want)
    for student, scores in wrong.items():
        sheet, item = student.removeprefix("wrong-").rsplit("-", 1)
        scores = {k: v for k, v in scores.items() if k.startswith(sheet + "/")}
        lost = {k for k, (score, most) in scores.items() if score != most}
        assert lost == {f"{sheet}/check-{item}"}, student
        total = sum(score for score, _ in scores.values())
        sheet_total = sum(v for k, v in want.items() if k.startswith(sheet + "/"))
        assert total == sheet_total - want[f"{sheet}/check-{item}"], student


def test_nbgrader_validate_fails_blank_and_wrong_notebooks_and_passes_worked_ones(course, tmp_path):
    root, env, env_dir = course
    sheet = worksheets.solution_paths()[0]
    worked = worksheets.read_notebook(sheet)
    item = next(iter(answer_symbols(worked)))
    cases = {"worked": worked, "wrong": with_wrong_answer(worked, item),
             "blank": json.loads((root / "release" / "ws" / sheet.name).read_text())}
    said = {}
    for name, nb in cases.items():
        path = tmp_path / name / sheet.name
        path.parent.mkdir()
        path.write_text(json.dumps(nb))
        said[name] = run_nbgrader(root, env, env_dir, "validate", str(path))
    assert "Success! Your notebook passes all the tests." in said["worked"], said["worked"]
    n_checks = sum(1 for c in worked["cells"] if worksheets.course_meta(c).get("role") == "check")
    assert f"VALIDATION FAILED ON {n_checks} CELL(S)" in said["blank"], said["blank"]
    assert "VALIDATION FAILED ON 1 CELL(S)" in said["wrong"], said["wrong"]
    assert f"CheckFailed: {items.ITEMS[item].symbol}" in said["wrong"], said["wrong"]
