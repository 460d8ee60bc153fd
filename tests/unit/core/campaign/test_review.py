"""The checks before a campaign starts: fields that are no column, empty cells, the render of
every recipient, the figures, and the drafts the wizard saves."""

from __future__ import annotations

import threading
import time

import pytest

from smtpdesk.core.campaign import render_limits
from smtpdesk.core.campaign.content import CampaignContent, Renderer, TemplateError
from smtpdesk.core.campaign.drafts import adopt_recipients, save_draft
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.campaign.review import (
    SYSTEMATIC_IN_A_ROW,
    SYSTEMATIC_TOTAL,
    RenderProgress,
    RenderStopped,
    blank_fields,
    close_match,
    effective_concurrency,
    field_problems,
    render_all,
    review,
    start_problem,
    template_fields,
)
from smtpdesk.core.campaign.trial import parse_addresses
from smtpdesk.core.errors import KnownError
from smtpdesk.core.servers import save_server
from smtpdesk.core.settings import POOL_NAME
from smtpdesk.core.store import Store


def _campaign(
    ledger: Ledger, content: CampaignContent, rows: list[dict[str, str]], columns: list[str]
) -> int:
    campaign = ledger.create_campaign("c", content)
    ledger.insert_recipients(
        campaign,
        [
            {"line": i + 2, "email": f"u{i}@example.com", "fields": fields}
            for i, fields in enumerate(rows)
        ],
    )
    ledger.add_fields(campaign, columns)
    return campaign


def test_close_match_prefers_the_same_letters_in_another_case() -> None:
    assert close_match("name", ["email", "Name", "names"]) == "Name"
    assert close_match("frist_name", ["first_name", "city"]) == "first_name"
    assert close_match("zip", ["first_name", "city"]) == ""


def test_field_problems_name_the_field_where_it_is_used_the_columns_and_a_close_match() -> None:
    content = CampaignContent(
        "Hi {{ name }}",
        "a@example.com",
        html="<p>{{ name }} {{ Name }}</p>{% for x in items %}{{ x }}{% endfor %}",
        headers=(("X-Ref", "{{ ref }}"),),
        unsubscribe_url="https://x.test/u?e={{ emial }}",
    )
    problems = {p.field: p for p in field_problems(content, ["Name", "items"])}
    assert set(problems) == {"name", "ref", "emial"}
    name = problems["name"]
    assert (name.parts, name.close, name.severity) == (("subject", "HTML body"), "Name", "error")
    assert str(name) == (
        "{{ name }} in the subject and HTML body is not a column of the recipient file. "
        "Did you mean {{ Name }}? The fields are: email, Name, items."
    )
    assert problems["ref"].parts == ("header X-Ref",)
    assert problems["emial"].parts == ("unsubscribe address",)
    assert problems["emial"].close == "email"


def test_a_guarded_unknown_field_is_a_warning() -> None:
    content = CampaignContent("{{ nick | default('you') }}", "a@example.com", text="x")
    (problem,) = field_problems(content, ["name"])
    assert problem.guarded and problem.severity == "warning"
    assert "always renders its default" in str(problem)


def test_a_template_that_does_not_compile_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="subject has a template error"):
        field_problems(CampaignContent("{{ name ", "a@example.com", text="x"), ["name"])


def test_an_empty_cell_renders_empty_and_takes_a_default() -> None:
    content = CampaignContent(
        "[{{ name }}]", "a@example.com", text="{{ name | default('friend') }}"
    )
    renderer = Renderer(content)
    blanks = blank_fields(["name", "email"])
    assert renderer.render_parts(template_fields("a@example.com", {}, blanks))[::2] == (
        "[]",
        "friend",
    )
    full = template_fields("a@example.com", {"name": "Ann"}, blanks)
    assert renderer.render_parts(full)[::2] == ("[Ann]", "Ann")
    with pytest.raises(TemplateError):  # a name that is no column still fails
        Renderer(CampaignContent("{{ nope }}", "a@example.com", text="x")).render_parts(full)


