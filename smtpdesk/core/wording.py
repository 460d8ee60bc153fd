"""Small helpers for sentences shown to the user."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str = "") -> str:
    """``1 campaign``, ``3 campaigns``: the number with the noun in the right form."""
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {noun}"
