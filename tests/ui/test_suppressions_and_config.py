"""What only the CLI could do before, now in the GUI: the suppression list, config import and
export; and campaign dates written the locale's way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale

from smtpdesk.core import secrets
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger, Outcome, RecipientState
from smtpdesk.core.campaign.suppressions import SuppressionList
from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.store import Store
from smtpdesk.ui.campaigns_window import CampaignsView
from smtpdesk.ui.live_panel import LivePanel
from smtpdesk.ui.local_time import format_when
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from smtpdesk.ui.recipient_report import ERROR, REPLY, WIDEST_ERROR, RecipientReport
from smtpdesk.ui.suppressions_window import SuppressionsWindow
from tests.ui.conftest import until

SCHEDULE = datetime(2030, 1, 31, 15, 20).timestamp()  # local time


@pytest.fixture
def german() -> Iterator[None]:
    previous = QLocale()
    QLocale.setDefault(QLocale(QLocale.Language.German, QLocale.Country.Germany))
    yield
    QLocale.setDefault(previous)


async def test_suppression_list_add_remove_import(
    window: MainWindow, store: Store, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    SuppressionList(store).suppress(["old@example.com"], "bounced")
    window.suppressions_action.trigger()
    view = window.windows["suppressions"]
    assert isinstance(view, SuppressionsWindow)
    await until(lambda: view.model.rowCount() == 1, what="the stored list")
    assert view.model.shown[0].reason == "bounced"

    view.addresses.setText("A@Example.com, not-an-address")
    view.add_button.click()
    assert "Not an address: not-an-address" in view.message.text()
    await window.bridge.drain()
    assert view.model.rowCount() == 1  # nothing added while one is wrong

    view.addresses.setText("a@example.com b@example.com")
    view.reason.setCurrentText("unsubscribed")
    view.add_button.click()
    await until(lambda: view.model.rowCount() == 3, what="the added addresses")
    assert {(s.email, s.reason) for s in SuppressionList(store).suppressed()} == {
        ("old@example.com", "bounced"),
        ("a@example.com", "unsubscribed"),
        ("b@example.com", "unsubscribed"),
    }

    view.search.setText("old")
    assert view.model.rowCount() == 1 and view.count_label.text() == "1 of 3"
    view.table.selectRow(0)
    prompts.answers = [True]
    view.remove_button.click()
    assert "Remove old@example.com?" in prompts.asked[-1]
    view.search.clear()
    await until(lambda: view.model.rowCount() == 2, what="the removal")

    listing = tmp_path / "bounces.csv"
    listing.write_text("email,name\nc@example.com,C\nd@example.com,D\n", encoding="utf-8")
    prompts.answers = [str(listing)]
    view.import_button.click()
    await until(lambda: view.model.rowCount() == 4, what="the import")
    assert "2 addresses suppressed from" in view.message.text()


async def test_config_export_then_import_through_the_file_menu(
    window: MainWindow, store: Store, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    store.put_server(ServerSettings(host="smtp.example.com", port=587, name="outbound"))
    target = tmp_path / "smtpdesk-config"
    prompts.answers = [str(target)]
    window.export_action.trigger()
    exported = target.with_suffix(".toml")
    await until(exported.exists, what="the export")
    assert 'host = "smtp.example.com"' in exported.read_text(encoding="utf-8")
    assert exported.stat().st_mode & 0o777 == 0o600  # it names every server (issue 9)

    listmonk = tmp_path / "listmonk.json"
    entry = {"host": "mail.example.org", "port": 465, "tls_type": "TLS", "name": "lm"}
    entry |= {"auth_protocol": "login", "username": "me", "password": "pw-from-file"}
    listmonk.write_text(json.dumps({"data": {"smtp": [entry]}}), encoding="utf-8")
    prompts.answers = [str(listmonk), False]
    window.import_action.trigger()
    await until(lambda: len(prompts.asked) == 3, what="the confirmation")
    assert "Import 1 server (lm), 1 password into the keyring" in prompts.asked[-1]
    await window.bridge.drain()
    assert [s.name for s in store.servers()] == ["outbound"]  # declined: nothing written

    prompts.answers = [str(listmonk), True]
    window.import_action.trigger()
    await until(lambda: len(store.servers()) == 2, what="the import")
    imported = next(s for s in store.servers() if s.name == "lm")
    assert secrets.get_password(imported.uuid) == "pw-from-file"
    await until(
        lambda: len(window.servers.servers) == 2, what="the servers page to show the import"
    )

    broken = tmp_path / "broken.toml"
    broken.write_text('[[servers]]\nhost = ""\nport = 99999\n', encoding="utf-8")
    messages: list[tuple[str, str, str]] = []
    window.bridge.notifier.message.connect(lambda *m: messages.append(m))
    prompts.answers = [str(broken)]
    window.import_action.trigger()
    await until(lambda: bool(messages), what="the refusal")
    level, text, hint = messages[-1]
    assert level == "error" and "nothing was changed" in text and "port" in hint
    assert len(store.servers()) == 2


async def test_schedule_and_dates_in_the_locale_format(
    window: MainWindow, store: Store, german: None
) -> None:
    assert format_when(SCHEDULE).startswith("31.01.2030 ")
    ledger = Ledger(store)
    campaign = ledger.create_campaign(
        "later", CampaignContent("s", "news@example.com", text="t"), send_at=SCHEDULE
    )
    ledger.insert_recipients(campaign, [{"line": 2, "email": "a@example.com", "fields": {}}])
    window.open_live_panel(campaign, autorun=True)  # waits for its time
    panel = window.windows[f"live-{campaign}"]
    assert isinstance(panel, LivePanel)
    try:
        await until(
            lambda: "31.01.2030" in panel.state_label.text(),
            what="the panel",
            describe=panel.state_label.text,
        )
        window.tabs.setCurrentWidget(window.campaigns_tab)
        view = window.campaigns_view()
        assert isinstance(view, CampaignsView)
        expected = f"scheduled for {format_when(SCHEDULE)}"
        await until(lambda: _cell(view, 0, 2) == expected, what="the list")
    finally:
        panel.control.pause()
        await until(lambda: not panel.control.running, what="the pause")


def _cell(view: CampaignsView, row: int, column: int) -> str:
    item = view.table.item(row, column)
    return item.text() if item is not None else ""


def test_dates_without_a_locale_are_iso() -> None:
    previous = QLocale()
    QLocale.setDefault(QLocale.c())
    try:
        assert format_when(SCHEDULE, seconds=True)[:10] == "2030-01-31"
        assert len(format_when(SCHEDULE)) == len("2030-01-31 15:20")
    finally:
        QLocale.setDefault(previous)


async def test_report_error_column_fits_its_errors(window: MainWindow, store: Store) -> None:
    ledger = Ledger(store)
    content = CampaignContent("s", "news@example.com", text="t")
    quiet = ledger.create_campaign("quiet", content)
    rows = [{"line": i + 2, "email": f"u{i}@example.com", "fields": {}} for i in range(3)]
    ledger.insert_recipients(quiet, rows)
    sent = [
        Outcome(r.id, RecipientState.SENT, 1, sent_at=SCHEDULE) for r in ledger.recipients(quiet)
    ]
    ledger.apply(sent)
    report = RecipientReport(window.bridge, quiet, parent=window)
    report.show()
    await until(lambda: bool(report.model.pages), what="the first page")
    await window.bridge.drain()
    narrow = report.table.columnWidth(ERROR)
    assert narrow < 120  # nothing failed: the column is as wide as its title
    time_text = report.model.data(report.model.index(0, 6))
    metrics = report.table.fontMetrics()
    assert report.table.columnWidth(6) > metrics.horizontalAdvance(time_text)
    short = [report.table.columnWidth(c) for c in (0, 3)]  # line, attempts
    assert max(short) < 120 < report.table.columnWidth(REPLY)  # the reply gets the room
    # the state column is as wide as its longest value ("sent, complained…"), no wider
    assert report.table.columnWidth(2) < report.table.columnWidth(REPLY)
    report.close()

    noisy = ledger.create_campaign("noisy", content)
    ledger.insert_recipients(noisy, rows)
    error = "550 5.1.1 The email account that you tried to reach does not exist " * 4
    ledger.apply(
        [Outcome(r.id, RecipientState.FAILED, 1, error=error) for r in ledger.recipients(noisy)]
    )
    report = RecipientReport(window.bridge, noisy, parent=window)
    report.show()
    await until(lambda: bool(report.model.pages), what="the first page")
    await window.bridge.drain()
    assert narrow < report.table.columnWidth(ERROR) <= WIDEST_ERROR
    report.close()


async def test_wizard_schedule_field_in_the_locale_format(window: MainWindow, german: None) -> None:
    window.campaign_action.trigger()
    wizard = window.windows["wizard"]
    when = wizard.delivery.when  # type: ignore[attr-defined]
    assert when.displayFormat() == "dd.MM.yyyy HH:mm"
    wizard.reject()