def test_render_all_counts_every_recipient_and_keeps_the_first_errors(store: Store) -> None:
    ledger = Ledger(store)
    content = CampaignContent("Hi {{ name }}", "a@example.com", text="{{ 1 // n|int }}")
    rows = [{"name": "A", "n": "1"}, {"name": "B", "n": "0"}, {"name": "", "n": "2"}]
    campaign = _campaign(ledger, content, rows, ["name", "n"])
    progress = RenderProgress()
    check = render_all(ledger, campaign, content, ["name", "n"], progress)
    assert (check.total, check.rendered, check.errors) == (3, 2, 1)
    assert str(check) == "2 of 3 rendered, 1 errors"
    assert check.samples[0].startswith("line 3 (u1@example.com):")
    assert (progress.done, progress.total) == (3, 3)


def test_render_all_stops_when_asked(store: Store) -> None:
    ledger = Ledger(store)
    content = CampaignContent("Hi", "a@example.com", text="x")
    campaign = _campaign(ledger, content, [{}] * 10, [])
    progress = RenderProgress()
    progress.stop.set()
    with pytest.raises(RenderStopped):
        render_all(ledger, campaign, content, [], progress)
    assert progress.done == 0


def test_review_blocks_an_unknown_field_and_warns_about_empty_cells_and_servers(
    store: Store,
) -> None:
    save_server(store, {"host": "on.example.org"})
    save_server(store, {"host": "off.example.org", "enabled": False})
    ledger = Ledger(store)
    content = CampaignContent("Hi {{ Name }}", "news@example.com", html="<p>{{ nmae }}</p>")
    campaign = _campaign(ledger, content, [{"Name": "A"}, {}], ["Name"])
    result = review(store, campaign, content, "email", 2.0)
    assert (result.recipients, result.seconds) == (2, 1.0)
    assert not result.ready and result.rendered is None  # no render while fields are wrong
    assert len(result.errors) == 1 and "{{ nmae }} in the HTML body" in result.errors[0]
    warnings = "\n".join(result.warnings)
    assert "off.example.org:587 is disabled" in warnings
    assert "{{ Name }} in the subject is empty for 1 recipient " in warnings
    assert "u1@example.com, line 3" in warnings

    fixed = CampaignContent("Hi {{ Name }}", "news@example.com", html="<p>{{ Name }}</p>")
    result = review(store, campaign, fixed, "email", 2.0)
    assert result.ready and str(result.rendered) == "2 of 2 rendered, 0 errors"
    assert not review(store, campaign, fixed, "bulk", 2.0).ready  # no such messenger


def test_review_gives_the_first_subject_and_the_concurrency_the_servers_allow(
    store: Store,
) -> None:
    save_server(store, {"host": "a.example.org", "max_conns": 4})
    ledger = Ledger(store)
    content = CampaignContent("Hi {{ Name }}", "news@example.com", text="Hello")
    campaign = _campaign(ledger, content, [{"Name": "Ada"}, {"Name": "Bo"}], ["Name"])
    result = review(store, campaign, content, POOL_NAME, 2.0, concurrency=10)
    assert (result.subject, result.concurrency, result.rate) == ("Hi Ada", 4, 2.0)
    save_server(store, {"host": "b.example.org", "max_conns": 3})
    assert review(store, campaign, content, POOL_NAME, 2.0, concurrency=10).concurrency == 7
    assert review(store, campaign, content, POOL_NAME, 2.0, concurrency=5).concurrency == 5
    assert effective_concurrency(6, []) == 6


def test_start_problem_reads_the_stored_campaign(store: Store) -> None:
    save_server(store, {"host": "on.example.org"})
    ledger = Ledger(store)
    content = CampaignContent("Hi {{ name }}", "news@example.com", text="x")
    campaign = _campaign(ledger, content, [{"Name": "A"}], ["Name"])
    assert "Did you mean {{ Name }}?" in start_problem(store, campaign)
    ledger.update_campaign(campaign, content=CampaignContent("Hi", "news@example.com", text="x"))
    assert start_problem(store, campaign) == ""


def test_save_draft_keeps_the_id_and_takes_the_scratch_drafts_recipients(store: Store) -> None:
    ledger = Ledger(store)
    content = CampaignContent("Hi", "news@example.com", text="x")
    campaign = _campaign(ledger, content, [{"a": "1"}] * 3, ["a"])
    scratch = _campaign(ledger, content, [{"b": "2"}] * 5, ["b"])
    edited = CampaignContent("Hello", "news@example.com", text="y", unsubscribe_url="")
    save_draft(
        ledger,
        campaign,
        name="Renamed",
        content=edited,
        send_at=None,
        delivery={"messenger": "email", "concurrency": 4, "message_rate": 3.0},
        recipients_from=scratch,
    )
    stored = ledger.campaign(campaign)
    assert (stored.name, stored.content, stored.concurrency) == ("Renamed", edited, 4)
    assert ledger.recipient_count(campaign) == 5 and stored.fields == ("b",)
    assert ledger.field_presence(campaign) == (5, {"b": 5})
    assert [c.id for c in ledger.list_campaigns()] == [campaign]


