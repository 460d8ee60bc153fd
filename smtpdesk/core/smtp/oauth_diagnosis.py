"""Diagnoses of OAuth sign-in (XOAUTH2) and of the providers that retired passwords.

Two checks that :func:`diagnosis.diagnose` runs in its chain:

- :func:`oauth_failure`: the token could not be had (``sign_in_required`` when the grant
  is missing, expired or revoked; ``oauth_failed`` when the provider refused or was out
  of reach).
- :func:`provider_auth`: what Google and Microsoft answer to AUTH. Google's XOAUTH2
  error is a ``334`` challenge with base64 JSON (decoded and explained here); Microsoft
  says ``535 5.7.139 … basic authentication is disabled``, ``550 5.7.30 Basic
  authentication is not supported`` or, for a mailbox or tenant without SMTP AUTH,
  ``535 5.7.3`` / "SmtpClientAuthentication is disabled for the Tenant".
"""

from __future__ import annotations

import json

import aiosmtplib

from smtpdesk.core.errors import KnownError
from smtpdesk.core.oauth.errors import OAuthError, SignInRequiredError
from smtpdesk.core.settings import AuthProtocol, ServerSettings
from smtpdesk.core.smtp.types import Diagnosis
from smtpdesk.core.smtp.xoauth2 import XOAuth2Error

OAUTH_CAUSES = (
    "sign_in_required",
    "oauth_failed",
    "oauth_token_rejected",
    "basic_auth_disabled",
    "smtp_auth_disabled",
)
# Each one stops every message of the server, not one recipient's.
OAUTH_SERVER_CAUSES = frozenset(OAUTH_CAUSES)
_SWITCH_TO_OAUTH = (
    "Switch this server to OAuth sign-in: Authentication → Protocol xoauth2 with your client "
    "ID, then Sign in… (CLI: smtpdesk servers edit NAME --auth xoauth2 --oauth-provider "
    "microsoft --oauth-client-id ID, then smtpdesk servers login NAME).",
    "The README explains how to register a client ID with Microsoft Entra or Google Cloud.",
)
_SMTP_AUTH_HINTS = (
    "An administrator of the Microsoft 365 organisation must enable SMTP AUTH for this "
    "mailbox: Microsoft 365 admin center → Users → Active users → the user → Mail → "
    "Manage email apps → Authenticated SMTP.",
    "If it is off for the whole organisation: Set-TransportConfig "
    "-SmtpClientAuthenticationDisabled $false (Exchange Online PowerShell), or enable it "
    "per mailbox with Set-CASMailbox -SmtpClientAuthenticationDisabled $false.",
    "Security defaults in Microsoft Entra also block SMTP AUTH.",
)
_GOOGLE_STATUS = {
    "400": "the request was refused: the token lacks the scope https://mail.google.com/, "
    "or the username is not the signed-in account",
    "401": "the access token is invalid or has expired",
}


def _where(s: ServerSettings | None) -> str:
    return f"{s.host}:{s.port}" if s else "the server"


def oauth_failure(
    exc: BaseException, s: ServerSettings | None, stage: str, raw: str
) -> Diagnosis | None:
    if isinstance(exc, SignInRequiredError):
        return Diagnosis("sign_in_required", exc.message, (exc.hint,), exc.message, False)
    if isinstance(exc, OAuthError):
        hints = (exc.hint,) if exc.hint else ()
        return Diagnosis("oauth_failed", exc.message, hints, exc.message, exc.temporary)
    if isinstance(exc, KnownError) and stage == "OAuth token":  # the keyring, say
        hints = (exc.hint,) if exc.hint else ()
        return Diagnosis("oauth_failed", exc.message, hints, exc.message, False)
    return None


def provider_auth(
    exc: BaseException, s: ServerSettings | None, stage: str, raw: str
) -> Diagnosis | None:
    if not isinstance(exc, aiosmtplib.SMTPResponseException):
        return None
    code, text = exc.code, exc.message.lower()
    if (code == 530 and "tls" in text) or code == 538:
        return None  # encryption first: diagnosis._reply says so
    oauth = s is not None and s.auth_protocol == AuthProtocol.XOAUTH2
    if "smtpclientauthentication is disabled" in text or (
        oauth and code == 535 and "5.7.3 " in f"{text} "
    ):
        return Diagnosis(
            "smtp_auth_disabled",
            f"{_where(s)} accepted the sign-in but SMTP AUTH is disabled for this mailbox "
            f"or its organisation ({code}).",
            _SMTP_AUTH_HINTS,
            raw,
            False,
            code,
        )
    basic_off = "basic authentication is disabled" in text or (
        "5.7.30" in text and "basic authentication" in text
    )
    if basic_off and not oauth:
        return Diagnosis(
            "basic_auth_disabled",
            f"{_where(s)} no longer accepts a password: basic authentication is disabled ({code}).",
            _SWITCH_TO_OAUTH,
            raw,
            False,
            code,
        )
    if not oauth and ("application-specific password" in text or "5.7.9 " in f"{text} "):
        return Diagnosis(
            "basic_auth_disabled",
            f"{_where(s)} does not accept your account's own password ({code}).",
            (
                "Use an App Password (Google account → Security → App passwords), or "
                "switch to OAuth sign-in (auth_protocol xoauth2, provider google).",
                *_SWITCH_TO_OAUTH[1:],
            ),
            raw,
            False,
            code,
        )
    if oauth and isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return _token_rejected(exc, s, raw)
    return None


def _token_rejected(
    exc: aiosmtplib.SMTPAuthenticationError, s: ServerSettings | None, raw: str
) -> Diagnosis:
    challenge = exc.challenge if isinstance(exc, XOAuth2Error) else None
    hints = [
        "smtpdesk refreshed the token and tried once more; if it keeps failing, sign in "
        "again (Sign out, then Sign in…; CLI: smtpdesk servers login NAME).",
        "The username must be the mailbox you signed in with.",
    ]
    if challenge is not None:
        status = challenge.get("status", "")
        why = _GOOGLE_STATUS.get(status, f"status {status or 'unknown'}")
        message = f"{_where(s)} refused the OAuth access token ({exc.code}): {why}."
        scope = challenge.get("scope")
        if scope:
            hints.append(f"The server wants a token with the scope {scope}.")
        raw = f"{raw}; XOAUTH2 error: {json.dumps(challenge, sort_keys=True)}"
    else:
        message = f"{_where(s)} refused the OAuth access token ({exc.code})."
        if "5.7.139" in exc.message:
            hints.append(
                "Microsoft: security defaults, a conditional access policy or a locked "
                "account can refuse the sign-in; ask the organisation's administrator."
            )
    return Diagnosis("oauth_token_rejected", message, tuple(hints), raw, False, exc.code)
