"""One scan of the feedback mailbox, and the mailbox's Test.

A scan reads at most ``scan_batch`` messages, one at a time, in a worker thread (the
clients block): each is classified, recorded in its own transaction (see
:mod:`records`), then moved, marked or deleted, unless it is nobody's feedback, which
is left untouched. IMAP remembers the folder's UIDVALIDITY and the last UID read; POP3
the UIDL of each message read; every message its Message-ID: a re-scan, or a scan
after a crash, never counts one twice. The last scan's result is kept for the GUI.
"""

from __future__ import annotations

import asyncio
import imaplib
import poplib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smtpdesk.core import secrets
from smtpdesk.core.errors import KnownError
from smtpdesk.core.feedback.classify import Kind, classify
from smtpdesk.core.feedback.mailbox import (
    Credentials,
    MailboxCheck,
    MailboxError,
    StepHook,
    check,
    diagnose,
    open_session,
)
from smtpdesk.core.feedback.records import FeedbackBook, ScanCounts
from smtpdesk.core.feedback.tokens import signing_key
from smtpdesk.core.settings import MailboxSettings, MailProtocol
from smtpdesk.core.smtp.types import Diagnosis
from smtpdesk.core.store import Store

PASSWORD_ENTRY = "mailbox"  # the keyring entry of the mailbox's password
# Runs a blocking database write and returns its result: a direct call by default; the
# app passes its bridge's serial writer (Bridge.write_from_worker), so writes never race.
Write = Callable[..., Any]
_RUNNING = threading.Lock()  # one scan at a time in this process (timer and button)


@dataclass
class ScanProgress:
    read: int
    limit: int  # the most this scan reads
    in_folder: int  # messages in the folder when the scan began
    counts: ScanCounts


@dataclass
class ScanResult:
    counts: ScanCounts = field(default_factory=ScanCounts)
    read: int = 0
    in_folder: int = 0
    more: bool = False  # the batch limit stopped the scan: the next one goes on
    diagnosis: Diagnosis | None = None
    finished_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.diagnosis is None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {**self.counts.to_dict(), "read": self.read}
        data |= {"in_folder": self.in_folder, "more": self.more, "ok": self.ok}
        data["finished_at"] = self.finished_at
        if self.diagnosis is not None:
            data["error"] = self.diagnosis.message
            data["hints"] = list(self.diagnosis.hints)
            data["cause"] = self.diagnosis.cause
        return data


class NoMailboxError(KnownError):
    """The mailbox is not set up, or its password is missing."""


def set_password(password: str) -> None:
    secrets.set_password(PASSWORD_ENTRY, password)


def has_password() -> bool:
    return secrets.has_password(PASSWORD_ENTRY)


async def credentials(store: Store, settings: MailboxSettings) -> Credentials:
    """The password from the keyring, or an access token of the named server's sign-in."""
    if not settings.host or not settings.username:
        raise NoMailboxError(
            "No feedback mailbox is set up.",
            "Set it on the Mailbox page, or with 'smtpdesk mailbox set'.",
        )
    if settings.oauth_server:
        from smtpdesk.core.oauth.tokens import TOKENS

        server = await asyncio.to_thread(store.server, settings.oauth_server)
        token = await TOKENS.get(server)
        return Credentials(token.value, oauth=True)
    password = await asyncio.to_thread(secrets.get_password, PASSWORD_ENTRY)
    if password is None:
        raise NoMailboxError(
            "No password is saved for the feedback mailbox.",
            "Give it on the Mailbox page, or with 'smtpdesk mailbox set --prompt-password'.",
        )
    return Credentials(password)


def _cursor_name(s: MailboxSettings) -> str:
    return f"{s.username}@{s.host}:{s.port}/{s.folder}"


