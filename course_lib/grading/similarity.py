"""Pairs of students whose answers to one item are near-identical: a list to look at, no verdict.

Only what a student wrote in place of the blank's stub is compared: the answer cell that the
grader would run (:mod:`~course_lib.grading.assembly`: the answer regions when the notebook
kept the solution markers, else the whole cell, as students fill in the exercises) is parsed,
never run, and only the body of the definition that holds the stub in the blank
(``Adam.update``, ``smooth``) is kept, so the worksheet's own scaffolding counts for nothing.
Docstrings and comments are dropped and every name (variables, arguments, functions, imports)
is renamed ``v0, v1, ...`` in order of first appearance, so renaming variables or reformatting
changes nothing. Attribute names (``self.v``, ``np.sqrt``) and constants stay: the worksheet
fixes the former, and the latter are part of the answer.

Two answers are flagged when their canonical forms are equal, or when their similarity (the
Dice coefficient of the multisets of 4-grams of syntax-tree tokens, as plagiarism detectors
such as MOSS use: reordering statements changes only the 4-grams at the seams) is at least
:data:`THRESHOLD`. Measured on the answers in ``tests/test_similarity.py``: correct Momentum
and Adam answers written independently in different styles (``for key in params`` with
``np.zeros_like``, ``params.items()`` with ``dict.get``, ``setdefault`` with in-place ``*=``)
score 0.18 to 0.51 against each other and against the model answer; a copy with renamed
variables and new comments scores 1.0, one with an added temporary 0.90, one with two
statements swapped 1.0 (the seams' 4-grams happen to match). :data:`THRESHOLD` = 0.75 lies in
that gap.

Some answers are not compared at all: the blank, answers shorter than :data:`MIN_NODES`
syntax-tree nodes, and answers as close to the model solution as a copy would be (similarity
to it at least :data:`THRESHOLD`). The worksheet leads every student towards the model's form,
so two answers that are each the model with one common slip are alike for that reason alone;
in a class of 200 Adam answers, each the model with one of the 26 known mistakes, 11,689 of
the 19,900 pairs scored above the threshold before this rule. The model answers of one or two
lines have 11 (``max_stable_lr``) to 39 (``adagrad_effective_lr``) nodes; the shortest model
answer compared, ``uncorrected_first_step``, has 62. The submissions are only read, never run.
"""

from __future__ import annotations

import ast
import builtins
import copy
import itertools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course_lib.grading import assembly, snapshot
from course_lib.grading.policy import MAX_SOURCE
from course_lib.grading.worksheets import (
    BEGIN,
    Worksheet,
    course_meta,
    load_worksheets,
    make_exercise,
    read_notebook,
    source_of,
)

THRESHOLD = 0.75  # similarity from which two different answers are listed
GRAM = 4  # tokens per n-gram
MIN_NODES = 40  # answers with fewer syntax-tree nodes are not compared
KEEP = frozenset(dir(builtins))  # built-in names are not renamed
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass(frozen=True)
class Canonical:
    """An answer with names and formatting normalized: its dump, tokens and size."""

    dump: str
    grams: Counter  # GRAM-grams of the tree's tokens, with multiplicity
    nodes: int


class _Renamer(ast.NodeTransformer):
    """Renames every identifier a program binds or reads to v0, v1, ... (first use first)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def new(self, name: str) -> str:
        if name in KEEP:
            return name
        return self.names.setdefault(name, f"v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self.new(node.id)
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg, node.annotation = self.new(node.arg), None
        return node

    def _defined(self, node: ast.AST) -> ast.AST:
        node.name = self.new(node.name)  # type: ignore[attr-defined]
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _defined

    def visit_alias(self, node: ast.alias) -> ast.AST:
        node.asname = self.new(node.asname or node.name.split(".")[0])
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name:
            node.name = self.new(node.name)
        return self.generic_visit(node)

    def visit_Global(self, node: ast.Global | ast.Nonlocal) -> ast.AST:
        node.names = [self.new(n) for n in node.names]
        return node

    visit_Nonlocal = visit_Global


def _drop_docstrings(tree: ast.AST) -> None:
    """Remove every statement that is only a string (docstrings and string 'comments')."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(
                s.value, ast.Constant) and isinstance(s.value.value, str))]
            node.body = kept or [ast.Pass()]  # type: ignore[attr-defined]


