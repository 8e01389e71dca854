"""Open the right Runner for a model artefact: a file (.onnx, .xml, .engine) or a compile/quantize folder."""

from __future__ import annotations

from pathlib import Path

from edgeus.backends.base import Runner, throughput_streams  # noqa: F401 -- re-exported
from edgeus.backends.factory import SUFFIX_BACKEND, open_model
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
    if path.is_dir() and path.suffix not in SUFFIX_BACKEND:  # a compile folder (an .mlpackage is a model)
        record = ModelRecord.read(path, BackendError)
        settings, path = record.settings, record.model
    if not path.exists():
        raise BackendError(f"{path}: model not found")
    backend = SUFFIX_BACKEND.get(path.suffix)
    if backend is None:
        raise BackendError(f"{path}: unknown model format {path.suffix!r} (expected {', '.join(SUFFIX_BACKEND)})")
    if profile is not None:  # what the compile record does not say, the profile does
        ov = profile.runtime.openvino
        defaults = {"threads": profile.runtime.threads}
        if ov is not None:
            defaults.update(streams=ov.num_streams, hint=ov.performance_hint, inference_precision=ov.inference_precision)
        settings = {**defaults, **{k: v for k, v in settings.items() if v}}
    cache = path.parent / settings["cache_dir"] if settings.get("cache_dir") else None
    return open_model(path, backend, settings, threads=threads, streams=streams, cache_dir=cache)


def open_runnable(model: str, checkpoint: str | None, profile: DeviceProfile | None, threads: int | None):
    """(runner, spec or None) for a model given on a command line: a file/folder opens its backend runner,
    anything else is a torch model name or ``pkg.module:factory`` (its spec comes back with it)."""
    if Path(model).exists():
        return open_runner(model, profile, threads), None
    from edgeus.backends.torch import TorchRunner
    from edgeus.models import load_model

    loaded = load_model(model, checkpoint)
    return TorchRunner(loaded.module, loaded.spec, threads=threads, name=f"torch:{loaded.name}"), loaded.spec
