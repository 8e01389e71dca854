"""Robustness stage: a candidate and its fp32 reference on the same images, clean and under each ultrasound
shift (data/shifts.py), scored per task; the candidate's extra drop under each shift beyond fp32's, with a
paired CI and, where a budget is given, a three-state gate (evidence/robustness.py).

Severity 0 is the identity, so the clean predictions are those of a validation on the same images: the
numbers at severity 0 equal the validation's (tests/stages/test_robustness.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edgeus.backends.base import Runner, active
from edgeus.contracts.profiles import RobustnessBudget
from edgeus.contracts.spec import ModelSpec
from edgeus.data.shifts import FAMILIES, check_shift, shift
from edgeus.data.uusic25 import Sample
from edgeus.evidence.evaluate import predict
from edgeus.evidence.robustness import ExtraDrop, extra_drop, worst
from edgeus.evidence.scoring import TaskScores, pool_by_scored_task, score_task

METRICS = {"segmentation": ("dsc", "nsd"), "classification": ("auc", "acc")}
DEFAULT_SEVERITIES = (1, 3, 5)


@dataclass
class RobustnessReport:
    reference: str
    candidate: str
    images: int
    shifts: list[list] = field(default_factory=list)   # [family, severity] pairs measured
    drops: list[ExtraDrop] = field(default_factory=list)
    budget: dict | None = None

    @property
    def passed(self) -> bool:
        return all(d.state != "fail" for d in self.drops)

    def worst(self) -> ExtraDrop | None:
        return worst(self.drops)

    def to_dict(self) -> dict:
        return {"reference": self.reference, "candidate": self.candidate, "images": self.images,
                "shifts": self.shifts, "budget": self.budget, "passed": self.passed,
                "families": {name: {"parameter": FAMILIES[name].parameter, "formula": FAMILIES[name].formula,
                                    "values": list(FAMILIES[name].values)}
                             for name in dict.fromkeys(f for f, _ in self.shifts)},
                "drops": [d.to_dict() for d in self.drops]}


def shift_grid(families: list[str] | None = None, severities: tuple[int, ...] = DEFAULT_SEVERITIES) -> list[tuple[str, int]]:
    grid = [(f, s) for f in (families or list(FAMILIES)) for s in severities]
    for f, s in grid:
        check_shift(f, s)
    return grid


def _scores(runner: Runner, spec: ModelSpec, samples: list[Sample], transform=None) -> dict[str, TaskScores]:
    by_row: dict[str, list[Sample]] = {}
    for s in samples:
        by_row.setdefault(s.task.key, []).append(s)
    predictions = predict(runner, spec, samples, transform=transform)
    return pool_by_scored_task({k: score_task(by_row[k], p) for k, p in predictions.items()}, spec.task_catalog())


def robustness(reference: Runner, candidate: Runner, spec: ModelSpec, samples: list[Sample],
               grid: list[tuple[str, int]], budget: RobustnessBudget | None = None, seed: int = 0,
               progress: Callable[[str], None] | None = None) -> RobustnessReport:
    """The candidate's extra drop per task, metric, family and severity of ``grid``; gated by ``budget`` at
    severities up to its ``max_severity`` for its families (others are measured, not gated)."""
    return robustness_of_each(reference, [candidate], spec, samples, grid, budget, seed, progress)[0]


def robustness_of_each(reference: Runner, candidates: list[Runner], spec: ModelSpec, samples: list[Sample],
                       grid: list[tuple[str, int]], budget: RobustnessBudget | None = None, seed: int = 0,
                       progress: Callable[[str], None] | None = None) -> list[RobustnessReport]:
    """``robustness`` of several candidates against one reference: its shifted predictions are made once."""
    reports = [RobustnessReport(reference.name, c.name, len(samples), [list(g) for g in grid],
                                budget=budget.model_dump() if budget else None) for c in candidates]
    with active(reference, *candidates):
        ref_clean = _scores(reference, spec, samples)
        cand_clean = [_scores(c, spec, samples) for c in candidates]
        for family, severity in grid:
            if progress:
                progress(f"{family} severity {severity}")

            def transform(image, sample, family=family, severity=severity):
                return shift(image, family, severity, sample.id)

            ref_s = _scores(reference, spec, samples, transform)
            gated = budget is not None and family in budget.families and severity <= budget.max_severity
            for candidate, report, clean in zip(candidates, reports, cand_clean):
                cand_s = _scores(candidate, spec, samples, transform)
                for task, ref0 in ref_clean.items():
                    for metric in METRICS[ref0.kind]:
                        limit = getattr(budget, metric) if gated else None
                        report.drops.append(extra_drop(metric, family, severity, ref0, clean[task], ref_s[task],
                                                       cand_s[task], limit, seed))
    return reports
