"""Sender authentication on real SMTP: DKIM signing on submission, SPF/DKIM/DMARC on the MX.

The servers get `SenderAuth` with a TXT lookup over a dict the test fills (the
records a domain publishes); everything else is real: smtplib against the lab's
submission and MX endpoints, the relay between them, messages read from the
Maildir. Every client and server here is on 127.0.0.1, so the domain's SPF record
lists another address where a test wants SPF to fail for a sender on 127.0.0.1.
"""
from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from mailcourse import Lab
from mailcourse.errors import DNSTempError
from mailcourse.mailserver import JUNK
from mailcourse.senderauth import SenderAuth

JOE, JANE = "joe@someplace.org", "jane@somewhereelse.com"
PASS_SPF, FAIL_SPF = "v=spf1 ip4:127.0.0.1 -all", "v=spf1 ip4:127.0.0.2 -all"


class Zones(dict):
    """name -> TXT strings; a name in ``failing`` answers SERVFAIL."""

    failing: set[str]

    def lookup(self, name: str) -> list[str]:
        if name in getattr(self, "failing", ()):
            raise DNSTempError(f"SERVFAIL for {name}")
        return list(self.get(name, []))


@pytest.fixture
def lab() -> Iterator[tuple[Lab, Zones]]:
    zones = Zones()
    with Lab.classic(seed=16) as lab:
        for domain in ("someplace.org", "somewhereelse.com"):
            server = lab.server(domain)
            server.sender_auth = SenderAuth(zones.lookup, authserv_id=server.hostname)
        ours = lab.server("someplace.org")
        zones["lab._domainkey.someplace.org"] = [ours.sender_auth.key.txt]
        zones["someplace.org"] = [PASS_SPF]
        zones["_dmarc.someplace.org"] = ["v=DMARC1; p=none"]
        yield lab, zones


def _results(message) -> dict[str, str]:
    header = " ".join(message["Authentication-Results"].split())
    return {part.split("=")[0].strip(): part.split("=")[1].split()[0]
            for part in header.split(";")[1:]}


def _joe_sends(lab: Lab, subject: str) -> None:
    laptop = lab.client("joe-laptop")
    laptop.compose(JANE, subject, "Hello.\nJoe")
    laptop.send_all()
    assert lab.wait_for_delivery()


def _forge(lab: Lab, subject: str, from_header: str = JOE, mail_from: str = JOE) -> None:
    with smtplib.SMTP(*lab.endpoint_address(lab.server("somewhereelse.com").mx), timeout=10) as smtp:
        smtp.sendmail(mail_from, [JANE], f"From: {from_header}\r\nTo: {JANE}\r\nSubject: {subject}\r\n\r\nPay me.\r\n")


def _janes(lab: Lab, subject: str, folder: str = "INBOX"):
    return [m for m in lab.server("somewhereelse.com").mailbox("jane", folder=folder) if m["Subject"] == subject]


def test_joes_mail_is_signed_and_passes_all_three(lab) -> None:
    lab, zones = lab
    _joe_sends(lab, "Lunch")
    (message,) = _janes(lab, "Lunch")
    assert "d=someplace.org" in " ".join(message["DKIM-Signature"].split())
    assert _results(message) == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert message["Authentication-Results"].split(";")[0] == "mail.somewhereelse.com"
    assert len(message.get_all("Authentication-Results")) == 1


def test_a_forgery_under_p_none_arrives_marked_dmarc_fail(lab) -> None:
    lab, zones = lab
    zones["someplace.org"] = [FAIL_SPF]
    _forge(lab, "Bank account")
    (message,) = _janes(lab, "Bank account")
    assert _results(message) == {"spf": "fail", "dkim": "none", "dmarc": "fail"}


