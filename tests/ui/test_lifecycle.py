"""Campaigns across restarts: build the main window, act, close it, build a new one on the
same data folder, and check that every control follows the campaign's stored state."""

from __future__ import annotations

import dataclasses
import gc
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication
from sqlalchemy import select, update

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import CampaignState, Counts, Ledger, Outcome, RecipientState
from smtpdesk.core.store import Store
from smtpdesk.core.store.schema import campaigns, recipients
from smtpdesk.ui.app import build_main_window
from smtpdesk.ui.campaigns_window import CampaignsView
from smtpdesk.ui.live_panel import LivePanel
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from smtpdesk.ui.wizard.wizard import CampaignWizard
from tests.helpers.smtpd import Faults, SmtpdFactory, settings_for
from tests.ui.conftest import until
from tests.ui.test_campaign_flow import _add_server

CONTENT = CampaignContent("Hello {{ name }}", "news@example.com", text="Hi {{ name }}")


@asynccontextmanager
async def running_app(
    store: Store, prompts: ScriptedPrompts, *, settle: bool = True
) -> AsyncIterator[MainWindow]:
    """One start of the app on ``store``'s data folder; closing it is part of the test.
    ``settle``: wait for the first loads (not when it follows a campaign: that never ends)."""
    win = build_main_window(store, prompts)
    win.show()
    if settle:
        await until(lambda: win.bridge.pending == 0, what="the first load")
    try:
        yield win
    finally:
        await win.bridge.drain()
        win._closing_confirmed = True
        for child in list(win.windows.values()):
            child.close()
        win.close()
        win.deleteLater()
        win.bridge.shutdown()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()


def _campaign(store: Store, count: int, **settings: Any) -> int:
    ledger = Ledger(store)
    settings.setdefault("message_rate", 1000)
    campaign = ledger.create_campaign("Spring news", CONTENT, **settings)
    ledger.insert_recipients(
        campaign,
        [
            {"line": i + 2, "email": f"u{i}@example.com", "fields": {"name": f"N{i}"}}
            for i in range(count)
        ],
    )
    ledger.add_fields(campaign, ["name"])
    return campaign


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _panel(window: MainWindow, campaign: int) -> LivePanel:
    panel = window.windows[f"live-{campaign}"]
    assert isinstance(panel, LivePanel)
    return panel


def _campaigns_view(window: MainWindow) -> CampaignsView:
    window.tabs.setCurrentWidget(window.campaigns_tab)
    view = window.campaigns_view()
    assert isinstance(view, CampaignsView)
    return view


async def _select(view: CampaignsView, campaign: int) -> None:
    await until(lambda: campaign in [s.id for s in view.rows], what="the campaign in the list")
    view.select(campaign)
    assert view.selected_id() == campaign


def _buttons(panel: LivePanel) -> dict[str, bool]:
    return {
        "pause": panel.pause_button.isEnabled(),
        "resume": panel.resume_button.isEnabled(),
        "cancel": panel.cancel_button.isEnabled(),
        "retry": panel.retry_button.isEnabled(),
    }


