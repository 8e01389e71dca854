"""The one pre- and postprocessing implementation (numpy + Pillow only).

Calibration, validation, profiling and the vendor runtime all call these functions, so a model is
calibrated on exactly the pixels it will see on the device. It reproduces the UUSIC25 baseline:

* PIL ``convert('RGB')``, /255 in float64;
* scale both spatial axes by ``size / min(H, W)`` with corner-aligned linear interpolation (what
  ``scipy.ndimage.zoom(order=1)`` does: output pixel i samples input i*(in-1)/(out-1)), output size
  ``round(in * factor)``;
* centre crop ``size x size`` starting at ``dim // 2 - size // 2``; float32.

Only the cropped window is interpolated, which gives the same numbers as zooming the whole frame and
cropping afterwards, at a fraction of the cost for large frames.
"""

from __future__ import annotations

import functools
import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from edgeus.errors import DataError


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's image tensor. Stored in every bundle manifest."""

    size: int = 224
    resize: str = "shorter_side_corner_aligned_linear"
    crop: str = "center"
    scale: float = 1.0 / 255.0
    channel_order: str = "RGB"
    layout: str = "NCHW"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessing:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise DataError(f"unknown preprocessing keys: {', '.join(sorted(unknown))}")
        spec = cls(**data)
        if spec.resize != cls.resize or spec.crop != cls.crop:
            raise DataError(f"unsupported preprocessing resize={spec.resize!r} crop={spec.crop!r}")
        if spec.channel_order not in ("RGB", "BGR") or spec.layout not in ("NCHW", "NHWC"):
            raise DataError(f"unsupported channel order/layout {spec.channel_order}/{spec.layout}")
        return spec


# Pillow modes whose conversion to 8-bit RGB is exact and standard (palette lookup, alpha dropped, gray
# replicated, CMYK/YCbCr by Pillow's formulas): the same pixels a user gets converting the file to 8-bit RGB.
EIGHT_BIT_MODES = {"RGB", "L", "P", "PA", "LA", "RGBA", "RGBX", "1", "CMYK", "YCbCr", "La", "RGBa"}
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}


def describe_mode(mode: str) -> str:
    """What a Pillow mode means for the model input, in words (``edgeus data check`` tallies these)."""
    if mode in SIXTEEN_BIT_MODES:
        return "16-bit grayscale (scaled to 8 bits)"
    if mode == "F":
        return "32-bit float grayscale (scaled to 8 bits)"
    if mode in EIGHT_BIT_MODES:
        return f"8-bit {mode}" + ("" if mode in ("RGB", "L") else " (converted to RGB)")
    return f"mode {mode} (refused)"


