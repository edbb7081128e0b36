"""The checks of lesson 01 (The e-mail model)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .common import _correct, _transactions, _wrong

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["waiting_for_joe", "several_in_one_session"]


def waiting_for_joe(lab: Lab) -> None:
    """Exercise: jane writes to joe while joe's server is off; the message waits in her server's queue."""
    joes_server = lab.server("someplace.org")
    janes_server = lab.server("somewhereelse.com")
    waiting = [item for item in list(janes_server.queue.items.values())
               if any(r.lower().endswith("@someplace.org") for r in item.pending)]
    if waiting and not joes_server.is_online:
        _correct("jane's message waits in somewhereelse.com's queue for joe's server to come back.")
        return
    if joes_server.is_online:
        _wrong("joe's server, mail.someplace.org, is online, so jane's server can hand the "
               "message on at once and nothing needs to wait. Switch joe's server off the "
               "network first, then send.")
    outboxes = [name for name, c in lab.clients.items() if c.outbox]
    if outboxes:
        _wrong(f"Nothing waits for joe in somewhereelse.com's queue, but the outbox of "
               f"{', '.join(outboxes)} holds mail that was never sent.")
    _wrong("somewhereelse.com's queue holds nothing for joe. The message must be sent from "
           "jane's laptop to jane's own server, addressed to joe.")


def several_in_one_session(lab: Lab) -> None:
    """Exercise: jane-laptop spools two or more messages and sends them in one SMTP session."""
    per_session: dict[int, int] = {}
    for t in _transactions(lab):
        if t.session.client == "jane-laptop" and t.accepted:
            per_session[t.session.id] = per_session.get(t.session.id, 0) + 1
    if any(n >= 2 for n in per_session.values()):
        _correct("jane-laptop sent several messages in one SMTP session.")
        return
    waiting = lab.client("jane-laptop").outbox
    if not per_session and waiting:
        _wrong(f"jane-laptop's outbox holds {len(waiting)} message(s), but none has been sent yet.")
    if per_session:
        _wrong(f"jane-laptop opened {len(per_session)} session(s) and each carried one message. "
               "Let the messages pile up in the outbox first, and send them all together.")
    _wrong("The trace shows no message sent from jane-laptop. Use jane's device, not joe's.")
