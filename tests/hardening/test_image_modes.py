"""Images are converted explicitly by bit depth and mode: the same mask as their 8-bit RGB conversion,
or a clear refusal; ``data check`` reports the bit depths."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_one_line_error
from PIL import Image

from edgeus.contracts.preprocess import read_image
from edgeus.runtime import load


@pytest.fixture(scope="module")
def scan(small_phantom):
    path = next((small_phantom / "val/segmentation/Kidney/imgs").iterdir())
    return np.asarray(Image.open(path).convert("L"))


def _variants(gray: np.ndarray, folder):
    rgb = np.repeat(gray[..., None], 3, axis=2)
    out = {}
    out["8-bit RGB"] = (Image.fromarray(rgb), rgb)
    out["16-bit gray"] = (Image.fromarray(gray.astype(np.uint16) * 257), rgb)  # x * 257: the exact 16-bit form
    palette = Image.fromarray(gray).convert("P")
    out["palette"] = (palette, np.asarray(palette.convert("RGB")))
    la = Image.fromarray(np.stack([gray, np.full_like(gray, 200)], axis=2), mode="LA")
    out["gray + alpha"] = (la, rgb)
    cmyk = Image.fromarray(rgb).convert("CMYK")
    out["CMYK"] = (cmyk, np.asarray(cmyk.convert("RGB")))
    files = {}
    for name, (image, expected) in out.items():
        path = folder / f"{name.replace(' ', '_')}.{'tiff' if name == 'CMYK' else 'png'}"
        image.save(path)
        files[name] = (path, expected)
    return files


def test_modes_give_the_mask_of_their_8_bit_rgb_conversion(x86_bundle, scan, tmp_path):
    files = _variants(scan, tmp_path)
    with load(x86_bundle) as bundle:
        for name, (path, expected) in files.items():
            assert np.array_equal(read_image(path), expected), name
            mask = bundle.predict(path, "Kidney", "segmentation")
            assert np.array_equal(mask, bundle.predict(expected, "Kidney", "segmentation")), name
    sixteen = read_image(files["16-bit gray"][0])
    assert (sixteen == 255).mean() < 0.5  # not clipped: a 16-bit scan no longer turns white


@pytest.mark.parametrize(("values", "needle"), [(np.full((8, 8), 300.0, np.float32), "expected [0, 1] or [0, 255]"),
                                                (np.full((8, 8), np.nan, np.float32), "NaN or Inf")])
def test_float_images_outside_a_known_range_are_refused(tmp_path, values, needle, x86_bundle, run_cli):
    path = tmp_path / "f.tiff"
    Image.fromarray(values, mode="F").save(path)
    code, _, err = run_cli("run", x86_bundle, path, "--dataset", "Kidney", "-o", tmp_path / "m.png")
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "m.png").exists()


def test_data_check_reports_bit_depths(small_phantom, tmp_path, run_cli):
    import shutil

    data = tmp_path / "val"
    shutil.copytree(small_phantom / "val", data)
    image = next((data / "segmentation/Kidney/imgs").iterdir())
    gray = np.asarray(Image.open(image).convert("L"))
    Image.fromarray(gray.astype(np.uint16) * 257).save(image)
    code, out, _ = run_cli("data", "check", data)
    assert "1 16-bit grayscale (scaled to 8 bits)" in out
