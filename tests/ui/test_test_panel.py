"""The Test button: core's server test on the form's values against a real aiosmtpd server."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from smtpdesk.core.server_health import last_tests
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.test_panel import TestPanel
from tests.helpers.smtpd import PASSWORD, USER, Faults, SmtpdFactory, settings_for
from tests.ui.conftest import until


async def _open_saved(
    window: MainWindow, store: Store, smtpd_factory: SmtpdFactory, username: str
) -> None:
    server = await smtpd_factory("plain", auth=("PLAIN", "LOGIN"))
    data = settings_for(server, username=username).to_dict()
    data.pop("uuid")
    report = save_server(store, data, password=PASSWORD)
    assert report.settings is not None
    window.servers.refresh(select=report.settings.uuid)
    await until(lambda: window.servers.form.base is not None, what="the form to load")


async def test_test_button_success_uses_form_values_and_saves_nothing(
    qtbot: Any, window: MainWindow, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    await _open_saved(window, store, smtpd_factory, username="nobody@example.test")
    form = window.servers.form
    form.fields.lines["username"].clear()
    qtbot.keyClicks(form.fields.lines["username"], USER)
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    panel = window.windows["test"]
    assert isinstance(panel, TestPanel)
    await until(lambda: panel.report is not None, what="the test to finish")
    assert panel.report is not None and panel.report.ok
    names = [panel.steps.topLevelItem(i).text(0) for i in range(panel.steps.topLevelItemCount())]
    assert "✔ TCP connect" in names or any(n.startswith("✔ TCP") for n in names)
    assert all(n.startswith("✔") for n in names)
    assert "accepted these settings" in panel.verdict.text()
    await window.bridge.drain()
    # The form's unsaved edits passed; the saved server (a wrong username) was not tested.
    assert form.base is not None and form.base.uuid not in window.servers.list.status
    assert last_tests(store) == {}
    assert store.servers()[0].username == "nobody@example.test"  # the test saved nothing
    assert form.is_dirty()
    panel.close()


async def test_test_button_failure_shows_diagnosis_and_raw_reply(
    qtbot: Any, window: MainWindow, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    await _open_saved(window, store, smtpd_factory, username=USER)
    form = window.servers.form
    qtbot.keyClicks(form.fields.password, "wrong-password")
    window.test_action.trigger()
    panel = window.windows["test"]
    assert isinstance(panel, TestPanel)
    await until(lambda: panel.report is not None, what="the test to finish")
    report = panel.report
    assert report is not None and not report.ok and report.diagnosis is not None
    last = panel.steps.topLevelItem(panel.steps.topLevelItemCount() - 1)
    assert last.text(0).startswith("✖")
    assert report.diagnosis.message in panel.verdict.text().replace("&amp;", "&")
    assert report.diagnosis.hints and report.diagnosis.hints[0][:20] in panel.verdict.text()
    assert panel.raw_button.isVisibleTo(panel) and not panel.raw.isVisibleTo(panel)
    qtbot.mouseClick(panel.raw_button, Qt.MouseButton.LeftButton)
    assert panel.raw.isVisibleTo(panel)
    assert "535" in panel.raw.toPlainText() or report.diagnosis.raw in panel.raw.toPlainText()
    await window.bridge.drain()
    assert last_tests(store) == {}  # a typed password is an unsaved edit too
    panel.close()


async def test_cancel_stops_a_slow_test_and_saves_nothing(
    qtbot: Any, window: MainWindow, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"EHLO": 60}))
    data = settings_for(server).to_dict()
    data.pop("uuid")
    saved = save_server(store, data)
    assert saved.settings is not None
    uuid = saved.settings.uuid
    window.servers.refresh(select=uuid)
    await until(lambda: window.servers.form.base is not None, what="the form to load")
    form = window.servers.form
    form.fields.lines["hello_hostname"].clear()
    qtbot.keyClicks(form.fields.lines["hello_hostname"], "edited.example.test")
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    panel = window.windows["test"]
    assert isinstance(panel, TestPanel)
    await until(lambda: _names(panel)[-1:] == ["✔ greeting"], what="the greeting")
    assert server.stats.open == 1  # the server sits on EHLO
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert _names(panel)[-1] == "✖ Cancelled"
    assert "Cancelled" in panel.verdict.text() and panel.report is None
    assert panel.run_button.isEnabled() and panel.cancel_button.text() == "&Close"
    await until(lambda: server.stats.open == 0, what="the connection to close")
    # The dialog answers at once: Run again starts a new test, which now passes.
    server.faults.delays.clear()
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    await until(lambda: panel.report is not None, what="the second test")
    assert panel.report is not None and panel.report.ok
    assert "✖ Cancelled" not in _names(panel)
    assert store.servers()[0].hello_hostname == "client.example.test"  # nothing saved
    assert form.is_dirty()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert not panel.isVisible()


async def test_run_again_right_after_cancel_starts_a_new_test(
    qtbot: Any, window: MainWindow, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"greeting": 60}))
    settings = settings_for(server)
    window.open_test(settings, None)
    panel = window.windows["test"]
    assert isinstance(panel, TestPanel)
    await until(lambda: "✔ TCP connect" in _names(panel), what="the connection")
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    server.faults.delays.clear()
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)  # before the old task ends
    await until(lambda: panel.report is not None, what="the second test")
    assert panel.report is not None and panel.report.ok
    await window.bridge.drain()
    assert settings.uuid not in window.servers.list.status  # never saved: nothing to colour
    assert store.servers() == []
    panel.close()


def _names(panel: TestPanel) -> list[str]:
    items = (panel.steps.topLevelItem(i) for i in range(panel.steps.topLevelItemCount()))
    return [item.text(0) for item in items if item is not None]
