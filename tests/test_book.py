"""The course website (`make book`): built from the stored outputs, complete, and offline.

The expectations come from the course's own sources, not from the build: the order of the
lectures from the table in notebooks/00_start_here.ipynb, the symbols from its notation table,
the widget panels and lecture links from the notebooks, the Binder address from
book/_config.yml. The site is built once per session, only when it is missing or older than
its sources. The browser tests drive Debian's chromium as tests/test_browser.py does.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
import urllib.request
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
import yaml

from tests.test_browser import CHROMIUM, free_port, require_browser

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "_build" / "book"
SOURCES = ("notebooks/*.ipynb", "exercises/*.ipynb", "book/*.yml", "book/*.md", "book/_ext/*.py")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
EXTERNAL = ("http:", "https:", "mailto:", "data:", "javascript:")
# Attributes that make a browser fetch something: none may leave the site.
FETCHED = {("script", "src"), ("link", "href"), ("img", "src"), ("source", "src"),
           ("iframe", "src"), ("video", "src"), ("audio", "src"), ("embed", "src")}
BROWSER_PAGES = ("index.html", "notebooks/01_gradient_descent.html", "notebooks/06_adam.html",
                 "notebooks/09_playground.html")


# ----------------------------------------------------------------- what the sources say


def markdown_of(notebook: str) -> list[str]:
    """The markdown cells of a notebook, in order."""
    nb = nbformat.read(REPO / notebook, as_version=4)
    return [cell.source for cell in nb.cells if cell.cell_type == "markdown"]


def cell_starting(notebook: str, heading: str) -> str:
    """The markdown cell of `notebook` that holds `heading`."""
    found = [text for text in markdown_of(notebook) if heading in text]
    assert found, f"{notebook} has no cell with {heading!r}"
    return found[0]


def course_map() -> list[str]:
    """The pages in 00_start_here's list of notebooks, in its order (lectures, then worksheets)."""
    table = cell_starting("notebooks/00_start_here.ipynb", "## The notebooks")
    lectures, worksheets = [], []
    for target in re.findall(r"\]\(([^)#]+\.ipynb)\)", table):
        path = (Path("notebooks") / target).as_posix().replace("notebooks/../", "")
        group = worksheets if path.startswith("exercises/") else lectures
        if path not in group:
            group.append(path)
    assert len(lectures) >= 12 and len(worksheets) >= 6, (lectures, worksheets)
    return lectures + worksheets


def notation_names() -> list[str]:
    """The code names in 00_start_here's notation table (its second column)."""
    table = cell_starting("notebooks/00_start_here.ipynb", "## Notation")
    names = []
    for row in table.splitlines():
        cells = row.split("|")
        if len(cells) > 3 and "`" in cells[2]:
            names += [n for n in re.findall(r"`([^`]+)`", cells[2]) if n not in names]
    assert {"lr", "momentum", "v", "s", "m", "beta1", "beta2", "eps", "t"} <= set(names), names
    return names


def widget_views(notebook: str) -> int:
    """How many slider panels (ipywidgets views) a notebook's stored outputs show."""
    nb = nbformat.read(REPO / notebook, as_version=4)
    return sum(WIDGET_VIEW in out.get("data", {}) for cell in nb.cells
               if cell.cell_type == "code" for out in cell.outputs)


def lecture_links(notebook: str) -> set[str]:
    """The other course notebooks a notebook's text links to, as site paths."""
    here = Path(notebook).parent
    found = set()
    for text in markdown_of(notebook):
        for target in re.findall(r"\]\(([^)#\s]+\.ipynb)", text):
            path = (REPO / here / target).resolve().relative_to(REPO).as_posix()
            if not path.startswith("solutions/") and path != notebook:
                found.add(path.removesuffix(".ipynb") + ".html")
    return found


def book_config() -> dict:
    """book/_config.yml."""
    return yaml.safe_load((REPO / "book" / "_config.yml").read_text(encoding="utf-8"))


def binder_link(source: str) -> str:
    """The Binder address of a notebook, from the repository named in book/_config.yml."""
    config = book_config()
    owner_repo = "/".join(config["repository"]["url"].rstrip("/").split("/")[-2:])
    return (f"{config['launch_buttons']['binderhub_url'].rstrip('/')}/v2/gh/{owner_repo}/"
            f"{config['repository']['branch']}?urlpath=lab/tree/{source}")


# ------------------------------------------------------------------- the built site


def newest_source() -> float:
    """The latest modification time among the files the site is built from."""
    return max(p.stat().st_mtime for pattern in SOURCES for p in REPO.glob(pattern))


