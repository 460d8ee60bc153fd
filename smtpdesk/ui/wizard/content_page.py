"""Content: subject, From, Reply-To, HTML and text, fields, a live preview, attachments."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from smtpdesk.core.campaign.content import (
    CampaignContent,
    ContentError,
    preview,
    recipient_fields,
    validate_content,
)
from smtpdesk.core.errors import KnownError
from smtpdesk.core.settings import Problem
from smtpdesk.ui.widgets import FieldRow, caption, tone
from smtpdesk.ui.wizard.state import WizardState

STARTER_HTML = "<p>Hello {{ name }},</p>\n<p>…</p>"


class ContentPage(QWizardPage):
    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.setTitle("Content")
        self.setSubTitle(
            "Templates use Jinja fields such as {{ email }} or any column of the file."
        )
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.refresh_preview)
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
        for text, line in (
            ("&Subject", self.subject),
            ("From &name", self.from_name),
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
        bodies = QTabWidget()
        bodies.addTab(self.html, "&HTML")
        bodies.addTab(self.text, "Te&xt")
        self.rows["html"] = FieldRow(bodies)
        self.html.textChanged.connect(lambda: self.touched.add("html"))
        self.text.textChanged.connect(lambda: self.touched.add("html"))
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
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(form)
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
        self.recipient.currentIndexChanged.connect(self._changed)
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
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.addRow("Fields", self.fields_label)
        form.addRow("Preview &for", self.recipient)
        layout.addLayout(form)
        layout.addWidget(self.preview_subject)
        layout.addWidget(tabs, 1)
        layout.addWidget(self.error)
        return side

    def initializePage(self) -> None:
        names = ["email", *self.state.fields]
        self.fields_label.setText("  ".join(f"{{{{ {n} }}}}" for n in names))
        self.recipient.blockSignals(True)
        self.recipient.clear()
        for r in self.state.sample:
            self.recipient.addItem(r.email)
        self.recipient.blockSignals(False)
        self.refresh_preview()

    def hideEvent(self, event: QHideEvent) -> None:
        # A hidden page needs no preview, and a pending timer must not outlive the wizard.
        self._timer.stop()
        super().hideEvent(event)

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
        paths = tuple(self.attachments.item(i).text() for i in range(self.attachments.count()))
        return CampaignContent(
            subject=self.subject.text(),
            from_name=self.from_name.text().strip(),
            from_address=self.from_address.text().strip(),
            reply_to=self.reply_to.text().strip(),
            html=self.html.toPlainText(),
            text=self.text.toPlainText(),
            attachments=paths,
        )

    def refresh_preview(self) -> None:
        index = self.recipient.currentIndex()
        if not self.state.sample or index < 0:
            return
        chosen = self.state.sample[index]
        try:
            shown = preview(self.content(), recipient_fields(chosen.email, chosen.fields))
        except ContentError as exc:
            named = {p.field for p in exc.problems if isinstance(p, Problem)}
            fields = ", ".join(sorted(_FIELD_NAMES.get(f, f) for f in named))
            self.error.setText(f"✖ No preview until these are correct: {fields}.")
            self.error.setStyleSheet(f"color: {tone('error')};")
            return
        except Exception as exc:
            self.error.setText(
                f"✖ {exc}"
                if isinstance(exc, KnownError | ValueError)
                else f"✖ The preview failed: {exc!r}"
            )
            self.error.setStyleSheet(f"color: {tone('error')};")
            return
        self.error.setText("")
        self.preview_subject.setText(f"<b>Subject:</b> {_escape(shown.subject)}")
        self.preview_html.setHtml(shown.html)
        self.preview_text.setPlainText(shown.text)

    def isComplete(self) -> bool:
        return not any(p.severity == "error" for p in self.validate())

    def validatePage(self) -> bool:
        self.state.content = self.content()
        if self.state.campaign_id is None:
            return False
        bridge = self.state.bridge
        bridge.start(
            bridge.write(
                self.state.ledger.update_campaign,
                self.state.campaign_id,
                content=self.state.content,
            )
        )
        return True


_FIELD_NAMES = {
    "subject": "Subject",
    "from_address": "From address",
    "reply_to": "Reply-To",
    "html": "the body",
    "headers": "headers",
}


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
