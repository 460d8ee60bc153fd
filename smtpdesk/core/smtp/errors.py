"""Low-level failures the SMTP core raises itself; :mod:`diagnosis` turns them into words."""

from __future__ import annotations

import aiosmtplib


class StartTlsNotOfferedError(aiosmtplib.SMTPException):
    """tls_type is STARTTLS but the server's EHLO does not list it."""


class AuthNotOfferedError(aiosmtplib.SMTPException):
    """The chosen AUTH mechanism is not among those the server lists."""

    def __init__(self, mechanism: str, offered: list[str]) -> None:
        listed = ", ".join(offered) if offered else "none"
        super().__init__(f"AUTH {mechanism} is not offered; the server offers: {listed}")
        self.mechanism = mechanism
        self.offered = offered


class CertificateChangedError(aiosmtplib.SMTPException):
    """The server's certificate is not the one pinned in ``tls_pin_sha256``."""

    def __init__(self, pinned: str, presented: str) -> None:
        super().__init__(f"certificate SHA-256 {presented} is not the pinned {pinned}")
        self.pinned = pinned
        self.presented = presented


class StepFailedError(Exception):
    """A connection step failed; ``stage`` names it and ``cause`` is the error."""

    def __init__(self, stage: str, cause: BaseException, seconds: float = 0.0) -> None:
        super().__init__(f"{stage}: {cause}")
        self.stage = stage
        self.cause = cause
        self.seconds = seconds  # time spent in the failing step


class UnconfirmedError(aiosmtplib.SMTPException):
    """The message content was sent but its final reply never came; ``__cause__`` says why."""


class PoolWaitTimeoutError(Exception):
    """Every connection stayed busy for longer than ``wait_timeout``."""


class PoolClosedError(Exception):
    """The pool was closed while a send waited or started."""


class NoServerAvailableError(Exception):
    """No server of a messenger may send now (all backing off, or none eligible)."""
