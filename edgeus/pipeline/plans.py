"""Plan search: build every plan the target can run, time them side by side, gate each, ship the fastest
that passes every gate.

For each candidate (contracts/plans.py) the stages run as for any build, each cached by content hash
(pipeline/stages.py): quantize (with the plan's float scope), compile (with its float precision), validate on
the *confirm* part of the validation data. ``int8-auto`` first searches its float scope on the *search* part
(stages/scope_search.py) from the full-INT8 model the ``int8`` plan also uses. Then all compiled candidates
are timed in one interleaved loop (every round runs each once, so drift and noisy neighbours hit all alike),
and each gets its verdicts: the accuracy gates, latency p95 and model size. The choice is the fastest
candidate with no blocking verdict; without one, the closest (fewest blocking verdicts, then the smallest
overrun).

When a candidate searches its float scope, the validation split is divided per task, by a hash of each
sample's id: half searches, half confirms (tasks with one image confirm only), for every candidate alike;
otherwise all of it confirms. The external split, where there is one, only confirms.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable

from edgeus.backends.base import Runner
from edgeus.backends.registry import open_runner
from edgeus.contracts.feeds import feeds_by_role, spec_inputs
from edgeus.contracts.kinds import Backend
from edgeus.contracts.plans import Plan, PlanChoice, fp32_of, profile_plans
from edgeus.contracts.preprocess import preprocess, read_image
from edgeus.contracts.profiles import Budgets, DeviceProfile, OpenVINOSettings
from edgeus.data.uusic25 import Sample
from edgeus.errors import EdgeusError, first_line
from edgeus.pipeline.backend_entity import build_backend
from edgeus.pipeline.cache import StageResult
from edgeus.pipeline.context import BuildContext, PlanRun, PlanSearch, PlanState, fmt
from edgeus.pipeline.ledger import stage_ledger
from edgeus.pipeline.profile_worker import model_size_mb
from edgeus.pipeline.projection import project
from edgeus.pipeline.robustness import robustness_stage, robustness_verdicts
from edgeus.pipeline.stages import (
    compile_stage,
    quantize_key,
    quantize_stage,
    scope_stage,
    timing_stage,
    validate_stage,
    validation_of,
)
from edgeus.pipeline.verdicts import (
    Verdict,
    accuracy_verdicts,
    all_passed,
    blocking,
    is_target_machine,
    off_target,
)
from edgeus.util.toolchain import host_arch


def split_search_confirm(samples: list[Sample], seed: int) -> tuple[list[Sample], list[Sample]]:
    """Half of each task's samples (by a hash of id and seed) for the search, the rest to confirm."""
    by_task: dict[str, list[Sample]] = {}
    for s in samples:
        by_task.setdefault(s.task.key, []).append(s)
    search, confirm = [], []
    for rows in by_task.values():
        ranked = sorted(rows, key=lambda s: hashlib.sha256(f"{seed}:{s.id}".encode()).hexdigest())
        half = len(ranked) // 2
        search += ranked[:half]
        confirm += ranked[half:]
    return search, confirm


def plan_profile(profile: DeviceProfile, plan: Plan) -> DeviceProfile:
    """The target's profile as this plan builds it: runtime, precision, float scope, float compute precision.
    A plan of another runtime than the profile's own (``backends``) takes that runtime's default settings with
    the profile's threads and batch sizes."""
    if plan.backend is not profile.backend:
        openvino = OpenVINOSettings() if plan.backend is Backend.openvino else None
        profile = profile.model_copy(update={"backend": plan.backend, "backends": [],
                                             "runtime": profile.runtime.model_copy(update={"openvino": openvino})})
    quantization = profile.quantization.model_copy(update={"spec_hints": plan.scope == "hint"})
    runtime = build_backend(profile).plan_runtime(profile.runtime, plan)
    return profile.model_copy(update={"precision": plan.precision, "quantization": quantization, "runtime": runtime,
                                      "plan": plan.name})


