"""``config import`` of files that are not configurations, and of very large ones.

Bad files exit 2 with one line and change nothing; 10,000 servers import in seconds
(it was quadratic: 29 s for 10,000, 40,000 never finished).
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import tomli_w

from smtpdesk.cli import main
from smtpdesk.core.config_io import export_config, import_config
from smtpdesk.core.errors import InvalidSettingsError
from smtpdesk.core.store import Store, open_store


def database_hash(folder: Path) -> str:
    return hashlib.sha256((folder / "smtpdesk.db").read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("random.toml", os.urandom(3000) + b"\xff\xfe\x80", "is not UTF-8 text"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nests its values too deeply"),
        ("deep.toml", b"x = " + b"[" * 5000 + b"]" * 5000, "nests its values too deeply"),
        ("smtp.json", b'{"smtp": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "too deeply"),
        ("broken.toml", b"[[servers]]\nhost = \n", "neither listmonk JSON nor smtpdesk TOML"),
        ("broken.json", b'{"smtp": [', "is not valid JSON (line 1"),
        ("servers.toml", b'servers = "smtp.example.com"\n', "'servers' is not a list"),
    ],
)
def test_a_file_that_is_no_configuration_exits_2_in_one_line(
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    data: bytes,
    said: str,
) -> None:
    store.close()
    before = database_hash(store.folder)
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["config", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err.strip().splitlines()) == 1, err
    assert database_hash(store.folder) == before


def servers_file(tmp_path: Path, count: int, clash: bool = False) -> Path:
    entries = [
        {
            "host": f"smtp{i}.example.com",
            "name": f"bulk-{i}" if i % 2 else "",
            "auth_protocol": "none",
            "tls_type": "TLS",
            "port": 465,
        }
        for i in range(count)
    ]
    if clash:
        entries.append({"host": "x.example.com", "name": "Bulk_1", "auth_protocol": "none"})
    path = tmp_path / "many.toml"
    path.write_text(tomli_w.dumps({"servers": entries}), encoding="utf-8")
    return path


def test_ten_thousand_servers_import_in_seconds(store: Store, tmp_path: Path) -> None:
    path = servers_file(tmp_path, 10_000)
    started = time.perf_counter()
    plan = import_config(store, path)
    elapsed = time.perf_counter() - started
    assert len(plan.servers) == 10_000 and len(store.servers()) == 10_000
    assert elapsed < 6, f"{elapsed:.1f} s for 10,000 servers (1 s when linear, 10 s before)"
    # Its export imported again (each row an update now): still linear, nothing doubled.
    exported = tmp_path / "export.toml"
    exported.write_text(export_config(store), encoding="utf-8")
    started = time.perf_counter()
    import_config(store, exported)
    assert time.perf_counter() - started < 6
    assert len(store.servers()) == 10_000


def test_the_unique_name_rule_still_holds_at_scale(store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        import_config(store, servers_file(tmp_path, 2_000, clash=True))
    [problem] = caught.value.problems
    assert "entry 2001, name" in str(problem) and "bulk-1" in str(problem)
    assert store.servers() == []


def test_a_name_already_saved_is_refused_and_a_reimport_of_it_is_not(
    store: Store, tmp_path: Path
) -> None:
    first = tmp_path / "one.toml"
    first.write_text('[[servers]]\nhost = "a.example.com"\nname = "bulk"\n', encoding="utf-8")
    import_config(store, first)
    [saved] = store.servers()
    again = tmp_path / "again.toml"
    again.write_text(
        f'[[servers]]\nuuid = "{saved.uuid}"\nhost = "b.example.com"\nname = "bulk"\n',
        encoding="utf-8",
    )
    import_config(store, again)  # the same server, updated: not a clash with itself
    assert [s.host for s in store.servers()] == ["b.example.com"]
    with pytest.raises(InvalidSettingsError, match="not imported"):
        import_config(store, first.replace(tmp_path / "other.toml"))


def test_config_export_and_import_reopen_the_store_cleanly(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(data_dir)
    store.close()
    out = tmp_path / "config.toml"
    assert main(["config", "export", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600


def test_numbers_sqlite_cannot_hold_are_refused_by_field(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store.close()
    before = database_hash(store.folder)
    path = tmp_path / "huge.toml"
    path.write_text(
        "[app]\nmax_send_errors = 100000000000000000000000\n\n"
        '[[servers]]\nhost = "a.example.com"\nmax_per_day = 100000000000000000000000\n',
        encoding="utf-8",
    )
    assert main(["config", "import", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: entry 1, max_per_day: 100000000000000000000000 is too large",
        "error: app, max_send_errors: 100000000000000000000000 is too large",
    ]
    assert database_hash(store.folder) == before
    argv = ["servers", "add", "--host", "a.example.com", "--max-per-hour", "9" * 25]
    assert main(argv) == 2
    assert "max_per_hour: " + "9" * 25 + " is too large" in capsys.readouterr().err
