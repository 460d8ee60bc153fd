"""Read back what the receiver saw: a test email to the feedback mailbox, and its verdict.

The DNS check says what receivers *should* conclude; the ``Authentication-Results``
header (RFC 8601) the receiving server writes says what one *did*: SPF, DKIM and DMARC
as judged. :func:`read_back` sends a message through the server (signed as campaigns
are) to the feedback mailbox's own address, waits for it there, and parses the
receiver's header (the topmost: RFC 8601 5 has each receiver add its own on top).
The message is left in the mailbox; the next scan finds nothing in it to act on.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, formatdate
from typing import Any

from smtpdesk.core import secrets
from smtpdesk.core.domain.signing import signer_for
from smtpdesk.core.errors import KnownError
from smtpdesk.core.feedback.mailbox import Credentials, Session, open_session
from smtpdesk.core.settings import MailboxSettings, ServerSettings
from smtpdesk.core.smtp.pool import ServerPool

METHODS = ("spf", "dkim", "dmarc")
_COMMENT = re.compile(r"\([^()]*\)")
_RESULT = re.compile(r"^\s*([a-z0-9_-]+)(?:/\d+)?\s*=\s*([a-z]+)", re.IGNORECASE)
SUBJECT = "smtpdesk authentication check"


class ReadBackError(KnownError):
    """The check message could not be sent or did not arrive in the mailbox."""


@dataclass(frozen=True)
class ReceiverVerdict:
    """One receiver's Authentication-Results: its name and each method's result."""

    receiver: str
    results: dict[str, str] = field(default_factory=dict)  # spf/dkim/dmarc → pass, fail…
    header: str = ""

    def describe(self) -> str:
        found = ", ".join(f"{m}={self.results.get(m, 'none reported')}" for m in METHODS)
        return f"{self.receiver or 'the receiver'} judged {found}"

    @property
    def passed(self) -> bool:
        return self.results.get("dmarc") == "pass" or (
            "dmarc" not in self.results
            and "pass" in (self.results.get("spf"), self.results.get("dkim"))
        )


def parse_authentication_results(raw: bytes) -> ReceiverVerdict | None:
    """The topmost Authentication-Results of a message; None when it has none."""
    message = message_from_bytes(raw, policy=policy.compat32)
    values = message.get_all("Authentication-Results") or []
    if not values:
        return None
    header = " ".join(str(values[0]).split())
    text = header
    while _COMMENT.search(text):
        text = _COMMENT.sub(" ", text)  # comments nest: remove the innermost first
    parts = text.split(";")
    receiver = parts[0].split()[0] if parts[0].split() else ""
    results: dict[str, str] = {}
    for part in parts[1:]:
        match = _RESULT.match(part)
        if match is None:
            continue
        method, result = match.group(1).lower(), match.group(2).lower()
        if method in METHODS and results.get(method) != "pass":
            results[method] = result  # several DKIM signatures: one pass is enough
    return ReceiverVerdict(receiver, results, header)


@dataclass(frozen=True)
class ReadBack:
    verdict: ReceiverVerdict | None
    seconds: float
    address: str


def mailbox_address(mailbox: MailboxSettings) -> str:
    for address in (mailbox.unsubscribe_address, mailbox.username):
        if "@" in address:
            return address
    raise ReadBackError(
        "The feedback mailbox has no email address to send the check to.",
        "Give its address as the mailbox's username or unsubscribe address.",
    )


def check_message(settings: ServerSettings, to: str) -> tuple[EmailMessage, str]:
    """The message to send, and its Message-ID token."""
    sender = settings.username if "@" in settings.username else to
    domain = sender.rpartition("@")[2]
    token = uuid.uuid4().hex
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"{SUBJECT} {token[:8]}"
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = f"<{token}@{domain}>"
    message.set_content(
        "smtpdesk sent this to its own feedback mailbox to read how the receiving server "
        f"judged SPF, DKIM and DMARC.\nServer: {settings.label}\n"
        f"Sent: {format_datetime(datetime.now(UTC))}\n"
    )
    return message, token


async def read_back(
    settings: ServerSettings,
    password: str | None,
    mailbox: MailboxSettings,
    credentials: Credentials,
    *,
    wait: float = 120.0,
    poll: float = 3.0,
    pool_options: dict[str, Any] | None = None,
) -> ReadBack:
    """Send the check through ``settings`` and read the receiver's verdict from the mailbox."""
    to = mailbox_address(mailbox)
    message, token = check_message(settings, to)
    signer = await asyncio.to_thread(signer_for, settings, secrets.get_dkim_key)
    before = await asyncio.to_thread(_baseline, mailbox, credentials)
    pool = ServerPool(settings, password, signer=signer, **(pool_options or {}))
    started = time.monotonic()
    try:
        await pool.send(message)
    finally:
        await pool.close()
    while True:
        raw = await asyncio.to_thread(_find, mailbox, credentials, token, before)
        if raw is not None:
            seconds = time.monotonic() - started
            return ReadBack(parse_authentication_results(raw), seconds, to)
        if time.monotonic() - started > wait:
            raise ReadBackError(
                f"The check message did not arrive at {to} within {wait:.0f} s.",
                "It may be in the spam folder, delayed, or refused: see the server's log.",
            )
        await asyncio.sleep(poll)


def _baseline(mailbox: MailboxSettings, credentials: Credentials) -> set[str]:
    """POP3: the messages already there (by UIDL), so only new ones are downloaded."""
    seen: set[str] = set()

    def record(uidl: str) -> bool:
        seen.add(uidl)
        return True  # known: never downloaded

    session = open_session(mailbox, credentials)
    try:
        if not hasattr(session, "imap"):
            for _ in session.fetch(0, 0, record):
                pass
    finally:
        session.close()
    return seen


def _find(
    mailbox: MailboxSettings, credentials: Credentials, token: str, before: set[str]
) -> bytes | None:
    session = open_session(mailbox, credentials)
    try:
        for item in _candidates(session, token, before):
            if token.encode("ascii") in item:
                return item
        return None
    finally:
        session.close()


def _candidates(session: Session, token: str, before: set[str]) -> list[bytes]:
    imap = getattr(session, "imap", None)
    if imap is not None:  # IMAP searches on the server: nothing else is downloaded
        typ, data = imap.uid("SEARCH", "HEADER", "Message-ID", token)
        uids = [int(u) for u in (data[0] or b"").split()] if typ == "OK" and data else []
        return [f.raw for uid in uids for f in session.fetch(uid - 1, 1, lambda _: False)]
    return [f.raw for f in session.fetch(0, 50, lambda uidl: uidl in before)]
