"""Open the right Runner for a model artefact: a file (.onnx, .xml, .engine) or a compile/quantize folder."""

from __future__ import annotations

import json
from pathlib import Path

from edgeus.backends.base import Runner
from edgeus.contracts.profiles import DeviceProfile
from edgeus.errors import BackendError


def open_runner(path: str | Path, profile: DeviceProfile | None = None, threads: int | None = None) -> Runner:
    path = Path(path)
    settings: dict = {}
    if path.is_dir():
        record = path / "compile.json"
        if not record.is_file():
            record = path / "quantize.json"
        if not record.is_file():
            raise BackendError(f"{path}: not a model file nor a compile/quantize output folder")
        data = json.loads(record.read_text())
        settings = data.get("settings", {})
        path = path / Path(data["path"]).name
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
