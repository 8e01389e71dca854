"""Stage 4, validate: reference vs candidate on the same images, per task, with intervals and verdicts.

For every task row and every split (internal centre, external centre) both models are scored with the
challenge's metrics (DSC, NSD for segmentation; AUC, accuracy for classification), each with a 95 %
bootstrap interval, and the drop (reference minus candidate) with a *paired* interval (the same resampled
images for both). Fidelity compares the two models directly: Dice between their masks, the largest logit
difference, argmax agreement, non-finite outputs. Tasks are the challenge's scored tasks: catalog rows
scored as one (Breast and Breast_luminal lesion masks as "Breast_all") are pooled (scoring.pool_by_scored_task).

Gates apply the profile's drop budgets per task (worst-task budget) and over tasks (macro budget) with three
outcomes from the paired intervals (edgeus/evidence/gates.py): pass, fail, inconclusive. NSD is the challenge's number;
the mathematically clean NSD (no credit near an empty boundary) is reported beside it as ``nsd_clean``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from edgeus.backends.base import Runner, active
from edgeus.contracts.profiles import AccuracyDrops
from edgeus.contracts.reports import AccuracyReport, MetricComparison, SplitReport, TaskComparison
from edgeus.contracts.spec import ModelSpec
from edgeus.data.uusic25 import Sample
from edgeus.evidence.bootstrap import metric_replicates, percentile_interval, resample_counts
from edgeus.evidence.evaluate import TaskPredictions, predict
from edgeus.evidence.gates import GateOutcome, combine, judge_drop
from edgeus.evidence.metrics import mask_agreement
from edgeus.evidence.scoring import TaskScores, metric_values, pool_by_scored_task, score_task

SEG_METRICS, CLS_METRICS = ("dsc", "nsd"), ("auc", "acc")


def compare_metric(metric: str, ref: TaskScores, cand: TaskScores, budget: float,
                   seed: int) -> tuple[MetricComparison, np.ndarray]:
    """The comparison of one metric with its gate, and the bootstrap replicates of its drop (for the macro)."""
    counts = resample_counts(ref.n, seed=seed)
    r_rep = metric_replicates(metric, metric_values(ref, metric), counts)
    c_rep = metric_replicates(metric, metric_values(cand, metric), counts)
    r, c = ref.value(metric), cand.value(metric)
    drop = None if r is None or c is None else r - c
    drop_ci = percentile_interval(r_rep - c_rep).to_list()
    gate = judge_drop(drop, drop_ci, budget, {ref.task_key: ref.n})
    comparison = MetricComparison(r, percentile_interval(r_rep).to_list(), c, percentile_interval(c_rep).to_list(),
                                  drop, drop_ci, budget, _passed(gate), gate.state, gate.reason, gate.images_needed)
    return comparison, r_rep - c_rep


def _passed(gate: GateOutcome) -> bool | None:
    return {"pass": True, "fail": False}.get(gate.state)


def fidelity(refs: list[TaskPredictions], cands: list[TaskPredictions]) -> dict:
    """Candidate vs reference outputs over the rows of one scored task (pooled rows together)."""
    pairs = [(r, c) for rp, cp in zip(refs, cands, strict=True) for r, c in zip(rp.logits, cp.logits, strict=True)]
    finite = all(np.all(np.isfinite(c)) for _, c in pairs)
    max_diff = max((float(np.max(np.abs(r - c))) for r, c in pairs), default=0.0)
    out = {"max_abs_logit_diff": max_diff, "non_finite_outputs": not finite}
    if refs[0].kind == "segmentation":
        out["mask_dice_vs_reference"] = float(np.mean([mask_agreement(r.argmax(0), c.argmax(0)) for r, c in pairs]))
    else:
        out["argmax_agreement"] = float(np.mean([r.argmax() == c.argmax() for r, c in pairs]))
    return out


def _aggregate(tasks: dict[str, TaskComparison], replicates: dict[tuple[str, str], np.ndarray],
               budgets: AccuracyDrops) -> tuple[dict, dict]:
    """Worst-task and macro gates per metric. The macro drop's interval comes from the mean of the tasks'
    drop replicates (tasks hold disjoint images, so their resamplings are independent)."""
    macro, worst = {}, {}
    for metric in (*SEG_METRICS, *CLS_METRICS):
        defined = {k: t for k, t in tasks.items() if metric in t.metrics and t.metrics[metric].drop is not None}
        if not defined:
            continue
        drops = {k: t.metrics[metric].drop for k, t in defined.items()}
        worst_gate = combine({k: GateOutcome(t.metrics[metric].state, t.metrics[metric].reason,
                                             t.metrics[metric].images_needed) for k, t in defined.items()})
        worst_task = _deciding_task(defined, metric, worst_gate.state)
        worst[metric] = {"drop": drops[worst_task], "task": worst_task, "budget": getattr(budgets, f"{metric}_worst"),
                         "ci": defined[worst_task].metrics[metric].drop_ci, **_gate_fields(worst_gate)}
        mean_drop = float(np.mean(list(drops.values())))
        with np.errstate(invalid="ignore"):
            macro_rep = np.mean([replicates[(k, metric)] for k in defined], axis=0)
        ci = percentile_interval(macro_rep).to_list()
        macro_budget = getattr(budgets, f"{metric}_macro")
        gate = judge_drop(mean_drop, ci, macro_budget, {k: t.n for k, t in defined.items()})
        macro[metric] = {"drop": mean_drop, "budget": macro_budget, "ci": ci, **_gate_fields(gate)}
    return macro, worst


def _deciding_task(tasks: dict[str, TaskComparison], metric: str, state: str) -> str:
    """The task a worst-task gate names: the largest failing drop, else the inconclusive task whose interval
    reaches furthest, else the largest drop."""
    comparisons = {k: t.metrics[metric] for k, t in tasks.items()}
    same = {k: c for k, c in comparisons.items() if c.state == state} or comparisons
    if state == "inconclusive":
        return max(same, key=lambda k: same[k].drop_ci[1] if same[k].drop_ci[1] is not None else same[k].drop)
    return max(same, key=lambda k: same[k].drop)


def _gate_fields(gate: GateOutcome) -> dict:
    return {"passed": _passed(gate), "state": gate.state, "reason": gate.reason, "images_needed": gate.images_needed}


def validate(reference: Runner, candidate: Runner, spec: ModelSpec, splits: dict[str, list[Sample]],
             budgets: AccuracyDrops, *, batch_size: int = 8, seed: int = 0, progress=None,
             predictor: Callable | None = None) -> AccuracyReport:
    """Per-task accuracy of ``candidate`` against ``reference`` on the same images, paired bootstrap CIs and
    three-state gates against ``budgets``. ``splits`` maps a split name (``internal``, ``external``) to its
    samples with ground truth.

    Example (``edgeus.validate`` adds a progress bar on a terminal; runners and samples from public functions)::

        import edgeus
        profile, loaded = edgeus.load_profile("cpu-arm-handheld"), edgeus.load_model("uniusnet-small")
        report = edgeus.validate(edgeus.open_runner("uniusnet-small"), edgeus.open_runner("c", profile),
                                 loaded.spec, edgeus.validation_splits("ph", loaded.spec),
                                 profile.budgets.accuracy_drop)
        print(report.passed)


    ``predictor(role, samples)`` (role: "reference" or "candidate") replaces the local predictions, e.g. with
    shards predicted on several farm devices (farm/shard.py); scoring and the bootstrap always run here, on
    every image's result, so the intervals equal a single-machine run's."""
    report = AccuracyReport(reference.name, candidate.name, budgets=budgets.model_dump())
    if predictor is None:
        def predictor(role: str, samples: list[Sample]) -> dict:
            runner = reference if role == "reference" else candidate
            return predict(runner, spec, samples, batch_size, keep_logits=True, progress=progress)

        with active(reference, candidate):
            _compare_splits(report, predictor, spec, splits, budgets, seed)
    else:
        _compare_splits(report, predictor, spec, splits, budgets, seed)
    return report


def _compare_splits(report: AccuracyReport, predictor: Callable, spec: ModelSpec, splits: dict[str, list[Sample]],
                    budgets: AccuracyDrops, seed: int) -> None:
    catalog = spec.task_catalog()
    for split, samples in splits.items():
        # sample ids are paths relative to a split's root, so each split is predicted and scored on its own
        ref_pred = predictor("reference", samples)
        cand_pred = predictor("candidate", samples)
        by_row: dict[str, list[Sample]] = {}
        for s in samples:
            by_row.setdefault(s.task.key, []).append(s)
        ref_scores = pool_by_scored_task({k: score_task(by_row[k], p) for k, p in ref_pred.items()}, catalog)
        cand_scores = pool_by_scored_task({k: score_task(by_row[k], p) for k, p in cand_pred.items()}, catalog)
        tasks: dict[str, TaskComparison] = {}
        replicates: dict[tuple[str, str], np.ndarray] = {}
        for key, rs in ref_scores.items():
            cs = cand_scores[key]
            metrics = SEG_METRICS if rs.kind == "segmentation" else CLS_METRICS
            comparisons = {}
            for m in metrics:
                comparisons[m], replicates[(key, m)] = compare_metric(m, rs, cs, getattr(budgets, f"{m}_worst"), seed)
            fid = fidelity([ref_pred[r] for r in rs.rows], [cand_pred[r] for r in rs.rows])
            states = {c.state for c in comparisons.values()}
            state = "fail" if "fail" in states or fid["non_finite_outputs"] else (
                "inconclusive" if "inconclusive" in states else "pass")
            clean = {"reference": rs.value("nsd_clean"), "candidate": cs.value("nsd_clean")} \
                if rs.kind == "segmentation" else {}
            tasks[key] = TaskComparison(key, rs.kind, rs.n, comparisons, fid, state != "fail", state, rs.rows, clean)
        macro, worst = _aggregate(tasks, replicates, budgets)
        gates = {**{f"worst-task {m}": g for m, g in worst.items()}, **{f"macro {m}": g for m, g in macro.items()}}
        ok = all(g["state"] != "fail" for g in gates.values()) and all(t.passed for t in tasks.values())
        report.inconclusive += [f"{split}: {name}" for name, g in gates.items() if g["state"] == "inconclusive"]
        report.splits[split] = SplitReport(split, tasks, macro, worst, ok)
        report.passed &= ok
