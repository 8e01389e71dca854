"""The profile stage's body, run in a spawned process (pipeline/stages.profile_stage): a process that holds
only the runtime and the model measures the memory a device would see. Arguments are plain data (paths, the
profile's JSON, the spec and samples), so nothing of the build process crosses over; nothing here imports
torch or NNCF (stages/profile.BUILD_SIDE_MODULES are reported if they were loaded)."""

from __future__ import annotations

from pathlib import Path

from edgeus.backends.registry import open_runner, throughput_streams
from edgeus.contracts.profiles import DeviceProfile
from edgeus.pipeline.backend_entity import build_backend
from edgeus.stages.profile import compare_speed, profile_model
from edgeus.util.device_identity import detect_identity

MODEL_SUFFIXES = (".xml", ".bin", ".onnx", ".engine", ".pte")


def model_size_mb(folder: Path) -> float:
    """The model files' size in a compile folder (records and caches left out), MiB."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in MODEL_SUFFIXES) / 2**20


def profile_compiled(model_path: str, profile_json: str, spec, samples: list, baseline_onnx: str | None,
                     threads: int, min_iters: int, min_duration_s: float) -> dict:
    """``model_path``: a compile folder or an engine file. ``baseline_onnx``: the fp32 export this plan must
    be faster than on the same backend (None: no comparison, e.g. an engine measured on its GPU)."""
    profile = DeviceProfile.model_validate_json(profile_json)
    model = Path(model_path)
    if model.suffix == ".mlpackage":  # a Core ML model is a folder: its files
        model_files = [p for p in model.rglob("*") if p.is_file()]
    else:
        model_files = [p for p in model.iterdir() if p.suffix in MODEL_SUFFIXES] if model.is_dir() else [model]
    streams = throughput_streams(threads)
    perf = profile_model(lambda: open_runner(model, profile, threads), spec, samples, model_files=model_files,
                         batch_sizes=profile.runtime.batch_sizes, threads=threads, min_iters=min_iters,
                         min_duration_s=min_duration_s, streams=streams,
                         make_throughput_runner=lambda: open_runner(model, profile, threads, streams=streams))
    perf.device = detect_identity()  # what measured it: a farm device's own identity (farm/), else this machine
    if profile.plan != "fp32" and baseline_onnx is not None:
        # A plan that is slower than its fp32 original must not ship silently.
        backend = build_backend(profile)
        speed = compare_speed(lambda: backend.fp32_baseline(Path(baseline_onnx), threads, profile.hardware.arch),
                              lambda: open_runner(model, profile, threads), spec)
        perf.settings["speed_vs_fp32"] = speed
        if speed["speedup"] < 1.0:
            perf.warnings.append(
                f"plan {profile.plan} is slower than fp32 on this machine: {speed['candidate_ms']:.1f} ms vs "
                f"{speed['baseline_ms']:.1f} ms ({speed['baseline']}); it brings no speed here"
            )
    return perf.to_dict()
