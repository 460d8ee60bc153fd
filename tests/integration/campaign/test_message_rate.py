"""The campaign's message rate end to end: never above it in any 1 s, at the server or in
the ledger, with 8 workers sending at once (the limiter alone: tests/unit/core/campaign)."""

from __future__ import annotations

from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState
from smtpdesk.core.store import Store
from tests.helpers.smtpd import SmtpdFactory
from tests.integration.campaign.helpers import add_server, addresses, by_email, make_campaign


def most_in_a_second(times: list[float]) -> int:
    times = sorted(times)
    most = first = 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


async def test_never_above_the_rate_in_any_second(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain")
    add_server(store, server, max_conns=8)
    rate, count = 100.0, 260
    campaign = make_campaign(store, addresses(count), message_rate=rate, concurrency=8)
    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED
    sent_at = [r.sent_at or 0.0 for r in by_email(store, campaign).values()]
    arrived = [message.at for message in server.messages]
    assert len(arrived) == count
    achieved = (count - 1) / (max(sent_at) - min(sent_at))
    figures = (most_in_a_second(sent_at), most_in_a_second(arrived), achieved)
    assert figures[0] <= rate, figures  # a token bucket alone: 101
    assert figures[1] <= rate, figures
    assert rate * 0.95 <= achieved <= rate, figures  # 1% under by design; a loaded CI loses some
