"""Ray, as edgeus uses it: device agents are Ray worker nodes that advertise one custom resource per device
profile they serve (``edgeus-profile:<name>``) and one ``edgeus-device`` slot, so a build task pinned to a
profile lands on a matching device, one measurement at a time per device.

Ray does the scheduling, retries, object transfer and cancellation; edgeus only names the resources.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

from edgeus.errors import EdgeusError

DEVICE_SLOT = "edgeus-device"


class FarmError(EdgeusError):
    """The farm cannot do what was asked (no Ray, no head, no device for a profile)."""


def profile_resource(profile: str) -> str:
    return f"edgeus-profile:{profile}"


def import_ray():
    try:
        import ray
    except ImportError:
        raise FarmError("the device farm needs Ray: pip install 'edgeus[farm]'") from None
    return ray


def ray_cli() -> str:
    """The ``ray`` command of this interpreter's environment."""
    beside = Path(sys.executable).parent / "ray"
    found = str(beside) if beside.is_file() else shutil.which("ray")
    if not found:
        raise FarmError("the 'ray' command is not installed: pip install 'edgeus[farm]'")
    return found


def connect(address: str):
    """Join the farm at ``address`` (host:port of the Ray head) as a driver; quiet on the console."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FarmError(f"cannot reach the farm's Ray head at {address}: {str(exc).splitlines()[0][:200]}") from None
    return ray


def alive_nodes(ray) -> list[dict]:
    return [n for n in ray.nodes() if n.get("Alive")]


def devices_serving(ray, profile: str) -> list[dict]:
    """Alive nodes that advertise the profile."""
    return [n for n in alive_nodes(ray) if n.get("Resources", {}).get(profile_resource(profile), 0) > 0]
