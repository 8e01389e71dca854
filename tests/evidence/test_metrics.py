"""Metrics against independent computations (scikit-image boundaries, scipy distances, sklearn AUC)."""

from __future__ import annotations

import numpy as np
import pytest
from metric_catalogue import classification_cases, segmentation_cases
from scipy.ndimage import distance_transform_edt
from skimage.segmentation import find_boundaries

from edgeus.evidence.metrics import accuracy, auc, dice, inner_boundary, nsd, nsd_clean


def _official_nsd(t: np.ndarray, p: np.ndarray, tol: float = 1.0) -> float:
    """The challenge's definition written with the libraries it names."""
    bt = find_boundaries(t > 0, mode="inner")
    bp = find_boundaries(p > 0, mode="inner")
    dt = distance_transform_edt(~bt)
    dp = distance_transform_edt(~bp)
    return ((dp[bt] <= tol).sum() + (dt[bp] <= tol).sum()) / (bt.sum() + bp.sum() + 1e-6)


def _disc(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.uint8) * 255


def test_inner_boundary_matches_skimage_on_random_shapes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = (rng.random((40, 50)) > 0.6).astype(np.uint8)
        m[:, :3] = 1  # touch the frame edge
        np.testing.assert_array_equal(inner_boundary(m), find_boundaries(m > 0, mode="inner"))


@pytest.mark.parametrize("shift", [0, 1, 2, 3, 7])
def test_nsd_matches_the_official_computation_for_shifts(shift):
    t = _disc((96, 96), 48, 48, 20)
    p = np.roll(t, shift, axis=1)
    assert nsd(t, p) == pytest.approx(_official_nsd(t, p), abs=1e-12)


@pytest.mark.parametrize("case", segmentation_cases(), ids=lambda c: c.name)
def test_segmentation_catalogue_hand_derived(case):
    assert dice(case.truth, case.pred) == pytest.approx(case.dsc, abs=1e-12)
    assert nsd(case.truth, case.pred) == pytest.approx(case.nsd, abs=1e-12)
    assert nsd_clean(case.truth, case.pred) == pytest.approx(case.nsd_clean, abs=1e-12)
    # and the official computation written with the libraries the challenge names agrees with the hand value
    assert _official_nsd(case.truth, case.pred) == pytest.approx(case.nsd, abs=1e-12)


@pytest.mark.parametrize("case", classification_cases(), ids=lambda c: c.name)
def test_classification_catalogue_hand_derived(case):
    labels, probs = np.array(case.labels), np.array(case.probabilities)
    got = auc(labels, probs)
    assert (got is None) == (case.auc is None)
    if case.auc is not None:
        assert got == pytest.approx(case.auc, abs=1e-12)
    assert accuracy(labels, probs) == pytest.approx(case.acc, abs=1e-12)


def test_four_class_auc_is_what_the_baseline_call_returns_not_one_vs_one():
    """The baseline passes one-hot labels with multi_class='ovo'; scikit-learn then computes macro OvR."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y4 = np.array([0] * 20 + [1] * 6 + [2] * 4 + [3] * 10)
    logits = rng.standard_normal((40, 4)) + np.eye(4)[y4]
    p4 = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    baseline = roc_auc_score(np.eye(4)[y4], p4, multi_class="ovo")
    assert auc(y4, p4) == pytest.approx(baseline, abs=1e-12)
    assert abs(roc_auc_score(y4, p4, multi_class="ovo") - baseline) > 1e-3  # the old definition differs
    imbalanced = next(c for c in classification_cases() if c.name == "4 classes, imbalanced")
    ovo = roc_auc_score(imbalanced.labels, np.array(imbalanced.probabilities) / np.sum(imbalanced.probabilities, 1,
                        keepdims=True), multi_class="ovo")
    assert abs(ovo - imbalanced.auc) > 1e-3


def test_auc_binary_and_undefined():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 50)
    p1 = np.clip(y * 0.3 + rng.random(50) * 0.7, 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    assert auc(y, probs) == pytest.approx(roc_auc_score(y, p1))
    assert auc(np.ones(10, int), probs[:10]) is None  # a single class: undefined, not a number


def test_two_class_auc_averages_both_columns_as_the_baseline_call_does():
    """roc_auc_score(one_hot_labels, probabilities) is the mean of each column's AUC. Probabilities that do not
    sum to 1 (a hand-written classification.json) make the two differ. By hand: labels 0 0 1 1; column 1
    (0.1, 0.4, 0.35, 0.8) ranks 3 of the 4 positive-negative pairs right (0.35 < 0.4): 0.75; column 0
    (0.5, 0.2, 0.9, 0.1) for class 0 ranks 2 of 4 right: 0.5; the baseline reports 0.625, not 0.75."""
    labels = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.5, 0.1], [0.2, 0.4], [0.9, 0.35], [0.1, 0.8]])
    assert auc(labels, probabilities) == pytest.approx(0.625, abs=1e-12)
    from edgeus.evidence.bootstrap import weighted_auc

    assert weighted_auc(labels, probabilities, np.ones((1, 4)))[0] == pytest.approx(0.625, abs=1e-12)


def test_dice_random_shift_matches_the_formula():
    t = _disc((50, 50), 25, 25, 10)
    p = np.roll(t, 5, axis=0)
    inter = np.logical_and(t > 0, p > 0).sum()
    assert dice(t, p) == pytest.approx(2 * inter / ((t > 0).sum() + (p > 0).sum() + 1e-6))


def test_mask_agreement_counts_two_empty_predictions_as_agreeing():
    from edgeus.evidence.metrics import mask_agreement

    empty, blob = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    blob[2:5, 2:5] = 1
    assert mask_agreement(empty, empty) == 1.0 and dice(empty, empty) == 0.0  # the challenge's DSC keeps 0
    assert mask_agreement(blob, blob) == pytest.approx(1.0) and mask_agreement(blob, empty) == 0.0
