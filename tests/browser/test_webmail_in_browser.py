"""The lab's webmail in a real browser (chromium), clicked as a student clicks it.

One `Lab.classic()` for the module: jane@somewhereelse.com reads her mail
on the webmail of mail.somewhereelse.com, opened directly at
``http://127.0.0.1:<port>/``, each test in a fresh browser context (no
cookies). The tests assert on what the page shows (rows of
``table#messages``, the message text, the notices) and, where a click
changes a mailbox, on the server's store too: the browser only ever sees
pages, the store is the truth.

The last test opens the webmail the way a lesson shows it: inside
JupyterLab, in a frame served through jupyter-server-proxy on JupyterLab's
own origin, and logs in there.

Screenshots go to test-output/browser/webmail-*.png for a person to look at.
"""
from __future__ import annotations

import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import nbformat
import pytest
from lab_page import run_all_cells

from mailcourse import Lab

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
JANE, JANE_PASSWORD = "jane@somewhereelse.com", "jane-password"
JOE = "joe@someplace.org"
KIM, KIM_PASSWORD = "kim@somewhereelse.com", "kim-password"  # an account of her own for the long list
TIMEOUT = 10_000  # ms: one page of the webmail answers in a few


@pytest.fixture(scope="module")
def lab():
    with Lab.classic(seed=6) as lab:
        lab.server("somewhereelse.com").add_user(KIM, KIM_PASSWORD)
        yield lab


@pytest.fixture(scope="module")
def server(lab):
    return lab.server("somewhereelse.com")


@pytest.fixture(scope="module")
def arrived(lab, server) -> list[tuple[str, str, str]]:
    """Mail sent to jane by SMTP before she logs in: (sender as shown, subject, body), oldest first.

    Two by joe through his provider (submission, then relay to jane's MX), one
    straight to jane's MX from a stranger, as any Internet host may send.
    """
    joe = lab.client("joe-laptop")
    joe.compose(JANE, "Lunch on Friday?", "Shall we have lunch on Friday?\nThe usual place at noon.\n")
    joe.compose(JANE, "Holiday photos", "The photos from the lake are on my laptop.\n")
    assert all(result.ok for result in joe.send_all())
    assert lab.wait_for_delivery()
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Ann Example <ann@example.net>", JANE, "Concert tickets"
    msg.set_content("Two tickets for Saturday night.\n")
    with lab.smtp("ann-host", server.mx) as smtp:
        smtp.sendmail("ann@example.net", [JANE], msg.as_bytes(policy=email.policy.SMTP))
    return [(JOE, "Lunch on Friday?", "Shall we have lunch on Friday?"),
            (JOE, "Holiday photos", "The photos from the lake are on my laptop."),
            ("Ann Example <ann@example.net>", "Concert tickets", "Two tickets for Saturday night.")]


def shoot(page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"webmail-{name}.png"), full_page=True)


def log_in(page, url: str, user: str = JANE, password: str = JANE_PASSWORD) -> None:
    """Open the webmail's address, fill in the login form, land in the inbox."""
    from playwright.sync_api import expect

    page.goto(url)
    expect(page.locator("form#login")).to_be_visible()
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("form#login button[type=submit]")
    expect(page).to_have_url(re.compile(r"/mailbox/INBOX$"), timeout=TIMEOUT)
    expect(page.locator("header .user")).to_have_text(user)


