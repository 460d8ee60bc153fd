"""The live panel of one campaign: throughput chart, counters, servers, grouped errors, controls."""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.campaign.ledger import Campaign, CampaignState, Counts, Ledger
from smtpdesk.core.campaign.progress import ErrorGroup, Progress
from smtpdesk.core.smtp.types import ServerStats
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.campaign_control import CampaignControl
from smtpdesk.ui.prompts import Prompts
from smtpdesk.ui.widgets import is_dark
from smtpdesk.ui.window_state import restore_window, save_window
from smtpdesk.ui.wizard.review_page import format_seconds

COUNTERS = ("sent", "failed", "skipped", "pending", "total", "rate", "elapsed", "eta")
STATE_KEY = "live_panel"  # one size and splitter for every campaign's panel
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
        self.addLegend(offset=(10, 5))
        self.sent_curve = self.plot([], [], name="sent", pen=pg.mkPen("#43a047", width=2))
        self.failed_curve = self.plot([], [], name="failed", pen=pg.mkPen("#e53935", width=2))
        self.setMinimumHeight(160)
        self._bins: dict[int, list[int]] = {}
        self._last: tuple[float, int, int] | None = None
        self._origin = time.monotonic()

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
        xs = sorted(self._bins)
        self.sent_curve.setData(xs, [self._bins[x][0] for x in xs])
        self.failed_curve.setData(xs, [self._bins[x][1] for x in xs])


class LivePanel(QWidget):
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
        self.setWindowTitle(f"smtpdesk — Campaign {campaign_id}")
        self.setObjectName("live_panel")
        self.counters: dict[str, QLabel] = {}
        self._build()
        self.resize(1000, 720)
        if ui_state is not None:
            restore_window(self, ui_state, STATE_KEY)

    def _build(self) -> None:
        self.title = QLabel()
        self.title.setStyleSheet("font-size: 14pt; font-weight: 600;")
        self.state_label = QLabel()
        self.state_label.setAccessibleName("Campaign state")
        self.pause_button = QPushButton("&Pause")
        self.resume_button = QPushButton("&Resume")
        self.cancel_button = QPushButton("&Cancel campaign")
        self.retry_button = QPushButton("Retry &failed")
        self.report_button = QPushButton("Recipient re&port…")
        controls = QHBoxLayout()
        controls.addWidget(self.title)
        controls.addWidget(self.state_label)
        controls.addStretch(1)
        for button, slot in (
            (self.pause_button, self.control.pause),
            (self.resume_button, self.control.run),
            (self.cancel_button, self.control.cancel),
            (self.retry_button, self.control.retry_failed),
            (self.report_button, self.open_report),
        ):
            button.clicked.connect(slot)
            controls.addWidget(button)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Progress")
        self.chart = ThroughputChart()
        self._report: QWidget | None = None
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setObjectName("live_splitter")
        splitter.addWidget(self.chart)
        splitter.addWidget(self._servers_box())
        splitter.addWidget(self._errors_box())
        splitter.setSizes([260, 160, 200])
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(self._counters())
        layout.addWidget(self.bar)
        layout.addWidget(splitter, 1)

    def _counters(self) -> QGridLayout:
        grid = QGridLayout()
        names = {"eta": "ETA", "rate": "rate/s"}
        for column, key in enumerate(COUNTERS):
            value = QLabel("–")
            value.setAlignment(Qt.AlignmentFlag.AlignCenter)
            value.setStyleSheet("font-size: 15pt; font-weight: 600;")
            value.setAccessibleName(key)
            caption = QLabel(names.get(key, key))
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
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
        """Show the stored figures; with ``autorun``, start sending too."""
        ledger = Ledger(self.bridge.store)

        def load() -> tuple[Campaign, Counts]:
            return ledger.campaign(self.campaign_id), ledger.counts(self.campaign_id)

        def loaded(result: tuple[Campaign, Counts]) -> None:
            campaign, counts = result
            self.title.setText(campaign.name)
            self.setWindowTitle(f"smtpdesk — {campaign.name}")
            self.show_counts(counts)
            if not self.control.state:
                self.show_state(str(campaign.state))
            if autorun:
                self.control.run()

        self.bridge.start(self.bridge.read(load), done=loaded)

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
            "pending": counts.pending + counts.sending,
            "total": counts.total,
        }
        for key, number in values.items():
            self.counters[key].setText(f"{number:,}")
        self.counters["rate"].setText(f"{rate:,.1f}")
        self.counters["elapsed"].setText(format_seconds(elapsed) if elapsed is not None else "–")
        self.counters["eta"].setText(format_seconds(eta) if eta is not None else "–")
        self.bar.setMaximum(max(counts.total, 1))
        self.bar.setValue(counts.done)

    def show_progress(self, p: Progress) -> None:
        eta = p.eta if p.state == CampaignState.RUNNING else None
        self.show_counts(p.counts, p.rate, p.elapsed, eta)
        self.chart.add(p.elapsed, p.counts.sent, p.counts.failed)
        self._show_servers(p.servers)
        self._show_errors(p.errors)
        if p.waiting:
            self.state_label.setText(f"{p.state} — waiting: {p.waiting}")

    def _show_servers(self, stats: tuple[ServerStats, ...]) -> None:
        self.servers.setRowCount(len(stats))
        for row, s in enumerate(stats):
            cells = (
                s.label,
                f"{s.connections_busy} / {s.connections_open}",
                f"{s.sent:,}",
                f"{s.failed:,}",
                f"{s.retried:,}",
                f"{s.mean_send_seconds * 1000:.0f} ms",
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
        colour = {
            "running": "#43a047",
            "paused": "#fb8c00",
            "finished": "#1e88e5",
            "cancelled": "#9e9e9e",
        }.get(state, "#9e9e9e")
        if is_dark() and state == "finished":
            colour = "#64b5f6"
        reason = ""
        latest = self.control.latest()
        if state == CampaignState.PAUSED and latest is not None and latest.pause_reason:
            reason = f" ({latest.pause_reason})"
        self.state_label.setText(f'<span style="color:{colour}">● {state}{reason}</span>')
        self._update_buttons()

    def _update_buttons(self, *_args: object) -> None:
        running = self.control.running
        state = self.control.state
        done = state in (CampaignState.FINISHED, CampaignState.CANCELLED)
        self.pause_button.setEnabled(running)
        self.resume_button.setEnabled(
            not running and state in (CampaignState.PAUSED, CampaignState.DRAFT)
        )
        self.cancel_button.setEnabled(not done)
        self.retry_button.setEnabled(state != CampaignState.CANCELLED)

    def open_report(self) -> None:
        from smtpdesk.ui.recipient_report import RecipientReport

        report = RecipientReport(self.bridge, self.campaign_id, self.prompts, parent=self)
        report.show()
        self._report = report

    def closeEvent(self, event: QCloseEvent) -> None:
        # Closing the window does not stop the campaign: it keeps sending in the background.
        if self.ui_state is not None:
            save_window(self, self.ui_state, STATE_KEY)
        super().closeEvent(event)
