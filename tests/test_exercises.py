"""The worksheets: solutions pass and grade at full marks, exercises are blank and up to date."""

from __future__ import annotations

import contextlib
import inspect
import io
import re

import numpy as np
import pytest

from course_lib import checks
from course_lib.grading import items, worksheets
from tests import corpus

SOLUTIONS = worksheets.solution_paths()
NAMES = [p.stem for p in SOLUTIONS]


def cells_of(path, roles):
    """(metadata, source) of the code cells with one of ``roles``, in notebook order."""
    nb = worksheets.read_notebook(path)
    return [(worksheets.course_meta(c), worksheets.source_of(c)) for c in nb["cells"]
            if c["cell_type"] == "code" and worksheets.course_meta(c).get("role") in roles]


def run_cells(path, roles) -> tuple[dict, str]:
    """Execute a worksheet's cells of ``roles`` in this process; the namespace and stdout."""
    ns: dict = {"__name__": "__main__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        for _, source in cells_of(path, roles):
            exec(compile(source, str(path), "exec"), ns)
    return ns, out.getvalue()


def test_worksheets_are_the_six_of_the_course():
    assert NAMES == ["ex01_gradient_descent", "ex02_momentum", "ex03_adagrad", "ex04_rmsprop",
                     "ex05_adam", "ex06_capstone"]


def test_exercises_are_up_to_date():
    assert worksheets.write_exercises(check=True) == []


@pytest.mark.parametrize("path", SOLUTIONS, ids=NAMES)
def test_exercise_hides_every_solution_and_keeps_the_cells(path):
    solution = worksheets.read_notebook(path)
    exercise = worksheets.read_notebook(worksheets.EXERCISES / path.name)
    assert [c["id"] for c in exercise["cells"]] == [c["id"] for c in solution["cells"]]
    for sol, ex in zip(solution["cells"], exercise["cells"], strict=True):
        text = worksheets.source_of(ex)
        assert "SOLUTION" not in text
        assert ex["metadata"] == sol["metadata"]
        if ex["cell_type"] == "code":
            assert ex["outputs"] == [] and ex["execution_count"] is None
        if worksheets.course_meta(ex).get("role") == "answer":
            assert re.search(r"# YOUR CODE HERE\n\s*raise NotImplementedError\(\)", text)
            assert ex["metadata"]["nbgrader"]["solution"] is True
        else:
            assert text == worksheets.source_of(sol)


@pytest.mark.parametrize("path", SOLUTIONS, ids=NAMES)
def test_solutions_pass_their_checks_on_fixed_and_random_inputs(path):
    ns, _ = run_cells(path, ("setup", "answer"))
    for meta, _ in cells_of(path, ("answer",)):
        item = items.ITEMS[meta["item"]]
        assert checks.check_item(meta["item"], ns[item.symbol]).passed
        for seed in range(3):
            verdict = checks.check_item(meta["item"], ns[item.symbol], np.random.default_rng(seed))
            assert verdict.passed, verdict.message


def test_the_grader_knows_the_defaults_of_each_worksheet_class():
    """items' defaults (for naming a hard-coded hyperparameter) are those of every __init__."""
    seen = set()
    for path in SOLUTIONS:
        ns, _ = run_cells(path, ("setup", "answer"))
        for meta, _ in cells_of(path, ("answer",)):
            item = items.ITEMS[meta["item"]]
            if isinstance(item, items.OptimizerItem):
                parameters = inspect.signature(ns[item.symbol]).parameters
                assert {k: parameters[k].default for k in item.defaults} == item.defaults
                assert set(item.defaults) == set(item.hyper)
                seen.add(item.key)
    assert seen == set(items.OPTIMIZER_ITEMS)


@pytest.mark.parametrize("path", SOLUTIONS, ids=NAMES)
def test_stored_check_outputs_are_one_correct_line(path):
    nb = worksheets.read_notebook(path)
    checked = [c for c in nb["cells"] if worksheets.course_meta(c).get("role") == "check"]
    assert len(checked) == len(worksheets.load_points()[path.stem])
    for cell in checked:
        (output,) = cell["outputs"]
        text = "".join(output["text"])
        assert output["name"] == "stdout" and text.count("\n") == 1
        assert re.fullmatch(r"\w+: correct \(.*\)\.\n", text), text


@pytest.mark.parametrize("path", SOLUTIONS, ids=NAMES)
def test_exercise_self_checks_fail_with_not_implemented_yet(path):
    exercise = worksheets.EXERCISES / path.name
    ns, _ = run_cells(exercise, ("setup", "answer"))
    messages = []
    for _, source in cells_of(exercise, ("check",)):
        with pytest.raises(checks.CheckFailed) as failed:
            exec(compile(source, str(exercise), "exec"), ns)
        messages.append(str(failed.value))
    assert messages == [f"{items.ITEMS[meta['item']].symbol}: not implemented yet."
                        for meta, _ in cells_of(path, ("check",))]


def test_solutions_grade_at_full_marks():
    graded = corpus.graded_corpus()
    for name in NAMES:
        rows = graded.rows_of("full_marks", name).values()
        assert {r.status for r in rows} == {"correct"}, name
        assert all(r.points == r.max_points > 0 for r in rows)


def test_exercises_grade_zero_with_not_implemented_and_no_traceback():
    graded = corpus.graded_corpus()
    for name in NAMES:
        rows = graded.rows_of("blank", name).values()
        assert {r.status for r in rows} == {"not implemented yet"}, name
        assert sum(r.points for r in rows) == 0
        for r in rows:
            assert r.feedback == f"{items.ITEMS[r.item].symbol}: not implemented yet."
