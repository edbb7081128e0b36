"""The widgets, driven from Python as a click drives them, against the real lab.

No browser here (tests/browser/test_widgets_in_lab.py does that): a test calls
what a click calls (``button.click()``, or the public method the button's
callback calls) and asserts on the server's real replies, on what reached the
mailboxes, and on what the widget shows (the values of its HTML and Image
widgets).
"""
from __future__ import annotations

import asyncio
import base64
import html
import re
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

import pytest

from mailcourse import Lab, LabError
from mailcourse.viz.widgets import (
    Composer,
    LiveTrace,
    MainThreadPump,
    Question,
    Quiz,
    SMTPStepper,
    StaticView,
)
from mailcourse.protocols import smtp_states
from mailcourse.protocols.smtp_states import State



@pytest.fixture
def lab() -> Iterator[Lab]:
    """The classic lab plus bob@somewhereelse.com, a third mailbox for blind copies."""
    with Lab.classic(seed=3, retry_intervals=(0.2,)) as lab:
        lab.add_user("bob@somewhereelse.com", "bob-password")
        yield lab


def shown(widget: Any) -> list[str]:
    """Every text value in a widget tree: what the page can show (HTML, Text, labels, tooltips)."""
    out = []
    for name in ("value", "description", "tooltip", "placeholder"):
        value = getattr(widget, name, None)
        if isinstance(value, str):
            out.append(value)
    for child in getattr(widget, "children", ()):
        out += shown(child)
    return out


def text(html_widget: Any) -> str:
    """What an HTML widget shows, as text (entities such as &gt; decoded)."""
    return html.unescape(html_widget.value)


def click(stepper: SMTPStepper, name: str) -> str:
    """Click a stepper button and return the text of its "last exchange" area."""
    stepper.buttons[name].click()
    return stepper.reply.value


# -- the SMTP stepper ----------------------------------------------------------------------


def test_stepper_clicks_through_a_whole_transaction_and_jane_gets_the_message(lab):
    stepper = SMTPStepper(lab)
    assert stepper._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]  # as a notebook shows it
    assert stepper.state == State.CLOSED
    assert "220 mail.someplace.org" in click(stepper, "connect")
    assert "250-SIZE" in click(stepper, "EHLO")
    assert "235" in click(stepper, "AUTH")
    assert "503" in click(stepper, "RCPT TO")  # before MAIL FROM: the server's real refusal
    assert stepper.state == State.READY
    assert "250 2.1.0" in click(stepper, "MAIL FROM")
    assert "250 2.1.5" in click(stepper, "RCPT TO")
    assert "354" in click(stepper, "DATA")
    assert "no reply" in click(stepper, "message")
    assert stepper.state == State.MESSAGE
    final = click(stepper, ".")
    assert re.search(r"250 2\.0\.0 Ok: queued as [0-9A-F]{10}", final)
    assert "221" in click(stepper, "QUIT")
    assert stepper.state == State.CLOSED

    assert lab.wait_for_delivery()
    received = lab.server("somewhereelse.com").mailbox("jane")
    assert [m["Subject"] for m in received] == ["Lunch tomorrow"]
    # One connection, in the trace exactly as the transcript shows it.
    assert len(stepper.connections) == 1
    assert stepper.connections[0].client == "joe-laptop"
    assert "C: RCPT TO:<jane@somewhereelse.com>\nS: 503" in stepper.transcript()
    # The transcript view and the ladder image follow every click.
    assert "S: 221 2.0.0 Bye" in stepper.transcript_view.value
    assert stepper.ladder_view.value.startswith('<img src="data:image/svg+xml;base64,')


