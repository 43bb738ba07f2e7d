"""Is a worksheet on disk still the generated blank, or does it hold a student's work?

``course exercises`` regenerates ``exercises/`` from ``solutions/``. Students fill the
worksheets in place, so a regenerated file must never replace one whose answer cells differ
from the blanks: this module tells the two apart. It compares cell *sources* only: outputs,
execution counts and the metadata JupyterLab adds on save are not a student's work.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _is_answer(cell: dict) -> bool:
    meta = cell.get("metadata")
    course = meta.get("course") if isinstance(meta, dict) else None
    return isinstance(course, dict) and course.get("role") == "answer"


@dataclass
class Comparison:
    """How a worksheet on disk differs from the blank that would be written."""

    answers: list[str] = field(default_factory=list)  # ids of answer cells holding work
    other_cells_differ: bool = False  # a non-answer cell's source or the cell list differs

    @property
    def holds_answers(self) -> bool:
        """True when at least one answer cell is not the generated blank."""
        return bool(self.answers)


def compare(on_disk: dict, blank: dict) -> Comparison:
    """Compare a worksheet read from disk with the blank generated from its solution.

    Answer cells are matched by cell id (students may move cells); an answer cell that is
    missing from ``on_disk`` counts as not holding work. A cell the student added whose id
    the blank lacks counts as work when it is a code cell with any source.
    """
    result = Comparison()
    blank_by_id = {c.get("id"): c for c in blank.get("cells", [])}
    disk_cells = on_disk.get("cells", [])
    if not isinstance(disk_cells, list):
        return Comparison(answers=["(unreadable cell list)"], other_cells_differ=True)
    for cell in disk_cells:
        if not isinstance(cell, dict):
            continue
        cid = cell.get("id", "")
        ref = blank_by_id.get(cid)
        if ref is None:
            result.other_cells_differ = True
            if cell.get("cell_type") == "code" and _source(cell).strip():
                result.answers.append(cid or "(a cell without id)")
        elif _source(cell) != _source(ref):
            if _is_answer(ref):
                result.answers.append(cid)
            else:
                result.other_cells_differ = True
    disk_ids = [c.get("id") for c in disk_cells if isinstance(c, dict)]
    if disk_ids != [c.get("id") for c in blank.get("cells", [])]:
        result.other_cells_differ = True
    return result
