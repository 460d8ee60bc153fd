"""DKIM key records and the DMARC record: found, parsed, and their faults in words.

Tag lists (``k=v; k=v``, RFC 6376 3.2, which DMARC shares) are parsed by dkimpy's
``parse_tag_value``; public keys by ``cryptography``. The organisational domain
(DMARC's fallback and relaxed alignment) comes from the Public Suffix List bundled
with the ``publicsuffixlist`` package: nothing is fetched at run time.
"""

from __future__ import annotations

import base64
import binascii
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from dkim.util import InvalidTagValueList, parse_tag_value
from publicsuffixlist import PublicSuffixList

from smtpdesk.core.domain.resolver import DnsClient

DMARC_POLICIES = ("none", "quarantine", "reject")


@functools.cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the package's own copy of the list


def organisational_domain(domain: str) -> str:
    """The registered domain (``news.example.co.uk`` → ``example.co.uk``), RFC 7489 3.2."""
    domain = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(domain) or domain


def aligned(one: str, other: str, mode: str) -> bool:
    """DMARC identifier alignment: strict is the same name, relaxed the same org domain."""
    one, other = one.lower().rstrip("."), other.lower().rstrip(".")
    if mode == "s":
        return one == other
    return organisational_domain(one) == organisational_domain(other)


def tags(record: str) -> dict[str, str]:
    """The tags of a tag list; ValueError names what is malformed."""
    try:
        parsed = parse_tag_value(record.encode("utf-8"))
    except InvalidTagValueList as exc:
        raise ValueError(str(exc) or "not a tag=value list") from exc
    return {k.decode().lower(): v.decode().strip() for k, v in parsed.items()}


# --- DKIM ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DkimKey:
    """A key record found at ``selector._domainkey.domain``: usable or why not."""

    selector: str
    domain: str
    algorithm: str = ""  # rsa or ed25519
    bits: int = 0
    problem: str = ""
    record: str = ""

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def describe(self) -> str:
        if self.problem:
            return f"{self.name}: {self.problem}"
        size = f"-{self.bits}" if self.algorithm == "rsa" else ""
        return f"{self.name}: {self.algorithm.upper()}{size} key"


def parse_dkim_record(selector: str, domain: str, record: str) -> DkimKey:
    key = functools.partial(DkimKey, selector, domain, record=record)
    try:
        found = tags(record)
    except ValueError as exc:
        return key(problem=f"the record is malformed: {exc}")
    if found.get("v", "DKIM1") != "DKIM1":
        return key(problem=f"v={found['v']} is not DKIM1")
    algorithm = found.get("k", "rsa").lower()
    data = "".join(found.get("p", "").split())
    if not data:
        return key(algorithm=algorithm, problem="the key is revoked (empty p=)")
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        return key(algorithm=algorithm, problem="p= is not base64")
    if algorithm == "ed25519":
        if len(raw) != 32:
            return key(algorithm=algorithm, problem="an Ed25519 key is 32 bytes")
        return key(algorithm=algorithm, bits=256)
    if algorithm != "rsa":
        return key(algorithm=algorithm, problem=f"k={algorithm} is not rsa or ed25519")
    try:
        public = load_der_public_key(raw)
    except ValueError:
        return key(algorithm=algorithm, problem="p= is not an RSA public key")
    if not isinstance(public, rsa.RSAPublicKey):
        return key(algorithm=algorithm, problem="p= is not an RSA public key")
    bits = public.key_size
    if bits < 1024:
        return key(algorithm="rsa", bits=bits, problem=f"a {bits}-bit key is refused by receivers")
    return key(algorithm="rsa", bits=bits)


def find_dkim_keys(client: DnsClient, domain: str, selectors: list[str]) -> list[DkimKey]:
    """The key records published under ``selectors`` (looked up side by side)."""

    def look(selector: str) -> list[DkimKey]:
        records = client.txt(f"{selector}._domainkey.{domain}")
        return [parse_dkim_record(selector, domain, r) for r in records if "p=" in r]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(look, selectors))  # DnsUnavailableError propagates
    return [key for found in results for key in found]


# --- DMARC --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dmarc:
    domain: str  # where the record was found: the domain or its organisational domain
    record: str = ""
    policy: str = ""
    subdomain_policy: str = ""
    adkim: str = "r"
    aspf: str = "r"
    pct: int = 100
    rua: str = ""
    problem: str = ""

    @property
    def found(self) -> bool:
        return bool(self.record) and not self.problem


def find_dmarc(client: DnsClient, domain: str) -> Dmarc:
    """The record at ``_dmarc.DOMAIN``, else at the organisational domain's (RFC 7489 6.6.3)."""
    org = organisational_domain(domain)
    for where in dict.fromkeys((domain.lower(), org)):
        records = [r for r in client.txt(f"_dmarc.{where}") if r.lower().startswith("v=dmarc1")]
        if len(records) > 1:
            return Dmarc(where, records[0], problem=f"{len(records)} DMARC records: none applies")
        if records:
            return parse_dmarc(where, records[0])
    return Dmarc(domain, problem="no DMARC record")


def parse_dmarc(where: str, record: str) -> Dmarc:
    try:
        found = tags(record)
    except ValueError as exc:
        return Dmarc(where, record, problem=f"the record is malformed: {exc}")
    if found.get("v") != "DMARC1":
        return Dmarc(where, record, problem="it must start with v=DMARC1")
    policy = found.get("p", "").lower()
    if policy not in DMARC_POLICIES:
        return Dmarc(
            where, record, problem=f"p={policy or '(missing)'} is not none, quarantine or reject"
        )
    sub = found.get("sp", policy).lower()
    adkim, aspf = found.get("adkim", "r").lower(), found.get("aspf", "r").lower()
    pct = found.get("pct", "100")
    problem = ""
    if sub not in DMARC_POLICIES:
        problem = f"sp={sub} is not none, quarantine or reject"
    elif adkim not in ("r", "s") or aspf not in ("r", "s"):
        problem = "adkim and aspf must be r (relaxed) or s (strict)"
    elif not (pct.isdigit() and 0 <= int(pct) <= 100):
        problem = f"pct={pct} is not 0-100"
    if problem:
        return Dmarc(where, record, problem=problem)
    return Dmarc(where, record, policy, sub, adkim, aspf, int(pct), found.get("rua", ""))
