"""What one message in the feedback mailbox says: no database, no network.

In order: an RFC 5965 ARF complaint report; an RFC 3464 delivery status notification
(read with the stdlib ``email`` package); a mailto unsubscribe request (the token in the
subject or in the To address); a bounce in a provider's own format (flufl.bounce, only
for messages that come from a mailer daemon); an RFC 3834 auto-reply (ignored); anything
else is left alone. A DSN or an ARF report also yields what identifies the original
message: its Message-ID, References and the token in its ``List-Unsubscribe``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from email.utils import getaddresses, parseaddr
from enum import StrEnum

import flufl.bounce

from smtpdesk.core.feedback.tokens import SUBJECT_PREFIX, find_tokens

_STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_SMTP_CODE_RE = re.compile(r"\b([45])\d\d[ -]")
_MSGID_RE = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_DAEMON_RE = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mdaemon)@", re.I)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|delivery (status|failure|has failed|notification)|returned mail|"
    r"failure notice|mail delivery failed|could not be delivered|non.?delivery",
    re.I,
)
_AUTO_SUBJECT_RE = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|antwort)|auto:|out of (the )?office|"
    r"abwesenheit|absence|vacation|r[ée]ponse automatique)",
    re.I,
)
_ORIGINAL_HEADERS = re.compile(r"^(message-id|list-unsubscribe|references|in-reply-to):", re.I)


class Kind(StrEnum):
    HARD = "hard"  # a permanent failure: 5.x.x
    SOFT = "soft"  # a temporary one: 4.x.x, or delayed
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    AUTO_REPLY = "auto_reply"  # RFC 3834, vacation notices: ignored
    OTHER = "other"  # nothing of ours: left untouched


@dataclass(frozen=True)
class Finding:
    """One recipient the message is about."""

    kind: Kind
    email: str = ""  # lower-cased; may be empty (an unsubscribe request knows its token)
    status: str = ""  # the raw status text: "5.1.1 (550 5.1.1 <x>: User unknown)"
    remote_mta: str = ""


@dataclass(frozen=True)
class Classified:
    key: str  # what identifies the message for "already processed"
    kind: Kind
    findings: tuple[Finding, ...] = ()
    tokens: tuple[str, ...] = ()  # token-shaped words: the request's or the original's
    original_ids: tuple[str, ...] = ()  # the original message's Message-ID, References...
    subject: str = ""

    @property
    def actionable(self) -> bool:
        return self.kind in (Kind.HARD, Kind.SOFT, Kind.COMPLAINT, Kind.UNSUBSCRIBE)


@dataclass
class _Original:
    ids: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    to: str = ""


def message_key(raw: bytes, msg: Message | None = None) -> str:
    """The Message-ID when there is one, else a digest of the whole message."""
    msg = msg if msg is not None else _parse(raw)
    message_id = _header(msg, "Message-ID")
    found = _MSGID_RE.search(message_id)
    if found:
        return f"mid:{found.group(0).lower()}"
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def classify(raw: bytes) -> Classified:
    msg = _parse(raw)
    key = message_key(raw, msg)
    subject = " ".join(_header(msg, "Subject").split())
    content_type = msg.get_content_type()
    report_type = (msg.get_param("report-type") or "") if content_type == "multipart/report" else ""
    if isinstance(report_type, tuple):  # an RFC 2231 value
        report_type = str(report_type[2])
    report_type = report_type.lower()
    if report_type == "feedback-report" or _part(msg, "message/feedback-report") is not None:
        return _complaint(msg, key, subject)
    if report_type == "delivery-status" or _part(msg, "message/delivery-status") is not None:
        dsn = _dsn(msg, key, subject)
        if dsn is not None:
            return dsn
    request = _unsubscribe(msg, key, subject)
    if request is not None:
        return request
    if _from_daemon(msg, subject):
        bounce = _fallback_bounce(msg, key, subject)
        if bounce is not None:
            return bounce
    if _auto_reply(msg, subject):
        return Classified(key, Kind.AUTO_REPLY, subject=subject)
    return Classified(key, Kind.OTHER, subject=subject)


# --- parsing helpers --------------------------------------------------------------------


def _parse(raw: bytes) -> Message:
    return message_from_bytes(raw, policy=policy.compat32)


def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    if value is None:
        return ""
    return str(value) if not isinstance(value, str) else value


def _walk(msg: Message) -> Iterable[Message]:
    yield from msg.walk()


def _part(msg: Message, content_type: str) -> Message | None:
    for part in _walk(msg):
        if part.get_content_type() == content_type:
            return part
    return None


def _groups(part: Message) -> list[Message]:
    """The header groups of a delivery-status or feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    text = payload if isinstance(payload, str) else ""
    if part.get("Content-Transfer-Encoding", "").lower() in ("base64", "quoted-printable"):
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else text
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [message_from_bytes(b.encode("utf-8", "replace") + b"\n") for b in blocks if b.strip()]


