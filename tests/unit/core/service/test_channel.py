"""The channel's wire: Progress and Diagnosis to JSON and back exactly, and refusals."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpdesk.core.campaign.ledger import CampaignState, Counts
from smtpdesk.core.campaign.progress import ErrorGroup, Progress
from smtpdesk.core.errors import KnownError
from smtpdesk.core.service.channel import (
    MAX_LINE,
    ChannelError,
    ChannelInfo,
    channel_file,
    decode,
    diagnosis_from_dict,
    diagnosis_to_dict,
    encode_message,
    progress_from_dict,
    progress_to_dict,
    read_channel,
    read_message,
    remove_channel,
    write_channel,
)
from smtpdesk.core.smtp.types import Diagnosis, ServerStats

texts = st.text(max_size=30)
counts_ = st.integers(min_value=0, max_value=2**53)
floats = st.floats(allow_nan=False)  # JSON carries infinities; NaN is never equal to itself
diagnoses = st.builds(
    Diagnosis,
    cause=texts,
    message=texts,
    hints=st.lists(texts, max_size=3).map(tuple),
    raw=texts,
    temporary=st.booleans(),
    code=st.none() | st.integers(min_value=0, max_value=999),
    unconfirmed=st.booleans(),
)
servers = st.builds(
    ServerStats,
    server_uuid=texts,
    label=texts,
    connections_open=counts_,
    connections_busy=counts_,
    sent=counts_,
    failed=counts_,
    retried=counts_,
    mean_send_seconds=floats,
    wait_seconds=floats,
    last_error=st.none() | diagnoses,
    healthy=st.booleans(),
    backoff=floats,
)
groups = st.builds(
    ErrorGroup,
    cause=texts,
    title=texts,
    message=texts,
    hints=st.lists(texts, max_size=3).map(tuple),
    temporary=st.booleans(),
    count=counts_,
    samples=st.lists(texts, max_size=5).map(tuple),
    codes=st.lists(st.integers(200, 599), max_size=3).map(tuple),
)
progresses = st.builds(
    Progress,
    campaign_id=st.integers(min_value=1, max_value=2**62),
    state=st.sampled_from(CampaignState),
    counts=st.builds(
        Counts,
        pending=counts_,
        sending=counts_,
        sent=counts_,
        failed=counts_,
        skipped=counts_,
        unknown=counts_,
    ),
    rate=floats,
    elapsed=floats,
    eta=st.none() | floats,
    servers=st.lists(servers, max_size=3).map(tuple),
    errors=st.lists(groups, max_size=3).map(tuple),
    pause_reason=texts,
    waiting=texts,
)


@given(progresses)
def test_progress_round_trips_through_a_json_line(progress: Progress) -> None:
    line = encode_message({"event": "progress", "progress": progress_to_dict(progress)})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = progress_from_dict(json.loads(line)["progress"])
    assert back == progress
    assert isinstance(back.state, CampaignState)
    assert all(isinstance(s, ServerStats) for s in back.servers)


@given(st.none() | diagnoses)
def test_diagnosis_round_trips(diagnosis: Diagnosis | None) -> None:
    assert diagnosis_from_dict(json.loads(json.dumps(diagnosis_to_dict(diagnosis)))) == diagnosis


def _progress_dict() -> dict[str, Any]:
    diagnosis = Diagnosis("timeout", "Timed out", ("Retry",), code=421)
    progress = Progress(
        3,
        CampaignState.RUNNING,
        Counts(pending=2, sent=1),
        1.5,
        2.0,
        None,
        (ServerStats("u", "smtp", last_error=diagnosis),),
        (ErrorGroup("timeout", "Timed out", "m", (), True, 1, ("a@b.c",), (421,)),),
    )
    data: dict[str, Any] = json.loads(json.dumps(progress_to_dict(progress)))
    return data


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("counts", "sent"), "1"),  # a string for a number
        (("counts", "sent"), True),  # a boolean is no count
        (("counts", "sent"), 1.5),
        (("state",), "exploded"),  # no such state
        (("rate",), "fast"),
        (("servers",), {"u": 1}),  # an object for a list
        (("servers", 0, "last_error", "hints"), "Retry"),  # a string for a list
        (("servers", 0, "last_error", "code"), "421"),
        (("errors", 0, "temporary"), 1),  # a number for a boolean
        (("errors", 0), ["timeout"]),
    ],
)
def test_a_field_of_the_wrong_type_is_refused(path: tuple[Any, ...], value: object) -> None:
    data = _progress_dict()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ChannelError):
        progress_from_dict(data)


def test_missing_fields_are_refused_and_optional_ones_take_their_default() -> None:
    data = _progress_dict()
    del data["counts"]
    with pytest.raises(ChannelError, match="counts"):
        progress_from_dict(data)
    data = _progress_dict()
    del data["waiting"], data["servers"]
    assert progress_from_dict(data).waiting == "" and progress_from_dict(data).servers == ()
    junk: object
    for junk in (None, [], "x", 3):
        with pytest.raises(ChannelError):
            progress_from_dict(junk)
    with pytest.raises(ChannelError):
        decode(ChannelInfo, {"pid": 1, "port": "2", "token": "t"})


async def _read(data: bytes) -> dict[str, Any] | None:
    reader = asyncio.StreamReader(limit=MAX_LINE)
    reader.feed_data(data)
    reader.feed_eof()
    return await read_message(reader)


@pytest.mark.parametrize(
    "data",
    [b"not json\n", b"[1, 2]\n", b'"token"\n', b"\xff\xfe\n", b"{" * 10 + b"\n"],
)
async def test_junk_lines_are_refused(data: bytes) -> None:
    with pytest.raises(ChannelError):
        await _read(data)


async def test_a_line_over_the_limit_is_refused_and_the_end_is_none() -> None:
    with pytest.raises(ChannelError):
        await _read(b"{" + b" " * (2 * MAX_LINE) + b"}\n")
    assert await _read(b"") is None
    assert await _read(b'{"cut": "off') is None  # the other end died mid-line
    assert await _read(b'{"op": "cancel"}\n') == {"op": "cancel"}
    with pytest.raises(ChannelError):
        encode_message({"x": "y" * MAX_LINE})


def test_the_channel_file_is_private_and_written_whole(tmp_path: Path) -> None:
    info = ChannelInfo(os.getpid(), 4321, "ab" * 32)
    path = write_channel(tmp_path, 7, info)
    assert path == channel_file(tmp_path, 7)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_channel(path) == info
    assert [p.name for p in path.parent.iterdir()] == ["7.json"]  # no temporary file left
    remove_channel(path, os.getpid() + 1)  # another sender's: kept
    assert path.exists()
    remove_channel(path, os.getpid())
    assert not path.exists()
    path.write_text("{junk")
    assert read_channel(path) is None


def test_a_live_sender_s_file_is_never_replaced_a_stale_one_is(tmp_path: Path) -> None:
    with socket.socket() as listener:  # the live sender's port
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        live = ChannelInfo(os.getppid(), listener.getsockname()[1], "a" * 64)
        write_channel(tmp_path, 3, live)
        with pytest.raises(KnownError, match=rf"being sent by another process \({os.getppid()}\)"):
            write_channel(tmp_path, 3, ChannelInfo(os.getpid(), 2222, "b" * 64))
        assert read_channel(channel_file(tmp_path, 3)) == live
        assert [p.name for p in (tmp_path / "senders").iterdir()] == ["3.json"]
    mine = ChannelInfo(os.getpid(), 2222, "b" * 64)
    write_channel(tmp_path, 3, mine)  # its process lives, but nothing listens: stale
    assert read_channel(channel_file(tmp_path, 3)) == mine

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    write_channel(tmp_path, 4, ChannelInfo(int(gone.stdout), 1111, "a" * 64))  # a kill -9's
    write_channel(tmp_path, 4, mine)
    assert read_channel(channel_file(tmp_path, 4)) == mine
