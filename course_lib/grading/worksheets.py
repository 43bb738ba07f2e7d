"""The worksheets: solution notebooks as the single source, exercises generated from them.

A solution notebook marks its cells in ``metadata["course"]``:

* ``{"role": "setup"}``: imports, run first when grading;
* ``{"role": "answer", "item": "adam"}``: the student's answer, with the solution between
  ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines (nbgrader's markers; answer cells also
  carry nbgrader's ``solution`` metadata so nbgrader accepts the notebooks as they are);
* ``{"role": "check", "item": "adam"}``: the self-check, skipped when grading;
* ``{"role": "demo"}``: plots and experiments, skipped when grading.

The exercise copy replaces each region by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``
and clears outputs; cell ids and metadata stay, so the grader finds a student's answer cells by
metadata or, if a tool dropped it, by id, wherever the student moved them. The points of every
item live in one file, ``solutions/grading.toml``.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import tempfile
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course_lib import nbjson
from course_lib.grading import answers, nbgrader_meta
from course_lib.grading.items import ITEMS

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
ROLES = ("setup", "answer", "check", "demo")
REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "solutions"
EXERCISES = REPO / "exercises"
POINTS_FILE = "grading.toml"
MAX_NOTEBOOK = 50 * 1024 * 1024  # bytes: larger files are refused unread


class WorksheetError(ValueError):
    """A solution notebook or the points file is inconsistent (names the file and cell)."""


class MalformedNotebook(ValueError):
    """A submitted file is not a notebook the grader can read; the message says why."""


# ----- solutions -> exercises --------------------------------------------------------------------
def strip_regions(source: str, where: str) -> tuple[str, int]:
    """Replace every solution region of ``source`` by the stub; return the text and the count."""
    out: list[str] = []
    inside, count = False, 0
    for line in source.split("\n"):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise WorksheetError(f"{where}: {BEGIN} inside another region")
            inside, count = True, count + 1
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in STUB)
        elif marker == END:
            if not inside:
                raise WorksheetError(f"{where}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise WorksheetError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(out), count


def source_of(cell: dict) -> str:
    """A cell's source as one string (notebooks store a string or a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def make_exercise(nb: dict, name: str) -> dict:
    """The student copy of solution notebook ``nb``: regions stubbed, outputs cleared."""
    ex = copy.deepcopy(nb)
    for i, cell in enumerate(ex["cells"]):
        where = f"{name}, cell {i} ({cell.get('id', 'no id')})"
        text, count = strip_regions(source_of(cell), where)
        role = cell.get("metadata", {}).get("course", {}).get("role")
        if count and (cell["cell_type"] != "code" or role != "answer"):
            raise WorksheetError(f"{where}: solution regions belong in answer code cells only")
        if role == "answer" and not count:
            raise WorksheetError(f"{where}: an answer cell needs a {BEGIN} region")
        cell["source"] = text
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return ex


def dumps(nb: dict) -> str:
    """Notebook JSON as JupyterLab saves it (sorted keys, indent 1, final newline)."""
    return nbjson.writes(nb)


def read_notebook(path: Path) -> dict:
    """A notebook file as a dict (solutions are trusted: errors propagate with the path)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def default_solutions() -> Path:
    """Where ``course check`` and ``course grade`` find the worksheets and ``grading.toml``.

    The course's ``solutions/``; in a student edition (``make student-edition``), which ships
    without it, ``exercises/`` (which then holds ``grading.toml``).
    """
    if not (SOLUTIONS / POINTS_FILE).exists() and (EXERCISES / POINTS_FILE).exists():
        return EXERCISES
    return SOLUTIONS


def solution_paths(solutions: Path = SOLUTIONS) -> list[Path]:
    """The solution worksheets, in order (``ex01_...`` first)."""
    return sorted(solutions.glob("ex[0-9][0-9]_*.ipynb"))


class StudentWorkError(WorksheetError):
    """Regenerating would replace worksheets that hold a student's answers (names them)."""


@dataclass
class ExerciseChange:
    """One file of ``exercises/`` that regeneration would write (or, if stray, leave alone)."""

    path: Path
    text: str | None  # the generated worksheet; None for a stray file with no solution
    kind: str  # "missing", "stale", "answers" (holds a student's work), "stray", or "points"
    # (a solution whose check cells' nbgrader points differ from grading.toml)
    answer_cells: list[str] = field(default_factory=list)  # ids of answer cells holding work
    drifted: bool = False  # for "answers": non-answer cells also differ from the solution's


