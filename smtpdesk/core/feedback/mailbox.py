"""IMAP and POP3 sessions on the feedback mailbox: the stdlib's blocking clients.

Every call here blocks; :mod:`scan` runs them in a worker thread, off the event loop.
A session yields the messages one at a time (never the whole mailbox in memory) and
then does what the settings say with each processed one: move it to a folder (created
if missing), mark it read, or delete it. TLS checks the system's authorities, or only
the pinned certificate, or nothing with skip-verify: as the SMTP servers do.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import poplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from smtpdesk.core.errors import KnownError
from smtpdesk.core.settings import MailboxSettings, MailProtocol, ProcessedAction, TlsType
from smtpdesk.core.smtp.certificate import CertificateInfo, format_fingerprint, from_ssl_object
from smtpdesk.core.smtp.types import Diagnosis
from smtpdesk.core.wording import counted

TIMEOUT = 30.0


class MailboxError(KnownError):
    """A step with the mailbox failed; ``diagnosis`` says why in the user's words."""

    def __init__(self, diagnosis: Diagnosis, stage: str) -> None:
        super().__init__(diagnosis.message, " ".join(diagnosis.hints))
        self.diagnosis = diagnosis
        self.stage = stage


TRUSTABLE_CAUSES = ("certificate_invalid", "certificate_changed")


@dataclass(frozen=True)
class Credentials:
    secret: str  # the password, or an OAuth access token
    oauth: bool = False


@dataclass(frozen=True)
class Fetched:
    ref: bytes  # the IMAP UID or the POP3 message number
    raw: bytes
    uid: int = 0  # IMAP
    uidl: str = ""  # POP3: the unique id the server keeps for it


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class MailboxCheck:
    """The outcome of Test: each step with its time, the first failure's diagnosis."""

    steps: list[Step] = field(default_factory=list)
    diagnosis: Diagnosis | None = None
    count: int | None = None  # messages in the folder
    certificate: CertificateInfo | None = None

    @property
    def ok(self) -> bool:
        return self.diagnosis is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "steps": [vars(s) for s in self.steps],
            "count": self.count,
            "diagnosis": None
            if self.diagnosis is None
            else {
                "cause": self.diagnosis.cause,
                "message": self.diagnosis.message,
                "hints": list(self.diagnosis.hints),
                "raw": self.diagnosis.raw,
            },
            "certificate_sha256": self.certificate.sha256 if self.certificate else None,
        }

    def trustable(self) -> CertificateInfo | None:
        """The certificate the user may pin: the server's, refused or changed since trusted."""
        cause = self.diagnosis.cause if self.diagnosis else ""
        return self.certificate if cause in TRUSTABLE_CAUSES else None


StepHook = Callable[[Step], None]


def _where(s: MailboxSettings) -> str:
    return f"{s.host}:{s.port}"


