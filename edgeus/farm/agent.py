"""``edgeus farm agent``: make this device a Ray worker node that serves the profiles its identity matches."""

from __future__ import annotations

import json
import os
import subprocess

from edgeus.farm.cluster import DEVICE_SLOT, FarmError, check_reachable, profile_resource, ray_cli
from edgeus.farm.identity import served_profiles
from edgeus.util.device_identity import IDENTITY_ENV, describe, detect_identity


def agent_command(address: str, profiles: list[str], identity: dict, num_cpus: int | None = None) -> list[str]:
    resources = {profile_resource(p): 1 for p in profiles}
    resources[DEVICE_SLOT] = 1
    command = [ray_cli(), "start", f"--address={address}", f"--resources={json.dumps(resources)}", "--block",
               "--disable-usage-stats"]
    if num_cpus is not None:
        command.append(f"--num-cpus={num_cpus}")
    return command


def run_agent(address: str, requested: list[str] | None, num_cpus: int | None = None, echo=print,
              extra_dirs: list | None = None) -> int:
    identity = detect_identity()
    served, refused = served_profiles(identity, requested, extra_dirs)
    for name, reasons in refused.items():
        if requested:  # only the profiles asked for are worth a line
            echo(f"refused {name}: {'; '.join(reasons)}")
    if not served:
        raise FarmError(f"{describe(identity)} serves none of the profiles "
                        f"{', '.join(requested) if requested else 'known here'}; see the reasons above")
    check_reachable(address)
    echo(f"{describe(identity)} joins {address}, serving {', '.join(served)}")
    # The identity travels with the node: every task Ray runs there sees the same one (and a fake one in tests).
    env = {**os.environ, IDENTITY_ENV: json.dumps(identity)}
    try:
        return subprocess.run(agent_command(address, served, identity, num_cpus), env=env).returncode
    except KeyboardInterrupt:
        return 130
