"""Diagnoses of Google's and Microsoft's answers about passwords and OAuth."""

from __future__ import annotations

import base64
import json

import aiosmtplib
import pytest

from smtpdesk.core.oauth.errors import OAuthError, SignInRequiredError
from smtpdesk.core.settings import AuthProtocol, ServerSettings
from smtpdesk.core.smtp.diagnosis import CAUSES, diagnose, secret_forms
from smtpdesk.core.smtp.errors import StepFailedError
from smtpdesk.core.smtp.xoauth2 import XOAuth2Error, decode_challenge, wire_form

PASSWORD = ServerSettings(host="smtp.office365.com", username="me@contoso.com")
OAUTH = ServerSettings(
    host="smtp.office365.com",
    username="me@contoso.com",
    auth_protocol=AuthProtocol.XOAUTH2,
    oauth_client_id="id",
)


def auth_error(code: int, text: str) -> StepFailedError:
    return StepFailedError("AUTH", aiosmtplib.SMTPAuthenticationError(code, text))


@pytest.mark.parametrize(
    "reply",
    [
        (535, "5.7.139 Authentication unsuccessful, basic authentication is disabled. [AM0P]"),
        (550, "5.7.30 Basic authentication is not supported for Client Submission."),
    ],
)
def test_a_password_server_is_told_to_switch_to_oauth(reply: tuple[int, str]) -> None:
    diagnosis = diagnose(auth_error(*reply), PASSWORD)
    assert diagnosis.cause == "basic_auth_disabled" and not diagnosis.temporary
    assert "basic authentication is disabled" in diagnosis.message
    assert "xoauth2" in diagnosis.hints[0] and "servers login" in diagnosis.hints[0]


def test_5_7_30_outside_auth_is_also_recognised() -> None:
    exc = aiosmtplib.SMTPResponseException(
        550, "5.7.30 Basic authentication is not supported for Client Submission."
    )
    assert diagnose(exc, PASSWORD, "MAIL").cause == "basic_auth_disabled"


@pytest.mark.parametrize(
    ("settings", "text"),
    [
        (PASSWORD, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is "
         "disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled"),
        (OAUTH, "5.7.3 Authentication unsuccessful [BN9PR03CA0363]"),
    ],
)  # fmt: skip
def test_smtp_auth_disabled_for_the_tenant_or_mailbox(settings: ServerSettings, text: str) -> None:
    diagnosis = diagnose(auth_error(535, text), settings)
    assert diagnosis.cause == "smtp_auth_disabled"
    assert "admin" in diagnosis.hints[0] and "Authenticated SMTP" in diagnosis.hints[0]


def test_a_plain_5_7_3_with_a_password_stays_a_refused_password() -> None:
    assert diagnose(auth_error(535, "5.7.3 Authentication unsuccessful"), PASSWORD).cause == (
        "auth_failed"
    )


def test_google_334_challenge_is_decoded_and_explained() -> None:
    challenge = {"status": "400", "schemes": "Bearer", "scope": "https://mail.google.com/"}
    text = base64.b64encode(json.dumps(challenge).encode()).decode()
    assert decode_challenge(text) == challenge and decode_challenge("not base64!") is None
    exc = XOAuth2Error(535, "5.7.8 Username and Password not accepted.", decode_challenge(text))
    diagnosis = diagnose(StepFailedError("AUTH", exc), OAUTH)
    assert diagnosis.cause == "oauth_token_rejected"
    assert "lacks the scope https://mail.google.com/" in diagnosis.message
    assert '"status": "400"' in diagnosis.raw


def test_gmail_wants_an_app_password() -> None:
    gmail = ServerSettings(host="smtp.gmail.com", username="me@gmail.com")
    exc = auth_error(534, "5.7.9 Application-specific password required. Learn more at ...")
    diagnosis = diagnose(exc, gmail)
    assert diagnosis.cause == "basic_auth_disabled" and "App Password" in diagnosis.hints[0]


def test_sign_in_required_and_provider_errors() -> None:
    diagnosis = diagnose(SignInRequiredError("Sign-in required: revoked.", "m365"), OAUTH)
    assert diagnosis.cause == "sign_in_required" and "servers login m365" in diagnosis.hints[0]
    offline = diagnose(OAuthError("Cannot reach it.", "", temporary=True), OAUTH)
    assert offline.cause == "oauth_failed" and offline.temporary
    assert {"sign_in_required", "oauth_token_rejected", "smtp_auth_disabled"} <= set(CAUSES)


def test_the_xoauth2_line_is_masked_if_a_server_quotes_it() -> None:
    line = wire_form("me@contoso.com", "tok-123")
    assert line in secret_forms("me@contoso.com", "tok-123")
    exc = auth_error(535, f"5.7.3 cannot parse {line}")
    assert line not in diagnose(exc, OAUTH, password="tok-123").raw
