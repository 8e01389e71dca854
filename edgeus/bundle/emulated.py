"""Conformance on the target's ISA, emulated: a bundle's vectors run with its own runtime inside an aarch64
userland under QEMU user-mode, with the profile's CPU model (bundle/emulator.py). What ``edgeus verify
--emulate`` runs, and what a build for another architecture records in its manifest.

The result is one of three states: ``pass`` (every vector within its tolerances on the emulated core),
``fail`` (naming the vectors), ``not checked`` (no emulator here: never a pass)."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeus.bundle.conformance import VectorCheck
from edgeus.bundle.emulator import BOOKWORM, TRIXIE, GuestOS, Userland, find_emulator, guest_cpu, userland
from edgeus.errors import BundleError, EmulatorUnavailable
from edgeus.util.toolchain import host_arch, usable_cores

GUEST_TIMEOUT_S = 3600  # an INT8 model of a few GFLOPs runs ~20-50x slower under TCG than natively
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the edgeus package the guest imports (pure Python)


@dataclass(frozen=True)
class Guest:
    os: GuestOS
    wheels: tuple[str, ...]       # the aarch64 wheels that run the bundle there
    runtime: str                  # what the evidence calls the runtime


# ExecuTorch's own aarch64 wheel links torch, whose only aarch64 2.13.0 wheel on PyPI links CUDA (import torch
# wants libcublasLt & co.: GBs in the userland for a CPU check); the torch-free executorch-numpy-runtime
# (backends/executorch/runner.py) needs Python >= 3.12, hence Debian 13's userland
GUESTS = {"onnxruntime": Guest(BOOKWORM, ("onnxruntime", "numpy"), "ONNX Runtime"),
          "executorch": Guest(TRIXIE, ("executorch-numpy-runtime", "numpy"), "ExecuTorch (XNNPACK)")}
# versions used where the bundle records none and the build machine has none (its Python 3.11 cannot install it)
PINNED = {"executorch-numpy-runtime": "1.4.0"}
EMULATED_BACKENDS = " and ".join(g.runtime for g in GUESTS.values())


@dataclass
class EmulatedConformance:
    state: str                                     # pass, fail, not checked
    cpu_model: str | None
    reason: str = ""
    emulator: str = ""
    userland: str = ""
    threads: int = 0
    vectors: list[dict] = field(default_factory=list)  # per vector: task, output, max |diff|, agreement, passed
    recorded_on_core: list[dict] = field(default_factory=list)  # build: this machine's outputs vs the core's

    @property
    def where(self) -> str:
        return f"{self.cpu_model} (emulated)"

    def failed_vectors(self) -> list[str]:
        return [f"{v['task']} ({v['output']})" for v in self.vectors if not v["passed"]]

    def summary(self) -> str:
        if self.state == "not checked":
            return f"conformance on {self.cpu_model or 'the target ISA'}: not checked on the target ISA ({self.reason})"
        passed = sum(v["passed"] for v in self.vectors)
        line = f"conformance on {self.where}: {passed}/{len(self.vectors)} vectors pass ({self.emulator})"
        failed = self.failed_vectors()
        return line + (f"; failed: {', '.join(failed)}" if failed else "") + self.recorded_note()

    def recorded_note(self) -> str:
        if not self.recorded_on_core:
            return ""
        worst = max(self.recorded_on_core, key=lambda r: r["build_machine_vs_core"])
        return (f"; the vectors hold {self.cpu_model}'s outputs (this build machine's kernels differed by up to "
                f"{worst['build_machine_vs_core']:.3g} on {worst['task']})")

    def to_dict(self) -> dict:
        return {**asdict(self), "where": self.where}


def needs_emulation(arch: str) -> bool:
    return host_arch() != arch


def check_emulation_target(manifest: dict, bundle: Path) -> tuple[str, str]:
    """(arch, cpu model) of a bundle's target, refused with one line where emulation does not apply."""
    hardware = manifest.get("profile", {}).get("hardware", {})
    arch, cpu_model = hardware.get("arch"), hardware.get("cpu_model")
    if not needs_emulation(arch):
        raise BundleError(f"{bundle}: its target is {arch}, like this machine: it needs no emulation "
                          "(run 'edgeus verify' without --emulate)")
    if arch != "aarch64":
        raise BundleError(f"{bundle}: no emulation for {arch} targets (aarch64 only)")
    if not cpu_model:
        raise BundleError(f"{bundle}: its profile names no CPU core to emulate (profile key hardware.cpu_model)")
    backend = manifest["engine"]["backend"]
    if backend not in GUESTS:
        raise BundleError(f"{bundle}: {backend} bundles are not emulated ({EMULATED_BACKENDS} only: TensorRT "
                          "needs the GPU, Core ML a Mac)")
    return arch, cpu_model


