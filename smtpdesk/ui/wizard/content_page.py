"""Content: subject, From, Reply-To, HTML and text, insert-field buttons, a live preview.

The preview follows every edit (debounced) and the chosen recipient; it is rendered
on a worker thread, because rendering reads the attachments, and only the latest
request's result is shown.
"""

from __future__ import annotations

import dataclasses
import html

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from smtpdesk.core.campaign.content import (
    ADDRESS_FIELD,
    CampaignContent,
    Preview,
    preview,
    validate_content,
)
from smtpdesk.core.campaign.review import (
    FieldProblem,
    blank_fields,
    field_problems,
    template_fields,
)
from smtpdesk.core.errors import KnownError
from smtpdesk.core.settings import Problem
from smtpdesk.ui.widgets import FieldRow, caption, tone
from smtpdesk.ui.wizard.state import WizardState

STARTER_HTML = "<p>Hello {{ name }},</p>\n<p>…</p>"
DEBOUNCE_MS = 250


def render_preview(
    content: CampaignContent, email: str, cells: dict[str, object], columns: tuple[str, ...]
) -> tuple[Preview | None, list[FieldProblem], str]:
    """The preview for one recipient, the fields that are no column, or why it failed.

    Blocking (reads the attachments): the page runs it on a thread.
    """
    try:
        unknown = field_problems(content, columns)
        if any(not p.guarded for p in unknown):
            return None, unknown, ""  # it cannot render: the problems say why
        shown = preview(content, template_fields(email, cells, blank_fields(columns)))
    except KnownError as exc:
        return None, [], exc.message
    except ValueError as exc:
        return None, [], str(exc)
    return shown, unknown, ""


