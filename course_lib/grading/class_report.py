"""``course report GRADEBOOK -o DIR``: the class at a glance, as one self-contained HTML page.

``DIR/index.html`` shows, per item, the share of the class that got it right and the most
common named mistakes ("38% put eps inside the square root"), a histogram of the totals, the
students who need attention (missing work, errors, time-outs, policy violations), and, with
``--submissions``, the pairs of students whose answers are near-identical
(:mod:`~course_lib.grading.similarity`). ``DIR/students/`` holds each student's HTML report
(:mod:`~course_lib.grading.html_report`). Plots are PNG images inside the page, drawn with
matplotlib's Agg renderer, so the folder works offline and can be mailed or copied as it is.

Everything is checked before anything is written, and the folder is built under a temporary
name next to ``DIR`` and renamed at the end: a failed run leaves no half-written report. An
existing ``DIR`` is replaced only when it is empty or an earlier report.
"""

from __future__ import annotations

import argparse
import base64
import csv
import io
import math
import os
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course_lib import checks
from course_lib.grading import assembly, grader, lessons, report, sandbox, similarity
from course_lib.grading.html_report import (
    NOTEBOOK_ITEM,
    esc,
    mistake_of,
    page,
    write_student_reports,
)
from course_lib.grading.report import Row, points_text
from course_lib.grading.worksheets import WorksheetError, default_solutions

TOP_MISTAKES = 3  # named mistakes listed per item
MAX_PAIRS = 200  # similar pairs listed (the most alike first)
STUDENTS = "students"  # the sub-folder of the per-student reports

# Why a student needs attention, by status (a status not listed, other than correct, wrong
# and note, counts as an error: better one student too many than one missed).
ATTENTION: dict[str, str] = {
    grader.MISSING_WORKSHEET: "missing work", assembly.MISSING_CELL: "missing work",
    checks.MISSING: "missing work", checks.NOT_IMPLEMENTED: "missing work",
    sandbox.TIMED_OUT: "time-outs", sandbox.CPU: "time-outs", grader.BUDGET: "time-outs",
    grader.POLICY: "policy violations", grader.USES_REFERENCE: "policy violations",
}
FINE = frozenset({checks.CORRECT, checks.WRONG, grader.NOTE})
CATEGORIES = ("missing work", "errors", "time-outs", "policy violations")


class ReportError(ValueError):
    """Bad input to ``course report``; the message names the file, line or option."""


# ----- reading the gradebook ------------------------------------------------------------------
def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ReportError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ReportError(f"{where}: {what} must be a finite number >= 0, got {text!r}")
    return value


def check_record(record: Sequence[str], width: int, where: str) -> None:
    """One gradebook line: its number of fields, its points, its names."""
    if len(record) != width:
        raise ReportError(f"{where}: {len(record)} fields, expected {width}")
    points, most = _number(record[3], "points", where), _number(record[4], "max_points", where)
    if points > most:
        raise ReportError(f"{where}: points {record[3]} exceed max_points {record[4]}")
    if not record[0] or not record[1] or not record[2]:
        raise ReportError(f"{where}: student, worksheet and item must not be empty")


