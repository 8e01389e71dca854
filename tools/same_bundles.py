"""Are two bundles the same where it matters: the model files, the conformance vectors and accuracy.json,
byte for byte? (The records' wall times, compile.json, and the plans table's timings differ run to run.)

    python tools/same_bundles.py BEFORE_BUNDLE AFTER_BUNDLE

How a refactoring proves it changed no output: build the default targets before and after into fresh
folders and compare. Exit 0 when all compared files are equal, 1 otherwise."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

COMPARED = ("model", "conformance", "accuracy.json")
RUN_TO_RUN = {"model/compile.json", "model/quantize.json"}  # wall times inside


def compared_files(bundle: Path) -> dict[str, str]:
    files = {}
    for top in COMPARED:
        path = bundle / top
        for file in sorted([path] if path.is_file() else path.rglob("*")):
            rel = file.relative_to(bundle).as_posix()
            if file.is_file() and rel not in RUN_TO_RUN:
                files[rel] = hashlib.sha256(file.read_bytes()).hexdigest()
    return files


def main(before: str, after: str) -> int:
    a, b = compared_files(Path(before)), compared_files(Path(after))
    differing = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    for rel in sorted(a.keys() | b.keys()):
        print(f"{'DIFF' if rel in differing else 'same'}  {rel}")
    print(f"{len(a.keys() | b.keys()) - len(differing)} of {len(a.keys() | b.keys())} files equal byte for byte")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
