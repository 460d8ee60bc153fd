"""Where smtpdesk keeps its data: --data-dir, $SMTPDESK_DATA_DIR, or the platform's folder.

The folder holds the database and the log, which name servers and recipients: when we
create it, only its owner may enter it (0700).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TextIO

import platformdirs

from smtpdesk.core.errors import KnownError

ENV_VAR = "SMTPDESK_DATA_DIR"
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def data_dir(override: str | Path | None = None) -> Path:
    chosen = override or os.environ.get(ENV_VAR) or platformdirs.user_data_dir("smtpdesk", False)
    path = Path(chosen).expanduser()
    if path.is_dir():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.mkdir(mode=FOLDER_MODE)
        os.chmod(path, FOLDER_MODE)  # mkdir's mode is filtered by the umask
    except FileExistsError as exc:
        if not path.is_dir():
            raise KnownError(
                f"{path} is a file, not a folder.", "Choose another data folder."
            ) from exc
    except OSError as exc:
        raise KnownError(
            f"The data folder {path} cannot be created: {exc.strerror}.",
            "Choose another folder with --data-dir or $SMTPDESK_DATA_DIR.",
        ) from exc
    return path


def create_private(path: Path) -> None:
    """Create ``path`` empty, readable and writable by its owner only, if it is missing."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


def make_private(path: Path) -> None:
    """0600 on an existing file we own (best effort: a read-only folder stays as it is)."""
    try:
        if path.exists() and path.stat().st_uid == os.getuid() and path.stat().st_mode & 0o077:
            os.chmod(path, FILE_MODE)
    except (OSError, AttributeError):  # AttributeError: os.getuid on Windows
        pass


def open_private(path: str | Path) -> TextIO:
    """``path`` opened for writing text, created 0600 (exports name servers and recipients)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def write_private(path: str | Path, text: str) -> None:
    with open_private(path) as handle:
        handle.write(text)
