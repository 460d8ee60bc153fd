"""The server form: fill and save (database and keyring), refused invalid values, presets."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication

from smtpdesk.core import secrets
from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from tests.ui.conftest import until


def _type(qtbot: Any, widget: Any, text: str) -> None:
    widget.selectAll() if hasattr(widget, "selectAll") else None
    qtbot.keyClicks(widget, text)


async def test_fill_form_and_save_writes_database_and_keyring(
    qtbot: Any, window: MainWindow, store: Store
) -> None:
    page = window.servers
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    fields = page.form.fields
    _type(qtbot, fields.lines["host"], "smtp.example.org")
    _type(qtbot, fields.lines["username"], "mailer@example.org")
    _type(qtbot, fields.password, "s3cret-pass")
    _type(qtbot, fields.lines["name"], "Newsletter")
    assert page.form.is_dirty()
    qtbot.mouseClick(page.form.save_button, Qt.MouseButton.LeftButton)

    await until(lambda: page.list.topLevelItemCount() == 1, what="the list to show the server")
    await window.bridge.drain()
    [server] = store.servers()
    assert (server.host, server.username, server.name) == (
        "smtp.example.org",
        "mailer@example.org",
        "newsletter",
    )
    assert secrets.get_password(server.uuid) == "s3cret-pass"
    assert not page.form.is_dirty()
    assert fields.password.text() == ""
    assert fields.password.placeholderText() == "stored in keyring"
    assert page.list.topLevelItem(0).text(1) == "newsletter"


async def test_invalid_port_is_shown_and_save_refused(
    qtbot: Any, window: MainWindow, store: Store
) -> None:
    page = window.servers
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    fields = page.form.fields
    _type(qtbot, fields.lines["host"], "smtp.example.org")
    fields.lines["port"].clear()
    qtbot.keyClicks(fields.lines["port"], "99999")
    assert "outside 1-65535" in fields.rows["port"].message_text
    assert not page.form.save_button.isEnabled()
    assert page.form.save() is False
    await window.bridge.drain()
    assert store.servers() == []
    assert page.form.status.full_text == "Not saved: 1 field needs correcting."
    assert page.form.status.toolTip() == page.form.status.full_text  # when elided
    fields.lines["port"].clear()
    qtbot.keyClicks(fields.lines["port"], "2525")
    assert page.form.status.full_text == ""  # the stale refusal goes once the field is fixed
    assert page.form.save_button.isEnabled()


async def test_broken_headers_json_points_at_line_and_column(
    qtbot: Any, window: MainWindow, store: Store
) -> None:
    page = window.servers
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    fields = page.form.fields
    _type(qtbot, fields.lines["host"], "smtp.example.org")
    fields.headers.setFocus()
    for number, line in enumerate(["[", '  ["X-A", "1"', "]"]):
        if number:
            qtbot.keyClick(fields.headers, Qt.Key.Key_Return)
        qtbot.keyClicks(fields.headers, line)
    message = fields.rows["email_headers"].message_text
    assert "line 3, column" in message, fields.headers.toPlainText()
    assert fields.headers.extraSelections()[0].cursor.blockNumber() == 2
    assert page.form.save() is False
    await window.bridge.drain()
    assert store.servers() == []


async def test_preset_fills_fields_and_shows_help(qtbot: Any, window: MainWindow) -> None:
    page = window.servers
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    picker = page.form.presets
    picker.combo.setCurrentIndex(picker.combo.findData("ses"))
    picker.combo.activated.emit(picker.combo.currentIndex())
    fields = page.form.fields
    assert fields.lines["host"].text() == "email-smtp.us-east-1.amazonaws.com"
    assert fields.auth_protocol.currentData() == "login"
    assert fields.lines["max_per_day"].text() == "200"
    assert "sandbox" in picker.help.text()
    assert picker.region.isVisibleTo(page.form)
    assert "Amazon SES suggests 1 per second, 200 per day" in fields.limits_hint.text()


async def test_unsaved_changes_are_asked_about_when_switching(
    qtbot: Any, window: MainWindow, store: Store, prompts: ScriptedPrompts
) -> None:
    from smtpdesk.core.servers import save_server

    a = save_server(store, {"host": "a.example.org", "name": "a"}).settings
    b = save_server(store, {"host": "b.example.org", "name": "b"}).settings
    assert a and b
    window.servers.refresh(select=a.uuid)
    page = window.servers
    await until(lambda: page.form.base is not None and page.form.base.uuid == a.uuid)
    _type(qtbot, page.form.fields.lines["host"], "changed.example.org")
    prompts.answers = ["cancel"]
    page.list.setCurrentItem(page.list.topLevelItem(1))
    assert page.list.current_uuid() == a.uuid
    assert page.form.fields.lines["host"].text() == "changed.example.org"
    prompts.answers = ["discard"]
    page.list.setCurrentItem(page.list.topLevelItem(1))
    await until(lambda: page.form.base is not None and page.form.base.uuid == b.uuid)
    assert store.server("a").host == "a.example.org"
    assert len(prompts.asked) == 2


async def test_delete_asks_and_removes_server_and_password(
    qtbot: Any, window: MainWindow, store: Store, prompts: ScriptedPrompts
) -> None:
    from smtpdesk.core.servers import save_server

    a = save_server(store, {"host": "a.example.org"}, password="pw").settings
    assert a
    page = window.servers
    page.refresh(select=a.uuid)
    await until(lambda: page.form.base is not None)
    prompts.answers = [False, True]
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    await window.bridge.drain()
    assert len(store.servers()) == 1
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    await until(lambda: page.list.topLevelItemCount() == 0)
    assert store.servers() == []
    assert secrets.get_password(a.uuid) is None


async def test_the_tls_and_auth_combos_show_their_text_whole_at_800x600(
    qtbot: Any, window: MainWindow
) -> None:
    window.resize(800, 600)
    qtbot.mouseClick(window.servers.add_button, Qt.MouseButton.LeftButton)
    await until(lambda: window.width() <= 800, what="the resize")
    fields = window.servers.form.fields
    for combo in (fields.tls_type, fields.auth_protocol):
        for index in range(combo.count()):
            combo.setCurrentIndex(index)
            text = combo.currentText()
            room = combo.width() - 40  # the frame and the drop-down arrow
            assert combo.fontMetrics().horizontalAdvance(text) <= room, text
            assert combo.itemData(index, Qt.ItemDataRole.ToolTipRole)  # the details


@pytest.mark.parametrize("size", [(1440, 900), (800, 600)])
async def test_a_field_message_does_not_move_the_fields_below(
    qtbot: Any, window: MainWindow, size: tuple[int, int]
) -> None:
    window.resize(*size)
    qtbot.mouseClick(window.servers.add_button, Qt.MouseButton.LeftButton)
    await until(lambda: window.width() <= size[0], what="the resize")
    fields = window.servers.form.fields
    below = fields.tls_type

    def top() -> int:
        for _ in range(3):  # let the layouts apply the change
            QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
            QApplication.processEvents()
        return below.mapTo(window, below.rect().topLeft()).y()

    before = top()
    fields.lines["port"].clear()
    qtbot.keyClicks(fields.lines["port"], "99999")
    row = fields.rows["port"]
    assert "outside 1-65535" in row.message_text and row.message.isVisible()
    assert top() == before
    assert row.help is not None and not row.help.isVisible()  # replaced, not stacked
    assert row.message.toolTip() == row.help.text()
    fields.lines["port"].clear()
    qtbot.keyClicks(fields.lines["port"], "587")
    assert row.help.isVisible() and top() == before
