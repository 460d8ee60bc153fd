"""Drive the real desktop app on a real X display and capture what a user sees.

Run through ``scripts/real-display.sh`` (or ``make real-display``), which installs the Debian
packages and starts a private D-Bus session with an unlocked gnome-keyring around this script.

For each display setting (1440x900, 800x600, 1440x900 at QT_SCALE_FACTOR=1.5) it starts Xvfb on
a free display, then ``smtpdesk`` with the xcb platform and a throwaway data folder, and goes
through what a new user does, with xdotool's mouse clicks and keys only: the server form, the
Test panel against the built-in sandbox server, the send-campaign wizard with a small CSV (Back
and Next included), Send, Ctrl+Q mid-send (Pause and quit), a restart, the paused campaign's panel
and Resume. A second scenario (scripts/real_display_keep.py) quits mid-send with "Keep
sending", checks the campaign goes on with no window, starts the app again and pauses and
resumes it from the panel that attaches to it.
Each screen is captured with ImageMagick's ``import -window root``.

The widgets are found through the accessibility tree (AT-SPI, the way a screen reader finds
them) only to know where to click; every action is a real X event. The same tree gives a
layout check: controls outside the screen or outside their window are listed in report.txt.

Stdlib only, plus pyatspi (Debian's python3-pyatspi), so it runs on the system python3.
Exit status: 0 when every step ran, 1 when a step failed or the app did not start or crashed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyatspi  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parent.parent
RECIPIENTS = 400
RATE = "20"  # messages/s typed on the Delivery page: 400 recipients last ~20 s


@dataclass(frozen=True)
class Setting:
    name: str
    width: int
    height: int
    scale: str = ""


SETTINGS = {
    s.name: s
    for s in (
        Setting("1440x900", 1440, 900),
        Setting("800x600", 800, 600),
        Setting("1440x900-scale1.5", 1440, 900, "1.5"),
    )
}


SCALE = [1.0]  # the QT_SCALE_FACTOR of the app being driven
SOURCE: list[Path] = []  # --commit: the package as committed, put before the work tree


class StepFailed(Exception):
    """A screen did not reach the expected state in time, or the app went away."""


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def wait_for(what: str, check: Callable[[], Any], limit: float, app: App | None = None) -> Any:
    """Poll ``check`` until it returns something truthy; bounded by ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        if app is not None:
            app.check_alive()
        try:
            value = check()
        except (StepFailed, sqlite3.Error, RuntimeError):
            value = None
        if value:
            waited = time.monotonic() - (deadline - limit)
            if waited > 3:
                log(f"waited {waited:.1f}s for {what}")
            return value
        if time.monotonic() > deadline:
            raise StepFailed(f"timed out after {limit:.0f}s waiting for {what}")
        time.sleep(0.25)


# --- the X display -------------------------------------------------------------------------


class Display:
    """Xvfb on a display number it picks itself (-displayfd), stopped on exit."""

    def __init__(self, setting: Setting, work: Path) -> None:
        self.setting = setting
        read_fd, write_fd = os.pipe()
        geometry = f"{setting.width}x{setting.height}x24"
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", geometry, "-nolisten", "tcp"],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=(work / "xvfb.log").open("w"),
            start_new_session=True,
        )
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise StepFailed("Xvfb did not start: see xvfb.log")
        self.name = f":{number}"
        log(f"Xvfb {geometry} on {self.name}")

    def run(self, *args: str, timeout: float = 20) -> str:
        env = {**os.environ, "DISPLAY": self.name}
        try:
            done = subprocess.run(
                args, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(f"{args[0]} took more than {timeout:.0f}s") from exc
        if done.returncode != 0:
            raise StepFailed(f"{' '.join(args)}: {done.stderr.strip() or done.returncode}")
        return done.stdout

    def capture(self, path: Path) -> None:
        self.run("import", "-window", "root", str(path))

    def stop(self) -> None:
        stop_group(self.proc)


def stop_group(proc: subprocess.Popen[Any], grace: float = 5) -> int | None:
    """Stop a process started in its own session, and everything it started."""
    if proc.poll() is None:
        with _quiet():
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with _quiet():
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(grace)
    return proc.returncode


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is ProcessLookupError or exc[0] is PermissionError


# --- the app -------------------------------------------------------------------------------


class App:
    """One run of ``smtpdesk`` on the display, with its log; knows whether it is expected
    to be running (an exit while expected is a crash)."""

    def __init__(self, display: Display, data: Path, work: Path, run: int, scale: str) -> None:
        self.display = display
        self.log_path = work / f"app-{run}.log"
        env = {
            **os.environ,
            "DISPLAY": display.name,
            "QT_QPA_PLATFORM": "xcb",
            "QT_LINUX_ACCESSIBILITY_ALWAYS_ON": "1",
            "SMTPDESK_DATA_DIR": str(data),
            "XDG_CONFIG_HOME": str(work / "config"),
            "XDG_CACHE_HOME": str(work / "cache"),
        }
        for name in ("QT_SCALE_FACTOR", "QT_QPA_PLATFORMTHEME", "QT_STYLE_OVERRIDE"):
            env.pop(name, None)
        if scale:
            env["QT_SCALE_FACTOR"] = scale
        if SOURCE:
            env["PYTHONPATH"] = str(SOURCE[0])
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/smtpdesk"), "--data-dir", str(data)],
            env=env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.expected = True
        log(f"started smtpdesk (pid {self.proc.pid}), log {self.log_path.name}")

    def check_alive(self) -> None:
        if self.expected and self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-15:]
            raise StepFailed(
                f"smtpdesk exited with status {self.proc.returncode}:\n  " + "\n  ".join(tail)
            )

    def wait_exit(self, limit: float) -> int:
        self.expected = False
        try:
            return self.proc.wait(limit)
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(f"smtpdesk was still running {limit:.0f}s after quitting") from exc

    def stop(self) -> None:
        self.expected = False
        stop_group(self.proc)


