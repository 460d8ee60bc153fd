import pytest

from smtpdesk.core.settings import (
    AuthProtocol,
    ServerSettings,
    TlsType,
    parse_app_settings,
    parse_headers,
    parse_server,
)


def fields_of(report_problems: list, severity: str) -> set[str]:
    return {p.field for p in report_problems if p.severity == severity}


def test_defaults_follow_listmonk() -> None:
    s = parse_server({"host": "smtp.example.com"}).settings
    assert s is not None
    assert (s.port, s.auth_protocol, s.tls_type, s.max_conns) == (
        587,
        AuthProtocol.PLAIN,
        TlsType.STARTTLS,
        10,
    )
    assert (s.idle_timeout, s.wait_timeout, s.max_msg_retries, s.msg_retry_delay) == (
        15,
        5,
        2,
        0.01,
    )
    assert s.enabled and not s.tls_skip_verify and s.email_headers == ()


def test_form_strings_are_coerced() -> None:
    s = parse_server(
        {
            "host": " smtp.example.com ",
            "port": "465",
            "tls_type": "tls",
            "auth_protocol": "CRAM",
            "idle_timeout": "2m",
            "wait_timeout": "500ms",
            "enabled": "false",
            "max_per_day": "",
            "max_per_hour": "100",
            "name": " My Relay ",
        }
    ).settings
    assert s is not None
    assert s.host == "smtp.example.com" and s.port == 465 and s.tls_type is TlsType.TLS
    assert s.auth_protocol is AuthProtocol.CRAM and s.idle_timeout == 120
    assert s.wait_timeout == 0.5 and not s.enabled
    assert s.max_per_day is None and s.max_per_hour == 100 and s.name == "my-relay"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"host": ""}, "host"),
        ({"host": "smtp example.com"}, "host"),
        ({"host": "h", "port": 0}, "port"),
        ({"host": "h", "port": 65536}, "port"),
        ({"host": "h", "port": "abc"}, "port"),
        ({"host": "h", "max_conns": 0}, "max_conns"),
        ({"host": "h", "max_conns": 1001}, "max_conns"),
        ({"host": "h", "idle_timeout": 0}, "idle_timeout"),
        ({"host": "h", "wait_timeout": "-1s"}, "wait_timeout"),
        ({"host": "h", "email_headers": [["Bad Name", "1"]]}, "email_headers"),
        ({"host": "h", "email_headers": [["X-A", "1\r\nBcc: x@y"]]}, "email_headers"),
        ({"host": "h", "email_headers": [{"Subject": "x"}]}, "email_headers"),
        ({"host": "h", "email_headers": "[[1, 2"}, "email_headers"),
        ({"host": "h", "name": "bad!name"}, "name"),
        ({"host": "h", "name": "email"}, "name"),
        ({"host": "h", "tls_type": "ssl"}, "tls_type"),
        ({"host": "h", "auth_protocol": "xoauth"}, "auth_protocol"),
        ({"host": "h", "max_per_second": 0}, "max_per_second"),
        ({"host": "h", "max_per_day": -5}, "max_per_day"),
    ],
)
def test_each_error_names_its_field(data: dict, field: str) -> None:
    report = parse_server(data)
    assert report.settings is None
    assert field in fields_of(report.problems, "error")


def test_disabled_server_may_lack_a_host() -> None:
    assert parse_server({"enabled": False}).settings is not None


def test_name_must_be_unique() -> None:
    other = ServerSettings(host="a", name="relay")
    report = parse_server({"host": "b", "name": "Relay"}, others=[other])
    assert [p.field for p in report.errors] == ["name"]
    # Editing the same server keeps its own name.
    assert parse_server({"port": 25}, others=[other], base=other).settings is not None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"host": "h", "tls_type": "none"}, "tls_type"),
        ({"host": "h", "tls_skip_verify": True}, "tls_skip_verify"),
        ({"host": "h", "tls_type": "TLS", "port": 587}, "tls_type"),
        ({"host": "h", "tls_type": "STARTTLS", "port": 465}, "tls_type"),
        ({"host": "h", "port": 25}, "port"),
    ],
)
def test_warnings_are_saved_but_shown(data: dict, field: str) -> None:
    report = parse_server(data)
    assert report.settings is not None
    assert field in fields_of(report.problems, "warning")


def test_no_warning_for_auth_none_without_tls() -> None:
    report = parse_server({"host": "h", "tls_type": "none", "auth_protocol": "none"})
    assert report.warnings == []


def test_both_header_shapes_are_accepted() -> None:
    assert parse_headers([["X-A", "1"]]) == (("X-A", "1"),)
    assert parse_headers([{"X-A": "1"}, {"X-B": 2}]) == (("X-A", "1"), ("X-B", "2"))
    assert parse_headers('[{"X-A": "1"}]') == (("X-A", "1"),)
    assert parse_headers("") == ()


def test_header_json_error_points_at_line_and_column() -> None:
    with pytest.raises(ValueError, match=r"line 2, column 12"):
        parse_headers('[\n    ["X-A" "1"]]')


def test_app_settings_defaults_and_errors() -> None:
    report = parse_app_settings({})
    assert report.settings is not None and report.settings.concurrency == 10
    assert report.settings.message_rate == 10 and report.settings.max_send_errors == 1000
    bad = parse_app_settings(
        {"concurrency": 0, "message_rate": "-1", "sliding_window_duration": "x"}
    )
    assert {p.field for p in bad.errors} == {
        "concurrency",
        "message_rate",
        "sliding_window_duration",
    }
