"""Near-identical answers: renamed copies are listed, independent answers written differently
are not, blanks, model solutions and short answers are left out, and nothing is modified."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from course_lib.grading import similarity, worksheets
from tests import corpus

# ----- answers to Momentum.update and Adam.update, as students might write them ---------------
MOMENTUM = {
    "model": """
for key in params:
    if key not in self.v:
        self.v[key] = np.zeros_like(params[key])
    self.v[key] = self.momentum * self.v[key] + grads[key]
    params[key] -= self.lr * self.v[key]
""",
    "items": """
for name, p in params.items():
    g = grads[name]
    v = self.v.get(name, np.zeros_like(p))
    v = self.momentum * v + g
    self.v[name] = v
    p -= self.lr * v
""",
    "setdefault": """
for k in params:
    vel = self.v.setdefault(k, np.zeros(params[k].shape))
    vel *= self.momentum
    vel += grads[k]
    params[k] -= self.lr * vel
""",
    "branch": """
for key, g in grads.items():
    if key in self.v:
        self.v[key] = self.momentum * self.v[key] + g
    else:
        self.v[key] = g.copy()
    params[key][...] = params[key] - self.lr * self.v[key]
""",
}
# The "items" answer copied: names changed, comments and a docstring added, lines re-wrapped.
RENAMED_COPY = '''
"""My momentum."""
for param_key, param in params.items():   # every parameter
    grad = grads[param_key]
    velocity = self.v.get(param_key,
                          np.zeros_like(param))
    velocity = self.momentum * velocity + grad  # heavy ball
    self.v[param_key] = velocity
    param -= self.lr * velocity
'''
# The model answer with a temporary added: a copy with a small edit.
EDITED_COPY = """
for k in params:
    if k not in self.v:
        self.v[k] = np.zeros_like(params[k])
    g = grads[k]
    self.v[k] = self.momentum * self.v[k] + g
    params[k] -= self.lr * self.v[k]
"""
ADAM_MODEL = """
self.t += 1
for key in params:
    if key not in self.m:
        self.m[key] = np.zeros_like(params[key])
        self.v[key] = np.zeros_like(params[key])
    g = grads[key]
    self.m[key] = self.beta1 * self.m[key] + (1 - self.beta1) * g
    self.v[key] = self.beta2 * self.v[key] + (1 - self.beta2) * g**2
    m_hat = self.m[key] / (1 - self.beta1**self.t)
    v_hat = self.v[key] / (1 - self.beta2**self.t)
    params[key] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
"""
ADAM_ITEMS = """
self.t = self.t + 1
b1, b2 = self.beta1, self.beta2
for name, p in params.items():
    g = grads[name]
    m = b1 * self.m.get(name, 0.0) + (1.0 - b1) * g
    v = b2 * self.v.get(name, 0.0) + (1.0 - b2) * g * g
    self.m[name], self.v[name] = m, v
    p -= self.lr * (m / (1 - b1 ** self.t)) / (np.sqrt(v / (1 - b2 ** self.t)) + self.eps)
"""
ADAM_INPLACE = """
self.t += 1
c1 = 1 - self.beta1 ** self.t
c2 = 1 - self.beta2 ** self.t
for k in params:
    if k not in self.m:
        self.m[k] = np.zeros_like(params[k])
        self.v[k] = np.zeros_like(params[k])
    self.m[k] *= self.beta1
    self.m[k] += (1 - self.beta1) * grads[k]
    self.v[k] *= self.beta2
    self.v[k] += (1 - self.beta2) * np.square(grads[k])
    params[k] -= self.lr * (self.m[k] / c1) / (np.sqrt(self.v[k] / c2) + self.eps)
"""
# ADAM_INPLACE with its two moment updates swapped and names changed.
ADAM_SWAPPED_COPY = """
self.t += 1
corr1 = 1 - self.beta1 ** self.t
corr2 = 1 - self.beta2 ** self.t
for key in params:
    if key not in self.m:
        self.m[key] = np.zeros_like(params[key])
        self.v[key] = np.zeros_like(params[key])
    self.v[key] *= self.beta2
    self.v[key] += (1 - self.beta2) * np.square(grads[key])
    self.m[key] *= self.beta1
    self.m[key] += (1 - self.beta1) * grads[key]
    params[key] -= self.lr * (self.m[key] / corr1) / (np.sqrt(self.v[key] / corr2) + self.eps)
