"""Turning a server's DKIM signing on or off: keys into the keyring, settings validated.

The settings (domain, selector, algorithm) go through ``parse_server`` like every other
write; the private keys go to the keyring only, stored before the settings that need
them are saved. The TXT records to publish are derived from the stored keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from smtpdesk.core import secrets
from smtpdesk.core.domain.records import tags
from smtpdesk.core.domain.resolver import DnsClient
from smtpdesk.core.domain.signing import (
    PrivateKey,
    generate_key,
    key_to_pem,
    kind_of,
    load_key,
    public_record,
    selectors,
    zone_line,
)
from smtpdesk.core.errors import BadInputError, InvalidSettingsError
from smtpdesk.core.settings import DkimAlgorithm, ServerSettings, parse_server
from smtpdesk.core.store import Store

KeyLookup = Callable[[str, str], "str | None"]


def _save(store: Store, base: ServerSettings, data: dict[str, object]) -> ServerSettings:
    report = parse_server(data, others=store.servers(), base=base)
    if report.settings is None:
        raise InvalidSettingsError(report.errors, "The DKIM settings were not saved")
    store.put_server(report.settings)
    return report.settings


def set_up_dkim(
    store: Store,
    key: str,
    *,
    domain: str | None = None,
    selector: str | None = None,
    algorithm: str | None = None,
    generate: bool = False,
    key_files: Sequence[tuple[str, bytes]] = (),
) -> tuple[ServerSettings, list[str]]:
    """Turn signing on for server ``key``; return its settings and the zone lines to publish.

    Keys come from ``generate``, from ``key_files`` (name, PEM bytes), or are the ones
    already in the keyring (then this only changes settings and prints the records).
    """
    base = store.server(key)
    data: dict[str, object] = {"dkim_enabled": True}
    for name, value in (("dkim_domain", domain), ("dkim_selector", selector)):
        if value is not None:
            data[name] = value
    if algorithm is not None:
        data["dkim_algorithm"] = algorithm
    report = parse_server(data, others=store.servers(), base=base)
    if report.settings is None:
        raise InvalidSettingsError(report.errors, "The DKIM settings were not saved")
    wanted = [kind for kind, _ in selectors(report.settings)]
    keys = _new_keys(wanted, generate, key_files)
    if not keys:
        missing = [k for k in wanted if not secrets.get_dkim_key(base.uuid, k)]
        if missing:
            raise BadInputError(
                f"There is no stored {', '.join(missing)} key for {base.label}.",
                "Add --generate, or --key-file PEM with your private key.",
            )
    for kind, private in keys.items():
        secrets.set_dkim_key(base.uuid, kind, key_to_pem(private))
    settings = _save(store, base, data)
    return settings, records_to_publish(settings)


def _new_keys(
    wanted: list[str], generate: bool, key_files: Sequence[tuple[str, bytes]]
) -> dict[str, PrivateKey]:
    if generate and key_files:
        raise BadInputError("Give --generate or --key-file, not both.")
    if generate:
        return {kind: generate_key(kind) for kind in wanted}
    keys: dict[str, PrivateKey] = {}
    for name, pem in key_files:
        private = load_key(pem, name)
        keys[kind_of(private)] = private
    if keys and set(keys) != set(wanted):
        need = " and ".join(k.removeprefix("dkim-") for k in wanted)
        raise BadInputError(
            f"The algorithm needs {need} key(s); the key file(s) give "
            f"{' and '.join(k.removeprefix('dkim-') for k in keys)}.",
            "Give one --key-file per algorithm, or use --algorithm to match the key.",
        )
    return keys


def disable_dkim(store: Store, key: str) -> ServerSettings:
    """Stop signing; the keys stay in the keyring until the server is removed."""
    return _save(store, store.server(key), {"dkim_enabled": False})


def records_to_publish(
    settings: ServerSettings, keys: KeyLookup = secrets.get_dkim_key
) -> list[str]:
    """One zone line per key the server signs with (keys missing from the keyring skipped)."""
    lines = []
    for kind, selector in selectors(settings):
        pem = keys(settings.uuid, kind)
        if pem:
            record = public_record(load_key(pem, f"the stored {kind} key"))
            lines.append(zone_line(selector, settings.dkim_domain, record))
    return lines


def store_new_keys(server_uuid: str, algorithm: str) -> None:
    """New key(s) for ``algorithm`` into the keyring (the form's "Generate keys")."""
    probe = ServerSettings(
        uuid=server_uuid, dkim_selector="x", dkim_algorithm=DkimAlgorithm(algorithm)
    )
    for kind, _selector in selectors(probe):
        secrets.set_dkim_key(server_uuid, kind, key_to_pem(generate_key(kind)))


def published(settings: ServerSettings, client: DnsClient) -> list[tuple[str, bool, str]]:
    """For each key: its DNS name, whether DNS holds this key, and what was found there."""
    found = []
    for kind, selector in selectors(settings):
        name = f"{selector}._domainkey.{settings.dkim_domain}"
        pem = secrets.get_dkim_key(settings.uuid, kind)
        if not pem:
            found.append((name, False, "no key in the keyring yet"))
            continue
        ours = tags(public_record(load_key(pem)))["p"]
        records = [r for r in client.txt(name) if "p=" in r]
        if not records:
            found.append((name, False, "not published"))
            continue
        theirs = {"".join(_p_of(r).split()) for r in records}
        if ours in theirs:
            found.append((name, True, "published"))
        else:
            found.append((name, False, "DNS holds another key: publish this one"))
    return found


def _p_of(record: str) -> str:
    try:
        return tags(record).get("p", "")
    except ValueError:
        return ""
