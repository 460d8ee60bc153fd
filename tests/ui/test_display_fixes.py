"""Defects a check on a real display found: the wizard's content hint and Insert field button,
the live panel's mnemonics, chart, width and size, the recipient report's size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QAbstractButton, QApplication
from sqlalchemy import select

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Counts, Ledger, Outcome, RecipientState
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import recipients
from smtpdesk.ui.live_panel import MIN_SECONDS, LivePanel
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from smtpdesk.ui.recipient_report import RecipientReport
from smtpdesk.ui.widgets import tone
from smtpdesk.ui.window_state import available_area
from tests.helpers.smtpd import SmtpdFactory, settings_for
from tests.ui.conftest import until
from tests.ui.test_campaign_flow import _recipients
from tests.ui.test_wizard import _open, _write_content

CONTENT = CampaignContent("Hello {{ name }}", "news@example.com", text="Hi {{ name }}")


async def _content_page(qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, csv: Path) -> Any:
    wizard = await _open(qtbot, window, prompts, csv)
    wizard.next()
    return wizard


async def test_empty_content_shows_a_hint_and_an_edited_wrong_field_an_error(
    qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    wizard = await _content_page(qtbot, window, prompts, _recipients(tmp_path, 3))
    page = wizard.content
    page.refresh_preview()
    text = page.error.text()
    assert text == "Fill in From address and Subject to see the preview.", text
    assert tone("muted") in page.error.styleSheet()
    qtbot.keyClicks(page.from_address, "not an address")
    page.refresh_preview()
    assert page.error.text().startswith("✖ No preview until these are correct"), page.error.text()
    assert tone("error") in page.error.styleSheet()
    wizard.reject()


async def test_insert_field_draws_its_own_arrow_after_the_text(
    qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    wizard = await _content_page(qtbot, window, prompts, _recipients(tmp_path, 3))
    button = wizard.content.insert_field
    # The style's indicator (drawn over the text's end) is hidden; the arrow is text.
    assert button.text().endswith("▾")
    assert "menu-indicator" in button.styleSheet() and "width: 0" in button.styleSheet()
    assert button.width() >= button.fontMetrics().horizontalAdvance(button.text())
    wizard.reject()


def _campaign(store: Store, name: str = "Spring Newsletter") -> int:
    ledger = Ledger(store)
    campaign = ledger.create_campaign(name, CONTENT, message_rate=1000)
    ledger.insert_recipients(
        campaign,
        [{"line": i + 2, "email": f"u{i}@example.com", "fields": {"name": "N"}} for i in range(3)],
    )
    return campaign


async def _panel(window: MainWindow, store: Store) -> LivePanel:
    campaign = _campaign(store)
    window.open_live_panel(campaign)
    panel = window.windows[f"live-{campaign}"]
    assert isinstance(panel, LivePanel)
    await until(lambda: panel.title.text() == "Spring Newsletter", what="the status")
    await until(lambda: window.bridge.pending == 0, what="the panel's reads")
    return panel


def _letter(text: str) -> str:
    text = text.replace("&&", "")
    index = text.find("&")
    return text[index + 1].lower() if index >= 0 else ""


async def test_live_panel_mnemonics_are_unique(window: MainWindow, store: Store) -> None:
    panel = await _panel(window, store)
    others = [b for b in panel.findChildren(QAbstractButton) if b is not panel.resume_button]
    letters = [_letter(b.text()) for b in others]
    letters = [letter for letter in letters if letter]
    assert len(letters) == len(set(letters)), letters
    # The Resume button is called Start on a draft: neither letter is taken by another.
    assert not {"s", "r"} & set(letters), letters
    panel.close()


async def test_live_panel_fits_an_800_px_screen(window: MainWindow, store: Store) -> None:
    panel = await _panel(window, store)
    panel.show_state("paused")
    panel.state_label.setText("● paused when smtpdesk was closed, Resume sends the rest")
    panel.show_counts(Counts(pending=269_000, sent=129_000, failed=12_345), elapsed=3725.0)
    panel.feedback.setText("Mailbox: 3 bounces, 1 complaint, 2 unsubscribes")
    assert panel.minimumSizeHint().width() <= 780, panel.minimumSizeHint()
    area = available_area(panel)
    assert panel.width() <= area.width() and panel.height() <= area.height()
    panel.close()


async def test_live_panel_restored_size_is_clamped(window: MainWindow, store: Store) -> None:
    window.ui_state.setValue("live_panel/size", QSize(3000, 2000))
    panel = await _panel(window, store)
    area = available_area(panel)
    assert panel.width() <= area.width() and panel.height() <= area.height()
    panel.close()


async def test_chart_draws_whole_seconds_over_a_sensible_axis(
    window: MainWindow, store: Store
) -> None:
    panel = await _panel(window, store)
    chart = panel.chart
    assert panel.chart_stack.currentWidget() is panel.chart_empty
    assert panel.chart_empty.text() == "No sending in this session yet"
    samples = [(0.0, 0), (0.5, 5), (0.9, 10), (1.3, 12)]
    for elapsed, sent in samples:
        panel.chart.add(elapsed, sent, 0)
    xs, ys = chart.sent_curve.getData()
    # Second 0 (10 sent) is complete; second 1 (2 so far) is still filling up: not drawn.
    assert list(xs) == [0] and list(ys) == [10]
    assert chart.sent_curve.opts["symbol"] == "o"  # one point shows as a dot
    left, right = chart.getViewBox().viewRange()[0]
    assert right - left >= MIN_SECONDS
    panel.close()


async def test_recipient_report_fits_the_screen(window: MainWindow, store: Store) -> None:
    campaign = _campaign(store)
    report = RecipientReport(window.bridge, campaign, parent=window)
    report.show()
    await until(lambda: report.model.count == 3, what="the count")
    area = available_area(report)
    assert report.frameGeometry().width() <= area.width()
    assert report.frameGeometry().height() <= area.height()
    assert area.contains(report.frameGeometry()), (area, report.frameGeometry())
    report.close()
    await until(lambda: window.bridge.pending == 0, what="the reads")
    QApplication.processEvents()


async def test_review_shows_the_rendered_subject_and_the_connections_the_server_allows(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    data = settings_for(await smtpd_factory("plain")).to_dict()
    data.pop("uuid")
    data["max_conns"] = 4
    assert save_server(store, data).settings is not None
    wizard = await _content_page(qtbot, window, prompts, _recipients(tmp_path, 3))
    _write_content(qtbot, wizard, "Hello {{ name }}")
    wizard.next()
    await until(wizard.delivery.isComplete, what="the messengers")
    wizard.delivery.concurrency.setValue(10)
    wizard.next()
    wizard.next()
    assert wizard.currentPage() is wizard.review
    page = wizard.review
    await until(lambda: page.review is not None, what="the review")
    summary = page.summary.text()
    assert "Subject: Hello User 0 <i>(for the first recipient)</i>" in summary, summary
    assert page.summary.toolTip() == "Subject template: Hello {{ name }}"
    assert "4 at a time (the servers allow 4 connections; 10 asked)" in summary, summary
    assert "No warnings.<" not in page.warnings.text()
    if "✔" in page.warnings.text():
        assert "No warnings about the content." in page.warnings.text()
    wizard.reject()


async def test_after_a_restart_the_servers_table_counts_the_whole_campaign(
    window: MainWindow, store: Store
) -> None:
    saved = save_server(store, {"host": "a.example.org", "name": "alpha"}).settings
    assert saved is not None
    campaign = _campaign(store)
    ledger = Ledger(store)
    with store.engine.connect() as conn:
        ids = (
            conn.execute(select(recipients.c.id).where(recipients.c.campaign_id == campaign))
            .scalars()
            .all()
        )
    ledger.apply([Outcome(n, RecipientState.SENT, 1, server_uuid=saved.uuid) for n in ids[:2]])
    window.open_live_panel(campaign)
    panel = window.windows[f"live-{campaign}"]
    assert isinstance(panel, LivePanel)
    await until(lambda: panel.servers.rowCount() == 1, what="the stored server figures")
    cells = [panel.servers.item(0, c).text() for c in range(panel.servers.columnCount())]
    assert cells[0] == "alpha" and cells[2] == "2" and cells[3] == "0", cells
    assert cells[5] == "–"  # no send timed in this session
    assert panel.counters["sent"].text() == "2"
    assert panel.chart_stack.currentWidget() is panel.chart_empty
    panel.close()


async def test_main_window_fits_800x600_at_a_scale_of_1_5(window: MainWindow) -> None:
    """800x600 pixels at 150% is 533x400 logical pixels: every tab, at its least size, fits
    (the Performance page once needed 430 of them and the window 536x530)."""
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        least = window.minimumSizeHint()
        assert least.width() <= 533 and least.height() <= 400 - 30, (
            window.tabs.tabText(index),
            least,
        )
