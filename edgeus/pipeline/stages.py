"""Each cached stage of a build, once: its key (the content hash of everything it reads), its work, and its
typed result (``StageResult.payload``). The plan search, the build, the farm's prepare and ``finalize`` run
their stages through these functions, so the same inputs give the same keys wherever a stage runs.

| stage      | key from                                                           | payload        |
|------------|--------------------------------------------------------------------|----------------|
| export     | edgeus version, model name, checkpoint hash, spec                  | model.onnx     |
| quantize   | recipe, export, backend, precision, quantization, calibration      | ModelRecord    |
| scope      | full-INT8 quantize, islands, data, search ids, budgets, version    | scope.json     |
| compile    | quantize (or scope), runtime settings, threads                     | ModelRecord    |
| validate   | model, reference, data, image ids per split, budgets, seed         | AccuracyReport |
| profile    | model, machine, device identity, sample ids, iterations, duration  | PerfReport     |
| plan-timing| compiled models, machine, threads, rounds                          | timings        |
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from edgeus import __version__
from edgeus.backends.base import Runner
from edgeus.backends.memo import MemoRunner
from edgeus.backends.onnxruntime.target import target_session
from edgeus.backends.openvino.float_scope import FloatScopeModels
from edgeus.backends.torch import TorchRunner  # torch: loaded only when a validation runs
from edgeus.contracts.profiles import AccuracyDrops, Backend, DeviceProfile
from edgeus.contracts.reports import AccuracyReport, PerfReport, accuracy_from_dict, perf_from_dict
from edgeus.contracts.spec import ModelSpec
from edgeus.contracts.stage_records import ModelRecord
from edgeus.data.uusic25 import Sample
from edgeus.errors import EdgeusError
from edgeus.models import LoadedModel
from edgeus.pipeline.backend_entity import build_backend
from edgeus.pipeline.cache import StageResult, content_key, run_stage
from edgeus.pipeline.context import BuildContext, ProgressFor
from edgeus.pipeline.profile_worker import profile_compiled
from edgeus.stages.compile import compile_model
from edgeus.stages.export import export_onnx
from edgeus.stages.lower import lower_model
from edgeus.stages.profile import measure_interleaved
from edgeus.stages.quantize import quantize
from edgeus.stages.quantize.recipe import QUANTIZE_RECIPE
from edgeus.stages.scope_search import run_scope_search
from edgeus.stages.validate import validate
from edgeus.util.device_identity import detect_identity
from edgeus.util.toolchain import machine_description

TIMING_ROUNDS, TIMING_MIN_S = 15, 3.0


def export_key(loaded: LoadedModel) -> str:
    return content_key("export", __version__, loaded.name, loaded.checkpoint_sha256, loaded.spec.model_dump())


def export_stage(ctx: BuildContext) -> StageResult[Path]:
    loaded = ctx.loaded

    def work(tmp: Path) -> dict:
        report = export_onnx(loaded, tmp / "model.onnx")
        return {"stage": "export", "report": report.to_dict(), "checkpoint_sha256": loaded.checkpoint_sha256}

    return run_stage(ctx.stages_dir, "export", export_key(loaded), work, lambda folder: folder / "model.onnx")


def quantize_stage_key(export: str, profile: DeviceProfile, calibration_fingerprint: str | None,
                       calibration_sha256: str | None) -> str:
    # the scope search's granularity is not part of the quantization (the scope key carries it)
    quantization = profile.quantization.model_dump(exclude={"scope_max_blocks"})
    return content_key("quantize", QUANTIZE_RECIPE, export, profile.backend.value, profile.precision.value,
                       quantization, calibration_fingerprint, calibration_sha256)


def _needs_data(profile: DeviceProfile) -> bool:
    return profile.precision.value in ("int8", "mixed")


def quantize_key(ctx: BuildContext, profile: DeviceProfile) -> str:
    """The one formula for a quantize stage's key: every plan of the search, the farm's prepare and the
    deferred TensorRT build alike (the calibration counts only where the precision needs data)."""
    needs_data = _needs_data(profile)
    key = quantize_stage_key(ctx.export_key, profile, ctx.calibration.fingerprint if needs_data else None,
                             ctx.calibration_sha256 if needs_data else None)
    # a model lowered from torch is the plan's own (Core ML's fp16, w8 and p6 share a precision)
    return content_key(key, profile.plan) if build_backend(profile).lowers_from_torch else key


def _model_record(folder: Path) -> ModelRecord:
    return ModelRecord.read(folder / "out")


def quantize_stage(ctx: BuildContext, profile: DeviceProfile) -> StageResult[ModelRecord]:
    """The plan's model in its precision: quantized from the export, or (ExecuTorch) lowered from the torch
    model; keyed by the export's key either way (it covers the model, its checkpoint and its spec)."""
    calibration = ctx.calibration if _needs_data(profile) else None

    def work(tmp: Path) -> dict:
        if build_backend(profile).lowers_from_torch:
            lowered = lower_model(ctx.loaded, profile, tmp / "out", calibration, ctx.export_key)
            return {"stage": "quantize", **lowered.to_dict()}
        return {"stage": "quantize", **quantize(ctx.fp32_onnx, profile, ctx.spec, tmp / "out", calibration).to_dict()}

    return run_stage(ctx.stages_dir, "quantize", quantize_key(ctx, profile), work, _model_record)


