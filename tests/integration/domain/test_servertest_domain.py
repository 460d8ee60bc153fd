"""The server Test's Domain step and its own DKIM signature, against the test DNS server."""

from __future__ import annotations

import pytest

from smtpdesk.core import secrets
from smtpdesk.core.domain.resolver import client_for
from smtpdesk.core.domain.signing import generate_key, key_to_pem, public_record
from smtpdesk.core.settings import DkimAlgorithm
from smtpdesk.core.smtp.servertest import test_server as run_server_test
from tests.helpers.dns import DnsServer
from tests.helpers.smtpd import SmtpdFactory, settings_for

from .conftest import txt


@pytest.fixture
def env_dns(dns: DnsServer, monkeypatch: pytest.MonkeyPatch) -> DnsServer:
    monkeypatch.setenv("SMTPDESK_DNS_SERVER", dns.address)
    return dns


async def test_the_domain_step_checks_the_username_domain(
    smtpd_factory: SmtpdFactory, env_dns: DnsServer
) -> None:
    smtpd = await smtpd_factory("plain")
    settings = settings_for(smtpd, username="me@missing.test")
    report = await run_server_test(settings, None)
    assert report.ok and report.steps[-1].name == "Domain"
    assert report.steps[-1].detail.startswith("missing.test: ")
    assert "fail" in report.steps[-1].detail
    assert report.domain is not None and report.domain.check("dmarc").status == "fail"
    assert report.to_dict()["domain"]["domain"] == "missing.test"


async def test_the_test_email_is_signed_and_verified(
    smtpd_factory: SmtpdFactory, env_dns: DnsServer
) -> None:
    smtpd = await smtpd_factory("plain")
    settings = settings_for(
        smtpd,
        dkim_enabled=True,
        dkim_domain="sign.test",
        dkim_selector="servertest",
        dkim_algorithm=DkimAlgorithm.RSA,
    )
    key = generate_key("dkim-rsa")
    secrets.set_dkim_key(settings.uuid, "dkim-rsa", key_to_pem(key))
    report = await run_server_test(settings, None, to="me@example.org")
    step = {s.name: s for s in report.steps}["DKIM"]
    assert "does not verify" in step.detail  # not published yet
    assert any("publish the TXT record" in w for w in report.warnings)

    env_dns.add(txt("servertest._domainkey.sign.test", public_record(key)))
    client_for().clear()  # the empty answer was cached for the zone's negative TTL
    report = await run_server_test(settings, None, to="me@example.org")
    step = {s.name: s for s in report.steps}["DKIM"]
    assert step.detail == "DKIM signature verifies against DNS"
    assert report.warnings == []
    assert smtpd.messages[-1].content.startswith(b"DKIM-Signature:")
    assert report.domain is not None and report.domain.domain == "sign.test"


async def test_a_missing_key_fails_the_dkim_step(
    smtpd_factory: SmtpdFactory, env_dns: DnsServer
) -> None:
    smtpd = await smtpd_factory("plain")
    settings = settings_for(
        smtpd, dkim_enabled=True, dkim_domain="sign.test", dkim_selector="nokey"
    )
    report = await run_server_test(settings, None, to="me@example.org")
    assert not report.ok and report.steps[-1].name == "DKIM"
    assert report.diagnosis is not None and "not in the keyring" in report.diagnosis.message
    assert smtpd.messages == []
