"""``course totals`` on a generated class of 32 students with known answers.

The class (tests/class_builder.py) is graded once; every expected number here comes from the
students' plans and grading.toml, read directly, never from the code under test.
"""

from __future__ import annotations

import csv
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from course_lib import cli
from course_lib.grading import integrity
from tests import class_builder as cb

POINTS = cb.points_table()
SHEETS = list(POINTS)
MAX = {s: sum(items.values()) for s, items in POINTS.items()}
# Started days late for each LATENESS entry: against DUE, and against ex06's own DUE + 5 days.
DAYS_LATE = [0, 0, 0, 1, 1, 2, 4, 10]
DAYS_LATE_EX06 = [0, 0, 0, 0, 0, 0, 0, 5]
EX06_DUE = cb.DUE + timedelta(days=5)


@pytest.fixture(autouse=True, scope="module")
def gradebook_key(tmp_path_factory) -> Path:
    """A MAC key of these tests' own, never the user's."""
    key = tmp_path_factory.mktemp("state") / "gradebook.key"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(integrity.KEY_ENV, str(key))
        yield key


@pytest.fixture(scope="module")
def graded() -> cb.GradedClass:
    return cb.graded_class()


def totals(graded: cb.GradedClass, out: Path, *extra: str) -> int:
    return cli.main(["totals", str(graded.gradebook), "-o", str(out), *extra])


def read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def write_roster(path: Path, graded: cb.GradedClass, drop: str = "", twice: str = "",
                 columns: tuple[str, ...] = ("student", "name", "canvas_id", "sis_user_id",
                                             "sis_login_id", "section", "email", "idnumber"),
                 ) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(columns)
        for s in sorted(graded.plans):
            if s == drop:
                continue
            n = int(s[1:])
            person = {"student": s, "name": f"Student{n}, Ann", "canvas_id": str(7000 + n),
                      "sis_user_id": f"U{n:04d}", "sis_login_id": f"login{n}",
                      "section": "A" if n % 2 else "B", "email": f"{s}@uni.example",
                      "idnumber": f"ID{n:03d}"}
            for _ in range(2 if s == twice else 1):
                out.writerow([person[c] for c in columns])
    return path


def expected(graded: cb.GradedClass, student: str, sheet: str,
             changed: dict | None = None) -> float:
    """The points of a worksheet from the plan, with ``changed`` (key -> points) applied."""
    points = graded.expected_points(student, sheet)
    for (s, sh, item), value in (changed or {}).items():
        if (s, sh) == (student, sheet):
            was = POINTS[sh][item] if graded.plans[s][sh][item] == "correct" else 0.0
            points += value - was
    return points


# ----- the class is graded as planned -----------------------------------------------------------
def test_the_class_is_large_and_graded_as_planned(graded):
    assert len(graded.plans) == cb.STUDENTS >= 30
    plans = [w for p in graded.plans.values() for sheet in p.values() for w in sheet.values()]
    for kind in ("correct", "blank", "missing"):
        assert plans.count(kind) >= 20, kind
    assert sum(w.startswith("wrong:") for w in plans) >= 100
    statuses = {"correct": {"correct"}, "blank": {"not implemented yet"},
                "missing": {"missing worksheet"}}
    for r in graded.rows:
        if r.item == "(notebook)":
            continue
        plan = graded.plans[r.student][r.worksheet][r.item]
        if plan.startswith("wrong:"):
            assert r.status in ("wrong", "error") and r.points == 0
            assert r.mistake == cb.mistakes()[plan[6:]].expect[r.item], (r.student, r.item)
        else:
            assert r.status in statuses[plan], (r.student, r.worksheet, r.item, r.status)


# ----- the three formats ------------------------------------------------------------------------
def test_wide_totals_match_the_plans(graded, tmp_path, capsys):
    out = tmp_path / "totals.csv"
    assert totals(graded, out) == 0
    assert "cannot be verified" not in capsys.readouterr().err
    rows = read(out)
    assert rows[0] == ["student", *SHEETS, "total", "max_total"]
    assert [r[0] for r in rows[1:]] == sorted(graded.plans)
    for r in rows[1:]:
        want = [expected(graded, r[0], s) for s in SHEETS]
        assert [float(x) for x in r[1:-2]] == want, r[0]
        assert float(r[-2]) == sum(want) and float(r[-1]) == 33
    assert rows[1][1:] == ["4", "6", "4", "4", "5", "10", "33", "33"]  # s00: all correct
    assert rows[2][1:] == ["0"] * 7 + ["33"]  # s01: all blank
    assert not (tmp_path / "totals_feedback").exists()