def to_rgb8(img: Image.Image, label: str) -> np.ndarray:
    """uint8 H x W x 3 RGB from any supported mode, converted by bit depth, never clipped.

    16-bit grayscale is scaled by 255/65535 (rounded), so a 16-bit image made from an 8-bit one (x * 257)
    comes back exactly; Pillow's own ``convert('RGB')`` would clip everything above 255 to white. Float images
    are accepted in [0, 1] or [0, 255]; anything else is refused with the reason."""
    mode = img.mode
    if mode in EIGHT_BIT_MODES:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    if mode in SIXTEEN_BIT_MODES:
        values = np.asarray(img).astype(np.int64)
        if values.min() < 0 or values.max() > 65535:
            raise DataError(f"{label}: {mode} image with values outside 0..65535; cannot map it to 8 bits")
        gray = np.rint(values * (255.0 / 65535.0)).astype(np.uint8)
    elif mode == "F":
        values = np.asarray(img, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise DataError(f"{label}: image contains NaN or Inf pixel values")
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 255:
            raise DataError(f"{label}: float image with values in [{low:g}, {high:g}]; expected [0, 1] or [0, 255]")
        gray = np.rint(values * (255.0 if high <= 1.0 else 1.0)).astype(np.uint8)
    else:
        raise DataError(f"{label}: unsupported image mode {mode!r}; convert it to 8-bit RGB or grayscale")
    return np.repeat(gray[..., None], 3, axis=2)


def read_image(source: str | Path | bytes, name: str | None = None, keep_gray: bool = False) -> np.ndarray:
    """Decode an image file to uint8 H x W x 3 RGB (``to_rgb8``); a file that cannot be decoded, or one
    beyond Pillow's decompression-bomb limit, is a DataError. ``keep_gray``: an 8-bit grayscale file (most
    ultrasound) comes back H x W, which ``preprocess`` reads as the same gray in all three channels (the same
    numbers, a third of the work)."""
    label = name or str(source if not isinstance(source, bytes) else "<bytes>")
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
            img.load()
            if keep_gray and img.mode == "L":
                return np.asarray(img, dtype=np.uint8)
            return to_rgb8(img, label)
    except FileNotFoundError:
        raise DataError(f"{label}: image file not found") from None
    except Image.DecompressionBombError as exc:
        raise DataError(f"{label}: image too large to decode safely ({str(exc).split('.')[0]})") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{label}: cannot decode image ({exc.__class__.__name__}); is it a PNG/JPEG/BMP?") from None


def read_mask(source: str | Path, name: str | None = None) -> np.ndarray:
    """A segmentation mask file as uint8 H x W, 255 where it marks foreground: a value above 0 in any colour
    channel of the file's own values (8- or 16-bit grey, RGB or RGBA's colour, a palette's colour), since the
    challenge's metrics take ``mask > 0``. Not ``read_image``: its 16-bit scaling reads a label of 1 as 0, and
    the first channel of a mask drawn in green is empty."""
    label = name or str(source)
    try:
        with Image.open(source) as img:
            img.load()
            if img.mode in ("1", "L", "I", "F") or img.mode in SIXTEEN_BIT_MODES:
                values = np.asarray(img)
            elif img.mode in EIGHT_BIT_MODES:
                values = np.asarray(img.convert("RGB"))  # palette -> its colours; alpha dropped
            else:
                raise DataError(f"{label}: unsupported mask mode {img.mode!r}")
    except FileNotFoundError:
        raise DataError(f"{label}: mask file not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{label}: cannot decode mask ({exc.__class__.__name__})") from None
    foreground = values > 0 if values.ndim == 2 else (values > 0).any(axis=2)
    return foreground.view(np.uint8) * np.uint8(255)


def _linear_taps(n_in: int, n_out: int, start: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices and weights of corner-aligned linear interpolation for output pixels start..start+count-1."""
    step = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    coords = np.arange(start, start + count, dtype=np.float64) * step
    lo = np.floor(coords).astype(np.int64)
    lo = np.clip(lo, 0, n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = coords - lo
    return lo, hi, frac


@functools.lru_cache(maxsize=1024)  # a few KiB each; a test set has a few hundred sizes
def _crop_taps(h: int, w: int, size: int) -> tuple[tuple, tuple]:
    """Rows and columns of the crop: (low index, high index, weight of low, weight of high), shaped to
    broadcast over H x W x C. A stream repeats one frame size: computed once."""
    factor = size / min(h, w)
    out_h, out_w = _scaled_size(h, factor), _scaled_size(w, factor)
    top, left = out_h // 2 - size // 2, out_w // 2 - size // 2
    r_lo, r_hi, r_frac = _linear_taps(h, out_h, top, size)
    c_lo, c_hi, c_frac = _linear_taps(w, out_w, left, size)
    taps = ((r_lo, r_hi, (1.0 - r_frac)[:, None, None], r_frac[:, None, None]),
            (c_lo, c_hi, (1.0 - c_frac)[None, :, None], c_frac[None, :, None]))
    for axis in taps:
        for array in axis:
            array.flags.writeable = False  # shared by every call through the cache
    return taps


def _scaled_size(n: int, factor: float) -> int:
    # scipy.ndimage.zoom sizes its output with Python's round(); keep the same (banker's) rounding.
    return int(round(n * factor))


def preprocess(image: np.ndarray, spec: Preprocessing = Preprocessing()) -> np.ndarray:
    """uint8 H x W x 3 -> float32 3 x size x size (NCHW without the batch) or size x size x 3 (NHWC).

    An H x W array is grayscale: the result equals that of its three-channel copy, bit for bit (each channel
    is interpolated on its own, so one channel is computed and repeated)."""
    gray = image.ndim == 2
    if gray:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in ((1, 3) if gray else (3,)):
        raise DataError(f"expected an H x W x 3 image, got shape {image.shape}")
    h, w = image.shape[:2]
    if min(h, w) < 2:
        raise DataError(f"image of {w}x{h} pixels is too small to preprocess")
    if image.dtype != np.uint8 and not np.all(np.isfinite(image)):
        raise DataError("image contains NaN or Inf values")
    (r_lo, r_hi, r_keep, r_frac), (c_lo, c_hi, c_keep, c_frac) = _crop_taps(h, w, spec.size)
    # Gather the source rows before converting to float64: the same element-wise products as scaling the
    # whole frame first (bit for bit), without converting the rows the crop never reads (most of a big frame).
    # In-place steps: each value goes through the very operations, in the same order, of
    # rows = x[lo] * (1 - f) + x[hi] * f (then the same over columns); only the temporaries are fewer.
    rows = image[r_lo].astype(np.float64)
    rows *= spec.scale
    rows *= r_keep
    lower = image[r_hi].astype(np.float64)
    lower *= spec.scale
    lower *= r_frac
    rows += lower
    out = rows.take(c_lo, axis=1)
    out *= c_keep
    right = rows.take(c_hi, axis=1)
    right *= c_frac
    out += right
    if spec.channel_order == "BGR":
        out = out[..., ::-1]
    out = out.astype(np.float32)
    if gray:  # the one channel, repeated into the layout's channel axis (a contiguous copy)
        shape = (3, spec.size, spec.size) if spec.layout == "NCHW" else (spec.size, spec.size, 3)
        return np.ascontiguousarray(np.broadcast_to(out[None, ..., 0] if spec.layout == "NCHW" else out, shape))
    return np.ascontiguousarray(out.transpose(2, 0, 1) if spec.layout == "NCHW" else out)


# Where the vendor runtime deliberately differs from the UUSIC25 challenge's container (written into every
# manifest; ``edgeus uusic25 predict`` follows the container on each: uusic25/container.py)
RUNTIME_VS_CONTAINER = (
    "16-bit grey is scaled by 255/65535; the container's PIL convert('RGB') clips it at 255",
    "the image's last row/column is interpolated; the container's scipy zoom leaves it 0 for about 5 % of short "
    "sides (480 and 512 among them)",
    "the prompt follows the record's dataset_name (organ only for an unknown name); the container's follows organ, "
    "with a generic prompt for an organ it does not know",
    "masks are mapped back with 'uncrop' (the inverse of the crop); the container stretches the 224 x 224 mask "
    "over the frame (OpenCV nearest)",
)

MASK_MAPPINGS = ("stretch", "uncrop")
BUNDLE_MASK_MAPPING = "uncrop"  # what a bundle ships with (geometrically right); 'stretch' is the challenge container's


def mask_to_original(seg_logits: np.ndarray, width: int, height: int, mapping: str = "stretch",
                     spec: Preprocessing = Preprocessing()) -> np.ndarray:
    """Segmentation logits (2 x S x S) -> uint8 mask {0, 255} at the original W x H.

    ``stretch`` is the UUSIC25 baseline: nearest-neighbour resize of the S x S prediction over the whole frame
    with OpenCV's mapping (``cv2.resize``, INTER_NEAREST: src = floor(dst * (1 / (dst_size / S))) in double,
    which is one lower than floor(dst * S / dst_size) where that product is a whole number and the rounded
    reciprocal falls below it, e.g. dst 9 of 288); the centre crop is not undone, so on non-square
    frames the mask is misaligned (what the challenge container writes). ``uncrop`` inverts the
    preprocessing geometry: each original pixel looks up the crop pixel it was scaled to (nearest), and
    pixels outside the crop are background.
    """
    if mapping not in MASK_MAPPINGS:
        raise DataError(f"unknown mask mapping {mapping!r}; valid: {', '.join(MASK_MAPPINGS)}")
    if seg_logits.shape[0] == 2:  # argmax > 0 of two classes, without the argmax (ties go to class 0 alike)
        labels = (seg_logits[1] > seg_logits[0]).view(np.uint8) * np.uint8(255)
    else:
        labels = (np.argmax(seg_logits, axis=0) > 0).astype(np.uint8) * 255
    rows, cols, padded = _mask_lookup(mapping, labels.shape, height, width, spec.size)
    if padded:  # one all-background row and column, where pixels outside the crop look
        labels = np.pad(labels, ((0, 1), (0, 1)))
    # two one-axis takes: the same pixels as labels[rows[:, None], cols[None, :]] at a fraction of the cost
    return np.take(np.take(labels, rows, axis=0), cols, axis=1)


@functools.lru_cache(maxsize=1024)  # a few KiB each; a test set has a few hundred sizes
def _mask_lookup(mapping: str, shape: tuple[int, int], height: int, width: int,
                 size: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """Source row and column of each output pixel (a stream repeats one frame size: computed once), and
    whether the labels need a background row/column for pixels outside the crop (``uncrop``: index s_h/s_w)."""
    s_h, s_w = shape
    if mapping == "stretch":
        rows = _opencv_nearest(height, s_h)
        cols = _opencv_nearest(width, s_w)
        rows.flags.writeable = cols.flags.writeable = False
        return rows, cols, False
    rows = _crop_lookup(height, min(height, width), size)
    cols = _crop_lookup(width, min(height, width), size)
    rows = np.where(rows < 0, s_h, np.minimum(rows, s_h - 1))
    cols = np.where(cols < 0, s_w, np.minimum(cols, s_w - 1))
    rows.flags.writeable = cols.flags.writeable = False  # shared by every call through the cache
    return rows, cols, bool((rows == s_h).any() or (cols == s_w).any())


def _opencv_nearest(dst: int, src: int) -> np.ndarray:
    """Source index of each of ``dst`` output pixels resized from ``src`` by OpenCV's nearest neighbour:
    ``resizeNN`` takes inv_scale = dst / src, scale = 1 / inv_scale, and src = min(floor(x * scale), src - 1)."""
    scale = 1.0 / (dst / src)
    return np.minimum(np.floor(np.arange(dst) * scale).astype(np.int64), src - 1)


def _crop_lookup(n: int, short: int, size: int) -> np.ndarray:
    """Crop index (nearest) of each original pixel along an axis of length n, -1 outside the crop."""
    scaled = _scaled_size(n, size / short)
    start = scaled // 2 - size // 2
    position = np.arange(n) * ((scaled - 1) / (n - 1)) if n > 1 else np.zeros(1)
    index = np.floor(position + 0.5).astype(np.int64) - start
    index[(index < 0) | (index >= size)] = -1
    return index


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)
