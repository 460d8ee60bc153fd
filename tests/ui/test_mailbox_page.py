"""The Mailbox page with a real Dovecot: validate, save, Test, Scan now, counts shown (issue 12)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import trustme
from PySide6.QtCore import Qt
from sqlalchemy import event

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.engine import CampaignRunner
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.feedback import scan as scanning
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.recipient_report import _cell as report_cell
from tests.helpers import feedback_samples as samples
from tests.helpers.dovecot import PASSWORD, Dovecot, dovecot  # noqa: F401  (a fixture)
from tests.helpers.smtpd import SmtpdFactory, cert_sha256
from tests.integration.campaign.helpers import add_server, make_campaign
from tests.ui.conftest import until

CONTENT = CampaignContent(subject="Hi {{ name }}", from_address="news@example.com", text="Hi")


def _fill(page: Any, qtbot: Any, server: Dovecot, user: str, password: str) -> None:
    page.enabled.setChecked(True)
    values = {
        "host": "127.0.0.1",
        "port": str(server.imaps),
        "username": user,
        "unsubscribe_address": "bounces@example.com",
    }
    for key, value in values.items():
        page.lines[key].clear()
        qtbot.keyClicks(page.lines[key], value)
    page.password.clear()
    qtbot.keyClicks(page.password, password)


async def test_save_test_scan_and_the_counts_in_the_campaigns_list(
    window: MainWindow,
    qtbot: Any,
    store: Store,
    dovecot: Dovecot,  # noqa: F811
    trust_test_ca: Path,
    smtpd_factory: SmtpdFactory,
) -> None:
    page = window.mailbox
    window.tabs.setCurrentWidget(page)
    user = dovecot.add_user()
    _fill(page, qtbot, dovecot, user, PASSWORD)
    page.lines["port"].clear()
    qtbot.keyClicks(page.lines["port"], "99999")
    assert not page.save_button.isEnabled()
    assert "outside 1-65535" in page.rows["port"].message.text()
    page.lines["port"].clear()
    qtbot.keyClicks(page.lines["port"], str(dovecot.imaps))
    assert page.save_button.isEnabled()

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    await until(lambda: page.password.text() == "", what="the save")
    assert FeedbackBook(store).mailbox().host == "127.0.0.1" and scanning.has_password()
    assert page.timer.isActive() and page.timer.interval() == 15 * 60 * 1000

    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    await until(lambda: "All steps passed" in page.test_result.text(), what="the test")
    assert "0 messages in INBOX" in page.test_result.text()
    assert "certificate SHA-256" in page.test_result.text()

    server = await smtpd_factory("plain")
    add_server(store, server)
    campaign = make_campaign(store, ["dead@example.org", "alive@example.org"], CONTENT)
    await CampaignRunner(store, campaign).run()
    dead = next(m.content for m in server.handler.messages if m.rcpt_tos == ["dead@example.org"])
    dovecot.deliver(user, samples.postfix_hard(dead, "dead@example.org"))

    window.open_live_panel(campaign)
    panel = window.windows[f"live-{campaign}"]
    await until(lambda: window.bridge.pending == 0, what="the panel's first load")
    assert panel.feedback.text() == ""

    writes: list[str] = []  # the scan's writes: on the bridge's one writer thread (issue 9)

    def on_write(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            writes.append(threading.current_thread().name)

    event.listen(store.engine, "before_cursor_execute", on_write)
    qtbot.mouseClick(page.scan_button, Qt.MouseButton.LeftButton)
    await until(lambda: "1 hard" in page.last_scan.text(), what="the scan's result")
    event.remove(store.engine, "before_cursor_execute", on_write)
    assert writes and all(name.startswith("smtpdesk-writer") for name in writes), writes
    await until(lambda: panel.feedback.text() == "Mailbox: 1 bounced (50.0%)", what="the panel")
    assert page.scan_button.isEnabled() and not page.progress.isVisible()

    rows = {r.email: r for r in Ledger(store).recipients(campaign, limit=10)}
    assert report_cell(rows["dead@example.org"], 2) == "sent, bounced (hard)"
    assert report_cell(rows["alive@example.org"], 2) == "sent"

    window.tabs.setCurrentWidget(window.campaigns_tab)
    view = window.campaigns_view()
    await until(lambda: view.table.rowCount() == 1 and view.table.item(0, 8) is not None)
    await until(lambda: view.table.item(0, 8).text() == "1 bounced (50.0%)", what="the column")


async def test_a_wrong_password_is_diagnosed_on_the_page(
    window: MainWindow,
    qtbot: Any,
    dovecot: Dovecot,  # noqa: F811
    trust_test_ca: Path,
) -> None:
    page = window.mailbox
    _fill(page, qtbot, dovecot, dovecot.add_user(), "not-the-password")

    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)

    await until(lambda: "refused the username or password" in page.test_result.text())
    assert "✗ login" in page.test_result.text() and "✓ connect" in page.test_result.text()
    assert not scanning.has_password()  # Test saves nothing


async def test_an_untrusted_certificate_can_be_trusted_from_the_test_result(
    window: MainWindow,
    qtbot: Any,
    dovecot: Dovecot,  # noqa: F811
    server_cert: trustme.LeafCert,
) -> None:
    """No authority vouches for Dovecot's certificate here: Test shows it, the button pins
    it, and after Save the Test passes on the pin alone."""
    page = window.mailbox
    window.tabs.setCurrentWidget(page)
    _fill(page, qtbot, dovecot, dovecot.add_user(), PASSWORD)
    page.skip_verify.setChecked(True)  # the button turns it off: the pin is the check
    page.skip_verify.setChecked(False)
    assert not page.trust_button.isVisible()

    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    await until(lambda: page.trust_button.isVisible(), what="the trust button")
    assert "certificate SHA-256" in page.test_result.text()
    qtbot.mouseClick(page.trust_button, Qt.MouseButton.LeftButton)
    pin = page.lines["tls_pin_sha256"].text()
    assert pin == cert_sha256(server_cert) and not page.trust_button.isVisible()
    assert "pinned in the form" in page.test_result.text()

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    await until(lambda: page.settings.tls_pin_sha256 == pin, what="the pin saved")
    qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    await until(lambda: "All steps passed." in page.test_result.text(), what="a passing Test")
    assert not page.trust_button.isVisible()
