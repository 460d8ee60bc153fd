"""Real SMTP servers for tests: aiosmtpd on 127.0.0.1, port 0, with knobs to make them misbehave.

Use the ``smtpd_factory`` fixture from an async test::

    server = await smtpd_factory(mode="starttls", auth=("PLAIN",))
    ... send to 127.0.0.1:server.port ...
    assert server.handler.messages[0].rcpt_tos == ["bob@example.test"]

Modes: ``plain`` (no TLS offered), ``starttls`` (STARTTLS offered), ``tls`` (implicit TLS).
TLS uses a per-session trustme CA; the ``trust_test_ca`` fixture makes the default
SSL context (``ssl.create_default_context``) trust it through ``SSL_CERT_FILE``.

Faults (mutable at any time through ``server.faults``): a reply per recipient or for
MAIL/DATA, dropping the connection during DATA, and delays before the greeting or a
command. ``server.stats`` counts connections as the server saw them.

For synchronous callers (the CLI runs its own event loop) use :class:`ThreadedSmtpd`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from aiosmtpd.smtp import SMTP as SMTPServerProtocol
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from smtpdesk.core.settings import AuthProtocol, ServerSettings, TlsType

Mode = Literal["plain", "starttls", "tls"]
USER = "alice@example.test"
PASSWORD = "s3cret-Pa55"  # the one password every AUTH-enabled test server accepts
ALL_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: tuple[str, int]  # the client's address: one value per connection
    login: str | None
    tls: bool
    mail_options: list[str] = field(default_factory=list)  # e.g. ["SIZE=1234", "BODY=8BITMIME"]
    at: float = field(default_factory=time.time)  # when the server accepted it (its clock)


@dataclass
class Faults:
    """Ways to make the server misbehave; change them while the server runs."""

    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> e.g. "550 5.1.1 No"
    # the reply to every RCPT before a login, as Postfix's smtpd_relay_restrictions give:
    # "554 5.7.1 <bob@example.test>: Recipient address rejected: Access denied"
    unauthenticated_rcpt_reply: str | None = None
    mail_reply: str | None = None  # replaces the reply to MAIL FROM
    data_reply: str | None = None  # replaces the reply after the message content
    data_replies: list[str] = field(default_factory=list)  # used once each, before data_reply
    drop_in_data: int = 0  # drop this many connections when their DATA content has arrived
    delays: dict[str, float] = field(default_factory=dict)  # "greeting", "EHLO", "MAIL", "DATA"...
    close_after_reply: bool = False  # hang up after a 421 reply, as real servers do


@dataclass
class ConnectionStats:
    """Connections as the server saw them."""

    open: int = 0
    max_open: int = 0
    opened: int = 0
    closed: int = 0
    quits: int = 0
    resets: int = 0
    auth_logins: list[str] = field(default_factory=list)
    refused_peers: list[tuple[str, int]] = field(default_factory=list)  # got a fault DATA reply


class RecordingHandler:
    """Accepts everything (unless told otherwise by ``faults``) and records it."""

    def __init__(self, faults: Faults, mechanisms: tuple[str, ...]) -> None:
        self.faults = faults
        self.messages: list[Received] = []
        self.stats = ConnectionStats()
        self.mechanisms = mechanisms
        self.live: set[_TrackingSMTP] = set()
        self.changed = asyncio.Event()  # set whenever stats or messages change

    async def _delay(self, command: str) -> None:
        seconds = self.faults.delays.get(command, 0.0)
        if seconds:
            await asyncio.sleep(seconds)

    async def handle_EHLO(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        await self._delay("EHLO")
        session.host_name = hostname
        if not self.mechanisms:
            return [r for r in responses if not r.startswith("250-AUTH")]
        return responses

    async def handle_MAIL(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        await self._delay("MAIL")
        if self.faults.mail_reply:
            return self._reply(server, self.faults.mail_reply)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
        address: str,
        options: list[str],
    ) -> str:
        await self._delay("RCPT")
        if self.faults.unauthenticated_rcpt_reply and not session.authenticated:
            return self._reply(server, self.faults.unauthenticated_rcpt_reply)
        reply = self.faults.rcpt_replies.get(address)
        if reply:
            return self._reply(server, reply)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
    ) -> str:
        await self._delay("DATA")
        if self.faults.drop_in_data > 0:
            self.faults.drop_in_data -= 1
            assert server.transport is not None
            server.transport.abort()
            await asyncio.sleep(3600)  # connection_lost cancels this task
        peer = session.peer if isinstance(session.peer, tuple) else ("", 0)
        faults = self.faults
        reply = faults.data_replies.pop(0) if faults.data_replies else faults.data_reply
        if reply:
            self.stats.refused_peers.append((str(peer[0]), int(peer[1])))
            return self._reply(server, reply)
        self.messages.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content or b"",
                peer=(str(peer[0]), int(peer[1])),
                login=_login(session.auth_data),
                tls=server.transport is not None
                and server.transport.get_extra_info("sslcontext") is not None,
                mail_options=list(envelope.mail_options),
            )
        )
        self.changed.set()
        return "250 2.0.0 OK: queued"

    async def handle_RSET(
        self, server: SMTPServerProtocol, session: Session, envelope: Envelope
    ) -> str:
        self.stats.resets += 1
        self.changed.set()
        return "250 OK"

    async def handle_QUIT(
        self, server: SMTPServerProtocol, session: Session, envelope: Envelope
    ) -> str:
        self.stats.quits += 1
        self.changed.set()
        return "221 Bye"

    def _reply(self, server: SMTPServerProtocol, reply: str) -> str:
        if reply.startswith("421") or self.faults.close_after_reply:
            # aiosmtpd would keep talking after a 421; a real server hangs up.
            loop = asyncio.get_running_loop()
            loop.call_later(0.05, lambda: server.transport and server.transport.close())
        return reply

    async def auth_CRAM__MD5(self, server: SMTPServerProtocol, args: list[str]) -> AuthResult:
        """CRAM-MD5, which aiosmtpd lacks: a challenge, then ``user hex(hmac-md5)``."""
        challenge = f"<{secrets.token_hex(8)}@smtpd.test>".encode()
        answer = await server.challenge_auth(challenge)
        if not isinstance(answer, bytes) or b" " not in answer:
            return AuthResult(success=False, handled=False)
        login, digest = answer.rsplit(b" ", 1)
        expected = hmac.new(PASSWORD.encode(), challenge, hashlib.md5).hexdigest().encode()
        ok = login.decode() == USER and hmac.compare_digest(digest, expected)
        if ok:
            self.stats.auth_logins.append(login.decode())
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(login, b""))

    def authenticate(
        self,
        server: SMTPServerProtocol,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        """PLAIN and LOGIN (aiosmtpd's own) end here."""
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == USER
            and auth_data.password.decode() == PASSWORD
        )
        if ok:
            self.stats.auth_logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def _login(auth_data: object) -> str | None:
    return auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None


