"""The playground in a real browser: JupyterLab + Chromium, driven by Playwright.

A widget that works in a unit test can still be dead in the page (a missing front-end
extension, a message that never arrives). This test does what a student does: opens
notebooks/09_playground.ipynb in JupyterLab, runs all cells, presses the right-arrow key on the
first panel's learning-rate slider, and checks that the readout and the picture change.

Needs Debian's chromium (``apt-get install -y chromium``) and the Python package playwright
(in the dev extras). Playwright's own browser download is never used. Without chromium the
test is skipped, except under CI (the CI variable set), where it fails. A screenshot is saved
to artifacts/playground.png.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = "09_playground.ipynb"
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
DEADLINE = 85.0  # seconds for the whole test; every wait below is bounded by what is left


def require_browser() -> None:
    """Skip (or, under CI, fail) when chromium or playwright is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (install it with `apt-get install -y chromium`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package playwright (`make venv` installs the dev extras)")
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must run this test, so it fails instead of skipping")
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (the server's kernels run in sessions of their own)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class Lab:
    """A JupyterLab server on 127.0.0.1 with a token, serving a scratch copy of the notebook."""

    def __init__(self, root: Path) -> None:
        self.root, self.port, self.token = root, free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self._prepare()
        # As `make lab` does: the course's .venv/bin first on the PATH of terminals and kernels.
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env = {**os.environ, "PATH": path, "JUPYTER_CONFIG_DIR": str(root / "config"),
               "JUPYTER_RUNTIME_DIR": str(root / "runtime"), "IPYTHONDIR": str(root / "ipython")}
        self.log = open(root / "server.log", "w")  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1",
             "--port", str(self.port), f"--IdentityProvider.token={self.token}",
             "--ServerApp.password=", "--ServerApp.allow_root=True",
             f"--ServerApp.root_dir={root / 'notebooks'}",
             f"--LabApp.user_settings_dir={root / 'settings'}",
             f"--LabApp.workspaces_dir={root / 'workspaces'}",
             # as in `make lab`: a non-login shell keeps .venv/bin on the terminal's PATH
             "--ServerApp.terminado_settings={'shell_command': ['/bin/bash', '-i']}"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=root / "notebooks")  # terminals open here, as at the repository root in `make lab`
        self.kernels: set[int] = set()

    def _prepare(self) -> None:
        """Copy the notebook without its outputs (so a fresh run is visible) and quiet Lab."""
        nb = nbformat.read(REPO / "notebooks" / NOTEBOOK, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("widgets", None)
        (self.root / "notebooks").mkdir()
        nbformat.write(nb, self.root / "notebooks" / NOTEBOOK)
        # User-level settings in a scratch folder: no news pop-up, no update check.
        quiet = self.root / "settings" / "@jupyterlab" / "apputils-extension"
        quiet.mkdir(parents=True)
        (quiet / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    def api(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n"
                                   + (self.root / "server.log").read_text()[-3000:])
            try:
                self.api("/api/status")
                return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not answer /api/status within {timeout:.0f} s")

    def note_kernels(self) -> None:
        """Remember the kernel processes the server started, to be sure they end."""
        self.kernels.update(children(self.proc.pid))

    def stop(self) -> None:
        """Shut down the kernels, then the server's process group; kill by PID what is left."""
        self.note_kernels()
        try:
            for kernel in self.api("/api/kernels"):
                self.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass  # the server is already gone; the PIDs below are still checked
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        for pid in self.kernels:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.log.close()


@pytest.fixture
def lab(tmp_path):
    require_browser()
    server = Lab(tmp_path)
    try:
        server.wait_ready(30)
        yield server
    finally:
        server.stop()
    assert not [pid for pid in server.kernels if alive(pid)], "a kernel outlived the test"


def test_playground_runs_and_its_slider_redraws_in_the_browser(lab):
    from playwright.sync_api import expect, sync_playwright

    start = time.monotonic()

    def left(ms_max: float = 60_000) -> float:
        """Milliseconds a wait may take: its own bound, never past the test's deadline."""
        return max(1_000.0, min(ms_max, (DEADLINE - (time.monotonic() - start)) * 1e3))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}", timeout=left(30_000))
            status = page.locator(".jp-StatusBar-Widget, #jp-main-statusbar")
            expect(status.filter(has_text="Idle").first).to_be_visible(timeout=left(40_000))
            lab.note_kernels()

            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click()

            # The last cell prints the Adam comparison: when it shows, every cell has run.
            last = page.locator(".jp-OutputArea-output", has_text="Adam, beta1 = 0.5")
            expect(last).to_be_visible(timeout=left(60_000))
            lab.note_kernels()

            panel = page.locator(".jp-OutputArea-output").filter(
                has=page.locator(".widget-image")).first
            readout = panel.locator(".widget-html").filter(has_text="final loss")
            # exactly the lr the notebook asked for, not a slider grid point near it (0.9550)
            expect(readout).to_contain_text("lr = 0.95:", timeout=left(10_000))
            image = panel.locator(".widget-image")
            before_text, before_src = readout.inner_text(), image.get_attribute("src")
            before_png = image.screenshot()

            lr = panel.locator(".widget-hslider").filter(
                has=page.locator(".widget-label", has_text=re.compile("^lr$")))
            # The slider shows exactly the lr the notebook asked for (not a grid point near it).
            assert lr.locator(".widget-readout").inner_text().strip() == "0.95"
            lr.locator(".noUi-handle").focus()
            for _ in range(3):  # three steps of 10^0.02 each: from 0.95 to about 1.1
                page.keyboard.press("ArrowRight")
            shown = lr.locator(".widget-readout").inner_text().strip()
            assert float(shown) > 1.0, f"the lr slider shows {shown} after three presses"
            # Each press is one message to the kernel; wait for the last one's readout.
            expect(readout).to_contain_text(f"lr = {shown}:", timeout=left(15_000))
            expect(image).not_to_have_attribute("src", before_src or "", timeout=left(10_000))

            after_text = readout.inner_text()
            assert after_text != before_text
            assert "OUTSIDE" in after_text and "not converging" in after_text
            assert image.screenshot() != before_png

            # The race player ran its script: its first frame is an image in the page.
            expect(page.locator("img[id^='_anim_img']").first).to_have_attribute(
                "src", re.compile("^data:image/png"), timeout=left(10_000))

            outputs = " ".join(page.locator(".jp-OutputArea-output").all_inner_texts())
            for sign in ("Traceback", "Error displaying widget", "Failed to load"):
                assert sign not in outputs, f"a cell shows an error: {sign!r}"
            stderr = page.locator(".jp-OutputArea-output[data-mime-type="
                                  "'application/vnd.jupyter.stderr']")
            assert stderr.count() == 0, "a cell wrote to stderr: " + " ".join(
                stderr.all_inner_texts())[:500]

            ARTIFACTS.mkdir(exist_ok=True)
            panel.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "playground.png"))
        finally:
            browser.close()
    assert time.monotonic() - start < DEADLINE + 15


