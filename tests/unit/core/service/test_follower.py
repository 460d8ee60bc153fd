"""How the sending process is started: the command line, from source and from the bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smtpdesk.core.service.follower import sender_command


def test_from_source_it_runs_the_package_with_this_python(tmp_path: Path) -> None:
    assert sender_command(7, tmp_path) == [
        *(sys.executable, "-m", "smtpdesk", "--data-dir", str(tmp_path)),
        *("campaign", "serve", "7"),
    ]


@pytest.mark.parametrize("suffix", ["", ".exe"])
def test_frozen_it_runs_the_bundle_s_console_executable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    gui = tmp_path / f"smtpdesk-gui{suffix}"
    gui.touch()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(gui))
    command = sender_command(7, tmp_path)
    assert command == [str(gui), "--data-dir", str(tmp_path), "campaign", "serve", "7"]

    console = tmp_path / f"smtpdesk{suffix}"  # the console one beside it: stderr is kept
    console.touch()
    assert sender_command(7, tmp_path)[0] == str(console)
    monkeypatch.setattr(sys, "executable", str(console))
    assert sender_command(7, tmp_path)[0] == str(console)
