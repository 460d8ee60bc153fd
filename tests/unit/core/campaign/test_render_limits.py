"""Templates that run away stop within their limits, as a TemplateError for that recipient."""

from __future__ import annotations

import asyncio
import time

import pytest

from smtpdesk.core.campaign.content import (
    CampaignContent,
    Renderer,
    TemplateError,
    required_fields,
)
from smtpdesk.core.campaign.render_limits import RENDER_SECONDS

NESTED = "{% for i in range(99999) %}{% for j in range(99999) %}x{% endfor %}{% endfor %}"
NESTED_SILENT = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
FIELDS = {"email": "ann@example.com", "name": "Ann", "n": "0"}


def renderer(text: str) -> Renderer:
    return Renderer(CampaignContent(subject="Hi", from_address="a@example.com", text=text))


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (NESTED, "longer than"),
        (NESTED_SILENT, "took longer than"),
        ("{% set x %}" + NESTED + "{% endset %}{{ x | length }}", "took longer than"),
        ("{{ range(10**9) | list }}", "limited to 100,000 items"),
        ("{{ range(200000) | list }}", "limited to 100,000 items"),
        ("{{ 'x' * 10**8 }}", "longer than"),
        ("{{ 'x' | center(1000000000) }}", "too large"),
        ("{{ 'x'.ljust(10**9) }}", "too large"),
        ("{{ 9 ** (9 ** 9) }}", "too large"),
        ("{{ '%0999999999d' % 1 }}", "too wide"),
        ("{{ '%0999999999d' | format(1) }}", "too wide"),
        ("{{ '{:>999999999}'.format(1) }}", "too wide"),
        ("{{ lipsum(10**9) }}", "too large"),
        ("{{ (range(99999) | list) * 99999 }}", "longer than"),
        (
            "{% set ns = namespace(s='xx') %}{% for i in range(60) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
            "longer than",
        ),
        ("{% macro d(n) %}{{ d(n + 1) }}{% endmacro %}{{ d(0) }}", "RecursionError"),
        ("{{ 1 / n | int }}", "ZeroDivisionError"),
    ],
)
def test_a_runaway_template_fails_within_its_limits(source: str, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError, match=reason) as caught:
        renderer(source).render(FIELDS)
    assert time.monotonic() - started < RENDER_SECONDS + 1.5
    assert caught.value.cause == "template_error"
    assert "ann@example.com" in caught.value.message


def test_ordinary_templates_still_work() -> None:
    source = (
        "{{ name }} {{ range(3) | list }} {% for i in range(3) %}{{ loop.index }}{% endfor %} "
        "{{ range(5) | length }} {{ 2 ** 10 }} {{ 'ab' * 3 }} {{ '%05d' % 42 }} "
        "{{ '{:>4}'.format(7) }} {{ [1, 2] + [3] }} {{ 7 // 2 }} {{ 'x' | center(5) }}"
        "{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}"
        "{% endfor %} {{ ns.n }} {{ (1000000 * 3) | string | length }} "
        "{{ range(9)[2] }} {{ range(4) | reverse | join }} {{ range(3) | random is number }} "
        "{{ 3 in range(4) }} "
        "{% for i in range(2) %}{{ loop.length }}{{ loop.revindex }}{% endfor %} "
        "{{ '{:,}'.format(12345678) }} {{ '%d' | format(12345678) }} {{ 12345678 * 2 }}"
    )
    text = renderer(source).render_parts(FIELDS)[2]
    assert text == (
        "Ann [0, 1, 2] 123 5 1024 ababab 00042    7 [1, 2, 3] 3   x   6 7 2 3210 True True 2221 "
        "12,345,678 12345678 24691356"
    )


def test_jinja_globals_are_not_fields() -> None:
    source = (
        "{{ range(3) }}{{ lipsum(1) }}{{ cycler(1) }}{{ joiner() }}{{ namespace() }}{{ dict() }}"
    )
    assert required_fields(source) == set()


async def test_render_async_leaves_the_event_loop_free() -> None:
    """While a runaway template renders, the loop keeps running (signals, Pause)."""
    slow = renderer(NESTED_SILENT)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.02)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    with pytest.raises(TemplateError, match="took longer than"):
        await slow.render_async(FIELDS)
    ticker.cancel()
    assert time.monotonic() - started < RENDER_SECONDS + 1.5
    assert ticks >= 10  # about 50 in a second when the loop is free; 0 when it is blocked
