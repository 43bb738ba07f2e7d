"""The ``course`` command: generate the exercises, grade a class, check one notebook.

::

    course exercises [--check]                     # exercises/ from solutions/ (or find drift)
    course grade SUBMISSIONS -o grades.csv [--jobs N] [--force] [--timeout S] [--memory MB]
    course check NOTEBOOK                          # a student grades their own worksheet
    course totals GRADEBOOK -o OUT.csv [--format wide|canvas|moodle] [--roster CSV]
                  [--overrides CSV] [--late LATE.toml --submissions DIR]
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from course_lib.grading import worksheets
from course_lib.grading.sandbox import Limits


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_limits(p: argparse.ArgumentParser) -> None:
    """The sandbox options shared by ``grade`` and ``check``."""
    p.add_argument("--timeout", type=positive_float, default=30.0, metavar="S",
                   help="wall-time limit in seconds for each cell and each graded call "
                        "(default 30)")
    p.add_argument("--memory", type=positive_int, default=1024, metavar="MB",
                   help="memory (address space) limit of each grading process (default 1024)")
    p.add_argument("--max-output", type=positive_int, default=1024, metavar="KB",
                   help="how much a notebook may print before it is stopped (default 1024)")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                   help="isolation of each grading process: bwrap (bubblewrap: read-only view "
                        "of Python, numpy and the runner, private /tmp, no network, own PID "
                        "namespace), none, or auto (bwrap if it works, else a PID namespace "
                        "with unshare, else none; default)")
    p.add_argument("--solutions", type=Path, default=worksheets.default_solutions(),
                   help="folder with the worksheets and grading.toml (default: the course's "
                        "solutions/; a copy of exercises/ plus grading.toml works as well)")


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``course``."""
    top = argparse.ArgumentParser(prog="course", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("exercises", help="write exercises/ from solutions/")
    ex.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if exercises/ differs from what would be written")
    ex.add_argument("--solutions", type=Path, default=worksheets.SOLUTIONS)
    ex.add_argument("--exercises", type=Path, default=worksheets.EXERCISES)
    ex.add_argument("--force", action="store_true",
                    help="also replace worksheets that hold answers (each kept as .bak first)")
    gr = sub.add_parser("grade", help="grade a folder with one sub-folder per student")
    gr.add_argument("submissions", type=Path)
    gr.add_argument("-o", "--output", type=Path, required=True, help="the gradebook CSV")
    gr.add_argument("--jobs", type=positive_int, default=1, help="notebooks graded at once")
    gr.add_argument("--force", action="store_true",
                    help="regrade everything instead of resuming from the gradebook")
    gr.add_argument("--reports", type=Path, default=None,
                    help="folder for the per-student feedback (default: next to the gradebook, "
                         "GRADEBOOK-NAME_feedback/)")
    gr.add_argument("--seed", type=int, default=None,
                    help="seed for the random test inputs (default: fresh each run)")
    add_limits(gr)
    ck = sub.add_parser("check", help="grade one worksheet notebook and print the feedback")
    ck.add_argument("notebook", type=Path)
    ck.add_argument("--worksheet", default=None,
                    help="which worksheet it is (default: from the file name)")
    add_limits(ck)
    from course_lib.grading import totals

    totals.add_arguments(sub.add_parser(
        "totals", help="points per student and worksheet (overrides, late penalties), as a "
                       "spreadsheet or a Canvas or Moodle import"))
    from course_lib.grading import class_report

    class_report.add_arguments(sub.add_parser(
        "report", help="the class report (right-answer shares, common mistakes, totals, "
                       "students to look at, similar answers) and an HTML page per student"))
    return top


def limits_from(args: argparse.Namespace) -> Limits:
    """Sandbox limits from the command line (CPU time: generous, a backstop to the timeout)."""
    return Limits(timeout=args.timeout, memory_mb=args.memory, output_kb=args.max_output,
                  cpu_seconds=max(60, int(10 * args.timeout)),
                  notebook_seconds=max(60.0, 8 * args.timeout), sandbox=args.sandbox)


def shown(path: Path) -> str:
    """A path relative to the working directory when it is below it (shorter messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_exercises(args: argparse.Namespace) -> int:
    """Regenerate the exercises (never over a student's answers), or report drift."""
    if args.check:
        return report_drift(worksheets.exercise_changes(args.solutions, args.exercises))
    try:
        written = worksheets.write_exercises(args.solutions, args.exercises, force=args.force)
    except worksheets.StudentWorkError as exc:
        print(f"course exercises: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"{shown(path)}: written")
    if not written:
        print("exercises are up to date")
    return 0


def report_drift(changes: list[worksheets.ExerciseChange]) -> int:
    """Print what ``course exercises`` would change; 1 if anything but answers differs."""
    failed = False
    for c in changes:
        if c.kind == "answers":
            cells = ", ".join(c.answer_cells)
            if c.drifted:
                failed = True
                print(f"{shown(c.path)}: holds a student's answers (cells {cells}) and its other "
                      "cells differ from solutions/; `course exercises` will not replace it "
                      "(`--force` keeps a .bak)")
            else:
                print(f"{shown(c.path)}: holds a student's answers (cells {cells}); "
                      "otherwise up to date")
        else:
            failed = True
            verb = {"missing": "is missing", "stale": "is out of date",
                    "stray": "has no solution in solutions/",
                    "points": "has check cells whose nbgrader points differ from "
                              "grading.toml"}[c.kind]
            print(f"{shown(c.path)}: {verb}")
    if failed:
        print("run `course exercises` (make exercises) to regenerate them", file=sys.stderr)
        return 1
    if not changes:
        print("exercises are up to date")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade a class folder, write the gradebook and reports, print the summary."""
    from course_lib.grading import grader, isolation, report

    sheets = worksheets.load_worksheets(args.solutions)
    folder = args.reports or args.output.with_name(f"{args.output.stem}_feedback")
    batch = grader.Batch(args.submissions, args.output, sheets, limits_from(args), args.jobs,
                         args.force, secrets.randbits(63) if args.seed is None else args.seed,
                         args.solutions, folder)
    off = [name for name, on in isolation.protections(args.sandbox).items() if not on]
    if off:
        print("course grade: WARNING: these protections are OFF on this machine: "
              + "; ".join(off), file=sys.stderr)
    rows = grader.grade_folder(batch, report.Progress())
    for r in rows:  # never silent: a submission that changed, a folder that was refused
        if r.status == grader.CHANGED:
            print(f"course grade: {r.student}/{r.worksheet}: {r.feedback}", file=sys.stderr)
    for student in sorted({r.student for r in rows if r.status == grader.REFUSED}):
        print(f"course grade: {student}: refused, graded 0 (a symbolic link or not a folder)",
              file=sys.stderr)
    order = [s.name for s in sheets]
    report.write_reports(folder, rows, order)
    print(report.summary_table(rows, order))
    print(f"gradebook: {args.output}; feedback reports: {folder}/")
    return 0


def worksheet_of(notebook: Path, sheets: Sequence[str]) -> str:
    """The worksheet a file name names: its stem, or the sheet it is a download copy of.

    ``ex01_gradient_descent (1).ipynb`` and ``ex01_gradient_descent-Copy1.ipynb`` are the
    browser's and Jupyter's names for a second copy of ``ex01_gradient_descent.ipynb``.
    """
    from course_lib.grading.snapshot import DOWNLOAD_COPY

    for sheet in sheets:
        if re.fullmatch(re.escape(sheet) + DOWNLOAD_COPY, notebook.stem, re.IGNORECASE):
            return sheet
    return notebook.stem


def cmd_check(args: argparse.Namespace) -> int:
    """Grade one notebook and print each item's verdict; exit 1 unless all are correct."""
    from course_lib.grading import grader, report

    sheets = {s.name: s for s in worksheets.load_worksheets(args.solutions)}
    if not args.notebook.is_file():
        print(f"course check: {args.notebook} is not a file", file=sys.stderr)
        return 2
    name = args.worksheet or worksheet_of(args.notebook, sheets)
    if name not in sheets:
        print(f"course check: {name!r} is not a worksheet; use --worksheet with one of "
              f"{sorted(sheets)}", file=sys.stderr)
        return 2
    rows = grader.grade_notebook(sheets[name], args.notebook, limits_from(args),
                                 grader.seed_for(secrets.randbits(63), "", name))
    for r in rows:
        print(f"[{report.points_text(r.points)}/{report.points_text(r.max_points)}] "
              f"{r.item}: {r.status}")
        if r.status not in ("correct", "not implemented yet"):
            print("    " + r.feedback.replace("\n", "\n    "))
    total, most = sum(r.points for r in rows), sum(r.max_points for r in rows)
    print(f"{name}: {report.points_text(total)} / {report.points_text(most)} points")
    return 0 if total == most else 1


def cmd_totals(args: argparse.Namespace) -> int:
    """Write the totals of a gradebook (see :mod:`course_lib.grading.totals`)."""
    from course_lib.grading import totals

    return totals.run(args)


def cmd_report(args: argparse.Namespace) -> int:
    """Write the class report (see :mod:`course_lib.grading.class_report`)."""
    from course_lib.grading import class_report

    return class_report.run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``course`` console command."""
    args = parser().parse_args(argv)
    commands = {"exercises": cmd_exercises, "grade": cmd_grade, "check": cmd_check,
                "totals": cmd_totals, "report": cmd_report}
    try:
        return commands[args.command](args)
    except (worksheets.WorksheetError, NotADirectoryError, FileNotFoundError, ValueError,
            RuntimeError) as exc:
        print(f"course {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
