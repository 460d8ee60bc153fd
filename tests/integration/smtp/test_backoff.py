"""How the pool treats a server that asks it to wait: 421 and rate limits back the server
off (as long as the reply asks, else doubling), greylisting is its own cause, and a
message sent without a final reply is marked unconfirmed."""

from __future__ import annotations

import pytest

from smtpdesk.core.smtp.pool import ServerPool, reply_delay
from smtpdesk.core.smtp.types import SendError
from tests.helpers.smtpd import Faults, SmtpdFactory, settings_for
from tests.integration.smtp.test_pool import make_message


async def failed_send(pool: ServerPool) -> SendError:
    with pytest.raises(SendError) as caught:
        await pool.send(make_message())
    return caught.value


async def test_421_is_not_retried_at_once_and_the_server_waits_as_long_as_the_reply_asks(
    smtpd_factory: SmtpdFactory,
) -> None:
    reply = "421 4.7.0 Too many messages, try again in 90 seconds"
    server = await smtpd_factory("plain", faults=Faults(data_reply=reply))
    pool = ServerPool(settings_for(server, max_msg_retries=2), None, backoff_start=0.1)
    error = await failed_send(pool)
    assert error.diagnosis.cause == "rate_limited" and error.attempts == 1
    assert len(server.stats.refused_peers) == 1  # not 3 attempts in a row
    stats = pool.stats()
    assert not stats.healthy and 85 < stats.backoff <= 90
    await pool.close()


async def test_repeated_421_doubles_the_back_off_and_a_success_ends_it(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain", faults=Faults(data_reply="421 4.7.0 Slow down"))
    pool = ServerPool(settings_for(server), None, backoff_start=0.2, backoff_max=10)
    backoffs = []
    for _ in range(3):
        await failed_send(pool)
        backoffs.append(pool.stats().backoff)
    assert [round(b, 1) for b in backoffs] == [0.2, 0.4, 0.8]
    server.faults.data_reply = None
    await pool.send(make_message())
    assert pool.healthy and pool.stats().backoff == 0
    await pool.close()


async def test_other_4xx_are_still_retried_on_another_connection(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain", faults=Faults(data_replies=["451 4.3.0 Local error"]))
    pool = ServerPool(settings_for(server, max_conns=2), None)
    assert (await pool.send(make_message())).attempts == 2
    assert pool.healthy
    await pool.close()


async def test_greylisting_is_its_own_cause_not_retried_at_once_nor_a_back_off(
    smtpd_factory: SmtpdFactory,
) -> None:
    reply = "451 4.7.1 Greylisted, please try again later"
    server = await smtpd_factory("plain", faults=Faults(rcpt_replies={"bob@example.test": reply}))
    pool = ServerPool(settings_for(server, max_msg_retries=2), None)
    error = await failed_send(pool)
    assert (error.diagnosis.cause, error.diagnosis.temporary, error.attempts) == (
        "greylisted",
        True,
        1,
    )
    assert pool.healthy  # greylisting is about one message, not the server
    await pool.close()


async def test_a_message_whose_reply_never_came_is_unconfirmed(
    smtpd_factory: SmtpdFactory,
) -> None:
    server = await smtpd_factory("plain", faults=Faults(drop_in_data=5))
    pool = ServerPool(settings_for(server, max_msg_retries=1, msg_retry_delay=0.0), None)
    error = await failed_send(pool)
    assert error.diagnosis.cause == "connection_dropped" and error.diagnosis.unconfirmed
    assert error.attempts == 1  # not sent again: the server may have it
    assert "never confirmed" in error.diagnosis.message
    await pool.close()


async def test_a_drop_before_the_content_is_not_unconfirmed(smtpd_factory: SmtpdFactory) -> None:
    server = await smtpd_factory("plain", faults=Faults(delays={"MAIL": 5}))
    pool = ServerPool(settings_for(server, max_msg_retries=0), None, command_timeout=0.3)
    error = await failed_send(pool)
    assert error.diagnosis.cause == "timeout" and not error.diagnosis.unconfirmed
    await pool.close()


@pytest.mark.parametrize(
    ("reply", "seconds"),
    [
        ("421 4.7.0 Try again in 5 minutes", 300),
        ("450 4.7.1 rate limited, retry after 30s", 30),
        ("421 Please wait 2 hours", 3600),  # capped
        ("421 4.7.0 Too many connections", 0),
    ],
)
def test_reply_delay(reply: str, seconds: float) -> None:
    assert reply_delay(reply) == seconds
