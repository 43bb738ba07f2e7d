"""Where the lectures teach each graded item and mistake, and how a report words a mistake.

A report links a wrong answer to the lecture section that explains it, on the course website
(``make book``: ``notebooks/06_adam.html#where-eps-goes-and-the-epsilon-hat-form``, the id
Sphinx gives the section) or in JupyterLab (``make lab``: the notebook's URL with the anchor
JupyterLab gives the heading, its text with every space replaced by ``-``; JupyterLab 4.6
opens such a link at the top of the notebook, so the link's text names the section). Only
headings without ``$...$`` math are linked: their anchors do not depend on how the math is
typeset. ``tests/test_class_report.py`` checks that every heading below exists in its notebook
and that both anchors are the ones docutils and nbconvert derive from it.

:data:`PHRASES` words a mistake for the class report ("38% put eps inside the square root");
a mistake without a phrase is shown by its name. :func:`hint` finds a mistake's hint in
:mod:`course_lib.grading.mistakes`, by item, since one name (``eps inside the sqrt``) has a
different hint for each optimizer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from course_lib.grading import mistakes
from course_lib.grading.worksheets import REPO

NOTEBOOKS = REPO / "notebooks"
BOOK = REPO / "_build" / "book"  # where `make book` writes the website
LAB_URL = "http://localhost:8888/lab/tree/"  # where `make lab` serves the repository
KINDS = ("book", "lab")


@dataclass(frozen=True)
class Section:
    """A lecture section: its notebook file and its heading text as written (Markdown)."""

    notebook: str
    heading: str

    @property
    def lab_anchor(self) -> str:
        """The heading's anchor in JupyterLab: its text, spaces replaced by ``-``."""
        return plain(self.heading).replace(" ", "-")

    @property
    def book_anchor(self) -> str:
        """The section's id on the website (docutils: lower case, runs of other characters
        become ``-``, leading digits and hyphens dropped)."""
        slug = re.sub(r"[^a-z0-9]+", "-", plain(self.heading).lower())
        return re.sub(r"^[-0-9]+|-+$", "", slug)

    @property
    def title(self) -> str:
        """The heading as a reader sees it: ``notebook 06, 7. Where eps goes ...``."""
        return f"notebook {self.notebook[:2]}, {plain(self.heading)}"


@dataclass(frozen=True)
class Lectures:
    """Where links to the lectures point: the website under ``base`` or JupyterLab's."""

    base: str
    kind: str = "book"  # one of KINDS

    def url(self, section: Section) -> str:
        """The address of a section."""
        if self.kind == "lab":
            fragment = quote(section.lab_anchor, safe="-.,:()!*_~'")
            return f"{self.base}notebooks/{quote(section.notebook)}#{fragment}"
        page = quote(section.notebook.removesuffix(".ipynb"))
        return f"{self.base}notebooks/{page}.html#{section.book_anchor}"


LAB = Lectures(LAB_URL, "lab")


def plain(heading: str) -> str:
    """A Markdown heading's text without inline code and emphasis marks."""
    return re.sub(r"`([^`]*)`|\*\*?([^*]+)\*\*?", lambda m: m.group(1) or m.group(2), heading)


def _s(notebook: str, heading: str) -> Section:
    return Section(notebook, heading)


NB00, NB01, NB03 = "00_start_here.ipynb", "01_gradient_descent.ipynb", "03_momentum.ipynb"
NB04, NB05, NB06 = "04_adagrad.ipynb", "05_rmsprop.ipynb", "06_adam.ipynb"
STEEPEST = _s(NB01, "1. The gradient is the steepest direction")
NOTATION = _s(NB00, "Notation, used everywhere")
TEXTBOOK_FORMS = _s(NB03, "4. Three textbook forms of the same idea")
FORGETTING = _s(NB05, "2. Forgetting: the weights of a moving average")
BIAS = _s(NB06, "2. The bias, derived")
EPS = _s(NB06, '7. Where `eps` goes, and the "epsilon hat" form')
FIRST_STEP = _s(NB06, "3. Which corrections matter: the first step, four ways")
ADAGRAD_FIRST = _s(NB04, "2. The first step is about `lr` per coordinate")

ITEM_SECTIONS: dict[str, Section] = {
    "grad_ellipse": STEEPEST,
    "sgd": STEEPEST,
    "max_stable_lr": _s(NB01, "The same on a 2-D quadratic: eigen-decomposition"),
    "momentum": _s(NB03, "2. The heavy ball"),
    "nesterov": _s(NB03, "7. Nesterov: look before you leap"),
    "momentum_gain": _s(NB03, "3. The velocity is a moving average of gradients"),
    "adagrad": _s(NB04, "1. From SGD to AdaGrad"),
    "adagrad_effective_lr": ADAGRAD_FIRST,
    "rmsprop": _s(NB05, "1. From AdaGrad to RMSProp"),
    "rmsprop_s_after": FORGETTING,
    "adam": _s(NB06, "4. Adam in five lines"),
    "uncorrected_first_step": FIRST_STEP,
    "smooth": BIAS,
    "train_losses": _s(NB01, "5. Stochastic and minibatch gradients"),
}

