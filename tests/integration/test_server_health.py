"""The last test per server: kept only for the saved settings, forgotten when they change."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from smtpdesk.core.server_health import last_tests, record_test
from smtpdesk.core.servers import remove_server, save_server
from smtpdesk.core.store import Store, open_store
from tests.helpers.old_database import database_at


def test_only_a_test_of_the_saved_settings_is_kept(store: Store) -> None:
    saved = save_server(store, {"host": "a.example.org"}, password="pw").settings
    assert saved is not None
    assert record_test(store, replace(saved, port=2525), True, "passed") is None
    assert record_test(store, saved, True, "passed", typed_password=True) is None
    assert last_tests(store) == {}
    kept = record_test(store, saved, False, "refused", at=1_800_000_000.0)
    assert kept is not None and not kept.ok
    assert record_test(store, saved, True, "passed", at=1_800_000_060.0) is not None
    reopened = open_store(store.folder)  # a restart
    try:
        last = last_tests(reopened)[saved.uuid]
    finally:
        reopened.close()
    assert (last.ok, last.tested_at, last.summary) == (True, 1_800_000_060.0, "passed")


def test_changing_what_the_test_depends_on_forgets_it(store: Store) -> None:
    saved = save_server(store, {"host": "a.example.org"}).settings
    assert saved is not None
    record_test(store, saved, True, "passed")
    renamed = save_server(store, {"name": "bulk", "max_conns": 3}, base=saved).settings
    assert renamed is not None and saved.uuid in last_tests(store)  # a name is not tested
    record_test(store, renamed, True, "passed")
    moved = save_server(store, {"port": 2525}, base=renamed).settings
    assert moved is not None and last_tests(store) == {}
    record_test(store, moved, True, "passed")
    save_server(store, {}, base=moved, password="")
    assert moved.uuid in last_tests(store)  # no password before, none now: no change
    save_server(store, {}, base=moved, password="new")
    assert last_tests(store) == {}  # a new password: the old verdict no longer holds
    record_test(store, moved, True, "passed")
    save_server(store, {}, base=moved, password="new")  # the same one again (the sandbox)
    assert moved.uuid in last_tests(store)
    record_test(store, moved, True, "passed")
    remove_server(store, moved.uuid)
    assert last_tests(store) == {}


def test_a_database_from_before_the_pin_is_upgraded(tmp_path: Path) -> None:
    """A 0003 database keeps its server: empty pin, no last test, and both work after."""
    database_at(
        tmp_path,
        "0003",
        "INSERT INTO servers VALUES ('u-1', 1, 1, '', 'old.example.org', 587, 'plain',"
        " 'me', 'STARTTLS', 0, '', 10, 15.0, 5.0, 2, 0.01, '[]', NULL, NULL, NULL)",
    )
    store = Store(tmp_path)
    try:
        [old] = store.servers()
        assert (old.host, old.tls_pin_sha256) == ("old.example.org", "")
        assert last_tests(store) == {}
        assert record_test(store, old, True, "passed") is not None
    finally:
        store.close()
