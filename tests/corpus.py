"""Build class folders from the grading corpus in tests/submissions (see its README)."""

from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from course_lib.grading import grader, worksheets
from course_lib.grading.report import Row
from course_lib.grading.sandbox import Limits

CORPUS = Path(__file__).parent / "submissions"
SOLUTIONS = worksheets.SOLUTIONS
EXERCISES = worksheets.EXERCISES
LIMITS = Limits(timeout=4.0, memory_mb=1024, output_kb=256, cpu_seconds=60)


@dataclass(frozen=True)
class Case:
    """One corpus file: which worksheet and cell it goes into and what the grade must say."""

    name: str
    source: str
    worksheet: str
    item: str | None  # the answer cell it replaces; None = appended as a new cell
    expect: dict[str, str]  # row item -> status ("mistake" for the mistakes corpus)


def headers(text: str) -> dict[str, str]:
    """The ``# key: value`` lines at the top of a corpus file (indented lines continue one)."""
    found: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        more = re.match(r"#\s{2,}(\S.*)$", line)
        m = re.match(r"#\s?([a-z-]+)(?::\s*(.*))?$", line)
        if more and key:
            found[key] += " " + more.group(1).strip()
        elif m:
            key = m.group(1)
            found[key] = (m.group(2) or "").strip()
        else:
            break
    return found


def sheet_of(item: str) -> str:
    """The first worksheet (in course order) that grades ``item``."""
    for sheet in worksheets.load_worksheets():
        if item in sheet.items:
            return sheet.name
    raise KeyError(item)


def mistake_cases() -> list[Case]:
    """The mistakes corpus: each case expects its item's ``mistake`` to be named."""
    cases = []
    for path in sorted((CORPUS / "mistakes").glob("*.py")):
        text = path.read_text()
        h = headers(text)
        cases.append(Case(path.stem, text, sheet_of(h["item"]), h["item"],
                          {h["item"]: h["mistake"]}))
    return cases


def hostile_cases() -> list[Case]:
    """The hostile corpus: each case expects a status for every listed row."""
    cases = []
    for path in sorted(CORPUS.glob("hostile/*.py*")):
        text = path.read_text()
        h = headers(text)
        expect = dict(part.strip().split("=", 1) for part in h["expect"].split(";"))
        cases.append(Case(path.name.split(".")[0], text, h["worksheet"], h.get("replace"),
                          expect))
    return cases


def solution(name: str) -> dict:
    """A solution notebook as JSON."""
    return json.loads((SOLUTIONS / f"{name}.ipynb").read_text())


def with_cell(nb: dict, item: str | None, source: str) -> dict:
    """``nb`` with ``item``'s answer cell replaced by ``source`` (or a new cell appended)."""
    nb = copy.deepcopy(nb)
    if item is None:
        nb["cells"].append({"cell_type": "code", "execution_count": None, "id": "added",
                            "metadata": {}, "outputs": [], "source": source})
        return nb
    for cell in nb["cells"]:
        if worksheets.course_meta(cell) == {"role": "answer", "item": item}:
            cell["source"] = source
            return nb
    raise KeyError(f"no answer cell for {item}")


def write(folder: Path, student: str, sheet: str, content: dict | bytes) -> None:
    """Put one notebook (JSON or raw bytes) into a student's folder."""
    path = folder / student / f"{sheet}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())


def structural(folder: Path) -> None:
    """Submissions whose cells were deleted, reordered or stripped of their metadata."""
    nb = solution("ex02_momentum")
    nb["cells"] = [c for c in nb["cells"]
                   if worksheets.course_meta(c).get("item") != "nesterov"]
    write(folder, "deleted_cell", "ex02_momentum", nb)
    nb = solution("ex05_adam")
    nb["cells"].reverse()  # the setup cell ends up last
    write(folder, "reordered", "ex05_adam", nb)
    nb = solution("ex03_adagrad")
    for cell in nb["cells"]:
        cell["metadata"] = {}  # some tools drop metadata; cell ids remain
    write(folder, "no_metadata", "ex03_adagrad", nb)


def build_class(folder: Path) -> None:
    """A class folder with every corpus case, plus one full-marks and one blank student."""
    for sheet in worksheets.solution_paths():
        write(folder, "full_marks", sheet.stem, sheet.read_bytes())
        write(folder, "blank", sheet.stem, (EXERCISES / sheet.name).read_bytes())
    for case in mistake_cases():
        write(folder, f"mistake_{case.name}", case.worksheet,
              with_cell(solution(case.worksheet), case.item, case.source))
    for case in hostile_cases():
        write(folder, f"hostile_{case.name}", case.worksheet,
              with_cell(solution(case.worksheet), case.item, case.source))
    for path in sorted((CORPUS / "broken").glob("*.ipynb.txt")):
        write(folder, f"broken_{path.name.split('.')[0]}", "ex01_gradient_descent",
              path.read_bytes())
    structural(folder)


def hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (to prove that grading changed nothing)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass(frozen=True)
class Graded:
    """The result of grading the whole corpus once."""

    folder: Path
    gradebook: Path
    rows: list[Row]
    before: dict[str, str]
    after: dict[str, str]

    def rows_of(self, student: str, sheet: str | None = None) -> dict[str, Row]:
        """item -> row for one student (and one worksheet)."""
        return {r.item: r for r in self.rows
                if r.student == student and (sheet is None or r.worksheet == sheet)}


@functools.lru_cache(maxsize=1)
def graded_corpus() -> Graded:
    """Grade the corpus class once per test session, two notebooks at a time."""
    root = Path(tempfile.mkdtemp(prefix="course-corpus-"))
    atexit.register(shutil.rmtree, root, True)
    folder = root / "submissions"
    build_class(folder)
    before = hashes(folder)
    gradebook = root / "grades.csv"
    batch = grader.Batch(folder, gradebook, worksheets.load_worksheets(), LIMITS, jobs=2,
                         seed=20240601)
    rows = grader.grade_folder(batch)
    return Graded(folder, gradebook, rows, before, hashes(folder))

