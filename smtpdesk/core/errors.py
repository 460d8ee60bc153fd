"""Errors that carry a sentence for the user and a hint on what to do.

A :class:`KnownError` is about the user's environment (a locked keyring, a bad
file); anything else that escapes is our bug and is shown as such.
"""

from __future__ import annotations

from collections.abc import Sequence


class KnownError(Exception):
    """A failure the user can act on: ``message`` says what, ``hint`` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class BadInputError(KnownError):
    """The user's input (an option, a file, a name) is wrong: the CLI exits 2, writes nothing."""


class NotFoundError(BadInputError):
    """A server, campaign or file named by the user does not exist."""


class InvalidSettingsError(BadInputError):
    """Settings were refused by validation; ``problems`` lists every reason."""

    def __init__(
        self, problems: Sequence[object], message: str = "The settings are not valid"
    ) -> None:
        super().__init__(message, "Correct the fields named below and try again.")
        self.problems = list(problems)
