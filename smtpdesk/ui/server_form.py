"""The form of one server: load, live validation by core, save through core.servers, revert.

The form never writes the database or keyring itself: Save hands its values to
:func:`smtpdesk.core.servers.save_server` on the bridge's writer thread.

A new server's problems appear field by field as the user edits them (an untouched
empty Host is not an error yet); Save shows them all. The form's own status line sits
beside its buttons, one line high, so a message never moves them, and it clears as
soon as its cause is fixed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core import presets
from smtpdesk.core.servers import save_server
from smtpdesk.core.settings import ServerReport, ServerSettings, parse_server
from smtpdesk.core.wording import counted
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.server_fields import ServerFields, narrow
from smtpdesk.ui.widgets import StatusLine, caption, guard_wheel, scrolling

_JSON_POS = re.compile(r"line (\d+), column (\d+)")


def guess_preset(host: str) -> presets.Preset | None:
    """The preset whose host this is, so a saved server still shows its provider's advice."""
    for preset in presets.PRESETS:
        hosts = [preset.host.format(region=r) for r in preset.regions] or [preset.host]
        if host and host in hosts:
            return preset
    return None


def limits_text(preset: presets.Preset | None) -> str:
    if preset is None or not (preset.max_per_second or preset.max_per_hour or preset.max_per_day):
        base = "Your provider's limits; empty means no limit."
        return f"{base} {preset.limits_note}" if preset and preset.limits_note else base
    parts = [
        f"{_num(v)} per {unit}"
        for v, unit in (
            (preset.max_per_second, "second"),
            (preset.max_per_hour, "hour"),
            (preset.max_per_day, "day"),
        )
        if v
    ]
    return f"{preset.label} suggests {', '.join(parts)}. {preset.limits_note}".strip()


