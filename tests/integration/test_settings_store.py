"""Property tests: valid settings round-trip through real SQLite; invalid ones never land."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smtpdesk.core.servers import save_server
from smtpdesk.core.settings import AuthProtocol, TlsType
from smtpdesk.core.store import open_store

hostnames = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True)
header_names = st.text(
    alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=20
)
header_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=40,
)
millis = st.integers(min_value=1, max_value=3_600_000).map(lambda m: m / 1000)

valid_servers = st.fixed_dictionaries(
    {
        "enabled": st.booleans(),
        "name": st.one_of(
            st.just(""), st.from_regex(r"[a-df-z0-9][a-z0-9-]{0,15}", fullmatch=True)
        ),
        "host": hostnames,
        "port": st.integers(min_value=1, max_value=65535),
        # xoauth2 needs a client ID as well: tests/unit/core/test_oauth_settings.py
        "auth_protocol": st.sampled_from([a for a in AuthProtocol if a != AuthProtocol.XOAUTH2]),
        "username": st.text(max_size=30).map(str.strip),
        "tls_type": st.sampled_from(list(TlsType)),
        "tls_skip_verify": st.booleans(),
        "tls_pin_sha256": st.one_of(st.just(""), st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
        "hello_hostname": st.one_of(st.just(""), hostnames),
        "max_conns": st.integers(min_value=1, max_value=1000),
        "idle_timeout": millis,
        "wait_timeout": millis,
        "max_msg_retries": st.integers(min_value=0, max_value=100),
        "msg_retry_delay": st.integers(min_value=0, max_value=60_000).map(lambda m: m / 1000),
        "email_headers": st.lists(
            st.tuples(header_names.map(lambda n: "X-" + n), header_values.map(str.strip)),
            max_size=4,
        ),
        "max_per_second": st.one_of(st.none(), st.floats(min_value=0.01, max_value=10_000)),
        "max_per_hour": st.one_of(st.none(), st.integers(min_value=1, max_value=10**7)),
        "max_per_day": st.one_of(st.none(), st.integers(min_value=1, max_value=10**8)),
    }
)

invalid_changes = st.sampled_from(
    [
        ("port", 0),
        ("port", 70000),
        ("max_conns", 0),
        ("max_conns", 5000),
        ("idle_timeout", 0),
        ("wait_timeout", -3),
        ("email_headers", [["Bad:Name", "x"]]),
        ("email_headers", [["X-Ok", "a\nb"]]),
        ("email_headers", [["To", "x@y"]]),
        ("name", "email"),
        ("name", "a/b"),
        ("host", "two words"),
        ("tls_type", "SSL"),
        ("max_per_hour", 0),
    ]
)

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(data=valid_servers)
def test_valid_settings_round_trip_unchanged(data: dict) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(folder)
        report = save_server(store, data)
        store.close()
        assert report.errors == []
        saved = report.settings
        assert saved is not None
        for key, value in data.items():
            expected = tuple(tuple(p) for p in value) if key == "email_headers" else value
            assert getattr(saved, key) == expected, key
        reopened = open_store(folder)
        assert reopened.servers() == [saved]
        reopened.close()


@SETTINGS
@given(data=valid_servers, change=invalid_changes)
def test_invalid_settings_are_refused_and_store_unchanged(
    tmp_path: Path, data: dict, change: tuple[str, object]
) -> None:
    store = open_store(tmp_path)
    try:
        before = store.servers()
        key, value = change
        report = save_server(store, {**data, key: value})
        assert report.settings is None
        assert key in {p.field for p in report.errors}
        assert store.servers() == before
    finally:
        store.close()
