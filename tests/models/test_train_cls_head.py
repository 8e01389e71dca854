"""The classification-branch phase trains only that branch: segmentation outputs stay bit-for-bit the same."""

from __future__ import annotations

import json

import numpy as np
import torch

from edgeus.models import WEIGHTS_DIR
from edgeus.models.checkpoint import load_checkpoint
from edgeus.models.uniusnet import SMALL, UniUSNet
from edgeus.training.train_cls_head import train


def test_segmentation_path_is_untouched(tmp_path):
    init = WEIGHTS_DIR / "uniusnet-small-phantom.safetensors"
    out = tmp_path / "phase3.safetensors"
    card = train(init, out, per_task=4, holdout=4, epochs=2, lr=5e-3, batch=8, seed=0, threads=2,
                 select_best=False)
    before, after = UniUSNet(SMALL), UniUSNet(SMALL)
    load_checkpoint(before, init)
    load_checkpoint(after, out)
    changed = {k for k, v in after.state_dict().items() if not torch.equal(v, before.state_dict()[k])}
    assert card["selected_epoch"] == 2
    assert changed and all(k.split(".")[1] in card["trained_modules"] for k in changed)
    image = torch.from_numpy(np.random.default_rng(0).random((2, 3, 224, 224), dtype=np.float32))
    prompt = torch.zeros(2, 15)
    prompt[:, 0] = prompt[:, 8] = prompt[:, 10] = prompt[:, 13] = 1
    with torch.no_grad():
        seg_before, _, _ = before.eval()(image, prompt)
        seg_after, _, _ = after.eval()(image, prompt)
    assert torch.equal(seg_before, seg_after)
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["previous_phase"]["init_sha256"] and set(saved["holdout_auc"]) == {
        "Breast/classification", "Breast_luminal/classification", "Liver/classification", "Appendix/classification"}
