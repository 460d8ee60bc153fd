"""smtpdesk servers add|edit --auth xoauth2, login --no-browser and logout, through the real CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import keyring
import pytest
from keyring.backends import SecretService

from smtpdesk.cli import main
from smtpdesk.core import secrets
from smtpdesk.core.memory_keyring import MemoryKeyring
from smtpdesk.core.store import open_store
from tests.helpers.oauth import ACCOUNT, CLIENT_ID, AuthServer


def add_oauth_server(auth: AuthServer, *extra: str) -> list[str]:
    return [
        "servers", "add", "--name", "m365", "--host", "smtp.example.test",
        "--auth", "xoauth2", "--oauth-provider", "custom", "--oauth-client-id", CLIENT_ID,
        "--oauth-authorize-url", f"{auth.url}/authorize", "--oauth-token-url", f"{auth.url}/token",
        "--oauth-scope", "https://mail.example.test/smtp", "--oauth-scope", "offline_access",
        "--username", ACCOUNT, *extra,
    ]  # fmt: skip


def follow(url: str) -> str:
    """The browser: the authorization address, then the redirect to the loopback page."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        return str(reply.read().decode())


def test_add_with_client_secret_then_login_without_browser_and_logout(
    data_dir: Path,
    auth_server: AuthServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    memory_keyring: MemoryKeyring,
) -> None:
    auth_server.client_secret = "client-s3cret"
    monkeypatch.setattr("sys.stdin", io.StringIO("client-s3cret\n"))
    assert main(add_oauth_server(auth_server, "--oauth-client-secret-stdin")) == 0
    uuid = capsys.readouterr().out.strip()
    saved = open_store(data_dir).server(uuid)
    assert saved.oauth_scopes == ("https://mail.example.test/smtp", "offline_access")
    assert secrets.get_oauth(uuid, secrets.CLIENT_SECRET) == "client-s3cret"

    def browser_must_not_open(url: str) -> bool:
        raise AssertionError("--no-browser opened a browser")

    monkeypatch.setattr("webbrowser.open", browser_must_not_open)
    result: list[int] = []
    worker = threading.Thread(
        target=lambda: result.append(main(["servers", "login", "m365", "--no-browser"]))
    )
    worker.start()
    printed = ""
    deadline = time.monotonic() + 20
    while "\n" not in printed and time.monotonic() < deadline:
        time.sleep(0.05)
        printed += capsys.readouterr().out
    [address] = printed.splitlines()
    assert address.startswith(f"{auth_server.url}/authorize?")
    assert "You are signed in" in follow(address)
    worker.join(timeout=20)
    out, err = capsys.readouterr()
    assert result == [0] and out == "" and err == ""
    assert secrets.get_oauth(uuid, secrets.REFRESH_TOKEN) in auth_server.refresh_tokens

    assert main(["servers", "list"]) == 0
    assert "password=oauth-signed-in" in capsys.readouterr().out
    assert main(["servers", "logout", "m365"]) == 0
    assert secrets.get_oauth(uuid, secrets.REFRESH_TOKEN) is None
    assert secrets.get_oauth(uuid, secrets.CLIENT_SECRET) == "client-s3cret"


def test_login_of_a_password_server_explains(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["servers", "add", "--name", "plain", "--host", "smtp.example.test"]) == 0
    capsys.readouterr()
    assert main(["servers", "login", "plain", "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert "does not use OAuth sign-in" in err and "--auth xoauth2" in err


def test_add_xoauth2_without_client_id_is_refused(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["servers", "add", "--preset", "microsoft365", "--username", ACCOUNT])
    assert code == 2 and "oauth_client_id" in capsys.readouterr().err
    code = main(["servers", "add", "--preset", "microsoft365", "--username", ACCOUNT,
                 "--oauth-client-id", "id"])  # fmt: skip
    assert code == 0
    [saved] = open_store(data_dir).servers()
    assert (saved.host, saved.auth_protocol, saved.oauth_provider) == (
        "smtp.office365.com",
        "xoauth2",
        "microsoft",
    )


@pytest.mark.secret_service
def test_login_end_to_end_in_a_separate_process_into_the_secret_service(
    data_dir: Path, auth_server: AuthServer
) -> None:
    assert os.environ.get("SMTPDESK_SECRET_SERVICE") == "1", (
        "run under tests/with-secret-service.sh"
    )
    keyring.set_keyring(SecretService.Keyring())
    cli = [sys.executable, "-c", "import sys; from smtpdesk.cli import main; sys.exit(main())"]
    env = {**os.environ, "SMTPDESK_DATA_DIR": str(data_dir)}
    added = subprocess.run(
        [*cli, *add_oauth_server(auth_server)], env=env, capture_output=True, text=True
    )
    assert added.returncode == 0, added.stderr
    uuid = added.stdout.strip()
    login = subprocess.Popen(
        [*cli, "servers", "login", "m365", "--no-browser"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert login.stdout is not None
        address = login.stdout.readline().strip()
        assert "You are signed in" in follow(address)
        out, err = login.communicate(timeout=30)
    finally:
        login.kill()
    assert login.returncode == 0, err
    assert out == ""  # the address was the only line
    stored = SecretService.Keyring().get_password("smtpdesk", f"{uuid}:oauth-refresh-token")
    assert stored and stored in auth_server.refresh_tokens
    for path in data_dir.rglob("*"):  # the database, its WAL, the log file
        if path.is_file():
            assert stored.encode() not in path.read_bytes(), path.name

    out = subprocess.run([*cli, "servers", "logout", "m365"], env=env, capture_output=True)
    assert out.returncode == 0
    assert SecretService.Keyring().get_password("smtpdesk", f"{uuid}:oauth-refresh-token") is None


def test_config_export_and_import_keep_the_oauth_settings_but_no_secret(
    data_dir: Path,
    tmp_path: Path,
    auth_server: AuthServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("the-client-secret\n"))
    assert main(add_oauth_server(auth_server, "--oauth-client-secret-stdin")) == 0
    uuid = capsys.readouterr().out.strip()
    secrets.set_oauth(uuid, secrets.REFRESH_TOKEN, "the-refresh-token")
    exported = tmp_path / "config.toml"
    assert main(["config", "export", str(exported)]) == 0
    text = exported.read_text()
    assert 'oauth_client_id = "smtpdesk-test-client"' in text and "offline_access" in text
    assert "the-client-secret" not in text and "the-refresh-token" not in text
    fresh = tmp_path / "fresh"
    assert main(["--data-dir", str(fresh), "config", "import", str(exported)]) == 0
    assert open_store(fresh).servers() == open_store(data_dir).servers()
