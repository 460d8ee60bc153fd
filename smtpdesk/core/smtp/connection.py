"""One SMTP connection, opened exactly as the settings say (aiosmtplib underneath).

``tls_type`` TLS is implicit TLS, STARTTLS a required upgrade, none never upgrades;
``auth_protocol`` picks one mechanism and never falls back to another. Each step
can be reported (name, seconds, detail) so the server test shares this code.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiosmtplib

from smtpdesk.core.oauth.tokens import TOKENS, TokenBroker
from smtpdesk.core.settings import AuthProtocol, ServerSettings, TlsType
from smtpdesk.core.smtp.certificate import CertificateInfo, from_ssl_object
from smtpdesk.core.smtp.errors import (
    AuthNotOfferedError,
    CertificateChangedError,
    StartTlsNotOfferedError,
    StepFailedError,
)
from smtpdesk.core.smtp.xoauth2 import auth_xoauth2

DEFAULT_TIMEOUT = 15.0  # seconds for the connect and for each command
StepCallback = Callable[[str, float, str], None]  # (step name, seconds, detail)
EhloCallback = Callable[[dict[str, str]], None]  # the extensions of each EHLO reply
TlsCallback = Callable[[CertificateInfo], None]  # the certificate of each TLS handshake

_MECHANISMS = {
    AuthProtocol.PLAIN: "PLAIN",
    AuthProtocol.LOGIN: "LOGIN",
    AuthProtocol.CRAM: "CRAM-MD5",
    AuthProtocol.XOAUTH2: "XOAUTH2",  # ``password`` is then the OAuth access token
}


def make_tls_context(settings: ServerSettings) -> ssl.SSLContext:
    """The system trust store; no checks with ``tls_skip_verify``.

    With ``tls_pin_sha256`` the pin replaces the authorities and the host name: the
    handshake accepts any certificate and :func:`check_pin` then refuses all but one.
    """
    context = ssl.create_default_context()
    if settings.tls_skip_verify or settings.tls_pin_sha256:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def check_pin(smtp: aiosmtplib.SMTP, settings: ServerSettings) -> CertificateInfo | None:
    """The certificate of the TLS session; raise when it is not the pinned one.

    Called right after every handshake, before EHLO or AUTH cross the connection.
    """
    info = from_ssl_object(smtp.get_transport_info("ssl_object"))
    if settings.tls_pin_sha256 and (info is None or info.sha256 != settings.tls_pin_sha256):
        raise CertificateChangedError(settings.tls_pin_sha256, info.sha256 if info else "")
    return info


@functools.cache
def _host_fqdn() -> str:
    # socket.getfqdn() may wait seconds on a DNS reverse lookup; gethostname() never does.
    return socket.gethostname()


def hello_name(settings: ServerSettings, smtp: aiosmtplib.SMTP | None = None) -> str:
    """The EHLO name: the setting, the host's name when it is qualified, else an address literal."""
    if settings.hello_hostname:
        return settings.hello_hostname
    name = _host_fqdn()
    if "." in name and not name.endswith(".localdomain"):
        return name
    if smtp is not None and smtp.is_connected:
        address = str(smtp.get_transport_info("sockname")[0])
        return f"[IPv6:{address}]" if ":" in address else f"[{address}]"
    return "localhost.localdomain"


class _Stepper:
    """Times each step, reports it, and wraps a failure with the step's name."""

    def __init__(
        self,
        on_step: StepCallback | None,
        on_ehlo: EhloCallback | None,
        on_tls: TlsCallback | None = None,
    ) -> None:
        self.on_step = on_step
        self.on_ehlo = on_ehlo
        self.on_tls = on_tls
        self.started = time.perf_counter()
        self.stage = ""

    def begin(self, stage: str) -> None:
        self.stage = stage
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def done(self, detail: str = "") -> None:
        if self.on_step is not None:
            self.on_step(self.stage, self.elapsed(), detail)

    def ehlo_done(self, smtp: aiosmtplib.SMTP, detail: str) -> None:
        if self.on_ehlo is not None:
            self.on_ehlo(dict(smtp.esmtp_extensions))
        self.done(detail + " ".join(sorted(k.upper() for k in smtp.esmtp_extensions)))

    def tls_done(self, smtp: aiosmtplib.SMTP, settings: ServerSettings, prefix: str = "") -> None:
        """Report the handshake, then hold its certificate against the pin."""
        info = from_ssl_object(smtp.get_transport_info("ssl_object"))
        if info is not None and self.on_tls is not None:
            self.on_tls(info)
        check_pin(smtp, settings)
        self.done(prefix + (info.summary() if info is not None else ""))


