"""The editors of one server's settings, grouped as the issue and listmonk's docs group them.

Texts come from listmonk's SMTP documentation. Values go in and out as plain
form values (text, booleans, enum values); core's ``parse_server`` judges them.
Fields that do not apply (certificate options without TLS, the login without
authentication) are disabled, keeping their values. Each label's mnemonic is unique
on the Servers page (its buttons use A, U, L, T, R and S); see MNEMONICS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.durations import format_duration
from smtpdesk.core.settings import AuthProtocol, ServerSettings, TlsType
from smtpdesk.core.smtp.certificate import format_fingerprint
from smtpdesk.ui.dkim_section import DkimSection
from smtpdesk.ui.oauth_signin import OAuthSection
from smtpdesk.ui.widgets import FieldRow, caption, tone

PORTS = (
    (587, "SMTP with STARTTLS (recommended)"),
    (465, "SMTP with TLS/SSL"),
    (2525, "alternative submission port"),
    (25, "standard SMTP (often blocked by cloud providers)"),
)
# Short item texts, so that a combo shows them whole at 800x600; the details are tooltips.
TLS_CHOICES = (
    (TlsType.STARTTLS, "STARTTLS (port 587)"),
    (TlsType.TLS, "TLS (port 465)"),
    (TlsType.NONE, "none — no encryption"),
)
AUTH_CHOICES = (
    (AuthProtocol.PLAIN, "plain (most common)"),
    (AuthProtocol.LOGIN, "login"),
    (AuthProtocol.CRAM, "cram (CRAM-MD5)"),
    (AuthProtocol.XOAUTH2, "xoauth2 (OAuth sign-in)"),
    (AuthProtocol.NONE, "none"),
)
TLS_DETAILS = {
    str(TlsType.STARTTLS): "Upgrade the connection to TLS with STARTTLS, usually on port 587.",
    str(TlsType.TLS): "A direct TLS connection, usually on port 465.",
    str(TlsType.NONE): "No encryption: for a local test server only, not for production.",
}
AUTH_DETAILS = {
    str(AuthProtocol.PLAIN): "PLAIN authentication, the most common.",
    str(AuthProtocol.LOGIN): "LOGIN authentication.",
    str(AuthProtocol.CRAM): "CRAM-MD5 authentication.",
    str(AuthProtocol.XOAUTH2): "OAuth sign-in in the browser (Microsoft 365, Gmail).",
    str(AuthProtocol.NONE): "No authentication.",
}


def narrow(combo: QComboBox, characters: int = 14) -> None:
    """Let a combo box with long item texts shrink (they are elided) so that the form
    fits a small screen; the open list still shows every text whole."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(characters)


class PortEdit(QWidget):
    """A port field with a menu of the usual ports and what each is for."""

    def __init__(self) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.line = QLineEdit()
        self.line.setMaximumWidth(120)
        self.line.setAccessibleName("Port")
        self.button = QToolButton()
        # The style's own menu arrow is drawn over the text in several styles: our own
        # arrow is part of the text, so the button is always wide enough for both.
        self.button.setText("Common ports ▾")
        self.button.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
        self.button.setAccessibleName("Common ports")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.button)
        for port, what in PORTS:
            action = QAction(f"{port} — {what}", menu)
            action.triggered.connect(lambda _c=False, p=port: self._choose(p))
            menu.addAction(action)
        self.button.setMenu(menu)
        layout.addWidget(self.line)
        layout.addWidget(self.button)
        layout.addStretch(1)
        self.setFocusProxy(self.line)

    def _choose(self, port: int) -> None:
        self.line.setText(str(port))
        self.line.textEdited.emit(str(port))


class JsonEdit(QPlainTextEdit):
    """The custom headers editor: marks the line and column of a JSON error."""

    def __init__(self) -> None:
        super().__init__()
        self.setPlaceholderText('[["X-Custom-Header", "value"]]')
        self.setTabChangesFocus(True)
        self.setMaximumHeight(110)

    def mark_error(self, line: int | None, column: int | None) -> None:
        if line is None:
            self.setExtraSelections([])
            return
        block = self.document().findBlockByLineNumber(max(line - 1, 0))
        cursor = QTextCursor(block)
        cursor.movePosition(QTextCursor.MoveOperation.Right, n=max((column or 1) - 1, 0))
        cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor)
        selection = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(tone("error"))
        fmt.setProperty(QTextFormat.Property.FullWidthSelection, False)
        selection.format = fmt
        selection.cursor = cursor
        self.setExtraSelections([selection])


