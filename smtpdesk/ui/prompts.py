"""Questions to the user behind one small service, so the logic that asks them is testable.

Every prompt is non-blocking: the dialog is shown with ``open()`` and the answer
arrives in a callback. Nothing here calls ``exec()`` (qasync's nested-loop trap).
Tests swap in :class:`ScriptedPrompts`, which answers from a list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

Unsaved = Literal["save", "discard", "cancel"]


class Prompts:
    """Asks with real dialogs."""

    def confirm(
        self,
        parent: QWidget,
        title: str,
        text: str,
        on_answer: Callable[[bool], None],
        *,
        action: str = "OK",
    ) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
        ok = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda _r: on_answer(box.clickedButton() is ok))
        box.open()

    def choose(
        self,
        parent: QWidget,
        title: str,
        text: str,
        choices: Sequence[tuple[str, str]],
        on_answer: Callable[[str], None],
        *,
        default: str = "",
    ) -> None:
        """One of ``choices`` (key, button text); the last is the safe one: the answer when
        the box is closed without a choice (Esc, its close button), and the default button
        unless ``default`` names another."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
        buttons = [
            (box.addButton(label, QMessageBox.ButtonRole.AcceptRole), key) for key, label in choices
        ]
        box.setDefaultButton(next((b for b, key in buttons if key == default), buttons[-1][0]))
        box.setEscapeButton(buttons[-1][0])

        def answer(_result: int) -> None:
            clicked = box.clickedButton()
            on_answer(next((key for button, key in buttons if button is clicked), choices[-1][0]))

        box.finished.connect(answer)
        box.open()

    def unsaved(self, parent: QWidget, what: str, on_answer: Callable[[Unsaved], None]) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Unsaved changes",
            f"{what} has changes that are not saved.",
            parent=parent,
        )
        box.setInformativeText("Save them before going on?")
        save = box.addButton(QMessageBox.StandardButton.Save)
        discard = box.addButton(QMessageBox.StandardButton.Discard)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(save)

        def answer(_result: int) -> None:
            clicked = box.clickedButton()
            on_answer("save" if clicked is save else "discard" if clicked is discard else "cancel")

        box.finished.connect(answer)
        box.open()

    def open_file(
        self, parent: QWidget, title: str, name_filter: str, on_answer: Callable[[str], None]
    ) -> None:
        dialog = QFileDialog(parent, title, "", name_filter)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(on_answer)
        dialog.open()

    def save_file(
        self, parent: QWidget, title: str, name_filter: str, on_answer: Callable[[str], None]
    ) -> None:
        dialog = QFileDialog(parent, title, "", name_filter)
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.fileSelected.connect(on_answer)
        dialog.open()


class ScriptedPrompts(Prompts):
    """Answers from ``answers`` in order and records each question (tests, screenshots)."""

    def __init__(self, answers: list[object] | None = None) -> None:
        self.answers = list(answers or [])
        self.asked: list[str] = []
        self.defaults: list[str] = []  # each choose()'s default button, by key

    def _next(self, question: str) -> object:
        self.asked.append(question)
        if not self.answers:
            raise AssertionError(f"unexpected prompt: {question}")
        return self.answers.pop(0)

    def confirm(
        self,
        parent: QWidget,
        title: str,
        text: str,
        on_answer: Callable[[bool], None],
        *,
        action: str = "OK",
    ) -> None:
        on_answer(bool(self._next(f"{title}: {text}")))

    def choose(
        self,
        parent: QWidget,
        title: str,
        text: str,
        choices: Sequence[tuple[str, str]],
        on_answer: Callable[[str], None],
        *,
        default: str = "",
    ) -> None:
        answer = self._next(f"{title}: {text}")
        assert answer in [key for key, _ in choices], (answer, choices)
        assert not default or default in [key for key, _ in choices], (default, choices)
        self.defaults.append(default or choices[-1][0])
        on_answer(str(answer))

    def unsaved(self, parent: QWidget, what: str, on_answer: Callable[[Unsaved], None]) -> None:
        answer = self._next(f"unsaved: {what}")
        assert answer in ("save", "discard", "cancel")
        on_answer(answer)

    def open_file(
        self, parent: QWidget, title: str, name_filter: str, on_answer: Callable[[str], None]
    ) -> None:
        on_answer(str(self._next(title)))

    def save_file(
        self, parent: QWidget, title: str, name_filter: str, on_answer: Callable[[str], None]
    ) -> None:
        on_answer(str(self._next(title)))
