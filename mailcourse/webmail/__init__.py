"""Webmail: a small web site that reads the mailbox on the server (RFC 9110 HTTP).

Webmail is one more way to reach a mailbox, and an *online* one (the course's
chapter 8): the messages stay on the server, the browser only ever gets
pages. Compared with IMAP it needs no mail program, only a browser; the
price is that it can do only what the site's author implemented, and that
every click is an HTTP request and response (the lab's trace shows them).

The pieces, one module each:

* `app`: the `Webmail` object of a server (``server.webmail``): sessions,
  templates, the extension hook `Webmail.add_view`, the middlewares;
* `views`: the pages, one handler per route (a table of routes is there),
  and `build_app`, the aiohttp application made of them;
* `sessions`: logins, the session cookie (RFC 6265), CSRF tokens (OWASP), throttling;
* `security`: Content-Security-Policy and the other protective headers;
* `sanitize`: cleaning HTML mail with nh3 (Ammonia);
* `attachments`: MIME parts as downloads (RFC 2045, RFC 2183, RFC 6266);
* `mailbox`: reading lists, messages and search results from the store;
* `compose`: replies, forwards and SMTP submission as the user.

`mailcourse.servers.webmail` puts it on the network, behind the lab's tap.
"""
from __future__ import annotations

from .app import ExtraView, Webmail
from .mailbox import MailboxView, Summary

__all__ = ["ExtraView", "MailboxView", "Summary", "Webmail"]
