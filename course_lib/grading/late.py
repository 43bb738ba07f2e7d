"""Late work: due dates, a penalty policy, and the submission time of each student folder.

The policy is a TOML file::

    [due]                                  # ISO 8601 with a timezone (TOML date-time or string)
    all = 2026-03-01T23:59:00+01:00        # every worksheet ...
    ex06_capstone = "2026-03-15T23:59:00Z" # ... unless it has its own

    [penalty]
    policy = "per_day"   # per_day: lose `rate` of the worksheet's points per started day late
    rate = 0.1           # capped: the same, but never more than `cap`
    cap = 0.3            # zero_after: 0 points when handed in after the due date

The penalty is that fraction of the points the worksheet earned (after overrides), so a score
never goes below 0. The submission time is the one line of ``timestamp.txt`` in the student's
folder, as nbgrader's exchange writes it (``2026-03-01 14:03:22.123456 UTC``; ISO 8601 with
``Z`` or an offset such as ``+01:00`` works too), never a file's modification time. The time
is only as trustworthy as the tool that collected the folders and wrote it.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from course_lib.grading.tables import InputError

POLICIES = ("per_day", "capped", "zero_after")
KEYS = {"per_day": {"policy", "rate"}, "capped": {"policy", "rate", "cap"},
        "zero_after": {"policy"}}
TIMESTAMP = "timestamp.txt"
MAX_TIMESTAMP = 200  # bytes: a longer file is not a timestamp
DAY = timedelta(days=1)
STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)"
                   r" ?(UTC|GMT|Z|[+-]\d{2}:?\d{2})")


@dataclass(frozen=True)
class Policy:
    """Due dates by worksheet and how lateness is charged."""

    due: dict[str, datetime]
    policy: str
    rate: float = 0.0
    cap: float = 1.0

    def fraction(self, sheet: str, submitted: datetime) -> tuple[float, int]:
        """The share of the worksheet's points lost, and the started days late."""
        late = submitted - self.due[sheet]
        if late <= timedelta(0):
            return 0.0, 0
        days = math.ceil(late / DAY)
        if self.policy == "zero_after":
            return 1.0, days
        return min(self.rate * days, self.cap, 1.0), days


def _when(value: object, where: str) -> datetime:
    """A due date: a TOML date-time or an ISO 8601 string, with a timezone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise InputError(f"{where} = {value!r} is not an ISO 8601 date and time "
                             f"(e.g. 2026-03-01T23:59:00+01:00)") from None
    if not isinstance(value, datetime):
        raise InputError(f"{where} = {value!r} is not a date and time (e.g. "
                         f"2026-03-01T23:59:00+01:00)")
    if value.tzinfo is None:
        raise InputError(f"{where} = {value.isoformat()} has no timezone; add one, e.g. "
                         f"{value.isoformat()}+01:00 or {value.isoformat()}Z")
    return value


def _fraction(table: Mapping, key: str, where: str) -> float:
    value = table.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise InputError(f"{where}: penalty.{key} = {value!r}; it must be a fraction in (0, 1], "
                         f"e.g. 0.1 for 10%")
    return float(value)


def load_policy(path: Path, sheets: Sequence[str]) -> Policy:
    """The late policy of ``path`` for worksheets ``sheets``; any mistake names key and value."""
    try:
        with open(path, "rb") as fh:
            config = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None
    extra = set(config) - {"due", "penalty"}
    if extra or not isinstance(config.get("due"), dict) or \
            not isinstance(config.get("penalty"), dict):
        raise InputError(f"{path}: needs exactly the tables [due] and [penalty]"
                         + (f" (unknown: {', '.join(sorted(extra))})" if extra else ""))
    due, penalty = config["due"], config["penalty"]
    unknown = [k for k in due if k != "all" and k not in sheets]
    if unknown:
        raise InputError(f"{path}: due.{unknown[0]} is not a worksheet (they are "
                         f"{', '.join(sheets)}; `all` sets every one)")
    dates = {k: _when(v, f"{path}: due.{k}") for k, v in due.items()}
    if "all" not in dates and set(sheets) - set(dates):
        raise InputError(f"{path}: no due date for {', '.join(s for s in sheets if s not in dates)}"
                         f" (add due.all or one per worksheet)")
    name = penalty.get("policy")
    if name not in POLICIES:
        raise InputError(f"{path}: penalty.policy = {name!r} is not one of {', '.join(POLICIES)}")
    if set(penalty) - KEYS[name]:
        raise InputError(f"{path}: penalty.{sorted(set(penalty) - KEYS[name])[0]} is not used by "
                         f"policy {name!r} (it takes {', '.join(sorted(KEYS[name]))})")
    rate = _fraction(penalty, "rate", str(path)) if "rate" in KEYS[name] else 0.0
    cap = _fraction(penalty, "cap", str(path)) if "cap" in KEYS[name] else 1.0
    return Policy({s: dates.get(s, dates.get("all")) for s in sheets}, name, rate, cap)


def parse_timestamp(text: str, where: str) -> datetime:
    """A submission time as nbgrader writes it (or ISO 8601), with its timezone."""
    line = text.strip()
    m = STAMP.fullmatch(line)
    if not m:
        raise InputError(f"{where}: {line[:60]!r} is not a submission time like "
                         f"'2026-03-01 14:03:22.123456 UTC' (a timezone is required)")
    zone = m.group(3)
    offset = "+00:00" if zone in ("UTC", "GMT", "Z") else zone[:3] + ":" + zone[-2:]
    try:
        return datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{offset}")
    except ValueError as exc:
        raise InputError(f"{where}: {line!r} is not a valid time ({exc})") from None


def read_timestamp(folder: Path) -> datetime:
    """The time in ``folder/timestamp.txt`` (a link or an oversized file is refused)."""
    path = folder / TIMESTAMP
    try:
        if stat.S_ISLNK(os.lstat(folder).st_mode):
            raise InputError(f"{folder}: the student folder is a symbolic link")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise InputError(f"{path}: missing; every graded student folder needs its submission "
                         f"time for --late") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}; a link is refused)") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise InputError(f"{path}: not a regular file")
        data = fh.read(MAX_TIMESTAMP + 1)
    if len(data) > MAX_TIMESTAMP:
        raise InputError(f"{path}: longer than {MAX_TIMESTAMP} bytes; it should hold one time")
    return parse_timestamp(data.decode("utf-8", "replace"), str(path))


def days_text(days: int) -> str:
    """"1 day", "3 days"."""
    return f"{days} day{'s' if days != 1 else ''}"

