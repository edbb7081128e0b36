"""Who is logged in: sessions, their cookie, CSRF tokens and the login throttle.

Theory of operation
-------------------
HTTP is stateless (RFC 9110 section 3.3): every request stands alone, so a
web application that wants "jane is logged in" must recognise her browser
again on each request. The usual answer, and the one used here, is a
*session*: on login the server makes up a long random name (a token), keeps
``token -> Session`` in a table in its own memory, and gives the token to
the browser in a cookie (RFC 6265). The browser sends it back with every
request to the same site; the server looks it up. The cookie carries nothing
but the name: who the user is, and her password (which the webmail needs to
submit mail by SMTP as her, as Roundcube keeps it in its session), stay on
the server.

The cookie (RFC 6265 section 4.1)::

    Set-Cookie: webmail-somewhereelse.com=<token>; HttpOnly; SameSite=Strict

* ``HttpOnly`` (section 4.1.2.6): scripts in the page cannot read it. This
  webmail sends no script at all, but an HTML mail that slipped a script
  past the sanitizer could then still not steal the session.
* ``SameSite=Strict`` (RFC 6265bis, implemented by every current browser):
  the browser sends the cookie only with requests that start on this site.
  A form on an evil page that posts to ``.../send`` arrives without it.
* No ``Path``. When a Set-Cookie has no Path, the browser uses the directory
  of the request's path (section 5.1.4, "default-path"). The cookie is set
  by the answer to ``POST .../login``, which lies at the top of the webmail,
  so the default is the webmail's own root: ``/`` when it is opened directly,
  ``<base>/proxy/<port>`` when jupyter-server-proxy serves it under a prefix.
  ``Path=/`` would send the cookie to every other program on the Jupyter
  server's origin; a fixed path would be wrong under a prefix.
* The name holds the mail domain. Cookies do not tell ports apart (RFC 6265
  section 8.5: "cookies for a given host are shared across all the ports on
  that host"), and every webmail of the lab runs on 127.0.0.1: with one
  common name, logging in to the second server would log you out of the first.
* ``Secure`` only when a proxy says the browser came over HTTPS
  (``X-Forwarded-Proto: https``): the lab itself speaks plain HTTP on loopback.
* No ``Expires``/``Max-Age``: it is a session cookie, gone when the browser
  closes. The server forgets an idle session after `SessionTable.idle_timeout`.

Tokens are 32 random bytes from `secrets` (256 bits: nobody guesses one), in
URL-safe base64. A login always makes a *new* session and drops the old one,
so a token somebody planted before the login is worthless afterwards
("session fixation", OWASP Session Management Cheat Sheet).

Cross-site request forgery (OWASP CSRF Prevention Cheat Sheet, "synchronizer
token pattern"): every session has a second random token, written as a
hidden ``csrf`` field into every form the webmail sends. A POST counts only
if that field equals the session's token; another site can make a browser
send the cookie (if SameSite is not honoured) but cannot read our pages to
learn the field. The login form needs one too ("login CSRF": an attacker
logging *you* into *his* account), so showing the login form starts an
anonymous session that has a CSRF token and no user yet.

Login throttling (OWASP Authentication Cheat Sheet, "protect against
automated attacks"): after `LoginThrottle.max_failures` wrong passwords for
one user, or from one client address, within `LoginThrottle.window` seconds,
further attempts get ``429 Too Many Requests`` with ``Retry-After`` (RFC 6585
section 4) without the password even being checked.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field

TOKEN_BYTES = 32  # 256 bits of randomness per token


def new_token() -> str:
    """A fresh unguessable token (32 random bytes, URL-safe base64, no padding)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass
class Session:
    """One browser's session. ``account`` is None until the login succeeds."""

    token: str
    csrf: str
    last_seen: float
    account: str | None = None  # the local part, as the store names accounts
    address: str | None = None  # jane@somewhereelse.com
    password: str | None = field(default=None, repr=False)  # for SMTP AUTH at send time; never shown
    notice: str | None = None  # a one-time message for the next page ("Message sent.")

    @property
    def logged_in(self) -> bool:
        return self.account is not None

    def csrf_ok(self, presented: str | None) -> bool:
        # compare_digest: the time taken does not tell how many characters were right.
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())

    def take_notice(self) -> str | None:
        notice, self.notice = self.notice, None
        return notice


class SessionTable:
    """The server-side table ``token -> Session``, with idle expiry.

    Runs on the lab's loop; a lock makes it safe to look at from a notebook
    cell too. ``max_sessions`` bounds the memory a flood of anonymous
    visitors can take: the least recently used session goes first.
    """

    def __init__(self, idle_timeout: float = 1800.0, max_sessions: int = 1000,
                 clock=time.monotonic) -> None:
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, account: str | None = None, address: str | None = None,
               password: str | None = None) -> Session:
        session = Session(new_token(), new_token(), self._clock(), account, address, password)
        with self._lock:
            while len(self._sessions) >= self.max_sessions:
                oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
                del self._sessions[oldest.token]
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of ``token``, touched; None if unknown or idle too long."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if now - session.last_seen > self.idle_timeout:
                del self._sessions[token]
                return None
            session.last_seen = now
            return session

    def drop(self, session: Session | None) -> None:
        if session is not None:
            with self._lock:
                self._sessions.pop(session.token, None)

    def logged_in(self) -> list[Session]:
        """The sessions with a user (for a notebook: "who is logged in to the webmail?")."""
        with self._lock:
            return [s for s in self._sessions.values() if s.logged_in]


class LoginThrottle:
    """Counts failed logins per user and per client address in a sliding window."""

    def __init__(self, max_failures: int = 5, window: float = 60.0, clock=time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            self._failures.pop(key, None)
        return times

    def retry_after(self, user: str, client: str) -> int | None:
        """Seconds to wait if ``user`` or ``client`` failed too often lately, else None."""
        now = self._clock()
        waits = []
        for key in (f"user:{user}", f"addr:{client}"):
            times = self._recent(key, now)
            if len(times) >= self.max_failures:
                # Free again when enough of the failures have left the window.
                waits.append(times[-self.max_failures] + self.window - now)
        return max(1, int(max(waits)) + 1) if waits else None

    def failed(self, user: str, client: str) -> None:
        now = self._clock()
        for key in (f"user:{user}", f"addr:{client}"):
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = times

    def succeeded(self, user: str) -> None:
        """A right password clears the user's count (not the address's: one address may try many users)."""
        self._failures.pop(f"user:{user}", None)


def cookie_header(name: str, token: str, *, secure: bool = False) -> str:
    """The Set-Cookie value for a session (see the module docstring for each attribute)."""
    return f"{name}={token}; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")


def expired_cookie_header(name: str) -> str:
    """Tells the browser to forget the cookie (RFC 6265 section 5.3: Max-Age=0 expires it at once)."""
    return f"{name}=; Max-Age=0; HttpOnly; SameSite=Strict"
