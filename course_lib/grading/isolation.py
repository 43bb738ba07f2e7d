"""Operating-system protections around the grading children (Linux; no-ops elsewhere).

* :func:`make_undumpable`: ``prctl(PR_SET_DUMPABLE, 0)`` on the grader, so a child running as
  the same user cannot read ``/proc/<grader>/environ``, ``cmdline`` or ``mem`` (nor ptrace it);
* :func:`become_subreaper`: ``prctl(PR_SET_CHILD_SUBREAPER, 1)``, so a process a child
  double-forks is re-parented to the grader instead of to init, and :func:`sweep` can find and
  kill it (it carries the child's marker in its environment);
* :func:`pid_namespace_prefix`: when ``unshare`` can create a user and PID namespace, every child
  runs as PID 1 of its own namespace: when it dies the kernel kills everything it started, and
  it cannot see or signal the grader.

What is off is reported by :func:`protections`, so ``course grade`` can say so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import shutil
import signal
import subprocess
import sys

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
MARKER = "COURSE_GRADE_CHILD"  # environment variable naming the Child a process belongs to


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


def _prctl(option: int, value: int) -> bool:
    libc = _libc()
    return libc is not None and libc.prctl(option, value, 0, 0, 0) == 0


def make_undumpable() -> bool:
    """Make this process undumpable (True when it worked)."""
    return _prctl(PR_SET_DUMPABLE, 0)


def become_subreaper() -> bool:
    """Adopt orphaned descendants (True when it worked)."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


@functools.cache
def pid_namespace_prefix() -> tuple[str, ...]:
    """The command prefix that runs a child in new user and PID namespaces, or () if none works."""
    unshare = shutil.which("unshare", path="/usr/bin:/bin")
    if not unshare or not sys.platform.startswith("linux"):
        return ()
    prefix = (unshare, "--user", "--map-root-user", "--pid", "--fork", "--kill-child")
    try:
        done = subprocess.run([*prefix, "/bin/sh", "-c", "test $$ = 1"], timeout=10,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.SubprocessError):
        return ()
    return prefix if done.returncode == 0 else ()


def _children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (from /proc)."""
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return found
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(name))
    return found


def _marked(pid: int, token: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return f"{MARKER}={token}".encode() in fh.read().split(b"\0")
    except OSError:
        return False


def sweep(token: str, rounds: int = 20) -> int:
    """Kill and reap the orphans of a Child (marked with ``token``) adopted by this process."""
    killed = 0
    for _ in range(rounds):
        mine = [p for p in _children_of(os.getpid()) if _marked(p, token)]
        if not mine:
            break
        for pid in mine:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        for pid in mine:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
    return killed


def protections() -> dict[str, bool]:
    """Which protections this machine gives the grader (for the warning ``course grade`` prints)."""
    return {"PID namespace per notebook (unshare)": bool(pid_namespace_prefix()),
            "undumpable grader (prctl)": _libc() is not None,
            "orphans adopted and killed (subreaper)": _libc() is not None}
