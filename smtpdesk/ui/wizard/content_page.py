"""Content: subject, From, Reply-To, the body (HTML, Markdown or plain text), its layout,
the text part, insert-field, undo/redo and find, and a live preview as received.

The preview follows every edit (debounced) and the chosen recipient; it is rendered
on a worker thread, because rendering reads the attachments, and only the latest
request's result is shown: the inlined HTML, at a desktop or a phone's width, on a
light or a dark client (the layout's dark-mode rules applied), and "Open in browser"
writes it to a temporary file. A new campaign's content is saved with its draft as the
user types (debounced, only while it is valid); an edit of a stored campaign is saved on
Send only, so Cancel leaves it as it was.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
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
from smtpdesk.core.campaign.drafts import save_content
from smtpdesk.core.campaign.layouts import DEFAULT_LAYOUT, Layout, Layouts
from smtpdesk.core.campaign.pipeline import FORMAT_LABELS, FORMATS, convert, preview_page
from smtpdesk.core.campaign.review import (
    FieldProblem,
    blank_fields,
    field_problems,
    template_fields,
)
from smtpdesk.core.errors import KnownError
from smtpdesk.core.settings import Problem
from smtpdesk.ui.widgets import FieldRow, caption, tone
from smtpdesk.ui.wizard.edit_tools import EditTools
from smtpdesk.ui.wizard.highlighter import TemplateHighlighter
from smtpdesk.ui.wizard.state import WizardState

STARTER_HTML = "<p>Hello {{ name }},</p>\n<p>…</p>"
DEBOUNCE_MS = 250
DRAFT_SAVE_MS = 1000  # the content goes to the draft after this pause in typing
NO_LAYOUT = "(none)"
log = logging.getLogger(__name__)
WIDTHS = {"Desktop": 0, "Phone": 375}  # preview widths in pixels; 0: the pane's own


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
        self._save_timer = QTimer(self)
        self._save_timer.setInterval(DRAFT_SAVE_MS)
        self._save_timer.setSingleShot(True)
        self._save_timer.timeout.connect(self.save_draft)
        self.drafts_saved = 0  # content saves to the draft, for tests and the curious
        self.body_format = "html"  # the format the body editor holds now
        self.layouts: dict[str, str] = {}  # name -> HTML, the shipped default included
        self.layouts_window: QWidget | None = None
        self.received_html = ""  # the HTML as the chosen recipient receives it
        self.browser_file: Path | None = None  # the last preview written for a browser
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl
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
        self.from_name = self._line("From name", "Example Ltd", "from_name")
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
        self.html.setAccessibleName("Body")
        self.text = QPlainTextEdit()
        self.text.setAccessibleName("Text body")
        self.text.setPlaceholderText("Empty: made from the HTML")
        for editor in (self.html, self.text):
            editor.setTabChangesFocus(True)
            editor.textChanged.connect(self._changed)
        self.highlighters = {
            "html": TemplateHighlighter(self.html.document(), "html"),
            "text": TemplateHighlighter(self.text.document(), "text"),
        }
        self.bodies = QTabWidget()
        self.bodies.addTab(self.html, "Bo&dy")
        self.bodies.addTab(self.text, "Te&xt part")
        self.rows["html"] = FieldRow(self.bodies)
        self.html.textChanged.connect(lambda: self.touched.add("html"))
        self.text.textChanged.connect(lambda: self.touched.add("html"))
        self._target: QLineEdit | QPlainTextEdit = self.html  # where Insert field writes
        for target in (self.subject, self.html, self.text):
            target.installEventFilter(self)
        self.insert_field = QToolButton()
        # The style's menu arrow is drawn over the text in several styles (as on the server
        # form's Common ports): our own arrow is part of the text, so both always fit.
        self.insert_field.setText("&Insert field ▾")
        self.insert_field.setStyleSheet("QToolButton::menu-indicator { image: none; width: 0; }")
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
        self.inline_images = QCheckBox("Send local ima&ges inline")
        self.inline_images.setToolTip(
            "Images whose src is a file on this computer (an absolute path) travel inside "
            "the message instead of being refused"
        )
        self.inline_images.toggled.connect(self._changed)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("Attachments"))
        buttons.addStretch(1)
        buttons.addWidget(self.inline_images)
        buttons.addWidget(add)
        buttons.addWidget(remove)
        tools = QHBoxLayout()
        tools.addWidget(self._format_box())
        tools.addStretch(1)
        tools.addWidget(self.insert_field)
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
        layout.addLayout(tools)
        self.format_note = caption("", "warning")
        self.format_note.setAccessibleName("Format note")
        layout.addWidget(self.format_note)
        self.tools = EditTools(self._editor)
        layout.addWidget(self.tools)
        layout.addWidget(self.rows["html"], 1)
        layout.addLayout(buttons)
        layout.addWidget(self.attachments)
        return side

    def _format_box(self) -> QWidget:
        """Format and layout choosers, and the button to the layouts window."""
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        self.format = QComboBox()
        self.format.setAccessibleName("Format")
        for key in FORMATS:
            self.format.addItem(FORMAT_LABELS[key], key)
        self.format.currentIndexChanged.connect(self._format_chosen)
        self.layout_choice = QComboBox()
        self.layout_choice.setAccessibleName("Layout")
        self.layout_choice.addItem(NO_LAYOUT, "")
        self.layout_choice.currentIndexChanged.connect(self._changed)
        self.manage_layouts = QPushButton("La&youts…")
        self.manage_layouts.clicked.connect(self.show_layouts)
        label = QLabel("F&ormat")
        label.setBuddy(self.format)
        row.addWidget(label)
        row.addWidget(self.format)
        label = QLabel("&Layout")
        label.setBuddy(self.layout_choice)
        row.addWidget(label)
        row.addWidget(self.layout_choice)
        row.addWidget(self.manage_layouts)
        return box

    def _editor(self) -> QPlainTextEdit:
        shown = self.bodies.currentWidget()
        return shown if isinstance(shown, QPlainTextEdit) else self.html

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
        self.width_choice = QComboBox()
        self.width_choice.setAccessibleName("Preview width")
        self.width_choice.addItems(list(WIDTHS))
        self.width_choice.currentIndexChanged.connect(self._show_received)
        self.dark = QCheckBox("Dar&k client")
        self.dark.toggled.connect(self._show_received)
        self.open_browser = QPushButton("Open in bro&wser")
        self.open_browser.setEnabled(False)
        self.open_browser.clicked.connect(self.show_in_browser)
        view = QHBoxLayout()
        view.addWidget(self.width_choice)
        view.addWidget(self.dark)
        view.addStretch(1)
        view.addWidget(self.open_browser)
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
        layout.addLayout(view)
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
        self._set_format(content.format if content.format in FORMATS else "html")
        if content.layout_html:
            self.layouts.setdefault(content.layout, content.layout_html)
            self._fill_layouts(content.layout)
        else:
            self._fill_layouts("")
        self.html.setPlainText(content.html if content.format != "text" else "")
        self.text.setPlainText(content.text)
        self.attachments.clear()
        self.attachments.addItems(list(content.attachments))
        self.inline_images.setChecked(content.inline_images)

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
        self.load_layouts()
        self.refresh_preview()

    # --- format and layout --------------------------------------------------------------

    def _set_format(self, fmt: str) -> None:
        """Show ``fmt`` as chosen without converting the body (filling a stored campaign)."""
        self.format.blockSignals(True)
        self.format.setCurrentIndex(FORMATS.index(fmt))
        self.format.blockSignals(False)
        self.body_format = fmt
        self._format_shown()

    def _format_shown(self) -> None:
        fmt = self.body_format
        self.highlighters["html"].set_format(fmt)
        self.bodies.setTabEnabled(0, fmt != "text")
        self.bodies.setCurrentWidget(self.text if fmt == "text" else self.html)
        self.layout_choice.setEnabled(fmt != "text")
        self.text.setPlaceholderText(
            "The message" if fmt == "text" else "Empty: made from the body"
        )

    def _format_chosen(self, index: int) -> None:
        """Convert the body to the format chosen; say what could not come along."""
        old, new = self.body_format, self.format.itemData(index)
        if old == new:
            return
        if new == "text":
            converted, lost = convert(self.html.toPlainText(), old, "text")
            if self.text.toPlainText().strip():
                lost = "the body was dropped: the text part you wrote is the message now"
            else:
                self.text.setPlainText(converted)
            self.html.setPlainText("")
        elif old == "text":
            converted, lost = convert(self.text.toPlainText(), "text", new)
            self.html.setPlainText(converted)
            self.text.setPlainText("")  # made from the body again
        else:
            converted, lost = convert(self.html.toPlainText(), old, new)
            self.html.setPlainText(converted)
        self.body_format = new
        if new == "markdown" and not self.layout_choice.currentData():
            self._choose_layout(DEFAULT_LAYOUT)
        self.format_note.setText(f"⚠ Converted to {FORMAT_LABELS[new]}: {lost}." if lost else "")
        self._format_shown()
        self._changed()

    def load_layouts(self) -> None:
        """Fill the layout chooser from the database (on a thread)."""
        bridge = self.state.bridge
        bridge.start(bridge.read(Layouts(bridge.store).all), done=self._layouts_loaded)

    def _layouts_loaded(self, found: list[Layout]) -> None:
        kept = self.layout_choice.currentData() or ""
        stored = self.state.content
        self.layouts = {layout.name: layout.html for layout in found}
        if stored.layout and stored.layout_html:
            # the campaign keeps the copy it was reviewed with, even if the layout was
            # edited or deleted since
            self.layouts[stored.layout] = stored.layout_html
        self._fill_layouts(kept)

    def _fill_layouts(self, chosen: str) -> None:
        self.layout_choice.blockSignals(True)
        self.layout_choice.clear()
        self.layout_choice.addItem(NO_LAYOUT, "")
        for name in self.layouts:
            self.layout_choice.addItem(name, name)
        self._choose_layout(chosen)
        self.layout_choice.blockSignals(False)

    def _choose_layout(self, name: str) -> None:
        if name and self.layout_choice.findData(name) < 0:
            self.layout_choice.addItem(name, name)
        self.layout_choice.setCurrentIndex(max(self.layout_choice.findData(name), 0))

    def show_layouts(self) -> None:
        """The layouts window: create, edit, duplicate, delete; the chooser follows."""
        from smtpdesk.ui.layouts_window import LayoutsWindow

        if self.layouts_window is None:
            window = LayoutsWindow(self.state.bridge, self.state.prompts)
            window.changed.connect(self.load_layouts)
            self.layouts_window = window
        self.layouts_window.show()
        self.layouts_window.raise_()

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
        self._save_timer.stop()
        self._generation += 1

    def _changed(self) -> None:
        self.validate()
        self._timer.start()
        self._save_timer.start()
        self.completeChanged.emit()

    def save_draft(self) -> None:
        """Save the content with a new campaign's draft (not an edit: Cancel must undo that)."""
        self._save_timer.stop()
        campaign_id = self.state.campaign_id
        if campaign_id is None or self.state.editing:
            return
        content = self.content()
        if any(p.severity == "error" for p in validate_content(content)):
            return  # the draft keeps the last valid content
        bridge = self.state.bridge

        def saved(_result: object) -> None:
            self.drafts_saved += 1

        def failed(exc: BaseException) -> None:
            if isinstance(exc, KnownError):  # the draft went meanwhile (a new file, Cancel)
                log.info("content not saved with draft %s: %s", campaign_id, exc)
                return
            bridge.report(exc)

        bridge.start(
            bridge.write(save_content, self.state.ledger, campaign_id, content),
            done=saved,
            failed=failed,
        )

    def validate(self) -> list[Problem]:
        """Check the content as core will, showing each problem beside its field."""
        content = self.content()
        self.problems = validate_content(content)
        for key, row in self.rows.items():
            pointed = self._pointed_at(content, key)
            row.show_problems(self.problems_for(key) if pointed else [])
        return self.problems

    def _pointed_at(self, content: CampaignContent, key: str) -> bool:
        """An empty field the user has not edited yet is not an error to point at."""
        if key in self.touched:
            return True
        value = content.html + content.text if key == "html" else getattr(content, key, "x")
        return bool(value)

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
        layout = "" if self.body_format == "text" else str(self.layout_choice.currentData() or "")
        return dataclasses.replace(
            self.state.content,
            subject=self.subject.text(),
            from_name=self.from_name.text().strip(),
            from_address=self.from_address.text().strip(),
            reply_to=self.reply_to.text().strip(),
            html=self.html.toPlainText() if self.body_format != "text" else "",
            text=self.text.toPlainText(),
            attachments=paths,
            format=self.body_format,
            layout=layout,
            layout_html=self.layouts.get(layout, "") if layout else "",
            inline_images=self.inline_images.isChecked(),
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
            if any(self._pointed_at(content, p.field) for p in errors):
                self._show_error(f"No preview until these are correct: {fields}.")
            else:  # nothing typed there yet: a hint, not an error
                self.error.setStyleSheet(f"color: {tone('muted')};")
                names = sorted({_FIELD_NAMES.get(p.field, p.field) for p in errors})
                listed = " and ".join([", ".join(names[:-1]), names[-1]] if names[1:] else names)
                self.error.setText(f"Fill in {listed} to see the preview.")
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
            self.received_html = shown.html
            self._show_received()
            self.preview_text.setPlainText(shown.text)
        if error:
            self._show_error(error)
        elif unknown:
            blocking = any(not p.guarded for p in unknown)
            self.error.setStyleSheet(f"color: {tone('error' if blocking else 'warning')};")
            self.error.setText("\n".join(f"{'⚠' if p.guarded else '✖'} {p}" for p in unknown))
        else:
            self.error.setText("")

    def shown_html(self) -> str:
        """The received HTML as the chosen client shows it (light or dark)."""
        return preview_page(self.received_html, dark=self.dark.isChecked())

    def _show_received(self) -> None:
        width = WIDTHS[self.width_choice.currentText()]
        self.preview_html.setMaximumWidth(width or 16777215)
        self.preview_html.setHtml(self.shown_html())
        self.open_browser.setEnabled(bool(self.received_html))

    def show_in_browser(self) -> None:
        """Write the preview to a temporary file and open it in the default browser."""
        with tempfile.NamedTemporaryFile(
            "w", suffix=".html", prefix="smtpdesk-preview-", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(self.shown_html())
        self.browser_file = Path(handle.name)
        self.open_url(QUrl.fromLocalFile(str(self.browser_file)))

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
    "from_name": "From name",
    "reply_to": "Reply-To",
    "html": "the body",
    "headers": "headers",
}
