"""Grade submitted worksheets: one notebook, or a folder with one sub-folder per student.

For each notebook the grader, in its own process:

1. reads the file (never writing to it) and finds the graded cells by metadata or cell id;
2. checks statically that no answer uses course_lib's (or torch's) reference optimizers;
3. starts a sandboxed child (:mod:`~course_lib.grading.sandbox`) that executes the code cells,
   skipping self-checks and demos; a cell that hangs or kills the child is skipped on a restart;
4. for each item, draws fresh random inputs and hyperparameters, asks the child to run the
   student's class or function on them, and judges the answer here against the reference with
   :mod:`course_lib.checks`. Nothing the child prints or patches reaches this judgement.

Each item gets full points when correct and 0 otherwise, with a status and feedback.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_lib import checks
from course_lib.grading import items, report, runner
from course_lib.grading.report import Row
from course_lib.grading.sandbox import MEMORY, OUTPUT, Child, ChildFailure, Limits
from course_lib.grading.worksheets import (
    MalformedNotebook,
    Worksheet,
    answer_symbols,
    plan,
    read_submission,
    uses_reference,
)

USES_REFERENCE = "uses the reference implementation"
MALFORMED = "malformed notebook"
MISSING_WORKSHEET = "missing worksheet"
MISSING_CELL = "answer cell missing"
GRADER_ERROR = "grader error"
NOTEBOOK = "(notebook)"  # the item name of a row about the notebook rather than an answer


class Session:
    """The child process of one notebook: executes its cells, restarts without a fatal cell."""

    def __init__(self, cells: Sequence[tuple[str, str]], limits: Limits) -> None:
        self.cells, self.limits = list(cells), limits
        self.failed: dict[str, ChildFailure] = {}  # cell label -> what stopped the child
        self.errors: dict[str, dict] = {}  # cell label -> the exception it raised
        self.child: Child | None = None

    def ready(self) -> Child:
        """A child that has executed every cell that does not hang, kill it or exhaust it."""
        while self.child is None:
            child = Child(self.limits)
            label = ""
            try:
                for label, source in self.cells:
                    if label not in self.failed:
                        answer = child.request({"op": "exec", "source": source, "name": label})
                        if isinstance(answer.get("error"), dict):
                            self.errors[label] = answer["error"]
                        failure = resource_failure(answer.get("error"), self.limits)
                        if failure:
                            raise failure
                self.child = child
            except ChildFailure as failure:
                self.failed[label] = failure
                child.close()
        return self.child

    def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One request to a ready child; on failure the child is dropped (restarted next time)."""
        try:
            return self.ready().request(payload)
        except ChildFailure:
            self.close()
            raise

    def close(self) -> None:
        """Stop the child, if any."""
        if self.child is not None:
            self.child.close()
            self.child = None


def resource_failure(error: Any, limits: Limits) -> ChildFailure | None:
    """The limit a reported exception shows was hit (memory or output), if any."""
    kind = error.get("type") if isinstance(error, dict) else None
    if kind == "MemoryError":
        return ChildFailure(MEMORY, f"it needed more than {limits.memory_mb} MB")
    if kind == runner.OUTPUT_LIMIT:
        return ChildFailure(OUTPUT, f"it printed more than {limits.output_kb} KB")
    return None


def fetch(session: Session, op: str, symbol: str, args: dict[str, Any]) -> dict | None:
    """Ask the child to run ``symbol`` on ``args``; its record, or None if it is undefined."""
    answer = session.call({"op": op, "symbol": symbol, "args": runner.to_json(args)})
    if answer.get("missing"):
        return None
    record = runner.from_json({k: v for k, v in answer.items() if k != "nonce"})
    failure = resource_failure(record.get("error"), session.limits)
    if failure:  # a child that ran out of memory or output space is not trusted further
        session.close()
        raise failure
    return record


def grade_item(session: Session, key: str, rng: np.random.Generator) -> checks.Verdict:
    """Judge one item on freshly drawn inputs; a dead or garbled child gives 0, not a crash."""
    item = items.ITEMS[key]
    try:
        if isinstance(item, items.OptimizerItem):
            runs = items.random_runs(item, rng)
            return checks.judge_optimizer(item, runs, lambda run: fetch(
                session, "optimizer", item.symbol,
                {"hyper": run.hyper, "params": run.params, "grads": run.grads,
                 "buffers": list(item.buffers)}))
        if isinstance(item, items.TrainingItem):
            case = items.random_training_case(rng)
            return checks.judge_training(item, case, fetch(session, "training", item.symbol,
                                                           {"case": case}))
        calls = item.draw(rng)
        return checks.judge_function(item, calls,
                                     fetch(session, "function", item.symbol, {"calls": calls}))
    except ChildFailure as failure:
        return checks.Verdict(key, failure.status, f"{item.symbol}: {failure.detail}.")
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        return checks.Verdict(key, checks.ERROR, f"{item.symbol}: the grading process sent an "
                              f"answer that could not be read ({type(exc).__name__}).")


def explain_missing(verdict: checks.Verdict, session: Session, label: str) -> checks.Verdict:
    """Say why an answer is undefined: its cell raised, or was stopped and skipped."""
    if label in session.failed:
        failure = session.failed[label]
        return checks.Verdict(verdict.item, failure.status,
                              f"{verdict.message[:-1]}: its cell ({label}) was stopped: "
                              f"{failure.detail}.")
    error = session.errors.get(label)
    if error:
        return checks.Verdict(verdict.item, verdict.status,
                              f"{verdict.message[:-1]}: its cell ({label}) raised "
                              f"{error.get('type')}: {error.get('message')} "
                              f"({error.get('where') or 'top level'}).")
    return verdict


def rows_for(sheet: Worksheet, verdicts: dict[str, checks.Verdict]) -> list[Row]:
    """One gradebook row per item (student left empty for the caller to fill in)."""
    return [Row("", sheet.name, key, sheet.items[key] if verdicts[key].passed else 0.0,
                sheet.items[key], verdicts[key].status, verdicts[key].message)
            for key in sheet.items]


def same_status(sheet: Worksheet, status: str, message: str) -> list[Row]:
    """Every item of the worksheet with 0 points and the same status."""
    return rows_for(sheet, {k: checks.Verdict(k, status, message) for k in sheet.items})


def grade_notebook(sheet: Worksheet, path: Path | None, limits: Limits,
                   rng: np.random.Generator) -> list[Row]:
    """Grade one submitted notebook (``path`` None or absent: the worksheet is missing)."""
    if path is None or not path.is_file():
        return same_status(sheet, MISSING_WORKSHEET, f"{sheet.name}.ipynb was not submitted.")
    try:
        cells = read_submission(path)
    except (MalformedNotebook, OSError) as exc:
        return same_status(sheet, MALFORMED, f"{path.name} could not be read: {exc}.")
    todo = plan(sheet, cells)
    symbols = answer_symbols(sheet)
    verdicts = {k: checks.Verdict(k, MISSING_CELL, f"{symbols[k]}: its answer cell is missing "
                                  f"from the notebook (deleted?).") for k in todo.missing}
    for key in uses_reference(sheet, [source for _, source in todo.cells]):
        verdicts.setdefault(key, checks.Verdict(key, USES_REFERENCE, (
            f"{symbols[key]} uses course_lib's (or torch's) optimizer instead of your own "
            f"code.")))
    session = Session(todo.cells, limits)
    try:
        for key in sheet.items:
            if key not in verdicts:
                verdict = grade_item(session, key, rng)
                if verdict.status == checks.MISSING:
                    verdict = explain_missing(verdict, session, todo.answers[key])
                verdicts[key] = verdict
    finally:
        session.close()
    rows = rows_for(sheet, verdicts)
    answer_cells = set(todo.answers.values())
    for label, failure in session.failed.items():
        if label not in answer_cells:
            rows.append(Row("", sheet.name, NOTEBOOK, 0.0, 0.0, failure.status,
                            f"{label} was stopped and skipped: {failure.detail}."))
    return rows


def seed_for(seed: int, student: str, worksheet: str) -> np.random.Generator:
    """A generator for one notebook, derived from the run's seed and the names."""
    return np.random.default_rng([seed, zlib.crc32(student.encode()),
                                  zlib.crc32(worksheet.encode())])


@dataclass
class Batch:
    """A class folder to grade, and how."""

    submissions: Path
    gradebook: Path
    sheets: Sequence[Worksheet]
    limits: Limits
    jobs: int = 1
    force: bool = False
    seed: int = 0


def students_in(folder: Path) -> list[str]:
    """The student sub-folders (hidden folders such as .ipynb_checkpoints are skipped)."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def grade_folder(batch: Batch, progress: Callable[[int, int, str], None] | None = None,
                 ) -> list[Row]:
    """Grade every student's worksheets; resume from an existing gradebook unless ``force``.

    The gradebook is rewritten atomically after every notebook, so an interrupted run leaves a
    complete file and the next run continues where it stopped. Returns all rows, sorted.
    """
    if not batch.submissions.is_dir():
        raise NotADirectoryError(f"submissions folder {batch.submissions} does not exist")
    if isinstance(batch.jobs, bool) or not isinstance(batch.jobs, int) or batch.jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {batch.jobs!r}")
    students = students_in(batch.submissions)
    old = [] if batch.force or not batch.gradebook.exists() else report.read_gradebook(
        batch.gradebook)
    done = {(r.student, r.worksheet) for r in old if r.status != MISSING_WORKSHEET}
    rows = [r for r in old if (r.student, r.worksheet) in done]
    tasks = [(s, sheet) for s in students for sheet in batch.sheets if (s, sheet.name) not in done]
    order = [sheet.name for sheet in batch.sheets]

    def work(student: str, sheet: Worksheet) -> list[Row]:
        path = batch.submissions / student / f"{sheet.name}.ipynb"
        try:
            found = grade_notebook(sheet, path, batch.limits,
                                   seed_for(batch.seed, student, sheet.name))
        except Exception as exc:  # a fault of the grader itself must not stop the class
            found = same_status(sheet, GRADER_ERROR, f"the grader failed on this notebook "
                                f"({type(exc).__name__}: {exc}); please report it.")
        return [Row(student, *r.astuple()[1:]) for r in found]

    with ThreadPoolExecutor(max_workers=batch.jobs) as pool:
        futures = {pool.submit(work, s, sheet): f"{s}/{sheet.name}" for s, sheet in tasks}
        for n, future in enumerate(as_completed(futures), start=1):
            rows += future.result()
            report.write_gradebook(batch.gradebook, report.sort_rows(rows, order))
            if progress:
                progress(n, len(tasks), futures[future])
    rows = report.sort_rows(rows, order)
    report.write_gradebook(batch.gradebook, rows)
    return rows
