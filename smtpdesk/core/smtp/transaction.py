"""One mail transaction on an open connection: MAIL, RCPT for each recipient, DATA.

An ``EmailMessage`` goes through aiosmtplib's ``send_message`` (which picks
SMTPUTF8 and 8BITMIME per connection and flattens the message). Ready bytes skip
``sendmail``: it parses every address twice more and rescans the message for
SIZE, and it drops the reply code, which :class:`SendResult` keeps.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib import SMTPResponse, SMTPStatus
from aiosmtplib.email import quote_address

Refused = dict[str, SMTPResponse]
# What may not stand in a bare mailbox on a command line; aiosmtplib judges the rest.
_UNUSUAL = re.compile(r'[\s<>"()\x00-\x1f\x7f]')


async def send_message(
    smtp: aiosmtplib.SMTP, message: EmailMessage, sender: str, recipients: Sequence[str]
) -> tuple[Refused, str]:
    """Send through aiosmtplib; the reply with its code (it returns only on 250)."""
    refused, reply = await smtp.send_message(message, sender=sender, recipients=recipients)
    return refused, f"{SMTPStatus.completed.value} {reply}"


async def send_bytes(
    smtp: aiosmtplib.SMTP, data: bytes, sender: str, recipients: Sequence[str]
) -> tuple[Refused, str]:
    """MAIL, RCPT and DATA for serialised ``data``; RSET when the server refuses."""
    utf8 = not (sender.isascii() and all(r.isascii() for r in recipients))
    encoding = "utf-8" if utf8 else "ascii"
    options = _mail_options(smtp, data, utf8)
    try:
        reply = await smtp.execute_command(b"MAIL", b"FROM:" + _path(sender, encoding), *options)
        if reply.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
        refused = await _recipients(smtp, recipients, encoding)
        reply = await smtp.data(data)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        await _reset_quietly(smtp)
        raise
    return refused, f"{reply.code} {reply.message}"


def _mail_options(smtp: aiosmtplib.SMTP, data: bytes, utf8: bool) -> list[bytes]:
    options: list[bytes] = []
    if smtp.supports_extension("size"):
        options.append(b"SIZE=%d" % len(data))  # CRLF already: the size as transmitted
    if utf8:
        if not smtp.supports_extension("smtputf8"):
            raise aiosmtplib.SMTPNotSupported(
                "An address contains non-ASCII characters, but the server does not offer SMTPUTF8"
            )
        options.append(b"SMTPUTF8")
    if not data.isascii() and smtp.supports_extension("8bitmime"):
        options.append(b"BODY=8BITMIME")
    return options


async def _recipients(smtp: aiosmtplib.SMTP, recipients: Sequence[str], encoding: str) -> Refused:
    refused: list[aiosmtplib.SMTPRecipientRefused] = []
    for address in recipients:
        reply = await smtp.execute_command(b"RCPT", b"TO:" + _path(address, encoding))
        if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            refused.append(aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, address))
    if len(refused) == len(recipients):
        raise aiosmtplib.SMTPRecipientsRefused(refused)
    return {e.recipient: SMTPResponse(e.code, e.message) for e in refused}


def _path(address: str, encoding: str) -> bytes:
    """``<address>``; anything but a bare address goes through aiosmtplib's checks."""
    if _UNUSUAL.search(address):
        return quote_address(address).encode(encoding)  # raises ValueError on an injection
    return f"<{address}>".encode(encoding)


async def _reset_quietly(smtp: aiosmtplib.SMTP) -> None:
    """Clear the envelope for the next message, as aiosmtplib's sendmail does."""
    # gone or confused: the pool discards the connection when it is no longer connected
    with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
        await smtp.rset()
