"""The course on a real JupyterHub: two Unix users, each in their own lab, through the hub's proxy.

As on The Littlest JupyterHub, every student is a Unix user of one machine and
shares its loopback interface. The test starts JupyterHub (PyPI ``jupyterhub``)
and its proxy (npm ``configurable-http-proxy``) on 127.0.0.1, with
LocalProcessSpawner: the hub runs as root and starts each student's
single-user server as that student (setuid), so the servers, their kernels and
the labs in them belong to two different Unix users. Logging in uses the hub's
SharedPasswordAuthenticator (one password for the listed users) rather than
PAM, so that the test needs no system passwords; who the user *is* afterwards
is still the Unix account (checked: the kernel reports its own user name).

What it checks, in chromium:

* each student logs in on the hub's login page and lands in their own JupyterLab
  at ``/user/NAME/lab``; lesson 00 and lesson 08 (the webmail) of the
  instructor edition, copied into each home as an instructor would put them
  there, run in both labs at the same time with every code cell without error;
* lesson 08's webmail is shown through jupyter-server-proxy at
  ``/user/NAME/proxy/PORT/`` (the kernel finds ``/user/NAME/`` in
  ``JUPYTERHUB_SERVICE_PREFIX``): in the lesson's frame and opened as a page,
  where jane logs in; the other student's browser gets the hub's 403 there;
* the owner's own programs reach their lab's servers (a standard-library script
  run as the owner hears every greeting), and another student's do not: the
  same script run as the second user sees each connection closed before a byte
  of the protocol (issue 12, part 2: `mailcourse.peers`).

Needs root (to create the users and to let the hub setuid), ``jupyterhub`` in
this environment and ``configurable-http-proxy`` on PATH; otherwise skipped,
with the reason, except under CI=true, where each is a failure (.ci/run installs
them). The users (``mchub-ada``, ``mchub-ben``) are created when missing
(tests/unix_users.py) and kept for the next run; their ~/notebooks is copied afresh.

The other users must be able to run this environment's Python and read this
checkout (PYTHONPATH points their kernels at it). On a developer's machine the
test changes no permissions: if a directory on the way is closed to others it
is skipped and says which. Under CI=true (a throwaway machine whose clean clone
may sit under /root, mode 700) it grants o+x, traversal only, not listing, on
the directories on the way that lack it, and puts their modes back at the end.

Screenshots go to test-output/browser/hub-*.png, with the hub's log (hub-jupyterhub.log).
"""
from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from helpers import stop_process, wait_until
from lab_page import CELL_ERRORS, start_all_cells, wait_all_cells
from unix_users import ensure_user, require_root, run_as

pytestmark = [pytest.mark.browser, pytest.mark.hub]

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
BIN = Path(sys.executable).parent  # this environment's programs: jupyterhub, jupyterhub-singleuser
STUDENTS = ("mchub-ada", "mchub-ben")
PASSWORD = "the class password"  # SharedPasswordAuthenticator wants 8 characters or more
LESSONS = ("00_start_here.ipynb", "08_webmail.ipynb")
JANE, JANE_PASSWORD = "jane@somewhereelse.com", "jane-password"
WEBMAIL_FRAME = "iframe[title='The webmail of mail.somewhereelse.com']"
TIMEOUT = 10_000  # ms: one page of the webmail answers in a few


def _cannot(reason: str) -> None:
    """Skip with ``reason``; under CI=true fail instead: CI must be able to run this test."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run the hub test; see .ci/run)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the students: real Unix users ---------------------------------------------------------------

def _closed_to_others(path: Path) -> list[Path]:
    """``path``'s directories, from / down, that other users cannot pass through (no o+x)."""
    return [p for p in reversed([path, *path.parents]) if not p.stat().st_mode & stat.S_IXOTH]


