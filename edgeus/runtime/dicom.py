"""DICOM frames (pydicom): single- and multi-frame Ultrasound Image Storage, as a scanner exports them.

Frames come out one at a time as uint8 H x W x 3 RGB, the pixels the model was trained on:

* YBR_FULL / YBR_FULL_422 are converted to RGB by pydicom (its default), RGB passes through;
* MONOCHROME2 is replicated to three channels, MONOCHROME1 is inverted first (0 is white there);
* PALETTE COLOR goes through the file's lookup table;
* more than 8 bits stored are scaled to 8 by the stored range (x * 255 / (2^bits - 1)), never clipped.

A file without pixel data, or with a compressed transfer syntax for which no decoder is installed, is refused
with what to install; pydicom decodes native (uncompressed) and RLE data itself, JPEG variants need pylibjpeg.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeus.errors import DataError

ULTRASOUND_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.6.1": "Ultrasound Image Storage",
    "1.2.840.10008.5.1.4.1.1.3.1": "Ultrasound Multi-frame Image Storage",
}
PHOTOMETRICS = ("MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR")


def import_pydicom():
    try:
        import pydicom
    except ImportError:
        raise DataError("reading DICOM needs pydicom: pip install 'edgeus[media]'") from None
    return pydicom


def is_dicom(path: Path) -> bool:
    """The DICOM Part 10 preamble ('DICM' at byte 128), whatever the file is called."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


@dataclass
class DicomFrames:
    path: Path
    count: int
    fps: float | None
    size: tuple[int, int]  # (width, height)
    sop_class: str
    photometric: str
    _dataset: object = None

    def frames(self) -> Iterator[np.ndarray]:
        from pydicom.pixels import iter_pixels

        try:
            for n, frame in enumerate(iter_pixels(self._dataset)):
                yield to_rgb8(frame, self._dataset, f"{self.path.name} frame {n}")
        except DataError:
            raise
        except Exception as exc:  # pydicom's decoders raise ValueError/RuntimeError/NotImplementedError
            raise DataError(f"{self.path}: cannot decode the DICOM pixel data ({_first_line(exc)})") from None


def open_dicom(path: str | Path) -> DicomFrames:
    pydicom = import_pydicom()
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise DataError(f"{path}: not a DICOM file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: cannot read the DICOM file ({_first_line(exc)})") from None
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise DataError(f"{path}: the DICOM file has no pixel data (an SR, a report or a header-only object)")
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        raise DataError(f"{path}: float pixel data is not an ultrasound image; expected 8-16 bit integer pixels")
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None:
        raise DataError(f"{path}: the DICOM file has no transfer syntax in its meta information")
    _require_decoder(path, syntax)
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric not in PHOTOMETRICS:
        raise DataError(f"{path}: photometric interpretation {photometric!r} is not supported; "
                        f"supported: {', '.join(PHOTOMETRICS)}")
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    if rows < 2 or cols < 2:
        raise DataError(f"{path}: image of {cols}x{rows} pixels is too small")
    sop = str(ds.get("SOPClassUID", ""))
    return DicomFrames(path, int(ds.get("NumberOfFrames", 1) or 1), frame_rate(ds), (cols, rows),
                       ULTRASOUND_SOP_CLASSES.get(sop, sop or "unknown SOP class"), photometric, ds)


def frame_rate(ds) -> float | None:
    """Recorded cine rate: CineRate (0018,0040), else 1000 / FrameTime (0018,1063, milliseconds)."""
    try:
        if ds.get("CineRate"):
            return float(ds.CineRate)
        if ds.get("FrameTime"):
            return 1000.0 / float(ds.FrameTime)
    except (TypeError, ValueError, ZeroDivisionError):
        pass
    return None


def _require_decoder(path: Path, syntax) -> None:
    from pydicom.pixels import get_decoder

    if not syntax.is_compressed:
        return
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        decoder = None
    if decoder is None or not decoder.is_available:
        raise DataError(f"{path}: compressed transfer syntax {syntax.name} ({syntax}) and no decoder for it is "
                        "installed here: pip install pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg (or export the "
                        "cine uncompressed)")


def to_rgb8(frame: np.ndarray, ds, label: str) -> np.ndarray:
    photometric = str(ds.PhotometricInterpretation)
    if photometric == "PALETTE COLOR":
        from pydicom.pixels import apply_color_lut

        frame = apply_color_lut(frame, ds)
    bits = int(ds.get("BitsStored", 8))
    if frame.dtype != np.uint8 or bits > 8:
        values = frame.astype(np.int64)
        top = (1 << bits) - 1 if photometric != "PALETTE COLOR" else 65535
        if values.min() < 0 or values.max() > top:
            raise DataError(f"{label}: pixel values outside 0..{top} for {bits} bits stored")
        frame = np.rint(values * (255.0 / top)).astype(np.uint8)
    if photometric == "MONOCHROME1":
        frame = 255 - frame
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[..., 0]
    # monochrome stays H x W: preprocessing reads it as the same gray in three channels (runtime/predictor.py)
    if frame.ndim != 2 and (frame.ndim != 3 or frame.shape[2] != 3):
        raise DataError(f"{label}: unexpected frame shape {frame.shape}")
    return np.ascontiguousarray(frame)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else exc.__class__.__name__)[:200]
