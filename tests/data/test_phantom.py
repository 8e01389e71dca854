from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgeus.contracts.tasks import load_catalog
from edgeus.data.phantom import generate_phantom, render_sample
from edgeus.data.phantom_scenes import make_scene
from edgeus.data.phantom_sim import INTERNAL, simulate
from edgeus.data.uusic25 import read_dataset
from edgeus.errors import OutputExistsError


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ph") / "phantom"
    generate_phantom(root, per_task=2, seed=7)
    return root


def test_same_seed_same_bytes_other_seed_other_bytes(phantom, tmp_path):
    again = tmp_path / "again"
    generate_phantom(again, per_task=2, seed=7)
    assert _digest(phantom) == _digest(again)
    other = tmp_path / "other"
    generate_phantom(other, per_task=2, seed=8, splits=("val",))
    assert _digest(other)["val/records.json"] != _digest(phantom)["val/records.json"]


def test_roundtrip_every_task_populated_in_every_split(phantom):
    catalog = load_catalog()
    for split in ("train", "val", "external"):
        ds = read_dataset(phantom / split)
        assert ds.problems == []
        assert ds.require_tasks(catalog) == []
        assert set(ds.coverage().values()) == {2}
        assert all(s.has_truth for s in ds.samples)
    groups = {s.group for s in read_dataset(phantom / "external").samples}
    assert groups == {"external"}
    train = read_dataset(phantom / "train")
    assert train.layout == "training"
    assert (phantom / "train/segmentation/Thyroid/config.yaml").read_text().startswith("0:background:0\n1:nodule:255")


def test_records_follow_the_challenge_schema(phantom):
    records = json.loads((phantom / "val/records.json").read_text())
    fields = {"img_name", "img_path_relative", "img_size_bytes", "img_dimensions", "img_format", "task",
              "dataset_name", "organ", "data_partition_group", "mask_name", "mask_path_relative",
              "seg_target_info", "class_label_index", "class_label_name"}
    for r in records:
        assert set(r) == fields
        assert (phantom / "val" / r["img_path_relative"]).stat().st_size == r["img_size_bytes"]
        if r["task"] == "segmentation":
            assert r["mask_path_relative"] == r["img_path_relative"].replace("img", "mask")


def _scene_image(dataset, kind, label, seed=3, domain=INTERNAL):
    rng = np.random.default_rng(seed)
    scene = make_scene(dataset, kind, rng, label)
    image, mask = simulate(scene, rng, domain)
    return scene, image.astype(float), mask


def test_fan_shaped_field_of_view_is_black_outside():
    _, image, _ = _scene_image("Cardiac", "segmentation", None)
    h, w = image.shape
    assert image[h - 1, 0] == 0 and image[h - 1, w - 1] == 0  # sector: bottom corners outside the fan
    assert image[int(0.15 * h):int(0.25 * h), w // 2 - 10:w // 2 + 10].mean() > 20  # tissue near the probe


def test_speckle_is_multiplicative_and_grainy():
    _, image, mask = _scene_image("Kidney", "segmentation", None)
    tissue = image[image > 0]
    assert tissue.std() > 10  # speckle, not flat shading
    # neighbouring pixels correlate (speckle grains span several pixels) but far ones do not
    row = image[image.shape[0] // 2, 40:-40]
    near = np.corrcoef(row[:-1], row[1:])[0, 1]
    far = np.corrcoef(row[:-30], row[30:])[0, 1]
    assert near > 0.3 and abs(far) < near


def _below_vs_beside(image, mask):
    ys, xs = np.nonzero(mask)
    bottom, left, right = ys.max(), xs.min(), xs.max()
    below = image[bottom + 5:bottom + 40, left + (right - left) // 4:right - (right - left) // 4]
    beside = image[bottom + 5:bottom + 40, max(0, left - 60):left - 20]
    return below[below > 0].mean(), beside[beside > 0].mean()


def test_malignant_lesions_shadow_and_benign_ones_enhance():
    ratios = {0: [], 1: []}
    for label in (0, 1):
        for seed in range(6):
            _, image, mask = _scene_image("Breast", "classification", label, seed=seed)
            below, beside = _below_vs_beside(image, mask)
            ratios[label].append(below / beside)
    assert np.mean(ratios[1]) < 0.9 < np.mean(ratios[0])


def test_fatty_liver_is_brighter_near_and_darker_deep():
    def profile(label):
        near, deep = [], []
        for seed in range(4):
            _, image, _ = _scene_image("Liver", "classification", label, seed=seed)
            h = image.shape[0]
            c = image[:, image.shape[1] // 3: 2 * image.shape[1] // 3]
            near.append(c[int(0.14 * h):int(0.24 * h)].mean())
            deep.append(c[int(0.8 * h):int(0.95 * h)].mean())
        return np.mean(near), np.mean(deep)

    normal_near, normal_deep = profile(0)
    fatty_near, fatty_deep = profile(1)
    assert fatty_near > normal_near
    assert fatty_near - fatty_deep > 2 * (normal_near - normal_deep)


def test_external_centre_is_shifted():
    task = load_catalog().task("Kidney", "segmentation")
    internal = [render_sample(task, 5, "val", i, 0)[0] for i in range(4)]
    external = [render_sample(task, 5, "external", i, 0)[0] for i in range(4)]
    mean_in = np.mean([im[im > 0].mean() for im in internal])
    mean_ex = np.mean([im[im > 0].mean() for im in external])
    assert mean_ex > mean_in + 10  # higher gain at the other centre


def test_existing_output_needs_force(tmp_path, run_cli):
    out = tmp_path / "ph"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(OutputExistsError):
        generate_phantom(out, per_task=1)
    code, _, err = run_cli("data", "phantom", out, "--per-task", "1")
    assert_one_line_error(code, err, "--force")
    assert (out / "keep.txt").read_text() == "x"
    code, _, err = run_cli("data", "phantom", out, "--per-task", "1", "--splits", "val", "--force")
    assert code == 0, err
    assert not (out / "keep.txt").exists() and (out / "val/records.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["ph"]  # no temporary folders left
