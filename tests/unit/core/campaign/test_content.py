"""Templates and MIME: fields, defaults, sandbox, headers, structure."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from pathlib import Path

import pytest

from smtpdesk.core.campaign.content import (
    CampaignContent,
    ContentError,
    Renderer,
    TemplateError,
    check_fields,
    html_to_text,
    preview,
    required_fields,
    validate_content,
)
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.store import Store

BASE = CampaignContent(
    subject="Hello {{ name }} – news",
    from_address="news@example.com",
    from_name="Zoë's shop",
    html="<p>Dear <b>{{ name }}</b> &amp; co</p>",
)


def parse(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_alternative_message_with_encoded_headers() -> None:
    raw = Renderer(BASE).render({"email": "ann@example.com", "name": "Ånn"}).as_bytes()
    assert raw.isascii()  # RFC 2047 subject and name, quoted-printable bodies
    assert b"=?utf-8?" in raw
    message = parse(raw)
    assert message["Subject"] == "Hello Ånn – news"
    assert message["From"].addresses[0].display_name == "Zoë's shop"
    assert message["To"] == "ann@example.com"
    assert message["Date"] and message["Message-ID"].endswith("@example.com>")
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().strip() == "Dear **Ånn** & co"
    assert "<b>Ånn</b>" in html.get_content()


def test_message_ids_are_unique() -> None:
    renderer = Renderer(BASE)
    ids = {
        renderer.render({"email": f"u{i}@example.com", "name": "x"})["Message-ID"]
        for i in range(200)
    }
    assert len(ids) == 200


def test_html_fields_are_escaped_but_text_is_not() -> None:
    content = CampaignContent(
        subject="{{ name }}", from_address="a@example.com", html="<p>{{ name }}</p>"
    )
    subject, html, text = Renderer(content).render_parts(
        {"email": "x@example.com", "name": "<Tom & Jerry>"}
    )
    assert subject == "<Tom & Jerry>"
    assert html == "<p>&lt;Tom &amp; Jerry&gt;</p>"
    assert text.strip() == "<Tom & Jerry>"


def test_unsubscribe_headers_rfc8058() -> None:
    content = CampaignContent(
        subject="s",
        from_address="a@example.com",
        text="t",
        unsubscribe_mailto="unsub@example.com",
        unsubscribe_url="https://example.com/u?e={{ email }}",
    )
    message = parse(Renderer(content).render({"email": "x@example.com"}).as_bytes())
    assert message["List-Unsubscribe"] == (
        "<mailto:unsub@example.com>, <https://example.com/u?e=x%40example.com>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    mail_only = Renderer(
        CampaignContent(
            subject="s", from_address="a@example.com", text="t", unsubscribe_mailto="u@example.com"
        )
    )
    message = mail_only.render({"email": "x@example.com"})
    assert message["List-Unsubscribe"] == "<mailto:u@example.com>"
    assert message["List-Unsubscribe-Post"] is None


def test_attachments_make_multipart_mixed(tmp_path: Path) -> None:
    pdf = tmp_path / "price list.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    content = CampaignContent(
        subject="s",
        from_address="a@example.com",
        html="<p>x</p>",
        attachments=(str(pdf),),
        reply_to="help@example.com",
        headers=(("X-Campaign", "{{ name | default('none') }}"),),
    )
    message = parse(Renderer(content).render({"email": "x@example.com"}).as_bytes())
    assert message.get_content_type() == "multipart/mixed"
    assert message["Reply-To"] == "help@example.com"
    assert message["X-Campaign"] == "none"
    parts = [p.get_content_type() for p in message.iter_parts()]
    assert parts == ["multipart/alternative", "application/pdf"]
    attachment = next(message.iter_attachments())
    assert attachment.get_filename() == "price list.pdf"
    assert attachment.get_content() == b"%PDF-1.4 fake"


def test_default_filter_and_required_fields() -> None:
    source = (
        "{{ name | default('friend') }} {% if city is defined %}{{ city }}{% endif %} "
        "{{ code }} {% for x in items %}{{ x }}{% endfor %} {{ email }}"
    )
    assert required_fields(source) == {"code", "items", "email"}
    content = CampaignContent(
        subject="s", from_address="a@example.com", html="Hi {{ name | default('friend') }}"
    )
    assert Renderer(content).render_parts({"email": "a@example.com"})[1] == "Hi friend"


def missing_for(store: Store, content: CampaignContent, rows: list[tuple[int, str, dict]]) -> list:
    ledger = Ledger(store)
    campaign = ledger.create_campaign("c", content)
    ledger.insert_recipients(
        campaign, [{"line": line, "email": email, "fields": f} for line, email, f in rows]
    )
    return check_fields(content, ledger, campaign)


def test_missing_fields_name_the_first_recipient(store: Store) -> None:
    content = CampaignContent(
        subject="For {{ name }}",
        from_address="a@example.com",
        text="Code {{ code }}, {{ nick | default('') }}",
    )
    rows = [
        (2, "a@example.com", {"name": "A", "code": "1"}),
        (3, "b@example.com", {"code": "2"}),
        (4, "c@example.com", {}),
    ]
    missing = missing_for(store, content, rows)
    assert [(m.field, m.template, m.count, m.first_email, m.first_line) for m in missing] == [
        ("code", "text", 1, "c@example.com", 4),
        ("name", "subject", 2, "b@example.com", 3),
    ]
    assert "b@example.com (line 3)" in str(missing[1])


def test_syntax_errors_and_sandbox() -> None:
    with pytest.raises(TemplateError, match="subject"):
        Renderer(CampaignContent(subject="{{ oops", from_address="a@example.com", text="t"))
    evil = CampaignContent(
        subject="s",
        from_address="a@example.com",
        text="{{ name.__class__.__mro__[1].__subclasses__() }}",
    )
    with pytest.raises(TemplateError):
        Renderer(evil).render({"email": "a@example.com", "name": "x"})


def test_strict_rendering_fails_on_a_missing_field() -> None:
    with pytest.raises(TemplateError, match=r"b@example\.com"):
        Renderer(BASE).render({"email": "b@example.com"})


def test_reserved_custom_header_is_refused() -> None:
    with pytest.raises(ContentError, match="Subject"):
        Renderer(
            CampaignContent(
                subject="s", from_address="a@example.com", text="t", headers=(("Subject", "x"),)
            )
        )


def test_html_to_text_keeps_template_tags() -> None:
    text = html_to_text(
        '<h1>Hi {{ first_name }}</h1><a href="{{ url }}">link</a>{% if vip %}<p>VIP</p>{% endif %}'
    )
    assert "{{ first_name }}" in text and "({{ url }})" in text
    assert "{% if vip %}" in text and "{% endif %}" in text


def test_preview_any_recipient() -> None:
    shown = preview(BASE, {"email": "z@example.com", "name": "Zed"})
    assert shown.subject == "Hello Zed – news"
    assert "<b>Zed</b>" in shown.html
    assert b"To: z@example.com" in shown.message


def test_content_round_trips_through_dict() -> None:
    content = CampaignContent(
        subject="s",
        from_address="a@example.com",
        text="t",
        headers=(("X-A", "1"),),
        attachments=("/x.pdf",),
    )
    assert CampaignContent.from_dict(content.to_dict()) == content


def test_tested_fields_may_be_missing(store: Store) -> None:
    content = CampaignContent(
        subject="s",
        from_address="a@example.com",
        text="{% if city %}in {{ city }}{% endif %}{{ ' vip' if vip is defined else '' }}",
    )
    assert missing_for(store, content, [(2, "a@example.com", {})]) == []
    renderer = Renderer(content)
    assert renderer.render_parts({"email": "a@example.com"})[2] == ""
    assert (
        renderer.render_parts({"email": "a@example.com", "city": "Oslo", "vip": 1})[2]
        == "in Oslo vip"
    )


@pytest.mark.parametrize("attach", [False, True])
@pytest.mark.parametrize("html", ["<p>Dear {{ name }}, voilà. " + "Long line. " * 30 + "</p>", ""])
def test_fast_mime_matches_the_email_package(tmp_path: Path, attach: bool, html: str) -> None:
    pdf = tmp_path / "Übersicht.pdf"
    pdf.write_bytes(bytes(range(256)) * 20)
    content = CampaignContent(
        subject="A very long subject for {{ name }} that goes on and on – and on past the limit",
        from_address="news@example.com",
        from_name="Zoë",
        reply_to="r@example.com",
        html=html,
        text="" if html else "Plain {{ name }}\n.\nline with a dot above",
        headers=(("X-Code", "ñ {{ name }}"),),
        attachments=(str(pdf),) if attach else (),
        unsubscribe_mailto="u@example.com",
        unsubscribe_url="https://example.com/u/{{ name }}",
    )
    fields = {"email": "x@example.com", "name": "Ånn"}
    renderer = Renderer(content)
    fast = parse(renderer.render(fields).as_bytes(policy=email.policy.SMTP))
    standard = parse(renderer.render_standard(fields).as_bytes(policy=email.policy.SMTP))
    for name in (
        "Subject",
        "From",
        "To",
        "Reply-To",
        "X-Code",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "MIME-Version",
    ):
        assert str(fast[name]) == str(standard[name]), name
    assert fast.get_content_type() == standard.get_content_type()
    for kind in ("plain", "html"):
        a, b = fast.get_body((kind,)), standard.get_body((kind,))
        assert (a is None) == (b is None)
        if a is not None and b is not None:
            assert a.get_content() == b.get_content()
    fast_files = [(p.get_filename(), p.get_content()) for p in fast.iter_attachments()]
    assert fast_files == [(p.get_filename(), p.get_content()) for p in standard.iter_attachments()]
    raw = renderer.render(fields).as_bytes(policy=email.policy.SMTP)
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))


def test_non_ascii_recipient_uses_the_email_package() -> None:
    message = Renderer(BASE).render({"email": "jörg@example.com", "name": "J"})
    assert message.policy is email.policy.default
    assert message["To"] == "jörg@example.com"


@pytest.mark.parametrize("address", ["", "   ", "news", "news@", "News <news@example.com>"])
def test_preview_refuses_a_missing_or_invalid_from_address_clearly(address: str) -> None:
    content = CampaignContent(subject="s", from_address=address, text="t")
    with pytest.raises(ContentError, match="From address") as caught:
        preview(content, {"email": "z@example.com"})
    assert [p.field for p in caught.value.problems] == ["from_address"]  # type: ignore[attr-defined]


def test_validate_content_names_each_problem_by_field() -> None:
    bad = CampaignContent(
        subject=" ",
        from_address="news@example.com",
        reply_to="not an address",
        unsubscribe_url="ftp://example.com/u",
        unsubscribe_mailto="nobody",
    )
    problems = validate_content(bad)
    assert [p.field for p in problems] == [
        "subject",
        "reply_to",
        "unsubscribe_mailto",
        "unsubscribe_url",
        "html",
    ]
    assert all(p.severity == "error" and p.message for p in problems)
    good = CampaignContent(
        subject="Hi {{ name }}",
        from_address="news@example.com",
        reply_to="help@example.com",
        text="t",
        unsubscribe_url="https://example.com/u?e={{ email }}",
    )
    assert validate_content(good) == []
    hint = validate_content(CampaignContent("s", "News <news@example.com>", text="t"))[0].hint
    assert "From name" in hint


@pytest.mark.parametrize("url", ["https://example.com/leave me", "", " https://example.com/u "])
def test_an_unsubscribe_url_without_tags_renders_as_a_templated_one(url: str) -> None:
    """A URL with no tag is rendered once per campaign: the same field and header as if
    each message rendered it (a tag that outputs nothing makes the same URL a template)."""
    fields = {"email": "bob@example.org"}

    def rendered(source: str) -> tuple[str, str | None]:
        content = CampaignContent(
            subject="s", from_address="news@example.com", text="{{ unsubscribe_url }}"
        )
        renderer = Renderer(replace(content, unsubscribe_url=source))
        raw = renderer.render(fields).as_bytes()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        return message.get_content(), message["List-Unsubscribe"]  # type: ignore[attr-defined]

    if url:
        assert rendered(url) == rendered(url + "{{ '' }}")
    else:
        assert rendered(url)[0].strip() == "" and rendered(url)[1] is None
