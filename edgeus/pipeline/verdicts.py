"""Budget verdicts: measured vs budget per item, each in one state.

States: ``pass``, ``fail``, ``inconclusive`` (an accuracy gate whose paired CI cannot decide, edgeus/evidence/gates.py;
or a speed or memory figure measured on a machine that is not the target: "off-target", shown with a
projection to the target, pipeline/projection.py),
``undefined`` (no value, e.g. AUC with one class), ``pending`` (measured on the device by ``edgeus finalize``)
and ``n/a`` (nothing to measure here, e.g. GPU memory without a GPU). A ``fail`` blocks; ``inconclusive``
blocks under a strict profile (``budgets.strict``) and warns otherwise. A blocking verdict makes the CLI exit 2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeus.contracts.profiles import CpuFeature, DeviceProfile
from edgeus.contracts.reports import AccuracyReport, PerfReport
from edgeus.errors import BudgetFailed  # noqa: F401 -- still importable from here, as before
from edgeus.evidence.gates import blocks
from edgeus.pipeline.projection import Projection, project
from edgeus.util.device_identity import describe
from edgeus.util.toolchain import cpu_isa, host_arch


@dataclass
class Verdict:
    item: str
    measured: float | None
    budget: float
    unit: str
    passed: bool | None  # True: pass, False: fail, None: any other state
    note: str = ""
    state: str = ""
    ci: list | None = None  # the measured value's paired 95 % interval, for accuracy drops
    images_needed: dict = field(default_factory=dict)
    floor: bool = False  # the budget is a minimum (a frame rate, a speedup): below it fails, above it passes
    projected: float | None = None  # off-target: the value projected to the target (pipeline/projection.py)
    off_target: bool = False  # measured on another machine than the target: never a fail, inconclusive

    def overrun(self) -> float:
        """How far the measured value is beyond its budget, as a factor (1 = at it, larger = worse; inf when
        nothing was measured): what ranks the closest of plans that all fail."""
        if self.measured is None or not self.budget:
            return float("inf")
        if self.floor:
            return self.budget / self.measured if self.measured > 0 else float("inf")
        return abs(self.measured) / self.budget

    def __post_init__(self) -> None:
        if not self.state:  # performance items have no interval: pass / fail / n/a
            self.state = {True: "pass", False: "fail"}.get(self.passed, "n/a")

    def to_dict(self) -> dict:
        return asdict(self)


def pending_verdict(item: str, budget: float, unit: str, floor: bool = False, where: str = "the device") -> Verdict:
    return Verdict(item, None, budget, unit, None, f"measured on {where}", "pending", floor=floor)


def perf_verdicts(profile: DeviceProfile, perf: PerfReport, measured_on_target: bool) -> list[Verdict]:
    """``measured_on_target``: the figures come from the profile's device (finalize on it, a farm device
    that serves the profile, or this machine when it is the target: ``is_target_machine``); the verdict then
    names that device's identity when perf.json records one. Otherwise the speed and memory verdicts are
    inconclusive (off-target), with the projection to the target; a strict build blocks on them."""
    verdicts = _measured_verdicts(profile, perf, measured_on_target)
    if measured_on_target:
        return verdicts
    threads = perf.settings.get("threads") or profile.runtime.threads
    return [off_target(v, project(profile, threads), profile) if v.item != "model size" else v for v in verdicts]


def off_target(v: Verdict, projection: Projection | None, profile: DeviceProfile) -> Verdict:
    """A speed or memory verdict measured here, not on the target: inconclusive, never a fail, with the value
    projected to the target (memory as measured: the same buffers) and whether that projection meets the budget."""
    if v.measured is None or v.state == "n/a":
        return v
    memory = v.unit == "MiB"
    if memory:
        projected, how = v.measured, "memory projects as measured (same model, same runtime buffers)"
    elif projection is None:
        projected, how = None, "no projection: the profile publishes no peak figures"
    else:
        projected = v.measured / projection.ratio if v.floor else v.measured * projection.ratio
        how = projection.basis
    meets = None if projected is None else (projected >= v.budget if v.floor else projected <= v.budget)
    said = "" if projected is None else (f"; projected {projected:.4g} {v.unit} on the target "
                                         f"({'within' if meets else 'beyond'} budget {v.budget:g}: {how})")
    note = f"inconclusive (off-target): measured {v.measured:.4g} {v.unit} on the host, not on {profile.hardware.device}"
    return Verdict(v.item, v.measured, v.budget, v.unit, None, note + said + (f"; {v.note}" if v.note else ""),
                   "inconclusive", floor=v.floor, projected=projected, off_target=True)


def is_target_machine(profile: DeviceProfile) -> bool:
    """Whether this machine is the profile's device: the same architecture and the CPU the profile names
    (``hardware.cpu_model``: part of an x86 CPU's name, or an ARM core's part number). A profile naming no
    CPU is never taken for this machine: its budgets gate only on the device (a farm, or finalize)."""
    from edgeus.util.arm_cores import ARM_CORES

    hw = profile.hardware
    if hw.cpu_model is None or host_arch() != hw.arch:
        return False
    try:
        text = Path("/proc/cpuinfo").read_text().lower()
    except OSError:
        return False
    if hw.arch == "aarch64":
        return f"cpu part\t: 0x{ARM_CORES[hw.cpu_model].part:03x}" in text
    names = [line.split(":", 1)[1] for line in text.splitlines() if line.startswith("model name")]
    return any(hw.cpu_model.lower() in name for name in names)


def _measured_verdicts(profile: DeviceProfile, perf: PerfReport, measured_on_target: bool) -> list[Verdict]:
    b = profile.budgets
    if measured_on_target:
        where = f"measured on {describe(perf.device)}" if perf.device else ""
    else:
        where = f"measured on {perf.machine.get('cpu') or 'this machine'}, not on {profile.hardware.device}"
    beyond = [] if measured_on_target else features_beyond_target(profile)
    if beyond:
        where += f"; this machine has {', '.join(beyond)}, which the target lacks (the timing may rest on it)"
    memory = perf.peak_gpu_mb if b.memory_scope == "gpu" else perf.peak_rss_mb
    verdicts = [
        Verdict("latency p95 (compute, batch 1)", perf.compute.p95_ms, b.latency_p95_ms, "ms",
                perf.compute.p95_ms <= b.latency_p95_ms, where),
        Verdict("frame rate (end to end, batch 1)", 1000 / perf.end_to_end.mean_ms, b.min_fps, "fps",
                1000 / perf.end_to_end.mean_ms >= b.min_fps, where, floor=True),
        Verdict(f"peak {b.memory_scope} memory", memory, b.peak_memory_mb, "MiB",
                None if memory is None else memory <= b.peak_memory_mb,
                "no GPU here to measure" if memory is None else where),
        Verdict("model size", perf.model_size_mb, b.model_size_mb, "MiB", perf.model_size_mb <= b.model_size_mb),
    ]
    if b.test_set:
        # a test set runs pipelined (decoding overlaps inference); older reports only have the serial mean
        rate = perf.pipelined.get("images_per_s") or 1000 / perf.end_to_end.mean_ms
        projected = b.test_set.images / rate
        verdicts.append(Verdict(f"{b.test_set.images}-image test set (projected, pipelined)", projected, b.test_set.seconds, "s",
                                projected <= b.test_set.seconds, where))
    return verdicts


def features_beyond_target(profile: DeviceProfile, build_features: list[str] | None = None) -> list[str]:
    """CPU features of this (build) machine that the target's spec sheet does not list: a timing taken here
    may rest on them. Empty when the target publishes none, or runs on another architecture (the verdict
    already says the timing is not the target's)."""
    from typing import get_args

    target = profile.hardware.cpu_features
    if target is None or host_arch() != profile.hardware.arch:
        return []
    relevant = set(get_args(CpuFeature))
    here = build_features if build_features is not None else cpu_isa()
    return [f for f in here if f in relevant and f not in target]


def accuracy_verdicts(report: AccuracyReport) -> list[Verdict]:
    verdicts = []
    for split, sr in report.splits.items():
        for metric, agg in sr.worst.items():
            verdicts.append(_gate_verdict(f"{split}: worst-task {metric.upper()} drop ({agg['task']})", agg))
        for metric, agg in sr.macro.items():
            verdicts.append(_gate_verdict(f"{split}: macro {metric.upper()} drop", agg))
        for key, task in sr.tasks.items():
            if task.fidelity.get("non_finite_outputs"):
                verdicts.append(Verdict(f"{split}: {key} outputs finite", None, 0, "", False, "NaN/Inf in the candidate"))
    return verdicts


def _gate_verdict(item: str, agg: dict) -> Verdict:
    state = agg.get("state") or {True: "pass", False: "fail"}.get(agg["passed"], "undefined")
    return Verdict(item, agg["drop"], agg["budget"], "", agg["passed"], agg.get("reason", ""), state, agg.get("ci"),
                   agg.get("images_needed", {}))


def judge(profile: DeviceProfile, perf: PerfReport | None, accuracy: AccuracyReport,
          measured_on_target: bool) -> tuple[list[Verdict], bool]:
    """Every verdict of a build or a finalize, and whether none blocks under the profile's strictness.
    Without ``perf`` (an engine built later on the device) the performance items are pending."""
    if perf is None:
        b = profile.budgets
        # TensorRT's finalize runs on the device; Core ML's on a Mac, whose timing is not the iPhone's or iPad's
        where = ("the device (a Mac's 'edgeus finalize' times the Mac, not it)" if profile.backend.value == "coreml"
                 else "the device by 'edgeus finalize'")
        performance = [pending_verdict("latency p95 (compute, batch 1)", b.latency_p95_ms, "ms", where=where),
                       pending_verdict("frame rate (end to end, batch 1)", b.min_fps, "fps", floor=True, where=where),
                       pending_verdict(f"peak {b.memory_scope} memory", b.peak_memory_mb, "MiB", where=where)]
    else:
        performance = perf_verdicts(profile, perf, measured_on_target)
    verdicts = performance + accuracy_verdicts(accuracy)
    return verdicts, all_passed(verdicts, profile.budgets.strict)


def blocking(verdicts: list[Verdict], strict: bool) -> list[Verdict]:
    """The verdicts that stop the build: failures, and inconclusive gates when ``strict``."""
    return [v for v in verdicts if blocks(v.state, strict)]


def all_passed(verdicts: list[Verdict], strict: bool = False) -> bool:
    return not blocking(verdicts, strict)


def state_counts(verdicts: list[Verdict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.state] = counts.get(v.state, 0) + 1
    return counts
