"""Every diagnosis cause, triggered for real against servers on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme

from smtpdesk.core.settings import AuthProtocol, ServerSettings, TlsType
from smtpdesk.core.smtp.pool import ServerPool
from smtpdesk.core.smtp.servertest import test_server as run_server_test
from smtpdesk.core.smtp.types import Diagnosis, SendError
from tests.helpers.smtpd import PASSWORD, Faults, SmtpdFactory, settings_for

# glibc refuses this name itself ('!' is not allowed), so no DNS query leaves the machine.
BAD_HOST = "no!such-host.invalid"


def message(to: str = "bob@example.test") -> EmailMessage:
    m = EmailMessage()
    m["From"] = "alice@example.test"
    m["To"] = to
    m["Subject"] = "hi"
    m.set_content("hello")
    return m


async def send_failure(
    settings: ServerSettings,
    password: str | None = None,
    to: str = "bob@example.test",
    **options: float,
) -> Diagnosis:
    pool = ServerPool(settings, password, **options)
    try:
        with pytest.raises(SendError) as caught:
            await pool.send(message(to))
    finally:
        await pool.close()
    assert caught.value.diagnosis == pool.stats().last_error
    return caught.value.diagnosis


async def test_failure(
    settings: ServerSettings, password: str | None = None, **options: float
) -> tuple[str, Diagnosis]:
    report = await run_server_test(settings, password, to="bob@example.test", **options)
    assert not report.ok
    assert report.diagnosis is not None
    assert not report.steps[-1].ok
    assert all(step.ok for step in report.steps[:-1])
    return report.steps[-1].name, report.diagnosis


test_failure.__test__ = False  # type: ignore[attr-defined]


async def test_dns_name_not_found() -> None:
    settings = ServerSettings(
        host=BAD_HOST, port=25, tls_type=TlsType.NONE, auth_protocol=AuthProtocol.NONE
    )
    step, diagnosis = await test_failure(settings)
    assert (step, diagnosis.cause) == ("DNS", "dns_not_found")
    assert BAD_HOST in diagnosis.message
    assert (await send_failure(settings)).cause == "dns_not_found"


async def test_connection_refused(refused_port: int) -> None:
    settings = ServerSettings(
        host="127.0.0.1", port=refused_port, tls_type=TlsType.NONE, auth_protocol=AuthProtocol.NONE
    )
    step, diagnosis = await test_failure(settings)
    assert (step, diagnosis.cause) == ("TCP connect", "connection_refused")
    assert (await send_failure(settings)).cause == "connection_refused"


async def test_connection_timed_out(blackhole_port: int) -> None:
    settings = ServerSettings(
        host="127.0.0.1",
        port=blackhole_port,
        tls_type=TlsType.NONE,
        auth_protocol=AuthProtocol.NONE,
        max_msg_retries=0,
    )
    step, diagnosis = await test_failure(settings, command_timeout=0.3)
    assert (step, diagnosis.cause) == ("TCP connect", "timeout")
    assert any("2525" in hint for hint in diagnosis.hints)
    assert (await send_failure(settings, command_timeout=0.3)).cause == "timeout"


async def test_server_too_slow_for_the_time_out(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"EHLO": 3.0, "DATA": 3.0}))
    step, diagnosis = await test_failure(settings_for(server), command_timeout=0.3)
    assert (step, diagnosis.cause) == ("EHLO", "timeout")
    server.faults.delays.pop("EHLO")
    sent = await send_failure(settings_for(server, max_msg_retries=0), command_timeout=0.3)
    assert sent.cause == "timeout"


async def test_implicit_tls_client_on_a_starttls_port(
    smtpd_factory: SmtpdFactory,
    trust_test_ca: Path,
) -> None:
    server = await smtpd_factory("starttls")
    settings = settings_for(server, tls_type=TlsType.TLS)
    step, diagnosis = await test_failure(settings)
    assert (step, diagnosis.cause) == ("TLS", "tls_mismatch")
    assert "STARTTLS" in diagnosis.message
    assert (await send_failure(settings)).cause == "tls_mismatch"


async def test_starttls_client_on_an_implicit_tls_port(
    smtpd_factory: SmtpdFactory,
    trust_test_ca: Path,
) -> None:
    server = await smtpd_factory("tls")
    step, diagnosis = await test_failure(
        settings_for(server, tls_type=TlsType.STARTTLS), command_timeout=0.5
    )
    assert (step, diagnosis.cause) == ("greeting", "tls_mismatch")
    assert "465" in " ".join(diagnosis.hints)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_certificate_from_an_unknown_authority(
    smtpd_factory: SmtpdFactory,
    mode: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    server = await smtpd_factory(mode)
    step, diagnosis = await test_failure(settings_for(server))
    assert (step, diagnosis.cause) == ("TLS", "certificate_invalid")
    assert "Skip TLS certificate verification" in " ".join(diagnosis.hints)
    assert "unknown authority" in diagnosis.message
    assert (await send_failure(settings_for(server))).cause == "certificate_invalid"
    # tls_skip_verify lets the same server through
    report = await run_server_test(settings_for(server, tls_skip_verify=True), None)
    assert report.ok, report.diagnosis


async def test_expired_certificate(
    smtpd_factory: SmtpdFactory,
    tls_ca: trustme.CA,
    trust_test_ca: Path,
) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    expired = tls_ca.issue_cert(
        "127.0.0.1", not_before=past - dt.timedelta(days=30), not_after=past
    )
    server = await smtpd_factory("tls", cert=expired)
    _, diagnosis = await test_failure(settings_for(server))
    assert diagnosis.cause == "certificate_invalid"
    assert "expired" in diagnosis.message


async def test_certificate_for_another_host(
    smtpd_factory: SmtpdFactory,
    tls_ca: trustme.CA,
    trust_test_ca: Path,
) -> None:
    server = await smtpd_factory("starttls", cert=tls_ca.issue_cert("mail.example.test"))
    _, diagnosis = await test_failure(settings_for(server))
    assert diagnosis.cause == "certificate_invalid"
    assert "another host" in diagnosis.message


async def test_starttls_not_offered(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    settings = settings_for(server, tls_type=TlsType.STARTTLS)
    step, diagnosis = await test_failure(settings)
    assert (step, diagnosis.cause) == ("TLS", "starttls_not_offered")
    assert (await send_failure(settings)).cause == "starttls_not_offered"
    assert server.messages == []  # never a silent plaintext send


async def test_530_must_issue_starttls_first(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("starttls", require_starttls=True)
    settings = settings_for(server, tls_type=TlsType.NONE)
    step, diagnosis = await test_failure(settings)
    assert (step, diagnosis.cause, diagnosis.code) == ("send", "starttls_required", 530)
    assert (await send_failure(settings)).cause == "starttls_required"


async def test_auth_mechanism_not_offered(smtpd_factory: SmtpdFactory, trust_test_ca: Path) -> None:
    server = await smtpd_factory("starttls", auth=("PLAIN", "LOGIN"))
    settings = settings_for(server, auth_protocol=AuthProtocol.CRAM)
    step, diagnosis = await test_failure(settings, PASSWORD)
    assert (step, diagnosis.cause) == ("AUTH", "auth_mechanism_not_offered")
    assert "LOGIN, PLAIN" in diagnosis.hints[0]
    assert server.stats.auth_logins == []


@pytest.mark.parametrize("auth", [AuthProtocol.PLAIN, AuthProtocol.LOGIN, AuthProtocol.CRAM])
async def test_wrong_password_is_authentication_failed(
    smtpd_factory: SmtpdFactory,
    trust_test_ca: Path,
    auth: AuthProtocol,
) -> None:
    server = await smtpd_factory("tls", auth=("PLAIN", "LOGIN", "CRAM-MD5"))
    settings = settings_for(server, auth_protocol=auth)
    step, diagnosis = await test_failure(settings, "wrong-password")
    assert (step, diagnosis.cause, diagnosis.code) == ("AUTH", "auth_failed", 535)
    assert any("App Password" in h for h in diagnosis.hints)
    assert any("apikey" in h for h in diagnosis.hints)
    assert "wrong-password" not in repr(diagnosis)
    sent = await send_failure(settings, "wrong-password")
    assert sent.cause == "auth_failed"
    assert "wrong-password" not in repr(sent)


@pytest.mark.parametrize(
    ("faults", "cause", "code"),
    [
        (
            Faults(rcpt_replies={"bob@example.test": "554 5.7.1 Relay access denied"}),
            "relay_denied",
            554,
        ),
        (
            Faults(mail_reply="553 5.7.1 Sender address rejected: not owned by user"),
            "sender_refused",
            553,
        ),
        (
            Faults(rcpt_replies={"bob@example.test": "550 5.1.1 No such user"}),
            "recipient_refused",
            550,
        ),
        (Faults(data_reply="421 4.7.0 Too many connections, slow down"), "rate_limited", 421),
        (Faults(mail_reply="450 4.7.1 Rate limit exceeded, try again later"), "rate_limited", 450),
        (Faults(data_reply="451 4.3.0 Local error in processing"), "temporary_failure", 451),
        (Faults(data_reply="554 5.6.0 Message content rejected"), "permanent_failure", 554),
    ],
)
async def test_server_replies(
    smtpd_factory: SmtpdFactory,
    faults: Faults,
    cause: str,
    code: int,
) -> None:
    server = await smtpd_factory("plain", faults=faults)
    step, diagnosis = await test_failure(settings_for(server))
    assert (step, diagnosis.cause, diagnosis.code) == ("send", cause, code)
    sent = await send_failure(settings_for(server, msg_retry_delay=0))
    assert (sent.cause, sent.code) == (cause, code)
    assert sent.raw.startswith(str(code))
    assert sent.temporary is (code < 500)


async def test_connection_dropped_mid_message(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain", faults=Faults(drop_in_data=2))
    step, diagnosis = await test_failure(settings_for(server))
    assert (step, diagnosis.cause) == ("send", "connection_dropped")
    sent = await send_failure(settings_for(server, max_msg_retries=0))
    assert sent.cause == "connection_dropped"
    assert sent.temporary
