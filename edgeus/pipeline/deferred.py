"""TensorRT's deferred path in one room: the build's "engine pending" bundle, and ``edgeus finalize BUNDLE``,
which turns it into a ready one on the target.

A TensorRT engine is specific to the GPU and TensorRT version, so it is built where it runs. The build
validates the portable candidate (the QDQ model under ONNX Runtime for INT8, the fp32 ONNX for FP16) against
the accuracy budgets and ships a bundle with the recipe, marked pending. ``finalize`` checks, before anything
is written: the manifest and the file hashes (never build from tampered inputs), TensorRT present and of the
supported major version, an NVIDIA GPU present, the recipe meant for this GPU family. Then, in a copy of the
bundle: build the engine (timing cache reused), record its outputs on the conformance vectors and check them
against the fp32 reference, then validate (when data is given) and profile through the same cached stages as
the build (pipeline/stages.py; the cache beside the bundle, ``<parent>/.edgeus-cache``, the profile in its
own process), judge, rewrite the reports and the manifest. The copy replaces the bundle only when all of that
succeeded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.registry import open_runner
from edgeus.backends.tensorrt.builder import build_engine, import_tensorrt
from edgeus.backends.tensorrt.device import tensorrt_version, this_device
from edgeus.backends.tensorrt.engine_files import ENGINE_SIDECAR_SUFFIX, engine_file_name, recipe_problem
from edgeus.backends.tensorrt.runner import TensorRTRunner
from edgeus.backends.tensorrt.settings import BuilderSettings, builder_settings, trtexec_command
from edgeus.bundle.assemble import MODEL_DIR, BundleParts, write_bundle, write_evidence
from edgeus.contracts.profiles import DeviceProfile
from edgeus.contracts.reports import accuracy_from_dict
from edgeus.contracts.stage_records import ModelRecord
from edgeus.errors import BackendError
from edgeus.pipeline.cache import StageResult
from edgeus.pipeline.context import CACHE_DIR, BuildContext, BuildResult
from edgeus.pipeline.coreml_finalize import finalize_coreml
from edgeus.pipeline.device_evidence import adopt_finalized, device_evidence, record_device_outputs
from edgeus.pipeline.stages import quantize_stage, validate_stage, validation_of
from edgeus.pipeline.tail import shippable_log
from edgeus.pipeline.verdicts import judge
from edgeus.runtime.manifest import BundleError, check_files, read_manifest
from edgeus.util.atomic import atomic_dir
from edgeus.util.toolchain import toolchain_versions

TENSORRT_MAJOR = 10  # the major version the recipe and the builder are written for (backends/tensorrt/)


def deferred_build(ctx: BuildContext, profile: DeviceProfile, result: BuildResult) -> BuildResult:
    """quantize (the profile's one plan) -> validate the portable candidate -> pending bundle; then, where
    this machine may build the engine (a discrete-GPU target, or the device itself: a farm agent serving a
    Jetson profile), finalize it here."""
    ctx.on_stage("quantize", None)
    quant = quantize_stage(ctx, profile)
    result.stages.append(quant)
    ctx.on_stage("quantize", quant)

    ctx.on_stage("validate", None)
    quant_dir = quant.path / "out"
    validated = validate_stage(validation_of(ctx), quant.key, lambda: open_runner(quant_dir, profile, ctx.threads),
                               ctx.splits, profile.plan)
    result.stages.append(validated)
    ctx.on_stage("validate", validated)
    result.accuracy = validated.payload
    result.verdicts, result.passed = judge(profile, None, result.accuracy, measured_on_target=False)
    ctx.on_stage("bundle", None)
    result.manifest = _pending_bundle(ctx, profile, quant_dir, result)
    ctx.on_stage("bundle", StageResult("bundle", result.run_dir, "", False, {}))
    result.stopped_after = "engine pending"
    trt = profile.runtime.tensorrt
    if trt is not None and (not trt.build_on_device or ctx.options.on_device) and local_tensorrt_ready():
        ctx.on_stage("finalize", None)
        adopt_finalized(result, finalize(result.run_dir, data=ctx.data, threads=ctx.threads))
        ctx.on_stage("finalize", StageResult("finalize", result.run_dir, "", False, {}))
    return result


def _pending_bundle(ctx: BuildContext, profile: DeviceProfile, quant_dir: Path, result: BuildResult) -> dict:
    build_input = f"{MODEL_DIR}/{ModelRecord.read(quant_dir).model.name}"
    portable = f"{MODEL_DIR}/model.onnx"
    settings = builder_settings(profile, ctx.spec, build_input)
    command = trtexec_command(settings)
    recipe = {"builder": settings.to_dict(), "trtexec": " ".join(command),
              "requires": {"device": profile.hardware.device, "compute_capability": settings.target_compute_capability,
                           "tensorrt_major": TENSORRT_MAJOR, "build_on_device": profile.runtime.tensorrt.build_on_device},
              "finalize": "edgeus finalize BUNDLE [--data DIR]  (on the target; see Dockerfile.jetson)"}
    engine = {"backend": "tensorrt", "status": "pending", "model": None, "portable_model": portable,
              "build_input": build_input, "settings": settings.to_dict(), "recipe": f"{MODEL_DIR}/recipe.json"}
    parts = BundleParts(
        loaded=ctx.loaded, profile=profile, model_dir=quant_dir, engine=engine, accuracy=result.accuracy, perf=None,
        verdicts=[v.to_dict() for v in result.verdicts], passed=result.passed, samples=ctx.splits["internal"],
        calibration=ctx.calibration.record() if ctx.calibration else None, data=result.data,
        build_log=shippable_log(ctx, result),
        portable_factory=lambda: OnnxRuntimeRunner(ctx.fp32_onnx, threads=ctx.threads, name="onnxruntime-fp32 (portable)"),
        preview_factory=lambda: open_runner(quant_dir, profile, ctx.threads),
        extra_files={portable: ctx.fp32_onnx},
        extra_texts={f"{MODEL_DIR}/recipe.json": json.dumps(recipe, indent=1) + "\n",
                     f"{MODEL_DIR}/build_engine.sh": "#!/bin/sh\n# The engine edgeus finalize builds, with trtexec "
                     "(run inside the bundle folder on the target).\nset -e\n" + " \\\n  ".join(command) + "\n"},
    )
    return write_bundle(parts, result.run_dir, force=ctx.options.force)


def local_tensorrt_ready() -> bool:
    """TensorRT importable and a GPU visible: an engine can be built on this machine."""
    return tensorrt_version() is not None and this_device() is not None


def _preflight(bundle: Path, rebuild: bool):
    """(manifest, this GPU) once every check passed; nothing is written before."""
    manifest = read_manifest(bundle)
    engine = manifest["engine"]
    if engine["backend"] != "tensorrt":
        raise BundleError(f"{bundle}: a {engine['backend']} bundle has no engine to finalize (TensorRT and Core ML "
                          "bundles only)")
    if engine["status"] == "ready" and not rebuild:
        raise BundleError(f"{bundle}: the engine is already built ({engine['model']}); pass --rebuild to build it again")
    problems = check_files(bundle, manifest)
    if problems:
        raise BundleError(f"{bundle}: refusing to build from a bundle that does not match its manifest: {problems[0]}")
    try:
        import_tensorrt()
    except BackendError as exc:  # not installed, or another major version
        raise BundleError(f"cannot finalize {bundle} on this machine: {exc}") from None
    device = this_device()
    if device is None:
        raise BundleError(f"cannot finalize {bundle} on this machine: no NVIDIA GPU visible (CUDA reports none)")
    problem = recipe_problem(engine["settings"], device)
    if problem:
        raise BundleError(f"cannot finalize {bundle}: {problem}")
    return manifest, device


def finalize(bundle: str | Path, *, data: str | Path | None = None, threads: int | None = None,
             rebuild: bool = False, progress=None) -> dict:
    bundle = Path(bundle)
    if read_manifest(bundle)["engine"]["backend"] == "coreml":  # macOS's path: pipeline/coreml_finalize.py
        return finalize_coreml(bundle, data=data, threads=threads, rebuild=rebuild)
    manifest, device = _preflight(bundle, rebuild)
    with atomic_dir(bundle, replace=True) as tmp:
        shutil.copytree(bundle, tmp, dirs_exist_ok=True)
        return _finalize_in(tmp, manifest, device, Path(data) if data else None, threads,
                            bundle.parent / CACHE_DIR)


def _finalize_in(folder: Path, manifest: dict, device, data: Path | None, threads: int | None,
                 stages_dir: Path) -> dict:
    engine = manifest["engine"]
    settings = BuilderSettings.from_dict(engine["settings"])
    profile = DeviceProfile.model_validate(manifest["profile"])
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
        record_device_outputs(folder, runner, precision, f"the engine built on {device.gpu}")
    evidence = device_evidence(folder, manifest, engine_path, data, threads or profile.runtime.threads, stages_dir)
    verdicts, passed = judge(profile, evidence.perf, accuracy_from_dict(evidence.accuracy), measured_on_target=True)
    updated = {k: v for k, v in manifest.items() if k not in ("files", "schema", "schema_version")}
    updated["engine"] = {**engine, "status": "ready", "model": f"model/{engine_path.name}", "device": device.to_dict()}
    updated["toolchain"] = {**manifest["toolchain"], **{k: v for k, v in toolchain_versions().items() if k == "tensorrt"}}
    return write_evidence(folder, updated, evidence.accuracy, evidence.perf.to_dict(), [v.to_dict() for v in verdicts],
                          passed, {})
