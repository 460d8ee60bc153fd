"""Remembering a window's size and splitter positions in the ``ui_state`` QSettings.

Each window kind has its own key ("main", "live_panel", "inbox"); its named splitters
are kept under that key, so two windows with a splitter of the same name do not mix.
A restored size never exceeds the screen's available area: a size saved on a bigger
screen, or at another scale factor, would put the window's buttons off-screen.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QSplitter, QWidget


def named_splitters(window: QWidget) -> list[QSplitter]:
    """The window's own named splitters, not those of windows it has opened."""
    return [s for s in window.findChildren(QSplitter) if s.objectName() and s.window() is window]


def available_area(window: QWidget) -> QRect:
    """The part of the window's screen (else the primary one) not taken by panels and docks."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else QRect(0, 0, 800, 600)


def clamp_to_screen(window: QWidget) -> None:
    """Shrink the window to the available area, and move it back onto it, if it sticks out."""
    area = available_area(window)
    frame = window.frameGeometry()
    extra = frame.size() - window.geometry().size()  # the title bar and borders, if known
    width = min(window.width(), area.width() - max(extra.width(), 0))
    height = min(window.height(), area.height() - max(extra.height(), 0))
    if (width, height) != (window.width(), window.height()):
        window.resize(max(width, 1), max(height, 1))
    if window.isVisible() and not area.contains(window.frameGeometry()):
        left = min(max(frame.left(), area.left()), area.right() - window.frameGeometry().width())
        top = min(max(frame.top(), area.top()), area.bottom() - window.frameGeometry().height())
        window.move(max(left, area.left()), max(top, area.top()))


def restore_window(window: QWidget, state: QSettings, key: str) -> None:
    size = state.value(f"{key}/size")
    if isinstance(size, QSize) and size.isValid():
        window.resize(size)
    clamp_to_screen(window)  # also a default size too big for this screen
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
