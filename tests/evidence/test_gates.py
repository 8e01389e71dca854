"""Three-state gates (edgeus/evidence/gates.py) on the cases the issue names."""

from __future__ import annotations

import numpy as np
import pytest

from edgeus.evidence.bootstrap import percentile_interval, resample_counts, weighted_mean
from edgeus.evidence.gates import GateOutcome, blocks, combine, judge_drop


def _paired_drop_ci(per_image_drop: np.ndarray) -> list:
    counts = resample_counts(per_image_drop.size, seed=0)
    return percentile_interval(weighted_mean(per_image_drop, counts)).to_list()


def test_one_image_of_24_changing_class_is_inconclusive_with_images_needed():
    """The ARM build's Liver case: ACC drop 1/24 = 0.0417 vs budget 0.04, paired CI [0, 0.125]."""
    flips = np.zeros(24)
    flips[3] = 1.0
    ci = _paired_drop_ci(flips)
    assert ci[0] == 0.0 and ci[1] >= 0.083
    gate = judge_drop(flips.mean(), ci, 0.04, {"Liver/classification": 24})
    assert gate.state == "inconclusive"
    needed = gate.images_needed["Liver/classification"]
    assert 24 < needed < 24 * 10  # about 1.96 * se / drop squared times 24
    assert "lower bound above 0" in gate.reason


def test_small_point_estimate_with_a_wide_interval_is_not_a_pass():
    gate = judge_drop(0.005, [-0.05, 0.09], 0.02, {"Breast/classification": 24})
    assert gate.state == "inconclusive"
    assert gate.images_needed["Breast/classification"] > 24
    assert "(pass)" in gate.reason


def test_pass_needs_the_upper_bound_within_budget():
    assert judge_drop(0.001, [-0.002, 0.004], 0.005, {"t": 50}).state == "pass"
    assert judge_drop(0.0, [0.0, 0.0], 0.0, {"t": 50}).state == "pass"  # identical outputs


def test_fail_needs_the_lower_bound_above_zero():
    gate = judge_drop(0.2, [0.1, 0.3], 0.04, {"t": 24})
    assert gate.state == "fail" and "excludes 0" in gate.reason
    assert judge_drop(0.2, [0.0, 0.3], 0.04, {"t": 24}).state == "inconclusive"


def test_undefined_and_missing_intervals():
    assert judge_drop(None, [None, None], 0.02, {"t": 4}).state == "undefined"
    assert judge_drop(0.01, [None, None], 0.02, {"t": 4}).state == "inconclusive"


def test_drop_equal_to_its_budget_cannot_be_resolved_by_more_images():
    gate = judge_drop(0.04, [0.0, 0.08], 0.04, {"t": 24})
    assert gate.state == "inconclusive" and gate.images_needed == {}


@pytest.mark.parametrize(("states", "want"), [
    (["pass", "pass"], "pass"), (["pass", "inconclusive"], "inconclusive"), (["inconclusive", "fail"], "fail"),
    (["undefined", "pass"], "pass"), (["undefined"], "undefined")])
def test_worst_task_gate_combines_task_states(states, want):
    outcomes = {f"task{i}": GateOutcome(s, s) for i, s in enumerate(states)}
    assert combine(outcomes).state == want


def test_only_fail_blocks_unless_strict():
    assert blocks("fail", strict=False) and blocks("fail", strict=True)
    assert not blocks("inconclusive", strict=False) and blocks("inconclusive", strict=True)
    assert not blocks("pass", strict=True) and not blocks("n/a", strict=True) and not blocks("pending", strict=True)
