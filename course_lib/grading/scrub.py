"""Feedback holds only what the student wrote and what the grader meant to say.

:func:`clean` is applied to every feedback text before it is stored: it bounds the length,
drops control characters, and replaces the grader's environment values, its command line and
any absolute file path (the grader's, the snapshot's, Python's) by a placeholder.
"""

from __future__ import annotations

import os
import re
import sys

MAX_FEEDBACK = 1500
PATH = re.compile(r"(?<![\w.])(?:/[\w.+@~-]+){2,}/?|[A-Za-z]:\\[^\s'\"]+")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _secrets() -> list[str]:
    values = {v for v in os.environ.values() if len(v) >= 8}
    values |= {a for a in sys.argv if len(a) >= 8}
    return sorted(values, key=len, reverse=True)


def clean(text: str, limit: int = MAX_FEEDBACK) -> str:
    """``text`` without the grader's secrets and paths, at most ``limit`` characters."""
    text = CONTROL.sub("?", str(text))
    if len(text) > 4 * limit:
        text = text[:4 * limit]
    for value in _secrets():
        if value in text:
            text = text.replace(value, "<hidden>")
    text = PATH.sub("<path>", text)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text
