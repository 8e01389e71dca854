"""QEMU user-mode and an aarch64 userland: what runs a bundle's conformance vectors on an ARM core's kernels
on an x86 build machine.

The userland is built once from real packages and cached under ``EDGEUS_CACHE/emulation``:

* Debian's arm64 packages by ``debootstrap --foreign`` (Python 3 and its libraries); the packages are unpacked
  with the host's ``dpkg-deb``, so nothing arm64 has to run to install them (no binfmt_misc, no chroot).
* aarch64 wheels of the bundle's runtime by ``pip install --target --platform manylinux_2_28_aarch64``, run
  on the host (pip in the userland would lack the host's CA certificates), at the versions the bundle names.

It runs as ``qemu-aarch64 -cpu MODEL -L ROOT ROOT/usr/bin/python3``: QEMU resolves absolute paths inside ROOT
first, so the guest sees ROOT's ``/proc/cpuinfo``, an ARM one for MODEL (QEMU 7.2 passes the host's x86 file
through and ONNX Runtime crashes reading it), and the host's files (the bundle, edgeus's sources) elsewhere.
Building needs root (debootstrap); running does not.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edgeus.errors import EmulatorUnavailable
from edgeus.util.arm_cores import ARM_CORES, cpuinfo_text
from edgeus.util.cache import cache_dir


@dataclass(frozen=True)
class GuestOS:
    suite: str     # the Debian release debootstrap unpacks
    python: str    # its Python (major.minor): what the wheels are chosen for


BOOKWORM = GuestOS("bookworm", "3.11")   # Debian 12
TRIXIE = GuestOS("trixie", "3.13")       # Debian 13: for wheels that need Python >= 3.12
WHEEL_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
MIRROR_ENV = "EDGEUS_DEBIAN_MIRROR"
INSTALL_HINT = "install QEMU user-mode and debootstrap: 'apt-get install qemu-user debootstrap' (Debian/Ubuntu)"


@dataclass(frozen=True)
class Emulator:
    binary: Path
    version: str
    cpus: tuple[str, ...]
    cpu_argument: str = ""  # what -cpu gets (a core QEMU lacks runs as 'max' with extensions off)

    def describe(self) -> str:
        return f"{self.binary.name} {self.version} -cpu {self.cpu_argument}"


def find_emulator(cpu_model: str) -> Emulator:
    """QEMU's aarch64 user-mode emulator, if it is here and emulates ``cpu_model``."""
    found = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if not found:
        raise EmulatorUnavailable(f"no aarch64 emulator (qemu-aarch64) on this machine: {INSTALL_HINT}")
    binary = Path(found)
    version = _run([binary, "--version"]).splitlines()[0]
    cpus = tuple(re.findall(r"^\s+(\S+)", _run([binary, "-cpu", "help"]), re.M))
    argument = ARM_CORES[cpu_model].qemu_argument(cpu_model) if cpu_model in ARM_CORES else cpu_model
    if argument.split(",")[0] not in cpus:
        raise EmulatorUnavailable(f"{binary.name} ({version.split()[-3] if len(version.split()) > 2 else version}) "
                                  f"does not emulate {cpu_model} (it knows {', '.join(cpus)}); a newer QEMU does "
                                  "(Debian bookworm-backports: qemu-user)")
    match = re.search(r"version (\S+)", version)
    return Emulator(binary, match.group(1) if match else version, cpus, argument)


def _run(cmd: list) -> str:
    """stdout of a QEMU query (``-cpu help`` exits 1 after printing the list: the status says nothing)."""
    try:
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EmulatorUnavailable(f"{cmd[0]} does not run here ({exc}): {INSTALL_HINT}") from None


def emulation_cache() -> Path:
    return cache_dir() / "emulation"


@dataclass(frozen=True)
class Userland:
    root: Path
    record: dict

    @property
    def site(self) -> Path:
        return self.root / "opt" / "edgeus" / "site"

    def describe(self) -> str:
        wheels = ", ".join(f"{k} {v}" for k, v in self.record["wheels"].items())
        return f"Debian {self.record['suite']} arm64 (debootstrap), Python {self.record['python']}, {wheels} (aarch64 wheels)"


def userland(wheels: dict[str, str], guest: GuestOS = BOOKWORM, progress=None) -> Userland:
    """The cached userland of ``guest`` with these wheel versions (``{"onnxruntime": "1.32.0", "numpy":
    "2.4.6"}``), built first if it is not there yet."""
    key = f"aarch64-{guest.suite}-" + "-".join(f"{k}{v}" for k, v in sorted(wheels.items()))
    final = emulation_cache() / key
    if (final / "userland.json").is_file():
        return Userland(final / "root", json.loads((final / "userland.json").read_text()))
    return _build_userland(final, wheels, guest, progress)


def _build_userland(final: Path, wheels: dict[str, str], guest: GuestOS, progress) -> Userland:
    if shutil.which("debootstrap") is None:
        raise EmulatorUnavailable(f"no debootstrap to build the aarch64 userland from Debian's packages: {INSTALL_HINT}")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise EmulatorUnavailable(f"building the aarch64 userland needs root once (debootstrap); run "
                                  f"'edgeus verify --emulate' as root one time, it is then cached in {final.parent}")
    final.parent.mkdir(parents=True, exist_ok=True)
    work = final.parent / f".building-{final.name}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    root = work / "root"
    try:
        if progress:
            progress("debootstrap arm64 (Debian packages)")
        mirror = os.environ.get(MIRROR_ENV, "http://deb.debian.org/debian")
        _step(["debootstrap", "--arch=arm64", "--variant=minbase", "--foreign", "--include=python3", guest.suite, root, mirror],
              "debootstrap")
        archives = root / "var" / "cache" / "apt" / "archives"
        debs = sorted(archives.glob("*.deb"))
        for deb in debs:  # unpack on the host: nothing arm64 runs to install (no binfmt_misc, no chroot)
            _step(["dpkg-deb", "-x", deb, root], f"dpkg-deb -x {deb.name}")
        python = next((re.match(r"python3\.\d+-minimal_([^-_]+)", d.name).group(1) for d in debs
                       if re.match(r"python3\.\d+-minimal_", d.name)), "?")
        for deb in debs:
            deb.unlink()
        if progress:
            progress("aarch64 wheels (pip, on this machine)")
        platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
        # --ignore-requires-python: pip checks Requires-Python against the Python it runs under, not the
        # guest's; the wheels' tags (cp313, abi3) still have to fit the guest's Python
        _step([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
               "--target", root / "opt" / "edgeus" / "site", *platforms, "--only-binary=:all:",
               "--python-version", guest.python, "--implementation", "cp", "--ignore-requires-python",
               *(f"{k}=={v}" for k, v in sorted(wheels.items()))], "pip install (aarch64 wheels)")
        record = {"suite": guest.suite, "python": python, "wheels": dict(sorted(wheels.items())), "debs": len(debs)}
        (work / "userland.json").write_text(json.dumps(record, indent=1) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        work.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Userland(final / "root", record)


def _step(cmd: list, what: str) -> None:
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EmulatorUnavailable(f"building the aarch64 userland failed at {what}: {tail[0][:200]}")


@contextmanager
def guest_cpu(land: Userland, cpu_model: str, processors: int):
    """The userland showing ``cpu_model`` in its /proc/cpuinfo, held (one emulated run per userland at once)."""
    lock = (land.root.parent / "cpuinfo.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = land.root / "proc"
        proc.mkdir(exist_ok=True)
        (proc / "cpuinfo").write_text(cpuinfo_text(cpu_model, processors))
        yield land
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
