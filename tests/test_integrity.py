"""Grading integrity: attacks on the grader by a hostile class, each with the grade it must get.

Every test builds its own small class folder (or talks to the sandbox directly) and checks the
grade and status, that the submissions are unchanged, that no process survives and that the
feedback holds no text the student did not write.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from course_lib import cli
from course_lib.grading import (
    assembly,
    grader,
    isolation,
    policy,
    report,
    scrub,
    snapshot,
    worksheets,
)
from course_lib.grading.sandbox import Child, Limits
from tests import corpus

SHEETS = {s.name: s for s in worksheets.load_worksheets()}
EX01 = "ex01_gradient_descent"
FAST = Limits(timeout=3.0, memory_mb=1024, output_kb=256, cpu_seconds=30)


def grade(folder: Path, book: Path, sheets=(EX01,), limits: Limits = FAST, **kw):
    batch = grader.Batch(folder, book, [SHEETS[s] for s in sheets], limits, seed=5, **kw)
    return grader.grade_folder(batch)


def of(rows, student, sheet=EX01):
    return {r.item: r for r in rows if r.student == student and r.worksheet == sheet}


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


# ----- 1. snapshots -------------------------------------------------------------------------------
def test_symlinked_student_folder_and_notebook_are_refused(tmp_path):
    subs = tmp_path / "subs"
    (subs / "linked").parent.mkdir(parents=True)
    (subs / "linked").symlink_to(worksheets.SOLUTIONS, target_is_directory=True)
    (subs / "nb_link").mkdir()
    (subs / "nb_link" / f"{EX01}.ipynb").symlink_to(worksheets.SOLUTIONS / f"{EX01}.ipynb")
    before = corpus.hashes(worksheets.SOLUTIONS)
    rows = grade(subs, tmp_path / "g.csv")
    linked = of(rows, "linked")
    assert {r.status for r in linked.values()} == {"refused"}
    assert sum(r.points for r in linked.values()) == 0
    assert "symbolic link" in linked["sgd"].feedback
    nb_link = of(rows, "nb_link")
    assert {r.status for r in nb_link.values()} == {"malformed notebook"}
    assert "symbolic link" in nb_link["sgd"].feedback
    assert corpus.hashes(worksheets.SOLUTIONS) == before


def test_a_hard_link_to_a_solution_is_refused(tmp_path):
    solutions = tmp_path / "solutions"
    shutil.copytree(worksheets.SOLUTIONS, solutions)
    subs = tmp_path / "subs"
    (subs / "hl").mkdir(parents=True)
    os.link(solutions / f"{EX01}.ipynb", subs / "hl" / f"{EX01}.ipynb")
    rows = of(grade(subs, tmp_path / "g.csv", solutions=solutions), "hl")
    assert {r.status for r in rows.values()} == {"malformed notebook"}
    assert "hard link to the instructor's solution" in rows["sgd"].feedback


def test_snapshot_is_private_and_hashed(tmp_path):
    corpus.write(tmp_path, "ann", EX01, corpus.solution(EX01))
    snap = snapshot.take(tmp_path, [EX01])
    try:
        assert (snap.root.stat().st_mode & 0o777) == 0o700
        entry = snap.entries[("ann", EX01)]
        assert entry.copy.read_bytes() == (tmp_path / "ann" / f"{EX01}.ipynb").read_bytes()
        assert snap.changed() == []
        (tmp_path / "ann" / f"{EX01}.ipynb").write_text("{}")
        assert snap.changed() == [entry]
        assert snapshot.load_cells(entry.copy, entry.sha256)
        entry.copy.write_text(json.dumps(corpus.solution("ex02_momentum")))
        with pytest.raises(snapshot.Unreadable, match="altered after it was taken"):
            snapshot.load_cells(entry.copy, entry.sha256)
    finally:
        snap.close()
    assert not snap.root.exists()


def test_a_cell_that_overwrites_another_worksheet_changes_nothing(tmp_path, monkeypatch):
    """Even with the policy and bwrap off, ex02 is graded from the copy taken before any code
    ran (with bwrap the originals are not even visible to the child)."""
    monkeypatch.setattr(policy, "violations", lambda source, allowed=(): [])
    only(monkeypatch, "none")
    subs = tmp_path / "subs"
    target = subs / "eve" / "ex02_momentum.ipynb"
    blank = (worksheets.EXERCISES / "ex02_momentum.ipynb").read_bytes()
    solved = (worksheets.SOLUTIONS / "ex02_momentum.ipynb").read_text()
    attack = (f"import pathlib\npathlib.Path({str(target)!r}).write_text({solved!r})\n"
              f"def grad_ellipse(x, y):\n    return x / 10, 2 * y\n")
    corpus.write(subs, "eve", EX01, corpus.with_cell(corpus.solution(EX01), "grad_ellipse",
                                                     attack))
    corpus.write(subs, "eve", "ex02_momentum", blank)
    rows = grade(subs, tmp_path / "g.csv", sheets=(EX01, "ex02_momentum"),
                 limits=Limits(timeout=5, sandbox="none"))
    ex02 = of(rows, "eve", "ex02_momentum")
    assert sum(r.points for r in ex02.values()) == 0  # graded as the blank it was
    assert ex02["(notebook)"].status == "changed during grading"
    assert target.read_bytes() != blank  # the attack ran, and was reported, not graded


# ----- 2. only the answer regions run ------------------------------------------------------------
def test_edits_outside_the_answers_never_run(tmp_path):
    nb = corpus.solution(EX01)
    marker = tmp_path / "ran"
    for cell in nb["cells"]:
        role = worksheets.course_meta(cell).get("role")
        if role == "setup":  # the student's setup cell would hide numpy
            cell["source"] = f"np = None\nopen({str(marker)!r}, 'w').write('x')\n"
        elif role in ("check", "demo"):
            cell["source"] = "import os\nos._exit(3)\n"
    nb["cells"].append({"cell_type": "code", "id": "x1", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": "while True:\n    pass\n"})
    corpus.write(tmp_path / "subs", "mal", EX01, nb)
    rows = of(grade(tmp_path / "subs", tmp_path / "g.csv"), "mal")
    assert {k: r.status for k, r in rows.items()} == {
        "grad_ellipse": "correct", "sgd": "correct", "max_stable_lr": "correct"}
    assert not marker.exists()


def test_answers_are_found_by_grade_id_or_id_and_missing_ones_named():
    sheet = SHEETS[EX01]
    template = grader.template_for(sheet)
    cells = corpus.solution(EX01)["cells"]
    moved = copy.deepcopy(cells)
    for cell in moved:  # course metadata dropped, ids changed: grade_id still finds the cells
        cell.get("metadata", {}).pop("course", None)
        cell["id"] = "renamed-" + cell.get("id", "")
    built = assembly.assemble(sheet, template, moved[::-1])
    assert set(built.answers) == set(sheet.items) and not built.problems
    bare = [{**c, "metadata": {}, "id": "nothing"} for c in cells]
    built = assembly.assemble(sheet, template, bare)
    assert set(built.problems) == set(sheet.items)
    assert {p[0] for p in built.problems.values()} == {"answer cell missing"}


def test_exercises_plus_points_give_the_same_scaffolding(tmp_path):
    for path in worksheets.EXERCISES.glob("*.ipynb"):
        shutil.copy(path, tmp_path)
    shutil.copy(worksheets.SOLUTIONS / worksheets.POINTS_FILE, tmp_path)
    for sheet in worksheets.load_worksheets(tmp_path):
        ours = assembly.load_template(sheet, tmp_path)
        assert ours == assembly.load_template(sheet) and ours.setup and ours.fixed


def test_only_the_region_is_taken_from_an_answer_cell():
    sheet = SHEETS[EX01]
    cells = copy.deepcopy(corpus.solution(EX01)["cells"])
    for cell in cells:
        if worksheets.course_meta(cell).get("item") == "sgd":
            src = worksheets.source_of(cell)
            cell["source"] = src.replace("self.lr = lr", "self.lr = 0.0  # edited scaffold")
    built = assembly.assemble(sheet, grader.template_for(sheet), cells)
    sgd = dict(built.cells)[built.answers["sgd"]]
    assert "self.lr = lr" in sgd and "edited scaffold" not in sgd


# ----- 3. the static policy ----------------------------------------------------------------------
@pytest.mark.parametrize("source, construct", [
    ("exec('1')", "the built-in exec"), ("eval('1')", "the built-in eval"),
    ("compile('1', 'x', 'exec')", "the built-in compile"), ("open('f')", "the built-in open"),
    ("__import__('os')", "the built-in __import__"), ("getattr(1, 'real')", "getattr"),
    ("setattr(a, 'b', 1)", "setattr"), ("vars()", "vars"), ("globals()", "globals"),
    ("breakpoint()", "breakpoint"), ("input()", "input"),
    ("x = ().__class__.__bases__[0].__subclasses__()", ".__class__"),
    ("def f():\n    return f.__globals__", ".__globals__"),
    ("import numpy as np\nnp.load('a.npy')", "numpy's load"),
    ("import numpy as n\nn.save('a', 1)", "numpy's save"),
    ("import numpy as np\nnp.lib.format.open_memmap('x')", "numpy's lib"),
    ("a.tofile('x')", ".tofile"), ("import numpy\nnumpy.memmap('x')", ".memmap"),
    ("import numpy as np\nnp.genfromtxt('x')", ".genfromtxt"),
    ("from numpy import loadtxt", "import loadtxt"), ("np.DataSource()", ".DataSource"),
    ("import os", "import os"), ("import subprocess as s", "import subprocess"),
    ("from importlib import import_module", "from importlib"),
    ("x = '{0.__class__}'.format(1)", "format string"),
    ("import sys\ndef g():\n    return sys._getframe().f_back", ".f_back"),
    ("import numpy as np\nm = np\nm.load('x')", "numpy's load"),
    ("import numpy.lib.format as f", "forbidden module"),
    ("import numpy as np\nx = np._core.multiarray", "_core"),
    ("import numpy as np\nx = np._utils", "private attribute ._utils"),
    ("import numpy as np\nx = np.matrixlib.defmatrix.sys", ".sys"),
])
def test_policy_names_the_construct_and_line(source, construct):
    found = policy.violations(source)
    assert found, source
    assert any(construct in v.construct for v in found)
    assert found[-1].line == source.count("\n") + 1 or found[0].line >= 1


@pytest.mark.parametrize("source", [
    "import numpy as np\nimport math\n\nclass Adam:\n    def __init__(self, lr=0.1):\n"
    "        super().__init__()\n        self.lr = lr\n",
    "def f(x):\n    return np.sqrt(x) + math.pi\n",
    "from course_lib.checks import check_sgd\n",  # the worksheet's setup imports it
])
def test_policy_accepts_ordinary_answers(source):
    assert policy.violations(source, {"course_lib.checks"}) == []


def test_huge_sources_are_refused_before_parsing():
    source = "x = 1\n" * (8 * 1024 * 1024 // 6)  # 8 MB of one-liners
    tracemalloc.start()
    start = time.monotonic()
    found = policy.violations(source)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [v.construct for v in found] == ["the cell is longer than 64 KB"]
    assert peak < 16 * 1024 * 1024 and time.monotonic() - start < 2
    deep = "x = " + "(" * 10_000 + ")" * 10_000
    assert "nested" in policy.violations(deep)[0].construct


def test_policy_violation_scores_zero_with_its_own_status(tmp_path):
    bad = "import numpy as np\n\n\ndef max_stable_lr(e):\n    return eval('2.0') / np.max(e)\n"
    corpus.write(tmp_path / "subs", "p", EX01, corpus.with_cell(corpus.solution(EX01),
                                                                 "max_stable_lr", bad))
    rows = of(grade(tmp_path / "subs", tmp_path / "g.csv"), "p")
    assert rows["max_stable_lr"].status == "policy" and rows["max_stable_lr"].points == 0
    assert "line 5: the built-in eval" in rows["max_stable_lr"].feedback
    assert rows["sgd"].status == "correct"


def test_reference_check_ignores_locals():
    scratch = "from course_lib.training import smooth\nlosses = smooth([1.0, 2.0], 0.9)\n"
    loop = ("def train_losses(net, optimizer, x, t, steps, batch_size, seed):\n"
            "    smooth, training, optim = [], 0, None\n"
            "    for step in range(steps):\n        smooth.append(float(step))\n"
            "    return smooth\n")
    assert "train_losses" in worksheets.reference_users([scratch, loop])  # the old check
    assert "train_losses" not in policy.reference_users([scratch, loop])
    uses = "def train_losses(net, optimizer, x, t, steps, batch_size, seed):\n" \
           "    return smooth(x, 0.9)\n"
    assert "train_losses" in policy.reference_users([scratch, uses])
    wrapped = "import course_lib\nclass Adam:\n    def update(self, p, g):\n" \
              "        course_lib.Adam().update(p, g)\n"
    assert "Adam" in policy.reference_users([wrapped])
    local = "class Adam:\n    def update(self, p, g):\n        course_lib = {}\n" \
            "        return course_lib.get('Adam')\n"
    assert "Adam" not in policy.reference_users([local])


# ----- 4. a robust batch -------------------------------------------------------------------------
DAEMON = """
import os, time
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:
        with open({path!r}, "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(120)
    os._exit(0)
os.waitpid(pid, 0)
while not os.path.exists({path!r}):
    time.sleep(0.01)
"""


def host_pid(path: Path) -> int:
    """The daemon's pid as the grader sees it (it may be in its own PID namespace)."""
    inner = int(path.read_text())
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                status = Path(f"/proc/{name}/status").read_text()
            except OSError:
                continue
            ns = [line for line in status.splitlines() if line.startswith("NSpid:")]
            if ns and ns[0].split()[-1] == str(inner) and "sleep" not in status[:0]:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes()
                if b"runner.py" in cmd:
                    return int(name)
    return inner


def only(monkeypatch, kind: str) -> Limits:
    """Limits that make the child use exactly one kind of isolation (or skip the test)."""
    if kind == "bwrap":
        if not isolation.bwrap_works():
            pytest.skip("bubblewrap not usable")
        return Limits(timeout=10, sandbox="bwrap")
    monkeypatch.setattr(isolation, "bwrap_works", lambda: False)
    if kind == "unshare":
        if not isolation.pid_namespace_prefix():
            pytest.skip("no PID namespaces here")
        return Limits(timeout=10, sandbox="auto")
    monkeypatch.setattr(isolation, "pid_namespace_prefix", lambda: ())
    assert isolation.become_subreaper()
    return Limits(timeout=10, sandbox="none")


@pytest.mark.parametrize("kind", ["bwrap", "unshare", "none"])
def test_double_forked_daemon_does_not_survive(monkeypatch, kind):
    child = Child(only(monkeypatch, kind))
    path = Path(child.scratch) / "daemon.pid"
    try:
        answer = child.request({"op": "exec", "source": DAEMON.format(path=str(path)),
                                "name": "c"})
        assert answer["error"] is None
        pid = host_pid(path)
        assert alive(pid)
    finally:
        child.close()
    time.sleep(0.2)
    assert not alive(pid)


@pytest.mark.parametrize("kind", ["bwrap", "unshare", "none"])
@pytest.mark.parametrize("attack", [
    "os.kill(os.getpid(), signal.SIGSTOP)", "os.killpg(0, signal.SIGKILL)",
    "os.killpg(0, signal.SIGSTOP)", "os.kill(-1, signal.SIGCONT)"])
def test_child_cannot_stop_or_kill_the_grader(monkeypatch, kind, attack):
    """The child is in its own session (and PID namespace): its group is never the grader's."""
    limits = dataclasses.replace(only(monkeypatch, kind), timeout=1.5, cpu_seconds=10,
                                 restarts=1)
    session = grader.Session([("a", f"import os, signal\n{attack}\nx = 1")], limits)
    start = time.monotonic()
    try:
        session.call({"op": "function", "symbol": "x", "args": {"calls": []}})
    except grader.ChildFailure as failure:
        assert failure.status in ("timed out", "crashed", grader.BUDGET)
    finally:
        session.close()
    assert time.monotonic() - start < 8
    assert Path(f"/proc/{os.getpid()}/stat").read_text().split(")")[-1].split()[0] in "RS"


@pytest.mark.parametrize("kind", ["bwrap", "unshare"])
def test_a_namespaced_child_cannot_even_name_the_grader(monkeypatch, kind):
    """Same uid, grader's real pid: in its own PID namespace the child cannot reach it.

    (With ``--sandbox none`` it could: that mode is only for machines without namespaces,
    and ``course grade`` says so.)
    """
    limits = only(monkeypatch, kind)
    attack = (f"import os\ntry:\n    os.kill({os.getpid()}, 0)  # 0: could it be signalled?\n"
              f"    r = 'sent'\n"
              f"except OSError as exc:\n    r = type(exc).__name__\nraise ValueError(r)")
    with Child(limits) as child:
        error = child.request({"op": "exec", "name": "c", "source": attack})["error"]
    assert error["message"] in ("ProcessLookupError", "PermissionError")


def test_slow_cells_and_crashing_items_stay_within_the_budget():
    limits = Limits(timeout=1.0, cpu_seconds=10, notebook_seconds=4.0, restarts=3)
    cells = [(f"slow {i}", "import time\ntime.sleep(0.25)") for i in range(20)]
    cells.append(("answers", "import os\nclass SGD:\n    def __init__(self, lr=0.1):\n"
                  "        os._exit(1)\ndef grad_ellipse(x, y):\n    os._exit(1)\n"
                  "def max_stable_lr(e):\n    os._exit(1)\n"))
    session = grader.Session(cells, limits)
    start = time.monotonic()
    try:
        statuses = [grader.grade_item(session, k, np.random.default_rng(0)).status
                    for k in SHEETS[EX01].items]
    finally:
        session.close()
    assert time.monotonic() - start < 12
    assert set(statuses) <= {"crashed", "notebook time budget exceeded", "timed out"}


def test_outputs_do_not_count_towards_the_size_cap(tmp_path):
    nb = corpus.solution(EX01)
    image = "A" * (60 * 1024 * 1024)  # more than the 50 MB cap, all of it output
    for cell in nb["cells"]:
        if worksheets.course_meta(cell).get("role") == "demo":
            cell["outputs"] = [{"output_type": "display_data", "metadata": {},
                                "data": {"image/png": image}}]
            break
    corpus.write(tmp_path / "subs", "big", EX01, nb)
    del image, nb
    rows = of(grade(tmp_path / "subs", tmp_path / "g.csv"), "big")
    assert {r.status for r in rows.values()} == {"correct"}
    huge = {"nbformat": 4, "cells": [{"cell_type": "code", "source": "x" * (51 << 20)}]}
    path = tmp_path / "huge.ipynb"
    path.write_text(json.dumps(huge))
    with pytest.raises(snapshot.Unreadable, match="more than 50 MB of text"):
        snapshot.load_cells(path)


def test_report_names_never_collide(tmp_path):
    rows = [report.Row(s, EX01, "sgd", 1.0, 1.0, "correct", "") for s in
            ("ann lee", "ann_lee", "ann/lee", "bob")]
    written = report.write_reports(tmp_path, rows, [EX01])
    assert len({p.name for p in written}) == 4
    assert {"ann_lee.md", "bob.md"} <= {p.name for p in written}
    assert (tmp_path / "ann_lee.md").read_text().startswith("# Feedback for ann_lee\n")
    texts = {p.read_text().splitlines()[0] for p in written}
    assert texts == {"# Feedback for ann lee", "# Feedback for ann_lee",
                     "# Feedback for ann/lee", "# Feedback for bob"}


def test_resume_regrades_a_changed_notebook_and_says_so(tmp_path):
    subs, book = tmp_path / "subs", tmp_path / "g.csv"
    corpus.write(subs, "ann", EX01, (worksheets.EXERCISES / f"{EX01}.ipynb").read_bytes())
    corpus.write(subs, "bob", EX01, corpus.solution(EX01))
    first = grade(subs, book)
    assert sum(r.points for r in of(first, "ann").values()) == 0
    corpus.write(subs, "ann", EX01, corpus.solution(EX01))  # ann hands in her work later
    again = grade(subs, book)
    ann = of(again, "ann")
    assert sum(r.points for r in ann.values()) == 4
    assert ann["(notebook)"].status == "note" and "regraded" in ann["(notebook)"].feedback
    assert "(notebook)" not in of(again, "bob")


def test_a_downloaded_copy_is_graded_with_a_note(tmp_path):
    subs = tmp_path / "subs"
    (subs / "ann").mkdir(parents=True)
    (subs / "ann" / f"{EX01} (1).ipynb").write_text(json.dumps(corpus.solution(EX01)))
    (subs / "cy").mkdir()
    for n in (1, 2):
        (subs / "cy" / f"{EX01} ({n}).ipynb").write_text(json.dumps(corpus.solution(EX01)))
    rows = grade(subs, tmp_path / "g.csv")
    ann = of(rows, "ann")
    assert sum(r.points for r in ann.values()) == 4
    assert ann["(notebook)"].status == "note" and "(1).ipynb" in ann["(notebook)"].feedback
    cy = of(rows, "cy")
    assert {r.status for r in cy.values()} == {"missing worksheet"}
    assert "2 copies" in cy["sgd"].feedback


# ----- 5. feedback and environment ---------------------------------------------------------------
def test_child_environment_is_clean(monkeypatch):
    monkeypatch.setenv("COURSE_TEST_SECRET", "do-not-leak-4242")
    with Child(FAST) as child:
        answer = child.request({"op": "exec", "name": "c", "source": (
            "import os\nraise ValueError(' '.join(sorted(os.environ)))")})
    keys = set(answer["error"]["message"].split())
    assert keys <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONHASHSEED", "MPLBACKEND",
                    "MPLCONFIGDIR", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                    "MKL_NUM_THREADS", isolation.MARKER, "LC_CTYPE", "PWD"}


