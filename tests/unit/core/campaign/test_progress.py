"""Errors grouped by cause under a general title; server figures added up across runs."""

from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

import smtpdesk.core
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger, Outcome, RecipientState
from smtpdesk.core.campaign.progress import (
    CAUSE_HINTS,
    CAUSE_TITLES,
    ErrorGroup,
    Progress,
    RunTotals,
    Tally,
    cause_title,
    stored_error_groups,
)
from smtpdesk.core.smtp.diagnosis import CAUSES
from smtpdesk.core.smtp.types import Diagnosis, ServerStats
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import recipients

CORE = Path(smtpdesk.core.__file__).parent
# Packages whose diagnoses describe something else than a send (the bounce mailbox's IMAP
# login): they never reach a recipient's cause nor a campaign's pause reason.
NOT_RECIPIENT_CAUSES = {"feedback"}


def _refused(email: str, code: int | None = 550, raw: str = "") -> Diagnosis:
    return Diagnosis(
        "recipient_refused",
        f"127.0.0.1:2525 refused the recipient {email!r} ({code})",
        ("Check the address; the mailbox may not exist.",),
        raw,
        code=code,
    )


def test_an_error_group_is_titled_by_its_cause_not_by_one_recipient() -> None:
    tally = Tally.from_counts(Counts(pending=5))
    tally.fail(_refused("bounce1@example.com"), "bounce1@example.com")
    tally.fail(_refused("bounce2@example.com"), "bounce2@example.com")
    tally.fail(_refused("x@example.com", None, "553 5.1.3 bad address"), "x@example.com")
    [group] = tally.errors.values()
    assert group.title == "Recipient refused (550, 553)"
    assert "@" not in group.title
    assert group.codes == (550, 553) and group.count == 3
    assert group.samples == ("bounce1@example.com", "bounce2@example.com", "x@example.com")
    assert group.hints == ("Check the address; the mailbox may not exist.",)
    assert "x@example.com" in group.message  # the latest one, for the detail line


def produced_causes() -> set[str]:
    """Every cause string the core can store or show, read from its source.

    ``Diagnosis("cause", …)``, ``cause="…"`` anywhere, a class's ``cause = "…"`` (the
    errors the engine turns into a diagnosis) and ``getattr(exc, "cause", "…")``.
    """
    found: set[str] = set()

    def text(node: ast.AST | None) -> str | None:
        is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
        return node.value if is_text else None  # type: ignore[union-attr]

    for path in CORE.rglob("*.py"):
        if path.parent.name in NOT_RECIPIENT_CAUSES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name == "Diagnosis" and node.args:
                    found.add(text(node.args[0]) or "")
                if name == "getattr" and len(node.args) == 3 and text(node.args[1]) == "cause":
                    found.add(text(node.args[2]) or "")
                found |= {text(k.value) or "" for k in node.keywords if k.arg == "cause"}
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(getattr(t, "id", "") == "cause" for t in targets):
                    found.add(text(node.value) or "")
    return found - {""} | set(CAUSES)


def test_every_cause_produced_anywhere_has_a_title_and_a_hint() -> None:
    causes = produced_causes()
    assert {"unsafe_header", "template_error", "suppressed", "oauth_failed"} <= causes
    assert causes - set(CAUSE_TITLES) == set()
    assert causes - set(CAUSE_HINTS) == set()
    assert all(CAUSE_HINTS[c].strip() for c in causes)


def test_a_failure_without_hints_gets_its_causes_general_hint() -> None:
    tally = Tally.from_counts(Counts(pending=2))
    tally.fail(Diagnosis("pool_closed", "Sending stopped.", (), ""), "a@example.com")
    assert tally.errors["pool_closed"].hints == (CAUSE_HINTS["pool_closed"],)
    tally.fail(Diagnosis("pool_closed", "Sending stopped.", ("Own hint.",), ""), "b@example.com")
    assert tally.errors["pool_closed"].hints == ("Own hint.",)


def test_every_diagnosed_cause_has_a_title() -> None:
    assert set(CAUSES) <= set(CAUSE_TITLES)
    assert cause_title("template_error") == "Template error"
    assert cause_title("something_new") == "Something new"
    assert cause_title("timeout", [421]) == "Timed out (421)"


def _stats(uuid: str, sent: int, failed: int = 0, mean: float = 0.1, busy: int = 0) -> ServerStats:
    return ServerStats(
        uuid,
        uuid,
        connections_open=busy,
        connections_busy=busy,
        sent=sent,
        failed=failed,
        retried=1,
        mean_send_seconds=mean,
    )


def _run(servers: tuple[ServerStats, ...], *failed: str) -> Progress:
    tally = Tally.from_counts(Counts(pending=10))
    for email in failed:
        tally.fail(_refused(email), email)
    return tally.snapshot(1, CampaignState.PAUSED, servers=servers)