def test_send_returns_the_real_reply_text(lab):
    stepper = SMTPStepper(lab)
    assert stepper.send("connect") == "220 mail.someplace.org ESMTP mailcourse"
    ehlo = stepper.send("EHLO")
    assert ehlo.splitlines()[0] == "250-mail.someplace.org" and ehlo.splitlines()[-1].startswith("250 ")
    # Submission before logging in: the server asks for authentication first (RFC 4954).
    assert stepper.send("MAIL FROM").startswith("530 ")
    assert stepper.send("AUTH").startswith("235 ")
    assert stepper.send("RCPT", "<jane@somewhereelse.com>").startswith("503 ")
    assert stepper.send("DATA").startswith("503 ")
    # A syntax error is the server's business too.
    assert stepper.send("MAIL FROM", "").startswith("501 ")
    assert stepper.send("MAIL FROM", "<joe@someplace.org>").startswith("250 ")
    assert stepper.send("MAIL FROM").startswith("503 ")  # nested MAIL
    assert stepper.send("RSET").startswith("250 ")
    assert stepper.state == State.READY


def test_the_state_follows_the_replies_not_the_clicks(lab):
    stepper = SMTPStepper(lab)
    stepper.send("connect")
    stepper.send("EHLO")
    stepper.send("MAIL FROM")  # 530: not logged in yet
    assert stepper.state == State.READY
    stepper.send("AUTH", "joe@someplace.org")
    assert stepper.authenticated
    stepper.send("MAIL FROM")
    assert stepper.state == State.MAIL
    stepper.send("RCPT TO", "<nobody@someplace.org>")  # 550: no such user
    assert stepper.state == State.MAIL
    stepper.send("RCPT TO", "<jane@somewhereelse.com>")
    assert stepper.state == State.RCPT
    stepper.send("EHLO")  # a new EHLO ends the transaction (RFC 5321 section 4.1.4)
    assert stepper.state == State.READY
    assert stepper.send("DATA").startswith("503 ")


def test_buttons_hint_at_the_next_step_and_wait_during_data(lab):
    stepper = SMTPStepper(lab)
    primary = lambda: [n for n, b in stepper.buttons.items() if b.button_style == "primary"]
    enabled = lambda: {n for n, b in stepper.buttons.items() if not b.disabled}
    assert primary() == ["connect"] and enabled() == {"connect"}
    stepper.send("connect")
    assert stepper.buttons["connect"].description == "Reconnect"
    assert primary() == ["EHLO"]
    assert "message" not in enabled() and "RCPT TO" in enabled()  # out of order is allowed
    assert "503" in stepper.buttons["RCPT TO"].tooltip
    stepper.send("EHLO")
    assert primary() == ["AUTH"]  # the submission server offers AUTH and wants it
    stepper.send("AUTH")
    assert primary() == ["MAIL FROM"]
    stepper.send("MAIL FROM")
    assert primary() == ["RCPT TO"]
    stepper.send("RCPT TO")
    assert primary() == ["DATA"]
    stepper.send("DATA")
    assert primary() == ["message"] and enabled() == {"connect", "message", "."}
    with pytest.raises(LabError, match="message text"):
        stepper.send("EHLO")
    stepper.send("message")
    assert primary() == ["."]
    stepper.send(".")
    assert "message" not in enabled()
    with pytest.raises(LabError, match="only after DATA"):
        stepper.send("message")
    # A click on a disabled button cannot happen in the browser; from Python it shows why.
    stepper.buttons["message"].click()
    assert "not sent" in stepper.reply.value


def test_message_text_is_dot_stuffed_on_the_wire_and_single_in_the_mailbox(lab):
    stepper = SMTPStepper(lab)
    for command in ("connect", "EHLO", "AUTH", "MAIL FROM", "RCPT TO", "DATA"):
        stepper.send(command)
    text = "Subject: Dots\n\n.hidden line\n..two dots\nlast"  # no final newline: the stepper adds one
    assert stepper.send("message", text) == ""
    assert stepper.send(".").startswith("250 ")
    sent = [line for d, line in lab.trace.lines(stepper.connections[0]) if d == "c2s"]
    assert "..hidden line" in sent and "...two dots" in sent and "last" in sent
    assert lab.wait_for_delivery()
    body = lab.server("somewhereelse.com").mailbox("jane")[0].get_content()
    assert body.splitlines() == [".hidden line", "..two dots", "last"]


