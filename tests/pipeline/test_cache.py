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
