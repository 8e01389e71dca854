"""The challenge's accuracy score from per-task metrics."""

from __future__ import annotations

import pytest

from edgeus.evidence.challenge_score import mean_present, seg_cls_scores


def test_seg_cls_and_accuracy_score():
    tasks = {"A/segmentation": {"dsc": 0.8, "nsd": 0.4}, "B/segmentation": {"dsc": 0.6, "nsd": 0.2},
             "C/classification": {"auc": 0.9, "acc": 0.7}, "D/classification": {"auc": None, "acc": 0.5}}
    seg, cls, score = seg_cls_scores(tasks)
    assert seg == pytest.approx(0.5) and cls == pytest.approx(0.8) and score == pytest.approx(0.65)
    assert seg_cls_scores({"A/segmentation": {"dsc": 0.8, "nsd": 0.4}})[2] is None
    assert mean_present([None, 1.0, 3.0]) == 2.0 and mean_present([None]) is None
