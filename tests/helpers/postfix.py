"""A private, real Postfix for the tests: its own configuration, queue and log in a temp folder.

Postfix's ``master`` runs in the foreground (``-d``) as root, with smtpd listening on
127.0.0.1 on free ports, one service per way of talking (see :data:`SERVICES`); every
message is handed to the ``discard`` transport, whose log line tells what was delivered.
It starts in about 0.1 s (the queue folders are made here, not by ``postfix check``).

Needs root and Debian's ``postfix`` package: without them a test skips, except under
``CI=true`` where it fails (CI installs postfix, see .ci/run).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.smtpd import free_port

MASTER = Path("/usr/lib/postfix/sbin/master")
REFUSED = "nobody@example.test"  # 550 at RCPT
LATER = "later@example.test"  # 450 at RCPT
REJECT_BODY = "REJECT-THIS-BODY"  # a body line that body_checks refuses after the content

# service name -> extra smtpd options
SERVICES = {
    "chunking": "",  # PIPELINING and CHUNKING, as Postfix offers by default
    "pipelining": "-o smtpd_discard_ehlo_keywords=chunking",
    "forbid": "-o smtpd_forbid_unauth_pipelining=yes",
    "forbid-data": "-o smtpd_forbid_unauth_pipelining=yes -o smtpd_discard_ehlo_keywords=chunking",
    "lockstep": "-o smtpd_discard_ehlo_keywords=pipelining,chunking"
    " -o smtpd_forbid_unauth_pipelining=yes",
}
_QUEUE_DIRS = ("active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming")


@dataclass
class Postfix:
    root: Path
    ports: dict[str, int]

    @property
    def log(self) -> Path:
        return self.root / "maillog"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def delivered(self, address: str) -> int:
        """How many messages reached ``address`` (the discard transport's log lines)."""
        pattern = re.compile(
            rf"postfix/discard\[\d+\]: \w+: to=<{re.escape(address)}>.*status=sent"
        )
        return len(pattern.findall(self.log_text()))

    def wait_delivered(self, counts: dict[str, int], limit: float = 10.0) -> dict[str, int]:
        """Wait until each address has its count (or the time is up); the counts seen."""
        deadline = time.monotonic() + limit
        while True:
            seen = {a: self.delivered(a) for a in counts}
            if seen == counts or time.monotonic() > deadline:
                return seen
            time.sleep(0.05)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"a real Postfix is needed in CI: {reason}")
    pytest.skip(reason)


def _make_dirs(root: Path) -> tuple[Path, Path]:
    postfix = pwd.getpwnam("postfix")
    postdrop = grp.getgrnam("postdrop").gr_gid
    queue, data = root / "queue", root / "data"
    for folder in (queue, data, queue / "pid"):
        folder.mkdir(mode=0o755)
    for name in (*_QUEUE_DIRS, "private", "saved", "trace"):
        (queue / name).mkdir(mode=0o700)
        os.chown(queue / name, postfix.pw_uid, -1)
    for name, mode in (("maildrop", 0o730), ("public", 0o710)):
        (queue / name).mkdir()
        os.chmod(queue / name, mode)
        os.chown(queue / name, postfix.pw_uid, postdrop)
    os.chown(data, postfix.pw_uid, -1)
    os.chmod(data, 0o700)
    return queue, data


def write_config(root: Path, hostname: str, main: str, services: str) -> Path:
    """Write main.cf and master.cf in ``root / "conf"``: what every private Postfix shares
    (its folders, identity, relay rule, log and internal services) plus ``main`` and
    ``services``, its own settings and services."""
    queue, data = _make_dirs(root)
    conf = root / "conf"
    conf.mkdir()
    (conf / "main.cf").write_text(
        f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = {hostname}
mydestination =
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject
maillog_file_prefixes = {root}
maillog_file = {root / "maillog"}
smtpd_banner = $myhostname ESMTP
"""
        + main
    )
    (conf / "master.cf").write_text(
        services
        + """cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""
    )
    return conf


def _configure(root: Path, ports: dict[str, int]) -> Path:
    conf = write_config(
        root,
        "postfix.example.test",
        f"""smtpd_recipient_restrictions = check_recipient_access inline:{{ \
{{{REFUSED} = 550 5.1.1 No such user}} {{{LATER} = 450 4.2.0 Try later}} }}, \
permit_mynetworks, reject
body_checks = regexp:{root / "conf" / "body_checks"}
default_transport = discard
relay_transport = discard
""",
        "".join(
            f"127.0.0.1:{ports[name]} inet n - n - - smtpd {options}\n"
            for name, options in SERVICES.items()
        )
        + "discard unix - - n - - discard\n",
    )
    (conf / "body_checks").write_text(f"/^{REJECT_BODY}/ REJECT 5.7.1 Content refused\n")
    return conf


def _wait_listening(ports: dict[str, int], master: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    for port in ports.values():
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if master.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Postfix did not start (exit {master.poll()})") from None
                time.sleep(0.02)


def require_postfix() -> None:
    """Skip (fail under CI) unless a private Postfix can run here."""
    if not MASTER.exists():
        _unavailable("Postfix is not installed (Debian package postfix)")
    if os.geteuid() != 0:
        _unavailable("a private Postfix instance needs root")


@pytest.fixture(scope="session")
def postfix() -> Iterator[Postfix]:
    require_postfix()
    with running_postfix() as server:
        yield server


@contextlib.contextmanager
def running_postfix() -> Iterator[Postfix]:
    """Start a private Postfix, stop it and remove its folder on the way out."""
    ports = {name: free_port() for name in SERVICES}
    with running_master("smtpdesk-postfix-", ports, lambda root: _configure(root, ports)) as root:
        yield Postfix(root, ports)


@contextlib.contextmanager
def running_master(
    prefix: str, ports: dict[str, int], configure: Callable[[Path], Path]
) -> Iterator[Path]:
    """Run ``master`` on the configuration ``configure`` writes in a new temp folder until
    every port listens; stop it and remove the folder (unless ``SMTPDESK_KEEP_POSTFIX``)
    on the way out."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # Postfix's processes run as the postfix user
    conf = configure(root)
    master = subprocess.Popen(
        [str(MASTER), "-d", "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(ports, master, 15.0)
        yield root
    finally:
        master.terminate()
        try:
            master.wait(10)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()
        if not os.environ.get("SMTPDESK_KEEP_POSTFIX"):
            shutil.rmtree(root, ignore_errors=True)
