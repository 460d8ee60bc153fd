"""The buttons under the Campaigns list keep their Alt keys and their "…" (seen on the real
display: Qt's tool buttons dropped both from the actions' text)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolButton

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.store import Store
from smtpdesk.ui.campaigns_window import CampaignsView
from smtpdesk.ui.main_window import MainWindow
from tests.ui.conftest import until


async def test_list_buttons_keep_their_alt_keys_and_dots(
    qtbot: Any, window: MainWindow, store: Store
) -> None:
    campaign = Ledger(store).create_campaign(
        "Autumn", CampaignContent("Hi", "a@example.com", text="Hi")
    )
    window.tabs.setCurrentWidget(window.campaigns_tab)
    view = window.campaigns_view()
    assert isinstance(view, CampaignsView)
    await until(lambda: campaign in [s.id for s in view.rows], what="the campaign in the list")
    view.select(campaign)
    texts = {b.text() for b in view.findChildren(QToolButton) if b.defaultAction() is not None}
    assert texts == {
        "&Open live panel",
        "Recipient &report…",
        "Ed&it…",  # Alt+E is the Servers tab's
        "D&uplicate…",
        "&Delete…",
    }
    window.activateWindow()
    await until(lambda: window.isActiveWindow(), what="the window to be active")
    with qtbot.waitSignal(view.open_campaign, timeout=2000) as opened:
        QTest.keyClick(view.table, Qt.Key.Key_O, Qt.KeyboardModifier.AltModifier)
    assert opened.args == [campaign]
    tabs = {window.tabs.tabText(i) for i in range(window.tabs.count())}
    keys = [QKeySequence.mnemonic(text) for text in texts | tabs]
    assert len(set(keys)) == len(keys), sorted(texts | tabs)  # no Alt key for two controls
