"""What every lesson's checks share: the error a wrong answer raises, and readers of the lab.

A check prints one fixed line, ``✔ Correct: ...`` (`_correct`), or raises
`ExerciseError` with what is wrong in plain words (`_wrong`). The readers find
messages where they are (mailboxes, outboxes, queues) and read SMTP sessions
back from the trace.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Callable, NoReturn, TypeVar

from ..message import parse

if TYPE_CHECKING:
    from ..lab import Lab
    from ..protocols.exchanges import Exchange
    from ..trace import Connection


__all__ = ["ExerciseError"]

_Check = TypeVar("_Check", bound=Callable[..., object])


# The classic lab's users (Lab.classic), and a third address at a domain the lab does not have.
JOE, JANE, ANN = "joe@someplace.org", "jane@somewhereelse.com", "ann@elsewhere.net"
JANE_ACCOUNT = "jane"  # her account (and mailbox) on mail.somewhereelse.com
OUTSIDE = "client"  # the trace's name for a client end no lab device owns (`trace.Connection.client`)


class ExerciseError(AssertionError):
    """What is wrong with an answer, in plain words.

    An AssertionError, so that a grader (or pytest) counts it as a failed check.
    """

    def _render_traceback_(self) -> list[str]:
        """What IPython shows instead of a traceback: just the explanation.

        A traceback through this module would bury the one sentence that
        matters. The cell still ends in an error named ExerciseError, so
        "Run all" stops there and a grader sees the failure.
        """
        return [f"\x1b[1;31m✘ Not yet:\x1b[0m {self}"]


def reads_the_wire(check: _Check) -> _Check:
    """Mark a check that judges protocol work by what crossed the wire (the lab's tap).

    Such a check reads the student's own session back from the trace (the
    commands sent, the replies read, the order) rather than trusting a
    return value; a test counts them, so that every lesson has at least two
    exercises in which the student speaks a protocol.
    """
    check.reads_the_wire = True  # type: ignore[attr-defined]
    return check


def _correct(what: str) -> None:
    print(f"✔ Correct: {what}")


def _wrong(why: str) -> NoReturn:
    raise ExerciseError(why)


# -- reading the lab -------------------------------------------------------------


def _same_subject(msg: EmailMessage, subject: str) -> bool:
    return str(msg.get("Subject", "")).strip().casefold() == subject.strip().casefold()


def _find(lab: Lab, subject: str) -> list[tuple[str, str, EmailMessage]]:
    """Every mailbox copy of a message with this subject: (address, server host name, message)."""
    found = []
    for server in lab.servers.values():
        for user in sorted(server.users):
            for msg in server.mailbox(user):
                if _same_subject(msg, subject):
                    found.append((f"{user}@{server.domain}", server.hostname, msg))
    return found


def _in_outboxes(lab: Lab, subject: str) -> list[str]:
    """The names of the devices whose outbox still holds a message with this subject."""
    return [name for name, client in lab.clients.items()
            if any(_same_subject(m, subject) for m in client.outbox)]


def _queued(lab: Lab, subject: str) -> list[tuple[str, list[str]]]:
    """Queued copies of a message with this subject: (server host name, pending recipients)."""
    found = []
    for server in lab.servers.values():
        for item in list(server.queue.items.values()):
            try:
                msg = parse(server.queue.raw(item))
            except FileNotFoundError:  # relayed while we looked
                continue
            if _same_subject(msg, subject):
                found.append((server.hostname, list(item.pending)))
    return found


def _bounced(lab: Lab, subject: str) -> bool:
    """Did a bounce that mentions this subject reach any mailbox?"""
    for server in lab.servers.values():
        for user in server.users:
            for msg in server.mailbox(user):
                if "Undelivered" in str(msg.get("Subject", "")) and subject.casefold() in str(msg).casefold():
                    return True
    return False


def _where_is(lab: Lab, subject: str) -> str:
    """A sentence on where a missing message got stuck, or "" if it is nowhere."""
    devices = _in_outboxes(lab, subject)
    if devices:
        return f"It is still in the outbox of {', '.join(devices)}: it was composed but never sent."
    queued = _queued(lab, subject)
    if queued:
        host, pending = queued[0]
        return (f"It waits in the queue of {host} for {', '.join(pending)}: "
                "that server cannot hand it on yet.")
    if _bounced(lab, subject):
        return "A bounce for it came back to the sender: look at the recipient's address for a typo."
    return ""


@dataclass
class _Transaction:
    """One mail transaction as the trace shows it (RFC 5321 section 3.3)."""

    session: Connection
    mail_from: str
    rcpts: list[str] = field(default_factory=list)  # accepted by the server (2yz)
    refused: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)  # lines as they crossed the wire
    accepted: bool = False  # the server answered 250 to the final "."


def _address(argument: str) -> str:
    start, end = argument.find("<"), argument.find(">")
    return argument[start + 1:end].strip() if 0 <= start < end else argument.split(":", 1)[-1].strip()


def _transactions(lab: Lab) -> list[_Transaction]:
    """Every mail transaction that reached its final ".", accepted or not, in order."""
    found: list[_Transaction] = []
    for conn in lab.trace.sessions(protocol="SMTP"):
        current: _Transaction | None = None
        for exchange in lab.trace.exchanges(conn):
            verb, replies = exchange.verb, exchange.replies
            if not replies:
                continue  # still waiting for its reply (or the greeting, which has no verb)
            positive = replies[0][-1][:1] == "2"  # DATA's first reply is 354: the message comes next
            if verb == "MAIL":
                current = _Transaction(conn, _address(exchange.argument)) if positive else None
            elif verb == "RCPT" and current is not None:
                (current.rcpts if positive else current.refused).append(_address(exchange.argument))
            elif verb == "DATA" and current is not None and exchange.data is not None and len(replies) > 1:
                # The reply after the message's "." says whether the message was accepted.
                current.body = exchange.data
                current.accepted = exchange.final.startswith("250")
                found.append(current)
                current = None
            elif verb in ("RSET", "EHLO", "HELO"):
                current = None
    return found


def _body_lines(msg: EmailMessage) -> list[str]:
    part = msg.get_body(preferencelist=("plain",)) or msg
    return str(part.get_content()).splitlines()


# -- reading one SMTP session (lessons 00 and 01) -----------------------------------------------------------------


def _from_outside(conn: Connection) -> bool:
    """Was this connection opened by code that is no device of the lab (the notebook's own socket)?

    The tap names the client end of a connection after the device whose
    socket it is; the student's own ``socket.create_connection`` or
    ``http.client`` belongs to no device, and the trace calls it `OUTSIDE`.
    """
    return conn.client == OUTSIDE


def _said(exchanges: list[Exchange]) -> str:
    """What the client sent in a session, for a sentence: 'EHLO x', then 'QUIT'."""
    return ", then ".join(repr(e.command) for e in exchanges if e.command) or "nothing"


def _session_trouble(lab: Lab, conn: Connection) -> str:
    """In plain words, why a submission session carried no message; "" if nothing went wrong.

    Read from the session's exchanges: the first command the server refused
    (a 4yz or 5yz reply, RFC 5321 section 4.2.1), or the step that is missing.
    """
    exchanges = lab.trace.exchanges(conn)
    for exchange in exchanges:
        if not exchange.command or not exchange.complete or exchange.ok:
            continue
        reply = exchange.final
        if exchange.verb == "AUTH":
            return (f"The server refused the login with {reply!r}. The login is the user's "
                    "address, and the password the one lab.users lists for it.")
        if exchange.verb == "MAIL" and reply.startswith("530"):
            return (f"The server answered MAIL FROM with {reply!r}: the submission endpoint takes mail "
                    "only from users who have logged in, and this session had not.")
        return f"The server answered {exchange.command!r} with {reply!r}."
    verbs = [e.verb for e in exchanges if e.command]
    if "MAIL" not in verbs:
        if any(e.verb == "AUTH" and e.ok for e in exchanges):
            return "The session logged in, but no message followed: the trace shows no MAIL FROM."
        return (f"The session opened and closed without sending a message: the client sent "
                f"{_said(exchanges)}.")
    if "DATA" not in verbs:
        return "The session named a sender and recipients, but never sent the message itself (no DATA)."
    return ""


def _subject(lines: list[str]) -> str:
    """The Subject of a message as it crossed the wire (its DATA lines)."""
    return str(parse("\r\n".join(lines).encode()).get("Subject", "")).strip()


def _numbers(answer: Any) -> set[int] | None:
    """Whole numbers from a list the student made: [3, 1], ("1", "3"), b"1 3"...; None if it is not one."""
    items = answer if isinstance(answer, (list, tuple, set, frozenset)) else [answer]
    found: set[int] = set()
    for item in items:
        if isinstance(item, bool):
            return None
        if isinstance(item, bytes):
            item = item.decode("ascii", "replace")
        if isinstance(item, int):
            found.add(item)
        elif isinstance(item, str) and all(word.isdigit() for word in item.replace(",", " ").split()):
            found |= {int(word) for word in item.replace(",", " ").split()}
        else:
            return None
    return found


def _judge_packets(path: Any, needle: bytes, answer: Any, variable: str, what: str) -> int:
    """Compare the packet numbers a student found in a capture with those that carry ``needle``.

    Raises `ExerciseError` with what is wrong; returns how many there are
    when the answer is right, for the check's own sentence.
    """
    found = _numbers(answer)
    if found is None or answer is ...:
        _wrong(f"`{variable}` should be a list of packet numbers, such as [1, 5].")
    truth = _packets_carrying(path, needle)
    if found == truth:
        return len(truth)
    if 0 in found:
        _wrong("Wireshark numbers packets from 1: the first packet of the file is number 1.")
    if found - truth:
        _wrong(f"Packet(s) {sorted(found - truth)} do not carry {what} in their TCP payload.")
    _wrong(f"You found {len(found & truth)} of the {len(truth)} packets that carry {what}: "
           "look at every packet's payload.")


def _packets_carrying(path: Any, needle: bytes) -> set[int]:
    """The numbers (from 1, as Wireshark counts) of a capture's packets whose TCP payload holds ``needle``."""
    from pathlib import Path

    from .. import capture, pcapng

    packets = pcapng.read(Path(path).read_bytes()).packets
    return {n for n, packet in enumerate(packets, start=1) if needle in capture.parse_frame(packet.data).payload}
