"""The topology: the classic four-device figure, drawn from what the lab really did.

    joe-laptop --SMTP (submission)--> mail.someplace.org --SMTP (relay, MX)-->
        mail.somewhereelse.com --POP3 / IMAP / HTTP--> jane-laptop

Each device of the lab is a node: its client hosts (orange, rounded) and its
mail servers (blue, square). Edges point the way mail flows. An edge that
some session in the trace really used is drawn solid and labelled with the
protocol that carried it; an edge of the four-device model that nothing has
used yet is drawn faint and dashed, with the protocol that would carry it.
Mind the last edge: mail flows from Jane's server to Jane's laptop, but it is
the laptop that opens the connection and asks (POP3, IMAP, HTTP are "pull"
protocols; SMTP "pushes").

With ``message_id``, the hops that message took (`Trace.hops`) are marked as
with a highlighter pen (thick, red, under the edge) and numbered 1, 2, 3 in
order. A user who hands a message over on the server host itself (the local
``sendmail`` of `MailServer.inject`) appears as a node of its own under that
server.

The graph is a `networkx.DiGraph` (``diagram.graph``): nodes carry ``kind``
and ``pos``, edges carry ``label``, ``used`` and ``hops``, for anyone who
wants to compute on it. Positions are fixed columns, never a force-directed
layout, so the figure is the same on every run. The drawing itself needs no
graph library (plain dicts of nodes and edges), so networkx, some 11 MB in a
kernel, is imported only when someone asks for ``diagram.graph``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..trace import Connection
from . import style
from .diagram import Diagram, Edge
from .svg import Canvas, text_width

if TYPE_CHECKING:
    from ..lab import Lab
    from ..trace import Trace

# Layout, in inches.
BOX_HEIGHT = 0.78
ROW_STEP = 1.55  # between two nodes stacked in one column
MIN_GAP = 1.2  # between two neighbouring boxes, at least
MARGIN = 0.35
NAME_SIZE = style.FONT + 0.5
LABEL_SIZE = style.FONT - 0.5

ROLES = {"server": "mail server", "client": "client host", "shell": "user on the server host",
         "program": "program outside the lab"}


def topology(lab: Lab, message_id: str | None = None, *, title: str | None = None) -> Diagram:
    """The four-device figure of ``lab``, with the edges its traffic used.

    ``message_id`` (e.g. ``msg["Message-ID"]``) highlights and numbers the
    hops of that message. The returned `Diagram` lists what was drawn:
    ``nodes``, ``edges`` (every edge, used or not) and ``hops`` (the edge of
    each hop, in order).
    """
    hops = lab.trace.hops(message_id) if message_id else []
    sessions = lab.trace.sessions()  # after hops: every hop is among them
    servers = _server_order([s.hostname for s in lab.servers.values()], hops)
    owners = {name: client.address for name, client in lab.clients.items()}

    # Every device: its kind and its home server (the server it is drawn next to).
    kinds: dict[str, str] = {name: "server" for name in servers}
    home: dict[str, str] = {}
    for name, client in lab.clients.items():
        kinds[name], home[name] = "client", client.server.hostname
    for conn in sessions:
        for device in (conn.client, conn.server):
            if device not in kinds:
                kinds[device] = "shell" if conn.protocol.lower() == "local" else "program"
                home[device] = conn.server

    sender = hops[0].client if hops and kinds.get(hops[0].client) == "client" else None
    sides = _sides(kinds, home, servers, sender)
    edges = _edges(kinds, sides, home, servers, sessions)
    hop_edges = []
    for number, conn in enumerate(hops, start=1):
        edge = edges[_edge_of(conn, set(servers))[0]]
        edge.hops.append(number)
        hop_edges.append(edge)

    captions = {name: owners.get(name, ROLES[kind]) for name, kind in kinds.items()}
    widths = _box_widths(captions)
    pos, width = _positions(sides, home, servers, widths, edges)

    # Edges grouped by their source, in the order of the nodes, as networkx lists them: the order they are drawn in.
    order = {name: i for i, name in enumerate(pos)}
    graph = Graph({name: {"kind": kinds[name], "pos": pos[name], "caption": captions[name]} for name in pos},
                  {(edge.src, edge.dst): {"label": edge.label, "used": edge.used, "sessions": edge.sessions,
                                          "hops": list(edge.hops), "family": edge.family}
                   for edge in sorted(edges.values(), key=lambda edge: order[edge.src])})

    nodes = sorted(pos, key=lambda n: pos[n])  # left to right, then top to bottom
    draw = functools.partial(_draw, graph, widths, width, title, message_id if hops else None)
    message = _called(lab.trace, hops) if message_id else ""
    alt = _alt(nodes, kinds, home, owners, list(edges.values()), hop_edges, message)
    return Diagram(draw, alt, "topology", nodes=nodes, edges=list(edges.values()),
                   hops=hop_edges, message=message, build_graph=graph.digraph)


@dataclass(frozen=True)
class Graph:
    """What the drawing needs of the graph: each node's and each edge's attributes, in order."""

    nodes: dict[str, dict[str, Any]]
    edges: dict[tuple[str, str], dict[str, Any]]

    def digraph(self) -> Any:
        """The same graph as a `networkx.DiGraph`."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes.items())
        graph.add_edges_from((a, b, data) for (a, b), data in self.edges.items())
        return graph


