"""The OAuth rows of the Authentication section: provider, client ID, endpoints, Sign in….

:class:`OAuthSection` adds its rows to :class:`ServerFields`' Authentication form and
shows them only for ``xoauth2``. Its editors are plain form values like the others
(``values()``); the sign-in itself needs the bridge, given by the form with
:meth:`OAuthSection.attach`. The browser flow runs as a bridge task (the redirect
listener on the qasync loop, the browser opened from a worker thread), so the GUI
thread never blocks and nothing calls ``exec()``. ``open_browser`` is injectable.
"""

from __future__ import annotations

import time
import webbrowser
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from smtpdesk.core import oauth, secrets
from smtpdesk.core.settings import AuthProtocol, OAuthProvider, ServerSettings

if TYPE_CHECKING:
    from smtpdesk.ui.bridge import Bridge
    from smtpdesk.ui.server_fields import ServerFields

PROVIDERS = (
    (OAuthProvider.MICROSOFT, "Microsoft (Microsoft 365, Outlook.com)"),
    (OAuthProvider.GOOGLE, "Google (Gmail, Google Workspace)"),
    (OAuthProvider.CUSTOM, "custom — your own endpoints"),
)
_LINES = ("oauth_tenant", "oauth_client_id", "oauth_authorize_url", "oauth_token_url")
_CUSTOM_ONLY = ("oauth_authorize_url", "oauth_token_url", "oauth_scopes")


