"""Rebuild report dataclasses from their JSON (cached stages, bundles, compare)."""

from __future__ import annotations

from edgeus.stages.profile import LatencyStats, PerfReport
from edgeus.stages.validate import AccuracyReport, MetricComparison, SplitReport, TaskComparison


def accuracy_from_dict(data: dict) -> AccuracyReport:
    report = AccuracyReport(data["reference"], data["candidate"], budgets=data["budgets"], n_boot=data["n_boot"],
                            passed=data["passed"], inconclusive=data.get("inconclusive", []))
    for name, split in data["splits"].items():
        tasks = {
            key: TaskComparison(t["task"], t["kind"], t["n"],
                                {m: MetricComparison(**mc) for m, mc in t["metrics"].items()}, t["fidelity"], t["passed"],
                                t.get("state", "pass"), t.get("rows", []), t.get("nsd_clean", {}))
            for key, t in split["tasks"].items()
        }
        report.splits[name] = SplitReport(split["split"], tasks, split["macro"], split["worst"], split["passed"])
    return report


def perf_from_dict(data: dict) -> PerfReport:
    data = dict(data)
    data["compute"] = LatencyStats(**data["compute"])
    data["end_to_end"] = LatencyStats(**data["end_to_end"])
    data["memory_timeline"] = [tuple(x) for x in data["memory_timeline"]]
    return PerfReport(**data)
