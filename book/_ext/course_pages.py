"""Sphinx additions for the course website, applied to each page as it is read.

- a "Run this notebook" box on every notebook page: Binder, or `make lab` on your computer;
- each ipywidgets panel (it needs a live kernel) becomes the figure stored with the notebook,
  its readout and a note saying where it is live;
- links into solutions/ become plain text: the website publishes the worksheets, not answers;
- each script is listed once per page.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from urllib.parse import quote

import nbformat
from docutils import nodes
from myst_nb.sphinx_ import NbMetadataCollector
from sphinx import addnodes
from sphinx.application import Sphinx

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
VIEW_SCRIPT = re.compile(rf'<script type="{re.escape(WIDGET_VIEW)}">(.*?)</script>', re.S)
TAG = re.compile(r"</?[a-zA-Z][^>]*>")


def binder_url(app: Sphinx, source: str) -> str:
    """The Binder address that opens `source` (a path in the repository) in JupyterLab."""
    theme = app.config.html_theme_options
    repo = theme["repository_url"].rstrip("/").removesuffix(".git")
    owner_and_name = "/".join(repo.split("/")[-2:])
    hub = theme["launch_buttons"]["binderhub_url"].rstrip("/")
    branch = theme.get("repository_branch") or "main"
    return f"{hub}/v2/gh/{owner_and_name}/{branch}?urlpath={quote('lab/tree/' + source)}"


def source_path(app: Sphinx, docname: str) -> Path:
    """The file a page was built from."""
    return Path(app.env.doc2path(docname))


def link(text: str, url: str) -> nodes.reference:
    """An external link."""
    return nodes.reference(text, text, refuri=url)


def page_link(docname: str) -> addnodes.pending_xref:
    """A link to another page of the site, titled as that page is."""
    ref = addnodes.pending_xref("", refdomain="std", reftype="doc", reftarget=docname,
                                refexplicit=False, refwarn=True)
    ref += nodes.inline("", docname)
    return ref


def run_box(app: Sphinx, source: str) -> nodes.Element:
    """The "Run this notebook" box: Binder, or locally with `make lab`."""
    box = nodes.admonition(classes=["tip", "course-run"])
    box += nodes.title("", "Run this notebook")
    box += nodes.paragraph("", "", nodes.Text("This page is "), nodes.literal("", source),
                           nodes.Text(" with its stored outputs. Run it "),
                           link("on Binder", binder_url(app, source)),
                           nodes.Text(" (in your browser, nothing to install) or on your computer:"
                                      " type "), nodes.literal("", "make lab"),
                           nodes.Text(" in the course folder, then open it there. More in "),
                           page_link("/book/running"), nodes.Text("."))
    return box


def add_run_box(app: Sphinx, doctree: nodes.document, source: str) -> None:
    """Put the run box right under the page's title."""
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not isinstance(section[0], nodes.title):
        return
    section.insert(1, run_box(app, source))


def widget_state(app: Sphinx, docname: str) -> dict:
    """The saved ipywidgets models of a notebook, by model id ({} when none were saved)."""
    notebook = nbformat.read(source_path(app, docname), as_version=4)
    return notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def descendants(state: dict, model_id: str) -> list[dict]:
    """The model and every model inside it, depth first."""
    model = state.get(model_id)
    if model is None:
        return []
    found = [model]
    for child in model["state"].get("children", []):
        found += descendants(state, child.removeprefix("IPY_MODEL_"))
    return found


def image_uri(model: dict) -> str | None:
    """A data: URI of an Image widget's stored picture (None when it has none)."""
    for buffer in model.get("buffers", []):
        if buffer["path"] == ["value"] and buffer["encoding"] == "base64":
            fmt = model["state"].get("format", "png")
            base64.b64decode(buffer["data"], validate=True)  # a broken picture fails the build
            return f"data:image/{fmt};base64,{buffer['data']}"
    return None


def readout_lines(model: dict) -> list[str]:
    """The lines of an HTML widget's text, tags removed."""
    parts = re.split(r"<br\s*/?>", model["state"].get("value", ""))
    return [html.unescape(TAG.sub("", part)).strip() for part in parts if part.strip()]


