"""A recipient's fields never become a header: flattened, percent-encoded, or refused."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import given, settings
from hypothesis import strategies as st

from smtpdesk.core.campaign.content import (
    CampaignContent,
    Renderer,
    validate_content,
)
from smtpdesk.core.campaign.mime import (
    MimeTemplate,
    UnsafeHeaderError,
    check_header,
    encode_header,
    header_text,
)
from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.smtp.envelope import prepare

INJECTION = "x\r\nBcc: evil@example.com"
URL_CONTENT = CampaignContent(
    subject="News for {{ name }}",
    from_address="news@example.com",
    from_name="News",
    text="Hello {{ name }}",
    unsubscribe_url="https://x.test/u?n={{ name }}",
    headers=(("X-Campaign", "c-{{ name }}"),),
)


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def wire(renderer: Renderer, fields: dict[str, str]) -> bytes:
    """The message as it goes on the wire: the fast path's bytes, or as the sender flattens."""
    message = renderer.render(fields)
    raw = getattr(message, "wire", b"") or flatten_message(message, utf8=True, cte_type="8bit")
    assert isinstance(raw, bytes)
    return raw


def header_names(raw: bytes) -> list[str]:
    return [name.lower() for name in parse(raw)]


@pytest.mark.parametrize("to", ["ann@example.com", "jörg@example.com"])  # both MIME paths
@pytest.mark.parametrize(
    "value",
    [
        INJECTION,
        INJECTION + "y" * 100,  # long: the email package used to raise HeaderParseError
        "x\r\n\r\n<b>a body of my own</b>",
        "x\nBcc: evil@example.com",
        "x\rBcc: evil@example.com",
        "x\x00Bcc: evil@example.com",
    ],
)
def test_a_field_with_line_breaks_adds_no_header_and_no_body(to: str, value: str) -> None:
    raw = wire(Renderer(URL_CONTENT), {"email": to, "name": value})
    names = header_names(raw)
    assert "bcc" not in names
    assert names.count("list-unsubscribe") == 1 and names.count("x-campaign") == 1
    message = parse(raw)
    assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
    unsubscribe = str(message["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith("<https://x.test/u?n=x%0") and unsubscribe.endswith(">")
    assert " " not in unsubscribe and "\x00" not in unsubscribe
    body = message.get_body(("plain",))
    assert body is not None and body.get_content().startswith("Hello x")
    assert message.get_content_type() == "text/plain"  # no body part of the field's making


def test_field_values_in_the_unsubscribe_url_are_percent_encoded_unless_safe() -> None:
    content = CampaignContent(
        subject="s",
        from_address="a@example.com",
        text="t",
        unsubscribe_url="https://x.test/u?e={{ email }}&n={{ name }}&raw={{ path | safe }}",
    )
    fields = {"email": "a+b@example.com", "name": "Zoë & co", "path": "a/b c\r\nd"}
    message = Renderer(content).render(fields)
    assert message["List-Unsubscribe"].strip() == (
        "<https://x.test/u?e=a%2Bb%40example.com&n=Zo%C3%AB%20%26%20co&raw=a/b%20c%0D%0Ad>"
    )


def test_subject_and_campaign_headers_collapse_control_characters() -> None:
    fields = {"email": "a@example.com", "name": "A\r\nB\x00C\tD"}
    message = parse(wire(Renderer(URL_CONTENT), fields))
    assert message["Subject"] == "News for A B C D"
    assert message["X-Campaign"] == "c-A B C D"


def test_a_from_name_with_a_line_break_is_flattened_when_sending() -> None:
    # validate_content refuses it; a campaign stored before that rule still sends safely
    template = MimeTemplate(from_name="Shop\r\nBcc: evil@example.com", from_address="a@example.com")
    raw = template.build_bytes(to="b@example.com", subject="s", text="t", html=None)
    assert "bcc" not in header_names(raw)
    assert parse(raw)["From"].addresses[0].display_name == "Shop Bcc: evil@example.com"


@pytest.mark.parametrize(
    ("field", "content"),
    [
        ("from_name", CampaignContent("s", "a@example.com", from_name="A\r\nBcc: e@x.test")),
        ("from_name", CampaignContent("s", "a@example.com", from_name="A\x00")),
        ("subject", CampaignContent("News\nBcc: e@x.test", "a@example.com")),
        ("reply_to", CampaignContent("s", "a@example.com", reply_to="r@example.com\r\n")),
        ("unsubscribe_url", CampaignContent("s", "a@example.com", unsubscribe_url="https://x\n")),
        ("headers", CampaignContent("s", "a@example.com", headers=(("X-A", "1\r\nBcc: e"),))),
        ("headers", CampaignContent("s", "a@example.com", headers=(("X A", "1"),))),
        ("headers", CampaignContent("s", "a@example.com", headers=(("X-A:", "1"),))),
        ("headers", CampaignContent("s", "a@example.com", headers=(("Bcc\r\nX", "1"),))),
    ],
)
def test_validation_refuses_line_breaks_and_bad_header_names(
    field: str, content: CampaignContent
) -> None:
    problems = validate_content(content)
    assert field in {p.field for p in problems if p.severity == "error"}


def test_validation_accepts_a_tab_and_ordinary_headers() -> None:
    content = CampaignContent(
        "News\tfor {{ name }}",
        "a@example.com",
        from_name="Zoë",
        text="t",
        headers=(("X-Campaign-Id", "{{ id }}"),),
    )
    assert validate_content(content) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-A", "1\r\nBcc: e@x.test"),
        ("X-A", "1\nBcc: e@x.test"),
        ("X-A", "1\rBcc: e@x.test"),
        ("X-A", "1\r\n\r\nbody"),
        ("X-A", "1\r\n \r\nbody"),  # a fold with nothing after it: a blank line
        ("X-A", "1\x00"),
        ("X A", "1"),
        ("", "1"),
    ],
)
def test_the_last_guard_refuses_what_is_not_one_header(name: str, value: str) -> None:
    with pytest.raises(UnsafeHeaderError):
        check_header(name, value)
    template = MimeTemplate(from_name="N", from_address="a@example.com")
    with pytest.raises(UnsafeHeaderError) as caught:
        template.build_bytes(
            to="b@example.com", subject="s", text="t", html=None, headers=[(name, value)]
        )
    assert caught.value.cause == "unsafe_header"