# --- the accessibility tree: where things are ---------------------------------------------

CONTAINER_ROLES_NOT_TO_ENTER = {"table", "tree table", "tree", "list"}


@dataclass
class Node:
    acc: Any
    role: str
    name: str
    box: tuple[int, int, int, int]
    showing: bool
    enabled: bool
    window: str = ""

    @property
    def centre(self) -> tuple[int, int]:
        x, y, w, h = self.box
        return x + w // 2, y + h // 2

    def keys(self) -> list[str]:
        """The key bindings of its actions, such as "<Alt>n" for a mnemonic."""
        try:
            action = self.acc.queryAction()
            return [k for i in range(action.nActions) if (k := action.getKeyBinding(i))]
        except NotImplementedError:
            return []

    def text(self) -> str:
        try:
            t = self.acc.queryText()
            return str(t.getText(0, t.characterCount))
        except NotImplementedError:
            return ""


def _node(acc: Any, window: str) -> Node:
    try:
        ext = acc.queryComponent().getExtents(pyatspi.DESKTOP_COORDS)
        # Qt reports device-independent pixels: the screen's are QT_SCALE_FACTOR times more.
        x, y, w, h = (round(v * SCALE[0]) for v in (ext.x, ext.y, ext.width, ext.height))
        box = (x, y, w, h)
    except NotImplementedError:
        box = (0, 0, 0, 0)
    states = acc.getState()
    return Node(
        acc,
        acc.getRoleName(),
        acc.name or "",
        box,
        states.contains(pyatspi.STATE_SHOWING),
        states.contains(pyatspi.STATE_ENABLED),
        window,
    )


class Tree:
    """The app's accessible objects, read afresh on every call (the app changes under us)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def application(self) -> Any:
        desktop = pyatspi.Registry.getDesktop(0)
        for i in range(desktop.childCount):
            child = desktop.getChildAtIndex(i)
            with _quiet_atspi():
                if child is not None and child.get_process_id() == self.app.proc.pid:
                    return child
        return None

    def windows(self) -> list[Node]:
        application = self.application()
        if application is None:
            return []
        found = []
        for i in range(application.childCount):
            child = application.getChildAtIndex(i)
            if child is not None:
                node = _node(child, child.name or "")
                if node.showing or node.box[2] > 0:
                    found.append(node)
        return found

    def window(self, pattern: str) -> Node | None:
        return next((w for w in self.windows() if re.search(pattern, w.name)), None)

    def walk(self, window: Node, depth: int = 40) -> Iterator[Node]:
        stack = [(window.acc, 0)]
        while stack:
            acc, level = stack.pop()
            if acc is None:
                continue
            with _quiet_atspi():
                node = _node(acc, window.name)
                yield node
                hidden = level > 0 and not node.showing  # a wizard's other pages, say
                if level < depth and not hidden and node.role not in CONTAINER_ROLES_NOT_TO_ENTER:
                    stack.extend(
                        (acc.getChildAtIndex(i), level + 1) for i in reversed(range(acc.childCount))
                    )

    def walk_clipped(self, window: Node) -> Iterator[tuple[Node, tuple[int, int, int, int]]]:
        """Each node with the part of the screen its ancestors leave visible."""
        stack: list[tuple[Any, tuple[int, int, int, int] | None]] = [(window.acc, window.box)]
        while stack:
            acc, clip = stack.pop()
            if acc is None or clip is None:
                continue
            with _quiet_atspi():
                node = _node(acc, window.name)
                yield node, clip
                if node.showing and node.role not in CONTAINER_ROLES_NOT_TO_ENTER:
                    inner = _intersect(clip, node.box) if node.box[2] > 0 else clip
                    stack.extend((acc.getChildAtIndex(i), inner) for i in range(acc.childCount))

    def find(self, window: str, role: str, name: str, showing: bool = True) -> Node | None:
        win = self.window(window)
        if win is None:
            return None
        for node in self.walk(win):
            found = re.fullmatch(role, node.role) and re.search(name, node.name, re.I)
            if found and (node.showing or not showing):
                return node
        return None


INTERACTIVE = {"push button", "text", "combo box", "check box", "spin button", "radio button"}


def _intersect(
    a: tuple[int, int, int, int], b: tuple[int, int, int, int]
) -> tuple[int, int, int, int] | None:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    return (x1, y1, x2 - x1, y2 - y1) if x2 > x1 and y2 > y1 else None


def _description(node: Node) -> str:
    try:
        return str(node.acc.description or "")
    except Exception:  # the object may be gone
        return ""


class _quiet_atspi:
    """Objects vanish while we read them (a window closes): skip them."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], Exception)  # type: ignore[arg-type]


