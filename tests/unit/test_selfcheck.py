"""`smtpdesk --self-check`: one line per check, exit 0 only when every check holds."""

from __future__ import annotations

import ssl
from pathlib import Path

import keyring
import pytest
import trustme
from keyring.backends import fail
from pytestqt.qtbot import QtBot

from smtpdesk import cli
from smtpdesk.core.store import migrate
from smtpdesk.selfcheck import CheckResult, check_tls, run_self_check

pytestmark = pytest.mark.usefixtures("qapp")  # one QApplication, shared with pytest-qt


@pytest.fixture(autouse=True)
def offscreen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # check_qt sets it; restore after


def lines(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    out = capsys.readouterr().out.splitlines()
    return {line.split()[1]: line for line in out}


def test_all_checks_pass_and_a_fresh_folder_is_migrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "new-data"
    assert cli.main(["--self-check", "--data-dir", str(folder)]) == 0
    found = lines(capsys)
    assert list(found) == ["qt", "database", "keyring", "tls"]
    assert all(line.startswith("ok   ") for line in found.values())
    db = folder / "smtpdesk.db"
    assert db.is_file()
    assert f"{db} (revision {migrate.head()})" in found["database"]
    assert "MemoryKeyring" in found["keyring"]
    assert "icon loads" in found["qt"]


def test_missing_keyring_fails_with_message_and_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keyring.set_keyring(fail.Keyring())
    assert run_self_check(str(tmp_path)) == 1
    line = lines(capsys)["keyring"]
    assert line.startswith("FAIL keyring")
    assert "No secure keyring" in line
    assert "hint: " in line and "gnome-keyring" in line


def test_unusable_data_folder_fails_only_the_database_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert run_self_check(str(blocker)) == 1
    found = lines(capsys)
    assert found["database"].startswith("FAIL database")
    assert [name for name, line in found.items() if line.startswith("ok")] == [
        "qt",
        "keyring",
        "tls",
    ]


def test_tls_without_any_ca_certificate_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    empty = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    monkeypatch.setattr(ssl, "create_default_context", lambda: empty)
    monkeypatch.setattr(
        ssl, "get_default_verify_paths", lambda: ssl.DefaultVerifyPaths(None, None, "", "", "", "")
    )
    result = check_tls()
    assert not result.ok
    assert "ca-certificates" in result.detail


def test_tls_names_where_the_certificates_come_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file = tmp_path / "one-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    result = check_tls()
    assert result.ok
    assert result.detail == f"1 CA certificates from {ca_file} (SSL_CERT_FILE)"


def test_qt_check_creates_a_widget_offscreen(qtbot: QtBot) -> None:
    from smtpdesk.selfcheck import check_qt

    result = check_qt()
    assert result.ok, result.detail
    assert "platform offscreen" in result.detail


def test_result_lines_are_aligned() -> None:
    assert CheckResult("database", True, "/x (revision 0002)").line() == (
        "ok   database  /x (revision 0002)"
    )
    assert CheckResult("keyring", False, "none").line() == "FAIL keyring   none"
