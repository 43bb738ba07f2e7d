"""A private, hashed copy of a class folder: what is graded, taken before any code runs.

:func:`take` copies every student's worksheets into a fresh folder only this user can read
(mode 0700), hashing each file (SHA-256) as it copies. Nothing is followed out of the
submissions folder: a student folder or a notebook that is a symbolic link (or not a regular
file) is recorded with a reason and never read. Grading then reads only the copies, and
:meth:`Snapshot.changed` hashes the originals again afterwards, so a submission that changed
while it was graded is reported, never silently graded in its old or new form.

:func:`load_cells` reads a copy: outputs are dropped first and the size cap applies to what is
left, so a correct notebook with a huge image output still grades.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE = 512 * 1024 * 1024  # bytes on disk: larger files are not even copied
MAX_SOURCES = 50 * 1024 * 1024  # characters of cell sources once outputs are dropped
CHUNK = 1 << 20


class Unreadable(ValueError):
    """A submitted file that is not a notebook the grader can read; the message says why."""


@dataclass
class Entry:
    """One worksheet of one student: where it was, its copy and hash, or why it has none."""

    student: str
    sheet: str
    original: Path | None = None  # None: not submitted
    copy: Path | None = None
    sha256: str = ""
    refused: str = ""  # why the file was not copied (a link, not a file, too large)
    note: str = ""  # e.g. graded from "ex01 (1).ipynb"


@dataclass
class Snapshot:
    """The copies of one class folder (delete with :meth:`close`)."""

    root: Path
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    refused_students: dict[str, str] = field(default_factory=dict)  # student -> why

    def changed(self) -> list[Entry]:
        """The entries whose original file is no longer what was copied (or is gone)."""
        out = []
        for entry in self.entries.values():
            if entry.original is None or not entry.sha256:
                continue
            try:
                now = hash_file(entry.original)
            except (OSError, Unreadable):
                now = ""
            if now != entry.sha256:
                out.append(entry)
        return out

    def close(self) -> None:
        """Delete the copies."""
        shutil.rmtree(self.root, ignore_errors=True)


def file_ids(folder: Path) -> set[tuple[int, int]]:
    """(device, inode) of every file in ``folder``: hard links to them are refused."""
    try:
        return {(e.stat(follow_symlinks=False).st_dev, e.stat(follow_symlinks=False).st_ino)
                for e in os.scandir(folder) if e.is_file(follow_symlinks=False)}
    except OSError:
        return set()


def _open_regular(path: Path, protected: set[tuple[int, int]] = frozenset()) -> int:
    """A read-only descriptor of ``path``, refusing links and anything but a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the last component is a symbolic link
            raise Unreadable("it is a symbolic link, not a file") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Unreadable("it is not a regular file")
    if info.st_size > MAX_FILE:
        os.close(fd)
        raise Unreadable(f"it is larger than {MAX_FILE >> 20} MB")
    if (info.st_dev, info.st_ino) in protected:
        os.close(fd)
        raise Unreadable("it is a hard link to the instructor's solution file")
    return fd


