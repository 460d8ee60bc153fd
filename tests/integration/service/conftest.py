"""Sending-process tests: the child reads the passwords this process writes (a file keyring)."""

from __future__ import annotations

from tests.helpers.file_keyring import file_keyring

__all__ = ["file_keyring"]
