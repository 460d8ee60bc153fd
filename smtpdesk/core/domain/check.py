"""Will it land? The sending domain and servers against Gmail's and Yahoo's bulk-sender rules.

:func:`check_domain` looks up MX, SPF (evaluated for each server), DKIM keys (the
user's selector, the servers' own signing selector, then the providers' usual ones)
and DMARC (at the domain or its organisational domain), and returns a checklist:
each line pass / warn / fail with why and what to do, or ``unknown`` ("could not
check") when DNS did not answer. Nothing here blocks sending: the caller shows it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from smtpdesk.core.domain import records
from smtpdesk.core.domain.providers import FREE_MAIL, provider_for, provider_selectors
from smtpdesk.core.domain.records import DkimKey, Dmarc, aligned, organisational_domain
from smtpdesk.core.domain.resolver import DnsClient, DnsUnavailableError
from smtpdesk.core.domain.spf import SpfResult, check_spf
from smtpdesk.core.errors import BadInputError
from smtpdesk.core.settings import ServerSettings, TlsType

Status = Literal["pass", "warn", "fail", "unknown", "skip"]
COULD_NOT_CHECK = "could not check"


@dataclass(frozen=True)
class Check:
    """One line of the checklist: its status, why, and what to do (empty when it passes)."""

    key: str
    title: str
    status: Status
    detail: str
    todo: str = ""

    def line(self) -> str:
        label = COULD_NOT_CHECK if self.status == "unknown" else self.status
        text = f"[{label}] {self.title}: {self.detail}"
        return f"{text} {self.todo}".rstrip()


@dataclass(frozen=True)
class Unsubscribe:
    """The campaign's unsubscribe targets (List-Unsubscribe)."""

    mailto: str = ""
    url: str = ""


@dataclass
class DomainReport:
    domain: str
    org_domain: str
    checks: list[Check] = field(default_factory=list)
    mx: list[str] = field(default_factory=list)
    spf: SpfResult | None = None
    envelope_spf: SpfResult | None = None
    dkim: list[DkimKey] = field(default_factory=list)
    selectors_tried: list[str] = field(default_factory=list)
    dmarc: Dmarc | None = None

    @property
    def failed(self) -> bool:
        return any(c.status == "fail" for c in self.checks)

    def check(self, key: str) -> Check:
        return next(c for c in self.checks if c.key == key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "organisational_domain": self.org_domain,
            "failed": self.failed,
            "checks": [asdict(c) for c in self.checks],
            "mx": self.mx,
            "spf": asdict(self.spf) if self.spf else None,
            "envelope_spf": asdict(self.envelope_spf) if self.envelope_spf else None,
            "dkim": [asdict(k) for k in self.dkim],
            "selectors_tried": self.selectors_tried,
            "dmarc": asdict(self.dmarc) if self.dmarc else None,
        }


def check_domain(
    client: DnsClient,
    domain: str,
    *,
    servers: Sequence[ServerSettings] = (),
    selector: str = "",
    envelope_domain: str = "",
    unsubscribe: Unsubscribe | None = None,
) -> DomainReport:
    """The checklist for mail From ``domain`` sent through ``servers``. Blocking: run it in a
    worker thread. DNS failures become ``unknown`` lines, never exceptions."""
    domain = domain.lower().strip().rstrip(".")
    servers = list(servers)
    report = DomainReport(domain, organisational_domain(domain))
    report.checks.append(_mx(client, report))
    if report.checks[0].status == "unknown":  # no DNS: say so at once, without more waits
        return _without_dns(report, servers, unsubscribe)
    report.spf = check_spf(client, domain, servers)
    report.checks.append(_spf_line(report.spf, servers))
    envelope = (envelope_domain or _return_path_domain(servers) or domain).lower()
    if envelope != domain:
        report.envelope_spf = check_spf(client, envelope, servers)
    report.checks.append(_dkim(client, report, servers, selector))
    report.checks.append(_dmarc(client, report))
    report.checks.append(_alignment(report, servers, envelope))
    report.checks.append(_unsubscribe(unsubscribe))
    report.checks.append(_free_mail(domain, servers))
    report.checks.append(_reverse_dns(client, servers))
    report.checks.append(_tls(servers))
    return report


