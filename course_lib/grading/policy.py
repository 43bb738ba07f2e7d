"""What an answer cell may contain, checked statically before any of it runs.

An answer is parsed here, in the grader, never executed: only its size is trusted first (a
source over :data:`MAX_SOURCE` characters is refused before :func:`ast.parse`, so eight
megabytes of one-liners cannot make the grader build a huge tree). Then:

* imports are limited to numpy, math and whatever the worksheet's own setup cells import;
* the built-ins that run or reach arbitrary code (exec, eval, compile, open, __import__,
  getattr, setattr, delattr, vars, globals, locals, breakpoint, input) are refused;
* attribute access to dunders other than ``__init__`` (``x.__class__``, ``__subclasses__``,
  ``__dict__`` ...), to frame and traceback internals (``f_back``, ``tb_frame`` ...) and to the
  modules that numpy happens to expose is refused, and so is a format string that reaches one;
* numpy's file input and output (``np.load``, ``np.save``, ``tofile``, ``memmap`` ...) is
  refused on any object (an alias of numpy is still numpy), and so are private attributes
  (``np._core``) of anything but a name the answer binds itself (``self._state``).

A violation names the construct and the line. :func:`reference_users` is the scope-aware
version of the check that an answer does not wrap course_lib's (or torch's) optimizers: it
uses :mod:`symtable`, so only names a definition reads from the module count, never its locals.
"""

from __future__ import annotations

import ast
import re
import symtable
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from course_lib.grading.worksheets import REFERENCE_NAMES, WATCHED, binds, import_bindings

MAX_SOURCE = 64 * 1024  # characters in one answer cell; worksheet answers are a few hundred
MAX_NESTING = 60  # brackets open at once (the parser's own limit is far higher)
ALLOWED_MODULES = frozenset({"numpy", "math"})
FORBIDDEN_NAMES = frozenset({
    "exec", "eval", "compile", "open", "__import__", "getattr", "setattr", "delattr", "vars",
    "globals", "locals", "breakpoint", "input", "help", "memoryview", "__builtins__",
    "__loader__", "__spec__"})
ALLOWED_DUNDERS = frozenset({"__init__"})
FORBIDDEN_ATTRIBUTES = frozenset({
    # frames, tracebacks, generators and code objects lead back to the grader's own objects
    "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next",
    "gi_frame", "gi_code", "cr_frame", "ag_frame", "co_code",
    # modules numpy (or anything else) exposes as attributes
    "os", "sys", "builtins", "ctypes", "subprocess", "importlib", "gc", "inspect", "io",
    "ctypeslib", "f2py", "distutils", "testing", "operator", "pickle", "shutil", "tempfile",
    "pathlib", "platform", "types", "threading", "multiprocessing", "socket", "mmap", "posix",
    "marshal", "runpy", "pdb", "traceback", "linecache", "weakref", "atexit", "resource",
    "fcntl", "pty", "urllib", "http", "zipfile", "tarfile", "glob", "site", "sysconfig",
    "pkgutil", "zipimport", "warnings", "functools", "codecs",
    # numpy's file input and output, on any object (arrays have tofile, dump)
    "tofile", "fromfile", "memmap", "genfromtxt", "loadtxt", "savetxt", "savez",
    "savez_compressed", "fromregex", "DataSource", "dump", "dumps", "open_memmap"})
NUMPY_FILE_IO = frozenset({"load", "save", "lib", "format", "rec", "char", "core", "_core"})
FORMAT_DUNDER = re.compile(r"\{[^{}]*(__|\.f_|\.tb_|\.gi_)")


@dataclass(frozen=True)
class Violation:
    """One construct an answer may not use, and the line it is on (1-based, in its cell)."""

    construct: str
    line: int

    def __str__(self) -> str:
        return f"line {self.line}: {self.construct}"


