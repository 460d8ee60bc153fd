"""MessengerSender: strict rotation, and a failing server skipped then taken back."""

from __future__ import annotations

import asyncio

from smtpdesk.core.messengers import Messenger
from smtpdesk.core.smtp.messenger import MessengerSender
from tests.helpers.smtpd import Faults, SmtpdFactory, settings_for
from tests.integration.smtp.test_pool import make_message


async def test_rotation_across_three_servers_is_even_to_within_one(
    smtpd_factory: SmtpdFactory,
) -> None:
    servers = [await smtpd_factory("plain") for _ in range(3)]
    messenger = Messenger("email", tuple(settings_for(s) for s in servers))
    sender = MessengerSender(messenger, lambda _uuid: None)
    await asyncio.gather(*(sender.send(make_message(f"r{i}@example.test")) for i in range(31)))
    await sender.close()
    counts = sorted(len(s.messages) for s in servers)
    assert counts == [10, 10, 11]
    assert sum(st.sent for st in sender.stats()) == 31
    assert all(s.stats.quits == s.stats.opened for s in servers)


async def test_eligible_limits_the_choice(smtpd_factory: SmtpdFactory) -> None:
    servers = [await smtpd_factory("plain") for _ in range(2)]
    settings = [settings_for(s) for s in servers]
    sender = MessengerSender(Messenger("email", tuple(settings)), lambda _uuid: None)
    for _ in range(4):
        await sender.send(make_message(), eligible=lambda s: s.uuid == settings[1].uuid)
    assert sender.pick(lambda s: False) is None
    await sender.close()
    assert [len(s.messages) for s in servers] == [0, 4]


async def test_failing_server_is_skipped_then_taken_back(smtpd_factory: SmtpdFactory) -> None:
    good = await smtpd_factory("plain")
    bad = await smtpd_factory("plain", faults=Faults(delays={"greeting": 30}))
    messenger = Messenger("email", (settings_for(bad, max_msg_retries=0), settings_for(good)))
    sender = MessengerSender(messenger, lambda _uuid: None, command_timeout=0.3, backoff_start=0.5)
    for i in range(6):
        await sender.send(make_message(f"r{i}@example.test"))  # all succeed via the good one
    assert len(good.messages) == 6
    bad_stats = sender.stats()[0]
    assert not bad_stats.healthy
    assert bad_stats.last_error is not None and bad_stats.last_error.cause == "timeout"
    assert bad.stats.opened == 1  # skipped after the first failure
    bad.faults.delays.clear()
    await asyncio.sleep(0.6)  # the back-off ends
    for i in range(4):
        await sender.send(make_message(f"s{i}@example.test"))
    await sender.close()
    assert len(bad.messages) == 2
    assert sender.stats()[0].healthy
