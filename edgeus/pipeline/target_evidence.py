"""Where a build's evidence was computed, and the conformance check on the target's ISA.

* ``evidence_isa``: the runtime settings that make this machine compute what the target's runtime will
  (ONNX Runtime: the target's session, no x86-only rewrites; OpenVINO: oneDNN capped at the target's ISA) and
  the record the manifest carries of it. Called before any work: the OpenVINO cap must precede the first kernel.
* ``conformance_check``: for a target of another architecture, the bundle's vectors run on the profile's CPU
  core under QEMU (bundle/emulated.py) before the manifest is written; its verdict joins the build's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeus.backends.onnxruntime.target import X86_ONLY_TRANSFORMS, target_session
from edgeus.backends.openvino.isa_cap import apply_target_isa
from edgeus.bundle.emulated import EmulatedConformance, emulated_conformance, needs_emulation
from edgeus.contracts.profiles import Backend, DeviceProfile
from edgeus.pipeline.context import BuildResult
from edgeus.pipeline.verdicts import Verdict, all_passed
from edgeus.util.toolchain import cpu_isa, host_arch


def evidence_isa(profile: DeviceProfile) -> dict:
    here = host_arch()
    record = {"machine": here, "host_features": cpu_isa(), "target_arch": profile.hardware.arch,
              "target_features": profile.hardware.cpu_features, "target_cpu": profile.hardware.cpu_model}
    if profile.backend == Backend.openvino:
        return {**record, **apply_target_isa(profile.hardware.cpu_features, cpu_isa())}
    if profile.backend == Backend.onnxruntime:
        session = target_session(profile.hardware.arch)
        removed = [t for t in X86_ONLY_TRANSFORMS if here == "x86_64"] if session else []
        return {**record, "runtime": "onnxruntime", "session": session,
                "computed_with": f"{here} kernels of this machine ({', '.join(cpu_isa()) or 'baseline'})",
                "note": (f"the target's session: x86-only rewrites off ({', '.join(removed)}); integer kernels "
                         "still this machine's: the vectors are checked on the target's core, emulated")
                if removed else "this machine's ONNX Runtime session, the target's architecture"}
    if profile.backend == Backend.executorch:
        return {**record, "runtime": "executorch (XNNPACK)",
                "computed_with": f"{here} XNNPACK kernels of this machine ({', '.join(cpu_isa()) or 'baseline'})",
                "note": "the .pte is the device's program; its kernels here are this machine's: the vectors are "
                        "recorded and checked on the target's core, emulated (aarch64 XNNPACK kernels)"
                if here != profile.hardware.arch else "this machine's XNNPACK kernels, the target's architecture"}
    if profile.backend == Backend.coreml:
        return {**record, "runtime": "coreml",
                "computed_with": f"a torch-side simulation of the plan on {here} (Core ML runs only on Apple's OSes)",
                "note": "no figure of the Core ML model itself until it is checked on a Mac (model/recipe.json)"}
    return {**record, "runtime": profile.backend.value, "computed_with": "the device (engine built there)"}


def conformance_verdict(record: EmulatedConformance) -> Verdict:
    item = f"conformance on {record.cpu_model or 'the target ISA'} (emulated)"
    total = len(record.vectors)
    if record.state == "not checked":
        return Verdict(item, None, float(total or 1), "vectors", None,
                       f"not checked on the target ISA: {record.reason}", "inconclusive", floor=True)
    passed = sum(v["passed"] for v in record.vectors)
    failed = record.failed_vectors()
    return Verdict(item, float(passed), float(total), "vectors", passed == total,
                   f"{record.emulator}; " + (f"failed: {', '.join(failed)}" if failed else "every vector within tolerance"),
                   floor=True)


def conformance_check(profile: DeviceProfile, result: BuildResult,
                      progress: Callable[[str], None] | None = None) -> Callable | None:
    """What the bundle writer calls once its folder holds the model and the vectors: (record, verdicts,
    passed). None where the target's architecture is this machine's (the vectors ran on its kernels)."""
    if not needs_emulation(profile.hardware.arch) or profile.backend == Backend.tensorrt:
        return None

    def check(folder: Path, manifest: dict) -> tuple[dict, list[dict], bool]:
        record = emulated_conformance(folder, manifest, progress)
        result.target_conformance = record
        result.verdicts.append(conformance_verdict(record))
        result.passed = result.passed and all_passed(result.verdicts, profile.budgets.strict)
        return record.to_dict(), [v.to_dict() for v in result.verdicts], result.passed

    return check
