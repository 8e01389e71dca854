"""Per-task scores of one model's predictions against ground truth (per sample, then aggregated).

Rows of the task catalog that the challenge scores as one task (Breast and Breast_luminal lesion masks as
"Breast_all") are pooled by ``pool_by_scored_task``: per-image values concatenated, then averaged once, so
every image counts once. ``uusic25 score``, validate and the default model's report all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeus.data.uusic25 import Sample
from edgeus.evidence.evaluate import TaskPredictions, read_mask
from edgeus.evidence.metrics import accuracy, auc, dice, nsd, nsd_clean

SEGMENTATION_PER_SAMPLE = {"dsc": dice, "nsd": nsd, "nsd_clean": nsd_clean}


@dataclass
class TaskScores:
    task_key: str
    kind: str
    n: int
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)  # dsc / nsd / nsd_clean per image
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    rows: list[str] = field(default_factory=list)  # the catalog rows pooled into this task

    def value(self, metric: str) -> float | None:
        if metric in SEGMENTATION_PER_SAMPLE:
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


def metric_values(scores: TaskScores, metric: str) -> dict:
    """What the bootstrap resamples for ``metric``: per-image values (dsc, nsd, correct) or labels and
    probabilities (AUC is not a mean over images)."""
    if metric in ("dsc", "nsd"):
        return {"per_sample": scores.per_sample[metric]}
    if metric == "acc":
        return {"per_sample": (scores.probabilities.argmax(1) == scores.labels).astype(float)}
    return {"labels": scores.labels, "probabilities": scores.probabilities}


def score_task(samples: list[Sample], predictions: TaskPredictions) -> TaskScores:
    """Score one task row's predictions (one split at a time: sample ids are unique only within a split)."""
    index = {s.id: s for s in samples}
    chosen = [index[i] for i in predictions.sample_ids]
    scores = TaskScores(predictions.task_key, predictions.kind, len(chosen), rows=[predictions.task_key])
    if predictions.kind == "segmentation":
        truths = [read_mask(s) for s in chosen]
        for name, metric in SEGMENTATION_PER_SAMPLE.items():
            scores.per_sample[name] = np.array([metric(t, p) for t, p in zip(truths, predictions.masks, strict=True)])
    else:
        scores.labels = np.array([s.label for s in chosen])
        scores.probabilities = np.stack(predictions.probabilities) if chosen else None
    return scores


def pool(key: str, parts: list[TaskScores]) -> TaskScores:
    """One task scored over the images of several rows (same kind, same outputs)."""
    if len(parts) == 1:
        return TaskScores(key, parts[0].kind, parts[0].n, parts[0].per_sample, parts[0].labels,
                          parts[0].probabilities, parts[0].rows)
    kind = parts[0].kind
    pooled = TaskScores(key, kind, sum(p.n for p in parts), rows=[r for p in parts for r in p.rows])
    if kind == "segmentation":
        pooled.per_sample = {m: np.concatenate([p.per_sample[m] for p in parts]) for m in parts[0].per_sample}
    else:
        pooled.labels = np.concatenate([p.labels for p in parts])
        pooled.probabilities = np.concatenate([p.probabilities for p in parts])
    return pooled


def pool_by_scored_task(row_scores: dict[str, TaskScores], catalog) -> dict[str, TaskScores]:
    """Row key -> scores  ==>  scored task key -> scores, pooling rows the catalog scores as one task.
    Rows the catalog does not score are left out."""
    groups: dict[str, list[TaskScores]] = {}
    for row_key, scores in row_scores.items():
        row = next((t for t in catalog.tasks if t.key == row_key), None)
        if row is not None and not row.scored:
            continue
        groups.setdefault(catalog.score_key_of(row_key), []).append(scores)
    return {key: pool(key, parts) for key, parts in groups.items()}
