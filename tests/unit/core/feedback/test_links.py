"""The unsubscribe links a message carries (issue 12): headers and template fields."""

from __future__ import annotations

from email import message_from_bytes

import pytest

from smtpdesk.core.campaign import review
from smtpdesk.core.campaign.content import CampaignContent, Renderer
from smtpdesk.core.campaign.mime import UnsafeHeaderError
from smtpdesk.core.feedback import tokens

TOKEN = tokens.make_token(bytes(32), 3, 9)
CONTENT = CampaignContent(
    subject="Hi",
    from_address="news@example.com",
    html="<a href='{{ unsubscribe_url }}'>web</a> <a href='{{ unsubscribe_mailto }}'>mail</a>",
)


def _render(content: CampaignContent, token: str = "", address: str = "") -> bytes:
    renderer = Renderer(content)
    renderer.unsubscribe_address = address
    return renderer.render({"email": "bob@example.org"}, token).as_bytes()


def _headers(raw: bytes) -> dict[str, str]:
    message = message_from_bytes(raw)
    return {k: " ".join(str(v).split()) for k, v in message.items()}


def test_the_signed_mailto_and_an_https_url_with_one_click() -> None:
    content = CampaignContent(
        **{**CONTENT.__dict__, "unsubscribe_url": "https://x.test/u?e={{ email }}"}
    )
    raw = _render(content, TOKEN, "bounces@example.com")
    headers = _headers(raw)
    mailto = f"mailto:bounces@example.com?subject=unsubscribe-{TOKEN}"
    assert headers["List-Unsubscribe"] == f"<{mailto}>, <https://x.test/u?e=bob%40example.org>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = raw.replace(b"=\r\n", b"").replace(b"=3D", b"=")
    assert mailto.encode() in body and b"https://x.test/u?e=bob%40example.org" in body


def test_no_one_click_without_https() -> None:
    content = CampaignContent(**{**CONTENT.__dict__, "unsubscribe_url": "http://x.test/u"})
    headers = _headers(_render(content, TOKEN, "bounces@example.com"))
    assert "List-Unsubscribe-Post" not in headers
    headers = _headers(_render(CONTENT, TOKEN, "bounces@example.com"))
    assert headers["List-Unsubscribe"].startswith("<mailto:bounces@example.com?subject=")
    assert "List-Unsubscribe-Post" not in headers


def test_without_a_token_the_campaign_s_plain_mailto_stays() -> None:
    content = CampaignContent(**{**CONTENT.__dict__, "unsubscribe_mailto": "leave@example.com"})
    assert _headers(_render(content))["List-Unsubscribe"] == "<mailto:leave@example.com>"
    assert "List-Unsubscribe" not in _headers(_render(CONTENT))


def test_the_link_fields_are_no_missing_columns_and_no_column_overrides_them() -> None:
    assert review.field_problems(CONTENT, ["email"]) == []
    renderer = Renderer(CONTENT)
    renderer.unsubscribe_address = "bounces@example.com"
    fields = renderer.link_fields({"email": "a@example.org", "unsubscribe_mailto": "evil"}, TOKEN)
    assert fields["unsubscribe_mailto"] == tokens.mailto("bounces@example.com", TOKEN)


def test_the_header_guard_still_refuses_a_broken_address() -> None:
    renderer = Renderer(CONTENT)
    renderer.unsubscribe_address = "bounces@example.com>\r\nBcc: x@example.org"
    with pytest.raises(UnsafeHeaderError):
        renderer.render({"email": "bob@example.org"}, TOKEN)
