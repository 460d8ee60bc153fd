"""``smtpdesk --self-check``: can this installation run? One line per check, exit 0 if all hold.

Written for the packaged app: each check touches a part PyInstaller can leave behind (Qt
plugins, the Alembic scripts, keyring's backend entry points, a CA bundle) so CI and users
can tell a broken bundle from a broken desktop.
"""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass

from smtpdesk.core.errors import KnownError

EXIT_OK, EXIT_FAILED = 0, 1
ICON = "icons/smtpdesk.svg"


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAIL':<4} {self.name:<9} {self.detail}"


def check_qt() -> CheckResult:
    """A QApplication on the offscreen platform, a widget and the SVG icon plugin."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt reads it: no display needed
    from PySide6 import __version__ as pyside_version
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication, QWidget

    from smtpdesk.resources import resource_path

    app = QApplication.instance() or QApplication(sys.argv[:1])
    widget = QWidget()
    widget.deleteLater()
    icon = QIcon(str(resource_path(ICON)))
    if icon.pixmap(32, 32).isNull():
        return CheckResult("qt", False, f"cannot draw {ICON}: the Qt SVG image plugin is missing")
    platform = QGuiApplication.platformName() if isinstance(app, QGuiApplication) else "?"
    return CheckResult("qt", True, f"PySide6 {pyside_version}, platform {platform}, icon loads")


def check_database(data_dir: str | None) -> CheckResult:
    """Open (creating and migrating if new) the database and report its schema revision."""
    from alembic.runtime.migration import MigrationContext

    from smtpdesk.core.store import open_store

    store = open_store(data_dir)
    try:
        with store.connect() as conn:
            revision = MigrationContext.configure(conn).get_current_revision()
    finally:
        store.close()
    return CheckResult("database", True, f"{store.path} (revision {revision})")


def check_keyring() -> CheckResult:
    from smtpdesk.core.secrets import describe_backend

    return CheckResult("keyring", True, describe_backend())


def trust_store_source() -> str:
    """Where ssl's default context takes its CA certificates from, in words."""
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        value = os.environ.get(var)
        if value:
            bundled = getattr(sys, "_MEIPASS", None)
            origin = "bundled with the app" if bundled and value.startswith(bundled) else var
            return f"{value} ({origin})"
    paths = ssl.get_default_verify_paths()
    found = [p for p in (paths.cafile, paths.capath) if p]
    if sys.platform == "win32":
        found.append("the Windows certificate store")
    return ", ".join(found) or "nowhere"


def check_tls() -> CheckResult:
    context = ssl.create_default_context()
    count = context.cert_store_stats()["x509_ca"]
    source = trust_store_source()
    if count > 0:
        return CheckResult("tls", True, f"{count} CA certificates from {source}")
    capath = ssl.get_default_verify_paths().capath
    if capath and any(name.endswith(".0") for name in os.listdir(capath)):
        # A hashed directory is read per lookup, so the context reports no certificates yet.
        return CheckResult("tls", True, f"CA certificates read on demand from {capath}")
    return CheckResult(
        "tls",
        False,
        f"no CA certificates found (looked in {source}); "
        "install your system's ca-certificates package",
    )


def _guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    # A diagnostic must report every failure as a line rather than stop at the first one.
    try:
        return check()
    except KnownError as exc:
        hint = f" (hint: {exc.hint})" if exc.hint else ""
        return CheckResult(name, False, f"{exc.message}{hint}")
    except Exception as exc:
        return CheckResult(name, False, f"{type(exc).__name__}: {exc}")


def run_checks(data_dir: str | None) -> list[CheckResult]:
    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        ("qt", check_qt),
        ("database", lambda: check_database(data_dir)),
        ("keyring", check_keyring),
        ("tls", check_tls),
    ]
    return [_guarded(name, check) for name, check in checks]


def run_self_check(data_dir: str | None) -> int:
    """Print one line per check; 0 when all pass."""
    results = run_checks(data_dir)
    for result in results:
        print(result.line(), flush=True)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