async def test_quit_while_sending_pauses_and_the_next_start_resumes_from_the_panel(
    qtbot: Any, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.05}))
    _add_server(store, sink)
    campaign = _campaign(store, 40, concurrency=1)
    prompts = ScriptedPrompts()
    async with running_app(store, prompts) as first:
        first.open_live_panel(campaign, autorun=True)
        panel = _panel(first, campaign)
        await until(lambda: len(sink.messages) >= 3, what="some messages")
        prompts.answers = ["stay"]
        first.quit_action.trigger()
        assert prompts.asked[-1].startswith("Campaigns are sending: 1 campaign is being sent:")
        assert "'Spring news'" in prompts.asked[-1]
        assert first.isVisible() and panel.control.running  # stayed: still sending

        prompts.answers = ["pause"]
        first.quit_action.trigger()
        await until(lambda: not first.isVisible(), what="the window to close")
        await until(lambda: not panel.control.running, what="the pause")
    stored = Ledger(store).campaign(campaign)
    assert stored.state == CampaignState.PAUSED
    assert stored.pause_reason == "paused when smtpdesk was closed"
    sent_before = Ledger(store).counts(campaign).sent
    assert 0 < sent_before < 40

    async with running_app(store, ScriptedPrompts()) as second:  # the restart
        bar = second.resume_bar
        await until(lambda: campaign in bar.resume_buttons, what="the resume bar")
        assert bar.isVisibleTo(second)
        line = bar.labels[campaign]
        assert line.full_text == (
            f"Campaign 'Spring news' was paused when smtpdesk was closed: {sent_before} of 40 done."
        )
        second.resize(800, 600)  # one line, elided, at the smallest supported size
        await until(lambda: second.width() <= 800, what="the resize")
        assert line.height() < 2 * line.fontMetrics().height()
        assert line.toolTip() == line.full_text
        view = _campaigns_view(second)
        await _select(view, campaign)
        view.open_action.trigger()
        panel = _panel(second, campaign)
        await until(lambda: panel.resume_button.isEnabled(), what="the stored state")
        assert _buttons(panel) == {"pause": False, "resume": True, "cancel": True, "retry": False}
        assert "paused when smtpdesk was closed" in panel.state_label.text()
        assert not panel.stop_banner.isVisibleTo(panel)  # the user's own choice: no alarm
        assert panel.counters["sent"].text() == f"{sent_before:,}"
        assert panel.counters["rate"].text() == "–"  # not a stale figure while paused
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
        await until(lambda: panel.control.state == "finished", limit=60, what="the campaign")
        assert campaign not in bar.resume_buttons and not bar.isVisibleTo(second)
        assert _buttons(panel) == {"pause": False, "resume": False, "cancel": False, "retry": False}
    assert Ledger(store).counts(campaign).sent == 40
    assert sorted({r for m in sink.messages for r in m.rcpt_tos}) == sorted(
        f"u{i}@example.com" for i in range(40)
    )


