"""Test a server's settings step by step, without saving anything.

DNS, TCP connect, greeting, EHLO, TLS (STARTTLS or implicit), AUTH, optionally a real
test email, then QUIT; each step with its time. It stops at the first failing step
and explains it with a :class:`Diagnosis`. Cancelling the task closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib

from smtpdesk.core.domain.check import DomainReport
from smtpdesk.core.domain.readback import ReceiverVerdict
from smtpdesk.core.domain.servercheck import check_server_domain, read_back_step, sign_for_test
from smtpdesk.core.domain.servercheck import summary as domain_summary
from smtpdesk.core.errors import KnownError
from smtpdesk.core.feedback.mailbox import Credentials
from smtpdesk.core.oauth.tokens import TOKENS
from smtpdesk.core.settings import AuthProtocol, MailboxSettings, ServerSettings, TlsType
from smtpdesk.core.smtp.certificate import CertificateInfo
from smtpdesk.core.smtp.connection import (
    DEFAULT_TIMEOUT,
    discard,
    make_tls_context,
    open_connection,
    quit_quietly,
)
from smtpdesk.core.smtp.diagnosis import diagnose, tls_mismatch_on_implicit_port
from smtpdesk.core.smtp.envelope import prepare
from smtpdesk.core.smtp.errors import StepFailedError
from smtpdesk.core.smtp.transaction import send_bytes, send_message
from smtpdesk.core.smtp.types import Diagnosis
from smtpdesk.core.wording import counted

TEST_SUBJECT = "smtpdesk test"
_CAPABILITIES = ("SIZE", "PIPELINING", "8BITMIME", "AUTH", "STARTTLS")


@dataclass(frozen=True)
class TestStep:
    __test__ = False  # not a pytest test class

    name: str
    ok: bool
    seconds: float
    detail: str


@dataclass
class TestReport:
    __test__ = False

    steps: list[TestStep] = field(default_factory=list)
    capabilities: dict[str, str] = field(default_factory=dict)
    diagnosis: Diagnosis | None = None
    # The server's certificate: from the handshake, or (when it was refused) fetched
    # again without checks so the user can see what they are asked to trust.
    certificate: CertificateInfo | None = None
    warnings: list[str] = field(default_factory=list)  # passed, but worth a look
    domain: DomainReport | None = None  # the "Domain" step's checklist (issue 14)
    receiver: ReceiverVerdict | None = None  # the "Receiver" step: what it judged

    @property
    def ok(self) -> bool:
        return self.diagnosis is None and all(s.ok for s in self.steps)

    @property
    def offers_auth(self) -> bool | None:
        """Whether the last EHLO listed AUTH; None before any EHLO."""
        auth = self.capabilities.get("AUTH")
        return None if auth is None else auth != "none"

    def summary(self) -> str:
        """A few words for the list's tooltip: passed, or the diagnosis."""
        if self.ok:
            warnings = f" ({counted(len(self.warnings), 'warning')})" if self.warnings else ""
            return f"passed{warnings}"
        return self.diagnosis.message if self.diagnosis else "failed"

    def to_dict(self) -> dict[str, Any]:
        cert = asdict(self.certificate) if self.certificate else None
        if cert is not None:
            cert["not_after"] = self.certificate.not_after.isoformat()  # type: ignore[union-attr]
        return {
            "ok": self.ok,
            "steps": [asdict(s) for s in self.steps],
            "capabilities": dict(self.capabilities),
            "diagnosis": asdict(self.diagnosis) if self.diagnosis else None,
            "certificate": cert,
            "warnings": list(self.warnings),
            "domain": self.domain.to_dict() if self.domain else None,
            "receiver": asdict(self.receiver) if self.receiver else None,
        }


class _Run:
    """The report being built, telling ``on_step`` about each step as it ends."""

    def __init__(self, on_step: Callable[[TestStep], None] | None) -> None:
        self.report = TestReport()
        self.on_step = on_step

    def step(self, name: str, seconds: float, detail: str, ok: bool = True) -> None:
        done = TestStep(name, ok, seconds, detail)
        self.report.steps.append(done)
        if self.on_step is not None:
            self.on_step(done)

    def fail(self, name: str, seconds: float, diagnosis: Diagnosis) -> TestReport:
        self.step(name, seconds, diagnosis.message, ok=False)
        self.report.diagnosis = diagnosis
        return self.report

    def certificate(self, info: CertificateInfo) -> None:
        self.report.certificate = info

    def capabilities(self, extensions: dict[str, str]) -> None:
        caps = self.report.capabilities
        seen_starttls = caps.get("STARTTLS") == "yes"
        for name in _CAPABILITIES:
            value = extensions.get(name.lower())
            caps[name] = ("yes" if value == "" else value) if value is not None else "no"
        if caps["AUTH"] == "no":
            caps["AUTH"] = "none"
        if seen_starttls:  # the EHLO after the upgrade no longer lists it
            caps["STARTTLS"] = "yes"


