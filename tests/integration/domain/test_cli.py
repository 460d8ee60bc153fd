"""check-domain and servers dkim through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smtpdesk.cli import main
from smtpdesk.core import secrets
from smtpdesk.core.domain.check import check_domain
from smtpdesk.core.domain.resolver import DnsClient
from smtpdesk.core.domain.signing import generate_key, key_to_pem
from smtpdesk.core.store import open_store
from tests.helpers.dns import DnsServer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env_dns(dns: DnsServer, monkeypatch: pytest.MonkeyPatch) -> DnsServer:
    monkeypatch.setenv("SMTPDESK_DNS_SERVER", dns.address)
    return dns


def add_server(capsys: pytest.CaptureFixture[str], name: str, host: str) -> str:
    code, out, err = run(capsys, "servers", "add", "--name", name, "--host", host, "--auth", "none")
    assert code == 0, err
    return out.strip()


def test_check_domain_exit_codes_and_lines(
    data_dir: Path, env_dns: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    add_server(capsys, "relay", "relay.good.test")
    code, out, err = run(
        capsys, "check-domain", "good.test", "--server", "relay", "--selector", "sel"
    )
    assert code == 0, out + err
    assert "[pass] SPF record" in out and "[pass] DMARC record: p=reject" in out
    assert "sel._domainkey.good.test: RSA-2048 key" in out
    code, out, _ = run(capsys, "check-domain", "missing.test")
    assert code == 1
    assert "[fail] DMARC record" in out and "[fail] SPF record" in out


def test_check_domain_json(
    data_dir: Path, env_dns: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "check-domain", "news.org.test", "--json")
    data = json.loads(out)
    assert code == 0 and data["failed"] is False
    assert data["dmarc"]["domain"] == "org.test" and data["dmarc"]["policy"] == "quarantine"
    assert {c["key"] for c in data["checks"]} >= {"mx", "spf", "dkim", "dmarc", "alignment"}


@pytest.mark.parametrize(
    "argv",
    [
        ["check-domain", "not a domain"],
        ["check-domain", "x"],  # one label: no sender's domain
        ["check-domain", "localhost"],
        ["check-domain", "good.test", "--server", "nope"],
        ["check-domain", "good.test", "--selector", "bad selector"],
    ],
)
def test_check_domain_bad_input_exits_2(
    data_dir: Path, env_dns: DnsServer, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("error:")


def test_servers_dkim_generate_publish_sign_disable(
    data_dir: Path, dns: DnsServer, capsys: pytest.CaptureFixture[str]
) -> None:
    uuid = add_server(capsys, "signer", "relay.good.test")
    code, out, err = run(
        capsys, "servers", "dkim", "signer", "--domain", "Sign.test", "--selector", "cli",
        "--algorithm", "both", "--generate",
    )  # fmt: skip
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith('cli._domainkey.sign.test TXT "v=DKIM1; k=rsa; p=')
    assert lines[1].startswith('cli-ed25519._domainkey.sign.test TXT "v=DKIM1; k=ed25519; p=')
    assert secrets.get_dkim_key(uuid, "dkim-rsa") and secrets.get_dkim_key(uuid, "dkim-ed25519")

    code, out, _ = run(capsys, "servers", "list", "--json")
    [listed] = json.loads(out)
    assert listed["dkim_enabled"] is True and listed["dkim_domain"] == "sign.test"
    assert listed["dkim_selector"] == "cli" and listed["dkim_algorithm"] == "both"
    assert "PRIVATE KEY" not in out

    # publish the printed records: the domain check then finds the app's keys
    dns.add("\n".join(line.replace(" TXT ", ". 300 IN TXT ", 1) for line in lines))
    server = open_store(data_dir).server("signer")
    report = check_domain(DnsClient(dns.address), "sign.test", servers=[server])
    assert report.check("dkim").status == "pass"
    assert report.check("alignment").status == "pass"

    code, out, _ = run(capsys, "config", "export")
    assert "dkim_selector" in out and "PRIVATE KEY" not in out

    code, out, _ = run(capsys, "servers", "dkim", "signer", "--disable")
    assert code == 0 and open_store(data_dir).server("signer").dkim_enabled is False


def test_servers_dkim_key_file_and_refusals(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_server(capsys, "imp", "relay.good.test")
    pem = tmp_path / "ed.pem"
    pem.write_text(key_to_pem(generate_key("dkim-ed25519")))
    args = ["servers", "dkim", "imp", "--domain", "sign.test", "--selector", "k"]
    code, out, err = run(capsys, *args, "--algorithm", "ed25519", "--key-file", str(pem))
    assert code == 0, err
    assert "k=ed25519" in out
    # an Ed25519 key for an RSA signer, no key at all, a file that is no key, no domain
    assert run(capsys, *args, "--algorithm", "rsa", "--key-file", str(pem))[0] == 2
    assert run(capsys, *args, "--algorithm", "rsa")[0] == 2
    (tmp_path / "junk.pem").write_text("not a key")
    assert run(capsys, *args, "--key-file", str(tmp_path / "junk.pem"))[0] == 2
    code, _, err = run(capsys, "servers", "dkim", "imp", "--domain", "bad domain", "--generate")
    assert code == 2 and "dkim_domain" in err
    # the stored key stays as it was
    assert open_store(data_dir).server("imp").dkim_algorithm == "ed25519"


def test_config_export_and_import_carry_the_dkim_settings_not_the_key(
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_server(capsys, "signer", "relay.good.test")
    args = ["--domain", "sign.test", "--selector", "io", "--algorithm", "ed25519", "--generate"]
    assert run(capsys, "servers", "dkim", "signer", *args)[0] == 0
    export = tmp_path / "config.toml"
    code, out, _ = run(capsys, "config", "export")
    export.write_text(out)
    assert "PRIVATE KEY" not in out and "DKIM private keys stay in the keyring" in out

    secrets.delete_dkim_keys(open_store(data_dir).server("signer").uuid)  # another computer
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("SMTPDESK_DATA_DIR", str(other))
    code, _, err = run(capsys, "config", "import", str(export))
    assert code == 0, err
    imported = open_store(other).server("signer")
    assert imported.dkim_enabled and imported.dkim_selector == "io"
    assert imported.dkim_algorithm == "ed25519"
    # the key did not travel: the records cannot be printed until one is given
    code, _, err = run(capsys, "servers", "dkim", "signer")
    assert code == 2 and "no stored dkim-ed25519 key" in err.lower()


def test_smtpdesk_test_prints_the_domain_checklist(
    data_dir: Path,
    env_dns: DnsServer,
    threaded_smtpd: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = threaded_smtpd("plain")
    code, _, err = run(
        capsys, "servers", "add", "--name", "box", "--host", "127.0.0.1", "--port",
        str(server.port), "--tls", "none", "--auth", "none", "--username", "me@missing.test",
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = run(capsys, "test", "box")
    assert code == 0  # advice only: the server itself passed
    assert "✓ Domain" in out and "domain missing.test:" in out
    assert "  [fail] DMARC record" in out and "  [fail] TLS on the connection" in out