def search_plans(ctx: BuildContext, choice: PlanChoice) -> PlanSearch:
    search, confirm = _search_and_confirm(ctx, choice)
    confirm_splits = {"internal": confirm, **{k: v for k, v in ctx.splits.items() if k != "internal"}}
    result = PlanSearch([], dict(choice.excluded), choice.pinned, search_images=len(search),
                        confirm_images={k: len(v) for k, v in confirm_splits.items()}, confirm=confirm_splits)
    scope_islands = _search_islands(choice.candidates)
    for plan in choice.candidates:
        run = PlanRun(plan, plan_profile(ctx.profile, plan))
        try:
            _build_plan(ctx, run, search, confirm_splits, scope_islands)
            run.state = PlanState.built
        except EdgeusError as exc:
            run.state, run.reason = PlanState.error, first_line(exc, 300)
        result.runs.append(run)
    built = [r for r in result.runs if r.state is PlanState.built]
    if built:
        result.timing_note, result.peers = _time_plans(ctx, built, confirm or search)
    on_target = ctx.options.on_device or is_target_machine(ctx.profile)
    judge_plans(result, ctx.profile.budgets,
                None if on_target else lambda v: off_target(v, project(ctx.profile, ctx.timing_threads), ctx.profile))
    if result.shipped is not None:
        result.ledger = stage_ledger(ctx, result.shipped, confirm_splits)
    return result


def _search_and_confirm(ctx: BuildContext, choice: PlanChoice) -> tuple[list[Sample], list[Sample]]:
    if any(p.scope == "auto" for p in choice.candidates):
        return split_search_confirm(ctx.splits["internal"], ctx.seed)
    return [], list(ctx.splits["internal"])  # nothing is searched: every validation image confirms


def quantize_plans(ctx: BuildContext, choice: PlanChoice) -> list[StageResult]:
    """Only the quantized model of every candidate (its float scope searched where it has one): the stages a
    farm runs once before the devices compile (flow.prepare). A plan that fails here is left to the build,
    which reports it with the rest."""
    search, _ = _search_and_confirm(ctx, choice)
    scope_islands = _search_islands(choice.candidates)
    stages = []
    for plan in choice.candidates:
        try:
            stages.append(_quantized(ctx, PlanRun(plan, plan_profile(ctx.profile, plan)), search, scope_islands)[0])
        except EdgeusError:
            continue
    return stages


def _search_islands(candidates: list[Plan]) -> str:
    """The float precision the scope search runs with: the most reduced one an ``int8-auto`` candidate uses,
    so the scope found also holds for its plans with more precise islands."""
    islands = {p.islands for p in candidates if p.scope == "auto"}
    return next((i for i in ("bf16", "f16") if i in islands), "f32")


def _reported(ctx: BuildContext, label: str, stage: Callable[[], StageResult]) -> StageResult:
    """A stage of one plan, announced and reported like the build's own stages ("int8 quantize: done")."""
    ctx.on_stage(label, None)
    result = stage()
    ctx.on_stage(label, result)
    return result


def plan_runner(run: PlanRun, threads: int) -> Callable[[], Runner]:
    """How a built plan's compiled model is opened: the one runner factory (backends/registry.py)."""
    return lambda: open_runner(run.model_dir, run.profile, threads)


def _build_plan(ctx: BuildContext, run: PlanRun, search: list, confirm_splits: dict, scope_islands: str) -> None:
    profile, name = run.profile, run.plan.name
    quant, quant_key = _quantized(ctx, run, search, scope_islands)
    run.stages.append(quant)
    compiled = _reported(ctx, f"{name} compile", lambda: compile_stage(ctx, quant, quant_key, profile))
    run.stages.append(compiled)
    run.model_dir, run.compile_key = compiled.path / "out", compiled.key
    run.size_mb = model_size_mb(run.model_dir)
    validated = _reported(ctx, f"{name} validate", lambda: validate_stage(
        validation_of(ctx), compiled.key, plan_runner(run, ctx.threads), confirm_splits, name))
    run.stages.append(validated)
    run.accuracy = validated.payload
    if profile.budgets.robustness is not None:  # gated: every candidate is measured (flow.py reuses the shipped's)
        robust = _reported(ctx, f"{name} robustness", lambda: robustness_stage(
            validation_of(ctx), compiled.key, plan_runner(run, ctx.threads), confirm_splits.get("internal", []),
            profile.budgets.robustness))
        run.stages.append(robust)
        run.robustness = robust.payload


