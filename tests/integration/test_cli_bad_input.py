"""Every CLI command, given bad input, exits 2 with one line per problem and writes nothing.

The commands are found by walking the real argument parser (what ``smtpdesk --help``
lists), so a command added later is covered without editing this file.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpdesk.cli import build_parser, main
from smtpdesk.core.campaign.content import CampaignContent
from smtpdesk.core.campaign.ledger import Ledger
from smtpdesk.core.servers import save_server
from smtpdesk.core.store import open_store

UNKNOWN_ID = "424242"


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        yield path, parser
        return
    for name, sub in subparsers[0].choices.items():
        yield from _leaves(sub, (*path, name))


COMMANDS = dict(_leaves(build_parser()))


def _takes_an_id(parser: argparse.ArgumentParser) -> bool:
    return any(not a.option_strings and a.type is int for a in parser._actions)


def _bad_value(action: argparse.Action, missing: Path) -> str:
    """A value of the right shape that names nothing that exists, or is malformed."""
    if action.type is int:
        return UNKNOWN_ID
    if action.type is float:
        return "not-a-number"
    name = action.dest.lower()
    if name in ("file", "recipients") or action.type is Path:
        return str(missing / "nothing.csv")
    if name in ("server", "messenger"):
        return "no-such-server"
    if name in ("addresses",):
        return "not an address"
    return "not valid!"  # no name, domain or key looks like this


def bad_argv(command: tuple[str, ...], parser: argparse.ArgumentParser, tmp: Path) -> list[str]:
    """The command with every positional and required option given a bad value.

    A command that needs nothing gets a malformed value for its first typed option, or
    else an option that does not exist.
    """
    missing = tmp / "missing-folder"
    argv = list(command)
    needed = [a for a in parser._actions if not a.option_strings and a.dest != "help"]
    needed_options = [a for a in parser._actions if a.option_strings and a.required]
    for action in needed:
        argv.append(_bad_value(action, missing))
    for action in needed_options:
        argv += [action.option_strings[0], _bad_value(action, missing)]
    if needed or needed_options:
        return argv
    typed = [a for a in parser._actions if a.option_strings and a.type in (int, float)]
    if typed:
        return [*argv, typed[0].option_strings[-1], "not-a-number"]
    valued = [a for a in parser._actions if a.option_strings and a.nargs != 0 and not a.choices]
    if valued:
        return [*argv, valued[0].option_strings[-1], "not valid!"]
    return [*argv, "--no-such-option"]


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse refuses before main runs
        return int(exc.code or 0)


def database_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for name in ("smtpdesk.db", "smtpdesk.db-wal"):
        path = folder / name
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


@pytest.fixture
def filled(data_dir: Path, tmp_path: Path) -> Path:
    """A data folder with a server and a campaign, closed so its file is settled."""
    store = open_store(data_dir)
    save_server(store, {"host": "smtp.example.com", "name": "bulk", "auth_protocol": "none"})
    people = tmp_path / "people.csv"
    people.write_text("email\nann@example.com\n", encoding="utf-8")
    Ledger(store).create_campaign("spring", CampaignContent("Hi", "a@example.com", text="x"))
    store.close()
    return data_dir


def test_the_walk_finds_every_command_smtpdesk_help_lists(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for path in [(), *sorted({c[:1] for c in COMMANDS if len(c) > 1})]:
        with pytest.raises(SystemExit):
            main([*path, "--help"])
        listed = set(re.findall(r"^ {4}(\S+)", capsys.readouterr().out, re.M))
        walked = {c[len(path)] for c in COMMANDS if c[: len(path)] == path}
        assert listed == walked, path
    assert ("campaign", "create") in COMMANDS and ("servers", "add") in COMMANDS


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_bad_input_exits_2_without_traceback_or_write(
    command: tuple[str, ...],
    filled: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = database_hash(filled)
    argv = bad_argv(command, COMMANDS[command], tmp_path)
    code = run(argv)
    _, err = capsys.readouterr()
    assert code == 2, f"{argv}: exit {code}\n{err}"
    assert "Traceback" not in err and "sqlalchemy" not in err.lower(), err
    assert err.strip(), f"{argv}: nothing said on stderr"
    assert database_hash(filled) == before, f"{argv} changed the database"
    assert not (tmp_path / "missing-folder").exists()


@pytest.mark.parametrize(
    "command", sorted(c for c, p in COMMANDS.items() if _takes_an_id(p)), ids=" ".join
)
def test_an_id_too_large_for_sqlite_is_bad_input(
    command: tuple[str, ...],
    filled: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "UNKNOWN_ID", str(2**70))
    before = database_hash(filled)
    argv = bad_argv(command, COMMANDS[command], tmp_path)
    assert str(2**70) in argv
    code = run(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "bug" not in err, err
    assert database_hash(filled) == before


@pytest.mark.parametrize("command", sorted(COMMANDS), ids=" ".join)
def test_unknown_option_exits_2(
    command: tuple[str, ...], filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = database_hash(filled)
    assert run([*command, "--no-such-option"]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert database_hash(filled) == before


def test_export_of_an_unknown_campaign_makes_no_file(
    filled: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.csv"
    assert run(["campaign", "export", UNKNOWN_ID, str(report)]) == 2
    assert "no campaign" in capsys.readouterr().err and not report.exists()


def test_suppress_refuses_every_bad_address_and_writes_none(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = database_hash(filled)
    assert run(["campaign", "suppress", "ok@example.com", "nope", "also bad@"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "'nope'" in err[0] and "'also bad@'" in err[1]
    assert database_hash(filled) == before
