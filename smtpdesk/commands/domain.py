"""smtpdesk check-domain DOMAIN [--server NAME] [--selector S] [--json]."""

from __future__ import annotations

import argparse
import json
from typing import Any

from smtpdesk.cli import EXIT_FAILED, EXIT_OK
from smtpdesk.commands.common import store_from
from smtpdesk.core.domain.check import DomainReport, check_domain, normalise_domain
from smtpdesk.core.domain.resolver import ENV_VAR, client_for
from smtpdesk.core.messengers import resolve_messenger
from smtpdesk.core.settings import POOL_NAME, ServerSettings


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "check-domain",
        help="check a sending domain's MX, SPF, DKIM and DMARC against Gmail's and Yahoo's rules",
        description=(
            "Look up the domain's DNS records and print the bulk-sender checklist, each line "
            "pass, warn or fail with what to do. Exits 0 when nothing fails, 1 when something "
            f"does. {ENV_VAR}=HOST:PORT asks one DNS server."
        ),
    )
    parser.add_argument("domain", help="the From domain (or an address at it)")
    parser.add_argument(
        "--server",
        metavar="NAME",
        help="a messenger ('email' for the pool) or a server's name or uuid: "
        "SPF is evaluated for each of its servers",
    )
    parser.add_argument("--selector", help="the DKIM selector your provider signs with")
    parser.add_argument("--json", action="store_true", help="the whole report as JSON")
    parser.set_defaults(func=run_check)


def _servers(args: argparse.Namespace) -> tuple[list[ServerSettings], str]:
    with store_from(args) as store:
        setting = store.app_settings().dns_server
        if not args.server:
            return [], setting
        if args.server == POOL_NAME:
            return list(resolve_messenger(store.servers(), POOL_NAME).servers), setting
        return [store.server(args.server)], setting


def run_check(args: argparse.Namespace) -> int:
    domain = normalise_domain(args.domain)
    selector = normalise_domain(args.selector, "--selector", dotted=False) if args.selector else ""
    servers, setting = _servers(args)
    report = check_domain(client_for(setting), domain, servers=servers, selector=selector)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print(report)
    return EXIT_FAILED if report.failed else EXIT_OK


def _print(report: DomainReport) -> None:
    org = "" if report.org_domain == report.domain else f" (organisational: {report.org_domain})"
    print(f"{report.domain}{org}")
    for check in report.checks:
        print(f"  {check.line()}")
    if report.spf and report.spf.record:
        print(f"SPF:   {report.spf.record}")
    for key in report.dkim:
        print(f"DKIM:  {key.describe()}")
    if report.dmarc and report.dmarc.record:
        print(f"DMARC: _dmarc.{report.dmarc.domain}: {report.dmarc.record}")
