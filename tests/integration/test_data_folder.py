"""The data folder and what is written in it: private modes, the log, full disks, names."""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from smtpdesk.cli import EXIT_BUG, main
from smtpdesk.commands import servers as servers_command
from smtpdesk.core import logs, secrets
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.smtp.diagnosis import secret_forms
from smtpdesk.core.store import open_store
from smtpdesk.core.store.db import failure_text

PASSWORD = "hunter2-Secret-never-logged"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def restore_log() -> Iterator[None]:
    yield
    if logs._handler is not None:
        logging.getLogger().removeHandler(logs._handler)
        logs._handler.close()
        logs._handler = None


def test_folder_0700_database_wal_shm_and_exports_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "fresh" / "smtpdesk"
    monkeypatch.setenv("SMTPDESK_DATA_DIR", str(folder))
    previous = os.umask(0)  # the modes must not rely on the user's umask
    try:
        store = open_store()
    finally:
        os.umask(previous)
    ledger = Ledger(store)
    campaign = ledger.create_campaign("c", CampaignContent("s", "a@example.com", text="x"))
    ledger.insert_recipients(campaign, [{"line": 2, "email": "ann@example.com", "fields": {}}])
    assert mode(folder) == 0o700
    for name in ("smtpdesk.db", "smtpdesk.db-wal", "smtpdesk.db-shm"):
        assert (folder / name).exists() and mode(folder / name) == 0o600, name
    report, config = tmp_path / "report.csv", tmp_path / "config.toml"
    ledger.export_csv(campaign, report)
    store.close()
    assert main(["config", "export", str(config)]) == 0
    assert mode(report) == 0o600 and mode(config) == 0o600


def test_an_existing_database_is_made_private(data_dir: Path) -> None:
    open_store(data_dir).close()
    (data_dir / "smtpdesk.db").chmod(0o644)
    open_store(data_dir).close()
    assert mode(data_dir / "smtpdesk.db") == 0o600


def test_a_bug_names_the_log_and_the_password_never_reaches_it(
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    restore_log: None,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    argv = ["servers", "add", "--host", "smtp.example.com", "--username", "me", "--password-stdin"]
    assert main(argv) == 0
    capsys.readouterr()

    def buggy(args: object) -> int:
        stored = secrets.get_password(open_store(data_dir).servers()[0].uuid)
        auth_line = secret_forms("me", stored or "")[-1]  # AUTH PLAIN as the wire has it
        raise RuntimeError(f"boom with {stored} and AUTH PLAIN {auth_line}")

    monkeypatch.setattr(servers_command, "list_servers", buggy)
    assert main(["servers", "list"]) == EXIT_BUG
    err = capsys.readouterr().err
    log_file = data_dir / logs.LOG_NAME
    assert f"details are in the log: {log_file}" in err and "Traceback" not in err
    written = log_file.read_text(encoding="utf-8")
    assert "RuntimeError" in written and "Traceback" in written and "***" in written
    for form in secret_forms("me", PASSWORD):
        assert form not in written, form
    assert mode(log_file) == 0o600


def test_a_user_mistake_is_one_line_and_not_logged(
    data_dir: Path, capsys: pytest.CaptureFixture[str], restore_log: None
) -> None:
    assert main(["servers", "remove", "nope"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (data_dir / logs.LOG_NAME).exists()


def test_a_full_database_is_said_in_words(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'small.db'}")
    with pytest.raises(OperationalError) as caught, engine.begin() as conn:
        conn.execute(text("PRAGMA max_page_count=2"))
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        conn.execute(text("CREATE TABLE u (x TEXT)"))
        conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": "y" * 5000}] * 10)
    engine.dispose()
    said = failure_text(caught.value, tmp_path)
    assert said.startswith("The disk is full:") and "Free at least 64 MB" in said
    assert "sqlite" not in said.lower() and "INSERT" not in said


def test_a_renamed_server_is_said_and_found_by_its_original_spelling(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["servers", "add", "--host", "smtp.example.com", "--name", "St_Plain", "--auth", "none"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "'St_Plain' is saved as 'st-plain'" in err
    assert main(["servers", "edit", "St_Plain", "--port", "2525"]) == 0
    assert open_store(data_dir).server("st_plain").port == 2525
    assert main(["servers", "remove", "st_plain"]) == 0
    assert open_store(data_dir).servers() == []


def test_an_imported_name_that_is_respelled_is_said(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "in.toml"
    config.write_text(
        '[[servers]]\nhost = "a.example.com"\nname = "st_plain"\nauth_protocol = "none"\n',
        encoding="utf-8",
    )
    assert main(["config", "import", str(config)]) == 0
    assert "warning: entry 1: name: 'st_plain' is saved as 'st-plain'" in capsys.readouterr().err