@pytest.fixture(scope="session")
def site() -> Path:
    """_build/book, built with `make book` when missing or older than its sources."""
    index = SITE / "index.html"
    if not index.exists() or index.stat().st_mtime < newest_source():
        if not (Path(sys.executable).parent / "jupyter-book").exists():
            pytest.skip("jupyter-book is not installed here (`make venv` installs the dev extras)")
        start = time.monotonic()
        done = subprocess.run(["make", "-s", "book"], cwd=REPO, capture_output=True, text=True,
                              timeout=600)
        log = done.stdout[-3000:] + done.stderr[-3000:]
        assert done.returncode == 0, f"make book failed:\n{log}"
        print(f"make book took {time.monotonic() - start:.1f} s")
    assert index.exists(), "make book wrote no _build/book/index.html"
    return SITE


class Links(HTMLParser):
    """The ids of one HTML page and every address it refers to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.refs: list[tuple[str, str, str, str]] = []  # (tag, attribute, value, rel)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        rel = dict(attrs).get("rel") or ""
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)
            elif name in ("href", "src") and value is not None:
                self.refs.append((tag, name, value, rel))


@cache
def parsed(path: Path) -> Links:
    """A built page's ids and references (read once per session)."""
    page = Links()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def broken_reference(root: Path, page: Path, value: str) -> str | None:
    """Why an address on `page` does not resolve inside the site (None when it does)."""
    parts = urlsplit(value)
    target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file() or root.resolve() not in target.resolve().parents:
        return f"no file {target}"
    if parts.fragment and target.suffix == ".html" and parts.fragment not in parsed(target).ids:
        return f"no anchor #{parts.fragment} in {target.relative_to(root.resolve())}"
    return None


class Text(HTMLParser):
    """The visible text of a page: everything outside script and style elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def page_text(path: Path) -> str:
    """A built page's visible text, its white space collapsed."""
    text = Text()
    text.feed(path.read_text(encoding="utf-8"))
    return " ".join("".join(text.parts).split())


def site_pages(site: Path) -> list[Path]:
    """The site's HTML pages (the theme's Jinja macro files in _static are not pages)."""
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.relative_to(site).parts)


# ------------------------------------------------------- checks on the sources (fast)


