"""The Content page's formats, layouts and preview as received (issue 15), as a user drives
them: the format switch converts the body and says what was lost, a layout is chosen and
inlined, the preview goes dark and phone-wide, the draft follows the typing, the layouts
window creates, duplicates and deletes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QWizard

from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.layouts import DEFAULT_LAYOUT, Layouts
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.campaign.recipients import import_file
from smtpdesk.core.store import Store
from smtpdesk.ui.layouts_window import LayoutsWindow
from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import ScriptedPrompts
from smtpdesk.ui.wizard.content_page import ContentPage
from smtpdesk.ui.wizard.wizard import CampaignWizard
from tests.helpers.smtpd import SmtpdFactory
from tests.ui.conftest import until
from tests.ui.test_wizard import _add_server, _open, _opened, _to_review, _write_content

NEWS = (
    "<html><head><style>p { color: #654321; }</style></head>"
    "<body><div class='news'>{{ content }}</div></body></html>"
)


def _recipients(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(
        "email,name\n" + "".join(f"user{i}@example.com,User {i}\n" for i in range(3)),
        encoding="utf-8",
    )
    return path


def _choose(page: ContentPage, fmt: str) -> None:
    page.format.setCurrentIndex(page.format.findData(fmt))


async def _content_page(
    qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> tuple[Any, ContentPage]:
    wizard = await _open(qtbot, window, prompts, _recipients(tmp_path))
    wizard.next()
    page = wizard.content
    _write_content(qtbot, wizard, "Hello {{ name }}")
    await until(lambda: page.layout_choice.count() > 1, what="the layouts")
    return wizard, page


async def test_the_format_switch_converts_the_body_and_warns_of_losses(
    qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    wizard, page = await _content_page(qtbot, window, prompts, tmp_path)
    page.html.setPlainText("<h1>News for {{ name }}</h1>\n<p>Read <b>this</b>.</p>")
    _choose(page, "markdown")
    assert page.html.toPlainText() == "# News for {{ name }}\n\nRead **this**.\n"
    assert page.format_note.text() == ""  # nothing lost
    assert page.layout_choice.currentData() == DEFAULT_LAYOUT  # Markdown gets the default
    await until(lambda: "News for User 0" in page.received_html, what="the Markdown preview")
    assert 'style="font-size: 26px;' in page.received_html  # inlined as the receiver gets it
    assert page.content().format == "markdown"

    _choose(page, "text")
    assert page.html.toPlainText() == "" and not page.bodies.isTabEnabled(0)
    assert page.text.toPlainText() == "News for {{ name }}\n\nRead this.\n"
    assert "no formatting" in page.format_note.text()
    assert not page.layout_choice.isEnabled()
    await until(lambda: page.received_html == "", what="a message without HTML")
    assert "Read this." in page.preview_text.toPlainText()
    assert page.content().layout_html == ""

    _choose(page, "html")
    assert page.html.toPlainText() == "<p>News for {{ name }}</p>\n<p>Read this.</p>\n"
    assert page.text.toPlainText() == ""  # made from the body again
    page.html.setPlainText('<table><tr><td style="color: red">{{ name }}</td></tr></table>')
    _choose(page, "markdown")
    assert "dropped" in page.format_note.text()
    wizard.reject()


async def test_a_saved_layout_is_chosen_and_the_preview_is_dark_phone_wide_and_in_a_browser(
    qtbot: Any, window: MainWindow, store: Store, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    Layouts(store).add("news", NEWS)
    wizard, page = await _content_page(qtbot, window, prompts, tmp_path)
    assert [page.layout_choice.itemData(i) for i in range(page.layout_choice.count())] == [
        "",
        DEFAULT_LAYOUT,
        "news",
    ]
    page.layout_choice.setCurrentIndex(page.layout_choice.findData("news"))
    await until(lambda: "#654321" in page.received_html, what="the layout's style")
    assert '<p style="color: #654321;">Hello User 0' in page.received_html
    assert page.content().layout_html == NEWS

    page.layout_choice.setCurrentIndex(page.layout_choice.findData(DEFAULT_LAYOUT))
    await until(lambda: "#ffffff" in page.received_html, what="the default layout")
    light = page.preview_html.toHtml()
    page.dark.setChecked(True)
    dark_column = re.compile(r'style="[^"]*background-color: #1b2430')  # the dark rule, applied
    assert dark_column.search(page.shown_html()) and not dark_column.search(page.received_html)
    assert page.preview_html.toHtml() != light
    page.width_choice.setCurrentText("Phone")
    assert page.preview_html.maximumWidth() == 375

    opened: list[QUrl] = []
    page.open_url = opened.append
    page.open_browser.click()
    assert page.browser_file is not None
    assert opened == [QUrl.fromLocalFile(str(page.browser_file))]
    assert dark_column.search(page.browser_file.read_text(encoding="utf-8"))
    page.browser_file.unlink()
    wizard.reject()


async def test_the_content_is_saved_with_the_new_draft_as_the_user_types(
    qtbot: Any, window: MainWindow, store: Store, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    wizard, page = await _content_page(qtbot, window, prompts, tmp_path)
    _choose(page, "markdown")
    page.html.setPlainText("# Saved as I type, {{ name }}")
    page.inline_images.setChecked(True)
    await until(lambda: page.drafts_saved >= 1, what="the draft save")
    await until(lambda: window.bridge.pending == 0, what="the write")
    campaign_id = wizard.state.campaign_id
    assert campaign_id is not None
    stored = Ledger(store).campaign(campaign_id).content
    assert stored.html == "# Saved as I type, {{ name }}"
    assert (stored.format, stored.layout) == ("markdown", DEFAULT_LAYOUT)
    assert stored.inline_images
    # a draft that went meanwhile (a new file, Cancel) is no error to show
    told: list[str] = []
    window.bridge.notifier.message.connect(lambda kind, text, hint: told.append(text))
    Ledger(store).delete_campaign(campaign_id)
    saves = page.drafts_saved
    page.save_draft()
    await until(lambda: window.bridge.pending == 0, what="the failed write")
    assert told == [] and page.drafts_saved == saves
    wizard.reject()


async def test_undo_redo_and_find_in_the_body(
    qtbot: Any, window: MainWindow, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    wizard, page = await _content_page(qtbot, window, prompts, tmp_path)
    before = page.html.toPlainText()
    page.html.setFocus()
    qtbot.keyClicks(page.html, " more")
    page.tools.undo.click()
    assert page.html.toPlainText() == before
    page.tools.redo.click()
    assert page.html.toPlainText() == " more" + before
    page.tools.find_text.setText("{{ name }}")
    assert page.tools.find_next()
    assert page.html.textCursor().selectedText() == "{{ name }}"
    page.tools.find_text.setText("nowhere to be found")
    assert not page.tools.find_next()
    wizard.reject()


async def test_the_layouts_window_creates_duplicates_and_deletes(
    qtbot: Any, window: MainWindow, store: Store, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    wizard, page = await _content_page(qtbot, window, prompts, tmp_path)
    page.show_layouts()
    layouts = page.layouts_window
    assert isinstance(layouts, LayoutsWindow)
    await until(lambda: layouts.names.count() == 1, what="the list")
    assert layouts.html.isReadOnly()  # the shipped default

    layouts.new_button.click()
    layouts.name.setText("spring")
    layouts.html.setPlainText("<p>no slot</p>")
    layouts.save_button.click()
    assert "{{ content }}" in layouts.html_row.message.text()  # refused, nothing written
    layouts.html.setPlainText(NEWS)
    layouts.save_button.click()
    await until(lambda: layouts.names.count() == 2, what="the new layout")
    await until(lambda: page.layout_choice.findData("spring") >= 0, what="the page's chooser")

    layouts.duplicate_button.click()
    assert layouts.name.text() == "spring copy"
    layouts.save_button.click()
    await until(lambda: layouts.names.count() == 3, what="the copy")

    prompts.answers = [True]
    layouts.delete_button.click()
    await until(lambda: layouts.names.count() == 2, what="the delete")
    assert Layouts(store).names() == [DEFAULT_LAYOUT, "spring"]
    layouts.close()
    wizard.reject()


async def test_review_shows_the_message_checks_and_blocks_an_image_from_a_local_file(
    qtbot: Any,
    window: MainWindow,
    store: Store,
    prompts: ScriptedPrompts,
    smtpd_factory: SmtpdFactory,
    tmp_path: Path,
) -> None:
    _add_server(store, await smtpd_factory("plain"))
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n")
    wizard, page = await _content_page(qtbot, window, prompts, tmp_path)
    page.html.setPlainText(
        f'<p>Hi {{{{ name }}}} <img src="https://cdn.example.com/a.png">'
        f'<img alt="Logo" src="{logo}"> <a href="http://localhost/x">here</a></p>'
    )
    await _to_review(wizard)
    review = wizard.review
    assert "1 image comes from files on this computer" in review.errors.text()
    warnings = review.warnings.text()
    assert "1 image has no alt text" in warnings and "1 link points at this computer" in warnings
    assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    for _ in range(3):
        wizard.back()
    assert wizard.currentPage() is page
    page.inline_images.setChecked(True)  # asked for: the file travels inside the message
    await _to_review(wizard)
    assert "files on this computer" not in review.errors.text()
    assert review.isComplete(), review.errors.text()
    wizard.reject()


async def test_an_edit_reopens_markdown_with_the_layout_copy_it_was_reviewed_with(
    qtbot: Any, window: MainWindow, store: Store, prompts: ScriptedPrompts, tmp_path: Path
) -> None:
    Layouts(store).add("news", NEWS)
    ledger = Ledger(store)
    content = CampaignContent(
        "Spring {{ name }}",
        "news@example.com",
        html="Hi {{ name }}",
        format="markdown",
        layout="news",
        layout_html=NEWS,
    )
    campaign_id = ledger.create_campaign("Spring", content)
    import_file(ledger, campaign_id, _recipients(tmp_path), "email")
    Layouts(store).edit("news", NEWS.replace("#654321", "#000000"))  # edited since
    wizard = CampaignWizard(window.bridge, prompts, parent=window, campaign_id=campaign_id)
    await _opened(wizard)
    wizard.next()
    page = wizard.content
    await until(
        lambda: "#654321" in page.received_html,
        what="the preview",
        describe=lambda: f": {page.error.text()!r} {page.received_html[:300]!r}",
    )
    assert page.format.currentData() == "markdown"
    assert page.layout_choice.currentData() == "news"
    assert page.html.toPlainText() == "Hi {{ name }}"  # not converted on the way in
    assert page.content().layout_html == NEWS
    wizard.reject()
