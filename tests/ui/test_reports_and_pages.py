"""The recipient report's lazy model, the Performance page, the inbox and window state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel, QSplitter

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger, Outcome, RecipientState
from smtpdesk.core.store import Store
from smtpdesk.ui.app import build_main_window
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from smtpdesk.ui.recipient_report import CACHED_PAGES, PAGE, RecipientReport
from tests.ui.conftest import until


def _campaign(store: Store, count: int) -> int:
    ledger = Ledger(store)
    campaign = ledger.create_campaign("big", CampaignContent("Hi", "news@example.com", html="x"))
    ledger.insert_recipients(
        campaign,
        [{"line": i + 2, "email": f"r{i}@example.com", "fields": {}} for i in range(count)],
    )
    return campaign


async def test_report_fetches_only_the_pages_shown(
    window: MainWindow, store: Store, prompts: ScriptedPrompts
) -> None:
    count = PAGE * (CACHED_PAGES + 30)
    campaign = _campaign(store, count)
    report = RecipientReport(window.bridge, campaign, prompts, parent=window)
    model = report.model
    await until(lambda: model.rowCount() == count, what="the count")
    assert model.pages == {}
    last = model.index(count - 1, 1)
    assert model.data(last) == "…"  # not loaded yet: a placeholder, and a fetch starts
    await until(lambda: model.data(last) == f"r{count - 1}@example.com", what="the last page")
    assert list(model.pages) == [count // PAGE - 1]
    for page in range(CACHED_PAGES + 5):
        model.data(model.index(page * PAGE, 0))
    await window.bridge.drain()
    assert len(model.pages) == CACHED_PAGES  # the cache stays bounded
    report.close()


async def test_report_reads_deep_pages_by_id_not_offset(
    window: MainWindow, store: Store, prompts: ScriptedPrompts
) -> None:
    count = PAGE * 12 + 7
    campaign = _campaign(store, count)
    ledger = Ledger(store)
    ids = [rid for rid, _, _ in ledger.claim(campaign, 0, count)]
    ledger.apply([Outcome(rid, RecipientState.SENT) for rid in ids[::2]])
    report = RecipientReport(window.bridge, campaign, prompts, parent=window)
    model = report.model
    offsets: list[int] = []
    by_offset = model.ledger.recipients

    def spy(campaign_id: int, state: Any = None, offset: int = 0, limit: int = 100) -> Any:
        offsets.append(offset)
        return by_offset(campaign_id, state, offset, limit)

    model.ledger.recipients = spy  # type: ignore[method-assign]
    for state, total in (("sent", (count + 1) // 2), (None, count)):
        report.filter.setCurrentIndex(0 if state is None else report.filter.findData(state))
        await until(lambda total=total: model.rowCount() == total, what="the count")
        await until(lambda: model.starts is not None, what="the page index")
        last = model.index(total - 1, 1)
        model.data(last)
        want = f"r{count - 1 if state is None else count - 1 - (count - 1) % 2}@example.com"
        await until(lambda last=last, want=want: model.data(last) == want, what="the last page")
        middle = model.index(total // 2, 1)
        model.data(middle)
        await until(lambda middle=middle: model.data(middle) != "…", what="a middle page")
        emails = [r.email for r in ledger.recipients(campaign, state, total // 2, 1)]
        assert model.data(middle) == emails[0]
    assert [o for o in offsets if o > 0] == []  # every deep page was a keyset read
    report.close()


async def test_report_filters_by_state_and_exports_csv(
    window: MainWindow, store: Store, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    campaign = _campaign(store, 50)
    ledger = Ledger(store)
    first = ledger.recipients(campaign, limit=3)
    ledger.apply(
        [Outcome(r.id, RecipientState.FAILED, 1, "refused", "recipient_refused") for r in first]
    )
    report = RecipientReport(window.bridge, campaign, prompts, parent=window)
    await until(lambda: report.model.rowCount() == 50)
    report.filter.setCurrentIndex(report.filter.findData("pending"))
    await until(lambda: report.model.rowCount() == 47, what="the filter")
    report.filter.setCurrentIndex(report.filter.findData("failed"))
    await until(lambda: report.model.rowCount() == 3, what="the filter")
    await until(lambda: report.model.data(report.model.index(0, 4)) == "refused")
    out = tmp_path / "report.csv"
    prompts.answers = [str(out)]
    report.export()
    await until(out.exists, what="the CSV export")
    await window.bridge.drain()
    assert out.read_text(encoding="utf-8").count("@example.com") == 50
    report.close()


async def test_performance_page_saves_valid_defaults_only(
    qtbot: Any, window: MainWindow, store: Store
) -> None:
    page = window.performance
    window.tabs.setCurrentWidget(page)
    page.lines["concurrency"].clear()
    qtbot.keyClicks(page.lines["concurrency"], "0")
    assert "between 1 and 1000" in page.rows["concurrency"].message_text
    assert not page.save_button.isEnabled()
    page.lines["concurrency"].clear()
    qtbot.keyClicks(page.lines["concurrency"], "25")
    page.lines["message_rate"].clear()
    qtbot.keyClicks(page.lines["message_rate"], "2.5")
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    await until(lambda: store.app_settings().concurrency == 25, what="the save")
    assert store.app_settings().message_rate == 2.5


async def test_performance_page_sets_the_worker_processes(
    qtbot: Any, window: MainWindow, store: Store
) -> None:
    page = window.performance
    window.tabs.setCurrentWidget(page)
    await until(lambda: page.lines["worker_processes"].text() == "auto", what="the load")
    page.lines["worker_processes"].clear()
    qtbot.keyClicks(page.lines["worker_processes"], "99")
    assert "between 0 and 64" in page.rows["worker_processes"].message_text
    assert not page.save_button.isEnabled()
    page.lines["worker_processes"].clear()
    qtbot.keyClicks(page.lines["worker_processes"], "0")
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    await until(lambda: store.app_settings().worker_processes == 0, what="the save")


async def test_window_size_and_splitter_are_remembered(
    qtbot: Any, store: Store, prompts: ScriptedPrompts
) -> None:
    first = build_main_window(store, prompts)
    first.show()
    first.resize(760, 560)
    first.servers.splitter.setSizes([200, 700])
    sizes = first.servers.splitter.sizes()
    first.close()
    await first.bridge.drain()
    state = QSettings(str(store.folder / "window-state.ini"), QSettings.Format.IniFormat)
    assert state.contains("main/size")
    second = build_main_window(store, prompts)
    second.show()
    assert second.size().width() == 760 and second.size().height() == 560
    assert second.servers.splitter.sizes() == sizes
    second.close()
    await second.bridge.drain()


async def test_inbox_lists_and_renders_captured_messages(window: MainWindow, store: Store) -> None:
    from smtpdesk.core.smtp.sandbox import sandbox_dir
    from smtpdesk.ui.inbox_window import InboxWindow

    inbox_dir = sandbox_dir(store.folder) / "inbox"
    inbox_dir.mkdir(parents=True)
    (inbox_dir / "0001.eml").write_bytes(
        b"From: news@example.com\r\nTo: ada@example.com\r\nSubject: Spring news\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<h2>Hello Ada</h2><p>Out now.</p>\r\n"
    )
    inbox = InboxWindow(window.bridge, window.sandbox, parent=window)
    await until(lambda: inbox.list.topLevelItemCount() == 1, what="the inbox list")
    assert inbox.list.topLevelItem(0).text(3) == "Spring news"
    await until(lambda: "Hello Ada" in inbox.rendered.toPlainText(), what="the rendering")
    assert "<h2>Hello Ada</h2>" in inbox.source.toPlainText()
    inbox.close()


async def test_inbox_shows_local_dates_closes_on_esc_and_has_unique_alt_letters(
    qtbot: Any, window: MainWindow, store: Store
) -> None:
    from PySide6.QtWidgets import QAbstractButton, QTabWidget

    from smtpdesk.core.smtp.sandbox import sandbox_dir
    from smtpdesk.ui.inbox_window import InboxWindow
    from smtpdesk.ui.local_time import format_when
    from tests.ui.test_mnemonics import mnemonic

    inbox_dir = sandbox_dir(store.folder) / "inbox"
    inbox_dir.mkdir(parents=True)
    date = "Tue, 01 Dec 2026 03:04:05 +0000"
    (inbox_dir / "0001.eml").write_bytes(
        f"From: a@example.com\r\nTo: b@example.com\r\nSubject: Hi\r\nDate: {date}\r\n"
        "\r\nHello\r\n".encode()
    )
    inbox = InboxWindow(window.bridge, window.sandbox, parent=window)
    inbox.show()
    await until(lambda: inbox.list.topLevelItemCount() == 1, what="the inbox list")
    shown = inbox.list.topLevelItem(0).text(0)
    assert shown == format_when(1796094245.0) and shown != date
    letters = [mnemonic(b.text()) for b in inbox.findChildren(QAbstractButton) if b.isVisible()]
    [tabs] = inbox.findChildren(QTabWidget)
    letters += [mnemonic(tabs.tabText(i)) for i in range(tabs.count())]
    letters = [x for x in letters if x]
    assert len(letters) == len(set(letters)), letters
    assert any(b.text() == "Close" for b in inbox.findChildren(QAbstractButton))
    qtbot.keyClick(inbox.list, Qt.Key.Key_Escape)
    await until(lambda: not inbox.isVisible(), what="Esc to close the inbox")


async def test_closing_the_main_window_closes_its_other_windows(window: MainWindow) -> None:
    window.open_inbox()
    inbox = window.windows["inbox"]
    await until(lambda: inbox.isVisible(), what="the inbox")
    window.close()
    assert not window.isVisible() and not inbox.isVisible()


async def test_live_panel_and_inbox_sizes_and_splitters_are_remembered(
    store: Store, prompts: ScriptedPrompts
) -> None:
    campaign = Ledger(store).create_campaign(
        "c", CampaignContent("s", "news@example.com", text="t")
    )
    first = build_main_window(store, prompts)
    first.show()
    first.open_live_panel(campaign)
    first.open_inbox()
    panel, inbox = first.windows[f"live-{campaign}"], first.windows["inbox"]
    panel.resize(780, 590)
    inbox.resize(700, 500)
    await until(lambda: panel.isVisible() and inbox.isVisible(), what="the windows")
    sizes: dict[str, list[int]] = {}
    for window, key in ((panel, "live_panel"), (inbox, "inbox")):
        splitter = window.findChild(QSplitter)
        assert splitter is not None
        default = splitter.sizes()
        splitter.setSizes([default[0] + 60, default[1] - 60, *default[2:]])
        sizes[key] = splitter.sizes()
        assert sizes[key] != default
    first.close()  # closes its windows too
    await first.bridge.drain()
    state = QSettings(str(store.folder / "window-state.ini"), QSettings.Format.IniFormat)
    assert state.contains("live_panel/size") and state.contains("inbox/size")
    assert state.contains("live_panel/splitters/live_splitter")
    second = build_main_window(store, prompts)
    second.show()
    second.open_live_panel(campaign)
    second.open_inbox()
    panel, inbox = second.windows[f"live-{campaign}"], second.windows["inbox"]
    assert (panel.width(), panel.height()) == (780, 590)
    assert (inbox.width(), inbox.height()) == (700, 500)
    await until(lambda: panel.isVisible() and inbox.isVisible(), what="the windows")
    for window, key in ((panel, "live_panel"), (inbox, "inbox")):
        splitter = window.findChild(QSplitter)
        assert splitter is not None and splitter.sizes() == sizes[key]
    second.close()
    await second.bridge.drain()


async def test_performance_advice_sits_at_the_top_and_the_rate_has_a_unit(
    qtbot: Any, window: MainWindow
) -> None:
    page = window.performance
    window.show()
    window.resize(1200, 800)
    window.tabs.setCurrentWidget(page)
    await until(lambda: page.advice.isVisible(), what="the performance tab")
    advice = page.advice
    # No empty band above the text: the label is as tall as its text, at the box's top.
    assert advice.height() <= advice.heightForWidth(advice.width()) + 2
    assert advice.y() < 40
    rate = page.rows["message_rate"]
    units = [w.text() for w in rate.findChildren(QLabel) if w.isVisible()]
    assert "messages per second" in units
