"""A real DNS server on 127.0.0.1 for the domain tests, with good, missing and broken records."""

from __future__ import annotations

from collections.abc import Iterator

import dkim
import pytest

from smtpdesk.core.domain.resolver import DnsClient
from smtpdesk.core.domain.signing import generate_key, public_record
from tests.helpers.dns import DnsServer, dns_server
from tests.helpers.dovecot import dovecot  # noqa: F401  (a fixture, for test_readback)

RSA_KEY = generate_key("dkim-rsa")
ED_KEY = generate_key("dkim-ed25519")


def verify(client: DnsClient, signed: bytes, index: int = 0) -> bool:
    """dkimpy's verdict on signature ``index``, its keys looked up through ``client``; a body
    hash mismatch is its exception."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        found = client.txt(name.decode().rstrip("."))
        return found[0].encode() if found else None

    try:
        return bool(dkim.DKIM(signed).verify(idx=index, dnsfunc=lookup))
    except dkim.ValidationError:
        return False


def txt(name: str, value: str) -> str:
    """A zone line; values over 255 bytes split into several strings, as DNS needs."""
    chunks = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
    return f"{name}. 300 IN TXT {chunks}"


ZONE = "\n".join(
    [
        # good.test: everything right; two own relays, one of them wrong
        "good.test. 300 IN MX 10 mx.good.test.",
        "mx.good.test. 300 IN A 81.2.69.150",
        txt("good.test", "v=spf1 ip4:81.2.69.160 include:_spf.google.com -all"),
        txt("_spf.google.com", "v=spf1 ip4:192.0.2.0/24 ~all"),
        txt("_dmarc.good.test", "v=DMARC1; p=reject; adkim=s; rua=mailto:d@good.test"),
        txt("sel._domainkey.good.test", public_record(RSA_KEY)),
        txt("google._domainkey.good.test", public_record(ED_KEY)),
        "relay.good.test. 300 IN A 81.2.69.160",
        "160.69.2.81.in-addr.arpa. 300 IN PTR relay.good.test.",
        "relay2.good.test. 300 IN A 81.2.69.161",
        # missing.test: a host, no mail records at all
        "missing.test. 300 IN A 81.2.69.170",
        # broken.test: every record present and malformed
        "broken.test. 300 IN MX 10 mx.good.test.",
        txt("broken.test", "v=spf1 ip4:999.1.1.1 -all"),
        txt("default._domainkey.broken.test", "v=DKIM1; k=rsa; p=!!not-base64!!"),
        txt("_dmarc.broken.test", "v=DMARC1; p=maybe"),
        # twospf.test: two SPF records, which is an error of its own
        txt("twospf.test", "v=spf1 -all"),
        txt("twospf.test", "v=spf1 ip4:81.2.69.160 -all"),
        # news.org.test: DMARC only at the organisational domain
        "news.org.test. 300 IN MX 10 mx.good.test.",
        txt("news.org.test", "v=spf1 ip4:81.2.69.160 -all"),
        txt("_dmarc.org.test", "v=DMARC1; p=quarantine; pct=50"),
        # Amazon SES' Easy DKIM: the selector is a CNAME to SES' own key record
        "abc123._domainkey.good.test. 300 IN CNAME abc123.dkim.amazonses.test.",
        txt("abc123.dkim.amazonses.test", public_record(RSA_KEY)),
        # sign.test: the signing tests publish their keys here
        "sign.test. 300 IN MX 10 mx.good.test.",
    ]
)


@pytest.fixture(scope="session")
def dns() -> Iterator[DnsServer]:
    with dns_server(ZONE) as server:
        yield server


@pytest.fixture
def client(dns: DnsServer) -> DnsClient:
    return DnsClient(dns.address, lifetime=2.0)
