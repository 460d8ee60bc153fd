"""Delivery: the messenger (the ``email`` pool or a named server), speed, limits, schedule."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWizardPage,
)

from smtpdesk.core.messengers import Messenger, list_messengers
from smtpdesk.core.settings import AppSettings, ServerSettings
from smtpdesk.core.store import Store
from smtpdesk.ui.local_time import date_time_format
from smtpdesk.ui.widgets import caption
from smtpdesk.ui.wizard.state import WizardState


def _load(store: Store) -> tuple[list[ServerSettings], AppSettings]:
    return store.servers(), store.app_settings()


def limits_line(s: ServerSettings) -> str:
    parts = [
        f"{v:g}/{unit}"
        for v, unit in ((s.max_per_second, "s"), (s.max_per_hour, "h"), (s.max_per_day, "day"))
        if v
    ]
    return f"{s.label}: {', '.join(parts) if parts else 'no limit'}, {s.max_conns} connections"


class DeliveryPage(QWizardPage):
    """The servers are read again on every visit; the user's choices are never reset."""

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.servers: list[ServerSettings] = []
        self.messengers: list[Messenger] = []
        self.filled = False  # the defaults (or the edited campaign's values) are shown
        self.setTitle("Delivery")
        self.setSubTitle("Which servers send, how fast, and when.")
        self.messenger = QComboBox()
        self.messenger.setAccessibleName("Messenger")
        self.messenger.currentIndexChanged.connect(self._show_limits)
        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, 1000)
        self.concurrency.setAccessibleName("Concurrency")
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0.01, 100000)
        self.rate.setDecimals(2)
        self.rate.setSuffix(" messages/s")
        self.rate.setAccessibleName("Message rate")
        self.limits = QLabel()
        self.limits.setWordWrap(True)
        self.limits.setAccessibleName("Per-server limits")
        self.scheduled = QCheckBox("Send &later, at")
        self.when = QDateTimeEdit(QDateTime.currentDateTime().addSecs(3600))
        self.when.setCalendarPopup(True)
        self.when.setDisplayFormat(date_time_format())  # the locale's, ISO without one
        self.when.setAccessibleName("Send at")
        self.when.setEnabled(False)
        self.scheduled.toggled.connect(self.when.setEnabled)
        form = QFormLayout(self)
        form.addRow("&Messenger", self.messenger)
        form.addRow("Servers and limits", self.limits)
        form.addRow(
            caption(
                "Each server's limits (per second, hour and day) are set on its "
                "form in the Servers tab."
            )
        )
        form.addRow("&Concurrency", self.concurrency)
        form.addRow("Message &rate", self.rate)
        form.addRow("Schedule", self.scheduled)
        form.addRow("", self.when)

    def fill(self, delivery: dict[str, Any], send_at: float | None) -> None:
        """Show a stored campaign's delivery settings (editing it)."""
        self.state.delivery = dict(delivery)
        self.concurrency.setValue(int(delivery["concurrency"]))
        self.rate.setValue(float(delivery["message_rate"]))
        self.scheduled.setChecked(send_at is not None)
        if send_at is not None:
            self.when.setDateTime(QDateTime.fromSecsSinceEpoch(int(send_at)))
        self.filled = True

    def initializePage(self) -> None:
        bridge = self.state.bridge
        bridge.start(bridge.read(_load, self.state.store), done=self._loaded)

    def _loaded(self, result: tuple[list[ServerSettings], AppSettings]) -> None:
        self.servers, app = result
        # The messenger shown now, else the one saved: a server list reloaded keeps it.
        current = self.messenger.currentData() or self.state.delivery.get("messenger")
        self.messengers = list_messengers(self.servers)
        self.messenger.blockSignals(True)
        self.messenger.clear()
        for m in self.messengers:
            label = f"email — pool of {len(m.servers)} server(s)" if m.is_pool else m.name
            self.messenger.addItem(label, m.name)
        if current is not None and self.messenger.findData(current) >= 0:
            self.messenger.setCurrentIndex(self.messenger.findData(current))
        self.messenger.blockSignals(False)
        self._show_limits()
        if not self.messengers:
            self.limits.setText("There is no enabled server: add or enable one first.")
        if not self.filled:
            self.concurrency.setValue(app.concurrency)
            self.rate.setValue(app.message_rate)
            self.filled = True
        self.completeChanged.emit()

    def chosen(self) -> Messenger | None:
        index = self.messenger.currentIndex()
        return self.messengers[index] if 0 <= index < len(self.messengers) else None

    def _show_limits(self) -> None:
        m = self.chosen()
        if m is not None:
            self.limits.setText("\n".join(limits_line(s) for s in m.servers))

    def isComplete(self) -> bool:
        return self.chosen() is not None

    def validatePage(self) -> bool:
        m = self.chosen()
        if m is None:
            return False
        send_at = self.when.dateTime().toSecsSinceEpoch() if self.scheduled.isChecked() else None
        self.state.send_at = float(send_at) if send_at is not None else None
        self.state.delivery = {
            "messenger": m.name,
            "concurrency": self.concurrency.value(),
            "message_rate": self.rate.value(),
        }
        return True