def test_the_last_guard_allows_folds() -> None:
    check_header("List-Unsubscribe", "<mailto:u@example.com>,\r\n <https://e.com/u>")
    check_header("Subject", "=?utf-8?q?a?=\n =?utf-8?q?b?=")
    check_header("X-A", "a\tb")


def test_an_embedded_header_in_a_long_value_is_unsafe_not_a_parse_error() -> None:
    with pytest.raises(UnsafeHeaderError):
        encode_header("List-Unsubscribe", "<https://x.test/u?n=x\nBcc: e@x.test" + "y" * 100)


# --- property: whatever the fields hold, the wire message has exactly our headers --------

_PIECE = st.one_of(
    st.sampled_from(["\r", "\n", "\r\n", "\x00", "\t", " ", ":", "Bcc: e@x.test", "=?", "<>"]),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
)
_TEXT = st.lists(_PIECE, max_size=12).map("".join)
_EXPECTED = [
    "subject",
    "from",
    "to",
    "reply-to",
    "date",
    "message-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "x-campaign",
    "mime-version",
    "content-transfer-encoding",
    "content-type",
]
_PROPERTY_CONTENT = CampaignContent(
    subject="{{ a }} and {{ b }}",
    from_address="news@example.com",
    from_name="News",
    reply_to="help@example.com",
    text="Body {{ a }}",
    unsubscribe_url="https://x.test/u?a={{ a }}&b={{ b }}",
    unsubscribe_mailto="u@example.com",
    headers=(("X-Campaign", "{{ b }}"),),
)
_PROPERTY_RENDERER = Renderer(_PROPERTY_CONTENT)


@settings(max_examples=300, deadline=None)
@given(a=_TEXT, b=_TEXT, local=st.sampled_from(["ann", "jörg"]))
def test_any_field_values_give_exactly_the_intended_headers(a: str, b: str, local: str) -> None:
    to = f"{local}@example.com"
    try:
        raw = wire(_PROPERTY_RENDERER, {"email": to, "a": a, "b": b})
    except UnsafeHeaderError:
        return  # refused for this recipient: nothing is sent, which is safe too
    message = parse(raw)
    names = [n.lower() for n in message]
    assert sorted(names) == sorted(_EXPECTED)
    assert [str(a.addr_spec) for a in message["To"].addresses] == [to]
    assert message["From"].addresses[0].addr_spec == "news@example.com"
    unsubscribe = str(message["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith("<mailto:u@example.com>, <https://x.test/u?a=")
    assert unsubscribe.count("<") == 2 and unsubscribe.count(">") == 2
    assert not set(unsubscribe.partition(", ")[2]) & {"\r", "\n", "\x00", " "}
    # (a fold right after the name leaves a leading space when parsed: not part of the value)
    assert message["Subject"].strip() == header_text(f"{a} and {b}")
    assert message["X-Campaign"].strip() == header_text(b)
    # the envelope, as the EmailMessage path takes it from the headers: only the recipient
    _, envelope_from, recipients = prepare(message, ServerSettings(host="h"))
    assert (envelope_from, recipients) == ("news@example.com", [to])
