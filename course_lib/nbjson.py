"""Notebook JSON exactly as JupyterLab saves it, so opening and saving a course file is no change.

JupyterLab sends a notebook through the browser's JSON, where ``1.0`` and ``1`` are the same
number: widget states such as a slider's ``"max": 1.0`` come back as ``1``. It also ends the
file with a newline. Writing our notebooks in that form keeps ``git status`` clean after a
student opens and saves one.
"""

from __future__ import annotations

from typing import Any


def browser_numbers(obj: Any) -> Any:
    """``obj`` with every integral float replaced by the int the browser would write."""
    if isinstance(obj, float) and obj.is_integer() and abs(obj) < 2**53:
        return int(obj)
    if isinstance(obj, dict):
        return {k: browser_numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [browser_numbers(v) for v in obj]
    return obj


def writes(nb: Any) -> str:
    """The text JupyterLab would save for notebook ``nb`` (a dict or NotebookNode)."""
    import nbformat

    text = nbformat.writes(nbformat.from_dict(browser_numbers(dict(nb))), version=4)
    return text if text.endswith("\n") else text + "\n"
