"""The log file in the data folder, with every known secret masked before it is written.

Crash reports name this file ("details are in the log: ..."). Passwords reach it only
as ``***``: the masking is the one diagnoses use (:func:`diagnosis.secret_forms`), fed
with each password the keyring hands out or stores (see :func:`remember_secret`).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import threading
import traceback
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType

LOG_NAME = "smtpdesk.log"
MAX_BYTES = 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"

log = logging.getLogger(__name__)

# Re-entrant: a garbage collection inside redact() may run a __del__ that logs (redact again).
_lock = threading.RLock()
_secrets: set[str] = set()  # each password and its AUTH encodings
_passwords: set[bytes] = set()
_BASE64 = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")
_handler: RotatingFileHandler | None = None


def remember_secret(password: str | None, username: str = "") -> None:
    """Mask ``password`` (as typed and as AUTH PLAIN/LOGIN encode it) in every log line."""
    if not password:
        return
    from smtpdesk.core.smtp.diagnosis import secret_forms

    with _lock:
        _secrets.update(f for f in secret_forms(username, password) if f)
        _passwords.add(password.encode())


def forget_secrets() -> None:
    """Forget every remembered secret: for a keyring replaced as a whole (each test's)."""
    with _lock:
        _secrets.clear()
        _passwords.clear()


def redact(text: str) -> str:
    """``text`` with every remembered secret replaced by ``***`` (longest first).

    Base64 that decodes to something holding a password is masked too: an AUTH line
    encodes the username with it, which the keyring does not know.
    """
    with _lock:
        forms = sorted((f for f in _secrets if f in text), key=len, reverse=True)
        passwords = tuple(_passwords)
    for form in forms:
        text = text.replace(form, "***")
    if passwords:
        text = _BASE64.sub(lambda m: _mask_encoded(m.group(0), passwords), text)
    return text


def _mask_encoded(token: str, passwords: tuple[bytes, ...]) -> str:
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return token
    return "***" if any(p in decoded for p in passwords) else token


class RedactingFormatter(logging.Formatter):
    """Masks secrets in the whole formatted record, traceback and arguments included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def log_path(folder: Path) -> Path:
    return folder / LOG_NAME


class _PrivateRotatingHandler(RotatingFileHandler):
    """A rotating file readable by its owner only (it may quote server replies)."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, self.mode.replace("w", "a"), encoding=self.encoding)

    def handleError(self, record: logging.LogRecord) -> None:
        """A full disk or a vanished folder: drop the line, never print a traceback."""


def install_file_log(folder: Path, level: int = logging.DEBUG, name: str = LOG_NAME) -> Path:
    """Send smtpdesk's log records to ``folder/name`` (created on the first record).

    Idempotent; a second call with another folder or name moves the log there.
    """
    global _handler
    path = folder / name
    root = logging.getLogger()
    if not os.access(folder, os.W_OK):  # a read-only folder: no log rather than an error
        return path
    with _lock:
        previous = _handler
        if previous is not None and Path(previous.baseFilename) == path.absolute():
            return path
        handler = _PrivateRotatingHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
        handler.setLevel(level)
        handler.setFormatter(RedactingFormatter(FORMAT))
        _handler = handler
    # Outside _lock: closing takes the handler's own lock, which a thread logging holds
    # while its formatter waits for _lock in redact() (the opposite order: a deadlock).
    if previous is not None:
        root.removeHandler(previous)
        previous.close()
    root.addHandler(handler)  # the root's level (-v or not) still decides what is logged
    return path


def current_log() -> Path | None:
    """The file crash reports point to, when one is installed."""
    return None if _handler is None else Path(_handler.baseFilename)


def crash_details(
    kind: type[BaseException] | None,
    value: BaseException | None,
    tb: TracebackType | None,
) -> str:
    """The traceback as text, secrets masked: what "Copy details" copies."""
    if value is None:
        return ""
    return redact("".join(traceback.format_exception(kind or type(value), value, tb)))


def log_crash(summary: str, exc: BaseException | None = None) -> str:
    """Write ``summary`` and the traceback of ``exc`` to the log file; return the details.

    Only to the file when there is one: the terminal gets the one line the caller prints.
    """
    details = "" if exc is None else crash_details(type(exc), exc, exc.__traceback__)
    handler = _handler
    if handler is None:
        log.error("%s", summary, exc_info=exc)
        return details
    info = None if exc is None else (type(exc), exc, exc.__traceback__)
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "%s", (summary,), info)
    handler.handle(record)
    handler.flush()
    return details


def flush() -> None:
    if _handler is not None:
        _handler.flush()
