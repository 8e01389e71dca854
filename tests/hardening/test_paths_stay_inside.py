"""Paths that come from data never lead a read or a write outside their root: records JSON, manifests."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import assert_one_line_error, copy_bundle, tree_digest

from edgeus.data.layout import RECORDS_FILE
from edgeus.data.uusic25 import read_dataset


@pytest.fixture
def challenge_input(small_phantom, tmp_path):
    """A private copy of the phantom val split as the container's input, plus a folder beside it."""
    src = small_phantom / "val"
    inp = tmp_path / "input"
    shutil.copytree(src, inp)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(next((inp / "segmentation/Kidney/imgs").iterdir()), outside / "x.png")
    records = json.loads((inp / RECORDS_FILE).read_text())
    seg = next(r for r in records if r["task"] == "segmentation")
    return inp, outside, seg


def _predict(run_cli, bundle, records, inp, tmp_path):
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    return run_cli("uusic25", "predict", bundle, "--input-json", path, "--input-dir", inp, "--output", tmp_path / "out")


@pytest.mark.parametrize("escape", ["../outside/x.png", "{outside}/x.png", "/etc/passwd", "segmentation/../../outside/x.png"])
def test_predict_refuses_records_that_leave_the_input_folder(x86_bundle, challenge_input, tmp_path, run_cli, escape):
    inp, outside, seg = challenge_input
    before = tree_digest(tmp_path)
    record = {**seg, "img_path_relative": escape.format(outside=outside)}
    code, _, err = _predict(run_cli, x86_bundle, [record], inp, tmp_path)
    assert_one_line_error(code, err, "records.json[0]")
    assert "outside" in err or "absolute" in err
    assert not (tmp_path / "out").exists()
    assert tree_digest(tmp_path) == {**before, "records.json": tree_digest(tmp_path)["records.json"]}  # no mask anywhere


def test_predict_refuses_a_symlinked_folder_that_points_outside(x86_bundle, challenge_input, tmp_path, run_cli):
    inp, outside, seg = challenge_input
    os.symlink(outside, inp / "linked")
    code, _, err = _predict(run_cli, x86_bundle, [{**seg, "img_path_relative": "linked/x.png"}], inp, tmp_path)
    assert_one_line_error(code, err, "leads outside")
    assert not (tmp_path / "out").exists() and list(outside.iterdir()) == [outside / "x.png"]


def test_dataset_reader_names_records_that_leave_the_root(challenge_input):
    inp, outside, seg = challenge_input
    records = json.loads((inp / RECORDS_FILE).read_text())
    records[0] = {**records[0], "img_path_relative": "../outside/x.png"}
    records[1] = {**records[1], "img_path_relative": "/etc/passwd"}
    (inp / RECORDS_FILE).write_text(json.dumps(records))
    dataset = read_dataset(inp)
    assert sum("outside" in p or "absolute" in p for p in dataset.problems) == 2
    assert all(s.image_path.resolve().is_relative_to(inp.resolve()) for s in dataset.samples)


def test_manifest_paths_outside_the_bundle_fail_verify_and_pack(x86_bundle, tmp_path, run_cli):
    bundle = copy_bundle(x86_bundle, tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    manifest["files"]["../secret.txt"] = {"sha256": "0" * 64, "bytes": 9}
    manifest["engine"]["model"] = "../secret.txt"
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=1))
    code, _, err = run_cli("verify", bundle)
    assert_one_line_error(code, err, "../secret.txt")
    code, _, err = run_cli("pack", bundle, "-o", tmp_path / "b.tar.gz")
    assert_one_line_error(code, err, "../secret.txt")
    assert not (tmp_path / "b.tar.gz").exists()
    from edgeus.runtime import load
    from edgeus.runtime.manifest import BundleError

    with pytest.raises(BundleError, match="leads outside|not a plain relative"):
        load(bundle)
