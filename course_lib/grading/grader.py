"""Grade submitted worksheets: one notebook, or a folder with one sub-folder per student.

A class folder is first copied into a private snapshot (:mod:`~course_lib.grading.snapshot`),
hashed, before any code runs; only the copies are graded, and the originals are hashed again at
the end (a changed one is reported). For each notebook the grader, in its own process:

1. reads the copy (outputs dropped) and finds the answer cells by metadata, grade_id or id;
2. rebuilds the instructor's worksheet with only the student's answer regions in it
   (:mod:`~course_lib.grading.assembly`): nothing else the student wrote is ever run;
3. checks each answer statically (:mod:`~course_lib.grading.policy`): allowed imports and
   built-ins, no dunder access or file input/output, no use of the reference optimizers;
4. starts a sandboxed child (:mod:`~course_lib.grading.sandbox`) that executes the setup and
   answer cells; a cell that hangs or kills the child is skipped on a restart (restarts and the
   notebook's total wall time are capped);
5. for each item, draws fresh random inputs and hyperparameters, asks the child to run the
   student's class or function on them, and judges the answer here against the reference with
   :mod:`course_lib.checks`. Nothing the child prints or patches reaches this judgement.

Each item gets full points when correct and 0 otherwise, with a status and feedback; every
feedback text is bounded and scrubbed (:mod:`~course_lib.grading.scrub`). A rerun resumes from
the gradebook only when its keyed MAC verifies (:mod:`~course_lib.grading.integrity`).
"""

from __future__ import annotations

import json
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from course_lib import checks
from course_lib.grading import (
    assembly,
    integrity,
    isolation,
    items,
    policy,
    report,
    runner,
    scrub,
    snapshot,
)
from course_lib.grading.report import Row
from course_lib.grading.sandbox import MEMORY, OUTPUT, Child, ChildFailure, Limits
from course_lib.grading.worksheets import SOLUTIONS, Worksheet, answer_symbols, default_solutions

USES_REFERENCE = "uses the reference implementation"
POLICY = "policy"
MALFORMED = "malformed notebook"
MISSING_WORKSHEET = "missing worksheet"
MISSING_CELL = assembly.MISSING_CELL
REFUSED = "refused"
CHANGED = "changed during grading"
NOTE = "note"
BUDGET = "notebook time budget exceeded"
GRADER_ERROR = "grader error"
NOTEBOOK = "(notebook)"  # the item name of a row about the notebook rather than an answer


class Session:
    """The child process of one notebook: executes its cells, restarts without a fatal cell."""

    def __init__(self, cells: Sequence[tuple[str, str]], limits: Limits) -> None:
        self.cells, self.limits = list(cells), limits
        self.failed: dict[str, ChildFailure] = {}  # cell label -> what stopped the child
        self.errors: dict[str, dict] = {}  # cell label -> the exception it raised
        self.child: Child | None = None
        self.started = 0
        self.deadline = time.monotonic() + limits.notebook_seconds

    def left(self) -> float:
        """Wall seconds left in the notebook's budget; :class:`ChildFailure` when none."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ChildFailure(BUDGET, f"the notebook used up its {self.limits.notebook_seconds:g}"
                                       f" s of grading time")
        return left

    def ready(self) -> Child:
        """A child that has executed every cell that does not hang, kill it or exhaust it."""
        while self.child is None:
            self.left()
            if self.started > self.limits.restarts:
                raise ChildFailure(BUDGET, f"the grading process had to be restarted more than "
                                           f"{self.limits.restarts} times")
            self.started += 1
            child = Child(self.limits)
            label = ""
            try:
                for label, source in self.cells:
                    if label not in self.failed:
                        answer = child.request({"op": "exec", "source": source, "name": label},
                                               timeout=self.left())
                        if isinstance(answer.get("error"), dict):
                            self.errors[label] = answer["error"]
                        failure = resource_failure(answer.get("error"), self.limits)
                        if failure:
                            raise failure
                self.child = child
            except ChildFailure as failure:
                child.close()
                if failure.status == BUDGET:
                    raise
                self.failed[label] = failure
        return self.child

    def call(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One request to a ready child; on failure the child is dropped (restarted next time)."""
        try:
            child = self.ready()
            return child.request(payload, timeout=self.left())
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
                sheet.items[key], verdicts[key].status, verdicts[key].message,
                verdicts[key].mistake or "")
            for key in sheet.items]