def control_value(model: dict) -> str | None:
    """What a slider, dropdown or checkbox was set to when saved (None for other widgets)."""
    state = model["state"]
    if "_options_labels" in state and state.get("index") is not None:
        return str(state["_options_labels"][state["index"]])
    if model["model_name"] == "CheckboxModel":
        return str(state["value"])
    if model["model_name"].endswith("SliderModel"):
        return f"{state['value']:g}"
    return None


def settings_line(models: list[dict]) -> nodes.paragraph:
    """One line naming each control of a panel and its saved value."""
    pairs = [(m["state"].get("description", ""), control_value(m)) for m in models]
    text = ", ".join(f"{name} = {value}" for name, value in pairs if name and value is not None)
    return nodes.paragraph("", "", nodes.emphasis("", "Settings of this figure: "),
                           nodes.Text(text + "."))


def static_panel(app: Sphinx, models: list[dict], source: str) -> nodes.Element:
    """The stored figure and readout of a widget panel, and where it is live."""
    panel = nodes.container(classes=["course-widget"])
    for model in models:
        uri = image_uri(model) if model["model_name"] == "ImageModel" else None
        if uri:
            panel += nodes.image(uri=uri, alt="the panel's figure as stored in the notebook")
        elif model["model_name"] == "HTMLModel" and model["state"].get("value"):
            panel += nodes.line_block("", *(nodes.line(text, text)
                                            for text in readout_lines(model)))
    panel += settings_line(models)
    note = nodes.note()
    note += nodes.paragraph("", "", nodes.Text(
        "The sliders of this panel need a running Python kernel: here you see the figure stored "
        "with the notebook. They are live in JupyterLab ("), nodes.literal("", "make lab"),
        nodes.Text(") or "), link("on Binder", binder_url(app, source)), nodes.Text("."))
    panel += note
    return panel


def replace_widgets(app: Sphinx, doctree: nodes.document, docname: str, source: str) -> None:
    """Swap each widget view (a script only a kernel-backed page could fill) for its figure."""
    views = [node for node in doctree.findall(nodes.raw) if WIDGET_VIEW in node.astext()]
    if not views:
        return
    state = widget_state(app, docname)
    # The saved state is only read by ipywidgets' JavaScript, which the site does not load.
    NbMetadataCollector.get_js_files(app.env, docname).pop("ipywidgets_state", None)
    for node in views:
        model_id = json.loads(VIEW_SCRIPT.search(node.astext()).group(1))["model_id"]
        models = descendants(state, model_id)
        if not models:
            raise ValueError(f"{source}: widget {model_id} has no saved state; re-execute the "
                             "notebook so its widget state is stored")
        node.replace_self(static_panel(app, models, source))


def unlink_solutions(doctree: nodes.document) -> None:
    """Links into solutions/ become their text: the website has no solutions to link to."""
    for node in list(doctree.findall(nodes.Element)):
        target = node.get("refuri") or node.get("reftarget") or ""
        if "solutions/" in target and node.tagname in (
                "reference", "pending_xref", "download_reference"):
            node.replace_self(nodes.literal("", node.astext()))


def on_doctree_read(app: Sphinx, doctree: nodes.document) -> None:
    """Apply the course's additions to one page."""
    docname = app.env.docname
    source = source_path(app, docname).relative_to(app.srcdir).as_posix()
    unlink_solutions(doctree)
    if source.endswith(".ipynb"):
        replace_widgets(app, doctree, docname, source)
        add_run_box(app, doctree, source)


def unique_scripts(app: Sphinx, pagename: str, templatename: str, context: dict,
                   doctree: nodes.document | None) -> None:
    """List each script once: sphinx-thebe registers its settings twice, and the second
    `const` declaration is a JavaScript error on every page."""
    seen, unique = set(), []
    scripts = context.get("script_files", [])
    for script in scripts:
        # the same file (None and "" both mean an inline script) and attributes, whatever the
        # priority it was registered with
        key = (getattr(script, "filename", script) or "",
               repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app: Sphinx) -> dict:
    """Register the page transforms (before Sphinx collects images and downloads)."""
    app.connect("doctree-read", on_doctree_read, priority=100)
    app.connect("html-page-context", unique_scripts, priority=900)  # after every other
    return {"parallel_read_safe": True, "parallel_write_safe": True}
