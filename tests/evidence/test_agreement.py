"""Label-free agreement with fp32: what it counts, and the thresholds it takes from the budgets."""

import numpy as np
import pytest

from edgeus.contracts.profiles import AccuracyDrops
from edgeus.evidence.agreement import agreement, order_flips, task_agreement
from edgeus.evidence.evaluate import TaskPredictions

BUDGETS = AccuracyDrops(dsc_macro=0.005, dsc_worst=0.01, nsd_macro=0.02, nsd_worst=0.04, auc_macro=0.01,
                        auc_worst=0.02, acc_macro=0.02, acc_worst=0.04)


def cls(probabilities) -> TaskPredictions:
    p = np.array(probabilities, dtype=float)
    return TaskPredictions("Liver/classification", "classification", probabilities=list(p), logits=list(np.log(p)))


def seg(masks) -> TaskPredictions:
    logits = [np.stack([1 - m, m]).astype(float) for m in masks]
    return TaskPredictions("Kidney/segmentation", "segmentation", logits=logits)


def test_order_flips_count_reordered_pairs_and_ignore_reference_ties():
    ref = np.array([0.1, 0.2, 0.3, 0.4])
    assert order_flips(ref, ref + 0.01) == 0.0
    assert order_flips(ref, np.array([0.2, 0.1, 0.3, 0.4])) == 1 / 6  # one of six pairs swapped
    tied = np.array([0.5, 0.5 + 1e-5, 0.9])
    assert order_flips(tied, np.array([0.5 + 1e-5, 0.5, 0.9])) == 0.0  # a tie has no order to keep


def test_classification_ratio_is_the_worse_of_decision_and_order_flips():
    ref = cls([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6], [0.2, 0.8]] * 5)
    same = task_agreement(ref, ref, BUDGETS)
    assert same.ratio == 0.0 and same.within
    flipped = [[0.9, 0.1], [0.7, 0.3], [0.6, 0.4], [0.2, 0.8]] + [[0.9, 0.1], [0.7, 0.3], [0.4, 0.6], [0.2, 0.8]] * 4
    result = task_agreement(ref, cls(flipped), BUDGETS)
    assert result.losses["decision_flips"] == 1 / 20  # 0.05 > acc budget 0.04
    assert result.thresholds == {"decision_flips": 0.04, "order_flips": 0.02}
    assert not result.within and result.ratio > 1


def test_segmentation_loss_is_mask_disagreement_against_the_dsc_budget():
    mask = np.zeros((16, 16))
    mask[4:12, 4:12] = 1
    shifted = np.roll(mask, 1, axis=1)
    result = agreement({"k": seg([mask])}, {"k": seg([shifted])}, BUDGETS)["k"]
    assert result.losses["mask_disagreement"] == pytest.approx(1 - 2 * 56 / 128)
    assert result.thresholds["mask_disagreement"] == 0.01 and not result.within
    zero = AccuracyDrops(**{**BUDGETS.model_dump(), "dsc_worst": 0.0})
    assert task_agreement(seg([mask]), seg([mask]), zero).within  # a zero budget: only exact agreement holds
    assert task_agreement(seg([mask]), seg([shifted]), zero).ratio == float("inf")
