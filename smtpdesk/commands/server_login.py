"""smtpdesk servers login|logout, and the OAuth options of servers add|edit.

``login`` prints the provider's authorization address on its own line (with
``--no-browser`` that line is all it prints on standard output), opens the system
browser unless told not to, waits for the redirect on 127.0.0.1, and exits 0 once the
refresh token is in the keyring.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from smtpdesk.cli import EXIT_OK
from smtpdesk.commands.common import store_from
from smtpdesk.core import oauth, secrets
from smtpdesk.core.settings import AuthProtocol, ServerSettings


def register(actions: Any) -> None:
    login = actions.add_parser("login", help="sign a server in with OAuth (XOAUTH2)")
    login.add_argument("server", help="the server's name or uuid")
    login.add_argument(
        "--no-browser",
        action="store_true",
        help="only print the address to open (on any browser of this computer)",
    )
    login.set_defaults(func=login_server)

    logout = actions.add_parser("logout", help="forget a server's OAuth sign-in")
    logout.add_argument("server", help="the server's name or uuid")
    logout.set_defaults(func=logout_server)


def add_options(parser: argparse.ArgumentParser) -> None:
    """Options of servers add|edit that are not plain fields."""
    parser.add_argument(
        "--oauth-scope",
        dest="oauth_scopes",
        action="append",
        metavar="SCOPE",
        help="an OAuth scope (repeat for several; default: the provider's)",
    )
    parser.add_argument(
        "--oauth-client-secret-stdin",
        action="store_true",
        help="read the OAuth client secret from standard input (after the password, if any)",
    )


def given_fields(args: argparse.Namespace) -> dict[str, object]:
    return {"oauth_scopes": args.oauth_scopes} if args.oauth_scopes else {}


def read_client_secret(args: argparse.Namespace) -> str | None:
    if not args.oauth_client_secret_stdin:
        return None
    return sys.stdin.readline().rstrip("\r\n")


def sign_in_state(settings: ServerSettings) -> str:
    """For ``servers list``: whether an OAuth server is signed in ("" for the others)."""
    if settings.auth_protocol != AuthProtocol.XOAUTH2:
        return ""
    try:
        return "oauth-signed-in" if oauth.grant_of(settings.uuid) else "oauth-not-signed-in"
    except secrets.KeyringUnavailableError:
        return "unknown (no keyring)"


def login_server(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        settings = store.server(args.server)

    def show(url: str) -> None:
        if not args.no_browser:
            print("Opening your browser to sign in; if it does not open, visit:", file=sys.stderr)
        print(url, flush=True)

    grant = asyncio.run(
        oauth.sign_in(settings, open_browser=None if args.no_browser else _browser, on_address=show)
    )
    if not args.no_browser:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(grant.granted_at))
        print(f"Signed in as {grant.account or settings.username} ({when}).")
    return EXIT_OK


def _browser(url: str) -> bool:
    import webbrowser

    return webbrowser.open(url)


def logout_server(args: argparse.Namespace) -> int:
    with store_from(args) as store:
        settings = store.server(args.server)
    oauth.sign_out(settings.uuid)
    print(f"signed out {settings.label}")
    return EXIT_OK