def test_canvas_import_file(graded, tmp_path):
    out, roster = tmp_path / "canvas.csv", write_roster(tmp_path / "roster.csv", graded)
    assert totals(graded, out, "--format", "canvas", "--roster", str(roster)) == 0
    rows = read(out)
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *SHEETS]
    assert rows[1] == ["Points Possible", "", "", "", "", "4", "6", "4", "4", "5", "10"]
    assert len(rows) == 2 + cb.STUDENTS
    for r in rows[2:]:
        n = int(r[1]) - 7000
        student = f"s{n:02d}"
        assert r[:5] == [f"Student{n}, Ann", str(7000 + n), f"U{n:04d}", f"login{n}",
                         "A" if n % 2 else "B"]
        assert [float(x) for x in r[5:]] == [expected(graded, student, s) for s in SHEETS]


def test_moodle_import_file(graded, tmp_path):
    out = tmp_path / "moodle.csv"
    roster = write_roster(tmp_path / "roster.csv", graded,
                          columns=("student", "email", "idnumber", "name"))
    assert totals(graded, out, "--format", "moodle", "--roster", str(roster)) == 0
    rows = read(out)
    assert rows[0] == ["Email address", "ID number", "Full name", *SHEETS]
    assert len(rows) == 1 + cb.STUDENTS
    for r in rows[1:]:
        student = r[0].split("@")[0]
        assert r[1] == f"ID{int(student[1:]):03d}"
        assert [float(x) for x in r[3:]] == [expected(graded, student, s) for s in SHEETS]


def test_roster_students_without_work_get_zero_and_are_named(graded, tmp_path, capsys):
    roster = write_roster(tmp_path / "roster.csv", graded)
    with open(roster, "a", encoding="utf-8") as fh:
        fh.write("s99,\"Late, Lou\",7099,U0099,login99,A,s99@uni.example,ID099\n")
    out = tmp_path / "canvas.csv"
    assert totals(graded, out, "--format", "canvas", "--roster", str(roster)) == 0
    assert read(out)[-1] == ["Late, Lou", "7099", "U0099", "login99", "A"] + ["0"] * 6
    assert "1 roster students have no graded work and get 0: s99" in capsys.readouterr().err


# ----- overrides ----------------------------------------------------------------------------------
def test_overrides_change_the_totals_and_the_feedback(graded, tmp_path):
    wrong = next((s, sh, i) for s, p in sorted(graded.plans.items()) for sh, items in p.items()
                 for i, w in items.items() if w.startswith("wrong:"))
    changed = {("s01", "ex01_gradient_descent", "sgd"): 2.0,
               ("s00", "ex05_adam", "adam"): 1.5, wrong: 0.5}
    path = tmp_path / "overrides.csv"
    lines = ["student,worksheet,item,points,comment",
             "s01,ex01_gradient_descent,sgd,2,Checked by hand: the notebook was mis-saved",
             "s00,ex05_adam,adam,1.5,\"Copied, in part\"", f"{','.join(wrong)},0.5,"]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "totals.csv"
    assert totals(graded, out, "--overrides", str(path)) == 0
    rows = {r[0]: r for r in read(out)[1:]}
    for student in sorted(graded.plans):
        want = [expected(graded, student, s, changed) for s in SHEETS]
        assert [float(x) for x in rows[student][1:-2]] == want, student
    assert rows["s01"][1] == "2" and rows["s00"][5] == "2.5"
    feedback = tmp_path / "totals_feedback"
    s01 = (feedback / "s01.md").read_text()
    assert "Total: **2 / 33** points." in s01
    assert "| sgd | 2 / 2 | overridden |" in s01
    assert ("The instructor set this item to 2 / 2 points (the autograder gave 0, not "
            "implemented yet): Checked by hand: the notebook was mis-saved") in s01
    assert "Copied, in part" in (feedback / "s00.md").read_text()
    assert "## ex05_adam: 2.5 / 5" in (feedback / "s00.md").read_text()


