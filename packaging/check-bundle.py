"""Check a built Linux bundle: nothing dropped by bundle_filter.py is in it or needed by it.

Usage: python packaging/check-bundle.py dist/smtpdesk
Uses readelf (binutils) to list what each bundled ELF file links against.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bundle_filter import is_dropped


def elf_files(bundle: Path) -> list[Path]:
    found = []
    for path in bundle.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def main(bundle: Path) -> int:
    problems = [
        f"in bundle: {p.relative_to(bundle)}"
        for p in bundle.rglob("*")
        if is_dropped(str(p.relative_to(bundle)))
    ]
    files = elf_files(bundle)
    for path in files:
        problems += [
            f"{path.relative_to(bundle)} needs {lib}" for lib in needed(path) if is_dropped(lib)
        ]
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    print(f"checked {len(files)} ELF files in {bundle}: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