def test_feedback_holds_no_paths_environment_or_argv(tmp_path, monkeypatch):
    monkeypatch.setattr(policy, "violations", lambda source, allowed=(): [])
    monkeypatch.setenv("COURSE_TEST_SECRET", "do-not-leak-4242")
    leak = ("import os, sys\nimport numpy as np\nraise ValueError(os.getcwd() + ' ' + "
            "' '.join(sys.argv) + ' ' + np.__file__ + ' do-not-leak-4242')\n")
    corpus.write(tmp_path / "subs", "leaky", EX01, corpus.with_cell(
        corpus.solution(EX01), "grad_ellipse", leak))
    rows = of(grade(tmp_path / "subs", tmp_path / "g.csv"), "leaky")
    text = rows["grad_ellipse"].feedback
    assert "ValueError" in text and "<path>" in text
    for foreign in ("runner.py", "course-grade-", sys.prefix, "do-not-leak-4242", "/tmp"):
        assert foreign not in text
    assert scrub.clean("x" * 5000).endswith("...") and len(scrub.clean("x" * 5000)) == 1500


# ----- 6. an undumpable grader -------------------------------------------------------------------
UNDUMPABLE = """
import ctypes, sys, time
if sys.argv[1] == "1":
    ctypes.CDLL("libc.so.6").prctl(4, 0, 0, 0, 0)
print("ready", flush=True)
time.sleep(30)
"""
READER = "import sys\ntry:\n    open(f'/proc/{sys.argv[1]}/environ', 'rb').read()\n" \
         "    print('read')\nexcept OSError:\n    print('refused')\n"


