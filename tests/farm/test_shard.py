"""Sharded validation over two devices of one profile: the same per-image results and the same report as
one machine, bootstrap intervals included."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from farm_cluster import SCANNER, Farm, _env

pytest.importorskip("ray")


@pytest.mark.slow  # a farm and two full validations (~1.5 min on 2 cores); run with pytest -m slow
def test_validation_sharded_over_two_devices_equals_one_machine(small_phantom, x86_bundle, tmp_path):
    from edgeus.data.defaults import validation_splits
    from edgeus.farm.shard import RunnerRecipe, merge_predictions, predict_shard, shard_batches
    from edgeus.models import model_spec

    spec = model_spec("uniusnet-small")
    samples = validation_splits(small_phantom, spec, True)["internal"]
    candidate = RunnerRecipe(str(x86_bundle / "model"), None, "cpu-x86-scanner", 2)
    # the merge alone: shards of whole batches come back in the original order, every array identical
    local = predict_shard(candidate, spec, samples, 2)
    parts = shard_batches(samples, 2, 2)
    assert len(parts) == 2 and sorted(s.id for p in parts for s in p) == sorted(s.id for s in samples)
    merged = merge_predictions([predict_shard(candidate, spec, p, 2) for p in reversed(parts)], samples)
    assert list(merged) == list(local)
    for key in local:
        assert merged[key].sample_ids == local[key].sample_ids
        for a, b in zip(merged[key].masks + merged[key].probabilities, local[key].masks + local[key].probabilities,
                        strict=True):
            assert np.array_equal(a, b)

    farm = Farm(tmp_path, agents=(("a", SCANNER, "cpu-x86-scanner"),
                                  ("b", {**SCANNER, "name": "scanner-b"}, "cpu-x86-scanner")))
    try:
        args = ["validate", "--target", "cpu-x86-scanner", "--reference", "uniusnet-small", "--candidate",
                str(x86_bundle / "model"), "--data", str(small_phantom), "--threads", "2", "--json", "-"]
        one = subprocess.run([sys.executable, "-m", "edgeus", *args], capture_output=True, text=True, env=_env(),
                             timeout=900)
        sharded = subprocess.run([sys.executable, "-m", "edgeus", *args, "--farm", farm.address], capture_output=True,
                                 text=True, env=_env(), timeout=900)
    finally:
        farm.stop()
    assert one.returncode == sharded.returncode, sharded.stderr
    report_one, report_farm = (json.loads(r.stdout[r.stdout.index('\n{') + 1:]) for r in (one, sharded))
    for split in report_one["splits"]:  # per-task metrics, drops, CIs, states: all equal
        for task, row in report_one["splits"][split]["tasks"].items():
            assert report_farm["splits"][split]["tasks"][task] == row, (split, task)
    assert report_farm["splits"] == report_one["splits"]
