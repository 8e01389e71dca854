"""Core ML's path: a bundle marked **pending on a Mac**, as a TensorRT bundle is pending on its device.

coremltools converts and compresses on any OS, but compiling the package, predicting (the conformance vectors,
validation, timing) and calibrating activations for W8A8 need Core ML, which only macOS / iOS have. So the build
here: converts the plan's ``.mlpackage`` (cached like any quantize stage); validates the plan's **torch-side
simulation** (the weights rounded as the plan stores them, backends/coreml/convert.simulate_plan) against torch
fp32 per task, the portable evidence this machine can give, gated as usual and named for what it is; writes the
bundle with the package, the fp32 ONNX (the vectors' reference), the conformance vectors and the recipe a Mac
runs. No accuracy or speed of the Core ML model itself is claimed until ``edgeus finalize`` ran on a Mac
(pipeline/coreml_finalize.py).
"""

from __future__ import annotations

import functools
import itertools
import json
import platform
from collections.abc import Callable
from pathlib import Path

from edgeus.backends.coreml.convert import CALIBRATION_FILE, DEPLOYMENT_TARGET, simulate_plan
from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.torch import TorchRunner
from edgeus.bundle.assemble import MODEL_DIR, BundleParts, write_bundle
from edgeus.contracts.plans import Plan, plan_of_profile
from edgeus.contracts.profiles import DeviceProfile
from edgeus.contracts.stage_records import ModelRecord
from edgeus.errors import QuantizeError
from edgeus.pipeline.cache import StageResult, content_key
from edgeus.pipeline.context import BuildContext, BuildResult
from edgeus.pipeline.coreml_finalize import finalize_coreml
from edgeus.pipeline.device_evidence import adopt_finalized
from edgeus.pipeline.stages import quantize_stage, validate_stage, validation_of
from edgeus.pipeline.tail import shippable_log
from edgeus.pipeline.verdicts import judge

RECIPE = {
    "where": "macOS 14 or later (Apple silicon)",
    "steps": [
        "edgeus verify BUNDLE   # the files are the ones the manifest vouches for",
        "python -c \"import coremltools as ct; m = ct.models.MLModel('model/model.mlpackage')\"   # Core ML compiles "
        "it (.mlmodelc) on load",
        "edgeus finalize BUNDLE [--data DIR]   # on the Mac: runs the conformance vectors through Core ML (records "
        "its outputs, checks them against the fp32 reference), re-validates per task with --data, times it, and "
        "marks the bundle ready; its timing is the Mac's, not the device's (time it on the device with Xcode's "
        "Core ML performance report)",
    ],
    "w8a8": ("the w8a8 plan: edgeus finalize on the Mac calibrates the activations (coremltools.optimize.coreml."
             "linear_quantize_activations over model/calibration.npz, the build's calibration images), quantizes the "
             "weights (linear_quantize_weights, INT8 per channel) and checks that package; the Neural Engine speeds "
             "INT8 up only with INT8 activations and weights"),
}


def coreml_pending_build(ctx: BuildContext, profile: DeviceProfile, result: BuildResult) -> BuildResult:
    """convert (the profile's one plan) -> validate its torch-side simulation -> pending bundle."""
    plan = plan_of_profile(profile, profile.plan)
    ctx.on_stage("convert", None)
    converted = quantize_stage(ctx, profile)
    result.stages.append(converted)
    ctx.on_stage("convert", converted)

    ctx.on_stage("validate", None)
    loaded = ctx.loaded
    # one copy of the model with the plan's weights, made when first needed (a cached validation skips it) and
    # shared by the validation and the bundle's preview outputs
    simulated = functools.cache(lambda: simulate_plan(loaded.module, plan.compute))

    def simulation() -> TorchRunner:
        return TorchRunner(simulated(), loaded.spec, threads=ctx.threads, name=f"torch simulation of Core ML {plan.name}")

    simulation_key = content_key("coreml-simulation", converted.key, plan.compute)
    validated = validate_stage(validation_of(ctx), simulation_key, simulation, ctx.splits,
                               f"{plan.name} (torch simulation)")
    result.stages.append(validated)
    ctx.on_stage("validate", validated)
    result.accuracy = validated.payload
    result.verdicts, result.passed = judge(profile, None, result.accuracy, measured_on_target=False)
    unsimulated = "; its INT8 activations, calibrated on the Mac, are not simulated" if plan.compute == "w8a8" else ""
    result.notes.append(f"Core ML {plan.name}: the accuracy above is the plan's torch-side simulation (weights "
                        f"rounded as stored, fp32 compute{unsimulated}); the model itself is checked by 'edgeus "
                        "finalize' on a Mac")

    ctx.on_stage("bundle", None)
    result.manifest = _pending_bundle(ctx, profile, plan, converted.path / "out", result, simulation)
    ctx.on_stage("bundle", StageResult("bundle", result.run_dir, "", False, {}))
    result.stopped_after = "engine pending"  # as a TensorRT bundle's: the model is compiled where it runs
    if platform.system() == "Darwin":  # a build on a Mac (a farm agent there) checks the package at once
        ctx.on_stage("finalize", None)
        adopt_finalized(result, finalize_coreml(result.run_dir, data=ctx.data, threads=ctx.threads))
        ctx.on_stage("finalize", StageResult("finalize", result.run_dir, "", False, {}))
    return result


