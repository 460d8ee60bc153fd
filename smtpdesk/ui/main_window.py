"""The main window: Servers, Performance and Campaigns tabs, actions and the message bar."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from smtpdesk import __version__
from smtpdesk.core.campaign import actions
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.wording import counted
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.desktop_notifier import DesktopNotifier
from smtpdesk.ui.mailbox_page import MailboxPage
from smtpdesk.ui.performance_page import PerformancePage
from smtpdesk.ui.prompts import Prompts
from smtpdesk.ui.resume_bar import ResumeBar
from smtpdesk.ui.sandbox_service import SandboxService
from smtpdesk.ui.servers_page import ServersPage
from smtpdesk.ui.widgets import tone
from smtpdesk.ui.window_state import restore_window, save_window

APP_TITLE = "smtpdesk"


class LazyTab(QWidget):
    """A tab whose content (and its imports) is built the first time it is shown."""

    def __init__(self, build: Callable[[], QWidget]) -> None:
        super().__init__()
        self._build = build
        self.content: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def ensure(self) -> QWidget:
        if self.content is None:
            self.content = self._build()
            self._layout.addWidget(self.content)
        return self.content

    def showEvent(self, event: Any) -> None:
        self.ensure()
        super().showEvent(event)


class MessageBar(QLabel):
    """Shows the notifier's latest message; information fades after a few seconds."""

    def __init__(self) -> None:
        super().__init__()
        # One line that never grows the status bar: a wrapped message would move every
        # control above it. A longer text is cut at the edge; the tooltip has all of it.
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setAccessibleName("Messages")
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._timer = QTimer(self)
        self._timer.setInterval(8000)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clear)

    def show_message(self, level: str, text: str, hint: str) -> None:
        colour = tone({"error": "error", "warning": "warning"}.get(level, "ok"))
        self.setStyleSheet(f"color: {colour};")
        self.setText(f"{text}  {hint}".strip())
        self.setToolTip(self.text())
        self._timer.stop()
        if level == "info":
            self._timer.start()


