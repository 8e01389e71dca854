"""Plan search: build every plan the target can run, time them side by side, gate each, ship the fastest
that passes every gate.

For each candidate (contracts/plans.py) the stages run as for any build, each cached by content hash:
quantize (with the plan's float scope), compile (with its float precision), validate on the *confirm* part of
the validation data. ``int8-auto`` first searches its float scope on the *search* part
(stages/scope_search.py) from the full-INT8 model the ``int8`` plan also uses. Then all compiled candidates are
timed in one interleaved loop (every round runs each once, so drift and noisy neighbours hit all alike), and
each gets its verdicts: the accuracy gates, latency p95 and model size. The choice is the fastest candidate
with no blocking verdict; without one, the closest (fewest blocking verdicts, then the smallest overrun).

When a candidate searches its float scope, the validation split is divided per task, by a hash of each
sample's id: half searches, half confirms (tasks with one image confirm only), for every candidate alike;
otherwise all of it confirms. The external split, where there is one, only confirms.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgeus import __version__
from edgeus.contracts.plans import Plan, PlanChoice
from edgeus.contracts.profiles import Backend, DeviceProfile
from edgeus.errors import EdgeusError, first_line
from edgeus.pipeline.cache import StageResult, content_key, run_stage
from edgeus.pipeline.verdicts import Verdict, accuracy_verdicts, all_passed, blocking
from edgeus.stages.quantize.recipe import QUANTIZE_RECIPE

if TYPE_CHECKING:
    from edgeus.backends.base import Runner
    from edgeus.data.calibration import CalibrationPlan
    from edgeus.data.uusic25 import Sample
    from edgeus.models import LoadedModel
    from edgeus.stages.validate import AccuracyReport

TIMING_ROUNDS, TIMING_MIN_S = 15, 3.0


@dataclass
class PlanContext:
    """What the build hands the plan search."""

    loaded: LoadedModel
    profile: DeviceProfile
    export: StageResult
    export_key: str
    calibration: CalibrationPlan | None
    calibration_sha256: str
    data_sha256: str
    stages_dir: Path
    threads: int
    seed: int
    splits: dict                      # split -> samples with truth
    on_stage: Callable
    progress_for: Callable
    reference: Runner | None = None   # torch fp32, memoized: every plan is compared on the same images

    @property
    def fp32_onnx(self) -> Path:
        return self.export.path / "model.onnx"


@dataclass
class PlanRun:
    plan: Plan
    profile: DeviceProfile                  # the target's profile with the plan applied
    stages: list[StageResult] = field(default_factory=list)
    model_dir: Path | None = None           # the compiled model
    compile_key: str = ""
    accuracy: AccuracyReport | None = None  # on the confirm part
    timing: dict | None = None
    size_mb: float | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    state: str = "error"                    # chosen | pass | rejected | error
    reason: str = ""
    search: dict | None = None              # the float-scope search (int8-auto)

    @property
    def passed(self) -> bool:
        return self.state in ("chosen", "pass")

    def overrun(self) -> float:
        """How far the worst blocking verdict is beyond its budget (measured / budget; inf without one)."""
        ratios = [v.overrun() for v in blocking(self.verdicts, self.profile.budgets.strict)]
        return max(ratios, default=0.0)

    def row(self) -> dict:
        """One line of the plans table (plans.json, the report, the console)."""
        worst = None
        if self.accuracy is not None:
            drops = [(t.metrics[m].drop, f"{split} {key} {m.upper()}") for split, sr in self.accuracy.splits.items()
                     for key, t in sr.tasks.items() for m in t.metrics if t.metrics[m].drop is not None]
            worst = max(drops, default=None)
        failing = [f"{v.item}: {_fmt(v.measured)} vs {_fmt(v.budget)}{(' ' + v.unit) if v.unit else ''} ({v.state})"
                   for v in blocking(self.verdicts, self.profile.budgets.strict)]
        return {"plan": self.plan.name, **self.plan.to_dict(), "state": self.state, "reason": self.reason,
                "median_ms": self.timing and self.timing["median_ms"], "p95_ms": self.timing and self.timing["p95_ms"],
                "speedup_vs_fp32": self.timing and self.timing.get("speedup_vs_fp32"),
                "actual_precision": self.timing and self.timing.get("actual_precision"),
                "size_mb": self.size_mb, "worst_drop": worst[0] if worst else None,
                "worst_drop_where": worst[1] if worst else None, "failing": failing,
                "float_blocks": self.search["float_blocks"] if self.search else None}


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


@dataclass
class PlanSearch:
    runs: list[PlanRun]
    excluded: dict[str, str]
    pinned: bool
    chosen: PlanRun | None = None
    closest: PlanRun | None = None
    search_images: int = 0
    confirm_images: dict = field(default_factory=dict)
    timing_note: str = ""
    ledger: list[dict] = field(default_factory=list)

    @property
    def shipped(self) -> PlanRun | None:
        return self.chosen or self.closest

    def to_dict(self) -> dict:
        return {"chosen": self.chosen.plan.name if self.chosen else None,
                "closest": self.closest.plan.name if self.closest else None, "pinned": self.pinned,
                "plans": [r.row() for r in self.runs], "excluded": self.excluded,
                "search_images": self.search_images, "confirm_images": self.confirm_images,
                "timing": self.timing_note, "ledger": self.ledger,
                "scope_search": next((r.search for r in self.runs if r.search), None)}


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
    """The target's profile as this plan builds it: precision, float scope, float compute precision."""
    quantization = profile.quantization.model_copy(update={"spec_hints": plan.scope == "hint"})
    runtime = profile.runtime
    if profile.backend is Backend.openvino:
        from edgeus.contracts.profiles import OpenVINOSettings

        ov = profile.runtime.openvino or OpenVINOSettings()
        runtime = runtime.model_copy(update={"openvino": ov.model_copy(update={"inference_precision": plan.float_compute})})
    return profile.model_copy(update={"precision": plan.precision, "quantization": quantization, "runtime": runtime,
                                      "plan": plan.name})


