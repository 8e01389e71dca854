import io

import numpy as np
import pytest
import scipy.ndimage as ndi
from PIL import Image

from edgeus.contracts.preprocess import Preprocessing, mask_to_original, preprocess, read_image
from edgeus.errors import DataError


def _reference(img: np.ndarray) -> np.ndarray:
    """The baseline's transform, computed independently with scipy: zoom order 1 then centre crop."""
    x = img / 255.0
    f = 224 / min(img.shape[:2])
    z = ndi.zoom(x, (f, f, 1), order=1)
    h, w = z.shape[:2]
    return z[h // 2 - 112:h // 2 + 112, w // 2 - 112:w // 2 + 112].astype(np.float32)


@pytest.mark.parametrize("shape", [(317, 451), (500, 333), (224, 224), (225, 700), (97, 130), (1080, 1920), (443, 587)])
def test_preprocess_matches_scipy_zoom_exactly(shape):
    img = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours = preprocess(img)
    assert ours.shape == (3, 224, 224) and ours.dtype == np.float32
    np.testing.assert_allclose(ours.transpose(1, 2, 0), _reference(img), atol=1e-7, rtol=0)


def test_documented_crop_windows():
    # 317x451 -> 224x319, columns 47..270 kept; a column ramp shows which columns survive.
    img = np.tile(np.arange(451, dtype=np.float64)[None, :, None], (317, 1, 3))
    img = (img / 450 * 255).round().astype(np.uint8)
    out = preprocess(img)
    assert out.shape == (3, 224, 224)
    assert out[0, 0, 0] == pytest.approx(_reference(img)[0, 0, 0], abs=1e-7)


def test_nhwc_and_bgr_variants():
    img = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    nchw = preprocess(img)
    nhwc = preprocess(img, Preprocessing(layout="NHWC"))
    bgr = preprocess(img, Preprocessing(channel_order="BGR"))
    np.testing.assert_array_equal(nhwc, nchw.transpose(1, 2, 0))
    np.testing.assert_array_equal(bgr, nchw[::-1])


def test_mask_postprocessing_is_nearest_to_original_size():
    logits = np.zeros((2, 224, 224), dtype=np.float32)
    logits[1, :112, :] = 1.0  # top half foreground
    mask = mask_to_original(logits, width=451, height=317)
    assert mask.shape == (317, 451) and mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    rows = np.floor(np.arange(317) * (1.0 / (317 / 224))).astype(int)  # OpenCV's nearest
    np.testing.assert_array_equal(mask[:, 0] == 255, rows < 112)


def test_stretch_is_opencvs_nearest_not_the_floor_of_the_ratio():
    """cv2.resize(INTER_NEAREST) maps output pixel x to floor(x * (1 / (n / 224))) in double. Where x * 224 / n
    is a whole number the rounded reciprocal can fall just below it: on a 288-pixel side, pixel 9 (9 * 224 /
    288 = 7 exactly) reads source row 6, not 7. That happens for 340 of the lengths 1-4000 (counted against
    OpenCV 5.1's cv2.resize on every length while writing this), 288, 400, 450, 576 and 800 among them."""
    logits = np.zeros((2, 224, 224), dtype=np.float32)
    logits[1, 7, :] = 1.0  # source row 7 foreground
    mask = mask_to_original(logits, width=224, height=288, mapping="stretch")
    assert mask[9, 0] == 0 and mask[10, 0] == 255  # row 9 reads source row 6; row 10 (7.78) reads 7
    from edgeus.contracts.preprocess import _opencv_nearest

    def naive(n):
        return np.minimum(np.floor(np.arange(n) * (224 / n)).astype(int), 223)

    differ = [n for n in range(1, 4001) if not np.array_equal(_opencv_nearest(n, 224), naive(n))]
    assert len(differ) == 340 and {288, 400, 450, 576, 800} <= set(differ)


def test_mask_postprocessing_matches_opencv_mapping_on_random_labels():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2, 224, 224)).astype(np.float32)
    mask = mask_to_original(logits, width=300, height=500)
    labels = np.argmax(logits, axis=0)
    for y, x in [(0, 0), (499, 299), (250, 150), (123, 77)]:
        assert mask[y, x] == 255 * labels[int(y * (1.0 / (500 / 224))), int(x * (1.0 / (300 / 224)))]


def test_read_image_converts_to_rgb_and_rejects_garbage(tmp_path):
    gray = Image.fromarray(np.full((20, 30), 7, dtype=np.uint8), mode="L")
    buf = io.BytesIO()
    gray.save(buf, format="PNG")
    arr = read_image(buf.getvalue())
    assert arr.shape == (20, 30, 3) and arr.dtype == np.uint8 and (arr == 7).all()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DataError, match="broken.png"):
        read_image(bad)
    with pytest.raises(DataError, match="not found"):
        read_image(tmp_path / "missing.png")


