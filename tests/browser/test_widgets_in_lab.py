"""The widgets in JupyterLab, in a real browser, clicked as a student clicks them.

Opens tests/browser/notebooks/widgets_in_lab.ipynb, runs every cell, then:

- clicks the SMTP stepper through a session, RCPT TO before MAIL FROM included,
  and reads the server's real replies on the page (503, 354, the final 250
  with its queue id);
- fills the composer with a blind copy and sends it, and reads on the page
  what each mailbox received;
- runs the notebook's verification cell again, which reads the mailboxes
  directly on the server, and reads its output (the test process cannot see
  the kernel's lab, only the page);
- checks that the live trace caught up by itself: only the kernel's idle loop
  can have brought it the relay sessions.

Screenshots go to test-output/browser/widgets-*.png for a person to look at.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from lab_page import KERNEL_STATUS, run_all_cells

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
NOTEBOOK = "widgets_in_lab.ipynb"
PRIMARY = re.compile(r"\bmod-primary\b")  # ipywidgets' class for button_style="primary"
TIMEOUT = 30_000  # ms, for one click's answer (a round trip through the kernel and a lab server)


def run_tagged_cell(page, tag: str) -> None:
    """Run the one cell tagged ``tag`` again, as a student would with Shift+Enter."""
    page.evaluate(
        """async (tag) => {
            const panel = window.jupyterapp.shell.currentWidget;
            const notebook = panel.content;
            const cells = notebook.model.cells;
            for (let i = 0; i < cells.length; i++) {
                if ((cells.get(i).getMetadata('tags') || []).includes(tag)) {
                    notebook.activeCellIndex = i;
                    await window.jupyterapp.commands.execute('notebook:run-cell');
                    return;
                }
            }
            throw new Error('no cell tagged ' + tag);
        }""",
        tag,
    )


def step(page, expect, name: str, *wanted: str) -> str:
    """Click stepper button ``name`` and wait until the "last exchange" shows every ``wanted`` text."""
    button = page.locator(f"button.mc-stepper-{name}")
    expect(button).to_be_enabled(timeout=TIMEOUT)
    button.click()
    reply = page.locator(".mc-stepper-reply")
    for text in wanted:
        expect(reply).to_contain_text(text, timeout=TIMEOUT)
    return reply.inner_text()


def shoot(page, name: str, locator=None) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    if locator is not None:
        locator.scroll_into_view_if_needed()
        locator.screenshot(path=str(OUTPUT / f"widgets-{name}.png"))
    else:
        page.screenshot(path=str(OUTPUT / f"widgets-{name}.png"))


def test_stepper_and_composer_in_jupyterlab(browser_notebooks_lab: str, page) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 2000})  # tall: whole widgets in one screenshot
    run_all_cells(page, browser_notebooks_lab, NOTEBOOK)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
                          ".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()
    stepper = page.locator(".mc-stepper")
    expect(stepper).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(".mc-stepper-state")).to_contain_text("not connected")
    shoot(page, "stepper-start", stepper)

    # -- the SMTP stepper, one click at a time ------------------------------------------------
    step(page, expect, "connect", "S: 220 mail.someplace.org")
    expect(page.locator("button.mc-stepper-ehlo")).to_have_class(PRIMARY)  # the hint: likely next
    step(page, expect, "ehlo", "C: EHLO joe-laptop", "S: 250 HELP")
    step(page, expect, "auth", "C: AUTH PLAIN ********", "S: 235")
    early = step(page, expect, "rcpt", "C: RCPT TO:<jane@somewhereelse.com>", "S: 503")
    assert "need MAIL" in early  # the server's own words
    shoot(page, "stepper-503", stepper)
    step(page, expect, "mail", "C: MAIL FROM:<joe@someplace.org>", "S: 250")
    step(page, expect, "rcpt", "C: RCPT TO:<jane@somewhereelse.com>", "S: 250")
    step(page, expect, "data", "C: DATA", "S: 354")
    step(page, expect, "message", "C: Subject: Lunch tomorrow", "no reply")
    final = step(page, expect, "dot", "C: .", "queued as")
    assert "S: 250 2.0.0 Ok: queued as" in final
    ladder = page.locator(".mc-stepper-ladder img")
    before = ladder.evaluate("img => img.naturalHeight")
    step(page, expect, "quit", "C: QUIT", "S: 221")
    # The ladder grows by the QUIT and 221 arrows (the browser decodes the new SVG a moment later).
    page.wait_for_function("([sel, h]) => document.querySelector(sel).naturalHeight > h",
                           arg=[".mc-stepper-ladder img", before], timeout=TIMEOUT)
    transcript = page.locator(".mc-stepper-transcript")
    expect(transcript).to_contain_text("S: 503")
    expect(transcript).to_contain_text("S: 221 2.0.0 Bye")
    assert "joe-password" not in stepper.inner_text()
    expect(ladder).to_be_visible()
    assert ladder.evaluate("img => img.naturalHeight") > 300  # a real ladder, not an empty image
    shoot(page, "stepper-done", stepper)
    shoot(page, "stepper-ladder", ladder)

    # -- the composer: a blind copy -------------------------------------------------------------
    composer = page.locator(".mc-composer")
    composer.scroll_into_view_if_needed()
    page.locator(".mc-composer-to input").fill("jane@somewhereelse.com")
    page.locator(".mc-composer-bcc input").fill("bob@somewhereelse.com")
    page.locator(".mc-composer-subject input").fill("Browser Bcc")
    page.locator(".mc-composer-body textarea").fill("Seen by jane; bob reads along in secret.\n")
    page.locator("button.mc-composer-preview").click()
    envelope = page.locator(".mc-composer-envelope")
    expect(envelope).to_contain_text("RCPT TO:<bob@somewhereelse.com>", timeout=TIMEOUT)
    headers = page.locator(".mc-composer-headers")
    expect(headers).to_contain_text("Subject: Browser Bcc")
    assert "bob@" not in headers.inner_text()
    page.locator("button.mc-composer-send").click()
    result = page.locator(".mc-composer-result")
    expect(result).to_contain_text("No delivered copy has a Bcc header.", timeout=TIMEOUT)
    shown = result.inner_text()
    assert "bob@somewhereelse.com (Bcc) received:" in shown
    assert "jane@somewhereelse.com (To) received:" in shown
    assert "Bcc header: PRESENT" not in shown and shown.count("Bcc header: none") == 2
    shoot(page, "composer", composer)

    # -- the server's own word, from the verification cell ---------------------------------------
    run_tagged_cell(page, "verify")
    verify = page.locator(".jp-OutputArea-output", has_text="VERIFY bob")
    expect(verify).to_contain_text("VERIFY bob: ['Browser Bcc']", timeout=TIMEOUT)
    expect(verify).to_contain_text("VERIFY jane: ['Lunch tomorrow', 'Browser Bcc']")
    expect(verify).to_contain_text("VERIFY Bcc headers: 0")

    # -- the live trace caught up on its own, while the kernel was idle ---------------------------
    live = page.locator(".mc-live-transcript")
    expect(live).to_contain_text("mail.someplace.org -> mail.somewhereelse.com (SMTP mx)", timeout=TIMEOUT)
    expect(page.locator(".mc-live-status")).to_contain_text("Latest hop of")
    shoot(page, "live", page.locator(".mc-live"))

    # -- the quiz -------------------------------------------------------------------------------------
    question = page.locator(".mc-quiz-question").first
    question.locator("label", has_text="354").click()
    question.locator("button.mc-quiz-check").click()
    expect(question.locator(".mc-quiz-feedback")).to_contain_text("Right.", timeout=TIMEOUT)
    fill_in = page.locator(".mc-quiz-question").nth(1)
    fill_in.locator("input").fill("mail from")
    fill_in.locator("button.mc-quiz-check").click()
    expect(fill_in.locator(".mc-quiz-feedback")).to_contain_text("Not quite.", timeout=TIMEOUT)
    shoot(page, "quiz", page.locator(".mc-quiz"))
    assert errors.count() == 0, errors.first.inner_text()