def _num(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


class PresetPicker(QWidget):
    """Fills the form from a provider preset and shows that provider's help."""

    chosen = Signal(object, str)  # Preset, region

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.combo = QComboBox()
        narrow(self.combo)
        self.combo.setAccessibleName("Provider preset")
        self.combo.addItem("Fill from a provider preset…", "")
        for preset in presets.PRESETS:
            self.combo.addItem(preset.label, preset.key)
        self.region = QComboBox()
        self.region.setAccessibleName("Region")
        self.region.setVisible(False)
        label = QLabel("Pro&vider:")
        label.setBuddy(self.combo)
        row.addWidget(label)
        row.addWidget(self.combo, 1)
        row.addWidget(self.region)
        layout.addLayout(row)
        self.help = caption("")
        self.help.setVisible(False)
        layout.addWidget(self.help)
        self.combo.activated.connect(self._activated)
        self.region.activated.connect(self._activated)

    def preset(self) -> presets.Preset | None:
        key = self.combo.currentData()
        return presets.get_preset(key) if key else None

    def show_preset(self, preset: presets.Preset | None) -> None:
        """Show ``preset``'s help without filling anything (a loaded server)."""
        self.combo.setCurrentIndex(max(self.combo.findData(preset.key if preset else ""), 0))
        self._show_help(preset)

    def _show_help(self, preset: presets.Preset | None) -> None:
        self.help.setText(preset.help if preset else "")
        self.help.setVisible(preset is not None)
        regions = preset.regions if preset else ()
        if [self.region.itemText(i) for i in range(self.region.count())] != list(regions):
            self.region.clear()
            self.region.addItems(list(regions))
        self.region.setVisible(bool(regions))

    def _activated(self) -> None:
        preset = self.preset()
        self._show_help(preset)
        if preset is not None:
            self.chosen.emit(preset, self.region.currentText() or "")


class ServerForm(QWidget):
    """Edits one server. ``saved`` carries the stored settings; a test never saves."""

    saved = Signal(object)
    test_requested = Signal()
    dirty_changed = Signal(bool)

    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.base: ServerSettings | None = None
        self.others: list[ServerSettings] = []
        self.has_password = False
        self._snapshot: dict[str, object] = {}
        self._dirty = False
        self._touched: set[str] = set()  # fields edited since loading
        self._show_all = False  # every problem, not only those of touched fields
        self.report = ServerReport()
        self._build()
        guard_wheel(self)
        self.setEnabled(False)

    def _build(self) -> None:
        self.title = QLabel("No server selected")
        self.title.setStyleSheet("font-size: 14pt; font-weight: 600;")
        self.title.setAccessibleName("Server title")
        self.presets = PresetPicker()
        self.presets.chosen.connect(self._fill_preset)
        self.fields = ServerFields()
        self.fields.changed.connect(self._revalidate)
        # Sign in… needs saved settings: the tokens are kept by the server's uuid.
        self.fields.oauth.attach(self.bridge, lambda: self.base and self.current_settings())
        self.fields.dkim.attach(self.bridge, lambda: self.base)
        self.status = StatusLine()
        self.status.setAccessibleName("Server form status")
        inner = QWidget()
        inner_layout = QVBoxLayout(inner)
        inner_layout.addWidget(self.presets)
        inner_layout.addWidget(self.fields)
        inner_layout.addStretch(1)
        self.test_button = QPushButton("&Test…")
        self.test_button.setToolTip("Try the form's current values against the server (Ctrl+T)")
        self.revert_button = QPushButton("&Revert")
        self.save_button = QPushButton("&Save")
        self.save_button.setDefault(True)
        self.test_button.clicked.connect(self.test_requested)
        self.revert_button.clicked.connect(self.revert)
        self.save_button.clicked.connect(self._save_clicked)
        buttons = QHBoxLayout()
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        # Narrow side margins: beside the list, the window then fits 800 px at a scale of 1.5.
        layout.setContentsMargins(4, 9, 4, 9)
        layout.addWidget(self.title)
        layout.addWidget(scrolling(inner), 1)
        layout.addLayout(buttons)

    # loading

    def load(
        self, settings: ServerSettings | None, others: list[ServerSettings], has_password: bool
    ) -> None:
        """Show ``settings`` (None: a new server); ``others`` are for the unique-name rule."""
        self.base = settings
        self.others = [o for o in others if settings is None or o.uuid != settings.uuid]
        self.has_password = has_password
        shown = settings or ServerSettings()
        self.fields.set_settings(shown)
        self.fields.password.setPlaceholderText("stored in keyring" if has_password else "not set")
        self.title.setText(shown.label if settings else "New server")
        preset = guess_preset(shown.host)
        self.presets.show_preset(preset)
        self.fields.limits_hint.setText(limits_text(preset))
        self._snapshot = self.fields.values()
        self._touched = set()
        self._show_all = settings is not None  # a saved server: its problems are real
        self.status.clear_text()
        self.setEnabled(True)
        self.validate()

    def clear(self) -> None:
        self.base = None
        self._snapshot = {}
        self.status.clear_text()
        self.title.setText("No server selected")
        self.setEnabled(False)
        self._set_dirty(False)

    # state

    def typed_password(self) -> str | None:
        """The password the user typed, or None when the field was left alone."""
        return self.fields.password.text() or None

    def is_dirty(self) -> bool:
        return self._dirty

    def _set_dirty(self, dirty: bool) -> None:
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)
        self.revert_button.setEnabled(dirty)

    # Qt slots must return None: PySide6 mishandles the reference of a returned bool.
    def _revalidate(self) -> None:
        self.validate()

    def _save_clicked(self) -> None:
        self.save()

    def validate(self) -> ServerReport:
        """Ask core about the current values and show each problem beside its field."""
        values = self.fields.values()
        self.report = parse_server(values, others=self.others, base=self.base)
        self._touched |= {k for k, v in values.items() if v != self._snapshot.get(k)}
        for key, row in self.fields.rows.items():
            row.show_problems(self.report.for_field(key) if self._shown(key) else [])
        header_errors = [p.message for p in self.report.for_field("email_headers")]
        match = next((m for m in map(_JSON_POS.search, header_errors) if m), None)
        self.fields.headers.mark_error(*(map(int, match.groups()) if match else (None, None)))
        self._show_status()
        self.save_button.setEnabled(not any(self._shown(p.field) for p in self.report.errors))
        self._set_dirty(values != self._snapshot or bool(self.typed_password()))
        return self.report

    def _shown(self, key: str) -> bool:
        """Whether ``key``'s problems are on screen: edited, saved, or not a field's."""
        return self._show_all or key in self._touched or key not in self.fields.rows

    def _show_status(self) -> None:
        """Problems without a field of their own, or the refusal to save while any is left."""
        stray = [p for p in self.report.problems if p.field not in self.fields.rows]
        if stray:
            errors = any(p.severity == "error" for p in stray)
            self.status.show_text("; ".join(map(str, stray)), "error" if errors else "warning")
        elif self._show_all and self.report.errors:
            count = len(self.report.errors)
            verb = "needs" if count == 1 else "need"
            text = f"Not saved: {counted(count, 'field')} {verb} correcting."
            self.status.show_text(text, "error")
        elif self.status.kind in ("error", "warning"):
            self.status.clear_text()  # its cause is fixed

    def current_settings(self) -> ServerSettings | None:
        """The form's values as settings, or None while they have errors (for the Test button)."""
        return parse_server(self.fields.values(), base=self.base).settings

    # actions

    def trust_certificate(self, sha256: str) -> None:
        """Put a certificate's fingerprint in the form (Test's Trust this certificate)."""
        self.fields.pin.set_pin(sha256)
        self.validate()

    def _fill_preset(self, preset: presets.Preset, region: str) -> None:
        self.fields.fill(preset.fill(region or None))
        self.fields.limits_hint.setText(limits_text(preset))

    def revert(self) -> None:
        if self.base is not None or self._snapshot:
            self.load(self.base, self.others, self.has_password)

    def save(self, then: Callable[[ServerSettings], None] | None = None) -> bool:
        """Save when core accepts the values; False (nothing written) when it refuses them."""
        self._show_all = True
        report = self.validate()
        if report.errors:
            return False
        values, base, password = self.fields.values(), self.base, self.typed_password()
        store = self.bridge.store

        def stored(result: ServerReport) -> None:
            if result.settings is None:  # another window saved a clashing name meanwhile
                for key, row in self.fields.rows.items():
                    row.show_problems(result.for_field(key))
                return
            self.has_password = self.has_password or bool(password)
            self.load(result.settings, self.others, self.has_password)
            self.bridge.notifier.info(f"Saved {result.settings.label}.")
            self.saved.emit(result.settings)
            if then is not None:
                then(result.settings)

        self.save_button.setEnabled(False)
        self.bridge.start(
            self.bridge.write(save_server, store, values, base=base, password=password),
            done=stored,
            failed=self._save_failed,
        )
        return True

    def _save_failed(self, exc: BaseException) -> None:
        self.save_button.setEnabled(True)
        self.bridge.report(exc)


__all__ = ["PresetPicker", "ServerForm", "guess_preset", "limits_text"]