def search_plans(ctx: PlanContext, choice: PlanChoice) -> PlanSearch:
    from edgeus.backends.memo import MemoRunner
    from edgeus.backends.torch import TorchRunner

    search, confirm = _search_and_confirm(ctx, choice)
    confirm_splits = {"internal": confirm, **{k: v for k, v in ctx.splits.items() if k != "internal"}}
    result = PlanSearch([], dict(choice.excluded), choice.pinned, search_images=len(search),
                        confirm_images={k: len(v) for k, v in confirm_splits.items()})
    ctx.reference = MemoRunner(TorchRunner(ctx.loaded.module, ctx.loaded.spec, threads=ctx.threads,
                                           name=f"torch-fp32:{ctx.loaded.name}"))
    scope_islands = _search_islands(choice.candidates)
    for plan in choice.candidates:
        run = PlanRun(plan, plan_profile(ctx.profile, plan))
        try:
            _build_plan(ctx, run, search, confirm_splits, scope_islands)
            run.state = "built"
        except EdgeusError as exc:
            run.state, run.reason = "error", first_line(exc, 300)
        result.runs.append(run)
    built = [r for r in result.runs if r.state == "built"]
    if built:
        result.timing_note = _time_plans(ctx, built, confirm or search)
    _judge_runs(ctx, result)
    if result.shipped is not None:
        result.ledger = stage_ledger(ctx, result.shipped, confirm_splits)
    return result


def _search_and_confirm(ctx: PlanContext, choice: PlanChoice) -> tuple[list[Sample], list[Sample]]:
    if any(p.scope == "auto" for p in choice.candidates):
        return split_search_confirm(ctx.splits["internal"], ctx.seed)
    return [], list(ctx.splits["internal"])  # nothing is searched: every validation image confirms


def quantize_plans(ctx: PlanContext, choice: PlanChoice) -> list[StageResult]:
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