def exercise_changes(solutions: Path = SOLUTIONS,
                     exercises: Path = EXERCISES) -> list[ExerciseChange]:
    """Every exercise file that differs from what ``solutions/`` generates, and how."""
    changes: list[ExerciseChange] = []
    wanted = set()
    points = load_points(solutions)
    for path in solution_paths(solutions):
        target = exercises / path.name
        wanted.add(target.name)
        solution = read_notebook(path)
        synced = nbgrader_meta.with_nbgrader_tests(solution, points.get(path.stem, {}))
        if synced != solution:  # the check cells' points must follow grading.toml
            changes.append(ExerciseChange(path, dumps(synced), "points"))
        blank = make_exercise(synced, path.name)
        text = dumps(blank)
        if not target.exists():
            changes.append(ExerciseChange(target, text, "missing"))
            continue
        old = target.read_text(encoding="utf-8", errors="replace")
        if old == text:
            continue
        try:
            found = answers.compare(json.loads(old), blank)
        except (ValueError, AttributeError):  # unreadable: treat it as work, never overwrite
            found = answers.Comparison(["(the file is not valid notebook JSON)"], True)
        if found.holds_answers:
            changes.append(ExerciseChange(target, text, "answers", found.answers,
                                          found.other_cells_differ))
        else:
            changes.append(ExerciseChange(target, text, "stale"))
    if exercises.exists():
        changes += [ExerciseChange(p, None, "stray") for p in sorted(exercises.glob("*.ipynb"))
                    if p.name not in wanted]
    return changes


def write_exercises(solutions: Path = SOLUTIONS, exercises: Path = EXERCISES,
                    check: bool = False, force: bool = False) -> list[Path]:
    """Generate ``exercises/`` from ``solutions/``; return the files that changed (or would).

    A worksheet whose answer cells hold a student's work is never replaced: if its other cells
    match the solution it is left alone (there is nothing to update); if they differ, unless
    ``force``, :class:`StudentWorkError` names the files and cells and nothing is written. With
    ``force`` each such file is first copied to ``NAME.ipynb.bak``. With ``check=True`` nothing
    is written: the result lists the exercises that are missing or differ from what the
    solutions generate, plus stray exercises with no solution; a worksheet that differs only
    in its answers is not listed (filling it in is what it is for).
    """
    changes = exercise_changes(solutions, exercises)
    if check:
        return [c.path for c in changes if c.kind != "answers" or c.drifted]
    changes = [c for c in changes if c.kind != "answers" or c.drifted or force]
    held = [c for c in changes if c.kind == "answers"]
    if held and not force:
        names = "; ".join(f"{c.path.name} (answer cells {', '.join(c.answer_cells)})"
                          for c in held)
        raise StudentWorkError(f"not regenerating: these worksheets hold answers: {names}. "
                               "Nothing was written. Move them elsewhere, or run "
                               "`course exercises --force` to replace them (each is kept as "
                               "NAME.ipynb.bak first).")
    written = []
    for change in changes:
        if change.text is None:
            continue
        exercises.mkdir(parents=True, exist_ok=True)
        if change.kind == "answers":
            atomic_write(change.path.with_name(change.path.name + ".bak"),
                         change.path.read_bytes())
        atomic_write(change.path, change.text.encode("utf-8"))
        written.append(change.path)
    return written


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, so no half-written file is left."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ----- what each worksheet grades ----------------------------------------------------------------
@dataclass
class Worksheet:
    """One worksheet's grading plan, read from its solution notebook and the points file."""

    name: str
    items: dict[str, float]  # item key -> points, in notebook order
    answer_ids: dict[str, str]  # item key -> answer cell id
    setup_ids: list[str] = field(default_factory=list)
    skip_ids: set[str] = field(default_factory=set)  # check and demo cells

    @property
    def max_points(self) -> float:
        """The worksheet's total points."""
        return sum(self.items.values())


def course_meta(cell: dict) -> dict:
    """The ``metadata["course"]`` entry of a cell, or {} (also for malformed metadata)."""
    meta = cell.get("metadata")
    entry = meta.get("course") if isinstance(meta, dict) else None
    return entry if isinstance(entry, dict) else {}


