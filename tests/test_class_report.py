"""course report: the class page and the students' HTML pages, from a gradebook made here.

The class has ten students, so every share is a whole percentage, and each expected number
below is counted by hand from the table in :func:`design`.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import statistics
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

from course_lib import cli
from course_lib.grading import class_report, html_report, lessons, mistakes, report
from course_lib.grading.items import ITEMS
from course_lib.grading.report import Row
from tests import corpus

HOSTILE = '<script>alert("x")</script> & Co'
STEAL = "Adam: wrong at step 1\n  parameter 'W': expected [0.1], got [<script>steal()</script>]"
EPS = "eps inside the sqrt"
IMG = "<img src=x onerror=alert(2)>"  # a mistake name from an edited gradebook
STUDENTS = [HOSTILE] + [f"s{i}" for i in range(1, 10)]
# (status, mistake) per student index; "ok" is correct.
ADAM = ["ok"] * 6 + [("wrong", EPS)] * 3 + [("wrong", "no bias correction")]
FIRST_STEP = ["ok"] * 9 + [("not implemented yet", "")]
ADAGRAD = ["ok"] * 4 + [("timed out", ""), ("policy", ""), ("wrong", EPS), ("error", ""),
                        ("missing worksheet", ""), ("missing worksheet", "")]
EFFECTIVE = ["ok"] * 4 + [("wrong", "forgot the square root"), "ok", "ok", ("wrong", IMG),
                          ("missing worksheet", ""), ("missing worksheet", "")]
PLAN = [("ex03_adagrad", "adagrad", 3, ADAGRAD), ("ex03_adagrad", "adagrad_effective_lr", 1,
                                                    EFFECTIVE),
        ("ex05_adam", "adam", 4, ADAM), ("ex05_adam", "uncorrected_first_step", 1, FIRST_STEP)]


def design() -> list[Row]:
    """The gradebook's rows."""
    rows = []
    for i, student in enumerate(STUDENTS):
        for sheet, item, points, outcomes in PLAN:
            status, mistake = ("correct", "") if outcomes[i] == "ok" else outcomes[i]
            feedback = f"{item}: correct." if status == "correct" else f"{item}: {status}."
            if status == "missing worksheet":  # as the grader says it: once per worksheet
                feedback = f"{sheet}.ipynb was not submitted."
            if (student, item) == ("s6", "adam"):
                feedback = STEAL
            rows.append(Row(student, sheet, item, points if status == "correct" else 0.0,
                            points, status, feedback, mistake))
    rows += [Row("s1", "ex05_adam", html_report.NOTEBOOK_ITEM, 0.0, 0.0, "note", text)
             for text in ("regraded: the notebook changed.", "a second note.")]
    return rows


def expected_totals() -> dict[str, float]:
    """Points per student, counted from PLAN."""
    return {s: sum(p for _, _, p, outcomes in PLAN if outcomes[i] == "ok")
            for i, s in enumerate(STUDENTS)}