def test_the_password_is_never_shown(lab):
    stepper = SMTPStepper(lab)
    for command in ("connect", "EHLO", "AUTH"):
        stepper.send(command)
    secret = "joe-password"
    blob = base64.b64encode(b"\0joe@someplace.org\0joe-password").decode()
    views = shown(stepper.widget) + [str(stepper.static()), stepper.transcript(), stepper.ladder().alt]
    views += [line for a in stepper.ladder().arrows for line in a.lines]
    assert "C: AUTH PLAIN ********" in stepper.transcript()
    for text in views:
        assert secret not in text and blob not in text


def test_a_wrong_login_gets_the_real_535(lab):
    stepper = SMTPStepper(lab)
    stepper.send("connect")
    stepper.send("EHLO")
    assert stepper.send("AUTH", "nobody@someplace.org").startswith("535 ")
    assert not stepper.authenticated


def test_reconnect_opens_a_new_connection_and_quit_closes(lab):
    stepper = SMTPStepper(lab)
    stepper.send("connect")
    stepper.send("EHLO")
    stepper.send("AUTH")
    stepper.send("connect")  # Reconnect
    assert stepper.state == State.GREETED and not stepper.authenticated
    assert len(stepper.connections) == 2
    assert stepper.connections[0].closed is not None or lab.wait_for(lambda: stepper.connections[0].closed)
    stepper.send("QUIT")
    assert stepper.state == State.CLOSED
    assert "--- connection 2: joe-laptop -> mail.someplace.org (SMTP submission) ---" in stepper.transcript()
    with pytest.raises(LabError, match="connect first"):
        stepper.send("EHLO")


def test_a_server_going_offline_closes_the_session(lab):
    stepper = SMTPStepper(lab)
    stepper.send("connect")
    server = lab.server("someplace.org")
    server.go_offline()
    assert stepper.send("EHLO") == ""
    assert stepper.state == State.CLOSED
    assert "closed the connection" in stepper.reply.value
    click(stepper, "connect")
    assert "could not connect" in stepper.reply.value
    server.go_online()
    assert stepper.send("connect").startswith("220 ")


def test_a_relay_stepper_on_the_mx_endpoint(lab):
    """A server-to-server session: no AUTH offered, relaying refused (RFC 5321 section 3.6.2)."""
    mx = lab.server("somewhereelse.com").mx
    stepper = SMTPStepper(lab, "mail.someplace.org", mx)
    stepper.send("connect")
    assert "AUTH" not in stepper.send("EHLO")
    assert stepper.buttons["MAIL FROM"].button_style == "primary"
    stepper.send("MAIL FROM", "<joe@someplace.org>")
    assert stepper.send("RCPT TO", "<someone@elsewhere.example>").startswith("554 ")
    assert stepper.send("RCPT TO", "<jane@somewhereelse.com>").startswith("250 ")
    assert stepper.connections[0].client == "mail.someplace.org"
    with pytest.raises(LabError, match="which endpoint"):
        SMTPStepper(lab, "mail.someplace.org")


def test_unknown_commands_and_line_breaks_are_refused_before_sending(lab):
    stepper = SMTPStepper(lab)
    stepper.send("connect")
    with pytest.raises(LabError, match="unknown command"):
        stepper.send("VRFY")
    with pytest.raises(LabError, match="one line"):
        stepper.send("EHLO", "joe-laptop\r\nRSET")
    assert stepper.send("QUIT").startswith("221 ")


def test_stepper_static_is_the_transcript_and_a_ladder_without_ports(lab):
    stepper = SMTPStepper(lab)
    assert "not connected yet" in str(stepper.static())
    for command in ("connect", "EHLO", "AUTH", "MAIL FROM", "RCPT TO", "DATA", "message", ".", "QUIT"):
        stepper.send(command)
    view = stepper.static()
    assert isinstance(view, StaticView)
    assert view.text.startswith("SMTP stepper: joe-laptop -> mail.someplace.org (submission)")
    assert view.text.endswith("S: 221 2.0.0 Bye")
    port = str(lab.server("someplace.org").submission.port)
    assert port not in view.text and "127.0.0.1" not in view.text
    [figure] = view.figures
    assert figure.kind == "ladder" and figure.lifelines == ["joe-laptop", "mail.someplace.org"]
    assert figure.svg().startswith("<svg ")


