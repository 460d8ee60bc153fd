"""Undo, redo and find for whichever body editor the Content page shows."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QAction, QKeySequence, QTextCursor
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPlainTextEdit, QToolButton, QWidget

from smtpdesk.ui.widgets import tone


class EditTools(QWidget):
    """A row of tools acting on ``editor()``, the editor shown at the time of the click."""

    def __init__(self, editor: Callable[[], QPlainTextEdit], parent: QWidget | None = None):
        super().__init__(parent)
        self.editor = editor
        self.undo = self._button("Undo", QKeySequence.StandardKey.Undo)
        self.undo.clicked.connect(lambda: self.editor().undo())
        self.redo = self._button("Redo", QKeySequence.StandardKey.Redo)
        self.redo.clicked.connect(lambda: self.editor().redo())
        self.find_text = QLineEdit()
        self.find_text.setAccessibleName("Find")
        self.find_text.setPlaceholderText("Find in the body")
        self.find_text.returnPressed.connect(self.find_next)
        self.find_button = QToolButton()
        self.find_button.setText("Find next")
        self.find_button.clicked.connect(self.find_next)
        find = QAction(self)
        find.setShortcut(QKeySequence.StandardKey.Find)
        find.triggered.connect(lambda: self.find_text.setFocus())
        self.addAction(find)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.undo)
        row.addWidget(self.redo)
        row.addStretch(1)
        row.addWidget(self.find_text)
        row.addWidget(self.find_button)

    @staticmethod
    def _button(text: str, key: QKeySequence.StandardKey) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(f"{text} ({QKeySequence(key).toString()})")
        return button

    def find_next(self) -> bool:
        """Select the next match in the editor shown, wrapping to the start once."""
        editor, needle = self.editor(), self.find_text.text()
        if not needle:
            return False
        found = editor.find(needle)
        if not found:
            cursor = editor.textCursor()
            cursor.movePosition(QTextCursor.MoveOperation.Start)
            editor.setTextCursor(cursor)
            found = editor.find(needle)
        self.find_text.setStyleSheet("" if found else f"color: {tone('error')};")
        return found
