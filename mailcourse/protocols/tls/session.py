"""The eavesdropper's view of a connection: both sides' records, the hellos, a line per record.

`read_session` reads the bytes each side sent into a `Session`: its records
(`records`), the hellos found in the clear (`handshake`), and what could
not be read. `Session.summary` tells each record as a capture tool would:
the hellos described (`describe_client_hello`, `describe_server_hello`), an
alert by name, and, once a side encrypts, nothing but a type and a size.

In TLS 1.3 that is every record after the ServerHello, each wearing the
outer type application_data (RFC 8446 section 5.2), and a change_cipher_spec
that is only a disguise for middleboxes (appendix D.4). In TLS 1.2 it is
every record after the side's ChangeCipherSpec (RFC 5246 section 7.1); the
certificate and the key exchange before it are in the clear.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .handshake import (
    CLIENT_HELLO,
    GROUPS,
    HANDSHAKE_TYPES,
    SERVER_HELLO,
    ClientHello,
    ServerHello,
    handshake_messages,
    parse_client_hello,
    parse_server_hello,
)
from .records import (
    ALERT,
    ALERTS,
    APPLICATION_DATA,
    C2S,
    CHANGE_CIPHER_SPEC,
    HANDSHAKE,
    S2C,
    TLS13,
    Record,
    read_records,
    suite_name,
    version_name,
)


@dataclass
class Session:
    """Both directions' records of one connection, read as an eavesdropper reads them.

    ``client`` and ``server`` are the records each side sent (`read_session`),
    ``errors`` what could not be read; `summary` tells each record in a line.
    """

    client: list[Record] = field(default_factory=list)
    server: list[Record] = field(default_factory=list)
    client_hello: ClientHello | None = None
    server_hello: ServerHello | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def version(self) -> int | None:
        """The version the server chose, or None before its ServerHello."""
        return self.server_hello.version if self.server_hello else None

    def records(self, direction: str) -> list[Record]:
        return self.client if direction == C2S else self.server

    def read_hellos(self) -> None:
        """Find the hellos in the clear handshake records of each side (a HelloRetryRequest is skipped)."""
        for direction in (C2S, S2C):
            clear = b"".join(r.fragment for r in self._clear(direction) if r.content_type == HANDSHAKE)
            for kind, body in handshake_messages(clear)[0]:
                if kind == CLIENT_HELLO and direction == C2S and self.client_hello is None:
                    self.client_hello = parse_client_hello(body)
                elif kind == SERVER_HELLO and direction == S2C:
                    hello = parse_server_hello(body)
                    if hello is not None and not hello.retry:
                        self.server_hello = hello

    def _clear(self, direction: str) -> list[Record]:
        """The records of a side sent before its encryption began."""
        clear = []
        for record in self.records(direction):
            if record.content_type in (APPLICATION_DATA, CHANGE_CIPHER_SPEC):
                break  # TLS 1.3 encrypts from here; TLS 1.2, after its ChangeCipherSpec
            clear.append(record)
        return clear

    def summary(self, direction: str, index: int) -> str:
        """One line about a side's record number ``index``, as an eavesdropper can tell it."""
        record = self.records(direction)[index]
        size = f"{len(record.fragment)} bytes"
        clear = index < len(self._clear(direction))
        if record.content_type == CHANGE_CIPHER_SPEC:
            if self.version == TLS13:  # RFC 8446 appendix D.4: a dummy, so middleboxes let 1.3 through
                return "change_cipher_spec, 1 byte (no meaning in TLS 1.3: a disguise for old middleboxes)"
            return "change_cipher_spec: from here on this side encrypts"
        if not clear:
            return f"{record.type_name}, {size} (encrypted)"
        if record.content_type == ALERT and len(record.fragment) == 2:
            level = "fatal" if record.fragment[0] == 2 else "warning"
            return f"alert: {level} {ALERTS.get(record.fragment[1], record.fragment[1])}"
        if record.content_type != HANDSHAKE:
            return f"{record.type_name}, {size}"
        return self._describe_handshake(direction, record)

    def handshake_records(self, order: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which records carry the handshake, as an eavesdropper can tell: ``(direction, index)`` pairs.

        ``order`` is every record as ``(direction, index)`` in the order they
        crossed the wire. TLS 1.2 (RFC 5246 section 7.3): each side's records
        up to its ChangeCipherSpec and the Finished right after it. TLS 1.3
        (RFC 8446 section 2): everything up to the client's first encrypted
        record, its Finished; the server's encrypted records before it are the
        rest of its handshake (EncryptedExtensions, Certificate,
        CertificateVerify, Finished), which only their timing gives away. A
        handshake that never finished is handshake throughout.
        """
        found: set[tuple[str, int]] = set()
        if self.version == TLS13:
            for direction, index in order:
                found.add((direction, index))
                if direction == C2S and self.client[index].content_type == APPLICATION_DATA:
                    break  # the client's Finished: from here on, application data
            return found
        for direction in (C2S, S2C):
            records = self.records(direction)
            ccs = next((i for i, r in enumerate(records) if r.content_type == CHANGE_CIPHER_SPEC), None)
            last = len(records) if ccs is None else min(len(records), ccs + 2)
            found.update((direction, i) for i in range(last))
        return found

    def handshake_summary(self, direction: str, index: int) -> str:
        """One line about a handshake record, with no size where the size changes from run to run.

        An encrypted handshake record's length follows its certificate's and
        signature's, which differ by a byte or two with every new key: a
        transcript that showed it would never read the same twice.
        """
        record = self.records(direction)[index]
        if record.content_type != CHANGE_CIPHER_SPEC and index >= len(self._clear(direction)):
            return "encrypted"
        if record.content_type == HANDSHAKE and not self._clear_messages(direction).get(index):
            return "the rest of a handshake message"
        return self.summary(direction, index)

    def _describe_handshake(self, direction: str, record: Record) -> str:
        index = self.records(direction).index(record)
        names = []
        for kind, body in self._clear_messages(direction).get(index, []):
            if kind == CLIENT_HELLO and (hello := parse_client_hello(body)):
                names.append(describe_client_hello(hello))
            elif kind == SERVER_HELLO and (server := parse_server_hello(body)):
                names.append(describe_server_hello(server))
            else:
                names.append(HANDSHAKE_TYPES.get(kind, f"handshake type {kind}"))
        if not names:  # a message that spans records: this one holds the rest of it
            return f"handshake, {len(record.fragment)} bytes (the rest of a message)"
        return "; ".join(names)

    def _clear_messages(self, direction: str) -> dict[int, list[tuple[int, bytes]]]:
        """A side's handshake messages in the clear, by the record each one starts in.

        A message may span records (a long Certificate does), so the
        fragments are joined before they are cut into messages.
        """
        joined, starts = b"", []  # where each handshake record's fragment starts in ``joined``
        for index, record in enumerate(self._clear(direction)):
            if record.content_type == HANDSHAKE:
                starts.append((len(joined), index))
                joined += record.fragment
        found: dict[int, list[tuple[int, bytes]]] = {}
        at = 0
        for kind, body in handshake_messages(joined)[0]:
            index = next(i for start, i in reversed(starts) if start <= at)
            found.setdefault(index, []).append((kind, body))
            at += 4 + len(body)
        return found


def describe_client_hello(hello: ClientHello) -> str:
    """"ClientHello for mail.someplace.org: TLS 1.3, TLS 1.2; 31 cipher suites; ALPN none"."""
    name = f" for {hello.server_name}" if hello.server_name else " (no server name)"
    versions = ", ".join(version_name(v) for v in hello.versions)
    alpn = ", ".join(hello.alpn) or "none"
    return f"ClientHello{name}: {versions}; {len(hello.cipher_suites)} cipher suites; ALPN {alpn}"


def describe_server_hello(hello: ServerHello) -> str:
    """"TLS 1.3 ServerHello, cipher TLS_AES_256_GCM_SHA384; ..."."""
    if hello.retry:
        return f"HelloRetryRequest: the server asks for another key share ({GROUPS.get(hello.group or 0, hello.group)})"
    said = f"{version_name(hello.version)} ServerHello, cipher {suite_name(hello.cipher_suite)}"
    if hello.version == TLS13:
        said += "; everything after this is encrypted, the certificate too"
    return said


def read_session(client: bytes, server: bytes) -> Session:
    """Read both directions of a TLS connection: the records, the hellos, what went wrong."""
    session = Session()
    session.client, client_error = read_records(client)
    session.server, server_error = read_records(server)
    session.errors += [f"client: {e}" for e in [client_error] if e]
    session.errors += [f"server: {e}" for e in [server_error] if e]
    session.read_hellos()
    return session


