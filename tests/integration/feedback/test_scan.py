"""A campaign, its feedback in a real Dovecot, Scan: bounced, suppressed, shown (issue 12).

The campaign goes through a real SMTP server (aiosmtpd); the bounces, complaint, vacation
notice and unsubscribe requests are written for the tests in the formats Gmail, Microsoft
365, Postfix, Exim and Yahoo use, around the very messages that server received, and put
in the Maildir of a real Dovecot, read over IMAP (TLS) and POP3 (STARTTLS).
"""

from __future__ import annotations

import asyncio
import json
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from smtpdesk.cli import main
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import CampaignState
from smtpdesk.core.campaign.suppressions import SuppressionList
from smtpdesk.core.feedback import scan as scanning
from smtpdesk.core.feedback import tokens
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.settings import MailboxSettings
from smtpdesk.core.store import Store
from tests.helpers import feedback_samples as samples
from tests.helpers.dovecot import Dovecot, save_mailbox
from tests.helpers.smtpd import SmtpdServer
from tests.integration.campaign.helpers import add_server, by_email, make_campaign

BOUNCES = "bounces@example.com"
CONTENT = CampaignContent(
    subject="Hello {{ name }}",
    from_address="news@example.com",
    html="<p>Hi {{ name }}</p><p><a href='{{ unsubscribe_mailto }}'>unsubscribe</a></p>",
)
PEOPLE = {
    "alive@example.org": None,
    "dead-gmail@example.org": samples.gmail_hard,
    "dead-postfix@example.org": samples.postfix_hard,
    "dead-exim@example.org": samples.exim_hard,
    "slow@example.org": samples.microsoft_delayed,
    "angry@example.org": samples.arf_complaint,
    "away@example.org": samples.vacation,
    "leaver@example.org": None,
}


def _mailbox(store: Store, dovecot: Dovecot, user: str, **values: Any) -> MailboxSettings:
    defaults = {"unsubscribe_address": BOUNCES, "scan_interval": "15m"}
    return save_mailbox(store, dovecot, user, **(defaults | values))


def _sent(server: SmtpdServer) -> dict[str, bytes]:
    return {m.rcpt_tos[0]: m.content for m in server.messages}


def _send(store: Store, server: SmtpdServer, emails: list[str]) -> int:
    for old in store.servers():  # only this server: its messages are the ones to read
        store.delete_server(old.uuid)
    add_server(store, server)
    campaign = make_campaign(store, emails, CONTENT)
    assert asyncio.run(CampaignRunner(store, campaign).run()) == CampaignState.FINISHED
    return campaign


def _token_of(message: bytes) -> str:
    header = str(message_from_bytes(message)["List-Unsubscribe"])
    (token,) = tokens.find_tokens(header)
    return token


@pytest.fixture
def sent(
    store: Store, threaded_smtpd: Any, dovecot: Dovecot, trust_test_ca: Path
) -> tuple[int, dict[str, bytes], str]:
    user = dovecot.add_user()
    _mailbox(store, dovecot, user)
    server = threaded_smtpd("plain")
    campaign = _send(store, server, list(PEOPLE))
    return campaign, _sent(server), user


def test_each_message_carries_its_signed_unsubscribe_and_is_recorded(
    store: Store, sent: tuple[int, dict[str, bytes], str]
) -> None:
    campaign, messages, _ = sent
    rows = by_email(store, campaign)
    key = tokens.signing_key(create=False)
    assert key is not None
    for email, content in messages.items():
        message = message_from_bytes(content)
        token = _token_of(content)
        target = tokens.verify(key, token)
        assert target == tokens.TokenTarget(campaign, rows[email].id)
        assert " ".join(message["List-Unsubscribe"].split()) == (
            f"<mailto:{BOUNCES}?subject=unsubscribe-{token}>"
        )
        assert message["List-Unsubscribe-Post"] is None  # no https URL: no one-click
        assert rows[email].token == token
        assert rows[email].message_id == message["Message-ID"].lower()
        assert f"mailto:{BOUNCES}?subject=unsubscribe-{token}".encode() in content.replace(
            b"=\r\n", b""
        )  # {{ unsubscribe_mailto }} in the body


def _deliver_feedback(dovecot: Dovecot, user: str, messages: dict[str, bytes]) -> str:
    for email, make in PEOPLE.items():
        if make is not None:
            dovecot.deliver(user, make(messages[email], email))
    leaver = _token_of(messages["leaver@example.org"])
    dovecot.deliver(
        user,
        samples.unsubscribe_request("leaver@example.org", BOUNCES, f"unsubscribe-{leaver}"),
    )
    alive = _token_of(messages["alive@example.org"])
    forged = f"{alive.rsplit('-', 1)[0]}-{'a' * 16}"  # alive's ids, a made-up signature
    dovecot.deliver(
        user, samples.unsubscribe_request("mallory@example.org", BOUNCES, f"unsubscribe-{forged}")
    )
    dovecot.deliver(user, samples.unrelated())
    return leaver


