"""The local channel between a sending process and its followers: JSON lines over TCP.

TCP on 127.0.0.1 rather than a Unix socket: it works on Windows too, and a data folder's
path can be longer than ``AF_UNIX`` allows. Nobody else on the machine may steer a campaign:
the first line a follower sends is ``{"token": ...}``, the random token the sender wrote to
its channel file (0600 in a 0700 folder), and a connection that gets it wrong is closed.

Every message is one JSON object on one line, at most :data:`MAX_LINE` bytes. Anything else
(junk, a line too long, a field of the wrong type) raises :class:`ChannelError`, and the end
that received it closes that one connection.

Sender to follower::

    {"event": "progress", "progress": {...}}          # progress_to_dict
    {"event": "ack", "op": "pause"}                   # a command was taken
    {"event": "ended", "state": "paused", "reason": "...", "blocked": {...} | null}
    {"event": "failed", "message": "...", "hint": "..."}   # the run could not start

Follower to sender: ``{"token": ...}`` first, then ``{"op": "pause", "reason": ...}`` or
``{"op": "cancel"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import os
import socket
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smtpdesk.core.campaign.ledger import pid_alive
from smtpdesk.core.campaign.progress import Progress
from smtpdesk.core.errors import KnownError
from smtpdesk.core.paths import FILE_MODE, FOLDER_MODE
from smtpdesk.core.smtp.types import Diagnosis

MAX_LINE = 1 << 20  # bytes in one message; a longer line closes the connection
SENDERS = "senders"  # the folder of channel files, inside the data folder


class ChannelError(ValueError):
    """A message that is not what the channel carries: the connection is closed."""


@dataclass(frozen=True)
class ChannelInfo:
    """Where a campaign's sending process listens, from its channel file."""

    pid: int
    port: int
    token: str


# --- the channel file ---------------------------------------------------------------------


def channel_file(folder: Path, campaign_id: int) -> Path:
    return folder / SENDERS / f"{campaign_id}.json"


def senders_folder(folder: Path) -> Path:
    """``<data>/senders``, 0700: the channel files, and each sending process's log and
    stderr. Blocking; OSError on a read-only data folder."""
    senders = folder / SENDERS
    senders.mkdir(mode=FOLDER_MODE, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(senders, FOLDER_MODE)  # mkdir's mode is filtered by the umask
    return senders


def write_channel(folder: Path, campaign_id: int, info: ChannelInfo) -> Path:
    """Write the channel file atomically (a reader never sees half of it), 0600 in a 0700
    folder. Blocking. KnownError if another live process's file is there: two senders
    started at once must not hide the one that got the campaign."""
    senders_folder(folder)
    path = channel_file(folder, campaign_id)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dataclasses.asdict(info), handle)
    try:
        os.link(tmp, path)  # only where no file is: the common case
    except FileExistsError:
        other = read_channel(path)
        if other is not None and other.pid != info.pid and listening(other):
            tmp.unlink()
            raise KnownError(
                f"Campaign {campaign_id} is being sent by another process ({other.pid}).",
                "Follow it, or pause it there.",
            ) from None
        os.replace(tmp, path)  # a stale file (kill -9) or our own
    except OSError:  # no hard links on this file system
        os.replace(tmp, path)
    else:
        tmp.unlink()
    return path


def read_channel(path: Path) -> ChannelInfo | None:
    """The file's contents; None when it is missing or not a channel file. Blocking."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return decode(ChannelInfo, data)
    except (OSError, ValueError):
        return None


def listening(info: ChannelInfo, timeout: float = 1.0) -> bool:
    """Whether the channel's process is alive and its port takes connections: a stale file
    (kill -9) fails one or the other, also on Windows where a pid cannot be probed. Blocking."""
    if not pid_alive(info.pid):
        return False
    try:
        socket.create_connection(("127.0.0.1", info.port), timeout=timeout).close()
    except OSError:
        return False
    return True


def remove_channel(path: Path, pid: int) -> None:
    """Remove the channel file if it is still ``pid``'s (a newer sender's file stays)."""
    info = read_channel(path)
    if info is None or info.pid == pid:
        with contextlib.suppress(OSError):  # gone, or a read-only folder
            path.unlink()


# --- messages -----------------------------------------------------------------------------


def encode_message(message: Mapping[str, Any]) -> bytes:
    line = json.dumps(message, separators=(",", ":")).encode() + b"\n"
    if len(line) > MAX_LINE:
        raise ChannelError(f"a message of {len(line)} bytes is over the channel's limit")
    return line


async def read_message(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message; None when the other end closed. ChannelError on anything else.

    The reader must have been made with ``limit=MAX_LINE`` (``start_server``,
    ``open_connection``) so that a longer line is refused before it is all in memory.
    """
    try:
        line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError) as exc:  # the line is over the limit
        raise ChannelError("a line over the channel's limit") from exc
    except (ConnectionError, asyncio.IncompleteReadError):
        return None
    if not line:
        return None
    if not line.endswith(b"\n"):
        return None  # cut off by the other end's exit: as good as closed
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ChannelError("a line that is not JSON") from exc
    if not isinstance(message, dict):
        raise ChannelError("a message that is not a JSON object")
    return message


def require_field(message: Mapping[str, Any], name: str, kind: type) -> Any:
    """``message[name]``, which must be of type ``kind``; ChannelError otherwise."""
    value = message.get(name)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ChannelError(f"{name!r} is missing or not {kind.__name__}")
    return value


# --- Progress and Diagnosis as JSON -------------------------------------------------------


def progress_to_dict(progress: Progress) -> dict[str, Any]:
    result: dict[str, Any] = encode(progress)
    return result


def progress_from_dict(data: object) -> Progress:
    return decode(Progress, data)


def diagnosis_to_dict(diagnosis: Diagnosis | None) -> dict[str, Any] | None:
    return None if diagnosis is None else dict(encode(diagnosis))


def diagnosis_from_dict(data: object) -> Diagnosis | None:
    return None if data is None else decode(Diagnosis, data)


def encode(value: Any) -> Any:
    """A frozen dataclass (nested ones, tuples, enums) as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    return value


T = typing.TypeVar("T")


def decode(cls: type[T], data: object) -> T:
    """The dataclass ``cls`` from :func:`encode`'s output, every field's type checked
    against the class's annotations; ChannelError on anything that does not fit."""
    return typing.cast(T, _decode(cls, data, cls.__name__))


def _decode(hint: Any, value: object, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _decode(inner, value, where)
    if origin is tuple:
        item, *rest = typing.get_args(hint)
        if rest != [Ellipsis] or not isinstance(value, list):
            raise ChannelError(f"{where}: a list was expected")
        return tuple(_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError as exc:
            raise ChannelError(f"{where}: {value!r} is not a {hint.__name__}") from exc
    return _decode_scalar(hint, value, where)


def _decode_scalar(hint: Any, value: object, where: str) -> Any:
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and isinstance(value, hint):
        if hint is int and isinstance(value, bool):
            raise ChannelError(f"{where}: a number was expected")
        return value
    raise ChannelError(f"{where}: {type(value).__name__} where {hint} was expected")


_HINTS: dict[type, dict[str, Any]] = {}


def _decode_dataclass(cls: Any, value: object, where: str) -> Any:
    if not isinstance(value, dict):
        raise ChannelError(f"{where}: an object was expected")
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in value:
            values[f.name] = _decode(hints[f.name], value[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ChannelError(f"{where}: {f.name!r} is missing")
    return cls(**values)
