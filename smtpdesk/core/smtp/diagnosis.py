"""Every SMTP failure, in a test or a send, mapped to a cause, one sentence and hints.

The cause keys are stable (the campaign engine and the GUI group errors by them).
The advice follows listmonk's Troubleshooting section. ``raw`` keeps the server's
reply or the low-level error text, which never contains the password.
"""

from __future__ import annotations

import base64
import errno
import socket
import ssl
from collections.abc import Iterator
from dataclasses import replace
from typing import TypeVar

import aiosmtplib

from smtpdesk.core import logs
from smtpdesk.core.settings import AuthProtocol, ServerSettings, TlsType
from smtpdesk.core.smtp.certificate import format_fingerprint
from smtpdesk.core.smtp.errors import (
    AuthNotOfferedError,
    CertificateChangedError,
    NoServerAvailableError,
    PoolClosedError,
    PoolWaitTimeoutError,
    StartTlsNotOfferedError,
    StepFailedError,
    UnconfirmedError,
)
from smtpdesk.core.smtp.oauth_diagnosis import (
    OAUTH_CAUSES,
    OAUTH_SERVER_CAUSES,
    oauth_failure,
    provider_auth,
)
from smtpdesk.core.smtp.types import Diagnosis, SendError
from smtpdesk.core.smtp.xoauth2 import wire_form

CAUSES = (
    "dns_not_found",
    "connection_refused",
    "timeout",
    "tls_mismatch",
    "certificate_invalid",
    "certificate_changed",
    "starttls_not_offered",
    "starttls_required",
    "auth_mechanism_not_offered",
    "auth_failed",
    "login_required",
    "relay_denied",
    "sender_refused",
    "recipient_refused",
    "rate_limited",
    "greylisted",
    "temporary_failure",
    "connection_dropped",
    "pool_wait_timeout",
    "permanent_failure",
    "no_server_available",
    "pool_closed",
    "unknown",
    *OAUTH_CAUSES,
)
# Failures of the connection itself: the messenger backs off from such a server.
CONNECTION_CAUSES = frozenset(
    {
        "dns_not_found",
        "connection_refused",
        "timeout",
        "tls_mismatch",
        "certificate_invalid",
        "certificate_changed",
        "starttls_not_offered",
        "connection_dropped",
    }
)
# Failures that make a server unusable for every message, not for one recipient: the
# messenger backs off from it, and a campaign with no other server pauses rather than
# marking its recipients failed.
SERVER_CAUSES = CONNECTION_CAUSES | {
    "auth_failed",
    "auth_mechanism_not_offered",
    "starttls_required",
    "login_required",
    *OAUTH_SERVER_CAUSES,
}
_UNCONFIRMED_HINTS = (
    "The server may have delivered it: it is not sent again unless you ask "
    "(campaign retry-failed --include-unknown).",
)
_TIMEOUT_HINTS = (
    "Verify the SMTP host and port are correct.",
    "Check whether your hosting provider blocks outgoing SMTP ports (port 25 often is).",
    "Make sure firewall rules allow outbound connections on this port.",
    "Try an alternative port, such as 2525 or 587.",
)
_TLS_HINTS = ("Use TLS with port 465 and STARTTLS with port 587.",)
_AUTH_HINTS = (
    "Double-check the username and password.",
    "For Gmail, use an App Password, not your regular password.",
    "For SendGrid the username is always 'apikey' and the password is your API key.",
    "Some providers want the full email address as the username.",
    "Check that Authentication → Protocol matches what your provider requires.",
)
_RATE_HINTS = (
    "Lower Pool → Max connections for this server, or the campaign's message rate.",
    "Check your provider's sending limits.",
)
_WRONG_TLS_REASONS = (
    "WRONG_VERSION_NUMBER",
    "UNKNOWN_PROTOCOL",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "HTTP_REQUEST",
    "UNEXPECTED_RECORD",
)
# Refusals that, from a server offering AUTH to a client that did not log in, mean
# "log in first" (without AUTH on offer, "relay access denied" is about the address).
_LOGIN_WORDS = ("5.7.0", "5.7.1", "access denied", "relay access denied")
_E = TypeVar("_E", bound=BaseException)
_RATE_WORDS = ("rate", "too many", "limit", "throttl", "slow down", "try again later")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    return next((e for e in _chain(exc) if isinstance(e, kind)), None)