# --- one user session ---------------------------------------------------------------------


@dataclass
class Session:
    setting: Setting
    display: Display
    out: Path
    work: Path
    data: Path
    shots: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # what was verified, for the report
    app: App | None = None
    runs: int = 0
    keep: bool = False
    crashed: bool = False
    clashes: set[tuple[str, str, tuple[str, ...]]] = field(default_factory=set)

    # plumbing

    @property
    def tree(self) -> Tree:
        assert self.app is not None
        return Tree(self.app)

    def start_app(self) -> None:
        self.runs += 1
        self.app = App(self.display, self.data, self.work, self.runs, self.setting.scale)
        try:
            self.display.run(
                "xdotool", "search", "--sync", "--onlyvisible", "--name", "^smtpdesk", timeout=60
            )
        except StepFailed as exc:
            self.app.check_alive()
            raise StepFailed("the main window did not appear within 60s") from exc
        wait_for("the main window in the accessibility tree", self.main_window, 30, self.app)

    def main_window(self) -> Node | None:
        return next((w for w in self.tree.windows() if w.role == "frame"), None)

    def wait_window(self, pattern: str, limit: float = 30) -> Node:
        node: Node = wait_for(
            f"the window {pattern!r}", lambda: self.tree.window(pattern), limit, self.app
        )
        time.sleep(0.5)  # let it lay out and paint
        return node

    def wait_gone(self, pattern: str, limit: float = 15) -> None:
        wait_for(f"{pattern!r} to close", lambda: self.tree.window(pattern) is None, limit)

    def find(self, window: str, role: str, name: str, limit: float = 15) -> Node:
        node: Node = wait_for(
            f"{role} {name!r} in {window!r}",
            lambda: self.tree.find(window, role, name),
            limit,
            self.app,
        )
        return node

    def click(self, node: Node, what: str = "") -> None:
        if not self.on_screen(node) and node.window:
            node = self.fit_window(node)
        x, y = node.centre
        log(f"click {what or node.name!r} at {x},{y}")
        self.display.run("xdotool", "mousemove", "--sync", str(x), str(y), "click", "1")
        time.sleep(0.3)

    def wait_enabled(self, window: str, role: str, name: str, limit: float = 15) -> Node:
        node: Node = wait_for(
            f"an enabled {role} {name!r} in {window!r}",
            lambda: (n := self.tree.find(window, role, name)) and n.enabled and n,
            limit,
            self.app,
        )
        return node

    def press(self, window: str, role: str, name: str, limit: float = 15) -> Node:
        node = self.wait_enabled(window, role, name, limit)
        self.click(node)
        return node

    def key(self, *keys: str) -> None:
        log(f"key {' '.join(keys)}")
        self.display.run("xdotool", "key", "--clearmodifiers", *keys)
        time.sleep(0.3)

    def fit_window(self, node: Node) -> Node:
        """The control is off the screen: do what a user does, maximize its window (or
        move it back onto the screen), then find the control again."""
        self.findings.append(
            f"{self.current}: {node.role} {node.name!r} at {node.box} is off the screen: "
            f"had to fit its window {node.window!r} to the screen to reach it"
        )
        title = f"^{re.escape(node.window)}$"
        width, height = self.setting.width, self.setting.height
        for wid in self.display.run("xdotool", "search", "--onlyvisible", "--name", title).split():
            self.display.run("xdotool", "windowmove", "--sync", wid, "0", "0")
            size = self.display.run("xdotool", "getwindowgeometry", wid)
            found = re.search(r"Geometry: (\d+)x(\d+)", size)
            w, h = (int(found[1]), int(found[2])) if found else (width, height)
            if w > width or h > height:
                self.display.run(
                    "xdotool", "windowsize", "--sync", wid, str(min(w, width)), str(min(h, height))
                )
        time.sleep(1)
        again = self.tree.find(title, re.escape(node.role), f"^{re.escape(node.name)}$")
        if again is None or not self.on_screen(again):
            raise StepFailed(f"{node.role} {node.name!r} stays off the screen")
        return again

    def key_in(self, window: str, *keys: str) -> None:
        """Keys for one window: the keyboard goes to it first, as after a click on its title."""
        node = wait_for(f"the window {window!r}", lambda: self.tree.window(window), 10, self.app)
        self.focus(node)
        self.key(*keys)

    def type_into(self, window: str, name: str, text: str, role: str = "text") -> None:
        node = self.find(window, role, name)
        self.focus(wait_for(f"the window {window!r}", lambda: self.tree.window(window), 10))
        self.click(node, name)
        self.key("ctrl+a")
        self.display.run("xdotool", "type", "--delay", "15", text)
        time.sleep(0.3)

    def focus(self, node: Node) -> None:
        """Put the keyboard on a window, as a click on its title bar would."""
        title = f"^{re.escape(node.name)}$"
        ids = self.display.run("xdotool", "search", "--onlyvisible", "--name", title)
        for wid in ids.split():
            with _quiet_atspi():
                self.display.run("xdotool", "windowfocus", "--sync", wid)
        time.sleep(0.3)

    current = ""

    def shoot(self, name: str) -> None:
        time.sleep(0.6)
        if self.app is not None:
            self.app.check_alive()
        path = self.out / f"{name}.png"
        self.display.capture(path)
        self.shots.append(path.name)
        self.current = path.name
        log(f"captured {path}")
        if self.app is not None and self.app.expected:
            self.check_layout(path.name)
            self.check_mnemonics(path.name)
            self.close_crash_dialogs(path.name)
            if self.keep:
                self.dump(self.work / f"{name}.tree.txt")

    def dump(self, path: Path) -> None:
        lines = []
        for win in self.tree.windows():
            for node in self.tree.walk(win):
                if node.showing:
                    text = node.text()
                    lines.append(
                        f"{win.name} | {node.role} | {node.name!r} | {text!r} | "
                        f"{_description(node)!r} | {node.box} | {node.keys()}"
                    )
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def close_crash_dialogs(self, shot: str) -> None:
        """The app's "Something went wrong" dialog is a bug: note it, close it, go on (the
        setting then counts as failed)."""
        for win in self.tree.windows():
            nodes = [n for n in self.tree.walk(win) if n.showing]
            if not any(n.role == BUTTON and n.name == "Copy details" for n in nodes):
                continue
            said = next((n.name for n in nodes if n.role == "label" and n.name), "")
            self.crashed = True
            self.note(f"crash dialog {win.name!r}: {said[:300]}")
            close = next((n for n in nodes if n.role == BUTTON and n.name == "Close"), None)
            if close is not None:
                self.click(close)

    def check_mnemonics(self, shot: str) -> None:
        """Alt+letter keys that two visible controls of one window share: Alt then only
        moves between them, and a user who expects one action gets the other."""
        for win in self.tree.windows():
            owners: dict[str, set[str]] = {}
            for node in self.tree.walk(win):
                if not node.showing or node.role == "page tab list":
                    continue
                for key in set(node.keys()):
                    if re.fullmatch(r"Alt\+\S", key):
                        owners.setdefault(key, set()).add(f"{node.role} {node.name!r}")
            for key, names in sorted(owners.items()):
                clash = (win.name.split(" — ")[0], key, tuple(sorted(names)))
                if len(names) > 1 and clash not in self.clashes:
                    self.clashes.add(clash)
                    self.findings.append(
                        f"{shot}: {key} belongs to {len(names)} controls of {win.name!r}: "
                        + ", ".join(sorted(names))
                    )

    def on_screen(self, node: Node) -> bool:
        x, y, w, h = node.box
        return x >= 0 and y >= 0 and x + w <= self.setting.width and y + h <= self.setting.height

    def check_layout(self, shot: str) -> None:
        """Controls a user cannot reach: visible (not scrolled away inside their window) but
        partly or wholly outside the screen; and windows larger than the screen."""
        for win in self.tree.windows():
            if not self.on_screen(win):
                self.findings.append(f"{shot}: window {win.name!r} {win.box} exceeds the screen")
            for node, clip in self.tree.walk_clipped(win):
                if not node.showing or node.role not in INTERACTIVE or node.box[2] <= 0:
                    continue
                seen = _intersect(node.box, clip)
                if seen is None:
                    continue  # scrolled out of view: not a layout defect
                if not self.on_screen(Node(None, "", "", seen, True, True)):
                    self.findings.append(
                        f"{shot}: {node.role} {node.name!r} at {node.box} is (partly) off the "
                        f"screen, in window {win.name!r} {win.box}"
                    )

    # the database, to know when the app has done what it shows

    def db(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        path = self.data / "smtpdesk.db"
        if not path.exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql, args).fetchall()

    def campaign(self) -> tuple[int, str, int, int] | None:
        rows = self.db(
            "SELECT c.id, c.state, "
            "(SELECT count(*) FROM recipients r WHERE r.campaign_id = c.id), "
            "(SELECT count(*) FROM recipients r WHERE r.campaign_id = c.id AND r.state = 'sent') "
            "FROM campaigns c ORDER BY c.id DESC LIMIT 1"
        )
        return rows[0] if rows else None  # type: ignore[return-value]

    def optional(self, what: str, step: Callable[[Session], None]) -> None:
        """A step whose failure is noted, and the rest goes on."""
        try:
            step(self)
        except StepFailed as exc:
            self.note(f"{what}: {exc}")

    def revert(self) -> None:
        """Drop the edits of the server form (Revert, or Discard when asked)."""
        revert = self.tree.find(MAIN, BUTTON, "^Revert$")
        if revert is not None and revert.enabled:
            self.click(revert)
        time.sleep(1)
        if self.tree.window("Unsaved") is not None:
            self.shoot("unsaved-prompt")
            self.press("Unsaved", BUTTON, "Discard")

    def inbox(self) -> int:
        """Messages the sandbox server has received."""
        return len(list((self.data / "sandbox" / "inbox").glob("*.eml")))

    def note(self, text: str) -> None:
        log(f"NOTE {text}")
        self.findings.append(f"{self.current or 'start'}: {text}")

    def check(self, text: str) -> None:
        log(f"CHECK {text}")
        self.checks.append(f"{self.current or 'start'}: {text}")


