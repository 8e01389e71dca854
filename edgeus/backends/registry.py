"""Open the right Runner for a model artefact: a file (.onnx, .xml, .engine) or a compile/quantize folder."""

from __future__ import annotations

from pathlib import Path

from edgeus.backends.base import Runner
from edgeus.contracts.profiles import DeviceProfile
from edgeus.contracts.stage_records import ModelRecord
from edgeus.errors import BackendError


def open_runner(path: str | Path, profile: DeviceProfile | None = None, threads: int | None = None) -> Runner:
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

        return OnnxRuntimeRunner(path, threads=threads)
    if path.suffix == ".xml":
        from edgeus.backends.openvino.runner import OpenVINORunner

        ov = profile.runtime.openvino if profile else None
        cache = path.parent / settings["cache_dir"] if settings.get("cache_dir") else None
        return OpenVINORunner(
            path, threads=threads, streams=settings.get("streams") or (ov.num_streams if ov else 1),
            hint=settings.get("hint") or (ov.performance_hint if ov else "LATENCY"),
            inference_precision=settings.get("inference_precision") or (ov.inference_precision if ov else "f32"),
            cache_dir=cache,
        )
    if path.suffix == ".engine":
        from edgeus.backends.tensorrt.runner import TensorRTRunner

        return TensorRTRunner(path)
    raise BackendError(f"{path}: unknown model format {path.suffix!r} (expected .onnx, .xml or .engine)")
