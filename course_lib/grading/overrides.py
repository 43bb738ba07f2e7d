"""Manual overrides: an instructor's points for an item, replacing the autograde, with a reason.

A UTF-8 CSV with the header ``student,worksheet,item,points,comment``: one row per changed
item. ``points`` is the item's new score, from 0 to the item's points in grading.toml;
``comment`` (may be empty) is shown to the student next to the change. Every row is checked
before anything is used: an unknown student, worksheet or item, points that are not a number
or out of range, a missing column and a second row for the same item are errors naming the line.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from course_lib.grading.report import Row, points_text
from course_lib.grading.tables import fail, read_rows

COLUMNS = ("student", "worksheet", "item", "points", "comment")
OVERRIDDEN = "overridden"


@dataclass(frozen=True)
class Override:
    """One instructor's decision about one item."""

    student: str
    worksheet: str
    item: str
    points: float
    comment: str
    line: int


def _problem(row: dict, students: set[str], points: Mapping[str, Mapping[str, float]]) -> str:
    """What is wrong with one override row ("" when nothing is)."""
    student, sheet, item = row["student"], row["worksheet"], row["item"]
    if student not in students:
        return f"unknown student {student!r} (not in the gradebook)"
    if sheet not in points:
        return f"unknown worksheet {sheet!r} (grading.toml has {', '.join(points)})"
    if item not in points[sheet]:
        return (f"unknown item {item!r} of {sheet} (it has {', '.join(points[sheet])})")
    most = points[sheet][item]
    try:
        value = float(row["points"])
    except ValueError:
        return f"points {row['points']!r} is not a number"
    if not math.isfinite(value) or not 0 <= value <= most:
        return f"points {row['points']} is outside 0 to {points_text(most)} ({sheet}/{item})"
    return ""


def read_overrides(path: Path, graded: Iterable[Row],
                   points: Mapping[str, Mapping[str, float]]) -> list[Override]:
    """Every override of ``path``, checked against the gradebook's rows and grading.toml."""
    _, rows = read_rows(path, COLUMNS)
    have = {(r.student, r.worksheet, r.item) for r in graded}
    known = {student for student, _, _ in have}
    found: dict[tuple[str, str, str], Override] = {}
    problems = []
    for line, row in rows:
        why = _problem(row, known, points)
        key = (row["student"], row["worksheet"], row["item"])
        if not why and key not in have:
            why = f"the gradebook has no row for {'/'.join(key)} to override"
        elif not why and key in found:
            why = f"a second override of {'/'.join(key)} (the first is on line {found[key].line})"
        if why:
            problems.append(f"line {line}: {why}")
        else:
            found[key] = Override(*key, float(row["points"]), row["comment"], line)
    fail(path, problems)
    return list(found.values())


def apply(rows: Iterable[Row], overrides: Iterable[Override]) -> list[Row]:
    """The rows with each override's points; its feedback says what changed and why."""
    by_key = {(o.student, o.worksheet, o.item): o for o in overrides}
    out = []
    for r in rows:
        o = by_key.get((r.student, r.worksheet, r.item))
        if o is None:
            out.append(r)
            continue
        note = (f"The instructor set this item to {points_text(o.points)} / "
                f"{points_text(r.max_points)} points (the autograder gave "
                f"{points_text(r.points)}, {r.status})" + (f": {o.comment}" if o.comment else "."))
        out.append(dataclasses.replace(r, points=o.points, status=OVERRIDDEN,
                                       feedback=note + "\n\n" + r.feedback))
    return out
