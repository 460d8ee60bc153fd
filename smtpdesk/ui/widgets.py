"""Small building blocks shared by the forms: a field row with its message, palette colours."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from smtpdesk.core.settings import Problem


def is_dark() -> bool:
    palette = QGuiApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def tone(kind: str) -> str:
    """A text colour for ``kind`` ("error", "warning", "ok", "muted") readable on the palette."""
    dark = is_dark()
    colours = {
        "error": ("#ff8a80", "#b71c1c"),
        "warning": ("#ffcc66", "#8a5300"),
        "ok": ("#81c784", "#1b5e20"),
        "muted": ("#b0b0b0", "#555555"),
    }
    light_on_dark, dark_on_light = colours[kind]
    return light_on_dark if dark else dark_on_light


def status_colour(ok: bool | None) -> QColor:
    if ok is None:
        return QColor("#9e9e9e")
    return QColor("#2e7d32") if ok else QColor("#c62828")


def caption(text: str, kind: str = "muted") -> QLabel:
    """A small word-wrapped explanation under a field."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {tone(kind)};")
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label


class FieldRow(QWidget):
    """An editor, an optional help caption, and the validation messages for its field."""

    def __init__(self, editor: QWidget, help_text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(editor)
        self.help = caption(help_text) if help_text else None
        if self.help is not None:
            layout.addWidget(self.help)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.message.setAccessibleName("validation message")
        layout.addWidget(self.message)

    def show_problems(self, problems: Sequence[Problem]) -> None:
        if not problems:
            self.message.clear()
            self.message.setVisible(False)
            return
        lines = []
        for p in problems:
            colour = tone("error" if p.severity == "error" else "warning")
            mark = "✖" if p.severity == "error" else "⚠"
            hint = f" — {p.hint}" if p.hint else ""
            text = _escape(f"{p.message}{hint}")
            lines.append(f'<span style="color:{colour}">{mark} {text}</span>')
        self.message.setText("<br>".join(lines))
        self.message.setVisible(True)

    @property
    def message_text(self) -> str:
        return self.message.text() if self.message.isVisible() else ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
