"""Garbage collection on the GUI thread only.

A cycle that holds a Qt object (a widget and a lambda connected to its signal, say)
is freed by whichever thread happens to trigger Python's collector: the engine's,
a render thread, the bridge's readers. Qt objects destroyed off their own thread
warn ("Timers cannot be stopped from another thread") and can crash. So, as
qutebrowser does, the automatic collector is off and a timer collects on the GUI
thread, as often as the automatic thresholds would have asked for.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 250


class GuiThreadCollector(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(INTERVAL_MS)
        self._timer.timeout.connect(self.collect)
        self._was_enabled = gc.isenabled()

    def start(self) -> None:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        """Stop collecting and give the automatic collector back as it was before start()."""
        self._timer.stop()
        if self._was_enabled:
            gc.enable()

    def collect(self) -> None:
        """Collect the generations whose counts passed their thresholds, oldest first."""
        counts, thresholds = gc.get_count(), gc.get_threshold()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return
