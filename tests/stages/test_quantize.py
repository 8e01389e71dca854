"""Real NNCF/OpenVINO and ONNX Runtime quantization of uniusnet-small (untrained weights keep this fast;
fidelity of the trained default is measured by the benchmark and by validate)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.backends.registry import open_runner
from edgeus.backends.tensorrt.qdq import check_qdq_form
from edgeus.contracts.profiles import Precision, load_profile
from edgeus.data.calibration import plan_calibration
from edgeus.data.phantom import generate_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.models import load_model
from edgeus.stages.compile import compile_model
from edgeus.stages.export import export_onnx
from edgeus.stages.quantize import QuantizeOptions, quantize
from edgeus.stages.quantize.api import QuantizeError


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("q")
    loaded = load_model("uniusnet-small")
    export_onnx(loaded, root / "model.onnx")
    generate_phantom(root / "ph", per_task=2, seed=3, splits=("train",))
    plan = plan_calibration(read_dataset(root / "ph/train"), loaded.spec, per_task=1)
    return root, loaded, plan


def _agreement(reference: Path, candidate, spec) -> float:
    feeds = spec.example_feeds(2, seed=4)
    with OnnxRuntimeRunner(reference) as ref, candidate as cand:
        a, b = ref.infer(feeds), cand.infer(feeds)
    return float(np.mean(a["seg_logits"].argmax(1) == b["seg_logits"].argmax(1)))


@pytest.mark.parametrize(("profile", "model_file"), [("cpu-x86-scanner", "model.xml"), ("cpu-arm-handheld", "model.int8.onnx")])
def test_int8_quantize_and_compile(work, tmp_path, profile, model_file):
    root, loaded, plan = work
    prof = load_profile(profile)
    result = quantize(root / "model.onnx", prof, loaded.spec, tmp_path / "q", plan)
    assert Path(result.path).name == model_file
    record = json.loads((tmp_path / "q/quantize.json").read_text())
    assert record["calibration"]["fingerprint"] == plan.fingerprint
    assert set(record["calibration"]["coverage"]) == {t.key for t in loaded.spec.task_catalog().tasks}
    assert record["toolchain"]["onnxruntime"] and record["precision"] == "int8"
    compiled = compile_model(tmp_path / "q", prof, tmp_path / "c", threads=2)
    assert (tmp_path / "c/compile.json").is_file()
    assert _agreement(root / "model.onnx", open_runner(tmp_path / "c", prof), loaded.spec) > 0.9
    if profile == "cpu-x86-scanner":
        assert compiled.settings["actual_inference_precision"] == "f32"
        assert any((tmp_path / "c/cache").iterdir())  # compiled-model cache for fast cold start
    else:
        import onnx

        ops = {n.op_type for n in onnx.load(str(tmp_path / "q" / model_file)).graph.node}
        assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_openvino_fp16_and_fp32_ir(work, tmp_path):
    root, loaded, _ = work
    prof = load_profile("cpu-x86-scanner")
    r16 = quantize(root / "model.onnx", prof, loaded.spec, tmp_path / "fp16", None, QuantizeOptions(precision=Precision.fp16))
    r32 = quantize(root / "model.onnx", prof, loaded.spec, tmp_path / "fp32", None, QuantizeOptions(precision=Precision.fp32))
    size16 = (tmp_path / "fp16/model.bin").stat().st_size
    size32 = (tmp_path / "fp32/model.bin").stat().st_size
    assert size16 < 0.6 * size32  # weights really stored in half precision
    assert r16.calibration is None and r32.precision == "fp32"
    assert _agreement(root / "model.onnx", open_runner(tmp_path / "fp32", prof), loaded.spec) > 0.999


def test_tensorrt_qdq_is_symmetric_and_checked(work, tmp_path):
    root, loaded, plan = work
    result = quantize(root / "model.onnx", load_profile("jetson-orin-nano"), loaded.spec, tmp_path / "trt", plan)
    report = check_qdq_form(tmp_path / "trt" / result.path)
    assert report.ok and report.quantized_layers > 40  # the encoder GEMMs but patch embedding and attn proj
    # only the layers the model spec keeps in float stay unquantized: the encoder's qkv and MLP GEMMs are INT8
    import re

    float_patterns = [re.compile(p) for p in loaded.spec.int8_float_patterns]
    assert report.unquantized_layers and all(any(p.fullmatch(name) for p in float_patterns)
                                             for name in report.unquantized_layers)
    assert not any(name.startswith("/swin/layers.") and ("/attn/qkv/" in name or "/mlp/fc" in name)
                   for name in report.unquantized_layers)
    with OnnxRuntimeRunner(tmp_path / "trt" / result.path) as runner:  # the QDQ model is validated under ORT here
        assert runner.infer(loaded.spec.example_feeds(1))["seg_logits"].shape == (1, 2, 224, 224)


def test_ignored_scope_keeps_layers_in_float(work, tmp_path):
    import onnx

    root, loaded, plan = work
    prof = load_profile("cpu-arm-handheld")
    # one encoder GEMM by name stays float; the others are quantized
    fp32_matmuls = [n.name for n in onnx.load(str(root / "model.onnx")).graph.node
                    if n.op_type == "MatMul" and "/swin/layers.0/" in n.name and "/mlp/" in n.name]
    keep = fp32_matmuls[0]
    quantize(root / "model.onnx", prof, loaded.spec, tmp_path / "q", plan, QuantizeOptions(ignored_names=(keep,)))
    graph = onnx.load(str(tmp_path / "q/model.int8.onnx")).graph
    producers = {o: n for n in graph.node for o in n.output}

    def weight_is_quantized(node) -> bool:
        return any(producers.get(i) is not None and producers[i].op_type == "DequantizeLinear" for i in node.input)

    by_name = {n.name: n for n in graph.node}
    assert not weight_is_quantized(by_name[keep])
    assert any(weight_is_quantized(by_name[name]) for name in fp32_matmuls[1:])
    with pytest.raises(QuantizeError, match="matches no node"):
        quantize(root / "model.onnx", prof, loaded.spec, tmp_path / "q2", plan,
                 QuantizeOptions(ignored_patterns=("no_such_layer_.*",)))
    assert not (tmp_path / "q2").exists()


def test_a_quantization_that_quantizes_nothing_is_an_error(work, tmp_path):
    root, loaded, plan = work
    for target in ("cpu-arm-handheld", "cpu-x86-scanner"):
        with pytest.raises(QuantizeError, match="0 quantized operations"):
            quantize(root / "model.onnx", load_profile(target), loaded.spec, tmp_path / target, plan,
                     QuantizeOptions(ignored_patterns=(".*",)))  # every node in float
        assert not (tmp_path / target).exists()
    with pytest.raises(QuantizeError, match="leaves nothing to quantize"):  # ORT would read [] as "all types"
        quantize(root / "model.onnx", load_profile("cpu-arm-handheld"), loaded.spec, tmp_path / "t", plan,
                 QuantizeOptions(ignored_types=("MatMul", "Conv", "Gemm")))


def test_an_onnx_that_does_not_take_the_specs_inputs_is_refused_before_calibration(work, tmp_path, toy_spec):
    from edgeus.contracts.spec import load_spec

    root, _, plan = work
    toy_spec.write_text(toy_spec.read_text().replace('name = "image"', 'name = "pixels"'))
    other = load_spec(toy_spec)  # a spec for another model: its image input has another name
    with pytest.raises(QuantizeError, match="input 'pixels' missing"):
        quantize(root / "model.onnx", load_profile("cpu-x86-scanner"), other, tmp_path / "q", plan)
    assert not (tmp_path / "q").exists()


def test_precision_the_backend_cannot_do(work, tmp_path, run_cli):
    root, _, _ = work
    code, _, err = run_cli("quantize", root / "model.onnx", "--target", "cpu-arm-handheld", "--precision", "fp16",
                           "-o", tmp_path / "x")
    assert_one_line_error(code, err, "fp16 is not supported")
    assert not (tmp_path / "x").exists()


def test_cli_quantize_reports_missing_task(work, tmp_path, run_cli):
    import shutil

    root, _, _ = work
    data = tmp_path / "train"
    shutil.copytree(root / "ph/train", data)
    shutil.rmtree(data / "classification/Appendix")
    code, _, err = run_cli("quantize", root / "model.onnx", "--target", "cpu-x86-scanner", "--data", data,
                           "-o", tmp_path / "out")
    assert_one_line_error(code, err, "Appendix/classification")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]


def test_mixed_precision_keeps_output_heads_in_float(work, tmp_path):
    import openvino as ov

    root, loaded, plan = work
    quantize(root / "model.onnx", load_profile("cpu-x86-scanner"), loaded.spec, tmp_path / "mixed", plan,
             QuantizeOptions(precision=Precision.mixed))
    model = ov.Core().read_model(str(tmp_path / "mixed/model.xml"))
    ops = {op.get_friendly_name(): op for op in model.get_ops()}
    assert any(op.get_type_name() == "FakeQuantize" for op in ops.values())  # the body is INT8
    head = ops["seg_logits"]  # the 1x1 conv producing the segmentation logits
    assert head.get_type_name() == "Convolution"
    feeding = [head.input_value(i).get_node().get_type_name() for i in range(2)]
    assert "FakeQuantize" not in feeding


def test_openvino_names_a_user_pattern_that_matches_nothing(work, tmp_path):
    root, loaded, plan = work
    with pytest.raises(QuantizeError, match="'no_such_layer_.\\*' matches no node"):
        quantize(root / "model.onnx", load_profile("cpu-x86-scanner"), loaded.spec, tmp_path / "q", plan,
                 QuantizeOptions(ignored_patterns=("no_such_layer_.*",)))
    assert not (tmp_path / "q").exists()


def test_model_spec_patterns_may_be_absent_from_a_variant(work, tmp_path):
    """The spec's float layers are written for the model family; one a variant lacks is no error (the full
    uniusnet's NNCF graph does not show norm_task_cls), while the ones it has stay float."""
    root, loaded, plan = work
    spec = loaded.spec.model_copy(update={"int8_float_patterns": [*loaded.spec.int8_float_patterns,
                                                                    ".*layer_only_in_another_variant.*"]})
    result = quantize(root / "model.onnx", load_profile("cpu-x86-scanner"), spec, tmp_path / "q", plan)
    assert (tmp_path / "q" / "model.xml").is_file()
    assert ".*layer_only_in_another_variant.*" in result.ignored_scope["patterns"]


