"""Dispatch from (backend, precision) to the quantizer, with atomic output and a JSON record."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeus.contracts.profiles import Backend, DeviceProfile, Precision, QuantizeOptions
from edgeus.contracts.spec import ModelSpec
from edgeus.data.calibration import CalibrationPlan
from edgeus.errors import OutputExistsError, QuantizeError
from edgeus.stages.model_inputs import check_inputs_match
from edgeus.util.atomic import atomic_dir
from edgeus.util.hashing import sha256_file
from edgeus.util.toolchain import toolchain_versions


@dataclass
class QuantizeResult:
    path: str                   # the model's file name inside the output folder (records hold no machine paths)
    backend: str
    precision: str
    method: str
    calibration: dict | None
    ignored_scope: dict
    notes: list[str] = field(default_factory=list)
    toolchain: dict = field(default_factory=dict)
    input_sha256: str = ""
    time_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _ignored(profile: DeviceProfile, options: QuantizeOptions, spec: ModelSpec) -> dict[str, list[str]]:
    q = profile.quantization
    return {"names": [*q.ignored_names, *options.ignored_names],
            "patterns": [*(spec.int8_float_patterns if q.spec_hints else []), *q.ignored_patterns,
                         *options.ignored_patterns],
            "types": [*q.ignored_types, *options.ignored_types]}


# Operations that carry INT8 after quantization: QDQ quantizers, QOperator kernels, OpenVINO's FakeQuantize
_QUANTIZED_ONNX_OPS = {"QuantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger",
                       "ConvInteger"}


def count_quantized(model_file: Path) -> int:
    """How many INT8 operations a quantized model holds (OpenVINO IR: FakeQuantize; ONNX: QDQ/integer ops)."""
    if model_file.suffix == ".xml":
        return model_file.read_text(encoding="utf-8", errors="replace").count('type="FakeQuantize"')
    import onnx

    model = onnx.load(str(model_file), load_external_data=False)
    return sum(node.op_type in _QUANTIZED_ONNX_OPS for node in model.graph.node)


def quantize(onnx_path: str | Path, profile: DeviceProfile, spec: ModelSpec, out: str | Path,
             plan: CalibrationPlan | None, options: QuantizeOptions = QuantizeOptions(),
             force: bool = False) -> QuantizeResult:
    """Quantize (or convert) the ONNX model for ``profile``'s backend into ``out``: NNCF for OpenVINO, ONNX
    Runtime's static QDQ, QDQ for TensorRT; ``plan`` is the calibration set (``edgeus.data.calibration
    .plan_for_profile``), needed for INT8. Writes ``quantize.json`` beside the model.

    Example::

        import edgeus
        profile = edgeus.load_profile("cpu-arm-handheld")
        spec = edgeus.load_model("uniusnet-small").spec
        plan = edgeus.calibration_plan("ph", spec, profile)           # ph/train, as a build picks
        edgeus.quantize("model.onnx", profile, spec, "q", plan)      # q/model.int8.onnx
    """
    # absolute: ONNX Runtime's tools run in a temporary working directory (they litter the current one)
    onnx_path, out = Path(onnx_path).absolute(), Path(out).absolute()
    if profile.backend not in QUANTIZERS:  # ExecuTorch, Core ML: they start from the torch model (stages/lower.py)
        raise QuantizeError(f"profile {profile.name}: {profile.backend.value} models are lowered from the torch model, "
                            f"not quantized from an ONNX file: use 'edgeus build --target {profile.name}'")
    if not onnx_path.is_file():
        raise QuantizeError(f"{onnx_path}: ONNX model not found")
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    precision = options.precision or profile.precision
    needs_data = precision in (Precision.int8, Precision.mixed)
    if needs_data and (plan is None or len(plan) == 0):
        raise QuantizeError("INT8 quantization needs calibration data, and the calibration set is empty")
    if profile.backend is Backend.onnxruntime and precision is Precision.fp16:
        raise QuantizeError(
            f"profile {profile.name}: precision fp16 is not supported by the ONNX Runtime CPU backend "
            "(no fp16 CPU kernels); use int8 or fp32, or an OpenVINO/TensorRT profile"
        )
    # a model that does not take the spec's inputs gets no calibration at all
    check_inputs_match(onnx_path, spec, QuantizeError)
    ignored = _ignored(profile, options, spec)
    start = time.perf_counter()
    with atomic_dir(out, replace=force) as tmp:
        model_name, method, notes = _run(onnx_path, profile, spec, tmp, plan, options, precision, ignored)
        if needs_data:
            quantized = count_quantized(tmp / model_name)
            if quantized == 0:
                raise QuantizeError(f"{onnx_path.name}: INT8 quantization changed nothing (0 quantized operations); "
                                    "check the ignored scope and that the model has Conv/MatMul/Gemm layers")
            notes = [*notes, f"{quantized} quantized operations"]
        result = QuantizeResult(
            path=model_name, backend=profile.backend.value, precision=precision.value, method=method,
            calibration=plan.record() if (plan is not None and needs_data) else None, ignored_scope=ignored,
            notes=notes, toolchain=toolchain_versions(), input_sha256=sha256_file(onnx_path),
            time_s=round(time.perf_counter() - start, 2),
        )
        (tmp / "quantize.json").write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    return result


def _run(onnx_path: Path, profile: DeviceProfile, spec: ModelSpec, tmp: Path, plan: CalibrationPlan | None,
         options: QuantizeOptions, precision: Precision, ignored: dict) -> tuple[str, str, list[str]]:
    if precision is Precision.mixed:  # INT8 with the output heads in float
        from edgeus.stages.quantize.heads import output_head_nodes

        ignored = {**ignored, "names": [*ignored["names"], *output_head_nodes(onnx_path, spec)]}
    return QUANTIZERS[profile.backend](onnx_path, profile, spec, tmp, plan, options, precision, ignored)


# One quantizer per backend, looked up by the profile's backend; each imports its SDK only when it runs.
def _openvino(onnx_path: Path, profile: DeviceProfile, spec: ModelSpec, tmp: Path, plan: CalibrationPlan | None,
              options: QuantizeOptions, precision: Precision, ignored: dict) -> tuple[str, str, list[str]]:
    from edgeus.backends.openvino import quantize as openvino_nncf

    if precision in (Precision.int8, Precision.mixed):
        return openvino_nncf.quantize_int8(onnx_path, spec, tmp, plan, ignored, options)
    return openvino_nncf.convert(onnx_path, tmp, fp16=precision is Precision.fp16)


def _onnxruntime(onnx_path: Path, profile: DeviceProfile, spec: ModelSpec, tmp: Path, plan: CalibrationPlan | None,
                 options: QuantizeOptions, precision: Precision, ignored: dict) -> tuple[str, str, list[str]]:
    from edgeus.backends.onnxruntime import quantize as ort_static

    if precision in (Precision.int8, Precision.mixed):
        method = options.ort_calibration_method or profile.quantization.ort_calibration_method
        return ort_static.quantize_int8(onnx_path, spec, tmp, plan, ignored, method, options.reduce_range)
    shutil.copyfile(onnx_path, tmp / "model.onnx")
    return "model.onnx", "fp32 (unchanged ONNX)", []


def _tensorrt(onnx_path: Path, profile: DeviceProfile, spec: ModelSpec, tmp: Path, plan: CalibrationPlan | None,
              options: QuantizeOptions, precision: Precision, ignored: dict) -> tuple[str, str, list[str]]:
    from edgeus.backends.tensorrt import qdq as tensorrt_qdq

    if precision in (Precision.int8, Precision.mixed):
        return tensorrt_qdq.quantize_int8(onnx_path, spec, tmp, plan, ignored)
    shutil.copyfile(onnx_path, tmp / "model.onnx")
    note = "TensorRT builds FP16 kernels from this fp32 ONNX (BuilderFlag.FP16)" if precision is Precision.fp16 else ""
    return "model.onnx", f"{precision.value} (fp32 ONNX for the TensorRT builder)", [note] if note else []


QUANTIZERS = {Backend.openvino: _openvino, Backend.onnxruntime: _onnxruntime, Backend.tensorrt: _tensorrt}
