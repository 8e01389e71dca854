"""A real Ray cluster on loopback for the farm tests: Ray's own head and ``edgeus farm agent`` processes,
each with a fake device identity (EDGEUS_FARM_IDENTITY)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from conftest import TESTS

SCANNER = {"name": "scanner-a", "arch": "x86_64", "cpu": "fake Core i7-1185G7",
           "cpu_features": ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni"],
           "backends": ["onnxruntime", "openvino"]}
HANDHELD = {"name": "handheld-b", "arch": "aarch64", "cpu": "fake RK3588", "cpu_features": ["asimd", "asimddp", "fphp"],
            "backends": ["onnxruntime"]}
TARGETS = "cpu-x86-scanner,cpu-arm-handheld"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(identity: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "RAY_USAGE_STATS_ENABLED": "0"}
    if identity:
        env["EDGEUS_FARM_IDENTITY"] = json.dumps(identity)
    return env


def _ray() -> str:
    return str(Path(sys.executable).parent / "ray")


class Farm:
    def __init__(self, tmp: Path, agents=(("a", None, "cpu-x86-scanner"), ("b", None, "cpu-arm-handheld"))) -> None:
        self.address = f"127.0.0.1:{_free_port()}"
        self.agents: dict[str, subprocess.Popen] = {}
        subprocess.run([_ray(), "start", "--head", f"--port={self.address.split(':')[1]}", "--num-cpus=0",
                        "--include-dashboard=false", "--disable-usage-stats"], check=True, capture_output=True,
                       env=_env(), timeout=120)
        self.tmp = tmp
        for name, identity, profile in agents:
            self.start_agent(name, identity, profile)

    def start_agent(self, name: str, identity: dict | None, profile: str) -> None:
        identity = identity or {"cpu-x86-scanner": SCANNER, "cpu-arm-handheld": HANDHELD}[profile]
        log = open(self.tmp / f"agent-{name}.log", "w")  # noqa: SIM115 -- closed with the process
        self.agents[name] = subprocess.Popen(
            [sys.executable, "-m", "edgeus", "farm", "agent", "--address", self.address, "--profile", profile,
             "--num-cpus", "1"], env=_env(identity), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.wait_for([profile])  # one node starting at a time: two at once can time out on 2 cores

    def wait_for(self, profiles: list[str]) -> None:
        code = (f"from edgeus.farm.build import wait_for_devices\nwait_for_devices({self.address!r}, {profiles!r}, 120)")
        subprocess.run([sys.executable, "-c", code], check=True, env=_env(), timeout=180, capture_output=True)

    def kill(self, name: str) -> None:
        """The device dies: its whole process group (raylet, workers) gets SIGKILL."""
        os.killpg(self.agents[name].pid, signal.SIGKILL)

    def stop(self) -> None:
        for proc in self.agents.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        subprocess.run([_ray(), "stop", "--force"], capture_output=True, timeout=120)
