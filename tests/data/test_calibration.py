from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeus.data.calibration import iter_feeds, plan_calibration
from edgeus.data.phantom import generate_phantom
from edgeus.data.uusic25 import read_dataset
from edgeus.errors import DataError
from edgeus.models import model_spec


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cal") / "ph"
    generate_phantom(root, per_task=3, seed=2, splits=("train", "val"))
    return root


@pytest.fixture(scope="module")
def spec():
    return model_spec("uniusnet")


def test_plan_is_stratified_capped_seeded_and_fingerprinted(phantom, spec):
    ds = read_dataset(phantom / "train")
    plan = plan_calibration(ds, spec, per_task=2, max_samples=300, seed=0)
    assert set(plan.coverage.values()) == {2} and len(plan.coverage) == 10
    assert plan_calibration(ds, spec, per_task=2, seed=0).fingerprint == plan.fingerprint
    others = {plan_calibration(ds, spec, per_task=2, seed=s).fingerprint for s in range(1, 6)}
    assert others - {plan.fingerprint}  # another seed draws other samples
    capped = plan_calibration(ds, spec, per_task=3, max_samples=10, seed=0)
    assert len(capped) == 10 and set(capped.coverage.values()) == {1}  # the cap is shared evenly
    record = plan.record()
    assert record["fingerprint"] == plan.fingerprint and record["coverage"] == plan.coverage


def test_feeds_carry_each_samples_own_prompt(phantom, spec):
    ds = read_dataset(phantom / "val")
    plan = plan_calibration(ds, spec, per_task=1)
    catalog = spec.task_catalog()
    for sample, feeds in zip(plan.samples, iter_feeds(plan, spec), strict=True):
        assert feeds["image"].shape == (1, 3, 224, 224) and feeds["image"].dtype == np.float32
        np.testing.assert_array_equal(feeds["prompt"][0], catalog.prompt(sample.task))


def test_missing_task_and_empty_set_are_errors(phantom, spec, tmp_path):
    val = tmp_path / "val"
    shutil.copytree(phantom / "val", val)
    records = json.loads((val / "records.json").read_text())
    (val / "records.json").write_text(json.dumps([r for r in records if r["dataset_name"] != "Liver"]))
    ds = read_dataset(val)
    with pytest.raises(DataError, match="Liver/classification"):
        plan_calibration(ds, spec)
    assert "Liver/classification" not in plan_calibration(ds, spec, allow_missing_tasks=True).coverage
    (val / "records.json").write_text("[]")
    with pytest.raises(DataError, match="empty"):
        plan_calibration(read_dataset(val), spec)


def test_unreadable_and_nan_images_are_rejected_with_their_name(phantom, spec, tmp_path):
    val = tmp_path / "val"
    shutil.copytree(phantom / "val", val)
    records = json.loads((val / "records.json").read_text())
    victim = val / records[0]["img_path_relative"]
    victim.write_bytes(b"not an image")
    with pytest.raises(DataError, match=victim.name):
        plan_calibration(read_dataset(val), spec)

    shutil.rmtree(val)
    shutil.copytree(phantom / "val", val)
    nan_image = np.full((240, 300), 0.5, dtype=np.float32)
    nan_image[10, 10] = np.nan
    tiff = val / "segmentation/Breast/imgs/nan_case.tiff"
    Image.fromarray(nan_image, mode="F").save(tiff)
    first = records[0]
    records.append({**first, "img_path_relative": "segmentation/Breast/imgs/nan_case.tiff", "mask_path_relative": None})
    (val / "records.json").write_text(json.dumps(records))
    plan = plan_calibration(read_dataset(val), spec, per_task=10)
    with pytest.raises(DataError, match="nan_case.tiff: image contains NaN"):
        list(iter_feeds(plan, spec))
