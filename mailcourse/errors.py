"""The one exception the lab raises for a request it cannot carry out.

A leaf module: everything in the package may import it without pulling in
servers or devices.
"""
from __future__ import annotations


class LabError(Exception):
    """A request the lab cannot carry out, explained in words."""


class DNSTempError(LabError):
    """A DNS question that got no answer for now (SERVFAIL, a timeout): try again later.

    Not "no such name" (NXDOMAIN) or "no such record", which are answers. RFC 7208
    section 2.6.6 calls it "temperror" for SPF, RFC 5321 section 4.4 (and RFC 3463's
    4.4.3) a temporary failure for the relay; both act on it alike: a 4xx, and retry.
    """


class MessageRefused(LabError):
    """A message a server will not take, with the SMTP reply that says so (``reply``).

    Raised while a server decides at the end of DATA (a DMARC policy of reject, RFC 7489
    section 6.6.4); the SMTP handler answers with ``reply`` and nothing is kept.
    """

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply
