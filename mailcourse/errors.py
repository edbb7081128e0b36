"""The one exception the lab raises for a request it cannot carry out.

A leaf module: everything in the package may import it without pulling in
servers or devices.
"""
from __future__ import annotations


class LabError(Exception):
    """A request the lab cannot carry out, explained in words."""