class OAuthSection:
    """The OAuth editors inside ``fields``' Authentication form, and the sign-in row."""

    def __init__(self, fields: ServerFields, form: QFormLayout) -> None:
        self.fields = fields
        self.bridge: Bridge | None = None
        self.current: Callable[[], ServerSettings | None] = lambda: None
        self.open_browser: Callable[[str], object] = webbrowser.open
        self._task: Any = None
        self.provider = fields._combo(tuple((str(v), t) for v, t in PROVIDERS))
        self.provider.activated.connect(fields.apply_rules)
        self.provider.setAccessibleName("OAuth provider")
        fields._row(form, "oauth_provider", "OAuth provider", self.provider)
        fields._row(
            form,
            "oauth_client_id",
            "Client ID",
            fields._line("oauth_client_id", "your own, registered as a desktop client"),
            "Register a desktop (public) client with Google Cloud or Microsoft Entra; "
            "the README explains each step.",
        )
        fields._row(
            form,
            "oauth_tenant",
            "Tenant",
            fields._line("oauth_tenant", "common"),
            "common, organizations, consumers, or your tenant's ID or domain.",
        )
        fields._row(
            form, "oauth_authorize_url", "Authorize URL", fields._line("oauth_authorize_url")
        )
        fields._row(form, "oauth_token_url", "Token URL", fields._line("oauth_token_url"))
        fields._row(
            form,
            "oauth_scopes",
            "Scopes",
            fields._line("oauth_scopes", "separated by spaces"),
        )
        self.client_secret = QLineEdit()
        self.client_secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.client_secret.setPlaceholderText("optional (Google requires it)")
        fields._row(
            form,
            "oauth_client_secret",
            "Client secret",
            self.client_secret,
            "Kept in your system's keyring when you sign in, never in the database.",
        )
        self.sign_in_button = QPushButton("Sign in…")
        self.sign_in_button.setToolTip("Sign in with the provider in your web browser")
        self.sign_out_button = QPushButton("Sign out")
        self.state = QLabel("Not signed in")
        self.state.setAccessibleName("OAuth sign-in state")
        self.state.setWordWrap(True)
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.state, 1)
        row.addWidget(self.sign_in_button)
        row.addWidget(self.sign_out_button)
        fields._row(form, "oauth_sign_in", "Sign-in", holder, buddy=self.sign_in_button)
        self.sign_in_button.setAccessibleName("Sign in")
        self.sign_in_button.clicked.connect(self._sign_in)
        self.sign_out_button.clicked.connect(self._sign_out)

    # wiring

    def attach(self, bridge: Bridge, current: Callable[[], ServerSettings | None]) -> None:
        """Let the section sign in: ``current`` gives the form's settings (None if invalid)."""
        self.bridge = bridge
        self.current = current

    # form values

    def load(self, s: ServerSettings) -> None:
        ServerFieldsAccess.set_choice(self.provider, str(s.oauth_provider))
        for key in _LINES:
            self.fields.lines[key].setText(str(getattr(s, key)))
        self.fields.lines["oauth_scopes"].setText(" ".join(s.oauth_scopes))
        self.client_secret.clear()
        self._show_grant(None)
        if self.bridge is not None and s.auth_protocol == AuthProtocol.XOAUTH2:
            uuid = s.uuid
            self.bridge.start(
                self.bridge.read(oauth.grant_of, uuid),
                done=lambda grant: self._show_grant(grant, uuid),
                failed=lambda exc: self.state.setText(f"Sign-in unknown: {exc}"),
            )

    def values(self) -> dict[str, object]:
        return {"oauth_provider": self.provider.currentData()}

    def fill(self, values: dict[str, object]) -> None:
        if "oauth_provider" in values:
            ServerFieldsAccess.set_choice(self.provider, str(values["oauth_provider"]))

    def apply(self) -> None:
        """Show the rows of xoauth2 only, the endpoints of a custom provider only."""
        chosen = self.fields.auth_protocol.currentData() == str(AuthProtocol.XOAUTH2)
        provider = self.provider.currentData()
        show = self.fields.show_row  # the row's label goes with its field
        for key in ("oauth_provider", "oauth_client_id", "oauth_client_secret", "oauth_sign_in"):
            show(key, chosen)
        show("oauth_tenant", chosen and provider == str(OAuthProvider.MICROSOFT))
        for key in _CUSTOM_ONLY:
            show(key, chosen and provider == str(OAuthProvider.CUSTOM))
        if chosen:  # the token replaces the password
            self.fields.rows["password"].setEnabled(False)

    # signing in and out

    def _show_grant(self, grant: oauth.Grant | None, uuid: str = "") -> None:
        self._signed_in_uuid = uuid if grant is not None else ""
        self.sign_out_button.setEnabled(grant is not None)
        if grant is None:
            self.state.setText("Not signed in")
            return
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(grant.granted_at))
        who = grant.account or "the account"
        self.state.setText(f"Signed in as {who} since {when}" if grant.granted_at else "Signed in")

    def _sign_in(self) -> None:
        if self.bridge is None:
            return
        if self._task is not None and not self._task.done():
            self._task.cancel()  # the button reads "Cancel" while waiting
            return
        settings = self.current()
        if settings is None or settings.auth_protocol != AuthProtocol.XOAUTH2:
            self.bridge.notifier.warning(
                "Save the server with its OAuth settings before signing in.",
                "Protocol xoauth2, the username (the mailbox) and your client ID are needed.",
            )
            return
        secret = self.client_secret.text()
        self.sign_in_button.setText("Cancel")
        self.state.setText("Waiting for the sign-in in your browser…")
        self._task = self.bridge.start(
            self._run_sign_in(settings, secret),
            done=lambda grant: self._signed_in(grant, settings),
            failed=self._failed,
        )

    async def _run_sign_in(self, settings: ServerSettings, secret: str) -> oauth.Grant:
        assert self.bridge is not None
        if secret:
            await self.bridge.write(secrets.set_oauth, settings.uuid, secrets.CLIENT_SECRET, secret)
        return await oauth.sign_in(settings, open_browser=self.open_browser)

    def _signed_in(self, grant: oauth.Grant, settings: ServerSettings) -> None:
        self.sign_in_button.setText("Sign in…")
        self.client_secret.clear()
        self._show_grant(grant, settings.uuid)
        if self.bridge is not None:
            self.bridge.notifier.info(f"Signed in {settings.label} as {grant.account}.")

    def _failed(self, exc: BaseException) -> None:
        self.sign_in_button.setText("Sign in…")
        self.state.setText("Not signed in")
        if self.bridge is not None:
            self.bridge.report(exc)

    def _sign_out(self) -> None:
        uuid = self._signed_in_uuid
        if self.bridge is None or not uuid:
            return
        self.bridge.start(
            self.bridge.write(oauth.sign_out, uuid), done=lambda _: self._show_grant(None)
        )


class ServerFieldsAccess:
    """The combo helper of ServerFields, without importing it at run time (no cycle)."""

    @staticmethod
    def set_choice(combo: QComboBox, value: str) -> None:
        combo.setCurrentIndex(max(combo.findData(value), 0))