def test_static_view_shows_text_then_figures_in_a_notebook(lab):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.display import display
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    stepper = SMTPStepper(lab)
    stepper.send("connect")
    with capture_output() as captured:
        display(stepper.static())
    first, second = (o.data for o in captured.outputs)
    assert first == {"text/plain": stepper.static().text}
    assert "image/svg+xml" in second and second["text/plain"].startswith("Ladder diagram")
    assert second["text/html"].startswith('<img src="data:image/svg+xml;base64,')


# -- the state table ---------------------------------------------------------------------


def test_the_state_tables_agree_with_each_other():
    for state in State:
        assert set(smtp_states.IN_ORDER[state]) <= set(smtp_states.SENDABLE[state]), state
        for needs_auth in (True, False):
            likely = smtp_states.likely_next(state, needs_auth)
            assert likely in smtp_states.IN_ORDER[state], state
    for (state, command, _), target in smtp_states.TRANSITIONS.items():
        assert command in smtp_states.COMMANDS + (smtp_states.ANY,)
        assert isinstance(target, State)


def test_the_textbook_session_walks_the_table():
    walk = [("connect", "2"), ("EHLO", "2"), ("AUTH", "2"), ("MAIL FROM", "2"), ("RCPT TO", "2"),
            ("RCPT TO", "2"), ("DATA", "3"), ("message", "none"), (".", "2"), ("QUIT", "closed")]
    state, seen = State.CLOSED, []
    for command, result in walk:
        state = smtp_states.next_state(state, command, result)
        seen.append(state)
    assert seen == [State.GREETED, State.READY, State.READY, State.MAIL, State.RCPT, State.RCPT, State.DATA,
                    State.MESSAGE, State.READY, State.CLOSED]
    assert smtp_states.next_state(State.READY, "RCPT TO", "5") == State.READY
    assert smtp_states.next_state(State.MESSAGE, ".", "4") == State.READY  # 451: the transaction is over
    assert smtp_states.outcome(421) == "closed" and smtp_states.outcome(None) == "none"


# -- the composer ----------------------------------------------------------------------------


def test_composer_bcc_recipient_receives_it_and_no_copy_shows_bcc(lab):
    composer = Composer(lab)
    composer.fill(to="jane@somewhereelse.com", bcc="bob@somewhereelse.com", subject="Surprise party",
                  body="Saturday, 8 pm. Don't tell jane... oh.\n")
    composer.buttons["preview"].click()
    assert "RCPT TO:<bob@somewhereelse.com>" in text(composer.preview_left)
    assert "Bcc:" not in text(composer.preview_right).replace("no Bcc:", "")
    mark = lab.trace.mark()
    composer.buttons["send"].click()

    copies = {c.recipient: c for c in composer.copies}
    assert set(copies) == {"jane@somewhereelse.com", "bob@somewhereelse.com"}
    assert copies["bob@somewhereelse.com"].via == "Bcc"
    for copy in copies.values():
        assert copy.delivered and not copy.has_bcc_header
        assert copy.headers == {"From": "joe@someplace.org", "To": "jane@somewhereelse.com",
                                "Subject": "Surprise party"}
    # The mailboxes themselves, read directly on the server.
    for user in ("jane", "bob"):
        [msg] = lab.server("somewhereelse.com").mailbox(user)
        assert msg["Subject"] == "Surprise party" and "Bcc" not in msg
    # No Bcc: ever crossed the wire; bob is in the envelope of both sessions.
    for conn in lab.trace.sessions(since=mark):
        said = [line for d, line in lab.trace.lines(conn) if d == "c2s"]
        assert not any(line.lower().startswith("bcc:") for line in said)
        assert "RCPT TO:<bob@somewhereelse.com>" in said
    assert "No delivered copy has a Bcc header." in composer.result_view.value