# A mistake explained somewhere other than its item's section: (item, mistake name), where
# item "*" is any item. Students are not sent ahead to a lecture they may not have reached.
MISTAKE_SECTIONS: dict[tuple[str, str], Section] = {
    ("*", "updated a copy instead of the parameter in place"): NOTATION,
    ("*", "one state buffer shared by all parameters"): NOTATION,
    ("*", "t counted once per parameter"): NOTATION,
    ("*", "velocity in the textbook form (v = momentum * v - lr * g)"): TEXTBOOK_FORMS,
    ("*", "(1 - momentum) used where it does not belong"): TEXTBOOK_FORMS,
    ("*", "learning rate applied twice"): TEXTBOOK_FORMS,
    ("*", "AdaGrad without accumulation"): _s(NB04, "4. The price: the step only shrinks"),
    ("adam", "eps inside the sqrt"): EPS,
    ("uncorrected_first_step", "eps inside the sqrt"): EPS,
    ("adam", "eps missing from the denominator"): EPS,
    ("*", "eps added before correcting v (the 'epsilon hat' form)"): EPS,
    ("*", "forgot (1 - decay_rate)"): FORGETTING,
    ("*", "decay_rate where (1 - decay_rate) belongs"): FORGETTING,
    ("*", "the old s is never forgotten"): FORGETTING,
    ("*", "bias correction in RMSProp"): BIAS,
    ("*", "forgot (1 - beta1) in m"): _s(NB06, "1. Two moving averages"),
    ("*", "forgot (1 - beta2) in v"): _s(NB06, "1. Two moving averages"),
    ("*", "beta1 and beta2 exchanged"): _s(NB06, "1. Two moving averages"),
    ("*", "bias correction with t before incrementing"): BIAS,
    ("*", "corrected m but not v"): FIRST_STEP,
    ("*", "corrected v but not m"): FIRST_STEP,
    ("*", "no bias correction"): FIRST_STEP,
    ("*", "the two bias corrections swapped"): BIAS,
    ("*", "this is the bias-corrected step"): FIRST_STEP,
    ("adam", "eps both inside and outside the sqrt"): EPS,
    ("*", "bias correction with t + 1"): BIAS,
    ("*", "self.t is one ahead of the updates made"): BIAS,
    ("*", "the velocity never slows down (no friction)"): _s(NB03, "2. The heavy ball"),
}


def section(item: str, mistake: str = "") -> Section | None:
    """The lecture section to read again for ``item`` (and ``mistake``), if one is known."""
    return (MISTAKE_SECTIONS.get((item, mistake)) or MISTAKE_SECTIONS.get(("*", mistake))
            or ITEM_SECTIONS.get(item))


