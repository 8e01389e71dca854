"""Per-task scores of one model's predictions against ground truth (per sample, then aggregated)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeus.data.uusic25 import Sample
from edgeus.evaluate import TaskPredictions, read_mask
from edgeus.metrics import accuracy, auc, dice, nsd


@dataclass
class TaskScores:
    task_key: str
    kind: str
    n: int
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)  # dsc / nsd per image
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None

    def value(self, metric: str) -> float | None:
        if metric in ("dsc", "nsd"):
            return float(np.mean(self.per_sample[metric])) if self.kind == "segmentation" and self.n else None
        if self.kind != "classification" or self.labels is None:
            return None
        if metric == "auc":
            return auc(self.labels, self.probabilities)
        if metric == "acc":
            return accuracy(self.labels, self.probabilities)
        raise KeyError(metric)

    def summary(self) -> dict[str, float | None]:
        metrics = ("dsc", "nsd") if self.kind == "segmentation" else ("auc", "acc")
        return {m: self.value(m) for m in metrics}


def score_task(samples: list[Sample], predictions: TaskPredictions) -> TaskScores:
    """Score one task's predictions (one split at a time: sample ids are unique only within a split)."""
    index = {s.id: s for s in samples}
    picks = list(range(len(predictions.sample_ids)))
    chosen = [index[predictions.sample_ids[i]] for i in picks]
    scores = TaskScores(predictions.task_key, predictions.kind, len(picks))
    if predictions.kind == "segmentation":
        truths = [read_mask(s) for s in chosen]
        preds = [predictions.masks[i] for i in picks]
        scores.per_sample["dsc"] = np.array([dice(t, p) for t, p in zip(truths, preds, strict=True)])
        scores.per_sample["nsd"] = np.array([nsd(t, p) for t, p in zip(truths, preds, strict=True)])
    else:
        scores.labels = np.array([s.label for s in chosen])
        scores.probabilities = np.stack([predictions.probabilities[i] for i in picks]) if picks else None
    return scores
