"""Each ultrasound shift against its definition: severity 0 is the identity, gain scales as documented, TGC
darkens monotonically with depth, the sector blacks out what lies outside its angle, outputs stay uint8 of the
input's shape, random families repeat for the same image and differ between images."""

from __future__ import annotations

import numpy as np
import pytest

from edgeus.data.shifts import FAMILIES, SEVERITIES, check_shift, shift


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(3)
    gray = rng.integers(20, 200, size=(64, 48), dtype=np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_severity_zero_is_the_identity_and_outputs_stay_uint8(family, image):
    assert np.array_equal(shift(image, family, 0, "a"), image)
    for severity in SEVERITIES[1:]:
        out = shift(image, family, severity, "a")
        assert out.dtype == np.uint8 and out.shape == image.shape
        gray = shift(image[..., 0], family, severity, "a")
        assert gray.shape == image.shape[:2] and gray.dtype == np.uint8
    assert not np.array_equal(shift(image, family, 5, "a"), image)  # the strongest severity changes the image


def test_gain_scales_intensities_as_documented(image):
    for severity in SEVERITIES:
        g = FAMILIES["gain"].values[severity]
        assert np.array_equal(shift(image, "gain", severity), np.clip(np.rint(image * g), 0, 255).astype(np.uint8))
    brighter = shift(image, "gain_up", 5)
    assert brighter.max() == 255 and np.array_equal(brighter, np.clip(np.rint(image * 2.4), 0, 255).astype(np.uint8))


def test_tgc_darkens_monotonically_with_depth():
    flat = np.full((100, 20, 3), 200, dtype=np.uint8)
    out = shift(flat, "tgc", 5)[:, 0, 0].astype(int)
    assert out[0] == 200 and np.all(np.diff(out) <= 0)
    assert out[-1] == round(200 * 10 ** (-18 / 20))  # 18 dB at full depth


def test_sector_keeps_the_centre_and_blacks_out_the_corners(image):
    out = shift(image, "sector", 3)
    assert np.array_equal(out[:, 24], image[:, 24]) and out[0, 0].sum() == 0 and out[0, -1].sum() == 0
    wide = shift(image, "sector", 1)  # 120 degrees keeps more than 80
    assert (wide > 0).sum() > (out > 0).sum()


def test_contrast_and_resolution_and_jpeg_and_blur_follow_their_formulas(image):
    assert np.array_equal(shift(image, "contrast", 2),
                          np.clip(np.rint(255 - (255 - image.astype(float)) * 0.7), 0, 255).astype(np.uint8))
    flat = np.full((32, 32, 3), 90, dtype=np.uint8)
    for family in ("resolution", "motion_blur"):
        assert np.abs(shift(flat, family, 5).astype(int) - 90).max() <= 1  # a flat image stays flat
    jpeg = shift(flat, "jpeg", 5).astype(int)  # quality 7 quantises the DC term: flat, a few levels off
    assert jpeg.std() == 0 and abs(jpeg.mean() - 90) <= 8
    edge = np.zeros((8, 32, 3), dtype=np.uint8)
    edge[:, 16:] = 200
    blurred = shift(edge, "motion_blur", 2)[0, :, 0].astype(int)  # 5-pixel average across the edge
    assert blurred[13] == 0 and blurred[14] == 40 and blurred[16] == 120 and blurred[18] == 200


def test_speckle_repeats_for_an_image_and_differs_between_images(image):
    assert np.array_equal(shift(image, "speckle", 3, "x"), shift(image, "speckle", 3, "x"))
    assert not np.array_equal(shift(image, "speckle", 3, "x"), shift(image, "speckle", 3, "y"))


@pytest.mark.parametrize("family, severity, needle", [
    ("glare", 1, "unknown shift family 'glare'"), ("gain", -1, "a whole number 0..5"), ("gain", 6, "0..5"),
    ("gain", 1.5, "0..5"), ("gain", True, "0..5")])
def test_unknown_families_and_severities_are_refused(family, severity, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        check_shift(family, severity)


def test_only_the_uint8_image_the_model_reads_is_taken():
    with pytest.raises(ValueError, match="uint8"):
        shift(np.zeros((4, 4), dtype=np.uint16), "gain", 1)
