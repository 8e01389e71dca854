"""Engine file names and the compatibility rules of engines and recipes.

A serialized engine runs only with the TensorRT version that built it and (unless built hardware-compatible)
on GPUs of the compute capability it was built for; on Jetson it is also tied to the L4T release. The file
name says all of it, and a sidecar JSON records it for the checks below.
"""

from __future__ import annotations

import re

from edgeus.backends.tensorrt.device import DeviceIdentity

ENGINE_SIDECAR_SUFFIX = ".json"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower().replace("nvidia", "")).strip("-")


def engine_file_name(device: DeviceIdentity, precision: str) -> str:
    """e.g. ``model.int8.orin.sm87.trt10.3.0.l4t36.4.0.engine`` or ``model.fp16.rtx-a4000.sm86.trt10.8.0.engine``."""
    parts = ["model", precision, slug(device.gpu), f"sm{device.compute_capability.replace('.', '')}",
             f"trt{device.tensorrt}"]
    if device.l4t:
        parts.append(f"l4t{device.l4t}")
    return ".".join(parts) + ".engine"


def _capability(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


def engine_problem(built_for: dict, device: DeviceIdentity) -> str | None:
    """Why an engine built for ``built_for`` (its sidecar) cannot run on ``device``; None when it can."""
    built = DeviceIdentity(built_for["gpu"], built_for["compute_capability"], built_for.get("tensorrt"),
                           built_for.get("l4t"))
    where = f"engine built for {built.describe()} cannot run on {device.describe()}"
    if built.tensorrt != device.tensorrt:
        return f"{where}: TensorRT versions differ; rebuild it here with 'edgeus finalize --rebuild'"
    compatibility = built_for.get("hardware_compatibility", "none")
    if compatibility == "ampere_plus":
        if _capability(device.compute_capability) < (8, 0):
            return f"{where}: a hardware-compatible (Ampere+) engine needs compute capability 8.0 or newer"
    elif built.compute_capability != device.compute_capability:
        return f"{where}: compute capabilities differ; rebuild it here with 'edgeus finalize --rebuild'"
    if built.l4t != device.l4t:
        return f"{where}: L4T (JetPack) releases differ; rebuild it on this device"
    return None


def recipe_problem(settings: dict, device: DeviceIdentity) -> str | None:
    """Why a deferred bundle's recipe must not be built on ``device``; None when it fits."""
    wanted = settings.get("target_compute_capability")
    if wanted and wanted != device.compute_capability:
        return (f"the recipe is for {settings.get('target_device') or 'another device'} (compute capability {wanted}); "
                f"this GPU is {device.gpu} (compute capability {device.compute_capability}): build a bundle for a "
                "profile of this device instead")
    if settings.get("hardware_compatibility", "none") != "none" and device.jetson:
        return "hardware-compatible engines are not supported on JetPack; set hardware_compatibility = \"none\""
    if settings.get("dla_core") is not None and not device.jetson:
        return f"the recipe runs on DLA core {settings['dla_core']}, which only Jetson modules have; this is {device.gpu}"
    return None