def stage_ledger(ctx: PlanContext, run: PlanRun, splits: dict) -> list[dict]:
    """Each task's drop (against torch fp32) at each stage the shipped plan went through: the ONNX export under
    ONNX Runtime, the INT8 model with float islands in f32 (where the plan computes them in bf16/fp16), the
    compiled plan. A user sees where accuracy was lost. (TensorRT bundles add the engine in ``finalize``.)"""
    from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner

    stages = [("ONNX fp32 (onnxruntime)", content_key("ledger-onnx", ctx.export_key),
               lambda: OnnxRuntimeRunner(ctx.fp32_onnx, threads=ctx.threads, name="onnxruntime-fp32"))]
    plan = run.plan
    if plan.compute == "int8" and plan.float_compute != "f32" and run.profile.backend is Backend.openvino:
        from edgeus.backends.openvino.runner import OpenVINORunner
        from edgeus.contracts.stage_records import ModelRecord

        model = ModelRecord.read(run.model_dir).model
        stages.append((f"{plan.name.split('+')[0]}, float islands in f32 (openvino)",
                       content_key("ledger-f32-islands", run.compile_key),
                       lambda: OpenVINORunner(model, threads=ctx.threads, inference_precision="f32",
                                              name="int8 f32-islands")))
    ledger = []
    for label, key, factory in stages:
        report = load_accuracy(_validate_stage(ctx, key, factory, splits, label).path / "accuracy.json")
        ledger.append({"stage": label, "drops": ledger_drops(report)})
    ledger.append({"stage": f"{plan.name} compiled ({run.profile.backend.value})", "drops": ledger_drops(run.accuracy)})
    return ledger


def ledger_drops(report: AccuracyReport) -> dict:
    """split -> task -> metric -> drop (reference minus candidate)."""
    return {split: {key: {m: c.drop for m, c in t.metrics.items()} for key, t in sr.tasks.items()}
            for split, sr in report.splits.items()}


def _search_islands(candidates: list[Plan]) -> str:
    """The float precision the scope search runs with: the most reduced one an ``int8-auto`` candidate uses,
    so the scope found also holds for its plans with more precise islands."""
    islands = {p.islands for p in candidates if p.scope == "auto"}
    return next((i for i in ("bf16", "f16") if i in islands), "f32")


def _reported(ctx: PlanContext, label: str, stage: Callable[[], StageResult]) -> StageResult:
    """A stage of one plan, announced and reported like the build's own stages ("int8 quantize: done")."""
    ctx.on_stage(label, None)
    result = stage()
    ctx.on_stage(label, result)
    return result


def _build_plan(ctx: PlanContext, run: PlanRun, search: list, confirm_splits: dict, scope_islands: str) -> None:
    profile, name = run.profile, run.plan.name
    quant, quant_key = _quantized(ctx, run, search, scope_islands)
    run.stages.append(quant)
    compile_key = content_key("compile", quant_key, profile.runtime.model_dump(), ctx.threads)
    compiled = _reported(ctx, f"{name} compile", lambda: run_stage(
        ctx.stages_dir, "compile", compile_key, lambda tmp: _compile(quant.path / "out", profile, tmp, ctx.threads)))
    run.stages.append(compiled)
    run.model_dir, run.compile_key = compiled.path / "out", compile_key
    run.size_mb = sum(p.stat().st_size for p in run.model_dir.iterdir()
                      if p.suffix in (".xml", ".bin", ".onnx")) / 2**20
    validated = _reported(ctx, f"{name} validate", lambda: _validate_stage(
        ctx, compile_key, _runner_factory(run, ctx.threads), confirm_splits, name))
    run.stages.append(validated)
    run.accuracy = load_accuracy(validated.path / "accuracy.json")


def _quantized(ctx: PlanContext, run: PlanRun, search: list, scope_islands: str) -> tuple[StageResult, str]:
    """The plan's quantized (or, for float plans, exported) model: its stage and key."""
    if run.plan.scope == "auto":
        return _auto_scope(ctx, run, search, scope_islands)
    return _reported(ctx, f"{run.plan.name} quantize", lambda: _quantize(ctx, run.profile)[0]), quantize_key(ctx, run.profile)


def quantize_stage_key(export_key: str, profile: DeviceProfile, calibration_fingerprint: str | None,
                       calibration_sha256: str | None) -> str:
    """The one formula for a quantize stage's cache key (plan search and the deferred TensorRT build alike)."""
    return content_key("quantize", QUANTIZE_RECIPE, export_key, profile.backend.value, profile.precision.value,
                       profile.quantization.model_dump(), calibration_fingerprint, calibration_sha256)


def quantize_key(ctx: PlanContext, profile: DeviceProfile) -> str:
    needs_data = profile.precision.value in ("int8", "mixed")
    return quantize_stage_key(ctx.export_key, profile, ctx.calibration.fingerprint if needs_data else None,
                              ctx.calibration_sha256 if needs_data else None)


