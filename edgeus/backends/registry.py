"""Open the right Runner for a model artefact: a file (.onnx, .xml, .engine) or a compile/quantize folder."""

from __future__ import annotations

from pathlib import Path

from edgeus.backends.base import Runner, throughput_streams  # noqa: F401 -- re-exported
from edgeus.contracts.profiles import DeviceProfile
from edgeus.contracts.stage_records import ModelRecord
from edgeus.errors import BackendError


def open_runner(path: str | Path, profile: DeviceProfile | None = None, threads: int | None = None,
                streams: int | None = None) -> Runner:
    """``streams``: None runs the artefact as recorded (the profile's latency settings); N > 1 opens a
    throughput engine that runs N inferences at once (OpenVINO's THROUGHPUT hint with N streams sharing the
    threads; ONNX Runtime with threads / N per call, concurrency coming from the callers)."""
    path = Path(path)
    settings: dict = {}
    if path.is_dir():
        record = ModelRecord.read(path, BackendError)
        settings, path = record.settings, record.model
    if not path.exists():
        raise BackendError(f"{path}: model not found")
    threads = threads or settings.get("threads") or (profile.runtime.threads if profile else None)
    if path.suffix == ".onnx":
        from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, threads=max(1, threads // streams) if threads and streams else threads)
    if path.suffix == ".xml":
        from edgeus.backends.openvino.runner import OpenVINORunner

        ov = profile.runtime.openvino if profile else None
        cache = path.parent / settings["cache_dir"] if settings.get("cache_dir") else None
        return OpenVINORunner(
            path, threads=threads, streams=streams or settings.get("streams") or (ov.num_streams if ov else 1),
            hint="THROUGHPUT" if streams and streams > 1 else settings.get("hint") or (ov.performance_hint if ov else "LATENCY"),
            inference_precision=settings.get("inference_precision") or (ov.inference_precision if ov else "f32"),
            cache_dir=cache,
        )
    if path.suffix == ".engine":
        from edgeus.backends.tensorrt.runner import TensorRTRunner

        return TensorRTRunner(path)
    raise BackendError(f"{path}: unknown model format {path.suffix!r} (expected .onnx, .xml or .engine)")


def open_runnable(model: str, checkpoint: str | None, profile: DeviceProfile | None, threads: int | None):
    """(runner, spec or None) for a model given on a command line: a file/folder opens its backend runner,
    anything else is a torch model name or ``pkg.module:factory`` (its spec comes back with it)."""
    if Path(model).exists():
        return open_runner(model, profile, threads), None
    from edgeus.backends.torch import TorchRunner
    from edgeus.models import load_model

    loaded = load_model(model, checkpoint)
    return TorchRunner(loaded.module, loaded.spec, threads=threads, name=f"torch:{loaded.name}"), loaded.spec
