"""The wizard from file to Send against an aiosmtpd sink, then the live panel's controls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWizard

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger
from smtpdesk.core.campaign.progress import Tally
from smtpdesk.core.servers import save_server
from smtpdesk.core.smtp.types import Diagnosis
from smtpdesk.core.store import Store
from smtpdesk.ui.live_panel import LivePanel
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from smtpdesk.ui.wizard.review_page import format_seconds
from smtpdesk.ui.wizard.wizard import CampaignWizard
from tests.helpers.smtpd import Faults, SmtpdFactory, SmtpdServer, settings_for
from tests.ui.conftest import until


def _recipients(tmp_path: Path, count: int) -> Path:
    lines = ["email,name"] + [f"user{i}@example.com,User {i}" for i in range(count)]
    lines += ["not-an-address,Broken", "user1@example.com,Again"]
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _add_server(store: Store, server: SmtpdServer, name: str = "") -> None:
    data = settings_for(server).to_dict()
    data.pop("uuid")
    data["name"] = name
    assert save_server(store, data).settings is not None


async def _through_wizard(
    qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, csv: Path, sink: SmtpdServer
) -> CampaignWizard:
    window.campaign_action.trigger()
    wizard = window.windows["wizard"]
    assert isinstance(wizard, CampaignWizard)
    page = wizard.recipients
    prompts.answers = [str(csv)]
    qtbot.mouseClick(page.choose, Qt.MouseButton.LeftButton)
    await until(page.isComplete, what="the import", describe=page.summary.text)

    assert "valid · 1 invalid · 1 duplicate" in page.summary.text()
    assert "line 2" not in page.problems.toPlainText()
    assert "not-an-address" in page.problems.toPlainText()
    wizard.next()
    content = wizard.content
    qtbot.keyClicks(content.subject, "Hello {{ name }}")
    qtbot.keyClicks(content.from_address, "news@example.com")
    await until(lambda: "Hello User 0" in content.preview_subject.text(), what="the preview")
    assert "User 0" in content.preview_html.toPlainText()
    wizard.next()
    await until(lambda: wizard.delivery.isComplete(), what="the messengers")
    wizard.delivery.rate.setValue(1000)
    wizard.next()
    qtbot.keyClicks(wizard.test_send.to, "me@example.com")
    qtbot.mouseClick(wizard.test_send.send, Qt.MouseButton.LeftButton)
    await until(lambda: "accepted" in wizard.test_send.result.text(), what="the test send")
    assert sink.messages[-1].rcpt_tos == ["me@example.com"]
    wizard.next()
    await until(wizard.review.isComplete, what="the review")
    return wizard


async def test_wizard_from_file_to_send_and_panel_reaches_total(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    sink = await smtpd_factory("plain")
    _add_server(store, sink)
    wizard = await _through_wizard(qtbot, window, prompts, _recipients(tmp_path, 40), sink)
    assert "<b>40</b> recipients" in wizard.review.summary.text()
    campaign_id = wizard.state.campaign_id
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.FinishButton), Qt.MouseButton.LeftButton)
    await until(lambda: f"live-{campaign_id}" in window.windows, what="the live panel")
    panel = window.windows[f"live-{campaign_id}"]
    assert isinstance(panel, LivePanel)
    await until(lambda: panel.control.state == "finished", limit=60, what="the campaign")
    assert panel.counters["sent"].text() == "40"
    assert panel.counters["total"].text() == "40"
    assert panel.counters["pending"].text() == "0"
    assert panel.bar.value() == panel.bar.maximum() == 40
    assert len(sink.messages) == 41  # the test send and the 40 recipients
    assert Ledger(store).counts(campaign_id).sent == 40  # type: ignore[arg-type]


async def test_pause_and_resume_through_the_buttons(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    sink = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.05}))
    _add_server(store, sink)
    wizard = await _through_wizard(qtbot, window, prompts, _recipients(tmp_path, 60), sink)
    wizard.delivery.concurrency.setValue(2)
    campaign_id = wizard.state.campaign_id
    wizard.accept()
    await until(lambda: f"live-{campaign_id}" in window.windows, what="the live panel")
    panel = window.windows[f"live-{campaign_id}"]
    assert isinstance(panel, LivePanel)
    await until(lambda: panel.pause_button.isEnabled() and len(sink.messages) > 3)
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    await until(lambda: panel.control.state == "paused", what="the pause")
    sent_when_paused = len(sink.messages)
    assert sent_when_paused < 61
    assert panel.resume_button.isEnabled() and not panel.pause_button.isEnabled()
    assert "paused" in panel.state_label.text()
    server_sent_when_paused = int(panel.servers.item(0, 2).text())
    assert server_sent_when_paused > 0
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    await until(lambda: panel.control.state == "finished", limit=60, what="the campaign")
    assert panel.counters["sent"].text() == "60"
    assert len(sink.messages) == 61
    # the server's figures go on from where the first run left them, not from zero
    assert panel.servers.rowCount() == 1
    assert panel.servers.item(0, 2).text() == "60"


async def test_content_page_shows_problems_beside_fields_and_blocks_next(
    qtbot: Any,
    window: MainWindow,
    prompts: ScriptedPrompts,
    tmp_path: Path,
) -> None:
    window.campaign_action.trigger()
    wizard = window.windows["wizard"]
    assert isinstance(wizard, CampaignWizard)
    prompts.answers = [str(_recipients(tmp_path, 3))]
    qtbot.mouseClick(wizard.recipients.choose, Qt.MouseButton.LeftButton)
    await until(wizard.recipients.isComplete, what="the import")
    wizard.next()
    page = wizard.content
    assert not page.isComplete()
    assert page.rows["from_address"].message_text == ""  # untouched: nothing to point at yet
    qtbot.keyClicks(page.subject, "Hello {{ name }}")
    qtbot.keyClicks(page.from_address, "News <news@example.com>")
    assert "not valid" in page.rows["from_address"].message_text
    assert "From name" in page.rows["from_address"].message_text
    assert not page.isComplete()
    page.refresh_preview()
    assert "From address" in page.error.text() and "IndexError" not in page.error.text()
    page.from_address.selectAll()
    qtbot.keyClicks(page.from_address, "news@example.com")
    qtbot.keyClicks(page.reply_to, "help@")
    assert "Reply-To" in page.rows["reply_to"].message_text
    assert not page.isComplete()
    page.reply_to.clear()
    assert page.isComplete() and page.rows["from_address"].message_text == ""
    page.from_address.selectAll()
    qtbot.keyClick(page.from_address, Qt.Key.Key_Backspace)
    assert "required" in page.rows["from_address"].message_text  # edited, then emptied
    assert not page.isComplete()
    wizard.reject()


async def test_live_panel_titles_error_groups_by_cause(window: MainWindow, store: Store) -> None:
    campaign = Ledger(store).create_campaign(
        "c", CampaignContent("s", "news@example.com", text="t")
    )
    window.open_live_panel(campaign)
    panel = window.windows[f"live-{campaign}"]
    assert isinstance(panel, LivePanel)
    await window.bridge.drain()  # the stored figures are shown first
    tally = Tally.from_counts(Counts(pending=3))
    for email in ("bounce1363@example.com", "bounce7@example.com"):
        diagnosis = Diagnosis(
            "recipient_refused",
            f"127.0.0.1:34191 refused the recipient {email!r} (550)",
            ("Check the address; the mailbox may not exist.",),
            code=550,
        )
        tally.fail(diagnosis, email)
    panel.show_progress(tally.snapshot(campaign, CampaignState.RUNNING, servers=()))
    assert panel.errors.topLevelItemCount() == 1
    top = panel.errors.topLevelItem(0)
    assert top is not None
    assert (top.text(0), top.text(1)) == ("Recipient refused (550)", "2")
    lines = [top.child(i).text(0) for i in range(top.childCount())]
    assert "Hint: Check the address; the mailbox may not exist." in lines
    assert "Recipients: bounce1363@example.com, bounce7@example.com" in lines


async def test_elapsed_and_chart_go_on_after_resume(
    qtbot: Any, window: MainWindow, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.1}))
    _add_server(store, sink)
    ledger = Ledger(store)
    content = CampaignContent("Hi", "news@example.com", text="Hello")
    campaign = ledger.create_campaign("slow", content, concurrency=1, message_rate=1000)
    rows = [{"line": i + 2, "email": f"u{i}@example.com", "fields": {}} for i in range(25)]
    ledger.insert_recipients(campaign, rows)
    window.open_live_panel(campaign, autorun=True)
    panel = window.windows[f"live-{campaign}"]
    assert isinstance(panel, LivePanel)
    # Long enough that the chart has more than one second and a restart would show.
    await until(
        lambda: panel.control.last is not None and panel.control.last.elapsed > 1.2,
        what="a second of sending",
    )
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    await until(lambda: panel.control.state == "paused", what="the pause")
    assert panel.control.last is not None
    paused_elapsed = panel.control.last.elapsed
    bins_when_paused = {x: list(v) for x, v in panel.chart._bins.items()}
    last_second = max(bins_when_paused)
    assert last_second >= 1
    seen: list[float] = []
    panel.control.progress.connect(lambda p: seen.append(p.elapsed))
    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    await until(lambda: panel.control.state == "finished", limit=60, what="the campaign")
    assert seen and min(seen) >= paused_elapsed  # the clock goes on, not from zero
    assert panel.counters["elapsed"].text() == format_seconds(seen[-1])
    changed = [x for x, v in panel.chart._bins.items() if bins_when_paused.get(x) != v]
    assert changed and min(changed) >= last_second  # the resumed run is drawn after it
    assert sum(v[0] for v in panel.chart._bins.values()) == 25
