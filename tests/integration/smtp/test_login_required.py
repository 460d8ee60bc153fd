"""auth none on a server that offers AUTH and refuses to relay for a client not logged in."""

from __future__ import annotations

from dataclasses import replace

import pytest

from smtpdesk.core.settings import AuthProtocol
from smtpdesk.core.smtp.servertest import test_server as run_server_test
from tests.helpers.smtpd import PASSWORD, USER, Faults, SmtpdFactory, settings_for
from tests.integration.smtp.test_diagnosis import send_failure

POSTFIX_REFUSAL = "554 5.7.1 <bob@example.test>: Recipient address rejected: Access denied"


@pytest.mark.parametrize(
    "reply",
    [
        POSTFIX_REFUSAL,
        "554 5.7.1 Relay access denied",
        "530 5.7.0 Authentication required",
        "550 5.7.1 Access denied",
    ],
)
async def test_auth_none_on_a_server_that_wants_a_login(
    smtpd_factory: SmtpdFactory, reply: str
) -> None:
    server = await smtpd_factory(
        "plain", auth=("PLAIN", "LOGIN"), faults=Faults(unauthenticated_rcpt_reply=reply)
    )
    settings = settings_for(server, auth_protocol=AuthProtocol.NONE, username="")
    report = await run_server_test(settings, None, to="bob@example.test")
    assert not report.ok and report.diagnosis is not None
    diagnosis = report.diagnosis
    assert (report.steps[-1].name, diagnosis.cause) == ("send", "login_required")
    assert "needs a username and password" in diagnosis.message
    assert "mailbox" not in " ".join(diagnosis.hints)
    assert "Authentication section" in diagnosis.hints[0]
    sent = await send_failure(replace(settings, msg_retry_delay=0))
    assert sent.cause == "login_required"
    assert server.messages == []


async def test_the_same_server_sends_once_logged_in(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory(
        "plain", auth=("PLAIN",), faults=Faults(unauthenticated_rcpt_reply=POSTFIX_REFUSAL)
    )
    report = await run_server_test(settings_for(server), PASSWORD, to="bob@example.test")
    assert report.ok, report.diagnosis
    assert report.warnings == []
    assert server.messages[0].login == USER


async def test_without_a_recipient_auth_on_offer_is_a_warning(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory(
        "plain", auth=("PLAIN",), faults=Faults(unauthenticated_rcpt_reply=POSTFIX_REFUSAL)
    )
    settings = settings_for(server, auth_protocol=AuthProtocol.NONE, username="")
    report = await run_server_test(settings, None)
    assert report.ok  # nothing was refused yet: no recipient was tried
    [warning] = report.warnings
    assert "offers a login (AUTH)" in warning and "Authentication → Protocol" in warning
    assert report.to_dict()["warnings"] == [warning]


async def test_no_warning_when_the_server_offers_no_login(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    report = await run_server_test(settings_for(server), None)
    assert report.ok and report.warnings == []


async def test_relay_refusal_without_auth_on_offer_stays_relay_denied(
    smtpd_factory: SmtpdFactory,
) -> None:
    """Without AUTH to offer, a login cannot help: the address is what is refused."""
    server = await smtpd_factory(
        "plain", faults=Faults(unauthenticated_rcpt_reply="554 5.7.1 Relay access denied")
    )
    report = await run_server_test(settings_for(server), None, to="bob@example.test")
    assert report.diagnosis is not None and report.diagnosis.cause == "relay_denied"
    sent = await send_failure(settings_for(server, msg_retry_delay=0))
    assert sent.cause == "relay_denied"
