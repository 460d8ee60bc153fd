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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import aiosmtplib

from smtpdesk.core.settings import ServerSettings, TlsType
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
from smtpdesk.core.smtp.transaction import send_message
from smtpdesk.core.smtp.types import Diagnosis

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

    @property
    def ok(self) -> bool:
        return self.diagnosis is None and all(s.ok for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "steps": [asdict(s) for s in self.steps],
            "capabilities": dict(self.capabilities),
            "diagnosis": asdict(self.diagnosis) if self.diagnosis else None,
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
) -> TestReport:
    """Run every step against ``settings`` (saved or not); ``to`` also sends a test email."""
    run = _Run(on_step)
    loop = asyncio.get_running_loop()
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
    return await _converse(run, settings, password, sock, to, command_timeout, tls_context)


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
        )
    except StepFailedError as exc:
        diagnosis = diagnose(exc, settings, password=password)
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
        return run.fail(
            "QUIT", time.perf_counter() - started, diagnose(exc, settings, "QUIT", password)
        )
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
        refused, reply = await send_message(smtp, out, sender, rcpts)
    except (aiosmtplib.SMTPException, OSError) as exc:
        run.fail("send", time.perf_counter() - started, diagnose(exc, settings, "send"))
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
