"""The server test: every step on success, the test email, cancellation."""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from pathlib import Path

import pytest

from smtpdesk.core.settings import AuthProtocol
from smtpdesk.core.smtp.servertest import TEST_SUBJECT, TestStep
from smtpdesk.core.smtp.servertest import test_server as run_server_test
from tests.helpers.smtpd import PASSWORD, USER, Faults, SmtpdFactory, settings_for


async def test_starttls_server_passes_every_step_and_sends_the_test_email(
    smtpd_factory: SmtpdFactory,
    trust_test_ca: Path,
) -> None:
    server = await smtpd_factory("starttls", auth=("PLAIN", "LOGIN"))
    seen: list[TestStep] = []
    settings = settings_for(server, name="office")
    report = await run_server_test(settings, PASSWORD, to="me@example.test", on_step=seen.append)
    assert report.ok, report.diagnosis
    assert [s.name for s in report.steps] == [
        "DNS",
        "TCP connect",
        "greeting",
        "EHLO",
        "TLS",
        "EHLO",
        "AUTH",
        "send",
        "QUIT",
        "Domain",  # the username's domain, against the tests' empty DNS server
    ]
    assert seen == report.steps
    tls = report.steps[4].detail
    assert "STARTTLS" in tls and "TLSv1." in tls and "expires" in tls
    assert report.capabilities["STARTTLS"] == "yes"
    assert report.capabilities["AUTH"] == "LOGIN PLAIN"
    assert report.capabilities["8BITMIME"] == "yes"
    assert report.capabilities["PIPELINING"] == "no"
    assert int(report.capabilities["SIZE"]) > 0
    [received] = server.messages
    email = message_from_bytes(received.content)
    assert email["Subject"] == TEST_SUBJECT
    assert "office" in email.get_payload() and "UTC" in email.get_payload()
    assert received.mail_from == USER and received.rcpt_tos == ["me@example.test"]
    assert server.stats.quits == 1
    assert PASSWORD not in repr(report.to_dict())


async def test_implicit_tls_reports_the_handshake(
    smtpd_factory: SmtpdFactory,
    trust_test_ca: Path,
) -> None:
    server = await smtpd_factory("tls", auth=("CRAM-MD5",))
    report = await run_server_test(settings_for(server, auth_protocol=AuthProtocol.CRAM), PASSWORD)
    assert report.ok, report.diagnosis
    assert [s.name for s in report.steps] == [
        "DNS",
        "TCP connect",
        "TLS",
        "greeting",
        "EHLO",
        "AUTH",
        "QUIT",
        "Domain",
    ]
    assert "TLSv1." in report.steps[2].detail
    assert server.messages == []  # no recipient: no email


async def test_plain_server_without_auth(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    report = await run_server_test(settings_for(server), None)
    assert report.ok
    assert report.capabilities["AUTH"] == "none"
    assert report.capabilities["STARTTLS"] == "no"


async def test_cancelling_closes_the_connection(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"EHLO": 30}))
    task = asyncio.create_task(run_server_test(settings_for(server), None))
    await server.wait_until(lambda: server.stats.opened == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await server.wait_until(lambda: server.stats.closed == 1)
