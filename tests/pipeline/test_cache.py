"""The content-addressed stage cache (edgeus/pipeline/cache.py): keys, reuse, failure, partial clean-up."""

from __future__ import annotations

import json

import pytest

from edgeus.pipeline.cache import content_key, run_stage


def test_content_key_is_stable_and_sensitive():
    a = content_key("export", {"b": 1, "a": [1, 2]}, 3)
    assert a == content_key("export", {"a": [1, 2], "b": 1}, 3)  # dict order does not matter
    assert a != content_key("export", {"a": [1, 2], "b": 2}, 3) and len(a) == 16


def test_a_finished_stage_is_reused_and_a_failed_one_leaves_nothing(tmp_path):
    calls = []

    def work(tmp):
        calls.append(tmp)
        (tmp / "out.txt").write_text("result")
        return {"stage": "demo"}

    first = run_stage(tmp_path, "demo", "k1", work)
    again = run_stage(tmp_path, "demo", "k1", work)
    assert not first.cached and again.cached and len(calls) == 1
    assert json.loads((first.path / "stage.json").read_text()) == {"stage": "demo"}

    def broken(tmp):
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("stage crashed")

    with pytest.raises(RuntimeError):
        run_stage(tmp_path, "demo", "k2", broken)
    assert not (tmp_path / "demo-k2").exists() and not list(tmp_path.glob(".demo-k2-*"))
    # a folder without stage.json (a stage killed before it finished writing) is redone, not trusted
    (tmp_path / "demo-k3").mkdir()
    redone = run_stage(tmp_path, "demo", "k3", work)
    assert not redone.cached and (redone.path / "out.txt").read_text() == "result"


def test_cache_info_prune_and_clean(tmp_path, run_cli):
    """`edgeus cache`: sizes per stage kind, prune by last use (a reuse counts as a use), clean all; a running
    build's lock keeps them away."""
    import json
    import os
    import time

    from edgeus.pipeline.cache import run_stage

    stages = tmp_path / ".edgeus-cache"
    for name, key, size in (("export", "a1", 3000), ("quantize", "b2", 1000), ("quantize", "c3", 500)):
        run_stage(stages, name, key, lambda tmp, size=size: (tmp / "blob").write_bytes(b"x" * size) and {})
    old = time.time() - 10 * 86400
    os.utime(stages / "quantize-b2" / "stage.json", (old, old))
    os.utime(stages / "export-a1" / "stage.json", (old, old))
    run_stage(stages, "export", "a1", lambda tmp: {})  # reused now: no longer old
    code, out, err = run_cli("cache", "info", "-o", tmp_path, "--json", "-")
    usage = json.loads(out)
    assert code == 0 and [(k["kind"], k["stages"]) for k in usage["kinds"]] == [("export", 1), ("quantize", 2)]
    assert "3 stages" in err
    code, _, err = run_cli("cache", "prune", "-o", tmp_path)
    assert code == 64 and "--older-than" in err
    code, out, _ = run_cli("cache", "prune", "-o", tmp_path, "--older-than", "7")
    assert code == 0 and "removed 1 stage(s)" in out and not (stages / "quantize-b2").exists()
    assert (stages / "export-a1").exists() and (stages / "quantize-c3").exists()
    code, out, _ = run_cli("cache", "clean", "-o", tmp_path)
    assert code == 0 and "removed" in out and not stages.exists()
