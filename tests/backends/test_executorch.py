"""ExecuTorch, run for real: a model lowered to an XNNPACK .pte (fp32 and pt2e INT8 with a float scope) runs
with ExecuTorch's Python runtime and agrees with torch; its delegation coverage is recorded; an operator
ExecuTorch cannot lower is named in one line and nothing is written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from toymodels import SPEC_TOML, PromptedNet

from edgeus.backends.factory import open_model
from edgeus.backends.torch import TorchRunner
from edgeus.contracts.spec import ModelSpec, load_spec
from edgeus.errors import BackendError
from edgeus.models import load_model

pytest.importorskip("executorch", reason="the executorch extra is not installed (pip install 'edgeus[executorch]')")

from edgeus.backends.executorch.lower import DELEGATION, IO, PTE, float_modules, lower_to_pte  # noqa: E402
from edgeus.backends.executorch.runner import ExecuTorchRunner  # noqa: E402


@pytest.fixture
def spec(tmp_path) -> ModelSpec:
    path = tmp_path / "toy.spec.toml"
    path.write_text(SPEC_TOML)
    return load_spec(path)


def _calibration(spec: ModelSpec, n: int = 6) -> list[tuple]:
    return [tuple(torch.from_numpy(spec.example_feeds(1, seed=s)[name]) for name in spec.input_names)
            for s in range(n)]


def test_fp32_pte_runs_in_executorch_and_equals_torch_at_several_batches(tmp_path, spec):
    model = PromptedNet().eval()
    lowered = lower_to_pte(model, spec, tmp_path / "fp32")
    assert lowered.path == tmp_path / "fp32" / PTE and lowered.size_bytes > 0
    assert {p.name for p in (tmp_path / "fp32").iterdir()} == {PTE, IO, DELEGATION}
    delegation = json.loads((tmp_path / "fp32" / DELEGATION).read_text())
    assert delegation["delegated_subgraphs"] >= 1 and 0 < delegation["coverage"] <= 1
    with TorchRunner(model, spec) as ref, open_model(lowered.path, "executorch", {}, threads=2) as pte:
        assert isinstance(pte, ExecuTorchRunner)
        assert [m.name for m in pte.output_metadata()] == spec.output_names
        for batch in (1, 3):  # traced at batch 1: a batch runs image by image
            feeds = spec.example_feeds(batch, seed=batch)
            expected, got = ref.infer(feeds), pte.infer(feeds)
            for name in spec.output_names:
                assert got[name].shape == expected[name].shape
                np.testing.assert_allclose(got[name], expected[name], atol=1e-4, rtol=1e-3)


def test_int8_keeps_the_float_scope_in_float_and_stays_close(tmp_path, spec):
    model = PromptedNet().eval()
    lowered = lower_to_pte(model, spec, tmp_path / "int8", precision="int8", calibration=_calibration(spec),
                           float_patterns=[".*/cls2/.*", ".*/cls4/.*"])
    assert lowered.float_modules == ["cls2", "cls4"]
    assert json.loads((tmp_path / "int8" / DELEGATION).read_text())["float_modules"] == ["cls2", "cls4"]
    feeds = spec.example_feeds(2, seed=11)
    with TorchRunner(model, spec) as ref, ExecuTorchRunner(lowered.path, threads=2) as pte:
        expected, got = ref.infer(feeds), pte.infer(feeds)
    # INT8 moves numbers, not decisions, on this small net: masks agree almost everywhere
    agree = (got["seg_logits"].argmax(1) == expected["seg_logits"].argmax(1)).mean()
    assert agree > 0.95
    assert np.abs(got["seg_logits"] - expected["seg_logits"]).max() > 0  # it is quantized


def test_fp16_computes_in_half_precision_behind_fp32_inputs_and_outputs(tmp_path, spec):
    model = PromptedNet().eval()
    lowered = lower_to_pte(model, spec, tmp_path / "fp16", precision="fp16")
    assert next(model.parameters()).dtype == torch.float32  # the caller's module is not converted
    io = json.loads((tmp_path / "fp16" / IO).read_text())
    assert {t["dtype"] for t in io["inputs"] + io["outputs"]} == {"float32"}  # an app feeds the same frames
    assert json.loads((tmp_path / "fp16" / DELEGATION).read_text())["precision"] == "fp16"
    feeds = spec.example_feeds(1, seed=4)
    with TorchRunner(model, spec) as ref, ExecuTorchRunner(lowered.path, threads=2) as pte:
        expected, got = ref.infer(feeds), pte.infer(feeds)
    for name in spec.output_names:
        assert got[name].dtype == np.float32
        difference = np.abs(got[name] - expected[name]).max()
        assert 0 < difference < 0.05, (name, difference)  # rounded to half precision, not fp32's numbers


def test_int8_without_calibration_images_is_refused(tmp_path, spec):
    with pytest.raises(BackendError, match="calibration images"):
        lower_to_pte(PromptedNet().eval(), spec, tmp_path / "int8", precision="int8")
    assert not (tmp_path / "int8").exists()


class _Histogram(PromptedNet):
    def forward(self, image, prompt):
        seg, cls2, cls4 = super().forward(image, prompt)
        return seg, cls2 + torch.histc(image, bins=4).sum(), cls4


def test_an_operator_executorch_lacks_is_named_and_nothing_is_written(tmp_path, spec):
    with pytest.raises(BackendError) as info:
        lower_to_pte(_Histogram().eval(), spec, tmp_path / "out")
    message = str(info.value)
    assert "aten.histc" in message and "\n" not in message
    assert [p.name for p in tmp_path.iterdir()] == ["toy.spec.toml"]


def test_existing_output_needs_force(tmp_path, spec):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep").write_text("mine")
    with pytest.raises(BackendError, match="--force"):
        lower_to_pte(PromptedNet().eval(), spec, tmp_path / "out")
    assert (tmp_path / "out" / "keep").read_text() == "mine"


def test_the_spec_float_patterns_select_the_same_layers_as_in_the_onnx_export():
    loaded = load_model("uniusnet-small")
    chosen = float_modules(loaded.module, loaded.spec.int8_float_patterns)
    assert "swin.patch_embed" in chosen and "swin.layers_task_seg_up" in chosen
    assert "swin.layers.0.blocks.0.attn.proj" in chosen and "swin.layers.0.blocks.0.attn.qkv" not in chosen
    assert not any(name.startswith("swin.layers_task_seg_up.") for name in chosen)  # outermost only


def test_a_pte_without_its_tensor_names_is_one_clear_error(tmp_path, spec):
    lowered = lower_to_pte(PromptedNet().eval(), spec, tmp_path / "fp32")
    (tmp_path / "fp32" / IO).unlink()
    with pytest.raises(BackendError, match="model.io.json"), ExecuTorchRunner(lowered.path):
        pass


def test_the_rewritten_swin_attention_runs_in_executorch_with_one_head():
    """The swin-window-order rewrite's bias constant has row-major strides: built from a permute, a 1-head bias
    kept strides that XNNPACK's delegate read as another layout, and every shape propagation failed."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime

    from edgeus.models.swin_rewrite import WindowOrderedAttention
    from edgeus.models.uniusnet import WindowAttention, shift_attention_mask

    torch.manual_seed(0)
    for mask in (None, shift_attention_mask(14, 14, 7, 3)):
        attention = WindowOrderedAttention(WindowAttention(24, 7, 1), mask).eval()
        x = torch.rand(4, 49, 24)
        program = to_edge_transform_and_lower(torch.export.export(attention, (x,), strict=False),
                                              partitioner=[XnnpackPartitioner()]).to_executorch()
        method = Runtime.get().load_program(program.buffer).load_method("forward")
        with torch.no_grad():
            np.testing.assert_allclose(method.execute([x])[0].numpy(), attention(x).numpy(), atol=1e-5)
