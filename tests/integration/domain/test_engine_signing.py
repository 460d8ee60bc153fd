"""A campaign sent through a server that signs: every message verifies; a missing key pauses."""

from __future__ import annotations

import pytest

from smtpdesk.core import secrets
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.domain.resolver import DnsClient
from smtpdesk.core.domain.signing import generate_key, key_to_pem, public_record
from smtpdesk.core.errors import KnownError
from smtpdesk.core.settings import DkimAlgorithm
from smtpdesk.core.store import Store
from tests.helpers.dns import DnsServer
from tests.helpers.smtpd import SmtpdFactory
from tests.integration.campaign.helpers import add_server, addresses, make_campaign

from .conftest import txt, verify


async def test_every_campaign_message_verifies(
    store: Store, smtpd_factory: SmtpdFactory, dns: DnsServer, client: DnsClient
) -> None:
    smtpd = await smtpd_factory("plain")
    settings = add_server(
        store,
        smtpd,
        dkim_enabled=True,
        dkim_domain="sign.test",
        dkim_selector="campaign",
        dkim_algorithm=DkimAlgorithm.ED25519,
    )
    key = generate_key("dkim-ed25519")
    secrets.set_dkim_key(settings.uuid, "dkim-ed25519", key_to_pem(key))
    dns.add(txt("campaign._domainkey.sign.test", public_record(key)))
    campaign = make_campaign(store, addresses(20))

    assert await CampaignRunner(store, campaign).run() == CampaignState.FINISHED

    assert len(smtpd.messages) == 20
    for message in smtpd.messages:
        assert verify(client, message.content)


async def test_a_missing_key_pauses_with_what_to_do(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    smtpd = await smtpd_factory("plain")
    add_server(store, smtpd, dkim_enabled=True, dkim_domain="sign.test", dkim_selector="gone")
    campaign = make_campaign(store, addresses(3))
    with pytest.raises(KnownError, match="not in the keyring"):
        await CampaignRunner(store, campaign).run()
    row = Ledger(store).campaign(campaign)
    assert row.state == CampaignState.PAUSED
    assert "DKIM signing is on" in row.pause_reason and "unexpected" not in row.pause_reason
    assert smtpd.messages == []
