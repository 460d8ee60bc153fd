"""Dates and times as the user's locale writes them (not a fixed strftime pattern).

Without a locale (LANG=C, common on servers and in containers) Qt's "C" formats are
``d M yyyy``, which reads as three loose numbers: ISO 8601 is used instead.
"""

from __future__ import annotations

from PySide6.QtCore import QDateTime, QLocale

ISO_DATE, ISO_TIME = "yyyy-MM-dd", "HH:mm"


def date_time_format(*, seconds: bool = False) -> str:
    """A QDateTime format for the user's locale (for ``QDateTimeEdit.setDisplayFormat``)."""
    locale = QLocale()
    if locale.language() == QLocale.Language.C:
        date, time = ISO_DATE, ISO_TIME
    else:
        date = locale.dateFormat(QLocale.FormatType.ShortFormat)
        time = locale.timeFormat(QLocale.FormatType.ShortFormat)
    if seconds and "s" not in time:
        time = time.replace("mm", "mm:ss", 1)
    if "yyyy" not in date:  # a two-digit year is ambiguous in a schedule
        date = date.replace("yy", "yyyy", 1)
    return f"{date} {time}"


def format_when(epoch: float, *, seconds: bool = False) -> str:
    """``epoch`` in local time, written the user's locale's way."""
    moment = QDateTime.fromMSecsSinceEpoch(int(epoch * 1000))
    return QLocale().toString(moment, date_time_format(seconds=seconds))
