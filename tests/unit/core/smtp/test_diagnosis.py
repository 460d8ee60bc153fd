"""diagnose() on errors no test server produces; it runs inside except blocks and must not raise."""

from __future__ import annotations

import ssl

import aiosmtplib

from smtpdesk.core.smtp.diagnosis import CAUSES, diagnose


def test_an_ssl_error_raised_from_python_code_is_diagnosed() -> None:
    # OpenSSL's errors carry ``reason``; these, made in Python, have no such attribute.
    dropped = aiosmtplib.SMTPServerDisconnected("Connection lost")
    dropped.__cause__ = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    for exc in (dropped, ssl.SSLError("NPN protocols must be 1 to 255 in length")):
        assert diagnose(exc, None, "send").cause in CAUSES


def test_every_form_of_the_password_is_masked() -> None:
    import base64

    from smtpdesk.core.settings import ServerSettings
    from smtpdesk.core.smtp.diagnosis import diagnose

    settings = ServerSettings(host="smtp.example.com", username="me@example.com")
    password = "pa55-w0rd!"
    plain = base64.b64encode(b"\0me@example.com\0pa55-w0rd!").decode()
    login = base64.b64encode(password.encode()).decode()
    for echoed in (password, plain, login):
        exc = aiosmtplib.SMTPAuthenticationError(535, f"5.7.8 bad credentials: {echoed}")
        diagnosis = diagnose(exc, settings, "AUTH", password)
        assert diagnosis.cause == "auth_failed"
        assert echoed not in diagnosis.raw + diagnosis.message
        assert "***" in diagnosis.raw
    # Masking needs the password; the raw reply is otherwise kept word for word.
    echoing = aiosmtplib.SMTPAuthenticationError(535, f"bad: {password}")
    assert password in diagnose(echoing, settings, "AUTH").raw


def test_538_encryption_required_asks_for_tls() -> None:
    exc = aiosmtplib.SMTPAuthenticationError(
        538, "5.7.11 Encryption required for requested authentication mechanism"
    )
    assert diagnose(exc, None, "AUTH").cause == "starttls_required"