def write_recipients(folder: Path) -> Path:
    names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"]
    lines = ["email,name,city"]
    for i in range(RECIPIENTS):
        lines.append(f"{names[i % 6].lower()}.{i}@example.com,{names[i % 6]},Lyon")
    lines[10] = "not-an-address,Broken,Oslo"
    lines[20] = "ada.0@example.com,Ada,Lyon"
    path = folder / "spring-newsletter.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


MAIN = r"^smtpdesk( — (Servers|Performance|Campaigns))?$"
WIZARD = r"New campaign|Edit campaign"
BUTTON = "push button"
TEST_BUTTON = r"^Test…$|^Test\.\.\.$"


def _enabled(s: Session, window: str, role: str, name: str) -> Node | None:
    node = s.tree.find(window, role, name)
    return node if node is not None and node.enabled else None


def first_run(s: Session, csv: Path) -> None:
    s.start_app()
    wait_for("the sandbox server", lambda: s.db("SELECT 1 FROM servers WHERE name = 'sandbox'"), 30)
    wait_for("the server form", lambda: _enabled(s, MAIN, BUTTON, TEST_BUTTON), 15, s.app)
    s.shoot("01-main-window")
    s.optional("the server form's wheel and validation", server_form)

    # The Test panel against the sandbox.
    s.press(MAIN, BUTTON, TEST_BUTTON)
    s.wait_window("Test sandbox")
    try:
        wait_for("the test to finish", lambda: s.tree.find("Test sandbox", BUTTON, "^Close$"), 45)
    except StepFailed as exc:
        s.note(str(exc))
    s.shoot("04-test-panel")
    s.key_in("Test sandbox", "Escape")
    s.wait_gone("Test sandbox")

    # A new server's empty form, then back.
    s.press(MAIN, BUTTON, "^Add$")
    time.sleep(1)
    s.shoot("05-new-server-form")
    s.type_into(MAIN, "^Host$", "smtp.example.org")
    s.shoot("06-new-server-host-typed")
    s.revert()

    s.optional("the Performance and Campaigns tabs", other_tabs)

    # The wizard.
    s.press(MAIN, BUTTON, "^New campaign")
    s.wait_window(WIZARD)
    s.shoot("09-wizard-recipients-empty")
    s.press(WIZARD, BUTTON, "^Choose file")
    s.focus(s.wait_window("Choose a recipient file"))
    s.display.run("xdotool", "type", "--delay", "10", str(csv))
    s.key("Return")
    wait_for(
        "the recipients to be imported",
        lambda: (c := s.campaign()) and c[2] >= RECIPIENTS - 2,
        60,
        s.app,
    )
    next_button = r"^Next"
    s.find(WIZARD, BUTTON, next_button)
    s.optional("the tab order", tab_order)
    time.sleep(1)
    s.shoot("10-wizard-recipients")
    s.press(WIZARD, BUTTON, next_button)

    s.find(WIZARD, "text", "^Subject$")
    s.shoot("11-wizard-content-empty")
    s.type_into(WIZARD, "^Subject$", "Spring news for {{ Name }}")
    s.type_into(WIZARD, "^From address$", "news@example.com")
    time.sleep(1.5)  # the preview is debounced
    s.shoot("12-wizard-content-unknown-field")
    s.type_into(WIZARD, "^Subject$", "Spring news for {{ name }}")
    time.sleep(1.5)
    s.shoot("13-wizard-content")
    s.press(WIZARD, BUTTON, next_button)

    rate = s.find(WIZARD, "spin button|text", "rate")
    s.type_into(WIZARD, "rate", RATE, role=rate.role)
    s.key("Tab")
    s.shoot("14-wizard-delivery")
    s.press(WIZARD, BUTTON, "Back")
    s.find(WIZARD, "text", "^Subject$")
    s.shoot("15-wizard-content-after-back")
    s.press(WIZARD, BUTTON, next_button)
    rate = s.find(WIZARD, "spin button|text", "rate")
    time.sleep(1)
    value = s.find(WIZARD, "spin button|text", "rate").text()
    if not value.startswith(RATE):
        s.note(f"Back then Next reset the message rate: typed {RATE}, now {value!r}")
    s.shoot("16-wizard-delivery-after-back")
    s.press(WIZARD, BUTTON, next_button)

    s.type_into(WIZARD, "^Test address", "me@example.com")
    before = s.inbox()
    s.press(WIZARD, BUTTON, "^Send test")
    time.sleep(1)
    s.wait_enabled(WIZARD, BUTTON, "^Send test", limit=45)  # enabled again: the test is done
    try:
        wait_for("the test message in the sandbox's inbox", lambda: s.inbox() > before, 10)
    except StepFailed:
        s.note("the wizard's test send did not reach the sandbox's inbox")
    s.shoot("17-wizard-test-send")
    s.press(WIZARD, BUTTON, next_button)

    s.find(WIZARD, BUTTON, "^Send$", limit=45)
    time.sleep(1)
    s.shoot("18-wizard-review")
    s.press(WIZARD, BUTTON, "^Send$", limit=45)

    # Sending; quit mid-send.
    live = s.wait_window(r"smtpdesk — (Campaign \d+|Spring)", 30)
    wait_for("the first messages to be sent", lambda: (c := s.campaign()) and c[3] >= 20, 60)
    s.shoot("19-live-panel-sending")
    s.key_in(MAIN, "ctrl+q")
    time.sleep(1.5)
    asked = [w for w in s.tree.windows() if w.role in ("dialog", "alert")]
    if asked:
        s.shoot("20-quit-while-sending")
        buttons = [
            n
            for w in s.tree.windows()
            if w.role in ("dialog", "alert")
            for n in s.tree.walk(w)
            if n.role == BUTTON and n.showing
        ]
        # Keep sending (the default), Pause and quit, Don't quit. This run pauses: its
        # campaign sends to the sandbox, which lives in the app and ends with it.
        names = [b.name for b in buttons]
        for wanted in ("Keep sending", "Pause and quit", "Don't quit"):
            if wanted not in names:
                s.note(f"the quit prompt has no {wanted!r}: {names}")
        pause = next((b for b in buttons if re.search("pause", b.name, re.I)), None)
        pause = pause or next((b for b in buttons if re.search("quit", b.name, re.I)), None)
        if pause is None:
            raise StepFailed(f"the quit prompt has no pause or quit: {names}")
        s.click(pause)
    else:
        s.note("Ctrl+Q while sending quit without asking")
    status = s.app.wait_exit(60) if s.app else 0
    if status != 0:
        raise StepFailed(f"smtpdesk exited with status {status} after Ctrl+Q")
    state = s.campaign()
    log(f"after quit: campaign {state}")
    if state is None or state[1] != "paused":
        s.note(f"after Ctrl+Q mid-send the campaign is {state and state[1]!r}, not 'paused'")
    del live


