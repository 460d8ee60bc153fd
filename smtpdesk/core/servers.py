"""Saving and removing servers: validation, the database row and the keyring entry together."""

from __future__ import annotations

from collections.abc import Mapping

from smtpdesk.core import secrets
from smtpdesk.core.server_health import changes_test, forget_test
from smtpdesk.core.settings import ServerReport, ServerSettings, parse_server
from smtpdesk.core.store import Store


def save_server(
    store: Store,
    data: Mapping[str, object],
    *,
    base: ServerSettings | None = None,
    password: str | None = None,
    client_secret: str | None = None,
) -> ServerReport:
    """Validate ``data`` over ``base`` and, when there is no error, store it.

    ``password`` None keeps the stored one; "" removes it; ``client_secret`` (OAuth) too.
    The keyring is written first so that a locked keyring leaves the database untouched.
    """
    others = [s for s in store.servers() if base is None or s.uuid != base.uuid]
    report = parse_server(data, others=others, base=base)
    if report.settings is None:
        return report
    settings = report.settings
    # Saving the password already stored (the sandbox does at every start) is no change.
    new_password = password is not None and (
        base is None or (secrets.get_password(settings.uuid) or "") != password
    )
    if password is not None:
        if password:
            secrets.set_password(settings.uuid, password)
        else:
            secrets.delete_password(settings.uuid)
    if client_secret:
        secrets.set_oauth(settings.uuid, secrets.CLIENT_SECRET, client_secret)
    elif client_secret is not None:
        secrets.delete_oauth(settings.uuid, secrets.CLIENT_SECRET)
    store.put_server(settings)
    if base is not None and (new_password or changes_test(base, settings)):
        forget_test(store, settings.uuid)  # the last test was of other settings
    return report


def remove_server(store: Store, key: str) -> ServerSettings:
    """Delete the server named or identified by ``key``, its password and OAuth tokens."""
    settings = store.server(key)
    secrets.delete_password(settings.uuid)
    secrets.delete_oauth(settings.uuid)
    secrets.delete_dkim_keys(settings.uuid)
    store.delete_server(settings.uuid)
    return settings