def _raw(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return f"{first.code} {first.message}"
    return str(exc) or type(exc).__name__


def _where(settings: ServerSettings | None) -> str:
    return f"{settings.host}:{settings.port}" if settings else "the server"


def diagnose(
    exc: BaseException,
    settings: ServerSettings | None = None,
    stage: str = "",
    password: str | None = None,
    *,
    offers_auth: bool | None = None,
) -> Diagnosis:
    """Why ``exc`` happened, for the user; ``stage`` is the step that failed, when known.

    With ``password``, any trace of it in the server's words is masked (see ``redact``).
    ``offers_auth``: whether the server's EHLO listed AUTH (None: not known), which
    tells a refusal for want of a login from one for the address itself.
    """
    if isinstance(exc, SendError):
        return redact(exc.diagnosis, settings, password)
    if isinstance(exc, UnconfirmedError) and exc.__cause__ is not None:
        inner = diagnose(exc.__cause__, settings, "the end of the message", password)
        return replace(
            inner,
            message=f"{_where(settings)} received the whole message but never confirmed it "
            f"({'no reply in time' if inner.cause == 'timeout' else 'the connection closed'}):"
            " it may or may not have been delivered.",
            hints=(*_UNCONFIRMED_HINTS, *(h for h in inner.hints if "retried" not in h)),
            unconfirmed=True,
        )
    if isinstance(exc, StepFailedError):
        return diagnose(exc.cause, settings, stage or exc.stage, password, offers_auth=offers_auth)
    raw = _raw(exc)
    login = _login_required(exc, settings, raw, offers_auth)
    if login is not None:
        return redact(login, settings, password)
    for check in (_pool, oauth_failure, _tls_setup, _auth_choice, _network, provider_auth, _reply):
        found = check(exc, settings, stage, raw)
        if found is not None:
            return redact(found, settings, password)
    return redact(
        Diagnosis("unknown", f"Sending failed: {raw}", (), raw, False), settings, password
    )


def secret_forms(username: str, password: str) -> list[str]:
    """The password as typed, and base64-encoded as AUTH LOGIN and PLAIN send it."""
    if not password:
        return []
    on_wire = (password, f"\0{username}\0{password}", f"{username}\0{username}\0{password}")
    encoded = (base64.b64encode(text.encode()).decode() for text in on_wire)
    return [password, *encoded, wire_form(username, password)]  # the last: XOAUTH2


def redact(
    diagnosis: Diagnosis, settings: ServerSettings | None, password: str | None
) -> Diagnosis:
    """The diagnosis with every form of ``password`` replaced by ``***``.

    A server may quote what it was sent (a base64 AUTH line, say) in its reply, and the
    reply reaches the screen, the ledger and the CSV export. Every secret the process
    has handed out is masked too (:func:`logs.redact`): an OAuth access token, which a
    pool never passes here, and its XOAUTH2 line, whatever username it was sent with.
    """
    forms = secret_forms(settings.username if settings else "", password or "")
    raw, message = diagnosis.raw, diagnosis.message
    for form in sorted(forms, key=len, reverse=True):
        raw, message = raw.replace(form, "***"), message.replace(form, "***")
    raw, message = logs.redact(raw), logs.redact(message)
    if (raw, message) == (diagnosis.raw, diagnosis.message):
        return diagnosis
    return replace(diagnosis, raw=raw, message=message)


def _pool(exc: BaseException, s: ServerSettings | None, stage: str, raw: str) -> Diagnosis | None:
    if isinstance(exc, PoolWaitTimeoutError):
        wait = f"{s.wait_timeout:g} s" if s else "wait_timeout"
        return Diagnosis(
            "pool_wait_timeout",
            f"Every connection to {_where(s)} stayed busy for longer than {wait}.",
            ("Raise max_conns or wait_timeout, or lower the campaign's concurrency.",),
            raw,
            True,
        )
    if isinstance(exc, PoolClosedError):
        return Diagnosis(
            "pool_closed", "Sending stopped: the connections were being closed.", (), raw, True
        )
    if isinstance(exc, NoServerAvailableError):
        return Diagnosis(
            "no_server_available",
            str(exc),
            ("Check the servers' last errors; they are retried after a pause.",),
            raw,
            True,
        )
    return None


def _tls_setup(
    exc: BaseException, s: ServerSettings | None, stage: str, raw: str
) -> Diagnosis | None:
    if isinstance(exc, StartTlsNotOfferedError):
        return Diagnosis(
            "starttls_not_offered",
            f"{_where(s)} does not offer STARTTLS, so nothing would be encrypted.",
            (
                "If the port is 465, set Security → TLS type to TLS.",
                "Otherwise ask the provider for the STARTTLS port, usually 587.",
                "Choose TLS type none only for a trusted local server.",
            ),
            raw,
            False,
        )
    changed = _find(exc, CertificateChangedError)
    if changed is not None:
        return _certificate_changed(changed, s, raw)
    cert = _find(exc, ssl.SSLCertVerificationError)
    bare = _find(exc, ssl.SSLError)
    if cert is not None or (bare is not None and _reason(bare) == "CERTIFICATE_VERIFY_FAILED"):
        return _certificate(cert, s, raw)
    if bare is not None and _reason(bare) in _WRONG_TLS_REASONS:
        return _tls_mismatch(s, raw, implicit_on_plain_port=True)
    if bare is not None:
        return Diagnosis(
            "tls_mismatch",
            f"The TLS handshake with {_where(s)} failed: {raw}",
            (*_TLS_HINTS, "Check that the server's SSL certificate is valid."),
            raw,
            False,
        )
    return None


def _reason(error: ssl.SSLError) -> str:
    # Only OpenSSL's own errors carry ``reason``; one raised from Python code has none.
    return str(getattr(error, "reason", None) or "")


def _certificate(
    cert: ssl.SSLCertVerificationError | None, s: ServerSettings | None, raw: str
) -> Diagnosis:
    code = cert.verify_code if cert is not None else 0
    reason = cert.verify_message if cert is not None else "verification failed"
    if code == 10:
        what = "has expired"
    elif code in (62, 64):  # host name or IP address mismatch
        what = f"is for another host name than {s.host!r}" if s else "is for another host name"
    elif code in (18, 19):
        what = "is self-signed: no authority vouches for it"
    elif code in (20, 21):
        what = "is signed by an unknown authority, one this computer does not trust"
    else:
        what = f"is not valid ({reason})"
    hints = (
        "Check the host name: it must match the certificate.",
        "Ask the provider to renew or fix the certificate.",
    )
    if code in (18, 19, 20, 21):
        hints = (
            "If you know this server (your own, or your company's), check the certificate "
            "shown by Test and choose Trust this certificate: only that certificate is "
            "then accepted.",
            "Otherwise ask the provider for a certificate from a public authority.",
        )
    return Diagnosis(
        "certificate_invalid",
        f"The server's TLS certificate {what}.",
        (
            *hints,
            "Security → Skip TLS certificate verification accepts any certificate: "
            "testing only, never production.",
        ),
        raw,
        False,
    )


def _certificate_changed(
    exc: CertificateChangedError, s: ServerSettings | None, raw: str
) -> Diagnosis:
    presented = format_fingerprint(exc.presented) if exc.presented else "no certificate"
    return Diagnosis(
        "certificate_changed",
        f"{_where(s)} presented another certificate than the one you trusted: "
        f"trusted SHA-256 {format_fingerprint(exc.pinned)}, presented {presented}. "
        "Nothing was sent.",
        (
            "A renewed certificate changes its fingerprint: ask the server's owner "
            "whether it was renewed, then test again and trust the new one.",
            "If it was not renewed, someone may be intercepting the connection.",
        ),
        raw,
        False,
    )


def _tls_mismatch(s: ServerSettings | None, raw: str, *, implicit_on_plain_port: bool) -> Diagnosis:
    port = s.port if s else 0
    if implicit_on_plain_port:
        message = (
            f"tls_type is TLS but port {port} answers in plain text: "
            "it expects STARTTLS (or no TLS)."
        )
        hints = ("Use STARTTLS with port 587, or TLS with port 465.",)
    else:
        message = (
            f"Port {port} expects TLS from the first byte (implicit TLS), "
            f"but tls_type is {s.tls_type if s else 'not TLS'}."
        )
        hints = ("Use TLS with port 465, or STARTTLS with port 587.",)
    return Diagnosis("tls_mismatch", message, hints, raw, False)


def tls_mismatch_on_implicit_port(settings: ServerSettings, raw: str) -> Diagnosis:
    """A STARTTLS/none client waited for a greeting from a port that speaks TLS first."""
    return _tls_mismatch(settings, raw, implicit_on_plain_port=False)


def _auth_choice(
    exc: BaseException, s: ServerSettings | None, stage: str, raw: str
) -> Diagnosis | None:
    if not isinstance(exc, AuthNotOfferedError):
        return None
    hints = [
        f"The server offers: {', '.join(exc.offered)}; choose one of them."
        if exc.offered
        else "The server offers no AUTH at all here."
    ]
    if s is not None and s.tls_type == TlsType.NONE and not exc.offered:
        hints.append(
            "Many servers offer AUTH only after STARTTLS: set Security → TLS type to STARTTLS."
        )
    hints.append("Set Authentication → Protocol to none if the server needs no login.")
    return Diagnosis(
        "auth_mechanism_not_offered",
        f"{_where(s)} does not offer AUTH {exc.mechanism}.",
        tuple(hints),
        raw,
        False,
    )


def _network(
    exc: BaseException, s: ServerSettings | None, stage: str, raw: str
) -> Diagnosis | None:
    if _find(exc, socket.gaierror) is not None:
        host = s.host if s else "the host"
        return Diagnosis(
            "dns_not_found",
            f"The host name {host!r} was not found.",
            (
                "Check the spelling of the host, e.g. smtp.gmail.com.",
                "Check this computer's internet connection and DNS.",
            ),
            raw,
            True,
        )
    if _refused(exc):
        return Diagnosis(
            "connection_refused",
            f"{_where(s)} refused the connection.",
            (
                "Check the port: 587 for STARTTLS, 465 for TLS, 25 or 2525.",
                "Check that the server is running and accepts connections from here.",
            ),
            raw,
            True,
        )
    if isinstance(exc, aiosmtplib.SMTPTimeoutError) or _find(exc, TimeoutError) is not None:
        return _timeout(s, stage, raw)
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected) or (
        isinstance(exc, aiosmtplib.SMTPConnectError)
        and not isinstance(exc, aiosmtplib.SMTPResponseException)
        and _find(exc, aiosmtplib.SMTPServerDisconnected) is not None
    ):
        return _dropped(s, stage, raw)
    if isinstance(exc, ConnectionError | aiosmtplib.SMTPConnectError) and not isinstance(
        exc, aiosmtplib.SMTPResponseException
    ):
        return _dropped(s, stage, raw)
    return None


