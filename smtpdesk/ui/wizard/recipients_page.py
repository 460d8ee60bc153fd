"""Recipients: choose a file, map the address column, see valid, invalid and duplicate rows."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
    QWizardPage,
)

from smtpdesk.core.campaign.drafts import Draft, Imported, import_into_draft
from smtpdesk.core.campaign.recipients import FileInfo, inspect_file
from smtpdesk.ui.widgets import caption
from smtpdesk.ui.wizard.state import WizardState

FILE_FILTER = "Recipient lists (*.csv *.tsv *.txt);;All files (*)"


class RecipientsPage(QWizardPage):
    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.setTitle("Recipients")
        self.setSubTitle("A CSV or TSV file with a header row and one recipient per line.")
        self.reason = caption("", "error")  # why a stored campaign could not start
        self.reason.setAccessibleName("Why the campaign did not start")
        self.reason.setVisible(False)
        self.name = QLineEdit()
        self.name.setAccessibleName("Campaign name")
        self.name.textChanged.connect(self.completeChanged)
        self.path = QLineEdit()
        self.path.setReadOnly(True)
        self.path.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # read-only: out of the tab order
        self.path.setAccessibleName("Recipient file")
        self.choose = QPushButton("&Choose file…")
        self.choose.clicked.connect(self.choose_file)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.choose)
        holder = QWidget()
        holder.setLayout(row)
        row.setContentsMargins(0, 0, 0, 0)
        self.column = QComboBox()
        self.column.setAccessibleName("Address column")
        self.column.activated.connect(self._column_chosen)
        self.summary = QLabel("No file chosen yet.")
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Import summary")
        self.problems = QPlainTextEdit()
        self.problems.setReadOnly(True)
        self.problems.setAccessibleName("Invalid and duplicate lines")
        self.problems.setPlaceholderText("Invalid and duplicate lines appear here.")
        form = QFormLayout(self)
        form.addRow(self.reason)
        form.addRow("Campaign na&me", self.name)
        form.addRow("File", holder)
        form.addRow("&Address column", self.column)
        form.addRow("Result", self.summary)
        form.addRow("Problems", self.problems)

    def show_reason(self, reason: str) -> None:
        self.reason.setText(f"✖ This campaign could not start: {reason}" if reason else "")
        self.reason.setVisible(bool(reason))

    def fill(self, draft: Draft) -> None:
        """Show a stored campaign's name and recipients (editing it)."""
        self.name.setText(draft.campaign.name)
        self.path.setPlaceholderText("the recipients imported earlier")
        self.summary.setText(
            f"{draft.recipients:,} recipients imported earlier. Choose a file to replace them.\n"
            f"Template fields: {', '.join(draft.columns) or 'none'}."
        )
        self.completeChanged.emit()

    def choose_file(self) -> None:
        self.state.prompts.open_file(self, "Choose a recipient file", FILE_FILTER, self.load_file)

    def load_file(self, path: str) -> None:
        if not path:
            return
        self.path.setText(path)
        if not self.name.text():
            self.name.setText(Path(path).stem.replace("_", " ").replace("-", " ").title())
        self.summary.setText("Reading the file…")
        bridge = self.state.bridge
        bridge.start(bridge.read(inspect_file, path), done=self._inspected, failed=self._failed)

    def _inspected(self, info: FileInfo) -> None:
        self.state.info = info
        self.column.clear()
        self.column.addItems(list(info.columns))
        if info.address_column:
            self.column.setCurrentText(info.address_column)
            self._column_chosen()
        else:
            self.summary.setText("No column looks like email addresses: choose the address column.")

    def _column_chosen(self) -> None:
        info = self.state.info
        if info is None or not self.column.currentText():
            return
        self.summary.setText("Importing…")
        self.state.imported = None
        self.state.recipient_count = 0
        self.completeChanged.emit()
        bridge = self.state.bridge
        bridge.start(
            bridge.write(
                import_into_draft,
                self.state.ledger,
                self.state.scratch_id,
                self.name.text(),
                info,
                self.column.currentText(),
            ),
            done=self._imported,
            failed=self._failed,
        )

    def _imported(self, result: Imported) -> None:
        state, report = self.state, result.report
        state.recipients_id = result.campaign_id
        if not state.editing:
            state.campaign_id = result.campaign_id
        state.imported, state.sample, state.fields = report, result.sample, result.columns
        state.recipient_count = report.valid
        fields = ", ".join(state.fields) or "none"
        self.summary.setText(
            f"{report.valid:,} valid · {report.invalid:,} invalid · "
            f"{report.duplicates:,} duplicate of {report.rows:,} rows.\n"
            f"The other columns become template fields: {fields}."
        )
        lines = [
            f"line {p.line}: {p.address or '(empty)'} — {p.kind}: {p.reason}"
            for p in report.problems
        ]
        if report.invalid + report.duplicates > len(report.problems):
            lines.append(
                f"… and {report.invalid + report.duplicates - len(report.problems):,} more"
            )
        self.problems.setPlainText("\n".join(lines))
        self.completeChanged.emit()

    def _failed(self, exc: BaseException) -> None:
        self.summary.setText(f"✖ {exc}")
        self.state.bridge.report(exc)

    def isComplete(self) -> bool:
        return bool(self.state.recipient_count and self.name.text().strip())

    def validatePage(self) -> bool:
        self.state.name = self.name.text().strip()
        return True
