"""Ctrl-C pauses ``campaign send`` cleanly, also where the event loop has no signal
handlers (Windows' loops raise NotImplementedError from ``add_signal_handler``)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable

import pytest

from smtpdesk.cli import main
from smtpdesk.core.campaign.ledger import CampaignState, Ledger
from smtpdesk.core.store import Store
from tests.helpers.smtpd import SmtpdServer
from tests.integration.campaign.helpers import add_server, addresses, make_campaign


@pytest.mark.parametrize("loop_handlers", [True, False])
def test_sigint_pauses_the_send(
    store: Store,
    threaded_smtpd: Callable[..., SmtpdServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    loop_handlers: bool,
) -> None:
    if not loop_handlers:

        def unsupported(self: object, *args: object) -> None:
            raise NotImplementedError

        monkeypatch.setattr(asyncio.SelectorEventLoop, "add_signal_handler", unsupported)
    server = threaded_smtpd("plain")
    add_server(store, server)
    campaign = make_campaign(store, addresses(300), message_rate=30, concurrency=1)
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        assert main(["campaign", "send", str(campaign), "--no-progress"]) == 1
    finally:
        timer.cancel()
    assert "paused: interrupted" in capsys.readouterr().out
    stored = Ledger(store).campaign(campaign)
    assert (stored.state, stored.pause_reason) == (CampaignState.PAUSED, "interrupted")
    counts = Ledger(store).counts(campaign)
    assert counts.sending == 0 and 0 < counts.sent < 300
    assert signal.getsignal(signal.SIGTERM) is before  # put back as it was