class Tables(HTMLParser):
    """Every table of a page as rows of cell texts (``<br>`` kept as a newline)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.hrefs: list[str] = []
        self.images: list[str] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")
        elif tag == "a":
            self.hrefs.append(attrs["href"])
        elif tag == "img":
            self.images.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def parsed(path: Path) -> Tables:
    found = Tables()
    found.feed(path.read_text(encoding="utf-8"))
    return found


def table_with(page: Tables, header: str) -> list[list[str]]:
    return next(t for t in page.tables if t and header in t[0])


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grades") / "grades.csv"
    report.write_gradebook(path, design())
    return path


@pytest.fixture(scope="module")
def built(gradebook, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "class"
    assert class_report.main([str(gradebook), "-o", str(out)]) == 0
    return out


# ----- what the class page says ----------------------------------------------------------------
def test_shares_and_common_mistakes_are_counted_right(built):
    rows = {(r[0], r[1]): r for r in table_with(parsed(built / "index.html"), "item")[1:]}
    assert rows[("ex05_adam", "adam")][2:] == [
        "60% (6 of 10)", "30% put eps inside the square root\n10% left out the bias correction"]
    assert rows[("ex05_adam", "uncorrected_first_step")][2:] == ["90% (9 of 10)", ""]
    assert rows[("ex03_adagrad", "adagrad")][2:] == ["40% (4 of 10)",
                                                     "10% put eps inside the square root"]
    assert rows[("ex03_adagrad", "adagrad_effective_lr")][2:] == [
        "60% (6 of 10)", f"10% {IMG}\n10% forgot the square root"]
    assert list(rows) == [(s, i) for s, i, _, _ in PLAN]


def test_totals_and_histogram(built):
    page = parsed(built / "index.html")
    totals = {html.unescape(r[0]): r[1] for r in table_with(page, "points")[1:]}
    want = expected_totals()
    assert totals == {s: f"{p:g} / 9" for s, p in want.items()}
    text = (built / "index.html").read_text()
    assert (f"mean {statistics.mean(want.values()):.1f}, median "
            f"{statistics.median(want.values()):g} of 9") in text
    assert len(page.images) == 2 and all(s.startswith("data:image/png;base64,")
                                         for s in page.images)
    assert "http" not in " ".join(page.images)  # nothing fetched: it works offline


def test_the_students_who_need_attention(built):
    table = table_with(parsed(built / "index.html"), "missing work")
    assert table[0] == ["student", "missing work", "errors", "time-outs", "policy violations"]
    rows = {r[0]: r[1:] for r in table[1:]}
    assert rows == {
        "s4": ["", "", "ex03_adagrad: adagrad (timed out)", ""],
        "s5": ["", "", "", "ex03_adagrad: adagrad (policy)"],
        "s7": ["", "ex03_adagrad: adagrad (error)", "", ""],
        "s8": ["ex03_adagrad: all items (missing worksheet)", "", "", ""],
        "s9": ["ex03_adagrad: all items (missing worksheet)\n"
               "ex05_adam: uncorrected_first_step (not implemented yet)", "", "", ""]}


def test_everything_a_student_wrote_is_escaped(built):
    pages = [built / "index.html", *sorted((built / "students").iterdir())]
    assert len(pages) == 11
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text.lower() and "<img src=x" not in text, page.name
    index = (built / "index.html").read_text()
    assert html.escape(HOSTILE) in index
    mine = built / "students" / f"{report.safe_name(HOSTILE)}.html"
    assert f"<title>Feedback for {html.escape(HOSTILE)}</title>" in mine.read_text()
    s6 = (built / "students" / "s6.html").read_text()
    assert f"<pre>{html.escape(STEAL)}</pre>" in s6


def test_a_worksheet_not_handed_in_is_explained_once(built):
    page = (built / "students" / "s8.html").read_text()
    assert page.count("ex03_adagrad.ipynb was not submitted.") == 1
    assert "every item: <span" in page
    anchor = re.search(r'<div class="item item-other" id="([^"]+)">\n<h3>every item', page)
    assert page.count(f'href="#{anchor.group(1)}"') == 2  # both items point at it
    assert page.count("<b>Diagnosis:</b>") == 1  # adam's eps inside the sqrt, on its own


def test_a_student_page_explains_each_wrong_answer(built):
    s6 = (built / "students" / "s6.html").read_text()
    hint = next(m.hint for m in mistakes.MISTAKES["adam"] if m.flaw == "eps_inside")
    assert f"<b>Diagnosis:</b> {EPS}. <b>Hint:</b> {html.escape(hint)}." in s6
    assert "m̂ = m / (1 − β<sub>1</sub><sup>t</sup>)" in s6  # the rule, as HTML math
    assert "06_adam.html#where-eps-goes-and-the-epsilon-hat-form" in s6
    assert "$" not in s6 and "\\frac" not in s6  # no TeX left for a renderer that is absent
    s2 = parsed(built / "students" / "s2.html")
    assert "Diagnosis" not in (built / "students" / "s2.html").read_text()  # all correct
    points = [r[1] for t in s2.tables for r in t[1:]]
    assert points == ["3 / 3", "1 / 1", "4 / 4", "1 / 1"]


# ----- links -------------------------------------------------------------------------------------
def heading_lines(notebook: str) -> list[str]:
    nb = json.loads((lessons.NOTEBOOKS / notebook).read_text())
    return [line for c in nb["cells"] if c["cell_type"] == "markdown"
            for line in "".join(c["source"]).splitlines() if line.startswith("#")]


SECTIONS = sorted({*lessons.ITEM_SECTIONS.values(), *lessons.MISTAKE_SECTIONS.values()},
                  key=lambda s: (s.notebook, s.heading))


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: f"{s.notebook[:2]}:{s.heading[:20]}")
def test_every_linked_heading_exists_and_has_no_math(section):
    assert any(re.fullmatch(r"#{1,6} " + re.escape(section.heading), line)
               for line in heading_lines(section.notebook))
    assert "$" not in section.heading


def test_the_anchors_are_those_of_docutils_and_jupyter():
    from docutils.nodes import make_id
    from nbconvert import HTMLExporter

    for notebook in {s.notebook for s in SECTIONS}:
        nb = json.loads((lessons.NOTEBOOKS / notebook).read_text())
        nb["cells"] = [c for c in nb["cells"] if c["cell_type"] == "markdown"]
        body, _ = HTMLExporter(template_name="basic").from_notebook_node(
            nbformat.reads(json.dumps(nb), as_version=4))
        jupyter_ids = {unquote(html.unescape(i))  # nbconvert writes " as %22
                       for i in re.findall(r'<h[1-6] id="([^"]+)"', body)}
        for s in (s for s in SECTIONS if s.notebook == notebook):
            assert s.lab_anchor in jupyter_ids, s
            assert s.book_anchor == make_id(lessons.plain(s.heading)), s


def test_the_mistake_tables_name_real_mistakes():
    known = lessons.known_mistakes()
    assert set(lessons.PHRASES) <= known
    assert {name for _, name in lessons.MISTAKE_SECTIONS} <= known
    assert all((item, name) in lessons.HINTS for item, name in lessons.MISTAKE_SECTIONS
               if item != "*")
    assert set(lessons.ITEM_SECTIONS) == set(ITEMS)  # every graded item has its section
    assert lessons.phrase("a name nobody knows") == "a name nobody knows"
    assert known <= set(lessons.PHRASES), sorted(known - set(lessons.PHRASES))  # all worded


def test_float32_state_has_its_hint_on_every_optimizer_with_state():
    f32 = mistakes.FLOAT32_STATE
    for item in ("momentum", "nesterov", "adagrad", "rmsprop", "adam"):
        assert lessons.hint(item, f32.name) == f32.hint, item
    assert lessons.hint("sgd", f32.name) == ""  # SGD keeps no state to round


def test_course_report_is_a_subcommand_of_course(gradebook, tmp_path):
    out = tmp_path / "via_cli"
    assert cli.main(["report", str(gradebook), "-o", str(out)]) == 0
    assert (out / "index.html").is_file() and any((out / "students").iterdir())
    assert cli.main(["report", str(tmp_path / "no_such.csv"), "-o", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_every_link_of_every_page_resolves(built):
    for page in [built / "index.html", *sorted((built / "students").iterdir())]:
        ids = re.findall(r' id="([^"]*)"', page.read_text())
        assert len(ids) == len(set(ids)), page.name  # s1 has two notes about one notebook
        for href in parsed(page).hrefs:
            target, _, fragment = href.partition("#")
            if not target:  # a link within the page
                assert f'id="{fragment}"' in page.read_text(), (page.name, href)
                continue
            path = (page.parent / target).resolve()
            if path.is_relative_to(lessons.BOOK.resolve()):  # a lecture on the website
                notebook = lessons.NOTEBOOKS / f"{path.stem}.ipynb"
                assert path.parent.name == "notebooks" and notebook.is_file(), href
                ids = {lessons.Section(notebook.name, h.lstrip("# ")).book_anchor
                       for h in heading_lines(notebook.name)}
                assert fragment in ids, href
            else:
                assert path.is_file(), (page.name, href)


def test_jupyterlab_links(gradebook, tmp_path):
    out = tmp_path / "lab"
    assert class_report.main([str(gradebook), "-o", str(out), "--lectures", "lab"]) == 0
    hrefs = [h for h in parsed(out / "students" / "s6.html").hrefs if "lab/tree" in h]
    assert hrefs == [
        "http://localhost:8888/lab/tree/notebooks/04_adagrad.ipynb#1.-From-SGD-to-AdaGrad",
        "http://localhost:8888/lab/tree/notebooks/06_adam.ipynb"
        "#7.-Where-eps-goes,-and-the-%22epsilon-hat%22-form"]


@pytest.mark.slow
def test_the_links_find_their_sections_on_the_built_website(tmp_path, built):
    """Build the website (nothing is executed, a few seconds) and look the anchors up."""
    book = Path(sys.executable).with_name("jupyter-book")
    if not book.exists():
        pytest.skip("jupyter-book is not installed (it comes with the dev extras)")
    repo = lessons.REPO
    subprocess.run([str(book), "build", str(repo), "--config", str(repo / "book/_config.yml"),
                    "--toc", str(repo / "book/_toc.yml"), "--path-output", str(tmp_path),
                    "--all", "-q"], check=True, capture_output=True, timeout=300)
    site = tmp_path / "_build" / "html"
    for s in SECTIONS:
        page = (site / "notebooks" / s.notebook).with_suffix(".html").read_text()
        assert f'id="{s.book_anchor}"' in page, s


# ----- bad input, atomic output ------------------------------------------------------------------
def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


HEADER = ",".join(report.FIELDS)
GOOD = "ann,ex05_adam,adam,4,4,correct,ok,"


@pytest.mark.parametrize("lines, message", [
    ([HEADER, GOOD, "bob,ex05_adam,adam,4,4,correct"], "line 3: 6 fields, expected 8"),
    ([HEADER, GOOD, GOOD, "bob,ex05_adam,adam,four,4,correct,ok,"],
     "line 4: points 'four' is not a number"),
    ([HEADER, "bob,ex05_adam,adam,5,4,correct,ok,"], "line 2: points 5 exceed max_points 4"),
    ([HEADER, "bob,ex05_adam,adam,nan,4,correct,ok,"], "line 2: points must be a finite"),
    (["student,points", "ann,4"], "line 1: the columns are ['student', 'points']"),
    ([HEADER], "holds no rows"),
    ([HEADER, GOOD, 'bob,ex05_adam,adam,4,4,correct,"never closed,'], "line 3: not valid CSV"),
])
def test_a_malformed_gradebook_names_the_line_and_writes_nothing(tmp_path, capsys, lines,
                                                                 message):
    path = write_lines(tmp_path / "grades.csv", lines)
    assert class_report.main([str(path), "-o", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["grades.csv"]


def test_other_bad_input_writes_nothing(tmp_path, gradebook, capsys):
    cases = [([str(tmp_path / "none.csv"), "-o", str(tmp_path / "out")], "does not exist"),
             ([str(tmp_path), "-o", str(tmp_path / "out")], "is not a file"),
             ([str(gradebook), "-o", str(tmp_path / "no" / "out")], "does not exist"),
             ([str(gradebook), "-o", str(tmp_path / "out"), "--submissions",
               str(tmp_path / "none")], "submissions folder")]
    for args, message in cases:
        assert class_report.main(args) == 2
        assert message in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
    (tmp_path / "a_file").write_text("keep")
    assert class_report.main([str(gradebook), "-o", str(tmp_path / "a_file")]) == 2
    assert "is a file" in capsys.readouterr().err
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.txt").write_text("keep")
    assert class_report.main([str(gradebook), "-o", str(tmp_path / "work")]) == 2
    assert "holds other files" in capsys.readouterr().err
    assert (tmp_path / "a_file").read_text() == "keep"
    assert os.listdir(tmp_path / "work") == ["notes.txt"]
    assert sorted(os.listdir(tmp_path)) == ["a_file", "work"]


def test_a_failed_run_leaves_no_half_written_report(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(class_report, "index_html", broken)
    with pytest.raises(RuntimeError):
        class_report.write_report(tmp_path / "out", design())
    assert os.listdir(tmp_path) == []


def test_a_second_run_replaces_the_first(gradebook, tmp_path):
    out = tmp_path / "out"
    assert class_report.main([str(gradebook), "-o", str(out)]) == 0
    fewer = tmp_path / "fewer.csv"
    report.write_gradebook(fewer, [r for r in design() if r.student in ("s1", "s2")])
    assert class_report.main([str(fewer), "-o", str(out)]) == 0
    assert sorted(os.listdir(out / "students")) == ["s1.html", "s2.html"]
    assert sorted(os.listdir(tmp_path)) == ["fewer.csv", "out"]  # no temporary folders left


def test_a_gradebook_from_before_the_mistake_column(tmp_path):
    path = tmp_path / "old.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(report.OLD_FIELDS)
        writer.writerow(["ann", "ex05_adam", "adam", "0", "4", "wrong", "Adam: wrong\n  line 2"])
    assert class_report.main([str(path), "-o", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "students" / "ann.html").read_text()
    assert "<pre>Adam: wrong\n  line 2</pre>" in page and "Diagnosis" not in page


# ----- with the submissions: the similar answers -------------------------------------------------
def test_similar_answers_are_listed_with_links(gradebook, tmp_path):
    from tests.test_similarity import MOMENTUM, RENAMED_COPY, filled

    subs = tmp_path / "subs"
    corpus.write(subs, "s1", "ex02_momentum", filled("ex02_momentum",
                                                     {"momentum": MOMENTUM["items"]}))
    corpus.write(subs, "s2", "ex02_momentum", filled("ex02_momentum",
                                                     {"momentum": RENAMED_COPY}))
    corpus.write(subs, "s3", "ex02_momentum", filled("ex02_momentum",
                                                     {"momentum": MOMENTUM["setdefault"]}))
    out = tmp_path / "out"
    assert class_report.main([str(gradebook), "-o", str(out), "--submissions", str(subs)]) == 0
    page = parsed(out / "index.html")
    rows = table_with(page, "similarity")[1:]
    assert rows == [["ex02_momentum", "momentum", "s1 and s2",
                     "identical up to names and formatting"]]
    assert "students/s1.html" in page.hrefs and "students/s2.html" in page.hrefs


# ----- in a browser ------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_pages_show_their_images_in_chromium(built):
    from tests.test_browser import CHROMIUM, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("dialog", lambda d: (problems.append(d.message), d.dismiss()))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
                    else problems.append(r.url))  # nothing may come from the network
            page.goto((built / "index.html").as_uri())
            sizes = page.evaluate("Array.from(document.images).map("
                                  "i => [i.complete, i.naturalWidth, i.naturalHeight])")
            assert len(sizes) == 2 and all(ok and w > 300 and h > 100 for ok, w, h in sizes)
            page.goto((built / "students" / f"{report.safe_name(HOSTILE)}.html").as_uri())
            assert page.title() == f"Feedback for {HOSTILE}"
            page.goto((built / "students" / "s6.html").as_uri())
            assert STEAL in page.locator("pre").all_inner_texts()
            assert problems == []
        finally:
            browser.close()


def test_the_per_student_pages_can_be_written_alone(tmp_path):
    written = html_report.write_student_reports(tmp_path / "pages", design(), ["ex05_adam"])
    assert set(written) == set(STUDENTS)
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == sorted(
        p.name for p in written.values())


@pytest.mark.slow
def test_a_class_graded_for_real(tmp_path):
    """course grade's own gradebook: the mistakes it names reach both pages."""
    from course_lib.grading import grader, worksheets

    folder = tmp_path / "subs"
    cases = {c.name: c for c in corpus.mistake_cases()}
    corpus.write(folder, "full", "ex05_adam", corpus.solution("ex05_adam"))
    for name in ("adam_eps_inside", "adam_no_correction", "adam_hard_coded"):
        corpus.write(folder, name, "ex05_adam", corpus.with_cell(
            corpus.solution("ex05_adam"), "adam", cases[name].source))
    sheet = next(s for s in worksheets.load_worksheets() if s.name == "ex05_adam")
    grader.grade_folder(grader.Batch(folder, tmp_path / "grades.csv", [sheet], corpus.LIMITS,
                                     seed=7))
    out = tmp_path / "report"
    assert class_report.main([str(tmp_path / "grades.csv"), "-o", str(out)]) == 0
    rows = {(r[0], r[1]): r for r in table_with(parsed(out / "index.html"), "item")[1:]}
    assert rows[("ex05_adam", "adam")][2:] == ["25% (1 of 4)", "\n".join([
        "25% hard-coded a hyperparameter", "25% left out the bias correction",
        "25% put eps inside the square root"])]
    page = (out / "students" / "adam_eps_inside.html").read_text()
    assert "<b>Diagnosis:</b> eps inside the sqrt. <b>Hint:</b> add eps after the square root" \
        in page
    assert "wrong at step 1 in run 1 of 3 (one parameter: W;" in page  # the failing input
    hard = (out / "students" / "adam_hard_coded.html").read_text()
    assert "<b>Diagnosis:</b> a hyperparameter hard-coded.</p>" in hard  # its hint: in the text
    assert "this run passed" in hard