def _quantize(ctx: PlanContext, profile: DeviceProfile) -> tuple[StageResult, str]:
    from edgeus.stages.quantize import quantize

    needs_data = profile.precision.value in ("int8", "mixed")
    key = quantize_key(ctx, profile)

    def work(tmp: Path) -> dict:
        result = quantize(ctx.fp32_onnx, profile, ctx.loaded.spec, tmp / "out", ctx.calibration if needs_data else None)
        return {"stage": "quantize", **result.to_dict()}

    return run_stage(ctx.stages_dir, "quantize", key, work), key


def _auto_scope(ctx: PlanContext, run: PlanRun, search: list, islands: str) -> tuple[StageResult, str]:
    """The full-INT8 model (the ``int8`` plan's, cached), its float scope searched on the search part."""
    from edgeus.contracts.plans import plan_named

    if run.profile.backend is not Backend.openvino:
        raise EdgeusError("the automatic float scope searches OpenVINO (NNCF) models; "
                          f"the {run.profile.backend.value} backend has the int8 and int8-hint plans")
    base_profile = plan_profile(ctx.profile, plan_named(ctx.profile.backend, "int8"))
    base_key = quantize_key(ctx, base_profile)
    base = _reported(ctx, f"{run.plan.name} quantize (full INT8)", lambda: _quantize(ctx, base_profile)[0])
    search_ids = sorted(s.id for s in search)
    key = content_key("scope", base_key, islands, ctx.data_sha256, search_ids,
                      ctx.profile.budgets.accuracy_drop.model_dump(), __version__)

    def work(tmp: Path) -> dict:
        record = _search_scope(ctx, base.path / "out", search, islands, tmp / "out")
        return {"stage": "scope", **record}

    stage = _reported(ctx, f"{run.plan.name} float-scope search", lambda: run_stage(ctx.stages_dir, "scope", key, work))
    run.search = json.loads((stage.path / "out" / "scope.json").read_text())
    return stage, key


def _search_scope(ctx: PlanContext, base_dir: Path, search: list, islands: str, out: Path) -> dict:
    from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
    from edgeus.backends.openvino.float_scope import RevertibleModel
    from edgeus.backends.openvino.runner import OpenVINORunner, import_openvino
    from edgeus.evidence.agreement import agreement
    from edgeus.evidence.evaluate import predict
    from edgeus.stages.scope_search import search_float_scope

    if not search:
        raise EdgeusError("the float-scope search needs validation images to search on (none left after the split)")
    spec, budgets = ctx.loaded.spec, ctx.profile.budgets.accuracy_drop
    base_model = base_dir / "model.xml"
    revertible = RevertibleModel(base_model, ctx.fp32_onnx)
    with OnnxRuntimeRunner(ctx.fp32_onnx, threads=ctx.threads, name="onnxruntime-fp32") as fp32:
        reference = predict(fp32, spec, search, keep_logits=True)
    blocks = {b.name: b.operations for b in revertible.blocks}

    def evaluate(float_blocks: list[str], tasks: set[str] | None):
        model = revertible.with_float(float_blocks)
        samples = [s for s in search if tasks is None or s.task.key in tasks]
        with OpenVINORunner(base_model, threads=ctx.threads, inference_precision=islands, model=model,
                            name="int8-search") as runner:
            start = time.perf_counter()
            predictions = predict(runner, spec, samples, keep_logits=True)
            ms = (time.perf_counter() - start) * 1000 / len(samples)
        return agreement({k: v for k, v in reference.items() if k in predictions}, predictions, budgets), ms

    with ctx.progress_for("scope search", 1 + 2 * len(blocks)) as advance:
        found = search_float_scope(blocks, evaluate, advance)
    found.search_images = len(search)
    out.mkdir(parents=True)
    ov = import_openvino()
    ov.save_model(revertible.with_float(found.float_blocks), str(out / "model.xml"), compress_to_fp16=False)
    quantize_record = json.loads((base_dir / "quantize.json").read_text())
    quantize_record["method"] += f" + automatic float scope ({len(found.float_blocks)} of {len(blocks)} blocks in float)"
    quantize_record["ignored_scope"] = {"names": found.float_operations, "patterns": [], "types": [],
                                        "blocks": found.float_blocks}
    (out / "quantize.json").write_text(json.dumps(quantize_record, indent=1) + "\n")
    scope = {**found.to_dict(), "islands": islands, "search_images": len(search)}
    (out / "scope.json").write_text(json.dumps(scope, indent=1) + "\n")
    return {"float_blocks": found.float_blocks, "within": found.within, "evaluations": len(found.steps)}