# ----- late work ----------------------------------------------------------------------------------
def late_config(path: Path, penalty: str) -> Path:
    path.write_text(f'[due]\nall = {cb.DUE.isoformat()}\n'
                    f'ex06_capstone = "{EX06_DUE.isoformat()}"\n\n[penalty]\n{penalty}\n')
    return path


@pytest.mark.parametrize("penalty, share", [
    ('policy = "per_day"\nrate = 0.1', lambda days: min(1.0, 0.1 * days)),
    ('policy = "capped"\nrate = 0.25\ncap = 0.6', lambda days: min(0.6, 0.25 * days)),
    ('policy = "zero_after"', lambda days: 1.0 if days else 0.0),
], ids=["per_day", "capped", "zero_after"])
def test_late_penalties_in_totals_and_feedback(graded, tmp_path, penalty, share):
    out = tmp_path / "totals.csv"
    config = late_config(tmp_path / "late.toml", penalty)
    assert totals(graded, out, "--late", str(config), "--submissions", str(graded.folder)) == 0
    rows = read(out)
    assert rows[0] == ["student", *SHEETS, "total", "max_total", "late_penalty", "late_note"]
    for r in rows[1:]:
        n = int(r[0][1:])
        days = {s: DAYS_LATE[n % 8] for s in SHEETS} | {"ex06_capstone": DAYS_LATE_EX06[n % 8]}
        earned = [expected(graded, r[0], s) for s in SHEETS]
        lost = [round(e * share(days[s]), 4) for e, s in zip(earned, SHEETS, strict=True)]
        assert [float(x) for x in r[1:7]] == pytest.approx(
            [e - x for e, x in zip(earned, lost, strict=True)], abs=1e-9), r[0]
        assert float(r[7]) == pytest.approx(sum(earned) - sum(lost), abs=1e-9)
        assert float(r[9]) == pytest.approx(sum(lost), abs=1e-9)
        for sheet, x in zip(SHEETS, lost, strict=True):
            assert (f"{sheet}: {days[sheet]} day" in r[10]) == (x > 0), (r[0], r[10])
    late_ones = [r for r in rows[1:] if float(r[9]) > 0]
    assert len(late_ones) >= 5
    name = late_ones[0][0]
    text = (tmp_path / "totals_feedback" / f"{name}.md").read_text()
    assert f"Late by {DAYS_LATE[int(name[1:]) % 8]} day" in text
    assert f"Total: **{late_ones[0][7]} / 33** points." in text


def test_late_penalties_reach_the_canvas_file(graded, tmp_path):
    out, roster = tmp_path / "canvas.csv", write_roster(tmp_path / "roster.csv", graded)
    config = late_config(tmp_path / "late.toml", 'policy = "zero_after"')
    assert totals(graded, out, "--format", "canvas", "--roster", str(roster), "--late",
                  str(config), "--submissions", str(graded.folder)) == 0
    for r in read(out)[2:]:
        n = int(r[1]) - 7000
        on_time = DAYS_LATE[n % 8] == 0
        want = [expected(graded, f"s{n:02d}", s) if on_time or
                (s == "ex06_capstone" and DAYS_LATE_EX06[n % 8] == 0) else 0.0 for s in SHEETS]
        assert [float(x) for x in r[5:]] == want


def test_an_unsigned_gradebook_is_reported(graded, tmp_path, capsys):
    copy = tmp_path / "grades.csv"
    shutil.copy(graded.gradebook, copy)
    assert cli.main(["totals", str(copy), "-o", str(tmp_path / "t.csv")]) == 0
    assert "WARNING" in capsys.readouterr().err


# ----- bad input: a clear error, exit 2, nothing written ---------------------------------------
def stamps(graded: cb.GradedClass, folder: Path) -> Path:
    """A copy of the class's timestamp.txt files only."""
    for student in graded.plans:
        (folder / student).mkdir(parents=True)
        shutil.copy(graded.folder / student / "timestamp.txt", folder / student)
    return folder


