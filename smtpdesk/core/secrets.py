"""Server passwords in the OS keyring, one entry per server uuid. Never anywhere else.

An OAuth server has its own entries beside the password's, named ``<uuid>:<kind>``:
the refresh token, the optional client secret and the grant's description (account,
time of sign-in). Access tokens are never stored: they live in memory (core/oauth).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import chainer, fail

from smtpdesk.core import logs
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
        password = backend.get_password(SERVICE, server_uuid)
    logs.remember_secret(password)  # never in the log file, whatever quotes it
    return password


def set_password(server_uuid: str, password: str) -> None:
    logs.remember_secret(password)
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


# --- OAuth entries (issue 11) --------------------------------------------------------

REFRESH_TOKEN = "oauth-refresh-token"
CLIENT_SECRET = "oauth-client-secret"
GRANT = "oauth-grant"
OAUTH_KINDS = (REFRESH_TOKEN, CLIENT_SECRET, GRANT)
# Windows Credential Manager keeps at most 2,560 bytes a secret (CRED_MAX_CREDENTIAL_BLOB_SIZE),
# and keyring writes the text as UTF-16: 1,280 ASCII characters.
WINDOWS_SECRET_LIMIT = 2560


class SecretTooLargeError(KnownError):
    """The keyring in use cannot hold a secret this large."""


def _entry(server_uuid: str, kind: str) -> str:
    return f"{server_uuid}:{kind}"


def _check_size(backend: keyring.backend.KeyringBackend, kind: str, secret: str) -> None:
    inner = backend.backends if isinstance(backend, chainer.ChainerBackend) else [backend]
    if not any(type(b).__module__.startswith("keyring.backends.Windows") for b in inner):
        return
    size = len(secret.encode("utf-16-le"))
    if size > WINDOWS_SECRET_LIMIT:
        what = kind.replace("oauth-", "OAuth ").replace("-", " ")
        raise SecretTooLargeError(
            f"The {what} is {size:,} bytes, but Windows Credential Manager holds at most "
            f"{WINDOWS_SECRET_LIMIT:,} bytes a secret, so it cannot be stored.",
            "Nothing was saved. Report this with the provider's name; meanwhile use an app "
            "password if the provider offers one.",
        )


def get_oauth(server_uuid: str, kind: str) -> str | None:
    backend = _backend()
    with _guarded("read"):
        secret = backend.get_password(SERVICE, _entry(server_uuid, kind))
    if kind != GRANT:
        logs.remember_secret(secret)  # never in the log file
    return secret


def set_oauth(server_uuid: str, kind: str, secret: str) -> None:
    """Store one OAuth entry; refuse one that the platform's keyring cannot hold."""
    if kind != GRANT:
        logs.remember_secret(secret)
    backend = _backend()
    _check_size(backend, kind, secret)
    with _guarded("store"):
        backend.set_password(SERVICE, _entry(server_uuid, kind), secret)


def delete_oauth(server_uuid: str, *kinds: str) -> None:
    """Delete the given OAuth entries (all of them by default); missing ones are fine."""
    backend = _backend()
    for kind in kinds or OAUTH_KINDS:
        with _guarded("delete"), suppress(keyring.errors.PasswordDeleteError):
            backend.delete_password(SERVICE, _entry(server_uuid, kind))


# --- DKIM private keys (issue 14) ------------------------------------------------------

DKIM_KINDS = ("dkim-rsa", "dkim-ed25519")  # one PKCS#8 PEM each, named "<uuid>:<kind>"


def get_dkim_key(server_uuid: str, kind: str) -> str | None:
    backend = _backend()
    with _guarded("read"):
        pem = backend.get_password(SERVICE, _entry(server_uuid, kind))
    logs.remember_secret(pem)  # never in the log file
    return pem


def set_dkim_key(server_uuid: str, kind: str, pem: str) -> None:
    logs.remember_secret(pem)
    backend = _backend()
    _check_size(backend, kind, pem)
    with _guarded("store"):
        backend.set_password(SERVICE, _entry(server_uuid, kind), pem)


def delete_dkim_keys(server_uuid: str) -> None:
    """Delete both DKIM keys of a server; missing ones are fine."""
    backend = _backend()
    for kind in DKIM_KINDS:
        with _guarded("delete"), suppress(keyring.errors.PasswordDeleteError):
            backend.delete_password(SERVICE, _entry(server_uuid, kind))
