"""Fast MIME assembly for campaign messages.

The ``email`` package's header registry parses and re-folds every header of every
message, which costs milliseconds per message: a campaign's parts are the same
for every recipient except a few strings. :class:`MimeTemplate` writes the MIME
structure once (boundaries, attachments already base64-encoded) and, per
recipient, only encodes the subject and bodies (RFC 2047, quoted-printable, both
in C). :meth:`MimeTemplate.build_bytes` gives the message as it goes on the wire
(CRLF, headers pre-folded to 78 columns); :meth:`MimeTemplate.build` wraps the
same in an ``EmailMessage`` (compat32 policy, the finished multipart body as its
payload) whose :attr:`PreparedMessage.wire` holds those bytes, for senders that
can skip the ``email`` package's generator.

No header line leaves here with a line break of its own: :func:`header_text`
flattens rendered text, and :func:`check_header` (the last guard, in
:func:`_serialise`) refuses a name or value that could start another header or end
the header block, so a recipient's field can never add a ``Bcc:`` or a body.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
import time
import uuid
from collections.abc import Sequence
from email import policy
from email.errors import HeaderParseError
from email.header import Header
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from smtpdesk.core.errors import KnownError

MAX_LINE = 78
CRLF = "\r\n"
Attachment = tuple[str, bytes, tuple[str, str]]  # filename, data, (maintype, subtype)
FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")  # RFC 5322: printable ASCII but ':'
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_GOOD_NAMES: set[str] = set()  # names seen to be valid: most messages repeat the same few
_BAD_BREAK = re.compile(r"\n(?![ \t]+\S)")  # a break that is not a fold before more text


class UnsafeHeaderError(KnownError):
    """A header line would carry a line break or NUL of its own: the message is not sent."""

    cause = "unsafe_header"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"The {name[:60]!r} header would contain a line break or a control character, "
            "which could add headers to the message; it was not sent.",
            "Check this recipient's fields for line breaks.",
        )


def header_text(value: str) -> str:
    """Rendered text fit for one header: control characters and runs of space made one space."""
    return " ".join(_CONTROL.sub(" ", value).split())


def check_header(name: str, value: str) -> None:
    """Raise :class:`UnsafeHeaderError` unless the field is one header: folds only."""
    if name not in _GOOD_NAMES:
        if not FIELD_NAME.fullmatch(name):
            raise UnsafeHeaderError(name)
        _GOOD_NAMES.add(name)
    if _CONTROL.search(value) is None:
        return  # one line without control characters: the usual case
    unfolded = value.replace(CRLF, "\n")
    if _BAD_BREAK.search(unfolded) or _CONTROL.search(unfolded.replace("\n", "").replace("\t", "")):
        raise UnsafeHeaderError(name)


def encode_header(name: str, value: str) -> str:
    """``value`` as RFC 2047 encoded words when not ASCII, folded to 78 columns."""
    if value.isascii() and len(name) + 2 + len(value) <= MAX_LINE:
        return value
    charset = "us-ascii" if value.isascii() else "utf-8"
    try:
        return Header(value, charset, header_name=name, maxlinelen=MAX_LINE - 2).encode()
    except HeaderParseError as exc:  # "appears to contain an embedded header"
        raise UnsafeHeaderError(name) from exc


def quoted_printable(text: str) -> str:
    text = text.replace("\r\n", "\n")
    data = (text if text.endswith("\n") else text + "\n").encode("utf-8")  # as set_content
    return binascii.b2a_qp(data, istext=True).decode("ascii").replace("\n", CRLF)


def _text_part(subtype: str, body: str) -> str:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
        f"{quoted_printable(body)}"
    )


def _attachment_part(filename: str, data: bytes, kind: tuple[str, str]) -> str:
    name = encode_header("Content-Disposition", filename)
    if name == filename:
        name = filename.replace("\\", "\\\\").replace('"', '\\"')
    encoded = base64.encodebytes(data).decode("ascii").replace("\n", CRLF)
    return (
        f"Content-Type: {kind[0]}/{kind[1]}{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}"
        f'Content-Disposition: attachment; filename="{name}"{CRLF}{CRLF}{encoded}'
    )


def _inline_part(cid: str, filename: str, data: bytes, kind: tuple[str, str]) -> str:
    """An image the HTML shows as ``cid:`` (RFC 2392), inside multipart/related."""
    return _attachment_part(filename, data, kind).replace(
        "Content-Disposition: attachment;", f"Content-ID: <{cid}>{CRLF}Content-Disposition: inline;"
    )


def _multipart(boundary: str, parts: Sequence[str]) -> str:
    body = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return f"{body}--{boundary}--{CRLF}"


class PreparedMessage(EmailMessage):
    """A message whose MIME body is already written, so its content type is known.

    The generator asks for the content type with the SMTP policy in force, which
    would parse the header through the registry for every message.
    """

    content_type = "text/plain"
    wire = b""  # the whole message, serialised as :meth:`MimeTemplate.build_bytes` does

    def get_content_type(self) -> str:
        return self.content_type


class MimeTemplate:
    """The fixed parts of a campaign's messages; :meth:`build` adds one recipient's."""

    def __init__(
        self,
        *,
        from_name: str,
        from_address: str,
        reply_to: str = "",
        attachments: Sequence[Attachment] = (),
        related: Sequence[tuple[str, Attachment]] = (),  # (Content-ID, image): inline images
    ) -> None:
        name = header_text(from_name)
        self.sender = encode_header("From", formataddr((name, from_address), charset="utf-8"))
        self.reply_to = reply_to
        self.domain = from_address.rpartition("@")[2] or "smtpdesk.invalid"
        token = uuid.uuid4().hex
        # "==" never occurs in quoted-printable or base64 text, so no body can hold these
        self.outer = f"==smtpdesk-mixed-{token}=="
        self.inner = f"==smtpdesk-alt-{token}=="
        self.attachments = [_attachment_part(*a) for a in attachments]
        self.related = [_inline_part(cid, *image) for cid, image in related]
        self.related_boundary = f"==smtpdesk-rel-{token}=="
        self._date = (0, "")
        self._token = uuid.uuid4().hex
        self._serial = itertools.count(1)

    def date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, localtime=True))
        return self._date[1]

    def build(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> PreparedMessage:
        """One recipient's message (``to`` must be ASCII: callers fall back otherwise)."""
        fields, content_type, body = self._parts(to, subject, text, html, headers)
        message = PreparedMessage(policy=policy.compat32)
        for name, value in fields:
            message[name] = value
        message.content_type = content_type.partition(";")[0]
        message.set_payload(body)
        message.wire = _serialise(fields, body)
        return message

    def build_bytes(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        headers: Sequence[tuple[str, str]] = (),
    ) -> bytes:
        """The same message as :meth:`build`, serialised with CRLF line endings.

        A non-ASCII ``to`` is written as UTF-8, which needs a server offering SMTPUTF8.
        """
        fields, _, body = self._parts(to, subject, text, html, headers)
        return _serialise(fields, body)

    def _parts(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        headers: Sequence[tuple[str, str]],
    ) -> tuple[list[tuple[str, str]], str, str]:
        """The header fields (values folded), the content type and the finished body."""
        fields = [
            ("Subject", encode_header("Subject", subject)),
            ("From", self.sender),
            ("To", to),
        ]
        if self.reply_to:
            fields.append(("Reply-To", self.reply_to))
        fields.append(("Date", self.date()))
        # a random token per template and a counter: unique without a urandom call each time
        fields.append(("Message-ID", f"<{self._token}.{next(self._serial)}@{self.domain}>"))
        fields.extend((name, encode_header(name, value)) for name, value in headers)
        fields.append(("MIME-Version", "1.0"))
        content_type, body, qp = self._body(text, html)
        if qp:
            fields.append(("Content-Transfer-Encoding", "quoted-printable"))
        fields.append(("Content-Type", content_type))
        return fields, content_type, body

    def _html_part(self, html: str) -> str:
        """The HTML part; with inline images, a multipart/related of it and them."""
        part = _text_part("html", html)
        if not self.related:
            return part
        related = _multipart(self.related_boundary, [part, *self.related])
        return (
            f'Content-Type: multipart/related;{CRLF} boundary="{self.related_boundary}"'
            f"{CRLF}{CRLF}{related}"
        )

    def _body(self, text: str, html: str | None) -> tuple[str, str, bool]:
        """Content type, body, and whether the body itself is quoted-printable."""
        if html is None:
            content_type, body = 'text/plain; charset="utf-8"', quoted_printable(text)
            if not self.attachments:
                return content_type, body, True
            first = _text_part("plain", text)
        else:
            content_type = f'multipart/alternative;{CRLF} boundary="{self.inner}"'
            body = _multipart(self.inner, [_text_part("plain", text), self._html_part(html)])
            if not self.attachments:
                return content_type, body, False
            first = f"Content-Type: {content_type}{CRLF}{CRLF}{body}"
        content_type = f'multipart/mixed;{CRLF} boundary="{self.outer}"'
        return content_type, _multipart(self.outer, [first, *self.attachments]), False


def envelope(
    message: EmailMessage, from_address: str, return_path: str | None = None
) -> tuple[EmailMessage | bytes, str | None]:
    """What goes to the sender: a message from the fast path as its ready bytes with the
    campaign's address as the envelope sender; otherwise the message, whose From header
    is that address. ``return_path`` (VERP) replaces that envelope sender in both cases;
    a server's Return-Path still wins over all."""
    if isinstance(message, PreparedMessage) and message.wire:
        return message.wire, return_path or from_address
    return message, return_path


def message_id_of(message: EmailMessage) -> str | None:
    return str(message.get("Message-ID", "")).strip().lower() or None


def _serialise(fields: Sequence[tuple[str, str]], body: str) -> bytes:
    """Header lines (folds made CRLF), a blank line and the body (already CRLF).

    Raises :class:`UnsafeHeaderError` for a field :func:`check_header` refuses.
    """
    for name, value in fields:
        check_header(name, value)
    head = "".join(f"{name}: {_crlf(value)}{CRLF}" for name, value in fields)
    return f"{head}{CRLF}{body}".encode()


def _crlf(value: str) -> str:
    if "\n" not in value:
        return value
    return value.replace(CRLF, "\n").replace("\n", CRLF)
