"""Stage 3, compile: turn a (quantized) model into what the device loads fastest.

* OpenVINO: the IR plus a compiled-model cache (CACHE_DIR), so a device's first load skips compilation;
  cold-start time is measured with and without the cache.
* ONNX Runtime: the graph optimised at the portable (extended) level and saved, so the device skips the
  optimisation passes; the `all` level would bake x86 layouts into a model meant for ARM. Saved, and run
  later, with the target's session (backends/onnxruntime/target.py): for ARM, no x86-only rewrites.
* TensorRT: engines are GPU-specific; see the TensorRT backend (engine build on the target).

The output folder holds the model, ``compile.json`` (settings, toolchain versions, what really ran) and the
``quantize.json`` record it came from.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeus.contracts.profiles import Backend, DeviceProfile
from edgeus.contracts.spec import ModelSpec
from edgeus.contracts.stage_records import ModelRecord
from edgeus.errors import CompileError, OutputExistsError, first_line
from edgeus.stages.model_inputs import check_inputs_match
from edgeus.util.atomic import atomic_dir
from edgeus.util.toolchain import toolchain_versions


@dataclass
class CompileResult:
    path: str  # the model's file name inside the output folder (records hold no machine paths)
    backend: str
    profile: str
    settings: dict
    toolchain: dict
    notes: list[str] = field(default_factory=list)
    cold_start_s: dict = field(default_factory=dict)
    quantize: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_model_file(path: Path) -> tuple[Path, dict | None]:
    """A model file, or a quantize/compile output folder (its record names the model)."""
    if path.is_dir():
        record = ModelRecord.read(path, CompileError)
        return record.model, record.quantize
    if not path.is_file():
        raise CompileError(f"{path}: model not found")
    return path, None


def _copy_model(src: Path, dst_dir: Path) -> Path:
    shutil.copyfile(src, dst_dir / src.name)
    if src.suffix == ".xml":
        shutil.copyfile(src.with_suffix(".bin"), dst_dir / src.with_suffix(".bin").name)
    return dst_dir / src.name


def _compile_openvino(model: Path, profile: DeviceProfile, out: Path, threads: int | None) -> tuple[str, dict, list, dict]:
    from edgeus.backends.openvino.runner import OpenVINORunner

    if model.suffix not in (".xml", ".onnx"):
        raise CompileError(f"{model}: OpenVINO profiles take an IR (.xml) or ONNX model")
    target = _copy_model(model, out)
    ov_settings = profile.runtime.openvino
    kwargs = dict(threads=threads or profile.runtime.threads, streams=ov_settings.num_streams if ov_settings else 1,
                  hint=ov_settings.performance_hint if ov_settings else "LATENCY",
                  inference_precision=ov_settings.inference_precision if ov_settings else "f32")
    with OpenVINORunner(target, cache_dir=out / "cache", **kwargs) as first:
        cold = first.load_time_s
        actual = first.actual_precision
    with OpenVINORunner(target, cache_dir=out / "cache", **kwargs) as cached:
        warm = cached.load_time_s
    settings = {**kwargs, "device": "CPU", "cache_dir": "cache", "actual_inference_precision": actual}
    notes = [f"OpenVINO ran with inference precision {actual}"]
    return target.name, settings, notes, {"without_cache": round(cold, 3), "with_cache": round(warm, 3)}


def _compile_onnxruntime(model: Path, profile: DeviceProfile, out: Path, threads: int | None) -> tuple[str, dict, list, dict]:
    from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner, import_onnxruntime
    from edgeus.backends.onnxruntime.target import target_session

    if model.suffix != ".onnx":
        raise CompileError(f"{model}: ONNX Runtime profiles take an .onnx model")
    ort = import_onnxruntime()
    target = out / (model.stem + ".opt.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.log_severity_level = 3
    session = target_session(profile.hardware.arch)
    for key, value in session.get("config", {}).items():
        options.add_session_config_entry(key, value)
    start = time.perf_counter()
    try:
        ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"],
                             disabled_optimizers=session.get("disabled_optimizers", []))
    except Exception as exc:
        raise CompileError(f"{model}: ONNX Runtime cannot load the model: {first_line(exc, 300)}") from None
    cold = time.perf_counter() - start
    with OnnxRuntimeRunner(target, threads=threads or profile.runtime.threads, session=session) as runner:
        warm = runner.load_time_s
    settings = {"threads": threads or profile.runtime.threads, "graph_optimization": "extended (saved)",
                "execution_provider": "CPUExecutionProvider", **({"session": session} if session else {})}
    return target.name, settings, [], {"unoptimized": round(cold, 3), "optimized": round(warm, 3)}


def _compile_executorch(model: Path, profile: DeviceProfile, out: Path, threads: int | None) -> tuple[str, dict, list, dict]:
    from edgeus.backends.executorch.lower import DELEGATION, IO
    from edgeus.backends.executorch.runner import ExecuTorchRunner

    if model.suffix != ".pte":
        raise CompileError(f"{model}: ExecuTorch profiles take a .pte program (lowered from the torch model)")
    # the program is final as lowered (XNNPACK packs its weights at load, on the device): copied with the
    # input/output contract and the delegation record it travels with
    target = _copy_model(model, out)
    for companion in (IO, DELEGATION):
        if (model.parent / companion).is_file():
            shutil.copyfile(model.parent / companion, out / companion)
    threads = threads or profile.runtime.threads
    with ExecuTorchRunner(target, threads=threads) as runner:
        cold = runner.load_time_s
    settings = {"threads": threads, "delegate": "XNNPACK"}
    return target.name, settings, [], {"load": round(cold, 3)}


# One compiler per backend. TensorRT has none here: its engine is built for one GPU and TensorRT version, on it.
COMPILERS = {Backend.openvino: _compile_openvino, Backend.onnxruntime: _compile_onnxruntime,
             Backend.executorch: _compile_executorch}


def compile_model(model_path: str | Path, profile: DeviceProfile, out: str | Path, *, threads: int | None = None,
                  force: bool = False, spec: ModelSpec | None = None) -> CompileResult:
    """Compile a quantize folder (or an ONNX/IR file) for ``profile``'s runtime into ``out`` with its runtime
    settings (threads, hints, the target's session options); writes ``compile.json``. ``spec``: the inputs the
    bundle will feed; a model that does not take them is refused before any work (the build's own models come
    from its export of that spec and pass None).

    Example::

        import edgeus
        edgeus.compile("q", edgeus.load_profile("cpu-arm-handheld"), "c", threads=2)   # c/compile.json
    """
    model_path, out = Path(model_path), Path(out)
    model, quantize_record = resolve_model_file(model_path)
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")  # before any work
    if spec is not None:
        check_inputs_match(model, spec, CompileError)
    if profile.backend is Backend.coreml:
        raise CompileError(f"profile {profile.name}: a Core ML package is compiled by Core ML, on macOS; "
                           f"'edgeus build --target {profile.name}' converts it here and ships it pending on a Mac")
    if profile.backend not in COMPILERS:
        raise CompileError(
            f"profile {profile.name}: TensorRT engines are built for one GPU and TensorRT version; "
            "use 'edgeus build' (deferred engine build) or 'edgeus finalize' on the target"
        )
    with atomic_dir(out, replace=force) as tmp:
        compiler = COMPILERS[profile.backend]
        name, settings, notes, cold = compiler(model, profile, tmp, threads)
        result = CompileResult(name, profile.backend.value, profile.name, settings, toolchain_versions(),
                               notes, cold, quantize_record)
        (tmp / "compile.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    return result
