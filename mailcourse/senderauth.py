"""Sender authentication on the MX: SPF, DKIM, DMARC, and the header that reports them.

Three answers to "did this message really come from whom it says?":

- SPF (RFC 7208): the domain in MAIL FROM (or HELO, when MAIL FROM is empty; section
  2.4) publishes which addresses may send for it, in a TXT record ``v=spf1 ...``.
  Results (section 2.6): pass, fail, softfail, neutral, none, temperror, permerror.
- DKIM (RFC 6376): the sending server signs chosen header fields and the body; the
  receiver fetches the public key from ``<selector>._domainkey.<d=>`` (section 3.6.2.1)
  and checks. A header or body changed in transit breaks the signature.
- DMARC (RFC 7489): ties both to the From: domain the reader sees. A pass needs SPF or
  DKIM to pass *for a domain aligned with From:* (section 3.1); the record at
  ``_dmarc.<From domain>`` says what to do otherwise (p=none/quarantine/reject).

The receiver writes what it found into one Authentication-Results field (RFC 8601).

Sans-I/O apart from one injected function: ``lookup(name) -> list[str]`` returns the TXT
strings at a name ([] for NXDOMAIN or no TXT) and raises
:class:`mailcourse.errors.DNSTempError` when DNS cannot answer now. pyspf and dkimpy are
made to use it instead of their own resolver, so every lab (and every thread) has its own
DNS. Both libraries are imported inside the functions that need them: ``import
mailcourse`` stays light.

Usage::

    key = make_dkim_key()
    records = {"lab._domainkey.someplace.org": [key.txt],
               "someplace.org": ["v=spf1 ip4:127.0.0.1 -all"],
               "_dmarc.someplace.org": ["v=DMARC1; p=reject"]}
    lookup = lambda name: records.get(name, [])
    signed = sign(raw, "someplace.org", "lab", key)
    v = verify(signed, ip="127.0.0.1", helo="someplace.org",
               mail_from="joe@someplace.org", lookup=lookup, authserv_id="mx.example")
    v.header()   # 'mx.example; spf=pass smtp.mailfrom=... dkim=pass ... dmarc=pass ...'
"""
from __future__ import annotations

import email.parser
import email.policy
import email.utils
import re
from dataclasses import dataclass, field
from typing import Callable

from mailcourse.errors import DNSTempError
from mailcourse.message import prepend_header, remove_header

TxtLookup = Callable[[str], "list[str]"]

#: Header fields signed by default: RFC 6376 section 5.4.1 recommends From (required),
#: Subject, Date, To, Cc, Message-ID, the MIME fields, and the reply/reference fields.
SIGNED_HEADERS = (b"From", b"To", b"Cc", b"Subject", b"Date", b"Message-ID",
                  b"Reply-To", b"In-Reply-To", b"References",
                  b"MIME-Version", b"Content-Type", b"Content-Transfer-Encoding")


# --- DKIM keys -----------------------------------------------------------------------

@dataclass(frozen=True)
class DKIMKey:
    """An RSA key pair for DKIM signing, made at run time (never stored in the repository).

    ``private_pem`` is what dkimpy signs with; ``txt`` is the value to publish at
    ``<selector>._domainkey.<domain>`` (RFC 6376 section 3.6.1).
    """
    private_pem: bytes = field(repr=False)
    public_b64: str

    @property
    def txt(self) -> str:
        return f"v=DKIM1; k=rsa; p={self.public_b64}"


