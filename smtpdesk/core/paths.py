"""Where smtpdesk keeps its data: --data-dir, $SMTPDESK_DATA_DIR, or the platform's folder."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "SMTPDESK_DATA_DIR"


def data_dir(override: str | Path | None = None) -> Path:
    chosen = override or os.environ.get(ENV_VAR) or platformdirs.user_data_dir("smtpdesk", False)
    path = Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