def compile_key(model_key: str, profile: DeviceProfile, threads: int) -> str:
    # ONNX Runtime saves the graph with the target's session (no x86-only rewrites for ARM): part of the key
    session = target_session(profile.hardware.arch) if profile.backend == Backend.onnxruntime else {}
    return content_key("compile", model_key, profile.runtime.model_dump(), threads, *([session] if session else []))


def compile_stage(ctx: BuildContext, model: StageResult, model_key: str, profile: DeviceProfile) -> StageResult[ModelRecord]:
    """``model``: the quantize (or scope) stage whose ``out`` folder is compiled for ``profile``."""
    def work(tmp: Path) -> dict:
        return {"stage": "compile",
                **compile_model(model.path / "out", profile, tmp / "out", threads=ctx.threads).to_dict()}

    return run_stage(ctx.stages_dir, "compile", compile_key(model_key, profile, ctx.threads), work, _model_record)


def scope_key(ctx: BuildContext, base_key: str, islands: str, search: list[Sample]) -> str:
    return content_key("scope", base_key, islands, ctx.data_sha256, sorted(s.id for s in search),
                       ctx.profile.budgets.accuracy_drop.model_dump(), __version__,
                       ctx.profile.quantization.scope_max_blocks)


def scope_stage(ctx: BuildContext, base: StageResult, base_key: str, search: list[Sample],
                islands: str) -> StageResult[dict]:
    """The float scope of the full-INT8 model ``base``, searched on ``search`` (stages/scope_search.py)."""
    def work(tmp: Path) -> dict:
        if not search:
            raise EdgeusError("the float-scope search needs validation images to search on (none left after the split)")
        # the trace's per-image ms is a timing: at most one thread per core (BuildContext.timing_threads)
        models = FloatScopeModels(base.path / "out", ctx.fp32_onnx, islands, ctx.timing_threads,
                                  ctx.profile.quantization.scope_max_blocks)
        record = run_scope_search(models, ctx.fp32_onnx, ctx.spec, search, ctx.profile.budgets.accuracy_drop,
                                  ctx.progress_for, tmp / "out")
        return {"stage": "scope", **record}

    return run_stage(ctx.stages_dir, "scope", scope_key(ctx, base_key, islands, search), work,
                     lambda folder: json.loads((folder / "out" / "scope.json").read_text()))


@dataclass
class Validation:
    """What a validate stage compares against and how: the reference (torch fp32 of the export at build
    time; the portable fp32 ONNX in ``finalize``), the data's content hash and the gates."""

    stages_dir: Path
    spec: ModelSpec
    budgets: AccuracyDrops
    seed: int
    data_sha256: str
    reference_key: str                   # the export key when the reference is torch fp32 of that export
    reference: Callable[[], Runner]      # made once, on first use
    progress_for: ProgressFor


def validation_of(ctx: BuildContext) -> Validation:
    """The build's validation: torch fp32 of the export, memoized (every plan is compared on the same
    outputs), on this build's data."""
    def reference() -> Runner:
        if ctx.reference is None:
            ctx.reference = MemoRunner(TorchRunner(ctx.loaded.module, ctx.spec, threads=ctx.threads,
                                                   name=f"torch-fp32:{ctx.loaded.name}"))
        return ctx.reference

    return Validation(ctx.stages_dir, ctx.spec, ctx.profile.budgets.accuracy_drop, ctx.seed, ctx.data_sha256,
                      ctx.export_key, reference, ctx.progress_for)


