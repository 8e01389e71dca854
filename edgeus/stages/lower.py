"""The quantize stage of the backends that start from the torch model, not from the ONNX export.

``lower_model`` writes the plan's model and the same ``quantize.json`` record the ONNX quantizers write:
* ExecuTorch: an XNNPACK ``.pte`` (backends/executorch/lower.py) in the plan's precision, calibrated (INT8) on
  the calibration plan the ONNX quantizers read; the folder is then compiled, validated and timed like any
  other plan, and the record's ``delegation`` says which operators XNNPACK runs and which fell back to portable
  kernels.
* Core ML: an ``.mlpackage`` (backends/coreml/convert.py) as the plan compresses it; compiled and run on a Mac.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from edgeus.contracts.profiles import Backend, DeviceProfile, Precision
from edgeus.data.calibration import CalibrationPlan, iter_feeds
from edgeus.errors import QuantizeError
from edgeus.stages.quantize.api import QuantizeResult
from edgeus.util.atomic import atomic_dir
from edgeus.util.native_stderr import native_stderr_to_log
from edgeus.util.toolchain import toolchain_versions

if TYPE_CHECKING:
    from edgeus.models import LoadedModel


def lower_model(loaded: LoadedModel, profile: DeviceProfile, out: str | Path, plan: CalibrationPlan | None,
                source_key: str) -> QuantizeResult:
    """Lower ``loaded`` for ``profile`` (its precision; INT8 keeps the spec's float patterns in float where the
    profile's quantization takes the spec's hints) into folder ``out``, atomically, with ``quantize.json``.
    ``source_key``: what the model came from (the export's content key: name, checkpoint, spec)."""
    if profile.backend is Backend.coreml:
        return _convert_for_coreml(loaded, profile, Path(out), source_key)
    from edgeus.backends.executorch.lower import DELEGATION, lower_to_pte

    out = Path(out)
    precision = profile.precision
    if precision not in (Precision.fp32, Precision.fp16, Precision.int8):
        raise QuantizeError(f"profile {profile.name}: ExecuTorch plans are fp32, fp16 and int8, not {precision.value}")
    int8 = precision is Precision.int8
    if int8 and (plan is None or len(plan) == 0):
        raise QuantizeError("INT8 for ExecuTorch needs calibration data, and the calibration set is empty")
    spec = loaded.spec
    patterns = [*(spec.int8_float_patterns if profile.quantization.spec_hints else []),
                *profile.quantization.ignored_patterns] if int8 else []
    start = time.perf_counter()
    with atomic_dir(out, replace=True) as tmp:
        calibration = _feeds_as_tensors(plan, spec) if int8 else ()
        # torch.export, torchao and ExecuTorch's runtime print to fd 2 themselves: into the build log
        with native_stderr_to_log("executorch"):
            lowered = lower_to_pte(loaded.module, spec, tmp / "model", precision=precision.value,
                                   calibration=calibration, float_patterns=patterns)
        _beside_record(tmp / "model")
        method = {"int8": "ExecuTorch XNNPACK, pt2e INT8 (XNNPACKQuantizer: symmetric, per-channel weights, static "
                          "activations)",
                  "fp16": "ExecuTorch XNNPACK, fp16 (weights and activations in half precision, fp32 at the edges)",
                  }.get(precision.value, "ExecuTorch XNNPACK, fp32")
        notes = [lowered.delegation.describe()]
        if lowered.float_modules:
            notes.append(f"{len(lowered.float_modules)} modules kept in float: {', '.join(lowered.float_modules[:6])}"
                         + (" ..." if len(lowered.float_modules) > 6 else ""))
        result = QuantizeResult(
            path=lowered.path.name, backend=profile.backend.value, precision=precision.value, method=method,
            calibration=plan.record() if int8 else None,
            ignored_scope={"names": [], "patterns": patterns, "types": [], "modules": lowered.float_modules},
            notes=notes, toolchain=toolchain_versions(), input_sha256=source_key,
            time_s=round(time.perf_counter() - start, 2))
        record = {**result.to_dict(), "delegation": json.loads((tmp / DELEGATION).read_text())}
        (tmp / "quantize.json").write_text(json.dumps(record, indent=1) + "\n")
    return result


def _beside_record(folder: Path) -> None:
    """The converter's output folder's files moved up, beside ``quantize.json`` (where a stage record looks)."""
    for item in folder.iterdir():
        item.rename(folder.parent / item.name)
    folder.rmdir()


def _feeds_as_tensors(plan: CalibrationPlan, spec):
    """Each calibration sample's feeds as torch tensors in the spec's input order, read lazily (pt2e's
    observers see each once)."""
    import torch

    for feeds in iter_feeds(plan, spec):
        yield tuple(torch.from_numpy(feeds[n]) for n in spec.input_names)


def _convert_for_coreml(loaded: LoadedModel, profile: DeviceProfile, out: Path, source_key: str) -> QuantizeResult:
    from edgeus.backends.coreml.convert import DEPLOYMENT_TARGET, convert_to_mlpackage
    from edgeus.contracts.plans import plan_of_profile

    plan = plan_of_profile(profile, profile.plan) if profile.plan != "auto" else None
    compute = plan.compute if plan is not None else "fp16"
    start = time.perf_counter()
    with atomic_dir(out, replace=True) as tmp:
        with native_stderr_to_log("coremltools"):  # its progress bars and version notes: into the build log
            package = convert_to_mlpackage(loaded.module, loaded.spec, tmp / "model", plan=compute)
        _beside_record(tmp / "model")
        method = {"fp16": "Core ML ML program, fp16 compute",
                  "w8": "Core ML ML program, fp16 compute, weights INT8 (linear symmetric, per channel; data-free)",
                  "p6": "Core ML ML program, fp16 compute, weights palettized to 6 bits (k-means; data-free)",
                  "w8a8": "Core ML ML program converted in fp16; INT8 activations (calibrated) and weights applied by "
                          "edgeus finalize on a Mac"}[compute]
        result = QuantizeResult(
            path=package.name, backend=profile.backend.value, precision=profile.precision.value, method=method,
            calibration=None, ignored_scope={"names": [], "patterns": [], "types": []},
            notes=[f"deployment target {DEPLOYMENT_TARGET}; compiled (.mlmodelc), run and timed on macOS / iOS only"],
            toolchain=toolchain_versions(), input_sha256=source_key, time_s=round(time.perf_counter() - start, 2))
        (tmp / "quantize.json").write_text(json.dumps({**result.to_dict(), "plan": compute}, indent=1) + "\n")
    return result