def prepare(manifest: dict, cpu_model: str, progress=None) -> tuple:
    """(emulator, userland) for this bundle, the userland built once; EmulatorUnavailable when there is none."""
    emulator = find_emulator(cpu_model)
    guest = GUESTS[manifest["engine"]["backend"]]
    recorded = manifest.get("toolchain", {}).get("device_packages", {})
    wheels = {name: recorded.get(name) or PINNED.get(name) or _installed(name) for name in guest.wheels}
    return emulator, userland(wheels, guest.os, progress)


def _installed(name: str) -> str:
    """The version installed here, for a bundle that does not name one."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        raise EmulatorUnavailable(f"the bundle names no {name} version and none is installed here: "
                                  f"pip install {name}") from None


def _guest(mode: str, folder: Path, engine: dict, cpu_model: str, emulator, land: Userland, threads: int,
           *extra: str) -> dict:
    """One run of bundle/guest_vectors.py on the emulated core; its JSON line."""
    with tempfile.TemporaryDirectory(prefix="edgeus-guest-") as shim, guest_cpu(land, cpu_model, usable_cores()):
        os.symlink(PACKAGE_DIR, Path(shim) / "edgeus")  # only edgeus is seen from this machine's Python
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": f"{land.site}:{shim}", "OMP_NUM_THREADS": str(threads)}
        cmd = [str(emulator.binary), "-cpu", emulator.cpu_argument or cpu_model, "-L", str(land.root),
               str(land.root / "usr/bin/python3"),
               "-m", "edgeus.bundle.guest_vectors", mode, str(Path(folder).resolve()), json.dumps(engine),
               str(threads), *extra]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=GUEST_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise EmulatorUnavailable(f"the emulated run on {cpu_model} took over {GUEST_TIMEOUT_S} s; stopped") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise EmulatorUnavailable(f"the emulated run on {cpu_model} failed (exit {done.returncode}): {tail[:300]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out["machine"] != "aarch64":
        raise EmulatorUnavailable(f"the guest reported machine {out['machine']!r}, not aarch64: not emulated")
    return out


def _threads(engine: dict, threads: int | None) -> int:
    return max(1, min(threads or engine.get("settings", {}).get("threads") or 1, usable_cores()))


def run_emulated(folder: Path, engine: dict, cpu_model: str, emulator, land: Userland,
                 threads: int | None = None) -> tuple[EmulatedConformance, list[VectorCheck]]:
    """Check the vectors of the bundle (or bundle-to-be) in ``folder`` with ``engine`` (its manifest entry) on
    the emulated core: the record, and the checks as ``edgeus verify`` shows them."""
    threads = _threads(engine, threads)
    out = _guest("check", folder, engine, cpu_model, emulator, land, threads)
    checks = [VectorCheck(**c) for c in out["checks"]]
    vectors = [{"task": c.task, "output": c.output, "max_abs_diff": c.bundle_deviation,
                "reference_deviation": c.reference_deviation, "agreement": c.agreement, "passed": c.passed,
                "bundle_atol": c.bundle_atol, "reference_atol": c.reference_atol} for c in checks]
    runtime = ", ".join(f"{k} {v}" for k, v in out["runtime"].items())
    return EmulatedConformance("pass" if checks and all(c.passed for c in checks) else "fail", cpu_model,
                               emulator=emulator.describe(), userland=f"{land.describe()}; ran {runtime}",
                               threads=threads, vectors=vectors), checks


def record_on_target(folder: Path, engine: dict, precision: str, cpu_model: str, emulator, land: Userland) -> list[dict]:
    """The vectors' own outputs recomputed on the emulated core and written in place of this machine's: a
    device reproduces its core's integer kernels, not the build machine's (x86 and ARM INT8 kernels round
    differently, a step of the output scale here and there). Returns how far this machine's outputs were from
    the core's, per vector (what the accuracy evidence, computed here, may differ by on the device)."""
    import numpy as np

    from edgeus.bundle.conformance import load_vectors, replace_bundle_outputs

    index, arrays = load_vectors(folder)
    with tempfile.TemporaryDirectory(prefix="edgeus-record-") as tmp:
        target = Path(tmp) / "outputs.npz"
        _guest("record", folder, engine, cpu_model, emulator, land, _threads(engine, None), str(target))
        with np.load(target, allow_pickle=False) as data:
            outputs = [data[str(i)] for i in range(len(index["tasks"]))]
    here = [arrays[row["bundle"]] for row in index["tasks"]]
    replace_bundle_outputs(folder, outputs, precision)
    return [{"task": row["task"], "output": row["output"],
             "build_machine_vs_core": float(np.max(np.abs(h.astype(np.float64) - o)))}
            for row, h, o in zip(index["tasks"], here, outputs, strict=True)]


