"""The follower's side of the channel: start a sending process, follow it, pause or cancel it.

Used by the GUI (``ui/campaign_control.py``) and the CLI (``campaign follow|pause|cancel``).
Every function takes an optional ``folder``, the data folder; without it,
:func:`smtpdesk.core.paths.data_dir` (``$SMTPDESK_DATA_DIR`` or the platform's folder). A
caller that opened its store elsewhere (``--data-dir``) passes ``store.folder``.

A channel file whose process is gone (kill -9, a crash) is harmless: :func:`sender_channel`
finds the pid dead and removes the file, and the campaign shows as interrupted through its
runner lease, ready to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smtpdesk.core.campaign.ledger import USER_PAUSE, pid_alive
from smtpdesk.core.campaign.progress import Progress
from smtpdesk.core.errors import KnownError
from smtpdesk.core.paths import FILE_MODE, data_dir
from smtpdesk.core.service.channel import (
    MAX_LINE,
    ChannelError,
    ChannelInfo,
    channel_file,
    diagnosis_from_dict,
    encode_message,
    listening,
    progress_from_dict,
    read_channel,
    read_message,
    require_field,
    senders_folder,
)
from smtpdesk.core.smtp.types import Diagnosis

log = logging.getLogger(__name__)
START_SECONDS = 20.0  # how long start_sender waits for the process to answer
CONNECT_SECONDS = 5.0
ACK_SECONDS = 10.0  # how long request() waits for the sender to take the command
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # senders started here, to reap them


@dataclass(frozen=True)
class ProgressEvent:
    progress: Progress


@dataclass(frozen=True)
class EndedEvent:
    state: str  # a CampaignState value: finished, paused, cancelled
    reason: str  # the pause reason, if any
    blocked: Diagnosis | None  # why no server could send, when that paused it


@dataclass(frozen=True)
class FailedEvent:
    """The run could not start (or stopped on an error): the process has ended."""

    message: str
    hint: str


ServiceEvent = ProgressEvent | EndedEvent | FailedEvent


def _event(message: dict[str, Any]) -> ServiceEvent | None:
    """The event a message carries; None for those followers do not see (acks)."""
    kind = require_field(message, "event", str)
    if kind == "progress":
        return ProgressEvent(progress_from_dict(message.get("progress")))
    if kind == "ended":
        return EndedEvent(
            require_field(message, "state", str),
            require_field(message, "reason", str),
            diagnosis_from_dict(message.get("blocked")),
        )
    if kind == "failed":
        return FailedEvent(
            require_field(message, "message", str), require_field(message, "hint", str)
        )
    return None


# --- where a sender listens ----------------------------------------------------------------


def _folder(folder: str | Path | None) -> Path:
    return data_dir(folder)


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:  # ours: until reaped, os.kill(pid, 0) finds even a dead one
        return child.poll() is None
    return pid_alive(pid)


def sender_channel(campaign_id: int, *, folder: str | Path | None = None) -> ChannelInfo | None:
    """The campaign's channel if a live process is sending it through one, else None (a
    stale or unreadable channel file is removed). Blocking."""
    path = channel_file(_folder(folder), campaign_id)
    if not path.exists():
        return None
    info = read_channel(path)
    if info is not None and _alive(info.pid):
        return info
    if info is None and time.time() - _mtime(path) < 5.0:
        return None  # being replaced this very moment (written atomically: rare)
    with contextlib.suppress(OSError):  # gone, or a read-only folder
        path.unlink()
    return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


# --- following -----------------------------------------------------------------------------


class Follower:
    """One authenticated connection to a campaign's sending process."""

    def __init__(
        self,
        campaign_id: int,
        info: ChannelInfo,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.campaign_id = campaign_id
        self.info = info
        self._reader = reader
        self._writer = writer

    @property
    def pid(self) -> int:
        return self.info.pid

    async def events(self) -> AsyncIterator[ServiceEvent]:
        """Progress, then EndedEvent or FailedEvent. The iterator ends when the channel
        closes; closed without either, the sender died (re-read the ledger)."""
        while True:
            message = await self._message()
            try:
                event = None if message is None else _event(message)
            except ChannelError as exc:
                log.warning("campaign %s: the channel sent %s", self.campaign_id, exc)
                message = None
            if message is None:
                await self.close()
                return
            if event is not None:
                yield event
            if isinstance(event, EndedEvent | FailedEvent):
                await self.close()  # the sender hangs up next: nothing more will come
                return

    async def _message(self) -> dict[str, Any] | None:
        try:
            return await read_message(self._reader)
        except ChannelError as exc:
            log.warning("campaign %s: the channel sent %s", self.campaign_id, exc)
            await self.close()
            return None

    async def pause(self, reason: str = USER_PAUSE) -> None:
        await self._send({"op": "pause", "reason": reason})

    async def cancel(self) -> None:
        await self._send({"op": "cancel"})

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            self._writer.write(encode_message(message))
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:  # RuntimeError: already closed
            raise KnownError(
                f"The process sending campaign {self.campaign_id} is no longer running.",
                "Its state is in the campaign list; resume it from there.",
            ) from exc

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()


async def follow(campaign_id: int, *, folder: str | Path | None = None) -> Follower | None:
    """Connect to the campaign's sending process; None when nobody is sending it so."""
    info = await asyncio.to_thread(sender_channel, campaign_id, folder=folder)
    if info is None:
        return None
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            reader, writer = await asyncio.open_connection("127.0.0.1", info.port, limit=MAX_LINE)
    except (OSError, TimeoutError):
        return None
    follower = Follower(campaign_id, info, reader, writer)
    try:
        await follower._send({"token": info.token})
    except KnownError:
        await follower.close()
        return None
    return follower


async def request(
    campaign_id: int, op: str, reason: str = "", *, folder: str | Path | None = None
) -> bool:
    """Ask the campaign's sending process to ``pause`` (with ``reason``) or ``cancel``;
    True once it took the command, False when nobody is sending it through a channel."""
    if op not in ("pause", "cancel"):
        raise ValueError(f"unknown op {op!r}")
    follower = await follow(campaign_id, folder=folder)
    if follower is None:
        return False
    try:
        message: dict[str, Any] = {"op": op}
        if op == "pause":
            message["reason"] = reason or USER_PAUSE
        try:
            await follower._send(message)
        except KnownError:
            return False
        async with asyncio.timeout(ACK_SECONDS):
            while (answer := await follower._message()) is not None:
                if answer.get("event") == "ack":
                    return True
                if answer.get("event") in ("ended", "failed"):
                    return False  # it ended before it read the command
        return False
    except TimeoutError:
        return False
    finally:
        await follower.close()


# --- starting a sending process -----------------------------------------------------------


def sender_command(campaign_id: int, folder: Path) -> list[str]:
    """How to run ``smtpdesk campaign serve ID`` with this Python or this frozen bundle."""
    if getattr(sys, "frozen", False):  # packaging/entry.py passes argv to cli.main
        program = [str(_console_executable(Path(sys.executable)))]
    else:
        program = [sys.executable, "-m", "smtpdesk"]
    return [*program, "--data-dir", str(folder), "campaign", "serve", str(campaign_id)]


def _console_executable(executable: Path) -> Path:
    """The bundle's console executable beside ``smtpdesk-gui`` (Windows, macOS): a windowed
    one has no standard error, where the sending process writes why it could not start."""
    console = executable.with_name(executable.name.replace("smtpdesk-gui", "smtpdesk", 1))
    return console if console != executable and console.is_file() else executable


def _detached() -> dict[str, Any]:
    """Popen options for a process that outlives its parent (and its terminal)."""
    if sys.platform == "win32":
        flags = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
        return {"creationflags": flags}
    return {"start_new_session": True}


def start_sender(campaign_id: int, *, folder: str | Path | None = None) -> int:
    """Start ``campaign serve`` for the campaign in a detached process; return its pid once
    it sends (or has ended). Blocking: call it from a worker thread.

    If a live process already sends it through a channel, that process's pid is returned.
    If the run cannot start, :class:`KnownError` with the process's own sentence (from
    its ``failed`` message or, if it ended first, its error output).
    """
    where = _folder(folder)
    running = sender_channel(campaign_id, folder=where)
    if running is not None and listening(running):
        return running.pid
    errors = _error_file(where, campaign_id)
    fd = os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        child = subprocess.Popen(
            sender_command(campaign_id, where),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=fd,
            close_fds=True,
            **_detached(),
        )
    finally:
        os.close(fd)
    _CHILDREN[child.pid] = child
    threading.Thread(  # reaps it when it ends: no zombie for the app's whole life
        target=child.wait, name=f"smtpdesk-sender-{child.pid}", daemon=True
    ).start()
    deadline = time.monotonic() + START_SECONDS
    info = _wait_for_channel(child, channel_file(where, campaign_id), errors, deadline)
    _wait_for_start(child, info, errors, deadline)
    return child.pid


def wait_sender(pid: int, timeout: float | None = None) -> int | None:
    """The exit code of a sending process this process started (negative: the signal that
    ended it), once it has ended; None after ``timeout`` or for a pid not started here.
    Blocking."""
    child = _CHILDREN.get(pid)
    if child is None:
        return None
    try:
        return child.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def _error_file(folder: Path, campaign_id: int) -> Path:
    return senders_folder(folder) / f"{campaign_id}.stderr"


def _wait_for_channel(
    child: subprocess.Popen[bytes], path: Path, errors: Path, deadline: float
) -> ChannelInfo:
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise _exit_error(child, errors)
        info = read_channel(path)
        if info is not None and info.pid == child.pid:
            return info
        time.sleep(0.02)
    child.terminate()  # pauses it cleanly if it started after all
    raise KnownError(
        f"The sending process did not start within {START_SECONDS:g} s.",
        f"Its output is in {errors}; try again.",
    )


def _wait_for_start(
    child: subprocess.Popen[bytes], info: ChannelInfo, errors: Path, deadline: float
) -> None:
    """Wait for the run's first word: progress or its end (fine) or ``failed`` (raised)."""
    first = _first_message(info, deadline)
    if first is not None and first.get("event") == "failed":
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(CONNECT_SECONDS)  # reaped here, not left a zombie
        raise KnownError(str(first.get("message", "")), str(first.get("hint", "")))
    if first is None:  # closed at once: it is ending; its error output says why
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(CONNECT_SECONDS)
        if child.poll() not in (None, 0):
            raise _exit_error(child, errors)


def _first_message(info: ChannelInfo, deadline: float) -> dict[str, Any] | None:
    """Blocking: authenticate and read the first event; None if the channel closed first.
    A sender still preparing when the deadline comes is taken as started."""
    try:
        timeout = max(0.1, deadline - time.monotonic())
        with socket.create_connection(("127.0.0.1", info.port), timeout=timeout) as sock:
            sock.sendall(encode_message({"token": info.token}))
            with sock.makefile("rb") as stream:
                line = stream.readline(MAX_LINE)
    except TimeoutError:
        return {"event": "progress"}  # preparing a large campaign: it is running
    except OSError:
        return None
    try:
        message = json.loads(line) if line.endswith(b"\n") else None
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def _exit_error(child: subprocess.Popen[bytes], errors: Path) -> KnownError:
    """The sending process ended before it could send: its own last error line."""
    try:
        lines = [
            line.strip()
            for line in errors.read_text(encoding="utf-8", errors="replace").splitlines()
        ]
    except OSError:
        lines = []
    lines = [line for line in lines if line]
    said = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    sentence = said[-1] if said else (lines[-1] if lines else "")
    if said:
        return KnownError(sentence)  # the child's own "message (hint)"
    if not sentence:
        sentence = f"The sending process stopped at once (exit code {child.returncode})."
    return KnownError(sentence, f"The sending process's output is in {errors}.")
