"""A local capture SMTP server, so a new user can test and send with no account.

aiosmtpd on 127.0.0.1 with STARTTLS (a self-signed certificate made on first run)
and AUTH PLAIN, LOGIN and CRAM-MD5 with a generated password kept in the keyring.
Every message it receives is written as a .eml file to ``<data>/sandbox/inbox``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import secrets as random_secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email import message_from_binary_file
from email.policy import default as default_policy
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from smtpdesk.core import secrets
from smtpdesk.core.servers import save_server
from smtpdesk.core.settings import AuthProtocol, ServerSettings, TlsType
from smtpdesk.core.smtp.certificate import fingerprint
from smtpdesk.core.store import Store

# Runs a blocking function off the loop: asyncio.to_thread, or the bridge's read or write.
Offload = Callable[..., Awaitable[Any]]

NAME = "sandbox"
USERNAME = "sandbox"
HOST = "127.0.0.1"
DEFAULT_PORT = 2526
SECRET_KEY = "sandbox-server"  # keyring entry of the sandbox's own password


@dataclass(frozen=True)
class InboxMessage:
    path: Path
    subject: str
    sender: str
    to: str
    date: str  # the Date header as written
    sent_at: float | None = None  # the Date header as an epoch, None when it cannot be read


def sandbox_dir(data_dir: Path) -> Path:
    return data_dir / "sandbox"


def list_inbox(data_dir: Path) -> list[InboxMessage]:
    """The captured messages, newest first."""
    inbox = sandbox_dir(data_dir) / "inbox"
    if not inbox.is_dir():
        return []
    found = []
    for path in sorted(inbox.glob("*.eml"), reverse=True):
        with path.open("rb") as handle:
            message = message_from_binary_file(handle, policy=default_policy)
        found.append(
            InboxMessage(
                path,
                str(message.get("Subject", "")),
                str(message.get("From", "")),
                str(message.get("To", "")),
                str(message.get("Date", "")),
                _epoch(str(message.get("Date", ""))),
            )
        )
    return found


def _epoch(date: str) -> float | None:
    try:
        return parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def sandbox_password() -> str:
    """The sandbox's password from the keyring, generated on first use."""
    password = secrets.get_password(SECRET_KEY)
    if not password:
        password = random_secrets.token_urlsafe(18)
        secrets.set_password(SECRET_KEY, password)
    return password


def certificate_pin(data_dir: Path) -> str:
    """The SHA-256 of the sandbox's certificate (made now if it does not exist yet)."""
    cert_path, _key = _make_certificate(sandbox_dir(data_dir))
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text(encoding="ascii"))
    return fingerprint(der)


def ensure_sandbox_server(store: Store, port: int) -> ServerSettings:
    """Create the server "sandbox" (or update its port), with the sandbox's password."""
    existing = next((s for s in store.servers() if s.name == NAME), None)
    data: dict[str, object] = {
        "name": NAME,
        "host": HOST,
        "port": port,
        "tls_type": str(TlsType.STARTTLS),
        # Self-signed on 127.0.0.1: no authority vouches for it, so its own certificate is
        # pinned (never skip-verify, which the first run would otherwise teach).
        "tls_skip_verify": False,
        "tls_pin_sha256": certificate_pin(store.folder),
        "auth_protocol": str(AuthProtocol.PLAIN),
        "username": USERNAME,
        "max_conns": 4,
        "enabled": True,
    }
    report = save_server(store, data, base=existing, password=sandbox_password())
    assert report.settings is not None, report.problems
    return report.settings


def _make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made once."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtpdesk sandbox")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class _CaptureHandler:
    def __init__(self, inbox: Path, password: str) -> None:
        self.inbox = inbox
        self.password = password

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.inbox / f"{stamp}-{random_secrets.token_hex(4)}.eml"
        header = (
            f"X-Smtpdesk-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Smtpdesk-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        await asyncio.to_thread(path.write_bytes, header + content)
        return f"250 2.0.0 Ok: captured as {path.name}"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == USERNAME.encode()
            and hmac.compare_digest(auth_data.password, self.password.encode())
        )
        return AuthResult(success=ok, handled=False)

    async def auth_CRAM__MD5(self, server: SMTP, args: list[str]) -> AuthResult:
        challenge = f"<{random_secrets.token_hex(8)}@smtpdesk.sandbox>".encode()
        answer = await server.challenge_auth(challenge)
        if not isinstance(answer, bytes) or b" " not in answer:
            return AuthResult(success=False, handled=False)
        login, digest = answer.rsplit(b" ", 1)
        expected = hmac.new(self.password.encode(), challenge, hashlib.md5).hexdigest()
        ok = login == USERNAME.encode() and hmac.compare_digest(digest, expected.encode())
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(login, b""))


class _QuietSession(Session):
    """A session whose ``login_data`` does not log a deprecation warning.

    aiosmtpd 1.4 itself sets the deprecated ``Session.login_data`` after every
    successful AUTH and logs "Session.login_data is deprecated" each time; nothing
    here reads it (the authenticator's ``auth_data`` is the current API).
    """

    login_data: Any = None


class _SandboxSMTP(SMTP):
    def _create_session(self) -> Session:
        return _QuietSession(self.loop)


class SandboxServer:
    """The capture server. ``await start()`` returns the port it listens on."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        self.folder = sandbox_dir(data_dir)
        self.inbox_dir = self.folder / "inbox"
        self.port = port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self.inbox_dir.mkdir(parents=True, exist_ok=True)
        cert, key = await asyncio.to_thread(_make_certificate, self.folder)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        password = await asyncio.to_thread(sandbox_password)
        handler = _CaptureHandler(self.inbox_dir, password)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _SandboxSMTP(
                handler,
                hostname="smtpdesk-sandbox",
                tls_context=context,
                require_starttls=True,
                authenticator=handler.authenticate,
                auth_required=True,
            ),
            host=HOST,
            port=self.port,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


def wants_sandbox(store: Store) -> bool:
    """On a first run, or while the server "sandbox" exists and is enabled, run the sandbox."""
    if store.created:
        return True
    return any(s.name == NAME and s.enabled for s in store.servers())


def sandbox_port(store: Store) -> int:
    """The port the server "sandbox" already has, else 2526 (blocking: reads the servers)."""
    existing = next((s for s in store.servers() if s.name == NAME), None)
    return existing.port if existing else DEFAULT_PORT


async def start_sandbox(
    store: Store,
    port: int | None = None,
    *,
    read: Offload | None = None,
    write: Offload | None = None,
) -> SandboxServer:
    """Start the sandbox and point the server "sandbox" at it.

    It listens on ``port``, else the port "sandbox" already has, else 2526; if that one is
    taken, on any free port. The database is read with ``read`` and written with
    ``write`` (default: a worker thread each; the app passes its bridge's, issue 9).
    """
    read = read or asyncio.to_thread
    write = write or asyncio.to_thread
    if port is None:
        port = await read(sandbox_port, store)
    server = SandboxServer(store.folder, port)
    try:
        await server.start()
    except OSError:
        server = SandboxServer(store.folder, 0)
        await server.start()
    await write(ensure_sandbox_server, store, server.port)
    return server
