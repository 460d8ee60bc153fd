"""``campaign create`` is all or nothing: a failed or killed import leaves no campaign.

Before, the campaign was inserted first: a bad byte deep in the file, a missing column,
an unknown messenger, a full disk or a kill left a half-imported draft that could be sent.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from smtpdesk.cli import main
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.errors import KnownError
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import db, open_store
from smtpdesk.core.store.schema import campaigns, recipients


def people(tmp_path: Path, count: int, tail: bytes = b"") -> Path:
    path = tmp_path / "people.csv"
    with path.open("wb") as handle:
        handle.write(b"email,name\n")
        handle.writelines(b"p%d@example.com,Person %d\n" % (i, i) for i in range(count))
        handle.write(tail)
    return path


def create(tmp_path: Path, recipients_file: Path, *extra: str) -> int:
    body = tmp_path / "body.html"
    body.write_text("<p>Hello {{ name }}</p>", encoding="utf-8")
    argv = [
        "campaign",
        "create",
        "--name",
        "spring",
        "--recipients",
        str(recipients_file),
        "--subject",
        "Hi",
        "--from",
        "news@example.com",
        "--html-file",
        str(body),
        *extra,
    ]
    return main(argv)


def rows_in(data_dir: Path) -> tuple[int, int]:
    store = open_store(data_dir)
    try:
        with store.connect() as conn:
            found = conn.execute(select(func.count()).select_from(campaigns)).scalar_one()
            lines = conn.execute(select(func.count()).select_from(recipients)).scalar_one()
    finally:
        store.close()
    return int(found), int(lines)


def file_hash(data_dir: Path) -> str:
    return hashlib.sha256((data_dir / db.DB_NAME).read_bytes()).hexdigest()


@pytest.fixture
def ready(data_dir: Path) -> Path:
    store = open_store(data_dir)
    save_server(store, {"host": "smtp.example.com", "name": "st_plain", "auth_protocol": "none"})
    store.close()
    return data_dir


def test_a_bad_byte_after_200_kb_leaves_no_campaign(
    ready: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = people(tmp_path, 8000, tail=b"late@example.com,Caf\xe9\n")
    assert path.stat().st_size > 200_000
    assert create(tmp_path, path) == 2
    err = capsys.readouterr().err
    assert "line 8002" in err and "Traceback" not in err
    assert rows_in(ready) == (0, 0)


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (("--address-column", "mail"), "has no column 'mail'"),
        (("--messenger", "nope"), "There is no messenger 'nope'"),
        (("--send-at", "next tuesday"), "--send-at: 'next tuesday' is not a date and time"),
        (("--rate", "-1"), "message_rate"),
        (("--attach", "/no/such/file.pdf"), "--attach: /no/such/file.pdf is not a readable file"),
    ],
)
def test_refused_before_anything_is_written(
    ready: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    said: str,
) -> None:
    path = people(tmp_path, 10)
    before = file_hash(ready)
    assert create(tmp_path, path, *extra) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1
    assert file_hash(ready) == before


def test_attachments_are_kept_with_their_absolute_path(
    ready: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "terms.pdf").write_bytes(b"%PDF-1.4")
    monkeypatch.chdir(tmp_path)
    sent_by = ("--messenger", "st-plain")  # the pool `email` is empty: Review would refuse
    assert create(tmp_path, people(tmp_path, 2), "--attach", "terms.pdf", *sent_by) == 0
    campaign_id = int(capsys.readouterr().out.strip().splitlines()[-1])
    store = open_store(ready)
    try:
        attachments = Ledger(store).campaign(campaign_id).content.attachments
    finally:
        store.close()
    assert attachments == (str(tmp_path / "terms.pdf"),)  # sending may start elsewhere


def test_no_valid_recipient_is_bad_input(
    ready: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("email\nnot-an-address\nalso bad\n", encoding="utf-8")
    assert create(tmp_path, path) == 2
    assert "no valid recipient" in capsys.readouterr().err
    assert rows_in(ready) == (0, 0)


def test_the_original_spelling_of_a_messenger_is_accepted(
    ready: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert create(tmp_path, people(tmp_path, 3), "--messenger", "st_plain") == 0
    campaign_id = int(capsys.readouterr().out.strip().splitlines()[-1])
    store = open_store(ready)
    try:
        campaign = Ledger(store).campaign(campaign_id)
    finally:
        store.close()
    assert campaign.messenger == "st-plain" and campaign.state == CampaignState.DRAFT


def test_a_full_disk_leaves_no_campaign_and_says_so(
    ready: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = people(tmp_path, 20000)
    pages = db_pages(ready) + 40  # room for the campaign row, not for 20,000 recipients
    original = db._on_connect

    def small_disk(dbapi_conn: Any, record: Any) -> None:
        original(dbapi_conn, record)
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    monkeypatch.setattr(db, "_on_connect", small_disk)
    assert create(tmp_path, path) == 1
    err = capsys.readouterr().err
    assert "The disk is full" in err and "Free at least" in err, err
    assert "sqlite" not in err.lower() and "INSERT" not in err and "Traceback" not in err
    monkeypatch.setattr(db, "_on_connect", original)
    assert rows_in(ready) == (0, 0)


def db_pages(data_dir: Path) -> int:
    store = open_store(data_dir)
    try:
        with store.connect() as conn:
            return int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
    finally:
        store.close()


def test_an_import_left_by_a_dead_process_is_removed_at_the_next_start(ready: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store = open_store(ready)
    ledger = Ledger(store)
    content = CampaignContent("Hi", "news@example.com", text="x")
    abandoned = ledger.create_campaign("cut short", content, importing=True)
    ours = ledger.create_campaign("still importing", content, importing=True)
    ledger.insert_recipients(abandoned, [{"line": 2, "email": "a@example.com", "fields": {}}])
    with store.engine.begin() as conn:
        conn.execute(
            campaigns.update().where(campaigns.c.id == abandoned).values(runner_pid=gone.pid)
        )
    with pytest.raises(KnownError, match="still being imported"):
        ledger.claim_runner(ours, os.getpid() + 1)
    store.close()

    store = open_store(ready)
    try:
        kept = [c.id for c in Ledger(store).list_campaigns()]
    finally:
        store.close()
    assert kept == [ours]  # the live importer's campaign stays, never sendable


def test_a_kill_during_the_import_leaves_nothing_after_the_next_start(
    ready: Path, tmp_path: Path
) -> None:
    path = people(tmp_path, 400_000)
    body = tmp_path / "body.txt"
    body.write_text("Hello", encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, "-m", "smtpdesk", "--data-dir", str(ready), "campaign", "create",
         "--name", "big", "--recipients", str(path), "--subject", "Hi",
         "--from", "news@example.com", "--text-file", str(body)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not importing_rows(ready):
            assert child.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    assert rows_in(ready) == (0, 0)  # the store open in rows_in removed the half import


def importing_rows(data_dir: Path) -> int:
    """Recipients of a campaign still importing, read without opening a Store."""
    engine = db.create_sqlite_engine(data_dir / db.DB_NAME)
    try:
        with engine.connect() as conn:
            query = (
                select(func.count())
                .select_from(recipients.join(campaigns))
                .where(campaigns.c.state == CampaignState.IMPORTING)
            )
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def test_without_pids_to_probe_a_lapsed_import_lease_is_removed(
    ready: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Windows: no pid probe, so an import whose batches stopped renewing it has ended."""
    store = open_store(ready)
    try:
        ledger = Ledger(store)
        content = CampaignContent("Hi", "news@example.com", text="x")
        lapsed = ledger.create_campaign("lapsed", content, importing=True)
        fresh = ledger.create_campaign("fresh", content, importing=True)
        with store.engine.begin() as conn:
            old = time.time() - 3600
            conn.execute(
                campaigns.update().where(campaigns.c.id == lapsed).values(runner_heartbeat=old)
            )
        with monkeypatch.context() as patch:
            patch.setattr(os, "name", "nt")
            assert ledger.discard_abandoned_imports() == 1
        assert [c.id for c in ledger.list_campaigns()] == [fresh]
    finally:
        store.close()
