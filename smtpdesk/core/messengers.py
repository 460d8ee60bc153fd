"""Which messengers a campaign can pick, and the servers behind each (listmonk's model)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from smtpdesk.core.errors import KnownError
from smtpdesk.core.settings import POOL_NAME, ServerSettings


@dataclass(frozen=True)
class Messenger:
    name: str
    servers: tuple[ServerSettings, ...]

    @property
    def is_pool(self) -> bool:
        return self.name == POOL_NAME


def list_messengers(servers: Iterable[ServerSettings]) -> list[Messenger]:
    """``email`` (the unnamed enabled servers, if any), then each named enabled server."""
    enabled = [s for s in servers if s.enabled]
    pool = tuple(s for s in enabled if not s.name)
    found = [Messenger(POOL_NAME, pool)] if pool else []
    found.extend(Messenger(s.name, (s,)) for s in enabled if s.name)
    return found


def resolve_messenger(servers: Iterable[ServerSettings], name: str = POOL_NAME) -> Messenger:
    """The messenger called ``name``, or a KnownError saying why it cannot send."""
    servers = list(servers)
    if not any(s.enabled for s in servers):
        raise KnownError(
            "There is no enabled SMTP server to send with.",
            "Add a server, or enable one, in Settings → SMTP or with 'smtpdesk servers add'.",
        )
    for messenger in list_messengers(servers):
        if messenger.name == name:
            return messenger
    available = ", ".join(m.name for m in list_messengers(servers))
    raise KnownError(f"There is no messenger called {name!r}.", f"Available: {available}.")
