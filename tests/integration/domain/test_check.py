"""The domain checklist against a real DNS server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import time

import pytest

from smtpdesk.core.domain.check import Unsubscribe, check_domain, normalise_domain
from smtpdesk.core.domain.records import organisational_domain
from smtpdesk.core.domain.resolver import DnsClient, DnsUnavailableError, client_for
from smtpdesk.core.errors import BadInputError
from smtpdesk.core.settings import ServerSettings, TlsType
from tests.helpers.dns import DnsServer, silent_dns

GMAIL = ServerSettings(name="gmail", host="smtp.gmail.com", port=587)
RELAY = ServerSettings(name="relay", host="relay.good.test")
RELAY2 = ServerSettings(name="relay2", host="relay2.good.test")


def statuses(report: object) -> dict[str, str]:
    return {c.key: c.status for c in report.checks}  # type: ignore[attr-defined]


def test_a_good_domain_passes_every_line(client: DnsClient) -> None:
    report = check_domain(
        client,
        "good.test",
        servers=[GMAIL, RELAY],
        selector="sel",
        unsubscribe=Unsubscribe(url="https://good.test/u?t=1"),
    )
    assert statuses(report) == {
        "mx": "pass",
        "spf": "pass",
        "dkim": "pass",
        "dmarc": "pass",
        "alignment": "pass",
        "unsubscribe": "pass",
        "free_mail": "pass",
        "reverse_dns": "pass",
        "tls": "pass",
    }
    assert not report.failed
    spf = {s.server: s for s in report.spf.servers}  # type: ignore[union-attr]
    assert "include:_spf.google.com" in spf["gmail"].detail
    assert "81.2.69.160 passes" in spf["relay"].detail
    found = {(k.selector, k.algorithm, k.bits) for k in report.dkim}
    assert ("sel", "rsa", 2048) in found and ("google", "ed25519", 256) in found
    assert "strict: the same name" in report.check("alignment").detail
    assert report.dmarc is not None and report.dmarc.policy == "reject"


def test_a_domain_without_records_fails_with_what_to_do(client: DnsClient) -> None:
    report = check_domain(client, "missing.test", servers=[RELAY])
    got = statuses(report)
    assert got["mx"] == "warn" and got["dkim"] == "warn"
    assert got["spf"] == "fail" and got["dmarc"] == "fail" and got["alignment"] == "fail"
    assert report.failed
    assert "v=DMARC1; p=none" in report.check("dmarc").todo
    assert "no SPF record" in report.check("spf").detail


def test_broken_records_are_named(client: DnsClient) -> None:
    report = check_domain(client, "broken.test")
    assert report.check("spf").status == "fail"
    assert "broken" in report.check("spf").detail
    assert report.check("dkim").status == "fail"
    assert "not base64" in report.check("dkim").detail
    assert report.check("dmarc").status == "fail"
    assert "p=maybe" in report.check("dmarc").detail


def test_two_spf_records_fail(client: DnsClient) -> None:
    assert "2 SPF records" in check_domain(client, "twospf.test").check("spf").detail


def test_a_server_the_record_does_not_authorise_fails(client: DnsClient) -> None:
    report = check_domain(client, "good.test", servers=[RELAY2], selector="sel")
    line = report.check("spf")
    assert line.status == "fail" and "81.2.69.161 gets SPF fail" in line.detail
    assert report.check("reverse_dns").status == "fail"
    assert "no reverse (PTR) name" in report.check("reverse_dns").detail
    # DKIM still aligns, so DMARC would pass
    assert report.check("alignment").status == "pass"


def test_a_provider_missing_from_spf_fails(client: DnsClient) -> None:
    sendgrid = ServerSettings(name="grid", host="smtp.sendgrid.net")
    line = check_domain(client, "good.test", servers=[sendgrid]).check("spf")
    assert line.status == "fail" and "include:sendgrid.net" in line.detail


def test_dmarc_of_the_organisational_domain(client: DnsClient) -> None:
    assert organisational_domain("news.org.test") == "org.test"
    assert organisational_domain("mail.example.co.uk") == "example.co.uk"  # the bundled list
    report = check_domain(client, "news.org.test")
    line = report.check("dmarc")
    assert line.status == "pass" and "inherited from org.test" in line.detail
    assert "50%" in line.detail


def test_free_mail_through_another_server_fails(client: DnsClient) -> None:
    assert check_domain(client, "gmail.com", servers=[RELAY]).check("free_mail").status == "fail"
    assert check_domain(client, "gmail.com", servers=[GMAIL]).check("free_mail").status == "warn"


def test_unsubscribe_and_tls_lines(client: DnsClient) -> None:
    plain = ServerSettings(name="plain", host="relay.good.test", tls_type=TlsType.NONE)
    report = check_domain(client, "good.test", servers=[plain], unsubscribe=Unsubscribe())
    assert report.check("tls").status == "fail"
    assert report.check("unsubscribe").status == "fail"
    mailto = Unsubscribe(mailto="u@good.test")
    line = check_domain(client, "good.test", unsubscribe=mailto).check("unsubscribe")
    assert line.status == "warn"


def test_no_dns_answer_is_could_not_check(monkeypatch: pytest.MonkeyPatch) -> None:
    with silent_dns() as address:
        client = DnsClient(address, lifetime=0.3)
        started = time.monotonic()
        report = check_domain(client, "good.test", servers=[RELAY])
        elapsed = time.monotonic() - started
    got = statuses(report)
    for key in ("mx", "spf", "dkim", "dmarc", "alignment", "reverse_dns"):
        assert got[key] == "unknown", key
    assert not report.failed  # never a reason to block sending
    assert "could not check" in report.check("mx").line()
    assert elapsed < 2  # one time-out, not one per record


def test_answers_are_cached_for_their_ttl(dns: DnsServer) -> None:
    client = DnsClient(dns.address)
    client.txt("good.test")
    asked = len(dns.queries)
    assert client.txt("good.test") == ["v=spf1 ip4:81.2.69.160 include:_spf.google.com -all"]
    client.query("nothing.good.test", "TXT")
    client.query("nothing.good.test", "TXT")  # an empty answer is cached too
    assert len(dns.queries) == asked + 1


def test_the_environment_variable_points_every_lookup(
    dns: DnsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTPDESK_DNS_SERVER", dns.address)
    assert client_for("192.0.2.1:53").server == dns.address  # the variable wins
    monkeypatch.setenv("SMTPDESK_DNS_SERVER", "not-an-ip:53")
    with pytest.raises(BadInputError, match="SMTPDESK_DNS_SERVER"):
        client_for()
    monkeypatch.delenv("SMTPDESK_DNS_SERVER")
    assert client_for(dns.address).txt("good.test")


def test_unavailable_dns_raises_for_direct_queries() -> None:
    with silent_dns() as address, pytest.raises(DnsUnavailableError):
        DnsClient(address, lifetime=0.2).txt("good.test")


@pytest.mark.parametrize("bad", ["", "exa mple.com", "a..b", "-", "x" * 300])
def test_bad_domains_are_refused(bad: str) -> None:
    with pytest.raises(BadInputError):
        normalise_domain(bad)


def test_an_address_gives_its_domain() -> None:
    assert normalise_domain("You@Example.COM.") == "example.com"


def test_a_selector_published_as_a_cname_is_followed(client: DnsClient) -> None:
    report = check_domain(client, "good.test", selector="abc123")
    assert ("abc123", "rsa", 2048) in {(k.selector, k.algorithm, k.bits) for k in report.dkim}