class ContentPage(QWizardPage):
    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.setTitle("Content")
        self.setSubTitle(
            "Templates use Jinja fields such as {{ email }} or any column of the file."
        )
        self._timer = QTimer(self)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh_preview)
        self._generation = 0  # only the latest preview request is shown
        self.previews = 0  # previews shown, for tests and the curious
        self.rows: dict[str, FieldRow] = {}  # validate_content's field name -> its row
        self.touched: set[str] = set()  # fields edited: only these say "required"
        self.problems: list[Problem] = []
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setObjectName("wizard_content_splitter")
        splitter.addWidget(self._editors())
        splitter.addWidget(self._preview())
        splitter.setSizes([520, 420])
        QVBoxLayout(self).addWidget(splitter)

    def _line(self, name: str, placeholder: str = "", key: str = "") -> QLineEdit:
        line = QLineEdit()
        line.setAccessibleName(name)
        line.setPlaceholderText(placeholder)
        line.textChanged.connect(self._changed)
        if key:
            self.rows[key] = FieldRow(line)
            line.textEdited.connect(lambda _text: self.touched.add(key))
        return line

    def _editors(self) -> QWidget:
        side = QWidget()
        form = QFormLayout()
        self.subject = self._line("Subject", "News for {{ name }}", "subject")
        self.from_name = self._line("From name", "Example Ltd")
        self.from_address = self._line("From address", "news@example.com", "from_address")
        self.reply_to = self._line("Reply-To", "optional", "reply_to")
        # Mnemonics unique on the page and apart from the wizard's Next, Back and Send.
        for text, line in (
            ("S&ubject", self.subject),
            ("From na&me", self.from_name),
            ("&From address", self.from_address),
            ("&Reply-To", self.reply_to),
        ):
            label = QLabel(text)
            label.setBuddy(line)
            key = next((k for k, row in self.rows.items() if row.editor is line), None)
            form.addRow(label, self.rows[key] if key else line)
        self.html = QPlainTextEdit(STARTER_HTML)
        self.html.setAccessibleName("HTML body")
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("Text body")
        self.text.setPlaceholderText("Empty: made from the HTML")
        for editor in (self.html, self.text):
            editor.setTabChangesFocus(True)
            editor.textChanged.connect(self._changed)
        self.bodies = QTabWidget()
        self.bodies.addTab(self.html, "&HTML")
        self.bodies.addTab(self.text, "Te&xt")
        self.rows["html"] = FieldRow(self.bodies)
        self.html.textChanged.connect(lambda: self.touched.add("html"))
        self.text.textChanged.connect(lambda: self.touched.add("html"))
        self._target: QLineEdit | QPlainTextEdit = self.html  # where Insert field writes
        for target in (self.subject, self.html, self.text):
            target.installEventFilter(self)
        self.insert_field = QToolButton()
        self.insert_field.setText("&Insert field")
        self.insert_field.setAccessibleName("Insert field")
        self.insert_field.setToolTip("Insert a field at the cursor of the subject or the body")
        self.insert_field.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.insert_field.setMenu(QMenu(self.insert_field))
        self.attachments = QListWidget()
        self.attachments.setAccessibleName("Attachments")
        self.attachments.setMaximumHeight(70)
        add = QPushButton("A&ttach…")
        add.clicked.connect(self._attach)
        remove = QPushButton("Remo&ve")
        remove.clicked.connect(self._detach)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Attachments"))
        buttons.addStretch(1)
        buttons.addWidget(add)
        buttons.addWidget(remove)
        tools = QHBoxLayout()
        tools.addStretch(1)
        tools.addWidget(self.insert_field)
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(tools)
        layout.addWidget(self.rows["html"], 1)
        layout.addLayout(buttons)
        layout.addWidget(self.attachments)
        return side

    def _preview(self) -> QWidget:
        side = QWidget()
        self.fields_label = caption("")
        self.fields_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.recipient = QComboBox()
        self.recipient.setAccessibleName("Preview recipient")
        self.recipient.currentIndexChanged.connect(self._timer.start)
        self.preview_subject = QLabel()
        self.preview_subject.setWordWrap(True)
        self.preview_html = QTextBrowser()
        self.preview_html.setAccessibleName("HTML preview")
        self.preview_html.setOpenLinks(False)
        self.preview_text = QPlainTextEdit()
        self.preview_text.setReadOnly(True)
        self.preview_text.setAccessibleName("Text preview")
        tabs = QTabWidget()
        tabs.addTab(self.preview_html, "HTML preview")
        tabs.addTab(self.preview_text, "Text preview")
        self.error = caption("", "error")
        self.error.setAccessibleName("Preview problems")
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.addRow("Fields", self.fields_label)
        label = QLabel("&Preview for")
        label.setBuddy(self.recipient)
        form.addRow(label, self.recipient)
        layout.addLayout(form)
        layout.addWidget(self.preview_subject)
        layout.addWidget(tabs, 1)
        layout.addWidget(self.error)
        return side

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.FocusIn and isinstance(watched, QLineEdit | QPlainTextEdit):
            self._target = watched
        return super().eventFilter(watched, event)

    def fill(self, content: CampaignContent) -> None:
        """Show a stored campaign's content (editing it)."""
        self.subject.setText(content.subject)
        self.from_name.setText(content.from_name)
        self.from_address.setText(content.from_address)
        self.reply_to.setText(content.reply_to)
        self.html.setPlainText(content.html)
        self.text.setPlainText(content.text)
        self.attachments.clear()
        self.attachments.addItems(list(content.attachments))

    def initializePage(self) -> None:
        """Runs on every Next into the page: the recipients may have changed, the edits stay."""
        names = [ADDRESS_FIELD, *self.state.fields]
        self.fields_label.setText("  ".join(f"{{{{ {n} }}}}" for n in names))
        menu = self.insert_field.menu()
        menu.clear()
        for name in names:
            action = QAction(name, menu)
            action.triggered.connect(lambda _checked=False, n=name: self.insert(n))
            menu.addAction(action)
        chosen = self.recipient.currentText()
        self.recipient.blockSignals(True)
        self.recipient.clear()
        for r in self.state.sample:
            self.recipient.addItem(r.email)
        if chosen:
            self.recipient.setCurrentText(chosen)
        self.recipient.blockSignals(False)
        self.refresh_preview()

    def insert(self, name: str) -> None:
        """Insert ``{{ name }}`` at the cursor of the subject or body last focused."""
        target = self._target
        if isinstance(target, QPlainTextEdit):
            target.insertPlainText(f"{{{{ {name} }}}}")
        else:
            target.insert(f"{{{{ {name} }}}}")
        if target is self.text:
            self.bodies.setCurrentWidget(self.text)
        elif target is self.html:
            self.bodies.setCurrentWidget(self.html)
        target.setFocus()

    def stop(self) -> None:
        """No preview after the wizard closed."""
        self._timer.stop()
        self._generation += 1

    def _changed(self) -> None:
        self.validate()
        self._timer.start()
        self.completeChanged.emit()

    def validate(self) -> list[Problem]:
        """Check the content as core will, showing each problem beside its field."""
        content = self.content()
        self.problems = validate_content(content)
        for key, row in self.rows.items():
            empty = not (content.html + content.text if key == "html" else getattr(content, key))
            # An empty field the user has not edited yet is not an error to point at.
            row.show_problems([] if empty and key not in self.touched else self.problems_for(key))
        return self.problems

    def problems_for(self, key: str) -> list[Problem]:
        return [p for p in self.problems if p.field == key]

    def _attach(self) -> None:
        self.state.prompts.open_file(self, "Attach a file", "All files (*)", self._attached)

    def _attached(self, path: str) -> None:
        if path:
            self.attachments.addItem(path)
            self._changed()

    def _detach(self) -> None:
        for item in self.attachments.selectedItems():
            self.attachments.takeItem(self.attachments.row(item))
        self._changed()

    def content(self) -> CampaignContent:
        """The page's fields over the stored content (headers and unsubscribe are kept)."""
        paths = tuple(self.attachments.item(i).text() for i in range(self.attachments.count()))
        return dataclasses.replace(
            self.state.content,
            subject=self.subject.text(),
            from_name=self.from_name.text().strip(),
            from_address=self.from_address.text().strip(),
            reply_to=self.reply_to.text().strip(),
            html=self.html.toPlainText(),
            text=self.text.toPlainText(),
            attachments=paths,
        )

    def refresh_preview(self) -> None:
        """Render the chosen recipient's message on a thread; a newer request wins."""
        self._timer.stop()
        self._generation += 1
        index = self.recipient.currentIndex()
        if not self.state.sample or index < 0:
            return
        content = self.content()
        errors = [p for p in validate_content(content) if p.severity == "error"]
        if errors:
            fields = ", ".join(sorted({_FIELD_NAMES.get(p.field, p.field) for p in errors}))
            self._show_error(f"No preview until these are correct: {fields}.")
            return
        chosen = self.state.sample[index]
        generation = self._generation
        bridge = self.state.bridge
        bridge.start(
            bridge.read(render_preview, content, chosen.email, chosen.fields, self.state.fields),
            done=lambda result: self._rendered(generation, *result),
        )

    def _rendered(
        self, generation: int, shown: Preview | None, unknown: list[FieldProblem], error: str
    ) -> None:
        if generation != self._generation:
            return  # an edit or another recipient came since
        self.previews += 1
        if shown is not None:
            self.preview_subject.setText(f"<b>Subject:</b> {html.escape(shown.subject)}")
            self.preview_html.setHtml(shown.html)
            self.preview_text.setPlainText(shown.text)
        if error:
            self._show_error(error)
        elif unknown:
            blocking = any(not p.guarded for p in unknown)
            self.error.setStyleSheet(f"color: {tone('error' if blocking else 'warning')};")
            self.error.setText("\n".join(f"{'⚠' if p.guarded else '✖'} {p}" for p in unknown))
        else:
            self.error.setText("")

    def _show_error(self, text: str) -> None:
        self.error.setStyleSheet(f"color: {tone('error')};")
        self.error.setText(f"✖ {text}")

    def isComplete(self) -> bool:
        return not any(p.severity == "error" for p in self.validate())

    def validatePage(self) -> bool:
        self.state.content = self.content()
        return True


_FIELD_NAMES = {
    "subject": "Subject",
    "from_address": "From address",
    "reply_to": "Reply-To",
    "html": "the body",
    "headers": "headers",
}
