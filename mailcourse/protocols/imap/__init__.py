"""IMAP4rev1 (RFC 3501) without I/O: the parser, the session, and the writing of responses.

============  ==================================================================
module        what it does
============  ==================================================================
`types`       the values and events that pass between the modules
`parser`      bytes from the client -> `Command` events (literals included)
`response`    Python values -> IMAP data on the wire (strings, lists, NIL)
`mime`        a message as a tree of MIME entities, and IMAP's body sections
`structure`   ENVELOPE and BODYSTRUCTURE, built from that tree
`fetch`       FETCH items: parsing them, and writing the answer
`search`      SEARCH keys: parsing them, and matching a message
`session`     `IMAPSession`: states, commands, and mailbox news (bytes in, bytes out)
============  ==================================================================

The asyncio server around the session is `mailcourse.servers.imap`. Import
what you need from its module, e.g.
``from mailcourse.protocols.imap.session import IMAPSession``.
"""
