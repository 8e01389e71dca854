"""``edgeus build``: export -> quantize -> compile -> validate -> profile, cached stage by stage.

Reads top to bottom as the flow in docs/ARCHITECTURE.md. Each stage is keyed by the content hash of its
inputs and configuration (see stages.py) and cached in ``OUT/.edgeus-cache/`` (shared by every target, so
two CPU targets export once). The result is a bundle ``OUT/<model>-<profile>-<precision>/`` (see
edgeus/bundle/), written atomically and never over an existing one without ``force``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager

from edgeus import __version__
from edgeus.contracts.profiles import Backend, DeviceProfile
from edgeus.contracts.stage_records import ModelRecord

if TYPE_CHECKING:
    from edgeus.contracts.plans import PlanChoice
    from edgeus.contracts.spec import ModelSpec
    from edgeus.pipeline.plans import PlanSearch
    from edgeus.data.calibration import CalibrationPlan
    from edgeus.models import LoadedModel
    from edgeus.stages.profile import PerfReport
    from edgeus.stages.validate import AccuracyReport

OnStage = Callable[[str, "StageResult | None"], None]
ProgressFor = Callable[[str, int], ContextManager[Callable[[str, int], None]]]
from edgeus.pipeline.cache import StageResult, clean_partial, content_key, run_stage
from edgeus.pipeline.verdicts import judge
from edgeus.util.logs import CapturedLogs, capture_library_logs, scrub_paths

DEFAULT_MODEL = "uniusnet-small"
CACHE_DIR = ".edgeus-cache"


@dataclass
class BuildOptions:
    model: str = DEFAULT_MODEL
    checkpoint: str | None = None
    spec_file: str | None = None
    data: Path | None = None
    out: Path = Path("dist")
    threads: int | None = None
    allow_missing_tasks: bool = False
    seed: int = 0
    profile_min_iters: int = 30
    profile_min_duration_s: float = 3.0
    force: bool = False
    verbose: bool = False  # library logs on the console too (they always go to the bundle's build.log)
    plan: str | None = None  # "auto" or a plan name (contracts/plans.py); None: the profile's (default auto)
    on_device: bool = False  # this machine is the profile's device (a farm agent that serves it: farm/)


@dataclass
class BuildResult:
    run_dir: Path
    stages: list[StageResult] = field(default_factory=list)
    accuracy: AccuracyReport | None = None
    perf: PerfReport | None = None
    verdicts: list = field(default_factory=list)
    stopped_after: str | None = None
    passed: bool = True
    manifest: dict | None = None
    logs: CapturedLogs | None = None  # library logs of this build (build.log) and their warnings
    splits: dict = field(default_factory=dict)  # validation samples per split, read once per build
    data: dict | None = None          # where the evidence came from (data/provenance.py)
    plans: PlanSearch | None = None   # every candidate plan, its verdicts and the choice


def _no_progress(name: str, total: int):
    import contextlib

    return contextlib.nullcontext(lambda label, n=1: None)


def build(profile: DeviceProfile, options: BuildOptions,
          on_stage: Callable[[str, StageResult | None], None] = lambda name, result: None,
          progress_for: ProgressFor = _no_progress) -> BuildResult:
    """``progress_for(stage, total)`` returns a context manager yielding ``advance(label, n)``.

    Library logs (NNCF, OpenVINO, ONNX Runtime, warnings) go to a log file while the build runs, shipped in the
    bundle as ``build.log`` and kept as ``OUT/.edgeus-cache/logs/<profile>.log``; ``options.verbose`` also
    shows them on stderr."""
    import shutil
    import sys
    import tempfile

    from edgeus.contracts.plans import candidate_plans
    from edgeus.util.lock import output_lock
    from edgeus.util.toolchain import cpu_isa

    # an unknown plan, or one the target cannot run, is refused before anything is written
    choice = candidate_plans(profile, options.plan or profile.plan, cpu_isa())
    log_dir = Path(tempfile.mkdtemp(prefix="edgeus-log-"))
    try:
        # one writer per -o folder (a second build refuses); stale locks of killed builds are taken over
        with output_lock(options.out, notice=lambda message: print(f"edgeus: {message}", file=sys.stderr)), \
                capture_library_logs(log_dir / "build.log", options.verbose) as logs:
            result = _build(profile, options, choice, on_stage, progress_for, logs)
            kept = options.out / CACHE_DIR / "logs" / f"{profile.name}.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(logs.path, kept)
            logs.path = kept
        return result
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


@dataclass
class _Inputs:
    """What every stage reads, checked before the first stage writes anything."""

    loaded: LoadedModel
    data: Path
    calibration: CalibrationPlan | None
    splits: dict
    stages_dir: Path
    threads: int
    calibration_sha256: str
    data_sha256: str
    provenance: dict
    run_dir: Path | None   # the bundle folder when a pinned plan names it up front (checked free)


def _inputs(profile: DeviceProfile, options: BuildOptions, choice: PlanChoice, *, bundle: bool = True) -> _Inputs:
    """``bundle``: a pinned plan's bundle folder is named now and refused if it exists (before the cache folder
    is touched); ``prepare`` writes no bundle."""
    from edgeus.data.defaults import default_phantom, split_folder, validation_splits
    from edgeus.data.provenance import content_hash, data_provenance, file_hashes, images_per_task
    from edgeus.models import load_model

    loaded = load_model(options.model, options.checkpoint, options.spec_file)
    data = options.data or default_phantom()
    # Check every input before the first stage writes anything: a data problem found after export would
    # leave a run directory behind for nothing.
    int8 = any(p.compute == "int8" for p in choice.candidates)
    plan = _calibration_plan(split_folder(data, "calibration"), loaded.spec, profile, options) if int8 else None
    splits = validation_splits(data, loaded.spec, options.allow_missing_tasks)
    run_dir = _bundle_dir(options, loaded.name, profile.name, choice.candidates[0].name) \
        if bundle and choice.pinned else None
    stages_dir = options.out / CACHE_DIR
    clean_partial(stages_dir)
    # every file of the data by content (cached by size and mtime): a changed image re-runs the stages that
    # read it, calibration (quantize) or validation, and no other
    hashes = file_hashes(data, stages_dir)
    calibration_sha256 = content_hash(hashes, split_folder(data, "calibration"))[0]
    data_sha256 = content_key(*(content_hash(hashes, split_folder(data, purpose))[0]
                                for purpose in ("validation", "external")))
    provenance = data_provenance(data, images_per_task(splits), *content_hash(hashes, data))
    return _Inputs(loaded, data, plan, splits, stages_dir, options.threads or profile.runtime.threads,
                   calibration_sha256, data_sha256, provenance, run_dir)


def _export_stage(inputs: _Inputs) -> tuple[StageResult, str]:
    loaded = inputs.loaded
    key = content_key("export", __version__, loaded.name, loaded.checkpoint_sha256, loaded.spec.model_dump())
    return run_stage(inputs.stages_dir, "export", key, lambda tmp: _export(loaded, tmp)), key


def _tensorrt_quantize_key(inputs: _Inputs, profile: DeviceProfile, export_key: str) -> str:
    from edgeus.pipeline.plans import quantize_stage_key

    plan = inputs.calibration
    return quantize_stage_key(export_key, profile, plan.fingerprint if plan else None,
                              inputs.calibration_sha256 if plan else None)


def prepare(profile: DeviceProfile, options: BuildOptions, progress_for: ProgressFor = None) -> list[StageResult]:
    """Export and quantize (every float scope included) each candidate plan of ``profile`` into
    ``OUT/.edgeus-cache``, nothing after: the device-independent stages a farm runs once on any worker before
    each device compiles, validates and profiles (farm/build.py). The keys are the ones ``build`` computes, so
    a build finds these stages cached."""
    from edgeus.contracts.plans import candidate_plans
    from edgeus.util.toolchain import cpu_isa

    choice = candidate_plans(profile, options.plan or profile.plan, cpu_isa())
    inputs = _inputs(profile, options, choice, bundle=False)
    export, export_key = _export_stage(inputs)
    if profile.backend is Backend.tensorrt:
        from edgeus.pipeline.plans import plan_profile

        profile = plan_profile(profile, choice.candidates[0])
        key = _tensorrt_quantize_key(inputs, profile, export_key)
        quant = run_stage(inputs.stages_dir, "quantize", key, lambda tmp: _quantize(
            export.path / "model.onnx", profile, inputs.loaded.spec, tmp, inputs.calibration))
        return [export, quant]
    from edgeus.pipeline.plans import quantize_plans

    context = _plan_context(inputs, profile, export, export_key, options, lambda name, result: None,
                            progress_for or _no_progress)
    return [export, *quantize_plans(context, choice)]


def _plan_context(inputs: _Inputs, profile: DeviceProfile, export: StageResult, export_key: str,
                  options: BuildOptions, on_stage: OnStage, progress_for: ProgressFor):
    from edgeus.pipeline.plans import PlanContext

    return PlanContext(inputs.loaded, profile, export, export_key, inputs.calibration, inputs.calibration_sha256,
                       inputs.data_sha256, inputs.stages_dir, inputs.threads, options.seed, inputs.splits, on_stage,
                       progress_for)


def _build(profile: DeviceProfile, options: BuildOptions, choice: PlanChoice, on_stage: OnStage,
           progress_for: ProgressFor, logs: CapturedLogs) -> BuildResult:
    inputs = _inputs(profile, options, choice)
    loaded, data, plan, splits, stages_dir = inputs.loaded, inputs.data, inputs.calibration, inputs.splits, inputs.stages_dir
    threads, data_sha256 = inputs.threads, inputs.data_sha256
    result = BuildResult(inputs.run_dir, logs=logs, splits=splits)
    result.data = inputs.provenance

    # 1. export
    on_stage("export", None)
    export, export_key = _export_stage(inputs)
    result.stages.append(export)
    on_stage("export", export)

    if profile.backend is Backend.tensorrt:
        # 2. quantize (calibration plan fingerprint is part of the key): the profile's one plan
        from edgeus.pipeline.plans import plan_profile

        profile = plan_profile(profile, choice.candidates[0])
        on_stage("quantize", None)
        quant_key = _tensorrt_quantize_key(inputs, profile, export_key)
        quant = run_stage(stages_dir, "quantize", quant_key,
                          lambda tmp: _quantize(export.path / "model.onnx", profile, loaded.spec, tmp, plan))
        result.stages.append(quant)
        on_stage("quantize", quant)
        return _deferred_engine(loaded, profile, export, quant, export_key, quant_key, plan, data, threads, options,
                                result, on_stage, progress_for, data_sha256)

    # 2-4. every candidate plan: quantize, compile, validate on the confirm part; timed side by side
    from edgeus.pipeline.plans import search_plans

    context = _plan_context(inputs, profile, export, export_key, options, on_stage, progress_for)
    result.plans = search_plans(context, choice)
    shipped = result.plans.shipped
    if shipped is None:
        from edgeus.errors import EdgeusError

        reasons = "; ".join(f"{r.plan.name}: {r.reason}" for r in result.plans.runs)
        raise EdgeusError(f"no plan could be built for {profile.name}: {reasons}")
    result.stages += shipped.stages
    profile = shipped.profile
    result.run_dir = _bundle_dir(options, loaded.name, profile.name, shipped.plan.name)
    compiled = StageResult("compile", shipped.model_dir.parent, shipped.compile_key, True, {})
    validated_dir = shipped.stages[-1].path

    # 5. profile
    on_stage("profile", None)
    from edgeus.util.device_identity import detect_identity
    from edgeus.util.toolchain import machine_description

    # the device's identity in the key: two farm devices never share a measurement, even on one host
    perf_key = content_key("profile", shipped.compile_key, machine_description(), detect_identity(),
                           options.profile_min_iters, options.profile_min_duration_s)
    profiled = run_stage(stages_dir, "profile", perf_key,
                         lambda tmp: _profile(loaded, compiled.path / "out", export.path / "model.onnx", profile, splits,
                                              tmp, threads, options))
    result.stages.append(profiled)
    on_stage("profile", profiled)

    result.accuracy = shipped.accuracy
    result.perf = _load_perf(profiled.path / "perf.json")
    result.verdicts, result.passed = judge(profile, result.perf, result.accuracy, measured_on_target=options.on_device)
    if result.plans.chosen is None:  # the closest plan ships, marked failed, so the user can see why
        from edgeus.pipeline.verdicts import Verdict

        result.verdicts.insert(0, Verdict("plan search", None, 0, "", False,
                                          f"no plan passes every gate; closest: {shipped.plan.name} ({shipped.reason})"))
        result.passed = False
    on_stage("bundle", None)
    result.manifest = _bundle(loaded, profile, compiled.path / "out", validated_dir, profiled.path, result, plan,
                              data, threads, options)
    on_stage("bundle", StageResult("bundle", result.run_dir, "", False, {}))
    return result


def _bundle_dir(options: BuildOptions, model: str, profile: str, plan: str) -> Path:
    """``OUT/<model>-<profile>-<plan>``, refused when it exists without ``force`` (cached stages are reused)."""
    run_dir = options.out / f"{model}-{profile}-{plan}"
    if run_dir.exists() and not options.force:
        from edgeus.errors import OutputExistsError

        raise OutputExistsError(f"bundle {run_dir} exists; pass --force to rebuild it (cached stages are reused)")
    return run_dir


def _deferred_engine(loaded: LoadedModel, profile: DeviceProfile, export: StageResult, quant: StageResult,
                     export_key: str, quant_key: str, plan: CalibrationPlan | None, data: Path, threads: int,
                     options: BuildOptions, result: BuildResult, on_stage: OnStage, progress_for: ProgressFor,
                     data_sha256: str) -> BuildResult:
    """TensorRT targets: the engine is specific to the GPU and TensorRT version, so it is built where it runs.

    Here: validate the portable candidate (the QDQ model under ONNX Runtime for INT8, the fp32 ONNX for FP16)
    against the accuracy budgets, and ship a bundle with the recipe, marked "engine pending". On the target,
    ``edgeus finalize`` builds the engine, checks the conformance vectors, profiles and re-validates.
    """
    from edgeus.pipeline.finalize import local_tensorrt_ready
    from edgeus.pipeline.verdicts import Verdict

    on_stage("validate", None)
    val_key = content_key("validate", quant_key, export_key, data_sha256,
                          profile.budgets.accuracy_drop.model_dump(), options.seed)
    validated = run_stage(options.out / CACHE_DIR, "validate", val_key,
                          lambda tmp: _validate(loaded, quant.path / "out", profile, result.splits, tmp, threads, options,
                                                progress_for))
    result.stages.append(validated)
    on_stage("validate", validated)
    result.accuracy = _load_accuracy(validated.path / "accuracy.json")
    result.verdicts, result.passed = judge(profile, None, result.accuracy, measured_on_target=False)
    on_stage("bundle", None)
    result.manifest = _deferred_bundle(loaded, profile, export.path / "model.onnx", quant.path / "out", validated.path,
                                       result, plan, data, threads, options)
    on_stage("bundle", StageResult("bundle", result.run_dir, "", False, {}))
    result.stopped_after = "engine pending"
    trt = profile.runtime.tensorrt
    # an engine is built here when this machine may build it: a discrete-GPU target, or the device itself (a
    # farm agent serving a Jetson profile: farm/); a Jetson bundle built elsewhere waits for `edgeus finalize`
    if trt is not None and (not trt.build_on_device or options.on_device) and local_tensorrt_ready():
        from edgeus.pipeline.finalize import finalize

        on_stage("finalize", None)
        result.manifest = finalize(result.run_dir, data=data, threads=threads)
        result.stopped_after = None
        result.accuracy = _load_accuracy(result.run_dir / "accuracy.json")
        result.perf = _load_perf(result.run_dir / "perf.json")
        result.verdicts = [Verdict(**v) for v in result.manifest["verdicts"]]
        result.passed = result.manifest["passed"]
        on_stage("finalize", StageResult("finalize", result.run_dir, "", False, {}))
    return result


def _deferred_bundle(loaded: LoadedModel, profile: DeviceProfile, fp32_onnx: Path, quant_dir: Path, validated: Path,
                     result: BuildResult, plan: CalibrationPlan | None, data: Path, threads: int, options: BuildOptions) -> dict:
    from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
    from edgeus.backends.registry import open_runner
    from edgeus.backends.tensorrt.settings import builder_settings, trtexec_command
    from edgeus.bundle.assemble import MODEL_DIR, BundleParts, write_bundle

    build_input = f"{MODEL_DIR}/{ModelRecord.read(quant_dir).model.name}"
    portable = f"{MODEL_DIR}/model.onnx"
    settings = builder_settings(profile, loaded.spec, build_input)
    command = trtexec_command(settings)
    recipe = {"builder": settings.to_dict(), "trtexec": " ".join(command),
              "requires": {"device": profile.hardware.device, "compute_capability": settings.target_compute_capability,
                           "tensorrt_major": 10, "build_on_device": profile.runtime.tensorrt.build_on_device},
              "finalize": "edgeus finalize BUNDLE [--data DIR]  (on the target; see Dockerfile.jetson)"}
    engine = {"backend": "tensorrt", "status": "pending", "model": None, "portable_model": portable,
              "build_input": build_input, "settings": settings.to_dict(), "recipe": f"{MODEL_DIR}/recipe.json"}
    samples = result.splits["internal"]
    parts = BundleParts(
        loaded=loaded, profile=profile, model_dir=quant_dir, engine=engine,
        accuracy=json.loads((validated / "accuracy.json").read_text()), perf=None,
        verdicts=[v.to_dict() for v in result.verdicts], passed=result.passed, samples=samples,
        calibration=plan.record() if plan else None, data=result.data, build_log=_shippable_log(result, data, options),
        portable_factory=lambda: OnnxRuntimeRunner(fp32_onnx, threads=threads, name="onnxruntime-fp32 (portable)"),
        preview_factory=lambda: open_runner(quant_dir, profile, threads),
        extra_files={portable: fp32_onnx},
        extra_texts={f"{MODEL_DIR}/recipe.json": json.dumps(recipe, indent=1) + "\n",
                     f"{MODEL_DIR}/build_engine.sh": "#!/bin/sh\n# The engine edgeus finalize builds, with trtexec "
                     "(run inside the bundle folder on the target).\nset -e\n" + " \\\n  ".join(command) + "\n"},
    )
    return write_bundle(parts, result.run_dir, force=options.force)


def _export(loaded: LoadedModel, tmp: Path) -> dict:
    from edgeus.stages.export import export_onnx

    report = export_onnx(loaded, tmp / "model.onnx")
    return {"stage": "export", "report": report.to_dict(), "checkpoint_sha256": loaded.checkpoint_sha256}


def _calibration_plan(root: Path, spec: ModelSpec, profile: DeviceProfile, options: BuildOptions):
    from edgeus.contracts.profiles import Precision
    from edgeus.data.calibration import plan_for_profile
    from edgeus.data.uusic25 import read_dataset

    if profile.precision not in (Precision.int8, Precision.mixed):
        return None
    return plan_for_profile(read_dataset(root, spec.task_catalog()), spec, profile.quantization, seed=options.seed,
                            allow_missing_tasks=options.allow_missing_tasks)


def _quantize(onnx_path: Path, profile: DeviceProfile, spec: ModelSpec, tmp: Path, plan: CalibrationPlan | None) -> dict:
    from edgeus.stages.quantize import quantize

    result = quantize(onnx_path, profile, spec, tmp / "out", plan)
    return {"stage": "quantize", **result.to_dict()}


def _validate(loaded: LoadedModel, compiled_dir: Path, profile: DeviceProfile, splits: dict, tmp: Path, threads: int,
              options: BuildOptions, progress_for: ProgressFor = _no_progress) -> dict:
    from edgeus.backends.registry import open_runner
    from edgeus.backends.torch import TorchRunner
    from edgeus.stages.validate import validate

    total = 2 * sum(len(s) for s in splits.values())  # reference and candidate each see every image
    with TorchRunner(loaded.module, loaded.spec, threads=threads, name=f"torch-fp32:{loaded.name}") as ref, \
            open_runner(compiled_dir, profile, threads) as cand, progress_for("validate", total) as advance:
        report = validate(ref, cand, loaded.spec, splits, profile.budgets.accuracy_drop, seed=options.seed,
                          progress=advance)
    (tmp / "accuracy.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return {"stage": "validate", "passed": report.passed, "failed_tasks": report.failed_tasks()}


def _profile(loaded: LoadedModel, compiled_dir: Path, export_onnx: Path, profile: DeviceProfile, splits: dict, tmp: Path,
             threads: int, options: BuildOptions) -> dict:
    """Profiled in a fresh process: its memory is the runtime's and the model's, as on the device, not the
    build's (torch, NNCF and every candidate plan would otherwise count against the target's budget)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from edgeus.pipeline.profile_worker import profile_compiled

    args = (str(compiled_dir), profile.model_dump_json(), loaded.spec, splits["internal"], str(export_onnx), threads,
            options.profile_min_iters, options.profile_min_duration_s)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        perf = pool.submit(profile_compiled, *args).result()
    (tmp / "perf.json").write_text(json.dumps(perf, indent=1) + "\n")
    return {"stage": "profile", "p95_ms": perf["compute"]["p95_ms"]}