def load_points(solutions: Path = SOLUTIONS) -> dict[str, dict[str, float]]:
    """``grading.toml``: ``{worksheet: {item: points}}``, every value a positive number."""
    path = solutions / POINTS_FILE
    if not path.is_file():
        raise WorksheetError(f"{path} not found: pass --solutions DIR, a folder that holds the "
                             f"worksheets and {POINTS_FILE} (the course's solutions/, or "
                             "exercises/ in a student edition)")
    with open(path, "rb") as fh:
        table = tomllib.load(fh)
    for sheet, items in table.items():
        if not isinstance(items, dict):
            raise WorksheetError(f"{path}: [{sheet}] must be a table of item = points")
        for item, points in items.items():
            if isinstance(points, bool) or not isinstance(points, (int, float)) or points <= 0:
                raise WorksheetError(f"{path}: {sheet}.{item} = {points!r}; points must be > 0")
    return {s: {i: float(p) for i, p in items.items()} for s, items in table.items()}


def load_worksheets(solutions: Path = SOLUTIONS) -> list[Worksheet]:
    """Every worksheet's plan; checks that answer cells and the points file agree exactly."""
    points = load_points(solutions)
    sheets = []
    for path in solution_paths(solutions):
        nb = read_notebook(path)
        sheet = Worksheet(path.stem, {}, {})
        declared = points.get(path.stem, {})
        for cell in nb["cells"]:
            meta, cid = course_meta(cell), cell.get("id", "")
            role, item = meta.get("role"), meta.get("item")
            if role not in (None, *ROLES):
                raise WorksheetError(f"{path.name}, cell {cid}: unknown role {role!r}")
            if role == "setup":
                sheet.setup_ids.append(cid)
            elif role in ("check", "demo"):
                sheet.skip_ids.add(cid)
            elif role == "answer":
                if item not in ITEMS or item not in declared or item in sheet.items:
                    raise WorksheetError(f"{path.name}, cell {cid}: answer item {item!r} must "
                                         f"be a known check, listed once in {POINTS_FILE}")
                sheet.items[item], sheet.answer_ids[item] = declared[item], cid
        unused = set(declared) - set(sheet.items)
        if unused:
            raise WorksheetError(f"{POINTS_FILE}: [{path.stem}] gives points to {sorted(unused)} "
                                 f"but {path.name} has no answer cell for them")
        sheets.append(sheet)
    stray = set(points) - {s.name for s in sheets}
    if stray:
        raise WorksheetError(f"{POINTS_FILE}: no solution notebook for {sorted(stray)}")
    return sheets


# ----- reading a submission ----------------------------------------------------------------------
def read_submission(path: Path) -> list[dict]:
    """The cells of a submitted notebook, or :class:`MalformedNotebook` saying what is wrong.

    Symbolic links are refused (a link could point at a solution notebook), and so are files
    larger than :data:`MAX_NOTEBOOK`.
    """
    if path.is_symlink():
        raise MalformedNotebook("it is a symbolic link, not a file")
    if path.stat().st_size > MAX_NOTEBOOK:
        raise MalformedNotebook(f"it is larger than {MAX_NOTEBOOK >> 20} MB")
    try:
        nb = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise MalformedNotebook(f"not a text file (bad UTF-8 at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise MalformedNotebook(f"not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                f"{exc.msg})") from None
    except RecursionError:
        raise MalformedNotebook("not valid JSON (nested too deeply)") from None
    if not isinstance(nb, dict):
        raise MalformedNotebook("not a Jupyter notebook (the JSON is not an object)")
    if nb.get("nbformat") != 4:
        raise MalformedNotebook(f"notebook format {nb.get('nbformat')!r} is not supported "
                                f"(open it in Jupyter and save it, which writes format 4)")
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("cell_type"), str)
            and isinstance(c.get("source", ""), (str, list)) for c in cells):
        raise MalformedNotebook("its cells are not valid notebook cells")
    return cells


@dataclass
class Plan:
    """What to run for one submitted notebook, and what is missing from it."""

    cells: list[tuple[str, str]]  # (cell label, source) in execution order
    answers: dict[str, str]  # item -> label of its answer cell
    missing: list[str]  # items whose answer cell is gone


