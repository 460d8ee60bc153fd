"""Sign in… in the server form: the browser step simulated by fetching the address."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout

from smtpdesk.core import oauth, secrets
from smtpdesk.core.settings import parse_server
from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from tests.helpers.oauth import ACCOUNT, AuthServer
from tests.ui.conftest import until


def fetch(url: str) -> bool:
    """The browser, on a worker thread: follows the authorization address to our page."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert "You are signed in" in reply.read().decode()
    return True


async def test_sign_in_shows_the_account_then_sign_out(
    qtbot: Any, window: MainWindow, store: Store, auth_server: AuthServer
) -> None:
    auth_server.client_secret = "typed-secret"
    report = parse_server({"host": "smtp.example.test", "name": "m365", **auth_server.settings()})
    assert report.settings is not None
    uuid = report.settings.uuid
    store.put_server(report.settings)
    page = window.servers
    page.refresh(select=uuid)
    await until(lambda: page.form.base is not None and page.form.base.uuid == uuid)
    await window.bridge.drain()
    section = page.form.fields.oauth
    rows = page.form.fields.rows
    assert rows["oauth_client_id"].isVisible() and rows["oauth_authorize_url"].isVisible()
    assert not rows["oauth_tenant"].isVisible()  # Microsoft only
    assert not rows["password"].isEnabled()
    assert section.state.text() == "Not signed in" and not section.sign_out_button.isEnabled()
    assert (
        page.form.fields.lines["oauth_client_id"].text()
        == auth_server.settings()["oauth_client_id"]
    )

    opened: list[str] = []

    def browser(url: str) -> bool:
        opened.append(url)
        return fetch(url)

    section.open_browser = browser
    qtbot.keyClicks(section.client_secret, "typed-secret")
    qtbot.mouseClick(section.sign_in_button, Qt.MouseButton.LeftButton)
    await until(lambda: section.state.text().startswith("Signed in as"), what="the sign-in")
    assert ACCOUNT in section.state.text() and section.sign_out_button.isEnabled()
    assert section.sign_in_button.text() == "Sign in…" and section.client_secret.text() == ""
    assert len(opened) == 1 and opened[0].startswith(f"{auth_server.url}/authorize?")
    assert secrets.get_oauth(uuid, secrets.CLIENT_SECRET) == "typed-secret"
    assert secrets.get_oauth(uuid, secrets.REFRESH_TOKEN) in auth_server.refresh_tokens
    assert auth_server.calls["token:authorization_code"] == 1

    # Reloading the server shows the stored grant.
    page.refresh(select=uuid)
    await window.bridge.drain()
    await until(lambda: section.state.text().startswith("Signed in as"), what="the grant")

    qtbot.mouseClick(section.sign_out_button, Qt.MouseButton.LeftButton)
    await until(lambda: section.state.text() == "Not signed in", what="the sign-out")
    await window.bridge.drain()
    assert oauth.grant_of(uuid) is None
    assert secrets.get_oauth(uuid, secrets.REFRESH_TOKEN) is None


async def test_the_oauth_rows_follow_the_protocol(qtbot: Any, window: MainWindow) -> None:
    page = window.servers
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    fields = page.form.fields
    assert not fields.rows["oauth_client_id"].isVisible()
    fields.fill({"auth_protocol": "xoauth2", "oauth_provider": "microsoft"})
    assert fields.rows["oauth_client_id"].isVisible() and fields.rows["oauth_tenant"].isVisible()
    assert not fields.rows["oauth_token_url"].isVisible()
    values = fields.values()
    assert values["auth_protocol"] == "xoauth2" and values["oauth_provider"] == "microsoft"
    # A new server cannot sign in yet: the tokens are kept by the saved server's uuid.
    qtbot.mouseClick(fields.oauth.sign_in_button, Qt.MouseButton.LeftButton)
    assert fields.oauth.state.text() == "Not signed in"


async def test_hidden_oauth_rows_hide_their_labels(qtbot: Any, window: MainWindow) -> None:
    page = window.servers
    qtbot.mouseClick(page.add_button, Qt.MouseButton.LeftButton)
    fields = page.form.fields

    def label(key: str) -> Any:
        return fields.auth_form.labelForField(fields.rows[key])

    oauth_keys = [k for k in fields.rows if k.startswith("oauth_")]
    assert len(oauth_keys) == 8
    fields.fill({"auth_protocol": "plain"})
    for key in oauth_keys:
        assert not label(key).isVisible(), f"{label(key).text()} shown without its field"
    assert label("username").isVisible()
    fields.fill({"auth_protocol": "xoauth2", "oauth_provider": "google"})
    assert label("oauth_client_id").isVisible() and not label("oauth_tenant").isVisible()


@pytest.mark.parametrize("auth", ["plain", "none", "xoauth2"])
async def test_no_form_label_is_shown_without_its_field(
    qtbot: Any, window: MainWindow, auth: str
) -> None:
    """Every section of the server form (DKIM included) and the mailbox page."""
    qtbot.mouseClick(window.servers.add_button, Qt.MouseButton.LeftButton)
    window.servers.form.fields.fill({"auth_protocol": auth, "oauth_provider": "custom"})
    for page in (window.servers, window.mailbox):
        window.tabs.setCurrentWidget(page)
        for form in page.findChildren(QFormLayout):
            for row in range(form.rowCount()):
                label = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
                field = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
                if label is None or field is None or field.widget() is None:
                    continue
                shown = field.widget().isVisible()
                assert label.widget().isVisible() == shown, label.widget().text()
