"""OAuth (xoauth2) settings: the rules of the one validation, the providers' endpoints, presets."""

from __future__ import annotations

import pytest

from smtpdesk.core.oauth.providers import (
    GOOGLE_SCOPES,
    MICROSOFT_SCOPES,
    endpoints_for,
)
from smtpdesk.core.presets import get_preset
from smtpdesk.core.settings import AuthProtocol, OAuthProvider, parse_server

BASE = {"host": "smtp.example.com", "auth_protocol": "xoauth2", "username": "me@example.com"}


def errors(data: dict[str, object]) -> set[str]:
    return {p.field for p in parse_server(data).errors}


def test_google_needs_only_a_client_id_and_the_mailbox() -> None:
    report = parse_server({**BASE, "oauth_provider": "google", "oauth_client_id": "id-1"})
    s = report.settings
    assert s is not None and s.auth_protocol is AuthProtocol.XOAUTH2
    assert s.oauth_provider is OAuthProvider.GOOGLE and s.oauth_tenant == "common"
    assert errors({**BASE, "oauth_provider": "google"}) == {"oauth_client_id"}
    assert errors({**BASE, "username": "", "oauth_client_id": "id-1"}) == {"username"}


@pytest.mark.parametrize(
    ("extra", "bad"),
    [
        ({}, {"oauth_authorize_url", "oauth_token_url", "oauth_scopes"}),
        (
            {
                "oauth_authorize_url": "http://auth.example.com/a",
                "oauth_token_url": "ftp://auth.example.com/t",
                "oauth_scopes": "smtp",
            },
            {"oauth_authorize_url", "oauth_token_url"},
        ),
        (
            {
                "oauth_authorize_url": "https://auth.example.com/a",
                "oauth_token_url": "http://127.0.0.1:8080/t",
                "oauth_scopes": "smtp offline_access",
            },
            set(),
        ),
        (
            {
                "oauth_authorize_url": "http://localhost:9/a",
                "oauth_token_url": "https://auth.example.com/t",
                "oauth_scopes": ["smtp"],
            },
            set(),
        ),
    ],
)
def test_custom_endpoints_are_https_except_on_this_computer(
    extra: dict[str, object], bad: set[str]
) -> None:
    data = {**BASE, "oauth_provider": "custom", "oauth_client_id": "id", **extra}
    assert errors(data) == bad


def test_tenant_and_scopes_are_parsed() -> None:
    s = parse_server(
        {
            **BASE,
            "oauth_provider": "Microsoft",
            "oauth_client_id": "id",
            "oauth_tenant": "contoso.onmicrosoft.com",
            "oauth_scopes": "a, b  c",
        }
    ).settings
    assert s is not None and s.oauth_scopes == ("a", "b", "c")
    assert errors({**BASE, "oauth_client_id": "i", "oauth_provider": "microsoft",
                   "oauth_tenant": "bad tenant/"}) == {"oauth_tenant"}  # fmt: skip
    assert errors({**BASE, "oauth_provider": "yahoo"}) >= {"oauth_provider"}


def test_password_servers_ignore_the_oauth_fields() -> None:
    assert errors({"host": "smtp.example.com", "oauth_provider": "custom"}) == set()


def test_built_in_endpoints() -> None:
    google = parse_server({**BASE, "oauth_client_id": "id"}).settings
    assert google is not None
    e = endpoints_for(google)
    assert e.scopes == GOOGLE_SCOPES == ("https://mail.google.com/",)
    assert e.token_url == "https://oauth2.googleapis.com/token"
    assert ("access_type", "offline") in e.extra and e.redirect_host == "127.0.0.1"
    ms = parse_server(
        {**BASE, "oauth_client_id": "id", "oauth_provider": "microsoft", "oauth_tenant": "t1"}
    ).settings
    assert ms is not None
    e = endpoints_for(ms)
    assert e.authorize_url == "https://login.microsoftonline.com/t1/oauth2/v2.0/authorize"
    assert e.scopes == MICROSOFT_SCOPES
    assert set(e.scopes) == {"https://outlook.office.com/SMTP.Send", "offline_access"}
    assert e.redirect_host == "localhost"  # Entra matches http://localhost on any port


def test_presets_microsoft_and_gmail() -> None:
    m365 = get_preset("microsoft365").fill()
    assert (m365["host"], m365["port"], m365["auth_protocol"]) == (
        "smtp.office365.com",
        587,
        AuthProtocol.XOAUTH2,
    )
    assert m365["oauth_provider"] is OAuthProvider.MICROSOFT
    outlook = get_preset("outlook")
    assert outlook.host == "smtp-mail.outlook.com" and outlook.auth_protocol == "xoauth2"
    assert outlook.max_per_day and outlook.limits_note
    gmail = get_preset("gmail")
    assert gmail.fill()["oauth_provider"] is OAuthProvider.GOOGLE
    assert "App Password" in gmail.help and "xoauth2" in gmail.help
