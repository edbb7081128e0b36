"""The asyncio adapters that put the lab's protocols on the network.

Each module turns socket bytes into calls of a protocol machine (aiosmtpd's
SMTP, `mailcourse.protocols.pop3`, `mailcourse.protocols.imap`, the webmail's
aiohttp application) and back, behind a tap. An adapter is given the narrow
parts it uses (accounts, a store, limits, faults, the tap network), never a
whole mail server: the servers do not know the device layer.

The service names below are how a mail server lists its endpoints
(``server.endpoints["imap"]``). They live here, in a module without imports,
so that a client can name the webmail without importing aiohttp.
"""
SUBMISSION = "submission"  # SMTP from a user's mail program (RFC 6409), STARTTLS offered
MX = "mx"  # SMTP from other mail servers (RFC 5321), STARTTLS offered
POP3 = "pop3"  # RFC 1939, STLS offered (RFC 2595)
IMAP = "imap"  # RFC 3501, STARTTLS offered
WEBMAIL = "webmail"  # HTTP for browsers
# Implicit TLS, TLS from the first byte (RFC 8314): ports 465, 995 and 993 in the real world.
SUBMISSIONS = "submissions"
POP3S = "pop3s"
IMAPS = "imaps"
WEBMAILS = "webmails"  # the webmail with TLS from the first byte (RFC 9110 section 4.2.2; 443), if asked for
