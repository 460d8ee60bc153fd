"""Small building blocks shared by the forms: a field row with its message, palette colours,
a one-line status that never moves the controls around it, and the wheel guard."""

from __future__ import annotations

import html
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

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


def scrolling(inner: QWidget) -> QScrollArea:
    """A frameless scroll area around a page's fields: the page then never sets the
    window's least height (at 800x600 with a scale of 1.5 it has 400 logical pixels)."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(inner)
    return scroll


def caption(text: str, kind: str = "muted") -> QLabel:
    """A small word-wrapped explanation under a field."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {tone(kind)};")
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    return label


class FieldRow(QWidget):
    """An editor, an optional help caption, and the validation messages for its field.

    A message takes the help caption's place (the help goes to its tooltip), and the
    caption's space stays reserved, so a message as long as the help moves nothing below.
    """

    def __init__(self, editor: QWidget, help_text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(editor)
        note = QGridLayout()  # the help and the message share one cell
        note.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(note)
        self.help = caption(help_text) if help_text else None
        if self.help is not None:
            policy = self.help.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            self.help.setSizePolicy(policy)
            note.addWidget(self.help, 0, 0, Qt.AlignmentFlag.AlignTop)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.message.setAccessibleName("validation message")
        self.message.setToolTip(help_text)
        note.addWidget(self.message, 0, 0, Qt.AlignmentFlag.AlignTop)

    def show_problems(self, problems: Sequence[Problem]) -> None:
        if self.help is not None:
            self.help.setVisible(not problems)
        if not problems:
            self.message.clear()
            self.message.setVisible(False)
            return
        lines = []
        for p in problems:
            colour = tone("error" if p.severity == "error" else "warning")
            mark = "✖" if p.severity == "error" else "⚠"
            hint = f" — {p.hint}" if p.hint else ""
            text = html.escape(f"{p.message}{hint}")
            lines.append(f'<span style="color:{colour}">{mark} {text}</span>')
        self.message.setText("<br>".join(lines))
        self.message.setVisible(True)

    @property
    def message_text(self) -> str:
        return self.message.text() if self.message.isVisible() else ""


class StatusLine(QLabel):
    """One line of status or error text in a fixed place: it never wraps or changes height.

    Text longer than the line is elided; the whole of it is in the tooltip and the
    accessible description. An empty line keeps its height, so nothing below it moves.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self._kind = ""
        self.setWordWrap(False)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumHeight(self.fontMetrics().height() + 4)

    def show_text(self, text: str, kind: str = "") -> None:
        """Show ``text`` coloured as ``kind`` ("error", "warning", "ok", "" for plain)."""
        self._full, self._kind = text, kind
        self.setStyleSheet(f"color: {tone(kind)};" if kind else "")
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self._elide()

    def clear_text(self) -> None:
        self.show_text("")

    @property
    def full_text(self) -> str:
        return self._full

    @property
    def kind(self) -> str:
        return self._kind

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        one_line = " ".join(self._full.split())
        width = max(self.width(), 1)
        super().setText(self.fontMetrics().elidedText(one_line, Qt.TextElideMode.ElideRight, width))


_WHEEL_TARGETS = (QComboBox, QAbstractSpinBox, QSlider)


class WheelGuard(QObject):
    """Scrolling over a combo box, spin box or slider that has no focus scrolls the page.

    Qt would change the field's value instead (a TLS type flipped by scrolling past it).
    The event goes to the field's parent, from where Qt hands it up to the scroll area.
    """

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.Wheel
            and isinstance(watched, _WHEEL_TARGETS)
            and not watched.hasFocus()
        ):
            parent = watched.parentWidget()
            if parent is not None:
                QCoreApplication.sendEvent(parent, event)
            return True
        return False


def guard_wheel(root: QWidget) -> WheelGuard:
    """Install a :class:`WheelGuard` on every such field under ``root`` (call after building).

    The fields also stop taking focus from the wheel, so a scroll never selects them.
    """
    guard = root.findChild(WheelGuard) or WheelGuard(root)
    for kind in _WHEEL_TARGETS:
        for field in root.findChildren(kind):
            field.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            field.installEventFilter(guard)
    return guard
