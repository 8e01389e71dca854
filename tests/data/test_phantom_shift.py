"""Shifts the phantom generates natively: the same scenes acquired with other scanner settings, each setting
moving the image the way its physics says (data/phantom_shift.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import assert_one_line_error

from edgeus.contracts.tasks import load_catalog
from edgeus.data.phantom import generate_phantom, render_sample
from edgeus.data.phantom_shift import NATIVE, parse_shifts, shifted_domain
from edgeus.data.phantom_sim import INTERNAL

CATALOG = load_catalog()
ROW = next(i for i, t in enumerate(CATALOG.tasks) if t.key == "Thyroid/segmentation")  # a linear probe


def _render(shift: dict, index: int = 0, row: int = ROW) -> np.ndarray:
    return render_sample(CATALOG.tasks[row], row, "val", index, 3, shifted_domain(INTERNAL, shift))[0].astype(float)


def test_no_shift_is_the_split_itself():
    assert shifted_domain(INTERNAL, {}) == INTERNAL
    assert shifted_domain(INTERNAL, {"gain": 0, "sector": 0}) == INTERNAL
    assert np.array_equal(_render({}), render_sample(CATALOG.tasks[ROW], ROW, "val", 0, 3)[0])


@pytest.mark.parametrize(("family", "severity"), [("gain_up", 2), ("gain", 3)])
def test_gain_moves_every_unsaturated_grey_level_by_db_over_dynamic_range(family, severity):
    clean, shifted = _render({}), _render({family: severity})
    db = NATIVE[family][1][severity]
    inside = (clean > 5) & (clean < 250) & (shifted > 5) & (shifted < 250)
    # the same speckle and noise draws: the difference is the gain alone, within rounding
    assert abs(np.median(shifted[inside] - clean[inside]) - db / INTERNAL.dynamic_range_db * 255) < 1.0
    assert inside.mean() > 0.3


def test_a_wider_dynamic_range_compresses_contrast_towards_white():
    clean, wide = _render({}), _render({"contrast": 4})
    inside = clean > 5
    assert wide[inside].std() < 0.8 * clean[inside].std() and wide[inside].mean() > clean[inside].mean()


def test_uncorrected_attenuation_darkens_deep_rows_more_than_shallow_ones():
    clean, tgc = _render({}), _render({"tgc": 5})
    h = clean.shape[0]
    loss = [np.mean(clean[a:b] - tgc[a:b]) for a, b in ((h // 10, 3 * h // 10), (4 * h // 10, 6 * h // 10),
                                                        (7 * h // 10, 9 * h // 10))]
    assert 0 <= loss[0] < loss[1] < loss[2]


def test_coarser_speckle_has_a_longer_lateral_correlation():
    def lateral_correlation(img):
        rows = img[img.shape[0] // 3: 2 * img.shape[0] // 3, img.shape[1] // 3: 2 * img.shape[1] // 3]
        a, b = rows[:, :-3].ravel(), rows[:, 3:].ravel()
        return np.corrcoef(a, b)[0, 1]

    assert lateral_correlation(_render({"speckle": 5})) > lateral_correlation(_render({})) + 0.05


def test_a_sector_probe_blacks_out_the_top_corners_of_a_linear_scene():
    clean, sector = _render({}), _render({"sector": 4})
    h, w = clean.shape
    corner = (slice(h // 8, h // 4), slice(0, w // 8))
    assert clean[corner].mean() > 20 and sector[corner].max() == 0


def test_generated_split_records_its_shift_and_keeps_its_scenes(tmp_path):
    generate_phantom(tmp_path / "a", per_task=1, seed=2, splits=("val",), shift={"gain_up": 3})
    meta = json.loads((tmp_path / "a/phantom.json").read_text())
    assert meta["shift"] == {"gain_up": 3}
    records = json.loads((tmp_path / "a/val/records.json").read_text())
    assert len(records) == len(CATALOG.tasks)


@pytest.mark.parametrize(("text", "needle"), [("jpeg=2", "image transform"), ("gain=9", "0..5"),
                                              ("brightness=1", "unknown shift family"), ("gain", "FAMILY=SEVERITY"),
                                              ("gain=-1", "0..5")])
def test_shifts_the_phantom_cannot_acquire_are_refused(text, needle):
    with pytest.raises(ValueError, match=needle):
        parse_shifts(text)


def test_the_cli_refuses_a_bad_shift_in_one_line_and_writes_nothing(tmp_path, run_cli):
    code, _, err = run_cli("data", "phantom", tmp_path / "p", "--per-task", "1", "--shift", "motion_blur=2")
    assert_one_line_error(code, err, "--shift", "motion_blur")
    assert not (tmp_path / "p").exists()
    code, out, _ = run_cli("data", "phantom", tmp_path / "q", "--per-task", "1", "--splits", "val",
                           "--shift", "gain=2,speckle=1")
    assert code == 0 and "acquired under gain severity 2, speckle severity 1" in out
