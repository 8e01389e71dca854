"""Device profiles: what a target device is, how edgeus compiles for it and which budgets it must meet.

A profile is a TOML file in ``profiles/`` (or a folder given by ``--profiles-dir`` / ``EDGEUS_PROFILES_DIR``).
Adding a device is adding a file; the schema below rejects unknown keys, wrong types and missing fields,
naming the file and the key, because a typo in a budget must never silently disable a gate.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from edgeus._compat import tomllib
from edgeus.contracts.kinds import Backend, Precision, ShiftFamily
from edgeus.contracts.limits import MAX_FPS, MAX_THREADS
from edgeus.contracts.plans import ON_DEVICE, plan_of_profile
from edgeus.errors import ProfileError
from edgeus.util.arm_cores import ARM_CORES


PROFILES_ENV = "EDGEUS_PROFILES_DIR"
BUILTIN_PROFILES_DIR = Path(__file__).resolve().parents[1] / "builtin_profiles"


# Compute features edgeus reasons about, in /proc/cpuinfo spelling where one exists (ARM: asimd = NEON,
# asimddp = dot product, i8mm = int8 matrix multiply, fphp = fp16 arithmetic, bf16).
CpuFeature = Literal["avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_int8",
                     "amx_bf16", "asimd", "asimddp", "i8mm", "fphp", "bf16"]


class _Strict(BaseModel):
    # allow_inf_nan=False: ``latency_p95_ms = inf`` would switch a gate off
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False, allow_inf_nan=False)


def _at_most(limit: float, why: str) -> AfterValidator:
    """An upper bound whose message says why it exists (a typo in a budget must not pass silently)."""
    def check(value):
        if value > limit:
            raise ValueError(f"at most {limit:g} ({why})")
        return value

    return AfterValidator(check)


# Numbers are strict: "100" (a string) is refused, an int is fine where a float is expected; never inf/NaN.
Count = Annotated[int, Field(strict=True, gt=0)]
Threads = Annotated[int, Field(strict=True, gt=0), _at_most(*MAX_THREADS)]
BatchSize = Annotated[int, Field(strict=True, gt=0), _at_most(4096, "a batch this large never fits an edge device")]
Milliseconds = Annotated[float, Field(strict=True, gt=0), _at_most(600_000, "ten minutes per image is no budget")]
Fps = Annotated[float, Field(strict=True, gt=0), _at_most(*MAX_FPS)]
MiB = Annotated[float, Field(strict=True, gt=0), _at_most(1 << 24, "16 TiB is no edge memory or model size")]
Drop = Annotated[float, Field(strict=True, ge=0), _at_most(1.0, "drops are fractions: 0.02 is two points")]
Positive = Annotated[float, Field(strict=True, gt=0)]


class Hardware(_Strict):
    """Facts from public spec sheets; ``source`` says which (None where a vendor publishes no figure)."""

    device: str
    arch: Literal["x86_64", "aarch64"]
    cpu_cores: Threads
    memory_gb: Positive
    accelerator: str  # "none" or the GPU / NPU model
    peak_int8_tops: Positive | None = None
    peak_fp32_gflops: Positive | None = None
    memory_bandwidth_gbs: Positive | None = None
    unified_memory: bool = False
    # The CPU's compute features from its spec sheet (None: not published). Plans and kernels that need a
    # feature the target lacks must not be chosen for it, and timings taken with one must say so.
    cpu_features: list[CpuFeature] | None = None
    # The CPU core the device runs on. ARM: a core QEMU emulates (``-cpu``), so conformance can be checked on
    # its kernels (util/arm_cores.py); x86-64: part of the CPU's name (``i7-1185G7``), which recognises the
    # target when the build runs on it. None: no emulation, and no machine is taken for the target.
    cpu_model: str | None = None
    source: str

    @field_validator("cpu_model")
    @classmethod
    def _known_core(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("arch") == "aarch64" and value not in ARM_CORES:
            raise ValueError(f"unknown ARM core {value!r}; known: {', '.join(ARM_CORES)}")
        if value is not None and not value.strip():
            raise ValueError("empty: name the CPU (or leave the key out)")
        return value


class TensorRTSettings(_Strict):
    workspace_mb: Annotated[Count, _at_most(1 << 20, "a TiB of builder workspace")]
    builder_optimization_level: int = Field(strict=True, ge=0, le=5)
    dla_core: int | None = Field(default=None, strict=True, ge=0, le=1)  # None: GPU only; Orin has DLA 0 and 1
    gpu_fallback: bool = True
    build_on_device: bool
    hardware_compatibility: Literal["none", "ampere_plus", "same_compute_capability"] = "none"
    # The GPU family a recipe is for ("8.7" = Jetson Orin); finalize refuses another one. None: any GPU.
    compute_capability: str | None = Field(default=None, pattern=r"^\d+\.\d+$")


class OpenVINOSettings(_Strict):
    performance_hint: Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"] = "LATENCY"
    num_streams: Annotated[Count, _at_most(256, "more streams than cores")] = 1
    # The CPU plugin silently runs bf16 on CPUs with AVX-512-BF16/AMX unless told otherwise, so the
    # inference precision is always set explicitly and recorded.
    inference_precision: Literal["f32", "f16", "bf16"] = "f32"


class Runtime(_Strict):
    threads: Threads
    batch_sizes: list[BatchSize] = Field(min_length=1)
    tensorrt: TensorRTSettings | None = None
    openvino: OpenVINOSettings | None = None


class Quantization(_Strict):
    calibration_samples_per_task: Annotated[Count, _at_most(100_000, "more than any dataset")] = 16
    calibration_max_samples: Annotated[Count, _at_most(1_000_000, "more than any dataset")] = 300
    ort_calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    ignored_names: list[str] = []
    ignored_patterns: list[str] = []
    ignored_types: list[str] = []
    # The model spec's float patterns (int8_float_patterns) join the ignored scope: the "hint" scope. Plans
    # without a float scope, and the float-scope search, quantize with this off.
    spec_hints: bool = Field(default=True, strict=True)
    # The automatic float scope (int8-auto) ranks the model's quantized blocks (quantizers grouped by module
    # path, at the deepest level giving at most this many); each costs two evaluations on the search half.
    # Fewer: a faster, coarser search that may return more to float. Not part of the quantization itself.
    scope_max_blocks: Annotated[Count, _at_most(1024, "more blocks than any model's module paths")] = 32


class AccuracyDrops(_Strict):
    """Largest allowed drop (reference minus candidate), as a fraction, macro and worst task."""

    dsc_macro: Drop
    dsc_worst: Drop
    nsd_macro: Drop
    nsd_worst: Drop
    auc_macro: Drop
    auc_worst: Drop
    acc_macro: Drop
    acc_worst: Drop


class RobustnessBudget(_Strict):
    """Largest extra drop a plan may show under an ultrasound shift beyond what fp32 loses on the same images
    (a difference in differences with a paired CI, evidence/robustness.py), at severities 1..``max_severity``
    of each family (data/shifts.py)."""

    families: list[ShiftFamily] = Field(default_factory=lambda: list(get_args(ShiftFamily)), min_length=1)
    max_severity: int = Field(default=3, strict=True, ge=1, le=5)
    dsc: Drop = 0.03
    nsd: Drop = 0.05
    auc: Drop = 0.05
    acc: Drop = 0.08


class TestSetBudget(_Strict):
    """An end-to-end budget over a whole test set, as the challenge measured it."""

    images: Annotated[Count, _at_most(10_000_000, "more images than any test set")]
    seconds: Positive


class Budgets(_Strict):
    latency_p95_ms: Milliseconds  # per image, compute, at batch 1
    min_fps: Fps
    peak_memory_mb: MiB
    memory_scope: Literal["system", "gpu"]  # what peak_memory_mb is measured on
    model_size_mb: MiB
    accuracy_drop: AccuracyDrops
    test_set: TestSetBudget | None = None
    robustness: RobustnessBudget | None = None  # None: robustness is measured on request, not gated
    # An accuracy gate whose paired CI spans its budget and 0 is inconclusive. Strict (release) profiles block
    # on it; by default it warns, and the verdict says how many images would decide it.
    strict: bool = Field(default=False, strict=True)
    # An ONNX Runtime INT8 plan ships only when it beats ONNX Runtime fp32 of the same run by this factor.
    # Measured INT8/fp32 speedups span 0.54-1.43x across the machines tried (benchmarks/results/plans.md; Q/DQ
    # pairs take ~20 % of INT8 kernel time, ORT's profiler), so a smaller gain on the build machine does not
    # predict a gain on the target, while the accuracy cost of INT8 is certain.
    ort_int8_min_speedup: float = Field(default=1.5, ge=1.0, le=100.0)


class DeviceProfile(_Strict):
    name: str
    description: str
    hardware: Hardware
    backend: Backend
    # Other runtimes the plan search may ship besides ``backend`` (CPU runtimes only): their plans are built,
    # gated and timed in the same loop, the fastest that passes ships; ``[runtime]`` settings are ``backend``'s
    # (another runtime's plans take its defaults and the same threads). Empty: ``backend`` alone.
    backends: list[Backend] = Field(default_factory=list)
    precision: Precision
    runtime: Runtime
    quantization: Quantization = Quantization()
    budgets: Budgets
    # "auto": build every plan the target can run and ship the fastest that passes every gate
    # (edgeus/contracts/plans.py); a plan name pins one (``--plan`` overrides either).
    plan: str = "auto"

    def check_consistency(self, where: str) -> None:
        """Cross-field rules the field types cannot express."""
        if self.backend is Backend.tensorrt and self.runtime.tensorrt is None:
            raise ProfileError(f"{where}: backend 'tensorrt' needs a [runtime.tensorrt] table")
        if self.backend is not Backend.tensorrt and self.runtime.tensorrt is not None:
            raise ProfileError(f"{where}: runtime.tensorrt is only allowed with backend 'tensorrt'")
        if self.backend is not Backend.openvino and self.runtime.openvino is not None:
            raise ProfileError(f"{where}: runtime.openvino is only allowed with backend 'openvino'")
        others = [b for b in self.backends if b is not self.backend]
        on_device = [b for b in (self.backend, *others) if b in ON_DEVICE]
        if others and on_device:
            name = {Backend.tensorrt: "TensorRT builds its engine", Backend.coreml: "Core ML compiles its model"}[on_device[0]]
            raise ProfileError(f"{where}: backends: {name} on the device and cannot be weighed against other "
                               "runtimes in one plan search; list CPU runtimes only")
        if self.plan != "auto":
            try:
                plan_of_profile(self, self.plan)
            except ProfileError as exc:
                raise ProfileError(f"{where}: plan: {exc}") from None


def profile_dirs(extra: list[Path] | None = None) -> list[Path]:
    """Folders searched for profiles, first match wins: command line, environment, built-in."""
    dirs = list(extra or [])
    env = os.environ.get(PROFILES_ENV)
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs.append(BUILTIN_PROFILES_DIR)
    for d in dirs[:-1]:
        if not d.is_dir():
            raise ProfileError(f"profiles folder {d} does not exist (from --profiles-dir or ${PROFILES_ENV})")
    return dirs


def _format_validation_error(where: str, err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    kind = first["type"]
    if kind == "extra_forbidden":
        what = "unknown key"
    elif kind == "missing":
        what = "missing required key"
    else:
        what = f"{first['msg'].lower()} (got {first.get('input')!r})"
    more = f" (and {len(err.errors()) - 1} more problem(s))" if len(err.errors()) > 1 else ""
    return f"{where}: {key}: {what}{more}"


def load_profile_file(path: Path) -> DeviceProfile:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        profile = DeviceProfile.model_validate(raw)
    except ValidationError as exc:
        raise ProfileError(_format_validation_error(str(path), exc)) from None
    if profile.name != path.stem:
        raise ProfileError(f"{path}: name = {profile.name!r} must match the file name {path.stem!r}")
    profile.check_consistency(str(path))
    return profile


def profile_paths(extra_dirs: list[Path] | None = None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in profile_dirs(extra_dirs):
        for p in sorted(d.glob("*.toml")):
            found.setdefault(p.stem, p)
    return found


def list_profiles(extra_dirs: list[Path] | None = None) -> list[DeviceProfile]:
    return [load_profile_file(p) for p in profile_paths(extra_dirs).values()]


def load_profile(name_or_path: str | Path, extra_dirs: list[Path] | None = None) -> DeviceProfile:
    """Load a profile by name (searched in the profile folders: the built-in ones, ``extra_dirs``,
    ``$EDGEUS_PROFILES_DIR``) or by a path to a .toml file; an unknown name says the closest known ones.

    Example::

        import edgeus
        profile = edgeus.load_profile("cpu-arm-handheld")
        print(profile.backend.value, profile.precision.value, profile.budgets.latency_p95_ms)
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.is_file():
        if not candidate.is_file():
            raise ProfileError(f"profile file {candidate} does not exist")
        return load_profile_file(candidate)
    paths = profile_paths(extra_dirs)
    if str(name_or_path) not in paths:
        close = difflib.get_close_matches(str(name_or_path), paths, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ProfileError(
            f"unknown profile {str(name_or_path)!r}.{hint} Valid profiles: {', '.join(sorted(paths))}"
        )
    return load_profile_file(paths[str(name_or_path)])


@dataclass(frozen=True)
class QuantizeOptions:
    """Per-run overrides of a profile's quantization settings (``edgeus quantize`` flags, the build)."""

    precision: Precision | None = None          # default: the profile's
    ort_calibration_method: str | None = None   # minmax | entropy | percentile (default: the profile's)
    ignored_names: tuple[str, ...] = ()
    ignored_patterns: tuple[str, ...] = ()
    ignored_types: tuple[str, ...] = ()
    reduce_range: bool = False                  # ORT: 7-bit weights for x86 CPUs without VNNI
    fast_bias_correction: bool = True           # NNCF: the fast variant; False runs full bias correction
