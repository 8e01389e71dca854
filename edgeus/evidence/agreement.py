"""Per-task agreement of a candidate with the fp32 model: the label-free signal the float-scope search steers by.

Metric drops measured against labels on a few dozen images are too noisy to steer a search (one image moves an
accuracy by several points either way). Agreement with the fp32 model needs no labels and bounds the drop:

* **segmentation** — loss = 1 - mean Dice between the candidate's and the fp32 model's masks. A candidate whose
  masks differ from fp32's by that fraction cannot move the DSC against the truth by much more, so the
  threshold is the worst-task DSC budget.
* **classification** — two losses, each against its own budget: the share of images whose decision changed
  (an accuracy can drop by at most that: threshold = the worst-task accuracy budget), and the share of image
  pairs whose score order flipped (an AUC is a pair-ordering statistic: threshold = the worst-task AUC budget;
  multi-class: the worst class, one-vs-rest).

A task's ``ratio`` is its worst loss divided by its threshold: <= 1 is within budget. The search stops when
every task is; the gates on held-out labelled data then confirm (stages/scope_search.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from edgeus.contracts.profiles import AccuracyDrops
from edgeus.evidence.evaluate import TaskPredictions
from edgeus.evidence.metrics import mask_agreement


@dataclass
class TaskAgreement:
    task: str
    kind: str
    n: int
    losses: dict[str, float]       # name -> loss (mask_disagreement | decision_flips | order_flips)
    thresholds: dict[str, float]   # name -> the budget it is held to
    ratio: float = 0.0             # worst loss / its threshold; <= 1 is within budget
    worst: str = ""                # which loss sets the ratio
    detail: dict = field(default_factory=dict)

    @property
    def within(self) -> bool:
        return self.ratio <= 1.0

    def to_dict(self) -> dict:
        return {**asdict(self), "within": self.within}


NOISE = 1e-6  # losses below this are zero (Dice's epsilon leaves ~1e-8 between identical masks)


def _ratio(loss: float, threshold: float) -> float:
    if loss <= NOISE:
        return 0.0
    return loss / threshold if threshold > 0 else float("inf")


# Scores closer than this in the reference are a tie: float noise alone (an fp32 model on another runtime)
# reorders them, so their order is not the model's to keep.
TIE = 1e-3


def order_flips(reference: np.ndarray, candidate: np.ndarray, tie: float = TIE) -> float:
    """Share of pairs (i, j) whose order by score differs between reference and candidate (pairs the
    reference ties, within ``tie``, do not count: they have no order to keep)."""
    n = len(reference)
    if n < 2:
        return 0.0
    r_diff = reference[:, None] - reference[None, :]
    r = np.sign(r_diff)
    c = np.sign(candidate[:, None] - candidate[None, :])
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    ordered = upper & (np.abs(r_diff) > tie)
    if not ordered.any():
        return 0.0
    return float(((r != c) & ordered).sum() / ordered.sum())


def task_agreement(reference: TaskPredictions, candidate: TaskPredictions, budgets: AccuracyDrops) -> TaskAgreement:
    """Both predictions of one task row over the same samples, with ``keep_logits``."""
    n = len(reference.logits)
    if reference.kind == "segmentation":
        dice = [mask_agreement(r.argmax(0), c.argmax(0)) for r, c in zip(reference.logits, candidate.logits, strict=True)]
        losses = {"mask_disagreement": 1.0 - float(np.mean(dice)) if dice else 0.0}
        thresholds = {"mask_disagreement": budgets.dsc_worst}
        detail = {"min_mask_dice": float(np.min(dice)) if dice else 1.0}
    else:
        ref = np.array(reference.probabilities)
        cand = np.array(candidate.probabilities)
        flips = float(np.mean(ref.argmax(1) != cand.argmax(1))) if n else 0.0
        classes = [1] if ref.shape[1] == 2 else range(ref.shape[1])
        per_class = {int(k): order_flips(ref[:, k], cand[:, k]) for k in classes}
        losses = {"decision_flips": flips, "order_flips": max(per_class.values(), default=0.0)}
        thresholds = {"decision_flips": budgets.acc_worst, "order_flips": budgets.auc_worst}
        detail = {"order_flips_per_class": per_class,
                  "max_prob_diff": float(np.max(np.abs(ref - cand))) if n else 0.0}
    ratios = {k: _ratio(v, thresholds[k]) for k, v in losses.items()}
    worst = max(ratios, key=ratios.get)
    return TaskAgreement(reference.task_key, reference.kind, n, losses, thresholds, ratios[worst], worst, detail)


def agreement(reference: dict[str, TaskPredictions], candidate: dict[str, TaskPredictions],
              budgets: AccuracyDrops) -> dict[str, TaskAgreement]:
    return {key: task_agreement(ref, candidate[key], budgets) for key, ref in reference.items()}


def all_within(agreements: dict[str, TaskAgreement]) -> bool:
    return all(a.within for a in agreements.values())
