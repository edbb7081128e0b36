"""What the figures share: colours, line styles, fonts and the names of services.

Every colour comes from matplotlib's Tableau palette ("tab:blue", ...), which
stays distinguishable for the common forms of colour blindness. Colour is
never the only clue, though: a reader who sees no colour at all still tells
the two directions of a ladder apart by the line style (client to server
solid, server to client dashed), and a highlighted hop in the topology by its
thickness and its number.
"""
from __future__ import annotations

from typing import Iterable

from ..trace import C2S, S2C, Connection

# -- the two directions on the wire (ladder) ------------------------------------

ARROW = {
    C2S: {"color": "tab:blue", "linestyle": "-"},  # client to server: commands
    S2C: {"color": "tab:orange", "linestyle": (0, (5, 3))},  # server to client: replies (dashed)
}
ARROW_WIDTH = 1.5

# -- the topology's edges -----------------------------------------------------------

EDGE_COLOURS = {
    "SMTP": "tab:blue",
    "retrieval": "tab:purple",  # POP3, IMAP, HTTP: the recipient fetches
    "local": "tab:brown",
    "other": "tab:gray",
}
UNUSED = {"color": "tab:gray", "linestyle": (0, (2, 3)), "linewidth": 1.4, "alpha": 0.7}
USED_WIDTH = 2.2
HIGHLIGHT = {"color": "tab:red", "linewidth": 4.5}

NODE_COLOURS = {
    "server": "tab:blue",
    "client": "tab:orange",
    "shell": "tab:brown",
    "program": "tab:gray",
}

# -- text -------------------------------------------------------------------------

TEXT = "#1a1a1a"  # labels are near-black whatever their arrow's colour: contrast first
MUTED = "#555555"
FONT = 10  # points; at 100 dpi in a notebook this reads like body text
SMALL = 8.5
MONO = "DejaVu Sans Mono"  # ships with matplotlib, so every machine draws the same glyphs

RETRIEVAL = ("POP3", "IMAP", "HTTP")


def service_name(conn: Connection, servers: Iterable[str] = ()) -> str:
    """How the course names what a connection carried, e.g. ``"SMTP (submission)"``.

    ``servers`` are the device names of the lab's mail servers: an MX
    connection opened by one of them is a relay (RFC 5321 section 2.3.10),
    one opened by any other program is a client talking to an MX directly.
    """
    protocol = conn.protocol.upper()
    if protocol == "LOCAL":
        return "local (sendmail)"
    if protocol == "SMTP":
        if conn.service == "submission":
            return "SMTP (submission)"  # RFC 6409
        if conn.service == "mx":
            return "SMTP (relay, MX)" if conn.client in set(servers) else "SMTP (MX)"
    if protocol in RETRIEVAL:
        return protocol
    if not conn.service or conn.service.upper() == protocol:
        return conn.protocol
    return f"{conn.protocol} ({conn.service})"


def family(protocol: str) -> str:
    """The colour family of a protocol: "SMTP", "retrieval", "local" or "other"."""
    protocol = protocol.upper()
    if protocol == "SMTP":
        return "SMTP"
    if protocol in RETRIEVAL:
        return "retrieval"
    if protocol == "LOCAL":
        return "local"
    return "other"


def shorten(text: str, width: int) -> str:
    """One line of at most ``width`` characters: tabs and runs of spaces become one space."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"
