"""``edgeus uusic25 score`` against a direct implementation of the official formulas, on the metric catalogue.

The direct implementation below uses the libraries the challenge's code names (scikit-image boundaries, scipy
distances, scikit-learn with one-hot labels) and pools Breast and Breast_luminal lesion masks as "Breast_all".
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from metric_catalogue import classification_cases, segmentation_cases
from PIL import Image
from scipy.ndimage import distance_transform_edt
from skimage.segmentation import find_boundaries
from sklearn.metrics import roc_auc_score

from edgeus.data.layout import RECORDS_FILE, mask_path_for

SEG_ROWS = ["Breast", "Breast", "Breast", "Breast_luminal", "Breast_luminal", "Thyroid", "Kidney", "Fetal_Head",
            "Cardiac"]
CLS_ROWS = {"Breast": "binary with ties", "Breast_luminal": "4 classes, imbalanced",
            "Liver": "binary, one class present", "Appendix": "binary with ties"}


def official_dsc(t, p):
    t, p = t > 0, p > 0
    return 2 * (t & p).sum() / (t.sum() + p.sum() + 1e-6)


def official_nsd(t, p, tol=1.0):
    bt, bp = find_boundaries(t > 0, mode="inner"), find_boundaries(p > 0, mode="inner")
    dt, dp = distance_transform_edt(~bt), distance_transform_edt(~bp)
    return ((dp[bt] <= tol).sum() + (dt[bp] <= tol).sum()) / (bt.sum() + bp.sum() + 1e-6)


def official_auc(labels, probs):
    labels, probs = np.asarray(labels), np.asarray(probs, dtype=np.float64)
    if len(np.unique(labels)) < probs.shape[1] and probs.shape[1] > 2 or len(np.unique(labels)) < 2:
        return None
    return roc_auc_score(np.eye(probs.shape[1])[labels], probs, multi_class="ovo")  # the baseline's call


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def challenge_folders(tmp_path_factory):
    """A ground-truth evaluation folder and a container output folder built from the catalogue."""
    root = tmp_path_factory.mktemp("official")
    truth, pred = root / "truth", root / "pred"
    records, classification, expected_rows = [], {}, {}
    seg = segmentation_cases()
    for i, dataset in enumerate(SEG_ROWS):
        for j, case in enumerate((seg[(2 * i) % len(seg)], seg[(2 * i + 1) % len(seg)])):
            rel = f"segmentation/{dataset}/imgs/c{i}_{j}.png"
            h, w = case.truth.shape
            _save(truth / rel, np.full((h, w, 3), 90, np.uint8))
            _save(truth / mask_path_for(rel), case.truth)
            _save(pred / mask_path_for(rel), case.pred)
            records.append({"img_path_relative": rel, "task": "segmentation", "dataset_name": dataset,
                            "mask_path_relative": mask_path_for(rel), "img_dimensions": [w, h]})
            score_key = "Breast_all" if dataset.startswith("Breast") else dataset
            expected_rows.setdefault(f"{score_key}/segmentation", []).append((case.truth, case.pred))
    for dataset, name in CLS_ROWS.items():
        case = next(c for c in classification_cases() if c.name == name)
        for k, (label, probs) in enumerate(zip(case.labels, case.probabilities, strict=True)):
            rel = f"classification/{dataset}/imgs/c{k}.png"
            _save(truth / rel, np.full((12, 16, 3), 90, np.uint8))
            records.append({"img_path_relative": rel, "task": "classification", "dataset_name": dataset,
                            "class_label_index": label, "img_dimensions": [16, 12]})
            classification[rel] = {"probability": probs, "prediction": int(np.argmax(probs))}
        expected_rows[f"{dataset}/classification"] = case
    (truth / RECORDS_FILE).write_text(json.dumps(records))
    (pred / "classification.json").write_text(json.dumps(classification))
    return truth, pred, expected_rows


def test_score_equals_the_official_formulas(challenge_folders, run_cli, tmp_path):
    truth, pred, expected = challenge_folders
    code, out, err = run_cli("uusic25", "score", "--pred", pred, "--truth", truth, "--json", tmp_path / "s.json")
    assert code == 0, err
    got = json.loads((tmp_path / "s.json").read_text())
    assert set(got["tasks"]) == set(expected)  # Breast_luminal masks are pooled into Breast_all, not a task
    assert got["tasks"]["Breast_all/segmentation"]["n"] == 10
    dsc, nsd, aucs, accs, binary, subtype = [], [], [], [], [], []
    for key, value in expected.items():
        task = got["tasks"][key]
        if key.endswith("segmentation"):
            want_dsc = np.mean([official_dsc(t, p) for t, p in value])
            want_nsd = np.mean([official_nsd(t, p) for t, p in value])
            assert task["dsc"] == pytest.approx(want_dsc, abs=1e-9), key
            assert task["nsd"] == pytest.approx(want_nsd, abs=1e-9), key
            dsc.append(want_dsc)
            nsd.append(want_nsd)
        else:
            want_auc = official_auc(value.labels, value.probabilities)
            want_acc = np.mean(np.argmax(value.probabilities, 1) == np.array(value.labels))
            assert (task["auc"] is None) == (want_auc is None), key
            if want_auc is not None:
                assert task["auc"] == pytest.approx(want_auc, abs=1e-9), key
                aucs.append((want_auc + want_acc) / 2)
                (subtype if len(value.probabilities[0]) > 2 else binary).append(want_auc)
            assert task["acc"] == pytest.approx(want_acc, abs=1e-9), key
            accs.append(want_acc)
    comp = got["components"]
    assert comp["mean_dsc"] == pytest.approx(np.mean(dsc), abs=1e-9)
    assert comp["mean_nsd"] == pytest.approx(np.mean(nsd), abs=1e-9)
    assert comp["mean_auc_binary"] == pytest.approx(np.mean(binary), abs=1e-9)
    assert comp["mean_auc_subtype"] == pytest.approx(np.mean(subtype), abs=1e-9)
    seg_score = np.mean([(d + n) / 2 for d, n in zip(dsc, nsd, strict=True)])
    assert comp["seg_score"] == pytest.approx(seg_score, abs=1e-9)
    assert comp["cls_score"] == pytest.approx(np.mean(aucs), abs=1e-9)


def test_the_nsd_artefact_is_in_the_score(challenge_folders, run_cli, tmp_path):
    """Breast_all holds 'empty vs one pixel at the corner' (official NSD ~1, clean 0): the score keeps ~1."""
    from edgeus.evidence.metrics import nsd_clean

    truth, pred, expected = challenge_folders
    pairs = expected["Breast_all/segmentation"]
    official = np.mean([official_nsd(t, p) for t, p in pairs])
    clean = np.mean([nsd_clean(t, p) for t, p in pairs])
    assert official - clean > 0.05
    code, _, _ = run_cli("uusic25", "score", "--pred", pred, "--truth", truth, "--json", tmp_path / "s.json")
    got = json.loads((tmp_path / "s.json").read_text())["tasks"]["Breast_all/segmentation"]["nsd"]
    assert code == 0 and got == pytest.approx(official, abs=1e-9)


def test_unknown_dataset_name_resolved_by_organ(challenge_folders, run_cli, tmp_path):
    truth, pred, _ = challenge_folders
    records = json.loads((truth / RECORDS_FILE).read_text())
    renamed = [{**r, "dataset_name": "BUSIS", "organ": "Breast"} if r["dataset_name"] == "Thyroid" else r
               for r in records]
    records_path = tmp_path / "busis.json"
    records_path.write_text(json.dumps(renamed))
    code, out, err = run_cli("uusic25", "score", "--pred", pred, "--truth", truth, "--truth-json", records_path,
                             "--json", tmp_path / "s.json")
    assert code == 0, err
    assert "resolved by organ" in out and "BUSIS" in out
    got = json.loads((tmp_path / "s.json").read_text())["tasks"]
    assert "Thyroid/segmentation" not in got and got["Breast_all/segmentation"]["n"] == 12


def test_classification_entry_without_probability_is_one_line(challenge_folders, run_cli, tmp_path):
    import shutil

    from conftest import assert_one_line_error

    truth, pred, _ = challenge_folders
    broken = tmp_path / "pred"
    shutil.copytree(pred, broken)
    entries = json.loads((broken / "classification.json").read_text())
    first = next(iter(entries))
    entries[first] = {"prediction": 1}
    (broken / "classification.json").write_text(json.dumps(entries))
    code, _, err = run_cli("uusic25", "score", "--pred", broken, "--truth", truth)
    assert_one_line_error(code, err, "probability", first)


def test_score_needs_the_masks_and_records_not_the_images(challenge_folders, run_cli, tmp_path):
    import shutil

    truth, pred, _ = challenge_folders
    bare = tmp_path / "truth"
    shutil.copytree(truth, bare)
    removed = [p for p in bare.rglob("*.png") if "/imgs/" in p.as_posix()]
    for image in removed:
        image.unlink()
    assert removed and not any("/imgs/" in p.as_posix() for p in bare.rglob("*.png"))
    code, _, err = run_cli("uusic25", "score", "--pred", pred, "--truth", bare, "--json", tmp_path / "bare.json")
    assert code == 0, err
    run_cli("uusic25", "score", "--pred", pred, "--truth", truth, "--json", tmp_path / "full.json")
    assert json.loads((tmp_path / "bare.json").read_text()) == json.loads((tmp_path / "full.json").read_text())


def test_a_task_whose_auc_is_undefined_is_named_not_dropped_silently(challenge_folders, run_cli, tmp_path):
    """Liver's truth holds one class: no AUC, so no (AUC + ACC) / 2 in cls_score; its accuracy stays in mean_acc.
    The score says so in its notes and lists the task (it used to leave it out without a word)."""
    truth, pred, _ = challenge_folders
    code, out, _ = run_cli("uusic25", "score", "--pred", pred, "--truth", truth, "--json", tmp_path / "s.json")
    got = json.loads((tmp_path / "s.json").read_text())
    assert code == 0 and got["left_out"] == ["Liver/classification"]
    assert "Liver/classification: AUC undefined" in out and "left out of cls_score" in out
    cls = {k: t for k, t in got["tasks"].items() if "auc" in t}
    assert got["components"]["mean_acc"] == pytest.approx(np.mean([t["acc"] for t in cls.values()]), abs=1e-12)
