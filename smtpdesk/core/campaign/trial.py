"""A test send: one recipient's message, as the campaign would send it, to addresses of yours.

The wizard's Test send page and any script use :func:`send_test`; each address gets
its own copy (its own ``To``), and each has its own outcome, so one refused address
does not hide that the others were accepted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from smtpdesk.core.campaign.content import CampaignContent, Renderer
from smtpdesk.core.campaign.recipients import check_address
from smtpdesk.core.campaign.review import blank_fields, template_fields
from smtpdesk.core.errors import KnownError
from smtpdesk.core.messengers import resolve_messenger
from smtpdesk.core.smtp.types import Diagnosis, SendError, SendResult
from smtpdesk.core.store import Store

MAX_ADDRESSES = 10
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class TrialOutcome:
    """One address's result: ``result`` when accepted, else ``error``."""

    address: str
    result: SendResult | None = None
    error: Diagnosis | None = None

    @property
    def ok(self) -> bool:
        return self.result is not None


def parse_addresses(text: str) -> list[str]:
    """The addresses in ``text`` (separated by commas, semicolons or spaces), checked.

    Raises a KnownError naming each address that is not valid.
    """
    found = [a for a in _SEPARATORS.split(text.strip()) if a]
    if not found:
        raise KnownError("Enter an address to send the test to.", "e.g. you@example.com")
    if len(found) > MAX_ADDRESSES:
        raise KnownError(f"A test goes to at most {MAX_ADDRESSES} addresses.")
    bad = []
    for address in found:
        try:
            check_address(address)
        except ValueError as exc:
            bad.append(f"{address} ({exc})")
    if bad:
        raise KnownError(f"Not a valid address: {'; '.join(bad)}.", "Correct it and send again.")
    return list(dict.fromkeys(found))


async def send_test(
    store: Store,
    content: CampaignContent,
    recipient: tuple[str, Mapping[str, Any]],
    columns: Iterable[str],
    messenger: str,
    addresses: Iterable[str],
) -> list[TrialOutcome]:
    """Render ``recipient``'s (email, fields) message and send a copy to each address.

    Raises a KnownError when nothing can be sent (the content, the messenger).
    """
    from smtpdesk.core.smtp.messenger import MessengerSender

    email, cells = recipient
    renderer = await asyncio.to_thread(Renderer, content)  # reads the attachments
    fields = template_fields(email, cells, blank_fields(columns))
    servers = await asyncio.to_thread(store.servers)
    chosen = resolve_messenger(servers, messenger)
    sender = await asyncio.to_thread(MessengerSender, chosen)  # reads the keyring
    outcomes = []
    try:
        for address in addresses:
            message = renderer.render(fields)
            del message["To"]
            message["To"] = address
            try:
                result = await sender.send(message, recipients=[address])
            except SendError as exc:
                outcomes.append(TrialOutcome(address, error=exc.diagnosis))
            else:
                outcomes.append(TrialOutcome(address, result=result))
    finally:
        await sender.close()
    return outcomes
