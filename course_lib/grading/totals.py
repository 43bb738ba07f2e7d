"""``course totals``: points per student and worksheet from a gradebook, ready for a spreadsheet
or a learning system, after the instructor's overrides and late penalties.

::

    course totals GRADEBOOK -o OUT.csv [--format wide|canvas|moodle] [--roster CSV]
                  [--overrides CSV] [--late LATE.toml --submissions DIR]

* ``wide`` (default): ``student, <one column per worksheet, in grading.toml order>, total,
  max_total``; with ``--late`` two more columns, ``late_penalty`` (points taken off in all)
  and ``late_note`` (which worksheets, how late, what share).
* ``canvas`` and ``moodle``: the systems' grade-import CSVs (:mod:`~course_lib.grading.lms`),
  one column per worksheet holding its final points; they need ``--roster``
  (:mod:`~course_lib.grading.roster`).

Overrides (:mod:`~course_lib.grading.overrides`) replace an item's points; late penalties
(:mod:`~course_lib.grading.late`) take a share of a worksheet's points. With either, the
students' feedback is written again, with the changes and their reasons, to
``OUT-NAME_feedback/`` next to OUT.csv (the grader's own reports are left as they are).

Every input is checked before anything is written: a bad row, date, policy or time stamp is
an error naming the file, line and value, and OUT.csv (new or old) is not touched.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.grading import integrity, late, lms, overrides, report, roster, worksheets
from course_lib.grading.report import Row, points_text
from course_lib.grading.tables import InputError

FORMATS = ("wide", "canvas", "moodle")
ROUND = 4  # decimals kept in penalties (0.1 * 3 days of 4 points is 1.2, not 1.2000000000000002)


@dataclass
class Student:
    """One student's final points per worksheet, and what was taken off for lateness."""

    name: str
    points: dict[str, float]  # worksheet -> points after overrides, before the penalty
    late: dict[str, report.Deduction] = field(default_factory=dict)
    lateness: dict[str, tuple[int, float]] = field(default_factory=dict)  # days, share lost

    def final(self, sheet: str) -> float:
        """A worksheet's points after the late penalty."""
        return round(self.points[sheet] - self.late.get(sheet, (0.0, ""))[0], ROUND)

    @property
    def total(self) -> float:
        """All worksheets' final points."""
        return round(sum(self.final(s) for s in self.points), ROUND)

    @property
    def penalty(self) -> float:
        """Points taken off for lateness in all."""
        return round(sum(d for d, _ in self.late.values()), ROUND)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``course totals``."""
    p.add_argument("gradebook", type=Path, help="the gradebook CSV `course grade` wrote")
    p.add_argument("-o", "--output", type=Path, required=True, help="the totals CSV to write")
    p.add_argument("--format", choices=FORMATS, default="wide",
                   help="wide (a spreadsheet, default), canvas or moodle (their grade import)")
    p.add_argument("--roster", type=Path, default=None,
                   help="CSV mapping student folders to LMS accounts (needed for canvas, moodle)")
    p.add_argument("--overrides", type=Path, default=None,
                   help="CSV student,worksheet,item,points,comment of manual grades")
    p.add_argument("--late", type=Path, default=None,
                   help="TOML with the due dates and the late penalty policy")
    p.add_argument("--submissions", type=Path, default=None,
                   help="the class folder, for each student's timestamp.txt (with --late)")
    p.add_argument("--solutions", type=Path, default=worksheets.default_solutions(),
                   help="folder with grading.toml (default: the course's solutions/)")


def check_gradebook(rows: Sequence[Row], points: Mapping[str, Mapping[str, float]],
                    path: Path) -> None:
    """Every worksheet of the gradebook is one of grading.toml's."""
    stray = sorted({r.worksheet for r in rows} - set(points))
    if stray:
        raise InputError(f"{path}: worksheet {stray[0]!r} is not in grading.toml (its "
                         f"worksheets are {', '.join(points)}); pass the --solutions it was "
                         f"graded with")


def students_of(rows: Sequence[Row], points: Mapping[str, Mapping[str, float]],
                extra: Sequence[str] = ()) -> dict[str, Student]:
    """Each student's points per worksheet, counting only grading.toml's items."""
    out = {s: Student(s, dict.fromkeys(points, 0.0)) for s in sorted({r.student for r in rows})}
    for s in extra:
        out.setdefault(s, Student(s, dict.fromkeys(points, 0.0)))
    for r in rows:
        if r.item in points.get(r.worksheet, {}):
            out[r.student].points[r.worksheet] += r.points
    return out


