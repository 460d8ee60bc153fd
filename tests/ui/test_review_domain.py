"""Review's domain checklist: computed off the GUI thread, shown line by line, never
blocking Send (not while it runs, not when it fails, not when DNS does not answer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from tests.helpers.dns import dns_server, silent_dns
from tests.helpers.smtpd import SmtpdFactory
from tests.ui.conftest import until
from tests.ui.test_campaign_flow import _recipients
from tests.ui.test_wizard import _add_server, _open, _to_review, _write_content

ZONE = """
example.com. 300 IN MX 10 mx.example.com.
example.com. 300 IN TXT "v=spf1 ip4:127.0.0.1 -all"
"""


async def _review(qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path) -> Any:
    wizard = await _open(qtbot, window, prompts, _recipients(tmp_path, 5))
    wizard.next()
    _write_content(qtbot, wizard, "Hello {{ name }}")
    await _to_review(wizard)
    return wizard


async def test_the_checklist_shows_what_fails_and_send_stays_allowed(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _add_server(store, await smtpd_factory("plain"))
    with dns_server(ZONE) as dns:
        monkeypatch.setenv("SMTPDESK_DNS_SERVER", dns.address)
        wizard = await _review(qtbot, window, prompts, tmp_path)
        review = wizard.review
        await until(lambda: review.domain_report is not None, what="the domain check")
        await until(review.isComplete, what="the review")
    text = review.domain.text()
    assert "Will it land?" in text and "example.com" in text
    assert "✔ SPF record" in text  # the test server is on 127.0.0.1, which the record allows
    assert "✖ DMARC record" in text and "v=DMARC1; p=none" in text
    assert "✖ TLS on the connection" in text  # the test server is plain text
    assert review.domain_report.failed and review.isComplete()  # advice, Send allowed
    wizard.reject()


async def test_dns_that_does_not_answer_never_holds_send(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _add_server(store, await smtpd_factory("plain"))
    with silent_dns() as address:
        monkeypatch.setenv("SMTPDESK_DNS_SERVER", address)
        wizard = await _review(qtbot, window, prompts, tmp_path)
        review = wizard.review
        await until(review.isComplete, what="the review")
        assert review.domain_report is None  # still asking DNS, and Send is enabled
        assert "Checking the sending domain" in review.domain.text()
        await until(lambda: review.domain_report is not None, limit=20, what="the time-out")
    assert "could not check" in review.domain.text()
    assert review.isComplete()
    wizard.reject()