def deliver(server, subject: str, body: str, account: str = JANE, folder: str = "INBOX") -> int:
    """A message from joe put into a mailbox, as the server's final delivery does; returns its UID."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = JOE, account, subject
    msg.set_content(body)
    raw = msg.as_bytes(policy=email.policy.SMTP)
    if folder == "INBOX":
        return server.deliver(account, JOE, raw)
    return server.store.deliver(account.partition("@")[0], raw, folder)


def in_store(server, subject: str, account: str = "jane") -> dict[str, frozenset[str]]:
    """Folder -> flags of every message with this subject in the account (read from the store)."""
    found = {}
    for folder in server.store.folders(account):
        for info in server.store.list(account, folder):
            if f"Subject: {subject}\r\n".encode() in server.store.get(account, info.uid, folder):
                found[folder] = info.flags
    return found


def rows(page) -> list[dict[str, str]]:
    """The message table as the page shows it: one dict per row."""
    return page.locator("table#messages tr.message").evaluate_all(
        """trs => trs.map(tr => ({
            sender: tr.querySelector('td.sender').innerText.trim(),
            subject: tr.querySelector('td.subject').innerText.trim(),
            folder: (tr.querySelector('td.folder') || {innerText: ''}).innerText.trim(),
            state: tr.classList.contains('unread') ? 'unread' : (tr.classList.contains('read') ? 'read' : '?'),
        }))""")


def open_message(page, subject: str) -> None:
    from playwright.sync_api import expect

    page.locator("table#messages td.subject a", has_text=subject).click()
    expect(page.locator("#message h2#subject")).to_have_text(subject, timeout=TIMEOUT)


# -- logging in, the inbox, reading ----------------------------------------------------------------

def test_login_inbox_and_reading(page, server, arrived) -> None:
    from playwright.sync_api import expect

    page.goto(server.webmail.url)
    expect(page).to_have_url(re.compile(r"/login$"))  # the root sends a stranger to the login form
    page.fill("#username", JANE)
    page.fill("#password", "not-her-password")
    page.click("form#login button[type=submit]")
    error = page.locator("#login-error")
    expect(error).to_have_text(re.compile(r"^Wrong user name or password\."), timeout=TIMEOUT)
    expect(page.locator("#username")).to_have_value(JANE)  # what she typed stays, the password does not
    expect(page.locator("#password")).to_have_value("")
    shoot(page, "login-error")

    log_in(page, server.webmail.url)
    shown = rows(page)
    expected = [{"sender": sender, "subject": subject, "folder": "", "state": "unread"}
                for sender, subject, _ in reversed(arrived)]  # newest first
    assert shown[:len(expected)] == expected
    expect(page.locator("table#messages tr.message.unread")).to_have_count(len(shown))
    expect(page.locator("#folders li.current")).to_contain_text("INBOX")
    inbox_unread = page.locator("#folders li.current .unread-count")
    expect(inbox_unread).to_have_text(str(len(shown)))
    # Unread rows look different from read ones: the style sheet makes them bold.
    weight = page.locator("table#messages tr.message.unread td.subject").first.evaluate(
        "td => getComputedStyle(td).fontWeight")
    assert int(weight) >= 600, weight
    shoot(page, "inbox")

    sender, subject, body = arrived[0]
    open_message(page, subject)
    expect(page.locator("#message #from")).to_have_text(sender)
    expect(page.locator("#message #to")).to_have_text(JANE)
    expect(page.locator("#message pre#body")).to_contain_text(body)
    assert in_store(server, subject) == {"INBOX": frozenset({"\\Seen"})}  # reading sets \Seen on the server
    shoot(page, "message")
    page.locator("#folders a", has_text="INBOX").click()
    row = page.locator("table#messages tr.message", has_text=subject)
    expect(row).to_have_class(re.compile(r"\bread\b"))
    expect(page.locator("#folders li.current .unread-count")).to_have_text(str(len(shown) - 1))
    assert int(row.locator("td.subject").evaluate("td => getComputedStyle(td).fontWeight")) < 600


# -- writing -----------------------------------------------------------------------------------------

def test_compose_and_send_to_joe(page, lab, server) -> None:
    from playwright.sync_api import expect

    log_in(page, server.webmail.url)
    mark = lab.trace.mark()
    page.click("#compose-link")
    expect(page.locator("main h2")).to_have_text("New message")
    page.fill("#to", JOE)
    page.fill("#subject", "Written in the browser")
    page.fill("#body", "Hi Joe,\nthis came from the webmail.\nJane\n")
    shoot(page, "compose")
    page.click("form#compose button[type=submit]")
    expect(page).to_have_url(re.compile(r"/mailbox/INBOX$"), timeout=TIMEOUT)
    expect(page.locator("#notice")).to_have_text(f"Message sent to {JOE}.")

    assert lab.wait_for_delivery()
    joes = [m for m in lab.server("someplace.org").mailbox(JOE) if m["Subject"] == "Written in the browser"]
    assert len(joes) == 1
    assert joes[0]["From"] == JANE and joes[0]["To"] == JOE
    assert joes[0].get_content() == "Hi Joe,\nthis came from the webmail.\nJane\n"  # CRLF of the form undone
    # The webmail is a mail client: one authenticated SMTP submission session, in the trace.
    smtp = [c for c in lab.trace.sessions(protocol="SMTP", service="submission", since=mark)
            if c.client == "webmail.somewhereelse.com"]
    assert len(smtp) == 1 and smtp[0].server == "mail.somewhereelse.com"
    transcript = lab.trace.transcript(smtp[0])
    for line in ("C: AUTH PLAIN ********", f"C: MAIL FROM:<{JANE}>", f"C: RCPT TO:<{JOE}>", "C: DATA",
                 "Subject: Written in the browser"):
        assert line in transcript, line
    assert JANE_PASSWORD not in transcript
    assert re.search(r"S: 250 .*queued as", transcript)
    # Her copy in Sent, shown with the recipient in place of the sender.
    page.locator("#folders a", has_text="Sent").click()
    sent = rows(page)
    assert {"sender": JOE, "subject": "Written in the browser", "folder": "", "state": "read"} in sent
    expect(page.locator("table#messages thead")).to_contain_text("To")


def test_reply_is_prefilled(page, server) -> None:
    from playwright.sync_api import expect

    uid = deliver(server, "Meeting notes", "Here are the notes.\nSee you Monday.\n")
    log_in(page, server.webmail.url)
    open_message(page, "Meeting notes")
    page.locator("#message .actions a", has_text="Reply").click()
    expect(page.locator("main h2")).to_have_text("Reply", timeout=TIMEOUT)
    expect(page.locator("#to")).to_have_value(JOE)
    expect(page.locator("#subject")).to_have_value("Re: Meeting notes")
    quoted = page.locator("#body").input_value()
    assert f"{JOE} wrote:\n> Here are the notes.\n> See you Monday." in quoted
    expect(page.locator("form#compose input[name=reply]")).to_have_value(f"INBOX/{uid}")
    shoot(page, "reply")


# -- finding -----------------------------------------------------------------------------------------

def test_search_by_subject_and_by_body_text(page, server) -> None:
    from playwright.sync_api import expect

    deliver(server, "Invoice zebra-7731", "Please pay by the end of the month.\n")
    deliver(server, "A riddle", "The answer is periwinkle, of course.\n")
    server.store.create_folder("jane", "Old")
    deliver(server, "Old invoice zebra-7731", "Paid long ago.\n", folder="Old")
    log_in(page, server.webmail.url)

    page.fill("form#search input[name=q]", "zebra-7731")
    page.click("form#search button[type=submit]")
    expect(page.locator("main h2")).to_have_text("Search", timeout=TIMEOUT)
    expect(page.locator("main p.count")).to_have_text(
        "2 messages with “zebra-7731” in the sender, subject or text.")
    assert sorted((r["folder"], r["subject"]) for r in rows(page)) == [
        ("INBOX", "Invoice zebra-7731"), ("Old", "Old invoice zebra-7731")]
    shoot(page, "search-subject")

    form = page.locator("form#search-form")
    form.locator("input[name=q]").fill("periwinkle")
    form.locator("select[name=in]").select_option("body")
    form.locator("button[type=submit]").click()
    expect(page.locator("main p.count")).to_have_text("1 message with “periwinkle” in the text.", timeout=TIMEOUT)
    assert [(r["folder"], r["subject"], r["sender"]) for r in rows(page)] == [("INBOX", "A riddle", JOE)]
    expect(form.locator("select[name=in]")).to_have_value("body")  # the form shows the search it made
    shoot(page, "search-body")

    # The same word, looked for in subjects only: the body does not count.
    form.locator("select[name=in]").select_option("subject")
    form.locator("button[type=submit]").click()
    expect(page.locator("main p.count")).to_have_text("0 messages with “periwinkle” in the subject.", timeout=TIMEOUT)
    expect(page.locator("table#messages tr.empty")).to_have_text("No messages.")
    # A result opens the message.
    form.locator("input[name=q]").fill("zebra")
    form.locator("select[name=folder]").select_option("Old")
    form.locator("button[type=submit]").click()
    expect(page.locator("main p.count")).to_contain_text("1 message", timeout=TIMEOUT)
    open_message(page, "Old invoice zebra-7731")
    expect(page.locator("#message pre#body")).to_have_text("Paid long ago.\n")


# -- folders -----------------------------------------------------------------------------------------

def test_delete_goes_to_trash_and_delete_in_trash_removes_it(page, server) -> None:
    from playwright.sync_api import expect

    deliver(server, "Spam offer", "You have won.\n")
    log_in(page, server.webmail.url)
    open_message(page, "Spam offer")
    expect(page.locator("form#delete button")).to_have_text("Delete")
    page.click("form#delete button")
    expect(page).to_have_url(re.compile(r"/mailbox/INBOX$"), timeout=TIMEOUT)
    expect(page.locator("#notice")).to_have_text("The message was moved to Trash.")
    assert "Spam offer" not in [r["subject"] for r in rows(page)]
    assert set(in_store(server, "Spam offer")) == {"Trash"}

    page.locator("#folders a", has_text="Trash").click()
    expect(page.locator("main h2")).to_have_text("Trash", timeout=TIMEOUT)
    assert {"sender": JOE, "subject": "Spam offer", "folder": "", "state": "read"} in rows(page)
    shoot(page, "trash")
    open_message(page, "Spam offer")
    expect(page.locator("form#delete button")).to_have_text("Delete for good")
    page.click("form#delete button")
    expect(page).to_have_url(re.compile(r"/mailbox/Trash$"), timeout=TIMEOUT)
    expect(page.locator("#notice")).to_have_text("The message was deleted for good.")
    assert "Spam offer" not in [r["subject"] for r in rows(page)]
    assert in_store(server, "Spam offer") == {}  # gone from every folder


def test_move_to_another_folder(page, server) -> None:
    from playwright.sync_api import expect

    server.store.create_folder("jane", "Receipts")
    deliver(server, "Your receipt 4411", "Thank you for shopping.\n")
    log_in(page, server.webmail.url)
    open_message(page, "Your receipt 4411")
    page.locator("form#move select[name=to]").select_option("Receipts")
    page.click("form#move button")
    expect(page).to_have_url(re.compile(r"/mailbox/INBOX$"), timeout=TIMEOUT)
    expect(page.locator("#notice")).to_have_text("The message was moved to Receipts.")
    assert "Your receipt 4411" not in [r["subject"] for r in rows(page)]
    assert set(in_store(server, "Your receipt 4411")) == {"Receipts"}
    page.locator("#folders a", has_text="Receipts").click()
    expect(page.locator("main h2")).to_have_text("Receipts", timeout=TIMEOUT)
    assert [r["subject"] for r in rows(page)] == ["Your receipt 4411"]
    shoot(page, "moved")


def test_pagination_with_30_messages(page, server) -> None:
    from playwright.sync_api import expect

    for n in range(1, 31):
        deliver(server, f"Newsletter {n:02d}", f"Issue number {n}.\n", account=KIM)
    log_in(page, server.webmail.url, KIM, KIM_PASSWORD)
    expect(page.locator("main p.count")).to_have_text("Messages 1–25 of 30")
    assert [r["subject"] for r in rows(page)] == [f"Newsletter {n:02d}" for n in range(30, 5, -1)]
    pages = page.locator("nav.pages")
    expect(pages.locator("[aria-current=page]")).to_have_text("1")
    expect(pages.locator("a[rel=prev]")).to_have_count(0)
    shoot(page, "page1")
    pages.locator("a[rel=next]").click()
    expect(page).to_have_url(re.compile(r"/mailbox/INBOX\?page=2$"), timeout=TIMEOUT)
    expect(page.locator("main p.count")).to_have_text("Messages 26–30 of 30")
    assert [r["subject"] for r in rows(page)] == [f"Newsletter {n:02d}" for n in range(5, 0, -1)]
    expect(pages.locator("[aria-current=page]")).to_have_text("2")
    expect(pages.locator("a[rel=next]")).to_have_count(0)
    shoot(page, "page2")
    pages.locator("a[rel=prev]").click()
    expect(page.locator("main p.count")).to_have_text("Messages 1–25 of 30", timeout=TIMEOUT)


def test_logout(page, server) -> None:
    from playwright.sync_api import expect

    log_in(page, server.webmail.url)
    inbox = page.url
    page.click("form#logout button")
    expect(page).to_have_url(re.compile(r"/login$"), timeout=TIMEOUT)
    expect(page.locator("form#login")).to_be_visible()
    expect(page.locator("#folders")).to_have_count(0)
    page.goto(inbox)  # the inbox's address, as from a bookmark or the back button
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("form#login")).to_be_visible()
    expect(page.locator("table#messages")).to_have_count(0)


# -- inside JupyterLab, through jupyter-server-proxy -------------------------------------------------

NOTEBOOK_CELL = """\
from mailcourse import Lab
from mailcourse.viz.webmail import show_webmail, webmail_url

