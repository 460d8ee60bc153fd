"""The envelope a server sends with: headers added, Return-Path, recipients."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.smtp.envelope import prepare, prepare_bytes


def message(**headers: str) -> EmailMessage:
    m = EmailMessage()
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content("body")
    return m


def test_recipients_come_from_to_cc_and_bcc() -> None:
    m = message(
        From="A <a@example.test>",
        To="B <b@example.test>, c@example.test",
        Cc="d@example.test",
        Bcc="e@example.test",
    )
    _, sender, rcpts = prepare(m, ServerSettings())
    assert sender == "a@example.test"
    assert rcpts == ["b@example.test", "c@example.test", "d@example.test", "e@example.test"]


def test_return_path_priority_explicit_then_server_then_message() -> None:
    m = message(From="a@example.test", To="b@example.test", Return_Path="<msg@example.test>")
    server = ServerSettings(email_headers=(("Return-Path", "srv@example.test"),))
    out, sender, _ = prepare(m, server)
    assert sender == "srv@example.test" and out["Return-Path"] is None
    assert prepare(m, ServerSettings())[1] == "msg@example.test"
    assert prepare(m, server, sender="explicit@example.test")[1] == "explicit@example.test"
    assert m["Return-Path"] == "<msg@example.test>"  # the caller's copy is untouched


def test_message_headers_win_over_server_headers() -> None:
    m = message(From="a@example.test", To="b@example.test", X_Campaign="own")
    out, _, _ = prepare(
        m, ServerSettings(email_headers=(("X-Campaign", "server"), ("X-Other", "1")))
    )
    assert out.get_all("X-Campaign") == ["own"] and out["X-Other"] == "1"


def test_missing_sender_or_recipients_is_refused() -> None:
    with pytest.raises(ValueError, match="From"):
        prepare(message(To="b@example.test"), ServerSettings())
    with pytest.raises(ValueError, match="recipients"):
        prepare(message(From="a@example.test"), ServerSettings())


RAW = (
    b"From: A <a@example.test>\r\nTo: b@example.test\r\nReturn-Path:\r\n <rp@example.test>\r\n"
    b"X-Campaign: own\r\nSubject: hi\r\n\r\nReturn-Path: body text stays\r\n"
)


def test_bytes_return_path_is_removed_and_becomes_the_sender() -> None:
    out, sender, rcpts = prepare_bytes(RAW, ServerSettings(), "a@example.test", ["b@example.test"])
    assert sender == "rp@example.test" and rcpts == ["b@example.test"]
    assert b"rp@example.test" not in out
    assert out.endswith(b"\r\n\r\nReturn-Path: body text stays\r\n")  # the body is not touched
    server = ServerSettings(email_headers=(("Return-Path", "srv@example.test"),))
    assert prepare_bytes(RAW, server, "a@example.test", ["b@example.test"])[1] == "srv@example.test"
    plain = b"From: a@example.test\r\n\r\nbody\r\n"
    assert prepare_bytes(plain, ServerSettings(), "a@example.test", ["b"]) == (
        plain,
        "a@example.test",
        ["b"],
    )


def test_bytes_get_the_server_headers_as_folded_crlf_lines() -> None:
    long = "word " * 30
    server = ServerSettings(
        email_headers=(("X-Campaign", "server"), ("X-Long", long.strip()), ("X-Name", "Zoë"))
    )
    out, _, _ = prepare_bytes(RAW, server, "a@example.test", ["b@example.test"])
    head = out.split(b"\r\n\r\n")[0]
    assert head.count(b"X-Campaign") == 1 and b"X-Campaign: own" in head
    assert b"X-Name: =?utf-8?" in head and out.isascii()
    assert all(len(line) <= 78 for line in head.split(b"\r\n"))
    assert b"\n" not in head.replace(b"\r\n", b"")
    parsed = message_from_bytes(out, policy=policy.default)
    assert parsed["X-Name"] == "Zoë" and parsed["X-Long"] == long.strip()


def test_bytes_refuse_headers_that_would_inject_lines() -> None:
    bad = ServerSettings(email_headers=(("X-A", "x\r\nBcc: evil@example.test"),))
    with pytest.raises(ValueError, match="line break"):
        prepare_bytes(RAW, bad, "a@example.test", ["b@example.test"])
    with pytest.raises(ValueError, match="recipients"):
        prepare_bytes(RAW, ServerSettings(), "a@example.test", [])


@pytest.mark.parametrize(
    "header", [("X-A", "x\x00y"), ("X-A", "x\rBcc: e@example.test"), ("X A", "1"), ("X:A", "1")]
)
def test_both_paths_refuse_server_headers_that_are_not_one_line(header: tuple[str, str]) -> None:
    bad = ServerSettings(email_headers=(header,))
    with pytest.raises(ValueError, match="header"):
        prepare_bytes(RAW, bad, "a@example.test", ["b@example.test"])
    with pytest.raises(ValueError, match="header"):
        prepare(message(From="a@example.test", To="b@example.test"), bad)