def test_scan_marks_suppresses_moves_and_never_counts_twice(
    store: Store, dovecot: Dovecot, sent: tuple[int, dict[str, bytes], str]
) -> None:
    campaign, messages, user = sent
    _deliver_feedback(dovecot, user, messages)
    progress: list[int] = []

    result = asyncio.run(scanning.scan(store, on_progress=lambda p: progress.append(p.read)))

    assert result.ok, result.diagnosis
    counts = result.counts
    assert (counts.hard, counts.soft, counts.complaints, counts.unsubscribes) == (3, 1, 1, 1)
    assert (counts.ignored, counts.refused, counts.unmatched) == (2, 1, 0)  # vacation, other
    assert result.read == 9 and progress == list(range(1, 10))
    rows = by_email(store, campaign)
    assert {e: (r.feedback, r.feedback_kind) for e, r in rows.items() if r.feedback} == {
        "dead-gmail@example.org": ("bounced", "hard"),
        "dead-postfix@example.org": ("bounced", "hard"),
        "dead-exim@example.org": ("bounced", "hard"),
        "slow@example.org": ("bounced", "soft"),
        "angry@example.org": ("complained", ""),
        "leaver@example.org": ("unsubscribed", ""),
    }
    assert rows["dead-postfix@example.org"].feedback_status.startswith("5.1.1 (550 5.1.1")
    assert rows["dead-postfix@example.org"].feedback_at is not None
    suppressed = {s.email: s.reason for s in SuppressionList(store).suppressed()}
    assert suppressed == {
        "dead-gmail@example.org": "bounced",
        "dead-postfix@example.org": "bounced",
        "dead-exim@example.org": "bounced",
        "angry@example.org": "complained",
        "leaver@example.org": "unsubscribed",
    }  # one soft bounce is not enough; the forged request unsubscribed nobody
    assert all(s.source.startswith("mid:<feedback.") for s in SuppressionList(store).suppressed())
    assert FeedbackBook(store).campaign_counts(campaign) == {
        "bounced": 4,
        "complained": 1,
        "unsubscribed": 1,
    }
    # processed mail moved to smtpdesk-processed (created); the unrelated one left alone
    assert len(dovecot.messages(user)) == 1
    assert len(dovecot.messages(user, "smtpdesk-processed")) == 8

    again = asyncio.run(scanning.scan(store))
    assert again.read == 0 and again.counts.to_dict() == scanning.ScanCounts().to_dict()

    # the same DSN delivered again (a crash before the move, a copy): counted once
    dovecot.deliver(user, dovecot.messages(user, "smtpdesk-processed")[0].read_bytes())
    third = asyncio.run(scanning.scan(store))
    assert third.read == 1 and third.counts.already == 1
    assert third.counts.hard + third.counts.soft + third.counts.complaints == 0
    assert FeedbackBook(store).campaign_counts(campaign)["bounced"] == 4


