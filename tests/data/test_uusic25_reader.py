from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error
from PIL import Image

from edgeus.contracts.tasks import load_catalog
from edgeus.data.phantom import generate_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.errors import DataError


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean") / "ph"
    generate_phantom(root, per_task=2, seed=1)
    return root


@pytest.fixture
def copy(clean, tmp_path) -> Path:
    dst = tmp_path / "ph"
    shutil.copytree(clean, dst)
    return dst


def test_training_layout_problems_are_named(copy):
    train = copy / "train"
    (train / "segmentation/Spleen/imgs").mkdir(parents=True)
    mask = next((train / "segmentation/Kidney/masks").iterdir())
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(mask)
    (train / "classification/Liver/7").mkdir()
    (train / "classification/Liver/7/x.png").write_bytes(b"")
    broken = next((train / "classification/Appendix/1").iterdir())
    broken.write_bytes(b"garbage")
    ds = read_dataset(train)
    text = "\n".join(ds.problems)
    assert "unknown dataset 'Spleen'" in text
    assert f"{mask.name}: mask is 10x10" in text
    assert "classification/Liver/7: label outside the 2 classes" in text
    assert f"{broken.name}: unreadable image" in text
    with pytest.raises(DataError, match="4 problem"):
        ds.raise_if_problems()


def test_evaluation_records_problems_are_named(copy):
    val = copy / "val"
    records = json.loads((val / "records.json").read_text())
    records[0].update(dataset_name="Spleen", organ="Spleen")
    records[1].update(dataset_name="BUSIS", organ="Breast")  # unknown name, known organ: resolved as the container
    cls = next(r for r in records if r["task"] == "classification")
    cls["class_label_index"] = 9
    (val / "records.json").write_text(json.dumps(records))
    ds = read_dataset(val)
    assert any("unknown dataset 'Spleen'" in p and "organ 'Spleen'" in p for p in ds.problems)
    assert any("class_label_index 9 outside" in p for p in ds.problems)
    assert len(ds.resolved_by_organ) == 1 and "'BUSIS', organ 'Breast' -> Breast/" in ds.resolved_by_organ[0]
    assert not any("BUSIS" in p for p in ds.problems)


def test_missing_task_is_reported_unless_allowed(copy):
    val = copy / "val"
    records = [r for r in json.loads((val / "records.json").read_text()) if r["dataset_name"] != "Cardiac"]
    (val / "records.json").write_text(json.dumps(records))
    ds = read_dataset(val)
    with pytest.raises(DataError, match="Cardiac/segmentation"):
        ds.require_tasks(load_catalog())
    assert ds.require_tasks(load_catalog(), allow_missing=True) == ["Cardiac/segmentation"]


def test_released_inputs_without_labels_read_without_truth(copy):
    val = copy / "val"
    records = json.loads((val / "records.json").read_text())
    for r in records:
        r.update(mask_path_relative=None, mask_name=None, class_label_index=None, class_label_name=None)
    (val / "input.json").write_text(json.dumps(records))
    ds = read_dataset(val, records=val / "input.json")
    assert ds.problems == [] and len(ds.samples) == 20 and not any(s.has_truth for s in ds.samples)


def test_cli_data_check(copy, run_cli):
    code, out, _ = run_cli("data", "check", copy / "val")
    assert code == 0 and "every task present" in out
    shutil.rmtree(copy / "train/classification/Liver")
    code, _, err = run_cli("data", "check", copy / "train")
    assert_one_line_error(code, err, "Liver/classification")
    code, _, err = run_cli("data", "check", copy / "nothing")
    assert_one_line_error(code, err, "does not exist")
