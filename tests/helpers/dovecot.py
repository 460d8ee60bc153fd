"""A real Dovecot (IMAP and POP3) for the feedback mailbox's tests, on 127.0.0.1 only.

One server a test session: a private configuration in a temporary folder, four free
ports (IMAP, IMAPS, POP3, POP3S), TLS with the session's trustme certificate, users in
a passwd-file (one new user a test, so every test starts with an empty Maildir) whose
mail lives in ``<home>/Maildir``. :meth:`Dovecot.deliver` writes a message into the
Maildir as a delivery agent would.

Dovecot comes from Debian's ``dovecot-imapd`` and ``dovecot-pop3d`` (``.ci/run`` and
``scripts/system-deps.sh test`` install them): in CI a missing one fails the tests,
elsewhere they are skipped with the command to install it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme

from smtpdesk.core.feedback import scan as scanning
from smtpdesk.core.feedback.records import FeedbackBook
from smtpdesk.core.settings import MailboxSettings, parse_mailbox
from smtpdesk.core.store import Store
from tests.helpers.smtpd import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
PASSWORD = "mailbox-Pa55"
USERS = 100  # one a test, at most
_serial = itertools.count(1)


def require_dovecot() -> str:
    if os.path.exists(DOVECOT) and os.path.exists("/usr/lib/dovecot/pop3"):
        return DOVECOT
    message = (
        "Dovecot is not installed: sudo apt-get install dovecot-imapd dovecot-pop3d "
        "(or scripts/system-deps.sh test)"
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Dovecot:
    root: Path
    imap: int
    imaps: int
    pop3: int
    pop3s: int
    process: subprocess.Popen[bytes] | None = None
    users: list[str] = field(default_factory=list)
    # the owner of the mail: Dovecot refuses root, so under root it is nobody
    uid: int = field(default_factory=lambda: _mail_owner()[0])
    gid: int = field(default_factory=lambda: _mail_owner()[1])

    def _own(self, path: Path) -> None:
        if os.getuid() == 0:
            os.chown(path, self.uid, self.gid)

    @property
    def passwd(self) -> Path:
        return self.root / "passwd"

    def add_user(self) -> str:
        """A user nobody used yet, with an empty Maildir; returns the login name.

        The users are all written before Dovecot starts: it notices a change of the
        passwd-file by its time stamp, which may not change within a second.
        """
        name = self.users.pop(0)
        home = self.home(name)
        for sub in ("new", "cur", "tmp"):
            (home / "Maildir" / sub).mkdir(parents=True, exist_ok=True)
        for path in (home, home / "Maildir", *(home / "Maildir").iterdir()):
            self._own(path)
        return name

    def home(self, user: str) -> Path:
        return self.root / "home" / user

    def deliver(self, user: str, message: bytes, folder: str = "") -> Path:
        """Put ``message`` in the user's Maildir (``folder``: a sub-folder such as Junk)."""
        box = self.home(user) / "Maildir"
        if folder:
            box = box / f".{folder}"
            for sub in ("new", "cur", "tmp"):
                (box / sub).mkdir(parents=True, exist_ok=True)
            for path in (box, *box.iterdir()):
                self._own(path)
        name = f"{time.time():.6f}.{next(_serial)}.{os.getpid()}.test"
        temporary = box / "tmp" / name
        temporary.write_bytes(message.replace(b"\r\n", b"\n"))
        self._own(temporary)
        final = box / "new" / name
        temporary.rename(final)
        return final

    def messages(self, user: str, folder: str = "") -> list[Path]:
        box = self.home(user) / "Maildir"
        if folder:
            box = box / f".{folder}"
        return sorted(
            p for sub in ("new", "cur") if (box / sub).is_dir() for p in (box / sub).iterdir()
        )


def save_mailbox(store: Store, server: Dovecot, user: str, **values: Any) -> MailboxSettings:
    """Save ``user``'s mailbox on ``server`` (IMAP over TLS, then ``values``) as the one to
    scan, with the users' password."""
    report = parse_mailbox(
        {
            "enabled": True,
            "host": "127.0.0.1",
            "port": server.imaps,
            "tls_type": "TLS",
            "username": user,
            **values,
        }
    )
    assert report.settings is not None, report.problems
    FeedbackBook(store).put_mailbox(report.settings)
    scanning.set_password(PASSWORD)
    return report.settings


def _mail_owner() -> tuple[int, int]:
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    import pwd

    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def _config(server: Dovecot, cert: Path, key: Path) -> str:
    uid, gid = server.uid, server.gid
    if uid == 0:
        login_user, internal_user = "dovenull", "dovecot"
    else:
        import pwd

        login_user = internal_user = pwd.getpwuid(uid).pw_name
    return f"""
base_dir = {server.root}/run
state_dir = {server.root}/state
log_path = {server.root}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {server.passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={server.root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {server.imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {server.imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {server.pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {server.pop3s}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
service pop3-login {{
  chroot =
}}
"""


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text() if log.exists() else ""
            raise RuntimeError(f"dovecot exited ({process.returncode}): {text[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on {port}")


@pytest.fixture(scope="session")
def dovecot(server_cert: trustme.LeafCert) -> Iterator[Dovecot]:
    binary = require_dovecot()
    root = Path(tempfile.mkdtemp(prefix="smtpdesk-dovecot-"))
    root.chmod(0o755)  # the login processes run as another user and must reach run/
    server = Dovecot(root, free_port(), free_port(), free_port(), free_port())
    cert, key = root / "cert.pem", root / "key.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(cert))
    server_cert.private_key_pem.write_to_path(str(key))
    server.users = [f"feedback{n}@example.test" for n in range(USERS)]
    server.passwd.write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}::::::\n" for u in server.users))
    (root / "home").mkdir()
    (root / "home").chmod(0o755)
    config = root / "dovecot.conf"
    config.write_text(_config(server, cert, key))
    server.process = subprocess.Popen(
        [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for port in (server.imap, server.imaps, server.pop3, server.pop3s):
            _wait_for(port, server.process, root / "dovecot.log")
        yield server
    finally:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
        if not os.environ.get("SMTPDESK_KEEP_DOVECOT"):
            shutil.rmtree(root, ignore_errors=True)
