"""The evidence tail of a finalize on the device (TensorRT on its GPU, Core ML on a Mac): re-validation against
the bundle's portable fp32 ONNX and profiling, through the build's cached stages (pipeline/stages.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.registry import open_runner
from edgeus.bundle.conformance import check_vectors, record_bundle_outputs
from edgeus.contracts.profiles import DeviceProfile
from edgeus.contracts.reports import PerfReport, perf_from_dict
from edgeus.data.defaults import validation_splits
from edgeus.models import model_spec
from edgeus.pipeline.cache import StageResult, content_key
from edgeus.pipeline.context import BuildResult, data_fingerprints, no_progress
from edgeus.pipeline.stages import Profiling, Validation, load_accuracy, profile_stage, validate_stage
from edgeus.pipeline.verdicts import Verdict
from edgeus.runtime.manifest import BundleError
from edgeus.util.hashing import sha256_file, sha256_tree
from edgeus.util.toolchain import usable_cores


@dataclass
class DeviceEvidence:
    """What ``device_evidence`` measured: accuracy.json's content (re-validated, or the build's) and the
    typed perf report, with the stages that produced them (cached or not)."""

    accuracy: dict
    perf: PerfReport
    stages: list[StageResult]


def device_evidence(folder: Path, manifest: dict, model: Path, data: Path | None, threads: int,
                    stages_dir: Path) -> DeviceEvidence:
    """The evidence tail of finalize, through the build's cached stages: with ``data``, validate ``model``
    against the bundle's portable fp32 ONNX (ONNX Runtime; the device has no torch); then profile it in its
    own process. Keyed by the model's bytes, so a second finalize of the same engine reuses both."""
    profile = DeviceProfile.model_validate(manifest["profile"])
    spec = model_spec(manifest["model"]["spec"])
    model_key = content_key("device-model", (sha256_tree(model) if model.is_dir() else sha256_file(model)), manifest["engine"].get("settings"))
    stages, samples = [], []
    accuracy = json.loads((folder / "accuracy.json").read_text())
    if data is not None:
        splits = validation_splits(data, spec, False)
        samples = splits["internal"]
        portable = folder / manifest["engine"]["portable_model"]
        reference = OnnxRuntimeRunner(portable, threads=threads, name="onnxruntime-fp32")
        validation = Validation(stages_dir, spec, profile.budgets.accuracy_drop, 0, data_fingerprints(data, stages_dir)[2],
                                content_key("onnxruntime-fp32", sha256_file(portable)), lambda: reference, no_progress)
        validated = validate_stage(validation, model_key, lambda: open_runner(model, profile, threads), splits,
                                   model.name)
        stages.append(validated)
        accuracy = validated.payload.to_dict()  # written with the rest of the evidence by write_evidence
    timing_threads = min(threads, usable_cores())  # no timing uses more threads than the cores present
    profiled = profile_stage(Profiling(stages_dir, spec, samples, timing_threads), model_key, model, profile, None)
    stages.append(profiled)
    return DeviceEvidence(accuracy, profiled.payload, stages)


def adopt_finalized(result: BuildResult, manifest: dict) -> None:
    """A build that finalized its own pending bundle at once (TensorRT with a GPU here, Core ML on a Mac):
    the finalized evidence becomes the build's result."""
    result.manifest = manifest
    result.stopped_after = None
    result.accuracy = load_accuracy(result.run_dir / "accuracy.json")
    result.perf = perf_from_dict(json.loads((result.run_dir / "perf.json").read_text()))
    result.verdicts = [Verdict(**v) for v in manifest["verdicts"]]
    result.passed = manifest["passed"]


def record_device_outputs(folder: Path, runner, precision: str, what: str) -> None:
    """The conformance vectors' outputs recorded from the device's own model (``runner``), then checked
    against the fp32 reference: a model departing from it beyond the build's tolerance stops the finalize,
    naming the task (``what``: how the message names the model)."""
    record_bundle_outputs(folder, runner, precision)
    failed = [c for c in check_vectors(folder, runner) if c.reference_deviation > c.reference_atol]
    if failed:
        worst = max(failed, key=lambda c: c.reference_deviation / max(c.reference_atol, 1e-12))
        raise BundleError(f"{what} departs from the fp32 reference on {worst.task}: "
                          f"{worst.reference_deviation:.4g} > {worst.reference_atol:.4g}")