def server_form(s: Session) -> None:
    """The mouse wheel over the TLS combo box scrolls the form and changes nothing; a wrong
    port shows its message without moving the other fields."""
    combo = s.find(MAIN, "combo box", "^STARTTLS")
    x, y = combo.centre
    s.display.run("xdotool", "mousemove", "--sync", str(x), str(y), "click", "--repeat", "6", "5")
    time.sleep(1)
    s.shoot("02-server-form-wheel")
    if s.tree.find(MAIN, "combo box", "^STARTTLS") is None:
        s.note("the mouse wheel over the TLS type combo box changed it")
    s.display.run("xdotool", "click", "--repeat", "12", "4")  # back to the top
    time.sleep(0.5)
    before = s.find(MAIN, "combo box", "^STARTTLS").box
    s.type_into(MAIN, "^Port$", "99999")
    s.key("Tab")
    time.sleep(1)
    s.shoot("03-server-form-invalid-port")
    after = s.find(MAIN, "combo box", "^STARTTLS").box
    if after[1] != before[1]:
        s.note(f"the port's message moved the fields below it by {after[1] - before[1]} px")
    s.type_into(MAIN, "^Port$", "2526")
    s.key("Tab")
    time.sleep(1)
    if s.tree.find(MAIN, "label", "65535") is not None:
        s.note("the port's message stays after the port is corrected")
    s.revert()