async def test_server(
    settings: ServerSettings,
    password: str | None,
    *,
    to: str | None = None,
    on_step: Callable[[TestStep], None] | None = None,
    command_timeout: float = DEFAULT_TIMEOUT,
    tls_context: ssl.SSLContext | None = None,
    read_back: tuple[MailboxSettings, Credentials] | None = None,
) -> TestReport:
    """Run every step against ``settings`` (saved or not); ``to`` also sends a test email;
    ``read_back`` (the feedback mailbox) adds what a receiver judged of a message."""
    run = _Run(on_step)
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    if settings.auth_protocol == AuthProtocol.XOAUTH2:
        try:  # the access token is AUTH's password: obtained or refreshed first
            token = await TOKENS.get(settings)
        except KnownError as exc:
            seconds = time.perf_counter() - started
            return run.fail("OAuth token", seconds, diagnose(exc, settings, "OAuth token"))
        run.step("OAuth token", time.perf_counter() - started, token.describe())
        password = token.value
        started = time.perf_counter()
    try:
        async with asyncio.timeout(command_timeout):
            infos = await loop.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        return run.fail("DNS", time.perf_counter() - started, diagnose(exc, settings, "DNS"))
    addresses = [str(info[4][0]) for info in infos]
    run.step("DNS", time.perf_counter() - started, ", ".join(dict.fromkeys(addresses)))
    sock = await _tcp_connect(run, settings, infos, command_timeout)
    if sock is None:
        return run.report
    if tls_context is None and settings.tls_type != TlsType.NONE:
        tls_context = await asyncio.to_thread(make_tls_context, settings)
    report = await _converse(run, settings, password, sock, to, command_timeout, tls_context)
    if report.diagnosis is not None and report.diagnosis.cause == "certificate_invalid":
        report.certificate = await _fetch_certificate(settings, command_timeout)
    if report.diagnosis is None:
        await _domain_step(run, settings, to)
    if report.diagnosis is None and read_back is not None:
        started = time.perf_counter()
        detail, report.receiver = await read_back_step(settings, password, read_back)
        run.step("Receiver", time.perf_counter() - started, detail)
    _add_warnings(report, settings, to)
    return report


async def _domain_step(run: _Run, settings: ServerSettings, to: str | None) -> None:
    """The sending domain's checklist (``report.domain``): advice, never a failed Test."""
    started = time.perf_counter()
    try:
        found = await check_server_domain(settings, to)
    except (KnownError, TimeoutError) as exc:
        run.step("Domain", time.perf_counter() - started, f"could not check: {exc}")
        return
    if found is None:
        return  # no domain to check: the username is no address and no test email
    run.report.domain = found  # its lines are shown beside the steps, not as warnings
    run.step("Domain", time.perf_counter() - started, domain_summary(found)[0])


def _add_warnings(report: TestReport, settings: ServerSettings, to: str | None) -> None:
    if report.certificate is not None:
        expiry = report.certificate.expiry_warning()
        if expiry:
            report.warnings.append(expiry)
    if report.ok and not to and report.offers_auth and settings.auth_protocol == AuthProtocol.NONE:
        report.warnings.append(
            "The server offers a login (AUTH) but Authentication → Protocol is none: "
            "many such servers refuse to send for a client that has not logged in. "
            "Fill in Send a test email to, to be sure, or set the Protocol, Username "
            "and Password."
        )


async def _fetch_certificate(settings: ServerSettings, limit: float) -> CertificateInfo | None:
    """The certificate the server presents, accepted without any check, or None.

    Only a handshake and QUIT: no login, nothing sent. For showing a refused certificate.
    """
    seen: list[CertificateInfo] = []
    plain = replace(
        settings, tls_skip_verify=True, tls_pin_sha256="", auth_protocol=AuthProtocol.NONE
    )
    try:
        smtp = await open_connection(
            plain, None, command_timeout=min(limit, 10.0), on_tls=seen.append
        )
    except StepFailedError:
        return seen[0] if seen else None
    await quit_quietly(smtp)
    return seen[0] if seen else None