PLAIN_PYTHON = "/usr/bin/python3" if os.getuid() == 0 and os.path.exists("/usr/bin/python3") \
    else sys.executable  # nobody may not reach the virtualenv's interpreter


def as_nobody() -> None:
    if os.getuid() == 0:  # root may read anything: test as an ordinary user instead
        os.setgid(65534)
        os.setuid(65534)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux only")
@pytest.mark.parametrize("undumpable, expected", [("1", "refused"), ("0", "read")])
def test_an_undumpable_process_hides_its_environment(undumpable, expected):
    target = subprocess.Popen([PLAIN_PYTHON, "-c", UNDUMPABLE, undumpable],
                              stdout=subprocess.PIPE, text=True, preexec_fn=as_nobody,
                              env={"SECRET": "x"}, cwd="/")
    try:
        assert target.stdout.readline().strip() == "ready"
        out = subprocess.run([PLAIN_PYTHON, "-c", READER, str(target.pid)], text=True,
                             capture_output=True, preexec_fn=as_nobody, timeout=20,
                             cwd="/").stdout
        assert out.strip() == expected
    finally:
        target.kill()
        target.wait()


def test_the_grader_makes_itself_undumpable():
    code = ("import ctypes, tempfile\nfrom pathlib import Path\n"
            "from course_lib.grading import grader\n"
            "d = Path(tempfile.mkdtemp())\n"
            "grader.grade_folder(grader.Batch(d, d / 'g.csv', [], grader.Limits()))\n"
            "print(ctypes.CDLL('libc.so.6').prctl(3, 0, 0, 0, 0))\n")  # PR_GET_DUMPABLE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=worksheets.REPO, timeout=30)
    assert out.stdout.strip() == "0", out.stderr


