"""Reading the instructor's CSV inputs (roster, overrides) with errors that name file and line."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

MAX_PROBLEMS = 20  # listed in one error; more are counted
EXTRA = "\0extra"  # where csv puts the cells beyond the header's


class InputError(ValueError):
    """An input file the instructor wrote is wrong; the message names the file, line and value."""


def fail(path: Path, problems: Sequence[str]) -> None:
    """Raise one :class:`InputError` listing ``problems`` (if any) of ``path``."""
    if not problems:
        return
    shown = list(problems[:MAX_PROBLEMS])
    if len(problems) > MAX_PROBLEMS:
        shown.append(f"... and {len(problems) - MAX_PROBLEMS} more")
    raise InputError(f"{path}:" + ("\n  ".join(["", *shown]) if len(shown) > 1 else
                                   " " + shown[0]))


def read_rows(path: Path, required: Sequence[str]) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and ``(line number, row)`` pairs of a UTF-8 CSV (a spreadsheet's BOM is fine).

    A missing file, a missing required column or a row with more cells than the header is an
    :class:`InputError`; cells are stripped of surrounding spaces.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save it as CSV UTF-8") \
            from None
    reader = csv.DictReader(text.splitlines(keepends=True), restkey=EXTRA)
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        fail(path, [f"line 1: missing column {', '.join(map(repr, missing))} (the header must "
                    f"have {', '.join(required)}; it has {', '.join(header) or 'nothing'})"])
    rows, problems = [], []
    for row in reader:
        line = reader.line_num
        if EXTRA in row:
            problems.append(f"line {line}: {len(header) + len(row[EXTRA])} cells, the header "
                            f"has {len(header)}")
            continue
        if not any((v or "").strip() for v in row.values()):
            continue  # a blank line a spreadsheet left at the end
        rows.append((line, {k: (v or "").strip() for k, v in row.items()}))
    fail(path, problems)
    return header, rows
