"""The live panel of one campaign: throughput chart, counters, servers, grouped errors, controls."""

from __future__ import annotations

import html
import time

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialogButtonBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.campaign.actions import INTERRUPTED, Action, CampaignStatus, cancel_consequence
from smtpdesk.core.campaign.ledger import USER_PAUSE, CampaignState, Counts
from smtpdesk.core.campaign.progress import ErrorGroup, Progress
from smtpdesk.core.campaign.review import format_seconds
from smtpdesk.core.smtp.types import ServerStats
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.campaign_control import QUIT_PAUSE, CampaignControl
from smtpdesk.ui.close_keys import add_close_keys
from smtpdesk.ui.local_time import format_when
from smtpdesk.ui.prompts import Prompts
from smtpdesk.ui.widgets import is_dark, tone
from smtpdesk.ui.window_state import clamp_to_screen, restore_window, save_window

COUNTERS = (
    "sent",
    "failed",
    "skipped",
    "unknown",
    "pending",
    "total",
    "rate",
    "elapsed",
    "eta",
)
COUNTER_TIPS = {
    "skipped": "On the suppression list: not sent",
    "unknown": "Sent, but the server's final reply never came: it may have arrived. "
    "Retry failed can send these again (they may then arrive twice).",
    "pending": "Not sent yet",
    "elapsed": "Time spent sending since smtpdesk was started: earlier sessions are not counted",
}
STATE_KEY = "live_panel"  # one size and splitter for every campaign's panel
STATE_COLOURS = {
    "running": "#43a047",
    "scheduled": "#43a047",
    "paused": "#fb8c00",
    INTERRUPTED: "#fb8c00",
    "finished": "#1e88e5",
    "cancelled": "#9e9e9e",
}
# Pauses the user asked for: the state line says so, no banner needed.
CHOSEN_PAUSES = (USER_PAUSE, QUIT_PAUSE, "failed recipients to retry")
MIN_SECONDS = 10  # the chart's shortest x axis
SERVER_COLUMNS = ("Server", "Busy / open", "Sent", "Failed", "Retries", "Mean send", "Health")


class ThroughputChart(pg.PlotWidget):  # type: ignore[misc]
    """Messages per second, per whole second of the run: sent and failed."""

    def __init__(self) -> None:
        super().__init__()
        self.setAccessibleName("Throughput chart")
        self.setBackground(None)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setLabel("left", "messages/s")
        self.setLabel("bottom", "seconds")
        self.setMouseEnabled(x=False, y=False)
        # The key sits in the title, above the plot: a legend inside it covers the lines.
        self.setTitle(
            '<span style="color:#43a047">━ sent</span>&nbsp;&nbsp;'
            '<span style="color:#e53935">━ failed</span>',
            size="9pt",
        )
        self.sent_curve = self._curve("#43a047")
        self.failed_curve = self._curve("#e53935")
        self.setMinimumHeight(120)  # room for the servers and errors on a 600 px screen
        self._bins: dict[int, list[int]] = {}
        self._last: tuple[float, int, int] | None = None
        self._origin = time.monotonic()
        self.setXRange(0, MIN_SECONDS, padding=0)

    def _curve(self, colour: str) -> pg.PlotDataItem:
        # Dots as well as lines: the first whole second is one point, which no line shows.
        pen = pg.mkPen(colour, width=2)
        return self.plot(
            [], [], pen=pen, symbol="o", symbolSize=5, symbolBrush=colour, symbolPen=None
        )

    def completed(self) -> list[int]:
        """The seconds drawn: whole ones only, as the last one is still filling up."""
        if self._last is None:
            return []
        current = int(self._last[0] - self._origin)
        return sorted(x for x in self._bins if x < current)

    def add(self, elapsed: float, sent: int, failed: int) -> None:
        if self._last is None:
            self._origin = elapsed
            self._last = (elapsed, sent, failed)
            return
        _t, last_sent, last_failed = self._last
        self._last = (elapsed, sent, failed)
        second = int(elapsed - self._origin)
        bucket = self._bins.setdefault(second, [0, 0])
        bucket[0] += max(sent - last_sent, 0)
        bucket[1] += max(failed - last_failed, 0)
        xs = self.completed()
        self.sent_curve.setData(xs, [self._bins[x][0] for x in xs])
        self.failed_curve.setData(xs, [self._bins[x][1] for x in xs])
        # A few seconds at least: one point over a 0-1 s axis reads as a slope.
        self.setXRange(0, max(xs[-1] if xs else 0, MIN_SECONDS), padding=0.02)


