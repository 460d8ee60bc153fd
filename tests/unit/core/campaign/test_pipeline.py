"""The content pipeline: Markdown -> layout -> inlined CSS -> text, and the shipped layout."""

from __future__ import annotations

import email
import http.server
import re
import threading
from html.parser import HTMLParser
from pathlib import Path

import pytest

from smtpdesk.core.campaign.checks import CLIP_BYTES, check_html
from smtpdesk.core.campaign.content import (
    CampaignContent,
    ContentError,
    Renderer,
    preview,
    require_valid,
    template_requirements,
)
from smtpdesk.core.campaign.layouts import default_layout_html
from smtpdesk.core.campaign.pipeline import (
    compose,
    convert,
    inline_css,
    markdown_to_html,
    preview_page,
)

GOLDEN = Path(__file__).with_name("golden")
FIELDS = {"email": "ann@example.com", "name": "Ann & Bob"}


def markdown_content(**changes: str) -> CampaignContent:
    values = {
        "subject": "News for {{ name }}",
        "from_address": "news@example.com",
        "html": (GOLDEN / "newsletter.md").read_text(encoding="utf-8"),
        "format": "markdown",
        "layout": "default",
        "layout_html": default_layout_html(),
        **changes,
    }
    return CampaignContent(**values)


def test_markdown_in_the_default_layout_matches_the_golden_html_and_text() -> None:
    shown = preview(markdown_content(), FIELDS)
    assert shown.html == (GOLDEN / "newsletter.html").read_text(encoding="utf-8")
    assert shown.text == (GOLDEN / "newsletter.txt").read_text(encoding="utf-8")


def test_the_sent_message_carries_the_inlined_html_and_the_text_part() -> None:
    message = email.message_from_bytes(preview(markdown_content(), FIELDS).message)
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in message.walk()
        if not p.is_multipart()
    }
    assert 'style="font-size: 26px;' in parts["text/html"]  # the <h1> rule, inlined
    assert "prefers-color-scheme: dark" in parts["text/html"]  # @media kept for the clients
    assert "News for Ann & Bob" in parts["text/plain"]


def test_raw_html_in_markdown_is_text_but_html_format_keeps_it() -> None:
    assert "&lt;b&gt;raw&lt;/b&gt;" in markdown_to_html("<b>raw</b> and **bold**")
    as_html = preview(
        CampaignContent(subject="s", from_address="a@example.com", html="<b>raw</b>"), FIELDS
    )
    assert "<b>raw</b>" in as_html.html


def test_fields_are_escaped_after_markdown_and_inlining() -> None:
    shown = preview(markdown_content(), {"email": "x@example.com", "name": "<script>"})
    assert "<script>" not in shown.html
    assert "&lt;script&gt;" in shown.html


def test_the_layout_is_composed_once_and_each_recipient_only_renders() -> None:
    content = markdown_content()
    assert compose(content) is compose(markdown_content())  # cached on the content's text
    composed = compose(content)
    assert not composed.inline_each
    assert "{{ name }}" in composed.html and "<style>" in composed.html
    assert 'style="font-size: 26px;' in composed.html  # inlined before any recipient


def test_jinja_inside_css_is_inlined_after_each_render() -> None:
    layout = (
        "<html><head><style>p { color: {{ colour }}; }</style></head>"
        "<body>{{ content }}</body></html>"
    )
    content = markdown_content(html="Hello {{ name }}", layout_html=layout)
    assert compose(content).inline_each
    renderer = Renderer(content)
    _, html, _ = renderer.render_parts({**FIELDS, "colour": "#123456"})
    assert html is not None and 'style="color: #123456;"' in html


def test_a_tag_the_html_parser_would_move_falls_back_to_inlining_each_message() -> None:
    layout = (
        "<html><head><style>td { padding: 4px; }</style></head><body><table>"
        "{% for n in range(2) %}<tr><td>row {{ n }}</td></tr>{% endfor %}"
        "</table>{{ content }}</body></html>"
    )
    content = markdown_content(html="Hi", layout_html=layout)
    assert compose(content).inline_each
    _, html, _ = Renderer(content).render_parts(FIELDS)
    assert html is not None
    assert html.count('<td style="padding: 4px;">row') == 2


def test_remote_stylesheets_are_never_loaded() -> None:
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"p { color: red; }")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/style.css"
        page = f'<html><head><link rel="stylesheet" href="{url}"></head><body><p>x</p></body>'
        inlined = inline_css(page)
    finally:
        server.shutdown()
        thread.join()
        server.server_close()
    assert requests == []
    assert "color: red" not in inlined


def test_plain_text_format_sends_no_html_part_even_with_html_left_over() -> None:
    content = CampaignContent(
        subject="s",
        from_address="a@example.com",
        html="<p>old</p>",
        text="Hi {{ name }}",
        format="text",
    )
    message = email.message_from_bytes(preview(content, FIELDS).message)
    assert message.get_content_type() == "text/plain"
    assert "Hi Ann & Bob" in message.get_payload(decode=True).decode()


def test_a_written_text_part_is_kept() -> None:
    shown = preview(markdown_content(text="Short: {{ name }}"), FIELDS)
    assert shown.text == "Short: Ann & Bob"


