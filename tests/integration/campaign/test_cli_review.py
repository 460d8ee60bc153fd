"""``smtpdesk campaign create`` prints what the wizard's Review says."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtpdesk.cli import main
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import open_store


def _create(tmp_path: Path, subject: str) -> int:
    people = tmp_path / "people.csv"
    people.write_text(
        "email,Name,city\nann@example.com,Ann,Oslo\nbob@example.com,Bob,\n", encoding="utf-8"
    )
    return main(
        [
            "campaign",
            "create",
            "--name",
            "Spring",
            "--recipients",
            str(people),
            "--subject",
            subject,
            "--from",
            "news@example.com",
            "--text-file",
            str(_text(tmp_path)),
        ]
    )


def _text(tmp_path: Path) -> Path:
    body = tmp_path / "body.txt"
    body.write_text("Greetings from {{ city }}", encoding="utf-8")
    return body


def test_create_prints_the_reviews_errors_and_warnings(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(data_dir)
    save_server(store, {"host": "on.example.org"})
    store.close()
    assert _create(tmp_path, "Hi {{ name }}") == 1  # created, but not ready to send
    out, err = capsys.readouterr()
    assert "error: {{ name }} in the subject is not a column of the recipient file. " in err
    assert "Did you mean {{ Name }}? The fields are: email, Name, city." in err
    assert "warning: {{ city }} in the text body is empty for 1 recipient" in err
    assert "The campaign stays a draft until these are corrected." in err
    store = open_store(data_dir)
    campaign = Ledger(store).campaign(int(out.split()[-1]))
    store.close()
    assert campaign.state == CampaignState.DRAFT


def test_create_with_a_correct_template_says_every_message_renders(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(data_dir)
    save_server(store, {"host": "on.example.org"})
    store.close()
    assert _create(tmp_path, "Hi {{ Name }}") == 0
    _, err = capsys.readouterr()
    assert "2 of 2 rendered, 0 errors" in err
    assert "error:" not in err
