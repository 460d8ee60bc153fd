"""A read-only data folder: reading commands work, writing ones say so and name it.

Before, even ``servers list`` ended in an OperationalError traceback. The folder is made
read-only for real: a read-only bind mount when the tests run as root (root ignores
file modes), else the modes themselves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import open_store

_REMOUNT = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'


def _can_remount(folder: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    writable = ["sh", "-c", 'test ! -w "$0"', str(folder)]
    probe = ["unshare", "-m", "sh", "-c", _REMOUNT, str(folder), *writable]
    return subprocess.run(probe, capture_output=True).returncode == 0


@pytest.fixture
def read_only(data_dir: Path) -> Iterator[Path]:
    """The data folder, filled, then read-only for the commands run through ``smtpdesk``."""
    store = open_store(data_dir)
    save_server(store, {"host": "smtp.example.com", "name": "bulk", "auth_protocol": "none"})
    ledger = Ledger(store)
    campaign = ledger.create_campaign("spring", CampaignContent("Hi", "a@example.com", text="x"))
    ledger.insert_recipients(campaign, [{"line": 2, "email": "ann@example.com", "fields": {}}])
    store.close()
    if os.geteuid() == 0:
        if not _can_remount(data_dir):
            pytest.skip("root without mount namespaces: cannot make a folder read-only")
        yield data_dir
        return
    files = list(data_dir.iterdir())
    for path in files:
        path.chmod(0o444)
    data_dir.chmod(0o555)
    try:
        yield data_dir
    finally:
        data_dir.chmod(0o700)
        for path in files:
            path.chmod(0o600)


def smtpdesk(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "smtpdesk", *argv]
    if os.geteuid() == 0:
        command = ["unshare", "-m", "sh", "-c", _REMOUNT, str(folder), *command]
    env = {
        **os.environ,
        "SMTPDESK_DATA_DIR": str(folder),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize(
    "argv",
    [
        ("servers", "list"),
        ("servers", "list", "--json"),
        ("campaign", "list"),
        ("campaign", "status", "1"),
        ("campaign", "status", "1", "--json"),
    ],
    ids=" ".join,
)
def test_reading_commands_work(read_only: Path, argv: tuple[str, ...]) -> None:
    done = smtpdesk(read_only, *argv)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "bulk" in done.stdout or "spring" in done.stdout or '"state"' in done.stdout


def test_exports_to_another_folder_work(read_only: Path, tmp_path: Path) -> None:
    config, report = tmp_path / "config.toml", tmp_path / "report.csv"
    assert smtpdesk(read_only, "config", "export", str(config)).returncode == 0
    assert smtpdesk(read_only, "campaign", "export", "1", str(report)).returncode == 0
    assert "smtp.example.com" in config.read_text() and "ann@example.com" in report.read_text()


@pytest.mark.parametrize(
    "argv",
    [
        ("servers", "add", "--host", "smtp2.example.com", "--auth", "none"),
        ("servers", "edit", "bulk", "--port", "2525"),
        ("servers", "remove", "bulk"),
        ("campaign", "suppress", "ann@example.com"),
        ("campaign", "retry-failed", "1"),
    ],
    ids=" ".join,
)
def test_writing_commands_say_the_folder_is_read_only(
    read_only: Path, argv: tuple[str, ...]
) -> None:
    done = smtpdesk(read_only, *argv)
    assert done.returncode == 1, done.stderr
    assert f"The data folder is read-only: {read_only}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_import_and_create_say_it_too(read_only: Path, tmp_path: Path) -> None:
    config = tmp_path / "in.toml"
    config.write_text('[[servers]]\nhost = "smtp3.example.com"\n', encoding="utf-8")
    people = tmp_path / "people.csv"
    people.write_text("email\nbob@example.com\n", encoding="utf-8")
    body = tmp_path / "body.txt"
    body.write_text("Hello", encoding="utf-8")
    for argv in (
        ("config", "import", str(config)),
        ("campaign", "create", "--name", "n", "--recipients", str(people), "--subject", "s",
         "--from", "a@example.com", "--text-file", str(body)),
    ):  # fmt: skip
        done = smtpdesk(read_only, *argv)
        assert done.returncode == 1 and "The data folder is read-only" in done.stderr, done.stderr
