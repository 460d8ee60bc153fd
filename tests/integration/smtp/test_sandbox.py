"""The local sandbox server: real STARTTLS and AUTH, messages captured as .eml files."""

from __future__ import annotations

import dataclasses
import hashlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from smtpdesk.core import secrets
from smtpdesk.core.messengers import resolve_messenger
from smtpdesk.core.settings import AuthProtocol, TlsType
from smtpdesk.core.smtp.messenger import MessengerSender
from smtpdesk.core.smtp.sandbox import SandboxServer, ensure_sandbox_server, list_inbox
from smtpdesk.core.smtp.servertest import test_server as run_server_test
from smtpdesk.core.store import Store
from tests.integration.smtp.test_pool import make_message


@pytest.fixture
async def sandbox(data_dir: Path) -> AsyncIterator[SandboxServer]:
    server = SandboxServer(data_dir)
    await server.start()
    yield server
    await server.stop()


@pytest.mark.parametrize("auth", [AuthProtocol.PLAIN, AuthProtocol.LOGIN, AuthProtocol.CRAM])
async def test_sandbox_server_passes_the_server_test(
    sandbox: SandboxServer,
    store: Store,
    data_dir: Path,
    auth: AuthProtocol,
) -> None:
    settings = ensure_sandbox_server(store, sandbox.port)
    password = secrets.get_password(settings.uuid)
    assert password
    report = await run_server_test(
        dataclasses.replace(settings, auth_protocol=auth), password, to="me@example.test"
    )
    assert report.ok, report.diagnosis
    [captured] = list_inbox(data_dir)
    assert captured.subject == "smtpdesk test"
    assert captured.to == "me@example.test"
    assert captured.path.parent == sandbox.inbox_dir


async def test_wrong_password_and_plaintext_are_refused(
    sandbox: SandboxServer,
    store: Store,
) -> None:
    settings = ensure_sandbox_server(store, sandbox.port)
    report = await run_server_test(settings, "not-the-password")
    assert report.diagnosis is not None and report.diagnosis.cause == "auth_failed"
    plain = dataclasses.replace(settings, tls_type=TlsType.NONE, auth_protocol=AuthProtocol.NONE)
    report = await run_server_test(plain, None, to="me@example.test")
    assert report.diagnosis is not None and report.diagnosis.cause == "starttls_required"


async def test_a_campaign_messenger_can_send_to_the_sandbox(
    sandbox: SandboxServer,
    store: Store,
    data_dir: Path,
) -> None:
    ensure_sandbox_server(store, sandbox.port)
    sender = MessengerSender(resolve_messenger(store.servers(), "sandbox"))
    for i in range(3):
        await sender.send(make_message(f"r{i}@example.test", subject=f"hello {i}"))
    await sender.close()
    subjects = sorted(m.subject for m in list_inbox(data_dir))
    assert subjects == ["hello 0", "hello 1", "hello 2"]


async def test_restart_keeps_certificate_and_updates_the_one_sandbox_server(
    store: Store,
    data_dir: Path,
) -> None:
    first = SandboxServer(data_dir)
    port = await first.start()
    cert = (first.folder / "cert.pem").read_bytes()
    before = ensure_sandbox_server(store, port)
    await first.stop()
    second = SandboxServer(data_dir)
    new_port = await second.start()
    after = ensure_sandbox_server(store, new_port)
    await second.stop()
    assert (second.folder / "cert.pem").read_bytes() == cert
    assert after.uuid == before.uuid and after.port == new_port
    assert [s.name for s in store.servers()] == ["sandbox"]
    assert secrets.get_password(after.uuid) == secrets.get_password(before.uuid)


async def test_the_sandbox_server_pins_its_certificate_instead_of_skipping_checks(
    sandbox: SandboxServer, store: Store
) -> None:
    """The first run's server must not teach skip-verify: its own certificate is pinned."""
    store.put_server(  # as an earlier version stored it
        dataclasses.replace(ensure_sandbox_server(store, sandbox.port), tls_skip_verify=True)
    )
    settings = ensure_sandbox_server(store, sandbox.port)
    der = ssl.PEM_cert_to_DER_cert((sandbox.folder / "cert.pem").read_text(encoding="ascii"))
    assert not settings.tls_skip_verify
    assert settings.tls_pin_sha256 == hashlib.sha256(der).hexdigest()
    password = secrets.get_password(settings.uuid)
    report = await run_server_test(settings, password, to="me@example.test")
    assert report.ok, report.diagnosis

    # Another certificate on that port is refused, which skip-verify would have accepted.
    other = dataclasses.replace(settings, tls_pin_sha256="0" * 64)
    report = await run_server_test(other, password)
    assert report.diagnosis is not None and report.diagnosis.cause == "certificate_changed"


async def test_a_login_logs_no_deprecation_warning(
    sandbox: SandboxServer, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ensure_sandbox_server(store, sandbox.port)
    password = secrets.get_password(settings.uuid)
    assert password
    with caplog.at_level("WARNING", logger="mail.log"):
        report = await run_server_test(settings, password, to="me@example.test")
    assert report.ok, report.diagnosis
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]


async def test_a_restart_keeps_the_sandbox_servers_last_test(
    sandbox: SandboxServer, store: Store
) -> None:
    from smtpdesk.core.server_health import last_tests, record_test

    settings = ensure_sandbox_server(store, sandbox.port)
    assert record_test(store, settings, True, "passed") is not None
    again = ensure_sandbox_server(store, sandbox.port)  # what every start of the app does
    assert again == settings
    assert last_tests(store)[settings.uuid].ok
