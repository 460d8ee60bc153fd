"""The transaction phase (core/smtp/pipeline.py) through the pool, against servers that
pipeline (tests/helpers/faulty_smtp.py, which also misbehaves on request) and aiosmtpd,
which offers neither PIPELINING nor CHUNKING (lock-step)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import trustme

from smtpdesk.core.settings import ServerSettings, TlsType
from smtpdesk.core.smtp.pool import ServerPool
from smtpdesk.core.smtp.types import SendError, SendResult
from tests.helpers.faulty_smtp import FaultySmtp
from tests.helpers.smtpd import (
    SmtpdFactory,
    cert_sha256,
    plain_settings,
    server_tls_context,
    settings_for,
)

SENDER = "alice@example.test"
Factory = Callable[..., Awaitable[FaultySmtp]]


def body(tag: str) -> bytes:
    # a line starting with "." must arrive as it was, whether dot-stuffed (DATA) or not (BDAT)
    return f"From: {SENDER}\r\nSubject: {tag}\r\n\r\nHello {tag}\r\n.leading dot\r\n".encode()


def settings(server: FaultySmtp, **overrides: Any) -> ServerSettings:
    return plain_settings(server.port, msg_retry_delay=0.0, **overrides)


async def send(pool: ServerPool, tag: str, rcpts: list[str]) -> SendResult:
    return await pool.send(body(tag), sender=SENDER, recipients=rcpts)


@pytest.fixture
async def faulty() -> AsyncIterator[Factory]:
    servers: list[FaultySmtp] = []

    async def factory(*extensions: str, hold_until_last: bool = False) -> FaultySmtp:
        server = await FaultySmtp(extensions, hold_until_last=hold_until_last).start()
        servers.append(server)
        return server

    yield factory
    for server in servers:
        await server.stop()


# --- the ways of sending ---------------------------------------------------------------


async def test_pipelining_sends_mail_rcpt_and_data_in_one_write(faulty: Factory) -> None:
    # The server answers nothing before the group's DATA: lock-step would stall here.
    server = await faulty("PIPELINING", hold_until_last=True)
    pool = ServerPool(settings(server), None, command_timeout=2)
    result = await send(pool, "one", ["bob@example.test", "carol@example.test"])
    await pool.close()
    assert result.reply == "250 2.0.0 Ok: queued" and result.refused == {}
    [message] = server.messages
    assert message.via == "DATA" and message.content == body("one")
    assert message.rcpt_tos == ["bob@example.test", "carol@example.test"]
    assert ["MAIL", "RCPT", "RCPT", "DATA"] in server.reads[0]  # one read, so one write
    assert "RSET" not in server.commands[0]  # only after a failure
    assert server.commands[0][-1] == "QUIT"  # aiosmtplib has the connection back for it


async def test_chunking_sends_the_whole_transaction_in_one_write(faulty: Factory) -> None:
    server = await faulty("PIPELINING", "CHUNKING", hold_until_last=True)
    pool = ServerPool(settings(server), None, command_timeout=2)
    await send(pool, "one", ["bob@example.test"])
    await pool.close()
    [message] = server.messages
    assert message.via == "BDAT" and message.content == body("one")  # no dot-stuffing
    assert ["MAIL", "RCPT", "BDAT"] in server.reads[0]


async def test_a_window_of_transactions_shares_one_connection(faulty: Factory) -> None:
    server = await faulty("PIPELINING", "CHUNKING")
    pool = ServerPool(settings(server, max_conns=1), None)
    results = await asyncio.gather(
        *(send(pool, f"m{i}", [f"r{i}@example.test"]) for i in range(12))
    )
    stats = pool.stats()
    await pool.close()
    assert server.connections == 1 and stats.sent == 12
    assert sorted(m.rcpt_tos[0] for m in server.messages) == sorted(
        f"r{i}@example.test" for i in range(12)
    )
    assert all(m.content == body(f"m{m.rcpt_tos[0][1:].split('@')[0]}") for m in server.messages)
    assert all(r.reply.startswith("250") for r in results)
    # transactions were in flight together: several MAILs arrived in one read
    assert max(r.count("MAIL") for r in server.reads[0]) > 1
    # and each MAIL after the first in a window came behind an RSET, never nested
    assert "503" not in "".join(r.reply for r in results)


async def test_each_reply_in_a_window_goes_to_its_own_message_and_recipient(
    faulty: Factory,
) -> None:
    server = await faulty("PIPELINING", "CHUNKING")
    server.faults.rcpt_replies = {
        "gone1@example.test": "550 5.1.1 No such user",
        "busy2@example.test": "450 4.2.0 Mailbox busy",
        "gone3@example.test": "550 5.1.1 No such user",
    }
    pool = ServerPool(settings(server, max_conns=1), None)
    sends = [
        send(
            pool,
            f"m{i}",
            [f"ok{i}@example.test", f"gone{i}@example.test" if i % 2 else f"busy{i}@example.test"],
        )
        for i in range(1, 5)
    ]
    results = await asyncio.gather(*sends)
    await pool.close()
    assert results[0].refused == {"gone1@example.test": "550 5.1.1 No such user"}
    assert results[1].refused == {"busy2@example.test": "450 4.2.0 Mailbox busy"}
    assert results[2].refused == {"gone3@example.test": "550 5.1.1 No such user"}
    assert results[3].refused == {}
    assert sorted(tuple(m.rcpt_tos) for m in server.messages) == [
        ("ok1@example.test",),
        ("ok2@example.test",),
        ("ok3@example.test",),
        ("ok4@example.test", "busy4@example.test"),
    ]


async def test_aiosmtpd_without_pipelining_is_sent_in_lock_step(
    smtpd_factory: SmtpdFactory,
) -> None:
    from tests.helpers.smtpd import Faults

    server = await smtpd_factory(
        "plain", faults=Faults(rcpt_replies={"nobody@example.test": "550 5.1.1 No"})
    )
    pool = ServerPool(settings_for(server, max_conns=1), None)
    results = await asyncio.gather(
        *(send(pool, f"m{i}", [f"r{i}@example.test", "nobody@example.test"]) for i in range(5))
    )
    await pool.close()
    assert [r.refused for r in results] == [{"nobody@example.test": "550 5.1.1 No"}] * 5
    assert sorted(m.rcpt_tos[0] for m in server.messages) == [
        f"r{i}@example.test" for i in range(5)
    ]
    assert server.messages[0].content.endswith(b"\r\n.leading dot\r\n")
    assert server.stats.opened == 1


# --- failures in the pipeline -------------------------------------------------------------


async def test_every_rcpt_refused_but_354_sends_a_lone_dot(faulty: Factory) -> None:
    server = await faulty("PIPELINING")
    server.faults.start_input_always = True
    server.faults.rcpt_replies = {"gone@example.test": "550 5.1.1 No such user"}
    pool = ServerPool(settings(server, max_conns=1), None)
    with pytest.raises(SendError) as caught:
        await send(pool, "none", ["gone@example.test"])
    assert caught.value.diagnosis.code == 550 and caught.value.attempts == 1
    assert server.messages == []  # the content was never sent: only "."
    await send(pool, "next", ["bob@example.test"])  # the connection goes on, after RSET
    await pool.close()
    assert server.connections == 1
    assert server.commands[0].count("DATA") == 2 and "RSET" in server.commands[0]
    assert [m.rcpt_tos for m in server.messages] == [["bob@example.test"]]


async def test_every_rcpt_refused_ends_at_data_and_is_reset(faulty: Factory) -> None:
    server = await faulty("PIPELINING")
    server.faults.rcpt_replies = {"gone@example.test": "550 5.1.1 No such user"}
    pool = ServerPool(settings(server, max_conns=1), None)
    with pytest.raises(SendError) as caught:
        await send(pool, "none", ["gone@example.test"])
    assert caught.value.diagnosis.code == 550
    await send(pool, "next", ["bob@example.test"])
    await pool.close()
    assert server.commands[0][:7] == ["EHLO", "MAIL", "RCPT", "DATA", "RSET", "MAIL", "RCPT"]


@pytest.mark.parametrize("extensions", [("PIPELINING",), ("PIPELINING", "CHUNKING"), ()])
async def test_4xx_at_mail_is_retried_on_another_connection(
    faulty: Factory, extensions: tuple[str, ...]
) -> None:
    server = await faulty(*extensions)
    server.faults.mail_replies = ["451 4.3.0 Try again"]
    pool = ServerPool(settings(server, max_conns=2, max_msg_retries=1), None)
    result = await send(pool, "m", ["bob@example.test", "carol@example.test"])
    await pool.close()
    assert result.attempts == 2 and server.connections == 2
    [message] = server.messages
    assert message.connection == 1 and message.rcpt_tos == [
        "bob@example.test",
        "carol@example.test",
    ]


async def test_5xx_at_mail_is_not_retried(faulty: Factory) -> None:
    server = await faulty("PIPELINING", "CHUNKING")
    server.faults.mail_reply = "553 5.7.1 Sender refused"
    pool = ServerPool(settings(server), None)
    with pytest.raises(SendError) as caught:
        await send(pool, "m", ["bob@example.test"])
    await pool.close()
    assert caught.value.attempts == 1 and caught.value.diagnosis.code == 553
    assert server.connections == 1 and server.messages == []


async def test_a_drop_after_mail_before_the_content_is_retried_on_another_connection(
    faulty: Factory,
) -> None:
    server = await faulty("PIPELINING")
    server.faults.drop_after_mail = 1
    pool = ServerPool(settings(server, max_msg_retries=2), None)
    result = await send(pool, "m", ["bob@example.test"])
    await pool.close()
    assert result.attempts == 2 and server.connections == 2
    [message] = server.messages
    assert message.connection == 1


async def test_a_drop_after_mail_with_bdat_already_written_is_unconfirmed(faulty: Factory) -> None:
    # With CHUNKING the content goes out with MAIL: without its reply nothing proves the
    # server did not take it, so it is not sent again (that could duplicate it).
    server = await faulty("PIPELINING", "CHUNKING")
    server.faults.drop_after_mail = 1
    pool = ServerPool(settings(server, max_msg_retries=2), None)
    with pytest.raises(SendError) as caught:
        await send(pool, "m", ["bob@example.test"])
    await pool.close()
    assert caught.value.diagnosis.unconfirmed and caught.value.attempts == 1
    assert server.connections == 1


@pytest.mark.parametrize("extensions", [("PIPELINING",), ("PIPELINING", "CHUNKING"), ()])
async def test_a_drop_after_the_content_is_unconfirmed_and_not_resent(
    faulty: Factory, extensions: tuple[str, ...]
) -> None:
    server = await faulty(*extensions)
    server.faults.drop_after_content = 1
    pool = ServerPool(settings(server, max_msg_retries=2), None)
    with pytest.raises(SendError) as caught:
        await send(pool, "m", ["bob@example.test"])
    assert caught.value.diagnosis.unconfirmed and caught.value.attempts == 1
    assert pool.stats().retried == 0 and server.connections == 1
    await send(pool, "next", ["bob@example.test"])  # the pool goes on with a new connection
    await pool.close()
    assert server.connections == 2


async def test_5xx_after_bdat_fails_only_that_message_and_keeps_the_connection(
    faulty: Factory,
) -> None:
    server = await faulty("PIPELINING", "CHUNKING")
    server.faults.bdat_replies = ["554 5.7.1 Content refused"]
    pool = ServerPool(settings(server, max_conns=1), None)
    with pytest.raises(SendError) as caught:
        await send(pool, "bad", ["bob@example.test"])
    assert caught.value.attempts == 1 and caught.value.diagnosis.code == 554
    result = await send(pool, "good", ["bob@example.test"])
    await pool.close()
    assert result.attempts == 1 and server.connections == 1
    assert [m.content for m in server.messages] == [body("good")]
    assert "RSET" in server.commands[0]


async def test_5xx_after_bdat_in_a_window_fails_only_its_own_message(faulty: Factory) -> None:
    server = await faulty("PIPELINING", "CHUNKING")
    server.faults.bdat_replies = ["250 2.0.0 Ok", "554 5.7.1 Content refused"]
    pool = ServerPool(settings(server, max_conns=1), None)
    outcomes = await asyncio.gather(
        *(send(pool, f"m{i}", [f"r{i}@example.test"]) for i in range(6)), return_exceptions=True
    )
    await pool.close()
    failed = [o for o in outcomes if isinstance(o, SendError)]
    assert len(failed) == 1 and failed[0].diagnosis.code == 554
    assert len(server.messages) == 4  # the first got a scripted 250 and was not recorded
    assert server.connections == 1


async def test_a_stalled_pipeline_falls_back_to_lock_step(faulty: Factory) -> None:
    # The server advertises PIPELINING, then never answers after MAIL on its first connection.
    server = await faulty("PIPELINING")
    server.faults.stall_after, server.faults.stall_connections = "MAIL", 1
    pool = ServerPool(settings(server, max_msg_retries=1), None, command_timeout=0.3)
    result = await send(pool, "m", ["bob@example.test", "carol@example.test"])
    second = await send(pool, "m2", ["bob@example.test"])
    await pool.close()
    assert result.attempts == 2 and second.attempts == 1 and server.connections == 2
    # the second connection sent each command on its own: one verb per read
    assert all(len(verbs) <= 1 for verbs in server.reads[1])
    assert len(server.messages) == 2


async def test_a_stall_before_the_content_is_a_timeout_not_unconfirmed(faulty: Factory) -> None:
    server = await faulty("PIPELINING")
    server.faults.stall_after, server.faults.stall_connections = "MAIL", 5
    pool = ServerPool(settings(server, max_msg_retries=0), None, command_timeout=0.3)
    with pytest.raises(SendError) as caught:
        await send(pool, "m", ["bob@example.test"])
    await pool.close()
    assert caught.value.diagnosis.cause == "timeout" and not caught.value.diagnosis.unconfirmed


async def test_a_stall_after_bdat_is_unconfirmed(faulty: Factory) -> None:
    server = await faulty("PIPELINING", "CHUNKING")
    server.faults.stall_after, server.faults.stall_connections = "RCPT", 5
    pool = ServerPool(settings(server, max_msg_retries=2), None, command_timeout=0.3)
    with pytest.raises(SendError) as caught:
        await send(pool, "m", ["bob@example.test"])
    await pool.close()
    assert caught.value.diagnosis.unconfirmed and caught.value.attempts == 1


async def test_a_drop_mid_window_fails_what_was_in_flight_and_resends_nothing_unconfirmed(
    faulty: Factory,
) -> None:
    server = await faulty("PIPELINING", "CHUNKING")
    server.faults.drop_after_content = 1
    pool = ServerPool(settings(server, max_conns=1, max_msg_retries=2), None)
    outcomes = await asyncio.gather(
        *(send(pool, f"m{i}", [f"r{i}@example.test"]) for i in range(8)), return_exceptions=True
    )
    await pool.close()
    failed = [o for o in outcomes if isinstance(o, SendError)]
    sent = [o for o in outcomes if isinstance(o, SendResult)]
    assert failed and all(e.diagnosis.unconfirmed and e.attempts == 1 for e in failed)
    assert len(failed) <= 4  # at most the window
    assert len(sent) + len(failed) == 8 and len(server.messages) == len(sent)


async def test_a_refused_mail_then_a_drop_is_retried_even_with_bdat_written(
    faulty: Factory,
) -> None:
    # The 421 to MAIL proves the message was not taken, although its content went out.
    server = await faulty("PIPELINING", "CHUNKING")
    server.faults.mail_replies = ["421 4.3.2 Shutting down"]
    server.faults.drop_after_mail = 1
    pool = ServerPool(settings(server, max_msg_retries=1), None)
    result = await send(pool, "m", ["bob@example.test"])
    await pool.close()
    assert result.attempts == 2 and server.connections == 2
    assert [m.connection for m in server.messages] == [1]


async def test_a_data_window_resets_only_after_a_refused_transaction(faulty: Factory) -> None:
    # PIPELINING without CHUNKING: a group waits behind the previous DATA's 354, so when it
    # goes out the previous transaction is known; RSET only when that one left a sender.
    server = await faulty("PIPELINING")
    server.faults.rcpt_replies = {"gone@example.test": "550 5.1.1 No such user"}
    pool = ServerPool(settings(server, max_conns=1), None)
    rcpts = [["gone@example.test"] if i == 3 else [f"r{i}@example.test"] for i in range(10)]
    outcomes = await asyncio.gather(
        *(send(pool, f"m{i}", r) for i, r in enumerate(rcpts)), return_exceptions=True
    )
    await pool.close()
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, SendError)]
    assert failed == [3]  # and no "503 nested MAIL" for any other
    assert len(server.messages) == 9 and server.connections == 1
    assert 1 <= server.commands[0].count("RSET") <= 2  # not one per message
    # the next group went out in the same write as the previous content
    behind = re.compile(rb"\r\n\.\r\n(RSET\r\n)?MAIL FROM:")
    assert any(behind.search(chunk) for chunk in server.chunks[0])


@pytest.mark.parametrize("extensions", [("PIPELINING",), ("PIPELINING", "CHUNKING")])
async def test_pipelining_over_implicit_tls_with_the_certificate_pinned(
    server_cert: trustme.LeafCert, extensions: tuple[str, ...]
) -> None:
    # The transaction phase takes over a TLS transport as well; the pin is checked at the
    # handshake, before any of it.
    server = await FaultySmtp(extensions, hold_until_last=True).start(
        server_tls_context(server_cert)
    )
    try:
        pin = cert_sha256(server_cert)
        pool = ServerPool(
            settings(server, tls_type=TlsType.TLS, tls_pin_sha256=pin, max_conns=1),
            None,
            command_timeout=2,
        )
        results = await asyncio.gather(
            *(send(pool, f"m{i}", [f"r{i}@example.test"]) for i in range(6))
        )
        await pool.close()
    finally:
        await server.stop()
    assert all(r.reply.startswith("250") for r in results)
    assert sorted(m.content for m in server.messages) == sorted(body(f"m{i}") for i in range(6))
    assert server.connections == 1


async def test_a_cancelled_send_never_sends_its_content_afterwards(faulty: Factory) -> None:
    # Two transactions share one connection; the first is cancelled while its DATA waits
    # for 354. Its content must not follow (its recipient stays "sending" and goes again on
    # resume): the connection is closed, and the second message goes on a new one.
    server = await faulty("PIPELINING")
    server.faults.data_delay = 1.0
    pool = ServerPool(settings(server, max_conns=1), None, command_timeout=5)
    first = asyncio.ensure_future(send(pool, "first", ["a@example.test"]))
    await asyncio.sleep(0.15)  # connected, the first group written
    second = asyncio.ensure_future(send(pool, "second", ["b@example.test"]))  # shares it
    await asyncio.sleep(0.15)  # its group waits behind the first DATA; no 354 yet
    server.faults.data_delay = 0.0
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    result = await second
    await pool.close()
    assert result.attempts == 2  # its connection was closed before its content went out
    assert [m.rcpt_tos for m in server.messages] == [["b@example.test"]]
    assert server.connections == 2