def _address(value: str) -> str:
    """``rfc822; bob@example.test`` or ``<bob@example.test>`` as ``bob@example.test``."""
    text = value.partition(";")[2] if ";" in value else value
    address = parseaddr(" ".join(text.split()))[1] or text.strip().strip("<>")
    return address.lower() if "@" in address else ""


def _original(msg: Message) -> _Original:
    """What the report carries of the message it is about (full message or headers)."""
    found = _Original()
    for part in _walk(msg):
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                _read_original_headers(inner[0], found)
        elif kind in ("text/rfc822-headers", "text/rfc822-header"):
            data = part.get_payload(decode=True)
            text = data if isinstance(data, bytes) else b""
            _read_original_headers(message_from_bytes(text), found)
    return found


def _read_original_headers(headers: Message, found: _Original) -> None:
    for name in ("Message-ID", "In-Reply-To", "References"):
        found.ids.extend(m.lower() for m in _MSGID_RE.findall(_header(headers, name)))
    found.tokens.extend(find_tokens(_header(headers, "List-Unsubscribe")))
    found.to = found.to or _address(_header(headers, "To"))


def _original_in_text(msg: Message) -> _Original:
    """The original's headers quoted in a plain-text bounce (Exim, qmail, many others)."""
    found = _Original()
    for part in _walk(msg):
        if part.get_content_maintype() != "text":
            continue
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else ""
        for line in text.splitlines():
            stripped = line.strip()
            if _ORIGINAL_HEADERS.match(stripped):
                name, _, value = stripped.partition(":")
                if name.lower() == "list-unsubscribe":
                    found.tokens.extend(find_tokens(value))
                else:
                    found.ids.extend(m.lower() for m in _MSGID_RE.findall(value))
    return found


# --- the kinds --------------------------------------------------------------------------


def _complaint(msg: Message, key: str, subject: str) -> Classified:
    part = _part(msg, "message/feedback-report")
    report = _groups(part)[0] if part is not None and _groups(part) else Message()
    original = _original(msg)
    feedback_type = _header(report, "Feedback-Type").strip().lower() or "abuse"
    email = _address(_header(report, "Original-Rcpt-To")) or original.to
    status = f"{feedback_type} report"
    agent = _header(report, "User-Agent").strip()
    if agent:
        status += f" from {agent}"
    return Classified(
        key,
        Kind.COMPLAINT,
        (Finding(Kind.COMPLAINT, email, status),),
        tuple(original.tokens),
        tuple(original.ids),
        subject,
    )


def _dsn(msg: Message, key: str, subject: str) -> Classified | None:
    part = _part(msg, "message/delivery-status")
    if part is None:
        return None
    findings = []
    for group in _groups(part)[1:]:  # the first group is about the message, not a recipient
        finding = _recipient_finding(group)
        if finding is not None:
            findings.append(finding)
    original = _original(msg)
    original.tokens.extend(_verp_tokens(msg))
    if not findings:  # delivered, relayed or expanded: nothing to act on
        return Classified(key, Kind.OTHER, (), tuple(original.tokens), tuple(original.ids), subject)
    kind = Kind.HARD if any(f.kind == Kind.HARD for f in findings) else Kind.SOFT
    return Classified(
        key, kind, tuple(findings), tuple(original.tokens), tuple(original.ids), subject
    )


def _recipient_finding(group: Message) -> Finding | None:
    action = _header(group, "Action").strip().lower()
    status = " ".join(_header(group, "Status").split())
    if action not in ("failed", "delayed"):
        return None
    email = _address(_header(group, "Final-Recipient")) or _address(
        _header(group, "Original-Recipient")
    )
    diagnostic = " ".join(_header(group, "Diagnostic-Code").split())
    diagnostic = diagnostic.partition(";")[2].strip() if ";" in diagnostic else diagnostic
    match = _STATUS_RE.search(status)
    hard = action == "failed" and (match is None or match.group(1) == "5")
    raw = f"{status} ({diagnostic})" if diagnostic else status or action
    mta = _header(group, "Remote-MTA").partition(";")[2].strip()
    return Finding(Kind.HARD if hard else Kind.SOFT, email, raw, mta)


