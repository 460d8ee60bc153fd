"""The domain checklist (core/domain) as rich text, for the Review page and the server Test."""

from __future__ import annotations

import html

from smtpdesk.core.domain.check import COULD_NOT_CHECK, DomainReport
from smtpdesk.ui.widgets import tone

_MARKS = {"pass": ("✔", "ok"), "warn": ("⚠", "warning"), "fail": ("✖", "error")}


def checklist_html(report: DomainReport) -> str:
    """One line per check: its mark, title and why; what to do for those that fall short."""
    items = []
    for check in report.checks:
        if check.status == "skip":
            continue
        mark, colour = _MARKS.get(check.status, ("?", "warning"))
        label = COULD_NOT_CHECK if check.status == "unknown" else check.status
        todo = f"<br><i>{html.escape(check.todo)}</i>" if check.todo else ""
        items.append(
            f'<li><span style="color:{tone(colour)}">{mark} {html.escape(check.title)}</span>'
            f" ({label}): {html.escape(check.detail)}{todo}</li>"
        )
    return (
        f"<b>Will it land?</b> {html.escape(report.domain)} against Gmail's and Yahoo's "
        f"bulk-sender rules (advice: Send is never blocked by it)<ul>{''.join(items)}</ul>"
    )