def diagnose(exc: BaseException, s: MailboxSettings, stage: str) -> Diagnosis:
    """Why a step failed, as the server test says it for SMTP."""
    raw = str(exc) or type(exc).__name__
    if isinstance(exc, MailboxError):
        return exc.diagnosis
    if isinstance(exc, socket.gaierror):
        return Diagnosis(
            "dns_not_found",
            f"The host name {s.host!r} was not found.",
            ("Check the spelling of the host, e.g. imap.gmail.com.",),
            raw,
            True,
        )
    if isinstance(exc, ConnectionRefusedError):
        port_hint = "993 for IMAP over TLS, 143 for STARTTLS; 995 and 110 for POP3"
        return Diagnosis(
            "connection_refused",
            f"{_where(s)} refused the connection.",
            (f"Check the port: {port_hint}.", "Check that the server is running."),
            raw,
            True,
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return Diagnosis(
            "timeout",
            f"{_where(s)} did not answer {stage} in time.",
            ("Check the host and port, and that a firewall lets the connection through.",),
            raw,
            True,
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Diagnosis(
            "certificate_invalid",
            f"The server's TLS certificate is not valid ({exc.verify_message}).",
            (
                "Check the host name: it must match the certificate.",
                "For a server you know, trust its certificate (the pin) or skip verification.",
            ),
            raw,
            False,
        )
    if isinstance(exc, ssl.SSLError):
        return Diagnosis(
            "tls_mismatch",
            f"The TLS handshake with {_where(s)} failed: {raw}",
            ("Check the TLS type: TLS on 993/995, STARTTLS on 143/110.",),
            raw,
            False,
        )
    if isinstance(exc, ConnectionError | EOFError | imaplib.IMAP4.abort):
        return Diagnosis(
            "connection_dropped",
            f"{_where(s)} closed the connection during {stage}.",
            (),
            raw,
            True,
        )
    return Diagnosis("unknown", f"{stage} failed: {raw}", (), raw, False)


def _auth_failed(s: MailboxSettings, raw: str) -> MailboxError:
    return MailboxError(
        Diagnosis(
            "auth_failed",
            f"{_where(s)} refused the username or password for {s.username!r}.",
            (
                "Check the username (usually the whole address) and the password.",
                "Gmail, Outlook and Yahoo need an app password, or the OAuth sign-in.",
            ),
            raw,
            False,
        ),
        "login",
    )


def _context(s: MailboxSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if s.tls_skip_verify or s.tls_pin_sha256:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _check_pin(sock: Any, s: MailboxSettings) -> CertificateInfo | None:
    info = from_ssl_object(sock if isinstance(sock, ssl.SSLSocket) else None)
    if s.tls_pin_sha256 and (info is None or info.sha256 != s.tls_pin_sha256):
        presented = format_fingerprint(info.sha256) if info else "no certificate"
        raise MailboxError(
            Diagnosis(
                "certificate_changed",
                f"{_where(s)} presented another certificate than the one you trusted: {presented}.",
                ("Ask the server's owner whether it was renewed; then trust it again.",),
                presented,
                False,
            ),
            "TLS",
        )
    return info


class _Steps:
    """Times each step and turns its failure into a :class:`MailboxError`."""

    def __init__(self, s: MailboxSettings, hook: StepHook | None) -> None:
        self.s = s
        self.hook = hook

    @contextlib.contextmanager
    def step(self, name: str, detail: str = "") -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        except MailboxError as exc:
            self._emit(Step(name, False, time.monotonic() - start, exc.diagnosis.message))
            raise
        except (OSError, EOFError, imaplib.IMAP4.error, poplib.error_proto) as exc:
            diagnosis = diagnose(exc, self.s, name)
            self._emit(Step(name, False, time.monotonic() - start, diagnosis.message))
            raise MailboxError(diagnosis, name) from exc
        self._emit(Step(name, True, time.monotonic() - start, detail))

    def _emit(self, step: Step) -> None:
        if self.hook is not None:
            self.hook(step)


class Session:
    """What :mod:`scan` needs of a logged-in mailbox."""

    count = 0  # messages in the folder
    uidvalidity = 0
    certificate: CertificateInfo | None = None

    def fetch(self, after_uid: int, limit: int, known: Callable[[str], bool]) -> Iterator[Fetched]:
        raise NotImplementedError

    def finish(self, item: Fetched, action: ProcessedAction) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def open_session(
    s: MailboxSettings, credentials: Credentials, hook: StepHook | None = None
) -> Session:
    """Connect, secure, log in and open the folder, each as a step; raise MailboxError."""
    steps = _Steps(s, hook)
    if s.protocol == MailProtocol.POP3:
        return _Pop3(s, credentials, steps)
    return _Imap(s, credentials, steps)


def _bearer(s: MailboxSettings, credentials: Credentials) -> bytes:
    """The XOAUTH2 initial response before base64, the same for IMAP and POP3."""
    return f"user={s.username}\x01auth=Bearer {credentials.secret}\x01\x01".encode()


def _quote(folder: str) -> str:
    return f'"{folder}"'  # settings refuse quotes and backslashes in a folder's name


class _Imap(Session):
    def __init__(self, s: MailboxSettings, credentials: Credentials, steps: _Steps) -> None:
        self.s = s
        self.created = False
        self.expunge = False
        with steps.step("connect", _where(s)):
            if s.tls_type == TlsType.TLS:
                self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    s.host, s.port, ssl_context=_context(s), timeout=TIMEOUT
                )
            else:
                self.imap = imaplib.IMAP4(s.host, s.port, timeout=TIMEOUT)
        try:
            self._login(s, credentials, steps)
            with steps.step("folder", s.folder):
                typ, data = self.imap.select(_quote(s.folder))
                if typ != "OK":
                    raise MailboxError(_no_folder(s, data), "folder")
                self.count = int(data[0] or 0) if data and data[0] else 0
                _, value = self.imap.response("UIDVALIDITY")
                self.uidvalidity = int(value[0]) if value and value[0] else 0
        except BaseException:
            self.close()
            raise

    def _login(self, s: MailboxSettings, credentials: Credentials, steps: _Steps) -> None:
        if s.tls_type != TlsType.NONE:
            with steps.step("TLS"):
                if s.tls_type == TlsType.STARTTLS:
                    self.imap.starttls(_context(s))
                self.certificate = _check_pin(self.imap.sock, s)
        with steps.step("login", s.username):
            try:
                if credentials.oauth:
                    self.imap.authenticate("XOAUTH2", lambda _: _bearer(s, credentials))
                else:
                    self.imap.login(s.username, credentials.secret)
            except imaplib.IMAP4.error as exc:
                raise _auth_failed(s, _text(exc)) from exc

    def fetch(self, after_uid: int, limit: int, known: Callable[[str], bool]) -> Iterator[Fetched]:
        typ, data = self.imap.uid("SEARCH", f"UID {after_uid + 1}:*")
        uids = [int(u) for u in (data[0] or b"").split()] if typ == "OK" and data else []
        for uid in sorted(u for u in uids if u > after_uid)[:limit]:
            typ, parts = self.imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None) if parts else None
            if typ == "OK" and isinstance(raw, bytes):
                yield Fetched(str(uid).encode(), raw, uid=uid)

    def finish(self, item: Fetched, action: ProcessedAction) -> None:
        uid = item.ref.decode()
        if action == ProcessedAction.READ:
            self.imap.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            return
        if action == ProcessedAction.MOVE:
            self._create_folder()
            if b"MOVE" in _capabilities(self.imap):
                typ, data = self.imap.uid("MOVE", uid, _quote(self.s.processed_folder))
                if typ != "OK":
                    raise MailboxError(_no_folder(self.s, data, self.s.processed_folder), "move")
                return
            self.imap.uid("COPY", uid, _quote(self.s.processed_folder))
        self.imap.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
        self.expunge = True

    def _create_folder(self) -> None:
        if self.created:
            return
        typ, _ = self.imap.select(_quote(self.s.processed_folder), readonly=True)
        self.imap.select(_quote(self.s.folder))
        if typ != "OK":
            self.imap.create(_quote(self.s.processed_folder))
        self.created = True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.expunge:
                self.imap.expunge()
        with contextlib.suppress(Exception):
            self.imap.logout()


def _capabilities(imap: imaplib.IMAP4) -> tuple[str, ...] | bytes:
    return b" ".join(c.encode() if isinstance(c, str) else c for c in imap.capabilities)


def _no_folder(s: MailboxSettings, data: Any, folder: str = "") -> Diagnosis:
    name = folder or s.folder
    return Diagnosis(
        "folder_missing",
        f"The folder {name!r} cannot be opened on {_where(s)}.",
        ("Check the folder's name: INBOX is always there.",),
        _text(data),
        False,
    )


def _text(value: Any) -> str:
    if isinstance(value, BaseException):
        value = value.args[0] if value.args else str(value)
    if isinstance(value, list):
        value = b" ".join(v for v in value if isinstance(v, bytes))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


class _Pop3(Session):
    def __init__(self, s: MailboxSettings, credentials: Credentials, steps: _Steps) -> None:
        self.s = s
        with steps.step("connect", _where(s)):
            if s.tls_type == TlsType.TLS:
                self.pop: poplib.POP3 = poplib.POP3_SSL(
                    s.host, s.port, context=_context(s), timeout=TIMEOUT
                )
            else:
                self.pop = poplib.POP3(s.host, s.port, timeout=TIMEOUT)
        try:
            if s.tls_type != TlsType.NONE:
                with steps.step("TLS"):
                    if s.tls_type == TlsType.STARTTLS:
                        self.pop.stls(_context(s))
                    self.certificate = _check_pin(self.pop.sock, s)
            with steps.step("login", s.username):
                self._login(s, credentials)
            with steps.step("folder", "INBOX"):
                self.count = self.pop.stat()[0]
        except BaseException:
            self.close()
            raise

    def _login(self, s: MailboxSettings, credentials: Credentials) -> None:
        try:
            if credentials.oauth:
                self._xoauth2("AUTH XOAUTH2 " + base64.b64encode(_bearer(s, credentials)).decode())
            else:
                self.pop.user(s.username)
                self.pop.pass_(credentials.secret)
        except poplib.error_proto as exc:
            raise _auth_failed(s, _text(exc)) from exc

    def _xoauth2(self, command: str) -> None:
        """poplib takes a ``+`` challenge for ``+OK``: a refused token answers with one (the
        error's details, as Gmail does), which the client acknowledges with an empty line."""
        pop: Any = self.pop  # poplib's line-level calls are not in its typed interface
        pop._putcmd(command)
        line, _ = pop._getline()
        if line == b"+" or line.startswith(b"+ "):
            pop._putcmd("")
            line, _ = pop._getline()
        if not line.startswith(b"+OK"):
            raise poplib.error_proto(line)

    def fetch(self, after_uid: int, limit: int, known: Callable[[str], bool]) -> Iterator[Fetched]:
        """Messages whose UIDL is not ``known`` (already read), oldest first."""
        _, listing, _ = self.pop.uidl()
        taken = 0
        for line in listing:
            number, _, uidl = line.decode("ascii", "replace").partition(" ")
            if known(uidl):
                continue
            if taken >= limit:
                return
            taken += 1
            _, lines, _ = self.pop.retr(int(number))
            yield Fetched(number.encode(), b"\r\n".join(lines) + b"\r\n", uidl=uidl)

    def finish(self, item: Fetched, action: ProcessedAction) -> None:
        if action == ProcessedAction.DELETE:
            self.pop.dele(int(item.ref))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.pop.quit()  # deletions happen here, at the end of the session
        with contextlib.suppress(Exception):
            self.pop.close()


def check(
    s: MailboxSettings, credentials: Credentials, hook: StepHook | None = None
) -> MailboxCheck:
    """Test: connect, TLS, login, folder, count; stop at the first failing step."""
    report = MailboxCheck()

    def record(step: Step) -> None:
        report.steps.append(step)
        if hook is not None:
            hook(step)

    try:
        session = open_session(s, credentials, record)
    except MailboxError as exc:
        report.diagnosis = exc.diagnosis
        if exc.diagnosis.cause in TRUSTABLE_CAUSES:  # shown, so that it can be trusted
            report.certificate = fetch_certificate(s)
        return report
    report.count, report.certificate = session.count, session.certificate
    record(Step("count", True, 0.0, f"{counted(session.count, 'message')} in {s.folder}"))
    session.close()
    return report


def fetch_certificate(s: MailboxSettings) -> CertificateInfo | None:
    """Blocking: the certificate the server presents, accepted without any check, or None.

    Only the connection and the TLS handshake, no login: for showing a refused certificate
    with its fingerprint, which the user may then trust (the pin).
    """
    if s.tls_type == TlsType.NONE:
        return None
    context = _context(replace(s, tls_skip_verify=True, tls_pin_sha256=""))
    client: imaplib.IMAP4 | poplib.POP3 | None = None
    try:
        if s.protocol == MailProtocol.POP3:
            if s.tls_type == TlsType.TLS:
                client = poplib.POP3_SSL(s.host, s.port, context=context, timeout=TIMEOUT)
            else:
                client = poplib.POP3(s.host, s.port, timeout=TIMEOUT)
                client.stls(context)
        elif s.tls_type == TlsType.TLS:
            client = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=context, timeout=TIMEOUT)
        else:
            client = imaplib.IMAP4(s.host, s.port, timeout=TIMEOUT)
            client.starttls(context)
        sock = client.sock
        return from_ssl_object(sock if isinstance(sock, ssl.SSLSocket) else None)
    except (OSError, EOFError, imaplib.IMAP4.error, poplib.error_proto):
        return None
    finally:
        with contextlib.suppress(Exception):
            if isinstance(client, imaplib.IMAP4):
                client.logout()
            elif client is not None:
                client.quit()
