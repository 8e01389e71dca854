"""Where edgeus keeps what it makes once and reuses: phantom data, the emulated userland (``EDGEUS_CACHE``,
default ``~/.cache/edgeus``). Standard library only: the vendor side reads it too."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEUS_CACHE", Path.home() / ".cache" / "edgeus"))
