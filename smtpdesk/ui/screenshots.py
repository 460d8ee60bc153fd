"""``smtpdesk --screenshots DIR``: each main screen, with sample data, rendered offscreen to PNG.

Everything happens in a throwaway data folder with an in-memory keyring, against SMTP
servers on 127.0.0.1 started here: a sink that refuses some recipients (for the error
panel) and the sandbox (for the inbox and a real authentication failure).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

SINK_DELAY = 0.004  # seconds per message, so the campaign is still running when paused
RECIPIENTS = 3000


class _Sink:
    """An aiosmtpd handler that accepts all but ``bounce*`` addresses, a little slowly."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("bounce"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(SINK_DELAY)
        return "250 2.0.0 Ok: queued"


def _recipients_file(folder: Path) -> Path:
    first = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus"]
    lines = ["email,first_name,city"]
    for i in range(RECIPIENTS):
        name = first[i % len(first)]
        local = f"bounce{i}" if i % 97 == 5 else f"{name.lower()}.{i}"
        lines.append(f"{local}@example.com,{name},{['Lyon', 'Oslo', 'Porto'][i % 3]}")
    lines[40] = "not-an-address,Broken,Lyon"
    lines[77] = "ada.0@example.com,Ada,Lyon"
    lines[120] = "grace@@example,Grace,Oslo"
    path = folder / "newsletter-subscribers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Shooter:
    """Drives the real windows and saves what they show."""

    def __init__(self, out: Path, app: Any) -> None:
        self.out = out
        self.app = app
        self.saved: list[Path] = []

    async def settle(self, seconds: float = 0.3) -> None:
        await asyncio.sleep(seconds)
        self.app.processEvents()

    async def shoot(self, widget: Any, name: str) -> None:
        widget.show()
        widget.raise_()
        await self.settle()
        path = self.out / f"{name}.png"
        widget.grab().save(str(path))
        self.saved.append(path)


