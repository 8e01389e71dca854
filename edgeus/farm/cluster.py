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

from edgeus.errors import FarmError

DEVICE_SLOT = "edgeus-device"


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


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """One line at once when nothing listens at ``address`` (host:port, or ray://host:port). Ray itself waits
    a minute or more for an absent head, printing its own warnings, before it gives up. Addresses without a
    port ("auto", a bare host) are left to Ray."""
    import socket

    host_port = address.split("://", 1)[-1]
    host, sep, port = host_port.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise FarmError(f"cannot reach the farm's Ray head at {address}: {reason} (is 'ray start --head' running "
                        "there, and the port open?)") from None


def connect(address: str):
    """Join the farm at ``address`` (host:port of the Ray head) as a driver; quiet on the console."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    check_reachable(address)
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