def _refused(exc: BaseException) -> bool:
    # With several addresses (::1 and 127.0.0.1) asyncio raises one OSError for all of them.
    return any(
        isinstance(e, ConnectionRefusedError)
        or (
            isinstance(e, OSError)
            and (e.errno == errno.ECONNREFUSED or "Connect call failed" in str(e))
        )
        for e in _chain(exc)
    )


def _timeout(s: ServerSettings | None, stage: str, raw: str) -> Diagnosis:
    if stage in ("", "connect", "TCP connect", "DNS"):
        message = f"The connection to {_where(s)} timed out."
        hints: tuple[str, ...] = _TIMEOUT_HINTS
        if s is not None and s.tls_type != TlsType.TLS and s.port == 465:
            return tls_mismatch_on_implicit_port(s, raw)
    elif stage == "greeting":
        message = f"{_where(s)} accepted the connection but sent no greeting in time."
        hints = (
            "If this port uses implicit TLS (usually 465), set Security → TLS type to TLS.",
            *_TIMEOUT_HINTS[:1],
        )
        if s is not None and s.tls_type != TlsType.TLS and s.port == 465:
            return tls_mismatch_on_implicit_port(s, raw)
    else:
        message = f"{_where(s)} did not answer {stage or 'a command'} in time."
        hints = ("The server may be overloaded: try again later, or lower Pool → Max connections.",)
    return Diagnosis("timeout", message, hints, raw, True)