def test_the_next_campaign_skips_the_suppressed_and_the_cli_shows_them(
    store: Store,
    dovecot: Dovecot,
    threaded_smtpd: Any,
    sent: tuple[int, dict[str, bytes], str],
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    campaign, messages, user = sent
    _deliver_feedback(dovecot, user, messages)
    assert main(["mailbox", "scan", "--json"]) == 0
    scanned = json.loads(capsys.readouterr().out)
    assert {k: scanned[k] for k in ("hard", "soft", "complaints", "unsubscribes")} == {
        "hard": 3,
        "soft": 1,
        "complaints": 1,
        "unsubscribes": 1,
    }
    assert (scanned["ignored"], scanned["unmatched"]) == (2, 0)

    assert main(["campaign", "status", str(campaign), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["bounced"], status["complained"], status["unsubscribed"]) == (4, 1, 1)

    assert main(["campaign", "suppress", "--list", "--json"]) == 0
    listed = {s["email"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed["leaver@example.org"]["reason"] == "unsubscribed"
    assert listed["dead-exim@example.org"]["added_at"] > 0

    second = threaded_smtpd("plain")
    again = _send(store, second, list(PEOPLE))
    assert sorted(_sent(second)) == ["alive@example.org", "away@example.org", "slow@example.org"]
    skipped = {e for e, r in by_email(store, again).items() if r.state == "skipped"}
    assert skipped == set(PEOPLE) - {"alive@example.org", "away@example.org", "slow@example.org"}


def test_soft_bounces_suppress_after_the_limit_across_campaigns(
    store: Store, dovecot: Dovecot, threaded_smtpd: Any, trust_test_ca: Path
) -> None:
    user = dovecot.add_user()
    _mailbox(store, dovecot, user, soft_bounce_limit=2)
    for round_ in range(2):
        server = threaded_smtpd("plain")
        _send(store, server, ["slow@example.org"])
        original = _sent(server)["slow@example.org"]
        dovecot.deliver(user, samples.microsoft_delayed(original, "slow@example.org"))
        result = asyncio.run(scanning.scan(store))
        assert result.counts.soft == 1
        suppressed = [s.email for s in SuppressionList(store).suppressed()]
        assert suppressed == ([] if round_ == 0 else ["slow@example.org"])


def test_pop3_scans_deletes_what_it_processed_and_counts_nothing_twice(
    store: Store, dovecot: Dovecot, sent: tuple[int, dict[str, bytes], str]
) -> None:
    campaign, messages, user = sent
    _mailbox(
        store,
        dovecot,
        user,
        protocol="pop3",
        port=dovecot.pop3,
        tls_type="STARTTLS",
        processed="delete",
    )
    _deliver_feedback(dovecot, user, messages)

    result = asyncio.run(scanning.scan(store))

    assert result.ok, result.diagnosis
    assert (result.counts.hard, result.counts.unsubscribes, result.counts.refused) == (3, 1, 1)
    assert len(dovecot.messages(user)) == 1  # the unrelated message stays
    again = asyncio.run(scanning.scan(store))
    assert again.ok and again.read == 0
    assert FeedbackBook(store).campaign_counts(campaign)["bounced"] == 4


def test_a_scan_reads_at_most_its_batch_and_the_next_goes_on(
    store: Store, dovecot: Dovecot, sent: tuple[int, dict[str, bytes], str]
) -> None:
    _, messages, user = sent
    _mailbox(store, dovecot, user, scan_batch=4, processed="read")
    _deliver_feedback(dovecot, user, messages)

    first = asyncio.run(scanning.scan(store))
    second = asyncio.run(scanning.scan(store))
    third = asyncio.run(scanning.scan(store))

    assert (first.read, second.read, third.read) == (4, 4, 1)
    assert first.more and second.more and not third.more
    total = first.counts
    total.add(second.counts)
    total.add(third.counts)
    assert (total.hard, total.soft, total.complaints, total.unsubscribes) == (3, 1, 1, 1)
    assert len(dovecot.messages(user)) == 9  # marked read, left in place
    assert asyncio.run(scanning.scan(store)).read == 0  # the UID cursor remembers

    # the server renumbered the folder (a new UIDVALIDITY): everything is read again,
    # and the remembered Message-IDs keep every count where it was
    book = FeedbackBook(store)
    name = f"{user}@127.0.0.1:{dovecot.imaps}/INBOX"
    assert book.cursor(name)[1] > 0
    book.set_cursor(name, 1, 10**9)
    again = asyncio.run(scanning.scan(store))
    assert again.read == 4 and again.counts.already == 4 and again.counts.hard == 0


def _bare_dsn(to: str, final: str) -> bytes:
    """A DSN that quotes nothing of the message (some servers send only this)."""
    return f"""From: MAILER-DAEMON@relay.example.net
To: {to}
Subject: Delivery Status Notification (Failure)
Message-ID: <bare.{final}@relay.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

Delivery failed.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net

Final-Recipient: rfc822; {final}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 mailbox gone

--b--
""".encode()


def test_verp_return_paths_match_bounces_that_quote_nothing(
    store: Store, dovecot: Dovecot, threaded_smtpd: Any, trust_test_ca: Path
) -> None:
    user = dovecot.add_user()
    _mailbox(store, dovecot, user, verp=True)
    server = threaded_smtpd("plain")
    campaign = _send(store, server, ["moved@example.org", "stays@example.org"])
    rows = by_email(store, campaign)
    sent = {m.rcpt_tos[0]: m for m in server.messages}
    token = rows["moved@example.org"].token
    assert token and sent["moved@example.org"].mail_from == f"bounces+{token}@example.com"
    # the address forwarded to another one, which bounced: only the return path tells whose
    dovecot.deliver(user, _bare_dsn(f"bounces+{token}@example.com", "new-home@example.net"))
    dovecot.deliver(user, _bare_dsn("bounces@example.com", "unknown@example.net"))

    result = asyncio.run(scanning.scan(store))

    assert (result.counts.hard, result.counts.unmatched) == (1, 1)
    rows = by_email(store, campaign)
    assert rows["moved@example.org"].feedback == "bounced"
    assert rows["stays@example.org"].feedback == ""
    assert [s.email for s in SuppressionList(store).suppressed()] == ["moved@example.org"]