def test_a_forgery_under_p_reject_is_refused_at_data_and_joes_mail_still_arrives(lab) -> None:
    lab, zones = lab
    zones["someplace.org"] = [FAIL_SPF]  # genuine mail now passes DMARC through DKIM alone
    zones["_dmarc.someplace.org"] = ["v=DMARC1; p=reject"]
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _forge(lab, "Bank account")
    assert refused.value.smtp_code == 550 and refused.value.smtp_error.startswith(b"5.7.1")
    assert _janes(lab, "Bank account") == []
    _joe_sends(lab, "Really me")
    (message,) = _janes(lab, "Really me")
    assert _results(message) == {"spf": "fail", "dkim": "pass", "dmarc": "pass"}


def test_a_forgery_under_p_quarantine_lands_in_junk(lab) -> None:
    lab, zones = lab
    zones["someplace.org"] = [FAIL_SPF]
    zones["_dmarc.someplace.org"] = ["v=DMARC1; p=quarantine"]
    _forge(lab, "Bank account")
    assert _janes(lab, "Bank account") == []
    (message,) = _janes(lab, "Bank account", folder=JUNK)
    assert _results(message)["dmarc"] == "fail"


def test_a_header_changed_on_the_way_fails_dkim(lab) -> None:
    lab, zones = lab
    lab.server("someplace.org").faults.tamper_header = ("Subject", "Lunch is off")
    _joe_sends(lab, "Lunch")
    (message,) = _janes(lab, "Lunch is off")
    assert _results(message) == {"spf": "pass", "dkim": "fail", "dmarc": "pass"}


def test_an_authentication_results_claiming_the_receiver_is_removed(lab) -> None:
    lab, zones = lab
    zones["someplace.org"] = [FAIL_SPF]
    with smtplib.SMTP(*lab.endpoint_address(lab.server("somewhereelse.com").mx), timeout=10) as smtp:
        smtp.sendmail(JOE, [JANE], "Authentication-Results: mail.somewhereelse.com; dmarc=pass\r\n"
                      f"From: {JOE}\r\nSubject: Trust me\r\n\r\nx\r\n")
    (message,) = _janes(lab, "Trust me")
    assert len(message.get_all("Authentication-Results")) == 1
    assert _results(message)["dmarc"] == "fail"


def test_a_dns_failure_during_the_checks_is_a_temporary_refusal(lab) -> None:
    lab, zones = lab
    zones.failing = {"_dmarc.someplace.org"}
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _forge(lab, "Later")
    assert refused.value.smtp_code == 451 and refused.value.smtp_error.startswith(b"4.4.3")
    zones.failing = set()
    _forge(lab, "Later")
    assert len(_janes(lab, "Later")) == 1


# -- with the lab's own DNS server: the records come from real DNS queries -------------

def test_in_a_dns_lab_the_checks_read_the_published_records_on_the_wire() -> None:
    with Lab.classic(seed=16, dns=True, sender_auth=True) as lab:
        ours = lab.server("someplace.org")
        assert lab.dns["someplace.org"].dkim["lab"] == ours.sender_auth.key.txt
        _joe_sends(lab, "Lunch")
        (message,) = _janes(lab, "Lunch")
        assert _results(message) == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
        asked = [line for conn in lab.trace.sessions(protocol="dns", device="mail.somewhereelse.com")
                 for line in lab.trace.lines(conn)]
        assert any("lab._domainkey.someplace.org" in text for _, text in asked), asked
        assert any("_dmarc.someplace.org" in text for _, text in asked), asked

        ours.faults.tamper_header = ("Subject", "Lunch is off")
        _joe_sends(lab, "Lunch again")
        (tampered,) = _janes(lab, "Lunch is off")
        assert _results(tampered)["dkim"] == "fail"

        lab.dns["someplace.org"].spf = FAIL_SPF  # the forger on 127.0.0.1 fails SPF now
        lab.dns["someplace.org"].dmarc = "v=DMARC1; p=reject"
        with pytest.raises(smtplib.SMTPDataError) as refused:
            _forge(lab, "Bank account")
        assert refused.value.smtp_code == 550


def test_sender_auth_without_dns_is_refused_in_words() -> None:
    from mailcourse.errors import LabError

    with pytest.raises(LabError, match="dns=True"):
        Lab(sender_auth=True)