def tab_order(s: Session) -> None:
    """Tab from the campaign's name: a read-only field should not take the focus."""
    s.click(s.find(WIZARD, "text", "^Campaign name$"), "Campaign name")
    s.key("Tab")
    time.sleep(0.5)
    win = s.tree.window(WIZARD)
    focused = (
        next(
            (n for n in s.tree.walk(win) if n.acc.getState().contains(pyatspi.STATE_FOCUSED)), None
        )
        if win
        else None
    )
    if focused is not None and focused.role == "text" and focused.name == "Recipient file":
        s.note("Tab from 'Campaign name' stops on the read-only file field")
    log(f"Tab from the campaign name goes to {focused and (focused.role, focused.name)}")


def other_tabs(s: Session) -> None:
    s.click(s.find(MAIN, "page tab", "Performance"))
    time.sleep(1)
    s.shoot("07-performance-tab")
    s.click(s.find(MAIN, "page tab", "Campaigns"))
    time.sleep(2)
    s.shoot("08-campaigns-empty")
    s.click(s.find(MAIN, "page tab", "Servers"))


def sandbox_inbox(s: Session) -> None:
    s.key_in(MAIN, "ctrl+i")
    s.wait_window("nbox")
    time.sleep(1)
    s.shoot("26-sandbox-inbox")
    s.key_in("nbox", "Escape")
    time.sleep(1)
    inbox = s.tree.window("nbox")
    if inbox is not None:
        s.note("Esc does not close the sandbox inbox")
        s.key_in("nbox", "ctrl+w")


