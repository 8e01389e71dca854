"""A short phantom cine loop: a probe sliding over one simulated scene, as frames, a video or a DICOM file.

For tests and the demo of ``edgeus run`` on cine input: one phantom image (data/phantom.py) is rendered wide,
and a window slides across it and back, as a probe swept over the same anatomy, with fresh electronic noise per
frame. Writers: PNG frames in a folder, a video (PyAV; lossless FFV1 for .mkv, H.264 for .mp4) and an
Ultrasound Multi-frame Image Storage DICOM (pydicom; uncompressed, MONOCHROME2, RGB or YBR_FULL).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from edgeus.contracts.tasks import load_catalog
from edgeus.errors import DataError, OutputExistsError
from edgeus.util.atomic import write_atomic

CINE_FORMATS = ("folder", "mkv", "mp4", "dcm")
MAX_CINE_FRAMES = 10_000  # ~0.75 GB of 276 x 270 frames, held in memory with the encoded file
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"


def cine_frames(dataset: str = "Breast", kind: str = "segmentation", n_frames: int = 24, seed: int = 0,
                width_fraction: float = 0.75) -> list[np.ndarray]:
    """n_frames uint8 H x W grayscale frames of one phantom scene under a sliding window."""
    from edgeus.data.phantom import render_sample

    if not 1 <= n_frames <= MAX_CINE_FRAMES:
        raise DataError(f"a phantom cine has 1 to {MAX_CINE_FRAMES:,} frames, not {n_frames:,} (it is held in memory "
                        "whole; loop it for a longer stream)")
    catalog = load_catalog()
    rows = [n for n, t in enumerate(catalog.tasks) if t.dataset == dataset and t.kind == kind]
    if not rows:
        raise DataError(f"no task {dataset}/{kind} in the catalog")
    image, _, _ = render_sample(catalog.tasks[rows[0]], rows[0], "val", 0, seed)
    height, width = image.shape
    window = max(2, int(width * width_fraction)) // 2 * 2  # even sizes: H.264 4:2:0 needs them
    height = height // 2 * 2
    travel = width - window
    rng = np.random.default_rng(seed)
    frames = []
    for n in range(n_frames):
        phase = 0.5 - 0.5 * np.cos(2 * np.pi * n / max(n_frames, 1))  # there and back
        left = int(round(phase * travel))
        frame = image[:height, left:left + window].astype(np.int16) + rng.integers(-3, 4, (height, window))
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def write_cine(frames: list[np.ndarray], out: str | Path, fmt: str, fps: float = 30.0,
               photometric: str = "MONOCHROME2", force: bool = False) -> Path:
    out = Path(out)
    if not 0 < fps < float("inf"):
        raise DataError(f"frame rate must be positive and finite, not {fps:g}")
    if fmt not in CINE_FORMATS:
        raise DataError(f"unknown cine format {fmt!r}; valid: {', '.join(CINE_FORMATS)}")
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "folder":
        from PIL import Image

        from edgeus.util.atomic import atomic_dir

        with atomic_dir(out, replace=force) as tmp:
            for n, frame in enumerate(frames):
                Image.fromarray(frame).save(tmp / f"frame_{n:04d}.png")
        return out
    if fmt == "dcm":
        return write_atomic(out, dicom_bytes(frames, fps, photometric))
    return write_atomic(out, video_bytes(frames, fps, fmt))


def video_bytes(frames: list[np.ndarray], fps: float, fmt: str) -> bytes:
    import av

    buffer = io.BytesIO()
    codec, pix = ("ffv1", "bgr0") if fmt == "mkv" else ("libx264", "yuv420p")
    with av.open(buffer, mode="w", format="matroska" if fmt == "mkv" else "mp4") as container:
        stream = container.add_stream(codec, rate=int(round(fps)))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = pix
        for frame in frames:
            rgb = np.repeat(frame[..., None], 3, axis=2) if frame.ndim == 2 else frame
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def dicom_bytes(frames: list[np.ndarray], fps: float, photometric: str = "MONOCHROME2") -> bytes:
    """An Ultrasound Multi-frame Image Storage file (uncompressed, explicit VR little endian)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.pixels import convert_color_space
    from pydicom.uid import ExplicitVRLittleEndian, UID, generate_uid

    pixels = np.stack(frames)
    if photometric != "MONOCHROME2":
        pixels = np.repeat(pixels[..., None], 3, axis=3) if pixels.ndim == 3 else pixels
        if photometric == "YBR_FULL":
            pixels = convert_color_space(pixels, "RGB", "YBR_FULL")
        elif photometric != "RGB":
            raise DataError("phantom DICOM photometric interpretation must be MONOCHROME2, RGB or YBR_FULL")
    seed = [pixels.shape, photometric, int(pixels.sum())]  # reproducible UIDs for reproducible files
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(US_MULTIFRAME)
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(s) for s in seed + ["sop"]])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[str(s) for s in seed + ["study"]])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[str(s) for s in seed + ["series"]])
    ds.Modality, ds.PatientName, ds.PatientID = "US", "Phantom^Cine", "PHANTOM"
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = pixels.shape[1:3]
    ds.SamplesPerPixel = 1 if photometric == "MONOCHROME2" else 3
    ds.PhotometricInterpretation = photometric
    if ds.SamplesPerPixel == 3:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = f"{1000.0 / fps:.3f}"
    ds.CineRate = int(round(fps))
    ds.FrameIncrementPointer = 0x00181063  # frames advance by FrameTime
    ds.PixelData = pixels.astype(np.uint8).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
