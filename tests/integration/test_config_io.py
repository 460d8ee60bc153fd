"""Import of listmonk JSON and smtpdesk TOML; export; no password anywhere on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smtpdesk.core import secrets
from smtpdesk.core.config_io import export_config, import_config
from smtpdesk.core.errors import InvalidSettingsError
from smtpdesk.core.store import Store, open_store

PASSWORD = "s3cr3t-Pa55word-that-must-not-leak"

LISTMONK_SETTINGS = {
    "app.concurrency": 5,
    "app.message_rate": 20,
    "app.max_send_errors": 100,
    "app.message_sliding_window": True,
    "app.message_sliding_window_duration": "1h",
    "app.message_sliding_window_rate": 5000,
    "smtp": [
        {
            "uuid": "1f6e3ad4-4c55-4e46-9d1f-3b0d2a6a7e01",
            "enabled": True,
            "host": "smtp.yoursite.com",
            "hello_hostname": "",
            "port": 25,
            "auth_protocol": "cram",
            "username": "username",
            "password": PASSWORD,
            "email_headers": [{"X-Mailer": "listmonk"}],
            "max_conns": 10,
            "max_msg_retries": 2,
            "idle_timeout": "15s",
            "wait_timeout": "5s",
            "tls_type": "STARTTLS",
            "tls_skip_verify": False,
            "name": "",
        },
        {
            "enabled": False,
            "host": "smtp.gmail.com",
            "hello_hostname": "",
            "port": 465,
            "auth_protocol": "login",
            "username": "me@gmail.com",
            "password": "••••••••",
            "email_headers": [],
            "max_conns": 10,
            "max_msg_retries": 2,
            "idle_timeout": "15s",
            "wait_timeout": "5s",
            "tls_type": "TLS",
            "tls_skip_verify": False,
            "name": "gmail",
        },
    ],
}

TOML_SAMPLE = f"""
[app]
concurrency = 3

[[servers]]
host = "localhost"
port = 2525
tls_type = "none"
auth_protocol = "none"
max_conns = 4
idle_timeout = "1m"
email_headers = [["X-Campaign", "spring"]]
max_per_hour = 100

[[servers]]
name = "relay"
host = "relay.example.com"
username = "me"
password = "{PASSWORD}"
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_no_password_on_disk(store: Store, *extra: Path) -> None:
    """Check the database, its -wal while still open, then the database after checkpointing."""
    wal = store.folder / "smtpdesk.db-wal"
    assert wal.exists() and wal.stat().st_size > 0
    for path in [store.path, wal, *extra]:
        assert PASSWORD.encode() not in path.read_bytes(), path
    store.close()
    assert PASSWORD.encode() not in store.path.read_bytes()


def test_listmonk_settings_json_imports(store: Store, tmp_path: Path) -> None:
    plan = import_config(store, write(tmp_path, "settings.json", json.dumps(LISTMONK_SETTINGS)))
    first, gmail = store.servers()
    assert first.uuid == "1f6e3ad4-4c55-4e46-9d1f-3b0d2a6a7e01" and first.messenger == "email"
    assert first.auth_protocol == "cram" and first.email_headers == (("X-Mailer", "listmonk"),)
    assert gmail.name == "gmail" and not gmail.enabled and gmail.tls_type == "TLS"
    assert secrets.get_password(first.uuid) == PASSWORD
    assert secrets.get_password(gmail.uuid) is None  # the masked password is not a password
    app = store.app_settings()
    assert (app.concurrency, app.message_rate, app.sliding_window) == (5, 20, True)
    assert any("port 25" in w for w in plan.warnings)
    assert_no_password_on_disk(store)


def test_listmonk_smtp_array_alone_imports(store: Store, tmp_path: Path) -> None:
    import_config(store, write(tmp_path, "smtp.json", json.dumps(LISTMONK_SETTINGS["smtp"])))
    assert len(store.servers()) == 2


def test_toml_imports_and_export_round_trips(store: Store, tmp_path: Path) -> None:
    import_config(store, write(tmp_path, "servers.toml", TOML_SAMPLE))
    local, relay = store.servers()
    assert local.idle_timeout == 60 and local.max_per_hour == 100 and local.port == 2525
    assert secrets.get_password(relay.uuid) == PASSWORD
    assert store.app_settings().concurrency == 3

    exported = write(tmp_path, "export.toml", export_config(store))
    fresh = open_store(tmp_path / "fresh")
    import_config(fresh, exported)
    assert fresh.servers() == store.servers()
    assert fresh.app_settings() == store.app_settings()
    fresh.close()
    assert_no_password_on_disk(store, exported)


def test_one_bad_entry_writes_nothing_and_reports_every_error(store: Store, tmp_path: Path) -> None:
    bad = {
        "smtp": [
            LISTMONK_SETTINGS["smtp"][0],
            {"host": "", "port": 70000},
            {"host": "ok.example.com", "name": "email", "email_headers": [{"X-A": "1\nBcc: x"}]},
        ]
    }
    with pytest.raises(InvalidSettingsError) as caught:
        import_config(store, write(tmp_path, "bad.json", json.dumps(bad)))
    where = sorted(p.field for p in caught.value.problems)
    assert where == ["entry 2, host", "entry 2, port", "entry 3, email_headers", "entry 3, name"]
    assert store.servers() == []
    assert secrets.get_password("1f6e3ad4-4c55-4e46-9d1f-3b0d2a6a7e01") is None


def test_duplicate_names_inside_one_file_are_refused(store: Store, tmp_path: Path) -> None:
    text = '[[servers]]\nhost = "a"\nname = "x"\n[[servers]]\nhost = "b"\nname = "x"\n'
    with pytest.raises(InvalidSettingsError) as caught:
        import_config(store, write(tmp_path, "dup.toml", text))
    assert [p.field for p in caught.value.problems] == ["entry 2, name"]
