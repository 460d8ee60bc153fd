"""From what the user wrote to the HTML and text templates the renderer personalises.

The steps, once per campaign (:func:`compose`, cached on the content's own text):

1. Markdown (``format = "markdown"``) becomes HTML with markdown-it-py; raw HTML in it is
   shown as text, never passed through: only the HTML format takes markup as it is.
2. The layout (``layout_html``, with one ``{{ content }}`` slot) wraps the body.
3. The layout's ``<style>`` rules are inlined into ``style`` attributes with css-inline
   (remote stylesheets are never loaded; ``@media`` rules stay in a ``<style>`` for the
   mail clients that read them: dark mode, phone widths).
4. The text part is made from the HTML (html2text) unless the user wrote one.

Every step keeps the Jinja tags intact, so the result is still one template per part and
each recipient costs one Jinja render, as before layouts existed. Tags are swapped for
plain placeholders while Markdown and css-inline parse the page. When that cannot be
trusted (a tag inside CSS, or one the HTML parser moved, as it moves text that stands
between table rows), the CSS is inlined after each recipient's render instead
(:attr:`Composed.inline_each`): slower, always right.

No Qt here, and no database: the layout's HTML travels in the content.
"""

from __future__ import annotations

import functools
import hashlib
import html as html_lib
import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import css_inline
import html2text
from markdown_it import MarkdownIt

from smtpdesk.core.settings import Problem

FORMATS = ("html", "markdown", "text")
SLOT_MESSAGE = "a layout needs exactly one {{ content }} slot, where the message goes"
SLOT_HINT = "put {{ content }} once inside the layout's main cell"
FORMAT_LABELS = {"html": "HTML", "markdown": "Markdown", "text": "Plain text"}
SLOT = re.compile(r"{{-?\s*content\s*-?}}")
_JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.DOTALL)
_MARK = "smtpdeskjinja{}x"
_MARK_RE = re.compile(r"smtpdeskjinja(\d+)x")
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_STYLE_ATTR = re.compile(r"""\bstyle\s*=\s*("[^"]*"|'[^']*')""", re.IGNORECASE)
_NEEDS_INLINING = re.compile(r"<style\b|<link\b", re.IGNORECASE)


@dataclass(frozen=True)
class Composed:
    """The HTML and text templates of a campaign, ready for Jinja."""

    html: str  # "" for a plain-text message
    text: str
    inline_each: bool = False  # inline the CSS after each recipient's render
    images: tuple[tuple[str, str], ...] = ()  # (Content-ID, file path): images sent inline


def markdown_parser() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML is escaped, links validated."""
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


_MARKDOWN = markdown_parser()


def protect(source: str) -> tuple[str, list[str]]:
    """``source`` with each Jinja tag replaced by a placeholder of letters and digits."""
    tags: list[str] = []

    def swap(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return _MARK.format(len(tags) - 1)

    return _JINJA.sub(swap, source), tags


def restore(text: str, tags: list[str]) -> str:
    return _MARK_RE.sub(lambda m: tags[int(m.group(1))], text)


def markdown_to_html(source: str) -> str:
    """The HTML for a Markdown body; its Jinja tags come through unchanged."""
    protected, tags = protect(source)
    return restore(_MARKDOWN.render(protected), tags)


def apply_layout(body: str, layout_html: str) -> str:
    """``body`` in the layout's ``{{ content }}`` slot (the body itself when no layout)."""
    if not layout_html:
        return body
    return SLOT.sub(lambda _m: body, layout_html, count=1)


def layout_without_slot(layout_html: str) -> str:
    """The layout's own template text: what it asks of the recipients besides the body."""
    return SLOT.sub("", layout_html)


@functools.lru_cache(maxsize=8)
def _inliner() -> css_inline.CSSInliner:
    return css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


def inline_css(html: str) -> str:
    """``html`` with its ``<style>`` rules in ``style`` attributes (no remote stylesheet)."""
    if not _NEEDS_INLINING.search(html):
        return html
    return _inliner().inline(html)