def parse(source: str) -> ast.Module | Violation:
    """The tree of ``source``, or the :class:`Violation` that stops it being parsed safely."""
    if len(source) > MAX_SOURCE:
        return Violation(f"the cell is longer than {MAX_SOURCE // 1024} KB", 1)
    depth, line = 0, 1
    for ch in source:  # bounded nesting keeps the parser's memory bounded
        if ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                return Violation(f"brackets nested more than {MAX_NESTING} deep", line)
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch == "\n":
            line += 1
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Violation("code that does not parse", 1)


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def violations(source: str, allowed: Iterable[str] = ()) -> list[Violation]:
    """Every construct of ``source`` the answer policy refuses (empty: the cell may run).

    ``allowed`` adds modules (the worksheet's setup imports) to :data:`ALLOWED_MODULES`.
    """
    tree = parse(source)
    if isinstance(tree, Violation):
        return [tree] if tree.construct != "code that does not parse" else []
    modules = ALLOWED_MODULES | set(allowed)
    numpy_names = {"numpy", "np"}
    found: list[Violation] = []

    def bad(construct: str, node: ast.AST) -> None:
        found.append(Violation(construct, getattr(node, "lineno", 1)))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                part.startswith("_") or part in FORBIDDEN_ATTRIBUTES | NUMPY_FILE_IO
                for alias in node.names for part in [
                    *(getattr(node, "module", None) or "").split("."), *alias.name.split(".")]
                if part):
            bad("an import of a private or forbidden module", node)
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in modules and alias.name.split(".")[0] not in {
                        m for m in modules if "." not in m}:
                    bad(f"import {alias.name} (only {', '.join(sorted(modules))})", node)
                elif alias.name.split(".")[0] == "numpy":
                    numpy_names.add(alias.asname or "numpy")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            top = module.split(".")[0]
            if node.level or (module not in modules and top not in {
                    m for m in modules if "." not in m}):
                bad(f"from {'.' * node.level}{module} import ... (only "
                    f"{', '.join(sorted(modules))})", node)
            for alias in node.names:
                if alias.name == "*" or alias.name in FORBIDDEN_ATTRIBUTES | NUMPY_FILE_IO \
                        or alias.name.startswith("_"):
                    bad(f"from {module} import {alias.name}", node)
        elif isinstance(node, ast.Name) and (node.id in FORBIDDEN_NAMES or (
                node.id.startswith("__") and node.id.endswith("__") and node.id != "__name__")):
            bad(f"the built-in {node.id}", node)
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS:
                bad(f"the attribute .{attr}", node)
            elif attr in FORBIDDEN_ATTRIBUTES:
                bad(f"the attribute .{attr}", node)
            elif attr in NUMPY_FILE_IO and not (attr == "format" and isinstance(
                    node.value, ast.Constant) and isinstance(node.value.value, str)):
                bad(f"numpy's {attr} (file input and output is not allowed)", node)
            elif attr.startswith("_"):
                root = _root(node.value)
                if not isinstance(root, ast.Name) or root.id in numpy_names | modules | {
                        m.split(".")[0] for m in modules}:
                    bad(f"the private attribute .{attr} of a module", node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and FORMAT_DUNDER.search(node.value):
            bad("a format string that reaches a dunder or frame attribute", node)
        elif isinstance(node, (ast.Global, ast.Nonlocal)) and any(
                n.startswith("__") for n in node.names):
            bad("a global dunder name", node)
    found.sort(key=lambda v: v.line)
    return found


def setup_modules(sources: Iterable[str]) -> set[str]:
    """The modules the worksheet's own setup cells import (answers may import them again)."""
    modules: set[str] = set()
    for src in sources:
        tree = parse(src)
        if isinstance(tree, Violation):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.add(node.module)
    return modules


# ----- scope-aware reference check ---------------------------------------------------------------
def _module_reads(table: symtable.SymbolTable) -> set[str]:
    """Names a function or class scope (and every scope nested in it) reads from the module."""
    names = {s.get_name() for s in table.get_symbols()
             if s.is_referenced() and (s.is_global() or s.is_declared_global())}
    if table.get_type() == "class":  # a class body reads unassigned names from the module
        names |= {s.get_name() for s in table.get_symbols()
                  if s.is_referenced() and not s.is_assigned() and not s.is_imported()
                  and not s.is_parameter()}
    for child in table.get_children():
        names |= _module_reads(child)
    return names


def _statement_reads(stmt: ast.stmt, tables: dict[tuple[str, int], symtable.SymbolTable],
                     ) -> set[str]:
    """The module-level names a top-level statement reads (a definition: never its locals)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        table = tables.get((stmt.name, stmt.lineno))
        outside: set[str] = set()
        for node in [*stmt.decorator_list, *getattr(stmt, "bases", []),
                     *[k.value for k in getattr(stmt, "keywords", [])]]:
            outside |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            defaults = [*stmt.args.defaults, *[d for d in stmt.args.kw_defaults if d]]
            for node in defaults:
                outside |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        return outside | (_module_reads(table) if table is not None else set())
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}


def _direct(stmt: ast.stmt, watched: set[str], reads: set[str]) -> bool:
    """Does the statement reach reference code itself (an import, ``course_lib.Adam``)?"""
    for node in ast.walk(stmt):
        if node is not stmt and isinstance(node, (ast.Import, ast.ImportFrom)):
            if import_bindings(node)[0]:
                return True
        elif isinstance(node, ast.Attribute) and node.attr in REFERENCE_NAMES:
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in watched and root.id in reads:
                return True
    return False


def reference_users(sources: Sequence[str]) -> set[str]:
    """Top-level names whose final definition uses course_lib's (or torch's) optimizers.

    As :func:`course_lib.grading.worksheets.reference_users`, but only the names a definition
    reads from the module (free and global names, per :mod:`symtable`) can taint it: a local
    variable called ``optim`` or ``training`` is the student's own.
    """
    last: dict[str, tuple[bool, set[str]]] = {}
    watched = set(WATCHED)
    for src in sources:
        tree = parse(src)
        if isinstance(tree, Violation):
            continue
        try:
            top = symtable.symtable(src, "<answer>", "exec")
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        tables = {(t.get_name(), t.get_lineno()): t for t in top.get_children()}
        for stmt in tree.body:
            bound, aliases = import_bindings(stmt)
            watched |= aliases
            reads = _statement_reads(stmt, tables)
            direct = _direct(stmt, watched, reads | aliases)
            for name in binds(stmt) | bound:
                last[name] = (direct or name in bound, reads)
    tainted = {n for n, (direct, _) in last.items() if direct}
    grew = True
    while grew:
        new = {n for n, (_, names) in last.items() if names & tainted} - tainted
        tainted |= new
        grew = bool(new)
    return tainted
