"""Metrics against independent computations (scikit-image boundaries, scipy distances, sklearn AUC)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt
from skimage.segmentation import find_boundaries

from edgeus.metrics import accuracy, auc, dice, inner_boundary, nsd


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


def test_documented_nsd_behaviour_one_and_two_pixel_shifts():
    t = np.zeros((64, 64), np.uint8)
    t[16:48, 16:48] = 255
    assert nsd(t, np.roll(t, 1, axis=1)) == pytest.approx(1.0, abs=1e-6)
    assert 0.4 < nsd(t, np.roll(t, 2, axis=1)) < 0.6  # FACTS.md: about 0.51


def test_nsd_random_masks_against_official():
    rng = np.random.default_rng(1)
    for _ in range(10):
        t = (rng.random((32, 32)) > 0.5).astype(np.uint8)
        p = (rng.random((32, 32)) > 0.5).astype(np.uint8)
        assert nsd(t, p) == pytest.approx(_official_nsd(t, p), abs=1e-12)


def test_dice_definition_and_edge_cases():
    t = _disc((50, 50), 25, 25, 10)
    assert dice(t, t) == pytest.approx(1.0, abs=1e-6)
    p = np.roll(t, 5, axis=0)
    inter = np.logical_and(t > 0, p > 0).sum()
    assert dice(t, p) == pytest.approx(2 * inter / ((t > 0).sum() + (p > 0).sum() + 1e-6))
    empty = np.zeros_like(t)
    assert dice(empty, empty) == 0.0  # official: empty vs empty scores 0
    assert dice(t, empty) == 0.0
    assert nsd(empty, empty) == 0.0
    assert nsd(t, empty) == 0.0


def test_auc_binary_multiclass_and_undefined():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 50)
    p1 = np.clip(y * 0.3 + rng.random(50) * 0.7, 0, 1)
    probs = np.stack([1 - p1, p1], axis=1)
    assert auc(y, probs) == pytest.approx(roc_auc_score(y, p1))
    y4 = np.arange(40) % 4
    logits = rng.standard_normal((40, 4)) + np.eye(4)[y4]
    p4 = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert auc(y4, p4) == pytest.approx(roc_auc_score(y4, p4, multi_class="ovo"))
    assert auc(y4, p4, multi_class="ovr") == pytest.approx(roc_auc_score(y4, p4, multi_class="ovr"))
    assert auc(np.ones(10, int), probs[:10]) is None  # a single class: undefined, not a number
    assert auc(y4[y4 < 3], p4[y4 < 3]) is None        # a class missing from a 4-way task
    assert accuracy(y4, p4) == pytest.approx(np.mean(p4.argmax(1) == y4))


def test_mask_agreement_counts_two_empty_predictions_as_agreeing():
    from edgeus.metrics import mask_agreement

    empty, blob = np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)
    blob[2:5, 2:5] = 1
    assert mask_agreement(empty, empty) == 1.0 and dice(empty, empty) == 0.0  # the challenge's DSC keeps 0
    assert mask_agreement(blob, blob) == pytest.approx(1.0) and mask_agreement(blob, empty) == 0.0