async def test_resume_bar_resumes_an_interrupted_campaign(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink = await smtpd_factory("plain")
    _add_server(store, sink)
    campaign = _campaign(store, 12)
    ledger = Ledger(store)
    claimed = ledger.recipients(campaign, limit=3)
    ledger.apply([Outcome(r.id, RecipientState.SENDING) for r in claimed])  # as at a kill -9
    ledger.set_state(campaign, CampaignState.RUNNING)
    with store.engine.begin() as conn:
        conn.execute(
            update(campaigns).where(campaigns.c.id == campaign).values(runner_pid=_dead_pid())
        )

    async with running_app(store, ScriptedPrompts()) as window:
        bar = window.resume_bar
        await until(lambda: campaign in bar.resume_buttons, what="the resume bar")
        text = bar.labels[campaign].full_text
        assert "was interrupted" in text and "0 of 12 done" in text
        bar.resume_buttons[campaign].click()
        panel = _panel(window, campaign)
        await until(lambda: panel.control.state == "finished", limit=60, what="the campaign")
        assert not bar.isVisibleTo(window)
    assert Ledger(store).counts(campaign).sent == 12


async def test_a_finished_campaign_offers_no_cancel_after_a_restart(store: Store) -> None:
    campaign = _campaign(store, 4)
    ledger = Ledger(store)
    first, lost, *others = ledger.recipients(campaign)
    ledger.apply([Outcome(first.id, RecipientState.FAILED, attempts=1, error="550 no such user")])
    ledger.apply([Outcome(lost.id, RecipientState.UNKNOWN, attempts=1)])
    ledger.apply([Outcome(r.id, RecipientState.SENT, attempts=1) for r in others])
    ledger.set_state(campaign, CampaignState.FINISHED)

    async with running_app(store, ScriptedPrompts()) as window:
        window.open_live_panel(campaign)
        panel = _panel(window, campaign)
        await until(lambda: panel.control.status is not None, what="the stored state")
        assert "finished" in panel.state_label.text()
        assert panel.chart.plotItem.legend is None  # the key is in the title, off the lines
        assert "sent" in panel.chart.plotItem.titleLabel.text
        counters = {k: panel.counters[k].text() for k in ("sent", "failed", "unknown", "total")}
        assert counters == {"sent": "2", "failed": "1", "unknown": "1", "total": "4"}
        # Final: no cancel, no resume; Retry failed because one recipient failed.
        assert _buttons(panel) == {"pause": False, "resume": False, "cancel": False, "retry": True}
        view = _campaigns_view(window)
        await _select(view, campaign)
        assert view.delete_action.isEnabled() and view.duplicate_action.isEnabled()
        assert not view.edit_action.isEnabled()
        assert view.edit_action in window.campaign_menu.actions()  # the menu: the same actions
    assert Ledger(store).campaign(campaign).state == CampaignState.FINISHED


async def test_cancel_asks_and_says_what_happens_to_the_recipients_left(store: Store) -> None:
    campaign = _campaign(store, 5)
    ledger = Ledger(store)
    sent = ledger.recipients(campaign, limit=2)
    ledger.apply([Outcome(r.id, RecipientState.SENT, attempts=1) for r in sent])
    ledger.set_state(campaign, CampaignState.PAUSED, "paused by the user")
    prompts = ScriptedPrompts([False])

    async with running_app(store, prompts) as window:
        window.open_live_panel(campaign)
        panel = _panel(window, campaign)
        await until(lambda: panel.cancel_button.isEnabled(), what="the stored state")
        panel.cancel_button.click()
        assert "3 recipients not sent yet will never get this message" in prompts.asked[-1]
        assert "2 already sent" in prompts.asked[-1]
        await window.bridge.drain()
        assert Ledger(store).campaign(campaign).state == CampaignState.PAUSED

        prompts.answers = [True]
        panel.cancel_button.click()
        await until(lambda: panel.control.state == "cancelled", what="the cancel")
        assert _buttons(panel) == {"pause": False, "resume": False, "cancel": False, "retry": False}
    assert Ledger(store).campaign(campaign).state == CampaignState.CANCELLED


async def test_duplicate_and_delete_from_the_list_then_restart(store: Store) -> None:
    campaign = _campaign(store, 4, concurrency=3, message_rate=42)
    ledger = Ledger(store)
    ledger.apply(
        [Outcome(r.id, RecipientState.SENT, attempts=1) for r in ledger.recipients(campaign)]
    )
    ledger.set_state(campaign, CampaignState.FINISHED)
    paused = _campaign(store, 2)
    ledger.set_state(paused, CampaignState.PAUSED)
    prompts = ScriptedPrompts()

    async with running_app(store, prompts) as window:
        view = _campaigns_view(window)
        await _select(view, paused)
        assert not view.delete_action.isEnabled()  # paused: cancel it first
        await _select(view, campaign)
        prompts.answers = ["same"]
        view.duplicate_action.trigger()
        await until(lambda: len(view.rows) == 3, what="the copy in the list")
        copy = max(s.id for s in view.rows)
        await until(lambda: view.selected_id() == copy, what="the copy selected")
        row = next(s for s in view.rows if s.id == copy)
        assert (row.state, row.counts.pending, row.campaign.name) == (
            "draft",
            4,
            "Spring news (copy)",
        )
        assert (row.campaign.concurrency, row.campaign.message_rate) == (3, 42)

        window.open_live_panel(campaign)
        await _select(view, campaign)
        prompts.answers = [True]
        view.delete_action.trigger()
        assert (
            "Delete 'Spring news' (finished) and the report of its 4 recipients?"
            in (prompts.asked[-1])
        )
        await until(lambda: len(view.rows) == 2, what="the deletion")
        assert f"live-{campaign}" not in window.windows  # its panel went with it

    async with running_app(store, ScriptedPrompts()) as window:  # the restart
        view = _campaigns_view(window)
        await until(lambda: len(view.rows) == 2, what="the list")
        assert {s.id for s in view.rows} == {copy, paused}
        assert Ledger(store).recipient_count(campaign) == 0
        assert Ledger(store).recipient_count(copy) == 4


async def test_empty_list_explains_and_disables_what_needs_a_selection(store: Store) -> None:
    async with running_app(store, ScriptedPrompts()) as window:
        view = _campaigns_view(window)
        await until(lambda: view.stack.currentWidget() is view.empty, what="the hint")
        assert "No campaigns yet" in view.empty.text()
        assert not view.open_action.isEnabled() and not view.report_action.isEnabled()
        _campaign(store, 1)
        view.refresh()
        await until(lambda: view.stack.currentWidget() is view.table, what="the list")
        assert not view.open_action.isEnabled()  # nothing selected yet
        view.table.selectRow(0)
        assert view.open_action.isEnabled() and view.report_action.isEnabled()


async def test_desktop_notification_only_while_the_app_is_not_active(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink = await smtpd_factory("plain")
    _add_server(store, sink)
    shown: list[tuple[str, str]] = []

    class Recorder:
        def notify(self, title: str, text: str) -> None:
            shown.append((title, text))

        def close(self) -> None:
            pass

    async with running_app(store, ScriptedPrompts()) as window:
        window.desktop = Recorder()  # type: ignore[assignment]
        active = [True]
        window.app_is_active = lambda: active[0]
        first = _campaign(store, 2)
        window.open_live_panel(first, autorun=True)
        await until(lambda: _panel(window, first).control.state == "finished", what="the first")
        assert shown == []  # the user is looking at the app
        active[0] = False
        second = _campaign(store, 2)
        window.open_live_panel(second, autorun=True)
        await until(lambda: _panel(window, second).control.state == "finished", what="the second")
        assert shown == [("Spring news finished", "Every recipient has been sent to.")]


async def test_panel_and_report_close_with_a_button_esc_and_ctrl_w(
    qtbot: Any, store: Store
) -> None:
    campaign = _campaign(store, 2)
    async with running_app(store, ScriptedPrompts()) as window:
        window.open_live_panel(campaign)
        panel = _panel(window, campaign)
        for close in _closers(qtbot):
            panel.show()
            panel.activateWindow()
            await until(lambda: QApplication.activeWindow() is panel, what="the panel active")
            close(panel)
            await until(lambda: not panel.isVisible(), what="the panel to close")
        panel.show()
        panel.report_button.click()
        report = panel._report
        assert report is not None
        for close in _closers(qtbot):
            report.show()
            report.activateWindow()
            await until(lambda: QApplication.activeWindow() is report, what="the report active")
            close(report)
            await until(lambda: not report.isVisible(), what="the report to close")


def _closers(qtbot: Any) -> list[Callable[[Any], None]]:
    from PySide6.QtWidgets import QDialogButtonBox

    def button(window: Any) -> None:
        box = window.findChild(QDialogButtonBox)
        box.button(QDialogButtonBox.StandardButton.Close).click()

    return [
        button,
        lambda w: qtbot.keyClick(w, Qt.Key.Key_Escape),
        lambda w: qtbot.keyClick(w, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier),
    ]


async def test_edit_from_the_list_reopens_the_wizard_filled_in_after_a_restart(
    store: Store,
) -> None:
    draft = _campaign(store, 3, concurrency=2, message_rate=25)
    sent = _campaign(store, 1)
    Ledger(store).set_state(sent, CampaignState.FINISHED)

    async with running_app(store, ScriptedPrompts()) as window:
        view = _campaigns_view(window)
        await _select(view, sent)
        assert not view.edit_action.isEnabled()  # final: duplicate it instead
        await _select(view, draft)
        assert view.edit_action.isEnabled()
        view.edit_action.trigger()
        wizard = window.windows["wizard"]
        assert isinstance(wizard, CampaignWizard)
        await until(lambda: wizard.content.subject.text() == CONTENT.subject, what="the values")
        assert wizard.windowTitle() == f"smtpdesk — Edit campaign {draft}"
        assert wizard.delivery.concurrency.value() == 2
        wizard.reject()
        await window.bridge.drain()
    assert Ledger(store).campaign(draft).state == CampaignState.DRAFT  # Cancel keeps it


async def test_a_draft_that_cannot_start_says_why_and_reopens_in_the_wizard(
    store: Store,
) -> None:
    ledger = Ledger(store)
    broken = CampaignContent("Hello {{ nmae }}", "news@example.com", text="Hi")
    campaign = ledger.create_campaign("Typo", broken)
    ledger.insert_recipients(campaign, [{"line": 2, "email": "a@example.com", "fields": {}}])
    ledger.add_fields(campaign, ["name"])
    ledger.insert_recipients(
        campaign, [{"line": 3, "email": "b@example.com", "fields": {"name": "B"}}]
    )
    shown: list[tuple[str, str]] = []

    class Recorder:
        def notify(self, title: str, text: str) -> None:
            shown.append((title, text))

        def close(self) -> None:
            pass

    async with running_app(store, ScriptedPrompts()) as window:
        window.desktop = Recorder()  # type: ignore[assignment]
        window.app_is_active = lambda: False
        window.open_live_panel(campaign, autorun=True)
        panel = _panel(window, campaign)
        await until(lambda: "cannot start" in panel.state_label.text(), what="the reason")
        assert "draft" in panel.state_label.text() and "nmae" in panel.state_label.text()
        assert panel.edit_button.isVisibleTo(panel) and panel.resume_button.text() == "&Start"
        assert shown and shown[0][0] == "Typo could not start" and "nmae" in shown[0][1]
        panel.edit_button.click()
        wizard = window.windows["wizard"]
        assert isinstance(wizard, CampaignWizard)
        assert wizard.windowTitle() == f"smtpdesk — Edit campaign {campaign}"
        assert "nmae" in wizard.recipients.reason.text()
        await until(lambda: wizard.content.subject.text() == broken.subject, what="the values")
        wizard.reject()
    assert Ledger(store).campaign(campaign).state == CampaignState.DRAFT


async def test_desktop_notification_when_paused_in_the_background(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.05}))
    _add_server(store, sink)
    shown: list[tuple[str, str]] = []

    class Recorder:
        def notify(self, title: str, text: str) -> None:
            shown.append((title, text))

        def close(self) -> None:
            pass

    async with running_app(store, ScriptedPrompts()) as window:
        window.desktop = Recorder()  # type: ignore[assignment]
        window.app_is_active = lambda: False
        campaign = _campaign(store, 30, concurrency=1)
        window.open_live_panel(campaign, autorun=True)
        panel = _panel(window, campaign)
        await until(lambda: len(sink.messages) >= 2, what="some messages")
        panel.pause_button.click()
        await until(lambda: panel.control.state == "paused", what="the pause")
        assert shown == [("Spring news paused", "paused by the user")]


