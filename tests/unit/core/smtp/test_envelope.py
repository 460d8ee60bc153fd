"""The envelope a server sends with: headers added, Return-Path, recipients."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.smtp.envelope import prepare


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
