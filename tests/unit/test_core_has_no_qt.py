"""core/ must stay importable without Qt: the CLI and the engine run headless."""

import ast
from pathlib import Path

import smtpdesk.core

CORE = Path(smtpdesk.core.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_module_under_core_imports_qt() -> None:
    files = list(CORE.rglob("*.py"))
    assert len(files) > 5
    offenders = {
        str(path.relative_to(CORE)): sorted(
            m
            for m in imported_modules(path)
            if m.split(".")[0] in {"PySide6", "qasync", "pyqtgraph"}
        )
        for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}