def _sides(kinds: dict[str, str], home: dict[str, str], servers: list[str],
           sender: str | None) -> dict[str, str]:
    """Where each device goes: "left", "right", "below" its server, or "server".

    The servers stand in a row. The first server's client hosts go on the
    left (they send), the last server's on the right (they receive); with
    one server only, the sender goes left and everyone else right. Users on
    a server host, programs from outside, and clients of servers in the
    middle go below their server.
    """
    sides: dict[str, str] = {}
    first_client = next((n for n, k in kinds.items() if k == "client"), None)
    for name, kind in kinds.items():
        if kind == "server":
            sides[name] = "server"
            continue
        index = servers.index(home[name]) if kind == "client" else -1
        if kind != "client":
            sides[name] = "below"
        elif len(servers) == 1:
            sides[name] = "left" if name == (sender or first_client) else "right"
        elif index == 0:
            sides[name] = "left"
        elif index == len(servers) - 1:
            sides[name] = "right"
        else:
            sides[name] = "below"
    return sides


def _edges(kinds: dict[str, str], sides: dict[str, str], home: dict[str, str], servers: list[str],
           sessions: list[Connection]) -> dict[tuple[str, str], Edge]:
    """The four-device model's edges, then the edges traffic used (which may be new ones)."""
    edges: dict[tuple[str, str], Edge] = {}
    for name, side in sides.items():
        if side == "left":
            edges[(name, home[name])] = Edge(name, home[name], "SMTP (submission)", "SMTP")
    for b in servers[1:]:  # the sender's server relays to each other server directly
        edges[(servers[0], b)] = Edge(servers[0], b, "SMTP (relay, MX)", "SMTP")
    for name, side in sides.items():
        if side == "right" or (side == "below" and kinds[name] == "client"):
            edges[(home[name], name)] = Edge(home[name], name, "POP3 / IMAP / HTTP", "retrieval")
    for conn in sessions:
        key, label, fam = _edge_of(conn, set(servers))
        edge = edges.get(key)
        if edge is None:
            edge = edges[key] = Edge(key[0], key[1], label, fam)
        if not edge.used:  # the model's guess gives way to what really happened
            edge.label, edge.family, edge.used = label, fam, True
        elif label not in edge.label.split(" / "):
            edge.label += " / " + label
        edge.sessions += 1
    return edges


def _positions(sides: dict[str, str], home: dict[str, str], servers: list[str], widths: dict[str, float],
               edges: dict[tuple[str, str], Edge]) -> tuple[dict[str, tuple[float, float]], float]:
    """Fixed positions in inches (y downwards), and the width they need."""
    columns = [[n for n, side in sides.items() if side == "left"]]
    columns += [[s] for s in servers]
    columns.append([n for n, side in sides.items() if side == "right"])
    columns = [c for c in columns if c]
    below = {s: [n for n, side in sides.items() if side == "below" and home[n] == s] for s in servers}

    pos: dict[str, tuple[float, float]] = {}
    x = MARGIN
    for i, names in enumerate(columns):
        members = names + [n for s in names for n in below.get(s, [])]
        half = max(widths[n] for n in members) / 2
        if i:
            x += _gap_need(edges, columns[i - 1], names)
        for j, name in enumerate(names):
            pos[name] = (x + half, (j - (len(names) - 1) / 2) * ROW_STEP)
            for k, extra in enumerate(below.get(name, []), start=1):
                pos[extra] = (x + half, pos[name][1] + k * ROW_STEP)
        x += 2 * half
    return pos, x + MARGIN


