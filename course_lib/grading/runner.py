"""Run a student's code and record what it does: the half of grading that touches student code.

Two users:

* :mod:`course_lib.checks` imports :func:`run_optimizer` and :func:`run_function` to record a
  student's class or function in the notebook's own process (the self-check cells);
* the grader starts this file as a script, ``python -I runner.py FD_IN FD_OUT``, in a separate,
  resource-limited process. There it executes the notebook's cells, then answers requests, one
  JSON line each, and sends back what the student's code returned. It never sees the expected
  values: the grader draws the inputs and judges the answers in its own process.

So this file imports only the standard library and NumPy (running it by path must not import the
``course_lib`` package, whose reference optimizers the child process hides from student code).
"""

from __future__ import annotations

import builtins
import errno
import importlib.abc
import importlib.util
import json
import linecache
import os
import sys
import traceback
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

# Modules student code may not import while being graded: the reference implementations (and
# the grader itself). course_lib.checks is replaced by a stub whose check_* functions do nothing.
HIDDEN = ("course_lib.optimizers", "course_lib._base", "course_lib.minimize",
          "course_lib.grading", "course_lib.training", "torch", "tensorflow", "keras", "jax",
          "optax")
MAX_MESSAGE = 300
OUTPUT_LIMIT = "OutputLimitExceeded"  # the error type reported when a write hits the size limit
# Frames in these places are not the student's: error locations skip them.
LIBRARY_DIRS = tuple(os.path.join(os.path.abspath(d), "") for d in {
    sys.prefix, sys.base_prefix, sys.exec_prefix,
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))})


def is_student_frame(filename: str) -> bool:
    """True for a frame in student code: a notebook cell, not Python, NumPy or course_lib."""
    if filename.startswith("<frozen"):
        return False
    return not os.path.abspath(filename).startswith(LIBRARY_DIRS)


# ----- recording a student's optimizer or function -----------------------------------------------
def describe_error(exc: BaseException, step: int | None = None,
                   call: str = "") -> dict[str, Any]:
    """A short, JSON-ready description of an exception raised by student code.

    It names the exception, its message and the innermost line of student code (a cell or a
    notebook file) so the student can find it, without a traceback.
    """
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if is_student_frame(frame.filename):
            text = (frame.line or "").strip()
            where = f"line {frame.lineno}" + (f": {text[:80]}" if text else "")
            break
    try:
        text = str(exc).strip()
    except Exception:  # a student's exception class may have a broken __str__
        text = ""
    message = text.splitlines()[0] if text else ""
    kind = type(exc).__name__
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:  # RLIMIT_FSIZE: printed too much
        kind = OUTPUT_LIMIT
    return {"type": kind, "message": message[:MAX_MESSAGE], "where": where,
            "step": step, "call": call}


