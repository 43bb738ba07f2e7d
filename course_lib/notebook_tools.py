"""Re-execute notebooks in place, so their stored outputs are what a fresh Run All gives.

Usage: ``python -m course_lib.notebook_tools notebooks/*.ipynb`` (``make notebooks``). Each
notebook runs top to bottom in a new kernel from its own folder; a notebook that raises is
reported and left unchanged on disk (the new outputs are written only after a clean run).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from course_lib import nbjson


def execute_in_place(path: Path, timeout: int = 600) -> float:
    """Run ``path`` in a fresh kernel and overwrite it atomically; return the seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    # record_timing=False: no timestamps in cell metadata, so unchanged outputs give an
    # unchanged file and `git diff` shows only real changes.
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nb.metadata["kernelspec"] = kernelspec()
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".ipynb.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(nbjson.writes(nb))  # as JupyterLab saves it: opening and saving is no change
    os.chmod(tmp, path.stat().st_mode)  # mkstemp's 0600 would hide it from a shared server
    os.replace(tmp, path)  # never a half-written notebook
    return seconds


def normalize_in_place(path: Path) -> bool:
    """Store the installed kernelspec and JupyterLab's JSON form; True if the file changed."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = kernelspec()
    text = nbjson.writes(nb)
    if text == path.read_text(encoding="utf-8"):
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".ipynb.tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, path.stat().st_mode)
    os.replace(tmp, path)
    return True


def kernelspec(name: str = "python3") -> dict[str, str]:
    """The kernelspec metadata JupyterLab writes for kernel ``name`` (so opening is no change).

    JupyterLab replaces a notebook's stored ``kernelspec`` by the installed kernel's own on
    open; storing exactly that keeps the file unchanged when a student opens and saves it.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(name)
    return {"display_name": spec.display_name, "language": spec.language, "name": name}


def merge_streams(outputs: list) -> list:
    """Join consecutive stdout (or stderr) chunks into one output.

    How a kernel splits printed text into messages depends on timing; merged, the stored
    notebook is the same on every run.
    """
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (out.output_type == "stream" and prev is not None and prev.output_type == "stream"
                and prev.name == out.name):
            prev.text += out.text
        else:
            merged.append(out)
    return merged


def main(argv: list[str] | None = None) -> int:
    """Execute each notebook given on the command line; exit 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--normalize", action="store_true",
                        help="do not execute: only store the kernelspec and the JSON form "
                             "JupyterLab saves")
    args = parser.parse_args(argv)
    if args.normalize:
        for path in args.notebooks:
            normalize_in_place(path)
        return 0
    failed = 0
    for path in args.notebooks:
        print(f"{path} ...", end=" ", flush=True)
        try:
            print(f"{execute_in_place(path, args.timeout):.1f} s")
        except Exception as exc:  # report and go on with the next notebook
            failed += 1
            print(f"FAILED: {type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
