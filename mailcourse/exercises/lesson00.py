"""The checks of lesson 00 (Start here)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .common import _correct, _find, _where_is, _wrong

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["hello_jane", "who_received"]


HELLO_SUBJECT = "Hello, Jane"


def hello_jane(lab: Lab) -> None:
    """Exercise: joe sends jane a message with the subject "Hello, Jane"."""
    lab.wait_for_delivery(timeout=5)  # give mail in flight a moment to arrive
    found = [(who, msg) for who, _, msg in _find(lab, HELLO_SUBJECT)]
    for who, msg in found:
        if who == "jane@somewhereelse.com":
            if "joe@someplace.org" not in str(msg.get("From", "")):
                _wrong(f"jane has a message called {HELLO_SUBJECT!r}, but it comes from "
                       f"{msg.get('From')}. The exercise asks joe to send it, from joe-laptop.")
            _correct("jane's inbox holds your message.")
            return
    if found:
        _wrong(f"A message called {HELLO_SUBJECT!r} arrived, but in the inbox of {found[0][0]}, "
               "not jane's. Look at the address you wrote it to.")
    stuck = _where_is(lab, HELLO_SUBJECT)
    if stuck:
        _wrong(f"jane's inbox holds no message called {HELLO_SUBJECT!r} yet. {stuck}")
    subjects = [str(m["Subject"]) for m in lab.server("somewhereelse.com").mailbox("jane")]
    _wrong(f"No message called {HELLO_SUBJECT!r} exists anywhere in the lab. jane's inbox holds "
           f"{subjects or 'nothing'}. Check the spelling of the subject, and that joe composed it.")


REPLY_SUBJECT = "Re: Hello from the lab"


def who_received(lab: Lab, receiver: Any, server_name: Any) -> None:
    """Exercise: the address whose inbox holds jane's reply, and the server that keeps it."""
    if receiver is ... or server_name is ...:
        _wrong("You have not answered yet: replace each ... with your answer, as a string in quotes.")
    if not isinstance(receiver, str) or not isinstance(server_name, str):
        _wrong("Both answers are text: put them in quotes, like \"someone@example.org\".")
    lab.wait_for_delivery(timeout=5)
    found = _find(lab, REPLY_SUBJECT)
    if not found:
        _wrong(f"No inbox holds a message called {REPLY_SUBJECT!r}. Run the cell that makes jane "
               "reply, then try again.")
    where = {(who, host) for who, host, _ in found}
    answer = receiver.strip().lower()
    if "@" not in answer:
        _wrong(f"{receiver!r} is not a mail address. An address names a user *and* a domain, "
               "joined by @: mail goes to users, not to machines.")
    if answer not in {who for who, _ in where}:
        if answer == "jane@somewhereelse.com":
            _wrong("jane wrote the reply, so it left her laptop; it did not land in her own inbox. "
                   "Look in the other mailboxes.")
        _wrong(f"The inbox of {receiver!r} does not hold the reply. Read the mailboxes with "
               "lab.server(<domain>).mailbox(<user>) and look for its subject.")
    host = server_name.strip().lower().rstrip(".")
    if (answer, host) not in where:
        if host in lab.directory.domains:
            _wrong(f"{server_name!r} is a domain, not a server's host name. Which machine accepts "
                   "mail for that domain? The directory knows.")
        _wrong(f"The inbox of {receiver} does not live on {server_name!r}. An inbox lives on the "
               "mail server of its own domain.")
    _correct("that is the account and the server that hold jane's reply.")
