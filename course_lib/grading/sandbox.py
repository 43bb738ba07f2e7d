"""Run student code in a separate, resource-limited process and talk to it over pipes.

The child is ``python -I runner.py`` (isolated mode: no PYTHON* variables, no user site, no
current directory on the path) started in a fresh session with:

* an address-space limit (``--memory``), so a runaway allocation raises MemoryError;
* a CPU-time limit, and a wall-time limit per request enforced here (``--timeout``): a child
  that does not answer in time is killed with its whole process group;
* a file-size limit: stdout and stderr go to a file in the scratch directory, and a child
  that prints more than the limit is killed by SIGXFSZ;
* a scratch working directory (also its HOME and TMPDIR), deleted afterwards;
* a clean environment (PATH=/usr/bin:/bin, HOME and TMPDIR the scratch directory, LANG,
  PYTHONHASHSEED, single-threaded BLAS, and a marker naming the child): nothing of the grader's;
* when :mod:`~course_lib.grading.isolation` can, its own user and PID namespaces (it is PID 1
  there: everything it starts dies with it, and it cannot signal the grader); otherwise the
  grader adopts its orphans (subreaper) and kills every process carrying its marker.

Requests go as JSON lines on one pipe; answers come back as JSON lines on another, never as
pickles (unpickling could run code in the grader). Each answer must echo the request's random
nonce, and an answer line is limited in size. Without bubblewrap or PID namespaces a child runs
as the grader's user: it cannot signal the grader by its group (its own session), but it could
by the grader's pid, and it can read whatever that user can; ``course grade`` warns about this.
Nothing here stops an attacker with a kernel exploit; for that, run the grader in a container.
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from course_lib.grading import isolation

RUNNER = Path(__file__).with_name("runner.py")
MAX_ANSWER = 16 * 1024 * 1024  # bytes in one answer line

TIMED_OUT = "timed out"
MEMORY = "memory limit exceeded"
OUTPUT = "output limit exceeded"
CPU = "CPU time limit exceeded"
CRASHED = "crashed"


@dataclass(frozen=True)
class Limits:
    """Per-process limits: wall seconds per request, memory in MB, output in KB, CPU seconds."""

    timeout: float = 30.0
    memory_mb: int = 1024
    output_kb: int = 1024
    cpu_seconds: int = 300
    notebook_seconds: float = 300.0  # wall time for everything one notebook runs
    restarts: int = 4  # children started again after one died, per notebook
    sandbox: str = "auto"  # isolation.MODES: bwrap if it works, else unshare, else none

    def __post_init__(self) -> None:
        checks = {"timeout": (self.timeout, 0.1), "memory_mb": (self.memory_mb, 200),
                  "output_kb": (self.output_kb, 16), "cpu_seconds": (self.cpu_seconds, 1),
                  "notebook_seconds": (self.notebook_seconds, 1), "restarts": (self.restarts, 0)}
        for name, (value, low) in checks.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
                raise ValueError(f"Limits: {name} must be a number >= {low}, got {value!r}")
        if self.sandbox not in isolation.MODES:
            raise ValueError(f"Limits: sandbox must be one of {isolation.MODES}, "
                             f"got {self.sandbox!r}")


class ChildFailure(Exception):
    """The child did not answer: ``status`` is one of the statuses above, ``detail`` says why."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


def _apply_limits(limits: Limits) -> None:
    """Runs in the child between fork and exec: lower its resource limits for good."""
    memory = limits.memory_mb * 1024 * 1024
    output = limits.output_kb * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _environment(scratch: str, token: str) -> dict[str, str]:
    """The child's whole environment: nothing is inherited from the grader."""
    one = "1"
    return {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch,
            "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": scratch, "OPENBLAS_NUM_THREADS": one, "OMP_NUM_THREADS": one,
            "MKL_NUM_THREADS": one, isolation.MARKER: token}


