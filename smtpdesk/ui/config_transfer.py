"""File → Import / Export configuration: the CLI's ``config import|export`` in the GUI.

Import reads smtpdesk TOML or listmonk's settings JSON, validates every entry first
(``core.config_io.plan_import``) and asks before writing; nothing is written if one
entry is refused, and every refusal is named. Export writes TOML without passwords.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QWidget

from smtpdesk.core import config_io
from smtpdesk.core.errors import InvalidSettingsError
from smtpdesk.core.paths import write_private
from smtpdesk.core.wording import counted
from smtpdesk.ui.bridge import Bridge
from smtpdesk.ui.prompts import Prompts

IMPORT_FILTER = "smtpdesk TOML or listmonk JSON (*.toml *.json);;All files (*)"
EXPORT_FILTER = "smtpdesk TOML (*.toml)"
SHOWN_PROBLEMS = 5


def describe_plan(plan: config_io.ImportPlan) -> str:
    passwords = sum(1 for _, password in plan.servers if password is not None)
    names = ", ".join(s.name for s, _ in plan.servers[:8])
    more = f" and {len(plan.servers) - 8} more" if len(plan.servers) > 8 else ""
    text = f"Import {counted(len(plan.servers), 'server')}"
    text += f" ({names}{more})" if names else ""
    text += f", {counted(passwords, 'password')} into the keyring" if passwords else ""
    text += ", and the app's sending settings" if plan.app else ""
    text += "? A server with the same uuid is replaced."
    for warning in plan.warnings[:SHOWN_PROBLEMS]:
        text += f"\nWarning: {warning}"
    return text


class ConfigTransfer:
    """Asks for a file, then runs the core import or export through the bridge."""

    def __init__(self, bridge: Bridge, prompts: Prompts, parent: QWidget) -> None:
        self.bridge, self.prompts, self.parent = bridge, prompts, parent

    def import_file(self, done: Callable[[], None] = lambda: None) -> None:
        def chosen(path: str) -> None:
            if path:
                self.bridge.start(
                    self.bridge.read(config_io.plan_import, self.bridge.store, Path(path)),
                    done=lambda plan: self._confirm(Path(path), plan, done),
                    failed=self._refused,
                )

        self.prompts.open_file(self.parent, "Import configuration", IMPORT_FILTER, chosen)

    def _confirm(self, path: Path, plan: config_io.ImportPlan, done: Callable[[], None]) -> None:
        def answered(yes: bool) -> None:
            if not yes:
                return

            def imported(result: config_io.ImportPlan) -> None:
                servers = counted(len(result.servers), "server")
                self.bridge.notifier.info(f"Imported {servers} from {path}.")
                done()

            self.bridge.start(
                self.bridge.write(config_io.import_config, self.bridge.store, path),
                done=imported,
                failed=self._refused,
            )

        self.prompts.confirm(
            self.parent, "Import configuration", describe_plan(plan), answered, action="Import"
        )

    def _refused(self, exc: BaseException) -> None:
        if isinstance(exc, InvalidSettingsError):
            shown = [str(p) for p in exc.problems[:SHOWN_PROBLEMS]]
            more = len(exc.problems) - len(shown)
            hint = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
            self.bridge.notifier.error(f"{exc.message}: nothing was changed.", hint)
            return
        self.bridge.report(exc)

    def export_file(self) -> None:
        def chosen(path: str) -> None:
            if not path:
                return
            target = Path(path) if Path(path).suffix else Path(path).with_suffix(".toml")

            def write() -> None:
                write_private(target, config_io.export_config(self.bridge.store))  # 0600

            self.bridge.start(
                self.bridge.write(write),
                done=lambda _r: self.bridge.notifier.info(
                    f"Exported the configuration to {target} (without passwords)."
                ),
                failed=self._failed_write,
            )

        self.prompts.save_file(self.parent, "Export configuration", EXPORT_FILTER, chosen)

    def _failed_write(self, exc: BaseException) -> None:
        if isinstance(exc, OSError):
            self.bridge.notifier.error(
                f"The configuration could not be written: {exc.strerror}.",
                "Choose another folder.",
            )
            return
        self.bridge.report(exc)
