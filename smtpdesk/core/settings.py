"""The SMTP server settings and app-wide sending defaults: typed, validated in one place.

Every write (CLI, GUI form, config import) goes through :func:`parse_server`,
:func:`parse_app_settings` or :func:`parse_mailbox` (the feedback mailbox), which turn
loosely typed input (strings from a form, numbers from TOML, Go-style durations from
listmonk JSON) into frozen objects and a list of :class:`Problem` naming each field that
is wrong or worth a warning.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import uuid as uuid_mod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from smtpdesk.core.durations import parse_duration

Severity = Literal["error", "warning"]
Headers = tuple[tuple[str, str], ...]


class AuthProtocol(StrEnum):
    PLAIN = "plain"
    LOGIN = "login"
    CRAM = "cram"
    XOAUTH2 = "xoauth2"  # OAuth 2.0 sign-in in the browser: see core/oauth
    NONE = "none"


class OAuthProvider(StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    CUSTOM = "custom"


class TlsType(StrEnum):
    STARTTLS = "STARTTLS"
    TLS = "TLS"
    NONE = "none"


class DkimAlgorithm(StrEnum):
    """The DKIM key(s) a server signs with: RSA-2048, Ed25519 (RFC 8463), or both."""

    RSA = "rsa"
    ED25519 = "ed25519"
    BOTH = "both"


POOL_NAME = "email"
# Headers the campaign itself writes; a server-level copy would corrupt the message.
RESERVED_HEADERS = frozenset(
    {"from", "to", "subject", "date", "content-type", "mime-version", "content-transfer-encoding"}
)
_NAME_RE = re.compile(r"^[a-z0-9-]+$")
_FIELD_NAME_RE = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")  # RFC 5322: printable ASCII but ':'
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_DOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Upper bounds: beyond these a value is a typo, and a huge one overflows the event loop's timers.
MAX_TIMEOUT = 86400.0  # idle and wait time-outs: 1 day
MAX_RETRY_DELAY = 3600.0  # 1 hour
MAX_WINDOW = 30 * 86400.0  # a sliding window of 30 days
MAX_RATE = 100000.0  # messages a second


@dataclass(frozen=True)
class Problem:
    """One reason a value is refused (``error``) or saved but worth a look (``warning``)."""

    field: str
    severity: Severity
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


@dataclass(frozen=True)
class ServerSettings:
    """One SMTP server, with listmonk's field names and defaults. No password: see secrets."""

    uuid: str = field(default_factory=lambda: str(uuid_mod.uuid4()))
    enabled: bool = True
    name: str = ""
    host: str = ""
    port: int = 587
    auth_protocol: AuthProtocol = AuthProtocol.PLAIN
    username: str = ""
    tls_type: TlsType = TlsType.STARTTLS
    tls_skip_verify: bool = False
    # The SHA-256 of the one certificate trusted for this server ("Trust this certificate"):
    # lower-case hex, no colons; empty trusts the system's authorities as usual.
    tls_pin_sha256: str = ""
    hello_hostname: str = ""
    max_conns: int = 10
    idle_timeout: float = 15.0
    wait_timeout: float = 5.0
    max_msg_retries: int = 2
    msg_retry_delay: float = 0.01
    email_headers: Headers = ()
    max_per_second: float | None = None
    max_per_hour: int | None = None
    max_per_day: int | None = None
    # auth_protocol xoauth2 only. Tokens live in the keyring (core/secrets), never here.
    oauth_provider: OAuthProvider = OAuthProvider.GOOGLE
    oauth_tenant: str = "common"  # microsoft: "common", "organizations" or the tenant
    oauth_client_id: str = ""
    oauth_authorize_url: str = ""  # custom only
    oauth_token_url: str = ""  # custom only
    oauth_scopes: tuple[str, ...] = ()  # empty: the provider's own
    # DKIM signing by the app (issue 14). The private key is in the keyring, never here.
    dkim_enabled: bool = False
    dkim_domain: str = ""
    dkim_selector: str = ""
    dkim_algorithm: DkimAlgorithm = DkimAlgorithm.RSA

    @property
    def messenger(self) -> str:
        """The messenger this server serves: its own name, or the pool ``email``."""
        return self.name or POOL_NAME

    @property
    def label(self) -> str:
        return self.name or f"{self.host or '(no host)'}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["auth_protocol"] = str(self.auth_protocol)
        data["tls_type"] = str(self.tls_type)
        data["oauth_provider"] = str(self.oauth_provider)
        data["dkim_algorithm"] = str(self.dkim_algorithm)
        data["oauth_scopes"] = list(self.oauth_scopes)
        data["email_headers"] = [list(pair) for pair in self.email_headers]
        return data


