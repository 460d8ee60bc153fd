"""No SQLite or keyring call on the thread running the engine's event loop (issue 9).

The engine's loop also serves the progress events and (in the app) Pause; a database
or keyring call there stalls every connection. Reads and writes go to a thread.
"""

from __future__ import annotations

import asyncio

from smtpdesk.core import secrets
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger
from smtpdesk.core.domain.signing import generate_key, key_to_pem
from smtpdesk.core.settings import DkimAlgorithm
from smtpdesk.core.store import Store
from tests.helpers.blocking_calls import BlockingCallWatch, frames, trail
from tests.helpers.smtpd import PASSWORD, SmtpdFactory
from tests.integration.campaign.helpers import add_server, addresses, make_campaign, received


def on_loop(loop: asyncio.AbstractEventLoop) -> str | None:
    """Where the call comes from, if the calling thread is running ``loop``."""
    if asyncio._get_running_loop() is not loop:
        return None
    ours = [f for f in frames() if "/smtpdesk/" in f.f_code.co_filename]
    return trail(ours)


async def test_a_run_makes_no_database_or_keyring_call_on_its_loop(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", auth=("PLAIN",), auth_require_tls=False)
    settings = add_server(
        store,
        server,
        dkim_enabled=True,
        dkim_domain="example.com",
        dkim_selector="s1",
        dkim_algorithm=DkimAlgorithm.ED25519,
    )
    secrets.set_password(settings.uuid, PASSWORD)
    secrets.set_dkim_key(settings.uuid, "dkim-ed25519", key_to_pem(generate_key("dkim-ed25519")))
    emails = addresses(40)
    campaign = make_campaign(store, emails, concurrency=3)
    runner = CampaignRunner(store, campaign)
    loop = asyncio.get_running_loop()
    watch = BlockingCallWatch(lambda: on_loop(loop))
    watch.start()
    try:
        state = await runner.run()
    finally:
        watch.stop()

    assert state == CampaignState.FINISHED
    assert sorted(received(server)) == sorted(emails)
    assert b"DKIM-Signature:" in server.messages[0].content  # the key was read, and used
    assert Ledger(store).counts(campaign) == Counts(sent=40)
    assert not watch.violations, "blocking calls on the engine's loop:\n" + watch.report()
