"""The typed inputs and results of a build: what the user asked (``BuildOptions``), what every stage reads,
checked before the first stage writes anything (``BuildContext``), each candidate plan's run (``PlanRun``),
the plan search (``PlanSearch``) and the build's result (``BuildResult``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from edgeus.backends.base import Runner
from edgeus.contracts.plans import Plan, PlanChoice
from edgeus.contracts.profiles import DeviceProfile, Precision
from edgeus.contracts.reports import AccuracyReport, PerfReport
from edgeus.contracts.spec import ModelSpec
from edgeus.data.calibration import CalibrationPlan, plan_for_profile
from edgeus.data.defaults import default_phantom, split_folder, validation_splits
from edgeus.data.provenance import content_hash, data_provenance, file_hashes, images_per_task
from edgeus.data.uusic25 import Sample, read_dataset
from edgeus.errors import OutputExistsError
from edgeus.models import LoadedModel, load_model
from edgeus.pipeline.cache import StageResult, clean_partial, content_key
from edgeus.pipeline.verdicts import Verdict, blocking
from edgeus.util.logs import CapturedLogs
from edgeus.util.toolchain import usable_cores

DEFAULT_MODEL = "uniusnet-small"
CACHE_DIR = ".edgeus-cache"

OnStage = Callable[[str, "StageResult | None"], None]
ProgressFor = Callable[[str, int], contextlib.AbstractContextManager[Callable[[str, int], None]]]


def no_progress(name: str, total: int):
    return contextlib.nullcontext(lambda label, n=1: None)


def silent(name: str, result: StageResult | None) -> None:
    return None


@dataclass
class BuildOptions:
    model: str = DEFAULT_MODEL
    checkpoint: str | None = None
    spec_file: str | None = None
    data: Path | None = None
    out: Path = Path("dist")
    threads: int | None = None
    allow_missing_tasks: bool = False
    seed: int = 0
    profile_min_iters: int = 30
    profile_min_duration_s: float = 3.0
    force: bool = False
    verbose: bool = False  # library logs on the console too (they always go to the bundle's build.log)
    plan: str | None = None  # "auto" or a plan name (contracts/plans.py); None: the profile's (default auto)
    on_device: bool = False  # this machine is the profile's device (a farm agent that serves it: farm/)
    robustness: bool = True  # the robustness-under-shift stage (pipeline/robustness.py); refused off when gated


@dataclass
class BuildContext:
    """What every stage of one build reads. ``export`` is set once the export stage ran; ``reference`` (torch
    fp32, memoized) once the first validation asks for it: every plan is compared on the same outputs."""

    options: BuildOptions
    profile: DeviceProfile             # the target's; a plan's stages use its own (PlanRun.profile)
    loaded: LoadedModel
    data: Path
    calibration: CalibrationPlan | None
    splits: dict[str, list[Sample]]   # split -> samples with truth
    stages_dir: Path
    threads: int
    calibration_sha256: str
    data_sha256: str
    provenance: dict
    run_dir: Path | None               # the bundle folder when a pinned plan names it up front (checked free)
    on_stage: OnStage = silent
    progress_for: ProgressFor = no_progress
    export: StageResult | None = None
    reference: Runner | None = None
    evidence_isa: dict = field(default_factory=dict)  # where the evidence is computed (pipeline/target_evidence.py)

    @property
    def seed(self) -> int:
        return self.options.seed

    @property
    def timing_threads(self) -> int:
        """The threads every timing here uses: the target's, capped at this machine's cores (the bundle keeps
        the target's ``threads`` for the device)."""
        return min(self.threads, usable_cores())

    @property
    def spec(self) -> ModelSpec:
        return self.loaded.spec

    @property
    def export_key(self) -> str:
        return self.export.key

    @property
    def fp32_onnx(self) -> Path:
        return self.export.path / "model.onnx"


def data_fingerprints(data: Path, stages_dir: Path) -> tuple[dict, str, str]:
    """(file hashes, calibration content hash, validation content hash) of a dataset: every file by content
    (cached by size and mtime), so a changed image re-runs the stages that read it and no other. The one
    formula for the build and finalize."""
    hashes = file_hashes(data, stages_dir)
    calibration_sha256 = content_hash(hashes, split_folder(data, "calibration"))[0]
    validation_sha256 = content_key(*(content_hash(hashes, split_folder(data, purpose))[0]
                                      for purpose in ("validation", "external")))
    return hashes, calibration_sha256, validation_sha256


def build_context(profile: DeviceProfile, options: BuildOptions, choice: PlanChoice, *, bundle: bool = True,
                  on_stage: OnStage = silent, progress_for: ProgressFor = no_progress) -> BuildContext:
    """Every input checked before the first stage writes anything (a data problem found after export would
    leave a run directory behind for nothing). ``bundle``: a pinned plan's bundle folder is named now and
    refused if it exists, before the cache folder is touched; ``prepare`` writes no bundle."""
    loaded = load_model(options.model, options.checkpoint, options.spec_file)
    data = options.data or default_phantom()
    int8 = any(p.compute in ("int8", "w8a8") for p in choice.candidates)  # w8a8: calibrated on the Mac
    calibration = _calibration_plan(split_folder(data, "calibration"), loaded.spec, profile, options) if int8 else None
    splits = validation_splits(data, loaded.spec, options.allow_missing_tasks)
    run_dir = bundle_dir(options, loaded.name, profile.name, choice.candidates[0].name) \
        if bundle and choice.pinned else None
    stages_dir = options.out / CACHE_DIR
    clean_partial(stages_dir)
    hashes, calibration_sha256, data_sha256 = data_fingerprints(data, stages_dir)
    provenance = data_provenance(data, images_per_task(splits), *content_hash(hashes, data))
    return BuildContext(options, profile, loaded, data, calibration, splits, stages_dir,
                        options.threads or profile.runtime.threads, calibration_sha256, data_sha256, provenance,
                        run_dir, on_stage, progress_for)


def _calibration_plan(root: Path, spec: ModelSpec, profile: DeviceProfile, options: BuildOptions):
    if profile.precision not in (Precision.int8, Precision.mixed):
        return None
    return plan_for_profile(read_dataset(root, spec.task_catalog()), spec, profile.quantization, seed=options.seed,
                            allow_missing_tasks=options.allow_missing_tasks)


def bundle_dir(options: BuildOptions, model: str, profile: str, plan: str) -> Path:
    """``OUT/<model>-<profile>-<plan>``, refused when it exists without ``force`` (cached stages are reused)."""
    run_dir = options.out / f"{model}-{profile}-{plan}"
    if run_dir.exists() and not options.force:
        raise OutputExistsError(f"bundle {run_dir} exists; pass --force to rebuild it (cached stages are reused)")
    return run_dir


class PlanState(str, Enum):
    """Where a candidate plan ended: built (not judged yet), then chosen, pass, rejected; or error."""

    built = "built"
    chosen = "chosen"
    passed = "pass"
    rejected = "rejected"
    error = "error"

    def __str__(self) -> str:  # "pass", not "PlanState.passed", in messages and tables
        return self.value

    __format__ = str.__format__


@dataclass
class PlanRun:
    plan: Plan
    profile: DeviceProfile                  # the target's profile with the plan applied
    stages: list[StageResult] = field(default_factory=list)
    model_dir: Path | None = None           # the compiled model
    compile_key: str = ""
    accuracy: AccuracyReport | None = None  # on the confirm part
    timing: dict | None = None
    size_mb: float | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    state: PlanState = PlanState.error
    reason: str = ""
    search: dict | None = None              # the float-scope search (int8-auto)
    robustness: dict | None = None          # robustness.json under shifts, where the profile gates it

    @property
    def passed(self) -> bool:
        return self.state in (PlanState.chosen, PlanState.passed)

    def overrun(self) -> float:
        """How far the worst blocking verdict is beyond its budget (measured / budget; inf without one)."""
        ratios = [v.overrun() for v in blocking(self.verdicts, self.profile.budgets.strict)]
        return max(ratios, default=0.0)

    def delegation(self) -> dict | None:
        """ExecuTorch: how much of the program XNNPACK runs and what fell back to portable kernels (the lowering's
        record, stages/lower.py); None for the other runtimes."""
        data = getattr(self.stages[0].payload, "data", None) if self.stages else None
        return data.get("delegation") if isinstance(data, dict) else None

    def row(self) -> dict:
        """One line of the plans table (plans.json, the report, the console)."""
        worst = None
        if self.accuracy is not None:
            drops = [(t.metrics[m].drop, f"{split} {key} {m.upper()}") for split, sr in self.accuracy.splits.items()
                     for key, t in sr.tasks.items() for m in t.metrics if t.metrics[m].drop is not None]
            worst = max(drops, default=None)
        failing = [f"{v.item}: {fmt(v.measured)} vs {fmt(v.budget)}{(' ' + v.unit) if v.unit else ''} ({v.state})"
                   for v in blocking(self.verdicts, self.profile.budgets.strict)]
        timing = self.timing or {}
        inconclusive = sum(v.state == "inconclusive" for v in self.verdicts)
        floats = timing.get("actual_precision")
        # OpenVINO reports the precision of what is not INT8: an INT8 plan "runs as f32" only in its islands
        ran_as = (f"int8 + {floats} islands" if self.plan.compute == "int8" and floats else floats)
        return {"plan": self.plan.name, **self.plan.to_dict(), "state": self.state.value, "reason": self.reason,
                "inconclusive": inconclusive, "ran_as": ran_as,
                "median_ms": timing.get("median_ms"), "p95_ms": timing.get("p95_ms"),
                "speedup_vs_fp32": timing.get("speedup_vs_fp32"), "actual_precision": timing.get("actual_precision"),
                "vs_peers": timing.get("vs_peers"),
                "size_mb": self.size_mb, "worst_drop": worst[0] if worst else None,
                "worst_drop_where": worst[1] if worst else None, "failing": failing,
                "float_blocks": self.search["float_blocks"] if self.search else None,
                "robustness_passed": self.robustness["passed"] if self.robustness else None,
                "delegation": self.delegation()}


def fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}"