async def test_errors_by_cause_come_back_after_a_restart_and_retry_can_include_unknown(
    store: Store, smtpd_factory: SmtpdFactory
) -> None:
    sink = await smtpd_factory("plain")
    _add_server(store, sink)
    campaign = _campaign(store, 5)
    ledger = Ledger(store)
    with store.engine.connect() as conn:
        ids = conn.execute(select(recipients.c.id).order_by(recipients.c.id)).scalars().all()
    refused = [
        Outcome(n, RecipientState.FAILED, 1, f"u{i} refused (550 no user)", "recipient_refused")
        for i, n in enumerate(ids[:2])
    ]
    lost = Outcome(ids[2], RecipientState.UNKNOWN, 1, "no reply", "connection_dropped", True)
    ledger.apply([*refused, lost, *[Outcome(n, RecipientState.SENT, 1) for n in ids[3:]]])
    ledger.set_state(campaign, CampaignState.FINISHED)
    prompts = ScriptedPrompts()

    async with running_app(store, prompts) as window:  # a new process: no tally in memory
        window.open_live_panel(campaign)
        panel = _panel(window, campaign)
        await until(lambda: panel.errors.topLevelItemCount() == 2, what="the stored errors")
        groups = [panel.errors.topLevelItem(i) for i in range(2)]
        assert [(g.text(0), g.text(1)) for g in groups if g] == [
            ("Recipient refused", "2"),
            ("Connection dropped", "1"),
        ]
        first = groups[0]
        assert first is not None
        lines = [first.child(i).text(0) for i in range(first.childCount())]
        assert "Recipients: u0@example.com, u1@example.com" in lines
        assert any(line.startswith("Hint: ") for line in lines)
        assert "Retry failed" in panel.counters["unknown"].toolTip()
        assert not panel.stop_banner.isVisibleTo(panel)  # finished: nothing to warn about

        prompts.answers = ["unknown"]
        panel.retry_button.click()
        assert "final reply never came" in prompts.asked[-1]
        await until(
            lambda: panel.control.state == "finished" and not panel.control.running,
            limit=30,
            what="the retry",
        )
    assert Ledger(store).counts(campaign) == Counts(sent=5)
    assert sorted(r for m in sink.messages for r in m.rcpt_tos) == [
        "u0@example.com",
        "u1@example.com",
        "u2@example.com",
    ]