def make_dkim_key(bits: int = 2048) -> DKIMKey:
    """A fresh RSA key (RFC 8301 section 3.2: at least 1024 bits, 2048 recommended)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    # p= is the base64 of the DER SubjectPublicKeyInfo (RFC 6376 section 3.6.1).
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return DKIMKey(private_pem, base64.b64encode(der).decode("ascii"))


def sign(raw: bytes, domain: str, selector: str, key: DKIMKey) -> bytes:
    """``raw`` with a DKIM-Signature field prepended (relaxed/relaxed, rsa-sha256).

    relaxed/relaxed (RFC 6376 section 3.4) survives harmless rewrapping and whitespace
    changes in transit; a changed word still breaks it. Only fields present in the
    message are signed, so a later added Cc (for example) is not vouched for as absent.
    """
    import dkim

    present = {name.lower() for name, _ in _header_fields(raw)}
    include = [h for h in SIGNED_HEADERS if h.lower() in present]
    signature = dkim.sign(raw, selector.encode("ascii"), domain.encode("ascii"),
                          key.private_pem, canonicalize=(b"relaxed", b"relaxed"),
                          include_headers=include)
    return signature + raw


def _header_fields(raw: bytes) -> list[tuple[bytes, bytes]]:
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    fields: list[tuple[bytes, bytes]] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = (fields[-1][0], fields[-1][1] + b"\r\n" + line)
        elif b":" in line:
            name, value = line.split(b":", 1)
            fields.append((name.strip(), value))
    return fields


# --- Results -------------------------------------------------------------------------

@dataclass(frozen=True)
class SPFResult:
    """RFC 7208 section 2.6: one of pass fail softfail neutral none temperror permerror."""
    result: str
    domain: str          # the domain whose record was checked (MAIL FROM's, or HELO's)
    identity: str        # what Authentication-Results names: smtp.mailfrom or smtp.helo
    reason: str = ""


@dataclass(frozen=True)
class DKIMResult:
    """RFC 6376 section 6.1 / RFC 8601 section 2.7.1: pass fail none temperror permerror."""
    result: str
    domain: str = ""     # d=
    selector: str = ""   # s=
    reason: str = ""


@dataclass(frozen=True)
class DMARCResult:
    """RFC 7489 section 6.6 / RFC 8601: pass fail none temperror, and the policy to apply."""
    result: str
    from_domain: str
    policy: str = "none"     # none, quarantine or reject: what the receiver should do
    reason: str = ""


# --- SPF -----------------------------------------------------------------------------

def _spf_query_class():
    import spf

    class LookupQuery(spf.query):
        """pyspf's query, asking the injected lookup instead of the real DNS.

        Overriding the one DNS method keeps pyspf's module globals untouched, so labs in
        different threads never see each other's zones. The lab's DNS answers TXT only;
        A/AAAA/MX/PTR questions (for the a, mx, ptr mechanisms) get "no data".
        """
        def __init__(self, *args, lookup: TxtLookup, **kwargs):
            super().__init__(*args, **kwargs)
            self._lookup = lookup

        def dns(self, name, qtype, cnames=None, ignore_void=False):
            if qtype not in ("TXT", "SPF"):
                return []
            try:
                records = self._lookup(str(name).rstrip(".").lower())
            except DNSTempError as error:
                raise spf.TempError(f"DNS {error}") from error
            # pyspf wants each TXT record as a list of character-strings, as bytes.
            return [[r.encode("utf-8")] for r in records]

    return LookupQuery


def check_spf(ip: str, mail_from: str, helo: str, lookup: TxtLookup) -> SPFResult:
    """The SPF result for a client at ``ip`` (RFC 7208 section 4, check_host()).

    With an empty reverse-path (a bounce) the HELO identity is checked instead
    (section 2.4), as ``postmaster@<helo>``.
    """
    _, sender = email.utils.parseaddr(mail_from)
    if "@" in sender:
        domain, identity = sender.rsplit("@", 1)[1].lower(), "smtp.mailfrom"
    else:
        domain, identity, sender = helo.lower(), "smtp.helo", f"postmaster@{helo}"
    q = _spf_query_class()(i=ip, s=sender, h=helo, lookup=lookup)
    result, _code, explanation = q.check()
    return SPFResult(result.lower(), domain, identity, explanation)


# --- DKIM ----------------------------------------------------------------------------

def check_dkim(raw: bytes, lookup: TxtLookup) -> DKIMResult:
    """Verify the first DKIM-Signature of ``raw`` (RFC 6376 section 6).

    none: no signature; temperror: the key could not be fetched now; permerror: the
    signature or key record is unusable (a broken p=, a missing tag); fail: the
    signature does not match what arrived (a header or the body changed).
    """
    import dkim

    signatures = [v for n, v in _header_fields(raw) if n.lower() == b"dkim-signature"]
    if not signatures:
        return DKIMResult("none", reason="no signature")
    tags = _tags(signatures[0].decode("ascii", "replace"))
    domain, selector = tags.get("d", ""), tags.get("s", "")

    def dnsfunc(name, timeout=5):
        records = lookup(name.decode("ascii").rstrip(".").lower()
                         if isinstance(name, bytes) else name.rstrip(".").lower())
        return records[0].encode("utf-8") if records else None

    d = dkim.DKIM(raw)
    try:
        ok = d.verify(dnsfunc=dnsfunc)
    except DNSTempError as error:
        return DKIMResult("temperror", domain, selector, f"key lookup: {error}")
    except dkim.KeyFormatError as error:
        return DKIMResult("permerror", domain, selector, f"bad key: {error}")
    except dkim.DKIMException as error:
        return DKIMResult("permerror", domain, selector, str(error))
    if ok:
        return DKIMResult("pass", domain, selector)
    # dkimpy reports a missing or unparsable key as a plain False; tell them apart.
    reason = "signature did not verify"
    try:
        key_records = lookup(f"{selector}._domainkey.{domain}".lower())
    except DNSTempError as error:
        return DKIMResult("temperror", domain, selector, f"key lookup: {error}")
    if not key_records:
        return DKIMResult("permerror", domain, selector, "no key record")
    return DKIMResult("fail", domain, selector, reason)


def _tags(value: str) -> dict[str, str]:
    """A tag=value list (RFC 6376 section 3.2, RFC 7489 section 6.4)."""
    tags: dict[str, str] = {}
    for part in value.split(";"):
        if "=" in part:
            name, _, v = part.partition("=")
            tags[name.strip().lower()] = re.sub(r"\s+", "", v) if name.strip() in "bhp" \
                else v.strip()
    return tags


# --- DMARC ---------------------------------------------------------------------------

def organizational_domain(domain: str) -> str:
    """The organizational domain (RFC 7489 section 3.2), simplified: the last two labels.

    The RFC asks for the public suffix list, so that ``a.example.co.uk`` maps to
    ``example.co.uk``; the lab's domains are all two labels, and a list of every
    suffix on the internet is more than a course needs.
    """
    return ".".join(domain.lower().rstrip(".").split(".")[-2:])


def _aligned(domain: str, from_domain: str, mode: str) -> bool:
    """RFC 7489 section 3.1.1/3.1.2: strict (s) = same name; relaxed (r) = same org domain."""
    if mode == "s":
        return domain.lower() == from_domain.lower()
    return organizational_domain(domain) == organizational_domain(from_domain)


def _dmarc_record(from_domain: str, lookup: TxtLookup) -> tuple[dict[str, str], bool] | None:
    """(tags, is_org_fallback), or None: section 6.6.3 steps 1-3."""
    for name, fallback in ((from_domain, False), (organizational_domain(from_domain), True)):
        records = [r for r in lookup(f"_dmarc.{name}") if r.startswith("v=DMARC1")]
        # Step 2/3: exactly one record counts; none (or several) means "look further".
        if len(records) == 1:
            return _tags(records[0]), fallback
        if name == organizational_domain(from_domain):
            break
    return None


def check_dmarc(from_domain: str, spf_result: str, spf_domain: str,
                dkim_results: list[DKIMResult], lookup: TxtLookup) -> DMARCResult:
    """DMARC for a message whose From: is at ``from_domain`` (RFC 7489 section 6.6).

    pass: SPF passed for an aligned domain, or a DKIM signature passed for an aligned
    d=. The policy is p= (sp= when the record came from the organizational domain for a
    subdomain), applied only on fail. pct (sampling) and rua/ruf (reports) are read and
    ignored: the lab applies the policy to every message and sends no reports.
    """
    from_domain = from_domain.lower().strip(".")
    if not from_domain:
        return DMARCResult("none", from_domain, "none", "no From: domain to check")  # nothing to look up
    try:
        found = _dmarc_record(from_domain, lookup)
    except DNSTempError as error:
        return DMARCResult("temperror", from_domain, "none", f"DMARC lookup: {error}")
    if found is None:
        return DMARCResult("none", from_domain, "none", "no DMARC record")
    tags, fallback = found
    p = tags.get("p", "").lower()
    if p not in ("none", "quarantine", "reject"):
        # Section 6.6.3 step 6: a record with a missing or invalid p= counts as p=none when it
        # has a valid rua= (its owner wants reports), and as no record at all otherwise.
        if "rua" not in tags:
            return DMARCResult("none", from_domain, "none", "DMARC record without a valid p=")
        p = "none"
    policy = tags.get("sp", p).lower() if fallback else p
    if policy not in ("none", "quarantine", "reject"):
        policy = p
    adkim, aspf = tags.get("adkim", "r").lower(), tags.get("aspf", "r").lower()
    if any(r.result == "pass" and _aligned(r.domain, from_domain, adkim)
           for r in dkim_results):
        return DMARCResult("pass", from_domain, "none", "DKIM aligned")
    if spf_result == "pass" and _aligned(spf_domain, from_domain, aspf):
        return DMARCResult("pass", from_domain, "none", "SPF aligned")
    return DMARCResult("fail", from_domain, policy, "no aligned SPF or DKIM pass")


# --- All three, and the header -------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """What the MX found (spf, dkim, dmarc) and what it does: deliver, quarantine, reject
    or tempfail (DMARC temperror)."""
    authserv_id: str
    spf: SPFResult
    dkim: DKIMResult
    dmarc: DMARCResult
    mail_from: str

    @property
    def action(self) -> str:
        if self.dmarc.result == "fail" and self.dmarc.policy in ("quarantine", "reject"):
            return self.dmarc.policy
        if self.dmarc.result == "temperror":
            return "tempfail"
        return "deliver"

    def header(self) -> str:
        """The Authentication-Results value (RFC 8601 section 2.2), without the field name."""
        spf_prop = (f"smtp.mailfrom={self.mail_from}" if self.spf.identity == "smtp.mailfrom"
                    else f"smtp.helo={self.spf.domain}")
        parts = [f"spf={self.spf.result}{_comment(self.spf.reason, self.spf.result)} "
                 f"{spf_prop}"]
        dkim = f"dkim={self.dkim.result}{_comment(self.dkim.reason, self.dkim.result)}"
        if self.dkim.domain:
            dkim += f" header.d={self.dkim.domain} header.s={self.dkim.selector}"
        parts.append(dkim)
        parts.append(f"dmarc={self.dmarc.result}"
                     f"{_comment(self.dmarc_comment, self.dmarc.result)} "
                     f"header.from={self.dmarc.from_domain or 'unknown'}")
        return f"{self.authserv_id}; " + "; ".join(parts)

    @property
    def dmarc_comment(self) -> str:
        if self.dmarc.result == "fail":
            return f"p={self.dmarc.policy}"
        return ""


def _comment(reason: str, result: str) -> str:
    # RFC 8601 section 2.2: a comment in parentheses; only where it helps a reader.
    if not reason or result in ("pass",):
        return ""
    return " (" + reason.replace("(", "[").replace(")", "]").replace("\r", " ")\
        .replace("\n", " ")[:120] + ")"


def from_domain(raw: bytes) -> str:
    """The domain of the message's From: (RFC 7489 section 6.6.1), '' if none."""
    msg = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    _, address = email.utils.parseaddr(msg.get("From", ""))
    return address.rsplit("@", 1)[1].lower() if "@" in address else ""