def check_gradebook(path: Path) -> None:
    """Raise :class:`ReportError` naming the line when ``path`` is not a readable gradebook."""
    if not path.exists():
        raise ReportError(f"gradebook {path} does not exist")
    if not path.is_file():
        raise ReportError(f"gradebook {path} is not a file")
    count = 0
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh, strict=True)
            header = tuple(next(reader, ()))
            if header not in (report.FIELDS, report.OLD_FIELDS):
                raise ReportError(f"{path}, line 1: the columns are {list(header)}, expected "
                                  f"{list(report.FIELDS)}")
            start = reader.line_num + 1  # a record's first line (feedback may span lines)
            for record in reader:
                check_record(record, len(header), f"{path}, line {start}")
                count, start = count + 1, reader.line_num + 1
    except csv.Error as exc:
        raise ReportError(f"{path}, line {reader.line_num}: not valid CSV ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ReportError(f"{path}: not UTF-8 text (bad byte at offset {exc.start})") from None
    if not count:
        raise ReportError(f"{path} holds no rows")


def load_gradebook(path: Path) -> list[Row]:
    """The rows of a gradebook that :func:`check_gradebook` accepts."""
    check_gradebook(path)
    return report.read_gradebook(path)


# ----- what the page shows --------------------------------------------------------------------
@dataclass
class ItemStats:
    """One (worksheet, item) across the class."""

    worksheet: str
    item: str
    students: int = 0
    correct: int = 0
    mistakes: Counter = field(default_factory=Counter)  # mistake name -> students


def percent(n: int, total: int) -> str:
    """``n`` of ``total`` as a whole percentage: 38%."""
    return f"{100 * n / total:.0f}%" if total else "-"


def worksheet_order(rows: Sequence[Row]) -> list[str]:
    """The worksheets in course order (their names start with the number)."""
    return sorted({r.worksheet for r in rows})


def item_stats(rows: Sequence[Row]) -> list[ItemStats]:
    """Per item, in worksheet and gradebook order: students, right answers, named mistakes."""
    stats: dict[tuple[str, str], ItemStats] = {}
    for r in rows:
        if r.item == NOTEBOOK_ITEM:
            continue
        s = stats.setdefault((r.worksheet, r.item), ItemStats(r.worksheet, r.item))
        s.students += 1
        s.correct += int(r.status == checks.CORRECT)
        if mistake_of(r):
            s.mistakes[mistake_of(r)] += 1
    rank = {name: i for i, name in enumerate(worksheet_order(rows))}
    return sorted(stats.values(), key=lambda s: rank[s.worksheet])  # stable: items keep order


def totals(rows: Sequence[Row]) -> dict[str, tuple[float, float]]:
    """student -> (points, max points)."""
    out: dict[str, tuple[float, float]] = {}
    for r in rows:
        got, most = out.get(r.student, (0.0, 0.0))
        out[r.student] = (got + r.points, most + r.max_points)
    return out


def attention(rows: Sequence[Row]) -> dict[str, dict[str, list[str]]]:
    """student -> category -> entries such as ``ex03_adagrad: all items (timed out)``."""
    items: dict[tuple[str, str], list[str]] = {}  # (student, worksheet) -> its items
    flagged: dict[tuple[str, str, str, str], list[str]] = {}  # (student, why, sheet, status)
    for r in rows:
        items.setdefault((r.student, r.worksheet), []).append(r.item)
        if r.status not in FINE:
            key = (r.student, ATTENTION.get(r.status, "errors"), r.worksheet, r.status)
            flagged.setdefault(key, []).append(r.item)
    found: dict[str, dict[str, list[str]]] = {}
    for (student, category, sheet, status), which in sorted(flagged.items()):
        every = len(which) > 1 and which == items[(student, sheet)]
        entry = f"{sheet}: {'all items' if every else ', '.join(which)} ({status})"
        found.setdefault(student, {}).setdefault(category, []).append(entry)
    return found


# ----- plots ----------------------------------------------------------------------------------
def png(fig) -> str:
    """A matplotlib figure as an ``<img>`` with an inline PNG (no timestamp in the file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{esc(fig.get_label())}" src="data:image/png;base64,{data}">'


def histogram(points: Sequence[float], most: float) -> str:
    """A histogram of the students' totals, one bar per point."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3), label="histogram of the totals")
    ax = fig.subplots()
    top = max(1, math.ceil(most))
    ax.hist(points, bins=[b - 0.5 for b in range(top + 2)], color="tab:blue", edgecolor="white")
    ax.set_xlabel(f"total points (of {points_text(most)})")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return png(fig)


def share_chart(stats: Sequence[ItemStats]) -> str:
    """Horizontal bars: the share of the class that got each item right."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.8 + 0.28 * len(stats)), label="share of right answers per item")
    ax = fig.subplots()
    labels = [f"{s.worksheet.split('_')[0]} {s.item}" for s in stats]
    ax.barh(range(len(stats)), [100 * s.correct / s.students for s in stats], color="tab:green")
    ax.set_yticks(range(len(stats)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the class with a right answer")
    fig.tight_layout()
    return png(fig)


# ----- the page -------------------------------------------------------------------------------
def _student_link(student: str, links: dict[str, str]) -> str:
    if student in links:
        return f'<a href="{esc(links[student])}">{esc(student)}</a>'
    return esc(student)


def items_section(stats: Sequence[ItemStats]) -> str:
    """The table of items: right answers and the most common named mistakes."""
    lines = ["<h2>Items</h2>", share_chart(stats), "<table>",
             "<tr><th>worksheet</th><th>item</th><th>right</th><th>most common mistakes</th></tr>"]
    for s in stats:
        common = sorted(((n, lessons.phrase(m)) for m, n in s.mistakes.items()),
                        key=lambda entry: (-entry[0], entry[1]))  # ties: as the reader sees them
        named = "<br>".join(f"{percent(n, s.students)} {esc(words)}"
                            for n, words in common[:TOP_MISTAKES])
        lines.append(f"<tr><td>{esc(s.worksheet)}</td><td>{esc(s.item)}</td>"
                     f"<td class=\"num\">{percent(s.correct, s.students)} "
                     f"({s.correct} of {s.students})</td><td>{named}</td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def attention_section(rows: Sequence[Row], links: dict[str, str]) -> str:
    """The students with missing work, errors, time-outs or policy violations."""
    found = attention(rows)
    lines = ["<h2>Students who need attention</h2>"]
    if not found:
        return lines[0] + "\n<p>Nobody: every answer was graded as right or wrong.</p>"
    lines += ["<table>", "<tr><th>student</th>" + "".join(f"<th>{c}</th>" for c in CATEGORIES)
              + "</tr>"]
    for student, why in found.items():
        cells = "".join(f"<td>{'<br>'.join(esc(e) for e in why.get(c, []))}</td>"
                        for c in CATEGORIES)
        lines.append(f"<tr><td>{_student_link(student, links)}</td>{cells}</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def similarity_section(scan: similarity.Scan, links: dict[str, str]) -> str:
    """The near-identical answer pairs, to look at (they are not a verdict)."""
    left_out = ", ".join(f"{n} {why}" for why, n in sorted(scan.skipped.items()))
    lines = ["<h2>Similar answers</h2>",
             f"<p>Pairs of students whose answers to one item are the same after renaming "
             f"variables and dropping comments and docstrings, or alike to a similarity of at "
             f"least {similarity.THRESHOLD:g} (1 is identical). They are for you to look at: "
             f"independent students do write alike code, and nothing here changes a grade. "
             f"{scan.compared} answers compared; not compared: {esc(left_out or 'none')}.</p>"]
    if not scan.pairs:
        return "\n".join(lines + ["<p>No similar pairs.</p>"])
    lines += ["<table>", "<tr><th>worksheet</th><th>item</th><th>students</th>"
                         "<th>similarity</th></tr>"]
    for p in scan.pairs[:MAX_PAIRS]:
        alike = "identical up to names and formatting" if p.identical else f"{p.similarity:.2f}"
        lines.append(f"<tr><td>{esc(p.worksheet)}</td><td>{esc(p.item)}</td><td>"
                     f"{_student_link(p.first, links)} and {_student_link(p.second, links)}"
                     f"</td><td>{alike}</td></tr>")
    lines.append("</table>")
    if len(scan.pairs) > MAX_PAIRS:
        lines.append(f"<p>... and {len(scan.pairs) - MAX_PAIRS} more pairs, less alike.</p>")
    return "\n".join(lines)


def index_html(rows: Sequence[Row], links: dict[str, str],
               scan: similarity.Scan | None = None) -> str:
    """The class page; ``links`` maps students to their report's relative URL."""
    sums = totals(rows)
    points = [got for got, _ in sums.values()]
    most = max(m for _, m in sums.values())
    body = ["<h1>Class report</h1>",
            f"<p>{len(sums)} students, worksheets {esc(', '.join(worksheet_order(rows)))}. "
            f"Total points: mean {statistics.mean(points):.1f}, median "
            f"{points_text(statistics.median(points))} of {points_text(most)}.</p>",
            items_section(item_stats(rows)), "<h2>Totals</h2>", histogram(points, most),
            attention_section(rows, links)]
    if scan is not None:
        body.append(similarity_section(scan, links))
    body += ["<h2>All students</h2>", "<table>", "<tr><th>student</th><th>points</th></tr>"]
    body += [f"<tr><td>{_student_link(s, links)}</td><td class=\"num\">{points_text(got)} / "
             f"{points_text(top)}</td></tr>" for s, (got, top) in sorted(sums.items())]
    body.append("</table>")
    return page("Class report", "\n".join(body))


# ----- writing the folder ---------------------------------------------------------------------
def check_output(out: Path) -> None:
    """Refuse an output that is a file, a folder with other content, or has no parent."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ReportError(f"output {out} is a file (or a link); give a folder for the report")
    if not out.parent.is_dir():
        raise ReportError(f"the folder {out.parent} for the output does not exist")
    if out.is_dir():
        content = {p.name for p in out.iterdir()}
        if content and (content - {"index.html", STUDENTS} or "index.html" not in content):
            raise ReportError(f"output folder {out} holds other files than a class report; "
                              f"choose a new folder")


def lectures_for(out: Path, kind: str = "book", url: str | None = None) -> lessons.Lectures:
    """Where the student pages link: ``url``, else the website built by ``make book`` (as a
    path relative to ``out/students``, so no absolute path is written) or ``make lab``."""
    if url is None:
        url = lessons.LAB_URL if kind == "lab" else os.path.relpath(
            lessons.BOOK, out.absolute() / STUDENTS).replace(os.sep, "/") + "/"
    return lessons.Lectures(url if url.endswith("/") else url + "/", kind)


def write_report(out: Path, rows: Sequence[Row], scan: similarity.Scan | None = None,
                 lectures: lessons.Lectures | None = None) -> Path:
    """Build the report under a temporary name next to ``out``, then rename it to ``out``."""
    check_output(out)
    lectures = lectures or lectures_for(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        os.chmod(tmp, 0o755)
        written = write_student_reports(tmp / STUDENTS, rows, worksheet_order(rows), lectures)
        links = {s: f"{STUDENTS}/{p.name}" for s, p in written.items()}
        (tmp / "index.html").write_text(index_html(rows, links, scan), encoding="utf-8")
        if out.exists():  # an earlier report (check_output made sure): swap, then delete it
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / "report")
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"


# ----- the command ----------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``course report``."""
    parser.add_argument("gradebook", type=Path, help="the gradebook CSV written by course grade")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="folder to write (index.html and students/)")
    parser.add_argument("--submissions", type=Path, default=None,
                        help="the class folder that was graded: adds the similar answers")
    parser.add_argument("--solutions", type=Path, default=None,
                        help="folder with the worksheets and grading.toml, for --submissions "
                             "(default: the course's solutions/)")
    parser.add_argument("--lectures", choices=lessons.KINDS, default="book",
                        help="link the lectures on the course website (book, the default: "
                             "`make book`; the link opens the section) or in JupyterLab (lab: "
                             "`make lab`; it opens the notebook at its top, the link's text "
                             "names the section)")
    parser.add_argument("--lectures-url", default=None, metavar="URL",
                        help="the website's (or JupyterLab's /lab/tree/) address, for the links "
                             "(default: the website in _build/book, or "
                             f"{lessons.LAB_URL} for --lectures lab)")


def run(args: argparse.Namespace) -> int:
    """Check the input, write the report, print where it is; 2 on bad input."""
    try:
        rows = load_gradebook(args.gradebook)
        check_output(args.output)
        scan = None
        if args.submissions is not None:
            if not args.submissions.is_dir():
                raise ReportError(f"submissions folder {args.submissions} does not exist")
            scan = similarity.scan_class(args.submissions, args.solutions or default_solutions())
        lectures = lectures_for(args.output, args.lectures, args.lectures_url)
        index = write_report(args.output, rows, scan, lectures)
    except (ReportError, WorksheetError, OSError) as exc:
        print(f"course report: {exc}", file=sys.stderr)
        return 2
    print(f"class report: {index}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``course report GRADEBOOK -o DIR [--submissions DIR]``."""
    parser = argparse.ArgumentParser(prog="course report", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