def plan(sheet: Worksheet, cells: Sequence[dict]) -> Plan:
    """Find the graded cells of a submission by metadata, else by id, wherever they are.

    Setup cells run first, then every other code cell in notebook order except self-checks and
    demos (cells the student added may hold helpers the answers need).
    """
    answers: dict[str, str] = {}
    setup, rest = [], []
    by_id = {cid: item for item, cid in sheet.answer_ids.items()}
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        meta, cid = course_meta(cell), cell.get("id")
        label = f"cell {i + 1}"
        item = meta.get("item") if meta.get("role") == "answer" else by_id.get(cid)
        if meta.get("role") == "setup" or cid in sheet.setup_ids:
            setup.append((label, source_of(cell)))
        elif meta.get("role") in ("check", "demo") or cid in sheet.skip_ids:
            continue
        else:
            rest.append((label, source_of(cell)))
            if item in sheet.items:
                answers[item] = label
    missing = [item for item in sheet.items if item not in answers]
    return Plan(setup + rest, answers, missing)


# ----- static check: does an answer use the reference implementation? ----------------------------
REFERENCE_MODULES = ("course_lib.optimizers", "course_lib._base", "course_lib.training",
                     "torch.optim")
REFERENCE_NAMES = frozenset({"SGD", "Momentum", "AdaGrad", "RMSProp", "Adam", "AdamW", "NAdam",
                             "Adadelta", "Optimizer", "OPTIMIZERS", "make_optimizer",
                             "optimizers", "_base", "optim", "training", "train", "compare",
                             "smooth"})
WATCHED = frozenset({"course_lib", "torch"})  # packages whose attributes are checked


def _is_reference_module(name: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in REFERENCE_MODULES)


def import_bindings(node: ast.AST) -> tuple[set[str], set[str]]:
    """(names an import binds to reference code, names it binds to a watched package)."""
    tainted: set[str] = set()
    watched: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            root = alias.name.split(".")[0]
            if alias.asname and _is_reference_module(alias.name):
                tainted.add(alias.asname)
            elif root in WATCHED:
                watched.add(alias.asname or root)
    elif isinstance(node, ast.ImportFrom) and node.module:
        whole = _is_reference_module(node.module)
        if whole or node.module in WATCHED:
            for alias in node.names:
                if alias.name == "*":
                    tainted |= REFERENCE_NAMES
                elif whole or alias.name in REFERENCE_NAMES:
                    tainted.add(alias.asname or alias.name)
    return tainted, watched


def binds(stmt: ast.stmt) -> set[str]:
    """The top-level names a statement (re)binds (a ``for`` loop binds its target)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    targets = stmt.targets if isinstance(stmt, ast.Assign) else (
        [stmt.target] if isinstance(stmt, (ast.AnnAssign, ast.AugAssign, ast.For)) else [])
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _uses(stmt: ast.stmt, watched: set[str]) -> tuple[bool, set[str]]:
    """(does it reach reference code directly, which names does it read)."""
    direct, names = False, set()
    for node in ast.walk(stmt):
        if node is not stmt and isinstance(node, (ast.Import, ast.ImportFrom)):
            direct = direct or bool(import_bindings(node)[0])  # an import inside a body
        elif isinstance(node, ast.Attribute) and node.attr in REFERENCE_NAMES:
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            direct = direct or (isinstance(root, ast.Name) and root.id in watched)
        elif isinstance(node, ast.Name):
            names.add(node.id)
    return direct, names


def reference_users(sources: Iterable[str]) -> set[str]:
    """Top-level names whose final definition uses course_lib's (or torch's) optimizers.

    A name is tainted when its last binding imports a reference optimizer, subclasses one,
    reaches one as ``course_lib.Adam`` and the like, or uses another tainted name (helpers
    included). Cells that do not parse are ignored (running them reports the error).
    """
    last: dict[str, tuple[bool, set[str]]] = {}
    watched = set(WATCHED)
    for src in sources:
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for stmt in tree.body:
            bound, aliases = import_bindings(stmt)
            watched |= aliases
            direct, names = _uses(stmt, watched)
            for name in binds(stmt) | bound:  # a star import binds every reference name
                last[name] = (direct or name in bound, names)
    tainted = {n for n, (direct, _) in last.items() if direct}
    grew = True
    while grew:  # a definition that uses a tainted name is tainted too
        new = {n for n, (_, names) in last.items() if names & tainted} - tainted
        tainted |= new
        grew = bool(new)
    return tainted


def answer_symbols(sheet: Worksheet) -> dict[str, str]:
    """item -> the class or function name the worksheet asks for."""
    return {item: ITEMS[item].symbol for item in sheet.items}


def uses_reference(sheet: Worksheet, sources: Iterable[str]) -> list[str]:
    """The items of ``sheet`` whose answer uses the reference implementation."""
    tainted = reference_users(sources)
    return [item for item, symbol in answer_symbols(sheet).items() if symbol in tainted]

