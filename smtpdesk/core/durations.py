"""Durations as listmonk writes them ("15s", "500ms", "2m", "1h30m") or plain seconds."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(value: object) -> float:
    """Return seconds from a number or a Go-style duration string.

    Raises ValueError with a sentence fit for the user; ``nan`` and ``inf`` are refused.
    """
    seconds = _seconds(value)
    if not math.isfinite(seconds):
        raise ValueError(f"{value!r} is not a finite duration")
    return seconds


def _seconds(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15s, 500ms or 2m")
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return math.inf
    if not isinstance(value, str):
        raise ValueError("expected a duration such as 15s, 500ms or 2m")
    text = value.strip().lower().replace(" ", "")
    if not text:
        raise ValueError("a duration is required")
    try:
        return float(text)  # "nan" and "inf" too: the caller refuses them
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(f"{value!r} is not a duration; use seconds or forms like 15s, 500ms, 2m")
    return total


def format_duration(seconds: float) -> str:
    """The shortest Go-style spelling of ``seconds`` that parses back to the same value."""
    millis = round(seconds * 1000)
    if millis % 1000:
        return f"{millis}ms"
    secs = millis // 1000
    if secs and secs % 3600 == 0:
        return f"{secs // 3600}h"
    if secs and secs % 60 == 0:
        return f"{secs // 60}m"
    return f"{secs}s"