class _TrackingSMTP(SMTPServerProtocol):
    """aiosmtpd's protocol, counting connections and able to delay its greeting."""

    def __init__(self, handler: RecordingHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._recorder = handler
        self._counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._counted:  # STARTTLS calls this a second time
            self._counted = True
            stats = self._recorder.stats
            stats.open += 1
            stats.opened += 1
            stats.max_open = max(stats.max_open, stats.open)
            self._recorder.live.add(self)
            self._recorder.changed.set()
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        stats = self._recorder.stats
        stats.open -= 1
        stats.closed += 1
        self._recorder.live.discard(self)
        self._recorder.changed.set()
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        await self._recorder._delay("greeting")
        await super()._handle_client()


class SmtpdServer:
    """One aiosmtpd server on 127.0.0.1, in the running event loop."""

    def __init__(self, mode: Mode, handler: RecordingHandler, server: asyncio.Server) -> None:
        self.mode = mode
        self.handler = handler
        self.faults = handler.faults
        self.stats = handler.stats
        self._server = server
        self.host = "127.0.0.1"
        self.port: int = server.sockets[0].getsockname()[1]

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    async def wait_until(self, predicate: Callable[[], bool], limit: float = 10.0) -> None:
        """Wait (at most ``limit`` seconds) until ``predicate()`` holds."""
        async with asyncio.timeout(limit):
            while not predicate():
                self.handler.changed.clear()
                await self.handler.changed.wait()

    async def stop(self) -> None:
        self._server.close()
        for protocol in list(self.handler.live):
            if protocol.transport is not None:
                protocol.transport.abort()
        await self._server.wait_closed()
        # abort() closes the socket in a callback; on 3.11 wait_closed() returns at once once
        # the server is closed, so let those callbacks run before the test's loop ends.
        for _ in range(2):
            await asyncio.sleep(0)


def cert_sha256(cert: trustme.LeafCert) -> str:
    """The certificate's SHA-256 as ``tls_pin_sha256`` stores it (lower-case hex)."""
    der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())
    return hashlib.sha256(der).hexdigest()


def server_tls_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


