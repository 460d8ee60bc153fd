"""OAuth entries in the keyring: one per server and kind, and the Windows size limit."""

from __future__ import annotations

import keyring
import pytest

from smtpdesk.core import secrets
from smtpdesk.core.memory_keyring import MemoryKeyring
from smtpdesk.core.servers import remove_server, save_server
from smtpdesk.core.store import Store


class WindowsLikeKeyring(MemoryKeyring):
    pass


WindowsLikeKeyring.__module__ = "keyring.backends.Windows"


def test_entries_sit_beside_the_password_and_go_with_the_server(
    store: Store, memory_keyring: MemoryKeyring
) -> None:
    report = save_server(store, {"host": "smtp.example.com"}, password="pw", client_secret="cs")
    assert report.settings is not None
    uuid = report.settings.uuid
    secrets.set_oauth(uuid, secrets.REFRESH_TOKEN, "rt")
    assert memory_keyring.entries == {
        ("smtpdesk", uuid): "pw",
        ("smtpdesk", f"{uuid}:oauth-client-secret"): "cs",
        ("smtpdesk", f"{uuid}:oauth-refresh-token"): "rt",
    }
    remove_server(store, uuid)
    assert memory_keyring.entries == {}


def test_a_token_too_large_for_windows_credential_manager_is_refused_clearly() -> None:
    keyring.set_keyring(WindowsLikeKeyring())
    secrets.set_oauth("u", secrets.REFRESH_TOKEN, "x" * 1280)  # 2,560 bytes in UTF-16: fits
    with pytest.raises(secrets.SecretTooLargeError) as caught:
        secrets.set_oauth("u", secrets.REFRESH_TOKEN, "y" * 1281)
    assert "2,562 bytes" in caught.value.message and "2,560" in caught.value.message
    assert "Windows Credential Manager" in caught.value.message
    assert secrets.get_oauth("u", secrets.REFRESH_TOKEN) == "x" * 1280  # the old one stays


def test_other_keyrings_take_long_tokens() -> None:
    secrets.set_oauth("u", secrets.REFRESH_TOKEN, "z" * 5000)
    assert secrets.get_oauth("u", secrets.REFRESH_TOKEN) == "z" * 5000
