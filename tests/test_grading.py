"""Grading: worksheets and exercises, the static check, the sandbox, a whole class, the CLI."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from course_lib import cli
from course_lib.grading import grader, integrity, report, worksheets
from course_lib.grading.sandbox import Child, ChildFailure, Limits, explain_exit
from tests import corpus

SHEETS = {s.name: s for s in worksheets.load_worksheets()}
FAST = Limits(timeout=4.0, memory_mb=1024, output_kb=256, cpu_seconds=30)


@pytest.fixture(autouse=True, scope="module")
def gradebook_key(tmp_path_factory) -> Path:
    """A MAC key of these tests' own, never the user's (~/.local/state/course)."""
    key = tmp_path_factory.mktemp("state") / "gradebook.key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(integrity.KEY_ENV, str(key))
        yield key


# ----- worksheets and points ---------------------------------------------------------------------
def test_points_are_declared_once_and_match_the_answer_cells():
    points = worksheets.load_points()
    assert set(points) == set(SHEETS)
    for name, sheet in SHEETS.items():
        assert sheet.items == points[name]
        assert list(sheet.items) == list(sheet.answer_ids)
    assert SHEETS["ex05_adam"].max_points == 5
    assert sum(s.max_points for s in SHEETS.values()) == 4 + 6 + 4 + 4 + 5 + 10


def copy_solutions(tmp_path: Path) -> Path:
    folder = tmp_path / "solutions"
    shutil.copytree(worksheets.SOLUTIONS, folder)
    return folder


@pytest.mark.parametrize("old, new, message", [
    ("grad_ellipse = 1\n", "grad_ellipse = 1\nextra = 1\n", "no answer cell for them"),
    ("sgd = 2\n", "sgd = -2\n", "sgd = -2; points must be > 0"),
    ("smooth = 2\n", "smooth = 2\n\n[ex99_nothing]\nx = 1\n", "no solution notebook"),
])
def test_points_file_and_notebooks_must_agree(tmp_path, old, new, message):
    folder = copy_solutions(tmp_path)
    toml = folder / worksheets.POINTS_FILE
    toml.write_text(toml.read_text().replace(old, new, 1))
    with pytest.raises(worksheets.WorksheetError, match=message):
        worksheets.load_worksheets(folder)


def test_answer_item_without_points_is_refused(tmp_path):
    folder = copy_solutions(tmp_path)
    toml = folder / worksheets.POINTS_FILE
    toml.write_text(toml.read_text().replace("max_stable_lr = 1\n", ""))
    with pytest.raises(worksheets.WorksheetError, match="'max_stable_lr' must be a known check"):
        worksheets.load_worksheets(folder)


def test_grading_plan_needs_no_solution_code(tmp_path):
    """The exercises plus grading.toml give the same plan: solutions can stay off the grader."""
    for path in worksheets.EXERCISES.glob("*.ipynb"):
        shutil.copy(path, tmp_path)
    shutil.copy(worksheets.SOLUTIONS / worksheets.POINTS_FILE, tmp_path)
    assert worksheets.load_worksheets(tmp_path) == list(SHEETS.values())


# ----- solutions -> exercises --------------------------------------------------------------------
def test_strip_regions_keeps_indentation_and_code_around():
    src = ("def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n"
           "    ### END SOLUTION\n\nz = 2")
    text, count = worksheets.strip_regions(src, "cell")
    assert count == 1
    assert text == ("def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()"
                    "\n\nz = 2")


@pytest.mark.parametrize("src, problem", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another region"),
])
def test_unbalanced_markers_are_refused_with_the_cell(src, problem):
    with pytest.raises(worksheets.WorksheetError, match=f"ex01, cell 3: .*{problem}"):
        worksheets.strip_regions(src, "ex01, cell 3")


def test_exercise_generation_is_byte_stable_and_detects_drift(tmp_path, capsys):
    solutions, exercises = copy_solutions(tmp_path), tmp_path / "exercises"
    written = worksheets.write_exercises(solutions, exercises)
    assert [p.name for p in written] == [p.name for p in worksheets.solution_paths(solutions)]
    first = {p.name: p.read_bytes() for p in exercises.iterdir()}
    assert worksheets.write_exercises(solutions, exercises) == []  # nothing to rewrite
    assert {p.name: p.read_bytes() for p in exercises.iterdir()} == first
    args = ["exercises", "--check", "--solutions", str(solutions), "--exercises", str(exercises)]
    assert cli.main(args) == 0
    # Change a solution: the check names the exercise that is now out of date.
    path = solutions / "ex03_adagrad.ipynb"
    path.write_text(path.read_text().replace("AdaGrad on the ellipse", "AdaGrad, again"))
    capsys.readouterr()
    assert cli.main(args) == 1
    out = capsys.readouterr()
    assert "ex03_adagrad.ipynb: is out of date" in out.out
    assert "ex01" not in out.out
    # A stray exercise with no solution is drift too.
    path.write_text((worksheets.SOLUTIONS / path.name).read_text())
    (exercises / "ex09_extra.ipynb").write_text("{}")
    assert cli.main(args) == 1
    assert "ex09_extra.ipynb" in capsys.readouterr().out


def test_regions_outside_answer_cells_are_refused():
    nb = worksheets.read_notebook(worksheets.SOLUTIONS / "ex01_gradient_descent.ipynb")
    setup = next(c for c in nb["cells"] if worksheets.course_meta(c).get("role") == "setup")
    setup["source"] = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    with pytest.raises(worksheets.WorksheetError, match="answer code cells only"):
        worksheets.make_exercise(nb, "ex01")


# ----- the static check --------------------------------------------------------------------------
@pytest.mark.parametrize("sources, tainted", [
    (["from course_lib import Adam"], {"Adam"}),
    (["from course_lib import get_problem, Adam as A"], {"A"}),
    (["import course_lib\nclass Adam(course_lib.Adam):\n    pass"], {"Adam"}),
    (["import course_lib.optimizers as o\n", "class SGD:\n    make = o.SGD"], {"o", "SGD"}),
    (["from course_lib._base import Optimizer", "class Adam(Optimizer):\n    pass"],
     {"Optimizer", "Adam"}),
    (["import torch\nclass Adam:\n    def update(self, p, g):\n        torch.optim.Adam(p)"],
     {"Adam"}),
    (["class Adam:\n    def update(self, p, g):\n        from course_lib import Adam as R"],
     {"Adam"}),
    (["from course_lib.training import smooth"], {"smooth"}),
    (["def helper():\n    import course_lib\n    return course_lib.RMSProp()",
      "class RMSProp:\n    def update(self, p, g):\n        helper().update(p, g)"],
     {"helper", "RMSProp"}),
])
def test_reference_use_is_found(sources, tainted):
    assert worksheets.reference_users(sources) == tainted


@pytest.mark.parametrize("sources", [
    ["import numpy as np\nfrom course_lib.checks import check_adam\nclass Adam:\n    pass"],
    ["from course_lib import Adam", "class Adam:\n    pass"],  # redefined: the last one counts
    ["from course_lib.problems import get_problem\nclass SGD:\n    p = get_problem"],
    ["class Momentum:\n    pass\nclass Nesterov(Momentum):\n    pass"],
    ["this is not Python"],
])
def test_own_code_is_not_flagged(sources):
    assert not {"Adam", "SGD", "Momentum", "Nesterov"} & worksheets.reference_users(sources)


# ----- reading and planning a submission ---------------------------------------------------------
@pytest.mark.parametrize("name, reason", [
    ("not_json", "not valid JSON"), ("truncated", "not valid JSON"), ("empty", "not valid JSON"),
    ("nbformat3", "format 3 is not supported"), ("no_cells", "cells are not valid"),
])
def test_unreadable_files_say_why(tmp_path, name, reason):
    path = tmp_path / "ex01_gradient_descent.ipynb"
    path.write_bytes((corpus.CORPUS / "broken" / f"{name}.ipynb.txt").read_bytes())
    with pytest.raises(worksheets.MalformedNotebook, match=reason):
        worksheets.read_submission(path)


def test_links_and_huge_files_are_refused_unread(tmp_path, monkeypatch):
    link = tmp_path / "ex01_gradient_descent.ipynb"
    link.symlink_to(worksheets.SOLUTIONS / "ex01_gradient_descent.ipynb")
    with pytest.raises(worksheets.MalformedNotebook, match="symbolic link"):
        worksheets.read_submission(link)
    rows = grader.grade_notebook(SHEETS["ex01_gradient_descent"], link, FAST,
                                 np.random.default_rng(0))
    assert {r.status for r in rows} == {"malformed notebook"}
    big = tmp_path / "big.ipynb"
    big.write_text("{}")
    monkeypatch.setattr(worksheets, "MAX_NOTEBOOK", 1)
    with pytest.raises(worksheets.MalformedNotebook, match="larger than"):
        worksheets.read_submission(big)


def test_plan_finds_answers_by_metadata_or_id_wherever_they_are():
    sheet = SHEETS["ex05_adam"]
    cells = corpus.solution("ex05_adam")["cells"]
    normal = worksheets.plan(sheet, cells)
    assert normal.missing == [] and set(normal.answers) == {"adam", "uncorrected_first_step"}
    kinds = [worksheets.course_meta(c).get("role") for c in cells]
    executed = [c for c, k in zip(cells, kinds, strict=True) if k in ("setup", "answer")]
    assert [src for _, src in normal.cells] == [worksheets.source_of(c) for c in executed]
    flipped = worksheets.plan(sheet, cells[::-1])
    assert flipped.cells[0][1].startswith("import numpy")  # setup first, wherever it is
    bare = [{**c, "metadata": {}} for c in cells]
    assert worksheets.plan(sheet, bare).answers.keys() == normal.answers.keys()
    gone = [c for c in cells if worksheets.course_meta(c).get("item") != "adam"]
    assert worksheets.plan(sheet, gone).missing == ["adam"]


# ----- the sandbox -------------------------------------------------------------------------------
def test_limits_are_checked():
    with pytest.raises(ValueError, match="memory_mb must be a number >= 200"):
        Limits(memory_mb=10)
    with pytest.raises(ValueError, match="timeout"):
        Limits(timeout=0)


def test_child_runs_cells_and_is_killed_when_it_hangs():
    with Child(Limits(timeout=1.5, cpu_seconds=10)) as child:
        assert child.request({"op": "exec", "source": "x = 41 + 1", "name": "c1"}) \
            ["error"] is None
        answer = child.request({"op": "function", "symbol": "nothing", "args": {"calls": []}})
        assert answer["missing"] is True
        with pytest.raises(ChildFailure, match="timed out: no answer within 1.5 s"):
            child.request({"op": "exec", "source": "while True:\n    pass", "name": "c2"})
        assert child.proc.poll() is not None  # killed
    assert not os.path.exists(child.scratch)


def test_child_hides_the_reference_implementations():
    with Child(FAST) as child:
        for source in ("import course_lib.optimizers", "from course_lib import Adam",
                       "import importlib; importlib.import_module('course_lib._base')",
                       "import torch"):
            error = child.request({"op": "exec", "source": source, "name": "c"})["error"]
            assert error["type"] == "ImportError", source
        ok = "from course_lib.checks import check_adam\ncheck_adam(None)\n" \
             "from course_lib.networks import MLP"
        assert child.request({"op": "exec", "source": ok, "name": "c"})["error"] is None


def test_exit_codes_are_explained():
    assert explain_exit(0, "", FAST).status == "crashed"
    assert explain_exit(-25, "", FAST).status == "output limit exceeded"  # SIGXFSZ
    assert explain_exit(-24, "", FAST).status == "CPU time limit exceeded"  # SIGXCPU
    assert explain_exit(1, "MemoryError", FAST).status == "memory limit exceeded"
    assert "SIGSEGV" in explain_exit(-11, "", FAST).detail


# ----- a whole class: the corpus -----------------------------------------------------------------
@pytest.fixture(scope="module")
def graded() -> corpus.Graded:
    return corpus.graded_corpus()


def test_batch_completes_without_touching_the_submissions(graded):
    assert graded.before == graded.after
    students = {p.name for p in graded.folder.iterdir()}
    assert {r.student for r in graded.rows} == students
    for student in students:  # every worksheet has a row per item, submitted or not
        for name, sheet in SHEETS.items():
            rows = graded.rows_of(student, name)
            assert set(sheet.items) <= set(rows)


@pytest.mark.parametrize("case", corpus.mistake_cases(), ids=lambda c: c.name)
def test_each_mistake_is_graded_zero_and_named(graded, case):
    rows = graded.rows_of(f"mistake_{case.name}", case.worksheet)
    row = rows[case.item]
    assert row.status in ("wrong", "error")
    assert row.points == 0 and row.max_points == SHEETS[case.worksheet].items[case.item]
    assert f"likely mistake: {case.expect[case.item]} (" in row.feedback
    assert row.mistake == case.expect[case.item]
    others = {k: r.status for k, r in rows.items() if k != case.item}
    assert set(others.values()) == {"correct"}


@pytest.mark.parametrize("case", corpus.hostile_cases(), ids=lambda c: c.name)
def test_hostile_and_broken_code_gets_its_status(graded, case):
    rows = graded.rows_of(f"hostile_{case.name}", case.worksheet)
    assert {k: rows[k].status if k in rows else "absent" for k in case.expect} == case.expect
    for r in rows.values():
        assert r.points == (r.max_points if r.status == "correct" else 0)
        assert "Traceback" not in r.feedback
        for foreign in ("/tmp/", "course-grade-", "course-snapshot-", "runner.py", sys.prefix):
            assert foreign not in r.feedback


def test_no_grading_process_survives_the_batch(graded):
    from course_lib.grading import isolation

    marker = f"{isolation.MARKER}=".encode()
    survivors = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if any(v.startswith(marker) for v in fh.read().split(b"\0")):
                    with open(f"/proc/{name}/stat") as st:
                        if st.read().split(")")[-1].split()[0] != "Z":
                            survivors.append(name)
        except OSError:
            continue
    assert survivors == []


def test_hostile_feedback_explains(graded):
    def feedback(student, item):
        case = next(c for c in corpus.hostile_cases() if c.name == student)
        return graded.rows_of(f"hostile_{student}", case.worksheet)[item].feedback

    assert "no answer within 4 s" in feedback("endless_update", "sgd")
    assert "needed more than 1024 MB" in feedback("memory_update", "sgd")
    assert "printed more than 256 KB" in feedback("print_flood", "sgd")
    assert "line 4: import os" in feedback("os_exit", "sgd")
    assert "raised SystemExit" in feedback("raise_system_exit", "sgd")
    assert "ValueError: this cell fails" in feedback("exception_cell", "grad_ellipse")
    assert "import importlib" in feedback("reference_dynamic", "rmsprop")
    assert "KeyError" in feedback("hard_coded", "max_stable_lr")
    assert "line 8: the built-in exec" in feedback("policy_exec", "sgd")
    assert "the attribute .__class__" in feedback("policy_dunder", "max_stable_lr")
    assert "the built-in getattr" in feedback("policy_getattr", "momentum_gain")
    assert "format string" in feedback("policy_getattr", "momentum_gain")
    assert "numpy's load" in feedback("policy_numpy_io", "adagrad_effective_lr")
    assert "the attribute .loadtxt" in feedback("policy_numpy_io", "adagrad_effective_lr")
    assert "do not match the worksheet's" in feedback("markers_damaged",
                                                      "uncorrected_first_step")


@pytest.mark.parametrize("name", ["empty", "nbformat3", "no_cells", "not_json", "truncated"])
def test_unreadable_notebooks_get_rows_and_zero(graded, name):
    rows = graded.rows_of(f"broken_{name}", "ex01_gradient_descent")
    assert {r.status for r in rows.values()} == {"malformed notebook"}
    assert sum(r.points for r in rows.values()) == 0


def test_deleted_reordered_and_stripped_cells(graded):
    deleted = graded.rows_of("deleted_cell", "ex02_momentum")
    assert {k: r.status for k, r in deleted.items()} == {
        "momentum": "correct", "nesterov": "answer cell missing", "momentum_gain": "correct"}
    for student, sheet in (("reordered", "ex05_adam"), ("no_metadata", "ex03_adagrad")):
        assert {r.status for r in graded.rows_of(student, sheet).values()} == {"correct"}
    missing = graded.rows_of("reordered", "ex01_gradient_descent")
    assert {r.status for r in missing.values()} == {"missing worksheet"}


def test_gradebook_file_matches_the_rows(graded):
    with open(graded.gradebook, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == ["student", "worksheet", "item", "points", "max_points", "status",
                      "feedback", "mistake"]
    assert report.read_gradebook(graded.gradebook) == graded.rows
    assert not [p for p in graded.gradebook.parent.iterdir() if p.name.endswith(".tmp")]


def test_gradebook_has_one_line_per_row_and_names_mistakes(graded, tmp_path):
    lines = graded.gradebook.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 2 == len(graded.rows)  # header, rows, final newline
    multi = [r for r in graded.rows if "\n" in r.feedback]
    assert len(multi) >= 10  # the wrong answers' feedback has several lines
    named = {r.mistake for r in graded.rows if r.mistake}
    assert {c.expect[c.item] for c in corpus.mistake_cases()} <= named
    assert {r.mistake for r in graded.rows if r.status == "correct"} == {""}
    row = multi[0]
    report.write_reports(tmp_path, [row], list(SHEETS))
    assert row.feedback in (tmp_path / f"{report.safe_name(row.student)}.md").read_text()


@pytest.mark.parametrize("text", ["a\nb", "a\\nb", "a\\\nb", "c:\\x\\", "\r\n\n", "", "plain"])
def test_one_line_feedback_round_trips(text):
    line = report.one_line(text)
    assert "\n" not in line and "\r" not in line
    assert report.from_one_line(line) == text


def test_an_old_gradebook_without_the_mistake_column_still_loads(tmp_path):
    book = tmp_path / "grades.csv"
    book.write_text("student,worksheet,item,points,max_points,status,feedback\n"
                    'ann,ex01,sgd,0,2,wrong,"sgd: wrong\n  likely mistake: x (y)."\n'
                    "bob,ex01,sgd,2,2,correct,a \\n stays\n", encoding="utf-8")
    assert report.read_gradebook(book) == [
        report.Row("ann", "ex01", "sgd", 0.0, 2.0, "wrong", "sgd: wrong\n  likely mistake: x (y).",
                   ""),
        report.Row("bob", "ex01", "sgd", 2.0, 2.0, "correct", "a \\n stays", "")]


def test_reports_and_summary(graded, tmp_path):
    order = list(SHEETS)
    written = report.write_reports(tmp_path, graded.rows, order)
    assert len(written) == len({r.student for r in graded.rows})
    text = (tmp_path / "mistake_adam_eps_inside.md").read_text()
    assert "# Feedback for mistake_adam_eps_inside" in text
    assert "Total: **1 / 33** points." in text
    assert "## ex05_adam: 1 / 5" in text
    assert "likely mistake: eps inside the sqrt" in text
    table = report.summary_table(graded.rows, order).splitlines()
    assert table[0].split() == ["student", "ex01", "ex02", "ex03", "ex04", "ex05", "ex06",
                                "total"]
    full = next(line for line in table if line.startswith("full_marks "))
    assert full.split()[1:] == ["4/4", "6/6", "4/4", "4/4", "5/5", "10/10", "33/33"]


# ----- resuming, atomic writes, parallel jobs, the command line ----------------------------------
def small_class(folder: Path) -> None:
    sheet = "ex01_gradient_descent"
    corpus.write(folder, "ann", sheet, corpus.solution(sheet))
    corpus.write(folder, "bob", sheet, (worksheets.EXERCISES / f"{sheet}.ipynb").read_bytes())


def test_rerun_resumes_unless_forced(tmp_path, gradebook_key):
    folder, book = tmp_path / "subs", tmp_path / "grades.csv"
    small_class(folder)
    sheets = [SHEETS["ex01_gradient_descent"]]
    seen: list[str] = []

    def run(force: bool) -> list[report.Row]:
        seen.clear()
        batch = grader.Batch(folder, book, sheets, FAST, jobs=2, force=force, seed=3)
        return grader.grade_folder(batch, lambda done, total, label: seen.append(label))

    first = run(force=False)
    assert sorted(seen) == ["ann/ex01_gradient_descent", "bob/ex01_gradient_descent"]
    assert [r.points for r in first if r.student == "ann"] == [1, 2, 1]
    assert gradebook_key.stat().st_mode & 0o777 == 0o600
    assert run(force=False) == first and seen == []  # nothing regraded
    # A new student is graded on the next run; the others are still skipped.
    corpus.write(folder, "cy", "ex01_gradient_descent", corpus.solution("ex01_gradient_descent"))
    run(force=False)
    assert seen == ["cy/ex01_gradient_descent"]
    forced = run(force=True)
    assert len(seen) == 3 and forced == run(force=False) and seen == []


def test_a_forged_gradebook_row_is_dropped_and_everything_regraded(tmp_path, capsys):
    folder, book = tmp_path / "subs", tmp_path / "grades.csv"
    small_class(folder)
    sheets = [SHEETS["ex01_gradient_descent"]]
    seen: list[str] = []
    batch = grader.Batch(folder, book, sheets, FAST, seed=3)
    first = grader.grade_folder(batch)
    assert sum(r.points for r in first if r.student == "bob") == 0
    rows = report.read_gradebook(book)
    for r in rows:  # bob gives himself full marks, keeping the hashes file as it is
        if r.student == "bob":
            r.points, r.status, r.feedback = r.max_points, "correct", "forged"
    report.write_gradebook(book, rows)
    capsys.readouterr()
    again = grader.grade_folder(batch, lambda done, total, label: seen.append(label))
    err = capsys.readouterr().err
    assert "WARNING: the gradebook" in err and "is not trusted: its MAC does not match" in err
    assert "every notebook is graded again" in err
    assert sorted(seen) == ["ann/ex01_gradient_descent", "bob/ex01_gradient_descent"]
    assert sum(r.points for r in again if r.student == "bob") == 0
    assert not [r for r in again if r.feedback == "forged"]
    assert not [r for r in report.read_gradebook(book) if r.feedback == "forged"]
    # The regraded book is signed again: the next run trusts it and says nothing.
    grader.grade_folder(batch)
    assert "WARNING" not in capsys.readouterr().err


@pytest.mark.parametrize("tamper", ["hashes", "mac file", "no mac file", "other key"])
def test_any_change_to_the_signed_files_means_a_full_regrade(tmp_path, capsys, monkeypatch,
                                                             tamper):
    folder, book = tmp_path / "subs", tmp_path / "grades.csv"
    small_class(folder)
    batch = grader.Batch(folder, book, [SHEETS["ex01_gradient_descent"]], FAST, seed=3)
    grader.grade_folder(batch)
    mac = integrity.mac_path(book)
    if tamper == "hashes":
        path = grader.hashes_path(book)
        path.write_text(path.read_text().replace("{", "{ ", 1))
    elif tamper == "mac file":
        mac.write_text("0" * 64)
    elif tamper == "no mac file":
        mac.unlink()
    else:
        monkeypatch.setenv(integrity.KEY_ENV, str(tmp_path / "state" / "other.key"))
    seen: list[str] = []
    capsys.readouterr()
    grader.grade_folder(batch, lambda done, total, label: seen.append(label))
    assert "is not trusted" in capsys.readouterr().err
    assert len(seen) == 2


def test_the_gradebook_key_must_be_private_and_outside_the_class(tmp_path, monkeypatch):
    folder, book = tmp_path / "subs", tmp_path / "out" / "grades.csv"
    small_class(folder)
    batch = grader.Batch(folder, book, [SHEETS["ex01_gradient_descent"]], FAST, seed=3,
                         reports=tmp_path / "reports")
    for inside in (folder / "ann" / "k.key", tmp_path / "out" / "k.key",
                   tmp_path / "reports" / "sub" / "k.key"):
        monkeypatch.setenv(integrity.KEY_ENV, str(inside))
        with pytest.raises(integrity.KeyFileError, match="keep it"):
            grader.grade_folder(batch)
        assert not inside.exists() and not book.exists()
    loose = tmp_path / "state" / "loose.key"
    loose.parent.mkdir()
    loose.write_bytes(b"k" * integrity.KEY_BYTES)
    loose.chmod(0o644)
    monkeypatch.setenv(integrity.KEY_ENV, str(loose))
    with pytest.raises(integrity.KeyFileError, match="only you can read .chmod 600"):
        grader.grade_folder(batch)
    loose.chmod(0o600)
    loose.write_bytes(b"short")
    with pytest.raises(integrity.KeyFileError, match="holds 5 bytes, expected 32"):
        grader.grade_folder(batch)
    assert not book.exists()
    monkeypatch.setenv(integrity.KEY_ENV, "")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert integrity.key_path() == tmp_path / "xdg" / "course" / "gradebook.key"


def test_a_gradebook_from_before_the_mistake_column_loads_and_is_regraded(tmp_path, capsys):
    """An older gradebook has no MAC: it is read (no error) but not trusted, so regraded."""
    folder, book = tmp_path / "subs", tmp_path / "grades.csv"
    small_class(folder)
    sheets = [SHEETS["ex01_gradient_descent"]]
    seen: list[str] = []
    batch = grader.Batch(folder, book, sheets, FAST, seed=3)
    first = grader.grade_folder(batch)
    with open(book, "w", encoding="utf-8", newline="") as fh:  # as older versions wrote it
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(report.OLD_FIELDS)
        writer.writerows(r.astuple()[:-1] for r in first)
    integrity.mac_path(book).unlink()
    assert [r.astuple()[:-1] for r in report.read_gradebook(book)] == \
        [r.astuple()[:-1] for r in first]
    capsys.readouterr()
    again = grader.grade_folder(batch, lambda done, total, label: seen.append(label))
    assert "is not trusted: it has no MAC file (grades.csv.mac)" in capsys.readouterr().err
    assert len(seen) == 2 and again == first


def test_gradebook_is_replaced_atomically(tmp_path, monkeypatch):
    book = tmp_path / "grades.csv"
    row = report.Row("ann", "ex01", "sgd", 2.0, 2.0, "correct", "ok")
    report.write_gradebook(book, [row])
    before = book.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        report.write_gradebook(book, [row, row])
    assert book.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]


def test_bad_batch_arguments(tmp_path):
    with pytest.raises(NotADirectoryError, match="does not exist"):
        grader.grade_folder(grader.Batch(tmp_path / "nope", tmp_path / "g.csv", [], FAST))
    with pytest.raises(ValueError, match="jobs must be a whole number >= 1"):
        grader.grade_folder(grader.Batch(tmp_path, tmp_path / "g.csv", [], FAST, jobs=0))
    (tmp_path / "g.csv").write_text("name,score\nann,3\n")
    with pytest.raises(ValueError, match="is not a gradebook"):
        grader.grade_folder(grader.Batch(tmp_path, tmp_path / "g.csv", [], FAST))


def test_cli_grade_writes_gradebook_reports_and_summary(tmp_path, capsys):
    folder = tmp_path / "subs"
    small_class(folder)
    out = tmp_path / "out" / "grades.csv"
    code = cli.main(["grade", str(folder), "-o", str(out), "--jobs", "2", "--seed", "7",
                     "--timeout", "10"])
    assert code == 0
    printed = capsys.readouterr()
    lines = {line.split()[0]: line.split()[1:] for line in printed.out.splitlines() if line}
    assert lines["ann"] == ["4/4", "0/6", "0/4", "0/4", "0/5", "0/10", "4/33"]
    assert lines["bob"] == ["0/4", "0/6", "0/4", "0/4", "0/5", "0/10", "0/33"]
    assert "graded 4/12 notebooks" in printed.err  # the progress lines go to stderr
    rows = [r for r in report.read_gradebook(out) if r.worksheet == "ex01_gradient_descent"]
    assert {(r.student, r.status) for r in rows} == {("ann", "correct"),
                                                     ("bob", "not implemented yet")}
    reports = sorted(p.name for p in (tmp_path / "out" / "grades_feedback").iterdir())
    assert reports == ["ann.md", "bob.md"]


def test_cli_check_for_a_student(capsys):
    assert cli.main(["check", str(worksheets.SOLUTIONS / "ex04_rmsprop.ipynb")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ex04_rmsprop: 4 / 4 points"
    assert cli.main(["check", str(worksheets.EXERCISES / "ex04_rmsprop.ipynb")]) == 1
    out = capsys.readouterr().out
    assert "[0/3] rmsprop: not implemented yet" in out
    assert "Traceback" not in out
    assert cli.main(["check", str(worksheets.SOLUTIONS / "grading.toml")]) == 2
    assert "is not a worksheet" in capsys.readouterr().err


def test_cli_check_accepts_a_download_copy(tmp_path, capsys):
    """A browser saves a second download as "NAME (1).ipynb": it is still that worksheet."""
    for name in ("ex04_rmsprop (1).ipynb", "ex04_rmsprop-Copy1.ipynb"):
        copy = tmp_path / name
        shutil.copyfile(worksheets.SOLUTIONS / "ex04_rmsprop.ipynb", copy)
        assert cli.main(["check", str(copy)]) == 0
        assert capsys.readouterr().out.splitlines()[-1] == "ex04_rmsprop: 4 / 4 points"
    other = tmp_path / "ex04_rmsprop_draft.ipynb"
    shutil.copyfile(worksheets.SOLUTIONS / "ex04_rmsprop.ipynb", other)
    assert cli.main(["check", str(other)]) == 2
    assert "'ex04_rmsprop_draft' is not a worksheet" in capsys.readouterr().err


def test_grader_never_unpickles_or_trusts_child_numbers():
    """A record from the child is plain JSON; a malformed one gives an error, not a crash."""
    session = grader.Session([], FAST)
    try:
        session.child = type("FakeChild", (), {
            "request": lambda self, payload: {"steps": "nonsense", "error": None},
            "close": lambda self: None})()
        verdict = grader.grade_item(session, "adam", np.random.default_rng(0))
        assert verdict.status == "error"
        assert "could not be read" in verdict.message
    finally:
        session.child = None


def test_json_round_trip_keeps_arrays():
    from course_lib.grading.runner import from_json, to_json

    data = {"a": np.arange(6.0).reshape(2, 3), "b": [np.float64(2.5), 3], "c": None}
    back = from_json(json.loads(json.dumps(to_json(data))))
    assert np.array_equal(back["a"], data["a"]) and back["b"] == [2.5, 3] and back["c"] is None