class LivePanel(QWidget):
    edit_requested = Signal(int, str)  # campaign id, why it could not start ("" if it did)

    def __init__(
        self,
        bridge: Bridge,
        campaign_id: int,
        prompts: Prompts | None = None,
        parent: QWidget | None = None,
        ui_state: QSettings | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.bridge = bridge
        self.ui_state = ui_state
        self.prompts = prompts or Prompts()
        self.campaign_id = campaign_id
        self.control = CampaignControl(bridge, campaign_id, self)
        self.control.progress.connect(self.show_progress)
        self.control.state_changed.connect(self.show_state)
        self.control.running_changed.connect(self._update_buttons)
        self.control.status_changed.connect(self._show_status)
        self.control.stored_errors.connect(self._show_errors)
        self.control.stored_servers.connect(self._show_servers)
        self.setWindowTitle(f"smtpdesk — Campaign {campaign_id}")
        self.setObjectName("live_panel")
        self.counters: dict[str, QLabel] = {}
        self._build()
        self.resize(1000, 720)
        clamp_to_screen(self)  # the default size too, on a small screen
        if ui_state is not None:
            restore_window(self, ui_state, STATE_KEY)
        add_close_keys(self, self._close)

    def _build(self) -> None:
        self.title = QLabel()
        self.title.setStyleSheet("font-size: 14pt; font-weight: 600;")
        self.state_label = QLabel()
        self.state_label.setAccessibleName("Campaign state")
        # Why the campaign stopped, in full and in view: not only in the status bar.
        self.stop_banner = QLabel()
        self.stop_banner.setObjectName("stop_banner")
        self.stop_banner.setAccessibleName("Why the campaign stopped")
        self.stop_banner.setWordWrap(True)
        self.stop_banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.stop_banner.hide()
        self.pause_button = QPushButton("&Pause")
        self.resume_button = QPushButton("&Resume")
        self.cancel_button = QPushButton("&Cancel campaign")
        self.retry_button = QPushButton("Retry &failed")
        self.report_button = QPushButton("Rec&ipient report…")
        self.edit_button = QPushButton("&Edit…")
        self.edit_button.setToolTip("Reopen the wizard on this draft or scheduled campaign")
        # Two rows: the name and state above, the buttons below, so that the panel's
        # minimum width fits an 800 px screen (one row made it 964 px wide).
        heading = QHBoxLayout()
        heading.addWidget(self.title)
        heading.addWidget(self.state_label, 1)
        self.state_label.setWordWrap(True)
        self.title.setMinimumWidth(80)  # a long name is cut, not the panel made wider
        controls = QHBoxLayout()
        for button, slot in (
            (self.pause_button, lambda: self.control.pause()),  # not clicked's bool as reason
            (self.resume_button, self.control.run),
            (self.cancel_button, self.confirm_cancel),
            (self.retry_button, self.confirm_retry),
            (self.edit_button, self._edit),
            (self.report_button, self.open_report),
        ):
            button.clicked.connect(slot)
            controls.addWidget(button)
        controls.addStretch(1)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Progress")
        self.chart = ThroughputChart()
        self._report: QWidget | None = None
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("live_splitter")
        # Until this session has drawn a whole second: a sentence, not an empty axis.
        self.chart_empty = QLabel("No sending in this session yet")
        self.chart_empty.setAccessibleName("Throughput chart")
        self.chart_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart_empty.setStyleSheet(f"color: {tone('muted')};")
        self.chart_stack = QStackedWidget()
        self.chart_stack.addWidget(self.chart_empty)
        self.chart_stack.addWidget(self.chart)
        splitter.addWidget(self.chart_stack)
        splitter.addWidget(self._servers_box())
        splitter.addWidget(self._errors_box())
        splitter.setSizes([260, 160, 200])
        layout = QVBoxLayout(self)
        layout.addLayout(heading)
        layout.addLayout(controls)
        layout.addWidget(self.stop_banner)
        layout.addLayout(self._counters())
        self.feedback = QLabel()  # bounces, complaints, unsubscribes (issue 12)
        self.feedback.setAccessibleName("Feedback from the mailbox")
        layout.addWidget(self.feedback)
        layout.addWidget(self.bar)
        layout.addWidget(splitter, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self._close)
        layout.addWidget(close)
        self._update_buttons()

    def _counters(self) -> QGridLayout:
        grid = QGridLayout()
        names = {"eta": "ETA", "rate": "rate/s", "elapsed": "session time"}
        for column, key in enumerate(COUNTERS):
            value = QLabel("–")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value.setStyleSheet("font-size: 15pt; font-weight: 600;")
            value.setAccessibleName(key)
            caption = QLabel(names.get(key, key))
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            for label in (value, caption):
                label.setToolTip(COUNTER_TIPS.get(key, ""))
            grid.addWidget(value, 0, column)
            grid.addWidget(caption, 1, column)
            self.counters[key] = value
        return grid

    def _servers_box(self) -> QGroupBox:
        box = QGroupBox("Servers")
        self.servers = QTableWidget(0, len(SERVER_COLUMNS))
        self.servers.setHorizontalHeaderLabels(list(SERVER_COLUMNS))
        self.servers.setAccessibleName("Per-server figures")
        self.servers.verticalHeader().setVisible(False)
        self.servers.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.servers.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # Sent and failed go back to the campaign's start (the ledger's); the rest is live.
        for column in (1, 4, 5, 6):
            item = self.servers.horizontalHeaderItem(column)
            if item is not None:
                item.setToolTip("Since smtpdesk was started")
        QVBoxLayout(box).addWidget(self.servers)
        return box

    def _errors_box(self) -> QGroupBox:
        box = QGroupBox("Errors by cause")
        self.errors = QTreeWidget()
        self.errors.setHeaderLabels(["Cause", "Count"])
        self.errors.setAccessibleName("Errors by cause")
        self.errors.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.errors.header().setStretchLastSection(False)
        QVBoxLayout(box).addWidget(self.errors)
        return box

    # data

    def start(self, autorun: bool = False) -> None:
        """Show the stored state and figures; with ``autorun``, start sending too. A campaign
        another process is sending, whose channel is reachable, is followed live."""

        def loaded(status: CampaignStatus) -> None:
            if not self.control.running:
                self.show_counts(status.counts)
                if self.control.latest() is None:  # nothing sent here yet: earlier runs' errors
                    self.control.load_errors()
            if self.control.can_attach(status):
                self.control.attach()
            elif autorun and Action.START in self.control.allowed():
                self.control.run()

        self.control.refresh(then=loaded)

    def refresh_feedback(self) -> None:
        """The mailbox's counts for this campaign: after each scan, and with its status."""
        from smtpdesk.core.feedback.records import FeedbackBook
        from smtpdesk.ui.campaigns_window import feedback_text

        book = FeedbackBook(self.bridge.store)

        def read() -> tuple[dict[str, int], int]:
            return book.campaign_counts(self.campaign_id), self.control.ledger.counts(
                self.campaign_id
            ).sent

        def show(found: tuple[dict[str, int], int]) -> None:
            text = feedback_text(*found)
            self.feedback.setText(f"Mailbox: {text}" if text else "")

        self.bridge.start(self.bridge.read(read), done=show)

    def _show_status(self, status: CampaignStatus) -> None:
        self.refresh_feedback()
        self.title.setText(status.campaign.name)
        self.setWindowTitle(f"smtpdesk — {status.campaign.name}")
        if not self.control.running:
            last = self.control.latest()  # the run's clock stays, the counts are as stored
            self.show_counts(status.counts, elapsed=last.elapsed if last else None)
        self.show_state(self.control.state)

    def confirm_cancel(self) -> None:
        """Cancel after the user has read what happens to the recipients not sent yet."""
        latest = self.control.latest()
        status = self.control.status
        counts = latest.counts if self.control.running and latest else None
        if counts is None:
            counts = status.counts if status is not None else Counts()

        def answered(yes: bool) -> None:
            if yes and Action.CANCEL in self.control.allowed():
                self.control.cancel()

        self.prompts.confirm(
            self,
            "Cancel campaign",
            cancel_consequence(counts),
            answered,
            action="Cancel campaign",
        )

    def confirm_retry(self) -> None:
        """Retry the failed recipients; with unknown ones, ask whether to include them."""
        status = self.control.status
        latest = self.control.latest()
        counts = latest.counts if latest is not None else status.counts if status else Counts()
        if not counts.unknown:
            self.control.retry_failed()
            return
        choices = [("unknown", f"Retry failed and {counts.unknown:,} unknown")]
        if counts.failed:
            choices.append(("failed", f"Retry {counts.failed:,} failed only"))
        choices.append(("no", "Cancel"))

        def answered(choice: str) -> None:
            if choice != "no" and Action.RETRY_FAILED in self.control.allowed():
                self.control.retry_failed(include_unknown=choice == "unknown")

        self.prompts.choose(
            self,
            "Retry failed",
            f"{counts.unknown:,} message(s) were sent but the server's final reply never "
            "came: they may have arrived, and would then arrive twice. Send them again too?",
            choices,
            answered,
        )

    def show_counts(
        self,
        counts: Counts,
        rate: float = 0.0,
        elapsed: float | None = None,
        eta: float | None = None,
    ) -> None:
        values = {
            "sent": counts.sent,
            "failed": counts.failed,
            "skipped": counts.skipped,
            "unknown": counts.unknown,
            "pending": counts.pending + counts.sending,
            "total": counts.total,
        }
        for key, number in values.items():
            self.counters[key].setText(f"{number:,}")
        # Only a running campaign has a rate: paused, the last one would be a stale figure.
        self.counters["rate"].setText(f"{rate:,.1f}" if self.control.running else "–")
        self.counters["elapsed"].setText(format_seconds(elapsed) if elapsed is not None else "–")
        self.counters["eta"].setText(format_seconds(eta) if eta is not None else "–")
        self.bar.setMaximum(max(counts.total, 1))
        self.bar.setValue(counts.done)

    def show_progress(self, p: Progress) -> None:
        eta = p.eta if p.state == CampaignState.RUNNING else None
        self.show_counts(p.counts, p.rate, p.elapsed, eta)
        self.chart.add(p.elapsed, p.counts.sent, p.counts.failed)
        if self.chart.completed():
            self.chart_stack.setCurrentWidget(self.chart)
        self._show_servers(p.servers)
        self._show_errors(p.errors)
        if p.state == CampaignState.SCHEDULED:
            self.show_state(CampaignState.SCHEDULED)  # its time in the locale's format
        elif p.waiting:
            self.state_label.setText(html.escape(f"● {p.state} — waiting: {p.waiting}"))

    def _show_servers(self, stats: tuple[ServerStats, ...]) -> None:
        self.servers.setRowCount(len(stats))
        for row, s in enumerate(stats):
            cells = (
                s.label,
                f"{s.connections_busy} / {s.connections_open}",
                f"{s.sent:,}",
                f"{s.failed:,}",
                f"{s.retried:,}",
                f"{s.mean_send_seconds * 1000:.0f} ms" if s.mean_send_seconds else "–",
                "ok" if s.healthy else "backing off",
            )
            for column, text in enumerate(cells):
                item = self.servers.item(row, column)
                if item is None:
                    item = QTableWidgetItem()
                    self.servers.setItem(row, column, item)
                item.setText(text)

    def _show_errors(self, groups: tuple[ErrorGroup, ...]) -> None:
        items = [self.errors.topLevelItem(i) for i in range(self.errors.topLevelItemCount())]
        shown = [(item.text(0), item.text(1)) for item in items if item is not None]
        wanted = [(g.title, f"{g.count:,}") for g in groups]
        if shown == wanted:
            return
        self.errors.clear()
        for g in groups:
            top = QTreeWidgetItem([g.title, f"{g.count:,}"])
            top.setToolTip(0, g.cause)
            kind = "Temporary: a retry may succeed" if g.temporary else "Permanent"
            top.addChild(QTreeWidgetItem([kind, ""]))
            for hint in g.hints:
                top.addChild(QTreeWidgetItem([f"Hint: {hint}", ""]))
            if g.samples:
                top.addChild(QTreeWidgetItem(["Recipients: " + ", ".join(g.samples), ""]))
            top.addChild(QTreeWidgetItem([f"Latest: {g.message}", ""]))
            self.errors.addTopLevelItem(top)
            top.setExpanded(True)

    def show_state(self, state: str) -> None:
        colour = STATE_COLOURS.get(state, "#9e9e9e")
        if is_dark() and state == "finished":
            colour = "#64b5f6"
        reason = self._reason(state)
        if reason.startswith(f"{state} "):  # "paused by the user": no "paused (paused ...)"
            text = html.escape(f"● {reason}")
        else:
            text = html.escape(f"● {state}" + (f" ({reason})" if reason else ""))
        self.state_label.setText(f'<span style="color:{colour}">{text}</span>')
        self.state_label.setToolTip(reason)
        self._show_stop_banner(state, reason)
        self._update_buttons()

    def _show_stop_banner(self, state: str, reason: str) -> None:
        """A reason the user did not give (no server can send, a template, the disk), in full."""
        stopped = state in (CampaignState.PAUSED, INTERRUPTED) or bool(self.control.problem)
        if not stopped or not reason or reason in CHOSEN_PAUSES:
            self.stop_banner.hide()
            return
        blocked = self.control.blocked
        hints = blocked.hints if blocked is not None and state == CampaignState.PAUSED else ()
        items = "".join(f"<li>{html.escape(h)}</li>" for h in hints)
        self.stop_banner.setText(
            f'<b style="color:{tone("error")}">⚠ Stopped: {html.escape(reason)}</b>'
            + (f"<ul>{items}</ul>" if items else "")
        )
        self.stop_banner.show()

    def _reason(self, state: str) -> str:
        if self.control.problem and not self.control.running:
            return f"cannot start: {self.control.problem}"
        if state == INTERRUPTED:
            return "the app sending it stopped; Resume sends the rest"
        latest = self.control.latest()
        if state == CampaignState.PAUSED and latest is not None and latest.pause_reason:
            return latest.pause_reason
        status = self.control.status
        if status is None:
            return ""
        if state == CampaignState.SCHEDULED and status.campaign.send_at:
            return f"sends at {format_when(status.campaign.send_at)}"
        if not self.control.running and state == CampaignState.PAUSED:
            return status.campaign.pause_reason
        return ""

    def _update_buttons(self, *_args: object) -> None:
        allowed = self.control.allowed()
        self.pause_button.setEnabled(Action.PAUSE in allowed)
        self.resume_button.setEnabled(Action.START in allowed)
        fresh = self.control.state in (CampaignState.DRAFT, CampaignState.SCHEDULED)
        self.resume_button.setText("&Start" if fresh else "&Resume")
        self.cancel_button.setEnabled(Action.CANCEL in allowed)
        self.retry_button.setEnabled(Action.RETRY_FAILED in allowed)
        self.edit_button.setVisible(Action.EDIT in allowed)
        counts = self.control.status.counts if self.control.status else Counts()
        unknown = f" (and, if you choose, the {counts.unknown:,} unknown)" if counts.unknown else ""
        self.retry_button.setToolTip(
            f"Send again to the {counts.failed:,} failed recipient(s){unknown}"
            if counts.failed + counts.unknown
            else "Nothing failed"
        )

    def _edit(self) -> None:
        if Action.EDIT in self.control.allowed():
            self.edit_requested.emit(self.campaign_id, self.control.problem)

    def open_report(self) -> None:
        from smtpdesk.ui.recipient_report import RecipientReport

        report = RecipientReport(self.bridge, self.campaign_id, self.prompts, parent=self)
        report.show()
        self._report = report

    def _close(self) -> None:
        self.close()  # (a slot that returns nothing: Qt's close() returns a bool)

    def closeEvent(self, event: QCloseEvent) -> None:
        # Closing the window does not stop the campaign: it keeps sending in the background.
        if self.ui_state is not None:
            save_window(self, self.ui_state, STATE_KEY)
        super().closeEvent(event)
