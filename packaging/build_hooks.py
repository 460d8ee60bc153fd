"""setuptools hook: ship the top-level resources/ folder inside the wheel.

resources/ is the canonical copy of the icons, desktop entry and AppStream file (the Linux
installer and the PyInstaller spec read it directly). package-data cannot reach outside the
package, so build_py copies the folder to smtpdesk/_resources in the build tree, where
smtpdesk.resources.resource_path finds it. Editable installs skip the copy: they read
resources/ from the checkout. Wired up in pyproject.toml under [tool.setuptools] cmdclass.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent.parent


class BuildPyWithResources(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "smtpdesk" / "_resources"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / "resources", target)
