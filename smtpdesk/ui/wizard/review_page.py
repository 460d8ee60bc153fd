"""Review: counts, estimated duration at the chosen rate, and what deserves a second look."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWizardPage

from smtpdesk.core.campaign.content import CampaignContent, check_fields
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.settings import POOL_NAME, ServerSettings
from smtpdesk.core.store import Store
from smtpdesk.ui.widgets import tone
from smtpdesk.ui.wizard.state import WizardState


@dataclass
class Review:
    recipients: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def effective_rate(rate: float, servers: list[ServerSettings]) -> float:
    """The campaign's rate, capped by the servers' own per-second limits when all have one."""
    caps = [s.max_per_second for s in servers]
    if servers and all(c is not None for c in caps):
        return min(rate, sum(c for c in caps if c is not None))
    return rate


def review(
    store: Store, campaign_id: int, content: CampaignContent, messenger: str, rate: float
) -> Review:
    """Blocking (reads every recipient's fields): run it on a thread."""
    ledger = Ledger(store)
    total = ledger.recipient_count(campaign_id)
    servers = store.servers()
    chosen = [s for s in servers if s.enabled and (s.name or POOL_NAME) == messenger]
    result = Review(total, total / max(effective_rate(rate, chosen), 1e-9))
    for s in servers:
        if not s.enabled and (s.name or POOL_NAME) == messenger:
            result.warnings.append(f"{s.label} is disabled and will not send.")
    for s in chosen:
        if s.max_per_day is not None and total > s.max_per_day:
            result.warnings.append(
                f"{s.label} allows {s.max_per_day:,} messages a day; the "
                f"campaign has {total:,} recipients."
            )
    for missing in check_fields(content, ledger, campaign_id):
        result.warnings.append(str(missing))
    return result


class ReviewPage(QWizardPage):
    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.review: Review | None = None
        self.setTitle("Review")
        self.setSubTitle("Check the figures, then Send.")
        self.summary = QLabel("Counting…")
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Summary")
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setAccessibleName("Warnings")
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.warnings)
        layout.addStretch(1)

    def initializePage(self) -> None:
        state = self.state
        assert state.campaign_id is not None
        self.review = None
        self.completeChanged.emit()
        bridge = state.bridge
        bridge.start(
            bridge.read(
                review,
                state.store,
                state.campaign_id,
                state.content,
                str(state.delivery["messenger"]),
                float(state.delivery["message_rate"]),
            ),
            done=self._reviewed,
        )

    def _reviewed(self, result: Review) -> None:
        self.review = result
        state = self.state
        imported = state.imported
        left_out = (imported.invalid + imported.duplicates) if imported else 0
        when = "now" if state.send_at is None else "at the scheduled time"
        self.summary.setText(
            f"<b>{result.recipients:,}</b> recipients ({left_out:,} rows left out)<br>"
            f"Subject: {_escape(state.content.subject)}<br>"
            f"From: {_escape(state.content.from_address)} · messenger "
            f"<b>{state.delivery['messenger']}</b><br>"
            f"{state.delivery['concurrency']} at a time, at most "
            f"{state.delivery['message_rate']:g} messages/s: about "
            f"<b>{format_seconds(result.seconds)}</b>, starting {when}."
        )
        if result.warnings:
            items = "".join(f"<li>{_escape(w)}</li>" for w in result.warnings)
            self.warnings.setText(
                f'<span style="color:{tone("warning")}">⚠ Warnings:</span><ul>{items}</ul>'
            )
        else:
            self.warnings.setText(f'<span style="color:{tone("ok")}">✔ No warnings.</span>')
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.review is not None and self.review.recipients > 0


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
