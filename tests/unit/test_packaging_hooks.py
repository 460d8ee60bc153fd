"""The pieces of packaging/ that run inside the frozen app or decide what the bundle holds."""

from __future__ import annotations

import importlib.util
import ssl
from pathlib import Path
from types import ModuleType

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
NO_DEFAULTS = ssl.DefaultVerifyPaths(None, None, "SSL_CERT_FILE", "/nope", "SSL_CERT_DIR", "/no")


def load(filename: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        filename.removesuffix(".py"), PACKAGING / filename
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_trust_store_keeps_what_openssl_already_finds(tmp_path: Path) -> None:
    hook = load("rthook_trust_store.py")
    found = ssl.DefaultVerifyPaths(str(tmp_path), None, "", "", "", "")
    assert hook.choose_ca_file({}, found, ["/etc/ssl/certs/ca-certificates.crt"], "x") is None


def test_trust_store_respects_the_users_choice() -> None:
    hook = load("rthook_trust_store.py")
    chosen = hook.choose_ca_file({"SSL_CERT_FILE": "/mine.pem"}, NO_DEFAULTS, [], "/certifi")
    assert chosen is None


def test_trust_store_prefers_a_system_bundle_over_certifi(tmp_path: Path) -> None:
    hook = load("rthook_trust_store.py")
    system = tmp_path / "ca-bundle.crt"
    system.write_text("pem")
    candidates = [str(tmp_path / "missing.crt"), str(system)]
    assert hook.choose_ca_file({}, NO_DEFAULTS, candidates, "/certifi") == str(system)


def test_trust_store_falls_back_to_certifi(tmp_path: Path) -> None:
    hook = load("rthook_trust_store.py")
    candidates = [str(tmp_path / "missing.crt")]
    assert hook.choose_ca_file({}, NO_DEFAULTS, candidates, "/certifi") == "/certifi"


def test_bundle_filter_drops_the_gtk_stack_but_not_what_qt_needs() -> None:
    bundle_filter = load("bundle_filter.py")
    assert bundle_filter.is_dropped("PySide6/Qt/plugins/platformthemes/libqgtk3.so")
    assert bundle_filter.is_dropped("libgtk-3.so.0")
    for kept in (
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "libQt6Gui.so.6",
        "libfontconfig.so.1",
    ):
        assert not bundle_filter.is_dropped(kept), kept