def _dropped(s: ServerSettings | None, stage: str, raw: str) -> Diagnosis:
    if stage in ("MAIL", "RCPT", "DATA", "send", ""):
        message = f"{_where(s)} closed the connection in the middle of a message."
    else:
        message = f"{_where(s)} closed the connection during {stage}."
    return Diagnosis(
        "connection_dropped",
        message,
        (
            "The message is retried on another connection.",
            "If it keeps happening, the server may be limiting connections: "
            "lower Pool → Max connections.",
        ),
        raw,
        True,
    )


def _reply(exc: BaseException, s: ServerSettings | None, stage: str, raw: str) -> Diagnosis | None:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if not isinstance(exc, aiosmtplib.SMTPResponseException):
        return None
    code, text = exc.code, exc.message.lower()
    # 538 is RFC 4954's "encryption required for requested authentication mechanism".
    if (code == 530 and "tls" in text) or code == 538:
        return Diagnosis(
            "starttls_required",
            f"{_where(s)} requires STARTTLS before sending.",
            ("Set Security → TLS type to STARTTLS (port 587) or TLS (port 465).",),
            raw,
            False,
            code,
        )
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or code in (530, 534, 535, 538):
        return _auth_failed(exc, s, raw)
    if 400 <= code < 500 and ("greylist" in text or "graylist" in text):
        return Diagnosis(
            "greylisted",
            f"{_where(s)} greylisted the message ({code}): it accepts it only when sent "
            "again after a few minutes.",
            ("It is sent again automatically after the greylisting delay.",),
            raw,
            True,
            code,
        )
    if code == 421 or (400 <= code < 500 and any(w in text for w in _RATE_WORDS)):
        return Diagnosis(
            "rate_limited",
            f"{_where(s)} is limiting the rate or number of connections ({code}).",
            _RATE_HINTS,
            raw,
            True,
            code,
        )
    if 400 <= code < 500:
        return Diagnosis(
            "temporary_failure",
            f"{_where(s)} refused for now ({code}): {exc.message}",
            ("The message is retried; check the reply if it persists.",),
            raw,
            True,
            code,
        )
    return _permanent(exc, s, raw)