def same_status(sheet: Worksheet, status: str, message: str) -> list[Row]:
    """Every item of the worksheet with 0 points and the same status."""
    return rows_for(sheet, {k: checks.Verdict(k, status, message) for k in sheet.items})


def policy_verdicts(sheet: Worksheet, built: assembly.Assembly,
                    template: assembly.Template) -> dict[str, checks.Verdict]:
    """Verdicts for the answers that use the reference code or break the answer policy."""
    symbols = answer_symbols(sheet)
    verdicts: dict[str, checks.Verdict] = {}
    tainted = policy.reference_users([source for _, source in built.cells])
    for key in sheet.items:
        if key in built.answers and symbols[key] in tainted:
            verdicts[key] = checks.Verdict(key, USES_REFERENCE, (
                f"{symbols[key]} uses course_lib's (or torch's) optimizer instead of your own "
                f"code."))
    allowed = policy.setup_modules(template.setup)
    for key, regions in built.regions.items():
        if key in verdicts:
            continue
        found = [policy.Violation(v.construct, v.line + start - 1)
                 for start, text in regions for v in policy.violations(text, allowed)]
        if found:
            listed = "; ".join(str(v) for v in found[:3]) + ("; ..." if len(found) > 3 else "")
            verdicts[key] = checks.Verdict(key, POLICY, (
                f"{symbols[key]}: {built.answers[key]} uses what an answer may not use "
                f"({listed}); it was not run."))
    return verdicts


def grade_cells(sheet: Worksheet, cells: Sequence[dict], limits: Limits,
                rng: np.random.Generator, template: assembly.Template) -> list[Row]:
    """Grade the cells of one submission: only its answer regions, in the instructor's sheet."""
    built = assembly.assemble(sheet, template, cells)
    symbols = answer_symbols(sheet)
    verdicts = {k: checks.Verdict(k, status, f"{symbols[k]}: {why}.")
                for k, (status, why) in built.problems.items()}
    verdicts.update(policy_verdicts(sheet, built, template))
    refused = {built.answers[k] for k in verdicts if k in built.answers}
    session = Session([c for c in built.cells if c[0] not in refused], limits)
    try:
        for key in sheet.items:
            if key not in verdicts:
                verdict = grade_item(session, key, rng)
                if verdict.status == checks.MISSING:
                    verdict = explain_missing(verdict, session, built.answers[key])
                verdicts[key] = verdict
    finally:
        session.close()
    rows = rows_for(sheet, verdicts)
    answer_cells = set(built.answers.values())
    for label, failure in session.failed.items():
        if label not in answer_cells:
            rows.append(Row("", sheet.name, NOTEBOOK, 0.0, 0.0, failure.status,
                            f"{label} was stopped and skipped: {failure.detail}."))
    for row in rows:
        row.feedback = scrub.clean(row.feedback)
    return rows


_TEMPLATES: dict[tuple[str, str], assembly.Template] = {}


def template_for(sheet: Worksheet, solutions: Path = SOLUTIONS) -> assembly.Template:
    """The worksheet's setup and answer scaffolding (read once per run)."""
    key = (str(solutions), sheet.name)
    if key not in _TEMPLATES:
        _TEMPLATES[key] = assembly.load_template(sheet, solutions)
    return _TEMPLATES[key]


