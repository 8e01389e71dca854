"""Device profiles: what a target device is, how edgeus compiles for it and which budgets it must meet.

A profile is a TOML file in ``profiles/`` (or a folder given by ``--profiles-dir`` / ``EDGEUS_PROFILES_DIR``).
Adding a device is adding a file; the schema below rejects unknown keys, wrong types and missing fields,
naming the file and the key, because a typo in a budget must never silently disable a gate.
"""

from __future__ import annotations

import difflib
import os
from enum import Enum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgeus._compat import tomllib
from edgeus.errors import ProfileError

PROFILES_ENV = "EDGEUS_PROFILES_DIR"
BUILTIN_PROFILES_DIR = Path(__file__).resolve().parent / "builtin_profiles"


class Backend(str, Enum):
    tensorrt = "tensorrt"
    openvino = "openvino"
    onnxruntime = "onnxruntime"


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"
    mixed = "mixed"  # INT8 where it holds accuracy, FP16/FP32 elsewhere


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Hardware(_Strict):
    """Facts from public spec sheets; ``source`` says which (None where a vendor publishes no figure)."""

    device: str
    arch: Literal["x86_64", "aarch64"]
    cpu_cores: int = Field(gt=0)
    memory_gb: float = Field(gt=0)
    accelerator: str  # "none" or the GPU / NPU model
    peak_int8_tops: float | None = Field(default=None, gt=0)
    peak_fp32_gflops: float | None = Field(default=None, gt=0)
    memory_bandwidth_gbs: float | None = Field(default=None, gt=0)
    unified_memory: bool = False
    source: str


class TensorRTSettings(_Strict):
    workspace_mb: int = Field(gt=0)
    builder_optimization_level: int = Field(ge=0, le=5)
    dla_core: int | None = Field(default=None, ge=0)  # None: GPU only
    gpu_fallback: bool = True
    build_on_device: bool
    hardware_compatibility: Literal["none", "ampere_plus", "same_compute_capability"] = "none"
    # The GPU family a recipe is for ("8.7" = Jetson Orin); finalize refuses another one. None: any GPU.
    compute_capability: str | None = Field(default=None, pattern=r"^\d+\.\d+$")


class OpenVINOSettings(_Strict):
    performance_hint: Literal["LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"] = "LATENCY"
    num_streams: int = Field(default=1, ge=1)
    # The CPU plugin silently runs bf16 on CPUs with AVX-512-BF16/AMX unless told otherwise, so the
    # inference precision is always set explicitly and recorded.
    inference_precision: Literal["f32", "f16", "bf16"] = "f32"


class Runtime(_Strict):
    threads: int = Field(gt=0)
    batch_sizes: list[int] = Field(min_length=1)
    tensorrt: TensorRTSettings | None = None
    openvino: OpenVINOSettings | None = None


class Quantization(_Strict):
    calibration_samples_per_task: int = Field(default=16, gt=0)
    calibration_max_samples: int = Field(default=300, gt=0)
    ort_calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    ignored_names: list[str] = []
    ignored_patterns: list[str] = []
    ignored_types: list[str] = []


class AccuracyDrops(_Strict):
    """Largest allowed drop (reference minus candidate), as a fraction, macro and worst task."""

    dsc_macro: float = Field(ge=0)
    dsc_worst: float = Field(ge=0)
    nsd_macro: float = Field(ge=0)
    nsd_worst: float = Field(ge=0)
    auc_macro: float = Field(ge=0)
    auc_worst: float = Field(ge=0)
    acc_macro: float = Field(ge=0)
    acc_worst: float = Field(ge=0)


class TestSetBudget(_Strict):
    """An end-to-end budget over a whole test set, as the challenge measured it."""

    images: int = Field(gt=0)
    seconds: float = Field(gt=0)


class Budgets(_Strict):
    latency_p95_ms: float = Field(gt=0)  # per image, compute, at batch 1
    min_fps: float = Field(gt=0)
    peak_memory_mb: float = Field(gt=0)
    memory_scope: Literal["system", "gpu"]  # what peak_memory_mb is measured on
    model_size_mb: float = Field(gt=0)
    accuracy_drop: AccuracyDrops
    test_set: TestSetBudget | None = None
    # An accuracy gate whose paired CI spans its budget and 0 is inconclusive. Strict (release) profiles block
    # on it; by default it warns, and the verdict says how many images would decide it.
    strict: bool = False


class DeviceProfile(_Strict):
    name: str
    description: str
    hardware: Hardware
    backend: Backend
    precision: Precision
    runtime: Runtime
    quantization: Quantization = Quantization()
    budgets: Budgets

    def check_consistency(self, where: str) -> None:
        """Cross-field rules the field types cannot express."""
        if self.backend is Backend.tensorrt and self.runtime.tensorrt is None:
            raise ProfileError(f"{where}: backend 'tensorrt' needs a [runtime.tensorrt] table")
        if self.backend is not Backend.tensorrt and self.runtime.tensorrt is not None:
            raise ProfileError(f"{where}: runtime.tensorrt is only allowed with backend 'tensorrt'")
        if self.backend is not Backend.openvino and self.runtime.openvino is not None:
            raise ProfileError(f"{where}: runtime.openvino is only allowed with backend 'openvino'")


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
    """Load a profile by name (searched in the profile folders) or by a path to a .toml file."""
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