def _quantized(ctx: BuildContext, run: PlanRun, search: list, scope_islands: str) -> tuple[StageResult, str]:
    """The plan's quantized (or, for float plans, exported) model: its stage and key."""
    if run.plan.scope == "auto":
        return _auto_scope(ctx, run, search, scope_islands)
    stage = _reported(ctx, f"{run.plan.name} quantize", lambda: quantize_stage(ctx, run.profile))
    return stage, stage.key


def _auto_scope(ctx: BuildContext, run: PlanRun, search: list, islands: str) -> tuple[StageResult, str]:
    """The full-INT8 model (the ``int8`` plan's, cached), its float scope searched on the search part."""
    if not build_backend(run.profile).searches_float_scope:
        raise EdgeusError("the automatic float scope searches OpenVINO (NNCF) models; "
                          f"the {run.profile.backend.value} backend has the int8 and int8-hint plans")
    base_plan = next(p for p in profile_plans(ctx.profile) if p.backend is run.plan.backend
                     and (p.compute, p.scope, p.islands) == ("int8", "none", "f32"))
    base_profile = plan_profile(ctx.profile, base_plan)
    base_key = quantize_key(ctx, base_profile)
    base = _reported(ctx, f"{run.plan.name} quantize (full INT8)", lambda: quantize_stage(ctx, base_profile))
    stage = _reported(ctx, f"{run.plan.name} float-scope search",
                      lambda: scope_stage(ctx, base, base_key, search, islands))
    run.search = stage.payload
    return stage, stage.key


def _timing_feeds(ctx: BuildContext, sample: Sample) -> dict:
    spec = ctx.spec
    image = preprocess(read_image(sample.image_path, sample.id), spec.preprocessing_spec())
    return feeds_by_role(spec_inputs(spec), image[None], spec.task_catalog().prompt(sample.task))


def peer_runners(ctx: BuildContext, runs: list[PlanRun]) -> dict[str, tuple[str, Callable[[], Runner]]]:
    """What a user would run instead of a bundle, timed in the plans' loop so every build shows its own
    evidence that it beats them: torch eager of the model, and the export in fp32 on each CPU runtime whose
    fp32 is not already a built plan. Name -> (content key, runner factory)."""
    from edgeus.backends.torch import TorchRunner
    from edgeus.pipeline.backend_entity import ENTITIES

    threads, loaded = ctx.timing_threads, ctx.loaded
    peers: dict[str, tuple[str, Callable[[], Runner]]] = {
        "torch eager": (f"torch-eager:{loaded.checkpoint_sha256 or loaded.name}:{ctx.export_key}",
                        lambda: TorchRunner(loaded.module, loaded.spec, threads=threads, name="torch eager"))}
    built_fp32 = {r.plan.backend for r in runs if r.plan.compute == "fp32"}
    for backend in (Backend.onnxruntime, Backend.openvino):
        # a farm device may have one runtime only (an ARM board without OpenVINO): a peer it lacks is left out
        if backend not in built_fp32 and importlib.util.find_spec(backend.value) is not None:
            entity = ENTITIES[backend]
            peers[f"{backend.value} fp32"] = (
                f"{backend.value}-fp32:{ctx.export_key}:{ctx.profile.hardware.arch}",
                lambda e=entity: e.fp32_baseline(ctx.fp32_onnx, threads, ctx.profile.hardware.arch))
    return peers