def test_run_totals_continue_the_figures_after_a_resume() -> None:
    totals = RunTotals()
    first = _run((_stats("a", 30, 2, 0.1), _stats("b", 10)), "f1@example.com", "f2@example.com")
    assert totals.combined(first) == first
    totals.end_run(first)
    assert totals.combined(first) == first  # no new sender or tally yet: nothing twice
    second = _run((_stats("a", 8, 0, 0.3, busy=2),), "f3@example.com")
    shown = totals.combined(second)
    a, b = shown.servers
    assert (a.sent, a.failed, a.retried, a.connections_busy) == (38, 2, 2, 2)
    assert abs(a.mean_send_seconds - (0.1 * 32 + 0.3 * 8) / 40) < 1e-9
    assert (b.sent, b.connections_open) == (10, 0)  # not in this run: kept, idle
    [group] = shown.errors
    assert (group.title, group.count) == ("Recipient refused (550)", 3)
    assert group.samples == ("f1@example.com", "f2@example.com", "f3@example.com")
    totals.end_run(second)
    totals.end_run(second)  # the same run reported twice counts once
    idle = totals.combined(_run(()))
    assert [s.sent for s in idle.servers] == [38, 10] and idle.errors[0].count == 3


def test_run_totals_add_up_the_elapsed_time_of_the_runs() -> None:
    totals = RunTotals()
    first = replace(_run(()), elapsed=12.5)
    assert totals.combined(first).elapsed == 12.5
    totals.end_run(first)
    assert totals.combined(first).elapsed == 12.5  # the ended run reported again
    second = replace(_run(()), elapsed=0.25)  # a resume's own clock starts from zero
    assert totals.combined(second).elapsed == 12.75
    totals.end_run(replace(second, elapsed=3.0))
    totals.end_run(replace(second, elapsed=3.0))  # twice counts once
    assert totals.combined(replace(second, elapsed=1.0)).elapsed == 16.5


def test_error_groups_are_rebuilt_from_the_ledger(store: Store) -> None:
    """After a restart the tally is gone: the stored causes give the same groups back."""
    ledger = Ledger(store)
    campaign = ledger.create_campaign("c", CampaignContent("s", "news@example.com", text="t"))
    ledger.insert_recipients(
        campaign, [{"line": i + 2, "email": f"u{i}@example.com", "fields": {}} for i in range(9)]
    )
    with store.engine.connect() as conn:
        ids = conn.execute(select(recipients.c.id).order_by(recipients.c.id)).scalars().all()
    refused = [
        Outcome(n, RecipientState.FAILED, 1, f"550 no such user u{i}", "recipient_refused")
        for i, n in enumerate(ids[:7])
    ]
    dropped = Outcome(ids[7], RecipientState.UNKNOWN, 1, "dropped", "connection_dropped", True)
    ledger.apply([*refused, dropped, Outcome(ids[8], RecipientState.SENT, 1)])

    first, second = stored_error_groups(ledger, campaign)
    assert (first.cause, first.title, first.count, first.temporary) == (
        "recipient_refused",
        "Recipient refused",
        7,
        False,
    )
    assert first.samples == tuple(f"u{i}@example.com" for i in range(5))
    assert first.message == "550 no such user u6"  # the latest
    assert first.hints == (CAUSE_HINTS["recipient_refused"],)
    assert (second.cause, second.count, second.temporary) == ("connection_dropped", 1, True)
    assert (
        stored_error_groups(
            ledger, ledger.create_campaign("d", CampaignContent("s", "a@example.com", text="t"))
        )
        == ()
    )


def test_run_totals_start_from_the_stored_groups() -> None:
    stored = (ErrorGroup("timeout", "Timed out", "m", (), True, 4, ("a@example.com",)),)
    totals = RunTotals()
    totals.start_from(stored)
    tally = Tally.from_counts(Counts(pending=1))
    tally.fail(Diagnosis("timeout", "late", (), ""), "b@example.com")
    now = totals.combined(tally.snapshot(1, CampaignState.RUNNING, servers=()))
    assert [(g.cause, g.count, g.samples) for g in now.errors] == [
        ("timeout", 5, ("a@example.com", "b@example.com"))
    ]


def test_server_figures_are_rebuilt_from_the_ledger(store: Store) -> None:
    """After a restart the live figures are gone: each recipient's stored server gives the
    sent and failed per server back, and a resumed run adds its own to them."""
    from smtpdesk.core.campaign.progress import stored_server_stats
    from smtpdesk.core.servers import save_server

    saved = save_server(store, {"host": "a.example.org", "name": "alpha"}).settings
    assert saved is not None
    ledger = Ledger(store)
    campaign = ledger.create_campaign("c", CampaignContent("s", "news@example.com", text="t"))
    ledger.insert_recipients(
        campaign, [{"line": i + 2, "email": f"u{i}@example.com", "fields": {}} for i in range(6)]
    )
    with store.engine.connect() as conn:
        ids = conn.execute(select(recipients.c.id).order_by(recipients.c.id)).scalars().all()
    ledger.apply(
        [
            *(Outcome(n, RecipientState.SENT, 1, server_uuid=saved.uuid) for n in ids[:3]),
            Outcome(
                ids[3], RecipientState.FAILED, 1, "550 no", "recipient_refused", False, saved.uuid
            ),
            Outcome(ids[4], RecipientState.SENT, 1, server_uuid="gone"),
        ]
    )
    found = stored_server_stats(ledger, campaign)
    assert [(s.label, s.sent, s.failed) for s in found] == [
        ("(a deleted server)", 1, 0),
        ("alpha", 3, 1),
    ]
    totals = RunTotals()
    totals.start_from((), found)
    live = ServerStats(saved.uuid, "alpha", connections_open=1, sent=2)
    tally = Tally.from_counts(Counts(pending=1))
    now = totals.combined(tally.snapshot(1, CampaignState.RUNNING, servers=(live,)))
    assert {s.label: s.sent for s in now.servers} == {"alpha": 5, "(a deleted server)": 1}
