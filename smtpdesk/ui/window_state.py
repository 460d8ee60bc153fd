"""Remembering a window's size and splitter positions in the ``ui_state`` QSettings.

Each window kind has its own key ("main", "live_panel", "inbox"); its named splitters
are kept under that key, so two windows with a splitter of the same name do not mix.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt
from PySide6.QtWidgets import QSplitter, QWidget


def named_splitters(window: QWidget) -> list[QSplitter]:
    """The window's own named splitters, not those of windows it has opened."""
    return [s for s in window.findChildren(QSplitter) if s.objectName() and s.window() is window]


def restore_window(window: QWidget, state: QSettings, key: str) -> None:
    size = state.value(f"{key}/size")
    if isinstance(size, QSize) and size.isValid():
        window.resize(size)
    if state.value(f"{key}/maximized") in (True, "true"):
        window.setWindowState(Qt.WindowState.WindowMaximized)
    for splitter in named_splitters(window):
        saved = state.value(f"{key}/splitters/{splitter.objectName()}")
        if isinstance(saved, QByteArray):
            splitter.restoreState(saved)


def save_window(window: QWidget, state: QSettings, key: str) -> None:
    # Size rather than saveGeometry(): it round-trips the same on every platform plugin.
    state.setValue(f"{key}/size", window.normalGeometry().size())
    state.setValue(f"{key}/maximized", window.isMaximized())
    for splitter in named_splitters(window):
        state.setValue(f"{key}/splitters/{splitter.objectName()}", splitter.saveState())
    state.sync()
