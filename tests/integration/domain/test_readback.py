"""Read back what the receiver saw: a check message through a real SMTP server that judges
SPF, DKIM and DMARC (as a receiving MTA does) and delivers into a real Dovecot mailbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from email import message_from_bytes
from email.utils import parseaddr
from pathlib import Path

import dkim
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from dkim.util import parse_tag_value

from smtpdesk.cli import main
from smtpdesk.core import secrets
from smtpdesk.core.domain import spf as spf_module
from smtpdesk.core.domain.readback import (
    ReadBackError,
    parse_authentication_results,
    read_back,
)
from smtpdesk.core.domain.records import aligned, find_dmarc
from smtpdesk.core.domain.resolver import DnsClient
from smtpdesk.core.domain.signing import generate_key, key_to_pem, public_record
from smtpdesk.core.feedback.mailbox import Credentials
from smtpdesk.core.settings import (
    AuthProtocol,
    DkimAlgorithm,
    MailboxSettings,
    MailProtocol,
    ServerSettings,
    TlsType,
)
from smtpdesk.core.smtp.servertest import test_server as check_server
from tests.helpers.dns import DnsServer
from tests.helpers.dovecot import PASSWORD, Dovecot

from .conftest import txt

RECEIVER = "mx.receiver.test"


class JudgingReceiver:
    """Judges each message as a receiving MTA would, then delivers it with its verdict."""

    def __init__(self, client: DnsClient, mailstore: Dovecot, user: str) -> None:
        self.client, self.dovecot, self.user = client, mailstore, user

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = bytes(envelope.content)  # type: ignore[arg-type]
        mail_from = str(envelope.mail_from)
        header_from = parseaddr(message_from_bytes(raw)["From"])[1].rpartition("@")[2]
        envelope_domain = mail_from.rpartition("@")[2]
        spf, _ = spf_module._evaluate(self.client, envelope_domain, session.peer[0], "")
        signature = message_from_bytes(raw)["DKIM-Signature"]
        d = ""
        if signature is None:
            dkim_result = "none"
        else:
            d = parse_tag_value(" ".join(signature.split()).encode())[b"d"].decode()
            dkim_result = "pass" if dkim.verify(raw, dnsfunc=self._txt) else "fail"
        policy = find_dmarc(self.client, header_from)
        if not policy.found:
            dmarc = "none"
        elif (dkim_result == "pass" and aligned(d, header_from, policy.adkim)) or (
            spf == "pass" and aligned(envelope_domain, header_from, policy.aspf)
        ):
            dmarc = "pass"
        else:
            dmarc = "fail"
        header = (
            f"Authentication-Results: {RECEIVER};\r\n"
            f"\tspf={spf} (sender IP is {session.peer[0]}) smtp.mailfrom={mail_from};\r\n"
            f"\tdkim={dkim_result} (signature checked) header.d={d or 'none'};\r\n"
            f"\tdmarc={dmarc} (p={policy.policy or 'none'}) header.from={header_from}\r\n"
        )
        self.dovecot.deliver(self.user, header.encode() + raw)
        return "250 2.0.0 Delivered"

    def _txt(self, name: bytes, timeout: int = 5) -> bytes | None:
        found = self.client.txt(name.decode().rstrip("."))
        return found[0].encode() if found else None


Receiver = tuple[ServerSettings, MailboxSettings, Dovecot]


@pytest.fixture
async def receiver(
    dovecot: Dovecot,
    client: DnsClient,
) -> AsyncIterator[Receiver]:
    user = dovecot.add_user()
    handler = JudgingReceiver(client, dovecot, user)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname=RECEIVER), host="127.0.0.1", port=0
    )
    port = server.sockets[0].getsockname()[1]
    smtp = ServerSettings(
        name="relay", host="127.0.0.1", port=port, tls_type=TlsType.NONE,
        auth_protocol=AuthProtocol.NONE, username="news@readback.test",
    )  # fmt: skip
    mailbox = MailboxSettings(
        enabled=True, protocol=MailProtocol.IMAP, host="127.0.0.1", port=dovecot.imaps,
        tls_type=TlsType.TLS, username=user,  # Dovecot's users are addresses
    )  # fmt: skip
    yield smtp, mailbox, dovecot
    server.close()
    await server.wait_closed()


@pytest.fixture(scope="module")
def readback_zone(dns: DnsServer) -> None:
    dns.add(txt("readback.test", "v=spf1 ip4:127.0.0.1 -all"))
    dns.add(txt("_dmarc.readback.test", "v=DMARC1; p=reject"))


def test_parse_takes_the_topmost_header_and_reads_past_comments() -> None:
    raw = (
        b"Authentication-Results: mx.google.com;\r\n"
        b"       dkim=fail (bad (nested) signature) header.i=@x.test;\r\n"
        b"       dkim=pass header.i=@x.test header.s=s1;\r\n"
        b"       spf=softfail (google.com: domain of transitioning) smtp.mailfrom=a@x.test;\r\n"
        b"       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=x.test\r\n"
        b"Authentication-Results: relay.x.test; spf=pass\r\n"
        b"Subject: hi\r\n\r\nbody\r\n"
    )
    verdict = parse_authentication_results(raw)
    assert verdict is not None and verdict.receiver == "mx.google.com"
    assert verdict.results == {"dkim": "pass", "spf": "softfail", "dmarc": "fail"}
    assert not verdict.passed
    assert parse_authentication_results(b"Subject: none\r\n\r\nx\r\n") is None


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
async def test_a_signed_message_reads_back_as_passing(
    receiver: Receiver, dns: DnsServer, readback_zone: None, trust_test_ca: Path, protocol: str
) -> None:
    smtp, mailbox, server = receiver
    if protocol == "pop3":
        mailbox = replace(
            mailbox, protocol=MailProtocol.POP3, tls_type=TlsType.STARTTLS, port=server.pop3
        )
    key = generate_key("dkim-ed25519")
    signing = replace(
        smtp,
        dkim_enabled=True,
        dkim_domain="readback.test",
        dkim_selector=f"rb-{protocol}",
        dkim_algorithm=DkimAlgorithm.ED25519,
    )
    secrets.set_dkim_key(signing.uuid, "dkim-ed25519", key_to_pem(key))
    dns.add(txt(f"rb-{protocol}._domainkey.readback.test", public_record(key)))
    server.deliver(mailbox.username, b"Subject: older\r\nMessage-ID: <old@x.test>\r\n\r\nx\r\n")

    found = await read_back(signing, None, mailbox, Credentials(PASSWORD), wait=20, poll=0.2)

    assert found.verdict is not None and found.verdict.receiver == RECEIVER
    assert found.verdict.results == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert found.verdict.passed
    assert found.verdict.describe() == f"{RECEIVER} judged spf=pass, dkim=pass, dmarc=pass"
    assert len(server.messages(mailbox.username)) == 2  # left in the mailbox, for the scan


async def test_an_unsigned_message_from_a_domain_whose_spf_fails_reads_back_failing(
    receiver: Receiver, readback_zone: None, trust_test_ca: Path
) -> None:
    smtp, mailbox, _ = receiver
    stranger = replace(smtp, username="news@good.test")  # good.test's SPF: -all for 127.0.0.1
    found = await read_back(stranger, None, mailbox, Credentials(PASSWORD), wait=20, poll=0.2)
    assert found.verdict is not None
    assert found.verdict.results == {"spf": "fail", "dkim": "none", "dmarc": "fail"}
    assert not found.verdict.passed


async def test_a_message_that_never_arrives_or_has_nowhere_to_go_is_said_so(
    receiver: Receiver, readback_zone: None, trust_test_ca: Path
) -> None:
    smtp, mailbox, server = receiver
    other = replace(mailbox, username=server.add_user())  # the receiver delivers elsewhere
    with pytest.raises(ReadBackError, match="did not arrive"):
        await read_back(smtp, None, other, Credentials(PASSWORD), wait=1, poll=0.2)
    nowhere = replace(mailbox, unsubscribe_address="", username="plain-login")
    with pytest.raises(ReadBackError, match="no email address"):
        await read_back(smtp, None, nowhere, Credentials(PASSWORD), wait=1, poll=0.2)


async def test_the_server_test_shows_the_receiver_step(
    receiver: Receiver, dns: DnsServer, readback_zone: None, trust_test_ca: Path
) -> None:
    smtp, mailbox, _ = receiver
    report = await check_server(smtp, None, read_back=(mailbox, Credentials(PASSWORD)))
    assert report.ok and report.steps[-1].name == "Receiver"
    assert report.steps[-1].detail.startswith(f"{RECEIVER} judged spf=pass, dkim=none, dmarc=pass")
    assert report.receiver is not None and report.to_dict()["receiver"]["receiver"] == RECEIVER


def test_read_back_without_a_mailbox_says_so(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["servers", "add", "--name", "r", "--host", "127.0.0.1", "--auth", "none"]) == 0
    code = main(["test", "r", "--read-back"])
    err = capsys.readouterr().err
    assert code == 1 and "No feedback mailbox is set up" in err