def verify(raw: bytes, *, ip: str, helo: str, mail_from: str, lookup: TxtLookup,
           authserv_id: str) -> Verdict:
    """Check SPF, DKIM and DMARC for one arriving message."""
    spf = check_spf(ip, mail_from, helo, lookup)
    dkim = check_dkim(raw, lookup)
    dmarc = check_dmarc(from_domain(raw), spf.result, spf.domain, [dkim], lookup)
    return Verdict(authserv_id, spf, dkim, dmarc, mail_from)


def strip_forged(raw: bytes, authserv_id: str) -> bytes:
    """``raw`` without Authentication-Results fields that claim ``authserv_id``.

    RFC 8601 section 5: such a field did not come from us (we add ours after this), so
    it is a forgery meant to make a reader trust a check we never made.
    """
    def ours(value: str) -> bool:  # the authserv-id is the value's first token (section 2.2)
        first = value.split(";", 1)[0].split()
        return bool(first) and first[0].lower() == authserv_id.lower()

    return remove_header(raw, "Authentication-Results", where=ours)


# --- on a mail server -----------------------------------------------------------------

@dataclass(eq=False)
class SenderAuth:
    """What a mail server needs to sign and check: its DNS lookup and its DKIM key.

    ``server.sender_auth`` (`mailcourse.mailserver.MailServer`) is None unless a lab
    switches sender authentication on. Then the server's submission endpoints sign what
    their users send for the server's domain (`sign`), and its MX checks every message
    that arrives from another host (`check`). The key is made at the first signature, so
    a server that never signs never pays for an RSA key; `key.txt` is what DNS publishes
    at ``<selector>._domainkey.<domain>``.
    """
    lookup: TxtLookup
    authserv_id: str
    selector: str = "lab"
    _key: DKIMKey | None = field(default=None, repr=False)

    @property
    def key(self) -> DKIMKey:
        if self._key is None:
            self._key = make_dkim_key()
        return self._key

    def sign(self, raw: bytes, domain: str) -> bytes:
        return sign(raw, domain, self.selector, self.key)

    def check(self, raw: bytes, *, ip: str, helo: str, mail_from: str) -> tuple[Verdict, bytes]:
        """The verdict on an arriving message, and the message with our one Authentication-Results on top."""
        raw = strip_forged(raw, self.authserv_id)
        verdict = verify(raw, ip=ip, helo=helo, mail_from=mail_from, lookup=self.lookup,
                         authserv_id=self.authserv_id)
        return verdict, prepend_header(raw, "Authentication-Results", verdict.header())
