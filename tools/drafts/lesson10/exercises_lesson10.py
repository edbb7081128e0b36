"""The checks of lesson 10 (Who really sent this: DNS, SPF, DKIM and DMARC).

Two exercises are judged by what crossed the wire: the student's own DNS
questions for joe's mail server (`found_mail_server`, RFC 5321 section 5.1:
MX, then A) and the student's forgery, an SMTP transaction straight to jane's
MX with joe's address in the envelope (`forged_joe`). The other two judge by
what jane's server then writes in ``Authentication-Results`` (RFC 8601): an
SPF record that lets a mailing service send for someplace.org and nobody
else (`spf_allows_the_service`, RFC 7208), and predictions of the SPF, DKIM
and DMARC results of three messages, which the check sends
(`predicted_verdicts`).
"""
from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from .common import JANE, JANE_ACCOUNT, JOE, _correct, _from_outside, _wrong, reads_the_wire

if TYPE_CHECKING:
    from ..lab import Lab

__all__ = ["found_mail_server", "forged_joe", "spf_allows_the_service", "predicted_verdicts"]

JOE_DOMAIN, JANE_DOMAIN = "someplace.org", "somewhereelse.com"
FORGER_DOMAIN = "forger.example"
SERVICE_ADDRESS = "127.0.0.1"  # the mailing service of the SPF exercise: the notebook's own address
OUTSIDER = "127.0.0.99"        # an address nobody allowed
METHODS = ("spf", "dkim", "dmarc")
WORDS = ("pass", "fail", "none")
_RESULT = re.compile(r"\b(spf|dkim|dmarc)=([a-z]+)", re.IGNORECASE)  # RFC 8601 section 2.2: method=result


def verdicts_of(message: EmailMessage) -> dict[str, str]:
    """``{"spf": "pass", ...}`` from the Authentication-Results a lab MX wrote (RFC 8601 section 2.2)."""
    header = message.get("Authentication-Results")
    return {} if header is None else {m.lower(): r.lower() for m, r in _RESULT.findall(str(header))}


def _janes(lab: Lab, subject: str) -> EmailMessage | None:
    server = lab.server(JANE_DOMAIN)
    for folder in ("INBOX", "Junk"):
        found = [m for m in server.mailbox(JANE_ACCOUNT, folder=folder) if m["Subject"] == subject]
        if found:
            return found[-1]
    return None


def _send_to_janes_mx(lab: Lab, mail_from: str, from_header: str, subject: str) -> None:
    """What a forger's script does: one transaction straight to jane's MX, from the notebook."""
    text = f"From: {from_header}\r\nTo: {JANE}\r\nSubject: {subject}\r\n\r\nPlease read this.\r\n"
    with smtplib.SMTP(*lab.endpoint_address(lab.server(JANE_DOMAIN).mx), timeout=10) as smtp:
        smtp.sendmail(mail_from, [JANE], text)


def _dns_questions(lab: Lab, since: int) -> list[str]:
    """The questions (``"MX someplace.org"``) the notebook's own code asked the lab's DNS since ``since``."""
    asked = []
    for conn in lab.trace.sessions(protocol="dns", since=since):
        if _from_outside(conn):
            asked += [e.command.removeprefix("query ") for e in lab.trace.exchanges(conn) if e.command]
    return [" ".join(q.split()).rstrip(".").lower() for q in asked]


@reads_the_wire
def found_mail_server(lab: Lab, address: Any, since: int = 0) -> None:
    """Exercise: the address of someplace.org's mail server, by an MX then an A query (RFC 5321 5.1)."""
    if address is Ellipsis or address is None:
        _wrong("`address` is still empty. Ask resolver.resolve(\"someplace.org\", \"MX\") first.")
    ours, theirs = lab.server(JOE_DOMAIN), lab.server(JANE_DOMAIN)
    answer = str(address).strip()
    questions = _dns_questions(lab, since)
    if not any(q.startswith("mx someplace.org") for q in questions):
        _wrong("The lab's DNS server heard no MX question for someplace.org from your notebook. Use "
               "`resolver`, which asks the lab's server (not this machine's DNS).")
    if answer == lab.endpoint_address(theirs.mx)[0] and answer != lab.endpoint_address(ours.mx)[0]:
        _wrong("That is the address of jane's provider, mail.somewhereelse.com. Ask for someplace.org.")
    if answer != lab.endpoint_address(ours.mx)[0]:
        if not any(q.startswith("a ") for q in questions):
            _wrong(f"{answer!r} is not it. The MX record gives a host name, not an address: ask for the A "
                   "record of that name next.")
        _wrong(f"{answer!r} is not the address the A record of someplace.org's mail server gives. "
               "Print the answers and look again: `.address` of an A record.")
    _correct(f"someplace.org's mail goes to {answer}: an MX question gave the host name, an A question "
             "its address, the two lookups every relay makes before it connects.")