async def test_no_server_can_send_is_shown_in_the_panel_with_hints(
    store: Store, smtpd_factory: SmtpdFactory, refused_port: int
) -> None:
    later = await smtpd_factory("plain")
    store.put_server(dataclasses.replace(settings_for(later), port=refused_port))
    campaign = _campaign(store, 3)
    async with running_app(store, ScriptedPrompts()) as window:
        window.open_live_panel(campaign, autorun=True)
        panel = _panel(window, campaign)
        await until(
            lambda: panel.control.state == "paused" and not panel.control.running,
            limit=30,
            what="the pause",
        )
        await window.bridge.drain()
        banner = panel.stop_banner
        assert banner.isVisibleTo(panel)
        assert "no server can send" in banner.text()
        assert f"127.0.0.1:{refused_port} refused the connection" in banner.text()
        assert "<li>" in banner.text()  # the servers' hints, not only the sentence
    async with running_app(store, ScriptedPrompts()) as window:  # after a restart: stored
        window.open_live_panel(campaign)
        panel = _panel(window, campaign)
        await until(lambda: panel.stop_banner.isVisibleTo(panel), what="the stored reason")
        assert "no server can send" in panel.stop_banner.text()


async def test_a_scheduled_campaign_paused_by_quitting_can_be_edited_after_a_restart(
    store: Store,
) -> None:
    campaign = _campaign(store, 3, send_at=time.time() + 3600)
    prompts = ScriptedPrompts()
    async with running_app(store, prompts) as first:
        first.open_live_panel(campaign, autorun=True)
        panel = _panel(first, campaign)
        await until(lambda: "scheduled" in panel.state_label.text(), what="the wait for its time")
        prompts.answers = ["pause"]
        first.quit_action.trigger()
        await until(lambda: not panel.control.running, what="the pause")
    assert Ledger(store).campaign(campaign).state == CampaignState.PAUSED

    async with running_app(store, ScriptedPrompts()) as second:  # the restart
        view = _campaigns_view(second)
        await _select(view, campaign)
        assert view.edit_action.isEnabled()  # nothing was sent: still editable
        second.open_live_panel(campaign)
        panel = _panel(second, campaign)
        await until(lambda: panel.control.status is not None, what="the stored state")
        assert panel.edit_button.isVisibleTo(panel) and panel.resume_button.isEnabled()
        view.edit_action.trigger()
        wizard = second.windows["wizard"]
        assert isinstance(wizard, CampaignWizard)
        await until(lambda: wizard.state.name == "Spring news", what="the campaign's values")
