"""LIST, extended: which folders there are, and what a client wants to know of each (RFC 5258, RFC 5819).

Theory of operation
-------------------
RFC 3501's ``LIST reference pattern`` names the folders whose names match
the pattern (section 6.3.8: ``*`` matches anything, ``%`` anything but the
hierarchy delimiter). LIST-EXTENDED (RFC 5258 section 3) lets one command
say more, in two optional parenthesised lists around it::

    LIST (SUBSCRIBED RECURSIVEMATCH) "" (INBOX Work.*) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))
         ^ selection options             ^ several patterns   ^ return options

* Selection options choose *which* names: SUBSCRIBED (the subscribed ones,
  even those that no longer exist, marked ``\\NonExistent``), SPECIAL-USE
  (RFC 6154 section 3: only Sent, Drafts, Trash...), RECURSIVEMATCH (also
  the parents of what was chosen, with ``("CHILDINFO" ("SUBSCRIBED"))``
  saying why they are there; RFC 5258 section 3.5) and REMOTE (this server
  has no remote folders, so it changes nothing: section 3.3).
* Return options say *what else* to tell: SUBSCRIBED adds ``\\Subscribed``,
  CHILDREN and SPECIAL-USE the attributes this server always sends anyway,
  and STATUS (RFC 5819) one ``* STATUS`` line after each folder's LIST line,
  so a client learns every folder's counts in one round trip.

`parse_list` reads the arguments into a `ListRequest`; `select` says which
names to answer with, with which attributes. The session adds the wire
format and the STATUS counts, which need the mail.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .types import Atom, Value, text

INBOX = "INBOX"
SELECTION_OPTIONS = ("SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE")  # RFC 5258 3.1, RFC 6154 3
RETURN_OPTIONS = ("SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS")  # RFC 5258 3.2, RFC 6154 3, RFC 5819


@dataclass
class ListRequest:
    """One LIST command, read: what to select, among which names, and what to return."""

    reference: str
    patterns: list[str]
    selection: set[str] = field(default_factory=set)
    returns: set[str] = field(default_factory=set)
    status_items: list[str] = field(default_factory=list)  # RETURN (STATUS (...)), RFC 5819

    @property
    def extended(self) -> bool:
        """Whether the client used RFC 5258's syntax (then \\NonExistent and CHILDINFO may appear)."""
        return bool(self.selection or self.returns) or len(self.patterns) != 1


@dataclass
class Entry:
    """One ``* LIST`` line: a name, its attributes, and CHILDINFO when RECURSIVEMATCH put it there."""

    name: str
    attributes: list[str]
    childinfo: bool = False
    selectable: bool = True  # STATUS is given only for names that can be selected (RFC 5819 section 2)


def parse_list(args: list[Value]) -> ListRequest:
    """LIST's arguments (RFC 5258 section 6, ``list``); ``ValueError`` (answered BAD) for what it does not allow."""
    args = list(args)
    selection: set[str] = set()
    if args and isinstance(args[0], list):
        selection = {_option(v, SELECTION_OPTIONS, "selection") for v in args.pop(0)}
        # "RECURSIVEMATCH ... MUST NOT occur as the only selection option" (RFC 5258 section 3.1).
        if selection <= {"RECURSIVEMATCH", "REMOTE"} and "RECURSIVEMATCH" in selection:
            raise ValueError("RECURSIVEMATCH needs another selection option, such as SUBSCRIBED")
    returns: set[str] = set()
    status_items: list[str] = []
    if len(args) == 4 and isinstance(args[2], str) and args[2].upper() == "RETURN" and isinstance(args[3], list):
        options = args[3]
        i = 0
        while i < len(options):
            option = _option(options[i], RETURN_OPTIONS, "return")
            returns.add(option)
            if option == "STATUS":
                if i + 1 >= len(options) or not isinstance(options[i + 1], list) or not options[i + 1]:
                    raise ValueError("RETURN (STATUS (...)) needs the status items, e.g. STATUS (MESSAGES UNSEEN)")
                status_items = [text(item).upper() for item in options[i + 1]]
                i += 1
            i += 1
        args = args[:2]
    if len(args) != 2:
        raise ValueError("LIST [(selection options)] reference mailbox [RETURN (return options)]")
    reference = text(args[0])
    patterns = [text(p) for p in args[1]] if isinstance(args[1], list) else [text(args[1])]
    if not patterns:
        raise ValueError("LIST needs at least one mailbox pattern")
    if "SUBSCRIBED" in selection:
        returns.add("SUBSCRIBED")  # "the SUBSCRIBED selection option implies the SUBSCRIBED return option"
    return ListRequest(reference, patterns, selection, returns, status_items)


def _option(value: Value, known: Iterable[str], kind: str) -> str:
    word = value.upper() if isinstance(value, Atom) else ""
    if word not in known:
        raise ValueError(f"unknown LIST {kind} option {value!r}")
    return word


def matcher(pattern: str, delimiter: str) -> Callable[[str], bool]:
    """LIST's wildcards (RFC 3501 section 6.3.8): ``*`` matches anything, ``%`` anything but the delimiter."""
    regex = "".join(".*" if c == "*" else f"[^{re.escape(delimiter)}]*" if c == "%" else re.escape(c)
                    for c in pattern)
    compiled = re.compile(regex + r"\Z", re.DOTALL)
    inbox = re.compile(regex + r"\Z", re.DOTALL | re.IGNORECASE)  # "INBOX" matches in any case

    def matches(name: str) -> bool:
        return bool((inbox if name == INBOX else compiled).match(name))
    return matches


def select(request: ListRequest, existing: Iterable[str], subscribed: Iterable[str],
           special_use: dict[str, str], delimiter: str) -> list[Entry]:
    """The LIST lines for a request: INBOX first, then the names in order."""
    existing = set(existing)
    subscribed = set(subscribed)
    # A backend may hold "a.b" without "a" (Maildir++ can): such a parent is shown, as \Noselect.
    named = existing | (subscribed if "SUBSCRIBED" in request.selection else set())
    parents = {name.rsplit(delimiter, i)[0] for name in named for i in range(1, name.count(delimiter) + 1)}
    everything = named | parents
    tests = [matcher(request.reference + p, delimiter) for p in request.patterns]

    def chosen(name: str) -> bool:
        if "SUBSCRIBED" in request.selection and name not in subscribed:
            return False
        return not ("SPECIAL-USE" in request.selection and name not in special_use)

    entries = []
    for name in sorted(everything, key=lambda n: (n != INBOX, n)):
        if not any(test(name) for test in tests):
            continue
        childinfo = False
        if not chosen(name):
            # RFC 5258 section 3.5: with RECURSIVEMATCH a name is listed when a name below it was chosen.
            if not ("RECURSIVEMATCH" in request.selection
                    and any(other.startswith(name + delimiter) and chosen(other) for other in everything)):
                continue
            childinfo = "SUBSCRIBED" in request.selection
        inner = any(other.startswith(name + delimiter) for other in existing | parents)
        attributes = ["\\HasChildren" if inner else "\\HasNoChildren"]  # RFC 3348, RFC 5258 section 4
        selectable = name in existing
        if not selectable:
            # RFC 5258 section 3.4: \NonExistent (which implies \Noselect) for a name that is not there.
            attributes.insert(0, "\\NonExistent" if request.extended and name not in parents else "\\Noselect")
        if "SUBSCRIBED" in request.returns and name in subscribed:
            attributes.append("\\Subscribed")
        if name in special_use:
            attributes.append(special_use[name])  # RFC 6154
        entries.append(Entry(name, attributes, childinfo, selectable))
    return entries