async def until(predicate: Callable[[], Any], limit: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("a sample screen did not reach the expected state")
        await asyncio.sleep(0.05)


async def _scenario(shooter: Shooter, data: Path) -> None:
    from aiosmtpd.smtp import SMTP

    from smtpdesk.core.servers import save_server
    from smtpdesk.core.store import open_store
    from smtpdesk.ui.app import build_main_window
    from smtpdesk.ui.prompts import ScriptedPrompts

    loop = asyncio.get_running_loop()
    sink = await loop.create_server(
        lambda: SMTP(_Sink(), hostname="sink.local"), host="127.0.0.1", port=0
    )
    sink_port = int(sink.sockets[0].getsockname()[1])
    store = open_store(data)
    prompts = ScriptedPrompts()
    window = build_main_window(store, prompts)
    await window.sandbox.start()  # as on a first run: the sandbox and its server come first
    for values, password in _sample_servers(sink_port):
        assert save_server(store, values, password=password).settings is not None
    window.servers.refresh()
    window.resize(1180, 820)
    try:
        await _shoot_all(shooter, window, prompts, data)
    finally:
        # While the window is open (closing the last one stops the loop): stopping the
        # sandbox refreshes the server list, which the drain then waits for.
        await window.sandbox.stop()
        await window.bridge.drain()
        for child in list(window.windows.values()):
            child.close()
        window._closing_confirmed = True
        window.close()
        window.bridge.shutdown()
        sink.close()
        store.close()


def _sample_servers(sink_port: int) -> list[tuple[dict[str, object], str | None]]:
    return [
        (
            {
                "host": "smtp.gmail.com",
                "port": 587,
                "username": "news@example.com",
                "name": "newsletter",
                "max_per_day": 500,
                "max_conns": 4,
                "email_headers": '[["X-Campaign", "spring"], ["X-Mailer", "smtpdesk"]]',
            },
            "app-pass",
        ),
        (
            {
                "host": "email-smtp.eu-west-1.amazonaws.com",
                "port": 587,
                "auth_protocol": "login",
                "username": "AKIAEXAMPLE",
                "max_per_second": 14,
            },
            "ses-secret",
        ),
        ({"host": "smtp.sendgrid.net", "port": 2525, "username": "apikey", "enabled": False}, None),
        (
            {
                "host": "127.0.0.1",
                "port": sink_port,
                "tls_type": "none",
                "auth_protocol": "none",
                "name": "local-sink",
                "max_conns": 8,
            },
            None,
        ),
    ]


async def _shoot_all(shooter: Shooter, window: Any, prompts: Any, data: Path) -> None:
    window.show()
    await until(lambda: window.servers.list.topLevelItemCount() >= 5)
    await _main_window(shooter, window)
    await _test_failure(shooter, window)
    window.tabs.setCurrentWidget(window.performance)
    await shooter.shoot(window, "04-performance")
    campaign_id = await _wizard(shooter, window, prompts, data)
    await _live_panel(shooter, window, campaign_id)
    window.tabs.setCurrentWidget(window.campaigns_tab)
    await shooter.settle(0.8)
    await shooter.shoot(window, "12-campaigns-list")
    await _report_and_inbox(shooter, window, campaign_id)


async def _main_window(shooter: Shooter, window: Any) -> None:
    page = window.servers
    target = next(s for s in page.servers if s.name == "newsletter")
    page.list.setCurrentItem(page.list._item(target.uuid))
    await until(lambda: page.form.base is not None and page.form.base.uuid == target.uuid)
    page.list.set_status(target.uuid, True)
    await shooter.shoot(window, "01-main-window")
    form = page.form
    form.fields.lines["port"].setText("70000")
    form.fields.headers.setPlainText('[\n  ["X-Campaign", "spring"\n]')
    form.fields.headers.document().setModified(True)
    form.validate()
    scroll = form.findChild(type(form.fields.parentWidget().parentWidget().parentWidget()))
    if scroll is not None:
        scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
    await shooter.shoot(window, "02-form-validation")
    form.revert()


async def _test_failure(shooter: Shooter, window: Any) -> None:
    page = window.servers
    sandbox = next(s for s in page.servers if s.name == "sandbox")
    page.list.setCurrentItem(page.list._item(sandbox.uuid))
    await until(lambda: page.form.base is not None and page.form.base.uuid == sandbox.uuid)
    page.form.fields.password.setText("not-the-password")
    page.test_current()
    panel = window.windows["test"]
    await until(lambda: panel.report is not None)
    panel.raw_button.setChecked(True)
    await shooter.shoot(panel, "03-test-failure")
    panel.close()
    page.form.revert()


async def _wizard(shooter: Shooter, window: Any, prompts: Any, data: Path) -> int:
    from smtpdesk.ui.wizard.wizard import CampaignWizard

    window.new_campaign()
    wizard: CampaignWizard = window.windows["wizard"]
    prompts.answers = [str(_recipients_file(data))]
    wizard.recipients.choose_file()
    await until(wizard.recipients.isComplete)
    await shooter.shoot(wizard, "05-wizard-recipients")
    wizard.next()
    content = wizard.content
    content.subject.setText("Spring news for {{ first_name }}")
    content.from_name.setText("Example Books")
    content.from_address.setText("news@example.com")
    content.reply_to.setText("hello@example.com")
    content.html.setPlainText(
        "<h2>Hello {{ first_name }}!</h2>\n<p>Our spring catalogue is out, with readings in "
        '<b>{{ city }}</b> all through April.</p>\n<p><a href="https://example.com">'
        "See the programme</a></p>"
    )
    content.refresh_preview()
    await until(lambda: content.previews > 0)  # rendered on a thread
    await shooter.shoot(wizard, "06-wizard-content")
    wizard.next()
    delivery = wizard.delivery
    await until(delivery.isComplete)
    delivery.messenger.setCurrentIndex(delivery.messenger.findData("local-sink"))
    delivery.concurrency.setValue(4)
    delivery.rate.setValue(400)
    await shooter.shoot(wizard, "07-wizard-delivery")
    wizard.next()
    wizard.test_send.to.setText("me@example.com")
    wizard.test_send.send_now()
    await until(
        lambda: (
            "accepted" in wizard.test_send.result.text() or "✖" in wizard.test_send.result.text()
        )
    )
    await shooter.shoot(wizard, "08-wizard-test-send")
    wizard.next()
    await until(wizard.review.isComplete)
    await shooter.shoot(wizard, "09-wizard-review")
    campaign_id = wizard.state.campaign_id
    assert campaign_id is not None
    wizard.accept()
    return campaign_id


async def _live_panel(shooter: Shooter, window: Any, campaign_id: int) -> None:
    key = f"live-{campaign_id}"
    await until(lambda: key in window.windows)
    panel = window.windows[key]
    await until(
        lambda: (
            panel.control.latest() is not None
            and panel.control.latest().counts.done > RECIPIENTS * 0.45
        )
    )
    panel.control.pause()
    await until(lambda: panel.control.state == "paused")
    await shooter.shoot(panel, "10-live-panel-paused")
    panel.control.run()
    await until(lambda: panel.control.state == "finished", limit=120)
    await shooter.shoot(panel, "11-live-panel-finished")


async def _report_and_inbox(shooter: Shooter, window: Any, campaign_id: int) -> None:
    from smtpdesk.ui.inbox_window import InboxWindow
    from smtpdesk.ui.recipient_report import RecipientReport

    report = RecipientReport(window.bridge, campaign_id, parent=window)
    report.filter.setCurrentIndex(report.filter.findData("failed"))
    await until(lambda: report.model.count > 0)
    report.table.model().data(report.model.index(0, 1))
    await shooter.settle(0.5)
    await shooter.shoot(report, "13-recipient-report")
    report.close()
    await _send_to_sandbox(window)
    inbox = InboxWindow(window.bridge, window.sandbox, parent=window)
    await until(lambda: len(inbox.messages) > 0)
    await shooter.settle(0.5)
    await shooter.shoot(inbox, "14-sandbox-inbox")
    inbox.close()


async def _send_to_sandbox(window: Any) -> None:
    """Two messages through the 'sandbox' server, so the inbox has something to show."""
    from email.message import EmailMessage
    from email.utils import formatdate

    from smtpdesk.core.messengers import resolve_messenger
    from smtpdesk.core.smtp.messenger import MessengerSender

    servers = await asyncio.to_thread(window.bridge.store.servers)
    sender = await asyncio.to_thread(MessengerSender, resolve_messenger(servers, "sandbox"))
    try:
        for subject in ("Spring news for Ada", "Your reading list"):
            message = EmailMessage()
            message["From"] = "Example Books <news@example.com>"
            message["To"] = "ada@example.com"
            message["Subject"] = subject
            message["Date"] = formatdate(localtime=True)
            message.set_content("Hello Ada,\n\nOur spring catalogue is out.")
            message.add_alternative(
                "<h2>Hello Ada!</h2><p>Our <b>spring catalogue</b> is out.</p>", subtype="html"
            )
            await sender.send(message)
    finally:
        await sender.close()


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform warns about every window it cannot raise or resize; drop that."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def handler(kind: QtMsgType, _context: object, text: str) -> None:
        if "This plugin does not support" not in text:
            print(text, file=sys.stderr)

    qInstallMessageHandler(handler)


def render_screenshots(out_dir: str) -> int:
    """Render each main screen to ``out_dir``; returns 0 when every one was saved."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import keyring
    import qasync

    from smtpdesk.core.memory_keyring import MemoryKeyring
    from smtpdesk.ui.app import create_application

    # The throwaway run's passwords must never reach the user's real keyring.
    keyring.set_keyring(MemoryKeyring())
    _quiet_offscreen_warnings()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    app = create_application([sys.argv[0], "-platform", os.environ["QT_QPA_PLATFORM"]])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    shooter = Shooter(out, app)
    with tempfile.TemporaryDirectory(prefix="smtpdesk-screens-") as folder, loop:
        run: Awaitable[None] = _scenario(shooter, Path(folder))
        loop.run_until_complete(run)
    for path in shooter.saved:
        print(path)
    return 0