Lab.stop_all()
lab = Lab.classic(seed=7)
server = lab.server("somewhereelse.com")
joe = lab.client("joe-laptop")
joe.compose("jane@somewhereelse.com", "Hello from the notebook", "Seen through the proxy.")
joe.send_all()
assert lab.wait_for_delivery()
print("WEBMAIL", webmail_url(server))
show_webmail(server)
"""


def test_webmail_in_jupyterlab_through_the_proxy(hub_like_jupyterlab: str, page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(NOTEBOOK_CELL)]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, tmp_path / "webmail_in_lab.ipynb")

    page.set_viewport_size({"width": 1400, "height": 1100})
    run_all_cells(page, hub_like_jupyterlab, "webmail_in_lab.ipynb")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
                          ".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()
    printed = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stdout']").inner_text()
    path = re.search(r"WEBMAIL (\S+)", printed).group(1)
    assert re.fullmatch(r"/proxy/\d+/", path), path  # JUPYTERHUB_SERVICE_PREFIX="/" reached the kernel

    frame_element = page.locator("iframe[title='The webmail of mail.somewhereelse.com']")
    expect(frame_element).to_have_attribute("src", path, timeout=30_000)
    frame = page.frame_locator("iframe[title='The webmail of mail.somewhereelse.com']")
    expect(frame.locator("form#login")).to_be_visible(timeout=TIMEOUT)
    frame.locator("#username").fill(JANE)
    frame.locator("#password").fill(JANE_PASSWORD)
    frame.locator("form#login button[type=submit]").click()
    row = frame.locator("table#messages tr.message", has_text="Hello from the notebook")
    expect(row).to_be_visible(timeout=TIMEOUT)
    expect(row.locator("td.sender")).to_have_text(JOE)
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    # Same origin as JupyterLab: the frame's document is at <lab>/proxy/<port>/mailbox/INBOX.
    inner = next(f for f in page.frames if "/proxy/" in f.url)
    assert inner.url == f"{hub_like_jupyterlab}{path}mailbox/INBOX", inner.url
    frame_element.scroll_into_view_if_needed()
    shoot(page, "in-jupyterlab")
    row.locator("td.subject a").click()
    expect(frame.locator("#message pre#body")).to_contain_text("Seen through the proxy.", timeout=TIMEOUT)
    frame_element.screenshot(path=str(OUTPUT / "webmail-in-jupyterlab-message.png"))
