"""Stage 4, validate: reference vs candidate on the same images, per task, with intervals and verdicts.

For every task row and every split (internal centre, external centre) both models are scored with the
challenge's metrics (DSC, NSD for segmentation; AUC, accuracy for classification), each with a 95 %
bootstrap interval, and the drop (reference minus candidate) with a *paired* interval (the same resampled
images for both). Fidelity compares the two models directly: Dice between their masks, the largest logit
difference, argmax agreement, non-finite outputs. Verdicts apply the profile's drop budgets per task
(worst-task budget) and over tasks (macro budget).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from edgeus.backends.base import Runner, active
from edgeus.bootstrap import N_BOOT, metric_replicates, percentile_interval, resample_counts
from edgeus.data.uusic25 import Sample
from edgeus.evaluate import TaskPredictions, predict
from edgeus.metrics import mask_agreement
from edgeus.profiles import AccuracyDrops
from edgeus.scoring import TaskScores, score_task
from edgeus.spec import ModelSpec

SEG_METRICS, CLS_METRICS = ("dsc", "nsd"), ("auc", "acc")


@dataclass
class MetricComparison:
    reference: float | None
    reference_ci: list
    candidate: float | None
    candidate_ci: list
    drop: float | None
    drop_ci: list
    budget: float
    passed: bool | None  # None: undefined (e.g. AUC with one class present)


@dataclass
class TaskComparison:
    task: str
    kind: str
    n: int
    metrics: dict[str, MetricComparison]
    fidelity: dict
    passed: bool


@dataclass
class SplitReport:
    split: str
    tasks: dict[str, TaskComparison]
    macro: dict[str, dict]
    worst: dict[str, dict]
    passed: bool


@dataclass
class AccuracyReport:
    reference: str
    candidate: str
    splits: dict[str, SplitReport] = field(default_factory=dict)
    budgets: dict = field(default_factory=dict)
    n_boot: int = N_BOOT
    passed: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    def failed_tasks(self) -> dict[str, list[str]]:
        return {s: [k for k, t in r.tasks.items() if not t.passed] for s, r in self.splits.items()}


def _values(scores: TaskScores, metric: str) -> dict:
    if metric in ("dsc", "nsd"):
        return {"per_sample": scores.per_sample[metric]}
    if metric == "acc":
        return {"per_sample": (scores.probabilities.argmax(1) == scores.labels).astype(float)}
    return {"labels": scores.labels, "probabilities": scores.probabilities}


def compare_metric(metric: str, ref: TaskScores, cand: TaskScores, budget: float, seed: int) -> MetricComparison:
    counts = resample_counts(ref.n, seed=seed)
    r_rep = metric_replicates(metric, _values(ref, metric), counts)
    c_rep = metric_replicates(metric, _values(cand, metric), counts)
    r, c = ref.value(metric), cand.value(metric)
    drop = None if r is None or c is None else r - c
    return MetricComparison(r, percentile_interval(r_rep).to_list(), c, percentile_interval(c_rep).to_list(), drop,
                            percentile_interval(r_rep - c_rep).to_list(), budget,
                            None if drop is None else bool(drop <= budget + 1e-12))


def fidelity(ref: TaskPredictions, cand: TaskPredictions, picks: list[int]) -> dict:
    finite = all(np.all(np.isfinite(cand.logits[i])) for i in picks)
    max_diff = max((float(np.max(np.abs(ref.logits[i] - cand.logits[i]))) for i in picks), default=0.0)
    out = {"max_abs_logit_diff": max_diff, "non_finite_outputs": not finite}
    if ref.kind == "segmentation":
        out["mask_dice_vs_reference"] = float(np.mean([mask_agreement(ref.logits[i].argmax(0), cand.logits[i].argmax(0)) for i in picks]))
    else:
        out["argmax_agreement"] = float(np.mean([ref.logits[i].argmax() == cand.logits[i].argmax() for i in picks]))
    return out


def _aggregate(tasks: dict[str, TaskComparison], budgets: AccuracyDrops) -> tuple[dict, dict, bool]:
    macro, worst, passed = {}, {}, True
    for metric in (*SEG_METRICS, *CLS_METRICS):
        drops = {k: t.metrics[metric].drop for k, t in tasks.items() if metric in t.metrics and t.metrics[metric].drop is not None}
        if not drops:
            continue
        mean_drop = float(np.mean(list(drops.values())))
        worst_task = max(drops, key=drops.get)
        macro_budget, worst_budget = getattr(budgets, f"{metric}_macro"), getattr(budgets, f"{metric}_worst")
        macro[metric] = {"drop": mean_drop, "budget": macro_budget, "passed": mean_drop <= macro_budget + 1e-12}
        worst[metric] = {"drop": drops[worst_task], "task": worst_task, "budget": worst_budget,
                         "passed": drops[worst_task] <= worst_budget + 1e-12}
        passed &= macro[metric]["passed"] and worst[metric]["passed"]
    return macro, worst, passed


def validate(reference: Runner, candidate: Runner, spec: ModelSpec, splits: dict[str, list[Sample]],
             budgets: AccuracyDrops, *, batch_size: int = 8, seed: int = 0, progress=None) -> AccuracyReport:
    """``splits`` maps a split name (``internal``, ``external``) to its samples with ground truth."""
    report = AccuracyReport(reference.name, candidate.name, budgets=budgets.model_dump())
    with active(reference, candidate):
        _compare_splits(report, reference, candidate, spec, splits, budgets, batch_size, seed, progress)
    return report


def _compare_splits(report: AccuracyReport, reference: Runner, candidate: Runner, spec: ModelSpec,
                    splits: dict[str, list[Sample]], budgets: AccuracyDrops, batch_size: int, seed: int,
                    progress) -> None:
    for split, samples in splits.items():
        # sample ids are paths relative to a split's root, so each split is predicted and scored on its own
        ref_pred = predict(reference, spec, samples, batch_size, keep_logits=True, progress=progress)
        cand_pred = predict(candidate, spec, samples, batch_size, keep_logits=True, progress=progress)
        by_task: dict[str, list[Sample]] = {}
        for s in samples:
            by_task.setdefault(s.task.key, []).append(s)
        tasks: dict[str, TaskComparison] = {}
        for key, rp in ref_pred.items():
            ref_scores = score_task(by_task[key], rp)
            cand_scores = score_task(by_task[key], cand_pred[key])
            metrics = SEG_METRICS if rp.kind == "segmentation" else CLS_METRICS
            comparisons = {m: compare_metric(m, ref_scores, cand_scores, getattr(budgets, f"{m}_worst"), seed)
                           for m in metrics}
            fid = fidelity(rp, cand_pred[key], list(range(len(rp.sample_ids))))
            passed = all(c.passed is not False for c in comparisons.values()) and not fid["non_finite_outputs"]
            tasks[key] = TaskComparison(key, rp.kind, len(rp.sample_ids), comparisons, fid, passed)
        macro, worst, agg_ok = _aggregate(tasks, budgets)
        ok = agg_ok and all(t.passed for t in tasks.values())
        report.splits[split] = SplitReport(split, tasks, macro, worst, ok)
        report.passed &= ok