async def _tcp_connect(
    run: _Run, settings: ServerSettings, infos: list[Any], limit: float
) -> socket.socket | None:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    error: BaseException | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(limit):
                await loop.sock_connect(sock, address)
        except (OSError, TimeoutError) as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        run.step("TCP connect", time.perf_counter() - started, f"{address[0]} port {address[1]}")
        return sock
    assert error is not None
    run.fail("TCP connect", time.perf_counter() - started, diagnose(error, settings, "TCP connect"))
    return None


async def _converse(
    run: _Run,
    settings: ServerSettings,
    password: str | None,
    sock: socket.socket,
    to: str | None,
    limit: float,
    tls_context: ssl.SSLContext | None,
) -> TestReport:
    peer = sock.getpeername()
    try:
        smtp = await open_connection(
            settings,
            password,
            tls_context=tls_context,
            command_timeout=limit,
            sock=sock,
            on_step=lambda name, seconds, detail: run.step(name, seconds, detail),
            on_ehlo=run.capabilities,
            on_tls=run.certificate,
        )
    except StepFailedError as exc:
        diagnosis = diagnose(exc, settings, password=password, offers_auth=run.report.offers_auth)
        if (
            exc.stage == "greeting"
            and diagnosis.cause == "timeout"
            and await _speaks_tls(peer, settings, limit)
        ):
            diagnosis = tls_mismatch_on_implicit_port(settings, diagnosis.raw)
        return run.fail(exc.stage, exc.seconds, diagnosis)
    transport = smtp.transport  # QUIT lets go of it; discard() still needs it
    started = time.perf_counter()
    try:
        if to:
            await _send_test_email(run, smtp, settings, to)
            if run.report.diagnosis is not None:
                return run.report
            started = time.perf_counter()
        reply = await smtp.quit()
        run.step("QUIT", time.perf_counter() - started, f"{reply.code} {reply.message}")
    except aiosmtplib.SMTPException as exc:
        diagnosis = diagnose(exc, settings, "QUIT", password, offers_auth=run.report.offers_auth)
        return run.fail("QUIT", time.perf_counter() - started, diagnosis)
    finally:
        await discard(smtp, transport)
    return run.report


async def _send_test_email(
    run: _Run, smtp: aiosmtplib.SMTP, settings: ServerSettings, to: str
) -> None:
    started = time.perf_counter()
    now = datetime.now(UTC)
    message = EmailMessage()
    message["From"] = settings.username if "@" in settings.username else to
    message["To"] = to
    message["Subject"] = TEST_SUBJECT
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="smtpdesk.invalid")
    message.set_content(
        f"This is a test email from smtpdesk.\n\nServer: {settings.label} "
        f"({settings.host}:{settings.port}, {settings.tls_type})\n"
        f"Sent: {now:%Y-%m-%d %H:%M:%S} UTC\n"
    )
    out, sender, rcpts = prepare(message, settings)
    try:
        signed = await sign_for_test(settings, out)  # the Test checks its own signature
    except KnownError as exc:
        run.fail("DKIM", time.perf_counter() - started, diagnose(exc, settings, "DKIM"))
        await quit_quietly(smtp)
        return
    if signed is not None:
        run.step("DKIM", time.perf_counter() - started, signed[1])
        if not signed[2]:
            run.report.warnings.append(
                f"{signed[1]}: publish the TXT record(s) shown in the DKIM section, "
                "or receivers will treat the signature as broken."
            )
        started = time.perf_counter()
    try:
        if signed is not None:
            refused, reply = await send_bytes(smtp, signed[0], sender, rcpts)
        else:
            refused, reply = await send_message(smtp, out, sender, rcpts)
    except (aiosmtplib.SMTPException, OSError) as exc:
        diagnosis = diagnose(exc, settings, "send", offers_auth=run.report.offers_auth)
        run.fail("send", time.perf_counter() - started, diagnosis)
        await quit_quietly(smtp)
        return
    detail = f"to {to}: {reply}"
    if refused:
        detail += "; refused: " + ", ".join(refused)
    run.step("send", time.perf_counter() - started, detail)


async def _speaks_tls(peer: Any, settings: ServerSettings, limit: float) -> bool:
    """Whether the port completes a TLS handshake: it wants implicit TLS, not STARTTLS."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(min(limit, 5.0)):
            _reader, writer = await asyncio.open_connection(
                peer[0], peer[1], ssl=context, server_hostname=settings.host or None
            )
    except (OSError, TimeoutError, ssl.SSLError):
        return False
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return True
