"""ServerPool against real aiosmtpd servers on 127.0.0.1, checked on the server's side."""

from __future__ import annotations

import asyncio
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from smtpdesk.core.settings import AuthProtocol
from smtpdesk.core.smtp.pool import ServerPool
from smtpdesk.core.smtp.types import SendError, SendResult
from tests.helpers.smtpd import PASSWORD, USER, Faults, SmtpdFactory, settings_for


def make_message(to: str = "bob@example.test", subject: str = "hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Alice <alice@example.test>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Hi Bob,\n\nthis is a test.\n")
    return message


@pytest.mark.parametrize("mode", ["plain", "starttls", "tls"])
@pytest.mark.parametrize("auth", [AuthProtocol.PLAIN, AuthProtocol.LOGIN, AuthProtocol.CRAM])
async def test_sends_with_each_tls_mode_and_mechanism(
    smtpd_factory: SmtpdFactory, trust_test_ca: Path, mode: str, auth: AuthProtocol
) -> None:
    server = await smtpd_factory(mode, auth=("PLAIN", "LOGIN", "CRAM-MD5"), auth_require_tls=False)
    pool = ServerPool(settings_for(server, auth_protocol=auth), PASSWORD)
    result = await pool.send(make_message())
    await pool.close()
    [received] = server.messages
    assert received.rcpt_tos == ["bob@example.test"]
    assert received.mail_from == "alice@example.test"
    assert received.login == USER
    assert received.tls is (mode != "plain")
    assert b"Subject: hello" in received.content
    assert result.reply == "250 2.0.0 OK: queued"
    assert server.stats.auth_logins == [USER]


async def test_max_conns_is_never_exceeded_and_connections_are_reused(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.02}))
    pool = ServerPool(settings_for(server, max_conns=3, wait_timeout=30), None)
    await asyncio.gather(*(pool.send(make_message(f"r{i}@example.test")) for i in range(30)))
    assert pool.stats().connections_open == 3
    await pool.close()
    assert len(server.messages) == 30
    assert server.stats.max_open == 3
    assert server.stats.opened == 3
    assert pool.stats().sent == 30
    assert pool.stats().mean_send_seconds > 0


async def test_idle_connection_is_closed_with_quit_after_idle_timeout(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain")
    pool = ServerPool(settings_for(server, idle_timeout=0.2), None)
    await pool.send(make_message())
    assert server.stats.open == 1
    await server.wait_until(lambda: server.stats.closed == 1)
    assert server.stats.quits == 1
    assert pool.stats().connections_open == 0
    await pool.send(make_message())  # a fresh connection replaces it
    assert server.stats.opened == 2
    await pool.close()


async def test_send_fails_after_wait_timeout_when_every_connection_is_busy(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"DATA": 1.0}))
    pool = ServerPool(settings_for(server, max_conns=1, wait_timeout=0.1), None)
    first = asyncio.create_task(pool.send(make_message("first@example.test")))
    await server.wait_until(lambda: server.stats.opened == 1)
    with pytest.raises(SendError) as caught:
        await pool.send(make_message("second@example.test"))
    assert caught.value.diagnosis.cause == "pool_wait_timeout"
    await first
    await pool.close()
    assert [m.rcpt_tos for m in server.messages] == [["first@example.test"]]
    assert server.stats.max_open == 1


async def test_message_dropped_after_its_content_is_not_sent_again(
    smtpd_factory: SmtpdFactory,
) -> None:
    # The server may have taken it before the drop: sending it again could duplicate it.
    server = await smtpd_factory("plain", faults=Faults(drop_in_data=1))
    pool = ServerPool(settings_for(server, max_conns=2, max_msg_retries=2), None)
    with pytest.raises(SendError) as caught:
        await pool.send(make_message())
    assert caught.value.diagnosis.unconfirmed and caught.value.attempts == 1
    assert pool.stats().retried == 0
    assert pool.stats().connections_open == 0  # the broken connection was discarded
    result = await pool.send(make_message())  # the next message goes on a new connection
    await pool.close()
    assert result.attempts == 1
    assert server.stats.opened == 2