"""


def form(body: str) -> similarity.Canonical:
    found = similarity.canonical_source(body)
    assert found is not None
    return found


def test_names_comments_docstrings_and_layout_do_not_count():
    assert form(RENAMED_COPY).dump == form(MOMENTUM["items"]).dump
    assert similarity.similarity(form(RENAMED_COPY), form(MOMENTUM["items"])) == 1.0
    # Attributes and constants are the answer: changing one changes the form.
    assert form(MOMENTUM["model"].replace("self.lr", "self.momentum", 1)).dump != \
        form(MOMENTUM["model"]).dump
    assert form("x = 1\n").dump != form("x = 2\n").dump


def test_independent_styles_stay_below_and_copies_above_the_threshold():
    styles = list(MOMENTUM.values())
    for i, a in enumerate(styles):
        for b in styles[i + 1:]:
            assert similarity.similarity(form(a), form(b)) < 0.55 < similarity.THRESHOLD
    adam = [ADAM_MODEL, ADAM_ITEMS, ADAM_INPLACE]
    for i, a in enumerate(adam):
        for b in adam[i + 1:]:
            assert similarity.similarity(form(a), form(b)) < 0.55
    edited = similarity.similarity(form(EDITED_COPY), form(MOMENTUM["model"]))
    swapped = similarity.similarity(form(ADAM_SWAPPED_COPY), form(ADAM_INPLACE))
    assert similarity.THRESHOLD < 0.85 < edited < 1.0
    assert similarity.THRESHOLD < 0.95 < swapped  # the 4-grams hardly see the swap
    assert form(ADAM_SWAPPED_COPY).dump != form(ADAM_INPLACE).dump


def test_only_the_body_around_the_stub_is_taken():
    cell = filled_cell("ex02_momentum", "momentum", MOMENTUM["model"])
    tree = similarity.parse(cell)
    assert similarity.stub_paths(similarity.parse(exercise_cell("ex02_momentum", "momentum"))) \
        == [("Momentum", "update")]
    part = similarity.answer_part(tree, [("Momentum", "update")])
    assert similarity.canonical(part).dump == form(MOMENTUM["model"]).dump
    # A student who renamed the class: the whole cell is compared instead.
    renamed = similarity.parse(cell.replace("class Momentum", "class MyMomentum"))
    assert len(similarity.answer_part(renamed, [("Momentum", "update")])) == 1


# ----- a class folder -----------------------------------------------------------------------------
def exercise(sheet: str) -> dict:
    return json.loads((corpus.EXERCISES / f"{sheet}.ipynb").read_text())


def exercise_cell(sheet: str, item: str) -> str:
    for cell in exercise(sheet)["cells"]:
        if worksheets.course_meta(cell) == {"role": "answer", "item": item}:
            return worksheets.source_of(cell)
    raise KeyError(item)


def filled_cell(sheet: str, item: str, body: str) -> str:
    """The exercise cell with its stub replaced by ``body``, as a student fills it in."""
    source = exercise_cell(sheet, item)
    stub = next(line for line in source.split("\n") if line.strip() == worksheets.STUB[0])
    indent = stub[: len(stub) - len(stub.lstrip())]
    lines = "\n".join(indent + line for line in body.strip("\n").split("\n"))
    return source.replace(f"{indent}{worksheets.STUB[0]}\n{indent}{worksheets.STUB[1]}", lines)


def filled(sheet: str, answers: dict[str, str]) -> dict:
    nb = copy.deepcopy(exercise(sheet))
    for item, body in answers.items():
        nb = corpus.with_cell(nb, item, filled_cell(sheet, item, body))
    return nb


GAIN = "return 1.0 / (1.0 - momentum)"  # short: the same for everyone who gets it right


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class") / "submissions"
    mom = "ex02_momentum"
    corpus.write(folder, "ann", mom, filled(mom, {"momentum": MOMENTUM["items"],
                                                  "momentum_gain": GAIN}))
    corpus.write(folder, "bob", mom, filled(mom, {"momentum": RENAMED_COPY,
                                                  "momentum_gain": GAIN}))
    corpus.write(folder, "cat", mom, filled(mom, {"momentum": MOMENTUM["setdefault"],
                                                  "momentum_gain": GAIN}))
    corpus.write(folder, "dan", mom, filled(mom, {"momentum": MOMENTUM["branch"]}))
    corpus.write(folder, "eve", mom, filled(mom, {"momentum": MOMENTUM["model"]}))
    corpus.write(folder, "fay", mom, corpus.solution(mom))  # the model, markers and all
    corpus.write(folder, "gus", mom, exercise(mom))  # blank
    corpus.write(folder, "hal", mom, b"{ not a notebook")
    corpus.write(folder, "ann", "ex05_adam", filled("ex05_adam", {"adam": ADAM_INPLACE}))
    corpus.write(folder, "cat", "ex05_adam", filled("ex05_adam", {"adam": ADAM_SWAPPED_COPY}))
    corpus.write(folder, "dan", "ex05_adam", filled("ex05_adam", {"adam": ADAM_ITEMS}))
    (folder / "ivy").symlink_to(folder / "ann")  # a link to another folder is not followed
    (folder / "jay").mkdir()  # nor is a link to another student's notebook
    (folder / "jay" / f"{mom}.ipynb").symlink_to(folder / "ann" / f"{mom}.ipynb")
    return folder


def tree_state(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_a_class_lists_the_copies_and_nothing_else(klass):
    before = tree_state(klass)
    scan = similarity.scan_class(klass, worksheets.SOLUTIONS)
    assert tree_state(klass) == before  # only read
    found = {(p.worksheet, p.item, p.first, p.second, p.identical) for p in scan.pairs}
    assert found == {("ex02_momentum", "momentum", "ann", "bob", True),
                     ("ex05_adam", "adam", "ann", "cat", False)}
    # Blank: Nesterov, still the stub, for ann, bob, cat, dan and eve (5); dan's and eve's
    # momentum_gain (2); all of gus's answers (3); the uncorrected_first_step stubs (3).
    assert scan.skipped["blank"] == 5 + 2 + 3 + 3
    # The model: eve's Momentum and fay's three answers.
    assert scan.skipped["the model solution or as close to it as a copy"] == 1 + 3
    # Too short: ann's, bob's and cat's one-line momentum_gain. hal's file is unreadable and
    # ivy is a link: neither is read.
    assert scan.skipped["too short"] == 3
    assert scan.skipped["unreadable notebooks or links"] == 2  # hal's and jay's
    assert scan.skipped["student folders that are links"] == 1  # ivy
    assert scan.compared == 4 + 3  # ann, bob, cat, dan's momentum; ann, cat, dan's adam
    assert not {"ivy", "jay"} & {s for p in scan.pairs for s in (p.first, p.second)}


def test_a_student_edition_compares_against_the_exercises(klass, tmp_path):
    """Without solutions/ the exercises are the blank; there is no model answer to skip."""
    for path in corpus.EXERCISES.glob("*.ipynb"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / worksheets.POINTS_FILE).write_bytes(
        (worksheets.SOLUTIONS / worksheets.POINTS_FILE).read_bytes())
    scan = similarity.scan_class(klass, tmp_path)
    found = {(p.item, p.first, p.second) for p in scan.pairs}
    assert ("momentum", "ann", "bob") in found and ("adam", "ann", "cat") in found
    assert ("momentum", "eve", "fay") in found  # both hand in the model Momentum


def test_answers_as_close_to_the_model_as_a_copy_are_left_out(tmp_path):
    """Two students who both wrote the model answer with one change are not a pair: the
    worksheet leads everyone to that form, so their likeness says nothing."""
    folder = tmp_path / "subs"
    for student, body in (("jo", EDITED_COPY), ("ka", EDITED_COPY.replace("k", "name"))):
        corpus.write(folder, student, "ex02_momentum", filled("ex02_momentum",
                                                              {"momentum": body}))
    scan = similarity.scan_class(folder, worksheets.SOLUTIONS)
    assert scan.pairs == [] and scan.compared == 0
    assert scan.skipped["the model solution or as close to it as a copy"] == 2


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(NotADirectoryError, match="does not exist"):
        similarity.scan_class(tmp_path / "nowhere", worksheets.SOLUTIONS)


def test_unparsable_answers_are_counted_not_compared(tmp_path):
    folder = tmp_path / "subs"
    nb = filled("ex02_momentum", {"momentum": "for key in params\n    pass"})
    corpus.write(folder, "zed", "ex02_momentum", nb)
    scan = similarity.scan_class(folder, worksheets.SOLUTIONS)
    assert scan.skipped["do not parse"] == 1 and not scan.pairs
    assert os.listdir(folder / "zed") == ["ex02_momentum.ipynb"]


def test_the_model_answers_here_are_the_worksheets_model_answers():
    sheets = {s.name: s for s in worksheets.load_worksheets()}
    adam = similarity.references(sheets["ex05_adam"], worksheets.SOLUTIONS)["adam"]
    momentum = similarity.references(sheets["ex02_momentum"], worksheets.SOLUTIONS)["momentum"]
    assert adam.paths == (("Adam", "update"),)
    assert adam.model.dump == form(ADAM_MODEL).dump
    assert momentum.model.dump == form(MOMENTUM["model"]).dump
    stub = form("\n".join(worksheets.STUB)).dump
    assert adam.blank == stub and momentum.blank == stub
