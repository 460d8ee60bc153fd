"""``smtpdesk mailbox set|show|test|scan`` against a real Dovecot (issue 12)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import keyring
import pytest
import trustme
from keyring.backends import fail

from smtpdesk.cli import main
from smtpdesk.core.feedback import scan as scanning
from tests.helpers.dovecot import PASSWORD, Dovecot
from tests.helpers.smtpd import cert_sha256


def _set(monkeypatch: pytest.MonkeyPatch, *args: str, password: str | None = None) -> int:
    if password is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        args = (*args, "--password-stdin")
    return main(["mailbox", "set", *args])


def _show(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["mailbox", "show", "--json"]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--protocol", "pop3", "--processed", "move"], "processed"),
        (["--port", "70000"], "port"),
        (["--tls", "SSL"], "tls_type"),
        (["--interval", "10s"], "scan_interval"),
        (["--unsubscribe-address", "not an address"], "unsubscribe_address"),
        (["--oauth-server", "nosuch"], "oauth_server"),
        (["--folder", 'In"box'], "folder"),
        (["--verp"], "verp"),  # needs the unsubscribe address
    ],
)
def test_bad_input_exits_2_and_saves_nothing(
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    field: str,
) -> None:
    base = ["--host", "127.0.0.1", "--username", "u@example.test"]
    password = None if "--oauth-server" in args else PASSWORD

    assert _set(monkeypatch, *base, *args, password=password) == 2

    assert f"error: {field}:" in capsys.readouterr().err
    shown = _show(capsys)
    assert shown["host"] == "" and shown["enabled"] is False and shown["password"] == "none"
    assert not scanning.has_password()


def test_show_works_without_a_keyring(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Showing the settings reads only SQLite; a missing keyring makes the password unknown."""
    assert (
        _set(monkeypatch, "--host", "127.0.0.1", "--username", "u@example.test", password="pw") == 0
    )
    keyring.set_keyring(fail.Keyring())  # the autouse fixture puts its own back afterwards
    shown = _show(capsys)
    assert shown["host"] == "127.0.0.1" and shown["password"] == "unknown (no keyring available)"
    assert main(["mailbox", "show"]) == 0
    assert "host: 127.0.0.1" in capsys.readouterr().out


def test_a_password_is_required_and_may_not_be_empty(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--host", "127.0.0.1", "--username", "u@example.test"]
    assert _set(monkeypatch, *base) == 2
    assert "needs a password" in capsys.readouterr().err
    assert _set(monkeypatch, *base, password="") == 2
    assert _show(capsys)["host"] == "" and not scanning.has_password()


def test_test_passes_and_a_wrong_password_is_diagnosed(
    data_dir: Path,
    dovecot: Dovecot,
    trust_test_ca: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = dovecot.add_user()
    dovecot.deliver(user, b"Subject: x\r\nMessage-ID: <x@example.test>\r\n\r\nx\r\n")
    args = ["--host", "127.0.0.1", "--port", str(dovecot.imaps), "--tls", "TLS"]
    assert _set(monkeypatch, *args, "--username", user, password=PASSWORD) == 0
    shown = _show(capsys)
    assert (shown["protocol"], shown["port"], shown["password"]) == (
        "imap",
        dovecot.imaps,
        "stored",
    )

    assert main(["mailbox", "test"]) == 0
    out = capsys.readouterr().out
    assert "all steps passed" in out and "1 message in INBOX" in out

    assert _set(monkeypatch, password="wrong-password") == 0  # only the password changes
    capsys.readouterr()
    assert main(["mailbox", "test", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(s["name"], s["ok"]) for s in report["steps"]] == [
        ("connect", True),
        ("TLS", True),
        ("login", False),
    ]
    assert report["diagnosis"]["cause"] == "auth_failed"
    assert "refused the username or password" in report["diagnosis"]["message"]
    assert "AUTHENTICATIONFAILED" in report["diagnosis"]["raw"]

    assert main(["mailbox", "scan", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["cause"] == "auth_failed"
    assert "refused the username or password" in captured.err
    last = _show(capsys)["last_scan"]
    assert isinstance(last, dict) and last["cause"] == "auth_failed" and last["ok"] is False


def test_pop3_over_starttls_and_an_unknown_authority_refused(
    data_dir: Path,
    dovecot: Dovecot,
    server_cert: trustme.LeafCert,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    user = dovecot.add_user()
    args = ["--protocol", "pop3", "--host", "127.0.0.1", "--port", str(dovecot.pop3)]
    args += ["--tls", "STARTTLS", "--processed", "delete", "--username", user]
    assert _set(monkeypatch, *args, password=PASSWORD) == 0
    capsys.readouterr()

    assert main(["mailbox", "test", "--json"]) == 1  # the test CA is not trusted here
    report = json.loads(capsys.readouterr().out)
    assert report["diagnosis"]["cause"] == "certificate_invalid"
    presented = cert_sha256(server_cert)
    assert report["certificate_sha256"] == presented  # fetched after STLS, without a login

    assert main(["mailbox", "test"]) == 1
    said = capsys.readouterr().out
    assert f"to trust it: smtpdesk mailbox set --pin {presented}" in said
    assert _set(monkeypatch, "--pin", presented) == 0  # what the hint says to run
    assert main(["mailbox", "test"]) == 0
    assert "0 messages in INBOX" in capsys.readouterr().out

    assert _set(monkeypatch, "--pin", "", "--skip-verify") == 0
    assert "certificates are not checked" in capsys.readouterr().err
    assert main(["mailbox", "test"]) == 0
    assert "0 messages in INBOX" in capsys.readouterr().out


def test_a_pinned_certificate_is_trusted_and_another_refused(
    data_dir: Path,
    dovecot: Dovecot,
    server_cert: trustme.LeafCert,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pin = cert_sha256(server_cert)
    args = ["--host", "127.0.0.1", "--port", str(dovecot.imaps), "--tls", "TLS"]
    args += ["--username", dovecot.add_user(), "--pin", pin.upper()]
    assert _set(monkeypatch, *args, password=PASSWORD) == 0
    assert main(["mailbox", "test"]) == 0  # no authority vouches for it: the pin does

    assert _set(monkeypatch, "--pin", "ab" * 32) == 0
    capsys.readouterr()
    assert main(["mailbox", "test", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["diagnosis"]["cause"] == "certificate_changed"
    assert report["certificate_sha256"] == pin  # the one presented, to trust again
    assert [s["name"] for s in report["steps"]] == ["connect", "TLS"]  # no login was tried