def float_array(x: Any) -> np.ndarray | None:
    """``x`` as a float array, or None when it is not numeric (state we cannot compare)."""
    try:
        a = np.array(x, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return None
    return a if a.size <= 1_000_000 else None


def student_state(opt: Any, buffers: Sequence[str], keys: Sequence[str]) -> dict[str, Any]:
    """The per-parameter buffers a worksheet class keeps as ``self.<name>[key]`` (if it does).

    Returns ``{name: {key: array}}`` for every buffer that is a dict holding that key, plus
    ``"t"`` (an int) when the object counts its steps in ``self.t``.
    """
    state: dict[str, Any] = {}
    for name in buffers:
        store = getattr(opt, name, None) if name != "t" else None
        if isinstance(store, Mapping):
            arrays = {k: float_array(store[k]) for k in keys if k in store}
            state[name] = {k: a for k, a in arrays.items() if a is not None}
    t = getattr(opt, "t", None)
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
        state["t"] = int(t)
    return state


def run_optimizer(cls: Any, hyper: Mapping[str, float], params0: Mapping[str, np.ndarray],
                  grads: Sequence[Mapping[str, np.ndarray]], buffers: Sequence[str],
                  read_state: Callable[..., dict] = student_state) -> dict[str, Any]:
    """Build ``cls(**hyper)``, call ``update(params, grads[k])`` for each k, record each step.

    The record holds, after every step, the values of the caller's ORIGINAL parameter arrays
    (an update that rebinds ``params[key]`` instead of writing in place leaves them unchanged),
    the keys that were rebound, and the state read by ``read_state``. An exception stops the
    run and is described in ``error``; the steps before it are kept.
    """
    params = {k: np.array(v, dtype=float) for k, v in params0.items()}
    originals = dict(params)
    record: dict[str, Any] = {"steps": [], "error": None}
    call = f"{getattr(cls, '__name__', 'it')}({', '.join(f'{k}={v:g}' for k, v in hyper.items())})"
    try:
        opt = cls(**hyper)
    except BaseException as exc:  # student code: anything can happen, SystemExit included
        record["error"] = describe_error(exc, 0, call)
        return record
    for step, g in enumerate(grads, start=1):
        try:
            opt.update(params, {k: np.array(v, dtype=float) for k, v in g.items()})
            state = read_state(opt, buffers, list(originals))
        except BaseException as exc:
            record["error"] = describe_error(exc, step, "update()")
            return record
        record["steps"].append({
            "params": {k: a.copy() for k, a in originals.items()},
            "rebound": [k for k in originals if params.get(k) is not originals[k]],
            "state": state})
    return record


def run_function(fn: Any, calls: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Call ``fn(*args)`` for each argument list; record each result as a float array."""
    record: dict[str, Any] = {"results": [], "error": None}
    for i, args in enumerate(calls, start=1):
        try:
            value = fn(*args)
        except BaseException as exc:
            record["error"] = describe_error(exc, i, f"{getattr(fn, '__name__', 'it')}()")
            return record
        record["results"].append(float_array(value))
    return record


class GraderSGD:
    """The optimizer handed to a student's training loop: plain gradient descent, in place."""

    def __init__(self, lr: float) -> None:
        self.lr, self.calls = lr, 0

    def update(self, params: Mapping[str, np.ndarray], grads: Mapping[str, Any]) -> None:
        """p -= lr * g for every parameter (counting the calls)."""
        self.calls += 1
        for key, p in params.items():
            p -= self.lr * np.asarray(grads[key])


def run_training(fn: Any, case: Mapping[str, Any]) -> dict[str, Any]:
    """Call a student's ``fn(net, optimizer, x, t, steps, batch_size, seed)`` on a fresh net.

    Records the losses it returns, the network's final parameters and how many updates it made.
    """
    from course_lib.networks import MLP  # allowed in the child: it holds no optimizer

    net = MLP(case["sizes"], seed=case["net_seed"])
    opt = GraderSGD(case["lr"])
    record: dict[str, Any] = {"losses": None, "params": {}, "updates": 0, "error": None}
    try:
        losses = fn(net, opt, np.array(case["x"]), np.array(case["t"], dtype=np.int64),
                    case["steps"], case["batch_size"], case["seed"])
    except BaseException as exc:
        record["error"] = describe_error(exc, call=f"{getattr(fn, '__name__', 'it')}()")
        return record
    record.update(losses=float_array(losses), updates=opt.calls,
                  params={k: np.array(v, dtype=float) for k, v in net.params.items()})
    return record


# ----- the child process -------------------------------------------------------------------------
def to_json(obj: Any) -> Any:
    """Arrays become ``{"nd": nested lists}`` so a record survives a JSON round trip."""
    if isinstance(obj, np.ndarray):
        return {"nd": obj.tolist()}
    if isinstance(obj, Mapping):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def from_json(obj: Any) -> Any:
    """The inverse of :func:`to_json` (arrays come back as float64)."""
    if isinstance(obj, dict):
        if set(obj) == {"nd"}:
            return np.array(obj["nd"], dtype=float)
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj


def strip_magics(source: str) -> str:
    """Blank out IPython magics and shell escapes (``%matplotlib``, ``!pip``), keep line numbers."""
    lines = source.splitlines()
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


class _Hidden(importlib.abc.MetaPathFinder):
    """Refuses to import the reference implementations inside the grading process."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if any(name == h or name.startswith(h + ".") for h in HIDDEN):
            raise ImportError(f"{name} is not available while grading: the graded answers "
                              f"must be your own code")
        return None


def _no_check(*args: Any, **kwargs: Any) -> None:
    """Self-checks do nothing while grading: the grader judges the answers itself."""


def hide_reference() -> None:
    """Make ``course_lib`` importable without its reference optimizers; stub its checks."""
    sys.meta_path.insert(0, _Hidden())
    spec = importlib.util.find_spec("course_lib")  # finds the package without running it
    package = types.ModuleType("course_lib", "course_lib, without the reference optimizers")
    package.__path__ = list(spec.submodule_search_locations or []) if spec else []
    checks = types.ModuleType("course_lib.checks", "stub: self-checks are off while grading")
    checks.__getattr__ = lambda name: _no_check  # type: ignore[method-assign]
    package.checks = checks  # type: ignore[attr-defined]
    sys.modules["course_lib"], sys.modules["course_lib.checks"] = package, checks


def execute(ns: dict, source: str, name: str) -> dict[str, Any]:
    """Run one cell's source in the notebook namespace ``ns``; report an exception, if any."""
    code = strip_magics(source)
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    try:
        exec(compile(code, name, "exec"), ns)  # noqa: S102 - running student code is the job
    except BaseException as exc:
        return {"error": describe_error(exc, call=name)}
    return {"error": None}


def serve(ns: dict, request: dict) -> dict[str, Any]:
    """Answer one request: execute a cell, or run a named class/function on given inputs."""
    op = request.get("op")
    if op == "exec":
        return execute(ns, request["source"], request["name"])
    target = ns.get(request.get("symbol", ""))
    if target is None:
        return {"missing": True}
    args = from_json(request["args"])
    if op == "optimizer":
        return to_json(run_optimizer(target, args["hyper"], args["params"], args["grads"],
                                     args["buffers"]))
    if op == "function":
        return to_json(run_function(target, args["calls"]))
    if op == "training":
        return to_json(run_training(target, args["case"]))
    return {"unknown": op}


def main(argv: list[str]) -> None:
    """The child's loop: one JSON request per line on FD_IN, one JSON answer per line on FD_OUT.

    Each answer echoes the request's ``nonce``: a line the student's code writes itself cannot
    know it, so the grader ignores such lines.
    """
    requests = os.fdopen(int(argv[1]), "rb")
    answers = os.fdopen(int(argv[2]), "wb")
    hide_reference()
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    for line in requests:
        request = json.loads(line)
        if request.get("op") == "bye":
            break
        answer = serve(ns, request)
        answer["nonce"] = request["nonce"]
        answers.write(json.dumps(answer).encode() + b"\n")
        answers.flush()
    answers.close()


if __name__ == "__main__":
    main(sys.argv)