def test_errors_name_the_first_line_of_a_multi_line_record(tmp_path, capsys):
    old = ",".join(report.OLD_FIELDS)
    path = write_lines(tmp_path / "old.csv", [
        old, 'ann,ex05_adam,adam,0,4,wrong,"Adam: wrong', '  on two lines"',
        "bob,ex05_adam,adam,x,4,wrong,short"])
    assert class_report.main([str(path), "-o", str(tmp_path / "out")]) == 2
    assert "old.csv, line 4: points 'x' is not a number" in capsys.readouterr().err
    path.write_bytes(b"\xff\xfe" + HEADER.encode())
    assert class_report.main([str(path), "-o", str(tmp_path / "out")]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["old.csv"]


def test_a_long_list_of_similar_pairs_is_cut(tmp_path):
    from course_lib.grading import similarity

    many = class_report.MAX_PAIRS + 5
    scan = similarity.Scan([similarity.Pair("ex05_adam", "adam", f"a{i}", f"b{i}", 0.8, False)
                            for i in range(many)], compared=2 * many)
    page = Tables()
    page.feed(class_report.similarity_section(scan, {}))
    assert len(page.tables[0]) == 1 + class_report.MAX_PAIRS
    assert "... and 5 more pairs" in class_report.similarity_section(scan, {})