def scan_blocking(
    store: Store,
    settings: MailboxSettings,
    creds: Credentials,
    *,
    on_progress: Callable[[ScanProgress], None] | None = None,
    stop: threading.Event | None = None,
    write: Write | None = None,
) -> ScanResult:
    """The scan itself; blocks. Raises :class:`KnownError` when one already runs.

    Reads are made on the calling thread; every write goes through ``write``.
    """
    write = write or _direct
    if not _RUNNING.acquire(blocking=False):
        raise KnownError("A scan of the mailbox is already running.", "Wait for it to finish.")
    try:
        result = _scan(store, settings, creds, on_progress, stop, write)
    finally:
        _RUNNING.release()
    result.finished_at = time.time()
    write(FeedbackBook(store).put_last_scan, result.to_dict())
    return result


def _direct(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def _scan(
    store: Store,
    s: MailboxSettings,
    creds: Credentials,
    on_progress: Callable[[ScanProgress], None] | None,
    stop: threading.Event | None,
    write: Write,
) -> ScanResult:
    book = FeedbackBook(store)
    key = signing_key()
    assert key is not None
    result = ScanResult()
    try:
        session = open_session(s, creds)
    except MailboxError as exc:
        result.diagnosis = exc.diagnosis
        return result
    result.in_folder = session.count
    cursor = _cursor_name(s)
    try:
        after = 0
        if s.protocol == MailProtocol.IMAP:
            validity, last = book.cursor(cursor)
            after = last if validity == session.uidvalidity else 0  # a new UIDVALIDITY: anew

        def uidl_key(uidl: str) -> str:
            return f"pop3:{s.username}@{s.host}:{uidl}"

        def known(uidl: str) -> bool:  # read before and not ours: not fetched again
            return book.processed_kind(uidl_key(uidl)) == Kind.OTHER

        for item in session.fetch(after, s.scan_batch, known):
            classified = classify(item.raw)
            extra = [uidl_key(item.uidl)] if item.uidl else []
            counts, kind = write(book.apply, classified, s, key, extra_keys=extra)
            result.counts.add(counts)
            if kind != Kind.OTHER:
                session.finish(item, s.processed)
            if item.uid:
                write(book.set_cursor, cursor, session.uidvalidity, item.uid)
            result.read += 1
            if on_progress is not None:
                on_progress(
                    ScanProgress(result.read, s.scan_batch, result.in_folder, result.counts)
                )
            if stop is not None and stop.is_set():
                break
        result.more = result.read >= s.scan_batch
    except MailboxError as exc:
        result.diagnosis = exc.diagnosis
    except (OSError, EOFError, imaplib.IMAP4.error, poplib.error_proto) as exc:
        result.diagnosis = diagnose(exc, s, "reading the messages")
    finally:
        session.close()
    return result


async def scan(
    store: Store,
    settings: MailboxSettings | None = None,
    *,
    on_progress: Callable[[ScanProgress], None] | None = None,
    stop: threading.Event | None = None,
    write: Write | None = None,
) -> ScanResult:
    """Scan off the event loop; ``on_progress`` is called on the loop's thread.

    ``write`` runs the scan's database writes (see :data:`Write`).
    """
    if settings is None:
        settings = await asyncio.to_thread(FeedbackBook(store).mailbox)
    creds = await credentials(store, settings)
    loop = asyncio.get_running_loop()
    hook = None
    if on_progress is not None:
        callback = on_progress

        def hook(progress: ScanProgress) -> None:
            loop.call_soon_threadsafe(callback, progress)

    return await asyncio.to_thread(
        scan_blocking, store, settings, creds, on_progress=hook, stop=stop, write=write
    )


async def check_mailbox(
    store: Store,
    settings: MailboxSettings,
    password: str | None = None,
    on_step: StepHook | None = None,
) -> MailboxCheck:
    """Test the settings (connect, TLS, login, folder, count) without saving anything.

    ``password`` tests one typed in the form; None uses the saved one or the sign-in.
    """
    creds = Credentials(password) if password else await credentials(store, settings)
    return await asyncio.to_thread(check, settings, creds, on_step)
