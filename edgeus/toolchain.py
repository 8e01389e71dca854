"""Versions of everything that shaped an artefact, for manifests and records."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("edgeus", "numpy", "torch", "onnx", "onnxslim", "onnxruntime", "openvino", "nncf", "tensorrt")


def toolchain_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