SERVER_FIELDS = tuple(f.name for f in fields(ServerSettings))


@dataclass(frozen=True)
class AppSettings:
    """App-wide sending defaults (listmonk's ``app.*``), the starting point of new campaigns."""

    concurrency: int = 10
    message_rate: float = 10.0
    max_send_errors: int = 1000
    sliding_window: bool = False
    sliding_window_rate: int = 10000
    sliding_window_duration: float = 3600.0
    # Every domain check asks this DNS server ("HOST" or "HOST:PORT"); empty: the system's.
    # SMTPDESK_DNS_SERVER wins over it (core/domain/resolver.py).
    dns_server: str = ""
    # Worker processes for campaigns at an unlimited rate (core/campaign/workers.py):
    # None ("auto") one per core if there are several, 0 never, N at most N.
    worker_processes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What a campaign copies from the app settings as its own (not the DNS server, say).
CAMPAIGN_FIELDS = tuple(
    f.name for f in fields(AppSettings) if f.name not in ("dns_server", "worker_processes")
)
MAX_WORKER_PROCESSES = 64


@dataclass
class Report:
    """The outcome of parsing: the object when there is no error, and every problem."""

    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def error(self, name: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(name, "error", message, hint))

    def warn(self, name: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(name, "warning", message, hint))

    def for_field(self, name: str) -> list[Problem]:
        return [p for p in self.problems if p.field == name]


@dataclass
class ServerReport(Report):
    settings: ServerSettings | None = None


@dataclass
class AppReport(Report):
    settings: AppSettings | None = None


# --- coercion of loosely typed input -------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected true or false")


def _to_int(value: object) -> int:
    number = _whole(value)
    if not -(2**63) <= number < 2**63:  # what SQLite stores; beyond, the save would crash
        raise ValueError(f"{number} is too large")
    return number


def _whole(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,30}\s*", value):
        return int(value)
    raise ValueError("expected a whole number")


def _to_float(value: object) -> float:
    """A finite number: ``nan`` and ``inf`` (any spelling) are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError("expected a number") from None
    except OverflowError:  # an int beyond a float's range
        number = math.inf
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


def _optional(convert: Callable[[object], Any]) -> Callable[[object], Any]:
    def parse(value: object) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return convert(value)

    return parse


def _to_str(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value.strip()


def _enum(kind: type[StrEnum]) -> Callable[[object], Any]:
    def parse(value: object) -> Any:
        text = _to_str(value)
        for member in kind:
            if member.value.lower() == text.lower():
                return member
        choices = ", ".join(m.value for m in kind)
        raise ValueError(f"{text!r} is not one of {choices}")

    return parse


def parse_headers(value: object) -> Headers:
    """Accept ``[["X-A", "1"]]``, listmonk's ``[{"X-A": "1"}]``, a mapping, or their JSON text."""
    if isinstance(value, str):
        if not value.strip():
            return ()
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
            ) from exc
    if value is None:
        return ()
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError('expected a list such as [["X-Custom-Header", "value"]]')
    pairs: list[tuple[str, str]] = []
    for item in value:
        if isinstance(item, Mapping):
            pairs.extend((str(k), _header_value(v)) for k, v in item.items())
        elif isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str):
            pairs.append((item[0], _header_value(item[1])))
        else:
            raise ValueError(f"{item!r} is not a [name, value] pair")
    return tuple(pairs)


def _header_value(value: object) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"header value {value!r} is not text")


def _to_fingerprint(value: object) -> str:
    """A SHA-256 fingerprint, as 64 hex digits in any case, with or without colons."""
    text = re.sub(r"[\s:]", "", _to_str(value)).lower()
    if text and not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError("expected a SHA-256 fingerprint: 64 hexadecimal digits")
    return text


