"""Syntax colours for the Content page's editors: HTML, Markdown and the Jinja tags in both."""

from __future__ import annotations

import re

from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextCharFormat, QTextDocument


def _format(colour: str, *, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(colour))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


# Mid-tone colours: readable on the light and on the dark palette.
_TAG = _format("#3b82c4")
_ATTR = _format("#b0751c")
_COMMENT = _format("#7f8c8d", italic=True)
_JINJA = _format("#2e9d5b", bold=True)
_HEADING = _format("#3b82c4", bold=True)
_EMPHASIS = _format("#9b59b6")
_LINK = _format("#b0751c")

_RULES = {
    "html": [
        (re.compile(r"</?[A-Za-z][\w:-]*|/?>"), _TAG),
        (re.compile(r"\s[\w:-]+(?==)"), _ATTR),
        (re.compile(r"<!--.*?-->"), _COMMENT),
    ],
    "markdown": [
        (re.compile(r"^#{1,6} .*$"), _HEADING),
        (re.compile(r"\*\*[^*]+\*\*|__[^_]+__|\*[^*\s][^*]*\*|_[^_\s][^_]*_"), _EMPHASIS),
        (re.compile(r"!?\[[^\]]*\]\([^)]*\)"), _LINK),
        (re.compile(r"^\s*(?:[-*+]|\d+\.) "), _TAG),
        (re.compile(r"^>.*$"), _COMMENT),
    ],
    "text": [],
}
_JINJA_RULE = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}")


class TemplateHighlighter(QSyntaxHighlighter):
    """Colours one editor's text for its format; the Jinja tags always stand out."""

    def __init__(self, document: QTextDocument, fmt: str = "html") -> None:
        super().__init__(document)
        self.format_name = fmt

    def set_format(self, fmt: str) -> None:
        if fmt != self.format_name:
            self.format_name = fmt
            self.rehighlight()

    def highlightBlock(self, text: str) -> None:
        for pattern, style in _RULES.get(self.format_name, []):
            for match in pattern.finditer(text):
                self.setFormat(match.start(), match.end() - match.start(), style)
        for match in _JINJA_RULE.finditer(text):
            self.setFormat(match.start(), match.end() - match.start(), _JINJA)
