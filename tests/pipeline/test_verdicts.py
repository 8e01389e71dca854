"""How far a failing verdict is from its budget: the closest-plan ranking reads it."""

from __future__ import annotations

import pytest

from edgeus.pipeline.verdicts import Verdict


def test_a_ceiling_and_a_floor_missed_by_the_same_factor_overrun_alike():
    latency = Verdict("latency", 150.0, 100.0, "ms", False)  # a ceiling: 1.5x over
    fps = Verdict("frame rate", 20.0, 30.0, "fps", False, floor=True)  # a floor: 1.5x under
    speedup = Verdict("speedup", 1.2, 1.5, "x fp32", False, floor=True)
    assert latency.overrun() == pytest.approx(1.5)
    assert fps.overrun() == pytest.approx(1.5)
    assert speedup.overrun() == pytest.approx(1.25)
    # a faster plan is closer, never further: the floor does not read a higher frame rate as a bigger miss
    assert Verdict("frame rate", 25.0, 30.0, "fps", False, floor=True).overrun() < fps.overrun()


def test_nothing_measured_is_the_furthest_from_any_budget():
    assert Verdict("latency", None, 100.0, "ms", None).overrun() == float("inf")
    assert Verdict("frame rate", 0.0, 30.0, "fps", False, floor=True).overrun() == float("inf")


def test_a_verdict_read_back_from_an_older_bundle_is_a_ceiling():
    record = Verdict("latency", 150.0, 100.0, "ms", False).to_dict()
    record.pop("floor")
    assert Verdict(**record).floor is False