def documented_check_command() -> str:
    """The `course check` command line exactly as README.md prints it for students."""
    found = re.search(r"`(course check exercises/ex\d\d_\w+\.ipynb)`",
                      (REPO / "README.md").read_text(encoding="utf-8"))
    assert found, "README.md no longer shows a `course check exercises/...` command"
    return found.group(1)


def test_the_documented_check_command_works_in_a_jupyterlab_terminal(lab):
    """A student opens File > New > Terminal and types the command the README gives."""
    from playwright.sync_api import expect, sync_playwright
    shutil.copytree(REPO / "exercises", lab.root / "notebooks" / "exercises")
    command = documented_check_command()
    out = lab.root / "notebooks" / "check-output.txt"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(f"{lab.url}/lab?token={lab.token}", timeout=30_000)
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^File$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile("^New$")).hover()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Terminal$")).click()
            terminal = page.locator(".jp-Terminal .xterm-helper-textarea").first
            expect(terminal).to_be_attached(timeout=30_000)
            terminal.focus()
            time.sleep(1.0)  # let the shell print its prompt before typing
            # The command as documented; its output also goes to a file the test can read.
            page.keyboard.type(f"{command} > {out.name} 2>&1; echo exit=$? >> {out.name}\n")
            end = time.monotonic() + 120
            while time.monotonic() < end and "exit=" not in (
                    out.read_text() if out.exists() else ""):
                time.sleep(0.5)
        finally:
            browser.close()
    text = out.read_text() if out.exists() else ""
    assert "exit=" in text, f"the command did not finish in the terminal: {text[-500:]!r}"
    assert "command not found" not in text
    assert re.search(r"ex\d\d_\w+: 0 / \d+ points", text), text[-1000:]  # a blank worksheet
    assert "exit=1" in text


OPENED = ("exercises/ex05_adam.ipynb", "notebooks/09_playground.ipynb")


@pytest.mark.parametrize("relpath", OPENED)
def test_opening_and_saving_in_jupyterlab_changes_no_byte(lab, relpath):
    """A student opens a course notebook (its kernel starts) and saves it: git sees no change."""
    from playwright.sync_api import expect, sync_playwright

    target = lab.root / "notebooks" / Path(relpath).name
    shutil.copy(REPO / relpath, target)
    before = target.read_bytes()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.goto(f"{lab.url}/lab/tree/{target.name}?token={lab.token}", timeout=30_000)
            status = page.locator(".jp-StatusBar-Widget, #jp-main-statusbar")
            expect(status.filter(has_text="Idle").first).to_be_visible(timeout=40_000)
            lab.note_kernels()
            page.locator(".jp-Notebook").first.click()
            mtime = target.stat().st_mtime_ns
            page.keyboard.press("Control+s")
            end = time.monotonic() + 20
            while target.stat().st_mtime_ns == mtime and time.monotonic() < end:
                time.sleep(0.2)
            assert target.stat().st_mtime_ns != mtime, "JupyterLab did not save the notebook"
        finally:
            browser.close()
    after = target.read_bytes()
    if after != before:
        import difflib
        diff = "".join(difflib.unified_diff(before.decode().splitlines(True),
                                            after.decode().splitlines(True), n=1))
        pytest.fail(f"saving {relpath} in JupyterLab changed it:\n{diff[:3000]}")


def test_without_chromium_it_skips_with_the_install_command(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y chromium"):
        require_browser()


def test_without_chromium_under_ci_it_fails(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", Path("/nonexistent/chromium"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI must run this test"):
        require_browser()
