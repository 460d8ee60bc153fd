"""Each kind of feedback mail, in the formats providers use, classified (issue 12)."""

from __future__ import annotations

import pytest

from smtpdesk.core.feedback import tokens
from smtpdesk.core.feedback.classify import Kind, classify
from tests.helpers import feedback_samples as samples

KEY = bytes(range(32))
TOKEN = tokens.make_token(KEY, 7, 42)
ORIGINAL = (
    "Subject: Hello N1\r\n"
    "From: News <news@example.com>\r\n"
    "To: dead@example.org\r\n"
    "Message-ID: <abc.1@example.com>\r\n"
    f"List-Unsubscribe: <{tokens.mailto('bounces@example.com', TOKEN)}>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain\r\n\r\nHi\r\n"
).encode()


@pytest.mark.parametrize(
    ("make", "kind", "status"),
    [
        (samples.gmail_hard, Kind.HARD, "5.1.1"),
        (samples.postfix_hard, Kind.HARD, "5.1.1"),
        (samples.microsoft_hard, Kind.HARD, "5.1.10"),
        (samples.microsoft_delayed, Kind.SOFT, "4.4.7"),
    ],
)
def test_dsns_name_the_recipient_status_and_original(make, kind, status) -> None:  # type: ignore[no-untyped-def]
    found = classify(make(ORIGINAL, "Dead@Example.org"))

    assert found.kind == kind
    (finding,) = found.findings
    assert finding.email == "dead@example.org" and finding.kind == kind
    assert finding.status.startswith(status)
    assert "<abc.1@example.com>" in found.original_ids
    assert TOKEN in found.tokens
    assert found.key.startswith("mid:<feedback.")


def test_the_dsn_keeps_the_diagnostic_and_the_remote_mta() -> None:
    (finding,) = classify(samples.gmail_hard(ORIGINAL, "dead@example.org")).findings
    assert "does not exist" in finding.status
    assert finding.remote_mta.startswith("gmail-smtp-in.l.google.com")


def test_exim_without_a_dsn_is_read_by_flufl_bounce() -> None:
    found = classify(samples.exim_hard(ORIGINAL, "gone@example.org"))

    assert found.kind == Kind.HARD
    assert [f.email for f in found.findings] == ["gone@example.org"]
    assert "5.1.1" in found.findings[0].status
    assert "<abc.1@example.com>" in found.original_ids  # quoted in the text
    assert TOKEN in found.tokens


def test_an_arf_report_is_a_complaint_about_the_recipient() -> None:
    found = classify(samples.arf_complaint(ORIGINAL, "angry@example.org"))

    assert found.kind == Kind.COMPLAINT
    assert found.findings[0].email == "angry@example.org"
    assert found.findings[0].status == "abuse report from Yahoo!-Mail-Feedback/2.0"
    assert TOKEN in found.tokens


def test_a_vacation_notice_is_an_auto_reply() -> None:
    found = classify(samples.vacation(ORIGINAL, "away@example.org"))
    assert found.kind == Kind.AUTO_REPLY and not found.actionable


def test_an_unsubscribe_request_carries_its_token() -> None:
    found = classify(
        samples.unsubscribe_request(
            "leaver@example.org", "bounces@example.com", f"unsubscribe-{TOKEN}"
        )
    )
    assert found.kind == Kind.UNSUBSCRIBE
    assert found.tokens == (TOKEN,)
    assert tokens.verify(KEY, found.tokens[0]) == tokens.TokenTarget(7, 42)


def test_the_token_may_come_in_the_to_address() -> None:
    raw = samples.unsubscribe_request(
        "leaver@example.org", f"bounces+unsubscribe-{TOKEN}@example.com", "please remove me"
    )
    assert classify(raw).tokens == (TOKEN,)


def test_other_mail_is_left_alone() -> None:
    found = classify(samples.unrelated())
    assert found.kind == Kind.OTHER and not found.findings


def test_a_delivered_report_is_nothing_to_act_on() -> None:
    raw = (
        samples.postfix_hard(ORIGINAL, "ok@example.org")
        .replace(b"Action: failed", b"Action: delivered")
        .replace(b"Status: 5.1.1", b"Status: 2.0.0")
    )
    assert classify(raw).kind == Kind.OTHER


def test_a_message_without_message_id_is_keyed_by_its_digest() -> None:
    raw = b"From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"
    assert classify(raw).key == classify(raw).key
    assert classify(raw).key.startswith("sha256:")


def test_forged_or_mangled_tokens_are_refused() -> None:
    forged = f"7-43-{TOKEN.rsplit('-', 1)[1]}"  # another recipient, the same signature
    assert tokens.verify(KEY, forged) is None
    assert tokens.verify(bytes(32), TOKEN) is None  # another key
    assert tokens.verify(KEY, TOKEN.upper()) == tokens.TokenTarget(7, 42)  # case survives
    assert tokens.verify(KEY, "not-a-token") is None


def test_the_mailto_link_is_rfc_6068() -> None:
    assert tokens.mailto("bounces@example.com", TOKEN) == (
        f"mailto:bounces@example.com?subject=unsubscribe-{TOKEN}"
    )