def _load_accuracy(path: Path):
    from edgeus.stages.records import accuracy_from_dict

    return accuracy_from_dict(json.loads(path.read_text()))


def _load_perf(path: Path):
    from edgeus.stages.records import perf_from_dict

    return perf_from_dict(json.loads(path.read_text()))


def _bundle(loaded: LoadedModel, profile: DeviceProfile, compiled_dir: Path, validated: Path, profiled: Path, result: BuildResult,
            plan: CalibrationPlan | None, data: Path, threads: int, options: BuildOptions) -> dict:
    from edgeus.backends.registry import open_runner
    from edgeus.bundle.assemble import MODEL_DIR, BundleParts, write_bundle

    record = ModelRecord.read(compiled_dir)
    settings = {k: v for k, v in record.settings.items() if k != "cache_dir"}
    engine = {"backend": profile.backend.value, "status": "ready", "model": f"{MODEL_DIR}/{record.model.name}",
              "settings": {**settings, "threads": threads}, "recipe": None}
    samples = result.splits["internal"]
    parts = BundleParts(
        loaded=loaded, profile=profile, model_dir=compiled_dir, engine=engine,
        accuracy=_with_plan_evidence(json.loads((validated / "accuracy.json").read_text()), result.plans),
        perf=json.loads((profiled / "perf.json").read_text()),
        verdicts=[v.to_dict() for v in result.verdicts], passed=result.passed, samples=samples,
        calibration=plan.record() if plan else None, data=result.data, build_log=_shippable_log(result, data, options),
        candidate_factory=lambda: open_runner(compiled_dir, profile, threads),
        extra_texts={"plans.json": json.dumps(result.plans.to_dict(), indent=1, default=str) + "\n"} if result.plans else {},
    )
    return write_bundle(parts, result.run_dir, force=options.force)


def _with_plan_evidence(accuracy: dict, plans: PlanSearch | None) -> dict:
    """accuracy.json says which plan it is, on which images (the confirm part), and the stage ledger."""
    if plans is None or plans.shipped is None:
        return accuracy
    return {**accuracy, "plan": plans.shipped.plan.name, "images": plans.confirm_images,
            "search_images": plans.search_images, "ledger": plans.ledger}


def _shippable_log(result: BuildResult, data: Path, options: BuildOptions) -> str | None:
    """The build log so far, with this machine's paths replaced by placeholders (bundles carry no paths)."""
    import sys
    import tempfile

    if result.logs is None:
        return None
    import logging

    for handler in logging.getLogger().handlers:
        handler.flush()
    text = result.logs.path.read_text(encoding="utf-8", errors="replace")
    return scrub_paths(text, {str(Path(options.out).resolve()): "<out>", str(Path(data).resolve()): "<data>",
                              sys.prefix: "<python>", str(Path(__file__).resolve().parents[2]): "<edgeus-src>",
                              tempfile.gettempdir(): "<tmp>", str(Path.home()): "~", str(Path.cwd()): "<cwd>"})