def late_penalties(found: dict[str, Student], rows: Sequence[Row], policy: late.Policy,
                   submissions: Path) -> None:
    """Fill in each student's late deductions from their folder's timestamp.txt."""
    from course_lib.grading import grader  # only its status names (it imports numpy)

    handed_in = {r.student for r in rows
                 if r.status not in (grader.MISSING_WORKSHEET, grader.REFUSED)}
    for name in sorted(handed_in):
        when = late.read_timestamp(submissions / name)
        student = found[name]
        for sheet, got in student.points.items():
            share, days = policy.fraction(sheet, when)
            if share and got:
                taken = round(got * share, ROUND)
                student.lateness[sheet] = (days, share)
                student.late[sheet] = (taken, (
                    f"Late by {late.days_text(days)} (handed in {when.isoformat(' ')}, due "
                    f"{policy.due[sheet].isoformat(' ')}): {share:.0%} of its points, "
                    f"{points_text(taken)}, taken off ({policy.policy})."))


def wide(found: Mapping[str, Student], points: Mapping[str, Mapping[str, float]],
         with_late: bool) -> str:
    """The ``wide`` CSV text."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    most = sum(sum(items.values()) for items in points.values())
    out.writerow(["student", *points, "total", "max_total"]
                 + (["late_penalty", "late_note"] if with_late else []))
    for s in found.values():
        note = "; ".join(f"{sheet}: {late.days_text(days)} late, -{share:.0%} = "
                         f"-{points_text(s.late[sheet][0])}"
                         for sheet, (days, share) in s.lateness.items())
        out.writerow([s.name, *(points_text(s.final(sh)) for sh in points), points_text(s.total),
                      points_text(most)] + ([points_text(s.penalty), note] if with_late else []))
    return buf.getvalue()


def warn_untrusted(gradebook: Path) -> None:
    """Say so when the gradebook's MAC does not verify (it may have been changed by hand)."""
    try:
        why = integrity.problem(gradebook, gradebook.with_name(gradebook.name + ".sha256.json"),
                                integrity.read_key(integrity.key_path()))
    except integrity.KeyFileError as exc:
        why = str(exc)
    if why:
        print(f"course totals: WARNING: {gradebook} cannot be verified: {why}. Check it, or "
              f"regrade with `course grade`.", file=sys.stderr)


def build(args: argparse.Namespace) -> tuple[str, dict[str, Student], list[Row]]:
    """Read and check every input; the output text, the students and the adjusted rows."""
    points = worksheets.load_points(args.solutions)
    rows = report.read_gradebook(args.gradebook)
    check_gradebook(rows, points, args.gradebook)
    people = roster.read_roster(args.roster) if args.roster else None
    if args.format != "wide" and people is None:
        raise InputError(f"--format {args.format} needs --roster CSV (see README: instructors)")
    if people:
        roster.check_roster(people, sorted({r.student for r in rows}), lms.NEEDS[args.format],
                            one_for_all=args.format == "moodle")
    if args.overrides:
        rows = overrides.apply(rows, overrides.read_overrides(args.overrides, rows, points))
    found = students_of(rows, points, sorted(people.people) if people else ())
    if args.late:
        policy = late.load_policy(args.late, list(points))
        if args.submissions is None:
            raise InputError("--late needs --submissions DIR (the class folder with each "
                             "student's timestamp.txt)")
        late_penalties(found, rows, policy, args.submissions)
    if args.format == "wide":
        return wide(found, points, args.late is not None), found, rows
    finals = {s.name: {sh: s.final(sh) for sh in points} for s in found.values()}
    return lms.export(args.format, finals, points, people), found, rows


def run(args: argparse.Namespace) -> int:
    """``course totals``: check every input, then write OUT.csv (and the adjusted feedback)."""
    if args.output.resolve() in {p.resolve() for p in (args.gradebook, args.roster,
                                                       args.overrides, args.late) if p}:
        raise InputError(f"-o {args.output} is one of the inputs; choose another file")
    warn_untrusted(args.gradebook)
    text, found, rows = build(args)
    report.atomic_write(args.output, text)
    print(f"totals: {args.output} ({args.format}, {len(found)} students)")
    if args.overrides or args.late:
        folder = args.output.with_name(f"{args.output.stem}_feedback")
        report.write_reports(folder, rows, list(worksheets.load_points(args.solutions)),
                             {s.name: s.late for s in found.values()})
        print(f"feedback with the overrides and penalties: {folder}/")
    missing = sorted(set(found) - {r.student for r in rows})
    if missing:
        print(f"course totals: {len(missing)} roster students have no graded work and get 0: "
              f"{', '.join(missing)}", file=sys.stderr)
    return 0
