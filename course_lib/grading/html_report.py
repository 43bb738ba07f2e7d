"""The per-student feedback as one self-contained HTML page (inline CSS, no scripts, no CDN).

For every worksheet and item: the points and status; for an answer that is not correct, the
diagnosis (the named mistake and its hint), the check's own account of the first failing run
or call (the input, the expected and the actual numbers, as the checks wrote them), the rule
the answer should follow, and a link to the lecture section to read again
(:mod:`~course_lib.grading.lessons`). Formulas are HTML with Unicode and ``<sup>``/``<sub>``,
so they read the same offline. Everything from the gradebook is escaped: student names and
feedback quote what students wrote.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from course_lib.grading import lessons, report
from course_lib.grading.report import Row, points_text

NOTEBOOK_ITEM = "(notebook)"  # grader.NOTEBOOK: a row about the notebook, not an answer

CSS = """
body { font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .2em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.correct { color: #17652b; } .wrong { color: #a11; } .other { color: #8a5a00; }
.item { border-left: 4px solid #ddd; margin: 1em 0; padding: .2em 1em; }
.item-wrong { border-color: #d66; } .item-other { border-color: #e0b050; }
.rule { font-family: "Cambria Math", "STIX Two Math", serif; font-size: 1.1em;
        display: block; margin: .3em 0 .3em 1.5em; }
pre { background: #f7f7f7; padding: .6em; overflow-x: auto; white-space: pre-wrap; }
.note { color: #555; font-size: .92em; }
"""


def esc(text: object) -> str:
    """``text`` safe to place in HTML text or a quoted attribute."""
    return html.escape(str(text), quote=True)


def page(title: str, body: str) -> str:
    """A whole HTML document with the course's inline style; ``title`` is escaped here."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
            "</body>\n</html>\n")


def math_html(text: str) -> str:
    """Escape a hint written in code notation and show its powers as superscripts.

    ``g**2`` and ``g^2`` become g², ``beta1**t`` becomes beta1 to the power t; nothing else
    changes, so the names stay the ones the worksheet's code uses.
    """
    escaped = esc(text)
    return re.sub(r"(?<=[\w)])\s?(?:\*\*|\^)\s?(\w+|\([^()]*\))",
                  lambda m: f"<sup>{m.group(1)}</sup>", escaped)


B1, B2 = "β<sub>1</sub>", "β<sub>2</sub>"
# The rule each optimizer item asks for, as the worksheet's docstrings state it.
STEP = "p ← p − lr · g / (√s + eps)"
RULES: dict[str, tuple[str, ...]] = {
    "sgd": ("p ← p − lr · g",),
    "momentum": ("v ← momentum · v + g", "p ← p − lr · v"),
    "nesterov": ("v ← momentum · v + g", "p ← p − lr · (g + momentum · v)"),
    "adagrad": ("s ← s + g<sup>2</sup>", STEP),
    "rmsprop": ("s ← decay_rate · s + (1 − decay_rate) · g<sup>2</sup>", STEP),
    "adam": ("t ← t + 1 &nbsp; (once per update, before the parameters)",
             f"m ← {B1} · m + (1 − {B1}) · g",
             f"v ← {B2} · v + (1 − {B2}) · g<sup>2</sup>",
             f"m̂ = m / (1 − {B1}<sup>t</sup>), &nbsp; v̂ = v / (1 − {B2}<sup>t</sup>)",
             "p ← p − lr · m̂ / (√v̂ + eps)"),
}


def status_class(row: Row) -> str:
    """CSS class of a row's status: correct, wrong (a wrong answer) or other (no answer)."""
    return {"correct": "correct", "wrong": "wrong"}.get(row.status, "other")


def mistake_of(row: Row) -> str:
    """The row's named mistake ('' when none, or for a gradebook without the column)."""
    return getattr(row, "mistake", "") or ""


def anchor_id(row: Row, n: int) -> str:
    """The id of a row's block on its page (``n``: its place in the student's rows)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{row.worksheet}-{row.item}-{n}")


def item_detail(row: Row, lectures: lessons.Lectures, anchor: str) -> str:
    """The block explaining one answer that is not correct."""
    mistake = mistake_of(row)
    parts = [f'<div class="item item-{status_class(row)}" id="{esc(anchor)}">',
             f"<h3>{esc(row.item)}: <span class=\"{status_class(row)}\">{esc(row.status)}"
             f"</span></h3>"]
    if mistake:
        tip = lessons.hint(row.item, mistake)
        parts.append(f"<p><b>Diagnosis:</b> {math_html(mistake)}"
                     + (f". <b>Hint:</b> {math_html(tip)}." if tip else ".") + "</p>")
    if row.feedback:
        what = ("<b>What the check saw</b> (the first run or call that failed: its input, the "
                "expected and your numbers)" if row.status == "wrong" else
                "<b>What the grader says</b>")
        parts.append(f"<p>{what}:</p>\n<pre>{esc(row.feedback)}</pre>")
    if row.item in RULES and row.status == "wrong":
        rule = "".join(f'<span class="rule">{line}</span>' for line in RULES[row.item])
        parts.append(f"<div><b>The rule</b> (each parameter in place):{rule}</div>")
    target = lessons.section(row.item, mistake)
    if target is not None and row.item != NOTEBOOK_ITEM:
        parts.append(f'<p><b>Read again:</b> <a href="{esc(lectures.url(target))}">'
                     f"{esc(target.title)}</a></p>")
    parts.append("</div>")
    return "\n".join(parts)


def sheet_table(mine: Sequence[tuple[int, Row]], anchors: dict[int, str]) -> str:
    """The table of one worksheet's (numbered) items: points, status, mistake, with links to
    the blocks (``anchors``: row number -> id) that explain them."""
    lines = ["<table>", "<tr><th>item</th><th>points</th><th>status</th><th>diagnosis</th></tr>"]
    for n, r in mine:
        item = esc(r.item)
        if n in anchors:
            item = f'<a href="#{esc(anchors[n])}">{item}</a>'
        lines.append(f"<tr><td>{item}</td><td class=\"num\">{points_text(r.points)} / "
                     f"{points_text(r.max_points)}</td><td class=\"{status_class(r)}\">"
                     f"{esc(r.status)}</td><td>{math_html(mistake_of(r))}</td></tr>")
    lines.append("</table>")
    return "\n".join(lines)


def sheet_html(sheet: str, mine: Sequence[tuple[int, Row]], lectures: lessons.Lectures) -> str:
    """One worksheet: its points, its table, and a block for each item that is not correct
    (one block for all when they share their status and text: a worksheet not handed in)."""
    got, top = sum(r.points for _, r in mine), sum(r.max_points for _, r in mine)
    todo = [(n, r) for n, r in mine if r.status != "correct"]
    same = len(todo) == len(mine) > 1 and len({(r.status, r.feedback, mistake_of(r))
                                                for _, r in todo}) == 1
    if same and todo[0][1].status != "wrong":
        n, first = todo[0]
        anchor = anchor_id(first, n)
        anchors = {k: anchor for k, _ in todo}
        blocks = [f'<div class="item item-other" id="{esc(anchor)}">',
                  f"<h3>every item: <span class=\"other\">{esc(first.status)}</span></h3>",
                  f"<pre>{esc(first.feedback)}</pre>", "</div>"]
    else:
        anchors = {n: anchor_id(r, n) for n, r in todo}
        blocks = [item_detail(r, lectures, anchors[n]) for n, r in todo]
    return "\n".join([f"<h2>{esc(sheet)}: {points_text(got)} / {points_text(top)}</h2>",
                      sheet_table(mine, anchors), *blocks])


def student_html(student: str, rows: Sequence[Row], worksheets: Sequence[str],
                 lectures: lessons.Lectures = lessons.LAB) -> str:
    """One student's report page, linking to the lectures where ``lectures`` says."""
    total, most = sum(r.points for r in rows), sum(r.max_points for r in rows)
    body = [f"<h1>Feedback for {esc(student)}</h1>",
            f"<p>Total: <b>{points_text(total)} / {points_text(most)}</b> points.</p>"]
    order = list(worksheets) + sorted({r.worksheet for r in rows} - set(worksheets))
    for sheet in order:
        mine = [(n, r) for n, r in enumerate(rows) if r.worksheet == sheet]
        if mine:
            body.append(sheet_html(sheet, mine, lectures))
    where = ("in JupyterLab (<code>make lab</code>)" if lectures.kind == "lab" else
             "on the course website (<code>make book</code>)")
    body.append(f'<p class="note">The links open the lectures {where}.</p>')
    return page(f"Feedback for {student}", "\n".join(body))


def write_student_reports(folder: Path, rows: Sequence[Row], worksheets: Sequence[str],
                          lectures: lessons.Lectures = lessons.LAB) -> dict[str, Path]:
    """An HTML report per student in a new ``folder``; student -> file written.

    The files are written in place: :func:`course_lib.grading.class_report.write_report`
    builds the whole folder under a temporary name and renames it when it is complete.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for student in sorted({r.student for r in rows}):
        path = folder / f"{report.safe_name(student)}.html"
        if path in written.values():  # only a made-up hash collision gets here
            path = folder / f"{report.safe_name(student)}-{len(written)}.html"
        path.write_text(student_html(student, [r for r in rows if r.student == student],
                                     worksheets, lectures), encoding="utf-8")
        written[student] = path
    return written