def _compile(quant_dir: Path, profile: DeviceProfile, tmp: Path, threads: int) -> dict:
    from edgeus.stages.compile import compile_model

    return {"stage": "compile", **compile_model(quant_dir, profile, tmp / "out", threads=threads).to_dict()}


def _validate_stage(ctx: PlanContext, model_key: str, factory: Callable, splits: dict, label: str) -> StageResult:
    """Torch fp32 against ``factory()``'s model on ``splits``, cached by the model's key and the images."""
    ids = {k: sorted(s.id for s in v) for k, v in splits.items()}
    key = content_key("validate", model_key, ctx.export_key, ctx.data_sha256, ids,
                      ctx.profile.budgets.accuracy_drop.model_dump(), ctx.seed)

    def work(tmp: Path) -> dict:
        report = validate_against_reference(ctx, factory, splits, label)
        (tmp / "accuracy.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
        return {"stage": "validate", "passed": report.passed, "failed_tasks": report.failed_tasks()}

    return run_stage(ctx.stages_dir, "validate", key, work)


def validate_against_reference(ctx: PlanContext, candidate_factory: Callable, splits: dict, label: str) -> AccuracyReport:
    from edgeus.stages.validate import validate

    total = 2 * sum(len(s) for s in splits.values())
    with candidate_factory() as candidate, ctx.progress_for(f"validate {label}", total) as advance:
        return validate(ctx.reference, candidate, ctx.loaded.spec, splits, ctx.profile.budgets.accuracy_drop,
                        seed=ctx.seed, progress=advance)


def load_accuracy(path: Path) -> AccuracyReport:
    from edgeus.stages.records import accuracy_from_dict

    return accuracy_from_dict(json.loads(path.read_text()))


def _timing_feeds(ctx: PlanContext, sample) -> dict:
    from edgeus.contracts.feeds import feeds_by_role, spec_inputs
    from edgeus.contracts.preprocess import preprocess, read_image

    spec = ctx.loaded.spec
    image = preprocess(read_image(sample.image_path, sample.id), spec.preprocessing_spec())
    return feeds_by_role(spec_inputs(spec), image[None], spec.task_catalog().prompt(sample.task))


def _time_plans(ctx: PlanContext, runs: list[PlanRun], samples: list) -> str:
    """Batch-1 latency of every built plan in one interleaved loop, cached per machine and compiled models."""
    from edgeus.util.toolchain import machine_description

    key = content_key("plan-timing", sorted(r.compile_key for r in runs), machine_description(), ctx.threads,
                      TIMING_ROUNDS, TIMING_MIN_S, "settled")

    def work(tmp: Path) -> dict:
        timings = measure_interleaved({r.plan.name: _runner_factory(r, ctx.threads) for r in runs},
                                      _timing_feeds(ctx, samples[0]), TIMING_ROUNDS, TIMING_MIN_S,
                                      ctx.progress_for)
        (tmp / "timing.json").write_text(json.dumps(timings, indent=1) + "\n")
        return {"stage": "plan-timing", "plans": sorted(timings)}

    stage = run_stage(ctx.stages_dir, "plan-timing", key, work)
    timings = json.loads((stage.path / "timing.json").read_text())
    fp32 = timings.get("fp32", {}).get("median_ms")
    for run in runs:
        run.timing = dict(timings[run.plan.name])
        if fp32:
            run.timing["speedup_vs_fp32"] = fp32 / run.timing["median_ms"]
    rounds = min(t["rounds"] for t in timings.values())
    note = f"batch 1, {ctx.threads} threads, {rounds} interleaved rounds, on this build machine"
    import platform

    here = platform.machine().replace("arm64", "aarch64").replace("AMD64", "x86_64")
    if here != ctx.profile.hardware.arch:
        # the ranking of plans by speed is this machine's; an ARM device may rank them differently
        note += f" ({here}, timing an {ctx.profile.hardware.arch} target: the ranking may differ on the device)"
    return note


def _runner_factory(run: PlanRun, threads: int):
    from edgeus.backends.registry import open_runner

    return lambda: open_runner(run.model_dir, run.profile, threads)


def measure_interleaved(factories: dict[str, Callable], feeds: dict, rounds: int, min_s: float,
                        progress_for: Callable) -> dict[str, dict]:
    """Each round runs every model in turn (one settling call, one timed); medians and p95 over rounds (at
    least ``rounds`` and ``min_s`` seconds)."""
    import contextlib

    times: dict[str, list[float]] = {name: [] for name in factories}
    with contextlib.ExitStack() as stack:
        runners = {name: stack.enter_context(factory()) for name, factory in factories.items()}
        for runner in runners.values():
            runner.infer(feeds)  # warm-up: first-call allocations and lazy compilation stay out
        start = time.perf_counter()
        with progress_for("time plans", rounds) as advance:
            while len(times[next(iter(times))]) < rounds or time.perf_counter() - start < min_s:
                for name, runner in runners.items():
                    # one untimed call first: the previous model's runtime threads (ONNX Runtime's spin
                    # after each run, OpenVINO's pool) wind down during it instead of during the timed one
                    runner.infer(feeds)
                    t0 = time.perf_counter()
                    runner.infer(feeds)
                    times[name].append((time.perf_counter() - t0) * 1000)
                advance("round", 1)
                if len(times[next(iter(times))]) >= 20 * rounds:
                    break
        precisions = {name: getattr(r, "actual_precision", None) for name, r in runners.items()}
    out = {}
    for name, values in times.items():
        ordered = sorted(values)
        out[name] = {"median_ms": statistics.median(values), "p95_ms": ordered[min(len(ordered) - 1,
                                                                                  int(0.95 * len(ordered)))],
                     "rounds": len(values), "actual_precision": precisions[name]}
    return out


def _judge_runs(ctx: PlanContext, result: PlanSearch) -> None:
    budgets = ctx.profile.budgets
    for run in result.runs:
        if run.state == "error":
            continue
        run.verdicts = accuracy_verdicts(run.accuracy) + [
            Verdict("latency p95 (compute, batch 1, interleaved)", run.timing["p95_ms"], budgets.latency_p95_ms, "ms",
                    run.timing["p95_ms"] <= budgets.latency_p95_ms, "on this build machine"),
            Verdict("model size", run.size_mb, budgets.model_size_mb, "MiB", run.size_mb <= budgets.model_size_mb),
        ] + _speedup_verdicts(run, budgets)
        ok = all_passed(run.verdicts, budgets.strict)
        run.state = "pass" if ok else "rejected"
        if not ok:
            first = blocking(run.verdicts, budgets.strict)[0]
            run.reason = f"{first.item}: {_fmt(first.measured)} vs budget {_fmt(first.budget)} ({first.state})"
    passing = sorted((r for r in result.runs if r.state == "pass"), key=lambda r: r.timing["median_ms"])
    if passing:
        result.chosen = passing[0]
        result.chosen.state = "chosen"
        for other in passing[1:]:
            other.reason = (f"passes, {other.timing['median_ms'] / result.chosen.timing['median_ms']:.2f}x the "
                            f"latency of {result.chosen.plan.name}")
        return
    judged = [r for r in result.runs if r.state == "rejected"]
    if judged:
        result.closest = min(judged, key=lambda r: (len(blocking(r.verdicts, budgets.strict)), r.overrun(),
                                                   r.timing["median_ms"]))


def _speedup_verdicts(run: PlanRun, budgets) -> list[Verdict]:
    """ONNX Runtime INT8 must beat ONNX Runtime fp32 of the same interleaved loop by ``ort_int8_min_speedup``
    (why: contracts/profiles.Budgets). Without fp32 in the loop (a pinned plan) there is nothing to compare."""
    speedup = run.timing.get("speedup_vs_fp32") if run.timing else None
    if run.profile.backend is not Backend.onnxruntime or run.plan.compute != "int8" or speedup is None:
        return []
    return [Verdict("speedup vs fp32 (ONNX Runtime INT8, same loop)", speedup, budgets.ort_int8_min_speedup,
                    "x fp32", speedup >= budgets.ort_int8_min_speedup,
                    "below it INT8 costs accuracy for a gain the target may not see (Q/DQ ~20 % of kernel time)",
                    floor=True)]

