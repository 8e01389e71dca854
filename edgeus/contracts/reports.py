"""The typed evidence a build hands on: the accuracy report (validate) and the performance report (profile),
with their JSON round trip. They live here, below every layer that reads them, so ``bundle/``, ``report/`` and
``pipeline/`` take them typed; ``stages/validate.py`` and ``stages/profile.py`` fill them in."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

# Bootstrap replicates behind every interval of an accuracy report (evidence/bootstrap.py draws them).
N_BOOT = 1000


@dataclass
class MetricComparison:
    reference: float | None
    reference_ci: list
    candidate: float | None
    candidate_ci: list
    drop: float | None
    drop_ci: list
    budget: float
    passed: bool | None  # True: pass, False: fail, None: inconclusive or undefined (see state)
    state: str = "undefined"  # pass | fail | inconclusive | undefined (edgeus/evidence/gates.py)
    reason: str = ""
    images_needed: dict = field(default_factory=dict)


@dataclass
class TaskComparison:
    task: str
    kind: str
    n: int
    metrics: dict[str, MetricComparison]
    fidelity: dict
    passed: bool  # no gate of this task failed (inconclusive ones are in ``state``)
    state: str = "pass"
    rows: list[str] = field(default_factory=list)  # catalog rows pooled into this task
    nsd_clean: dict = field(default_factory=dict)  # reference / candidate mean NSD without the official artefact


@dataclass
class SplitReport:
    split: str
    tasks: dict[str, TaskComparison]
    macro: dict[str, dict]
    worst: dict[str, dict]
    passed: bool


@dataclass
class AccuracyReport:
    reference: str
    candidate: str
    splits: dict[str, SplitReport] = field(default_factory=dict)
    budgets: dict = field(default_factory=dict)
    n_boot: int = N_BOOT
    passed: bool = True  # no gate failed
    inconclusive: list[str] = field(default_factory=list)  # "split: gate" of every inconclusive gate

    def to_dict(self) -> dict:
        return asdict(self)

    def failed_tasks(self) -> dict[str, list[str]]:
        return {s: [k for k, t in r.tasks.items() if not t.passed] for s, r in self.splits.items()}


@dataclass
class LatencyStats:
    n: int
    min_ms: float
    mean_ms: float
    median_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    std_ms: float
    cov: float

    @classmethod
    def of(cls, seconds: list[float]) -> LatencyStats:
        a = np.array(seconds) * 1000
        mean = float(a.mean())
        return cls(len(a), float(a.min()), mean, float(np.median(a)), float(np.percentile(a, 90)),
                   float(np.percentile(a, 95)), float(np.percentile(a, 99)), float(a.max()), float(a.std()),
                   float(a.std() / mean) if mean else 0.0)


@dataclass
class PerfReport:
    model: str
    backend: str
    machine: dict
    load_s: float
    first_inference_ms: float
    compute: LatencyStats
    end_to_end: LatencyStats
    throughput: dict[str, float]            # batch size -> images/s
    peak_rss_mb: float
    rss_above_baseline_mb: float
    peak_gpu_mb: float | None
    model_size_mb: float
    projected_uusic25_s: float              # from the pipelined end-to-end throughput
    memory_timeline: list[tuple[float, float]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    pipelined: dict = field(default_factory=dict)  # images/s end to end, pipelined, and vs compute-only
    process: dict = field(default_factory=dict)    # what the measured process held: pid, build-side modules
    memory_source: str = "process RSS"
    device: dict = field(default_factory=dict)     # the measuring device's identity (util/device_identity.py)

    def to_dict(self) -> dict:
        return asdict(self)


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
