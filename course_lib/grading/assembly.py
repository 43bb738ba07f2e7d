"""What runs when a notebook is graded: the instructor's worksheet with the student's answers.

The child never executes a student's notebook as it is. :func:`load_template` turns the
solution notebook into the exercise with :func:`~course_lib.grading.worksheets.make_exercise`
(the notebook the student started from) and keeps its setup cells and the fixed text around
each answer region. :func:`assemble` finds each answer cell of a submission (by the course
metadata, nbgrader's ``grade_id`` or the cell id, wherever it was moved) and takes only what
is between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` from it; everything else a student
changed or added is never run. An answer cell whose markers were deleted counts as one region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.grading.worksheets import (
    BEGIN,
    END,
    SOLUTIONS,
    STUB,
    Worksheet,
    course_meta,
    make_exercise,
    read_notebook,
    source_of,
)

MISSING_CELL = "answer cell missing"
DAMAGED = "answer markers damaged"


@dataclass
class Template:
    """One worksheet as the instructor wrote it: setup sources and each answer's fixed text."""

    setup: list[str]
    fixed: dict[str, list[str]]  # item -> the text between (and around) its answer regions


@dataclass
class Assembly:
    """The cells to run for one submission, and the answers that could not be taken."""

    cells: list[tuple[str, str]]  # (label, source): setup cells, then answer cells
    answers: dict[str, str]  # item -> label of its cell
    regions: dict[str, list[tuple[int, str]]]  # item -> (first line in the cell, the student's
    # own text): what the policy checks
    problems: dict[str, tuple[str, str]] = field(default_factory=dict)  # item -> status, why


def split_regions(source: str) -> tuple[list[str], list[tuple[int, str]]] | None:
    """(fixed parts, regions) of a cell with solution markers; None when they do not balance.

    Each region comes with the cell line it starts on. A cell without any marker is one
    region (starting on line 1) with empty fixed parts around it.
    """
    fixed: list[str] = []
    regions: list[tuple[int, str]] = []
    current: list[str] = []
    inside, start = False, 1
    for n, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                return None
            fixed.append("\n".join(current))
            current, inside, start = [], True, n + 1
        elif marker == END:
            if not inside:
                return None
            regions.append((start, "\n".join(current)))
            current, inside = [], False
        else:
            current.append(line)
    if inside:
        return None
    fixed.append("\n".join(current))
    if not regions:
        return ["", ""], [(1, source)]
    return fixed, regions


def _stub_parts(source: str) -> list[str]:
    """The fixed parts of an exercise cell: the text between its stubs."""
    lines, parts, current, i = source.split("\n"), [], [], 0
    while i < len(lines):
        if lines[i].strip() == STUB[0] and i + 1 < len(lines) and lines[i + 1].strip() == STUB[1]:
            parts.append("\n".join(current))
            current, i = [], i + 2
        else:
            current.append(lines[i])
            i += 1
    parts.append("\n".join(current))
    return parts


def load_template(sheet: Worksheet, solutions: Path = SOLUTIONS) -> Template:
    """The worksheet's setup and answer scaffolding (from a solution or an exercise copy)."""
    nb = read_notebook(solutions / f"{sheet.name}.ipynb")
    has_regions = any(BEGIN in source_of(c) for c in nb["cells"])
    exercise = make_exercise(nb, sheet.name) if has_regions else nb
    template = Template([], {})
    for cell in exercise["cells"]:
        meta, cid = course_meta(cell), cell.get("id", "")
        if cell.get("cell_type") != "code":
            continue
        if meta.get("role") == "setup" or cid in sheet.setup_ids:
            template.setup.append(source_of(cell))
        elif meta.get("role") == "answer" and meta.get("item") in sheet.items:
            template.fixed[meta["item"]] = _stub_parts(source_of(cell))
    return template


def _item_of(cell: dict, sheet: Worksheet) -> list[str]:
    """The items a submitted cell claims, most reliable first (metadata, grade_id, id)."""
    meta = course_meta(cell)
    nbgrader = cell.get("metadata", {}).get("nbgrader") if isinstance(
        cell.get("metadata"), dict) else None
    found = []
    if meta.get("role") == "answer" and meta.get("item") in sheet.items:
        found.append(meta["item"])
    if isinstance(nbgrader, dict) and nbgrader.get("grade_id") in sheet.items:
        found.append(nbgrader["grade_id"])
    by_id = {cid: item for item, cid in sheet.answer_ids.items()}
    if cell.get("id") in by_id:
        found.append(by_id[cell["id"]])
    return found


def assemble(sheet: Worksheet, template: Template, cells: Sequence[dict]) -> Assembly:
    """The instructor's setup, then each answer cell rebuilt with the student's regions."""
    chosen: dict[str, tuple[int, dict]] = {}
    for rank in range(3):  # metadata beats grade_id beats id; the first such cell wins
        for i, cell in enumerate(cells):
            if cell.get("cell_type") != "code":
                continue
            claims = _item_of(cell, sheet)
            if len(claims) > rank and claims[rank] not in chosen and not any(
                    c is cell for _, c in chosen.values()):
                chosen[claims[rank]] = (i, cell)
    out = Assembly([(f"setup {n + 1}", s) for n, s in enumerate(template.setup)], {}, {})
    for item in sheet.items:
        if item not in chosen:
            out.problems[item] = (MISSING_CELL, "its answer cell is missing from the notebook "
                                                "(deleted, or its metadata and id changed?)")
            continue
        i, cell = chosen[item]
        split = split_regions(source_of(cell))
        fixed = template.fixed.get(item, ["", ""])
        if split is None or (len(split[1]) != len(fixed) - 1 and split[0] != ["", ""]):
            out.problems[item] = (DAMAGED, f"cell {i + 1}: the {BEGIN} / {END} lines do not "
                                           f"match the worksheet's, so the answer cannot be "
                                           f"taken from it")
            continue
        regions = split[1]
        if split[0] == ["", ""]:  # no markers: the whole cell is the answer
            source = regions[0][1]
        else:
            source = fixed[0] + "".join(
                "\n" + r + "\n" + f for (_, r), f in zip(regions, fixed[1:], strict=True))
        label = f"cell {i + 1}"
        out.cells.append((label, source))
        out.answers[item] = label
        out.regions[item] = regions
    return out
