"""OpenVINO IR conversion and NNCF post-training INT8 quantization.

Transformer-aware settings: ``model_type=TRANSFORMER`` keeps softmax/LayerNorm paths in float and applies
SmoothQuant to the MatMuls, which Swin attention needs; the MIXED preset quantizes activations
asymmetrically and weights symmetrically. Bias correction runs (its fast variant by default).

Attention's products of two activations (Q.K^T and A.V, and the ScaledDotProductAttention ops OpenVINO fuses them
into) stay in float, as the ONNX Runtime quantizer leaves them (``MatMulConstBOnly``). Quantized, their inputs get
FakeQuantize ops that OpenVINO's CPU plugin cannot fold into the head-splitting Transpose, which then runs on INT8
data in a reference kernel: on the full uniusnet (int8+bf16, 2 threads) those Transposes took 7 of 57 ms, and
leaving attention in float made the model 5-7 % faster (benchmarks/README.md, ``ov_node_profile.py``).
"""

from __future__ import annotations

from pathlib import Path

from edgeus.backends.openvino.runner import import_openvino
from edgeus.contracts.profiles import QuantizeOptions
from edgeus.contracts.spec import ModelSpec
from edgeus.data.calibration import CalibrationPlan, iter_feeds
from edgeus.errors import BackendError, QuantizeError, first_line


class _PlanIterable:
    """NNCF iterates the calibration set more than once (statistics, bias correction): re-iterable, lazy."""

    def __init__(self, plan: CalibrationPlan, spec: ModelSpec) -> None:
        self.plan, self.spec = plan, spec

    def __iter__(self):
        return iter_feeds(self.plan, self.spec)

    def __len__(self) -> int:
        return len(self.plan)


def _read(onnx_path: Path):
    ov = import_openvino()
    try:
        return ov.convert_model(str(onnx_path))
    except Exception as exc:
        raise QuantizeError(f"OpenVINO cannot convert {onnx_path}: {first_line(exc, 200)}") from None


def convert(onnx_path: Path, out_dir: Path, fp16: bool) -> tuple[str, str, list[str]]:
    ov = import_openvino()
    # save_model compresses weights to FP16 unless told not to: an "fp32" IR must say so explicitly.
    ov.save_model(_read(onnx_path), str(out_dir / "model.xml"), compress_to_fp16=fp16)
    if fp16:
        return "model.xml", "OpenVINO IR with FP16-compressed weights", [
            "compute precision is chosen at compile time (inference_precision); CPUs without FP16 units decompress to f32"
        ]
    return "model.xml", "OpenVINO IR, fp32 weights", []


def ov_op_names(model, onnx_path: Path, names: list[str]) -> list[str]:
    """ONNX node names -> the names of the OpenVINO ops they became.

    The ONNX frontend keeps a node's name for some ops, splits a Gemm into ``<name>/WithoutBiases`` plus an Add
    named after the output tensor, and names a bias-free Conv after its output tensor. A name already in the
    OpenVINO model is kept as it is.
    """
    import onnx

    present = {op.get_friendly_name() for op in model.get_ops()}
    outputs = {n.name: list(n.output) for n in onnx.load(str(onnx_path), load_external_data=False).graph.node}
    mapped = []
    for name in names:
        candidates = [name, f"{name}/WithoutBiases", *outputs.get(name, [])]
        found = [c for c in candidates if c in present]
        if not found:
            raise QuantizeError(f"ignored node {name!r} is neither in the ONNX graph nor in the OpenVINO model")
        mapped += found
    return sorted(set(mapped))


def check_user_patterns(model, patterns: list[str]) -> None:
    """Each ignored-scope pattern from the profile or the command line must match an op (as NNCF matches:
    ``re.match`` over op names): a typo would otherwise quantize the layers meant to stay in float."""
    import re

    names = [op.get_friendly_name() for op in model.get_ops()]
    for pattern in patterns:
        if not any(re.match(pattern, name) for name in names):
            raise QuantizeError(f"ignored pattern {pattern!r} matches no node of the model")


ATTENTION_TYPES = ("ScaledDotProductAttention",)


def activation_matmuls(model) -> list[str]:
    """MatMuls neither of whose operands is a constant: attention's Q.K^T and A.V, where the model did not
    become a fused ScaledDotProductAttention op (a masked, shifted-window block does not)."""
    return sorted(op.get_friendly_name() for op in model.get_ops()
                  if op.get_type_name() == "MatMul"
                  and all(op.input_value(i).get_node().get_type_name() != "Constant" for i in range(2)))


def quantize_int8(onnx_path: Path, spec: ModelSpec, out_dir: Path, plan: CalibrationPlan, ignored: dict,
                  options: QuantizeOptions) -> tuple[str, str, list[str]]:
    ov = import_openvino()
    try:
        import nncf

        from edgeus.util.logs import adopt_logger

        adopt_logger("nncf")  # its INFO lines go to build.log, not between edgeus's progress lines
    except ImportError:
        raise BackendError("NNCF is not installed: pip install 'edgeus[quantize]'") from None
    model = _read(onnx_path)
    check_user_patterns(model, [p for p in ignored["patterns"] if p not in spec.int8_float_patterns])
    # validate=False: the model spec's float layers are written for the model family, and NNCF's own graph may
    # not show one of them in a given variant (the full uniusnet's norm_task_cls LayerNorm); the patterns the
    # user gave are checked above, against the OpenVINO model, with a message naming the pattern
    present_types = {op.get_type_name() for op in model.get_ops()}
    attention_types = [t for t in ATTENTION_TYPES if t in present_types]
    scope = nncf.IgnoredScope(names=[*ov_op_names(model, onnx_path, ignored["names"]), *activation_matmuls(model)],
                              patterns=ignored["patterns"], types=[*ignored["types"], *attention_types],
                              validate=False)
    try:
        quantized = nncf.quantize(
            model, nncf.Dataset(_PlanIterable(plan, spec)), preset=nncf.QuantizationPreset.MIXED,
            model_type=nncf.ModelType.TRANSFORMER, subset_size=len(plan),
            fast_bias_correction=options.fast_bias_correction, ignored_scope=scope,
        )
    except nncf.ValidationError as exc:  # e.g. an ignored-scope pattern that matches nothing
        text = " ".join(str(exc).split())[:300] or exc.__class__.__name__
        raise QuantizeError(f"NNCF rejected the settings: {text}") from None
    ov.save_model(quantized, str(out_dir / "model.xml"), compress_to_fp16=False)
    bias = "fast bias correction" if options.fast_bias_correction else "bias correction"
    return "model.xml", (f"NNCF PTQ INT8 (preset mixed, model_type transformer, SmoothQuant, {bias}; "
                         "attention's activation products in float)"), []