def test_nan_image_is_rejected():
    img = np.zeros((100, 100, 3), dtype=np.float32)
    img[5, 5, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        preprocess(img)


def test_preprocessing_spec_roundtrip_and_rejects_unknown():
    spec = Preprocessing()
    assert Preprocessing.from_dict(spec.to_dict()) == spec
    with pytest.raises(DataError, match="unknown preprocessing keys"):
        Preprocessing.from_dict({**spec.to_dict(), "mean": [0.5]})


def test_uncrop_mapping_inverts_the_preprocessing_geometry():
    from edgeus.evidence.metrics import dice

    h, w = 300, 460
    yy, xx = np.mgrid[:h, :w]
    truth = (((yy - 150) / 80) ** 2 + ((xx - 230) / 60) ** 2 <= 1).astype(np.uint8) * 255
    pre = preprocess(np.repeat(truth[:, :, None], 3, axis=2))[0] > 0.5
    logits = np.stack([~pre, pre]).astype(np.float32)
    back = mask_to_original(logits, w, h, mapping="uncrop")
    assert dice(truth, back) > 0.97
    stretched = mask_to_original(logits, w, h, mapping="stretch")
    assert dice(truth, stretched) < 0.9  # the baseline's stretch misplaces masks on non-square frames
    everything = mask_to_original(np.stack([np.zeros((224, 224)), np.ones((224, 224))]), w, h, mapping="uncrop")
    cols = np.flatnonzero(everything[0])
    assert 0 < cols[0] and cols[-1] < w - 1  # outside the centre crop stays background
    square = mask_to_original(logits, 300, 300, mapping="uncrop")
    assert dice(square, mask_to_original(logits, 300, 300, mapping="stretch")) > 0.99  # same up to rounding


@pytest.mark.parametrize("shape", [(240, 320), (320, 240), (193, 257), (150, 500), (2, 2), (1080, 1920)])
@pytest.mark.parametrize("layout,order", [("NCHW", "RGB"), ("NHWC", "BGR")])
def test_a_grayscale_frame_preprocesses_bit_for_bit_like_its_rgb_copy(shape, layout, order):
    gray = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    spec = Preprocessing(layout=layout, channel_order=order)
    ours = preprocess(gray, spec)
    assert ours.flags.c_contiguous and ours.dtype == np.float32
    assert np.array_equal(ours, preprocess(np.repeat(gray[..., None], 3, axis=2), spec))


def test_read_image_keeps_8_bit_grayscale_as_one_channel_when_asked(tmp_path):
    gray = np.random.default_rng(3).integers(0, 256, (40, 60), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    assert np.array_equal(read_image(tmp_path / "g.png", keep_gray=True), gray)
    assert np.array_equal(read_image(tmp_path / "g.png"), np.repeat(gray[..., None], 3, axis=2))
    Image.fromarray(np.stack([gray] * 3, axis=2), "RGB").save(tmp_path / "c.png")
    assert read_image(tmp_path / "c.png", keep_gray=True).shape == (40, 60, 3)  # colour stays colour


@pytest.mark.parametrize("mapping", ["stretch", "uncrop"])
@pytest.mark.parametrize("classes", [2, 3])
def test_mask_mapping_equals_the_direct_argmax_and_lookup(mapping, classes):
    """The fast path (two-class comparison, cached lookups, one-axis takes) against the definition: argmax > 0,
    then each output pixel's source pixel, background outside the crop; ties go to class 0."""
    from edgeus.contracts.preprocess import _crop_lookup

    rng = np.random.default_rng(classes)
    for h, w in ((240, 320), (320, 240), (150, 500), (224, 224), (7, 3)):
        logits = rng.normal(size=(classes, 224, 224)).astype(np.float32)
        logits[1, :9, :9] = logits[0, :9, :9]  # ties
        labels = (np.argmax(logits, axis=0) > 0).astype(np.uint8) * 255
        if mapping == "stretch":
            rows = np.minimum(np.floor(np.arange(h) * (1.0 / (h / 224))).astype(int), 223)  # cv2.resize nearest
            cols = np.minimum(np.floor(np.arange(w) * (1.0 / (w / 224))).astype(int), 223)
            expected = labels[rows[:, None], cols[None, :]]
        else:
            rows, cols = _crop_lookup(h, min(h, w), 224), _crop_lookup(w, min(h, w), 224)
            expected = labels[np.clip(rows, 0, 223)[:, None], np.clip(cols, 0, 223)[None, :]]
            expected[(rows < 0)[:, None] | (cols < 0)[None, :]] = 0
        for _ in range(2):  # the second call uses the cached lookup
            assert np.array_equal(mask_to_original(logits, w, h, mapping=mapping), expected), (h, w)


def test_a_mask_is_foreground_wherever_any_channel_is_above_zero_whatever_its_depth(tmp_path):
    """The challenge's metrics take mask > 0. A 30 x 40 block (1,200 pixels) drawn in green on RGB, as palette
    index 1 (red in its palette), as 16-bit value 1 and as 8-bit 255: 1,200 foreground pixels each."""
    from edgeus.contracts.preprocess import read_mask

    block = np.zeros((60, 80), dtype=bool)
    block[10:40, 20:60] = True
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[block, 1] = 255
    Image.fromarray(rgb).save(tmp_path / "green.png")
    palette = Image.fromarray(block.astype(np.uint8), mode="P")
    palette.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    palette.save(tmp_path / "palette.png")
    Image.fromarray(block.astype(np.uint16)).save(tmp_path / "sixteen.png")
    Image.fromarray(block.astype(np.uint8) * 255).save(tmp_path / "gray.png")
    for name in ("green", "palette", "sixteen", "gray"):
        mask = read_mask(tmp_path / f"{name}.png")
        assert mask.dtype == np.uint8 and int((mask > 0).sum()) == 1200 and set(np.unique(mask)) == {0, 255}, name
    assert int((read_image(tmp_path / "green.png")[..., 0] > 0).sum()) == 0  # what scoring read before