class PinField(QWidget):
    """The trusted certificate's fingerprint (read-only, out of the tab order) and Forget."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.line = QLineEdit()
        self.line.setReadOnly(True)
        self.line.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # selectable, never a Tab stop
        self.line.setPlaceholderText("none: the system's authorities decide")
        self.forget = QPushButton("F&orget")
        self.forget.setToolTip("Stop trusting this one certificate")
        self.forget.clicked.connect(self._forget)
        layout.addWidget(self.line, 1)
        layout.addWidget(self.forget)
        self._sha256 = ""

    def set_pin(self, sha256: str) -> None:
        self._sha256 = sha256
        self.line.setText(format_fingerprint(sha256) if sha256 else "")
        self.line.setToolTip(self.line.text())
        self.line.setCursorPosition(0)
        self.forget.setVisible(bool(sha256))

    def pin(self) -> str:
        return self._sha256

    def _forget(self) -> None:
        self.set_pin("")
        self.changed.emit()


class ServerFields(QWidget):
    """The grouped editors; emits ``changed`` on every edit by the user."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layout_ = QVBoxLayout(self)
        self.rows: dict[str, FieldRow] = {}
        self._forms: dict[str, QFormLayout] = {}
        self.lines: dict[str, QLineEdit] = {}
        self.limits_hint = caption("")
        self._build()

    # building

    def _line(self, key: str, placeholder: str = "") -> QLineEdit:
        line = QLineEdit()
        line.setPlaceholderText(placeholder)
        line.textEdited.connect(self.changed)
        self.lines[key] = line
        return line

    def _row(
        self,
        form: QFormLayout,
        key: str,
        label: str,
        editor: QWidget,
        help_text: str = "",
        buddy: QWidget | None = None,
    ) -> FieldRow:
        row = FieldRow(editor, help_text)
        text = QLabel(label)
        text.setBuddy(buddy or editor)
        (buddy or editor).setAccessibleName(label.replace("&", ""))
        if help_text:
            (buddy or editor).setAccessibleDescription(help_text)
        form.addRow(text, row)
        self.rows[key] = row
        self._forms[key] = form
        return row

    def show_row(self, key: str, visible: bool) -> None:
        """Show or hide a whole row: its label too, not only the field."""
        self._forms[key].setRowVisible(self.rows[key], visible)

    @staticmethod
    def _group(title: str) -> tuple[QGroupBox, QFormLayout]:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        return box, form

    def _combo(
        self, choices: tuple[tuple[str, str], ...], details: Mapping[str, str] | None = None
    ) -> QComboBox:
        """A combo of ``(value, text)`` items; ``details`` by value become the items' tooltips."""
        details = details or {}
        combo = QComboBox()
        narrow(combo)
        for value, text in choices:
            combo.addItem(text, str(value))
            if str(value) in details:
                tip = details[str(value)]
                combo.setItemData(combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        combo.activated.connect(self.changed)
        return combo

    def _build(self) -> None:
        outer = self.layout_
        outer.setContentsMargins(0, 0, 0, 0)
        for box in (
            self._connection(),
            self._security(),
            self._auth(),
            self._pool(),
            self._limits(),
            self._advanced(),
            self._naming(),
        ):
            outer.addWidget(box)
        self.dkim = DkimSection(self)  # issue 14: signing, keys and the TXT to publish
        outer.addWidget(self.dkim.box)

    def _connection(self) -> QGroupBox:
        box, form = self._group("Connection")
        self.enabled = QCheckBox("Send through this server")
        self.enabled.toggled.connect(self.changed)
        self._row(form, "enabled", "Ena&bled", self.enabled)
        self._row(
            form,
            "host",
            "&Host",
            self._line("host", "smtp.example.com"),
            "SMTP server hostname or IP address, such as smtp.gmail.com or localhost.",
        )
        self.port = PortEdit()
        self.port.line.textEdited.connect(self.changed)
        self.lines["port"] = self.port.line
        self._row(
            form,
            "port",
            "&Port",
            self.port,
            "587 STARTTLS (recommended) · 465 TLS · 2525 alternative · 25 often blocked",
            buddy=self.port.line,
        )
        return box

    def _security(self) -> QGroupBox:
        box, form = self._group("Security")
        self.tls_type = self._combo(TLS_CHOICES, TLS_DETAILS)
        self.tls_type.activated.connect(self.apply_rules)
        self._row(form, "tls_type", "TLS typ&e", self.tls_type)
        self.tls_skip_verify = QCheckBox("S&kip TLS certificate verification")
        self.tls_skip_verify.toggled.connect(self.changed)
        # No help text: checking it shows core's warning, and one warning is enough.
        self._row(form, "tls_skip_verify", "Certificate", self.tls_skip_verify)
        self.pin = PinField()
        self.pin.changed.connect(self.changed)
        self._row(
            form,
            "tls_pin_sha256",
            "Trusted certificate",
            self.pin,
            "Set by Trust this certificate in the Test window: only this certificate is "
            "accepted, whoever signed it.",
            buddy=self.pin.line,
        )
        return box

    def _auth(self) -> QGroupBox:
        """Protocol, then the rows that depend on it (extend here: see ``apply_rules``)."""
        box, form = self._group("Authentication")
        self.auth_box, self.auth_form = box, form
        self.auth_protocol = self._combo(AUTH_CHOICES, AUTH_DETAILS)
        self.auth_protocol.activated.connect(self.apply_rules)
        self._row(form, "auth_protocol", "Proto&col", self.auth_protocol)
        self._row(form, "username", "Userna&me", self._line("username"))
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.textEdited.connect(self.changed)
        self.password_toggle = QToolButton()
        self.password_toggle.setText("Show")
        self.password_toggle.setCheckable(True)
        self.password_toggle.setAccessibleName("Show password")
        self.password_toggle.toggled.connect(self._toggle_password)
        holder = QWidget()
        line = QHBoxLayout(holder)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(self.password, 1)
        line.addWidget(self.password_toggle)
        holder.setFocusProxy(self.password)
        self._row(
            form,
            "password",
            "Passwor&d",
            holder,
            "Kept in your system's keyring, never in the database.",
            buddy=self.password,
        )
        self.oauth = OAuthSection(self, form)  # its rows show for xoauth2 only
        return box

    def _toggle_password(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.password.setEchoMode(mode)
        self.password_toggle.setText("Hide" if shown else "Show")

    def _pool(self) -> QGroupBox:
        box, form = self._group("Pool")
        self._row(
            form,
            "max_conns",
            "Ma&x connections",
            self._line("max_conns"),
            "Maximum number of concurrent SMTP connections in the pool.",
        )
        self._row(
            form,
            "idle_timeout",
            "&Idle time-out",
            self._line("idle_timeout", "15s"),
            "Maximum idle time for a connection before closing it (e.g. 15s, 2m).",
        )
        self._row(
            form,
            "wait_timeout",
            "&Wait time-out",
            self._line("wait_timeout", "5s"),
            "Maximum time to wait for a free connection from the pool.",
        )
        self._row(
            form,
            "max_msg_retries",
            "Messa&ge retries",
            self._line("max_msg_retries"),
            "Silent retries on other connections of the pool before a message fails.",
        )
        self._row(
            form,
            "msg_retry_delay",
            "Retr&y delay",
            self._line("msg_retry_delay", "10ms"),
            "Pause before each retry.",
        )
        return box

    def _limits(self) -> QGroupBox:
        box, form = self._group("Sending limits")
        form.addRow(self.limits_hint)
        # No mnemonics: every letter of these labels is taken on the Servers page.
        self._row(form, "max_per_second", "Per second", self._line("max_per_second", "no limit"))
        self._row(form, "max_per_hour", "Per hour", self._line("max_per_hour", "no limit"))
        self._row(form, "max_per_day", "Per day", self._line("max_per_day", "no limit"))
        return box

    def _advanced(self) -> QGroupBox:
        box, form = self._group("Advanced")
        self._row(
            form,
            "hello_hostname",
            "HELO hostname",
            self._line("hello_hostname", "default"),
            "Hostname sent with HELO/EHLO. Leave empty for the default.",
        )
        self.headers = JsonEdit()
        self.headers.textChanged.connect(self._headers_edited)
        self._row(
            form,
            "email_headers",
            "Custom headers",
            self.headers,
            'JSON list added to every message, e.g. [["X-Custom-Header", "value"]].',
        )
        return box

    def _headers_edited(self) -> None:
        if self.headers.hasFocus() or self.headers.document().isModified():
            self.changed.emit()

    def _naming(self) -> QGroupBox:
        box, form = self._group("Name")
        self._row(
            form,
            "name",
            "&Name",
            self._line("name", "leave empty to join the pool"),
            "Optional. A named server becomes its own messenger in campaigns, outside the "
            "round-robin 'email' pool of unnamed servers.",
        )
        return box

    # values

    def set_settings(self, s: ServerSettings) -> None:
        texts = {
            "name": s.name,
            "host": s.host,
            "port": str(s.port),
            "username": s.username,
            "hello_hostname": s.hello_hostname,
            "max_conns": str(s.max_conns),
            "idle_timeout": format_duration(s.idle_timeout),
            "wait_timeout": format_duration(s.wait_timeout),
            "max_msg_retries": str(s.max_msg_retries),
            "msg_retry_delay": format_duration(s.msg_retry_delay),
            "max_per_second": _opt(s.max_per_second),
            "max_per_hour": _opt(s.max_per_hour),
            "max_per_day": _opt(s.max_per_day),
        }
        for key, text in texts.items():
            self.lines[key].setText(text)
        self.enabled.setChecked(s.enabled)
        self.tls_skip_verify.setChecked(s.tls_skip_verify)
        self.pin.set_pin(s.tls_pin_sha256)
        self.set_choice(self.tls_type, str(s.tls_type))
        self.set_choice(self.auth_protocol, str(s.auth_protocol))
        self.headers.setPlainText(_headers_json(s))
        self.headers.document().setModified(False)
        self.password.clear()
        self.oauth.load(s)
        self.dkim.load(s)
        self.apply_rules()

    def apply_rules(self) -> None:
        """Disable the fields the chosen TLS type and authentication make irrelevant."""
        tls = self.tls_type.currentData() != str(TlsType.NONE)
        for key in ("tls_skip_verify", "tls_pin_sha256"):
            self.rows[key].setEnabled(tls)
        login = self.auth_protocol.currentData() != str(AuthProtocol.NONE)
        for key in ("username", "password"):
            self.rows[key].setEnabled(login)
        self.oauth.apply()
        self.dkim.apply()

    @staticmethod
    def set_choice(combo: QComboBox, value: str) -> None:
        index = combo.findData(value)
        combo.setCurrentIndex(max(index, 0))

    def values(self) -> dict[str, object]:
        data: dict[str, object] = {key: line.text() for key, line in self.lines.items()}
        data["enabled"] = self.enabled.isChecked()
        data["tls_skip_verify"] = self.tls_skip_verify.isChecked()
        data["tls_pin_sha256"] = self.pin.pin()
        data["tls_type"] = self.tls_type.currentData()
        data["auth_protocol"] = self.auth_protocol.currentData()
        data["email_headers"] = self.headers.toPlainText()
        data.update(self.oauth.values())
        data.update(self.dkim.values())
        return data

    def fill(self, values: dict[str, object]) -> None:
        """Set the fields a preset names (enums, numbers or None)."""
        for key, value in values.items():
            if key in ("tls_type", "auth_protocol"):
                combo = self.tls_type if key == "tls_type" else self.auth_protocol
                self.set_choice(combo, str(value))
            elif key in self.lines:
                self.lines[key].setText(_opt(value))  # type: ignore[arg-type]
        self.oauth.fill(values)
        self.apply_rules()
        self.changed.emit()


def _opt(value: float | int | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _headers_json(s: ServerSettings) -> str:
    if not s.email_headers:
        return ""
    pairs = ",\n".join("  " + json.dumps(list(pair)) for pair in s.email_headers)
    return f"[\n{pairs}\n]"
