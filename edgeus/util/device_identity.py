"""What this device is: CPU model and ISA features, cores, memory, architecture, GPU and compute capability,
TensorRT and L4T versions, the edgeus backends importable here. Recorded with every profile measurement
(perf.json ``device``) and used by the device farm (farm/identity.py) to match devices to profiles.

``EDGEUS_FARM_IDENTITY`` (a JSON object) overrides detected fields: how a test gives two processes of one
machine two different identities, and how an operator pins a device's name.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
from pathlib import Path

IDENTITY_ENV = "EDGEUS_FARM_IDENTITY"
BACKEND_MODULES = {"openvino": "openvino", "onnxruntime": "onnxruntime", "tensorrt": "tensorrt",
                   "executorch": "executorch", "coreml": "coremltools"}


def detect_identity() -> dict:
    from edgeus.util.memory import GpuProcessMemory
    from edgeus.util.toolchain import cpu_isa, machine_description

    machine = machine_description()
    identity = {
        "name": platform.node(),
        "cpu": machine.get("cpu"),
        "arch": platform.machine(),
        "os": platform.system(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "cpu_features": cpu_isa(),
        "gpu": None,
        "compute_capability": None,
        "tensorrt": _version("tensorrt"),
        "l4t": _l4t_release(),
        "backends": sorted(b for b, module in BACKEND_MODULES.items() if importlib.util.find_spec(module)),
    }
    gpu = GpuProcessMemory()
    if gpu.available:
        identity["gpu"], identity["compute_capability"] = _gpu_name_and_capability()
    override = os.environ.get(IDENTITY_ENV)
    if override:
        try:
            identity.update(json.loads(override))
        except json.JSONDecodeError as exc:
            from edgeus.errors import EdgeusError

            raise EdgeusError(f"{IDENTITY_ENV} is not a JSON object: {exc}") from None
    return identity


def describe(identity: dict) -> str:
    """One line: 'name (CPU, N cores, GPU)'."""
    gpu = f", {identity['gpu']} (sm {identity['compute_capability']})" if identity.get("gpu") else ""
    return f"{identity.get('name')} ({identity.get('cpu')}, {identity.get('cores')} cores{gpu})"


def _memory_gb() -> float | None:
    try:
        import psutil

        return round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        return None


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 -- a module without distribution metadata (JetPack's apt TensorRT)
        return None


def _l4t_release() -> str | None:
    """Jetson: 'R36 (release), REVISION: 3.0' from /etc/nv_tegra_release, as '36.3.0'."""
    try:
        first = Path("/etc/nv_tegra_release").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    parts = first.replace(",", " ").split()
    major = next((p.lstrip("R") for p in parts if p.startswith("R") and p[1:].isdigit()), None)
    revision = parts[parts.index("REVISION:") + 1] if "REVISION:" in parts else None
    return f"{major}.{revision}" if major and revision else first.strip()


def _gpu_name_and_capability() -> tuple[str | None, str | None]:
    try:
        import pynvml

        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(handle)
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
        return (name.decode() if isinstance(name, bytes) else name), f"{major}.{minor}"
    except Exception:  # noqa: BLE001 -- NVML present but the query unsupported: identity without it
        return None, None