def _server_order(servers: list[str], hops: list[Connection]) -> list[str]:
    """The lab's servers, those a highlighted message passed first, in its order."""
    order: list[str] = []
    for conn in hops:
        for device in (conn.client, conn.server):
            if device in servers and device not in order:
                order.append(device)
    return order + [s for s in servers if s not in order]


def _edge_of(conn: Connection, servers: set[str]) -> tuple[tuple[str, str], str, str]:
    """The edge a session used, its label and colour family. Edges follow the mail."""
    protocol = conn.protocol.upper()
    if protocol in style.RETRIEVAL:
        return (conn.server, conn.client), style.service_name(conn, servers), "retrieval"
    return (conn.client, conn.server), style.service_name(conn, servers), style.family(protocol)


# -- measuring and drawing ----------------------------------------------------------------

def _text_width(text: str, size: float, weight: str = "normal") -> float:
    """How wide ``text`` is, in inches (`mailcourse.viz.svg.text_width`)."""
    return text_width(text, size, bold=weight == "bold")


def _box_widths(captions: dict[str, str]) -> dict[str, float]:
    return {name: max(_text_width(name, NAME_SIZE, "bold"), _text_width(caption, style.SMALL)) + 0.32
            for name, caption in captions.items()}


def _wrapped(label: str) -> str:
    """"SMTP (relay, MX)" drawn on two lines, "SMTP" over "(relay, MX)", to fit between boxes."""
    head, paren, rest = label.partition(" (")
    if paren:
        return head + "\n(" + rest
    first, slash, last = label.rpartition(" / ")  # "POP3 / IMAP / HTTP"
    return first + " /\n" + last if slash and " / " in first else label


def _gap_need(edges: dict[tuple[str, str], Edge], a: list[str], b: list[str]) -> float:
    need = MIN_GAP
    for edge in edges.values():
        if (edge.src in a and edge.dst in b) or (edge.src in b and edge.dst in a):
            lines = _wrapped(edge.label).split("\n")
            need = max(need, max(_text_width(line, LABEL_SIZE) for line in lines) + 0.5)
    return need


