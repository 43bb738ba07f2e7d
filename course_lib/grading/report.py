r"""What grading produces: the gradebook CSV, a feedback report per student, a summary table.

The gradebook has one row per (student, worksheet, item): ``student, worksheet, item, points,
max_points, status, feedback, mistake``. ``mistake`` is the stable name of the known mistake the
answer reproduces (:attr:`course_lib.checks.Verdict.mistake`, e.g. ``eps inside the sqrt``),
empty when none was recognised. It is always written whole to a temporary file and then renamed
over the old one (``os.replace``), so a reader never sees a half-written file.

Every gradebook line is one row: the ``feedback`` cell is stored on one line, with a
backslash escape that :func:`one_line` and :func:`from_one_line` undo exactly: a newline is
written as the two characters ``\n``, a carriage return as ``\r`` and a backslash as ``\\``.
The Markdown reports show the full multi-line text. A gradebook written before the ``mistake``
column existed (its feedback cells may hold real newlines, never escapes) still reads: its
feedback is taken as it is and its mistakes are empty.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TextIO


@dataclass
class Row:
    """One graded item of one student's worksheet."""

    student: str
    worksheet: str
    item: str
    points: float
    max_points: float
    status: str
    feedback: str
    mistake: str = ""  # the known mistake's name, "" when none was recognised

    def astuple(self) -> tuple:
        """The row's values in column order."""
        return astuple(self)


FIELDS = tuple(f.name for f in fields(Row))
OLD_FIELDS = FIELDS[:-1]  # gradebooks written before the mistake column (multi-line feedback)
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\\\": "\\", "\\n": "\n", "\\r": "\r"}


def one_line(text: str) -> str:
    """``text`` on one line: newline -> ``\\n``, carriage return -> ``\\r``, ``\\`` -> ``\\\\``."""
    return re.sub(r"[\\\n\r]", lambda m: _ESCAPES[m.group()], text)


def from_one_line(text: str) -> str:
    """The text :func:`one_line` was given (a lone backslash is kept as it is)."""
    return re.sub(r"\\[\\nr]", lambda m: _UNESCAPES[m.group()], text)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def points_text(x: float) -> str:
    """Points without a useless ``.0``: 3, 1.5."""
    return f"{x:g}"


def write_gradebook(path: Path, rows: Iterable[Row]) -> None:
    """The gradebook CSV, written atomically."""
    atomic_write(path, gradebook_text(rows))


def gradebook_text(rows: Iterable[Row]) -> str:
    """The gradebook CSV's text: a header line, then one line per row."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(FIELDS)
    for r in rows:
        writer.writerow([r.student, r.worksheet, r.item, points_text(r.points),
                         points_text(r.max_points), r.status, one_line(r.feedback), r.mistake])
    return buf.getvalue()


def read_gradebook(path: Path) -> list[Row]:
    """Rows of an existing gradebook (old ones without ``mistake`` too); other columns: an error."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = tuple(reader.fieldnames or ())
        if columns not in (FIELDS, OLD_FIELDS):
            raise ValueError(f"{path} is not a gradebook: its columns are {reader.fieldnames}, "
                             f"expected {list(FIELDS)}")
        old = columns == OLD_FIELDS
        return [Row(d["student"], d["worksheet"], d["item"], float(d["points"]),
                    float(d["max_points"]), d["status"],
                    d["feedback"] if old else from_one_line(d["feedback"]),
                    "" if old else d["mistake"]) for d in reader]


def sort_rows(rows: Iterable[Row], worksheets: Sequence[str]) -> list[Row]:
    """Rows by student, then worksheet in course order; items keep their order."""
    rank = {name: i for i, name in enumerate(worksheets)}
    return sorted(rows, key=lambda r: (r.student, rank.get(r.worksheet, len(rank)), r.worksheet))


# ----- per-student feedback --------------------------------------------------------------------
def safe_name(student: str) -> str:
    """A file name for a student folder name (no path separators or odd characters).

    A name that had to be changed gets a short hash of the original, so two folders that
    differ only in such characters ("ann lee", "ann_lee") never share a report.
    """
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._")[:80] or "student"
    if name != student:
        name += "-" + hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return name


Deduction = tuple[float, str]  # points taken off a worksheet, and why (late work)


