"""resource_path finds the icons in a checkout, a wheel and a PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from smtpdesk import resources
from smtpdesk.resources import resource_path

ROOT = Path(__file__).resolve().parents[2]
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def test_checkout_reads_the_top_level_folder() -> None:
    assert resource_path("icons/smtpdesk.svg") == ROOT / "resources" / "icons" / "smtpdesk.svg"


def test_a_bundle_wins_over_the_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    icon = tmp_path / "resources" / "icons" / "smtpdesk.svg"
    icon.parent.mkdir(parents=True)
    icon.write_text("<svg/>")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resource_path("icons/smtpdesk.svg") == icon


def test_a_wheel_copy_inside_the_package_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "smtpdesk"
    (package / "_resources").mkdir(parents=True)
    (package / "_resources" / "smtpdesk.desktop").write_text("[Desktop Entry]\n")
    monkeypatch.setattr(resources, "_PACKAGE_DIR", package)
    assert resource_path("smtpdesk.desktop") == package / "_resources" / "smtpdesk.desktop"


def test_missing_resource_names_every_folder_searched() -> None:
    with pytest.raises(FileNotFoundError) as caught:
        resource_path("icons/nope.png")
    for folder in resources.resource_dirs():
        assert str(folder) in str(caught.value)


@pytest.mark.parametrize("size", SIZES)
def test_every_icon_size_is_a_png_of_that_size(size: int) -> None:
    data = resource_path(f"icons/hicolor/{size}x{size}/apps/smtpdesk.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (size, size)


def test_desktop_entry_matches_the_desktop_file_name() -> None:
    # QGuiApplication.setDesktopFileName("smtpdesk") in smtpdesk.ui.app and the window class
    # must name this entry, or the desktop shows a generic icon for the running window.
    entry = dict(
        line.split("=", 1)
        for line in resource_path("smtpdesk.desktop").read_text().splitlines()
        if "=" in line
    )
    assert entry["Icon"] == "smtpdesk"
    assert entry["StartupWMClass"] == "smtpdesk"
    assert entry["Categories"] == "Network;Email;"
    assert "smtpdesk.desktop" in resource_path("smtpdesk.metainfo.xml").read_text()
