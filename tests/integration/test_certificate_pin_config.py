"""The trusted certificate (tls_pin_sha256): validated, stored, exported and imported."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from smtpdesk.core.config_io import export_config, import_config
from smtpdesk.core.errors import InvalidSettingsError
from smtpdesk.core.servers import save_server
from smtpdesk.core.settings import parse_server
from smtpdesk.core.store import Store, open_store

PIN = "5e" * 32


def test_the_pin_is_normalised_and_checked() -> None:
    colons = ":".join(["5E"] * 32)
    report = parse_server({"host": "h.example", "tls_pin_sha256": colons})
    assert report.settings is not None and report.settings.tls_pin_sha256 == PIN
    bad = parse_server({"host": "h.example", "tls_pin_sha256": "abc"})
    assert bad.settings is None
    [problem] = bad.errors
    assert problem.field == "tls_pin_sha256" and "64 hexadecimal digits" in problem.message


def test_the_pin_is_stored_exported_and_imported(store: Store, tmp_path: Path) -> None:
    saved = save_server(store, {"host": "mail.example.org", "tls_pin_sha256": PIN}).settings
    assert saved is not None
    reopened = open_store(store.folder)
    try:
        assert reopened.servers()[0].tls_pin_sha256 == PIN
    finally:
        reopened.close()
    text = export_config(store)
    [entry] = tomllib.loads(text)["servers"]
    assert entry["tls_pin_sha256"] == PIN
    path = tmp_path / "config.toml"
    path.write_text(
        text.replace(PIN, ":".join(["AB"] * 32)).replace(saved.uuid, ""), encoding="utf-8"
    )
    import_config(store, path)
    pins = sorted(s.tls_pin_sha256 for s in store.servers())
    assert pins == [PIN, "ab" * 32]


def test_a_bad_pin_in_a_file_imports_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[servers]]\nhost = "a.example"\ntls_pin_sha256 = "xyz"\n', encoding="utf-8")
    with pytest.raises(InvalidSettingsError) as caught:
        import_config(store, path)
    assert "entry 1, tls_pin_sha256" in str(caught.value.problems[0].field)
    assert store.servers() == []