def validate_key(v: Validation, model_key: str, splits: dict[str, list[Sample]]) -> str:
    ids = {k: sorted(s.id for s in samples) for k, samples in splits.items()}
    return content_key("validate", model_key, v.reference_key, v.data_sha256, ids, v.budgets.model_dump(), v.seed)


def load_accuracy(path: Path) -> AccuracyReport:
    return accuracy_from_dict(json.loads(path.read_text()))


def validate_stage(v: Validation, model_key: str, candidate: Callable[[], Runner], splits: dict[str, list[Sample]],
                   label: str) -> StageResult[AccuracyReport]:
    """The reference against ``candidate()``'s model on ``splits``, cached by the model's key and the images."""
    def work(tmp: Path) -> dict:
        total = 2 * sum(len(s) for s in splits.values())  # reference and candidate each see every image
        with candidate() as runner, v.progress_for(f"validate {label}", total) as advance:
            report = validate(v.reference(), runner, v.spec, splits, v.budgets, seed=v.seed, progress=advance)
        (tmp / "accuracy.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
        return {"stage": "validate", "passed": report.passed, "failed_tasks": report.failed_tasks()}

    return run_stage(v.stages_dir, "validate", validate_key(v, model_key, splits), work,
                     lambda folder: load_accuracy(folder / "accuracy.json"))


@dataclass
class Profiling:
    """How a profile stage measures: on which samples, with how many threads, for how long."""

    stages_dir: Path
    spec: ModelSpec
    samples: list[Sample]
    threads: int
    min_iters: int = 30
    min_duration_s: float = 3.0


def profiling_of(ctx: BuildContext) -> Profiling:
    return Profiling(ctx.stages_dir, ctx.spec, ctx.splits["internal"], ctx.timing_threads,
                     ctx.options.profile_min_iters, ctx.options.profile_min_duration_s)


def profile_key(p: Profiling, model_key: str) -> str:
    # the device's identity in the key: two farm devices never share a measurement, even on one host
    return content_key("profile", model_key, machine_description(), detect_identity(),
                       sorted(s.id for s in p.samples), p.threads, p.min_iters, p.min_duration_s)


def profile_stage(p: Profiling, model_key: str, model: Path, profile: DeviceProfile,
                  baseline_onnx: Path | None) -> StageResult[PerfReport]:
    """``model`` (a compile folder or an engine file) profiled in a fresh spawned process: its memory is the
    runtime's and the model's, as on the device, not the build's (torch, NNCF and every candidate plan would
    otherwise count against the target's budget). ``baseline_onnx``: the fp32 export a plan must beat."""
    def work(tmp: Path) -> dict:
        args = (str(model), profile.model_dump_json(), p.spec, p.samples,
                str(baseline_onnx) if baseline_onnx else None, p.threads, p.min_iters, p.min_duration_s)
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            perf = pool.submit(profile_compiled, *args).result()
        (tmp / "perf.json").write_text(json.dumps(perf, indent=1) + "\n")
        return {"stage": "profile", "p95_ms": perf["compute"]["p95_ms"]}

    return run_stage(p.stages_dir, "profile", profile_key(p, model_key), work,
                     lambda folder: perf_from_dict(json.loads((folder / "perf.json").read_text())))


def timing_stage(ctx: BuildContext, models: dict[str, tuple[str, Callable[[], Runner]]],
                 feeds: dict) -> StageResult[dict]:
    """Batch-1 latency of several compiled models (name -> (compile key, runner factory)) in one interleaved
    loop (stages/profile.measure_interleaved), cached per machine and models."""
    key = content_key("plan-timing", sorted(k for k, _ in models.values()), machine_description(),
                      ctx.timing_threads, TIMING_ROUNDS, TIMING_MIN_S, "settled", "alternating")

    def work(tmp: Path) -> dict:
        timings = measure_interleaved({name: factory for name, (_, factory) in models.items()}, feeds,
                                      TIMING_ROUNDS, TIMING_MIN_S, ctx.progress_for)
        (tmp / "timing.json").write_text(json.dumps(timings, indent=1) + "\n")
        return {"stage": "plan-timing", "plans": sorted(timings)}

    return run_stage(ctx.stages_dir, "plan-timing", key, work,
                     lambda folder: json.loads((folder / "timing.json").read_text()))
