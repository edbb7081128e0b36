"""Fixtures for browser tests: JupyterLab headless on a free port, Debian's chromium via playwright.

`playwright install` cannot download browsers on the machines this course is
built on, so the tests drive the system's chromium. Under CI=true a missing
browser is a failure, never a skip.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import stop_process

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = "no chromium found (Debian: apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_lab(root: Path, tmp_path_factory: pytest.TempPathFactory):
    """Start JupyterLab headless on a free port with ``root`` as its root folder; yield its URL."""
    port = _free_port()
    workspaces = tmp_path_factory.mktemp("lab-workspaces")
    log = open(tmp_path_factory.mktemp("lab-log") / "jupyter.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--IdentityProvider.token=", "--ServerApp.password=",
         "--ServerApp.disable_check_xsrf=True", "--LabApp.expose_app_in_browser=True",
         f"--LabApp.workspaces_dir={workspaces}", f"--ServerApp.root_dir={root}",
         "--allow-root"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("JupyterLab did not start; see its log")
                time.sleep(0.5)
        yield url
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="session")
def course_lab(tmp_path_factory: pytest.TempPathFactory):
    """JupyterLab on a copy of the course (README.md, notebooks/, student/); yields its base URL.

    A copy, so that JupyterLab's autosave never writes a browser run into the
    committed notebooks.
    """
    root = tmp_path_factory.mktemp("course")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", ".built")
    for edition in ("notebooks", "student"):
        shutil.copytree(ROOT / edition, root / edition, ignore=ignore)
    shutil.copy(ROOT / "README.md", root / "README.md")
    yield from _serve_lab(root, tmp_path_factory)


@pytest.fixture(scope="session")
def browser_notebooks_lab(tmp_path_factory: pytest.TempPathFactory):
    """A JupyterLab server on tests/browser/notebooks (notebooks made for browser tests)."""
    yield from _serve_lab(Path(__file__).resolve().parent / "notebooks", tmp_path_factory)


# Module scope, not session: while playwright's sync API is open it keeps an
# event loop running on the main thread, and later tests that call
# asyncio.run() (nbclient, for one) would fail.
@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


# -- JupyterLab as on a hub, for the webmail through jupyter-server-proxy (test_webmail_in_browser.py) --

@pytest.fixture
def hub_like_jupyterlab(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch):
    """A JupyterLab on ``tmp_path`` whose kernels see ``JUPYTERHUB_SERVICE_PREFIX=/``, as on JupyterHub.

    The Jupyter server hands its environment to every kernel it starts, so a
    notebook's `mailcourse.viz.webmail.webmail_url` answers ``/proxy/<port>/``
    (jupyter-server-proxy, the same origin as JupyterLab) whatever else it
    looks at. Yields the server's URL; the test writes its notebook into ``tmp_path``.
    """
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/")
    yield from _serve_lab(tmp_path, tmp_path_factory)
