"""``smtpdesk campaign ...`` end to end, against a threaded aiosmtpd server."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpdesk.cli import main
from smtpdesk.core.store import open_store
from tests.helpers.smtpd import Faults, SmtpdServer, settings_for


@pytest.fixture
def server(data_dir: Path, threaded_smtpd: Callable[..., SmtpdServer]) -> SmtpdServer:
    started = threaded_smtpd(
        "plain", faults=Faults(rcpt_replies={"refused@example.com": "550 5.1.1 No such user"})
    )
    store = open_store(data_dir)
    store.put_server(settings_for(started))
    store.close()
    return started


def create(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> int:
    people = tmp_path / "people.csv"
    people.write_text(
        "\ufeffEmail;name\nann@example.com;Ann\nbob@example.com;Bob\n"
        "refused@example.com;Ref\nbad-address;X\nANN@example.com;dup\n",
        encoding="utf-8",
    )
    html = tmp_path / "body.html"
    html.write_text("<p>Hello {{ name }}</p>", encoding="utf-8")
    assert (
        main(
            [
                "campaign",
                "create",
                "--name",
                "Launch",
                "--recipients",
                str(people),
                "--subject",
                "News for {{ name }}",
                "--from",
                "news@example.com",
                "--html-file",
                str(html),
                "--rate",
                "100",
                *extra,
            ]
        )
        == 0
    )
    out, err = capsys.readouterr()
    assert "3 recipients imported, 1 invalid, 1 duplicates" in err
    assert "line 5: bad-address" in err and "line 6: ANN@example.com" in err
    return int(out.strip())


def status(campaign: int, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["campaign", "status", str(campaign), "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def test_create_send_status_export(
    server: SmtpdServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign = create(tmp_path, capsys)
    assert status(campaign, capsys)["state"] == "draft"

    assert main(["campaign", "send", str(campaign)]) == 0
    out, err = capsys.readouterr()
    assert "[" in err and "sent 2" in err  # the progress bar
    assert "finished" in out and "recipient_refused" in out

    data = status(campaign, capsys)
    assert {
        k: data[k] for k in ("state", "total", "pending", "sending", "sent", "failed", "skipped")
    } == {
        "state": "finished",
        "total": 3,
        "pending": 0,
        "sending": 0,
        "sent": 2,
        "failed": 1,
        "skipped": 0,
    }
    assert sorted(r for m in server.messages for r in m.rcpt_tos) == [
        "ann@example.com",
        "bob@example.com",
    ]

    report = tmp_path / "report.csv"
    assert main(["campaign", "export", str(campaign), str(report)]) == 0
    with report.open(encoding="utf-8") as handle:
        rows = {r["email"]: r for r in csv.DictReader(handle)}
    assert rows["refused@example.com"]["cause"] == "recipient_refused"
    assert rows["ann@example.com"]["state"] == "sent"

    assert main(["campaign", "list"]) == 0
    assert f"{campaign}\tfinished\t2/3" in capsys.readouterr().out


def test_retry_failed_and_resume(
    server: SmtpdServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    campaign = create(tmp_path, capsys)
    assert main(["campaign", "send", str(campaign), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["campaign", "retry-failed", str(campaign)]) == 0
    assert capsys.readouterr().out.startswith("0 recipients")  # 550 is permanent
    server.faults.rcpt_replies.clear()
    assert main(["campaign", "retry-failed", str(campaign), "--all"]) == 0
    capsys.readouterr()
    assert main(["campaign", "resume", str(campaign), "--no-progress"]) == 0
    assert "finished; sent 3" in capsys.readouterr().out
    assert status(campaign, capsys)["sent"] == 3


def test_suppress_then_send(
    server: SmtpdServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["campaign", "suppress", "bob@example.com", "--reason", "unsubscribed"]) == 0
    campaign = create(tmp_path, capsys)
    assert main(["campaign", "send", str(campaign), "--no-progress"]) == 0
    capsys.readouterr()
    data = status(campaign, capsys)
    assert (data["skipped"], data["sent"]) == (1, 1)


def test_unknown_campaign_is_a_clear_error(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["campaign", "status", "42"]) == 2  # a wrong id is bad input
    assert "no campaign 42" in capsys.readouterr().err


def test_create_with_invalid_content_exits_2_with_one_line_per_problem(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email\nann@example.com\n", encoding="utf-8")
    code = main(
        [
            "campaign",
            "create",
            "--name",
            "Broken",
            "--recipients",
            str(people),
            "--subject",
            "",
            "--from",
            "news.example.com",
            "--reply-to",
            "help@",
            "--unsubscribe-url",
            "example.com/u",
        ]
    )
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == [
        "subject",
        "from_address",
        "reply_to",
        "unsubscribe_url",
        "html",
    ]
    assert all(line.startswith("error: ") for line in lines)
    assert main(["campaign", "list"]) == 0
    assert "Broken" not in capsys.readouterr().out  # nothing was created
