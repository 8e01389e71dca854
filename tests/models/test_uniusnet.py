from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from edgeus.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgeus.errors import CheckpointError
from edgeus.models import create_model, list_models, load_model
from edgeus.models.checkpoint import load_checkpoint
from edgeus.models.uniusnet import uniusnet, uniusnet_small
from edgeus.stages.export import export_onnx

STATE_DICT_JSON = Path(__file__).resolve().parents[3] / "shared" / "uusic25" / "uniusnet_state_dict.json"


def _baseline_entries() -> list[dict]:
    if not STATE_DICT_JSON.is_file():
        pytest.skip(f"{STATE_DICT_JSON} not present beside the checkout")
    return json.loads(STATE_DICT_JSON.read_text())["entries"]


@pytest.fixture(scope="module")
def baseline_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of the baseline's exact layout with arbitrary values, DDP-prefixed as training saves it."""
    gen = torch.Generator().manual_seed(0)
    sd = {}
    for e in _baseline_entries():
        dtype = getattr(torch, e["dtype"])
        if dtype == torch.int64:
            sd[f"module.{e['key']}"] = torch.randint(0, 169, e["shape"], generator=gen)
        else:
            sd[f"module.{e['key']}"] = torch.randn(e["shape"], generator=gen) * 0.02
    path = tmp_path_factory.mktemp("ckpt") / "baseline.pth"
    torch.save({"model": sd}, path)
    return path


def test_state_dict_matches_the_baseline_exactly():
    entries = _baseline_entries()
    ours = uniusnet().state_dict()
    assert [(e["key"], tuple(e["shape"]), e["dtype"]) for e in entries] == [
        (k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in ours.items()
    ]
    assert sum(p.numel() for p in uniusnet().parameters()) == 65_044_488


def test_buffers_follow_the_documented_formulas():
    sd = uniusnet().state_dict()
    index = sd["swin.layers.0.blocks.0.attn.relative_position_index"]
    # query (0,0) vs key (6,6): (0-6+6)*13 + (0-6+6) = 0; query (6,6) vs key (0,0): 12*13+12 = 168
    assert index[0, 48] == 0 and index[48, 0] == 168 and index[0, 0] == 84
    mask = sd["swin.layers.0.blocks.1.attn_mask"]
    assert mask.shape == (64, 49, 49) and set(mask.unique().tolist()) == {0.0, -100.0}
    assert (mask[0] == 0).all()  # the top-left window holds one region only


def test_baseline_checkpoint_loads_strictly(baseline_checkpoint):
    model = uniusnet()
    load_checkpoint(model, baseline_checkpoint)
    raw = torch.load(baseline_checkpoint, weights_only=True)["model"]
    assert torch.equal(model.swin.norm.weight, raw["module.swin.norm.weight"])


def test_wrong_shape_or_key_is_named(tmp_path):
    sd = uniusnet_small().state_dict()
    bad = dict(sd)
    bad["swin.norm.weight"] = torch.zeros(7)
    torch.save(bad, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match="swin.norm.weight has shape"):
        load_checkpoint(uniusnet_small(), tmp_path / "shape.pt")
    renamed = {k.replace("swin.norm_task_cls", "swin.norm_cls"): v for k, v in sd.items()}
    torch.save(renamed, tmp_path / "keys.pt")
    with pytest.raises(CheckpointError, match="swin.norm_task_cls"):
        load_checkpoint(uniusnet_small(), tmp_path / "keys.pt")


def test_registry():
    names = {m.name for m in list_models()}
    assert {"uniusnet", "uniusnet-small"} <= names
    model = create_model("uniusnet-small", pretrained=False)
    assert not model.training


def _batch_consistency(run, sample_feeds: dict[str, np.ndarray], other_feeds: dict[str, np.ndarray]) -> None:
    alone = run({k: v[:1] for k, v in sample_feeds.items()})
    for batch in (1, 2, 3):
        feeds = {k: np.concatenate([sample_feeds[k][:1], other_feeds[k][: batch - 1]]) for k in sample_feeds}
        together = run(feeds)
        for name, value in alone.items():
            np.testing.assert_allclose(together[name][:1], value, atol=1e-4, rtol=0, err_msg=f"{name} batch {batch}")


def _check_model(name: str, tmp_path: Path) -> dict:
    loaded = load_model(name)
    spec = loaded.spec
    sample, others = spec.example_feeds(1, seed=5), spec.example_feeds(2, seed=6)

    def torch_run(feeds):
        with torch.inference_mode():
            out = loaded.module(*(torch.from_numpy(feeds[n]) for n in spec.input_names))
        return dict(zip(spec.output_names, (o.numpy() for o in out), strict=True))

    _batch_consistency(torch_run, sample, others)
    report = export_onnx(loaded, tmp_path / f"{name}.onnx")
    with OnnxRuntimeRunner(tmp_path / f"{name}.onnx", threads=2) as ort:
        _batch_consistency(ort.infer, sample, others)
        ref = torch_run(sample)
        got = ort.infer(sample)
        for out in spec.output_names:
            np.testing.assert_allclose(got[out], ref[out], atol=1e-4, rtol=0)
    return report.to_dict()


def test_uniusnet_small_same_outputs_alone_or_batched_in_torch_and_onnx(tmp_path):
    report = _check_model("uniusnet-small", tmp_path)
    assert all(p["ok"] for p in report["parity"])


@pytest.mark.slow  # the full-size model (30 s on 2 cores); uniusnet-small's export is checked above in every run
def test_full_uniusnet_exports_with_parity(tmp_path):
    report = _check_model("uniusnet", tmp_path)
    assert all(p["ok"] for p in report["parity"])
    assert report["size_bytes"] > 250e6  # ~65 M fp32 parameters
    print(f"full uniusnet: export {report['export_time_s']} s, ONNX {report['size_bytes'] / 1e6:.1f} MB")
