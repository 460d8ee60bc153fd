"""Alt+letter shortcuts: one owner per letter in what the main window shows at a time."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest
from PySide6.QtWidgets import QAbstractButton, QWidget

from smtpdesk.core.settings import parse_server
from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from tests.ui.conftest import until


def mnemonic(text: str) -> str:
    """The letter after a single ``&`` ("" when there is none; ``&&`` is a literal &)."""
    found = re.search(r"(?<!&)&([^&\s])", text)
    return found.group(1).lower() if found else ""


def mnemonic_owners(window: MainWindow) -> dict[str, list[str]]:
    """Each letter's owners: menu titles, tab titles and the visible page's buttons."""
    owners: dict[str, list[str]] = defaultdict(list)
    for action in window.menuBar().actions():
        owners[mnemonic(action.text())].append(f"menu {action.text()!r}")
    for index in range(window.tabs.count()):
        owners[mnemonic(window.tabs.tabText(index))].append(f"tab {window.tabs.tabText(index)!r}")
    page: QWidget = window.tabs.currentWidget()
    for button in page.findChildren(QAbstractButton):
        if button.isVisible():
            owners[mnemonic(button.text())].append(f"button {button.text()!r}")
    owners.pop("", None)
    return owners


@pytest.mark.parametrize("tab", ["servers", "performance", "campaigns_tab", "mailbox"])
async def test_no_two_visible_controls_share_an_alt_letter(
    qtbot: Any, window: MainWindow, store: Store, tab: str
) -> None:
    report = parse_server({"host": "smtp.example.test", "name": "one", "tls_pin_sha256": "ab" * 32})
    assert report.settings is not None
    store.put_server(report.settings)
    window.servers.refresh(select=report.settings.uuid)
    await until(lambda: window.servers.form.base is not None, what="the server's form")
    window.tabs.setCurrentWidget(getattr(window, tab))
    await window.bridge.drain()
    shared = {k: v for k, v in mnemonic_owners(window).items() if len(v) > 1}
    assert not shared, f"Alt+letter shared: {shared}"
