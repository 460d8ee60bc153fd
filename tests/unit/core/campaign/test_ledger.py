"""The ledger on a real SQLite file: campaigns, claims, outcomes, recovery, exports."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, select, update

from smtpdesk.core.campaign.content import CampaignContent, ContentError, check_fields
from smtpdesk.core.campaign.ledger import (
    CampaignState,
    Counts,
    Ledger,
    Outcome,
    RecipientState,
)
from smtpdesk.core.errors import InvalidSettingsError, NotFoundError
from smtpdesk.core.settings import AppSettings
from smtpdesk.core.store import Store, open_store
from smtpdesk.core.store.schema import campaigns

CONTENT = CampaignContent(subject="s", from_address="me@example.com", text="hi")


@pytest.fixture
def ledger(store: Store) -> Ledger:
    return Ledger(store)


def add(ledger: Ledger, campaign: int, n: int) -> None:
    ledger.insert_recipients(
        campaign,
        [{"line": i + 2, "email": f"u{i}@example.com", "fields": {"n": str(i)}} for i in range(n)],
    )


def test_migration_creates_the_tables(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {"campaigns", "recipients", "suppressions", "server_sends"} <= names
    indexes = {i["name"] for i in inspect(store.engine).get_indexes("recipients")}
    assert "ix_recipients_campaign_state" in indexes


def test_settings_start_from_the_app_settings(store: Store, ledger: Ledger) -> None:
    store.put_app_settings(AppSettings(concurrency=3, message_rate=7.0, max_send_errors=9))
    campaign = ledger.campaign(ledger.create_campaign("c", CONTENT, message_rate=50))
    assert (campaign.concurrency, campaign.message_rate, campaign.max_send_errors) == (3, 50.0, 9)
    assert campaign.state == CampaignState.DRAFT and campaign.content == CONTENT
    with pytest.raises(InvalidSettingsError):
        ledger.create_campaign("bad", CONTENT, concurrency=0)
    ledger.update_campaign(campaign.id, message_rate=2, name="renamed")
    assert ledger.campaign(campaign.id).message_rate == 2.0
    assert [c.name for c in ledger.list_campaigns()] == ["renamed"]
    with pytest.raises(NotFoundError):
        ledger.campaign(999)


def test_claim_commits_outcomes_and_marks_sending(ledger: Ledger) -> None:
    campaign = ledger.create_campaign("c", CONTENT)
    add(ledger, campaign, 10)
    first = ledger.claim(campaign, 0, 4)
    assert [email for _, email, _ in first] == [f"u{i}@example.com" for i in range(4)]
    assert first[0][2] == {"n": "0"}
    assert ledger.counts(campaign) == Counts(pending=6, sending=4)
    outcomes = [
        Outcome(
            first[0][0],
            RecipientState.SENT,
            attempts=1,
            server_uuid="s1",
            sent_at=1.5,
            reply="250 ok",
        ),
        Outcome(
            first[1][0], RecipientState.FAILED, attempts=2, error="no", cause="recipient_refused"
        ),
    ]
    second = ledger.claim(campaign, first[-1][0], 100, outcomes)
    assert len(second) == 6
    assert ledger.counts(campaign) == Counts(sending=8, sent=1, failed=1)
    sent = ledger.recipients(campaign, RecipientState.SENT)[0]
    assert (sent.attempts, sent.server_uuid, sent.reply, sent.sent_at) == (1, "s1", "250 ok", 1.5)
    assert ledger.recover(campaign) == 8
    assert ledger.counts(campaign) == Counts(pending=8, sent=1, failed=1)


def test_apply_writes_each_column_of_an_outcome(ledger: Ledger) -> None:
    """Every field lands in its own column; attempts add up; a None Message-ID or token
    keeps the stored one (a retry's failure does not erase what the first send got)."""
    campaign = ledger.create_campaign("c", CONTENT)
    add(ledger, campaign, 2)
    first, second = (rid for rid, _, _ in ledger.claim(campaign, 0, 2))
    ledger.apply(
        [
            Outcome(
                first,
                RecipientState.SENT,
                attempts=2,
                server_uuid="s1",
                sent_at=1.5,
                reply="250 queued",
                message_id="<m1@example.com>",
                token="tok1",
            ),
            Outcome(
                second,
                RecipientState.FAILED,
                attempts=1,
                error="busy (451 try later)",
                cause="temporary_failure",
                temporary=True,
                server_uuid="s2",
            ),
        ]
    )
    ledger.apply([Outcome(first, RecipientState.UNKNOWN, attempts=3, cause="timeout")])
    rows = {r.id: r for r in ledger.recipients(campaign)}
    one, two = rows[first], rows[second]
    assert (one.state, one.attempts, one.cause, one.reply) == ("unknown", 5, "timeout", "")
    assert (one.message_id, one.token, one.sent_at, one.server_uuid) == (
        "<m1@example.com>",
        "tok1",
        None,
        "",
    )
    assert (two.state, two.attempts, two.error, two.cause) == (
        "failed",
        1,
        "busy (451 try later)",
        "temporary_failure",
    )
    assert two.temporary is True and two.server_uuid == "s2" and two.message_id is None
    assert one.temporary is False


def test_retry_failed_only_temporary_by_default(ledger: Ledger) -> None:
    campaign = ledger.create_campaign("c", CONTENT)
    add(ledger, campaign, 3)
    ids = [rid for rid, _, _ in ledger.claim(campaign, 0, 3)]
    ledger.apply(
        [
            Outcome(ids[0], RecipientState.FAILED, cause="temporary_failure", temporary=True),
            Outcome(ids[1], RecipientState.FAILED, cause="recipient_refused"),
            Outcome(ids[2], RecipientState.SENT),
        ]
    )
    ledger.set_state(campaign, CampaignState.FINISHED)
    assert ledger.retry_failed(campaign) == 1
    assert ledger.counts(campaign) == Counts(pending=1, sent=1, failed=1)
    assert ledger.campaign(campaign).state == CampaignState.PAUSED
    assert ledger.retry_failed(campaign, temporary_only=False) == 1


def test_paged_recipients_and_export(ledger: Ledger, tmp_path: Path) -> None:
    campaign = ledger.create_campaign("c", CONTENT)
    add(ledger, campaign, 12000)
    page = ledger.recipients(campaign, offset=11990, limit=100)
    assert len(page) == 10 and page[0].email == "u11990@example.com"
    assert ledger.recipient_count(campaign, "pending") == 12000
    path = tmp_path / "report.csv"
    assert ledger.export_csv(campaign, path) == 12000
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 12000 and rows[5]["email"] == "u5@example.com"
    assert rows[5]["state"] == "pending" and rows[5]["line"] == "7"


def test_a_second_live_runner_is_refused(ledger: Ledger) -> None:
    import os

    from smtpdesk.core.errors import KnownError

    campaign = ledger.create_campaign("c", CONTENT)
    ledger.claim_runner(campaign, os.getppid())  # a live process that is not us
    with pytest.raises(KnownError, match="another process"):
        ledger.claim_runner(campaign, os.getpid())
    ledger.release_runner(campaign)
    ledger.claim_runner(campaign, os.getpid())


def test_two_runners_starting_at_once_do_not_both_win(
    ledger: Ledger, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from smtpdesk.core.errors import KnownError

    campaign = ledger.create_campaign("c", CONTENT)
    read = Ledger.campaign

    def read_then_lose_the_race(self: Ledger, campaign_id: int) -> Any:
        seen = read(self, campaign_id)  # no owner yet...
        with store.engine.begin() as conn:  # ...but another live process claims it now
            conn.execute(update(campaigns).values(runner_pid=os.getppid()))
        monkeypatch.setattr(Ledger, "campaign", read)
        return seen

    monkeypatch.setattr(Ledger, "campaign", read_then_lose_the_race)
    with pytest.raises(KnownError, match=f"another process \\({os.getppid()}\\)"):
        ledger.claim_runner(campaign, os.getpid())
    assert ledger.campaign(campaign).runner_pid == os.getppid()


def test_ledger_survives_reopening(data_dir: Path) -> None:
    store = open_store(data_dir)
    campaign = Ledger(store).create_campaign("c", CONTENT)
    store.close()
    reopened = open_store(data_dir)
    try:
        assert Ledger(reopened).campaign(campaign).name == "c"
    finally:
        reopened.close()


def _statements(store: Store) -> list[tuple[str, Any]]:
    """Every SQL statement (and its parameters) the store's engine runs from now on."""
    seen: list[tuple[str, Any]] = []

    def record(conn: object, cursor: object, statement: str, parameters: Any, *_: object) -> None:
        seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    return seen


def _pages(ledger: Ledger, campaign: int, state: str | None, every: int) -> list[list[str]]:
    starts = ledger.page_starts(campaign, state, every)
    return [[r.email for r in ledger.recipients_from(campaign, s, state, every)] for s in starts]


def _offset_pages(ledger: Ledger, campaign: int, state: str | None, every: int) -> list[list[str]]:
    total = ledger.recipient_count(campaign, state)
    return [
        [r.email for r in ledger.recipients(campaign, state, offset, every)]
        for offset in range(0, total, every)
    ]


def test_pages_by_position_without_offset(ledger: Ledger, store: Store) -> None:
    campaign = ledger.create_campaign("c", CONTENT)
    add(ledger, campaign, 1000)
    seen = _statements(store)
    assert _pages(ledger, campaign, None, 64) == _offset_pages(ledger, campaign, None, 64)
    # contiguous ids: the starts come from three index lookups, not a numbering pass
    assert not [s for s, _ in seen if "row_number" in s]
    other = ledger.create_campaign("other", CONTENT)
    add(ledger, other, 5)
    add(ledger, campaign, 300)  # a second import after another campaign's: a gap in the ids
    ids = ledger.claim(campaign, 0, 1300)
    ledger.apply([Outcome(i, RecipientState.SENT) for i, _, _ in ids[::3]])
    for state in (None, "sent", "sending", "failed"):
        assert _pages(ledger, campaign, state, 64) == _offset_pages(ledger, campaign, state, 64)
    assert len(_pages(ledger, campaign, None, 64)) == 21  # 1300 rows in pages of 64


def test_keyset_page_is_an_index_search(ledger: Ledger, store: Store) -> None:
    campaign = ledger.create_campaign("c", CONTENT)
    add(ledger, campaign, 10)
    seen = _statements(store)
    ledger.recipients_from(campaign, 5, None, 3)
    ledger.recipients_from(campaign, 5, "pending", 3)
    for statement, params in seen[-2:]:
        with store.engine.connect() as conn:
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
            )
        assert "SEARCH recipients USING" in plan and "id>?" in plan.replace(" ", ""), plan
        assert "TEMP B-TREE" not in plan, plan  # no sort: the index gives the order


def test_field_presence_is_kept_by_imports(ledger: Ledger, store: Store) -> None:
    campaign = ledger.create_campaign("c", CONTENT)
    ledger.insert_recipients(
        campaign,
        [
            {"line": 2, "email": "a@example.com", "fields": {"name": "A", "city": "X"}},
            {"line": 3, "email": "b@example.com", "fields": {"name": "B"}},
        ],
    )
    ledger.insert_recipients(
        campaign, [{"line": 4, "email": "c@example.com", "fields": {"city": "Y"}}]
    )
    assert ledger.field_presence(campaign) == (3, {"name": 2, "city": 2})
    assert ledger.first_lacking(campaign, "name") == ("c@example.com", 4)
    assert ledger.first_lacking(campaign, "city") == ("b@example.com", 3)
    assert ledger.first_lacking(campaign, "other") == ("a@example.com", 2)
    # a campaign imported before the counts were kept is counted once, then remembered
    with store.engine.begin() as conn:
        conn.execute(update(campaigns).values(field_counts=None))
    assert ledger.field_presence(campaign) == (3, {"name": 2, "city": 2})
    with store.engine.connect() as conn:
        assert conn.execute(select(campaigns.c.field_counts)).scalar() == {"name": 2, "city": 2}


def test_check_fields_reads_no_recipient_fields(ledger: Ledger, store: Store) -> None:
    content = CampaignContent(subject="Hi {{ n }}", from_address="me@example.com", text="{{ n }}")
    campaign = ledger.create_campaign("c", content)
    add(ledger, campaign, 3000)
    seen = _statements(store)
    assert check_fields(content, ledger, campaign) == []
    assert not [s for s, _ in seen if "fields" in s and "recipients" in s], seen
    ledger.insert_recipients(campaign, [{"line": 9999, "email": "x@example.com", "fields": {}}])
    missing = check_fields(content, ledger, campaign)
    assert [(m.field, m.template, m.count, m.first_email, m.first_line) for m in missing] == [
        ("n", "subject", 1, "x@example.com", 9999),
        ("n", "text", 1, "x@example.com", 9999),
    ]


def test_create_and_update_refuse_invalid_content(ledger: Ledger) -> None:
    with pytest.raises(ContentError) as caught:
        ledger.create_campaign("c", CampaignContent("", "", text="t"))
    assert {p.field for p in caught.value.problems} == {"subject", "from_address"}  # type: ignore[attr-defined]
    assert ledger.list_campaigns() == []
    draft = ledger.create_campaign("draft", None)  # the wizard's: content comes later
    with pytest.raises(ContentError, match="From address"):
        ledger.update_campaign(draft, content=CampaignContent("s", "me@", text="t"))
    ledger.update_campaign(draft, content=CONTENT)
    assert ledger.campaign(draft).content == CONTENT


def test_migration_adds_the_paging_index(store: Store) -> None:
    indexes = {
        i["name"]: i["column_names"] for i in inspect(store.engine).get_indexes("recipients")
    }
    assert indexes["ix_recipients_campaign_id"] == ["campaign_id", "id"]
