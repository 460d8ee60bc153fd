"""AUTH XOAUTH2 (Google's and Microsoft's SMTP OAuth), keeping the server's error challenge.

aiosmtplib encodes the initial response (``user=…^Aauth=Bearer …^A^A``); on failure
the server first sends ``334`` with a base64 JSON error, which aiosmtplib's own
``auth_xoauth2`` answers and drops. We keep it: it says why (Google's ``status`` 401 is
an invalid or expired token, 400 a bad request or a missing scope).
"""

from __future__ import annotations

import base64
import binascii
import json

import aiosmtplib
from aiosmtplib.auth import auth_xoauth2_encode


class XOAuth2Error(aiosmtplib.SMTPAuthenticationError):
    """AUTH XOAUTH2 was refused; ``challenge`` is the decoded 334 error, when one came."""

    def __init__(self, code: int, message: str, challenge: dict[str, str] | None) -> None:
        super().__init__(code, message)
        self.challenge = challenge


def decode_challenge(text: str) -> dict[str, str] | None:
    """The JSON object in a 334 XOAUTH2 error challenge, or None when it is not one."""
    try:
        data = json.loads(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}


async def auth_xoauth2(smtp: aiosmtplib.SMTP, username: str, access_token: str) -> None:
    """Authenticate with an access token; raise :class:`XOAuth2Error` when refused."""
    encoded = auth_xoauth2_encode(username, access_token)
    response = await smtp.execute_command(b"AUTH", b"XOAUTH2", encoded)
    challenge = None
    if response.code == 334:
        challenge = decode_challenge(response.message)
        response = await smtp.execute_command(b"")  # an empty line ends the exchange
    if response.code != 235:
        raise XOAuth2Error(response.code, response.message, challenge)


def wire_form(username: str, access_token: str) -> str:
    """The base64 line AUTH XOAUTH2 sends: masked if a server ever quotes it back."""
    return auth_xoauth2_encode(username, access_token).decode()
