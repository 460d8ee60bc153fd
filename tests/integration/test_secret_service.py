"""Against the real Secret Service: gnome-keyring-daemon in a private D-Bus session.

`make test` runs the suite through tests/with-secret-service.sh, which starts the session and
an unlocked keyring in a throwaway HOME and sets SMTPDESK_SECRET_SERVICE=1.
"""

from __future__ import annotations

import os

import keyring
import pytest
from keyring.backends import SecretService

from smtpdesk.core import secrets
from smtpdesk.core.servers import remove_server, save_server
from smtpdesk.core.store import Store

pytestmark = pytest.mark.secret_service


@pytest.fixture(autouse=True)
def secret_service() -> None:
    assert os.environ.get("SMTPDESK_SECRET_SERVICE") == "1", (
        "run through tests/with-secret-service.sh (make test does)"
    )
    keyring.set_keyring(SecretService.Keyring())


def test_set_rename_delete_against_gnome_keyring(store: Store) -> None:
    assert "SecretService" in secrets.describe_backend()
    report = save_server(store, {"host": "smtp.example.com", "name": "first"}, password="pä$$ wörd")
    assert report.settings is not None
    uuid = report.settings.uuid
    assert secrets.get_password(uuid) == "pä$$ wörd"
    # The daemon really holds it: ask it through the backend directly, not our module.
    assert SecretService.Keyring().get_password("smtpdesk", uuid) == "pä$$ wörd"

    save_server(store, {"name": "second"}, base=report.settings)
    assert secrets.get_password(uuid) == "pä$$ wörd"

    save_server(store, {}, base=store.server("second"), password="new")
    assert SecretService.Keyring().get_password("smtpdesk", uuid) == "new"

    remove_server(store, "second")
    assert SecretService.Keyring().get_password("smtpdesk", uuid) is None
    secrets.delete_password(uuid)  # deleting what is gone is not an error
