"""Run third-party tools inside a scratch folder: ORT's quantization tools write temporary models into the
current directory, and they must never land in the user's."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[Path]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(previous)
