"""What the figures share: colours, line styles, fonts and the names of services.

Every colour comes from the Tableau 10 palette (matplotlib's and Vega's
default), which stays distinguishable for the common forms of colour
blindness. Colour is
never the only clue, though: a reader who sees no colour at all still tells
the two directions of a ladder apart by the line style (client to server
solid, server to client dashed), and a highlighted hop in the topology by its
thickness and its number.
"""
from __future__ import annotations

from typing import Iterable

from ..trace import C2S, S2C, Connection

BLUE, ORANGE, RED, PURPLE, BROWN, GRAY = "#1f77b4", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#7f7f7f"

# -- the two directions on the wire (ladder) ------------------------------------
# A dash is (on, off) in multiples of the line's width.

ARROW = {
    C2S: {"colour": BLUE, "dash": None},  # client to server: commands
    S2C: {"colour": ORANGE, "dash": (5, 3)},  # server to client: replies (dashed)
}
ARROW_WIDTH = 1.5

# -- the topology's edges -----------------------------------------------------------

EDGE_COLOURS = {
    "SMTP": BLUE,
    "retrieval": PURPLE,  # POP3, IMAP, HTTP: the recipient fetches
    "local": BROWN,
    "other": GRAY,
}
UNUSED = {"colour": GRAY, "dash": (2, 3), "width": 1.4, "opacity": 0.7}
USED_WIDTH = 2.2
HIGHLIGHT = {"colour": RED, "width": 4.5}

NODE_COLOURS = {
    "server": BLUE,
    "client": ORANGE,
    "shell": BROWN,
    "program": GRAY,
}

# -- text -------------------------------------------------------------------------

TEXT = "#1a1a1a"  # labels are near-black whatever their arrow's colour: contrast first
MUTED = "#555555"
FONT = 10  # points; at 100 dpi in a notebook this reads like body text
SMALL = 8.5


def tint(colour: str, amount: float = 0.14) -> str:
    """A pale version of a "#rrggbb" colour: ``amount`` of it on white (a box's fill)."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(255 - amount * (255 - c)):02x}" for c in (r, g, b))

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
    if protocol == "HTTP" and conn.tls:
        return "HTTPS"  # the webmail over TLS (RFC 9110 section 4.2.2)
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
