"""The Performance page: app-wide sending defaults that new campaigns start from."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.durations import format_duration
from smtpdesk.core.settings import AppReport, AppSettings, parse_app_settings
from smtpdesk.core.store import Store
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.widgets import FieldRow, caption, scrolling

LOW_RATE_ADVICE = (
    "<b>Low sending rate?</b><ul>"
    "<li>Increase a server's max connections for higher throughput.</li>"
    "<li>Check your provider's rate limits.</li>"
    "<li>Adjust concurrency and message rate here.</li>"
    "<li>Consider several SMTP servers in the round-robin 'email' pool.</li></ul>"
    "Be aware of your provider's sending limits and set concurrency accordingly."
)
FIELDS = (
    ("concurrency", "&Concurrency", "Messages sent at the same time across the campaign."),
    ("message_rate", "Message &rate", "At most this many messages per second per campaign."),
    (
        "max_send_errors",
        "Max send &errors",
        "Pause a campaign after this many errors. 0 never pauses.",
    ),
    ("sliding_window_rate", "Window &messages", "At most this many messages per window."),
    ("sliding_window_duration", "Window &duration", "The window's length, such as 1h or 30m."),
    (
        "worker_processes",
        "Wor&ker processes",
        "At an unlimited rate, send from this many processes: auto (one per core) or 0 (one).",
    ),
)
UNITS = {"message_rate": "messages per second"}  # shown right of the field


def save_app_settings(store: Store, data: dict[str, object]) -> AppReport:
    report = parse_app_settings(data, base=store.app_settings())
    if report.settings is not None:
        store.put_app_settings(report.settings)
    return report


class PerformancePage(QWidget):
    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.lines: dict[str, QLineEdit] = {}
        self.rows: dict[str, FieldRow] = {}
        box = QGroupBox("Sending defaults for new campaigns")
        form = QFormLayout(box)
        for key, label, help_text in FIELDS[:3]:
            self._row(form, key, label, help_text)
        self.sliding = QCheckBox("Limit messages per time window")
        self.sliding.toggled.connect(self._revalidate)
        self.sliding.setAccessibleName("Sliding window")
        form.addRow("Sliding &window", self.sliding)
        for key, label, help_text in FIELDS[3:]:
            self._row(form, key, label, help_text)
        self.advice = advice = QLabel(LOW_RATE_ADVICE)
        advice.setWordWrap(True)
        advice.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        advice.setAccessibleName("Advice on low sending rates")
        advice_box = QGroupBox("Advice")
        advice_layout = QVBoxLayout(advice_box)
        advice_layout.addWidget(advice)
        advice_layout.addStretch(1)  # the text at the top, not centred in the box
        self.save_button = QPushButton("&Save defaults")
        self.save_button.clicked.connect(self.save)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        columns = QHBoxLayout()
        columns.addWidget(box, 3)
        columns.addWidget(advice_box, 2)
        inner = QWidget()
        layout = QVBoxLayout(inner)
        layout.addLayout(columns)
        layout.addWidget(
            caption("Each server's own limits (per second, hour, day) are on its form.")
        )
        layout.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addWidget(scrolling(inner), 1)
        outer.addLayout(buttons)

    def _row(self, form: QFormLayout, key: str, label: str, help_text: str) -> None:
        line = QLineEdit()
        line.textEdited.connect(self._revalidate)
        line.setAccessibleName(label.replace("&", ""))
        self.lines[key] = line
        editor: QWidget = line
        if key in UNITS:
            line.setAccessibleDescription(UNITS[key])
            editor = QWidget()
            beside = QHBoxLayout(editor)
            beside.setContentsMargins(0, 0, 0, 0)
            beside.addWidget(line, 1)
            beside.addWidget(QLabel(UNITS[key]))
        row = FieldRow(editor, help_text)
        text = QLabel(label)
        text.setBuddy(line)
        form.addRow(text, row)
        self.rows[key] = row

    def load(self) -> None:
        self.bridge.start(self.bridge.read(self.bridge.store.app_settings), done=self.show_settings)

    def show_settings(self, s: AppSettings) -> None:
        for key in ("concurrency", "max_send_errors", "sliding_window_rate"):
            self.lines[key].setText(str(getattr(s, key)))
        self.lines["message_rate"].setText(f"{s.message_rate:g}")
        self.lines["sliding_window_duration"].setText(format_duration(s.sliding_window_duration))
        workers = s.worker_processes
        self.lines["worker_processes"].setText("auto" if workers is None else str(workers))
        self.sliding.setChecked(s.sliding_window)
        self.validate()

    def values(self) -> dict[str, object]:
        data: dict[str, object] = {k: line.text() for k, line in self.lines.items()}
        data["sliding_window"] = self.sliding.isChecked()
        return data

    def _revalidate(self) -> None:  # a slot returning a value upsets PySide6's refcounts
        self.validate()

    def validate(self) -> AppReport:
        report = parse_app_settings(self.values())
        for key, row in self.rows.items():
            row.show_problems(report.for_field(key))
        for key in ("sliding_window_rate", "sliding_window_duration"):
            self.lines[key].setEnabled(self.sliding.isChecked())
        self.save_button.setEnabled(not report.errors)
        return report

    def save(self) -> None:
        if self.validate().errors:
            return
        self.bridge.start(
            self.bridge.write(save_app_settings, self.bridge.store, self.values()),
            done=lambda _r: self.bridge.notifier.info("Saved the sending defaults."),
        )
