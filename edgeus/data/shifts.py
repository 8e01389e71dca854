"""Ultrasound shifts: what another scanner, another operator or another export does to a B-mode image, as
image transforms with severities 0 (none) to 5.

Each family is a formula on the uint8 image as the model reads it (``contracts/preprocess.read_image``: 8-bit
RGB, 16-bit grayscale scaled by 255/65535, float in [0, 1] or [0, 255]; anything else is refused, never
clipped). The same formula runs on each channel (B-mode images are gray in three equal channels). Results are
rounded to the nearest integer and saturate at 0 and 255, the way a scanner's display mapping does; severity
0 returns the input unchanged (the same array values). Random families (speckle) draw from a generator seeded
by the image's id, the family and the severity: both models of a comparison see the same draw.

Severities follow MedMNIST-C's BreastMNIST (ultrasound) corruptions where a family exists there (Di Salvo et
al., "MedMNIST-C", arXiv 2406.17536: brightness, contrast, speckle, JPEG, pixelate, motion blur); the
ultrasound-physics families (time-gain compensation / depth attenuation, probe sector geometry) use the
ranges of the acoustics: soft tissue attenuates about 0.5 dB/cm/MHz, so a TGC set for a shallower or softer
medium leaves 3-18 dB uncorrected over a 4-8 cm image at 3-5 MHz; convex and phased probes image a 60-120
degree sector. (Packages that ship such transforms were checked: MedMNIST-C pins scikit-image 0.23, needs
torchvision, OpenCV and ImageMagick; usaugment needs albumentations and OpenCV and transforms inside a known
scan cone. Neither fits a torch-free, OpenCV-free install: these use numpy, scipy.ndimage and Pillow.)
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

import numpy as np

from edgeus.contracts.kinds import ShiftFamily

SEVERITIES = (0, 1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Family:
    name: str
    parameter: str                        # what the severity sets, in words with its unit
    values: tuple                         # the parameter at severities 0..5 (0: the identity)
    formula: str                          # what the transform computes
    apply: Callable[[np.ndarray, object, np.random.Generator], np.ndarray]  # float image, parameter, rng


def _gain(img: np.ndarray, g: float, rng) -> np.ndarray:
    return img * g


def _contrast(img: np.ndarray, r: float, rng) -> np.ndarray:
    # log-compressed display: a wider dynamic range (r = DR_before / DR_after < 1) lifts the dark end
    return 255.0 - (255.0 - img) * r


def _tgc(img: np.ndarray, db: float, rng) -> np.ndarray:
    depth = np.linspace(0.0, 1.0, img.shape[0])[:, None, None]
    return img * 10.0 ** (-db * depth / 20.0)


def _speckle(img: np.ndarray, p: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    sigma, size = p
    noise = rng.standard_normal(img.shape[:2])
    if size > 0:
        noise = gaussian_filter(noise, size)
        noise /= max(float(noise.std()), 1e-12)  # unit variance whatever the grain size
    return img * (1.0 + sigma * noise[..., None])


def _sector(img: np.ndarray, degrees: float, rng) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    # apex a tenth of the height above the top centre, as on a convex or phased probe's display
    angle = np.degrees(np.arctan2(np.abs(x - (w - 1) / 2.0), y + 0.1 * h))
    return img * (angle <= degrees / 2.0)[..., None]


def _resolution(img: np.ndarray, f: float, rng) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    small = (max(1, round(w * f)), max(1, round(h * f)))
    channels = [np.asarray(Image.fromarray(np.clip(np.rint(img[..., c]), 0, 255).astype(np.uint8))
                           .resize(small, Image.BOX).resize((w, h), Image.BILINEAR), dtype=np.float64)
                for c in range(img.shape[2])]
    return np.stack(channels, axis=2)


def _jpeg(img: np.ndarray, quality: int, rng) -> np.ndarray:
    from PIL import Image

    pixels = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    gray = pixels.shape[2] == 1
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if gray else pixels).save(buffer, "JPEG", quality=quality)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L" if gray else "RGB"), dtype=np.float64)
    return decoded[..., None] if gray else decoded


def _motion(img: np.ndarray, length: int, rng) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    return uniform_filter1d(img, size=length, axis=1, mode="nearest")  # lateral probe motion


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("gain", "overall gain factor (darker)", (1.0, 0.7, 0.55, 0.45, 0.35, 0.25), "I * g", _gain),
    Family("gain_up", "overall gain factor (brighter)", (1.0, 1.3, 1.5, 1.7, 2.0, 2.4), "I * g", _gain),
    Family("contrast", "dynamic-range ratio DR_before / DR_after", (1.0, 0.85, 0.7, 0.55, 0.45, 0.35),
           "255 - (255 - I) * r", _contrast),
    Family("tgc", "uncorrected attenuation at full depth (dB)", (0.0, 3.0, 6.0, 9.0, 12.0, 18.0),
           "I * 10^(-a * depth / 20), depth 0 at the top row, 1 at the bottom", _tgc),
    Family("speckle", "(multiplicative sigma, grain size in pixels)",
           ((0.0, 0.0), (0.10, 0.5), (0.15, 1.0), (0.20, 1.5), (0.25, 2.0), (0.30, 2.5)),
           "I * (1 + sigma * n), n Gaussian noise smoothed by a Gaussian of the grain size, unit variance", _speckle),
    Family("sector", "field of view of a sector probe (degrees)", (360.0, 120.0, 100.0, 80.0, 65.0, 50.0),
           "I outside the sector (apex 0.1 H above the top centre) set to 0", _sector),
    Family("resolution", "downsampling factor", (1.0, 0.75, 0.5, 0.35, 0.25, 0.15),
           "box-filter down by f, bilinear back up (Pillow)", _resolution),
    Family("jpeg", "JPEG quality", (None, 50, 30, 15, 10, 7), "JPEG encode at quality q and decode (Pillow)", _jpeg),
    Family("motion_blur", "lateral blur length (pixels)", (1, 3, 5, 9, 13, 17),
           "moving average of L pixels along each row (scipy.ndimage.uniform_filter1d)", _motion),
)}


assert set(FAMILIES) == set(get_args(ShiftFamily)), "data/shifts.py and contracts/kinds.ShiftFamily disagree"


def check_shift(family: str, severity: int) -> None:
    if family not in FAMILIES:
        raise ValueError(f"unknown shift family {family!r}; known: {', '.join(FAMILIES)}")
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise ValueError(f"severity {severity!r} of {family}: a whole number 0..5")


def _rng(image_id: str, family: str, severity: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{image_id}|{family}|{severity}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def shift(image: np.ndarray, family: str, severity: int, image_id: str = "") -> np.ndarray:
    """The image (uint8, H x W or H x W x 3) under ``family`` at ``severity``: uint8 of the same shape."""
    check_shift(family, severity)
    if image.dtype != np.uint8:
        raise ValueError(f"shifts take the uint8 image the model reads (read_image), not {image.dtype}")
    if severity == 0:
        return image.copy()
    f = FAMILIES[family]
    gray = image.ndim == 2
    values = image[..., None] if gray else image
    out = f.apply(values.astype(np.float64), f.values[severity], _rng(image_id, family, severity))
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out[..., 0] if gray else out
