"""The mailbox logs in with a named server's OAuth sign-in (XOAUTH2), IMAP and POP3 (issue 12).

Dovecot's XOAUTH2 mechanism checks the bearer token against its passdb, so the test
user's password stands for a live access token; the token comes from the app's token
broker, as a sign-in leaves it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from smtpdesk.core.feedback import scan as scanning
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.oauth.client import TokenReply
from smtpdesk.core.oauth.tokens import TOKENS
from smtpdesk.core.settings import AuthProtocol, ServerSettings, parse_mailbox
from smtpdesk.core.store import Store
from tests.helpers import feedback_samples as samples
from tests.helpers.dovecot import PASSWORD, Dovecot


@pytest.mark.parametrize(("protocol", "tls"), [("imap", "TLS"), ("pop3", "STARTTLS")])
def test_the_mailbox_signs_in_with_the_servers_oauth_token(
    store: Store, dovecot: Dovecot, trust_test_ca: Path, protocol: str, tls: str
) -> None:
    user = dovecot.add_user()
    server = ServerSettings(
        name="work",
        host="smtp.example.com",
        auth_protocol=AuthProtocol.XOAUTH2,
        username=user,
        oauth_client_id="client-id",
    )
    store.put_server(server)
    port = dovecot.imaps if protocol == "imap" else dovecot.pop3
    values = {"protocol": protocol, "port": port, "tls_type": tls, "oauth_server": "work"}
    values |= {"enabled": True, "host": "127.0.0.1", "username": user}
    if protocol == "pop3":
        values["processed"] = "delete"
    report = parse_mailbox(values, servers=store.servers())
    assert report.settings is not None, report.problems
    FeedbackBook(store).put_mailbox(report.settings)
    assert not scanning.has_password()  # no mailbox password: the sign-in's token
    dovecot.deliver(user, samples.unrelated())
    TOKENS.remember(server.uuid, TokenReply(PASSWORD, time.time() + 3600, None, "", None), user)
    try:
        check = asyncio.run(scanning.check_mailbox(store, report.settings))
        assert check.ok, check.diagnosis
        assert check.count == 1
        result = asyncio.run(scanning.scan(store))
        assert result.ok and result.read == 1 and result.counts.ignored == 1

        TOKENS.remember(server.uuid, TokenReply("expired", time.time() + 3600, None, "", None))
        refused = asyncio.run(scanning.check_mailbox(store, report.settings))
        assert refused.diagnosis is not None and refused.diagnosis.cause == "auth_failed"
    finally:
        TOKENS.forget(server.uuid)


def test_an_oauth_server_must_sign_in_with_oauth(store: Store) -> None:
    store.put_server(ServerSettings(name="plain", host="smtp.example.com", username="u"))
    data = {"host": "imap.example.com", "username": "u", "oauth_server": "plain"}
    report = parse_mailbox(data, servers=store.servers())
    assert [p.field for p in report.errors] == ["oauth_server"]
    assert "does not sign in with OAuth" in report.errors[0].message