async def open_connection(
    settings: ServerSettings,
    password: str | None,
    *,
    tls_context: ssl.SSLContext | None = None,
    command_timeout: float = DEFAULT_TIMEOUT,
    sock: socket.socket | None = None,
    on_step: StepCallback | None = None,
    on_ehlo: EhloCallback | None = None,
    on_tls: TlsCallback | None = None,
) -> aiosmtplib.SMTP:
    """Connect, greet, EHLO, upgrade and authenticate; raise :class:`StepFailedError`.

    With ``sock`` (already connected) the TCP step is the caller's. ``on_tls`` gets the
    certificate of the handshake before the pin is checked (the test shows both).
    """
    implicit = settings.tls_type == TlsType.TLS
    context = tls_context
    if context is None and settings.tls_type != TlsType.NONE:
        context = make_tls_context(settings)
    smtp = aiosmtplib.SMTP(
        hostname=settings.host,
        port=None if sock else settings.port,
        sock=sock,
        local_hostname=settings.hello_hostname or "localhost.localdomain",
        timeout=command_timeout,
        use_tls=implicit,
        start_tls=False,  # aiosmtplib's default would upgrade on its own
        tls_context=context,
    )
    step = _Stepper(on_step, on_ehlo, on_tls)
    try:
        await _connect(smtp, settings, step, implicit, sock is not None)
        await _ehlo(smtp, settings, step)
        if settings.tls_type == TlsType.STARTTLS:
            await _starttls(smtp, settings, step)
        await _authenticate(smtp, settings, password, step)
    except BaseException as exc:
        await discard(smtp)
        if isinstance(exc, Exception):
            raise StepFailedError(step.stage or "connect", exc, step.elapsed()) from exc
        raise
    return smtp


async def _connect(
    smtp: aiosmtplib.SMTP, settings: ServerSettings, step: _Stepper, implicit: bool, has_sock: bool
) -> None:
    step.begin("TLS" if implicit and has_sock else "greeting" if has_sock else "connect")
    response = await smtp.connect()
    if implicit:
        if not has_sock:
            step.begin("TLS")
        step.tls_done(smtp, settings)
        # aiosmtplib reads the greeting inside connect(); its time is in the TLS step.
        step.begin("greeting")
    step.done(f"{response.code} {response.message}")


async def _ehlo(smtp: aiosmtplib.SMTP, settings: ServerSettings, step: _Stepper) -> None:
    step.begin("EHLO")
    name = hello_name(settings, smtp)
    smtp.local_hostname = name
    await smtp.ehlo(hostname=name)
    step.ehlo_done(smtp, f"as {name}: ")


async def _starttls(smtp: aiosmtplib.SMTP, settings: ServerSettings, step: _Stepper) -> None:
    step.begin("TLS")
    if not smtp.supports_extension("starttls"):
        raise StartTlsNotOfferedError("the server did not offer STARTTLS after EHLO")
    await smtp.starttls()
    step.tls_done(smtp, settings, "STARTTLS; ")
    step.begin("EHLO")
    name = hello_name(settings, smtp)
    await smtp.ehlo(hostname=name)
    step.ehlo_done(smtp, "again after TLS: ")


async def _authenticate(
    smtp: aiosmtplib.SMTP, settings: ServerSettings, password: str | None, step: _Stepper
) -> None:
    mechanism = _MECHANISMS.get(settings.auth_protocol)
    if mechanism is None:
        return
    step.begin("AUTH")
    offered = [m.upper() for m in smtp.esmtp_extensions.get("auth", "").split()]
    if mechanism not in offered:
        raise AuthNotOfferedError(mechanism, offered)
    secret = password or ""
    if settings.auth_protocol == AuthProtocol.PLAIN:
        await smtp.auth_plain(settings.username, secret)
    elif settings.auth_protocol == AuthProtocol.LOGIN:
        await smtp.auth_login(settings.username, secret)
    elif settings.auth_protocol == AuthProtocol.XOAUTH2:
        await auth_xoauth2(smtp, settings.username, secret)
    else:
        await smtp.auth_crammd5(settings.username, secret)
    step.done(f"{mechanism} as {settings.username}")


async def quit_quietly(smtp: aiosmtplib.SMTP, limit: float = 5.0) -> None:
    """Say QUIT when the connection still works; close it in every case."""
    transport = smtp.transport
    try:
        if smtp.is_connected:
            await smtp.quit(timeout=limit)
    except (aiosmtplib.SMTPException, OSError):
        pass  # the server went away first: closing is all that is left
    finally:
        await discard(smtp, transport)


async def discard(smtp: aiosmtplib.SMTP, transport: asyncio.BaseTransport | None = None) -> None:
    """Close the connection's socket now, not after a TLS goodbye.

    ``smtp.close()`` on a TLS connection starts a shutdown handshake that can outlive
    the event loop (``asyncio.run`` in the CLI), leaving the socket to the garbage
    collector. Aborting closes it on the loop's next turn, which we wait for.
    ``transport`` is the one to abort when ``smtp`` has already let go of it (after QUIT).
    """
    transport = transport or smtp.transport
    smtp.close()
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    await asyncio.sleep(0)


async def open_with_token(
    settings: ServerSettings, tokens: TokenBroker | None = None, **options: Any
) -> tuple[aiosmtplib.SMTP, float]:
    """Open an XOAUTH2 connection; the time its token is due for renewal comes with it.

    When AUTH refuses the token it is refreshed once and the connection opened again
    (a token revoked or expired early). ``options`` go to :func:`open_connection`.
    """
    broker = tokens or TOKENS
    token = await broker.get(settings)
    try:
        return await open_connection(settings, token.value, **options), token.renew_at
    except StepFailedError as exc:
        if exc.stage != "AUTH" or not isinstance(exc.cause, aiosmtplib.SMTPAuthenticationError):
            raise
    token = await broker.get(settings, rejected=token.value)
    return await open_connection(settings, token.value, **options), token.renew_at
