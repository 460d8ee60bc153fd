"""The fast MIME path's bytes are what the email package's SMTP generator writes."""

from __future__ import annotations

import email.policy
from typing import Any

import pytest

from smtpdesk.core.campaign.mime import Attachment, MimeTemplate

PDF: Attachment = ("Übersicht.pdf", bytes(range(256)) * 9, ("application", "pdf"))


def without_message_id(raw: bytes) -> list[bytes]:
    """The lines but the Message-ID, which is new for each message."""
    return [line for line in raw.split(b"\r\n") if not line.startswith(b"Message-ID")]


@pytest.mark.parametrize("html", [None, "<p>Dear Ånn, voilà.</p>\n" * 20])
@pytest.mark.parametrize("files", [(), (PDF,)])
def test_build_bytes_is_what_the_generator_writes(
    html: str | None, files: tuple[Attachment, ...]
) -> None:
    template = MimeTemplate(
        from_name="Zoë",
        from_address="news@example.com",
        reply_to="r@example.com",
        attachments=files,
    )
    options: dict[str, Any] = {
        "to": "x@example.com",
        "subject": "A very long subject – " * 6,
        "text": "Plain\n.\nline with a dot above\n",
        "html": html,
        "headers": [("List-Unsubscribe", "<mailto:u@example.com>,\r\n <https://e.com/u>")],
    }
    message = template.build(**options)
    assert message.wire == message.as_bytes(policy=email.policy.SMTP)
    raw = template.build_bytes(**options)
    assert b"\r\n\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert without_message_id(raw) == without_message_id(message.wire)


def test_non_ascii_recipient_is_written_as_utf8() -> None:
    template = MimeTemplate(from_name="N", from_address="news@example.com")
    raw = template.build_bytes(to="jörg@example.com", subject="s", text="t", html=None)
    assert "To: jörg@example.com\r\n".encode() in raw
