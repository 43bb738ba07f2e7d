"""A generated class with known answers: every student's plan for every item, graded once.

Each student gets, for every item, a plan: ``correct`` (the solution), ``blank`` (the
exercise's stub), ``wrong:<case>`` (a known mistake from tests/submissions/mistakes) or
``missing`` (the whole worksheet not handed in). The points each plan must earn come from
reading grading.toml directly, not from the grader.
"""

from __future__ import annotations

import atexit
import functools
import json
import random
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from course_lib.grading import grader, worksheets
from course_lib.grading.report import Row
from tests import corpus

STUDENTS = 32
DUE = datetime(2026, 3, 1, 23, 59, tzinfo=timezone(timedelta(hours=1)))
# Hand-in times relative to DUE; student i gets LATENESS[i % len(LATENESS)].
LATENESS = [timedelta(days=-2), timedelta(seconds=-1), timedelta(0), timedelta(seconds=1),
            timedelta(hours=23, minutes=59), timedelta(days=1, seconds=1),
            timedelta(days=3, hours=12), timedelta(days=10)]
SHARED_CLASSES = {"sgd", "momentum", "adagrad", "rmsprop", "adam"}  # ex06 repeats them


def points_table() -> dict[str, dict[str, float]]:
    """grading.toml read directly: ``{worksheet: {item: points}}`` in file order."""
    with open(worksheets.SOLUTIONS / worksheets.POINTS_FILE, "rb") as fh:
        return {s: {i: float(p) for i, p in items.items()} for s, items in tomllib.load(fh).items()}


@functools.cache
def mistakes() -> dict[str, corpus.Case]:
    """The mistakes corpus by case name (read once: it is slow to build)."""
    return {c.name: c for c in corpus.mistake_cases()}


def answer_source(nb: dict, item: str) -> str:
    """The source of ``item``'s answer cell in a notebook."""
    for cell in nb["cells"]:
        if worksheets.course_meta(cell) == {"role": "answer", "item": item}:
            return worksheets.source_of(cell)
    raise KeyError(item)


def options(sheet: str, item: str) -> list[str]:
    """The plans an item can have: correct, blank, and each known mistake of it in ``sheet``."""
    wrong = [f"wrong:{c.name}" for c in mistakes().values()
             if c.item == item and c.worksheet == sheet]
    if sheet == "ex06_capstone" and item in SHARED_CLASSES:
        wrong = []  # the mistakes corpus places these in the earlier worksheets
    return ["correct", "blank", *wrong]


def student_plan(n: int, points: dict[str, dict[str, float]]) -> dict[str, dict[str, str]]:
    """Student ``n``'s plan per worksheet and item (0: all correct, 1: all blank)."""
    rng = random.Random(1000 + n)
    plan: dict[str, dict[str, str]] = {}
    for sheet, items in points.items():
        if n >= 2 and rng.random() < 0.1:
            plan[sheet] = dict.fromkeys(items, "missing")
            continue
        plan[sheet] = {item: "correct" if n == 0 else "blank" if n == 1
                       else rng.choice(options(sheet, item)) for item in items}
        if plan[sheet].get("nesterov") == "correct" and plan[sheet]["momentum"] != "correct":
            plan[sheet]["nesterov"] = "blank"  # Nesterov subclasses the student's Momentum
    return plan


def notebook(sheet: str, plan: dict[str, str]) -> dict:
    """The solution of ``sheet`` with each item's cell as the plan says."""
    nb = corpus.solution(sheet)
    stub = json.loads((worksheets.EXERCISES / f"{sheet}.ipynb").read_text())
    cases = mistakes()
    for item, what in plan.items():
        if what == "blank":
            nb = corpus.with_cell(nb, item, answer_source(stub, item))
        elif what.startswith("wrong:"):
            nb = corpus.with_cell(nb, item, cases[what[6:]].source)
    return nb


def stamp(when: datetime) -> str:
    """A submission time as nbgrader's exchange writes it."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


@dataclass(frozen=True)
class GradedClass:
    """The class folder, its plans and hand-in times, and the gradebook of grading it once."""

    folder: Path
    gradebook: Path
    rows: list[Row]
    plans: dict[str, dict[str, dict[str, str]]]
    handed_in: dict[str, datetime]

    def expected_points(self, student: str, sheet: str) -> float:
        """Independent of the grader: the sum of the points of the items planned correct."""
        points = points_table()[sheet]
        return sum(points[i] for i, what in self.plans[student][sheet].items()
                   if what == "correct")


def build(folder: Path) -> tuple[dict, dict]:
    """Write the class into ``folder``; its plans and hand-in times by student."""
    points = points_table()
    plans, times = {}, {}
    for n in range(STUDENTS):
        student = f"s{n:02d}"
        plans[student] = student_plan(n, points)
        times[student] = DUE + LATENESS[n % len(LATENESS)]
        (folder / student).mkdir(parents=True)
        (folder / student / "timestamp.txt").write_text(stamp(times[student]) + "\n")
        for sheet, plan in plans[student].items():
            if "missing" not in plan.values():
                corpus.write(folder, student, sheet, notebook(sheet, plan))
    return plans, times


@functools.lru_cache(maxsize=1)
def graded_class() -> GradedClass:
    """Build and grade the class once per test session, two notebooks at a time."""
    root = Path(tempfile.mkdtemp(prefix="course-class-"))
    atexit.register(shutil.rmtree, root, True)
    folder = root / "submissions"
    plans, times = build(folder)
    gradebook = root / "grades.csv"
    batch = grader.Batch(folder, gradebook, worksheets.load_worksheets(), corpus.LIMITS, jobs=2,
                         seed=20260301)
    return GradedClass(folder, gradebook, grader.grade_folder(batch), plans, times)
