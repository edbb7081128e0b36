"""The checks of lesson 09 (Mail on today's Internet: TLS).

Two exercises are judged by what crossed the wire, read back through the
lab's own keys (`Lab.tls_view`): a submission protected by STARTTLS
(`submitted_over_tls`) and an IMAP session over implicit TLS that verified
the lab's certificate (`trusted_the_lab`). The third is the relay policy
that refuses to be talked out of TLS (`refused_downgrade`); the fourth
reads a capture file back, as Wireshark would (`server_name_packets`).
"""
from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..trace import C2S, S2C
from .common import _correct, _from_outside, _judge_packets, _wrong, reads_the_wire

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["submitted_over_tls", "trusted_the_lab", "refused_downgrade", "server_name_packets"]

SEALED = "Sealed"          # the subject of the exercise's message
_TAGGED_OK = re.compile(r"^\S+ OK\b", re.IGNORECASE)  # RFC 3501 section 7.1.1


def _verbs(lines: list[str]) -> list[str]:
    """The first word of each client line, in capitals: 'EHLO', 'STARTTLS', 'AUTH'..."""
    return [line.split()[0].upper() for line in lines if line.strip()]


@reads_the_wire
def submitted_over_tls(lab: Lab, since: int) -> None:
    """Exercise: submit "Sealed" to jane with STARTTLS, logging in only inside TLS (RFC 3207, RFC 8314 3.3)."""
    sessions = [c for c in lab.trace.sessions(service="submission", since=since) if _from_outside(c)]
    if not sessions:
        _wrong("No submission session of your own since the exercise's mark. Connect with smtplib.SMTP "
               "to joe's submission endpoint (host and port are in the cell).")
    problems = []
    for conn in sessions:
        view = lab.tls_view(conn)
        sent = view.by_direction()[C2S]
        verbs = _verbs(sent)
        if "STARTTLS" not in verbs:
            problems.append("Your session never said STARTTLS: everything, the message too, crossed in plain text.")
            continue
        at = verbs.index("STARTTLS")
        if "AUTH" in verbs[:at]:
            problems.append("Your session logged in before STARTTLS: the password crossed in plain text. "
                            "Log in after starttls() (and the second ehlo()).")
            continue
        if conn.tls is None:
            problems.append("Your session said STARTTLS but never finished the TLS handshake. "
                            "Did starttls() get the context that trusts the lab's CA?")
            continue
        if "AUTH" not in verbs:
            problems.append("Your session used TLS but never logged in; the submission server takes mail "
                            "only from its users.")
            continue
        heard = view.by_direction()[S2C]
        if f"Subject: {SEALED}" not in sent:
            problems.append(f"Your session sent no message with the subject {SEALED!r}.")
            continue
        if not any(line.startswith("250 2.0.0") for line in heard):
            problems.append("Your message was not accepted: no 250 after its final dot.")
            continue
        _correct("STARTTLS first, then the login and the message, all inside TLS: an eavesdropper "
                 "saw the greeting, EHLO and STARTTLS, and then only encrypted records.")
        return
    _wrong(problems[-1])


def _trusts_the_lab(lab: Lab, context: Any) -> None:
    if not isinstance(context, ssl.SSLContext):
        _wrong("`context` should be an ssl.SSLContext, such as ssl.create_default_context(...) makes.")
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        _wrong("Your context does not check certificates (or host names): it would talk to anyone who "
               "answers, a man in the middle too. Keep the checks on; give it the lab's CA instead.")
    lab_ca = ssl.PEM_cert_to_DER_cert(lab.tls.ca_pem.decode("ascii"))
    if lab_ca not in context.get_ca_certs(binary_form=True):
        _wrong("Your context does not trust the lab's CA, so it cannot check the lab's certificates. "
               "The CA's file is lab.ca_file.")


@reads_the_wire
def trusted_the_lab(lab: Lab, since: int, context: Any) -> None:
    """Exercise: a context that verifies the lab's certificates, then jane's INBOX over imaps (RFC 8314)."""
    _trusts_the_lab(lab, context)
    sessions = [c for c in lab.trace.sessions(service="imaps", since=since) if _from_outside(c)]
    if not sessions:
        _wrong("No imaps session of your own since the exercise's mark: connect with imaplib.IMAP4_SSL to "
               "the imaps endpoint of jane's provider, with ssl_context=context.")
    for conn in sessions:
        lines = lab.tls_view(conn).lines
        sent = [(i, line) for i, (d, line) in enumerate(lines) if d == C2S]
        replies = [(i, line) for i, (d, line) in enumerate(lines) if d == S2C]

        def answered(command: str) -> bool:
            for i, line in sent:
                words = line.split()
                if len(words) > 1 and words[1].upper() == command:
                    tag = words[0]
                    return any(j > i and reply.startswith(f"{tag} ") and _TAGGED_OK.match(reply)
                               for j, reply in replies)
            return False

        if answered("LOGIN") and answered("SELECT"):
            _correct("your context checked the certificate of mail.somewhereelse.com against the lab's CA, "
                     "and jane's login and INBOX crossed inside TLS from the first byte.")
            return
    _wrong("Your imaps session did not log in as jane and then SELECT INBOX with an OK for each.")


def refused_downgrade(lab: Lab) -> None:
    """Exercise: the relay policy that sends to nobody without TLS, with STARTTLS stripped (RFC 3207 section 6)."""
    policy = lab.server("someplace.org").relay_tls
    if policy == "none":
        _wrong("With 'none' joe's server never even tries STARTTLS: everything crosses in plain text.")
    if policy != "required":
        _wrong(f"Joe's server relays with the policy {policy!r}: with STARTTLS hidden from EHLO, that policy "
               "sends in plain text. Which policy says 'TLS or nothing'?")
    _correct("with 'required', joe's server says QUIT instead of MAIL FROM when EHLO offers no STARTTLS, "
             "and keeps the message in its queue. The next cell sends one.")


def server_name_packets(path: str | Path, name: str, answer: Any) -> None:
    """Exercise: the packets of a capture (numbered from 1, as Wireshark does) that carry ``name`` in clear."""
    count = _judge_packets(path, name.encode(), answer, "packets", name)
    _correct(f"{count} packets name {name} in clear: the greeting and the EHLO reply before "
             "STARTTLS, and the ClientHello, which asks for the server by name (Server Name Indication) "
             "before any key exists. TLS hides what is said, not to whom.")