def emulated_conformance(folder: Path, manifest: dict, progress=None) -> EmulatedConformance:
    """For a build: the vectors' own outputs recorded on the profile's core (emulated), then checked there
    through the vendor runtime's path in a fresh process; an emulator missing here gives 'not checked' with
    the reason (the vectors then keep this machine's numbers, and say so)."""
    hardware = manifest["profile"]["hardware"]
    cpu_model = hardware.get("cpu_model")
    if hardware.get("arch") != "aarch64" or manifest["engine"]["backend"] not in GUESTS:
        return EmulatedConformance("not checked", cpu_model, f"no emulation for {hardware.get('arch')} "
                                   f"{manifest['engine']['backend']} targets (aarch64 {EMULATED_BACKENDS} only)")
    if not cpu_model:
        return EmulatedConformance("not checked", None, "the profile names no CPU core (hardware.cpu_model)")
    try:
        emulator, land = prepare(manifest, cpu_model, progress)
        key = _result_key(folder, manifest, cpu_model, emulator, land)
        cached = _cached(key, folder, manifest["target"]["precision"])
        if cached is not None:
            return cached
        if progress:
            progress(f"conformance vectors recorded and checked on {cpu_model} (emulated)")
        recorded = record_on_target(folder, manifest["engine"], manifest["target"]["precision"], cpu_model,
                                    emulator, land)
        result, _ = run_emulated(folder, manifest["engine"], cpu_model, emulator, land)
    except EmulatorUnavailable as exc:
        return EmulatedConformance("not checked", cpu_model, str(exc))
    result.recorded_on_core = recorded
    _store(key, folder, result)
    return result


def _result_key(folder: Path, manifest: dict, cpu_model: str, emulator, land: Userland) -> str:
    """What an emulated result depends on: the model's and the vectors' bytes (as this machine wrote them),
    the engine settings, the core, the emulator and the userland."""
    import hashlib

    from edgeus.bundle.conformance import load_vectors
    from edgeus.util.hashing import sha256_file

    engine = manifest["engine"]
    digest = hashlib.sha256()
    _, arrays = load_vectors(folder)  # by content: the .npz file's bytes carry zip timestamps
    for name in sorted(arrays):
        digest.update(name.encode() + str(arrays[name].dtype).encode() + arrays[name].tobytes())
    parts = [sha256_file(folder / engine["model"]), digest.hexdigest(), json.dumps(engine, sort_keys=True),
             cpu_model, emulator.describe(), json.dumps(land.record, sort_keys=True)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def _results_dir() -> Path:
    from edgeus.bundle.emulator import emulation_cache

    return emulation_cache() / "results"


def _cached(key: str, folder: Path, precision: str) -> EmulatedConformance | None:
    """A result computed before for these exact bytes: the core's outputs go into the vectors again."""
    import numpy as np

    from edgeus.bundle.conformance import replace_bundle_outputs

    record, outputs = _results_dir() / f"{key}.json", _results_dir() / f"{key}.npz"
    if not (record.is_file() and outputs.is_file()):
        return None
    with np.load(outputs, allow_pickle=False) as data:
        replace_bundle_outputs(folder, [data[str(i)] for i in range(len(data.files))], precision)
    return EmulatedConformance(**json.loads(record.read_text()))


def _store(key: str, folder: Path, result: EmulatedConformance) -> None:
    import numpy as np

    from edgeus.bundle.conformance import load_vectors

    index, arrays = load_vectors(folder)
    target = _results_dir()
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f".{key}.{os.getpid()}.npz"
    np.savez(tmp, **{str(i): arrays[row["bundle"]] for i, row in enumerate(index["tasks"])})
    tmp.replace(target / f"{key}.npz")
    text = target / f".{key}.{os.getpid()}.json"
    text.write_text(json.dumps(asdict(result)))
    text.replace(target / f"{key}.json")  # written last: its presence means the outputs are complete