class MainWindow(QMainWindow):
    def __init__(self, bridge: Bridge, prompts: Prompts, ui_state: QSettings) -> None:
        super().__init__()
        self.bridge, self.prompts, self.ui_state = bridge, prompts, ui_state
        self.setObjectName("main_window")
        self.setWindowTitle(APP_TITLE)
        self.servers = ServersPage(bridge, prompts)
        self.servers.test_requested.connect(self.open_test)
        self.performance = PerformancePage(bridge)
        self.mailbox = MailboxPage(bridge)  # bounces, complaints, unsubscribes (issue 12)
        self.mailbox.scanned.connect(self._mailbox_scanned)
        self.campaigns_tab = LazyTab(self._build_campaigns)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.servers, "Serv&ers")
        self.tabs.addTab(self.performance, "&Performance")
        self.tabs.addTab(self.campaigns_tab, "&Campaigns")
        self.tabs.addTab(self.mailbox, "Mail&box")
        self.tabs.currentChanged.connect(self._tab_changed)
        self.resume_bar = ResumeBar()
        self.resume_bar.resume.connect(lambda i: self.open_live_panel(i, autorun=True))
        self.resume_bar.open_campaign.connect(self.open_live_panel)
        self.resume_bar.show_all.connect(lambda: self.tabs.setCurrentWidget(self.campaigns_tab))
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.resume_bar)
        column.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.desktop = DesktopNotifier(self)
        self.app_is_active: Callable[[], bool] = lambda: QApplication.activeWindow() is not None
        self.message_bar = MessageBar()
        self.statusBar().addWidget(self.message_bar, 1)
        bridge.notifier.message.connect(self.message_bar.show_message)
        self.windows: dict[str, QWidget] = {}
        self.sandbox = SandboxService(bridge, self)
        self.sandbox.changed.connect(self._sandbox_changed)
        self._closing_confirmed = False
        self.keep_sending = False  # chosen when quitting: campaigns go on without the window
        self._make_actions()
        self.resize(1100, 760)
        self._restore_state()
        self.servers.refresh()
        self.performance.load()
        self.mailbox.load()  # and its scan timer, when the mailbox is enabled
        self.load_unfinished()

    # actions

    def _action(
        self,
        text: str,
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None,
        slot: Callable[[], None],
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        self.new_server_action = self._action(
            "&New server", QKeySequence.StandardKey.New, self.new_server
        )
        self.save_action = self._action(
            "&Save server", QKeySequence.StandardKey.Save, self.servers.save
        )
        self.test_action = self._action("&Test server…", "Ctrl+T", self.test_server)
        self.campaign_action = self._action("New &campaign…", "Ctrl+Shift+N", self.new_campaign)
        self.inbox_action = self._action("Sandbox &inbox", "Ctrl+I", self.open_inbox)
        self.suppressions_action = self._action("Su&ppression list…", None, self.open_suppressions)
        self.import_action = self._action("&Import configuration…", None, self.import_config)
        self.export_action = self._action("&Export configuration…", None, self.export_config)
        self.quit_action = self._action("&Quit", QKeySequence.StandardKey.Quit, self._quit)
        file_menu = self.menuBar().addMenu("&File")
        for action in (self.new_server_action, self.save_action, self.test_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.import_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        campaign_menu = self.campaign_menu = self.menuBar().addMenu("Campai&gns")
        campaign_menu.addAction(self.campaign_action)
        campaign_menu.addAction(self.inbox_action)
        campaign_menu.addAction(self.suppressions_action)
        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("&About smtpdesk", None, self.about))
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        for action in (
            self.new_server_action,
            self.save_action,
            self.test_action,
            self.campaign_action,
        ):
            toolbar.addAction(action)

    def _quit(self) -> None:
        self.close()

    def _tab_changed(self, index: int) -> None:
        self.setWindowTitle(f"{APP_TITLE} — {self.tabs.tabText(index).replace('&', '')}")

    def new_server(self) -> None:
        self.tabs.setCurrentWidget(self.servers)
        self.servers.add()

    def test_server(self) -> None:
        self.tabs.setCurrentWidget(self.servers)
        self.servers.test_current()

    def open_test(self, settings: ServerSettings, password: str | None) -> None:
        from smtpdesk.ui.test_panel import TestPanel

        panel = TestPanel(self.bridge, settings, password, parent=self)
        panel.finished_test.connect(self.servers.list.set_status)
        panel.trust_requested.connect(self.servers.trust_certificate)
        self.windows["test"] = panel
        panel.open()
        panel.start()

    def new_campaign(self) -> None:
        from smtpdesk.ui.wizard.wizard import CampaignWizard

        wizard = CampaignWizard(self.bridge, self.prompts, parent=self)
        wizard.sent.connect(lambda campaign_id: self.open_live_panel(campaign_id, autorun=True))
        self.windows["wizard"] = wizard
        wizard.open()

    def open_live_panel(self, campaign_id: int, autorun: bool = False) -> None:
        from smtpdesk.ui.live_panel import LivePanel

        key = f"live-{campaign_id}"
        panel = self.windows.get(key)
        if not isinstance(panel, LivePanel):
            panel = LivePanel(
                self.bridge, campaign_id, self.prompts, parent=self, ui_state=self.ui_state
            )
            panel.control.status_changed.connect(self.resume_bar.update_status)
            panel.control.running_changed.connect(
                lambda running, i=campaign_id: self.resume_bar.drop(i) if running else None
            )
            panel.control.ended.connect(self._run_ended)
            panel.edit_requested.connect(self.edit_campaign)
            self.windows[key] = panel
            panel.start(autorun)
        elif autorun:
            panel.control.run()
        panel.show()
        panel.raise_()

    def _build_campaigns(self) -> QWidget:
        from smtpdesk.ui.campaigns_window import CampaignsView

        view = CampaignsView(self.bridge, self.prompts)
        view.open_campaign.connect(self.open_live_panel)
        view.new_campaign.connect(self.new_campaign)
        view.edit_campaign.connect(self.edit_campaign)
        view.deleted.connect(self._campaign_deleted)
        # The selected campaign's actions, enabled as its stored state allows.
        self.campaign_menu.addSeparator()
        for action in (
            view.open_action,
            view.report_action,
            view.edit_action,
            view.duplicate_action,
            view.delete_action,
        ):
            self.campaign_menu.addAction(action)
        return view

    def campaigns_view(self) -> Any:
        """The Campaigns tab's list (built on first use)."""
        return self.campaigns_tab.ensure()

    def edit_campaign(self, campaign_id: int, reason: str = "") -> None:
        """Reopen the wizard on a draft or scheduled campaign (``reason``: why it did not start)."""
        from smtpdesk.ui.wizard.wizard import CampaignWizard

        wizard = CampaignWizard(
            self.bridge, self.prompts, parent=self, campaign_id=campaign_id, reason=reason
        )
        wizard.sent.connect(lambda sent_id: self.open_live_panel(sent_id, autorun=True))
        self.windows["wizard"] = wizard
        wizard.open()

    def _mailbox_scanned(self) -> None:
        """The open live panels show the new counts; the Campaigns list reads them itself."""
        for key, window in self.windows.items():
            if key.startswith("live-") and hasattr(window, "refresh_feedback"):
                window.refresh_feedback()

    def _campaign_deleted(self, campaign_id: int) -> None:
        panel = self.windows.pop(f"live-{campaign_id}", None)
        if panel is not None:
            panel.close()
            panel.deleteLater()
        self.resume_bar.drop(campaign_id)

    def load_unfinished(self) -> None:
        """Offer to resume campaigns left paused or interrupted (by a quit, a crash...), and
        open the panel of each campaign another process is sending through a channel this
        app can reach (one kept sending when the app was closed): it follows it live."""

        def read() -> tuple[list[actions.CampaignStatus], list[int]]:
            statuses = actions.list_statuses(Ledger(self.bridge.store))
            waiting = [
                s
                for s in statuses
                if s.state in (CampaignState.PAUSED, actions.INTERRUPTED)
                and s.sender == actions.Sender.NONE
            ]
            sending = [s.id for s in statuses if s.reachable]
            return waiting, sending

        def found(lists: tuple[list[actions.CampaignStatus], list[int]]) -> None:
            waiting, sending = lists
            self.resume_bar.show_statuses(waiting)
            for campaign_id in sending:
                self.open_live_panel(campaign_id)

        self.bridge.start(self.bridge.read(read), done=found)

    def _run_ended(self, campaign_id: int, state: str, reason: str) -> None:
        """Tell the user through the desktop when they are looking elsewhere."""
        if self._closing_confirmed or self.app_is_active():
            return
        panel = self.windows.get(f"live-{campaign_id}")
        status = getattr(getattr(panel, "control", None), "status", None)
        name = status.campaign.name if status is not None else f"Campaign {campaign_id}"
        if state == "finished":
            self.desktop.notify(f"{name} finished", "Every recipient has been sent to.")
        elif state == "paused":
            self.desktop.notify(f"{name} paused", reason or "Open it to resume.")
        elif not state:
            self.desktop.notify(f"{name} could not start", reason)

    def open_suppressions(self) -> None:
        from smtpdesk.ui.suppressions_window import SuppressionsWindow

        window = self.windows.get("suppressions")
        if not isinstance(window, SuppressionsWindow):
            window = SuppressionsWindow(self.bridge, self.prompts, parent=self)
            self.windows["suppressions"] = window
        window.show()
        window.raise_()

    def import_config(self) -> None:
        from smtpdesk.ui.config_transfer import ConfigTransfer

        ConfigTransfer(self.bridge, self.prompts, self).import_file(
            done=lambda: self.servers.refresh(reload_form=not self.servers.form.is_dirty())
        )

    def export_config(self) -> None:
        from smtpdesk.ui.config_transfer import ConfigTransfer

        ConfigTransfer(self.bridge, self.prompts, self).export_file()

    def open_inbox(self) -> None:
        from smtpdesk.ui.inbox_window import InboxWindow

        window = InboxWindow(self.bridge, self.sandbox, parent=self, ui_state=self.ui_state)
        self.windows["inbox"] = window
        window.show()

    def _sandbox_changed(self, status: str) -> None:
        # Starting the sandbox may have created or moved the server "sandbox".
        self.servers.refresh(reload_form=not self.servers.form.is_dirty())
        self.bridge.notifier.info(status)

    def about(self) -> None:
        self.bridge.notifier.info(
            f"smtpdesk {__version__}: email campaigns through your own "
            "SMTP servers. AGPL-3.0-or-later."
        )

    def sending(self) -> list[Any]:
        """The CampaignControls of the campaigns this window is sending now."""
        from smtpdesk.ui.campaign_control import CampaignControl

        found = (getattr(w, "control", None) for w in self.windows.values())
        return [c for c in found if isinstance(c, CampaignControl) and c.running]

    async def pause_campaigns(self, limit: float = 15.0) -> None:
        """At the app's end: pause every campaign this window follows, so in-flight messages
        are recorded, and wait for their sending processes to say so; unless the user chose
        to keep them sending, when they go on without the window."""
        from smtpdesk.ui.campaign_control import QUIT_PAUSE

        if self.keep_sending:
            return
        controls = self.sending()
        for control in controls:
            control.pause(QUIT_PAUSE)
        tasks = [c.task for c in controls if c.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=limit)

    # window state

    def _restore_state(self) -> None:
        restore_window(self, self.ui_state, "main")

    def save_state(self) -> None:
        save_window(self, self.ui_state, "main")

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._closing_confirmed or not (self.sending() or self.servers.form.is_dirty()):
            self._closing_confirmed = True
            self.save_state()
            # The panels are windows of their own: without this the app would stay open
            # (and a campaign sending) after its main window is gone.
            for child in self.windows.values():
                child.close()
            self.desktop.close()
            event.accept()
            return
        event.ignore()
        self._ask_before_quitting()

    def _ask_before_quitting(self) -> None:
        """Campaigns sending: pause them or stay; then unsaved server edits: save or not."""

        def close_now() -> None:
            self._closing_confirmed = True
            QTimer.singleShot(0, self.close)  # not from inside this closeEvent

        sending = self.sending()
        if not sending:
            self.servers.when_saved(close_now)
            return
        names = ", ".join(
            repr(c.status.campaign.name) if c.status else f"{c.campaign_id}" for c in sending
        )
        one = len(sending) == 1
        # The sandbox server lives in this process: a campaign sending to it cannot go on.
        sandbox = (
            " The sandbox server stops with smtpdesk: a campaign sending to it pauses."
            if self.sandbox.running
            else ""
        )

        def answered(choice: str) -> None:
            if choice == "stay":
                return
            from smtpdesk.ui.campaign_control import QUIT_PAUSE

            if choice == "keep":
                self.keep_sending = True
                self._tell_kept_sending(self.sending())
            else:
                for control in self.sending():
                    control.pause(QUIT_PAUSE)
            self.servers.when_saved(close_now)

        self.prompts.choose(
            self,
            "Campaigns are sending",
            f"{counted(len(sending), 'campaign')} {'is' if one else 'are'} being sent: {names}.\n\n"
            f"Keep sending: {'it goes' if one else 'they go'} on in {'its' if one else 'their'} "
            f"own process after smtpdesk closes. To stop {'it' if one else 'them'}, open "
            f"smtpdesk again and press Pause, or run {_pause_commands(sending)}.{sandbox}\n\n"
            "Pause and quit: the messages in flight finish and are recorded, and the next "
            "start offers to resume.",
            [("keep", "Keep sending"), ("pause", "Pause and quit"), ("stay", "Don't quit")],
            answered,
            default="keep",
        )

    def _tell_kept_sending(self, controls: list[Any]) -> None:
        """Before the window goes: a desktop notification that the campaigns go on, and how
        to stop them (the dialog said so too)."""
        names = ", ".join(
            c.status.campaign.name if c.status else f"Campaign {c.campaign_id}" for c in controls
        )
        one = len(controls) == 1
        text = (
            f"{'It keeps' if one else 'They keep'} sending after smtpdesk closes. To stop "
            f"{'it' if one else 'them'}, open smtpdesk again and press Pause, or run "
            f"{_pause_commands(controls)}."
        )
        self.bridge.notifier.info(f"{names}: {text}")
        self.desktop.notify(f"{names} {'keeps' if one else 'keep'} sending", text)


def _pause_commands(controls: list[Any]) -> str:
    """``'smtpdesk campaign pause 3'``, joined with `` and `` for several campaigns."""
    return " and ".join(f"'smtpdesk campaign pause {c.campaign_id}'" for c in controls)
