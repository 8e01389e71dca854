"""The target's runtime settings on the build machine: ONNX Runtime for ARM without the x86-only NCHWc
rewrite (checked in the graph ONNX Runtime really builds), OpenVINO's CPU plugin capped at the target's ISA
(checked in the kernels oneDNN really picks, in a fresh process: oneDNN reads the cap once per process)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.onnxruntime.target import target_session
from edgeus.backends.openvino.isa_cap import apply_target_isa, onednn_isa
from edgeus.util.toolchain import cpu_isa


def _conv_model(path):
    weights = numpy_helper.from_array(np.random.default_rng(0).normal(size=(16, 8, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["y"], ["z"])],
        "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 32, 32])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 16, 32, 32])], [weights])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _optimized_domains(model, tmp_path, session) -> set[str]:
    import onnxruntime as ort

    options, kwargs = OnnxRuntimeRunner(model, threads=1, session=session).session_arguments()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(model), options, **kwargs)
    return {n.domain for n in onnx.load(str(tmp_path / "optimized.onnx")).graph.node}


@pytest.mark.skipif("avx2" not in cpu_isa(), reason="NCHWc is registered on x86-64 with AVX2 or AVX-512 only")
def test_an_arm_targets_session_has_no_nchwc_layout(tmp_path):
    model = tmp_path / "conv.onnx"
    _conv_model(model)
    assert target_session("x86_64") == {}
    assert "com.microsoft.nchwc" in _optimized_domains(model, tmp_path, {})  # this machine's default: rewritten
    assert "com.microsoft.nchwc" not in _optimized_domains(model, tmp_path, target_session("aarch64"))


def test_the_onednn_isa_follows_the_features():
    assert onednn_isa(["avx2", "avx512f", "avx512_vnni"]) == "avx512_core_vnni"  # Tiger Lake
    assert onednn_isa(["avx2", "avx512_vnni", "avx512_bf16", "amx_int8"]) == "avx512_core_amx"  # Sapphire Rapids
    assert onednn_isa(["avx2"]) == "avx2" and onednn_isa([]) == "sse41"
    above = apply_target_isa(["avx2", "avx512f", "amx_int8"], ["avx2"])
    assert above["computed_with"] == "avx2" and "not exercised" in above["note"] and "cap" not in above
    same = apply_target_isa(["avx2"], ["avx2"])
    assert same["computed_with"] == "avx2" and "cap" not in same


PROBE = """
import numpy as np, openvino as ov
from openvino import opset13 as ops
x = ops.parameter([1, 16, 32, 32], np.float32)
w = ops.constant(np.random.default_rng(0).random((32, 16, 3, 3)).astype(np.float32))
m = ov.Model([ops.relu(ops.convolution(x, w, [1, 1], [1, 1], [1, 1], [1, 1]))], [x])
c = ov.Core().compile_model(m, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
print(" ".join(op.get_rt_info()["primitiveType"].astype(str) for op in c.get_runtime_model().get_ops()
               if op.get_rt_info()["layerType"].astype(str) == "Convolution"))
"""


@pytest.mark.skipif("avx512f" not in cpu_isa(), reason="the cap is only visible below this machine's ISA")
def test_the_onednn_cap_takes_effect_in_openvinos_cpu_plugin():
    def kernel(cap: str | None) -> str:
        env = {k: v for k, v in __import__("os").environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
        if cap:
            env["ONEDNN_MAX_CPU_ISA"] = cap
        done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert "avx512" in kernel(None)
    capped = kernel("AVX2")
    assert "avx2" in capped and "avx512" not in capped
