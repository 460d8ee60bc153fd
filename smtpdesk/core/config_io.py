"""Import and export of the server configuration: our TOML format and listmonk's settings JSON.

Import validates every entry before anything is written: one bad entry and nothing changes.
Passwords found in a file go to the keyring; exports never contain one.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from smtpdesk import __version__
from smtpdesk.core import secrets
from smtpdesk.core.durations import format_duration
from smtpdesk.core.errors import BadInputError, InvalidSettingsError
from smtpdesk.core.settings import (
    AppSettings,
    Problem,
    ServerSettings,
    normalise_name,
    parse_app_settings,
    parse_server,
)
from smtpdesk.core.store import Store

DURATIONS = ("idle_timeout", "wait_timeout", "msg_retry_delay", "sliding_window_duration")
# listmonk keeps the app-wide sending settings as flat "app.*" keys.
LISTMONK_APP_KEYS = {
    "app.concurrency": "concurrency",
    "app.message_rate": "message_rate",
    "app.max_send_errors": "max_send_errors",
    "app.message_sliding_window": "sliding_window",
    "app.message_sliding_window_rate": "sliding_window_rate",
    "app.message_sliding_window_duration": "sliding_window_duration",
}


@dataclass
class ImportPlan:
    """What an import would write, once every entry has passed validation."""

    servers: list[tuple[ServerSettings, str | None]] = field(default_factory=list)
    app: AppSettings | None = None
    warnings: list[str] = field(default_factory=list)


def _read(path: Path) -> tuple[list[Mapping[str, Any]], Mapping[str, Any]]:
    """The server entries and the app settings found in ``path``."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BadInputError(f"Cannot read {path}: {exc.strerror}.", "Check the path.") from exc
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"{path} is not UTF-8 text (byte {exc.start}): not a configuration file.",
            "Give an smtpdesk TOML export or listmonk's settings JSON.",
        ) from exc
    if path.suffix.lower() == ".json" or (
        path.suffix.lower() != ".toml" and text.lstrip().startswith(("{", "["))
    ):
        return _read_listmonk(text, path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(
            f"{path} is neither listmonk JSON nor smtpdesk TOML: {exc}.",
            "See the README for the file format.",
        ) from exc
    except RecursionError as exc:
        raise _too_deep(path) from exc
    servers, app = data.get("servers", []), data.get("app", {})
    if not isinstance(servers, list):
        raise BadInputError(f"{path}: 'servers' is not a list of [[servers]] tables.")
    if not isinstance(app, Mapping):
        raise BadInputError(f"{path}: 'app' is not an [app] table.")
    return servers, app


def _too_deep(path: Path) -> BadInputError:
    return BadInputError(
        f"{path} nests its values too deeply to be a configuration file.",
        "Give an smtpdesk TOML export or listmonk's settings JSON.",
    )


def _read_listmonk(text: str, path: Path) -> tuple[list[Mapping[str, Any]], Mapping[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}).", exc.msg
        ) from exc
    except RecursionError as exc:
        raise _too_deep(path) from exc
    if isinstance(data, Mapping) and isinstance(data.get("data"), Mapping):
        data = data["data"]  # the body of listmonk's GET /api/settings
    if isinstance(data, list):
        return data, {}
    if isinstance(data, Mapping) and isinstance(data.get("smtp"), list):
        app = {ours: data[theirs] for theirs, ours in LISTMONK_APP_KEYS.items() if theirs in data}
        return data["smtp"], app
    raise BadInputError(
        f"{path} has no 'smtp' list.",
        "Export listmonk's settings JSON, or give the 'smtp' array itself.",
    )


def _password(entry: Mapping[str, Any]) -> str | None:
    value = entry.get("password")
    # listmonk masks stored passwords with bullets in its settings API.
    if not isinstance(value, str) or not value or set(value) == {"•"}:
        return None
    return value