def _pending_bundle(ctx: BuildContext, profile: DeviceProfile, plan: Plan, converted: Path, result: BuildResult,
                    simulation: Callable[[], TorchRunner]) -> dict:
    record = ModelRecord.read(converted)
    package = f"{MODEL_DIR}/{record.model.name}"
    portable = f"{MODEL_DIR}/model.onnx"
    settings = {"plan": plan.name, "compute_precision": "float16", "deployment_target": DEPLOYMENT_TARGET,
                "compute_units": "ALL", "method": record.quantize.get("method") if record.quantize else None}
    engine = {"backend": "coreml", "status": "pending", "model": None, "portable_model": portable,
              "build_input": package, "settings": settings, "recipe": f"{MODEL_DIR}/recipe.json",
              "evidence": "torch-side simulation of the plan (weights as stored, fp32 compute); Core ML not run"}
    recipe = {**RECIPE, "package": package, "plan": plan.name, "requires": {"os": "macOS", "device": profile.hardware.device}}
    loaded = ctx.loaded
    parts = BundleParts(
        loaded=loaded, profile=profile, model_dir=converted, engine=engine, accuracy=result.accuracy, perf=None,
        verdicts=[v.to_dict() for v in result.verdicts], passed=result.passed, samples=ctx.splits["internal"],
        # a w8a8 bundle carries its calibration images (for the Mac): the manifest records which they came from
        calibration=ctx.calibration.record() if plan.compute == "w8a8" and ctx.calibration else None,
        data=result.data, build_log=shippable_log(ctx, result),
        portable_factory=lambda: OnnxRuntimeRunner(ctx.fp32_onnx, threads=ctx.threads, name="onnxruntime-fp32 (portable)"),
        preview_factory=simulation,
        extra_files={portable: ctx.fp32_onnx, **_calibration_images(ctx, plan)},
        extra_texts={f"{MODEL_DIR}/recipe.json": json.dumps(recipe, indent=1) + "\n"},
        evidence_isa=ctx.evidence_isa or None,
    )
    return write_bundle(parts, result.run_dir, force=ctx.options.force)


W8A8_SAMPLES = 32  # activation ranges settle within a few dozen images; each is 0.6 MB at 224x224 in fp32


def _calibration_images(ctx: BuildContext, plan: Plan) -> dict[str, Path]:
    """A w8a8 bundle carries the images its activations are calibrated on at the Mac: ``W8A8_SAMPLES`` of the
    build's calibration plan, spread over its tasks, preprocessed (the feeds ``predict`` takes)."""
    if plan.compute != "w8a8":
        return {}
    import numpy as np

    from edgeus.data.calibration import iter_feeds

    if ctx.calibration is None or len(ctx.calibration) == 0:
        raise QuantizeError("the w8a8 plan needs calibration images (for the Mac), and the calibration set is empty")
    step = max(1, len(ctx.calibration) // W8A8_SAMPLES)
    every = itertools.islice(iter_feeds(ctx.calibration, ctx.loaded.spec), 0, step * W8A8_SAMPLES, step)
    chosen = {f"{i}/{name}": array for i, feeds in enumerate(every) for name, array in feeds.items()}
    path = ctx.stages_dir / f"w8a8-calibration-{ctx.calibration.fingerprint[:16]}.npz"
    np.savez_compressed(path, **chosen)
    return {f"{MODEL_DIR}/{CALIBRATION_FILE}": path}
