"""The swin-window-order deployment rewrite: the same outputs as the model as written, at several batch sizes
and input sizes; refused in one line for a structure it does not recognise."""

from __future__ import annotations

import onnx
import pytest
import torch
from conftest import assert_one_line_error
from toymodels import SPEC_TOML, PromptedNet

from edgeus.contracts.spec import load_spec
from edgeus.errors import ModelError
from edgeus.models import LoadedModel, load_model
from edgeus.models.rewrites import apply_rewrites, known_rewrites
from edgeus.models.swin_rewrite import WindowOrderedBlock, rewrite_swin_window_order, window_order
from edgeus.models.uniusnet import SMALL, SwinBlock, UniUSNet, UniUSNetConfig, window_partition
from edgeus.stages.export import export_onnx

# the toy model's spec asking for the rewrite (a top-level key: before the first table)
REWRITE_SPEC = SPEC_TOML.replace('catalog = "uusic25"\n', 'catalog = "uusic25"\ndeploy_rewrites = ["swin-window-order"]\n')
assert REWRITE_SPEC != SPEC_TOML

# three input sizes: the default's 224 (window 7: 56/28/14/7 maps), 448 (a 112 x 112 first map) and 128 with
# 4 x 4 windows (32/16/8/4 maps: the last stage one window, where the rewrite must leave the order alone)
CONFIGS = {
    "224": SMALL,
    "448": UniUSNetConfig(img_size=448, embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8)),
    "128-w4": UniUSNetConfig(img_size=128, window_size=4, embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8)),
}


@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
def test_rewritten_model_equals_the_model_as_written_at_several_batches(config):
    torch.manual_seed(0)
    cfg = CONFIGS[config]
    model = UniUSNet(cfg).eval()
    rewritten, blocks = rewrite_swin_window_order(model)
    assert blocks == sum(cfg.depths) + 2 * 3 + 2 * 3  # encoder + seg decoder 1..3 + cls decoder 0..2
    assert not any(isinstance(m, SwinBlock) for m in rewritten.modules())
    assert any(isinstance(m, SwinBlock) for m in model.modules())  # the original is untouched
    for batch in (1, 2, 5):
        image, prompt = torch.rand(batch, 3, cfg.img_size, cfg.img_size), torch.rand(batch, 15)
        with torch.no_grad():
            expected, got = model(image, prompt), rewritten(image, prompt)
        for e, g in zip(expected, got, strict=True):
            torch.testing.assert_close(g, e, atol=1e-4, rtol=1e-3)


def test_window_order_is_roll_then_partition():
    r, ws, shift = 8, 4, 2
    raster = torch.arange(r * r).reshape(1, r, r, 1)
    rolled = torch.roll(raster, shifts=(-shift, -shift), dims=(1, 2))
    assert torch.equal(window_order(r, ws, shift), window_partition(rolled, ws).reshape(-1))
    assert torch.equal(window_order(r, r, 0), torch.arange(r * r))  # one window, no shift: raster order


def test_tokens_stay_in_window_order_inside_a_stage():
    model = UniUSNet(SMALL).eval()
    rewritten, _ = rewrite_swin_window_order(model)
    first_stage = [b for b in rewritten.swin.layers[0].blocks]
    assert all(isinstance(b, WindowOrderedBlock) for b in first_stage)
    # a Gather into the first block, one between blocks, one back to raster order after the last
    assert first_stage[0].entry is not None and first_stage[0].exit is None
    assert first_stage[-1].entry is not None and first_stage[-1].exit is not None
    # the bottleneck is one 7 x 7 window: nothing to reorder
    assert all(b.entry is None and b.exit is None for b in rewritten.swin.layers[3].blocks)


def test_export_applies_the_spec_rewrite_and_checks_parity_against_the_model_as_written(tmp_path):
    loaded = load_model("uniusnet-small")
    asking = loaded.spec.model_copy(update={"deploy_rewrites": ["swin-window-order"]})
    loaded = LoadedModel(loaded.module, asking, loaded.name, loaded.checkpoint, loaded.checkpoint_sha256)
    report = export_onnx(loaded, tmp_path / "rewritten.onnx")
    plain = export_onnx(loaded, tmp_path / "plain.onnx", rewrites=[])
    assert report.rewrites == [{"name": "swin-window-order", "blocks": 20}] and plain.rewrites == []
    assert all(p["ok"] for p in report.parity) and {p["batch"] for p in report.parity} >= {1, 3}

    def ops(path):
        return [n.op_type for n in onnx.load(str(path)).graph.node]

    # the rolls (Slice + Concat) and the window partition / reverse transposes are gone
    assert ops(tmp_path / "rewritten.onnx").count("Slice") < ops(tmp_path / "plain.onnx").count("Slice")
    assert ops(tmp_path / "rewritten.onnx").count("Transpose") < ops(tmp_path / "plain.onnx").count("Transpose")
    assert report.nodes_after < plain.nodes_after


def test_a_model_without_swin_blocks_is_refused_in_one_line(tmp_path):
    with pytest.raises(ModelError, match="does not recognise this model's structure: no Swin window-attention"):
        rewrite_swin_window_order(PromptedNet())
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(REWRITE_SPEC)
    out = tmp_path / "toy.onnx"
    with pytest.raises(ModelError):
        export_onnx(LoadedModel(PromptedNet(), load_spec(spec_path), "toy", None, None), out)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["spec.toml"]


def test_a_subclassed_swin_block_is_refused():
    class OtherBlock(SwinBlock):  # may compute something else: the rewrite cannot know
        pass

    model = UniUSNet(SMALL).eval()
    first = model.swin.layers[0].blocks[0]
    other = OtherBlock(24, first.resolution, 1, 7, 0, 4.0)
    model.swin.layers[0].blocks[0] = other
    with pytest.raises(ModelError, match=r"cannot reorder safely at swin\.layers\.0\.blocks"):
        rewrite_swin_window_order(model)


def test_unknown_rewrite_names_are_refused_and_the_spec_vocabulary_is_the_registry():
    with pytest.raises(ModelError, match="unknown deployment rewrite 'fuse-everything'"):
        apply_rewrites(PromptedNet(), ["fuse-everything"])
    from typing import get_args

    from edgeus.contracts.spec import ModelSpec

    literal = ModelSpec.model_fields["deploy_rewrites"].annotation
    assert sorted(get_args(get_args(literal)[0])) == known_rewrites()


def test_cli_export_of_a_factory_model_whose_spec_asks_for_a_rewrite_it_lacks(run_cli, tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(REWRITE_SPEC)
    out = tmp_path / "m.onnx"
    code, _, err = run_cli("export", "--model", "toymodels:prompted_net", "--spec", spec_path, "-o", out)
    assert_one_line_error(code, err, "swin-window-order", "does not recognise")
    assert not out.exists()
    code, _, err = run_cli("export", "--model", "toymodels:prompted_net", "--spec", spec_path, "-o", out,
                           "--no-rewrite")
    assert code == 0, err
