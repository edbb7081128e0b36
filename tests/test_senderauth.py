"""mailcourse.senderauth with a dict-based TXT lookup (no network)."""
from __future__ import annotations

import pytest

from mailcourse import senderauth as sa
from mailcourse.errors import DNSTempError

RAW = (b"From: Joe <joe@someplace.org>\r\nTo: jane@somewhereelse.com\r\nSubject: hi\r\n"
       b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <1@someplace.org>\r\n\r\nhello\r\n")


@pytest.fixture(scope="module")
def key():
    return sa.make_dkim_key()


def zone(key, spf="v=spf1 ip4:127.0.0.1 -all", dmarc="v=DMARC1; p=reject"):
    rec = {"lab._domainkey.someplace.org": [key.txt], "someplace.org": [spf],
           "_dmarc.someplace.org": [dmarc]}
    return lambda name: rec.get(name, [])


def check(raw, lookup, ip="127.0.0.1", mail_from="joe@someplace.org"):
    return sa.verify(raw, ip=ip, helo="someplace.org", mail_from=mail_from,
                     lookup=lookup, authserv_id="mx.somewhereelse.com")


def test_signed_from_a_listed_address_passes_all_three(key):
    v = check(sa.sign(RAW, "someplace.org", "lab", key), zone(key))
    assert v.header() == ("mx.somewhereelse.com; spf=pass smtp.mailfrom=joe@someplace.org; "
                          "dkim=pass header.d=someplace.org header.s=lab; "
                          "dmarc=pass header.from=someplace.org")
    assert v.action == "deliver"


def test_tampered_subject_fails_dkim_and_unlisted_ip_fails_spf(key):
    t = sa.sign(RAW, "someplace.org", "lab", key).replace(b"Subject: hi", b"Subject: ho")
    v = check(t, zone(key), ip="127.0.0.9")
    assert (v.spf.result, v.dkim.result, v.dmarc.result, v.action) == \
        ("fail", "fail", "fail", "reject")


@pytest.mark.parametrize("spf, word", [("v=spf1 ~all", "softfail"), ("v=spf1 ?all", "neutral"),
                                       ("not spf", "none")])
def test_spf_words(key, spf, word):
    assert check(RAW, zone(key, spf=spf)).spf.result == word


def test_temperror(key):
    def lookup(name):
        raise DNSTempError("SERVFAIL")
    v = check(RAW, lookup)
    assert (v.spf.result, v.dmarc.result, v.action) == ("temperror", "temperror", "tempfail")


def test_spf_pass_for_another_domain_is_not_aligned(key):
    lookup = zone(key, dmarc="v=DMARC1; p=quarantine")
    evil = {"evil.example": ["v=spf1 ip4:127.0.0.1 -all"]}
    v = check(RAW, lambda n: evil.get(n) or lookup(n), mail_from="x@evil.example")
    assert (v.spf.result, v.dmarc.result, v.action) == ("pass", "fail", "quarantine")


def test_forged_authentication_results_are_removed():
    raw = b"Authentication-Results: mx.somewhereelse.com; dkim=pass\r\n\tx\r\n" + RAW
    assert sa.strip_forged(raw, "mx.somewhereelse.com") == RAW


def test_a_dmarc_record_without_a_valid_policy_counts_only_with_rua() -> None:
    """RFC 7489 section 6.6.3 step 6: an invalid p= is p=none with rua=, else no record."""
    for record, expected in [("v=DMARC1; p=bogus", "none"), ("v=DMARC1; p=bogus; rua=mailto:r@someplace.org", "fail")]:
        records = {"_dmarc.someplace.org": [record]}
        result = sa.check_dmarc("someplace.org", "fail", "someplace.org", [], lambda n: records.get(n, []))
        assert (result.result, result.policy) == (expected, "none"), record


def test_a_broken_published_key_is_not_a_pass(key):
    """A key in DNS that is not the signer's (or not a key at all) fails the signature (RFC 6376 6.1.3)."""
    other = sa.make_dkim_key(1024)
    signed = sa.sign(RAW, "someplace.org", "lab", key)
    for published in (other.txt, "v=DKIM1; k=rsa; p=AAAAnotakey"):
        records = {"lab._domainkey.someplace.org": [published]}
        result = sa.check_dkim(signed, lambda n: records.get(n, []))
        assert result.result in ("fail", "permerror"), published
