"""TEST ONLY: a keyring kept in a JSON file, so a child process (``campaign serve``) reads the
passwords its test wrote. The suite's usual keyring (tests/conftest.py) lives in one process's
memory; a sending process started by a test cannot see it.

A process picks this backend through keyring's own variable::

    PYTHON_KEYRING_BACKEND=tests.helpers.file_keyring.FileKeyring
    SMTPDESK_TEST_KEYRING_FILE=/tmp/.../keyring.json
    PYTHONPATH=<project root>          # so the child can import ``tests``

The :func:`file_keyring` fixture sets all three (children inherit them) and makes this
process use the same file. Plaintext on purpose: never import this from ``smtpdesk``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from jaraco.classes import properties
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

ENV_FILE = "SMTPDESK_TEST_KEYRING_FILE"
BACKEND = "tests.helpers.file_keyring.FileKeyring"
ROOT = Path(__file__).resolve().parents[2]  # the project root, for the child's PYTHONPATH


class FileKeyring(KeyringBackend):
    """Entries in the JSON file named by ``$SMTPDESK_TEST_KEYRING_FILE``; every call reads or
    rewrites the whole file under an exclusive lock, so several processes share it safely."""

    @properties.classproperty
    def priority(cls) -> float:
        # keyring tries every backend class it knows when it picks a default: this one
        # only where a test asked for it.
        if not os.environ.get(ENV_FILE):
            raise RuntimeError(f"FileKeyring needs ${ENV_FILE}")
        return 0.5

    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._path = Path(path) if path else None

    @property
    def path(self) -> Path:
        chosen = self._path or os.environ.get(ENV_FILE)
        if not chosen:
            raise RuntimeError(f"FileKeyring needs ${ENV_FILE}")
        return Path(chosen)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, str]]:
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                entries = json.loads(self.path.read_text()) if self.path.exists() else {}
                before = dict(entries)
                yield entries
                if entries != before:
                    tmp = self.path.with_suffix(".tmp")
                    tmp.write_text(json.dumps(entries))
                    os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _key(service: str, username: str) -> str:
        return json.dumps([service, username])

    def get_password(self, service: str, username: str) -> str | None:
        with self._locked() as entries:
            return entries.get(self._key(service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        with self._locked() as entries:
            entries[self._key(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        with self._locked() as entries:
            if entries.pop(self._key(service, username), None) is None:
                raise PasswordDeleteError("not found")


def child_environment(path: Path) -> dict[str, str]:
    """The variables a child process needs to use the keyring file ``path``."""
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHON_KEYRING_BACKEND": BACKEND, ENV_FILE: str(path), "PYTHONPATH": python_path}


@pytest.fixture
def file_keyring(
    memory_keyring: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FileKeyring]:
    """This process and every child it starts share one keyring file (after the autouse
    in-memory keyring, which this replaces for the test; conftest puts the old one back)."""
    path = tmp_path / "keyring.json"
    for name, value in child_environment(path).items():
        monkeypatch.setenv(name, value)
    backend = FileKeyring(path)
    keyring.set_keyring(backend)
    yield backend