def second_run(s: Session) -> None:
    s.start_app()
    wait_for("the server form", lambda: _enabled(s, MAIN, BUTTON, TEST_BUTTON), 20, s.app)
    time.sleep(1.5)
    s.shoot("21-restart-main-window")

    tab = s.find(MAIN, "page tab", "Campaigns")
    s.click(tab)
    campaign = s.campaign()
    assert campaign is not None
    cell = wait_for(
        "the campaign in the list",
        lambda: s.tree.find(MAIN, "table", "Campaigns"),
        15,
        s.app,
    )
    time.sleep(2.5)  # the list refreshes every 2 s
    s.shoot("22-campaigns-list")
    rows = [
        n
        for n in _children(cell)
        if n.role == "table cell" and re.search("Spring", n.name) and n.showing
    ]
    if rows:
        s.click(rows[0], "the campaign's row")
    else:
        s.note("the campaign's row was not found in the Campaigns list")
    s.press(MAIN, BUTTON, "Open live panel")
    live_pattern = r"smtpdesk — (Campaign \d+|Spring)"
    s.wait_window(live_pattern)
    time.sleep(1.5)
    s.shoot("23-live-panel-after-restart")
    resume = s.tree.find(live_pattern, BUTTON, "^Resume$")
    if resume is None or not resume.enabled:
        s.note("after the restart the paused campaign's Resume button is disabled")
        bar = s.tree.find(MAIN, BUTTON, "^Resume")
        if bar is None or not bar.enabled:
            raise StepFailed("no enabled Resume anywhere after the restart")
        s.click(bar, "Resume in the main window")
    else:
        s.click(resume)
    wait_for("the campaign to finish", lambda: (c := s.campaign()) and c[1] == "finished", 90)
    time.sleep(1.5)
    s.shoot("24-live-panel-finished")
    cancel = s.tree.find(live_pattern, BUTTON, "Cancel campaign")
    if cancel is not None and cancel.enabled:
        s.note("a finished campaign still offers 'Cancel campaign'")
    s.press(live_pattern, BUTTON, "report")
    s.wait_window("Recipients of")
    time.sleep(1.5)
    s.shoot("25-recipient-report")
    s.key_in("Recipients of", "Escape")
    time.sleep(1)
    if s.tree.window("Recipients of") is not None:
        s.note("Esc does not close the recipient report")
    s.key_in(live_pattern, "ctrl+w")
    time.sleep(1)
    if s.tree.window(live_pattern) is not None:
        s.note("Ctrl+W does not close the live panel")
    s.optional("the sandbox inbox", sandbox_inbox)

    s.key_in(MAIN, "ctrl+q")
    status = s.app.wait_exit(30) if s.app else 0
    if status != 0:
        raise StepFailed(f"smtpdesk exited with status {status} after Ctrl+Q")


