"""Find the app's data files (icons, desktop entry) however smtpdesk was installed.

The top-level ``resources/`` folder of the repository is the one canonical copy. The other
two places are filled from it by the build, never edited by hand:

- a PyInstaller bundle has it at ``<sys._MEIPASS>/resources`` (``packaging/smtpdesk.spec``);
- a wheel has it at ``smtpdesk/_resources`` (``packaging/build_hooks.py`` copies it in
  ``build_py``, wired up through ``[tool.setuptools] cmdclass`` in pyproject.toml).

A source checkout or an editable install reads ``resources/`` next to the package directly.
No Qt here: the CLI and the self-check use this module too.
"""

from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dirs() -> list[Path]:
    """The folders searched, most specific first."""
    dirs = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        dirs.append(Path(bundle) / "resources")
    dirs.append(_PACKAGE_DIR / "_resources")
    dirs.append(_PACKAGE_DIR.parent / "resources")
    return dirs


def resource_path(name: str) -> Path:
    """The path of resource ``name`` (e.g. ``"icons/smtpdesk.svg"``).

    Raises FileNotFoundError naming every folder searched: a missing resource is a packaging
    bug, and the list says which copy step failed.
    """
    for folder in resource_dirs():
        candidate = folder / name
        if candidate.exists():
            return candidate
    searched = ", ".join(str(d) for d in resource_dirs())
    raise FileNotFoundError(f"resource {name!r} not found in: {searched}")
