"""Server list actions: duplicate, enable and disable through the switch, the shortcuts."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from smtpdesk.core import secrets
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.wizard.review_page import review
from tests.ui.conftest import until


async def test_duplicate_copies_settings_and_password(
    qtbot: Any, window: MainWindow, store: Store
) -> None:
    original = save_server(store, {"host": "a.example.org", "name": "bulk"}, password="pw")
    assert original.settings is not None
    page = window.servers
    page.refresh(select=original.settings.uuid)
    await until(lambda: page.form.base is not None)
    qtbot.mouseClick(page.duplicate_button, Qt.MouseButton.LeftButton)
    await until(lambda: page.list.topLevelItemCount() == 2, what="the copy")
    copy = store.server("bulk-copy")
    assert copy.host == "a.example.org" and copy.uuid != original.settings.uuid
    assert secrets.get_password(copy.uuid) == "pw"
    assert page.form.base is not None and page.form.base.uuid == copy.uuid


async def test_switch_in_the_list_enables_and_disables(window: MainWindow, store: Store) -> None:
    saved = save_server(store, {"host": "a.example.org"}).settings
    assert saved is not None
    page = window.servers
    page.refresh(select=saved.uuid)
    await until(lambda: page.list.topLevelItemCount() == 1)
    item = page.list.topLevelItem(0)
    assert item is not None and item.text(1) == "pool: email"
    item.setCheckState(0, Qt.CheckState.Unchecked)
    await until(lambda: not store.servers()[0].enabled, what="the disable")
    await window.bridge.drain()
    item = page.list.topLevelItem(0)
    assert item is not None
    item.setCheckState(0, Qt.CheckState.Checked)
    await until(lambda: store.servers()[0].enabled, what="the enable")


async def test_new_server_shortcut_opens_an_empty_form(qtbot: Any, window: MainWindow) -> None:
    assert window.new_server_action.shortcut().toString() == "Ctrl+N"
    assert window.test_action.shortcut().toString() == "Ctrl+T"
    assert window.campaign_action.shortcut().toString() == "Ctrl+Shift+N"
    window.new_server_action.trigger()
    assert window.servers.form.title.text() == "New server"
    assert window.servers.form.isEnabled()


async def test_review_warns_about_disabled_servers_and_missing_fields(store: Store) -> None:
    save_server(store, {"host": "on.example.org"})
    save_server(store, {"host": "off.example.org", "enabled": False})
    ledger = Ledger(store)
    content = CampaignContent("Hi {{ name }}", "news@example.com", html="<p>{{ name }}</p>")
    campaign = ledger.create_campaign("c", content)
    ledger.insert_recipients(
        campaign,
        [
            {"line": 2, "email": "a@example.com", "fields": {"name": "A"}},
            {"line": 3, "email": "b@example.com", "fields": {}},
        ],
    )
    result = review(store, campaign, content, "email", 2.0)
    assert result.recipients == 2
    assert result.seconds == 1.0
    text = "\n".join(result.warnings)
    assert "off.example.org:587 is disabled" in text
    assert "name" in text and "b@example.com" in text


async def test_long_addresses_are_elided_without_a_scroll_bar(
    window: MainWindow, store: Store
) -> None:
    host = "a-very-long-relay-name.email-smtp.eu-west-1.example-provider.com"
    saved = save_server(store, {"host": host, "port": 2525}).settings
    save_server(store, {"host": "smtp.example.org", "name": "short"})
    assert saved is not None
    view = window.servers.list
    window.servers.refresh(select=saved.uuid)
    await until(lambda: view.topLevelItemCount() == 2, what="the list")
    QApplication.processEvents()
    item = view.currentItem()
    assert item is not None and item.toolTip(2) == f"{host}:2525"
    header, width = view.header(), view.viewport().width()
    assert view.fontMetrics().horizontalAdvance(item.text(2)) > header.sectionSize(2)
    assert header.sectionViewportPosition(2) + header.sectionSize(2) <= width
    assert view.horizontalScrollBar().maximum() == 0
