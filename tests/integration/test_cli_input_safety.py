"""Hostile values at the command line: one line per problem, exit 2, nothing written."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from smtpdesk.cli import main
from smtpdesk.core import secrets
from smtpdesk.core.store import open_store


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def server_count(data_dir: Path) -> int:
    store = open_store(data_dir)
    try:
        return len(store.servers())
    finally:
        store.close()


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--hello-hostname", "x.example.com\r\nRSET", "hello_hostname"),
        ("--host", "a\x01.example.com", "host"),
        ("--idle-timeout", "99999999999h", "idle_timeout"),
        ("--wait-timeout", "nan", "wait_timeout"),
        ("--max-per-second", "inf", "max_per_second"),
    ],
)
def test_servers_add_refuses_hostile_values(
    data_dir: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, field: str
) -> None:
    argv = ["servers", "add", "--host", "smtp.example.com", option, value]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith(f"error: {field}: ")
    assert "Traceback" not in err
    assert server_count(data_dir) == 0


@pytest.mark.parametrize("auth", ["plain", "login", "cram"])
def test_servers_add_refuses_an_empty_password_from_stdin(
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    auth: str,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    argv = ["servers", "add", "--host", "smtp.example.com", "--auth", auth, "--password-stdin"]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "empty password" in err
    assert server_count(data_dir) == 0


def test_an_empty_password_is_fine_without_sign_in(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    argv = ["servers", "add", "--host", "smtp.example.com", "--auth", "none", "--password-stdin"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert secrets.get_password(out.strip()) is None


def test_listmonk_import_refuses_an_ehlo_command(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = {"smtp": [{"host": "smtp.example.com", "hello_hostname": "x.example.com\r\nRSET"}]}
    path = tmp_path / "listmonk.json"
    path.write_text(json.dumps(settings), encoding="utf-8")
    code, _, err = run(capsys, "config", "import", str(path))
    assert code == 2
    assert "hello_hostname" in err and "Traceback" not in err
    assert server_count(data_dir) == 0


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--rate", "nan"], "message_rate"),
        (["--rate", "inf"], "message_rate"),
        (["--rate=-inf"], "message_rate"),
        (["--from-name", "Shop\r\nBcc: evil@example.com"], "from_name"),
        (["--from-name", "Shop\nX"], "from_name"),
        (["--reply-to", "r@example.com\r\nBcc: evil@example.com"], "reply_to"),
        (["--subject", "Hi\r\nBcc: evil@example.com"], "subject"),
        (["--sliding-window", "10/99999999999h"], "sliding_window_duration"),
    ],
)
def test_campaign_create_refuses_hostile_values(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    field: str,
) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email\nann@example.com\n", encoding="utf-8")
    text = tmp_path / "body.txt"
    text.write_text("Hello", encoding="utf-8")
    argv = ["campaign", "create", "--name", "Hostile", "--recipients", str(people)]
    argv += ["--subject", "Hi", "--from", "news@example.com", "--text-file", str(text), *extra]
    code, out, err = run(capsys, *argv)
    assert code == 2, err
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}: "), lines
    assert run(capsys, "campaign", "list")[1].count("Hostile") == 0
