"""The profile stage's body, run in a spawned process by the build (pipeline/flow.py): a process that holds
only the runtime and the model measures the memory a device would see. Arguments are plain data (paths, the
profile's JSON, the spec and samples), so nothing of the build process crosses over."""

from __future__ import annotations

from pathlib import Path


def profile_compiled(compiled_dir: str, profile_json: str, spec, samples: list, export_onnx: str, threads: int,
                     min_iters: int, min_duration_s: float) -> dict:
    from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
    from edgeus.backends.openvino.runner import OpenVINORunner
    from edgeus.backends.registry import open_runner, throughput_streams
    from edgeus.contracts.profiles import Backend, DeviceProfile
    from edgeus.stages.profile import compare_speed, profile_model
    from edgeus.util.device_identity import detect_identity

    profile = DeviceProfile.model_validate_json(profile_json)
    folder = Path(compiled_dir)
    model_files = [p for p in folder.iterdir() if p.suffix in (".xml", ".bin", ".onnx")]
    streams = throughput_streams(threads)
    perf = profile_model(lambda: open_runner(folder, profile, threads), spec, samples, model_files=model_files,
                         batch_sizes=profile.runtime.batch_sizes, threads=threads, min_iters=min_iters,
                         min_duration_s=min_duration_s, streams=streams,
                         make_throughput_runner=lambda: open_runner(folder, profile, threads, streams=streams))
    perf.device = detect_identity()  # what measured it: a farm device's own identity (farm/), else this machine
    if profile.plan != "fp32":
        # A plan that is slower than its fp32 original must not ship silently.
        if profile.backend is Backend.openvino:
            fp32 = lambda: OpenVINORunner(export_onnx, threads=threads, inference_precision="f32", name="openvino-fp32")  # noqa: E731
        else:
            fp32 = lambda: OnnxRuntimeRunner(export_onnx, threads=threads, name="onnxruntime-fp32")  # noqa: E731
        speed = compare_speed(fp32, lambda: open_runner(folder, profile, threads), spec)
        perf.settings["speed_vs_fp32"] = speed
        if speed["speedup"] < 1.0:
            perf.warnings.append(
                f"plan {profile.plan} is slower than fp32 on this machine: {speed['candidate_ms']:.1f} ms vs "
                f"{speed['baseline_ms']:.1f} ms ({speed['baseline']}); it brings no speed here"
            )
    return perf.to_dict()