def test_composer_preview_puts_envelope_beside_headers(lab):
    composer = Composer(lab)
    composer.fill(to="jane@somewhereelse.com", cc="joe@someplace.org", bcc="bob@somewhereelse.com",
                  subject="Minutes")
    assert composer.envelope() == ("joe@someplace.org",
                                   ["jane@somewhereelse.com", "joe@someplace.org", "bob@somewhereelse.com"])
    assert composer.headers() == [("From", "joe@someplace.org"), ("To", "jane@somewhereelse.com"),
                                  ("Cc", "joe@someplace.org"), ("Subject", "Minutes")]
    text = composer.preview()
    envelope, headers = text.split("\n\n")
    assert "RCPT TO:<bob@somewhereelse.com>" in envelope
    assert "bob" not in headers
    assert composer.fields["from"].disabled


def test_composer_reports_refused_and_bounced_recipients(lab):
    composer = Composer(lab)
    composer.fill(to="jane@somewhereelse.com, nobody@someplace.org", cc="ghost@somewhereelse.com")
    copies = {c.recipient: c for c in composer.send()}
    assert copies["jane@somewhereelse.com"].delivered
    assert "refused at submission: 550" in copies["nobody@someplace.org"].note
    assert "bounce" in copies["ghost@somewhereelse.com"].note
    assert "nothing delivered" in composer.result_view.value
    bounces = [m for m in lab.server("someplace.org").mailbox("joe") if "ghost@somewhereelse.com" in m.as_string()]
    assert bounces


def test_composer_static_lists_each_copy_and_draws_the_hops(lab):
    composer = Composer(lab)
    assert "(not sent yet)" in str(composer.static())
    composer.fill(bcc="bob@somewhereelse.com")
    composer.send()
    view = composer.static()
    assert "bob@somewhereelse.com (Bcc) received:" in view.text
    assert "Date:" not in view.text.replace("(Date:", "") and "Message-ID" not in view.text.replace(
        "Message-ID: are added", "")
    [figure] = view.figures
    assert figure.kind == "topology" and len(figure.hops) == 2


def test_composer_without_recipients_says_so(lab):
    composer = Composer(lab)
    composer.fill(to="")
    composer.buttons["send"].click()
    assert "at least one recipient" in composer.result_view.value
    assert lab.client("joe-laptop").outbox == []


# -- the pump and the live trace --------------------------------------------------------------


