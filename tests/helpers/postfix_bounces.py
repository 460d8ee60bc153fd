"""A private, real Postfix that bounces: the DSNs land in a Dovecot user's Maildir.

Built like :mod:`tests.helpers.postfix` (its folders, its start-up), but Postfix here is
the recipients' server: ``example.org`` and ``example.com`` are its virtual mailbox
domains; ``alive@example.org`` has a mailbox, any other ``example.org`` address is unknown
and accepted anyway (``smtpd_reject_unlisted_recipient = no``), so Postfix itself writes
the "Undelivered Mail Returned to Sender" DSN (RFC 3464) to the sender,
``news@example.com``, whose mailbox is the Dovecot user's ``~/Maildir``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.helpers.dovecot import Dovecot
from tests.helpers.postfix import MASTER, _free_port, _make_dirs, _unavailable, _wait_listening

SENDER = "news@example.com"
ALIVE = "alive@example.org"


@dataclass
class BouncingPostfix:
    root: Path
    port: int

    def log_text(self) -> str:
        log = self.root / "maillog"
        return log.read_text(errors="replace") if log.exists() else ""


def _configure(root: Path, port: int, dovecot: Dovecot, user: str) -> Path:
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
myhostname = mx.example.org
mydestination =
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = example.org, example.com
virtual_mailbox_maps = inline:{{ {{{SENDER}={user}/Maildir/}} {{{ALIVE}=alive/Maildir/}} }}
virtual_mailbox_base = {dovecot.root / "home"}
virtual_uid_maps = static:{dovecot.uid}
virtual_gid_maps = static:{dovecot.gid}
virtual_minimum_uid = 1
maillog_file_prefixes = {root}
maillog_file = {root / "maillog"}
smtpd_banner = $myhostname ESMTP
"""
    )
    (conf / "master.cf").write_text(
        f"""127.0.0.1:{port} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
error unix - - n - - error
retry unix - - n - - error
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""
    )
    return conf


@contextlib.contextmanager
def bouncing_postfix(dovecot: Dovecot, user: str) -> Iterator[BouncingPostfix]:
    """Start it for ``user``'s Maildir; stop it and remove its folder on the way out."""
    if not MASTER.exists():
        _unavailable("Postfix is not installed (Debian package postfix)")
    if os.geteuid() != 0:
        _unavailable("a private Postfix instance needs root")
    root = Path(tempfile.mkdtemp(prefix="smtpdesk-postfix-bounces-"))
    root.chmod(0o755)
    port = _free_port()
    conf = _configure(root, port, dovecot, user)
    master = subprocess.Popen(
        [str(MASTER), "-d", "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening({"smtp": port}, master, 15.0)
        yield BouncingPostfix(root, port)
    finally:
        master.terminate()
        try:
            master.wait(10)
        except subprocess.TimeoutExpired:
            master.kill()
            master.wait()
        if not os.environ.get("SMTPDESK_KEEP_POSTFIX"):
            shutil.rmtree(root, ignore_errors=True)