_LAYOUT_OPS = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Gather", "Convert", "Multiply"}


def test_openvino_int8_leaves_attention_products_in_float(work, tmp_path):
    """Q.K^T and A.V (explicit MatMuls in the masked blocks, ScaledDotProductAttention in the others) get no
    FakeQuantize on their inputs; the linear layers around them do."""
    import openvino as ov

    from edgeus.backends.openvino.quantize import activation_matmuls

    root, loaded, plan = work
    fp32 = ov.convert_model(str(root / "model.onnx"))
    products = activation_matmuls(fp32)
    fused = [op for op in fp32.get_ops() if op.get_type_name() == "ScaledDotProductAttention"]
    assert products and fused  # uniusnet-small has both forms of attention
    quantize(root / "model.onnx", load_profile("cpu-x86-scanner"), loaded.spec, tmp_path / "q", plan)
    model = ov.Core().read_model(str(tmp_path / "q/model.xml"))

    def fed_by_fake_quantize(op, depth: int = 4) -> bool:
        """A FakeQuantize on an input, looking through the layout ops between (a head split, K's transpose)."""
        for i in range(op.get_input_size()):
            source = op.input_value(i).get_node()
            if source.get_type_name() == "FakeQuantize":
                return True
            if depth and source.get_type_name() in _LAYOUT_OPS and fed_by_fake_quantize(source, depth - 1):
                return True
        return False

    attention = [op for op in model.get_ops() if op.get_friendly_name() in products
                 or op.get_type_name() == "ScaledDotProductAttention"]
    linear = [op for op in model.get_ops() if op.get_type_name() == "MatMul" and op.get_friendly_name() not in products]
    assert len(attention) == len(products) + len(fused)
    assert not any(fed_by_fake_quantize(op) for op in attention)
    assert any(fed_by_fake_quantize(op) for op in linear)  # the profile's hint scope keeps many in float
    assert "attention's activation products in float" in json.loads((tmp_path / "q/quantize.json").read_text())["method"]


def test_cli_quantize_is_as_quiet_as_a_build(work, tmp_path, run_cli, monkeypatch, toy_spec):
    """NNCF's progress bars and log lines go to the command's log file, not the console (-v shows them too)."""
    root, _, _ = work
    monkeypatch.setenv("EDGEUS_LOG_DIR", str(tmp_path / "logs"))
    code, _, err = run_cli("export", "--model", "toymodels:prompted_net", "--spec", toy_spec, "-o", tmp_path / "t.onnx")
    assert code == 0, err
    code, out, err = run_cli("quantize", tmp_path / "t.onnx", "--target", "cpu-x86-scanner", "--spec", toy_spec,
                             "--data", root / "ph", "--per-task", "1", "-o", tmp_path / "q")
    assert code == 0, err
    console = out + err
    assert "INFO:nncf" not in console and "Statistics collection" not in console
    assert "NNCF PTQ INT8" in out  # our own line stays
    assert "Statistics collection" in (tmp_path / "logs" / "quantize.log").read_text()  # NNCF's own bar