async def start_smtpd(
    mode: Mode = "plain",
    *,
    cert: trustme.LeafCert | None = None,
    auth: tuple[str, ...] = (),
    auth_require_tls: bool | None = None,
    require_starttls: bool = False,
    faults: Faults | None = None,
) -> SmtpdServer:
    """Start a server; ``auth`` names the mechanisms offered (empty: no AUTH at all)."""
    loop = asyncio.get_running_loop()
    handler = RecordingHandler(faults or Faults(), auth)
    context = server_tls_context(cert) if cert is not None and mode != "plain" else None
    if mode != "plain" and context is None:
        raise ValueError(f"mode {mode!r} needs a certificate")
    excluded = [m for m in ALL_MECHANISMS if m not in auth] if auth else list(ALL_MECHANISMS)
    options: dict[str, Any] = {
        "hostname": "smtpd.test",
        "authenticator": handler.authenticate,
        "auth_exclude_mechanism": excluded,
        "auth_require_tls": (mode == "starttls") if auth_require_tls is None else auth_require_tls,
        "timeout": 60,
    }
    if mode == "starttls":
        options.update(tls_context=context, require_starttls=require_starttls)
    server = await loop.create_server(
        lambda: _TrackingSMTP(handler, **options),
        host="127.0.0.1",
        port=0,
        ssl=context if mode == "tls" else None,
    )
    return SmtpdServer(mode, handler, server)


class ThreadedSmtpd:
    """A server in its own thread and event loop, for code that runs ``asyncio.run`` itself."""

    def __init__(self, mode: Mode = "plain", **options: Any) -> None:
        self._mode = mode
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: SmtpdServer | None = None

    def _call(self, factory: Callable[[], Awaitable[Any]]) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(_await(factory), self._loop)
        return future.result(timeout=30)

    def __enter__(self) -> SmtpdServer:
        self._thread.start()
        self.server = self._call(lambda: start_smtpd(self._mode, **self._options))
        return self.server

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self._call(self.server.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


async def _await(factory: Callable[[], Awaitable[Any]]) -> Any:
    return await factory()


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    """A certificate for 127.0.0.1 and localhost, signed by ``tls_ca``."""
    return tls_ca.issue_cert("127.0.0.1", "localhost")


@pytest.fixture
def trust_test_ca(tls_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``ssl.create_default_context()`` trust the test CA (and only it)."""
    path = tmp_path / "test-ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    return path


SmtpdFactory = Callable[..., Awaitable[SmtpdServer]]


@pytest.fixture
async def smtpd_factory(server_cert: trustme.LeafCert) -> AsyncIterator[SmtpdFactory]:
    """``await smtpd_factory(mode, auth=..., faults=..., cert=...)``: servers stopped at the end."""
    started: list[SmtpdServer] = []

    async def factory(mode: Mode = "plain", **options: Any) -> SmtpdServer:
        options.setdefault("cert", server_cert)
        server = await start_smtpd(mode, **options)
        started.append(server)
        return server

    yield factory
    for server in started:
        await server.stop()


@pytest.fixture
async def smtpd(smtpd_factory: SmtpdFactory) -> SmtpdServer:
    """A plaintext server without AUTH."""
    return await smtpd_factory("plain")


@pytest.fixture
def threaded_smtpd(server_cert: trustme.LeafCert) -> Iterator[Callable[..., SmtpdServer]]:
    """``threaded_smtpd(mode, **options)`` for synchronous tests such as the CLI's."""
    running: list[ThreadedSmtpd] = []

    def start(mode: Mode = "plain", **options: Any) -> SmtpdServer:
        options.setdefault("cert", server_cert)
        runner = ThreadedSmtpd(mode, **options)
        running.append(runner)
        return runner.__enter__()

    yield start
    for runner in running:
        runner.__exit__(None, None, None)


def settings_for(server: SmtpdServer, **overrides: Any) -> ServerSettings:
    """ServerSettings pointing at ``server``: TLS type from its mode, AUTH when it has any."""
    tls = {"plain": TlsType.NONE, "starttls": TlsType.STARTTLS, "tls": TlsType.TLS}[server.mode]
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "tls_type": tls,
        "auth_protocol": AuthProtocol.PLAIN if server.handler.mechanisms else AuthProtocol.NONE,
        "username": USER if server.handler.mechanisms else "",
        "hello_hostname": "client.example.test",
    }
    values.update(overrides)
    return ServerSettings(**values)


def plain_settings(port: int, **overrides: Any) -> ServerSettings:
    """ServerSettings for plain SMTP (no TLS, no AUTH) on 127.0.0.1:``port``."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "tls_type": TlsType.NONE,
        "auth_protocol": AuthProtocol.NONE,
        "hello_hostname": "client.example.test",
    }
    values.update(overrides)
    return ServerSettings(**values)


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    return free_port()


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose accept queue is full: new connections never complete."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for sock in [*fillers, listener]:
        sock.close()
