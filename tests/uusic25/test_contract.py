"""The UUSIC25 container contract on a bundle: layout of the output, and scores equal to what validate reported."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_one_line_error
from PIL import Image

from edgeus.data.layout import RECORDS_FILE, mask_path_for


@pytest.fixture(scope="module")
def predicted(x86_bundle, small_phantom, tmp_path_factory):
    out = tmp_path_factory.mktemp("contract") / "output"
    from edgeus.cli import main

    val = small_phantom / "val"
    assert main(["uusic25", "predict", str(x86_bundle), "--input-json", str(val / RECORDS_FILE),
                 "--input-dir", str(val), "--output", str(out)]) == 0
    return out


def test_output_is_what_the_container_writes(predicted, small_phantom):
    records = json.loads((small_phantom / "val" / RECORDS_FILE).read_text())
    classification = json.loads((predicted / "classification.json").read_text())
    for rec in records:
        if rec["task"] == "segmentation":
            mask = np.asarray(Image.open(predicted / mask_path_for(rec["img_path_relative"])))
            assert mask.shape == (rec["img_dimensions"][1], rec["img_dimensions"][0])
            assert set(np.unique(mask)) <= {0, 255} and mask.dtype == np.uint8
        else:
            entry = classification[rec["img_path_relative"]]
            assert set(entry) == {"probability", "prediction"}
            assert len(entry["probability"]) == (4 if rec["dataset_name"] == "Breast_luminal" else 2)
            assert entry["prediction"] == int(np.argmax(entry["probability"]))
    assert len(classification) == sum(r["task"] == "classification" for r in records)


def test_score_reproduces_validate(predicted, small_phantom, x86_bundle, tmp_path, run_cli):
    code, out, _ = run_cli("uusic25", "score", "--pred", predicted, "--truth", small_phantom / "val",
                           "--json", tmp_path / "score.json")
    assert code == 0 and "seg_score" in out
    scores = json.loads((tmp_path / "score.json").read_text())
    validated = json.loads((x86_bundle / "accuracy.json").read_text())["splits"]["internal"]["tasks"]
    assert set(scores["tasks"]) == set(validated)
    for key, task in validated.items():
        for metric, comparison in task["metrics"].items():
            got, want = scores["tasks"][key][metric], comparison["candidate"]
            assert (got is None) == (want is None), (key, metric)
            if want is not None:
                assert got == pytest.approx(want, abs=1e-9), (key, metric)
    comp = scores["components"]
    dsc = [t["dsc"] for t in scores["tasks"].values() if "dsc" in t]
    assert comp["mean_dsc"] == pytest.approx(np.mean(dsc))


def test_contract_bad_input(x86_bundle, small_phantom, tmp_path, run_cli, predicted):
    val = small_phantom / "val"
    records = json.loads((val / RECORDS_FILE).read_text())
    broken = tmp_path / "in"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not an image")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text(json.dumps([{**records[0], "img_path_relative": "x.png"}]))
    code, _, err = run_cli("uusic25", "predict", x86_bundle, "--input-json", bad_json, "--input-dir", broken,
                           "--output", tmp_path / "out")
    assert_one_line_error(code, err, "x.png", "cannot decode image")
    assert not (tmp_path / "out").exists()
    code, _, err = run_cli("uusic25", "predict", x86_bundle, "--input-json", val / RECORDS_FILE, "--input-dir", val,
                           "--output", predicted)
    assert_one_line_error(code, err, "exists", "--force")
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("uusic25", "score", "--pred", tmp_path / "empty", "--truth", val)
    assert_one_line_error(code, err, "prediction missing")


def test_a_record_with_an_organ_the_container_does_not_know_runs_with_its_generic_prompt(x86_bundle, small_phantom,
                                                                                          tmp_path, run_cli):
    """The container prompts an unknown organ with 'indis' / 'organ' and carries on; so does the contract path,
    which writes every output and lists the odd record (it used to abort the whole run, writing nothing)."""
    val = small_phantom / "val"
    records = json.loads((val / RECORDS_FILE).read_text())
    seg = next(r for r in records if r["task"] == "segmentation")
    cls = next(r for r in records if r["task"] == "classification")
    odd = [{**seg, "dataset_name": "SpleenSeg", "organ": "Spleen"}, {**cls, "organ": "Liver"}]
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(odd))
    code, out, err = run_cli("uusic25", "predict", x86_bundle, "--input-json", path, "--input-dir", val,
                             "--output", tmp_path / "out")
    assert code == 0, err
    assert (tmp_path / "out" / mask_path_for(seg["img_path_relative"])).is_file()
    assert cls["img_path_relative"] in json.loads((tmp_path / "out" / "classification.json").read_text())
    assert "2 record(s) prompted by their organ" in out
    assert "organ 'Spleen' unknown to the container" in out and seg["img_path_relative"] in out
