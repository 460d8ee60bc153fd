"""The real prompts open without exec() and answer through their callback."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from smtpdesk.ui.main_window import MainWindow
from smtpdesk.ui.prompts import Prompts
from tests.ui.conftest import until


async def test_choose_answers_the_clicked_choice_and_esc_is_the_last(window: MainWindow) -> None:
    answers: list[str] = []
    choices = [("pause", "Pause and quit"), ("stay", "Don't quit")]
    for click in ("Pause and quit", None):
        Prompts().choose(window, "Campaigns are sending", "1 campaign", choices, answers.append)
        box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
        assert box.defaultButton().text() == "Don't quit"  # the safe one
        if click is None:
            box.reject()  # Esc, or the window's close button
        else:
            next(b for b in box.buttons() if b.text() == click).click()
        await until(lambda b=box: not b.isVisible(), what="the box to close")
        box.deleteLater()
    assert answers == ["pause", "stay"]


async def test_choose_can_make_another_choice_the_default_while_esc_stays_the_last(
    window: MainWindow,
) -> None:
    """The quit prompt: Keep sending is the default button; Esc still means Don't quit."""
    answers: list[str] = []
    choices = [("keep", "Keep sending"), ("pause", "Pause and quit"), ("stay", "Don't quit")]
    for press in ("Return", "Esc"):
        Prompts().choose(
            window, "Campaigns are sending", "1", choices, answers.append, default="keep"
        )
        box = next(b for b in window.findChildren(QMessageBox) if b.isVisible())
        assert box.defaultButton().text() == "Keep sending"
        if press == "Esc":
            box.reject()
        else:
            box.defaultButton().click()
        await until(lambda b=box: not b.isVisible(), what="the box to close")
        box.deleteLater()
    assert answers == ["keep", "stay"]