@reads_the_wire
def forged_joe(lab: Lab, since: int) -> None:
    """Exercise: a message "from joe" sent by the notebook straight to jane's MX (envelope and From:)."""
    sessions = [c for c in lab.trace.sessions(protocol="smtp", service="mx", since=since) if _from_outside(c)]
    if not sessions:
        _wrong("jane's MX heard nothing from your notebook since the cell's mark. Connect with "
               "smtplib.SMTP(host, port), the address in the cell above.")
    for conn in sessions:
        exchanges = lab.trace.exchanges(conn)
        mail = [e for e in exchanges if e.verb == "MAIL"]
        if not mail:
            continue
        if JOE not in mail[-1].argument.lower():
            _wrong(f"Your envelope said {mail[-1].command!r}: put joe's address in MAIL FROM too, as a "
                   "forger would (sendmail's first argument).")
        if not any(e.verb == "DATA" and e.replies and e.replies[-1].startswith("250") for e in exchanges):
            _wrong("The server did not accept your message (no 250 after the text). Send `forged` as the "
                   "message with sendmail(from_addr, to_addrs, msg).")
        _correct("jane's MX took a message from joe that joe never wrote: the envelope and From: are just "
                 "text. What the server found out about it is in the next cell.")
        return
    _wrong("Your session sent no MAIL FROM. Use smtp.sendmail(from_addr, to_addrs, msg).")


def _spf_says(lab: Lab, address: str) -> str:
    from ..senderauth import check_spf  # pyspf is imported only when a lesson checks SPF

    server = lab.server(JANE_DOMAIN)
    return check_spf(address, f"news@{JOE_DOMAIN}", f"mail.{JOE_DOMAIN}", server.sender_auth.lookup).result


def spf_allows_the_service(lab: Lab) -> None:
    """Exercise: an SPF record for someplace.org that lets 127.0.0.1 send, and nobody new (RFC 7208)."""
    record = lab.dns[JOE_DOMAIN].spf
    if not isinstance(record, str) or not record.split() or record.split()[0].lower() != "v=spf1":
        _wrong(f"someplace.org's SPF record is {record!r}: an SPF record is a string starting with "
               "\"v=spf1\" (RFC 7208 section 4.5), then mechanisms such as ip4:ADDRESS, then -all.")
    subject = "Newsletter (SPF check)"
    _send_to_janes_mx(lab, f"news@{JOE_DOMAIN}", f"someplace.org news <news@{JOE_DOMAIN}>", subject)
    lab.wait_for(lambda: _janes(lab, subject) is not None, timeout=5)
    arrived = _janes(lab, subject)
    found = verdicts_of(arrived) if arrived is not None else {}
    if found.get("spf") != "pass":
        _wrong(f"A newsletter from {SERVICE_ADDRESS} arrived with spf={found.get('spf', '?')}. The record must "
               f"allow that address: ip4:{SERVICE_ADDRESS}.")
    ours = lab.endpoint_address(lab.server(JOE_DOMAIN).mx)[0]
    if _spf_says(lab, ours) != "pass":
        _wrong(f"The newsletter passes, but joe's provider ({ours}) no longer does: keep its address in "
               "the record too.")
    if _spf_says(lab, OUTSIDER) in ("pass", "neutral"):
        _wrong(f"Your record lets every address pass, or does not say no: {OUTSIDER}, which nobody allowed, "
               "gets no fail. End the record with -all.")
    _correct(f"the newsletter from {SERVICE_ADDRESS} passes SPF, joe's provider still does, and any other "
             "address fails.")


