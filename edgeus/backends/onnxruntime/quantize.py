"""ONNX Runtime static INT8 quantization (QDQ): pre-processing pass, per-channel weights, selectable
calibration, excluded nodes and op types."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from edgeus.contracts.spec import ModelSpec
from edgeus.data.calibration import CalibrationPlan, FeedsReader
from edgeus.errors import QuantizeError, first_line
from edgeus.util.workdir import inside

METHODS = ("minmax", "entropy", "percentile")
# The layers INT8 speeds up. ORT's QDQ registry would also quantize LayerNormalization, Transpose, Reshape...;
# quantizing LayerNorm cost the Swin model 0.005 of mask Dice (benchmarks/int8_fidelity.py) and buys no speed,
# the same reason NNCF's transformer mode and TensorRT's explicit quantization leave it in float.
GEMM_OPS = ("Conv", "MatMul", "Gemm")


def preprocess_model(onnx_path: Path, out: Path) -> list[str]:
    """ORT's quantization pre-processing (shape inference + graph optimisation). Symbolic shape inference
    fails on some graphs; then it is retried without it, and the note says so."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(onnx_path), str(out))
        return []
    except Exception as exc:  # symbolic shape inference raises assorted errors on unusual graphs
        quant_pre_process(str(onnx_path), str(out), skip_symbolic_shape=True)
        return [f"quantization pre-processing ran without symbolic shape inference ({exc.__class__.__name__})"]


def quantizable_op_types(excluded: list[str]) -> list[str]:
    unknown = [t for t in excluded if t not in GEMM_OPS]
    if unknown:
        raise QuantizeError(f"cannot exclude op type(s) {', '.join(unknown)}: edgeus quantizes only "
                            f"{', '.join(GEMM_OPS)}; everything else stays in float anyway")
    kept = [t for t in GEMM_OPS if t not in excluded]
    if not kept:  # ONNX Runtime reads an empty list as "every op type": the opposite of what was asked
        raise QuantizeError(f"excluding {', '.join(GEMM_OPS)} leaves nothing to quantize; use precision fp32 instead")
    return kept


def matching_nodes(onnx_path: Path, names: list[str], patterns: list[str]) -> list[str]:
    import re

    import onnx

    graph_names = [n.name for n in onnx.load(str(onnx_path), load_external_data=False).graph.node]
    missing = [n for n in names if n not in graph_names]
    if missing:
        raise QuantizeError(f"ignored node name(s) not in the graph: {', '.join(missing[:3])}")
    chosen = set(names)
    for pattern in patterns:
        regex = re.compile(pattern)
        hits = [n for n in graph_names if regex.search(n)]
        if not hits:
            raise QuantizeError(f"ignored pattern {pattern!r} matches no node of the graph")
        chosen.update(hits)
    return sorted(chosen)


def run_quantize_static(onnx_path: Path, out_model: Path, plan: CalibrationPlan, spec: ModelSpec, *,
                        symmetric: bool, method: str, ignored: dict, reduce_range: bool = False,
                        weights_only_matmuls: bool = False) -> list[str]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in METHODS:
        raise QuantizeError(f"unknown calibration method {method!r}; valid: {', '.join(METHODS)}")
    with tempfile.TemporaryDirectory(prefix="edgeus-ort-q-") as scratch, inside(Path(scratch)):
        pre = Path(scratch) / "pre.onnx"
        notes = preprocess_model(onnx_path, pre)
        excluded = matching_nodes(pre, ignored["names"], ignored["patterns"])
        extra = {"ActivationSymmetric": symmetric, "WeightSymmetric": True}
        if weights_only_matmuls:
            # MatMuls of two activations (attention's Q.K^T and A.V) stay float: on the CPU provider each costs
            # a Quantize/Dequantize pair per call and gains little (benchmarks/results/plans.md, ORT profiler)
            extra["MatMulConstBOnly"] = True
        if symmetric:
            extra["QuantizeBias"] = False  # TensorRT takes float biases and fuses them into the INT8 kernel
        if method == "percentile":
            extra["CalibPercentile"] = 99.99
        # ORT logs a warning per LayerNorm weight it declines to quantize per channel: noise, not news.
        root_logger = logging.getLogger()
        previous_level = root_logger.level
        root_logger.setLevel(logging.ERROR)
        try:
            quantize_static(
                str(pre), str(out_model), FeedsReader(plan, spec), quant_format=QuantFormat.QDQ,
                op_types_to_quantize=quantizable_op_types(ignored["types"]), per_channel=True,
                reduce_range=reduce_range, activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                weight_type=QuantType.QInt8, nodes_to_exclude=excluded,
                calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                                  "percentile": CalibrationMethod.Percentile}[method],
                extra_options=extra,
            )
        except QuantizeError:
            raise
        except Exception as exc:
            raise QuantizeError(f"ONNX Runtime quantization failed: {exc.__class__.__name__}: "
                                f"{first_line(exc, 200)}") from None
        finally:
            root_logger.setLevel(previous_level)
    if excluded:
        notes.append(f"{len(excluded)} node(s) kept in fp32")
    return notes


def quantize_int8(onnx_path: Path, spec: ModelSpec, out_dir: Path, plan: CalibrationPlan, ignored: dict,
                  method: str, reduce_range: bool) -> tuple[str, str, list[str]]:
    notes = run_quantize_static(onnx_path, out_dir / "model.int8.onnx", plan, spec, symmetric=False,
                                method=method, ignored=ignored, reduce_range=reduce_range, weights_only_matmuls=True)
    return "model.int8.onnx", (f"ORT static QDQ of {'/'.join(GEMM_OPS)} (MatMuls with a constant operand only), "
                               f"U8 activations / S8 per-channel weights (the VNNI path; S8S8 measured 0.75x fp32), "
                               f"{method} calibration"), notes
