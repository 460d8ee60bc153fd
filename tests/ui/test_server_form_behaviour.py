"""Issue 10's server form: wheel guard, fields that do not apply, messages, mnemonics,
the stored last test across a restart, Trust this certificate, and window geometry."""

from __future__ import annotations

import gc
import re
from pathlib import Path
from typing import Any

import pytest
import trustme
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, QSize, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QWidget

from smtpdesk.core.server_health import last_tests
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import Store, open_store
from smtpdesk.ui.app import build_main_window
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from smtpdesk.ui.test_panel import TestPanel
from smtpdesk.ui.window_state import available_area, restore_window
from tests.helpers.smtpd import PASSWORD, SmtpdFactory, settings_for
from tests.ui.conftest import until


def _wheel(widget: QWidget, steps: int = -1) -> None:
    """One notch of the mouse wheel over ``widget`` (negative: towards the user)."""
    centre = QPointF(widget.rect().center())
    event = QWheelEvent(
        centre,
        QPointF(widget.mapToGlobal(centre.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


async def _new_server_form(qtbot: Any, window: MainWindow) -> Any:
    qtbot.mouseClick(window.servers.add_button, Qt.MouseButton.LeftButton)
    return window.servers.form


async def test_wheel_over_an_unfocused_combo_scrolls_instead_of_changing_it(
    qtbot: Any, window: MainWindow
) -> None:
    form = await _new_server_form(qtbot, window)
    combo = form.fields.tls_type
    window.servers.form.fields.lines["host"].setFocus()
    assert combo.currentData() == "STARTTLS" and not combo.hasFocus()
    _wheel(combo)
    _wheel(combo)
    assert combo.currentData() == "STARTTLS"
    assert combo.focusPolicy() == Qt.FocusPolicy.StrongFocus  # the wheel does not focus it
    combo.setFocus()
    _wheel(combo)  # a focused field still answers the wheel: the guard is not a blanket
    assert combo.currentData() != "STARTTLS"


async def test_fields_that_do_not_apply_are_disabled(qtbot: Any, window: MainWindow) -> None:
    form = await _new_server_form(qtbot, window)
    fields = form.fields

    def choose(combo: Any, value: str) -> None:
        combo.setCurrentIndex(combo.findData(value))
        combo.activated.emit(combo.currentIndex())

    assert fields.rows["username"].isEnabled() and fields.rows["tls_skip_verify"].isEnabled()
    choose(fields.auth_protocol, "none")
    assert not fields.rows["username"].isEnabled() and not fields.password.isEnabled()
    choose(fields.tls_type, "none")
    assert not fields.tls_skip_verify.isEnabled() and not fields.pin.isEnabled()
    choose(fields.tls_type, "TLS")
    choose(fields.auth_protocol, "login")
    assert fields.tls_skip_verify.isEnabled() and fields.password.isEnabled()
    fields.fill({"tls_type": "none", "auth_protocol": "none"})  # presets follow the rules too
    assert not fields.tls_skip_verify.isEnabled() and not fields.password.isEnabled()


async def test_host_required_waits_for_an_edit_or_save(
    qtbot: Any, window: MainWindow, store: Store
) -> None:
    form = await _new_server_form(qtbot, window)
    host = form.fields.rows["host"]
    assert host.message_text == "" and form.status.full_text == ""
    assert form.save() is False
    assert "host is required" in host.message_text
    assert form.status.full_text == "Not saved: 1 field needs correcting."
    qtbot.keyClicks(form.fields.lines["host"], "smtp.example.org")
    assert host.message_text == "" and form.status.full_text == ""
    await window.bridge.drain()
    assert store.servers() == []


async def test_skip_verify_warns_once_and_delete_names_the_password_only_if_any(
    qtbot: Any, window: MainWindow, store: Store, prompts: ScriptedPrompts
) -> None:
    saved = save_server(store, {"host": "a.example.org", "tls_skip_verify": True}).settings
    assert saved is not None
    page = window.servers
    page.refresh(select=saved.uuid)
    await until(lambda: page.form.base is not None)
    row = page.form.fields.rows["tls_skip_verify"]
    texts = [w.text() for w in row.findChildren(QLabel) if w.isVisibleTo(row) and w.text()]
    assert len([t for t in texts if "production" in t]) == 1, texts
    prompts.answers = [False]
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert "password" not in prompts.asked[-1]
    page.form.has_password = True
    prompts.answers = [False]
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert "password in the keyring" in prompts.asked[-1]


def _mnemonic(text: str) -> str | None:
    found = re.search(r"&([^&])", text.replace("&&", ""))
    return found.group(1).lower() if found else None


async def test_mnemonics_are_unique_on_the_servers_page(window: MainWindow) -> None:
    page = window.servers
    texts = [label.text() for label in page.findChildren(QLabel) if label.buddy() is not None]
    texts += [button.text() for button in page.findChildren(QAbstractButton)]
    letters = [m for m in map(_mnemonic, texts) if m]
    assert len(letters) > 15
    assert len(letters) == len(set(letters)), sorted(letters)


async def test_read_only_fingerprint_is_not_a_tab_stop(window: MainWindow) -> None:
    line = window.servers.form.fields.pin.line
    assert line.isReadOnly()
    assert not line.focusPolicy() & Qt.FocusPolicy.TabFocus


def _restart(old: MainWindow, store: Store) -> tuple[MainWindow, Store]:
    """Close ``old`` and build a new main window on a new Store over the same folder."""
    old._closing_confirmed = True
    old.close()
    old.bridge.shutdown()
    folder = store.folder
    fresh = open_store(folder)
    window = build_main_window(fresh, ScriptedPrompts())
    window.show()
    return window, fresh


async def _run_test(window: MainWindow) -> TestPanel:
    window.servers.test_current()
    panel = window.windows["test"]
    assert isinstance(panel, TestPanel)
    await until(lambda: panel.report is not None, what="the test to finish")
    await window.bridge.drain()
    return panel


async def test_last_test_survives_a_restart_and_unsaved_edits_do_not_colour_it(
    qtbot: Any, window: MainWindow, store: Store, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", auth=("PLAIN",))
    data = settings_for(server).to_dict()
    data.pop("uuid")
    saved = save_server(store, data, password=PASSWORD).settings
    assert saved is not None
    page = window.servers
    page.refresh(select=saved.uuid)
    await until(lambda: page.form.base is not None, what="the form")
    panel = await _run_test(window)
    assert panel.report is not None and panel.report.ok
    assert page.list.status[saved.uuid].ok
    panel.close()

    # An unsaved edit that fails leaves the saved server's dot green.
    lines = page.form.fields.lines
    lines["port"].clear()
    qtbot.keyClicks(lines["port"], "1")
    panel = await _run_test(window)
    assert panel.report is not None and not panel.report.ok
    assert page.list.status[saved.uuid].ok
    assert last_tests(store)[saved.uuid].ok
    panel.close()
    page.form.revert()

    again, reopened = _restart(window, store)
    try:
        await until(lambda: again.servers.list.topLevelItemCount() == 1, what="the list")
        item = again.servers.list.topLevelItem(0)
        assert item is not None
        assert item.toolTip(1).startswith("Last test passed on ")
        assert again.servers.list.status[saved.uuid].ok
    finally:
        await again.bridge.drain()
        again._closing_confirmed = True
        again.close()
        again.bridge.shutdown()
        reopened.close()
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()


@pytest.fixture
def trust_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "unrelated-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))


async def test_trust_this_certificate_pins_it_and_the_test_passes(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    smtpd_factory: SmtpdFactory,
    trust_nothing: None,
) -> None:
    unknown = trustme.CA().issue_cert("127.0.0.1")
    server = await smtpd_factory("starttls", cert=unknown, auth=("PLAIN",))
    data = settings_for(server).to_dict()
    data.pop("uuid")
    saved = save_server(store, data, password=PASSWORD).settings
    assert saved is not None
    page = window.servers
    page.refresh(select=saved.uuid)
    await until(lambda: page.form.base is not None, what="the form")
    panel = await _run_test(window)
    assert panel.report is not None and panel.report.diagnosis is not None
    assert "unknown authority" in panel.report.diagnosis.message
    assert panel.trust_button.isVisibleTo(panel)
    shown = panel.certificate.text()
    assert "SHA-256" in shown and "127.0.0.1" in shown and "Issuer" in shown
    assert not page.list.status[saved.uuid].ok
    qtbot.mouseClick(panel.trust_button, Qt.MouseButton.LeftButton)
    await until(lambda: panel.report is not None and panel.report.ok, what="the second test")
    await window.bridge.drain()
    cert = panel.report.certificate if panel.report else None
    assert cert is not None
    assert store.servers()[0].tls_pin_sha256 == cert.sha256
    assert page.form.fields.pin.pin() == cert.sha256 and not page.form.is_dirty()
    assert page.list.status[saved.uuid].ok  # the saved (now pinned) server passed
    panel.close()


async def test_restored_size_is_clamped_to_the_screen(window: MainWindow, tmp_path: Path) -> None:
    state = QSettings(str(tmp_path / "state.ini"), QSettings.Format.IniFormat)
    state.setValue("main/size", QSize(5000, 4000))
    restore_window(window, state, "main")
    area = available_area(window)
    assert window.width() <= area.width() and window.height() <= area.height()


async def test_server_form_fits_800_pixels_without_scrolling_sideways(
    window: MainWindow,
) -> None:
    window.resize(800, 600)
    await until(lambda: window.width() == 800, what="the resize")
    QApplication.processEvents()
    form = window.servers.form
    scroll = form.fields.parentWidget().parentWidget().parentWidget()
    assert scroll.horizontalScrollBar().maximum() == 0
    right = form.save_button.mapTo(window, QPoint(form.save_button.width(), 0)).x()
    assert right <= window.width()


async def test_messages_do_not_move_the_buttons(qtbot: Any, window: MainWindow) -> None:
    form = await _new_server_form(qtbot, window)
    QApplication.processEvents()
    buttons = (form.save_button.mapTo(window, QPoint()), form.test_button.mapTo(window, QPoint()))
    bar_height = window.statusBar().sizeHint().height()
    form.save()  # refused: the host is missing
    window.bridge.notifier.error("A very long message " * 30, "and a long hint " * 10)
    QApplication.processEvents()
    assert form.status.full_text and window.message_bar.toolTip().startswith("A very long")
    after = (form.save_button.mapTo(window, QPoint()), form.test_button.mapTo(window, QPoint()))
    assert after == buttons
    assert window.statusBar().sizeHint().height() == bar_height


async def test_panel_warns_when_auth_is_offered_but_none_is_set(
    qtbot: Any, window: MainWindow, smtpd_factory: SmtpdFactory
) -> None:
    server = await smtpd_factory("plain", auth=("PLAIN",))
    window.open_test(settings_for(server, auth_protocol="none", username=""), None)
    panel = window.windows["test"]
    assert isinstance(panel, TestPanel)
    await until(lambda: panel.report is not None, what="the test")
    assert panel.report is not None and panel.report.ok
    text = panel.verdict.text()
    assert "accepted these settings" in text and "offers a login (AUTH)" in text
    assert "Authentication → Protocol" in text
    panel.activateWindow()
    qtbot.keyClick(panel, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    await until(lambda: not panel.isVisible(), what="Ctrl+W to close the panel")
