"""Saved layouts in a real SQLite file, and ``smtpdesk template ...`` with good and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smtpdesk.cli import main
from smtpdesk.core.campaign.layouts import DEFAULT_LAYOUT, Layouts, default_layout_html
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.errors import InvalidSettingsError, NotFoundError
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import Store, open_store

LAYOUT = "<html><head><style>p { color: #333; }</style></head><body>{{ content }}</body></html>"


def test_layouts_are_saved_listed_edited_duplicated_and_removed(store: Store) -> None:
    layouts = Layouts(store)
    layouts.add("news", LAYOUT)
    layouts.duplicate("news", "news copy")
    layouts.edit("news copy", LAYOUT.replace("#333", "#000"))
    assert layouts.names() == [DEFAULT_LAYOUT, "news", "news copy"]
    assert "#000" in layouts.get("news copy").html and "#333" in layouts.get("news").html
    layouts.remove("news")
    assert layouts.names() == [DEFAULT_LAYOUT, "news copy"]
    assert layouts.get(DEFAULT_LAYOUT).html == default_layout_html()


@pytest.mark.parametrize(
    ("name", "html", "words"),
    [
        ("", LAYOUT, "needs a name"),
        ("default", LAYOUT, "shipped with the app"),
        ("x", "<p>no slot</p>", "{{ content }} slot"),
        ("x", "{{ content }}{{ content }}", "{{ content }} slot"),
        ("x", "{{ content }}{% if %}", "template error"),
        (" x", LAYOUT, "one line"),
    ],
)
def test_bad_layouts_are_refused_and_nothing_is_written(
    store: Store, name: str, html: str, words: str
) -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        Layouts(store).add(name, html)
    assert words in str(caught.value)
    assert Layouts(store).names() == [DEFAULT_LAYOUT]


def test_the_default_layout_cannot_be_changed_or_removed(store: Store) -> None:
    with pytest.raises(InvalidSettingsError):
        Layouts(store).edit(DEFAULT_LAYOUT, LAYOUT)
    with pytest.raises(InvalidSettingsError):
        Layouts(store).remove(DEFAULT_LAYOUT)
    with pytest.raises(NotFoundError):
        Layouts(store).remove("nope")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_template_commands_end_to_end(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "news.html"
    source.write_text(LAYOUT, encoding="utf-8")
    assert run(capsys, "template", "add", "news", "--html-file", str(source))[0] == 0
    code, out, _ = run(capsys, "template", "list", "--json")
    assert code == 0
    assert [(r["name"], r["builtin"]) for r in json.loads(out)] == [
        ("default", True),
        ("news", False),
    ]
    assert run(capsys, "template", "show", "news")[1] == LAYOUT + "\n"
    source.write_text(LAYOUT.replace("#333", "#111"), encoding="utf-8")
    assert run(capsys, "template", "edit", "news", "--html-file", str(source))[0] == 0
    exported = tmp_path / "out.html"
    assert run(capsys, "template", "export", "news", str(exported))[0] == 0
    assert "#111" in exported.read_text(encoding="utf-8")
    assert run(capsys, "template", "remove", "news")[0] == 0
    assert "news" not in run(capsys, "template", "list")[1]


def test_template_commands_refuse_bad_input_with_exit_2_and_write_nothing(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    no_slot = tmp_path / "bad.html"
    no_slot.write_text("<p>hello</p>", encoding="utf-8")
    latin = tmp_path / "latin.html"
    latin.write_bytes("{{ content }} caf\xe9".encode("latin-1"))
    cases = [
        ("template", "add", "x", "--html-file", str(no_slot)),
        ("template", "add", "x", "--html-file", str(tmp_path / "missing.html")),
        ("template", "add", "x", "--html-file", str(latin)),
        ("template", "add", "default", "--html-file", str(no_slot)),
        ("template", "edit", "nope", "--html-file", str(no_slot)),
        ("template", "remove", "nope"),
        ("template", "remove", "default"),
        ("template", "show", "nope"),
    ]
    for argv in cases:
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert err.startswith("error: "), argv
    store = open_store(data_dir)
    try:
        assert Layouts(store).names() == [DEFAULT_LAYOUT]
    finally:
        store.close()


def create_args(tmp_path: Path, *extra: str) -> list[str]:
    people = tmp_path / "people.csv"
    people.write_text("email,name\nann@example.com,Ann\n", encoding="utf-8")
    body = tmp_path / "body.md"
    body.write_text("# Hello {{ name }}\n\n[Unsubscribe](https://example.com/u)\n", "utf-8")
    return [
        "campaign",
        "create",
        "--name",
        "Spring",
        "--recipients",
        str(people),
        "--subject",
        "Hi",
        "--from",
        "news@example.com",
        "--markdown-file",
        str(body),
        *extra,
    ]


def test_campaign_create_with_markdown_gets_the_default_layout_or_the_one_named(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store(data_dir)
    save_server(store, {"host": "smtp.example.com", "auth_protocol": "none"})
    store.close()
    code, out, _ = run(capsys, *create_args(tmp_path))
    assert code == 0
    source = tmp_path / "news.html"
    source.write_text(LAYOUT, encoding="utf-8")
    run(capsys, "template", "add", "news", "--html-file", str(source))
    code, out2, _ = run(capsys, *create_args(tmp_path, "--layout", "news"))
    assert code == 0
    store = open_store(data_dir)
    try:
        ledger = Ledger(store)
        first = ledger.campaign(int(out.strip().splitlines()[-1])).content
        second = ledger.campaign(int(out2.strip().splitlines()[-1])).content
    finally:
        store.close()
    assert (first.format, first.layout, first.layout_html) == (
        "markdown",
        DEFAULT_LAYOUT,
        default_layout_html(),
    )
    assert (second.layout, second.layout_html) == ("news", LAYOUT)
    assert "# Hello {{ name }}" in second.html


def test_campaign_create_refuses_an_unknown_layout_and_two_bodies(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *create_args(tmp_path, "--layout", "nope"))
    assert code == 2 and "No layout is called 'nope'" in err
    html = tmp_path / "b.html"
    html.write_text("<p>x</p>", encoding="utf-8")
    with pytest.raises(SystemExit) as caught:
        main(create_args(tmp_path, "--html-file", str(html)))
    assert caught.value.code == 2
    text_only = [a for a in create_args(tmp_path) if a != "--markdown-file"]
    text_only.remove(str(tmp_path / "body.md"))
    code, _, err = run(capsys, *text_only, "--text-file", str(html), "--layout", "default")
    assert code == 2 and "plain-text message has no layout" in err
    store = open_store(data_dir)
    try:
        assert Ledger(store).list_campaigns() == []
    finally:
        store.close()