def test_cli_warns_about_protections_that_are_off(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(isolation, "protections", lambda mode: {"PID namespace": False,
                                                                "undumpable": True})
    subs = tmp_path / "subs"
    corpus.write(subs, "ann", EX01, corpus.solution(EX01))
    (subs / "evil").symlink_to(worksheets.SOLUTIONS, target_is_directory=True)
    code = cli.main(["grade", str(subs), "-o", str(tmp_path / "g.csv"), "--seed", "1"])
    assert code == 0
    err = capsys.readouterr().err
    assert "protections are OFF on this machine: PID namespace" in err
    assert "evil: refused, graded 0" in err
    shutil.rmtree(tmp_path / "g_feedback")


# ----- 7. bubblewrap -----------------------------------------------------------------------------
needs_bwrap = pytest.mark.skipif(not isolation.bwrap_works(), reason="bubblewrap not usable")


@needs_bwrap
def test_bwrap_child_sees_only_python_numpy_and_the_runner(tmp_path):
    secret = worksheets.SOLUTIONS / "ex01_gradient_descent.ipynb"
    others = Path(np.__file__).parents[1] / "pytest"  # another package of the virtualenv
    assert others.exists()
    probe = ("import os, socket\nseen = sorted(os.listdir('/'))\n"
             f"hidden = not os.path.exists({str(secret)!r}) and not "
             f"os.path.exists({str(others)!r})\n"
             "try:\n    open('/usr/x', 'w')\n    ro = False\nexcept OSError:\n    ro = True\n"
             "try:\n    socket.create_connection(('1.1.1.1', 80), timeout=1)\n    net = True\n"
             "except OSError:\n    net = False\n"
             "raise ValueError(f'{hidden} {ro} {net} {os.getpid()} {sorted(os.environ)}')")
    with Child(Limits(timeout=10, sandbox="bwrap")) as child:
        assert child.isolation == "bwrap"
        message = child.request({"op": "exec", "name": "c", "source": probe})["error"]["message"]
    hidden, ro, net, pid, env = message.split(" ", 4)
    assert (hidden, ro, net) == ("True", "True", "False")
    assert int(pid) < 10 and "COURSE_TEST" not in env


@needs_bwrap
def test_bwrap_grades_the_same(tmp_path):
    corpus.write(tmp_path / "subs", "ann", EX01, corpus.solution(EX01))
    rows = of(grade(tmp_path / "subs", tmp_path / "g.csv",
                    limits=Limits(timeout=10, sandbox="bwrap")), "ann")
    assert {r.status for r in rows.values()} == {"correct"}


def test_sandbox_modes_are_checked_and_bwrap_missing_is_loud(monkeypatch):
    with pytest.raises(ValueError, match="sandbox must be one of"):
        Limits(sandbox="docker")
    monkeypatch.setattr(isolation, "bwrap_works", lambda: False)
    with pytest.raises(isolation.SandboxUnavailable, match="bubblewrap is not installed"):
        Child(Limits(sandbox="bwrap"))
    off = [k for k, on in isolation.protections("none").items() if not on]
    assert any("bubblewrap" in k for k in off) and any("PID namespace" in k for k in off)
