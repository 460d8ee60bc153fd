"""The servers, config and presets commands, run through the real CLI entry point."""

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


def test_add_list_edit_remove(
    data_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("hunter2-secret\n"))
    code, out, err = run(
        capsys, "servers", "add", "--preset", "sendgrid", "--name", "grid", "--password-stdin"
    )
    assert code == 0, err
    uuid = out.strip()
    assert secrets.get_password(uuid) == "hunter2-secret"

    code, out, _ = run(capsys, "servers", "list", "--json")
    [listed] = json.loads(out)
    assert listed["uuid"] == uuid and listed["username"] == "apikey" and listed["name"] == "grid"
    assert "hunter2-secret" not in out and "password" not in listed

    code, _, err = run(capsys, "servers", "edit", "grid", "--port", "25")
    assert code == 0 and "port 25 is often blocked" in err
    assert open_store(data_dir).server(uuid).port == 25

    code, out, _ = run(capsys, "servers", "remove", "grid")
    assert code == 0 and secrets.get_password(uuid) is None


def test_bad_input_exits_2_with_one_line_per_problem(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys,
        "servers",
        "add",
        "--host",
        "smtp.example.com",
        "--port",
        "0",
        "--max-conns",
        "0",
        "--headers",
        '[["Subject", "x"]]',
    )
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)
    assert open_store(data_dir).servers() == []


def test_password_is_never_an_argument(data_dir: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["servers", "add", "--host", "h", "--password", "x"])
    assert caught.value.code == 2


def test_config_export_then_import_into_empty_folder(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "servers", "add", "--host", "smtp.example.com", "--headers", '[{"X-A": "1"}]')
    run(capsys, "servers", "add", "--preset", "gmail", "--name", "gmail", "--enabled", "false")
    exported = tmp_path / "config.toml"
    assert run(capsys, "config", "export", str(exported))[0] == 0
    fresh = tmp_path / "fresh"
    code, out, err = run(capsys, "--data-dir", str(fresh), "config", "import", str(exported))
    assert code == 0, err
    assert "imported 2 servers" in out
    assert open_store(fresh).servers() == open_store(data_dir).servers()


def test_unknown_server_is_a_clear_error(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "servers", "edit", "nope", "--port", "25")
    # A name that does not exist is bad input: exit 2, one line.
    assert code == 2 and "No server is called 'nope'" in err
    assert len(err.strip().splitlines()) == 1


def test_presets_lists_every_provider(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "presets")
    assert code == 0
    for key in ("ses", "sendgrid", "postmark", "gmail", "mailgun", "microsoft365", "custom"):
        assert f"\n{key} " in "\n" + out
