"""The real-display check's second scenario: quit with "Keep sending", start again, attach.

The campaign sends to an SMTP sink that this check starts on 127.0.0.1 (not the app's sandbox,
which dies with the app), slowly enough (a rate of 4/s) to last about 40 s. The app starts it
from its live panel; Ctrl+Q, then Return on the quit prompt (its default button, "Keep
sending"). While no window exists, the ledger (``smtpdesk campaign status ID --json``) must
show the sending process going on. The app started again must open the campaign's panel by
itself, following it live with Pause and Cancel enabled and Resume disabled; Pause there must
stop the sending process; Resume; at the end the sink must have received every recipient once.
A desktop notification server on the session bus records what the app says as it goes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyatspi  # type: ignore[import-not-found]
from real_display import (
    BUTTON,
    MAIN,
    ROOT,
    SOURCE,
    Node,
    Session,
    StepFailed,
    _children,
    log,
    stop_group,
    wait_for,
)

RECIPIENTS = 160
RATE = "4"  # messages/s: 160 recipients last about 40 s
SINK_DELAY = "0.05"  # seconds the sink waits before it accepts each message
NAME = "Autumn news"
LIVE = r"^smtpdesk — (Campaign \d+|Autumn news)$"
PROMPT = "^Campaigns are sending$"


def keep_sending(s: Session) -> None:
    port = _free_port()
    received = s.work / "received.txt"
    notices = s.work / "notifications.txt"
    peers = [
        _peer(s, "sink", str(port), str(received), SINK_DELAY),
        _peer(s, "notifications", str(notices)),
    ]
    try:
        expected = _prepare(s, port)
        campaign_id = _start_and_keep_sending(s)
        _notifications(s, notices)
        _without_a_window(s, campaign_id)
        _attach_and_pause(s, campaign_id)
        _resume_and_finish(s, campaign_id)
        _each_received_once(s, received, expected)
    finally:
        pid = _sender_pid(s)
        if pid is not None and _alive(pid):
            s.note(f"the sending process {pid} was still running at the end: stopped it")
            os.kill(pid, 15)
        for peer in peers:
            stop_group(peer)


# --- the steps ----------------------------------------------------------------------------


def _prepare(s: Session, port: int) -> list[str]:
    """A named server for the sink and a draft campaign, made with the CLI before the app
    starts (the wizard is the first scenario's)."""
    addresses = [f"reader.{i}@example.org" for i in range(RECIPIENTS)]
    csv = s.work / "autumn.csv"
    csv.write_text("email,name\n" + "".join(f"{a},Reader {i}\n" for i, a in enumerate(addresses)))
    body = s.work / "autumn.html"
    body.write_text("<p>Hello {{ name }}, the autumn news.</p>\n", encoding="utf-8")
    server = ["servers", "add", "--name", "sink", "--host", "127.0.0.1", "--port", str(port)]
    _cli(s, *server, "--tls", "none", "--auth", "none")
    _cli(
        s,
        *("campaign", "create", "--name", NAME, "--recipients", str(csv)),
        *("--subject", "Autumn news for {{ name }}", "--from", "news@example.com"),
        *("--html-file", str(body), "--messenger", "sink", "--rate", RATE),
    )
    return addresses


def _start_and_keep_sending(s: Session) -> int:
    s.start_app()
    wait_for("the main window's pages", lambda: s.tree.find(MAIN, "page tab", "Campaigns"), 20)
    s.click(s.find(MAIN, "page tab", "Campaigns"))
    table = wait_for(
        "the Campaigns list", lambda: s.tree.find(MAIN, "table", "Campaigns"), 15, s.app
    )
    time.sleep(2.5)  # the list refreshes every 2 s
    rows = [n for n in _children(table) if n.role == "table cell" and NAME in n.name and n.showing]
    if not rows:
        raise StepFailed(f"{NAME!r} is not in the Campaigns list")
    s.click(rows[0], "the campaign's row")
    s.press(MAIN, BUTTON, "Open live panel")
    s.wait_window(LIVE)
    time.sleep(1)
    s.shoot("keep-01-live-panel-draft")
    s.press(LIVE, BUTTON, "^Start$")
    wait_for("the first messages to be sent", lambda: _sent(s) >= 12, 60, s.app)
    s.shoot("keep-02-live-panel-sending")

    s.key_in(MAIN, "ctrl+q")
    prompt = s.wait_window(PROMPT, 15)
    s.shoot("keep-03-quit-prompt")
    nodes = [n for n in s.tree.walk(prompt) if n.showing]
    buttons = [n for n in nodes if n.role == BUTTON]
    names = [b.name for b in buttons]
    s.check(f"the quit prompt's buttons: {names}")
    default = [b.name for b in buttons if b.acc.getState().contains(pyatspi.STATE_IS_DEFAULT)]
    s.check(f"the quit prompt's default button: {default}")
    if default != ["Keep sending"]:
        s.note(f"the quit prompt's default button is {default}, not ['Keep sending']")
    said = " ".join(n.name + n.text() for n in nodes if n.role == "label")
    if "sandbox" in said.lower():
        s.note(
            "the quit prompt speaks of the sandbox server, which this campaign does not use: "
            + said[:300]
        )
    s.key_in(PROMPT, "Return")  # the default button
    assert s.app is not None
    s.app.expected = False
    s.shoot("keep-04-after-keep-sending")
    status = s.app.wait_exit(30)
    if status != 0:
        raise StepFailed(f"smtpdesk exited with status {status} after Keep sending")
    s.check("Return on the quit prompt (Keep sending) closed the app with status 0")
    campaign = s.campaign()
    assert campaign is not None
    return int(campaign[0])


def _notifications(s: Session, notices: Path) -> None:
    try:
        wait_for("the desktop notification", notices.exists, 5)
    except StepFailed:
        s.note("no desktop notification after Keep sending")
        return
    for line in notices.read_text(encoding="utf-8").splitlines():
        said = json.loads(line)
        s.check(f"desktop notification: {said['title']!r}: {said['text']!r}")
        if "pause" not in said["text"].lower():
            s.note(f"the notification does not say how to stop the campaign: {said['text']!r}")


def _without_a_window(s: Session, campaign_id: int) -> None:
    windows = subprocess.run(
        ["xdotool", "search", "--name", "smtpdesk"],
        env={**os.environ, "DISPLAY": s.display.name},
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if windows:
        s.note(f"after Keep sending {len(windows)} smtpdesk window(s) remain: {windows}")
    pid = _sender_pid(s)
    before = _status(s, campaign_id)
    time.sleep(4)
    after = _status(s, campaign_id)
    s.shoot("keep-05-no-window")
    line = (
        f"no window; sending process {pid} alive: {pid is not None and _alive(pid)}; "
        f"`campaign status --json`: {before['state']} sent {before['sent']}, 4 s later "
        f"{after['state']} sent {after['sent']} of {after['total']}"
    )
    log(line)
    s.check(line)
    if after["state"] != "running" or after["sent"] <= before["sent"]:
        raise StepFailed(f"the campaign did not go on without the app: {line}")


def _attach_and_pause(s: Session, campaign_id: int) -> None:
    sender = _sender_pid(s)
    s.start_app()
    live = s.wait_window(LIVE, 30)  # opened by itself: nobody clicks anything
    s.check(f"started again, the app opened {live.name!r} by itself")
    time.sleep(1.5)
    before = s.work / "attached-before.png"
    s.display.capture(before)
    sent_first = _sent(s)
    time.sleep(3)
    s.shoot("keep-06-live-panel-attached")
    changed = _pixels_changed(s, before, s.out / "keep-06-live-panel-attached.png", live)
    s.check(
        f"attached panel: the ledger's sent went {sent_first} -> {_sent(s)} in 3 s; "
        f"{changed} pixels of the panel changed on the screen"
    )
    if not changed:
        s.note("the attached live panel did not change on the screen in 3 s while it sent")
    _expect_buttons(s, "attached to the running campaign", pause=True, cancel=True, resume=False)
    if _sender_pid(s) != sender:
        s.note(f"the sending process changed on attach: {sender} -> {_sender_pid(s)}")
    s.optional("the main window while attached", _main_window_while_attached)

    s.press(LIVE, BUTTON, "^Pause$")
    wait_for(
        "the campaign to pause",
        lambda: _status(s, campaign_id)["state"] == "paused",
        30,
        s.app,
    )
    gone = wait_for("the sending process to end", lambda: sender is None or not _alive(sender), 20)
    held = _status(s, campaign_id)["sent"]
    time.sleep(3)
    later = _status(s, campaign_id)
    s.check(
        f"Pause in the attached panel: paused, sending process {sender} ended: {gone}, "
        f"sent {held} -> {later['sent']} in 3 s, pause reason {later['pause_reason']!r}"
    )
    if later["sent"] != held:
        s.note(f"messages were sent after Pause: {held} -> {later['sent']}")
    time.sleep(1)
    s.shoot("keep-07-paused")
    _expect_buttons(s, "paused", pause=False, cancel=True, resume=True)


def _main_window_while_attached(s: Session) -> None:
    """The main window under the panel: the Campaigns list must not offer to resume, edit or
    delete a campaign that another process sends, nor a resume bar list it."""
    _raise(s, MAIN)
    s.click(s.find(MAIN, "page tab", "Campaigns"))
    table = wait_for("the Campaigns list", lambda: s.tree.find(MAIN, "table", "Campaigns"), 15)
    time.sleep(2.5)  # the list refreshes every 2 s
    rows = [n for n in _children(table) if n.role == "table cell" and n.showing]
    row = next((n for n in rows if NAME in n.name), None)
    if row is not None:
        s.click(row, "the campaign's row")
    s.shoot("keep-06b-campaigns-while-attached")
    cells = [n.name for n in rows if n.name][:8]
    s.check(f"the Campaigns list while attached: {cells}")
    if not any(c == "running" or c.startswith("running") for c in cells):
        s.note(f"the Campaigns list does not say the campaign is running: {cells}")
    for label in ("^Edit", "^Delete", "^Resume$"):
        found = s.tree.find(MAIN, BUTTON, label)
        if found is not None and found.enabled:
            s.note(f"the main window offers {found.name!r} for a campaign another process sends")
    _raise(s, LIVE)


def _raise(s: Session, title: str) -> None:
    """Bring a window to the front (there is no window manager: raise it by hand)."""
    ids = s.display.run("xdotool", "search", "--onlyvisible", "--name", title).split()
    for wid in ids:
        s.display.run("xdotool", "windowraise", wid)
    time.sleep(0.5)


def _resume_and_finish(s: Session, campaign_id: int) -> None:
    before = _status(s, campaign_id)["sent"]
    s.press(LIVE, BUTTON, "^Resume$")
    wait_for("the campaign to send again", lambda: _sent(s) > before + 4, 30, s.app)
    s.shoot("keep-08-resumed")
    _expect_buttons(s, "resumed", pause=True, cancel=True, resume=False)
    wait_for(
        "the campaign to finish",
        lambda: _status(s, campaign_id)["state"] == "finished",
        120,
        s.app,
    )
    time.sleep(1.5)
    s.shoot("keep-09-finished")
    _expect_buttons(s, "finished", pause=False, cancel=False, resume=False)
    s.key_in(MAIN, "ctrl+q")
    try:
        status = s.app.wait_exit(15) if s.app else 0
    except StepFailed:
        s.shoot("keep-10-quit-after-finish")
        raise
    if status != 0:
        raise StepFailed(f"smtpdesk exited with status {status} after Ctrl+Q")


def _each_received_once(s: Session, received: Path, expected: list[str]) -> None:
    got = Counter(received.read_text(encoding="utf-8").split()) if received.exists() else Counter()
    missing = [a for a in expected if a not in got]
    twice = {a: n for a, n in got.items() if n > 1}
    strangers = [a for a in got if a not in set(expected)]
    line = (
        f"the sink received {sum(got.values())} messages for {len(expected)} recipients: "
        f"{len(missing)} missing, {len(twice)} more than once, {len(strangers)} unexpected"
    )
    log(line)
    s.check(line)
    if missing or twice or strangers:
        raise StepFailed(f"{line}: missing {missing[:5]}, twice {list(twice)[:5]}")


# --- helpers ------------------------------------------------------------------------------


def _expect_buttons(s: Session, when: str, **wanted: bool) -> None:
    labels = {"pause": "^Pause$", "cancel": "^Cancel campaign$", "resume": "^(Resume|Start)$"}
    seen = []
    for key, enabled in wanted.items():
        node: Node | None = s.tree.find(LIVE, BUTTON, labels[key])
        state = node is not None and node.enabled
        seen.append(f"{key} {'on' if state else 'off'}")
        if state != enabled:
            s.note(f"{when}: {key.capitalize()} is {'enabled' if state else 'disabled or missing'}")
    s.check(f"buttons {when}: {', '.join(seen)}")


def _pixels_changed(s: Session, before: Path, after: Path, window: Node) -> int:
    """How many pixels of ``window`` differ between two captures (ImageMagick's compare;
    the accessibility tree's texts are cached and cannot tell)."""
    x, y, w, h = window.box
    region = ["-extract", f"{w}x{h}+{x}+{y}"]
    done = subprocess.run(
        ["compare", "-metric", "AE", *region, str(before), str(after), "null:"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return int(float(done.stderr.split()[0]))
    except (IndexError, ValueError) as exc:
        raise StepFailed(f"compare: {done.stderr.strip()}") from exc


def _sent(s: Session) -> int:
    campaign = s.campaign()
    return int(campaign[3]) if campaign else 0


def _cli(s: Session, *args: str) -> str:
    env = {**os.environ, "SMTPDESK_DATA_DIR": str(s.data)}
    if SOURCE:
        env["PYTHONPATH"] = str(SOURCE[0])
    done = subprocess.run(
        [str(ROOT / ".venv/bin/smtpdesk"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise StepFailed(f"smtpdesk {' '.join(args[:2])}: {done.stderr.strip()[-300:]}")
    return done.stdout


def _status(s: Session, campaign_id: int) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(_cli(s, "campaign", "status", str(campaign_id), "--json"))
    return found


def _sender_pid(s: Session) -> int | None:
    for path in (s.data / "senders").glob("*.json"):
        try:
            return int(json.loads(path.read_text(encoding="utf-8"))["pid"])
        except (OSError, ValueError, KeyError):
            continue
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (ended, not yet reaped by its parent) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and re.search(r"\) Z ", stat.read_text()))


def _peer(s: Session, *args: str) -> subprocess.Popen[Any]:
    log_path = s.work / f"{args[0]}.log"
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/python"), str(ROOT / "scripts/real_display_peers.py"), *args],
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for(f"the {args[0]} to start", lambda: log_path.read_text().strip(), 15)
    if proc.poll() is not None:
        raise StepFailed(f"the {args[0]} did not start: {log_path.read_text()[-300:]}")
    return proc


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