def _children(node: Node) -> list[Node]:
    found = []
    for i in range(node.acc.childCount):
        with _quiet_atspi():
            found.append(_node(node.acc.getChildAtIndex(i), node.window))
    return found


def first_send(s: Session) -> None:
    csv = write_recipients(s.work)
    first_run(s, csv)
    second_run(s)


def keep_sending(s: Session) -> None:
    from real_display_keep import keep_sending as scenario

    scenario(s)


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: Callable[[Session], None]
    captures: str  # the glob of its captures, removed before it runs
    report: str


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("first-send", first_send, "[0-9]*.png", "report.txt"),
        Scenario("keep-sending", keep_sending, "keep-*.png", "keep-sending-report.txt"),
    )
}


def run_setting(
    setting: Setting, out_root: Path, keep: bool, scenario: Scenario = SCENARIOS["first-send"]
) -> tuple[bool, Session | None]:
    out = out_root / setting.name
    if out.exists():
        for old in out.glob(scenario.captures):
            old.unlink()
        (out / f"99-failed-{scenario.name}.png").unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"smtpdesk-real-display-{setting.name}-"))
    data = work / "data"
    data.mkdir()
    SCALE[0] = float(setting.scale or 1)
    display = Display(setting, work)
    session = Session(setting, display, out, work, data, keep=keep)
    ok = True
    try:
        scenario.steps(session)
    except Exception as exc:  # a step that failed, or a bug of this script: both end the run
        ok = False
        if not isinstance(exc, StepFailed):
            traceback.print_exc()
        log(f"FAILED at {setting.name} after {session.current or 'start'}: {exc}")
        session.findings.append(f"FAILED after {session.current or 'start'}: {exc}")
        with _quiet_atspi():
            failed = f"99-failed-{scenario.name}.png"
            display.capture(out / failed)
            session.shots.append(failed)
    finally:
        problems = []
        if session.app is not None:
            session.app.stop()
        for run in range(1, session.runs + 1):
            log_path = work / f"app-{run}.log"
            if log_path.exists():
                problems += [f"app-{run}.log: {p}" for p in _log_lines(log_path)]
        display.stop()
        result = "ok" if ok and not session.crashed else "FAILED"
        report = [
            f"# {setting.name} (QT_SCALE_FACTOR={setting.scale or 'unset'}), "
            f"{scenario.name}: {result}",
            "",
        ]
        report += ["## Captures", *session.shots, "", "## Checks", *(session.checks or ["none"])]
        report += ["", "## Findings"]
        report += session.findings or ["none"]
        report += ["", "## App log: errors and warnings", *(problems or ["none"])]
        (out / scenario.report).write_text("\n".join(report) + "\n", encoding="utf-8")
        if keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return ok and not session.crashed, session


def _log_lines(path: Path) -> list[str]:
    keep = ("ERROR", "CRITICAL", "Traceback", "WARNING", "qt.")
    lines = path.read_text(errors="replace").splitlines()
    # Qt's note about the accessibility bus comes from this check itself, not from the app.
    found = [line for line in lines if line.startswith(keep) and "AtSpiAdaptor" not in line]
    return found[:40]


def checkout(rev: str) -> Path:
    """The smtpdesk package and its resources (layouts, icons) as committed at ``rev``,
    in a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="smtpdesk-real-display-src-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "smtpdesk", "resources"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    log(f"running smtpdesk as committed at {rev}")
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        default=str(ROOT / "docs/screenshots/real-display"),
        help="folder for the captures (one sub-folder per display setting)",
    )
    parser.add_argument(
        "--only", choices=sorted(SETTINGS), action="append", help="run only these settings"
    )
    parser.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        action="append",
        help="run only these scenarios (default: all, one after the other)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folders and logs")
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="run the package as committed at REV (e.g. HEAD) instead of the work tree",
    )
    args = parser.parse_args()
    if not (ROOT / ".venv/bin/smtpdesk").exists():
        print("error: .venv/bin/smtpdesk is missing: run `make run` once first", file=sys.stderr)
        return 2
    out_root = Path(args.out)
    if args.commit:
        SOURCE.append(checkout(args.commit))
    results = {}
    for name in args.only or list(SETTINGS):
        for scenario in args.scenario or list(SCENARIOS):
            ok, _session = run_setting(SETTINGS[name], out_root, args.keep, SCENARIOS[scenario])
            results[(name, scenario)] = ok
    for (name, scenario), ok in results.items():
        report = out_root / name / SCENARIOS[scenario].report
        print(f"{name} {scenario}: {'ok' if ok else 'FAILED'} (see {report})")
    if SOURCE:
        shutil.rmtree(SOURCE[0], ignore_errors=True)
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    # real_display_keep imports this module by its name: let it find this run, not a copy.
    sys.modules.setdefault("real_display", sys.modules[__name__])
    sys.exit(main())