@pytest.fixture(scope="module")
def students():
    """The Unix users, each with the instructor edition in ~/notebooks; yields their names."""
    require_root("the hub creates Unix users and starts their servers as them")
    if not (BIN / "jupyterhub").exists():
        _cannot(f"jupyterhub is not installed in {sys.prefix} (pip install -e '.[test]')")
    if shutil.which("configurable-http-proxy") is None:
        _cannot("configurable-http-proxy is not on PATH (Debian nodejs and npm, then "
                "npm install -g configurable-http-proxy)")
    # The environment, the interpreter it was made from (a venv links to it) and this checkout.
    needed = (Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent, ROOT)
    closed = sorted({p for path in needed for p in _closed_to_others(path)})
    if closed and os.environ.get("CI") != "true":
        pytest.skip(f"other users cannot reach this Python or checkout: no o+x on {', '.join(map(str, closed))} "
                    "(the test changes permissions only under CI=true)")
    modes = {p: p.stat().st_mode for p in closed}
    try:
        for p, mode in modes.items():
            p.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
        for name in STUDENTS:
            user = ensure_user(name)
            lessons = Path(user.pw_dir) / "notebooks"  # as an instructor puts them there, afresh each run
            shutil.rmtree(lessons, ignore_errors=True)
            shutil.copytree(ROOT / "notebooks", lessons, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
            for path in [lessons, *lessons.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
        imports = run_as(pwd.getpwnam(STUDENTS[0]), ["/usr/bin/env", f"PYTHONPATH={ROOT}", sys.executable,
                                                     "-c", "import mailcourse, jupyterhub, jupyter_server_proxy"])
        assert imports.returncode == 0, f"{STUDENTS[0]} cannot use this environment: {imports.stderr}"
        yield STUDENTS
    finally:
        for p, mode in modes.items():
            p.chmod(stat.S_IMODE(mode))


# -- JupyterHub --------------------------------------------------------------------------------------

HUB_CONFIG = """\
c = get_config()  # noqa: F821 (JupyterHub's config files get it as a global)
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.pid_file = {state!r} + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + {state!r} + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = {state!r} + "/cookie_secret"
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# window.jupyterapp, which the test drives JupyterLab through (lab_page.py)
c.Spawner.args = ["--LabApp.expose_app_in_browser=True"]
# The students' kernels import this checkout's mailcourse (as the tests' own processes do).
c.Spawner.environment = {{"PYTHONPATH": {root!r}}}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
"""


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def hub(students, tmp_path_factory: pytest.TempPathFactory):
    """JupyterHub with its proxy on 127.0.0.1, the students allowed in; yields its public URL."""
    state = tmp_path_factory.mktemp("hub")
    port = _free_port()
    (state / "jupyterhub_config.py").write_text(HUB_CONFIG.format(
        port=port, hub_port=_free_port(), api_port=_free_port(), state=str(state), password=PASSWORD,
        users=set(students), singleuser=str(BIN / "jupyterhub-singleuser"), root=str(ROOT)))
    log = open(state / "jupyterhub.log", "w")
    proc = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(state / "jupyterhub_config.py")],
                            cwd=state, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or _answers(f"{url}/hub/api/"), timeout=90,
                   what="JupyterHub to answer")
        assert proc.poll() is None, f"JupyterHub exited; see {state / 'jupyterhub.log'}"
        yield url
    finally:
        stop_process(proc, timeout=60)  # the hub stops the students' servers and its proxy first
        log.close()
        OUTPUT.mkdir(parents=True, exist_ok=True)  # the hub's log and the servers', next to the screenshots
        shutil.copy(state / "jupyterhub.log", OUTPUT / "hub-jupyterhub.log")


@pytest.fixture(scope="module")
def pages(hub, browser, students):
    """One browser context (cookies of its own) per student, logged in to the hub; name -> page."""
    from playwright.sync_api import expect

    contexts, opened = [], {}
    try:
        for name in students:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            contexts.append(context)
            page = context.new_page()
            page.goto(f"{hub}/hub/login")
            page.fill("#username_input", name)
            page.fill("#password_input", PASSWORD)
            page.click("#login_submit")
            opened[name] = page
        for name, page in opened.items():  # the hub starts each server; JupyterLab opens in it
            expect(page).to_have_url(re.compile(rf"/user/{name}/lab"), timeout=120_000)
        yield opened
    finally:
        for context in contexts:
            context.close()


