"""DKIM signatures (RFC 6376) made fast: relaxed/relaxed, RSA-SHA256 and Ed25519-SHA256.

The key operation is ``cryptography``'s (OpenSSL): dkimpy's pure-Python RSA takes
milliseconds a signature, too slow for a campaign. Canonicalisation is a few regular
expressions over the wire bytes. dkimpy verifies what we sign in the tests.

A signature is added last, once every other header is final: the pool signs the
bytes it is about to send, after the server's own headers (see ``core/smtp/pool.py``).
With ``both``, the message carries two signatures (RFC 8463 recommends an RSA one
beside Ed25519 for receivers that do not know Ed25519 yet); the Ed25519 key then has
its own selector, ``SELECTOR-ed25519``, since one DNS name holds one key.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from smtpdesk.core.errors import BadInputError, KnownError
from smtpdesk.core.settings import DkimAlgorithm, ServerSettings

RSA_BITS = 2048
# RFC 6376 5.4.1's recommended set, plus the fields a one-click unsubscribe needs signed
# (RFC 8058 3) and those that change how the body reads. "from" is signed once more
# than it occurs, so no second From can be added without breaking the signature.
SIGNED_HEADERS = (
    "from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to",
    "references", "resent-date", "resent-from", "resent-to", "resent-cc", "list-id",
    "list-help", "list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post",
    "list-owner", "list-archive", "mime-version", "content-type", "content-transfer-encoding",
)  # fmt: skip
_SIGNED = frozenset(SIGNED_HEADERS)
_FIELD_SPLIT = re.compile(rb"\r\n(?![ \t])")
_WSP = re.compile(rb"\t[ \t]*| [ \t]+")  # runs other than one space: the only ones to change
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class DkimKeyError(KnownError):
    """A DKIM key is missing from the keyring or is not a key we can sign with."""


@dataclass(frozen=True)
class SigningKey:
    """One key and the selector its public half is published under."""

    selector: str
    key: PrivateKey

    @property
    def algorithm(self) -> str:
        return "rsa-sha256" if isinstance(self.key, rsa.RSAPrivateKey) else "ed25519-sha256"

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        return self.key.sign(hashlib.sha256(data).digest())  # RFC 8463 3: the hash is signed


def kind_of(key: PrivateKey) -> str:
    """The keyring entry of a key: ``dkim-rsa`` or ``dkim-ed25519``."""
    return "dkim-rsa" if isinstance(key, rsa.RSAPrivateKey) else "dkim-ed25519"


def selectors(settings: ServerSettings) -> list[tuple[str, str]]:
    """(keyring kind, selector) of each key the server signs with."""
    base = settings.dkim_selector
    if settings.dkim_algorithm == DkimAlgorithm.RSA:
        return [("dkim-rsa", base)]
    if settings.dkim_algorithm == DkimAlgorithm.ED25519:
        return [("dkim-ed25519", base)]
    return [("dkim-rsa", base), ("dkim-ed25519", f"{base}-ed25519")]


# --- keys -------------------------------------------------------------------------------


def generate_key(kind: str) -> PrivateKey:
    if kind == "dkim-rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    return ed25519.Ed25519PrivateKey.generate()


def key_to_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_key(pem: str | bytes, where: str = "the key") -> PrivateKey:
    """An unencrypted PEM private key (RSA of 1024 bits or more, or Ed25519)."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise BadInputError(
            f"{where} is not an unencrypted PEM private key.",
            "Give a PKCS#8 or PKCS#1 PEM file (openssl genpkey), or use --generate.",
        ) from exc
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 1024:
            raise BadInputError(
                f"{where} is a {key.key_size}-bit RSA key: receivers refuse keys under 1024 bits.",
                "Use a 2048-bit key or --generate.",
            )
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise BadInputError(f"{where} is neither an RSA nor an Ed25519 key.")


def public_record(key: PrivateKey) -> str:
    """The TXT record value to publish for ``key``: ``v=DKIM1; k=…; p=…``."""
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode('ascii')}"


def zone_line(selector: str, domain: str, record: str) -> str:
    """One zone-file line; TXT strings are at most 255 bytes, so a long record is split."""
    chunks = " ".join(f'"{record[i : i + 255]}"' for i in range(0, len(record), 255))
    return f"{selector}._domainkey.{domain} TXT {chunks}"


