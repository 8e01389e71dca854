"""Budget verdicts: measured vs budget per item. Any failed item makes the CLI exit 2 (a CI gate)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgeus.errors import EdgeusError
from edgeus.profiles import DeviceProfile
from edgeus.profiling import PerfReport
from edgeus.validate import AccuracyReport


class BudgetFailed(EdgeusError):
    """At least one budget gate failed."""

    exit_code = 2


@dataclass
class Verdict:
    item: str
    measured: float | None
    budget: float
    unit: str
    passed: bool | None
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def perf_verdicts(profile: DeviceProfile, perf: PerfReport, measured_on_target: bool) -> list[Verdict]:
    b = profile.budgets
    where = "" if measured_on_target else f"measured on {perf.machine.get('cpu') or 'this machine'}, not on {profile.hardware.device}"
    memory = perf.peak_gpu_mb if b.memory_scope == "gpu" else perf.peak_rss_mb
    verdicts = [
        Verdict("latency p95 (compute, batch 1)", perf.compute.p95_ms, b.latency_p95_ms, "ms",
                perf.compute.p95_ms <= b.latency_p95_ms, where),
        Verdict("frame rate (end to end, batch 1)", 1000 / perf.end_to_end.mean_ms, b.min_fps, "fps",
                1000 / perf.end_to_end.mean_ms >= b.min_fps, where),
        Verdict(f"peak {b.memory_scope} memory", memory, b.peak_memory_mb, "MiB",
                None if memory is None else memory <= b.peak_memory_mb,
                "no GPU here to measure" if memory is None else where),
        Verdict("model size", perf.model_size_mb, b.model_size_mb, "MiB", perf.model_size_mb <= b.model_size_mb),
    ]
    if b.test_set:
        projected = b.test_set.images * perf.end_to_end.mean_ms / 1000
        verdicts.append(Verdict(f"{b.test_set.images}-image test set (projected)", projected, b.test_set.seconds, "s",
                                projected <= b.test_set.seconds, where))
    return verdicts


def accuracy_verdicts(report: AccuracyReport) -> list[Verdict]:
    verdicts = []
    for split, sr in report.splits.items():
        for metric, agg in sr.worst.items():
            verdicts.append(Verdict(f"{split}: worst-task {metric.upper()} drop ({agg['task']})", agg["drop"],
                                    agg["budget"], "", agg["passed"]))
        for metric, agg in sr.macro.items():
            verdicts.append(Verdict(f"{split}: macro {metric.upper()} drop", agg["drop"], agg["budget"], "", agg["passed"]))
        for key, task in sr.tasks.items():
            if task.fidelity.get("non_finite_outputs"):
                verdicts.append(Verdict(f"{split}: {key} outputs finite", None, 0, "", False, "NaN/Inf in the candidate"))
    return verdicts


def all_passed(verdicts: list[Verdict]) -> bool:
    return all(v.passed is not False for v in verdicts)