def feedback_markdown(student: str, rows: Sequence[Row], worksheets: Sequence[str],
                      deductions: Mapping[str, Deduction] | None = None) -> str:
    """One student's report: totals, then each worksheet's items with status and feedback.

    ``deductions`` (worksheet -> points, reason) are taken off the worksheet and the total,
    and the reason is shown under the worksheet's heading.
    """
    deductions = deductions or {}
    total = sum(r.points for r in rows) - sum(d for d, _ in deductions.values())
    out = [f"# Feedback for {student}", "",
           f"Total: **{points_text(total)} / {points_text(sum(r.max_points for r in rows))}** "
           f"points.", ""]
    for sheet in worksheets:
        mine = [r for r in rows if r.worksheet == sheet]
        if not mine:
            continue
        taken, why = deductions.get(sheet, (0.0, ""))
        got, most = sum(r.points for r in mine) - taken, sum(r.max_points for r in mine)
        out += [f"## {sheet}: {points_text(got)} / {points_text(most)}", ""]
        if why:
            out += [f"{why}", ""]
        out += ["| item | points | status |", "|---|---|---|"]
        out += [f"| {r.item} | {points_text(r.points)} / {points_text(r.max_points)} | "
                f"{r.status} |" for r in mine]
        out.append("")
        for r in mine:
            if r.status != "correct":
                out += [f"**{r.item}** ({r.status}):", "", "```text", r.feedback, "```", ""]
    return "\n".join(out)


def write_reports(folder: Path, rows: Sequence[Row], worksheets: Sequence[str],
                  deductions: Mapping[str, Mapping[str, Deduction]] | None = None) -> list[Path]:
    """A Markdown report per student in ``folder``; returns the files written.

    ``deductions``: student -> worksheet -> (points, reason), see :func:`feedback_markdown`.
    """
    written: list[Path] = []
    for student in sorted({r.student for r in rows}):
        path = folder / f"{safe_name(student)}.md"
        if path in written:  # only a made-up hash collision gets here
            path = folder / f"{safe_name(student)}-{len(written)}.md"
        atomic_write(path, feedback_markdown(student, [r for r in rows if r.student == student],
                                             worksheets, (deductions or {}).get(student)))
        written.append(path)
    return written


# ----- the terminal ----------------------------------------------------------------------------
def summary_table(rows: Sequence[Row], worksheets: Sequence[str]) -> str:
    """Points per student and worksheet, a total column, and a count of each status."""
    students = sorted({r.student for r in rows})
    sheets = [s for s in worksheets if any(r.worksheet == s for r in rows)]
    short = [s.split("_")[0] for s in sheets]
    width = max([len("student"), *map(len, students)])
    lines = [f"{'student':<{width}}  " + "  ".join(f"{s:>7}" for s in short) + "    total"]
    for student in students:
        mine = [r for r in rows if r.student == student]
        cells = []
        for sheet in sheets:
            got = sum(r.points for r in mine if r.worksheet == sheet)
            most = sum(r.max_points for r in mine if r.worksheet == sheet)
            cells.append(f"{points_text(got) + '/' + points_text(most):>7}")
        total = f"{points_text(sum(r.points for r in mine))}/" \
                f"{points_text(sum(r.max_points for r in mine))}"
        lines.append(f"{student:<{width}}  " + "  ".join(cells) + f"  {total:>7}")
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    lines.append("")
    lines.append("items: " + ", ".join(f"{n} {status}" for status, n in sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0]))))
    return "\n".join(lines)


class Progress:
    """A one-line progress bar on stderr (a plain line every 10% when not a terminal)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self._stream, self.width, self.shown = stream, width, -1

    @property
    def stream(self) -> TextIO:
        """Where the bar goes: the given stream, else the current sys.stderr."""
        return self._stream or sys.stderr

    def __call__(self, done: int, total: int, label: str) -> None:
        """Show that ``done`` of ``total`` notebooks are graded, the last being ``label``."""
        if self.stream.isatty():
            filled = self.width * done // max(total, 1)
            bar = "#" * filled + "-" * (self.width - filled)
            self.stream.write(f"\r[{bar}] {done}/{total} {label[:40]:<40}")
            if done == total:
                self.stream.write("\n")
        elif 10 * done // max(total, 1) != self.shown:
            self.shown = 10 * done // max(total, 1)
            self.stream.write(f"graded {done}/{total} notebooks\n")
        self.stream.flush()