def headings(notebook: Path) -> list[str]:
    """The Markdown heading texts of a notebook (``## 1. Foo`` gives ``1. Foo``)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    found = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            found += [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+)$", text, re.M)]
    return found


# ----- words ----------------------------------------------------------------------------------
PHRASES: dict[str, str] = {
    "gradient added instead of subtracted": "added the gradient instead of subtracting it",
    "updated a copy instead of the parameter in place": "updated a copy instead of the "
                                                        "parameter in place",
    "forgot the learning rate": "forgot the learning rate",
    "one state buffer shared by all parameters": "shared one state buffer between all "
                                                 "parameters",
    "t counted once per parameter": "counted t once per parameter instead of once per update",
    "the state starts from zero at every update": "restarted the state from zero at every "
                                                  "update",
    "the step used the buffer from the previous update": "stepped with the buffer of the "
                                                         "previous update",
    "eps missing from the denominator": "left eps out of the denominator",
    "squared the weighted gradient": "squared the weighted gradient",
    "s collected g instead of g**2": "summed g instead of g²",
    mistakes.HARD_CODED: "hard-coded a hyperparameter",
    "(1 - momentum) used where it does not belong": "damped the velocity with (1 − momentum)",
    "learning rate applied twice": "applied the learning rate twice",
    "no look-ahead (this is plain Momentum)": "left out the look-ahead (plain Momentum)",
    "forgot momentum in the look-ahead": "forgot momentum in the look-ahead",
    "AdaGrad without accumulation": "kept only the last squared gradient instead of the sum",
    "eps inside the sqrt": "put eps inside the square root",
    "forgot the square root": "forgot the square root",
    "forgot (1 - decay_rate)": "forgot the factor (1 − decay_rate)",
    "decay_rate where (1 - decay_rate) belongs": "used decay_rate where (1 − decay_rate) "
                                                 "belongs",
    "the old s is never forgotten": "never let the old s decay",
    "bias correction in RMSProp": "added Adam's bias correction to RMSProp",
    "forgot (1 - beta1) in m": "forgot (1 − beta1) in m",
    "forgot (1 - beta2) in v": "forgot (1 − beta2) in v",
    "beta1 where (1 - beta1) belongs": "used beta1 where (1 − beta1) belongs",
    "beta2 where (1 - beta2) belongs": "used beta2 where (1 − beta2) belongs",
    "bias correction with t before incrementing": "corrected the bias with t before "
                                                  "incrementing it",
    "corrected m but not v": "corrected m but not v",
    "corrected v but not m": "corrected v but not m",
    "no bias correction": "left out the bias correction",
    "eps added before correcting v (the 'epsilon hat' form)": "added eps before correcting v "
                                                              "(the ε̂ form)",
    "beta1 and beta2 exchanged": "exchanged beta1 and beta2",
    "the corrected m and v were stored": "stored the corrected m and v",
    "v corrected after the square root": "corrected v after taking the square root",
    "v averaged m**2 instead of g**2": "averaged m² instead of g² in v",
    "the two bias corrections swapped": "swapped the two bias corrections",
    "velocity in the textbook form (v = momentum * v - lr * g)": "kept the velocity in the "
                                                                  "textbook form "
                                                                  "v = momentum·v − lr·g",
    "one step counter shared by every optimizer": "shared one step counter between all "
                                                  "optimizers",
    "forgot the factor 2 from y^2": "forgot the factor 2 from y²",
    "differentiated x^2/20 as x/20": "differentiated x²/20 as x/20",
    "1 / lambda_max instead of 2 / lambda_max": "used 1/λ_max instead of 2/λ_max",
    "used the smallest eigenvalue": "used the smallest eigenvalue",
    "momentum / (1 - momentum): the current gradient is missing": "left out the current "
                                                                   "gradient",
    "squared the sum instead of summing the squares": "squared the sum instead of summing "
                                                      "the squares",
    "forgot that s starts at 0": "forgot that s starts at 0",
    "decay_rate^t instead of 1 - decay_rate^t": "wrote decay_rateᵗ instead of "
                                                "1 − decay_rateᵗ",
    "the exponent is one too large": "made the exponent one too large",
    "the exponent is one too small": "made the exponent one too small",
    "this is the bias-corrected step": "gave the bias-corrected step",
    "weight where (1 - weight) belongs": "used weight where (1 − weight) belongs",
    "the corrected average was carried on": "carried the corrected average on",
    "forgot the optimizer's update": "forgot the optimizer's update",
    "loss measured after the update": "measured the loss after the update",
    "the same minibatch at every step": "used the same minibatch at every step",
    "the whole data set at every step": "used the whole data set at every step",
    "the seed was ignored": "ignored the seed",
    "2 / norm instead of 2 / lambda_max": "used 2/‖H‖ instead of 2/λ_max",
    "bias correction with t + 1": "corrected the bias with t + 1",
    "eps both inside and outside the sqrt": "put eps both inside and outside the square root",
    "float32 state": "kept the state in float32",
    "look-ahead with the wrong sign": "looked ahead in the wrong direction",
    "m and v are one array": "made m and v one array",
    "s grows linearly in t": "made s grow linearly in t",
    "self.t is one ahead of the updates made": "started self.t one ahead of the updates made",
    "square root of m_hat in the numerator": "took the square root of m̂ in the numerator",
    "summed over every coordinate (no axis)": "summed over every coordinate (no axis)",
    "the step used m from the previous update": "stepped with m from the previous update",
    "the step used v from the previous update": "stepped with v from the previous update",
    "the two components swapped": "swapped the two gradient components",
    "the velocity never slows down (no friction)": "left the velocity without friction",
}


def phrase(mistake: str) -> str:
    """How the class report words a mistake: its phrase, else its name."""
    return PHRASES.get(mistake, mistake)


def _hints() -> dict[tuple[str, str], str]:
    """(item, mistake name) -> hint, for every mistake :mod:`mistakes` can name."""
    found: dict[tuple[str, str], str] = {}
    for item, known in mistakes.MISTAKES.items():
        found.update({(item, m.name): m.hint for m in known})
    for item, entries in mistakes.STATE_MISTAKES.items():
        found.update({(item, m.name): m.hint for m, _, _ in entries})
    for item, variants in mistakes.FUNCTION_MISTAKES.items():
        found.update({(item, v.name): v.hint for v in variants})
    found.update({("train_losses", m.name): m.hint for m in mistakes.TRAINING_MISTAKES})
    found[("adam", mistakes.SHARED_COUNTER.name)] = mistakes.SHARED_COUNTER.hint
    f32 = mistakes.FLOAT32_STATE  # any optimizer that keeps state (SGD keeps none)
    found.update({(item, f32.name): f32.hint for item in mistakes.MISTAKES if item != "sgd"})
    return found


HINTS = _hints()


def hint(item: str, mistake: str) -> str:
    """The hint for a mistake on ``item``; '' when it depends on the run (hard-coded values)."""
    return HINTS.get((item, mistake), "")


def known_mistakes() -> set[str]:
    """Every mistake name :mod:`mistakes` can produce."""
    return {name for _, name in HINTS} | {mistakes.HARD_CODED}
