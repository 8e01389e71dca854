"""The stage ledger: each task's drop (against torch fp32) at each stage the shipped plan went through, so a
user sees where accuracy was lost: the ONNX export under ONNX Runtime, the INT8 model with its float islands
in f32 (where the plan computes them in bf16/fp16 and the backend can say), the compiled plan. Every entry is
a cached validate stage (pipeline/stages.py). (TensorRT bundles add the engine in ``finalize``.)"""

from __future__ import annotations

from collections.abc import Callable

from edgeus.backends.base import Runner
from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.onnxruntime.target import target_session
from edgeus.contracts.reports import AccuracyReport
from edgeus.contracts.stage_records import ModelRecord
from edgeus.data.uusic25 import Sample
from edgeus.pipeline.backend_entity import build_backend
from edgeus.pipeline.cache import content_key
from edgeus.pipeline.context import BuildContext, PlanRun
from edgeus.pipeline.stages import validate_stage, validation_of


def stage_ledger(ctx: BuildContext, run: PlanRun, splits: dict[str, list[Sample]]) -> list[dict]:
    session = target_session(run.profile.hardware.arch)  # the target's graph rewrites, not this machine's
    stages: list[tuple[str, str, Callable[[], Runner]]] = [
        ("ONNX fp32 (onnxruntime)", content_key("ledger-onnx", ctx.export_key, *([session] if session else [])),
         lambda: OnnxRuntimeRunner(ctx.fp32_onnx, threads=ctx.threads, name="onnxruntime-fp32", session=session))]
    plan, backend = run.plan, build_backend(run.profile)
    if plan.compute == "int8" and plan.float_compute != "f32" and backend.islands_precision_knob:
        model = ModelRecord.read(run.model_dir).model
        stages.append((f"{plan.name.split('+')[0]}, float islands in f32 ({run.profile.backend.value})",
                       content_key("ledger-f32-islands", run.compile_key),
                       lambda: backend.float_islands_in_f32(model, ctx.threads)))
    validation = validation_of(ctx)
    ledger = []
    for label, key, factory in stages:
        report = validate_stage(validation, key, factory, splits, label).payload
        ledger.append({"stage": label, "drops": ledger_drops(report)})
    ledger.append({"stage": f"{plan.name} compiled ({run.profile.backend.value})", "drops": ledger_drops(run.accuracy)})
    return ledger


def ledger_drops(report: AccuracyReport) -> dict:
    """split -> task -> metric -> drop (reference minus candidate)."""
    return {split: {key: {m: c.drop for m, c in t.metrics.items()} for key, t in sr.tasks.items()}
            for split, sr in report.splits.items()}
