"""Robustness under shift, measured as a difference in differences: how much more a plan loses under a shift
than the fp32 model loses on the same images.

    extra drop = (fp32 clean - fp32 shifted) - (plan clean - plan shifted) with signs so that > 0 is worse
               = (fp32 shifted - plan shifted) - (fp32 clean - plan clean)

i.e. the plan's drop under the shift minus its drop on clean images. Its 95 % interval is a paired bootstrap
over images: one set of resampling counts for all four score sets (same images, same shift draws), the
percentile interval of the replicates; the three-state gate (evidence/gates.judge_drop) judges it against a
budget like every accuracy drop."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgeus.evidence.bootstrap import metric_replicates, percentile_interval, resample_counts
from edgeus.evidence.gates import judge_drop
from edgeus.evidence.scoring import TaskScores, metric_values


@dataclass
class ExtraDrop:
    task: str
    metric: str
    family: str
    severity: int
    reference_clean: float | None
    reference_shifted: float | None
    candidate_clean: float | None
    candidate_shifted: float | None
    extra_drop: float | None
    ci: list
    budget: float | None
    state: str            # pass / fail / inconclusive / undefined; "measured" without a budget
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def extra_drop(metric: str, family: str, severity: int, ref_clean: TaskScores, cand_clean: TaskScores,
               ref_shifted: TaskScores, cand_shifted: TaskScores, budget: float | None, seed: int = 0) -> ExtraDrop:
    if not ref_clean.n == cand_clean.n == ref_shifted.n == cand_shifted.n:
        raise ValueError(f"{ref_clean.task_key}: the four score sets must hold the same images")
    counts = resample_counts(ref_clean.n, seed=seed)
    sets = (ref_clean, ref_shifted, cand_clean, cand_shifted)
    r0, rs, c0, cs = (s.value(metric) for s in sets)
    rep_r0, rep_rs, rep_c0, rep_cs = (metric_replicates(metric, metric_values(s, metric), counts) for s in sets)
    value = None if None in (r0, rs, c0, cs) else (rs - cs) - (r0 - c0)
    ci = percentile_interval((rep_rs - rep_cs) - (rep_r0 - rep_c0)).to_list()
    if budget is None:
        state, reason = ("measured" if value is not None else "undefined"), "no budget for this shift"
    else:
        gate = judge_drop(value, ci, budget, {ref_clean.task_key: ref_clean.n})
        state, reason = gate.state, gate.reason
    return ExtraDrop(ref_clean.task_key, metric, family, severity, r0, rs, c0, cs, value, ci, budget, state, reason)


def worst(drops: list[ExtraDrop]) -> ExtraDrop | None:
    """The largest extra drop with a value (what a console line names)."""
    valued = [d for d in drops if d.extra_drop is not None and np.isfinite(d.extra_drop)]
    return max(valued, key=lambda d: d.extra_drop) if valued else None
