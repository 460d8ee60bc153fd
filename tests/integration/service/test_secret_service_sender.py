"""The sending process reads a server's password from the real Secret Service (gnome-keyring).

Run through tests/with-secret-service.sh (make test does): the child process inherits the
private D-Bus session and finds the same unlocked keyring as this test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import SecretService

from smtpdesk.core import secrets
from smtpdesk.core.campaign.ledger import Counts, Ledger
from smtpdesk.core.store import Store
from tests.helpers.smtpd import PASSWORD, USER, SmtpdFactory
from tests.integration.campaign.helpers import add_server, addresses, make_campaign, received
from tests.integration.service.helpers import start, wait_gone

pytestmark = pytest.mark.secret_service


@pytest.fixture
def secret_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    assert os.environ.get("SMTPDESK_SECRET_SERVICE") == "1", (
        "run through tests/with-secret-service.sh (make test does)"
    )
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)  # the child picks its own
    previous = keyring.get_keyring()
    keyring.set_keyring(SecretService.Keyring())  # type: ignore[no-untyped-call]
    yield
    keyring.set_keyring(previous)


async def test_a_password_server_sends_through_a_serve_process(
    store: Store, smtpd_factory: SmtpdFactory, data_dir: Path, secret_service: None
) -> None:
    server = await smtpd_factory("plain", auth=("PLAIN",), auth_require_tls=False)
    settings = add_server(store, server)
    secrets.set_password(settings.uuid, PASSWORD)
    try:
        emails = addresses(20)
        campaign = make_campaign(store, emails)
        pid = await start(campaign)
        assert await wait_gone(pid) == 0
        assert sorted(received(server)) == sorted(emails)
        assert {m.login for m in server.messages} == {USER}  # the child logged in with it
        assert Ledger(store).counts(campaign) == Counts(sent=20)
    finally:
        secrets.delete_password(settings.uuid)
