"""Python 3.10 support: JetPack 6 (Ubuntu 22.04) ships Python 3.10, and its TensorRT bindings are built for it."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised in the Jetson image
    import tomli as tomllib

__all__ = ["tomllib"]
