"""The checks of lesson 01 (The e-mail model).

Both exercises send from jane's laptop with smtplib, and both checks read
the student's SMTP sessions back from the wire (the lab's tap):

* `waiting_for_joe`: jane's provider answers 250 although joe's server is
  off; the message then waits in its queue (RFC 5321 section 4.5.4.1);
* `several_in_one_session`: two mail transactions in one session, as a mail
  program empties its outbox (RFC 5321 section 3.3).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .common import JOE, _correct, _find, _queued, _session_trouble, _subject, _transactions, _wrong, reads_the_wire

if TYPE_CHECKING:
    from ..lab import Lab
    from ..trace import Connection

__all__ = ["waiting_for_joe", "several_in_one_session"]

DEVICE = "jane-laptop"


def _sessions_of_jane_laptop(lab: Lab) -> list[Connection]:
    """jane's laptop's sessions with her provider's submission endpoint, oldest first."""
    return [c for c in lab.trace.sessions(protocol="SMTP", service="submission", device=DEVICE)
            if c.client == DEVICE]


def _why_nothing_was_sent(lab: Lab) -> str:
    """What the latest session of jane's laptop shows, for a check that found no message in it."""
    sessions = _sessions_of_jane_laptop(lab)
    if not sessions:
        return ("The trace shows no SMTP session from jane's laptop yet. Open one with lab.smtp, "
                "naming her device and her provider's submission endpoint.")
    trouble = _session_trouble(lab, sessions[-1])
    return f"In the latest session from jane's laptop: {trouble}" if trouble else ""


@reads_the_wire
def waiting_for_joe(lab: Lab) -> None:
    """Exercise: joe's server is off; jane's laptop sends joe a message by SMTP, and it waits.

    Hop 1 (jane-laptop to mail.somewhereelse.com, submission) must end in
    250 on the wire, although hop 2 cannot happen yet: the message then
    waits in the queue of jane's provider (RFC 5321 section 4.5.4.1).
    """
    joes_server = lab.server("someplace.org")
    janes_server = lab.server("somewhereelse.com")
    to_joe = [t for t in _transactions(lab) if t.session.client == DEVICE and t.accepted
              and t.session.service == "submission" and JOE in t.rcpts]
    if not to_joe:
        _wrong(_why_nothing_was_sent(lab) or "The trace shows sessions from jane's laptop, but none "
               "carried a message to joe (RCPT TO:<joe@someplace.org>) that the server took with 250.")
    subject = _subject(to_joe[-1].body)
    waiting = [host for host, pending in _queued(lab, subject) if JOE in pending]
    if waiting and not joes_server.is_online:
        _correct(f"{janes_server.hostname} answered 250 on the wire although joe's server is off; "
                 "your message waits in its queue.")
        return
    if joes_server.is_online:
        _wrong("joe's server, mail.someplace.org, is online, so jane's provider could hand the message "
               "on at once and nothing had to wait. Switch joe's server off the network first, then send.")
    if any(who == JOE for who, _, _ in _find(lab, subject)):
        _wrong(f"{subject!r} is in joe's inbox already: it was sent while joe's server was still on. "
               "Switch joe's server off first, then send again.")
    _wrong(f"The trace shows {subject!r} accepted from jane's laptop, but the queue of "
           f"{janes_server.hostname} holds nothing for joe.")


@reads_the_wire
def several_in_one_session(lab: Lab) -> None:
    """Exercise: jane's laptop sends two or more messages in one SMTP session, one transaction each.

    A session (RFC 5321 section 3.1) may carry many mail transactions
    (section 3.3): MAIL, RCPT, DATA, then MAIL again. The check counts the
    accepted transactions of each session of jane's laptop on the wire.
    """
    per_session: dict[int, int] = {}
    for t in _transactions(lab):
        if t.session.client == DEVICE and t.accepted:
            per_session[t.session.id] = per_session.get(t.session.id, 0) + 1
    if any(n >= 2 for n in per_session.values()):
        _correct("the trace shows one session from jane's laptop that carried several messages, "
                 "one MAIL, RCPT, DATA transaction each.")
        return
    sessions = _sessions_of_jane_laptop(lab)
    latest = sessions[-1] if sessions else None
    if latest is not None and per_session.get(latest.id) == 1:
        _wrong("Your latest session from jane's laptop carried one message. Send both messages in the "
               "same session: log in once, then one transaction after the other, before the session ends.")
    why = _why_nothing_was_sent(lab)
    if why:
        _wrong(why)
    _wrong("No session from jane's laptop carried more than one message.")

