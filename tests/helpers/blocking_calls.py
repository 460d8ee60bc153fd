"""Catch SQLite and keyring calls made on a thread that must never block (issue 9).

:class:`BlockingCallWatch` listens to SQLAlchemy's ``before_cursor_execute`` on every
engine (the Store's included, whenever it was created) and wraps the active keyring
backend's get/set/delete. ``flag`` decides, on the calling thread, whether a call is a
violation: it returns where the offending code is (a frame's ``file:line in function``)
or None.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import keyring
from sqlalchemy import event
from sqlalchemy.engine import Engine

KEYRING_CALLS = ("get_password", "set_password", "delete_password", "get_credential")


@dataclass
class BlockingCallWatch:
    flag: Callable[[], str | None]
    violations: list[str] = field(default_factory=list)
    _backend: Any = None

    def start(self) -> None:
        event.listen(Engine, "before_cursor_execute", self._sql)
        self._backend = keyring.get_keyring()
        for name in KEYRING_CALLS:
            original = getattr(self._backend, name, None)
            if original is not None:
                setattr(self._backend, name, self._wrap(name, original))

    def stop(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._sql)
        for name in KEYRING_CALLS:  # the instance attributes hide the class's methods
            self._backend.__dict__.pop(name, None)

    def report(self) -> str:
        return "\n".join(self.violations)

    def _sql(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        where = self.flag()
        if where is not None:
            self.violations.append(f"SQL {' '.join(statement.split())[:120]!r} from {where}")

    def _wrap(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            where = self.flag()
            if where is not None:
                self.violations.append(f"keyring {name}{args[:2]!r} from {where}")
            return original(*args, **kwargs)

        return wrapped


def frames() -> Iterator[FrameType]:
    """The calling thread's frames, innermost first."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        yield frame
        frame = frame.f_back


def describe(frame: FrameType) -> str:
    summary = traceback.FrameSummary(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
    return f"{summary.filename}:{summary.lineno} in {summary.name}"


def trail(found: list[FrameType], depth: int = 4) -> str:
    """The innermost ``depth`` of ``found`` frames, innermost first."""
    return " <- ".join(describe(f) for f in found[:depth]) or "?"
