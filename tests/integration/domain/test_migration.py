"""Migration 0008: servers and app settings saved before it read back without DKIM or DNS."""

from __future__ import annotations

from pathlib import Path

from smtpdesk.core.settings import DkimAlgorithm
from smtpdesk.core.store import Store
from tests.helpers.old_database import database_at


def test_an_older_database_upgrades(tmp_path: Path) -> None:
    database_at(
        tmp_path,
        "0007",
        "INSERT INTO servers (uuid, position, enabled, name, host, port, auth_protocol,"
        " username, tls_type, tls_skip_verify, hello_hostname, max_conns, idle_timeout,"
        " wait_timeout, max_msg_retries, msg_retry_delay, email_headers) VALUES ('u-1',"
        " 1, 1, '', 'old.example.org', 587, 'plain', 'me', 'STARTTLS', 0, '', 10, 15.0,"
        " 5.0, 2, 0.01, '[]')",
        "INSERT INTO app_settings (id, concurrency, message_rate, max_send_errors,"
        " sliding_window, sliding_window_rate, sliding_window_duration)"
        " VALUES (1, 3, 5.0, 10, 0, 100, 60.0)",
    )
    store = Store(tmp_path)
    try:
        [old] = store.servers()
        assert old.host == "old.example.org" and old.dkim_enabled is False
        assert old.dkim_algorithm == DkimAlgorithm.RSA and old.dkim_domain == ""
        app = store.app_settings()
        assert app.concurrency == 3 and app.dns_server == ""
    finally:
        store.close()
