"""Shared fixtures: a fresh data folder and an in-memory keyring for every test."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest

from smtpdesk.core.logs import forget_secrets
from smtpdesk.core.memory_keyring import MemoryKeyring
from smtpdesk.core.store import Store, open_store

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest_plugins = ["tests.helpers.smtpd", "tests.helpers.oauth", "tests.helpers.postfix"]


@pytest.fixture(scope="session", autouse=True)
def local_dns() -> Iterator[str]:
    """Every DNS look-up of the domain check asks an empty server on 127.0.0.1 (issue 14):
    tests never query the network, and get a quick 'no record' instead of a time-out."""
    from tests.helpers.dns import dns_server

    with dns_server("") as server:
        previous = os.environ.get("SMTPDESK_DNS_SERVER")
        os.environ["SMTPDESK_DNS_SERVER"] = server.address
        yield server.address
        if previous is None:
            os.environ.pop("SMTPDESK_DNS_SERVER", None)
        else:
            os.environ["SMTPDESK_DNS_SERVER"] = previous


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    """Python's automatic collector can fire inside a Qt object's destructor (shiboken calls
    back into Python there) and free another Qt object, whose destructor then waits for a
    mutex the first one holds: the worker hung for good in a fixture's teardown (seen twice
    under xdist, with the native stack). As the app does (smtpdesk/ui/gc_guard.py), the
    automatic collector stays off; garbage is collected here, between tests, outside any
    destructor."""
    gc.disable()
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def memory_keyring(request: pytest.FixtureRequest) -> Iterator[MemoryKeyring | None]:
    """Every test gets an empty in-memory keyring, except those marked secret_service."""
    if request.node.get_closest_marker("secret_service"):
        yield None
        return
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
    forget_secrets()  # one test's passwords must not mask words in the next test's text


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("SMTPDESK_DATA_DIR", str(folder))
    return folder


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    opened = open_store(data_dir)
    yield opened
    opened.close()
