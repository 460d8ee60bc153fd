"""The Servers page: the list beside the form, and add, duplicate, delete, enable, test."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSplitter, QVBoxLayout, QWidget

from smtpdesk.core import secrets
from smtpdesk.core.server_health import LastTest, last_tests
from smtpdesk.core.servers import remove_server, save_server
from smtpdesk.core.settings import ServerReport, ServerSettings
from smtpdesk.core.store import Store
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.prompts import Prompts
from smtpdesk.ui.server_form import ServerForm
from smtpdesk.ui.server_list import ServerList


def duplicate_server(store: Store, settings: ServerSettings) -> ServerReport:
    """A copy under a new uuid (and a free name), with the same stored password."""
    data = settings.to_dict()
    data.pop("uuid")
    if settings.name:
        taken = {s.name for s in store.servers()}
        data["name"] = next(
            f"{settings.name}-copy{n or ''}"
            for n in range(100)
            if f"{settings.name}-copy{n or ''}" not in taken
        )
    return save_server(store, data, password=secrets.get_password(settings.uuid))


def _selected_state(
    store: Store, uuid: str
) -> tuple[list[ServerSettings], bool, dict[str, LastTest]]:
    return store.servers(), bool(uuid and secrets.get_password(uuid)), last_tests(store)


class ServersPage(QWidget):
    """Keeps the list and the form in step; asks before unsaved changes are lost."""

    test_requested = Signal(object, object)  # ServerSettings, typed password or None
    servers_changed = Signal(list)

    def __init__(self, bridge: Bridge, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge, self.prompts = bridge, prompts
        self.servers: list[ServerSettings] = []
        self.list = ServerList()
        self.form = ServerForm(bridge)
        self.list.chosen.connect(self._chosen)
        self.list.enabled_toggled.connect(self.set_enabled)
        self.form.saved.connect(lambda s: self.refresh(select=s.uuid, reload_form=False))
        self.form.test_requested.connect(self.test_current)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("servers_splitter")
        self.splitter.addWidget(self._list_side())
        self.splitter.addWidget(self.form)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        # A third for the list: at 800 pixels wide the form still fits without scrolling.
        self.splitter.setSizes([300, 800])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def _list_side(self) -> QWidget:
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.add_button = QPushButton("&Add")
        self.duplicate_button = QPushButton("D&uplicate")
        self.delete_button = QPushButton("De&lete")
        for button, slot in (
            (self.add_button, self.add),
            (self.duplicate_button, self.duplicate),
            (self.delete_button, self.delete),
        ):
            button.clicked.connect(slot)
            row.addWidget(button)
        layout.addLayout(row)
        return side

    # loading

    def refresh(self, select: str | None = None, reload_form: bool = True) -> None:
        """Reload the servers; select ``select`` (or keep the current one)."""
        wanted = select if select is not None else self.list.current_uuid()

        def loaded(result: tuple[list[ServerSettings], bool, dict[str, LastTest]]) -> None:
            self.servers, has_password, tests = result
            uuids = [s.uuid for s in self.servers]
            chosen = wanted if wanted in uuids else (uuids[0] if uuids else "")
            self.list.status = dict(tests)
            self.list.set_servers(self.servers, chosen)
            self.servers_changed.emit(self.servers)
            self._update_buttons()
            if reload_form:
                self._show(chosen, has_password if chosen == wanted else None)
            else:
                self.form.others = [s for s in self.servers if s.uuid != chosen]

        self.bridge.start(
            self.bridge.read(_selected_state, self.bridge.store, wanted or ""), done=loaded
        )

    def _show(self, uuid: str, has_password: bool | None = None) -> None:
        settings = next((s for s in self.servers if s.uuid == uuid), None)
        if settings is None:
            self.form.clear()
            return
        if has_password is None:
            self.bridge.start(
                self.bridge.read(secrets.get_password, uuid),
                done=lambda pw: self.form.load(settings, self.servers, bool(pw)),
            )
        else:
            self.form.load(settings, self.servers, has_password)

    def _update_buttons(self) -> None:
        has = bool(self.list.current_uuid())
        self.duplicate_button.setEnabled(has)
        self.delete_button.setEnabled(has)

    def selected(self) -> ServerSettings | None:
        return next((s for s in self.servers if s.uuid == self.list.current_uuid()), None)

    # guarding unsaved changes

    def when_saved(
        self,
        then: Callable[[], None],
        on_cancel: Callable[[], None] = lambda: None,
    ) -> None:
        """Run ``then`` once the form has no unsaved changes, asking the user how to get there."""
        if not self.form.is_dirty():
            then()
            return

        def answer(choice: str) -> None:
            if choice == "discard":
                self.form.revert()
                then()
            elif choice == "save":
                if not self.form.save(lambda _s: then()):
                    on_cancel()
            else:
                on_cancel()

        self.prompts.unsaved(self, f"The server {self.form.title.text()!r}", answer)

    def _chosen(self, uuid: str) -> None:
        previous = self.form.base.uuid if self.form.base else None
        self.when_saved(lambda: self._show(uuid), on_cancel=lambda: self.list.select(previous))
        self._update_buttons()

    # actions

    def add(self) -> None:
        def fresh() -> None:
            self.list.select(None)
            self.form.load(None, self.servers, False)
            self.form.fields.lines["host"].setFocus()

        self.when_saved(fresh)

    def duplicate(self) -> None:
        source = self.selected()
        if source is None:
            return

        def copy() -> None:
            self.bridge.start(
                self.bridge.write(duplicate_server, self.bridge.store, source),
                done=self._after_duplicate,
            )

        self.when_saved(copy)

    def _after_duplicate(self, report: ServerReport) -> None:
        if report.settings is None:
            self.bridge.notifier.error(
                "Could not duplicate the server.", "; ".join(str(p) for p in report.errors)
            )
            return
        self.bridge.notifier.info(f"Duplicated as {report.settings.label}.")
        self.refresh(select=report.settings.uuid)

    def delete(self) -> None:
        target = self.selected()
        if target is None:
            return

        def answer(yes: bool) -> None:
            if yes:
                self.form.clear()
                self.bridge.start(
                    self.bridge.write(remove_server, self.bridge.store, target.uuid),
                    done=lambda _s: self.refresh(select=""),
                )

        shown = self.form.base is not None and self.form.base.uuid == target.uuid
        password = " and its password in the keyring" if shown and self.form.has_password else ""
        self.prompts.confirm(
            self,
            "Delete server",
            f"Delete {target.label}{password}?",
            answer,
            action="Delete",
        )

    def set_enabled(self, uuid: str, on: bool) -> None:
        settings = next((s for s in self.servers if s.uuid == uuid), None)
        if settings is None:
            return

        def stored(report: ServerReport) -> None:
            if report.settings is None:
                self.bridge.notifier.error(
                    f"Could not {'enable' if on else 'disable'} {settings.label}.",
                    "; ".join(str(p) for p in report.errors),
                )
            self.refresh(reload_form=self.list.current_uuid() == uuid and not self.form.is_dirty())

        self.bridge.start(
            self.bridge.write(save_server, self.bridge.store, {"enabled": on}, base=settings),
            done=stored,
        )

    def trust_certificate(self, sha256: str) -> None:
        """Pin a certificate from the Test window: saved at once unless other edits wait."""
        if not self.form.isEnabled():
            return
        had_edits = self.form.is_dirty()
        self.form.trust_certificate(sha256)
        if had_edits or self.form.base is None:
            self.form.status.show_text("The certificate is trusted in the form: Save to keep it.")
        else:
            self.form.save()

    def test_current(self) -> None:
        settings = self.form.current_settings()
        if settings is None:
            self.bridge.notifier.error(
                "The form has errors, so there is nothing to test yet.",
                "Correct the fields marked in red.",
            )
            return
        self.test_requested.emit(settings, self.form.typed_password())

    def save(self) -> None:
        if self.form.isEnabled():
            self.form.save()
