"""Trust this certificate: the pinned SHA-256 is checked on every connection."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
import trustme

from smtpdesk.core.settings import AuthProtocol
from smtpdesk.core.smtp.certificate import format_fingerprint
from smtpdesk.core.smtp.pool import ServerPool
from smtpdesk.core.smtp.servertest import test_server as run_server_test
from tests.helpers.smtpd import PASSWORD, SmtpdFactory, settings_for
from tests.integration.smtp.test_diagnosis import message, send_failure


@pytest.fixture
def trust_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The system trusts only an unrelated CA: every test certificate is unknown."""
    other = tmp_path / "unrelated-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_pinned_certificate_is_accepted_and_a_changed_one_refused(
    smtpd_factory: SmtpdFactory, trust_nothing: None, mode: str
) -> None:
    first_ca, second_ca = trustme.CA(), trustme.CA()
    server = await smtpd_factory(mode, cert=first_ca.issue_cert("127.0.0.1"), auth=("PLAIN",))
    settings = settings_for(server)

    refused = await run_server_test(settings, PASSWORD)
    assert refused.diagnosis is not None and refused.diagnosis.cause == "certificate_invalid"
    assert "unknown authority" in refused.diagnosis.message
    shown = refused.certificate  # fetched again, unchecked, for the user to judge
    assert shown is not None and shown.names == ("127.0.0.1",)
    assert not shown.self_signed and shown.protocol.startswith("TLSv1")
    assert server.stats.auth_logins == []

    pinned = replace(settings, tls_pin_sha256=shown.sha256)
    report = await run_server_test(pinned, PASSWORD, to="bob@example.test")
    assert report.ok, report.diagnosis
    assert report.certificate is not None and report.certificate.sha256 == shown.sha256
    pool = ServerPool(pinned, PASSWORD)
    try:
        await pool.send(message())
    finally:
        await pool.close()
    assert len(server.messages) == 2

    await server.stop()  # the same address now presents another CA's certificate
    other = await smtpd_factory(mode, cert=second_ca.issue_cert("127.0.0.1"), auth=("PLAIN",))
    moved = replace(pinned, port=other.port)
    changed = await run_server_test(moved, PASSWORD, to="bob@example.test")
    assert changed.diagnosis is not None
    assert (changed.steps[-1].name, changed.diagnosis.cause) == ("TLS", "certificate_changed")
    assert changed.certificate is not None
    new = changed.certificate.sha256
    assert new != shown.sha256
    assert format_fingerprint(shown.sha256) in changed.diagnosis.message
    assert format_fingerprint(new) in changed.diagnosis.message
    sent = await send_failure(moved, PASSWORD)
    assert sent.cause == "certificate_changed"
    assert other.stats.auth_logins == [] and other.messages == []  # no password, no mail


async def test_self_signed_certificate_is_called_so(
    smtpd_factory: SmtpdFactory, trust_nothing: None
) -> None:
    ca = trustme.CA()
    own = trustme.LeafCert(ca.private_key_pem.bytes(), ca.cert_pem.bytes(), [])
    server = await smtpd_factory("tls", cert=own)
    report = await run_server_test(settings_for(server, auth_protocol=AuthProtocol.NONE), None)
    assert report.diagnosis is not None and "self-signed" in report.diagnosis.message
    assert "Trust this certificate" in report.diagnosis.hints[0]
    assert report.certificate is not None and report.certificate.self_signed
    pinned = settings_for(server, tls_pin_sha256=report.certificate.sha256)
    assert (await run_server_test(pinned, None)).ok


async def test_tls_step_details_and_expiry_warning(
    smtpd_factory: SmtpdFactory, tls_ca: trustme.CA, trust_test_ca: Path
) -> None:
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=5)
    cert = tls_ca.issue_cert("127.0.0.1", "localhost", not_after=soon)
    server = await smtpd_factory("starttls", cert=cert, auth=("PLAIN",))
    report = await run_server_test(settings_for(server), PASSWORD)
    assert report.ok, report.diagnosis
    tls = next(s for s in report.steps if s.name == "TLS").detail
    assert "STARTTLS" in tls and "TLSv1." in tls
    assert "names localhost, 127.0.0.1" in tls and "issuer" in tls and "subject" in tls
    assert f"expires {soon:%Y-%m-%d}" in tls
    [warning] = report.warnings
    assert "expires in 4 days" in warning or "expires in 5 days" in warning