def normalise_domain(text: str, what: str = "domain", *, dotted: bool = True) -> str:
    """A DNS name from user input (an address gives its domain); BadInputError if not one.

    ``dotted``: a mail domain has at least two labels (``x`` or ``localhost`` is no sender's
    domain); a DKIM selector may be one label.
    """
    value = text.strip().rpartition("@")[2].lower().rstrip(".")
    try:
        ascii_value = value.encode("idna").decode("ascii") if value else ""
    except UnicodeError:
        ascii_value = ""
    single = dotted and "." not in ascii_value
    if not ascii_value or len(ascii_value) > 253 or not _NAME.fullmatch(ascii_value) or single:
        raise BadInputError(f"{what}: {text!r} is not a domain name.", "For example example.com.")
    return ascii_value


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


def _without_dns(
    report: DomainReport, servers: Sequence[ServerSettings], unsubscribe: Unsubscribe | None
) -> DomainReport:
    reason = report.checks[0].detail
    titles = (
        ("spf", "SPF record"),
        ("dkim", "DKIM key"),
        ("dmarc", "DMARC record"),
        ("alignment", "SPF or DKIM aligned with From"),
    )
    for key, title in titles:
        report.checks.append(Check(key, title, "unknown", reason, "Sending is not blocked."))
    report.checks.append(_unsubscribe(unsubscribe))
    report.checks.append(_free_mail(report.domain, servers))
    report.checks.append(
        Check("reverse_dns", "Forward and reverse DNS of your own relays", "unknown", reason)
    )
    report.checks.append(_tls(servers))
    return report


def _return_path_domain(servers: Sequence[ServerSettings]) -> str:
    for server in servers:
        for name, value in server.email_headers:
            if name.lower() == "return-path" and "@" in value:
                return value.strip("<> ").rpartition("@")[2]
    return ""


def _unknown(key: str, title: str, exc: DnsUnavailableError) -> Check:
    return Check(key, title, "unknown", exc.message, "Sending is not blocked; check again later.")


def _mx(client: DnsClient, report: DomainReport) -> Check:
    title = "MX record"
    try:
        report.mx = list(client.query(report.domain, "MX").records)
    except DnsUnavailableError as exc:
        return _unknown("mx", title, exc)
    if report.mx:
        hosts = ", ".join(r.split(" ", 1)[-1] for r in report.mx)
        return Check("mx", title, "pass", f"{report.domain} receives mail at {hosts}.")
    return Check(
        "mx",
        title,
        "warn",
        f"{report.domain} has no MX record, so replies and bounces cannot reach it and some "
        "receivers refuse its mail.",
        "Publish an MX record for the domain (your mail host tells you which).",
    )


def _spf_line(spf: SpfResult, servers: Sequence[ServerSettings]) -> Check:
    title = "SPF record"
    if spf.unknown:
        return Check("spf", title, "unknown", spf.unknown, "Sending is not blocked.")
    if spf.problem:
        return Check(
            "spf",
            title,
            "fail",
            f"{spf.domain}: {spf.problem}; receivers cannot tell which servers may send for it.",
            'Publish one TXT record such as "v=spf1 include:<your provider\'s SPF> ~all".',
        )
    verdicts = "; ".join(f"{s.server}: {s.detail}" for s in spf.servers)
    worst = _worst([s.verdict for s in spf.servers] or ["pass"])
    detail = f'"{spf.record}"' + (f"; {verdicts}." if verdicts else ".")
    todo = ""
    if worst in ("fail", "warn"):
        todo = "Add the server's addresses (ip4:/ip6:) or its provider's include: to the record."
    return Check("spf", title, worst, detail, todo)


def _worst(states: Sequence[str]) -> Status:
    order: tuple[Status, ...] = ("fail", "warn", "unknown")
    for state in order:
        if state in states:
            return state
    return "pass"


def _signing_servers(servers: Sequence[ServerSettings]) -> list[ServerSettings]:
    return [s for s in servers if s.dkim_enabled and s.dkim_domain and s.dkim_selector]


