"""Review: the figures, every recipient's message rendered once, and what blocks Send.

The review runs on a worker thread (it renders every recipient); the page polls its
progress. A field that is no column, a message that cannot be rendered or a
messenger without servers is an error: Send stays disabled until it is corrected.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWizardPage

from smtpdesk.core.campaign.review import (
    RenderProgress,
    RenderStopped,
    Review,
    format_seconds,
    review,
)
from smtpdesk.core.domain.check import DomainReport
from smtpdesk.core.domain.sending import check_sending_domain
from smtpdesk.core.errors import KnownError
from smtpdesk.ui.domain_checklist import checklist_html
from smtpdesk.ui.widgets import tone
from smtpdesk.ui.wizard.state import WizardState

__all__ = ["ReviewPage", "format_seconds"]


class ReviewPage(QWizardPage):
    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.review: Review | None = None
        self.progress = RenderProgress()
        self.setTitle("Review")
        self.setSubTitle("Check the figures, then Send.")
        self.summary = QLabel("Counting…")
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Summary")
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Rendering progress")
        self.bar.setVisible(False)
        self.rendered = QLabel()
        self.rendered.setAccessibleName("Rendered")
        self.errors = QLabel()
        self.errors.setWordWrap(True)
        self.errors.setAccessibleName("Errors")
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setAccessibleName("Warnings")
        self.domain = QLabel()  # the domain checklist: advice only, never blocks Send
        self.domain.setWordWrap(True)
        self.domain.setAccessibleName("Domain check")
        self.domain_report: DomainReport | None = None
        self._poll = QTimer(self)
        self._poll.setInterval(100)
        self._poll.timeout.connect(self._show_progress)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.bar)
        layout.addWidget(self.rendered)
        layout.addWidget(self.errors)
        layout.addWidget(self.warnings)
        layout.addWidget(self.domain)
        layout.addStretch(1)

    def initializePage(self) -> None:
        state = self.state
        assert state.recipients_id is not None
        self.stop()
        self.review = None
        self.progress = progress = RenderProgress()
        for label in (self.rendered, self.errors, self.warnings, self.domain):
            label.clear()
        self.summary.setText("Checking the templates and rendering every message…")
        self.completeChanged.emit()
        self._poll.start()
        bridge = state.bridge
        bridge.start(
            bridge.read(
                review,
                state.store,
                state.recipients_id,
                state.content,
                str(state.delivery["messenger"]),
                float(state.delivery["message_rate"]),
                progress,
                concurrency=int(state.delivery["concurrency"]),
            ),
            done=lambda result: self._reviewed(progress, result),
            failed=lambda exc: self._failed(progress, exc),
        )
        self._check_domain(progress)

    def _check_domain(self, progress: RenderProgress) -> None:
        """The From domain's DNS against the bulk-sender rules, on a worker thread."""
        state, content = self.state, self.state.content
        self.domain_report = None
        self.domain.setText("Checking the sending domain's DNS (SPF, DKIM, DMARC)…")
        bridge = state.bridge
        bridge.start(
            bridge.read(
                check_sending_domain,
                state.store,
                content.from_address,
                str(state.delivery["messenger"]),
                unsubscribe_mailto=content.unsubscribe_mailto,
                unsubscribe_url=content.unsubscribe_url,
            ),
            done=lambda report: self._domain_checked(progress, report),
            failed=lambda exc: self._domain_failed(progress, exc),
        )

    def _domain_checked(self, progress: RenderProgress, report: DomainReport) -> None:
        if progress is self.progress:
            self.domain_report = report
            self.domain.setText(checklist_html(report))

    def _domain_failed(self, progress: RenderProgress, exc: BaseException) -> None:
        if progress is not self.progress:
            return
        if not isinstance(exc, KnownError):
            self.state.bridge.report(exc)  # our bug: the crash dialog, Send still allowed
        self.domain.setText(f"The sending domain could not be checked: {html.escape(str(exc))}")

    def cleanupPage(self) -> None:
        self.stop()  # Back: the render in progress is not wanted any more

    def stop(self) -> None:
        self.progress.stop.set()
        self._poll.stop()
        self.bar.setVisible(False)

    def _show_progress(self) -> None:
        p = self.progress
        if p.total and p.done < p.total:
            self.bar.setVisible(True)
            self.bar.setRange(0, p.total)
            self.bar.setValue(p.done)
            self.bar.setFormat(f"Rendering %v of {p.total:,}…")

    def _failed(self, progress: RenderProgress, exc: BaseException) -> None:
        if progress is not self.progress or isinstance(exc, RenderStopped):
            return
        self.stop()
        self.summary.setText("")
        self.errors.setText(f'<span style="color:{tone("error")}">✖ {html.escape(str(exc))}</span>')
        self.state.bridge.report(exc)

    def _reviewed(self, progress: RenderProgress, result: Review) -> None:
        if progress is not self.progress:
            return  # a newer review replaced this one
        self.stop()
        self.review = result
        state = self.state
        imported = state.imported
        left_out = (imported.invalid + imported.duplicates) if imported else 0
        when = "now" if state.send_at is None else "at the scheduled time"
        raw = state.content.subject
        # As the first recipient gets it; the template itself is in the tooltip.
        subject = result.subject or raw
        self.summary.setToolTip(f"Subject template: {raw}" if subject != raw else "")
        self.summary.setText(
            f"<b>{result.recipients:,}</b> recipients ({left_out:,} rows left out)<br>"
            f"Subject: {html.escape(subject)}"
            + (" <i>(for the first recipient)</i>" if subject != raw else "")
            + "<br>"
            f"From: {html.escape(state.content.from_address)} · messenger "
            f"<b>{html.escape(str(state.delivery['messenger']))}</b><br>"
            f"{_limits(result, state.delivery)}: about "
            f"<b>{format_seconds(result.seconds)}</b>, starting {when}."
        )
        if result.rendered is not None:
            ok = not result.rendered.errors
            mark = "✔" if ok else "✖"
            self.rendered.setText(
                f'<span style="color:{tone("ok" if ok else "error")}">'
                f"{mark} {result.rendered}</span>"
            )
        self.show_errors(result.errors)
        if result.warnings:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in result.warnings)
            self.warnings.setText(
                f'<span style="color:{tone("warning")}">⚠ Warnings:</span><ul>{items}</ul>'
            )
        elif result.ready:
            # Only the content's: the domain checklist below has its own marks.
            self.warnings.setText(
                f'<span style="color:{tone("ok")}">✔ No warnings about the content.</span>'
            )
        self.completeChanged.emit()

    def show_errors(self, errors: list[str]) -> None:
        """Errors that block Send, each with what to change."""
        if not errors:
            self.errors.clear()
            return
        items = "".join(f"<li>{html.escape(e)}</li>" for e in errors)
        self.errors.setText(
            f'<span style="color:{tone("error")}">✖ Send is blocked until these are '
            f"corrected (Back to the page concerned):</span><ul>{items}</ul>"
        )

    def refuse(self, reason: str) -> None:
        """The campaign could not start: say why, and keep Send disabled."""
        if self.review is not None:
            self.review.errors.append(reason)
            self.show_errors(self.review.errors)
        else:
            self.show_errors([reason])
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.review is not None and self.review.ready


def _limits(result: Review, delivery: dict[str, Any]) -> str:
    """Messages at a time and per second as the servers allow them, and why if capped."""
    asked = int(delivery["concurrency"])
    at_once = result.concurrency or asked
    text = f"{at_once} at a time"
    if at_once < asked:
        text += f" (the servers allow {at_once} connections; {asked} asked)"
    rate = float(delivery["message_rate"])
    allowed = result.rate or rate
    text += f", at most {allowed:g} messages/s"
    if allowed < rate:
        text += f" (the servers' limit; {rate:g} asked)"
    return text
