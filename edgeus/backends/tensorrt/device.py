"""Which NVIDIA device this is: GPU name, compute capability, TensorRT version, L4T release (Jetson).

Engines are specific to all of these, so they name engine files, go into engine sidecars and decide whether a
recipe or an engine fits this machine. Detection never fails loudly: no GPU means ``None``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

NV_TEGRA_RELEASE = Path("/etc/nv_tegra_release")


@dataclass(frozen=True)
class DeviceIdentity:
    gpu: str
    compute_capability: str          # "8.7"
    tensorrt: str | None = None      # "10.3.0"
    l4t: str | None = None           # "36.4.0" on Jetson, None on discrete GPUs

    @property
    def jetson(self) -> bool:
        return self.l4t is not None

    def describe(self) -> str:
        text = f"{self.gpu} (compute capability {self.compute_capability}"
        text += f", TensorRT {self.tensorrt}" if self.tensorrt else ", no TensorRT"
        return text + (f", L4T {self.l4t})" if self.l4t else ")")

    def to_dict(self) -> dict:
        return asdict(self)


def parse_l4t_release(text: str) -> str | None:
    """'# R36 (release), REVISION: 4.0, GCID: ...' -> '36.4.0'."""
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def l4t_release() -> str | None:
    try:
        return parse_l4t_release(NV_TEGRA_RELEASE.read_text())
    except OSError:
        return None


def tensorrt_version() -> str | None:
    try:
        import tensorrt
    except ImportError:
        return None
    return tensorrt.__version__


def _gpu_from_cuda_python() -> tuple[str, str] | None:
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            return None
    err, count = cudart.cudaGetDeviceCount()
    if int(err) != 0 or count == 0:
        return None
    err, prop = cudart.cudaGetDeviceProperties(0)
    if int(err) != 0:
        return None
    name = prop.name.decode() if isinstance(prop.name, bytes) else str(prop.name)
    return name.rstrip("\x00"), f"{prop.major}.{prop.minor}"


def _gpu_from_nvml() -> tuple[str, str] | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(handle)
        major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
    except Exception:  # no library, no driver, no GPU (NVML does not exist on Jetson)
        return None
    return (name.decode() if isinstance(name, bytes) else name), f"{major}.{minor}"


def _gpu_from_torch() -> tuple[str, str] | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(0)
    return torch.cuda.get_device_name(0), f"{major}.{minor}"


def this_device() -> DeviceIdentity | None:
    for probe in (_gpu_from_cuda_python, _gpu_from_nvml, _gpu_from_torch):
        found = probe()
        if found:
            return DeviceIdentity(found[0], found[1], tensorrt_version(), l4t_release())
    return None
