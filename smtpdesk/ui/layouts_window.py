"""Layouts: the saved HTML pages a campaign's message goes into (create, edit, duplicate,
delete). The shipped ``default`` is shown read-only: Duplicate makes an editable copy.

All reads and writes go through the bridge (SQLite off the GUI thread); the rules are
core's (:mod:`smtpdesk.core.campaign.layouts`), shown beside the editor.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from smtpdesk.core.campaign.layouts import (
    DEFAULT_LAYOUT,
    Layout,
    Layouts,
    default_layout_html,
    validate_layout,
)
from smtpdesk.core.errors import InvalidSettingsError
from smtpdesk.core.settings import Problem
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.prompts import Prompts
from smtpdesk.ui.widgets import FieldRow
from smtpdesk.ui.wizard.highlighter import TemplateHighlighter


class LayoutsWindow(QWidget):
    """A list of layouts and an editor for the chosen one."""

    changed = Signal()  # a layout was saved or deleted: choosers reload their names

    def __init__(self, bridge: Bridge, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.prompts = prompts
        self.setWindowTitle("Layouts")
        self.resize(900, 600)
        self.layouts: list[Layout] = []
        self.editing: str | None = None  # the saved name being edited; None: a new one
        self._said = ""  # what the last write says, shown once the list has reloaded
        self.names = QListWidget()
        self.names.setAccessibleName("Layouts")
        self.names.currentRowChanged.connect(self._show)
        self.name = QLineEdit()
        self.name.setAccessibleName("Layout name")
        self.html = QPlainTextEdit()
        self.html.setAccessibleName("Layout HTML")
        self.html.setTabChangesFocus(True)
        self._highlighter = TemplateHighlighter(self.html.document(), "html")
        self.name_row = FieldRow(self.name)
        self.html_row = FieldRow(self.html, "HTML with one {{ content }} and a <style> block.")
        self.new_button = QPushButton("&New")
        self.duplicate_button = QPushButton("D&uplicate")
        self.delete_button = QPushButton("&Delete")
        self.save_button = QPushButton("&Save")
        self.new_button.clicked.connect(self.new)
        self.duplicate_button.clicked.connect(self.duplicate)
        self.delete_button.clicked.connect(self.delete)
        self.save_button.clicked.connect(self.save)
        self.status = QLabel()
        self.status.setAccessibleName("Layout status")
        side = QVBoxLayout()
        side.addWidget(self.names, 1)
        for button in (self.new_button, self.duplicate_button, self.delete_button):
            side.addWidget(button)
        form = QFormLayout()
        label = QLabel("Na&me")
        label.setBuddy(self.name)
        form.addRow(label, self.name_row)
        main = QVBoxLayout()
        main.addLayout(form)
        main.addWidget(self.html_row, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.save_button)
        main.addLayout(bottom)
        layout = QHBoxLayout(self)
        layout.addLayout(side, 1)
        layout.addLayout(main, 3)
        self.reload()

    def reload(self, select: str = "") -> None:
        self.bridge.start(
            self.bridge.read(Layouts(self.bridge.store).all),
            done=lambda found: self._loaded(found, select),
        )

    def _loaded(self, found: list[Layout], select: str) -> None:
        self.layouts = found
        self.names.blockSignals(True)
        self.names.clear()
        self.names.addItems([lay.name for lay in found])
        self.names.blockSignals(False)
        names = [lay.name for lay in found]
        self.names.setCurrentRow(names.index(select) if select in names else 0)
        self._show(self.names.currentRow())
        if self._said:
            self.status.setText(self._said)
            self._said = ""

    def _show(self, row: int) -> None:
        if not 0 <= row < len(self.layouts):
            return
        chosen = self.layouts[row]
        self.editing = chosen.name
        self.name.setText(chosen.name)
        self.html.setPlainText(chosen.html)
        builtin = chosen.builtin
        for widget in (self.name, self.html):
            widget.setReadOnly(builtin)
        self.save_button.setEnabled(not builtin)
        self.delete_button.setEnabled(not builtin)
        self.status.setText("Shipped with smtpdesk: duplicate it to change it." if builtin else "")
        self.name_row.show_problems([])
        self.html_row.show_problems([])

    def _edit_new(self, name: str, html: str) -> None:
        self.editing = None
        self.names.clearSelection()
        for widget in (self.name, self.html):
            widget.setReadOnly(False)
        self.name.setText(name)
        self.html.setPlainText(html)
        self.save_button.setEnabled(True)
        self.delete_button.setEnabled(False)
        self.status.setText("New layout: Save stores it.")
        self.name.setFocus()

    def new(self) -> None:
        self._edit_new("", default_layout_html())

    def duplicate(self) -> None:
        base = self.name.text().strip() or DEFAULT_LAYOUT
        taken = {lay.name for lay in self.layouts}
        name = f"{base} copy"
        count = 2
        while name in taken:
            name, count = f"{base} copy {count}", count + 1
        self._edit_new(name, self.html.toPlainText())

    def save(self) -> None:
        name, html = self.name.text().strip(), self.html.toPlainText()
        problems = validate_layout(name, html)
        self.name_row.show_problems([p for p in problems if p.field == "name"])
        self.html_row.show_problems([p for p in problems if p.field == "html"])
        if problems:
            return
        layouts = Layouts(self.bridge.store)
        editing = self.editing

        def store() -> None:
            if editing is None:
                layouts.add(name, html)
            elif editing != name:
                layouts.rename(editing, name)
                layouts.edit(name, html)
            else:
                layouts.edit(name, html)

        self._write(store, name, f"Saved {name}.")

    def delete(self) -> None:
        name = self.editing
        if name is None or name == DEFAULT_LAYOUT:
            return

        def answered(yes: bool) -> None:
            if yes:
                self._write(lambda: Layouts(self.bridge.store).remove(name), "", f"Deleted {name}.")

        self.prompts.confirm(
            self,
            "Delete layout",
            f"Delete the layout {name}? Campaigns that use it keep their copy.",
            answered,
            action="Delete",
        )

    def _write(self, fn: Callable[[], None], select: str, done_text: str) -> None:
        def done(_result: None) -> None:
            self._said = done_text
            self.changed.emit()
            self.reload(select)

        def failed(exc: BaseException) -> None:
            if isinstance(exc, InvalidSettingsError):
                self.name_row.show_problems([p for p in exc.problems if isinstance(p, Problem)])
                return
            self.bridge.report(exc)

        self.bridge.start(self.bridge.write(fn), done=done, failed=failed)
