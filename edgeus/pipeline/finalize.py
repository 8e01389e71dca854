"""``edgeus finalize BUNDLE``: on the target, turn a deferred ("engine pending") bundle into a ready one.

Order of checks, all before anything is written: the manifest and the file hashes (never build from tampered
inputs), TensorRT present and of the supported major version, an NVIDIA GPU present, the recipe meant for this
GPU family. Then, in a copy of the bundle: build the engine (timing cache reused), record its outputs on the
conformance vectors and check them against the fp32 reference, profile, re-validate when data is given,
rewrite the reports and the manifest. The copy replaces the bundle only when all of that succeeded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgeus.errors import BackendError
from edgeus.runtime.manifest import BundleError, check_files, read_manifest


def local_tensorrt_ready() -> bool:
    """TensorRT importable and a GPU visible: an engine can be built on this machine."""
    from edgeus.backends.tensorrt.device import tensorrt_version, this_device

    return tensorrt_version() is not None and this_device() is not None


def _preflight(bundle: Path, rebuild: bool) -> tuple[dict, object, object]:
    from edgeus.backends.tensorrt.builder import import_tensorrt
    from edgeus.backends.tensorrt.device import this_device
    from edgeus.backends.tensorrt.engine_files import recipe_problem

    manifest = read_manifest(bundle)
    engine = manifest["engine"]
    if engine["backend"] != "tensorrt":
        raise BundleError(f"{bundle}: a {engine['backend']} bundle has no engine to finalize (TensorRT bundles only)")
    if engine["status"] == "ready" and not rebuild:
        raise BundleError(f"{bundle}: the engine is already built ({engine['model']}); pass --rebuild to build it again")
    problems = check_files(bundle, manifest)
    if problems:
        raise BundleError(f"{bundle}: refusing to build from a bundle that does not match its manifest: {problems[0]}")
    try:
        trt = import_tensorrt()
    except BackendError as exc:  # not installed, or another major version
        raise BundleError(f"cannot finalize {bundle} on this machine: {exc}") from None
    device = this_device()
    if device is None:
        raise BundleError(f"cannot finalize {bundle} on this machine: no NVIDIA GPU visible (CUDA reports none)")
    problem = recipe_problem(engine["settings"], device)
    if problem:
        raise BundleError(f"cannot finalize {bundle}: {problem}")
    return manifest, trt, device


def finalize(bundle: str | Path, *, data: str | Path | None = None, threads: int | None = None,
             rebuild: bool = False, progress=None) -> dict:
    from edgeus.util.atomic import atomic_dir

    bundle = Path(bundle)
    manifest, trt, device = _preflight(bundle, rebuild)
    with atomic_dir(bundle, replace=True) as tmp:
        shutil.copytree(bundle, tmp, dirs_exist_ok=True)
        return _finalize_in(tmp, manifest, device, Path(data) if data else None, threads)


def _finalize_in(folder: Path, manifest: dict, device, data: Path | None, threads: int | None) -> dict:
    from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
    from edgeus.backends.tensorrt.builder import build_engine
    from edgeus.backends.tensorrt.engine_files import ENGINE_SIDECAR_SUFFIX, engine_file_name
    from edgeus.backends.tensorrt.runner import TensorRTRunner
    from edgeus.backends.tensorrt.settings import BuilderSettings
    from edgeus.bundle.assemble import write_evidence
    from edgeus.bundle.conformance import check_vectors, record_bundle_outputs
    from edgeus.contracts.profiles import DeviceProfile
    from edgeus.models import model_spec
    from edgeus.pipeline.verdicts import judge
    from edgeus.stages.profile import profile_model
    from edgeus.util.toolchain import toolchain_versions

    engine = manifest["engine"]
    settings = BuilderSettings.from_dict(engine["settings"])
    profile = DeviceProfile.model_validate(manifest["profile"])
    spec = model_spec(manifest["model"]["spec"])
    precision = manifest["target"]["precision"]
    model_dir = folder / "model"
    for old in model_dir.glob("*.engine*"):
        old.unlink()  # a rebuild replaces the previous engine and its sidecar
    engine_path = model_dir / engine_file_name(device, precision)
    record = build_engine(folder / settings.onnx, settings, engine_path, folder / settings.timing_cache)
    sidecar = {**device.to_dict(), "hardware_compatibility": settings.hardware_compatibility,
               "precision": precision, "build_seconds": round(record.seconds, 1),
               "timing_cache_reused": record.timing_cache_reused, "warnings": record.warnings}
    engine_path.with_name(engine_path.name + ENGINE_SIDECAR_SUFFIX).write_text(json.dumps(sidecar, indent=1) + "\n")

    with TensorRTRunner(engine_path, name=f"tensorrt:{engine_path.name}") as runner:
        record_bundle_outputs(folder, runner, precision)
        checks = check_vectors(folder, runner)
    failed = [c for c in checks if c.reference_deviation > c.reference_atol]
    if failed:
        worst = max(failed, key=lambda c: c.reference_deviation / max(c.reference_atol, 1e-12))
        raise BundleError(f"the engine built on {device.gpu} departs from the fp32 reference on "
                          f"{worst.task}: {worst.reference_deviation:.4g} > {worst.reference_atol:.4g}")

    samples = []
    accuracy = json.loads((folder / "accuracy.json").read_text())
    if data is not None:
        from edgeus.data.defaults import validation_splits
        from edgeus.stages.validate import validate

        splits = validation_splits(data, spec, False)
        samples = splits["internal"]
        reference = OnnxRuntimeRunner(folder / engine["portable_model"], threads=threads, name="onnxruntime-fp32")
        candidate = TensorRTRunner(engine_path, name=f"tensorrt:{engine_path.name}")
        report = validate(reference, candidate, spec, splits, profile.budgets.accuracy_drop)
        accuracy = report.to_dict()  # written with the rest of the evidence by write_evidence

    perf = profile_model(lambda: TensorRTRunner(engine_path), spec, samples, model_files=[engine_path],
                         batch_sizes=profile.runtime.batch_sizes, threads=threads)
    from edgeus.stages.records import accuracy_from_dict

    verdicts, passed = judge(profile, perf, accuracy_from_dict(accuracy), measured_on_target=True)
    updated = {k: v for k, v in manifest.items() if k not in ("files", "schema", "schema_version")}
    updated["engine"] = {**engine, "status": "ready", "model": f"model/{engine_path.name}", "device": device.to_dict()}
    updated["toolchain"] = {**manifest["toolchain"], **{k: v for k, v in toolchain_versions().items() if k == "tensorrt"}}
    return write_evidence(folder, updated, accuracy, perf.to_dict(), [v.to_dict() for v in verdicts], passed, {})