class Child:
    """One sandboxed child process; use as a context manager so it is always cleaned up."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.token = secrets.token_hex(8)
        self.scratch = tempfile.mkdtemp(prefix="course-grade-")
        self.log = Path(self.scratch) / "output.txt"
        try:
            self.prefix, self.isolation = isolation.child_prefix(limits.sandbox, self.scratch)
        except BaseException:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        req_r, self._req_w = os.pipe()
        self._ans_r, ans_w = os.pipe()
        try:
            with open(self.log, "wb") as out:
                self.proc = subprocess.Popen(
                    [*self.prefix, sys.executable, "-I", str(RUNNER), str(req_r),
                     str(ans_w)],
                    pass_fds=(req_r, ans_w), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, cwd=self.scratch,
                    env=_environment(self.scratch, self.token),
                    preexec_fn=partial(_apply_limits, limits), start_new_session=True)
        finally:
            os.close(req_r)
            os.close(ans_w)
        self._buffer = b""

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, payload: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send one request and wait for its answer; :class:`ChildFailure` if none comes."""
        nonce = secrets.token_hex(16)
        deadline = time.monotonic() + min(self.limits.timeout, timeout or self.limits.timeout)
        self._write((json.dumps({**payload, "nonce": nonce}) + "\n").encode(), deadline)
        while True:
            line = self._read_line(deadline)
            try:
                answer = json.loads(line)
            except (ValueError, RecursionError):
                continue  # not ours: student code wrote to the channel
            if isinstance(answer, dict) and answer.get("nonce") == nonce:
                return answer

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            if not select.select([], [self._req_w], [], self._left(deadline))[1]:
                raise self._failure(timed_out=True)
            try:
                view = view[os.write(self._req_w, view[:65536]):]
            except (BrokenPipeError, OSError):
                raise self._failure() from None

    def _read_line(self, deadline: float) -> bytes:
        while b"\n" not in self._buffer:
            if not select.select([self._ans_r], [], [], self._left(deadline))[0]:
                raise self._failure(timed_out=True)
            chunk = os.read(self._ans_r, 1 << 20)
            if not chunk:
                raise self._failure()
            self._buffer += chunk
            if len(self._buffer) > MAX_ANSWER:
                self.kill()
                raise ChildFailure(OUTPUT, f"it sent more than {MAX_ANSWER >> 20} MB on the "
                                   f"grading channel")
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _left(self, deadline: float) -> float:
        return max(0.0, deadline - time.monotonic())

    def _failure(self, timed_out: bool = False) -> ChildFailure:
        """Kill the child and explain why it stopped answering."""
        if timed_out:
            self.kill()
            return ChildFailure(TIMED_OUT, f"no answer within {self.limits.timeout:g} s "
                                "(an endless loop, or far too much work?)")
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.proc.returncode
        if self.isolation == "bwrap" and code is not None and code > 128:
            code = 128 - code  # bwrap reports a child killed by signal N as 128 + N
        return explain_exit(code, self.tail(), self.limits)

    def tail(self, size: int = 2000) -> str:
        """The end of what the child printed (for diagnosing a crash)."""
        try:
            with open(self.log, "rb") as fh:
                fh.seek(max(0, fh.seek(0, os.SEEK_END) - size))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """Kill the child's whole process group, then every orphan it left (marked processes).

        The group is killed even when the child itself has already exited: a process it
        started may still be running in it.
        """
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        isolation.sweep(self.token)

    def close(self) -> None:
        """Ask the child to stop, make sure it did, and delete the scratch directory."""
        if self.proc.poll() is None:
            try:
                os.write(self._req_w, b'{"op": "bye"}\n')
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        for fd in (self._req_w, self._ans_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.scratch, ignore_errors=True)


def explain_exit(code: int | None, output: str, limits: Limits) -> ChildFailure:
    """Turn a child's exit code (and the end of its output) into a status and an explanation."""
    if code is not None and code < 0:
        sig = -code
        if sig == signal.SIGXFSZ:
            return ChildFailure(OUTPUT, f"it printed more than {limits.output_kb} KB")
        if sig == signal.SIGXCPU:
            return ChildFailure(CPU, f"it used more than {limits.cpu_seconds} s of CPU time")
        return ChildFailure(CRASHED, f"the process was killed by signal "
                            f"{signal.Signals(sig).name}")
    if "MemoryError" in output:
        return ChildFailure(MEMORY, f"it needed more than {limits.memory_mb} MB")
    return ChildFailure(CRASHED, f"the notebook's code ended the grading process "
                        f"(exit code {code}: sys.exit, os._exit or a crash)")
