"""The server form's DKIM section: keys generated into the keyring, the TXT records to
publish, the settings saved through the one validation, and the records checked in DNS."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt

from smtpdesk.core import secrets
from smtpdesk.core.servers import save_server
from smtpdesk.core.settings import DkimAlgorithm
from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from tests.helpers.dns import dns_server
from tests.ui.conftest import until


async def test_generate_publish_save_and_check(
    qtbot: Any, window: MainWindow, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = save_server(store, {"host": "relay.example.org", "auth_protocol": "none"}).settings
    assert saved is not None
    page = window.servers
    page.refresh(select=saved.uuid)
    await until(lambda: page.form.base is not None, what="the form")
    fields = page.form.fields
    section = fields.dkim
    assert not fields.rows["dkim_domain"].isEnabled()  # off: its rows are greyed
    section.enabled.setChecked(True)
    assert fields.rows["dkim_domain"].isEnabled()
    qtbot.keyClicks(fields.lines["dkim_domain"], "Example.org")
    qtbot.keyClicks(fields.lines["dkim_selector"], "desk")
    section.algorithm.setCurrentIndex(section.algorithm.findData("both"))
    section.algorithm.activated.emit(section.algorithm.currentIndex())

    qtbot.mouseClick(section.generate_button, Qt.MouseButton.LeftButton)
    await until(lambda: "k=ed25519" in section.records.toPlainText(), what="the records")
    lines = section.records.toPlainText().splitlines()
    assert lines[0].startswith('desk._domainkey.example.org TXT "v=DKIM1; k=rsa; p=')
    assert lines[1].startswith("desk-ed25519._domainkey.example.org TXT")
    assert secrets.get_dkim_key(saved.uuid, "dkim-rsa") is not None

    assert page.form.save() is not False
    await window.bridge.drain()
    [stored] = store.servers()
    assert stored.dkim_enabled and stored.dkim_domain == "example.org"
    assert stored.dkim_selector == "desk" and stored.dkim_algorithm == DkimAlgorithm.BOTH

    zone = "\n".join(line.replace(" TXT ", ". 60 IN TXT ", 1) for line in lines[:1])
    with dns_server(zone) as dns:  # only the RSA record is published
        monkeypatch.setenv("SMTPDESK_DNS_SERVER", dns.address)
        qtbot.mouseClick(section.check_button, Qt.MouseButton.LeftButton)
        await until(lambda: "✔" in section.state.text(), what="the DNS check")
        await window.bridge.drain()
    text = section.state.text()
    assert "✔ desk._domainkey.example.org: published" in text
    assert "✖ desk-ed25519._domainkey.example.org: not published" in text


async def test_a_new_server_has_no_keys_to_generate(qtbot: Any, window: MainWindow) -> None:
    page = window.servers
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    section = page.form.fields.dkim
    section.enabled.setChecked(True)
    qtbot.mouseClick(section.generate_button, Qt.MouseButton.LeftButton)
    assert "Save the server first" in section.state.text()
