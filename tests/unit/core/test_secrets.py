"""Without a secure keyring we refuse to store passwords, never falling back to plaintext."""

from __future__ import annotations

from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from smtpdesk.core import secrets
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import Store


@pytest.fixture
def no_keyring() -> None:
    keyring.set_keyring(fail.Keyring())


@pytest.mark.usefixtures("no_keyring")
def test_no_backend_gives_a_clear_error_with_a_fix() -> None:
    with pytest.raises(secrets.KeyringUnavailableError) as caught:
        secrets.set_password("some-uuid", "pw")
    assert "No secure keyring" in caught.value.message
    assert "gnome-keyring" in caught.value.hint


@pytest.mark.usefixtures("no_keyring")
def test_saving_a_password_without_keyring_writes_nothing(store: Store) -> None:
    with pytest.raises(secrets.KeyringUnavailableError):
        save_server(store, {"host": "smtp.example.com"}, password="pw")
    assert store.servers() == []


def test_plaintext_backends_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class PlaintextKeyring(fail.Keyring):
        pass

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    keyring.set_keyring(PlaintextKeyring())
    with pytest.raises(secrets.KeyringUnavailableError):
        secrets.describe_backend()


def test_rename_keeps_and_delete_removes_the_password(store: Store, tmp_path: Path) -> None:
    report = save_server(store, {"host": "smtp.example.com"}, password="pw")
    assert report.settings is not None
    uuid = report.settings.uuid
    renamed = save_server(store, {"name": "renamed"}, base=report.settings)
    assert renamed.settings is not None and secrets.get_password(uuid) == "pw"
    from smtpdesk.core.servers import remove_server

    remove_server(store, "renamed")
    assert secrets.get_password(uuid) is None and store.servers() == []