def _time_plans(ctx: BuildContext, runs: list[PlanRun], samples: list) -> tuple[str, dict]:
    """Batch-1 latency of every built plan and of the peers (peer_runners) in one interleaved loop; each
    plan's speed-up over its own runtime's fp32 where that ran, and over every peer. Returns the note on how it
    was timed and the peers' timings (name -> median, p95)."""
    models = {r.plan.name: (r.compile_key, plan_runner(r, ctx.timing_threads)) for r in runs}
    peers = peer_runners(ctx, runs)
    timings = timing_stage(ctx, {**models, **peers}, _timing_feeds(ctx, samples[0])).payload
    plans = [r.plan for r in runs]
    peer_timings = {name: {k: timings[name][k] for k in ("median_ms", "p95_ms")} for name in peers}
    # a built fp32 plan is the peer of its runtime ("onnxruntime fp32"), timed as a plan
    for run in runs:
        if run.plan.compute == "fp32":
            peer_timings[f"{run.plan.backend.value} fp32"] = {k: timings[run.plan.name][k] for k in ("median_ms", "p95_ms")}
    for run in runs:
        run.timing = dict(timings[run.plan.name])
        base = fp32_of(run.plan, plans)
        if base is not None:
            run.timing["speedup_vs_fp32"] = timings[base.name]["median_ms"] / run.timing["median_ms"]
        run.timing["vs_peers"] = {name: t["median_ms"] / run.timing["median_ms"] for name, t in peer_timings.items()}
    rounds = min(t["rounds"] for t in timings.values())
    note = f"batch 1, {ctx.timing_threads} threads, {rounds} interleaved rounds, on this build machine"
    here = host_arch()
    if here != ctx.profile.hardware.arch:
        # the ranking of plans by speed is this machine's; an ARM device may rank them differently
        note += f" ({here}, timing an {ctx.profile.hardware.arch} target: the ranking may differ on the device)"
    return note, peer_timings


def judge_plans(result: PlanSearch, budgets: Budgets, off_target_as: Callable[[Verdict], Verdict] | None = None) -> None:
    """Every built plan's verdicts (accuracy gates, latency p95 of the interleaved loop, size, the INT8
    speedup where the backend gates it), its state, and the choice: the fastest that passes, else the
    closest (fewest blocking verdicts, then the smallest overrun, then the fastest). ``off_target_as``: this
    machine is not the target, so the latency verdict becomes that (inconclusive, projected: verdicts.off_target)."""
    for run in result.runs:
        if run.state is PlanState.error:
            continue
        latency = Verdict("latency p95 (compute, batch 1, interleaved)", run.timing["p95_ms"], budgets.latency_p95_ms,
                          "ms", run.timing["p95_ms"] <= budgets.latency_p95_ms, "on this build machine")
        run.verdicts = accuracy_verdicts(run.accuracy) + [
            off_target_as(latency) if off_target_as else latency,
            Verdict("model size", run.size_mb, budgets.model_size_mb, "MiB", run.size_mb <= budgets.model_size_mb),
        ] + _speedup_verdicts(run, budgets) + (robustness_verdicts(run.robustness, budgets.robustness)
                                               if run.robustness else [])
        ok = all_passed(run.verdicts, budgets.strict)
        run.state = PlanState.passed if ok else PlanState.rejected
        if not ok:
            first = blocking(run.verdicts, budgets.strict)[0]
            run.reason = f"{first.item}: {fmt(first.measured)} vs budget {fmt(first.budget)} ({first.state})"
            if first.item.startswith("robustness"):  # which task, metric and severity: the verdict's note
                run.reason += f"; {first.note}"
    passing = sorted((r for r in result.runs if r.state is PlanState.passed), key=lambda r: r.timing["median_ms"])
    if passing:
        result.chosen = passing[0]
        result.chosen.state = PlanState.chosen
        for other in passing[1:]:
            other.reason = (f"passes, {other.timing['median_ms'] / result.chosen.timing['median_ms']:.2f}x the "
                            f"latency of {result.chosen.plan.name}")
        return
    judged = [r for r in result.runs if r.state is PlanState.rejected]
    if judged:
        result.closest = min(judged, key=lambda r: (len(blocking(r.verdicts, budgets.strict)), r.overrun(),
                                                   r.timing["median_ms"]))


def _speedup_verdicts(run: PlanRun, budgets: Budgets) -> list[Verdict]:
    """Where the backend gates it (backend_entity.int8_speedup_gate), INT8 must beat fp32 of the same
    interleaved loop by ``ort_int8_min_speedup``. Without fp32 in the loop (a pinned plan) there is nothing
    to compare."""
    speedup = run.timing.get("speedup_vs_fp32") if run.timing else None
    if not build_backend(run.profile).int8_speedup_gate or run.plan.compute != "int8" or speedup is None:
        return []
    return [Verdict("speedup vs fp32 (ONNX Runtime INT8, same loop)", speedup, budgets.ort_int8_min_speedup,
                    "x fp32", speedup >= budgets.ort_int8_min_speedup,
                    "below it INT8 costs accuracy for a gain the target may not see (Q/DQ ~20 % of kernel time)",
                    floor=True)]
