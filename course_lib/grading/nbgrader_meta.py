"""nbgrader's cell metadata for the worksheets, derived from ``solutions/grading.toml``.

nbgrader scores a notebook by its *autograder test* cells: cells marked ``grade: true`` with
``points``, which fail when they raise. The worksheets' check cells are exactly that (each
``check_*`` raises :class:`course_lib.checks.CheckFailed` on a wrong answer), so each check cell
carries the points of its item. The points are declared once, in ``grading.toml``; ``course
exercises`` writes them here and ``course exercises --check`` reports drift.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

SCHEMA_VERSION = 3


def _role(cell: dict) -> tuple[str | None, str | None]:
    meta = cell.get("metadata", {}).get("course", {})
    return meta.get("role"), meta.get("item")


def test_cell_metadata(item: str, points: float) -> dict:
    """nbgrader's metadata for the autograder test cell of ``item``."""
    return {"grade": True, "grade_id": f"check-{item}", "locked": True,
            "points": int(points) if float(points).is_integer() else float(points),
            "schema_version": SCHEMA_VERSION, "solution": False, "task": False}


def with_nbgrader_tests(nb: dict, points: Mapping[str, float]) -> dict:
    """A copy of solution notebook ``nb`` whose check cells carry nbgrader test metadata.

    Each item has exactly one check cell (a second one would count its points twice); the
    points are those of ``points[item]``.
    """
    out = copy.deepcopy(nb)
    seen: set[str] = set()
    for cell in out["cells"]:
        role, item = _role(cell)
        if role != "check":
            continue
        if item not in points:
            raise ValueError(f"check cell {cell.get('id')!r}: item {item!r} has no points")
        if item in seen:
            raise ValueError(f"item {item!r} has two check cells; nbgrader would count it twice")
        seen.add(item)
        cell["metadata"]["nbgrader"] = test_cell_metadata(item, points[item])
    return out
