"""The roster: which learning-system account each student folder belongs to.

A UTF-8 CSV with a header and one row per student. ``student`` (the folder name in the
submissions, as in the gradebook) is required; the other columns are what an export needs:

* Canvas: ``name`` (shown as the student, e.g. "Lee, Ann"), ``canvas_id`` (Canvas's user ID),
  ``sis_user_id``, ``sis_login_id``, ``section``; at least one of the three IDs per student;
* Moodle: ``email`` or ``idnumber`` (the user's ID number), at least one, filled for everyone.

Other columns are ignored, so one roster can serve both systems.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from course_lib.grading.tables import fail, read_rows

CANVAS_IDS = ("canvas_id", "sis_user_id", "sis_login_id")
MOODLE_IDS = ("email", "idnumber")


@dataclass(frozen=True)
class Person:
    """One roster row."""

    student: str
    fields: dict[str, str]
    line: int

    def get(self, column: str) -> str:
        """The value of ``column`` ("" when the roster has no such column)."""
        return self.fields.get(column, "")


@dataclass(frozen=True)
class Roster:
    """The roster's columns and its rows by student."""

    path: Path
    columns: tuple[str, ...]
    people: dict[str, Person]


def read_roster(path: Path) -> Roster:
    """The roster; a duplicate or empty student is an error naming the lines."""
    header, rows = read_rows(path, ["student"])
    people: dict[str, Person] = {}
    problems = []
    for line, row in rows:
        student = row["student"]
        if not student:
            problems.append(f"line {line}: the student cell is empty")
        elif student in people:
            problems.append(f"line {line}: student {student!r} is listed twice (first on line "
                            f"{people[student].line})")
        else:
            people[student] = Person(student, row, line)
    fail(path, problems)
    return Roster(path, tuple(header), people)


def check_roster(roster: Roster, students: list[str], needed: tuple[str, ...] = (),
                 one_for_all: bool = False) -> None:
    """Every graded student has a row, with at least one of the ``needed`` identifiers.

    With ``one_for_all`` one of the ``needed`` columns must be filled in every row (Moodle
    matches the whole file on a single identifier).
    """
    problems = [f"student {s!r} of the gradebook has no row (add one with student = {s})"
                for s in students if s not in roster.people]
    present = [c for c in needed if c in roster.columns]
    if needed and not present:
        problems.append(f"line 1: needs a column {' or '.join(needed)} for this format")
    elif one_for_all and not any(all(p.get(c) for p in roster.people.values())
                                 for c in present):
        problems += [f"line {p.line}: student {p.student!r} has no {present[0]} (one "
                     f"identifier, {' or '.join(present)}, must be filled for everyone)"
                     for p in roster.people.values() if not p.get(present[0])]
    elif needed:
        problems += [f"line {p.line}: student {p.student!r} has no {' or '.join(needed)}"
                     for p in roster.people.values() if not any(p.get(c) for c in needed)]
    fail(roster.path, problems)