def test_the_table_of_contents_follows_the_start_pages_map():
    toc = yaml.safe_load((REPO / "book" / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    pages = [f for f in files if not f.startswith("book/")]
    assert pages == [p.removesuffix(".ipynb") for p in course_map()]


def test_the_glossary_source_defines_every_symbol_of_the_notation_table():
    text = (REPO / "book" / "glossary.md").read_text(encoding="utf-8")
    block = text.split("```{glossary}", 1)[1].split("```", 1)[0]
    terms = re.findall(r"^(\S+)\s*$", block, flags=re.M)
    missing = [name for name in notation_names() if name not in terms]
    assert not missing, f"book/glossary.md has no entry for {missing}"


# ------------------------------------------------------------ checks on the built site


def fetched_from_outside(tag: str, attr: str, value: str, rel: str) -> bool:
    """Whether a browser would load this external address to show the page."""
    if value.startswith(("data:", "mailto:", "javascript:")):
        return False
    if tag == "link":
        return bool(set(rel.split()) & {"stylesheet", "preload", "modulepreload", "icon",
                                         "manifest"})
    return (tag, attr) in FETCHED


@pytest.mark.slow
def test_every_internal_link_and_file_resolves_and_nothing_is_fetched_from_outside(site):
    pages = site_pages(site)
    assert len(pages) >= len(course_map()) + 2
    broken, outside, checked = [], [], 0
    for page in pages:
        for tag, attr, value, rel in parsed(page).refs:
            if value.startswith(EXTERNAL) or value.startswith("//"):
                if fetched_from_outside(tag, attr, value, rel):
                    outside.append(f"{page.relative_to(site)}: <{tag} {attr}={value}>")
                continue
            checked += 1
            why = broken_reference(site, page, value)
            if why:
                broken.append(f"{page.relative_to(site)}: {value} ({why})")
    assert checked > 1000, f"only {checked} internal references found"
    assert not broken, f"{len(broken)} broken references:\n" + "\n".join(broken[:40])
    assert not outside, "pages fetch from outside the site:\n" + "\n".join(outside[:40])


@pytest.mark.slow
def test_styles_load_no_fonts_or_sheets_from_a_network_and_their_files_exist(site):
    remote = re.compile(r"""(url\(\s*['"]?|@import\s+['"])(https?:)?//""")
    local = re.compile(r"""url\(\s*['"]?(?!data:|https?:|//|#)([^'")?#]+)""")
    found, missing, refs = [], [], 0
    for css in site.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        if remote.search(text):
            found.append(css.relative_to(site).as_posix())
        refs += len(local.findall(text))
        missing += [f"{css.relative_to(site)}: {ref}" for ref in local.findall(text)
                    if not (css.parent / unquote(ref)).is_file()]
    assert refs >= 3, f"only {refs} files referenced by the stylesheets (the icon fonts?)"
    assert not found, f"stylesheets that load from a network: {found}"
    assert not missing, "stylesheets refer to missing files:\n" + "\n".join(missing[:20])
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not bundled"
    fonts = list((site / "_static").rglob("*.woff*"))
    assert len(fonts) >= 10, f"only {len(fonts)} bundled web fonts"


def sidebar(page: Path) -> list[str]:
    """The pages the site's navigation sidebar lists on `page`, in order, as site paths."""
    nav = re.search(r'<nav class="bd-links bd-docs-nav".*?</nav>', page.read_text(), re.S)
    assert nav, f"{page.name} has no navigation sidebar"
    found = []
    for href in re.findall(r'<a class="reference internal" href="([^"#]+)"', nav.group(0)):
        path = (page.parent / href).resolve().relative_to(SITE.resolve()).as_posix()
        if path not in found:
            found.append(path)
    return found


@pytest.mark.slow
def test_the_sidebar_lists_every_page_of_the_map_in_its_order(site):
    wanted = [Path(p).with_suffix(".html").as_posix() for p in course_map()]
    listed = sidebar(site / "book" / "glossary.html")  # (a page lists itself as "#")
    assert [p for p in listed if p in wanted] == wanted
    assert "book/running.html" in listed
    assert 'url=notebooks/00_start_here.html' in (site / "index.html").read_text()


@pytest.mark.slow
def test_the_lectures_link_to_each_other_as_their_text_does(site):
    for notebook in course_map():
        page = site / Path(notebook).with_suffix(".html")
        here = page.parent
        hrefs = [v for tag, _, v, _ in parsed(page).refs if tag == "a"
                 and not v.startswith(EXTERNAL) and urlsplit(v).path.endswith(".html")]
        targets = {(here / urlsplit(v).path).resolve().relative_to(site.resolve()).as_posix()
                   for v in hrefs}
        missing = lecture_links(notebook) - targets
        assert not missing, f"{page.relative_to(site)} lost its links to {sorted(missing)}"


@pytest.mark.slow
def test_each_notebook_page_has_a_run_link_to_binder_and_the_local_instructions(site):
    for notebook in course_map():
        page = site / Path(notebook).with_suffix(".html")
        hrefs = {html.unescape(v) for tag, _, v, _ in parsed(page).refs if tag == "a"}
        assert binder_link(notebook) in hrefs, f"{page.name}: no link {binder_link(notebook)}"
        text = page_text(page)
        assert "Run this notebook" in text and "make lab" in text, page.name


@pytest.mark.slow
def test_slider_panels_show_their_stored_figure_and_say_where_they_are_live(site):
    panels = 0
    for notebook in course_map():
        page = (site / Path(notebook).with_suffix(".html")).read_text(encoding="utf-8")
        assert WIDGET_VIEW not in page, f"{notebook}: a widget view waits for absent JavaScript"
        shown = re.findall(r'<div class="course-widget[^"]*">\s*<img[^>]*'
                           r'src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)
        assert len(shown) == widget_views(notebook), notebook
        assert page.count("live in JupyterLab") == widget_views(notebook), notebook
        panels += len(shown)
    assert panels >= 5


@pytest.mark.slow
def test_no_solution_is_published(site):
    leaked = []
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in site.rglob("*")
                     if p.is_file() and p.suffix in (".html", ".ipynb", ".js", ".txt"))
    for solution in sorted((REPO / "solutions").glob("*.ipynb")):
        nb = nbformat.read(solution, as_version=4)
        for cell in nb.cells:
            answer = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S)
            lines = [ln.strip() for a in answer for ln in a.splitlines() if len(ln.strip()) > 30]
            leaked += [f"{solution.name}: {ln}" for ln in lines if ln in text]
    assert not leaked, "solution code on the site:\n" + "\n".join(leaked[:10])
    assert not list(site.rglob("_downloads/*")), "files were published as downloads"


# ------------------------------------------------------------------------ in Chromium


@pytest.fixture(scope="module")
def served(site):
    """The built site on a local http.server (the preview command the README gives)."""
    require_browser()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                               "--directory", str(site), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > end or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def open_page(browser, url: str, outside: list[str]):
    """A new page at `url`. A request that would leave 127.0.0.1 is refused and recorded in
    `outside`, and so are an uncaught JavaScript error ("error: ...") and a file the site
    lacks ("missing: ...")."""
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.on("pageerror", lambda error: outside.append(f"error: {error}"))
    page.on("response", lambda answer: outside.append(f"missing: {answer.url}")
            if answer.status >= 400 else None)

    def guard(route):
        if urlsplit(route.request.url).hostname == "127.0.0.1" or route.request.url.startswith(
                "data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.goto(url, wait_until="load", timeout=30_000)
    return page


def assert_clean(seen: list[str]) -> None:
    """No page asked for anything outside the site, lacked a file or threw an error."""
    assert not seen, f"requests outside, missing files, script errors: {sorted(set(seen))[:10]}"


def assert_math_typeset(page, name: str) -> None:
    """MathJax has run: every math element holds its output and no raw $$ is left."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=20_000)
    except PlaywrightTimeout:
        pytest.fail(f"{name}: MathJax did not start within 20 s (is it loaded from the site?)")
    page.evaluate("MathJax.startup.promise")
    math = page.locator("article span.math, article div.math")
    typeset = page.locator("article .math mjx-container")
    assert math.count() > 0, f"{name}: no math on the page"
    assert typeset.count() == math.count(), f"{name}: {math.count() - typeset.count()} untypeset"
    errors = page.locator("article mjx-merror")
    assert errors.count() == 0, f"{name}: MathJax errors {errors.all_inner_texts()[:5]}"
    assert "$$" not in page.locator("article").inner_text(), f"{name}: raw $$ left"


def assert_images_load(page, name: str) -> None:
    """Every image on the page decoded to a picture."""
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    bad = page.evaluate("""Array.from(document.images)
        .filter(i => i.offsetParent !== null && !(i.complete && i.naturalWidth > 0))
        .map(i => i.src.slice(0, 80))""")
    assert not bad, f"{name}: images that did not load: {bad}"


def assert_links_answer(page, name: str) -> None:
    """Every same-site link on the page answers 200."""
    hrefs = page.evaluate("""Array.from(document.querySelectorAll('a[href]'))
        .map(a => a.href).filter(h => h.startsWith(location.origin))""")
    targets = sorted({h.split("#")[0] for h in hrefs})
    assert len(targets) > 10, f"{name}: only {len(targets)} internal links"
    for target in targets:
        assert page.request.get(target).status == 200, f"{name}: {target} does not answer"


@pytest.mark.slow
def test_pages_render_offline_with_math_images_and_links(served):
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            for name in BROWSER_PAGES:
                page = open_page(browser, f"{served}/{name}", outside)
                if name != "index.html":
                    assert_math_typeset(page, name)
                else:
                    page.wait_for_url("**/notebooks/00_start_here.html", timeout=10_000)
                    expect(page.locator("nav.bd-docs-nav a").first).to_be_visible()
                assert_images_load(page, name)
                assert_links_answer(page, name)
                page.close()
        finally:
            browser.close()
    assert_clean(outside)


def race_frames() -> int:
    """The number of frames the stored race output says it has."""
    nb = nbformat.read(REPO / "notebooks" / "09_playground.ipynb", as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            found = re.search(r"\((\d+) frames", out.get("data", {}).get("text/plain", ""))
            if found and "text/html" in out["data"]:
                return int(found.group(1))
    raise AssertionError("09_playground has no stored race output")


@pytest.mark.slow
def test_the_race_animation_plays_on_the_page(served):
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = open_page(browser, f"{served}/notebooks/09_playground.html", outside)
            frame = page.locator("img[id^='_anim_img']").first
            expect(frame).to_have_attribute("src", re.compile("^data:image/png"))
            slider = page.locator("input[id^='_anim_slider']").first
            assert int(slider.get_attribute("max")) + 1 == race_frames()
            first = frame.get_attribute("src")
            page.locator("button[title='Last frame']").first.click()
            expect(frame).not_to_have_attribute("src", first)
            assert slider.evaluate("s => Number(s.value)") == race_frames() - 1
        finally:
            browser.close()
    assert_clean(outside)


@pytest.mark.slow
def test_the_search_finds_bias_correction_in_the_adam_lecture(served):
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = open_page(browser, f"{served}/search.html?q=bias+correction", outside)
            hits = page.locator("#search-results ul.search li a")
            expect(hits.first).to_be_visible(timeout=20_000)
            found = hits.evaluate_all("links => links.map(a => a.getAttribute('href'))")
            assert any("notebooks/06_adam.html" in h for h in found), found
        finally:
            browser.close()
    assert_clean(outside)
