"""A server with DKIM on: what arrives at a real SMTP server carries a valid signature."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

import pytest

from smtpdesk.core import secrets
from smtpdesk.core.campaign.mime import MimeTemplate
from smtpdesk.core.domain.resolver import DnsClient
from smtpdesk.core.domain.signing import generate_key, key_to_pem, public_record
from smtpdesk.core.messengers import Messenger
from smtpdesk.core.settings import DkimAlgorithm, ServerSettings
from smtpdesk.core.smtp.messenger import MessengerSender
from tests.helpers.dns import DnsServer
from tests.helpers.smtpd import SmtpdFactory, settings_for

from .conftest import txt, verify


def publish(dns: DnsServer, server: ServerSettings) -> None:
    """Keys into the keyring, and their public halves into the test DNS."""
    kinds = {"rsa": ["dkim-rsa"], "ed25519": ["dkim-ed25519"]}.get(
        server.dkim_algorithm, ["dkim-rsa", "dkim-ed25519"]
    )
    for kind in kinds:
        key = generate_key(kind)
        secrets.set_dkim_key(server.uuid, kind, key_to_pem(key))
        selector = server.dkim_selector
        if server.dkim_algorithm == DkimAlgorithm.BOTH and kind == "dkim-ed25519":
            selector += "-ed25519"
        dns.add(txt(f"{selector}._domainkey.{server.dkim_domain}", public_record(key)))


@pytest.mark.parametrize("algorithm", ["rsa", "ed25519", "both"])
async def test_the_fast_path_arrives_signed(
    smtpd_factory: SmtpdFactory, dns: DnsServer, client: DnsClient, algorithm: str
) -> None:
    smtpd = await smtpd_factory("plain")
    settings = settings_for(
        smtpd,
        name="signed",
        email_headers=(("X-Server", "added by the server"),),
        dkim_enabled=True,
        dkim_domain="sign.test",
        dkim_selector=f"wire-{algorithm}",
        dkim_algorithm=DkimAlgorithm(algorithm),
    )
    publish(dns, settings)
    sender = MessengerSender(Messenger("signed", (settings,)))
    template = MimeTemplate(from_name="Ann", from_address="ann@sign.test")
    wire = template.build_bytes(to="bob@example.org", subject="Hi", text="Hello Bob", html=None)
    await sender.send(wire, sender="ann@sign.test", recipients=["bob@example.org"])
    await sender.close()
    [received] = smtpd.messages
    assert received.content.startswith(b"DKIM-Signature:")
    assert b"X-Server: added by the server" in received.content  # signed after it was added
    assert verify(client, received.content)
    if algorithm == "both":
        assert received.content.count(b"DKIM-Signature:") == 2
        assert verify(client, received.content, 1)


async def test_an_email_message_arrives_signed(
    smtpd_factory: SmtpdFactory, dns: DnsServer, client: DnsClient
) -> None:
    smtpd = await smtpd_factory("plain")
    settings = settings_for(smtpd, dkim_enabled=True, dkim_domain="sign.test", dkim_selector="msg")
    publish(dns, settings)
    sender = MessengerSender(Messenger("email", (settings,)))
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = "Ann <ann@sign.test>"
    message["To"] = "bob@example.org"
    message["Subject"] = "Grüße"
    message.set_content("Héllo Bob,\n\nwith an accent.\n")
    await sender.send(message)
    await sender.close()
    [received] = smtpd.messages
    assert verify(client, received.content)


async def test_unsigned_servers_are_untouched(smtpd_factory: SmtpdFactory) -> None:
    smtpd = await smtpd_factory("plain")
    sender = MessengerSender(Messenger("email", (settings_for(smtpd),)))
    await sender.send(b"From: a@b.test\r\n\r\nhi\r\n", sender="a@b.test", recipients=["c@d.test"])
    await sender.close()
    assert b"DKIM-Signature" not in smtpd.messages[0].content
