"""Build a TensorRT engine from an ONNX file with settings from a profile (real TensorRT 10 Python API).

Explicit quantization: a QDQ ONNX (edgeus/backends/tensorrt/qdq.py) carries its own INT8 scales, so no
calibrator runs here. A timing cache is loaded before and saved after the build, so a rebuild on the same
device (another precision, a new checkpoint) skips most kernel timing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edgeus.backends.tensorrt.settings import SUPPORTED_TENSORRT_MAJOR, BuilderSettings
from edgeus.errors import BackendError, EngineBuildError


def import_tensorrt():
    try:
        import tensorrt
    except ImportError:
        raise BackendError("TensorRT is not installed here: it ships with JetPack and NVIDIA's TensorRT containers "
                           "(see Dockerfile.jetson), or pip install 'edgeus[tensorrt]' on an NVIDIA machine") from None
    major = int(tensorrt.__version__.split(".")[0])
    if major != SUPPORTED_TENSORRT_MAJOR:
        raise BackendError(f"TensorRT {tensorrt.__version__} found; edgeus builds with TensorRT "
                           f"{SUPPORTED_TENSORRT_MAJOR}.x (JetPack 6 / current NGC images)")
    return tensorrt


@dataclass
class BuildRecord:
    engine: str
    seconds: float
    engine_bytes: int
    timing_cache_reused: bool
    dla_cores_available: int
    warnings: list[str]


class _Logger:
    """A TensorRT logger that keeps warnings and errors for the build record instead of printing them."""

    def __new__(cls, trt):
        class Logger(trt.ILogger):
            def __init__(self) -> None:
                trt.ILogger.__init__(self)
                self.messages: list[tuple[object, str]] = []

            def log(self, severity, msg) -> None:
                if severity <= trt.ILogger.Severity.WARNING:
                    self.messages.append((severity, msg))

        return Logger()


def configure(trt, builder, network, settings: BuilderSettings, timing_cache: bytes | None):
    """An IBuilderConfig carrying every setting; returns (config, cache reused?)."""
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
    config.builder_optimization_level = settings.builder_optimization_level
    if settings.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if settings.int8:
        config.set_flag(trt.BuilderFlag.INT8)
    if settings.dla_core is not None:
        if builder.num_DLA_cores <= settings.dla_core:
            raise EngineBuildError(f"the recipe asks for DLA core {settings.dla_core}; this device has "
                                   f"{builder.num_DLA_cores} DLA core(s)")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = settings.dla_core
        if settings.gpu_fallback:
            config.set_flag(trt.BuilderFlag.GPU_FALLBACK)
    if settings.hardware_compatibility != "none":
        level = {"ampere_plus": "AMPERE_PLUS", "same_compute_capability": "SAME_COMPUTE_CAPABILITY"}
        name = level[settings.hardware_compatibility]
        if not hasattr(trt.HardwareCompatibilityLevel, name):
            raise EngineBuildError(f"TensorRT {trt.__version__} has no hardware compatibility level {name}")
        config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, name)
    profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        name = network.get_input(i).name
        if name not in settings.shapes.min:
            raise EngineBuildError(f"the ONNX input {name!r} has no shapes in the recipe")
        profile.set_shape(name, settings.shapes.min[name], settings.shapes.opt[name], settings.shapes.max[name])
    config.add_optimization_profile(profile)
    cache = config.create_timing_cache(timing_cache or b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    return config, bool(timing_cache)


def build_engine(onnx_path: Path, settings: BuilderSettings, engine_path: Path, timing_cache_path: Path) -> BuildRecord:
    trt = import_tensorrt()
    logger = _Logger(trt)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineBuildError(f"{onnx_path}: TensorRT's ONNX parser failed: {errors[:400]}")
    cached = timing_cache_path.read_bytes() if timing_cache_path.is_file() else None
    config, reused = configure(trt, builder, network, settings, cached)
    start = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - start
    if plan is None:
        errors = [m for s, m in logger.messages if s <= trt.ILogger.Severity.ERROR]
        raise EngineBuildError(f"TensorRT could not build the engine: {(errors or ['no error logged'])[-1][:400]}")
    engine_path.write_bytes(bytes(plan))
    timing_cache_path.parent.mkdir(parents=True, exist_ok=True)
    timing_cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    warnings = [m for s, m in logger.messages if s == trt.ILogger.Severity.WARNING][:20]
    return BuildRecord(engine_path.name, seconds, engine_path.stat().st_size, reused, builder.num_DLA_cores, warnings)
