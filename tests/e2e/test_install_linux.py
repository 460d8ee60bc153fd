"""packaging/install-linux.sh installs exactly what it lists and --uninstall removes exactly that.

Runs against a minimal fake bundle (a shell-script `smtpdesk` and the real resources/), in a
throwaway HOME; tests/e2e/check-bundle.sh repeats the round trip with the real bundle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "install-linux.sh"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "unpacked" / "smtpdesk"
    shutil.copytree(ROOT / "resources", folder / "_internal" / "resources")
    exe = folder / "smtpdesk"
    exe.write_text("#!/bin/sh\necho smtpdesk fake\n")
    exe.chmod(0o755)
    shutil.copy2(SCRIPT, folder / "install-linux.sh")
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home dir"  # a space, as some HOMEs have
    # Someone else's files in the folders the installer writes to: they must survive.
    other = folder / ".local" / "share" / "icons" / "hicolor" / "48x48" / "apps" / "other.png"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"png")
    (folder / ".local" / "share" / "applications").mkdir()
    (folder / ".local" / "share" / "applications" / "other.desktop").write_text("x")
    return folder


def run(home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_DATA_HOME"}
    env["HOME"] = str(home)
    return subprocess.run(
        [str(a) for a in args], env=env, capture_output=True, text=True, check=False
    )


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_install_writes_the_bundle_entry_icons_and_metainfo(bundle: Path, home: Path) -> None:
    before = tree(home)
    result = run(home, SCRIPT, bundle)
    assert result.returncode == 0, result.stderr
    share = ".local/share"
    added = tree(home) - before
    outside_bundle = {p for p in added if not p.startswith(".local/opt")}
    assert outside_bundle == {
        f"{share}/applications/smtpdesk.desktop",
        f"{share}/metainfo",
        f"{share}/metainfo/smtpdesk.metainfo.xml",
        f"{share}/icons/hicolor/scalable",
        f"{share}/icons/hicolor/scalable/apps",
        f"{share}/icons/hicolor/scalable/apps/smtpdesk.svg",
        *(f"{share}/icons/hicolor/{s}x{s}" for s in SIZES if s != 48),
        *(f"{share}/icons/hicolor/{s}x{s}/apps" for s in SIZES if s != 48),
        *(f"{share}/icons/hicolor/{s}x{s}/apps/smtpdesk.png" for s in SIZES),
    }
    exe = home / ".local" / "opt" / "smtpdesk" / "smtpdesk"
    assert run(home, exe).stdout == "smtpdesk fake\n"
    entry = (home / share / "applications" / "smtpdesk.desktop").read_text()
    assert f'Exec="{exe}"\n' in entry
    assert f"TryExec={exe}\n" in entry
    assert "Icon=smtpdesk\n" in entry


def test_uninstall_removes_exactly_what_install_wrote(bundle: Path, home: Path) -> None:
    before = tree(home)
    assert run(home, SCRIPT, bundle).returncode == 0
    installed_copy = home / ".local" / "opt" / "smtpdesk" / "install-linux.sh"
    result = run(home, installed_copy, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert tree(home) == before


def test_uninstall_from_an_empty_home_removes_the_folders_it_created(
    bundle: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    assert run(empty, SCRIPT, bundle).returncode == 0
    assert (empty / ".local" / "share" / "applications" / "smtpdesk.desktop").is_file()
    assert run(empty, SCRIPT, "--uninstall").returncode == 0
    assert tree(empty) == set()


def test_installing_twice_then_uninstalling_leaves_nothing(bundle: Path, home: Path) -> None:
    before = tree(home)
    assert run(home, SCRIPT, bundle).returncode == 0
    assert run(home, SCRIPT, bundle).returncode == 0
    assert run(home, SCRIPT, "--uninstall").returncode == 0
    assert tree(home) == before


def test_files_added_later_to_our_folders_are_kept(bundle: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-home"
    empty.mkdir()
    assert run(empty, SCRIPT, bundle).returncode == 0
    later = empty / ".local" / "share" / "metainfo" / "someone-else.metainfo.xml"
    later.write_text("<component/>")
    assert run(empty, SCRIPT, "--uninstall").returncode == 0
    assert tree(empty) == {
        ".local",
        ".local/share",
        ".local/share/metainfo",
        ".local/share/metainfo/someone-else.metainfo.xml",
    }


def test_uninstall_when_not_installed_says_so(home: Path) -> None:
    before = tree(home)
    result = run(home, SCRIPT, "--uninstall")
    assert result.returncode == 1
    assert "not installed" in result.stderr
    assert tree(home) == before


def test_a_folder_that_is_not_a_bundle_is_refused(tmp_path: Path, home: Path) -> None:
    before = tree(home)
    result = run(home, SCRIPT, tmp_path)
    assert result.returncode == 1
    assert "is not an smtpdesk bundle" in result.stderr
    assert tree(home) == before