# --- signing ------------------------------------------------------------------------------


def _one_space(text: bytes) -> bytes:
    """Runs of spaces and tabs made one space (a scan of C code when there are none)."""
    return _WSP.sub(b" ", text) if b"\t" in text or b"  " in text else text


def _relaxed_header(name: bytes, value: bytes) -> bytes:
    # every CRLF left inside a field is a fold: the fields were split where none follows
    value = _one_space(value.replace(b"\r\n", b"")).strip(b" \t")
    return name.strip().lower() + b":" + value


def relaxed_body(body: bytes) -> bytes:
    """RFC 6376 3.4.4: runs of white space made one, none at a line's end, no empty end lines."""
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    body = _one_space(body).replace(b" \r\n", b"\r\n")
    body = body.rstrip(b"\r\n")
    return body + b"\r\n" if body else b""


class DkimSigner:
    """Signs serialised messages (CRLF) for one domain with one or two keys."""

    def __init__(
        self, domain: str, keys: list[SigningKey], clock: Callable[[], float] = time.time
    ) -> None:
        if not keys:
            raise ValueError("a signer needs at least one key")
        self.domain = domain
        self.keys = keys
        self._clock = clock

    def sign(self, message: bytes) -> bytes:
        """``message`` with one DKIM-Signature per key in front."""
        end = message.find(b"\r\n\r\n")
        if end < 0:
            head, body = message.removesuffix(b"\r\n"), b""
        else:
            head, body = message[:end], message[end + 4 :]
        instances: dict[bytes, list[bytes]] = {}  # each signed field's lines, top to bottom
        names: list[bytes] = []
        for line in _FIELD_SPLIT.split(head):
            name, _, value = line.partition(b":")
            lower = name.strip().lower()
            if lower.decode("ascii", "replace") in _SIGNED:
                names.append(lower)
                instances.setdefault(lower, []).append(_relaxed_header(name, value) + b"\r\n")
        # Verifiers take a repeated name's instances from the bottom up (RFC 6376 5.4.2).
        signed = [instances[name].pop() for name in names]
        names.append(b"from")  # oversigned: matches nothing, so no From can be added
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        data = b"".join(signed)
        out = [self._signature(key, names, body_hash, data) for key in self.keys]
        return b"".join(out) + message

    def _signature(
        self, key: SigningKey, names: list[bytes], body_hash: bytes, data: bytes
    ) -> bytes:
        value = (
            f" v=1; a={key.algorithm}; c=relaxed/relaxed; d={self.domain};"
            f" s={key.selector};\r\n\tt={int(self._clock())};"
            f" h={':'.join(n.decode('ascii') for n in names)};\r\n\tbh={body_hash.decode()};"
            "\r\n\tb="
        ).encode("ascii")
        signature = key.sign(data + _relaxed_header(b"DKIM-Signature", value))
        b64 = base64.b64encode(signature)
        folded = b"\r\n\t".join(b64[i : i + 72] for i in range(0, len(b64), 72))
        return b"DKIM-Signature:" + value + folded + b"\r\n"

    def sign_email(self, message: EmailMessage) -> bytes:
        """An ``EmailMessage`` flattened (7-bit, CRLF) as it will be sent, then signed."""
        from aiosmtplib.email import flatten_message

        return self.sign(flatten_message(message, utf8=False, cte_type="7bit"))


KeyLookup = Callable[[str, str], "str | None"]


def signer_for(settings: ServerSettings, keys: KeyLookup) -> DkimSigner | None:
    """The signer of a server that signs, its keys read with ``keys(uuid, kind)``."""
    if not settings.dkim_enabled:
        return None
    found = []
    for kind, selector in selectors(settings):
        pem = keys(settings.uuid, kind)
        if not pem:
            raise DkimKeyError(
                f"DKIM signing is on for {settings.label}, but its "
                f"{kind.removeprefix('dkim-')} key is not in the keyring.",
                f"Run 'smtpdesk servers dkim {settings.name or settings.uuid} --generate' "
                "(or --key-file), or turn DKIM off with --disable.",
            )
        found.append(SigningKey(selector, load_key(pem, f"the stored {kind} key")))
    return DkimSigner(settings.dkim_domain, found)
