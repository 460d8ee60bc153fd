"""The Test panel shows the Domain step and its checklist beside the steps."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.test_panel import TestPanel
from tests.helpers.smtpd import USER, SmtpdFactory
from tests.ui.conftest import until
from tests.ui.test_test_panel import _open_saved


async def test_the_domain_checklist_is_shown_and_the_test_still_passes(
    qtbot: Any, window: MainWindow, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    await _open_saved(window, store, smtpd_factory, username=USER)
    form = window.servers.form
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    panel = window.windows["test"]
    assert isinstance(panel, TestPanel)
    await until(lambda: panel.report is not None, what="the test to finish")
    names = [panel.steps.topLevelItem(i).text(0) for i in range(panel.steps.topLevelItemCount())]
    assert names[-1] == "✔ Domain"
    assert panel.report is not None and panel.report.ok  # advice, not a failed test
    assert not panel.domain.isHidden()
    text = panel.domain.text()
    assert "example.test" in text and "✖ DMARC record" in text  # the tests' DNS is empty
    await window.bridge.drain()
    panel.close()


async def test_read_back_without_a_mailbox_warns_and_the_test_still_runs(
    qtbot: Any, window: MainWindow, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    await _open_saved(window, store, smtpd_factory, username=USER)
    qtbot.mouseClick(window.servers.form.test_button, Qt.MouseButton.LeftButton)
    panel = window.windows["test"]
    assert isinstance(panel, TestPanel)
    await until(lambda: panel.report is not None, what="the first test")
    panel.read_back.setChecked(True)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    await until(lambda: panel.report is not None and not panel.running, what="the second test")
    assert panel.report is not None and panel.report.ok
    assert "Not read back through the feedback mailbox: No feedback mailbox is set up" in (
        panel.verdict.text()
    )
    await window.bridge.drain()
    panel.close()
