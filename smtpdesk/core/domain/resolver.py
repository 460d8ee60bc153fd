"""DNS look-ups for the domain check: one resolver, short time-outs, answers cached by TTL.

Every query of the check goes through :class:`DnsClient`. ``SMTPDESK_DNS_SERVER``
(``HOST:PORT``) or the app setting ``dns_server`` points it at one server, for offline
use and the tests; otherwise it asks the system's resolvers. A name that does not
exist, or has no record of the type, is an empty answer (cached for the zone's
negative TTL); a resolver that does not answer raises :class:`DnsUnavailableError`,
which the check turns into "could not check" and never into a reason to block sending.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

from smtpdesk.core.errors import BadInputError, KnownError
from smtpdesk.core.settings import dns_server_address

ENV_VAR = "SMTPDESK_DNS_SERVER"
LIFETIME = 3.0  # seconds for one question, all retries included
NEGATIVE_TTL = 300.0  # when the zone gives no SOA to read its own from
MAX_TTL = 3600.0
_MAX_ENTRIES = 4096


class DnsUnavailableError(KnownError):
    """No DNS server answered: the check could not be made (not a fault of the domain)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"DNS did not answer ({detail}).",
            "Check the network connection, or set SMTPDESK_DNS_SERVER=HOST:PORT.",
        )


@dataclass(frozen=True)
class Answer:
    """The records of one name and type (text form), empty when there are none."""

    records: tuple[str, ...]
    ttl: float

    def __bool__(self) -> bool:
        return bool(self.records)


class DnsClient:
    """Queries one resolver (a given server, or the system's) and caches by TTL.

    Thread-safe: the check runs its look-ups in worker threads.
    """

    def __init__(self, server: str = "", *, lifetime: float = LIFETIME) -> None:
        self.server = server
        self.lifetime = lifetime
        self._resolver: dns.resolver.Resolver | None = None
        self._cache: dict[tuple[str, str], tuple[float, Answer]] = {}
        self._lock = threading.Lock()

    def _get_resolver(self) -> dns.resolver.Resolver:
        if self._resolver is None:
            if self.server:
                host, port = dns_server_address(self.server)
                resolver = dns.resolver.Resolver(configure=False)
                resolver.nameservers = [host]
                resolver.port = port
            else:
                try:
                    resolver = dns.resolver.Resolver()
                except (dns.resolver.NoResolverConfiguration, OSError) as exc:
                    raise DnsUnavailableError("this computer has no DNS server set") from exc
            resolver.lifetime = self.lifetime
            resolver.timeout = min(self.lifetime, 2.0)
            resolver.cache = None  # ours keeps empty answers too
            self._resolver = resolver
        return self._resolver

    def query(self, name: str, rdtype: str) -> Answer:
        """The records of ``name``; empty when none; :class:`DnsUnavailableError` if no answer."""
        key = (name.lower().rstrip("."), rdtype)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        answer = self._ask(key[0], rdtype)
        with self._lock:
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = (now + answer.ttl, answer)
        return answer

    def _ask(self, name: str, rdtype: str) -> Answer:
        resolver = self._get_resolver()
        try:
            result = resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN as exc:
            names: Any = exc.kwargs.get("qnames") or ()
            responses: Any = exc.kwargs.get("responses") or {}
            return Answer((), _negative_ttl(responses.get(names[0]) if names else None))
        except dns.resolver.NoNameservers as exc:
            raise DnsUnavailableError(f"no server could answer for {name}") from exc
        except dns.exception.Timeout as exc:
            raise DnsUnavailableError(f"no reply about {name} in {self.lifetime:g} s") from exc
        except (dns.name.NameTooLong, dns.name.LabelTooLong, dns.name.EmptyLabel):
            return Answer((), NEGATIVE_TTL)
        except (dns.exception.DNSException, OSError) as exc:
            raise DnsUnavailableError(f"{type(exc).__name__} for {name}") from exc
        if result.rrset is None:
            return Answer((), _negative_ttl(result.response))
        ttl = float(min(result.rrset.ttl, MAX_TTL))
        return Answer(tuple(_text(rdata, rdtype) for rdata in result.rrset), ttl)

    # --- the few shapes the check needs ------------------------------------------------

    def txt(self, name: str) -> list[str]:
        """TXT records, each one's strings joined (as SPF, DKIM and DMARC read them)."""
        return list(self.query(name, "TXT").records)

    def addresses(self, host: str) -> list[str]:
        """A and AAAA of ``host``; an IP literal is its own address."""
        try:
            return [str(ipaddress.ip_address(host.strip("[]")))]
        except ValueError:
            pass
        return [*self.query(host, "A").records, *self.query(host, "AAAA").records]

    def ptr(self, address: str) -> list[str]:
        name = dns.reversename.from_address(address).to_text()
        return [r.rstrip(".").lower() for r in self.query(name, "PTR").records]

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def _text(rdata: Any, rdtype: str) -> str:
    if rdtype == "TXT":
        return b"".join(rdata.strings).decode("utf-8", "replace")
    if rdtype == "MX":
        return f"{rdata.preference} {rdata.exchange.to_text().rstrip('.').lower()}"
    return str(rdata.to_text()).rstrip(".")


def _negative_ttl(response: object) -> float:
    """RFC 2308: the SOA's minimum (capped by its TTL) from the authority section."""
    for rrset in getattr(response, "authority", ()) or ():
        if rrset.rdtype == dns.rdatatype.SOA:
            return float(min(rrset.ttl, rrset[0].minimum, MAX_TTL))
    return NEGATIVE_TTL


def configured_server(setting: str = "") -> str:
    """The DNS server to ask: ``SMTPDESK_DNS_SERVER``, else the app setting, else ''."""
    return os.environ.get(ENV_VAR, "").strip() or setting.strip()


_clients: dict[str, DnsClient] = {}
_clients_lock = threading.Lock()


def client_for(setting: str = "") -> DnsClient:
    """The shared client (and so the shared cache) for the configured server."""
    server = configured_server(setting)
    if server:
        try:
            dns_server_address(server)
        except ValueError as exc:
            where = ENV_VAR if os.environ.get(ENV_VAR, "").strip() else "dns_server"
            raise BadInputError(f"{where}: {exc}.", "Give HOST:PORT, e.g. 127.0.0.1:53.") from exc
    with _clients_lock:
        found = _clients.get(server)
        if found is None:
            found = _clients[server] = DnsClient(server)
        return found