def _to_scopes(value: object) -> tuple[str, ...]:
    """Scopes as a list, or one text separated by spaces or commas."""
    if isinstance(value, list | tuple):
        return tuple(s for item in value for s in _to_scopes(_to_str(item)))
    return tuple(s for s in re.split(r"[\s,]+", _to_str(value)) if s)


def normalise_name(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().lower())


_SERVER_COERCE: dict[str, Callable[[object], Any]] = {
    "uuid": _to_str,
    "enabled": _to_bool,
    "name": lambda v: normalise_name(_to_str(v)),
    "host": lambda v: _to_str(v),
    "port": _to_int,
    "auth_protocol": _enum(AuthProtocol),
    "username": _to_str,
    "tls_type": _enum(TlsType),
    "tls_skip_verify": _to_bool,
    "tls_pin_sha256": _to_fingerprint,
    "hello_hostname": _to_str,
    "max_conns": _to_int,
    "idle_timeout": parse_duration,
    "wait_timeout": parse_duration,
    "max_msg_retries": _to_int,
    "msg_retry_delay": parse_duration,
    "email_headers": parse_headers,
    "max_per_second": _optional(_to_float),
    "max_per_hour": _optional(_to_int),
    "max_per_day": _optional(_to_int),
    "oauth_provider": _enum(OAuthProvider),
    "oauth_tenant": lambda v: _to_str(v) or "common",
    "oauth_client_id": _to_str,
    "oauth_authorize_url": _to_str,
    "oauth_token_url": _to_str,
    "oauth_scopes": _to_scopes,
    "dkim_enabled": _to_bool,
    "dkim_domain": lambda v: _to_str(v).lower().rstrip("."),
    "dkim_selector": lambda v: _to_str(v).lower(),
    "dkim_algorithm": _enum(DkimAlgorithm),
}