OVERRIDE_HEADER = "student,worksheet,item,points,comment\n"
BAD = {  # name -> (files to write: name -> text, or a callable; options; message)
    "roster missing a student": (
        {}, lambda g, t: ["--format", "canvas", "--roster", str(write_roster(
            t / "r.csv", g, drop="s05"))], "student 's05' of the gradebook has no row"),
    "roster lists a student twice": (
        {}, lambda g, t: ["--format", "canvas", "--roster", str(write_roster(
            t / "r.csv", g, twice="s03"))], "line 6: student 's03' is listed twice (first on "
                                           "line 5)"),
    "roster without Canvas ids": (
        {}, lambda g, t: ["--format", "canvas", "--roster", str(write_roster(
            t / "r.csv", g, columns=("student", "name", "email")))],
        "needs a column canvas_id or sis_user_id or sis_login_id"),
    "roster without Moodle ids": (
        {}, lambda g, t: ["--format", "moodle", "--roster", str(write_roster(
            t / "r.csv", g, columns=("student", "name")))], "needs a column email or idnumber"),
    "canvas without a roster": ({}, lambda g, t: ["--format", "canvas"], "needs --roster"),
    "override: unknown student": (
        {"o.csv": OVERRIDE_HEADER + "zed,ex01_gradient_descent,sgd,1,\n"}, ["--overrides"],
        "o.csv: line 2: unknown student 'zed'"),
    "override: unknown worksheet": (
        {"o.csv": OVERRIDE_HEADER + "s01,ex09_lion,sgd,1,\n"}, ["--overrides"],
        "line 2: unknown worksheet 'ex09_lion'"),
    "override: unknown item": (
        {"o.csv": OVERRIDE_HEADER + "s00,ex01_gradient_descent,sgd,1,\ns01,ex05_adam,adamw,1,\n"},
        ["--overrides"], "line 3: unknown item 'adamw' of ex05_adam"),
    "override: points below 0": (
        {"o.csv": OVERRIDE_HEADER + "s01,ex01_gradient_descent,sgd,-1,\n"}, ["--overrides"],
        "line 2: points -1 is outside 0 to 2"),
    "override: points above the maximum": (
        {"o.csv": OVERRIDE_HEADER + "s01,ex01_gradient_descent,sgd,2.5,\n"}, ["--overrides"],
        "line 2: points 2.5 is outside 0 to 2 (ex01_gradient_descent/sgd)"),
    "override: points not a number": (
        {"o.csv": OVERRIDE_HEADER + "s01,ex01_gradient_descent,sgd,two,\n"}, ["--overrides"],
        "line 2: points 'two' is not a number"),
    "override: missing column": (
        {"o.csv": "student,worksheet,item,points\ns01,ex01_gradient_descent,sgd,2\n"},
        ["--overrides"], "line 1: missing column 'comment'"),
    "override: duplicate row": (
        {"o.csv": OVERRIDE_HEADER + "s01,ex01_gradient_descent,sgd,2,\n"
                                    "s01,ex01_gradient_descent,sgd,1,again\n"},
        ["--overrides"], "line 3: a second override of s01/ex01_gradient_descent/sgd (the "
                         "first is on line 2)"),
    "override: too many cells": (
        {"o.csv": OVERRIDE_HEADER + "s01,ex01_gradient_descent,sgd,2,a,b\n"}, ["--overrides"],
        "line 2: 6 cells, the header has 5"),
    "late: due date in the wrong format": (
        {"l.toml": '[due]\nall = "01/03/2026 23:59"\n[penalty]\npolicy = "zero_after"\n'},
        ["--late"], "due.all = '01/03/2026 23:59' is not an ISO 8601 date and time"),
    "late: due date without a timezone": (
        {"l.toml": '[due]\nall = 2026-03-01T23:59:00\n[penalty]\npolicy = "zero_after"\n'},
        ["--late"], "due.all = 2026-03-01T23:59:00 has no timezone"),
    "late: unknown worksheet": (
        {"l.toml": '[due]\nall = 2026-03-01T23:59:00Z\nex9 = 2026-03-01T23:59:00Z\n'
                   '[penalty]\npolicy = "zero_after"\n'}, ["--late"], "due.ex9 is not a worksheet"),
    "late: unknown policy": (
        {"l.toml": '[due]\nall = 2026-03-01T23:59:00Z\n[penalty]\npolicy = "weekly"\n'},
        ["--late"], "penalty.policy = 'weekly' is not one of per_day, capped, zero_after"),
    "late: rate out of range": (
        {"l.toml": '[due]\nall = 2026-03-01T23:59:00Z\n[penalty]\npolicy = "per_day"\nrate = 2\n'},
        ["--late"], "penalty.rate = 2; it must be a fraction in (0, 1]"),
    "late: not TOML": ({"l.toml": "[due\n"}, ["--late"], "l.toml: not valid TOML"),
}
GOOD_LATE = '[due]\nall = 2026-03-01T23:59:00Z\n[penalty]\npolicy = "per_day"\nrate = 0.1\n'


