"""The unsubscribe token: which campaign and recipient, signed so nobody can forge one.

``<campaign>-<recipient>-<mac>``: ``mac`` is 16 base32 letters (80 bits) of an HMAC-SHA256
over the two ids, keyed with a random secret kept in the keyring (created on first use).
Lower-case letters, digits and ``-`` only, so it survives a subject line, a mailto URL
and a VERP address (``local+TOKEN@domain``) whatever a mail client does to case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets as random
from dataclasses import dataclass
from urllib.parse import quote

from smtpdesk.core import secrets

KEY_ENTRY = "feedback-hmac-key"  # the keyring entry beside the servers' passwords
SUBJECT_PREFIX = "unsubscribe-"
TOKEN_RE = re.compile(r"(?<![0-9a-z])(\d{1,12})-(\d{1,15})-([a-z2-7]{16})(?![0-9a-z])", re.I)


@dataclass(frozen=True)
class TokenTarget:
    campaign_id: int
    recipient_id: int


def signing_key(*, create: bool = True) -> bytes | None:
    """The HMAC key from the keyring; a new random one is stored when there is none."""
    stored = secrets.get_password(KEY_ENTRY)
    if stored is None and create:
        stored = random.token_hex(32)
        secrets.set_password(KEY_ENTRY, stored)
    return bytes.fromhex(stored) if stored else None


def _mac(key: bytes, campaign_id: int, recipient_id: int) -> str:
    digest = hmac.new(key, f"{campaign_id}-{recipient_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode("ascii").lower()


def make_token(key: bytes, campaign_id: int, recipient_id: int) -> str:
    return f"{campaign_id}-{recipient_id}-{_mac(key, campaign_id, recipient_id)}"


def find_tokens(text: str) -> list[str]:
    """Every token-shaped word in ``text`` (signed or not: see :func:`verify`)."""
    return [m.group(0).lower() for m in TOKEN_RE.finditer(text)]


def verify(key: bytes, token: str) -> TokenTarget | None:
    """The campaign and recipient a genuine token names; None for a forged or mangled one."""
    match = TOKEN_RE.fullmatch(token.strip())
    if match is None:
        return None
    campaign_id, recipient_id = int(match.group(1)), int(match.group(2))
    expected = _mac(key, campaign_id, recipient_id)
    if not hmac.compare_digest(expected, match.group(3).lower()):
        return None
    return TokenTarget(campaign_id, recipient_id)


def mailto(address: str, token: str) -> str:
    """``mailto:ADDRESS?subject=unsubscribe-TOKEN`` (RFC 6068)."""
    return f"mailto:{address}?subject={quote(SUBJECT_PREFIX + token, safe='-')}"


def verp_address(address: str, token: str) -> str:
    """The per-recipient return path ``local+TOKEN@domain`` (optional VERP)."""
    local, _, domain = address.rpartition("@")
    return f"{local}+{token}@{domain}"


def return_path(verp: str, token: str) -> str | None:
    """A message's VERP return path, when VERP is on (``verp``: its address) and the
    message has a token; None otherwise."""
    return verp_address(verp, token) if verp and token else None
