"""The DKIM signing section of the server form: its settings, keys and the TXT records.

The domain, selector and algorithm are form values like the others (validated by
``parse_server`` on Save). "Generate keys" puts new keys in the keyring at once (a saved
server only: the keys belong to its uuid); the records to publish are derived from the
stored keys and the form's domain and selector; "Check in DNS" looks them up. Keyring
and DNS run through the bridge, never on the GUI thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from smtpdesk.core.domain.dkim_setup import published, records_to_publish, store_new_keys
from smtpdesk.core.domain.resolver import client_for
from smtpdesk.core.settings import DkimAlgorithm, ServerSettings

if TYPE_CHECKING:
    from smtpdesk.ui.bridge import Bridge
    from smtpdesk.ui.server_fields import ServerFields

ALGORITHMS = (
    (DkimAlgorithm.RSA, "RSA-2048 (every receiver)"),
    (DkimAlgorithm.ED25519, "Ed25519 (small; not every receiver checks it)"),
    (DkimAlgorithm.BOTH, "both: two signatures"),
)


class DkimSection:
    """The "DKIM signing" group of :class:`ServerFields`."""

    def __init__(self, fields: ServerFields) -> None:
        self.fields = fields
        self.bridge: Bridge | None = None
        self.saved: Callable[[], ServerSettings | None] = lambda: None
        self.box, form = fields._group("DKIM signing")
        self.enabled = QCheckBox("Sign every message with DKIM")
        self.enabled.toggled.connect(fields.changed)
        self.enabled.toggled.connect(self.apply)
        fields._row(
            form,
            "dkim_enabled",
            "DKIM",
            self.enabled,
            "Only when your provider does not sign for your domain already.",
        )
        domain = fields._line("dkim_domain", "example.com")
        fields._row(form, "dkim_domain", "Signing domain", domain)
        fields._row(form, "dkim_selector", "Selector", fields._line("dkim_selector", "smtpdesk"))
        self.algorithm = fields._combo(tuple((str(v), t) for v, t in ALGORITHMS))
        self.algorithm.activated.connect(self.show_records)
        fields._row(form, "dkim_algorithm", "Algorithm", self.algorithm)
        for key in ("dkim_domain", "dkim_selector"):
            fields.lines[key].textEdited.connect(self.show_records)
        self.records = QPlainTextEdit()
        self.records.setReadOnly(True)
        self.records.setMaximumHeight(90)
        self.records.setAccessibleName("DKIM TXT records to publish")
        self.generate_button = QPushButton("Generate keys")
        self.generate_button.setToolTip("New private keys into the keyring (a saved server)")
        self.generate_button.clicked.connect(self.generate)
        self.check_button = QPushButton("Check in DNS")
        self.check_button.clicked.connect(self.check)
        self.state = QLabel()
        self.state.setAccessibleName("DKIM state")
        self.state.setWordWrap(True)
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.state, 1)
        row.addWidget(self.generate_button)
        row.addWidget(self.check_button)
        fields._row(form, "dkim_records", "TXT to publish", self.records)
        fields._row(form, "dkim_keys", "Keys", holder, buddy=self.generate_button)

    def attach(self, bridge: Bridge, saved: Callable[[], ServerSettings | None]) -> None:
        """``saved`` gives the saved server (None for a new one): keys belong to its uuid."""
        self.bridge = bridge
        self.saved = saved

    # form values

    def load(self, s: ServerSettings) -> None:
        self.enabled.setChecked(s.dkim_enabled)
        self.fields.lines["dkim_domain"].setText(s.dkim_domain)
        self.fields.lines["dkim_selector"].setText(s.dkim_selector)
        self.fields.set_choice(self.algorithm, str(s.dkim_algorithm))
        self.state.clear()
        self.show_records()

    def values(self) -> dict[str, object]:
        return {
            "dkim_enabled": self.enabled.isChecked(),
            "dkim_algorithm": self.algorithm.currentData(),
        }

    def apply(self) -> None:
        on = self.enabled.isChecked()
        for key in ("dkim_domain", "dkim_selector", "dkim_algorithm", "dkim_records", "dkim_keys"):
            self.fields.rows[key].setEnabled(on)

    # keys and records

    def _typed(self) -> ServerSettings | None:
        """The saved server with the section's values (None for a new server)."""
        saved = self.saved()
        if saved is None:
            return None
        lines = self.fields.lines
        return dataclasses.replace(
            saved,
            dkim_domain=lines["dkim_domain"].text().strip().lower(),
            dkim_selector=lines["dkim_selector"].text().strip().lower(),
            dkim_algorithm=DkimAlgorithm(self.algorithm.currentData()),
        )

    def show_records(self) -> None:
        typed = self._typed()
        if self.bridge is None or typed is None or not typed.dkim_domain:
            self.records.setPlainText("")
            return
        self.bridge.start(
            self.bridge.read(records_to_publish, typed),
            done=lambda lines: self.records.setPlainText(
                "\n".join(lines) or "No key yet: Generate keys, then publish what shows here."
            ),
            failed=lambda exc: self.state.setText(f"Keys unknown: {exc}"),
        )

    def generate(self) -> None:
        typed = self._typed()
        if self.bridge is None or typed is None:
            self.state.setText("Save the server first: its keys are stored under it.")
            return
        self.state.setText("Generating…")
        self.bridge.start(
            self.bridge.write(store_new_keys, typed.uuid, str(typed.dkim_algorithm)),
            done=lambda _: self._generated(),
        )

    def _generated(self) -> None:
        self.state.setText("New keys are in the keyring: publish the records, then Save.")
        self.show_records()

    def check(self) -> None:
        typed = self._typed()
        if self.bridge is None or typed is None or not typed.dkim_domain:
            self.state.setText("Give the signing domain and selector of a saved server.")
            return
        self.state.setText("Looking up…")

        def look() -> list[tuple[str, bool, str]]:
            client = client_for(self.bridge.store.app_settings().dns_server)  # type: ignore[union-attr]
            client.clear()  # the user just published: no cached "not found"
            return published(typed, client)

        self.bridge.start(
            self.bridge.read(look),
            done=self._checked,
            failed=lambda exc: self.state.setText(f"Could not check: {exc}"),
        )

    def _checked(self, found: list[tuple[str, bool, str]]) -> None:
        self.state.setText(
            "; ".join(f"{'✔' if ok else '✖'} {name}: {what}" for name, ok, what in found)
        )
