"""Real DSNs: a private Postfix bounces unknown users into the Dovecot Maildir (issue 12)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState
from smtpdesk.core.campaign.suppressions import SuppressionList
from smtpdesk.core.feedback import scan as scanning
from smtpdesk.core.store import Store
from tests.helpers.dovecot import Dovecot, save_mailbox
from tests.helpers.postfix_bounces import ALIVE, SENDER, bouncing_postfix
from tests.helpers.smtpd import plain_settings
from tests.integration.campaign.helpers import by_email, make_campaign

CONTENT = CampaignContent(subject="Hello {{ name }}", from_address=SENDER, text="Hi {{ name }}")
GHOSTS = ["ghost1@example.org", "ghost2@example.org"]


def _wait_for_mail(dovecot: Dovecot, user: str, count: int, log: object) -> None:
    deadline = time.monotonic() + 20
    while len(dovecot.messages(user)) < count:
        assert time.monotonic() < deadline, f"no DSN arrived; Postfix's log:\n{log}"
        time.sleep(0.05)


def test_postfix_dsns_for_unknown_users_are_scanned_as_hard_bounces(
    store: Store, dovecot: Dovecot, trust_test_ca: Path
) -> None:
    user = dovecot.add_user()
    save_mailbox(store, dovecot, user, unsubscribe_address="bounces@example.com")
    with bouncing_postfix(dovecot, user) as postfix:
        store.put_server(plain_settings(postfix.ports["smtp"]))
        campaign = make_campaign(store, [ALIVE, *GHOSTS], CONTENT)
        assert asyncio.run(CampaignRunner(store, campaign).run()) == CampaignState.FINISHED
        _wait_for_mail(dovecot, user, len(GHOSTS), postfix.log_text())
        dsn = dovecot.messages(user)[0].read_bytes()

    assert b"Undelivered Mail Returned to Sender" in dsn  # Postfix's own words, not ours
    assert b"report-type=delivery-status" in dsn
    result = asyncio.run(scanning.scan(store))
    assert result.ok, result.diagnosis
    assert (result.counts.hard, result.counts.unmatched) == (2, 0)
    rows = by_email(store, campaign)
    assert rows[ALIVE].state == "sent" and rows[ALIVE].feedback == ""
    for ghost in GHOSTS:
        assert (rows[ghost].feedback, rows[ghost].feedback_kind) == ("bounced", "hard")
        assert rows[ghost].feedback_status.startswith("5.1.1")
    assert sorted(s.email for s in SuppressionList(store).suppressed()) == GHOSTS
