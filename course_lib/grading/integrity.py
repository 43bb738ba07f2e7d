"""A keyed MAC over a gradebook and its hashes file, so a resumed run trusts only its own rows.

``course grade`` resumes from the gradebook it wrote before. Anything able to write next to the
gradebook (a student's code run without bubblewrap, a careless edit) could otherwise plant rows
that a resumed run would keep. After every write the grader stores HMAC-SHA256 of the gradebook
and of its ``.sha256.json`` in ``GRADEBOOK.mac``; on resume a gradebook whose MAC does not
verify (or that has none) is not trusted and everything is regraded.

The key is 32 random bytes in a file only this user can read (mode 0600, in a 0700 folder):
``$COURSE_GRADEBOOK_KEY`` if set, else ``$XDG_STATE_HOME/course/gradebook.key``, else
``~/.local/state/course/gradebook.key``. It must lie outside the submissions and the output
folders; under bubblewrap the grading children do not see the home folder at all.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

KEY_ENV = "COURSE_GRADEBOOK_KEY"
KEY_BYTES = 32
DOMAIN = b"course gradebook mac v1\0"


class KeyFileError(ValueError):
    """The MAC key file is unusable (named, with why)."""


def key_path() -> Path:
    """Where the MAC key lives (see the module docstring for the order)."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV]).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "course" / "gradebook.key"


def mac_path(gradebook: Path) -> Path:
    """The MAC file kept next to the gradebook."""
    return gradebook.with_name(gradebook.name + ".mac")


def check_outside(key: Path, gradebook: Path, folders: Iterable[Path]) -> None:
    """Refuse a key next to the gradebook or inside any of ``folders`` (submissions, reports)."""
    where = key.resolve()
    if where.parent == gradebook.resolve().parent:
        raise KeyFileError(f"the gradebook key {key} is in the gradebook's folder; keep it "
                           f"elsewhere (set {KEY_ENV})")
    for folder in folders:
        if where.is_relative_to(folder.resolve()):
            raise KeyFileError(f"the gradebook key {key} is inside {folder}; keep it outside "
                               f"the submissions and output folders (set {KEY_ENV})")


def read_key(path: Path) -> bytes | None:
    """The key, or None when there is no key file yet; an unsafe file is an error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyFileError(f"the gradebook key {path} cannot be read ({exc.strerror}); it must be "
                        f"a regular file, not a symbolic link") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
            raise KeyFileError(f"the gradebook key {path} must be a regular file only you can "
                            f"read (chmod 600), its mode is {stat.filemode(info.st_mode)}")
        key = fh.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"the gradebook key {path} holds {len(key)} bytes, expected "
                        f"{KEY_BYTES}; delete it to make a new one (the next run regrades)")
    return key


def load_or_create_key(path: Path) -> bytes:
    """The key, made (0600, folder 0700) on first use."""
    key = read_key(path)
    if key is not None:
        return key
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another run made it first: use that one
        return read_key(path) or key
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def sign(key: bytes, gradebook: bytes, hashes: bytes) -> str:
    """HMAC-SHA256 (hex) of a gradebook's bytes and its hashes file's bytes."""
    mac = hmac.new(key, DOMAIN, hashlib.sha256)
    for data in (gradebook, hashes):  # length-prefixed: no bytes can move between the two
        mac.update(len(data).to_bytes(8, "big") + data)
    return mac.hexdigest()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def problem(gradebook: Path, hashes: Path, key: bytes | None) -> str:
    """Why the gradebook is not trusted, or "" when its MAC verifies."""
    if key is None:
        return f"there is no gradebook key ({key_path()}) to check it with"
    try:
        stored = mac_path(gradebook).read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return f"it has no MAC file ({mac_path(gradebook).name})"
    except (OSError, UnicodeDecodeError):
        return f"its MAC file ({mac_path(gradebook).name}) cannot be read"
    if not hmac.compare_digest(stored.encode(), sign(key, _read(gradebook),
                                                     _read(hashes)).encode()):
        return "its MAC does not match: the gradebook or its hashes were changed outside "\
               "`course grade`"
    return ""