def plan_import(store: Store, path: Path) -> ImportPlan:
    """Validate the whole file against the saved servers; raise with every problem found."""
    entries, app_data = _read(path)
    existing = {s.uuid: s for s in store.servers()}
    plan, problems = ImportPlan(), []
    # The unique-name rule only needs the servers of the same name: looked up by name,
    # the import is linear (comparing each entry with all the others was quadratic).
    named: dict[str, list[ServerSettings]] = {}
    for saved in existing.values():
        named.setdefault(saved.name, []).append(saved)
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            problems.append(Problem(f"entry {number}", "error", "is not a table of settings"))
            continue
        base = existing.get(str(entry.get("uuid", "")))
        name = _name_of(entry, base)  # unnamed servers need no comparison at all
        others = [s for s in named.get(name, ()) if s is not base] if name else []
        report = parse_server(entry, others=others, base=base)
        problems += [_numbered(number, p) for p in report.errors]
        plan.warnings += [f"entry {number}: {p}" for p in report.warnings]
        if report.settings:
            named.setdefault(report.settings.name, []).append(report.settings)
            plan.servers.append((report.settings, _password(entry)))
            given = entry.get("name")
            if isinstance(given, str) and given.strip() != report.settings.name:
                plan.warnings.append(
                    f"entry {number}: name: {given.strip()!r} is saved as "
                    f"{report.settings.name!r} (either spelling finds it)"
                )
    if app_data:
        app_report = parse_app_settings(app_data, base=store.app_settings())
        problems += [_numbered(0, p) for p in app_report.errors]
        plan.app = app_report.settings
    if problems:
        raise InvalidSettingsError(problems, f"{path} was not imported")
    return plan


def _name_of(entry: Mapping[str, Any], base: ServerSettings | None) -> str:
    """The name ``entry`` will have, as parse_server spells it, to find its namesakes."""
    if "name" not in entry:
        return base.name if base else ""
    value = entry["name"]
    return normalise_name(value) if isinstance(value, str) else ""


def _numbered(number: int, problem: Problem) -> Problem:
    where = f"entry {number}, {problem.field}" if number else f"app, {problem.field}"
    return Problem(where, problem.severity, problem.message, problem.hint)


def import_config(store: Store, path: Path) -> ImportPlan:
    """Import ``path``: passwords into the keyring first, then every row in one transaction."""
    plan = plan_import(store, path)
    for settings, password in plan.servers:
        if password is not None:
            secrets.set_password(settings.uuid, password)
    store.put_servers([s for s, _ in plan.servers], plan.app)
    return plan


def server_to_toml(settings: ServerSettings) -> dict[str, Any]:
    data = settings.to_dict()
    for key in DURATIONS:
        if key in data:
            data[key] = format_duration(data[key])
    return {k: v for k, v in data.items() if v is not None}  # TOML has no null


def export_config(store: Store) -> str:
    """The whole configuration as TOML, without any password."""
    app = store.app_settings().to_dict()
    app["sliding_window_duration"] = format_duration(app["sliding_window_duration"])
    if app["worker_processes"] is None:  # TOML has no null; parse_app_settings reads "auto"
        app["worker_processes"] = "auto"
    document = {"app": app, "servers": [server_to_toml(s) for s in store.servers()]}
    header = (
        f"# smtpdesk {__version__} configuration. Passwords are not exported: they stay\n"
        '# in the keyring. Add password = "..." to an entry to import one.\n'
        "# OAuth sign-ins (tokens, client secrets) are not exported either: sign in again\n"
        "# after an import (smtpdesk servers login NAME).\n"
        "# DKIM private keys stay in the keyring too: after an import, give each signing\n"
        "# server its key (smtpdesk servers dkim NAME --key-file PEM, or --generate).\n\n"
    )
    return header + tomli_w.dumps(document)


def server_to_listmonk(settings: ServerSettings) -> dict[str, Any]:
    """listmonk's JSON shape of a server (plus our extra fields), never with a password."""
    data = server_to_toml(settings)
    data["email_headers"] = [{name: value} for name, value in settings.email_headers]
    return data