def _shoot(page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"hub-{name}.png"))


# Runs code in the kernel of the open notebook (JupyterLab's own kernel connection) and
# resolves to what it printed and the error it raised, if any.
ASK_KERNEL = """async (code) => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const future = kernel.requestExecute({code, silent: false, store_history: false});
    const answer = {printed: '', error: null};
    future.onIOPub = (msg) => {
        if (msg.header.msg_type === 'stream') answer.printed += msg.content.text;
        if (msg.header.msg_type === 'error') answer.error = msg.content.ename + ': ' + msg.content.evalue;
    };
    await future.done;
    return answer;
}"""


def ask_kernel(page, code: str) -> str:
    """What ``code`` prints in the kernel of the notebook open on ``page`` (it must not raise)."""
    answer = page.evaluate(ASK_KERNEL, code)
    assert answer["error"] is None, f"{code!r} failed in the kernel: {answer['error']}"
    return answer["printed"]


# -- the lessons, in both labs at once --------------------------------------------------------------

@pytest.mark.parametrize("lesson", LESSONS, ids=[name[:2] for name in LESSONS])
def test_every_student_runs_the_lesson_in_their_own_lab(hub, pages, lesson: str) -> None:
    for name, page in pages.items():
        start_all_cells(page, f"{hub}/user/{name}", f"notebooks/{lesson}")
    for name, page in pages.items():
        wait_all_cells(page)
        _shoot(page, f"{name}-{lesson[:2]}")
        failed = {c["index"]: c["errors"] for c in page.evaluate(CELL_ERRORS) if c["errors"]}
        assert failed == {}, f"{name}: cells of {lesson} fail on the hub: {failed}"
        # A real Unix user's kernel, behind the hub's prefix.
        who = ask_kernel(page, "import os, pwd; print(pwd.getpwuid(os.getuid()).pw_name, "
                               "os.environ['JUPYTERHUB_SERVICE_PREFIX'])")
        assert who.split() == [name, f"/user/{name}/"]
        if lesson != LESSONS[-1]:  # lesson 08's kernel and lab stay up for the tests below
            page.evaluate("window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")


# -- the webmail through jupyter-server-proxy -------------------------------------------------------

def test_the_webmail_shows_through_the_proxy_to_its_student_only(hub, pages) -> None:
    from playwright.sync_api import expect

    paths = {}
    for name, page in pages.items():
        frame = page.locator(WEBMAIL_FRAME)
        expect(frame).to_have_count(1)
        paths[name] = frame.get_attribute("src")
        assert re.fullmatch(rf"/user/{name}/proxy/\d+/", paths[name]), paths[name]
        frame.scroll_into_view_if_needed()
        expect(page.frame_locator(WEBMAIL_FRAME).locator("form#login")).to_be_visible(timeout=TIMEOUT)
        _shoot(page, f"{name}-08-webmail-frame")

        webmail = page.context.new_page()  # the address of the link under the frame, in a tab
        webmail.goto(f"{hub}{paths[name]}")
        expect(webmail.locator("form#login")).to_be_visible(timeout=TIMEOUT)
        _shoot(webmail, f"{name}-webmail-login")
        webmail.fill("#username", JANE)
        webmail.fill("#password", JANE_PASSWORD)
        webmail.click("form#login button[type=submit]")
        expect(webmail).to_have_url(re.compile(rf"{re.escape(paths[name])}mailbox/INBOX$"), timeout=TIMEOUT)
        last = webmail.locator("table#messages tr.message", has_text="Invoice 42")  # what lesson 08 sent last
        expect(last).to_have_count(1)
        _shoot(webmail, f"{name}-webmail-inbox")
        webmail.close()

    # The other student, logged in to the same hub, asks for the first student's webmail.
    first, other = list(pages)[:2]
    intruder = pages[other].context.new_page()
    response = intruder.goto(f"{hub}{paths[first]}")
    assert response is not None and response.status == 403, (response and response.status, intruder.url)
    expect(intruder.locator("form#login")).to_have_count(0)
    _shoot(intruder, f"{other}-denied-{first}-webmail")
    intruder.close()