def _tokens(node: ast.AST) -> Iterator[str]:
    """The tree in pre-order: each node's type, then its name, attribute or constant."""
    yield type(node).__name__
    for attr in ("id", "arg", "attr", "name", "asname"):
        value = getattr(node, attr, None)
        if isinstance(value, str):
            yield value
    if isinstance(node, ast.Constant):
        yield repr(node.value)
    for child in ast.iter_child_nodes(node):
        yield from _tokens(child)


def parse(source: str) -> ast.Module | None:
    """The syntax tree of a cell, or None when it does not parse (or is too large to try)."""
    if len(source) > MAX_SOURCE:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _is_stub(stmt: ast.stmt) -> bool:
    """``raise NotImplementedError()`` (or without the call): the blank's placeholder."""
    exc = stmt.exc if isinstance(stmt, ast.Raise) else None
    exc = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def stub_paths(tree: ast.AST, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The class and function names around each stub of a blank cell: ``("Adam", "update")``."""
    found = []
    for stmt in getattr(tree, "body", []):
        if _is_stub(stmt):
            found.append(path)
        elif isinstance(stmt, DEFINITIONS):
            found += stub_paths(stmt, (*path, stmt.name))
    return list(dict.fromkeys(found))


def _find(body: list[ast.stmt], path: tuple[str, ...]) -> list[ast.stmt] | None:
    for name in path:
        defs = [s for s in body if isinstance(s, DEFINITIONS) and s.name == name]
        if not defs:
            return None
        body = defs[-1].body  # the last definition is the one that counts
    return body


def answer_part(tree: ast.Module, paths: Sequence[tuple[str, ...]]) -> list[ast.stmt]:
    """The statements a student wrote where the blank has its stubs (the whole cell if the
    student removed or renamed the definitions around them)."""
    part: list[ast.stmt] = []
    for path in paths:
        body = _find(tree.body, path)
        if body is None or not path:
            return list(tree.body)
        part += body
    return part


def canonical(statements: Sequence[ast.stmt]) -> Canonical:
    """The canonical form of an answer: docstrings dropped, names numbered by first use."""
    tree = _Renamer().visit(ast.Module(body=copy.deepcopy(list(statements)), type_ignores=[]))
    _drop_docstrings(tree)
    tokens = list(_tokens(tree))[1:]  # the Module node is not the answer's
    grams = Counter(zip(*(tokens[i:] for i in range(GRAM)), strict=False))
    return Canonical(ast.dump(tree, annotate_fields=False), grams,
                     sum(1 for _ in ast.walk(tree)) - 1)


def canonical_source(source: str, paths: Sequence[tuple[str, ...]] = ((),)) -> Canonical | None:
    """:func:`canonical` of the answer part of a cell's source; None if it does not parse."""
    tree = parse(source)
    return None if tree is None else canonical(answer_part(tree, paths))


def similarity(a: Canonical, b: Canonical) -> float:
    """1.0 for equal canonical forms, else the Dice coefficient of their token 4-grams."""
    if a.dump == b.dump:
        return 1.0
    total = sum(a.grams.values()) + sum(b.grams.values())
    return 2 * sum((a.grams & b.grams).values()) / total if total else 0.0


# ----- reading a class ------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """One student's answer to one item of one worksheet."""

    student: str
    worksheet: str
    item: str
    form: Canonical


@dataclass(frozen=True)
class Pair:
    """Two students whose answers to one item look alike."""

    worksheet: str
    item: str
    first: str
    second: str
    similarity: float
    identical: bool  # equal canonical forms: only names, comments or layout differ


@dataclass
class Scan:
    """The similar pairs of a class, and how many answers were compared or left out (why)."""

    pairs: list[Pair] = field(default_factory=list)
    compared: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> number of answers


@dataclass(frozen=True)
class Reference:
    """One item's blank: where its stubs are, the blank's form and the model answer's."""

    paths: tuple[tuple[str, ...], ...]
    blank: str  # the canonical dump of the blank
    model: Canonical | None  # None when the worksheets come without solutions

    def why_not(self, form: Canonical | None) -> str:
        """Why an answer is not compared ('' when it is)."""
        if form is None:
            return "do not parse"
        if form.dump == self.blank:
            return "blank"
        if self.model is not None and similarity(form, self.model) >= THRESHOLD:
            return "the model solution or as close to it as a copy"
        return "too short" if form.nodes < MIN_NODES else ""


def references(sheet: Worksheet, solutions: Path) -> dict[str, Reference]:
    """item -> its :class:`Reference`, from the worksheet's solution (or exercise) notebook."""
    solution = read_notebook(solutions / f"{sheet.name}.ipynb")
    # A student edition grades from the exercises themselves: then they are the blank.
    has_regions = any(BEGIN in source_of(c) for c in solution["cells"])
    blank = make_exercise(solution, sheet.name) if has_regions else solution
    found: dict[str, Reference] = {}
    for sol_cell, cell in zip(solution["cells"], blank["cells"], strict=True):
        meta = course_meta(cell)
        tree = parse(source_of(cell))
        if meta.get("role") != "answer" or meta.get("item") not in sheet.items or tree is None:
            continue
        paths = tuple(stub_paths(tree)) or ((),)
        model = canonical_source(source_of(sol_cell), paths) if has_regions else None
        found[meta["item"]] = Reference(paths, canonical(answer_part(tree, paths)).dump, model)
    return found


def read_cells(path: Path) -> list[dict] | None:
    """A submitted notebook's cells (outputs dropped), or None if it is a link or unreadable."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > snapshot.MAX_FILE:
            return None
        return snapshot.load_cells(path)
    except (OSError, snapshot.Unreadable):
        return None


def student_answers(sheet: Worksheet, template: assembly.Template,
                    refs: dict[str, Reference], student: str, folder: Path,
                    scan: Scan) -> list[Answer]:
    """One student's comparable answers to one worksheet; the others are counted in ``scan``."""
    path, _ = snapshot.find_notebook(folder, sheet.name)
    cells = None if path is None else read_cells(path)
    if cells is None:
        if path is not None:
            scan.skipped["unreadable notebooks or links"] += 1
        return []
    built = assembly.assemble(sheet, template, cells)
    sources, found = dict(built.cells), []
    for item, label in built.answers.items():
        ref = refs.get(item, Reference(((),), "", None))
        form = canonical_source(sources[label], ref.paths)
        reason = ref.why_not(form)
        if reason:
            scan.skipped[reason] += 1
        elif form is not None:
            found.append(Answer(student, sheet.name, item, form))
    return found


def class_answers(submissions: Path, sheets: Sequence[Worksheet], solutions: Path,
                  scan: Scan) -> list[Answer]:
    """Every comparable answer in a class folder; what is left out is counted in ``scan``."""
    students = []
    for student in snapshot.students_in(submissions):
        if (submissions / student).is_symlink() or not (submissions / student).is_dir():
            scan.skipped["student folders that are links"] += 1  # never followed
        else:
            students.append(student)
    answers = []
    for sheet in sheets:
        template = assembly.load_template(sheet, solutions)
        refs = references(sheet, solutions)
        for student in students:
            answers += student_answers(sheet, template, refs, student, submissions / student,
                                       scan)
    return answers


def similar_pairs(answers: Sequence[Answer], threshold: float = THRESHOLD) -> list[Pair]:
    """Pairs of different students with alike answers to the same item, most alike first."""
    groups: dict[tuple[str, str], list[Answer]] = {}
    for a in answers:
        groups.setdefault((a.worksheet, a.item), []).append(a)
    pairs = []
    for (sheet, item), group in groups.items():
        group.sort(key=lambda a: a.student)
        for a, b in itertools.combinations(group, 2):
            if a.student != b.student and (r := similarity(a.form, b.form)) >= threshold:
                pairs.append(Pair(sheet, item, a.student, b.student, r,
                                  a.form.dump == b.form.dump))
    return sorted(pairs, key=lambda p: (-p.similarity, p.worksheet, p.item, p.first, p.second))


def scan_class(submissions: Path, solutions: Path, threshold: float = THRESHOLD) -> Scan:
    """Read every student's answers (never running or changing them) and list alike pairs."""
    if not submissions.is_dir():
        raise NotADirectoryError(f"submissions folder {submissions} does not exist")
    scan = Scan()
    answers = class_answers(submissions, load_worksheets(solutions), solutions, scan)
    scan.compared = len(answers)
    scan.pairs = similar_pairs(answers, threshold)
    return scan

