"""``edgeus verify BUNDLE``: schema, file hashes, then the conformance vectors on this machine.

The order matters: a bundle whose files do not match the manifest is not run at all (the vectors and the
model could both have been swapped); a bundle whose files match is run, and each vector row says how far
this machine's outputs are from the bundle's own outputs and from the fp32 reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeus.bundle.conformance import VectorCheck, check_vectors
from edgeus.bundle.golden import check_golden
from edgeus.bundle.manifest import schema_problems
from edgeus.errors import VerifyFailed  # noqa: F401 -- still importable from here, as before
from edgeus.runtime.manifest import BundleError, check_files, read_manifest, unlisted_files


@dataclass
class VerifyReport:
    bundle: str
    engine_status: str = "unknown"
    backend: str = "unknown"
    schema_problems: list[str] = field(default_factory=list)
    file_problems: list[str] = field(default_factory=list)
    unlisted_files: list[str] = field(default_factory=list)
    vectors: list[VectorCheck] = field(default_factory=list)
    golden_problems: list[str] = field(default_factory=list)  # this runtime's pre/postprocessing vs golden.npz
    ran_on: str = ""
    emulated: dict | None = None  # bundle/emulated.py's record when the vectors ran on an emulated core
    recorded_on: str | None = None  # the emulated core whose outputs the vectors hold, on another architecture

    @property
    def passed(self) -> bool:
        return (not self.schema_problems and not self.file_problems and bool(self.vectors)
                and all(v.passed for v in self.vectors) and not self.golden_problems)

    def first_problem(self) -> str:
        problems = self.schema_problems + self.file_problems + [
            f"conformance {v.task} ({v.output}): deviation {v.reference_deviation:.4g} from fp32 (tol "
            f"{v.reference_atol:.4g})" + ("" if v.bundle_deviation is None else
                                          f", {v.bundle_deviation:.4g} from the bundle's outputs (tol {v.bundle_atol:.4g})")
            for v in self.vectors if not v.passed] + self.golden_problems
        if not problems and not self.vectors:
            problems = ["no conformance vectors ran"]
        hint = (f"; the vectors hold {self.recorded_on}'s outputs and this machine is not one: "
                "'edgeus verify --emulate' checks them there" if self.recorded_on and self.vectors and
                not self.emulated and any(not v.passed for v in self.vectors) else "")
        return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "") + hint

    def to_dict(self) -> dict:
        return {"bundle": self.bundle, "passed": self.passed, "engine_status": self.engine_status,
                "backend": self.backend, "schema_problems": self.schema_problems, "file_problems": self.file_problems,
                "unlisted_files": self.unlisted_files, "ran_on": self.ran_on,
                "vectors": [v.to_dict() for v in self.vectors], "golden_problems": self.golden_problems,
                "emulated": self.emulated}


def _vector_runner(bundle: Path, manifest: dict, threads: int | None):
    """The engine for a ready bundle; the portable fp32 ONNX (ONNX Runtime) while the engine is pending."""
    from edgeus.runtime.bundle import open_engine, require_backend

    engine = manifest["engine"]
    if engine["status"] == "ready":
        return open_engine(bundle, manifest, threads)
    require_backend("onnxruntime", bundle)
    from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
    from edgeus.util.paths import inside

    portable = inside(bundle, engine["portable_model"], "manifest engine.portable_model", BundleError)
    return OnnxRuntimeRunner(portable, threads=threads, name=f"portable:{bundle.name}")


def verify(bundle: str | Path, *, threads: int | None = None, progress=None, emulate: bool = False) -> VerifyReport:
    """``emulate``: run the vectors on the profile's CPU core under QEMU (an aarch64 bundle on an x86 machine)
    instead of on this machine; refused up front where the target needs no emulation or none is here."""
    from edgeus.util.toolchain import machine_description

    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    emulation = _emulation(bundle, manifest) if emulate else None  # before any work: one line if impossible
    report = VerifyReport(str(bundle))
    report.schema_problems = [f"manifest.json: {p}" for p in schema_problems(manifest)]
    if report.schema_problems:
        return report
    report.engine_status, report.backend = manifest["engine"]["status"], manifest["engine"]["backend"]
    report.file_problems = check_files(bundle, manifest)
    report.unlisted_files = unlisted_files(bundle, manifest)
    if report.file_problems:
        return report  # never run a model whose files are not the ones the manifest vouches for
    if emulation is not None:
        from edgeus.bundle.emulated import run_emulated

        cpu_model, emulator, land = emulation
        record, report.vectors = run_emulated(bundle, manifest["engine"], cpu_model, emulator, land, threads)
        report.emulated = record.to_dict()
        report.ran_on = f"{record.where}, {record.emulator}"
    else:
        from edgeus.bundle.emulated import needs_emulation

        on_target = manifest.get("conformance", {}).get("on_target") or {}
        if on_target.get("recorded_on_core") and needs_emulation(manifest["profile"]["hardware"]["arch"]):
            report.recorded_on = on_target.get("cpu_model")
        machine = machine_description()
        report.ran_on = f"{machine.get('cpu')} ({machine.get('cores')} cores)"
        with _vector_runner(bundle, manifest, threads) as runner:
            report.vectors = check_vectors(bundle, runner, progress)
    report.golden_problems = check_golden(bundle)
    return report


def _emulation(bundle: Path, manifest: dict) -> tuple:
    """(cpu model, emulator, userland) for ``--emulate``; one clear error when it does not apply or is missing."""
    from edgeus.bundle.emulated import check_emulation_target, prepare

    if manifest.get("engine", {}).get("status") != "ready":
        raise BundleError(f"{bundle}: the engine is pending; emulated conformance runs a ready engine")
    _, cpu_model = check_emulation_target(manifest, bundle)
    emulator, land = prepare(manifest, cpu_model)
    return cpu_model, emulator, land
