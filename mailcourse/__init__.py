"""mailcourse: Internet e-mail, run on your own machine, to learn how it works.

``from mailcourse import Lab`` is all a notebook needs to start: `Lab.classic`
builds the chapter's miniature internet on 127.0.0.1. Figures and widgets
live in `mailcourse.viz` and are imported only when a lesson uses them, so
that this import stays quick.
"""
from __future__ import annotations

from .clienthost import ClientHost, FetchResult, SendResult
from .errors import LabError
from .limits import Limits
from .mailserver import MailServer
from .lab import CLASSIC_USERS, Directory, Lab, MXRecord
from .store import MailStore
from .trace import Connection, Trace, TraceEvent

__all__ = [
    "CLASSIC_USERS",
    "ClientHost",
    "Connection",
    "Directory",
    "FetchResult",
    "Lab",
    "LabError",
    "Limits",
    "MXRecord",
    "MailServer",
    "MailStore",
    "SendResult",
    "Trace",
    "TraceEvent",
]
__version__ = "0.1.0"
