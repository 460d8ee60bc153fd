"""``smtpdesk test SERVER`` against real servers, through the CLI entry point."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from smtpdesk.cli import main
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import Store
from tests.helpers.smtpd import PASSWORD, USER, SmtpdServer


def add_server(store: Store, server: SmtpdServer, **fields: object) -> None:
    data: dict[str, object] = {
        "name": "office",
        "host": "127.0.0.1",
        "port": server.port,
        "tls_type": "STARTTLS",
        "auth_protocol": "plain",
        "username": USER,
    }
    data.update(fields)
    report = save_server(store, data, password=PASSWORD)
    assert report.settings is not None, report.problems


def test_passing_server_prints_ticks_and_exits_0(
    store: Store,
    threaded_smtpd: Callable[..., SmtpdServer],
    trust_test_ca: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = threaded_smtpd("starttls", auth=("PLAIN",))
    add_server(store, server)
    assert main(["test", "office", "--to", "me@example.test"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[1].startswith("✓ DNS") and "127.0.0.1" in lines[1]
    assert any(line.startswith("✓ AUTH") for line in lines)
    assert any(line.startswith("✓ send") for line in lines)
    assert "all steps passed" in out
    assert PASSWORD not in out
    assert len(server.messages) == 1


def test_failing_server_prints_diagnosis_and_exits_1(
    store: Store,
    threaded_smtpd: Callable[..., SmtpdServer],
    trust_test_ca: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = threaded_smtpd("starttls", auth=("PLAIN",))
    add_server(store, server)
    save_server(store, {}, base=store.server("office"), password="wrong")
    assert main(["test", "office"]) == 1
    out = capsys.readouterr().out
    assert "✗ AUTH" in out
    assert "hint: For Gmail, use an App Password" in out
    assert "server said: 535" in out


def test_json_report(
    store: Store,
    threaded_smtpd: Callable[..., SmtpdServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = threaded_smtpd("plain")
    add_server(store, server, tls_type="STARTTLS", auth_protocol="none", username="")
    uuid = store.server("office").uuid
    assert main(["test", uuid, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert report["diagnosis"]["cause"] == "starttls_not_offered"
    assert [s["ok"] for s in report["steps"]][-1] is False
    assert report["capabilities"]["STARTTLS"] == "no"


def test_cli_test_is_kept_as_the_last_test_and_prints_warnings(
    store: Store,
    threaded_smtpd: Callable[..., SmtpdServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from smtpdesk.core.server_health import last_tests

    server = threaded_smtpd("plain", auth=("PLAIN",))
    add_server(store, server, tls_type="none", auth_protocol="none", username="")
    assert main(["test", "office"]) == 0
    out = capsys.readouterr().out
    assert "warning: The server offers a login (AUTH)" in out
    [last] = last_tests(store).values()
    assert last.ok and last.summary == "passed (1 warning)"
