"""SMTP endpoints on aiosmtpd: the protocol is aiosmtpd's, the policy is ours.

aiosmtpd's `SMTP` class speaks the protocol (RFC 5321): it reads command
lines, keeps the session state, and calls "handler hooks" where a server
decides something. `SMTPHandler` is those decisions for one mail domain:

* ``handle_EHLO``  which extensions to advertise (8BITMIME and SMTPUTF8 as
  the `Limits` say);
* ``handle_MAIL``  may this session use this sender address, and this body?
* ``handle_RCPT``  is this recipient ours, and may this session relay?
* ``handle_DATA``  deliver or queue, durably, then answer 250.

Both also obey the domain's fault switches (`mailcourse.faults`): a mailbox
switched to "full" gets 452 at RCPT, a temporary failure 451 after DATA.

One mail server has two SMTP endpoints, as real providers do:

* **submission** (RFC 6409, port 587 in the real world): where a user's mail
  program hands over new mail. Authentication is required (RFC 4954), and an
  authenticated user may send to any domain, but only as themself.
* **MX** (port 25 in the real world): where other servers deliver. No
  authentication; it accepts mail only for its own domains. A server that
  accepted mail for anyone else would be an "open relay", the spammer's friend.

Both offer STARTTLS (RFC 3207), and **submissions** (RFC 8314, port 465) is
submission with TLS from the first byte. ``Limits.login_requires_tls`` keeps
passwords inside TLS: AUTH is then offered only after STARTTLS.

`LabSMTP` adds what aiosmtpd 1.4 lacks: enhanced status codes in every reply
(RFC 2034), the RFC 4616 rule on the PLAIN authorization identity, and
STARTTLS with a certificate made only when a client first asks for it.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import warnings
from base64 import b64decode
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword, TLSSetupException, syntax

from . import SUBMISSION, SUBMISSIONS
from .host import Host
from ..accounts import Accounts
from ..errors import MessageRefused
from ..faults import Faults
from ..limits import Limits
from ..message import with_protocol
from ..protocols.smtp_replies import enhance
from ..tap import CONNECTION, Endpoint


# aiosmtpd logs every session at INFO and warns about AUTH without TLS. In a
# notebook, anything a server thread writes lands under whichever cell runs:
# keep aiosmtpd quiet and let the trace show what happened.
_log = logging.getLogger("mail.log")
_log.addHandler(logging.NullHandler())
_log.propagate = False


class LabSMTP(SMTP):
    """aiosmtpd's SMTP session with enhanced status codes, a stricter AUTH PLAIN, a lazy STARTTLS.

    ``starttls``: offer STARTTLS, with the certificate of ``handler.host``.
    ``implicit_tls``: the session runs inside TLS already (submissions).
    """

    def __init__(self, handler: SMTPHandler, *, starttls: bool = False, implicit_tls: bool = False,
                 **kwargs: Any) -> None:
        with warnings.catch_warnings():
            # "Requiring AUTH while not requiring TLS": the lab is loopback-only
            # and the accounts are fake; the notebook says so.
            warnings.simplefilter("ignore")
            super().__init__(handler, **kwargs)
        self.starttls = starttls and not implicit_tls
        self.implicit_tls = implicit_tls
        self.command: str | None = None
        for verb, method in list(self._smtp_methods.items()):
            self._smtp_methods[verb] = self._remembering(verb, method)

    def _remembering(self, verb: str, method: Any) -> Any:
        async def call(arg: str | None) -> None:
            self.command = verb
            try:
                await method(arg)
            finally:
                self.command = None
        return call

    async def push(self, status: Any) -> None:
        if isinstance(status, str):
            status = enhance(self.command, status)
        await super().push(status)

    @property
    def tls_active(self) -> bool:
        """Is this session inside TLS (after STARTTLS, or from the first byte)?"""
        return self.implicit_tls or self._tls_protocol is not None

    @syntax("STARTTLS")
    async def smtp_STARTTLS(self, arg: str) -> None:
        """STARTTLS (RFC 3207): the rest of the session inside TLS.

        aiosmtpd does the handshake and, once it is done, throws away what
        the client sent after STARTTLS before the handshake began (RFC 3207
        section 4.2; 1.4.6 fixed this, CVE-2024-34083): a command smuggled
        in plain text behind STARTTLS must not run as if it came inside TLS.
        The session starts over (section 4.2): no HELO, no login, no
        transaction. What aiosmtpd lets through, the lab refuses here.
        """
        if self.tls_active:
            # RFC 3207 section 4: "A client MUST NOT attempt to start a TLS session if a TLS
            # session is already active." aiosmtpd would start a second TLS layer inside the first.
            await self.push("503 5.5.1 TLS is already active")
            return
        if not self.starttls:
            await self.push("454 4.7.0 TLS not available")
            return
        if self.session is not None and self.session.authenticated:
            # The password has crossed in plain text already: TLS now protects nothing of it,
            # and the new session would have to forget the login anyway (section 4.2).
            await self.push("503 5.5.1 STARTTLS must come before AUTH")
            return
        if self.envelope is not None and self.envelope.mail_from is not None:
            await self.push("503 5.5.1 STARTTLS is not allowed in a mail transaction")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: STARTTLS")
            return
        if self.tls_context is None:  # the certificate is made at the first STARTTLS of the host
            self.tls_context = await self.event_handler.host.tls_context()
        await super().smtp_STARTTLS(arg)

    def _timeout_cb(self) -> None:
        """Say why before hanging up on an idle client.

        RFC 5321 section 4.5.3.2 lets a server close a session that has been
        silent too long; aiosmtpd closes without a word. Like IMAP's
        ``* BYE Autologout``, a 421 (section 4.2.3: closing the transmission
        channel) tells the client, and the student reading the transcript, why.
        """
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(f"421 4.4.2 {self.hostname} Idle for too long, closing the connection\r\n"
                                 .encode("ascii"))
        super()._timeout_cb()

    async def auth_PLAIN(self, _: Any, args: list[str]) -> AuthResult:
        """SASL PLAIN (RFC 4616): ``authzid NUL authcid NUL password``, base64.

        The initial response may come with the command or after an empty
        ``334 `` challenge (RFC 4954 section 4). The authorization identity
        (authzid) may be empty or equal to the login: nobody here may act for
        someone else.
        """
        if len(args) == 1:
            blob = await self.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False)
        else:
            try:
                blob = b64decode(args[1].encode(), validate=True)
            except ValueError:
                await self.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        parts = blob.split(b"\x00")
        if len(parts) != 3:
            await self.push("501 5.5.2 Can't split auth value")
            return AuthResult(success=False, handled=True)
        authzid, login, password = parts
        if authzid and authzid != login:
            await self.push("535 5.7.8 Authorization identity must be empty or the login itself")
            return AuthResult(success=False, handled=True)
        return self._authenticate("PLAIN", LoginPassword(login, password))


class Receive(Protocol):
    """What takes responsibility for an accepted message: deliver what is local, queue the rest.

    It returns the queue id (for the 250 reply) once everything is on disk,
    so it blocks: the handler calls it in a worker thread.
    """

    def __call__(self, mail_from: str, rcpts: list[str], raw: bytes, *, helo: str, peer: str,
                 protocol: str, submission: bool, mail_options: Sequence[str] = (),
                 client_ip: str | None = None) -> str: ...


@dataclass(eq=False)
class SMTPHandler:
    """The policy hooks of one SMTP endpoint of ``host`` (``service`` is submission or mx).

    ``limits`` and ``faults`` are read at each decision, so a lesson that
    changes one sees the change at the next command.
    """

    host: Host
    service: str
    accounts: Accounts
    limits: Limits
    faults: Faults
    receive: Receive

    @property
    def submission(self) -> bool:
        """Submission (RFC 6409), with STARTTLS or with implicit TLS (RFC 8314): users log in here."""
        return self.service in (SUBMISSION, SUBMISSIONS)

    def authenticator(self, smtp: SMTP, session: Any, envelope: Any, mechanism: str,
                      auth_data: LoginPassword) -> AuthResult:
        address = self.accounts.authenticate(auth_data.login.decode("utf-8", "replace"),
                                           auth_data.password.decode("utf-8", "replace"))
        if address is None:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=address)

    async def handle_EHLO(self, smtp: SMTP, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        lines = [r for r in responses[:-1] if self.submission or "AUTH" not in r]
        if not self.limits.offer_8bitmime:  # aiosmtpd always offers it; a lesson's old server does not
            lines.remove("250-8BITMIME")
        if isinstance(smtp, LabSMTP) and smtp.starttls and not smtp.tls_active and "250-STARTTLS" not in lines:
            # Where aiosmtpd would put it, before AUTH: aiosmtpd offers it only with a context in
            # hand, and the lab makes the certificate at the first STARTTLS (`smtp_STARTTLS`).
            auth = next((i for i, line in enumerate(lines) if line.startswith("250-AUTH")), len(lines))
            lines.insert(auth, "250-STARTTLS")
        # aiosmtpd reads pipelined commands one at a time and answers in order,
        # which is all RFC 2920 asks; it just does not say so.
        return lines + ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", responses[-1]]

    async def handle_AUTH(self, smtp: SMTP, session: Any, envelope: Any, args: list[str]) -> Any:
        if not self.submission:
            return "502 5.5.1 Authentication is offered on the submission port only"
        return MISSING

    async def handle_MAIL(self, smtp: SMTP, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        if "BODY=8BITMIME" in mail_options and not self.limits.offer_8bitmime:
            # RFC 5321 section 4.1.1.11: a parameter of an extension not offered gets 555.
            return "555 5.5.4 BODY=8BITMIME is not offered here (RFC 6152)"
        if not envelope.smtp_utf8 and not address.isascii():
            return non_ascii_refused(address)
        if self.submission and address.lower() != str(session.auth_data).lower():
            # RFC 6409 section 6.1: the MSA may check the sender against the login.
            return f"553 5.7.1 <{address}>: Sender address rejected: not owned by user {session.auth_data}"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, smtp: SMTP, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.limits.max_recipients:
            return "452 4.5.3 Too many recipients"
        if not envelope.smtp_utf8 and not address.isascii():
            return non_ascii_refused(address)
        local, _, domain = address.rpartition("@")
        if not local or not domain or address == "<>" or any(c.isspace() for c in address):
            # RFC 5321 section 4.1.1.3: a recipient is a mailbox, local-part@domain.
            return f"501 5.1.3 <{address.strip('<>')}>: Bad recipient address syntax"  # "<>", not "<<>>"
        if self.accounts.is_local_domain(domain):
            if not self.accounts.has_user(address):
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
            fault = self.faults.rcpt_reply(address)  # a mailbox switched to "full" (mailcourse.faults)
            if fault is not None:
                return fault
        elif not self.submission:
            return f"554 5.7.1 <{address}>: Relay access denied"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Any, envelope: Any) -> str:
        fault = self.faults.data_reply()  # before storing: after a 4yz the client keeps it
        if fault is not None:
            return fault
        # Asked through the TLS layer too, after STARTTLS: the tap answers from below it.
        conn = smtp.transport.get_extra_info(CONNECTION) if smtp.transport is not None else None
        # A program outside the lab has no device name; its address's name is "localhost".
        peer = conn.client if conn is not None and conn.client != "client" else "localhost"
        receive = functools.partial(
            self.receive,
            envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
            helo=session.host_name or "unknown", peer=peer,
            protocol=with_protocol(extended=session.extended_smtp, authenticated=bool(session.authenticated),
                                   smtputf8=envelope.smtp_utf8,
                                   tls=isinstance(smtp, LabSMTP) and smtp.tls_active),
            submission=self.submission,
            mail_options=list(envelope.mail_options),  # BODY= and SMTPUTF8, for the relay to pass on
            client_ip=session.peer[0] if isinstance(session.peer, tuple) else None,  # what SPF checks
        )
        # Writing to disk (with fsync) happens in a worker thread: while it
        # waits for the disk, the host's loop goes on serving other sessions.
        try:
            queue_id = await asyncio.get_running_loop().run_in_executor(self.host.executor, receive)
        except MessageRefused as refused:  # a policy said no at the end of DATA: nothing was kept
            return refused.reply
        return f"250 2.0.0 Ok: queued as {queue_id}"

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # The handshake after STARTTLS failed: a client that did not trust the certificate, or
            # that went away. Not the server's bug; aiosmtpd closes the connection without a reply.
            return "454 4.7.0 TLS not available due to temporary reason"
        self.host.errors.append(repr(error))
        return "451 4.3.0 Local error in processing; please try again later"


def non_ascii_refused(address: str) -> str:
    """The reply to a UTF-8 address in a transaction whose MAIL FROM did not say SMTPUTF8.

    RFC 6531 section 3.5: 553 "mailbox name not allowed", with the enhanced
    code X.6.7 "Non-ASCII addresses not permitted for that sender/recipient".
    (A server that does not offer SMTPUTF8 never gets this far: aiosmtpd
    refuses a command line with bytes above 127 as it reads it, 500.)
    """
    return f"553 5.6.7 <{address}>: a non-ASCII address needs MAIL FROM with SMTPUTF8 (RFC 6531)"


def smtp_endpoint(host: Host, service: str, accounts: Accounts, limits: Limits, faults: Faults,
                  receive: Receive) -> Endpoint:
    """The SMTP ``service`` (submission, submissions or mx) of ``host``, behind a tap.

    Accepted mail goes to ``receive``. Submissions is TLS from the first
    byte (RFC 8314); the other two offer STARTTLS when ``host`` has TLS.
    The MX's tap obeys ``faults.strip_starttls``, a man in the middle.
    """
    handler = SMTPHandler(host, service, accounts, limits, faults, receive)
    implicit = service == SUBMISSIONS

    def factory() -> LabSMTP:
        # Read for each new session: a changed limit applies from the next connection on.
        return LabSMTP(
            handler,
            starttls=host.tls is not None,
            implicit_tls=implicit,
            hostname=host.hostname,
            ident="ESMTP mailcourse",
            data_size_limit=limits.max_message_size,
            timeout=limits.idle_timeout,
            auth_required=handler.submission,
            # Inside implicit TLS there is nothing to wait for. Elsewhere: passwords only after
            # STARTTLS if the limits say so (aiosmtpd then hides AUTH in EHLO and answers 538).
            auth_require_tls=limits.login_requires_tls and not implicit and host.tls is not None,
            # UTF-8 in command lines and the SMTPUTF8 parameter (RFC 6531); 8BITMIME comes with it.
            enable_SMTPUTF8=limits.offer_smtputf8 and limits.offer_8bitmime,
            authenticator=handler.authenticator,
            loop=host.loop,
        )

    busy = b"421 4.7.0 " + host.hostname.encode() + b" Too many connections, try later\r\n"
    endpoint = host.endpoint(service, "SMTP", factory, limits, busy, implicit_tls=implicit)
    if not implicit:
        endpoint.tamper = faults.tamper  # reads the switch at every write: a change applies at once
    return endpoint