def grade_notebook(sheet: Worksheet, path: Path | None, limits: Limits,
                   rng: np.random.Generator, solutions: Path | None = None) -> list[Row]:
    """Grade one notebook file (``path`` None or absent: the worksheet is missing).

    ``course check`` calls this on a student's own file; a class is graded from snapshots.
    """
    if path is None or not (path.is_file() or path.is_symlink()):
        return same_status(sheet, MISSING_WORKSHEET, f"{sheet.name}.ipynb was not submitted.")
    try:
        if path.is_symlink():
            raise snapshot.Unreadable("it is a symbolic link, not a file")
        snapshot.hash_file(path)  # refuses anything but a regular file of a sane size
        cells = snapshot.load_cells(path)
    except (snapshot.Unreadable, OSError) as exc:
        return same_status(sheet, MALFORMED, scrub.clean(f"{path.name} could not be read: "
                                                         f"{exc}."))
    return grade_cells(sheet, cells, limits, rng,
                       template_for(sheet, solutions or default_solutions()))


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
    solutions: Path = field(default_factory=lambda: default_solutions())
    reports: Path | None = None  # the feedback folder (the MAC key must not be in it)


def students_in(folder: Path) -> list[str]:
    """The student sub-folders (hidden ones skipped; links listed, to be refused)."""
    return snapshot.students_in(folder)


def hashes_path(gradebook: Path) -> Path:
    """Where the hashes of the graded notebooks are kept, next to the gradebook."""
    return gradebook.with_name(gradebook.name + ".sha256.json")