def hash_file(path: Path, copy_to: Path | None = None,
              protected: set[tuple[int, int]] = frozenset()) -> str:
    """SHA-256 of a regular file (never a link), copying it to ``copy_to`` on the way."""
    digest = hashlib.sha256()
    fd = _open_regular(path, protected)
    out = None
    try:
        if copy_to is not None:
            out = os.open(copy_to, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        size = 0
        while chunk := os.read(fd, CHUNK):
            size += len(chunk)
            if size > MAX_FILE:
                raise Unreadable(f"it is larger than {MAX_FILE >> 20} MB")
            digest.update(chunk)
            if out is not None:
                os.write(out, chunk)
    finally:
        os.close(fd)
        if out is not None:
            os.close(out)
    return digest.hexdigest()


DOWNLOAD_COPY = r"(?: ?\(\d+\)| ?- ?Copy\d*| copy)"


def find_notebook(folder: Path, sheet: str) -> tuple[Path | None, str]:
    """The file of worksheet ``sheet`` in a student folder, and a note if it was renamed.

    ``ex01_gradient_descent.ipynb`` itself, else the one file named like a browser's or
    Jupyter's copy of it (``ex01_gradient_descent (1).ipynb``, ``...-Copy1.ipynb``).
    """
    exact = folder / f"{sheet}.ipynb"
    if os.path.lexists(exact):
        return exact, ""
    pattern = re.compile(re.escape(sheet) + DOWNLOAD_COPY + r"\.ipynb", re.IGNORECASE)
    try:
        names = sorted(n for n in os.listdir(folder) if pattern.fullmatch(n))
    except OSError:
        return None, ""
    if len(names) == 1:
        return folder / names[0], (f"graded {names[0]!r}: there is no {sheet}.ipynb, and this "
                                   f"is the only copy of it")
    if len(names) > 1:
        return None, (f"there is no {sheet}.ipynb but {len(names)} copies of it "
                      f"({', '.join(names)}); rename the one to grade")
    return None, ""


def students_in(folder: Path) -> list[str]:
    """Student sub-folders, symbolic links included (they are refused, not followed)."""
    return sorted(e.name for e in os.scandir(folder) if not e.name.startswith(".")
                  and (e.is_dir(follow_symlinks=False) or e.is_symlink()))


def take(submissions: Path, sheets: Iterable[str], students: Iterable[str] | None = None,
         protected: set[tuple[int, int]] = frozenset()) -> Snapshot:
    """Copy and hash every worksheet of every student (or of ``students``).

    A file that is one of ``protected`` (the solutions' (device, inode)) is refused.
    """
    root = Path(tempfile.mkdtemp(prefix="course-snapshot-"))
    os.chmod(root, 0o700)
    snap = Snapshot(root)
    sheets = list(sheets)
    try:
        for n, student in enumerate(students_in(submissions) if students is None else students):
            folder = submissions / student
            if folder.is_symlink() or not stat.S_ISDIR(os.lstat(folder).st_mode):
                snap.refused_students[student] = (
                    "the student folder is a symbolic link; it was not followed" if
                    folder.is_symlink() else "the student entry is not a folder")
                continue
            target = root / str(n)
            target.mkdir(mode=0o700)
            for sheet in sheets:
                path, note = find_notebook(folder, sheet)
                entry = Entry(student, sheet, path, note=note)
                snap.entries[(student, sheet)] = entry
                if path is None:
                    continue
                copy = target / f"{sheet}.ipynb"
                try:
                    entry.sha256 = hash_file(path, copy, protected)
                    entry.copy = copy
                except Unreadable as exc:
                    entry.refused = str(exc)
                except OSError as exc:
                    entry.refused = f"it could not be read ({exc.strerror})"
    except BaseException:
        snap.close()
        raise
    return snap


def _drop_outputs(nb: dict) -> None:
    for cell in nb.get("cells") or []:
        if isinstance(cell, dict):
            cell.pop("outputs", None)
            cell.pop("attachments", None)


def load_cells(path: Path, sha256: str = "") -> list[dict]:
    """The cells of a snapshot copy, outputs dropped; :class:`Unreadable` says what is wrong.

    With ``sha256`` the copy must still have that hash (nothing may alter it after the copy).
    """
    raw = path.read_bytes()
    if sha256 and hashlib.sha256(raw).hexdigest() != sha256:
        raise Unreadable("its copy was altered after it was taken (by another notebook's "
                         "code?); it is not graded")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not a text file (bad UTF-8 at byte {exc.start})") from None
    del raw
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"not valid JSON (line {exc.lineno}, column {exc.colno}: "
                         f"{exc.msg})") from None
    except RecursionError:
        raise Unreadable("not valid JSON (nested too deeply)") from None
    del text
    if not isinstance(nb, dict):
        raise Unreadable("not a Jupyter notebook (the JSON is not an object)")
    if nb.get("nbformat") != 4:
        raise Unreadable(f"notebook format {nb.get('nbformat')!r} is not supported "
                         f"(open it in Jupyter and save it, which writes format 4)")
    _drop_outputs(nb)
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(
            isinstance(c, dict) and isinstance(c.get("cell_type"), str)
            and isinstance(c.get("source", ""), (str, list))
            and (not isinstance(c.get("source"), list)
                 or all(isinstance(s, str) for s in c["source"])) for c in cells):
        raise Unreadable("its cells are not valid notebook cells")
    size = sum(len(s) for c in cells for s in (
        c["source"] if isinstance(c.get("source"), list) else [c.get("source", "")]))
    if size > MAX_SOURCES:
        raise Unreadable(f"its cells hold more than {MAX_SOURCES >> 20} MB of text")
    return cells
