"""DKIM signatures made by the app, verified by dkimpy against the test DNS server."""

from __future__ import annotations

import pytest

from smtpdesk.core import secrets
from smtpdesk.core.campaign.mime import MimeTemplate
from smtpdesk.core.domain.resolver import DnsClient
from smtpdesk.core.domain.signing import (
    DkimKeyError,
    DkimSigner,
    SigningKey,
    generate_key,
    key_to_pem,
    public_record,
    relaxed_body,
    signer_for,
)
from smtpdesk.core.settings import DkimAlgorithm, ServerSettings
from tests.helpers.dns import DnsServer

from .conftest import txt, verify


@pytest.fixture(scope="module")
def keys(dns: DnsServer) -> dict[str, SigningKey]:
    """An RSA and an Ed25519 key, published at sign.test under rsa1 and ed1."""
    made = {"rsa": SigningKey("rsa1", generate_key("dkim-rsa"))}
    made["ed25519"] = SigningKey("ed1", generate_key("dkim-ed25519"))
    for key in made.values():
        dns.add(txt(f"{key.selector}._domainkey.sign.test", public_record(key.key)))
    return made


def message(body: str = "Hello  there \r\n\r\n\r\n") -> bytes:
    template = MimeTemplate(from_name="Ann Example", from_address="ann@sign.test")
    return template.build_bytes(
        to="bob@example.org",
        subject="Spring news, ünïcode",
        text=body,
        html="<p>Hello</p>",
        headers=[
            ("List-Unsubscribe", "<https://sign.test/u?t=1>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ],
    )


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_dkimpy_verifies_our_signature(
    client: DnsClient, keys: dict[str, SigningKey], algorithm: str
) -> None:
    signed = DkimSigner("sign.test", [keys[algorithm]]).sign(message())
    assert signed.startswith(b"DKIM-Signature: v=1; a=" + keys[algorithm].algorithm.encode())
    assert b"c=relaxed/relaxed" in signed.split(b"\r\n\r\n")[0]
    assert verify(client, signed)
    header = signed.split(b"\r\n\r\n")[0].decode()
    for name in ("from", "to", "subject", "date", "message-id", "list-unsubscribe-post"):
        assert f":{name}:" in header.replace("h=", ":").replace(";", ":")


def test_both_signatures_verify(client: DnsClient, keys: dict[str, SigningKey]) -> None:
    signed = DkimSigner("sign.test", [keys["rsa"], keys["ed25519"]]).sign(message())
    assert signed.count(b"DKIM-Signature:") == 2
    assert verify(client, signed, 0) and verify(client, signed, 1)


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519"])
def test_a_message_altered_after_signing_fails(
    client: DnsClient, keys: dict[str, SigningKey], algorithm: str
) -> None:
    signed = DkimSigner("sign.test", [keys[algorithm]]).sign(message())
    assert not verify(client, signed.replace(b"Hello", b"Hallo"))  # the body
    assert not verify(client, signed.replace(b"Subject: ", b"Subject: Re: "))  # a header
    added = signed.replace(b"\r\nFrom: ", b"\r\nFrom: mallory@evil.test\r\nFrom: ", 1)
    assert not verify(client, added)  # a second From (From is oversigned)


def test_whitespace_changes_survive_relaxed_canonicalisation(
    client: DnsClient, keys: dict[str, SigningKey]
) -> None:
    signed = DkimSigner("sign.test", [keys["rsa"]]).sign(message())
    head, _, body = signed.partition(b"\r\n\r\n")
    refolded = head.replace(b"Subject: ", b"Subject:   ") + b"\r\n\r\n" + body + b"\r\n\r\n"
    assert verify(client, refolded)


def test_relaxed_body_rules() -> None:
    assert relaxed_body(b"") == b""
    assert relaxed_body(b"\r\n\r\n") == b""
    assert relaxed_body(b"a  \t b \r\nc\t\r\n\r\n") == b"a b\r\nc\r\n"
    assert relaxed_body(b"no end ") == b"no end\r\n"


def test_a_key_published_elsewhere_fails(client: DnsClient, keys: dict[str, SigningKey]) -> None:
    wrong = SigningKey("rsa1", generate_key("dkim-rsa"))  # not the published key
    assert not verify(client, DkimSigner("sign.test", [wrong]).sign(message()))


def test_signer_for_reads_the_keyring() -> None:
    server = ServerSettings(
        name="s",
        host="h",
        dkim_enabled=True,
        dkim_domain="sign.test",
        dkim_selector="x",
        dkim_algorithm=DkimAlgorithm.BOTH,
    )
    with pytest.raises(DkimKeyError, match="rsa key is not in the keyring"):
        signer_for(server, secrets.get_dkim_key)
    secrets.set_dkim_key(server.uuid, "dkim-rsa", key_to_pem(generate_key("dkim-rsa")))
    secrets.set_dkim_key(server.uuid, "dkim-ed25519", key_to_pem(generate_key("dkim-ed25519")))
    signer = signer_for(server, secrets.get_dkim_key)
    assert signer is not None
    assert [(k.selector, k.algorithm) for k in signer.keys] == [
        ("x", "rsa-sha256"),
        ("x-ed25519", "ed25519-sha256"),
    ]
    assert signer_for(ServerSettings(host="h"), secrets.get_dkim_key) is None
