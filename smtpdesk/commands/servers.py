"""smtpdesk servers list|add|edit|remove."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from smtpdesk.cli import EXIT_OK, EXIT_USAGE, print_problems
from smtpdesk.commands import dkim, server_login
from smtpdesk.commands.common import add_password_options, print_warnings, read_password, store_from
from smtpdesk.core import secrets
from smtpdesk.core.config_io import server_to_listmonk
from smtpdesk.core.presets import get_preset
from smtpdesk.core.servers import remove_server, save_server
from smtpdesk.core.settings import AuthProtocol, ServerSettings

_PASSWORD_AUTH = {AuthProtocol.PLAIN.value, AuthProtocol.LOGIN.value, AuthProtocol.CRAM.value}

# (option, settings field, help); every one takes a value that parse_server understands.
FIELD_OPTIONS = (
    ("--name", "name", "unique name: the server becomes its own messenger, outside the pool"),
    ("--host", "host", "SMTP host name or IP address"),
    ("--port", "port", "25, 587 (STARTTLS), 465 (TLS) or 2525"),
    ("--auth", "auth_protocol", "plain, login, cram, xoauth2 (OAuth sign-in) or none"),
    ("--username", "username", "SMTP username"),
    ("--tls", "tls_type", "STARTTLS, TLS or none"),
    ("--skip-verify", "tls_skip_verify", "true to skip certificate checks (testing only)"),
    ("--hello-hostname", "hello_hostname", "name sent in EHLO"),
    ("--max-conns", "max_conns", "concurrent connections (1-1000)"),
    ("--idle-timeout", "idle_timeout", "close idle connections after this (15s)"),
    ("--wait-timeout", "wait_timeout", "wait this long for a free connection (5s)"),
    ("--max-msg-retries", "max_msg_retries", "retries on other connections (2)"),
    ("--msg-retry-delay", "msg_retry_delay", "delay between retries (10ms)"),
    ("--headers", "email_headers", 'JSON, e.g. [["X-Custom-Header", "value"]]'),
    ("--max-per-second", "max_per_second", "sending limit (empty for none)"),
    ("--max-per-hour", "max_per_hour", "sending limit (empty for none)"),
    ("--max-per-day", "max_per_day", "sending limit (empty for none)"),
    ("--enabled", "enabled", "true or false"),
    ("--oauth-provider", "oauth_provider", "xoauth2: google, microsoft or custom"),
    ("--oauth-tenant", "oauth_tenant", "microsoft: common, organizations or your tenant"),
    ("--oauth-client-id", "oauth_client_id", "xoauth2: your own client ID (see the README)"),
    ("--oauth-authorize-url", "oauth_authorize_url", "custom provider: authorization URL"),
    ("--oauth-token-url", "oauth_token_url", "custom provider: token URL"),
)


def register(sub: Any) -> None:
    parser = sub.add_parser("servers", help="list, add, edit and remove SMTP servers")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list the servers")
    listing.add_argument("--json", action="store_true", help="listmonk's field names plus uuid")
    listing.set_defaults(func=list_servers)

    add = actions.add_parser("add", help="add a server")
    add.add_argument("--preset", help="fill from a provider preset (see 'smtpdesk presets')")
    add.add_argument("--region", help="the region, for presets that have regions (Amazon SES)")
    _field_options(add)
    add.set_defaults(func=add_server)

    edit = actions.add_parser("edit", help="change some settings of a server")
    edit.add_argument("server", help="the server's name or uuid")
    _field_options(edit)
    edit.set_defaults(func=edit_server)

    remove = actions.add_parser("remove", help="delete a server and its stored password")
    remove.add_argument("server", help="the server's name or uuid")
    remove.set_defaults(func=delete_server)
    server_login.register(actions)
    dkim.register(actions)


def _field_options(parser: argparse.ArgumentParser) -> None:
    for option, dest, text in FIELD_OPTIONS:
        parser.add_argument(option, dest=f"field_{dest}", metavar="VALUE", help=text)
    add_password_options(parser)
    server_login.add_options(parser)


def _given_fields(args: argparse.Namespace) -> dict[str, object]:
    return {
        dest: getattr(args, f"field_{dest}")
        for _, dest, _ in FIELD_OPTIONS
        if getattr(args, f"field_{dest}") is not None
    } | server_login.given_fields(args)


def list_servers(args: argparse.Namespace) -> int:
    store = store_from(args)
    servers = store.servers()
    if args.json:
        print(json.dumps([server_to_listmonk(s) for s in servers], indent=2))
        return EXIT_OK
    if not servers:
        print("No servers yet. Add one with: smtpdesk servers add --host HOST")
    for s in servers:
        state = "on " if s.enabled else "off"
        key = server_login.sign_in_state(s) or _password_state(s.uuid)
        print(
            f"{state}  {s.messenger:<16} {s.host}:{s.port:<6} {s.tls_type:<8} "
            f"auth={s.auth_protocol:<5} password={key:<6} {s.uuid}"
        )
    return EXIT_OK


def _password_state(server_uuid: str) -> str:
    try:
        return "stored" if secrets.has_password(server_uuid) else "none"
    except secrets.KeyringUnavailableError:
        return "unknown (no keyring)"


def _save(args: argparse.Namespace, data: dict[str, object], base: Any = None) -> int:
    password = read_password(args)
    if password == "" and args.password_stdin and _needs_password(data, base):
        print(
            "error: password: standard input gave an empty password, but the server signs in "
            "with one (use --auth none for a server without sign-in)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    store = store_from(args)
    store.require_writable()
    report = save_server(
        store,
        data,
        base=base,
        password=password,
        client_secret=server_login.read_client_secret(args),
    )
    if report.settings is None:
        print_problems(report.errors)
        return EXIT_USAGE
    print_warnings(report.warnings)
    _say_renamed(data.get("name"), report.settings.name)
    print(report.settings.uuid)
    return EXIT_OK


def _say_renamed(given: object, saved: str) -> None:
    """'st_plain' is saved as 'st-plain': say so (lookups accept either spelling)."""
    if isinstance(given, str) and given.strip() and given.strip() != saved:
        print(
            f"note: name: {given.strip()!r} is saved as {saved!r} "
            "(names use a-z, 0-9 and '-'; either spelling finds it)",
            file=sys.stderr,
        )


def _needs_password(data: dict[str, object], base: ServerSettings | None) -> bool:
    auth = data.get("auth_protocol", base.auth_protocol if base else AuthProtocol.PLAIN)
    return str(auth).strip().lower() in _PASSWORD_AUTH


def add_server(args: argparse.Namespace) -> int:
    data: dict[str, object] = {}
    if args.preset:
        data.update(get_preset(args.preset).fill(args.region))
    data.update(_given_fields(args))
    return _save(args, data)


def edit_server(args: argparse.Namespace) -> int:
    base = store_from(args).server(args.server)
    return _save(args, _given_fields(args), base)


def delete_server(args: argparse.Namespace) -> int:
    store = store_from(args)
    store.require_writable()
    removed = remove_server(store, args.server)
    print(f"removed {removed.label} ({removed.uuid})")
    return EXIT_OK
