"""SPF: find the domain's record and ask pyspf whether each server may send for it.

pyspf (RFC 7208) does the evaluation; its DNS calls are routed through our
:class:`~smtpdesk.core.domain.resolver.DnsClient` (the configured server, the cache), see
:func:`_lookup`. A provider's relay (Gmail, Microsoft 365, SES…) connects from other
addresses than its submission host's, so for those the question is whether the record
includes the provider's SPF (``include:_spf.google.com``…); for the user's own relay it is
whether its addresses pass.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import spf

from smtpdesk.core.domain.providers import provider_for
from smtpdesk.core.domain.resolver import DnsClient, DnsUnavailableError
from smtpdesk.core.settings import ServerSettings

Verdict = Literal["pass", "fail", "warn", "unknown"]
_TEST_ADDRESS = "192.0.2.1"  # TEST-NET-1: evaluating for it shows the record's syntax errors
_MAX_INCLUDE_DEPTH = 10  # RFC 7208's DNS look-up limit bounds the includes too
_local = threading.local()


@dataclass(frozen=True)
class ServerSpf:
    """Whether one server may send for the domain, in words."""

    server: str
    verdict: Verdict
    detail: str


@dataclass
class SpfResult:
    domain: str
    record: str = ""
    problem: str = ""  # why the record is missing or broken; empty when it is usable
    unknown: str = ""  # why it could not be checked (DNS did not answer)
    includes: list[str] = field(default_factory=list)
    servers: list[ServerSpf] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return bool(self.record) and not self.problem and not self.unknown


def _lookup(name: str, qtype: str, *args: Any, **kwargs: Any) -> list[tuple[Any, Any]]:
    """pyspf's DNSLookup, answered by the thread's DnsClient (or pyspf's own without one)."""
    client: DnsClient | None = getattr(_local, "client", None)
    if client is None:
        return _original_lookup(name, qtype, *args, **kwargs)
    rdtype = "TXT" if qtype == "SPF" else qtype
    try:
        answer = client.query(name, rdtype)
    except DnsUnavailableError as exc:
        raise spf.TempError(str(exc)) from exc
    if qtype == "SPF":
        return []  # type 99 is obsolete (RFC 7208 3.1): never published apart from TXT
    key = (name, qtype)
    if qtype == "TXT":
        return [(key, (record.encode("utf-8"),)) for record in answer.records]
    if qtype == "MX":
        pairs = (record.split(" ", 1) for record in answer.records)
        return [(key, (int(pref), exchange)) for pref, exchange in pairs]
    return [(key, record) for record in answer.records]


_original_lookup: Callable[..., list[tuple[Any, Any]]] = spf.DNSLookup
spf.DNSLookup = _lookup


def _evaluate(client: DnsClient, domain: str, address: str, helo: str) -> tuple[str, str]:
    """pyspf's (result, explanation) for mail from ``domain`` sent by ``address``."""
    _local.client = client
    try:
        query = spf.query(i=address, s=f"postmaster@{domain}", h=helo or domain, timeout=10)
        result, _code, explanation = query.check()
    finally:
        _local.client = None
    return str(result), str(explanation)


def spf_records(client: DnsClient, domain: str) -> list[str]:
    return [r for r in client.txt(domain) if r.lower().startswith(("v=spf1 ", "v=spf1"))]


def check_spf(client: DnsClient, domain: str, servers: list[ServerSettings]) -> SpfResult:
    """The record of ``domain``, whether it is valid, and a verdict for each server."""
    result = SpfResult(domain)
    try:
        records = [r for r in spf_records(client, domain) if r.lower().split()[0] == "v=spf1"]
        if not records:
            result.problem = "no SPF record (a TXT record starting with v=spf1)"
            return result
        if len(records) > 1:
            result.record = records[0]
            result.problem = f"{len(records)} SPF records: receivers treat that as an error"
            return result
        result.record = records[0]
        verdict, explanation = _evaluate(client, domain, _TEST_ADDRESS, domain)
        if verdict == "permerror":
            result.problem = f"the record is broken: {explanation}"
            return result
        if verdict == "temperror":
            result.unknown = explanation
            return result
        result.includes = _includes(client, result.record)
        result.servers = [_server_verdict(client, domain, s, result.includes) for s in servers]
    except DnsUnavailableError as exc:
        result.unknown = exc.message
    return result


def _includes(client: DnsClient, record: str, depth: int = 0) -> list[str]:
    """Every domain the record includes or redirects to, nested ones too."""
    found: list[str] = []
    for term in record.split()[1:]:
        lowered = term.lower().lstrip("+?~-")
        name = ""
        if lowered.startswith("include:"):
            name = lowered.partition(":")[2]
        elif lowered.startswith("redirect="):
            name = lowered.partition("=")[2]
        if not name or "%" in name or name in found:
            continue  # a macro cannot be followed without the message
        found.append(name)
        if depth < _MAX_INCLUDE_DEPTH:
            for nested in spf_records(client, name)[:1]:
                found += [n for n in _includes(client, nested, depth + 1) if n not in found]
    return found


def _server_verdict(
    client: DnsClient, domain: str, server: ServerSettings, includes: list[str]
) -> ServerSpf:
    provider = provider_for(server.host)
    if provider is not None and provider.spf_include:
        if provider.spf_include in includes:
            return ServerSpf(
                server.label, "pass", f"include:{provider.spf_include} ({provider.name}) is in it"
            )
        return ServerSpf(
            server.label,
            "fail",
            f"{provider.name} sends from its own addresses, and the record lacks "
            f"include:{provider.spf_include}",
        )
    addresses = client.addresses(server.host)
    if not addresses:
        return ServerSpf(server.label, "unknown", f"{server.host} has no address in DNS")
    verdicts = [(a, *_evaluate(client, domain, a, server.hello_hostname)) for a in addresses]
    failing = [(a, r) for a, r, _ in verdicts if r != "pass"]
    if not failing:
        listed = ", ".join(a for a, _, _ in verdicts)
        return ServerSpf(server.label, "pass", f"its address {listed} passes")
    address, outcome = failing[0]
    private = _is_private(address)
    note = " (a private address: the relay's public one is what receivers see)" if private else ""
    verdict: Verdict = "fail" if outcome in ("fail", "permerror") and not private else "warn"
    if outcome == "temperror":
        verdict = "unknown"
    return ServerSpf(server.label, verdict, f"its address {address} gets SPF {outcome}{note}")


def _is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_private or ip.is_loopback
