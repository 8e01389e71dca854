"""Settings -> runner: the one place a model file and its recorded runtime settings become a Runner, for the
build (backends/registry.py, from a compile folder and a profile) and the vendor runtime (runtime/bundle.py,
from a bundle's manifest) alike. Pydantic-free and torch-free: the vendor runtime imports it on the scanner.

One opener per backend, looked up by name: each SDK is imported only when its backend is opened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from edgeus.backends.base import Runner
from edgeus.errors import BackendError

SUFFIX_BACKEND = {".onnx": "onnxruntime", ".xml": "openvino", ".engine": "tensorrt", ".pte": "executorch",
                  ".mlpackage": "coreml"}


def _open_onnxruntime(model: Path, settings: dict, threads: int | None, streams: int | None, *,
                      cache_dir: Path | None = None, **names) -> Runner:
    from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner

    # a throughput engine: the threads are shared by ``streams`` concurrent callers
    per_call = max(1, threads // streams) if threads and streams else threads
    return OnnxRuntimeRunner(model, threads=per_call, session=settings.get("session"), **names)


def _open_openvino(model: Path, settings: dict, threads: int | None, streams: int | None, *,
                   cache_dir: Path | None = None, **names) -> Runner:
    from edgeus.backends.openvino.runner import OpenVINORunner

    throughput = bool(streams and streams > 1)
    return OpenVINORunner(model, threads=threads, streams=streams if throughput else settings.get("streams", 1),
                          hint="THROUGHPUT" if throughput else settings.get("hint", "LATENCY"),
                          inference_precision=settings.get("inference_precision", "f32"), cache_dir=cache_dir,
                          **names)


def _open_tensorrt(model: Path, settings: dict, threads: int | None, streams: int | None, *,
                   cache_dir: Path | None = None, **names) -> Runner:
    from edgeus.backends.tensorrt.runner import TensorRTRunner

    return TensorRTRunner(model, **names)


def _open_executorch(model: Path, settings: dict, threads: int | None, streams: int | None, *,
                     cache_dir: Path | None = None, **names) -> Runner:
    from edgeus.backends.executorch.runner import ExecuTorchRunner

    return ExecuTorchRunner(model, threads=threads, **names)


def _open_coreml(model: Path, settings: dict, threads: int | None, streams: int | None, *,
                 cache_dir: Path | None = None, **names) -> Runner:
    from edgeus.backends.coreml.runner import CoreMLRunner

    return CoreMLRunner(model, compute_units=settings.get("compute_units", "ALL"), **names)


OPENERS: dict[str, Callable[..., Runner]] = {"onnxruntime": _open_onnxruntime, "openvino": _open_openvino,
                                             "tensorrt": _open_tensorrt, "executorch": _open_executorch,
                                             "coreml": _open_coreml}


def open_model(model: Path, backend: str, settings: dict, *, threads: int | None = None, streams: int | None = None,
               name: str | None = None, cache_dir: Path | None = None) -> Runner:
    """``settings``: the runtime settings recorded at compile time (threads, streams, hint, inference
    precision). ``streams`` N > 1 opens a throughput engine (N inferences at once) instead of the recorded
    latency one; None or 1 runs it as recorded. ``name``: how reports call it (the runner's default otherwise)."""
    if backend not in OPENERS:
        raise BackendError(f"{model}: unknown backend {backend!r} (expected {', '.join(OPENERS)})")
    names = {"name": name} if name else {}  # a compiled-model cache only where the runtime keeps one (OpenVINO)
    return OPENERS[backend](model, settings, threads or settings.get("threads"), streams, cache_dir=cache_dir, **names)