def read_hashes(gradebook: Path) -> dict[str, str]:
    """``"student/worksheet" -> sha256`` of the notebooks the gradebook's rows are about."""
    try:
        data = json.loads(hashes_path(gradebook).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _key(student: str, sheet: str) -> str:
    return json.dumps([student, sheet])


def note_row(sheet: str, status: str, text: str) -> Row:
    """A row about the notebook itself (no points)."""
    return Row("", sheet, NOTEBOOK, 0.0, 0.0, status, scrub.clean(text))


def grade_entry(batch: Batch, entry: snapshot.Entry, sheet: Worksheet) -> list[Row]:
    """Grade one snapshot entry: a copy, or a refusal, or a missing worksheet."""
    name = entry.original.name if entry.original else f"{sheet.name}.ipynb"
    if entry.refused:
        found = same_status(sheet, MALFORMED, f"{name} could not be read: {entry.refused}.")
    elif entry.copy is None:
        found = same_status(sheet, MISSING_WORKSHEET, f"{sheet.name}.ipynb was not submitted."
                            + (f" ({entry.note})" if entry.note else ""))
    else:
        try:
            cells = snapshot.load_cells(entry.copy, entry.sha256)
        except (snapshot.Unreadable, OSError) as exc:
            found = same_status(sheet, MALFORMED, f"{name} could not be read: {exc}.")
        else:
            found = grade_cells(sheet, cells, batch.limits,
                                seed_for(batch.seed, entry.student, sheet.name),
                                template_for(sheet, batch.solutions))
        if entry.note:
            found.append(note_row(sheet.name, NOTE, entry.note + "."))
    for row in found:
        row.feedback = scrub.clean(row.feedback)
    return found


def grade_folder(batch: Batch, progress: Callable[[int, int, str], None] | None = None,
                 ) -> list[Row]:
    """Grade every student's worksheets; resume from an existing gradebook unless ``force``.

    Everything is copied and hashed first; a notebook already in the gradebook is skipped only
    when its hash is the one it was graded with (a changed one is regraded, with a note). The
    gradebook is rewritten atomically after every notebook, so an interrupted run leaves a
    complete file and the next run continues where it stopped. It is resumed from only when
    its keyed MAC (:mod:`~course_lib.grading.integrity`) verifies; otherwise a warning says so
    and everything is regraded. Returns all rows, sorted.
    """
    if not batch.submissions.is_dir():
        raise NotADirectoryError(f"submissions folder {batch.submissions} does not exist")
    if isinstance(batch.jobs, bool) or not isinstance(batch.jobs, int) or batch.jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1, got {batch.jobs!r}")
    isolation.make_undumpable()  # before the key is read: no same-user process may dump it
    key_file = integrity.key_path()
    integrity.check_outside(key_file, batch.gradebook,
                            [batch.submissions] + ([batch.reports] if batch.reports else []))
    key = integrity.read_key(key_file)
    old, stored = trusted_rows(batch, key)
    key = key or integrity.load_or_create_key(key_file)
    isolation.become_subreaper()
    snap = snapshot.take(batch.submissions, [sheet.name for sheet in batch.sheets],
                         protected=snapshot.file_ids(batch.solutions))
    try:
        return _grade_snapshot(batch, snap, (old, stored), key, progress)
    finally:
        snap.close()


def trusted_rows(batch: Batch, key: bytes | None) -> tuple[list[Row], dict[str, str]]:
    """The old rows and hashes to resume from: none when forced, or when the MAC fails (loudly)."""
    if batch.force or not batch.gradebook.exists():
        return [], {}
    old = report.read_gradebook(batch.gradebook)  # a file that is no gradebook is an error
    why = integrity.problem(batch.gradebook, hashes_path(batch.gradebook), key)
    if why:
        print(f"course grade: WARNING: the gradebook {batch.gradebook} is not trusted: {why}. "
              f"Its {len(old)} rows are dropped and every notebook is graded again.",
              file=sys.stderr)
        return [], {}
    return old, read_hashes(batch.gradebook)


def _grade_snapshot(batch: Batch, snap: snapshot.Snapshot,
                    resume: tuple[list[Row], dict[str, str]], key: bytes,
                    progress: Callable[[int, int, str], None] | None) -> list[Row]:
    order = [sheet.name for sheet in batch.sheets]
    old, stored = resume
    hashes: dict[str, str] = {}
    graded = {(r.student, r.worksheet) for r in old if r.status != MISSING_WORKSHEET}
    done, regrade = set(), set()
    for pair in graded:
        entry = snap.entries.get(pair)
        if entry is not None and entry.sha256 and stored.get(_key(*pair)) == entry.sha256:
            done.add(pair)
            hashes[_key(*pair)] = entry.sha256
        else:
            regrade.add(pair)
    rows = [r for r in old if (r.student, r.worksheet) in done]
    for student, why in snap.refused_students.items():
        for sheet in batch.sheets:
            rows += [Row(student, *r.astuple()[1:])
                     for r in same_status(sheet, REFUSED, why + ".")]
    tasks = [(entry, sheet) for sheet in batch.sheets for entry in snap.entries.values()
             if entry.sheet == sheet.name and (entry.student, sheet.name) not in done]
    tasks.sort(key=lambda t: (t[0].student, order.index(t[1].name)))

    def work(entry: snapshot.Entry, sheet: Worksheet) -> list[Row]:
        try:
            found = grade_entry(batch, entry, sheet)
        except Exception as exc:  # a fault of the grader itself must not stop the class
            found = same_status(sheet, GRADER_ERROR, scrub.clean(
                f"the grader failed on this notebook ({type(exc).__name__}: {exc}); please "
                f"report it."))
        if (entry.student, sheet.name) in regrade:
            found.append(note_row(sheet.name, NOTE, "regraded: the notebook changed since the "
                                                    "last run (or was not recorded)."))
        return [Row(entry.student, *r.astuple()[1:]) for r in found]

    def save() -> None:  # the MAC is of the text written, never of the files read back
        book = report.gradebook_text(report.sort_rows(rows, order))
        sums = json.dumps(hashes, indent=0)
        report.atomic_write(batch.gradebook, book)
        report.atomic_write(hashes_path(batch.gradebook), sums)
        report.atomic_write(integrity.mac_path(batch.gradebook),
                            integrity.sign(key, book.encode(), sums.encode()) + "\n")

    with ThreadPoolExecutor(max_workers=batch.jobs) as pool:
        futures = {pool.submit(work, e, sheet): (e, sheet) for e, sheet in tasks}
        for n, future in enumerate(as_completed(futures), start=1):
            entry, sheet = futures[future]
            rows += future.result()
            if entry.sha256:
                hashes[_key(entry.student, sheet.name)] = entry.sha256
            save()
            if progress:
                progress(n, len(tasks), f"{entry.student}/{sheet.name}")
    for entry in snap.changed():
        hashes.pop(_key(entry.student, entry.sheet), None)
        rows.append(Row(entry.student, entry.sheet, NOTEBOOK, 0.0, 0.0, CHANGED, (
            "the submitted file changed while the class was graded; the grades are those of "
            "the copy taken before grading, and the next run grades it again.")))
    rows = report.sort_rows(rows, order)
    save()
    return rows
