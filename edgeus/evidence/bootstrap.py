"""Seeded, vectorised bootstrap confidence intervals, and paired intervals for drops.

Resampling is expressed as a count matrix C (n_boot x n): C[b, i] is how often sample i was drawn in
replicate b. Mean metrics are then one matrix product, and AUC is a weighted Mann-Whitney statistic
computed for all replicates at once. A paired drop uses the same C for reference and candidate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeus.contracts.reports import N_BOOT


@dataclass(frozen=True)
class Interval:
    low: float | None
    high: float | None

    def to_list(self) -> list[float | None]:
        return [self.low, self.high]


def resample_counts(n: int, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    counts = np.zeros((n_boot, n), dtype=np.float64)
    np.add.at(counts, (np.arange(n_boot)[:, None], idx), 1.0)
    return counts


def percentile_interval(values: np.ndarray, level: float = 0.95) -> Interval:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(None, None)
    tail = (1 - level) / 2 * 100
    return Interval(float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail)))


def weighted_mean(per_sample: np.ndarray, counts: np.ndarray) -> np.ndarray:
    return counts @ per_sample / counts.sum(axis=1)


def weighted_binary_auc(positive: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """AUC of ``scores`` for the ``positive`` mask, per replicate; NaN where a replicate lacks a class.
    Ties count one half, as in scikit-learn."""
    _, group = np.unique(scores, return_inverse=True)
    n_groups = group.max() + 1 if group.size else 0
    onehot = np.zeros((scores.size, n_groups))
    onehot[np.arange(scores.size), group] = 1.0
    neg_per_group = (counts * ~positive) @ onehot                    # (B, groups)
    below = np.cumsum(neg_per_group, axis=1) - neg_per_group         # strictly lower scores
    credit = below + 0.5 * neg_per_group                             # (B, groups)
    pos_counts = counts * positive
    numerator = np.einsum("bi,bi->b", pos_counts, credit[:, group])
    w_pos, w_neg = pos_counts.sum(1), (counts * ~positive).sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((w_pos > 0) & (w_neg > 0), numerator / (w_pos * w_neg), np.nan)


def weighted_auc(labels: np.ndarray, probabilities: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Macro one-vs-rest AUC (what the baseline's scikit-learn call computes, two classes included, see
    metrics.auc), per replicate; NaN where a replicate lacks a class."""
    labels = np.asarray(labels)
    k = probabilities.shape[1]
    per_class = [weighted_binary_auc(labels == c, probabilities[:, c], counts) for c in range(k)]
    return np.mean(per_class, axis=0)  # NaN if any class is missing from a replicate, as metrics.auc's None


def metric_replicates(kind: str, values: dict, counts: np.ndarray) -> np.ndarray:
    """Replicates of one metric: ``values`` holds per-sample arrays (dsc/nsd/correct) or labels+probabilities."""
    if kind == "auc":
        return weighted_auc(values["labels"], values["probabilities"], counts)
    return weighted_mean(values["per_sample"], counts)