def jinja_in_css(html: str) -> bool:
    """Whether a Jinja tag stands inside a ``<style>`` block or a ``style`` attribute."""
    blocks = (m.group(1) for m in _STYLE_BLOCK.finditer(html))
    attrs = (m.group(1) for m in _STYLE_ATTR.finditer(html))
    return any(_JINJA.search(css) for css in (*blocks, *attrs))


def inline_template(html: str) -> str | None:
    """The template with its CSS inlined, or None when that must wait for each recipient."""
    if not _NEEDS_INLINING.search(html):
        return html
    if jinja_in_css(html):
        return None
    protected, tags = protect(html)
    inlined = _inliner().inline(protected)
    found = [int(n) for n in _MARK_RE.findall(inlined)]
    if found != list(range(len(tags))) or re.search(r"smtpdeskjinja\d+x=", inlined):
        return None  # a tag was moved, dropped or read as an attribute name
    return restore(inlined, tags)


def body_html(fmt: str, source: str) -> str:
    """The body's HTML template for the chosen format ("" for plain text)."""
    if fmt == "markdown":
        return markdown_to_html(source)
    if fmt == "text":
        return ""
    return source


class _Content(Protocol):
    @property
    def format(self) -> str: ...
    @property
    def html(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def layout_html(self) -> str: ...
    @property
    def inline_images(self) -> bool: ...


def compose(content: _Content) -> Composed:
    """The campaign's HTML and text templates (cached: the same content composes once)."""
    return _compose(
        content.format, content.html, content.text, content.layout_html, content.inline_images
    )


def format_problems(fmt: str, layout_html: str) -> list[Problem]:
    """The format must be known; a layout needs exactly one ``{{ content }}`` slot."""
    problems = []
    if fmt not in FORMATS:
        problems.append(
            Problem("format", "error", f"unknown format {fmt!r}", "html, markdown or text")
        )
    if layout_html and len(SLOT.findall(layout_html)) != 1:
        problems.append(Problem("layout", "error", SLOT_MESSAGE, SLOT_HINT))
    return problems


def page_to_text(html: str, *, layout: bool = False) -> str:
    """The text part for an HTML template, its Jinja tags intact.

    In a layout, tables are structure (a centred column), not data: their cells become
    paragraphs instead of Markdown tables.
    """
    protected, tags = protect(html)
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_tables = layout
    text = re.sub(r"[ \t]+\n", "\n", converter.handle(protected)).strip() + "\n"
    return restore(re.sub(r"\n{3,}", "\n\n", text), tags)


@functools.lru_cache(maxsize=32)
def _compose(fmt: str, html: str, text: str, layout_html: str, inline_images: bool) -> Composed:
    body = body_html(fmt, html)
    if not body.strip():
        return Composed("", text)
    page = apply_layout(body, layout_html)
    text_source = text or page_to_text(page, layout=bool(layout_html))
    images: tuple[tuple[str, str], ...] = ()
    if inline_images:
        page, images = cid_images(page)
    inlined = inline_template(page)
    if inlined is None:
        return Composed(page, text_source, inline_each=True, images=images)
    return Composed(inlined, text_source, images=images)


_IMG_SRC = re.compile(r"""(<img\b[^>]*?\bsrc\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)


def image_path(src: str) -> str | None:
    """The file an image's ``src`` names when it can be sent inline: an absolute path or a
    file: URL (a relative one has no folder to be relative to); None otherwise."""
    if _JINJA.search(src):
        return None
    parts = urlsplit(src)
    if parts.scheme.lower() == "file":
        return url2pathname(unquote(parts.path))
    if src.startswith("/") or re.match(r"[A-Za-z]:[\\/]", src):
        return src
    return None


def cid_images(html: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """``html`` with each local image's ``src`` made ``cid:...``, and (Content-ID, path)."""
    found: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        path = image_path(html_lib.unescape(match.group(3)))
        if path is None:
            return match.group(0)
        cid = found.setdefault(
            path, hashlib.sha256(path.encode()).hexdigest()[:20] + "@smtpdesk.invalid"
        )
        return f"{match.group(1)}{match.group(2)}cid:{cid}{match.group(2)}"

    changed = _IMG_SRC.sub(swap, html)
    return changed, tuple((cid, path) for path, cid in found.items())


# --- switching formats ------------------------------------------------------------------

_PLAIN_TAGS = re.compile(
    r"</?(p|br|h[1-6]|strong|b|em|i|a|ul|ol|li|blockquote|code|pre|hr|img|del|s)\b[^>]*>",
    re.IGNORECASE,
)


def _html_has_more_than_markdown(html: str) -> bool:
    """Whether ``html`` uses tags or attributes Markdown has no way to write."""
    rest = _PLAIN_TAGS.sub("", _JINJA.sub("", html))
    if re.search(r"<[a-z!/]", rest, re.IGNORECASE):
        return True  # a table, a div, a style block, a comment...
    for tag in re.findall(r"<[a-z][^>]*>", html, re.IGNORECASE):
        attrs = re.findall(r"\s([a-z-]+)\s*=", tag, re.IGNORECASE)
        if any(a.lower() not in ("href", "src", "alt", "title") for a in attrs):
            return True
    return False


def convert(source: str, old: str, new: str) -> tuple[str, str]:
    """``source`` written in format ``old`` rewritten in ``new``, and what was lost ("" if
    nothing). Jinja tags come through unchanged."""
    if old == new or not source.strip():
        return source, ""
    if new == "html":
        if old == "markdown":
            return markdown_to_html(source), ""
        paragraphs = [p for p in re.split(r"\n\s*\n", source.strip()) if p.strip()]
        return "\n".join(_text_paragraph(p) for p in paragraphs) + "\n", ""
    if new == "markdown":
        if old == "text":
            return source, ""
        lost = (
            "formatting Markdown cannot write (styles, classes, tables for layout, colours) "
            "was dropped"
            if _html_has_more_than_markdown(source)
            else ""
        )
        return page_to_text(source), lost
    # to plain text: the words and the link addresses stay, the formatting goes
    html = markdown_to_html(source) if old == "markdown" else source
    return _plain_text(html), "plain text has no formatting: headings, emphasis and images go"


def _text_paragraph(paragraph: str) -> str:
    protected, tags = protect(paragraph.strip())
    escaped = protected.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "<p>" + restore(escaped.replace("\n", "<br>\n"), tags) + "</p>"


def _plain_text(html: str) -> str:
    """Text without Markdown marks: what a plain-text message says, links as their URL."""
    protected, tags = protect(html)
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.ignore_tables = True
    text = converter.handle(protected)
    text = re.sub(r"^#+ ", "", text, flags=re.MULTILINE)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return restore(re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", tags)


# --- the preview as received ---------------------------------------------------------------

_DARK = re.compile(r"@media[^{]*prefers-color-scheme\s*:\s*dark[^{]*{", re.IGNORECASE)


def dark_rules(html: str) -> str:
    """The CSS inside the page's ``@media (prefers-color-scheme: dark)`` blocks."""
    rules = []
    for match in _DARK.finditer(html):
        depth, start = 1, match.end()
        for index in range(start, len(html)):
            depth += {"{": 1, "}": -1}.get(html[index], 0)
            if depth == 0:
                rules.append(html[start:index])
                break
    return "\n".join(rules)


def preview_page(html: str, *, dark: bool = False) -> str:
    """The received HTML as a dark-mode client shows it (its dark rules applied), or as is.

    A client that honours ``prefers-color-scheme`` applies those rules over the inlined
    styles (they carry ``!important``); a preview widget without media queries gets them
    inlined, and a plain dark page behind a message that has none.
    """
    if not dark or not html:
        return html
    rules = dark_rules(html)
    if not rules:
        rules = "body { background-color: #111820; color: #e4e7eb; }"
        if "<body" not in html.lower():
            html = f"<html><body>{html}</body></html>"
    return css_inline.CSSInliner(load_remote_stylesheets=False, extra_css=rules).inline(html)
