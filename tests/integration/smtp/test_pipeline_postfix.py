"""The transaction phase against a real Postfix smtpd (tests/helpers/postfix.py): CHUNKING,
PIPELINING alone, ``smtpd_forbid_unauth_pipelining=yes`` with and without PIPELINING."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from smtpdesk.core.settings import ServerSettings
from smtpdesk.core.smtp.pool import ServerPool
from smtpdesk.core.smtp.types import SendError, SendResult
from tests.helpers.postfix import LATER, REFUSED, REJECT_BODY, Postfix
from tests.helpers.smtpd import plain_settings

SENDER = "alice@example.test"


def settings(postfix: Postfix, service: str, **overrides: Any) -> ServerSettings:
    return plain_settings(postfix.ports[service], msg_retry_delay=0.0, **overrides)


def body(tag: str, line: str = "") -> bytes:
    return (
        f"From: {SENDER}\r\nSubject: {tag}\r\nMessage-ID: <{tag}@example.test>\r\n\r\n"
        f"Hello\r\n.leading dot\r\n{line}\r\n"
    ).encode()


@pytest.mark.parametrize("service", ["chunking", "pipelining", "forbid", "forbid-data", "lockstep"])
async def test_many_messages_with_partial_refusals_arrive_once_each(
    postfix: Postfix, service: str
) -> None:
    token = uuid.uuid4().hex[:8]
    pool = ServerPool(settings(postfix, service, max_conns=2, max_msg_retries=0), None)
    rcpts = [f"{token}.{i}@example.test" for i in range(24)]
    sends = [
        pool.send(body(f"{token}{i}"), sender=SENDER, recipients=[r, REFUSED, LATER])
        for i, r in enumerate(rcpts)
    ]
    results = await asyncio.gather(*sends)
    wires = [c.wire for c in pool._idle]  # which way each talked
    await pool.close()
    assert all(isinstance(r, SendResult) and r.reply.startswith("250 2.0.0 Ok") for r in results)
    for result in results:
        assert set(result.refused) == {REFUSED, LATER}
        assert result.refused[REFUSED].startswith("550 5.1.1")
        assert result.refused[LATER].startswith("450 4.2.0")
    assert postfix.wait_delivered(dict.fromkeys(rcpts, 1)) == dict.fromkeys(rcpts, 1)
    assert all(w is not None for w in wires)
    assert {(w.pipelining, w.chunking) for w in wires if w} == {
        "chunking": {(True, True)},
        "pipelining": {(True, False)},
        "forbid": {(True, True)},
        "forbid-data": {(True, False)},
        "lockstep": {(False, False)},
    }[service]
    log = postfix.log_text()
    assert "improper command pipelining" not in log


@pytest.mark.parametrize("service", ["chunking", "pipelining", "lockstep"])
async def test_every_recipient_refused_then_the_connection_goes_on(
    postfix: Postfix, service: str
) -> None:
    token = uuid.uuid4().hex[:8]
    pool = ServerPool(settings(postfix, service, max_conns=1), None)
    with pytest.raises(SendError) as caught:
        await pool.send(body(f"{token}a"), sender=SENDER, recipients=[REFUSED])
    assert caught.value.attempts == 1 and caught.value.diagnosis.code == 550
    after = f"{token}@example.test"
    result = await pool.send(body(f"{token}b"), sender=SENDER, recipients=[after])
    stats = pool.stats()
    await pool.close()
    assert result.attempts == 1 and stats.connections_open == 1
    assert postfix.wait_delivered({after: 1}) == {after: 1}


@pytest.mark.parametrize("service", ["chunking", "pipelining", "lockstep"])
async def test_content_refused_after_the_data_fails_only_that_message(
    postfix: Postfix, service: str
) -> None:
    token = uuid.uuid4().hex[:8]
    pool = ServerPool(settings(postfix, service, max_conns=1), None)
    rcpts = [f"{token}.{i}@example.test" for i in range(6)]
    outcomes = await asyncio.gather(
        *(
            pool.send(
                body(f"{token}{i}", REJECT_BODY if i == 2 else ""), sender=SENDER, recipients=[r]
            )
            for i, r in enumerate(rcpts)
        ),
        return_exceptions=True,
    )
    await pool.close()
    failed = [i for i, o in enumerate(outcomes) if isinstance(o, SendError)]
    assert failed == [2]
    error = outcomes[2]
    assert isinstance(error, SendError) and error.diagnosis.code == 550 and error.attempts == 1
    expected = {r: 0 if i == 2 else 1 for i, r in enumerate(rcpts)}
    assert postfix.wait_delivered(expected) == expected
