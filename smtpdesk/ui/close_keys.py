"""Esc, Ctrl+W and the platform's Close key close a panel or report window.

Qt's standard Close key is Ctrl+F4 on some platforms and Ctrl+W on others; two
shortcuts with one key would be ambiguous and neither would fire, so each key is
bound once.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget


def add_close_keys(window: QWidget, close: Callable[[], None]) -> list[QShortcut]:
    keys = [QKeySequence("Esc"), QKeySequence("Ctrl+W")]
    keys += QKeySequence.keyBindings(QKeySequence.StandardKey.Close)
    unique = {k.toString(): k for k in keys if not k.isEmpty()}
    return [QShortcut(key, window, close) for key in unique.values()]
