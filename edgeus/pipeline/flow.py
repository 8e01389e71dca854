"""``edgeus build``: export -> plans (quantize -> compile -> validate, timed side by side) -> profile ->
bundle, each stage cached by the content hash of its inputs (pipeline/stages.py).

Reads top to bottom as the flow in docs/ARCHITECTURE.md. Stages are cached in ``OUT/.edgeus-cache/`` (shared
by every target, so two CPU targets export once). The result is a bundle ``OUT/<model>-<profile>-<plan>/``
(see edgeus/bundle/), written atomically and never over an existing one without ``force``. TensorRT targets
take the deferred path (pipeline/deferred.py): their engine is built on the device; Core ML targets theirs
(pipeline/coreml_pending.py): the package is compiled and run on a Mac.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from edgeus.contracts.plans import PlanChoice, candidate_plans, without_twins
from edgeus.contracts.profiles import Backend, DeviceProfile
from edgeus.errors import EdgeusError
from edgeus.pipeline.backend_entity import build_backend
from edgeus.pipeline.cache import StageResult
from edgeus.pipeline.context import (  # noqa: F401 -- re-exported
    CACHE_DIR,
    DEFAULT_MODEL,
    BuildContext,
    BuildOptions,
    BuildResult,
    OnStage,
    ProgressFor,
    build_context,
    bundle_dir,
    no_progress,
    silent,
)
from edgeus.pipeline.coreml_pending import coreml_pending_build
from edgeus.pipeline.deferred import deferred_build
from edgeus.pipeline.plans import plan_profile, plan_runner, quantize_plans, search_plans
from edgeus.pipeline.robustness import robustness_stage, robustness_verdicts
from edgeus.pipeline.stages import export_stage, profile_stage, profiling_of, quantize_stage, validation_of
from edgeus.pipeline.tail import ship_bundle
from edgeus.pipeline.target_evidence import evidence_isa
from edgeus.pipeline.verdicts import Verdict, all_passed, is_target_machine, judge
from edgeus.util.lock import output_lock
from edgeus.util.logs import CapturedLogs, capture_library_logs
from edgeus.util.toolchain import cpu_isa


def build(profile: DeviceProfile, options: BuildOptions, on_stage: OnStage = silent,
          progress_for: ProgressFor = no_progress) -> BuildResult:
    """``progress_for(stage, total)`` returns a context manager yielding ``advance(label, n)``.

    Library logs (NNCF, OpenVINO, ONNX Runtime, warnings) go to a log file while the build runs, shipped in the
    bundle as ``build.log`` and kept as ``OUT/.edgeus-cache/logs/<profile>.log``; ``options.verbose`` also
    shows them on stderr."""
    # an unknown plan, or one the target cannot run, is refused before anything is written
    choice = candidate_plans(profile, options.plan or profile.plan, cpu_isa())
    if not options.robustness and profile.budgets.robustness is not None:
        raise EdgeusError(f"{profile.name} gates robustness under shift ([budgets.robustness]): it cannot be skipped")
    log_dir = Path(tempfile.mkdtemp(prefix="edgeus-log-"))
    try:
        # one writer per -o folder (a second build refuses); stale locks of killed builds are taken over
        with output_lock(options.out, notice=lambda message: print(f"edgeus: {message}", file=sys.stderr)), \
                capture_library_logs(log_dir / "build.log", options.verbose) as logs:
            where = evidence_isa(profile)  # before any kernel runs: OpenVINO's ISA cap is read once per process
            ctx = build_context(profile, options, choice, on_stage=on_stage, progress_for=progress_for)
            ctx.evidence_isa = where
            result = _build(ctx, choice, logs)
            if ctx.timing_threads < ctx.threads:
                result.notes.append(f"timing with {ctx.timing_threads} threads, the cores this machine has "
                                    f"({ctx.threads} asked; the bundle keeps {ctx.threads} for the device)")
            kept = options.out / CACHE_DIR / "logs" / f"{profile.name}.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(logs.path, kept)
            logs.path = kept
        return result
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def prepare(profile: DeviceProfile, options: BuildOptions, progress_for: ProgressFor | None = None) -> list[StageResult]:
    """Export and quantize (every float scope included) each candidate plan of ``profile`` into
    ``OUT/.edgeus-cache``, nothing after: the device-independent stages a farm runs once on any worker before
    each device compiles, validates and profiles (farm/build.py). The stages and their keys are the ones
    ``build`` runs, so a build finds them cached."""
    choice = candidate_plans(profile, options.plan or profile.plan, cpu_isa())
    evidence_isa(profile)  # the same kernels as the build that will find these stages cached
    ctx = build_context(profile, options, choice, bundle=False, progress_for=progress_for or no_progress)
    ctx.export = export_stage(ctx)
    if build_backend(profile).engine_on_device:
        return [ctx.export, quantize_stage(ctx, plan_profile(profile, choice.candidates[0]))]
    return [ctx.export, *quantize_plans(ctx, without_twins(choice, ctx.spec.int8_float_patterns))]


def _build(ctx: BuildContext, choice: PlanChoice, logs: CapturedLogs) -> BuildResult:
    result = BuildResult(ctx.run_dir, logs=logs, splits=ctx.splits, data=ctx.provenance)

    # 1. export
    ctx.on_stage("export", None)
    ctx.export = export_stage(ctx)
    result.stages.append(ctx.export)
    ctx.on_stage("export", ctx.export)

    if build_backend(ctx.profile).engine_on_device:
        # 2-3. the profile's one plan: quantize (convert), validate the portable candidate; the engine waits for
        # the device (TensorRT) or a Mac (Core ML)
        pending = coreml_pending_build if ctx.profile.backend is Backend.coreml else deferred_build
        return pending(ctx, plan_profile(ctx.profile, choice.candidates[0]), result)

    # 2-4. every candidate plan: quantize, compile, validate on the confirm part; timed side by side
    result.plans = search_plans(ctx, without_twins(choice, ctx.spec.int8_float_patterns))
    shipped = result.plans.shipped
    if shipped is None:
        reasons = "; ".join(f"{r.plan.name}: {r.reason}" for r in result.plans.runs)
        raise EdgeusError(f"no plan could be built for {ctx.profile.name}: {reasons}")
    result.stages += shipped.stages
    profile = shipped.profile
    result.run_dir = bundle_dir(ctx.options, ctx.loaded.name, profile.name, shipped.plan.name)

    # 5. profile (in its own process), against the fp32 export on the same backend
    ctx.on_stage("profile", None)
    profiled = profile_stage(profiling_of(ctx), shipped.compile_key, shipped.model_dir, profile, ctx.fp32_onnx)
    result.stages.append(profiled)
    ctx.on_stage("profile", profiled)

    # 6. robustness under shift, on the internal images that confirmed the plan (severity 0: the validation);
    # where the profile gates it the plan search measured every candidate already (pipeline/plans.py)
    if shipped.robustness is not None:
        result.robustness = shipped.robustness
    elif ctx.options.robustness:
        ctx.on_stage("robustness", None)
        robust = robustness_stage(validation_of(ctx), shipped.compile_key, plan_runner(shipped, ctx.threads),
                                  result.plans.confirm.get("internal", []), profile.budgets.robustness)
        result.stages.append(robust)
        ctx.on_stage("robustness", robust)
        result.robustness = robust.payload

    # 7. verdicts and the bundle
    result.accuracy, result.perf = shipped.accuracy, profiled.payload
    result.verdicts, result.passed = judge(profile, result.perf, result.accuracy,
                                           measured_on_target=ctx.options.on_device or is_target_machine(profile))
    result.verdicts += robustness_verdicts(result.robustness, profile.budgets.robustness) if result.robustness else []
    result.passed = all_passed(result.verdicts, profile.budgets.strict)
    if result.plans.chosen is None:  # the closest plan ships, marked failed, so the user can see why
        result.verdicts.insert(0, Verdict("plan search", None, 0, "", False,
                                          f"no plan passes every gate; closest: {shipped.plan.name} ({shipped.reason})"))
        result.passed = False
    ctx.on_stage("bundle", None)
    result.manifest = ship_bundle(ctx, result, profile, shipped.model_dir, result.perf)
    ctx.on_stage("bundle", StageResult("bundle", result.run_dir, "", False, {}))
    return result
