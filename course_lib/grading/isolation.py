"""Operating-system protections around the grading children (Linux; no-ops elsewhere).

* :func:`make_undumpable`: ``prctl(PR_SET_DUMPABLE, 0)`` on the grader, so a child running as
  the same user cannot read ``/proc/<grader>/environ``, ``cmdline`` or ``mem`` (nor ptrace it);
* :func:`become_subreaper`: ``prctl(PR_SET_CHILD_SUBREAPER, 1)``, so a process a child
  double-forks is re-parented to the grader instead of to init, and :func:`sweep` can find and
  kill it (it carries the child's marker in its environment);
* :func:`pid_namespace_prefix`: when ``unshare`` can create a user and PID namespace, every child
  runs as PID 1 of its own namespace: when it dies the kernel kills everything it started, and
  it cannot see or signal the grader.

* :func:`bwrap_prefix`: with bubblewrap installed, the child sees a read-only view of only the
  system libraries, Python's standard library, the virtualenv (numpy) and course_lib (the
  runner), a private tmpfs ``/tmp`` with its scratch folder in it, no network, new PID, IPC
  and UTS namespaces, and it dies with the grader (``--die-with-parent``).

:func:`child_prefix` picks one for a sandbox mode (``auto``: bwrap, else unshare, else none)
and what is off is reported by :func:`protections`, so ``course grade`` can say so loudly.
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


MODES = ("auto", "bwrap", "none")
RUNNER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # course_lib/


class SandboxUnavailable(RuntimeError):
    """``--sandbox bwrap`` was asked for but bubblewrap does not work here."""


def _bwrap_args(scratch: str) -> tuple[str, ...]:
    bwrap = shutil.which("bwrap", path="/usr/bin:/bin")
    if not bwrap:
        return ()
    args = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--ro-bind", "/usr", "/usr"]
    for name in ("lib", "lib64", "bin", "sbin"):
        path = f"/{name}"
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for folder in _visible():  # after the tmpfs: course_lib itself may live under /tmp
        args += ["--ro-bind", folder, folder]
    if scratch:
        args += ["--bind", scratch, scratch, "--chdir", scratch]
    return (*args, "--")


@functools.cache
def _visible() -> tuple[str, ...]:
    """What the child may see besides /usr: Python and its standard library, numpy (and how
    to import course_lib), and course_lib itself. In a virtualenv only numpy's folders of
    its site-packages are shown, not the other packages (torch and the like)."""
    import numpy

    shown = {sys.base_prefix, RUNNER_DIR}
    if sys.prefix != sys.base_prefix:
        site = os.path.dirname(os.path.dirname(os.path.abspath(numpy.__file__)))
        shown |= {os.path.join(sys.prefix, "bin"), os.path.join(sys.prefix, "pyvenv.cfg")}
        shown |= {os.path.join(site, n) for n in os.listdir(site)
                  if n.split("-")[0].split(".")[0] == "numpy" or n.startswith("__editable__")}
    return tuple(sorted(f for f in shown if not f.startswith("/usr/") and os.path.exists(f)))


@functools.cache
def bwrap_works() -> bool:
    """Can bubblewrap start Python here (installed, and namespaces allowed)?"""
    args = _bwrap_args("")
    if not args:
        return False
    try:
        done = subprocess.run([*args, sys.executable, "-I", "-c", "import numpy"], timeout=30,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def child_prefix(mode: str, scratch: str) -> tuple[tuple[str, ...], str]:
    """(command prefix, name of the isolation) for a child in sandbox ``mode``."""
    if mode not in MODES:
        raise ValueError(f"sandbox must be one of {MODES}, got {mode!r}")
    if mode in ("auto", "bwrap") and bwrap_works():
        return _bwrap_args(scratch), "bwrap"
    if mode == "bwrap":
        raise SandboxUnavailable("--sandbox bwrap: bubblewrap is not installed or cannot "
                                 "create namespaces here (apt-get install bubblewrap)")
    if mode == "auto" and pid_namespace_prefix():
        return pid_namespace_prefix(), "unshare"
    return (), "none"


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


def protections(mode: str = "auto") -> dict[str, bool]:
    """Which protections grading in ``mode`` gets on this machine (for ``course grade``)."""
    kind = child_prefix(mode, "")[1]
    return {"bubblewrap: read-only file system view, no network (--sandbox bwrap)":
            kind == "bwrap",
            "own PID namespace per notebook (a child cannot signal the grader)":
            kind in ("bwrap", "unshare"),
            "undumpable grader (prctl)": _libc() is not None,
            "orphans adopted and killed (subreaper)": _libc() is not None}