def _draw(graph: Graph, widths: dict[str, float], width: float, title: str | None,
          message_id: str | None) -> Canvas:
    places = {n: d["pos"] for n, d in graph.nodes.items()}
    bends = {(a, b): _bend(graph, a, b, places, widths) for a, b in graph.edges}
    labels = {(a, b): _label_place(places[a], places[b], bends[(a, b)], d)
              for (a, b), d in graph.edges.items()}

    # The drawing's vertical extent: boxes, and every label with its room (two lines at most).
    tops = [y - BOX_HEIGHT / 2 - 0.15 for _, y in places.values()]
    bottoms = [y + BOX_HEIGHT / 2 + 0.15 for _, y in places.values()]
    for (tx, ty, _, va), text in ((p[:4], p[4]) for p in labels.values()):
        tall = 0.19 * (text.count("\n") + 1)
        tops.append(ty - (tall if va == "bottom" else tall / 2 if va == "center" else 0) - 0.1)
        bottoms.append(ty + (tall if va == "top" else tall / 2 if va == "center" else 0) + 0.1)
    key = _key(graph, message_id is not None)
    ncols = _key_columns(key, width)
    key_rows = -(-len(key) // ncols)
    head = 0.15 + (0.55 if title else 0)
    height = head + max(bottoms) - min(tops) + 0.25 + 0.28 * key_rows
    canvas = Canvas(width, height)
    shift = head - min(tops)  # moves everything down, below the title
    pos = {n: (x, y + shift) for n, (x, y) in places.items()}
    if title:
        canvas.text(width / 2, 0.2, title, size=style.FONT + 3, colour=style.TEXT, anchor="middle",
                    baseline="top", bold=True)

    curves = {}
    for (src, dst), data in graph.edges.items():
        curves[(src, dst)] = _clipped(pos[src], pos[dst], bends[(src, dst)], widths[src], widths[dst])
        if data["hops"]:  # the highlighter stroke goes under everything
            canvas.curve(*curves[(src, dst)], colour=style.HIGHLIGHT["colour"], opacity=0.4,
                         width=style.HIGHLIGHT["width"] * 2.2, cap="round")

    for name in graph.nodes:
        kind = graph.nodes[name]["kind"]
        colour = style.NODE_COLOURS[kind]
        x, y = pos[name]
        w = widths[name]
        canvas.rect(x - w / 2, y - BOX_HEIGHT / 2, w, BOX_HEIGHT, fill=style.tint(colour), stroke=colour,
                    width=1.8, radius=0 if kind == "server" else 0.16)
        canvas.text(x, y - 0.08, name, size=NAME_SIZE, colour=style.TEXT, anchor="middle", baseline="middle",
                    bold=True)
        canvas.text(x, y + 0.2, graph.nodes[name]["caption"], size=style.SMALL, colour=style.MUTED,
                    anchor="middle", baseline="middle")

    for (src, dst), data in graph.edges.items():
        start, control, end = curves[(src, dst)]
        colour = style.EDGE_COLOURS[data["family"]]
        look = ({"colour": colour, "width": style.USED_WIDTH} if data["used"]
                else {k: v for k, v in style.UNUSED.items()})
        # An arrowhead as matplotlib's "-|>" at mutation scale 20 (18 faint): 0.4 and 0.2 of it, in points.
        scale = 20 if data["used"] else 18
        length, half = 0.4 * scale / 72, 0.2 * scale / 72
        stop = _shortened(start, control, end, length)
        canvas.curve(*stop, **look)
        canvas.head(end, _tangent(stop[1], end), colour=look["colour"], length=length, half=half)
        tx, ty, ha, va, text, (mx, my) = labels[(src, dst)]
        faint = not data["used"]
        canvas.text(tx, ty + shift, text, size=LABEL_SIZE, colour=style.MUTED if faint else style.TEXT,
                    anchor=_ANCHOR[ha], baseline=_BASELINE[va], italic=faint, spacing=1.15)
        if data["hops"]:
            numbers = ", ".join(str(n) for n in data["hops"])
            radius = max(0.12, text_width(numbers, style.FONT, bold=True) / 2 + 0.06)
            canvas.circle(mx, my + shift, radius, fill=style.HIGHLIGHT["colour"], stroke="#ffffff", width=1.2)
            canvas.text(mx, my + shift, numbers, size=style.FONT, colour="#ffffff", anchor="middle",
                        baseline="middle", bold=True)

    _legend(canvas, key, ncols)
    return canvas


_ANCHOR = {"left": "start", "center": "middle", "right": "end"}
_BASELINE = {"top": "top", "center": "middle", "bottom": "bottom"}
_SHRINK = 3 / 72  # an edge stops 3 points short of the boxes it joins

Point = tuple[float, float]


def _bezier(p0: Point, c: Point, p1: Point, t: float) -> Point:
    u = 1 - t
    return (u * u * p0[0] + 2 * u * t * c[0] + t * t * p1[0], u * u * p0[1] + 2 * u * t * c[1] + t * t * p1[1])


def _clipped(a: Point, b: Point, rad: float, width_a: float, width_b: float) -> tuple[Point, Point, Point]:
    """The edge from box ``a`` to box ``b`` as a quadratic curve that starts and ends at their borders.

    ``rad`` bends it as matplotlib's "arc3" does: the control point stands
    ``rad`` times the distance between the ends off the middle, to the
    side. (With y downwards, rad > 0 bows to the left of the direction of
    travel.)
    """
    (x1, y1), (x2, y2) = a, b
    control = ((x1 + x2) / 2 - rad * (y2 - y1), (y1 + y2) / 2 + rad * (x2 - x1))

    def inside(point: Point, centre: Point, w: float) -> bool:
        return (abs(point[0] - centre[0]) <= w / 2 + _SHRINK
                and abs(point[1] - centre[1]) <= BOX_HEIGHT / 2 + _SHRINK)

    def border(lo: float, hi: float, centre: Point, w: float) -> float:
        # Bisection between a point inside the box (lo) and one outside (hi).
        for _ in range(30):
            mid = (lo + hi) / 2
            if inside(_bezier(a, control, b, mid), centre, w):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    t0, t1 = border(0.0, 0.5, a, width_a), border(1.0, 0.5, b, width_b)
    u0, u1 = 1 - t0, 1 - t1
    # The piece of the curve between t0 and t1 is a quadratic curve of its own (de Casteljau).
    piece = (u0 * u1 * x1 + (u0 * t1 + t0 * u1) * control[0] + t0 * t1 * x2,
             u0 * u1 * y1 + (u0 * t1 + t0 * u1) * control[1] + t0 * t1 * y2)
    return _bezier(a, control, b, t0), piece, _bezier(a, control, b, t1)


def _shortened(start: Point, control: Point, end: Point, by: float) -> tuple[Point, Point, Point]:
    """The curve without its last ``by`` inches (measured straight from the end): room for the head."""
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        x, y = _bezier(start, control, end, mid)
        if ((x - end[0]) ** 2 + (y - end[1]) ** 2) ** 0.5 > by:
            lo = mid
        else:
            hi = mid
    t = lo
    return start, ((1 - t) * start[0] + t * control[0], (1 - t) * start[1] + t * control[1]), \
        _bezier(start, control, end, t)


def _tangent(control: Point, end: Point) -> Point:
    return end[0] - control[0], end[1] - control[1]


def _bend(graph: Graph, a: str, b: str, pos: dict[str, tuple[float, float]], widths: dict[str, float]) -> float:
    """How much an edge curves (as matplotlib's arc3 ``rad``, see `_clipped`): 0 is straight.

    Two edges between the same devices, one each way, bow apart. An edge
    whose straight line would cross another device's box bows around it
    (upwards: the space under the servers holds the devices placed below).
    """
    (x1, y1), (x2, y2) = pos[a], pos[b]
    crossed = False
    for name, (x, y) in pos.items():
        if name in (a, b):
            continue
        half_w, half_h = widths[name] / 2 + 0.05, BOX_HEIGHT / 2 + 0.05
        for i in range(1, 40):
            t = i / 40
            if abs(x1 + t * (x2 - x1) - x) < half_w and abs(y1 + t * (y2 - y1) - y) < half_h:
                crossed = True
                break
    if crossed:
        # With y downwards, arc3 bows to the left of the direction of travel when rad > 0.
        return -0.35 if x2 > x1 else 0.35 if x2 < x1 else 0.35
    return 0.22 if (b, a) in graph.edges else 0.0


def _label_place(a: tuple[float, float], b: tuple[float, float], rad: float,
                 data: dict) -> tuple[float, float, str, str, str, tuple[float, float]]:
    """Where an edge's label goes: (x, y, ha, va, text, middle of the edge)."""
    (x1, y1), (x2, y2) = a, b
    dx, dy = x2 - x1, y2 - y1
    # The middle of the curve (see `_clipped`), in these y-down inch units.
    mx, my = (x1 + x2) / 2 - rad * dy / 2, (y1 + y2) / 2 + rad * dx / 2
    text = _wrapped(data["label"])
    gap = 0.24 if data["hops"] else 0.09
    if abs(dx) < 0.01:  # vertical: beside the edge, on the side a curved one bows to
        side = -1 if mx < x1 - 0.01 else 1
        return mx + side * (gap + 0.05), my, "left" if side > 0 else "right", "center", text, (mx, my)
    if not rad:
        # A sloping edge rises under one end of its label: lift the label by that much.
        half = max(_text_width(line, LABEL_SIZE) for line in text.split("\n")) / 2
        gap += abs(dy / dx) * half
    if rad * dx > 0:  # bows downwards: the label goes under the curve
        return mx, my + gap, "center", "top", text, (mx, my)
    return mx, my - gap, "center", "bottom", text, (mx, my)


@dataclass(frozen=True)
class KeyEntry:
    """One entry of the legend: a box (a kind of device) or a line (a kind of edge), and its words."""

    label: str
    colour: str
    box: bool = False
    width: float = 1.0
    dash: tuple[float, ...] | None = None
    opacity: float | None = None


def _key(graph: Graph, highlighted: bool) -> list[KeyEntry]:
    """The legend's entries: what this figure shows, and only that."""
    entries: list[KeyEntry] = []
    for kind, text in (("client", "client host"), ("server", "mail server"), ("shell", "user on a server"),
                       ("program", "program outside the lab")):
        if any(d["kind"] == kind for d in graph.nodes.values()):
            entries.append(KeyEntry(text, style.NODE_COLOURS[kind], box=True, width=1.8))
    edges = list(graph.edges.values())
    for fam, text in (("SMTP", "used: SMTP"), ("retrieval", "used: POP3 / IMAP / HTTP"),
                      ("local", "used: local hand-over"), ("other", "used: other")):
        if any(d["used"] and d["family"] == fam for d in edges):
            entries.append(KeyEntry(text, style.EDGE_COLOURS[fam], width=style.USED_WIDTH))
    if any(not d["used"] for d in edges):
        entries.append(KeyEntry("not used yet", style.UNUSED["colour"], width=style.UNUSED["width"],
                                dash=style.UNUSED["dash"], opacity=style.UNUSED["opacity"]))
    if highlighted:
        entries.append(KeyEntry("hops of the message, numbered", style.HIGHLIGHT["colour"],
                                width=style.HIGHLIGHT["width"] * 2.2, opacity=0.4))
    return entries


_HANDLE = 2.4 * style.SMALL / 72  # an entry's box or line, 2.4 em long
_KEY_GAP = 0.8 * style.SMALL / 72, 1.6 * style.SMALL / 72  # handle to words, entry to entry


def _entry_width(entry: KeyEntry) -> float:
    return _HANDLE + _KEY_GAP[0] + _text_width(entry.label, style.SMALL) + _KEY_GAP[1]


def _key_columns(entries: list[KeyEntry], width: float) -> int:
    """All entries in one row if they fit the figure's width, else as many columns as fit."""
    if not entries:
        return 1
    widths = [_entry_width(e) for e in entries]
    room = width - 2 * MARGIN
    if sum(widths) <= room:
        return len(entries)
    return max(1, min(len(entries), int(room // max(widths))))


def _legend(canvas: Canvas, entries: list[KeyEntry], ncols: int) -> None:
    """The legend along the bottom, centred: ``ncols`` entries a row, in columns as wide as the widest."""
    if not entries:
        return
    rows = [entries[i:i + ncols] for i in range(0, len(entries), ncols)]
    column = max(_entry_width(e) for e in entries) if len(rows) > 1 else None
    for r, row in enumerate(rows):
        y = canvas.height - 0.28 * (len(rows) - r) + 0.06
        widths = [column or _entry_width(e) for e in row]
        x = (canvas.width - sum(widths) + _KEY_GAP[1]) / 2
        for entry, w in zip(row, widths):
            if entry.box:
                canvas.rect(x, y - 0.05, _HANDLE, 0.1, fill=style.tint(entry.colour), stroke=entry.colour,
                            width=entry.width)
            else:
                canvas.line(x, y, x + _HANDLE, y, colour=entry.colour, width=entry.width, dash=entry.dash,
                            opacity=entry.opacity)
            canvas.text(x + _HANDLE + _KEY_GAP[0], y, entry.label, size=style.SMALL, colour=style.TEXT,
                        baseline="middle")
            x += w


# -- the words ------------------------------------------------------------------------------


def _called(trace: Trace, hops: list[Connection]) -> str:
    """How the words name the message: its Subject as the first hop carried it, not its Message-ID.

    (An id is a string of random letters to a reader; NOTEBOOK_GUIDE.md: ids are
    not printed unless they are the point.)
    """
    for conn in hops[:1]:
        for exchange in trace.exchanges(conn):
            for line in exchange.data or []:
                if not line:
                    break  # the end of the header
                if line.lower().startswith("subject:"):
                    return f'"{line.split(":", 1)[1].strip()}"'
    return "the message"


def _alt(nodes: list[str], kinds: dict[str, str], home: dict[str, str], owners: dict[str, str],
         edges: list[Edge], hops: list[Edge], message: str | None) -> str:
    def device(name: str) -> str:
        kind = kinds[name]
        if kind == "client":
            return f"{name} (client host of {owners[name]})"
        if kind == "server":
            return f"{name} (mail server)"
        return f"{name} ({ROLES[kind]}, next to {home[name]})"

    out = [f"Topology: {len(nodes)} devices, left to right: {', '.join(device(n) for n in nodes)}."]
    used = [e for e in edges if e.used]
    unused = [e for e in edges if not e.used]
    if used:
        out.append("Used: " + "; ".join(
            f"{e.src} -> {e.dst}, {e.label} ({e.sessions} session{'s' if e.sessions != 1 else ''})"
            for e in used) + ".")
    else:
        out.append("No traffic yet.")
    if unused:
        out.append("Not used yet: " + "; ".join(f"{e.src} -> {e.dst}, {e.label}" for e in unused) + ".")
    if message:
        if hops:
            out.append(f"Hops of {message}: " + "; ".join(
                f"{i}. {e.src} -> {e.dst}, {e.label}" for i, e in enumerate(hops, start=1)) + ".")
        else:
            out.append(f"No hop of {message} in the trace yet.")
    return "\n".join(out)
