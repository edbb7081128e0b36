"""The accounts of one mail domain: who may log in, and with which password.

A leaf module, like the store next to it. Every way into a mailbox asks the
same object: SMTP AUTH on the submission port (RFC 4954), POP3's USER/PASS
and APOP (RFC 1939 section 7), IMAP's LOGIN (RFC 3501 section 6.2.3) and the
webmail's login form. The servers in `mailcourse.servers` are given an
`Accounts`, not the mail server that owns it, so each can be built and tested
with an `Accounts` and a `MailStore` alone.

A login is the full address (``jane@somewhereelse.com``); the local part alone
(``jane``) is accepted too, as every account here is in the one domain. The
passwords are kept in clear text: APOP needs the secret itself, and the lab's
accounts are fake (never put a real password in a lab).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import LabError

if TYPE_CHECKING:
    from .store import MailStore


class Accounts:
    """The accounts of ``domain``: local part -> password, in ``users``.

    With a ``store``, a new account gets its mailbox (an empty INBOX) at once,
    so that a client can log in and find it before any mail has arrived.
    """

    def __init__(self, domain: str, store: MailStore | None = None) -> None:
        self.domain = domain.lower()
        self.store = store
        self.users: dict[str, str] = {}  # local part -> password

    def __repr__(self) -> str:
        return f"<Accounts of {self.domain}: {sorted(self.users)}>"

    def split(self, login: str) -> tuple[str, str]:
        """(local part, domain) of a login, lower-case; a bare local part is in this domain."""
        login = login.strip().lower()
        local, _, domain = login.rpartition("@") if "@" in login else (login, "", self.domain)
        return local, domain

    def address(self, login: str) -> str:
        """The full address a login names: ``jane`` -> ``jane@somewhereelse.com``."""
        return "@".join(self.split(login))

    def add_user(self, name: str, password: str) -> str:
        """Add an account (``joe`` or ``joe@<domain>``); returns its address."""
        local, domain = self.split(name)
        if domain != self.domain:
            raise LabError(f"{name} is not an address of {self.domain}")
        if self.store is not None:
            self.store.create_account(local)
        self.users[local] = password
        return f"{local}@{self.domain}"

    def is_local_domain(self, domain: str) -> bool:
        return domain.lower() == self.domain

    def has_user(self, address: str) -> bool:
        """Is ``address`` (a full address: SMTP's RCPT names one) an account here?"""
        local, _, domain = address.lower().rpartition("@")
        return self.is_local_domain(domain) and local in self.users

    def authenticate(self, login: str, password: str) -> str | None:
        """The address of the account, if the login and password are right."""
        local, domain = self.split(login)
        if domain != self.domain or self.users.get(local) != password:
            return None
        return f"{local}@{self.domain}"

    def account(self, login: str, password: str) -> str | None:
        """The account (its local part, as the store names it) a login opens, or None."""
        address = self.authenticate(login, password)
        return None if address is None else address.partition("@")[0]

    def shared_secret(self, login: str) -> tuple[str, str] | None:
        """(account, secret) for APOP (RFC 1939 section 7), or None.

        APOP never sends the password: the client sends MD5(timestamp +
        secret), so the server must hold the secret itself to compute the same.
        """
        local, domain = self.split(login)
        password = self.users.get(local) if domain == self.domain else None
        return None if password is None else (local, password)
