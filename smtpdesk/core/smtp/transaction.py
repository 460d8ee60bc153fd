"""One mail transaction on an open connection: MAIL, RCPT for each recipient, DATA.

An ``EmailMessage`` is flattened by aiosmtplib (8-bit where the connection offers
8BITMIME, UTF-8 headers where an address needs SMTPUTF8) and then sent as bytes.
Bytes skip ``sendmail``: it parses every address twice more and rescans the message
for SIZE, and it drops the reply code, which :class:`SendResult` keeps.

Once the content has gone out, a lost connection or a missing reply does not mean the
message was refused: :class:`UnconfirmedError` says so (the server may have taken it).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from email.message import EmailMessage

import aiosmtplib
from aiosmtplib import SMTPResponse, SMTPStatus
from aiosmtplib.email import flatten_message, quote_address
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

from smtpdesk.core.smtp.errors import UnconfirmedError

Refused = dict[str, SMTPResponse]
# What may not stand in a bare mailbox on a command line; aiosmtplib judges the rest.
_UNUSUAL = re.compile(r'[\s<>"()\x00-\x1f\x7f]')


async def send_message(
    smtp: aiosmtplib.SMTP, message: EmailMessage, sender: str, recipients: Sequence[str]
) -> tuple[Refused, str]:
    """Flatten as aiosmtplib's ``send_message`` does, then send as bytes."""
    utf8 = not (sender.isascii() and all(r.isascii() for r in recipients))
    cte_type = "8bit" if smtp.supports_extension("8bitmime") else "7bit"
    data = flatten_message(message, utf8=utf8, cte_type=cte_type)
    return await send_bytes(smtp, data, sender, recipients)


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
        reply = await _data(smtp, data)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        await _reset_quietly(smtp)
        raise
    return refused, f"{reply.code} {reply.message}"


async def _data(smtp: aiosmtplib.SMTP, data: bytes) -> SMTPResponse:
    """DATA, then the content; after the content, a lost reply is :class:`UnconfirmedError`.

    aiosmtplib's ``data()`` does both steps in one call, so a failure could not tell
    "refused before the content" from "sent, then no answer".
    """
    start = await smtp.execute_command(b"DATA")
    if start.code != SMTPStatus.start_input:
        raise aiosmtplib.SMTPDataError(start.code, start.message)
    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    content = PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"
    protocol.write(content)  # raises, nothing sent, if the connection is already gone
    try:
        reply = await protocol.read_response(timeout=smtp.timeout)
    except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
        smtp.close()
        raise UnconfirmedError(f"no reply after the message was sent: {exc}") from exc
    if reply.code != SMTPStatus.completed:
        raise aiosmtplib.SMTPDataError(reply.code, reply.message)
    return reply


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