def test_pump_brings_items_from_other_threads_to_the_loop_thread_in_order():
    delivered: list[tuple[list[int], int]] = []
    pump: MainThreadPump[int] = MainThreadPump(lambda items: delivered.append((items, threading.get_ident())),
                                               interval=0.01)

    async def main() -> int:
        assert pump.start() and pump.start()  # a second start does nothing
        producers = [threading.Thread(target=lambda k=k: [pump.put(k * 100 + i) for i in range(50)],
                                      daemon=True) for k in range(4)]
        for t in producers:
            t.start()
        for t in producers:
            t.join(timeout=10)
            assert not t.is_alive(), "a producer thread is stuck in pump.put()"
        deadline = time.monotonic() + 10
        while (count := sum(len(items) for items, _ in delivered)) < 200:
            assert time.monotonic() < deadline, f"only {count} of the 200 items came through the pump in 10 s"
            await asyncio.sleep(0.01)
        pump.stop()
        await asyncio.sleep(0)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert not pump.running
    assert {thread for _, thread in delivered} == {loop_thread}
    received = [i for items, _ in delivered for i in items]
    for k in range(4):  # each producer's items arrive in the order it put them
        assert [i for i in received if i // 100 == k] == [k * 100 + i for i in range(50)]


def test_pump_outside_a_loop_waits_for_drain_and_survives_errors():
    calls: list[list[str]] = []

    def deliver(items: list[str]) -> None:
        calls.append(items)
        raise RuntimeError("boom")

    pump: MainThreadPump[str] = MainThreadPump(deliver)
    assert not pump.start()  # no running loop here
    pump.put("a")
    pump.put("b")
    assert pump.drain() == 2 and pump.drain() == 0
    assert calls == [["a", "b"]] and pump.errors == ["RuntimeError('boom')"]


def test_pump_stops_when_no_longer_alive():
    alive = [True]
    pump: MainThreadPump[int] = MainThreadPump(lambda items: None, interval=0.01, alive=lambda: alive[0])

    async def main() -> None:
        pump.start()
        await asyncio.sleep(0.03)
        alive[0] = False
        for _ in range(100):
            if not pump.running:
                return
            await asyncio.sleep(0.01)

    asyncio.run(main())
    assert not pump.running


def test_live_trace_never_redraws_from_the_lab_thread(lab):
    live = LiveTrace(lab)
    assert "(no traffic yet)" in live.transcript_view.value
    redrawn = live.updates
    joe = lab.client("joe-laptop")
    msg = joe.compose("jane@somewhereelse.com", "Watched", "Hello")
    joe.send_all()
    assert lab.wait_for_delivery()
    assert live.updates == redrawn  # the lab's thread only queued the events
    assert live.pump.drain() > 0  # what the kernel's loop does every 0.3 s
    assert live.updates == redrawn + 1
    assert "joe-laptop -> mail.someplace.org (SMTP submission)" in text(live.transcript_view)
    assert live.followed() == msg["Message-ID"]
    assert "Latest hop of" in text(live.status)
    assert "2. mail.someplace.org -> mail.somewhereelse.com" in text(live.status)
    assert live.topology_view.value.startswith('<img src="data:image/svg+xml;base64,')
    assert "2. mail.someplace.org -&gt; mail.somewhereelse.com" in live.topology_view.value  # its alt text
    live.close()
    joe.compose("jane@somewhereelse.com", "Unwatched", "Hello")
    joe.send_all()
    assert lab.wait_for_delivery()
    assert live.pump.drain() == 0  # unsubscribed


def test_live_trace_follows_a_retried_message_on_a_running_loop(lab):
    """The kernel's situation: cells are done, the loop idles, the queue retries in the background."""
    jane_server = lab.server("somewhereelse.com")
    jane_server.go_offline()
    joe = lab.client("joe-laptop")
    msg = joe.compose("jane@somewhereelse.com", "Are you there?", "Retry me")
    live = LiveTrace(lab, message_id=msg["Message-ID"], interval=0.05)
    joe.send_all()
    live.refresh()
    assert "Queue of mail.someplace.org" in live.status.value
    assert len(live.topology().hops) == 1

    async def kernel_idle() -> None:
        live._repr_mimebundle_()  # displaying the widget starts its pump on this loop
        assert live.pump.running
        jane_server.go_online()
        # No cell runs now: only the pump can bring the relay session to the view.
        while ("2. mail.someplace.org -> mail.somewhereelse.com" not in text(live.status)
               or text(live.transcript_view).count("S: 221 ") < 2):  # both sessions ended with QUIT
            await asyncio.sleep(0.05)
        live.close()

    asyncio.run(asyncio.wait_for(kernel_idle(), timeout=15))
    assert jane_server.mailbox("jane")[0]["Subject"] == "Are you there?"
    assert lab.wait_for_delivery()
    assert "mail.someplace.org -> mail.somewhereelse.com (SMTP mx)" in text(live.transcript_view)
    assert "2. mail.someplace.org -> mail.somewhereelse.com" in text(live.status)
    view = live.static()
    assert "2. mail.someplace.org -> mail.somewhereelse.com, SMTP (relay, MX)" in view.text
    assert "Queue of" not in view.text and view.figures[0].kind == "topology"
    # The message is named by its subject; its Message-ID is noise to a reader.
    assert 'Hops of "Are you there?":' in view.text and msg["Message-ID"].strip() not in view.text
    assert 'Latest hop of "Are you there?": 2.' in text(live.status)


def test_live_trace_static_folds_retries_that_failed_the_same_way(lab):
    """How many retries happen depends on timing; the static text must not."""
    live = LiveTrace(lab)
    lab.server("somewhereelse.com").faults.mailbox_full.add("jane")
    joe = lab.client("joe-laptop")
    joe.compose("jane@somewhereelse.com", "Room?", "Hello")
    joe.send_all()
    queue = lab.server("someplace.org").queue
    assert lab.wait_for(lambda: any(item.attempts >= 3 for item in queue.items.values()))
    lab.server("somewhereelse.com").faults.reset()
    assert lab.wait_for_delivery()
    text = live.static().text
    relays = live.sessions()[1:]
    assert len(relays) >= 4  # at least three refusals, then the delivery
    assert text.startswith(f"Live trace ({len(relays) + 1} sessions).")
    assert text.count("S: 452 4.2.2") == 1
    assert f"(... and the same session again ({len(relays) - 2} session" in text
    assert text.count("--- session ") == 3  # submission, one refusal, the delivery


# -- the quiz --------------------------------------------------------------------------------


@pytest.fixture
def quiz() -> Quiz:
    return Quiz([
        Question("Which reply asks for the message text?", choices=["250", "354", "221"], answer=1,
                 explain="354 means: start mail input."),
        Question("Which command names one recipient?", answer=["RCPT TO", "RCPT"],
                 explain="RCPT TO, once per recipient."),
    ], title="The SMTP transaction")


def test_quiz_gives_immediate_feedback(quiz):
    choice, fill_in = quiz.questions
    assert choice.input.value is None  # nothing chosen to begin with
    choice.check_button.click()
    assert "Choose an answer first" in choice.feedback.value
    assert choice.respond(0) == "Not quite. 354 means: start mail input."
    assert choice.respond("354").startswith("Right.")
    assert "Right." in choice.feedback.value
    assert fill_in.respond("  rcpt   to ").startswith("Right.")
    assert fill_in.respond("rcpt").startswith("Right.")
    assert fill_in.respond("MAIL FROM").startswith("Not quite.")
    assert fill_in.respond("") == "Type an answer first."


def test_quiz_static_folds_the_answers_in_details(quiz):
    view = quiz.static()
    assert view.markdown.startswith("<details>\n<summary>The SMTP transaction")
    assert view.markdown.rstrip().endswith("</details>")
    assert "**354**" in view.markdown and "Answer: **RCPT TO**" in view.markdown
    assert "1. Which reply asks for the message text?" in view.text and "Answer: 354." in view.text
    assert "2. Which command names one recipient?" in view.text


def test_question_rejects_an_answer_that_is_not_a_choice():
    with pytest.raises(ValueError):
        Question("?", choices=["a", "b"], answer=2)
    with pytest.raises(ValueError):
        Question("?", answer=[])


# -- staying light ------------------------------------------------------------------------------


def test_import_mailcourse_does_not_import_ipywidgets():
    code = "import sys, mailcourse, mailcourse.viz; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "False"


def test_composer_keeps_the_message_in_the_outbox_when_the_server_is_down(lab):
    composer = Composer(lab)
    lab.server("someplace.org").go_offline()
    composer.buttons["send"].click()
    assert "not sent" in composer.result_view.value and "refused" in composer.result_view.value
    assert [m["Subject"] for m in lab.client("joe-laptop").outbox] == ["Lunch tomorrow"]
    lab.server("someplace.org").go_online()
    composer.fill(subject="Second try")
    copies = composer.send()  # sends both: the outbox is sent as a whole
    assert copies[0].delivered and copies[0].headers["Subject"] == "Second try"
    assert [m["Subject"] for m in lab.server("somewhereelse.com").mailbox("jane")] == ["Lunch tomorrow", "Second try"]
