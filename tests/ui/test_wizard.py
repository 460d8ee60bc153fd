"""The send-campaign wizard as a user drives it: Back and Next, the live preview, Review's
template check, editing a stored campaign, the test send, mnemonics and tab order."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLabel,
    QTabWidget,
    QWidget,
    QWizard,
    QWizardPage,
)
from sqlalchemy import event

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.campaign.recipients import import_file
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import Store
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from smtpdesk.ui.widgets import WheelGuard
from smtpdesk.ui.window_state import available_area
from smtpdesk.ui.wizard.wizard import CampaignWizard
from tests.helpers.smtpd import SmtpdFactory
from tests.ui.conftest import until
from tests.ui.test_campaign_flow import _add_server, _recipients
from tests.ui.test_server_form_behaviour import _wheel


async def _open(qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, csv: Path) -> Any:
    window.campaign_action.trigger()
    wizard = window.windows["wizard"]
    assert isinstance(wizard, CampaignWizard)
    prompts.answers = [str(csv)]
    qtbot.mouseClick(wizard.recipients.choose, Qt.MouseButton.LeftButton)
    await until(wizard.recipients.isComplete, what="the import")
    return wizard


def _write_content(qtbot: Any, wizard: CampaignWizard, subject: str) -> None:
    content = wizard.content
    content.subject.clear()
    qtbot.keyClicks(content.subject, subject)
    qtbot.keyClicks(content.from_address, "news@example.com")


async def _to_review(wizard: CampaignWizard) -> None:
    """From Content: Next to Delivery (servers loaded), Test send, Review (reviewed)."""
    wizard.next()
    await until(wizard.delivery.isComplete, what="the messengers")
    wizard.next()
    wizard.next()
    assert wizard.currentPage() is wizard.review
    await until(lambda: wizard.review.review is not None, what="the review")


async def test_back_and_next_keep_every_page_and_the_test_goes_to_the_chosen_server(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    pool, bulk = await smtpd_factory("plain"), await smtpd_factory("plain")
    _add_server(store, pool)
    _add_server(store, bulk, name="bulk")
    wizard = await _open(qtbot, window, prompts, _recipients(tmp_path, 5))
    # the duplicate says which row it repeats (user1 is on line 3)
    assert "user1@example.com — duplicate: a duplicate of line 3" in (
        wizard.recipients.problems.toPlainText()
    )
    wizard.next()
    _write_content(qtbot, wizard, "Hello {{ name }}")
    wizard.next()
    delivery = wizard.delivery
    await until(delivery.isComplete, what="the messengers")
    delivery.messenger.setCurrentIndex(delivery.messenger.findData("bulk"))
    delivery.rate.setValue(42)
    delivery.concurrency.setValue(3)
    wizard.next()
    qtbot.keyClicks(wizard.test_send.to, "me@example.com")
    wizard.back()
    wizard.back()
    assert wizard.currentPage() is wizard.content
    assert wizard.content.subject.text() == "Hello {{ name }}"
    assert wizard.content.from_address.text() == "news@example.com"
    wizard.next()
    await until(lambda: window.bridge.pending == 0, what="the servers read again")
    assert delivery.messenger.currentData() == "bulk"
    assert delivery.rate.value() == 42 and delivery.concurrency.value() == 3
    wizard.next()
    assert wizard.test_send.to.text() == "me@example.com"
    qtbot.mouseClick(wizard.test_send.send, Qt.MouseButton.LeftButton)
    await until(lambda: "accepted" in wizard.test_send.result.text(), what="the test send")
    assert [m.rcpt_tos for m in bulk.messages] == [["me@example.com"]]
    assert pool.messages == []
    wizard.next()
    await until(wizard.review.isComplete, what="the review")
    campaign_id = wizard.state.campaign_id
    assert campaign_id is not None
    wizard.accept()
    await until(lambda: not wizard.isVisible(), what="the wizard to close")
    stored = Ledger(store).campaign(campaign_id)
    assert (stored.messenger, stored.message_rate, stored.concurrency) == ("bulk", 42, 3)
    assert stored.content.subject == "Hello {{ name }}"


async def test_preview_follows_edits_and_the_chosen_recipient(
    qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    wizard = await _open(qtbot, window, prompts, _recipients(tmp_path, 4))
    wizard.next()
    page = wizard.content
    _write_content(qtbot, wizard, "Hello {{ name }}")
    await until(lambda: "Hello User 0" in page.preview_subject.text(), what="the first preview")
    assert page.error.text() == ""  # the "No preview until..." shown while typing is gone
    assert "User 0" in page.preview_html.toPlainText()
    page.recipient.setCurrentIndex(2)
    await until(lambda: "Hello User 2" in page.preview_subject.text(), what="recipient 3")
    page.subject.end(False)
    qtbot.keyClicks(page.subject, ", welcome")
    await until(lambda: "Hello User 2, welcome" in page.preview_subject.text(), what="the edit")
    # Insert field: at the cursor of the editor last focused (the subject here).
    page.subject.setFocus()
    page.subject.end(False)
    menu = page.insert_field.menu()
    assert [a.text() for a in menu.actions()] == ["email", "name"]
    menu.actions()[0].trigger()
    assert page.subject.text() == "Hello {{ name }}, welcome{{ email }}"
    await until(lambda: "user2@example.com" in page.preview_subject.text(), what="the field")
    wizard.reject()


async def test_a_field_that_is_no_column_blocks_send_and_an_empty_cell_does_not(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    _add_server(store, await smtpd_factory("plain"))
    csv = tmp_path / "people.csv"
    csv.write_text(
        "email,Name,city\na@example.com,Ann,Oslo\nb@example.com,,Rome\nc@example.com,Cy,\n",
        encoding="utf-8",
    )
    wizard = await _open(qtbot, window, prompts, csv)
    wizard.next()
    _write_content(qtbot, wizard, "Hi {{ name }} from {{ city }}")
    await _to_review(wizard)
    review = wizard.review
    assert not review.isComplete()
    assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    errors = review.errors.text()
    assert "{{ name }} in the subject and HTML body is not a column" in errors
    assert "Did you mean {{ Name }}?" in errors
    assert "email, Name, city" in errors
    assert "city" not in errors.split("The fields are")[0]  # an empty cell is no error
    wizard.accept()  # Send through the keyboard or a script is refused the same way
    await until(lambda: window.bridge.pending == 0)
    assert wizard.isVisible()
    for _ in range(3):
        wizard.back()
    _write_content(qtbot, wizard, "Hi {{ Name }} from {{ city }}")
    wizard.content.html.setPlainText("<p>Hello {{ Name | default('friend') }}</p>")
    wizard.content.from_address.clear()
    qtbot.keyClicks(wizard.content.from_address, "news@example.com")
    await _to_review(wizard)
    assert review.isComplete(), review.errors.text()
    assert "3 of 3 rendered, 0 errors" in review.rendered.text()
    assert "{{ city }} in the subject is empty for 1 recipient" in review.warnings.text()
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()


async def test_a_campaign_that_cannot_start_keeps_the_wizard_open_with_the_reason(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    _add_server(store, await smtpd_factory("plain"))
    wizard = await _open(qtbot, window, prompts, _recipients(tmp_path, 3))
    wizard.next()
    _write_content(qtbot, wizard, "Hello {{ name }}")
    await _to_review(wizard)
    assert wizard.review.isComplete()
    campaign_id = wizard.state.campaign_id
    assert campaign_id is not None
    server = store.servers()[0]
    data = server.to_dict() | {"enabled": False}
    assert save_server(store, data).settings is not None  # disabled meanwhile
    qtbot.mouseClick(wizard.button(QWizard.WizardButton.FinishButton), Qt.MouseButton.LeftButton)
    await until(lambda: "no enabled server" in wizard.review.errors.text(), what="the reason")
    assert wizard.isVisible() and not wizard.review.isComplete()
    assert f"live-{campaign_id}" not in window.windows
    stored = Ledger(store).campaign(campaign_id)
    assert stored.state == CampaignState.DRAFT
    assert stored.content.subject == "Hello {{ name }}"  # saved: it can be reopened


async def _opened(wizard: CampaignWizard) -> None:
    loaded: list[bool] = []
    wizard.loaded.connect(lambda: loaded.append(True))
    wizard.open()
    await until(lambda: loaded, what="the campaign's values")


async def _sent(wizard: CampaignWizard) -> list[int]:
    sent: list[int] = []
    wizard.sent.connect(sent.append)
    wizard.accept()
    await until(lambda: sent, what="the save")
    return sent


def _stored_draft(store: Store, tmp_path: Path) -> int:
    """A draft made without the wizard (as ``smtpdesk campaign create`` would)."""
    ledger = Ledger(store)
    content = CampaignContent(
        "Spring {{ name }}",
        "news@example.com",
        from_name="News",
        html="<p>Hi {{ name }}</p>",
        unsubscribe_url="https://example.com/u?e={{ email }}",
    )
    campaign_id = ledger.create_campaign(
        "Spring", content, messenger="bulk", concurrency=2, message_rate=7, send_at=4102444800.0
    )
    import_file(ledger, campaign_id, _recipients(tmp_path, 6), "email")
    return campaign_id


async def test_an_edit_of_a_draft_reopens_filled_in_and_saves_in_place(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    _add_server(store, await smtpd_factory("plain"))
    _add_server(store, await smtpd_factory("plain"), name="bulk")
    campaign_id = _stored_draft(store, tmp_path)
    wizard = CampaignWizard(
        window.bridge, prompts, parent=window, campaign_id=campaign_id, reason="it was refused"
    )
    await _opened(wizard)
    assert wizard.recipients.name.text() == "Spring"
    assert "6 recipients imported earlier" in wizard.recipients.summary.text()
    assert "it was refused" in wizard.recipients.reason.text()
    assert wizard.recipients.isComplete()
    wizard.next()
    content = wizard.content
    assert content.subject.text() == "Spring {{ name }}"
    assert content.from_name.text() == "News"
    assert content.html.toPlainText() == "<p>Hi {{ name }}</p>"
    await until(lambda: "Spring User 0" in content.preview_subject.text(), what="the preview")
    content.subject.end(False)
    qtbot.keyClicks(content.subject, "!")
    wizard.next()
    await until(wizard.delivery.isComplete, what="the messengers")
    delivery = wizard.delivery
    assert delivery.messenger.currentData() == "bulk"
    assert (delivery.concurrency.value(), delivery.rate.value()) == (2, 7)
    assert delivery.scheduled.isChecked()
    assert delivery.when.dateTime().toSecsSinceEpoch() == 4102444800
    wizard.next()
    wizard.next()
    await until(wizard.review.isComplete, what="the review")
    assert "6 of 6 rendered, 0 errors" in wizard.review.rendered.text()
    campaigns_before = len(Ledger(store).list_campaigns())
    assert await _sent(wizard) == [campaign_id]
    stored = Ledger(store).campaign(campaign_id)
    assert stored.content.subject == "Spring {{ name }}!"
    # what the page does not show is kept
    assert stored.content.unsubscribe_url == "https://example.com/u?e={{ email }}"
    assert (stored.messenger, stored.send_at) == ("bulk", 4102444800.0)
    assert Ledger(store).recipient_count(campaign_id) == 6
    assert len(Ledger(store).list_campaigns()) == campaigns_before


async def test_an_edit_replaces_the_recipients_on_send_and_cancel_keeps_them(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    _add_server(store, await smtpd_factory("plain"), name="bulk")
    campaign_id = _stored_draft(store, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    ledger = Ledger(store)

    async def edit_with_new_file() -> CampaignWizard:
        wizard = CampaignWizard(window.bridge, prompts, parent=window, campaign_id=campaign_id)
        await _opened(wizard)
        prompts.answers = [str(_recipients(other, 2))]
        qtbot.mouseClick(wizard.recipients.choose, Qt.MouseButton.LeftButton)
        await until(lambda: wizard.state.imported is not None, what="the import")
        return wizard

    wizard = await edit_with_new_file()
    wizard.reject()
    await window.bridge.drain()
    assert ledger.recipient_count(campaign_id) == 6
    assert [c.id for c in ledger.list_campaigns()] == [campaign_id]  # no scratch draft left

    wizard = await edit_with_new_file()
    wizard.next()
    await _to_review(wizard)
    assert "2 of 2 rendered" in wizard.review.rendered.text()
    assert await _sent(wizard) == [campaign_id]
    assert ledger.recipient_count(campaign_id) == 2
    assert [c.id for c in ledger.list_campaigns()] == [campaign_id]
    assert ledger.campaign(campaign_id).fields == ("name",)


async def test_test_send_goes_to_each_address_with_its_own_outcome(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    sink = await smtpd_factory("plain")
    _add_server(store, sink)
    wizard = await _open(qtbot, window, prompts, _recipients(tmp_path, 3))
    wizard.next()
    _write_content(qtbot, wizard, "Hello {{ name }}")
    wizard.next()
    await until(wizard.delivery.isComplete, what="the messengers")
    wizard.next()
    page = wizard.test_send
    page.as_recipient.setCurrentIndex(1)
    qtbot.keyClicks(page.to, "me@example.com, not-an-address")
    qtbot.mouseClick(page.send, Qt.MouseButton.LeftButton)
    assert "not-an-address" in page.result.text() and sink.messages == []
    page.to.clear()
    qtbot.keyClicks(page.to, "me@example.com; you@example.com")
    qtbot.mouseClick(page.send, Qt.MouseButton.LeftButton)
    await until(lambda: page.send.isEnabled(), what="the test send")
    assert page.result.text().count("accepted") == 2, page.result.text()
    assert [m.rcpt_tos for m in sink.messages] == [["me@example.com"], ["you@example.com"]]
    first = sink.messages[0].content.decode()
    assert "To: me@example.com" in first and "Subject: Hello User 1" in first
    wizard.reject()


def _mnemonics(page: QWidget) -> list[str]:
    """The Alt+letter of every label, button and tab on ``page``."""
    texts = [w.text() for w in page.findChildren(QLabel) if w.buddy() is not None]
    texts += [w.text() for w in page.findChildren(QAbstractButton)]
    for tabs in page.findChildren(QTabWidget):
        texts += [tabs.tabText(i) for i in range(tabs.count())]
    found = []
    for text in texts:
        index = text.replace("&&", "").find("&")
        if index >= 0:
            found.append(text.replace("&&", "")[index + 1].lower())
    return found


async def test_mnemonics_are_unique_per_page_and_apart_from_the_buttons(
    window: MainWindow,
) -> None:
    window.campaign_action.trigger()
    wizard = window.windows["wizard"]
    assert isinstance(wizard, CampaignWizard)
    buttons = [
        wizard.buttonText(b)
        for b in (
            QWizard.WizardButton.BackButton,
            QWizard.WizardButton.NextButton,
            QWizard.WizardButton.FinishButton,
        )
    ]
    reserved = [t[t.find("&") + 1].lower() for t in buttons if "&" in t]
    assert sorted(reserved) == ["b", "n", "s"]
    for page_id in wizard.pageIds():
        page = wizard.page(page_id)
        assert isinstance(page, QWizardPage)
        letters = _mnemonics(page)
        assert len(letters) == len(set(letters)), (page.title(), letters)
        assert not set(letters) & set(reserved), (page.title(), letters)
    assert wizard.recipients.path.focusPolicy() == Qt.FocusPolicy.NoFocus
    wizard.reject()


async def test_review_shows_its_progress_and_back_stops_it(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    _add_server(store, await smtpd_factory("plain"))
    wizard = await _open(qtbot, window, prompts, _recipients(tmp_path, 20_000))
    wizard.next()
    _write_content(qtbot, wizard, "Hello {{ name }}")
    wizard.next()
    await until(wizard.delivery.isComplete, what="the messengers")
    wizard.next()
    wizard.next()
    review = wizard.review
    # The GUI thread is free while the messages render: the bar moves.
    await until(lambda: review.bar.isVisible() and review.bar.value() > 0, what="the bar")
    assert "of 20,000" in review.bar.format()
    first = review.progress
    wizard.back()
    assert first.stop.is_set() and not review.bar.isVisible()
    await until(lambda: window.bridge.pending == 0, what="the stopped render")
    assert first.done < 20_000 and review.review is None
    wizard.next()
    await until(review.isComplete, limit=60, what="the review")
    assert "20,000 of 20,000 rendered, 0 errors" in review.rendered.text()


async def test_no_sqlite_and_no_attachment_read_on_the_gui_thread(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    _add_server(store, await smtpd_factory("plain"))
    attachment = tmp_path / "programme.pdf"
    attachment.write_bytes(b"%PDF-1.4 programme")
    on_gui_thread: list[str] = []
    watching = [True]

    def sql(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if watching[0] and threading.current_thread() is threading.main_thread():
            on_gui_thread.append(statement)

    def audit(name: str, args: tuple[Any, ...]) -> None:
        on_gui = threading.current_thread() is threading.main_thread()
        if watching[0] and on_gui and name == "open" and str(args[0]) == str(attachment):
            on_gui_thread.append(f"open {attachment}")

    sys.addaudithook(audit)  # cannot be removed: ``watching`` turns it off
    event.listen(store.engine, "before_cursor_execute", sql)
    try:
        wizard = await _open(qtbot, window, prompts, _recipients(tmp_path, 3))
        wizard.next()
        prompts.answers = [str(attachment)]
        wizard.content._attach()
        _write_content(qtbot, wizard, "Hello {{ name }}")
        page = wizard.content
        await until(lambda: "Hello User 0" in page.preview_subject.text(), what="the preview")
        await _to_review(wizard)
        assert wizard.review.isComplete(), wizard.review.errors.text()
        await _sent(wizard)
        await window.bridge.drain()
    finally:
        watching[0] = False
        event.remove(store.engine, "before_cursor_execute", sql)
    assert on_gui_thread == []


async def test_a_from_name_with_a_line_break_says_why_the_page_is_incomplete(
    qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    wizard = await _open(qtbot, window, prompts, _recipients(tmp_path, 3))
    wizard.next()
    _write_content(qtbot, wizard, "Hello")
    page = wizard.content
    assert page.isComplete()
    page.from_name.setText("Example\nBcc: x@example.com")  # as a stored draft could hold it
    assert not page.isComplete()
    row = page.rows["from_name"]
    assert row.isVisibleTo(page) and "From name must be one line" in row.message_text
    page.from_name.setText("Example Ltd")
    assert page.isComplete() and row.message_text == ""


async def test_wizard_fields_ignore_the_wheel_and_the_window_fits_a_small_screen(
    qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    wizard = await _open(qtbot, window, prompts, _recipients(tmp_path, 3))
    area = available_area(wizard)
    assert area.width() < 980 or area.height() < 700  # the offscreen screen is the small one
    assert wizard.width() <= area.width() and wizard.height() <= area.height()
    spins_and_combos = wizard.findChildren(QAbstractSpinBox) + wizard.findChildren(QComboBox)
    assert spins_and_combos
    guard = wizard.findChild(WheelGuard)
    assert guard is not None
    rate = wizard.delivery.rate
    before = rate.value()
    wizard.recipients.setFocus()
    _wheel(rate)
    assert rate.value() == before and not rate.hasFocus()
