"""The checklist of a campaign about to be sent: its From domain, its messenger's servers."""

from __future__ import annotations

import contextlib

from smtpdesk.core.domain.check import DomainReport, Unsubscribe, check_domain, normalise_domain
from smtpdesk.core.domain.resolver import client_for
from smtpdesk.core.errors import KnownError
from smtpdesk.core.messengers import resolve_messenger
from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.store import Store


def check_sending_domain(
    store: Store,
    from_address: str,
    messenger: str,
    *,
    unsubscribe_mailto: str = "",
    unsubscribe_url: str = "",
) -> DomainReport:
    """Blocking (SQLite, DNS): run it on a worker thread. Never a reason to block Send."""
    domain = normalise_domain(from_address, "From")
    servers: tuple[ServerSettings, ...] = ()
    with contextlib.suppress(KnownError):  # no server to send with: the review says so itself
        servers = resolve_messenger(store.servers(), messenger).servers
    client = client_for(store.app_settings().dns_server)
    return check_domain(
        client,
        domain,
        servers=servers,
        unsubscribe=Unsubscribe(unsubscribe_mailto, unsubscribe_url),
    )