async def test_4xx_is_retried_on_a_different_connection_and_the_first_is_reset(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain", faults=Faults(data_replies=["451 4.3.0 Try later"]))
    pool = ServerPool(settings_for(server, max_conns=2), None)
    result = await pool.send(make_message())
    assert result.attempts == 2
    [refused_on] = server.stats.refused_peers
    [received] = server.messages
    assert received.peer != refused_on
    assert server.stats.resets >= 1
    assert server.stats.closed == 0  # RSET, kept for reuse
    assert pool.stats().connections_open == 2
    await pool.close()
    assert server.stats.quits == 2


async def test_5xx_is_not_retried(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain", faults=Faults(data_reply="554 5.7.1 Message rejected"))
    pool = ServerPool(settings_for(server, max_msg_retries=3), None)
    with pytest.raises(SendError) as caught:
        await pool.send(make_message())
    assert caught.value.attempts == 1
    assert caught.value.diagnosis.cause == "permanent_failure"
    assert caught.value.diagnosis.raw == "554 5.7.1 Message rejected"
    stats = pool.stats()
    assert (stats.failed, stats.retried, stats.last_error) == (1, 0, caught.value.diagnosis)
    await pool.close()
    assert len(server.stats.refused_peers) == 1


async def test_server_headers_are_added_and_return_path_is_the_envelope_sender(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain")
    headers = (("X-Campaign", "spring"), ("Return-Path", "bounces@example.test"))
    pool = ServerPool(settings_for(server, email_headers=headers), None)
    original = make_message()
    await pool.send(original)
    await pool.close()
    [received] = server.messages
    assert received.mail_from == "bounces@example.test"
    assert b"X-Campaign: spring" in received.content
    assert b"Return-Path" not in received.content
    assert original["X-Campaign"] is None  # the caller's message is unchanged


async def test_some_recipients_refused_is_a_partial_success(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory(
        "plain", faults=Faults(rcpt_replies={"nobody@example.test": "550 5.1.1 No such user"})
    )
    pool = ServerPool(settings_for(server), None)
    result = await pool.send(make_message(), recipients=["bob@example.test", "nobody@example.test"])
    await pool.close()
    assert result.refused == {"nobody@example.test": "550 5.1.1 No such user"}
    assert server.messages[0].rcpt_tos == ["bob@example.test"]


async def test_close_quits_every_connection_and_wakes_waiters(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.3}))
    pool = ServerPool(settings_for(server, max_conns=2, wait_timeout=30), None)
    sends = [asyncio.create_task(pool.send(make_message(f"r{i}@example.test"))) for i in range(4)]
    await server.wait_until(lambda: server.stats.opened == 2)
    await pool.close()
    outcomes = await asyncio.gather(*sends, return_exceptions=True)
    waiting = [o for o in outcomes if isinstance(o, SendError)]
    assert [e.diagnosis.cause for e in waiting] == ["pool_closed", "pool_closed"]
    await server.wait_until(lambda: server.stats.closed == 2)
    assert server.stats.quits == 2


def as_bytes(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=email.policy.SMTP)


async def test_bytes_get_server_headers_and_return_path_becomes_the_envelope_sender(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain")
    headers = (("X-Campaign", "spring"), ("X-Note", "été"))
    pool = ServerPool(settings_for(server, email_headers=headers), None)
    message = make_message()
    message["Return-Path"] = "<bounces@example.test>"
    message["X-Campaign"] = "own"
    result = await pool.send(
        as_bytes(message), sender="alice@example.test", recipients=["bob@example.test"]
    )
    await pool.close()
    [received] = server.messages
    assert received.mail_from == "bounces@example.test"
    assert received.rcpt_tos == ["bob@example.test"]
    parsed = email.message_from_bytes(received.content, policy=email.policy.default)
    assert parsed["Return-Path"] is None
    assert parsed.get_all("X-Campaign") == ["own"]  # the message's own wins
    assert parsed["X-Note"] == "été"  # RFC 2047 on the wire, decoded here
    assert received.content.isascii()
    assert parsed.get_content().replace("\r\n", "\n") == "Hi Bob,\n\nthis is a test.\n"
    assert result.reply == "250 2.0.0 OK: queued"


async def test_bytes_need_a_sender_and_recipients(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    pool = ServerPool(settings_for(server), None)
    with pytest.raises(ValueError, match="sender and recipients"):
        await pool.send(as_bytes(make_message()))
    await pool.close()
    assert server.stats.opened == 0


async def test_bytes_partial_refusal_and_4xx_retry_keep_their_codes(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory(
        "plain",
        faults=Faults(
            rcpt_replies={"nobody@example.test": "550 5.1.1 No such user"},
            data_replies=["451 4.3.0 Try later"],
        ),
    )
    pool = ServerPool(settings_for(server, max_conns=2), None)
    result = await pool.send(
        as_bytes(make_message()),
        sender="alice@example.test",
        recipients=["bob@example.test", "nobody@example.test"],
    )
    await pool.close()
    assert result.refused == {"nobody@example.test": "550 5.1.1 No such user"}
    assert result.attempts == 2
    assert server.stats.resets >= 1  # the refused transaction was reset
    assert [m.rcpt_tos for m in server.messages] == [["bob@example.test"]]


async def test_many_more_sends_than_connections_never_time_out(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.01}))
    # Each send waits for up to 39 others on 2 connections; 5 s is ten times what that takes.
    pool = ServerPool(settings_for(server, max_conns=2, wait_timeout=5), None)
    sends = [pool.send(make_message(f"r{i}@example.test")) for i in range(40)]
    outcomes = await asyncio.gather(*sends, return_exceptions=True)
    await pool.close()
    failures = [o for o in outcomes if not isinstance(o, SendResult)]
    assert failures == []
    assert len(server.messages) == 40
    assert server.stats.max_open == 2
    assert pool.stats().connections_busy == 0


async def test_waiters_are_served_in_order_and_a_cancelled_one_gives_its_turn_away(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"DATA": 0.05}))
    pool = ServerPool(settings_for(server, max_conns=1, wait_timeout=30), None)
    first = asyncio.create_task(pool.send(make_message("first@example.test")))
    await server.wait_until(lambda: server.stats.opened == 1)
    waiting = [asyncio.create_task(pool.send(make_message(f"w{i}@example.test"))) for i in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()
    await asyncio.gather(first, *waiting[1:])
    await pool.close()
    assert [m.rcpt_tos[0] for m in server.messages] == [
        "first@example.test",
        "w1@example.test",
        "w2@example.test",
    ]
    assert waiting[0].cancelled()
    assert pool.stats().connections_open == 0 and pool.stats().connections_busy == 0


async def test_bytes_declare_their_size_and_8bit_content(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain")
    pool = ServerPool(settings_for(server), None)
    data = "From: a@example.test\r\nSubject: s\r\n\r\nGrüße\r\n".encode()
    await pool.send(data, sender="a@example.test", recipients=["b@example.test"])
    plain = b"Subject: s\r\n\r\nplain\r\n"
    await pool.send(plain, sender="a@example.test", recipients=["b@example.test"])
    with pytest.raises(SendError):  # the test server does not offer SMTPUTF8
        await pool.send(data, sender="a@example.test", recipients=["jörg@example.test"])
    await pool.close()
    eight_bit, seven_bit = server.messages
    assert eight_bit.mail_options == [f"SIZE={len(data)}", "BODY=8BITMIME"]
    assert eight_bit.content == data
    assert seven_bit.mail_options == [f"SIZE={len(plain)}"]
