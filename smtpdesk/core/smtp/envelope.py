"""What a server adds to each message, and the envelope (sender, recipients) it is sent with."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from smtpdesk.core.settings import ServerSettings

RETURN_PATH = "Return-Path"


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