def _dkim(
    client: DnsClient, report: DomainReport, servers: Sequence[ServerSettings], selector: str
) -> Check:
    title = "DKIM key"
    own = _signing_servers(servers)
    wanted = [selector] if selector else []
    wanted += [s.dkim_selector for s in own if s.dkim_domain == report.domain]
    wanted += provider_selectors([s.host for s in servers])
    report.selectors_tried = list(dict.fromkeys(w.lower() for w in wanted if w))
    try:
        report.dkim = records.find_dkim_keys(client, report.domain, report.selectors_tried)
        for server in own:
            if server.dkim_domain != report.domain:
                report.dkim += records.find_dkim_keys(
                    client, server.dkim_domain, [server.dkim_selector]
                )
    except DnsUnavailableError as exc:
        return _unknown("dkim", title, exc)
    missing = [s for s in own if not _published(report.dkim, s)]
    if missing:
        names = ", ".join(f"{s.dkim_selector}._domainkey.{s.dkim_domain}" for s in missing)
        return Check(
            "dkim",
            title,
            "fail",
            f"the app signs with {names}, but no usable key is published there.",
            "Publish the TXT record shown by 'smtpdesk servers dkim NAME' (or the server form).",
        )
    usable = [k for k in report.dkim if not k.problem]
    broken = [k for k in report.dkim if k.problem]
    if usable:
        keys = "; ".join(k.describe() for k in usable)
        return Check("dkim", title, "pass", f"found {keys}.")
    if broken:
        return Check(
            "dkim",
            title,
            "fail",
            "; ".join(k.describe() for k in broken) + ".",
            "Publish the key again exactly as your provider (or this app) gives it.",
        )
    tried = ", ".join(report.selectors_tried[:6])
    return Check(
        "dkim",
        title,
        "warn",
        f"no key found for {report.domain} under the usual selectors ({tried}…).",
        "Turn on DKIM at your provider, or sign here (smtpdesk servers dkim); if it uses "
        "another selector, give it with --selector.",
    )


def _published(keys: list[DkimKey], server: ServerSettings) -> bool:
    return any(
        k.selector == server.dkim_selector and k.domain == server.dkim_domain and not k.problem
        for k in keys
    )


def _dmarc(client: DnsClient, report: DomainReport) -> Check:
    title = "DMARC record"
    try:
        report.dmarc = records.find_dmarc(client, report.domain)
    except DnsUnavailableError as exc:
        return _unknown("dmarc", title, exc)
    dmarc = report.dmarc
    if dmarc.problem:
        where = f"_dmarc.{dmarc.domain}"
        return Check(
            "dmarc",
            title,
            "fail",
            f"{where}: {dmarc.problem}. Gmail and Yahoo require one from bulk senders.",
            f'Publish a TXT record at _dmarc.{report.org_domain}: "v=DMARC1; p=none; '
            f'rua=mailto:dmarc@{report.org_domain}" to start.',
        )
    inherited = "" if dmarc.domain == report.domain else f" (inherited from {dmarc.domain})"
    detail = f"p={dmarc.policy}{inherited}: {_policy_words(dmarc)}"
    return Check("dmarc", title, "pass", detail)


def _policy_words(dmarc: Dmarc) -> str:
    words = {
        "none": "receivers only report mail that fails; enough for Gmail's and Yahoo's rules.",
        "quarantine": "receivers put mail that fails in spam.",
        "reject": "receivers refuse mail that fails.",
    }[dmarc.policy]
    return words if dmarc.pct == 100 else f"{words[:-1]}, for {dmarc.pct}% of it."


def _alignment(report: DomainReport, servers: Sequence[ServerSettings], envelope: str) -> Check:
    title = "SPF or DKIM aligned with From"
    dmarc = report.dmarc
    adkim = dmarc.adkim if dmarc and dmarc.found else "r"
    aspf = dmarc.aspf if dmarc and dmarc.found else "r"
    dkim_words, dkim_ok = _dkim_alignment(report, servers, adkim)
    spf_words, spf_ok = _spf_alignment(report, envelope, aspf)
    detail = f"DKIM: {dkim_words} SPF: {spf_words}"
    checks = {c.key: c.status for c in report.checks}
    if dkim_ok or spf_ok:
        return Check("alignment", title, "pass", detail)
    if "unknown" in (checks.get("spf"), checks.get("dkim")):
        return Check("alignment", title, "unknown", detail, "Sending is not blocked.")
    return Check(
        "alignment",
        title,
        "fail",
        detail,
        "DMARC passes only when one of them aligns: sign with DKIM for the From domain, "
        "or send with an envelope sender of that domain whose SPF passes.",
    )


def _mode(mode: str) -> str:
    return "strict: the same name" if mode == "s" else "relaxed: the same organisational domain"


def _dkim_alignment(
    report: DomainReport, servers: Sequence[ServerSettings], mode: str
) -> tuple[str, bool]:
    signing = {s.dkim_domain for s in _signing_servers(servers)}
    signing |= {k.domain for k in report.dkim if not k.problem}
    good = sorted(d for d in signing if aligned(d, report.domain, mode))
    if good:
        return (
            f"signatures by {', '.join(good)} align with From {report.domain} ({_mode(mode)}).",
            True,
        )
    if signing:
        names = ", ".join(sorted(signing))
        return (
            f"signatures by {names} do not align with From {report.domain} ({_mode(mode)}).",
            False,
        )
    return f"no published key for {report.domain}, so no aligned signature.", False


