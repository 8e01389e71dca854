"""Versions of everything that shaped an artefact, and of everything that runs it on the device.

``toolchain_versions`` names the build side's packages (records of stages). ``toolchain_record`` is what a
bundle's manifest carries: those, plus the device-side packages with their dependency closure (what a
vendor's IEC 62304 SOUP list needs), the OS and C library, the CPU's ISA features and the edgeus commit.
"""

from __future__ import annotations

import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("edgeus", "numpy", "torch", "onnx", "onnxslim", "onnxruntime", "openvino", "nncf", "tensorrt", "executorch")
# What the vendor runtime imports on the device, per backend (their dependencies are added from metadata)
DEVICE_ROOTS = {"onnxruntime": ("edgeus", "numpy", "pillow", "onnxruntime"),
                "openvino": ("edgeus", "numpy", "pillow", "openvino"),
                "tensorrt": ("edgeus", "numpy", "pillow", "tensorrt", "cuda-python", "nvidia-ml-py"),
                # the Python vendor runtime's: ExecuTorch as pip installs it (a phone app links its C++ runtime)
                "executorch": ("edgeus", "numpy", "pillow", "executorch", "torch")}
# Only the edgeus runtime's own needs are followed for edgeus itself (its build-side extras never run there)
RUNTIME_OF_EDGEUS = ("numpy", "pillow")
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "bf16",
             "fphp", "asimdhp", "sve")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def toolchain_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def device_packages(backend: str) -> dict[str, str]:
    """Installed distributions the device runs for ``backend``: the roots and their (non-extra) dependencies,
    as installed here. Name -> version, sorted."""
    found: dict[str, str] = {}
    queue = list(DEVICE_ROOTS.get(backend, ("edgeus", "numpy", "pillow")))
    while queue:
        name = queue.pop()
        dist = _installed(name)
        if dist is None:
            continue
        key = dist.metadata["Name"].lower()
        if key in found:
            continue
        found[key] = dist.version
        requires = RUNTIME_OF_EDGEUS if key == "edgeus" else [
            r for r in (dist.requires or []) if "extra ==" not in r and "extra==" not in r]
        for requirement in requires:
            match = _NAME.match(requirement)
            if match and _marker_applies(requirement):
                queue.append(match.group(1))
    return dict(sorted(found.items()))


def _marker_applies(requirement: str) -> bool:
    if ";" not in requirement:
        return True
    try:
        from packaging.requirements import Requirement
    except ImportError:
        return True  # without packaging, list it: a SOUP list errs on the side of completeness
    try:
        marker = Requirement(requirement).marker
    except Exception:  # noqa: BLE001 -- an unparsable requirement is listed, not fatal
        return True
    return marker is None or marker.evaluate()


def cpu_isa() -> list[str]:
    """The ISA features of this CPU that matter to inference kernels (from /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            flags |= set(line.split(":", 1)[1].split())
    return [f for f in ISA_FLAGS if f in flags]


def edgeus_commit() -> str | None:
    """The git commit of the edgeus source in use (with '+dirty' for local changes); None outside a checkout."""
    source = Path(__file__).resolve().parents[2]
    if not (source / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def toolchain_record(backend: str) -> dict:
    libc, libc_version = platform.libc_ver()
    return {**toolchain_versions(), "os": platform.platform(), "libc": f"{libc} {libc_version}".strip() or None,
            "cpu_isa": cpu_isa(), "edgeus_commit": edgeus_commit(), "device_packages": device_packages(backend)}


def machine_description() -> dict:
    import os
    import platform

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(), "system": platform.system()}


def host_arch() -> str:
    """This machine's architecture in profile spelling (``x86_64``, ``aarch64``): macOS says arm64, Windows AMD64."""
    import platform

    return platform.machine().replace("arm64", "aarch64").replace("AMD64", "x86_64")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. a container's cpuset), at least 1: no timing
    uses more threads than this, since two threads on one core time the scheduler, not the model."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
