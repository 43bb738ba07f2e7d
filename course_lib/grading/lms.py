"""Grade-import CSVs for Canvas and Moodle: one column per worksheet, students by LMS identity.

* Canvas (Grades > Import): the header ``Student, ID, SIS User ID, SIS Login ID, Section``,
  then one column per worksheet; the second line is ``Points Possible`` with each worksheet's
  maximum; then one line per student. Canvas matches students by ID / SIS ID and assignments
  by their exact name (a column whose name matches no assignment creates one).
* Moodle (Grade administration > Import > CSV file): the header ``Email address, ID number,
  Full name``, then one column per worksheet; one line per student. On the import page map
  "Email address" to "useremail" (or "ID number" to "useridnumber") and each worksheet column
  to its grade item.

Identities come from the roster (:mod:`~course_lib.grading.roster`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from course_lib.grading.report import points_text
from course_lib.grading.roster import CANVAS_IDS, MOODLE_IDS, Roster

NEEDS = {"wide": (), "canvas": CANVAS_IDS, "moodle": MOODLE_IDS}
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_HEADER = ["Email address", "ID number", "Full name"]


def canvas(finals: Mapping[str, Mapping[str, float]], points: Mapping[str, Mapping[str, float]],
           people: Roster) -> list[list[str]]:
    """Canvas's gradebook-import rows (header, Points Possible, students)."""
    rows = [CANVAS_HEADER + list(points),
            ["Points Possible", "", "", "", ""]
            + [points_text(sum(items.values())) for items in points.values()]]
    for student, scores in finals.items():
        p = people.people[student]
        rows.append([p.get("name") or student, p.get("canvas_id"), p.get("sis_user_id"),
                     p.get("sis_login_id"), p.get("section")]
                    + [points_text(scores[s]) for s in points])
    return rows


def moodle(finals: Mapping[str, Mapping[str, float]], points: Mapping[str, Mapping[str, float]],
           people: Roster) -> list[list[str]]:
    """Moodle's CSV grade-import rows (header, students)."""
    rows = [MOODLE_HEADER + list(points)]
    for student, scores in finals.items():
        p = people.people[student]
        rows.append([p.get("email"), p.get("idnumber"), p.get("name") or student]
                    + [points_text(scores[s]) for s in points])
    return rows


def export(fmt: str, finals: Mapping[str, Mapping[str, float]],
           points: Mapping[str, Mapping[str, float]], people: Roster) -> str:
    """The CSV text of format ``fmt`` ("canvas" or "moodle")."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        {"canvas": canvas, "moodle": moodle}[fmt](finals, points, people))
    return buf.getvalue()
