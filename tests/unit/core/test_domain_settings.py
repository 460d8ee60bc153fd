"""DKIM and DNS-server settings go through the one validation, like every other field."""

from __future__ import annotations

import pytest

from smtpdesk.core.settings import (
    CAMPAIGN_FIELDS,
    DkimAlgorithm,
    dns_server_address,
    parse_app_settings,
    parse_server,
)


def test_dkim_needs_a_domain_and_selector_once_on() -> None:
    report = parse_server({"host": "h", "dkim_enabled": "true"})
    assert {p.field for p in report.errors} == {"dkim_domain", "dkim_selector"}
    good = parse_server(
        {
            "host": "h",
            "dkim_enabled": True,
            "dkim_domain": "Example.COM.",
            "dkim_selector": "S2026",
            "dkim_algorithm": "Both",
        }
    ).settings
    assert good is not None
    assert (good.dkim_domain, good.dkim_selector) == ("example.com", "s2026")
    assert good.dkim_algorithm == DkimAlgorithm.BOTH
    assert good.to_dict()["dkim_algorithm"] == "both"


@pytest.mark.parametrize(
    ("field", "value"),
    [("dkim_domain", "exa mple.com"), ("dkim_selector", "a;b"), ("dkim_algorithm", "dsa")],
)
def test_bad_dkim_values_are_refused(field: str, value: str) -> None:
    report = parse_server({"host": "h", field: value})
    assert [p.field for p in report.errors] == [field]


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
     ("[::1]:5300", ("::1", 5300)), ("::1", ("::1", 53))],
)  # fmt: skip
def test_dns_server_addresses(text: str, address: tuple[str, int]) -> None:
    assert dns_server_address(text) == address


@pytest.mark.parametrize("bad", ["dns.example.com", "127.0.0.1:0", "127.0.0.1:x", "1.2.3:53"])
def test_bad_dns_servers_are_refused(bad: str) -> None:
    report = parse_app_settings({"dns_server": bad})
    assert [p.field for p in report.errors] == ["dns_server"]


def test_campaigns_do_not_copy_the_dns_server() -> None:
    assert "dns_server" not in CAMPAIGN_FIELDS and "message_rate" in CAMPAIGN_FIELDS