def _check_predictions(predictions: Any) -> dict[str, dict[str, str]]:
    if not isinstance(predictions, dict) or set(predictions) != {"A", "B", "C"}:
        _wrong('`predictions` should be a dict with the keys "A", "B" and "C", as in the cell.')
    for name, guess in predictions.items():
        if not isinstance(guess, dict) or set(guess) != set(METHODS):
            _wrong(f'predictions["{name}"] should be a dict with the keys "spf", "dkim" and "dmarc".')
        for method, word in guess.items():
            if word not in WORDS:
                _wrong(f'predictions["{name}"]["{method}"] is {word!r}: choose one of "pass", "fail", "none".')
    return predictions


_HINTS = {
    ("A", "spf"): "A left from joe's provider's own address, the one someplace.org's SPF record allows.",
    ("A", "dkim"): "joe's provider signed A, and the Subject, a signed field, changed afterwards.",
    ("A", "dmarc"): "DMARC needs one of SPF or DKIM to pass for the From: domain. Does one of them?",
    ("B", "spf"): "forger.example's SPF record allows your notebook's address, and B's envelope says forger.example.",
    ("B", "dkim"): "Nobody signed B: is there anything for DKIM to check?",
    ("B", "dmarc"): "DMARC asks the From: domain's record at _dmarc.forger.example; forger.example publishes none.",
    ("C", "spf"): "SPF checks the envelope's domain, and C's envelope is the same as B's.",
    ("C", "dkim"): "Nobody signed C either.",
    ("C", "dmarc"): "C's From: says someplace.org, which publishes a DMARC record. Is SPF's pass for an aligned domain?",
}


def predicted_verdicts(lab: Lab, predictions: Any) -> None:
    """Exercise: predict spf, dkim and dmarc for three messages; the check sends them (RFC 7208, 6376, 7489)."""
    predictions = _check_predictions(predictions)
    ours = lab.server(JOE_DOMAIN)
    if FORGER_DOMAIN not in lab.dns:
        lab.dns.add_zone(FORGER_DOMAIN, spf="v=spf1 ip4:127.0.0.1 -all", dmarc=None)
    policy, lab.dns[JOE_DOMAIN].dmarc = lab.dns[JOE_DOMAIN].dmarc, "v=DMARC1; p=none"  # C must arrive
    tamper, ours.faults.tamper_header = ours.faults.tamper_header, ("Subject", "Prediction A")
    try:
        laptop = lab.client("joe-laptop")
        laptop.compose(JANE, "Prediction A (as joe wrote it)", "A message for the exercise.\nJoe")
        laptop.send_all()
        lab.wait_for_delivery()
    finally:
        ours.faults.tamper_header = tamper
    try:
        _send_to_janes_mx(lab, f"news@{FORGER_DOMAIN}", f"news@{FORGER_DOMAIN}", "Prediction B")
        _send_to_janes_mx(lab, f"news@{FORGER_DOMAIN}", f"Joe <{JOE}>", "Prediction C")
    finally:
        lab.dns[JOE_DOMAIN].dmarc = policy
    found = {}
    for name in "ABC":
        lab.wait_for(lambda name=name: _janes(lab, f"Prediction {name}") is not None, timeout=5)
        message = _janes(lab, f"Prediction {name}")
        if message is None:
            _wrong(f"Message {name} did not reach jane (the lab was changed?); restart the lab with the set-up cell.")
        found[name] = verdicts_of(message)
    misses = [(n, m) for n in "ABC" for m in METHODS if predictions[n][m] != found[n].get(m)]
    if misses:
        shown = "; ".join(f"{n} {m}: {_HINTS[n, m]}" for n, m in misses[:3])
        more = f" ({len(misses) - 3} more)" if len(misses) > 3 else ""
        _wrong(f"{len(misses)} of your 9 predictions differ from what jane's server wrote{more}. {shown}")
    _correct("all nine. A fails DKIM but passes DMARC through SPF; B passes SPF for its own domain, which "
             "has no DMARC policy; C passes SPF too, but not for the domain in its From:, so DMARC fails.")
