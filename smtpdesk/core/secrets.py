"""Server passwords in the OS keyring, one entry per server uuid. Never anywhere else."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import chainer, fail

from smtpdesk.core.errors import KnownError

SERVICE = "smtpdesk"
_HINT = (
    "Unlock your desktop's keyring, or install and start a Secret Service "
    "(on Debian/Ubuntu: sudo apt-get install gnome-keyring), then try again."
)
# Backends that would write the secret to disk in the clear or obfuscated.
_PLAINTEXT_MODULES = ("keyrings.alt",)


class KeyringUnavailableError(KnownError):
    """There is no secure place to keep passwords; we refuse to fall back to plaintext."""


def _backend() -> keyring.backend.KeyringBackend:
    backend = keyring.get_keyring()
    inner = backend.backends if isinstance(backend, chainer.ChainerBackend) else [backend]
    usable = [
        b
        for b in inner
        if not isinstance(b, fail.Keyring) and not type(b).__module__.startswith(_PLAINTEXT_MODULES)
    ]
    if not usable:
        raise KeyringUnavailableError("No secure keyring is available to store passwords.", _HINT)
    return backend


def describe_backend() -> str:
    """A short name of the keyring in use, or raise :class:`KeyringUnavailableError`."""
    backend = _backend()
    return f"{type(backend).__module__}.{type(backend).__name__}"


@contextmanager
def _guarded(action: str) -> Iterator[None]:
    try:
        yield
    except keyring.errors.KeyringError as exc:
        # The backend's message may name the entry but never holds the secret value.
        raise KeyringUnavailableError(
            f"The keyring refused to {action} a password: {exc}.", _HINT
        ) from exc


def get_password(server_uuid: str) -> str | None:
    backend = _backend()
    with _guarded("read"):
        return backend.get_password(SERVICE, server_uuid)


def set_password(server_uuid: str, password: str) -> None:
    backend = _backend()
    with _guarded("store"):
        backend.set_password(SERVICE, server_uuid, password)


def delete_password(server_uuid: str) -> None:
    backend = _backend()
    # Nothing stored is the outcome the caller wants.
    with _guarded("delete"), suppress(keyring.errors.PasswordDeleteError):
        backend.delete_password(SERVICE, server_uuid)


def has_password(server_uuid: str) -> bool:
    return get_password(server_uuid) is not None