def _auth_failed(
    exc: aiosmtplib.SMTPResponseException, s: ServerSettings | None, raw: str
) -> Diagnosis:
    if exc.code == 504:
        mechanism = s.auth_protocol if s else "the chosen mechanism"
        return Diagnosis(
            "auth_mechanism_not_offered",
            f"{_where(s)} does not accept AUTH {mechanism}.",
            ("Choose another Authentication → Protocol.",),
            raw,
            False,
            exc.code,
        )
    temporary = 400 <= exc.code < 500
    return Diagnosis(
        "auth_failed",
        f"{_where(s)} refused the username or password ({exc.code}).",
        _AUTH_HINTS,
        raw,
        temporary,
        exc.code,
    )


def _login_required(
    exc: BaseException, s: ServerSettings | None, raw: str, offers_auth: bool | None
) -> Diagnosis | None:
    """A refusal from a server used without a login that (as far as we know) offers one.

    Postfix answers ``554 5.7.1 <…>: Recipient address rejected: Access denied`` and
    others "530 5.7.0 Authentication required" or "Relay access denied": the address is
    fine, the server only relays for users who have logged in.
    """
    if s is None or s.auth_protocol != AuthProtocol.NONE or offers_auth is False:
        return None
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if not isinstance(exc, aiosmtplib.SMTPResponseException) or exc.code < 500:
        return None
    text = exc.message.lower()
    if "tls" in text:  # "530 5.7.0 Must issue a STARTTLS command first" is about encryption
        return None
    says_login = exc.code == 530 or "authentication required" in text
    if not says_login and not (offers_auth and any(w in text for w in _LOGIN_WORDS)):
        return None
    return Diagnosis(
        "login_required",
        f"{_where(s)} needs a username and password: it refuses to send for a client "
        f"that has not logged in ({exc.code}).",
        (
            "In the Authentication section, set Protocol (usually plain) and enter the "
            "Username and Password of your account on this server.",
            "The recipient's address is not the problem.",
        ),
        raw,
        False,
        exc.code,
    )


def _permanent(
    exc: aiosmtplib.SMTPResponseException, s: ServerSettings | None, raw: str
) -> Diagnosis:
    code, text = exc.code, exc.message.lower()
    if "relay" in text:
        return Diagnosis(
            "relay_denied",
            f"{_where(s)} refuses to relay this message ({code}).",
            (
                "Log in (Authentication: Protocol, Username, Password) so the server "
                "relays for you.",
                "Use a From address on a domain this server or account may send for.",
            ),
            raw,
            False,
            code,
        )
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return Diagnosis(
            "sender_refused",
            f"{_where(s)} refused the sender {exc.sender!r} ({code}).",
            ("Use a From or Return-Path address this account may send as.",),
            raw,
            False,
            code,
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return Diagnosis(
            "recipient_refused",
            f"{_where(s)} refused the recipient {exc.recipient!r} ({code}).",
            ("Check the address; the mailbox may not exist.",),
            raw,
            False,
            code,
        )
    return Diagnosis(
        "permanent_failure",
        f"{_where(s)} refused the message ({code}): {exc.message}",
        ("Read the server's reply; retrying will not help.",),
        raw,
        False,
        code,
    )
