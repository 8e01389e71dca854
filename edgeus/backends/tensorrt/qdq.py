"""The QDQ ONNX TensorRT's explicit quantization consumes: symmetric INT8 activations and weights.

TensorRT fuses a DequantizeLinear -> Conv/MatMul/Gemm pattern into an INT8 kernel when the Q/DQ pairs are
symmetric (zero point 0, INT8), activation scales per tensor and weight scales per output channel. Only
those GEMM-like layers get Q/DQ here: quantizing softmax, LayerNorm or residual adds gains nothing on
TensorRT and costs accuracy. ``check_qdq_form`` verifies the result before it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeus.backends.onnxruntime.quantize import GEMM_OPS, run_quantize_static
from edgeus.contracts.spec import ModelSpec
from edgeus.data.calibration import CalibrationPlan
from edgeus.errors import QuantizeError


@dataclass
class QDQFormReport:
    quantize_nodes: int = 0
    dequantize_nodes: int = 0
    quantized_layers: int = 0
    unquantized_layers: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def _const(graph, name: str) -> np.ndarray | None:
    from onnx import numpy_helper

    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return numpy_helper.to_array(node.attribute[0].t)
    return None


def check_qdq_form(model) -> QDQFormReport:
    """What TensorRT requires of a QDQ graph, checked node by node."""
    import onnx

    if isinstance(model, (str, Path)):
        model = onnx.load(str(model))
    graph = model.graph
    report = QDQFormReport()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        report.violations.append(f"opset {opset} < 13: per-channel Q/DQ needs opset 13")
    producers = {o: n for n in graph.node for o in n.output}
    initializers = {i.name for i in graph.initializer}
    for node in graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        report.quantize_nodes += node.op_type == "QuantizeLinear"
        report.dequantize_nodes += node.op_type == "DequantizeLinear"
        scale = _const(graph, node.input[1])
        zero = _const(graph, node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if scale is None or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            report.violations.append(f"{node.name}: scale missing, non-finite or not positive")
        if zero is None or zero.dtype != np.int8 or np.any(zero != 0):
            report.violations.append(f"{node.name}: zero point must be INT8 0 (symmetric), got "
                                     f"{None if zero is None else (zero.dtype, zero.ravel()[:2].tolist())}")
        weight_input = node.op_type == "DequantizeLinear" and node.input[0] in initializers
        if not weight_input and scale is not None and scale.size != 1:
            report.violations.append(f"{node.name}: activation scale must be per tensor, has {scale.size} values")
    for node in graph.node:
        if node.op_type not in GEMM_OPS:
            continue
        sources = [producers.get(i) for i in node.input[:2]]
        if all(s is not None and s.op_type == "DequantizeLinear" for s in sources):
            report.quantized_layers += 1
            weight_dq = sources[1]
            scale = _const(graph, weight_dq.input[1])
            if scale is not None and scale.size > 1:
                axis = next((a.i for a in weight_dq.attribute if a.name == "axis"), 1)
                weight = _const(graph, weight_dq.input[0])
                expected = 0 if node.op_type == "Conv" else (weight.ndim - 1 if weight is not None else 1)
                if node.op_type == "Gemm":
                    trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
                    expected = 0 if trans_b else 1
                if axis != expected:
                    report.violations.append(f"{node.name}: weight scale axis {axis}, TensorRT needs the output "
                                             f"channel axis {expected}")
        else:
            report.unquantized_layers.append(node.name)
    return report


def quantize_int8(onnx_path: Path, spec: ModelSpec, out_dir: Path, plan: CalibrationPlan,
                  ignored: dict) -> tuple[str, str, list[str]]:
    target = out_dir / "model.qdq.onnx"
    notes = run_quantize_static(onnx_path, target, plan, spec, symmetric=True, method="minmax", ignored=ignored)
    report = check_qdq_form(target)
    if not report.ok:
        raise QuantizeError(f"QDQ graph is not in TensorRT form: {report.violations[0]}"
                            + (f" (+{len(report.violations) - 1} more)" if len(report.violations) > 1 else ""))
    notes.append(f"TensorRT QDQ form checked: {report.quantized_layers} INT8 layers, "
                 f"{len(report.unquantized_layers)} kept in float")
    return "model.qdq.onnx", "symmetric S8/S8 QDQ (per-tensor activations, per-channel weights) for TensorRT", notes
