"""`make lab`'s JupyterLab: no news pop-up, no update check, kernels over IPC, course on PATH."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.prefix)


def lab_command() -> list[str]:
    """The command `make lab` would run, read from `make -n` (so the test follows the Makefile)."""
    out = subprocess.run(["make", "-s", "-n", "lab"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return out.replace("\\\n", " ").strip().splitlines()[-1].split()


def test_make_lab_puts_the_venv_on_path_and_uses_ipc():
    words = lab_command()
    assert any(w.startswith('PATH="') and w.endswith('/.venv/bin:$PATH"') for w in words)
    assert "--KernelManager.transport=ipc" in words


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_lab_settings_turn_news_and_update_checks_off(tmp_path: Path):
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("not running inside the course's .venv, whose JupyterLab `make` configures")
    # The Makefile names the file relative to the course folder, as `.venv/...`.
    subprocess.run(["make", "-s", ".venv/share/jupyter/lab/settings/overrides.json"],
                   cwd=ROOT, check=True, timeout=60)
    port, token = free_port(), "course-test"
    server = subprocess.Popen(
        [str(VENV / "bin" / "jupyter"), "lab", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", "--allow-root",
         f"--LabApp.user_settings_dir={tmp_path / 'user'}", f"--ServerApp.root_dir={tmp_path}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = (f"http://127.0.0.1:{port}/lab/api/settings/"
               "@jupyterlab/apputils-extension:notification")
        request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
        deadline, body = time.monotonic() + 60, None
        while body is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:
                    body = json.load(resp)
            except OSError:
                time.sleep(0.5)
        assert body is not None, "JupyterLab did not answer within 60 s"
        props = body["schema"]["properties"]
        assert props["fetchNews"]["default"] == "false"
        assert props["checkForUpdates"]["default"] is False
    finally:
        server.terminate()
        server.wait(timeout=20)