def _coerce(
    data: Mapping[str, object],
    converters: Mapping[str, Callable[[object], Any]],
    report: Report,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in data.items():
        convert = converters.get(key)
        if convert is None:
            continue  # unknown keys (listmonk's "password", comments) are not settings
        try:
            values[key] = convert(raw)
        except ValueError as exc:
            report.error(key, str(exc))
    return values


# --- the one validation -----------------------------------------------------------------


def parse_server(
    data: Mapping[str, object],
    *,
    others: Iterable[ServerSettings] = (),
    base: ServerSettings | None = None,
) -> ServerReport:
    """Build a :class:`ServerSettings` from ``data`` over ``base`` (or the defaults).

    ``others`` are the other saved servers, for the unique-name rule.
    """
    report = ServerReport()
    values = _coerce(data, _SERVER_COERCE, report)
    start = base or ServerSettings()
    if not values.get("uuid"):
        values.pop("uuid", None)
    bad = {p.field for p in report.errors}
    candidate = replace(start, **{k: v for k, v in values.items() if k not in bad})
    _check_server(candidate, [o for o in others if o.uuid != candidate.uuid], report)
    if not report.errors:
        report.settings = candidate
    return report


def _check_server(s: ServerSettings, others: list[ServerSettings], report: Report) -> None:
    if s.enabled and not s.host:
        report.error("host", "the host is required", "for example smtp.gmail.com or localhost")
    if any(ch.isspace() for ch in s.host):
        report.error("host", "the host must not contain spaces")
    elif s.host and not _is_host(s.host):
        report.error(
            "host",
            f"{s.host!r} is not a host name or IP address",
            "for example smtp.gmail.com, localhost or 192.0.2.1",
        )
    if s.hello_hostname and not _is_hello_name(s.hello_hostname):
        report.error(
            "hello_hostname",
            f"{s.hello_hostname!r} is not a domain name or an address literal",
            "for example mail.example.com, [192.0.2.1] or [IPv6:2001:db8::1]",
        )
    if not 1 <= s.port <= 65535:
        report.error("port", f"port {s.port} is outside 1-65535", "587 for STARTTLS, 465 for TLS")
    if not 1 <= s.max_conns <= 1000:
        report.error("max_conns", "max_conns must be between 1 and 1000")
    for name in ("idle_timeout", "wait_timeout"):
        if getattr(s, name) <= 0:
            report.error(name, "the time-out must be more than zero")
        elif not getattr(s, name) <= MAX_TIMEOUT:
            report.error(name, "the time-out must be at most 1 day (24h)")
    if s.msg_retry_delay < 0:
        report.error("msg_retry_delay", "the retry delay cannot be negative")
    elif not s.msg_retry_delay <= MAX_RETRY_DELAY:
        report.error("msg_retry_delay", "the retry delay must be at most 1 hour (1h)")
    if not 0 <= s.max_msg_retries <= 100:
        report.error("max_msg_retries", "max_msg_retries must be between 0 and 100")
    _check_limits(s, report)
    _check_headers(s.email_headers, report)
    _check_name(s.name, others, report)
    _check_oauth(s, report)
    _check_dkim(s, report)
    _warn_server(s, report)


def _check_limits(s: ServerSettings, report: Report) -> None:
    if s.max_per_second is not None and not 0 < s.max_per_second <= MAX_RATE:
        report.error(
            "max_per_second",
            f"the limit must be more than zero and at most {MAX_RATE:.0f}, or empty for none",
        )
    for name in ("max_per_hour", "max_per_day"):
        limit = getattr(s, name)
        if limit is not None and limit < 1:
            report.error(name, "the limit must be at least 1, or empty for none")


def _check_headers(headers: Headers, report: Report) -> None:
    for name, value in headers:
        if not _FIELD_NAME_RE.match(name):
            report.error(
                "email_headers",
                f"{name!r} is not a valid header name",
                "printable ASCII without spaces or colons, such as X-Campaign",
            )
        elif name.lower() in RESERVED_HEADERS:
            report.error(
                "email_headers", f"{name} is set by each campaign and cannot be a server header"
            )
        if "\r" in value or "\n" in value or "\x00" in value:
            report.error(
                "email_headers",
                f"the value of {name} contains a line break",
                "line breaks would let a value inject headers",
            )


def _is_host(host: str) -> bool:
    """A domain name (IDN allowed) or an IP address, with nothing a line could hide in."""
    if _CONTROL_RE.search(host):
        return False
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return len(ascii_host) <= 253 and bool(_DOMAIN_RE.match(ascii_host))


def _is_hello_name(name: str) -> bool:
    """RFC 5321 EHLO argument: a domain, ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``."""
    if name.startswith("[") and name.endswith("]"):
        literal = name[1:-1]
        try:
            if literal[:5].lower() == "ipv6:":
                ipaddress.IPv6Address(literal[5:])
            else:
                ipaddress.IPv4Address(literal)
        except ValueError:
            return False
        return True
    return name.isascii() and len(name) <= 253 and bool(_DOMAIN_RE.match(name))


def _check_name(name: str, others: list[ServerSettings], report: Report) -> None:
    if not name:
        return
    if not _NAME_RE.match(name):
        report.error("name", f"{name!r} may use only a-z, 0-9 and '-'")
    elif name == POOL_NAME:
        report.error("name", "'email' is the pool of unnamed servers", "choose another name")
    elif any(o.name == name for o in others):
        report.error("name", f"another server is already named {name!r}")


def _check_oauth(s: ServerSettings, report: Report) -> None:
    if s.auth_protocol != AuthProtocol.XOAUTH2:
        return
    if not s.username:
        report.error(
            "username", "OAuth sign-in needs the mailbox as username", "e.g. you@gmail.com"
        )
    if not s.oauth_client_id:
        report.error(
            "oauth_client_id",
            "OAuth sign-in needs your own client ID",
            "register a desktop client with Google Cloud or Microsoft Entra: see the README",
        )
    if s.oauth_provider == OAuthProvider.MICROSOFT and not re.fullmatch(
        r"[A-Za-z0-9][A-Za-z0-9.-]*", s.oauth_tenant
    ):
        report.error("oauth_tenant", f"{s.oauth_tenant!r} is not a tenant name or ID")
    custom = s.oauth_provider == OAuthProvider.CUSTOM
    for name in ("oauth_authorize_url", "oauth_token_url"):
        url = getattr(s, name)
        if custom and not url:
            report.error(name, "a custom OAuth provider needs this address")
        elif url and not _secure_endpoint(url):
            report.error(
                name,
                f"{url!r} is not an https:// address",
                "plain http is accepted only for this computer: 127.0.0.1 or localhost",
            )
    if custom and not s.oauth_scopes:
        report.error("oauth_scopes", "a custom OAuth provider needs at least one scope")


def _check_dkim(s: ServerSettings, report: Report) -> None:
    """The signing domain and selector: required once signing is on, DNS names always."""
    for name, example in (("dkim_domain", "example.com"), ("dkim_selector", "smtpdesk")):
        value = getattr(s, name)
        if s.dkim_enabled and not value:
            report.error(name, "DKIM signing needs this", f"for example {example}")
        elif value and not (value.isascii() and len(value) <= 253 and _DOMAIN_RE.match(value)):
            report.error(name, f"{value!r} is not a DNS name", f"for example {example}")


def parse_dns_server(value: object) -> str:
    """``HOST``, ``HOST:PORT`` or ``[IPv6]:PORT``, checked; empty for the system's resolver."""
    text = _to_str(value)
    if text:
        dns_server_address(text)
    return text


def dns_server_address(text: str) -> tuple[str, int]:
    """The IP address and port of a DNS server setting; ValueError names what is wrong."""
    host, port = text.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif host.count(":") == 1:
        host, _, port = host.partition(":")
    if not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"{text!r}: the port must be a number from 1 to 65535")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an IP address with an optional port, such as 127.0.0.1:5353"
        ) from None
    return host, int(port)


