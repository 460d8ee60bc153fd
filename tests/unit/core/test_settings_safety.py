"""The one settings function refuses what could become an SMTP command or an absurd wait."""

from __future__ import annotations

import pytest

from smtpdesk.core.durations import parse_duration
from smtpdesk.core.settings import parse_app_settings, parse_server


def errors(data: dict[str, object]) -> set[str]:
    return {p.field for p in parse_server({"host": "smtp.example.com", **data}).errors}


@pytest.mark.parametrize(
    "name",
    [
        "x.example.com\r\nRSET",
        "x.example.com\nQUIT",
        "x example.com",
        "x.example.com\x00",
        "-bad-.example.com",
        "a..b",
        "[192.0.2.300]",
        "[IPv6:nope]",
        "[not-an-address]",
        "bücher.example",  # EHLO takes A-labels only
        "a" * 64 + ".example.com",
    ],
)
def test_hello_hostname_must_be_a_domain_or_address_literal(name: str) -> None:
    assert "hello_hostname" in errors({"hello_hostname": name})


@pytest.mark.parametrize(
    "name",
    ["", "mail.example.com", "localhost", "mail.example.com.", "[192.0.2.1]", "[IPv6:2001:db8::1]"],
)
def test_good_hello_hostnames(name: str) -> None:
    assert errors({"hello_hostname": name}) == set()


@pytest.mark.parametrize(
    "host", ["a\x01.example.com", "smtp\r\n.example.com", "smtp\x00.example.com", "a/b", "a:b"]
)
def test_host_with_control_characters_or_garbage_is_refused(host: str) -> None:
    assert "host" in errors({"host": host})


@pytest.mark.parametrize(
    "host", ["smtp.gmail.com", "localhost", "127.0.0.1", "::1", "[::1]", "smtp.bücher.de"]
)
def test_good_hosts(host: str) -> None:
    assert errors({"host": host}) == set()


@pytest.mark.parametrize("field", ["idle_timeout", "wait_timeout", "msg_retry_delay"])
@pytest.mark.parametrize("value", ["99999999999h", "nan", "inf", "-inf", "1e400", float("nan")])
def test_absurd_or_non_finite_durations_are_refused(field: str, value: object) -> None:
    assert field in errors({field: value})


def test_duration_upper_bounds_are_said() -> None:
    report = parse_server({"host": "h.example", "idle_timeout": "25h", "msg_retry_delay": "2h"})
    messages = {p.field: p.message for p in report.errors}
    assert "at most 1 day" in messages["idle_timeout"]
    assert "at most 1 hour" in messages["msg_retry_delay"]
    assert parse_server({"host": "h.example", "wait_timeout": "24h"}).errors == []


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity", float("inf"), 10**400])
def test_non_finite_numbers_are_refused(value: object) -> None:
    assert "max_per_second" in errors({"max_per_second": value})
    report = parse_app_settings({"message_rate": value})
    assert report.settings is None and {p.field for p in report.errors} == {"message_rate"}


def test_app_settings_bounds() -> None:
    assert parse_app_settings({"sliding_window_duration": "99999999999h"}).settings is None
    assert parse_app_settings({"sliding_window_duration": "nan"}).settings is None
    assert parse_app_settings({"message_rate": 1e9}).settings is None
    assert parse_app_settings({"message_rate": 50, "sliding_window_duration": "720h"}).settings


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", float("nan"), float("inf"), "1e400"])
def test_parse_duration_refuses_non_finite(value: object) -> None:
    with pytest.raises(ValueError, match="finite"):
        parse_duration(value)
