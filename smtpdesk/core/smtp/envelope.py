"""What a server adds to each message, and the envelope (sender, recipients) it is sent with."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Sequence
from email.header import Header
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from smtpdesk.core.settings import Headers, ServerSettings

RETURN_PATH = "Return-Path"
CRLF = "\r\n"
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")  # RFC 5322: printable ASCII but ':'


def prepare(
    message: EmailMessage,
    settings: ServerSettings,
    sender: str | None = None,
    recipients: Sequence[str] | None = None,
) -> tuple[EmailMessage, str, list[str]]:
    """The message with the server's headers, its envelope sender and its recipients.

    As in listmonk, a ``Return-Path`` header (the server's, else the message's) becomes
    the envelope sender and is not transmitted: the receiving server writes it.
    An explicit ``sender`` wins over both. A header the message already has is kept.
    """
    extra = [(k, v) for k, v in settings.email_headers if k.lower() != RETURN_PATH.lower()]
    for name, value in extra:
        _check_header(name, value)
    server_return = next(
        (v for k, v in settings.email_headers if k.lower() == RETURN_PATH.lower()), None
    )
    has_return = message.get(RETURN_PATH) is not None
    out = message
    if extra or has_return:
        out = copy.deepcopy(message)  # never change the caller's message
        for name, value in extra:
            if out.get(name) is None:
                out[name] = value
        message_return = out.get(RETURN_PATH)
        del out[RETURN_PATH]
    else:
        message_return = None
    envelope_from = (
        sender
        or _address(server_return)
        or _address(message_return)
        or _address(message.get("Sender"))
        or _address(message.get("From"))
    )
    if not envelope_from:
        raise ValueError("the message has no From header and no sender was given")
    rcpts = list(recipients) if recipients is not None else _recipients(message)
    if not rcpts:
        raise ValueError("the message has no recipients (To, Cc or Bcc)")
    return out, envelope_from, rcpts


def _address(value: object) -> str:
    if value is None:
        return ""
    parsed = getattr(value, "addresses", None)  # a parsed header: no need to parse again
    if parsed:
        return str(parsed[0].addr_spec)
    text = str(value).strip()
    if text in ("<>", ""):
        return text.strip("<>")
    return parseaddr(text)[1]


def _recipients(message: EmailMessage) -> list[str]:
    found: list[str] = []
    for name in ("To", "Cc", "Bcc"):
        for value in message.get_all(name, []):
            parsed = getattr(value, "addresses", None)
            if parsed is not None:
                found.extend(str(a.addr_spec) for a in parsed if a.addr_spec)
            else:
                found.extend(address for _, address in getaddresses([str(value)]) if address)
    return found


def prepare_bytes(
    data: bytes,
    settings: ServerSettings,
    sender: str,
    recipients: Sequence[str],
) -> tuple[bytes, str, list[str]]:
    """:func:`prepare` for an already serialised message (CRLF line endings).

    ``sender`` plays the part of the From header: a ``Return-Path`` (the server's,
    else the message's) still becomes the envelope sender, and the message's own
    ``Return-Path`` line is removed. The server's other headers are put in front,
    except those the message already has.
    """
    rcpts = list(recipients)
    if not rcpts:
        raise ValueError("no recipients were given")
    extra, server_return = _server_lines(settings.email_headers)
    end = _header_end(data)
    head = data[:end].lower()
    message_return = None
    if b"return-path" in head:
        data, message_return = _remove_header(data, end, b"return-path")
    if extra:
        names = set(_RE_NAME.findall(head))
        data = b"".join(line for name, line in extra if name not in names) + data
    envelope_from = server_return or _address(message_return) or sender
    return data, envelope_from, rcpts


_RE_NAME = re.compile(rb"^([^ \t\r\n:]+)[ \t]*:", re.MULTILINE)


def _header_end(data: bytes) -> int:
    """Where the header block ends (at its blank line), or the whole of ``data``."""
    if data.startswith((b"\r\n", b"\n")):
        return 0
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return end + 2
    end = data.find(b"\n\n")
    return len(data) if end < 0 else end + 1


def _remove_header(data: bytes, end: int, name: bytes) -> tuple[bytes, str]:
    """``data`` without each ``name`` field (with its folded lines), and the first value."""
    lines = data[:end].splitlines(keepends=True)
    kept: list[bytes] = []
    values: list[bytes] = []
    removing = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if removing:
                values[-1] += line
            else:
                kept.append(line)
            continue
        removing = line.split(b":", 1)[0].strip().lower() == name
        if removing:
            values.append(line.split(b":", 1)[1])
        else:
            kept.append(line)
    first = values[0].decode("utf-8", "replace").strip() if values else ""
    return b"".join(kept) + data[end:], first


def _check_header(name: str, value: str) -> None:
    """The server's headers were validated when saved; this guards the wire all the same."""
    if not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid header name")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise ValueError(f"the value of the {name} header contains a line break or NUL")


@functools.cache
def _server_lines(headers: Headers) -> tuple[tuple[tuple[bytes, bytes], ...], str]:
    """The server's headers as (lower-case name, CRLF header line), and its Return-Path."""
    lines = []
    server_return = ""
    for name, value in headers:
        _check_header(name, value)
        if name.lower() == RETURN_PATH.lower():
            server_return = server_return or _address(value)
            continue
        # Header folds to 78 columns and writes RFC 2047 words for non-ASCII text
        encoded = Header(value, "utf-8" if not value.isascii() else "us-ascii", header_name=name)
        line = f"{name}: {encoded.encode(linesep=CRLF)}{CRLF}"
        lines.append((name.lower().encode("ascii"), line.encode("ascii")))
    return tuple(lines), server_return