def _secure_endpoint(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _warn_server(s: ServerSettings, report: Report) -> None:
    if s.auth_protocol != AuthProtocol.NONE and s.tls_type == TlsType.NONE:
        report.warn(
            "tls_type",
            "the password would cross the network unencrypted",
            "use STARTTLS (port 587) or TLS (port 465)",
        )
    if s.tls_skip_verify:
        report.warn(
            "tls_skip_verify",
            "certificates are not checked",
            "only for testing, never in production",
        )
    if s.tls_type == TlsType.TLS and s.port == 587:
        report.warn(
            "tls_type",
            "port 587 usually expects STARTTLS, not TLS",
            "use STARTTLS on 587 or TLS on 465",
        )
    if s.tls_type == TlsType.STARTTLS and s.port == 465:
        report.warn(
            "tls_type",
            "port 465 usually expects TLS, not STARTTLS",
            "use TLS on 465 or STARTTLS on 587",
        )
    if s.port == 25:
        report.warn(
            "port",
            "port 25 is often blocked by hosting and cloud providers",
            "use 587 or 2525 if the connection times out",
        )


_APP_COERCE: dict[str, Callable[[object], Any]] = {
    "concurrency": _to_int,
    "message_rate": _to_float,
    "max_send_errors": _to_int,
    "sliding_window": _to_bool,
    "sliding_window_rate": _to_int,
    "sliding_window_duration": parse_duration,
    "dns_server": parse_dns_server,
    "worker_processes": lambda v: None if str(v).strip() in ("None", "", "auto") else _to_int(v),
}


def parse_app_settings(data: Mapping[str, object], base: AppSettings | None = None) -> AppReport:
    report = AppReport()
    values = _coerce(data, _APP_COERCE, report)
    bad = {p.field for p in report.errors}
    s = replace(base or AppSettings(), **{k: v for k, v in values.items() if k not in bad})
    if not 1 <= s.concurrency <= 1000:
        report.error("concurrency", "concurrency must be between 1 and 1000")
    if not 0 < s.message_rate <= MAX_RATE:
        report.error(
            "message_rate", f"the message rate must be more than zero and at most {MAX_RATE:.0f}"
        )
    if s.max_send_errors < 0:
        report.error("max_send_errors", "max_send_errors cannot be negative", "0 means never pause")
    if s.sliding_window_rate < 1:
        report.error("sliding_window_rate", "the window must allow at least 1 message")
    if not 0 < s.sliding_window_duration <= MAX_WINDOW:
        report.error(
            "sliding_window_duration",
            "the window duration must be more than zero and at most 30 days (720h)",
        )
    if s.worker_processes is not None and not 0 <= s.worker_processes <= MAX_WORKER_PROCESSES:
        report.error(
            "worker_processes",
            f"worker_processes must be auto or between 0 and {MAX_WORKER_PROCESSES}",
            "0 sends from one process only",
        )
    if not report.errors:
        report.settings = s
    return report


# --- the feedback mailbox (issue 12): bounces, complaints and unsubscribe requests -------


class MailProtocol(StrEnum):
    IMAP = "imap"
    POP3 = "pop3"


class ProcessedAction(StrEnum):
    MOVE = "move"  # IMAP: into ``processed_folder``, created if missing
    READ = "read"  # IMAP: marked \Seen and left where it is
    DELETE = "delete"  # deleted (POP3's only choice besides leaving it)


MIN_SCAN_INTERVAL = 60.0  # a minute: more often only loads the provider
MAX_SCAN_BATCH = 100000


@dataclass(frozen=True)
class MailboxSettings:
    """Where bounces, complaints and unsubscribe requests arrive (listmonk's bounce box).

    No password: the keyring holds it, or ``oauth_server`` names the server whose OAuth
    sign-in logs in to the mailbox too.
    """

    enabled: bool = False
    protocol: MailProtocol = MailProtocol.IMAP
    host: str = ""
    port: int = 993
    tls_type: TlsType = TlsType.TLS
    tls_skip_verify: bool = False
    tls_pin_sha256: str = ""
    username: str = ""
    oauth_server: str = ""  # the name of a server with auth_protocol xoauth2, or empty
    folder: str = "INBOX"
    processed: ProcessedAction = ProcessedAction.MOVE
    processed_folder: str = "smtpdesk-processed"
    # List-Unsubscribe mailto target, usually this mailbox; the campaign's own https URL
    # (its content's unsubscribe_url) goes beside it
    unsubscribe_address: str = ""
    # VERP: each message's return path is local+TOKEN@domain of the unsubscribe address,
    # so a bounce names its recipient even when it quotes nothing of the message
    verp: bool = False
    scan_interval: float = 900.0  # seconds between scans while the app runs
    scan_batch: int = 5000  # messages read in one scan at the most
    soft_bounce_limit: int = 3  # soft bounces across campaigns before suppression
    hard_bounce_limit: int = 1
    complaint_limit: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("protocol", "tls_type", "processed"):
            data[name] = str(data[name])
        return data


MAILBOX_FIELDS = tuple(f.name for f in fields(MailboxSettings))


@dataclass
class MailboxReport(Report):
    settings: MailboxSettings | None = None


_MAILBOX_COERCE: dict[str, Callable[[object], Any]] = {
    "enabled": _to_bool,
    "protocol": _enum(MailProtocol),
    "host": _to_str,
    "port": _to_int,
    "tls_type": _enum(TlsType),
    "tls_skip_verify": _to_bool,
    "tls_pin_sha256": _to_fingerprint,
    "username": _to_str,
    "oauth_server": lambda v: normalise_name(_to_str(v)),
    "folder": _to_str,
    "processed": _enum(ProcessedAction),
    "processed_folder": _to_str,
    "unsubscribe_address": _to_str,
    "verp": _to_bool,
    "scan_interval": parse_duration,
    "scan_batch": _to_int,
    "soft_bounce_limit": _to_int,
    "hard_bounce_limit": _to_int,
    "complaint_limit": _to_int,
}


def parse_mailbox(
    data: Mapping[str, object],
    *,
    base: MailboxSettings | None = None,
    servers: Iterable[ServerSettings] = (),
) -> MailboxReport:
    """Build a :class:`MailboxSettings` from ``data`` over ``base``; ``servers`` are the
    saved ones, for ``oauth_server``. A new protocol or TLS type without a port takes
    its usual port."""
    report = MailboxReport()
    values = _coerce(data, _MAILBOX_COERCE, report)
    bad = {p.field for p in report.errors}
    start = base or MailboxSettings()
    candidate = replace(start, **{k: v for k, v in values.items() if k not in bad})
    changed = {"protocol", "tls_type"} & set(data)
    if changed and "port" not in data and not bad & changed:
        candidate = replace(candidate, port=default_mailbox_port(candidate))
    _check_mailbox(candidate, list(servers), report)
    if not report.errors:
        report.settings = candidate
    return report


def default_mailbox_port(s: MailboxSettings) -> int:
    implicit = s.tls_type == TlsType.TLS
    if s.protocol == MailProtocol.POP3:
        return 995 if implicit else 110
    return 993 if implicit else 143


def _check_mailbox(s: MailboxSettings, servers: list[ServerSettings], report: Report) -> None:
    if s.enabled and not s.host:
        report.error("host", "the host is required", "for example imap.gmail.com")
    if s.host and (any(ch.isspace() for ch in s.host) or not _is_host(s.host)):
        report.error("host", f"{s.host!r} is not a host name or IP address")
    if not 1 <= s.port <= 65535:
        report.error("port", f"port {s.port} is outside 1-65535", "993 for IMAP, 995 for POP3")
    if s.enabled and not s.username:
        report.error("username", "the username is required", "usually the mailbox's address")
    if _CONTROL_RE.search(s.username):
        report.error("username", "the username must not contain control characters")
    _check_folders(s, report)
    _check_mailbox_oauth(s, servers, report)
    _check_unsubscribe(s, report)
    if not MIN_SCAN_INTERVAL <= s.scan_interval <= MAX_WINDOW:
        report.error("scan_interval", "the interval must be between 1 minute and 30 days")
    if not 1 <= s.scan_batch <= MAX_SCAN_BATCH:
        report.error("scan_batch", f"a scan reads between 1 and {MAX_SCAN_BATCH} messages")
    for name in ("soft_bounce_limit", "hard_bounce_limit", "complaint_limit"):
        if not 0 <= getattr(s, name) <= 1000:
            report.error(name, "the limit must be between 0 (never suppress) and 1000")
    if s.tls_type == TlsType.NONE:
        report.warn("tls_type", "the password would cross the network unencrypted")
    if s.tls_skip_verify:
        report.warn("tls_skip_verify", "certificates are not checked", "only for testing")


def _check_folders(s: MailboxSettings, report: Report) -> None:
    for name in ("folder", "processed_folder"):
        value = getattr(s, name)
        if not value:
            report.error(name, "the folder name is required", "INBOX, for example")
        elif _CONTROL_RE.search(value) or '"' in value or "\\" in value:
            report.error(name, f"{value!r} may not contain quotes, backslashes or line breaks")
    if s.protocol == MailProtocol.POP3:
        if s.processed != ProcessedAction.DELETE:
            report.error(
                "processed",
                "POP3 can only delete a processed message",
                "choose delete, or use IMAP to move or mark them",
            )
        if s.folder.upper() != "INBOX":
            report.error("folder", "POP3 reads only the inbox", "leave the folder as INBOX")
    elif s.processed == ProcessedAction.MOVE and s.processed_folder == s.folder:
        report.error("processed_folder", "processed messages must go to another folder")


def _check_mailbox_oauth(s: MailboxSettings, servers: list[ServerSettings], report: Report) -> None:
    if not s.oauth_server:
        return
    server = next((o for o in servers if o.name == s.oauth_server), None)
    if server is None:
        report.error("oauth_server", f"no server is called {s.oauth_server!r}")
    elif server.auth_protocol != AuthProtocol.XOAUTH2:
        report.error(
            "oauth_server",
            f"the server {s.oauth_server!r} does not sign in with OAuth",
            "name a server whose login is xoauth2, or give a password",
        )


def _check_unsubscribe(s: MailboxSettings, report: Report) -> None:
    address = s.unsubscribe_address
    if s.verp and not address:
        report.error(
            "verp",
            "VERP needs the unsubscribe address: bounces go to its local+TOKEN@domain",
            "set the unsubscribe address, usually this mailbox's",
        )
    if address and (
        _CONTROL_RE.search(address)
        or not re.fullmatch(r"[^@\s<>?&\"]+@[^@\s<>?&\"]+", address)
        or not _is_host(address.rpartition("@")[2])
    ):
        report.error(
            "unsubscribe_address",
            f"{address!r} is not an email address",
            "e.g. bounces@example.com",
        )