def test_adopt_recipients_is_all_or_nothing(store: Store) -> None:
    ledger = Ledger(store)
    content = CampaignContent("Hi", "news@example.com", text="x")
    campaign = _campaign(ledger, content, [{}] * 2, [])
    with pytest.raises(Exception):  # noqa: B017 - no such scratch draft
        adopt_recipients(ledger, 999, campaign)
    assert ledger.recipient_count(campaign) == 2


def test_test_addresses_are_split_checked_and_deduplicated() -> None:
    assert parse_addresses(" a@example.com, b@example.com;a@example.com  c@example.com") == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
    ]
    with pytest.raises(KnownError, match="not-an-address"):
        parse_addresses("a@example.com, not-an-address")
    with pytest.raises(KnownError, match="Enter an address"):
        parse_addresses(" , ")


def test_progress_is_readable_from_another_thread(store: Store) -> None:
    ledger = Ledger(store)
    content = CampaignContent("Hi {{ n }}", "news@example.com", text="x")
    campaign = _campaign(ledger, content, [{"n": str(i)} for i in range(2000)], ["n"])
    progress = RenderProgress()
    seen: list[int] = []
    worker = threading.Thread(target=render_all, args=(ledger, campaign, content, ["n"], progress))
    worker.start()
    while worker.is_alive():
        seen.append(progress.done)
    worker.join()
    assert progress.done == progress.total == 2000
    assert seen == sorted(seen)


RUNAWAY = "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}"


def test_a_runaway_template_stops_the_render_after_a_few_failures_in_a_row(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each failure costs up to the render time limit: 200 of them would take minutes."""
    monkeypatch.setattr(render_limits, "RENDER_SECONDS", 0.05)
    ledger = Ledger(store)
    content = CampaignContent("Hi", "news@example.com", text=RUNAWAY)
    campaign = _campaign(ledger, content, [{}] * 200, [])
    progress = RenderProgress()
    started = time.monotonic()
    check = render_all(ledger, campaign, content, [], progress)
    assert time.monotonic() - started < 2
    assert (check.rendered, check.errors) == (0, SYSTEMATIC_IN_A_ROW)
    assert check.systematic.startswith("line 2 (u0@example.com):")
    assert "rendering took longer than 0.05 s" in check.systematic
    assert "stopped after 3 errors in a row" in str(check)
    save_server(store, {"host": "on.example.org"})
    found = review(store, campaign, content, POOL_NAME, 10)
    assert found.rendered is not None and found.rendered.errors == SYSTEMATIC_IN_A_ROW
    assert any("stopped" in e and "rendering took longer" in e for e in found.errors)


def test_scattered_failures_stop_the_render_at_a_total(store: Store) -> None:
    ledger = Ledger(store)
    content = CampaignContent("Hi", "news@example.com", text="{{ 1 // n|int }}")
    rows = [{"n": str(i % 2)} for i in range(200)]  # every other one divides by zero
    campaign = _campaign(ledger, content, rows, ["n"])
    check = render_all(ledger, campaign, content, ["n"])
    assert check.errors == SYSTEMATIC_TOTAL
    assert check.rendered == SYSTEMATIC_TOTAL - 1  # the last one tried failed
    assert check.systematic.startswith("line 2 (u0@example.com):")
    assert f"stopped after {SYSTEMATIC_TOTAL} errors" in str(check)


def test_a_few_scattered_failures_do_not_stop_the_render(store: Store) -> None:
    ledger = Ledger(store)
    content = CampaignContent("Hi", "news@example.com", text="{{ 1 // n|int }}")
    rows = [{"n": "0" if i in (5, 6, 50) else "1"} for i in range(100)]
    campaign = _campaign(ledger, content, rows, ["n"])
    check = render_all(ledger, campaign, content, ["n"])
    assert (check.rendered, check.errors, check.systematic) == (97, 3, "")
