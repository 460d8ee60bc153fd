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
import functools
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.dovecot import Dovecot
from tests.helpers.postfix import (
    Postfix,
    require_postfix,
    running_master,
    write_config,
)
from tests.helpers.smtpd import free_port

SENDER = "news@example.com"
ALIVE = "alive@example.org"


def _configure(root: Path, port: int, dovecot: Dovecot, user: str) -> Path:
    return write_config(
        root,
        "mx.example.org",
        f"""smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = example.org, example.com
virtual_mailbox_maps = inline:{{ {{{SENDER}={user}/Maildir/}} {{{ALIVE}=alive/Maildir/}} }}
virtual_mailbox_base = {dovecot.root / "home"}
virtual_uid_maps = static:{dovecot.uid}
virtual_gid_maps = static:{dovecot.gid}
virtual_minimum_uid = 1
""",
        f"""127.0.0.1:{port} inet n - n - - smtpd
error unix - - n - - error
retry unix - - n - - error
virtual unix - n n - - virtual
""",
    )


@contextlib.contextmanager
def bouncing_postfix(dovecot: Dovecot, user: str) -> Iterator[Postfix]:
    """Start it for ``user``'s Maildir (its one port is ``ports["smtp"]``); stop it and
    remove its folder on the way out."""
    require_postfix()
    ports = {"smtp": free_port()}
    configure = functools.partial(_configure, port=ports["smtp"], dovecot=dovecot, user=user)
    with running_master("smtpdesk-postfix-bounces-", ports, configure) as root:
        yield Postfix(root, ports)
