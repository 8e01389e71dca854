import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from edgeus.evidence.bootstrap import percentile_interval, resample_counts, weighted_auc, weighted_mean


def test_counts_are_seeded_resamples():
    c = resample_counts(30, n_boot=200, seed=3)
    assert c.shape == (200, 30) and np.all(c.sum(1) == 30)
    np.testing.assert_array_equal(c, resample_counts(30, n_boot=200, seed=3))
    assert not np.array_equal(c, resample_counts(30, n_boot=200, seed=4))


def test_weighted_auc_equals_sklearn_on_each_replicate():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    scores = np.round(rng.random(40) + 0.3 * labels, 1)  # rounded: ties included
    probs = np.stack([1 - scores, scores], 1)
    counts = resample_counts(40, n_boot=25, seed=1)
    fast = weighted_auc(labels, probs, counts)
    for b in range(25):
        idx = np.repeat(np.arange(40), counts[b].astype(int))
        if len(np.unique(labels[idx])) < 2:
            assert np.isnan(fast[b])
            continue
        assert fast[b] == pytest.approx(roc_auc_score(labels[idx], scores[idx]))


def test_weighted_four_class_auc_equals_the_baselines_sklearn_call():
    rng = np.random.default_rng(1)
    labels = np.arange(48) % 4
    logits = rng.standard_normal((48, 4)) + 1.5 * np.eye(4)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    counts = resample_counts(48, n_boot=10, seed=2)
    fast = weighted_auc(labels, probs, counts)
    for b in range(10):
        idx = np.repeat(np.arange(48), counts[b].astype(int))
        if len(np.unique(labels[idx])) < 4:
            assert np.isnan(fast[b])
            continue
        # the baseline's call: one-hot labels, so scikit-learn returns the macro one-vs-rest AUC
        assert fast[b] == pytest.approx(roc_auc_score(np.eye(4)[labels[idx]], probs[idx], multi_class="ovo"))


def test_interval_covers_the_mean_and_paired_drop_is_tight():
    rng = np.random.default_rng(2)
    ref = rng.random(200)
    cand = ref - 0.01  # a constant drop: the paired interval collapses onto it
    counts = resample_counts(200, seed=0)
    ci = percentile_interval(weighted_mean(ref, counts))
    assert ci.low < ref.mean() < ci.high
    drop = percentile_interval(weighted_mean(ref, counts) - weighted_mean(cand, counts))
    assert drop.low == pytest.approx(0.01) and drop.high == pytest.approx(0.01)
    assert percentile_interval(np.array([np.nan])).low is None