def _spf_alignment(report: DomainReport, envelope: str, mode: str) -> tuple[str, bool]:
    spf = report.envelope_spf or report.spf
    ok = spf is not None and spf.valid and all(s.verdict == "pass" for s in spf.servers)
    same = aligned(envelope, report.domain, mode)
    if not same:
        return (
            f"the envelope sender's domain {envelope} does not align with From ({_mode(mode)}).",
            False,
        )
    if not ok:
        return (
            f"the envelope sender's domain {envelope} aligns, "
            "but its SPF does not pass for every server.",
            False,
        )
    return f"the envelope sender's domain {envelope} aligns and passes.", True


def _unsubscribe(unsubscribe: Unsubscribe | None) -> Check:
    title = "One-click unsubscribe"
    if unsubscribe is None:
        return Check(
            "unsubscribe", title, "skip", "a campaign's headers are checked on its Review page."
        )
    if unsubscribe.url.lower().startswith("https://"):
        return Check(
            "unsubscribe",
            title,
            "pass",
            "List-Unsubscribe with an HTTPS link and List-Unsubscribe-Post (RFC 8058).",
        )
    if unsubscribe.mailto or unsubscribe.url:
        return Check(
            "unsubscribe",
            title,
            "warn",
            "only a mailto (or a non-HTTPS link) in List-Unsubscribe; "
            "Gmail asks bulk senders for one-click (RFC 8058).",
            "Add an HTTPS unsubscribe link in the campaign's settings.",
        )
    return Check(
        "unsubscribe",
        title,
        "fail",
        "no List-Unsubscribe header: Gmail and Yahoo junk or refuse bulk mail without one.",
        "Give an unsubscribe link (HTTPS) or address in the campaign's settings.",
    )


def _free_mail(domain: str, servers: Sequence[ServerSettings]) -> Check:
    title = "From is not a free-mail domain"
    if domain not in FREE_MAIL:
        return Check("free_mail", title, "pass", f"{domain} is your own domain.")
    others = [s.label for s in servers if domain not in _mailbox_domains(s.host)]
    if others:
        return Check(
            "free_mail",
            title,
            "fail",
            f"{domain} publishes DMARC that fails mail sent through other servers "
            f"({', '.join(others)}).",
            "Send from an address at your own domain.",
        )
    return Check(
        "free_mail",
        title,
        "warn",
        f"{domain} is a free-mail domain: its own servers send it, "
        "but with daily limits not meant for campaigns.",
        "Use an address at your own domain for bulk mail.",
    )


def _mailbox_domains(host: str) -> tuple[str, ...]:
    provider = provider_for(host)
    return provider.mailbox_domains if provider else ()


def _reverse_dns(client: DnsClient, servers: Sequence[ServerSettings]) -> Check:
    title = "Forward and reverse DNS of your own relays"
    own = [s for s in servers if provider_for(s.host) is None]
    if not own:
        return Check("reverse_dns", title, "skip", "every server is a known provider's.")
    problems, good = [], []
    try:
        for server in own:
            for address in client.addresses(server.host) or []:
                names = client.ptr(address)
                back = [n for n in names if address in client.addresses(n)]
                if back:
                    good.append(f"{address} ↔ {back[0]}")
                elif (
                    ipaddress.ip_address(address).is_private
                    or ipaddress.ip_address(address).is_loopback
                ):
                    good.append(
                        f"{server.label}: {address} is private "
                        "(the relay's public address is the one that counts)"
                    )
                elif names:
                    problems.append(f"{address} names {names[0]}, which does not point back to it")
                else:
                    problems.append(f"{address} ({server.label}) has no reverse (PTR) name")
    except DnsUnavailableError as exc:
        return _unknown("reverse_dns", title, exc)
    if problems:
        return Check(
            "reverse_dns",
            title,
            "fail",
            "; ".join(problems) + ".",
            "Ask the relay's hosting provider for a PTR record naming a host "
            "that resolves back to the address.",
        )
    return Check(
        "reverse_dns", title, "pass", "; ".join(good) + "." if good else "nothing to check."
    )


def _tls(servers: Sequence[ServerSettings]) -> Check:
    title = "TLS on the connection"
    if not servers:
        return Check("tls", title, "skip", "no server given.")
    plain = [s.label for s in servers if s.tls_type == TlsType.NONE]
    if plain:
        return Check(
            "tls",
            title,
            "fail",
            f"{', '.join(plain)} sends without TLS; Gmail requires TLS from bulk senders.",
            "Use STARTTLS (587) or TLS (465).",
        )
    return Check("tls", title, "pass", "every server uses STARTTLS or TLS.")
