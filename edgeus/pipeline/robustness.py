"""The robustness stage of a build: the shipped plan against the build's fp32 reference (torch fp32 of the
export) under ultrasound shifts, on the images that confirmed it (stages/robustness.py), cached by content
like every stage; and its verdicts where the profile gates robustness (``[budgets.robustness]``).

Cost, kept within a couple of minutes of a default build on 2 cores: at most ``IMAGES_PER_ROW`` of each task
row's confirm images; every family at severities 2 and 4 when the profile gates nothing (measured, shown),
the gated families at severities 1..max_severity when it does. Clean predictions are made on the same images
by the same runners as the validation (severity 0 is the validation's numbers on those images exactly)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from edgeus import __version__
from edgeus.backends.base import Runner
from edgeus.backends.memo import MemoRunner
from edgeus.contracts.profiles import RobustnessBudget
from edgeus.data.uusic25 import Sample
from edgeus.pipeline.cache import StageResult, content_key, run_stage
from edgeus.pipeline.stages import Validation
from edgeus.pipeline.verdicts import Verdict
from edgeus.stages.robustness import RobustnessReport, robustness, shift_grid
from edgeus.util.toolchain import cpu_isa, machine_description

MEASURED_SEVERITIES = (2, 4)
IMAGES_PER_ROW = 6
ROBUSTNESS_FILE = "robustness.json"


def robustness_grid(budget: RobustnessBudget | None) -> list[tuple[str, int]]:
    if budget is None:
        return shift_grid(None, MEASURED_SEVERITIES)
    return shift_grid(budget.families, tuple(range(1, budget.max_severity + 1)))


def robustness_samples(samples: list[Sample], per_row: int = IMAGES_PER_ROW) -> list[Sample]:
    """The first ``per_row`` samples of each task row, in their order."""
    taken: dict[str, int] = {}
    chosen = []
    for s in samples:
        if taken.get(s.task.key, 0) < per_row:
            taken[s.task.key] = taken.get(s.task.key, 0) + 1
            chosen.append(s)
    return chosen


def robustness_key(v: Validation, model_key: str, samples: list[Sample], budget: RobustnessBudget | None) -> str:
    return content_key("robustness", __version__, "computed_on", model_key, v.reference_key, v.data_sha256,
                       sorted(s.id for s in samples), robustness_grid(budget),
                       budget.model_dump() if budget else None, v.seed)


def robustness_stage(v: Validation, model_key: str, candidate: Callable[[], Runner], samples: list[Sample],
                     budget: RobustnessBudget | None) -> StageResult[dict]:
    """``robustness.json`` of ``candidate()`` on (up to ``IMAGES_PER_ROW`` per row of) ``samples``: the payload
    is its dict."""
    grid, samples = robustness_grid(budget), robustness_samples(samples)

    def work(tmp: Path) -> dict:
        reference = v.reference()
        # the memo would keep every shifted image's outputs (GBs): the shifted predictions run on the model itself
        plain = reference.inner if isinstance(reference, MemoRunner) else reference
        with candidate() as runner, v.progress_for("robustness under shift", len(grid)) as advance:
            report = robustness(plain, runner, v.spec, samples, grid, budget, v.seed,
                                progress=lambda label: advance(label, 1))
        # where these figures were computed: the build machine's kernels (the engine's settings: the manifest)
        computed_on = {**machine_description(), "isa": cpu_isa(), "runner": runner.name}
        (tmp / ROBUSTNESS_FILE).write_text(json.dumps({**report.to_dict(), "computed_on": computed_on}, indent=1)
                                           + "\n")
        worst = report.worst()
        return {"stage": "robustness", "shifts": len(grid), "images": len(samples), "passed": report.passed,
                "worst": worst.to_dict() if worst else None}

    return run_stage(v.stages_dir, "robustness", robustness_key(v, model_key, samples, budget), work,
                     lambda folder: json.loads((folder / ROBUSTNESS_FILE).read_text()))


def robustness_verdicts(report: dict, budget: RobustnessBudget | None) -> list[Verdict]:
    """One verdict per gated family: its worst extra drop at the gated severities, fail if any task and
    severity fails, else inconclusive if any is, else pass. Nothing where the profile gates no robustness."""
    if budget is None:
        return []
    verdicts = []
    for family in budget.families:
        drops = [d for d in report["drops"] if d["family"] == family and d["budget"] is not None]
        valued = [d for d in drops if d["extra_drop"] is not None]
        if not valued:
            continue
        worst = max(valued, key=lambda d: d["extra_drop"] - d["budget"])
        states = {d["state"] for d in drops}
        state = next((s for s in ("fail", "inconclusive") if s in states), "pass")
        verdicts.append(Verdict(
            f"robustness: {family} (severity <= {budget.max_severity}), extra drop beyond fp32",
            worst["extra_drop"], worst["budget"], "", {"pass": True, "fail": False}.get(state),
            f"worst {worst['task']} {worst['metric'].upper()} at severity {worst['severity']}: {worst['reason']}",
            state, worst["ci"]))
    return verdicts


def summary(report: dict) -> str:
    """The console's one line."""
    valued = [d for d in report["drops"] if d["extra_drop"] is not None]
    if not valued:
        return "robustness under shift: nothing measurable"
    w = max(valued, key=lambda d: d["extra_drop"])
    ci = w["ci"] if w["ci"] and w["ci"][0] is not None else None
    return (f"robustness under shift ({len(report['shifts'])} shifts, {report['images']} images): worst extra drop "
            f"beyond fp32 {w['extra_drop']:.4f}" + (f" [95 % CI {ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
            + f", {w['task']} {w['metric'].upper()} under {w['family']} severity {w['severity']}"
            + ("" if report.get("budget") else " (measured, not gated: the profile sets no [budgets.robustness])"))


__all__ = ["ROBUSTNESS_FILE", "RobustnessReport", "robustness_stage", "robustness_verdicts", "summary"]