def test_unknown_format_and_a_layout_without_its_slot_are_refused() -> None:
    with pytest.raises(ContentError) as caught:
        require_valid(markdown_content(format="rst"))
    assert "unknown format" in str(caught.value)
    with pytest.raises(ContentError) as caught:
        require_valid(markdown_content(layout_html="<html><body>no slot</body></html>"))
    assert "{{ content }}" in str(caught.value)


def test_fields_used_by_the_layout_are_required_but_its_slot_is_not() -> None:
    layout = "<html><body>{{ content }}<p>Hi {{ city }}</p></body></html>"
    needs = template_requirements(markdown_content(html="x", layout_html=layout))
    assert needs["layout"] == {"city"}
    assert all("content" not in names for names in needs.values())


# --- the shipped default layout -------------------------------------------------------


class _Layout(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, str | None]] = []
        self.meta: dict[str, str] = {}
        self.links: list[str] = []
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table":
            self.tables.append(values)
        elif tag == "meta" and values.get("name"):
            self.meta[str(values["name"])] = str(values.get("content"))
        elif tag in ("a", "link"):
            self.links.append(str(values.get("href")))
        self._in_style = tag == "style"

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.style += data


@pytest.fixture
def layout() -> _Layout:
    parsed = _Layout()
    parsed.feed(default_layout_html())
    return parsed


def test_the_default_layout_is_tables_with_a_max_width(layout: _Layout) -> None:
    assert layout.tables and all(t.get("role") == "presentation" for t in layout.tables)
    assert re.search(r"max-width:\s*600px", layout.style)
    assert len(re.findall(r"{{\s*content\s*}}", default_layout_html())) == 1


def test_the_default_layout_has_dark_mode_colours(layout: _Layout) -> None:
    assert layout.meta.get("color-scheme") == "light dark"
    dark = layout.style.split("prefers-color-scheme: dark", 1)[1]
    assert "background-color" in dark and "color:" in dark


def test_the_default_layout_passes_the_clipping_and_link_rules(layout: _Layout) -> None:
    # no stylesheet or link of its own but the campaign's unsubscribe link
    assert layout.links == ["{{ unsubscribe_url or unsubscribe_mailto }}"]
    shown = preview(markdown_content(), FIELDS)
    found = check_html(
        shown.html, text=shown.text, unsubscribe_url="https://example.com/unsubscribe"
    )
    assert found.errors == [] and found.warnings == []
    assert len(shown.html.encode()) < CLIP_BYTES / 10  # room for the message itself


# --- switching formats, and the dark preview -------------------------------------------


def test_markdown_to_html_and_back_keeps_the_words_and_the_tags() -> None:
    source = "# Hi {{ name }}\n\nRead [this](https://x.example/{{ id }}) **now**.\n"
    html, lost = convert(source, "markdown", "html")
    assert lost == ""
    assert html == (
        '<h1>Hi {{ name }}</h1>\n<p>Read <a href="https://x.example/{{ id }}">this</a> '
        "<strong>now</strong>.</p>\n"
    )
    back, lost = convert(html, "html", "markdown")
    assert (back, lost) == (source, "")


def test_html_markdown_cannot_write_is_reported_as_lost() -> None:
    _, lost = convert('<p style="color: red">Hi</p>', "html", "markdown")
    assert "dropped" in lost
    _, lost = convert("<table><tr><td>Hi</td></tr></table>", "html", "markdown")
    assert "dropped" in lost


def test_to_plain_text_drops_the_formatting_and_says_so() -> None:
    text, lost = convert(
        "# Hi {{ name }}\n\n**Bold** and ![logo](https://x/l.png)", "markdown", "text"
    )
    assert text == "Hi {{ name }}\n\nBold and\n"
    assert "no formatting" in lost


def test_plain_text_becomes_escaped_paragraphs() -> None:
    html, lost = convert("Hi {{ name }} <3\nsecond line\n\nnext", "text", "html")
    assert html == "<p>Hi {{ name }} &lt;3<br>\nsecond line</p>\n<p>next</p>\n"
    assert lost == ""
    assert convert("same", "text", "markdown") == ("same", "")


def test_the_dark_preview_applies_the_layouts_dark_rules() -> None:
    received = preview(markdown_content(), FIELDS).html
    dark = preview_page(received, dark=True)
    assert re.search(r'class="column"[^>]*style="[^"]*background-color: #1b2430', dark)
    assert not re.search(r'style="[^"]*#1b2430', received)
    assert preview_page(received) == received
    plain = preview_page("<p>no dark rules</p>", dark=True)
    assert "background-color: #111820" in plain  # a dark client's own background


def test_the_default_layout_prints_the_campaigns_unsubscribe_link() -> None:
    content = markdown_content(html="Hello {{ name }}", unsubscribe_mailto="leave@example.com")
    shown = preview(content, FIELDS)
    assert 'href="mailto:leave@example.com"' in shown.html
    assert "[Unsubscribe](mailto:leave@example.com)" in shown.text
    found = check_html(shown.html, text=shown.text, unsubscribe_mailto="leave@example.com")
    assert found.warnings == []
    without = preview(markdown_content(html="Hello {{ name }}"), FIELDS)
    assert "Unsubscribe" not in without.html
