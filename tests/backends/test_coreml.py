"""Core ML conversion, for real, on this (non-Apple) machine: coremltools converts the model to an ML program
with the spec's tensor names, compresses its weights (INT8 per channel, a 6-bit palette) without data; the
plan's torch-side simulation stays close to the model; prediction says in one line that it needs macOS (and
runs there: the macOS test)."""

from __future__ import annotations

import json
import platform

import numpy as np
import pytest
from toymodels import SPEC_TOML, PromptedNet

from edgeus.backends.factory import open_model
from edgeus.backends.torch import TorchRunner
from edgeus.contracts.spec import ModelSpec, load_spec
from edgeus.errors import BackendError

ct = pytest.importorskip("coremltools", reason="the coreml extra is not installed (pip install 'edgeus[coreml]')")

from edgeus.backends.coreml.convert import IO, PACKAGE, convert_to_mlpackage, quantize_w8a8, simulate_plan  # noqa: E402


@pytest.fixture
def spec(tmp_path) -> ModelSpec:
    path = tmp_path / "toy.spec.toml"
    path.write_text(SPEC_TOML)
    return load_spec(path)


def _weights(package) -> dict[str, str]:
    """The ML program's const ops that hold compressed weights, by op type."""
    program = ct.models.MLModel(str(package), skip_model_load=True).get_spec().mlProgram
    ops = [op.type for f in program.functions.values() for block in f.block_specializations.values()
           for op in block.operations]
    return {t: ops.count(t) for t in set(ops)}


@pytest.mark.parametrize("plan", ["fp16", "w8", "p6", "w8a8"])
def test_converts_with_the_specs_names_and_the_plans_weights(tmp_path, spec, plan):
    # width 32: the body's 9,216 weights pass coremltools' size threshold (2,048) for compression
    package = convert_to_mlpackage(PromptedNet(width=32).eval(), spec, tmp_path / plan, plan=plan)
    assert package == tmp_path / plan / PACKAGE and package.is_dir()
    description = ct.models.MLModel(str(package), skip_model_load=True).get_spec().description
    assert [i.name for i in description.input] == spec.input_names
    assert [o.name for o in description.output] == spec.output_names
    io = json.loads((tmp_path / plan / IO).read_text())
    assert io["plan"] == plan and [t["name"] for t in io["outputs"]] == spec.output_names
    ops = _weights(package)
    if plan == "w8":
        assert ops.get("constexpr_blockwise_shift_scale", 0) + ops.get("constexpr_affine_dequantize", 0) > 0, ops
    elif plan == "p6":
        assert ops.get("constexpr_lut_to_dense", 0) > 0, ops
    elif plan == "w8a8":  # converted in fp16: activations and weights are quantized on the Mac (quantize_w8a8)
        assert not {"constexpr_blockwise_shift_scale", "constexpr_affine_dequantize", "quantize"} & set(ops), ops


@pytest.mark.parametrize("plan, atol", [("fp16", 1e-3), ("w8", 0.02), ("p6", 0.05), ("w8a8", 0.02)])
def test_the_plans_simulation_rounds_weights_and_stays_close(spec, plan, atol):
    model = PromptedNet().eval()
    simulated = simulate_plan(model, plan)
    changed = [n for (n, a), (_, b) in zip(model.named_parameters(), simulated.named_parameters())
               if n.endswith("weight") and not np.array_equal(a.detach().numpy(), b.detach().numpy())]
    assert changed  # the weights are the plan's, not the model's
    feeds = spec.example_feeds(2, seed=4)
    with TorchRunner(model, spec) as ref, TorchRunner(simulated, spec) as sim:
        expected, got = ref.infer(feeds), sim.infer(feeds)
    for name in spec.output_names:
        np.testing.assert_allclose(got[name], expected[name], atol=atol)


def test_an_unknown_plan_and_an_existing_output_are_refused_writing_nothing(tmp_path, spec):
    with pytest.raises(BackendError, match="Core ML plans are fp16, w8, p6, w8a8"):
        convert_to_mlpackage(PromptedNet().eval(), spec, tmp_path / "x", plan="int4")
    assert not (tmp_path / "x").exists()
    (tmp_path / "taken").mkdir()
    with pytest.raises(BackendError, match="exists; pass --force"):
        convert_to_mlpackage(PromptedNet().eval(), spec, tmp_path / "taken")


@pytest.mark.skipif(platform.system() == "Darwin", reason="on macOS Core ML predicts: test_predicts_on_macos")
def test_prediction_off_macos_says_it_needs_macos(tmp_path, spec):
    package = convert_to_mlpackage(PromptedNet().eval(), spec, tmp_path / "fp16")
    with pytest.raises(BackendError, match="Core ML predicts only on macOS"):
        with open_model(package, "coreml", {}):
            pass


@pytest.mark.skipif(platform.system() != "Darwin", reason="Core ML predicts only on macOS")
def test_predicts_on_macos(tmp_path, spec):
    model = PromptedNet().eval()
    package = convert_to_mlpackage(model, spec, tmp_path / "fp16")
    feeds = spec.example_feeds(2, seed=5)
    with TorchRunner(model, spec) as ref, open_model(package, "coreml", {}) as coreml:
        expected, got = ref.infer(feeds), coreml.infer(feeds)
    for name in spec.output_names:
        np.testing.assert_allclose(got[name], expected[name], atol=0.05)


@pytest.mark.skipif(platform.system() != "Darwin", reason="Core ML predicts only on macOS")
def test_w8a8_calibrates_activations_on_macos_and_stays_close(tmp_path, spec):
    model = PromptedNet(width=32).eval()
    package = convert_to_mlpackage(model, spec, tmp_path / "w8a8", plan="w8a8")
    samples = [spec.example_feeds(1, seed=s) for s in range(8)]
    quantized = quantize_w8a8(package, samples, tmp_path / "w8a8" / "model-w8a8.mlpackage")
    assert "quantize" in _weights(quantized)  # activations quantized, not only weights
    feeds = spec.example_feeds(1, seed=9)
    with TorchRunner(model, spec) as ref, open_model(quantized, "coreml", {}) as coreml:
        expected, got = ref.infer(feeds), coreml.infer(feeds)
    agree = (got["seg_logits"].argmax(1) == expected["seg_logits"].argmax(1)).mean()
    assert agree > 0.9
