"""The shapes the sending core hands to the campaign engine, the CLI and the GUI.

This file is the contract between ``core.smtp`` (which fills these in) and its
users (``core.campaign``, ``commands``, ``ui``). Change it in one commit with both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from smtpdesk.core.errors import KnownError


@dataclass(frozen=True)
class Diagnosis:
    """Why something failed, in the user's words, with what to try and the raw reply kept."""

    cause: str  # a stable key such as "auth_failed", "timeout", "tls_mismatch"
    message: str  # one sentence for the user
    hints: tuple[str, ...] = ()
    raw: str = ""  # the server's reply or the low-level error text (never a password)
    temporary: bool = False  # a later retry may succeed (4xx, network)
    code: int | None = None  # the SMTP reply code, when there was one
    # The message content went out but the server's final reply never came (dropped or
    # timed out after DATA): it may have been delivered, so it is not simply "failed".
    unconfirmed: bool = False


class SendError(KnownError):
    """A message could not be sent: carries the diagnosis and the server last tried."""

    def __init__(self, diagnosis: Diagnosis, server_uuid: str = "", attempts: int = 1) -> None:
        super().__init__(diagnosis.message, "; ".join(diagnosis.hints))
        self.diagnosis = diagnosis
        self.server_uuid = server_uuid
        self.attempts = attempts


@dataclass(frozen=True)
class SendResult:
    """A message the server accepted (after DATA)."""

    server_uuid: str
    reply: str  # the server's reply to DATA, e.g. "250 2.0.0 Ok: queued as 1234"
    attempts: int = 1
    refused: dict[str, str] = field(default_factory=dict)  # recipient -> reply, if some refused


@dataclass(frozen=True)
class ServerStats:
    """A pool's live figures; cheap to read at any moment."""

    server_uuid: str
    label: str
    connections_open: int = 0
    connections_busy: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    mean_send_seconds: float = 0.0
    wait_seconds: float = 0.0  # total time sends spent waiting for a free connection
    last_error: Diagnosis | None = None
    healthy: bool = True  # False while the messenger is backing off from this server
    backoff: float = 0.0  # seconds left before the messenger tries this server again
