"""THREAD: the messages that match, as conversations (RFC 5256 sections 2.2 to 4).

Theory of operation
-------------------
``a1 THREAD REFERENCES UTF-8 ALL`` answers ``* THREAD (2)(3 6 (4 23)(44 7 96))``:
each parenthesised group is one conversation; inside, a message is followed
by its reply (``3 6``: 6 answers 3), and where a message has several
replies each branch is a group of its own (``(4 23)(44 7 96)``). A group
that starts with a group, ``((3)(5))``, is a conversation whose first
message is not there (RFC 5256 section 4: a "dummy" parent).

Two algorithms are defined:

* ORDEREDSUBJECT (section 2.2 "poor man's threading"): the messages with the
  same base subject (`mailcourse.protocols.imap.sort.base_subject`) are one
  thread, the oldest first and every other one its child, by sent date.
* REFERENCES (section 2.3, Jamie Zawinski's algorithm): a tree built from
  Message-ID, References and In-Reply-To, then conversations whose first
  messages are lost joined again by base subject. `references` follows the
  RFC's numbered steps; the comments quote them.

Siblings and threads are ordered by sent date (the Date: header, else the
internal date), ties by sequence number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .sort import Sortable, base_subject, casemap

ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES")

_MSG_ID = re.compile(r"<([^<>]*)>")


@dataclass(eq=False)
class Container:
    """A node of the thread tree: a message, or a dummy standing for one that is not there."""

    message: Sortable | None = None
    parent: Container | None = None
    children: list[Container] = field(default_factory=list)

    def adopt(self, child: Container) -> None:
        if child.parent is not None:
            child.parent.children.remove(child)
        child.parent = self
        self.children.append(child)

    def reaches(self, other: Container) -> bool:
        """Whether *other* is this container or one below it (linking them would make a loop)."""
        return self is other or any(c.reaches(other) for c in self.children)

    def date_key(self) -> tuple[float, int]:
        first = self if self.message is not None else self.children[0]
        assert first.message is not None
        return first.message.sent_date, first.message.seq


def ordered_subject(messages: list[Sortable]) -> list[Container]:
    """RFC 5256 section 2.2: one thread per base subject, the rest children of the oldest."""
    threads: dict[str, Container] = {}
    for m in sorted(messages, key=lambda m: (m.sent_date, m.seq)):
        subject = casemap(m.subject)
        if subject in threads:
            threads[subject].adopt(Container(m))
        else:
            threads[subject] = Container(m)
    return sorted(threads.values(), key=Container.date_key)


def references(messages: list[Sortable]) -> list[Container]:
    """RFC 5256 section 2.3, REFERENCES: the thread roots, each with its replies below it."""
    table: dict[str, Container] = {}
    unnamed: list[Container] = []  # messages with no usable Message-ID: in no table, but roots all the same
    for m in sorted(messages, key=lambda m: m.seq):
        # (1) "If a message does not contain a Message ID header line, or the Message ID does not have
        # a valid format, a unique Message ID is assigned" ... and so is a duplicate's.
        ids = _MSG_ID.findall(m.header("Message-ID"))
        own = ids[0] if ids and (ids[0] not in table or table[ids[0]].message is None) else None
        container = table.setdefault(own, Container()) if own else Container()
        container.message = m
        if own is None:
            unnamed.append(container)
        refs = _MSG_ID.findall(m.header("References")) or _MSG_ID.findall(m.header("In-Reply-To"))[:1]
        # (1A) "link the References field's Message IDs together in the order implied by the References
        # header ... If they are already linked, don't change the existing links. Do not add a link if
        # adding that link would introduce a loop."
        previous: Container | None = None
        for ref in refs:
            node = table.setdefault(ref, Container())
            if previous is not None and node.parent is None and not node.reaches(previous):
                previous.adopt(node)
            previous = node
        # (1B) "Create a parent/child link between the last reference ... and the current message. If the
        # current message already has a parent, it is most likely the wrong parent (it was probably
        # the last element in the References field of another message)."
        if previous is not None and not container.reaches(previous):
            previous.adopt(container)
        elif previous is None and container.parent is not None:
            container.parent.children.remove(container)
            container.parent = None
    # (2) "Gather together all of the messages that have no parents and make them all children
    # (siblings of one another) of a dummy parent (the "root")."
    root = Container()
    for node in list(table.values()) + unnamed:
        if node.parent is None:
            root.adopt(node)
    # (4) "Prune dummy messages from the thread tree."
    _prune(root)
    _group_by_subject(root)
    _sort(root)
    return root.children


def _prune(node: Container) -> None:
    for child in list(node.children):
        _prune(child)
        if child.message is not None:
            continue
        if not child.children:
            # "If it is a dummy message with NO children, delete it."
            node.children.remove(child)
        elif node.parent is not None or len(child.children) == 1:
            # "If it is a dummy message with children, delete it, but promote its children to the current
            # level. In other words, splice them in with the dummy's siblings. Do not promote the children
            # if doing so would make them children of the root, unless there is only one child."
            at = node.children.index(child)
            node.children[at:at + 1] = child.children
            for grandchild in child.children:
                grandchild.parent = node
            child.children = []


def _subject_of(node: Container) -> tuple[str, bool]:
    # (5A) "If it is a dummy, use the subject of its first child."
    first = node if node.message is not None else node.children[0]
    assert first.message is not None
    subject, reply = base_subject(first.message.header("Subject"))
    return casemap(subject), reply


def _group_by_subject(root: Container) -> None:
    """(5) "Group the root set by subject" so that a conversation whose first message is lost holds together."""
    table: dict[str, Container] = {}
    for node in root.children:
        subject, reply = _subject_of(node)
        if not subject:
            continue
        old = table.get(subject)
        # "Add the current message to the table if: there is no message in the table with this subject,
        # or this one is a dummy and the one in the table is not, or the one in the table is a reply or
        # forward and this one is not."
        if old is None or (node.message is None and old.message is not None) or (
                old.message is not None and _subject_of(old)[1] and not reply):
            table[subject] = node
    for node in list(root.children):
        subject, reply = _subject_of(node)
        other = table.get(subject)
        if not subject or other is None or other is node:
            continue
        if other.message is None and node.message is None:
            # "If both messages are dummies, append the current message's children to the children of the
            # message in the subject table ... and then delete the current message."
            for child in list(node.children):
                other.adopt(child)
            root.children.remove(node)
        elif other.message is None:
            # "If the message in the subject table is a dummy and the current message is not, make the current
            # message a child of the message in the subject table (a sibling of its children)."
            other.adopt(node)
        elif reply and not _subject_of(other)[1]:
            # "If the current message is a reply or forward and the message in the subject table is not, make
            # the current message a child of the message in the subject table (a sibling of its children)."
            other.adopt(node)
        else:
            # "Otherwise, create a new dummy message and make both the current message and the message in the
            # subject table children of the dummy. Then replace the message in the subject table with the dummy."
            dummy = Container()
            at = root.children.index(other)
            root.children[at] = dummy
            dummy.parent = root
            other.parent = None
            dummy.adopt(other)
            dummy.adopt(node)
            table[subject] = dummy


def _sort(node: Container) -> None:
    """(6) "Traverse the messages under the root and sort each set of siblings by sent date"."""
    for child in node.children:
        _sort(child)
    node.children.sort(key=Container.date_key)


def thread(messages: list[Sortable], algorithm: str) -> list[Container]:
    """The threads of *messages* by ``ORDEREDSUBJECT`` or ``REFERENCES`` (upper case)."""
    return ordered_subject(messages) if algorithm == "ORDEREDSUBJECT" else references(messages)


def render(threads: list[Container]) -> str:
    """The THREAD response's data: ``(2)(3 6 (4 23)(44 7 96))`` (RFC 5256 section 4, thread-list)."""
    return "".join(f"({_members(t)})" for t in threads)


def _members(node: Container) -> str:
    children = "".join(f"({_members(c)})" for c in node.children)
    if node.message is None:
        return children  # a dummy is not shown: its children are the thread's first branches
    if len(node.children) == 1:
        return f"{node.message.number} {_members(node.children[0])}"
    return f"{node.message.number} {children}" if children else str(node.message.number)
