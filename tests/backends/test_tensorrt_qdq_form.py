"""What TensorRT requires of a QDQ graph, checked on hand-built graphs (no GPU needed)."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from edgeus.backends.tensorrt.qdq import check_qdq_form


def _graph(act_zero=0, act_zero_dtype=np.int8, act_scale=(0.1,), weight_axis=1, quantize_weight=True, opset=17):
    w = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    inits = [
        numpy_helper.from_array(np.array(act_scale, np.float32).reshape(() if len(act_scale) == 1 else -1), "a_scale"),
        numpy_helper.from_array(np.array(act_zero, act_zero_dtype), "a_zero"),
        numpy_helper.from_array(np.clip(np.round(w / 0.05), -127, 127).astype(np.int8), "w_q"),
        numpy_helper.from_array(np.full(4, 0.05, np.float32), "w_scale"),
        numpy_helper.from_array(np.zeros(4, np.int8), "w_zero"),
        numpy_helper.from_array(w, "w_float"),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "a_scale", "a_zero"], ["x_q"], name="q_x"),
        helper.make_node("DequantizeLinear", ["x_q", "a_scale", "a_zero"], ["x_dq"], name="dq_x"),
    ]
    if quantize_weight:
        nodes.append(helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"], name="dq_w",
                                      axis=weight_axis))
    nodes.append(helper.make_node("MatMul", ["x_dq", "w_dq" if quantize_weight else "w_float"], ["y"], name="mm"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_symmetric_graph_passes():
    report = check_qdq_form(_graph())
    assert report.ok, report.violations
    assert report.quantized_layers == 1 and report.quantize_nodes == 1 and report.dequantize_nodes == 2


def test_asymmetric_zero_point_fails():
    report = check_qdq_form(_graph(act_zero=3))
    assert any("zero point must be INT8 0" in v for v in report.violations)
    report = check_qdq_form(_graph(act_zero=0, act_zero_dtype=np.uint8))
    assert any("zero point must be INT8 0" in v for v in report.violations)


def test_per_channel_activation_and_wrong_weight_axis_fail():
    report = check_qdq_form(_graph(act_scale=(0.1, 0.2)))
    assert any("activation scale must be per tensor" in v for v in report.violations)
    report = check_qdq_form(_graph(weight_axis=0))
    assert any("output channel axis" in v for v in report.violations)


def test_unquantized_layer_and_old_opset_are_reported():
    report = check_qdq_form(_graph(quantize_weight=False))
    assert report.unquantized_layers == ["mm"] and report.quantized_layers == 0
    report = check_qdq_form(_graph(opset=11))
    assert any("opset 11" in v for v in report.violations)
