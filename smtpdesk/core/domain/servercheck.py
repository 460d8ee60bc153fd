"""The server Test's domain steps: the checklist for its domain, and its own DKIM signature.

Both are advice, never a failed Test: a server that connects, logs in and sends works,
even when its domain would land in spam. DNS that does not answer is "could not check".
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import dkim

from smtpdesk.core import secrets
from smtpdesk.core.domain.check import DomainReport, check_domain
from smtpdesk.core.domain.readback import ReceiverVerdict, read_back
from smtpdesk.core.domain.resolver import DnsClient, DnsUnavailableError, client_for
from smtpdesk.core.domain.signing import signer_for
from smtpdesk.core.errors import KnownError
from smtpdesk.core.feedback.mailbox import Credentials
from smtpdesk.core.settings import MailboxSettings, ServerSettings
from smtpdesk.core.smtp.types import SendError

TIME_LIMIT = 30.0  # seconds for the whole checklist (each DNS question has its own 3 s)


def server_domain(settings: ServerSettings, to: str | None = None) -> str:
    """The domain the server sends for: its DKIM domain, the username's, else the test's From."""
    if settings.dkim_domain:
        return settings.dkim_domain
    for address in (settings.username, to or ""):
        if "@" in address:
            return address.rpartition("@")[2].lower()
    return ""


async def check_server_domain(
    settings: ServerSettings, to: str | None = None, client: DnsClient | None = None
) -> DomainReport | None:
    """The checklist for the server's domain (None when it has none to check)."""
    domain = server_domain(settings, to)
    if not domain:
        return None
    selector = settings.dkim_selector if settings.dkim_domain == domain else ""
    dns = client if client is not None else await asyncio.to_thread(client_for)
    return await asyncio.wait_for(
        asyncio.to_thread(check_domain, dns, domain, servers=[settings], selector=selector),
        TIME_LIMIT,
    )


def summary(report: DomainReport) -> tuple[str, list[str]]:
    """One line for the step, and a warning for each line that warns or fails."""
    counts = {s: sum(c.status == s for c in report.checks) for s in ("pass", "warn", "fail")}
    unknown = sum(c.status == "unknown" for c in report.checks)
    detail = f"{report.domain}: {counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail"
    if unknown:
        detail += f", {unknown} could not be checked"
    warnings = [
        f"Domain {report.domain}: {c.title}: {c.detail} {c.todo}".rstrip()
        for c in report.checks
        if c.status in ("warn", "fail")
    ]
    return detail, warnings


async def sign_for_test(
    settings: ServerSettings, message: EmailMessage, client: DnsClient | None = None
) -> tuple[bytes, str, bool] | None:
    """The test email signed as campaigns are, and whether dkimpy verifies it against DNS.

    None when the server does not sign. Returns (signed bytes, what was found, verified).
    """
    if not settings.dkim_enabled:
        return None
    signer = await asyncio.to_thread(signer_for, settings, secrets.get_dkim_key)
    assert signer is not None
    data = signer.sign_email(message)
    dns = client if client is not None else await asyncio.to_thread(client_for)
    return (data, *await asyncio.to_thread(_verify, dns, data, len(signer.keys)))


def _verify(client: DnsClient, data: bytes, count: int) -> tuple[str, bool]:
    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        found = client.txt(name.decode("ascii").rstrip("."))
        return found[0].encode("utf-8") if found else None

    words, verified = [], True
    for index in range(count):
        reason = ""
        try:
            ok = bool(dkim.DKIM(data).verify(idx=index, dnsfunc=lookup))
        except DnsUnavailableError as exc:
            return f"could not check the signature: {exc.message}", True
        except dkim.DKIMException as exc:
            ok, reason = False, f" ({exc})"
        verified = verified and ok
        words.append("verifies" if ok else f"does not verify{reason}")
    return "DKIM signature " + "; ".join(words) + " against DNS", verified


async def read_back_step(
    settings: ServerSettings,
    password: str | None,
    mailbox: tuple[MailboxSettings, Credentials],
    wait: float = 120.0,
) -> tuple[str, ReceiverVerdict | None]:
    """The Test's "Receiver" step: what the receiver judged, in words, and its verdict."""
    try:
        found = await read_back(settings, password, *mailbox, wait=wait)
    except (KnownError, SendError) as exc:
        return f"could not read back: {exc}", None
    if found.verdict is None:
        return (
            f"the message reached {found.address} in {found.seconds:.0f} s without an "
            "Authentication-Results header (the mailbox's server does not write one)",
            None,
        )
    return f"{found.verdict.describe()} ({found.seconds:.0f} s)", found.verdict
