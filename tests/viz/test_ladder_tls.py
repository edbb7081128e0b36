"""The ladder of TLS sessions: the handshake as one step, then encrypted records; or, with the keys, inside.

Real sessions: the relay between the lab's servers with STARTTLS
(``relay_tls="opportunistic"``) and a POP3 client on pop3s (implicit TLS).
The same journey drawn in two labs gives the same picture byte for byte,
as a lesson's committed output needs: no handshake size is shown (it
follows the certificate's signature, new in every lab), no session ticket
races the client's first command (`mailcourse.tls`).
"""
from __future__ import annotations

import poplib
import re
import time

from helpers import JANE, JANE_PASSWORD

from mailcourse import Lab
from mailcourse.viz import ladder

OPPORTUNISTIC = "opportunistic"


def tls_journey() -> tuple[str, str, list, list, str]:
    """Joe writes to Jane, relayed with STARTTLS; Jane reads it on pop3s. The SVGs, arrows and alt text."""
    with Lab.classic(seed=1, relay_tls=OPPORTUNISTIC) as lab:
        joe = lab.client("joe-laptop")
        joe.compose(JANE, "Lunch tomorrow", "Noon at the usual place?")
        assert all(r.ok for r in joe.send_all())
        assert lab.wait_for_delivery()
        jane = lab.server("somewhereelse.com")
        pop = poplib.POP3_SSL(*jane.endpoints["pop3s"].address, context=lab.tls.client_context(), timeout=10)
        pop.user(JANE)
        pop.pass_(JANE_PASSWORD)
        pop.retr(1)
        pop.quit()
        time.sleep(0.3)  # the tap closes the session a moment after the client does
        sessions = [c for c in lab.trace.sessions() if c.service in ("mx", "pop3s")]
        assert [c.tls for c in sessions] == ["starttls", "implicit"]
        eavesdropper, inside = ladder(lab.trace, sessions), ladder(lab.trace, sessions, keys=True)
        return (eavesdropper.svg(), inside.svg(), eavesdropper.arrows, inside.arrows,
                eavesdropper.alt + "\n" + inside.alt)


def test_a_tls_session_draws_its_handshake_then_records_and_the_same_every_time():
    first, first_inside, arrows, inside, alt = tls_journey()
    relay = [a for a in arrows if a.session == 1]
    kinds = [a.kind for a in relay]
    # In the clear up to STARTTLS's 220, then one handshake step, then only encrypted records.
    at = kinds.index("handshake")
    assert [a.label for a in relay][at - 2:at] == ["STARTTLS", "220 Ready to start TLS"]
    assert kinds.count("handshake") == 1 and set(kinds[at + 1:]) == {"encrypted"}
    assert relay[at].label == "TLS handshake (TLS 1.3)"
    assert all(re.fullmatch(r"encrypted: [\d,]+ bytes( in \d+ records)?", a.label) for a in relay[at + 1:])
    assert not any("MAIL" in a.label or "jane" in a.label for a in relay[at:])
    pop3s = [a for a in arrows if a.session == 2]
    assert pop3s[0].kind == "handshake" and {a.kind for a in pop3s[1:]} == {"encrypted"}
    # With the keys: the same handshake, then the dialogue inside, as a plain session draws it.
    relayed = [a.label for a in inside if a.session == 1]
    assert relayed[at] == "TLS handshake (TLS 1.3)"
    assert relayed[at + 1] == "EHLO mail.someplace.org" and any(
        label.startswith("MAIL FROM:<joe@someplace.org>") for label in relayed)
    read = [a.label for a in inside if a.session == 2]
    assert read[0] == "TLS handshake (TLS 1.3)" and read[1].startswith("+OK")  # the greeting, inside TLS
    assert "PASS ********" in read and JANE_PASSWORD not in alt
    assert "inside TLS decrypted with the lab's keys" in first_inside
    assert "decrypted" not in first
    # Another lab, another CA and certificate: the same picture.
    again, again_inside, *_ = tls_journey()
    assert again == first
    assert again_inside == first_inside