def stamp_case(text: str | None):
    def options(graded, tmp):
        folder = stamps(graded, tmp / "stamps")
        if text is None:
            (folder / "s04" / "timestamp.txt").unlink()
        else:
            (folder / "s04" / "timestamp.txt").write_text(text)
        (tmp / "l.toml").write_text(GOOD_LATE)
        return ["--late", str(tmp / "l.toml"), "--submissions", str(folder)]
    return options


BAD |= {
    "late: bad timestamp.txt": ({}, stamp_case("yesterday, around noon\n"),
                                "s04/timestamp.txt: 'yesterday, around noon' is not a submission "
                                "time like '2026-03-01 14:03:22.123456 UTC'"),
    "late: timestamp.txt without a timezone": ({}, stamp_case("2026-03-01 14:03:22.1\n"),
                                               "s04/timestamp.txt: '2026-03-01 14:03:22.1'"),
    "late: timestamp.txt missing": ({}, stamp_case(None), "s04/timestamp.txt: missing"),
    "late without submissions": ({"l.toml": GOOD_LATE}, ["--late"], "needs --submissions DIR"),
}


@pytest.mark.parametrize("case", BAD, ids=list(BAD))
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_bad_input_is_an_error_and_writes_nothing(graded, tmp_path, capsys, case, existing):
    files, options, message = BAD[case]
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    if callable(options):
        options = options(graded, tmp_path)
    else:
        options = [options[0], str(tmp_path / next(iter(files)))] + options[1:]
    out = tmp_path / "out" / "totals.csv"
    if existing:
        out.parent.mkdir()
        out.write_text("the old totals\n")
    capsys.readouterr()
    assert totals(graded, out, *options) == 2
    err = capsys.readouterr().err
    assert err.startswith("course totals: ") and message in err, err
    assert "Traceback" not in err
    if existing:
        assert out.read_text() == "the old totals\n"
        assert sorted(p.name for p in out.parent.iterdir()) == ["totals.csv"]
    else:
        assert not out.parent.exists()


def test_output_may_not_overwrite_an_input(graded, capsys):
    assert totals(graded, graded.gradebook) == 2
    assert "is one of the inputs" in capsys.readouterr().err


def test_every_bad_override_row_is_listed_at_once(graded, tmp_path, capsys):
    path = tmp_path / "o.csv"
    path.write_text(OVERRIDE_HEADER + "zed,ex01_gradient_descent,sgd,1,\n"
                    "s01,ex01_gradient_descent,sgd,9,\ns01,ex01_gradient_descent,sgd,1,\n")
    assert totals(graded, tmp_path / "t.csv", "--overrides", str(path)) == 2
    err = capsys.readouterr().err
    assert "line 2: unknown student 'zed'" in err and "line 3: points 9 is outside" in err
    assert "line 4: " not in err  # line 3 was refused, so line 4 is the first valid override
    assert not (tmp_path / "t.csv").exists()


def test_a_gradebook_from_before_the_mistake_column_gives_the_same_totals(graded, tmp_path):
    old = tmp_path / "old.csv"
    with open(graded.gradebook, newline="", encoding="utf-8") as src, \
            open(old, "w", newline="", encoding="utf-8") as dst:
        out = csv.writer(dst, lineterminator="\n")
        for row in csv.reader(src):
            out.writerow(row[:-1])
    assert cli.main(["totals", str(old), "-o", str(tmp_path / "a.csv")]) == 0
    assert totals(graded, tmp_path / "b.csv") == 0
    assert read(tmp_path / "a.csv") == read(tmp_path / "b.csv")