@dataclass
class PlanSearch:
    runs: list[PlanRun]
    excluded: dict[str, str]
    pinned: bool
    chosen: PlanRun | None = None
    closest: PlanRun | None = None
    search_images: int = 0
    confirm_images: dict = field(default_factory=dict)
    timing_note: str = ""
    ledger: list[dict] = field(default_factory=list)
    confirm: dict = field(default_factory=dict)  # split -> the samples that confirmed the plans (not serialised)
    peers: dict = field(default_factory=dict)  # baseline -> {median_ms, p95_ms}: torch eager, each runtime's fp32

    @property
    def shipped(self) -> PlanRun | None:
        return self.chosen or self.closest

    def to_dict(self) -> dict:
        return {"chosen": self.chosen.plan.name if self.chosen else None,
                "closest": self.closest.plan.name if self.closest else None, "pinned": self.pinned,
                "plans": [r.row() for r in self.runs], "excluded": self.excluded,
                "search_images": self.search_images, "confirm_images": self.confirm_images,
                "timing": self.timing_note, "ledger": self.ledger, "peers": self.peers,
                "scope_search": next((r.search for r in self.runs if r.search), None)}

    def evidence(self) -> dict:
        """What accuracy.json adds: which plan it is, on which images (the confirm part), the stage ledger."""
        if self.shipped is None:
            return {}
        return {"plan": self.shipped.plan.name, "images": self.confirm_images, "search_images": self.search_images,
                "ledger": self.ledger}


@dataclass
class BuildResult:
    run_dir: Path | None
    stages: list[StageResult] = field(default_factory=list)
    accuracy: AccuracyReport | None = None
    perf: PerfReport | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    stopped_after: str | None = None
    passed: bool = True
    manifest: dict | None = None
    logs: CapturedLogs | None = None  # library logs of this build (build.log) and their warnings
    splits: dict = field(default_factory=dict)  # validation samples per split, read once per build
    data: dict | None = None          # where the evidence came from (data/provenance.py)
    plans: PlanSearch | None = None   # every candidate plan, its verdicts and the choice
    notes: list[str] = field(default_factory=list)  # what the console says after the build (threads capped)
    target_conformance: object | None = None  # bundle/emulated.EmulatedConformance of a cross-architecture target
    robustness: dict | None = None    # robustness.json: the shipped plan under ultrasound shifts (pipeline/robustness.py)