# -- another Unix user's programs and the lab ---------------------------------------------------------

# Connects to each (service, host, port) and reports what the server said first, for a
# person to read: {"said": text, "end": "closed" | "reset" | "timeout" | "open"}. HTTP waits
# for the client to speak, so the webmail is sent a request first.
# The implicit-TLS endpoints (RFC 8314) speak only after a handshake: the probe makes one, without
# checking the certificate (it asks "does it answer?", not "is it the lab?"), and reads the greeting
# inside. A connection closed before the handshake ends counts as closed.
PROBE = r"""
import json, socket, ssl, sys
found = {}
unchecked = ssl.create_default_context()
unchecked.check_hostname, unchecked.verify_mode = False, ssl.CERT_NONE
for service, (host, port) in json.loads(sys.argv[1]).items():
    said, end = b"", "open"
    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            if service in ("submissions", "pop3s", "imaps"):
                conn = unchecked.wrap_socket(conn)
            if service == "webmail":
                conn.sendall(b"GET /login HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            said = conn.recv(200)
            end = "open" if said else "closed"
    except ConnectionResetError:
        end = "reset"
    except (ssl.SSLError, ssl.SSLEOFError, EOFError):
        end = "closed"
    except socket.timeout:
        end = "timeout"
    found[service] = {"said": said.decode("latin-1"), "end": end}
print(json.dumps(found))
"""

# What each server says first (RFC 5321 section 4.2, RFC 1939 section 4, RFC 9051 section 7.1,
# RFC 9112 section 4).
GREETINGS = {"submission": "220 ", "mx": "220 ", "pop3": "+OK", "imap": "* OK", "webmail": "HTTP/1.",
             "submissions": "220 ", "pop3s": "+OK", "imaps": "* OK"}


def _lab_addresses(page) -> dict[str, list]:
    """Where the servers of jane's provider listen, asked of lesson 08's running kernel."""
    printed = ask_kernel(page, "import json; print(json.dumps({service: lab.endpoint_address(endpoint) "
                               "for service, endpoint in theirs.endpoints.items()}))")
    addresses = json.loads(printed)
    assert set(addresses) == set(GREETINGS), addresses
    return addresses


def _probe_as(name: str, addresses: dict[str, list]) -> dict[str, dict[str, str]]:
    done = run_as(pwd.getpwnam(name), ["/usr/bin/python3", "-I", "-c", PROBE, json.dumps(addresses)])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_owners_own_programs_reach_the_lab(pages) -> None:
    owner = next(iter(pages))
    heard = _probe_as(owner, _lab_addresses(pages[owner]))
    assert {service: found["said"][:len(GREETINGS[service])] for service, found in heard.items()} == GREETINGS, heard


def test_another_student_cannot_open_a_session_with_the_lab(pages) -> None:
    owner, other = list(pages)[:2]
    addresses = _lab_addresses(pages[owner])
    ask_kernel(pages[owner], "_hub_test_mark = lab.trace.mark()")
    heard = _probe_as(other, addresses)
    assert all(found["said"] == "" and found["end"] in ("closed", "reset") for found in heard.values()), heard
    # The owner's lab saw each attempt and kept it as refused, with the other student's uid.
    refused = json.loads(ask_kernel(pages[owner], "import json; print(json.dumps({c.service: c.refused "
                                                  "for c in lab.trace.sessions(since=_hub_test_mark)}))"))
    assert refused == {service: f"refused: another user (uid {pwd.getpwnam(other).pw_uid})" for service in GREETINGS}
