"""Frame sources: folders, video (PyAV) and DICOM (pydicom) decode to the pixels written; bad files get one
clear DataError."""

from __future__ import annotations

import numpy as np
import pytest

from edgeus.data.phantom_cine import cine_frames, dicom_bytes, write_cine
from edgeus.errors import DataError
from edgeus.runtime.sources import open_source


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return cine_frames("Breast", "segmentation", n_frames=6, seed=3)


def _gray(frame: np.ndarray) -> np.ndarray:
    """Grayscale sources give H x W frames (PNG folders, monochrome DICOM); video decodes to RGB."""
    assert frame.dtype == np.uint8
    if frame.ndim == 2:
        return frame
    assert frame.ndim == 3 and frame.shape[2] == 3
    assert np.array_equal(frame[..., 0], frame[..., 1]) and np.array_equal(frame[..., 0], frame[..., 2])
    return frame[..., 0]


@pytest.mark.parametrize("fmt", ["folder", "mkv", "dcm"])
def test_lossless_cines_give_back_the_frames_written(fmt, frames, tmp_path):
    out = write_cine(frames, tmp_path / f"cine.{fmt}" if fmt != "folder" else tmp_path / "cine", fmt, fps=25)
    source = open_source(out)
    got = list(source.frames())
    assert source.kind == {"folder": "folder", "mkv": "video", "dcm": "dicom"}[fmt]
    assert len(got) == len(frames)
    for want, frame in zip(frames, got, strict=True):
        assert np.array_equal(_gray(frame), want)
    if fmt != "folder":
        assert source.fps == pytest.approx(25)


def test_h264_video_decodes_close_to_the_frames(frames, tmp_path):
    got = list(open_source(write_cine(frames, tmp_path / "cine.mp4", "mp4")).frames())
    assert len(got) == len(frames)
    # lossy (4:2:0, speckle is all high frequency): close on average, the same picture
    assert np.mean(np.abs(got[2][..., 0].astype(int) - frames[2])) < 8
    assert np.corrcoef(got[2][..., 0].ravel(), frames[2].ravel())[0, 1] > 0.9


@pytest.mark.parametrize("photometric", ["RGB", "YBR_FULL"])
def test_dicom_colour_interpretations_become_rgb(photometric, frames, tmp_path):
    path = tmp_path / "c.dcm"
    path.write_bytes(dicom_bytes(frames, 30, photometric))
    source = open_source(path)
    assert photometric in source.detail and "Ultrasound Multi-frame" in source.detail
    got = list(source.frames())
    tolerance = 0 if photometric == "RGB" else 1  # YBR_FULL round trip rounds
    assert np.abs(_gray(got[0]).astype(int) - frames[0]).max() <= tolerance


def _edited(frames, tmp_path, edit) -> object:
    import pydicom

    path = tmp_path / "edited.dcm"
    path.write_bytes(dicom_bytes(frames[:2], 30))
    ds = pydicom.dcmread(path)
    edit(ds)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_monochrome1_is_inverted_and_12_bit_is_scaled(frames, tmp_path):
    def mono1(ds):
        ds.PhotometricInterpretation = "MONOCHROME1"

    assert np.array_equal(_gray(next(open_source(_edited(frames, tmp_path, mono1)).frames())), 255 - frames[0])

    def twelve_bit(ds):
        values = np.stack(frames[:2]).astype(np.uint16) * 16  # 8-bit values in a 12-bit range
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelData = values.tobytes()

    got = _gray(next(open_source(_edited(frames, tmp_path, twelve_bit)).frames())).astype(int)
    assert np.abs(got - np.rint(frames[0].astype(int) * 16 * 255 / 4095)).max() == 0


def test_bad_files_are_one_clear_error(frames, tmp_path):
    def no_pixels(ds):
        del ds.PixelData

    with pytest.raises(DataError, match="no pixel data"):
        open_source(_edited(frames, tmp_path, no_pixels))
    def jpeg_ls(ds):  # labelled JPEG-LS (no decoder installed here); the payload is never reached
        from pydicom.encaps import encapsulate
        from pydicom.uid import JPEGLSLossless

        ds.file_meta.TransferSyntaxUID = JPEGLSLossless
        ds.PixelData = encapsulate([f.tobytes() for f in frames[:2]])

    with pytest.raises(DataError, match="compressed transfer syntax JPEG-LS Lossless.*no decoder"):
        open_source(_edited(frames, tmp_path, jpeg_ls))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(DataError, match="corrupt.mp4: cannot open the video"):
        open_source(corrupt)
    not_dicom = tmp_path / "x.dcm"
    not_dicom.write_bytes(b"hello")
    with pytest.raises(DataError, match="not a DICOM file"):
        open_source(not_dicom)
    with pytest.raises(DataError, match="input not found"):
        open_source(tmp_path / "missing.mkv")


def test_a_frame_of_another_size_stops_the_cine_there(frames, tmp_path):
    folder = write_cine(frames[:3], tmp_path / "mixed", "folder")
    from PIL import Image

    Image.fromarray(frames[0][:100, :120]).save(folder / "frame_0001b.png")  # sorts between frames 1 and 2
    got = []
    with pytest.raises(DataError, match=r"frame 2 is 120x100 but the cine's frames are \d+x\d+"):
        for frame in open_source(folder).frames():
            got.append(frame)
    assert len(got) == 2