def _unsubscribe(msg: Message, key: str, subject: str) -> Classified | None:
    """A request sent to the List-Unsubscribe mailto: ``unsubscribe-TOKEN`` in the subject,
    or ``local+unsubscribe-TOKEN@domain`` as the address it was sent to."""
    tokens = []
    if SUBJECT_PREFIX in subject.lower():
        tail = subject.lower().partition(SUBJECT_PREFIX)[2]
        tokens = find_tokens(tail) or [tail.split()[0] if tail.split() else ""]
    else:
        for _, address in getaddresses(
            [_header(msg, n) for n in ("To", "Delivered-To", "X-Original-To")]
        ):
            local = address.rpartition("@")[0].lower()
            if f"+{SUBJECT_PREFIX}" in local:
                tokens = [local.partition(f"+{SUBJECT_PREFIX}")[2]]
                break
    if not tokens:
        return None
    sender = _address(_header(msg, "From"))
    return Classified(
        key,
        Kind.UNSUBSCRIBE,
        (Finding(Kind.UNSUBSCRIBE, sender, f"unsubscribe request: {subject[:200]}"),),
        tuple(tokens),
        (),
        subject,
    )


def _verp_tokens(msg: Message) -> list[str]:
    """A bounce sent to the VERP return path ``local+TOKEN@domain`` names its recipient."""
    tokens = []
    for _, address in getaddresses(
        [_header(msg, n) for n in ("To", "Delivered-To", "X-Original-To")]
    ):
        local = address.rpartition("@")[0]
        if "+" in local:
            tokens.extend(find_tokens(local.partition("+")[2]))
    return tokens


def _from_daemon(msg: Message, subject: str) -> bool:
    sender = _address(_header(msg, "From"))
    return bool(
        _DAEMON_RE.match(sender)
        or _header(msg, "X-Failed-Recipients")
        or _header(msg, "Return-Path").strip() == "<>"
        or _BOUNCE_SUBJECT_RE.search(subject)
    )


def _fallback_bounce(msg: Message, key: str, subject: str) -> Classified | None:
    """A bounce in a provider's own format, recognised by flufl.bounce's detectors."""
    temporary, permanent = flufl.bounce.all_failures(msg)
    if not temporary and not permanent:
        return None
    body = _text(msg)
    match = _STATUS_RE.search(body)
    code = _SMTP_CODE_RE.search(body)
    status = match.group(0) if match else (code.group(0).strip() if code else "")
    line = next((ln.strip() for ln in body.splitlines() if status and status in ln), "")
    raw = f"{status} ({line[:300]})" if line and line != status else status or "bounce"
    findings = [
        Finding(Kind.HARD, a.decode("utf-8", "replace").lower(), raw) for a in sorted(permanent)
    ]
    findings += [
        Finding(Kind.SOFT, a.decode("utf-8", "replace").lower(), raw)
        for a in sorted(temporary - permanent)
    ]
    original = _original_in_text(msg)
    original.tokens.extend(_verp_tokens(msg))
    kind = Kind.HARD if permanent else Kind.SOFT
    return Classified(
        key, kind, tuple(findings), tuple(original.tokens), tuple(original.ids), subject
    )


def _text(msg: Message) -> str:
    texts = []
    for part in _walk(msg):
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                texts.append(data.decode("utf-8", "replace"))
    return "\n".join(texts)


def _auto_reply(msg: Message, subject: str) -> bool:
    """RFC 3834 ``Auto-Submitted``, the vendors' X- headers, or a vacation subject."""
    auto = _header(msg, "Auto-Submitted").strip().lower()
    if auto and auto != "no":
        return True
    if any(_header(msg, h) for h in ("X-Autoreply", "X-Autorespond", "X-Autoresponder")):
        return True
    if _header(msg, "Precedence").strip().lower() in ("auto_reply", "bulk", "junk"):
        return True
    return bool(_AUTO_SUBJECT_RE.search(subject))
