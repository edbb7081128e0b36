"""The checks of lesson 04 (When things go wrong)."""
from __future__ import annotations

import re
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from ..message import parse

from .common import JANE, _address, _correct, _find, _same_subject, _where_is, _wrong

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["bounce_status", "arrived_after_retry"]


WRONG_DOOR = "Wrong door"


def _bounces_for(lab: Lab, subject: str) -> list[EmailMessage]:
    """Bounces in any mailbox whose copy of the original header has this subject."""
    found = []
    for server in lab.servers.values():
        for user in sorted(server.users):
            for msg in server.mailbox(user):
                if not str(msg.get("Subject", "")).startswith("Undelivered"):
                    continue
                for part in msg.walk():
                    if part.get_content_type() == "text/rfc822-headers":
                        header = parse(part.get_payload(decode=True) or b"")
                        if _same_subject(header, subject):
                            found.append(msg)
    return found


def _statuses(bounce: EmailMessage) -> list[str]:
    """The Status: field of each failed recipient of a bounce (RFC 3464 section 2.3.4)."""
    found = []
    for part in bounce.walk():
        if part.get_content_type() == "message/delivery-status":
            found += [" ".join(str(block["Status"]).split()) for block in part.get_payload()
                      if block.get("Status") is not None]
    return found


def bounce_status(lab: Lab, status: Any) -> None:
    """Exercise: a message to an unknown user bounces with 550; the answer is the bounce's Status field."""
    if status is ...:
        _wrong("You have not answered yet: replace the ... with the Status field of the bounce, as text.")
    lab.wait_for_delivery(timeout=5)
    bounces = _bounces_for(lab, WRONG_DOOR)
    if not bounces:
        delivered = [who for who, _, _ in _find(lab, WRONG_DOOR)]
        if delivered:
            _wrong(f"The message reached {', '.join(delivered)}: that user exists, so nothing bounced. "
                   "Write to a name nobody has at somewhereelse.com.")
        stuck = _where_is(lab, WRONG_DOOR)
        _wrong(f"No bounce for a message called {WRONG_DOOR!r} has arrived. "
               + (stuck or "Check the subject, and that joe sent it."))
    statuses = _statuses(bounces[-1])
    if not statuses or not statuses[0].startswith("5."):
        _wrong(f"The bounce says Status: {statuses[0] if statuses else 'nothing'}, a temporary failure "
               "that lasted too long. A user nobody has gets a permanent one: was jane's server online?")
    answer = str(status).strip()
    if answer.lower().startswith("status:"):
        answer = answer[len("status:"):].strip()
    if answer == statuses[0]:
        _correct(f"Status {answer}: permanent failure (5), addressing (1), bad mailbox (1).")
        return
    if answer[:3].isdigit() and "." not in answer:
        _wrong(f"{answer} is an SMTP reply code. The Status field holds the enhanced code: three "
               "numbers joined by dots.")
    _wrong(f"The bounce's Status field does not say {answer!r}. Print the message/delivery-status "
           "part of the bounce and read it again.")


PATIENCE = "Patience"


def arrived_after_retry(lab: Lab) -> None:
    """Exercise: jane's mailbox full (452), the message retried, delivered once the fault is cleared."""
    jane_server = lab.server("somewhereelse.com")
    ours = lab.server("someplace.org")
    if jane_server.faults.active:
        _wrong(f"jane's server still has a fault switched on ({jane_server.faults}). Clear it, and "
               "give joe's provider a moment for its next attempt.")
    lab.wait_for_delivery(timeout=5)
    copies = [msg for who, _, msg in _find(lab, PATIENCE) if who == JANE]
    if not copies:
        stuck = _where_is(lab, PATIENCE)
        _wrong(f"jane's inbox holds no message called {PATIENCE!r}. "
               + (stuck or "Check the subject, and that joe sent it to jane."))
    queue_ids = []
    for value in copies[-1].get_all("Received", []):
        found = re.search(rf"by {re.escape(ours.hostname)} \(mailcourse\) with \S+ id (\w+)", str(value))
        if found:
            queue_ids.append(found.group(1))
    deferred = any(line.startswith(f"{qid}: deferred") for qid in queue_ids for line in ours.queue.log)
    if not deferred:
        _wrong("jane has the message, but joe's provider delivered it at the first attempt: her mailbox "
               "was not full when it tried. Switch it to full before joe sends.")
    full = any(exchange.verb == "RCPT" and _address(exchange.argument).lower() == JANE
               and exchange.final.startswith("452")
               for conn in lab.trace.sessions(protocol="SMTP", service="mx")
               if conn.server == jane_server.hostname for exchange in lab.trace.exchanges(conn))
    if not full:
        _wrong("The message was retried, but jane's server never answered 452 to it: something else "
               "delayed it (was a server offline?). Switch jane's mailbox to full.")
    _correct("the queue kept the message through the 452s and delivered it once there was room.")
