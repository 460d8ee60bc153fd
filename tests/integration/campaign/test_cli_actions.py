"""``smtpdesk campaign edit|duplicate|delete`` on a real data folder."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from smtpdesk.cli import main
from smtpdesk.core.campaign.ledger import CampaignState, Ledger, Outcome, RecipientState
from smtpdesk.core.store import Store
from tests.integration.campaign.helpers import CONTENT, addresses, make_campaign


def test_edit_a_draft_then_refused_once_paused(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign = make_campaign(store, addresses(2))
    body = tmp_path / "body.txt"
    body.write_text("Plain {{ name }}", encoding="utf-8")
    argv = ["campaign", "edit", str(campaign), "--subject", "New {{ name }}", "--rate", "7"]
    argv += ["--text-file", str(body), "--send-at", "2030-01-31T09:00", "--name", "Renamed"]
    assert main(argv) == 0
    assert "updated: message_rate, name, send_at, subject, text" in capsys.readouterr().out
    edited = Ledger(store).campaign(campaign)
    assert (edited.name, edited.content.subject, edited.message_rate) == (
        "Renamed",
        "New {{ name }}",
        7,
    )
    assert edited.content.text == "Plain {{ name }}" and edited.content.html == CONTENT.html
    assert edited.send_at is not None
    assert main(["campaign", "edit", str(campaign), "--send-now"]) == 0
    assert Ledger(store).campaign(campaign).send_at is None

    assert main(["campaign", "edit", str(campaign), "--from", "not-an-address"]) == 2
    assert "from_address" in capsys.readouterr().err

    ledger = Ledger(store)
    ledger.set_state(campaign, CampaignState.PAUSED)
    first = ledger.recipients(campaign, limit=1)[0]
    ledger.apply([Outcome(first.id, RecipientState.SENT, attempts=1)])  # it has begun
    assert main(["campaign", "edit", str(campaign), "--subject", "x"]) == 1
    assert "is paused and cannot be edited" in capsys.readouterr().err
    assert Ledger(store).campaign(campaign).content.subject == "New {{ name }}"


def test_duplicate_same_or_new_recipients(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign = make_campaign(store, addresses(3), concurrency=2)
    Ledger(store).set_state(campaign, CampaignState.FINISHED)
    assert main(["campaign", "duplicate", str(campaign)]) == 0
    out, err = capsys.readouterr()
    copy = int(out.strip())
    assert "3 recipients copied" in err
    duplicate = Ledger(store).campaign(copy)
    assert (duplicate.name, duplicate.state, duplicate.concurrency) == ("test (copy)", "draft", 2)

    people = tmp_path / "people.csv"
    people.write_text("email\nnew@example.com\nbroken\n", encoding="utf-8")
    argv = ["campaign", "duplicate", str(campaign), "--recipients", str(people), "--name", "B"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "1 recipients imported, 1 invalid" in err
    second = int(out.strip())
    assert Ledger(store).campaign(second).name == "B"
    assert [r.email for r in Ledger(store).recipients(second)] == ["new@example.com"]


def test_delete_asks_refuses_and_deletes(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    paused = make_campaign(store, addresses(2))
    Ledger(store).set_state(paused, CampaignState.PAUSED)
    assert main(["campaign", "delete", str(paused), "--yes"]) == 1
    assert "is paused and cannot be deleted" in capsys.readouterr().err

    finished = make_campaign(store, addresses(2))
    Ledger(store).set_state(finished, CampaignState.FINISHED)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # not a terminal: --yes is needed
    assert main(["campaign", "delete", str(finished)]) == 1
    assert "confirm with --yes" in capsys.readouterr().err

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    assert main(["campaign", "delete", str(finished)]) == 1
    assert "and the report of its 2 recipients?" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    assert main(["campaign", "delete", str(finished)]) == 0
    assert [c.id for c in Ledger(store).list_campaigns()] == [paused]
    assert Ledger(store).recipient_count(finished) == 0
